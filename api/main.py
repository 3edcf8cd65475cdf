"""The gateway application: ``create_app(ledger)`` for tests and embedding, ``app`` for uvicorn.

    uvicorn api.main:app --host 127.0.0.1 --port 8000

``app`` opens the ledger from the environment (the embedded anvil chain by default; LEDGER_PASSPHRASE unlocks the
department keys) when it starts and closes it when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from ledger import __version__
from ledger.client import Ledger
from ledger.config import insecure_kdf_floor_warning
from ledger.errors import KeystoreError
from ledger.services import accesslog, consent, permits
from ledger.services.auth import Authenticator, load_secret
from ledger.services.doctor import key_file_findings
from ledger.services.verify import ChainView
from ledger.services.witness.client import WitnessView, chain_identity
from ledger.storage.store import refusal, refusal_in

from . import limits, problems, security, services
from .config import ApiSettings, get_settings
from .head import HeadRefresher
from .ratelimit import Budgets, TokenBucket, parse_networks
from .refusals import RefusalLog
from .routes import accesslog as accesslog_routes
from .routes import audit, auth, certificates, consents, decisions, departments, grants, pages, reports, verify

log = logging.getLogger("api")

DESCRIPTION = """Gateway of the provenance ledger. Departments sign in with their registered key
(`POST /auth/challenge`, sign the text with EIP-191 `personal_sign`, `POST /auth/token`) and act within the roles
the on-chain registry gives them *now*. Every error is an RFC 9457 problem (`application/problem+json`).
`/public/*` needs no token and is rate-limited per client address."""


def _attach(app: FastAPI, ledger: Ledger, settings: ApiSettings) -> None:
    consent.providers_from_env(
        ledger.settings.consent_providers
    )  # a malformed LEDGER_CONSENT_PROVIDERS stops the start, naming the item
    if "public_url" not in settings.model_fields_set:
        log.warning(
            "LEDGER_API_PUBLIC_URL is not set: sign-in is bound to the default %s, which every unconfigured "
            "gateway shares; give each gateway its own public URL (docs/api.md)",
            settings.public_url,
        )
    insecure = insecure_kdf_floor_warning(ledger.settings.keystore_kdf_floor)
    if insecure:
        log.warning("%s", insecure)
    for exposed in key_file_findings(ledger.settings.keys_dir):  # key files other users may open (round 85b)
        log.warning("%s", exposed.warning)
    app.state.ledger = ledger
    # Public verification of a certificate file reuses a head read at most head_max_age_seconds ago (kept fresh by
    # app.state.head, a HeadRefresher); every other use of the view reads the head afresh (services.fresh_head).
    app.state.view = ChainView(
        ledger.chain,
        ledger.settings.confirmations,
        max_head_age=settings.head_max_age_seconds,
        status_lookup=ledger.settings.status_lookup,
    )
    # The witnessed state (docs/witness.md): reports carry the `witnessed` check ("not configured" without witnesses).
    app.state.view.witness = WitnessView.for_ledger(ledger.chain, ledger.settings.data_dir)
    app.state.head = HeadRefresher(app.state.view)
    app.state.authenticator = Authenticator(
        chain=ledger.chain,
        engine=ledger.engine,
        secret=_token_secret(ledger),
        audience=settings.public_url,
        token_ttl=timedelta(seconds=settings.token_ttl_seconds),
        challenge_ttl=timedelta(seconds=settings.challenge_ttl_seconds),
        cache_seconds=settings.registry_cache_seconds,
    )


def _token_secret(ledger: Ledger) -> bytes:
    """``LEDGER_API_SECRET``, else ``keys/api-token.key`` wrapped under the ledger's passphrase, bound to this chain's
    origin and to the secret the database records (``auth.load_secret``)."""
    passphrase = None
    with contextlib.suppress(KeystoreError):  # no passphrase: load_secret says what to set, unless the secret is given
        passphrase = ledger.passphrase()
    return load_secret(
        ledger.settings.keys_dir / "api-token.key",
        ledger.settings.api_secret,
        passphrase=passphrase,
        owner=chain_identity(ledger.chain).origin,
        engine=ledger.engine,
    )


# How long the gateway's shutdown waits for a background round in flight (an anchoring, a permits' sweep) to finish
# in its thread before it stops waiting: the round is not cancellable there, and a ledger closed under it fails
# it half way (its work is crash-safe, so what it had not committed is done again by the next start's round).
SHUTDOWN_GRACE_SECONDS = 30.0


async def _next_round(interval: float, stopping: asyncio.Event) -> bool:
    """Wait ``interval`` seconds, or less when the gateway is stopping: whether to run another round."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), interval)
    return not stopping.is_set()


async def _stop_rounds(tasks: list[asyncio.Task[None]], stopping: asyncio.Event) -> None:
    """Ask the background loops to stop and wait for the round each has in flight (up to
    :data:`SHUTDOWN_GRACE_SECONDS`), so the ledger is not closed under a thread still using it; a round still
    running then is cancelled and said in the log."""
    stopping.set()
    if not tasks:
        return
    _, late = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_SECONDS)
    for task in late:
        log.warning(
            "a background round (%s) was still running %s s after shutdown began; stopped waiting for it",
            task.get_name(),
            SHUTDOWN_GRACE_SECONDS,
        )
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _anchor_periodically(
    ledger: Ledger, interval: float, refusals: RefusalLog | None = None, stopping: asyncio.Event | None = None
) -> None:
    """Anchor every department's pending access-log entries every ``interval`` seconds (first writing the counts
    of unauthenticated refusals whose window closed), until ``stopping`` is set."""
    stopping = stopping or asyncio.Event()
    while await _next_round(interval, stopping):
        try:
            if refusals is not None:
                await run_in_threadpool(refusals.flush, ledger, now=datetime.now(UTC))
            result = await run_in_threadpool(accesslog.anchor_all, ledger)
            decided = await run_in_threadpool(services.anchor_decisions, ledger)
        except Exception as exc:  # noqa: BLE001 - a background task: any failure is logged, the next round retries
            _log_failure(exc, f"anchoring the access logs failed; retrying in {interval} s")
            continue
        for kind, outcomes in (("access log", result), ("decision log", decided)):
            for department, outcome in outcomes.items():
                if isinstance(outcome, str):
                    log.warning("%s of %s not anchored (retrying in %s s): %s", kind, department, interval, outcome)
        await run_in_threadpool(_collect_cosignatures, ledger)


async def _follow_periodically(ledger: Ledger, interval: float, stopping: asyncio.Event | None = None) -> None:
    """Every ``interval`` seconds (``LEDGER_PERMIT_FOLLOW_SECONDS``), make every department's live permits follow the
    certificates they rest on (permits.follow_all; red team round 77c): a permit falls within ``interval`` and one
    sweep of its licence. Until ``stopping`` is set."""
    stopping = stopping or asyncio.Event()
    while await _next_round(interval, stopping):
        try:
            followed = await run_in_threadpool(permits.follow_all, ledger)
        except Exception as exc:  # noqa: BLE001 - a background task: any failure is logged, the next round retries
            _log_failure(exc, f"following the permits' bases failed; retrying in {interval} s")
            continue
        for department, outcome in followed.items():
            if isinstance(outcome, str):
                log.warning("permits of %s not followed (retrying in %s s): %s", department, interval, outcome)
            elif outcome.unread:
                log.warning(
                    "%d permits of %s not followed: their bases could not be read", len(outcome.unread), department
                )


def _log_failure(exc: Exception, what: str) -> None:
    """A background task's failure: a database refusal anywhere in its chain by its class alone (a traceback would
    quote the statement, red team round 41b), anything else with its traceback."""
    refused = refusal_in(exc)
    if refused is not None:
        log.error("%s: %s", what, refusal(refused))
    else:
        log.exception(what)


def _collect_cosignatures(ledger: Ledger) -> None:
    """With witnesses configured (docs/witness.md), ask them to cosign the head at each anchoring round; an
    alarm (a witness saw the chain contradict what it cosigned) is logged as an error."""
    from ledger.services.witness import client as witnesses

    config = witnesses.WitnessConfig.load(ledger.settings.data_dir)
    if not config.configured:
        return
    try:
        result = witnesses.collect(ledger.chain, ledger.settings.data_dir, config)
    except Exception as exc:  # noqa: BLE001 - a witness's failure is logged, never the gateway's
        _log_failure(exc, "collecting witness cosignatures failed")
        return
    for name, alarm in result.alarms.items():
        log.error("witness %s raised an alarm: %s", name, alarm)
    if not result.witnessed:
        log.warning(
            "no quorum of witnesses cosigned block %s: %s",
            result.checkpoint.checkpoint.height if result.checkpoint else "?",
            result.refusals,
        )


def routes_first(app: FastAPI, router: APIRouter) -> None:
    """``router``'s routes made routes of ``app`` itself, each as ``app.include_router(router)`` makes it (path,
    methods, body, responses, response class, tags, names, OpenAPI entry; tests/test_public_verify_reference.py
    compares the two), and tried first, in their order. FastAPI keeps an included router as one entry that
    matches its routes twice a request (once to find the entry, again to pick the route) and sums its routers'
    versions at each; a route of the app is matched once (bench/analysis.md, branch gw4). API routes only (no
    mounts, no nested routers): what the verification router holds."""
    before = len(app.router.routes)
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"routes_first takes API routes only, not {route!r}")
        app.router.add_api_route(
            route.path,
            route.endpoint,
            response_model=route.response_model,
            status_code=route.status_code,
            tags=route.tags,
            dependencies=route.dependencies,
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses=route.responses,
            deprecated=route.deprecated,
            methods=route.methods,
            operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=route.include_in_schema,
            response_class=route.response_class,
            name=route.name,
            route_class_override=type(route),
            callbacks=route.callbacks,
            openapi_extra=route.openapi_extra,
            generate_unique_id_function=route.generate_unique_id_function,
            strict_content_type=route.strict_content_type,
            max_body_size=route.max_body_size,
        )
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[:0] = added


def create_app(ledger: Ledger | None = None, *, settings: ApiSettings | None = None) -> FastAPI:
    """The gateway for ``ledger``; without one, the ledger is opened from the environment at startup."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = None
        if ledger is None:
            opened = await run_in_threadpool(Ledger.open)
            _attach(app, opened, settings)
        stopping = asyncio.Event()
        rounds: list[asyncio.Task[None]] = []
        if settings.anchor_interval_seconds > 0:
            rounds.append(
                asyncio.create_task(
                    _anchor_periodically(
                        app.state.ledger, settings.anchor_interval_seconds, app.state.refusals, stopping
                    ),
                    name="anchoring",
                )
            )
        if app.state.ledger.settings.permit_follow_seconds > 0:
            rounds.append(
                asyncio.create_task(
                    _follow_periodically(app.state.ledger, app.state.ledger.settings.permit_follow_seconds, stopping),
                    name="permits' sweep",
                )
            )
        if settings.head_max_age_seconds > 0:
            app.state.head.start(settings.head_refresh_seconds)
        try:
            yield
        finally:
            app.state.head.stop()
            await _stop_rounds(rounds, stopping)
            if opened is not None:
                opened.close()

    app = FastAPI(
        default_response_class=problems.JsonAnswer,
        title="Provenance Ledger gateway",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # no redirect: Starlette's answer to a path with (or without) a trailing slash is a 307 to a URL written from
        # the request's Host header and scheme, which sent a client and its body (a person's signed assertion) to any
        # host the Host named, or to http:// behind a proxy terminating TLS (red team round 64); such a path is a 404
        redirect_slashes=False,
        openapi_tags=[
            {"name": "auth", "description": "Challenge/response sign-in with the department's key."},
            {"name": "certificates", "description": "Issue, read, revoke, supersede, share."},
            {"name": "sharing", "description": "Grants: consented sharing between departments."},
            {"name": "consent", "description": "The data subject's own consent to sharing."},
            {"name": "verification", "description": "Verification and the public, rate-limited reads."},
            {"name": "access log", "description": "Hash-chained, anchored log of every access."},
            {"name": "audit", "description": "Decision history and logs for auditors."},
            {"name": "departments", "description": "The on-chain registry."},
            {"name": "pages", "description": "HTML for people."},
        ],
    )
    # Not app.dependency_overrides: with any override in place FastAPI rebuilds every dependency's signature on
    # every request (about 40 % of a public verification).
    app.state.settings = settings
    cap = settings.rate_limit_max_clients
    app.state.budgets = Budgets(
        public=TokenBucket(settings.public_burst, settings.public_per_second, max_clients=cap),
        signin=TokenBucket(
            settings.signin_burst, settings.signin_per_second, "sign-in attempts from this address", max_clients=cap
        ),
        refused=TokenBucket(
            settings.refused_burst,
            settings.refused_per_second,
            "requests without a valid token from this address; sign in first",
            max_clients=cap,
        ),
        authenticated=TokenBucket(
            settings.authenticated_burst,
            settings.authenticated_per_second,
            "requests from this department",
            max_clients=cap,
        ),
    )
    app.state.trusted_proxies = parse_networks(settings.trusted_proxies)
    app.state.refusals = RefusalLog(settings.refusal_log_window_seconds)
    if ledger is not None:
        _attach(app, ledger, settings)
    problems.install(app)
    limits.install(
        app,
        limits.Limits(
            body_bytes=settings.max_body_bytes,
            anonymous_body_bytes=settings.max_anonymous_body_bytes,
            header_bytes=settings.max_header_bytes,
            token_bytes=settings.max_token_bytes,
            json_depth=settings.max_json_depth,
            json_values=settings.max_json_values,
            anonymous_json_values=settings.max_anonymous_json_values,
            json_string_chars=settings.max_json_string_chars,
            body_seconds=settings.max_body_seconds,
        ),
    )
    # verification first: routes are matched in order and public verification is the busiest (its paths overlap
    # no other router's), ahead even of the /openapi.json route FastAPI added when the app was made (each route
    # tried and missed costs a request some 5 µs)
    routes_first(app, verify.router)
    for module in (auth, certificates, grants, accesslog_routes, audit, departments, pages):
        app.include_router(module.router)
    app.include_router(reports.router)
    app.include_router(consents.router)
    app.include_router(decisions.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    app.mount("/swagger-ui", StaticFiles(directory=security.SWAGGER_UI), name="swagger-ui")
    security.install(app)
    return app


app = create_app()
