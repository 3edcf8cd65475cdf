"""Helpers and fixtures that several test modules use (from tests/test_crash.py: no test module
imports another)."""

from __future__ import annotations

import atexit
import json
import locale
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ledger.client import Ledger
from ledger.formats.canonical import hex32
from ledger.services import issuance
from ledger.services.reconcile import chain_anchors, reconcile
from ledger.services.verify import ChainView, verify_certificate
from ledger.storage.store import Batch, BatchState, Certificate

from .conftest import PASSPHRASE


def env_for(ledger: Ledger, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "LEDGER_DATA_DIR": str(ledger.settings.data_dir),
        "LEDGER_PASSPHRASE": PASSPHRASE,
        "LEDGER_DATABASE_URL": ledger.settings.database_url or "",
        **extra,
    }


def run_cli(ledger: Ledger, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return ledger_process(args, env=env_for(ledger, **extra))


def ledger_process(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    input: str | None = None,
    cwd: str | Path | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run([python, "-m", "ledger.cli", *args], capture_output=True, text=True, ...)``: the command
    runs in a process of its own, forked from a server that has already imported the library
    (tests/cli_zygote.py), unless the interpreter would start differently for this environment or
    ``LEDGER_TEST_CLI_FORK=0`` asks for a fresh interpreter each time."""
    command = [sys.executable, "-m", "ledger.cli", *args]
    zygote = _zygote() if _same_interpreter(env) else None
    if zygote is None:
        return subprocess.run(
            command, capture_output=True, text=True, env=dict(env), input=input, cwd=cwd, timeout=timeout
        )
    scratch = Path(tempfile.mkdtemp(prefix="ledger-cli-"))
    try:
        streams = {name: scratch / name for name in ("stdin", "stdout", "stderr")}
        for path in streams.values():
            path.touch()
        if input is not None:
            streams["stdin"].write_text(input, encoding=locale.getpreferredencoding(False))
        request = {
            "args": list(args),
            "env": dict(env),
            "cwd": str(Path(cwd) if cwd is not None else Path.cwd()),
            "stdin": str(streams["stdin"]) if input is not None else None,
            "stdout": str(streams["stdout"]),
            "stderr": str(streams["stderr"]),
        }
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(zygote)
            conn.sendall(json.dumps(request).encode() + b"\n")
            answers = conn.makefile("rb")
            pid = json.loads(answers.readline())["pid"]
            conn.settimeout(timeout)
            try:
                line = answers.readline()
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
                stdout, stderr = _text(streams["stdout"]), _text(streams["stderr"])
                raise subprocess.TimeoutExpired(command, timeout, stdout, stderr) from None
            returncode = json.loads(line)["returncode"]
        return subprocess.CompletedProcess(command, returncode, _text(streams["stdout"]), _text(streams["stderr"]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _text(path: Path) -> str:
    """A captured stream as ``subprocess.run(text=True)`` gives it: the locale's encoding, universal newlines."""
    data = path.read_bytes().decode(locale.getpreferredencoding(False))
    return data.replace("\r\n", "\n").replace("\r", "\n")


def _interpreter_settings(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(("PYTHON", "LC_")) or k in ("LANG", "LANGUAGE")}


_ZYGOTE: dict[str, Any] = {}
_ZYGOTE_LOCK = threading.Lock()


def _same_interpreter(env: Mapping[str, str]) -> bool:
    return os.environ.get("LEDGER_TEST_CLI_FORK") != "0" and _interpreter_settings(env) == _interpreter_settings(
        _ZYGOTE.get("env", os.environ)
    )


def _zygote() -> str | None:
    """The socket of this test process's command server, started on first use (None if it cannot start)."""
    with _ZYGOTE_LOCK:
        if "socket" not in _ZYGOTE or _ZYGOTE["process"].poll() is not None:
            home = Path(tempfile.mkdtemp(prefix="ledger-zygote-"))
            path = str(home / "socket")
            process = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("cli_zygote.py")), path],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=(home / "stderr").open("wb"),
                env=dict(os.environ),
            )
            assert process.stdout is not None
            if process.stdout.readline() != b"ready\n":
                raise RuntimeError(f"the ledger command server did not start: {(home / 'stderr').read_text()}")
            process.stdout.close()
            atexit.register(_stop_zygote, process, home)
            _ZYGOTE.update(socket=path, process=process, env=dict(os.environ))
        return str(_ZYGOTE["socket"])


def _stop_zygote(process: subprocess.Popen[bytes], home: Path) -> None:
    process.kill()
    process.wait()
    shutil.rmtree(home, ignore_errors=True)


def assert_anchored_exactly_once(ledger: Ledger, department: str, ids: set[str], *, verify: bool = True) -> None:
    """Every id stored once, every batch confirmed, every root anchored on chain exactly once, all verify."""
    with ledger.engine.connect() as conn:
        stored = (
            conn.execute(select(Certificate.certificate_id).where(Certificate.department_id == department))
            .scalars()
            .all()
        )
        batches = conn.execute(
            select(Batch.root, Batch.state, Batch.count, Batch.block_hash).where(Batch.department_id == department)
        ).all()
    assert Counter(stored) == Counter(ids), "a certificate id is missing or stored twice"
    assert all(state == BatchState.CONFIRMED for _, state, _, _ in batches), batches
    assert sum(count for _, _, count, _ in batches) == len(ids)
    anchored = Counter(hex32(root) for root, _ in chain_anchors(ledger, {department}))
    assert all(n == 1 for n in anchored.values()), "a root was anchored twice"
    assert set(anchored) == {root for root, _, _, _ in batches}, "DB batches and chain anchors differ"
    for root, _, _, block_hash in batches:
        event = issuance.anchor_event(ledger, bytes.fromhex(root[2:]))
        assert event is not None and event["block_hash"] == block_hash, "a confirmed batch's block is not canonical"
    if verify:
        view = ChainView(ledger.chain, ledger.settings.confirmations)
        for certificate_id in ids:
            report = verify_certificate(issuance.export_document(ledger, certificate_id, department), view)
            assert report.ok, report.to_json()
    report = reconcile(ledger, departments=[department])
    assert report.ok and not report.pending, report.text()


def rpc(ledger: Ledger, method: str, *params: Any) -> Any:
    """Test only: a node control call (evm_snapshot, anvil_dropAllTransactions, ...); raises on error."""
    answer = ledger.chain.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer["result"]


def cli_in_process(ledger: Ledger, monkeypatch: Any, capsys: Any, *args: str) -> tuple[int, str, str]:
    """``ledger ARGS`` in this process (``ledger.cli.main``), on the session ledger's data directory and database:
    (exit code, standard output, standard error)."""
    from ledger.cli import main as cli_main

    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    if ledger.settings.database_url:
        monkeypatch.setenv("LEDGER_DATABASE_URL", ledger.settings.database_url)
    else:
        monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    capsys.readouterr()
    code = cli_main(["--data-dir", str(ledger.settings.data_dir), *args])
    out, err = capsys.readouterr()
    return code, out, err
