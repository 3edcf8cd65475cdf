"""The database: opening SQLite or PostgreSQL at the newest schema revision (tables: models.py; migrations:
migrations/).

Rows hold digests, proofs, chain coordinates and non-personal metadata (certificate id, type, issuer,
validity). A certificate's fields and salts are kept only sealed (see vault.py). Every batch moves through
persisted states in the same transaction as its certificates (a transactional outbox)::

    prepared -> submitted -> confirmed

so after a crash every certificate is either anchored exactly once or still pending and completed on restart.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import create_engine

from ..errors import ConfigError
from ..formats.canonical import json_loads
from ..formats.merkle import RUN_LEVEL, MerkleTree, node_hash
from . import dburl
from .models import Batch, BatchState, Certificate, StatusChange, utcnow  # noqa: F401 - re-exported

# A batch row without its leaves and run roots (hundreds of KB for a full batch): what reads of its state and
# anchor select, so that polling a batch or exporting a document does not read them for nothing.
BATCH_HEAD = tuple(c for c in Batch.__table__.c if c.name not in ("leaves", "nodes"))  # type: ignore[attr-defined]

CHUNK_LEVEL = RUN_LEVEL  # Batch.nodes holds the tree's nodes at this level: the roots of each run of 64 leaves
CHUNK = 1 << CHUNK_LEVEL


def _split(blob: bytes) -> list[bytes]:
    return [blob[i : i + 32] for i in range(0, len(blob) - 31, 32)]


def batch_tree(leaves: bytes) -> MerkleTree:
    """The whole Merkle tree of a batch from its stored ``Batch.leaves`` (32-byte digests in leaf order). A blob
    whose length is not a multiple of 32 was altered: its tree is built from the whole digests it holds, so its
    root differs from the anchored one and every check comparing the two fails, as for an altered stored proof."""
    return MerkleTree(_split(stored_blob(leaves)) or [b"\x00" * 32])


def stored_blob(value: object) -> bytes:
    """The bytes of a ``LargeBinary`` column as read back. SQLite keeps a text or a number in any column: only an
    edit made past the ledger puts one in ``Batch.leaves`` or ``nodes``, and it reads as no bytes (an altered blob,
    which leads to no anchored root) instead of a TypeError: a 500 of every public page reading the batch."""
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else b""


def chunk_nodes(tree: MerkleTree) -> bytes:
    """What ``Batch.nodes`` holds for a batch with this tree: its nodes at level ``CHUNK_LEVEL`` (each the root of
    a run of 64 leaves; the root itself for a batch of at most 64)."""
    return tree.run_roots()


def batch_proof(leaves: bytes, nodes: bytes, leaf_index: int) -> list[bytes]:
    """The Merkle proof of the certificate at ``leaf_index`` of a batch, from its stored ``leaves`` and ``nodes``:
    byte-identical to the proof issuance computed (and earlier versions stored per certificate).

    The part below level ``CHUNK_LEVEL`` is rebuilt from the 64 leaves of the certificate's run, the part above
    from the stored run roots: a few hundred hashes for a batch of 10,000 (≈ 0.2 ms), independent of the size of
    the store. An altered leaf, run root or index gives a proof that does not lead to the anchored root, which
    every check compares it with. An index outside the batch (or not an integer: an edit past the ledger on
    SQLite) gives an empty proof, which fails."""
    leaves = stored_blob(leaves)
    if not isinstance(leaf_index, int) or not 0 <= leaf_index < len(leaves) // 32:
        return []
    run = leaf_index >> CHUNK_LEVEL
    return run_proof(leaves[run * CHUNK * 32 : (run + 1) * CHUNK * 32], nodes, leaf_index, len(leaves) // 32)


def run_start(leaf_index: object) -> int:
    """Where (1-based, as SQL's ``substr`` counts) the run of ``leaf_index`` starts in ``Batch.leaves``: a reader of
    one certificate's proof reads ``substr(leaves, run_start(i), RUN_BYTES)``, not the batch's whole blob (3.2 MB
    at 100,000 certificates, for each public timeline: red team round 67). 1 for an index that is no leaf's (its
    proof is empty whatever is read)."""
    if not isinstance(leaf_index, int) or not 0 <= leaf_index < 2**25:  # SQL's 32-bit integers: 2**25 runs' worth
        return 1
    return (leaf_index >> CHUNK_LEVEL) * RUN_BYTES + 1


RUN_BYTES = CHUNK * 32  # one run's leaves in Batch.leaves


def run_proof(run: object, nodes: bytes, leaf_index: int, count: object) -> list[bytes]:
    """:func:`batch_proof` from the leaves of the certificate's own run (``run``: what ``Batch.leaves`` holds at
    :func:`run_start`, at most ``RUN_BYTES``), the run roots and the batch's leaf ``count`` (the blob's length over
    32): the same proof, or an empty one (which fails) for an index outside the batch or leaves that are not there."""
    run = stored_blob(run)
    if not isinstance(leaf_index, int) or type(count) is not int or not 0 <= leaf_index < count:
        return []
    if len(run) < ((leaf_index & (CHUNK - 1)) + 1) * 32:
        return []
    proof = MerkleTree(_split(run)).proof(leaf_index & (CHUNK - 1))
    level, index = _split(stored_blob(nodes)), leaf_index >> CHUNK_LEVEL
    while len(level) > 1:  # the levels above, as MerkleTree builds them (an odd last node is promoted)
        if index ^ 1 < len(level):
            proof.append(level[index ^ 1])
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)] + (
            [level[-1]] if len(level) % 2 else []
        )
        index >>= 1
    return proof


def private_directory(path: Path) -> None:
    """Create ``path`` (and parents) if needed and make it 0700: keys, chain state and the database live there."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        path.chmod(0o700)
    except PermissionError:
        raise ConfigError(
            f"the data directory {path} must be private (0700) but belongs to another user; "
            "use a directory of your own (LEDGER_DATA_DIR)"
        ) from None


def _private_sqlite_files(url: str) -> None:
    """Create the SQLite database file 0600 before SQLite does (it would follow the umask, typically 0644) and
    tighten existing ones. SQLite gives its -wal and -shm files the database file's mode."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    # Never open an existing database file here: closing any descriptor of a file drops every POSIX lock this
    # process holds on it, including SQLite's own locks of engines already open on it ("disk I/O error").
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").chmod(0o600)


def open_engine(url: str, *, migrate: bool = True) -> Engine:
    """Create the engine and bring the database to the newest schema revision (``ledger/migrations``: the tables
    are built and changed only by migrations); SQLite gets WAL and foreign keys, and files only its owner can read.
    ``migrate=False`` opens it as it is (``ledger db current``). JSON columns are read by the ledger's bounded
    parser: an insider's 200 KB of ``[`` in a grant's ``reveal`` fails that read (JSONDecodeError), where
    SQLAlchemy's ``json.loads`` overflowed the C stack (a dependency raises the recursion limit) and killed the
    process. A failed statement's error never quotes its parameters (``hide_parameters``): an insert of a decision's
    input would put what the applicant typed into a traceback, and from there into a log."""
    _, problem = dburl.parse(url)
    if problem:  # not opened: what the driver would say of it (the host it could not resolve) is the password
        raise ConfigError(problem)
    try:
        if url.startswith("sqlite"):
            _private_sqlite_files(url)
            engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS},
                json_deserializer=json_loads,
                hide_parameters=True,
                **_sqlite_pool_arguments(url),
            )
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "checkout", _sqlite_cache_on_checkout)
        else:
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
            engine = create_engine(
                url,
                pool_pre_ping=True,
                pool_size=10,
                max_overflow=20,
                json_deserializer=json_loads,
                hide_parameters=True,
            )
        if migrate:
            # imported here: alembic costs a process that only opens a migrated database (a replay worker, the
            # gateway's workers) about 0.2 CPU-s to import
            from . import migrations

            if not migrations.state(engine).up_to_date:
                migrations.upgrade(engine)
        elif not migrate:
            with engine.connect():  # a database that cannot be opened is said so here, as with migrate
                pass
    except Exception as exc:
        if isinstance(exc, ConfigError):
            raise
        # The URL without its password goes to where (the operator's); the driver's text keeps no password either.
        raise ConfigError(
            f"cannot open the database: {dburl.scrub(str(exc), url)}; check {dburl.SETTING} and that the database "
            "server is up",
            where=dburl.location(url),
        ) from exc
    return engine


def _sqlite_pool_arguments(url: str) -> dict[str, Any]:
    """A file database's pool (SQLAlchemy's QueuePool) hands out the connection returned last, not the one waiting
    longest: one thread doing one thing after another (a bulk issuance storing a group of batches, then recording
    each as sent and confirmed) then keeps one connection. In WAL mode SQLite drops a connection's whole page cache
    when another connection has committed since its last transaction (bench/analysis.md, "time per million"):
    with the connections taken in turn, each commit emptied the cache of the connection that wrote next. Only
    which idle connection serves a checkout changes. An in-memory database has a pool of its own without the
    setting."""
    parsed = make_url(url)
    in_memory = not parsed.database or parsed.database == ":memory:" or parsed.query.get("mode") == "memory"
    return {} if in_memory else {"pool_use_lifo": True}


SQLITE_BUSY_SECONDS = 30
SQLITE_CACHE_KIB = 128 * 1024
SQLITE_PAGE_BYTES = 16 * 1024  # a new database file's; an existing one keeps its own (4 KiB before 2026-12-02)
SQLITE_CHECKPOINT_BYTES = 1 << 30  # 1 GiB of log, in pages of the file's own size (was 10,000 pages: ~160 MB)


# A text as SQLite holds it, read as UTF-8, any byte that is none read as U+FFFD: SQLite stores a text's bytes as
# given, and the driver's own reading raised on one such byte (only an edit past the ledger writes one), which stopped
# every reader of the table - the log's check, replay, reconcile - on that row (red team round 39b). A call of str
# itself: no Python frame per value.
_sqlite_text = functools.partial(str, encoding="utf-8", errors="replace")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.text_factory = _sqlite_text
    cursor = dbapi_connection.cursor()
    # 16 KiB pages for a new database file (an existing one keeps the size it was made with: SQLite fixes it once
    # the file is in WAL mode). A certificate row is about 750 bytes: a 16 KiB or 8 KiB page packs them alike (745
    # bytes per certificate in the table), a 4 KiB page holds five and leaves the rest (821: issue 18's target is
    # 1,000 in all). Smaller pages were measured against the growth of time per million and do not lower it: a
    # group of batches dirties nearly every page of the digest index either way, and each page costs its own
    # syscalls and frame (bench/analysis.md, "page size and group size"). Must precede the switch to WAL.
    cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_BYTES}")
    _switch_to_wal(cursor)
    page_bytes = int(cursor.execute("PRAGMA page_size").fetchone()[0])  # the file's own
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # 128 MB page cache at most (SQLite's default is 2 MB), allocated as used, so a small store costs nothing more.
    # It serves a transaction's own reads and a connection's next transactions while no other connection writes:
    # in WAL mode SQLite drops a connection's whole cache when another has committed since its last transaction
    # (measured, bench/analysis.md "time per million"), so each batch of a bulk issuance (two pooled connections
    # in turn, the anchoring updates on others) reads the digest-index pages it touches back from the OS.
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.execute("PRAGMA temp_store=MEMORY")
    # Deleted and overwritten content is zeroed in the pages, not just unlinked: an erased certificate's data key
    # must not survive in free space of the file (ledger/services/erasure.py, docs/privacy.md).
    cursor.execute("PRAGMA secure_delete=ON")
    # Checkpoint the write-ahead log every 1 GiB (in the file's own pages: a store made with 4 KiB pages checkpointed
    # every 256 MB when this was a count of 16 KiB pages) instead of every 4 MB: a batch of certificates dirties pages
    # all over the digest index (its key is random), and pages written again by the next batches are then copied
    # back to the database file once per checkpoint, not once per batch. 160 MB (issue 18, a million rows) held
    # about two batches at 1M and one at 10M, where a batch of 10,000 dirties ~9,000 of the index's ~30,000 pages:
    # the checkpoint copies grew with the store (bench/analysis.md, "time per million"). 1 GiB holds ~7 batches
    # at 10M. The log keeps its largest size on disk once checkpointed (like any WAL); durability is unchanged:
    # a committed transaction is in the log either way.
    cursor.execute(f"PRAGMA wal_autocheckpoint={_sqlite_checkpoint_pages(page_bytes)}")
    cursor.close()


def _sqlite_checkpoint_pages(page_bytes: int) -> int:
    """``wal_autocheckpoint`` (a count of pages) for a file of ``page_bytes`` pages: ``SQLITE_CHECKPOINT_BYTES``
    of log whatever the page size (a store made with 4 KiB pages, before 2026-12-02, gets its 1 GiB too)."""
    return SQLITE_CHECKPOINT_BYTES // max(page_bytes, 512)


def _switch_to_wal(cursor: Any) -> None:
    """Put the database in WAL mode, waiting like any other statement for a connection that holds it.

    SQLite answers "database is locked" to ``PRAGMA journal_mode=WAL`` at once, without calling the busy handler,
    while another connection holds the file (a process opening the same new database at the same moment, making it
    WAL or migrating it): the busy timeout the other statements get is applied here by hand. A database already
    in WAL mode answers without any lock."""
    deadline = time.monotonic() + SQLITE_BUSY_SECONDS
    pause = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


# A long streaming read (replay walking a million-entry log and its inputs once, in order) gains nothing from a
# 128 MB cache per connection: every page is read once, yet each connection it holds would fill its cache to the
# limit, so its memory grew with the database (issue 18: 801 MB at 1M decisions against 481 at 100k). Inside
# :func:`streaming_cache` the connections this thread checks out keep a small cache; the next checkout outside it
# restores the full one. Only memory changes: SQLite reads the same rows either way.
SQLITE_STREAMING_CACHE_KIB = 8 * 1024
_CACHE_KIB: ContextVar[int | None] = ContextVar("ledger_sqlite_cache_kib", default=None)


@contextlib.contextmanager
def streaming_cache(kib: int = SQLITE_STREAMING_CACHE_KIB) -> Iterator[None]:
    """SQLite connections checked out in this context (this thread or task) cache at most ``kib`` KiB of pages (a
    connection already holding more lets the rest go); PostgreSQL is not affected."""
    token = _CACHE_KIB.set(kib)
    try:
        yield
    finally:
        _CACHE_KIB.reset(token)


def _sqlite_cache_on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    want = _CACHE_KIB.get() or SQLITE_CACHE_KIB
    if record.info.get("cache_kib", SQLITE_CACHE_KIB) != want:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA cache_size=-{int(want)}")
        cursor.close()
        record.info["cache_kib"] = want


def placeholder(paramstyle: str) -> str:
    """The driver's own placeholder for a statement run with ``exec_driver_sql``: ``?`` (sqlite3's qmark style) or
    ``%s`` (psycopg's format style)."""
    return "?" if paramstyle == "qmark" else "%s"


def rows_in(
    conn: Any, head: str, fixed: tuple[Any, ...], keys: Sequence[Any], tail: str = "", after: tuple[Any, ...] = ()
) -> Iterator[Any]:
    """The rows of ``head`` + `` IN (...)`` + ``tail`` for ``keys``, 900 keys per query, as driver-level statements:
    SQLAlchemy renders an expanding IN's every key on every call, more than the indexed look-up itself costs; the
    same query, the same index. ``head`` holds ``{mark}`` for each of ``fixed``, ``tail`` for each of ``after`` (the
    driver's own placeholder); the keys are bound as given (in their storage form)."""
    mark = placeholder(conn.dialect.paramstyle)
    head, tail = head.format(mark=mark), tail.format(mark=mark)
    for i in range(0, len(keys), 900):
        part = keys[i : i + 900]
        yield from conn.exec_driver_sql(
            f"{head} IN ({', '.join([mark] * len(part))}){tail}", (*fixed, *part, *after)
        ).all()


def insert_rows(
    conn: Any, table: Any, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, skip_existing: bool = False
) -> None:
    """INSERT ``rows`` (tuples in the order of ``columns``) into ``table`` as one executemany in the driver's own
    placeholder style: what ``conn.execute(insert(table), dicts)`` stores, without SQLAlchemy's per-row parameter
    work (a third of a bulk insert's CPU). Values go through each column's bind processor as SQLAlchemy's insert
    would send them (on SQLite only ``DateTime`` has one). ``skip_existing``: rows whose key exists are skipped
    (same key, same content: the callers' keys are content digests); any other violation is refused as SQLAlchemy's
    ``on_conflict_do_nothing`` refuses it."""
    if not rows:
        return
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    mark = placeholder(dialect.paramstyle)
    # ON CONFLICT DO NOTHING on both (SQLite >= 3.24): a key that exists is skipped, and nothing else is; SQLite's
    # INSERT OR IGNORE would also drop, silently, a row that breaks NOT NULL or a CHECK (red team, round 18)
    tail = " ON CONFLICT DO NOTHING" if skip_existing else ""
    sql = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608
        f"VALUES ({', '.join([mark] * len(columns))}){tail}"
    )
    processors = [
        (i, table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) for i, name in enumerate(columns)
    ]
    processors = [(i, p) for i, p in processors if p is not None]
    if processors:
        # each value object is processed once per call: the rows of one append share one created_at, which SQLite's
        # DateTime processor formatted as text once per row (~1 us of a row's ~8, bench/analysis.md). Keyed by the
        # object, never by its value: equal values may be written differently (one instant in two zones,
        # tests/test_logchain.py); the memo holds each object it keys, so no id is reused within the call.
        done: list[dict[int, tuple[Any, Any]]] = [{} for _ in processors]
        processed = []
        for row in rows:
            values = list(row)
            for (i, process), memo in zip(processors, done, strict=True):
                value = values[i]
                known = memo.get(id(value))
                if known is None:
                    known = memo[id(value)] = (value, process(value))
                values[i] = known[1]
            processed.append(tuple(values))
        rows = processed
    conn.exec_driver_sql(sql, list(rows))


def refusal(exc: DBAPIError) -> str:
    """What the database said, without the statement or its values: the driver's error class and, where the driver
    gives one, the SQLSTATE code (``the database refused a query (UndefinedTable, SQLSTATE 42P01)``)."""
    orig = exc.orig if exc.orig is not None else exc
    code = getattr(orig, "sqlstate", None)
    return f"the database refused a query ({type(orig).__name__}{f', SQLSTATE {code}' if code else ''})"


def refusal_in(exc: BaseException) -> DBAPIError | None:
    """The database's refusal among ``exc`` and the errors it was raised from or while handling (``__cause__``,
    ``__context__``), or None: what a log line must name by :func:`refusal` alone, since a traceback of any error
    in that chain quotes the refused statement (red team round 41b)."""
    seen: set[int] = set()
    found: BaseException | None = exc
    while found is not None and id(found) not in seen:
        if isinstance(found, DBAPIError):
            return found
        seen.add(id(found))
        found = found.__cause__ if found.__cause__ is not None else found.__context__
    return None
