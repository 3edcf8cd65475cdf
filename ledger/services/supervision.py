"""Supervision after approval: commitments, random inspections anyone can re-draw, withdrawals and the credit list.

Every supervision record is an entry of the department's anchored ``decisions`` log (``logchain.py``), so it is
hash-chained with the decisions it concerns, anchored in the same gap-free ranges, and an insider who deletes or edits
one is caught by replay's log checks (``missing``, ``altered``, ...). Records other than a withdrawal have the format
``pl-supervision/1`` and a ``kind``:

* ``inspector_list``     a registered list of inspectors (salted officer references) and its digest;
* ``inspection_announcement``  department, period, sample rate, inspector list, and a *future* target block;
* ``inspection_draw``    the sample drawn with the target block's hash, each case with its assigned inspector;
* ``inspection_finding`` an inspector's result for a drawn case: conforming or not, finding codes;
* ``commitment_check``   whether an applicant met what it committed to when approved on a commitment;
* ``credit_listing`` / ``credit_removal``  the department's credit list, applicants named only by salted references,
  each entry naming the officer who listed or removed (``officer_ref``, salted) and its basis.

A withdrawal is a ``pl-decision/2`` officer decision (outcome ``reject``) that overrides the approval and carries
``withdrawal``: the non-conforming finding it rests on and the legal-basis code.

The draw (``docs/decisions.md``, "Supervision") is deterministic: the population is the department's cases whose
latest decision before the announcement is an approval decided in the period; each case ranks by
``SHA-256("pl-inspection-draw\\0" || blockhash || case_id)``, the first ``ceil(rate * n)`` are inspected, and the
inspectors, ordered by ``SHA-256("pl-inspection-inspector\\0" || blockhash || officer_ref)``, are assigned in turn.
:func:`draw_sample` is that algorithm and nothing else, so anyone holding the log and the chain can re-draw.

Rules read the applicant's credit status from the ledger as of the decision's block (:func:`credit_statuses`): a
listing counts when its entry was anchored in that block or earlier, its period covers the decision's day, and no
removal anchored by then cancels it. The decision records what it found (``credit``) and replay re-establishes it.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlmodel import col

from ..errors import InputError, NotFoundError, StateError
from ..formats.canonical import canonical_json
from ..storage.models import aware, not_ahead
from . import logchain, permits
from .logchain import LOG_DECISIONS, ChainRange, LogEntry

if TYPE_CHECKING:
    from ..client import Ledger

__all__ = [
    "SUPERVISION_FORMAT",
    "Commitment",
    "CreditEntry",
    "Inspection",
    "ListingBasis",
    "Withdrawal",
    "announce_inspection",
    "assigned_cases",
    "commitments",
    "credit_entries",
    "credit_list",
    "credit_remove",
    "credit_statuses",
    "credited_applicant",
    "draw_inspection",
    "draw_sample",
    "due_commitments",
    "inspections",
    "next_period_start",
    "record_commitment_check",
    "record_finding",
    "register_inspectors",
    "summary",
    "with_credit",
    "withdraw_approval",
    "withdrawals",
]

SUPERVISION_FORMAT = "pl-supervision/1"
DRAW_PREFIX = b"pl-inspection-draw\x00"
INSPECTOR_PREFIX = b"pl-inspection-inspector\x00"
MIN_TARGET_DELAY = 2  # blocks: the announcement must be anchored before the target block exists
DEFAULT_TARGET_DELAY = 10  # blocks: room to anchor the announcement (and collect cosignatures) first
DRAW_GRACE_BLOCKS = 256  # an announcement not drawn this long after its target block is reported (draw_missing)
MAX_TARGET_DELAY = 256  # blocks: a target further off could never come due, keeping its period undrawn yet taken
_CREDIT_KINDS = '"kind":"credit_'  # how the canonical body of a listing or removal begins its kind
_CODE_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
# Who lists an applicant: a staff id (as erasure.py's who erases), never a name or a sentence; recorded salted, as an
# officer's decision records its officer.
_STAFF_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@\\-]{0,127}\Z")
_OFFICER_REF = re.compile(r"0x[0-9a-f]{64}\Z")  # an officer's salted reference as decisions.officer_ref writes it
_RATE_TEXT = re.compile(r"[0-9]+(?:\.[0-9]+)?")  # a sample rate (docs/decisions.md): decimal text, nothing else
MAX_RATE_CHARS = 24


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _time_text(value: datetime | None) -> str:
    value = value or _utcnow()
    if value.tzinfo is None:
        raise InputError("times must carry a time zone (UTC)")
    return aware(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")  # InputError outside the calendar


def _stated_time(value: datetime | None, name: str) -> str:
    """:func:`_time_text` of the instant a record states (``name``): the ledger stores and lists the record at that
    instant (gaps34), so one ahead of now is refused - it sat in a later window, and its age against the anchoring
    deadline came out negative (red team round 35)."""
    if value is not None and value.tzinfo is not None:
        not_ahead(aware(value), name, "a record states the moment it was made", _utcnow())
    return _time_text(value)


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _day(text: Any, what: str) -> str:
    if isinstance(text, date) and not isinstance(text, datetime):
        return text.isoformat()
    try:
        return date.fromisoformat(str(text)).isoformat()
    except ValueError:
        raise InputError(f"{what} {text!r} must be a date YYYY-MM-DD", field=what) from None


def _code(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 64 or not set(value) <= _CODE_CHARS:
        raise InputError(
            f"{what} {value!r} must be a code of capital letters, digits, '_', '-' or '.' (no free text: "
            "it is anchored; docs/decisions.md lists the codes)",
            field=what,
        )
    return value


def _ref(entry: Any) -> dict[str, Any]:
    return {"seq": int(entry.seq), "entry_hash": entry.entry_hash}


def is_supervision(body: Mapping[str, Any]) -> bool:
    return body.get("format") == SUPERVISION_FORMAT


# -- reading the log --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    seq: int
    entry_hash: str
    body: dict[str, Any]
    block: int | None  # the block that anchored it (None: not anchored)


def _log(
    ledger: Ledger,
    department: str,
    ranges: Sequence[ChainRange] | None = None,
    *,
    contains: str | None = None,
    after: int | None = None,
    upto: int | None = None,
    seqs: Sequence[int] | None = None,
    malformed: list[_Entry] | None = None,
) -> list[_Entry]:
    """Every readable entry of the department's decisions log (``contains``: only bodies holding that text; ``after``
    and ``upto``: only sequence numbers in (after, upto]; ``seqs``: only these sequence numbers) with its anchoring
    block: from the chain's ranges when given (replay), else from the database's anchor rows. An entry without the
    shape the ledger writes is left out; ``malformed`` (replay) collects it so that it is reported, not skipped."""
    if seqs is None:
        return _read_log(ledger, department, ranges, contains, after, upto, None, malformed)
    wanted = sorted(set(seqs))
    found: list[_Entry] = []
    for i in range(0, len(wanted), 900):  # bounded IN lists
        found.extend(_read_log(ledger, department, ranges, contains, after, upto, wanted[i : i + 900]))
    return found


def _read_log(
    ledger: Ledger,
    department: str,
    ranges: Sequence[ChainRange] | None,
    contains: str | None,
    after: int | None,
    upto: int | None,
    seqs: Sequence[int] | None,
    malformed: list[_Entry] | None = None,
) -> list[_Entry]:
    query = select(LogEntry.seq, LogEntry.entry_hash, LogEntry.body).where(  # type: ignore[call-overload]
        LogEntry.log == LOG_DECISIONS, LogEntry.department_id == department
    )
    if contains is not None:
        query = query.where(LogEntry.body.contains(contains))  # type: ignore[attr-defined]
    if after is not None:
        query = query.where(col(LogEntry.seq) > after)
    if upto is not None:
        query = query.where(col(LogEntry.seq) <= upto)
    if seqs is not None:
        if not seqs:
            return []
        query = query.where(col(LogEntry.seq).in_(seqs))
    with ledger.engine.connect() as conn:
        rows = conn.execute(query.order_by(LogEntry.seq)).all()
        # without the chain's ranges, the database's confirmed anchors say when each entry was anchored
        blocks = (
            logchain.anchored_blocks(conn, LOG_DECISIONS, department, [r[0] for r in rows]) if ranges is None else {}
        )
    ends = [r.last_seq for r in ranges] if ranges is not None else []
    found = []
    for seq, entry_hash, text in rows:
        block = blocks.get(seq)
        try:
            body = logchain.stored_loads(text)
        except ValueError:
            continue
        if not isinstance(body, dict):
            continue
        if ranges is not None:
            i = bisect.bisect_left(ends, seq)
            block = ranges[i].block_number if i < len(ranges) and ranges[i].first_seq <= seq else None
        entry = _Entry(int(seq), entry_hash, body, int(block) if block is not None else None)
        if _as_written(body):
            found.append(entry)
        elif malformed is not None:
            malformed.append(entry)
    return found


def _is_ref(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("seq"), int)
        and not isinstance(value.get("seq"), bool)
        and isinstance(value.get("entry_hash"), str)
    )


def _texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _draw_as_written(body: Mapping[str, Any]) -> bool:
    population, sample = body.get("population"), body.get("sample")
    return (
        _is_ref(body.get("announcement"))
        and isinstance(body.get("target_block"), int)
        and isinstance(body.get("block_hash"), str)
        and isinstance(population, dict)
        and isinstance(population.get("count"), int)
        and isinstance(sample, list)
        and all(
            isinstance(s, dict)
            and isinstance(s.get("case_id"), str)
            and isinstance(s.get("inspector_ref"), str)
            and _is_ref(s.get("decision"))
            for s in sample
        )
    )


# What each kind of record holds, with the types the ledger writes (the writers below). A record edited in the
# database into other types is left out of every supervision reader (replay reports the entry as altered), so an
# insider's edit of one row cannot crash the credit list, the summary, the report or replay.
_SHAPES: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "credit_listing": lambda b: (
        all(isinstance(b.get(k), str) for k in ("applicant_ref", "reason", "since", "until"))
        and (b.get("basis") is None or isinstance(b.get("basis"), dict))
        and (b.get("officer_ref") is None or isinstance(b.get("officer_ref"), str))
    ),
    "credit_removal": lambda b: (
        _is_ref(b.get("listing"))
        and (b.get("basis") is None or isinstance(b.get("basis"), dict))
        and (b.get("officer_ref") is None or isinstance(b.get("officer_ref"), str))
    ),
    "commitment_check": lambda b: (
        isinstance(b.get("case"), str) and _is_ref(b.get("decision")) and _texts(b.get("findings", []))
    ),
    "inspector_list": lambda b: isinstance(b.get("list_id"), str) and _texts(b.get("inspectors")),
    "inspection_announcement": lambda b: (
        isinstance(b.get("period"), dict)
        and isinstance(b.get("rate"), str)
        and _is_ref(b.get("inspectors"))
        and isinstance(b.get("target_block"), int)
    ),
    "inspection_draw": _draw_as_written,
    "inspection_finding": lambda b: (
        _is_ref(b.get("draw"))
        and isinstance(b.get("case"), str)
        and _is_ref(b.get("decision"))
        and _texts(b.get("findings", []))
    ),
}


def _as_written(body: Mapping[str, Any]) -> bool:
    """Whether ``body`` has the shape the ledger writes, as far as the supervision readers rely on it."""
    if is_supervision(body):
        shape = _SHAPES.get(str(body.get("kind")))
        return shape is None or shape(body)
    if body.get("overrides") is not None and not _is_ref(body.get("overrides")):
        return False
    if "reasons" in body and not _texts(body.get("reasons")):
        return False
    withdrawal = body.get("withdrawal")
    return withdrawal is None or (
        isinstance(withdrawal, dict) and _is_ref(withdrawal.get("finding")) and _is_ref(body.get("overrides"))
    )


def _append(
    ledger: Ledger, department: str, body: dict[str, Any], *, anchor: bool = True, guard: logchain.Guard | None = None
) -> _Entry:
    from .decisions import require_approver

    require_approver(ledger, department, "record supervision")
    entry = logchain.append(ledger, LOG_DECISIONS, department, body, guard=guard)
    block = None
    if anchor:
        logchain.anchor_pending(ledger, LOG_DECISIONS, department)
        with ledger.engine.connect() as conn:
            block = logchain.anchored_blocks(conn, LOG_DECISIONS, department, [entry.seq]).get(entry.seq)
    return _Entry(entry.seq, entry.entry_hash, body, block)


def _find(entries: Iterable[_Entry], kind: str, **match: Any) -> list[_Entry]:
    return [
        e
        for e in entries
        if is_supervision(e.body) and e.body.get("kind") == kind and all(e.body.get(k) == v for k, v in match.items())
    ]


def _is_decision(body: Mapping[str, Any]) -> bool:
    return body.get("format") == "pl-decision/2" and isinstance(body.get("case_id"), str)


def _entry_at(entries: Sequence[_Entry], ref: Any) -> _Entry | None:
    if not isinstance(ref, dict) or not isinstance(ref.get("seq"), int):
        return None
    i = bisect.bisect_left([e.seq for e in entries], ref["seq"])
    if i < len(entries) and entries[i].seq == ref["seq"] and entries[i].entry_hash == ref.get("entry_hash"):
        return entries[i]
    return None


# -- credit list ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreditEntry:
    """A credit-list listing of a department: the applicant by salted reference, reason, period, and its removal.

    ``removal`` (None while the listing stands) is what the removal recorded: ``{seq, reason, basis, officer_ref,
    officer_recorded, removed_at}``; a removal made before removals named their officer has ``officer_ref`` and
    ``basis`` None and ``officer_recorded`` false ("officer not recorded")."""

    department: str
    seq: int
    applicant_ref: str
    reason: str
    since: str
    until: str
    basis: dict[str, Any] | None
    listed_at: str
    anchored_block: int | None
    removed_by: int | None = None
    officer_ref: str | None = None  # who listed (salted); None for a listing made before round 15b
    removal: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ListingBasis:
    """What a manual credit listing rests on, as codes (the listing is anchored and kept for ever, so no free text):
    ``legal_basis``, the provision it applies (e.g. ``SOCIAL-CREDIT-REG-ART-12``), and optionally ``document``, the
    number of the department's decision document (e.g. ``MKT-CREDIT-2026-0042``)."""

    legal_basis: str
    document: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"legal_basis": self.legal_basis, "document": self.document}


def _listings(entries: Sequence[_Entry], department: str) -> list[CreditEntry]:
    removals = {
        e.body.get("listing", {}).get("seq"): e
        for e in _find(entries, "credit_removal")
        if isinstance(e.body.get("listing"), dict)
    }
    found = []
    for e in _find(entries, "credit_listing"):
        b = e.body
        removal = removals.get(e.seq)
        if removal is not None and removal.body["listing"].get("entry_hash") != e.entry_hash:
            removal = None
        found.append(
            CreditEntry(
                department,
                e.seq,
                str(b.get("applicant_ref")),
                str(b.get("reason")),
                str(b.get("since")),
                str(b.get("until")),
                b.get("basis"),
                str(b.get("listed_at")),
                e.block,
                removal.seq if removal is not None else None,
                b.get("officer_ref"),
                _removal_shown(removal) if removal is not None else None,
            )
        )
    return found


def _removal_shown(removal: _Entry) -> dict[str, Any]:
    """What a removal recorded, as the credit list shows it (:class:`CreditEntry`)."""
    b = removal.body
    who = b.get("officer_ref")
    return {
        "seq": removal.seq,
        "reason": b.get("reason"),
        "basis": b.get("basis"),
        "officer_ref": who,
        "officer_recorded": isinstance(who, str),
        "removed_at": b.get("removed_at"),
    }


def _status_from(
    entries: Sequence[_Entry], applicants: Iterable[str], block: int, decided_at: str
) -> dict[str, dict[str, Any]]:
    """Each applicant's credit status as of ``block`` on the day of ``decided_at`` (module docstring)."""
    day = decided_at[:10]
    removed = {
        e.body["listing"].get("entry_hash")
        for e in _find(entries, "credit_removal")
        if e.block is not None and e.block <= block and isinstance(e.body.get("listing"), dict)
    }
    by_ref: dict[str, list[int]] = defaultdict(list)
    for e in _find(entries, "credit_listing"):
        b = e.body
        if e.block is None or e.block > block or e.entry_hash in removed:
            continue
        if isinstance(b.get("since"), str) and isinstance(b.get("until"), str) and b["since"] <= day < b["until"]:
            by_ref[str(b.get("applicant_ref"))].append(e.seq)
    return {a: {"listed": bool(by_ref.get(a)), "listings": by_ref.get(a, []), "as_of_block": block} for a in applicants}


def credit_statuses(
    ledger: Ledger, department: str, applicants: Sequence[str], block: int, decided_at: str
) -> dict[str, dict[str, Any]]:
    """The credit status (``{"listed", "listings", "as_of_block"}``) of each salted applicant reference on
    ``department``'s credit list as of ``block``: what a decision records in ``credit`` and its rules read."""
    return _status_from(_log(ledger, department, contains=_CREDIT_KINDS), applicants, block, decided_at)


class CreditReader:
    """:func:`credit_statuses` for one run of decisions (``decisions.decide_many``, once per chunk), reading the log
    incrementally instead of scanning all of it each time (a scan per chunk made a run O(n²) in the log's length).

    Each read takes the log's current head, scans only the entries recorded after the previous read's head (the
    (log, department, seq) index bounds it) for credit listings and removals, and reads every credit entry found so
    far again by sequence number, with its anchoring block as the database has it now. The statuses are those a full
    scan would give at that moment: sequence numbers are taken under the log's head lock, so every entry up to a head
    read is committed (none can appear below it later); credit entries are the only entries the status reads, and
    they are read fresh each time (a listing anchored, re-anchored or deleted since is seen by the next read).
    Freshness bound: an entry recorded before a read that was *not* a credit entry then is not scanned again in this
    run. Only an insider editing a recorded decision into a listing could change that (replay reports the edit as
    ``altered``); the next run (a new reader) scans it.
    """

    def __init__(self, ledger: Ledger, department: str) -> None:
        self.ledger = ledger
        self.department = department
        self._scanned = 0  # every entry up to this sequence number was scanned
        self._known: list[int] = []  # sequence numbers of the credit entries found, ascending

    def entries(self) -> list[_Entry]:
        """The department's credit entries (listings and removals) as a full scan reads them now."""
        with self.ledger.engine.connect() as conn:
            head = conn.execute(
                select(func.max(col(LogEntry.seq))).where(
                    col(LogEntry.log) == LOG_DECISIONS, col(LogEntry.department_id) == self.department
                )
            ).scalar()
        head = int(head or 0)
        known = _log(self.ledger, self.department, contains=_CREDIT_KINDS, seqs=self._known) if self._known else []
        new = (
            _log(self.ledger, self.department, contains=_CREDIT_KINDS, after=self._scanned, upto=head)
            if head > self._scanned
            else []
        )
        self._scanned = max(self._scanned, head)
        found = known + new  # every new entry is past every known one
        self._known = [e.seq for e in found]
        return found

    def statuses(self, applicants: Sequence[str], block: int, decided_at: str) -> dict[str, dict[str, Any]]:
        """As :func:`credit_statuses`."""
        return _status_from(self.entries(), applicants, block, decided_at)


def with_credit(view: Mapping[str, Any], credit: Mapping[str, Any]) -> dict[str, Any]:
    """The rules' view of a decision input with the applicant's credit status taken from the ledger: whatever the
    application says about ``applicant.blacklisted`` is replaced."""
    return {**view, "applicant": credited_applicant(view.get("applicant"), credit)}


def credited_applicant(applicant: Any, credit: Mapping[str, Any]) -> dict[str, Any]:
    """The ``applicant`` member of :func:`with_credit`'s view: a copy of the input's ``applicant`` (none unless a
    mapping) whose ``blacklisted`` is the ledger's credit status."""
    applicant = dict(applicant) if isinstance(applicant, Mapping) else {}
    applicant["blacklisted"] = bool(credit.get("listed"))
    return applicant


def _staff_id(value: Any, what: str, act: str = "a credit listing names the officer who lists the applicant") -> str:
    if value is None:
        raise InputError(f"{act} ({what}: a staff id, recorded salted)", field=what)
    if not isinstance(value, str) or not _STAFF_ID.fullmatch(value):
        raise InputError(
            f"{what} {str(value)[:40]!r} must be a staff id: 1-128 letters, digits, '.', '_', '@', '-' or '\\', "
            "starting with a letter or digit (no spaces, no name or sentence: who acted is kept for ever)",
            field=what,
        )
    return value


def _listing_basis(basis: Any, of: str = "listing") -> dict[str, Any]:
    """A manual listing's (or a removal's: ``of``) basis (a :class:`ListingBasis` or a mapping of its two members) as
    recorded, or InputError naming the member that is wrong."""
    if isinstance(basis, ListingBasis):
        basis = basis.to_json()
    if not isinstance(basis, Mapping):
        raise InputError(
            f"a credit {of}'s basis must be ListingBasis(legal_basis=CODE, document=CODE or None), or a mapping of "
            f"those members, not {type(basis).__name__}: give the legal-basis code the {of} applies",
            field="basis",
        )
    extra = [str(k) for k in basis if k not in ("legal_basis", "document")]
    if extra:
        raise InputError(
            f"a credit {of}'s basis holds {extra[0]!r}, which it does not have: only legal_basis and document, "
            f"both codes (the {of} is anchored and kept for ever; no free text goes in it)",
            field=f"basis.{extra[0]}",
        )
    document = basis.get("document")
    return {
        "legal_basis": _code(basis.get("legal_basis"), "basis.legal_basis"),
        "document": None if document is None else _code(document, "basis.document"),
    }


def credit_list(
    ledger: Ledger,
    department: str,
    *,
    applicant: str | None = None,
    applicant_ref: str | None = None,
    reason: str,
    since: date | str,
    until: date | str,
    officer: str | None = None,
    basis: ListingBasis | Mapping[str, Any] | None = None,
    listed_at: datetime | None = None,
) -> CreditEntry:
    """Put an applicant (identity ``applicant``, recorded salted, or an already salted ``applicant_ref``) on
    ``department``'s credit list for [since, until) with a reason code; anchored at once. ``officer`` (a staff id,
    recorded salted) lists them and ``basis`` says on what (:class:`ListingBasis`): both required, InputError naming
    the field otherwise. (A withdrawal's listing rests on the withdrawal: :func:`withdraw_approval` makes it.)"""
    from .decisions import officer_ref

    who = _staff_id(officer, "officer")
    if basis is None:
        raise InputError(
            "a credit listing names its basis: basis=ListingBasis(legal_basis=CODE[, document=CODE]) "
            "(`--legal-basis CODE [--document CODE]`)",
            field="basis",
        )
    grounds = _listing_basis(basis)
    return _credit_listing(
        ledger,
        department,
        applicant=applicant,
        applicant_ref=applicant_ref,
        reason=reason,
        since=since,
        until=until,
        basis=grounds,
        listed_at=listed_at,
        officer_ref=officer_ref(ledger, department, who),
    )


def _credit_listing(
    ledger: Ledger,
    department: str,
    *,
    applicant: str | None,
    applicant_ref: str | None,
    reason: str,
    since: date | str,
    until: date | str,
    basis: dict[str, Any],
    listed_at: datetime | None,
    officer_ref: str,
) -> CreditEntry:
    """Record a credit listing whose basis was checked, by the officer whose salted reference is ``officer_ref``."""
    from .decisions import applicant_identity, applicant_reference

    if (applicant is None) == (applicant_ref is None):
        raise InputError("give the applicant's identity or its salted reference, not both", field="applicant")
    ref = (
        applicant_reference(ledger, department, applicant_identity(applicant, "applicant"))
        if applicant is not None
        else applicant_ref
    )
    if not isinstance(ref, str) or len(ref) != 66 or not ref.startswith("0x"):
        raise InputError(
            f"applicant reference {ref!r} is not a salted reference (0x + 64 hex digits)", field="applicant_ref"
        )
    start, end = _day(since, "since"), _day(until, "until")
    if end <= start:
        raise InputError(f"the listing period {start} .. {end} is empty: until must be after since", field="until")
    body: dict[str, Any] = {
        "format": SUPERVISION_FORMAT,
        "kind": "credit_listing",
        "applicant_ref": ref,
        "reason": _code(reason, "reason"),
        "since": start,
        "until": end,
        "basis": basis,
        "officer_ref": officer_ref,
        "listed_at": _stated_time(listed_at, "listed_at"),
    }
    entry = _append(ledger, department, body)
    return CreditEntry(
        department,
        entry.seq,
        ref,
        body["reason"],
        start,
        end,
        body["basis"],
        body["listed_at"],
        entry.block,
        officer_ref=officer_ref,
    )


def credit_remove(
    ledger: Ledger,
    department: str,
    listing_seq: int,
    *,
    reason: str,
    officer: str | None = None,
    basis: ListingBasis | Mapping[str, Any] | None = None,
    removed_at: datetime | None = None,
) -> int:
    """Remove listing ``listing_seq`` from the credit list (an anchored removal naming it); returns its seq.
    ``officer`` (a staff id, recorded salted as a listing's officer is) removes it and ``basis`` says on what
    (:class:`ListingBasis`: the legal-basis code, optionally the decision document's code): both required, and
    checked before anything is read or recorded (InputError naming the field)."""
    from .decisions import officer_ref

    who = _staff_id(officer, "officer", "a credit removal names the officer who lifts the listing")
    if basis is None:
        raise InputError(
            "a credit removal names its basis: basis=ListingBasis(legal_basis=CODE[, document=CODE]) "
            "(`--legal-basis CODE [--document CODE]`)",
            field="basis",
        )
    grounds = _listing_basis(basis, "removal")
    code = _code(reason, "reason")
    at = _stated_time(removed_at, "removed_at")
    entries = _log(ledger, department)
    target = next((e for e in _find(entries, "credit_listing") if e.seq == listing_seq), None)
    if target is None:
        raise NotFoundError(
            f"{department} has no credit listing number {listing_seq} (`ledger supervision credit list` shows them)"
        )
    if any(e.body["listing"].get("seq") == listing_seq for e in _find(entries, "credit_removal")):
        raise StateError(f"credit listing {listing_seq} of {department} was already removed")
    body: dict[str, Any] = {
        "format": SUPERVISION_FORMAT,
        "kind": "credit_removal",
        "listing": _ref(target),
        "reason": code,
        "basis": grounds,
        "officer_ref": officer_ref(ledger, department, who),
        "removed_at": at,
    }
    return _append(ledger, department, body).seq


def credit_entries(
    ledger: Ledger, department: str, *, since: str | None = None, until: str | None = None
) -> list[CreditEntry]:
    """The department's credit listings (with their removal, if any) listed in [since, until) (ISO times)."""
    found = _listings(_log(ledger, department), department)
    return [c for c in found if (since is None or c.listed_at >= since) and (until is None or c.listed_at < until)]


# -- commitments ------------------------------------------------------------------------------------------------


def commitment_of(rule_set: Any, outcome: str, fired: Sequence[str], decided_at: str) -> dict[str, Any] | None:
    """The commitment an approval rests on: that of the first fired approve rule carrying one (``commitment:``
    in the rule set), with its deadline counted from the decision's day; None when the approval needs none."""
    if outcome != "approve":
        return None
    for rule in rule_set.rules:
        spec = getattr(rule, "commitment", None)
        if spec and rule.outcome == "approve" and rule.rule_id in fired:
            day = date.fromisoformat(decided_at[:10])
            try:
                deadline = day + timedelta(days=int(spec["within_days"]))
            except OverflowError:  # past year 9999 (a record's decided_at at the calendar's end): its last day
                deadline = date.max
            return {
                "promise": spec["promise"],
                "check": spec["check"],
                "deadline": deadline.isoformat(),
                "rule": rule.rule_id,
            }
    return None


@dataclass(frozen=True)
class Commitment:
    """An approval given on a commitment: what was promised, the check it faces, its deadline, and its state:
    ``met`` / ``broken`` (a check was recorded), ``overdue`` (deadline passed, unchecked), ``due`` (unchecked)."""

    department: str
    case_id: str
    seq: int
    applicant_ref: str
    promise: str
    check: str
    deadline: str
    status: str
    checked_seq: int | None
    decided_at: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _commitments(entries: Sequence[_Entry], department: str, today: str) -> list[Commitment]:
    checks = {}
    for e in _find(entries, "commitment_check"):
        target = e.body.get("decision")
        if isinstance(target, dict):
            checks[(target.get("seq"), target.get("entry_hash"))] = e
    found = []
    for e in entries:
        c = e.body.get("commitment")
        if not _is_decision(e.body) or not isinstance(c, dict):
            continue
        check = checks.get((e.seq, e.entry_hash))
        status = (
            ("met" if check.body.get("met") else "broken")
            if check is not None
            else ("overdue" if str(c.get("deadline")) < today else "due")
        )
        found.append(
            Commitment(
                department,
                e.body["case_id"],
                e.seq,
                str(e.body.get("applicant_ref")),
                str(c.get("promise")),
                str(c.get("check")),
                str(c.get("deadline")),
                status,
                check.seq if check is not None else None,
                str(e.body.get("decided_at")),
            )
        )
    return found


def commitments(
    ledger: Ledger, department: str, *, since: str | None = None, until: str | None = None, today: date | None = None
) -> list[Commitment]:
    """The department's approvals on a commitment decided in [since, until) (ISO times), each with its state."""
    day = (today or _utcnow().date()).isoformat()
    return [
        c
        for c in _commitments(_log(ledger, department), department, day)
        if (since is None or c.decided_at >= since) and (until is None or c.decided_at < until)
    ]


def due_commitments(
    ledger: Ledger, department: str, *, within_days: int = 30, today: date | None = None
) -> list[Commitment]:
    """Unchecked commitments whose deadline has passed (overdue) or falls within ``within_days`` (due; a window
    reaching past the calendar: every one)."""
    if not isinstance(within_days, int) or isinstance(within_days, bool) or within_days < 0:
        raise InputError(f"the window {within_days!r} must be a whole number of days, 0 or more", field="within")
    day = today or _utcnow().date()
    try:
        horizon = (day + timedelta(days=within_days)).isoformat()
    except OverflowError:  # past year 9999 (or past what a timedelta holds): every deadline is within it
        horizon = date.max.isoformat()
    return sorted(
        (
            c
            for c in commitments(ledger, department, today=day)
            if c.status in ("due", "overdue") and c.deadline <= horizon
        ),
        key=lambda c: (c.deadline, c.seq),
    )


def record_commitment_check(
    ledger: Ledger,
    department: str,
    case_id: str,
    *,
    met: bool,
    officer: str,
    findings: Sequence[str] = (),
    checked_at: datetime | None = None,
) -> int:
    """Record whether the applicant of ``case_id`` met its commitment (anchored); returns the entry's seq."""
    from .decisions import officer_ref

    entries = _log(ledger, department)
    target = next(
        (
            e
            for e in reversed(entries)
            if _is_decision(e.body) and e.body["case_id"] == case_id and isinstance(e.body.get("commitment"), dict)
        ),
        None,
    )
    if target is None:
        raise NotFoundError(f"{department} has no approval on a commitment for case {case_id!r}")
    if _find(entries, "commitment_check", decision=_ref(target)):
        raise StateError(f"the commitment of case {case_id!r} was already checked")
    body = {
        "format": SUPERVISION_FORMAT,
        "kind": "commitment_check",
        "case": case_id,
        "decision": _ref(target),
        "check": target.body["commitment"].get("check"),
        "met": bool(met),
        "findings": [_code(f, "finding") for f in findings],
        "officer_ref": officer_ref(ledger, department, officer),
        "checked_at": _stated_time(checked_at, "checked_at"),
    }
    return _append(ledger, department, body).seq


# -- inspections ------------------------------------------------------------------------------------------------


def _list_digest(refs: Sequence[str]) -> str:
    return "0x" + hashlib.sha256(canonical_json(sorted(refs))).hexdigest()


def register_inspectors(ledger: Ledger, department: str, list_id: str, inspectors: Sequence[str]) -> dict[str, Any]:
    """Register (anchor) a list of inspectors, recorded as salted officer references; returns its reference."""
    from .decisions import officer_ref

    _code(list_id.upper(), "list_id")
    if isinstance(inspectors, str) or not inspectors or len(set(inspectors)) != len(inspectors):
        raise InputError("inspectors must be a non-empty list of distinct officer ids", field="inspectors")
    refs = sorted(officer_ref(ledger, department, i) for i in inspectors)
    body = {
        "format": SUPERVISION_FORMAT,
        "kind": "inspector_list",
        "list_id": list_id,
        "inspectors": refs,
        "digest": _list_digest(refs),
    }
    entry = _append(ledger, department, body)
    return {
        "list_id": list_id,
        "seq": entry.seq,
        "entry_hash": entry.entry_hash,
        "digest": body["digest"],
        "inspectors": len(refs),
    }


def _rate(value: Any) -> Fraction:
    """A sample rate: decimal text (``0.05``), above 0 and at most 1. Nothing else is read: ``Fraction`` takes
    ``1e-100000000`` (16 characters) for a number of a hundred million digits, hours of work for the announcement
    and again for every draw and replay that reads it."""
    text = str(value)
    if len(text) > MAX_RATE_CHARS or not _RATE_TEXT.fullmatch(text):
        raise InputError(
            f"sample rate {text[:40]!r} must be a decimal number such as 0.05, at most {MAX_RATE_CHARS} characters "
            "(no exponent)",
            field="rate",
        )
    rate = Fraction(text)
    if not 0 < rate <= 1:
        raise InputError(f"sample rate {value!r} must be above 0 and at most 1", field="rate")
    return rate


def announce_inspection(
    ledger: Ledger,
    department: str,
    *,
    since: datetime,
    until: datetime,
    rate: str | float,
    inspectors: str,
    target_block: int | None = None,
    delay: int = DEFAULT_TARGET_DELAY,
    announced_at: datetime | None = None,
) -> dict[str, Any]:
    """Anchor the announcement of a random inspection of ``department``'s approvals decided in [since, until): the
    sample rate, the registered inspector list (its ``list_id``) and the future block whose hash will draw it.

    The announcement is anchored at once; StateError if it was not anchored before the target block (announce
    again with a later target)."""
    entries = _log(ledger, department)
    lists = _find(entries, "inspector_list", list_id=inspectors)
    if not lists:
        raise NotFoundError(
            f"{department} has no registered inspector list {inspectors!r}; register one first "
            "(`ledger inspect inspectors`)"
        )
    start, end = _time_text(since), _time_text(until)
    if end <= start:
        raise InputError("the inspected period is empty: until must be after since", field="until")
    head = ledger.chain.block_number()
    target = head + delay if target_block is None else int(target_block)
    if target < head + MIN_TARGET_DELAY:
        raise InputError(
            f"target block {target} is too close: the chain is at block {head}, and the announcement "
            f"must be anchored before the target block exists (use {head + DEFAULT_TARGET_DELAY} or "
            "later)",
            field="target_block",
        )
    if target > head + MAX_TARGET_DELAY:
        raise InputError(
            f"target block {target} is too far: the chain is at block {head}; choose at most "
            f"{head + MAX_TARGET_DELAY} so the draw comes due (and is missed visibly if not made)",
            field="target_block",
        )
    rate_text = str(rate)
    _rate(rate_text)
    wanted = (_parse_time(start), _parse_time(end))
    frontier = _frontier(ledger, entries)
    for earlier in _find(entries, "inspection_announcement"):
        covered = _coverage(ledger, earlier)
        if covered is not None and _overlaps(wanted, covered):  # type: ignore[arg-type]
            raise StateError(
                f"the period {start} .. {end} overlaps announcement #{earlier.seq}, which inspected "
                f"{_time_text(covered[0])} .. {_time_text(covered[1])}: a period is drawn once (no "
                "second chance at a sample); announce a period starting at "
                f"{_time_text(frontier[1]) if frontier else _time_text(covered[1])}"
            )
    if frontier is not None and wanted[0] > frontier[1]:  # type: ignore[operator]
        raise StateError(
            f"the period {start} .. {end} leaves a gap after announcement #{frontier[0]}, which "
            f"inspected up to {_time_text(frontier[1])}: approvals decided in {_time_text(frontier[1])} "
            f".. {start} would be in no draw; announce a period starting at {_time_text(frontier[1])} "
            "(announcements are contiguous, docs/decisions.md)"
        )
    listing = lists[-1]
    body = {
        "format": SUPERVISION_FORMAT,
        "kind": "inspection_announcement",
        "period": {"since": start, "until": end},
        "rate": rate_text,
        "inspectors": {**_ref(listing), "list_id": inspectors, "digest": listing.body.get("digest")},
        "target_block": target,
        "announced_at": _stated_time(announced_at, "announced_at"),
    }
    entry = _append(ledger, department, body)
    if entry.block is None or entry.block >= target:
        raise StateError(
            f"the announcement (#{entry.seq}) was anchored in block {entry.block}, not before its target "
            f"block {target}: it cannot be drawn; announce again with a later target block"
        )
    return {
        "seq": entry.seq,
        "entry_hash": entry.entry_hash,
        "target_block": target,
        "anchored_block": entry.block,
        **body,
    }


def _block_time(ledger: Ledger, number: int) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(ledger.chain.w3.eth.get_block(number)["timestamp"]), UTC)
    except Exception:  # noqa: BLE001 - a block this chain does not have
        return None


def _coverage(ledger: Ledger, announcement: _Entry) -> tuple[datetime, datetime] | None:
    """The stretch of decision times an announcement really inspects: its period, cut at the announcement (approvals
    recorded after it are not in its population), by the chain's time of its anchoring block when anchored."""
    period = announcement.body.get("period") or {}
    since, until = _parse_time(period.get("since")), _parse_time(period.get("until"))
    if since is None or until is None:
        return None
    cut = _block_time(ledger, announcement.block) if announcement.block is not None else None
    cut = cut or _parse_time(announcement.body.get("announced_at"))
    return since, min(until, cut) if cut is not None else until


def _frontier(ledger: Ledger, entries: Sequence[_Entry]) -> tuple[int, datetime] | None:
    """Where the department's inspected stretch ends: the latest end of any announcement's coverage, with the
    announcement that reached it; None before the first announcement."""
    ends = [
        (span[1], a.seq)
        for a in _find(entries, "inspection_announcement")
        if (span := _coverage(ledger, a)) is not None
    ]
    if not ends:
        return None
    end, seq = max(ends)
    return seq, end


def next_period_start(ledger: Ledger, department: str) -> datetime | None:
    """Where ``department``'s next inspection period must start: the end of what its announcements have inspected so
    far (an announcement's ``until``, or the chain time of the block that anchored it when that came first). None
    before its first announcement, which may start anywhere."""
    frontier = _frontier(ledger, _log(ledger, department))
    return None if frontier is None else frontier[1]


def _overlaps(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _dodged(entries: Sequence[_Entry], announcement: _Entry) -> list[str]:
    """Cases approved in the announced period, taken out of force just before the announcement (so not in its
    population) and approved again after it: how a department hides an approval from a draw."""
    period = announcement.body.get("period") or {}
    since, until = _parse_time(period.get("since")), _parse_time(period.get("until"))
    if since is None or until is None:
        return []
    history: dict[str, list[_Entry]] = defaultdict(list)
    for e in entries:
        if _is_decision(e.body):
            history[e.body["case_id"]].append(e)
    found = []
    for case, decided in history.items():
        before = [e for e in decided if e.seq < announcement.seq]
        after = [e for e in decided if e.seq > announcement.seq]
        in_period = [
            e
            for e in before
            if e.body.get("outcome") == "approve"
            and (at := _parse_time(e.body.get("decided_at"))) is not None
            and since <= at < until
        ]
        if (
            in_period
            and before[-1].body.get("outcome") != "approve"
            and any(e.body.get("outcome") == "approve" for e in after)
        ):
            found.append(case)
    return sorted(found)


def _population(entries: Sequence[_Entry], announcement: _Entry) -> list[tuple[str, _Entry]]:
    """The cases an announcement draws from: each case's latest decision recorded before the announcement, when it
    is an approval decided in the announced period; sorted by case id."""
    period = announcement.body.get("period") or {}
    since, until = _parse_time(period.get("since")), _parse_time(period.get("until"))
    latest: dict[str, _Entry] = {}
    for e in entries:
        if e.seq >= announcement.seq:
            break
        if _is_decision(e.body):
            latest[e.body["case_id"]] = e
    found = []
    for case, e in latest.items():
        at = _parse_time(e.body.get("decided_at"))
        if (
            e.body.get("outcome") == "approve"
            and at is not None
            and since is not None
            and until is not None
            and since <= at < until
        ):
            found.append((case, e))
    return sorted(found, key=lambda p: p[0])


def draw_sample(block_hash: str, cases: Sequence[str], rate: str, inspectors: Sequence[str]) -> list[dict[str, str]]:
    """The documented draw: rank ``cases`` by SHA-256(prefix || blockhash || case id), keep the first
    ceil(rate * n), and assign ``inspectors`` (ranked by SHA-256(prefix || blockhash || officer ref)) in turn."""
    seed = bytes.fromhex(block_hash[2:])
    if len(seed) != 32:
        raise InputError(f"block hash {block_hash!r} is not 32 bytes")
    if not inspectors:
        raise InputError("the inspector list is empty")
    ranked = sorted(set(cases), key=lambda c: hashlib.sha256(DRAW_PREFIX + seed + c.encode("utf-8")).digest())
    count = math.ceil(_rate(rate) * len(ranked))
    order = sorted(inspectors, key=lambda r: hashlib.sha256(INSPECTOR_PREFIX + seed + r.encode("ascii")).digest())
    return [{"case_id": case, "inspector_ref": order[i % len(order)]} for i, case in enumerate(ranked[:count])]


def _population_digest(population: Sequence[tuple[str, _Entry]]) -> str:
    return "0x" + hashlib.sha256(canonical_json([[c, e.seq, e.entry_hash] for c, e in population])).hexdigest()


def _expected_draw(entries: Sequence[_Entry], announcement: _Entry, block_hash: str) -> dict[str, Any]:
    listing = _entry_at(entries, announcement.body.get("inspectors"))
    refs = listing.body.get("inspectors") if listing is not None else None
    if not isinstance(refs, list) or not refs:
        raise InputError("the announcement's inspector list is missing or empty")
    population = _population(entries, announcement)
    decisions = dict(population)
    sample = draw_sample(block_hash, [c for c, _ in population], str(announcement.body.get("rate")), refs)
    return {
        "population": {"count": len(population), "digest": _population_digest(population)},
        "sample": [{**s, "decision": _ref(decisions[s["case_id"]])} for s in sample],
    }


def _block_hash(ledger: Ledger, number: int) -> str | None:
    try:
        block = ledger.chain.w3.eth.get_block(number)
    except Exception:  # noqa: BLE001 - a block this chain does not have
        return None
    return "0x" + bytes(block["hash"]).hex()


def draw_inspection(
    ledger: Ledger, department: str, announcement_seq: int, drawn_at: datetime | None = None
) -> dict[str, Any]:
    """Draw announcement ``announcement_seq``'s sample with its target block's hash and anchor the draw.

    StateError before the target block is mined (the hash does not exist yet) or if the announcement was already
    drawn: one draw per announcement, so a department cannot re-draw until it likes the sample."""
    entries = _log(ledger, department)
    announcement = next((e for e in _find(entries, "inspection_announcement") if e.seq == announcement_seq), None)
    if announcement is None:
        raise NotFoundError(f"{department} has no inspection announcement number {announcement_seq}")
    if _find(entries, "inspection_draw", announcement=_ref(announcement)):
        raise StateError(
            f"announcement {announcement_seq} of {department} was already drawn; a draw cannot be "
            "repeated (announce a new inspection instead)"
        )
    target = int(announcement.body["target_block"])
    if announcement.block is None or announcement.block >= target:
        raise StateError(
            f"announcement {announcement_seq} was not anchored before its target block {target}: it "
            "cannot be drawn; announce again"
        )
    head = ledger.chain.block_number()
    if head < target:
        raise StateError(
            f"target block {target} is not mined yet (the chain is at block {head}): draw after it "
            f"(about {target - head} block(s))"
        )
    block_hash = _block_hash(ledger, target)
    if block_hash is None:
        raise StateError(f"the chain does not return block {target}")
    body = {
        "format": SUPERVISION_FORMAT,
        "kind": "inspection_draw",
        "announcement": _ref(announcement),
        "target_block": target,
        "block_hash": block_hash,
        **_expected_draw(entries, announcement, block_hash),
        "drawn_at_block": head,
        "drawn_at": _stated_time(drawn_at, "drawn_at"),
    }
    entry = _append(ledger, department, body)
    return {"seq": entry.seq, "entry_hash": entry.entry_hash, **body}


def assigned_cases(ledger: Ledger, department: str, draw_seq: int, inspector: str) -> list[str]:
    """The cases draw ``draw_seq`` assigned to ``inspector`` (an inspector knows only their own id; the draw names
    them by salted reference)."""
    from .decisions import officer_ref

    draw = next(
        (
            e
            for e in _find(_log(ledger, department, contains='"kind":"inspection_draw"'), "inspection_draw")
            if e.seq == draw_seq
        ),
        None,
    )
    if draw is None:
        raise NotFoundError(f"{department} has no inspection draw number {draw_seq}")
    mine = officer_ref(ledger, department, inspector)
    return [s["case_id"] for s in draw.body.get("sample", []) if s.get("inspector_ref") == mine]


def record_finding(
    ledger: Ledger,
    department: str,
    draw_seq: int,
    case_id: str,
    *,
    inspector: str,
    conforming: bool,
    findings: Sequence[str] = (),
    inspected_at: datetime | None = None,
) -> int:
    """Record the result of the inspection of ``case_id`` drawn by draw ``draw_seq``, by its assigned inspector
    (anchored); a non-conforming result needs at least one finding code. Returns the entry's seq."""
    from .decisions import officer_ref

    entries = _log(ledger, department)
    draw = next((e for e in _find(entries, "inspection_draw") if e.seq == draw_seq), None)
    if draw is None:
        raise NotFoundError(f"{department} has no inspection draw number {draw_seq}")
    drawn = next((s for s in draw.body.get("sample", []) if s.get("case_id") == case_id), None)
    if drawn is None:
        raise InputError(
            f"case {case_id!r} was not drawn by draw {draw_seq}; only drawn cases are inspected", field="case"
        )
    inspector_ref = officer_ref(ledger, department, inspector)
    if inspector_ref != drawn["inspector_ref"]:
        raise InputError(
            f"inspector {inspector!r} was not assigned case {case_id!r}; the draw assigned {drawn['inspector_ref']}",
            field="inspector",
        )
    codes = [_code(f, "finding") for f in findings]
    if not conforming and not codes:
        raise InputError("a non-conforming result needs at least one finding code", field="findings")
    if _find(entries, "inspection_finding", draw=_ref(draw), case=case_id):
        raise StateError(f"case {case_id!r} of draw {draw_seq} already has a recorded finding")
    body = {
        "format": SUPERVISION_FORMAT,
        "kind": "inspection_finding",
        "draw": _ref(draw),
        "case": case_id,
        "decision": drawn["decision"],
        "inspector_ref": inspector_ref,
        "conforming": bool(conforming),
        "findings": codes,
        "inspected_at": _stated_time(inspected_at, "inspected_at"),
    }
    return _append(ledger, department, body).seq


def _in_force(entries: Sequence[_Entry], approval: _Entry, upto: int | None = None) -> _Entry | None:
    """The case's latest decision (before ``upto``) when ``approval`` is still in force there - every later decision
    of its case approves it too (an officer confirming it) - else None (a refusal or referral ended it)."""
    case = approval.body.get("case_id")
    latest = approval
    for e in entries:
        if e.seq <= approval.seq or not _is_decision(e.body) or e.body["case_id"] != case:
            continue
        if upto is not None and e.seq >= upto:
            break
        if e.body.get("outcome") != "approve":
            return None
        latest = e
    return latest


def _still_latest(ledger: Ledger, department: str, case: str, latest: _Entry) -> logchain.Guard:
    """Asked inside the transaction that records a withdrawal (:data:`logchain.Guard`): that the decision it overrides
    is still the case's latest. A decision recorded since the withdrawal read the log - a second withdrawal on the same
    finding (the command run twice at once), an officer's decision - would otherwise be passed over: the case
    withdrawn twice, its applicant credit-listed twice."""
    from .decisions import find_decisions

    def guard(conn: Any) -> None:
        decided = find_decisions(ledger, department, case, conn=conn)
        if decided and (decided[-1].seq, decided[-1].entry_hash) != (latest.seq, latest.entry_hash):
            raise StateError(
                f"case {case!r} was decided meanwhile: decision {decided[-1].seq} ({decided[-1].body.get('outcome')}) "
                f"is now its latest, not decision {latest.seq} that this withdrawal overrides - nothing was recorded "
                "(run `ledger inspect withdraw` again if the approval is still in force)"
            )

    return guard


def _listing_period(decided_at: str, credit_days: Any) -> tuple[date, date] | None:
    """The credit listing a withdrawal decided at ``decided_at`` makes for ``credit_days`` days: [its day, that day +
    the days), None for 0 days (not listed); InputError for anything else than a whole number of days whose end is in
    the calendar."""
    if not isinstance(credit_days, int) or isinstance(credit_days, bool) or credit_days < 0:
        raise InputError(
            f"credit days {credit_days!r} must be a whole number of days, 0 or more (0: the applicant is not listed)",
            field="credit_days",
        )
    if credit_days == 0:
        return None
    day = date.fromisoformat(decided_at[:10])
    try:
        return day, day + timedelta(days=credit_days)
    except OverflowError:
        raise InputError(
            f"credit days {credit_days} would list the applicant past the year 9999; give a period that ends in the "
            "calendar",
            field="credit_days",
        ) from None


def withdraw_approval(
    ledger: Ledger,
    department: str,
    finding_seq: int,
    *,
    officer: str,
    reasons: Sequence[str],
    legal_basis: str,
    credit_reason: str | None = None,
    credit_days: int = 365,
    decided_at: datetime | None = None,
) -> dict[str, Any]:
    """Withdraw the approval a non-conforming finding concerns: an anchored officer decision (outcome ``reject``)
    overriding it, with reasons and a legal-basis code; unless ``credit_days`` is 0 the applicant goes on the
    department's credit list for that many days (reason ``credit_reason``, default the first reason)."""
    from .decisions import not_before, officer_ref, officer_time

    entries = _log(ledger, department)
    finding = next((e for e in _find(entries, "inspection_finding") if e.seq == finding_seq), None)
    if finding is None:
        raise NotFoundError(f"{department} has no inspection finding number {finding_seq}")
    if finding.body.get("conforming"):
        raise StateError(f"finding {finding_seq} is conforming: only a non-conforming finding allows a withdrawal")
    approval = _entry_at(entries, finding.body.get("decision"))
    if approval is None or approval.body.get("outcome") != "approve":
        raise StateError(f"the decision finding {finding_seq} concerns is not an approval in this log")
    case = approval.body["case_id"]
    # the approval is in force while every later decision of the case confirms it (an officer's approving override
    # keeps it and its permit): the withdrawal then overrides the latest of them. Once a decision refused or referred
    # the case, that approval ended; an approval granted after it is a new one, which this finding did not inspect.
    latest = _in_force(entries, approval)
    if latest is None:
        ended = next(
            e
            for e in entries
            if e.seq > approval.seq
            and _is_decision(e.body)
            and e.body["case_id"] == case
            and e.body.get("outcome") != "approve"
        )
        raise StateError(
            f"case {case!r} has a later decision (#{ended.seq}, {ended.body.get('outcome')}) that ended the approval "
            f"finding {finding_seq} concerns (#{approval.seq}): the approval is no longer in force, and an approval "
            "granted after it is a new one that this finding did not inspect - nothing was recorded"
        )
    if isinstance(reasons, str) or not reasons:
        raise InputError("reasons must be a non-empty list of reason codes", field="reasons")
    from .decisions import MAX_OFFICER_REASONS  # (decisions imports this module)

    if len(reasons) > MAX_OFFICER_REASONS:  # the withdrawal is an officer's decision (red team round 56)
        raise InputError(
            f"{len(reasons):,} reasons given: a withdrawal gives at most {MAX_OFFICER_REASONS} reason codes (every "
            "evidence bundle of it carries them); give the codes that decided it",
            field="reasons",
        )
    at = officer_time(decided_at)  # an officer's decision: its moment is when it is recorded (red team round 71)
    not_before(at, latest.seq, latest.body)  # as any officer's override (decisions.py): replay reports one past it
    # the credit listing is checked before the withdrawal is recorded: a listing refused after it (a negative or
    # endless period, a reason in words) left the refusal in the log with its permit valid, the applicant unlisted,
    # and the withdrawal refused for good when run again ("no longer in force")
    listed = _listing_period(at, credit_days)
    codes = [_code(r, "reason") for r in reasons]
    listing_reason = _code(credit_reason, "credit_reason") if credit_reason is not None else codes[0]
    body = {
        "format": "pl-decision/2",
        "case_id": case,
        "service_item": approval.body.get("service_item"),
        "applicant_ref": approval.body.get("applicant_ref"),
        "input_digest": None,
        "certificates": [],
        "rule_set": None,
        "engine": None,
        "outcome": "reject",
        "reasons": codes,
        "fired": [],
        "decided_by": {
            "kind": "officer",
            "department": department,
            "officer_ref": officer_ref(ledger, department, officer),
        },
        "decided_at": at,
        "overrides": _ref(latest),
        "withdrawal": {"finding": _ref(finding), "legal_basis": _code(legal_basis, "legal_basis")},
    }
    # the permits the case's approvals produced are withdrawn with it (permits.py): a withdrawn approval whose permit
    # stayed valid is still a permit in the applicant's hands
    withdrawn = permits.withdrawn(ledger, department, latest.seq, "reject", case)
    if withdrawn:
        body["withdraws"] = withdrawn
    entry = _append(ledger, department, body, anchor=False, guard=_still_latest(ledger, department, case, latest))
    listing = None
    if listed is not None:
        listing = _credit_listing(  # rests on the withdrawal, listed by its officer
            ledger,
            department,
            applicant=None,
            applicant_ref=body["applicant_ref"],
            reason=listing_reason,
            since=listed[0],
            until=listed[1],
            basis={"withdrawal": _ref(entry), "finding": _ref(finding)},
            listed_at=decided_at,
            officer_ref=body["decided_by"]["officer_ref"],
        )
    else:
        logchain.anchor_pending(ledger, LOG_DECISIONS, department)
    permits.withdraw(ledger, department, withdrawn, entry.seq)
    from . import notices  # the approval's notices end with it, as an officer's refusal ends them (decisions.py)

    notices.withdraw_replaced(ledger, department, case, latest.seq, "reject", entry.seq)
    return {
        "seq": entry.seq,
        "entry_hash": entry.entry_hash,
        "case_id": case,
        "overrides": body["overrides"],
        "credit_listing": listing.seq if listing is not None else None,
    }


# -- read API for reports ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inspection:
    """One drawn case: the draw, the assigned inspector, and its finding once recorded."""

    department: str
    announcement_seq: int
    draw_seq: int
    target_block: int
    case_id: str
    decision_seq: int
    inspector_ref: str
    finding_seq: int | None = None
    conforming: bool | None = None
    findings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Withdrawal:
    department: str
    seq: int
    case_id: str
    overrides_seq: int
    finding_seq: int | None
    reasons: list[str]
    legal_basis: str
    decided_at: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _inspections(entries: Sequence[_Entry], department: str) -> list[Inspection]:
    findings = {
        (f.body.get("draw", {}).get("seq"), f.body.get("case")): f
        for f in _find(entries, "inspection_finding")
        if isinstance(f.body.get("draw"), dict)
    }
    found = []
    for d in _find(entries, "inspection_draw"):
        for s in d.body.get("sample", []):
            f = findings.get((d.seq, s.get("case_id")))
            found.append(
                Inspection(
                    department,
                    int(d.body["announcement"]["seq"]),
                    d.seq,
                    int(d.body["target_block"]),
                    s["case_id"],
                    int(s["decision"]["seq"]),
                    s["inspector_ref"],
                    f.seq if f else None,
                    f.body.get("conforming") if f else None,
                    list(f.body.get("findings", [])) if f else [],
                )
            )
    return found


def inspections(
    ledger: Ledger, department: str, *, since: str | None = None, until: str | None = None
) -> list[Inspection]:
    """Every drawn case of the department's inspections whose announced period overlaps [since, until)."""
    entries = _log(ledger, department)
    periods = {a.seq: a.body.get("period", {}) for a in _find(entries, "inspection_announcement")}
    return [
        i
        for i in _inspections(entries, department)
        if (since is None or str(periods.get(i.announcement_seq, {}).get("until")) > since)
        and (until is None or str(periods.get(i.announcement_seq, {}).get("since")) < until)
    ]


def withdrawals(
    ledger: Ledger, department: str, *, since: str | None = None, until: str | None = None
) -> list[Withdrawal]:
    """The department's withdrawals of approvals decided in [since, until) (ISO times)."""
    found = []
    for e in _log(ledger, department):
        w = e.body.get("withdrawal")
        if not _is_decision(e.body) or not isinstance(w, dict):
            continue
        at = str(e.body.get("decided_at"))
        if (since is None or at >= since) and (until is None or at < until):
            found.append(
                Withdrawal(
                    department,
                    e.seq,
                    e.body["case_id"],
                    int(e.body["overrides"]["seq"]),
                    (w.get("finding") or {}).get("seq"),
                    list(e.body.get("reasons", [])),
                    str(w.get("legal_basis")),
                    at,
                )
            )
    return found


def summary(
    ledger: Ledger, department: str, *, since: str | None = None, until: str | None = None, today: date | None = None
) -> dict[str, Any]:
    """Everything above for one department and period, as plain JSON (what ``ledger report`` reads)."""
    return {
        "department": department,
        "since": since,
        "until": until,
        "commitments": [c.to_json() for c in commitments(ledger, department, since=since, until=until, today=today)],
        "inspections": [i.to_json() for i in inspections(ledger, department, since=since, until=until)],
        "withdrawals": [w.to_json() for w in withdrawals(ledger, department, since=since, until=until)],
        "credit_list": [c.to_json() for c in credit_entries(ledger, department, since=since, until=until)],
    }


# -- replay -----------------------------------------------------------------------------------------------------


class CreditBook:
    """A department's credit list as the chain attests it (anchoring blocks from the chain's ranges), for replay.

    Read once per replay and indexed once: a decision's status and the credit entries its block passed over are
    worked out from its applicant's own entries, where they were worked out from every credit entry of the
    department for every decision (``_status_from`` and :meth:`passed_over_reference`, the reference:
    tests/test_credit_book.py compares the two on hostile entries)."""

    def __init__(self, ledger: Ledger, department: str, ranges: Sequence[ChainRange]) -> None:
        self.entries = _log(ledger, department, ranges, contains=_CREDIT_KINDS)
        # a decision taken with LEDGER_CONFIRMATIONS = k reads the list k blocks below the head: not backdating
        self.slack = max(0, int(getattr(ledger.settings, "confirmations", 0) or 0))
        self._index()

    @classmethod
    def of(cls, entries: Sequence[_Entry], slack: int) -> CreditBook:
        """A book of the given entries (tests)."""
        book = cls.__new__(cls)
        book.entries, book.slack = list(entries), slack
        book._index()
        return book

    def _index(self) -> None:
        listings = _find(self.entries, "credit_listing")
        removals = _find(self.entries, "credit_removal")
        # status: each applicant's listings in log order; each listing's earliest anchored removal
        self._listings: dict[str, list[_Entry]] = defaultdict(list)
        for e in listings:
            self._listings[str(e.body.get("applicant_ref"))].append(e)
        self._removed_at: dict[str, int] = {}
        for e in removals:
            named = e.body.get("listing")
            target = named.get("entry_hash") if isinstance(named, dict) else None
            if e.block is not None and isinstance(target, str) and e.block < self._removed_at.get(target, e.block + 1):
                self._removed_at[target] = e.block
        # passed_over: the entries (in log order) that can be held against a decision of an applicant, whatever its
        # block and number: a listing of the applicant, or the removal a listing of the applicant last names
        removed = {
            target: e
            for e in removals
            if isinstance(named := e.body.get("listing"), dict) and isinstance(target := named.get("entry_hash"), str)
        }
        by_hash = {e.entry_hash: e for e in listings}
        self._held: dict[str, list[_Entry]] = defaultdict(list)
        for e in self.entries:
            if e.body.get("kind") == "credit_listing":
                about: _Entry | None = e
            else:
                named = e.body.get("listing")
                target = named.get("entry_hash") if isinstance(named, dict) else None
                about = by_hash.get(target) if isinstance(target, str) else None
            if about is None or not (e is about or removed.get(about.entry_hash) is e):
                continue
            applicant = about.body.get("applicant_ref")
            if isinstance(applicant, str):
                self._held[applicant].append(e)

    def status(self, applicant: str, block: int, decided_at: str) -> dict[str, Any]:
        """``_status_from(self.entries, [applicant], block, decided_at)[applicant]``, from the applicant's listings."""
        day = decided_at[:10]
        removed_at = self._removed_at
        found = []
        for e in self._listings.get(applicant, ()):
            b = e.body
            if e.block is None or e.block > block or removed_at.get(e.entry_hash, block + 1) <= block:
                continue
            if isinstance(b.get("since"), str) and isinstance(b.get("until"), str) and b["since"] <= day < b["until"]:
                found.append(e.seq)
        return {"listed": bool(found), "listings": found, "as_of_block": block}

    def passed_over(self, applicant: str, block: int, seq: int) -> list[int]:
        """Credit entries about ``applicant`` written before decision ``seq`` in the log and anchored after the
        ``block`` it claims to have read the list at (beyond the confirmation depth): a decision backdating its
        block to miss a listing (or a removal) the department had already recorded and anchored."""
        limit = block + self.slack
        return [e.seq for e in self._held.get(applicant, ()) if e.seq < seq and e.block is not None and e.block > limit]

    def passed_over_reference(self, applicant: str, block: int, seq: int) -> list[int]:
        """:meth:`passed_over` over every entry of the book (the reference)."""
        removed = {
            (e.body.get("listing") or {}).get("entry_hash"): e
            for e in _find(self.entries, "credit_removal")
            if isinstance(e.body.get("listing"), dict)
        }
        listings: dict[str | None, _Entry] = {e.entry_hash: e for e in _find(self.entries, "credit_listing")}
        found = []
        for e in self.entries:
            if e.seq >= seq or e.block is None or e.block <= block + self.slack:
                continue
            about = (
                e
                if e.body.get("kind") == "credit_listing"
                else listings.get((e.body.get("listing") or {}).get("entry_hash"))
            )
            if (
                about is not None
                and about.body.get("applicant_ref") == applicant
                and (e is about or removed.get(about.entry_hash) is e)
            ):
                found.append(e.seq)
        return found


def check_replay(
    ledger: Ledger,
    department: str,
    ranges: Sequence[ChainRange],
    fail: Callable[[str, int | None, str | None, str], None],
) -> dict[str, Any]:
    """Re-check every supervision step of a department against the chain: announcements anchored before their target
    block, one draw per announcement made after it, with that block's hash, re-drawn to the same sample; findings on
    drawn cases by their assigned inspector; withdrawals resting on a non-conforming finding of that approval;
    credit listings from withdrawals; the officer of every credit listing and removal. Returns counts for the
    report."""
    malformed: list[_Entry] = []
    entries = _log(ledger, department, ranges, malformed=malformed)
    for e in malformed:  # written past the library (or edited) into a shape no reader can rely on: reported, not read
        case = e.body.get("case_id") if isinstance(e.body.get("case_id"), str) else None
        if e.body.get("withdrawal") is not None:
            fail(
                "withdrawal_invalid",
                e.seq,
                case,
                "the withdrawal does not name a finding and the approval it overrides as the ledger writes them",
            )
        elif is_supervision(e.body):
            fail(
                "supervision_malformed",
                e.seq,
                None,
                f"the {str(e.body.get('kind'))[:64]!r} record lacks fields the ledger writes, or holds other types",
            )
    head = ledger.chain.block_number()
    draws_of: dict[int, list[_Entry]] = defaultdict(list)
    for d in _find(entries, "inspection_draw"):
        a = _entry_at(entries, d.body.get("announcement"))
        if a is None or a.body.get("kind") != "inspection_announcement":
            fail("draw_invalid", d.seq, None, "the draw names no announcement of this log")
            continue
        draws_of[a.seq].append(d)
    announcements = _find(entries, "inspection_announcement")
    for a in announcements:
        target = a.body.get("target_block")
        if not isinstance(target, int) or a.block is None or a.block >= target:
            fail(
                "announcement_late",
                a.seq,
                None,
                f"the announcement was anchored in block {a.block}, not before its "
                f"target block {target}: its draw could be chosen",
            )
        if isinstance(target, int) and a.block is not None and target > a.block + MAX_TARGET_DELAY:
            fail(
                "announcement_far",
                a.seq,
                None,
                f"the target block {target} is more than {MAX_TARGET_DELAY} "
                f"blocks after the announcement's block {a.block}: its period "
                "is claimed but its draw may never come due",
            )
        draws = draws_of.get(a.seq, [])
        if len(draws) > 1:
            fail(
                "draw_repeated",
                draws[1].seq,
                None,
                f"announcement {a.seq} was drawn {len(draws)} times (#{', #'.join(str(d.seq) for d in draws)})",
            )
        if not draws and isinstance(target, int) and head > target + DRAW_GRACE_BLOCKS:
            fail("draw_missing", a.seq, None, f"announcement {a.seq} (target block {target}) was never drawn")
        for d in draws:
            _check_draw(ledger, entries, a, d, fail)
        for case in _dodged(entries, a):
            fail(
                "population_dodged",
                a.seq,
                case,
                f"case {case} was approved in the period of announcement {a.seq}, "
                "set aside just before it and approved again after it: it "
                "escaped the draw",
            )
    covered = [(a, _coverage(ledger, a)) for a in announcements]
    reached: tuple[_Entry, datetime] | None = None  # the furthest end inspected by the announcements so far
    for i, (a, span) in enumerate(covered):
        for earlier, before in covered[:i]:
            if span is not None and before is not None and _overlaps(span, before):
                fail(
                    "announcement_overlap",
                    a.seq,
                    None,
                    f"announcement {a.seq} inspects again a stretch announcement "
                    f"{earlier.seq} covered: a second chance at the sample",
                )
                break
        if span is None:
            continue
        if reached is not None and span[0] > reached[1]:
            fail(
                "announcement_gap",
                a.seq,
                None,
                f"announcement {a.seq} starts at {_time_text(span[0])}, after the "
                f"end of announcement {reached[0].seq} ({_time_text(reached[1])}): "
                "approvals decided in between are in no draw",
            )
        if reached is None or span[1] > reached[1]:
            reached = (a, span[1])
    sampled: dict[tuple[Any, Any], Any] = {
        (d.seq, s.get("case_id")): s for d in _find(entries, "inspection_draw") for s in d.body.get("sample", [])
    }
    for f in _find(entries, "inspection_finding"):
        s = sampled.get(((f.body.get("draw") or {}).get("seq"), f.body.get("case")))
        if s is None or _entry_at(entries, f.body.get("draw")) is None:
            fail("finding_invalid", f.seq, f.body.get("case"), "the finding concerns a case its draw did not select")
        elif s.get("inspector_ref") != f.body.get("inspector_ref") or s.get("decision") != f.body.get("decision"):
            fail(
                "finding_invalid",
                f.seq,
                f.body.get("case"),
                "the finding was not made by the inspector the draw assigned, or names another decision",
            )
    by_case: dict[str, list[_Entry]] | None = None  # the decisions of each case, built at the first withdrawal
    for e in entries:
        w = e.body.get("withdrawal")
        if not _is_decision(e.body) or w is None:
            continue
        if by_case is None:
            by_case = defaultdict(list)
            for d in entries:
                if _is_decision(d.body):
                    by_case[d.body["case_id"]].append(d)
        finding = _entry_at(entries, w.get("finding") if isinstance(w, dict) else None)
        valid = (
            finding is not None
            and finding.body.get("kind") == "inspection_finding"
            and not finding.body.get("conforming")
        )
        inspected = _entry_at(entries, finding.body.get("decision")) if valid and finding is not None else None
        # the withdrawal overrides the inspected approval, or the case's latest decision confirming it since (an
        # officer's approving override keeps the approval in force): never a decision after the approval ended
        standing = (
            _in_force(by_case[e.body["case_id"]], inspected, upto=e.seq)
            if inspected is not None
            and inspected.body.get("outcome") == "approve"
            and inspected.body.get("case_id") == e.body["case_id"]
            else None
        )
        if standing is None or _ref(standing) != e.body.get("overrides"):
            fail(
                "withdrawal_invalid",
                e.seq,
                e.body["case_id"],
                "the withdrawal does not rest on a non-conforming finding on the approval it overrides (or on an "
                "approval the decisions since it, up to the one it overrides, all confirm)",
            )
    for c in _find(entries, "credit_listing"):
        basis = c.body.get("basis")
        if isinstance(basis, dict) and "withdrawal" in basis:
            w = _entry_at(entries, basis.get("withdrawal"))
            if (
                w is None
                or not isinstance(w.body.get("withdrawal"), dict)
                or w.body.get("applicant_ref") != c.body.get("applicant_ref")
            ):
                fail(
                    "credit_listing_invalid",
                    c.seq,
                    None,
                    "the listing names a withdrawal of this log that does not exist or concerns another applicant",
                )
            elif c.body.get("officer_ref") is not None and c.body.get("officer_ref") != _withdrawing_officer(w):
                fail(
                    "credit_officer_invalid",
                    c.seq,
                    None,
                    f"the listing rests on withdrawal {w.seq} but names another officer than the one who withdrew: "
                    "a withdrawal's listing is made by the withdrawing officer",
                )
    unrecorded = _check_credit_officers(entries, fail)
    return {
        "announcements": len(announcements),
        "draws": sum(len(v) for v in draws_of.values()),
        "findings": len(_find(entries, "inspection_finding")),
        "credit_listings": len(_find(entries, "credit_listing")),
        "credit_removals": len(_find(entries, "credit_removal")),
        "credit_officer_not_recorded": unrecorded,
    }


def _withdrawing_officer(withdrawal: _Entry) -> Any:
    """The officer_ref of the officer who made ``withdrawal``, or None when its ``decided_by`` is not the mapping the
    library writes (an entry written past the library: then no listing's officer matches it, and replay says so
    rather than stopping on it)."""
    decided_by = withdrawal.body.get("decided_by")
    return decided_by.get("officer_ref") if isinstance(decided_by, dict) else None


def _check_credit_officers(entries: Sequence[_Entry], fail: Callable[[str, int | None, str | None, str], None]) -> int:
    """Every credit listing and removal names its officer by salted reference (``credit_officer_invalid``
    otherwise). The library has written an officer on every listing since round 15b and on every removal since
    removals named theirs; entries written before have none and are honest. So a missing officer is reported once
    the log holds an earlier entry of the same kind naming its officer (the department's library required one by
    then); before that it counts as "officer not recorded". Returns how many entries were so counted."""
    required: dict[str, int] = {}  # kind -> the first entry of that kind naming its officer
    unrecorded = 0
    for e in entries:
        kind = e.body.get("kind")
        if not is_supervision(e.body) or kind not in ("credit_listing", "credit_removal"):
            continue
        what = "listing" if kind == "credit_listing" else "removal"
        ref = e.body.get("officer_ref")
        if ref is None:
            if kind in required:
                fail(
                    "credit_officer_invalid",
                    e.seq,
                    None,
                    f"the credit {what} names no officer, though this log's credit {what}s name theirs since entry "
                    f"{required[kind]}: it was written past the library, and nobody is on record as having made it",
                )
            else:
                unrecorded += 1
        elif not _OFFICER_REF.fullmatch(str(ref)):
            fail(
                "credit_officer_invalid",
                e.seq,
                None,
                f"the credit {what}'s officer_ref {str(ref)[:40]!r} is not an officer's salted reference (0x + 64 "
                "lower-case hex digits): a staff id in clear, or text written past the library",
            )
        else:
            required.setdefault(str(kind), e.seq)
    return unrecorded


def _check_draw(
    ledger: Ledger,
    entries: Sequence[_Entry],
    announcement: _Entry,
    draw: _Entry,
    fail: Callable[[str, int | None, str | None, str], None],
) -> None:
    target = announcement.body.get("target_block")
    actual = _block_hash(ledger, target) if isinstance(target, int) else None
    if (
        not isinstance(target, int)
        or draw.body.get("target_block") != target
        or actual is None
        or draw.body.get("block_hash") != actual
    ):
        fail(
            "draw_mismatch",
            draw.seq,
            None,
            f"the draw used block hash {draw.body.get('block_hash')}, the chain's block {target} has {actual}",
        )
        return
    if draw.block is None or draw.block <= target:
        fail(
            "draw_early",
            draw.seq,
            None,
            f"the draw was anchored in block {draw.block}, not after its target block {target}",
        )
    try:
        expected = _expected_draw(entries, announcement, actual)
    except InputError as exc:
        fail("draw_mismatch", draw.seq, None, f"the draw cannot be recomputed: {exc}")
        return
    if draw.body.get("population") != expected["population"] or draw.body.get("sample") != expected["sample"]:
        recorded = [s.get("case_id") for s in draw.body.get("sample", []) if isinstance(s, dict)]
        fail(
            "draw_mismatch",
            draw.seq,
            None,
            f"re-drawn from the chain the sample is "
            f"{[s['case_id'] for s in expected['sample']]} of "
            f"{expected['population']['count']} approvals; the draw recorded "
            f"{recorded} of {(draw.body.get('population') or {}).get('count')}",
        )


def wait_for_block(ledger: Ledger, number: int, *, timeout: float = 120.0, poll: float = 0.5) -> int:
    """Wait until the chain has mined block ``number`` (a draw's target); returns the head. StateError on timeout."""
    import time

    deadline = time.monotonic() + timeout
    while (head := ledger.chain.block_number()) < number:
        if time.monotonic() > deadline:
            raise StateError(f"block {number} was not mined within {timeout:.0f} s (the chain is at block {head})")
        time.sleep(poll)
    return head


def announcement_target(ledger: Ledger, department: str, announcement_seq: int) -> int:
    """The target block of announcement ``announcement_seq``."""
    found = [
        e
        for e in _find(_log(ledger, department, contains='"kind":"inspection_announcement"'), "inspection_announcement")
        if e.seq == announcement_seq
    ]
    if not found:
        raise NotFoundError(f"{department} has no inspection announcement number {announcement_seq}")
    return int(found[0].body["target_block"])


def report_sections(ledger: Ledger, department: str, since: datetime, until: datetime) -> dict[str, Any]:
    """The supervision sections of ``ledger report`` (report.supervision_sections gives their shapes)."""
    start, end = since.isoformat().replace("+00:00", "Z"), until.isoformat().replace("+00:00", "Z")
    promised = commitments(ledger, department, since=start, until=end)
    states = Counter(c.status for c in promised)
    drawn = inspections(ledger, department, since=start, until=end)
    draws: dict[int, dict[str, Any]] = {}
    for item in drawn:
        draw = draws.setdefault(
            item.draw_seq, {"draw_id": f"{department}-{item.draw_seq}", "drawn": 0, "block": item.target_block}
        )
        draw["drawn"] += 1
    codes = Counter(code for item in drawn for code in item.findings)
    return {
        "commitments": {
            "recorded": True,
            "met": states["met"],
            "broken": states["broken"],
            "due": states["due"] + states["overdue"],
            "items": [
                {"case_id": c.case_id, "deadline": c.deadline, "state": c.status, "check": c.check} for c in promised
            ],
        },
        "inspections": {
            "recorded": True,
            "drawn": len(drawn),
            "conforming": sum(1 for i in drawn if i.conforming is True),
            "non_conforming": sum(1 for i in drawn if i.conforming is False),
            "pending": sum(1 for i in drawn if i.conforming is None),
            "draws": list(draws.values()),
            "findings": [{"code": code, "count": n} for code, n in codes.most_common()],
        },
    }
