"""Red team, round 10b: what ``ledger reconcile`` and ``ledger replay`` believe of the database's (and another
department's) word.

Holes (each test failed before its fix, in ``ledger/services/reconcile.py`` unless named):

- an insider marks a confirmed batch ``held`` (or ``prepared``): reconcile listed it as pending and skipped its
  rows, so any edit of them (a revoked certificate set back to valid, a row deleted) reported no divergence (and a
  ``held`` batch is never sent nor revocable: the label itself is now reported, ``batch_state_altered``);
- an insider destroys a certificate's sealed body and writes an ``erasures`` entry for it to the database only:
  reconcile took the unanchored entry for a lawful erasure (``ok``, "contents destroyed as the erasures log
  records"), where replay and digest-only verification believe only an entry the chain attests;
- a hostile department logs, and anchors in its own ``erasures`` log, an "erasure" of another department's
  certificate: reconcile told the issuer its certificate's erasure was incomplete and to run ``ledger erase`` on it
  (shredding a live certificate on a false report), and once an insider destroyed the body it reported nothing;
- an insider moves an erased, revoked certificate's row to another department, sets it valid and deletes its
  status-change row: with no body left to compare the issuer column with, reconcile read its statuses under the
  row's own issuer and reported nothing;
- the same hostile entry, naming a licence an honest approval cited and its issuer lawfully erased: replay kept one
  department per erased digest (the first by code), and reported the honest decision's facts as made up
  (``ledger/services/replay.py``, ``erasure.proven_by``);
- a decision's made-up fact (a cited "licence" recorded as a "business-licence") hidden by erasing the cited
  certificate and retyping its row: replay took an erased citation's type from the column, and reconcile never
  compared an erased row's type with anything (``replay.py`` and ``reconcile.py``: the attested erasure entry's
  type).
"""

from __future__ import annotations

import io
import itertools
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from ledger.client import Ledger
from ledger.onchain.chain import ROLE_ISSUER, ROLE_VERIFIER
from ledger.services import erasure, issuance, logchain, status
from ledger.services.departments import Council
from ledger.services.reconcile import reconcile
from ledger.storage.store import Batch, BatchState, Certificate, StatusChange
from ledger.storage.vault import ERASED

from .conftest import make_records, write_jsonl

_codes = itertools.count(1)


def _issue(ledger: Ledger, tmp: Path, department: str, n: int, tag: str) -> list[dict[str, Any]]:
    out = io.StringIO()
    path = write_jsonl(tmp / f"{department}-{tag}.jsonl", make_records(n))
    issuance.issue_file(ledger, path, department, batch_size=n, out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _row(ledger: Ledger, digest: str) -> tuple[str, bytes, str]:
    """(batch root, sealed body, status) of a stored certificate."""
    with ledger.engine.connect() as conn:
        root, sealed, state = conn.execute(
            select(Certificate.batch_root, Certificate.sealed, Certificate.status).where(  # type: ignore[call-overload]
                Certificate.digest == digest
            )
        ).one()
    return root, bytes(sealed), state


def _findings(ledger: Ledger, *departments: str) -> set[tuple[str, str | None]]:
    return {(d.kind, d.certificate) for d in reconcile(ledger, departments=list(departments)).divergences}


# --------------------------------------------------------------------------- a batch hidden as "pending"


@pytest.mark.parametrize("state", [BatchState.HELD, BatchState.PREPARED])
def test_a_confirmed_batch_relabelled_pending_does_not_hide_its_rows_from_reconcile(
    ledger: Ledger, tmp_path: Path, fresh_department: str, state: str
) -> None:
    """The insider undoes a revocation in the database and relabels the batch as not yet anchored: the chain holds
    its anchor, so its rows are compared with the chain all the same."""
    revoked, _other = _issue(ledger, tmp_path, fresh_department, 2, f"pending-{state}")
    digest = revoked["digest"]
    status.revoke(ledger, digest, "fraud")
    root, _sealed, recorded = _row(ledger, digest)
    assert recorded == "revoked"
    assert reconcile(ledger, departments=[fresh_department]).ok
    try:
        with ledger.engine.begin() as conn:
            conn.execute(update(Certificate).where(Certificate.digest == digest).values(status="valid"))  # type: ignore[arg-type]
            conn.execute(update(Batch).where(Batch.root == root).values(state=state))  # type: ignore[arg-type]
        report = reconcile(ledger, departments=[fresh_department])
    finally:  # the shared store: the row and the batch as they were, nothing left pending
        with ledger.engine.begin() as conn:
            conn.execute(update(Certificate).where(Certificate.digest == digest).values(status="revoked"))  # type: ignore[arg-type]
            conn.execute(update(Batch).where(Batch.root == root).values(state=BatchState.CONFIRMED))  # type: ignore[arg-type]
    found = {(d.kind, d.certificate) for d in report.divergences}
    assert ("status_mismatch", digest) in found, report.text()
    assert not report.ok
    if state == BatchState.HELD:  # nothing sends a held batch: an anchor of one is the state edited
        assert ("batch_state_altered", root) in {(d.kind, d.root) for d in report.divergences}, report.text()
    assert reconcile(ledger, departments=[fresh_department]).ok


# --------------------------------------------------------------------------- erasures the chain does not attest


def test_a_body_destroyed_behind_an_erasure_entry_only_the_database_holds_is_reported(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """An unanchored ``erasures`` entry is the database's word, as a deletion is: replay and digest-only
    verification do not believe it, and reconcile no longer says the contents were lawfully destroyed."""
    (doc,) = _issue(ledger, tmp_path, fresh_department, 1, "shred")
    digest = doc["digest"]
    _root, sealed, _status = _row(ledger, digest)
    body = {"certificate": digest, "basis": "consent-withdrawn", "by": "insider", "at": "2026-01-01T00:00:00Z"}
    entry = logchain.append(ledger, erasure.LOG, fresh_department, body)  # written to the database, never anchored
    try:
        with ledger.engine.begin() as conn:
            conn.execute(update(Certificate).where(Certificate.digest == digest).values(sealed=ERASED))  # type: ignore[arg-type]
        report = reconcile(ledger, departments=[fresh_department])
        assert digest not in erasure.proven(ledger, fresh_department)  # what replay and verify_digest believe
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(update(Certificate).where(Certificate.digest == digest).values(sealed=sealed))  # type: ignore[arg-type]
            conn.execute(
                delete(logchain.LogEntry).where(
                    logchain.LogEntry.log == erasure.LOG,  # type: ignore[arg-type]
                    logchain.LogEntry.department_id == fresh_department,  # type: ignore[arg-type]
                    logchain.LogEntry.seq == entry.seq,  # type: ignore[arg-type]
                )
            )
    assert not report.ok and report.erased == 0, report.text()
    assert [d.certificate for d in report.divergences] == [digest], report.text()
    assert reconcile(ledger, departments=[fresh_department]).ok


def test_another_departments_erasure_entry_is_no_erasure_of_the_issuers_certificate(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """A hostile department anchors, in its own ``erasures`` log, an entry naming another department's
    certificate. Reconcile must not tell the issuer its erasure is incomplete (advice that shreds a live
    certificate), nor take it for the lawful erasure of a body an insider then destroys."""
    (doc,) = _issue(ledger, tmp_path, fresh_department, 1, "foreign-erasure")
    digest = doc["digest"]
    hostile = f"R10B{os.getpid() % 1000}-{next(_codes)}"
    Council(ledger).register(hostile, f"Hostile bureau {hostile}", ROLE_ISSUER | ROLE_VERIFIER, types=("permit",))
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    logchain.append(
        ledger, erasure.LOG, hostile, {"certificate": digest, "basis": "court-order", "by": "hostile", "at": now}
    )
    assert logchain.anchor_pending(ledger, erasure.LOG, hostile)  # its own key, its own log: the chain accepts it
    assert erasure.proven(ledger, hostile) == {digest: hostile}

    found = _findings(ledger, fresh_department, hostile)
    assert ("erasure_incomplete", digest) not in found, "reconcile asks the issuer to shred a live certificate"
    assert found == set(), found

    _root, sealed, _status = _row(ledger, digest)
    try:
        with ledger.engine.begin() as conn:
            conn.execute(update(Certificate).where(Certificate.digest == digest).values(sealed=ERASED))  # type: ignore[arg-type]
        shredded = _findings(ledger, fresh_department, hostile)
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(update(Certificate).where(Certificate.digest == digest).values(sealed=sealed))  # type: ignore[arg-type]
    assert ("erased_unrecorded", digest) in shredded, shredded


# --------------------------------------------------------------------------- an erased row moved to another issuer


def test_an_erased_revoked_certificate_moved_to_another_issuer_and_set_valid_is_reported(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Once a body is erased, no field is left to compare the row's issuer column with. The insider moves a revoked,
    erased certificate's row to another department (whose status events for it are none), sets it valid and
    deletes its status-change row: the store now calls it another issuer's valid certificate. Its batch was anchored
    by its real issuer, whose status events reconcile must read it by."""
    (doc,) = _issue(ledger, tmp_path, fresh_department, 1, "moved-erased")
    digest = doc["digest"]
    status.revoke(ledger, digest, "fraud")
    erasure.erase(ledger, digest, basis="consent-withdrawn", by="officer-r10b")
    assert reconcile(ledger, departments=[fresh_department]).ok
    with ledger.engine.connect() as conn:
        changes = [
            dict(r._mapping)
            for r in conn.execute(select(StatusChange).where(StatusChange.digest == digest))  # type: ignore[arg-type]
        ]
    assert len(changes) == 1
    try:
        with ledger.engine.begin() as conn:
            conn.execute(
                update(Certificate)
                .where(Certificate.digest == digest)  # type: ignore[arg-type]
                .values(department_id="MKT", status="valid")
            )
            conn.execute(delete(StatusChange).where(StatusChange.digest == digest))  # type: ignore[arg-type]
        report = reconcile(ledger, departments=[fresh_department])
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(
                update(Certificate)
                .where(Certificate.digest == digest)  # type: ignore[arg-type]
                .values(department_id=fresh_department, status="revoked")
            )
            conn.execute(insert(StatusChange), changes)
    assert {d.certificate for d in report.divergences} == {digest}, report.text()
    assert reconcile(ledger, departments=[fresh_department]).ok


# --------------------------------------------------------------------------- replay: another department's erasure entry


def test_another_departments_erasure_entry_does_not_make_an_honest_decision_look_tampered(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """The false alarm as a weapon (round 3's adversary, now a hostile department): a licence cited in an honest
    approval is lawfully erased by its issuer; a department whose code sorts first logs and anchors, in its own
    ``erasures`` log, an entry naming the same digest. Replay took one department per erased digest (the first),
    found it was not the issuer, and reported the honest decision's facts as made up."""
    from ledger.services import decisions
    from ledger.services.replay import replay

    from .decision_support import application, unique_rule_set

    rules = unique_rule_set(f"r10b-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    (licence,) = _issue(ledger, tmp_path, "MKT", 1, "r10b-cited")
    app = application(f"C-R10B-{fresh_department}", licence["digest"])
    decision = decisions.decide(
        ledger,
        fresh_department,
        app["case_id"],
        app["service_item"],
        app,
        rules,
        applicant_ref=licence["fields"]["subject.credit_code"],
    )
    assert decision.body["outcome"] == "approve"
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    erasure.erase(ledger, licence["digest"], basis="consent-withdrawn", by="officer-r10b")
    assert replay(ledger, department=fresh_department).ok

    hostile = f"A10B{os.getpid() % 1000}-{next(_codes)}"  # sorts before MKT
    Council(ledger).register(hostile, f"Hostile bureau {hostile}", ROLE_ISSUER | ROLE_VERIFIER, types=("permit",))
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    logchain.append(
        ledger,
        erasure.LOG,
        hostile,
        {"certificate": licence["digest"], "basis": "court-order", "by": "hostile", "at": now},
    )
    assert logchain.anchor_pending(ledger, erasure.LOG, hostile)
    after = replay(ledger, department=fresh_department)
    assert after.ok, "another department's erasure entry made an honest decision look tampered: " + after.summary()


# --------------------------------------------------------------------------- replay: an erased citation's type


def test_made_up_facts_stay_reported_after_the_cited_certificate_is_erased_and_its_row_retyped(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """A department records an approval on made-up facts: the cited certificate is a "licence", the record says
    "business-licence"; replay reports it. The cited certificate is then lawfully erased (its anchored erasure
    entry records its type, "licence") and the insider retypes the erased row. Replay took an erased citation's
    type from that column, so the made-up fact now checked out and the forged approval replayed clean."""
    import copy

    from ledger.services import decisions
    from ledger.services.replay import replay

    from .decision_support import application, unique_rule_set

    rules = unique_rule_set(f"r10b-type-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    out = io.StringIO()
    path = write_jsonl(tmp_path / "r10b-other-type.jsonl", make_records(1, cert_type="licence"))
    issuance.issue_file(ledger, path, "MKT", out=out)
    licence = json.loads(out.getvalue())
    app = application(f"C-R10B-T-{fresh_department}", licence["digest"])
    honest = decisions.decide(
        ledger,
        fresh_department,
        app["case_id"],
        app["service_item"],
        app,
        rules,
        applicant_ref=licence["fields"]["subject.credit_code"],
    )
    assert honest.body["outcome"] == "refer" and honest.body["certificates"][0]["type"] == "licence"
    forged = copy.deepcopy(honest.body)
    forged["case_id"] = f"C-R10B-FORGED-{fresh_department}"
    forged["certificates"][0]["type"] = "business-licence"
    forged.update(
        outcome="approve",
        reasons=["TYPICAL_FEATURES_MATCH"],
        fired=["typical-features"],
        legal_basis=rules.legal_basis(("TYPICAL_FEATURES_MATCH",)),
    )
    seq = logchain.append(ledger, logchain.LOG_DECISIONS, fresh_department, forged).seq
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)

    def flagged() -> dict[int | None, set[str]]:
        found: dict[int | None, set[str]] = {}
        for d in replay(ledger, department=fresh_department).discrepancies:
            found.setdefault(d.seq, set()).add(d.check)
        return found

    assert "certificate_facts" in flagged().get(seq, set())
    erasure.erase(ledger, licence["digest"], basis="consent-withdrawn", by="officer-r10b")
    assert "certificate_facts" in flagged().get(seq, set())  # what erasure left still tells the truth
    try:
        with ledger.engine.begin() as conn:
            conn.execute(
                update(Certificate)
                .where(Certificate.digest == licence["digest"])  # type: ignore[arg-type]
                .values(cert_type="business-licence")
            )
        after = flagged()
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(
                update(Certificate)
                .where(Certificate.digest == licence["digest"])  # type: ignore[arg-type]
                .values(cert_type="licence")
            )
    assert "certificate_facts" in after.get(seq, set()), after
    # the retyped row is itself what erasure left not checking out: the honest decision citing it is reported too
    assert "certificate_facts" in after.get(honest.seq, set()), after


def test_an_erased_row_retyped_is_reported_by_reconcile(ledger: Ledger, tmp_path: Path, fresh_department: str) -> None:
    """The same retyping, seen by reconcile: with the body gone only the attested erasure entry states the type."""
    (doc,) = _issue(ledger, tmp_path, fresh_department, 1, "retyped-erased")
    digest = doc["digest"]
    erasure.erase(ledger, digest, basis="consent-withdrawn", by="officer-r10b")
    assert reconcile(ledger, departments=[fresh_department]).ok
    try:
        with ledger.engine.begin() as conn:
            conn.execute(update(Certificate).where(Certificate.digest == digest).values(cert_type="id-card"))  # type: ignore[arg-type]
        found = _findings(ledger, fresh_department)
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(
                update(Certificate).where(Certificate.digest == digest).values(cert_type=doc["fields"]["type"])  # type: ignore[arg-type]
            )
    assert found == {("row_altered", digest)}, found
    assert reconcile(ledger, departments=[fresh_department]).ok
