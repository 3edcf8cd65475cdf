"""Sealing certificate contents at rest, with one data key per certificate so that erasure can destroy it.

The database never holds a plain personal field. The vault key comes from ``LEDGER_VAULT_KEY`` (64 hex digits,
e.g. from a KMS) or is generated once and kept in the data directory, itself encrypted with the operator's
passphrase (scrypt + AES-GCM). The key file records scrypt's work factor (``"kdf": "scrypt-n15-r8-p1"``, N = 2^15,
as every vault key file has been written); a file stating less than the reader's floor (2^15, lowered only with the
keystore's explicitly insecure floor, as the test suite runs) is refused. It states its purpose too (layout
``pl-key/2``, ``KEY_FILE_FORMAT``: ``"purpose": "vault"``, bound into the wrapping's associated data), as the other
key files wrapped here do (the ledger's checkpoint key, a witness's seed), so none opens in another's place; a file
of the older layout is rewrapped so at its first open.

Certificate bodies (fields and salts) are sealed per certificate (``seal_certificates``, layout ``PLK1``)::

    kek(D)     = HKDF-SHA256(vault key, salt = none, info = "pl-kek/1" || 0x00 || D)   one per department D
    data key   = 32 random bytes, a new one for every certificate
    wrapped    = nonce(12) || AES-256-GCM(kek(D), nonce, data key, aad = "pl-dk" || 0x00 || D || 0x00 || digest)
    sealed     = "PLK1" || len(D) (1 byte) || D || wrapped (60 bytes) || AES-256-GCM(data key, 0^12, body, aad = digest)

A data key encrypts exactly one message, so its nonce is fixed. Erasing a certificate overwrites ``sealed`` with
the 4 bytes ``PLX1`` (``ERASED``): the wrapped data key is gone, and with it every way to read the body, wherever a
copy of the ciphertext may survive. Anything else (status notes, decision secrets, bodies sealed before per-
certificate keys) keeps the older layout ``nonce(12) || AES-256-GCM(vault key, nonce, plaintext, aad)``;
:meth:`Vault.open` reads both, so every caller keeps calling ``open(sealed, digest)``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..config import kdf_floor_from_env, kdf_n_from_env
from ..errors import ConfigError, ErasedError, KeystoreError, StateError
from ..formats._native import NATIVE
from ..formats.canonical import json_loads
from ._files import create_exclusive, read_key_file, replace_private

_NONCE = 12
_DATA_KEY = 32
_WRAPPED = _NONCE + _DATA_KEY + 16
_ONE_USE_NONCE = bytes(_NONCE)  # each data key seals one body only
PER_CERTIFICATE = b"PLK1"
ERASED = b"PLX1"
VAULT_KDF_N = 2**15
"""scrypt's work factor for the vault key file and the keys ``wrap_secret`` keeps (a witness's, the ledger's checkpoint
key), and the floor they are read with. The floor is lowered only with the keystore's
``LEDGER_INSECURE_KEYSTORE_KDF_FLOOR``; what is written only with ``LEDGER_KEYSTORE_KDF_N`` as well, never below the
floor (the test suite sets both)."""
_KDF_N_MAX = 2**16  # the most a wrapped key file may state (scrypt takes 128 * r * N bytes: 64 MiB here)
_KDF_NAME = re.compile(r"scrypt-n([0-9]{1,2})-r8-p1")
KEY_FILE_FORMAT = "pl-key/2"
"""The layout of every key file the ledger and its witnesses wrap (``_wrap``): ``format``, ``purpose`` and ``owner``
stated in the file and bound as AES-GCM's associated data, ``"pl-key/2" 0x00 purpose 0x00 owner``, so a file of one
purpose or owner never opens as another's (red team round 57). Files before it had no ``format`` and the associated
data ``pl-vault`` for all: they open for whichever purpose their reader names, and are rewrapped at that open."""
KEY_PURPOSES = {
    "vault": "the vault key",
    "checkpoint": "the ledger's checkpoint key",
    "witness": "the witness key",
    "api-token": "the gateway's token secret",
}
"""Each purpose a key file is kept for, and how an error names it. The owner: none for the vault key (the data
directory has no identity of its own when the key is opened: the database records its check value instead,
``keycheck``), the chain's origin for the checkpoint key and the gateway's token secret, the witness's name for its
seed."""
_OLD_KEY_AAD = b"pl-vault"
_OWNER_CHANGED = {
    "checkpoint": ". If this ledger was deployed anew (another chain or registry: another origin), the file is the old "
    "chain's key: move it aside, and a checkpoint key for the new chain is made at first use (give the witnesses its "
    "verifier key, `ledger witness status`)"
}


def _wrap_aad(department: bytes, bound_to: bytes) -> bytes:
    return b"pl-dk\x00" + department + b"\x00" + bound_to


class Vault:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ConfigError("the vault key must be 32 bytes (64 hex digits)")
        self._key = key
        self._aead = AESGCM(key)
        # each department's key-encryption key, derived once: as bytes for the native sealing, as AESGCM for Python
        self._keks: dict[bytes, tuple[bytes, AESGCM]] = {}

    def _kek_pair(self, department: bytes) -> tuple[bytes, AESGCM]:
        pair = self._keks.get(department)
        if pair is None:
            derived = HKDF(algorithm=SHA256(), length=32, salt=None, info=b"pl-kek/1\x00" + department).derive(
                self._key
            )
            pair = self._keks[department] = derived, AESGCM(derived)
        return pair

    def _kek(self, department: bytes) -> AESGCM:
        return self._kek_pair(department)[1]

    def key(self) -> bytes:
        """The vault key itself, for this process's own spawned workers only (replay's, which open the sealed bodies
        this process would: ``services/_replay_worker.py``), sent through the pool's pipe, never written anywhere."""
        return self._key

    def derive(self, info: bytes) -> bytes:
        """A 32-byte key for one other purpose (``info`` names it), derived from the vault key with HKDF."""
        return HKDF(algorithm=SHA256(), length=32, salt=None, info=info).derive(self._key)

    def seal_certificates(self, department: str, items: list[tuple[bytes, bytes]]) -> list[bytes]:
        """Seal each ``(body, digest)`` with a fresh data key wrapped by ``department``'s key (one call per batch:
        the randomness of the whole batch is drawn at once).

        The native core (``_hashcore.seal_bodies``, OpenSSL's AES-256-GCM with one cipher context per key role)
        writes exactly the bytes :func:`_seal_certificates_py` writes from the same randomness, in about a sixth of
        its time (an AESGCM object per certificate cost 2.3 us alone); it declines anything but plain bytes, and
        Python seals those (tests/test_vault_native.py compares the two)."""
        dept = department.encode("ascii")
        if not 0 < len(dept) < 256:
            raise ConfigError(f"department id {department!r} cannot name a data key: 1-255 ASCII characters")
        kek_bytes, kek = self._kek_pair(dept)
        header = PER_CERTIFICATE + bytes([len(dept)]) + dept
        prefix = b"pl-dk\x00" + dept + b"\x00"
        randomness = os.urandom((_DATA_KEY + _NONCE) * len(items))
        if NATIVE is not None:
            sealed = NATIVE.seal_bodies(kek_bytes, header, prefix, items, randomness)
            if sealed is not None:
                return cast("list[bytes]", sealed)
        return _seal_certificates_py(kek, header, prefix, items, randomness)

    def seal(self, plaintext: bytes, bound_to: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, bound_to)

    def open(self, sealed: bytes, bound_to: bytes) -> bytes:
        if sealed == ERASED:
            raise ErasedError(
                f"certificate 0x{bound_to.hex()} was erased: its data key was destroyed, so its fields "
                "and salts can no longer be read, exported or proved by this ledger; its digest, "
                "anchor and status remain verifiable, and the holder's own copy still verifies "
                "(the department's `erasures` log records who erased it, when and why)"
            )
        if sealed[: len(PER_CERTIFICATE)] == PER_CERTIFICATE:
            try:
                return self._open_per_certificate(sealed, bound_to)
            except (InvalidTag, ValueError, IndexError, UnicodeDecodeError):
                pass  # a body of the older layout whose random nonce happens to start with the marker
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], bound_to)
        except (InvalidTag, ValueError):
            # the database's state, not the caller's input nor a failure of the ledger: a conflict (409 at the
            # gateway, where a plain LedgerError was a 500 of the public verification of the digest, red team round 80)
            raise StateError(
                "a sealed certificate body failed its integrity check: the row was altered or "
                "moved; run `ledger reconcile`"
            ) from None

    def _open_per_certificate(self, sealed: bytes, bound_to: bytes) -> bytes:
        start = len(PER_CERTIFICATE) + 1
        dept = sealed[start : start + sealed[len(PER_CERTIFICATE)]]
        dept.decode("ascii")
        at = start + len(dept)
        wrapped = sealed[at : at + _WRAPPED]
        data_key = self._kek(dept).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], _wrap_aad(dept, bound_to))
        return AESGCM(data_key).decrypt(_ONE_USE_NONCE, sealed[at + _WRAPPED :], bound_to)

    @classmethod
    def from_env_or_file(
        cls,
        path: Path,
        passphrase: str | None,
        *,
        key_hex: str | None = None,
        kdf_n: int = VAULT_KDF_N,
        kdf_floor: int = VAULT_KDF_N,
    ) -> Vault:
        """The vault key ``key_hex`` (``LEDGER_VAULT_KEY`` through Settings), else the key file ``path`` unwrapped
        with ``passphrase`` (created on first use, wrapped with scrypt N = ``kdf_n``; read only if the N it states
        is at least ``kdf_floor``)."""
        env = key_hex
        if env:
            try:
                return cls(bytes.fromhex(env))
            except ValueError:
                raise ConfigError("LEDGER_VAULT_KEY must be 64 hex digits") from None
        if passphrase is None:
            raise KeystoreError("the vault key is locked: set LEDGER_PASSPHRASE (or LEDGER_VAULT_KEY)")
        if path.exists():
            return cls(_unwrap_file(path, passphrase, kdf_floor))
        key = AESGCM.generate_key(256)
        if create_exclusive(path, json.dumps(_wrap(key, passphrase, kdf_n, purpose="vault", owner="")).encode()):
            return cls(key)
        # another process created the vault key at the same moment: everyone must seal with that one
        return cls(_unwrap_file(path, passphrase, kdf_floor))


def _unwrap_file(path: Path, passphrase: str, floor: int) -> bytes:
    """The vault key in ``path``; KeystoreError for a file that is not one (damage: restore it from a backup), one
    that holds a key of another purpose (a swap: restore it from a backup) or one wrapped with a work factor below
    ``floor``. A file of the layout before ``pl-key/2`` is rewrapped bound to the vault (:func:`_rewrap_file`)."""
    try:
        data = json_loads(read_key_file(path, "the vault key file"))
    except ValueError:
        data = None
    n = _work_factor(data) if _wrapped_shape(data) else None
    if n is None:
        raise KeystoreError(f"{path} is not an encrypted key file; restore it from a backup")
    if n < floor:
        raise KeystoreError(
            f"the vault key file {path} is wrapped with a scrypt work factor (N={n}) below the floor (N={floor}): "
            "a stolen copy could be brute-forced. Restore the data directory's own key file from a backup"
        )
    key, rewrapped = _open_bound(
        data, passphrase, n, purpose="vault", owner="", what=f"the vault key file {path}", variable="LEDGER_PASSPHRASE"
    )
    if rewrapped is not None:
        _rewrap_file(path, rewrapped)
    return key


def _rewrap_file(path: Path, data: Any) -> None:
    """Replace the key file ``path`` (old layout) by ``data``, the same key bound to its purpose: written whole and
    synced under a temporary name, then renamed into place, so a process that dies mid-way leaves the old file,
    which still opens, and processes rewrapping at once each leave a file holding the one key. A directory the
    process may not write keeps the old file (opened again, it is rewrapped then)."""
    with contextlib.suppress(OSError):
        replace_private(path, json.dumps(data).encode())


def _seal_certificates_py(
    kek: AESGCM, header: bytes, prefix: bytes, items: list[tuple[bytes, bytes]], randomness: bytes
) -> list[bytes]:
    """The reference of the per-certificate sealing (layout ``PLK1``, the module docstring): item ``i``'s data key
    and wrapping nonce are ``randomness[44 i : 44 i + 32]`` and ``[44 i + 32 : 44 (i + 1)]``."""
    step = _DATA_KEY + _NONCE
    out = []
    for i, (body, digest) in enumerate(items):
        data_key = randomness[i * step : i * step + _DATA_KEY]
        nonce = randomness[i * step + _DATA_KEY : (i + 1) * step]
        out.append(
            header
            + nonce
            + kek.encrypt(nonce, data_key, prefix + digest)
            + AESGCM(data_key).encrypt(_ONE_USE_NONCE, body, digest)
        )
    return out


def _secret_kdf_floor() -> int:
    """The work factor :func:`unwrap_secret` requires at least: 2^15, or the keystore's floor where
    ``LEDGER_INSECURE_KEYSTORE_KDF_FLOOR`` lowers it (a witness program has no ledger Settings)."""
    return min(VAULT_KDF_N, kdf_floor_from_env())


def _secret_kdf_n() -> int:
    """The work factor :func:`wrap_secret` writes: 2^15, or the keystore's write factor ``LEDGER_KEYSTORE_KDF_N``
    where it is lower (the suite sets both it and the floor), never below the floor the file is read with. The floor
    alone lowers nothing that is written (red team round 57)."""
    return max(min(VAULT_KDF_N, kdf_n_from_env()), _secret_kdf_floor())


def wrap_secret(secret: bytes, passphrase: str, *, purpose: str, owner: str = "") -> dict[str, str]:
    """``secret`` encrypted at rest under ``passphrase`` (scrypt, then AES-256-GCM), bound to ``purpose`` (one of
    ``KEY_PURPOSES``) and ``owner`` (layout ``pl-key/2``, the module's ``_wrap``): for keys kept in files."""
    if not passphrase:
        raise KeystoreError("a passphrase is needed to keep a key encrypted at rest")
    return _wrap(secret, passphrase, _secret_kdf_n(), purpose=purpose, owner=owner)


def unwrap_secret(
    data: Any, passphrase: str | None, what: str, variable: str, *, purpose: str, owner: str = ""
) -> bytes:
    """The secret :func:`wrap_secret` stored for ``purpose`` and ``owner``, or KeystoreError naming ``what`` and the
    passphrase ``variable`` (a file of another purpose or owner: what it holds, and to restore it)."""
    return open_secret(data, passphrase, what, variable, purpose=purpose, owner=owner)[0]


def open_secret(
    data: Any, passphrase: str | None, what: str, variable: str, *, purpose: str, owner: str = ""
) -> tuple[bytes, dict[str, str] | None]:
    """:func:`unwrap_secret`, and the file's content rewrapped bound to ``purpose`` and ``owner`` when it was of the
    layout before ``pl-key/2`` (None otherwise): the caller writes it in place of the old one
    (``_files.replace_private``: written whole and synced, then renamed)."""
    if not passphrase:
        raise KeystoreError(f"{what} is encrypted: set {variable} to its passphrase")
    n = _work_factor(data) if _wrapped_shape(data) else None
    if n is None:
        raise KeystoreError(f"{what} is not an encrypted key file; restore it from a backup")
    floor = _secret_kdf_floor()
    if n < floor:
        raise KeystoreError(
            f"{what} is wrapped with a scrypt work factor (N={n}) below the floor (N={floor}): a stolen copy could "
            "be brute-forced. Restore the key file from a backup"
        )
    return _open_bound(data, passphrase, n, purpose=purpose, owner=owner, what=what, variable=variable)


def _work_factor(data: dict[str, Any]) -> int | None:
    """scrypt's N as the wrapped key file states it (``scrypt-nK-r8-p1``: 2^K, up to ``_KDF_N_MAX``); a file with
    no ``kdf`` is read as one of N = 2^15 (what every such file has been written with); None: no scrypt of ours."""
    kdf = data.get("kdf", "scrypt-n15-r8-p1")
    found = _KDF_NAME.fullmatch(kdf) if isinstance(kdf, str) else None
    n = 2 ** int(found.group(1)) if found else 0
    return n if 2 <= n <= _KDF_N_MAX else None


def _wrapped_shape(data: object) -> bool:
    """Whether ``data`` has the shape :func:`_wrap` writes (three hex strings), so unwrapping fails only on the
    passphrase or the ciphertext, not on the file's form."""
    return isinstance(data, dict) and all(_is_hex(data.get(name)) for name in ("salt", "nonce", "ciphertext"))


def _is_hex(value: object) -> bool:
    try:
        return isinstance(value, str) and bool(bytes.fromhex(value))
    except ValueError:
        return False


def _kdf(salt: bytes, n: int) -> Scrypt:
    return Scrypt(salt=salt, length=32, n=n, r=8, p=1)


def _key_aad(purpose: str, owner: str) -> bytes:
    return KEY_FILE_FORMAT.encode() + b"\x00" + purpose.encode() + b"\x00" + owner.encode()


def _described(purpose: object, owner: object) -> str:
    """What a key file of ``purpose`` and ``owner`` holds, in words."""
    name = KEY_PURPOSES.get(purpose, f"a key of purpose {str(purpose)[:40]!r}") if isinstance(purpose, str) else None
    if name is None:
        return "a key of no stated purpose"
    said = str(owner)[:200]  # read from the file: a line break or escape in it could forge the error's next line
    return f"{name} of {said if said.isprintable() else repr(said)}" if owner else name


def _wrap(key: bytes, passphrase: str, n: int = VAULT_KDF_N, *, purpose: str, owner: str) -> dict[str, str]:
    if n & (n - 1) or not 2 <= n <= _KDF_N_MAX:
        raise ConfigError(f"scrypt's work factor N={n} must be a power of two from 2 to {_KDF_N_MAX}")
    if purpose not in KEY_PURPOSES:
        raise ConfigError(f"no key file is kept for the purpose {purpose!r}: one of {', '.join(KEY_PURPOSES)}")
    salt = os.urandom(16)
    return _bound(AESGCM(_kdf(salt, n).derive(passphrase.encode())), key, salt, n, purpose, owner)


def _bound(wrapping: AESGCM, key: bytes, salt: bytes, n: int, purpose: str, owner: str) -> dict[str, str]:
    nonce = os.urandom(_NONCE)
    return {
        "format": KEY_FILE_FORMAT,
        "purpose": purpose,
        "owner": owner,
        "kdf": f"scrypt-n{n.bit_length() - 1}-r8-p1",
        "salt": salt.hex(),
        "nonce": nonce.hex(),
        "ciphertext": wrapping.encrypt(nonce, key, _key_aad(purpose, owner)).hex(),
    }


def _open_bound(
    data: dict[str, Any], passphrase: str, n: int, *, purpose: str, owner: str, what: str, variable: str
) -> tuple[bytes, dict[str, str] | None]:
    """The key in ``data`` (of :func:`_wrapped_shape`, work factor ``n`` checked) for ``purpose`` and ``owner``, and
    None; or, for a file of the layout before ``pl-key/2`` (no ``format``, associated data ``pl-vault``: its purpose
    is the caller's word), the key and the file rewrapped bound to them, under the same salt (no second scrypt).

    The stated purpose and owner are compared before any scrypt, so a swapped file is named for what it holds; they
    are the associated data too, so a file whose statement was edited to pass does not open at all."""
    stated = data.get("format")
    if stated is not None and not (isinstance(data.get("purpose"), str) and isinstance(data.get("owner"), str)):
        raise KeystoreError(f"{what} is not an encrypted key file; restore it from a backup")
    if stated is not None and stated != KEY_FILE_FORMAT:
        raise KeystoreError(
            f"{what} is of layout {str(stated)[:40]!r}, which this version does not read; restore it from a backup"
        )
    if stated is not None and (data.get("purpose"), data.get("owner")) != (purpose, owner):
        anew = _OWNER_CHANGED.get(purpose, "") if data.get("purpose") == purpose else ""
        raise KeystoreError(
            f"{what} holds {_described(data.get('purpose'), data.get('owner'))}, not {_described(purpose, owner)}: "
            "the file was swapped for another key file or copied from elsewhere, and was left as it is. "
            f"Put this file's own content back: restore it from a backup{anew}"
        )
    salt = bytes.fromhex(data["salt"])
    wrapping = AESGCM(_kdf(salt, n).derive(passphrase.encode()))
    aad = _key_aad(purpose, owner) if stated is not None else _OLD_KEY_AAD
    try:
        key = wrapping.decrypt(bytes.fromhex(data["nonce"]), bytes.fromhex(data["ciphertext"]), aad)
    except InvalidTag:
        raise KeystoreError(
            f"wrong passphrase for {what} ({variable}), or the file was altered: check the passphrase, else "
            "restore the file from a backup"
        ) from None
    return key, None if stated is not None else _bound(wrapping, key, salt, n, purpose, owner)
