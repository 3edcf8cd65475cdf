"""Red team round 42r: a department hides a rule-breaking approval behind a lawful erasure (docs/threat-model.md,
round 42r row). Once a permit was lawfully erased, replay and both bundle verifiers did not re-run the approval that
issued it when any of its rules read an erased field, and the shipped permit rules read
``application.business_scope``: every erased permit's approval went unchecked. A department approving an
application its own rules refer (fewer materials than the item requires: a rule that reads no erased field) then
erasing the permit lawfully was reported by nobody. Now the rules reading no erased field are re-run, those reading
one are taken as the record states (its ``fired``), and the outcome is judged from both (written failing first)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.formats.rules import Evaluation, evaluate_known, load_rule_set
from ledger.services import decisions, erasure, evidence, logchain
from ledger.services.replay import replay

from .evidence_support import SCRIPT_MODULE, both
from .permit_support import application, fresh_licence, permit_rules, scope_only_rules

_APPROVE = Evaluation("approve", ("PREPACKAGED_SALES_PERMITTED",), ("prepackaged-sales-approved",))


def _erased_approval(
    ledger: Ledger, tmp: Path, dept: str, rules: Any, tag: str, materials: int = 3
) -> tuple[decisions.Decision, str]:
    """An approval of ``materials`` materials under ``rules`` (published by ``dept``), its permit then lawfully
    erased."""
    licence, holder = fresh_licence(ledger, tmp, tag)
    app = application(f"FBP-{tag}", licence)
    app["application"]["materials_submitted"] = materials
    decision = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    assert decision.body["outcome"] == "approve", decision.body
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    erasure.erase(ledger, decision.body["issued"]["certificate"], basis="no-longer-necessary", by="officer-42")
    return decision, holder


def _rerun(ledger: Ledger, dept: str, case: str, tmp: Path, name: str, holder: str | None) -> tuple[bool, str, str]:
    """(both verifiers passed, the library's rerun detail, the court's) of the decision bundle of ``case``."""
    bundle = evidence.decision_bundle(ledger, dept, case, applicant=holder)
    assert bundle["input"]["erased"], bundle["input"]
    report, code, result = both(ledger, bundle, tmp, name)
    assert result is not None
    theirs = next(c for c in result["checks"] if c["name"] == "rerun")["detail"]
    mine = next(c for c in report.checks if c.name == "rerun").detail
    return report.ok and code == 0 and {c.name for c in report.failed} == set(), mine, theirs


def test_an_approval_its_readable_rules_refuse_is_reported_after_the_permit_is_erased(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dept, tag = fresh_department, fresh_department.lower()
    rules = permit_rules(f"{tag}-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    honest, honest_holder = _erased_approval(ledger, tmp_path, dept, rules, f"{tag}h")
    # the department's engine approves whatever it is given: one material of the three the item requires, which
    # the rule materials-incomplete (reading no erased field) refers to an officer
    monkeypatch.setattr(decisions, "evaluate", lambda rule_set, view: _APPROVE)
    forged, holder = _erased_approval(ledger, tmp_path, dept, rules, f"{tag}f", materials=1)
    monkeypatch.undo()

    found = {(d.check, d.seq): d.detail for d in replay(ledger, department=dept).discrepancies}
    assert set(found) == {("outcome_mismatch", forged.seq)}, found
    assert "'refer'" in found["outcome_mismatch", forged.seq], found
    # the honest erased approval: its readable rules re-run, the rest taken as recorded, no discrepancy
    ok, mine, theirs = _rerun(ledger, dept, honest.body["case_id"], tmp_path, "honest.json", honest_holder)
    assert ok, (mine, theirs)
    for detail in (mine, theirs):
        assert detail.startswith("lawfully erased in part") and "prepackaged-sales-approved" in detail, detail
    ok, mine, theirs = _rerun(ledger, dept, forged.body["case_id"], tmp_path, "forged.json", holder)
    assert not ok
    for detail in (mine, theirs):
        assert "outcome" in detail and "'refer'" in detail, detail
    # without the applicant's identity the rules reading holder and no erased field cannot be re-run: the erasure
    # reaches the application's typed fields, not the holder fact (red team round 47: taken as recorded, they passed
    # a forged approval citing a licence its applicant does not hold)
    ok, mine, theirs = _rerun(ledger, dept, forged.body["case_id"], tmp_path, "forged-anonymous.json", None)
    assert not ok and "identity is not disclosed" in mine and "identity is not disclosed" in theirs, (mine, theirs)


def test_a_record_misstating_a_readable_rule_is_reported(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record's ``fired`` is what the rules reading an erased field are taken as: one naming a readable rule
    that did not fire (to make an outcome its engine would not give look consistent) is reported too."""
    dept, tag = fresh_department, fresh_department.lower()
    rules = permit_rules(f"{tag}-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    said = Evaluation(
        "approve", ("PREPACKAGED_SALES_PERMITTED",), ("applicant-blacklisted", "prepackaged-sales-approved")
    )
    monkeypatch.setattr(decisions, "evaluate", lambda rule_set, view: said)
    forged, holder = _erased_approval(ledger, tmp_path, dept, rules, tag)
    monkeypatch.undo()
    found = {(d.check, d.seq): d.detail for d in replay(ledger, department=dept).discrepancies}
    # applicant-blacklisted (refer, reading no erased field) said fired while it did not: the record is not what its
    # rules give, even though the outcome they give is the one it states
    assert set(found) == {("reasons_mismatch", forged.seq)}, found
    assert "applicant-blacklisted did not fire" in found["reasons_mismatch", forged.seq], found
    ok, mine, theirs = _rerun(ledger, dept, forged.body["case_id"], tmp_path, "misstated.json", holder)
    assert not ok and "applicant-blacklisted" in mine and "applicant-blacklisted" in theirs, (mine, theirs)


def test_a_rule_set_all_of_whose_rules_read_an_erased_field_is_counted_not_re_run(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    dept, tag = fresh_department, fresh_department.lower()
    rules = scope_only_rules(f"{tag}-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    decision, holder = _erased_approval(ledger, tmp_path, dept, rules, tag, materials=1)
    report = replay(ledger, department=dept)
    assert report.ok, [d.__dict__ for d in report.discrepancies]
    assert report.to_json()["inputs_erased"] == 1
    ok, mine, theirs = _rerun(ledger, dept, decision.body["case_id"], tmp_path, "all.json", holder)
    assert ok, (mine, theirs)
    for detail in (mine, theirs):
        assert detail.startswith("lawfully erased: the rule set reads"), detail
    assert json.dumps(decision.body["fired"]) == '["scope-ok"]'


def test_both_engines_combine_rules_taken_as_recorded_with_the_engines_precedence() -> None:
    """The library's engine and the court's verifier's give the same outcome, reasons and fired rules for every
    choice of which rules are taken as given, and how: reject over refer over approve over the default."""
    document = permit_rules("engines").document
    data = {
        "service_item": document["service_item"],
        "item": {"onsite_reason": 0, "materials_required": 3},
        "application": {"online": True, "materials_submitted": 1, "business_scope": "prepackaged-food-sales"},
        "applicant": {"blacklisted": False},
        "certificates": [],
    }
    ids = [r["id"] for r in document["rules"]]
    rule_set = load_rule_set(document)
    for taken in itertools.chain.from_iterable(itertools.combinations(ids, n) for n in (1, 2, len(ids) - 1)):
        for values in itertools.product((False, True), repeat=len(taken)):
            given = dict(zip(taken, values, strict=True))
            mine = evaluate_known(rule_set, json.loads(json.dumps(data)), given)
            outcome, reasons, _, fired = SCRIPT_MODULE.run_rules_given(
                json.loads(json.dumps(document)), json.loads(json.dumps(data)), given
            )
            assert (mine.outcome, list(mine.reasons), list(mine.fired)) == (outcome, reasons, fired), given
    # nothing given: the engine itself (materials-incomplete and business-licence-not-verified refer)
    assert evaluate_known(rule_set, data, {}).outcome == "refer"
    assert evaluate_known(rule_set, data, {"business-licence-revoked": True}).outcome == "reject"
