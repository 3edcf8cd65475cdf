"""Red team: a department deciding the same case again to shop for an outcome.

Deciding a case automatically is done once (the gateway's ``decide_once``); deciding it again is an officer's override
(``record_human_decision``), on the record as such. A department that runs the rules again on a case, with the input
altered until the outcome suits, must be refused by every path of the library (``decide``, ``decide_many``, the bulk
CLI) and, when it writes past the library, reported by replay (``decided_again``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import event, select

from ledger.client import Ledger
from ledger.errors import InputError, StateError
from ledger.services import decisions, logchain
from ledger.services.replay import replay
from ledger.storage.models import DecisionInput

from .decision_support import application, overtaken_after_the_check, unique_rule_set


def _published(ledger: Ledger, department: str, tag: str) -> Any:
    rule_set = unique_rule_set(f"again-{tag}-{department}")
    decisions.publish_rule_set(ledger, rule_set, department)
    return rule_set


def _bulk(case: str, applicant: str = "applicant-again", **changes: Any) -> dict[str, Any]:
    return {**application(case), "applicant_ref": applicant, **changes}


def _entries(ledger: Ledger, department: str) -> list[tuple[int, str]]:
    """(sequence number, case id) of every entry of the department's decision log."""
    return [
        (e.seq, json.loads(e.body)["case_id"]) for e in logchain.entries(ledger, logchain.LOG_DECISIONS, department)
    ]


def _stored_inputs(ledger: Ledger) -> list[str]:
    with ledger.engine.connect() as conn:
        return list(conn.execute(select(DecisionInput.digest)).scalars())  # type: ignore[call-overload]


def _cases(ledger: Ledger, department: str) -> list[str]:
    return [case for _, case in _entries(ledger, department)]


def test_replay_reports_a_case_decided_automatically_again(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written past the library's refusal (an older library, or an insider's own code): the second and third automatic
    decisions of a case are ``decided_again``, naming the case and the decision it repeats; an officer's override of
    the same case is lawful and is not reported; the check is the same with worker processes."""
    dept = fresh_department
    rule_set = _published(ledger, dept, "replay")
    first = decisions.decide(ledger, dept, "C-AGAIN-1", "ITEM-1", application("C-AGAIN-1"), rule_set, applicant_ref="p")
    decisions.decide(ledger, dept, "C-AGAIN-2", "ITEM-1", application("C-AGAIN-2"), rule_set, applicant_ref="p")
    officer = decisions.record_human_decision(
        ledger,
        dept,
        "C-AGAIN-1",
        "ITEM-1",
        officer="officer-1",
        outcome="reject",
        reasons=["OFFICER_CHECKED"],
        applicant_ref="p",
        overrides=first.seq,
    )
    assert replay(ledger, department=dept).ok
    # the attack: the library's refusal taken out, the case decided again with altered input
    monkeypatch.setattr(decisions, "_decided_automatically", lambda *_a, **_k: {}, raising=False)
    altered = {**application("C-AGAIN-1"), "application": {"applicant_type": "individual", "online": False}}
    again = decisions.decide(ledger, dept, "C-AGAIN-1", "ITEM-1", altered, rule_set, applicant_ref="p")
    third = decisions.decide_many(ledger, dept, [_bulk("C-AGAIN-1", applicant="p")], {"*": rule_set})
    assert third.count == 1
    monkeypatch.undo()
    seqs = [seq for seq, case in _entries(ledger, dept) if case == "C-AGAIN-1"]
    assert seqs == [first.seq, officer.seq, again.seq, again.seq + 1]
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    for workers in (0, 1):
        report = replay(ledger, department=dept, workers=workers)
        found = [(d.check, d.seq, d.case_id) for d in report.discrepancies]
        assert found == [
            ("decided_again", again.seq, "C-AGAIN-1"),
            ("decided_again", again.seq + 1, "C-AGAIN-1"),
        ], report.summary()
        for d in report.discrepancies:
            assert f"decision {first.seq}" in d.detail and f"decision {d.seq}" in d.detail, d.detail
    # filtered by case, the repeat is still reported for that case, and for no other
    assert {d.check for d in replay(ledger, department=dept, case_id="C-AGAIN-1").discrepancies} == {"decided_again"}
    assert replay(ledger, department=dept, case_id="C-AGAIN-2").ok


def test_decide_refuses_a_case_already_decided_automatically(ledger: Ledger, fresh_department: str) -> None:
    """``decide`` (the library path beside the gateway's ``decide_once``) refuses a second automatic decision, naming
    the first; the officer's override stays open, and deciding a case only an officer decided is not refused."""
    dept = fresh_department
    rule_set = _published(ledger, dept, "decide")
    first = decisions.decide(ledger, dept, "C-ONCE-1", "ITEM-1", application("C-ONCE-1"), rule_set, applicant_ref="p")
    altered = {**application("C-ONCE-1"), "application": {"applicant_type": "individual", "online": False}}
    with pytest.raises(StateError, match=rf"already decided automatically: decision {first.seq} "):
        decisions.decide(ledger, dept, "C-ONCE-1", "ITEM-1", altered, rule_set, applicant_ref="p")
    assert _cases(ledger, dept) == ["C-ONCE-1"]
    decisions.record_human_decision(
        ledger,
        dept,
        "C-ONCE-1",
        "ITEM-1",
        officer="officer-1",
        outcome="approve",
        reasons=["OFFICER_CHECKED"],
        applicant_ref="p",
        overrides=first.seq,
    )
    with pytest.raises(StateError, match=rf"decision {first.seq} "):
        decisions.decide(ledger, dept, "C-ONCE-1", "ITEM-1", altered, rule_set, applicant_ref="p")
    decisions.record_human_decision(
        ledger,
        dept,
        "C-ONCE-2",
        "ITEM-1",
        officer="officer-1",
        outcome="reject",
        reasons=["OFFICER_CHECKED"],
        applicant_ref="p",
    )
    decisions.decide(ledger, dept, "C-ONCE-2", "ITEM-1", application("C-ONCE-2"), rule_set, applicant_ref="p")
    assert _cases(ledger, dept) == ["C-ONCE-1", "C-ONCE-1", "C-ONCE-2", "C-ONCE-2"]


def test_decide_many_refuses_a_case_already_decided(ledger: Ledger, fresh_department: str) -> None:
    """The bulk path refuses a case the department decided before (by ``decide`` or an earlier run), naming that
    decision, before anything of the chunk holding it is recorded."""
    dept = fresh_department
    rule_set = _published(ledger, dept, "many")
    first = decisions.decide(ledger, dept, "C-BULK-1", "ITEM-1", application("C-BULK-1"), rule_set, applicant_ref="p")
    decisions.decide_many(ledger, dept, [_bulk("C-BULK-2"), _bulk("C-BULK-3")], {"*": rule_set})
    with pytest.raises(StateError, match=rf"case 'C-BULK-1' was already decided automatically: decision {first.seq} "):
        decisions.decide_many(ledger, dept, [_bulk("C-BULK-4"), _bulk("C-BULK-1")], {"*": rule_set})
    with pytest.raises(StateError, match=r"case 'C-BULK-3' was already decided automatically: decision 3 "):
        decisions.decide_many(ledger, dept, [_bulk("C-BULK-5"), _bulk("C-BULK-3")], {"*": rule_set}, chunk=1)
    # chunk=1: the chunk before the repeated case was recorded, as for a bad application; nothing after it
    assert _cases(ledger, dept) == ["C-BULK-1", "C-BULK-2", "C-BULK-3", "C-BULK-5"]
    assert replay(ledger, department=dept).ok


def test_decide_many_refuses_a_case_repeated_in_its_input(ledger: Ledger, fresh_department: str) -> None:
    """A case twice in one input file is refused: in one chunk before anything of it is recorded (the application
    named like a bad one), across chunks when the second comes to be decided (the chunks before it are recorded)."""
    dept = fresh_department
    rule_set = _published(ledger, dept, "input")
    with pytest.raises(InputError, match=r"application 3: case 'C-IN-1' is also application 1 of this input"):
        decisions.decide_many(
            ledger, dept, [_bulk("C-IN-1"), _bulk("C-IN-2"), _bulk("C-IN-1", applicant="other")], {"*": rule_set}
        )
    assert _cases(ledger, dept) == []
    with pytest.raises(StateError, match=r"case 'C-IN-3' was already decided automatically: decision 1 "):
        decisions.decide_many(
            ledger,
            dept,
            [_bulk("C-IN-3"), _bulk("C-IN-4"), _bulk("C-IN-5"), _bulk("C-IN-3"), _bulk("C-IN-6")],
            {"*": rule_set},
            chunk=2,
        )
    assert _cases(ledger, dept) == ["C-IN-3", "C-IN-4"]
    # with worker processes the same (the chunk read is hashed in a worker while the one before is recorded)
    with pytest.raises(StateError, match=r"case 'C-IN-7' was already decided automatically: decision 3 "):
        decisions.decide_many(
            ledger,
            dept,
            [_bulk("C-IN-7"), _bulk("C-IN-8"), _bulk("C-IN-9"), _bulk("C-IN-7")],
            {"*": rule_set},
            chunk=2,
            workers=1,
        )
    assert _cases(ledger, dept) == ["C-IN-3", "C-IN-4", "C-IN-7", "C-IN-8"]
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).ok


def test_two_bulk_runs_deciding_one_case_at_once_record_it_once(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: a department running two bulk decisions over overlapping input at once (two machines, or a second
    run started while the first is still going), so a case's outcome can be kept from whichever run suits. Each run
    found the case undecided before its chunk was recorded, so both recorded it. Made certain here: another
    process (its own ledger object and connections) decides a case of the chunk right after the run checked the
    chunk. The run must refuse that chunk, naming the other's decision, and record and keep nothing of it."""
    dept = fresh_department
    rule_set = _published(ledger, dept, "race")
    stored_before = set(_stored_inputs(ledger))
    with (
        overtaken_after_the_check(
            ledger,
            lambda other: decisions.decide(
                other, dept, "C-RACE-2", "ITEM-1", application("C-RACE-2"), rule_set, applicant_ref="p"
            ),
        ) as raced,
        pytest.raises(StateError, match=r"case 'C-RACE-2' was already decided automatically: decision 1 "),
    ):
        decisions.decide_many(ledger, dept, [_bulk("C-RACE-1"), _bulk("C-RACE-2")], {"*": rule_set})
    assert _cases(ledger, dept) == ["C-RACE-2"]
    # the refused chunk's stored inputs are gone: only the other process's decision's input was added
    assert set(_stored_inputs(ledger)) - stored_before == {raced[0].body["input_digest"]}
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).ok


@pytest.mark.parametrize("path", ["decide", "decide_many"])
def test_a_race_lost_inside_the_transaction_asks_the_log_once_more_not_twice(
    ledger: Ledger, fresh_department: str, path: str
) -> None:
    """The check inside the recording transaction already names the rival's decision when it refuses: the refusal
    path does not ask the department's log for the case a third time (once before the work, once inside the
    transaction). Counted on this ledger's own connections; the rival is another process (its own engine)."""
    dept = fresh_department
    rule_set = _published(ledger, dept, f"once-{path}")
    asked: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        text = " ".join(statement.lower().split())
        if "from logentry" in text and "logentry.lookup in" in text:
            asked.append(statement)

    event.listen(ledger.engine, "before_cursor_execute", count)
    try:
        with (
            overtaken_after_the_check(
                ledger,
                lambda other: decisions.decide(
                    other, dept, "C-ONCE", "ITEM-1", application("C-ONCE"), rule_set, applicant_ref="p"
                ),
            ) as raced,
            pytest.raises(StateError, match=r"case 'C-ONCE' was already decided automatically: decision 1 "),
        ):
            if path == "decide":
                decisions.decide(ledger, dept, "C-ONCE", "ITEM-1", application("C-ONCE"), rule_set, applicant_ref="p")
            else:
                decisions.decide_many(ledger, dept, [_bulk("C-ONCE")], {"*": rule_set})
    finally:
        event.remove(ledger.engine, "before_cursor_execute", count)
    assert raced and len(asked) == 2, asked
