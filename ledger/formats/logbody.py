"""A log entry's canonical body text and the index key stored with it (``LogEntry.lookup``): pure functions of the
body, here apart from ``services/logchain.py`` (which re-exports both) so that a process reading applications
computes them without importing the storage layer."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from ..errors import InputError
from .canonical import canonical_json


def canonical_body(body: Any) -> bytes:
    """RFC 8785 bytes of a log body: a fast path for plain JSON (no floats, printable strings), else canonical_json."""
    if type(body) is not dict:
        raise InputError(f"a log entry body must be a JSON object, got {type(body).__name__}")
    return canonical_json(body)  # plain JSON (no floats, printable strings) takes its fast path


def lookup_key(case_id: str) -> str:
    """The index key (``LogEntry.lookup``) of the entries about ``case_id``: 16 bytes of its SHA-256, hex."""
    return hashlib.sha256(b"pl-lookup\x00" + case_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]


# The member in which a log's body states the instant it records (a supervision record of the decisions log, by its
# kind). The ledger stores an entry at that instant (``LogEntry.created_at``, on which the listings' time windows
# select), so a window selects on what the entry hash covers; the log's check compares them (``time_altered``). A
# body stating none (an erasure's attestation of citations, an inspector list) is stored at its append time.
_TIME_MEMBER = {"access": "at", "erasures": "at"}
_SUPERVISION_TIME = {
    "credit_listing": "listed_at",
    "credit_removal": "removed_at",
    "commitment_check": "checked_at",
    "inspection_announcement": "announced_at",
    "inspection_draw": "drawn_at",
    "inspection_finding": "inspected_at",
}


def time_member(body: Any, log: str) -> str | None:
    """The member of ``body`` (an entry of log ``log``) stating the instant it records, or None."""
    if not isinstance(body, dict):
        return None
    if log == "decisions":
        kind = body.get("kind")
        return "decided_at" if "decided_at" in body else _SUPERVISION_TIME.get(kind) if isinstance(kind, str) else None
    return _TIME_MEMBER.get(log)


def stated_time(body: Any, log: str) -> datetime | None:
    """The UTC instant ``body`` (an entry of log ``log``) states in its :func:`time_member`, or None when it
    states none readable (no member, not an ISO 8601 time with a zone, outside the calendar in UTC)."""
    member = time_member(body, log)
    text = body.get(member) if member is not None else None
    return instant(text) if isinstance(text, str) else None


def recorded_instant(text: Any) -> datetime | None:
    """A moment a record states, read as replay reads it: an ISO 8601 time (``Z`` for UTC), one without a zone taken
    as UTC; None when unreadable. The library bounds what it writes by a recorded moment read this way, so a bound
    it skipped (``instant`` takes a zone-less moment for unreadable) is never a record its own replay reports
    (an override before the decision it replaces, a case erasure while an approval stood: red team round 47)."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError, AttributeError):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@lru_cache(maxsize=256)  # a chunk of decisions states one decided_at
def instant(text: str) -> datetime | None:
    """The UTC instant of an ISO 8601 time with a zone, or None."""
    try:
        moment = datetime.fromisoformat(text)
        return moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None
