"""Issue 6, bad input against the gateway: schemathesis generates requests from the gateway's own OpenAPI
document (valid and invalid bodies, paths, queries), sent signed in as a department holding every role and also
anonymously; every answer must be a non-5xx response that conforms to the documented schema. Oversize bodies
are refused with 413."""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from api.config import ApiSettings
from api.main import create_app
from ledger.client import Ledger

from .api_support import UNLIMITED, Clock, assert_problem, bearer, issue, login, make_client, register
from .gateway_process import gateway as gateway_process

EXAMPLES = 8  # per operation and mode; derandomized, so a run is reproducible


@pytest.fixture(scope="module")
def gateway(ledger: Ledger) -> Any:
    return create_app(ledger, settings=ApiSettings(anchor_interval_seconds=0, **UNLIMITED))


@pytest.fixture(scope="module")
def fuzz_department(ledger: Ledger) -> str:
    return register(ledger, "FZ", "issuer", "verifier", "auditor", "approver")


@pytest.fixture()
def token(ledger: Ledger, fuzz_department: str) -> str:
    """A fresh sign-in per test: the fuzz test signs tokens out (POST /auth/logout) on the way."""
    return login(make_client(ledger, Clock()), ledger, fuzz_department)


@pytest.fixture(scope="module")
def api_schema(gateway: Any) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", gateway)


def test_no_5xx_and_no_schema_violation(api_schema: Any, ledger: Ledger, fuzz_department: str, token: str) -> None:
    """Every operation, valid and invalid generated requests, as a department with every role and anonymously."""
    failures: dict[str, str] = {}
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        signs_out = operation.path == "/auth/logout"  # read by run() within this iteration only

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            # signing out spends a token: that operation gets one of its own each time
            own = login(make_client(ledger, Clock()), ledger, fuzz_department) if signs_out else token  # noqa: B023
            for headers in (bearer(own), {}):
                case.call_and_validate(
                    headers={**(case.headers or {}), **headers},
                    checks=[not_a_server_error, response_schema_conformance],
                )

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collect every failing operation, then report them all
            failures[operation.label] = str(exc)[:2000]
    assert operations >= 10
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())


def test_oversize_body_is_refused(ledger: Ledger, token: str) -> None:
    client = make_client(ledger, Clock())
    body = b'{"records": [' + b'{"id": "X", "type": "permit", "subject": {"n": "' + b"x" * (8 * 2**20) + b'"}}]}'
    answer = client.post("/certificates", content=body, headers={**bearer(token), "Content-Type": "application/json"})
    assert answer.status_code == 413, answer.text[:300]


# Shapes generated requests rarely hit, which once gave 500: wrong JSON types inside a certificate document and
# times before 1970. Each must be a 422 problem naming the field, on a real gateway process.
_SHAPES: list[tuple[str, Any]] = [
    ("anchor.chain_id", [31337]),
    ("anchor.chain_id", {"id": 31337}),
    ("anchor.chain_id", "31337"),
    ("anchor.chain_id", True),
    ("anchor.proof", 5),
    ("anchor.proof", "0x00"),
    ("anchor.proof", [5]),
    ("anchor.proof", ["0x" + "00" * 32] * 65),
    ("anchor.root", [1]),
    ("anchor.contract", 1),
    ("anchor.signature", {"r": 1}),
    ("anchor.block_number", "42"),
    ("anchor.tx_hash", None),
]


def test_wrong_types_inside_documents_and_early_times_are_422(ledger: Ledger, token: str) -> None:
    document = issue(ledger, "MKT")[0]
    with gateway_process(ledger, **UNLIMITED) as gw, gw.client() as client:
        for path, value in _SHAPES:
            bad = json.loads(json.dumps(document))
            section, name = path.split(".")
            bad[section][name] = value
            for route, headers in (("/public/verify", {}), ("/verify", bearer(token))):
                answer = client.post(route, json={"document": bad}, headers=headers)
                if value is None:  # an absent optional member is no type error
                    assert answer.status_code < 500, answer.text
                    continue
                body = assert_problem(answer, 422)
                assert path in body["detail"], (path, value, route, body)
        for at in ("1969-12-31T23:59:59Z", "0001-01-01T00:00:00", "1960-06-01T00:00:00+14:00"):
            body = assert_problem(
                client.post("/verify", json={"document": document, "at": at}, headers=bearer(token)), 422
            )
            assert body["errors"][0]["field"] == "body.at" and "1970" in body["detail"]
        assert (
            client.post(
                "/verify", json={"document": document, "at": "1970-01-01T00:00:00Z"}, headers=bearer(token)
            ).status_code
            == 200
        )
        huge = json.loads(json.dumps(document))
        huge["fields"].update({f"subject.f{i}": i for i in range(5000)})
        assert "values" in assert_problem(client.post("/public/verify", json={"document": huge}), 422)["detail"]
        assert gw.alive(), gw.log()
