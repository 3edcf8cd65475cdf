"""Typed models of the certificate document (docs/format.md) and the evidence bundle (docs/evidence.md), and
their published JSON Schemas.

``CertificateDocumentModel`` is the shape of a ``pl-cert/2`` certificate or presentation as holders keep it and
verifiers read it. Its JSON Schema is generated from the model and committed as
``docs/schema/certificate-document.schema.json``, so independent verifiers can check a document's shape without
our code; ``tests/test_schemas.py`` regenerates it and fails when the committed file differs (renew it with
``python scripts/build_schemas.py``). The library's reader (``CertificateDocument.from_json``) validates with this
same model, strict as JSON is, so reader and schema cannot drift apart. The shape is what a document must have;
what it means (digests, proofs, signatures, the chain) is checked by verification.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from .canonical import CERT_FORMAT, SALT_BYTES

SCHEMA_DIR = Path(__file__).resolve().parent.parent.parent / "docs" / "schema"
SCHEMA_ID = "https://provenance-ledger.example/schema/certificate-document.schema.json"
BUNDLE_SCHEMA_ID = "https://provenance-ledger.example/schema/evidence-bundle.schema.json"

Hex32 = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{64}$")]
FieldHash = Annotated[str, StringConstraints(pattern=r"^(0x)?[0-9a-fA-F]{64}$")]  # written without 0x; read either
Address = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{40}$")]
Salt = Annotated[str, StringConstraints(pattern=rf"^[0-9a-fA-F]{{{2 * SALT_BYTES}}}$")]
Signature = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{130}$")]
Department = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[\x20-\x7e]+$")]
BlockNumber = Annotated[int, Field(ge=0)]


class Anchor(BaseModel):
    """Where the certificate's batch is anchored (docs/format.md §5-§7) and the certificate's Merkle proof."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    chain_id: Annotated[int, Field(ge=1)]
    contract: Address = Field(description="the CertificateAnchor contract")
    registry: Address = Field(description="the DepartmentRegistry contract")
    root: Hex32 = Field(description="the batch's Merkle root")
    department: Department = Field(description="the issuing department's id")
    signer: Address = Field(description="the department key that signed the batch")
    signature: Signature = Field(description="EIP-712 signature of the batch (r || s || v)")
    count: Annotated[int, Field(ge=1)]
    schema_: Hex32 = Field(alias="schema", description="the certificate schema id")
    tx_hash: Hex32
    block_number: BlockNumber
    block_hash: Hex32
    block_time: BlockNumber
    proof: list[Hex32] = Field(description="sibling hashes from the certificate's leaf to the root")


class CertificateDocumentModel(BaseModel):
    """A ``pl-cert/2`` certificate document or presentation (docs/format.md §2-§4)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, title="pl-cert/2 certificate document")

    format: Literal["pl-cert/2"] = Field(description=f"always {CERT_FORMAT!r}")
    fields: dict[str, Any] = Field(description="the disclosed fields (id, type, issuer, issued_at are required)")
    salts: dict[str, Salt] = Field(description="one salt per disclosed field")
    hidden: dict[str, FieldHash] = Field(default_factory=dict, description="the hashes of the undisclosed fields")
    digest: FieldHash | None = Field(default=None, description="the certificate digest (verification recomputes it)")
    anchor: Anchor


def certificate_document_schema() -> dict[str, Any]:
    schema = CertificateDocumentModel.model_json_schema(by_alias=True)
    required = schema["properties"]["fields"]
    required["required"] = ["id", "type", "issuer", "issued_at"]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


# -- evidence bundles (pl-evidence/1, docs/evidence.md) ------------------------------------------------------------
# Strict: a number is a JSON integer (not true, not "5"), a string is a string. Unknown members are allowed (a
# producer's annotations); what a member means is checked by verification, not here.

Bare32 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]  # 32 bytes as hex, no 0x
Count = Annotated[int, Field(ge=0)]
DepartmentId = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[\x00-\x7f]+$")]
_SECTION = ConfigDict(strict=True, extra="allow", frozen=True)


class BundleChain(BaseModel):
    """The chain the bundle is evidence on."""

    model_config = _SECTION
    chain_id: Count
    genesis_hash: Hex32 = Field(description="block 0's hash")
    anchor_contract: Address
    registry_contract: Address
    log_contract: Address


class BundleDepartment(BaseModel):
    """The department, its key periods and status periods as they stood at ``as_of``."""

    model_config = _SECTION
    id: DepartmentId
    name: str
    key_history: list[Any]
    status_history: list[Any]


class BundleCertificateDepartment(BundleDepartment):
    """The issuing department as above, with its certificate type periods as they stood at ``as_of``."""

    type_history: list[Any] = Field(
        description="periods {type, from_block, until_block} during which the council authorized each type"
    )


class BundleAsOf(BaseModel):
    """The block the department history and the status are stated for."""

    model_config = _SECTION
    block_number: Count
    block_hash: Hex32


class BundleCertificate(BaseModel):
    """The certificate or presentation, with every field hash (docs/format.md §3-4)."""

    model_config = _SECTION
    format: str
    fields: dict[str, Any]
    salts: dict[str, Salt]
    hidden: dict[str, Bare32]
    field_hashes: dict[str, Bare32]
    digest: Hex32


class BundleBatchAnchor(BaseModel):
    """The Merkle proof, the BatchAnchored event's facts, the batch signature and the anchoring transaction."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True, populate_by_name=True)
    root: Hex32
    proof: list[Hex32]
    count: Count
    schema_: Hex32 = Field(alias="schema")
    signer: Address
    signature: Signature
    tx_hash: Hex32
    block_number: Count
    block_hash: Hex32
    block_timestamp: Count


class BundleStatus(BaseModel):
    """The status in force at ``as_of``."""

    model_config = _SECTION
    status: str
    changed_in_block: Count | None = None
    detail: Hex32 | None = None
    reason: str | None = None


class BundleAttachment(BaseModel):
    model_config = _SECTION
    sha256: Bare32


class BundleWitness(BaseModel):
    model_config = _SECTION
    checkpoint: str = Field(description="a C2SP signed note: the checkpoint with the witnesses' cosignatures")
    state: Any = Field(
        default=None,
        description="optional (certificate bundles): {block: the cosigned block's header fields, proof: the eth_getProof "
        "answer for the issuer's trail slots, certificate (optional): the eth_getProof answer for the certificate's own "
        "slots, held_history (optional): the eth_getProof answer for the status history through the root the "
        "certificate's held slot names when that is another root, registry (optional): the registry's proofs of the "
        "issuer's key, status and type periods, packed}; (decision bundles) {block, log: the eth_getProof answer for the "
        "log contract's record of the decision's batch and of its rule set's publication}; checked by "
        "the witnessed check, not by the shape (docs/evidence.md)",
    )


class CertificateBundleModel(BaseModel):
    """A ``pl-evidence/1`` bundle for one certificate (docs/evidence.md)."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True, title="pl-evidence/1 certificate bundle")
    bundle: Literal["pl-evidence/1"]
    kind: Literal["certificate"]
    chain: BundleChain
    department: BundleCertificateDepartment
    as_of: BundleAsOf
    certificate: BundleCertificate
    anchor: BundleBatchAnchor
    status: BundleStatus
    attachment: BundleAttachment = Field(default=None, description="optional; when present, an object")  # type: ignore[assignment]
    witness: BundleWitness = Field(default=None, description="optional; when present, an object")  # type: ignore[assignment]


class BundleLogEntry(BaseModel):
    """The decision-log entry (docs/format.md §10)."""

    model_config = _SECTION
    log: Annotated[str, StringConstraints(min_length=1)]
    department: str
    seq: Count
    prev_hash: Hex32
    entry_hash: Hex32
    body: dict[str, Any]


class BundleLogAnchor(BaseModel):
    """The Merkle proof, the LogBatchAnchored event's facts, the log batch signature and its transaction."""

    model_config = _SECTION
    root: Hex32
    proof: list[Hex32]
    log_id: Hex32
    first_seq: Count
    last_seq: Count
    head_hash: Hex32
    signer: Address
    signature: Signature
    tx_hash: Hex32
    block_number: Count
    block_hash: Hex32
    block_timestamp: Count
    deadline_seconds: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="the anchoring deadline (s) the ledger held the decision to; null: none; absent in older bundles",
    )


class BundleRuleSet(BaseModel):
    """The rule set as published (its RuleSetPublished event's facts)."""

    model_config = _SECTION
    digest: Hex32
    document: dict[str, Any]
    department: str
    service_item: Hex32
    tx_hash: Hex32
    block_number: Count


class DecisionBundleModel(BaseModel):
    """A ``pl-evidence/1`` bundle for one decision: the entry, its anchor, the rule set, the opened input and
    the cited certificates (docs/evidence.md, Decision bundles)."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True, title="pl-evidence/1 decision bundle")
    bundle: Literal["pl-evidence/1"]
    kind: Literal["decision"]
    chain: BundleChain
    department: BundleDepartment
    as_of: BundleAsOf
    decision: BundleLogEntry
    anchor: BundleLogAnchor
    rule_set: BundleRuleSet | None = Field(description="null only for an officer's decision that applied no rules")
    input: dict[str, Any] | None = Field(description="the opened input; null for an officer's decision without one")
    cited: list[Any] = Field(description="the cited certificates, as presentations")
    witness: BundleWitness = Field(default=None, description="optional; when present, an object")  # type: ignore[assignment]


EvidenceBundle = TypeAdapter(Annotated[CertificateBundleModel | DecisionBundleModel, Field(discriminator="kind")])
_OWN_MESSAGES = {
    "attachment": "attachment.sha256 must be 64 hex digits",
    "witness": "witness.checkpoint must be a signed note (text)",
    "input": "input (an object, or null for an officer's decision without input) and cited (a list) are required",
    "cited": "input (an object, or null for an officer's decision without input) and cited (a list) are required",
}


def bundle_shape_problem(bundle: dict[str, Any]) -> str | None:
    """Why ``bundle`` (of a kind this reader knows) does not have the published shape, naming the first element
    at fault, or None. Sections come before the optional parts, in the order of the schema."""
    try:
        EvidenceBundle.validate_python(bundle)
    except ValidationError as exc:
        locations = [tuple(error["loc"])[1:] for error in exc.errors()]  # [0] is the discriminator's tag
        if not all(locations):  # the bundle as a whole (no member to name)
            return f"the bundle does not have the published shape: {exc.errors()[0]['msg']}"
        location = min(locations, key=lambda loc: (str(loc[0]) in _OWN_MESSAGES, 0))
        head = str(location[0])
        if head in _OWN_MESSAGES:
            return _OWN_MESSAGES[head]
        if len(location) == 1:
            return f"section {head!r} is missing or not an object"
        return f"{head}.{location[1]} is missing or malformed (see docs/evidence.md for its type)"
    return None


def evidence_bundle_schema() -> dict[str, Any]:
    schema = EvidenceBundle.json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": BUNDLE_SCHEMA_ID,
        "title": "pl-evidence/1 evidence bundle",
        **schema,
    }


def render_schema(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


SCHEMAS = {
    "certificate-document.schema.json": certificate_document_schema,
    "evidence-bundle.schema.json": evidence_bundle_schema,
}
