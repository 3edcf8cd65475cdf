"""Bulk issuance: validate a whole file, then salt, hash, batch, sign, store and anchor it.

1. A validation pass reads the file once, streaming, and checks every record (and that no certificate id is
   used twice, in the file or in the store). Any error stops the run before anything is written.
2. The issuing pass reads it again and cuts it into batches, each of one certificate type (its ``schema``, which
   the anchor contract checks the department holds and a supersession must share: a file mixing types becomes
   batches per type, :func:`_typed_chunks`). Each batch is built (salts, field hashes, Merkle tree, EIP-712
   signature of the root and type), stored whole with its certificates in state ``prepared`` (a few batches
   per database transaction: ``GROUP_BATCHES``), sent in one transaction of its own (``submitted``) once its
   group has committed and, once mined with the configured confirmations, marked ``confirmed``. The batches of
   a group are mined while the next group is built and stored (at least ``PIPELINE`` in flight), and the next
   batch is built while the database commits a group.

Memory holds at most a few batches (and a partial batch per type of a file mixing types), never the file. After a
crash, :func:`resume` completes every pending batch: if the chain has the root it is confirmed from the anchoring
event, otherwise it is sent again (the contract refuses a root twice, so nothing is anchored twice).
"""

from __future__ import annotations

import itertools
import json
import operator
import os
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, cast

from sqlalchemy import Connection, RootTransaction, delete, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import col

from ..client import Ledger
from ..errors import ChainError, ErasedError, FundsError, InputError, LedgerError, NotFoundError, StateError
from ..formats import checks as checks_core
from ..formats.canonical import hex32, parse_hex32
from ..formats.certificate import Record, batch_schema, iter_raw_records, validate_record
from ..formats.signing import batch_message, sign
from ..onchain import chainread
from ..onchain.ids import ROLE_ISSUER, department_code, department_id_bytes
from ..storage import generations
from ..storage.generations import DigestStored
from ..storage.models import Hex32
from ..storage.store import (
    BATCH_HEAD,
    Batch,
    BatchState,
    Certificate,
    batch_proof,
    chunk_nodes,
    placeholder,
    rows_in,
    utcnow,
)
from ..storage.vault import ERASED
from ._issue_worker import (  # re-exported: the pure half of issuance, run by worker processes
    BuiltBatch,
    _body,
    _build_in_worker,
    _build_lines_in_worker,
    _check,
    _check_lines,
    _Checked,
    _id_hash,
    _proof,
    _unsigned,
    _warm,
    read_body,
    row_columns,
    salts_of,
)

PIPELINE = 2
MAX_REPORTED_ERRORS = 20
Progress = Callable[[int, int], None]


@dataclass
class IssueResult:
    department: str
    count: int = 0
    batches: list[str] = field(default_factory=list)
    transactions: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "department": self.department,
            "certificates": self.count,
            "batches": self.batches,
            "transactions": self.transactions,
        }


# -- validation ------------------------------------------------------------------------------------------------


def _anchor_read_errors() -> tuple[type[Exception], ...]:
    """The errors of a failed read of an anchoring, web3's imported when an exception is matched against them (a
    process that opened no chain client raises none: a replay worker imports this module without web3)."""
    from web3.exceptions import BlockNotFound, Web3RPCError

    return (OSError, Web3RPCError, BlockNotFound)


def validate_file(
    ledger: Ledger,
    path: Path,
    department: str,
    *,
    skip_issued: bool = False,
    pool: _BuildPool | None = None,
    block: int = 0,
    valid_slices: dict[int, tuple[bytes, bool]] | None = None,
    types_found: dict[str, int] | None = None,
) -> int:
    """Check every record of ``path``; returns the count of records to issue or raises InputError listing the
    problems. With ``skip_issued``, ids this department already stored are not errors and not counted.

    With ``pool`` (a JSONL file), worker processes parse and check slices of ``block`` records (default
    ``_CHECK_BLOCK``) of the file's lines; this process keeps what needs the store or the whole file: the ids
    already issued and the ids repeated in the file (on the 8-byte id hashes the workers return). Errors are taken
    in line order either way, so the report is the same. ``valid_slices`` receives, by first line number, the
    digest of each slice whose records all passed the workers' check (``_issue_worker._slice_digest``) and whether
    orjson alone parsed each of its lines: the issuing pass checks again only a slice whose bytes are not those.
    ``types_found`` receives each certificate type of the file and the line it first appears on."""
    max_bytes = ledger.settings.max_record_bytes
    errors: list[str] = []
    seen = array("Q")
    pending: list[tuple[str, int]] = []
    types: dict[str, int] = {} if types_found is None else types_found
    count = 0
    already = 0

    def check_store() -> None:
        nonlocal already
        for i in range(0, len(pending), 1000):
            part = pending[i : i + 1000]
            existing = _existing_ids(ledger, department, [cid for cid, _ in part])
            for cid, line in part:
                if cid in existing:
                    if skip_issued:
                        already += 1
                    else:
                        errors.append(f"line {line}: certificate id {cid!r} was already issued by {department}")
        pending.clear()

    if pool is not None and _is_jsonl(path):
        results = pool.checked(_line_blocks(path, block or _CHECK_BLOCK), department, max_bytes)
    else:
        results = _checked_here(iter_raw_records(path, max_record_bytes=max_bytes), department)
    for checked in results:
        for problem in checked.errors:
            errors.append(problem)
            if len(errors) >= MAX_REPORTED_ERRORS:
                break
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
        if checked.fatal is not None:
            raise checked.fatal  # a line that is not a record at all (malformed JSON, oversize): the first one
        if valid_slices is not None and checked.slice_digest and not checked.errors:
            valid_slices[checked.first_line] = checked.slice_digest, checked.orjson_values
        count += len(checked.ids)
        for certificate_type, line in checked.types.items():
            types.setdefault(certificate_type, line)
        seen.frombytes(checked.hashes)
        pending.extend(zip(checked.ids, checked.lines, strict=True))
        if len(pending) >= 1000:
            check_store()
    check_store()
    if not errors:
        errors.extend(_duplicates_in_file(path, department, seen, max_bytes))
    if errors:
        more = " (stopped after the first ones)" if len(errors) >= MAX_REPORTED_ERRORS else ""
        raise InputError(
            f"{path.name}: {len(errors)} invalid record(s){more}; nothing was issued:\n  "
            + "\n  ".join(errors[:MAX_REPORTED_ERRORS])
        )
    if count == 0:
        raise InputError(f"{path.name} holds no records; nothing was issued")
    check_types_authorized(ledger, department, types, where=path.name)
    return count - already


def _checked_here(records: Iterable[tuple[int, Any]], department: str) -> Iterator[_Checked]:
    records = iter(records)
    while True:
        checked = _check(records, department, 1000)
        if not (checked.ids or checked.errors or checked.fatal):
            return
        yield checked
        if checked.fatal is not None:
            return


# Lines per slice the validation pass hands to a worker process.
_CHECK_BLOCK = 10_000


def _is_jsonl(path: Path) -> bool:
    return path.suffix.lower() != ".csv"


def _line_blocks(path: Path, records: int, *, tail: bool = True) -> Iterator[tuple[int, list[bytes]]]:
    """A JSONL file's lines, as read, in slices of ``records`` non-blank lines: (first line number, lines). Blank
    lines ride along so every slice's line numbers stay exact; ``tail`` yields trailing blank lines too."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        first, lines, count = 1, [], 0
        for raw in handle:
            lines.append(raw)
            if not raw.isspace():  # what iter_jsonl_lines skips as blank (ASCII whitespace only)
                count += 1
                if count == records:
                    yield first, lines
                    first, lines, count = first + len(lines), [], 0
        if lines and (count or tail):
            yield first, lines


def _existing_ids(ledger: Ledger, department: str, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    with ledger.engine.connect() as conn:
        table = Certificate.__tablename__
        head = f"SELECT certificate_id FROM {table} WHERE department_id = {{mark}} AND certificate_id"  # noqa: S608
        return {r[0] for r in rows_in(conn, head, (department,), ids)}


def _duplicates_in_file(path: Path, department: str, seen: array, max_bytes: int) -> list[str]:
    ordered = sorted(seen)
    suspects = {a for a, b in itertools.pairwise(ordered) if a == b}
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


def _typed_chunks(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    """Batches of at most ``size`` records, each of one certificate type (the batch's ``schema``, which the anchor
    contract checks the department holds and which a supersession must share): records are gathered per type, a
    batch leaving when its type has ``size``, the rest at the end, in the order their types first appeared. A file
    of one type is batched as before; a file mixing types becomes one run of batches per type."""
    pending: dict[str, list[Record]] = {}
    for record in records:
        chunk = pending.setdefault(record.cert_type, [])
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            del pending[record.cert_type]
    yield from pending.values()


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
        raise StateError(
            f"department {department!r} cannot issue: its key {account.address} is not the current "
            "key of an active department with the issuer role (suspended, rotated out or never "
            "registered); `ledger departments` shows its status"
        )


def check_types_authorized(
    ledger: Ledger, department: str, types: Iterable[str] | Mapping[str, int], *, where: str = ""
) -> None:
    """Fail before anything is written or anchored when ``department`` may not issue one of ``types`` now (the
    council's schedule in the registry, docs/governance.md). A mapping gives each type's first line in ``where``."""
    refused = _unauthorized(ledger, department, types)
    if not refused:
        return
    lines = types if isinstance(types, Mapping) else {}
    shown = ", ".join(f"{t!r}" + (f" (first on line {lines[t]})" if t in lines else "") for t in refused)
    raise StateError(
        f"{where + ': ' if where else ''}department {department!r} is not authorized to issue certificates of type "
        f"{shown}; nothing was issued. {_how_to_grant(department, refused)}"
    )


def _unauthorized(ledger: Ledger, department: str, types: Iterable[str]) -> list[str]:
    """Those of ``types`` the registry does not authorize ``department`` to issue now, sorted."""
    from .council import is_authorized_for_type  # eth_abi and eth_account: imported where a grant is read

    return sorted(t for t in set(types) if not is_authorized_for_type(ledger.chain, department, t))


def _how_to_grant(department: str, types: Sequence[str]) -> str:
    return (
        f"The council grants a type: one member runs `ledger council propose grant-type {department} "
        f"{' '.join(types)}` and others `ledger council approve PROPOSAL` until it executes (`ledger departments` "
        "lists each department's types)"
    )


def issue_file(
    ledger: Ledger,
    path: Path,
    department: str,
    *,
    batch_size: int | None = None,
    out: TextIO | None = None,
    progress: Progress | None = None,
    skip_issued: bool = False,
) -> IssueResult:
    """Issue every record of a JSONL or CSV file for ``department``; see the module docstring.

    ``skip_issued`` continues an interrupted run of the same file: records whose certificate id this
    department already stored are skipped instead of refused (run :func:`resume` first to finish their
    batches; ``ledger continue`` does both).
    """
    check_can_issue(ledger, department)
    size = batch_size or ledger.settings.batch_size
    workers = _worker_count(ledger.settings.issue_workers)
    # Worker processes start (and import the library) while this process runs the validation pass; a file of
    # one batch or less is built here, where starting them would cost more than it saves.
    parallel = workers and _records_beyond(path, size if ledger.settings.issue_workers > 0 else _POOL_MIN_RECORDS)
    max_bytes = ledger.settings.max_record_bytes
    with _BuildPool.start(workers) if parallel else _NoPool() as pool:
        size_ok = 1 <= size <= ledger.settings.max_batch_size
        from_lines = pool is not None and _is_jsonl(path) and not skip_issued and size_ok
        # the validation pass checks the slices the issuing pass will build (one batch each), noting each valid one
        valid_slices: dict[int, tuple[bytes, bool]] | None = {} if from_lines else None
        types: dict[str, int] = {}
        total = validate_file(
            ledger,
            path,
            department,
            skip_issued=skip_issued,
            pool=pool,
            block=size if from_lines else 0,
            valid_slices=valid_slices,
            types_found=types,
        )
        if len(types) > 1:
            # a slice of lines is one batch, and a batch is of one type: a file mixing types is batched per type
            # from its records (_typed_chunks), by the workers too
            valid_slices = None
        if not size_ok:
            raise InputError(f"batch size {size} must be between 1 and {ledger.settings.max_batch_size}")
        built: Iterable[BuiltBatch]
        if pool is not None and valid_slices is not None:
            # the workers read the records from the lines, and check again any slice whose bytes are not those
            # the validation pass found valid (the file may have changed between the passes)
            built = pool.built_from_lines(
                _line_blocks(path, size, tail=False),
                ledger,
                department,
                max_bytes,
                with_proofs=out is not None,
                valid_slices=valid_slices,
            )
        else:
            records = _records(path, department, max_bytes)
            if skip_issued:
                records = _not_yet_issued(ledger, records, department)
            chunks = _typed_chunks(records, size)
            built = (
                pool.built(chunks, ledger, department, with_proofs=out is not None)
                if pool
                else _build_here(chunks, ledger, department)
            )
        return _issue(ledger, built, department, out, progress, total)


def _not_yet_issued(ledger: Ledger, records: Iterable[Record], department: str) -> Iterator[Record]:
    for chunk in _chunks(records, 1000):
        existing = _existing_ids(ledger, department, [r.certificate_id for r in chunk])
        yield from (r for r in chunk if r.certificate_id not in existing)


def issue_records(
    ledger: Ledger,
    records: Iterable[Record],
    department: str,
    *,
    batch_size: int | None = None,
    out: TextIO | None = None,
    progress: Progress | None = None,
    total: int = 0,
    decision_notice: bool = False,
) -> IssueResult:
    """Issue already validated records (the library entry point used by the gateway and benchmarks).
    ``decision_notice``: the records are notices written from their decisions (``notices.issue_notice`` only)."""
    size = batch_size or ledger.settings.batch_size
    if not 1 <= size <= ledger.settings.max_batch_size:
        raise InputError(f"batch size {size} must be between 1 and {ledger.settings.max_batch_size}")
    if isinstance(records, Sequence):  # all of them before the first batch (a generator: each batch, in _issue)
        types = {r.cert_type for r in records}
        if not decision_notice:
            _refuse_notices(types)
        check_types_authorized(ledger, department, types)
    # The cyclic collector is not paused here (the gateway runs this): the CLI pauses it (ledger._gc).
    return _issue(
        ledger,
        _build_here(_typed_chunks(records, size), ledger, department),
        department,
        out,
        progress,
        total,
        decision_notice=decision_notice,
    )


NOTICE_TYPE = "decision-notice"  # the type of a decision's notice (notices.py, which imports this module)


def _refuse_notices(types: AbstractSet[str]) -> None:
    """InputError for records of the notice type written by hand: a notice states what its decision was, and one
    issued from a record of the issuer's own writing ("approve" for a case the department refused, naming the
    refusal) was valid for every verifier, which cannot read the decision it names (red team round 34a)."""
    if NOTICE_TYPE in types:
        raise InputError(
            f"a certificate of type {NOTICE_TYPE!r} is a decision's notice, written from the decision it reports: "
            "issue it with `ledger notice CASE -d DEPT` (notices.issue_notice), not as a record; nothing was issued",
            field="type",
        )


def _issue(
    ledger: Ledger,
    batches: Iterable[BuiltBatch],
    department: str,
    out: TextIO | None,
    progress: Progress | None,
    total: int,
    *,
    decision_notice: bool = False,
) -> IssueResult:
    result = IssueResult(department)
    inflight: deque[BuiltBatch] = deque()
    authorized: set[str] = set()
    group: _Group | None = None
    size = 0

    def check_types(built: BuiltBatch) -> None:
        """The last guard on every path: no batch is stored, let alone anchored, with a type not authorized, nor
        a notice written by hand."""
        if not decision_notice:
            _refuse_notices(batch_types(built))
        types = batch_types(built) - authorized
        if types:
            check_types_authorized(ledger, department, types)
            authorized.update(types)

    def stored(committed: _Group, committing: Future[None]) -> None:
        committing.result()  # the group's batches are in the store (state prepared) before any of them is sent
        for built in committed.batches:
            if out is None:  # what only a rewrite of the group needed (its types are kept: batch_types)
                built.bodies, built.columns = None, None
            submit(ledger, built)
            result.batches.append(hex32(built.root))
            inflight.append(built)
        # the batches of the group before are confirmed while this one's are mined (at least PIPELINE in flight)
        while len(inflight) > max(PIPELINE, len(committed.batches)):
            _finish(ledger, inflight.popleft(), result, out, progress, total)

    # Batches are stored a group at a time, in one transaction (``_group_size``), and sent once it commits. The
    # commit (writing the journal and checkpointing it: I/O with the GIL released) runs on a second thread while
    # the next batch is built on this one. Per batch the order is unchanged: inserted and committed (prepared),
    # then sent (submitted), then confirmed; leaving the block waits for a running commit.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-commit") as committer:
        previous: tuple[_Group, Future[None]] | None = None
        try:
            for built in batches:
                check_types(built)
                if group is None:
                    if previous is not None:
                        stored(*previous)
                        previous = None
                    size = size or _group_size(len(built.digests))
                    group = _Group.begin(ledger)
                group.add(built)
                if len(group.batches) >= size:
                    previous, group = (group, committer.submit(group.commit)), None
        except BaseException as exc:
            if group is not None:
                group.close_after_error(exc)  # keeps its complete batches (prepared, unsent), as one at a time would
            raise
        if group is not None:
            previous = group, committer.submit(group.commit)
        if previous is not None:
            stored(*previous)
    while inflight:
        _finish(ledger, inflight.popleft(), result, out, progress, total)
    return result


# Certificates stored per transaction in a bulk issuance: several batches (of the default 10,000) a commit. Each
# batch inserts its random digests all over the digest's unique index, and every index page a transaction dirties
# is written to the write-ahead log (and later checkpointed) once per commit: a page dirtied by five batches of one
# transaction is written once instead of five times (issue 18, bench/analysis.md "several batches per
# transaction": -31 % of the writer's SQLite CPU at 3M, -48 % of its writes). The cost: a batch is sent only once
# its group commits, and a crash loses up to a group of batches never sent (`ledger continue` issues them again).
GROUP_CERTIFICATES = 50_000
GROUP_BATCHES = 5


def _group_size(batch: int) -> int:
    """Batches per transaction for batches of ``batch`` certificates: up to GROUP_BATCHES, at most about
    GROUP_CERTIFICATES certificates (one batch of the largest size alone)."""
    return max(1, min(GROUP_BATCHES, GROUP_CERTIFICATES // max(batch, 1)))


class _Group:
    """Batches inserted, each whole, in one open transaction, committed together by :meth:`commit`.

    Nothing of a group is sent before it commits, so a crash at any point leaves each of its batches either
    stored whole (state prepared, sent by `ledger resume`) or absent (never sent, never reported issued)."""

    def __init__(
        self, ledger: Ledger, conn: Connection, transaction: RootTransaction, *, deferred: bool = True
    ) -> None:
        self.ledger = ledger
        self.conn = conn
        self.transaction = transaction
        self.batches: list[BuiltBatch] = []
        self.closed = False
        self._deferred = deferred
        self._rows: list[list[tuple[Any, ...]]] = []  # each batch's certificate rows, sealed, until the commit

    @classmethod
    def begin(cls, ledger: Ledger, *, deferred: bool = True) -> _Group:
        conn = ledger.engine.connect()
        try:
            return cls(ledger, conn, conn.begin(), deferred=deferred)
        except BaseException:
            conn.close()
            raise

    def add(self, built: BuiltBatch, rows: list[tuple[Any, ...]] | None = None) -> None:
        """Insert ``built``'s batch row (state prepared) and seal its certificates; their rows are inserted by
        :meth:`commit`, every batch's of the group in one statement in digest order (``deferred``), else here. On
        an error the transaction is rolled back and the batches before it in the group are written again, in a
        transaction of their own, before the error is raised. The group keeps the sealed rows until it is
        written (to commit or to write again), not the plaintexts they were sealed from: those are let go here."""
        try:
            if rows is None:
                rows = _prepared_rows(self.ledger, built)
                built.bodies, built.columns = None, None  # what only sealing and a rewrite needed (types: kept)
            _insert_batch_row(self.conn, built, len(rows))
            if not self._deferred:
                _insert_certificate_rows(self.ledger, self.conn, rows)
        except BaseException as exc:
            self._rollback()
            if isinstance(exc, Exception) and self.batches:
                again = _Group.begin(self.ledger)
                for earlier, earlier_rows in zip(self.batches, self._rows, strict=True):
                    again.add(earlier, earlier_rows)
                again.commit()
            if not _lost_race(exc):
                raise
            # Another writer stored one of these certificate ids first (the unique constraint is the arbiter);
            # this batch was rolled back whole, so nothing of it exists.
            ids = [r[0] for r in row_columns(built)] if rows is None else [r[3] for r in rows]
            raise _issued_concurrently(self.ledger, built.department, ids, built.digests) from None
        self.batches.append(built)
        self._rows.append(rows)

    def commit(self) -> None:
        """Insert the group's certificate rows, in digest order, and commit. Inserted batch by batch, each batch's
        random digests went all over the digest's unique index five times a group; in one sorted pass its pages
        are visited once each, in order (issue 18, bench/analysis.md "one sorted insert per group": -14 to -23 %
        of the writer's SQLite CPU from 4M to 13M, writer alone). Only the order in which rows are inserted
        changes: each row keeps its leaf index, and readers wanting leaf order ask for it (ORDER BY leaf_index).
        If another writer took one of the ids meanwhile, or a digest is stored already (``generations.place``), the
        statement fails whole and the batches are inserted again one at a time, which finds the batch holding it
        and stores the batches before it (:meth:`add`)."""
        self.closed = True
        rows, self._rows = self._rows, []
        try:
            if rows and self._deferred:
                every = sorted(itertools.chain.from_iterable(rows), key=operator.itemgetter(0))
                try:
                    _insert_certificate_rows(self.ledger, self.conn, every)
                except (DBAPIError, DigestStored) as exc:
                    if not isinstance(exc, DigestStored) and not _lost_race(exc):
                        raise
                    del every
                    self.transaction.rollback()
                    self.conn.close()
                    again = _Group.begin(self.ledger, deferred=False)
                    for built, built_rows in zip(self.batches, rows, strict=True):
                        again.add(built, built_rows)  # raises at the batch holding a taken id or digest
                    again.commit()
                    return
            self.transaction.commit()
        finally:
            self.conn.close()

    def close_after_error(self, exc: BaseException) -> None:
        """The run stops before the group is full: its complete batches are committed (KeyboardInterrupt and the
        like roll them back, as a crash would: none of them was sent)."""
        if self.closed:
            return  # add() already rolled back and wrote the complete batches again
        if isinstance(exc, Exception) and self.batches:
            self.commit()
        else:
            self._rollback()

    def _rollback(self) -> None:
        self.closed = True
        try:
            self.transaction.rollback()
        finally:
            self.conn.close()


def _finish(
    ledger: Ledger, built: BuiltBatch, result: IssueResult, out: TextIO | None, progress: Progress | None, total: int
) -> None:
    anchor = confirm(ledger, built.root)
    result.count += len(built.digests)
    result.transactions.append(anchor["tx_hash"])
    if out is not None:
        for i in range(len(built.digests)):
            doc = document_json(built.fields[i], salts_of(built, i), anchor, _proof(built, i))
            out.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
    if progress is not None:
        progress(result.count, total)


def build_batch(ledger: Ledger, records: list[Record], department: str) -> BuiltBatch:
    return _signed(ledger, department, _unsigned(records, department, _issued_at()))


def _issued_at() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _signed(ledger: Ledger, department: str, built: BuiltBatch) -> BuiltBatch:
    """Sign the batch's root and type with the department's key (in this process: keys never go to a worker)."""
    account = ledger.department_account(department)
    chain = ledger.chain
    message = batch_message(
        chain.chain_id,
        chain.deployment.anchor,
        built.root,
        len(built.digests),
        schema_of(built),
        department_id_bytes(department),
    )
    built.signer = account.address
    built.signature = sign(account, message)
    return built


def _build_here(chunks: Iterable[list[Record]], ledger: Ledger, department: str) -> Iterator[BuiltBatch]:
    for chunk in chunks:
        yield build_batch(ledger, chunk, department)


# -- worker processes ------------------------------------------------------------------------------------------
#
# With worker processes, each batch's salts, hashes, Merkle tree, proofs and sealed-body plaintexts are computed in
# a worker; this process keeps everything that needs a key or the database (signing, sealing with the vault,
# inserting, anchoring), so it stays the one writer and the order of states per batch is unchanged. Batches come
# back in input order. Salts are drawn from os.urandom in the worker (the kernel's generator, per process).


def _worker_count(configured: int) -> int:
    """Worker processes to build batches: ``configured`` if > 0; by default one per core (0 on one core:
    everything runs in this process); ``LEDGER_ISSUE_WORKERS=-1`` turns them off.

    One per core, not one per core beyond the writer's: a worker needs ≈ 45 µs of CPU per certificate (parse,
    check, build), the writer ≈ 25 (seal, insert, commit), so with one worker per spare core the writer's core
    idles a third of the time; one more worker fills it (the scheduler shares the cores between the three)."""
    if configured < 0:
        return 0
    cores = os.cpu_count() or 1
    return configured or (cores if cores > 1 else 0)


# By default workers start only for files of more than this many lines: starting them (each imports the library)
# costs about a second of CPU, more than they save on smaller files. A configured worker count uses them for any
# file of more than one batch.
_POOL_MIN_RECORDS = 20_000


def _records_beyond(path: Path, lines: int) -> bool:
    try:
        with path.open("rb") as handle:
            return sum(1 for _ in zip(range(lines + 1), handle, strict=False)) > lines
    except OSError:
        return False  # validate_file names the problem


class _NoPool:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


class _BuildPool:
    def __init__(self, executor: Any, workers: int) -> None:
        self._executor = executor
        self._workers = workers

    @classmethod
    def start(cls, workers: int) -> _BuildPool:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # never fork: this process holds database connections, the node's process and key material. Spawned
        # workers are this process's own children, so their CPU time counts in its RUSAGE_CHILDREN.
        context = multiprocessing.get_context("spawn")
        executor = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        for _ in range(workers):
            executor.submit(_warm)
        return cls(executor, workers)

    def __enter__(self) -> _BuildPool:
        return self

    def __exit__(self, *_: object) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _in_order(self, calls: Iterable[tuple[Callable[..., Any], tuple[Any, ...]]]) -> Iterator[Any]:
        """The calls' results in order; up to workers + 1 are running or queued ahead (bounded memory)."""
        ahead: deque[Future[Any]] = deque()
        for function, args in calls:
            ahead.append(self._executor.submit(function, *args))
            if len(ahead) > self._workers:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()

    def checked(self, blocks: Iterable[tuple[int, list[bytes]]], department: str, max_bytes: int) -> Iterator[_Checked]:
        """The validation pass's findings for each slice of lines, in file order."""
        return self._in_order((_check_lines, (first, lines, department, max_bytes)) for first, lines in blocks)

    def built(
        self, chunks: Iterable[list[Record]], ledger: Ledger, department: str, *, with_proofs: bool
    ) -> Iterator[BuiltBatch]:
        """The chunks' batches, signed, in input order (each certificate's proof only ``with_proofs``)."""
        calls = (
            (
                _build_in_worker,
                (
                    [(r.certificate_id, r.cert_type, r.subject, r.valid_from, r.valid_until, r.attachments) for r in c],
                    department,
                    _issued_at(),
                    with_proofs,
                ),
            )
            for c in chunks
        )
        for built in self._in_order(calls):
            yield _signed(ledger, department, built)

    def built_from_lines(
        self,
        blocks: Iterable[tuple[int, list[bytes]]],
        ledger: Ledger,
        department: str,
        max_bytes: int,
        *,
        with_proofs: bool,
        valid_slices: Mapping[int, tuple[bytes, bool]] | None = None,
    ) -> Iterator[BuiltBatch]:
        """The batches of slices of a JSONL file's lines (one batch each), parsed and built by the workers,
        signed here, in file order. A slice is checked again unless its digest is the one ``valid_slices`` holds
        for its first line (``validate_file``: the same bytes the validation pass found valid)."""
        valid = valid_slices or {}
        calls = (
            (
                _build_lines_in_worker,
                (first, lines, department, _issued_at(), max_bytes, with_proofs, valid.get(first)),
            )
            for first, lines in blocks
        )
        for built in self._in_order(calls):
            yield _signed(ledger, department, built)


_CERT_COLUMNS = (
    "digest",
    "batch_root",
    "leaf_index",
    "certificate_id",
    "department_id",
    "cert_type",
    "issued_at",
    "valid_until",
    "sealed",
    "status",
)


def _insert_certificates_sql(paramstyle: str, epoch: int) -> str:
    """One plain INSERT in the driver's own placeholder style (executemany on tuples, no per-row ORM work), of
    rows into generation ``epoch`` (an integer of :func:`generations.place`, written into the statement)."""
    mark = placeholder(paramstyle)
    columns, marks = ", ".join(_CERT_COLUMNS), ", ".join([mark] * len(_CERT_COLUMNS))
    return f"INSERT INTO {Certificate.__tablename__} (epoch, {columns}) VALUES ({int(epoch)}, {marks})"  # noqa: S608


def _insert_certificate_rows(ledger: Ledger, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """The one insert of certificate rows (each a :func:`_prepared_rows` tuple: the digest's 32 bytes first), in
    ``conn``'s open transaction after its batch rows (so SQLite's write lock is held): ``generations.place``
    chooses the generation and refuses a digest a closed one holds (:class:`DigestStored`), then one statement."""
    epoch = generations.place(conn, [r[0] for r in rows])
    conn.exec_driver_sql(_insert_certificates_sql(ledger.engine.dialect.paramstyle, epoch), rows)


def store_prepared(ledger: Ledger, built: BuiltBatch, *, held: bool = False) -> None:
    """Write the batch (state prepared, or ``held`` until :func:`release_held`) and all its certificates in one
    transaction."""
    _commit(_write_prepared(ledger, built, BatchState.HELD if held else BatchState.PREPARED))


def release_held(conn: Connection, roots: Sequence[bytes]) -> None:
    """Inside the caller's transaction: the ``held`` batches ``roots`` become ``prepared`` (sendable)."""
    for i in range(0, len(roots), 900):
        conn.execute(
            update(Batch)
            .where(col(Batch.root).in_([hex32(r) for r in roots[i : i + 900]]), col(Batch.state) == BatchState.HELD)
            .values(state=BatchState.PREPARED)
        )


def _write_prepared(
    ledger: Ledger, built: BuiltBatch, state: str = BatchState.PREPARED
) -> tuple[Connection, RootTransaction]:
    """Insert the batch (``state``) and its certificates in a transaction left open for :func:`_commit`."""
    conn = ledger.engine.connect()
    transaction = conn.begin()
    try:
        _insert_prepared(ledger, conn, built, state)
    except BaseException as exc:
        transaction.rollback()
        conn.close()
        if not _lost_race(exc):
            raise
        # Another writer stored one of these certificate ids first (the unique constraint is the arbiter);
        # this batch was rolled back whole, so nothing of it exists.
        ids = [r[0] for r in row_columns(built)]
        raise _issued_concurrently(ledger, built.department, ids, built.digests) from None
    return conn, transaction


def _lost_race(exc: BaseException) -> bool:
    """Whether ``exc`` is another writer's insert of the same certificate ids winning over this one's: the unique
    constraint refusing a row (IntegrityError), or PostgreSQL ending this transaction as a deadlock's victim
    (SQLSTATE 40P01). A group inserts its rows in digest order, and the digests of one record issued by two writers
    differ (their salts are random), so two writers of one file take the id index's entries in different orders;
    PostgreSQL then aborts one of them, which is as much a lost race as a refused row (a fresh-clone CI run of
    tests/test_postgres.py, once its racing processes started with the threads). Nothing of the victim's
    transaction was written."""
    if isinstance(exc, IntegrityError):
        return True
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) == "40P01"


def _issued_concurrently(ledger: Ledger, department: str, ids: list[str], digests: Sequence[bytes] = ()) -> InputError:
    """The InputError of a batch that lost the race for one of its certificate ids (:func:`_lost_race`). A deadlock's
    victim is told while the other writer's transaction is still open: none of the ids it took is committed (nor
    may ever be: that writer can still roll back), so then the message says so rather than naming none as issued.
    A batch refused for a digest that is stored (the newest generation's primary key) is told that, naming it."""
    stored = _stored_digests(ledger, digests)
    if stored:
        return DigestStored(stored)
    taken = sorted(_existing_ids(ledger, department, ids))
    if not taken:
        return InputError(
            f"another writer was issuing certificate ids of this batch for {department} at the same moment and has "
            "not committed them (the database ended this batch's transaction to break a deadlock between the two): "
            "nothing of this batch was written; once that writer has finished, `ledger continue` the file: it "
            "issues the records not issued by then"
        )
    return InputError(
        f"certificate id(s) {taken[:5]} of this batch were issued by {department} concurrently (another writer of "
        "the same records); nothing of this batch was written: `ledger continue` the file to issue the rest"
    )


def _stored_digests(ledger: Ledger, digests: Sequence[bytes]) -> list[str]:
    """Those of ``digests`` (32 bytes each) that a stored certificate has."""
    found: list[str] = []
    with ledger.engine.connect() as conn:
        for i in range(0, len(digests), 900):
            part = [hex32(d) for d in digests[i : i + 900]]
            found += conn.execute(select(col(Certificate.digest)).where(generations.digest_in(conn, part))).scalars()
    return sorted(found)


def _insert_prepared(ledger: Ledger, conn: Connection, built: BuiltBatch, state: str = BatchState.PREPARED) -> None:
    """Insert the batch (``state``) and its certificates in ``conn``'s open transaction."""
    rows = _prepared_rows(ledger, built)
    _insert_batch_row(conn, built, len(rows), state)
    _insert_certificate_rows(ledger, conn, rows)


def _prepared_rows(ledger: Ledger, built: BuiltBatch) -> list[tuple[Any, ...]]:
    """The certificate rows of ``built``, in leaf order, their bodies sealed."""
    department = built.department
    # every certificate gets its own data key (wrapped by the department's key): erasure destroys it (vault.py)
    bodies = built.bodies or [_body(fields, salts_of(built, i)) for i, fields in enumerate(built.fields)]
    sealed = ledger.vault.seal_certificates(department, list(zip(bodies, built.digests, strict=True)))
    root_bytes = built.root
    return [
        # digest and root as 32 raw bytes: the columns' storage form (models.Hex32)
        (digest, root_bytes, i, cid, department, cert_type, issued_at, valid_until, sealed[i], "valid")
        for i, (digest, (cid, cert_type, issued_at, valid_until)) in enumerate(
            zip(built.digests, row_columns(built), strict=True)
        )
    ]


def _insert_batch_row(conn: Connection, built: BuiltBatch, count: int, state: str = BatchState.PREPARED) -> None:
    conn.execute(
        insert(Batch).values(
            root=hex32(built.root),
            department_id=built.department,
            schema_id=hex32(schema_of(built)),
            count=count,
            state=state,
            signer=built.signer,
            signature="0x" + built.signature.hex(),
            created_at=utcnow(),
            # the proofs are recomputed from these when read (store.batch_proof), not stored per certificate
            leaves=b"".join(built.digests),
            nodes=built.run_roots if built.tree is None else chunk_nodes(built.tree),
        )
    )


def _commit(written: tuple[Connection, RootTransaction]) -> None:
    conn, transaction = written
    try:
        transaction.commit()
    finally:
        conn.close()


def batch_types(built: BuiltBatch) -> frozenset[str]:
    """The certificate types of a built batch, computed once per batch (a set over up to 10,000 rows)."""
    if built.types is None:
        built.types = frozenset(columns[1] for columns in row_columns(built))
    return built.types


def schema_of(built: BuiltBatch) -> bytes:
    """The batch's ``schema``: the hash of its one certificate type (:func:`batch_schema`). StateError for a batch
    of several types, which no issuance path builds (:func:`_typed_chunks`) and the contract could not judge."""
    types = batch_types(built)
    if len(types) != 1:
        raise StateError(
            f"a batch holds certificates of {len(types)} types ({', '.join(sorted(map(repr, types)))}); a batch is "
            "of one type. Issue the records through `ledger issue`, which batches them per type"
        )
    return batch_schema(next(iter(types)))


def submit(ledger: Ledger, built: BuiltBatch) -> str | None:
    """Send the anchoring transaction of a prepared batch.

    A definitive refusal by the contract removes the batch (nothing of it is anchored). When the node cannot be
    reached the batch stays ``prepared`` and :func:`confirm` sends it once the node answers again.
    """
    try:
        tx_hash = _send_anchor(ledger, hex32(built.root), batch_types(built))
    except FundsError:
        raise  # the key cannot pay: no retry until it is funded; the batch stays prepared for `ledger resume`
    except ChainError as exc:
        if exc.error_name is None:
            return None
        if exc.error_name != "AnchorRootAlreadyAnchored":  # the contract refused: never anchorable as it is
            _discard(ledger, hex32(built.root))
            raise
        return None
    built.tx_hash = tx_hash
    return tx_hash


class _HeldBack(StateError):
    """A batch not sent because its department may no longer issue one of its types; it stays prepared."""


def _send_anchor(ledger: Ledger, root_hex: str, types: AbstractSet[str] | None = None) -> str:
    """Send ``anchorBatch`` for a stored batch and record it as ``submitted``.

    The department must hold every certificate type of the batch (``types``, else read from its rows) now, when it
    is sent, not only when it was prepared: a type the council revoked meanwhile (during a long run, before a
    ``ledger resume``, between a decision and its permit) raises StateError and the batch stays ``prepared``,
    unsent, until the council grants the type again. If the department's key was rotated since the batch was
    prepared, the root is signed again with the current key first, so the stored signature always matches the key
    that anchors it.
    """
    chain = ledger.chain
    with ledger.engine.connect() as conn:
        batch = conn.execute(select(Batch).where(Batch.root == root_hex)).first()  # type: ignore[arg-type]
        if batch is not None and types is None:
            types = set(
                conn.execute(
                    select(col(Certificate.cert_type)).where(col(Certificate.batch_root) == root_hex).distinct()
                ).scalars()
            )
    if batch is None:
        raise StateError(f"batch {root_hex} is not in the store")
    schema = _stored_schema(root_hex, batch.schema_id, types or frozenset())
    refused = _unauthorized(ledger, batch.department_id, types or ())
    if refused:
        raise _HeldBack(
            f"batch {root_hex} was not sent and stays prepared: department {batch.department_id!r} may no longer "
            f"issue certificates of type {', '.join(map(repr, refused))} (the council revoked it after the batch "
            f"was prepared). {_how_to_grant(batch.department_id, refused)}; then `ledger resume` sends the batch"
        )
    account = ledger.department_account(batch.department_id)
    root = bytes.fromhex(root_hex[2:])
    if account.address.lower() != batch.signer.lower():
        message = batch_message(
            chain.chain_id,
            chain.deployment.anchor,
            root,
            batch._mapping["count"],
            schema,
            department_id_bytes(batch.department_id),
        )
        with ledger.engine.begin() as conn:
            conn.execute(
                update(Batch)
                .where(col(Batch.root) == root_hex)
                .values(signer=account.address, signature="0x" + sign(account, message).hex())
            )
    try:
        tx_hash = chain.send(account, chain.anchor.functions.anchorBatch(root, batch.count, schema))
    except ChainError as exc:
        if exc.error_name != "AnchorTypeUnauthorized":
            raise
        # the council revoked the type between the check above and the sending: held back, as above (the contract
        # checks it too, CertificateAnchor 3.0.0), not discarded: a grant again lets `ledger resume` send it
        held = sorted(types or ())
        raise _HeldBack(
            f"batch {root_hex} was not sent and stays prepared: the anchor contract refused it, department "
            f"{batch.department_id!r} not holding type {', '.join(map(repr, held))} now. "
            f"{_how_to_grant(batch.department_id, held)}; then `ledger resume` sends the batch"
        ) from exc
    with ledger.engine.begin() as conn:
        conn.execute(
            update(Batch)
            .where(col(Batch.root) == root_hex, col(Batch.state) != BatchState.CONFIRMED)
            .values(state=BatchState.SUBMITTED, tx_hash=tx_hash)
        )
    return tx_hash


def _stored_schema(root_hex: str, schema_id: str, types: AbstractSet[str]) -> bytes:
    """The schema batch ``root_hex`` is anchored with: the hash of the one type of its certificates, which must be the
    schema stored (and signed) with it. StateError otherwise (a row edited in the database): nothing is sent."""
    schema = batch_schema(next(iter(types))) if len(types) == 1 else None
    if schema is None or hex32(schema) != str(schema_id).lower():
        raise StateError(
            f"batch {root_hex} was not sent: its certificates are of type(s) {', '.join(sorted(map(repr, types)))} "
            f"but the batch records schema {schema_id}; a batch is of one type, recorded with it. The store was "
            "edited: run `ledger reconcile`"
        )
    return schema


def _delete_batch(conn: Connection, root: str) -> None:
    """Delete batch ``root`` and its certificates on ``conn`` (the caller's transaction)."""
    conn.execute(delete(Certificate).where(col(Certificate.batch_root) == root))
    conn.execute(delete(Batch).where(col(Batch.root) == root))


def _discard(ledger: Ledger, root: str) -> None:
    with ledger.engine.begin() as conn:
        _delete_batch(conn, root)


def discard_prepared(ledger: Ledger, built: BuiltBatch) -> None:
    """Remove a batch stored ``held`` (or ``prepared``) and never sent (its certificates with it), as if it had not
    been built: what it was built for was refused. A batch already sent is left alone (``ledger resume`` finishes
    it)."""
    root = hex32(built.root)
    with ledger.engine.begin() as conn:
        state = conn.execute(select(col(Batch.state)).where(col(Batch.root) == root)).scalar()
        if state in (BatchState.HELD, BatchState.PREPARED) and built.tx_hash is None:
            _delete_batch(conn, root)


def anchor_event(ledger: Ledger, root: bytes, department: str | None = None) -> dict[str, Any] | None:
    """The BatchAnchored event of ``department``'s batch ``root`` as the chain has it now, or None.

    ``department`` defaults to the one that prepared the batch in this store. Only an event of that department
    counts: another department anchoring the same root value (a front-run "squat") lives in its own namespace
    on chain and is never taken for ours.

    The event is held to the contract's record of the batch (``batch(department, root)``): read in the block that
    record names only, and taken only with the record's key and size. A node answering the root's logs with an
    anchoring the contract never recorded (its transaction swallowed) had ``confirm`` mark the batch confirmed in a
    block of the node's making (red team round 78).
    """
    chain = ledger.chain
    root_hex = hex32(root)
    if department is None:
        with ledger.engine.connect() as conn:
            department = conn.execute(
                select(Batch.department_id).where(  # type: ignore[call-overload]
                    Batch.root == root_hex
                )
            ).scalar()
        if department is None:
            raise StateError(f"batch {root_hex} is not in the store; name its department")
    dept = department_id_bytes(department)
    try:
        signer, number, _time, count, _schema = chain.call(chain.anchor.functions.batch(dept, root))
        if int(number) == 0:
            return None  # the contract has no record of the batch: whatever the logs say, it is not anchored
        what = f"the anchoring of batch {root_hex}"
        logs = chainread.recorded_anchorings(chain, dept, root, str(signer), int(number), int(count), what)
        if not logs:
            return None
        log = logs[-1]
        block = chain.w3.eth.get_block(log["blockNumber"])
    except _anchor_read_errors() as exc:
        raise ChainError(f"could not read the anchor of {root_hex}: {exc}") from exc
    return {
        "tx_hash": "0x" + bytes(log["transactionHash"]).hex(),
        "block_number": int(log["blockNumber"]),
        "block_hash": "0x" + bytes(log["blockHash"]).hex(),
        "block_time": int(block["timestamp"]),
        "signer": log["args"]["signer"],
        "count": int(log["args"]["count"]),
        "department": department_code(bytes(log["args"]["departmentId"])),
    }


def confirm(ledger: Ledger, root: bytes, *, timeout: float | None = None) -> dict[str, Any]:
    """Bring a stored batch to ``confirmed``; return its anchor data.

    Loops until the chain has the batch's ``BatchAnchored`` event with the configured confirmations on top,
    then marks it confirmed, in the same block it was re-read from (an anchor moved by a reorganisation while
    waiting is waited for again). On the way it sends the batch when it has no transaction, sends it again when
    the node dropped the transaction, and rides out a node that does not answer until ``timeout``.
    """
    from ..onchain.chain import DROP_CHECKS

    chain = ledger.chain
    root_hex = hex32(root)
    wait = timeout or chain.timeout
    deadline = time.monotonic() + wait
    misses = 0
    last_error: ChainError | None = None
    delay = 0.01
    while True:
        with ledger.engine.connect() as conn:
            batch = conn.execute(select(*BATCH_HEAD).where(Batch.root == root_hex)).first()  # type: ignore[arg-type]
        if batch is None:
            raise StateError(f"batch {root_hex} is not in the store")
        refused: ChainError | None = None
        try:
            event = anchor_event(ledger, root, batch.department_id)
            if event is not None:
                misses = 0
                _check_own_anchor(batch, event)
                if chain.block_number() >= event["block_number"] + ledger.settings.confirmations:
                    again = anchor_event(ledger, root, batch.department_id)
                    if again is not None and again["block_hash"] == event["block_hash"]:
                        _check_own_anchor(batch, again)
                        return _mark_confirmed(ledger, batch, again)
            elif batch.tx_hash is None:
                _send_anchor(ledger, root_hex)
            else:
                receipt = chain.receipt(batch.tx_hash)
                if (
                    receipt is not None
                    and receipt["status"] != 1
                    and anchor_event(ledger, root, batch.department_id) is None
                ):
                    refused = ChainError(
                        f"the anchoring transaction {batch.tx_hash} of batch {root_hex} reverted "
                        f"({chain._replay_revert(batch.tx_hash, receipt)}); the batch stays "
                        "pending"
                    )
                misses = 0 if receipt is not None or chain.known(batch.tx_hash) else misses + 1
                if misses >= DROP_CHECKS:  # the node forgot it (dropped, or lost in a restart): send again
                    misses = 0
                    _send_anchor(ledger, root_hex)
            last_error = None
        except FundsError:
            raise  # waiting does not fund the key: say so now (the batch stays stored; `ledger resume` sends it)
        except ChainError as exc:
            if exc.error_name is not None and exc.error_name != "AnchorRootAlreadyAnchored":
                raise  # the contract refuses this batch (e.g. the department was suspended)
            # AnchorRootAlreadyAnchored: anchored meanwhile by another process or an earlier attempt; any
            # other ChainError: the node does not answer. Either way, look again until the deadline.
            last_error = exc
        if refused is not None:
            raise refused
        if time.monotonic() > deadline:
            why = f": {last_error}" if last_error else ""
            raise ChainError(
                f"batch {root_hex} did not reach {ledger.settings.confirmations} confirmation(s) "
                f"within {wait} s{why}; `ledger resume` completes it"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def _check_own_anchor(batch: Any, event: dict[str, Any]) -> None:
    """The event must be this batch's own anchoring: by its department (the lookup ensures it) with the very key
    that signed the stored root. Anything else would be marked confirmed yet never verify."""
    if (
        event["department"] != batch.department_id
        or event["signer"].lower() != batch.signer.lower()
        or event["count"] != batch.count
    ):
        raise StateError(
            f"batch {batch.root} of {batch.department_id} was anchored on chain by {event['signer']} of "
            f"{event['department']} for {event['count']} certificates, but this store signed it with "
            f"{batch.signer} for {batch.count}: it is not this batch's anchoring. Nothing was marked confirmed; "
            "issue these records again (new salts give a new root) after finding who holds that key"
        )


def _mark_confirmed(ledger: Ledger, batch: Any, event: dict[str, Any]) -> dict[str, Any]:
    with ledger.engine.begin() as conn:
        conn.execute(
            update(Batch)
            .where(Batch.root == batch.root)
            .values(  # type: ignore[arg-type]
                state=BatchState.CONFIRMED,
                tx_hash=event["tx_hash"],
                block_number=event["block_number"],
                block_hash=event["block_hash"],
                block_time=event["block_time"],
                confirmed_at=utcnow(),
            )
        )
        row = conn.execute(select(*BATCH_HEAD).where(Batch.root == batch.root)).one()  # type: ignore[arg-type]
    return anchor_data(ledger, row._mapping)


def anchor_data(ledger: Ledger, batch: Mapping[Any, Any]) -> dict[str, Any]:
    """The ``anchor`` section of a certificate document (a batch row), without the per-certificate proof."""
    chain = ledger.chain
    return {
        "chain_id": chain.chain_id,
        "contract": chain.deployment.anchor,
        "registry": chain.deployment.registry,
        "root": batch["root"],
        "department": batch["department_id"],
        "signer": batch["signer"],
        "signature": batch["signature"],
        "count": batch["count"],
        "schema": batch["schema_id"],
        "tx_hash": batch["tx_hash"],
        "block_number": batch["block_number"],
        "block_hash": batch["block_hash"],
        "block_time": batch["block_time"],
    }


def document_json(
    fields: dict[str, Any], salts: dict[str, bytes], anchor: dict[str, Any], proof: list[bytes]
) -> dict[str, Any]:
    from ..formats.certificate import CertificateDocument

    return CertificateDocument(
        fields=fields, salts=salts, hidden={}, anchor={**anchor, "proof": [hex32(p) for p in proof]}
    ).to_json()


def recheck(ledger: Ledger, *, window: int | None = None) -> list[str]:
    """Compare confirmed batches with the chain; move those whose anchor is gone back to ``prepared``.

    A batch counts as gone when the block it was confirmed in is no longer canonical (a reorganisation, or an
    embedded node that lost its newest blocks in a hard kill) and the chain has no ``BatchAnchored`` event for
    its root. If the chain has the event in another block, the batch keeps its place and only its coordinates
    are updated. Only batches in the newest ``window`` blocks are checked (default: 256 or four times the
    configured confirmations); ``ledger reconcile`` checks them all. Returns the roots moved back.
    """
    chain = ledger.chain
    head = chain.block_number()
    window = window if window is not None else chainread.Finality(ledger.settings.confirmations).recheck_window
    with ledger.engine.connect() as conn:
        # a confirmed batch always has its block number
        rows = cast(
            "Sequence[tuple[str, int, str | None]]",
            conn.execute(
                select(col(Batch.root), col(Batch.block_number), col(Batch.block_hash))
                .where(col(Batch.state) == BatchState.CONFIRMED, col(Batch.block_number) >= max(0, head - window))
                .order_by(col(Batch.block_number))
            ).all(),
        )
    canonical: dict[int, str | None] = {}
    moved = []
    for root_hex, number, stored_hash in rows:
        if number not in canonical:
            canonical[number] = chain.block_hash(number)
        if canonical[number] == stored_hash:
            continue
        event = anchor_event(ledger, bytes.fromhex(root_hex[2:]))
        with ledger.engine.begin() as conn:
            query = update(Batch).where(Batch.root == root_hex)  # type: ignore[arg-type]
            if event is not None:
                deep = chain.block_number() >= event["block_number"] + ledger.settings.confirmations
                conn.execute(
                    query.values(
                        state=BatchState.CONFIRMED if deep else BatchState.SUBMITTED,
                        tx_hash=event["tx_hash"],
                        block_number=event["block_number"],
                        block_hash=event["block_hash"],
                        block_time=event["block_time"],
                    )
                )
                if deep:
                    continue
            else:
                conn.execute(
                    query.values(
                        state=BatchState.PREPARED,
                        tx_hash=None,
                        block_number=None,
                        block_hash=None,
                        block_time=None,
                        confirmed_at=None,
                    )
                )
        moved.append(root_hex)
    return moved


def resume(ledger: Ledger, *, timeout: float | None = None, held_back: list[str] | None = None) -> list[str]:
    """Complete every pending batch (after a crash, a chain outage or a reorganisation).

    First :func:`recheck` moves confirmed batches whose anchor the chain lost back to ``prepared``; then every
    prepared or submitted batch is confirmed from its anchoring event if the chain has it, or sent (again).
    The contract refuses a root twice, so nothing is anchored twice. A batch holding a certificate type its
    department may no longer issue (revoked after it was prepared) is not sent and stays prepared: why is appended
    to ``held_back``, and the other batches still go (a later resume sends it once the council grants the type).
    """
    recheck(ledger)
    with ledger.engine.connect() as conn:
        pending = (
            conn.execute(
                select(col(Batch.root)).where(col(Batch.state).in_(BatchState.PENDING)).order_by(col(Batch.created_at))
            )
            .scalars()
            .all()
        )
    done = []
    for root_hex in pending:
        try:
            confirm(ledger, bytes.fromhex(root_hex[2:]), timeout=timeout)
        except _HeldBack as exc:
            if held_back is not None:
                held_back.append(str(exc))
            continue
        done.append(root_hex)
    return done


def export_documents(ledger: Ledger, digests: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The holder documents of the anchored (confirmed) certificates among ``digests`` (``0x`` + 64 hex), keyed by
    digest; unknown or not yet anchored ones are absent. One query per 900 digests, for bulk callers (decisions).

    Each batch row read (its leaves and run roots: 32.5 bytes a certificate, 325 KB for a batch of 10,000) serves
    every asked certificate of it in the 900-digest group, and at most :data:`_BATCHES_KEPT` are held at once: digests
    drawn across a store of 10,000,000 (1,000 batches) held every batch they touched, ~325 MB (issue 18's scale run
    measured the verify probe's export at a 596 MB peak), where a caller citing a few batches keeps them all."""
    wanted = sorted({d.lower() for d in digests if isinstance(d, str) and len(d) == 66 and d.startswith("0x")})
    found: dict[str, dict[str, Any]] = {}
    batches: dict[str, Any] = {}
    vault = ledger.vault
    # A driver-level statement (as _existing_ids): SQLAlchemy renders an expanding IN's every digest and runs the
    # column type's conversions on every call, more than the indexed look-up itself costs (a replay asks for every
    # cited digest of each chunk). The same query: the digests bound and read in the columns' storage form through
    # the column type's own conversions (models.Hex32), so an odd value matches and reads as it does through it.
    dialect = ledger.engine.dialect
    hex32_column = Hex32()
    stored = [hex32_column.process_bind_param(d, dialect) for d in wanted]
    read = hex32_column.process_result_value  # never None: both columns are NOT NULL
    for i in range(0, len(wanted), 900):
        by_batch: dict[str, list[tuple[str, Any, Any]]] = {}
        with ledger.engine.connect() as conn:
            epochs, fixed = generations.epoch_sql(conn, wanted[i : i + 900])
            head = f"SELECT digest, sealed, leaf_index, batch_root FROM {Certificate.__tablename__} WHERE {epochs} AND digest"  # noqa: S608
            for d, s, n, r in rows_in(conn, head, fixed, stored[i : i + 900]):
                by_batch.setdefault(cast(str, read(r, dialect)), []).append((cast(str, read(d, dialect)), s, n))
        for root, rows in by_batch.items():
            if root not in batches:
                if len(batches) >= _BATCHES_KEPT:
                    batches.clear()
                with ledger.engine.connect() as conn:
                    batches[root] = conn.execute(select(Batch).where(Batch.root == root)).first()  # type: ignore[arg-type]
            batch = batches[root]
            if batch is None or batch.state != BatchState.CONFIRMED:
                continue
            for digest, sealed, leaf_index in rows:
                try:
                    fields, salts = read_body(vault.open(bytes(sealed), bytes.fromhex(digest[2:])))
                except (LedgerError, ValueError, KeyError):
                    continue  # an altered row: reconcile names it; here the certificate is simply not available
                proof = batch_proof(batch.leaves, batch.nodes, leaf_index)
                if not checks_core.merkle_proof(bytes.fromhex(digest[2:]), proof, bytes.fromhex(root[2:]))[0]:
                    continue  # leaves, run roots or leaf index altered: reconcile names it; no document that fails
                found[digest] = document_json(fields, salts, anchor_data(ledger, batch._mapping), proof)
    return found


# batch rows export_documents holds at once: 16 of 10,000 certificates are ~5 MB
_BATCHES_KEPT = 16


@dataclass(frozen=True)
class StoredAnchor:
    """Where a stored certificate was anchored, and none of its fields (see :func:`stored_anchor`). ``issuer`` is the
    store's word: a verifier of an erased certificate takes issuer and type from the chain-attested erasure entry
    (``erasure.attribution``), never from a row an insider can edit."""

    digest: str
    issuer: str
    anchor: dict[str, Any]  # the document's anchor section, proof included
    erased: bool  # its contents were erased (ledger erase): no document can be rebuilt


def stored_anchor(ledger: Ledger, digest_or_id: str, department: str | None = None) -> StoredAnchor:
    """The anchor section of a stored certificate as its document would carry it, its issuer as the store names
    it, and whether its contents were erased: what ``verify.verify_digest`` needs, read without opening
    the sealed body (an erased certificate has none to open)."""
    from .status import stored

    cert = stored(ledger, digest_or_id, department)
    with ledger.engine.connect() as conn:
        sealed = conn.execute(
            select(col(Certificate.sealed)).where(generations.digest_in(conn, [hex32(cert.digest)]))
        ).scalar_one()
        batch = conn.execute(select(*BATCH_HEAD).where(col(Batch.root) == hex32(cert.root))).one()
    anchor = {**anchor_data(ledger, batch._mapping), "proof": [hex32(p) for p in cert.proof]}
    return StoredAnchor(hex32(cert.digest), cert.department, anchor, bytes(sealed) == ERASED)


def export_document(ledger: Ledger, digest_or_id: str, department: str | None = None) -> dict[str, Any]:
    """Rebuild the holder's certificate document from the store (fields unsealed in memory only)."""
    from .status import stored

    cert = stored(ledger, digest_or_id, department)
    with ledger.engine.connect() as conn:
        sealed = conn.execute(
            select(col(Certificate.sealed)).where(generations.digest_in(conn, [hex32(cert.digest)]))
        ).scalar_one()
        batch = conn.execute(select(*BATCH_HEAD).where(col(Batch.root) == hex32(cert.root))).one()
    fields, salts = read_body(ledger.vault.open(bytes(sealed), cert.digest))
    return document_json(fields, salts, anchor_data(ledger, batch._mapping), cert.proof)


def holder_document(ledger: Ledger, digest_or_id: str, department: str | None = None) -> dict[str, Any]:
    """:func:`export_document` for handing the content out (`ledger export`, an evidence bundle): ErasedError, as
    for an erased certificate, when its issuer's erasures log records its erasure though a body opens (one
    written back from a copy, red team round 61). The issuer is the one the body states, not a row an insider can
    move. Digest-only verification, which reveals no field, reads :func:`export_document` unchecked."""
    document = export_document(ledger, digest_or_id, department)
    refuse_written_back(ledger, document["digest"], str(document["fields"].get("issuer")))
    return document


def sealed_fields(ledger: Ledger, digest: str) -> dict[str, Any] | None:
    """The fields certificate ``digest``'s sealed body holds, opened in memory only (no proof, no anchor: for a
    request that needs one field), or None when its contents were erased. NotFoundError for an unknown digest;
    LedgerError, ValueError, KeyError or TypeError for a body that does not open (altered: reconcile names it)."""
    with ledger.engine.connect() as conn:
        sealed = conn.execute(select(col(Certificate.sealed)).where(generations.digest_in(conn, [digest]))).scalar()
    if sealed is None:
        raise NotFoundError(f"no certificate {digest} in this ledger's store")
    if bytes(sealed) == ERASED:
        return None
    fields, _salts = read_body(ledger.vault.open(bytes(sealed), parse_hex32(digest, "digest")))
    if not isinstance(fields, dict):
        raise TypeError(f"the sealed body of {digest} holds no fields object")
    return fields


def custodian_document(ledger: Ledger, digest: str, department: str) -> dict[str, Any]:
    """:func:`export_document` for a request that relies on ``department``, the issuer the certificate's store row
    names, being its issuer: the content read as that department's own, shared by it, consented to in its name,
    logged in its access log. StateError when the sealed fields (which only the vault key opens, bound to the
    digest) were issued by another department: the row's issuer column was changed in the database. ErasedError
    when the department's erasures log records the certificate's erasure, though a body opens: it was
    written back from a copy after its lawful erasure, and is served to no one (red team round 61)."""
    document = export_document(ledger, digest)
    _check_custodian(digest, department, document["fields"].get("issuer"))
    refuse_written_back(ledger, digest, department)
    return document


def refuse_written_back(ledger: Ledger, digest: str, department: str) -> None:
    """ErasedError when ``department``'s erasures log records the erasure of certificate ``digest`` (anchored or
    not yet: red team round 62), whose body the caller could open: the body was written back from a copy after its
    lawful erasure (red team round 61), and its contents are served, shared or exported to no one."""
    from .erasure import attested_erased, recorded_entry

    entry = recorded_entry(ledger, department, hex32(parse_hex32(digest, "digest")))
    if entry is not None and not entry["anchored"] and not attested_erased(ledger, digest, department):
        # believed, failing closed, but said for what it is: an entry anyone who writes the database could append
        # named a live certificate "lawfully erased" and told the operator to erase it again (red team round 63)
        raise ErasedError(
            f"certificate {digest} is served to no one: {department}'s erasures log records its erasure in entry "
            f"{entry['seq']} (basis {str(entry.get('basis'))[:80]!r}), which is not anchored yet, though its sealed "
            "body is in the store. Before erasing anything, check that this erasure was ordered: if it was, "
            "`ledger erase` of the certificate completes it (an interrupted erasure, or a body written back from a "
            "copy); if it was not, the entry was added to the database past the ledger - keep the body and report "
            "it (`ledger reconcile` lists it as erasure_incomplete)"
        )
    if entry is not None or attested_erased(ledger, digest, department):
        raise ErasedError(
            f"the contents of certificate {digest} were lawfully erased ({department}'s erasures log records it), "
            "but its sealed body is in the store again, written back from a copy: it is served to no one; "
            "`ledger erase` of the certificate destroys it again (`ledger reconcile` reports it: erasure_incomplete)"
        )


def check_custodian(ledger: Ledger, digest: str, department: str) -> None:
    """:func:`custodian_document`'s check alone, without building the document: StateError when the sealed fields
    were issued by another department than ``department``. Nothing to compare (no error) when the contents were
    erased or the body does not open; ``ledger reconcile`` names those."""
    try:
        fields = sealed_fields(ledger, digest)
    except (LedgerError, ValueError, KeyError, TypeError):
        return
    if fields is not None:
        _check_custodian(digest, department, fields.get("issuer"))


def _check_custodian(digest: str, department: str, issuer: object) -> None:
    if issuer != department:
        raise StateError(
            f"certificate {digest}'s store row names {department} as its issuer, but its sealed fields were issued "
            f"by {issuer!r}: the row was changed in the database, so nothing is read, shared or consented to "
            "through it; `ledger reconcile` reports it (row_altered): restore the row"
        )
