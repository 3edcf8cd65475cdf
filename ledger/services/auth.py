"""Department sign-in for the gateway: a signed challenge exchanged for a short-lived token.

1. ``challenge(department)`` stores a one-time challenge and returns the text to sign, in the EIP-4361
   ("Sign-In with Ethereum") format: it opens with the gateway's domain and names the signing account (the
   department's registered key unless the caller names one), the department (statement), the gateway's URI, the
   chain id, a random nonce, the issue time, the expiry and the registry contract (resource, EIP-681 URI).
2. The department signs it with its registered key (EIP-191 ``personal_sign``) and calls ``exchange``. The
   stored text must name *this* gateway (domain and URI = its ``audience``), this chain and registry, the
   challenge's department and nonce, the account that signed it, and must not have expired: a challenge issued
   by another gateway, even one sharing this database, is refused. The signature must recover to the
   department's *current* key and the department must be active. The challenge is consumed atomically (one
   UPDATE ... WHERE used_at IS NULL), so a replayed signature is refused.
3. The token is ``plt1.<payload>.<mac>``: a base64url JSON payload (department, signer address, jti, issue and
   expiry times, chain id, audience) and its HMAC-SHA256 under the gateway secret. A token whose audience is
   another gateway is refused, even when both gateways share the secret.

Every request re-checks the chain (``authenticate``): the token's signer must still be the department's current
key and the department active, so a suspension or key rotation is refused at once. A token also carries the
department's *epoch* at sign-in, the block of its latest key rotation or suspension: a token from before a
suspension stays dead after the reinstatement. The gateway keeps a row per token it issued (``auth_issued_token``),
sealed with a MAC under its token secret (:func:`token_seal`), and honours a token only while its row is there
with that seal; ``sign_out`` ends one token by deleting its row. The secret is not in the database, so an insider
who deletes or edits rows ends tokens, never revives one, and cannot write the row of a signed-out token (red team
round 42t: a list of signed-out tokens was revived by deleting or editing its row). Open: a copy of a live token's
row, kept and written back after the sign-out, revives it until its expiry (docs/threat-model.md). Registry reads
are cached per block (and for ``cache_seconds`` at most): a suspension is a transaction, hence a new block, hence a
fresh read.
Roles always come from the registry at request time, never from the token.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from eth_account.messages import encode_defunct
from eth_utils import to_checksum_address
from pydantic import SecretStr
from sqlalchemy import Engine, delete, select, update
from sqlmodel import col

from ..config import secret_env
from ..errors import ConfigError, InputError, KeystoreError, LedgerError, NotFoundError
from ..formats.canonical import json_loads
from ..formats.signing import recover
from ..onchain.chain import Chain, department_id_bytes
from ..storage import keycheck
from ..storage._files import create_exclusive, read_key_file, replace_private
from ..storage.models import AuthChallenge, IssuedToken, aware, given_time
from ..storage.vault import KEY_FILE_FORMAT, unwrap_secret, wrap_secret
from .departments import Department, get_department

TOKEN_PREFIX = "plt1"  # noqa: S105 - the token format tag, not a secret
DEFAULT_TOKEN_TTL = timedelta(minutes=15)
# Challenges a day past their expiry are deleted at most this often, not by every request for one: the table's
# ``expires_at`` has no index, so the deletion scans it whole, and an anonymous client asking for challenges all day
# made each request for one (an honest sign-in's too) cost more with every challenge asked (red team round 64)
CHALLENGE_PURGE_SECONDS = 60
DEFAULT_CHALLENGE_TTL = timedelta(minutes=5)
MIN_SECRET_BYTES = 32
TOKEN_SECRET_PURPOSE = "api-token"  # noqa: S105 - the token secret file's purpose (pl-key/2) and key_check row
CLOCK_SKEW = timedelta(seconds=60)
DEFAULT_AUDIENCE = "http://127.0.0.1:8000"
_SIGN_IN = " wants you to sign in with your Ethereum account:"
_SEAL_TAG = b"pl-issued-token/1\0"  # domain-separates a row's seal from a token's own MAC under the same secret


class AuthenticationError(LedgerError):
    """The caller could not be identified: no token, a forged or expired token, a key that is no longer current."""


class PermissionDenied(LedgerError):
    """The caller is identified but may not do this (missing role, suspended department, no live grant)."""


def department_epoch(department: Department) -> int:
    """The block of the department's latest key rotation or suspension (its registration if none): tokens
    issued in an earlier epoch are no longer honoured, even if the department was reinstated since."""
    blocks = [
        department.registered_block,
        *(k.from_block for k in department.keys),
        *(s.from_block for s in department.statuses if not s.active),
    ]
    return max(blocks)


@dataclass(frozen=True)
class Challenge:
    id: str
    department: str
    message: str
    expires_at: datetime


@dataclass(frozen=True)
class Principal:
    """An authenticated department as the chain sees it at this request."""

    department: str
    signer: str
    roles: tuple[str, ...]
    jti: str
    expires_at: datetime

    def has(self, role: str) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class Attempt:
    """A request to protected data, whether or not its caller could be authenticated (so refusals are logged)."""

    principal: Principal | None
    failure: LedgerError | None = None
    claimed_department: str | None = None
    claimed_signer: str | None = None

    @property
    def department(self) -> str | None:
        return self.principal.department if self.principal else self.claimed_department

    @property
    def signer(self) -> str | None:
        return self.principal.signer if self.principal else self.claimed_signer


@dataclass(frozen=True)
class Token:
    value: str
    principal: Principal


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_FROM_ENVIRONMENT = object()


def load_secret(
    path: Path,
    configured: Any = _FROM_ENVIRONMENT,
    *,
    passphrase: str | None,
    owner: str,
    engine: Engine | None = None,
) -> bytes:
    """The token secret: ``LEDGER_API_SECRET`` (hex), else the key file ``path``, encrypted at rest under
    ``passphrase`` (``LEDGER_PASSPHRASE``) and bound to its purpose (``api-token``) and ``owner`` (the chain's
    origin), as the other key files are (layout ``pl-key/2``); created with 32 random bytes at first use.

    A secret shorter than ``MIN_SECRET_BYTES`` is refused from either source (an empty key makes every token
    forgeable). The file is written whole under a temporary name and then hard-linked into place, so workers
    starting together never see a partial file: the first link wins and every worker reads the winner's secret.

    A file of the layout before (the secret in the clear) is wrapped at its first open (written whole, synced,
    renamed into place; racing workers each write the one secret). With ``engine`` (the gateway's), the secret's
    check value is recorded in the database (``storage/keycheck.py``) at the wrapped file's first open, and a clear
    file is taken only while it holds that secret: one planted in place of the wrapped file later is refused, as is
    a wrapped file holding another secret than the one recorded (an old file put back after a rotation, red team
    round 62). Deleting the file makes a new secret, recorded in place of the old."""
    if configured is _FROM_ENVIRONMENT:  # callers with Settings pass settings.api_secret
        configured = secret_env("LEDGER_API_SECRET")
    raw = configured.get_secret_value() if isinstance(configured, SecretStr) else configured
    if raw:
        try:
            secret = bytes.fromhex(raw)
        except ValueError:
            raise ConfigError(
                "LEDGER_API_SECRET must be hex: 64 hex digits of random bytes (e.g. `openssl rand -hex 32`)"
            ) from None
        return _checked_secret(secret, "LEDGER_API_SECRET")
    if not passphrase:
        raise ConfigError(
            f"the gateway's token secret {path} is kept encrypted at rest: set LEDGER_PASSPHRASE, or give the "
            "secret in LEDGER_API_SECRET (64 hex digits, from a secret manager)"
        )
    try:
        content = read_key_file(path, "the token secret file")
    except FileNotFoundError:
        return _create_secret(path, passphrase, owner, engine)
    try:
        data = json_loads(content)
    except ValueError:
        data = None
    if not isinstance(data, dict):  # the layout before: the secret in the clear
        return _wrapped_in_place(path, _checked_secret(content, str(path)), passphrase, owner, engine)
    if data.get("format") != KEY_FILE_FORMAT:
        raise KeystoreError(
            f"the token secret file {path} holds a JSON document that is no key file the gateway wrote (layout "
            f"{KEY_FILE_FORMAT}); restore it from a backup, or delete it to have a new secret made (every session "
            "token then ends)"
        )
    what = f"the token secret file {path}"
    secret = _checked_secret(
        unwrap_secret(data, passphrase, what, "LEDGER_PASSPHRASE", purpose=TOKEN_SECRET_PURPOSE, owner=owner),
        str(path),
    )
    if engine is not None:
        check = keycheck.check_value(secret, TOKEN_SECRET_PURPOSE)
        if not hmac.compare_digest(keycheck.record(engine, TOKEN_SECRET_PURPOSE, check), check):
            # an older secret's file put back after a rotation (the file deleted, a new secret made and recorded):
            # whoever learnt the old one would mint tokens again (red team round 62)
            raise KeystoreError(
                f"the token secret file {path} holds a secret that is not the one this gateway's database records: "
                "an older file was put back in place of the current one (a backup restored, or the old secret's file "
                "after a rotation), and nothing was read with it. Restore the current file from a backup, or delete "
                "it to have a new secret made (every session token then ends)"
            )
    return secret


def _checked_secret(secret: bytes, source: str) -> bytes:
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"the token secret from {source} holds {len(secret)} bytes; it must hold at least "
            f"{MIN_SECRET_BYTES} bytes (64 hex digits in LEDGER_API_SECRET). Delete a damaged "
            "secret file to have a new one generated (every session token then ends)."
        )
    return secret


def _create_secret(path: Path, passphrase: str, owner: str, engine: Engine | None) -> bytes:
    secret = secrets.token_bytes(MIN_SECRET_BYTES)
    wrapped = wrap_secret(secret, passphrase, purpose=TOKEN_SECRET_PURPOSE, owner=owner)
    if not create_exclusive(path, json.dumps(wrapped).encode()):  # another worker's secret is in place: read it
        return load_secret(path, None, passphrase=passphrase, owner=owner, engine=engine)
    if engine is not None:  # a secret made anew (first start, or the file deleted on purpose): this one is recorded
        keycheck.replace(engine, TOKEN_SECRET_PURPOSE, keycheck.check_value(secret, TOKEN_SECRET_PURPOSE))
    return secret


def _wrapped_in_place(path: Path, secret: bytes, passphrase: str, owner: str, engine: Engine | None) -> bytes:
    """The clear secret of ``path`` (the layout before ``pl-key/2``), wrapped in place; refused when the database
    records another secret (a clear file planted where the wrapped one was: it would make its planter's bytes the
    secret)."""
    check = keycheck.check_value(secret, TOKEN_SECRET_PURPOSE)
    held = keycheck.recorded(engine, TOKEN_SECRET_PURPOSE) if engine is not None else None
    if held is not None and not hmac.compare_digest(held, check):
        raise KeystoreError(
            f"the token secret file {path} holds a secret in the clear that is not the one this gateway's database "
            "records: the wrapped file was replaced, and nothing was read with it. Restore the file from a backup, "
            "or delete it to have a new secret made (every session token then ends)"
        )
    wrapped = wrap_secret(secret, passphrase, purpose=TOKEN_SECRET_PURPOSE, owner=owner)
    with contextlib.suppress(OSError):  # a directory it may not write keeps the clear file (wrapped at a next open)
        replace_private(path, json.dumps(wrapped).encode())
    if engine is not None:
        keycheck.record(engine, TOKEN_SECRET_PURPOSE, check)
    return secret


def token_seal(secret: bytes, *, jti: str, department: str, expires: int) -> str:
    """The MAC an issued token's row carries: over the token's id, department and expiry (as its MAC-checked
    payload states them), under the token secret and a tag of its own (a seal is never a token's MAC). The text is
    ``jti|department|expires``, one reading only: neither the id nor the expiry (an integer) holds a ``|``."""
    return hmac.digest(secret, _SEAL_TAG + f"{jti}|{department}|{expires}".encode(), "sha256").hex()


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _statement(department: str) -> str:
    return f"Sign in to the Provenance Ledger gateway as department {department}."


def _registry_resource(registry: str, chain_id: int) -> str:
    return f"ethereum:{registry}@{chain_id}"  # EIP-681: the registry contract on that chain


def sign_in_message(
    *,
    domain: str,
    address: str,
    uri: str,
    department: str,
    chain_id: int,
    registry: str,
    nonce: str,
    issued_at: datetime,
    expires_at: datetime,
) -> str:
    """The challenge text in the EIP-4361 (Sign-In with Ethereum) format, so wallets show it as a sign-in to
    ``domain`` (and warn when the page asking for it is elsewhere)."""
    return "\n".join(
        [
            f"{domain}{_SIGN_IN}",
            address,
            "",
            _statement(department),
            "",
            f"URI: {uri}",
            "Version: 1",
            f"Chain ID: {chain_id}",
            f"Nonce: {nonce}",
            f"Issued At: {_timestamp(issued_at)}",
            f"Expiration Time: {_timestamp(expires_at)}",
            "Resources:",
            f"- {_registry_resource(registry, chain_id)}",
        ]
    )


def parse_sign_in_message(message: str) -> dict[str, str]:
    """The parts of an EIP-4361 text: ``domain``, ``address``, ``statement``, each ``Name: value`` field and
    ``Resources`` (one per line). AuthenticationError if it is not one; a field given twice is refused (the first
    and the last would each have a reader that trusts it)."""
    lines = message.split("\n")
    if len(lines) < 6 or not lines[0].endswith(_SIGN_IN) or lines[2] or lines[4]:
        raise AuthenticationError("the challenge text is not a Sign-In with Ethereum message; request a new one")
    fields = {"domain": lines[0].removesuffix(_SIGN_IN), "address": lines[1], "statement": lines[3]}
    rest = iter(lines[5:])
    for line in rest:
        if line == "Resources:":
            fields["Resources"] = "\n".join(item.removeprefix("- ") for item in rest)
            break
        name, sep, value = line.partition(": ")
        if not sep or name in fields:
            raise AuthenticationError("the challenge text is malformed; request a new challenge")
        fields[name] = value
    return fields


@dataclass
class _Cached:
    block: int
    fetched: float
    department: Department | None


@dataclass
class Authenticator:
    """Issues challenges and tokens, and authenticates tokens against the registry on every request."""

    chain: Chain
    engine: Engine
    secret: bytes
    audience: str = DEFAULT_AUDIENCE  # this gateway's public URL: challenges and tokens are bound to it
    token_ttl: timedelta = DEFAULT_TOKEN_TTL
    challenge_ttl: timedelta = DEFAULT_CHALLENGE_TTL
    cache_seconds: float = 2.0
    domain: str = field(init=False, default="")
    _cache: dict[str, _Cached] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)
    _purged_at: datetime | None = None  # when the expired challenges were last deleted (CHALLENGE_PURGE_SECONDS)

    def __post_init__(self) -> None:
        self.audience = self.audience.rstrip("/")
        self.domain = urlsplit(self.audience).netloc
        if not self.domain:
            raise ConfigError(f"the gateway's public URL {self.audience!r} has no host; set LEDGER_API_PUBLIC_URL")

    # -- the registry, read through a per-block cache -------------------------------------------------------
    def department(self, code: str) -> Department | None:
        """The department as registered now (None if unknown); never older than the current block."""
        block = self.chain.block_number()
        with self._guard:
            cached = self._cache.get(code)
            if cached and cached.block == block and time.monotonic() - cached.fetched < self.cache_seconds:
                return cached.department
        try:
            department: Department | None = get_department(self.chain, code)
        except NotFoundError:
            department = None
        with self._guard:
            self._cache[code] = _Cached(block, time.monotonic(), department)
        return department

    # -- sign-in --------------------------------------------------------------------------------------------
    def challenge(self, department: str, *, now: datetime, address: str | None = None) -> Challenge:
        """A challenge for ``department`` to sign with ``address`` (by default its registered key).

        Issued for any well-formed code, so it reveals nothing the chain does not: for an unregistered code with
        no ``address`` the text names a stable address derived from the secret, which no one holds.
        """
        now = given_time(now, "now")
        department_id_bytes(department)  # InputError on a malformed code
        if address is None:
            registered = self.department(department)
            address = registered.signer if registered else _decoy_address(self.secret, department)
        try:
            address = to_checksum_address(address)
        except ValueError:
            raise InputError(f"{address!r} is not an Ethereum address (0x and 40 hex digits)") from None
        nonce = secrets.token_hex(32)
        issued = now.replace(microsecond=0)
        expires = issued + self.challenge_ttl
        message = sign_in_message(
            domain=self.domain,
            address=address,
            uri=self.audience,
            department=department,
            chain_id=self.chain.chain_id,
            registry=self.chain.deployment.registry,
            nonce=nonce,
            issued_at=issued,
            expires_at=expires,
        )
        table = AuthChallenge.__table__  # type: ignore[attr-defined]
        with self.engine.begin() as conn:
            conn.execute(
                table.insert().values(
                    id=nonce, department_id=department, message=message, created_at=now, expires_at=expires
                )
            )
            # answered or not, a challenge is useless a day after it expired: keep the table small, deleting them
            # at most once a minute (the scan is of the whole table; a clock set back deletes at once)
            if self._purge_due(now):
                conn.execute(delete(table).where(table.c.expires_at < now - timedelta(days=1)))
        return Challenge(nonce, department, message, expires)

    def _purge_due(self, now: datetime) -> bool:
        """Whether this request deletes the expired challenges: none has for ``CHALLENGE_PURGE_SECONDS``."""
        with self._guard:
            last = self._purged_at
            if last is not None and last <= now < last + timedelta(seconds=CHALLENGE_PURGE_SECONDS):
                return False
            self._purged_at = now
            return True

    def exchange(self, challenge_id: str, signature: str, *, now: datetime) -> Token:
        """Check the signed challenge and return a token; AuthenticationError says what was wrong."""
        now = given_time(now, "now")
        with self.engine.connect() as conn:
            row = conn.execute(select(AuthChallenge).where(AuthChallenge.id == challenge_id)).first()  # type: ignore[arg-type]
        if row is None:
            raise AuthenticationError("unknown challenge; request a new one from POST /auth/challenge")
        if not isinstance(row.message, str) or not isinstance(row.department_id, str):  # SQLite keeps a blob there
            raise AuthenticationError("this challenge's stored record was altered; request a new one")
        fields = self._check_binding(row.message, department=row.department_id, nonce=row.id, now=now)
        if row.used_at is not None:
            raise AuthenticationError("this challenge was already used; request a new one (challenges are single-use)")
        if aware(row.expires_at) <= now:
            raise AuthenticationError("the challenge expired; request a new one and sign it promptly")
        try:
            raw = bytes.fromhex(signature.removeprefix("0x"))
            signer = recover(encode_defunct(text=row.message), raw)  # the one reading of v (signing.recover)
        except Exception:  # noqa: BLE001 - eth-keys raises several types for malformed signatures
            raise AuthenticationError("the signature is not a valid EIP-191 signature of the challenge text") from None
        if signer.lower() != fields["address"].lower():
            raise AuthenticationError(
                f"the challenge was signed by {signer}, not by {fields['address']}, the account it names"
            )
        department = self.department(row.department_id)
        if department is None or department.signer.lower() != signer.lower():
            raise AuthenticationError(
                f"the challenge was signed by {signer}, which is not the current registered key "
                f"of department {row.department_id!r}"
            )
        if not department.active:
            raise PermissionDenied(f"department {row.department_id!r} is suspended by the council")
        with self.engine.begin() as conn:
            used = conn.execute(
                update(AuthChallenge)
                .where(col(AuthChallenge.id) == challenge_id, col(AuthChallenge.used_at).is_(None))
                .values(used_at=now)
            )
        if used.rowcount != 1:
            raise AuthenticationError("this challenge was already used; request a new one (challenges are single-use)")
        return self.mint(
            department.code,
            department.signer,
            now=now,
            roles=tuple(department.roles),
            epoch=department_epoch(department),
        )

    def _check_binding(self, message: str, *, department: str, nonce: str, now: datetime) -> dict[str, str]:
        """The challenge text names this gateway, chain, registry, department and nonce, and is in its lifetime;
        returns its fields."""
        fields = parse_sign_in_message(message)
        if fields["domain"] != self.domain or fields.get("URI") != self.audience:
            raise AuthenticationError(
                f"this challenge was issued by the gateway at {fields['domain']} ({fields.get('URI')}), not by this "
                f"one ({self.audience}); a challenge works only where it was issued: request one from this gateway"
            )
        chain_id = self.chain.chain_id
        expected = {
            "statement": _statement(department),
            "Version": "1",
            "Chain ID": str(chain_id),
            "Nonce": nonce,
            "Resources": _registry_resource(self.chain.deployment.registry, chain_id),
        }
        for name, value in expected.items():
            if fields.get(name) != value:
                raise AuthenticationError(
                    f"the challenge names {name} {fields.get(name)!r}, this gateway expects "
                    f"{value!r}; request a new challenge"
                )
        try:
            issued = datetime.fromisoformat(fields["Issued At"])
            expires = datetime.fromisoformat(fields["Expiration Time"])
        except (KeyError, ValueError):
            raise AuthenticationError("the challenge has no valid issue or expiry time; request a new one") from None
        if issued > now + CLOCK_SKEW:  # replicas sharing a public URL may disagree a little on the time
            raise AuthenticationError("the challenge was issued in the future (clock skew?); request a new one")
        if expires <= now:
            raise AuthenticationError("the challenge expired; request a new one and sign it promptly")
        return fields

    # -- tokens ---------------------------------------------------------------------------------------------
    def mint(
        self, department: str, signer: str, *, now: datetime, roles: tuple[str, ...] = (), epoch: int = 0
    ) -> Token:
        expires = now + self.token_ttl
        jti = secrets.token_hex(16)
        payload = {
            "v": 1,
            "sub": department,
            "signer": signer,
            "jti": jti,
            "chain": self.chain.chain_id,
            "aud": self.audience,
            "epoch": epoch,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
        }
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        mac = _b64(hmac.new(self.secret, f"{TOKEN_PREFIX}.{body}".encode(), hashlib.sha256).digest())
        seal = token_seal(self.secret, jti=jti, department=department, expires=int(expires.timestamp()))
        table = IssuedToken.__table__  # type: ignore[attr-defined]
        with self.engine.begin() as conn:
            conn.execute(table.insert().values(jti=jti, department_id=department, expires_at=expires, seal=seal))
            # most tokens are never signed out: their rows go a day after they expired
            conn.execute(delete(table).where(table.c.expires_at < now - timedelta(days=1)))
        principal = Principal(department, signer, roles, jti, datetime.fromtimestamp(int(expires.timestamp()), UTC))
        return Token(f"{TOKEN_PREFIX}.{body}.{mac}", principal)

    def claims(self, token: str) -> dict[str, Any]:
        """The token's payload after checking its MAC (not its expiry); AuthenticationError if forged."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            raise AuthenticationError("malformed token; sign in again via POST /auth/challenge")
        expected = hmac.new(self.secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        try:
            given = _unb64(parts[2])
            if not hmac.compare_digest(expected, given):
                raise ValueError
            payload = json_loads(_unb64(parts[1]))
            if not isinstance(payload, dict) or payload.get("v") != 1:
                raise ValueError
        except ValueError:
            raise AuthenticationError("the token's signature is not valid; sign in again") from None
        if payload.get("chain") != self.chain.chain_id:
            raise AuthenticationError("the token was issued for another chain; sign in again")
        if payload.get("aud") != self.audience:
            raise AuthenticationError(
                f"the token was issued by another gateway ({payload.get('aud')}), not by this "
                f"one ({self.audience}); sign in at this gateway"
            )
        return payload

    def unverified_claims(self, token: str) -> dict[str, Any]:
        """What a token *claims*, without trusting it: only for recording who tried."""
        try:
            payload = json_loads(_unb64(token.split(".")[1]))  # bounded: a forged one may be any depth
            return payload if isinstance(payload, dict) else {}
        except Exception:  # noqa: BLE001 - garbage in, nothing claimed
            return {}

    def authenticate(self, token: str, *, now: datetime) -> Principal:
        now = given_time(now, "now")
        claims = self.claims(token)
        expires = datetime.fromtimestamp(int(str(claims["exp"])), UTC)
        if expires <= now:
            raise AuthenticationError(f"the token expired at {expires.isoformat()}; sign in again")
        code, signer = str(claims["sub"]), str(claims["signer"])
        department = self.department(code)
        if department is None or department.signer.lower() != signer.lower():
            raise AuthenticationError(
                f"key {signer} is no longer the registered key of department {code!r} "
                "(rotated out); sign in again with the current key"
            )
        if not department.active:
            raise PermissionDenied(f"department {code!r} is suspended by the council")
        epoch = department_epoch(department)
        if claims.get("epoch") != epoch:
            raise AuthenticationError(
                f"the council suspended department {code!r} or rotated its key at block "
                f"{epoch}, after this token was issued; sign in again"
            )
        jti = str(claims["jti"])
        with self.engine.connect() as conn:
            stored = conn.execute(select(IssuedToken.seal).where(IssuedToken.jti == jti)).scalar()  # type: ignore[call-overload]
        if stored is None:
            raise AuthenticationError(
                "this token was signed out (the gateway holds no record of it any more); sign in again"
            )
        seal = token_seal(self.secret, jti=jti, department=code, expires=int(expires.timestamp()))
        if not isinstance(stored, str) or not hmac.compare_digest(stored.encode(), seal.encode()):
            raise AuthenticationError(
                "this token's record in the gateway's database was altered (its seal is not the one this gateway "
                "wrote), so the token is no longer honoured; sign in again, and have the database's changes checked"
            )
        return Principal(code, signer, tuple(department.roles), jti, expires)

    def sign_out(self, principal: Principal, *, now: datetime) -> None:
        """End ``principal``'s token now (other tokens of the department stay valid): its row is deleted, and a row
        written back for it needs the token secret (or a copy of the row kept from before, until the expiry)."""
        now = given_time(now, "now")
        table = IssuedToken.__table__  # type: ignore[attr-defined]
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.jti == principal.jti))
            conn.execute(delete(table).where(table.c.expires_at < now - timedelta(days=1)))

    def attempt(self, token: str | None, *, now: datetime) -> Attempt:
        """Authenticate without raising: the failure is kept so the refusal can be recorded, then raised."""
        now = given_time(now, "now")
        if not token:
            return Attempt(
                None,
                AuthenticationError(
                    "this endpoint needs a bearer token; sign in via POST /auth/challenge and POST /auth/token"
                ),
            )
        try:
            return Attempt(self.authenticate(token, now=now))
        except LedgerError as exc:
            claims = self.unverified_claims(token)
            sub, signer = claims.get("sub"), claims.get("signer")
            return Attempt(
                None, exc, str(sub) if isinstance(sub, str) else None, str(signer) if isinstance(signer, str) else None
            )


def _decoy_address(secret: bytes, department: str) -> str:
    digest = hmac.new(secret, f"decoy-address:{department}".encode(), hashlib.sha256).digest()
    return to_checksum_address(digest[-20:])


def sign_challenge(account: Any, message: str) -> str:
    """Sign a challenge text the way a department's wallet would (EIP-191 personal_sign); for clients and tests."""
    return "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()
