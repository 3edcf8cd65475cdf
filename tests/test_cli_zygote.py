"""The test command server (tests/cli_zygote.py) runs a ``ledger`` command as a fresh interpreter would: the same
exit status, standard output and standard error, honouring the command's environment and working directory, and
killed at its timeout. Every CLI test relies on this, so it is compared here with real
``python -m ledger.cli`` processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .cli_support import ledger_process


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


def test_a_command_past_its_timeout_is_killed(tmp_path: Path) -> None:
    """``timeout`` ends the command's process, as subprocess.run's does (TimeoutExpired)."""
    env = {**os.environ, "LEDGER_DATA_DIR": str(tmp_path / "data")}
    with pytest.raises(subprocess.TimeoutExpired):
        ledger_process(
            ["demo-data", "--applications", "50000000", "--out", str(tmp_path / "big.jsonl")], env=env, timeout=3
        )
