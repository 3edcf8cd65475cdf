"""Red team, round 22: a court's expert, a forger or holder editing their document, an applicant lying in their input,
an anonymous client of the gateway, and the chain's operator, against the two bundle verifiers and the gateway.

1. (A court's expert, handed a forger's bundle) A decision that cites one certificate twice has two cited copies in
   its bundle. The library keyed the copies by the digest their citation names, so one copy stood for both: with
   either copy replaced by ``null`` (docs/evidence.md: "not found", which contradicts the record and fails) the
   library still passed ``certificate_facts`` while the court's verifier failed it. Each citation is now judged
   with the copy at its own place in both.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger

from .evidence_support import both, failed_names
from .rerun_support import World, world_fixture  # noqa: F401 - the decisions' world


@pytest.mark.parametrize("hidden_copy", [0, 1])
def test_a_citation_given_twice_is_judged_copy_by_copy_in_both_verifiers(
    ledger: Ledger, world: World, tmp_path: Path, hidden_copy: int
) -> None:
    digest = world.licences[0]["digest"]
    case = f"RR22-TWICE-{hidden_copy}"
    world.decide(case, 0, certificates=[{"digest": digest}, {"digest": digest}])
    bundle: dict[str, Any] = world.bundle(case, 0)
    report, code, _ = both(ledger, bundle, tmp_path, "twice.json")
    assert report.ok and code == 0
    edited = copy.deepcopy(bundle)
    edited["cited"][hidden_copy] = None  # "not found": the record says the department verified it
    report, code, result = both(ledger, edited, tmp_path, "one-copy-hidden.json")
    assert code == 1 and not report.ok
    assert result is not None and failed_names(result) == {"certificate_facts"}

