"""Red team round 69: an applicant lying in their input to an automatic decision, a department acting outside its
authority, and a gateway relaying another's messages.

Found and fixed here:

* (A department acting outside its authority, through the library) decide a case automatically stating a
  ``decided_at`` long before the head of the chain the facts are established at: a cited licence is judged unexpired
  at the stated moment while its status is read as of the head, so a licence that expired last week approved a
  permit today, signed and anchored, which the library's own replay then called ``facts_block_invalid``.
* (A department's officer, through the library) override the rules' referral of a case with an approval naming
  another service item than the case was applied for (and decided) under, or approve under a rule set that serves
  another item: the record said the case was one item's and then another's, the permit stated an item its rules do
  not serve, and replay reported nothing (now ``item_changed`` when written past the library).
* (An applicant lying in their input) the legal representative applying in their own name, citing the company's
  business licence, which discloses their ID number: any disclosed holder field named the holder, so the person held
  the company's licence and got its permit. Each certificate type now names its holder field.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats.rules import load_rule_set
from ledger.services import decisions, evidence, logchain
from ledger.services.replay import replay

from .conftest import make_records
from .evidence_support import both
from .permit_support import SERVICE_ITEM, application, fresh_licence, issue_records, published_permit_rules


def _today() -> datetime:
    return datetime.now(UTC)


def test_an_automatic_decision_stated_before_its_facts_block_is_refused(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: a department acting outside its authority (its own key, deciding through the library), approving a
    food business permit for an applicant whose business licence expired two days ago. It states ``decided_at`` ten
    days back: the licence's validity was judged at the stated moment (unexpired) while its status was read as of the
    chain's head now, so the rules approved and the permit was issued, signed and anchored; only a replay afterwards
    reported the record (``facts_block_invalid``: the facts block was not the head at the stated moment). A stated
    moment the facts block was mined after (beyond the 30 s replay allows) is refused before anything is recorded;
    a moment within it is still taken."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt69-backdate")
    expired_on = (_today() - timedelta(days=2)).date().isoformat()
    licence, holder = fresh_licence(ledger, tmp_path, "rt69-expired", valid_until=expired_on)
    app = application("FBP-RT69-BACKDATED", licence)
    with pytest.raises(InputError, match="head") as refused:
        decisions.decide(
            ledger, dept, app["case_id"], app["service_item"], app, rules,
            applicant_ref=holder, decided_at=_today() - timedelta(days=10),
        )  # fmt: skip
    assert "decided_at" in str(refused.value)
    assert list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)) == []
    # decided now, the licence is expired: referred, nothing issued
    now = decisions.decide(
        ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder,
        decided_at=_today() - timedelta(seconds=5),
    )  # fmt: skip
    assert now.body["outcome"] == "refer" and "issued" not in now.body, now.body
    (fact,) = now.body["certificates"]
    assert fact["expired"] is True
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).to_json()["discrepancies"] == []


def test_a_bulk_run_stated_before_its_facts_block_is_refused(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: the same department, through ``decide_many`` (one stated moment for the whole run): the bulk path
    took the stated moment as the single decision didn't check it either; refused the same way, nothing recorded."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt69-bulk")
    expired_on = (_today() - timedelta(days=2)).date().isoformat()
    licence, holder = fresh_licence(ledger, tmp_path, "rt69-bulk-expired", valid_until=expired_on)
    app = dict(application("FBP-RT69-BULK", licence), applicant_ref=holder)
    with pytest.raises(InputError, match="head"):
        decisions.decide_many(
            ledger, dept, [app], {rules.service_item: rules}, decided_at=_today() - timedelta(days=10)
        )
    assert list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)) == []


def test_an_officer_cannot_move_a_case_to_another_service_item(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: a department's officer (through the library, the department's own key) approving a food business
    permit application the rules referred (cooked food: an on-site check is due) by overriding the referral with an
    approval that names another service item, under the permit rules (which serve 440300-SCJG-0107 only): the case
    was recorded as one item's and then another's, a permit was issued stating the other item, and replay reported
    nothing. An override names the item of the decision it replaces, and an officer's rule set serves the item
    named; refused, nothing recorded or issued. The honest override (same item) is still taken."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt69-item")
    licence, holder = fresh_licence(ledger, tmp_path, "rt69-item")
    app = application("FBP-RT69-ITEM", licence, scope="cooked-food")
    referred = decisions.decide(ledger, dept, app["case_id"], SERVICE_ITEM, app, rules, applicant_ref=holder)
    assert referred.body["outcome"] == "refer"
    head = len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)))
    with pytest.raises(InputError, match="service item") as moved:
        decisions.record_human_decision(
            ledger, dept, app["case_id"], "OTHER-ITEM-69", officer="officer-69", outcome="approve",
            reasons=["ONSITE_CHECK_PASSED"], applicant_ref=holder, overrides=referred.seq,
        )  # fmt: skip
    assert SERVICE_ITEM in str(moved.value)
    with pytest.raises(InputError, match="service item"):
        decisions.record_human_decision(
            ledger, dept, app["case_id"], "OTHER-ITEM-69", officer="officer-69", outcome="approve",
            reasons=["ONSITE_CHECK_PASSED"], applicant_ref=holder, overrides=referred.seq, rule_set=rules,
        )  # fmt: skip
    # a new case under a rule set of another item: the permit would state an item its rules do not serve
    with pytest.raises(InputError, match="service item"):
        decisions.record_human_decision(
            ledger, dept, "FBP-RT69-NEW", "OTHER-ITEM-69", officer="officer-69", outcome="approve",
            reasons=["ONSITE_CHECK_PASSED"], applicant_ref=holder, rule_set=rules,
        )  # fmt: skip
    assert len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept))) == head
    approved = decisions.record_human_decision(
        ledger, dept, app["case_id"], SERVICE_ITEM, officer="officer-69", outcome="approve",
        reasons=["ONSITE_CHECK_PASSED"], applicant_ref=holder, overrides=referred.seq, rule_set=rules,
    )  # fmt: skip
    assert approved.body["service_item"] == SERVICE_ITEM and approved.body.get("issued"), approved.body
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).to_json()["discrepancies"] == []
    # the same move written past the library (an insider with the log): replay reports it, naming both items
    confirming = {k: v for k, v in approved.body.items() if k not in ("issued", "rule_set")}
    moved_body = {
        **confirming, "service_item": "OTHER-ITEM-69", "rule_set": None,
        "overrides": {"seq": approved.seq, "entry_hash": approved.entry_hash},
    }  # fmt: skip
    written = logchain.append(ledger, logchain.LOG_DECISIONS, dept, moved_body)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    found = [d for d in replay(ledger, department=dept).to_json()["discrepancies"] if d["check"] == "item_changed"]
    assert [d["seq"] for d in found] == [written.seq], found
    assert "OTHER-ITEM-69" in found[0]["detail"] and SERVICE_ITEM in found[0]["detail"]


def test_an_officer_may_decide_any_item_of_a_screen_for_every_item(ledger: Ledger, fresh_department: str) -> None:
    """Not an attack: the department's screen for every item (``service_item: "*"``, no catalogue) serves the item
    an officer names, so the check of the item does not refuse it."""
    dept = fresh_department
    screen = load_rule_set(
        {
            "engine": "pl-rules/1", "rule_set_id": "rt69-screen", "version": f"1-{dept}", "service_item": "*",
            "title": "Any item", "default_outcome": "refer", "default_reason": "OFFICER_DECIDES",
            "rules": [{"id": "never", "outcome": "approve", "reason": "NEVER",
                       "when": {"field": "application.never", "op": "==", "value": True}}],
        }
    )  # fmt: skip
    decisions.publish_rule_set(ledger, screen, dept)
    done = decisions.record_human_decision(
        ledger, dept, "C-RT69-ANY", "ANY-ITEM-69", officer="officer-69", outcome="refer",
        reasons=["OFFICER_NEEDS_ONSITE_CHECK"], applicant_ref="applicant-rt69", rule_set=screen,
    )  # fmt: skip
    assert done.body["service_item"] == "ANY-ITEM-69"


def test_a_permit_copies_no_bidirectional_or_control_character_the_applicant_typed(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an applicant lying in their input, typing the premises the food business permit copies with a
    right-to-left override (``Shop 3, 1 Keyuan Road`` followed by U+202E and a reversed other address), a bidi
    isolate, terminal escapes, a line separator or a zero-width space: the approval issued the permit, signed and
    anchored by the department, holding text that displays as another address than the one it states (in the
    gateway's pages, a printed permit, a terminal). A permit copies no control, format (bidi, zero-width), private
    use, unassigned, surrogate or line/paragraph separator character from the application: the decision is refused,
    nothing recorded or issued; the honest premises are then approved."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt69-bidi")
    licence, holder = fresh_licence(ledger, tmp_path, "rt69-bidi")
    app = application("FBP-RT69-BIDI", licence)
    for trick in ("\u202e9 daoR nauyeK", "\u2066Room 9\u2069", "\x1b[8m", "Room\u20289", "Room\u200b101"):
        lying = {**app, "application": {**app["application"], "premises": f"Shop 3, 1 Keyuan Road{trick}"}}
        with pytest.raises(InputError, match="premises"):
            decisions.decide(ledger, dept, app["case_id"], SERVICE_ITEM, lying, rules, applicant_ref=holder)
    assert list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)) == []
    # full-width (ideographic) spaces and CJK punctuation are ordinary text of an address
    honest = {**app, "application": {**app["application"], "premises": "深圳市南山区科苑路1号\u3000101室（临街）"}}
    approved = decisions.decide(ledger, dept, app["case_id"], SERVICE_ITEM, honest, rules, applicant_ref=holder)
    assert approved.body["outcome"] == "approve" and approved.body.get("issued"), approved.body


def test_a_person_named_on_a_companys_licence_does_not_hold_it(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an applicant lying in their input - the legal representative (or anyone whose ID number the
    business licence discloses) applying in their own name, citing the company's licence. The licence's holder is
    the company (its credit code), but the ledger took any disclosed holder field for the applicant's identity, so
    the rules found a verified, valid licence held by the person and approved: a food business permit was issued to
    the individual (their ID number in the permit's ``credit_code``), certified with the company's name. Now each
    type names its holder field (facts.HOLDER_FIELD_OF_TYPE): the licence is not the person's, the case is referred,
    and the company itself still holds it."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt69-holder")
    licence, company = fresh_licence(ledger, tmp_path, "rt69-holder")
    person = licence["fields"]["subject.id_number"]
    assert person != company
    app = application("FBP-RT69-PERSON", licence)
    decided = decisions.decide(ledger, dept, app["case_id"], SERVICE_ITEM, app, rules, applicant_ref=person)
    (fact,) = decided.body["certificates"]
    assert fact["holder"] is False and decided.body["outcome"] == "refer", (
        decided.body["outcome"],
        decided.body.get("issued"),
    )
    assert not decided.body.get("issued")
    own = application("FBP-RT69-COMPANY", licence)
    approved = decisions.decide(ledger, dept, own["case_id"], SERVICE_ITEM, own, rules, applicant_ref=company)
    (fact,) = approved.body["certificates"]
    assert fact["holder"] is True and approved.body["outcome"] == "approve", approved.body
    # a court reads holding the same way: both bundle verifiers re-establish each decision, the applicant disclosed
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    for case, identity in (("FBP-RT69-PERSON", person), ("FBP-RT69-COMPANY", company)):
        bundle = evidence.bundle_text(evidence.decision_bundle(ledger, dept, case, applicant=identity))
        report, code, _ = both(ledger, bundle, tmp_path, f"{case}.json")
        assert report.ok and code == 0, report.to_json()
        # the licence is disclosed by its holder field alone: the representative's ID number is no part of it
        assert (person in bundle) is (identity == person)


def test_the_courts_verifier_names_the_holder_field_of_each_type_as_the_library_does() -> None:
    """Adversary: an applicant lying in their input, before a court - were the court's standalone verifier to judge
    holding by another field than the library (its own copy of the table, by design), a bundle the library refuses
    would verify there, or the reverse. The two tables are equal, and each type names one subject field."""
    from ledger.formats.holders import HOLDER_FIELD_OF_TYPE, HOLDER_FIELDS

    from .evidence_support import SCRIPT_MODULE

    assert dict(HOLDER_FIELD_OF_TYPE) == SCRIPT_MODULE.HOLDER_FIELD_OF_TYPE
    assert set(HOLDER_FIELD_OF_TYPE.values()) <= set(HOLDER_FIELDS)
    assert HOLDER_FIELD_OF_TYPE["business-licence"] == "subject.credit_code"
    assert HOLDER_FIELD_OF_TYPE["birth-certificate"] == "subject.id_number"


def test_a_decision_recorded_under_the_any_field_rule_replays_as_its_own_finding(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: an applicant lying in their input, before this round - the legal representative who got the
    company's permit while any disclosed holder field named the holder. Replay after the fix must neither pass that
    decision silently nor call its record made up: it reports ``held_by_other_field`` for it (not
    ``certificate_facts``, and no ``outcome_mismatch``: the rules are re-run as recorded), while the company's own
    decision of the same history replays clean. A court's bundle verifiers (both) re-establish its facts under the
    current rule and refuse it. The earlier library is the library with the any-field rule put back."""
    from ledger.services import facts

    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt69-old-rule")
    licence, company = fresh_licence(ledger, tmp_path, "rt69-old-rule")
    person = licence["fields"]["subject.id_number"]
    with monkeypatch.context() as before:
        before.setattr(facts, "holder_ids", lambda _type, fields: facts.any_holder_ids(fields))
        app = application("FBP-RT69-OLD-RULE", licence)
        old = decisions.decide(ledger, dept, app["case_id"], SERVICE_ITEM, app, rules, applicant_ref=person)
    assert old.body["certificates"][0]["holder"] is True and old.body["outcome"] == "approve"
    own = application("FBP-RT69-OLD-RULE-CO", licence)
    decisions.decide(ledger, dept, own["case_id"], SERVICE_ITEM, own, rules, applicant_ref=company)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    found = replay(ledger, department=dept).to_json()["discrepancies"]
    assert [(d["check"], d["case_id"]) for d in found] == [("held_by_other_field", "FBP-RT69-OLD-RULE")], found
    assert "subject.credit_code" in found[0]["detail"] and person not in found[0]["detail"]
    # both bundle verifiers re-establish the facts under the current rule: the recorded holding is not the chain's
    bundle = evidence.bundle_text(evidence.decision_bundle(ledger, dept, "FBP-RT69-OLD-RULE", applicant=person))
    report, code, _ = both(ledger, bundle, tmp_path, "old-rule.json")
    assert code != 0 and {c.name for c in report.failed} == {"certificate_facts", "rerun"}, report.to_json()
    assert "holder: recorded True, the chain says False" in report.failed[0].detail


def test_a_permit_rule_set_must_put_its_holder_where_its_type_names_one() -> None:
    """Adversary: a department publishing a rule set whose permits name the applicant in another field than the
    permit's type names as its holder (a food business permit carrying the applicant in ``id_number``): the permit
    would be held by nobody (its holder could never cite it), or by whoever that other field names. Loading it is
    refused, naming the field the type names; the shipped rule set names it and loads."""
    from .permit_support import permit_rules

    shipped = permit_rules("rt69-produces")
    assert shipped.produces is not None and shipped.produces["holder"] == "credit_code"
    produces = {**shipped.produces, "holder": "id_number"}
    with pytest.raises(
        InputError, match=r"produces\.holder: a food-business-permit names its holder in subject\.credit_code"
    ):
        permit_rules("rt69-produces-bad", produces=produces)


def test_a_type_that_names_no_holder_field_is_held_by_nobody(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an applicant lying in their input - citing an authentic certificate of a type the holder table does
    not list (a ``licence``), whose disclosed credit code is theirs: no field of it is known to name its holder, so
    any identity it discloses may be someone else's. It is verified and held by nobody."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt69-unlisted")
    (record,) = make_records(1, cert_type="licence")
    (document,) = issue_records(ledger, tmp_path, "MKT", [record], "rt69-unlisted")
    identity = document["fields"]["subject.credit_code"]
    app = application("FBP-RT69-UNLISTED", document)
    decided = decisions.decide(ledger, dept, app["case_id"], SERVICE_ITEM, app, rules, applicant_ref=identity)
    (fact,) = decided.body["certificates"]
    assert fact["type"] == "licence" and fact["verified"] is True and fact["holder"] is False, fact
