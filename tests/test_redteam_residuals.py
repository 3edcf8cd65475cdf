"""Red team residuals: holes earlier rounds found and left open (the closing note of 2026-12-05), each closed here.

1. (An insider writing the decision log, with a court's expert handed the bundle) An automatic decision's facts
   block must have been the chain's head at ``decided_at`` (round 22): it is judged by the block after it, and a
   facts block that is the chain's head has none. A record naming the block its own anchoring is mined in, with a
   ``decided_at`` as late as the calendar goes (9999-12-31), passed the check in replay and both bundle verifiers
   while nothing was mined after its anchoring - and a moment outside the calendar once in UTC reached the
   verifiers' time arithmetic. A decision is taken before it is anchored: a ``decided_at`` after its anchoring
   block's time (give or take the clock difference allowed) fails ``facts_block_invalid`` / ``certificate_facts``,
   naming the anchoring, in all three.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from ledger.client import Ledger
from ledger.services import evidence, logchain, replay

from .evidence_support import both, failed_names
from .rerun_support import World, world_fixture  # noqa: F401 - the decisions' world


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59+14:00", "2999-01-01T00:00:00Z"])
def test_a_decision_taken_after_its_anchoring_fails_the_facts_block_in_replay_and_both_verifiers(
    ledger: Ledger, world: World, tmp_path: Path, moment: str
) -> None:
    case = f"RES-FUTURE-{moment[:4]}{moment[-3:]}"
    honest = world.decide(case, 1)
    assert honest.body["outcome"] == "approve"
    world.bundle(case, 1)  # anchored: nothing of the department's is pending
    # the insider writes the record on the facts of the block its anchoring will be mined in (the head then, with
    # no block after it to judge decided_at by), taken at the end of the calendar
    body = copy.deepcopy(honest.body)
    block = ledger.chain.block_number() + 1
    body["as_of_block"] = block
    for fact in body["certificates"]:
        fact["as_of_block"] = block
    body["credit"]["as_of_block"] = block
    body["decided_at"] = moment
    entry = logchain.append(ledger, logchain.LOG_DECISIONS, world.dept, body)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, world.dept)
    bundle = evidence.decision_bundle(ledger, world.dept, case, seq=entry.seq, applicant=world.holder(1))
    assert bundle["anchor"]["block_number"] == block, "the anchoring was not mined in the block the record names"
    found = {d.check: d.detail for d in replay.replay(ledger, department=world.dept, case_id=case).discrepancies}
    assert "after it was anchored" in found.get("facts_block_invalid", ""), found
    report, code, result = both(ledger, bundle, tmp_path, "taken-after-anchoring.json")
    assert code == 1 and not report.ok
    assert result is not None and "certificate_facts" in failed_names(result), result
    for detail in (
        next(c["detail"] for c in result["checks"] if c["name"] == "certificate_facts"),
        report.check("certificate_facts").detail,
    ):
        assert "after it was anchored" in detail, detail


HOSTILE_FIELDS: list[tuple[tuple[str | int, ...], object]] = [
    (("decided_at",), "9999-12-31T23:59:59-14:00"),  # outside the calendar once in UTC
    (("decided_at",), "0001-01-01T00:00:00+14:00"),
    (("decided_at",), "2026-13-45T00:00:00Z"),
    (("decided_at",), "2026-01-01T00:00:00+99:00"),
    (("decided_at",), 2**52),
    (("decided_at",), []),
    (("as_of_block",), 2**52),
    (("as_of_block",), -1),
    (("as_of_block",), "28"),
    (("certificates", 0, "as_of_block"), 2**52),
    (("certificates", 0, "confirmations"), 2**52),
    (("certificates",), {"a": 1}),
    (("certificates",), [5]),
    (("reasons",), 5),
]


def test_hostile_decision_fields_are_named_failed_checks_alike_in_both_verifiers(
    ledger: Ledger, world: World, tmp_path: Path
) -> None:
    """Huge integers, wrong types and moments outside the calendar in an anchored decision record: each is a
    named failed check (exit 1), the same in the library's verifier and the court's, never a traceback (exit 2)."""
    case = "RES-HOSTILE"
    honest = world.decide(case, 1)
    for i, (path, value) in enumerate(HOSTILE_FIELDS):
        body = copy.deepcopy(honest.body)
        target = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        entry = logchain.append(ledger, logchain.LOG_DECISIONS, world.dept, body)
        bundle = world.bundle(case, 1, seq=entry.seq)
        report, code, result = both(ledger, bundle, tmp_path, f"hostile-{i}.json")
        assert code == 1 and not report.ok, (path, value, result)
        assert result is not None and failed_names(result), (path, value, result)
