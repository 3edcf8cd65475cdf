"""Public verification's cheaper path gives today's answers, byte for byte.

``POST /public/verify`` was made cheaper (the rate limit's precheck without a coroutine of its own, the route first
in its router, the report's fields written without the digest-only branch, the "chain" check and the validity
dates remembered across requests, the disclosure check's usual case in C). The reference below is the route as it
was (its precheck, its report writer), mounted in front of an app of its own: every body of a hostile corpus (valid,
tampered, duplicate keys at any depth, huge numbers, deep nesting, wrong types, bad UTF-8, oversized, digests) and
the rate limit's refusals must get the same status, headers and body bytes from both, one after the other. The
library's parts are compared with their references on their own.
"""

from __future__ import annotations

import inspect
import json
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.to_thread
import pytest
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.testclient import TestClient
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match

from api import problems, services
from api.config import ApiSettings
from api.deps import get_now, refuse_duplicate_keys
from api.limits import GuardedRoute, heavy_limiter, prechecked
from api.main import create_app, routes_first
from api.models import PublicVerifyCreate
from api.ratelimit import Budgets
from api.routes import verify as verify_routes
from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats import checks as checks_core
from ledger.formats.certificate import ALWAYS_DISCLOSED, REQUIRED_DISCLOSED, load_document, validity_instant
from ledger.onchain.chainread import Finality
from ledger.services.verify import ChainView, Report, verify_certificate

from .api_support import UNLIMITED, Clock, issue
from .public_verify_support import corpus, edited, reference_client_key, with_hidden

# -- the reference: the route as it was (api/routes/verify.py, api/deps.py, api/services.py before the change) --


async def _reference_request_now(request: Request) -> datetime:
    clock = request.app.dependency_overrides.get(get_now, get_now)
    moment = clock()
    return await moment if inspect.isawaitable(moment) else moment  # type: ignore[no-any-return]


async def _reference_spend_public_budget(request: Request) -> None:
    budgets: Budgets = request.app.state.budgets
    budgets.public.take(
        reference_client_key(request, request.app.state.trusted_proxies), await _reference_request_now(request)
    )


def _reference_public_fields(report: Report) -> dict[str, Any]:
    checks = report.checks
    return {
        "verified": bool(report.checks) and all(c.ok for c in report.checks),
        "digest": report.digest,
        "status": report.facts.get("status"),
        "issuer": report.facts.get("department"),
        "as_of_block": report.as_of_block,
        "erased": None,
        "checks": [{"name": c.name, "ok": c.ok, "skipped": c.skipped, "detail": c.detail} for c in checks],
    }


def _reference_fast_public_report(view: ChainView, document: dict[str, Any]) -> dict[str, Any] | None:
    root = services.batch_root(document)
    fields = document.get("fields")
    issuer = fields.get("issuer") if isinstance(fields, dict) else None
    if root is None or not isinstance(issuer, str) or view.warm_head(issuer, root) is None:
        return None
    return _reference_public_fields(verify_certificate(document, view))


@prechecked(_reference_spend_public_budget, refuse_duplicate_keys)
async def _reference_public_verify(body: PublicVerifyCreate, request: Request) -> Response:
    view = request.app.state.view
    report, refresh = None, True
    if body.document is not None and body.digest is None:
        document = body.document
        on_loop = services.small_document(document)

        async def fast() -> dict[str, Any] | None:
            if on_loop:
                return _reference_fast_public_report(view, document)
            return await anyio.to_thread.run_sync(
                _reference_fast_public_report, view, document, limiter=heavy_limiter(request.app.state)
            )

        report = await fast()
        head = request.app.state.head
        if report is None and head.stale():
            try:
                await run_in_threadpool(head.refresh)
            except Exception:  # noqa: BLE001 - as the route did
                refresh = False
            else:
                report = await fast()
    if report is None:
        report = await run_in_threadpool(
            services.public_report,
            request.app.state.ledger,
            view,
            document=body.document,
            digest=body.digest,
            refresh=refresh,
        )
    return Response(services.json_bytes(report), media_type="application/json")


_reference_public_verify.__annotations__ = {"body": PublicVerifyCreate, "request": Request, "return": Response}


def _with_reference_route(app: FastAPI) -> FastAPI:
    """``app`` answering ``POST /public/verify`` with the reference route, matched before the app's own."""
    router = APIRouter(route_class=GuardedRoute)
    router.post("/public/verify")(_reference_public_verify)
    before = len(app.router.routes)
    app.include_router(router)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[:0] = added
    return app


def _pair(
    ledger: Ledger, clock: Clock | None = None, peer: tuple[str, int] = ("testclient", 50000), **settings: Any
) -> tuple[TestClient, TestClient]:
    """(reference, current): two apps on the same ledger with the same settings and one chain view. The embedded
    chain makes a block a second and each view reuses a head for up to 0.25 s: two views could answer the same
    request as of two blocks for that long. Each app keeps its own budgets."""
    options = {"anchor_interval_seconds": 0, **UNLIMITED, **settings}
    apps = (
        _with_reference_route(create_app(ledger, settings=ApiSettings(**options))),
        create_app(ledger, settings=ApiSettings(**options)),
    )
    apps[1].state.view, apps[1].state.head = apps[0].state.view, apps[0].state.head
    if clock is not None:
        for app in apps:
            app.dependency_overrides[get_now] = clock
    reference, current = (TestClient(app, raise_server_exceptions=False, client=peer) for app in apps)
    return reference, current


def _answer(client: TestClient, body: bytes, headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
    response = client.post("/public/verify", content=body, headers=headers)
    return response.status_code, response.headers.multi_items(), response.content


# -- the corpus ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def documents(ledger: Ledger) -> list[dict[str, Any]]:
    docs = issue(ledger, "MKT", 3)
    for _ in range(Finality(ledger.settings.confirmations).reorg_depth + 2):  # final: the gateway caches the batch
        ledger.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    return docs


def _same_answers(first: TestClient, second: TestClient, body: bytes, headers: dict[str, str]) -> bool:
    """Both apps answer ``body`` alike. A report says which block it is as of: a pair of requests that a new head
    fell between (the view's reused one grew stale) is asked again, a few times at most, so an answer that differs
    for another reason still fails."""
    return any(_answer(first, body, headers) == _answer(second, body, headers) for _attempt in range(5))


def test_public_verification_answers_as_the_reference_did(ledger: Ledger, documents: list[dict[str, Any]]) -> None:
    reference, current = _pair(ledger)
    compared = 0
    for first, second in ((reference, current), (current, reference)):  # the second round meets warm caches
        for what, body, headers in corpus(documents):
            assert _same_answers(first, second, body, headers), what
            compared += 1
    statuses = {_answer(current, body, headers)[0] for _, body, headers in corpus(documents)}
    assert {200, 404, 413, 422} <= statuses and compared > 140  # the corpus reaches the verdicts and the refusals


@pytest.mark.parametrize("frozen", [False, True])
def test_rate_limited_answers_as_the_reference_did(
    ledger: Ledger, documents: list[dict[str, Any]], frozen: bool
) -> None:
    """The public budget's refusals (429, Retry-After), with the gateway's own clock and with a test's."""
    clock = Clock() if frozen else None
    reference, current = _pair(ledger, clock, public_burst=3, public_per_second=0.001)
    body = json.dumps({"document": {"fields": {}}}).encode()  # refused by verification: an answer of no block
    answers = []
    for _ in range(6):
        expected = _answer(reference, body, {"Content-Type": "application/json"})
        assert _answer(current, body, {"Content-Type": "application/json"}) == expected
        answers.append(expected[0])
    assert answers == [200, 200, 200, 429, 429, 429]


# -- the library's parts ----------------------------------------------------------------------------------------


def test_the_chain_check_of_a_run_does_not_depend_on_the_runs_before(
    ledger: Ledger, documents: list[dict[str, Any]]
) -> None:
    """The "chain" check is kept across runs only for values written one way: a document verified after others
    gets the report it gets on a view of its own (1 and True, 0.0 and -0.0, a missing and an empty contract)."""
    anchors = [
        ("chain_id", True),
        ("chain_id", 1),
        ("chain_id", 1.0),
        ("chain_id", -0.0),
        ("chain_id", 0.0),
        ("chain_id", "31337"),
        ("contract", ""),
        ("contract", None),
        ("contract", 0),
        ("contract", False),
        ("registry", "0x" + "11" * 20),
        ("registry", 0),
        ("registry", False),
    ]
    docs = [edited(documents[0], "anchor", name, value) for name, value in anchors]
    docs.append(edited(documents[0], "anchor", "contract", drop=True))
    shared = ChainView(ledger.chain, ledger.settings.confirmations)
    for order in (docs, docs[::-1]):
        for doc in order:
            alone = verify_certificate(doc, ChainView(ledger.chain, ledger.settings.confirmations))
            after_others = verify_certificate(doc, shared)
            assert after_others.check("chain") == alone.check("chain"), doc["anchor"]


def test_validity_windows_judge_as_the_dates_read_afresh(ledger: Ledger) -> None:
    """A validity window (the dates read once, kept by the view across requests) gives, at every moment, the
    verdict of checks.validity as it was: the dates parsed afresh for each judgement."""
    moments = [
        datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 6, 1, tzinfo=UTC),
        datetime(2026, 6, 1, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 6, 1, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 6, 2, tzinfo=UTC),
    ]
    values: list[Any] = [
        None,
        "2026-01-01",
        "2026-06-01",
        "2026-05-31",
        "2026-02-30",
        "2026-06-01T00:00:00Z",
        "2026-06-01T00:00:00+08:00",
        "2026-06-01T00:00:00",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "",
        5,
        1,
        1.0,
        True,
        [],
    ]

    def afresh(start: Any, end: Any, now: datetime, hidden: bool) -> tuple[bool, str]:  # checks.validity before
        try:
            start_t = validity_instant(start, end=False) if start is not None else None
            end_t = validity_instant(end, end=True) if end is not None else None
        except InputError as exc:
            return False, str(exc)
        if start_t and now < start_t:
            return False, f"not valid before {start}"
        if end_t and now > end_t:
            return False, f"expired on {end}"
        return True, f"valid {start or 'from issuance'} to {end or 'no end date'}" + (
            " (hidden fields not checked)" if hidden else ""
        )

    view = ChainView(ledger.chain, ledger.settings.confirmations)
    for _ in range(2):  # the second time from the view's windows
        for start in values:
            for end in values:
                for hidden in (False, True):
                    window = view.validity_window(start, end, hidden)
                    for now in moments:
                        expected = afresh(start, end, now, hidden)
                        assert window.at(now) == expected, (start, end, now)
                        assert checks_core.validity(start, end, now, dates_hidden=hidden) == expected


def test_the_disclosure_check_names_what_the_lists_named(ledger: Ledger, documents: list[dict[str, Any]]) -> None:
    """The usual case is decided in C (every required field disclosed, none of them hidden); any other document
    gets the detail the two lists wrote."""
    view = ChainView(ledger.chain, ledger.settings.confirmations)
    doc = documents[1]
    cases = [doc, with_hidden(doc, "valid_until"), with_hidden(doc, "subject.name"), with_hidden(doc, "issued_at")]
    for name in REQUIRED_DISCLOSED:
        cases.append(edited(edited(doc, "fields", name, drop=True), "salts", name, drop=True))
    for case in cases:
        parsed = load_document(case)
        hidden_required = [n for n in ALWAYS_DISCLOSED if n in parsed.hidden]
        missing = [n for n in REQUIRED_DISCLOSED if n not in parsed.fields and n not in parsed.hidden]
        check = verify_certificate(case, view).check("disclosure")
        assert check.ok == (not hidden_required and not missing)
        for name in hidden_required + missing:
            assert name in check.detail


# -- the client address the budgets are keyed on, read from the scope's raw headers --------------------------------


def _scopes() -> list[tuple[Any, list[tuple[bytes, bytes]]]]:
    """(client, raw headers): peers of every kind, X-Forwarded-For lines forged, repeated, in other cases, empty,
    in bytes latin-1 decodes, beside other headers."""
    peers: list[Any] = [
        ("203.0.113.9", 5000),
        ("10.0.0.5", 5000),
        ("10.0.0.5 ", 5000),
        ("::1", 5000),
        ("::ffff:10.0.0.5", 5000),
        ("2001:db8::7", 5000),
        ("testclient", 50000),
        ("", 0),
        None,
    ]
    lines: list[list[tuple[bytes, bytes]]] = [
        [],
        [(b"x-forwarded-for", b"198.51.100.7")],
        [(b"x-forwarded-for", b"198.51.100.7, 10.0.0.6")],
        [(b"x-forwarded-for", b"198.51.100.7"), (b"x-forwarded-for", b"198.51.100.8")],
        [(b"x-forwarded-for", b"198.51.100.7"), (b"host", b"x"), (b"x-forwarded-for", b"10.0.0.9, 198.51.100.9")],
        [(b"X-Forwarded-For", b"198.51.100.7")],  # a name the server did not lower-case: Starlette does not match it
        [(b"x-forwarded-for ", b"198.51.100.7")],
        [(b"x-forwarded-for", b"")],
        [(b"x-forwarded-for", b""), (b"x-forwarded-for", b"198.51.100.7")],
        [(b"x-forwarded-for", b"garbage, 198.51.100.7")],
        [(b"x-forwarded-for", b"198.51.100.7, garbage")],
        [(b"x-forwarded-for", b"\xff\xfe 198.51.100.7")],
        [(b"x-forwarded-for", b"2001:db8:1:2::5, ::ffff:198.51.100.7")],
        [(b"x-forwarded-for", b"10.0.0.5")],
        [(b"x-forwarded-for", b"203.0.113.9")],
        [(b"x-forwarded-for", b"testclient")],
        [(b"x-real-ip", b"198.51.100.7")],
    ]
    return [(peer, headers) for peer in peers for headers in lines]


@pytest.mark.parametrize("trusted", ["", "10.0.0.0/8", "10.0.0.5, ::1, 2001:db8::/32", "0.0.0.0/0"])
def test_the_client_address_is_read_as_starlettes_headers_read_it(trusted: str) -> None:
    """The budgets' key, read from the scope's raw headers (no Starlette ``Headers`` built), is the key the
    reference read through ``request.headers.getlist``: for forged, repeated and odd lines, trusted or not."""
    from api.deps import client_address, client_address_of
    from api.ratelimit import parse_networks

    app = create_app(settings=ApiSettings(trusted_proxies=trusted))
    networks = parse_networks(trusted)
    for peer, headers in _scopes():
        scope = {"type": "http", "app": app, "headers": list(headers), "client": peer}
        expected = reference_client_key(Request(dict(scope, headers=list(headers))), app.state.trusted_proxies)
        assert client_address_of(scope, networks) == expected, (peer, headers)
        assert client_address(Request(scope)) == expected, (peer, headers)


@pytest.mark.parametrize("frozen", [False, True])
def test_budgets_behind_a_trusted_proxy_answer_as_the_reference_did(
    ledger: Ledger, documents: list[dict[str, Any]], frozen: bool
) -> None:
    """Behind a trusted proxy, with forwarded lines a client wrote (rotating, before the proxy's own) and new
    clients: the same 200s and 429s, in the same order, from the reference and the current route."""
    clock = Clock() if frozen else None
    reference, current = _pair(
        ledger, clock, peer=("10.0.0.5", 50000), public_burst=2, public_per_second=0.001, trusted_proxies="10.0.0.0/8"
    )
    body = json.dumps({"document": documents[0]}).encode()
    as_json = {"Content-Type": "application/json"}
    sequence: list[list[tuple[str, str]]] = []
    for i in range(4):  # the client's own line first, rotating; the proxy's line (the real client) last
        sequence.append([("X-Forwarded-For", f"198.51.100.{i}"), ("X-Forwarded-For", "203.0.113.50")])
    for i in range(3):  # one line, the client's hops left of the proxy's
        sequence.append([("X-Forwarded-For", f"198.51.100.{i}, 203.0.113.51")])
    sequence.append([("X-Forwarded-For", "10.0.0.7, 10.0.0.8")])  # every hop a proxy: the left-most is the key
    sequence.append([("X-Forwarded-For", "10.0.0.7, 10.0.0.8")])
    sequence.append([("X-Forwarded-For", "10.0.0.7, 10.0.0.8")])
    sequence.append([])  # the proxy itself
    statuses = []
    for lines in sequence:
        expected = reference.post("/public/verify", content=body, headers=[*as_json.items(), *lines])
        answer = current.post("/public/verify", content=body, headers=[*as_json.items(), *lines])
        assert answer.status_code == expected.status_code, lines
        assert answer.headers.get("retry-after") == expected.headers.get("retry-after"), lines
        statuses.append(answer.status_code)
    assert statuses == [200, 200, 429, 429, 200, 200, 429, 200, 200, 429, 200]


def test_the_first_routes_are_the_verification_routes_as_included() -> None:
    """``routes_first`` makes the verification router's routes routes of the app itself (matched once a request,
    not twice through an included router): each is what ``include_router`` gives the same app (path, methods,
    response class and model, body, dependencies, names, OpenAPI entry), in the router's order, ahead of the rest."""
    app = create_app(settings=ApiSettings())
    reference = FastAPI(default_response_class=problems.JsonAnswer)
    reference.include_router(verify_routes.router)
    included = list(reference.router.routes[-1].effective_route_contexts())  # type: ignore[attr-defined]
    assert [route.path for route in included] == [route.path for route in verify_routes.router.routes]
    first = app.router.routes[: len(included)]
    for route, expected in zip(first, included, strict=True):
        assert type(route) is GuardedRoute, route
        for name in _ROUTE_ATTRIBUTES:
            assert getattr(route, name) == getattr(expected, name), (route.path, name)
        assert route.dependency_overrides_provider is app  # a test's get_now override reaches the routes
        assert route.response_class is problems.JsonAnswer
    paths = app.openapi()["paths"]
    assert {path: paths[path] for path in reference.openapi()["paths"]} == reference.openapi()["paths"]
    with pytest.raises(TypeError, match="API routes only"):
        routes_first(FastAPI(), reference.router)  # an included router (or a mount) is not taken apart here


_ROUTE_ATTRIBUTES = (
    "path",
    "path_format",
    "name",
    "methods",
    "response_class",
    "response_model",
    "status_code",
    "tags",
    "responses",
    "dependencies",
    "include_in_schema",
    "unique_id",
    "operation_id",
    "summary",
    "description",
    "response_description",
    "deprecated",
    "callbacks",
    "openapi_extra",
    "strict_content_type",
    "max_body_size",
    "_embed_body_fields",
    "is_json_stream",
    "is_sse_stream",
)


def test_public_verification_is_the_first_route_tried() -> None:
    """Routes are matched in order and each miss costs a match (≈ 5 µs a request here, bench/analysis.md):
    ``POST /public/verify``, the busiest route, is matched by the first route the router tries, ahead of the
    ``/openapi.json`` route FastAPI adds when the app is made, which is still served."""
    app = create_app(settings=ApiSettings())
    scope = {"type": "http", "method": "POST", "path": "/public/verify", "root_path": "", "headers": []}
    assert app.router.routes[0].matches(scope)[0] is Match.FULL
    assert "/public/verify" in TestClient(app).get("/openapi.json").json()["paths"]  # no lifespan: no ledger opened
