"""Helpers for tests of the certificates an approval produces (the shipped food business permit rule set): used by
tests/test_permits.py and the red-team modules (no test module imports another)."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select

from ledger.client import Ledger
from ledger.formats.rules import RuleSet, load_rule_set
from ledger.onchain.ids import ROLE_ISSUER
from ledger.services import decisions, evidence, issuance, logchain, permits, supervision
from ledger.services.replay import replay
from ledger.services.verify import ChainView, verify_certificate

from .conftest import make_records, write_jsonl

RULES = Path(__file__).resolve().parent.parent / "rules" / "food-business-permit.yaml"
ITEM = {"onsite_reason": 0, "materials_required": 3}
SERVICE_ITEM = "440300-SCJG-0107"


def permit_rules(tag: str, **changes: Any) -> RuleSet:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    document["version"] = f"test-{tag}"
    document.update(changes)
    return load_rule_set(document)


def scope_only_rules(tag: str) -> RuleSet:
    """The permit rules cut down to two rules that both read ``application.business_scope``, which the permit copies
    (so a lawful erasure of the permit leaves no rule to re-run)."""
    scope = {"field": "application.business_scope", "op": "==", "value": "prepackaged-food-sales"}
    return permit_rules(
        tag,
        rules=[
            {"id": "scope-ok", "outcome": "approve", "reason": "PREPACKAGED_SALES_PERMITTED", "when": scope},
            {"id": "scope-other", "outcome": "refer", "reason": "SCOPE_NEEDS_ONSITE_CHECK", "when": {"not": scope}},
        ],
        reason_texts=None,
    )


def application(case: str, licence: dict[str, Any], scope: str = "prepackaged-food-sales") -> dict[str, Any]:
    """An application of ``case`` citing ``licence``, for premises of its own (a holder has one live permit per
    premises: a test approving two cases of one holder names two shops unless it sets the premises itself)."""
    return {
        "case_id": case,
        "service_item": "440300-SCJG-0107",
        "item": ITEM,
        "application": {
            "applicant_type": "enterprise",
            "online": True,
            "materials_submitted": 3,
            "business_name": "Nanshan Corner Shop",
            "premises": f"Room 101, 1 Keyuan Road ({case})",
            "business_scope": scope,
        },
        "applicant": {"blacklisted": False},
        "certificates": [licence["digest"]],
    }


def issue_records(
    ledger: Ledger, tmp: Path, department: str, records: list[dict[str, Any]], tag: str
) -> list[dict[str, Any]]:
    """``records`` issued by ``department`` (``issue_file``), as the documents it writes out."""
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp / f"{department}-{tag}.jsonl", records), department, out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def fresh_licence(ledger: Ledger, tmp: Path, tag: str, holder: str = "", **changes: Any) -> tuple[dict[str, Any], str]:
    """A fresh MKT business licence (of ``holder``'s credit code when given) and its holder's identity."""
    (record,) = make_records(1)
    if holder:
        record["subject"]["credit_code"] = holder
    (licence,) = issue_records(ledger, tmp, "MKT", [{**record, **changes}], tag)
    return licence, licence["fields"]["subject.credit_code"]


TAX_OFFICE = "TAX"  # the department the shipped renewal rules take a tax clearance from (rules/, 1.5.0)


def tax_office(ledger: Ledger) -> str:
    """The tax office ``TAX`` (issuer of ``tax-clearance``), registered on this ledger the first time it is asked."""
    from ledger.services.departments import Council

    from .conftest import TEST_TYPES

    if f"dept-{TAX_OFFICE}" not in ledger.keystore.names():
        Council(ledger).register(TAX_OFFICE, "Tax Bureau", ROLE_ISSUER, types=TEST_TYPES)
    return TAX_OFFICE


def published_permit_rules(ledger: Ledger, dept: str, tag: str) -> RuleSet:
    """The permit rule set (:func:`permit_rules`), published by ``dept``."""
    rules = permit_rules(f"{tag}-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    return rules


def officer_decision(
    ledger: Ledger,
    dept: str,
    case: str,
    identity: str,
    outcome: str,
    reason: str,
    *,
    officer: str = "officer",
    **kwargs: Any,
) -> decisions.Decision:
    """An officer's decision of ``case`` (the permit's service item) with one reason."""
    return decisions.record_human_decision(
        ledger,
        dept,
        case,
        SERVICE_ITEM,
        officer=officer,
        outcome=outcome,
        reasons=[reason],
        applicant_ref=identity,
        **kwargs,
    )


def backdated_bundle(ledger: Ledger, dept: str, case: str, when: datetime, applicant: str) -> dict[str, Any]:
    """The evidence bundle of an officer's decision of ``case`` written into the log stating ``when`` (past the
    library, which bounds only a future time), anchored now and confirmed (red team rounds 37b and 38)."""
    model = officer_decision(ledger, dept, case + "-MODEL", applicant, "reject", "OFFICER_FOUND_FRAUD")
    stated = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    logchain.append(ledger, logchain.LOG_DECISIONS, dept, dict(model.body, case_id=case, decided_at=stated))
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    for _ in range(ledger.settings.confirmations + 1):
        ledger.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    return evidence.decision_bundle(ledger, dept, case)


def live_permits(ledger: Ledger, digests: list[str]) -> list[str]:
    """Those of ``digests`` a verifier accepts today (not revoked, not superseded)."""
    return [
        document["digest"]
        for document in permits.documents(ledger, digests)
        if verify_certificate(document, ChainView(ledger.chain, 0)).ok
    ]


def replay_checks(ledger: Ledger, dept: str) -> set[tuple[str, int | None]]:
    """(check, seq) of every discrepancy replay finds in ``dept``'s decisions, once its pending entries are anchored."""
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    return {(d.check, d.seq) for d in replay(ledger, department=dept).discrepancies}


def inspected(ledger: Ledger, dept: str, since: datetime, *cases: str) -> int:
    """Announce an inspection of every approval of ``dept`` since ``since`` (rate 1), draw it, and record a
    non-conforming finding on each of ``cases``: the first finding's sequence number (the others follow it)."""
    supervision.register_inspectors(ledger, dept, f"inspectors-{dept}", ["insp-1"])
    announcement = supervision.announce_inspection(
        ledger, dept, since=since, until=since + timedelta(hours=1), rate="1", inspectors=f"inspectors-{dept}"
    )
    ledger.chain.w3.provider.make_request(  # type: ignore[arg-type]
        "anvil_mine", [hex(announcement["target_block"] - ledger.chain.block_number())]
    )
    draw = supervision.draw_inspection(ledger, dept, announcement["seq"])
    assert set(cases) <= {s["case_id"] for s in draw["sample"]}
    findings = [
        supervision.record_finding(
            ledger, dept, draw["seq"], case, inspector="insp-1", conforming=False, findings=["PREMISES_NOT_AS_DECLARED"]
        )
        for case in cases
    ]
    return findings[0]


def withdrawn(ledger: Ledger, dept: str, finding: int, **kw: Any) -> dict[str, Any]:
    """Officer officer-9's withdrawal, after the non-conforming finding ``finding``, of the approval it concerns
    (reason APPROVAL_OBTAINED_IMPROPERLY, basis ART-69, no credit listing); ``kw`` overrides any of these."""
    args: dict[str, Any] = {
        "officer": "officer-9",
        "reasons": ["APPROVAL_OBTAINED_IMPROPERLY"],
        "legal_basis": "ART-69",
        "credit_days": 0,
    }
    return supervision.withdraw_approval(ledger, dept, finding, **{**args, **kw})


def referred_then_approved(
    ledger: Ledger, dept: str, rules: RuleSet, app: dict[str, Any], holder: str, officer: str
) -> tuple[decisions.Decision, decisions.Decision]:
    """The rules' referral of ``app``, then officer ``officer``'s approval of the same application overriding it (the
    approval issues the permit), both anchored: a case whose typed fields two decisions hold (red team round 41a)."""
    referred = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    approval = decisions.record_human_decision(
        ledger,
        dept,
        app["case_id"],
        app["service_item"],
        officer=officer,
        outcome="approve",
        reasons=["ONSITE_CHECK_PASSED"],
        applicant_ref=holder,
        overrides=referred.seq,
        decision_input=app,
        rule_set=rules,
    )
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    return referred, approval


def premises_application(premises: str, case: str, licence: dict[str, Any]) -> dict[str, Any]:
    """:func:`application` for case ``case`` on ``licence`` with its premises written as ``premises``."""
    given = application(case, licence)
    given["application"]["premises"] = premises
    return given


def decisions_count(ledger: Ledger, dept: str) -> int:
    """How many entries department ``dept``'s decisions log holds (what a refused approval must not add to)."""
    with ledger.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(logchain.LogEntry)
                .where(logchain.LogEntry.department_id == dept, logchain.LogEntry.log == "decisions")  # type: ignore[arg-type]
            ).scalar_one()
        )


def decide_premises(
    ledger: Ledger, dept: str, case: str, premises: str, licence: dict[str, Any], holder: str, rules: Any
) -> Any:
    """Department ``dept``'s decision of case ``case``: ``holder``'s application for premises ``premises`` on
    ``licence`` under ``rules`` (:func:`premises_application`)."""
    return decisions.decide(
        ledger, dept, case, SERVICE_ITEM, premises_application(premises, case, licence), rules, applicant_ref=holder
    )
