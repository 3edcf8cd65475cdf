"""The court verifier's fork server (tests/court_zygote.py, behind tests/evidence_support.py ``standalone``) runs the
verifier as a fresh ``python scripts/verify_evidence.py`` does: the same exit status, standard output and standard
error, in the caller's working directory and environment of now, killed at its timeout, and replaced when it dies.
Every court-verifier test relies on this, so it is compared here with real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.services import evidence

from .conftest import make_records
from .evidence_support import _COURT, SCRIPT, issue, rpc_url


@pytest.fixture(scope="module")
def real_bundle(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    docs = issue(ledger, tmp_path_factory.mktemp("court-zygote"), "MKT", make_records(1, prefix="court-zygote"))
    return evidence.certificate_bundle(ledger, docs[0])


def _fresh(args: list[str], cwd: Path) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )
    return done.returncode, done.stdout, done.stderr


def _forked(args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.chdir(cwd)
    answer = _COURT.run(args, timeout=120)
    assert answer is not None, "the court verifier's server did not serve the call"
    return answer


NODE = "http://127.0.0.1:9"  # nothing listens there: "cannot be judged", exit 2, as a fresh process says it


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],  # argparse's exit 0, the usage on stdout naming verify_evidence.py
        ["bundle.json"],  # argparse's exit 2: --rpc is required
        ["bundle.json", "--rpc", NODE, "--confirmations", "x"],  # argparse's exit 2: not a number
        ["bundle.json", "--rpc", NODE, "--confirmations", "-1"],  # the script's own exit 2
        ["missing.json", "--rpc", NODE, "--json"],  # cannot read: exit 2, relative to the working directory
        ["bundle.json", "--rpc", NODE, "--json"],  # a malformed bundle: the checks as JSON, exit 1
        ["deep.json", "--rpc", NODE, "--json"],  # nested past the bound: refused, never a traceback
        ["bad.json", "--rpc", NODE],  # not JSON
    ],
)
def test_a_forked_verifier_answers_as_a_fresh_interpreter_does(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bundle.json").write_text(json.dumps({"version": "pl-evidence/1"}), encoding="utf-8")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    (tmp_path / "bad.json").write_bytes(b'{"a": \xff}')
    forked = _forked(args, tmp_path, monkeypatch)
    assert forked == _fresh(args, tmp_path)
    assert "Traceback" not in forked[2]


def test_a_real_verification_is_the_same_forked_or_fresh(
    ledger: Ledger, real_bundle: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bundle.json").write_text(json.dumps(real_bundle), encoding="utf-8")
    codes = []
    for extra in ([], ["--confirmations", "1000000"], ["--status-lookup", "direct"]):
        args = ["bundle.json", "--rpc", rpc_url(ledger), "--json", *extra]
        for _ in range(20):  # the node mines a block every second: compare two runs that saw the same head
            head = ledger.chain.block_number()
            forked, fresh = _forked(args, tmp_path, monkeypatch), _fresh(args, tmp_path)
            if ledger.chain.block_number() == head:
                break
        assert forked[0] == fresh[0] and forked[2] == fresh[2], (forked, fresh)
        ours, theirs = json.loads(forked[1])["checks"], json.loads(fresh[1])["checks"]
        assert ours == theirs, [pair for pair in zip(ours, theirs, strict=False) if pair[0] != pair[1]]
        codes.append(forked[0])
    assert codes == [0, 1, 0]  # a million confirmations are not there


def test_each_call_reads_the_callers_environment_of_now(
    real_bundle: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node is reached through the proxy the caller's environment names now, not as the server started: the
    proxy (a listener that answers nothing useful) sees the verifier's request."""
    assert _COURT.run(["--help"], timeout=60) is not None  # the server is up before the variable is set
    (tmp_path / "bundle.json").write_text(json.dumps(real_bundle), encoding="utf-8")
    with socket.create_server(("127.0.0.1", 0)) as proxy:
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.getsockname()[1]}")
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        proxy.settimeout(60)
        args = ["bundle.json", "--rpc", "http://node.invalid:8545", "--json"]
        monkeypatch.chdir(tmp_path)
        seen: list[bytes] = []

        def accept() -> None:
            conn, _ = proxy.accept()
            with conn:
                seen.append(conn.recv(4096))

        listener = threading.Thread(target=accept, daemon=True)
        listener.start()
        answer = _COURT.run(args, timeout=120)
        listener.join(60)
    assert answer is not None and answer[0] in (1, 2) and "Traceback" not in answer[2], answer  # no node answered
    assert seen and b"node.invalid:8545" in seen[0]


def test_a_call_past_its_timeout_is_killed_and_the_server_serves_on(
    real_bundle: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bundle.json").write_text(json.dumps(real_bundle), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        args = ["bundle.json", "--rpc", f"http://127.0.0.1:{silent.getsockname()[1]}", "--json"]
        with pytest.raises(subprocess.TimeoutExpired):
            _COURT.run(args, timeout=1)
    assert _COURT.run(["--help"], timeout=60) == _fresh(["--help"], tmp_path)


def test_a_server_that_died_is_replaced_and_its_call_left_to_a_fresh_process(tmp_path: Path) -> None:
    assert _COURT.run(["--help"], timeout=60) is not None
    process = _COURT._process
    assert process is not None
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert _COURT.run(["--help"], timeout=60) is None  # the caller runs this one itself (standalone does)
    assert _COURT.run(["--help"], timeout=60) == _fresh(["--help"], tmp_path)
    assert _COURT._process is not None and _COURT._process.pid != process.pid
