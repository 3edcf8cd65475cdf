"""Consent from the data subject, not only the issuer: signed consent records that sharing grants rely on.

PIPL (Art. 23, 29) asks for the person's *separate* consent before their personal information is given to another
body; the issuer's word ("holder consented") is not that. Here the person gives consent themselves:

1. The department's existing authentication service (a *provider*: the government ID app, a counter with an ID
   card reader) authenticates the person, shows them the request they are making and hands them a short-lived
   **subject assertion** it signs (EIP-191): ``{"type": "pl-subject-assertion/2", "provider", "subject" (the
   identifier it verified), "assurance", "audience" (this ledger: chain id and registry), "issued_at",
   "expires_at", "nonce", "request"}``, where ``request`` is the SHA-256 of the canonical request the person
   made (:func:`consent_request`, :func:`withdrawal_request`, :func:`listing_request`, :func:`accesses_request`;
   :func:`request_digest`). The assertion proves who the person is *and* what they asked for, so a relay passing
   it on cannot change the recipient, fields, purpose or expiry, or turn a withdrawal into a consent. Every
   department's ledger on the chain shares the audience, each with its own database (and spent nonces), so each
   request names what one ledger holds: a certificate, a consent, or (a listing) the ledger's consent key. Providers
   are configured in ``LEDGER_CONSENT_PROVIDERS`` (``name=0xAddress@assurance,...``): the address whose signature
   is believed and the assurance level it stands for.
2. With that assertion the person asks the gateway (``POST /public/consents``) or an officer (``ledger consent
   give``) to record consent: which certificate, which recipient department, which purpose (a code, plus text kept
   off chain), which fields, until when. The ledger checks the assertion (known provider, signature, audience,
   time window, the request it binds, nonce used once), checks that the authenticated person *is the
   certificate's subject* (their salted reference equals the one computed from the certificate's identifying
   field), and never stores the identifier: only ``subject_ref = HMAC(vault-derived key, "pl-subject/1" 0
   identifier)``.
3. The record is signed by the ledger's own consent key (``consent-gateway``, encrypted at rest in the keystore)
   and its hash goes into the issuer's anchored access log (``action: consent``); withdrawal likewise
   (``consent-withdrawn``). On chain there are only the log's batch roots.

A grant disclosing fields the policy marks as needing consent (default: every ``subject.*`` field; configurable per
certificate type in ``LEDGER_CONSENT_POLICY``) cannot be created without a consent that is valid at that time and
covers the grant's certificate, recipient, purpose code and disclosed fields; and each read through such a grant
re-checks the consent (signature, log entry, withdrawal, expiry), so a withdrawal ends the sharing at once.

``check`` compares the consent rows with the access log: a row the ledger did not sign, a row without its logged
creation, a withdrawal in the log that the row no longer shows, a logged consent whose row is gone.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eth_account.messages import encode_defunct
from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField
from requests import RequestException
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from ..client import Ledger
from ..errors import ChainError, ConfigError, InputError, KeystoreError, LedgerError, NotFoundError, StateError
from ..formats.canonical import canonical_json, hex32, json_loads, parse_hex32
from ..formats.signing import recover
from ..onchain.ids import department_code
from ..storage import generations, keycheck
from ..storage.models import (
    CONSENT_ERASED,
    MAX_PURPOSE_TEXT,
    Consent,
    ConsentGrant,
    ConsentPublic,
    SpentAssertion,
    aware,
    given_time,
    stored_row,
)
from ..storage.store import Certificate
from ..storage.vault import ERASED
from . import _keyset, erasure, logchain
from .auth import PermissionDenied
from .departments import get_department
from .issuance import custodian_document
from .status import StoredCertificate, stored

__all__ = [
    "ASSERTION_TYPE",
    "REQUEST_TYPE",
    "Consent",
    "ConsentCreate",
    "ConsentPublic",
    "Provider",
    "SignedAssertion",
    "accesses_request",
    "check",
    "consent_request",
    "give",
    "list_consents",
    "listing_request",
    "policy_fields",
    "providers_from_env",
    "request_digest",
    "sign_assertion",
    "withdraw",
    "withdrawal_request",
]

ASSERTION_TYPE = "pl-subject-assertion/2"
UNBOUND_ASSERTION_TYPE = "pl-subject-assertion/1"  # bound no request: a relay could attach any; refused
REQUEST_TYPE = "pl-subject-request/1"
RECORD_TYPE = "pl-consent/2"  # hashes the record's random salt too: its hash confirms no guess once that is erased
UNSALTED_RECORD_TYPE = "pl-consent/1"  # a record made before records had a salt (``record_salt`` NULL)
RECORD_SALT_BYTES = 32
GATEWAY_KEY = "consent-gateway"
PROVIDERS_ENV = "LEDGER_CONSENT_PROVIDERS"
POLICY_ENV = "LEDGER_CONSENT_POLICY"
MAX_ASSERTION_LIFETIME = timedelta(minutes=15)
# A signed assertion is under a kilobyte (its members are bounded: a 64-character subject, a nonce, a digest); a file
# or body past this is none, refused before it is parsed (red team round 54: a relay padded one to any size)
MAX_ASSERTION_FILE_BYTES = 64 * 1024
MAX_CONSENT_LIFETIME = timedelta(days=366 * 5)
CLOCK_SKEW = timedelta(seconds=60)
# The field that says who a certificate is about, by preference: the person's ID number, else (a business
# licence) the unified social credit code. The authenticated identifier must equal it.
SUBJECT_ID_FIELDS = ("subject.id_number", "subject.credit_code")
PERSONAL_PREFIX = "subject."
# a pydantic (Rust regex) pattern, where `$` is the end of the text (the others end in `\Z`: Python's `$` also
# matches before a final newline)
_PURPOSE_CODE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_PROVIDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}\Z")


# -- configuration ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    """An authentication service whose subject assertions are believed: its name, signing address, assurance."""

    name: str
    address: str
    assurance: str


def providers_from_env(value: str) -> dict[str, Provider]:
    """``LEDGER_CONSENT_PROVIDERS`` (``Settings.consent_providers``): ``name=0xAddress@assurance`` items separated
    by commas."""
    raw = value
    providers: dict[str, Provider] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, rest = item.partition("=")
        address, _, assurance = rest.partition("@")
        if not sep or not _PROVIDER_NAME.match(name) or not _ADDRESS.match(address) or not assurance:
            raise ConfigError(
                f"{PROVIDERS_ENV} item {item!r} is not name=0xAddress@assurance (e.g. gov-id-app=0x12...ab@substantial)"
            )
        providers[name] = Provider(name, _checksum(address), assurance)
    return providers


def _checksum(address: str) -> str:
    from eth_utils import to_checksum_address

    return str(to_checksum_address(address))


def policy_fields(cert_type: str, fields: list[str], policy: str) -> set[str]:
    """The fields of a certificate of ``cert_type`` whose disclosure needs the subject's consent.

    ``LEDGER_CONSENT_POLICY`` is a JSON object mapping a certificate type (or ``"*"``, every other type) to
    ``"personal"`` (every ``subject.*`` field; the default), ``"none"`` or a list of field names.
    """
    raw = policy
    rule: Any = "personal"
    if raw.strip():
        try:
            table = json_loads(raw)
        except ValueError:
            raise ConfigError(
                f'{POLICY_ENV} is not JSON; e.g. {{"*": "personal", "permit": ["subject.name"]}}'
            ) from None
        if not isinstance(table, dict):
            raise ConfigError(f"{POLICY_ENV} must be a JSON object mapping certificate types to a rule")
        rule = table.get(cert_type, table.get("*", "personal"))
    if rule == "personal":
        return {f for f in fields if f.startswith(PERSONAL_PREFIX)}
    if rule == "none":
        return set()
    if isinstance(rule, list) and all(isinstance(f, str) for f in rule):
        return set(rule) & set(fields)
    raise ConfigError(f'{POLICY_ENV} rule for {cert_type!r} must be "personal", "none" or a list of fields')


# -- the subject assertion ----------------------------------------------------------------------------------------


class SignedAssertion(BaseModel):
    """What the authentication provider hands the person: the assertion and its EIP-191 signature."""

    model_config = ConfigDict(extra="forbid")
    assertion: dict[str, Any] = PField(
        description="The provider's statement (type pl-subject-assertion/2), "
        "binding the request it authorizes by its digest."
    )
    signature: str = PField(pattern=r"^0x[0-9a-fA-F]{130}$", description="EIP-191 signature by the provider.")


def audience(ledger: Ledger) -> str:
    """What an assertion must be addressed to: this ledger's chain and registry."""
    deployment = ledger.chain.deployment
    return f"provenance-ledger:{deployment.chain_id}:{str(deployment.registry).lower()}"


def _iso(value: datetime) -> str:
    # given_time(): an InputError (422), not an OverflowError (500), for a zoned moment whose UTC instant is outside
    # the calendar (a consent's expiry 9999-12-31T23:59:59-14:00 sent by anyone to POST /public/consents), and for a
    # naive time, which was read as the machine's local time here and as UTC where the database stores it
    return given_time(value).isoformat().replace("+00:00", "Z")


# -- the request an assertion authorizes --------------------------------------------------------------------------
# The provider shows the person what they are asking for and signs its digest into the assertion; the ledger
# recomputes the digest from the request that arrives with the assertion and refuses any other. Canonical forms:
# canonical JSON (ledger/formats/canonical.py) of these objects, so order of fields, repeated fields, the zone an
# expiry is written in and the case of a digest do not change the digest; nothing else can change without changing it.


def consent_request(consent: ConsentCreate) -> dict[str, Any]:
    """The canonical form of a consent request: every member of ``consent``, fields sorted without repeats, the
    certificate digest in lower case, the expiry in UTC (``...Z``)."""
    expires = consent.expires_at
    return {
        "type": REQUEST_TYPE,
        "action": "consent",
        "certificate": consent.certificate.lower(),
        "recipient": consent.recipient,
        "purpose_code": consent.purpose_code,
        "purpose_text": consent.purpose_text,
        "fields": sorted(set(consent.fields)),
        # an expiry without a zone is refused by give(); its digest only has to be deterministic
        "expires_at": _iso(expires) if expires.tzinfo is not None else expires.isoformat(),
    }


def withdrawal_request(consent_id: str) -> dict[str, Any]:
    """The canonical form of the request to withdraw consent ``consent_id``."""
    return {"type": REQUEST_TYPE, "action": "withdraw", "consent": consent_id}


def listing_request(ledger: Ledger) -> dict[str, Any]:
    """The canonical form of the request to list the authenticated person's consents at ``ledger``, which it names
    by the address of the ledger's consent key (the ``signer`` of every consent it records). The other requests
    name a certificate or a consent, which one ledger holds; a listing named none, so an assertion for it was good
    at every department's ledger on the chain (each keeps its own database, so the nonce spent at one is unspent
    at the others): a relay the person asked to list their consents at one could list them at all."""
    return {"type": REQUEST_TYPE, "action": "list-consents", "ledger": gateway_address(ledger).lower()}


# the listing request before it named its ledger (refused, saying what the provider must sign instead)
_UNBOUND_LISTING = {"type": REQUEST_TYPE, "action": "list-consents"}


def accesses_request(certificate: str) -> dict[str, Any]:
    """The canonical form of the request to list who accessed certificate ``certificate`` (a digest)."""
    return {"type": REQUEST_TYPE, "action": "list-accesses", "certificate": certificate.lower()}


def request_digest(request: dict[str, Any]) -> str:
    """What an assertion's ``request`` member holds: ``0x`` + SHA-256 of the request's canonical JSON."""
    return "0x" + hashlib.sha256(canonical_json(request)).hexdigest()


def sign_assertion(
    account: Any,
    *,
    provider: str,
    subject: str,
    assurance: str,
    audience: str,
    issued_at: datetime,
    request: dict[str, Any],
    lifetime: timedelta = timedelta(minutes=5),
) -> SignedAssertion:
    """What a provider does (tests, the demo, and providers' integrators): sign a subject assertion that
    authorizes ``request`` (one of :func:`consent_request`, :func:`withdrawal_request`, :func:`listing_request`,
    :func:`accesses_request`), after showing the person what it asks."""
    body = {
        "type": ASSERTION_TYPE,
        "provider": provider,
        "subject": subject,
        "assurance": assurance,
        "audience": audience,
        "issued_at": _iso(issued_at),
        "expires_at": _iso(issued_at + lifetime),
        "nonce": secrets.token_hex(16),
        "request": request_digest(request),
    }
    signature = account.sign_message(encode_defunct(primitive=canonical_json(body))).signature
    return SignedAssertion(assertion=body, signature="0x" + bytes(signature).hex())


@dataclass(frozen=True)
class Subject:
    """An authenticated data subject: the provider, assurance and salted reference (never the identifier)."""

    provider: str
    assurance: str
    ref: str
    nonce_hash: str = ""
    assertion_expires: datetime | None = None


def _time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise InputError("missing or not an ISO 8601 time", field=f"assertion.{name}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{value!r} is not an ISO 8601 time", field=f"assertion.{name}") from None
    if parsed.tzinfo is None:
        raise InputError("needs a time zone", field=f"assertion.{name}")
    return parsed


def _ref_key(ledger: Ledger) -> bytes:
    return ledger.vault.derive(b"pl-subject-ref/1")


def subject_ref(ledger: Ledger, identifier: str) -> str:
    """The salted reference of a subject identifier (an ID number, a credit code): keyed, so not guessable."""
    normal = identifier.strip().upper()
    return "0x" + hmac.new(_ref_key(ledger), b"pl-subject/1\x00" + normal.encode(), hashlib.sha256).hexdigest()


def authenticate(
    ledger: Ledger,
    signed: SignedAssertion,
    *,
    request: dict[str, Any],
    now: datetime,
    providers: dict[str, Provider] | None = None,
    spend: bool = True,
) -> Subject:
    """Check a subject assertion (provider, signature, audience, time, the request it binds, nonce once) and return
    the subject. ``request`` is the canonical form of the request the assertion arrived with; an assertion signed
    for any other is refused (PermissionDenied) and left unspent.

    The nonce is spent here (``spend=False``: checked but left for :func:`spend_assertion`, so a request refused
    for bad input does not cost the person their assertion), so an assertion serves one request: a relay cannot
    replay it.
    """
    now = given_time(now, "now")
    providers = providers_from_env(ledger.settings.consent_providers) if providers is None else providers
    body = signed.assertion
    if body.get("type") == UNBOUND_ASSERTION_TYPE:
        raise InputError(
            f"a {UNBOUND_ASSERTION_TYPE} assertion binds no request, so whoever passes it on could "
            f"attach any; the provider must sign a {ASSERTION_TYPE} assertion with the digest of this "
            "request (docs/privacy.md)",
            field="assertion.type",
        )
    if body.get("type") != ASSERTION_TYPE:
        raise InputError(f"not a subject assertion; type must be {ASSERTION_TYPE!r}", field="assertion.type")
    name = body.get("provider")
    provider = providers.get(name) if isinstance(name, str) else None
    if provider is None:
        raise PermissionDenied(
            f"authentication provider {name!r} is not configured here ({PROVIDERS_ENV}); "
            f"known: {sorted(providers) or 'none'}"
        )
    try:
        signer = recover(encode_defunct(primitive=canonical_json(body)), bytes.fromhex(signed.signature[2:]))
    except Exception:  # noqa: BLE001 - eth-keys raises several types for malformed signatures
        raise PermissionDenied("the assertion's signature cannot be recovered; ask the provider again") from None
    if signer != provider.address:
        raise PermissionDenied(f"the assertion is not signed by provider {provider.name!r}'s key")
    if body.get("audience") != audience(ledger):
        raise PermissionDenied(
            f"the assertion is addressed to {body.get('audience')!r}, not to this ledger ({audience(ledger)})"
        )
    if body.get("assurance") != provider.assurance:
        raise PermissionDenied(
            f"provider {provider.name!r} vouches for assurance {provider.assurance!r}, the "
            f"assertion claims {body.get('assurance')!r}"
        )
    issued, expires = _time(body.get("issued_at"), "issued_at"), _time(body.get("expires_at"), "expires_at")
    if expires - issued > MAX_ASSERTION_LIFETIME or expires <= issued:
        raise InputError(f"an assertion lives at most {MAX_ASSERTION_LIFETIME}", field="assertion.expires_at")
    if not issued - CLOCK_SKEW <= now < expires:
        raise PermissionDenied(f"the assertion is valid from {_iso(issued)} to {_iso(expires)}; authenticate again")
    subject, nonce = body.get("subject"), body.get("nonce")
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 64:
        raise InputError(
            "the authenticated identifier is missing or longer than 64 characters", field="assertion.subject"
        )
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= 64:
        raise InputError("16-64 characters", field="assertion.nonce")
    bound, expected = body.get("request"), request_digest(request)
    if not isinstance(bound, str) or not re.fullmatch(r"0x[0-9a-f]{64}", bound):
        raise InputError(
            "missing or not 0x + 64 lower-case hex digits: the digest of the request the assertion "
            "authorizes (docs/privacy.md)",
            field="assertion.request",
        )
    if not hmac.compare_digest(bound, expected):
        raise PermissionDenied(
            f"the assertion was signed for another request (digest {bound}) than the "
            f"{request['action']} request it came with ({expected}): what the person agreed "
            "to was changed on the way, or the assertion belongs to an earlier request; ask the "
            "provider for an assertion of exactly this request"
        )
    spent = hashlib.sha256(f"{provider.name}\x00{nonce}".encode()).hexdigest()
    with ledger.engine.connect() as conn:
        used = conn.execute(
            select(SpentAssertion.nonce_hash).where(  # type: ignore[call-overload]
                SpentAssertion.nonce_hash == spent
            )
        ).first()
    if used is not None:
        raise PermissionDenied("this assertion was used already; authenticate again for a new one")
    found = Subject(provider.name, provider.assurance, subject_ref(ledger, subject), spent, expires)
    if spend:
        spend_assertion(ledger, found)
    return found


def spend_assertion(ledger: Ledger, subject: Subject) -> None:
    """Mark the subject's assertion used (PermissionDenied if it was, even by a concurrent request)."""
    try:
        with ledger.engine.begin() as conn:
            conn.execute(
                SpentAssertion.__table__.insert().values(  # type: ignore[attr-defined]
                    nonce_hash=subject.nonce_hash, expires_at=subject.assertion_expires
                )
            )
    except IntegrityError:
        raise PermissionDenied("this assertion was used already; authenticate again for a new one") from None


# -- records ------------------------------------------------------------------------------------------------------


class ConsentCreate(BaseModel):
    """What the subject consents to."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "certificate": "0x" + "ab" * 32,
                    "recipient": "INS",
                    "purpose_code": "insurance-claim",
                    "purpose_text": "medical insurance claim 2026-0042",
                    "fields": ["subject.name"],
                    "expires_at": "2026-12-31T23:59:59Z",
                }
            ]
        },
    )
    certificate: str = PField(pattern=r"^0x[0-9a-fA-F]{64}$", description="Digest of the subject's certificate.")
    recipient: str = PField(min_length=1, max_length=32, description="Department that may receive the data.")
    purpose_code: str = PField(pattern=_PURPOSE_CODE.pattern, description="The purpose, as a code; grants name it.")
    purpose_text: str = PField(
        min_length=1,
        max_length=MAX_PURPOSE_TEXT,
        description="The purpose in words, as shown to the person; kept off chain.",
    )
    fields: list[str] = PField(min_length=1, max_length=64, description="Fields the recipient may see.")
    expires_at: datetime = PField(description="End of the consent (ISO 8601 with time zone).")


def new_record_salt() -> str:
    """A fresh random salt for a consent record (hex), kept in its row, never in an answer or an entry."""
    return secrets.token_hex(RECORD_SALT_BYTES)


def _statement(row: Consent) -> dict[str, Any]:
    """What the ledger signs: everything but the withdrawal (which the access log carries), and (``pl-consent/2``)
    the record's random salt. Its hash is kept in the row and the anchored ``consent`` entry for ever, and every
    other member is in the row or the entry, or (the subject reference) in the person's other consents: without
    the salt, a rebuilt record per candidate person and purpose text would confirm both after erasure emptied them.
    A record made before (``record_salt`` NULL) is the ``pl-consent/1`` statement it was signed as."""
    kind = {"type": UNSALTED_RECORD_TYPE} if row.record_salt is None else {"type": RECORD_TYPE, "salt": row.record_salt}
    return {
        **kind,
        "id": row.id,
        "certificate": row.digest,
        "issuer": row.issuer,
        "subject": row.subject_ref,
        "authentication": {"provider": row.provider, "assurance": row.assurance},
        "recipient": row.recipient,
        "purpose": {
            "code": row.purpose_code,
            "text_sha256": "0x" + hashlib.sha256(row.purpose_text.encode()).hexdigest(),
        },
        "fields": sorted(row.fields),
        "given_at": _iso(aware(row.given_at)),
        "expires_at": _iso(aware(row.expires_at)),
    }


def _record_message(row: Consent) -> Any:
    return encode_defunct(primitive=canonical_json(_statement(row)))


def _record_hash(row: Consent) -> str:
    return "0x" + hashlib.sha256(canonical_json(_statement(row))).hexdigest()


def gateway_address(ledger: Ledger) -> str:
    """The address of the ledger's consent key (read without decrypting it); created on first use."""
    if not ledger.keystore.exists(GATEWAY_KEY):
        try:
            ledger.keystore.create(GATEWAY_KEY, ledger.passphrase())
        except LedgerError:
            if not ledger.keystore.exists(GATEWAY_KEY):  # another process created it meanwhile: use theirs
                raise
    return ledger.keystore.address(GATEWAY_KEY)


def _department_key_problem(ledger: Ledger, address: str) -> str | None:
    """Why the key at ``address``, read from the consent key's file, is no consent key (None: it may be): a key the
    registry knows as a department's, now or retired (a key serves one period of one department), is a department's
    file swapped or copied in (one keystore, one passphrase opens them all). Asked once per address and ledger."""
    known: dict[str, bytes] = ledger.local("consent.key_departments", dict)
    if address not in known:
        known[address] = bytes(ledger.chain.call(ledger.chain.registry.functions.departmentOf(address)))
    if not any(known[address]):
        return None
    return (
        f"the consent key's keystore file {GATEWAY_KEY}.json holds {address}, a key of department "
        f"{department_code(known[address])}: the file was swapped or copied from a department's, and no consent is "
        "signed with it. Restore the file from a backup of the consent key"
    )


def _recorded_key_problem(ledger: Ledger, address: str, *, record: bool) -> str | None:
    """Why the key at ``address``, read from the consent key's file, is not the consent key this database's records
    are signed with (None: it is, or none is recorded yet): the database records the key's address at its first
    signature (``keycheck``, purpose ``consent``; with ``record``, this signature's), so another deployment's consent
    key file under the same passphrase, no department's key here, signs nothing."""
    recorded: dict[str, str] = ledger.local("consent.recorded_key", dict)
    if "address" not in recorded:
        held = (
            keycheck.record(ledger.engine, "consent", address.lower())
            if record
            else keycheck.recorded(ledger.engine, "consent")
        )
        if held is None:
            return None
        recorded["address"] = held
    if hmac.compare_digest(recorded["address"], address.lower()):
        return None
    return (
        f"the consent key's keystore file {GATEWAY_KEY}.json holds {address}, not the consent key this database's "
        f"records are signed with ({_checksum(recorded['address'])}, recorded at its first signature): the file "
        "was swapped for another deployment's or copied from elsewhere, and no consent is signed with it. Restore "
        "the file from a backup of this deployment's consent key"
    )


def _key_unchecked(ledger: Ledger) -> str | None:
    """Why the consent key could not be checked against the registry now (:func:`_department_key_problem`: the
    node did not answer), or None: it was (or there is no key, or it was asked before). A listing asks this once,
    not once per row."""
    if not ledger.keystore.exists(GATEWAY_KEY):
        return None
    try:
        _department_key_problem(ledger, ledger.keystore.address(GATEWAY_KEY))
    except (ChainError, RequestException) as exc:
        return (
            f"the chain's registry could not be read ({type(exc).__name__}: {str(exc)[:200]}), so whether this "
            "consent's signer, the consent key, is a department's key (a swapped keystore file) was not checked: it "
            "is not relied on until the node answers; list the consents again then"
        )
    return None


def signature_problem(ledger: Ledger, row: Consent, *, check_key: bool = True) -> str | None:
    """Why ``row`` is not a record this ledger signed (None: it is). ``check_key=False``: without asking the
    registry whether the consent key is a department's (a listing whose registry read failed, :func:`listed`)."""
    if row.subject_ref == CONSENT_ERASED:
        return (
            f"consent {row.id} was given for certificate {row.digest}, which was erased: its subject reference and "
            "purpose text were destroyed with it, so it can no longer be checked or relied on"
        )
    expected = ledger.keystore.address(GATEWAY_KEY) if ledger.keystore.exists(GATEWAY_KEY) else None
    if expected is None:
        return "this ledger has no consent key, so it signed no consent"
    swapped = (_department_key_problem(ledger, expected) if check_key else None) or _recorded_key_problem(
        ledger, expected, record=False
    )
    if swapped:
        return swapped
    if row.record_hash != _record_hash(row):
        return f"consent {row.id}'s stored hash does not match its contents"
    try:
        signer = recover(_record_message(row), bytes.fromhex(row.signature[2:]))
    except Exception:  # noqa: BLE001
        return f"consent {row.id}'s signature cannot be recovered"
    if signer != expected:
        return f"consent {row.id} is not signed by this ledger's consent key"
    return None


def _log(ledger: Ledger, row: Consent, action: str, at: datetime, detail: str) -> Any:
    body = {
        "certificate": row.digest,
        "action": action,
        "outcome": "recorded",
        "actor": "data-subject",
        "signer": row.signer,
        "authenticated": True,
        "at": _iso(at),
        "grant": None,
        "purpose": row.purpose_code,
        "detail": detail,
        "consent": row.id,
        "consent_hash": row.record_hash,
        "authentication": f"{row.provider}/{row.assurance}",
    }
    return logchain.append(ledger, logchain.LOG_ACCESS, row.issuer, body, created_at=at)


def _logged(ledger: Ledger, issuer: str, certificate: str, consent_id: str) -> list[dict[str, Any]]:
    """The access-log entries about consent ``consent_id`` on ``certificate`` (bodies), oldest first; UnreadableEntry
    (a StateError) when one of them was edited into something the ledger never writes: a withdrawal could be the
    edited one."""
    return logchain.certificate_entries(ledger, issuer, certificate, f'"consent":"{consent_id}"')


def _identifier_ref(ledger: Ledger, document: dict[str, Any]) -> str | None:
    fields = document.get("fields", {})
    for name in SUBJECT_ID_FIELDS:
        value = fields.get(name)
        if isinstance(value, str) and value.strip():
            return subject_ref(ledger, value)
    return None


def authenticate_subject(
    ledger: Ledger,
    signed: SignedAssertion,
    *,
    certificate: str,
    request: dict[str, Any],
    now: datetime,
    providers: dict[str, Provider] | None = None,
) -> tuple[Subject, StoredCertificate, dict[str, Any]]:
    """Check ``signed`` (bound to ``request``) and that the person it authenticates is the subject of certificate
    ``certificate``: the subject, the stored certificate and its document. The assertion is left unspent
    (:func:`spend_assertion`) unless the person is not the subject: one guess per assertion, so whoever holds one
    cannot probe whose certificates exist."""
    now = given_time(now, "now")
    subject = authenticate(ledger, signed, request=request, now=now, providers=providers, spend=False)
    not_yours = PermissionDenied(
        "the authenticated person is not the subject of this certificate (or it does "
        "not exist); only the subject can do this"
    )
    try:
        cert = stored(ledger, hex32(parse_hex32(certificate)))
        document = custodian_document(ledger, hex32(cert.digest), cert.department)
    except (NotFoundError, InputError):
        spend_assertion(ledger, subject)
        raise not_yours from None
    if _identifier_ref(ledger, document) != subject.ref:
        spend_assertion(ledger, subject)
        raise not_yours
    return subject, cert, document


def give(
    ledger: Ledger,
    *,
    assertion: SignedAssertion,
    consent: ConsentCreate,
    now: datetime,
    providers: dict[str, Provider] | None = None,
) -> Consent:
    """Record the authenticated subject's consent, signed by the ledger's consent key and logged (anchored). The
    assertion must bind exactly this request (:func:`consent_request`)."""
    now = given_time(now, "now")
    subject, cert, document = authenticate_subject(
        ledger,
        assertion,
        certificate=consent.certificate,
        request=consent_request(consent),
        now=now,
        providers=providers,
    )
    if consent.recipient == cert.department:
        raise InputError("the issuing department holds the certificate already", field="recipient")
    try:
        get_department(ledger.chain, consent.recipient)
    except NotFoundError:
        raise InputError(f"department {consent.recipient!r} is not registered", field="recipient") from None
    unknown = sorted(set(consent.fields) - set(document["fields"]) - set(document.get("hidden", {})))
    if unknown:
        raise InputError(f"the certificate has no fields {unknown}", field="fields")
    if consent.expires_at.tzinfo is None:  # "23:59" where? A consent's end must not depend on the server's zone
        raise InputError("give the expiry with its time zone (e.g. 2026-12-31T23:59:59Z or +08:00)", field="expires_at")
    expires = aware(consent.expires_at)
    if not now < expires <= now + MAX_CONSENT_LIFETIME:
        raise InputError(
            f"expiry must be in the future and within {MAX_CONSENT_LIFETIME.days} days", field="expires_at"
        )
    if not consent.purpose_text.strip():
        raise InputError("state the purpose in words", field="purpose_text")
    row = Consent(
        id=secrets.token_hex(12),
        digest=hex32(cert.digest),
        issuer=cert.department,
        subject_ref=subject.ref,
        provider=subject.provider,
        assurance=subject.assurance,
        recipient=consent.recipient,
        purpose_code=consent.purpose_code,
        purpose_text=consent.purpose_text.strip(),
        fields=sorted(set(consent.fields)),
        given_at=now,
        expires_at=expires,
        signer=gateway_address(ledger),
        signature="",
        record_hash="",
        record_salt=new_record_salt(),
    )
    row.record_hash = _record_hash(row)
    signer = ledger.account(GATEWAY_KEY)
    swapped = _department_key_problem(ledger, signer.address) or _recorded_key_problem(
        ledger, signer.address, record=True
    )
    if swapped:
        raise KeystoreError(swapped)
    row.signature = "0x" + bytes(signer.sign_message(_record_message(row)).signature).hex()
    spend_assertion(ledger, subject)  # only now that the request is known good: bad input does not cost the assertion
    with ledger.engine.begin() as conn:
        conn.execute(Consent.__table__.insert().values(**row.model_dump()))  # type: ignore[attr-defined]
    _log(
        ledger,
        row,
        "consent",
        now,
        f"consent {row.id} to {row.recipient} for {row.purpose_code}, fields {row.fields}, until {_iso(expires)}",
    )
    return row


def load(ledger: Ledger, consent_id: str) -> Consent | None:
    with ledger.engine.connect() as conn:
        found = conn.execute(select(Consent).where(Consent.id == consent_id)).first()  # type: ignore[arg-type]
    return stored_row(Consent, found._mapping) if found is not None else None


def withdraw(
    ledger: Ledger,
    *,
    assertion: SignedAssertion,
    consent_id: str,
    now: datetime,
    providers: dict[str, Provider] | None = None,
) -> Consent:
    """Withdraw consent ``consent_id`` (only its subject may, with an assertion bound to
    :func:`withdrawal_request` of this consent); every grant relying on it stops serving at once."""
    now = given_time(now, "now")
    subject = authenticate(ledger, assertion, request=withdrawal_request(consent_id), now=now, providers=providers)
    row = load(ledger, consent_id)
    if row is None or not hmac.compare_digest(row.subject_ref, subject.ref):
        raise NotFoundError(f"no consent {consent_id} of the authenticated person")
    if row.withdrawn_at is not None:
        raise StateError(f"consent {consent_id} was withdrawn already at {_iso(aware(row.withdrawn_at))}")
    with ledger.engine.begin() as conn:
        # only a consent not yet withdrawn: of two withdrawals at once, the first is the one recorded and logged
        done = conn.execute(
            update(Consent)
            .where(Consent.id == consent_id, Consent.withdrawn_at.is_(None))  # type: ignore[arg-type,union-attr]
            .values(withdrawn_at=now)
        )
    if done.rowcount != 1:
        raise StateError(f"consent {consent_id} was withdrawn by another request at the same time")
    _log(
        ledger,
        row,
        "consent-withdrawn",
        now,
        f"consent {row.id} withdrawn by the data subject ({subject.provider}/{subject.assurance})",
    )
    updated = load(ledger, consent_id)
    if updated is None:
        raise NotFoundError(f"consent {consent_id} was deleted while it was being withdrawn; list the consents again")
    return updated


def list_consents(
    ledger: Ledger,
    *,
    issuer: str | None = None,
    digest: str | None = None,
    assertion: SignedAssertion | None = None,
    now: datetime | None = None,
    providers: dict[str, Provider] | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[Consent]:
    """Consents of an issuing department, of one certificate, or (with an assertion bound to
    :func:`listing_request`) of the authenticated person; oldest first (ties by id). ``after`` (a consent id of this
    list) and ``limit`` give one page of it (keyset paging); InputError when ``after`` names no consent of the list."""
    now = given_time(now, "now") if now is not None else None
    query = select(Consent).order_by(Consent.given_at, Consent.id)  # type: ignore[arg-type]
    if issuer is not None:
        query = query.where(Consent.issuer == issuer)  # type: ignore[arg-type]
    if digest is not None:
        query = query.where(Consent.digest == hex32(parse_hex32(digest)))  # type: ignore[arg-type]
    if assertion is not None:
        wanted = listing_request(ledger)
        if assertion.assertion.get("request") == request_digest(_UNBOUND_LISTING):
            raise InputError(
                "the assertion binds a listing request that names no ledger, so it would list the person's "
                "consents at every department's ledger on this chain; the provider must sign the digest "
                f"{request_digest(wanted)} of {canonical_json(wanted).decode()} (docs/privacy.md)",
                field="assertion.request",
            )
        subject = authenticate(
            ledger, assertion, request=wanted, now=now or datetime.now(UTC), providers=providers, spend=False
        )
        query = query.where(Consent.subject_ref == subject.ref)  # type: ignore[arg-type]
    with ledger.engine.connect() as conn:
        rows = _keyset.page(
            conn, query, col(Consent.given_at), col(Consent.id), after=after, limit=limit, noun="consent"
        )
        found = [stored_row(Consent, r._mapping) for r in rows]
    if assertion is not None:  # spent once the page asked for is known good: a bad cursor costs no assertion
        spend_assertion(ledger, subject)
    return found


# -- what grants rely on ------------------------------------------------------------------------------------------


def problem(ledger: Ledger, row: Consent, now: datetime, *, check_key: bool = True) -> str | None:
    """Why consent ``row`` cannot be relied on now (None: it can). Checks the signature, the logged creation and
    withdrawal (so an insider who edits the row is not believed), the row's withdrawal and the expiry.
    ``check_key``: as :func:`signature_problem`'s."""
    now = given_time(now, "now")
    bad = signature_problem(ledger, row, check_key=check_key)
    if bad:
        return bad
    try:
        logged = _logged(ledger, row.issuer, row.digest, row.id)
    except logchain.UnreadableEntry as exc:  # not relied on: the edited entry may be its withdrawal
        return f"consent {row.id} cannot be relied on: {exc}"
    if not any(e.get("action") == "consent" and e.get("consent_hash") == row.record_hash for e in logged):
        return f"consent {row.id} is not in {row.issuer}'s access log"
    withdrawn = [e for e in logged if e.get("action") == "consent-withdrawn"]
    if row.withdrawn_at is not None or withdrawn:
        when = _iso(aware(row.withdrawn_at)) if row.withdrawn_at is not None else withdrawn[0]["at"]
        return f"consent {row.id} was withdrawn by the data subject at {when}"
    if now < aware(row.given_at):
        return f"consent {row.id} is not yet given"
    if aware(row.expires_at) <= now:
        return f"consent {row.id} expired at {_iso(aware(row.expires_at))}"
    return None


def listed(ledger: Ledger, rows: Sequence[Consent], now: datetime) -> list[ConsentPublic]:
    """Consents as every listing shows them (the person's, the issuer's, ``ledger consent list``): a row that reads
    live is judged as a read through a grant judges it (:func:`problem`: the signature, the anchored creation and
    withdrawal), so a withdrawal an insider undid or an expiry moved in the database shows ``live: false`` with the
    ``problem`` named, never the row's own word. With the chain's node not answering, every row is still listed
    (the registry asked once for the listing): a row nothing else condemns is shown not live, its problem saying
    that the consent key was not checked (:func:`_key_unchecked`)."""
    now = given_time(now, "now")
    out = []
    shown_rows = [(row, row.public(now)) for row in rows]
    unchecked = _key_unchecked(ledger) if any(shown.live for _, shown in shown_rows) else None
    for row, shown in shown_rows:
        if shown.live:
            why = problem(ledger, row, now, check_key=unchecked is None) or unchecked
            if why is not None:
                shown = shown.model_copy(update={"live": False, "problem": why})
        out.append(shown)
    return out


def required_for(ledger: Ledger, document: dict[str, Any], reveal: list[str] | None) -> set[str]:
    """The disclosed fields of a grant that need the subject's consent (empty: none needed)."""
    fields = sorted(set(document["fields"]) | set(document.get("hidden", {})))
    disclosed = set(fields) if reveal is None else set(reveal)
    return policy_fields(str(document["fields"].get("type", "")), fields, ledger.settings.consent_policy) & disclosed


def for_grant(
    ledger: Ledger,
    *,
    document: dict[str, Any],
    digest: str,
    grantee: str,
    reveal: list[str] | None,
    consent_id: str | None,
    purpose_code: str | None,
    expires_at: datetime,
    now: datetime,
) -> Consent | None:
    """The consent a new grant relies on, checked; None if the grant discloses nothing that needs consent.
    PermissionDenied when consent is needed and missing, or does not cover the grant."""
    now = given_time(now, "now")
    needed = required_for(ledger, document, reveal)
    if not needed:
        return None
    if consent_id is None:
        raise PermissionDenied(
            f"disclosing {sorted(needed)} needs the data subject's consent: ask them to give "
            "it (POST /public/consents, `ledger consent give`) and name it in the grant "
            "(consent, purpose_code)"
        )
    row = load(ledger, consent_id)
    if row is None:
        raise PermissionDenied(f"there is no consent {consent_id}")
    bad = problem(ledger, row, now)
    if bad:
        raise PermissionDenied(bad)
    if row.digest != digest:
        raise PermissionDenied(f"consent {row.id} was given for another certificate ({row.digest})")
    if row.recipient != grantee:
        raise PermissionDenied(f"consent {row.id} names recipient {row.recipient!r}, not {grantee!r}")
    if purpose_code != row.purpose_code:
        raise PermissionDenied(
            f"consent {row.id} is for purpose {row.purpose_code!r}, the grant states {purpose_code!r}"
        )
    uncovered = sorted(needed - set(row.fields))
    if uncovered:
        raise PermissionDenied(f"consent {row.id} covers {row.fields}, not {uncovered}")
    if aware(expires_at) > aware(row.expires_at):
        raise InputError(
            f"the grant would outlive consent {row.id}, which ends {_iso(aware(row.expires_at))}", field="expires_at"
        )
    return row


def link(ledger: Ledger, grant_id: str, row: Consent) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(
            ConsentGrant.__table__.insert().values(  # type: ignore[attr-defined]
                grant_id=grant_id, consent_id=row.id, purpose_code=row.purpose_code
            )
        )


def grant_problem(ledger: Ledger, grant: Any, now: datetime, document: dict[str, Any]) -> str | None:
    """Why ``grant`` may not be served now on account of consent (None: it may). A grant whose disclosure needs
    consent must rely on one that holds now and covers this certificate, grantee and fields: so a grant row or a
    link an insider wrote, or one made before consent was required, is not served either."""
    now = given_time(now, "now")
    needed = required_for(ledger, document, grant.reveal)
    with ledger.engine.connect() as conn:
        linked = conn.execute(
            select(ConsentGrant.consent_id, ConsentGrant.purpose_code).where(  # type: ignore[call-overload]
                ConsentGrant.grant_id == grant.id
            )
        ).first()
    if linked is None:
        return (
            (
                f"grant {grant.id} discloses {sorted(needed)} without the data subject's consent; ask them for "
                "it and grant again"
            )
            if needed
            else None
        )
    row = load(ledger, linked[0])
    if row is None:
        return f"the consent grant {grant.id} relies on ({linked[0]}) is gone"
    bad = problem(ledger, row, now)
    if bad:
        return bad
    if row.digest != grant.digest or row.recipient != grant.grantee or not needed <= set(row.fields):
        return f"consent {row.id} does not cover grant {grant.id} (certificate, recipient or fields)"
    # The link row is plain database state: an insider could point a grant at another (live, signed) consent of
    # the same person for another purpose. The grant's logged creation names the consent it was made on.
    try:
        logged_on = _grant_logged_on(ledger, grant, row.id)
    except logchain.UnreadableEntry as exc:
        return f"grant {grant.id} cannot be relied on: {exc}"
    if linked[1] != row.purpose_code or not logged_on:
        return (
            f"grant {grant.id} was not made on consent {row.id} (its logged creation names another consent or purpose)"
        )
    return None


def _grant_logged_on(ledger: Ledger, grant: Any, consent_id: str) -> bool:
    """Whether the issuer's access log records the creation of ``grant`` on consent ``consent_id``."""
    bodies = logchain.certificate_entries(ledger, grant.issuer, grant.digest, f'"grant":"{grant.id}"')
    return any(
        b.get("action") == "grant"
        and b.get("grant") == grant.id
        and str(b.get("detail", "")).endswith(f" on consent {consent_id}")
        for b in bodies
    )


# -- checking the database against the anchored log ---------------------------------------------------------------


def check(ledger: Ledger, department: str) -> list[dict[str, Any]]:
    """Discrepancies between ``department``'s consent rows and its access log (empty: they agree).

    Run it with ``accesslog.check`` (which proves the log itself against its anchors)."""
    found: list[dict[str, Any]] = []
    rows = {r.id: r for r in list_consents(ledger, issuer=department)}
    table = logchain.LogEntry.__table__  # type: ignore[attr-defined]
    bodies = []
    with ledger.engine.connect() as conn:
        for r in conn.execute(
            select(table.c.seq, table.c.body)
            .where(
                table.c.log == logchain.LOG_ACCESS,
                table.c.department_id == department,
                table.c.body.like('%"consent":"%'),
            )
            .order_by(table.c.seq)
        ):
            try:
                body = logchain.read_body(r.body, logchain.LOG_ACCESS, department, r.seq)
            except logchain.UnreadableEntry as exc:  # named; the rest is still checked
                found.append({"kind": "log_entry_unreadable", "seq": r.seq, "detail": str(exc)})
                continue
            if isinstance(body.get("consent"), str):
                bodies.append(body)
    created = {b["consent"]: b for b in bodies if b.get("action") == "consent"}
    withdrawn = {b["consent"] for b in bodies if b.get("action") == "consent-withdrawn"}
    erased = _erased_certificates(ledger, department, {r.digest for r in rows.values()})
    for row in rows.values():
        # A lawful erasure destroyed the subject reference and purpose text, so the signature cannot be checked any
        # more; the record hash still must be the logged one. The marker on a certificate not erased is tampering.
        bad = None if row.subject_ref == CONSENT_ERASED and row.digest in erased else signature_problem(ledger, row)
        if bad:
            found.append({"kind": "consent_signature", "consent": row.id, "detail": bad})
        entry = created.get(row.id)
        if entry is None or entry.get("consent_hash") != row.record_hash:
            found.append(
                {"kind": "consent_unlogged", "consent": row.id, "detail": "no logged creation with this record's hash"}
            )
        elif entry.get("certificate") != row.digest:  # the row moved to another certificate (an erased one, say)
            found.append(
                {
                    "kind": "consent_unlogged",
                    "consent": row.id,
                    "detail": f"the logged creation names certificate {entry.get('certificate')}, the row {row.digest}",
                }
            )
        if row.id in withdrawn and row.withdrawn_at is None:
            found.append(
                {
                    "kind": "consent_withdrawal_undone",
                    "consent": row.id,
                    "detail": "the log records a withdrawal the row does not show",
                }
            )
    for consent_id in sorted(set(created) - set(rows)):
        found.append({"kind": "consent_missing", "consent": consent_id, "detail": "logged consent whose row is gone"})
    return found


def _erased_certificates(ledger: Ledger, department: str, digests: set[str]) -> set[str]:
    """Those of ``digests`` that ``department`` erased: body destroyed, issued by ``department``, and the erasure in
    its ``erasures`` log as the chain attests it (:func:`erasure.proven`): rows written to the database alone, as an
    insider could, prove nothing."""
    if not digests:
        return set()
    logged = erasure.proven(ledger, department)
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(Certificate.digest, Certificate.sealed).where(  # type: ignore[call-overload]
                generations.digest_in(conn, sorted(digests & set(logged))),  # type: ignore[attr-defined]
                Certificate.department_id == department,
            )
        ).all()
    return {digest for digest, sealed in rows if bytes(sealed) == ERASED}
