"""Grants seen from both sides: the receiving department's list, and revocation by the issuing department."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from ledger.services import sharing

from ..deps import Issuer, LedgerDep, NowDep, Verifier
from ..limits import GuardedRoute
from ..paging import IdPageDep
from ..problems import AUTHED, R404, R409

router = APIRouter(prefix="/grants", tags=["sharing"], route_class=GuardedRoute)


@router.get("/received", response_model=list[sharing.GrantPublic], responses=AUTHED)
def received_grants(
    verifier: Verifier, ledger: LedgerDep, now: NowDep, page: IdPageDep, request: Request, response: Response
) -> list[sharing.GrantPublic]:
    """Grants made to the caller's department (verifier role), live or not, oldest first, a page at a time (the
    next named by a `Link: <...>; rel="next"` header): any issuer can add to this list, so it is never answered
    whole. Read each via its certificate's ``/certificates/{digest}/content``."""
    grants = sharing.list_grants(ledger, grantee=verifier.department, after=page.after, limit=page.limit)
    page.link(request, response, len(grants), grants[-1].id if grants else None)
    return sharing.listed(ledger, grants, now)


@router.delete("/{grant_id}", response_model=sharing.GrantPublic, responses={**AUTHED, **R404, **R409})
def revoke_grant(
    grant_id: Annotated[str, Path(max_length=32, examples=["9c1d2e3f4a5b6c7d8e9f0a1b"])],
    issuer: Issuer,
    ledger: LedgerDep,
    now: NowDep,
) -> sharing.GrantPublic:
    """Revoke one of the caller's grants at once; the next read by the grantee is refused (and logged)."""
    return sharing.revoke_grant(
        ledger, issuer=issuer.department, signer=issuer.signer, grant_id=grant_id, now=now
    ).public(now)
