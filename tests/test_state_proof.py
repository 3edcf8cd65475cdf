"""EIP-1186 state proofs (ledger/onchain/stateproof.py): the anchor contract's storage read from a block's hash.

The adversary throughout is the chain's operator: a node answering every JSON-RPC method as it likes, its
``eth_getBlockByNumber`` and ``eth_getProof`` included. Honest proofs of the real anvil verify and agree with its
``eth_call`` answers; every answer altered as the operator could alter it is refused with a ChainError, and nothing
else escapes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak

from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.onchain import stateproof, trail
from ledger.onchain.chain import Chain, connect
from ledger.onchain.ids import department_id_bytes
from ledger.services import status
from ledger.services.verify import ChainView, verify_certificate
from ledger.services.witness import client as wclient

from .cli_support import drop_older_states, mining_paused, rpc
from .conftest import PASSPHRASE, make_records
from .evidence_support import issue, rpc_url
from .rpc_proxy import RpcProxy
from .witness_support import altered_account_proof, serve_witness

REVOKED_TOPIC = "0x" + keccak(text="CertificateRevoked(bytes32,bytes32,bytes32,uint8)").hex()


@pytest.fixture()
def still(ledger: Ledger) -> Iterator[None]:
    with mining_paused(ledger):
        yield


def _block(ledger: Ledger, number: int) -> dict[str, Any]:
    return dict(rpc(ledger, "eth_getBlockByNumber", hex(number), False))


def _head(ledger: Ledger) -> tuple[int, bytes]:
    number = ledger.chain.block_number()
    return number, bytes.fromhex(_block(ledger, number)["hash"][2:])


def _proof(ledger: Ledger, slots: list[int], number: int) -> dict[str, Any]:
    keys = ["0x" + s.to_bytes(32, "big").hex() for s in slots]
    return dict(rpc(ledger, "eth_getProof", ledger.chain.deployment.anchor, keys, hex(number)))


def _nodes(items: list[str]) -> list[bytes]:
    return [bytes.fromhex(i[2:]) for i in items]


@pytest.fixture()
def revoked(ledger: Ledger, tmp_path: Path, fresh_department: str) -> dict[str, Any]:
    """A certificate of a fresh department, revoked."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.revoke(ledger, target["digest"], "fraud")
    return target


def _key(target: dict[str, Any], department: str) -> tuple[bytes, bytes, bytes]:
    return (
        department_id_bytes(department),
        bytes.fromhex(target["anchor"]["root"][2:]),
        bytes.fromhex(target["digest"][2:]),
    )


def test_headers_of_anvils_blocks_hash_to_their_hashes(ledger: Ledger, fresh_department: str, still: None) -> None:
    """Adversary: none; the header's RLP (fields in the header's order, each fork's as far as the block has them)
    must reproduce the hash of every real block, the genesis included, or no state proof could ever verify. A
    department that never changed a status has a proven trail of zeros, also while the anchor's storage is empty
    (a deployment that anchored nothing yet: this module's first test, whose empty trie anvil proves with the empty
    root node)."""
    number, block_hash = _head(ledger)
    dept = department_id_bytes(fresh_department)
    proven = stateproof.proven_trail(ledger.chain.w3, ledger.chain.deployment.anchor, block_hash, number, dept)
    assert proven == trail.NONE == trail.stated(ledger.chain, dept)
    head = ledger.chain.block_number()
    for number in sorted({0, 1, head // 2, head}):
        block = _block(ledger, number)
        expected = bytes.fromhex(block["hash"][2:])
        assert keccak(stateproof.header_rlp(block)) == expected, block
        assert stateproof.state_root(block, expected, number) == bytes.fromhex(block["stateRoot"][2:])


def test_the_proven_trail_is_the_contracts(
    ledger: Ledger, revoked: dict[str, Any], fresh_department: str, still: None
) -> None:
    """Adversary: none (the honest node); the slots come from the compiler's storage layout, and the proven trail is
    what ``statusTrail`` answers at the same block."""
    dept, _, _ = _key(revoked, fresh_department)
    number, block_hash = _head(ledger)
    anchor = ledger.chain.deployment.anchor
    proven = stateproof.proven_trail(ledger.chain.w3, anchor, block_hash, number, dept)
    assert proven == trail.from_answer(ledger.chain.call(ledger.chain.anchor.functions.statusTrail(dept), number))
    assert proven.changes >= 1


def test_altered_proofs_are_refused(
    ledger: Ledger, revoked: dict[str, Any], fresh_department: str, still: None
) -> None:
    """Adversary: the chain's operator answering ``eth_getProof`` with the proof altered: a byte flipped in any
    node, a proof of another account or another slot, a value changed in a re-made leaf, an absence proof for a
    present key, the proof cut short or padded. Each is refused."""
    dept, _, _ = _key(revoked, fresh_department)
    number, block_hash = _head(ledger)
    state = stateproof.state_root(_block(ledger, number), block_hash, number)
    layout = stateproof.anchor_layout()
    base = layout.trail_base(dept)
    answer = _proof(ledger, [base, base + 1], number)
    account_proof = _nodes(answer["accountProof"])
    address = bytes.fromhex(ledger.chain.deployment.anchor[2:])
    contract = stateproof.account(state, address, account_proof)
    storage = _nodes(answer["storageProof"][0]["proof"])
    assert stateproof.storage_word(contract.storage_root, base, storage) != 0

    for i in range(len(account_proof)):  # a flipped byte anywhere in any node
        for at in (0, len(account_proof[i]) // 2, len(account_proof[i]) - 1):
            bad = list(account_proof)
            bad[i] = bad[i][:at] + bytes((bad[i][at] ^ 1,)) + bad[i][at + 1 :]
            with pytest.raises(ChainError):
                stateproof.account(state, address, bad)
    for i in range(len(storage)):
        bad = list(storage)
        bad[i] = bad[i][:-1] + bytes((bad[i][-1] ^ 0x80,))
        with pytest.raises(ChainError):
            stateproof.storage_word(contract.storage_root, base, bad)

    registry = bytes.fromhex(ledger.chain.deployment.registry[2:])
    with pytest.raises(ChainError):  # the anchor's proof offered for the registry (another present account)
        stateproof.account(state, registry, account_proof)
    with pytest.raises(ChainError):  # slot base's proof offered for slot base + 1 (present too)
        stateproof.storage_word(contract.storage_root, base + 1, storage)

    leaf = stateproof._list(storage[-1], "leaf")
    remade = stateproof._rlp_list([leaf[0].value, stateproof._rlp_bytes(b"\x01" * 32)])
    with pytest.raises(ChainError, match="not the one its parent"):  # a value changed in a re-made leaf
        stateproof.storage_word(contract.storage_root, base, [*storage[:-1], remade])
    with pytest.raises(ChainError, match="ends before"):  # the leaf left out: no absence is proven so
        stateproof.storage_word(contract.storage_root, base, storage[:-1])
    with pytest.raises(ChainError, match="past the end"):
        stateproof.storage_word(contract.storage_root, base, [*storage, storage[-1]])
    # an absence proof: the branch on the key's path with the key's child emptied, re-hashed up to a made-up root
    # that the real account does not carry
    nibble = stateproof._nibbles(keccak(base.to_bytes(32, "big")))[0]
    top = stateproof._list(storage[0], "branch")
    assert len(top) == 17
    emptied = stateproof._rlp_list([b"" if j == nibble else e.value for j, e in enumerate(top[:16])] + [b""])
    assert stateproof.verify_proof(keccak(emptied), base.to_bytes(32, "big"), [emptied], "a slot") is None
    with pytest.raises(ChainError, match="not the one its parent"):
        stateproof.storage_word(contract.storage_root, base, [emptied])


def test_altered_headers_are_refused(ledger: Ledger, still: None) -> None:
    """Adversary: the chain's operator answering ``eth_getBlockByNumber`` for a witnessed block with its state
    root changed, with another block, with a field added or one fork's field without the one before it."""
    number, block_hash = _head(ledger)
    block = _block(ledger, number)
    changed = {**block, "stateRoot": "0x" + "11" * 32}
    with pytest.raises(ChainError, match="not to the witnessed"):
        stateproof.state_root(changed, block_hash, number)
    with pytest.raises(ChainError, match="not to the witnessed"):
        stateproof.state_root(_block(ledger, number - 1), block_hash, number)
    with pytest.raises(ChainError, match="does not know"):
        stateproof.state_root({**block, "futureRoot": "0x" + "00" * 32}, block_hash, number)
    if "withdrawalsRoot" in block:
        gap = {k: v for k, v in block.items() if k != "withdrawalsRoot"}
        with pytest.raises(ChainError, match="without every one before them"):
            stateproof.state_root(gap, block_hash, number)
    with pytest.raises(ChainError):
        stateproof.state_root({**block, "number": hex(number + 1)}, block_hash, number)


def test_hostile_proof_shapes_are_refused_with_bounded_work() -> None:
    """Adversary: the chain's operator answering ``eth_getProof`` with proofs made to exhaust or crash the reader:
    a huge number of nodes, a huge node, a node nested a hundred thousand lists deep, an embedded node of 32 bytes
    or more, and random damage. Only ChainError escapes; no recursion, no unbounded work."""
    key = (1).to_bytes(32, "big")
    with pytest.raises(ChainError, match="more than"):
        stateproof.verify_proof(keccak(b"x"), key, [b"\x80"] * 10_000, "a slot")
    huge = b"\xb9\xff\xff" + bytes(0xFFFF)
    with pytest.raises(ChainError, match="bytes"):
        stateproof.verify_proof(keccak(huge), key, [huge], "a slot")
    deep = b"\xc1" * 900 + b"\xc0"  # nested lists, under the size bound: read one level, refused as no trie node
    with pytest.raises(ChainError):
        stateproof.verify_proof(keccak(deep), key, [deep], "a slot")
    deeper = b"\xc1" * 100_000 + b"\xc0"
    with pytest.raises(ChainError):
        stateproof.verify_proof(keccak(deeper), key, [deeper], "a slot")
    inline = stateproof._rlp_list([b"\x20", b"v" * 40])  # a leaf of 44 bytes embedded in a branch
    nibble = stateproof._nibbles(keccak(key))[0]
    body = b"".join(inline if j == nibble else b"\x80" for j in range(17))
    branch = b"\xf8" + bytes((len(body),)) + body
    with pytest.raises(ChainError, match="embeds a node of 32 bytes or more"):
        stateproof.verify_proof(keccak(branch), key, [branch], "a slot")
    looped = stateproof._rlp_list([b"\x00", keccak(b"x")])  # an extension of no nibbles: no progress along the key
    with pytest.raises(ChainError, match="empty path"):
        stateproof.verify_proof(keccak(looped), key, [looped], "a slot")
    noncanonical = b"\xb8\x01\x05"  # a one-byte string in the long form
    with pytest.raises(ChainError, match="non-canonical"):
        stateproof.verify_proof(keccak(b"\xc3" + noncanonical), key, [b"\xc3" + noncanonical], "a slot")
    empty = stateproof.EMPTY_TRIE_ROOT  # an empty trie: no node, or the empty root node, prove every key absent
    assert stateproof.verify_proof(empty, key, [], "a slot") is None
    assert stateproof.verify_proof(empty, key, [b"\x80"], "a slot") is None
    with pytest.raises(ChainError, match="trie that is empty"):
        stateproof.verify_proof(empty, key, [b"\x80", b"\x80"], "a slot")
    generator = random.Random(1186)
    leaf = stateproof._rlp_list([b"\x20" + keccak(key), stateproof._rlp_bytes(b"\x2a")])
    parent = stateproof._rlp_list([b""] * 17)
    for _ in range(2_000):
        node = bytearray(generator.choice((leaf, parent)))
        for _ in range(generator.randint(1, 4)):
            node[generator.randrange(len(node))] = generator.randrange(256)
        try:
            stateproof.verify_proof(keccak(bytes(node)), key, [bytes(node)], "a slot")
        except ChainError:
            pass
    assert stateproof.verify_proof(keccak(leaf), key, [leaf], "a slot") == b"\x2a"


# -- end to end: a node lying about the contract's state as well as its logs ----------------------------------


def test_a_node_hiding_a_revocation_from_its_state_and_logs_fails_witnessed(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: the chain's operator, answering ``statusTrail``, ``statusOf``, ``endedUnder`` and ``heldUnder`` as
    they were before a certificate's revocation and leaving the revocation out of ``eth_getLogs``: every answer
    agrees, so every reader believed the certificate valid. A witness cosigned a block after the revocation; the
    contract's state at that block, proven from its hash, has the revocation, so ``witnessed`` must fail."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    dept, root, digest = _key(target, fresh_department)
    fns = ledger.chain.anchor.functions
    calls = [fns.statusTrail(dept), fns.statusOf(dept, root, digest), fns.endedUnder(dept, digest)]
    calls.append(fns.heldUnder(dept, digest))
    before = {
        fn._encode_transaction_data().lower(): "0x" + ledger.chain.call_data(fn).hex() for fn in calls
    }  # the answers the operator keeps giving
    status.revoke(ledger, target["digest"], "fraud")

    def stale(method: str, params: Any, answer: Any) -> Any:
        if method == "eth_call":
            data = str((params[0] or {}).get("data") or (params[0] or {}).get("input") or "").lower()
            if data in before:
                return {**answer, "result": before[data]}
        if method == "eth_getLogs" and isinstance(answer.get("result"), list):
            kept = [
                log
                for log in answer["result"]
                if not (log["topics"][0].lower() == REVOKED_TOPIC and log["topics"][1].lower() == target["digest"])
            ]
            return {**answer, "result": kept}
        return answer

    def stale_batch(requests: list[Any], answers: Any) -> Any:
        asked = {r["id"]: r for r in requests}
        return [stale(asked[a["id"]]["method"], asked[a["id"]]["params"], a) for a in answers]

    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        # the node mines no block of its own meanwhile: the lying node is asked for the witnessed block's state
        with mining_paused(ledger), RpcProxy(rpc_url(ledger), rewrite=stale, rewrite_batch=stale_batch) as node:
            collected = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
            assert collected.witnessed and collected.checkpoint is not None
            lying = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
            for lookup in ("herd", "direct"):
                view = ChainView(lying, status_lookup=lookup)
                view.witness = wclient.WitnessView(lying, config, collected.checkpoint)
                report = verify_certificate(target, view)
                checks = {c.name: c for c in report.checks}
                assert checks["status"].ok, report.to_json()  # the lie itself: believed by the status check
                assert not checks["witnessed"].ok, report.to_json()
                assert "do not hash to the status trail" in checks["witnessed"].detail, report.to_json()


def test_a_witnessed_verification_proves_the_trail_from_the_kept_proofs_once_the_node_dropped_the_state(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: the chain's operator, whose node keeps no state of older blocks (as the embedded node) or says it
    keeps none. ``ledger witness collect`` kept the proofs of every department's trail at the block it had
    cosigned, read while that block was the head; a verification later proves the trail from them against the
    witnessed hash (honest: passes). Without them, a node that cannot prove the state fails ``witnessed`` (closed),
    and a kept proof altered on disk is not believed."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.revoke(ledger, target["digest"], "fraud")
    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        with mining_paused(ledger):
            collected = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
        assert collected.witnessed and collected.checkpoint is not None
        height = collected.checkpoint.checkpoint.height
        drop_older_states(ledger)  # the node drops the witnessed block's state
        with pytest.raises(ChainError):  # the node has dropped the witnessed block's state
            stateproof.proven_trail(
                ledger.chain.w3,
                ledger.chain.deployment.anchor,
                collected.checkpoint.checkpoint.block_hash,
                height,
                department_id_bytes(fresh_department),
            )

        def verified(witness: wclient.WitnessView) -> Any:
            view = ChainView(ledger.chain)
            view.witness = witness
            return {c.name: c for c in verify_certificate(target, view).checks}

        kept = wclient.WitnessView(ledger.chain, config, None, ledger.settings.data_dir)
        checks = verified(kept)
        assert not checks["status"].ok and checks["witnessed"].ok, checks
        assert kept.proven_trail(department_id_bytes(fresh_department)).changes == 1

        checks = verified(wclient.WitnessView(ledger.chain, config, collected.checkpoint))  # nothing kept
        assert not checks["witnessed"].ok and "witness collect" in checks["witnessed"].detail, checks

        state = ledger.settings.data_dir / "witness" / f"state-{collected.checkpoint.checkpoint.hash_hex}.json"
        stored = json.loads(state.read_text())
        stored["block"]["stateRoot"] = "0x" + "22" * 32
        state.write_text(json.dumps(stored))
        checks = verified(wclient.WitnessView(ledger.chain, config, None, ledger.settings.data_dir))
        assert not checks["witnessed"].ok and "kept proof does not prove it" in checks["witnessed"].detail, checks

        for _ in range(2):  # the proofs of the latest two checkpoints are kept, no more
            with mining_paused(ledger):
                rpc(ledger, "evm_mine")
                assert wclient.collect(ledger.chain, ledger.settings.data_dir, config).witnessed
        assert len(list((ledger.settings.data_dir / "witness").glob("state-0x*.json"))) == 2
        checks = verified(wclient.WitnessView(ledger.chain, config, None, ledger.settings.data_dir))
        assert checks["witnessed"].ok, checks


def test_a_node_answering_an_altered_proof_fails_witnessed(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: the chain's operator answering ``eth_getProof`` for the witnessed block with a node of the
    anchor's account proof altered (its state made up), every other answer honest: ``witnessed`` fails, naming the
    proof that did not hash up to the witnessed block."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))

    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        with mining_paused(ledger), RpcProxy(rpc_url(ledger), rewrite=altered_account_proof) as node:
            collected = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
            assert collected.witnessed
            lying = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
            view = ChainView(lying)
            view.witness = wclient.WitnessView(lying, config, collected.checkpoint)
            checks = {c.name: c for c in verify_certificate(target, view).checks}
            assert checks["status"].ok, checks
            assert not checks["witnessed"].ok and "could not be proven" in checks["witnessed"].detail, checks
            assert "not the one its parent" in checks["witnessed"].detail, checks


def test_a_long_lived_view_reads_on_from_the_last_proven_trail_and_still_catches_the_lie(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: the chain's operator behind a long-lived view (the gateway's), honest until a certificate is
    revoked, then answering its state and logs as before the revocation. The view read the department's events up
    to the first witnessed block and proved them; at the next checkpoint it reads only the events since then (not
    the department's whole history again) on from the proven trail, and the left-out revocation still fails
    ``witnessed``."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    dept, root, digest = _key(target, fresh_department)
    fns = ledger.chain.anchor.functions
    calls = [fns.statusTrail(dept), fns.statusOf(dept, root, digest), fns.endedUnder(dept, digest)]
    before = {fn._encode_transaction_data().lower(): "0x" + ledger.chain.call_data(fn).hex() for fn in calls}
    lying = [False]

    def stale(method: str, params: Any, answer: Any) -> Any:
        if not lying[0]:
            return answer
        if method == "eth_call":
            data = str((params[0] or {}).get("data") or (params[0] or {}).get("input") or "").lower()
            if data in before:
                return {**answer, "result": before[data]}
        if method == "eth_getLogs" and isinstance(answer.get("result"), list):
            kept = [log for log in answer["result"] if log["topics"][0].lower() != REVOKED_TOPIC]
            return {**answer, "result": kept}
        return answer

    def stale_batch(requests: list[Any], answers: Any) -> Any:
        asked = {r["id"]: r for r in requests}
        return [stale(asked[a["id"]]["method"], asked[a["id"]]["params"], a) for a in answers]

    dept_topic = "0x" + dept.hex()

    def department_reads(node: RpcProxy) -> list[int]:
        starts = []
        for body in node.bodies:
            for call in (lambda r: r if isinstance(r, list) else [r])(json.loads(body)):
                query = (call.get("params") or [{}])[0] if call.get("method") == "eth_getLogs" else {}
                if isinstance(query, dict) and (query.get("topics") or [None] * 4)[3:] == [dept_topic]:
                    starts.append(int(query["fromBlock"], 16))
        return starts

    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        with RpcProxy(rpc_url(ledger), rewrite=stale, rewrite_batch=stale_batch) as node:
            chain = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
            view = ChainView(chain, status_lookup="direct")  # the status by statusOf: the logs read are the proof's
            view.witness = wclient.WitnessView(chain, config, None, ledger.settings.data_dir)
            with mining_paused(ledger):
                first = wclient.collect(ledger.chain, ledger.settings.data_dir, config).checkpoint
            assert first is not None and first.witnessed
            checks = {c.name: c for c in verify_certificate(target, view).checks}
            assert checks["status"].ok and checks["witnessed"].ok, checks
            status.revoke(ledger, target["digest"], "fraud")
            lying[0] = True
            node.bodies.clear()
            with mining_paused(ledger):
                second = wclient.collect(ledger.chain, ledger.settings.data_dir, config).checkpoint
            assert second is not None and second.checkpoint.height > first.checkpoint.height
            checks = {c.name: c for c in verify_certificate(target, view).checks}
            assert checks["status"].ok, checks  # the lie, believed by the status check
            assert not checks["witnessed"].ok, checks
            assert "do not hash to the status trail" in checks["witnessed"].detail, checks
            # the witnessed read goes on from the first checkpoint, and nothing else reads the department's events:
            # the direct lookup's statuses are statusOf's, and since CertificateAnchor 4.3.0 its predecessors are
            # predecessors()'s, no supersession scan from block 1 (ev2)
            starts = department_reads(node)
            assert starts == [first.checkpoint.height + 1], (starts, first.checkpoint.height)


def test_collect_keeps_no_proof_that_does_not_prove_the_block_it_cosigned(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: the chain's operator (or the embedded node itself, caught mining the next block: the demo's run of
    aad0772 kept such a proof at a revocation's block) answering ``ledger witness collect``'s first ``eth_getProof``
    with a proof that does not hash up to the block it names. ``collect`` kept it unchecked, the node then dropped
    the block's state, and every witnessed verification of that department failed until the next checkpoint, on an
    honest chain. ``collect`` must check what it keeps against the block's hash and read the proofs again (another
    head if need be), so the verification after passes."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.revoke(ledger, target["digest"], "fraud")
    answered = [0]

    def first_altered(method: str, params: Any, answer: Any) -> Any:
        if method == "eth_getProof":
            answered[0] += 1
            if answered[0] == 1:
                return altered_account_proof(method, params, answer)
        return answer

    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        with mining_paused(ledger), RpcProxy(rpc_url(ledger), rewrite=first_altered) as node:
            proxied = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
            collected = wclient.collect(proxied, ledger.settings.data_dir, config)
        assert collected.witnessed and answered[0] >= 2, answered
        drop_older_states(ledger)  # the node drops the witnessed block's state: only the kept proofs can prove it now
        view = ChainView(ledger.chain)
        view.witness = wclient.WitnessView(ledger.chain, config, None, ledger.settings.data_dir)
        checks = {c.name: c for c in verify_certificate(target, view).checks}
        assert not checks["status"].ok and checks["witnessed"].ok, checks
