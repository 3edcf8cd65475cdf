"""Red team round 45: attacks on what landed in the hour before it (scale10, rt42, ec57c8c); docs/threat-model.md,
round 45 rows. Each attack was written failing first.

1. (ec57c8c) An officer's override may not state a moment before the decision it replaces, and replay reports one
   that does (``override_invalid``, "states an earlier moment"). An inspection's withdrawal is such an override (a
   ``pl-decision/2`` rejection naming the approval it replaces) but ``supervision.withdraw_approval`` took any past
   ``decided_at``: the library wrote a withdrawal stating a moment before the approval it withdraws, which its own
   replay then reported. The withdrawal is now held to the same rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.services import logchain, supervision

from .permit_support import inspected, officer_decision


def test_a_withdrawal_stating_a_moment_before_the_approval_it_withdraws_is_refused(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an officer withdrawing an approval after an inspection, stating a moment before the approval was
    taken (the record would say the approval was withdrawn before it was granted; replay calls it override_invalid)."""
    dept = fresh_department
    start = datetime.now(UTC) - timedelta(minutes=1)
    approval = officer_decision(ledger, dept, "C-RT45-W", "applicant-rt45w", "approve", "OFFICER_CHECKED_ON_SITE")
    finding = inspected(ledger, dept, start, "C-RT45-W")
    stated = datetime.fromisoformat(approval.body["decided_at"])
    head = len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)))
    with pytest.raises(InputError, match="before the decision it overrides"):
        supervision.withdraw_approval(
            ledger,
            dept,
            finding,
            officer="officer-9",
            reasons=["APPROVAL_OBTAINED_IMPROPERLY"],
            legal_basis="ART-69",
            credit_days=0,
            decided_at=stated - timedelta(milliseconds=1),
        )
    assert len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept))) == head  # nothing recorded
    # the same moment, in another zone, is no earlier: taken
    withdrawn = supervision.withdraw_approval(
        ledger,
        dept,
        finding,
        officer="officer-9",
        reasons=["APPROVAL_OBTAINED_IMPROPERLY"],
        legal_basis="ART-69",
        credit_days=0,
        decided_at=stated.astimezone(timezone(timedelta(hours=-5))),
    )
    assert withdrawn["overrides"]["seq"] == approval.seq
