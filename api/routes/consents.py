"""Consent of the data subject (docs/privacy.md#consent-from-the-person): given and withdrawn by the person, with
an assertion of the department's authentication provider; listed and checked by the issuing department."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField

from ledger.services import consent, sharing

from ..deps import Issuer, LedgerDep, NowDep, public_prechecks
from ..limits import GuardedRoute, prechecked, run_whole_log
from ..models import DIGEST_EXAMPLE, DIGEST_PATTERN, AccessEntry
from ..paging import IdPageDep, PageDep
from ..problems import AUTHED, PUBLIC, R403, R404, R409

router = APIRouter(tags=["consent"], route_class=GuardedRoute)

ConsentId = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$", examples=["9c1d2e3f4a5b6c7d8e9f0a1b"])]
Digest = Annotated[
    str, Path(pattern=DIGEST_PATTERN, description="Certificate digest (0x + 64 hex digits).", examples=[DIGEST_EXAMPLE])
]


_ASSERTION_EXAMPLE: dict[str, Any] = {
    "assertion": {
        "type": consent.ASSERTION_TYPE,
        "provider": "gov-id-app",
        "subject": "440300198001010000",
        "assurance": "substantial",
        "audience": "provenance-ledger:31337:0x5fbdb2315678afecb367f032d93f642f64180aa3",
        "issued_at": "2026-03-01T10:00:00Z",
        "expires_at": "2026-03-01T10:05:00Z",
        "nonce": "4f1c2b7a9e0d3c5b8a6f1e2d3c4b5a69",
        "request": "0x" + "5c" * 32,
    },
    "signature": "0x" + "11" * 65,
}


class ConsentGive(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "assertion": _ASSERTION_EXAMPLE,
                    "consent": {
                        "certificate": DIGEST_EXAMPLE,
                        "recipient": "INS",
                        "purpose_code": "insurance-claim",
                        "purpose_text": "medical insurance claim 2026-0042",
                        "fields": ["subject.name"],
                        "expires_at": "2026-12-31T23:59:59Z",
                    },
                }
            ]
        },
    )
    assertion: consent.SignedAssertion
    consent: consent.ConsentCreate


class SubjectAccessesCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"certificate": DIGEST_EXAMPLE, "assertion": _ASSERTION_EXAMPLE}]},
    )
    certificate: str = PField(pattern=DIGEST_PATTERN, description="Digest of the person's certificate.")
    assertion: consent.SignedAssertion = PField(
        description="The provider's assertion that the certificate's "
        "subject asked for this list (bound to it, single use)."
    )


class SubjectOnly(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"assertion": _ASSERTION_EXAMPLE}]})
    assertion: consent.SignedAssertion


@router.post(
    "/public/consents",
    status_code=status.HTTP_201_CREATED,
    response_model=consent.ConsentPublic,
    responses={**PUBLIC, **R403},
)
@prechecked(public_prechecks)  # the budget before the body is read (red team 34b)
def give_consent(body: ConsentGive, ledger: LedgerDep, now: NowDep) -> consent.ConsentPublic:
    """The data subject consents to their certificate's fields going to one department for one purpose until an
    expiry. ``assertion`` is what their authentication provider signed for them (single use), bound to exactly
    this ``consent`` (its ``request`` is the digest of the canonical request, docs/privacy.md); the record is
    signed by this gateway and logged in the issuer's anchored access log. 403 if the assertion is not believed,
    was signed for another request, or the person is not the certificate's subject."""
    return consent.give(ledger, assertion=body.assertion, consent=body.consent, now=now).public(now)


@router.post(
    "/public/consents/{consent_id}/withdraw",
    response_model=consent.ConsentPublic,
    responses={**PUBLIC, **R403, **R404, **R409},
)
@prechecked(public_prechecks)  # the budget before the body is read (red team 34b)
def withdraw_consent(consent_id: ConsentId, body: SubjectOnly, ledger: LedgerDep, now: NowDep) -> consent.ConsentPublic:
    """The data subject withdraws a consent, with an assertion bound to this withdrawal (docs/privacy.md); grants
    relying on it are refused from the next request on."""
    return consent.withdraw(ledger, assertion=body.assertion, consent_id=consent_id, now=now).public(now)


@router.post(
    "/public/consents/mine",
    response_model=list[consent.ConsentPublic],
    responses={**PUBLIC, **R403},
)
@prechecked(public_prechecks)  # the budget before the body is read (red team 34b)
def my_consents(
    body: SubjectOnly, ledger: LedgerDep, now: NowDep, page: IdPageDep, request: Request, response: Response
) -> list[consent.ConsentPublic]:
    """Every consent the authenticated person gave, live or not (the assertion bound to the listing), oldest first,
    a page at a time (the `Link` header names the next page, asked for with the same body and a new assertion)."""
    found = consent.list_consents(ledger, assertion=body.assertion, now=now, after=page.after, limit=page.limit)
    page.link(request, response, len(found), found[-1].id if found else None)
    return consent.listed(ledger, found, now)


@router.post(
    "/public/holder/accesses",
    response_model=list[AccessEntry],
    responses={**PUBLIC, **R403},
)
@prechecked(public_prechecks)  # the budget before the body is read (red team 34b)
def subject_accesses(
    body: SubjectAccessesCreate,
    ledger: LedgerDep,
    now: NowDep,
    page: PageDep,
    request: Request,
    response: Response,
) -> list[AccessEntry]:
    """Who read the person's certificate, when and for what purpose (every read, served or refused), for the
    data subject only: ``assertion`` is their provider's, bound to this certificate's list (docs/privacy.md).
    Holding the certificate file is not enough (a department granted all of it holds every salt too); 403 for
    anyone who is not the subject, without saying whether the certificate exists. Oldest first, a page at a time
    (the `Link` header names the next page, asked for with the same body and a new assertion): a department
    reading the certificate again and again must not make the answer unbounded."""
    found = sharing.subject_read_page(
        ledger, digest=body.certificate, assertion=body.assertion, now=now, after=page.after, limit=page.limit
    )
    page.link(request, response, found.scanned, found.last)  # counted before grant events are left out
    return [AccessEntry(**e) for e in found.reads]


@router.get("/certificates/{digest}/consents", response_model=list[consent.ConsentPublic], responses={**AUTHED, **R404})
def certificate_consents(
    digest: Digest,
    issuer: Issuer,
    ledger: LedgerDep,
    now: NowDep,
    page: IdPageDep,
    request: Request,
    response: Response,
) -> list[consent.ConsentPublic]:
    """The consents given for one of the caller's certificates (issuer role), oldest first, a page at a time (the
    next named by a `Link: <...>; rel="next"` header)."""
    sharing.own_certificate(ledger, digest, issuer.department)
    found = consent.list_consents(ledger, digest=digest, after=page.after, limit=page.limit)
    page.link(request, response, len(found), found[-1].id if found else None)
    return consent.listed(ledger, found, now)


@router.get("/consents/check", responses=AUTHED)
async def check_consents(issuer: Issuer, ledger: LedgerDep, request: Request) -> dict[str, Any]:
    """Consent rows of the caller's department against its access log: every discrepancy (empty: they agree). It
    reads the whole log: one such request (or report, or log check) runs at a time, a few wait, more get 429."""
    found = await run_whole_log(request, issuer.department, consent.check, ledger, issuer.department)
    return {"department": issuer.department, "discrepancies": found}
