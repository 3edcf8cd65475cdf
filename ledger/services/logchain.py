"""Hash-chained, per-department, append-only logs, anchored on chain in gap-free batches.

One table (:class:`LogEntry`) holds every log kind (``decisions``, ``access``, ...). Within one log and one
department, entries are numbered 1, 2, 3, ... and each commits to its predecessor::

    entry_hash = SHA-256( b"pl-log-entry\\x00" || JCS({"body": body, "department": D, "log": L,
                                                      "prev": prev_hash, "seq": seq}) )

``prev_hash`` of entry 1 is 32 zero bytes; hashes are written ``0x`` + 64 lowercase hex digits. ``body`` is stored as
its canonical JSON text, so the stored text is exactly what was hashed. Bodies must never carry plain personal data
(use salted references).

Anchoring (:func:`anchor_pending`) takes the consecutive un-anchored entries, builds a Merkle tree (``merkle.py``) over
their entry hashes in sequence order, signs the root with the department key (EIP-712 ``LogBatch``) and calls
``BatchLog.anchorLog(logId, root, first, last, headHash)`` from that key; the contract refuses any range that does not
continue the department's log exactly. Each anchor moves through persisted states (a transactional outbox); its
row holds the range's entry hashes and the tree's run roots, from which each entry's proof is rebuilt, and the
entries' own rows are never written again::

    prepared -> submitted -> anchored          (its entries: pending -> submitted -> anchored, see :class:`Entry`)

After a crash, the next :func:`anchor_pending` completes it: confirmed from the ``LogBatchAnchored`` event when the
chain has the root, otherwise sent again.

:func:`check_log` compares the database with itself and with the chain's ``LogBatchAnchored`` events, so rows the
database lost are still found through the anchored ranges. ``docs/decisions.md`` describes every discrepancy kind.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, false, func, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError, OperationalError

from ..errors import ChainError, InputError, LedgerError, StateError
from ..formats.canonical import canonical_json, deeper_than, hex32, json_loads
from ..formats.logbody import canonical_body as canonical_body  # re-exported: pure functions of a body
from ..formats.logbody import instant, stated_time, time_member
from ..formats.logbody import lookup_key as lookup_key
from ..formats.merkle import MerkleTree, verify_proof
from ..formats.signing import log_message, sign
from ..onchain import chainread
from ..onchain.ids import department_id_bytes
from ..storage.models import AnchorState, EntryState, LogAnchor, LogEntry, LogMention, given_time
from ..storage.store import batch_proof, chunk_nodes, insert_rows, stored_blob

if TYPE_CHECKING:
    from ..client import Ledger

__all__ = [
    "LOG_ACCESS",
    "LOG_DECISIONS",
    "LOG_ERASURES",
    "Discrepancy",
    "Entry",
    "LogAnchor",
    "LogEntry",
    "UnreadableEntry",
    "anchor_pending",
    "append",
    "append_many",
    "chain_ranges",
    "check_log",
    "compute_entry_hash",
    "entries",
    "log_id",
    "read_body",
    "time_altered",
]

LOG_DECISIONS = "decisions"
LOG_ACCESS = "access"
LOG_ERASURES = "erasures"
# the logs whose entries are keyed (LogEntry.lookup) by the certificate they name: one certificate's reads, its erasure
_CERTIFICATE_KEYED = (LOG_ACCESS, LOG_ERASURES)
ZERO_HASH = "0x" + "00" * 32
ENTRY_PREFIX = b"pl-log-entry\x00"

Progress = Callable[[int, int], None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def log_id(log: str) -> bytes:
    """The bytes32 ``logId`` the BatchLog contract uses for log ``log``."""
    if not isinstance(log, str) or not log:
        raise InputError(f"log name {log!r} must be a non-empty string")
    return hashlib.sha256(b"pl-log/" + log.encode("utf-8")).digest()


_ENTRIES = LogEntry.__table__  # type: ignore[attr-defined]
_MENTIONS = LogMention.__table__  # type: ignore[attr-defined]
_ANCHORS = LogAnchor.__table__  # type: ignore[attr-defined]
# the columns an append writes, in the order of its rows (every column but the id)
_ENTRY_COLUMNS = ("log", "department_id", "seq", "body", "lookup", "entry_hash", "prev_hash", "created_at", "mark")
_MENTION_COLUMNS = ("log", "department_id", "seq", "digest")


# -- hashing ----------------------------------------------------------------------------------------------------


def compute_entry_hash(log: str, department: str, seq: int, prev_hash: str, body_text: str | bytes) -> str:
    """``entry_hash`` of an entry whose canonical body text is ``body_text`` (see the module docstring)."""
    raw = body_text.encode("utf-8") if isinstance(body_text, str) else body_text
    # JCS of {"body","department","log","prev","seq"}: keys already in sorted order, body already canonical.
    payload = b"".join(
        (
            b'{"body":',
            raw,
            b',"department":',
            canonical_json(department),
            b',"log":',
            canonical_json(log),
            b',"prev":',
            canonical_json(prev_hash),
            b',"seq":',
            str(int(seq)).encode("ascii"),
            b"}",
        )
    )
    return "0x" + hashlib.sha256(ENTRY_PREFIX + payload).hexdigest()


# -- appending --------------------------------------------------------------------------------------------------

_RETRIES = 50


# -- the ledger's mark ------------------------------------------------------------------------------------------

_MARK_LABEL = b"pl-log-entry-mark\x00"


def mark_key(ledger: Ledger, department: str) -> bytes:
    """The key of ``department``'s entry marks: HMAC-SHA256 of a fixed label under the department's secret, which the
    vault seals (``decisions`` keeps it: the applicant and officer references' secret), so an insider who can write
    the database but holds no key cannot make one."""
    from .decisions import department_secret  # decisions imports this module

    return _mark_key_of(department_secret(ledger, department))


def _mark_key_of(secret: bytes) -> bytes:
    """:func:`mark_key` from a secret already read (replay's check reads one without creating it)."""
    return hmac.digest(secret, _MARK_LABEL, "sha256")


def entry_mark(key: bytes, entry_hash: str) -> str:
    """The ledger's mark on an entry: HMAC-SHA256 of its entry hash (text, as stored) under :func:`mark_key`, hex.
    The entry hash covers the body, the log, the department, the sequence number and the previous hash, so the mark
    vouches for all of them; anchoring signs only marked entries (:func:`anchor_pending`)."""
    return hmac.digest(key, entry_hash.encode("utf-8", "surrogatepass"), "sha256").hex()


_NO_MARK = "it has no mark"


def _mark_problem(
    key: Any, seq: Any, entry_hash: Any, mark: Any, accept_unmarked: bool, first_marked: int | None = None
) -> str | None:
    """Why entry ``seq`` may not be anchored, or None: its mark is missing (unless ``accept_unmarked``) or is not
    the ledger's mark of its hash. A missing mark on an entry after ``first_marked`` (the log's first entry bearing a
    mark) is never accepted: it was written after marks existed, so not before the upgrade (red team round 66).
    ``key``: an HMAC keyed with :func:`mark_key`'s key (:func:`_keyed`), which each check copies instead of keying
    again (an anchoring checks up to 10,000)."""
    if mark is None:
        if first_marked is not None and _is_seq(seq) and int(seq) > first_marked:
            return (
                f"it has no mark, yet entry {first_marked} before it has one: it was written after marks existed, "
                "so not before the upgrade to migration 0019"
            )
        return None if accept_unmarked else _NO_MARK
    if not isinstance(entry_hash, str) or not isinstance(mark, str):
        return "its mark or hash is not text"
    marking = key.copy()
    marking.update(entry_hash.encode("utf-8", "surrogatepass"))
    expected = marking.hexdigest()
    if not hmac.compare_digest(expected.encode(), mark.encode("utf-8", "surrogatepass")):
        return "its mark is not the ledger's mark of its hash"
    return None


def _keyed(key: bytes) -> Any:
    """An HMAC-SHA256 keyed with ``key`` and fed nothing: each mark is a copy of it fed one entry hash."""
    return hmac.new(key, digestmod="sha256")


def _first_marked(ledger: Ledger, log: str, department: str) -> int | None:
    """The sequence number of the first entry of ``department``'s ``log`` bearing a mark (any: a wrong one is
    refused by itself), None: none does. Read in sequence order along the log's unique index, only when an entry
    without a mark is met (every entry since migration 0019 has one, so the read stops at its first)."""
    with ledger.engine.connect() as conn:
        return _first_marked_in(conn, log, department)


def _first_marked_in(conn: Connection, log: str, department: str) -> int | None:
    first = conn.execute(
        select(_ENTRIES.c.seq)
        .where(_ENTRIES.c.log == log, _ENTRIES.c.department_id == department, _ENTRIES.c.mark.is_not(None))
        .order_by(_ENTRIES.c.seq)
        .limit(1)
    ).scalar()
    return int(first) if first is not None and _is_seq(first) else None


class _Marks:
    """What an anchoring checks each entry's mark with: the department's mark key, the operator's word that
    unmarked entries were checked, and (read once, when first needed) the log's first marked entry."""

    __slots__ = ("_first", "_read", "accept_unmarked", "department", "key", "ledger", "log")

    def __init__(self, ledger: Ledger, log: str, department: str, accept_unmarked: bool) -> None:
        self.ledger, self.log, self.department = ledger, log, department
        self.key, self.accept_unmarked = _keyed(mark_key(ledger, department)), accept_unmarked
        self._first: int | None = None
        self._read = False

    def problem(self, seq: Any, entry_hash: Any, mark: Any) -> str | None:
        if mark is None and not self._read:
            self._first, self._read = _first_marked(self.ledger, self.log, self.department), True
        return _mark_problem(self.key, seq, entry_hash, mark, self.accept_unmarked, self._first)


def _refuse_unmarked(log: str, department: str, seq: Any, why: str) -> StateError:
    advice = (
        " An entry written before marks existed (pending at the upgrade to migration 0019) is anchored once checked "
        "with `ledger anchor-logs --accept-unmarked`"
        if why == _NO_MARK
        else ""
    )
    return StateError(
        f"log {log!r} of {department!r}: entry {str(seq)[:40]} was not written by this ledger ({why}), so neither it "
        "nor any entry after it is anchored with the department's key: an entry added or edited past the ledger - "
        f"an insider's? Check it (`ledger replay --department {department}`, `ledger reconcile`) and remove or "
        f"restore it.{advice}"
    )


class _AppendLocks:
    """One lock per (log, department) of a ledger, kept on the ledger (``Ledger.local``)."""

    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.locks: dict[tuple[str, str], threading.Lock] = {}


def _append_lock(ledger: Ledger, log: str, department: str) -> threading.Lock:
    state = ledger.local("logchain.append_locks", _AppendLocks)
    with state.guard:
        return state.locks.setdefault((log, department), threading.Lock())


def _check_names(log: str, department: str) -> None:
    log_id(log)
    department_id_bytes(department)


def is_department_code(code: Any) -> bool:
    """Whether ``code`` is one a department can have (1-32 printable ASCII characters: a bytes32 on chain)."""
    try:
        department_id_bytes(code)
    except InputError:
        return False
    return True


def _invalid_department(ledger: Ledger, log: str, department: str) -> Discrepancy:
    with ledger.engine.connect() as conn:
        count = conn.execute(
            select(func.count()).where(_ENTRIES.c.log == log, _ENTRIES.c.department_id == department)
        ).scalar_one()
    shown = ascii(department)[:80]
    return Discrepancy(
        "department_invalid",
        department,
        None,
        f"{count} entr{'y' if count == 1 else 'ies'} of the {log} log stored under {shown}, a code no department can "
        "have (1 to 32 printable ASCII characters): written past the ledger, which refuses such a code, and vouched "
        "for by nothing on chain; look at them and delete them",
    )


def _head(conn: Any, log: str, department: str, lock: bool) -> tuple[int, str]:
    query = (
        select(_ENTRIES.c.seq, _ENTRIES.c.entry_hash)
        .where(_ENTRIES.c.log == log, _ENTRIES.c.department_id == department)
        .order_by(_ENTRIES.c.seq.desc())
        .limit(1)
    )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return (int(row[0]), str(row[1])) if row else (0, ZERO_HASH)


def head_seq(conn: Any, log: str, department: str) -> int:
    """``department``'s ``log``'s last sequence number as ``conn`` reads it now (0: an empty log)."""
    return _head(conn, log, department, lock=False)[0]


def hold_log(conn: Any, log: str, department: str) -> None:
    """Make ``conn``'s transaction, until it ends, one that every append to ``department``'s ``log`` waits for, so
    that what it reads next is what such an append commits after, and what such an append's guard reads next is what
    this transaction committed. For a check that reads another log than the one it appends to (a case erasure reads
    the decisions log, an approval the erasures log): each reading the other's log before the other committed was a
    write skew (red team round 47b). PostgreSQL: the log's head row locked, the head read again until the row locked
    is the head still (READ COMMITTED grants the lock on a head read before a writer committed, which is old by
    then; an appender holds the head it appends after). An empty log has no row to lock: an appender to it collides
    on the sequence number instead. SQLite: the database's write lock taken now (``BEGIN IMMEDIATE``): Python's
    sqlite3 runs reads before a transaction's first write outside it, so they serialised nothing."""
    if conn.dialect.name == "postgresql":
        locked = None
        while True:
            head, _ = _head(conn, log, department, lock=True)
            if head == locked:
                return
            locked = head
    elif conn.dialect.name == "sqlite" and not conn.connection.driver_connection.in_transaction:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def lookup_of(body: Any, log: str = LOG_DECISIONS) -> str | None:
    """The index key the ledger stores with an entry of this body in ``log``: an access-log entry's certificate's
    (the reads of one certificate, for its issuer, auditors and its data subject), an erasures-log entry's
    certificate's when it names one (the certificate's erasure, for a supersession or an erasure run again), any
    other entry's case id's, or None. The key does not enter the entry hash: :func:`check_log` (access and erasures
    logs) and replay (decisions) compare it with the body."""
    if not isinstance(body, dict):
        return None
    named = body.get("certificate") if log in _CERTIFICATE_KEYED else None
    if not isinstance(named, str) and log != LOG_ACCESS:
        named = body.get("case_id")
    return lookup_key(named) if isinstance(named, str) else None


_DIGEST_TEXT = re.compile(r"0x[0-9a-f]{64}")


def mentions_of(body: Any, log: str = LOG_DECISIONS) -> list[str]:
    """The certificates a decisions-log entry of this body names (``LogMention`` rows written with it): the digests
    of the certificates it cites (``certificates[].digest``, as the ledger established them) and of the one it issued
    (``issued.certificate``), once each; none for an entry of another log."""
    if log != LOG_DECISIONS or not isinstance(body, dict):
        return []
    named: dict[str, None] = {}  # in order, once each
    fullmatch = _DIGEST_TEXT.fullmatch
    cited = body.get("certificates")
    if isinstance(cited, list):
        for c in cited:  # a loop, not generators: two citations a decision, two decisions' worth of calls saved
            if isinstance(c, dict):
                d = c.get("digest")
                if isinstance(d, str) and fullmatch(d):
                    named[d] = None
    issued = body.get("issued")
    if isinstance(issued, dict):
        d = issued.get("certificate")
        if isinstance(d, str) and fullmatch(d):
            named[d] = None
    return list(named)


def _as_stored(created_at: datetime) -> datetime:
    """A stored ``created_at`` as an aware UTC instant (SQLite hands back the naive UTC fields the ledger wrote)."""
    return created_at if created_at.tzinfo is not None else created_at.replace(tzinfo=UTC)


def _parsed(text: str) -> Any:
    """A row's body as read for the checks of its stored columns; None when not JSON (its hash and readers report
    that)."""
    try:
        return stored_loads(text)
    except ValueError:
        return None


def _time_agrees(body: Any, log: str, created_at: datetime | None) -> tuple[bool, str | None]:
    """Whether a row's stored time (``created_at``, on which the listings' time windows select; the entry hash does
    not cover it) is the instant its body (:func:`_parsed`) states (:func:`logbody.time_member`), which the ledger
    stores it at; and, when not, the member and text stated. A body stating no readable time is reported by its
    hash or its readers, not here."""
    if created_at is None or body is None:
        return True, None
    stated = stated_time(body, log)
    if stated is None or _as_stored(created_at) == stated:
        return True, None
    member = time_member(body, log)
    return False, f"{member} {body.get(member)}"


_SUPERVISION_KINDS = ('"kind":"credit_', '"kind":"inspection_', '"kind":"commitment_check"')  # logbody's kinds
_KIND_MEMBER = '"kind":"'  # what each of them starts with
_KIND_TAILS = tuple(kind[len(_KIND_MEMBER) :] for kind in _SUPERVISION_KINDS)


def _names_supervision_kind(text: str) -> bool:
    """``any(kind in text for kind in _SUPERVISION_KINDS)``, in one pass over the text: each of them starts with
    ``"kind":"``, so it is at one of that member's places (a decision's text holds one: its ``decided_by``)."""
    at = text.find(_KIND_MEMBER)
    while at >= 0:
        if text.startswith(_KIND_TAILS, at + len(_KIND_MEMBER)):
            return True
        at = text.find(_KIND_MEMBER, at + 1)
    return False


@lru_cache(maxsize=256)  # a chunk of decisions states one decided_at
def _naive_instant(text: str) -> datetime | None:
    """:func:`instant` of ``text`` as the naive UTC fields SQLite hands back for a stored time (compared without
    making each stored time aware: ``_as_stored``)."""
    stated = instant(text)
    return stated.replace(tzinfo=None) if stated is not None else None


def _decision_time_agrees(text: str, created_at: datetime) -> bool | None:
    """The fast answer of :func:`_time_agrees` for a decision: True when its one ``decided_at`` member states the
    stored instant (one pass over the text; the instant of a chunk's shared ``decided_at`` is memoised); None when
    that cannot tell (parse the body: :func:`_time_agrees`)."""
    at = text.find('"decided_at":"')
    if at < 0 or _names_supervision_kind(text):
        # a supervision record states its time in another member: a decided_at in it is nested, someone else's
        # (red team round 35: an insider's record holding one was passed by it when moved to that instant)
        return None
    start = at + 14
    end = text.find('"', start)
    if end < 0 or text.find('"decided_at":"', end) >= 0:  # a second one (nested): only the parse tells which
        return None
    moment = text[start:end]
    if instant(moment) is None:
        return None
    if created_at.tzinfo is None:  # SQLite's naive UTC fields: the same comparison as with _as_stored's
        return True if _naive_instant(moment) == created_at else None
    return True if instant(moment) == created_at else None


def time_altered(entry: Entry) -> bool:
    """Whether ``entry``'s stored time (``created_at``: what a listing's time window selected it on) is not the
    instant its body states: the database's time of the entry was edited, so it is listed in a window it does not
    belong to (and missing from its own; ``check_log`` names it there: ``time_altered``)."""
    if entry.log == LOG_DECISIONS and _decision_time_agrees(entry.body, entry.created_at):
        return False  # (a listing page parses each body once already, for its answer)
    return not _time_agrees(_parsed(entry.body), entry.log, entry.created_at)[0]


def _index_agrees(body: Any, lookup: str | None, log: str) -> bool:
    """For an access-log or erasures-log row: whether its stored index key is the one the ledger writes with this
    body (:func:`_parsed`; the key of its certificate, or of an erased case), which the entry hash does not cover."""
    if body is None:
        return True
    try:
        return lookup == lookup_of(body, log)
    except ValueError:
        return True


def _stored_time(created_at: datetime) -> str:
    return _as_stored(created_at).astimezone(UTC).isoformat().replace("+00:00", "Z")


Guard = Callable[[Connection], None]
"""Called inside an append's transaction, after the log's head was read and before the entries are inserted: it may
raise (a :class:`~ledger.errors.LedgerError`) to append nothing. What it reads is what the entries are appended
after: a writer that appends meanwhile makes the insert collide on the sequence number, and the append (with its
guard) is tried again on the new head."""


def _marked_head(conn: Connection, log: str, department: str, key: Any) -> tuple[int, str]:
    """:func:`_head` (locked) for an append, which chains its first entry to the head's hash and marks it: StateError
    when the head is not the ledger's (no mark, or one that does not check), as an entry chained to it would tie the
    department's own work to an insider's - anchoring stops at theirs, and removing it would break the chain under
    every entry after it (red team round 66). A head without a mark in a log no entry of which bears one was written
    before marks existed (migration 0019): appended to as before."""
    query = (
        select(_ENTRIES.c.seq, _ENTRIES.c.entry_hash, _ENTRIES.c.mark)
        .where(_ENTRIES.c.log == log, _ENTRIES.c.department_id == department)
        .order_by(_ENTRIES.c.seq.desc())
        .limit(1)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        return 0, ZERO_HASH
    seq, entry_hash, mark = row
    first = _first_marked_in(conn, log, department) if mark is None else None
    why = _mark_problem(key, seq, entry_hash, mark, first is None, first)
    if why is not None:
        raise StateError(
            f"log {log!r} of {department!r}: its last entry, entry {str(seq)[:40]} was not written by this ledger "
            f"({why}), so nothing is appended after it (an entry chained to it would tie the department's own to it, "
            f"and removing it would then break the log). Nothing was written. Check it (`ledger replay --department "
            f"{department}`, `ledger reconcile`) and remove it - being the last, its removal breaks nothing - or "
            "restore it, then try again"
        )
    return int(seq), str(entry_hash)


def _append_rows(
    ledger: Ledger,
    log: str,
    department: str,
    bodies: list[tuple[str, str | None, list[str], datetime]],
    guard: Guard | None = None,
    compose: Callable[[Connection], list[tuple[str, str | None, list[str], datetime]]] | None = None,
) -> list[int]:
    """Insert ``bodies`` (canonical text as str, index key, certificates named, stored time: :func:`_row`) after
    the current head in one transaction, with their ``LogMention`` rows; retried when another writer got there
    first. Returns their sequence numbers. Each stored time is an aware UTC instant: SQLite keeps a time's
    wall-clock fields as given, and every reader takes them for UTC (the time windows of the listings,
    :func:`_time_agrees`)."""
    sha256, opening = hashlib.sha256, ENTRY_PREFIX + b'{"body":'
    middle = b',"department":' + canonical_json(department) + b',"log":' + canonical_json(log) + b',"prev":'
    # the mark's HMAC keyed once per call: each entry's is a copy of it (2.5 us an entry, against 3.9 for hmac.digest)
    keyed = _keyed(mark_key(ledger, department))
    with _append_lock(ledger, log, department):
        for attempt in range(_RETRIES):
            try:
                with ledger.engine.begin() as conn:
                    seq, prev = _marked_head(conn, log, department, keyed)
                    if guard is not None:
                        guard(conn)
                    if compose is not None:
                        bodies = compose(conn)
                    rows: list[tuple[Any, ...]] = []
                    mentions: list[tuple[str, str, int, str]] = []
                    # compute_entry_hash with the parts every entry of this append shares written once: the head's
                    # hash as stored is canonicalised, each hash after it is "0x" + hex (its JSON is itself quoted)
                    prev_json = canonical_json(prev)
                    for text, lookup, named, created_at in bodies:
                        seq += 1
                        for d in named:
                            mentions.append((log, department, seq, d))
                        payload = b"".join(
                            (opening, text.encode("utf-8"), middle, prev_json, b',"seq":', str(seq).encode(), b"}")
                        )
                        entry_hash = "0x" + sha256(payload).hexdigest()
                        prev_json = b'"' + entry_hash.encode("ascii") + b'"'
                        marking = keyed.copy()
                        marking.update(entry_hash.encode("ascii"))
                        mark = marking.hexdigest()  # entry_mark's, computed without keying the HMAC again
                        rows.append((log, department, seq, text, lookup, entry_hash, prev, created_at, mark))
                        prev = entry_hash
                    insert_rows(conn, _ENTRIES, _ENTRY_COLUMNS, rows)
                    insert_rows(conn, _MENTIONS, _MENTION_COLUMNS, mentions)
                return [row[2] for row in rows]
            except (IntegrityError, OperationalError) as exc:
                # Another process appended the same sequence number (unique violation) or held the SQLite write
                # lock past the busy timeout: read the new head and try again.
                if (
                    isinstance(exc, OperationalError)
                    and "locked" not in str(exc).lower()
                    and "could not serialize" not in str(exc).lower()
                    and "deadlock" not in str(exc).lower()
                ):
                    raise
                time.sleep(min(0.001 * (2 ** min(attempt, 8)), 0.2))
    raise StateError(
        f"could not append to log {log!r} of {department!r}: {_RETRIES} attempts collided with other "
        "writers; retry later"
    )


def append(
    ledger: Ledger,
    log: str,
    department: str,
    body: dict[str, Any],
    *,
    created_at: datetime | None = None,
    guard: Guard | None = None,
) -> Entry:
    """Append one entry to ``department``'s log ``log``; returns the stored entry (state pending). ``guard``: see
    :data:`Guard`. The entry is stored at the instant its body states (a decision's ``decided_at``, a read's or an
    erasure's ``at``: :func:`logbody.stated_time`), else at ``created_at``, else now."""
    created_at = given_time(created_at, "created_at") if created_at is not None else None
    _check_names(log, department)
    rows = _append_rows(ledger, log, department, [_row(body, log, created_at)], guard)
    with ledger.engine.connect() as conn:
        row = conn.execute(
            select(*_ENTRY_VIEW).where(
                _ENTRIES.c.log == log, _ENTRIES.c.department_id == department, _ENTRIES.c.seq == rows[0]
            )
        ).one()
        return _with_anchors(conn, log, [row])[0]


def append_composed(
    ledger: Ledger, log: str, department: str, compose: Callable[[Connection], dict[str, Any] | None]
) -> int | None:
    """One transaction that writes what ``compose`` writes through the connection it is given (after the log's head
    was read and locked, as a :data:`Guard`) and appends the body it returns, if any, computed from what it read
    there: the entry commits with those writes or neither does. Returns the entry's sequence number (None: no
    body). ``compose`` may be called again, on the new head, when another writer appended first."""
    _check_names(log, department)

    def rows(conn: Connection) -> list[tuple[str, str | None, list[str], datetime]]:
        body = compose(conn)
        return [] if body is None else [_row(body, log, None)]

    seqs = _append_rows(ledger, log, department, [], compose=rows)
    return seqs[0] if seqs else None


def append_many(
    ledger: Ledger,
    log: str,
    department: str,
    bodies: Iterable[dict[str, Any]],
    *,
    chunk: int = 5_000,
    created_at: datetime | None = None,
    guard: Guard | None = None,
) -> int:
    """Append many entries, ``chunk`` per transaction, in the order given; returns how many were appended.
    ``guard`` (:data:`Guard`) is asked in each transaction; ``created_at``: see :func:`append`."""
    created_at = given_time(created_at, "created_at") if created_at is not None else None
    _check_names(log, department)
    count = 0
    batch: list[tuple[str, str | None, list[str], datetime]] = []
    for body in bodies:
        batch.append(_row(body, log, created_at))
        if len(batch) >= chunk:
            count += len(_append_rows(ledger, log, department, batch, guard))
            batch = []
    if batch:
        count += len(_append_rows(ledger, log, department, batch, guard))
    return count


def _row(body: dict[str, Any], log: str, created_at: datetime | None) -> tuple[str, str | None, list[str], datetime]:
    """What :func:`_append_rows` stores of ``body``: its canonical text, index key, certificates named and stored
    time - the instant the body states (:func:`logbody.stated_time`), so that a listing's time window selects on
    what the entry hash covers; else ``created_at``, else now. The text is decoded at once (the entry hash is taken
    over the same text encoded again, byte for byte the canonical bytes), not kept as the encoder's bytes:
    ``append_many`` holds a whole chunk of them until its transaction, and a chunk of the JSON encoder's own bytes
    objects held alive costs the writer ~4 CPU-us an entry more in allocation (measured on decide's bodies: 6.9 us
    kept as bytes, 2.9 as str, and the row needs the str)."""
    at = stated_time(body, log) or created_at or _utcnow()
    return (
        canonical_body(body).decode("utf-8"),
        lookup_of(body, log),
        mentions_of(body, log),
        at.astimezone(UTC),
    )


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored entry of a log with its anchoring. The anchoring is not stored in the entry's row (anchoring would
    rewrite each ~2 KB row twice): it is the anchor (:class:`LogAnchor`) whose range holds the sequence number.
    ``batch_root`` is that anchor's root (None: none holds it), ``leaf_index`` the entry's place in its tree, and
    ``state`` pending (no anchor), submitted (the anchor prepared or sent) or anchored (confirmed on chain)."""

    id: int
    log: str
    department_id: str
    seq: int
    body: str
    lookup: str | None
    entry_hash: str
    prev_hash: str
    created_at: datetime
    batch_root: str | None
    leaf_index: int | None
    state: str


_ENTRY_VIEW = (
    _ENTRIES.c.id,
    _ENTRIES.c.log,
    _ENTRIES.c.department_id,
    _ENTRIES.c.seq,
    _ENTRIES.c.body,
    _ENTRIES.c.lookup,
    _ENTRIES.c.entry_hash,
    _ENTRIES.c.prev_hash,
    _ENTRIES.c.created_at,
)
_ENTRY_STATE = {
    AnchorState.PREPARED: EntryState.SUBMITTED,
    AnchorState.SUBMITTED: EntryState.SUBMITTED,
    AnchorState.ANCHORED: EntryState.ANCHORED,
}


@dataclass(frozen=True, slots=True)
class _Span:
    """A stored anchor's range (without its leaves): what an entry's anchoring is derived from."""

    root: str
    first_seq: int
    last_seq: int
    state: str
    block_number: int | None


class _Spans:
    """The stored anchors of one department's log over a range of sequence numbers, in order, and which holds a
    sequence number (the last one starting at or before it, if it reaches it)."""

    def __init__(self, spans: list[_Span], damaged: list[tuple[str, Any, Any]] | None = None) -> None:
        self.spans = spans
        self.damaged = damaged or []  # (root, first_seq, last_seq) of rows whose range is no pair of integers
        self.firsts = [s.first_seq for s in spans]

    def holding(self, seq: int) -> _Span | None:
        i = bisect.bisect_right(self.firsts, seq) - 1
        if i < 0:
            return None
        span = self.spans[i]
        return span if seq <= span.last_seq else None


_SPAN_COLUMNS = (_ANCHORS.c.root, _ANCHORS.c.first_seq, _ANCHORS.c.last_seq, _ANCHORS.c.state, _ANCHORS.c.block_number)


def _spans(conn: Connection, log: str, department: str, low: int | None = None, high: int | None = None) -> _Spans:
    """The stored anchors of ``department``'s log ``log`` that may hold a sequence number from ``low`` to ``high``
    (None: unbounded): the one starting last at or before ``low``, then those starting up to ``high``; two reads
    of the (log, department, first_seq) index, whatever the number of anchors before or after."""
    mine = (_ANCHORS.c.log == log, _ANCHORS.c.department_id == department)
    found: list[Any] = []
    if low is not None:
        found.extend(
            conn.execute(
                select(*_SPAN_COLUMNS)
                .where(*mine, _ANCHORS.c.first_seq <= low)
                .order_by(_ANCHORS.c.first_seq.desc())
                .limit(1)
            ).all()
        )
    query = select(*_SPAN_COLUMNS).where(*mine)
    if low is not None:
        query = query.where(_ANCHORS.c.first_seq > low)
    if high is not None:
        query = query.where(_ANCHORS.c.first_seq <= high)
    found.extend(conn.execute(query.order_by(_ANCHORS.c.first_seq)).all())
    spans, damaged = [], []
    for r in found:
        if _is_seq(r[1]) and _is_seq(r[2]):
            spans.append(_Span(str(r[0]), r[1], r[2], str(r[3]), r[4] if _is_seq(r[4]) else None))
        else:  # SQLite keeps a text in an integer column: only an edit past the ledger puts one there
            damaged.append((str(r[0]), r[1], r[2]))
    return _Spans(spans, damaged)


def _is_seq(value: Any) -> bool:
    """Whether a stored sequence or block number is one (an integer, not a text or a real SQLite kept: an edit)."""
    return type(value) is int


def unreadable_anchor(conn: Connection, log: str, department: str, seq: int) -> tuple[str, str, str] | None:
    """The stored anchor that would hold ``seq`` but whose range is no pair of sequence numbers (a column edited or
    retyped past the ledger): its root and the first and last it claims, bounded, as text. None if there is none:
    an entry no anchor holds is then simply not anchored yet."""
    for root, first, last in _spans(conn, log, department, low=seq, high=seq).damaged:
        return root, str(first)[:40], str(last)[:40]
    return None


def anchored_blocks(conn: Connection, log: str, department: str, seqs: Sequence[int]) -> dict[int, int]:
    """The block of the confirmed stored anchor holding each of ``seqs`` (the database's word: check_log compares
    it with the chain), for those that one holds."""
    if not seqs:
        return {}
    spans = _spans(conn, log, department, min(seqs), max(seqs))
    out = {}
    for seq in seqs:
        span = spans.holding(seq)
        if span is not None and span.state == AnchorState.ANCHORED and span.block_number is not None:
            out[seq] = span.block_number
    return out


def _entry(row: Any, span: _Span | None) -> Entry:
    created_at = row[8]
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    return Entry(
        id=row[0],
        log=row[1],
        department_id=row[2],
        seq=row[3],
        body=row[4],
        lookup=row[5],
        entry_hash=row[6],
        prev_hash=row[7],
        created_at=created_at,
        batch_root=span.root if span is not None else None,
        leaf_index=row[3] - span.first_seq if span is not None else None,
        state=_ENTRY_STATE.get(span.state, EntryState.SUBMITTED) if span is not None else EntryState.PENDING,
    )


def _with_anchors(conn: Connection, log: str, rows: Sequence[Any]) -> list[Entry]:
    """``rows`` (of ``_ENTRY_VIEW``, in any order) as entries with their anchoring, read per department for the span
    of sequence numbers they cover."""
    spans: dict[str, _Spans] = {}
    for department, group in itertools.groupby(sorted(rows, key=lambda r: r[2]), key=lambda r: r[2]):
        seqs = [r[3] for r in group]
        spans[department] = _spans(conn, log, department, min(seqs), max(seqs))
    return [_entry(r, spans[r[2]].holding(r[3])) for r in rows]


def entries(
    ledger: Ledger,
    log: str,
    department: str | None = None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    chunk: int = 2_000,
    lookup: str | None = None,
    after: tuple[str, int] | None = None,
    limit: int | None = None,
    through: tuple[str, int] | None = None,
) -> Iterator[Entry]:
    """Stream the entries of ``log`` (one department or all) ordered by department and seq; ``since`` inclusive,
    ``until`` exclusive, on ``created_at``; ``lookup``: only entries stored with this index key (:func:`lookup_of`);
    ``after``: only entries after this (department, seq), and at most ``limit`` of them (a page: the next one
    starts after the last entry of this one); ``through``: none after this (department, seq) (a time window's page
    walks no further than :func:`window_bound`)."""
    query = select(*_ENTRY_VIEW).where(_ENTRIES.c.log == log)
    if department is not None:
        query = query.where(_ENTRIES.c.department_id == department)
    if lookup is not None:
        query = query.where(_ENTRIES.c.lookup == lookup)
    query = _through(_after(query, department, after), department, through)
    if since is not None:
        query = query.where(_ENTRIES.c.created_at >= _as_utc(since))
    if until is not None:
        query = query.where(_ENTRIES.c.created_at < _as_utc(until))
    query = query.order_by(_ENTRIES.c.department_id, _ENTRIES.c.seq)
    if limit is not None:
        query = query.limit(limit)
    with ledger.engine.connect() as conn:
        result = conn.execution_options(yield_per=chunk).execute(query)
        for rows in result.partitions():
            with ledger.engine.connect() as reader:  # the stream's connection holds its open cursor
                yield from _with_anchors(reader, log, list(rows))


def _after(query: Any, department: str | None, after: tuple[str, int] | None) -> Any:
    """``query`` restricted to the entries after ``after`` (department, seq): keyset paging on the (log,
    department_id, seq) index, so a page costs the same anywhere."""
    if after is None:
        return query
    after_department, after_seq = after
    if department is None:
        return query.where(tuple_(_ENTRIES.c.department_id, _ENTRIES.c.seq) > tuple_(*after))
    if after_department == department:
        return query.where(_ENTRIES.c.seq > after_seq)
    if after_department > department:  # a place past every entry of this department's log
        return query.where(false())
    return query


def _through(query: Any, department: str | None, through: tuple[str, int] | None) -> Any:
    """``query`` restricted to the entries up to ``through`` (department, seq), inclusive; for one department by its
    seq alone, so the database walks the (log, department_id, seq) index (a row-value comparison there had SQLite
    walk another index and sort)."""
    if through is None:
        return query
    through_department, through_seq = through
    if department is None:
        return query.where(tuple_(_ENTRIES.c.department_id, _ENTRIES.c.seq) <= tuple_(*through))
    if through_department == department:
        return query.where(_ENTRIES.c.seq <= through_seq)
    if through_department < department:  # a place before every entry of this department's log
        return query.where(false())
    return query


def window_bound(
    ledger: Ledger, log: str, department: str | None, after: tuple[str, int] | None, rows: int
) -> tuple[str, int] | None:
    """The (department, seq) of the ``rows``-th entry of ``log`` after ``after`` in the listing's order, or None when
    fewer remain: how far one page of a time window walks. The window is a filter on the append time, which no index
    orders, so a window no entry is in walked the whole log (one department's, or every department's) to fill a page
    (red team round 74); a page now walks at most ``rows`` entries and the next one starts after the bound. One walk
    of the (log, department_id, seq) index, no row read."""
    query = select(_ENTRIES.c.department_id, _ENTRIES.c.seq).where(_ENTRIES.c.log == log)
    if department is not None:
        query = query.where(_ENTRIES.c.department_id == department)
    query = _after(query, department, after).order_by(_ENTRIES.c.department_id, _ENTRIES.c.seq)
    with ledger.engine.connect() as conn:
        found = conn.execute(query.offset(rows - 1).limit(1)).first()
    return None if found is None else (str(found[0]), int(found[1]))


def mentioning(ledger: Ledger, log: str, digest: str, department: str | None = None) -> Iterator[Entry]:
    """The entries of ``log`` (one department's or all) that name certificate ``digest`` (their ``LogMention``
    rows, ``ix_logmention_digest``), ordered by department and seq: a certificate's few decisions, whatever the
    length of the log. An entry whose rows an insider deleted is missed here; replay reads every entry."""
    query = select(_MENTIONS.c.department_id, _MENTIONS.c.seq).where(
        _MENTIONS.c.digest == digest, _MENTIONS.c.log == log
    )
    if department is not None:
        query = query.where(_MENTIONS.c.department_id == department)
    with ledger.engine.connect() as conn:
        places = conn.execute(query.order_by(_MENTIONS.c.department_id, _MENTIONS.c.seq)).all()
    # then the entries by their (log, department, seq) key: two indexed reads, whatever plan the database prefers
    for dept, group in itertools.groupby(places, key=lambda place: str(place[0])):
        seqs = [int(place[1]) for place in group]
        for i in range(0, len(seqs), 900):
            with ledger.engine.connect() as conn:
                rows = conn.execute(
                    select(*_ENTRY_VIEW)
                    .where(
                        _ENTRIES.c.log == log,
                        _ENTRIES.c.department_id == dept,
                        _ENTRIES.c.seq.in_(seqs[i : i + 900]),
                    )
                    .order_by(_ENTRIES.c.seq)
                ).all()
                found = _with_anchors(conn, log, rows) if rows else []
            yield from found


class UnreadableEntry(StateError):
    """A log entry's stored body is not a JSON object, so the ledger did not write it (an insider's edit of the
    database): the reader names the entry and the commands that report it instead of crashing."""

    def __init__(self, log: str, department: str, seq: int, problem: str) -> None:
        self.log, self.department, self.seq, self.problem = log, department, int(seq), problem
        named = f"GET /audit/logs/{log}/check?department={department}"
        if log == LOG_DECISIONS:
            named = f"`ledger replay --department {department}` and {named}"
        super().__init__(
            f"entry {seq} of {department}'s {log} log cannot be read: its stored body {problem}, which the ledger "
            f"never writes (the database was edited). {named} report it; restore the row from a backup"
        )


# The deepest a stored body may nest: the ledger writes a dozen levels at most, and the gateway's answers carry a body
# a few levels in, which pydantic serializes to about 255 levels only: an insider's body 300 deep (within the parser's
# bound) made the auditor's listing of the whole log a 500.
MAX_BODY_DEPTH = 200


def read_body(text: str | bytes | None, log: str, department: str, seq: int) -> dict[str, Any]:
    """The stored body of entry ``seq`` of ``department``'s ``log`` as the object the ledger wrote, or
    :class:`UnreadableEntry` (a StateError) naming the entry when it is not JSON, nested too deep or not an object.
    Readers that list entries catch it to skip and name the entry; the others let it fail their one request."""
    if text is None:
        raise UnreadableEntry(log, department, seq, "is empty (NULL)")
    if deeper_than(text, MAX_BODY_DEPTH):
        raise UnreadableEntry(
            log,
            department,
            seq,
            f"is nested deeper than {MAX_BODY_DEPTH} levels, which no body the ledger writes nears",
        )
    try:
        body = stored_loads(text)
    except ValueError as exc:  # JSONDecodeError (also nested too deep), UnicodeDecodeError, a lone surrogate
        raise UnreadableEntry(log, department, seq, f"is not JSON ({str(exc)[:200]})") from None
    if not isinstance(body, dict):
        raise UnreadableEntry(log, department, seq, f"is JSON but not an object (a {type(body).__name__})")
    return body


# a \uD800-\uDFFF escape: the only way a JSON text spells a lone surrogate (canonical JSON writes none at all)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def spelling_problem(text: str | bytes, body: dict[str, Any]) -> str | None:
    """Why the stored ``text`` of an entry is not the canonical JSON (RFC 8785) of ``body``, what it parses to, or
    None when it is. The ledger writes every entry so; its hash is taken over the stored text, where both bundle
    verifiers hash the canonical JSON of the body they read: an entry stored in another spelling (spaced out, keys in
    another order, a key named twice, whose readers keep the first or the last) reads one way to the ledger and
    fails ``entry_hash`` in every bundle of it (red team round 50)."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    try:
        if canonical_body(body) == raw:
            return None
    except InputError:  # a value canonical JSON has no spelling for (an infinity read from 1e999), or an integer
        try:  # past ±2**53: the court's verifier reads its digits as the double they are exactly (red team round 51)
            if canonical_body(_as_doubles(body)) == raw:
                return None
        except (InputError, ValueError):
            pass
    return (
        "the entry's stored text is not the canonical JSON (RFC 8785) of the body it reads as (spaced out, keys in "
        "another order or named twice, a number or a string spelt otherwise): its hash covers that text, so every "
        "bundle verifier, which hashes the canonical JSON of the body, fails its entry_hash, and a key named twice "
        "reads as its first value to some readers and its last to others; the ledger never writes one"
    )


_SAFE_INTEGER = 2**53


def _as_doubles(value: Any) -> Any:
    """``value`` with every integer past ±2**53 the double it is exactly, as canonical JSON (RFC 8785) carries a
    number and as the court's verifier reads one (``exact_int``): the ledger writes a double of 2**53 or more as its
    integer digits (``1e16``: ``10000000000000000``), which Python reads back as an int. ValueError for one that is no
    double exactly (``9007199254740993``), which the court's verifier refuses too."""
    if type(value) is int and not -_SAFE_INTEGER < value < _SAFE_INTEGER:
        try:
            double = float(value)
        except OverflowError:
            raise ValueError(f"integer {value} is no double") from None
        if double != value:
            raise ValueError(f"integer {value} is no double exactly")
        return double
    if type(value) is dict:
        return {k: _as_doubles(v) for k, v in value.items()}
    if type(value) is list:
        return [_as_doubles(v) for v in value]
    return value


def stored_loads(text: str | bytes) -> Any:
    """A stored body or input (text the ledger wrote as canonical JSON) parsed, as :func:`json_loads` does, or
    ValueError, also for a text holding a lone surrogate: JSON spells one (``\\ud800``) and Python reads it, but no
    Unicode text carries one, so every answer and page quoting the string would fail to encode (a 500 hiding the
    whole log or report). The ledger never writes one: such a text was edited in the database."""
    value = json_loads(text)
    if _SURROGATE_ESCAPE.search(text if isinstance(text, str) else text.decode("latin-1")):
        try:  # only a text escaping a surrogate can hold a lone one
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("it holds a lone surrogate (a \\uD800-\\uDFFF escape), which is no Unicode text") from None
    return value


def certificate_entries(ledger: Ledger, department: str, certificate: str, mention: str) -> list[dict[str, Any]]:
    """The bodies of ``department``'s access-log entries about ``certificate`` whose text holds ``mention`` (e.g.
    ``'"grant":"G-1"'``), oldest first; :class:`UnreadableEntry` when one of them was edited into something the
    ledger never writes. The certificate's index key (``ix_logentry_lookup``) finds them, so the cost follows that
    certificate's entries, not the whole log that every read grows. An entry whose key an insider changed is missed
    here as a deleted one would be; :func:`check_log` reports both."""
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(_ENTRIES.c.seq, _ENTRIES.c.body)
            .where(
                _ENTRIES.c.log == LOG_ACCESS,
                _ENTRIES.c.department_id == department,
                _ENTRIES.c.lookup == lookup_key(certificate),
                _ENTRIES.c.body.like(f"%{mention}%"),
            )
            .order_by(_ENTRIES.c.seq)
        )
        return [read_body(r.body, LOG_ACCESS, department, r.seq) for r in rows]


@dataclass(frozen=True, slots=True)
class Unanchored:
    """Entries of one department's log not anchored yet: how many, and the oldest (a record kept only in the
    database can still be deleted without a trace; anchoring within a deadline bounds that window)."""

    department: str
    count: int
    oldest_seq: int
    oldest_at: datetime

    def age_seconds(self, now: datetime) -> float:
        return (now - self.oldest_at).total_seconds()


def _departments(conn: Connection, log: str) -> list[str]:
    """The departments with entries in ``log``: one read of the (log, department, seq) index per department (a
    skip scan by hand: DISTINCT would read every entry of the log)."""
    found: list[str] = []
    while True:
        query = select(_ENTRIES.c.department_id).where(_ENTRIES.c.log == log)
        if found:
            query = query.where(_ENTRIES.c.department_id > found[-1])
        department = conn.execute(query.order_by(_ENTRIES.c.department_id).limit(1)).scalar()
        if department is None:
            return found
        found.append(str(department))


def _anchored_prefix(conn: Connection, log: str, department: str) -> int:
    """The last entry of the confirmed stored anchors that continue ``department``'s log ``log`` from its first
    entry without a gap (the contract accepts only ranges that continue the log, so the confirmed ones are its first
    entries). Not the last confirmed anchor's end: an insider's anchor row claiming a later entry would make every
    entry before it look anchored (check_log names that row)."""
    reached = 0
    for first, last in conn.execute(
        select(_ANCHORS.c.first_seq, _ANCHORS.c.last_seq)
        .where(_ANCHORS.c.log == log, _ANCHORS.c.department_id == department, _ANCHORS.c.state == AnchorState.ANCHORED)
        .order_by(_ANCHORS.c.first_seq)
    ):
        if not (_is_seq(first) and _is_seq(last)) or first != reached + 1 or last < first:
            break
        reached = last
    return reached


def unanchored(ledger: Ledger, log: str, department: str | None = None) -> list[Unanchored]:
    """Per department (or only ``department``), the entries of ``log`` not yet anchored on chain: those after the
    confirmed stored anchors that continue the log from its first entry (:func:`_anchored_prefix`), and never
    fewer than those after what the chain anchored (its ``nextSequence``, one view call per department): a real
    anchor row whose range an insider stretched past the chain's would otherwise count the entries it claims as
    anchored (check_log names the row, ``anchor_pending`` refuses)."""
    chain = ledger.chain
    out = []
    with ledger.engine.connect() as conn:
        for dept in _departments(conn, log) if department is None else [department]:
            anchored_to = min(_anchored_prefix(conn, log, dept), _chain_anchored_to(chain, log, dept))
            mine = (_ENTRIES.c.log == log, _ENTRIES.c.department_id == dept, _ENTRIES.c.seq > (anchored_to or 0))
            count = conn.execute(select(func.count()).where(*mine)).scalar_one()
            if not count:
                continue
            # the first row's number and time read together: a number an edit made unreadable matches no row
            first, at = conn.execute(
                select(_ENTRIES.c.seq, _ENTRIES.c.created_at).where(*mine).order_by(_ENTRIES.c.seq).limit(1)
            ).one()
            out.append(Unanchored(dept, int(count), int(first), at if at.tzinfo else at.replace(tzinfo=UTC)))
    return sorted(out, key=lambda u: u.department)


def _chain_anchored_to(chain: Any, log: str, dept: str) -> int:
    """The last entry of ``dept``'s ``log`` the chain anchored (its ``nextSequence`` - 1). A code no department can
    have (stored by someone editing the database: not 1-32 printable ASCII) has nothing anchored, and is no error
    here: it would stop every caller listing all departments, the gateway's anchoring rounds among them, where it
    is to hold back only itself (red team round 27)."""
    try:
        department = department_id_bytes(dept)
    except InputError:
        return 0
    return int(chain.call(chain.log.functions.nextSequence(department, log_id(log)))) - 1


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise InputError(f"time {value.isoformat()} has no time zone; give UTC times (e.g. ...Z or +00:00)")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00: its UTC instant is before the calendar's first day
        raise InputError(
            f"time {value.isoformat()} lies outside the calendar once converted to UTC; give a time "
            "between years 1 and 9999 in UTC"
        ) from None


# -- anchoring --------------------------------------------------------------------------------------------------


def _event_of(ledger: Ledger, log: str, department: str, root: bytes) -> dict[str, Any] | None:
    chain = ledger.chain
    found = chainread.scan(
        chain,
        chain.log.events.LogBatchAnchored,
        what=f"the anchoring of {department}'s {log} range",
        argument_filters={"logId": log_id(log), "departmentId": department_id_bytes(department), "root": root},
    )
    if not found:
        return None
    event = found[-1]
    return {"tx_hash": "0x" + bytes(event["transactionHash"]).hex(), "block_number": int(event["blockNumber"])}


def _mark_anchored(ledger: Ledger, root: str, event: dict[str, Any]) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(
            update(_ANCHORS)
            .where(_ANCHORS.c.root == root)
            .values(
                state=AnchorState.ANCHORED,
                tx_hash=event["tx_hash"],
                block_number=event["block_number"],
                anchored_at=_utcnow(),
            )
        )


def _release(ledger: Ledger, root: str) -> None:
    """Forget an anchor the chain will never accept; its entries become pending again (no anchor holds them)."""
    with ledger.engine.begin() as conn:
        conn.execute(delete(_ANCHORS).where(_ANCHORS.c.root == root))


def _send(ledger: Ledger, log: str, department: str, anchor: dict[str, Any]) -> str | None:
    """Send anchorLog for a prepared/submitted anchor; returns the tx hash, or None if the anchor was released.

    An anchor prepared under a key the council has rotated since (its anchoring lost to an outage, or dropped by the
    chain's operator) is signed again with the current key first, as a certificate batch is when resumed: the stored
    signature is checked against the anchoring's signer by both bundle verifiers (red team round 65: every decision
    of such a range failed ``log_signature``)."""
    chain = ledger.chain
    account = ledger.department_account(department)
    if str(anchor.get("signer", "")).lower() != account.address.lower():
        message = log_message(
            chain.chain_id,
            chain.deployment.log,
            log_id(log),
            bytes.fromhex(anchor["root"][2:]),
            anchor["first_seq"],
            anchor["last_seq"],
            department_id_bytes(department),
        )
        anchor["signer"], anchor["signature"] = account.address, "0x" + sign(account, message).hex()
        with ledger.engine.begin() as conn:
            conn.execute(
                update(_ANCHORS)
                .where(_ANCHORS.c.root == anchor["root"])
                .values(signer=anchor["signer"], signature=anchor["signature"])
            )
    fn = chain.log.functions.anchorLog(
        log_id(log),
        bytes.fromhex(anchor["root"][2:]),
        anchor["first_seq"],
        anchor["last_seq"],
        bytes.fromhex(anchor["head_hash"][2:]),
    )
    try:
        tx_hash = chain.send(account, fn)
    except ChainError as exc:
        if exc.error_name == "LogRootAlreadyAnchored":
            return ""
        if exc.error_name in ("LogSequenceGap", "LogInvalidRange", "LogZeroRoot"):
            _release(ledger, anchor["root"])
            return None
        raise
    with ledger.engine.begin() as conn:
        conn.execute(
            update(_ANCHORS)
            .where(_ANCHORS.c.root == anchor["root"])
            .values(state=AnchorState.SUBMITTED, tx_hash=tx_hash)
        )
    return tx_hash


def _confirm(ledger: Ledger, log: str, department: str, root: str, tx_hash: str | None) -> bool:
    chain = ledger.chain
    if tx_hash:
        try:
            chain.wait(tx_hash)
        except ChainError:
            pass  # decided below from the chain's events
    event = _event_of(ledger, log, department, bytes.fromhex(root[2:]))
    if event is None:
        return False
    deadline = time.monotonic() + chain.timeout
    while chain.block_number() < event["block_number"] + ledger.settings.confirmations:
        if time.monotonic() > deadline:
            raise ChainError(
                f"log batch {root} did not reach {ledger.settings.confirmations} confirmations; "
                "run anchor-logs again later"
            )
        time.sleep(0.2)
    _mark_anchored(ledger, root, event)
    return True


def _refuse_unless_prepared_from_entries(
    ledger: Ledger, log: str, department: str, anchor: dict[str, Any], marks: _Marks
) -> None:
    """StateError unless the open ``anchor`` is what :func:`anchor_pending` prepares from the stored entries of its
    range: each of them present, its stored leaves their hashes in order, its root their tree's and its head the
    last one's. Sending it signs its root on chain with the department's key: a row an insider wrote (a root of
    hashes of their choosing, a range past the log's last entry) would have the chain attest, in the department's
    name, entries it never wrote."""
    first, last = anchor["first_seq"], anchor["last_seq"]
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(_ENTRIES.c.seq, _ENTRIES.c.entry_hash, _ENTRIES.c.mark)
            .where(
                _ENTRIES.c.log == log,
                _ENTRIES.c.department_id == department,
                _ENTRIES.c.seq >= first,
                _ENTRIES.c.seq <= last,
            )
            .order_by(_ENTRIES.c.seq)
        ).all()
    for seq, entry_hash, mark in rows:  # its entries the ledger's own, as a fresh preparation's must be
        why = marks.problem(seq, entry_hash, mark)
        if why is not None:
            raise _refuse_unmarked(log, department, seq, why)
    problem = None
    if last < first or [int(r[0]) for r in rows] != list(range(first, last + 1)):
        problem = f"the log holds {len(rows)} of its entries {first}-{last}"
    else:
        try:
            hashes = [bytes.fromhex(str(r[1])[2:]) for r in rows]
            tree = MerkleTree(hashes)
        except (ValueError, InputError):
            problem = "an entry hash of its range is malformed"
        else:
            if stored_blob(anchor["leaves"]) != b"".join(hashes):
                problem = "its stored leaves are not its entries' hashes"
            elif hex32(tree.root) != anchor["root"] or anchor["head_hash"] != rows[-1][1]:
                problem = "its root or head is not its entries'"
    if problem is not None:
        raise StateError(
            f"log {log!r} of {department!r}: the open anchor {anchor['root']} (entries {first}-{last}) was not "
            f"prepared from the stored entries ({problem}), so it is not sent with the department's key: the "
            f"database's anchors or entries were edited - run `ledger replay --department {department}` "
            "(check_log) and remove or restore that row"
        )


def _resume(ledger: Ledger, log: str, department: str, marks: _Marks) -> list[str]:
    with ledger.engine.connect() as conn:
        open_anchors = [
            dict(r._mapping)
            for r in conn.execute(
                select(_ANCHORS)
                .where(
                    _ANCHORS.c.log == log,
                    _ANCHORS.c.department_id == department,
                    _ANCHORS.c.state.in_(AnchorState.OPEN),
                )
                .order_by(_ANCHORS.c.first_seq)
            )
        ]
    done = []
    for anchor in open_anchors:
        if not (_is_seq(anchor["first_seq"]) and _is_seq(anchor["last_seq"])):
            raise StateError(
                f"log {log!r} of {department!r}: the open anchor {anchor['root']} claims entries "
                f"{str(anchor['first_seq'])[:40]!r}-{str(anchor['last_seq'])[:40]!r}, which are no sequence numbers: "
                "the database's anchors were edited - run `ledger replay` (check_log) to see what is altered"
            )
        if _confirm(ledger, log, department, anchor["root"], anchor["tx_hash"]):
            done.append(anchor["root"])
            continue
        _refuse_unless_prepared_from_entries(ledger, log, department, anchor, marks)
        tx_hash = _send(ledger, log, department, anchor)
        if tx_hash is None:
            continue
        if _confirm(ledger, log, department, anchor["root"], tx_hash):
            done.append(anchor["root"])
        else:
            raise ChainError(
                f"log batch {anchor['root']} was sent but is not anchored on chain; run anchor-logs "
                "again once the chain is reachable"
            )
    return done


def _reopen_vanished(ledger: Ledger, log: str, department: str, expected: int) -> bool:
    """Move back to prepared each confirmed stored anchor whose whole range the chain no longer holds (at or past
    its ``nextSequence``) and whose root it has no event for: its block left the canonical chain (the operator's
    reorganisation, or a node that lost its newest blocks), as ``issuance.recheck`` does for certificate batches.
    :func:`_resume` then sends it again, and only after :func:`_refuse_unless_prepared_from_entries`: an insider's
    row is refused there, never signed. Kept confirmed, it made every later anchoring of the log refuse for good
    (:func:`_refuse_anchors_past_chain`), so the log's later entries stayed off chain (red team round 39b).
    ``expected``: the chain's ``nextSequence``, read by the caller. Whether any was moved back."""
    reopened = False
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(_ANCHORS.c.root, _ANCHORS.c.first_seq).where(
                _ANCHORS.c.log == log,
                _ANCHORS.c.department_id == department,
                _ANCHORS.c.state == AnchorState.ANCHORED,
                _ANCHORS.c.first_seq >= expected,
            )
        ).all()
    for root, first in rows:
        try:
            raw = bytes.fromhex(str(root)[2:])
        except ValueError:
            continue  # an edited row: _refuse_anchors_past_chain names it
        if not _is_seq(first) or len(raw) != 32 or _event_of(ledger, log, department, raw) is not None:
            continue
        with ledger.engine.begin() as conn:
            conn.execute(
                update(_ANCHORS)
                .where(_ANCHORS.c.root == root, _ANCHORS.c.state == AnchorState.ANCHORED)
                .values(state=AnchorState.PREPARED, tx_hash=None, block_number=None, anchored_at=None)
            )
        reopened = True
    return reopened


def _refuse_anchors_past_chain(ledger: Ledger, log: str, department: str, expected: int) -> None:
    """StateError naming a stored anchor, confirmed or in a state no anchorer moves on, that reaches entry
    ``expected`` or later, which the chain has not anchored (its ``nextSequence``, read again here, since another
    anchorer may have completed an anchor meanwhile). Anchoring "after" such a row, as the stored anchors alone say
    to, would leave every entry before it pending for good, and report none of them (an insider's row)."""
    chain = ledger.chain
    with ledger.engine.connect() as conn:
        beyond = conn.execute(
            select(_ANCHORS.c.root, _ANCHORS.c.first_seq, _ANCHORS.c.last_seq, _ANCHORS.c.state)
            .where(
                _ANCHORS.c.log == log,
                _ANCHORS.c.department_id == department,
                _ANCHORS.c.last_seq >= expected,
                _ANCHORS.c.state.not_in(AnchorState.OPEN),
            )
            .order_by(_ANCHORS.c.first_seq)
            .limit(1)
        ).first()
    if beyond is None:
        return  # another anchorer's open anchor: it completes it
    anchored_to = int(chain.call(chain.log.functions.nextSequence(department_id_bytes(department), log_id(log)))) - 1
    if _is_seq(beyond[2]) and beyond[2] <= anchored_to:
        return
    raise StateError(
        f"log {log!r} of {department!r}: the stored anchor {beyond[0]} ({beyond[3]}) claims entries "
        f"{beyond[1]}-{beyond[2]}, but the chain anchored this log only up to entry {anchored_to}: the database's "
        f"anchors were edited, and no later entry is anchored until that row is resolved - run `ledger replay "
        f"--department {department}` (check_log) to see what is altered"
    )


def anchor_pending(
    ledger: Ledger, log: str, department: str, *, max_batch: int = 10_000, accept_unmarked: bool = False
) -> list[str]:
    """Anchor every un-anchored entry of ``department``'s log ``log`` in batches of at most ``max_batch``.

    Completes anchors left open by a crash first. Returns the roots anchored by this call (0x hex). Only entries
    bearing the ledger's mark (:func:`entry_mark`) are signed: at the first without it, the entries before it are
    anchored and StateError names it. ``accept_unmarked``: entries with no mark at all (written before marks
    existed) are anchored too, once the operator has checked them; a mark that does not check never is, nor a missing
    one on an entry after the log's first marked entry (written after marks existed: an insider's).
    """
    _check_names(log, department)
    if not 1 <= max_batch <= 100_000:
        raise InputError(f"max_batch {max_batch} must be between 1 and 100000")
    chain = ledger.chain
    marks = _Marks(ledger, log, department, accept_unmarked)
    roots = _resume(ledger, log, department, marks)
    account = ledger.department_account(department)
    reopened = False
    while True:
        with ledger.engine.connect() as conn:
            # the pending entries: those after the last stored anchor's range (an open one was completed above);
            # both reads walk an index from where they start, whatever the length of the log
            after = conn.execute(
                select(_ANCHORS.c.last_seq)
                .where(_ANCHORS.c.log == log, _ANCHORS.c.department_id == department)
                .order_by(_ANCHORS.c.first_seq.desc())
                .limit(1)
            ).scalar()
            rows = conn.execute(
                select(_ENTRIES.c.seq, _ENTRIES.c.entry_hash, _ENTRIES.c.mark)
                .where(_ENTRIES.c.log == log, _ENTRIES.c.department_id == department, _ENTRIES.c.seq > (after or 0))
                .order_by(_ENTRIES.c.seq)
                .limit(max_batch)
            ).all()
        expected = int(chain.call(chain.log.functions.nextSequence(department_id_bytes(department), log_id(log))))
        if after is not None and not _is_seq(after):
            raise StateError(
                f"log {log!r} of {department!r}: the stored anchors' last range ends at {str(after)[:40]!r}, which is "
                "no sequence number: the database's anchors were edited - run `ledger replay --department "
                f"{department}` (check_log) to see what is altered"
            )
        if after is not None and after >= expected:
            if not reopened and _reopen_vanished(ledger, log, department, expected):
                reopened = True  # (once: what it reopened is sent again, or refused, by _resume)
                roots.extend(_resume(ledger, log, department, marks))
                continue
            _refuse_anchors_past_chain(ledger, log, department, expected)
        if not rows:
            return roots
        first = int(rows[0][0])
        if first != expected:
            raise StateError(
                f"log {log!r} of {department!r}: the chain expects sequence {expected} next, but the first "
                f"un-anchored entry in the database is {first}; the database and the chain disagree - run "
                f"`ledger replay --department {department}` (check_log) to see what is missing or altered"
            )
        batch: list[Any] = []
        for row in rows:  # stop at a gap: only a consecutive range can be anchored
            if int(row[0]) != first + len(batch):
                break
            why = marks.problem(row[0], row[1], row[2])
            if why is not None:  # the entries before it go; it and what follows are refused
                if not batch:
                    raise _refuse_unmarked(log, department, row[0], why)
                break
            batch.append(row)
        last = first + len(batch) - 1
        hashes = [bytes.fromhex(r[1][2:]) for r in batch]
        tree = MerkleTree(hashes)
        root = hex32(tree.root)
        signature = sign(
            account,
            log_message(
                chain.chain_id,
                chain.deployment.log,
                log_id(log),
                tree.root,
                first,
                last,
                department_id_bytes(department),
            ),
        )
        anchor = {
            "root": root,
            "log": log,
            "department_id": department,
            "first_seq": first,
            "last_seq": last,
            "head_hash": batch[-1][1],
            "signer": account.address,
            "signature": "0x" + signature.hex(),
            "state": AnchorState.PREPARED,
            "created_at": _utcnow(),
            "leaves": b"".join(hashes),  # each entry's proof is rebuilt from these (store.batch_proof)
            "nodes": chunk_nodes(tree),
        }
        try:
            with ledger.engine.begin() as conn:
                conn.execute(insert(_ANCHORS), [anchor])
        except IntegrityError:
            # Another anchorer prepared the very same range (the anchor's key exists), or one that overlaps it: it
            # read the same last anchor, so its range starts at the same entry (uq_loganchor_log_department_first_seq);
            # nothing of this preparation is kept, and that anchorer (or the next call) completes its own.
            roots.extend(_resume(ledger, log, department, marks))
            continue
        tx_hash = _send(ledger, log, department, anchor)
        if tx_hash is None:
            raise StateError(
                f"the chain refused log batch {first}-{last} of {department!r} ({log!r}); another "
                "writer anchored this range - run check_log"
            )
        if not _confirm(ledger, log, department, root, tx_hash):
            raise ChainError(f"log batch {root} was sent but is not anchored on chain; run anchor-logs again")
        roots.append(root)


# -- checking ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """One thing wrong with a log (or a decision in it). ``seq`` is None when the problem is not one entry's."""

    kind: str
    department: str
    seq: int | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "department": self.department, "seq": self.seq, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class ChainRange:
    """A range anchored on chain (from a LogBatchAnchored event)."""

    root: str
    first_seq: int
    last_seq: int
    head_hash: str
    signer: str
    block_number: int
    tx_hash: str


def chain_ranges(ledger: Ledger, log: str, department: str) -> list[ChainRange]:
    """Every range of ``department``'s log ``log`` anchored on chain, ordered by first sequence number. A code no
    department can have has none (:func:`check_log` reports its entries)."""
    chain = ledger.chain
    if not is_department_code(department):
        return []
    found = chainread.log_batches_anchored(chain, log_id=log_id(log), department_id=department_id_bytes(department))
    ranges = [
        ChainRange(
            root=e.root,
            first_seq=e.first_seq,
            last_seq=e.last_seq,
            head_hash=e.head_hash,
            signer=e.signer,
            block_number=e.block_number,
            tx_hash=e.tx_hash,
        )
        for e in found
    ]
    return sorted(ranges, key=lambda r: r.first_seq)


_ROW_COLUMNS = (
    _ENTRIES.c.seq,
    _ENTRIES.c.body,
    _ENTRIES.c.entry_hash,
    _ENTRIES.c.prev_hash,
    _ENTRIES.c.lookup,
)


def _stored_tree(conn: Connection, root: str) -> tuple[bytes, bytes]:
    """The leaves and run roots stored with the anchor ``root`` (empty when it has none)."""
    row = conn.execute(select(_ANCHORS.c.leaves, _ANCHORS.c.nodes).where(_ANCHORS.c.root == root)).first()
    return (stored_blob(row[0]), stored_blob(row[1])) if row is not None else (b"", b"")


class _RangeCheck:
    """Collects the entries of one anchored range and checks them against its root at once."""

    def __init__(self, rng: ChainRange) -> None:
        self.range = rng
        self.rows: list[tuple[int, str, _Span | None]] = []

    def add(self, seq: int, entry_hash: str, span: _Span | None) -> None:
        self.rows.append((seq, entry_hash, span))

    def touched(self, altered: set[int]) -> bool:
        """Whether any collected row is among ``altered`` (then it waits for the search for moved entries)."""
        return bool(altered) and any(r[0] in altered for r in self.rows)

    def finish(self, ledger: Ledger, department: str, altered: set[int], moved: set[int]) -> list[Discrepancy]:
        rng = self.range
        out: list[Discrepancy] = []
        complete = len(self.rows) == rng.last_seq - rng.first_seq + 1
        root = bytes.fromhex(rng.root[2:])
        tree: MerkleTree | None = None
        if complete:
            try:
                tree = MerkleTree([bytes.fromhex(r[1][2:]) for r in self.rows])
            except (ValueError, InputError):
                tree = None
        tree_ok = tree is not None and tree.root == root
        stored: dict[str, tuple[bytes, bytes]] = {}  # each stored anchor's leaves and run roots, read once
        intact: set[str] = set()
        for seq, entry_hash, span in self.rows:
            if seq in moved:
                continue
            if span is None:
                out.append(
                    Discrepancy(
                        "not_anchored",
                        department,
                        seq,
                        f"the chain anchored entries {rng.first_seq}-{rng.last_seq} under {rng.root} "
                        "but this entry has no anchor (batch root / proof missing in the database)",
                    )
                )
                continue
            if span.root != rng.root:
                out.append(
                    Discrepancy(
                        "not_anchored",
                        department,
                        seq,
                        f"entry names batch {span.root}, but the chain anchored its sequence number under {rng.root}",
                    )
                )
                continue
            leaf_index = seq - span.first_seq
            if leaf_index != seq - rng.first_seq:
                out.append(
                    Discrepancy(
                        "reordered",
                        department,
                        seq,
                        f"entry sits at leaf {leaf_index} of its batch, which is sequence number "
                        f"{rng.first_seq + leaf_index}, not {seq}",
                    )
                )
                continue
            if span.root not in stored:
                with ledger.engine.connect() as conn:
                    stored[span.root] = _stored_tree(conn, span.root)
                if tree_ok and stored[span.root] == (
                    b"".join(bytes.fromhex(r[1][2:]) for r in self.rows),
                    tree.run_roots(),  # type: ignore[union-attr]
                ):
                    intact.add(span.root)
            if span.root in intact:  # the stored tree is the anchored one: every proof rebuilt from it is the tree's
                continue
            proof = b"".join(batch_proof(*stored[span.root], leaf_index))
            if tree_ok:
                # every leaf is in the anchored tree; the proof rebuilt from the stored anchor must be the tree's
                if proof != b"".join(tree.proof(leaf_index)):  # type: ignore[union-attr]
                    out.append(
                        Discrepancy(
                            "proof_invalid",
                            department,
                            seq,
                            f"the stored inclusion proof does not lead to root {rng.root} (the entry itself is in "
                            "the anchored tree; the anchor's stored leaves or run roots were altered)",
                        )
                    )
                continue
            if not _proof_ok(entry_hash, proof, root) and seq not in altered:
                out.append(
                    Discrepancy(
                        "inserted",
                        department,
                        seq,
                        f"entry hash {entry_hash} is not in the tree anchored under {rng.root}: this "
                        "entry is not the one that was anchored",
                    )
                )
        return out


def _leaf_of(leaves: bytes, entry_hash: str) -> int | None:
    """The place of ``entry_hash`` among an anchor's stored ``leaves`` (None: not there)."""
    try:
        digest = bytes.fromhex(entry_hash[2:])
    except ValueError:
        return None
    at = leaves.find(digest) if len(digest) == 32 else -1
    while at >= 0 and at % 32:  # a match straddling two leaves is no leaf
        at = leaves.find(digest, at + 1)
    return at // 32 if at >= 0 else None


def _proof_ok(entry_hash: str, proof: bytes, root: bytes) -> bool:
    if len(proof) % 32:
        return False
    try:
        digest = bytes.fromhex(entry_hash[2:])
    except ValueError:
        return False
    return len(digest) == 32 and verify_proof(digest, [proof[i : i + 32] for i in range(0, len(proof), 32)], root)


def attested(ledger: Ledger, entry: Entry, ranges: dict[tuple[str, bytes], Any] | None = None) -> bool:
    """Whether the chain attests ``entry`` as anchored, not only the store's anchor row (the database's word, which
    an insider can write for an entry they rewrote before it was anchored): its stored body hashes to its entry
    hash, the proof rebuilt from its anchor's stored leaves and run roots leads from that hash to the anchor's root,
    and its department anchored that root in this log on chain (``BatchLog.logBatch``) with a range whose place
    for the entry is its leaf. One view call and one read of the anchor's tree per anchored entry, or per root with
    ``ranges`` (a memo the caller keeps for one answer: what the chain and the store say of a root, read once)."""
    if entry.state != EntryState.ANCHORED or not entry.batch_root or entry.leaf_index is None:
        return False
    try:
        if (
            compute_entry_hash(entry.log, entry.department_id, entry.seq, entry.prev_hash, entry.body)
            != entry.entry_hash
        ):
            return False
        root = bytes.fromhex(entry.batch_root.removeprefix("0x"))
    except (ValueError, TypeError):  # an edited column of another type (SQLite keeps any): no attestation
        return False
    if len(root) != 32:
        return False
    key = (entry.department_id, root)
    if ranges is None or key not in ranges:
        chain = ledger.chain
        found = chain.call(chain.log.functions.logBatch(department_id_bytes(entry.department_id), root))
        with ledger.engine.connect() as conn:
            leaves, nodes = _stored_tree(conn, entry.batch_root)
        if ranges is None:
            ranges = {}
        ranges[key] = (found, leaves, nodes)
    (department, log, first, last, _block, _time, signer, _head), leaves, nodes = ranges[key]
    if not (
        int(signer, 16) != 0
        and bytes(department) == department_id_bytes(entry.department_id)
        and bytes(log) == log_id(entry.log)
        and int(first) <= entry.seq <= int(last)
        and entry.seq - int(first) == entry.leaf_index
    ):
        return False
    return _proof_ok(entry.entry_hash, b"".join(batch_proof(leaves, nodes, entry.leaf_index)), root)


def check_log(
    ledger: Ledger,
    log: str,
    department: str,
    *,
    progress: Progress | None = None,
    ranges: list[ChainRange] | None = None,
    visit: Callable[[int, str, str, str | None], None] | None = None,
    spelling_compared: bool = False,
) -> list[Discrepancy]:
    """Every discrepancy between ``department``'s log ``log`` in the database, its hash chain and its anchors.

    ``ranges`` (from :func:`chain_ranges`) saves reading them again; ``visit(seq, body_text, stored_entry_hash,
    stored_lookup)`` is called for every entry in sequence order, so a caller (replay) needs no second pass over the
    log. ``spelling_compared``: the caller compares every body's spelling with its canonical JSON itself (replay's
    workers, which parse each decision anyway), so this check leaves it out (``body_invalid`` named once).
    """
    log_id(log)
    if not is_department_code(department):
        # stored past the ledger, which refuses such a code: nothing on chain can name it, so no anchor vouches for
        # these entries. Reported here, where it stopped every caller checking all departments (red team round 42)
        return [_invalid_department(ledger, log, department)]
    if ranges is None:
        ranges = chain_ranges(ledger, log, department)
    found: list[Discrepancy] = []
    roots = {r.root for r in ranges}
    for a, b in itertools.pairwise(ranges):
        if b.first_seq != a.last_seq + 1:  # the contract forbids it; a different contract or chain would not
            found.append(
                Discrepancy(
                    "missing",
                    department,
                    a.last_seq + 1,
                    f"the chain's anchored ranges jump from {a.last_seq} to {b.first_seq}",
                )
            )
    chain_last = ranges[-1].last_seq if ranges else 0
    with ledger.engine.connect() as conn:
        spans = _spans(conn, log, department)  # the stored anchors, without their leaves (read per range)
        total = int(
            conn.execute(
                select(func.count())
                .select_from(_ENTRIES)
                .where(_ENTRIES.c.log == log, _ENTRIES.c.department_id == department)
            ).scalar_one()
        )
    prefix = b',"department":' + canonical_json(department) + b',"log":' + canonical_json(log) + b',"prev":'
    indexed = log in _CERTIFICATE_KEYED  # the decisions' case keys are compared by replay, which parses every body
    timed = log in (LOG_ACCESS, LOG_DECISIONS, LOG_ERASURES)  # logs whose bodies state their instant
    decisions = log == LOG_DECISIONS
    # every body's spelling compared with its canonical JSON (red team rounds 51 and 52o), so every body is parsed
    spelt = not spelling_compared and log in (LOG_ACCESS, LOG_ERASURES, LOG_DECISIONS)
    sha = hashlib.sha256
    bad_rows: list[tuple[int, str, str, str, _Span | None]] = []  # rows whose hash does not verify
    altered: set[int] = set()
    range_index = 0
    current: _RangeCheck | None = None
    pending_checks: list[_RangeCheck] = []
    prev_seq, prev_hash = 0, ZERO_HASH
    twins: set[str] = set()  # the hashes of further rows at prev_seq
    done = 0
    with ledger.engine.connect() as conn:
        # with their stored time, for the logs whose bodies state one
        columns = (*_ROW_COLUMNS, _ENTRIES.c.created_at) if timed else _ROW_COLUMNS
        # rows at one number (only a dropped unique constraint lets a second in): the first written first
        result = conn.execution_options(yield_per=5_000).execute(
            select(*columns)
            .where(_ENTRIES.c.log == log, _ENTRIES.c.department_id == department)
            .order_by(_ENTRIES.c.seq, _ENTRIES.c.id)
        )
        for seq, body, entry_hash, row_prev, lookup, *stored_at in result:
            if seq < 1:  # no sequence number the ledger writes (models.UNREADABLE_SEQ: not even an integer)
                found.append(
                    Discrepancy(
                        "altered",
                        department,
                        None,
                        f"a row of the log holds no sequence number (entry hash {entry_hash[:66]!r}): the database's "
                        "entry was edited; restore the row from a backup (the chain's anchored range names its hash)",
                    )
                )
                continue
            if seq == prev_seq:  # a second row at one number: the unique constraint was dropped or bypassed
                found.append(
                    Discrepancy(
                        "inserted",
                        department,
                        seq,
                        f"a second row holds sequence number {seq} (entry hash {entry_hash[:66]}; the first row's: "
                        f"{prev_hash[:66]}): the database's unique constraint uq_logentry_log_department_seq was "
                        "dropped or bypassed; keep the row the chain's anchored tree holds (or, not anchored yet, the "
                        "one the next entry links to), delete the other and restore the constraint",
                    )
                )
                twins.add(entry_hash)  # the next entry may link to either: no broken link is made up
                continue
            span = spans.holding(seq)
            if visit is not None:
                visit(seq, body, entry_hash, lookup)
            # a decision's stated time read from its text in one pass when it can be (no parse for that)
            timely = decisions and _decision_time_agrees(body, stored_at[0])
            parsed = _parsed(body) if indexed or spelt or (timed and not timely) else None
            if indexed and not _index_agrees(parsed, lookup, log):
                found.append(
                    Discrepancy(
                        "index_altered",
                        department,
                        seq,
                        "the entry's stored lookup key is not the one its certificate gives: the database's "
                        + (
                            "index of reads was edited (the certificate's access listing would miss this entry)"
                            if log == LOG_ACCESS
                            else "index of erasures was edited (a supersession or an erasure run again of the "
                            "certificate would miss this entry); restore the row's lookup from a backup"
                        ),
                    )
                )
            raw = body.encode("utf-8")
            actual = (
                "0x"
                + sha(
                    ENTRY_PREFIX
                    + b'{"body":'
                    + raw
                    + prefix
                    + b'"'
                    + row_prev.encode("utf-8")
                    + b'","seq":'
                    + str(seq).encode("ascii")
                    + b"}"
                ).hexdigest()
            )
            if actual != entry_hash:
                altered.add(seq)
                bad_rows.append((seq, body, entry_hash, row_prev, span))
                parsed = None  # (the time and spelling of an edited body are no one's word: `altered` names it)
            if spelt and type(parsed) is dict and (problem := spelling_problem(raw, parsed)) is not None:
                # hashed as stored, read by everyone else as its canonical JSON (red team rounds 51 and 52o)
                found.append(Discrepancy("body_invalid", department, seq, problem))
            if parsed is not None and not timely:
                time_agrees, stated = _time_agrees(parsed, log, stored_at[0])
                if not time_agrees:
                    found.append(
                        Discrepancy(
                            "time_altered",
                            department,
                            seq,
                            f"the entry's stored time ({_stored_time(stored_at[0])}) is not the one its body states "
                            f"({stated}): the database's time of this entry was edited (a listing of a time window "
                            "would miss it or show it in another)",
                        )
                    )
            if seq != prev_seq + 1:
                found.append(
                    Discrepancy(
                        "missing",
                        department,
                        prev_seq + 1,
                        f"sequence numbers {prev_seq + 1}-{seq - 1} are missing (deleted entries)"
                        if seq - 1 > prev_seq + 1
                        else f"sequence number {prev_seq + 1} is missing (a deleted entry)",
                    )
                )
            elif row_prev != prev_hash and row_prev not in twins:
                found.append(
                    Discrepancy(
                        "broken_chain",
                        department,
                        seq,
                        f"prev_hash {row_prev} is not the hash {prev_hash} of entry {prev_seq}",
                    )
                )
            prev_seq, prev_hash = seq, entry_hash
            twins.clear()
            # anchors
            while range_index < len(ranges) and ranges[range_index].last_seq < seq:
                range_index += 1
            rng = ranges[range_index] if range_index < len(ranges) else None
            if rng is not None and rng.first_seq <= seq:
                if current is None or current.range is not rng:
                    if current is not None and not current.touched(altered):
                        # the walk is past that range and none of its rows failed its hash, so none can turn out
                        # moved: check it now and let its rows go (memory flat in the log's length)
                        found.extend(current.finish(ledger, department, altered, set()))
                        pending_checks.remove(current)
                    current = _RangeCheck(rng)
                    pending_checks.append(current)
                current.add(seq, entry_hash, span)
            elif seq > chain_last and span is not None:
                if span.root in roots:
                    found.append(
                        Discrepancy(
                            "inserted",
                            department,
                            seq,
                            f"entry claims anchored batch {span.root}, but the chain's anchored "
                            f"ranges end at {chain_last}",
                        )
                    )
                elif span.state == AnchorState.ANCHORED:
                    found.append(
                        Discrepancy(
                            "not_anchored",
                            department,
                            seq,
                            f"entry is marked anchored in batch {span.root}, which the chain does not know",
                        )
                    )
            done += 1
            if progress is not None and done % 5_000 == 0:
                progress(done, total)
    if prev_seq < chain_last:
        found.append(
            Discrepancy(
                "missing",
                department,
                prev_seq + 1,
                f"the chain anchored entries up to {chain_last}, the database ends at {prev_seq}",
            )
        )
    on_chain = {r.root: (r.first_seq, r.last_seq) for r in ranges}
    blocks = {r.root: r.block_number for r in ranges}
    for span in spans.spans:  # the block supervision reads without the chain's ranges (anchored_blocks)
        if span.state == AnchorState.ANCHORED and span.root in blocks and span.block_number != blocks[span.root]:
            found.append(
                Discrepancy(
                    "anchor_altered",
                    department,
                    span.first_seq,
                    f"the stored anchor {span.root} says the chain anchored it in block {span.block_number}, the "
                    f"chain did in block {blocks[span.root]}: the database's anchors were edited (the supervision's "
                    "readers of a decision's credit status and of announcements take the block from that row)",
                )
            )
    known = (AnchorState.PREPARED, AnchorState.SUBMITTED, AnchorState.ANCHORED)
    for span in spans.spans:
        if span.state not in known:  # only an edit writes another: the entries it holds read as not confirmed
            found.append(
                Discrepancy(
                    "anchor_altered",
                    department,
                    span.first_seq,
                    f"the stored anchor {span.root} (entries {span.first_seq}-{span.last_seq}) is in state "
                    f"{span.state[:40]!r}, which the ledger never writes (it writes {', '.join(known)}): the "
                    "database's anchors were edited (its entries read as not confirmed; restore the row's state "
                    "from a backup, or from the chain's range for its root)",
                )
            )
        elif span.root in on_chain and on_chain[span.root] != (span.first_seq, span.last_seq):
            first, last = on_chain[span.root]
            found.append(
                Discrepancy(
                    "anchor_altered",
                    department,
                    span.first_seq,
                    f"the stored anchor {span.root} claims entries {span.first_seq}-{span.last_seq}, the chain "
                    f"anchored entries {first}-{last} under that root: the database's anchors were edited (an "
                    "entry the row claims past the chain's range is not anchored; anchoring refuses until the row "
                    "is restored)",
                )
            )
    for root, first, last in spans.damaged:
        found.append(
            Discrepancy(
                "not_anchored",
                department,
                None,
                f"the stored anchor {root} claims entries {str(first)[:40]!r}-{str(last)[:40]!r}, which are no "
                "sequence numbers: the database's anchors were edited (the entries it held are read as unanchored)",
            )
        )
    for span in spans.spans:  # an anchor reaching past the log's last entry holds nothing the walk could report
        holds_none = span.last_seq > prev_seq or span.last_seq < span.first_seq  # past the log, or backwards
        if holds_none and on_chain.get(span.root) != (span.first_seq, span.last_seq):
            found.append(
                Discrepancy(
                    "not_anchored",
                    department,
                    max(span.first_seq, prev_seq + 1) if span.last_seq >= span.first_seq else span.first_seq,
                    f"a stored anchor ({span.state}) claims entries {span.first_seq}-{span.last_seq} under "
                    f"{span.root}, a range holding none of the log's entries (its last is {prev_seq}), and the "
                    "chain anchored no such range: "
                    "the database's anchors were edited (anchoring stops at such a row, and a row past entries "
                    "not yet anchored would have kept them from anchoring unreported)",
                )
            )
    found.extend(_unmarked_pending(ledger, log, department, chain_last, altered))
    moved = _moved(ledger, log, department, bad_rows, ranges, found)
    for seq in altered - moved:
        found.append(
            Discrepancy(
                "altered", department, seq, "entry_hash does not match the stored body, prev_hash and sequence number"
            )
        )
    for check in pending_checks:
        found.extend(check.finish(ledger, department, altered, moved))
    if moved:  # a moved entry explains the broken links around it
        found = [
            d
            for d in found
            if not (d.kind == "broken_chain" and d.seq is not None and (d.seq in moved or d.seq - 1 in moved))
        ]
    if progress is not None:
        progress(done, total)
    found.sort(key=lambda d: (d.seq if d.seq is not None else -1, d.kind))
    return found


def _unmarked_pending(ledger: Ledger, log: str, department: str, after: int, altered: set[int]) -> list[Discrepancy]:
    """``unmarked`` for each entry past the chain's anchored ranges (``after``) whose mark is missing or is not the
    ledger's mark of its hash: written past the ledger (an insider's SQL), which anchoring will refuse. Told before
    the anchoring refuses it, by replay and reconcile. Checked only where the department's secret already exists and
    opens (this read creates none); an entry whose hash fails is ``altered`` already."""
    from .decisions import existing_department_secret

    try:
        secret = existing_department_secret(ledger, department)
    except LedgerError:  # no vault here (no passphrase), or a secret row that does not open: not judged here
        return []
    if secret is None:
        return []
    key = _keyed(_mark_key_of(secret))
    found = []
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(_ENTRIES.c.seq, _ENTRIES.c.entry_hash, _ENTRIES.c.mark)
            .where(_ENTRIES.c.log == log, _ENTRIES.c.department_id == department, _ENTRIES.c.seq > after)
            .order_by(_ENTRIES.c.seq)
        ).all()
    first_marked: int | None = None
    if any(mark is None for _seq, _hash, mark in rows):
        first_marked = _first_marked(ledger, log, department)
    for seq, entry_hash, mark in rows:
        if seq in altered:
            continue
        why = _mark_problem(key, seq, entry_hash, mark, False, first_marked)
        if why is not None:
            advice = (
                ", or - written before marks existed (migration 0019) - anchor it once checked with `ledger "
                "anchor-logs --accept-unmarked`"
                if why == _NO_MARK
                else ""
            )
            found.append(
                Discrepancy(
                    "unmarked",
                    department,
                    seq,
                    f"the entry, not anchored yet, was not written by this ledger ({why}): an entry added or edited "
                    "past the ledger (an insider's SQL?), which anchoring refuses with everything after it; remove "
                    f"or restore it{advice}",
                )
            )
    return found


_SEARCH_WINDOW = 64
_SEARCH_LIMIT = 1_000


def _moved(
    ledger: Ledger,
    log: str,
    department: str,
    bad_rows: list[tuple[int, str, str, str, _Span | None]],
    ranges: list[ChainRange],
    found: list[Discrepancy],
) -> set[int]:
    """Rows whose hash verifies at another sequence number: the entry was moved (reordered), not edited."""
    if not bad_rows:
        return set()
    first_of = {r.root: r.first_seq for r in ranges}
    leaves: dict[str, bytes] = {}  # the stored leaves of the anchors holding the rows: where each entry was
    with ledger.engine.connect() as conn:
        for *_, span in bad_rows:
            if span is not None and span.root in first_of and span.root not in leaves:
                leaves[span.root] = _stored_tree(conn, span.root)[0]
    by_hash: dict[str, int] = {}
    prevs = [r[3] for r in bad_rows]
    with ledger.engine.connect() as conn:
        for i in range(0, len(prevs), 500):
            for seq, entry_hash in conn.execute(
                select(_ENTRIES.c.seq, _ENTRIES.c.entry_hash).where(
                    _ENTRIES.c.log == log,
                    _ENTRIES.c.department_id == department,
                    _ENTRIES.c.entry_hash.in_(prevs[i : i + 500]),
                )
            ):
                by_hash[entry_hash] = int(seq)
    moved: set[int] = set()
    for seq, body, entry_hash, prev, span in bad_rows:
        candidates = []
        if span is not None and span.root in leaves:
            place = _leaf_of(leaves[span.root], entry_hash)
            if place is not None:
                candidates.append(first_of[span.root] + place)
        if prev == ZERO_HASH:
            candidates.append(1)
        elif prev in by_hash:
            candidates.append(by_hash[prev] + 1)
        if len(moved) < _SEARCH_LIMIT:  # an unanchored entry: look for it among nearby sequence numbers
            candidates.extend(s for d in range(1, _SEARCH_WINDOW + 1) for s in (seq - d, seq + d) if s > 0)
        for original in candidates:
            if original != seq and compute_entry_hash(log, department, original, prev, body) == entry_hash:
                moved.add(seq)
                found.append(
                    Discrepancy(
                        "reordered",
                        department,
                        seq,
                        f"this entry was recorded as sequence number {original} and now sits at "
                        f"{seq}: entries were swapped or moved",
                    )
                )
                break
    return moved
