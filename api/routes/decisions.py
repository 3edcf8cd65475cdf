"""Decisions: an approving department's service asks for an automatic decision on an application."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from .. import services
from ..deps import Approver, LedgerDep, StrictJsonBody
from ..limits import GuardedRoute
from ..models import DecisionCreate, DecisionPublic
from ..problems import AUTHED, R404, R409

router = APIRouter(prefix="/decisions", tags=["decisions"], route_class=GuardedRoute)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DecisionPublic,
    dependencies=[StrictJsonBody],
    responses={**AUTHED, **R404, **R409},
)
def decide(body: DecisionCreate, approver: Approver, ledger: LedgerDep, request: Request) -> DecisionPublic:
    """Decide one application automatically with a published rule set (approver role), in seconds: every
    certificate it cites is verified against the chain by the ledger itself (what the application says about
    them is never read), the applicant's credit status is read from the ledger, and the decision is recorded in
    the caller's hash-chained decision log. An approval whose rule set produces a certificate (a permit) returns
    it, signed by the caller and anchored. A case is decided automatically once: a second request for it, retried
    or not, gets 409 naming the first decision."""
    decision = services.decide(ledger, approver.department, body)
    services.fresh_head(request.app.state.view)  # a permit just anchored verifies at this gateway at once
    return decision
