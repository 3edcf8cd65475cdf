"""Helpers for tests of the certificates an approval produces (the shipped food business permit rule set): used by
tests/test_permits.py and the red-team modules (no test module imports another)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ledger.formats.rules import RuleSet, load_rule_set

RULES = Path(__file__).resolve().parent.parent / "rules" / "food-business-permit.yaml"
ITEM = {"onsite_reason": 0, "materials_required": 3}


def permit_rules(tag: str, **changes: Any) -> RuleSet:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    document["version"] = f"test-{tag}"
    document.update(changes)
    return load_rule_set(document)


def application(case: str, licence: dict[str, Any], scope: str = "prepackaged-food-sales") -> dict[str, Any]:
    return {
        "case_id": case,
        "service_item": "440300-SCJG-0107",
        "item": ITEM,
        "application": {
            "applicant_type": "enterprise",
            "online": True,
            "materials_submitted": 3,
            "business_name": "Nanshan Corner Shop",
            "premises": "Room 101, 1 Keyuan Road",
            "business_scope": scope,
        },
        "applicant": {"blacklisted": False},
        "certificates": [licence["digest"]],
    }
