"""Key files bound to their purpose and owner (red team round 57's open row, "vault.key and checkpoint.key are
wrapped alike").

The vault key file, the ledger's checkpoint key and a witness's seed were each wrapped with scrypt and AES-GCM under
a passphrase with one constant associated data, ``pl-vault``, and said nothing of what they held: an insider who
can write the data directory (and who holds other deployments' files, or backups), not knowing any passphrase,
swapped them and each opened as the other. Every such file is now written in layout ``pl-key/2``: its ``purpose``
(and owner: the chain's origin for the checkpoint key, the witness's name for its seed) stated in the file and bound
into the associated data, so a file of another purpose or owner is a KeystoreError naming what it holds. A file of
the old layout still opens (its purpose is then the caller's word) and is rewrapped, bound, at its first open.

Inventory (docs/threat-model.md, "Key files at rest"): the department and council keystores are Web3 Secret Storage
files, bound to their department by the registry on chain (a swapped one signs for an address the contract refuses
for that department); the gateway's token secret was 32 random bytes in the clear, bound by its path only, and is
wrapped like the other key files since keys2 (tests/test_redteam_keys2.py).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import pty
import shutil
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ledger.client import Ledger
from ledger.config import DEFAULT_KDF_FLOOR, insecure_kdf_floor_warning
from ledger.errors import KeystoreError, LedgerError
from ledger.services.witness.checkpoint import origin_for
from ledger.services.witness.client import log_key
from ledger.services.witness.server import WitnessStore
from ledger.storage.vault import Vault

from .cli_support import _same_interpreter, fork_command, ledger_process
from .consent_support import consent_world  # noqa: F401 - the world fixture

PASSPHRASE = "one passphrase for every key file of the deployment"
ORIGIN = origin_for(31337, "0x" + "ab" * 32, "0x" + "cd" * 20)
OTHER_ORIGIN = origin_for(31337, "0x" + "ef" * 32, "0x" + "12" * 20)
CHEAP = {"kdf_n": 1024, "kdf_floor": 1024}  # the suite's work factor (tests/conftest.py), explicitly lowered


def _vault(path: Path) -> Vault:
    return Vault.from_env_or_file(path, PASSPHRASE, **CHEAP)


def _old_layout(secret: bytes, passphrase: str = PASSPHRASE) -> dict[str, str]:
    """A key file as every version before ``pl-key/2`` wrote it (vault key, checkpoint key, witness seed alike):
    written here from the primitives, not by the library, so the test keeps the old layout whatever the library
    writes now."""
    salt, nonce = os.urandom(16), os.urandom(12)
    wrapping = Scrypt(salt=salt, length=32, n=1024, r=8, p=1).derive(passphrase.encode())
    return {
        "kdf": "scrypt-n10-r8-p1",
        "salt": salt.hex(),
        "nonce": nonce.hex(),
        "ciphertext": AESGCM(wrapping).encrypt(nonce, secret, b"pl-vault").hex(),
    }


def _swap(a: Path, b: Path) -> None:
    held = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(held)


def test_the_vault_key_and_the_checkpoint_key_swapped_open_as_neither(tmp_path: Path) -> None:
    """Adversary: an insider who can write the data directory, not knowing the passphrase, swaps ``vault.key`` and
    ``keys/checkpoint.key`` (red team round 57): each opened as the other, so the vault sealed with the checkpoint
    seed and checkpoints were signed with what was the vault key. Each is now refused, naming what it holds and
    saying to restore the file; neither file is changed, and restored they open as before."""
    keys = tmp_path / "keys"
    vault_key = _vault(keys / "vault.key").key()
    checkpoint_seed = log_key(tmp_path, ORIGIN, PASSPHRASE).seed()
    backup = {p.name: p.read_bytes() for p in keys.iterdir()}
    _swap(keys / "vault.key", keys / "checkpoint.key")
    swapped = {p.name: p.read_bytes() for p in keys.iterdir()}

    with pytest.raises(KeystoreError, match=r"vault\.key holds the ledger's checkpoint key .*restore it from a backup"):
        _vault(keys / "vault.key")
    with pytest.raises(KeystoreError, match=r"checkpoint\.key holds the vault key, not the ledger's checkpoint key"):
        log_key(tmp_path, ORIGIN, PASSPHRASE)
    assert {p.name: p.read_bytes() for p in keys.iterdir()} == swapped  # nothing rewritten, nothing lost

    for name, content in backup.items():  # a genuine restore from the backup of each file
        (keys / name).write_bytes(content)
    assert _vault(keys / "vault.key").key() == vault_key
    assert log_key(tmp_path, ORIGIN, PASSPHRASE).seed() == checkpoint_seed


def test_a_witness_seed_and_the_checkpoint_key_do_not_open_as_each_other(tmp_path: Path) -> None:
    """Adversary: the same insider, running a witness too (or holding a backup of one) under the ledger's
    passphrase: a witness's wrapped seed put in place of the checkpoint key, or the checkpoint key's file put in
    as a witness's seed, opened as the other (one key cosigning the very checkpoints it signs)."""
    store = WitnessStore(tmp_path / "witness")
    store.create_key("court.example/w1", PASSPHRASE)
    wrapped_seed = json.loads((tmp_path / "witness" / "witness.key").read_text())["seed"]
    checkpoint = tmp_path / "keys" / "checkpoint.key"
    log_key(tmp_path, ORIGIN, PASSPHRASE)
    checkpoint_file = checkpoint.read_text()

    checkpoint.write_text(json.dumps(wrapped_seed))
    with pytest.raises(KeystoreError, match=r"holds the witness key of court\.example/w1, not the ledger's checkpoint"):
        log_key(tmp_path, ORIGIN, PASSPHRASE)
    (tmp_path / "witness" / "witness.key").write_text(
        json.dumps({"name": "court.example/w1", "seed": json.loads(checkpoint_file)})
    )
    with pytest.raises(
        KeystoreError, match=r"holds the ledger's checkpoint key of provenance-ledger/.*not the witness"
    ):
        WitnessStore(tmp_path / "witness").key(PASSPHRASE)


def test_another_deployments_checkpoint_key_does_not_open_as_this_chains(tmp_path: Path) -> None:
    """Adversary: the insider copies another deployment's ``checkpoint.key`` (same passphrase: one operator) over
    this one's: the ledger signed this chain's checkpoints with the other chain's key, and the witnesses who trust
    this ledger's key refused every one. The file names the origin it was made for; the error names both."""
    other = tmp_path / "other"
    log_key(other, OTHER_ORIGIN, PASSPHRASE)
    mine = log_key(tmp_path, ORIGIN, PASSPHRASE).seed()
    backup = (tmp_path / "keys" / "checkpoint.key").read_bytes()
    shutil.copy(other / "keys" / "checkpoint.key", tmp_path / "keys" / "checkpoint.key")
    with pytest.raises(KeystoreError, match=rf"of {OTHER_ORIGIN}, not the ledger's checkpoint key of {ORIGIN}"):
        log_key(tmp_path, ORIGIN, PASSPHRASE)
    (tmp_path / "keys" / "checkpoint.key").write_bytes(backup)
    assert log_key(tmp_path, ORIGIN, PASSPHRASE).seed() == mine


def test_a_key_files_stated_purpose_or_owner_edited_does_not_open(tmp_path: Path) -> None:
    """Adversary: the insider edits what a file says it holds (its ``purpose`` or ``owner`` member, or a witness
    file's ``name``) so that the reader's check passes: the purpose and owner are the AES-GCM associated data, so
    the file no longer opens at all (the passphrase's error, saying the file may have been altered)."""
    keys = tmp_path / "keys"
    log_key(tmp_path, ORIGIN, PASSPHRASE)
    stored = json.loads((keys / "checkpoint.key").read_text())
    assert stored["purpose"] == "checkpoint" and stored["owner"] == ORIGIN
    (keys / "vault.key").write_text(json.dumps({**stored, "purpose": "vault", "owner": ""}))
    with pytest.raises(KeystoreError, match=r"wrong passphrase for the vault key file .*or the file was altered"):
        _vault(keys / "vault.key")
    (keys / "checkpoint.key").write_text(json.dumps({**stored, "owner": OTHER_ORIGIN}))
    with pytest.raises(KeystoreError, match="or the file was altered"):
        log_key(tmp_path, OTHER_ORIGIN, PASSPHRASE)
    # an owner written to forge the error's next line is quoted, not printed as a line of its own
    (keys / "checkpoint.key").write_text(json.dumps({**stored, "owner": "x\nerror: forged"}))
    with pytest.raises(KeystoreError) as raised:
        log_key(tmp_path, ORIGIN, PASSPHRASE)
    assert "\n" not in str(raised.value) and "'x\\nerror: forged'" in str(raised.value)

    store = WitnessStore(tmp_path / "witness")
    store.create_key("court.example/w1", PASSPHRASE)
    path = tmp_path / "witness" / "witness.key"
    path.write_text(json.dumps({**json.loads(path.read_text()), "name": "court.example/w2"}))
    with pytest.raises(KeystoreError, match=r"holds the witness key of court\.example/w1, not the witness key of"):
        WitnessStore(tmp_path / "witness").key(PASSPHRASE)


def test_another_witness_key_file_in_a_witness_store_stops_the_witness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: the insider copies another witness's ``witness.key`` (same passphrase) into a witness's store, so
    that it cosigns as the other: held by the store's record, which each witness signs with its own key (a record
    of another key stops the witness)."""
    first, second = WitnessStore(tmp_path / "w1"), WitnessStore(tmp_path / "w2")
    first.create_key("court.example/w1", PASSPHRASE)
    second.create_key("court.example/w2", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", PASSPHRASE)
    assert WitnessStore(tmp_path / "w1").load() == {"origins": {}}
    shutil.copy(tmp_path / "w2" / "witness.key", tmp_path / "w1" / "witness.key")
    with pytest.raises(LedgerError, match=r"state\.json is not signed by this witness's key"):
        WitnessStore(tmp_path / "w1").load()


def test_old_layout_key_files_open_and_are_rewrapped_bound_to_their_purpose(tmp_path: Path) -> None:
    """Adversary: none; the migration. Files written before ``pl-key/2`` (associated data ``pl-vault``) open, the
    purpose their reader gives taken at its word, and are rewrapped bound to it at that first open (a temporary
    file, synced, renamed into place): a second open reads the new layout, and the key is the same."""
    keys = tmp_path / "keys"
    keys.mkdir()
    vault_key, checkpoint_seed, witness_seed = os.urandom(32), os.urandom(32), os.urandom(32)
    (keys / "vault.key").write_text(json.dumps(_old_layout(vault_key)))
    (keys / "checkpoint.key").write_text(json.dumps(_old_layout(checkpoint_seed)))
    (tmp_path / "witness").mkdir()
    witness_file = tmp_path / "witness" / "witness.key"
    witness_file.write_text(json.dumps({"name": "court.example/w1", "seed": _old_layout(witness_seed)}))

    assert _vault(keys / "vault.key").key() == vault_key
    assert log_key(tmp_path, ORIGIN, PASSPHRASE).seed() == checkpoint_seed
    assert WitnessStore(tmp_path / "witness").key(PASSPHRASE).seed() == witness_seed

    stored = json.loads((keys / "vault.key").read_text())
    assert (stored["format"], stored["purpose"], stored["owner"]) == ("pl-key/2", "vault", "")
    assert stored["kdf"] == "scrypt-n10-r8-p1"  # the work factor the file stated, kept
    stored = json.loads((keys / "checkpoint.key").read_text())
    assert (stored["format"], stored["purpose"], stored["owner"]) == ("pl-key/2", "checkpoint", ORIGIN)
    stored = json.loads(witness_file.read_text())
    assert stored["name"] == "court.example/w1"
    assert (stored["seed"]["purpose"], stored["seed"]["owner"]) == ("witness", "court.example/w1")
    for path in (keys / "vault.key", keys / "checkpoint.key", witness_file):
        assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in keys.iterdir()) == ["checkpoint.key", "vault.key"]  # no temporary file left

    # the second open reads the new layout: the same keys
    assert _vault(keys / "vault.key").key() == vault_key
    assert log_key(tmp_path, ORIGIN, PASSPHRASE).seed() == checkpoint_seed
    assert WitnessStore(tmp_path / "witness").key(PASSPHRASE).seed() == witness_seed
    # and the rewrapped files are bound: swapped now, each is refused
    _swap(keys / "vault.key", keys / "checkpoint.key")
    with pytest.raises(KeystoreError, match="holds the ledger's checkpoint key"):
        _vault(keys / "vault.key")


def test_an_old_layout_file_opened_with_the_wrong_passphrase_is_left_as_it_is(tmp_path: Path) -> None:
    """Adversary: none; the migration must lose nothing: a wrong passphrase rewraps nothing."""
    path = tmp_path / "vault.key"
    path.write_text(json.dumps(_old_layout(os.urandom(32))))
    before = path.read_bytes()
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        Vault.from_env_or_file(path, "another passphrase", **CHEAP)
    assert path.read_bytes() == before


def _old_vault_opener(path: Path, gun: Event, answer: Connection) -> None:
    """One process opening the vault key file: wait for the starting gun, then open it and send the key."""
    gun.wait()
    try:
        answer.send(("ok", _vault(path).key().hex()))
    except BaseException as exc:  # noqa: BLE001 - the parent asserts on it
        answer.send(("error", repr(exc)))


def test_processes_opening_an_old_layout_vault_key_at_once_end_with_one_key(tmp_path: Path) -> None:
    """Adversary: none; a race. Several processes open a vault key file of the old layout at once (a gateway's
    workers after the upgrade): each rewraps it, and every one, and the file they leave, holds the one key."""
    path = tmp_path / "keys" / "vault.key"
    path.parent.mkdir()
    key = os.urandom(32)
    path.write_text(json.dumps(_old_layout(key)))
    # Six processes of their own, forked from this one, which has the library imported already (a fresh
    # interpreter each cost ~2 CPU-s of imports, no part of the race), all waiting on one event: released together,
    # as a gateway's workers start. The key comes from the file alone (Vault.from_env_or_file is given no key_hex).
    fork = multiprocessing.get_context("fork")
    gun = fork.Event()
    pipes = [fork.Pipe(duplex=False) for _ in range(6)]
    workers = [fork.Process(target=_old_vault_opener, args=(path, gun, sending)) for _, sending in pipes]
    for worker in workers:
        worker.start()
    gun.set()  # every worker exists and waits: release them together
    for worker, (receiving, _) in zip(workers, pipes, strict=True):
        assert receiving.poll(120), "a worker sent no key"
        outcome, value = receiving.recv()
        worker.join(60)
        assert outcome == "ok" and worker.exitcode == 0, value
        assert bytes.fromhex(value) == key
    assert json.loads(path.read_text())["purpose"] == "vault"
    assert _vault(path).key() == key
    assert sorted(p.name for p in path.parent.iterdir()) == ["vault.key"]


def _keygen_stderr(tmp_path: Path, env: dict[str, str], *, terminal: bool) -> str:
    """Standard error of ``ledger witness keygen`` without a passphrase (refused) in a process of its own, written
    to a terminal (a pseudo-terminal this test reads) or to a pipe. The process is forked from the suite's command
    server (tests/cli_zygote.py), which runs the CLI's start as a fresh interpreter does, with ``env`` and these
    streams: a fresh interpreter cost ~2 CPU-s of imports a command, no part of what is tested."""
    args = ["witness", "keygen", "--store", str(tmp_path / "w"), "--name", "court.example/w1"]
    assert _same_interpreter(env), "the suite's environment starts the interpreter as its command server's does"
    if not terminal:
        done = ledger_process(args, env=env, timeout=120)
        assert done.returncode == 2, done.stderr
        return done.stderr
    reader, writer = pty.openpty()
    try:
        process = fork_command("cli", "ledger.cli", args, env=env, stderr=Path(os.ttyname(writer)))
        try:
            assert process.wait(120) == 2
        finally:
            process.close()
    finally:
        os.close(writer)
    said = b""
    try:
        while chunk := os.read(reader, 65536):
            said += chunk
    except OSError:  # the terminal's other end is closed: all of it was read
        pass
    finally:
        os.close(reader)
    return said.decode().replace("\r\n", "\n")


def test_the_cli_warns_at_a_terminal_when_started_with_the_insecure_floor(tmp_path: Path) -> None:
    """Adversary: whoever can set the environment an operator runs commands in and sets
    LEDGER_INSECURE_KEYSTORE_KDF_FLOOR (the project has no production mode to refuse it in): a command run at a
    terminal says so on standard error first, the value and no key; written to a pipe (a script, this suite, which
    sets the floor on purpose) its error stream is the command's own; unset, nothing is said."""
    env = {k: v for k, v in os.environ.items() if k != "LEDGER_WITNESS_PASSPHRASE"}
    env["LEDGER_INSECURE_KEYSTORE_KDF_FLOOR"] = "1024"
    first, *_ = _keygen_stderr(tmp_path, env, terminal=True).splitlines()
    assert (
        first.startswith("warning: LEDGER_INSECURE_KEYSTORE_KDF_FLOOR=1024 is set") and "tests and benchmarks" in first
    ), first
    piped = _keygen_stderr(tmp_path, env, terminal=False)
    assert "warning" not in piped and piped.startswith("error: "), piped
    del env["LEDGER_INSECURE_KEYSTORE_KDF_FLOOR"]
    env.pop("LEDGER_KEYSTORE_KDF_N", None)
    unset = _keygen_stderr(tmp_path, env, terminal=True)
    assert "warning" not in unset and unset.startswith("error: "), unset


def test_the_gateway_logs_a_warning_when_started_with_the_insecure_floor(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    """Adversary: the same, for the gateway: its start logs the lowered floor once (never a key)."""
    from api.config import ApiSettings
    from api.main import create_app

    assert ledger.settings.keystore_kdf_floor == 1024  # the suite's (tests/conftest.py)
    with caplog.at_level(logging.WARNING, logger="api"):
        create_app(ledger, settings=ApiSettings(anchor_interval_seconds=0))
    said = [r.getMessage() for r in caplog.records if "LEDGER_INSECURE_KEYSTORE_KDF_FLOOR" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("LEDGER_INSECURE_KEYSTORE_KDF_FLOOR=1024 is set"), said
    assert insecure_kdf_floor_warning(DEFAULT_KDF_FLOOR) is None  # at the safe floor, nothing is logged


def test_department_key_files_swapped_in_the_keystore_sign_for_no_department(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: the insider swaps two departments' keystore files (``dept-MKT.json`` and another issuer's: one
    keystore, one passphrase) or puts back an older copy of one. A keystore file names no department: the ledger
    signed MKT's batch with the other department's key, and the registry, which takes the department from the
    signer, anchored it as the other department's. The key a department's file holds must be the signer the registry
    names for the department: else a KeystoreError naming both, before anything is sent."""
    import io

    from ledger.services import issuance

    from .conftest import make_records, write_jsonl

    keys = ledger.settings.keys_dir
    mine, theirs = keys / "dept-MKT.json", keys / f"dept-{fresh_department}.json"
    before = ledger.chain.block_number()
    _swap(mine, theirs)
    _as_a_new_process(ledger)
    try:
        records = write_jsonl(tmp_path / "in.jsonl", make_records(2))
        with pytest.raises(
            KeystoreError, match=r"dept-MKT\.json holds the key of 0x[0-9a-fA-F]{40}, but the registry names"
        ):
            issuance.issue_file(ledger, records, "MKT", out=io.StringIO())
        assert not _anchored_since(ledger, before)
    finally:
        _swap(mine, theirs)
        _as_a_new_process(ledger)
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / "again.jsonl", make_records(2)), "MKT", out=out)
    assert len(out.getvalue().splitlines()) == 2  # restored, the department issues as before


def _as_a_new_process(ledger: Ledger) -> None:
    """Forget the keys this ledger unlocked and checked, as a process started after the swap has none."""
    ledger._accounts.clear()
    ledger._registered_signers.clear()


def _anchored_since(ledger: Ledger, block: int) -> bool:
    """Whether any batch was anchored after ``block``."""
    head = ledger.chain.block_number()
    return head > block and bool(
        ledger.chain.anchor.events.BatchAnchored().get_logs(from_block=block + 1, to_block=head)
    )


def test_a_department_key_file_in_place_of_the_consent_key_signs_no_consent(
    ledger: Ledger, world: dict[str, Any]
) -> None:
    """Adversary: the insider swaps the consent key's keystore file (``consent-gateway.json``, which signs every
    consent record) with a department's (one keystore, one passphrase): the ledger signed new consent records with
    the department's key, and every record signed before read as not signed by this ledger. A key the registry
    knows as a department's (now or retired: a key serves one department's one period) is no consent key: giving
    consent is refused before anything is stored or the assertion spent, and the earlier records name the swap."""
    from ledger.services import consent

    from .consent_support import NOW, give

    first = give(ledger, world["a"], "INS", NOW)
    assert consent.signature_problem(ledger, first) is None
    keys = ledger.settings.keys_dir
    mine, theirs = keys / "consent-gateway.json", keys / f"dept-{world['issuer']}.json"
    _swap(mine, theirs)
    _as_a_new_process(ledger)
    try:
        with pytest.raises(
            KeystoreError, match=rf"consent-gateway\.json holds .*a key of department {world['issuer']}"
        ):
            give(ledger, world["b"], "INS", NOW)
        assert "consent-gateway.json holds" in str(consent.signature_problem(ledger, first))
    finally:
        _swap(mine, theirs)
        _as_a_new_process(ledger)
    assert consent.signature_problem(ledger, first) is None
    assert consent.signature_problem(ledger, give(ledger, world["b"], "INS", NOW)) is None  # nothing was spent
