"""Grants seen from both sides: the receiving department's list, and revocation by the issuing department."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from ledger.services import sharing

from ..deps import Issuer, LedgerDep, NowDep, Verifier
from ..limits import GuardedRoute
from ..problems import AUTHED, R404, R409

router = APIRouter(prefix="/grants", tags=["sharing"], route_class=GuardedRoute)


@router.get("/received", response_model=list[sharing.GrantPublic], responses=AUTHED)
def received_grants(verifier: Verifier, ledger: LedgerDep, now: NowDep) -> list[sharing.GrantPublic]:
    """Grants made to the caller's department (verifier role), live or not; read each via its certificate's
    ``/certificates/{digest}/content``."""
    return [g.public(now) for g in sharing.list_grants(ledger, grantee=verifier.department)]


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
