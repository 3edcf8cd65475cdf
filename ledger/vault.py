"""Sealing certificate contents at rest.

The database never holds a plain personal field: a certificate's fields and salts are stored sealed with
AES-256-GCM, bound to the certificate digest as associated data (a sealed body cannot be moved to another
row). The data key comes from ``LEDGER_VAULT_KEY`` (64 hex digits, e.g. from a KMS) or is generated once and
kept in the data directory, itself encrypted with the operator's passphrase (scrypt + AES-GCM).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ._files import create_exclusive
from .errors import ConfigError, KeystoreError, LedgerError

_NONCE = 12


class Vault:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ConfigError("the vault key must be 32 bytes (64 hex digits)")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, bound_to: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, bound_to)

    def open(self, sealed: bytes, bound_to: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], bound_to)
        except (InvalidTag, ValueError):
            raise LedgerError("a sealed certificate body failed its integrity check: the row was altered or "
                              "moved; run `ledger reconcile`") from None

    @classmethod
    def from_env_or_file(cls, path: Path, passphrase: str | None) -> Vault:
        env = os.environ.get("LEDGER_VAULT_KEY")
        if env:
            try:
                return cls(bytes.fromhex(env))
            except ValueError:
                raise ConfigError("LEDGER_VAULT_KEY must be 64 hex digits") from None
        if passphrase is None:
            raise KeystoreError("the vault key is locked: set LEDGER_PASSPHRASE (or LEDGER_VAULT_KEY)")
        if path.exists():
            return cls(_unwrap(json.loads(path.read_text()), passphrase))
        key = AESGCM.generate_key(256)
        if create_exclusive(path, json.dumps(_wrap(key, passphrase)).encode()):
            return cls(key)
        # another process created the vault key at the same moment: everyone must seal with that one
        return cls(_unwrap(json.loads(path.read_text()), passphrase))


def _kdf(salt: bytes) -> Scrypt:
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1)


def _wrap(key: bytes, passphrase: str) -> dict[str, str]:
    salt, nonce = os.urandom(16), os.urandom(_NONCE)
    wrapping = _kdf(salt).derive(passphrase.encode())
    return {"kdf": "scrypt-n15-r8-p1", "salt": salt.hex(), "nonce": nonce.hex(),
            "ciphertext": AESGCM(wrapping).encrypt(nonce, key, b"pl-vault").hex()}


def _unwrap(data: dict[str, str], passphrase: str) -> bytes:
    wrapping = _kdf(bytes.fromhex(data["salt"])).derive(passphrase.encode())
    try:
        return AESGCM(wrapping).decrypt(bytes.fromhex(data["nonce"]), bytes.fromhex(data["ciphertext"]), b"pl-vault")
    except InvalidTag:
        raise KeystoreError("wrong passphrase for the vault key") from None
