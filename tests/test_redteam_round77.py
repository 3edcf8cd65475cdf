"""Red team round 77: an applicant lying in their input and a holder editing their document, against what the
automatic decisions and selective disclosure accept.

Found and fixed here:

* (An applicant lying in their input, through an intake that passes the form on) leave out the premises the food
  business permit states (or send them as ``null``, blank text, ``[]`` or ``{}``): the approving rule never asks for
  them, and a value the application lacks was "left out", so the department signed and anchored a five-year permit
  naming no premises, a permit for wherever its holder shows it.
* (A holder citing a presentation of their own licence) hide the licence's ``subject.name`` (the salted field moves
  to ``hidden``; the digest, proof and signature are unchanged, every check passes): the licence still names its
  holder, so the rules approved, and the permit, whose business name is certified from that licence, was issued with
  no business name at all.

A permit is issued only when it states every field its rule set's ``produces`` names; otherwise the approval is
refused as an application the permit cannot be written from (InputError naming the field, nothing recorded or
issued), on every path that decides with an application: ``decide``, ``decide_many``, the gateway, an officer's
approval given the application. The demo's licences named the business in another field, so every permit it issued
named none.

* (An applicant who knows only the digest of another firm's licence) cite it: the decision's evidence bundle naming
  the applicant disclosed every cited certificate's holder field, so it told the applicant the other firm's credit
  code. Now only a holder field that is the applicant's own identity is disclosed.

Held (tests that fail if it stops holding): a holder's edits of the presentation they cite (a forged value beside
its genuine hash, another field's salt, another firm's field grafted in, a colliding nested path), another holder's
presentation handed in by an applicant.

* (An applicant lying in their input, through an intake numbering each submission as a case) send the same
  application twice: each case got its own permit for the same premises, and a withdrawal of the first left the
  second standing (open here as a strict xfail until round 77b). A holder now has one live permit per premises
  (``produces.one_per``): the second case is refused while the first permit stands.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from ledger.client import Ledger
from ledger.errors import InputError, StateError
from ledger.formats.certificate import CertificateDocument
from ledger.services import decisions, evidence, logchain, permits
from ledger.services.replay import replay

from .evidence_support import both
from .permit_support import (
    SERVICE_ITEM,
    application,
    fresh_licence,
    inspected,
    live_permits,
    officer_decision,
    published_permit_rules,
    replay_checks,
    withdrawn,
)


def _decisions(ledger: Ledger, dept: str) -> int:
    return len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)))


def _permit_fields(ledger: Ledger, decision: decisions.Decision) -> dict[str, Any]:
    (document,) = permits.documents(ledger, [decision.body["issued"]["certificate"]])
    fields: dict[str, Any] = document["fields"]
    return fields


@pytest.mark.parametrize("premises", ["absent", None, "", "   ", [], {}])
def test_a_permit_is_not_issued_without_the_premises_it_states(
    ledger: Ledger, fresh_department: str, tmp_path: Path, premises: Any
) -> None:
    """Adversary: an applicant lying in their input (through an intake that passes the form on). The food business
    permit copies ``application.premises``; the approving rule reads scope, materials, channel and the licence, never
    the premises, and a value the application lacked was left out of the permit: leaving them out (or sending null,
    blank text, an empty list or object) was approved in seconds and the department signed and anchored a five-year
    permit naming no premises, which its holder can show for any shop. Refused: InputError naming the field, nothing
    recorded or issued, through ``decide`` and ``decide_many``; the honest application is approved and its permit
    states the premises."""
    dept = fresh_department
    tag = "absent" if premises == "absent" else type(premises).__name__ + str(len(premises or ""))
    rules = published_permit_rules(ledger, dept, f"rt77-premises-{tag}")
    licence, holder = fresh_licence(ledger, tmp_path, f"rt77-premises-{tag}")
    app = application(f"FBP-RT77-PREMISES-{tag.upper()}", licence)
    if premises == "absent":
        del app["application"]["premises"]
    else:
        app["application"]["premises"] = premises
    with pytest.raises(InputError, match="premises") as refused:
        decisions.decide(ledger, dept, app["case_id"], SERVICE_ITEM, app, rules, applicant_ref=holder)
    assert "nothing was recorded" in str(refused.value).lower()
    with pytest.raises(InputError, match="premises"):
        decisions.decide_many(ledger, dept, [{**app, "applicant_ref": holder}], {rules.service_item: rules})
    assert _decisions(ledger, dept) == 0
    assert permits.live(ledger, dept, app["case_id"]) == []
    honest = application(f"FBP-RT77-PREMISES-{tag.upper()}-OK", licence)
    approved = decisions.decide(ledger, dept, honest["case_id"], SERVICE_ITEM, honest, rules, applicant_ref=holder)
    assert approved.body["outcome"] == "approve", approved.body
    assert _permit_fields(ledger, approved)["subject.premises"] == honest["application"]["premises"]
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).to_json()["discrepancies"] == []


def test_a_permit_is_not_issued_without_the_business_name_its_licence_certifies(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: a holder citing a presentation of their own business licence that hides ``subject.name`` (moved to
    ``hidden``: no key needed, the digest, proof and signature stand, and the credit code still names the holder).
    The rules approved, and the permit's business name, certified from the licence cited, was left out: a permit
    naming no business, signed and anchored. Refused (InputError naming the field and saying to disclose it),
    nothing recorded or issued; the same licence cited with its name disclosed (or by digest) is approved and the
    permit states the licence's name."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt77-name")
    licence, holder = fresh_licence(ledger, tmp_path, "rt77-name")
    hiding = CertificateDocument.from_json(licence).present(["subject.credit_code"]).to_json()
    assert "subject.name" in hiding["hidden"]
    app = dict(application("FBP-RT77-NAME", licence), certificates=[{"document": hiding}])
    with pytest.raises(InputError, match="business_name") as refused:
        decisions.decide(ledger, dept, app["case_id"], SERVICE_ITEM, app, rules, applicant_ref=holder)
    assert "subject.name" in str(refused.value)
    with pytest.raises(InputError, match="business_name"):
        decisions.decide_many(ledger, dept, [{**app, "applicant_ref": holder}], {rules.service_item: rules})
    assert _decisions(ledger, dept) == 0
    showing = CertificateDocument.from_json(licence).present(["subject.credit_code", "subject.name"]).to_json()
    honest = dict(application("FBP-RT77-NAME-OK", licence), certificates=[{"document": showing}])
    approved = decisions.decide(ledger, dept, honest["case_id"], SERVICE_ITEM, honest, rules, applicant_ref=holder)
    assert approved.body["outcome"] == "approve", approved.body
    assert _permit_fields(ledger, approved)["subject.business_name"] == licence["fields"]["subject.name"]


def test_an_officers_approval_given_the_application_issues_no_permit_it_cannot_complete(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: the same applicant, whose application without premises the rules referred (a rule set asking for
    them) or an officer approves by hand with the application as given: an officer's approval under the permit rules
    copies the fields from the input given, so it issued the premises-less permit too. Refused the same way, nothing
    recorded or issued."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt77-officer")
    licence, holder = fresh_licence(ledger, tmp_path, "rt77-officer")
    app = application("FBP-RT77-OFFICER", licence)
    del app["application"]["premises"]
    with pytest.raises(InputError, match="premises"):
        officer_decision(
            ledger, dept, app["case_id"], holder, "approve", "ONSITE_CHECK_PASSED", rule_set=rules,
            decision_input=app,
        )  # fmt: skip
    assert _decisions(ledger, dept) == 0
    assert permits.live(ledger, dept, app["case_id"]) == []


def _forged_name(document: dict[str, Any], _other: dict[str, Any]) -> None:
    """The name disclosed as the holder likes, its genuine field hash kept in ``hidden`` beside it."""
    genuine = CertificateDocument.from_json(document).field_hashes()["subject.name"]
    document["fields"]["subject.name"] = "Another Trading Co"
    document["hidden"] = {**document.get("hidden", {}), "subject.name": genuine.hex()}


def _salt_swapped(document: dict[str, Any], _other: dict[str, Any]) -> None:
    """The name revealed with the credit code's salt (each field's salt is its own)."""
    salts = document["salts"]
    salts["subject.name"], salts["subject.credit_code"] = salts["subject.credit_code"], salts["subject.name"]


def _grafted(document: dict[str, Any], other: dict[str, Any]) -> None:
    """Another firm's licence's name, with its own salt, disclosed in place of the holder's."""
    document["fields"]["subject.name"] = other["fields"]["subject.name"]
    document["salts"]["subject.name"] = other["salts"]["subject.name"]


def _nested_path(document: dict[str, Any], _other: dict[str, Any]) -> None:
    """The name given a second time as a nested member (``subject`` holding ``name``), a path that collides with the
    flat field ``subject.name`` for a reader joining names with dots."""
    document["fields"]["subject"] = {"name": "Another Trading Co"}
    document["salts"]["subject"] = document["salts"]["subject.name"]


@pytest.mark.parametrize("edit", [_forged_name, _salt_swapped, _grafted, _nested_path])
def test_a_holders_edited_presentation_of_their_licence_issues_no_permit(
    ledger: Ledger, fresh_department: str, tmp_path: Path, edit: Any
) -> None:
    """Adversary: a holder editing the presentation of their own licence they cite inline, to have the permit state
    another business name: a forged name disclosed beside its genuine hash, the name revealed with another field's
    salt, another firm's name grafted in with its salt, the name given again under a colliding path. Held: every
    field's hash binds its salt, name and value, the digest binds every field, and a document disclosing and hiding
    one field is refused, so the licence is not verified, the rules refer the case and no permit is issued. The
    unedited presentation is approved (the edit, not the test, makes the difference)."""
    dept = fresh_department
    name = edit.__name__.strip("_").replace("_", "-")
    rules = published_permit_rules(ledger, dept, f"rt77-edit-{name}")
    licence, holder = fresh_licence(ledger, tmp_path, f"rt77-edit-{name}")
    other, _ = fresh_licence(ledger, tmp_path, f"rt77-edit-{name}-other", holder="91440300MA59999977")
    shown = CertificateDocument.from_json(licence).present(["subject.credit_code", "subject.name"]).to_json()
    edited = json.loads(json.dumps(shown))
    edit(edited, other)
    case = f"FBP-RT77-EDIT-{name.upper()}"
    app = dict(application(case, licence), certificates=[{"document": edited}])
    decided = decisions.decide(ledger, dept, case, SERVICE_ITEM, app, rules, applicant_ref=holder)
    (fact,) = decided.body["certificates"]
    assert fact["verified"] is False and decided.body["outcome"] == "refer", decided.body
    assert "issued" not in decided.body and permits.live(ledger, dept, case) == []
    honest = dict(application(case + "-OK", licence), certificates=[{"document": shown}])
    approved = decisions.decide(ledger, dept, case + "-OK", SERVICE_ITEM, honest, rules, applicant_ref=holder)
    assert approved.body["outcome"] == "approve", approved.body
    assert _permit_fields(ledger, approved)["subject.business_name"] == licence["fields"]["subject.name"]


def test_another_holders_presentation_cited_inline_is_not_the_applicants(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an applicant who was handed another firm's licence presentation (as a relying party would be) and
    cites it inline in their own application, replaying it to another verifier for another purpose. Held: a
    presentation is authentic whoever hands it in, but it names its holder, and the ledger compares that field with
    the applicant's identity from the intake: not held, referred, no permit. The firm itself citing it is approved."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt77-replayed")
    other, firm = fresh_licence(ledger, tmp_path, "rt77-replayed", holder="91440300MA59999978")
    shown = CertificateDocument.from_json(other).present(["subject.credit_code", "subject.name"]).to_json()
    app = dict(application("FBP-RT77-REPLAYED", other), certificates=[{"document": shown}])
    decided = decisions.decide(
        ledger, dept, app["case_id"], SERVICE_ITEM, app, rules, applicant_ref="91440300MA59999979"
    )
    (fact,) = decided.body["certificates"]
    assert fact["verified"] is True and fact["holder"] is False, fact
    assert decided.body["outcome"] == "refer" and "issued" not in decided.body
    own = dict(application("FBP-RT77-REPLAYED-OWN", other), certificates=[{"document": shown}])
    approved = decisions.decide(ledger, dept, own["case_id"], SERVICE_ITEM, own, rules, applicant_ref=firm)
    assert approved.body["outcome"] == "approve" and approved.body.get("issued"), approved.body


def test_a_withdrawn_approval_leaves_no_second_permit_for_the_same_premises(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an applicant lying in their input, sending the same application twice through the intake (which
    numbers each submission as a case). One case has one live permit, so that no duplicate is kept after the first
    is withdrawn (docs/decisions.md); across cases nothing compared them, so each case was approved with its own
    permit for the same business at the same premises. A random inspection finds the first non-conforming and the
    department withdraws it (its permit revoked): the second permit stayed valid, and the applicant traded on it as
    if the inspection had found nothing. Now a holder has one live permit per premises (the rule set's
    ``produces.one_per``): the second case, its premises respelt, is refused while the first permit stands
    (StateError naming it, nothing recorded or issued), through ``decide``, ``decide_many`` and an officer's
    approval given the application; after the withdrawal no permit for the premises is live, and a new application
    for them is approved again."""
    dept = fresh_department
    since = datetime.now(UTC) - timedelta(minutes=1)
    rules = published_permit_rules(ledger, dept, "rt77-twice")
    licence, holder = fresh_licence(ledger, tmp_path, "rt77-twice")
    once = application("FBP-RT77-TWICE-1", licence)
    once["application"]["premises"] = "Room 101, 1 Keyuan Road"
    first = decisions.decide(ledger, dept, once["case_id"], SERVICE_ITEM, once, rules, applicant_ref=holder)
    issued = [first.body["issued"]["certificate"]]
    again = application("FBP-RT77-TWICE-2", licence)
    again["application"]["premises"] = "room 101 1 KEYUAN ROAD."  # the same address, spelt otherwise
    with pytest.raises(StateError, match="same premises") as refused:
        decisions.decide(ledger, dept, again["case_id"], SERVICE_ITEM, again, rules, applicant_ref=holder)
    assert issued[0] in str(refused.value) and "FBP-RT77-TWICE-1" in str(refused.value)
    with pytest.raises(StateError, match="same premises"):
        decisions.decide_many(ledger, dept, [{**again, "applicant_ref": holder}], {rules.service_item: rules})
    with pytest.raises(StateError, match="same premises"):
        officer_decision(
            ledger, dept, again["case_id"], holder, "approve", "ONSITE_CHECK_PASSED", rule_set=rules,
            decision_input=again,
        )  # fmt: skip
    assert decisions.find_decisions(ledger, dept, again["case_id"]) == []
    assert _decisions(ledger, dept) == 1
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    withdrawn(ledger, dept, inspected(ledger, dept, since, "FBP-RT77-TWICE-1"))
    assert live_permits(ledger, issued) == []
    renewed = decisions.decide(ledger, dept, again["case_id"], SERVICE_ITEM, again, rules, applicant_ref=holder)
    assert renewed.body["outcome"] == "approve" and renewed.body.get("issued"), renewed.body
    assert replay_checks(ledger, dept) == set()


def test_one_run_issues_no_two_permits_for_the_same_premises(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """The same application twice in one bulk run (two case numbers): refused as a bad input would be (InputError
    naming both cases, nothing of the chunk recorded or issued); another holder at the same address, or the same
    holder at other premises, is not the same permit and is approved."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt77-run")
    licence, holder = fresh_licence(ledger, tmp_path, "rt77-run")
    other, neighbour = fresh_licence(ledger, tmp_path, "rt77-run-other", holder="91440300MA59999982")
    twice = [{**application(case, licence), "applicant_ref": holder} for case in ("FBP-RT77-RUN-1", "FBP-RT77-RUN-2")]
    for app in twice:
        app["application"] = {**app["application"], "premises": "Room 101, 1 Keyuan Road"}
    with pytest.raises(InputError, match=r"FBP-RT77-RUN-1.*FBP-RT77-RUN-2"):
        decisions.decide_many(ledger, dept, twice, {rules.service_item: rules})
    assert _decisions(ledger, dept) == 0
    elsewhere = application("FBP-RT77-RUN-3", licence)
    elsewhere["application"]["premises"] = "Room 102, 1 Keyuan Road"  # the same holder's other shop
    neighbours = application("FBP-RT77-RUN-4", other)
    neighbours["application"]["premises"] = "Room 101, 1 Keyuan Road"  # another firm at the same address
    result = decisions.decide_many(
        ledger,
        dept,
        [
            twice[0],
            {**elsewhere, "applicant_ref": holder},
            {**neighbours, "applicant_ref": neighbour},
        ],
        {rules.service_item: rules},
    )
    assert result.outcomes == {"approve": 3} and len(result.produced) == 3, result.to_json()


def test_the_demos_licences_disclose_the_name_its_permits_certify() -> None:
    """The demo (scripts/demo.sh) approved its permit applications citing licences that name the business
    ``subject.enterprise_name``, while the shipped permit rules certify the business name from ``subject.name``: every
    permit the demo issued named no business (the finding above, in the shipped walk-through). Its licences now carry
    each field the shipped rule set certifies from them, and its applications type the name from that field."""
    root = Path(__file__).resolve().parent.parent
    rules = yaml.safe_load((root / "rules" / "food-business-permit.yaml").read_text(encoding="utf-8"))
    demo = (root / "scripts" / "demo.sh").read_text(encoding="utf-8")
    certified = [p.split(".", 2)[2] for p in rules["produces"]["fields"].values() if p.startswith("certificate.")]
    assert certified == ["subject.name"]
    licences = re.search(r'"type": "business-licence",\s*"subject": \{(.*?)\}', demo, re.S)
    assert licences is not None
    for path in certified:
        assert f'"{path.removeprefix("subject.")}":' in licences[1], path
        assert f'licence["fields"]["{path}"]' in demo, path


def test_the_gateway_refuses_an_application_its_permit_cannot_be_written_from(ledger: Ledger, tmp_path: Path) -> None:
    """The same applicant through their department's service (``POST /decisions``, which decides through the
    library): the application without premises is a 422 naming the field, nothing recorded or issued; with them, the
    case is approved and its permit issued; the same application again under another case number is a 409 naming
    the permit that stands (nothing recorded), and premises ``true`` a 422 naming the field (round 77b)."""
    from .api_support import Clock, assert_problem, bearer, login, make_client, register

    dept = register(ledger, "RT77", "approver", "issuer")
    rules = published_permit_rules(ledger, dept, "rt77-api")
    licence, holder = fresh_licence(ledger, tmp_path, "rt77-api")
    client = make_client(ledger, Clock())
    token = login(client, ledger, dept)

    def payload(case: str, premises: bool, given: Any = "Room 101, 1 Keyuan Road") -> dict[str, Any]:
        the_input = application(case, licence)
        the_input["application"]["premises"] = given
        if not premises:
            del the_input["application"]["premises"]
        return {
            "case_id": the_input.pop("case_id"),
            "service_item": the_input.pop("service_item"),
            "rule_set": rules.hex_digest,
            "applicant_ref": holder,
            "input": the_input,
        }

    refused = assert_problem(client.post("/decisions", json=payload("API-RT77", False), headers=bearer(token)), 422)
    assert "premises" in refused["detail"], refused
    assert decisions.find_decisions(ledger, dept, "API-RT77") == []
    assert permits.live(ledger, dept, "API-RT77") == []
    approved = client.post("/decisions", json=payload("API-RT77-OK", True), headers=bearer(token))
    assert approved.status_code == 201, approved.text
    (standing,) = permits.live(ledger, dept, "API-RT77-OK")
    twice = assert_problem(client.post("/decisions", json=payload("API-RT77-AGAIN", True), headers=bearer(token)), 409)
    assert "same premises" in twice["detail"] and standing in twice["detail"], twice
    assert decisions.find_decisions(ledger, dept, "API-RT77-AGAIN") == []
    typed = assert_problem(
        client.post("/decisions", json=payload("API-RT77-TRUE", True, given=True), headers=bearer(token)), 422
    )
    assert "'premises' as text" in typed["detail"], typed
    assert decisions.find_decisions(ledger, dept, "API-RT77-TRUE") == []


def test_a_bundle_naming_the_applicant_discloses_no_other_holders_identity(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an applicant who knows only the digest of another firm's licence (a digest is no secret: it is what
    a public verification or a timeline asks by) and cites it in their own application. The department reads it from
    the issuer's store (logged) and refers the case, not held; the decision's evidence bundle naming the applicant,
    which the department hands the applicant for a review or a court, presented every cited certificate with its
    type's holder field disclosed, so it told the applicant the other firm's credit code (for an ID card, a person's
    ID number). The bundle now discloses a cited certificate's holder field only when it names the applicant; both
    verifiers read the hidden one as naming someone else, as recorded, and verify the bundle. The applicant's own
    licence, cited beside it, is still presented with its credit code, so a record calling it not held would fail."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt77-oracle")
    other, firm = fresh_licence(ledger, tmp_path, "rt77-oracle", holder="91440300MA59999980")
    own, applicant = fresh_licence(ledger, tmp_path, "rt77-oracle-own", holder="91440300MA59999981")
    app = application("FBP-RT77-ORACLE", other)  # cites the other firm's licence by its digest
    app["application"]["business_scope"] = "cooked-food"  # referred whatever it cites: no permit to erase
    app["certificates"] = [other["digest"], own["digest"]]
    decided = decisions.decide(ledger, dept, app["case_id"], SERVICE_ITEM, app, rules, applicant_ref=applicant)
    assert [c["holder"] for c in decided.body["certificates"]] == [False, True], decided.body
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    bundle = evidence.decision_bundle(ledger, dept, app["case_id"], applicant=applicant)
    theirs, mine = bundle["cited"]
    assert firm not in json.dumps(theirs) and "subject.credit_code" in theirs["hidden"], theirs["fields"]
    assert mine["fields"]["subject.credit_code"] == applicant
    report, code, _ = both(ledger, bundle, tmp_path, "oracle.json")
    assert report.ok and code == 0, report.to_json()
