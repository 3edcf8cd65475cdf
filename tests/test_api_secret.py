"""The gateway's token secret: short secrets refused from every source, the file created atomically (several
workers starting at once all end with the same secret), mode 0600. Real processes, real files."""

from __future__ import annotations

import multiprocessing
import stat
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import ConfigError
from ledger.services.auth import MIN_SECRET_BYTES, load_secret


def _worker(path: Path, gun: Event, answer: Connection) -> None:
    """One gateway worker's start: wait for the starting gun, then load (or create) the secret and send it."""
    gun.wait()
    try:
        answer.send(("ok", load_secret(path).hex()))
    except BaseException as exc:  # noqa: BLE001 - the parent asserts on it
        answer.send(("error", repr(exc)))


def test_short_or_empty_secret_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGER_API_SECRET", raising=False)
    for content in (b"", b"x" * (MIN_SECRET_BYTES - 1)):
        path = tmp_path / "api-token.key"
        path.write_bytes(content)
        with pytest.raises(ConfigError, match=f"at least {MIN_SECRET_BYTES} bytes"):
            load_secret(path)


def test_short_secret_from_the_environment_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("00" * 16, "ab" * (MIN_SECRET_BYTES - 1)):
        monkeypatch.setenv("LEDGER_API_SECRET", value)
        with pytest.raises(ConfigError, match=f"at least {MIN_SECRET_BYTES} bytes"):
            load_secret(tmp_path / "unused.key")
    monkeypatch.setenv("LEDGER_API_SECRET", "not hex")
    with pytest.raises(ConfigError, match="hex"):
        load_secret(tmp_path / "unused.key")
    monkeypatch.setenv("LEDGER_API_SECRET", "5a" * MIN_SECRET_BYTES)
    assert load_secret(tmp_path / "unused.key") == b"\x5a" * MIN_SECRET_BYTES
    assert not (tmp_path / "unused.key").exists()


def test_workers_starting_at_once_share_one_full_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Six processes of their own race to create the file. They are forked from this process, which has the library
    # imported already (a fresh interpreter per worker cost ~2 CPU-s of imports each, 12 a pass, for no part of the
    # race), and all wait on one event: released together, as workers of one gateway start.
    path = tmp_path / "keys" / "api-token.key"
    monkeypatch.delenv("LEDGER_API_SECRET", raising=False)  # the forked workers read this process's environment
    fork = multiprocessing.get_context("fork")
    gun = fork.Event()
    pipes = [fork.Pipe(duplex=False) for _ in range(6)]
    workers = [fork.Process(target=_worker, args=(path, gun, sending)) for _, sending in pipes]
    for worker in workers:
        worker.start()
    gun.set()  # every worker exists and waits: release them together
    results = []
    for worker, (receiving, _) in zip(workers, pipes, strict=True):
        assert receiving.poll(120), "a worker sent no secret"
        outcome, value = receiving.recv()
        worker.join(60)
        assert outcome == "ok" and worker.exitcode == 0, value
        results.append(value)
    assert len(set(results)) == 1 and len(bytes.fromhex(results[0])) == MIN_SECRET_BYTES
    assert path.read_bytes().hex() == results[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["api-token.key"]  # no temporary file left behind


def test_gateway_refuses_to_start_with_a_short_secret(ledger: Any) -> None:
    from .gateway_process import BoundGateway as Gateway

    gateway = Gateway(ledger, LEDGER_API_SECRET="ab" * 16)
    with pytest.raises(AssertionError, match="exited at start") as refused:
        gateway.__enter__()
    assert f"at least {MIN_SECRET_BYTES} bytes" in str(refused.value)
