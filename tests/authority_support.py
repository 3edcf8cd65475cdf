"""The adversary of the type-authority tests: a department anchoring a certificate type it does not hold.

Issuance refuses such a batch before storing it and again before sending it, so the adversary skips the library
where it checks: it builds and stores the batch with the library's low-level steps, then sends ``anchorBatch``
itself with its own key (as any holder of a department key can), and hands out the holder's document. The anchor
contract (3.0.0) refuses a batch of a type the department does not hold (``AnchorTypeUnauthorized``), so what is left
to it is to declare the batch of a type it holds (its schema), signing it as such: every verifier then finds the
certificate's type is not its batch's (``type_authority``).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.formats.canonical import fields_digest, hex32, parse_hex32
from ledger.formats.certificate import CertificateDocument, batch_schema, validate_record
from ledger.formats.signing import batch_message, sign
from ledger.onchain.ids import department_id_bytes
from ledger.services import issuance
from ledger.storage.store import Batch

from .conftest import make_records


def held_schema(ledger: Ledger, department: str) -> bytes:
    """The type hash of a certificate type ``department`` holds now (its first one)."""
    chain = ledger.chain
    periods = chain.call(chain.registry.functions.typeHistory(department_id_bytes(department)))
    return next(bytes(type_hash) for type_hash, _from, until in periods if int(until) == 0)


def anchor_declared(ledger: Ledger, built: issuance.BuiltBatch, department: str) -> None:
    """Send, with ``department``'s own key, the stored batch ``built``: first as what it is (the contract refuses a
    type the department does not hold), then declared of a type it holds, signed and stored so, and confirmed."""
    chain, account = ledger.chain, ledger.department_account(department)
    count = len(built.digests)
    with pytest.raises(ChainError) as refused:
        chain.send(account, chain.anchor.functions.anchorBatch(built.root, count, issuance.schema_of(built)))
    assert refused.value.error_name == "AnchorTypeUnauthorized", refused.value
    declare(ledger, built, department, held_schema(ledger, department))


def declare(ledger: Ledger, built: issuance.BuiltBatch, department: str, declared: bytes) -> None:
    """Send the stored batch ``built`` with ``department``'s own key declared of type ``declared`` (a type hash),
    signed and stored so, and confirm it."""
    chain, account = ledger.chain, ledger.department_account(department)
    count = len(built.digests)
    message = batch_message(
        chain.chain_id, chain.deployment.anchor, built.root, count, declared, department_id_bytes(department)
    )
    with ledger.engine.begin() as conn:  # the adversary's own store, as it wants its holders' documents to read
        conn.execute(
            update(Batch)
            .where(Batch.root == hex32(built.root))  # type: ignore[arg-type]
            .values(schema_id=hex32(declared), signature="0x" + sign(account, message).hex())
        )
    sent = chain.send(account, chain.anchor.functions.anchorBatch(built.root, count, declared))
    assert chain.wait(sent, timeout=60)["status"] == 1
    issuance.confirm(ledger, built.root, timeout=60)  # finds the anchoring event mined: sends nothing itself


def anchor_anyway(ledger: Ledger, department: str, cert_type: str) -> dict[str, Any]:
    """One certificate of ``cert_type`` anchored by ``department``'s own key, past issuance's checks: in a batch
    declared of a type the department holds, since the contract refuses ``cert_type`` (:func:`anchor_declared`)."""
    records = [
        validate_record(r, i, department=department) for i, r in enumerate(make_records(1, cert_type=cert_type), 1)
    ]
    built = issuance.build_batch(ledger, records, department)
    issuance.store_prepared(ledger, built)
    assert issuance.schema_of(built) == batch_schema(cert_type)
    anchor_declared(ledger, built, department)
    return issuance.export_document(ledger, "0x" + built.digests[0].hex(), department)


def anchored_as(ledger: Ledger, department: str, cert_type: str, declared_type: str) -> dict[str, Any]:
    """One certificate of ``cert_type``, stored by the library, anchored by ``department``'s own key in a batch it
    declares of ``declared_type`` (both held: the contract's checks pass; only the leaves say otherwise)."""
    records = [
        validate_record(r, i, department=department) for i, r in enumerate(make_records(1, cert_type=cert_type), 1)
    ]
    built = issuance.build_batch(ledger, records, department)
    issuance.store_prepared(ledger, built)
    declare(ledger, built, department, batch_schema(declared_type))
    return issuance.export_document(ledger, "0x" + built.digests[0].hex(), department)


def fields_digest_of(document: dict[str, Any]) -> bytes:
    """The fields digest of the certificate ``document`` holds (its fields' and hidden hashes), which the contract's
    ``supersede`` is handed to compute the digest under the batch's type (4.0.0)."""
    return fields_digest(CertificateDocument.from_json(document).field_hashes())


def supersede_call(ledger: Ledger, old: dict[str, Any], new: dict[str, Any]) -> Any:
    """The contract call superseding document ``old`` by ``new``, each by its batch root, fields digest and proof,
    as a department sends it directly with its own key."""

    def proof(document: dict[str, Any]) -> list[bytes]:
        return [parse_hex32(p) for p in document["anchor"]["proof"]]

    return ledger.chain.anchor.functions.supersede(
        parse_hex32(old["anchor"]["root"]),
        fields_digest_of(old),
        proof(old),
        parse_hex32(new["anchor"]["root"]),
        fields_digest_of(new),
        proof(new),
    )
