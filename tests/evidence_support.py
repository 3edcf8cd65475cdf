"""Helpers and fixtures that several test modules use (from tests/test_evidence.py: no test module
imports another)."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.services import decisions, evidence, issuance

from .conftest import PASSPHRASE, write_jsonl

REPO = Path(__file__).resolve().parent.parent


SCRIPT = REPO / "scripts" / "verify_evidence.py"
COURT_BATCH = Path(__file__).with_name("court_batch.py")


def rpc_url(ledger: Ledger) -> str:
    return str(ledger.chain.w3.provider.endpoint_uri)  # type: ignore[attr-defined]


def standalone(
    ledger: Ledger, path: Path, *extra: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[int, dict[str, Any] | None, str]:
    """Run scripts/verify_evidence.py in its own process; (exit code, parsed --json output, stderr). Without ``env``
    or ``cwd`` through tests/court_batch.py (``python -I -S``: the script's ``main`` from its cached bytecode, so
    the 3,000 lines are not compiled again for each of the suite's few hundred runs)."""
    launcher = [str(SCRIPT)] if env is not None or cwd is not None else ["-I", "-S", str(COURT_BATCH)]
    run = subprocess.run(
        [sys.executable, *launcher, str(path), "--rpc", rpc_url(ledger), "--json", *extra],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )
    return run.returncode, (json.loads(run.stdout) if run.stdout.strip() else None), run.stderr


def standalone_many(
    ledger: Ledger, paths: list[Path], processes: int = 2, *, extra: tuple[str, ...] = ()
) -> list[tuple[int, dict[str, Any] | None, str]]:
    """:func:`standalone` for each of ``paths`` (with the arguments ``extra`` after each), in order: the court's
    verifier run in ``processes`` interpreters of its own side by side (tests/court_batch.py), each bundle verified
    by a fresh call of its ``main``."""
    runner = [sys.executable, "-I", "-S", str(COURT_BATCH)]

    def run(share: list[Path]) -> list[tuple[int, dict[str, Any] | None, str]]:
        asked = "".join(json.dumps([str(p), "--rpc", rpc_url(ledger), "--json", *extra]) + "\n" for p in share)
        done = subprocess.run(runner, input=asked, capture_output=True, text=True, timeout=600)
        lines = done.stdout.splitlines()
        assert done.returncode == 0 and len(lines) == len(share), (done.returncode, done.stderr[-2000:])
        return [(code, json.loads(out) if out.strip() else None, err) for code, out, err in map(json.loads, lines)]

    with ThreadPoolExecutor(max_workers=processes) as pool:
        shares = list(pool.map(run, [paths[i::processes] for i in range(processes)]))
    ordered: list[tuple[int, dict[str, Any] | None, str]] = [(0, None, "")] * len(paths)
    for i, share in enumerate(shares):
        for j, answer in enumerate(share):
            ordered[i + j * processes] = answer
    return ordered


def cli_env(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Point the CLI at the session ledger (its database, passphrase); returns the --data-dir arguments."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)  # the vault opens certificates found by id or file
    if ledger.settings.database_url:
        monkeypatch.setenv("LEDGER_DATABASE_URL", ledger.settings.database_url)
    else:
        monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    return ["--data-dir", str(ledger.settings.data_dir)]


def failed_names(result: dict[str, Any]) -> set[str]:
    return {c["name"] for c in result["checks"] if c["result"] == "FAIL"}


def issue(ledger: Ledger, tmp: Path, department: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp / f"in-{records[0]['id']}.jsonl", records), department, out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def both(
    ledger: Ledger, bundle: Any, tmp: Path, name: str = "bundle.json", *extra: str, file: Path | None = None
) -> tuple[evidence.BundleReport, int, dict[str, Any] | None]:
    """Verify with the library and the standalone verifier; assert they agree; return both results."""
    path = tmp / name
    path.write_text(json.dumps(bundle) if not isinstance(bundle, str) else bundle, encoding="utf-8")
    report = evidence.verify_bundle(path, ledger.chain, file=file)
    code, result, stderr = standalone(ledger, path, *extra, *(["--file", str(file)] if file else []))
    assert result is not None, stderr
    assert (code == 0) == report.ok, (report.to_json(), result)
    assert failed_names(result) == {c.name for c in report.failed}, (report.to_json(), result)
    return report, code, result


def decided(ledger: Ledger, department: str, n: int = 5) -> tuple[Any, list[dict[str, Any]]]:

    from .decision_support import applications, unique_rule_set

    rule_set = unique_rule_set(f"evidence-{department}")
    decisions.publish_rule_set(ledger, rule_set, department)
    apps = applications(n, seed=11)
    result = decisions.decide_many(ledger, department, apps, {"*": rule_set})
    assert result.count == n and result.roots
    return rule_set, apps


def load_script() -> Any:
    spec = importlib.util.spec_from_file_location("verify_evidence", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT_MODULE = load_script()


def bare(ledger: Ledger, path: Path, *extra: str) -> tuple[int, dict[str, Any] | None, str]:
    """scripts/verify_evidence.py under ``python -I -S``: no site-packages, no user site, no PYTHON* variables."""
    run = subprocess.run(
        [sys.executable, "-I", "-S", str(SCRIPT), str(path), "--rpc", rpc_url(ledger), "--json", *extra],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd=path.parent,
    )
    return run.returncode, (json.loads(run.stdout) if run.stdout.strip() else None), run.stderr
