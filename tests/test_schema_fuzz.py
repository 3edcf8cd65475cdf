"""Issue 6, bad input against the gateway: schemathesis generates requests from the gateway's own OpenAPI
document (valid and invalid bodies, paths, queries), sent signed in as a department holding every role and also
anonymously; every answer must be a non-5xx response that conforms to the documented schema. Oversize bodies
are refused with 413."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from api.config import ApiSettings
from api.main import create_app
from ledger.client import Ledger

from .test_api_support import UNLIMITED, Clock, bearer, login, make_client, register

EXAMPLES = 8  # per operation and mode; derandomized, so a run is reproducible


@pytest.fixture(scope="module")
def gateway(ledger: Ledger) -> Any:
    return create_app(ledger, settings=ApiSettings(anchor_interval_seconds=0, **UNLIMITED))


@pytest.fixture(scope="module")
def token(ledger: Ledger) -> str:
    code = register(ledger, "FZ", "issuer", "verifier", "auditor", "approver")
    return login(make_client(ledger, Clock()), ledger, code)


@pytest.fixture(scope="module")
def api_schema(gateway: Any) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", gateway)


def test_no_5xx_and_no_schema_violation(api_schema: Any, token: str) -> None:
    """Every operation, valid and invalid generated requests, as a department with every role and anonymously."""
    failures: dict[str, str] = {}
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            for headers in (bearer(token), {}):
                case.call_and_validate(headers={**(case.headers or {}), **headers},
                                       checks=[not_a_server_error, response_schema_conformance])

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collect every failing operation, then report them all
            failures[operation.label] = str(exc)[:2000]
    assert operations >= 10
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())


def test_oversize_body_is_refused(ledger: Ledger, token: str) -> None:
    client = make_client(ledger, Clock())
    body = b'{"records": [' + b'{"id": "X", "type": "permit", "subject": {"n": "' + b"x" * (8 * 2**20) + b'"}}]}'
    answer = client.post("/certificates", content=body,
                         headers={**bearer(token), "Content-Type": "application/json"})
    assert answer.status_code == 413, answer.text[:300]
