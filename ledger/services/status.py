"""Revoking, suspending, reinstating and superseding certificates.

Only the department that anchored a certificate can change its status; the contract checks it with the
certificate's Merkle proof to its batch root, so the proof recomputed from the batch's stored leaves is sent
along. Every change is kept on chain with its block and time, so "was this certificate valid at time T" has an
answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import insert, select, update
from sqlmodel import col

from ..client import Ledger
from ..errors import InputError, LedgerError, NotAnchoredError, NotFoundError, StateError
from ..formats.canonical import certificate_schema, field_hashes, fields_digest, hex32, parse_hex32, typed_digest
from ..formats.reasons import REASONS
from ..storage import generations
from ..storage.store import Batch, BatchState, Certificate, StatusChange, batch_proof
from ..storage.vault import ERASED

MAX_NOTE_CHARS = 2_000


def reason_code(text: str) -> int:
    """The on-chain code of a reason name of the published vocabulary (``fraud`` -> 2)."""
    code = REASONS.get(text) if isinstance(text, str) else None
    if code is None:
        raise InputError(
            f"reason {text!r} is not in the published vocabulary; use one of {', '.join(REASONS)} "
            "(free text goes in a note, which stays off chain)"
        )
    return code


@dataclass(frozen=True)
class StoredCertificate:
    digest: bytes
    root: bytes
    proof: list[bytes]
    department: str
    certificate_id: str
    cert_type: str = ""


def stored(ledger: Ledger, digest_or_id: str, department: str | None = None) -> StoredCertificate:
    """Find a certificate of this ledger's store by digest, or by certificate id within a department. A digest
    given with a department must be that department's certificate (PermissionDenied otherwise)."""
    with ledger.engine.connect() as conn:
        query = select(
            col(Certificate.digest),
            col(Certificate.batch_root),
            col(Certificate.leaf_index),
            col(Certificate.department_id),
            col(Certificate.certificate_id),
            col(Batch.state),
            col(Batch.leaves),
            col(Batch.nodes),
            col(Certificate.cert_type),
        ).join(Batch, col(Batch.root) == Certificate.batch_root)
        if digest_or_id.startswith("0x") and len(digest_or_id) == 66:
            row = conn.execute(query.where(generations.digest_in(conn, [hex32(parse_hex32(digest_or_id))]))).first()  # type: ignore[arg-type]
        else:
            if department is None:
                raise InputError("give a certificate digest (0x + 64 hex digits), or an id with its department")
            row = conn.execute(
                query.where(
                    col(Certificate.certificate_id) == digest_or_id, col(Certificate.department_id) == department
                )
            ).first()
    if row is None:
        raise NotFoundError(f"certificate {digest_or_id} is not in this ledger's store")
    if department is not None and row[3] != department:
        # named by digest, the row's department signs below: a caller acting as ``department`` (a ledger holding
        # several departments' keys, a permit withdrawal of ``department``'s decision) must not change another's
        from .auth import PermissionDenied

        raise PermissionDenied(
            f"certificate {digest_or_id} is {row[3]}'s, not {department}'s: only its issuing department changes "
            "its status"
        )
    if not (digest_or_id.startswith("0x") and len(digest_or_id) == 66):
        _check_named_id(ledger, str(row[0]), digest_or_id)
    if row[5] != BatchState.CONFIRMED:
        raise NotAnchoredError(f"certificate {digest_or_id} is not anchored yet (batch {row[5]}); run `ledger resume`")
    # the proof is recomputed from the batch's leaves, read in the same query (nothing cached between reads)
    return StoredCertificate(
        parse_hex32(row[0]), parse_hex32(row[1]), batch_proof(row[6], row[7], row[2]), row[3], row[4], row[8]
    )


def _check_named_id(ledger: Ledger, digest: str, certificate_id: str) -> None:
    """StateError unless certificate ``digest``, found by its id ``certificate_id`` in the store, states that id in
    its sealed fields. The row's ``certificate_id`` column is the store's word, bound to nothing: an insider who
    swapped two rows' ids had an officer's ``ledger revoke ID`` (``suspend``, ``erase``, ``export``) act on the other
    person's certificate, a revocation or an erasure for good (red team round 80). The sealed body, which only the
    vault key opens and which is bound to the digest, names the id the digest commits to. Once the contents were
    erased (or when the body does not open) nothing states the id: the certificate is then found by digest only."""
    from .issuance import sealed_fields

    try:
        fields = sealed_fields(ledger, digest)
    except (LedgerError, ValueError, KeyError, TypeError):
        fields = {}
    if fields is None:
        raise StateError(
            f"certificate {certificate_id} ({digest}) was erased: no sealed field is left to check that this is its "
            "id, so it is named by its digest only; give the digest"
        )
    stated = fields.get("id")
    if stated != certificate_id:
        said = f"states the id {stated!r}" if stated is not None else "cannot be read"
        raise StateError(
            f"the store's row for certificate id {certificate_id} leads to certificate {digest}, whose sealed body "
            f"{said}: the row was changed in the database, so nothing was done with it; `ledger reconcile` names it "
            "(row_altered): restore the row, or give the certificate's digest"
        )


def _record(
    ledger: Ledger,
    cert: StoredCertificate,
    action: str,
    detail: bytes,
    receipt: Any,
    new_status: str,
    superseded_by: str | None = None,
    note: str | None = None,
) -> str:
    tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    sealed = ledger.vault.seal(note.encode(), b"status-note:" + cert.digest) if note else None
    with ledger.engine.begin() as conn:
        conn.execute(
            insert(StatusChange).values(
                digest=hex32(cert.digest),
                action=action,
                detail=hex32(detail),
                tx_hash=tx_hash,
                block_number=int(receipt["blockNumber"]),
                note_sealed=sealed,
            )
        )
        conn.execute(
            update(Certificate)
            .where(generations.digest_in(conn, [hex32(cert.digest)]))
            .values(status=new_status, superseded_by=superseded_by)
        )
    return tx_hash


def _change(
    ledger: Ledger,
    digest_or_id: str,
    reason: str,
    action: str,
    new_status: str,
    department: str | None,
    note: str | None,
) -> str:
    code = reason_code(reason)
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE_CHARS):
        raise InputError(f"a note is text of at most {MAX_NOTE_CHARS} characters")
    cert = stored(ledger, digest_or_id, department)
    chain = ledger.chain
    fn = getattr(chain.anchor.functions, action)(cert.root, cert.digest, cert.proof, code)
    receipt = chain.transact(ledger.department_account(cert.department), fn)
    return _record(ledger, cert, action, code.to_bytes(32, "big"), receipt, new_status, note=note)


def revoke(
    ledger: Ledger, digest_or_id: str, reason: str, department: str | None = None, *, note: str | None = None
) -> str:
    """Revoke (terminal). ``reason`` is a name of :data:`REASONS`; ``note`` is free text kept off chain, sealed."""
    return _change(ledger, digest_or_id, reason, "revoke", "revoked", department, note)


def suspend(
    ledger: Ledger, digest_or_id: str, reason: str, department: str | None = None, *, note: str | None = None
) -> str:
    return _change(ledger, digest_or_id, reason, "suspend", "suspended", department, note)


def reinstate(
    ledger: Ledger, digest_or_id: str, reason: str, department: str | None = None, *, note: str | None = None
) -> str:
    return _change(ledger, digest_or_id, reason, "reinstate", "valid", department, note)


def note_of(ledger: Ledger, change_id: int) -> str | None:
    """The sealed free-text note of a status change, opened with the vault key (None when there is none)."""
    with ledger.engine.connect() as conn:
        row = conn.execute(
            select(StatusChange.digest, StatusChange.note_sealed).where(StatusChange.id == change_id)  # type: ignore[call-overload]
        ).first()
    if row is None or row[1] is None:
        return None
    return ledger.vault.open(bytes(row[1]), b"status-note:" + parse_hex32(row[0])).decode()


def _sealed_side(ledger: Ledger, cert: StoredCertificate) -> tuple[str, bytes]:
    """The type ``cert``'s sealed fields state (only the vault key opens them, bound to its digest), not the store
    row's ``cert_type``, which an insider retypes to pass a supersession by a certificate of another type (red team
    round 34a), and its fields digest, which ``CertificateAnchor.supersede`` (4.0.0) is handed to compute the digest
    under the batch's type. StateError for fields that do not open or do not give the digest. A certificate whose
    contents were erased: what its erasure entry recorded (:func:`_erased_side`)."""
    from .issuance import read_body

    digest = hex32(cert.digest)
    with ledger.engine.connect() as conn:
        sealed = conn.execute(select(col(Certificate.sealed)).where(generations.digest_in(conn, [digest]))).scalar()
    if sealed is not None and bytes(sealed) == ERASED:
        return _erased_side(ledger, cert)
    try:
        fields, salts = read_body(ledger.vault.open(bytes(sealed or b""), cert.digest))
        kind = fields.get("type")
        inner = fields_digest(field_hashes(fields, salts))
        same = typed_digest(certificate_schema(kind), inner) == cert.digest
    except (LedgerError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StateError(
            f"the sealed body of certificate {digest} does not open ({exc}): its store row was edited; "
            "`ledger reconcile` names it"
        ) from exc
    if not same:
        raise StateError(
            f"the sealed body of certificate {digest} does not give its digest: its store row was edited; "
            "`ledger reconcile` names it"
        )
    return cast(str, kind), inner  # text: certificate_schema took it


def _erased_side(ledger: Ledger, cert: StoredCertificate) -> tuple[str, bytes]:
    """:func:`_sealed_side` of a certificate whose contents were erased: the type and fields digest its department's
    erasure entry recorded from the body before destroying it, held to the digest (an insider's edit of either is
    refused here: no other fields digest gives the digest under that type, short of a SHA-256 preimage; the
    contract checks the same). StateError for an erasure whose entry records no fields digest (logged before they
    were recorded, or a body destroyed with no entry): nothing else holds it."""
    from .erasure import recorded_entry  # erasure imports this module

    digest = hex32(cert.digest)
    entry = recorded_entry(ledger, cert.department, digest)
    kind, inner = (entry.get("type"), entry.get("fields_digest")) if entry is not None else (None, None)
    if inner is None:
        raise StateError(
            f"certificate {digest}'s contents were erased, and its fields digest with them (its erasure entry, "
            "if any, predates their recording, or its index key was edited: the log's check names that): the anchor contract needs it to name a supersession; revoke the "
            "certificate instead (reason data-changed)"
        )
    try:
        fields = parse_hex32(inner, "fields digest") if isinstance(inner, str) else b""
        same = isinstance(kind, str) and typed_digest(certificate_schema(kind), fields) == cert.digest
    except (LedgerError, ValueError, TypeError):
        same = False
    if not same:
        raise StateError(
            f"certificate {digest}'s contents were erased, and the type and fields digest its erasure entry records "
            "do not give its digest: the entry was edited in the database; `ledger reconcile` and the log's check "
            "name it. Revoke the certificate instead, or restore the entry from a backup"
        )
    return cast(str, kind), fields


def supersede(ledger: Ledger, old: str, new: str, department: str | None = None) -> str:
    """Mark ``old`` replaced by ``new``: both the department's, anchored, and of one certificate type (a successor of
    another type would be named to every relying party of ``old`` as its replacement). The contract is handed each
    one's fields digest and computes its digest under its batch's type (4.0.0), so it refuses the same."""
    old_cert, new_cert = stored(ledger, old, department), stored(ledger, new, department)
    (old_type, old_fields), (new_type, new_fields) = _sealed_side(ledger, old_cert), _sealed_side(ledger, new_cert)
    if old_type != new_type:
        raise InputError(
            f"certificate {old} is a {old_type!r} and {new} a {new_type!r}: a certificate is "
            "superseded only by one of its own type; issue a replacement of that type, or revoke it instead"
        )
    chain = ledger.chain
    fn = chain.anchor.functions.supersede(
        old_cert.root, old_fields, old_cert.proof, new_cert.root, new_fields, new_cert.proof
    )
    receipt = chain.transact(ledger.department_account(old_cert.department), fn)
    return _record(ledger, old_cert, "supersede", new_cert.digest, receipt, "superseded", hex32(new_cert.digest))
