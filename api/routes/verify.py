"""Verification: the full report for verifiers, and the public, rate-limited form for courts and citizens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from ledger import provenance, sharing
from ledger.canonical import hex32
from ledger.verify import ChainView, verify_certificate

from .. import services
from ..deps import LedgerDep, NowDep, RateLimitedPublic, Verifier
from ..models import (DIGEST_EXAMPLE, DIGEST_PATTERN, AccessEntry, HolderAccessesCreate, PublicReport,
                      PublicVerifyCreate, ReportPublic, TimelinePublic, VerifyCreate)
from ..problems import AUTHED, PUBLIC, R403, R404

router = APIRouter(tags=["verification"])

Digest = Annotated[str, Path(pattern=DIGEST_PATTERN, description="Certificate digest (0x + 64 hex digits).",
                             examples=[DIGEST_EXAMPLE])]


def _view(request: Request) -> ChainView:
    return request.app.state.view  # type: ignore[no-any-return]


@router.post("/verify", response_model=ReportPublic, responses=AUTHED)
def verify(body: VerifyCreate, verifier: Verifier, request: Request) -> ReportPublic:
    """Verify a certificate or presentation (verifier role): every check, with the facts found on chain."""
    report = verify_certificate(body.document, _view(request), at=body.at)
    return ReportPublic(**report.to_json())


@router.post("/public/verify", response_model=PublicReport, dependencies=[RateLimitedPublic],
             responses={**PUBLIC, **R404})
def public_verify(body: PublicVerifyCreate, ledger: LedgerDep, request: Request) -> PublicReport:
    """Anyone may check a certificate file or a digest: verified or not, each check, status and issuer. No personal
    field is ever returned. Rate-limited per client address (429 with Retry-After)."""
    return services.public_report(ledger, _view(request), document=body.document, digest=body.digest)


@router.get("/public/certificates/{digest}/timeline", response_model=TimelinePublic,
            dependencies=[RateLimitedPublic], responses={**PUBLIC, **R404})
def public_timeline(digest: Digest, ledger: LedgerDep, now: NowDep) -> TimelinePublic:
    """The public timeline: issuance (type, issuer), anchoring, signature and status changes, all from the chain."""
    return TimelinePublic(**provenance.timeline(ledger, hex32(bytes.fromhex(digest[2:])), now=now, private=False))


@router.post("/public/holder/accesses", response_model=list[AccessEntry], dependencies=[RateLimitedPublic],
             responses={**PUBLIC, **R403})
def holder_accesses(body: HolderAccessesCreate, ledger: LedgerDep) -> list[AccessEntry]:
    """The holder's view of who read their certificate: send the complete certificate file (every field with its
    salt) as proof of holding it."""
    _, entries = sharing.holder_accesses(ledger, body.document)
    return [AccessEntry(**e) for e in entries]
