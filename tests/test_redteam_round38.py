"""Red team, round 38: the anchoring deadline decision bundles state (bundle37) and the block readers' checks (rt37).

Tried and holding (each a named failed ``bundle`` check alike in both verifiers, or refused whole as unreadable
JSON, never a traceback): ``anchor.deadline_seconds`` edited to ``900.0``, ``9e2``, ``true``, ``-5``, ``0``,
``"900"``, ``{}``, 40 digits (not exactly a double), 5,000 digits, or named twice; ``--max-anchor-delay`` of ``1.5``
or 5,000 digits is a usage error (exit 2). Honest node answers the rt37 checks might refuse (a tag, ``0x01``, an
upper-case hash) are compared as numbers and case-blind.

Each test is one attack, named in its docstring with the adversary and what it tries. Real anvil, real database
(SQLite, or PostgreSQL with LEDGER_TEST_DATABASE_URL); no mocks.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger.client import Ledger
from ledger.services import evidence

from .evidence_support import failed_names, standalone
from .permit_support import backdated_bundle


def _backdated(ledger: Ledger, dept: str, case: str, when: datetime) -> dict[str, Any]:
    return backdated_bundle(ledger, dept, case, when, "applicant-rt38")


def test_a_courts_looser_bound_does_not_pass_a_decision_the_bundles_own_deadline_fails(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: a department handing a court, whose practice is a generous ``--max-anchor-delay`` (a day, for
    every department), the bundle of an officer's decision anchored hours or years after its ``decided_at``: the
    court's bound replaced the deadline the bundle states (the one the ledger held the decision to, replay's
    ``anchored_late``), so the court's verifier passed ``rerun`` "within the court's bound" where the library's
    bundle check failed it. Holds now: the stricter of the two bounds applies, and the detail names both."""
    dept = fresh_department
    deadline = ledger.settings.anchor_deadline_seconds
    bundle = _backdated(ledger, dept, "C-RT38-LOOSE", datetime(2020, 3, 1, 9, 0, tzinfo=UTC))
    assert bundle["anchor"]["deadline_seconds"] == deadline
    path = tmp_path / "loose.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    report = evidence.verify_bundle(path, ledger.chain)
    assert {c.name for c in report.failed} == {"rerun"}, report.to_json()
    loose = str(10**12)  # looser than any delay on this chain
    code, result, stderr = standalone(ledger, path, "--max-anchor-delay", loose)
    assert result is not None, stderr
    assert code == 1 and failed_names(result) == {"rerun"}, result
    detail = next(c["detail"] for c in result["checks"] if c["name"] == "rerun")
    assert f"the anchoring deadline of {deadline} s the bundle states" in detail, detail
    assert f"--max-anchor-delay {loose}" in detail, detail
    # the honest decision passes both bounds, the stricter named
    honest = tmp_path / "honest.json"
    honest.write_text(json.dumps(evidence.decision_bundle(ledger, dept, "C-RT38-LOOSE-MODEL")), encoding="utf-8")
    code, result, stderr = standalone(ledger, honest, "--max-anchor-delay", loose)
    assert code == 0 and result is not None, stderr
    detail = next(c["detail"] for c in result["checks"] if c["name"] == "rerun")
    assert f"within the anchoring deadline of {deadline} s the bundle states" in detail, detail
