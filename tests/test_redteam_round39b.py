"""Red team round 39b: the insider, the relaying gateway, the holder, the operator.

1. A log row's column holding what the ledger never writes there stopped every auditor's tool. SQLite keeps any
   type in any column and hands a text's bytes back as stored; PostgreSQL lets whoever owns the table retype a
   column. An insider writing one byte that is not UTF-8 into one decision's body, a blob or a number where a text
   belongs, text where the sequence number or the time belongs, or a non-ASCII ``prev_hash``, or (PostgreSQL)
   retyping the time column as text, made ``check_log``, ``ledger replay``, ``ledger reconcile`` and the
   auditors' listing of the log stop with a traceback (``OperationalError: Could not decode to UTF-8``,
   ``AttributeError``, ``TypeError``, ``UnicodeEncodeError``): one edited row hid the report of the whole log,
   every department's in a replay of all of them. A log row now reads, at the storage boundary, whatever the
   database holds: a text column as text (bytes that are not UTF-8 as U+FFFD), a sequence number that is no
   integer as 0, a time that is none as the first instant of the calendar; the check reports such a row as it
   reports any edit (``altered``, ``time_altered``, ``missing``) and reads on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from ledger.client import Ledger
from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER, ROLE_VERIFIER
from ledger.services import logchain, reconcile, replay
from ledger.services.departments import Council

from .conftest import TEST_TYPES
from .decision_support import decided_history

# (what the insider writes, the SQL, the discrepancies check_log must give: (kind, seq))
_SQLITE_EDITS = (
    ("a body byte that is not UTF-8", "body = CAST(X'7BFF7D' AS TEXT)", {("altered", 2)}),
    ("a body stored as a blob", "body = X'7B7D'", {("altered", 2)}),
    ("a body stored as a number", "body = 17", {("altered", 2)}),
    ("a previous hash stored as a blob", "prev_hash = X'3078'", {("altered", 2), ("broken_chain", 2)}),
    ("a previous hash that is not ASCII", "prev_hash = 'é'", {("altered", 2), ("broken_chain", 2)}),
    ("a time that is no time", "created_at = 'yesterday'", {("time_altered", 2)}),
    ("a time stored as a number", "created_at = 5", {("time_altered", 2)}),
    ("a sequence number that is text", "seq = 'two'", {("missing", 2), ("altered", None)}),
    ("a sequence number that is a real", "seq = 2.5", {("missing", 2), ("altered", None)}),
)


@contextmanager
def _edited(ledger: Ledger, department: str, assignment: str) -> Iterator[None]:
    """Entry 2 of ``department``'s decisions log with ``assignment`` applied, put back afterwards."""
    where = "log = 'decisions' AND department_id = :d"
    with ledger.engine.begin() as conn:
        saved = conn.execute(
            text(f"SELECT id, seq, body, prev_hash, created_at FROM logentry WHERE {where} AND seq = 2"),
            {"d": department},
        ).one()
        conn.execute(text(f"UPDATE logentry SET {assignment} WHERE id = :id"), {"id": saved[0]})
    try:
        yield
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE logentry SET seq = :seq, body = :body, prev_hash = :prev, created_at = :at WHERE id = :id"
                ),
                {"id": saved[0], "seq": saved[1], "body": saved[2], "prev": saved[3], "at": saved[4]},
            )


def _every_reader_reports(ledger: Ledger, department: str, expected: set[tuple[str, int | None]]) -> None:
    found = logchain.check_log(ledger, logchain.LOG_DECISIONS, department)
    assert {(d.kind, d.seq) for d in found} == expected, found
    listed = list(logchain.entries(ledger, logchain.LOG_DECISIONS, department))
    assert len(listed) == 3, listed
    report = replay.replay(ledger, department=department, workers=0)
    assert not report.ok and {d.check for d in report.discrepancies} >= {kind for kind, _ in expected}, report
    reconciled = reconcile.reconcile(ledger, departments=[department], check_bodies=False)
    assert not reconciled.ok, reconciled.to_json()


@pytest.fixture(scope="module")
def history(ledger: Ledger) -> Iterator[str]:
    code = "RT39B"
    Council(ledger).register(code, "Red team 39b", ROLE_ISSUER | ROLE_VERIFIER | ROLE_APPROVER, types=TEST_TYPES)
    decided_history(ledger, code, 3)
    assert logchain.check_log(ledger, logchain.LOG_DECISIONS, code) == []
    yield code


def test_a_log_row_holding_another_type_or_encoding_is_reported_not_a_traceback(ledger: Ledger, history: str) -> None:
    """Adversary: an insider with write access to the SQLite file (PostgreSQL: to the rows), writing into one
    decision's row what the ledger never writes there - a byte that is not UTF-8, a blob or a number for text, text
    or a real for the sequence number, a time that is none - so that every auditor's tool stops on it and reports
    nothing of the rest of the log. Each is now reported as the edit it is, and the tools read on."""
    edits = _SQLITE_EDITS if ledger.engine.dialect.name == "sqlite" else _SQLITE_EDITS[4:5]
    for name, assignment, expected in edits:
        with _edited(ledger, history, assignment):
            try:
                _every_reader_reports(ledger, history, expected)
            except AssertionError as exc:
                raise AssertionError(f"{name}: {exc}") from exc
    assert logchain.check_log(ledger, logchain.LOG_DECISIONS, history) == []


def test_a_log_column_retyped_on_postgresql_is_read_as_before(ledger: Ledger, history: str) -> None:
    """Adversary: an insider owning the PostgreSQL tables, retyping the log's time column as text: every row's time
    then came back as text, and the log's check, replay and the listing stopped with a traceback on the first. The
    rows' instants are unchanged, so the log checks clean."""
    if ledger.engine.dialect.name != "postgresql":
        pytest.skip("a column's type is retyped on PostgreSQL; SQLite keeps any type in any column (the test above)")
    retypes = (("created_at", "text USING created_at::text", "timestamptz USING created_at::timestamptz"),)
    for column, to, back in retypes:
        with ledger.engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE logentry ALTER COLUMN {column} TYPE {to}"))
        try:
            assert logchain.check_log(ledger, logchain.LOG_DECISIONS, history) == [], column
            assert len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, history))) == 3
            assert replay.replay(ledger, department=history, workers=0).ok, column
        finally:
            with ledger.engine.begin() as conn:
                conn.execute(text(f"ALTER TABLE logentry ALTER COLUMN {column} TYPE {back}"))
