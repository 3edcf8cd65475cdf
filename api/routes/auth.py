"""Sign-in: a challenge to sign with the department's registered key, exchanged for a short-lived token."""

from __future__ import annotations

from fastapi import APIRouter, status

from ..deps import AuthenticatorDep, CurrentDepartment, NowDep, signin_prechecks
from ..limits import GuardedRoute, prechecked
from ..models import ChallengeCreate, ChallengePublic, PrincipalPublic, TokenCreate, TokenPublic
from ..problems import AUTHED, PUBLIC, R401, R403

router = APIRouter(prefix="/auth", tags=["auth"], route_class=GuardedRoute)


@router.post(
    "/challenge",
    status_code=status.HTTP_201_CREATED,
    response_model=ChallengePublic,
    responses=PUBLIC,
)
@prechecked(signin_prechecks)  # the budget before the body is read (red team 34b)
def create_challenge(body: ChallengeCreate, auth: AuthenticatorDep, now: NowDep) -> ChallengePublic:
    """A one-time challenge for a department to sign (EIP-191 personal_sign) with its registered key.

    The text is a Sign-In with Ethereum (EIP-4361) message bound to this gateway (its public URL), the chain,
    the registry, the department and a nonce; it works only here, once, before it expires. Issued for any
    well-formed department code, so it does not reveal which departments exist.
    """
    challenge = auth.challenge(body.department, now=now, address=body.address)
    return ChallengePublic(
        challenge_id=challenge.id,
        department=challenge.department,
        message=challenge.message,
        expires_at=challenge.expires_at,
    )


@router.post(
    "/token",
    response_model=TokenPublic,
    responses={**PUBLIC, **R401, **R403},
)
@prechecked(signin_prechecks)  # the budget before the body is read (red team 34b)
def create_token(body: TokenCreate, auth: AuthenticatorDep, now: NowDep) -> TokenPublic:
    """Exchange a signed challenge for a bearer token. The signer must be the department's *current* key and the
    department active; each challenge works once."""
    token = auth.exchange(body.challenge_id, body.signature, now=now)
    p = token.principal
    return TokenPublic(
        access_token=token.value, expires_at=p.expires_at, department=p.department, signer=p.signer, roles=list(p.roles)
    )


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=AUTHED)
def sign_out(principal: CurrentDepartment, auth: AuthenticatorDep, now: NowDep) -> None:
    """Sign out: the bearer token is refused from now on (the department's other tokens stay valid).

    Tokens also end when they expire, and all of a department's tokens end when the council suspends it or
    rotates its key (a reinstatement does not revive them)."""
    auth.sign_out(principal, now=now)


@router.get("/me", response_model=PrincipalPublic, responses=AUTHED)
def read_me(principal: CurrentDepartment) -> PrincipalPublic:
    """Who the token identifies, with the roles the registry gives the department right now."""
    return PrincipalPublic(
        department=principal.department,
        signer=principal.signer,
        roles=list(principal.roles),
        expires_at=principal.expires_at,
    )
