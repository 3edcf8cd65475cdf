"""Red team, round 14a: a forger editing a decision bundle, the court's expert comparing the library with the
court's standalone verifier, and the chain's operator (or a hostile witness) against the witness protocol.

Holes (each test failed before its fix):

1. Quadratic input field names: both verifiers checked that no input field lies inside another by joining every
   prefix of every name's segments (``".".join(segments[:end])`` for each ``end``), quadratic in a name's length.
   The court's verifier does it before it compares the input with the record's commitment, so a forger adding one
   hidden field named ``a.a.a...`` (2 MB, a million segments) to a genuine decision bundle held the court's
   verifier for hours where the library answered at once (its commitment check comes first; a department
   committing to such a name held the library too). And two names of one path (``item.a~`` beside
   ``item.a~0``, both unescaping to ``item["a~"]``) passed, so what the rules read depended on the fields' order.
   Now one pass over a tree of the paths refuses both, and a path deeper than any JSON input, in both verifiers.

Each hole found was written first as a failing test, then closed.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import VerificationError
from ledger.formats import decision_input
from ledger.services import evidence

from .evidence_support import SCRIPT, SCRIPT_MODULE, failed_names, rpc_url
from .rerun_support import approved_fixture, world_fixture  # noqa: F401 - the approved decision's bundle

REPO = Path(__file__).resolve().parent.parent


# -- 1. input field names: linear, unambiguous ------------------------------------------------------------------


def test_a_forged_input_field_name_of_a_million_segments_gets_a_verdict_from_both_at_once(
    ledger: Ledger, approved: dict[str, Any], tmp_path: Path
) -> None:
    """Adversary: a forger handing the court a genuine decision bundle with one hidden input field added, named
    ``a.a.a...`` (2 MB). Both verifiers must fail ``input`` (the commitment no longer opens) and agree; the
    court's verifier spent hours on the name before (the timeout catches that, a linear check takes a second)."""
    forged = copy.deepcopy(approved)
    forged["input"]["hidden"]["a." * 1_000_000 + "a"] = "00" * 32
    path = tmp_path / "long-name.json"
    path.write_text(json.dumps(forged), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, str(SCRIPT), str(path), "--rpc", rpc_url(ledger), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1 and run.stdout.strip(), run.stderr
    court = failed_names(json.loads(run.stdout))
    report = evidence.verify_bundle(path, ledger.chain)
    assert "input" in court and court == {c.name for c in report.failed}, (court, report.to_json())


def test_both_engines_refuse_a_field_path_no_input_nests_to_in_linear_time() -> None:
    """A department committing to such a name holds the library's own check (after the commitment opens): both
    engines refuse a path deeper than any JSON input (512 levels) at once, and still read every honest input."""
    code = (
        "import sys\n"
        "sys.path.insert(0, 'scripts')\n"
        "import verify_evidence\n"
        "from ledger.errors import VerificationError\n"
        "from ledger.formats.decision_input import unflatten\n"
        "name = 'a.' * 300_000 + 'a'\n"
        "try:\n"
        "    unflatten({name: 1})\n"
        "except VerificationError as exc:\n"
        "    print('library:', str(exc)[-80:])\n"
        "try:\n"
        "    verify_evidence.unflatten_input({name: 1})\n"
        "except verify_evidence.Failure as exc:\n"
        "    print('court:', str(exc)[-80:])\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("no input nests deeper than 512 levels") == 2, run.stdout
    deep = ".".join(["a"] * 512)  # as deep as an input may be: read
    assert decision_input.unflatten({deep: 1}) == SCRIPT_MODULE.unflatten_input({deep: 1})


@pytest.mark.parametrize(
    "fields",
    [
        {"item.a~": 1, "item.a~0": 2},  # both are item["a~"]
        {"item.a~0": 2, "item.a~": 1},
        {"item.x@": 1, "item.x~2": 2},  # both are item["x@"]
        {"item.a.b": 1, "item": 2},  # the order that the old check met first, reversed
    ],
)
def test_two_fields_of_one_path_are_refused_by_both_engines(fields: dict[str, Any]) -> None:
    """Adversary: a department committing to two input fields whose names unescape to one path: the rules read
    the value of whichever the bundle lists last, so a bundle's order (which no hash covers) chose the outcome
    of the court's re-run. Both engines refuse, whatever the order."""
    with pytest.raises(VerificationError, match=r"same path|inside"):
        decision_input.unflatten(fields)
    with pytest.raises(SCRIPT_MODULE.Failure, match=r"same path|inside"):
        SCRIPT_MODULE.unflatten_input(fields)
