"""The gateway's token secret: short secrets refused from every source, the file created atomically (several
workers starting at once all end with the same secret, wrapped under the passphrase and recorded once in the
database), mode 0600. Real processes, real files, a real database."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import ConfigError
from ledger.services.auth import MIN_SECRET_BYTES, TOKEN_SECRET_PURPOSE, load_secret
from ledger.storage import keycheck
from ledger.storage.store import open_engine
from ledger.storage.vault import KEY_FILE_FORMAT

from .conftest import PASSPHRASE

ORIGIN = "provenance-ledger/31337/test"  # the owner the token secret is bound to (the gateway gives the chain's)


def _load(path: Path, **given: Any) -> bytes:
    return load_secret(path, passphrase=PASSPHRASE, owner=ORIGIN, **given)


def _worker(path: Path, url: str, gun: Event, answer: Connection) -> None:
    """One gateway worker's start: wait for the starting gun, then load (or create) the secret and send it."""
    engine = open_engine(url, migrate=False)  # the worker's own connections, as a gateway worker opens them
    gun.wait()
    try:
        answer.send(("ok", _load(path, engine=engine).hex()))
    except BaseException as exc:  # noqa: BLE001 - the parent asserts on it
        answer.send(("error", repr(exc)))


def test_short_or_empty_secret_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGER_API_SECRET", raising=False)
    for content in (b"", b"x" * (MIN_SECRET_BYTES - 1)):
        path = tmp_path / "api-token.key"
        path.write_bytes(content)
        with pytest.raises(ConfigError, match=f"at least {MIN_SECRET_BYTES} bytes"):
            _load(path)


def test_short_secret_from_the_environment_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("00" * 16, "ab" * (MIN_SECRET_BYTES - 1)):
        monkeypatch.setenv("LEDGER_API_SECRET", value)
        with pytest.raises(ConfigError, match=f"at least {MIN_SECRET_BYTES} bytes"):
            _load(tmp_path / "unused.key")
    monkeypatch.setenv("LEDGER_API_SECRET", "not hex")
    with pytest.raises(ConfigError, match="hex"):
        _load(tmp_path / "unused.key")
    monkeypatch.setenv("LEDGER_API_SECRET", "5a" * MIN_SECRET_BYTES)
    # the environment wins, passphrase or none
    assert _load(tmp_path / "unused.key") == b"\x5a" * MIN_SECRET_BYTES
    assert load_secret(tmp_path / "unused.key", passphrase=None, owner=ORIGIN) == b"\x5a" * MIN_SECRET_BYTES
    assert not (tmp_path / "unused.key").exists()


def _race(path: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Six processes of their own load the secret at once; the secret each one got. They are forked from this
    process, which has the library imported already (a fresh interpreter per worker cost ~2 CPU-s of imports each, 12
    a pass, for no part of the race), and all wait on one event: released together, as workers of one gateway
    start."""
    monkeypatch.delenv("LEDGER_API_SECRET", raising=False)  # the forked workers read this process's environment
    fork = multiprocessing.get_context("fork")
    gun = fork.Event()
    pipes = [fork.Pipe(duplex=False) for _ in range(6)]
    workers = [fork.Process(target=_worker, args=(path, url, gun, sending)) for _, sending in pipes]
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
    return results


def _assert_one_wrapped_secret(path: Path, url: str, results: list[str]) -> None:
    assert len(set(results)) == 1 and len(bytes.fromhex(results[0])) == MIN_SECRET_BYTES
    held = json.loads(path.read_text())
    assert (held["format"], held["purpose"], held["owner"]) == (KEY_FILE_FORMAT, TOKEN_SECRET_PURPOSE, ORIGIN)
    assert results[0] not in path.read_text()  # wrapped, not in the clear
    assert _load(path).hex() == results[0]
    recorded = keycheck.recorded(open_engine(url), TOKEN_SECRET_PURPOSE)
    assert recorded == keycheck.check_value(bytes.fromhex(results[0]), TOKEN_SECRET_PURPOSE)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["api-token.key"]  # no temporary file left behind


def test_workers_starting_at_once_share_one_full_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, url = tmp_path / "keys" / "api-token.key", f"sqlite:///{tmp_path / 'gateway.db'}"
    open_engine(url).dispose()  # the database, migrated, before the workers start
    _assert_one_wrapped_secret(path, url, _race(path, url, monkeypatch))


def test_workers_wrapping_a_clear_secret_at_once_keep_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first start after the upgrade: a clear secret file of the layout before is wrapped by whichever workers
    get to it, and every worker (and every later start) reads the one secret it held."""
    path, url = tmp_path / "keys" / "api-token.key", f"sqlite:///{tmp_path / 'gateway.db'}"
    open_engine(url).dispose()
    path.parent.mkdir(mode=0o700)
    clear = os.urandom(MIN_SECRET_BYTES)
    path.write_bytes(clear)
    path.chmod(0o600)
    results = _race(path, url, monkeypatch)
    assert results[0] == clear.hex()
    _assert_one_wrapped_secret(path, url, results)


def test_gateway_refuses_to_start_with_a_short_secret(ledger: Any) -> None:
    from .gateway_process import BoundGateway as Gateway

    gateway = Gateway(ledger, LEDGER_API_SECRET="ab" * 16)
    with pytest.raises(AssertionError, match="exited at start") as refused:
        gateway.__enter__()
    assert f"at least {MIN_SECRET_BYTES} bytes" in str(refused.value)


def test_gateway_refuses_to_start_with_a_clear_secret_planted_in_place_of_its_own(ledger: Any) -> None:
    """Adversary: an insider who can write the data directory, not knowing the passphrase, replaces the gateway's
    wrapped ``keys/api-token.key`` by 32 bytes of their own in the clear (the kind of file the versions before kept),
    so that their bytes sign every token. The gateway's database records its secret's check value: it refuses to
    start, naming the file, and the file is left for the operator to restore."""
    from .gateway_process import BoundGateway as Gateway

    path = ledger.settings.keys_dir / "api-token.key"
    with Gateway(ledger):
        pass  # its secret made (or opened) wrapped, and recorded in the database
    held = path.read_bytes()
    planted = b"the insider's own 32-byte secret"
    path.write_bytes(planted)
    try:
        gateway = Gateway(ledger)
        with pytest.raises(AssertionError, match="exited at start") as refused:
            gateway.__enter__()
        assert "holds a secret in the clear that is not the one this gateway's database records" in str(refused.value)
        assert path.read_bytes() == planted
    finally:
        path.write_bytes(held)
    with Gateway(ledger):
        pass  # restored, it starts as before
