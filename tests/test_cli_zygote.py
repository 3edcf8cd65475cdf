"""The test command server (tests/cli_zygote.py) runs a ``ledger`` command as a fresh interpreter would: the same
exit status, standard output and standard error, honouring the command's environment and working directory, and
killed at its timeout. Every CLI test relies on this, so it is compared here with real
``python -m ledger.cli`` processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger

from .cli_support import ForkedProcess, fork_command, ledger_process
from .gateway_process import gateway


def _fresh(
    args: list[str], env: dict[str, str], cwd: Path | None = None, input: str | None = None
) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "ledger.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=180,
    )
    return done.returncode, done.stdout, done.stderr


def _forked(
    args: list[str], env: dict[str, str], cwd: Path | None = None, input: str | None = None
) -> tuple[int, str, str]:
    done = ledger_process(args, env=env, cwd=cwd, input=input)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],  # argparse's exit 0 with the usage on stdout
        ["no-such-command"],  # argparse's exit 2 with the usage on stderr
        ["verify", "missing.json"],  # a LedgerError: one line on stderr, exit 2
    ],
)
def test_a_forked_command_answers_as_a_fresh_interpreter_does(args: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "LEDGER_DATA_DIR": str(tmp_path / "data"), "LEDGER_RPC_URL": "http://127.0.0.1:9"}
    assert _forked(args, env, cwd=tmp_path) == _fresh(args, env, cwd=tmp_path)


# A module whose ending exercises what a fresh interpreter does once the module is done: the uncaught exception or
# SystemExit reported, a non-daemon thread joined (it waits for the main thread to be marked done, which only the
# interpreter's shutdown does), atexit handlers run in reverse order, unflushed output written.
ENDINGS = """
import atexit, sys, threading
atexit.register(print, "atexit registered first")
atexit.register(lambda: sys.stderr.write("atexit registered last, runs first\\n"))
threading.Thread(target=lambda: (threading.main_thread().join(), print("thread joined at shutdown"))).start()
print("unflushed stdout", end="")
sys.stderr.write("unflushed stderr")
what = sys.argv[1]
if what == "exit-text":
    sys.exit("a message")
if what == "exit-code":
    sys.exit(259)
if what == "raise":
    raise ValueError("boom")
if what == "interrupt":
    raise KeyboardInterrupt
"""


@pytest.mark.parametrize("ending", ["return", "exit-text", "exit-code", "raise", "interrupt"])
def test_a_forked_command_ends_as_a_fresh_interpreter_does(ending: str, tmp_path: Path) -> None:
    """The command server stops a command where the interpreter's shutdown would tear down the modules it preloaded
    (_run_and_exit): everything before that - threads, atexit, streams, the exit status - is as in a fresh one."""
    (tmp_path / "endings.py").write_text(ENDINGS)
    fresh = subprocess.run(
        [sys.executable, "-m", "endings", ending], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    out, err = tmp_path / "out", tmp_path / "err"
    out.touch()
    err.touch()
    forked = fork_command("cli", "endings", [ending], env=dict(os.environ), cwd=tmp_path, stdout=out, stderr=err)
    try:
        code = forked.wait(60)
    finally:
        forked.close()
    assert (code, out.read_text(), err.read_text()) == (fresh.returncode, fresh.stdout, fresh.stderr)
    assert "thread joined at shutdown" in fresh.stdout and "atexit registered last" in fresh.stderr


def test_the_command_writes_where_its_working_directory_says(tmp_path: Path) -> None:
    """A relative path resolves in the working directory given, not the server's: the same file as a fresh
    interpreter writes there (the generator is seeded)."""
    env = {**os.environ, "LEDGER_DATA_DIR": str(tmp_path / "data")}
    args = ["demo-data", "--items", "3", "--applications", "5", "--seed", "7", "--out", "apps.jsonl"]
    for name, run in (("forked", _forked), ("fresh", _fresh)):
        (tmp_path / name).mkdir()
        code, _, err = run(args, env, cwd=tmp_path / name)
        assert code == 0, err
    written = (tmp_path / "forked" / "apps.jsonl").read_text()
    assert written and written == (tmp_path / "fresh" / "apps.jsonl").read_text()


def test_the_command_creates_files_under_the_tests_umask_of_now(tmp_path: Path) -> None:
    """A fresh process inherits the umask the test has when it starts the command, not the one the server was
    started under: the files it creates get the same modes."""
    env = {**os.environ, "LEDGER_DATA_DIR": str(tmp_path / "data")}
    args = ["demo-data", "--items", "3", "--applications", "5", "--seed", "7", "--out", "apps.jsonl"]
    previous = os.umask(0o077)
    try:
        for name, run in (("forked", _forked), ("fresh", _fresh)):
            (tmp_path / name).mkdir()
            code, _, err = run(args, env, cwd=tmp_path / name)
            assert code == 0, err
    finally:
        os.umask(previous)
    modes = {name: (tmp_path / name / "apps.jsonl").stat().st_mode & 0o777 for name in ("forked", "fresh")}
    assert modes == {"forked": 0o600, "fresh": 0o600}


def test_a_command_past_its_timeout_is_killed(tmp_path: Path) -> None:
    """``timeout`` ends the command's process, as subprocess.run's does (TimeoutExpired)."""
    env = {**os.environ, "LEDGER_DATA_DIR": str(tmp_path / "data")}
    with pytest.raises(subprocess.TimeoutExpired):
        ledger_process(
            ["demo-data", "--applications", "50000000", "--out", str(tmp_path / "big.jsonl")], env=env, timeout=3
        )


# The gateway the tests start (tests/gateway_process.py) is forked from the same kind of server, with uvicorn and the
# gateway's packages preloaded: compared here with a fresh ``python -m api`` (and ``python -m uvicorn api.main:app``).


# uvicorn's shutdown says it waits when a connection (a closed client's, not yet seen closed) is still open after
# 0.1 s: a matter of timing, whichever way the process started.
_TIMING = ("Waiting for connections to close", "Waiting for background tasks to complete")


def _normalized(log: str) -> list[str]:
    """The gateway's log with what differs between any two starts (pids, ports, timings) written as N."""
    return [re.sub(r"\d+", "N", line) for line in log.splitlines() if not any(t in line for t in _TIMING)]


def _run_gateway(ledger: Ledger, monkeypatch: pytest.MonkeyPatch, *, fork: bool, **options: Any) -> dict[str, Any]:
    """Start a gateway, ask it a few things over TCP, stop it (SIGTERM) and report what a test could see of it."""
    monkeypatch.setenv("LEDGER_TEST_GATEWAY_FORK", "1" if fork else "0")
    with gateway(ledger, **options) as gw, gw.client() as c:
        process = gw.process
        answers = [(r.status_code, r.headers.get("content-type"), r.content) for r in (c.get("/openapi.json"),)]
        answers += [(r.status_code, r.headers.get("content-type"), r.json()) for r in (c.get("/public/nothing"),)]
        alive = gw.alive()
        gone = process.poll()
        files = _open_files(process.pid)
        status = Path(f"/proc/{process.pid}/status").read_text().splitlines()
        signals = [line for line in status if line.startswith(("SigBlk", "SigIgn", "SigCgt"))]
    gw._reader.join(30)  # the pipe ends when the process does: the reader is done
    return {
        "forked": isinstance(process, ForkedProcess),
        "answers": answers,
        "alive": alive,
        "gone at once": gone,
        "returncode": process.returncode,
        "reader done": not gw._reader.is_alive(),
        "log": _normalized(gw.log()),
        "stdout, stderr": (files.get(1), files.get(2, "").split(":")[0]),  # /dev/null, a pipe
        "signals blocked, ignored, caught": signals,  # none ignored the server's way (SIGCHLD), none blocked
        "server's files": [f for f in files.values() if "ledger-zygote-" in f],  # none: nothing leaks through the fork
    }


def _open_files(pid: int) -> dict[int, str]:
    """What each of the process's descriptors is (``readlink /proc/PID/fd/N``)."""
    files = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            files[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            pass  # closed meanwhile
    return files


@pytest.mark.parametrize("bare_uvicorn", [False, True], ids=["python-m-api", "uvicorn-api.main:app"])
def test_a_forked_gateway_starts_answers_and_stops_as_a_fresh_one(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, bare_uvicorn: bool
) -> None:
    """The same answers over TCP, the same log on stderr (its settings read from the gateway's own environment:
    the public-URL warning, uvicorn's lines), and SIGTERM ends both the same way (uvicorn's graceful shutdown,
    then the signal re-raised: -15)."""
    forked = _run_gateway(ledger, monkeypatch, fork=True, bare_uvicorn=bare_uvicorn, public_burst=1000)
    fresh = _run_gateway(ledger, monkeypatch, fork=False, bare_uvicorn=bare_uvicorn, public_burst=1000)
    assert (forked.pop("forked"), fresh.pop("forked")) == (True, False)
    assert forked == fresh
    assert fresh["returncode"] == -signal.SIGTERM and any("Finished server process" in line for line in fresh["log"])


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "fresh"])
def test_a_gateway_that_cannot_start_says_why_either_way(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, fork: bool
) -> None:
    """A setting of the gateway's own environment refused at startup (a short LEDGER_API_SECRET): the process
    ends, its log says why, and ``gateway()`` reports it (the forked process read the secret from its own
    environment, not the server's)."""
    monkeypatch.setenv("LEDGER_TEST_GATEWAY_FORK", "1" if fork else "0")
    with (
        pytest.raises(AssertionError, match="did not start") as refused,
        gateway(ledger, env_vars={"LEDGER_API_SECRET": "ab" * 16}),
    ):
        pass
    assert "at least" in str(refused.value) and "bytes" in str(refused.value)


def test_a_port_taken_before_the_gateway_binds_it_is_chosen_again(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A port found free may be taken before the gateway binds it (the other CI pass starts gateways too): the
    gateway then exits ("address already in use") and ``gateway()`` starts it again on another port, instead of
    failing the test that asked for it. A port the caller named is not changed."""
    import socket

    from . import gateway_process

    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = taken.getsockname()[1]
        ports = iter([busy, gateway_process._free_port()])
        monkeypatch.setattr(gateway_process, "_free_port", lambda: next(ports))
        with gateway(ledger) as gw, gw.client() as client:
            assert client.get("/openapi.json").status_code == 200
            assert gw.url != f"http://127.0.0.1:{busy}"
        with pytest.raises(AssertionError, match="address already in use"), gateway(ledger, port=busy):
            pass
