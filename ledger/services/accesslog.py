"""The access log: who read (or tried to read) which certificate, when and why.

It is the ``access`` log of logchain.py, kept per issuing department (the custodian of the data): every served
read, every refused attempt (including unauthenticated and suspended callers), and every grant and grant
revocation is appended as one hash-chained entry, and pending entries are anchored on chain in batches signed by
that department's key (``anchor`` / ``anchor_all``, called by the gateway's background task or its endpoint).
``check`` re-derives the chain of entries and compares it with the anchors, so a deleted or edited entry is
reported as a discrepancy.

Entry bodies hold digests, department codes, signer addresses, purpose codes and outcomes - never certificate
fields, and a free-text purpose (a grant's) only as a hash keyed by the grant's random salt (``purpose_hash``):
an anchored entry can never be erased, and once erasure destroyed the text and the salt, nobody can confirm a
guessed text against it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from ..client import Ledger
from ..errors import LedgerError
from ..storage.models import given_time
from . import logchain

LOG = logchain.LOG_ACCESS


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def record(
    ledger: Ledger,
    *,
    certificate: str,
    issuer: str,
    action: str,
    outcome: str,
    actor: str | None,
    signer: str | None,
    at: datetime,
    detail: str = "",
    grant_id: str | None = None,
    purpose: str | None = None,
    authenticated: bool = True,
    purpose_text: str | None = None,
    purpose_salt: str | None = None,
    terms: dict[str, Any] | None = None,
) -> Any:
    """Append one access event to ``issuer``'s access log; returns the log entry. ``purpose`` is written as given
    (a code); ``purpose_text`` (free text, such as a grant's purpose) only as its hash keyed by ``purpose_salt``
    (the grant's: :func:`purpose_hash`), or, for a grant made before grants had a salt (None), as the unsalted
    SHA-256 its earlier entries already hold (:func:`purpose_digest`);
    ``terms``: a grant's (grantee, expiry, disclosed fields: codes, a time and field names, no personal value), so
    a read is served only through a grant row that still says what its anchored creation says."""
    at = given_time(at, "at")
    body = entry_body(
        certificate=certificate,
        action=action,
        outcome=outcome,
        actor=actor,
        signer=signer,
        at=at,
        detail=detail,
        grant_id=grant_id,
        purpose=purpose,
        authenticated=authenticated,
    )
    if purpose_text is not None:
        if purpose_salt is not None:
            body["purpose_hash"] = purpose_hash(purpose_text, purpose_salt)
        else:
            body["purpose_sha256"] = purpose_digest(purpose_text)
    if terms is not None:
        body["terms"] = terms
    return logchain.append(ledger, LOG, issuer, body, created_at=at)


def entry_body(
    *,
    certificate: str,
    action: str,
    outcome: str,
    actor: str | None,
    signer: str | None,
    at: datetime,
    detail: str = "",
    grant_id: str | None = None,
    purpose: str | None = None,
    authenticated: bool = True,
) -> dict[str, Any]:
    """The body of one access event (:func:`record` appends it; :func:`record_many` appends many)."""
    at = given_time(at, "at")
    return {
        "certificate": certificate,
        "action": action,
        "outcome": outcome,
        "actor": actor or "anonymous",
        "signer": signer,
        "authenticated": authenticated,
        "at": _iso(at),
        "grant": grant_id,
        "purpose": purpose,
        "detail": detail,
    }


PURPOSE_SALT_BYTES = 32
_PURPOSE_TAG = b"pl-grant-purpose/1\x00"


def new_purpose_salt() -> str:
    """A fresh random salt for a grant's purpose (hex): kept in the grant row beside the text, never logged."""
    return os.urandom(PURPOSE_SALT_BYTES).hex()


def purpose_hash(text: str, salt: str) -> str:
    """What the anchored log keeps of a grant's free-text purpose (``purpose_hash``): ``0x`` + HMAC-SHA256 keyed by
    the grant's salt (its 32 random bytes) of ``pl-grant-purpose/1`` NUL and the text's UTF-8. The text (which may
    name the person: "claim of ...") and the salt stay in the grant row, where erasure reaches both; without the
    salt the hash confirms no guessed text, and two grants with one text have unrelated hashes."""
    return "0x" + hmac.new(bytes.fromhex(salt), _PURPOSE_TAG + text.encode("utf-8"), hashlib.sha256).hexdigest()


def purpose_digest(text: str) -> str:
    """``purpose_sha256``: ``0x`` + SHA-256 of a purpose's UTF-8, unsalted, as the log held a grant's purpose before
    grants had a salt (and still does for such a grant's later entries: its anchored creation holds it already).
    Anyone can confirm a guessed text against it; new grants are logged with :func:`purpose_hash`."""
    return "0x" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_many(ledger: Ledger, issuer: str, bodies: list[dict[str, Any]], at: datetime) -> int:
    """Append the access events ``bodies`` (:func:`entry_body`) to ``issuer``'s access log, in as few transactions
    as :func:`logchain.append_many` takes; returns how many were appended."""
    at = given_time(at, "at")
    return logchain.append_many(ledger, LOG, issuer, bodies, created_at=at) if bodies else 0


def anchor(ledger: Ledger, department: str) -> list[str]:
    """Anchor ``department``'s pending access-log entries; returns the roots anchored (hex)."""
    return list(logchain.anchor_pending(ledger, LOG, department))


def anchor_all(ledger: Ledger, departments: Iterable[str] | None = None) -> dict[str, list[str] | str]:
    """Anchor the pending entries of every department that has some (or of ``departments``).

    One department's failure (suspended by the council, so its key may not anchor; chain hiccup) does not hold the
    others back: its entry in the result is the error text and its entries stay pending for the next round.
    """
    codes = sorted(
        set(departments) if departments is not None else {u.department for u in logchain.unanchored(ledger, LOG)}
    )
    done: dict[str, list[str] | str] = {}
    for code in codes:
        try:
            roots = anchor(ledger, code)
        except LedgerError as exc:
            done[code] = exc.local_message()  # for the gateway's log, never an answer
            continue
        if roots:
            done[code] = roots
    return done


def _anchors(ledger: Ledger, roots: set[str]) -> dict[str, Any]:
    if not roots:
        return {}
    table = logchain.LogAnchor.__table__  # type: ignore[attr-defined]
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(table.c.root, table.c.tx_hash, table.c.block_number, table.c.state).where(
                table.c.root.in_(sorted(roots))
            )
        )
        return {r.root: r for r in rows}


_TEXT_FIELDS = ("certificate", "action", "outcome", "actor", "at")
BODY_TEXT_CHARS = 1024


def _altered(entry: Any) -> str | None:
    """Why ``entry``'s stored body is not the one the ledger wrote with its entry hash, or None when it hashes to
    it. One entry's own hash, recomputed from its row: an edit that left the hash alone shows here; one that also
    rewrote the hash breaks the chain or the anchor, which ``check`` reports."""
    try:
        computed = logchain.compute_entry_hash(LOG, entry.department_id, entry.seq, entry.prev_hash, entry.body)
    except UnicodeEncodeError:
        computed = None
    if computed == entry.entry_hash:
        return None
    return (
        f"entry {entry.seq} of {entry.department_id}'s {LOG} log was altered: its stored body does not hash to its "
        f"entry hash, so it is not what the ledger wrote (the database was edited). "
        f"GET /audit/logs/{LOG}/check?department={entry.department_id} reports it; restore the row from a backup"
    )


def _spelt(entry: Any, body: dict[str, Any]) -> str | None:
    """Why ``entry``'s stored text, which hashes to its entry hash, is not the canonical JSON of the ``body`` it reads
    as (a key named twice reads as its last value here and its first to other parsers), or None (red team round
    51)."""
    problem = logchain.spelling_problem(entry.body, body)
    if problem is None:
        return None
    return (
        f"entry {entry.seq} of {entry.department_id}'s {LOG} log is not what the ledger writes: {problem}. "
        f"GET /audit/logs/{LOG}/check?department={entry.department_id} reports it (body_invalid)"
    )


def _place(entry: Any) -> dict[str, Any]:
    return {
        "department": entry.department_id,
        "seq": entry.seq,
        "entry_hash": entry.entry_hash,
        "prev_hash": entry.prev_hash,
        "anchored": entry.state == logchain.EntryState.ANCHORED,
        "batch_root": entry.batch_root,
        # listed by a stored time that is not the one its body states: an edit of the database (check names it)
        "time_altered": logchain.time_altered(entry),
    }


def entry_json(entry: Any, anchor: Any = None) -> dict[str, Any]:
    """A log entry as the API shows it: the body plus its place in the hash chain and its anchor, if any. A body
    the ledger did not write (an insider's edit) is shown as ``body_error`` and the beginning of its text: one
    edited row must not hide the rest of the log (``check`` names it as altered). A body that reads but does not
    hash to the entry's hash is shown as stored, with ``body_error`` saying it was altered."""
    try:
        out = logchain.read_body(entry.body, LOG, entry.department_id, entry.seq)
        wrong = [k for k in _TEXT_FIELDS if out.get(k) is not None and not isinstance(out[k], str)]
        if wrong:
            raise logchain.UnreadableEntry(LOG, entry.department_id, entry.seq, f"has {', '.join(wrong)} not text")
        altered = _altered(entry) or _spelt(entry, out)
        if altered is not None:
            out["body_error"] = altered
    except logchain.UnreadableEntry as exc:
        out = {"body_error": str(exc), "body_text": str(entry.body)[:BODY_TEXT_CHARS]}
    out.update(_place(entry))
    if anchor is not None and entry.state == logchain.EntryState.ANCHORED:
        out.update({"tx_hash": anchor.tx_hash, "block_number": anchor.block_number})
    return out


def entries(
    ledger: Ledger,
    *,
    department: str | None = None,
    certificate: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: tuple[str, int] | None = None,
    limit: int | None = None,
    through: tuple[str, int] | None = None,
) -> list[dict[str, Any]]:
    """Access-log entries (one department's or all), oldest first: for ``certificate``, only the entries about it,
    found by their index key (not a scan of the log); a page of at most ``limit`` after ``after``, and none past
    ``through`` (a time window's page: :func:`logchain.window_bound`).

    An entry the certificate's key finds whose stored body does not name the certificate was edited (its body, or
    its key: the ledger writes the key from the body): it is listed where it stands as a marker, its place and
    ``body_error``, without its text (which may be another certificate's entry), never left out, so an insider
    cannot hide a read by corrupting its row."""
    lookup = logchain.lookup_key(certificate) if certificate is not None else None
    found = list(
        logchain.entries(
            ledger, LOG, department, since=since, until=until, lookup=lookup, after=after, limit=limit, through=through
        )
    )
    anchors = _anchors(ledger, {e.batch_root for e in found if e.batch_root})
    needle = f'"certificate":"{certificate}"'  # bodies are canonical JSON: a cheap text test
    ranges: dict[Any, Any] = {}  # what the chain says of each root, read once for this answer
    out = []
    for e in found:
        anchor = anchors.get(e.batch_root) if e.batch_root else None
        if certificate is not None and (not isinstance(e.body, str) or needle not in e.body):
            out.append(_foreign(e, certificate))
        else:
            out.append(entry_json(e, anchor))
        if out[-1]["anchored"] and not logchain.attested(ledger, e, ranges):
            # the row says anchored, the chain does not attest it (an entry rewritten and marked anchored): shown
            # unanchored, with no anchoring transaction
            out[-1]["anchored"] = False
            out[-1].pop("tx_hash", None)
            out[-1].pop("block_number", None)
    return _with_purposes(ledger, out)


def _foreign(entry: Any, certificate: str) -> dict[str, Any]:
    """The marker of an entry indexed as about ``certificate`` whose stored body does not name it."""
    try:
        logchain.read_body(entry.body, LOG, entry.department_id, entry.seq)
        problem = "does not name it"
    except logchain.UnreadableEntry as exc:
        problem = exc.problem
    return {
        "body_error": (
            f"entry {entry.seq} of {entry.department_id}'s {LOG} log is indexed as about certificate {certificate}, "
            f"but its stored body {problem}, which the ledger never writes (the database was edited). "
            f"GET /audit/logs/{LOG}/check?department={entry.department_id} reports it; restore the row from a backup"
        ),
        **_place(entry),
    }


_PURPOSE_MEMBERS = ("purpose_hash", "purpose_sha256")


def grant_purpose_matches(hashed: dict[str, Any], text: str, salt: str | None) -> bool:
    """Whether an entry's hash of its grant's purpose (``hashed``: its ``purpose_hash`` or, written before grants
    had a salt, ``purpose_sha256``) is the hash of ``text`` (keyed by ``salt``)."""
    keyed, plain = hashed.get("purpose_hash"), hashed.get("purpose_sha256")
    if not isinstance(text, str) or not isinstance(salt, str | None):  # a row's column holding a blob or a number
        return False
    try:
        if isinstance(keyed, str):
            return salt is not None and hmac.compare_digest(purpose_hash(text, salt), keyed)
        return isinstance(plain, str) and hmac.compare_digest(purpose_digest(text), plain)
    except (ValueError, TypeError):  # a salt edited into something not hex, a hash into something not ASCII
        return False


def _with_purposes(ledger: Ledger, out: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Show each entry that holds a grant's free-text purpose only as its hash (``purpose_hash``, keyed by the
    grant's salt; ``purpose_sha256`` before grants had one) with the text of its grant, when the grant row still
    holds the very text and salt (not once erasure cleared them, nor after an edit). The salt is never shown."""
    from ..storage.models import Grant

    wanted = {
        o["grant"]
        for o in out
        if isinstance(o.get("grant"), str) and any(isinstance(o.get(m), str) for m in _PURPOSE_MEMBERS)
    }
    if not wanted:
        return out
    with ledger.engine.connect() as conn:
        rows: dict[str, tuple[str, str | None]] = {
            r[0]: (r[1], r[2])
            for r in conn.execute(
                select(Grant.id, Grant.purpose, Grant.purpose_salt).where(Grant.id.in_(sorted(wanted)))  # type: ignore[call-overload,attr-defined]
            )
        }
    for o in out:
        grant = o.get("grant")
        found = rows.get(grant) if isinstance(grant, str) else None
        if found is not None and o.get("purpose") is None and grant_purpose_matches(o, *found):
            o["purpose"] = found[0]
    return out


def accesses(ledger: Ledger, certificate: str, issuer: str) -> list[dict[str, Any]]:
    """Reads and refused attempts on one certificate (grant events left out), oldest first. A page of them is
    :func:`reads` of :func:`entries` with ``after`` and ``limit``."""
    return reads(entries(ledger, department=issuer, certificate=certificate))


@dataclass(frozen=True, slots=True)
class ReadsPage:
    """A page of a certificate's reads: ``reads`` (:func:`reads` of the entries read), how many entries of the log
    were read for it (``scanned``, grant events included: a full page may hold fewer reads) and the place of the
    last of them (``last``, department and seq: the next page starts after it), None for none."""

    reads: list[dict[str, Any]]
    scanned: int
    last: tuple[str, int] | None


def read_page(
    ledger: Ledger, certificate: str, issuer: str, *, after: tuple[str, int] | None = None, limit: int | None = None
) -> ReadsPage:
    """At most ``limit`` of ``issuer``'s access-log entries about ``certificate`` after the place ``after``, as a
    page of reads."""
    found = entries(ledger, department=issuer, certificate=certificate, after=after, limit=limit)
    last = (str(found[-1]["department"]), int(found[-1]["seq"])) if found else None
    return ReadsPage(reads(found), len(found), last)


def reads(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reads and refused attempts among access-log entries (grant events left out), and every entry that was
    edited (``body_error``): what it was cannot be told from its row, and leaving it out would let an insider hide
    a read by corrupting or rewriting it."""
    return [r for r in found if r.get("action") == "read" or r.get("body_error")]


def check(ledger: Ledger, department: str) -> list[dict[str, Any]]:
    """Discrepancies between ``department``'s stored access log and its anchors (empty: intact)."""
    return [d.to_json() for d in logchain.check_log(ledger, LOG, department)]
