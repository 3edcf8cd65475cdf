"""Red team round 44 against the re-run in part of an approval whose permit was lawfully erased (round 42r): the
rules reading an erased field are taken as the record's ``fired`` states. The record's ``fired`` was read as a set:
a department writing it past the library could name a rule twice, a rule the rule set does not have (a look-alike
of one it has), or a number, and replay and both bundle verifiers reported the approval re-run "as recorded"; the
record is now held to be exactly the list the engine gives. The same held in a decision re-run whole (its
``fired`` was never compared), and a decision all of whose rules read an erased field was not held even to its own
``fired`` (written failing first)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.formats.rules import Evaluation
from ledger.services import decisions, erasure, evidence, logchain
from ledger.services.replay import replay

from .evidence_support import both
from .permit_support import application, fresh_licence, permit_rules, scope_only_rules

_APPROVED = "prepackaged-sales-approved"


def _forged(
    ledger: Ledger, tmp: Path, dept: str, rules: Any, tag: str, fired: tuple[Any, ...]
) -> tuple[decisions.Decision, str]:
    """An approval (three materials: every readable rule agrees) whose record states ``fired``, its permit then
    lawfully erased."""
    licence, holder = fresh_licence(ledger, tmp, tag)
    app = application(f"FBP-{tag}", licence)
    app["application"]["materials_submitted"] = 3
    said = Evaluation("approve", ("PREPACKAGED_SALES_PERMITTED",), fired)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decisions, "evaluate", lambda rule_set, view: said)
        decision = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    assert decision.body["fired"] == list(fired), decision.body
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    erasure.erase(ledger, decision.body["issued"]["certificate"], basis="no-longer-necessary", by="officer-44")
    return decision, holder


def test_a_fired_list_naming_a_rule_twice_one_it_lacks_or_a_number_is_reported(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    dept, tag = fresh_department, fresh_department.lower()
    rules = permit_rules(f"{tag}-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    forged = {
        "twice": _forged(ledger, tmp_path, dept, rules, f"{tag}t", (_APPROVED, _APPROVED)),
        # a look-alike of a rule the set has (Cyrillic a): no rule of the set, read by a person as one
        "lacks": _forged(ledger, tmp_path, dept, rules, f"{tag}l", (_APPROVED, "materi\u0430ls-incomplete")),
        "number": _forged(ledger, tmp_path, dept, rules, f"{tag}n", (_APPROVED, 7)),
    }
    found = {(d.check, d.seq): d.detail for d in replay(ledger, department=dept).discrepancies}
    assert set(found) == {("reasons_mismatch", d.seq) for d, _ in forged.values()}, found
    for name, (decision, holder) in forged.items():
        assert "fired" in found["reasons_mismatch", decision.seq], found
        bundle = evidence.decision_bundle(ledger, dept, decision.body["case_id"], applicant=holder)
        assert bundle["input"]["erased"], bundle["input"]
        report, code, result = both(ledger, bundle, tmp_path, f"{name}.json")
        assert result is not None and not report.ok and code != 0, name
        mine = next(c for c in report.checks if c.name == "rerun").detail
        theirs = next(c for c in result["checks"] if c["name"] == "rerun")["detail"]
        for detail in (mine, theirs):
            assert detail.startswith("fired:") and _APPROVED in detail, (name, detail)


def test_both_verifiers_take_the_same_rules_as_recorded_and_read_fired_alike() -> None:
    """A differential over generated rule sets, erasures and records: which rules the library and the court's
    verifier take as recorded (a path and its prefix-named neighbour, a parent, a part, ``exists``, ``ref``, nesting
    in ``not``/``any``/``all``, ``holder``), the outcome they give, and what they call misstated in ``fired``."""
    import itertools
    import json
    import random

    from ledger.formats.rules import evaluate_known, load_rule_set
    from ledger.services._decision_rerun import _as_recorded, _misstated, _unknown_rules

    from .evidence_support import SCRIPT_MODULE

    base = permit_rules("differential").document
    leaves = [
        {"field": "application.scope", "op": "==", "value": "x"},
        {"field": "application.scope_extra", "op": "==", "value": "x"},
        {"field": "application.scope.detail", "op": "exists", "value": True},
        {"field": "application.materials_submitted", "op": ">=", "value": 2},
        {"field": "application.online", "op": "==", "ref": "application.scope"},
        {"certificate": {"type": "business-licence", "holder": True}},
        {"field": "application.scope_extra.part", "op": "exists", "value": True},
    ]
    outcomes = [
        ("approve", "PREPACKAGED_SALES_PERMITTED"),
        ("refer", "ONSITE_REASON_BLOCKS_AUTO"),
        ("reject", "BUSINESS_LICENCE_REVOKED"),
    ]
    rng = random.Random(44)
    data = {
        "service_item": base["service_item"],
        "item": {"onsite_reason": 0, "materials_required": 3},
        "application": {"online": True, "materials_submitted": 3, "scope_extra": "x"},
        "applicant": {"blacklisted": False},
        "certificates": [],
    }
    gones = [{"application.scope"}, {"application.scope_extra"}, {"application.scope.detail"}, {"application.other"}]
    checked = 0
    for n in range(40):
        rules = []
        for i in range(4):
            when = rng.choice(leaves)
            for _ in range(rng.randrange(3)):
                wrap = rng.choice(("not", "any", "all"))
                when = {"not": when} if wrap == "not" else {wrap: [when, rng.choice(leaves)]}
            outcome, reason = rng.choice(outcomes)
            rules.append({"id": f"r{n}-{i}", "outcome": outcome, "reason": reason, "when": when})
        document = {**base, "rules": rules, "reason_texts": None}
        document = {k: v for k, v in document.items() if v is not None}
        rule_set = load_rule_set(document)
        for gone, holder_unknown in itertools.product(gones, (False, True)):
            mine = _unknown_rules(document, gone, holder_unknown)
            theirs = SCRIPT_MODULE.unknown_rules(json.loads(json.dumps(document)), set(gone), holder_unknown)
            assert mine == theirs, (rules, gone)
            ids = [r["id"] for r in rules]
            for recorded in ([ids[0]], [ids[0], ids[0]], [ids[-1], ids[0]], [ids[0], 7], ["R" + ids[0][1:]], [], None):
                body = {"fired": recorded}
                result = evaluate_known(rule_set, json.loads(json.dumps(data)), _as_recorded(mine, body))
                said = set(map(str, recorded)) if isinstance(recorded, list) else set()
                outcome, reasons, _, fired = SCRIPT_MODULE.run_rules_given(
                    json.loads(json.dumps(document)), json.loads(json.dumps(data)), {i: i in said for i in theirs}
                )
                assert (result.outcome, list(result.reasons), list(result.fired)) == (outcome, reasons, fired)
                wrong = _misstated(rule_set, result, body, mine)
                assert bool(wrong) == bool(SCRIPT_MODULE.misstated_fired(document, theirs, recorded, fired))
                assert bool(wrong) == (recorded != fired), (recorded, fired, wrong)
                checked += 1
    # a path is not its prefix-named neighbour's: erasing application.scope leaves application.scope_extra readable
    only_extra = {
        "rules": [{"id": "e", "when": leaves[1]}, {"id": "s", "when": leaves[0]}, {"id": "d", "when": leaves[2]}]
    }
    assert _unknown_rules(only_extra, {"application.scope"}) == ["s", "d"]
    assert SCRIPT_MODULE.unknown_rules(only_extra, {"application.scope"}, False) == ["s", "d"]
    assert checked == 40 * 8 * 7


def test_a_fired_list_misstated_in_a_decision_re_run_whole_is_reported(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """The same misstatement in a decision no erasure touched: a full re-run never compared the record's ``fired``
    with the engine's, so an approval stating that the blacklist rule fired (a refer rule: with it the engine would
    not approve) passed replay, which counts the record's ``fired`` in its statistics, and both verifiers."""
    dept, tag = fresh_department, fresh_department.lower()
    rules = permit_rules(f"{tag}-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    app = application(f"FBP-{tag}", licence)
    app["application"]["materials_submitted"] = 3
    said = Evaluation("approve", ("PREPACKAGED_SALES_PERMITTED",), ("applicant-blacklisted", _APPROVED))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decisions, "evaluate", lambda rule_set, view: said)
        forged = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    found = {(d.check, d.seq): d.detail for d in replay(ledger, department=dept).discrepancies}
    assert set(found) == {("reasons_mismatch", forged.seq)}, found
    assert "applicant-blacklisted" in found["reasons_mismatch", forged.seq], found
    bundle = evidence.decision_bundle(ledger, dept, forged.body["case_id"], applicant=holder)
    report, code, result = both(ledger, bundle, tmp_path, "whole.json")
    assert result is not None and not report.ok and code != 0
    mine = next(c for c in report.checks if c.name == "rerun").detail
    theirs = next(c for c in result["checks"] if c["name"] == "rerun")["detail"]
    for detail in (mine, theirs):
        assert detail.startswith("fired:") and "applicant-blacklisted" in detail, detail


def test_a_record_at_odds_with_its_own_fired_is_reported_when_every_rule_reads_an_erased_field(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """A rule set all of whose rules read an erased field was not re-run at all: the record's outcome was not even
    held to its own ``fired`` (the refer rule said fired, the outcome approve), nor ``fired`` to the rule set."""
    dept, tag = fresh_department, fresh_department.lower()
    rules = scope_only_rules(f"{tag}-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    forged = {
        "odds": _forged(ledger, tmp_path, dept, rules, f"{tag}o", ("scope-ok", "scope-other")),
        "twice": _forged(ledger, tmp_path, dept, rules, f"{tag}t", ("scope-ok", "scope-ok")),
    }
    honest = _forged(ledger, tmp_path, dept, rules, f"{tag}h", ("scope-ok",))
    report = replay(ledger, department=dept)
    found = {(d.check, d.seq) for d in report.discrepancies}
    assert found == {("outcome_mismatch", forged["odds"][0].seq), ("reasons_mismatch", forged["twice"][0].seq)}, found
    assert report.to_json()["inputs_erased"] == 3
    for name, (decision, holder) in [*forged.items(), ("honest", honest)]:
        bundle = evidence.decision_bundle(ledger, dept, decision.body["case_id"], applicant=holder)
        result_report, code, result = both(ledger, bundle, tmp_path, f"all-{name}.json")
        assert result is not None and result_report.ok == (name == "honest") and (code == 0) == (name == "honest")
        mine = next(c for c in result_report.checks if c.name == "rerun").detail
        theirs = next(c for c in result["checks"] if c["name"] == "rerun")["detail"]
        for detail in (mine, theirs):
            expected = {"odds": "outcome", "twice": "fired:", "honest": "lawfully erased: the rule set reads"}[name]
            assert detail.startswith(expected), (name, detail)
