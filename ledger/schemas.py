"""Typed models of the certificate document (docs/format.md) and its published JSON Schema.

``CertificateDocumentModel`` is the shape of a ``pl-cert/1`` certificate or presentation as holders keep it and
verifiers read it. Its JSON Schema is generated from the model and committed as
``docs/schema/certificate-document.schema.json``, so independent verifiers can check a document's shape without
our code; ``tests/test_schemas.py`` regenerates it and fails when the committed file differs (renew it with
``python scripts/build_schemas.py``). The shape is what a document must have; what it means (digests, proofs,
signatures, the chain) is checked by verification.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .canonical import CERT_FORMAT, SALT_BYTES

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "docs" / "schema"
SCHEMA_ID = "https://provenance-ledger.example/schema/certificate-document.schema.json"

Hex32 = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{64}$")]
FieldHash = Annotated[str, StringConstraints(pattern=r"^(0x)?[0-9a-fA-F]{64}$")]  # written without 0x; read either
Address = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{40}$")]
Salt = Annotated[str, StringConstraints(pattern=rf"^[0-9a-fA-F]{{{2 * SALT_BYTES}}}$")]
Signature = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{130}$")]
Department = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[\x20-\x7e]+$")]
BlockNumber = Annotated[int, Field(ge=0)]


class Anchor(BaseModel):
    """Where the certificate's batch is anchored (docs/format.md §5-§7) and the certificate's Merkle proof."""

    model_config = ConfigDict(extra="allow", frozen=True)

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
    """A ``pl-cert/1`` certificate document or presentation (docs/format.md §2-§4)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="pl-cert/1 certificate document")

    format: Literal["pl-cert/1"] = Field(description=f"always {CERT_FORMAT!r}")
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


def render_schema(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


SCHEMAS = {"certificate-document.schema.json": certificate_document_schema}
