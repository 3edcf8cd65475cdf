"""Red team round 82: the chain's operator and a hostile department against this session's proofs (the certificate's
own slots, ev1/ev2; the issuer's registry history, reg1).

1. The chain's operator hiding an end through another root. A digest its department anchored again is the same
   certificate, and an end (revocation, supersession) under one of its roots holds under every other
   (``endedUnder``, red team rounds 42 and 46). A witnessed bundle built under the direct lookup proves the
   certificate's ``ended`` slot at the cosigned block; both verifiers only named it in ``witnessed``'s detail
   ("anchored again") and judged "status now" from the node's ``endedUnder`` answer, which the operator answers
   with zero: a certificate revoked through its other root was reported valid, the proof saying otherwise in the
   same bundle. An end is never undone, so a proven end elsewhere fails ``status`` whatever the node says.
2. A hostile department superseding more certificates into one of its own than a proof of its slots carries: its
   bundles take the trail path, as designed, but the build took a proof left out for its length for one the node had
   dropped, and collected a fresh checkpoint and asked the node again, three times.
3. The chain's operator answering ``statusOf`` "valid" for a certificate whose bundle proves its revocation (or
   "valid, never changed" for one whose bundle proves its suspension): "status now" was the node's word alone, so a
   revoked certificate's bundle verified. A proven end fails ``status``; so does an answer older than the last
   proven change (a history only grows; a reinstatement after the checkpoint is still believed).

And a guard that held: a department superseding one of its certificates into its own copy of another department's
certificate is named as a predecessor by no reader of the other's certificate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.onchain import anchorslots
from ledger.onchain.chain import Chain, connect
from ledger.onchain.ids import department_id_bytes
from ledger.onchain.node import BLOCK_TIME
from ledger.services import evidence, status
from ledger.services.verify import ChainView, verify_certificate

from .authority_support import supersede_call
from .cli_support import rpc
from .conftest import PASSPHRASE, make_records
from .evidence_support import issue, rpc_url
from .foundation_support import reanchored
from .lying_node_support import status_by_both
from .rpc_proxy import RpcProxy
from .verifiers_support import witnessed_by_both_many
from .witness_support import trusted_witness


@pytest.fixture()
def passphrases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")


def test_an_end_through_another_root_proven_in_the_bundle_fails_status_whatever_the_node_answers(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: the chain's operator (a node answering ``endedUnder`` with zero) and whoever hands the court the
    copy's bundle. The department anchored the certificate again and revoked it through its first root; the copy's
    direct-lookup bundle proves ``ended`` = that root at the cosigned block. Both verifiers fail ``status`` naming the
    root, under the honest node and under the lying one (before: passed "valid now" under the lying one)."""
    (document,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    again = reanchored(ledger, fresh_department, document)
    status.revoke(ledger, document["digest"], "fraud", department=fresh_department)
    first_root = document["anchor"]["root"].lower()
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = evidence.certificate_bundle(ledger, again, status_lookup="direct")
        assert "certificate" in bundle["witness"]["state"], sorted(bundle["witness"]["state"])
        assert bundle["status"]["status"] == "valid"  # as of: under the copy's own root nothing happened
        path = tmp_path / "copy.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        for lying in (False, True):
            report, court, code = status_by_both(ledger, path, key, lying)
            library = report.check("status")
            assert not library.ok and first_root in library.detail.lower(), (lying, library)
            assert court["status"][0] == "FAIL" and first_root in court["status"][1].lower(), (lying, court["status"])
            assert report.check("witnessed").ok and court["witnessed"][0] == "PASS", (lying, report.to_json(), court)
            assert code == 1


def test_a_revocation_proven_in_the_bundle_fails_status_whatever_the_node_answers(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: the chain's operator, its node answering ``statusOf`` "valid" and ``endedUnder`` zero for a
    certificate revoked before the cosigned block, whose direct-lookup bundle states the revocation (as of) and
    proves it. ``status`` ("now") was the node's word: it passed "valid now", so the bundle of a revoked certificate
    verified. A proven end fails it in both verifiers."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.revoke(ledger, target["digest"], "fraud", department=fresh_department)
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = evidence.certificate_bundle(ledger, target, status_lookup="direct")
        assert "certificate" in bundle["witness"]["state"] and bundle["status"]["status"] == "revoked"
        path = tmp_path / "revoked.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        for lying in (False, True):
            report, court, code = status_by_both(ledger, path, key, lying)
            library = report.check("status")
            assert not library.ok and "revoked" in library.detail, (lying, library)
            assert court["status"][0] == "FAIL" and "revoked" in court["status"][1], (lying, court["status"])
            assert code == 1 and not report.ok


def test_a_department_piling_predecessors_past_the_proofs_budget_gets_the_trail_path_asked_once(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: a hostile department (its own key, the contract's ``supersede``) making one of its certificates
    replace more certificates than a proof of its slots carries (``anchorslots.MAX_HISTORY``), to force its bundles
    off the proven path. The build asks the node for the certificate's slots once, finds the proven count past the
    budget and takes the trail path (the certificate proof left out), which both verifiers check and pass; it does not
    collect fresh checkpoints for a proof that will never fit (before: three tries, the slots asked three times)."""
    over = anchorslots.MAX_HISTORY + 1
    target, *olds = issue(ledger, tmp_path, fresh_department, make_records(over + 1))
    for old in olds:
        status.supersede(ledger, old["digest"], target["digest"], fresh_department)
    slots = anchorslots.certificate_slots(
        department_id_bytes(fresh_department),
        bytes.fromhex(target["anchor"]["root"][2:]),
        bytes.fromhex(target["digest"][2:]),
    )
    wanted = f"{slots.predecessors:064x}"
    proven: list[Any] = []  # the node's proofs of the certificate's slots (an error: a block's state dropped)

    def record(method: str, params: Any, answer: Any) -> Any:
        if method == "eth_getProof" and wanted in json.dumps(params).lower() and "result" in answer:
            proven.append(params)
        return answer

    for key, _ in trusted_witness(ledger, tmp_path):
        real = ledger.chain
        # no block mined while the bundle is built: a checkpoint whose state the node dropped is rightly tried
        # afresh, and the count below is of the tries for a proof the node gave
        rpc(ledger, "evm_setIntervalMining", 0)
        with RpcProxy(rpc_url(ledger), rewrite=record) as node:
            ledger.chain = Chain(connect(node.url), real.deployment, gas_price=0, artifacts=real.artifacts)
            try:
                bundle = evidence.certificate_bundle(ledger, target, status_lookup="direct")
            finally:
                ledger.chain = real
                rpc(ledger, "evm_setIntervalMining", BLOCK_TIME)
        state = bundle["witness"]["state"]
        assert "proof" in state and "certificate" not in state, sorted(state)
        assert len(proven) == 1, f"the certificate's slots were proven {len(proven)} times"
        ((ok, detail), (result, court)) = witnessed_by_both_many(ledger, [bundle], tmp_path, key)[0]
        assert ok and result == "PASS", (detail, court)
        assert (
            "the node's events up to it hash to them" in detail and "the node's events up to it hash to them" in court
        )


def test_a_department_superseding_into_its_copy_of_anothers_certificate_is_named_by_no_reader_of_it(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: a hostile department (its own key, the contract directly). It anchors another department's
    certificate digest in a batch of its own and supersedes one of its certificates into that copy, so the chain
    holds "this digest replaces mine" under the hostile department. Under the issuer's own name the certificate
    replaces nothing: no lookup of the library names the hostile certificate as its predecessor, its direct-lookup
    bundle proves an empty predecessors list, and both verifiers pass it without naming it."""
    (victim,) = issue(ledger, tmp_path, "MKT", make_records(1))
    (mine,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    copy_of_victim = reanchored(ledger, fresh_department, victim)
    ledger.chain.transact(ledger.department_account(fresh_department), supersede_call(ledger, mine, copy_of_victim))
    planted = mine["digest"].lower()
    for lookup in ("herd", "direct"):
        view = ChainView(ledger.chain, ledger.settings.confirmations, status_lookup=lookup)
        report = verify_certificate(victim, view)
        assert report.ok, (lookup, report.to_json())
        assert planted not in json.dumps(report.to_json()).lower(), (lookup, report.to_json())
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = evidence.certificate_bundle(ledger, victim, status_lookup="direct")
        assert "certificate" in bundle["witness"]["state"], sorted(bundle["witness"]["state"])
        assert planted not in json.dumps(bundle).lower()
        ((ok, detail), (result, court)) = witnessed_by_both_many(ledger, [bundle], tmp_path, key)[0]
        assert ok and result == "PASS", (detail, court)
        assert planted not in detail.lower() and planted not in court.lower(), (detail, court)


def test_a_suspension_proven_in_the_bundle_is_not_undone_by_a_node_answering_never_changed(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: the chain's operator, its node answering ``statusOf`` "valid, never changed" for a certificate
    suspended before the cosigned block, whose direct-lookup bundle proves the suspension. A reinstatement after the
    checkpoint would be genuine, so the proof does not decide "now"; but a history only grows, and "never changed"
    contradicts the proven change: both verifiers fail ``status`` (before: "valid now")."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.suspend(ledger, target["digest"], "under-investigation", department=fresh_department)
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = evidence.certificate_bundle(ledger, target, status_lookup="direct")
        assert "certificate" in bundle["witness"]["state"] and bundle["status"]["status"] == "suspended"
        path = tmp_path / "suspended.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        for lying in (False, True):
            report, court, code = status_by_both(ledger, path, key, lying)
            library = report.check("status")
            assert not library.ok and court["status"][0] == "FAIL", (lying, library, court["status"])
            assert "suspended" in library.detail and "suspended" in court["status"][1], (library, court["status"])
            assert code == 1 and not report.ok
