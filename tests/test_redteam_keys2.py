"""Every key at rest encrypted and bound to this deployment (the open rows keybind left, "Key files at rest").

The gateway's token secret ``keys/api-token.key`` was 32 bytes in the clear: whoever read the data directory held it,
and any file of at least 32 bytes put in its place became the secret. It is now wrapped under ``LEDGER_PASSPHRASE``
like the other key files (layout ``pl-key/2``, purpose ``api-token``, owner the chain's origin), a clear file of the
old kind wrapped at its first open, and the database records its check value, so a clear file planted later is
refused. The vault key, which the data directory could not bind to anything (another deployment's ``vault.key`` under
the same passphrase opened), is bound to this deployment's database the same way (table ``key_check``, migration
0017): a key whose check value differs is refused before anything is sealed or opened.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from dataclasses import replace
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, delete

from ledger.client import Ledger
from ledger.errors import ConfigError, KeystoreError
from ledger.services.auth import MIN_SECRET_BYTES, TOKEN_SECRET_PURPOSE, load_secret
from ledger.services.witness.checkpoint import origin_for
from ledger.storage import keycheck
from ledger.storage.models import KeyCheck
from ledger.storage.store import open_engine
from ledger.storage.vault import KEY_FILE_FORMAT, Vault, wrap_secret

from .conftest import PASSPHRASE as LEDGER_PASSPHRASE
from .consent_support import consent_world  # noqa: F401 - the world fixture

PASSPHRASE = "one passphrase for every key file of the deployment"
ORIGIN = origin_for(31337, "0x" + "ab" * 32, "0x" + "cd" * 20)
OTHER_ORIGIN = origin_for(31337, "0x" + "ef" * 32, "0x" + "12" * 20)


@pytest.fixture(autouse=True)
def _no_secret_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGER_API_SECRET", raising=False)


def _token_secret(path: Path, engine: Engine | None = None, passphrase: str | None = PASSPHRASE) -> bytes:
    return load_secret(path, passphrase=passphrase, owner=ORIGIN, engine=engine)


def _engine(tmp_path: Path) -> Engine:
    return open_engine(f"sqlite:///{tmp_path / 'gateway.db'}")


def test_the_token_secret_is_kept_wrapped_not_in_the_clear(tmp_path: Path) -> None:
    """Adversary: an insider who reads the data directory (a backup, a copied disk), not knowing the passphrase.
    ``keys/api-token.key`` held the token secret in the clear: they minted a token for any department. The secret
    made at first use is now wrapped (scrypt and AES-GCM under the passphrase), bound to its purpose and origin."""
    path = tmp_path / "keys" / "api-token.key"
    secret = _token_secret(path, _engine(tmp_path))
    held = path.read_bytes()
    assert secret not in held and secret.hex() not in held.decode()
    data = json.loads(held)
    assert (data["format"], data["purpose"], data["owner"]) == (KEY_FILE_FORMAT, TOKEN_SECRET_PURPOSE, ORIGIN)
    assert _token_secret(path) == secret  # read back, the one secret
    with pytest.raises(KeystoreError, match="wrong passphrase for the token secret file"):
        _token_secret(path, passphrase="another passphrase")
    with pytest.raises(ConfigError, match="set LEDGER_PASSPHRASE, or give the secret in LEDGER_API_SECRET"):
        _token_secret(path, passphrase=None)


def test_a_clear_secret_file_of_the_old_kind_is_wrapped_at_its_first_open(tmp_path: Path) -> None:
    """The layout before: a clear secret file keeps its secret (no session ends at the upgrade) and is wrapped in
    place, its check value recorded."""
    path, engine = tmp_path / "api-token.key", _engine(tmp_path)
    clear = os.urandom(MIN_SECRET_BYTES)
    path.write_bytes(clear)
    assert _token_secret(path, engine) == clear
    assert clear not in path.read_bytes() and json.loads(path.read_text())["purpose"] == TOKEN_SECRET_PURPOSE
    assert keycheck.recorded(engine, TOKEN_SECRET_PURPOSE) == keycheck.check_value(clear, TOKEN_SECRET_PURPOSE)
    assert _token_secret(path, engine) == clear


def test_a_clear_file_planted_in_place_of_the_wrapped_secret_is_refused(tmp_path: Path) -> None:
    """Adversary: an insider who can write the data directory replaces the wrapped ``api-token.key`` by 32 bytes of
    their own in the clear, the old kind of file, so that their bytes become the secret that signs every token. The
    database records the secret's check value: a clear file holding another secret is refused, and left as it is."""
    path, engine = tmp_path / "api-token.key", _engine(tmp_path)
    secret = _token_secret(path, engine)
    planted = b"the insider's own 32-byte secret"
    path.write_bytes(planted)
    with pytest.raises(KeystoreError, match="holds a secret in the clear that is not the one this gateway's database"):
        _token_secret(path, engine)
    assert path.read_bytes() == planted
    path.write_bytes(secret)  # a clear copy of the one secret (a backup of the old kind) is that secret
    assert _token_secret(path, engine) == secret


def test_another_key_file_in_place_of_the_token_secret_is_refused(tmp_path: Path) -> None:
    """Adversary: the insider puts another key file wrapped under the same passphrase in the token secret's place:
    the vault key, or another deployment's token secret (another chain's origin), or any JSON of their own. Each is
    refused naming what it holds; none becomes the secret."""
    path = tmp_path / "api-token.key"
    Vault.from_env_or_file(tmp_path / "vault.key", PASSPHRASE, kdf_n=1024, kdf_floor=1024)
    path.write_bytes((tmp_path / "vault.key").read_bytes())
    with pytest.raises(KeystoreError, match="holds the vault key, not the gateway's token secret"):
        _token_secret(path)
    path.write_text(json.dumps(wrap_secret(os.urandom(32), PASSPHRASE, purpose="api-token", owner=OTHER_ORIGIN)))
    with pytest.raises(KeystoreError, match=r"holds the gateway's token secret of .*, not the gateway's token secret"):
        _token_secret(path)
    path.write_text(json.dumps({"secret": "00" * 32}))
    with pytest.raises(KeystoreError, match="no key file the gateway wrote"):
        _token_secret(path)


def test_another_deployments_vault_key_under_the_same_passphrase_is_refused(ledger: Ledger, tmp_path: Path) -> None:
    """Adversary: the insider who can write the data directory, holding another deployment's ``vault.key`` wrapped
    under the same passphrase (or a backup of it), puts it in place of this one's; or whoever sets the environment
    gives another deployment's KMS key in ``LEDGER_VAULT_KEY``. It opened: this ledger's bodies then failed their
    integrity check and new ones were sealed under the other key. The database records the vault key's check value at
    its first use, and a key whose value differs is refused before anything is sealed or opened."""
    keys, digest = ledger.settings.keys_dir, b"\x01" * 32
    sealed = ledger.vault.seal(b"a body this deployment sealed", digest)
    own = (keys / "vault.key").read_bytes()
    Vault.from_env_or_file(tmp_path / "other.key", LEDGER_PASSPHRASE, kdf_n=1024, kdf_floor=1024)
    (keys / "vault.key").write_bytes((tmp_path / "other.key").read_bytes())
    settings = ledger.settings
    ledger._vault = None  # as a process started after the swap
    try:
        with pytest.raises(KeystoreError, match="not the one this database's certificate bodies are sealed under"):
            _ = ledger.vault
        assert ledger._vault is None  # nothing to seal or open with
        ledger.settings = replace(settings, vault_key=SecretStr(os.urandom(32).hex()))
        with pytest.raises(KeystoreError, match="the vault key from LEDGER_VAULT_KEY is not the one"):
            _ = ledger.vault
    finally:
        (keys / "vault.key").write_bytes(own)
        ledger.settings = settings
        ledger._vault = None
    assert ledger.vault.open(sealed, digest) == b"a body this deployment sealed"
    ledger.settings = replace(settings, vault_key=SecretStr(ledger.vault.key().hex()))  # the same key from a KMS
    ledger._vault = None
    try:
        assert ledger.vault.open(sealed, digest) == b"a body this deployment sealed"
    finally:
        ledger.settings = settings
        ledger._vault = None


def test_a_database_without_the_record_gets_it_at_the_vault_keys_next_open(ledger: Ledger) -> None:
    """A database upgraded to migration 0017 has no check value: the vault key that opens next is recorded."""
    with ledger.engine.begin() as conn:
        conn.execute(delete(KeyCheck.__table__).where(KeyCheck.__table__.c.purpose == "vault"))  # type: ignore[attr-defined]
    ledger._vault = None
    key = ledger.vault.key()
    assert keycheck.recorded(ledger.engine, "vault") == keycheck.check_value(key, "vault")


def _record(url: str, value: str, gun: Event, answer: Connection) -> None:
    engine = open_engine(url, migrate=False)
    gun.wait()
    try:
        answer.send(keycheck.record(engine, "race", value))
    except BaseException as exc:  # noqa: BLE001 - the parent asserts on it
        answer.send(repr(exc))


def test_processes_recording_a_first_key_at_once_end_with_one_record(ledger: Ledger) -> None:
    """Two processes (here four) opening a key first on one database at once, each with its own key: one row is
    recorded and every process is told that one (the others' keys are then refused), on SQLite and PostgreSQL."""
    fork = multiprocessing.get_context("fork")
    gun = fork.Event()
    pipes = [fork.Pipe(duplex=False) for _ in range(4)]
    values = [os.urandom(32).hex() for _ in pipes]
    workers = [
        fork.Process(target=_record, args=(ledger.settings.db_url, value, gun, sending))
        for value, (_, sending) in zip(values, pipes, strict=True)
    ]
    for worker in workers:
        worker.start()
    gun.set()
    try:
        answers = []
        for worker, (receiving, _) in zip(workers, pipes, strict=True):
            assert receiving.poll(120), "a process recorded nothing"
            answers.append(receiving.recv())
            worker.join(60)
        assert len(set(answers)) == 1 and answers[0] in values, answers
        assert keycheck.recorded(ledger.engine, "race") == answers[0]
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(delete(KeyCheck.__table__).where(KeyCheck.__table__.c.purpose == "race"))  # type: ignore[attr-defined]


def test_a_department_key_file_changed_after_its_check_is_checked_again(ledger: Ledger, fresh_department: str) -> None:
    """Adversary (or a race of the operator's own): after this process checked department MKT's key once, another
    process changes ``dept-MKT.json``: a rotation promoted with `ledger council promote-key` (which renames the new
    key's file over it), or the insider's swap with another department's file. The check was remembered for the
    process's life, so this one went on signing with the key it had checked, and a swap made after its first
    issuance went unseen until a restart. The file is checked again whenever it changed (one stat a call)."""
    keys = ledger.settings.keys_dir
    mine, theirs = keys / "dept-MKT.json", keys / f"dept-{fresh_department}.json"
    checked = ledger.department_account("MKT").address
    assert ledger.department_account("MKT").address == checked  # unchanged: the check is remembered
    held = mine.read_bytes()
    mine.unlink()
    mine.write_bytes(theirs.read_bytes())  # a new file, as another process's rename leaves
    try:
        with pytest.raises(KeystoreError, match=r"dept-MKT\.json holds the key of .*, but the registry names"):
            ledger.department_account("MKT")
    finally:
        mine.unlink()
        mine.write_bytes(held)
        mine.chmod(0o600)  # as the ledger writes it: a later test of the session's keys finds them so (round 85b's)
    assert ledger.department_account("MKT").address == checked


def test_another_deployments_consent_key_under_the_same_passphrase_signs_no_consent(
    ledger: Ledger, world: dict[str, Any], tmp_path: Path
) -> None:
    """Adversary: the insider puts another deployment's consent key file (``consent-gateway.json``, a keystore of
    the same passphrase) in place of this one's. No department's key here, it passed the registry's check and signed
    new consent records, and every record signed before read as not signed by this ledger. The database records the
    consent key's address at its first signature: a file holding another key signs nothing (refused before the
    subject's assertion is spent), and the records signed before name the swap."""
    from ledger.services import consent
    from ledger.storage.keys import Keystore

    from .consent_support import NOW, give

    first = give(ledger, world["a"], "INS", NOW)
    assert keycheck.recorded(ledger.engine, "consent") == consent.gateway_address(ledger).lower()
    other = Keystore(tmp_path / "other-keys", kdf_n=1024, kdf_floor=1024)
    other.create(consent.GATEWAY_KEY, LEDGER_PASSPHRASE)
    mine = ledger.settings.keys_dir / f"{consent.GATEWAY_KEY}.json"
    held = mine.read_bytes()
    mine.write_bytes((tmp_path / "other-keys" / f"{consent.GATEWAY_KEY}.json").read_bytes())
    ledger._accounts.clear()  # as a process started after the swap
    try:
        with pytest.raises(KeystoreError, match=r"consent-gateway\.json holds 0x[0-9a-fA-F]{40}, not the consent key"):
            give(ledger, world["b"], "INS", NOW)
        assert "not the consent key this database's records" in str(consent.signature_problem(ledger, first))
    finally:
        mine.write_bytes(held)
        ledger._accounts.clear()
    assert consent.signature_problem(ledger, first) is None
    assert consent.signature_problem(ledger, give(ledger, world["b"], "INS", NOW)) is None  # nothing was spent


def _command(argv: list[str], stderr: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """Run ``ledger ARGV`` in this process with its standard error a file (as a service manager or cron gives it:
    no terminal); its exit status and what it wrote there."""
    from ledger.cli import main

    with stderr.open("w") as stream, monkeypatch.context() as patched:
        patched.setattr(sys, "stderr", stream)
        status = main(argv)
    return status, stderr.read_text()


def test_a_command_run_by_cron_with_the_insecure_floor_is_reported_by_ledger_doctor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Adversary: whoever can set the environment of a command that cron or a service manager runs sets
    LEDGER_INSECURE_KEYSTORE_KDF_FLOOR. The warning was printed only at a terminal (an error stream a script reads
    must stay the command's own), so such a command said nothing anyone saw. It is now recorded in the data
    directory, and `ledger doctor` reports it (exit 1) until the operator clears it; standard error is unchanged."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    monkeypatch.setenv("LEDGER_INSECURE_KEYSTORE_KDF_FLOOR", "1024")
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    status, said = _command(["--data-dir", str(data), "db", "upgrade"], tmp_path / "cron.err", monkeypatch)
    assert status == 0 and "warning" not in said, said  # a script reading it reads the command's own
    monkeypatch.delenv("LEDGER_INSECURE_KEYSTORE_KDF_FLOOR")  # the operator's own shell, later: no floor set
    capsys.readouterr()
    assert _status(["--data-dir", str(data), "doctor"]) == 1
    report = capsys.readouterr().out
    assert (
        report.startswith("recorded by `ledger db upgrade` at ")
        and "LEDGER_INSECURE_KEYSTORE_KDF_FLOOR=1024 is set" in report
    )
    assert _status(["--data-dir", str(data), "doctor", "--clear"]) == 0
    assert capsys.readouterr().out == "no insecure setting in effect or recorded\n"
    monkeypatch.setenv("LEDGER_INSECURE_KEYSTORE_KDF_FLOOR", "1024")
    assert _status(["--data-dir", str(data), "doctor"]) == 1
    assert capsys.readouterr().out.startswith("in effect now: LEDGER_INSECURE_KEYSTORE_KDF_FLOOR=1024 is set")


def test_ledger_doctor_run_with_the_insecure_floor_reports_it_once_and_keeps_the_earlier_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """(The operator running `ledger doctor` in a shell where the floor is still set.) The doctor recorded itself
    as a command run with the insecure setting: it reported the warning twice (in effect now, and recorded by
    `ledger doctor`), and its record replaced the cron job's, which the operator ran it to find. It now records
    nothing: the setting in effect once, then the cron job's record."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    monkeypatch.setenv("LEDGER_INSECURE_KEYSTORE_KDF_FLOOR", "1024")
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    assert _command(["--data-dir", str(data), "db", "upgrade"], tmp_path / "cron.err", monkeypatch)[0] == 0
    capsys.readouterr()
    for _ in range(2):
        assert _status(["--data-dir", str(data), "doctor"]) == 1
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 2 and lines[0].startswith("in effect now: LEDGER_INSECURE_KEYSTORE_KDF_FLOOR"), lines
        assert lines[1].startswith("recorded by `ledger db upgrade` at "), lines


@pytest.mark.parametrize("key", ["vault.key", "api-token.key", "dept-MKT.json"])
def test_a_fifo_or_a_huge_file_in_place_of_a_key_file_is_refused_without_waiting(tmp_path: Path, key: str) -> None:
    """Adversary: a local account that can write the data directory (or a restore from an untrusted backup) planting
    a FIFO in place of ``keys/vault.key``, ``keys/api-token.key`` or a department's keystore file
    (``keys/dept-MKT.json``): every process opening the key (each command, the gateway at its start) waited for a
    writer for ever; a file of gigabytes (or a device) was read whole. All are now read bounded: a regular file
    only, without waiting, at most 64 KiB (one holds ~600 bytes), and anything else is a KeystoreError saying to
    restore the file."""
    import threading

    from ledger.storage.keys import Keystore

    path = tmp_path / key

    def open_key() -> None:
        if key == "vault.key":
            Vault.from_env_or_file(path, PASSPHRASE, kdf_n=1024, kdf_floor=1024)
        elif key == "api-token.key":
            _token_secret(path)
        else:
            Keystore(tmp_path, kdf_n=1024, kdf_floor=1024).address(key.removesuffix(".json"))

    os.mkfifo(path)
    refused: list[KeystoreError] = []

    def read() -> None:
        try:
            open_key()
        except KeystoreError as exc:
            refused.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # the hole: release the reader blocked on the FIFO (a writer opening it)
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=20)
        pytest.fail(f"opening the key waited on a FIFO planted in place of {key}")
    assert len(refused) == 1 and "not a regular file" in str(refused[0]), refused
    path.unlink()
    path.write_bytes(b'{"format": "' + b"x" * (1 << 20) + b'"}')
    with pytest.raises(KeystoreError, match="larger than any key file"):
        open_key()


def _status(argv: list[str]) -> int:
    from ledger.cli import main

    return main(argv)


def test_a_systemd_service_started_with_the_insecure_floor_says_so_in_its_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same adversary, the command run by systemd: its standard error is the journal (``JOURNAL_STREAM`` names
    it), which the service's operator reads: the warning is printed there first. A ``JOURNAL_STREAM`` inherited by a
    script whose error stream is another (a pipe it reads) leaves that stream as the command writes it."""
    data, journal = tmp_path / "data", tmp_path / "journal"
    data.mkdir(mode=0o700)
    journal.touch()
    monkeypatch.setenv("LEDGER_INSECURE_KEYSTORE_KDF_FLOOR", "1024")
    found = os.stat(journal)
    monkeypatch.setenv("JOURNAL_STREAM", f"{found.st_dev}:{found.st_ino}")
    status, said = _command(["--data-dir", str(data), "db", "upgrade"], journal, monkeypatch)
    assert status == 0 and said.startswith("warning: LEDGER_INSECURE_KEYSTORE_KDF_FLOOR=1024 is set"), said
    status, said = _command(["--data-dir", str(data), "db", "current"], tmp_path / "script.err", monkeypatch)
    assert status == 0 and "warning" not in said, said
