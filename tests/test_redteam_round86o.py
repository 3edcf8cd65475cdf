"""Red team, round 86o (service items, officers' decisions without a rule set): a department deciding, by an officer's
hand, an item the council never granted it or revoked.

Hole (each attack test failed before its fix): round 86s judged the item a decision's *rule set* serves. An officer's
decision that applies no rule set names the item it decides all the same (``service_item``, the application's: it is
in the hash-chained entry, the anchored root and every bundle of it), and nothing held it to the council's grants:
the library recorded it, replay passed it and both evidence verifiers said "no rule set was applied, so no service
item was decided under one". Adversary: a department acting outside its authority.

Fixed: the item an officer's decision without a rule set names is the item it decides, so the department must hold
that item, or every item ("*": a department holding it decides any item by a screen whose catalogue it writes, so
its officers may too; docs/governance.md) - at recording (``record_human_decision``, StateError naming ``ledger
council propose grant-item``), in replay (``service_item_not_held``) and in both verifiers (``service_item_held``),
judged at the block that anchored the decision's log batch as for a rule set's item. A withdrawal after a supervision
finding takes back the department's own approval and is not judged.
"""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.onchain.ids import ROLE_APPROVER
from ledger.services import decisions, evidence, logchain
from ledger.services.departments import Council
from ledger.services.replay import replay

from .evidence_support import both
from .permit_support import inspected, withdrawn

_codes = itertools.count(1)
ITEM = "440300-R86O-0001"  # the item the council grants the department
OTHER = "440300-R86O-0002"  # one it never grants it


def _welfare(ledger: Ledger, tag: str, *more: str) -> str:
    """A newly registered approver department holding ITEM (and ``more``), not OTHER nor every item ("*")."""
    code = f"W86-{os.getpid() % 1000}-{tag}{next(_codes)}"
    Council(ledger).register(code, f"Welfare {code}", ROLE_APPROVER, items=(ITEM, *more))
    return code


def _officer(ledger: Ledger, code: str, case: str, item: str, applicant: str) -> decisions.Decision:
    return decisions.record_human_decision(
        ledger,
        code,
        case,
        item,
        officer="officer-86o",
        outcome="approve",
        reasons=["OFFICER_CHECKED_ON_SITE"],
        applicant_ref=applicant,
    )


@pytest.mark.parametrize("revoked", [False, True], ids=["never-granted", "revoked"])
def test_the_library_refuses_an_officers_decision_without_rules_on_an_item_not_held(
    ledger: Ledger, revoked: bool
) -> None:
    """Adversary: the department recording an officer's decision, without a rule set, for an item the council never
    granted it (holding another item) or revoked: refused before anything is recorded."""
    code = _welfare(ledger, "r" if revoked else "n")
    item = ITEM if revoked else OTHER
    if revoked:
        Council(ledger).revoke_items(code, [ITEM])
    case = f"C-R86O-{code}"
    with pytest.raises(StateError, match=r"grant-item") as refused:
        _officer(ledger, code, case, item, "AB1234571")
    assert repr(item) in str(refused.value), refused.value
    assert decisions.find_decisions(ledger, code, case) == []


def test_an_officers_decision_without_rules_on_an_item_not_held_fails_replay_and_both_verifiers(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: the department's own copy of the library (the refusal taken out) recording an officer's decision
    without a rule set on an item it never held and anchoring its log with its own key. Replay reports it
    (``service_item_not_held``, naming the item and the anchoring block) and both verifiers fail
    ``service_item_held``; the same department's decision of the item it holds passes everything."""
    code = _welfare(ledger, "v")
    _officer(ledger, code, "C-R86O-HELD", ITEM, "AB1234572")
    monkeypatch.setattr(decisions, "require_service_item", lambda *_a, **_k: None)  # the department's own copy
    _officer(ledger, code, "C-R86O-OUT", OTHER, "AB1234573")
    monkeypatch.undo()
    assert logchain.anchor_pending(ledger, decisions.LOG_DECISIONS, code)
    anchored = logchain.chain_ranges(ledger, decisions.LOG_DECISIONS, code)[-1].block_number

    discrepancies = replay(ledger, department=code).discrepancies
    found = [(d.check, d.case_id) for d in discrepancies]
    assert found == [("service_item_not_held", "C-R86O-OUT")], found
    detail = discrepancies[0].detail
    assert f"block {anchored}" in detail and repr(OTHER) in detail and "officer" in detail, detail

    outside = evidence.decision_bundle(ledger, code, "C-R86O-OUT")
    report, exit_code, result = both(ledger, outside, tmp_path, "outside.json")
    assert exit_code == 1 and not report.ok
    assert {c.name for c in report.failed} == {"service_item_held"}, report.to_json()
    assert result is not None
    court = next(c for c in result["checks"] if c["name"] == "service_item_held")["detail"]
    assert court == report.check("service_item_held").detail, (court, report.check("service_item_held").detail)
    assert f"block {anchored}" in court and repr(OTHER) in court, court

    inside = evidence.decision_bundle(ledger, code, "C-R86O-HELD")
    report, exit_code, result = both(ledger, inside, tmp_path, "inside.json")
    assert exit_code == 0 and report.ok, report.to_json()
    assert repr(ITEM) in report.check("service_item_held").detail, report.check("service_item_held").detail


def test_an_officers_override_after_the_item_was_revoked_is_refused_and_reported(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An override is an officer's decision of the case's item like any other: after the council revoked the item,
    the library refuses it, and one recorded past the library and anchored is reported; the decision anchored while
    the item was held stays valid."""
    code = _welfare(ledger, "o")
    first = _officer(ledger, code, "C-R86O-OVR", ITEM, "AB1234574")
    logchain.anchor_pending(ledger, decisions.LOG_DECISIONS, code)
    Council(ledger).revoke_items(code, [ITEM])

    def override() -> decisions.Decision:
        return decisions.record_human_decision(
            ledger,
            code,
            "C-R86O-OVR",
            ITEM,
            officer="officer-86o",
            outcome="reject",
            reasons=["OFFICER_WITHDREW_APPROVAL"],
            applicant_ref="AB1234574",
            overrides=first.seq,
        )

    with pytest.raises(StateError, match=r"grant-item"):
        override()
    monkeypatch.setattr(decisions, "require_service_item", lambda *_a, **_k: None)
    second = override()
    monkeypatch.undo()
    logchain.anchor_pending(ledger, decisions.LOG_DECISIONS, code)
    found = [(d.check, d.seq) for d in replay(ledger, department=code).discrepancies]
    assert found == [("service_item_not_held", second.seq)], found


def test_a_withdrawal_after_a_finding_takes_back_an_approval_after_the_item_was_revoked(
    ledger: Ledger, tmp_path: Path
) -> None:
    """Not an attack: a department whose item the council revoked withdraws, after a supervision finding, an approval
    it gave while it held the item (``supervision.withdraw_approval``). The withdrawal takes back its own word on the
    finding's authority, so its item is not judged against the grants: replay and both verifiers pass it (the
    approval, anchored while the item was held, too)."""
    code = _welfare(ledger, "w")
    since = datetime.now(UTC) - timedelta(minutes=1)
    _officer(ledger, code, "C-R86O-WD", ITEM, "AB1234575")
    logchain.anchor_pending(ledger, decisions.LOG_DECISIONS, code)
    finding = inspected(ledger, code, since, "C-R86O-WD")
    Council(ledger).revoke_items(code, [ITEM])
    withdrawn(ledger, code, finding)
    logchain.anchor_pending(ledger, decisions.LOG_DECISIONS, code)
    assert [d.check for d in replay(ledger, department=code).discrepancies] == []
    bundle = evidence.decision_bundle(ledger, code, "C-R86O-WD")
    assert bundle["decision"]["body"].get("withdrawal"), bundle["decision"]["body"]
    report, exit_code, _ = both(ledger, bundle, tmp_path, "withdrawal.json")
    assert exit_code == 0 and report.ok, report.to_json()
    assert "supervision finding" in report.check("service_item_held").detail


def test_a_department_holding_every_item_decides_any_item_by_an_officers_hand(ledger: Ledger, tmp_path: Path) -> None:
    """Not an attack: a department the council made responsible for every item ("*") decides any item by a screen
    whose catalogue it writes, so an officer's decision of OTHER without a rule set is recorded, replays clean and
    passes both verifiers, which say it held every item; once "*" is revoked it is refused."""
    code = _welfare(ledger, "s", "*")
    _officer(ledger, code, "C-R86O-ANY", OTHER, "AB1234576")
    logchain.anchor_pending(ledger, decisions.LOG_DECISIONS, code)
    assert [d.check for d in replay(ledger, department=code).discrepancies] == []
    report, exit_code, _ = both(ledger, evidence.decision_bundle(ledger, code, "C-R86O-ANY"), tmp_path, "any.json")
    assert exit_code == 0 and report.ok, report.to_json()
    assert "held service item '*'" in report.check("service_item_held").detail
    Council(ledger).revoke_items(code, ["*"])
    with pytest.raises(StateError, match=r"grant-item"):
        _officer(ledger, code, "C-R86O-ANY2", OTHER, "AB1234577")
