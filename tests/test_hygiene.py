"""Deployment hygiene, with the real library, CLI and anvil node: a private data directory and database, no
secret in the node's environment, no half-created key after a mistyped passphrase, weak keystores refused."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from ledger.client import Ledger
from ledger.config import Settings
from ledger.errors import ConfigError, KeystoreError
from ledger.storage.keys import DEFAULT_KDF_FLOOR, Keystore

from .cli_support import run_cli
from .conftest import PASSPHRASE, make_settings, member_cli

SECRETS = {"LEDGER_PASSPHRASE": PASSPHRASE, "LEDGER_API_SECRET": "ab" * 32, "LEDGER_VAULT_KEY": "cd" * 32}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture()
def lax_umask() -> Iterator[None]:
    """The usual umask (022): files are world-readable unless the ledger says otherwise."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_embedded_ledger_keeps_its_data_private_and_its_secrets_from_the_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lax_umask: None
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)  # an existing directory someone created too open
    settings = make_settings(data)
    with Ledger.open(settings) as ledger:  # the passphrase comes from the environment, as in production
        assert ledger.node is not None and ledger.node.owned
        pid = ledger.node._process.pid  # type: ignore[union-attr]
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        names = {entry.split(b"=", 1)[0].decode() for entry in environ if entry}
        assert "PATH" in names  # the node did get an environment
        assert not names & set(SECRETS), names & set(SECRETS)
        assert not any(value.encode() in entry for entry in environ for value in SECRETS.values())
        assert _mode(data) == 0o700
        if settings.database_url is None:  # SQLite: the database, its write-ahead log and shared memory
            with ledger.engine.begin() as conn:
                conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS hygiene_probe (x INTEGER)")
            files = [data / name for name in ("ledger.sqlite3", "ledger.sqlite3-wal", "ledger.sqlite3-shm")]
            assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}


def test_mistyped_passphrase_leaves_no_key_behind(ledger: Ledger) -> None:
    code = f"TYPO{os.getpid() % 1000}"
    first, first_env = member_cli(ledger, 1)
    done = run_cli(
        ledger,
        "council",
        "register",
        code,
        "--name",
        "Typo Bureau",
        "--roles",
        "issuer",
        *first,
        **first_env,
        LEDGER_PASSPHRASE="test-passphrasf",
    )
    assert done.returncode == 2, done.stdout
    assert "passphrase" in done.stderr.strip().splitlines()[-1]
    assert not ledger.keystore.exists(f"dept-{code}")
    assert not list(ledger.keystore.directory.glob(f"dept-{code}*"))
    # with the right passphrase the department is proposed, approved by a second member, and its key usable
    done = run_cli(
        ledger, "council", "register", code, "--name", "Typo Bureau", "--roles", "issuer", *first, **first_env
    )
    assert done.returncode == 0, done.stderr
    second, second_env = member_cli(ledger, 2)
    approved = run_cli(ledger, "council", "approve", str(json.loads(done.stdout)["proposal"]), *second, **second_env)
    assert approved.returncode == 0, approved.stderr
    assert ledger.department_account(code).address == json.loads(done.stdout)["signer"]


def test_weak_keystore_is_refused_when_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGER_INSECURE_KEYSTORE_KDF_FLOOR", raising=False)
    weak = Keystore(tmp_path / "keys", kdf_n=1024, kdf_floor=1024)  # as the test suite runs: explicitly lowered
    address = weak.create("dept-W", "correct horse")
    assert weak.unlock("dept-W", "correct horse").address == address
    production = Keystore(tmp_path / "keys")
    assert production.kdf_floor == DEFAULT_KDF_FLOOR
    with pytest.raises(KeystoreError, match="work factor"):
        production.unlock("dept-W", "correct horse")
    # a keystore written by another tool with a weak KDF (pbkdf2, few iterations) is refused just the same
    path = tmp_path / "keys" / "dept-P.json"
    path.write_text(json.dumps(Account.encrypt(Account.create().key, "correct horse", kdf="pbkdf2", iterations=1000)))
    with pytest.raises(KeystoreError, match="work factor"):
        production.unlock("dept-P", "correct horse")
    # a work factor below the floor is not even configurable without the explicit insecure setting
    with pytest.raises(ConfigError, match="LEDGER_INSECURE_KEYSTORE_KDF_FLOOR"):
        Settings(data_dir=tmp_path, keystore_kdf_n=1024).validate()
    monkeypatch.setenv("LEDGER_KEYSTORE_KDF_N", "1024")
    with pytest.raises(ConfigError, match="LEDGER_INSECURE_KEYSTORE_KDF_FLOOR"):
        Settings.from_env(tmp_path)
    monkeypatch.setenv("LEDGER_INSECURE_KEYSTORE_KDF_FLOOR", "1024")
    assert Settings.from_env(tmp_path).keystore_kdf_floor == 1024


def test_a_vault_key_file_wrapped_below_the_floor_is_refused_when_read(ledger: Ledger, tmp_path: Path) -> None:
    """Adversary: whoever puts a vault key file wrapped with a cheap scrypt (a test or benchmark setup's, copied
    into a production data directory) where a stolen copy would be brute-forced. The vault key file records its
    work factor; a ledger reads only one at or above its floor (2^15, as every vault key file has been wrapped;
    lower only with the explicitly insecure LEDGER_INSECURE_KEYSTORE_KDF_FLOOR, as the test suite runs)."""
    from ledger.storage.vault import VAULT_KDF_N, Vault

    weak = tmp_path / "weak" / "vault.key"
    weak.parent.mkdir()
    sealed = Vault.from_env_or_file(weak, "correct horse", kdf_n=1024, kdf_floor=1024).seal(b"probe", b"aad")
    assert json.loads(weak.read_text())["kdf"] == "scrypt-n10-r8-p1"
    assert Vault.from_env_or_file(weak, "correct horse", kdf_floor=1024).open(sealed, b"aad") == b"probe"
    with pytest.raises(KeystoreError, match=r"work factor \(N=1024\).*below the floor \(N=32768\)"):
        Vault.from_env_or_file(weak, "correct horse")
    # the default, and every vault key file written before the work factor was read from it: N = 2^15
    strong = tmp_path / "strong" / "vault.key"
    strong.parent.mkdir()
    sealed = Vault.from_env_or_file(strong, "correct horse").seal(b"probe", b"aad")
    assert VAULT_KDF_N == 2**15 and json.loads(strong.read_text())["kdf"] == "scrypt-n15-r8-p1"
    assert Vault.from_env_or_file(strong, "correct horse").open(sealed, b"aad") == b"probe"
    # a stated work factor past any this ledger writes (a memory bomb), or one that is no scrypt of ours: refused
    for kdf in ("scrypt-n30-r8-p1", "scrypt-n15-r1-p1", "pbkdf2", 15):
        stored = json.loads(strong.read_text())
        strong.write_text(json.dumps({**stored, "kdf": kdf}))
        with pytest.raises(KeystoreError, match="not an encrypted key file"):
            Vault.from_env_or_file(strong, "correct horse")
    # a ledger wraps its vault key with the keystore's work factor when the floor is lowered (the suite's ledger:
    # tests/conftest.py, N = 1024), else with 2^15
    assert ledger.settings.keystore_kdf_n == 1024 and ledger.settings.keystore_kdf_floor == 1024
    assert ledger.vault.open(ledger.vault.seal(b"probe", b"aad"), b"aad") == b"probe"
    assert json.loads((ledger.settings.keys_dir / "vault.key").read_text())["kdf"] == "scrypt-n10-r8-p1"


def test_a_witness_or_checkpoint_key_wrapped_below_the_floor_is_refused_when_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Adversary: as for the vault key file, whoever plants a witness's (or the ledger's checkpoint) key file wrapped
    with a cheap scrypt. ``wrap_secret`` writes, and ``unwrap_secret`` requires, N = 2^15 unless the explicitly
    insecure LEDGER_INSECURE_KEYSTORE_KDF_FLOOR lowers it (the suite: 1024; a witness program has no Settings)."""
    from ledger.storage.vault import unwrap_secret, wrap_secret

    weak = wrap_secret(b"seed", "correct horse", purpose="witness", owner="w")
    assert weak["kdf"] == "scrypt-n10-r8-p1"
    assert unwrap_secret(weak, "correct horse", "the key", "VARIABLE", purpose="witness", owner="w") == b"seed"
    monkeypatch.delenv("LEDGER_INSECURE_KEYSTORE_KDF_FLOOR")
    with pytest.raises(KeystoreError, match=r"the key is wrapped with a scrypt work factor \(N=1024\) below the floor"):
        unwrap_secret(weak, "correct horse", "the key", "VARIABLE", purpose="witness", owner="w")
    strong = wrap_secret(b"seed", "correct horse", purpose="witness", owner="w")
    assert strong["kdf"] == "scrypt-n15-r8-p1"
    assert unwrap_secret(strong, "correct horse", "the key", "VARIABLE", purpose="witness", owner="w") == b"seed"
    with pytest.raises(KeystoreError, match="wrong passphrase for the key"):
        unwrap_secret(strong, "wrong horse", "the key", "VARIABLE", purpose="witness", owner="w")
    with pytest.raises(KeystoreError, match="the key is not an encrypted key file"):
        unwrap_secret(
            {**strong, "kdf": "scrypt-n40-r8-p1"}, "correct horse", "the key", "VARIABLE", purpose="witness", owner="w"
        )


VAULT_WORKER = """
import sys
from pathlib import Path
from ledger.storage.vault import Vault
sys.stdin.readline()  # the starting gun
vault = Vault.from_env_or_file(Path(sys.argv[1]), "correct horse")
print(vault.seal(b"probe", b"aad").hex())
"""


def test_workers_creating_the_vault_key_at_once_share_one(tmp_path: Path) -> None:
    """Several processes opening a fresh data directory together must not each seal with a key of their own
    (the loser's sealed bodies could never be opened again)."""
    import subprocess
    import sys

    from ledger.storage.vault import Vault

    path = tmp_path / "keys" / "vault.key"
    env = {k: v for k, v in os.environ.items() if k != "LEDGER_VAULT_KEY"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", VAULT_WORKER, str(path)],
            cwd=Path(__file__).parent.parent,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(6)
    ]
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    sealed = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        sealed.append(bytes.fromhex(out.strip()))
    vault = Vault.from_env_or_file(path, "correct horse")
    assert all(vault.open(s, b"aad") == b"probe" for s in sealed)  # every worker sealed with the one stored key
    assert _mode(path) == 0o600 and sorted(p.name for p in path.parent.iterdir()) == ["vault.key"]


def test_no_test_module_imports_another() -> None:
    """Shared helpers and fixtures live in conftest.py and tests/*_support.py: a test module importing another
    re-registers its fixtures and ties the two together (issue 15)."""
    import re as _re

    tests = Path(__file__).resolve().parent
    offenders = [
        f"{path.name}: {line.strip()}"
        for path in sorted(tests.glob("*.py"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if _re.match(r"\s*(from \.test_\w+ import|from \. import test_|import tests\.test_|from tests\.test_)", line)
    ]
    assert not offenders, "\n".join(offenders)
    empty = [
        path.name
        for path in sorted(tests.glob("test_*.py"))
        if not _re.search(r"^\s*(async )?def test_", path.read_text(encoding="utf-8"), _re.M)
    ]
    assert not empty, f"test modules without tests (helpers belong in a *_support.py module): {empty}"
