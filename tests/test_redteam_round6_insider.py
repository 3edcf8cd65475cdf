"""Round 6: an insider with database access (or a hostile department) passing a deletion off as a lawful erasure.

Replay accepts a cited certificate whose body is gone when an ``erasures`` log records its erasure (the holder's
right to erasure must not make honest decisions look tampered). Until this round it believed any entry of any
department's erasures log the database held: one never anchored, one edited after anchoring, or one a department
logged about another department's certificate. Each attack below shreds a certificate an approval cited and
writes such an entry; replay must report the citation, as it does a deletion with no entry at all.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text, update

from ledger.client import Ledger
from ledger.services import decisions, erasure, issuance, logchain
from ledger.services.replay import replay
from ledger.storage.store import Certificate
from ledger.storage.vault import ERASED

from .conftest import make_records, write_jsonl
from .decision_support import application, unique_rule_set


def _issue(ledger: Ledger, tmp_path: Path, name: str) -> dict[str, Any]:
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / f"{name}.jsonl", make_records(1)), "MKT", out=out)
    return dict(json.loads(out.getvalue()))


def _decided(ledger: Ledger, department: str, licence: dict[str, Any], case: str) -> decisions.Decision:
    rules = unique_rule_set(f"rt6-{department}-{case}")
    decisions.publish_rule_set(ledger, rules, department)
    app = application(case, licence["digest"])
    decision = decisions.decide(
        ledger,
        department,
        app["case_id"],
        app["service_item"],
        app,
        rules,
        applicant_ref=licence["fields"]["subject.credit_code"],
    )
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, department)
    assert replay(ledger, department=department).ok
    return decision


def _shred(ledger: Ledger, digest: str) -> None:
    """What erase does to the store, without going through it."""
    with ledger.engine.begin() as conn:
        conn.execute(update(Certificate).where(Certificate.digest == digest).values(sealed=ERASED))  # type: ignore[arg-type]


def _erasure_body(digest: str) -> dict[str, Any]:
    return {"certificate": digest, "basis": "consent-withdrawn", "by": "insider", "at": "2026-12-03T00:00:00Z"}


@pytest.mark.parametrize("how", ["never_anchored", "another_departments_log", "edited_after_anchoring"])
def test_replay_does_not_take_a_forged_erasure_for_a_lawful_one(
    ledger: Ledger, fresh_department: str, tmp_path: Path, how: str
) -> None:
    licence = _issue(ledger, tmp_path, "cited")
    decision = _decided(ledger, fresh_department, licence, f"C-RT6-{how}")
    digest = licence["digest"]
    if how == "never_anchored":  # the issuer's log, written in the database only
        logchain.append(ledger, erasure.LOG, "MKT", _erasure_body(digest))
    elif how == "another_departments_log":  # the deciding department logs (and anchors) an erasure of MKT's licence
        logchain.append(ledger, erasure.LOG, fresh_department, _erasure_body(digest))
        logchain.anchor_pending(ledger, erasure.LOG, fresh_department)
    else:  # a lawful erasure of another licence, its anchored entry then edited to name the cited one
        other = _issue(ledger, tmp_path, "other")
        done = erasure.erase(ledger, other["digest"], basis="consent-withdrawn", by="officer-rt6")
        assert done["anchored_roots"]
        written = json.dumps(_erasure_body(digest), separators=(",", ":"), sort_keys=True)
        with ledger.engine.begin() as conn:
            conn.execute(
                text("UPDATE logentry SET body=:b WHERE log=:l AND department_id='MKT' AND seq=:s"),
                {"b": written, "l": erasure.LOG, "s": done["seq"]},
            )
    _shred(ledger, digest)
    report = replay(ledger, department=fresh_department)
    assert not report.ok, f"{how}: a deletion passed for a lawful erasure"
    assert decision.seq in {d.seq for d in report.discrepancies}, report.summary()


def test_a_lawful_erasure_still_replays_clean(ledger: Ledger, fresh_department: str, tmp_path: Path) -> None:
    """The control: the issuer's own erasure, anchored, leaves the decision replaying clean."""
    licence = _issue(ledger, tmp_path, "lawful")
    _decided(ledger, fresh_department, licence, "C-RT6-LAWFUL")
    erasure.erase(ledger, licence["digest"], basis="consent-withdrawn", by="officer-rt6")
    report = replay(ledger, department=fresh_department)
    assert report.ok, report.summary()


def test_an_edited_case_index_is_reported_by_replay(ledger: Ledger, fresh_department: str, tmp_path: Path) -> None:
    """A case's decisions are found by an index key kept beside the entry (not a scan of every body). An insider who
    clears or changes it makes the ledger miss that decision, so a retried application would be decided a second
    time: replay compares every stored key with the one the body's case id gives."""
    licence = _issue(ledger, tmp_path, "indexed")
    decision = _decided(ledger, fresh_department, licence, "C-RT6-INDEX")
    assert decisions.find_decision(ledger, fresh_department, "C-RT6-INDEX").seq == decision.seq

    def set_key(value: str | None) -> None:
        with ledger.engine.begin() as conn:
            conn.execute(
                text("UPDATE logentry SET lookup=:k WHERE log='decisions' AND department_id=:d AND seq=:s"),
                {"k": value, "d": fresh_department, "s": decision.seq},
            )

    for edited in (None, logchain.lookup_key("C-OTHER")):
        set_key(edited)
        with pytest.raises(decisions.NotFoundError):
            decisions.find_decision(ledger, fresh_department, "C-RT6-INDEX")
        found = {(d.check, d.seq) for d in replay(ledger, department=fresh_department).discrepancies}
        assert found == {("index_altered", decision.seq)}, found
    set_key(logchain.lookup_key("C-RT6-INDEX"))
    assert replay(ledger, department=fresh_department).ok


def test_an_edited_read_index_is_reported_by_the_access_log_check(ledger: Ledger, fresh_department: str) -> None:
    """A certificate's reads (its issuer's listing, its data subject's, its timeline) are found by an index key kept
    beside each access-log entry, not by reading the whole log. An insider who clears or changes the key of a read
    hides it from those listings: the access log's check compares every stored key with the one the body's
    certificate gives, as replay does for decisions."""
    from datetime import UTC, datetime

    from ledger.services import accesslog

    a, b = "0x" + "a1" * 32, "0x" + "b2" * 32
    at = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    reads = [
        accesslog.record(
            ledger,
            certificate=cert,
            issuer=fresh_department,
            action="read",
            outcome="served",
            actor="VERIFIER",
            signer=None,
            at=at,
        ).seq
        for cert in (a, b, a, a)
    ]
    listed = [r["seq"] for r in accesslog.accesses(ledger, a, fresh_department)]
    scanned = [r["seq"] for r in accesslog.entries(ledger, department=fresh_department) if r.get("certificate") == a]
    assert listed == scanned == [reads[0], reads[2], reads[3]]
    assert accesslog.check(ledger, fresh_department) == []

    def set_key(seq: int, value: str | None) -> None:
        with ledger.engine.begin() as conn:
            conn.execute(
                text("UPDATE logentry SET lookup=:k WHERE log='access' AND department_id=:d AND seq=:s"),
                {"k": value, "d": fresh_department, "s": seq},
            )

    set_key(reads[2], None)
    set_key(reads[3], logchain.lookup_key(b))
    assert [r["seq"] for r in accesslog.accesses(ledger, a, fresh_department)] == [reads[0]]
    found = {(d["kind"], d["seq"]) for d in accesslog.check(ledger, fresh_department)}
    assert found == {("index_altered", reads[2]), ("index_altered", reads[3])}, found
    set_key(reads[2], logchain.lookup_key(a))
    set_key(reads[3], logchain.lookup_key(a))
    assert accesslog.check(ledger, fresh_department) == []
    assert [r["seq"] for r in accesslog.accesses(ledger, a, fresh_department)] == listed
