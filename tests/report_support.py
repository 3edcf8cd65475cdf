"""Helpers and fixtures that several test modules use (from tests/test_report.py: no test module
imports another)."""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER, ROLE_VERIFIER
from ledger.services import decisions, logchain
from ledger.services.departments import Council
from ledger.services.logchain import LOG_DECISIONS

from .conftest import TEST_ITEMS, TEST_TYPES
from .decision_support import decided_history

HOSTILE_NAME = "<script>alert('name')</script> Bureau & 市场监管局"


HOSTILE_REASON = "<img src=x onerror=alert(1)>"


_codes = itertools.count(1)


def today() -> str:
    return datetime.now(UTC).date().isoformat()


@pytest.fixture(scope="module", name="hostile_department")
def hostile_department_fixture(ledger: Any) -> str:
    """An approver that registered a name with a script in it, with a decided, anchored history in which an
    officer overrode one decision giving a reason written as HTML. The library refuses a reason that is not a code
    (red team, round 14c), so that override is written into the department's own log past it, as
    ``record_human_decision`` writes one: the report escapes whatever a log holds."""
    code = f"RPT{os.getpid() % 1000}-{next(_codes)}"
    Council(ledger).register(
        code, HOSTILE_NAME, ROLE_ISSUER | ROLE_VERIFIER | ROLE_APPROVER, types=TEST_TYPES, items=TEST_ITEMS
    )
    decided_history(ledger, code, n=60)
    overridden = decisions.find_decisions(ledger, code, "CASE-000010")[-1]
    logchain.append(
        ledger,
        LOG_DECISIONS,
        code,
        {
            "format": decisions.DECISION_FORMAT,
            "case_id": "CASE-000010",
            "service_item": overridden.body["service_item"],  # a case is one item's (red team round 69)
            "applicant_ref": overridden.body["applicant_ref"],  # a case is one applicant's
            "input_digest": None,
            "certificates": [],
            "rule_set": None,
            "engine": None,
            "outcome": "approve",
            "reasons": [HOSTILE_REASON],
            "fired": [],
            "decided_by": {
                "kind": "officer",
                "department": code,
                "officer_ref": decisions.officer_ref(ledger, code, "officer-7"),
            },
            "decided_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "overrides": {"seq": overridden.seq, "entry_hash": overridden.entry_hash},
        },
    )
    decisions.record_human_decision(
        ledger,
        code,
        "CASE-OFFICER-1",  # an officer's first decision of a case (a decided case needs an override)
        "x",
        officer="officer-8",
        outcome="reject",
        reasons=["OFFICER_REVIEW"],
        applicant_ref="someone else",
    )
    logchain.anchor_pending(ledger, LOG_DECISIONS, code)
    return code
