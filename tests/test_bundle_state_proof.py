"""State proofs in evidence bundles: a witnessed certificate bundle carries the cosigned block's header and the
``eth_getProof`` answer for its issuer's status and anchoring trails there, and both verifiers (the library's
``witnessed`` check and the court's own copy of the header hash and the Merkle-Patricia walk) prove the trails from
the cosigned hash and hold the node's events, the certificate's batch and the bundle's status to them.

Adversaries: the chain's operator, or whoever hands the court the bundle, altering the proof, the header or the trail
words, giving the proof of another block or of another department, or cutting the proof short; the chain's operator
leaving a revocation out of its status events (and the bundle) under a proven trail that holds it. Every case gets
the same verdict from both verifiers.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.onchain import stateproof
from ledger.onchain.chain import Chain, connect
from ledger.onchain.ids import department_id_bytes
from ledger.services import evidence, status
from ledger.services.witness import client as wclient
from ledger.services.witness.bundle import state_section

from .cli_support import drop_older_states, rpc
from .conftest import PASSPHRASE, make_records
from .evidence_support import SCRIPT_MODULE, issue, rpc_url, standalone
from .rpc_proxy import RpcProxy
from .trie_support import prove, secure_trie
from .verifiers_support import witnessed_by_both, witnessed_by_both_many
from .witness_support import trusted_witness

COURT = SCRIPT_MODULE


@pytest.fixture()
def passphrases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")


def _bundle(ledger: Ledger, target: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    bundle = evidence.certificate_bundle(ledger, target, **kwargs)
    assert "state" in bundle["witness"], bundle["witness"]
    return bundle


def _flip(text: str, at: int = -1) -> str:
    """``text`` (hex) with the byte at ``at`` changed."""
    digits = text[2:]
    i = len(digits) // 2 + at if at < 0 else at
    byte = int(digits[2 * i : 2 * i + 2], 16) ^ 0x01
    return "0x" + digits[: 2 * i] + f"{byte:02x}" + digits[2 * i + 2 :]


def test_a_witnessed_bundle_carries_the_issuers_state_proof_and_both_verifiers_prove_it(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: none (a false failure is a finding too). A bundle written with witnesses configured carries the
    header of the cosigned block (no body) and the proof of its issuer's four trail slots there; both verifiers
    prove the trails from it, a revocation of another certificate of the issuer below the checkpoint included, and
    say so. The bundle of a revoked certificate states its revocation, proven the same way."""
    kept, revoked = issue(ledger, tmp_path, fresh_department, make_records(2))
    status.revoke(ledger, revoked["digest"], "fraud")
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = _bundle(ledger, kept)
        state = bundle["witness"]["state"]
        assert "transactions" not in state["block"] and len(state["proof"]["storageProof"]) == 4
        dept = department_id_bytes(fresh_department)
        assert [int(e["key"], 16) for e in state["proof"]["storageProof"]] == stateproof.department_slots(dept)
        gone = _bundle(ledger, revoked)
        assert gone["status"]["status"] == "revoked"
        for (ok, detail), (result, court) in witnessed_by_both_many(ledger, [bundle, gone], tmp_path, key):
            assert ok and result == "PASS", (detail, court)
            assert "proven at block" in detail and "proven at block" in court, (detail, court)
            assert "1 changes" in detail and "1 changes" in court, (detail, court)

        # once the node has dropped the block's state, the proofs kept at collection prove it; without them nothing
        # does, and no section is written (the bundle then says its state proof is absent)
        store = wclient.CheckpointStore(ledger.settings.data_dir)
        cp = store.latest_witnessed(
            wclient.WitnessConfig.load(ledger.settings.data_dir), wclient.chain_identity(ledger.chain).origin
        )
        assert cp is not None
        drop_older_states(ledger)  # the node drops the witnessed block's state
        assert state_section(ledger.chain, ledger.settings.data_dir, cp, fresh_department) is not None
        (store.directory / f"state-{cp.checkpoint.hash_hex.lower()}.json").unlink()
        assert state_section(ledger.chain, ledger.settings.data_dir, cp, fresh_department) is None


def _another_block(ledger: Ledger, bundle: dict[str, Any]) -> dict[str, Any]:
    """The state section of the head block (the node's own header and proof there): a genuine proof of another block
    than the cosigned one."""
    dept = department_id_bytes(bundle["certificate"]["fields"]["issuer"])
    rpc(ledger, "evm_mine")
    head = ledger.chain.block_number()
    block, answer = stateproof.fetch(
        ledger.chain.w3, ledger.chain.deployment.anchor, stateproof.department_slots(dept), head
    )
    return {"block": {k: v for k, v in dict(block).items() if k not in stateproof.NOT_HEADER}, "proof": answer}


def _cases(ledger: Ledger, bundle: dict[str, Any], other: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The bundle as the operator (or whoever hands it over) may alter its state section: name -> the bundle."""
    cases: dict[str, dict[str, Any]] = {"honest": bundle}

    def altered(name: str, change: Any) -> None:
        changed = copy.deepcopy(bundle)
        change(changed["witness"]["state"])
        cases[name] = changed

    def proof_node(state: dict[str, Any]) -> None:
        nodes = state["proof"]["storageProof"][0]["proof"]
        nodes[-1] = _flip(nodes[-1])

    def account_node(state: dict[str, Any]) -> None:
        nodes = state["proof"]["accountProof"]
        nodes[0] = _flip(nodes[0], 40)

    def header(state: dict[str, Any]) -> None:
        state["block"]["gasUsed"] = hex(int(state["block"]["gasUsed"], 16) + 1)

    def state_root(state: dict[str, Any]) -> None:
        state["block"]["stateRoot"] = _flip(state["block"]["stateRoot"])

    def trail_word(state: dict[str, Any]) -> None:
        # the leaf of the trail's word re-encoded with another value: the path and key kept, the hash not
        nodes = state["proof"]["storageProof"][0]["proof"]
        leaf = stateproof._list(bytes.fromhex(nodes[-1][2:]), "leaf")
        nodes[-1] = "0x" + stateproof._rlp_list([leaf[0].value, stateproof._rlp_bytes(b"\x01" * 32)]).hex()

    def stated_value(state: dict[str, Any]) -> None:
        for entry in state["proof"]["storageProof"]:
            entry["value"] = "0x1"  # what a node states beside its proof is never believed
        state["proof"]["storageHash"] = "0x" + "11" * 32

    def truncated(state: dict[str, Any]) -> None:
        state["proof"]["storageProof"][0]["proof"].pop()

    def truncated_account(state: dict[str, Any]) -> None:
        state["proof"]["accountProof"].pop()

    def another_block(state: dict[str, Any]) -> None:
        assert other is not None
        state.clear()
        state.update(copy.deepcopy(other))

    def spaced(state: dict[str, Any]) -> None:
        nodes = state["proof"]["accountProof"]
        nodes[0] = nodes[0][:4] + " " + nodes[0][4:]  # bytes.fromhex would skip it

    def spaced_key(state: dict[str, Any]) -> None:
        entry = state["proof"]["storageProof"][0]
        entry["key"] = " " + entry["key"]  # int(..., 16) would read it

    def not_an_object(state: dict[str, Any]) -> None:
        state["proof"] = "0x00"

    altered("altered proof node", proof_node)
    altered("altered account proof node", account_node)
    altered("altered header", header)
    altered("altered state root", state_root)
    altered("altered trail word", trail_word)
    altered("stated values", stated_value)
    altered("truncated proof", truncated)
    altered("truncated account proof", truncated_account)
    if other is not None:
        altered("proof of another block", another_block)
    altered("white space in a node", spaced)
    altered("white space in a key", spaced_key)
    altered("malformed", not_an_object)
    absent = copy.deepcopy(bundle)
    del absent["witness"]["state"]
    cases["absent"] = absent
    return cases


def test_altered_state_proofs_get_the_same_verdict_from_both_verifiers(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: the chain's operator, or whoever hands the court the bundle, altering its state section: a proof
    node, the header, the state root, a trail word's leaf, the proof cut short, the header and proof of another
    block, or another department's slots proven in place of the issuer's. Each fails ``witnessed`` in both
    verifiers, which agree; a lie stated beside the proof (the values, the storage hash) is not believed and
    changes nothing; a bundle without a state section (written before) still passes, saying the proof is absent."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.suspend(ledger, target["digest"], "under-investigation")
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = _bundle(ledger, target)
        collected = wclient.CheckpointStore(ledger.settings.data_dir).latest_witnessed(
            wclient.WitnessConfig.load(ledger.settings.data_dir), wclient.chain_identity(ledger.chain).origin
        )
        assert collected is not None
        cases = _cases(ledger, bundle, _another_block(ledger, bundle))
        other = state_section(ledger.chain, ledger.settings.data_dir, collected, "MKT")
        assert other is not None
        cases["another department's slots"] = copy.deepcopy(bundle)
        cases["another department's slots"]["witness"]["state"] = other
        names = list(cases)
        verdicts = witnessed_by_both_many(ledger, [cases[n] for n in names], tmp_path, key)
        for name, ((ok, detail), (result, court)) in zip(names, verdicts, strict=True):
            assert ok == (result == "PASS"), (name, detail, court)
            passes = name in ("honest", "stated values", "absent")
            assert ok == passes, (name, detail, court)
            if name == "absent":
                assert "state proof: absent" in detail and "state proof: absent" in court, (detail, court)
            elif passes:
                assert "proven at block" in detail and "proven at block" in court, (detail, court)
            else:
                assert "state proof" in detail and "state proof" in court, (name, detail, court)


def test_a_revocation_left_out_of_the_bundle_and_the_events_fails_under_the_proven_trail(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: the chain's operator. The certificate was revoked before the block the witnesses cosigned; the
    operator hands the court a bundle stating it valid, and answers ``eth_getLogs`` without the revocation (every
    other answer honest). The bundle's state proof proves a status trail holding the revocation: the events no
    longer hash to it, and a bundle merely restated (the node honest) gives another status than the proven events.
    Both verifiers fail ``witnessed``, agreeing."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.revoke(ledger, target["digest"], "fraud")
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = _bundle(ledger, target, status_lookup="direct")  # with the certificate's slots (a herd build: none)
        assert bundle["status"]["status"] == "revoked"
        lied = copy.deepcopy(bundle)
        lied["status"] = {"status": "valid", "changed_in_block": None, "detail": None, "reason": None}
        (ok, detail), (result, court) = witnessed_by_both(ledger, lied, tmp_path, key)
        assert not ok and result == "FAIL", (detail, court)
        assert "give revoked" in detail and "give revoked" in court, (detail, court)

        # the trail path (a bundle without the certificate's own slots, as before them): the node's events are read
        # and held to the proven trail (the certificate path reads none: tests/test_evidence_flat.py)
        del lied["witness"]["state"]["certificate"]
        (ok, detail), (result, court) = witnessed_by_both(ledger, lied, tmp_path, key)
        assert not ok and result == "FAIL", (detail, court)
        assert "give revoked" in detail and "give revoked" in court, (detail, court)

        digest = target["digest"].lower()

        def without_the_revocation(method: str, _params: Any, answer: Any, digest: str = digest) -> Any:
            if method == "eth_getLogs" and isinstance(answer.get("result"), list):
                kept = [log for log in answer["result"] if str(log["topics"][1]).lower() != digest]
                return {**answer, "result": kept}
            return answer

        path = tmp_path / "lied.json"
        path.write_text(json.dumps(lied), encoding="utf-8")
        with RpcProxy(rpc_url(ledger), rewrite=without_the_revocation) as node:
            lying = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
            check = evidence.verify_bundle(path, lying, witness_keys=[key]).check("witnessed")
            code, answer, stderr = standalone(ledger, path, "--witness-key", key, rpc=node.url)
        assert answer is not None, stderr
        court_check = {c["name"]: (c["result"], c["detail"]) for c in answer["checks"]}["witnessed"]
        assert not check.ok and court_check[0] != "PASS", (check, court_check)
        assert "status trail" in check.detail, check
        assert code == 1


# -- the court's copy of the reading, held to the library's -----------------------------------------------------


def test_the_courts_slots_and_header_hash_are_the_librarys(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: none. The court's verifier states the trails' slots (docs/format.md §8) and the header's fields
    itself: they must be the compiler's layout and the library's header reading, on real blocks."""
    for code in (fresh_department, "MKT", "X" * 32):
        dept = department_id_bytes(code)
        assert COURT.department_trail_slots(dept) == stateproof.department_slots(dept)
    assert dict(COURT.HEADER_BASE_FIELDS + COURT.HEADER_FORK_FIELDS) == dict(
        stateproof._BASE_FIELDS + stateproof._FORK_FIELDS
    )
    assert set(COURT.HEADER_NOT_FIELDS) == set(stateproof.NOT_HEADER)
    head = ledger.chain.block_number()
    for number in sorted({0, 1, head // 2, head}):
        block = dict(ledger.chain.w3.provider.make_request("eth_getBlockByNumber", [hex(number), False])["result"])
        expected = bytes.fromhex(block["hash"][2:])
        assert COURT.header_state_root(block, expected, number) == stateproof.state_root(block, expected, number)
        with pytest.raises(COURT.Failure):
            COURT.header_state_root(block, keccak(expected), number)


def _real_proofs(ledger: Ledger) -> tuple[bytes, bytes, list[bytes], bytes, list[tuple[int, list[bytes]]]]:
    """(state root, anchor address, its account proof, its storage root, [(slot, storage proof)]) at the head, for
    slots holding words and slots that do not."""
    head = ledger.chain.block_number()
    anchor = ledger.chain.deployment.anchor
    dept = department_id_bytes("MKT")
    slots = [*stateproof.department_slots(dept), 0, 1, 2, 3, 7, 2**255]
    block, answer = stateproof.fetch(ledger.chain.w3, anchor, slots, head)
    root = stateproof.state_root(block, bytes.fromhex(block["hash"][2:]), head)
    address = bytes.fromhex(anchor[2:])
    account_proof = [bytes.fromhex(n[2:]) for n in answer["accountProof"]]
    storage_root = stateproof.account(root, address, account_proof).storage_root
    storage = [(int(e["key"], 16), [bytes.fromhex(n[2:]) for n in e["proof"]]) for e in answer["storageProof"]]
    return root, address, account_proof, storage_root, storage


def _walk(fn: Any, errors: tuple[type[BaseException], ...], *args: Any) -> tuple[str, bytes | None]:
    try:
        return "value", fn(*args)
    except errors:
        return "refused", None


@pytest.fixture(scope="module")
def real_proofs(ledger: Ledger) -> tuple[bytes, bytes, list[bytes], bytes, list[tuple[int, list[bytes]]]]:
    return _real_proofs(ledger)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_courts_trie_walk_agrees_with_the_librarys_on_real_and_mutated_proofs(
    real_proofs: tuple[bytes, bytes, list[bytes], bytes, list[tuple[int, list[bytes]]]], data: st.DataObject
) -> None:
    """Adversary: whoever hands over the proof, altering it at random: a byte changed, a node dropped, duplicated or
    swapped, another key asked, the proof of another slot given. The court's Merkle-Patricia walk must give what
    the library's gives (the same value, the same absence) or refuse what it refuses, on real proofs (the anchor
    contract's account, its storage words, present and absent) and on every mutation."""
    root, address, account_proof, storage_root, storage = real_proofs
    which = data.draw(st.integers(0, len(storage)))
    if which == len(storage):
        trie, key, proof = root, address, list(account_proof)
    else:
        slot, nodes = storage[which]
        trie, key, proof = storage_root, slot.to_bytes(32, "big"), list(nodes)
    mutation = data.draw(st.sampled_from(["none", "byte", "drop", "duplicate", "swap", "key", "other", "extra"]))
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    if mutation == "byte" and proof:
        i = rng.randrange(len(proof))
        node = bytearray(proof[i])
        node[rng.randrange(len(node))] ^= 1 << rng.randrange(8)
        proof[i] = bytes(node)
    elif mutation == "drop" and proof:
        proof.pop(rng.randrange(len(proof)))
    elif mutation == "duplicate" and proof:
        proof.insert(rng.randrange(len(proof) + 1), proof[rng.randrange(len(proof))])
    elif mutation == "swap" and len(proof) > 1:
        i, j = rng.sample(range(len(proof)), 2)
        proof[i], proof[j] = proof[j], proof[i]
    elif mutation == "key":
        key = rng.randbytes(len(key))
    elif mutation == "other":
        proof = list(storage[rng.randrange(len(storage))][1])
    elif mutation == "extra":
        proof.append(rng.randbytes(rng.randrange(1, 80)))
    library = _walk(stateproof.verify_proof, (ChainError,), trie, key, proof, "a value")
    court = _walk(COURT.trie_get, (COURT.Failure,), trie, key, proof, "a value")
    assert library == court, (mutation, library, court)
    if mutation == "none":
        assert library[0] == "value"


@settings(max_examples=150, deadline=None)
@given(
    entries=st.dictionaries(
        st.binary(min_size=1, max_size=8), st.binary(min_size=1, max_size=40), min_size=1, max_size=60
    ),
    asked=st.lists(st.binary(min_size=1, max_size=8), max_size=4),
    seed=st.integers(0, 2**32),
)
def test_the_courts_trie_walk_agrees_with_the_librarys_on_random_tries(
    entries: dict[bytes, bytes], asked: list[bytes], seed: int
) -> None:
    """Adversary: none, then whoever hands over a proof altering a byte of it. On random secure tries (extensions,
    branches, leaves; keys present and absent) both walks give the stored value, the same absence, or refuse alike."""
    root, nodes = secure_trie(entries)
    rng = random.Random(seed)
    for key in [*list(entries)[:4], *asked]:
        proof = prove(root, nodes, key)
        library = _walk(stateproof.verify_proof, (ChainError,), root, key, proof, "a value")
        court = _walk(COURT.trie_get, (COURT.Failure,), root, key, proof, "a value")
        assert library == court == ("value", entries.get(key)), (library, court)
        if proof:
            altered = list(proof)
            i = rng.randrange(len(altered))
            node = bytearray(altered[i])
            node[rng.randrange(len(node))] ^= 1 << rng.randrange(8)
            altered[i] = bytes(node)
            library = _walk(stateproof.verify_proof, (ChainError,), root, key, altered, "a value")
            court = _walk(COURT.trie_get, (COURT.Failure,), root, key, altered, "a value")
            assert library == court, (library, court)
