"""Red team, round 37b: an officer's decision backdated years before its anchoring, its bundle handed to a court.

(An insider writing the decision log, or a hostile department) append an officer's decision stating a
``decided_at`` of 2020, anchor it today and export its bundle: replay reports it (``anchored_late``, rt35: more than
the ledger's anchoring deadline before its anchoring block), but the decision bundle did not carry that deadline,
so neither the library's bundle check nor the court's standalone verifier could bound the delay, and both passed it
(an open row of docs/threat-model.md since round 36). Now the bundle states the deadline (``anchor.deadline_seconds``),
both verifiers fail ``rerun`` when the decision was anchored later than that (plus the 30 s clock difference they
allow), and the court's verifier prints the delay and holds a bundle to a bound of its own with
``--max-anchor-delay``.

Each test is one attack, named in its docstring with the adversary and what it tries. Real anvil, real database
(SQLite, or PostgreSQL with LEDGER_TEST_DATABASE_URL); no mocks.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger.client import Ledger
from ledger.services import evidence

from .conftest import PASSPHRASE
from .evidence_support import both, failed_names, standalone
from .permit_support import backdated_bundle
from .rerun_support import World, world_fixture  # noqa: F401 - the decisions' world


def _backdated(ledger: Ledger, dept: str, case: str, when: datetime) -> dict[str, Any]:
    return backdated_bundle(ledger, dept, case, when, "applicant-rt37b")


def _check(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in result["checks"] if c["name"] == name)


def test_an_officers_decision_backdated_years_fails_rerun_in_both_bundle_verifiers(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an insider appending an officer's decision dated 2020, anchored today, its bundle handed to a
    court: the library and the court's verifier both passed it (the bundle did not state the anchoring deadline).
    Holds now: the bundle states the ledger's deadline and both fail ``rerun``, naming the delay and the bound;
    an honest decision recorded now passes both, its delay shown."""
    dept = fresh_department
    deadline = ledger.settings.anchor_deadline_seconds
    bundle = _backdated(ledger, dept, "C-RT37B-2020", datetime(2020, 3, 1, 9, 0, tzinfo=UTC))
    assert bundle["anchor"]["deadline_seconds"] == deadline
    report, code, result = both(ledger, bundle, tmp_path)
    assert {c.name for c in report.failed} == {"rerun"}, report.to_json()
    assert code == 1 and result is not None
    for detail in (report.check("rerun").detail, _check(result, "rerun")["detail"]):
        assert "anchored" in detail and f"the anchoring deadline of {deadline} s" in detail, detail
    # the honest one, recorded through the library now and anchored at once, passes both; its delay is printed
    report, code, result = both(
        ledger, evidence.decision_bundle(ledger, dept, "C-RT37B-2020-MODEL"), tmp_path, "m.json"
    )
    assert report.ok and code == 0, report.to_json()
    assert result is not None and f"within the anchoring deadline of {deadline} s" in _check(result, "rerun")["detail"]


def test_the_courts_own_bound_refuses_a_bundle_stating_a_huge_deadline_or_none(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: the department handing the court the backdated decision's bundle stating an anchoring deadline of
    a century (the member is no part of the signed record), or none at all (as an older bundle): the verifiers hold
    the decision to what the bundle states, so it passes; the court sees the delay and the stated bound, and with
    ``--max-anchor-delay`` of its own refuses it. An honest decision passes the court's bound."""
    dept = fresh_department
    bundle = _backdated(ledger, dept, "C-RT37B-HUGE", datetime(2021, 6, 1, tzinfo=UTC))
    huge = copy.deepcopy(bundle)
    huge["anchor"]["deadline_seconds"] = 100 * 365 * 86400
    report, code, result = both(ledger, huge, tmp_path, "huge.json")
    assert report.ok and code == 0 and result is not None, (report.to_json(), result)
    assert f"within the anchoring deadline of {100 * 365 * 86400} s" in _check(result, "rerun")["detail"]
    path = tmp_path / "huge.json"
    code, result, _ = standalone(ledger, path, "--max-anchor-delay", "900")
    assert code == 1 and result is not None and failed_names(result) == {"rerun"}, result
    assert "the court's bound of 900 s (--max-anchor-delay)" in _check(result, "rerun")["detail"]

    older = copy.deepcopy(bundle)
    del older["anchor"]["deadline_seconds"]  # a bundle of before round 37b: still read, the delay reported
    report, code, result = both(ledger, older, tmp_path, "older.json")
    assert report.ok and code == 0 and result is not None, (report.to_json(), result)
    for detail in (report.check("rerun").detail, _check(result, "rerun")["detail"]):
        assert "states no anchoring deadline" in detail and "not judged" in detail, detail
    code, result, _ = standalone(ledger, tmp_path / "older.json", "--max-anchor-delay", "900")
    assert code == 1 and result is not None and failed_names(result) == {"rerun"}, result

    honest = evidence.decision_bundle(ledger, dept, "C-RT37B-HUGE-MODEL")
    (tmp_path / "honest.json").write_text(json.dumps(honest), encoding="utf-8")
    code, result, stderr = standalone(ledger, tmp_path / "honest.json", "--max-anchor-delay", "900")
    assert code == 0 and result is not None, stderr
    assert "the court's bound of 900 s" in _check(result, "rerun")["detail"]


def test_a_ledger_without_an_anchoring_deadline_states_none_and_its_bundle_reports_the_delay(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """A ledger run with ``LEDGER_ANCHOR_DEADLINE_SECONDS=0`` (no deadline: replay bounds no past decided_at) states
    ``null``, not 0 (which would refuse every decision anchored a second late): the verifiers report the delay and do
    not fail, saying no deadline was held; the court's own bound still applies."""
    dept = fresh_department
    bundle = _backdated(ledger, dept, "C-RT37B-NONE", datetime(2020, 1, 1, tzinfo=UTC))
    unbounded = Ledger(
        settings=ledger.settings.with_(anchor_deadline_seconds=0),
        chain=ledger.chain,
        engine=ledger.engine,
        keystore=ledger.keystore,
        passphrase=PASSPHRASE,
    )
    none = evidence.decision_bundle(unbounded, dept, "C-RT37B-NONE")
    assert none["anchor"]["deadline_seconds"] is None and bundle["anchor"]["deadline_seconds"] is not None
    report, code, result = both(ledger, none, tmp_path, "none.json")
    assert report.ok and code == 0 and result is not None, (report.to_json(), result)
    assert "held it to no anchoring deadline" in _check(result, "rerun")["detail"]
    code, result, _ = standalone(ledger, tmp_path / "none.json", "--max-anchor-delay", "900")
    assert code == 1 and result is not None and failed_names(result) == {"rerun"}, result
    zero = copy.deepcopy(none)
    zero["anchor"]["deadline_seconds"] = 0  # 0 is no deadline of seconds: the shape check refuses it in both
    report, code, result = both(ledger, zero, tmp_path, "zero.json")
    assert {c.name for c in report.failed} >= {"bundle"}, report.to_json()


def test_an_automatic_decisions_bundle_states_its_anchoring_delay_in_both_verifiers(
    ledger: Ledger, world: World, tmp_path: Path
) -> None:
    """An automatic decision is held to the same bound (replay's anchored_late covers both kinds): an honest one,
    anchored at once, passes ``rerun`` in both verifiers with its delay and the stated deadline in the detail, and
    within the court's own bound. (Backdating one past the deadline needs a facts block that old: the session's
    chain is younger than the deadline, and moving its clock would move every later test's.)"""
    decision = world.decide("RT37B-AUTO", 0)
    bundle = world.bundle("RT37B-AUTO", 0)
    deadline = ledger.settings.anchor_deadline_seconds
    assert decision.body["decided_by"]["kind"] != "officer" and bundle["anchor"]["deadline_seconds"] == deadline
    report, code, result = both(ledger, bundle, tmp_path, "auto.json")
    assert report.ok and code == 0 and result is not None, (report.to_json(), result)
    for detail in (report.check("rerun").detail, _check(result, "rerun")["detail"]):
        assert "as recorded; anchored" in detail and f"within the anchoring deadline of {deadline} s" in detail
    code, result, stderr = standalone(ledger, tmp_path / "auto.json", "--max-anchor-delay", "60")
    assert code == 0 and result is not None, stderr
    assert "within the court's bound of 60 s" in _check(result, "rerun")["detail"]
