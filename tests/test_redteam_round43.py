"""Red team round 43: attacks on what landed in the hour before it (rt42, priv41, tok); docs/threat-model.md,
round 43 rows. Each attack was written failing first.

1. (priv41) ``erase --case`` on a time basis (``retention-expired``, ``no-longer-necessary``) measured the case's
   age from its latest decision's *stated* moment. An officer's decision overriding the case's latest word may state
   an earlier moment than the decision it replaces (the library bounds only a future one), so a case decided today
   passed for one decided a year ago and was erased at once, past LEDGER_CASE_ERASURE_MIN_AGE_DAYS. The age is now
   taken from the latest moment any decision of the case states.
2. (priv41) ``erase --case`` took an ``at`` before the case's latest decision (only a future one was refused): an
   erasure stated while a withdrawn approval stood, or in the second of its withdrawal (an entry states whole seconds),
   made replay call the library's own erasure ``case_erased_in_force``, "written past the library". The library
   refuses an ``at`` before the second of the case's latest decision; replay counts a decision of the entry's second
   as preceding it only if it is no approval.
3. (tok) The CLI's last resort raised inside its own handler for an OSError whose code is past a C int
   (``os.strerror``), and Python then printed the tracebacks with the error's message: it now never raises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ledger.client import Ledger
from ledger.errors import InputError, StateError
from ledger.formats.rules import RuleSet
from ledger.services import decisions, erasure, logchain
from ledger.services.replay import replay
from ledger.storage.models import SealedInput
from ledger.storage.vault import ERASED

from .conftest import TEST_ITEMS, TEST_TYPES
from .permit_support import (
    application,
    fresh_licence,
    officer_decision,
    published_permit_rules,
)

_KEPT = SealedInput.__table__  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def dept(ledger: Ledger) -> str:
    from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER, ROLE_VERIFIER
    from ledger.services.departments import Council

    Council(ledger).register(
        "RT43", "Red team 43", ROLE_ISSUER | ROLE_VERIFIER | ROLE_APPROVER, types=TEST_TYPES, items=TEST_ITEMS
    )
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
    allows. The rules referred the case now; the officer's refusal overriding it stated a moment 400 days back."""
    licence, holder = fresh_licence(ledger, tmp_path, "rt43-age")
    app = application("FBP-rt43-age", licence, scope="cooked-food")
    referred = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    assert referred.body["outcome"] == "refer"
    # the override stating 400 days back is refused since round 44 (the last test); the time bases still measure the
    # case's age from the latest moment any of its decisions states
    officer_decision(ledger, dept, app["case_id"], holder, "reject", "OFFICER_FOUND_FRAUD", overrides=referred.seq)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    monkeypatch.setattr(ledger, "settings", ledger.settings.with_(case_erasure_min_age_days=30))
    for basis in ("retention-expired", "no-longer-necessary"):
        with pytest.raises(StateError, match="LEDGER_CASE_ERASURE_MIN_AGE_DAYS"):
            erasure.erase_case(ledger, app["case_id"], dept, basis=basis, by="officer-43")
    assert _row(ledger, referred.body["input_digest"]) not in (None, ERASED)


def test_an_erasure_stated_before_the_cases_latest_decision_is_refused(
    ledger: Ledger, dept: str, rules: RuleSet, tmp_path: Path
) -> None:
    """Adversary: an officer erasing a case through the library with an ``at`` stated before the case's latest
    decision. The rules referred, an officer approved (a permit), another's refusal withdrew it (revoked): the case is
    erasable now, but an entry stating a moment while the approval stood made replay call the library's own
    erasure one "written past the library" (``case_erased_in_force``), and any ``at`` before a decision says the
    fields went before they were typed. The library now refuses an ``at`` before the case's latest stated moment."""
    licence, holder = fresh_licence(ledger, tmp_path, "rt43-at")
    app = application("FBP-rt43-at", licence, scope="cooked-food")
    referred = decisions.decide(
        ledger,
        dept,
        app["case_id"],
        app["service_item"],
        app,
        rules,
        applicant_ref=holder,
        decided_at=datetime.now(UTC) - timedelta(seconds=20),
    )
    approval = officer_decision(
        ledger,
        dept,
        app["case_id"],
        holder,
        "approve",
        "ONSITE_CHECK_PASSED",
        overrides=referred.seq,
        decision_input=app,
        rule_set=rules,
        decided_at=datetime.now(UTC) - timedelta(seconds=10),  # stated apart from the refusal's second below
    )
    assert "issued" in approval.body
    refusal = officer_decision(
        ledger, dept, app["case_id"], holder, "reject", "OFFICER_FOUND_FRAUD", overrides=approval.seq
    )
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert refusal.body["decided_at"] > approval.body["decided_at"]
    while_approved = datetime.fromisoformat(approval.body["decided_at"]) + timedelta(seconds=2)
    head = len(list(logchain.entries(ledger, erasure.LOG, dept)))
    with pytest.raises(StateError, match="before"):
        erasure.erase_case(ledger, app["case_id"], dept, basis="objection", by="officer-43", at=while_approved)
    assert len(list(logchain.entries(ledger, erasure.LOG, dept))) == head
    assert _row(ledger, referred.body["input_digest"]) not in (None, ERASED)
    assert not {d for d in replay(ledger, department=dept).discrepancies if d.check == "case_erased_in_force"}
    # stated in the refusal's second (an erasure states whole seconds, a decision milliseconds: erased right after
    # the refusal), the same erasure lands, and replay no longer calls it written past the library while the
    # approval stood
    same_second = datetime.fromisoformat(refusal.body["decided_at"]).replace(microsecond=0)
    done = erasure.erase_case(ledger, app["case_id"], dept, basis="objection", by="officer-43", at=same_second)
    assert done["inputs"] == [referred.body["input_digest"]], done
    assert not {d for d in replay(ledger, department=dept).discrepancies if d.check == "case_erased_in_force"}


def test_the_clis_last_resort_never_fails_itself_into_a_traceback() -> None:
    """Adversary: none; an OSError whose code the system cannot name (a number past a C int: a library's own code,
    or a Windows one) reached the CLI's last resort, whose ``os.strerror`` then raised OverflowError inside the
    handler, so Python printed both tracebacks, the first error's message (a file name, a passphrase quoted) with
    them. The one line is now made whatever the error holds: its class at least."""
    from ledger.cli import internal_error

    class Odd(OSError):
        @property
        def errno(self) -> int:  # type: ignore[override]
            raise RuntimeError("s3cret-field")

    for exc in (OSError(2**31, "s3cret-passphrase"), OSError(-(2**40), "s3cret-passphrase"), Odd("s3cret")):
        line = internal_error(exc)
        assert line.startswith(("OSError", f"{__name__}.")) and "s3cret" not in line, line


def test_an_override_stating_a_moment_before_the_decision_it_replaces_is_refused_and_reported(
    ledger: Ledger, dept: str, rules: RuleSet, tmp_path: Path
) -> None:
    """Adversary: an officer (through the library) or whoever writes the decisions log past it, overriding a
    decision with one stating an earlier moment: the record then says the case was settled before the decision it
    replaced was taken, and every reader ordering the case by its stated moments (time windows, a case erasure's
    age, the timeline) reads the two the other way round (red team round 44)."""
    licence, holder = fresh_licence(ledger, tmp_path, "rt44-order")
    app = application("FBP-rt44-order", licence, scope="cooked-food")
    referred = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    stated = datetime.fromisoformat(referred.body["decided_at"])
    head = len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)))
    with pytest.raises(InputError, match="before the decision it overrides"):
        officer_decision(
            ledger,
            dept,
            app["case_id"],
            holder,
            "reject",
            "OFFICER_FOUND_FRAUD",
            overrides=referred.seq,
            decided_at=stated - timedelta(milliseconds=1),
        )
    assert len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept))) == head  # nothing recorded
    # the same moment is no earlier: taken
    refusal = officer_decision(
        ledger, dept, app["case_id"], holder, "reject", "OFFICER_FOUND_FRAUD", overrides=referred.seq, decided_at=stated
    )
    # past the library: a second refusal overriding the first, stated a second before the referral (hash chain and
    # anchor intact)
    forged = dict(refusal.body, decided_at=(stated - timedelta(seconds=1)).isoformat(timespec="milliseconds"))
    forged["decided_at"] = forged["decided_at"].replace("+00:00", "Z")
    forged["overrides"] = {"seq": refusal.seq, "entry_hash": refusal.entry_hash}
    entry = logchain.append(ledger, logchain.LOG_DECISIONS, dept, forged)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    found = [d for d in replay(ledger, department=dept, case_id=app["case_id"]).discrepancies if d.seq == entry.seq]
    assert any(d.check == "override_invalid" and "earlier moment" in d.detail for d in found), found
