"""Red team round 47b: a case erasure and a backdated approval of the same case committed at the same instant.

Round 47 made an officer's approval (and the rules' approval stating ``decided_at``) of an erased case state a moment
after the erasure (``erasure.approval_after_erasure``), asked again inside the decisions log's append transaction,
and the case erasure re-reads the case inside its own append transaction. On PostgreSQL (READ COMMITTED) each read
the other's log before the other committed - a write skew: the erasure took the case for refused, the approval took
it for never erased, and both were recorded. Replay then reads the case as approved when the erasure was made and
calls the library's own erasure ``case_erased_in_force``. SQLite serialises writers (the later one's write finds its
snapshot old and is tried again). Each test holds one writer's transaction open at its guard while the other runs as
a second process would (a second ``Ledger`` on the same database), until that one has finished or is seen waiting on
a lock (PostgreSQL) - SQLite's writer waits for the write lock instead, so there the holder waits a bounded time, as
``test_redteam_round8_review.py`` does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from ledger.client import Ledger
from ledger.errors import InputError, StateError
from ledger.formats.rules import RuleSet
from ledger.services import decisions, erasure, logchain
from ledger.services.replay import replay
from ledger.storage.models import SealedInput
from ledger.storage.vault import ERASED

from .conftest import PASSPHRASE
from .permit_support import application, fresh_licence, officer_decision, published_permit_rules


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture()
def permit_department(ledger: Ledger, fresh_department: str) -> tuple[str, RuleSet]:
    return fresh_department, published_permit_rules(ledger, fresh_department, "rt47b")


def _refused_case(
    ledger: Ledger, dept: str, rules: RuleSet, tmp_path: Path, tag: str, scope: str = "cooked-food"
) -> tuple[dict[str, Any], str, Any]:
    """A case an officer refused 20 s ago, its typed fields sealed apart (erasable): (application, holder, refusal)."""
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    app = application(f"FBP-{tag}", licence, scope=scope)
    refusal = officer_decision(
        ledger, dept, app["case_id"], holder, "reject", "OFFICER_FOUND_FRAUD", decision_input=app, rule_set=rules,
        decided_at=_now() - timedelta(seconds=20),
    )  # fmt: skip
    return app, holder, refusal


def _waiting_on_a_lock(ledger: Ledger) -> bool:
    """Whether a session of this database (PostgreSQL) is waiting on a lock another transaction holds."""
    with ledger.engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def _let_the_rival_run(ledger: Ledger, thread: threading.Thread) -> None:
    """Until the rival has finished, or (PostgreSQL) waits on a lock this transaction holds; SQLite's rival waits for
    the write lock in its busy timeout, unseen: a bounded wait there (as round 8's review)."""
    if ledger.engine.dialect.name != "postgresql":
        thread.join(1.5)
        return
    deadline = time.monotonic() + 60
    while thread.is_alive() and time.monotonic() < deadline:
        thread.join(0.05)
        if _waiting_on_a_lock(ledger):
            return


def _stall_inside(
    monkeypatch: pytest.MonkeyPatch, holder: Ledger, log: str, rival: Callable[[], Any]
) -> dict[str, Any]:
    """Make ``holder``'s next append to ``log`` stop inside its transaction, right after its guard passed, and run
    ``rival`` (another process) there; returns what the rival got (``done`` or ``error``)."""
    real_append = logchain.append
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["done"] = rival()
        except Exception as exc:  # noqa: BLE001 - what the other process got
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    outcome["thread"] = thread

    def append(lg: Ledger, name: str, department: str, body: Any, **kwargs: Any) -> Any:
        guard = kwargs.get("guard")
        if lg is holder and name == log and guard is not None:

            def stalled(conn: Any) -> None:
                guard(conn)
                if not thread.is_alive() and "done" not in outcome and "error" not in outcome:
                    thread.start()
                    _let_the_rival_run(holder, thread)

            kwargs["guard"] = stalled
        return real_append(lg, name, department, body, **kwargs)

    monkeypatch.setattr(logchain, "append", append)
    return outcome


def _approvals(ledger: Ledger, dept: str, case: str) -> list[int]:
    return [d.seq for d in decisions.find_decisions(ledger, dept, case) if d.body["outcome"] == "approve"]


def _clean_replay(ledger: Ledger, dept: str) -> None:
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    logchain.anchor_pending(ledger, erasure.LOG, dept)
    found = [d for d in replay(ledger, department=dept).discrepancies if d.check == "case_erased_in_force"]
    assert not found, found


def test_a_backdated_approval_racing_an_erasure_of_its_case_is_refused_naming_the_erasure(
    ledger: Ledger, permit_department: tuple[str, RuleSet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: an officer approving a refused case, stating a moment before its erasure, while the erasure is
    being made (its entry appended, its rows destroyed, not yet committed). Before the fix, on PostgreSQL, the
    approval's guard read the erasures log without the uncommitted entry and the approval was recorded: the case's
    fields erased while the record says it stood approved then."""
    dept, rules = permit_department
    app, holder, refusal = _refused_case(ledger, dept, rules, tmp_path, "rt47b-erase-first")
    case = app["case_id"]
    erased_at = (_now() - timedelta(seconds=5)).replace(microsecond=0)
    other = Ledger.open(ledger.settings, passphrase=PASSPHRASE)
    try:
        outcome = _stall_inside(
            monkeypatch,
            ledger,
            erasure.LOG,
            lambda: officer_decision(
                other,
                dept,
                case,
                holder,
                "approve",
                "ONSITE_CHECK_PASSED",
                overrides=refusal.seq,
                decided_at=erased_at - timedelta(seconds=10),
            ),
        )
        erased = erasure.erase_case(ledger, case, dept, basis="objection", by="officer-47b", at=erased_at)
        outcome["thread"].join(60)
    finally:
        monkeypatch.undo()
        other.close()
    assert not outcome["thread"].is_alive()
    # the erasure stands; the approval waited for it, then was refused naming it, and nothing of it was recorded
    assert erased["inputs"] == [refusal.body["input_digest"]], erased
    assert _approvals(ledger, dept, case) == [], outcome
    assert isinstance(outcome.get("error"), InputError), outcome
    assert f"is not after the erasure of case {case!r} ({erased_at.isoformat()}".replace("+00:00", "Z") in str(
        outcome["error"]
    )
    _clean_replay(ledger, dept)


def test_an_erasure_racing_a_backdated_approval_of_its_case_is_refused_naming_the_approval(
    ledger: Ledger, permit_department: tuple[str, RuleSet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reverse order: the officer's approval (stated before the erasure's moment) is inside its recording
    transaction, its guard passed, when the erasure of the case runs. Before the fix, on PostgreSQL, the erasure's
    guard re-read the case without the uncommitted approval, erased it and logged it, and the approval was then
    committed too."""
    dept, rules = permit_department
    app, holder, refusal = _refused_case(ledger, dept, rules, tmp_path, "rt47b-approve-first")
    case = app["case_id"]
    erased_at = (_now() - timedelta(seconds=5)).replace(microsecond=0)
    other = Ledger.open(ledger.settings, passphrase=PASSPHRASE)
    try:
        outcome = _stall_inside(
            monkeypatch,
            ledger,
            logchain.LOG_DECISIONS,
            lambda: erasure.erase_case(other, case, dept, basis="objection", by="officer-47b", at=erased_at),
        )
        approval = officer_decision(
            ledger, dept, case, holder, "approve", "ONSITE_CHECK_PASSED", overrides=refusal.seq,
            decided_at=erased_at - timedelta(seconds=10),
        )  # fmt: skip
        outcome["thread"].join(60)
    finally:
        monkeypatch.undo()
        other.close()
    assert not outcome["thread"].is_alive()
    # the approval stands; the erasure waited for it, then was refused naming it: nothing erased, nothing logged
    assert _approvals(ledger, dept, case) == [approval.seq]
    assert erasure._case_entries(ledger, dept, case) == [], outcome
    assert isinstance(outcome.get("error"), StateError), outcome
    assert f"stands approved (decision {approval.seq})" in str(outcome["error"])
    with ledger.engine.connect() as conn:
        sealed = conn.execute(
            select(SealedInput.sealed).where(SealedInput.input_digest == refusal.body["input_digest"])
        ).scalar_one()
    assert bytes(sealed) != ERASED  # the typed fields kept
    _clean_replay(ledger, dept)


def test_the_rules_approving_an_erased_case_at_a_moment_before_a_racing_erasure_are_refused(
    ledger: Ledger, permit_department: tuple[str, RuleSet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rules' approval (``decide`` with ``decided_at``) of a case an officer refused, stating a moment before an
    erasure being made at the same instant: round 47 asked ``approval_after_erasure`` before anything was stored,
    never inside the recording transaction, so an erasure committed after that question (on either database) was
    not seen and the approval recorded."""
    dept, rules = permit_department
    app, holder, _ = _refused_case(ledger, dept, rules, tmp_path, "rt47b-rules", scope="prepackaged-food-sales")
    case = app["case_id"]
    erased_at = (_now() - timedelta(seconds=5)).replace(microsecond=0)
    other = Ledger.open(ledger.settings, passphrase=PASSPHRASE)
    try:
        outcome = _stall_inside(
            monkeypatch,
            ledger,
            erasure.LOG,
            lambda: decisions.decide(
                other,
                dept,
                case,
                app["service_item"],
                app,
                rules,
                applicant_ref=holder,
                decided_at=erased_at - timedelta(seconds=10),
            ),
        )
        erased = erasure.erase_case(ledger, case, dept, basis="objection", by="officer-47b", at=erased_at)
        outcome["thread"].join(60)
    finally:
        monkeypatch.undo()
        other.close()
    assert not outcome["thread"].is_alive()
    assert erased["inputs"], erased
    assert _approvals(ledger, dept, case) == [], outcome
    assert isinstance(outcome.get("error"), InputError), outcome
    assert f"is not after the erasure of case {case!r}" in str(outcome["error"])
    _clean_replay(ledger, dept)


@pytest.mark.parametrize("bulk", [False, True], ids=["decide", "decide_many"])
def test_the_rules_approving_now_a_case_erased_while_they_decided_it_are_refused(
    ledger: Ledger,
    permit_department: tuple[str, RuleSet],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bulk: bool,
) -> None:
    """Adversary: none - a department's own erasure made while the rules decide the case at their default moment
    (now, taken before the facts are read and the chunk is built). "Now is after every erasure made" held only for
    erasures logged before that moment: one logged while the rules decided states a later moment, and the approval,
    recorded after it at the earlier moment, is one replay reads as standing when the case was erased. The rules'
    clock is set 3 s back so the erasure's whole second is after it without waiting."""
    dept, rules = permit_department
    app, holder, _ = _refused_case(
        ledger, dept, rules, tmp_path, f"rt47b-now-{int(bulk)}", scope="prepackaged-food-sales"
    )
    case = app["case_id"]
    monkeypatch.setattr(decisions, "_utcnow", lambda: datetime.now(UTC) - timedelta(seconds=3))
    real_store = decisions._store_inputs
    other = Ledger.open(ledger.settings, passphrase=PASSPHRASE)
    erased: dict[str, Any] = {}

    def store_after_an_erasure(*args: Any, **kwargs: Any) -> Any:  # the rules' moment taken, nothing recorded yet
        if not erased:
            erased.update(erasure.erase_case(other, case, dept, basis="objection", by="officer-47b"))
        return real_store(*args, **kwargs)

    monkeypatch.setattr(decisions, "_store_inputs", store_after_an_erasure)
    try:
        with pytest.raises(StateError, match=f"case {case!r} was erased at .* while the rules decided it"):
            if bulk:
                decisions.decide_many(ledger, dept, [{**app, "applicant_ref": holder}], {"*": rules}, workers=0)
            else:
                decisions.decide(ledger, dept, case, app["service_item"], app, rules, applicant_ref=holder)
    finally:
        monkeypatch.undo()
        other.close()
    assert erased["inputs"], erased
    assert _approvals(ledger, dept, case) == []
    approved = decisions.decide(ledger, dept, case, app["service_item"], app, rules, applicant_ref=holder)
    assert approved.body["outcome"] == "approve"  # decided again: now, after the erasure, the case reopened
    _clean_replay(ledger, dept)
