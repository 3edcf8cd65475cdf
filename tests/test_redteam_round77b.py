"""Red team round 77b (permits): round 77's open and noticed rows about what an approval issues.

Found and fixed here:

* (An applicant lying in their input) send the premises the food business permit copies as ``true``, a number, an
  object or a list: a copied value was any non-empty JSON value, so the department signed a five-year permit whose
  premises were ``true``. A rule set now gives each copied field its type (``produces.types``; the shipped permit's
  premises and scope are text), and a value of another type is refused: InputError naming the field, nothing recorded.
* (An applicant citing a certificate of a department that holds the type for another purpose) renew a business
  licence with a tax clearance of the market regulator: ``business-licence-renewal`` took a tax clearance from any
  authorised issuer; 1.5.0 takes the tax office's (``issuer: [TAX]``) only.
* (An applicant whose licence ends soon) apply for the food business permit: the permit was valid five years from the
  decision whatever the licence it rests on said; it now ends no later than that licence.
* (An intake numbering cases as the gateway allows, 128 characters) apply under a long case number: the permit's id
  (``FBP-DEPT-CASE``) was past the 128 characters a certificate id may be, so every approval of such a case was
  refused as a bad record. A long number's permit id is now the number cut short and a hash of it; it always fits.
* (An insider, or only an upgrade) a permit issued before migration 0022 has no key yet: the first approval that asks
  keys it, so it still stands for its premises.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import update

from ledger.client import Ledger
from ledger.errors import InputError, StateError
from ledger.formats.rules import load_rule_set
from ledger.services import decisions, logchain, permits
from ledger.storage.models import PermitKey, PermitKeyNode, PermitKeyTree

from .conftest import make_records
from .permit_support import (
    SERVICE_ITEM,
    application,
    fresh_licence,
    issue_records,
    live_permits,
    officer_decision,
    published_permit_rules,
    replay_checks,
    tax_office,
)

RULES = Path(__file__).resolve().parent.parent / "rules"


def _decisions(ledger: Ledger, dept: str) -> int:
    return len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)))


def _permit(ledger: Ledger, decision: decisions.Decision) -> dict[str, Any]:
    (document,) = permits.documents(ledger, [decision.body["issued"]["certificate"]])
    return document


@pytest.mark.parametrize("premises", [True, 7, {"x": 1}, ["Room 101, 1 Keyuan Road"]])
def test_a_permit_copies_no_value_of_another_type_than_its_field(
    ledger: Ledger, fresh_department: str, tmp_path: Path, premises: Any
) -> None:
    """Adversary: an applicant lying in their input (an intake passing the form on). The premises the permit copies
    sent as ``true``, a number, an object or a list were approved (a copied value had only to state something) and
    signed into a five-year permit. Refused: InputError naming the field and its type, nothing recorded or issued,
    through ``decide``, ``decide_many`` and an officer's approval given the application; the same application with
    the premises as text is approved."""
    dept = fresh_department
    tag = type(premises).__name__
    rules = published_permit_rules(ledger, dept, f"rt80-typed-{tag}")
    assert (rules.produces or {})["types"] == {"premises": "text", "business_scope": "text"}
    licence, holder = fresh_licence(ledger, tmp_path, f"rt80-typed-{tag}")
    app = application(f"FBP-RT80-TYPED-{tag.upper()}", licence)
    app["application"]["premises"] = premises
    with pytest.raises(InputError, match="'premises' as text") as refused:
        decisions.decide(ledger, dept, app["case_id"], SERVICE_ITEM, app, rules, applicant_ref=holder)
    assert "nothing was recorded" in str(refused.value).lower()
    with pytest.raises(InputError, match="'premises' as text"):
        decisions.decide_many(ledger, dept, [{**app, "applicant_ref": holder}], {rules.service_item: rules})
    with pytest.raises(InputError, match="'premises' as text"):
        officer_decision(
            ledger, dept, app["case_id"], holder, "approve", "ONSITE_CHECK_PASSED", rule_set=rules,
            decision_input=app,
        )  # fmt: skip
    assert _decisions(ledger, dept) == 0
    assert permits.live(ledger, dept, app["case_id"]) == []
    honest = application(f"FBP-RT80-TYPED-{tag.upper()}-OK", licence)
    approved = decisions.decide(ledger, dept, honest["case_id"], SERVICE_ITEM, honest, rules, applicant_ref=holder)
    assert _permit(ledger, approved)["fields"]["subject.premises"] == honest["application"]["premises"]


def test_a_rule_set_types_only_fields_it_copies_with_a_known_type() -> None:
    """``produces.types`` names fields of ``produces.fields`` with a type the ledger knows; anything else is refused
    at load (and by the court's verifier, which holds a rule set to what the ledger loads)."""
    from .evidence_support import SCRIPT_MODULE

    document = yaml.safe_load((RULES / "food-business-permit.yaml").read_text(encoding="utf-8"))
    for types in ({"nowhere": "text"}, {"premises": "address"}, ["premises"]):
        bad = {**document, "produces": {**document["produces"], "types": types}}
        with pytest.raises(InputError, match=r"produces\.types"):
            load_rule_set(bad)
        with pytest.raises(SCRIPT_MODULE.Failure, match=r"produces\.types"):
            SCRIPT_MODULE.produces_problem(bad["produces"])
    for one_per in ([], ["nowhere"], ["premises", "premises"], "premises"):
        bad = {**document, "produces": {**document["produces"], "one_per": one_per}}
        with pytest.raises(InputError, match=r"produces\.one_per"):
            load_rule_set(bad)
        with pytest.raises(SCRIPT_MODULE.Failure, match=r"produces\.one_per"):
            SCRIPT_MODULE.produces_problem(bad["produces"])
    SCRIPT_MODULE.produces_problem(document["produces"])


def test_a_renewal_takes_a_tax_clearance_from_the_tax_office_only(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an applicant citing a tax clearance of a department that is authorised to issue the type but is
    not the tax office (here the market regulator, which issues the licence too). ``business-licence-renewal`` asked
    of the tax clearance only that it be verified, valid and the applicant's, so it was renewed in seconds. 1.5.0
    names the tax office (``issuer: [TAX]``): referred (``TAX_CLEARANCE_NOT_VERIFIED``); the tax office's clearance
    for the same firm is renewed."""
    dept = fresh_department
    document = yaml.safe_load((RULES / "business-licence-renewal.yaml").read_text(encoding="utf-8"))
    document["version"] = f"{document['version']}-rt80-{dept}"
    rules = load_rule_set(document)
    decisions.publish_rule_set(ledger, rules, dept)
    (record,) = make_records(1)
    (licence,) = issue_records(ledger, tmp_path, "MKT", [record], "rt80-renewal-licence")
    clearance = {**record, "id": record["id"] + "-TAX", "type": "tax-clearance"}
    (elsewhere,) = issue_records(ledger, tmp_path, "MKT", [clearance], "rt80-renewal-mkt")
    (taxed,) = issue_records(ledger, tmp_path, tax_office(ledger), [clearance], "rt80-renewal-tax")
    holder = record["subject"]["credit_code"]

    def renew(case: str, cleared: dict[str, Any]) -> dict[str, Any]:
        given = {"application": {"online": True}, "certificates": [licence["digest"], cleared["digest"]]}
        return decisions.decide(ledger, dept, case, "440300-SCJG-0042", given, rules, applicant_ref=holder).body

    wrong = renew("RENEW-RT80-MKT", elsewhere)
    assert [c["verified"] and c["holder"] for c in wrong["certificates"]] == [True, True], wrong
    assert (wrong["outcome"], wrong["reasons"]) == ("refer", ["TAX_CLEARANCE_NOT_VERIFIED"]), wrong
    right = renew("RENEW-RT80-TAX", taxed)
    assert right["outcome"] == "approve", right
    assert replay_checks(ledger, dept) == set()


def test_a_permit_ends_no_later_than_the_licence_it_rests_on(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an applicant whose business licence ends next year (or a firm about to be struck off). The food
    business permit, whose business name is certified from that licence, was valid five years from the decision
    whatever the licence said, so it outlived the entity it was granted to. Now its validity ends no later than the
    licence's (the one its name is certified from); a licence valid longer leaves the permit its five years."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt80-ends")
    ends = (datetime.now(UTC) + timedelta(days=200)).date().isoformat()
    short, holder = fresh_licence(ledger, tmp_path, "rt80-ends", valid_until=ends)
    app = application("FBP-RT80-ENDS", short)
    decided = decisions.decide(ledger, dept, app["case_id"], SERVICE_ITEM, app, rules, applicant_ref=holder)
    permit = _permit(ledger, decided)
    assert permit["fields"]["valid_until"] == f"{ends}T23:59:59Z", permit["fields"]
    assert live_permits(ledger, [permit["digest"]]) == [permit["digest"]]
    lasting, other = fresh_licence(
        ledger, tmp_path, "rt80-lasts", holder="91440300MA59999983", valid_until="2099-12-31"
    )
    app = application("FBP-RT80-LASTS", lasting)
    decided = decisions.decide(ledger, dept, app["case_id"], SERVICE_ITEM, app, rules, applicant_ref=other)
    at = datetime.fromisoformat(decided.body["decided_at"].replace("Z", "+00:00")).replace(microsecond=0)
    expected = (at + timedelta(days=1826)).isoformat().replace("+00:00", "Z")
    assert _permit(ledger, decided)["fields"]["valid_until"] == expected


def test_a_128_character_case_number_gets_a_permit_whose_id_fits(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: none (an honest intake numbering its cases as the gateway allows, up to 128 characters). The
    permit's id ``FBP-DEPT-CASE`` was past the 128 characters a certificate id may be, so the approval of such a case
    was refused as a bad record ("id must be a printable string of 1-128 characters"): an application the rules
    approve got no permit. The id is now the number cut short, ``~`` and 16 hex digits of its hash: two long numbers
    sharing their start get two ids, a case approved again after a withdrawal adds ``-2`` and still fits, and the
    permit names its whole case number in ``produced_by``."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt80-long")
    licence, holder = fresh_licence(ledger, tmp_path, "rt80-long")
    ids = []
    for last in "12":
        case = "FBP-RT80-" + "9" * 118 + last
        assert len(case) == 128
        app = application(case, licence)
        decided = decisions.decide(ledger, dept, case, SERVICE_ITEM, app, rules, applicant_ref=holder)
        assert decided.body["outcome"] == "approve", decided.body
        issued = decided.body["issued"]
        assert len(issued["id"]) <= 128 and issued["id"].startswith(f"FBP-{dept}-FBP-RT80-99"), issued
        assert _permit(ledger, decided)["fields"]["subject.produced_by"]["case_id"] == case
        ids.append(issued["id"])
    assert ids[0] != ids[1]
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    latest = decisions.find_decisions(ledger, dept, case)[-1]
    refused = officer_decision(ledger, dept, case, holder, "reject", "OFFICER_FOUND_FRAUD", overrides=latest.seq)
    again = officer_decision(
        ledger, dept, case, holder, "approve", "ONSITE_CHECK_PASSED", rule_set=rules, decision_input=app,
        overrides=refused.seq,
    )  # fmt: skip
    assert again.body["issued"]["id"] == ids[1] + "-2"
    assert replay_checks(ledger, dept) == set()


def test_a_permit_issued_before_0022_still_stands_for_its_premises(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """A permit issued before migration 0022 has a ``permit_key`` row without a key (its fields are sealed: the
    revision cannot open them). The first approval asking for the holder and premises opens and keys it: a second
    case for the same premises is refused as for a permit issued since; an erased or unreadable one is keyed as
    stating nothing."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt80-earlier")
    licence, holder = fresh_licence(ledger, tmp_path, "rt80-earlier")
    first = application("FBP-RT80-EARLIER-1", licence)
    first["application"]["premises"] = "Shop 8, 2 Keyuan Road"
    decided = decisions.decide(ledger, dept, first["case_id"], SERVICE_ITEM, first, rules, applicant_ref=holder)
    digest = decided.body["issued"]["certificate"]
    table = PermitKey.__table__  # type: ignore[attr-defined]
    with ledger.engine.begin() as conn:  # as migration 0024 leaves it: no key, no tree
        unkeyed = dict(key=None, bucket=None, after_seq=None, mac=None)
        assert conn.execute(update(table).where(table.c.digest == digest).values(**unkeyed)).rowcount == 1
        for tree in (PermitKeyNode.__table__, PermitKeyTree.__table__):  # type: ignore[attr-defined]
            conn.execute(tree.delete().where(tree.c.department_id == dept))
    second = dict(first, case_id="FBP-RT80-EARLIER-2")
    with pytest.raises(StateError, match="same premises"):
        decisions.decide(ledger, dept, second["case_id"], SERVICE_ITEM, second, rules, applicant_ref=holder)
    with ledger.engine.connect() as conn:
        key = conn.execute(table.select().where(table.c.digest == digest)).one().key
    assert key is not None and key.startswith("0x") and len(key) == 66
    assert decisions.find_decisions(ledger, dept, second["case_id"]) == []
