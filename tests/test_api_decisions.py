"""POST /decisions: an approving department's service gets an automatic decision, and the permit it produces, in
one call. Adversaries: a department without the approver role, an anonymous client, an applicant vouching in their
own input for a revoked licence or citing someone else's, a client retrying (or re-sending with other input) to
get a second decision and a second permit, and bad input (which must be refused and record nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from ledger.client import Ledger
from ledger.services import decisions, logchain, permits, status
from ledger.services.verify import ChainView, verify_certificate

from .api_support import Clock, assert_problem, bearer, issue, login, make_client, register
from .permit_support import application, permit_rules


@pytest.fixture(scope="module")
def desk(ledger: Ledger) -> dict[str, Any]:
    approver = register(ledger, "DA", "approver", "issuer", "verifier")
    rule_set = permit_rules(f"api-{approver}")
    decisions.publish_rule_set(ledger, rule_set, approver)
    client = make_client(ledger, Clock())
    return {
        "approver": approver,
        "rule_set": rule_set.hex_digest,
        "client": client,
        "token": login(client, ledger, approver),
        "licences": issue(ledger, "MKT", 4),
    }


def body(desk: dict[str, Any], case: str, licence: dict[str, Any], **changes: Any) -> dict[str, Any]:
    the_input = application(case, licence)  # the API carries the case number and service item beside the input
    return {
        "case_id": the_input.pop("case_id"),
        "service_item": the_input.pop("service_item"),
        "rule_set": desk["rule_set"],
        "applicant_ref": licence["fields"]["subject.credit_code"],
        "input": the_input,
        **changes,
    }


def post(desk: dict[str, Any], payload: dict[str, Any], token: str | None = None) -> Any:
    return desk["client"].post("/decisions", json=payload, headers=bearer(token or desk["token"]))


def permits_of(ledger: Ledger, department: str) -> int:
    with ledger.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(permits.ProducedCertificate)
                .where(permits.ProducedCertificate.department_id == department)
            ).scalar_one()
        )  # type: ignore[arg-type]


def test_an_approver_decides_in_one_call_and_gets_the_anchored_permit(ledger: Ledger, desk: dict[str, Any]) -> None:
    answer = post(desk, body(desk, "API-APPROVE-1", desk["licences"][0], anchor=True))
    assert answer.status_code == 201, answer.text
    decided = answer.json()
    assert decided["outcome"] == "approve" and decided["department"] == desk["approver"], decided
    assert decided["certificates"][0]["verified"] is True and decided["certificates"][0]["status"] == "valid"
    assert decided["issued"] and len(decided["documents"]) == 1 and decided["anchored"]
    permit = decided["documents"][0]
    assert permit["digest"] == decided["issued"]["certificate"]
    assert verify_certificate(permit, ChainView(ledger.chain)).ok  # the applicant's permit verifies anywhere now
    assert desk["client"].post("/public/verify", json={"document": permit}).json()["verified"] is True
    assert logchain.unanchored(ledger, logchain.LOG_DECISIONS, desk["approver"]) == []
    recorded = decisions.find_decision(ledger, desk["approver"], "API-APPROVE-1")
    assert recorded.seq == decided["seq"] and recorded.entry_hash == decided["entry_hash"]


def test_only_approvers_decide(ledger: Ledger, desk: dict[str, Any]) -> None:
    verifier = register(ledger, "DN", "verifier", "issuer")
    refused = post(desk, body(desk, "API-NOT-APPROVER", desk["licences"][1]), login(desk["client"], ledger, verifier))
    assert "approver role" in assert_problem(refused, 403)["detail"]
    anonymous = desk["client"].post("/decisions", json=body(desk, "API-ANONYMOUS", desk["licences"][1]))
    assert_problem(anonymous, 401)
    for code, case in ((verifier, "API-NOT-APPROVER"), (desk["approver"], "API-ANONYMOUS")):
        assert decisions.find_decisions(ledger, code, case) == []


def test_the_application_cannot_vouch_for_a_revoked_licence(ledger: Ledger, desk: dict[str, Any]) -> None:
    """The applicant's licence was revoked; their application says it is verified and valid. The ledger reads
    the chain, not the claim: no approval, no permit."""
    licence = desk["licences"][2]
    status.revoke(ledger, licence["digest"], "fraud")
    before = permits_of(ledger, desk["approver"])
    payload = body(desk, "API-REVOKED", licence)
    payload["input"]["certificates"] = [{"digest": licence["digest"], "verified": True, "status": "valid"}]
    answer = post(desk, payload)
    assert answer.status_code == 201, answer.text
    decided = answer.json()
    assert decided["outcome"] != "approve" and decided["certificates"][0]["status"] == "revoked", decided
    assert decided["issued"] is None and decided["documents"] == [] and permits_of(ledger, desk["approver"]) == before


def test_someone_elses_licence_does_not_approve(ledger: Ledger, desk: dict[str, Any]) -> None:
    payload = body(desk, "API-OTHER-HOLDER", desk["licences"][3], applicant_ref="91440300MA5XXXXXXX")
    decided = post(desk, payload).json()
    assert decided["outcome"] != "approve" and decided["certificates"][0]["holder"] is False, decided


def test_a_case_is_decided_once(ledger: Ledger, desk: dict[str, Any]) -> None:
    """A retry after a lost answer, or the same case sent again with other input, gets 409 naming the first
    decision: never a second decision, never a second permit."""
    first = post(desk, body(desk, "API-ONCE", desk["licences"][1]))
    assert first.status_code == 201, first.text
    issued = permits_of(ledger, desk["approver"])
    for payload in (
        body(desk, "API-ONCE", desk["licences"][1]),
        body(desk, "API-ONCE", desk["licences"][1], service_item="440300-SCJG-0042"),
    ):
        again = assert_problem(post(desk, payload), 409)
        assert f"decision {first.json()['seq']}" in again["detail"] and "override" in again["detail"]
    assert len(decisions.find_decisions(ledger, desk["approver"], "API-ONCE")) == 1
    assert permits_of(ledger, desk["approver"]) == issued


@pytest.mark.parametrize(
    ("name", "change", "status_code"),
    [
        ("a file path for a rule set", {"rule_set": "/etc/passwd"}, 422),
        ("rules/food-business-permit.yaml", {"rule_set": "rules/food-business-permit.yaml"}, 422),
        ("an unpublished rule set", {"rule_set": "0x" + "ab" * 32}, 404),
        ("an extra member", {"outcome": "approve"}, 422),
        ("a case number with a space", {"case_id": "API BAD"}, 422),
        ("the applicant inside the input", {"input": {"applicant_ref": "x", "certificates": []}}, 422),
        ("input that is not an object", {"input": ["approve"]}, 422),
    ],
)
def test_bad_input_is_refused_and_records_nothing(
    ledger: Ledger, desk: dict[str, Any], name: str, change: dict[str, Any], status_code: int
) -> None:
    payload = {**body(desk, "API-BAD", desk["licences"][1]), **change}
    refused = assert_problem(post(desk, payload), status_code)
    assert refused["detail"], name
    assert decisions.find_decisions(ledger, desk["approver"], "API-BAD") == []
    assert decisions.find_decisions(ledger, desk["approver"], "API BAD") == []
