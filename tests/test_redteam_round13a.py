"""Red team, round 13a: an applicant lying in their input, a department acting outside its authority, an officer
overriding outside the rules.

Holes (each test failed before its fix):

- a new permit for an approval an inspection withdrew: an officer approves a case the rules never saw (issuing its
  permit), a random inspection finds it non-conforming and the department withdraws it (``ledger inspect
  withdraw``, which revokes the permit); the same case is then sent to the rules, which decided it - a case only an
  officer had decided could still be decided automatically once, unless its latest decision approved it - and
  their approval issued a fresh permit for the withdrawn case (with ``--credit-days 0``, or once the listing ended,
  nothing in the rules' view told them of the withdrawal). An officer's own refusal of an approved case was undone
  the same way (``ledger/services/decisions.py``: the rules do not decide a case any decision of which approved
  it; replay reports ``decided_after_approval``);
- an officer shielding an approval from the inspection that found it non-conforming: after the finding, an officer
  confirms the approval (an approving override, which issues nothing and keeps the permit live); ``ledger inspect
  withdraw`` then refused for good ("the approval is no longer in force") although the approval and its permit
  stood unchanged (``ledger/services/supervision.py``: an approval is in force while every later decision of its
  case approves it, and the withdrawal overrides the latest of them; replay's ``withdrawal_invalid`` accepts that
  and nothing past a refusal);
- an officer's decision passing over the case's latest decision: an override could name any earlier decision of the
  case, so an officer re-approving a case a refusal had withdrawn could record it as replacing the withdrawn approval
  (the override chain an evidence bundle shows then skips the refusal), and an officer's decision whose look at the
  case came before the rules decided it (the same instant, another process) was recorded as the case's first
  decision: a refusal withdrew nothing, the permit the rules had just issued stayed live beside it
  (``ledger/services/decisions.py``: an officer's decision overrides the case's latest decision, asked again inside
  the recording transaction; replay reports ``override_invalid`` for one passing over a later decision);
- an approval withdrawn twice: ``ledger inspect withdraw`` read the case's decisions, then appended the withdrawal
  without asking again, so two runs on the same finding at once (or a decision recorded in between) each recorded a
  withdrawal, the second overriding a decision that no longer stood and listing the applicant on the credit list a
  second time (``ledger/services/supervision.py``: the withdrawal's recording transaction asks that the decision it
  overrides is still the case's latest).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.services import decisions, logchain, supervision
from ledger.services.replay import replay

from .permit_support import SERVICE_ITEM as ITEM
from .permit_support import application as permit_application
from .permit_support import (
    fresh_licence,
    inspected,
    live_permits,
    officer_decision,
    published_permit_rules,
    replay_checks,
)


def _issued(ledger: Ledger, dept: str, case: str) -> list[str]:
    return [
        d.body["issued"]["certificate"]
        for d in decisions.find_decisions(ledger, dept, case)
        if isinstance(d.body.get("issued"), dict)
    ]


def _withdraw(ledger: Ledger, dept: str, finding: int, credit_days: int = 0) -> dict[str, Any]:
    return supervision.withdraw_approval(
        ledger,
        dept,
        finding,
        officer="officer-13a",
        reasons=["APPROVAL_OBTAINED_IMPROPERLY"],
        legal_basis="ART-69",
        credit_days=credit_days,
    )


# --------------------------------------------------------------------------- the rules after a withdrawal


def test_the_rules_do_not_decide_again_a_case_whose_approval_was_withdrawn(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dept = fresh_department
    since = datetime.now(UTC) - timedelta(minutes=1)
    rules = published_permit_rules(ledger, dept, "withdrawn")
    licence, identity = fresh_licence(ledger, tmp_path, "withdrawn")
    app = permit_application("FBP-WD-1", licence)
    # an officer approves the case at the counter (the rules never saw it): its permit is issued
    officer_decision(
        ledger, dept, "FBP-WD-1", identity, "approve", "OFFICER_CHECKED_ON_SITE", decision_input=app, rule_set=rules
    )
    (permit,) = _issued(ledger, dept, "FBP-WD-1")
    # a random inspection finds it non-conforming; the department withdraws it (no credit listing) and the permit
    # is revoked
    withdrawal = _withdraw(ledger, dept, inspected(ledger, dept, since, "FBP-WD-1"))
    assert live_permits(ledger, [permit]) == []
    # the same case sent to the rules: they would approve it and issue a fresh permit for the withdrawn approval
    with pytest.raises(StateError, match=rf"withdrawn.* decision {withdrawal['seq']} "):
        decisions.decide(ledger, dept, "FBP-WD-1", ITEM, app, rules, applicant_ref=identity)
    with pytest.raises(StateError, match=rf"withdrawn.* decision {withdrawal['seq']} "):
        decisions.decide_many(ledger, dept, [{**app, "applicant_ref": identity}], {"*": rules})
    with pytest.raises(StateError, match=rf"withdrawn.* decision {withdrawal['seq']} "):
        decisions.decide_once(ledger, dept, "FBP-WD-1", ITEM, app, rules.hex_digest, applicant_ref=identity)
    assert _issued(ledger, dept, "FBP-WD-1") == [permit]
    # an officer's own refusal of an approved case is not undone by the rules either
    app2 = permit_application("FBP-WD-2", licence)
    officer_decision(
        ledger, dept, "FBP-WD-2", identity, "approve", "OFFICER_CHECKED_ON_SITE", decision_input=app2, rule_set=rules
    )
    refusal = officer_decision(
        ledger, dept, "FBP-WD-2", identity, "reject", "PREMISES_NOT_AS_DECLARED", overrides="FBP-WD-2"
    )
    assert refusal.body["withdraws"] == _issued(ledger, dept, "FBP-WD-2")
    with pytest.raises(StateError, match=rf"withdrawn.* decision {refusal.seq} "):
        decisions.decide(ledger, dept, "FBP-WD-2", ITEM, app2, rules, applicant_ref=identity)
    # a case an officer only refused (never approved) is still the rules' to decide once
    app3 = permit_application("FBP-WD-3", licence)
    officer_decision(ledger, dept, "FBP-WD-3", identity, "refer", "MATERIALS_INCOMPLETE")
    assert decisions.decide(ledger, dept, "FBP-WD-3", ITEM, app3, rules, applicant_ref=identity).body["outcome"] == (
        "approve"
    )
    assert replay_checks(ledger, dept) == set()
    # written past the library (an older ledger): the rules' approval of the withdrawn case is reported
    monkeypatch.setattr(decisions, "_decided_automatically", lambda *args, **kw: {})
    again = decisions.decide(ledger, dept, "FBP-WD-1", ITEM, app, rules, applicant_ref=identity)
    assert again.body["outcome"] == "approve" and live_permits(ledger, _issued(ledger, dept, "FBP-WD-1")) == [
        again.body["issued"]["certificate"]
    ]
    monkeypatch.undo()
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    found = {d.check: d for d in replay(ledger, department=dept).discrepancies}
    assert set(found) == {"decided_after_approval"}, found
    assert found["decided_after_approval"].seq == again.seq
    assert f"decision {withdrawal['seq']}" in found["decided_after_approval"].detail


# --------------------------------------------------------------------------- a confirmation against an inspection


def test_an_officer_confirming_an_inspected_approval_does_not_shield_it_from_withdrawal(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    dept = fresh_department
    since = datetime.now(UTC) - timedelta(minutes=1)
    rules = published_permit_rules(ledger, dept, "shield")
    licence, identity = fresh_licence(ledger, tmp_path, "shield")
    apps = {case: permit_application(case, licence) for case in ("FBP-SH-1", "FBP-SH-2")}
    for case, app in apps.items():
        assert (
            decisions.decide(ledger, dept, case, ITEM, app, rules, applicant_ref=identity).body["outcome"] == "approve"
        )
    (permit,) = _issued(ledger, dept, "FBP-SH-1")
    finding = inspected(ledger, dept, since, "FBP-SH-1", "FBP-SH-2")
    # the inspection found FBP-SH-1 non-conforming; an officer confirms the approval (issuing nothing: the permit
    # stands), which made every withdrawal on the finding refused
    confirm = officer_decision(
        ledger, dept, "FBP-SH-1", identity, "approve", "OFFICER_CONFIRMED", overrides="FBP-SH-1", rule_set=rules
    )
    assert "issued" not in confirm.body and live_permits(ledger, [permit]) == [permit]
    withdrawal = _withdraw(ledger, dept, finding, credit_days=365)
    assert withdrawal["overrides"]["seq"] == confirm.seq
    assert decisions.find_decision(ledger, dept, "FBP-SH-1").body["withdraws"] == [permit]
    assert live_permits(ledger, [permit]) == []
    assert withdrawal["credit_listing"] is not None
    # an approval ended by a refusal and granted again is a new approval, which the finding did not inspect
    refusal = officer_decision(ledger, dept, "FBP-SH-2", identity, "reject", "OFFICER_REVIEW", overrides="FBP-SH-2")
    again = officer_decision(
        ledger,
        dept,
        "FBP-SH-2",
        identity,
        "approve",
        "OFFICER_REVIEW",
        overrides="FBP-SH-2",
        rule_set=rules,
        decision_input=apps["FBP-SH-2"],
    )
    with pytest.raises(StateError, match=rf"later decision \(#{refusal.seq}, reject\).* no longer in force"):
        _withdraw(ledger, dept, finding + 1)
    assert live_permits(ledger, _issued(ledger, dept, "FBP-SH-2")) == [again.body["issued"]["certificate"]]
    assert replay_checks(ledger, dept) == set()
    # written past the library, a withdrawal on that finding reaching past the refusal is reported
    forged = {
        **{k: v for k, v in decisions.find_decision(ledger, dept, "FBP-SH-1").body.items() if k != "withdraws"},
        "case_id": "FBP-SH-2",
        "overrides": {"seq": again.seq, "entry_hash": again.entry_hash},
        "withdrawal": {
            "finding": {"seq": finding + 1, "entry_hash": _entry_hash(ledger, dept, finding + 1)},
            "legal_basis": "ART-69",
        },
    }
    entry = logchain.append(ledger, logchain.LOG_DECISIONS, dept, forged)
    assert ("withdrawal_invalid", entry.seq) in replay_checks(ledger, dept)


def _entry_hash(ledger: Ledger, dept: str, seq: int) -> str:
    (entry,) = [e for e in logchain.entries(ledger, logchain.LOG_DECISIONS, dept) if e.seq == seq]
    return entry.entry_hash


# --------------------------------------------------------------------------- an override of the latest decision only


def test_an_officers_decision_overrides_the_cases_latest_decision_and_no_older_one(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "latest")
    licence, identity = fresh_licence(ledger, tmp_path, "latest")
    app = permit_application("FBP-OV-1", licence)
    first = decisions.decide(ledger, dept, "FBP-OV-1", ITEM, app, rules, applicant_ref=identity)
    refusal = officer_decision(
        ledger, dept, "FBP-OV-1", identity, "reject", "PREMISES_NOT_AS_DECLARED", overrides=first.seq
    )
    assert refusal.body["withdraws"] == [first.body["issued"]["certificate"]]
    # another officer approves "overriding" the approval the refusal withdrew: the record would pass the refusal over
    with pytest.raises(StateError, match=rf"decision {first.seq} is not the latest.* decision {refusal.seq} "):
        officer_decision(
            ledger, dept, "FBP-OV-1", identity, "approve", "OK", overrides=first.seq, rule_set=rules, decision_input=app
        )
    assert [d.seq for d in decisions.find_decisions(ledger, dept, "FBP-OV-1")] == [first.seq, refusal.seq]
    # the rules approve a case (issuing its permit) after an officer looked at it and before the officer's refusal is
    # recorded: the refusal would be the case's first decision, withdrawing nothing
    app2 = permit_application("FBP-OV-2", licence)
    approval = decisions.decide(ledger, dept, "FBP-OV-2", ITEM, app2, rules, applicant_ref=identity)
    real = decisions.find_decisions
    monkeypatch.setattr(  # the officer's look, outside the recording transaction, came before the rules' decision
        decisions, "find_decisions", lambda *a, conn=None, **k: real(*a, conn=conn, **k) if conn is not None else []
    )
    with pytest.raises(StateError, match=rf"decided meanwhile: decision {approval.seq} "):
        officer_decision(ledger, dept, "FBP-OV-2", identity, "reject", "PREMISES_NOT_AS_DECLARED")
    monkeypatch.undo()
    assert [d.seq for d in decisions.find_decisions(ledger, dept, "FBP-OV-2")] == [approval.seq]
    refused = officer_decision(
        ledger, dept, "FBP-OV-2", identity, "reject", "PREMISES_NOT_AS_DECLARED", overrides="FBP-OV-2"
    )
    assert refused.body["withdraws"] == [approval.body["issued"]["certificate"]]
    assert live_permits(ledger, _issued(ledger, dept, "FBP-OV-2")) == []
    assert replay_checks(ledger, dept) == set()
    # written past the library: an override naming the withdrawn approval, not the refusal after it
    forged = {
        **refusal.body,
        "outcome": "approve",
        "reasons": ["OK"],
        "overrides": {"seq": first.seq, "entry_hash": first.entry_hash},
    }
    forged.pop("withdraws")
    entry = logchain.append(ledger, logchain.LOG_DECISIONS, dept, forged)
    found = {(d.check, d.seq): d.detail for d in replay(ledger, department=dept).discrepancies}
    assert f"decision {refusal.seq} of the case came after it" in found[("override_invalid", entry.seq)], found


# --------------------------------------------------------------------------- one withdrawal per approval


def test_two_withdrawals_on_one_finding_at_once_record_one(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dept = fresh_department
    since = datetime.now(UTC) - timedelta(minutes=1)
    rules = published_permit_rules(ledger, dept, "twice-withdrawn")
    licence, identity = fresh_licence(ledger, tmp_path, "twice-withdrawn")
    app = permit_application("FBP-WW-1", licence)
    decisions.decide(ledger, dept, "FBP-WW-1", ITEM, app, rules, applicant_ref=identity)
    finding = inspected(ledger, dept, since, "FBP-WW-1")
    # the second run read the log before the first recorded its withdrawal
    stale = supervision._log(ledger, dept)
    first = _withdraw(ledger, dept, finding, credit_days=365)
    real = supervision._log
    monkeypatch.setattr(supervision, "_log", lambda *a, **k: stale if not a[2:] and not k else real(*a, **k))
    with pytest.raises(StateError, match=rf"decided meanwhile: decision {first['seq']} "):
        _withdraw(ledger, dept, finding, credit_days=365)
    monkeypatch.undo()
    assert [d.body["outcome"] for d in decisions.find_decisions(ledger, dept, "FBP-WW-1")] == ["approve", "reject"]
    assert len(supervision.credit_entries(ledger, dept)) == 1
    assert replay_checks(ledger, dept) == set()
