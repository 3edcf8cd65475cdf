"""Helpers and fixtures that several test modules use (from tests/test_supervision.py: no test module
imports another)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.formats.rules import RuleSet, load_rule_set
from ledger.services import decisions, supervision

ITEM = "440300-SCJG-0042"
COMMIT_ITEM = "440300-SCJG-0043"  # a notify-and-commit item of the test department's catalogue
# the catalogue rule_set publishes (a screen reading item.notify_commit publishes it, red team round 60c)
SUPERVISION_CATALOGUE = {ITEM: {"notify_commit": 0}, COMMIT_ITEM: {"notify_commit": 1}}
# who lifts a credit listing, and on what (a removal names both: supervision.credit_remove)
REMOVED_BY: dict[str, Any] = {"officer": "officer-2", "basis": {"legal_basis": "CREDIT-REG-ART-20"}}


_versions = itertools.count(1)


def rule_set(tag: str) -> RuleSet:
    """Approve online applications; approve notify-and-commit items on a commitment; refer credit-listed applicants."""
    return load_rule_set(
        {
            "engine": "pl-rules/1",
            "rule_set_id": "supervision-test",
            "version": f"{tag}-{next(_versions)}",
            "service_item": "*",
            "title": "supervision test",
            "items": SUPERVISION_CATALOGUE,
            "default_outcome": "refer",
            "default_reason": "NOT_TYPICAL_REFER_TO_OFFICER",
            "rules": [
                {
                    "id": "applicant-blacklisted",
                    "outcome": "refer",
                    "reason": "APPLICANT_ON_CREDIT_BLACKLIST",
                    "when": {"field": "applicant.blacklisted", "op": "==", "value": True},
                },
                {
                    "id": "notify-and-commit",
                    "outcome": "approve",
                    "reason": "APPROVED_ON_COMMITMENT",
                    "when": {"field": "item.notify_commit", "op": "==", "value": 1},
                    "commitment": {"promise": "MATERIALS_ON_FILE", "within_days": 30, "check": "DOCUMENT_CHECK"},
                },
                {
                    "id": "online",
                    "outcome": "approve",
                    "reason": "TYPICAL_FEATURES_MATCH",
                    "when": {"field": "application.online", "op": "==", "value": True},
                },
            ],
        }
    )


def application(case: str, *, commit: int = 0, claims_blacklisted: bool = False) -> dict[str, Any]:
    return {
        "case_id": case,
        "service_item": COMMIT_ITEM if commit else ITEM,
        "item": {"notify_commit": commit},
        "application": {"online": True},
        "applicant": {"blacklisted": claims_blacklisted},
    }


def decide(ledger: Any, dept: str, rules: RuleSet, case: str, applicant: str, **kw: Any) -> decisions.Decision:
    the_application = application(case, **kw)
    return decisions.decide(
        ledger, dept, case, the_application["service_item"], the_application, rules, applicant_ref=applicant
    )


def mine(ledger: Any, blocks: int) -> None:
    """Test only: mine empty blocks at once (anvil_mine), instead of waiting for the one-second block time."""
    ledger.chain.w3.provider.make_request("anvil_mine", [hex(blocks)])  # type: ignore[arg-type]


def approvals(ledger: Any, dept: str, rules: RuleSet, n: int) -> datetime:
    start = datetime.now(UTC) - timedelta(minutes=1)
    apps = [{**application(f"A-{i:03d}"), "applicant_ref": f"applicant-{i}"} for i in range(n)]
    decisions.decide_many(ledger, dept, apps, {"*": rules})
    return start


def announced(ledger: Any, dept: str, rules: RuleSet, n: int = 20, rate: str = "0.2") -> dict[str, Any]:
    start = approvals(ledger, dept, rules, n)
    supervision.register_inspectors(ledger, dept, "inspectors-2026", ["insp-1", "insp-2", "insp-3"])
    return supervision.announce_inspection(
        ledger, dept, since=start, until=start + timedelta(hours=1), rate=rate, inspectors="inspectors-2026"
    )


@pytest.fixture(name="published")
def published_fixture(ledger: Any, fresh_department: str) -> tuple[str, RuleSet]:
    rules = rule_set(fresh_department)
    decisions.publish_rule_set(ledger, rules, fresh_department)
    return fresh_department, rules


def cli(
    ledger: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, Any, str]:
    """``ledger ARGS`` in this process: (exit code, its JSON output when it succeeded, standard error)."""
    from .cli_support import cli_in_process

    code, out, err = cli_in_process(ledger, monkeypatch, capsys, *args)
    return code, json.loads(out) if code == 0 else None, err


def respelt_listing_refused(
    ledger: Any,
    dept: str,
    rules: RuleSet,
    identity: str,
    other: str,
    *,
    listed_by: dict[str, Any],
    refused: str,
    listing_refused: str,
) -> None:
    """``identity`` credit-listed by ``dept``; ``other``, another spelling of it, refused on every path - a decision, a
    bulk run, an officer's decision (``refused``: the error's pattern) and a credit listing (``listing_refused``) -
    with nothing recorded, and the true spelling still found listed (red team rounds 15b and 39)."""
    from datetime import date

    from ledger.errors import InputError

    supervision.credit_list(
        ledger,
        dept,
        applicant=identity,
        reason="FALSE_MATERIALS",
        since=date.today() - timedelta(days=1),
        until=date.today() + timedelta(days=365),
        **listed_by,
    )
    assert other != identity
    with pytest.raises(InputError, match=refused):
        decide(ledger, dept, rules, "CASE-1", other)
    with pytest.raises(InputError, match=refused):
        decisions.decide_many(ledger, dept, [{**application("CASE-2"), "applicant_ref": other}], {"*": rules})
    with pytest.raises(InputError, match=refused):
        decisions.record_human_decision(
            ledger, dept, "CASE-3", ITEM, officer="officer", outcome="approve", reasons=["OK"], applicant_ref=other
        )
    with pytest.raises(InputError, match=listing_refused):
        supervision.credit_list(
            ledger,
            dept,
            applicant=other,
            reason="FALSE_MATERIALS",
            since=date.today(),
            until=date.today() + timedelta(days=1),
            **listed_by,
        )
    assert all(decisions.find_decisions(ledger, dept, case) == [] for case in ("CASE-1", "CASE-2", "CASE-3"))
    listed = decide(ledger, dept, rules, "CASE-4", identity)
    assert listed.body["reasons"] == ["APPLICANT_ON_CREDIT_BLACKLIST"], listed.body
