"""Bulk issuance: validate a whole file, then salt, hash, batch, sign, store and anchor it.

1. A validation pass reads the file once, streaming, and checks every record (and that no certificate id is
   used twice, in the file or in the store). Any error stops the run before anything is written.
2. The issuing pass reads it again and cuts it into batches. Each batch is built (salts, field hashes, Merkle
   tree, EIP-712 signature of the root), stored with its certificates in one database transaction in state
   ``prepared``, sent in one transaction (``submitted``) and, once mined with the configured confirmations,
   marked ``confirmed``. Up to ``PIPELINE`` batches are in flight, so building overlaps with mining.

Memory holds at most a few batches, never the file. After a crash, :func:`resume` completes every pending
batch: if the chain has the root it is confirmed from the anchoring event, otherwise it is sent again (the
contract refuses a root twice, so nothing is anchored twice).
"""

from __future__ import annotations

import json
import os
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import blake2b
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import delete, insert, select, update

from .canonical import SALT_BYTES, hex32
from .certificate import SCHEMA_ID, Record, iter_raw_records, record_fields, seal_fields, validate_record
from .chain import ROLE_ISSUER, department_id_bytes
from .client import Ledger
from .errors import ChainError, InputError, StateError
from .merkle import MerkleTree
from .signing import batch_message, sign
from .store import Batch, BatchState, Certificate, utcnow

PIPELINE = 2
MAX_REPORTED_ERRORS = 20
Progress = Callable[[int, int], None]


@dataclass
class BuiltBatch:
    root: bytes
    department: str
    signer: str
    signature: bytes
    digests: list[bytes]
    tree: MerkleTree
    fields: list[dict[str, Any]]
    salts: list[dict[str, bytes]]
    tx_hash: str | None = None


@dataclass
class IssueResult:
    department: str
    count: int = 0
    batches: list[str] = field(default_factory=list)
    transactions: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"department": self.department, "certificates": self.count, "batches": self.batches,
                "transactions": self.transactions}


# -- validation ------------------------------------------------------------------------------------------------

def _id_hash(department: str, certificate_id: str) -> int:
    return int.from_bytes(blake2b(f"{department}\x00{certificate_id}".encode(), digest_size=8).digest(), "big")


def validate_file(ledger: Ledger, path: Path, department: str) -> int:
    """Check every record of ``path``; returns the record count or raises InputError listing the problems."""
    errors: list[str] = []
    seen = array("Q")
    pending: list[tuple[str, int]] = []
    count = 0

    def check_store() -> None:
        existing = _existing_ids(ledger, department, [cid for cid, _ in pending])
        for cid, line in pending:
            if cid in existing:
                errors.append(f"line {line}: certificate id {cid!r} was already issued by {department}")
        pending.clear()

    for line, raw in iter_raw_records(path, max_record_bytes=ledger.settings.max_record_bytes):
        try:
            record = validate_record(raw, line, department=department)
        except InputError as exc:
            errors.append(str(exc))
            if len(errors) >= MAX_REPORTED_ERRORS:
                break
            continue
        count += 1
        seen.append(_id_hash(department, record.certificate_id))
        pending.append((record.certificate_id, line))
        if len(pending) >= 1000:
            check_store()
    check_store()
    if not errors:
        errors.extend(_duplicates_in_file(path, department, seen, ledger.settings.max_record_bytes))
    if errors:
        more = " (stopped after the first ones)" if len(errors) >= MAX_REPORTED_ERRORS else ""
        raise InputError(f"{path.name}: {len(errors)} invalid record(s){more}; nothing was issued:\n  "
                         + "\n  ".join(errors[:MAX_REPORTED_ERRORS]))
    if count == 0:
        raise InputError(f"{path.name} holds no records; nothing was issued")
    return count


def _existing_ids(ledger: Ledger, department: str, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(Certificate.certificate_id).where(
            Certificate.department_id == department, Certificate.certificate_id.in_(ids)))  # type: ignore[attr-defined]
        return {r[0] for r in rows}


def _duplicates_in_file(path: Path, department: str, seen: array, max_bytes: int) -> list[str]:
    ordered = sorted(seen)
    suspects = {a for a, b in zip(ordered, ordered[1:], strict=False) if a == b}
    if not suspects:
        return []
    first_line: dict[str, int] = {}
    errors = []
    for line, raw in iter_raw_records(path, max_record_bytes=max_bytes):
        cid = raw.get("id")
        if isinstance(cid, str) and _id_hash(department, cid) in suspects:
            if cid in first_line:
                errors.append(f"line {line}: certificate id {cid!r} repeats line {first_line[cid]}")
            else:
                first_line[cid] = line
    return errors


# -- issuing ---------------------------------------------------------------------------------------------------

def _records(path: Path, department: str, max_bytes: int) -> Iterator[Record]:
    for line, raw in iter_raw_records(path, max_record_bytes=max_bytes):
        yield validate_record(raw, line, department=department)


def _chunks(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def check_can_issue(ledger: Ledger, department: str) -> None:
    """Fail before writing anything when this department's key may not anchor."""
    account = ledger.department_account(department)
    chain = ledger.chain
    if not chain.call(chain.registry.functions.isActiveSigner(account.address, ROLE_ISSUER)):
        raise StateError(f"department {department!r} cannot issue: its key {account.address} is not the current "
                         "key of an active department with the issuer role (suspended, rotated out or never "
                         "registered); `ledger departments` shows its status")


def issue_file(ledger: Ledger, path: Path, department: str, *, batch_size: int | None = None,
               out: TextIO | None = None, progress: Progress | None = None) -> IssueResult:
    """Issue every record of a JSONL or CSV file for ``department``; see the module docstring."""
    check_can_issue(ledger, department)
    total = validate_file(ledger, path, department)
    records = _records(path, department, ledger.settings.max_record_bytes)
    return issue_records(ledger, records, department, batch_size=batch_size, out=out, progress=progress,
                         total=total)


def issue_records(ledger: Ledger, records: Iterable[Record], department: str, *, batch_size: int | None = None,
                  out: TextIO | None = None, progress: Progress | None = None, total: int = 0) -> IssueResult:
    """Issue already validated records (the library entry point used by the gateway and benchmarks)."""
    size = batch_size or ledger.settings.batch_size
    if not 1 <= size <= ledger.settings.max_batch_size:
        raise InputError(f"batch size {size} must be between 1 and {ledger.settings.max_batch_size}")
    result = IssueResult(department)
    inflight: deque[BuiltBatch] = deque()
    for chunk in _chunks(records, size):
        built = build_batch(ledger, chunk, department)
        store_prepared(ledger, built)
        submit(ledger, built)
        result.batches.append(hex32(built.root))
        inflight.append(built)
        while len(inflight) > PIPELINE:
            _finish(ledger, inflight.popleft(), result, out, progress, total)
    while inflight:
        _finish(ledger, inflight.popleft(), result, out, progress, total)
    return result


def _finish(ledger: Ledger, built: BuiltBatch, result: IssueResult, out: TextIO | None,
            progress: Progress | None, total: int) -> None:
    anchor = confirm(ledger, built.root)
    result.count += len(built.digests)
    result.transactions.append(anchor["tx_hash"])
    if out is not None:
        for i, digest in enumerate(built.digests):
            doc = document_json(built.fields[i], built.salts[i], anchor, built.tree.proof(i))
            out.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
    if progress is not None:
        progress(result.count, total)


def build_batch(ledger: Ledger, records: list[Record], department: str) -> BuiltBatch:
    account = ledger.department_account(department)
    issued_at = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    all_fields = [record_fields(r, department, issued_at) for r in records]
    randomness = os.urandom(SALT_BYTES * sum(len(f) for f in all_fields))
    offset = 0
    digests, salts = [], []
    for fields in all_fields:
        n = SALT_BYTES * len(fields)
        sealed = seal_fields(fields, randomness[offset:offset + n])
        offset += n
        digests.append(sealed.digest)
        salts.append(sealed.salts)
    tree = MerkleTree(digests)
    chain = ledger.chain
    message = batch_message(chain.chain_id, chain.deployment.anchor, tree.root, len(records), SCHEMA_ID,
                            department_id_bytes(department))
    return BuiltBatch(root=tree.root, department=department, signer=account.address,
                      signature=sign(account, message), digests=digests, tree=tree, fields=all_fields,
                      salts=salts)


def _body(fields: dict[str, Any], salts: dict[str, bytes]) -> bytes:
    return json.dumps({"fields": fields, "salts": {k: v.hex() for k, v in salts.items()}},
                      ensure_ascii=False, separators=(",", ":")).encode()


def store_prepared(ledger: Ledger, built: BuiltBatch) -> None:
    """Write the batch (state prepared) and all its certificates in one transaction."""
    vault = ledger.vault
    root = hex32(built.root)
    rows = []
    for i, digest in enumerate(built.digests):
        fields = built.fields[i]
        rows.append({
            "digest": hex32(digest), "batch_root": root, "leaf_index": i, "certificate_id": fields["id"],
            "department_id": built.department, "cert_type": fields["type"], "issued_at": fields["issued_at"],
            "valid_until": fields.get("valid_until"), "proof": b"".join(built.tree.proof(i)),
            "sealed": vault.seal(_body(fields, built.salts[i]), digest), "status": "valid",
        })
    with ledger.engine.begin() as conn:
        conn.execute(insert(Batch).values(
            root=root, department_id=built.department, schema_id=hex32(SCHEMA_ID), count=len(rows),
            state=BatchState.PREPARED, signer=built.signer, signature="0x" + built.signature.hex(),
            created_at=utcnow()))
        conn.execute(insert(Certificate), rows)


def submit(ledger: Ledger, built: BuiltBatch) -> str:
    """Send the anchoring transaction of a prepared batch; a definitive refusal removes the batch."""
    chain = ledger.chain
    account = ledger.department_account(built.department)
    fn = chain.anchor.functions.anchorBatch(built.root, len(built.digests), SCHEMA_ID)
    try:
        tx_hash = chain.send(account, fn)
    except ChainError as exc:
        if exc.error_name is not None:  # the contract refused: this batch can never be anchored as it is
            _discard(ledger, hex32(built.root))
        raise
    with ledger.engine.begin() as conn:
        conn.execute(update(Batch).where(Batch.root == hex32(built.root)).values(  # type: ignore[arg-type]
            state=BatchState.SUBMITTED, tx_hash=tx_hash))
    built.tx_hash = tx_hash
    return tx_hash


def _discard(ledger: Ledger, root: str) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(delete(Certificate).where(Certificate.batch_root == root))  # type: ignore[arg-type]
        conn.execute(delete(Batch).where(Batch.root == root))  # type: ignore[arg-type]


def anchor_event(ledger: Ledger, root: bytes) -> dict[str, Any] | None:
    """The BatchAnchored event of ``root`` as the chain has it now, or None."""
    chain = ledger.chain
    logs = chain.anchor.events.BatchAnchored().get_logs(
        from_block=chain.deployment.deployed_block, argument_filters={"root": root})
    if not logs:
        return None
    log = logs[-1]
    block = chain.w3.eth.get_block(log["blockNumber"])
    return {"tx_hash": "0x" + bytes(log["transactionHash"]).hex(), "block_number": int(log["blockNumber"]),
            "block_hash": "0x" + bytes(log["blockHash"]).hex(), "block_time": int(block["timestamp"]),
            "signer": log["args"]["signer"]}


def confirm(ledger: Ledger, root: bytes, *, timeout: float | None = None) -> dict[str, Any]:
    """Wait until the batch's anchor has the configured confirmations; mark it confirmed; return anchor data."""
    chain = ledger.chain
    root_hex = hex32(root)
    with ledger.engine.connect() as conn:
        batch = conn.execute(select(Batch).where(Batch.root == root_hex)).first()  # type: ignore[arg-type]
    if batch is None:
        raise StateError(f"batch {root_hex} is not in the store")
    if batch.tx_hash:
        try:
            chain.wait(batch.tx_hash, timeout=timeout)
        except ChainError:
            if anchor_event(ledger, root) is None:
                raise
    event = anchor_event(ledger, root)
    if event is None:
        raise ChainError(f"batch {root_hex} is not anchored on chain; `ledger resume` will send it again")
    deadline = time.monotonic() + (timeout or chain.timeout)
    while chain.block_number() < event["block_number"] + ledger.settings.confirmations:
        if time.monotonic() > deadline:
            raise ChainError(f"batch {root_hex} did not reach {ledger.settings.confirmations} confirmations")
        time.sleep(0.2)
    with ledger.engine.begin() as conn:
        conn.execute(update(Batch).where(Batch.root == root_hex).values(  # type: ignore[arg-type]
            state=BatchState.CONFIRMED, tx_hash=event["tx_hash"], block_number=event["block_number"],
            block_hash=event["block_hash"], block_time=event["block_time"], confirmed_at=utcnow()))
    return anchor_data(ledger, {**batch._mapping, **event})


def anchor_data(ledger: Ledger, batch: Mapping[str, Any]) -> dict[str, Any]:
    """The ``anchor`` section of a certificate document (a batch row), without the per-certificate proof."""
    chain = ledger.chain
    return {
        "chain_id": chain.chain_id, "contract": chain.deployment.anchor, "registry": chain.deployment.registry,
        "root": batch["root"], "department": batch["department_id"], "signer": batch["signer"],
        "signature": batch["signature"], "count": batch["count"], "schema": batch["schema_id"],
        "tx_hash": batch["tx_hash"], "block_number": batch["block_number"], "block_hash": batch["block_hash"],
        "block_time": batch["block_time"],
    }


def document_json(fields: dict[str, Any], salts: dict[str, bytes], anchor: dict[str, Any],
                  proof: list[bytes]) -> dict[str, Any]:
    from .certificate import CertificateDocument

    return CertificateDocument(fields=fields, salts=salts, hidden={},
                               anchor={**anchor, "proof": [hex32(p) for p in proof]}).to_json()


def resume(ledger: Ledger) -> list[str]:
    """Complete every batch left prepared or submitted (after a crash or a chain outage)."""
    with ledger.engine.connect() as conn:
        pending = conn.execute(select(Batch.root, Batch.state, Batch.department_id).where(
            Batch.state.in_(BatchState.PENDING)).order_by(Batch.created_at)).all()  # type: ignore[attr-defined]
    done = []
    for root_hex, state, department in pending:
        root = bytes.fromhex(root_hex[2:])
        if anchor_event(ledger, root) is None:
            chain = ledger.chain
            account = ledger.department_account(department)
            with ledger.engine.connect() as conn:
                count = conn.execute(select(Batch.count).where(Batch.root == root_hex)).scalar_one()  # type: ignore[arg-type]
            tx_hash = chain.send(account, chain.anchor.functions.anchorBatch(root, count, SCHEMA_ID))
            with ledger.engine.begin() as conn:
                conn.execute(update(Batch).where(Batch.root == root_hex).values(  # type: ignore[arg-type]
                    state=BatchState.SUBMITTED, tx_hash=tx_hash))
        confirm(ledger, root)
        done.append(root_hex)
    return done


def export_document(ledger: Ledger, digest_or_id: str, department: str | None = None) -> dict[str, Any]:
    """Rebuild the holder's certificate document from the store (fields unsealed in memory only)."""
    from .status import stored

    cert = stored(ledger, digest_or_id, department)
    with ledger.engine.connect() as conn:
        sealed = conn.execute(select(Certificate.sealed).where(
            Certificate.digest == hex32(cert.digest))).scalar_one()  # type: ignore[arg-type]
        batch = conn.execute(select(Batch).where(Batch.root == hex32(cert.root))).first()  # type: ignore[arg-type]
    body = json.loads(ledger.vault.open(bytes(sealed), cert.digest))
    salts = {k: bytes.fromhex(v) for k, v in body["salts"].items()}
    return document_json(body["fields"], salts, anchor_data(ledger, batch._mapping), cert.proof)
