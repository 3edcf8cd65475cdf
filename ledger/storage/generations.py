"""Generations of the certificate digest index (issue 18; bench/analysis.md, "ten million: generations").

A certificate's digest is random: one unique index over every digest has each group of rows dirty pages all over
it, and the cost of a million grows with the store. ``certificate`` is keyed by ``(epoch, digest)`` instead: new
rows go to the newest generation (``certificate_generation``), which closes after
``ledger.config.generation_rows_from_env()`` rows; a group's inserts stay within the newest generation's part of
the index, however large the store.

The digest stays unique across the whole store:

- **Writing** (:func:`place`, the one function every writer of certificate rows calls, inside its transaction and
  before its insert): on PostgreSQL the writer holds generation 0's row ``FOR UPDATE`` until it commits (SQLite's
  write lock does the same there: the caller has written its batch row first), takes the newest generation, opens
  the next when it is full, and checks the rows' digests against every closed generation: its membership filter
  (:mod:`ledger.formats.membership`) first, then an exact probe of the digests it may hold. A digest found is
  refused (:class:`DigestStored`) before anything is inserted; within the newest generation the primary key refuses
  it. Two writers never check against each other's uncommitted rows: the lock orders them.
- **Reading** (:func:`digest_in`, the one way any statement filters ``certificate`` by digest): a statement names
  the generations to look in: the newest ones this process has not seen closed, and a closed one only where its
  filter says "maybe" (or it has no filter here yet). With one generation that is one probe, as before generations.
  A statement filtering by ``digest`` alone would read the whole index on PostgreSQL (the digest is its second
  column): tests/test_digest_generations.py captures every statement on ``certificate`` of a representative run.

A filter is built here, in memory, from the generation's own rows (never stored: there is no filter an insider
could edit to hide a row), once per process and generation, and kept while the generation's row count is what it
was built at (a closed generation takes no rows). A reader builds one only for a look-up of at least
``FILTER_FROM`` digests; a smaller look-up probes the closed generations it has no filter for.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    LargeBinary,
    and_,
    any_,
    func,
    insert,
    or_,
    select,
    type_coerce,
    update,
)
from sqlmodel import col

from ..config import generation_rows_from_env
from ..errors import InputError
from ..formats import membership
from .models import Certificate, CertificateGeneration, Hex32

FILTER_FROM = 64
"""A reader builds a closed generation's filter for a look-up of at least this many digests (reading the
generation's digests once, ~0.8 s a million); a smaller look-up probes a generation it has no filter for."""

_PROBE = 900  # digests a statement binds at most (SQLite's host parameters)
_BUILD_PART = 50_000  # digests read at a time when a filter is built
_HEX32 = Hex32()


class DigestStored(InputError):
    """A batch carries the digest of a stored certificate: refused, nothing of the batch written."""

    def __init__(self, digests: Sequence[str]) -> None:
        self.digests = list(digests)
        super().__init__(
            f"certificate digest(s) {self.digests[:5]} of this batch are already stored (every certificate digest "
            "is unique in the ledger): nothing of this batch was written"
        )


@dataclass
class _Known:
    """What this process knows of a store's closed generations: their row counts and the filters built."""

    closed: dict[int, int] = field(default_factory=dict)  # epoch -> rows
    filters: dict[tuple[int, int], bytes] = field(default_factory=dict)  # (epoch, rows) -> filter
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def last_closed(self) -> int:
        return max(self.closed, default=-1)


_KNOWN: weakref.WeakKeyDictionary[Engine, _Known] = weakref.WeakKeyDictionary()
_KNOWN_LOCK = threading.Lock()


def _known(engine: Engine) -> _Known:
    with _KNOWN_LOCK:
        known = _KNOWN.get(engine)
        if known is None:
            known = _KNOWN[engine] = _Known()
        return known


def _raw(digest: str | bytes) -> bytes | None:
    """``digest`` as the 32 bytes the column holds, or None when no row can hold it (a malformed digest)."""
    value = _HEX32.process_bind_param(digest, None)  # type: ignore[arg-type]
    return value if value is not None and len(value) == 32 else None


def _generations(conn: Connection) -> list[tuple[int, int]]:
    table = CertificateGeneration.__table__  # type: ignore[attr-defined]
    return [(int(e), int(r)) for e, r in conn.execute(select(table.c.epoch, table.c.rows).order_by(table.c.epoch))]


def _filter(conn: Connection, known: _Known, epoch: int, rows: int) -> bytes:
    """The filter of closed generation ``epoch`` (``rows`` rows), built from its rows once per process."""
    built = known.filters.get((epoch, rows))
    if built is None:
        # read as the column's raw bytes, a part at a time, each part's filter OR-ed into the whole: reading a
        # million digests at once as texts held ~200 MB at the generation's close (the scale run's peak memory)
        size = membership.filter_size(rows)
        raw = type_coerce(col(Certificate.digest), LargeBinary())
        query = select(raw).where(col(Certificate.epoch) == epoch)
        parts = conn.execute(query, execution_options={"yield_per": _BUILD_PART}).partitions()  # this statement's
        built = membership.union(size, (membership.build([bytes(d) for (d,) in part], size=size) for part in parts))
        with known.lock:
            for key in [k for k in known.filters if k[0] == epoch]:
                del known.filters[key]
            known.filters[(epoch, rows)] = built
    return built


def _refresh(conn: Connection, known: _Known) -> list[tuple[int, int]]:
    generations = _generations(conn)
    with known.lock:
        known.closed = dict(generations[:-1])
    return generations


def _to_probe(conn: Connection, wanted: Sequence[str | bytes]) -> tuple[int, list[int]]:
    """For a look-up of ``wanted``: the last closed generation this process knows (every later one is probed) and
    the closed ones to probe too (their filter says "maybe", or there is none here yet)."""
    raw = [r for r in map(_raw, wanted) if r is not None]
    known = _known(conn.engine)
    if len(raw) >= FILTER_FROM:
        _refresh(conn, known)
    with known.lock:
        closed = dict(known.closed)
        filters = dict(known.filters)
    maybe: list[int] = []
    for epoch, rows in closed.items():
        built = filters.get((epoch, rows))
        if built is None and len(raw) >= FILTER_FROM:
            built = _filter(conn, known, epoch, rows)
        if built is None or membership.maybe(built, raw):
            maybe.append(epoch)
    return max(closed, default=-1), maybe


def digest_in(conn: Connection, digests: Iterable[str | bytes]) -> ColumnElement[bool]:
    """The condition "a certificate row whose digest is one of ``digests``", naming the generations to look in:
    every statement that filters ``certificate`` by digest uses it (in its WHERE, beside any other condition).
    At most 900 digests a statement, as everywhere (SQLite's bound parameters)."""
    wanted = list(digests)
    last_closed, maybe = _to_probe(conn, wanted)
    epochs = _epochs(conn.dialect.name, last_closed, tuple(maybe))
    # one digest is compared as before generations: an expanding IN costs a look-up ~2x in SQLAlchemy's rendering
    digest = col(Certificate.digest) == wanted[0] if len(wanted) == 1 else col(Certificate.digest).in_(wanted)
    return and_(epochs, digest)


@functools.lru_cache(maxsize=256)
def _epochs(dialect: str, last_closed: int, maybe: tuple[int, ...]) -> ColumnElement[bool]:
    """The condition on the generation of :func:`digest_in`: built once per shape (a statement's construction and
    cache key cost more than the look-up itself on SQLite)."""
    table = CertificateGeneration.__table__  # type: ignore[attr-defined]
    newer = table.c.epoch > last_closed
    generations = select(table.c.epoch).where(or_(newer, table.c.epoch.in_(maybe)) if maybe else newer)
    if dialect == "postgresql":  # one array, read once (an InitPlan): the key's first column's condition
        return col(Certificate.epoch) == any_(func.array(generations.scalar_subquery()))
    return col(Certificate.epoch).in_(generations.scalar_subquery())


def epoch_sql(conn: Connection, digests: Sequence[str | bytes]) -> tuple[str, tuple[int, ...]]:
    """:func:`digest_in`'s condition on the generation, for a driver-level statement (``store.rows_in``): SQL with
    ``{mark}`` for each of the parameters returned, to be followed by ``AND digest IN (...)`` for ``digests``."""
    last_closed, maybe = _to_probe(conn, digests)
    table = CertificateGeneration.__tablename__
    which = "epoch > {mark}" + "".join(" OR epoch = {mark}" for _ in maybe)
    inner = f"SELECT epoch FROM {table} WHERE {which}"  # noqa: S608 - constants and placeholders
    sql = f"epoch = ANY(ARRAY({inner}))" if conn.dialect.name == "postgresql" else f"epoch IN ({inner})"
    return sql, (last_closed, *maybe)


def place(conn: Connection, digests: Sequence[bytes]) -> int:
    """Inside the writer's open transaction, before it inserts certificate rows with ``digests`` (32 bytes each):
    the generation they go to, counted in it. Raises :class:`DigestStored` when a closed generation holds one of
    them (the newest one's primary key refuses the others at the insert). See the module's text for the lock."""
    table = CertificateGeneration.__table__  # type: ignore[attr-defined]
    conn.execute(select(table.c.epoch).where(table.c.epoch == 0).with_for_update())  # PostgreSQL's writers in turn
    generations = _generations(conn)
    if not generations:  # a store made by the models alone (0026 writes generation 0)
        conn.execute(insert(table).values(epoch=0, rows=0))
        generations = [(0, 0)]
    newest, rows = generations[-1]
    closed = generations[:-1]
    if rows >= generation_rows_from_env():
        closed.append((newest, rows))
        newest, rows = newest + 1, 0
        conn.execute(insert(table).values(epoch=newest, rows=0))
    known = _known(conn.engine)  # its closed generations are a reader's to learn, once this one has committed
    found: list[str] = []
    for epoch, count in closed:
        maybe = [digests[i] for i in membership.maybe(_filter(conn, known, epoch, count), digests)]
        for i in range(0, len(maybe), _PROBE):
            found += conn.execute(
                select(col(Certificate.digest)).where(
                    col(Certificate.epoch) == epoch, col(Certificate.digest).in_(maybe[i : i + _PROBE])
                )
            ).scalars()
    if found:
        raise DigestStored(sorted(found))
    conn.execute(update(table).where(table.c.epoch == newest).values(rows=table.c.rows + len(digests)))
    return newest
