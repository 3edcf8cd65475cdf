"""Red team, round 35: decisions stored at the instant their body states (gaps34), the witness's signed record.

1. (A department's officer, or an insider calling the library) record an officer's decision stating a decided_at
   years before it was taken, or years after: since gaps34 the entry is stored at that instant, so a listing of a
   past window (an audit already closed) shows a decision nobody saw there, and the log's own check agrees (the
   stored time is the stated one). Replay reported nothing for an officer's decision without input: the bound a
   decision's anchoring gives (anchored after it is taken, within the anchoring deadline) was checked only for
   decisions judged on facts.
2. (Someone who can write a witness's directory, without its key) replace the unsigned record an older version wrote
   between the two reads of ``--sign-record SHA256``: the digest was taken of the file's bytes, and the record
   signed was read from the file again, so the record the operator checked was not the one signed.
3. (An insider with database access) move a supervision record (a credit removal) out of its time window when its
   body also holds a ``decided_at`` below its top level: the log's check took the one ``"decided_at":"`` in the text
   for the decision time the record states (its fast path for decisions) and found the moved time agreeing.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.services import erasure, logchain, replay, supervision
from ledger.services.witness.server import WitnessStore
from ledger.storage.models import LogEntry

from .conftest import make_records
from .foundation_support import issue
from .insider_support import insider_edit
from .permit_support import officer_decision


def _kinds(ledger: Ledger, dept: str) -> list[tuple[int | None, str, str]]:
    report = replay.replay(ledger, department=dept, workers=0)
    return [(d.seq, d.check, d.detail[:200]) for d in report.discrepancies]


def _forged(ledger: Ledger, dept: str, case: str, decided_at: datetime) -> int:
    """An insider appending an officer's decision of their own writing (the entry hash is no one's signature): a
    body as the library writes it, stating ``decided_at``; returns its number."""
    model = officer_decision(ledger, dept, case + "-MODEL", "applicant-rt35", "reject", "OFFICER_FOUND_FRAUD")
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)  # the model is no part of the attack
    body = dict(
        model.body, case_id=case, decided_at=decided_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
    return logchain.append(ledger, logchain.LOG_DECISIONS, dept, body).seq


def test_an_officers_decision_backdated_years_is_reported_by_replay(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: a department's officer (or an insider calling the library) stating a decided_at of 2020 for a
    refusal taken now: stored in 2020's window, listed there, and passed by replay once anchored. The library refuses
    it since red team round 71 (a moment more than 30 s before now); an insider appending it past the library is
    reported by replay."""
    dept = fresh_department
    with pytest.raises(InputError, match="before now"):
        officer_decision(
            ledger, dept, "C-RT35-PAST", "applicant-rt35p", "reject", "OFFICER_FOUND_FRAUD",
            decided_at=datetime(2020, 1, 1, tzinfo=UTC),
        )  # fmt: skip
    past = _forged(ledger, dept, "C-RT35-PAST", datetime(2020, 1, 1, tzinfo=UTC))
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    found = [(seq, check) for seq, check, _ in _kinds(ledger, dept)]
    assert found == [(past, "anchored_late")], found


def test_an_officers_decision_dated_after_its_anchoring_is_reported_by_replay(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider appending an officer's decision stating next year (the library refuses it now): a
    listing of next year's window shows it, and replay passed it."""
    dept = fresh_department
    seq = _forged(ledger, dept, "C-RT35-FUT", datetime.now(UTC) + timedelta(days=400))
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    found = _kinds(ledger, dept)
    assert [(s, c) for s, c, _ in found] == [(seq, "anchored_late")], found
    assert "after it was anchored" in found[0][2]


def test_a_future_dated_pending_decision_does_not_hide_the_backlog_from_the_anchoring_deadline(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider (or a department keeping its decisions off chain, deletable without a trace) whose
    oldest unanchored decision states a time years ahead: the age of the backlog is read from the stored time, now
    the stated one, and came out negative - never overdue, whatever waited behind it."""
    dept = fresh_department
    seq = _forged(ledger, dept, "C-RT35-HIDE", datetime.now(UTC) + timedelta(days=400))
    officer_decision(ledger, dept, "C-RT35-BEHIND", "applicant-rt35b", "reject", "OFFICER_FOUND_FRAUD")
    found = _kinds(ledger, dept)
    assert (seq, "anchoring_overdue") in [(s, c) for s, c, _ in found], found


def test_the_library_refuses_a_decision_dated_in_the_future(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: a department's officer stating a decided_at ahead of now, to be listed in a later window."""
    with pytest.raises(InputError, match="in the future"):
        officer_decision(
            ledger,
            fresh_department,
            "C-RT35-LIB",
            "applicant-rt35l",
            "reject",
            "OFFICER_FOUND_FRAUD",
            decided_at=datetime.now(UTC) + timedelta(days=1),
        )


def test_the_library_refuses_an_erasure_or_a_supervision_record_dated_in_the_future(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: a department's records office (an erasure's at) or its supervisor (a credit listing's listed_at)
    stating a time ahead of now: each is stored and listed at the instant it states."""
    dept = fresh_department
    ahead = datetime.now(UTC) + timedelta(days=1)
    (licence,) = issue(ledger, tmp_path, dept, make_records(1))
    with pytest.raises(InputError, match="in the future"):
        erasure.erase(ledger, licence["digest"], dept, basis="retention-expired", by="records-office", at=ahead)
    with pytest.raises(InputError, match="in the future"):
        supervision.credit_list(
            ledger,
            dept,
            applicant="applicant-rt35c",
            reason="FRAUD_FOUND",
            since="2026-01-01",
            until="2026-12-31",
            officer="officer-7",
            basis={"legal_basis": "CREDIT-REG-ART-12"},
            listed_at=ahead,
        )
    # a moment of the past is the record's to state (replay bounds it by its anchoring)
    erasure.erase(
        ledger,
        licence["digest"],
        dept,
        basis="retention-expired",
        by="records-office",
        at=ahead - timedelta(days=1, minutes=1),
    )


class _RacingStore(WitnessStore):
    """A witness's store whose record an insider rewrites the moment it is read again (a second read of the file,
    after the one whose digest was compared, meets the insider's record)."""

    forged = '{"origins": {}}'

    def _read(self) -> dict[str, Any]:
        (self.directory / "state.json").write_text(self.forged)
        return super()._read()


def test_sign_record_signs_the_bytes_whose_digest_was_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Adversary: someone who can write the witness's directory, swapping the unsigned record between the check of
    its digest and its signing, so the witness signs (and from then on trusts) a record of their choosing."""
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    store = WitnessStore(tmp_path / "witness")
    store.create_key("court.example/35")
    state = store.directory / "state.json"
    origin = "ledger.example/chain/1"
    entry = {"size": 7, "hash": "ab" * 32, "note": "ledger.example/chain/1\n7\nq80=\n"}
    legacy = json.dumps({"origins": {origin: entry}}, indent=1)
    state.write_text(legacy)
    _RacingStore(store.directory).sign_record(hashlib.sha256(legacy.encode()).hexdigest())
    # what stands signed is the record whose digest the operator gave, whatever was written after the check
    assert WitnessStore(store.directory).load()["origins"] == {origin: entry}


def test_a_supervision_record_holding_a_nested_decided_at_is_not_passed_by_it_when_moved(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider with database access who wrote a credit removal holding a ``decided_at`` inside one of
    its members (through the library's append: the entry hash is no one's signature), then moved its stored time to
    that instant: the log's check and the listings' mark read the nested member as the time the record states."""
    dept = fresh_department
    removed_at = "2026-03-10T09:30:00.000Z"
    planted = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    body = {
        "format": "pl-supervision/1",
        "kind": "credit_removal",
        "listing": {"seq": 1, "entry_hash": "0x" + "ab" * 32, "decided_at": "2026-01-02T03:04:05.000Z"},
        "reason": "LISTING_ENDED",
        "removed_at": removed_at,
    }
    entry = logchain.append(ledger, logchain.LOG_DECISIONS, dept, body)
    assert entry.created_at == datetime(2026, 3, 10, 9, 30, tzinfo=UTC)  # stored at the instant it states
    with ledger.engine.connect() as conn:
        row = conn.execute(
            select(col(LogEntry.id)).where(
                col(LogEntry.log) == logchain.LOG_DECISIONS,
                col(LogEntry.department_id) == dept,
                col(LogEntry.seq) == entry.seq,
            )
        ).scalar_one()
    with insider_edit(ledger, LogEntry, LogEntry.id, row, created_at=planted):
        found = [(d.seq, d.kind) for d in logchain.check_log(ledger, logchain.LOG_DECISIONS, dept)]
        assert (entry.seq, "time_altered") in found, found
        (moved,) = [e for e in logchain.entries(ledger, logchain.LOG_DECISIONS, dept) if e.seq == entry.seq]
        assert logchain.time_altered(moved)
