"""Issue 18: ``decide_many`` reads the credit list once per chunk, incrementally (only the log entries recorded since
its last read, plus the credit entries it already knows, read again with their anchoring block). Every chunk must
see the credit list exactly as a full read of the log would.

Adversary: another department officer lists an applicant on the credit list, and an auditor lifts the listing,
*during* a long decide run (other transactions on other connections, between two chunks); and a listing recorded
before the run. The decisions record the same credit status as before the incremental read (these tests pass on the
code before it too), and replay, which re-establishes every credit status from the chain's view, finds them right.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from ledger.services import decisions, supervision
from ledger.services.replay import replay

from .supervision_support import REMOVED_BY, application, published_fixture  # noqa: F401 - fixtures

LISTED = "applicant-listed"
CHUNK = 50
# With chunk 50, a chunk is decided when the chunk after it has been read (one chunk ahead, workers or not): chunk 1
# (applications 0-49) after application 99 was read, chunk 2 after 149, chunk 3 after 199, chunk 4 after 249, chunk 5
# at the end. The listed applicant applies once per chunk, at 10, 60, 110, 160 and 210.
LISTED_AT = (10, 60, 110, 160, 210)


def _credit_of(ledger: Any, dept: str, case: str) -> dict[str, Any]:
    body = decisions.find_decision(ledger, dept, case).body
    return {"outcome": body["outcome"], "listed": body["credit"]["listed"], "listings": body["credit"]["listings"]}


def _applications(n: int, events: dict[int, Any], prefix: str = "L") -> Iterator[dict[str, Any]]:
    for i in range(n):
        if i in events:
            events[i] = events[i]()  # the officer's or auditor's action, between two chunks of the run
        applicant = LISTED if i in LISTED_AT else f"applicant-{i}"
        yield {**application(f"{prefix}-{i:03d}"), "applicant_ref": applicant}


@pytest.mark.parametrize("workers", [0, 1])
def test_a_listing_and_its_removal_during_a_long_run_are_read_by_the_next_chunk(
    ledger: Any, published: Any, workers: int
) -> None:
    dept, rules = published
    other = supervision.credit_list(  # an unrelated listing known from the start, removed mid-run
        ledger,
        dept,
        applicant="applicant-7",
        reason="FALSE_MATERIALS",
        since=date.today() - timedelta(days=1),
        until=date.today() + timedelta(days=30),
        officer="officer-1",
        basis={"legal_basis": "CREDIT-REG-ART-12"},
    )

    def listing() -> supervision.CreditEntry:
        return supervision.credit_list(
            ledger,
            dept,
            applicant=LISTED,
            reason="FALSE_MATERIALS",
            since=date.today() - timedelta(days=1),
            until=date.today() + timedelta(days=30),
            officer="officer-1",
            basis={"legal_basis": "CREDIT-REG-ART-12"},
        )

    events: dict[int, Any] = {120: listing}
    events[140] = lambda: supervision.credit_remove(ledger, dept, other.seq, reason="APPEAL_UPHELD", **REMOVED_BY)
    events[220] = lambda: supervision.credit_remove(ledger, dept, events[120].seq, reason="APPEAL_UPHELD", **REMOVED_BY)
    result = decisions.decide_many(ledger, dept, _applications(250, events), {"*": rules}, chunk=CHUNK, workers=workers)
    assert result.count == 250
    seq = events[120].seq
    found = [_credit_of(ledger, dept, f"L-{i:03d}") for i in LISTED_AT]
    assert found == [
        {"outcome": "approve", "listed": False, "listings": []},  # chunk 1: decided before the listing
        {"outcome": "refer", "listed": True, "listings": [seq]},  # chunk 2: decided after it
        {"outcome": "refer", "listed": True, "listings": [seq]},  # chunk 3
        {"outcome": "approve", "listed": False, "listings": []},  # chunk 4: decided after the removal
        {"outcome": "approve", "listed": False, "listings": []},  # chunk 5
    ]
    # applicant-7 applied in chunk 1 (listed then); the removal of that listing is seen by the chunks after it
    assert _credit_of(ledger, dept, "L-007") == {"outcome": "refer", "listed": True, "listings": [other.seq]}
    report = replay(ledger, department=dept)
    assert report.ok, report.summary()


def test_a_listing_recorded_before_the_run_is_read_by_every_chunk(ledger: Any, published: Any) -> None:
    dept, rules = published
    listing = supervision.credit_list(
        ledger,
        dept,
        applicant=LISTED,
        reason="FALSE_MATERIALS",
        since=date.today() - timedelta(days=1),
        until=date.today() + timedelta(days=30),
        officer="officer-1",
        basis={"legal_basis": "CREDIT-REG-ART-12"},
    )
    decisions.decide_many(ledger, dept, _applications(250, {}), {"*": rules}, chunk=CHUNK, workers=0)
    assert [_credit_of(ledger, dept, f"L-{i:03d}") for i in LISTED_AT] == [
        {"outcome": "refer", "listed": True, "listings": [listing.seq]}
    ] * len(LISTED_AT)
    assert _credit_of(ledger, dept, "L-011") == {"outcome": "approve", "listed": False, "listings": []}
    report = replay(ledger, department=dept)
    assert report.ok, report.summary()


def test_the_run_reader_gives_what_a_full_scan_gives_as_entries_are_recorded_anchored_and_deleted(
    ledger: Any, published: Any
) -> None:
    """The reader against :func:`supervision.credit_statuses` (a full scan) after each change: a listing recorded
    but not anchored yet (read again once anchored), decisions recorded in between, a removal, and an insider
    deleting a listing the reader already knows."""
    from sqlalchemy import delete

    from ledger.services import logchain
    from ledger.services.logchain import LOG_DECISIONS, LogEntry

    dept, rules = published
    reader = supervision.CreditReader(ledger, dept)
    ref = decisions.applicant_reference(ledger, dept, LISTED)
    other = decisions.applicant_reference(ledger, dept, "applicant-other")

    def same() -> dict[str, Any]:
        block = ledger.chain.block_number()
        at = decisions._time_text(None)
        full = supervision.credit_statuses(ledger, dept, [ref, other], block, at)
        assert reader.statuses([ref, other], block, at) == full
        return full

    assert same()[ref]["listed"] is False
    body = {
        "format": supervision.SUPERVISION_FORMAT,
        "kind": "credit_listing",
        "applicant_ref": ref,
        "reason": "FALSE_MATERIALS",
        "since": (date.today() - timedelta(days=1)).isoformat(),
        "until": (date.today() + timedelta(days=30)).isoformat(),
        "basis": None,
        "listed_at": decisions._time_text(None),
    }
    pending = logchain.append(ledger, LOG_DECISIONS, dept, body)  # recorded, not anchored: does not count yet
    assert same()[ref]["listed"] is False
    decisions.decide_many(ledger, dept, _applications(20, {}), {"*": rules}, workers=0, anchor=False)
    assert same()[ref]["listed"] is False
    logchain.anchor_pending(ledger, LOG_DECISIONS, dept)  # now anchored: the reader reads its block again
    assert same()[ref]["listings"] == [pending.seq]
    second = supervision.credit_list(
        ledger,
        dept,
        applicant_ref=other,
        reason="FALSE_MATERIALS",
        since=date.today(),
        until=date.today() + timedelta(days=1),
        officer="officer-1",
        basis={"legal_basis": "CREDIT-REG-ART-12"},
    )
    assert same()[other]["listings"] == [second.seq]
    supervision.credit_remove(ledger, dept, pending.seq, reason="APPEAL_UPHELD", **REMOVED_BY)
    assert same()[ref]["listed"] is False
    with ledger.engine.begin() as conn:  # an insider deletes a listing the reader knows: a full scan misses it too
        conn.execute(
            delete(LogEntry).where(
                LogEntry.log == LOG_DECISIONS, LogEntry.department_id == dept, LogEntry.seq == second.seq
            )
        )
    assert same()[other]["listed"] is False


def test_the_pending_entries_are_those_after_the_last_anchor_read_through_the_sequence_index(
    ledger: Any, published: Any
) -> None:
    """``logchain.anchor_pending`` takes as pending the entries after the last stored anchor's range (no entry row
    records its anchoring), read from there through the (log, department, seq) index, as is the last anchor through
    the (log, department, first_seq) one: O(batch) per anchoring, not O(log length), over a long run (O(n²)). The
    entries' derived states agree, with another department's pending entries and an anchored range before."""
    from sqlalchemy import text

    from ledger.services import logchain
    from ledger.services.logchain import LOG_DECISIONS

    dept, rules = published
    decisions.decide_many(ledger, dept, _applications(30, {}), {"*": rules}, workers=0)  # anchored
    # pending; cases of their own: a case is decided automatically once
    decisions.decide_many(ledger, dept, _applications(12, {}, "M"), {"*": rules}, workers=0, anchor=False)

    def states() -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for e in logchain.entries(ledger, LOG_DECISIONS, dept):
            out.setdefault(e.state, []).append(e.seq)
        return out

    assert states() == {"anchored": list(range(1, 31)), "pending": list(range(31, 43))}
    assert [u.count for u in logchain.unanchored(ledger, LOG_DECISIONS, dept)] == [12]
    assert logchain.anchor_pending(ledger, LOG_DECISIONS, dept)
    assert states() == {"anchored": list(range(1, 43))}
    assert logchain.unanchored(ledger, LOG_DECISIONS, dept) == []
    if ledger.engine.dialect.name == "sqlite":
        with ledger.engine.connect() as conn:
            entries_plan = conn.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT seq, entry_hash FROM logentry WHERE log = 'decisions' "
                    "AND department_id = 'x' AND seq > 30 ORDER BY seq LIMIT 10000"
                )
            ).all()
            anchor_plan = conn.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT last_seq FROM loganchor WHERE log = 'decisions' "
                    "AND department_id = 'x' ORDER BY first_seq DESC LIMIT 1"
                )
            ).all()
        assert "seq>?" in str(entries_plan) and "TEMP B-TREE" not in str(entries_plan), entries_plan
        assert "department_id=?" in str(anchor_plan) and "TEMP B-TREE" not in str(anchor_plan), anchor_plan


def test_replay_in_workers_re_establishes_every_credit_status_as_one_process_does(
    ledger: Any, published: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replay's workers take the credit list the replaying process read for the replay (it scans the whole log: once
    per replay, not once per process): every chunk re-run in a worker re-establishes each credit status as the
    one-process replay does, a listing and its removal between the decisions included, and both name the decision
    whose recorded credit status an insider edited."""
    from sqlalchemy import text

    from ledger.services import replay as replay_module
    from ledger.services.logchain import LOG_DECISIONS, canonical_body

    dept, rules = published
    listing = supervision.credit_list(
        ledger,
        dept,
        applicant=LISTED,
        reason="FALSE_MATERIALS",
        since=date.today() - timedelta(days=1),
        until=date.today() + timedelta(days=30),
        officer="officer-1",
        basis={"legal_basis": "CREDIT-REG-ART-12"},
    )
    events: dict[int, Any] = {
        140: lambda: supervision.credit_remove(ledger, dept, listing.seq, reason="APPEAL_UPHELD", **REMOVED_BY)
    }
    decisions.decide_many(ledger, dept, _applications(250, events, "W"), {"*": rules}, chunk=CHUNK, workers=0)
    assert [_credit_of(ledger, dept, f"W-{i:03d}")["listed"] for i in LISTED_AT] == [True, False, False, False, False]
    edited = decisions.find_decision(ledger, dept, "W-010")  # listed when decided: the record now says it was not
    body = {**edited.body, "credit": {**edited.body["credit"], "listed": False, "listings": []}}
    with ledger.engine.begin() as conn:
        conn.execute(
            text("UPDATE logentry SET body=:b WHERE log=:l AND department_id=:d AND seq=:s"),
            {"b": canonical_body(body).decode(), "l": LOG_DECISIONS, "d": dept, "s": edited.seq},
        )
    monkeypatch.setattr(replay_module, "_CHUNK", 40)
    monkeypatch.setattr(replay_module, "_RUN_HERE_WHEN_BUSY", False)  # every chunk re-run in the worker
    parallel = replay(ledger, department=dept, workers=1)
    alone = replay(ledger, department=dept, workers=0)
    assert sorted({(d.check, d.seq) for d in parallel.discrepancies}) == [
        ("altered", edited.seq),
        ("credit_status", edited.seq),
    ], parallel.summary()
    assert [d.to_json() for d in parallel.discrepancies] == [d.to_json() for d in alone.discrepancies]
    assert (parallel.re_run, parallel.outcomes, parallel.reasons) == (alone.re_run, alone.outcomes, alone.reasons)
