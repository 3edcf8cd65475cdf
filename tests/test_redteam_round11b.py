"""Red team, round 11b: an applicant lying in their input, a database insider and a hostile department.

Holes (each test failed before its fix):

- an applicant renews a business licence that is not theirs: the shipped ``business-licence-renewal`` rule set
  approved on any verified, valid "business-licence" and any tax clearance cited, never asking whether they name
  the applicant (``holder``), so citing another firm's licence and tax clearance (by digest, which the ledger
  opens from the issuer's store) was approved in seconds (``rules/business-licence-renewal.yaml`` 1.2.0);
- a hostile department cites, in an application it decides, ``{"document_ref": ref}``: the content address of a
  licence copy that a person attached to ANOTHER department's application (the ref is in every bundle of that
  decision). The ledger opened that department's sealed copy, verified it and answered its type, status and
  whether it names the identity given (an identity oracle), and no access log recorded the read; the same citation
  by digest is logged in the issuer's access log (``ledger/services/decisions.py``: an application may not name a
  stored copy, only the ledger does when it stores one);
- an applicant has a food business permit issued in a name that is not theirs: the shipped ``food-business-permit``
  rule set verified the applicant's own business licence, then wrote into the permit (signed and anchored by the
  department) whatever business name the application typed, never the licence's. A produced certificate's field may
  now come from the applicant's own verified, valid cited certificate (``certificate.TYPE.FIELD``,
  ``ledger/formats/rules.py``, ``ledger/services/permits.py``), and the shipped permit takes its business name from
  the licence (``rules/food-business-permit.yaml`` 1.2.0);
- a case's approval withdrawn by overriding the case's latest decision left the permit of an earlier approval
  valid: an automatic approval issues a permit, an officer confirms it (an approving override, which issues
  nothing), another officer then refuses the case by overriding its latest decision. Only the overridden decision's
  own permit was revoked (it had none), so the applicant kept a valid permit for a refused case, and replay said
  nothing (``ledger/services/permits.py``: a refusal withdraws every permit of the case, and replay checks it);
- the same permit kept by an officer refusing an approved case without naming the decision overridden: the
  library recorded an officer's decision of a case already decided as if it were the first, so nothing was
  withdrawn and the case's latest word (a refusal) stood beside a valid permit (``ledger/services/decisions.py``:
  an officer's decision of a decided case must name the decision it overrides);
- an approval withdrawn after a random inspection found it non-conforming (``supervision.withdraw_approval``: the
  reject override the inspection loop records) left the permit the approval produced valid on chain: the applicant
  kept presenting a permit for a withdrawn approval (replay flagged it, the library never revoked it).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ledger.client import Ledger
from ledger.errors import InputError, StateError
from ledger.formats.rules import RuleSet, load_rule_set
from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER, ROLE_VERIFIER
from ledger.services import accesslog, decisions, issuance, logchain, permits, supervision
from ledger.services.departments import Council
from ledger.services.facts import document_ref
from ledger.services.replay import replay
from ledger.services.verify import ChainView, verify_certificate

from .conftest import TEST_ITEMS, TEST_TYPES, make_records, write_jsonl
from .decision_support import application, unique_rule_set
from .permit_support import application as permit_application
from .permit_support import permit_rules, tax_office, withdrawn

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"


def _issue(ledger: Ledger, tmp: Path, department: str, records: list[dict[str, Any]], tag: str) -> list[dict[str, Any]]:
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp / f"{department}-{tag}.jsonl", records), department, out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _approved_case(
    ledger: Ledger, tmp: Path, dept: str, tag: str, case: str
) -> tuple[RuleSet, str, dict[str, Any], decisions.Decision]:
    """``dept`` publishes its permit rules and approves ``case`` for the holder of a fresh MKT licence: the rule
    set, the holder's identity, the application and the approval (which issued a permit)."""
    rules = permit_rules(f"{tag}-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    (licence,) = _issue(ledger, tmp, "MKT", make_records(1), tag)
    identity = licence["fields"]["subject.credit_code"]
    app = permit_application(case, licence)
    first = decisions.decide(ledger, dept, case, app["service_item"], app, rules, applicant_ref=identity)
    return rules, identity, app, first


def _shipped(name: str, tag: str) -> RuleSet:
    """A shipped rule set under a version of its own (every test department publishes its own copy)."""
    document = yaml.safe_load((RULES_DIR / name).read_text(encoding="utf-8"))
    document["version"] = f"{document['version']}-test-{tag}"
    return load_rule_set(document)


# --------------------------------------------------------------------------- renewing another firm's licence


def test_a_licence_renewal_citing_another_firms_licence_and_tax_clearance_is_not_approved(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    approver = fresh_department
    records = make_records(2)
    licences = _issue(ledger, tmp_path, "MKT", records, "licences")
    clearances = _issue(
        ledger,
        tmp_path,
        tax_office(ledger),  # the tax office the shipped rules take a clearance from (1.5.0)
        [{**r, "id": r["id"] + "-TAX", "type": "tax-clearance"} for r in records],
        "tax",
    )
    rules = _shipped("business-licence-renewal.yaml", approver)
    decisions.publish_rule_set(ledger, rules, approver)
    item = "440300-SCJG-0042"

    def renew(case: str, identity: str, licence: dict[str, Any], clearance: dict[str, Any]) -> dict[str, Any]:
        application = {
            "item": {"onsite_reason": 1},
            "application": {"online": True},
            "certificates": [licence["digest"], clearance["digest"]],
        }
        return decisions.decide(ledger, approver, case, item, application, rules, applicant_ref=identity).body

    # the honest holder renews its own licence
    own = renew("C-RENEW-OWN", records[0]["subject"]["credit_code"], licences[0], clearances[0])
    assert own["outcome"] == "approve", own
    # another firm cites the first firm's licence and tax clearance: verified, valid, but not the applicant's
    theirs = renew("C-RENEW-THEIRS", records[1]["subject"]["credit_code"], licences[0], clearances[0])
    assert [c["holder"] for c in theirs["certificates"]] == [False, False]
    assert theirs["outcome"] != "approve", theirs
    # its own licence with someone else's tax clearance: not cleared either
    mixed = renew("C-RENEW-MIXED", records[1]["subject"]["credit_code"], licences[1], clearances[0])
    assert mixed["outcome"] != "approve", mixed
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, approver)
    assert replay(ledger, department=approver).ok


@pytest.mark.parametrize("name", sorted(p.name for p in RULES_DIR.glob("*.yaml")))
def test_every_shipped_approving_certificate_condition_asks_for_the_applicants_own(name: str) -> None:
    """What an approve rule of a shipped rule set requires of a certificate names the applicant (``holder: true``):
    a verified certificate of someone else is no evidence about the applicant."""
    document = yaml.safe_load((RULES_DIR / name).read_text(encoding="utf-8"))

    def conditions(node: Any) -> list[dict[str, Any]]:
        if not isinstance(node, dict):
            return []
        if "certificate" in node:
            return [node["certificate"]]
        return [c for key in ("all", "any") for part in node.get(key, []) for c in conditions(part)] + conditions(
            node.get("not")
        )

    wanted = [(r["id"], c) for r in document["rules"] for c in conditions(r["when"]) if c.get("verified") is True]
    assert all(c.get("holder") is True for _, c in wanted), wanted


# --------------------------------------------------------------------------- citing another department's sealed copy


def test_an_application_cannot_cite_a_sealed_copy_another_department_stored(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    honest = fresh_department
    hostile = f"{honest}-H"
    Council(ledger).register(
        hostile, "Hostile", ROLE_ISSUER | ROLE_VERIFIER | ROLE_APPROVER, types=TEST_TYPES, items=TEST_ITEMS
    )
    (licence,) = _issue(ledger, tmp_path, "MKT", make_records(1), "copy")
    identity = licence["fields"]["subject.credit_code"]
    for dept in (honest, hostile):
        decisions.publish_rule_set(ledger, unique_rule_set(f"copy-{dept}"), dept)
    # a person attaches their licence to an application at the honest department: stored as a sealed copy
    decisions.decide(
        ledger,
        honest,
        "C-COPY-1",
        "ITEM-1",
        application("C-COPY-1", {"document": licence}),
        unique_rule_set(f"copy-{honest}"),
        applicant_ref=identity,
    )
    ref = document_ref(licence)  # what the stored input, and every bundle of that decision, names
    before = len(accesslog.entries(ledger, department="MKT", certificate=licence["digest"]))
    # the hostile department cites that copy and tries identities; every path of deciding refuses the citation
    for run in (
        lambda app: decisions.decide(
            ledger, hostile, app["case_id"], "ITEM-1", app, unique_rule_set(f"copy-{hostile}"), applicant_ref=identity
        ),
        lambda app: decisions.decide_many(
            ledger, hostile, [{**app, "applicant_ref": identity}], {"*": unique_rule_set(f"copy-{hostile}")}
        ),
        lambda app: decisions.record_human_decision(
            ledger,
            hostile,
            app["case_id"],
            "ITEM-1",
            officer="officer-1",
            outcome="refer",
            reasons=["OFFICER_REVIEW"],
            applicant_ref=identity,
            decision_input=app,
        ),
    ):
        with pytest.raises(InputError, match="document_ref"):
            run(application(f"C-COPY-H{before}", {"document_ref": ref}))
    assert decisions.find_decisions(ledger, hostile, f"C-COPY-H{before}") == []
    assert len(accesslog.entries(ledger, department="MKT", certificate=licence["digest"])) == before
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, honest)


# --------------------------------------------------------------------------- a permit in a name one typed


def test_a_produced_permit_states_the_licences_business_name_not_the_one_typed(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    dept = fresh_department
    rules = permit_rules(f"name-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    licences = _issue(ledger, tmp_path, "MKT", make_records(2), "names")
    identity = licences[0]["fields"]["subject.credit_code"]
    lie = permit_application("FBP-NAME-1", licences[0])
    lie["application"]["business_name"] = "Shenzhen Famous Brand Food Co."  # not the name on the licence
    inline = permit_application("FBP-NAME-2", licences[0])
    inline["certificates"] = [{"document": licences[0]}]
    for app in (lie, inline):
        decision = decisions.decide(
            ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=identity
        )
        assert decision.body["outcome"] == "approve", decision.body
        (permit,) = permits.documents(ledger, [decision.body["issued"]["certificate"]])
        assert permit["fields"]["subject.business_name"] == licences[0]["fields"]["subject.name"]
    # the bulk path likewise
    bulk = permit_application("FBP-NAME-3", licences[0])
    bulk["application"]["business_name"] = "Another Famous Brand"
    result = decisions.decide_many(ledger, dept, [{**bulk, "applicant_ref": identity}], {"*": rules})
    (permit,) = permits.documents(ledger, list(result.produced))
    assert permit["fields"]["subject.business_name"] == licences[0]["fields"]["subject.name"]
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).ok


# --------------------------------------------------------------------------- a withdrawal that missed the permit


@pytest.mark.parametrize("confirmed_with", ["no rule set", "the rule set"])
def test_refusing_a_case_after_a_confirming_override_revokes_the_first_approvals_permit(
    ledger: Ledger, tmp_path: Path, fresh_department: str, confirmed_with: str
) -> None:
    dept = fresh_department
    rules, identity, app, first = _approved_case(ledger, tmp_path, dept, "withdraw", "FBP-W-1")
    permit = first.body["issued"]["certificate"]

    def officer(outcome: str, reason: str, overrides: int | str, **kwargs: Any) -> decisions.Decision:
        return decisions.record_human_decision(
            ledger,
            dept,
            "FBP-W-1",
            app["service_item"],
            officer="officer-1",
            outcome=outcome,
            reasons=[reason],
            applicant_ref=identity,
            overrides=overrides,
            **kwargs,
        )

    # an officer confirms the approval; another refuses the case, overriding its latest decision
    confirm = officer(
        "approve", "OFFICER_CONFIRMED", first.seq, **({"rule_set": rules} if confirmed_with == "the rule set" else {})
    )
    second = confirm.body.get("issued", {}).get("certificate")
    refusal = officer("reject", "PREMISES_NOT_AS_DECLARED", "FBP-W-1")
    assert refusal.body["overrides"]["seq"] == confirm.seq
    assert sorted(refusal.body.get("withdraws", [])) == sorted(d for d in (permit, second) if d)
    for digest in (d for d in (permit, second) if d):
        (document,) = permits.documents(ledger, [digest])
        report = verify_certificate(document, ChainView(ledger.chain, 0))
        assert not report.ok and "revoked" in json.dumps(report.to_json()), digest
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).ok


def test_replay_reports_an_earlier_approvals_permit_left_valid_by_a_refusal(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the fix's replay check catches: the refusal recorded, the first approval's permit never revoked (a
    crash, or a ledger before the fix)."""
    dept = fresh_department
    _, identity, app, first = _approved_case(ledger, tmp_path, dept, "withdraw-r", "FBP-W-2")
    kwargs: dict[str, Any] = {"officer": "officer-1", "applicant_ref": identity}
    confirm = decisions.record_human_decision(
        ledger, dept, "FBP-W-2", app["service_item"], outcome="approve", reasons=["OK"], overrides=first.seq, **kwargs
    )
    monkeypatch.setattr(permits, "withdraw", lambda *args, **kw: [])  # the process dies before revoking
    decisions.record_human_decision(
        ledger, dept, "FBP-W-2", app["service_item"], outcome="reject", reasons=["NO"], overrides=confirm.seq, **kwargs
    )
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    report = replay(ledger, department=dept)
    assert [(d.check, d.seq) for d in report.discrepancies] == [("produced_not_revoked", first.seq)]


def test_an_officer_cannot_refuse_an_approved_case_without_overriding_its_decision(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    dept = fresh_department
    _, identity, app, first = _approved_case(ledger, tmp_path, dept, "plain", "FBP-P-1")
    assert first.body["outcome"] == "approve"
    with pytest.raises(StateError, match="overrides"):
        decisions.record_human_decision(
            ledger,
            dept,
            "FBP-P-1",
            app["service_item"],
            officer="officer-1",
            outcome="reject",
            reasons=["PREMISES_NOT_AS_DECLARED"],
            applicant_ref=identity,
        )
    assert [d.seq for d in decisions.find_decisions(ledger, dept, "FBP-P-1")] == [first.seq]
    # the same refusal written past the library: replay holds the permit to it
    forged = {
        **{k: v for k, v in first.body.items() if k != "issued"},
        "outcome": "reject",
        "reasons": ["PREMISES_NOT_AS_DECLARED"],
        "fired": [],
        "engine": None,
        "decided_by": {"kind": "officer", "department": dept, "officer_ref": decisions.officer_ref(ledger, dept, "o")},
    }
    logchain.append(ledger, logchain.LOG_DECISIONS, dept, forged)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    report = replay(ledger, department=dept)
    assert ("produced_not_revoked", first.seq) in {(d.check, d.seq) for d in report.discrepancies}


def test_an_approval_withdrawn_after_an_inspection_revokes_its_permit(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    from datetime import UTC, datetime, timedelta

    dept = fresh_department
    start = datetime.now(UTC) - timedelta(minutes=1)
    *_, approval = _approved_case(ledger, tmp_path, dept, "inspect", "FBP-I-1")
    permit = approval.body["issued"]["certificate"]
    supervision.register_inspectors(ledger, dept, f"inspectors-{dept}", ["insp-1"])
    announcement = supervision.announce_inspection(
        ledger, dept, since=start, until=start + timedelta(hours=1), rate="1", inspectors=f"inspectors-{dept}"
    )
    ledger.chain.w3.provider.make_request(  # type: ignore[arg-type]
        "anvil_mine", [hex(announcement["target_block"] - ledger.chain.block_number())]
    )
    draw = supervision.draw_inspection(ledger, dept, announcement["seq"])
    assert [s["case_id"] for s in draw["sample"]] == ["FBP-I-1"]
    finding = supervision.record_finding(
        ledger,
        dept,
        draw["seq"],
        "FBP-I-1",
        inspector="insp-1",
        conforming=False,
        findings=["PREMISES_NOT_AS_DECLARED"],
    )
    withdrawn(ledger, dept, finding)
    (document,) = permits.documents(ledger, [permit])
    report = verify_certificate(document, ChainView(ledger.chain, 0))
    assert not report.ok and "revoked" in json.dumps(report.to_json())
    assert decisions.find_decision(ledger, dept, "FBP-I-1").body.get("withdraws") == [permit]
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    replayed = replay(ledger, department=dept)
    assert replayed.ok, replayed.summary()


def test_replays_permit_scan_reads_a_case_id_of_another_type_as_no_case() -> None:
    """An insider's body whose case id is a list (or object) is no case: the scan must not crash replay on it."""
    scan = permits.LinkScan()
    scan.add("D", 1, "0x01", {"case_id": ["C"], "outcome": "approve", "issued": {"certificate": "0x" + "aa" * 32}})
    scan.add("D", 2, "0x02", {"case_id": {"C": 1}, "outcome": "reject"})
    scan.add("D", 3, "0x03", {"case_id": "C", "outcome": "approve", "issued": {"certificate": "0x" + "bb" * 32}})
    scan.add("D", 4, "0x04", {"case_id": "C", "outcome": "refer", "decided_by": {"kind": "officer"}})
    assert scan.withdrawn_by == {"0x" + "bb" * 32: 4}
