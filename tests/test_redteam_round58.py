"""Red team round 58: a court's expert, a forger and the chain's operator against evidence bundles.

1. Found (a forger handing the court a bundle; the court's expert reading the verdict on a terminal): a bundle
   member both verifiers echo in a failing check's detail (``department.id``, ``decision.department``,
   ``rule_set.department``, ``decision.body.rule_set``) reached the terminal as written: an escape sequence there
   (``ESC [8m``: conceal) hid every line after it, the NOT VERIFIED verdict included, and a carriage return with
   ``ESC [2K`` wrote over the FAIL line, so the screen showed what the forger printed. Fixed: both verifiers'
   text reports (``scripts/verify_evidence.py`` and ``ledger evidence verify``, and ``ledger verify``'s report)
   print every character that is not printable as its escape (``\\x1b``); the JSON reports were already escaped.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ledger.cli import main as cli_main
from ledger.client import Ledger
from ledger.services import evidence

from .conftest import TEST_TYPES, make_records
from .evidence_support import SCRIPT, cli_env, decided, issue, rpc_url

# conceal what follows (ESC [8m), then a carriage return and an erase of the line (ESC [2K), a right-to-left
# override (U+202E), a C1 control sequence introducer (U+009B) and a bell: none is a character a report shows
TERMINAL = "\x1b[8m\r\x1b[2K\u202e\x9b\x07"


@pytest.fixture(scope="module")
def certificate(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    (document,) = issue(ledger, tmp_path_factory.mktemp("r58"), "MKT", make_records(1))
    return evidence.certificate_bundle(ledger, document)


@pytest.fixture(scope="module")
def decision(ledger: Ledger) -> dict[str, Any]:
    from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER
    from ledger.services.departments import Council

    code = f"R58{os.getpid() % 1000}"
    Council(ledger).register(code, "Red team 58 approvals", ROLE_ISSUER | ROLE_APPROVER, types=TEST_TYPES)
    _rule_set, apps = decided(ledger, code, n=3)
    return evidence.decision_bundle(ledger, code, apps[1]["case_id"])


def _edited(bundle: dict[str, Any], path: tuple[str, ...], suffix: str) -> dict[str, Any]:
    edited = copy.deepcopy(bundle)
    node = edited
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] += suffix
    return edited


def _court_text(ledger: Ledger, path: Path) -> subprocess.CompletedProcess[str]:
    """The court's verifier as the expert runs it: a process of its own, the contracts pinned, its report as text."""
    pins = ["--anchor", ledger.chain.deployment.anchor, "--log", ledger.chain.deployment.log]
    return subprocess.run(
        [sys.executable, "-I", "-S", str(SCRIPT), str(path), "--rpc", rpc_url(ledger), *pins],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _shown_raw(text: str) -> list[str]:
    """The characters of ``text`` a terminal acts on instead of showing (every one but the line ends)."""
    return sorted({c for c in text if not c.isprintable() and c != "\n"})


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("certificate", ("department", "id")),
        ("decision", ("department", "id")),
        ("decision", ("decision", "department")),
        ("decision", ("rule_set", "department")),
        ("decision", ("decision", "body", "rule_set")),
    ],
)
def test_terminal_escapes_in_a_bundle_reach_no_report_as_written(
    ledger: Ledger,
    certificate: dict[str, Any],
    decision: dict[str, Any],
    kind: str,
    path: tuple[str, ...],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Adversary: a forger handing the court a bundle, one member of which both verifiers echo in a failing check's
    detail, ending in terminal escapes: conceal (everything after it, the NOT VERIFIED verdict included, is not
    shown), a carriage return and an erase of the line (the FAIL line is wiped), a right-to-left override. The
    court's expert reads the report on a terminal. Both verifiers' text reports must show those characters as
    escapes, and still fail the check and name the member's value."""
    genuine = certificate if kind == "certificate" else decision
    # department.id is checked for ASCII of at most 32 characters before it is compared
    suffix = "\x1b[8m\r\x1b[2K\x07" if path == ("department", "id") else TERMINAL
    edited = _edited(genuine, path, suffix)
    bundle = tmp_path / "edited.json"
    bundle.write_text(json.dumps(edited), encoding="utf-8")
    court = _court_text(ledger, bundle)
    assert court.returncode == 1, court.stderr
    assert _shown_raw(court.stdout + court.stderr) == [], (court.stdout, court.stderr)
    assert "\\x1b[8m" in court.stdout, court.stdout  # the value is named, visibly
    assert court.stdout.splitlines()[-1].startswith("NOT VERIFIED: "), court.stdout
    data_dir = cli_env(ledger, monkeypatch)
    capsys.readouterr()
    assert cli_main([*data_dir, "evidence", "verify", str(bundle)]) == 1
    library = capsys.readouterr()
    assert _shown_raw(library.out + library.err) == [], (library.out, library.err)
    assert "\\x1b[8m" in library.out, library.out
    assert library.out.splitlines()[-1].startswith("NOT VERIFIED: "), library.out
