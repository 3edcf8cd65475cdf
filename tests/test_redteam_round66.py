"""Red team round 66: the log entries' marks (this session's merge), played by an insider who can write the database
but holds no key.

An unmarked entry written after marks existed is no entry from before the upgrade, and a department's secret row the
insider deleted is not a department without a secret: in either case the ledger, not the operator's reading, must
tell the insider's doing from the department's own."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, insert, select

from ledger.cli import main as cli_main
from ledger.client import Ledger
from ledger.errors import StateError
from ledger.services import logchain
from ledger.services.decisions import department_secret
from ledger.storage.models import ApplicantSecret

from .api_support import issue
from .evidence_support import cli_env
from .insider_support import access_body, appended_past_the_library, next_on_chain, removed_entry


def _secret_rows(ledger: Ledger, department: str) -> list[bytes]:
    with ledger.engine.connect() as conn:
        return [
            bytes(r[0])
            for r in conn.execute(
                select(ApplicantSecret.sealed).where(ApplicantSecret.department_id == department)  # type: ignore[arg-type]
            )
        ]


def _restored(ledger: Ledger, department: str, sealed: bytes) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(delete(ApplicantSecret).where(ApplicantSecret.department_id == department))  # type: ignore[arg-type]
        conn.execute(insert(ApplicantSecret).values(department_id=department, sealed=sealed))


@pytest.fixture
def quiet_department(ledger: Ledger, fresh_department: str) -> Iterator[tuple[str, str]]:
    """A department that issues and logs reads of its certificates but has never decided or erased: its secret was
    made by its first access-log entry (and marks every entry since). Yields it and its certificate's digest."""
    (doc,) = issue(ledger, fresh_department, 1)
    logchain.append(ledger, logchain.LOG_ACCESS, fresh_department, access_body(doc["digest"], 0))
    logchain.anchor_pending(ledger, logchain.LOG_ACCESS, fresh_department)
    yield fresh_department, doc["digest"]


def test_a_deleted_secret_row_is_not_replaced_while_entries_bear_its_marks(
    ledger: Ledger,
    quiet_department: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Adversary: an insider with SQL deletes the secret row of a department that only issues and logs reads (no
    decisions, no erasures by reference: what ``_require_unused_secret`` looked at). The next anchoring made the
    department a new secret, silently, and then called every genuine pending access-log entry "not written by this
    ledger ... remove or restore it": the operator, following the words, deletes the department's own record of who
    read personal data, and every entry marked from then on carries the new secret's mark, so restoring the row from
    a backup later turns them all into "insider's". While any of its entries bears a mark, the secret is in use: the
    anchoring must refuse, name the missing row and make none."""
    department, digest = quiet_department
    (sealed,) = _secret_rows(ledger, department)
    for n in (1, 2):
        logchain.append(ledger, logchain.LOG_ACCESS, department, access_body(digest, n))
    before = next_on_chain(ledger, logchain.LOG_ACCESS, department)
    with ledger.engine.begin() as conn:
        conn.execute(delete(ApplicantSecret).where(ApplicantSecret.department_id == department))  # type: ignore[arg-type]
    data_dir = cli_env(ledger, monkeypatch)  # a new process: no secret remembered
    capsys.readouterr()
    try:
        code = cli_main([*data_dir, "anchor-logs", "--department", department, "--log", logchain.LOG_ACCESS])
        said = capsys.readouterr()
        assert code != 0, said.out
        assert "applicantsecret" in said.err and "restore the row from a backup" in said.err, said.err
        assert "not written by this ledger" not in said.err, said.err
        assert _secret_rows(ledger, department) == [], "a new secret was made for a department whose entries bear marks"
        assert next_on_chain(ledger, logchain.LOG_ACCESS, department) == before
    finally:
        _restored(ledger, department, sealed)
    # the row restored from the backup: the genuine entries anchor as they are
    assert logchain.anchor_pending(ledger, logchain.LOG_ACCESS, department)
    assert next_on_chain(ledger, logchain.LOG_ACCESS, department) == before + 2


def test_an_unmarked_entry_after_a_marked_one_is_not_anchored_as_written_before_marks(
    ledger: Ledger,
    quiet_department: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Adversary: the insider appends an access-log entry (a read that never happened, naming a reader the insider
    wants blamed) with no mark, after genuine marked ones. Anchoring refuses it, and both it and the log's check tell
    the operator that an entry written before marks existed is anchored with ``--accept-unmarked`` once checked - a
    routine word the operator of a log upgraded a while ago gives. But an entry after one bearing the ledger's mark
    was written after marks existed: ``--accept-unmarked`` must not anchor it, nor the log's check offer it."""
    department, digest = quiet_department
    logchain.append(ledger, logchain.LOG_ACCESS, department, access_body(digest, 1))
    before = next_on_chain(ledger, logchain.LOG_ACCESS, department)
    seq = appended_past_the_library(ledger, logchain.LOG_ACCESS, department, access_body(digest, 9))
    data_dir = cli_env(ledger, monkeypatch)
    capsys.readouterr()
    try:
        args = ["anchor-logs", "--department", department, "--log", logchain.LOG_ACCESS, "--accept-unmarked"]
        code = cli_main([*data_dir, *args])
        said = capsys.readouterr()
        assert code != 0, said.out
        assert f"entry {seq} was not written by this ledger" in said.err, said.err
        assert "written after marks existed" in said.err, said.err
        # the genuine entry before it went; the insider's did not
        assert next_on_chain(ledger, logchain.LOG_ACCESS, department) == before + 1
        with pytest.raises(StateError, match=f"entry {seq} was not written by this ledger"):
            logchain.anchor_pending(ledger, logchain.LOG_ACCESS, department, accept_unmarked=True)
        assert next_on_chain(ledger, logchain.LOG_ACCESS, department) == before + 1
        found = logchain.check_log(ledger, logchain.LOG_ACCESS, department)
        assert [(d.kind, d.seq) for d in found] == [("unmarked", seq)], [d.to_json() for d in found]
        assert "--accept-unmarked" not in found[0].detail, found[0].detail
    finally:
        removed_entry(ledger, logchain.LOG_ACCESS, department, seq)
    assert logchain.anchor_pending(ledger, logchain.LOG_ACCESS, department) == []
    assert json.dumps([d.to_json() for d in logchain.check_log(ledger, logchain.LOG_ACCESS, department)]) == "[]"


def test_the_ledger_chains_no_entry_of_its_own_onto_an_insiders(
    ledger: Ledger, quiet_department: tuple[str, str]
) -> None:
    """Adversary: the insider appends their unmarked entry at the head of the log and lets the department go on
    working. Each genuine entry after it was chained to its hash and marked by the ledger: anchoring stops at the
    insider's entry, and the remedy it names - remove it - leaves a gap and a broken chain under every genuine entry
    after it, which can then never be anchored; the operator's only way to anchor the department's own work is to
    sign the insider's entry (``--accept-unmarked``). The ledger must not chain an entry of its own onto one it did
    not write: the append is refused, nothing is written, and the insider's entry, still the last, is removed
    cleanly."""
    department, digest = quiet_department
    before = next_on_chain(ledger, logchain.LOG_ACCESS, department)
    seq = appended_past_the_library(ledger, logchain.LOG_ACCESS, department, access_body(digest, 9))
    try:
        with pytest.raises(StateError, match=f"entry {seq} was not written by this ledger"):
            logchain.append(ledger, logchain.LOG_ACCESS, department, access_body(digest, 1))
        with pytest.raises(StateError, match=f"entry {seq} was not written by this ledger"):
            logchain.append_many(ledger, logchain.LOG_ACCESS, department, [access_body(digest, 2)])
        with ledger.engine.connect() as conn:
            head = logchain.head_seq(conn, logchain.LOG_ACCESS, department)
        assert head == seq, "an entry was chained onto the insider's"
    finally:
        removed_entry(ledger, logchain.LOG_ACCESS, department, seq)
    # removed, the log goes on from the department's own last entry and anchors whole
    logchain.append(ledger, logchain.LOG_ACCESS, department, access_body(digest, 3))
    assert logchain.anchor_pending(ledger, logchain.LOG_ACCESS, department)
    assert next_on_chain(ledger, logchain.LOG_ACCESS, department) == before + 1
    assert logchain.check_log(ledger, logchain.LOG_ACCESS, department) == []


def test_a_secret_row_copied_from_another_department_marks_nothing(
    ledger: Ledger,
    quiet_department: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Adversary: the insider copies another department's sealed secret row over this one's (or moves it there), so
    that the two share a mark key and a mark the ledger makes for one vouches for the other's entries. Held: the
    vault binds each sealed secret to its department, so the copied row does not open - the anchoring (a new
    process, nothing remembered) is refused naming the row, and nothing is anchored or appended."""
    department, digest = quiet_department
    other = "MKT" if department != "MKT" else "GOV"
    department_secret(ledger, other)  # the other department's row (made at its first use)
    (sealed,) = _secret_rows(ledger, department)
    (foreign,) = _secret_rows(ledger, other)
    logchain.append(ledger, logchain.LOG_ACCESS, department, access_body(digest, 1))
    before = next_on_chain(ledger, logchain.LOG_ACCESS, department)
    _restored(ledger, department, foreign)
    data_dir = cli_env(ledger, monkeypatch)
    capsys.readouterr()
    try:
        code = cli_main([*data_dir, "anchor-logs", "--department", department, "--log", logchain.LOG_ACCESS])
        said = capsys.readouterr()
        assert code != 0, said.out
        assert "applicant secret (table applicantsecret) does not open" in said.err, said.err
        assert next_on_chain(ledger, logchain.LOG_ACCESS, department) == before
    finally:
        _restored(ledger, department, sealed)
    assert logchain.anchor_pending(ledger, logchain.LOG_ACCESS, department)
