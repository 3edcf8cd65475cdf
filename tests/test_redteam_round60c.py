"""Red team round 60c: an applicant lying in their input, and a department publishing a screen that lets them.

Round 60b let a screen for every item (``service_item: "*"``) publish the department's catalogue (``items``), but a
screen published without one - the shipped rules/notify-and-commit.yaml and rules/ss-eligibility.yaml as they stand,
every test screen - still read ``item`` from the application: an applicant stating ``item.notify_commit: 1`` was
approved on a mere commitment, and replay and both bundle verifiers re-ran it to "approve, as recorded". Fixed: a
rule set whose rules read an ``item.`` path but that publishes neither ``item`` nor ``items`` is refused where rule
sets are checked (publishing, ``ledger rules digest``) and decides nothing (``decide``, ``decide_many``, the gateway);
one stored before is still read, and its decisions are reported: replay's ``item_unpublished``, a failed ``rerun`` in
both bundle verifiers.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats import rules as rules_module
from ledger.formats.rules import RuleSet, load_rule_set, unpublished_item_read
from ledger.services import decisions, logchain

from .catalogue_support import with_catalogue

ROOT = Path(__file__).resolve().parent.parent
COMMITMENT = ROOT / "rules" / "notify-and-commit.yaml"
ITEM = "NC-ITEM-NO"  # an item the department's catalogue says is no notify-and-commit item


def _bare(tag: str, **change: Any) -> dict[str, Any]:
    """The shipped notify-and-commit screen under a version of its own, with no catalogue."""
    document = yaml.safe_load(COMMITMENT.read_text(encoding="utf-8"))
    if "rules" in change:  # texts of the shipped reasons name rules the change drops
        del document["reason_texts"]
    return document | {"version": f"test-{tag}"} | change


def _lying(case: str) -> dict[str, Any]:
    return {
        "case_id": case,
        "service_item": ITEM,
        "item": {"notify_commit": 1, "onsite_reason": 0, "materials_required": 0},  # the applicant's word
        "application": {"applicant_type": "individual", "online": True, "commitment_signed": True},
        "applicant": {"blacklisted": False},
        "certificates": [],
    }


def _stored_before(ledger: Ledger, monkeypatch: pytest.MonkeyPatch, dept: str, tag: str) -> RuleSet:
    """The bare screen published as a ledger of before this round published it (without the check)."""
    rules = load_rule_set(_bare(tag))
    with monkeypatch.context() as patch:
        patch.setattr(decisions, "check_item_published", lambda rule_set: None)
        decisions.publish_rule_set(ledger, rules, dept)
    return rules


def _when(condition: dict[str, Any]) -> dict[str, Any]:
    return {"rules": [{"id": "r", "outcome": "approve", "reason": "MET", "when": condition}]}


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({}, "item.onsite_reason"),
        (_when({"field": "item.notify_commit", "op": "exists", "value": True}), "item.notify_commit"),
        (_when({"field": "application.limit", "op": "==", "ref": "item.promised_limit_days"}), "item.promised_limit_days"),
        (
            _when({"all": [{"field": "application.online", "op": "==", "value": True}, {"not": {"any": [
                {"field": "applicant.blacklisted", "op": "==", "value": True},
                {"field": "item.item_type", "op": "==", "value": 4},
            ]}}]}),
            "item.item_type",
        ),
        (
            _when({"field": "application.online", "op": "==", "value": True})
            | {"produces": {"type": "screen-permit", "valid_days": 30, "holder": "holder_id",
                            "fields": {"online": "application.online", "kind": "item.item_type"}}},
            "item.item_type",
        ),
    ],
)  # fmt: skip
def test_a_screen_reading_the_item_without_publishing_it_is_refused_where_rule_sets_are_checked(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch, capsys: Any, tmp_path: Path,
    change: dict[str, Any], path: str,
) -> None:  # fmt: skip
    """(A department publishing a screen that lets an applicant state the item's attributes) publish a screen for
    every item whose rules read ``item.`` - in a condition (``exists`` too), a ``ref``, a nested ``not``/``any``, a
    permit's field - with no catalogue: publishing and ``ledger rules digest`` refuse it, naming the first such path
    and saying to publish ``item`` or ``items``; nothing is published. The same screen with a catalogue is published,
    and the court's verifier names the same path."""
    import json

    from .cli_support import cli_in_process
    from .evidence_support import SCRIPT_MODULE

    dept = fresh_department
    document = _bare(f"rt60c-{dept}-{len(path)}-{len(change)}", **change)
    rules = load_rule_set(document)
    assert unpublished_item_read(document) == path
    assert SCRIPT_MODULE.rule_item_read(copy.deepcopy(document)) == path
    with pytest.raises(InputError, match=rf"reads {path}\b.*\(items") as refused:
        decisions.publish_rule_set(ledger, rules, dept)
    assert "ledger demo-data --rules" in str(refused.value) and "Service item attributes" in str(refused.value)
    assert decisions.load_recorded_rule_set(ledger, rules.hex_digest) == (None, "unknown")
    file = tmp_path / "screen.json"
    file.write_text(json.dumps(document), encoding="utf-8")
    code, _, err = cli_in_process(ledger, monkeypatch, capsys, "rules", "digest", str(file))
    assert code != 0 and path in err and "items" in err, err
    published = with_catalogue(document, {ITEM: {"notify_commit": 0, "onsite_reason": 0, "item_type": 1}})
    assert unpublished_item_read(published.document) is None
    assert SCRIPT_MODULE.rule_item_read(copy.deepcopy(published.document)) is None
    assert decisions.publish_rule_set(ledger, published, dept)["digest"] == published.hex_digest


def test_a_screen_reading_no_item_needs_no_catalogue(ledger: Ledger, fresh_department: str) -> None:
    """(A department publishing rules) a screen for every item whose rules read only the application and the
    applicant reads nothing an applicant could state about the item: it is published and decides as before."""
    document = _bare(
        f"rt60c-noitem-{fresh_department}", **_when({"field": "application.online", "op": "==", "value": True})
    )
    rules = load_rule_set(document)
    assert unpublished_item_read(document) is None
    decisions.publish_rule_set(ledger, rules, fresh_department)
    decided = decisions.decide(
        ledger, fresh_department, "C-RT60C-0", ITEM, _lying("C-RT60C-0"), rules, applicant_ref="110101199003070020"
    )
    assert decided.body["outcome"] == "approve"


def test_deciding_under_a_screen_stored_before_is_refused_nothing_recorded(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(An applicant lying in their input, under a screen their department published before this round) apply
    stating ``item.notify_commit: 1`` for an item that is none: the stored screen reads the application's ``item``,
    so ``decide`` and ``decide_many`` (by the rule set, and by its digest as the gateway decides) refuse it with the
    error publishing gives, and nothing is recorded."""
    dept = fresh_department
    rules = _stored_before(ledger, monkeypatch, dept, f"rt60c-stored-{dept}")
    assert decisions.load_recorded_rule_set(ledger, rules.hex_digest)[0] is not None  # stored, as before
    for rule_set in (rules, rules.hex_digest):
        with pytest.raises(InputError, match=r"reads item\.onsite_reason\b.*\(items"):
            decisions.decide(
                ledger, dept, "C-RT60C-1", ITEM, _lying("C-RT60C-1"), rule_set, applicant_ref="110101199003070021"
            )
    many = [_lying("C-RT60C-2") | {"applicant_ref": "110101199003070022"}]
    with pytest.raises(InputError, match=r"reads item\.onsite_reason\b.*\(items"):
        decisions.decide_many(ledger, dept, many, {"*": rules})
    assert list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)) == []


def test_the_gateway_refuses_a_screen_stored_before_and_records_nothing(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(An applicant, through their department's service) apply by the gateway under a screen stored before this
    round, stating the item's attributes: the gateway decides through the library, which refuses it with a problem
    naming the path and what to publish; nothing is recorded."""
    from .api_support import Clock, assert_problem, bearer, login, make_client, register

    approver = register(ledger, "RT60C", "approver")
    rules = _stored_before(ledger, monkeypatch, approver, f"rt60c-api-{approver}")
    client = make_client(ledger, Clock())
    token = login(client, ledger, approver)
    the_input = _lying("API-RT60C")
    payload = {
        "case_id": the_input.pop("case_id"),
        "service_item": the_input.pop("service_item"),
        "rule_set": rules.hex_digest,
        "applicant_ref": "110101199003070023",
        "input": the_input,
    }
    refused = assert_problem(client.post("/decisions", json=payload, headers=bearer(token)), 422)
    assert "item.onsite_reason" in refused["detail"] and "(items" in refused["detail"], refused
    assert decisions.find_decisions(ledger, approver, "API-RT60C") == []


def test_a_decision_recorded_under_a_screen_stored_before_is_reported_by_replay_and_both_verifiers(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(A department that published a screen without a catalogue before this round, and an applicant who lied to
    it) the approval on a mere commitment is in the log: history is not rewritten, so replay still reads and re-runs
    it, but reports it as ``item_unpublished`` (naming the path), and both bundle verifiers fail its ``rerun``
    saying the rules read the application's word for the item's attributes."""
    from ledger.formats import i18n
    from ledger.services import evidence
    from ledger.services.replay import replay

    from .evidence_support import both

    dept = fresh_department
    rules = _stored_before(ledger, monkeypatch, dept, f"rt60c-past-{dept}")
    with monkeypatch.context() as patch:
        patch.setattr(decisions, "check_item_published", lambda rule_set: None)
        lied = decisions.decide(
            ledger, dept, "C-RT60C-3", ITEM, _lying("C-RT60C-3"), rules, applicant_ref="110101199003070024"
        )
    assert lied.body["outcome"] == "approve" and lied.body["commitment"], lied.body
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    found = replay(ledger, department=dept).to_json()["discrepancies"]
    assert [(d["check"], d["seq"]) for d in found] == [("item_unpublished", 1)], found
    assert "item.onsite_reason" in found[0]["detail"] and "(items)" in found[0]["detail"]
    assert set(i18n.REPLAY_CHECKS["item_unpublished"]) == {"en", "zh-CN"}
    bundle = evidence.bundle_text(evidence.decision_bundle(ledger, dept, "C-RT60C-3", applicant="110101199003070024"))
    report, code, court = both(ledger, bundle, tmp_path, "past.json")
    assert code != 0 and {c.name for c in report.failed} == {"rerun"}, report.to_json()
    assert "item.onsite_reason" in report.check("rerun").detail and court is not None
    court_rerun = {c["name"]: c["detail"] for c in court["checks"]}["rerun"]
    assert "item.onsite_reason" in court_rerun, court_rerun


def test_the_shipped_screens_are_templates_published_only_with_a_catalogue() -> None:
    """(A department publishing a shipped screen as it stands) rules/notify-and-commit.yaml and
    rules/ss-eligibility.yaml read the item's attributes: as shipped they are refused, and their header says to add
    the catalogue; every shipped rule set for one item publishes its item."""
    for name in ("notify-and-commit", "ss-eligibility"):
        path = ROOT / "rules" / f"{name}.yaml"
        with pytest.raises(InputError, match=r"\(items"):
            rules_module.check_item_published(load_rule_set(path))
        assert "template" in path.read_text(encoding="utf-8").split("engine:")[0]
    for name in ("food-business-permit", "business-licence-renewal"):
        rules_module.check_item_published(load_rule_set(ROOT / "rules" / f"{name}.yaml"))
