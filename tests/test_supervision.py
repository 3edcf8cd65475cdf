"""Supervision against the real chain: credit status read from the ledger, commitments, random inspections anyone can
re-draw, findings, withdrawals; each adversary of the brief written as an attack that replay or the library stops."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, update

from ledger.errors import InputError, NotFoundError, StateError
from ledger.formats.rules import load_rule_set
from ledger.services import decisions, logchain, supervision
from ledger.services.logchain import LOG_DECISIONS, LogEntry
from ledger.services.replay import replay

from .supervision_support import (
    REMOVED_BY,
    announced,
    application,
    approvals,
    cli,
    decide,
    mine,
    published_fixture,  # noqa: F401 - fixtures
    rule_set,
)


def checks(report: Any) -> set[str]:
    return {d.check for d in report.discrepancies}


def test_credit_listed_applicant_who_claims_not_to_be_is_refused_the_fast_track(ledger: Any, published: Any) -> None:
    dept, rules = published
    assert decide(ledger, dept, rules, "C-1", "applicant-liar").body["outcome"] == "approve"
    supervision.credit_list(
        ledger,
        dept,
        applicant="applicant-liar",
        reason="FALSE_MATERIALS",
        since=date.today() - timedelta(days=1),
        until=date.today() + timedelta(days=365),
        officer="officer-1",
        basis={"legal_basis": "CREDIT-REG-ART-12"},
    )
    refused = decide(ledger, dept, rules, "C-2", "applicant-liar", claims_blacklisted=False)
    assert refused.body["outcome"] == "refer" and refused.body["reasons"] == ["APPLICANT_ON_CREDIT_BLACKLIST"]
    assert refused.body["credit"]["listed"] is True
    # the converse: a claim of being listed does not count either, the ledger decides
    honest = decide(ledger, dept, rules, "C-3", "applicant-honest", claims_blacklisted=True)
    assert honest.body["outcome"] == "approve" and honest.body["credit"]["listed"] is False
    logchain.anchor_pending(ledger, LOG_DECISIONS, dept)
    report = replay(ledger, department=dept)
    assert report.ok, report.summary()
    assert "applicant-liar" not in json.dumps([e.body for e in logchain.entries(ledger, LOG_DECISIONS, dept)])


def test_bulk_decisions_read_the_credit_list_too(ledger: Any, published: Any) -> None:
    dept, rules = published
    supervision.credit_list(
        ledger,
        dept,
        applicant="applicant-b",
        reason="FALSE_MATERIALS",
        since=date.today() - timedelta(days=1),
        until=date.today() + timedelta(days=30),
        officer="officer-1",
        basis={"legal_basis": "CREDIT-REG-ART-12"},
    )
    apps = [{**application(f"B-{i}"), "applicant_ref": f"applicant-{'b' if i == 2 else i}"} for i in range(4)]
    result = decisions.decide_many(ledger, dept, apps, {"*": rules})
    assert result.outcomes == {"approve": 3, "refer": 1}
    assert decisions.find_decision(ledger, dept, "B-2").body["reasons"] == ["APPLICANT_ON_CREDIT_BLACKLIST"]
    assert replay(ledger, department=dept).ok


def test_listing_or_removal_is_read_as_of_the_decision_block(ledger: Any, published: Any) -> None:
    dept, rules = published
    listing = supervision.credit_list(
        ledger,
        dept,
        applicant="applicant-r",
        reason="FALSE_MATERIALS",
        since=date.today(),
        until=date.today() + timedelta(days=30),
        officer="officer-1",
        basis={"legal_basis": "CREDIT-REG-ART-12"},
    )
    assert decide(ledger, dept, rules, "R-1", "applicant-r").body["outcome"] == "refer"
    supervision.credit_remove(ledger, dept, listing.seq, reason="APPEAL_UPHELD", **REMOVED_BY)
    assert decide(ledger, dept, rules, "R-2", "applicant-r").body["outcome"] == "approve"
    with pytest.raises(StateError, match="already removed"):
        supervision.credit_remove(ledger, dept, listing.seq, reason="APPEAL_UPHELD", **REMOVED_BY)
    logchain.anchor_pending(ledger, LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).ok
    entries = supervision.credit_entries(ledger, dept)
    assert [(e.seq, e.removed_by is not None) for e in entries] == [(listing.seq, True)]


def test_insider_deleting_a_credit_listing_is_caught_by_replay(ledger: Any, published: Any) -> None:
    dept, rules = published
    listing = supervision.credit_list(
        ledger,
        dept,
        applicant="applicant-x",
        reason="FALSE_MATERIALS",
        since=date.today(),
        until=date.today() + timedelta(days=30),
        officer="officer-1",
        basis={"legal_basis": "CREDIT-REG-ART-12"},
    )
    decide(ledger, dept, rules, "X-1", "applicant-x")
    logchain.anchor_pending(ledger, LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).ok
    with ledger.engine.begin() as conn:
        conn.execute(
            delete(LogEntry).where(
                LogEntry.log == LOG_DECISIONS, LogEntry.department_id == dept, LogEntry.seq == listing.seq
            )
        )
    found = checks(replay(ledger, department=dept))
    assert "missing" in found and "credit_status" in found  # the decision no longer re-runs to "listed"


def test_a_decision_recording_a_false_credit_status_is_flagged(ledger: Any, published: Any) -> None:
    dept, rules = published
    supervision.credit_list(
        ledger,
        dept,
        applicant="applicant-f",
        reason="FALSE_MATERIALS",
        since=date.today(),
        until=date.today() + timedelta(days=30),
        officer="officer-1",
        basis={"legal_basis": "CREDIT-REG-ART-12"},
    )
    forged = decide(ledger, dept, rules, "F-1", "applicant-f").body
    forged = {
        **forged,
        "credit": {**forged["credit"], "listed": False, "listings": []},
        "outcome": "approve",
        "reasons": ["TYPICAL_FEATURES_MATCH"],
        "fired": ["online"],
        "case_id": "F-2",
        "legal_basis": {"TYPICAL_FEATURES_MATCH": None},
    }
    logchain.append(ledger, LOG_DECISIONS, dept, forged)  # an engine that pretends the list is empty
    logchain.anchor_pending(ledger, LOG_DECISIONS, dept)
    report = replay(ledger, department=dept)
    assert {(d.check, d.case_id) for d in report.discrepancies} >= {
        ("credit_status", "F-2"),
        ("outcome_mismatch", "F-2"),
    }


def test_credit_list_refuses_bad_input_and_records_nothing(ledger: Any, published: Any) -> None:
    dept, _ = published
    for kwargs, match in (
        ({"reason": "false materials"}, "code"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "empty"),
        ({"since": "yesterday"}, "YYYY-MM-DD"),
    ):
        args = {"applicant": "a", "reason": "FALSE_MATERIALS", "since": "2026-01-01", "until": "2027-01-01", **kwargs}
        with pytest.raises(InputError, match=match):
            supervision.credit_list(
                ledger, dept, **args, officer="officer-1", basis={"legal_basis": "CREDIT-REG-ART-12"}
            )
    with pytest.raises(InputError, match="not both"):
        supervision.credit_list(
            ledger,
            dept,
            applicant="a",
            applicant_ref="0x" + "11" * 32,
            reason="R",
            since="2026-01-01",
            until="2027-01-01",
            officer="officer-1",
            basis={"legal_basis": "CREDIT-REG-ART-12"},
        )
    with pytest.raises(StateError, match="approver"):
        supervision.credit_list(
            ledger,
            "MKT",
            applicant="a",
            reason="R",
            since="2026-01-01",
            until="2027-01-01",
            officer="officer-1",
            basis={"legal_basis": "CREDIT-REG-ART-12"},
        )
    assert list(logchain.entries(ledger, LOG_DECISIONS, dept)) == []


def test_commitments_are_recorded_listed_when_due_and_checked(ledger: Any, published: Any) -> None:
    dept, rules = published
    body = decide(ledger, dept, rules, "K-1", "applicant-k", commit=1).body
    today = datetime.now(UTC).date()
    assert body["commitment"] == {
        "promise": "MATERIALS_ON_FILE",
        "check": "DOCUMENT_CHECK",
        "rule": "notify-and-commit",
        "deadline": (date.fromisoformat(body["decided_at"][:10]) + timedelta(days=30)).isoformat(),
    }
    assert "commitment" not in decide(ledger, dept, rules, "K-2", "applicant-k").body
    assert [c.case_id for c in supervision.due_commitments(ledger, dept, today=today)] == ["K-1"]
    assert supervision.due_commitments(ledger, dept, within_days=1, today=today) == []
    later = today + timedelta(days=31)
    assert [c.status for c in supervision.due_commitments(ledger, dept, today=later)] == ["overdue"]
    with pytest.raises(NotFoundError):
        supervision.record_commitment_check(ledger, dept, "K-2", met=True, officer="officer-1")
    supervision.record_commitment_check(
        ledger, dept, "K-1", met=False, officer="officer-1", findings=["MATERIALS_NOT_SUBMITTED"]
    )
    assert [c.status for c in supervision.commitments(ledger, dept, today=later)] == ["broken"]
    assert supervision.due_commitments(ledger, dept, today=later) == []
    logchain.anchor_pending(ledger, LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).ok


def test_a_dropped_commitment_is_flagged_by_replay(ledger: Any, published: Any) -> None:
    dept, rules = published
    body = decide(ledger, dept, rules, "D-1", "applicant-d", commit=1).body
    forged = {k: v for k, v in body.items() if k != "commitment"}
    logchain.append(ledger, LOG_DECISIONS, dept, {**forged, "case_id": "D-2"})
    logchain.anchor_pending(ledger, LOG_DECISIONS, dept)
    # the forged record carries D-1's input under D-2: that is reported too (red team round 22)
    assert {(d.check, d.case_id) for d in replay(ledger, department=dept).discrepancies} == {
        ("commitment_mismatch", "D-2"),
        ("rerun_failed", "D-2"),
    }


def test_a_commitment_only_on_an_approve_rule() -> None:
    document = rule_set("x").document
    document["rules"][0] = {**document["rules"][0], "commitment": {"promise": "P", "within_days": 1, "check": "C"}}
    with pytest.raises(InputError, match="only an approve rule"):
        load_rule_set(document)
    document = rule_set("y").document
    document["rules"][1]["commitment"]["within_days"] = 0
    with pytest.raises(InputError, match="within_days"):
        load_rule_set(document)


# -- inspections ------------------------------------------------------------------------------------------------


def test_draw_is_recomputable_from_the_chain_and_cannot_be_made_early_or_twice(ledger: Any, published: Any) -> None:
    dept, rules = published
    announcement = announced(ledger, dept, rules)
    assert announcement["anchored_block"] < announcement["target_block"]
    with pytest.raises(StateError, match="not mined yet"):  # the department drawing before the target block
        supervision.draw_inspection(ledger, dept, announcement["seq"])
    mine(ledger, announcement["target_block"] - ledger.chain.block_number())
    draw = supervision.draw_inspection(ledger, dept, announcement["seq"])
    block = ledger.chain.w3.eth.get_block(announcement["target_block"])
    assert draw["block_hash"] == "0x" + bytes(block["hash"]).hex()
    assert draw["population"]["count"] == 20 and len(draw["sample"]) == 4  # ceil(0.2 * 20)
    # anyone re-draws it from the published inputs with the documented algorithm
    listing = next(e for e in logchain.entries(ledger, LOG_DECISIONS, dept) if '"inspector_list"' in e.body)
    again = supervision.draw_sample(
        draw["block_hash"], [f"A-{i:03d}" for i in range(20)], "0.2", json.loads(listing.body)["inspectors"]
    )
    assert again == [{k: s[k] for k in ("case_id", "inspector_ref")} for s in draw["sample"]]
    assert len({s["inspector_ref"] for s in draw["sample"]}) == 3  # assigned in turn
    with pytest.raises(StateError, match="already drawn"):  # the department re-drawing until it likes the sample
        supervision.draw_inspection(ledger, dept, announcement["seq"])
    report = replay(ledger, department=dept)
    assert report.ok, report.summary()
    assert report.departments[dept]["supervision"]["draws"] == 1
    assert report.decisions == 20  # supervision records are not counted as decisions


def test_announcement_refuses_a_target_block_already_near_or_past(ledger: Any, published: Any) -> None:
    dept, rules = published
    start = approvals(ledger, dept, rules, 2)
    supervision.register_inspectors(ledger, dept, "inspectors", ["insp-1"])
    head = ledger.chain.block_number()
    for target, match in ((head, "too close"), (head + 1, "too close")):
        with pytest.raises(InputError, match=match):
            supervision.announce_inspection(
                ledger,
                dept,
                since=start,
                until=start + timedelta(hours=1),
                rate="0.5",
                inspectors="inspectors",
                target_block=target,
            )
    for rate in ("0", "1.5", "lots"):
        with pytest.raises(InputError, match="rate"):
            supervision.announce_inspection(
                ledger, dept, since=start, until=start + timedelta(hours=1), rate=rate, inspectors="inspectors"
            )
    with pytest.raises(NotFoundError, match="inspector list"):
        supervision.announce_inspection(
            ledger, dept, since=start, until=start + timedelta(hours=1), rate="0.5", inspectors="nobody"
        )
    assert not [e for e in logchain.entries(ledger, LOG_DECISIONS, dept) if '"inspection_announcement"' in e.body]


def _forge(ledger: Any, dept: str, body: dict[str, Any]) -> int:
    entry = logchain.append(ledger, LOG_DECISIONS, dept, body)
    logchain.anchor_pending(ledger, LOG_DECISIONS, dept)
    return entry.seq


def test_a_department_choosing_its_sample_is_caught_by_replay(ledger: Any, published: Any) -> None:
    dept, rules = published
    announcement = announced(ledger, dept, rules)
    mine(ledger, announcement["target_block"] - ledger.chain.block_number())
    draw = supervision.draw_inspection(ledger, dept, announcement["seq"])
    body = {k: v for k, v in draw.items() if k not in ("seq", "entry_hash")}
    # a second draw, written past the library, that leaves out the case it does not want inspected
    seq = _forge(ledger, dept, {**body, "sample": body["sample"][1:]})
    found = {(d.check, d.seq) for d in replay(ledger, department=dept).discrepancies}
    assert ("draw_repeated", seq) in found and ("draw_mismatch", seq) in found


def test_an_announcement_anchored_after_its_target_block_is_flagged(ledger: Any, published: Any) -> None:
    dept, rules = published
    start = approvals(ledger, dept, rules, 5)
    listing = supervision.register_inspectors(ledger, dept, "inspectors", ["insp-1"])
    target = ledger.chain.block_number() - 1  # a block whose hash the department already knows
    seq = _forge(
        ledger,
        dept,
        {
            "format": supervision.SUPERVISION_FORMAT,
            "kind": "inspection_announcement",
            "period": {"since": start.isoformat(), "until": (start + timedelta(hours=1)).isoformat()},
            "rate": "0.5",
            "inspectors": {
                "seq": listing["seq"],
                "entry_hash": listing["entry_hash"],
                "list_id": "inspectors",
                "digest": listing["digest"],
            },
            "target_block": target,
            "announced_at": start.isoformat(),
        },
    )
    with pytest.raises(StateError, match="not anchored before"):
        supervision.draw_inspection(ledger, dept, seq)
    assert ("announcement_late", seq) in {(d.check, d.seq) for d in replay(ledger, department=dept).discrepancies}


def test_a_draw_written_before_its_target_block_is_flagged(ledger: Any, published: Any) -> None:
    dept, rules = published
    announcement = announced(ledger, dept, rules)
    seq = _forge(
        ledger,
        dept,
        {
            "format": supervision.SUPERVISION_FORMAT,
            "kind": "inspection_draw",
            "announcement": {"seq": announcement["seq"], "entry_hash": announcement["entry_hash"]},
            "target_block": announcement["target_block"],
            "block_hash": "0x" + "ab" * 32,
            "population": {"count": 0, "digest": "0x"},
            "sample": [],
            "drawn_at_block": ledger.chain.block_number(),
            "drawn_at": "2026-01-01T00:00:00Z",
        },
    )
    assert ledger.chain.block_number() < announcement["target_block"]
    assert ("draw_mismatch", seq) in {(d.check, d.seq) for d in replay(ledger, department=dept).discrepancies}


def test_findings_withdrawal_and_credit_close_the_loop(ledger: Any, published: Any) -> None:
    dept, rules = published
    announcement = announced(ledger, dept, rules, n=10, rate="0.3")
    mine(ledger, announcement["target_block"] - ledger.chain.block_number())
    draw = supervision.draw_inspection(ledger, dept, announcement["seq"])
    first, second = draw["sample"][0], draw["sample"][1]
    inspector_of = {decisions.officer_ref(ledger, dept, f"insp-{i}"): f"insp-{i}" for i in (1, 2, 3)}
    wrong = next(i for r, i in inspector_of.items() if r != first["inspector_ref"])
    with pytest.raises(InputError, match="not assigned"):
        supervision.record_finding(ledger, dept, draw["seq"], first["case_id"], inspector=wrong, conforming=True)
    with pytest.raises(InputError, match="not drawn"):
        supervision.record_finding(ledger, dept, draw["seq"], "A-999", inspector=wrong, conforming=True)
    inspector = inspector_of[first["inspector_ref"]]
    assert first["case_id"] in supervision.assigned_cases(ledger, dept, draw["seq"], inspector)
    with pytest.raises(InputError, match="finding code"):
        supervision.record_finding(ledger, dept, draw["seq"], first["case_id"], inspector=inspector, conforming=False)
    bad = supervision.record_finding(
        ledger,
        dept,
        draw["seq"],
        first["case_id"],
        inspector=inspector,
        conforming=False,
        findings=["PREMISES_NOT_AS_DECLARED"],
    )
    good = supervision.record_finding(
        ledger, dept, draw["seq"], second["case_id"], inspector=inspector_of[second["inspector_ref"]], conforming=True
    )
    with pytest.raises(StateError, match="conforming"):
        supervision.withdraw_approval(ledger, dept, good, officer="officer-9", reasons=["X"], legal_basis="ALL-69")
    withdrawn = supervision.withdraw_approval(
        ledger,
        dept,
        bad,
        officer="officer-9",
        reasons=["APPROVAL_OBTAINED_IMPROPERLY"],
        legal_basis="ADMIN-LICENSING-LAW-ART-69",
    )
    assert withdrawn["case_id"] == first["case_id"] and withdrawn["credit_listing"]
    (listing,) = [c for c in supervision.credit_entries(ledger, dept) if c.seq == withdrawn["credit_listing"]]
    assert listing.officer_ref == decisions.officer_ref(ledger, dept, "officer-9")  # listed by who withdrew
    assert listing.basis == {
        "withdrawal": {"seq": withdrawn["seq"], "entry_hash": withdrawn["entry_hash"]},
        "finding": listing.basis["finding"],  # type: ignore[index]
    }
    latest = decisions.find_decision(ledger, dept, first["case_id"])
    assert latest.body["outcome"] == "reject" and latest.body["overrides"]["seq"] == first["decision"]["seq"]
    with pytest.raises(StateError, match="later decision"):
        supervision.withdraw_approval(ledger, dept, bad, officer="officer-9", reasons=["X"], legal_basis="L")
    # the applicant comes back, says it is not listed, and loses the fast track
    applicant = f"applicant-{int(first['case_id'].split('-')[1])}"
    again = decide(ledger, dept, rules, "A-NEW", applicant, claims_blacklisted=False)
    assert again.body["reasons"] == ["APPLICANT_ON_CREDIT_BLACKLIST"]
    logchain.anchor_pending(ledger, LOG_DECISIONS, dept)
    report = replay(ledger, department=dept)
    assert report.ok, report.summary()
    found = supervision.summary(ledger, dept)
    assert [(i["case_id"], i["conforming"]) for i in found["inspections"] if i["finding_seq"]] == [
        (first["case_id"], False),
        (second["case_id"], True),
    ]
    assert [w["case_id"] for w in found["withdrawals"]] == [first["case_id"]]
    assert [c["applicant_ref"] for c in found["credit_list"]] == [latest.body["applicant_ref"]]
    # the auditors' report shows the inspection and its findings (not "not recorded")
    from ledger.services import report as auditors_report

    today = datetime.now(UTC).date()
    data = auditors_report.build_report(ledger, dept, today - timedelta(days=1), today + timedelta(days=1))
    assert data["inspections"]["recorded"] and data["commitments"]["recorded"]
    assert (data["inspections"]["conforming"], data["inspections"]["non_conforming"]) == (1, 1)
    assert {"code": "PREMISES_NOT_AS_DECLARED", "count": 1} in data["inspections"]["findings"]
    page = auditors_report.render_html(data, "en")
    assert "PREMISES_NOT_AS_DECLARED" in page and "not-recorded" not in page
    # an insider deletes the non-conforming finding: the log is missing an anchored entry
    with ledger.engine.begin() as conn:
        conn.execute(
            delete(LogEntry).where(LogEntry.log == LOG_DECISIONS, LogEntry.department_id == dept, LogEntry.seq == bad)
        )
    found_checks = {(d.check, d.seq) for d in replay(ledger, department=dept).discrepancies}
    assert ("missing", bad) in found_checks and ("withdrawal_invalid", withdrawn["seq"]) in found_checks


def test_an_edited_finding_is_caught(ledger: Any, published: Any) -> None:
    dept, rules = published
    announcement = announced(ledger, dept, rules, n=5, rate="0.2")
    mine(ledger, announcement["target_block"] - ledger.chain.block_number())
    draw = supervision.draw_inspection(ledger, dept, announcement["seq"])
    case = draw["sample"][0]
    inspector = next(
        f"insp-{i}" for i in (1, 2, 3) if decisions.officer_ref(ledger, dept, f"insp-{i}") == case["inspector_ref"]
    )
    seq = supervision.record_finding(
        ledger,
        dept,
        draw["seq"],
        case["case_id"],
        inspector=inspector,
        conforming=False,
        findings=["PREMISES_NOT_AS_DECLARED"],
    )
    with ledger.engine.begin() as conn:  # an insider turns the finding into a conforming one
        conn.execute(
            update(LogEntry)
            .where(LogEntry.log == LOG_DECISIONS, LogEntry.department_id == dept, LogEntry.seq == seq)
            .values(body=func.replace(LogEntry.body, '"conforming":false', '"conforming":true'))
        )
    assert ("altered", seq) in {(d.check, d.seq) for d in replay(ledger, department=dept).discrepancies}


# -- the command line ------------------------------------------------------------------------------------------


def test_the_loop_through_the_cli(
    ledger: Any, published: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dept, rules = published
    start = approvals(ledger, dept, rules, 6)
    decide(ledger, dept, rules, "K-CLI", "applicant-k", commit=1)
    run = lambda *a: cli(ledger, monkeypatch, capsys, *a)  # noqa: E731
    code, due, _ = run(
        "supervision", "due", "-d", dept, "--today", (datetime.now(UTC).date() + timedelta(days=40)).isoformat()
    )
    assert code == 0 and [(c["case_id"], c["status"]) for c in due] == [("K-CLI", "overdue")]
    assert run("supervision", "check", "K-CLI", "-d", dept, "--met", "--officer", "o-1")[0] == 0
    assert run("inspect", "inspectors", "-d", dept, "--list-id", "team", "--inspector", "i-1")[0] == 0
    code, _, err = run(
        "inspect",
        "announce",
        "-d",
        dept,
        "--since",
        start.isoformat(),
        "--until",
        (start + timedelta(hours=1)).isoformat(),
        "--rate",
        "2",
        "--inspectors",
        "team",
    )
    assert code == 2 and "rate" in err  # a clear error, nothing recorded
    code, _, err = run(
        "inspect",
        "announce",
        "-d",
        dept,
        "--until",
        (start + timedelta(hours=1)).isoformat(),
        "--rate",
        "0.5",
        "--inspectors",
        "team",
    )
    assert code == 2 and "--since" in err  # the first period has no predecessor to start from
    code, announcement, _ = run(
        "inspect",
        "announce",
        "-d",
        dept,
        "--since",
        start.isoformat(),
        "--until",
        (start + timedelta(hours=1)).isoformat(),
        "--rate",
        "0.5",
        "--inspectors",
        "team",
    )
    assert code == 0
    code, _, err = run("inspect", "draw", str(announcement["seq"]), "-d", dept)
    assert code == 2 and "not mined yet" in err
    mine(ledger, announcement["target_block"] - ledger.chain.block_number())
    code, draw, _ = run("inspect", "draw", str(announcement["seq"]), "-d", dept)
    assert code == 0 and len(draw["sample"]) == 4  # ceil(0.5 * 7)
    case = draw["sample"][0]["case_id"]
    assert run("inspect", "assigned", str(draw["seq"]), "-d", dept, "--inspector", "i-1")[1][0] == case
    code, finding, _ = run(
        "inspect",
        "finding",
        "-d",
        dept,
        "--draw",
        str(draw["seq"]),
        "--case",
        case,
        "--inspector",
        "i-1",
        "--non-conforming",
        "--finding",
        "PREMISES_NOT_AS_DECLARED",
    )
    code, withdrawn, _ = run(
        "inspect",
        "withdraw",
        "-d",
        dept,
        "--finding",
        str(finding["seq"]),
        "--officer",
        "o-1",
        "--reason",
        "APPROVAL_OBTAINED_BY_FALSE_STATEMENT",
        "--legal-basis",
        "ALL-ART-69",
    )
    assert code == 0 and withdrawn["credit_listing"]
    # the next period starts where the last one ended: --since may be left out, and a later one is a gap
    end = supervision.next_period_start(ledger, dept)
    assert end is not None
    code, _, err = run(
        "inspect",
        "announce",
        "-d",
        dept,
        "--since",
        (end + timedelta(minutes=1)).isoformat(),
        "--until",
        (end + timedelta(hours=1)).isoformat(),
        "--rate",
        "0.5",
        "--inspectors",
        "team",
    )
    assert code == 2 and "gap" in err and supervision._time_text(end) in err
    code, following, _ = run(
        "inspect",
        "announce",
        "-d",
        dept,
        "--until",
        (end + timedelta(hours=1)).isoformat(),
        "--rate",
        "0.5",
        "--inspectors",
        "team",
    )
    assert code == 0 and following["period"]["since"] == supervision._time_text(end)
    code, listed, _ = run("supervision", "credit", "list", "-d", dept)
    assert [c["seq"] for c in listed] == [withdrawn["credit_listing"]]
    code, summary, _ = run("supervision", "summary", "-d", dept)
    assert summary["withdrawals"][0]["case_id"] == case and summary["commitments"][0]["status"] == "met"
    assert replay(ledger, department=dept).ok


def test_announcing_until_a_sample_pleases_leaves_undrawn_announcements_flagged(ledger: Any, published: Any) -> None:
    dept, rules = published
    first = announced(ledger, dept, rules, n=4, rate="0.5")
    mine(ledger, first["target_block"] + supervision.DRAW_GRACE_BLOCKS + 1 - ledger.chain.block_number())
    found = {(d.check, d.seq) for d in replay(ledger, department=dept).discrepancies}
    assert found == {("draw_missing", first["seq"])}


def test_a_finding_by_an_inspector_the_draw_did_not_assign_is_flagged(ledger: Any, published: Any) -> None:
    dept, rules = published
    announcement = announced(ledger, dept, rules, n=6, rate="0.5")
    mine(ledger, announcement["target_block"] - ledger.chain.block_number())
    draw = supervision.draw_inspection(ledger, dept, announcement["seq"])
    (drawn,) = [s for s in draw["sample"][:1]]
    not_drawn = next(f"A-{i:03d}" for i in range(6) if f"A-{i:03d}" not in {s["case_id"] for s in draw["sample"]})
    friendly = decisions.officer_ref(ledger, dept, "friendly-inspector")
    base = {
        "format": supervision.SUPERVISION_FORMAT,
        "kind": "inspection_finding",
        "draw": {"seq": draw["seq"], "entry_hash": draw["entry_hash"]},
        "conforming": True,
        "findings": [],
        "inspected_at": "2026-01-01T00:00:00.000Z",
    }
    own = _forge(
        ledger, dept, {**base, "case": drawn["case_id"], "decision": drawn["decision"], "inspector_ref": friendly}
    )
    other = _forge(
        ledger,
        dept,
        {**base, "case": not_drawn, "decision": drawn["decision"], "inspector_ref": drawn["inspector_ref"]},
    )
    found = {(d.check, d.seq) for d in replay(ledger, department=dept).discrepancies}
    assert found == {("finding_invalid", own), ("finding_invalid", other)}
