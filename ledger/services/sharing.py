"""Sharing certificates with consent: grants from the issuing department to another department.

A grant names a certificate (by digest), the receiving department, a stated purpose, an expiry and optionally
the fields to reveal (then the receiver gets a presentation: the other fields are only hashes). The issuing
department creates grants on its own behalf or for the holder who asked it to; it can revoke them at any time.

``fetch_content`` is the one door to a certificate's content. It serves the issuer (the full document) and a
department holding a live grant with the verifier role (the granted presentation); everyone else gets
PermissionDenied. Every outcome, served or refused, is appended to the issuer's access log (accesslog.py) before
the answer leaves, so "who saw this certificate, when and why" is provable.

Times are passed in (``now``), never read here, so tests can supply the clock.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ConfigDict
from sqlalchemy import select, update
from sqlmodel import Field, col

from ..client import Ledger
from ..errors import ChainError, ErasedError, InputError, NotFoundError, StateError
from ..formats.canonical import hex32, parse_hex32
from ..formats.certificate import CertificateDocument
from ..onchain.ids import department_id_bytes
from ..storage import generations
from ..storage.models import (  # noqa: F401 - re-exported
    GRANT_PURPOSE_ERASED,
    MAX_PURPOSE,
    Grant,
    GrantBase,
    GrantPublic,
    LogEntry,
    aware,
    given_time,
    stored_row,
)
from ..storage.store import Batch, Certificate
from ..storage.vault import ERASED
from . import _keyset, accesslog, consent, erasure, logchain
from .auth import Attempt, PermissionDenied
from .departments import get_department, registry_record
from .issuance import check_custodian, custodian_document
from .status import StoredCertificate, stored


class GrantCreate(GrantBase):
    consent: str | None = Field(
        default=None,
        max_length=32,
        description="Id of the data subject's consent this grant relies on; needed when "
        "the grant discloses personal fields (docs/privacy.md).",
    )
    purpose_code: str | None = Field(
        default=None, max_length=64, description="The purpose as a code; must be the consent's."
    )
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {  # type: ignore[assignment]
                    "grantee": "INS",
                    "purpose": "medical insurance claim 2026-0042 (holder consented on 2026-03-01)",
                    "expires_at": "2026-12-31T23:59:59Z",
                    "reveal": ["subject.name", "subject.credit_code"],
                }
            ]
        }
    )


def _certificate(ledger: Ledger, digest: str) -> StoredCertificate:
    return stored(ledger, hex32(parse_hex32(digest)))


def _load(ledger: Ledger, grant_id: str) -> Grant | None:
    with ledger.engine.connect() as conn:
        row = conn.execute(select(Grant).where(Grant.id == grant_id)).first()  # type: ignore[arg-type]
    return stored_row(Grant, row._mapping) if row is not None else None


def issuer_standing(ledger: Ledger, department: str) -> str | None:
    """Why ``department`` may not share its certificates now, or None: it must be registered, active and hold the
    issuer role in the registry at the head. A grant is the issuer's standing word: sharing is its act, and a read
    through a grant discloses in its name, so both ask the registry (one call) every time. A suspension or a removed
    issuer role stops its grants being served from the next read on; a reinstatement serves them again (they were
    not revoked)."""
    chain = ledger.chain
    try:
        found = chain.call(chain.registry.functions.department(department_id_bytes(department)))
    except InputError:
        return f"{department!r} is no department code"
    except ChainError as exc:
        if exc.error_name == "RegistryUnknownDepartment":
            return f"department {department!r} is not registered"
        raise
    record = registry_record(found)
    if not record.active:
        return f"the council suspended department {department!r}"
    if "issuer" not in record.roles:
        return f"department {department!r} no longer holds the issuer role"
    return None


def create_grant(ledger: Ledger, *, issuer: str, signer: str, digest: str, grant: GrantCreate, now: datetime) -> Grant:
    """Share certificate ``digest`` of ``issuer`` with ``grant.grantee``; recorded in the access log. The issuer
    must be active with the issuer role (:func:`issuer_standing`), whichever door it comes through (gateway, CLI,
    library)."""
    now = given_time(now, "now")
    cert = _certificate(ledger, digest)
    if cert.department != issuer:
        raise PermissionDenied(f"only the issuing department {cert.department!r} can share certificate {digest}")
    why = issuer_standing(ledger, issuer)
    if why is not None:
        raise PermissionDenied(
            f"{why}: it cannot share certificate {digest} (`ledger departments` shows its status; the council "
            "reinstates a department or grants roles). Nothing was shared"
        )
    if grant.grantee == issuer:
        raise InputError("a department does not need a grant for its own certificates", field="grantee")
    try:
        get_department(ledger.chain, grant.grantee)
    except NotFoundError:
        raise InputError(f"department {grant.grantee!r} is not registered", field="grantee") from None
    expires = aware(grant.expires_at)
    if expires <= now:
        raise InputError(f"expiry {expires.isoformat()} is not in the future", field="expires_at")
    if not grant.purpose.strip():
        raise InputError("state the purpose of the sharing", field="purpose")
    full = custodian_document(ledger, hex32(cert.digest), cert.department)  # StateError: the row was moved
    if grant.reveal is not None:
        CertificateDocument.from_json(full).present(grant.reveal)  # InputError naming unknown fields
    relied_on = consent.for_grant(
        ledger,
        document=full,
        digest=hex32(cert.digest),
        grantee=grant.grantee,
        reveal=grant.reveal,
        consent_id=grant.consent,
        purpose_code=grant.purpose_code,
        expires_at=expires,
        now=now,
    )
    row = Grant(
        id=secrets.token_hex(12),
        digest=hex32(cert.digest),
        issuer=issuer,
        grantee=grant.grantee,
        purpose=grant.purpose.strip(),
        purpose_salt=accesslog.new_purpose_salt(),
        expires_at=expires,
        reveal=grant.reveal,
        created_by=signer,
        created_at=now,
    )
    with ledger.engine.begin() as conn:
        conn.execute(Grant.__table__.insert().values(**row.model_dump()))  # type: ignore[attr-defined]
    if relied_on is not None:
        consent.link(ledger, row.id, relied_on)
    text, salt = logged_purpose(row)
    accesslog.record(
        ledger,
        certificate=row.digest,
        issuer=issuer,
        action="grant",
        outcome="recorded",
        actor=issuer,
        signer=signer,
        at=now,
        grant_id=row.id,
        purpose_text=text,
        purpose_salt=salt,
        detail=f"shared with {row.grantee} until {expires.isoformat()}"
        + (f" on consent {relied_on.id}" if relied_on is not None else ""),
        terms=grant_terms(row.grantee, expires, row.reveal),
    )
    return row


def logged_purpose(grant: Grant) -> tuple[str | None, str | None]:
    """What an access-log entry of ``grant`` (its creation, a read through it, its revocation) is given of its
    purpose: the text and the grant's salt, which :func:`accesslog.record` turns into the salted ``purpose_hash``
    (a grant made before grants had a salt: the unsalted ``purpose_sha256`` its creation entry already holds).
    Nothing once erasure destroyed the text: a hash of the marker tells nobody anything."""
    if grant.purpose == GRANT_PURPOSE_ERASED and grant.purpose_salt is None:
        return None, None
    return grant.purpose, grant.purpose_salt


def grant_terms(grantee: str, expires_at: datetime, reveal: list[str] | None) -> dict[str, Any]:
    """What a grant's creation entry in the anchored access log records of it (``terms``): the department that may
    read, until when, and the fields it discloses (None: the whole certificate). Codes, a time and field names: no
    personal value."""
    return {
        "grantee": grantee,
        "expires_at": aware(expires_at).astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "reveal": sorted(set(reveal)) if reveal is not None else None,
    }


# the text of a grant's creation entry logged before its terms were recorded as such
_LOGGED_CREATION = re.compile(r"shared with (\S+) until (\S+?)(?: on consent \S+)?\Z")


def record_problem(ledger: Ledger, grant: Grant, entries: list[dict[str, Any]] | None = None) -> str | None:
    """Why grant row ``grant`` is not the grant the issuer's access log records (None: it is). The row is plain
    database state; the log is hash-chained and anchored. So a row an insider wrote, revived after its revocation,
    extended past its expiry, pointed at another department or widened to more fields is not served: its creation
    entry must exist and state the row's terms, and no entry may record its revocation. A creation logged before
    the terms were recorded (``terms`` absent) is held to the grantee and expiry its text names. ``entries``: the
    bodies of the issuer's grant entries (:func:`_grant_entries`) when the caller has read them already."""
    if entries is None:
        try:
            entries = logchain.certificate_entries(ledger, grant.issuer, grant.digest, f'"grant":"{grant.id}"')
        except logchain.UnreadableEntry as exc:  # not relied on: the edited entry may be the grant's revocation
            return f"grant {grant.id} cannot be relied on: {exc}"
    bodies = entries
    mine = [b for b in bodies if b.get("grant") == grant.id and b.get("certificate") == grant.digest]
    created = next((b for b in mine if b.get("action") == "grant"), None)
    if created is None:
        return (
            f"grant {grant.id} has no logged creation in {grant.issuer}'s access log: the row was written in the "
            "database, not made by the issuer"
        )
    revoked = next((b for b in mine if b.get("action") == "grant-revoked"), None)
    if revoked is not None:
        return (
            f"grant {grant.id} was revoked at {revoked.get('at')}, as {grant.issuer}'s access log records, but its "
            "row says it is live: the row was changed in the database"
        )
    row = grant_terms(grant.grantee, grant.expires_at, grant.reveal)
    logged = created.get("terms")
    if not isinstance(logged, dict):
        found = _LOGGED_CREATION.match(str(created.get("detail", "")))
        try:
            until = aware(datetime.fromisoformat(found[2])) if found else None
        except ValueError:
            until = None
        if found is None or until is None:
            return f"grant {grant.id}'s logged creation does not state its grantee and expiry; grant again"
        logged = {"grantee": found[1], "expires_at": grant_terms(found[1], until, None)["expires_at"]}
    differ = [name for name in ("grantee", "expires_at", "reveal") if name in logged and logged[name] != row[name]]
    if differ:
        said = ", ".join(f"{name} {logged[name]!r} (the row: {row[name]!r})" for name in differ)
        return (
            f"grant {grant.id}'s row is not the grant its logged creation made, which states {said}: the row was "
            "changed in the database; the issuer grants again to change a grant"
        )
    return _purpose_problem(ledger, grant, created)


def _purpose_problem(ledger: Ledger, grant: Grant, created: dict[str, Any]) -> str | None:
    """Why ``grant``'s row does not state the purpose its logged creation ``created`` hashed (None: it does). Every
    read through the grant is logged, and shown to the data subject and the issuer, under the row's purpose, so a
    text an insider rewrote would be what they are told the certificate was read for (red team round 80). The
    erasure's marker (no salt) stands for the text only once the certificate's contents are erased: erasure clears
    both in one transaction. A creation logged with no hash of its purpose holds the row to nothing."""
    if not any(isinstance(created.get(member), str) for member in ("purpose_hash", "purpose_sha256")):
        return None
    text, salt = logged_purpose(grant)
    if text is None:
        with ledger.engine.connect() as conn:
            erased = conn.execute(
                select(col(Certificate.digest)).where(
                    generations.digest_in(conn, [grant.digest]), col(Certificate.sealed) == ERASED
                )
            ).first()
        if erased is not None:
            return None
        return (
            f"grant {grant.id}'s row says its purpose was erased with the certificate, but the certificate's contents "
            "are not erased: the row was changed in the database; restore it from a backup"
        )
    if accesslog.grant_purpose_matches(created, text, salt):
        return None
    return (
        f"grant {grant.id}'s row states another purpose than the one its logged creation hashed: the row (its "
        "purpose or the salt keying its hash) was changed in the database; restore it from a backup, or the issuer "
        "grants again"
    )


_ENTRIES = LogEntry.__table__  # type: ignore[attr-defined]

# the text every grant creation ('"action":"grant"') and revocation ('"action":"grant-revoked"') entry holds, and
# no read's ('"action":"read"')
_GRANT_ACTIONS = '"action":"grant'


def _grant_entries(
    ledger: Ledger, issuer: str, digest: str | None, unreadable: list[tuple[str, str]] | None = None
) -> list[dict[str, Any]]:
    """The readable bodies of ``issuer``'s access-log entries creating or revoking a grant (on ``digest``, or on any
    certificate), oldest first. An entry edited into something unreadable is left out here (the log's check,
    ``access_log_altered``, names it) and appended to ``unreadable`` as (its stored text, why): a grant whose entries
    it mentions is not relied on (:func:`grant_problems`), as a read through it is not (:func:`record_problem`)."""
    entries = _ENTRIES
    query = select(entries.c.seq, entries.c.body).where(
        entries.c.log == accesslog.LOG,
        entries.c.department_id == issuer,
        entries.c.body.like(f"%{_GRANT_ACTIONS}%"),
    )
    if digest is not None:
        query = query.where(entries.c.lookup == logchain.lookup_key(hex32(parse_hex32(digest))))
    out = []
    with ledger.engine.connect() as conn:
        for seq, body in conn.execute(query.order_by(entries.c.seq)):
            try:
                read = logchain.read_body(body, accesslog.LOG, issuer, seq)
            except logchain.UnreadableEntry as exc:
                if unreadable is not None:
                    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
                    unreadable.append((text, str(exc)))
                continue
            if read.get("action") in ("grant", "grant-revoked") and isinstance(read.get("grant"), str):
                out.append(read)
    return out


@dataclass(frozen=True)
class GrantProblem:
    """A grant whose row is not the one the issuer's anchored access log records (``altered``) or that the log
    records with no row left (``missing``); ``detail`` starts with ``grant <id>``."""

    kind: str  # "altered" | "missing"
    grant: str
    certificate: str
    detail: str


def grant_problems(ledger: Ledger, issuer: str, digest: str | None = None) -> list[GrantProblem]:
    """Every grant of ``issuer`` (on ``digest``, or on all its certificates) whose row disagrees with the grant its
    access log records (:func:`record_problem`: revived, extended, pointed elsewhere, widened, or written with no
    logged creation), and every grant the log records whose row is gone: what the rows alone would hide from the
    issuer's and the auditors' view of how a certificate was shared. Two reads: the rows, the log's grant entries."""
    rows = list_grants(ledger, digest=digest, issuer=issuer)
    unreadable: list[tuple[str, str]] = []
    logged = _grant_entries(ledger, issuer, digest, unreadable)
    by_grant: dict[str, list[dict[str, Any]]] = {}
    for body in logged:
        by_grant.setdefault(body["grant"], []).append(body)
    out = []
    for row in rows:
        bodies = by_grant.get(row.id, [])
        problem: str | None
        if row.revoked_at is None:  # a live row: what a read through it is held to
            # an entry of it edited past reading (its revocation, maybe) fails it, as it fails a read through it
            garbled = next((why for text, why in unreadable if f'"grant":"{row.id}"' in text), None)
            if garbled is not None:
                problem = f"grant {row.id} cannot be relied on: {garbled}"
            else:
                problem = record_problem(ledger, row, bodies)
        else:  # a revoked row: its terms as logged, and its revocation logged too
            problem = record_problem(ledger, row, [b for b in bodies if b.get("action") != "grant-revoked"])
            if problem is None and not any(b.get("action") == "grant-revoked" for b in bodies):
                problem = (
                    f"grant {row.id}'s row says it was revoked at {aware(row.revoked_at).isoformat()}, but "
                    f"{issuer}'s access log records no revocation of it: the row was changed in the database"
                )
        if problem is not None:
            out.append(GrantProblem("altered", row.id, row.digest, problem))
    kept = {row.id for row in rows}
    for grant_id, bodies in by_grant.items():
        created = next((b for b in bodies if b.get("action") == "grant"), None)
        if created is None or grant_id in kept:
            continue
        stated = created.get("terms")
        terms: dict[str, Any] = stated if isinstance(stated, dict) else {}
        out.append(
            GrantProblem(
                "missing",
                grant_id,
                str(created.get("certificate")),
                f"grant {grant_id} (to {terms.get('grantee') or created.get('detail')}, made at {created.get('at')}) is "
                f"recorded in {issuer}'s access log but its row is gone: it was deleted in the database",
            )
        )
    return out


def listed(ledger: Ledger, grants: Sequence[Grant], now: datetime) -> list[GrantPublic]:
    """``grants`` as a listing shows them: each row judged against the grant its issuer's anchored access log
    records (:func:`grant_problems`, as the full timeline and reconcile judge it), so a row an insider revived,
    rewrote or wrote without a logged creation is shown not live, with its ``problem``; the row's own word alone
    would show it live (the gateway serves no read through it). Two reads per (issuer, certificate) listed. A live
    grant of an issuer that cannot act now (:func:`issuer_standing`: suspended, or without the issuer role) is shown
    not live either, naming why, as a read through it is refused: one registry read per issuer listed."""
    now = given_time(now, "now")
    problems: dict[str, str] = {}
    for issuer, digest in sorted({(g.issuer, g.digest) for g in grants}):
        problems.update((p.grant, p.detail) for p in grant_problems(ledger, issuer, digest) if p.kind == "altered")
    standing: dict[str, str | None] = {}
    out = []
    for grant in grants:
        shown = grant.public(now)
        if grant.id in problems:
            shown = shown.model_copy(update={"live": False, "problem": problems[grant.id]})
        elif shown.live:
            if grant.issuer not in standing:
                standing[grant.issuer] = issuer_standing(ledger, grant.issuer)
            why = standing[grant.issuer]
            if why is not None:
                shown = shown.model_copy(update={"live": False, "problem": f"the grant stands but {why}"})
        out.append(shown)
    return out


def revoke_grant(ledger: Ledger, *, issuer: str, signer: str, grant_id: str, now: datetime) -> Grant:
    now = given_time(now, "now")
    grant = _load(ledger, grant_id)
    if grant is None or grant.issuer != issuer:
        raise NotFoundError(f"grant {grant_id} is not one of {issuer}'s grants")
    if grant.revoked_at is not None:
        raise StateError(f"grant {grant_id} was already revoked at {aware(grant.revoked_at).isoformat()}")
    with ledger.engine.begin() as conn:
        # only a live grant: of two revocations at once, one revokes (and is logged), the other is told it is done
        done = conn.execute(
            update(Grant)
            .where(col(Grant.id) == grant_id, col(Grant.revoked_at).is_(None))
            .values(revoked_at=now, revoked_by=signer)
        )
    if done.rowcount != 1:
        raise StateError(f"grant {grant_id} was revoked by another request at the same time")
    text, salt = logged_purpose(grant)
    accesslog.record(
        ledger,
        certificate=grant.digest,
        issuer=issuer,
        action="grant-revoked",
        outcome="recorded",
        actor=issuer,
        signer=signer,
        at=now,
        grant_id=grant_id,
        purpose_text=text,
        purpose_salt=salt,
        detail=f"grant to {grant.grantee} revoked",
    )
    updated = _load(ledger, grant_id)
    if updated is None:
        raise NotFoundError(f"grant {grant_id} was deleted while it was being revoked; list the grants again")
    return updated


def list_grants(
    ledger: Ledger,
    *,
    digest: str | None = None,
    issuer: str | None = None,
    grantee: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[Grant]:
    """Grants, oldest first (ties by id). ``after`` (a grant id of this list) and ``limit`` give one page of it
    (keyset paging: a page costs the same however long the list, and grants made meanwhile are not skipped);
    InputError when ``after`` names no grant of the list."""
    query = select(Grant).order_by(Grant.created_at, Grant.id)  # type: ignore[arg-type]
    issuer_column: Any = col(Grant.issuer)  # a column, or below an expression of it
    grantee_column: Any = col(Grant.grantee)
    if digest is not None:
        query = query.where(Grant.digest == hex32(parse_hex32(digest)))  # type: ignore[arg-type]
        # the certificate's index finds its few grants; its issuer and grantee are then compared as text no index
        # serves, so no database walks and sorts every grant the issuer made or the grantee received instead
        # (SQLite, which keeps no statistics, chose their index: a read through a grant cost more with every grant
        # its reader ever received, red team round 74)
        issuer_column, grantee_column = issuer_column.concat(""), grantee_column.concat("")
    if issuer is not None:
        query = query.where(issuer_column == issuer)
    if grantee is not None:
        query = query.where(grantee_column == grantee)
    with ledger.engine.connect() as conn:
        rows = _keyset.page(conn, query, col(Grant.created_at), col(Grant.id), after=after, limit=limit, noun="grant")
        return [stored_row(Grant, r._mapping) for r in rows]


def live_grant(ledger: Ledger, digest: str, grantee: str, now: datetime) -> Grant | None:
    now = given_time(now, "now")
    live = [g for g in list_grants(ledger, digest=digest, grantee=grantee) if g.is_live(now)]
    return max(live, key=lambda g: aware(g.expires_at)) if live else None


def _why_not(ledger: Ledger, digest: str, grantee: str, now: datetime) -> str:
    grants = list_grants(ledger, digest=digest, grantee=grantee)
    if not grants:
        return f"department {grantee!r} holds no grant for this certificate"
    latest = max(grants, key=lambda g: aware(g.created_at))
    if latest.revoked_at is not None:
        return f"grant {latest.id} was revoked at {aware(latest.revoked_at).isoformat()}"
    if aware(latest.expires_at) <= now:
        return f"grant {latest.id} expired at {aware(latest.expires_at).isoformat()}"
    return f"grant {latest.id} is not yet valid"


def _grant_with_consent(
    ledger: Ledger, digest: str, grantee: str, now: datetime, issuer: str
) -> tuple[Grant | None, str | None, dict[str, Any] | None]:
    """The live grant whose consent (if it needs one) holds now, longest-lasting first, with the certificate's
    document (``issuer``'s, as its store row says); else the reason."""
    live = sorted(
        (g for g in list_grants(ledger, digest=digest, grantee=grantee) if g.is_live(now)),
        key=lambda g: aware(g.expires_at),
        reverse=True,
    )
    if not live:
        return None, None, None
    try:
        document = custodian_document(ledger, digest, issuer)
    except ErasedError:
        raise
    except StateError as exc:  # the row names another issuer than the sealed fields: not served through it
        return None, str(exc), None
    reasons = []
    for grant in live:
        reason = consent.grant_problem(ledger, grant, now, document) or record_problem(ledger, grant)
        if reason is None:
            return grant, None, document
        reasons.append(f"grant {grant.id}: {reason}")
    return None, "; ".join(reasons), document


@dataclass(frozen=True)
class Content:
    document: dict[str, Any]
    grant: Grant | None
    access_seq: int | None


RefusalThrottle = Callable[[str, str, str, str | None, str, datetime], str | None]
"""``(certificate, department, reason, signer, issuer, now)`` -> the text to add to the refusal's entry, or None
when the attempt is only counted (the gateway's ``RefusalLog``: one entry per department, certificate and reason
per window, so a signed-in department cannot grow another's access log at its request rate)."""


def fetch_content(
    ledger: Ledger, digest: str, attempt: Attempt, *, now: datetime, throttle: RefusalThrottle | None = None
) -> Content:
    """The certificate's content for the caller, or PermissionDenied/AuthenticationError; always logged (with
    ``throttle``, a signed-in department's repeated refusals are counted rather than written one by one)."""
    now = given_time(now, "now")
    key = hex32(parse_hex32(digest))
    try:
        cert = _certificate(ledger, key)
    except (NotFoundError, InputError):
        cert = None
    principal = attempt.principal

    def refuse(reason: str, error: Exception) -> Exception:
        if cert is not None:  # an unknown certificate has no owner whose log could hold the attempt
            detail = reason
            if throttle is not None and principal is not None:
                note = throttle(key, principal.department, reason, attempt.signer, cert.department, now)
                if note is None:
                    return error  # counted: written with the next entry, or by the anchoring round
                detail += note
            accesslog.record(
                ledger,
                certificate=key,
                issuer=cert.department,
                action="read",
                outcome="refused",
                actor=attempt.department,
                signer=attempt.signer,
                at=now,
                detail=detail,
                authenticated=principal is not None,
            )
        return error

    if principal is None:
        failure = attempt.failure or PermissionDenied("not authenticated")
        raise refuse(str(failure), failure)
    # Unknown certificates and certificates without a live grant get the same answer, so the gateway is no oracle
    # for which digests exist.
    no_grant = f"department {principal.department!r} has no live grant to read certificate {key}"
    if cert is None:
        raise PermissionDenied(no_grant)
    if cert.department == principal.department:
        if not principal.has("issuer"):
            raise refuse(
                "the issuing department no longer holds the issuer role",
                PermissionDenied(f"department {principal.department!r} lacks the issuer role"),
            )
        try:
            document = custodian_document(ledger, key, cert.department)
        except ErasedError:
            raise
        except StateError as exc:  # a row moved to this department: its sealed fields are another's
            raise refuse(str(exc), exc) from None
        entry = accesslog.record(
            ledger,
            certificate=key,
            issuer=cert.department,
            action="read",
            outcome="served",
            actor=principal.department,
            signer=principal.signer,
            at=now,
            detail="issuing department read its own certificate",
        )
        return Content(document, None, entry.seq)
    grant = live_grant(ledger, key, principal.department, now)
    if grant is None:
        raise refuse(_why_not(ledger, key, principal.department, now), PermissionDenied(no_grant))
    grant, consent_refusal, full = _grant_with_consent(ledger, key, principal.department, now, cert.department)
    if grant is None or full is None:  # consent missing, withdrawn or expired: not served, from this request on
        raise refuse(consent_refusal or no_grant, PermissionDenied(f"{no_grant}: {consent_refusal}"))
    standing = issuer_standing(ledger, cert.department)
    if standing is not None:  # the grant stands, but nothing is disclosed in the name of an issuer that cannot act
        raise refuse(
            f"grant {grant.id} is live but {standing}",
            PermissionDenied(f"{no_grant}: grant {grant.id} is live but {standing}, so nothing is served through it"),
        )
    if not principal.has("verifier"):
        raise refuse(
            f"grant {grant.id} is live but {principal.department} lacks the verifier role",
            PermissionDenied(
                f"reading shared certificates needs the verifier role; "
                f"{principal.department!r} has {list(principal.roles)}"
            ),
        )
    document = full
    if grant.reveal is not None:
        document = CertificateDocument.from_json(document).present(grant.reveal).to_json()
    text, salt = logged_purpose(grant)
    entry = accesslog.record(
        ledger,
        certificate=key,
        issuer=cert.department,
        action="read",
        outcome="served",
        actor=principal.department,
        signer=principal.signer,
        at=now,
        grant_id=grant.id,
        purpose_text=text,
        purpose_salt=salt,
        detail="full certificate" if grant.reveal is None else f"presentation revealing {sorted(grant.reveal)}",
    )
    return Content(document, grant, entry.seq)


def own_certificate(ledger: Ledger, digest: str, department: str) -> StoredCertificate:
    """Certificate ``digest`` if ``department`` issued it; PermissionDenied if another department did."""
    cert = _certificate(ledger, digest)
    if cert.department != department:
        raise PermissionDenied(
            f"certificate {hex32(cert.digest)} was issued by {cert.department!r}; only the "
            f"issuing department may do this"
        )
    # the row's issuer column is the store's word: its sealed fields must say so too (StateError: the row was moved)
    check_custodian(ledger, hex32(cert.digest), department)
    return cert


def audited_certificate(ledger: Ledger, digest: str) -> StoredCertificate:
    """Certificate ``digest`` for a reader of any department's certificates (an auditor), who is then answered from
    the department its store row names (its reads, from that department's access log): StateError unless that is
    the certificate's issuer - the one its sealed fields state, or, once its contents were erased, whose own
    ``erasures`` log records the erasure - and its batch's department. An insider who moved the row (or the row and
    its batch) to another department had the auditor shown that department's log of it: no reads (red team round
    80); the issuer's own requests compare the row as :func:`own_certificate` does."""
    cert = _certificate(ledger, digest)
    key = hex32(cert.digest)
    check_custodian(ledger, key, cert.department)  # StateError: the sealed fields name another issuer
    with ledger.engine.connect() as conn:
        batch = conn.execute(select(col(Batch.department_id)).where(col(Batch.root) == hex32(cert.root))).scalar()
        erased = conn.execute(
            select(col(Certificate.digest)).where(generations.digest_in(conn, [key]), col(Certificate.sealed) == ERASED)
        ).first()
    moved = None
    if batch != cert.department:
        moved = f"its batch {hex32(cert.root)} is {batch!r}'s"
    elif erased is not None and erasure.recorded_entry(ledger, cert.department, key) is None:
        moved = f"its contents are erased and {cert.department}'s erasures log records no erasure of it"
    if moved is not None:
        raise StateError(
            f"certificate {key}'s store row names {cert.department} as its issuer, but {moved}: the row was changed "
            "in the database, so nothing of it is read from that department's logs; `ledger reconcile` names it: "
            "restore the row"
        )
    return cert


def subject_accesses(
    ledger: Ledger,
    *,
    digest: str,
    assertion: consent.SignedAssertion,
    now: datetime,
    providers: dict[str, consent.Provider] | None = None,
) -> list[dict[str, Any]]:
    """Every read of certificate ``digest``, served or refused, with the department and its purpose, for its data
    subject only: ``assertion`` is the person's, from a configured provider, bound to
    :func:`consent.accesses_request` of this certificate, and single use. The whole list, for the library's
    callers; the gateway answers :func:`subject_read_page`, a page at a time.

    Holding the complete certificate file is no proof of being the person: a department granted the whole
    certificate holds every field and salt too, and must not learn who else read it and why."""
    now = given_time(now, "now")
    return subject_read_page(ledger, digest=digest, assertion=assertion, now=now, providers=providers).reads


def subject_read_page(
    ledger: Ledger,
    *,
    digest: str,
    assertion: consent.SignedAssertion,
    now: datetime,
    after: tuple[str, int] | None = None,
    limit: int | None = None,
    providers: dict[str, consent.Provider] | None = None,
) -> accesslog.ReadsPage:
    """The reads of certificate ``digest`` after the place ``after`` (department, seq: the last place of the page
    before), at most ``limit`` entries of its issuer's log read, for its data subject only, as
    :func:`subject_accesses` checks (each page with an assertion of its own: one is spent per answer). Any
    department a grant lets read the certificate can grow the list without bound, so it is never answered whole
    to a client. A place in another department's log is no place in this list (InputError)."""
    now = given_time(now, "now")
    key = hex32(parse_hex32(digest))
    subject, cert, _ = consent.authenticate_subject(
        ledger, assertion, certificate=key, request=consent.accesses_request(key), now=now, providers=providers
    )
    if after is not None and after[0] != cert.department:
        raise InputError(
            f"after={after[0]}:{after[1]} is no place in this certificate's list of reads; start without `after`, "
            "then follow the Link header's next page",
            field="after",
        )
    consent.spend_assertion(ledger, subject)
    return accesslog.read_page(ledger, key, cert.department, after=after, limit=limit)
