"""Red team round 69: an applicant lying in their input to an automatic decision, a department acting outside its
authority, and a gateway relaying another's messages.

Found and fixed here:

* (A department acting outside its authority, through the library) decide a case automatically stating a
  ``decided_at`` long before the head of the chain the facts are established at: a cited licence is judged unexpired
  at the stated moment while its status is read as of the head, so a licence that expired last week approved a
  permit today, signed and anchored, which the library's own replay then called ``facts_block_invalid``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.services import decisions, logchain
from ledger.services.replay import replay

from .permit_support import application, fresh_licence, published_permit_rules


def _today() -> datetime:
    return datetime.now(UTC)


def test_an_automatic_decision_stated_before_its_facts_block_is_refused(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: a department acting outside its authority (its own key, deciding through the library), approving a
    food business permit for an applicant whose business licence expired two days ago. It states ``decided_at`` ten
    days back: the licence's validity was judged at the stated moment (unexpired) while its status was read as of the
    chain's head now, so the rules approved and the permit was issued, signed and anchored; only a replay afterwards
    reported the record (``facts_block_invalid``: the facts block was not the head at the stated moment). A stated
    moment the facts block was mined after (beyond the 30 s replay allows) is refused before anything is recorded;
    a moment within it is still taken."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt69-backdate")
    expired_on = (_today() - timedelta(days=2)).date().isoformat()
    licence, holder = fresh_licence(ledger, tmp_path, "rt69-expired", valid_until=expired_on)
    app = application("FBP-RT69-BACKDATED", licence)
    with pytest.raises(InputError, match="head") as refused:
        decisions.decide(
            ledger, dept, app["case_id"], app["service_item"], app, rules,
            applicant_ref=holder, decided_at=_today() - timedelta(days=10),
        )  # fmt: skip
    assert "decided_at" in str(refused.value)
    assert list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)) == []
    # decided now, the licence is expired: referred, nothing issued
    now = decisions.decide(
        ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder,
        decided_at=_today() - timedelta(seconds=5),
    )  # fmt: skip
    assert now.body["outcome"] == "refer" and "issued" not in now.body, now.body
    (fact,) = now.body["certificates"]
    assert fact["expired"] is True
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).to_json()["discrepancies"] == []


def test_a_bulk_run_stated_before_its_facts_block_is_refused(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: the same department, through ``decide_many`` (one stated moment for the whole run): the bulk path
    took the stated moment as the single decision didn't check it either; refused the same way, nothing recorded."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt69-bulk")
    expired_on = (_today() - timedelta(days=2)).date().isoformat()
    licence, holder = fresh_licence(ledger, tmp_path, "rt69-bulk-expired", valid_until=expired_on)
    app = dict(application("FBP-RT69-BULK", licence), applicant_ref=holder)
    with pytest.raises(InputError, match="head"):
        decisions.decide_many(
            ledger, dept, [app], {rules.service_item: rules}, decided_at=_today() - timedelta(days=10)
        )
    assert list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)) == []
