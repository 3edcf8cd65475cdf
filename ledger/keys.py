"""Department and council keys, encrypted at rest.

Keys are stored as standard Web3 Secret Storage (V3) keystore files — scrypt + AES-128-CTR, the format geth
and Besu read — one file per key name, mode 0600. A key is decrypted only in memory, on demand, with the
passphrase; it is never printed, logged or written in the clear.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from .errors import InputError, KeystoreError, NotFoundError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Keystore:
    def __init__(self, directory: Path, *, kdf_n: int = 2**16) -> None:
        self.directory = directory
        self.kdf_n = kdf_n

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise InputError(f"key name {name!r} must be 1-64 letters, digits, '.', '_' or '-'")
        return self.directory / f"{name}.json"

    def exists(self, name: str) -> bool:
        return self._path(name).exists()

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.json")) if self.directory.exists() else []

    def address(self, name: str) -> str:
        """The key's address, read without decrypting it."""
        data = self._read(name)
        return _checksum(data["address"])

    def create(self, name: str, passphrase: str) -> str:
        return self._store(name, Account.create(), passphrase)

    def import_key(self, name: str, private_key: str | bytes, passphrase: str) -> str:
        try:
            account = Account.from_key(private_key)
        except (ValueError, TypeError):
            raise InputError("the private key to import is not a valid 32-byte secp256k1 key") from None
        return self._store(name, account, passphrase)

    def _store(self, name: str, account: LocalAccount, passphrase: str) -> str:
        if not passphrase:
            raise KeystoreError("an empty passphrase would leave the key unprotected; set LEDGER_PASSPHRASE")
        path = self._path(name)
        if path.exists():
            raise KeystoreError(f"a key named {name!r} exists already; choose another name")
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        encrypted = Account.encrypt(account.key, passphrase, kdf="scrypt", iterations=self.kdf_n)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(encrypted, handle)
        tmp.replace(path)
        return str(account.address)

    def rename(self, name: str, new_name: str) -> None:
        """Rename a keystore file (key rotation keeps the retired key under a new name)."""
        source, target = self._path(name), self._path(new_name)
        if target.exists():
            raise KeystoreError(f"a key named {new_name!r} exists already")
        source.replace(target)

    def unlock(self, name: str, passphrase: str) -> LocalAccount:
        data = self._read(name)
        try:
            key = Account.decrypt(data, passphrase)
        except ValueError:
            raise KeystoreError(f"wrong passphrase for key {name!r}") from None
        account: LocalAccount = Account.from_key(key)
        return account

    def _read(self, name: str) -> dict[str, object]:
        path = self._path(name)
        try:
            data: dict[str, object] = json.loads(path.read_text())
        except FileNotFoundError:
            raise NotFoundError(f"no key named {name!r} in {self.directory}; create or import it first") from None
        except ValueError:
            raise KeystoreError(f"keystore file {path} is damaged; restore it from a backup") from None
        return data


def _checksum(address: object) -> str:
    from eth_utils import to_checksum_address

    return str(to_checksum_address("0x" + str(address).removeprefix("0x")))
