"""Red team round 60: an applicant lying in their input and a department acting outside its authority, against
decisions.

1. (An applicant the rules refused, whose department's intake takes the case number as typed; or a department
   shopping for an outcome) decide a case again under a case number that prints as the refused one - a zero-width
   space or a space after it, full-width letters, a control character: the gateway took only printable ASCII
   without spaces, but the library (`decide`, `ledger decide FILE`, an officer's `record_human_decision`) took any
   text, so "the case is decided by the rules once" and "an officer's decision of a decided case overrides it"
   were passed by with a second case every listing showed under the first one's number, and replay's
   `decided_again` saw two cases. Fixed: a case number is 1-128 printable ASCII characters without spaces on
   every path, as the gateway already required.
2. (An applicant making their own decision one no court can verify) type ``1e16`` - any double from 2**53 up to 1e21,
   which RFC 8785 writes as its integer digits - in a field: the decision was recorded, but the stored input read
   back holds an integer past 2**53 that canonical JSON cannot write, so replay called the honest record's input
   commitment invalid and no evidence bundle of it could be made. Fixed: refused where the application is read (and
   in a rule set, whose stored document no longer loaded).
3. (An applicant lying in their input; a department approving what its published rules refer) state the service
   item's own attributes in the application (``item.materials_required: 0``): the food business permit's rules read
   them from the input, so nothing submitted was approved, a permit issued, and every re-run agreed. Fixed: a rule set
   for one item publishes its attributes (``item``) and every engine reads those; the shipped permit rules do (1.4.0).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.services import decisions, logchain

from .cli_support import cli_in_process
from .conftest import write_jsonl
from .decision_support import application, unique_rule_set
from .permit_support import SERVICE_ITEM as PERMIT_ITEM
from .permit_support import application as permit_application
from .permit_support import fresh_licence, permit_rules, published_permit_rules

# -- 1. a case number that prints as another ------------------------------------------------------------------------

LOOKALIKES = [
    "C-RT60-1\u200b",  # a zero-width space after it
    "C-RT60-1 ",  # a space after it
    "\uff23-RT60-1",  # a full-width C
    "C-RT60-\u0661",  # an Arabic-Indic digit one
    "C-RT60-1\x00",  # a NUL
    "C-RT60-1\n",  # a line break
    "C-RT60-1\u0421",  # a Cyrillic Es
]


def _decisions(ledger: Ledger, dept: str) -> list[str]:
    return [json.loads(entry.body)["case_id"] for entry in logchain.entries(ledger, logchain.LOG_DECISIONS, dept)]


@pytest.mark.parametrize("lookalike", LOOKALIKES, ids=[repr(c) for c in LOOKALIKES])
def test_a_case_number_printing_as_a_decided_one_is_not_decided_again(
    ledger: Ledger, fresh_department: str, lookalike: str
) -> None:
    """(An applicant the rules refused, whose department's intake takes the case number as the applicant typed it;
    or a department re-running the rules on altered input until the outcome suits) send the refused case again
    under a number that prints as its own - a zero-width space after it, a full-width letter, a control: the library
    decided it automatically a second time (no "already decided", no `decided_again` in replay: another text is
    another case), and an officer approved it as a first decision, overriding nothing, while every listing showed
    both under one number. A case number is printable ASCII without spaces on every path now (as the gateway's
    `POST /decisions` required): refused naming the field, nothing recorded."""
    dept = fresh_department
    rules = unique_rule_set(f"rt60-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    first = application("C-RT60-1")
    first["application"]["materials_submitted"] = 0
    decisions.decide(ledger, dept, "C-RT60-1", "ITEM-1", first, rules, applicant_ref="91440300RT6000001")
    again = application(lookalike)
    with pytest.raises(InputError, match="case_id") as refused:
        decisions.decide(ledger, dept, lookalike, "ITEM-1", again, rules, applicant_ref="91440300RT6000001")
    assert "printable ASCII" in str(refused.value)
    with pytest.raises(InputError, match="case_id"):
        decisions.record_human_decision(
            ledger, dept, lookalike, "ITEM-1", officer="o-rt60", outcome="approve",
            reasons=["OFFICER_CHECKED_ON_SITE"], applicant_ref="91440300RT6000001",
        )  # fmt: skip
    with pytest.raises(InputError, match="case_id"):
        decisions.decide_many(ledger, dept, [{**again, "applicant_ref": "91440300RT6000001"}], {"*": rules})
    assert _decisions(ledger, dept) == ["C-RT60-1"]


def test_a_bulk_file_with_a_lookalike_case_number_is_refused_by_line(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """(The same, through `ledger decide FILE`) the application naming a case number with a zero-width space is
    refused naming its line and the field; nothing of its chunk is recorded, and a clean number is decided."""
    dept = fresh_department
    rules = unique_rule_set(f"rt60-bulk-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps(rules.document), encoding="utf-8")
    apps = write_jsonl(
        tmp_path / "apps.jsonl",
        [{**application("C-RT60-B\u200b"), "applicant_ref": "91440300RT6000002"}],
    )
    args = ["decide", str(apps), "--department", dept, "--rules", str(rules_file)]
    code, _out, err = cli_in_process(ledger, monkeypatch, capsys, *args)
    assert code != 0
    assert "case_id" in err and "printable ASCII" in err, err
    assert _decisions(ledger, dept) == []
    write_jsonl(apps, [{**application("C-RT60-B"), "applicant_ref": "91440300RT6000002"}])
    code, _out, err = cli_in_process(ledger, monkeypatch, capsys, *args)
    assert code == 0, err
    assert _decisions(ledger, dept) == ["C-RT60-B"]


def test_a_case_recorded_before_the_rule_is_still_overridden_by_an_officer(
    ledger: Ledger, fresh_department: str
) -> None:
    """(The same rule, against an honest department) a case whose number was recorded before round 60 with a space
    in it stays the department's to override: the override names a case the log holds, taken as recorded (a new
    case's number, and only that, must be printable ASCII without spaces)."""
    dept = fresh_department
    model = decisions.record_human_decision(
        ledger, dept, "C-RT60-MODEL", "ITEM-1", officer="o-rt60", outcome="approve",
        reasons=["OFFICER_CHECKED_ON_SITE"], applicant_ref="91440300RT6000005",
    )  # fmt: skip
    old = "C-RT60 OLD"
    logchain.append(ledger, logchain.LOG_DECISIONS, dept, dict(model.body, case_id=old))  # as an older library wrote
    refusal = decisions.record_human_decision(
        ledger, dept, old, "ITEM-1", officer="o-rt60", outcome="reject", reasons=["OFFICER_FOUND_FRAUD"],
        applicant_ref="91440300RT6000005", overrides=old,
    )  # fmt: skip
    assert refusal.body["case_id"] == old and refusal.body["overrides"]["seq"] == model.seq + 1
    assert _decisions(ledger, dept) == ["C-RT60-MODEL", old, old]


# -- 2. a double the ledger writes as digits it cannot read back --------------------------------------------------


@pytest.mark.parametrize("number", [1e16, -1e16, 2.0**53, 9.999999999999999e20], ids=["1e16", "-1e16", "2^53", "1e21-"])
def test_a_double_written_as_digits_past_2_53_is_refused_not_recorded_unverifiable(
    ledger: Ledger, fresh_department: str, number: float
) -> None:
    """(An applicant making their own decision one no court can verify, and the department's replay report it as
    tampered) type a number such as ``1e16`` (or any double from 2**53 up to 1e21) in any field of the application:
    RFC 8785 writes it as its integer digits (``10000000000000000``), the ledger decided and stored it, but read
    back the stored input holds an integer past 2**53, which canonical JSON has no spelling for, so replay reported
    the honest record as ``input_commitment_invalid`` ("no evidence bundle can disclose it") and
    ``ledger evidence --decision`` stopped with an InputError: the decision had no bundle for a court. Such a number
    is refused now where the application is read (InputError naming the field, nothing recorded)."""
    dept = fresh_department
    rules = unique_rule_set(f"rt60-big-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    app = application("C-RT60-BIG")
    app["application"]["turnover"] = {"declared": number}
    with pytest.raises(InputError, match=r"application\.turnover\.declared") as refused:
        decisions.decide(ledger, dept, "C-RT60-BIG", "ITEM-1", app, rules, applicant_ref="91440300RT6000003")
    assert "2**53" in str(refused.value)
    with pytest.raises(InputError, match=r"application 1: .*application\.turnover\.declared"):
        decisions.decide_many(ledger, dept, [{**app, "applicant_ref": "91440300RT6000003"}], {"*": rules})
    with pytest.raises(InputError, match=r"application\.turnover\.declared"):
        decisions.record_human_decision(
            ledger, dept, "C-RT60-BIG", "ITEM-1", officer="o-rt60", outcome="refer", reasons=["OFFICER_REVIEW"],
            applicant_ref="91440300RT6000003", decision_input=app, rule_set=rules,
        )  # fmt: skip
    assert _decisions(ledger, dept) == []


@pytest.mark.parametrize("shape", ["contains itself", "100,000 levels deep"])
def test_an_application_containing_itself_or_nested_past_the_bound_is_refused_not_walked_for_ever(
    ledger: Ledger, fresh_department: str, shape: str
) -> None:
    """(A department's own intake code, or a library caller relaying what it was handed) give ``decide`` an
    application that contains itself, or one 100,000 levels deep: the search for integer-spelt doubles above walked
    it without a depth bound and built each node's path eagerly, so the first ran for ever, growing memory, and the
    second built some 10**10 characters of paths before any other check. Both are refused (InputError naming the
    nesting), nothing recorded."""
    dept = fresh_department
    rules = unique_rule_set(f"rt60-deep-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    app = application("C-RT60-DEEP")
    if shape == "contains itself":
        app["application"]["self"] = [app]
    else:
        deep: dict[str, Any] = {}
        node = deep
        for _ in range(100_000):
            node["a"] = {}
            node = node["a"]
        app["application"]["deep"] = deep
    with pytest.raises(InputError, match="nest"):
        decisions.decide(ledger, dept, "C-RT60-DEEP", "ITEM-1", app, rules, applicant_ref="91440300RT6000009")
    assert _decisions(ledger, dept) == []


def test_doubles_the_ledger_reads_back_as_written_are_decided_and_verified(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """(The same applicant's control) numbers whose canonical spelling reads back as the same value - below 2**53,
    or from 1e21 up, which RFC 8785 writes with an exponent - are decided as before: replay finds nothing, and both
    bundle verifiers re-run the decision as recorded."""
    from ledger.services import evidence
    from ledger.services.replay import replay

    from .evidence_support import both

    dept = fresh_department
    rules = unique_rule_set(f"rt60-fine-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    app = application("C-RT60-FINE")
    app["application"]["turnover"] = {"declared": 1e21, "below": 9007199254740991.0, "small": -0.0, "exp": 1e-7}
    decisions.decide(ledger, dept, "C-RT60-FINE", "ITEM-1", app, rules, applicant_ref="91440300RT6000004")
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).to_json()["discrepancies"] == []
    report, code, _ = both(
        ledger, evidence.bundle_text(evidence.decision_bundle(ledger, dept, "C-RT60-FINE")), tmp_path
    )
    assert report.ok and code == 0, [c.detail for c in report.failed]


def test_a_rule_threshold_written_as_digits_past_2_53_is_refused_when_the_rule_set_is_read() -> None:
    """(A department publishing rules, or whoever drafts them) a threshold of ``1e16``: the rule set loaded and was
    published on chain, but its stored document loaded again as an integer past 2**53 that canonical JSON cannot
    write, so no decision could use it ("the stored document no longer loads") after its publication had been sent.
    Refused when the rule set is read now, naming where; the same rule set with a threshold below 2**53 loads and
    stays the same once stored."""
    from ledger.formats.canonical import canonical_json, json_loads
    from ledger.formats.rules import load_rule_set

    document = permit_rules("rt60-threshold").document
    rule = {"id": "turnover-huge", "outcome": "refer", "reason": "TURNOVER_HUGE"}
    big = {
        **document,
        "rules": [*document["rules"], {**rule, "when": {"field": "application.x", "op": ">", "value": 1e16}}],
    }
    with pytest.raises(InputError, match=r"rules\[\d+\]\.when\.value"):
        load_rule_set(big)
    fine = {
        **big,
        "rules": [*document["rules"], {**rule, "when": {"field": "application.x", "op": ">", "value": 9e15}}],
    }
    loaded = load_rule_set(fine)
    assert load_rule_set(json_loads(canonical_json(loaded.document))).digest == loaded.digest


# -- 3. the item's attributes, stated by the application ---------------------------------------------------------


def _lying_about_the_item(licence: dict[str, Any], case: str) -> dict[str, Any]:
    app = permit_application(case, licence)
    app["item"] = {"onsite_reason": 0, "materials_required": 0}  # the item requires three materials
    app["application"]["materials_submitted"] = 0
    return app


def test_an_application_stating_its_items_attributes_is_decided_on_the_published_ones(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """(An applicant lying in their input, through an intake that passes the form on; or a department approving what
    its published rules refer) state the service item's own attributes - "no materials required", "no on-site
    reason" - in the application's ``item``: the food business permit's rules compare the materials submitted with
    ``item.materials_required`` and the on-site reason with ``item.onsite_reason``, both read from the input, so an
    application submitting nothing and saying nothing was required was approved in seconds and issued a permit,
    and replay and both bundle verifiers re-ran it to "approve, as recorded": the item's attributes were published
    nowhere the ledger or a court could read. A rule set for one item now publishes that item's attributes
    (``item``, in its digest), and every engine reads those, never the application's ``item``: the lie is referred
    (too few materials), and replay and both verifiers agree."""
    from ledger.services import evidence
    from ledger.services.replay import replay

    from .evidence_support import both

    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt60-item")
    licence, holder = fresh_licence(ledger, tmp_path, "rt60-item")
    decision = decisions.decide(
        ledger, dept, "C-RT60-ITEM", PERMIT_ITEM, _lying_about_the_item(licence, "C-RT60-ITEM"), rules,
        applicant_ref=holder,
    )  # fmt: skip
    assert decision.body["outcome"] == "refer", decision.body["outcome"]
    assert rules.document.get("item") == {"onsite_reason": 0, "materials_required": 3}
    assert "issued" not in decision.body
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).to_json()["discrepancies"] == []
    bundle = evidence.bundle_text(evidence.decision_bundle(ledger, dept, "C-RT60-ITEM", applicant=holder))
    report, code, _ = both(ledger, bundle, tmp_path)
    assert report.ok and code == 0, [c.detail for c in report.failed]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"service_item": "*"}, "every service item"),
        ({"item": {"materials_required": [3]}}, "materials_required"),
        ({"item": {"Materials": 3}}, "Materials"),
        ({"item": {}}, "item"),
        ({"item": {"materials_required": None}}, "materials_required"),
    ],
)
def test_published_item_attributes_are_one_items_scalars_for_both_engines(change: dict[str, Any], words: str) -> None:
    """(A department publishing rules) an ``item`` for a screen of every item (``*``), or attributes that are no
    snake_case name with a number, text or true/false: refused by the library's loader and by the court's engine
    alike, so no rule set is read one way by one and another by the other."""
    from ledger.formats.rules import load_rule_set

    from .evidence_support import SCRIPT_MODULE

    document = permit_rules("rt60-shape").document | {"item": {"onsite_reason": 0, "materials_required": 3}} | change
    with pytest.raises(InputError, match=words):
        load_rule_set(document)
    with pytest.raises(SCRIPT_MODULE.Failure, match=words):
        SCRIPT_MODULE.rule_set_problem(document)


def test_every_shipped_rule_set_for_one_item_publishes_the_attributes_its_rules_read() -> None:
    """(An applicant lying about the item, against every shipped rule set) a rule set for one item that reads
    ``item.…`` publishes those attributes, so no application's ``item`` changes its outcome; the screens for every
    item (``*``) read the catalogue's attributes the intake supplies (docs/rules.md)."""
    from ledger.formats.rules import evaluate, load_rule_set

    shipped = sorted((Path(__file__).resolve().parent.parent / "rules").glob("*.yaml"))
    one_item = [load_rule_set(path) for path in shipped if load_rule_set(path).service_item != "*"]
    assert {r.rule_set_id for r in one_item} == {"business-licence-renewal", "food-business-permit"}
    for rules in one_item:
        read = {p.split(".")[1] for p in _read_paths(rules.document["rules"]) if p.startswith("item.")}
        assert rules.item is not None and read <= set(rules.item), (rules.rule_set_id, read)
        honest = {"service_item": rules.service_item, "item": rules.item, "application": {"online": True}}
        lying = {**honest, "item": {"onsite_reason": 6, "materials_required": 99}}
        assert evaluate(rules, lying) == evaluate(rules, honest)


def _read_paths(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {v for k, v in node.items() if k in ("field", "ref") and isinstance(v, str)}
        return found.union(*(_read_paths(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_read_paths(v) for v in node))
    return set()
