"""Red team round 84: the chain's operator, a forger and a court's expert against the state proofs and the two
verifiers' agreement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.client import Ledger
from ledger.services import evidence, status

from .conftest import PASSPHRASE, make_records
from .evidence_support import issue
from .foundation_support import reanchored
from .lying_node_support import HELD_UNDER, ZERO_WORD, status_by_both
from .witness_support import trusted_witness


@pytest.fixture()
def passphrases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")


@pytest.mark.parametrize("build", ["herd", "certificate cut"])
@pytest.mark.parametrize("change", ["revoked", "suspended", "revoked under another root"])
def test_a_change_the_trail_path_proves_is_not_undone_by_a_node_answering_never_changed(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None, build: str, change: str
) -> None:
    """Adversary: the chain's operator (its node answering ``statusOf`` "valid, never changed" and ``endedUnder``
    zero), and for ``certificate cut`` a forger deleting ``witness.state.certificate``. A bundle on the trail path (a
    herd build carries no certificate proof; a direct build's cut off) proves the issuer's status trail at the
    cosigned block, and the node's events up to it hash to it and hold the change, so ``witnessed`` passed as
    proven; but ``status`` ("now") was the node's word alone on that path: the bundle of a revoked certificate was
    VERIFIED under ``--status-lookup direct`` in both verifiers (round 82 had closed it for the certificate path
    only). The trail path's proven events now hold ``status`` as the proven slots do."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    verified = target
    if change == "revoked under another root":
        verified = reanchored(ledger, fresh_department, target)
        status.revoke(ledger, target["digest"], "fraud", department=fresh_department)
    elif change == "revoked":
        status.revoke(ledger, target["digest"], "fraud", department=fresh_department)
    else:
        status.suspend(ledger, target["digest"], "under-investigation", department=fresh_department)
    for key, _ in trusted_witness(ledger, tmp_path):
        lookup = "herd" if build == "herd" else "direct"
        bundle = evidence.certificate_bundle(ledger, verified, status_lookup=lookup)
        state = bundle["witness"]["state"]
        if build == "certificate cut":
            del state["certificate"]
        assert "certificate" not in state and "proof" in state, sorted(state)
        path = tmp_path / "bundle.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        # an end under the first root is named by that root (round 82's words)
        word = target["anchor"]["root"].lower() if change.endswith("another root") else change
        for lying in (False, True):
            report, court, code = status_by_both(ledger, path, key, lying)
            library = report.check("status")
            assert not library.ok and word in library.detail.lower(), (lying, library)
            assert court["status"][0] == "FAIL" and word in court["status"][1].lower(), (lying, court["status"])
            assert library.detail == court["status"][1], (library.detail, court["status"])
            assert report.check("witnessed").ok and court["witnessed"][0] == "PASS", (lying, court["witnessed"])
            assert code == 1 and not report.ok


def test_a_stale_checkpoints_certificate_proof_is_taken_by_neither_verifier(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: a forger handing the court a bundle with the witness section of an older bundle of the same
    certificate (its checkpoint below the bundle's ``as_of``), and the chain's operator answering ``statusOf`` "valid,
    never changed". ``witnessed`` fails in both verifiers (a stale checkpoint), but the library still took the old
    section's certificate proof for ``status`` and the anchoring (its check of the checkpoint left out the coverage
    the court's makes), so the two verifiers disagreed on ``status``. Neither takes a proof of a checkpoint that does
    not cover the bundle's facts now; the verdicts and every check agree."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.suspend(ledger, target["digest"], "under-investigation", department=fresh_department)
    for key, _ in trusted_witness(ledger, tmp_path):
        older = evidence.certificate_bundle(ledger, target, status_lookup="direct")
        status.reinstate(ledger, target["digest"], "grounds-resolved", department=fresh_department)
        status.suspend(ledger, target["digest"], "under-investigation", department=fresh_department)
        bundle = evidence.certificate_bundle(ledger, target, status_lookup="direct")
        assert "certificate" in older["witness"]["state"] and "certificate" in bundle["witness"]["state"]
        assert older["witness"]["checkpoint"] != bundle["witness"]["checkpoint"]
        bundle["witness"] = older["witness"]
        path = tmp_path / "stale.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        for lying in (False, True):
            report, court, code = status_by_both(ledger, path, key, lying)
            library = {c.name: "SKIP" if c.skipped else "PASS" if c.ok else "FAIL" for c in report.checks}
            theirs = {name: result for name, (result, _) in court.items()}
            assert library == theirs, (lying, {k: (v, theirs.get(k)) for k, v in library.items() if v != theirs.get(k)})
            assert "stale" in report.check("witnessed").detail and "stale" in court["witnessed"][1]
            assert code == 1 and not report.ok


@pytest.mark.parametrize("build", ["direct", "herd"])
@pytest.mark.parametrize("reinstated", [False, True])
def test_a_suspension_through_another_root_the_bundle_proves_is_not_hidden_by_the_node(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None, build: str, reinstated: bool
) -> None:
    """Adversary: the chain's operator, its node answering ``heldUnder`` with zero. The department anchored the
    certificate again and suspended it through its first root (every suspension of the digest is made through that
    root, and holds under every root of it: round 46); the copy's witnessed bundle proves it (the ``held`` slot
    naming that root, or on the trail path the suspension among the proven events), and ``witnessed`` even named it
    ("first suspended under the issuer's batch ..."), but ``status`` took the node's ``heldUnder`` and passed "valid
    now": the copy of a suspended certificate was VERIFIED in both verifiers. ``held`` is set once and never cleared,
    so a proven one is read whatever ``heldUnder`` answers; a reinstatement through it is still believed."""
    (first,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    copy_ = reanchored(ledger, fresh_department, first)
    status.suspend(ledger, first["digest"], "under-investigation", department=fresh_department)
    if reinstated:
        status.reinstate(ledger, first["digest"], "grounds-resolved", department=fresh_department)
    held = first["anchor"]["root"].lower()
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = evidence.certificate_bundle(ledger, copy_, status_lookup=build)
        assert ("certificate" in bundle["witness"]["state"]) == (build == "direct"), sorted(bundle["witness"]["state"])
        path = tmp_path / "copy.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        for lie in (False, True):
            report, court, code = status_by_both(ledger, path, key, lie, lies={HELD_UNDER: ZERO_WORD})
            library = report.check("status")
            if reinstated:
                assert library.ok and court["status"][0] == "PASS", (lie, library, court["status"])
                assert code == 0 and report.ok, (lie, report.to_json())
                continue
            assert not library.ok and "suspended" in library.detail and held in library.detail.lower(), (lie, library)
            assert court["status"] == ("FAIL", library.detail), (lie, court["status"], library.detail)
            assert code == 1 and not report.ok
