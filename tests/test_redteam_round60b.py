"""Red team round 60b: an applicant lying in their input, and a department approving what its published rules refer,
against a screen for every service item (``service_item: "*"``).

Round 60 made a rule set for one item publish that item's attributes (``item``) and every engine read those. A screen
for every item (rules/notify-and-commit.yaml, rules/ss-eligibility.yaml) still read ``item`` from the application: an
applicant stating ``item.notify_commit: 1`` for an item that is no notify-and-commit item was approved on a
commitment, and replay and both bundle verifiers re-ran it to "approve, as recorded". Fixed: a screen for every item
may publish the department's catalogue (``items``: service item code -> its attributes, in the digest); when it does,
every engine reads ``item`` as the catalogue's entry for the application's service item, never the application's, and
an application for an item the catalogue does not list is refused, nothing recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats.rules import RuleSet, evaluate, load_rule_set
from ledger.services import decisions, logchain

ROOT = Path(__file__).resolve().parent.parent
COMMITMENT = ROOT / "rules" / "notify-and-commit.yaml"
# the department's catalogue: one notify-and-commit item, one that is not
CATALOGUE = {
    "NC-ITEM-YES": {"notify_commit": 1, "onsite_reason": 0, "materials_required": 2},
    "NC-ITEM-NO": {"notify_commit": 0, "onsite_reason": 0, "materials_required": 2},
}


def _commitment_rules(tag: str, **change: Any) -> RuleSet:
    document = yaml.safe_load(COMMITMENT.read_text(encoding="utf-8"))
    return load_rule_set(document | {"version": f"test-{tag}", "items": CATALOGUE} | change)


def _application(case: str, item: str) -> dict[str, Any]:
    return {
        "case_id": case,
        "service_item": item,
        "item": {"notify_commit": 1, "onsite_reason": 0, "materials_required": 0},  # the applicant's word
        "application": {"applicant_type": "individual", "online": True, "commitment_signed": True},
        "applicant": {"blacklisted": False},
        "certificates": [],
    }


def test_an_applicant_stating_a_notify_and_commit_item_is_decided_on_the_catalogue(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """(An applicant lying in their input, through an intake that passes the form on; or a department approving what
    its published rules refer) apply for an item the department's catalogue says is no notify-and-commit item,
    stating ``item.notify_commit: 1``: the screen for every item read the application's ``item``, so the applicant
    was approved on a mere commitment, and replay and both bundle verifiers agreed. With the catalogue published in
    the rule set every engine reads the item's attributes from it: referred to an officer, and all re-runs agree; the
    item the catalogue lists as notify-and-commit is still approved on a commitment."""
    from ledger.services import evidence
    from ledger.services.replay import replay

    from .evidence_support import both

    dept = fresh_department
    rules = _commitment_rules(f"rt60b-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    lying = decisions.decide(
        ledger, dept, "C-RT60B-1", "NC-ITEM-NO", _application("C-RT60B-1", "NC-ITEM-NO"), rules,
        applicant_ref="110101199003070011",
    )  # fmt: skip
    assert lying.body["outcome"] == "refer", lying.body["outcome"]
    assert lying.body["reasons"] == ["NOT_A_COMMITMENT_CASE"] and "commitment" not in lying.body
    honest = decisions.decide(
        ledger, dept, "C-RT60B-2", "NC-ITEM-YES", _application("C-RT60B-2", "NC-ITEM-YES"), rules,
        applicant_ref="110101199003070012",
    )  # fmt: skip
    assert honest.body["outcome"] == "approve" and honest.body["commitment"], honest.body
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).to_json()["discrepancies"] == []
    for case, applicant in (("C-RT60B-1", "110101199003070011"), ("C-RT60B-2", "110101199003070012")):
        bundle = evidence.bundle_text(evidence.decision_bundle(ledger, dept, case, applicant=applicant))
        report, code, _ = both(ledger, bundle, tmp_path, f"{case}.json")
        assert report.ok and code == 0, [c.detail for c in report.failed]


def test_an_item_the_catalogue_does_not_list_is_refused_nothing_recorded(ledger: Ledger, fresh_department: str) -> None:
    """(An applicant lying in their input) apply for an item the department's catalogue does not list, stating its
    attributes: no engine has the item's published attributes to read, so the decision is refused naming the item,
    by ``decide`` and by ``decide_many`` alike, and nothing is recorded."""
    dept = fresh_department
    rules = _commitment_rules(f"rt60b-unlisted-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    with pytest.raises(InputError, match="NC-ITEM-ELSE"):
        decisions.decide(
            ledger, dept, "C-RT60B-3", "NC-ITEM-ELSE", _application("C-RT60B-3", "NC-ITEM-ELSE"), rules,
            applicant_ref="110101199003070013",
        )  # fmt: skip
    many = [_application("C-RT60B-4", "NC-ITEM-YES") | {"applicant_ref": "110101199003070014"}]
    many.append(_application("C-RT60B-5", "NC-ITEM-ELSE") | {"applicant_ref": "110101199003070015"})
    with pytest.raises(InputError, match="NC-ITEM-ELSE"):
        decisions.decide_many(ledger, dept, many, {"*": rules})
    assert list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)) == []


def test_both_engines_read_the_catalogue_and_refuse_an_unlisted_item() -> None:
    """(A department approving what its published rules refer; a court re-running a bundle) the library's engine and
    the court's read the same catalogue entry, and both refuse to re-run an item the catalogue does not list, so a
    recorded decision of such an item is a discrepancy to replay and a failure to both verifiers."""
    from .evidence_support import SCRIPT_MODULE

    rules = _commitment_rules("rt60b-engines")
    for code in CATALOGUE:
        data = _application("C-RT60B-6", code)
        mine = evaluate(rules, data)
        outcome, reasons, _ = SCRIPT_MODULE.run_rules(rules.document, data)
        assert (mine.outcome, list(mine.reasons)) == (outcome, reasons)
    assert evaluate(rules, _application("C-RT60B-6", "NC-ITEM-NO")).outcome == "refer"
    with pytest.raises(InputError, match="NC-ITEM-ELSE"):
        evaluate(rules, _application("C-RT60B-6", "NC-ITEM-ELSE"))
    with pytest.raises(SCRIPT_MODULE.Failure, match="NC-ITEM-ELSE"):
        SCRIPT_MODULE.run_rules(rules.document, _application("C-RT60B-6", "NC-ITEM-ELSE"))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"service_item": "ITEM-1"}, "one service item"),
        ({"items": {}}, "items"),
        ({"items": ["NC-ITEM-YES"]}, "items"),
        ({"items": {"NC ITEM": {"notify_commit": 1}}}, "NC ITEM"),
        ({"items": {"NC-ITEM-YES": {}}}, "NC-ITEM-YES"),
        ({"items": {"NC-ITEM-YES": {"Notify": 1}}}, "Notify"),
        ({"items": {"NC-ITEM-YES": {"notify_commit": [1]}}}, "notify_commit"),
        ({"items": {"NC-ITEM-YES": {"notify_commit": None}}}, "notify_commit"),
        ({"items": {f"I-{n}": {"notify_commit": 0} for n in range(5001)}}, "5000"),
    ],
)
def test_a_catalogue_is_item_codes_with_scalar_attributes_for_both_engines(change: dict[str, Any], words: str) -> None:
    """(A department publishing rules) a catalogue on a rule set for one item, or one that is no mapping of item
    codes (printable ASCII without spaces) to snake_case attributes with a number, text or true/false, or one of more
    items than the bound: refused by the library's loader and the court's engine alike."""
    from .evidence_support import SCRIPT_MODULE

    document = yaml.safe_load(COMMITMENT.read_text(encoding="utf-8")) | {"items": CATALOGUE} | change
    with pytest.raises(InputError, match=words):
        load_rule_set(document)
    with pytest.raises(SCRIPT_MODULE.Failure, match=words):
        SCRIPT_MODULE.rule_set_problem(document)


def test_a_decision_recorded_past_the_catalogue_is_reported_by_replay_and_both_verifiers(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(A department approving what its published rules refer, with its own tool that reads the application's
    ``item``) record the applicant's lie as an approval on a commitment, and a decision of an item its catalogue does
    not list: the published rule set reads the catalogue, so replay reports the first as ``outcome_mismatch`` (and
    its commitment as ``commitment_mismatch``) and the second as ``rerun_failed``, and both bundle verifiers fail
    the re-run of each."""
    from ledger.formats import rules as rules_module
    from ledger.services import evidence
    from ledger.services.replay import replay

    from .evidence_support import both

    dept = fresh_department
    rules = _commitment_rules(f"rt60b-past-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    cases = (("C-RT60B-7", "NC-ITEM-NO", "110101199003070017"), ("C-RT60B-8", "NC-ITEM-ELSE", "110101199003070018"))
    with monkeypatch.context() as patch:
        patch.setattr(rules_module, "published_view", lambda rule_set, decision_input: decision_input)
        for case, item, applicant in cases:
            decided = decisions.decide(
                ledger, dept, case, item, _application(case, item), rules, applicant_ref=applicant
            )
            assert decided.body["outcome"] == "approve", decided.body
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    found = {(d["check"], d["seq"]) for d in replay(ledger, department=dept).to_json()["discrepancies"]}
    assert found == {("outcome_mismatch", 1), ("commitment_mismatch", 1), ("rerun_failed", 2)}, found
    for case, _, applicant in cases:
        bundle = evidence.bundle_text(evidence.decision_bundle(ledger, dept, case, applicant=applicant))
        report, code, _ = both(ledger, bundle, tmp_path, f"{case}.json")
        assert code != 0 and "rerun" in {c.name for c in report.failed}, report.to_json()


def test_the_demo_screen_publishes_the_catalogue_of_the_items_it_generates(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """(An applicant lying in their input, against the shipped story) ``ledger demo-data --rules --rules-out`` writes
    the screen publishing the catalogue of the generated items, as scripts/demo.sh publishes it: its decisions read
    the catalogue, so an application stating another item's attributes is decided as the honest one; a rule set for
    one item is refused a catalogue."""
    import json

    from .cli_support import cli_in_process

    screen, apps = tmp_path / "screen.json", tmp_path / "apps.jsonl"
    args = ["demo-data", "--items", "5", "--applications", "20", "--seed", "3", "--out", str(apps)]
    code, _, err = cli_in_process(
        ledger, monkeypatch, capsys, *args, "--rules", str(COMMITMENT), "--rules-out", str(screen)
    )
    assert code == 0, err
    rules = load_rule_set(screen)
    assert rules.items is not None and len(rules.items) == 5
    for line in apps.read_text(encoding="utf-8").splitlines():
        honest = json.loads(line)
        assert rules.items[honest["service_item"]] == honest["item"]
        lying = honest | {"item": {"notify_commit": 1, "onsite_reason": 0}}
        assert evaluate(rules, lying) == evaluate(rules, honest)
    one_item = ROOT / "rules" / "food-business-permit.yaml"
    code, _, err = cli_in_process(
        ledger, monkeypatch, capsys, *args, "--rules", str(one_item), "--rules-out", str(tmp_path / "no.json")
    )
    assert code != 0 and "items" in err and not (tmp_path / "no.json").exists()
