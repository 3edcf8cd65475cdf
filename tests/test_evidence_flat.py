"""Evidence bundles without scans that grow with the chain (issue 18): a witnessed certificate bundle carries the proof
of the certificate's own storage slots at the cosigned block (its batch record, status history, ended and held roots;
ledger/onchain/anchorslots.py), and the build and both verifiers take its batch and status from them, reading no event
stream of the issuing department.

Adversaries: the chain's operator hiding a revocation (from its events and the bundle) or answering a batch record of
its own; a holder editing the bundle (its anchoring's time, its status); whoever hands the court the bundle giving the
proof of another certificate's slots, of another block, or leaving a slot out. Both verifiers give every case the same
verdict. And the flatness itself, which can fail: the node requests a build and both checks make, counted through a
JSON-RPC proxy, must not grow when the department anchors ten times as many batches and the chain grows long.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak

from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.onchain import anchorslots, stateproof
from ledger.onchain.chain import Chain, connect
from ledger.onchain.ids import department_id_bytes
from ledger.services import evidence, status
from ledger.services.verify import ChainView, verify_certificate
from ledger.services.witness import client as wclient

from .cli_support import drop_older_states, mining_paused, rpc
from .conftest import PASSPHRASE, make_records
from .evidence_support import SCRIPT_MODULE, issue, rpc_url, standalone
from .rpc_proxy import RpcProxy
from .verifiers_support import witnessed_by_both_many
from .witness_support import trusted_witness

COURT = SCRIPT_MODULE
SUPERSEDED_TOPIC = "0x" + keccak(text="CertificateSuperseded(bytes32,bytes32,bytes32,bytes32,bytes32)").hex()


@pytest.fixture()
def passphrases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")


def _bundle(ledger: Ledger, target: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """A bundle carrying the certificate's slots: built with the direct lookup (a herd build asks for none)."""
    bundle = evidence.certificate_bundle(ledger, target, **{"status_lookup": "direct", **kwargs})
    assert "certificate" in bundle["witness"]["state"], bundle["witness"]
    return bundle


def _slots(bundle: dict[str, Any]) -> anchorslots.CertificateSlots:
    return anchorslots.certificate_slots(
        department_id_bytes(bundle["certificate"]["fields"]["issuer"]),
        bytes.fromhex(bundle["anchor"]["root"][2:]),
        bytes.fromhex(bundle["certificate"]["digest"][2:]),
    )


# -- the slots are the compiler's ---------------------------------------------------------------------------------


def test_the_certificate_slots_hold_what_the_contract_answers_and_the_court_computes_them_alike(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: none. The slots worked out from the compiler's storage layout hold, on the real chain, what the
    contract's own getters answer (the batch record, the status history of a certificate suspended, reinstated and
    revoked, the predecessors of one that superseded another) and the ended and held roots its writes set; the court's
    verifier, which states the slots itself, computes the same ones."""
    kept, changed, old = issue(ledger, tmp_path, fresh_department, make_records(3))
    status.supersede(ledger, old["digest"], kept["digest"], fresh_department)
    status.suspend(ledger, changed["digest"], "under-investigation")
    status.reinstate(ledger, changed["digest"], "grounds-resolved")
    status.revoke(ledger, changed["digest"], "fraud")
    dept = department_id_bytes(fresh_department)
    anchor = ledger.chain.deployment.anchor
    with mining_paused(ledger):  # proofs at the head, which the next block would take away
        for cert in (kept, changed):
            root, digest = bytes.fromhex(cert["anchor"]["root"][2:]), bytes.fromhex(cert["digest"][2:])
            slots = anchorslots.certificate_slots(dept, root, digest)
            assert COURT.certificate_fixed_slots(dept, root, digest) == slots.fixed()
            head = ledger.chain.block_number()
            words = stateproof.proven_words(
                ledger.chain.w3, anchor, slots.fixed(), bytes(ledger.chain.w3.eth.get_block(head)["hash"]), head
            )
            length, count = anchorslots.history_length(words, slots), anchorslots.predecessor_count(words, slots)
            assert COURT.certificate_entry_slots(dept, root, digest, length) == slots.entries(length)
            assert COURT.certificate_predecessor_slots(dept, root, digest, count) == slots.predecessor_entries(count)
            block, answer = stateproof.fetch(ledger.chain.w3, anchor, slots.all(length, count), head)
            block_hash = bytes(ledger.chain.w3.eth.get_block(head)["hash"])
            proven = anchorslots.verified_certificate(block, answer, anchor, slots, block_hash, head)
            court = COURT.proven_certificate(block, answer, anchor, dept, root, digest, block_hash, head)
            signer, number, time, count, schema = ledger.chain.call(ledger.chain.anchor.functions.batch(dept, root))
            assert proven.batch == anchorslots.BatchRecord(str(signer).lower(), number, time, count, bytes(schema))
            assert (court["signer"], court["block_number"], court["timestamp"], court["count"], court["schema"]) == (
                str(signer).lower(),
                number,
                time,
                count,
                "0x" + bytes(schema).hex(),
            )
            history = ledger.chain.call(ledger.chain.anchor.functions.statusHistory(dept, root, digest))
            assert [(int(c[0]), int(c[1]), int(c[2]), bytes(c[3])) for c in history] == list(proven.history)
            assert court["history"] == list(proven.history)
            assert [c[0] for c in proven.history] == ([] if cert is kept else [1, 0, 2])
            assert (proven.ended, proven.held) == ((bytes(32), bytes(32)) if cert is kept else (root, root))
            assert (court["ended"], court["held"]) == (proven.ended, proven.held)
            before = ledger.chain.call(ledger.chain.anchor.functions.predecessors(dept, root, digest))
            assert [(bytes(p[0]), bytes(p[1])) for p in before] == list(proven.predecessors) == court["predecessors"]
            assert list(proven.predecessors) == (
                [(bytes.fromhex(old["anchor"]["root"][2:]), bytes.fromhex(old["digest"][2:]))] if cert is kept else []
            )


# -- both verifiers, every case --------------------------------------------------------------------------------


def _leaf_altered(entry: dict[str, Any]) -> None:
    """The storage proof's leaf re-encoded with another value: its path kept, its hash not."""
    nodes = entry["proof"]
    leaf = stateproof._list(bytes.fromhex(nodes[-1][2:]), "leaf")
    nodes[-1] = "0x" + stateproof._rlp_list([leaf[0].value, stateproof._rlp_bytes(b"\x01" * 32)]).hex()


def _cases(bundle: dict[str, Any], other: dict[str, Any], another_block: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The bundle as whoever hands it over may alter it: name -> the bundle. ``other``: an honest bundle of another
    certificate of the issuer; ``another_block``: the certificate's proof at another block (the head's)."""
    slots = _slots(bundle)
    cases: dict[str, dict[str, Any]] = {"honest": bundle}

    def altered(name: str, change: Any) -> None:
        changed = copy.deepcopy(bundle)
        change(changed)
        cases[name] = changed

    def entry(b: dict[str, Any], slot: int) -> dict[str, Any]:
        return next(e for e in b["witness"]["state"]["certificate"]["storageProof"] if int(e["key"], 16) == slot)

    def without(b: dict[str, Any], *wanted: int) -> None:
        proof = b["witness"]["state"]["certificate"]
        proof["storageProof"] = [e for e in proof["storageProof"] if int(e["key"], 16) not in wanted]

    def another_certificate(b: dict[str, Any]) -> None:
        b["witness"]["state"]["certificate"] = copy.deepcopy(other["witness"]["state"]["certificate"])

    def record_leaf(b: dict[str, Any]) -> None:
        _leaf_altered(entry(b, slots.batch))

    def anchoring_time(b: dict[str, Any]) -> None:
        b["anchor"]["block_timestamp"] += 1

    def last_entry_dropped(b: dict[str, Any]) -> None:
        # the suspension left out, the bundle stating the certificate valid: the proven length still counts it
        without(b, *slots.entries(1))
        b["status"] = {"status": "valid", "changed_in_block": None, "detail": None, "reason": None}

    def restated_valid(b: dict[str, Any]) -> None:
        b["status"] = {"status": "valid", "changed_in_block": None, "detail": None, "reason": None}

    def length_leaf(b: dict[str, Any]) -> None:
        _leaf_altered(entry(b, slots.history))

    def of_another_block(b: dict[str, Any]) -> None:
        b["witness"]["state"]["certificate"] = copy.deepcopy(another_block)

    def predecessors_leaf(b: dict[str, Any]) -> None:
        # a predecessor added under the proof: the length's leaf claims more than the contract holds
        _leaf_altered(entry(b, slots.predecessors))

    altered("proof of another certificate's slots", another_certificate)
    altered("batch record altered", record_leaf)
    altered("anchoring time altered", anchoring_time)
    altered("status entry dropped", last_entry_dropped)
    altered("status restated valid", restated_valid)
    altered("history length altered", length_leaf)
    altered("ended slot omitted", lambda b: without(b, slots.ended))
    altered("held slot omitted", lambda b: without(b, slots.held))
    altered("proof of another block", of_another_block)
    altered("predecessor dropped from the proof", lambda b: without(b, *slots.predecessor_entries(1)))
    altered("predecessors' length altered", predecessors_leaf)
    altered("predecessors' length omitted", lambda b: without(b, slots.predecessors))
    old = copy.deepcopy(bundle)
    del old["witness"]["state"]["certificate"]
    cases["old bundle (trails only)"] = old
    return cases


def test_both_verifiers_give_every_altered_certificate_proof_the_same_verdict(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: whoever hands the court the bundle (its holder, the operator). The certificate's proof replaced by
    another certificate's, its batch record's leaf altered, the bundle's anchoring time edited, its suspension left
    out of the proof and the bundle, the bundle restated valid under an honest proof, the history's length altered,
    the ended or held slot left out, the proof of another block, the header and proofs of another block, a
    predecessor dropped from the proof, the predecessors' length altered (one added) or left out: each fails
    ``witnessed`` in both verifiers, which agree. The bundle without the certificate's proof (written before) checks
    as before, by the trail path. The honest bundle's predecessor is named, proven, by both."""
    target, second, old = issue(ledger, tmp_path, fresh_department, make_records(3))
    status.supersede(ledger, old["digest"], target["digest"], fresh_department)
    status.suspend(ledger, target["digest"], "under-investigation")
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = _bundle(ledger, target)
        assert bundle["status"]["status"] == "suspended"
        other = _bundle(ledger, second)
        slots = _slots(bundle)
        anchor = ledger.chain.deployment.anchor
        dept = department_id_bytes(fresh_department)
        with mining_paused(ledger):  # both proofs of the head's state, which the next block would take away
            rpc(ledger, "evm_mine")
            head = ledger.chain.block_number()
            header, another = stateproof.fetch(ledger.chain.w3, anchor, slots.all(1, 1), head)
            _, trails = stateproof.fetch(ledger.chain.w3, anchor, stateproof.department_slots(dept), head)
        cases = _cases(bundle, other, another)
        # the head's header and both its proofs: a genuine state of another block than the cosigned one
        cases["header of another block"] = copy.deepcopy(bundle)
        cases["header of another block"]["witness"]["state"] = {
            "block": {k: v for k, v in dict(header).items() if k not in stateproof.NOT_HEADER},
            "proof": dict(trails),
            "certificate": dict(another),
        }
        names = list(cases)
        verdicts = witnessed_by_both_many(ledger, [cases[n] for n in names], tmp_path, key)
        for name, ((ok, detail), (result, court)) in zip(names, verdicts, strict=True):
            assert ok == (result == "PASS"), (name, detail, court)
            assert ok == (name in ("honest", "old bundle (trails only)")), (name, detail, court)
            if name == "honest":
                assert "no event stream read" in detail and "no event stream read" in court, (detail, court)
                named = f"it replaces {old['digest'].lower()} (proven)"
                assert named in detail and named in court, (detail, court)
            elif name.startswith("old bundle"):
                assert "the node's events up to it hash to them" in detail, detail
                assert "the node's events up to it hash to them" in court, court
            else:
                assert "state proof" in detail and "state proof" in court, (name, detail, court)
        # --require-state-proof keeps its meaning: a bundle with no state at all fails it, in both
        stripped = copy.deepcopy(bundle)
        del stripped["witness"]["state"]
        ((ok, detail), (result, court)), ((ok2, _), (result2, _)) = witnessed_by_both_many(
            ledger, [stripped, bundle], tmp_path, key, require_state_proof=True
        )
        assert not ok and result == "FAIL" and "required" in detail and "required" in court, (detail, court)
        assert ok2 and result2 == "PASS"


def test_a_checkpoint_whose_state_the_node_dropped_gets_the_trail_path_and_checks(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: none (a false failure is a finding too). The bundle is stated as of a checkpoint whose block's state
    the node no longer holds (the embedded node keeps 32 below its head): the certificate's slots cannot be proven,
    so the bundle carries the issuer's trails from the proofs kept at collection and no certificate proof, and both
    verifiers check it by the trail path, as before."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    for key, config in trusted_witness(ledger, tmp_path):
        collected = wclient.collect(ledger.chain, ledger.settings.data_dir, config).checkpoint
        assert collected is not None and collected.witnessed
        drop_older_states(ledger)  # the node drops the witnessed block's state
        bundle = evidence.certificate_bundle(ledger, target, as_of_block=collected.checkpoint.height)
        state = bundle["witness"]["state"]
        assert "proof" in state and "certificate" not in state, sorted(state)
        ((ok, detail), (result, court)) = witnessed_by_both_many(ledger, [bundle], tmp_path, key)[0]
        assert ok and result == "PASS", (detail, court)
        assert "the node's events up to it hash to them" in detail, detail
        assert "the node's events up to it hash to them" in court, court


def test_a_herd_build_names_no_slot_of_the_certificates_digest_to_the_node(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: the operator of the node the builder asks, who would like to know which certificate goes to court
    (docs/privacy.md, herd privacy). The certificate's history, ended and held slots are keyed by its digest: asking
    the node for their proofs hands it a value it can match against every digest it has seen (each status event
    names one) and against any it learns later. Under the herd lookup (the default) the build asks for none of them,
    and the bundle takes the trail path, which both verifiers check as before; under the direct lookup, which names
    the digest anyway, the certificate's slots are proven."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.revoke(ledger, target["digest"], "fraud")
    for key, _config in trusted_witness(ledger, tmp_path):
        real = ledger.chain
        for lookup in ("herd", "direct"):
            with RpcProxy(rpc_url(ledger)) as node:
                ledger.chain = Chain(connect(node.url), real.deployment, gas_price=0, artifacts=real.artifacts)
                try:
                    bundle = evidence.certificate_bundle(ledger, target, status_lookup=lookup)
                finally:
                    ledger.chain = real
                asked = b"".join(node.bodies).lower()
            slots = anchorslots.certificate_slots(
                department_id_bytes(fresh_department),
                bytes.fromhex(bundle["anchor"]["root"][2:]),
                bytes.fromhex(bundle["certificate"]["digest"][2:]),
            )
            keyed = [f"{slot:064x}".encode() for slot in (slots.history, slots.ended, slots.held)]
            named = [k for k in keyed if k in asked]
            state = bundle["witness"]["state"]
            if lookup == "herd":
                assert named == [] and "certificate" not in state, (named, sorted(state))
                ((ok, detail), (result, court)) = witnessed_by_both_many(ledger, [bundle], tmp_path, key)[0]
                assert ok and result == "PASS", (detail, court)
            else:
                assert named and "certificate" in state, sorted(state)


# -- attacks ----------------------------------------------------------------------------------------------------


def test_the_operator_hiding_a_revocation_from_its_events_and_the_bundle_fails_under_the_proven_slots(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: the chain's operator. The certificate was revoked before the cosigned block; the operator hands the
    court a bundle stating it valid and answers ``eth_getLogs`` (and the certificate's status calls) without the
    revocation. The certificate's proven status history holds it: both verifiers fail ``witnessed``, with no event
    read to hide it from."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.revoke(ledger, target["digest"], "fraud")
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = _bundle(ledger, target)
        assert bundle["status"]["status"] == "revoked"
        lied = copy.deepcopy(bundle)
        lied["status"] = {"status": "valid", "changed_in_block": None, "detail": None, "reason": None}
        digest = target["digest"].lower()

        def without_the_revocation(method: str, _params: Any, answer: Any, digest: str = digest) -> Any:
            if method == "eth_getLogs" and isinstance(answer.get("result"), list):
                kept = [log for log in answer["result"] if digest not in str(log["topics"]).lower()]
                return {**answer, "result": kept}
            return answer

        path = tmp_path / "lied.json"
        path.write_text(json.dumps(lied), encoding="utf-8")
        with RpcProxy(rpc_url(ledger), rewrite=without_the_revocation) as node:
            lying = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
            check = evidence.verify_bundle(path, lying, witness_keys=[key]).check("witnessed")
            code, answer, stderr = standalone(ledger, path, "--witness-key", key, rpc=node.url)
        assert answer is not None, stderr
        court = {c["name"]: (c["result"], c["detail"]) for c in answer["checks"]}["witnessed"]
        assert not check.ok and court[0] == "FAIL", (check, court)
        assert "give revoked" in check.detail and "give revoked" in court[1], (check.detail, court)
        assert code == 1


def test_a_node_answering_another_batch_record_than_the_proven_one_is_not_believed(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: the chain's operator. Its node answers ``batch(department, root)`` with the record moved to another
    block (a backdated anchoring): with the record proven at the cosigned block, the library refuses the node and the
    court fails the anchoring, where without the proof they would read the batch stream."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = _bundle(ledger, target)
        path = tmp_path / "bundle.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        selector = "0x" + keccak(text="batch(bytes32,bytes32)")[:4].hex()

        def backdated(method: str, params: Any, answer: Any, selector: str = selector) -> Any:
            called = str(params[0].get("data", params[0].get("input", ""))) if method == "eth_call" else ""
            if called.startswith(selector):
                word = int(answer["result"][2 + 64 : 2 + 128], 16) - 1
                result = answer["result"][: 2 + 64] + f"{word:064x}" + answer["result"][2 + 128 :]
                return {**answer, "result": result}
            return answer

        with RpcProxy(rpc_url(ledger), rewrite=backdated) as node:
            lying = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
            report = evidence.verify_bundle(path, lying, witness_keys=[key])
            code, answer, stderr = standalone(ledger, path, "--witness-key", key, rpc=node.url)
        assert not report.ok and code == 1, (report.to_json(), answer)
        assert answer is not None, stderr
        library = report.check("anchor_event")
        court = {c["name"]: (c["result"], c["detail"]) for c in answer["checks"]}["anchor_event"]
        assert not library.ok and court[0] == "FAIL", (library, court)
        assert "is not the one the state proof" in library.detail, library.detail
        assert "is not the one the bundle's state proof proves" in court[1], court


def test_the_build_refuses_a_node_stamping_the_anchoring_block_otherwise_than_the_proven_record(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: the chain's operator, its node answering the anchoring block with another timestamp while the batch
    record is proven at the checkpoint. The producer refuses to write a bundle whose ``anchor.block_timestamp`` the
    proven record contradicts (the verifiers would fail it), naming the node."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    rpc(ledger, "evm_mine")  # the checkpoint's block is another than the anchoring's
    anchored = int(target["anchor"]["block_number"])

    def restamped(method: str, params: Any, answer: Any) -> Any:
        result = answer.get("result") if method == "eth_getBlockByNumber" else None
        if isinstance(result, dict) and int(result["number"], 16) == anchored:
            return {**answer, "result": {**result, "timestamp": hex(int(result["timestamp"], 16) + 7)}}
        return answer

    for _key, _ in trusted_witness(ledger, tmp_path):
        real = ledger.chain
        with RpcProxy(rpc_url(ledger), rewrite=restamped) as node:
            ledger.chain = Chain(connect(node.url), real.deployment, gas_price=0, artifacts=real.artifacts)
            try:
                with pytest.raises(ChainError, match="stamped"):
                    evidence.certificate_bundle(ledger, target, status_lookup="direct")
            finally:
                ledger.chain = real


PREDECESSORS_SELECTOR = "0x" + keccak(text="predecessors(bytes32,bytes32,bytes32)")[:4].hex()
NO_PREDECESSORS = "0x" + f"{32:064x}" + f"{0:064x}"  # the ABI of an empty array


def test_a_node_leaving_a_supersession_out_of_its_answers_is_caught_by_the_view_and_the_proven_slots(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: the chain's operator, hiding that the certificate replaced another (a holder showing the old one
    alongside would then meet no "replaces"). First its node leaves the supersession out of every ``eth_getLogs``
    answer: before CertificateAnchor 4.3.0 the direct lookup read a successor's predecessors from that scan alone and
    the report named none; now it reads the contract's record (``predecessors``) and names it. Then the node also
    answers that record empty: the witnessed bundle's proven slots still hold the predecessor, and the library's
    check (which takes them instead of asking the node) and both verifiers' ``witnessed`` name it."""
    old, target = issue(ledger, tmp_path, fresh_department, make_records(2))
    status.supersede(ledger, old["digest"], target["digest"], fresh_department)
    hidden = old["digest"].lower()

    def without_supersessions(method: str, params: Any, answer: Any) -> Any:
        if method == "eth_getLogs" and isinstance(answer.get("result"), list):
            kept = [log for log in answer["result"] if SUPERSEDED_TOPIC not in str(log["topics"]).lower()]
            return {**answer, "result": kept}
        return answer

    def and_no_record(method: str, params: Any, answer: Any) -> Any:
        called = str(params[0].get("data", params[0].get("input", ""))) if method == "eth_call" else ""
        if called.lower().startswith(PREDECESSORS_SELECTOR):
            return {**answer, "result": NO_PREDECESSORS}
        return without_supersessions(method, params, answer)

    with RpcProxy(rpc_url(ledger), rewrite=without_supersessions) as node:
        lying = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
        report = verify_certificate(target, ChainView(lying, status_lookup="direct"))
    assert report.to_json()["facts"].get("replaces") == hidden, report.to_json()

    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = _bundle(ledger, target)
        path = tmp_path / "successor.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        with RpcProxy(rpc_url(ledger), rewrite=and_no_record) as node:
            lying = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
            blind = verify_certificate(target, ChainView(lying, status_lookup="direct"))
            checked = evidence.verify_bundle(path, lying, witness_keys=[key], status_lookup="direct")
            code, answer, stderr = standalone(
                ledger, path, "--witness-key", key, "--status-lookup", "direct", rpc=node.url
            )
        # the node's word alone now hides it (a verifier without witnesses trusts the contract's answers as it
        # trusts statusOf); the proven slots do not
        assert "replaces" not in blind.to_json()["facts"], blind.to_json()
        assert checked.ok and checked.certificate_report is not None, checked.to_json()
        assert checked.certificate_report.to_json()["facts"].get("replaces") == hidden, checked.to_json()
        assert answer is not None and code == 0, (answer, stderr)
        court = {c["name"]: c["detail"] for c in answer["checks"]}["witnessed"]
        named = f"it replaces {hidden} (proven)"
        assert named in checked.check("witnessed").detail and named in court, (checked.check("witnessed"), court)


# -- flatness ---------------------------------------------------------------------------------------------------


def _log_queries(proxy: RpcProxy, *, supersessions: bool) -> tuple[int, int]:
    """(eth_getLogs calls, the blocks they cover in all) the proxy saw; without ``supersessions`` any query of the
    issuer's CertificateSuperseded events left out (the first test below leaves them out, the second counts them)."""
    calls = span = 0
    for body in proxy.bodies:
        request = json.loads(body)
        for call in request if isinstance(request, list) else [request]:
            if call.get("method") != "eth_getLogs":
                continue
            query = call["params"][0]
            if not supersessions and SUPERSEDED_TOPIC in json.dumps(query.get("topics")).lower():
                continue
            calls += 1
            span += int(query.get("toBlock", "0x0"), 16) - int(query.get("fromBlock", "0x0"), 16) + 1
    return calls, span


def _costs(ledger: Ledger, tmp_path: Path, target: dict[str, Any], key: str, *, supersessions: bool) -> list[Any]:
    """The log queries of a build, the library's check and the court's check of ``target``'s bundle (status read
    directly: the herd lookup reads the issuer's whole status stream by design, docs/privacy.md)."""
    costs: list[Any] = []
    real = ledger.chain
    with RpcProxy(rpc_url(ledger)) as node:
        ledger.chain = Chain(connect(node.url), real.deployment, gas_price=0, artifacts=real.artifacts)
        try:
            bundle = _bundle(ledger, target, status_lookup="direct")
        finally:
            ledger.chain = real
        costs.append(_log_queries(node, supersessions=supersessions))
    path = tmp_path / "flat.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    with RpcProxy(rpc_url(ledger)) as node:
        counted = Chain(connect(node.url), real.deployment, gas_price=0, artifacts=real.artifacts)
        report = evidence.verify_bundle(path, counted, witness_keys=[key], status_lookup="direct")
        assert report.ok, report.to_json()
        assert "no event stream read" in report.check("witnessed").detail
        # the issuer's registry periods proven from the bundle's own proof: no proof asked of the node
        assert "registry: 1 key, 1 status" in report.check("witnessed").detail, report.check("witnessed")
        assert node.methods["eth_getProof"] == 0, node.methods
        costs.append(_log_queries(node, supersessions=supersessions))
    with RpcProxy(rpc_url(ledger)) as node:
        code, answer, stderr = standalone(ledger, path, "--witness-key", key, "--status-lookup", "direct", rpc=node.url)
        assert code == 0, (answer, stderr)
        assert node.methods["eth_getProof"] == 0, node.methods
        costs.append(_log_queries(node, supersessions=supersessions))
    return costs


def _grown(ledger: Ledger, tmp_path: Path, department: str, batches: int, blocks: int) -> None:
    """The department anchors ``batches`` more batches and the chain grows by ``blocks`` empty blocks."""
    for _ in range(batches):
        issue(ledger, tmp_path, department, make_records(1))
    rpc(ledger, "anvil_mine", hex(blocks))


def _flatness(ledger: Ledger, tmp_path: Path, department: str, *, supersessions: bool, batches: int = 20) -> None:
    (target,) = issue(ledger, tmp_path, department, make_records(1))
    _grown(ledger, tmp_path, department, 1, 10)
    for key, config in trusted_witness(ledger, tmp_path):
        # each measure after a checkpoint, as the gateway collects one at every anchoring round: collect reads the
        # log's batch events since the previous checkpoint (logslots.kept_at), which a fresh build's collect then
        # need not read again
        wclient.collect(ledger.chain, ledger.settings.data_dir, config)
        before = _costs(ledger, tmp_path, target, key, supersessions=supersessions)
        # ten times the batches, a hundred blocks more: a scan from the registration (or block 1) covers each block
        # mined, so 100 show it as the 1,000 mined before did (anvil_mine 1000 took 6.1 s at load 17, 100 0.4 s: ci10)
        _grown(ledger, tmp_path, department, batches, 100)
        wclient.collect(ledger.chain, ledger.settings.data_dir, config)
        after = _costs(ledger, tmp_path, target, key, supersessions=supersessions)
        assert after == before, (before, after)


def test_a_bundles_build_and_both_checks_read_no_more_of_the_chain_when_it_grows(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: none (issue 18: no scan that grows with the store). The ``eth_getLogs`` calls a witnessed bundle's
    build, the library's check and the court's check make, and the blocks they cover, counted through a proxy before
    and after the issuer anchored ten times as many batches and the chain grew by 100 blocks: the same. Before the
    certificate's slots were proven, each read the issuer's batch stream (and the witnessed check its status stream)
    from its registration to the head: this fails on that code."""
    _flatness(ledger, tmp_path, fresh_department, supersessions=False)


def test_every_log_query_of_a_bundle_stays_flat_when_the_chain_grows(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: none. As above, counting every ``eth_getLogs`` (the supersession lookup included; the chain's growth
    alone shows it). Before CertificateAnchor 4.3.0 the library's verification of the certificate (the build's and
    the library check's) read the issuer's ``CertificateSuperseded`` events from block 1 to the head to name the
    certificates it replaced: this failed on that code. Now the direct lookup reads the contract's
    ``predecessors`` (one call) and the library's check takes them from the bundle's proven slots."""
    _flatness(ledger, tmp_path, fresh_department, supersessions=True, batches=0)
