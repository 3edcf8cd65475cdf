"""Every error as an RFC 9457 problem (``application/problem+json``), in one shape.

``type`` is a relative URI ``/problems/<slug>`` (listed in docs/api.md), ``title`` is fixed per type, ``detail``
says what was wrong and what to do, ``instance`` is the request path. Validation problems add ``errors`` (one per
invalid field); 429 adds ``retry_after`` (and the Retry-After header); 401 sends ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from requests import RequestException
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from web3.exceptions import Web3RPCError

from ledger.errors import (
    ChainError,
    ConfigError,
    InputError,
    KeystoreError,
    LedgerError,
    NotFoundError,
    StateError,
    VerificationError,
)
from ledger.services.auth import AuthenticationError, PermissionDenied
from ledger.storage.store import refusal, refusal_in

from .ratelimit import RateLimited

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("api")


class JsonAnswer(JSONResponse):
    """The gateway's JSON answers (``default_response_class``, and every problem): UTF-8 as FastAPI writes them, but a
    string holding a lone surrogate (``\\ud800``, which JSON spells and Python reads, e.g. from a JSON column an
    insider edited) is written escaped rather than failing the whole answer with a 500: one edited grant row hid
    every grant of the lists quoting it."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


class FieldError(BaseModel):
    field: str = Field(description="Where the problem is, e.g. body.records.0.subject")
    message: str
    code: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="URI reference naming the kind of problem, e.g. /problems/forbidden")
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None
    retry_after: int | None = None


# slug, title per status / error class
_KINDS: dict[str, tuple[int, str]] = {
    "bad-request": (400, "Bad request"),
    "unauthenticated": (401, "Authentication required"),
    "forbidden": (403, "Forbidden"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "conflict": (409, "Conflict with the current state"),
    "chain-refused": (409, "The chain refused the transaction"),
    "invalid-input": (422, "Invalid input"),
    "validation-error": (422, "Request validation failed"),
    "verification-failed": (422, "Verification failed"),
    "request-timeout": (408, "Request body too slow"),
    "payload-too-large": (413, "Request body too large"),
    "unsupported-encoding": (415, "Content encoding not supported"),
    "headers-too-large": (431, "Request headers too large"),
    "body-too-complex": (422, "Request body too complex"),
    "rate-limited": (429, "Too many requests"),
    "internal-error": (500, "Internal error"),
    "chain-unavailable": (502, "The chain could not be reached"),
    "server-misconfigured": (503, "The gateway is not configured to do this"),
}


def problem(
    slug: str,
    detail: str,
    request: Request | None = None,
    *,
    status: int | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    code, title = _KINDS.get(slug, (status or 500, slug.replace("-", " ").capitalize()))
    body = Problem(
        type=f"/problems/{slug}",
        title=title,
        status=status or code,
        detail=detail,
        instance=request.url.path if request is not None else None,
        **extra,
    )
    return JsonAnswer(
        body.model_dump(exclude_none=True), status_code=body.status, media_type=PROBLEM_JSON, headers=headers
    )


def _public_detail(request: Request, exc: Exception) -> str:
    """The error's message as a client may read it: where on the server to look (``LedgerError.where``: a keystore
    directory, a file, the node's URL) is logged, never answered; and should a message name one of the ledger's
    own locations anyway, it is replaced, so no answer maps the server's disk for a client."""
    detail = str(exc)
    where = getattr(exc, "where", None)
    if where:
        log.info("%s on %s: %s (%s)", type(exc).__name__, request.url.path, detail, where)
    ledger = getattr(request.app.state, "ledger", None)
    settings = getattr(ledger, "settings", None)
    if settings is not None:
        places = [str(settings.keys_dir), str(settings.deployment_path), str(settings.data_dir)]
        if settings.rpc_url:
            places.append(str(settings.rpc_url))
        for place in sorted(places, key=len, reverse=True):  # the longest first: a file inside the data directory
            detail = detail.replace(place, "<server path>" if place != settings.rpc_url else "LEDGER_RPC_URL")
    return detail


def _ledger_error(request: Request, exc: Exception) -> JSONResponse:
    detail = _public_detail(request, exc)
    if isinstance(exc, AuthenticationError):
        return problem(
            "unauthenticated",
            detail,
            request,
            headers={"WWW-Authenticate": 'Bearer realm="provenance-ledger", error="invalid_token"'},
        )
    if isinstance(exc, PermissionDenied):
        return problem("forbidden", detail, request)
    if isinstance(exc, NotFoundError):
        return problem("not-found", detail, request)
    if isinstance(exc, InputError):
        errors = [FieldError(field=exc.field, message=detail)] if exc.field else None
        return problem("invalid-input", detail, request, errors=errors)
    if isinstance(exc, VerificationError):
        return problem("verification-failed", detail, request)
    if isinstance(exc, StateError):
        return problem("conflict", detail, request)
    if isinstance(exc, ChainError):
        return problem("chain-refused" if exc.error_name else "chain-unavailable", detail, request)
    if isinstance(exc, (ConfigError, KeystoreError)):
        log.error("gateway misconfigured: %s", detail)
        return problem("server-misconfigured", detail, request)
    if refusal_in(exc) is not None:
        return _database_refused(request, exc)
    log.exception("unclassified ledger error", exc_info=exc)
    return problem("internal-error", "the gateway failed; the error was logged", request)


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # registered for RequestValidationError only
        raise exc
    errors = [
        FieldError(field=".".join(str(p) for p in e.get("loc", ())), message=_message(e), code=e.get("type"))
        for e in exc.errors()
    ]
    summary = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
    return problem("validation-error", f"the request does not match the schema: {summary}", request, errors=errors)


def _message(error: Any) -> str:
    """A validation error's message; for a body that is no JSON to the ledger's reader, what its reader said (a
    number whose text is not its value names the number and where it stands: docs/format.md, Numbers)."""
    message = str(error.get("msg", ""))
    ctx = error.get("ctx")
    if error.get("type") == "json_invalid" and isinstance(ctx, dict) and isinstance(ctx.get("error"), str):
        return f"{message}: {ctx['error']}"
    return message


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # registered for StarletteHTTPException only
        raise exc
    slug = {
        400: "bad-request",
        401: "unauthenticated",
        403: "forbidden",
        404: "not-found",
        405: "method-not-allowed",
        409: "conflict",
        422: "invalid-input",
        429: "rate-limited",
    }.get(exc.status_code, "internal-error")
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no resource at {request.url.path}; GET /docs lists the endpoints"
    return problem(slug, detail, request, status=exc.status_code, headers=getattr(exc, "headers", None))


def _rate_limited(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RateLimited):  # registered for RateLimited only
        raise exc
    return problem(
        "rate-limited", str(exc), request, retry_after=exc.retry_after, headers={"Retry-After": str(exc.retry_after)}
    )


def _chain_unreachable(request: Request, exc: Exception) -> JSONResponse:
    """A chain read that failed below the library's own error mapping (the node down or not answering)."""
    log.warning("chain read failed on %s: %s", request.url.path, exc)
    return problem(
        "chain-unavailable", "the chain node could not be read; retry shortly (the gateway logged the cause)", request
    )


def _database_refused(request: Request, exc: Exception) -> JSONResponse:
    """A query the database refused (a table renamed or a column retyped under the ledger, the server gone), or an
    error raised from one: logged as the driver's error class alone - its text quotes the statement, and a traceback
    the values of a write (what an applicant typed) - and answered as the gateway's failure."""
    refused = refusal_in(exc)
    if refused is None:  # registered for DBAPIError, called for errors raised from one
        raise exc
    log.error(
        "%s on %s; `ledger reconcile` reports a schema changed under the ledger (schema_altered)",
        refusal(refused),
        request.url.path,
    )
    return problem("internal-error", "the gateway's database refused a query; the error was logged", request)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    if refusal_in(exc) is not None:  # raised outside the routes (the request guard's sign-out check), or from one
        return _database_refused(request, exc)
    log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return problem("internal-error", "the gateway failed; the error was logged", request)


class _NoStatements(logging.Filter):
    """On the server's error log: a traceback whose chain holds a database refusal is written as the record's message
    and the refusal's class alone. Starlette raises every error its catch-all answered (:func:`_unexpected`) again
    to the server, which logs its traceback ("Exception in ASGI application"): the refused statement (red team
    round 41b)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        refused = refusal_in(exc) if exc is not None else None
        if refused is not None:
            record.msg, record.args = "%s (%s)", (record.getMessage().strip(), refusal(refused))
            record.exc_info, record.exc_text = None, None
        return True


def _quiet_server_log() -> None:
    server = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _NoStatements) for f in server.filters):
        server.addFilter(_NoStatements())


def install(app: FastAPI) -> None:
    _quiet_server_log()
    app.add_exception_handler(LedgerError, _ledger_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RateLimited, _rate_limited)
    app.add_exception_handler(RequestException, _chain_unreachable)
    app.add_exception_handler(Web3RPCError, _chain_unreachable)
    app.add_exception_handler(DBAPIError, _database_refused)
    app.add_exception_handler(Exception, _unexpected)


def _example(slug: str, detail: str, **extra: Any) -> dict[str, Any]:
    status, title = _KINDS[slug]
    return {
        "description": title,
        "model": Problem,
        "content": {
            PROBLEM_JSON: {
                "example": {
                    "type": f"/problems/{slug}",
                    "title": title,
                    "status": status,
                    "detail": detail,
                    "instance": "/certificates/0x5b1c…/content",
                    **extra,
                }
            }
        },
    }


Responses = dict[int | str, dict[str, Any]]
R401: Responses = {401: _example("unauthenticated", "the token expired at 2026-03-01T10:15:00+00:00; sign in again")}
R403: Responses = {403: _example("forbidden", "department 'PSB' has no live grant to read certificate 0x5b1c…")}
R404: Responses = {404: _example("not-found", "certificate 0x5b1c… is not in this ledger's store")}
R409: Responses = {409: _example("chain-refused", "the chain refused revoke: AnchorCertificateRevoked(0x5b1c…)")}
R422: Responses = {
    422: _example(
        "validation-error",
        "the request does not match the schema: body.purpose: Field required",
        errors=[{"field": "body.purpose", "message": "Field required", "code": "missing"}],
    )
}
R413: Responses = {413: _example("payload-too-large", "the request body exceeds 4194304 bytes; split the request")}
R429: Responses = {429: _example("rate-limited", "too many requests from this address; retry after 2 s", retry_after=2)}
AUTHED: Responses = {**R401, **R403, **R422}
PUBLIC: Responses = {**R413, **R422, **R429}
