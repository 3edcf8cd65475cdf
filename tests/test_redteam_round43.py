"""Red team round 43: attacks on what landed in the hour before it (rt42, priv41, tok); docs/threat-model.md,
round 43 rows. Each attack was written failing first.

1. (priv41) ``erase --case`` on a time basis (``retention-expired``, ``no-longer-necessary``) measured the case's
   age from its latest decision's *stated* moment. An officer's decision overriding the case's latest word may state
   an earlier moment than the decision it replaces (the library bounds only a future one), so a case decided today
   passed for one decided a year ago and was erased at once, past LEDGER_CASE_ERASURE_MIN_AGE_DAYS. The age is now
   taken from the latest moment any decision of the case states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.formats.rules import RuleSet
from ledger.services import decisions, erasure, logchain
from ledger.storage.models import SealedInput
from ledger.storage.vault import ERASED

from .conftest import TEST_TYPES
from .permit_support import application, fresh_licence, officer_decision, published_permit_rules

_KEPT = SealedInput.__table__  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def dept(ledger: Ledger) -> str:
    from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER, ROLE_VERIFIER
    from ledger.services.departments import Council

    Council(ledger).register("RT43", "Red team 43", ROLE_ISSUER | ROLE_VERIFIER | ROLE_APPROVER, types=TEST_TYPES)
    return "RT43"


@pytest.fixture(scope="module")
def rules(ledger: Ledger, dept: str) -> RuleSet:
    return published_permit_rules(ledger, dept, "rt43")


def _row(ledger: Ledger, input_digest: str) -> bytes | None:
    with ledger.engine.connect() as conn:
        blob = conn.execute(select(_KEPT.c.sealed).where(_KEPT.c.input_digest == input_digest)).scalar()
    return None if blob is None else bytes(blob)


def test_a_backdated_override_does_not_age_a_case_past_the_records_schedule(
    ledger: Ledger, dept: str, rules: RuleSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: an officer who wants a case decided today gone on a time basis before the records schedule
    allows. The rules referred the case now; the officer's refusal overriding it states a moment 400 days back."""
    licence, holder = fresh_licence(ledger, tmp_path, "rt43-age")
    app = application("FBP-rt43-age", licence, scope="cooked-food")
    referred = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    assert referred.body["outcome"] == "refer"
    back = datetime.now(UTC) - timedelta(days=400)
    refusal = officer_decision(
        ledger, dept, app["case_id"], holder, "reject", "OFFICER_FOUND_FRAUD", overrides=referred.seq, decided_at=back
    )
    assert refusal.body["decided_at"] < referred.body["decided_at"]
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    monkeypatch.setattr(ledger, "settings", ledger.settings.with_(case_erasure_min_age_days=30))
    for basis in ("retention-expired", "no-longer-necessary"):
        with pytest.raises(StateError, match="LEDGER_CASE_ERASURE_MIN_AGE_DAYS"):
            erasure.erase_case(ledger, app["case_id"], dept, basis=basis, by="officer-43")
    assert _row(ledger, referred.body["input_digest"]) not in (None, ERASED)
