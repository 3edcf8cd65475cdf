"""Red team, round 14b: an applicant lying in their application, a hostile department, an anonymous client and an
insider with database access.

1. A permit's certified field came from any licence of the type. The shipped food business permit takes its
   business name from "the applicant's own verified, valid, unexpired" business licence
   (``certificate.business-licence.subject.name``), while its rules approve only on a business licence of the
   market regulator (``issuer: [MKT]``). The field was read from the first such citation of any issuer, so an
   applicant who also held a business licence from a department the rule set does not trust (another office the
   council authorised for the type, or a hostile one that wrote any name) cited that one first and had the
   approving department sign a permit in a business name the market regulator never vouched for. Now a certified
   field is read only from a certificate of an issuer every condition of the rule set on that type accepts.

Each hole found was written first as a failing test, then closed.
"""

from __future__ import annotations

from pathlib import Path

from ledger.client import Ledger
from ledger.services import decisions, logchain, permits
from ledger.services.replay import replay

from .conftest import make_records
from .permit_support import application, issue_records, published_permit_rules

# -- 1. a permit's business name from a licence the rules do not rely on ---------------------------------------------


def test_a_permits_certified_name_comes_from_a_licence_of_an_issuer_the_rules_trust(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: an applicant holding the market regulator's business licence and another business licence, in
    another name, from a department the council also authorised for the type (HOSP here) but which the permit's
    rules do not trust (every business-licence condition names ``issuer: [MKT]``). They cite the other licence first:
    the rules approve on the regulator's licence, and the permit must state the regulator's name, not the other."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "r14b-issuer")
    (record,) = make_records(1)
    (licence,) = issue_records(ledger, tmp_path, "MKT", [record], "r14b-mkt")
    identity = licence["fields"]["subject.credit_code"]
    other = {**record, "id": record["id"] + "-H", "subject": {**record["subject"], "name": "Famous Brand Food Co."}}
    (untrusted,) = issue_records(ledger, tmp_path, "HOSP", [other], "r14b-hosp")
    assert untrusted["fields"]["subject.credit_code"] == identity  # it names the applicant too
    app = application("FBP-R14B-1", licence)
    app["certificates"] = [untrusted["digest"], licence["digest"]]
    decision = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=identity)
    assert decision.body["outcome"] == "approve", decision.body
    facts = decision.body["certificates"]
    assert [f["issuer"] for f in facts] == ["HOSP", "MKT"] and all(f["holder"] and f["verified"] for f in facts)
    (permit,) = permits.documents(ledger, [decision.body["issued"]["certificate"]])
    assert permit["fields"]["subject.business_name"] == record["subject"]["name"], permit["fields"]
    # the bulk path reads the same
    bulk = application("FBP-R14B-2", licence)
    bulk["certificates"] = [{"document": untrusted}, licence["digest"]]
    result = decisions.decide_many(ledger, dept, [{**bulk, "applicant_ref": identity}], {"*": rules})
    (permit,) = permits.documents(ledger, list(result.produced))
    assert permit["fields"]["subject.business_name"] == record["subject"]["name"], permit["fields"]
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).ok
