"""Certificates: issue, read (issuer or live grant, every attempt logged), revoke, supersede, share, provenance."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from ledger.formats.canonical import hex32
from ledger.services import accesslog, provenance, sharing
from ledger.services.auth import PermissionDenied
from ledger.services.status import revoke, supersede

from .. import services
from ..deps import CallerAttempt, CurrentDepartment, Issuer, LedgerDep, NowDep, SettingsDep, StrictJsonBody
from ..limits import GuardedRoute
from ..models import (
    DIGEST_EXAMPLE,
    DIGEST_PATTERN,
    AccessEntry,
    ContentPublic,
    IssueCreate,
    IssuePublic,
    RevokeCreate,
    StatusChangePublic,
    SupersedeCreate,
    TimelinePublic,
)
from ..paging import IdPageDep, PageDep, last_place
from ..problems import AUTHED, R404, R409, R413

router = APIRouter(prefix="/certificates", tags=["certificates"], route_class=GuardedRoute)

Digest = Annotated[
    str, Path(pattern=DIGEST_PATTERN, description="Certificate digest (0x + 64 hex digits).", examples=[DIGEST_EXAMPLE])
]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=IssuePublic,
    dependencies=[StrictJsonBody],
    responses={**AUTHED, **R409, **R413},
)
def issue_certificates(body: IssueCreate, issuer: Issuer, ledger: LedgerDep, settings: SettingsDep) -> IssuePublic:
    """Issue certificates from JSON records (issuer role): validated, salted, batched, signed and anchored."""
    return services.issue(ledger, issuer.department, body.records, limit=settings.max_issue_records)


@router.get("/{digest}/content", response_model=ContentPublic, responses={**AUTHED, **R409})
def read_content(
    digest: Digest, attempt: CallerAttempt, ledger: LedgerDep, now: NowDep, request: Request
) -> ContentPublic:
    """The certificate's content: the whole document for its issuer; for another department the presentation its
    live grant allows (verifier role). Otherwise 403 (also for unknown digests). Every attempt, served or refused,
    is appended to the issuer's access log; refusals of callers without a valid token anonymously and at most
    once per certificate per `refusal_log_window_seconds`, with the count of the others."""
    if attempt.principal is None:
        request.app.state.refusals.record(ledger, digest, token_sent="authorization" in request.headers, now=now)
        raise attempt.failure or PermissionDenied("not authenticated")
    content = sharing.fetch_content(ledger, digest, attempt, now=now, throttle=request.app.state.refusals.signed_in)
    grant = content.grant.public(now).model_dump(mode="json") if content.grant else None
    return ContentPublic(
        digest=hex32(bytes.fromhex(digest[2:])), document=content.document, grant=grant, access_seq=content.access_seq
    )


@router.post(
    "/{digest}/revoke",
    response_model=StatusChangePublic,
    dependencies=[StrictJsonBody],
    responses={**AUTHED, **R404, **R409},
)
def revoke_certificate(
    digest: Digest, body: RevokeCreate, issuer: Issuer, ledger: LedgerDep, request: Request
) -> StatusChangePublic:
    """Revoke one of the caller's own certificates, on chain (terminal)."""
    cert = sharing.own_certificate(ledger, digest, issuer.department)
    tx = revoke(ledger, hex32(cert.digest), body.reason)
    services.fresh_head(request.app.state.view)  # this gateway's next verification shows it
    return StatusChangePublic(digest=hex32(cert.digest), action="revoke", tx_hash=tx)


@router.post(
    "/{digest}/supersede",
    response_model=StatusChangePublic,
    dependencies=[StrictJsonBody],
    responses={**AUTHED, **R404, **R409},
)
def supersede_certificate(
    digest: Digest, body: SupersedeCreate, issuer: Issuer, ledger: LedgerDep, request: Request
) -> StatusChangePublic:
    """Mark one of the caller's certificates as replaced by another of its certificates, on chain (terminal)."""
    old = sharing.own_certificate(ledger, digest, issuer.department)
    new = sharing.own_certificate(ledger, body.successor, issuer.department)
    tx = supersede(ledger, hex32(old.digest), hex32(new.digest))
    services.fresh_head(request.app.state.view)  # this gateway's next verification shows it
    return StatusChangePublic(digest=hex32(old.digest), action="supersede", tx_hash=tx)


@router.post(
    "/{digest}/grants",
    status_code=status.HTTP_201_CREATED,
    response_model=sharing.GrantPublic,
    dependencies=[StrictJsonBody],
    responses={**AUTHED, **R404},
)
def create_grant(
    digest: Digest, body: sharing.GrantCreate, issuer: Issuer, ledger: LedgerDep, now: NowDep
) -> sharing.GrantPublic:
    """Share one of the caller's certificates with another department, for a stated purpose, until an expiry
    (on its own behalf or for the holder who asked it to). Recorded in the access log."""
    grant = sharing.create_grant(
        ledger, issuer=issuer.department, signer=issuer.signer, digest=digest, grant=body, now=now
    )
    return grant.public(now)


@router.get("/{digest}/grants", response_model=list[sharing.GrantPublic], responses={**AUTHED, **R404})
def list_grants(
    digest: Digest,
    issuer: Issuer,
    ledger: LedgerDep,
    now: NowDep,
    page: IdPageDep,
    request: Request,
    response: Response,
) -> list[sharing.GrantPublic]:
    """Every grant on one of the caller's certificates, live or not, oldest first, a page at a time (the next named
    by a `Link: <...>; rel="next"` header)."""
    sharing.own_certificate(ledger, digest, issuer.department)
    grants = sharing.list_grants(ledger, digest=digest, after=page.after, limit=page.limit)
    page.link(request, response, len(grants), grants[-1].id if grants else None)
    return sharing.listed(ledger, grants, now)


@router.get("/{digest}/accesses", response_model=list[AccessEntry], responses={**AUTHED, **R404})
def list_accesses(
    digest: Digest, caller: CurrentDepartment, ledger: LedgerDep, page: PageDep, request: Request, response: Response
) -> list[AccessEntry]:
    """Every read of and refused attempt on the certificate (its issuer, or an auditor), with anchoring state,
    oldest first, a page at a time (the `Link` header names the next page)."""
    cert = _issuer_or_auditor(ledger, digest, caller)
    found = accesslog.entries(
        ledger, department=cert.department, certificate=hex32(cert.digest), after=page.after, limit=page.limit
    )
    page.link(
        request, response, len(found), last_place(found)
    )  # counted before grant events are left out: a page may hold fewer reads
    return [AccessEntry(**a) for a in accesslog.reads(found)]


@router.get("/{digest}/provenance", response_model=TimelinePublic, responses={**AUTHED, **R404})
def read_provenance(digest: Digest, caller: CurrentDepartment, ledger: LedgerDep, now: NowDep) -> TimelinePublic:
    """The full timeline (issuer or auditor): issuance, anchoring, signature, grants, accesses, decisions that used
    it, suspension, revocation, supersession."""
    cert = _issuer_or_auditor(ledger, digest, caller)
    return TimelinePublic(**provenance.timeline(ledger, hex32(cert.digest), now=now, private=True))


def _issuer_or_auditor(ledger: LedgerDep, digest: str, caller: CurrentDepartment) -> sharing.StoredCertificate:
    if not (caller.has("issuer") or caller.has("auditor")):
        raise PermissionDenied(
            f"this needs the issuer (of the certificate) or auditor role; department "
            f"{caller.department!r} has {list(caller.roles)}"
        )
    if caller.has("auditor"):  # answered from the logs of the department the row names: it must be the issuer's
        return sharing.audited_certificate(ledger, hex32(bytes.fromhex(digest[2:])))
    return sharing.own_certificate(ledger, digest, caller.department)
