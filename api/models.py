"""Request and response bodies of the gateway (the grant table is in ledger/storage/models.py, its logic in
ledger/services/sharing.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import ConfigDict, StringConstraints, field_validator
from sqlmodel import Field, SQLModel

from ledger.formats.reasons import REASONS

DIGEST_PATTERN = r"^0x[0-9a-fA-F]{64}$"
# Patterns are declared on the type: the regex argument of sqlmodel's Field is not enforced (sqlmodel 0.0.50, pydantic
# 2), and tests/test_api_models.py checks that every documented pattern refuses what it should.
DigestText = Annotated[str, StringConstraints(pattern=DIGEST_PATTERN)]
AddressText = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{40}$")]
CodeText = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]+$")]  # printable ASCII, no spaces
DIGEST_EXAMPLE = "0x5b1c0e3f9a4d2b7c8e6f1a0d3c5b7e9f2a4c6e8d0b1f3a5c7e9d2b4f6a8c0e1d"

_DOCUMENT_EXAMPLE: dict[str, Any] = {
    "format": "pl-cert/2",
    "fields": {
        "id": "BL-2026-000123",
        "type": "business-licence",
        "issuer": "MKT",
        "issued_at": "2026-03-01T09:30:00Z",
        "valid_from": "2026-01-01",
        "valid_until": "2031-12-31",
        "subject.name": "Zhang Wei Trading Co.",
    },
    "salts": {
        "id": "9f1c…",
        "type": "03ab…",
        "issuer": "77d0…",
        "issued_at": "c1e2…",
        "valid_from": "5a5a…",
        "valid_until": "e0f1…",
        "subject.name": "1b2c…",
    },
    "digest": DIGEST_EXAMPLE,
    "anchor": {
        "chain_id": 31337,
        "contract": "0xe7f1…",
        "root": "0x8d3e…",
        "proof": ["0x41aa…"],
        "signature": "0x…",
        "tx_hash": "0x…",
        "block_number": 42,
    },
}


# A certificate has tens of values (fields, salts, a proof of at most 64 hashes for 2^64 certificates); these
# bounds refuse documents built to make verification expensive before any hashing starts (422).
MAX_DOCUMENT_VALUES = 4096
MAX_PROOF_HASHES = 64
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ANCHOR_TYPES: dict[str, tuple[type, str]] = {
    "chain_id": (int, "an integer"),
    "block_number": (int, "an integer"),
    "contract": (str, "a string"),
    "root": (str, "a string"),
    "signature": (str, "a string"),
    "tx_hash": (str, "a string"),
}


def _json_type(value: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def check_document(document: dict[str, Any]) -> dict[str, Any]:
    """Refuse a document whose size or anchor types no certificate has (ValueError -> 422 with the field)."""
    values, stack = 0, [document]
    while stack:
        item = stack.pop()
        values += 1
        if values > MAX_DOCUMENT_VALUES:
            raise ValueError(
                f"the document has more than {MAX_DOCUMENT_VALUES} values; a certificate has tens "
                "(send the certificate file as issued)"
            )
        if type(item) is dict:
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
    anchor = document.get("anchor")
    if isinstance(anchor, dict):
        for name, (kind, what) in _ANCHOR_TYPES.items():
            value = anchor.get(name)
            if value is not None and (type(value) is not kind):
                raise ValueError(f"anchor.{name} must be {what}, not {_json_type(value)}")
        proof = anchor.get("proof")
        if proof is not None:
            if type(proof) is not list or any(type(p) is not str for p in proof):
                raise ValueError(
                    f"anchor.proof must be an array of 0x-prefixed hashes, not {_json_type(proof)}"
                    + (" with other items" if type(proof) is list else "")
                )
            if len(proof) > MAX_PROOF_HASHES:
                raise ValueError(f"anchor.proof has {len(proof)} hashes; at most {MAX_PROOF_HASHES}")
    return document


def check_time(value: datetime | None) -> datetime | None:
    """A moment the chain can speak about: timezone-aware (UTC assumed), not before 1970 (422 otherwise)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value < EPOCH:
        raise ValueError("must be 1970-01-01T00:00:00Z or later: the chain has no earlier time")
    return value


# -- auth -----------------------------------------------------------------------------------------------------
class ChallengeCreate(SQLModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"department": "MKT"}]})  # type: ignore[assignment]
    department: str = Field(min_length=1, max_length=32, description="The department code to sign in as.")
    address: AddressText | None = Field(
        default=None,
        description="The account that will sign (the department's registered key); "
        "by default the registry's current key of the department.",
    )


class ChallengePublic(SQLModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {  # type: ignore[assignment]
                    "challenge_id": "3f9c…",
                    "department": "MKT",
                    "expires_at": "2026-03-01T10:05:00Z",
                    "message": "gw.mkt.example wants you to sign in with your Ethereum account:\n0x7099…79C8\n\n"
                    "Sign in to the Provenance Ledger gateway as department MKT.\n\nURI: https://gw.mkt.example\n"
                    "Version: 1\nChain ID: 31337\nNonce: 3f9c…\nIssued At: 2026-03-01T10:00:00Z\n"
                    "Expiration Time: 2026-03-01T10:05:00Z\nResources:\n- ethereum:0x5FbD…@31337",
                }
            ]
        }
    )
    challenge_id: str
    department: str
    message: str = Field(description="Sign exactly this text with EIP-191 personal_sign.")
    expires_at: datetime


class TokenCreate(SQLModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [  # type: ignore[assignment]
                {"challenge_id": "3f9c…", "signature": "0x2c6d…1b"}
            ]
        }
    )
    challenge_id: str = Field(min_length=1, max_length=64)
    signature: str = Field(min_length=1, max_length=200, description="65-byte signature, 0x-prefixed hex.")


class TokenPublic(SQLModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {  # type: ignore[assignment]
                    "access_token": "plt1.eyJ2IjoxLC…",
                    "token_type": "bearer",
                    "expires_at": "2026-03-01T10:15:00Z",
                    "department": "MKT",
                    "signer": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                    "roles": ["issuer", "verifier"],
                }
            ]
        }
    )
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth 2.0 token type, not a secret
    expires_at: datetime
    department: str
    signer: str
    roles: list[str]


class PrincipalPublic(SQLModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {  # type: ignore[assignment]
                    "department": "MKT",
                    "signer": "0x7099…79C8",
                    "roles": ["issuer", "verifier"],
                    "expires_at": "2026-03-01T10:15:00Z",
                }
            ]
        }
    )
    department: str
    signer: str
    roles: list[str]
    expires_at: datetime


# -- certificates ---------------------------------------------------------------------------------------------
class IssueCreate(SQLModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "records": [
                        {  # type: ignore[assignment]
                            "id": "BL-2026-000123",
                            "type": "business-licence",
                            "subject": {"name": "Zhang Wei Trading Co.", "credit_code": "91440300MA5000001"},
                            "valid_from": "2026-01-01",
                            "valid_until": "2031-12-31",
                        }
                    ]
                }
            ]
        }
    )
    records: list[dict[str, Any]] = Field(min_length=1, description="Input records (docs/format.md).")


class IssuedCertificate(SQLModel):
    id: str
    digest: str


class IssuePublic(SQLModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {  # type: ignore[assignment]
                    "department": "MKT",
                    "certificates": [{"id": "BL-2026-000123", "digest": DIGEST_EXAMPLE}],
                    "batches": ["0x8d3e…"],
                    "transactions": ["0x1f2e…"],
                }
            ]
        }
    )
    department: str
    certificates: list[IssuedCertificate]
    batches: list[str]
    transactions: list[str]


class DecisionCreate(SQLModel):
    """An application for an automatic decision, as the approving department's own service received it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {  # type: ignore[assignment]
                    "case_id": "FBP-2026-000042",
                    "service_item": "440300-SCJG-0042",
                    "rule_set": DIGEST_EXAMPLE,
                    "applicant_ref": "91440300MA5000001",
                    "input": {
                        "application": {"online": True, "materials_submitted": 3},
                        "certificates": [{"digest": DIGEST_EXAMPLE}],
                    },
                }
            ]
        },
    )
    case_id: CodeText = Field(min_length=1, max_length=128, description="The case number (printable ASCII, no spaces).")
    service_item: CodeText = Field(
        min_length=1, max_length=64, description="The service item code the rule set serves."
    )
    rule_set: DigestText = Field(
        description="Digest of a rule set published on chain (`ledger rules "
        "publish`): only a published rule set decides."
    )
    applicant_ref: str = Field(
        min_length=1,
        max_length=256,
        description="The applicant's identity as the "
        "department's service authenticated it (ID or credit code), in its canonical "
        "form (capital letters, half-width digits: another spelling is refused, 422): "
        "only its salted reference is recorded, and cited certificates must name it.",
    )
    input: dict[str, Any] = Field(
        description="The application (docs/decisions.md): its own facts, and the "
        "certificates it relies on by digest or document. What it says about a "
        "certificate's status is never read: the ledger verifies each one itself."
    )
    anchor: bool = Field(
        default=False,
        description="Anchor the decision log at once (one transaction); otherwise "
        "the gateway anchors it within `anchor_interval_seconds`.",
    )


class DecisionPublic(SQLModel):
    department: str
    seq: int
    entry_hash: str
    case_id: str
    service_item: str
    outcome: str
    reasons: list[str]
    legal_basis: Any
    decided_at: str
    rule_set: str
    as_of_block: int
    certificates: list[dict[str, Any]] = Field(description="The cited certificates' facts, as the ledger found them.")
    issued: dict[str, Any] | None = Field(
        default=None, description="The certificate the approval issued (its rule set `produces` one): digest, type, id."
    )
    documents: list[dict[str, Any]] = Field(
        default_factory=list, description="That certificate's document, anchored, for delivery to the applicant."
    )
    anchored: list[str] = Field(default_factory=list, description="Decision-log batch roots anchored by this call.")


class RevokeCreate(SQLModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "fraud"}]})  # type: ignore[assignment]
    reason: str = Field(
        min_length=1,
        max_length=32,
        description="A reason of the published vocabulary "
        "(docs/format.md §8), recorded on chain as its code: " + ", ".join(REASONS) + ".",
    )


class SupersedeCreate(SQLModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"successor": DIGEST_EXAMPLE}]})  # type: ignore[assignment]
    successor: DigestText = Field(description="Digest of the replacing certificate (same issuer).")


class StatusChangePublic(SQLModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {  # type: ignore[assignment]
                    "digest": DIGEST_EXAMPLE,
                    "action": "revoke",
                    "tx_hash": "0x9a8b…",
                }
            ]
        }
    )
    digest: str
    action: str
    tx_hash: str


class ContentPublic(SQLModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {  # type: ignore[assignment]
                    "digest": DIGEST_EXAMPLE,
                    "document": _DOCUMENT_EXAMPLE,
                    "grant": None,
                    "access_seq": 17,
                }
            ]
        }
    )
    digest: str
    document: dict[str, Any] = Field(description="The certificate document, or the presentation the grant allows.")
    grant: dict[str, Any] | None = Field(default=None, description="The grant used (absent for the issuer).")
    access_seq: int | None = Field(default=None, description="Sequence number of this read in the access log.")


# -- verification ---------------------------------------------------------------------------------------------
class CheckPublic(SQLModel):
    name: str
    ok: bool
    skipped: bool
    detail: str


class ReportPublic(SQLModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {  # type: ignore[assignment]
                    "verified": True,
                    "digest": DIGEST_EXAMPLE,
                    "as_of_block": 57,
                    "at": None,
                    "checks": [
                        {
                            "name": "format",
                            "ok": True,
                            "skipped": False,
                            "detail": "pl-cert/2, 7 disclosed and 0 hidden",
                        },
                        {"name": "status", "ok": True, "skipped": False, "detail": "valid"},
                    ],
                    "facts": {"department": "MKT", "block_number": 42, "status": "valid"},
                }
            ]
        }
    )
    verified: bool
    digest: str | None
    as_of_block: int | None
    at: str | None = None
    checks: list[CheckPublic]
    facts: dict[str, Any] = {}


class VerifyCreate(SQLModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [  # type: ignore[assignment]
                {"document": _DOCUMENT_EXAMPLE, "at": None}
            ]
        }
    )
    document: dict[str, Any] = Field(description="A certificate document or presentation (pl-cert/2).")
    at: datetime | None = Field(default=None, description="Verify as of this time instead of now (1970 or later).")
    expected_type: str | None = Field(
        default=None,
        max_length=64,
        description="The certificate type you asked the holder for (e.g. business-licence): any other fails the "
        "`expected` check, however genuine.",
    )
    expected_issuer: str | None = Field(
        default=None, max_length=32, description="The department you asked the certificate of, likewise."
    )

    _document = field_validator("document")(check_document)
    _at = field_validator("at")(check_time)


class PublicVerifyCreate(SQLModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [  # type: ignore[assignment]
                {"digest": DIGEST_EXAMPLE},
                {"document": _DOCUMENT_EXAMPLE},
            ]
        }
    )
    document: dict[str, Any] | None = Field(default=None, description="The certificate file's JSON.")
    digest: DigestText | None = Field(default=None, description="Or only its digest.")

    @field_validator("document")
    @classmethod
    def _document(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_document(value) if value is not None else None


class PublicReport(SQLModel):
    """What anyone may learn: verified or not, each check, status and issuer - no personal fields."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {  # type: ignore[assignment]
                    "verified": True,
                    "digest": DIGEST_EXAMPLE,
                    "status": "valid",
                    "issuer": "MKT",
                    "as_of_block": 57,
                    "erased": False,
                    "checks": [
                        {
                            "name": "merkle_proof",
                            "ok": True,
                            "skipped": False,
                            "detail": "proof of 3 hashes leads to root 0x8d3e…",
                        }
                    ],
                }
            ]
        }
    )
    verified: bool
    digest: str | None
    status: str | None
    issuer: str | None
    as_of_block: int | None
    erased: bool | None = Field(
        default=None,
        description="For a digest: whether its issuer erased the certificate's contents (its hashes, anchor and "
        "status remain, and so does this report). Null for a file, which is verified against the chain alone.",
    )
    checks: list[CheckPublic]


# -- logs and provenance --------------------------------------------------------------------------------------
class AccessEntry(SQLModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {  # type: ignore[assignment]
                    "certificate": DIGEST_EXAMPLE,
                    "action": "read",
                    "outcome": "refused",
                    "actor": "PSB",
                    "signer": "0x3C44…93BC",
                    "authenticated": True,
                    "at": "2026-03-02T08:00:00Z",
                    "grant": None,
                    "purpose": None,
                    "detail": "department 'PSB' holds no grant for this certificate",
                    "department": "MKT",
                    "seq": 18,
                    "entry_hash": "0x77ab…",
                    "prev_hash": "0x1c2d…",
                    "anchored": True,
                    "batch_root": "0x3e4f…",
                    "tx_hash": "0x5a6b…",
                    "block_number": 61,
                }
            ]
        },
    )
    certificate: str | None = None
    action: str | None = None
    outcome: str | None = None
    actor: str | None = None
    at: str | None = None
    department: str
    seq: int
    entry_hash: str
    anchored: bool
    time_altered: bool = Field(
        False,
        description="True when the entry's stored time, on which since/until select, is not the instant its body "
        "states (an edit of the database: the entry belongs to another window; the log's check names it).",
    )


class LogEntryPublic(SQLModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {  # type: ignore[assignment]
                    "log": "decisions",
                    "department": "INS",
                    "seq": 3,
                    "body": {"decision": "approved"},
                    "entry_hash": "0x77ab…",
                    "prev_hash": "0x1c2d…",
                    "created_at": "2026-03-02T08:00:00Z",
                    "anchored": True,
                    "batch_root": "0x3e4f…",
                }
            ]
        }
    )
    log: str
    department: str
    seq: int
    body: dict[str, Any] | None = Field(
        description="The entry's body; null when the stored text is not a JSON object (see body_error)."
    )
    body_error: str | None = Field(
        None,
        description="Why the stored body could not be read, or is not the canonical JSON of the body it reads as "
        "(an edit outside the ledger); null when it was read as the ledger writes it.",
    )
    body_text: str | None = Field(
        None,
        description="The first 1,024 characters of a stored body that could not be read, or is spelt otherwise than "
        "its canonical JSON; null otherwise.",
    )
    entry_hash: str
    prev_hash: str
    created_at: datetime
    anchored: bool
    batch_root: str | None = None
    time_altered: bool = Field(
        False,
        description="True when the entry's stored time, on which since/until select, is not the instant its body "
        "states (an edit of the database: the entry belongs to another window; the log's check names it).",
    )


class AnchorPublic(SQLModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {  # type: ignore[assignment]
                    "department": "MKT",
                    "roots": ["0x3e4f…"],
                }
            ]
        }
    )
    department: str
    roots: list[str]


class DiscrepancyPublic(SQLModel):
    kind: str
    department: str
    seq: int | None
    detail: str


class CheckLogPublic(SQLModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {  # type: ignore[assignment]
                    "log": "access",
                    "department": "MKT",
                    "intact": False,
                    "discrepancies": [
                        {"kind": "missing", "department": "MKT", "seq": 4, "detail": "sequence number 4 is missing"}
                    ],
                }
            ]
        }
    )
    log: str
    department: str
    intact: bool
    discrepancies: list[DiscrepancyPublic]


class TimelineEvent(SQLModel):
    model_config = ConfigDict(extra="allow")  # type: ignore[assignment]
    kind: str = Field(
        description="issued, anchored, signed, granted, grant_revoked, grant_expired, grant_altered (a grant row "
        "that is not the grant the access log records), grant_missing (a logged grant whose row was deleted), access, "
        "access_refused, access_unreadable, accesses_more (the first 1,000 reads are listed: where the paged "
        "listing goes on), decision, decision_unreadable (a decision log entry naming it was edited), produced (the "
        "decision that issued it), suspended, reinstated, "
        "revoked, superseded, supersedes"
    )
    at: str | None
    summary: str
    source: str = Field(description="chain, store, grants, access-log or decision-log")


class TimelinePublic(SQLModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {  # type: ignore[assignment]
                    "digest": DIGEST_EXAMPLE,
                    "issuer": "MKT",
                    "type": "business-licence",
                    "status": "valid",
                    "validity": "within its validity period now (its dates are shown only to whoever sends the "
                    "certificate file)",
                    "view": "public",
                    "as_of": "2026-03-02T08:00:00Z",
                    "events": [
                        {
                            "kind": "issued",
                            "at": "2026-03-01T09:30:00Z",
                            "summary": "business-licence issued by MKT",
                            "source": "store",
                        },
                        {
                            "kind": "anchored",
                            "at": "2026-03-01T09:30:02Z",
                            "summary": "batch of 1 anchored by MKT in block 42",
                            "source": "chain",
                            "tx_hash": "0x1f2e…",
                            "block_number": 42,
                        },
                    ],
                }
            ]
        }
    )
    digest: str
    issuer: str
    type: str
    status: str
    validity: str | None = Field(
        default=None,
        description="whether the certificate is within its validity period at the gateway's clock, in words naming "
        "no date (as `POST /public/verify {digest}` says it), from the dates its sealed body states; null once erased",
    )
    view: str
    as_of: str | None
    events: list[TimelineEvent]


class DepartmentPublic(SQLModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {  # type: ignore[assignment]
                    "id": "MKT",
                    "name": "Market Regulation Bureau",
                    "signer": "0x7099…79C8",
                    "roles": ["issuer", "verifier"],
                    "active": True,
                    "registered_block": 7,
                    "types": ["business-licence"],
                    "items": ["440300-SCJG-0107"],
                }
            ]
        },
    )
    id: str
    name: str
    signer: str
    roles: list[str]
    active: bool
    registered_block: int
    types: list[str] = Field(
        default_factory=list, description="certificate types the council authorized it to issue now"
    )
    items: list[str] = Field(
        default_factory=list,
        description="service items the council made it responsible for now: it publishes rule sets for, and decides "
        "on, these only ('*' is every item, a grant of its own)",
    )
