"""Department and council keys, encrypted at rest.

Keys are stored as standard Web3 Secret Storage (V3) keystore files — scrypt + AES-128-CTR, the format geth
and Besu read — one file per key name, mode 0600. A key is decrypted only in memory, on demand, with the
passphrase; it is never printed, logged or written in the clear.

A keystore holds at most one council key (a key named ``council`` or ``council-...``): one keystore and
one passphrase are one person, and M of N means M people. Only a keystore created with
``several_council_keys=True`` (a demo or a test, said explicitly) may hold more.

All keys of a keystore share one passphrase: a new key is written only after the passphrase has unlocked an
existing one, so a mistyped passphrase leaves no key behind that nobody can open. A keystore whose key
derivation is cheaper than the floor (scrypt N below ``kdf_floor``, r below 8, PBKDF2 below 262,144 rounds) is
refused when read: it could be brute-forced from a stolen copy.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import DEFAULT_KDF_FLOOR, DEFAULT_KDF_N, kdf_floor_from_env
from ..errors import InputError, KeystoreError, NotFoundError
from ..formats.canonical import json_loads
from ._files import create_exclusive, read_key_file

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

__all__ = ["DEFAULT_KDF_FLOOR", "PBKDF2_FLOOR", "Keystore", "is_council_key"]
PBKDF2_FLOOR = 262_144  # geth's "standard" PBKDF2 rounds

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")


def is_council_key(name: str) -> bool:
    """Council keys are named ``council`` or ``council-<anything>``."""
    return name == "council" or name.startswith("council-")


class Keystore:
    def __init__(
        self,
        directory: Path,
        *,
        kdf_n: int = DEFAULT_KDF_N,
        kdf_floor: int | None = None,
        several_council_keys: bool = False,
    ) -> None:
        self.directory = directory
        self.kdf_n = kdf_n
        self.kdf_floor = kdf_floor_from_env() if kdf_floor is None else kdf_floor
        self.several_council_keys = several_council_keys

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise InputError(f"key name {name!r} must be 1-64 letters, digits, '.', '_' or '-'")
        return self.directory / f"{name}.json"

    def exists(self, name: str) -> bool:
        return self._path(name).exists()

    def stamp(self, name: str) -> tuple[int, int, int] | None:
        """What identifies the file of key ``name`` as it is now (inode, modification time, size; None: no file):
        it differs once the file is replaced or renamed over, as a key rotation's promotion does."""
        try:
            found = os.stat(self._path(name))
        except FileNotFoundError:
            return None
        return found.st_ino, found.st_mtime_ns, found.st_size

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.json")) if self.directory.exists() else []

    def address(self, name: str) -> str:
        """The key's address, read without decrypting it."""
        data = self._read(name)
        try:
            return _checksum(data["address"])
        except (KeyError, TypeError, ValueError):
            raise self._damaged(name) from None

    def create(self, name: str, passphrase: str) -> str:
        return self._store(name, _account().create(), passphrase)

    def import_key(self, name: str, private_key: str | bytes, passphrase: str) -> str:
        try:
            account = _account().from_key(private_key)
        except (ValueError, TypeError):
            raise InputError("the private key to import is not a valid 32-byte secp256k1 key") from None
        return self._store(name, account, passphrase)

    def _store(self, name: str, account: LocalAccount, passphrase: str) -> str:
        if not passphrase:
            raise KeystoreError("an empty passphrase would leave the key unprotected; set LEDGER_PASSPHRASE")
        path = self._path(name)
        if path.exists():
            raise KeystoreError(f"a key named {name!r} exists already; choose another name")
        if is_council_key(name) and not self.several_council_keys:
            held = [n for n in self.names() if is_council_key(n)]
            if held:
                raise KeystoreError(
                    f"the keystore already holds the council key {held[0]!r}; a keystore holds "
                    "one council member's key. Create the other members' keys in their own "
                    "keystores, each with its own passphrase (--keystore DIR)",
                    where=self.directory,
                )
        self._check_passphrase(passphrase)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        encrypted = _account().encrypt(account.key, passphrase, kdf="scrypt", iterations=self.kdf_n)
        if not create_exclusive(path, json.dumps(encrypted).encode()):  # never replace a key created meanwhile
            raise KeystoreError(f"a key named {name!r} exists already; choose another name")
        return str(account.address)

    def _check_passphrase(self, passphrase: str) -> None:
        """The passphrase must open the keystore's existing keys (if any) before a new key is written with it."""
        existing = [name for name in self.names() if name != "vault"]
        if not existing:
            return
        try:
            self.unlock(existing[0], passphrase)
        except KeystoreError as exc:
            raise KeystoreError(
                f"the passphrase does not unlock the existing key {existing[0]!r} ({exc}); every key "
                "in a keystore shares one passphrase: check LEDGER_PASSPHRASE. No key was "
                "created."
            ) from None

    def rename(self, name: str, new_name: str) -> None:
        """Rename a keystore file (key rotation keeps the retired key under a new name)."""
        source, target = self._path(name), self._path(new_name)
        if target.exists():
            raise KeystoreError(f"a key named {new_name!r} exists already")
        if (
            is_council_key(new_name)
            and not is_council_key(name)
            and not self.several_council_keys
            and any(is_council_key(n) for n in self.names())
        ):
            raise KeystoreError(
                "the keystore already holds a council key; it holds one member's key only", where=self.directory
            )
        source.replace(target)

    def unlock(self, name: str, passphrase: str) -> LocalAccount:
        data = self._read(name)
        try:
            self._check_work_factor(name, data)
        except (TypeError, ValueError, OverflowError):  # a work factor that is no number
            raise self._damaged(name) from None
        try:
            key = _account().decrypt(data, passphrase)
        except (KeyError, TypeError, AttributeError, NotImplementedError, OverflowError):
            # a field missing or of another type (eth-keyfile reads the file's fields as they come), or a version
            # it does not know: the file, not the passphrase
            raise self._damaged(name) from None
        except ValueError:
            raise KeystoreError(f"wrong passphrase for key {name!r}") from None
        account: LocalAccount = _account().from_key(key)
        return account

    def _check_work_factor(self, name: str, data: dict[str, object]) -> None:
        crypto = data.get("crypto") or data.get("Crypto")
        kdf = crypto.get("kdf") if isinstance(crypto, dict) else None
        params = crypto.get("kdfparams") if isinstance(crypto, dict) else None
        if not isinstance(params, dict):
            raise KeystoreError(f"keystore file of key {name!r} has no key-derivation parameters; restore it")
        if kdf == "scrypt":
            n, r = int(params.get("n", 0)), int(params.get("r", 0))
            if n < self.kdf_floor or r < 8:
                raise KeystoreError(
                    f"key {name!r} is encrypted with a scrypt work factor (N={n}, r={r}) below the "
                    f"floor (N={self.kdf_floor}, r=8): a stolen copy could be brute-forced. Re-encrypt "
                    "it (import the key again) with the default work factor."
                )
        elif kdf == "pbkdf2":
            rounds = int(params.get("c", 0))
            if rounds < PBKDF2_FLOOR:
                raise KeystoreError(
                    f"key {name!r} is encrypted with a PBKDF2 work factor ({rounds} rounds) below the "
                    f"floor ({PBKDF2_FLOOR}): a stolen copy could be brute-forced. Re-encrypt it "
                    "(import the key again) with scrypt."
                )
        else:
            raise KeystoreError(f"key {name!r} uses an unknown key derivation {kdf!r}; use scrypt")

    def _read(self, name: str) -> dict[str, object]:
        path = self._path(name)
        try:
            # a regular file, read without waiting and at most 64 KiB (a FIFO or a huge file planted in its place
            # held every process opening the key; read_key_file says to restore it)
            data: dict[str, object] = json_loads(read_key_file(path, f"the keystore file of key {name!r}"))
        except FileNotFoundError:
            raise NotFoundError(
                f"no key named {name!r} in the keystore; create or import it first", where=self.directory
            ) from None
        except ValueError:  # not JSON, not UTF-8 (UnicodeDecodeError is one)
            data = None  # type: ignore[assignment]
        if not isinstance(data, dict):
            raise self._damaged(name)
        return data

    def _damaged(self, name: str) -> KeystoreError:
        return KeystoreError(
            f"the keystore file of key {name!r} is damaged; restore it from a backup", where=self._path(name)
        )


def _account() -> Any:
    """eth_account's ``Account``, imported where a key is made, imported or opened: not by every process that only
    names a keystore (a replay worker opens none; eth_account's import is about half a CPU-second)."""
    from eth_account import Account

    return Account


def _checksum(address: object) -> str:
    from eth_utils import to_checksum_address

    return str(to_checksum_address("0x" + str(address).removeprefix("0x")))
