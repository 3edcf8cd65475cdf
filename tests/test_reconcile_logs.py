"""Issue 12, "reconcile covers everything the database claims": an insider with database access edits the decision
or access log; `ledger reconcile` compares both logs with their anchors on chain and names each divergence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from ledger.client import Ledger
from ledger.services import accesslog, logchain
from ledger.services.logchain import LogEntry
from ledger.services.reconcile import reconcile

from .decision_support import decided_history

LOG_PREFIX = {logchain.LOG_DECISIONS: "decision_log", logchain.LOG_ACCESS: "access_log"}


def _accesses(ledger: Ledger, department: str, n: int = 8) -> None:
    for i in range(n):
        accesslog.record(
            ledger,
            certificate="0x" + f"{i:064x}",
            issuer=department,
            action="read",
            outcome="served",
            actor="VER",
            signer=None,
            at=datetime.now(UTC),
            purpose="licence check",
        )
    assert accesslog.anchor(ledger, department)


def _history(ledger: Ledger, log: str, department: str) -> None:
    if log == logchain.LOG_DECISIONS:
        decided_history(ledger, department, n=8)
    else:
        _accesses(ledger, department)


def _row(ledger: Ledger, log: str, department: str, seq: int) -> Any:
    with ledger.engine.connect() as conn:
        return conn.execute(
            select(LogEntry).where(LogEntry.log == log, LogEntry.department_id == department, LogEntry.seq == seq)
        ).first()


def _change(ledger: Ledger, statement: Any) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(statement)


def _where(log: str, department: str, seq: int) -> Any:
    return (LogEntry.log == log, LogEntry.department_id == department, LogEntry.seq == seq)


def _edit(body: str) -> str:
    edited = body.replace('"case_id":"', '"case_id":"X').replace('"actor":"VER"', '"actor":"AUD"')
    assert edited != body
    return edited


def _deleted(ledger: Ledger, log: str, dept: str) -> None:
    _change(ledger, delete(LogEntry).where(*_where(log, dept, 3)))


def _edited(ledger: Ledger, log: str, dept: str) -> None:
    row = _row(ledger, log, dept, 3)
    body = _edit(row.body)
    _change(ledger, update(LogEntry).where(*_where(log, dept, 3)).values(body=body))


def _reordered(ledger: Ledger, log: str, dept: str) -> None:
    a, b = _row(ledger, log, dept, 2), _row(ledger, log, dept, 5)
    _change(ledger, update(LogEntry).where(*_where(log, dept, 2)).values(seq=-1))
    _change(ledger, update(LogEntry).where(*_where(log, dept, 5)).values(seq=2))
    _change(ledger, update(LogEntry).where(*_where(log, dept, -1)).values(seq=5))
    assert a.entry_hash != b.entry_hash


def _inserted(ledger: Ledger, log: str, dept: str) -> None:
    """A row forged in place, its own hash recomputed so the row looks self-consistent."""
    row = _row(ledger, log, dept, 4)
    body = _edit(row.body)
    forged = logchain.compute_entry_hash(log, dept, 4, row.prev_hash, body)
    _change(ledger, update(LogEntry).where(*_where(log, dept, 4)).values(body=body, entry_hash=forged))


def _range_truncated(ledger: Ledger, log: str, dept: str) -> None:
    """The last rows of an anchored range deleted: the database now ends before the chain's anchored range."""
    _change(ledger, delete(LogEntry).where(LogEntry.log == log, LogEntry.department_id == dept, LogEntry.seq >= 7))


TAMPERING: dict[str, tuple[Callable[[Ledger, str, str], None], str]] = {
    "deleted": (_deleted, "missing"),
    "edited": (_edited, "altered"),
    "reordered": (_reordered, "reordered"),
    "inserted": (_inserted, "inserted"),
    "range_truncated": (_range_truncated, "missing"),
}


@pytest.mark.parametrize("log", [logchain.LOG_DECISIONS, logchain.LOG_ACCESS])
@pytest.mark.parametrize("attack", sorted(TAMPERING))
def test_reconcile_names_each_log_divergence(ledger: Ledger, fresh_department: str, log: str, attack: str) -> None:
    _history(ledger, log, fresh_department)
    before = reconcile(ledger, departments=[fresh_department])
    assert before.ok, before.text()
    tamper, kind = TAMPERING[attack]
    tamper(ledger, log, fresh_department)
    report = reconcile(ledger, departments=[fresh_department])
    kinds = {d.kind for d in report.divergences}
    assert f"{LOG_PREFIX[log]}_{kind}" in kinds, report.text()
    assert all(k.startswith(LOG_PREFIX[log]) for k in kinds), report.text()  # the other log is untouched
    assert f"{fresh_department}'s {log} log" in report.text()


def test_reconcile_notes_unanchored_log_entries_without_calling_them_divergences(
    ledger: Ledger, fresh_department: str
) -> None:
    accesslog.record(
        ledger,
        certificate="0x" + "11" * 32,
        issuer=fresh_department,
        action="read",
        outcome="served",
        actor="VER",
        signer=None,
        at=datetime.now(UTC),
    )
    report = reconcile(ledger, departments=[fresh_department])
    assert report.ok, report.text()
    assert any("not anchored yet" in n for n in report.notes)


def test_a_whole_log_deleted_is_found_through_its_anchors(ledger: Ledger, fresh_department: str) -> None:
    decided_history(ledger, fresh_department, n=4)
    _change(
        ledger,
        delete(LogEntry).where(LogEntry.log == logchain.LOG_DECISIONS, LogEntry.department_id == fresh_department),
    )
    report = reconcile(ledger)  # every department, including one with no rows left at all
    assert any(d.kind == "decision_log_missing" and fresh_department in d.detail for d in report.divergences)
