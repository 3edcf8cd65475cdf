"""Round 6: an applicant (or a sloppy intake form) leaving out, or misspelling, what the shipped rule sets rely on.

"Approval is earned, never assumed" (rules/ss-eligibility.yaml): a comparison with a missing field is false, so a
rule that *blocks* approval on a field is silently skipped when the field is absent. Until this round the
approve-in-seconds screen approved an application that named no applicant type (or "Enterprise", "company", …):
the business-licence rules compare ``applicant_type == "enterprise"``, so an enterprise with no licence, or a
revoked one, was approved; and one that stated no materials count, which the "materials incomplete" rule reads.
The notify-and-commit screen likewise skipped its revoked-licence check for any type but "enterprise".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ledger.formats.rules import evaluate, load_rule_set

from .decision_support import TYPICAL_ITEM

RULES = Path(__file__).resolve().parent.parent / "rules"


def _application(**application: Any) -> dict[str, Any]:
    return {
        "case_id": "C-RT6",
        "service_item": "ITEM-1",
        "item": {**TYPICAL_ITEM, "notify_commit": 1},
        "application": {"online": True, "commitment_signed": True, **application},
        "applicant": {"blacklisted": False},
        "certificates": [],
    }


REVOKED = {
    "type": "business-licence",
    "digest": "0x" + "ab" * 32,
    "verified": True,
    "status": "revoked",
    "expired": False,
    "holder": True,
    "issuer": "MKT",
}


@pytest.mark.parametrize(
    "application",
    [
        {"materials_submitted": 2},  # no applicant type: an enterprise without a licence
        {"applicant_type": "Enterprise", "materials_submitted": 2},
        {"applicant_type": "company", "materials_submitted": 2},
        {"applicant_type": ["enterprise"], "materials_submitted": 2},
        {"applicant_type": "individual"},  # no materials count
        {"applicant_type": "individual", "materials_submitted": "2"},
    ],
)
def test_the_approve_in_seconds_screen_does_not_approve_what_it_cannot_read(application: dict[str, Any]) -> None:
    rules = load_rule_set(RULES / "ss-eligibility.yaml")
    assert evaluate(rules, _application(**application)).outcome == "refer"


def test_the_control_a_complete_application_is_still_approved() -> None:
    rules = load_rule_set(RULES / "ss-eligibility.yaml")
    assert evaluate(rules, _application(applicant_type="individual", materials_submitted=2)).outcome == "approve"


@pytest.mark.parametrize("applicant_type", [None, "Enterprise", "sole-trader"])
def test_notify_and_commit_does_not_skip_a_revoked_licence_for_an_unknown_type(applicant_type: str | None) -> None:
    rules = load_rule_set(RULES / "notify-and-commit.yaml")
    app = _application(**({} if applicant_type is None else {"applicant_type": applicant_type}))
    app["certificates"] = [REVOKED]
    assert evaluate(rules, app).outcome != "approve"
    app["application"]["applicant_type"] = "enterprise"
    assert evaluate(rules, app).outcome == "reject"  # the control
