"""Red team, round 32: status changes outside a department's authority.

1. A department superseded one of its certificates by one of its certificates of another type (a business licence
   "replaced by" a birth certificate, a permit by a tax clearance): the contract checks only that both are the
   caller's, and the library, the CLI and the gateway (``POST /certificates/{d}/supersede``) sent it. Every verifier
   then told the old certificate's relying parties it was replaced by a document that is no replacement of it
   (``superseded_by``), and the batch's W3C status list set its revocation bit. A supersession now needs a successor
   of the same type, checked before anything is sent.
2. A notice of a decision a later decision of the case replaced (an approval an officer's refusal overrode) was
   issued on request (``ledger notice CASE --seq N``): signed, anchored, valid for every verifier, saying "approve"
   after the refusal. A notice is now issued only for the case's decision in force, and an officer's decision of
   another outcome overriding a decision revokes that decision's notices issued before.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger.client import Ledger
from ledger.errors import InputError, StateError
from ledger.services import notices, provenance, status

from .api_support import Clock, assert_problem, bearer, login, make_client
from .cli_support import run_cli
from .conftest import make_records
from .foundation_support import issue
from .permit_support import inspected, officer_decision, withdrawn


def test_a_certificate_is_superseded_only_by_one_of_its_own_type(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: a department (its issuer, through the library, the CLI or the gateway) marking its business licence
    as replaced by a birth certificate it issued: verifiers then name a document of another kind as the licence's
    successor."""
    dept = fresh_department
    licence, other_licence = issue(ledger, tmp_path, dept, make_records(2))
    (birth,) = issue(ledger, tmp_path, dept, make_records(1, cert_type="birth-certificate"))
    with pytest.raises(InputError, match="birth-certificate"):
        status.supersede(ledger, licence["digest"], birth["digest"], dept)
    answer = run_cli(ledger, "supersede", licence["digest"], birth["digest"], "--department", dept)
    assert answer.returncode != 0 and "birth-certificate" in answer.stderr, answer
    client = make_client(ledger, Clock())
    issuer = login(client, ledger, dept)
    refused = client.post(
        f"/certificates/{licence['digest']}/supersede", headers=bearer(issuer), json={"successor": birth["digest"]}
    )
    assert "birth-certificate" in assert_problem(refused, 422)["detail"]
    assert provenance.timeline(ledger, licence["digest"], now=datetime.now(UTC))["status"] == "valid"
    # a licence replaced by a licence, as before
    status.supersede(ledger, licence["digest"], other_licence["digest"], dept)
    assert provenance.timeline(ledger, licence["digest"], now=datetime.now(UTC))["status"] == "superseded"


def test_no_notice_is_issued_for_a_decision_a_later_one_replaced(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: an applicant whose approval an officer withdrew (a refusal overriding it), asking the department
    for "the notice of my decision 1": ``ledger notice CASE --seq 1`` issued, signed and anchored, after the
    refusal, a notice saying "approve" that every verifier calls valid, naming nothing that replaced it."""
    dept = fresh_department
    approval = officer_decision(ledger, dept, "C-RT32-N", "applicant-rt32", "approve", "OFFICER_CHECKED_ON_SITE")
    refusal = officer_decision(
        ledger, dept, "C-RT32-N", "applicant-rt32", "reject", "OFFICER_FOUND_FRAUD", overrides=approval.seq
    )
    with pytest.raises(StateError, match=f"decision {refusal.seq}"):
        notices.issue_notice(ledger, dept, "C-RT32-N", seq=approval.seq)
    answer = run_cli(ledger, "notice", "C-RT32-N", "-d", dept, "--seq", str(approval.seq))
    assert answer.returncode != 0 and f"decision {refusal.seq}" in answer.stderr, answer
    # the decision in force gets its notice, as before
    notice = notices.issue_notice(ledger, dept, "C-RT32-N")
    assert notice["fields"]["subject.outcome"] == "reject"


def test_a_notice_issued_before_its_decision_was_replaced_is_revoked_with_it(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: the applicant who asked for the notice of the approval while it stood, and keeps showing it after an
    officer's refusal withdrew the approval: the notice stayed valid for every verifier."""
    dept = fresh_department
    approval = officer_decision(ledger, dept, "C-RT32-K", "applicant-rt32k", "approve", "OFFICER_CHECKED_ON_SITE")
    kept = [notices.issue_notice(ledger, dept, "C-RT32-K", language=lang) for lang in ("en", "zh-CN")]
    officer_decision(
        ledger, dept, "C-RT32-K", "applicant-rt32k", "reject", "OFFICER_FOUND_FRAUD", overrides=approval.seq
    )
    for notice in kept:
        assert provenance.timeline(ledger, notice["digest"], now=datetime.now(UTC))["status"] == "revoked"
    # a confirmation (same outcome) leaves the notice of what it confirmed alone
    first = officer_decision(ledger, dept, "C-RT32-L", "applicant-rt32l", "approve", "OFFICER_CHECKED_ON_SITE")
    standing = notices.issue_notice(ledger, dept, "C-RT32-L")
    officer_decision(
        ledger, dept, "C-RT32-L", "applicant-rt32l", "approve", "OFFICER_CHECKED_ON_SITE", overrides=first.seq
    )
    assert provenance.timeline(ledger, standing["digest"], now=datetime.now(UTC))["status"] == "valid"


def test_an_inspection_withdrawal_revokes_the_approvals_notice(ledger: Ledger, fresh_department: str) -> None:
    """The same through the other path that overrides an approval: ``ledger inspect withdraw`` after a non-conforming
    finding left the approval's "approve" notice valid."""
    dept = fresh_department
    start = datetime.now(UTC) - timedelta(minutes=1)
    officer_decision(ledger, dept, "C-RT32-I", "applicant-rt32i", "approve", "OFFICER_CHECKED_ON_SITE")
    notice = notices.issue_notice(ledger, dept, "C-RT32-I")
    finding = inspected(ledger, dept, start, "C-RT32-I")
    withdrawn(ledger, dept, finding)
    assert provenance.timeline(ledger, notice["digest"], now=datetime.now(UTC))["status"] == "revoked"
