"""The deciding department's registry periods proven inside decision bundles (``witness.state.registry``), in both
verifiers.

A witnessed decision bundle proves the log contract's record of its batch and its rule set's publication at the
cosigned block (``witness.state.log``, ev4); the registry's periods by which its key is judged (``department_key``:
``wasActiveSignerAt`` of the batch's key as an approver's, and ``statusHistory`` between the decision and its
anchoring) and the bundle's own periods (``department_history``) were the node's word. Adversaries: the chain's
operator (witnesses honest) answering the registry's reads from a state of its own making, whoever hands the court the
bundle stating the same periods, and a forger editing the bundle's registry proof. The bundle now carries the deciding
department's registry proof, read as a certificate bundle's issuer's is (registryslots, one reading); the library's
``verify_bundle`` and the court's ``scripts/verify_evidence.py`` prove it, hold the node's answers and the bundle's
periods to it, and give the same verdict on every case.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode
from eth_utils.crypto import keccak

from ledger.cli.evidence import verdict_line
from ledger.client import Ledger
from ledger.onchain import registryslots
from ledger.onchain.ids import department_id_bytes
from ledger.services import decisions, logchain
from ledger.services.departments import Council
from ledger.services.witness.bundle import VERIFIED_WITHOUT_ITEMS_PROOF, registry_section
from ledger.services.witness.checkpoint import Checkpoint
from ledger.services.witness.note import parse_note

from .cli_support import mining_paused
from .conftest import PASSPHRASE
from .decision_support import applications, unique_rule_set
from .evidence_support import (
    SCRIPT_MODULE,
    anchored_case,
    court_checks,
    rpc_url,
    witnessed_both,
    witnessed_decision_bundle,
)
from .registry_support import batched, history_written, registry_calls
from .rpc_proxy import RpcProxy
from .witness_support import trusted_witness

PROVEN = "the bundle's registry proof"
COURT = SCRIPT_MODULE
STATUS_HISTORY = "0x" + keccak(text="statusHistory(bytes32)")[:4].hex()


@pytest.fixture(autouse=True)
def _passphrases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")


# -- honest ---------------------------------------------------------------------------------------------------------


def test_a_witnessed_decision_bundle_proves_the_deciding_departments_registry_periods_in_both(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: none (a false failure is a finding too). The bundle's state section carries the proof of the
    deciding department's three lengths and every period's words at the cosigned block, and its slots only; both
    verifiers prove it, pass every check under ``--require-state-proof``, name the proof in ``department_key`` and
    ``department_history`` and report the state proven. The court's reading of it is the library's."""
    case_id = anchored_case(ledger, fresh_department)
    dept = department_id_bytes(fresh_department)
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = witnessed_decision_bundle(ledger, fresh_department, case_id)
        state = bundle["witness"]["state"]
        proven = [int(e["key"], 16) for answer in state["registry"]["proofs"] for e in answer["storageProof"]]
        cp = Checkpoint.parse(parse_note(bundle["witness"]["checkpoint"]).text)
        at = (ledger.chain.deployment.registry, cp.block_hash, cp.height)
        ours = registryslots.bundle_history(state["block"], state["registry"], *at, dept)
        counts = (len(ours.keys), len(ours.statuses), len(ours.types))
        assert counts[:2] == (1, 1), counts
        assert ours.items is not None and len(ours.items) >= 1, ours.items
        items = registryslots.registry_layout().items
        assert proven == [  # the lengths are asked first, then the periods
            *registryslots.length_slots(dept),
            items.length_slot(dept),
            *registryslots.period_slots(dept, counts),
            *items.slots(dept, len(ours.items)),
        ], proven
        report, library, result = witnessed_both(ledger, bundle, tmp_path, key, "--require-state-proof")
        court = court_checks(result)
        assert report.ok and all(r == "PASS" for r, _ in court.values()), (library, court)
        for detail in (library["witnessed"][1], court["witnessed"][1]):
            assert f"registry: 1 key, 1 status and {counts[2]} type periods of the deciding department" in detail
            assert f"service items: {len(ours.items)} periods of the deciding department proven" in detail, detail
        for name in ("department_key", "department_history", "service_item_held"):
            assert PROVEN in library[name][1] and PROVEN in court[name][1], (library[name], court[name])
        assert library["service_item_held"][1] == court["service_item_held"][1]
        assert report.state_proof == result["state_proof"] == "proven"
        theirs = COURT.proven_registry(state["block"], state["registry"], at[0], dept, *at[1:])
        assert theirs["keys"] == [(k.signer, k.from_block, k.to_block) for k in ours.keys]
        assert theirs["statuses"] == [(s.active, s.roles, s.from_block) for s in ours.statuses]
        assert theirs["items"] == [(i.service_item, i.from_block, i.until_block) for i in ours.items]


# -- the chain's operator: registry reads answered from a state of its own making ------------------------------------


@pytest.mark.parametrize("change", ["key revoked", "forged key", "department active"])
def test_registry_reads_answered_from_a_made_up_state_fail_both_decision_verifiers(
    ledger: Ledger, tmp_path: Path, fresh_department: str, change: str
) -> None:
    """The registry's history at the witnessed block says the decision's batch key was revoked before the batch
    (``key revoked``), was never the deciding department's (``forged key``: the department's key is another; the
    signer's department swapped), or that the department was suspended then (``department active``). The operator's
    node answers every registry read as the registry answered before (an active approver's key), and the bundle states
    those periods. Both verifiers believed it: every check passed. With the bundle's registry proof ``department_key``
    and ``department_history`` fail in both, naming the registry's proof; ``witnessed`` passes (the proof holds)."""
    case_id = anchored_case(ledger, fresh_department)
    dept = department_id_bytes(fresh_department)
    record, replay, seen = registry_calls(ledger.chain.deployment.registry)
    for key, _ in trusted_witness(ledger, tmp_path):
        honest = witnessed_decision_bundle(ledger, fresh_department, case_id)
        with RpcProxy(rpc_url(ledger), rewrite=record, rewrite_batch=batched(record)) as node:
            report, library, _ = witnessed_both(ledger, honest, tmp_path, key, node=node.url)
        assert report.ok, library
        assert seen, "no registry read was recorded"
        with history_written(ledger, dept, change, honest["anchor"]["block_number"]):
            bundle = witnessed_decision_bundle(ledger, fresh_department, case_id)
            _, truth, _ = witnessed_both(ledger, bundle, tmp_path, key)
            assert not truth["department_key"][0], truth
            forged = copy.deepcopy(bundle)
            forged["department"] = honest["department"]  # the periods the operator's node answers
            stripped = copy.deepcopy(forged)
            del stripped["witness"]["state"]["registry"]
            with RpcProxy(rpc_url(ledger), rewrite=replay, rewrite_batch=batched(replay)) as node:
                report, before, _ = witnessed_both(ledger, stripped, tmp_path, key, node=node.url)
                assert report.ok, before  # without the registry proof: the node's word, as before
                _, library, result = witnessed_both(ledger, forged, tmp_path, key, node=node.url)
    court = court_checks(result)
    assert {n for n, (ok, _) in library.items() if not ok} == {"department_key", "department_history"}, library
    for name in ("department_key", "department_history"):
        assert PROVEN in library[name][1] and PROVEN in court[name][1], (library[name], court[name])
    for detail in (library["department_key"][1], court["department_key"][1]):
        assert "was an active approver key" in detail and "do not trust this node" in detail, detail
    assert library["witnessed"][0] and court["witnessed"][0] == "PASS", (library, court)


def test_a_node_hiding_a_suspension_between_the_decision_and_its_anchoring_fails_both(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """The department was suspended and reinstated between the decision and its anchoring (only an active approver
    decides: ``department_key`` fails on the honest node). The operator's node answers ``statusHistory`` without the
    suspension and the bundle states the same periods: both verifiers passed every check. With the bundle's registry
    proof, whose status periods hold the suspension, both fail ``department_key`` and ``department_history`` naming
    the proof."""
    dept = department_id_bytes(fresh_department)
    rule_set = unique_rule_set(f"evidence-{fresh_department}")
    decisions.publish_rule_set(ledger, rule_set, fresh_department)
    apps = applications(2, seed=11)
    assert decisions.decide_many(ledger, fresh_department, apps, {"*": rule_set}, anchor=False).count == 2
    council = Council(ledger)
    council.suspend(fresh_department)
    council.reinstate(fresh_department)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    ((active, roles, start), *_) = ledger.chain.call(ledger.chain.registry.functions.statusHistory(dept))
    first = "0x" + encode(["(bool,uint8,uint64)[]"], [[(active, roles, start)]]).hex()

    def hides(method: str, params: Any, answer: Any) -> Any:
        if method == "eth_call" and isinstance(params, list) and isinstance(params[0], dict):
            data = str(params[0].get("data") or params[0].get("input") or "").lower()
            if data.startswith(STATUS_HISTORY) and dept.hex() in data and "error" not in answer:
                return {**answer, "result": first}
        return answer

    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = witnessed_decision_bundle(ledger, fresh_department, str(apps[0]["case_id"]))
        _, truth, _ = witnessed_both(ledger, bundle, tmp_path, key)
        assert not truth["department_key"][0] and "suspended" in truth["department_key"][1], truth
        forged = copy.deepcopy(bundle)
        forged["department"]["status_history"] = forged["department"]["status_history"][:1]
        stripped = copy.deepcopy(forged)
        del stripped["witness"]["state"]["registry"]
        with RpcProxy(rpc_url(ledger), rewrite=hides, rewrite_batch=batched(hides)) as node:
            report, before, _ = witnessed_both(ledger, stripped, tmp_path, key, node=node.url)
            assert report.ok, before  # without the registry proof: the node's word, as before
            _, library, result = witnessed_both(ledger, forged, tmp_path, key, node=node.url)
    court = court_checks(result)
    assert {n for n, (ok, _) in library.items() if not ok} == {"department_key", "department_history"}, library
    for name in ("department_key", "department_history"):
        assert PROVEN in library[name][1] and PROVEN in court[name][1], (library[name], court[name])
    for detail in (library["department_key"][1], court["department_key"][1]):
        assert "status periods" in detail and "do not trust this node" in detail, detail


# -- a forger editing the section, and older bundles ----------------------------------------------------------------


def test_an_edited_or_stripped_registry_proof_in_a_decision_bundle(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: a forger editing the bundle, or whoever hands it over stripping the section (a bundle written before
    it). Another department's registry proof in its place, or a trie node altered: both fail ``witnessed`` naming the
    registry proof. Stripped: both pass saying "registry: not proven", report ``state_proof`` "partial" and end
    "VERIFIED, without a proof of the registry: the deciding department's ..."; under ``--require-state-proof`` both
    fail ``witnessed``."""
    case_id = anchored_case(ledger, fresh_department)
    for trusted, _ in trusted_witness(ledger, tmp_path):
        key = trusted
        with mining_paused(ledger):
            bundle = witnessed_decision_bundle(ledger, fresh_department, case_id)
            cp = Checkpoint.parse(parse_note(bundle["witness"]["checkpoint"]).text)
            header = bundle["witness"]["state"]["block"]
            other = registry_section(ledger.chain, ledger.settings.data_dir, cp, "MKT", header)
    assert other is not None

    def another(b: dict[str, Any]) -> None:
        b["witness"]["state"]["registry"] = other

    def altered(b: dict[str, Any]) -> None:
        nodes = b["witness"]["state"]["registry"]["nodes"]
        nodes[-1] = nodes[-1][:-2] + ("00" if nodes[-1][-2:] != "00" else "01")

    for edit in (another, altered):
        changed = copy.deepcopy(bundle)
        edit(changed)
        _, library, result = witnessed_both(ledger, changed, tmp_path, key)
        assert not library["witnessed"][0], (edit.__name__, library)
        for detail in (library["witnessed"][1], court_checks(result)["witnessed"][1]):
            assert PROVEN in detail and "the deciding department's" in detail, (edit.__name__, detail)

    stripped = copy.deepcopy(bundle)
    del stripped["witness"]["state"]["registry"]
    report, library, result = witnessed_both(ledger, stripped, tmp_path, key)
    assert report.ok and result["verified"], (library, result["checks"])
    for detail in (library["witnessed"][1], court_checks(result)["witnessed"][1]):
        assert "log batch: " in detail and "registry: not proven" in detail, detail
    for name in ("department_key", "department_history"):
        assert PROVEN not in library[name][1], library[name]
    assert report.state_proof == result["state_proof"] == "partial"
    lines = (
        verdict_line(report),
        COURT.verdict_line([(c["name"], c["result"], c["detail"]) for c in result["checks"]]),
    )
    assert lines[0] == lines[1] and lines[0].startswith(
        "VERIFIED, without a proof of the registry: the deciding department's"
    ), lines
    report, library, result = witnessed_both(ledger, stripped, tmp_path, key, "--require-state-proof")
    assert {n for n, (ok, _) in library.items() if not ok} == {"witnessed"}, library
    for detail in (library["witnessed"][1], court_checks(result)["witnessed"][1]):
        assert "registry: not proven" in detail and "one is required" in detail, detail


def _without_items(bundle: dict[str, Any], dept: bytes, *, keep_length: bool = False) -> dict[str, Any]:
    """``bundle`` with its registry proof's storage proofs of the department's service item periods left out (as a
    bundle written before they were carried), or (``keep_length``) only its last item period's words."""
    changed = copy.deepcopy(bundle)
    section = changed["witness"]["state"]["registry"]
    items = registryslots.registry_layout().items
    length = items.length_slot(dept)
    words = [int(e["key"], 16) for a in section["proofs"] for e in a["storageProof"]]
    periods = [w for w in words if w != length and w in set(items.slots(dept, 256))]
    dropped = set(periods[-items.words :]) if keep_length else {length, *periods}
    assert dropped and dropped <= set(words), (dropped, words)
    for answer in section["proofs"]:
        answer["storageProof"] = [e for e in answer["storageProof"] if int(e["key"], 16) not in dropped]
    section["proofs"] = [a for a in section["proofs"] if a["storageProof"]]
    return changed


def test_a_decision_bundles_registry_proof_without_its_service_items_is_partial_in_both(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: whoever hands the court a bundle written before the registry proof carried the deciding
    department's service item periods (or stripping them from one). Its keys, statuses and types are still proven
    (``department_key`` names the proof); both verifiers say "service items: not proven", report ``state_proof``
    "partial", and under ``--require-state-proof`` fail ``witnessed`` alone. A proof keeping the items' length but
    cut of a period's words is an altered proof: both fail ``witnessed`` naming it."""
    case_id = anchored_case(ledger, fresh_department)
    dept = department_id_bytes(fresh_department)
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = witnessed_decision_bundle(ledger, fresh_department, case_id)
        older = _without_items(bundle, dept)
        report, library, result = witnessed_both(ledger, older, tmp_path, key)
        court = court_checks(result)
        assert report.ok and result["verified"], (library, court)
        for detail in (library["witnessed"][1], court["witnessed"][1]):
            assert "registry: 1 key, 1 status" in detail and "service items: not proven" in detail, detail
        assert PROVEN in library["department_key"][1] and PROVEN in court["department_key"][1], library
        assert PROVEN not in library["service_item_held"][1], library["service_item_held"]
        assert report.state_proof == result["state_proof"] == "partial"
        # the last line says so too, in both (a passing check's detail was the only place it showed)
        verdicts = {
            verdict_line(report),
            COURT.verdict_line([(c["name"], c["result"], c["detail"]) for c in result["checks"]]),
        }
        assert verdicts == {VERIFIED_WITHOUT_ITEMS_PROOF}, verdicts
        report, library, result = witnessed_both(ledger, older, tmp_path, key, "--require-state-proof")
        assert {n for n, (ok, _) in library.items() if not ok} == {"witnessed"}, library
        for detail in (library["witnessed"][1], court_checks(result)["witnessed"][1]):
            assert "service items: not proven" in detail and "is required (--require-state-proof)" in detail, detail

        cut = _without_items(bundle, dept, keep_length=True)
        _, library, result = witnessed_both(ledger, cut, tmp_path, key)
        assert not library["witnessed"][0], library
        for detail in (library["witnessed"][1], court_checks(result)["witnessed"][1]):
            assert PROVEN in detail and "holds no proof of storage slot" in detail, detail
