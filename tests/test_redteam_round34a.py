"""Red team, round 34a: a department's notices after its decisions were replaced, an id that names a notice.

1. An approval confirmed by an officer (an approving override) and then refused (a refusal overriding the
   confirmation, or an inspection's withdrawal): round 32 revoked the notices of the decision the refusal replaced,
   the confirmation, and not those of the approval it had confirmed. The applicant kept a signed, anchored "approve"
   notice that every verifier called valid after the refusal. Every notice of the case stating another outcome than
   the decision now in force is revoked with it.
2. A certificate of another type whose id is the one a notice would have (``NOTICE-<dept>-<seq>``): the notice of
   that decision was "the one issued before" (a business licence, a person's fields, handed over as the notice), and
   an override of the decision revoked that certificate. A notice is a certificate of the notice type only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.services import notices, provenance, supervision

from .conftest import make_records
from .foundation_support import issue
from .permit_support import inspected, officer_decision


def _status(ledger: Ledger, digest: str) -> str:
    return str(provenance.timeline(ledger, digest, now=datetime.now(UTC))["status"])


def test_a_confirmed_approvals_notice_is_revoked_when_the_case_is_refused(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: the applicant whose approval an officer confirmed and a later officer refused, showing the notice of
    the first approval: the refusal replaced the confirmation, and only the confirmation's notices were revoked."""
    dept = fresh_department
    approval = officer_decision(ledger, dept, "C-RT34-A", "applicant-rt34a", "approve", "OFFICER_CHECKED_ON_SITE")
    first = notices.issue_notice(ledger, dept, "C-RT34-A")
    confirmed = officer_decision(
        ledger, dept, "C-RT34-A", "applicant-rt34a", "approve", "OFFICER_CHECKED_ON_SITE", overrides=approval.seq
    )
    assert _status(ledger, first["digest"]) == "valid"  # a confirmation leaves it, as round 32 decided
    second = notices.issue_notice(ledger, dept, "C-RT34-A")
    officer_decision(
        ledger, dept, "C-RT34-A", "applicant-rt34a", "reject", "OFFICER_FOUND_FRAUD", overrides=confirmed.seq
    )
    assert _status(ledger, second["digest"]) == "revoked"
    assert _status(ledger, first["digest"]) == "revoked"


def test_a_confirmed_approvals_notice_is_revoked_by_an_inspection_withdrawal(
    ledger: Ledger, fresh_department: str
) -> None:
    """The same through an inspection's withdrawal of the confirmed approval."""
    dept = fresh_department
    start = datetime.now(UTC) - timedelta(minutes=1)
    approval = officer_decision(ledger, dept, "C-RT34-W", "applicant-rt34w", "approve", "OFFICER_CHECKED_ON_SITE")
    first = notices.issue_notice(ledger, dept, "C-RT34-W")
    officer_decision(
        ledger, dept, "C-RT34-W", "applicant-rt34w", "approve", "OFFICER_CHECKED_ON_SITE", overrides=approval.seq
    )
    finding = inspected(ledger, dept, start, "C-RT34-W")
    supervision.withdraw_approval(
        ledger,
        dept,
        finding,
        officer="officer-9",
        reasons=["APPROVAL_OBTAINED_IMPROPERLY"],
        legal_basis="ART-69",
        credit_days=0,
    )
    assert _status(ledger, first["digest"]) == "revoked"


def test_a_certificate_of_another_type_is_never_taken_for_a_notice(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: a clerk of the department issuing a licence under the id the next decision's notice will have: the
    notice asked for was that licence (another person's fields), and the officer's refusal revoked the licence."""
    dept = fresh_department
    approval = officer_decision(ledger, dept, "C-RT34-D", "applicant-rt34d", "approve", "OFFICER_CHECKED_ON_SITE")
    (record,) = make_records(1)
    (licence,) = issue(ledger, tmp_path, dept, [{**record, "id": f"NOTICE-{dept}-{approval.seq}-zh-CN"}])
    with pytest.raises(StateError, match="not a notice"):
        notices.issue_notice(ledger, dept, "C-RT34-D", language="zh-CN")
    notice = notices.issue_notice(ledger, dept, "C-RT34-D")
    assert notice["fields"]["type"] == notices.NOTICE_TYPE
    officer_decision(
        ledger, dept, "C-RT34-D", "applicant-rt34d", "reject", "OFFICER_FOUND_FRAUD", overrides=approval.seq
    )
    assert _status(ledger, notice["digest"]) == "revoked"
    assert _status(ledger, licence["digest"]) == "valid"
