"""Dependencies as ``Annotated`` aliases: the ledger, the clock, the caller and the role checks.

``get_now`` is the gateway's only clock: token expiry, grant expiry and the rate limiter all read it, so a test
overrides it (``app.dependency_overrides[get_now]``) instead of waiting.
"""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BeforeValidator

from ledger.client import Ledger
from ledger.formats.canonical import strict_json_loads
from ledger.services.auth import Attempt, Authenticator, PermissionDenied, Principal

from .config import ApiSettings, get_settings
from .limits import BUDGET_SPENT, STRICT_CHECKED, spends_budget
from .ratelimit import Budgets, Network, client_key

bearer = HTTPBearer(auto_error=False, description="A session token from POST /auth/token.")


async def get_now() -> datetime:  # async: resolved on the event loop, no thread hand-off
    return datetime.now(UTC)


def get_ledger(request: Request) -> Ledger:
    return request.app.state.ledger  # type: ignore[no-any-return]


def get_authenticator(request: Request) -> Authenticator:
    return request.app.state.authenticator  # type: ignore[no-any-return]


def get_app_settings(request: Request) -> ApiSettings:
    """The settings the app was created with (``create_app(settings=...)``, else the environment's)."""
    return getattr(request.app.state, "settings", None) or get_settings()


SettingsDep = Annotated[ApiSettings, Depends(get_app_settings)]
LedgerDep = Annotated[Ledger, Depends(get_ledger)]
NowDep = Annotated[datetime, Depends(get_now)]
AuthenticatorDep = Annotated[Authenticator, Depends(get_authenticator)]


def get_attempt(
    request: Request,
    auth: AuthenticatorDep,
    now: NowDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Attempt:
    """Authenticate the caller and spend its budget: a signed-in department's own, or, for a caller that could
    not be authenticated, the refused-request budget of its address (429 once spent, before anything is logged).
    Whatever an unauthenticated token *claims* is dropped here: it was written by the caller."""
    request.scope[BUDGET_SPENT] = None
    attempt = auth.attempt(credentials.credentials if credentials else None, now=now)
    _spend_caller_budget(request, attempt, now)
    return attempt if attempt.principal is not None else Attempt(None, attempt.failure)


def _spend_caller_budget(request: Request, attempt: Attempt, now: datetime) -> None:
    """The authenticated department's budget, or the refused-request budget of the address of a caller that could
    not be authenticated (429 once spent)."""
    budgets: Budgets = request.app.state.budgets
    if attempt.principal is None:
        budgets.refused.take(client_address(request), now)
    else:
        budgets.authenticated.take(attempt.principal.department, now)


async def _spend_refused_early(request: Request) -> None:
    """The budget ``get_attempt`` spends, for a request refused before it ran (a body nobody can read, duplicate
    keys): the department's, for a token that authenticates, else the address's refused-request budget (red team
    round 36: such a request was answered 422 for ever, each up to 1 MiB read and parsed, or 4 MiB with a token)."""
    credentials = await bearer(request)  # the Authorization header read as get_attempt's dependency reads it
    now = await request_now(request)
    authenticator = get_authenticator(request)
    attempt = await anyio.to_thread.run_sync(
        lambda: authenticator.attempt(credentials.credentials if credentials else None, now=now)
    )
    _spend_caller_budget(request, attempt, now)


spends_budget(get_attempt, _spend_refused_early)
CallerAttempt = Annotated[Attempt, Depends(get_attempt)]
"""The caller, authenticated or not: for endpoints that record refused attempts before refusing."""


def get_principal(attempt: CallerAttempt) -> Principal:
    if attempt.failure is not None or attempt.principal is None:
        raise attempt.failure or PermissionDenied("not authenticated")
    return attempt.principal


CurrentDepartment = Annotated[Principal, Depends(get_principal)]


def require_role(*roles: str) -> Any:
    """A dependency admitting departments that hold any of ``roles`` in the registry right now."""

    def check(principal: CurrentDepartment) -> Principal:
        if not any(principal.has(r) for r in roles):
            raise PermissionDenied(
                f"this needs the {' or '.join(roles)} role; department {principal.department!r} "
                f"has {list(principal.roles) or 'no roles'}"
            )
        return principal

    check.__name__ = f"require_{'_or_'.join(roles)}"
    return Depends(check)


Issuer = Annotated[Principal, require_role("issuer")]
Verifier = Annotated[Principal, require_role("verifier")]
Auditor = Annotated[Principal, require_role("auditor")]
Approver = Annotated[Principal, require_role("approver")]


def client_address(request: Request) -> str:
    """The client's address as the rate limits key it: the peer, or what a trusted proxy says it forwarded."""
    return client_address_of(request.scope, request.app.state.trusted_proxies)


_FORWARDED_FOR = b"x-forwarded-for"


def client_address_of(scope: Any, trusted: tuple[Network, ...]) -> str:
    """:func:`client_address` from the ASGI scope itself: the peer is what ``Request.client`` reads, and the
    X-Forwarded-For lines are what Starlette's ``Headers.getlist("x-forwarded-for")`` returns (the raw header
    lines whose name is exactly ``b"x-forwarded-for"``, as the server lower-cased it, in order, each decoded as
    latin-1), without building a ``Headers`` for every request."""
    client = scope.get("client")  # what Request.client reads: (host, port) or None
    peer = client[0] if client is not None else "unknown"
    # every X-Forwarded-For line, in order: a proxy that adds its own line (HAProxy's `option forwardfor`) rather
    # than appending to the client's puts the hop it saw last; the first line alone is whatever the client wrote
    lines: list[str] = []
    for name, value in scope["headers"]:  # a loop, not a comprehension: no function made per request
        if name == _FORWARDED_FOR:
            lines.append(value.decode("latin-1"))
    forwarded = ",".join(lines) or None
    if not trusted:
        if forwarded and peer in forwarded:
            # The server already took the "peer" from this header (a bare `uvicorn api.main:app` believes it from
            # 127.0.0.1): the real peer is lost, so every such request shares one budget instead of the caller
            # choosing its own. `python -m api` (no server-side proxy headers) or TRUSTED_PROXIES avoid this.
            return "untrusted X-Forwarded-For"
        return client_key(peer, None, ()) if ":" in peer else peer  # IPv6: keyed by its /64
    return client_key(peer, forwarded, trusted)


async def rate_limit(request: Request, now: NowDep) -> None:  # CPU only: on the event loop
    budgets: Budgets = request.app.state.budgets
    budgets.public.take(client_address(request), now)


async def request_now(request: Request) -> datetime:
    """``get_now`` outside dependency resolution: the clock a test put in its place, if any."""
    clock = request.app.dependency_overrides.get(get_now)
    if clock is None:
        return datetime.now(UTC)  # what get_now answers, without a coroutine of its own
    moment = clock()
    return await moment if inspect.isawaitable(moment) else moment  # type: ignore[no-any-return]


async def public_prechecks(request: Request) -> None:
    """``spend_public_budget`` then ``refuse_duplicate_keys``, in that order, as one precheck (one coroutine per
    request instead of two), before the body is read (``limits.prechecked``: a body nobody can read spends the budget
    too): the public budget spent at the gateway's clock (``time.time()``, the instant
    ``datetime.now(UTC)`` names; a test's ``get_now`` when it put one in place), keyed on
    :func:`client_address_of`; then a body the guard proved free of duplicate keys passes, and any other is
    checked as ``refuse_duplicate_keys`` checks it."""
    scope = request.scope
    app = scope["app"]
    clock = app.dependency_overrides.get(get_now)
    moment = time.time() if clock is None else (await request_now(request)).timestamp()
    state = app.state  # read by item: State.__getattr__ is its slow path (see routes/verify.py: _view)
    state["budgets"].public.take_at(client_address_of(scope, state["trusted_proxies"]), moment)
    if STRICT_CHECKED in scope:
        duplicate = scope[STRICT_CHECKED]
        if duplicate is not None:
            raise duplicate
        return
    await refuse_duplicate_keys(request)


async def signin_prechecks(request: Request) -> None:
    """The sign-in budget of the client's address, then ``refuse_duplicate_keys``, as one precheck run before the
    body is read (``limits.prechecked``): as dependencies they ran after FastAPI had read it, so a body nobody can
    read was answered 422 without spending the budget (red team round 34b)."""
    scope = request.scope
    app = scope["app"]
    clock = app.dependency_overrides.get(get_now)
    moment = time.time() if clock is None else (await request_now(request)).timestamp()
    state = app.state
    state["budgets"].signin.take_at(client_address_of(scope, state["trusted_proxies"]), moment)
    await refuse_duplicate_keys(request)


RateLimitedPublic = Depends(rate_limit)

_NUMBER = re.compile(r"\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*")


_ISO_SHAPE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?([Zz]|[+-][0-9]{2}:?[0-9]{2})?)?"
)
_ISO_FORM = "give an ISO 8601 time with its zone, e.g. 2026-12-01T00:00:00Z or 2026-12-01T08:00:00+08:00"


def _iso_time(value: Any) -> Any:
    """A window's time is ISO 8601 text: a number is refused, not read as seconds since 1970 (milliseconds past
    2e10, pydantic's rule): ``since=20261201`` listed the entries since 1970-08-23; and text of another shape is
    refused saying what to give, not "input is too short" (red team round 36)."""
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        raise ValueError(f"{value!r} is a number, not a time: {_ISO_FORM}")
    if isinstance(value, str) and not _ISO_SHAPE.fullmatch(value):
        raise ValueError(f"{value[:40]!r} is not an ISO 8601 time: {_ISO_FORM}")
    return value


SinceQuery = Annotated[
    datetime | None,
    BeforeValidator(_iso_time),
    Query(description="Inclusive, ISO 8601 with zone (e.g. 2026-12-01T00:00:00Z); a number is refused."),
]
UntilQuery = Annotated[
    datetime | None,
    BeforeValidator(_iso_time),
    Query(description="Exclusive, ISO 8601 with zone (e.g. 2026-12-02T00:00:00Z); a number is refused."),
]

Clock = Callable[[], datetime]


async def refuse_duplicate_keys(request: Request) -> None:  # CPU only: on the event loop
    """A request body whose JSON names a key twice is refused (422 naming the key): the parser FastAPI uses keeps
    the last value silently, and a person or another parser may read the other one."""
    # a big body: checked in a worker thread with its parse; a small one proven free of duplicates by its key count
    # (api/limits.py: keys_are_unique)
    if STRICT_CHECKED in request.scope:
        duplicate = request.scope[STRICT_CHECKED]
        if duplicate is not None:
            raise duplicate
        return
    body = await request.body()  # cached by Starlette: the same bytes the handler's model was parsed from
    if body:
        try:
            strict_json_loads(body)
        except ValueError:
            pass  # not JSON at all: the request's own validation reports it


StrictJsonBody = Depends(refuse_duplicate_keys)
