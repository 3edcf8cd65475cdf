"""Helpers for the gateway tests: an app on the session ledger with a clock the test controls, sign-in, issuing.

Nothing is mocked: the app talks to the session's anvil chain and database; only the clock is supplied.
"""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient

from api.config import ApiSettings
from api.deps import get_now
from api.main import create_app
from ledger.client import Ledger
from ledger.formats.certificate import validate_record
from ledger.onchain.chain import ROLE_APPROVER, ROLE_AUDITOR, ROLE_ISSUER, ROLE_VERIFIER
from ledger.services.auth import sign_challenge
from ledger.services.departments import Council
from ledger.services.issuance import issue_records

from .conftest import TEST_ITEMS, TEST_TYPES, make_records

PROBLEM_KEYS = {"type", "title", "status", "detail"}
# Every rate-limit budget out of the way, for tests about something else (all requests come from one address).
UNLIMITED = {
    "public_burst": 1_000_000,
    "signin_burst": 1_000_000,
    "refused_burst": 1_000_000,
    "authenticated_burst": 1_000_000,
}
ROLE_BITS = {"issuer": ROLE_ISSUER, "verifier": ROLE_VERIFIER, "auditor": ROLE_AUDITOR, "approver": ROLE_APPROVER}


class Clock:
    """The gateway's clock in tests: frozen at ``now`` until the test moves it."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def make_client(ledger: Ledger, clock: Clock, **settings: Any) -> TestClient:
    options = {"anchor_interval_seconds": 0, **UNLIMITED, **settings}
    app = create_app(ledger, settings=ApiSettings(**options))
    app.dependency_overrides[get_now] = clock
    return TestClient(app, raise_server_exceptions=False)


def login(client: TestClient, ledger: Ledger, code: str) -> str:
    """Sign in as department ``code`` with the key the keystore holds for it; returns the bearer token."""
    challenge = client.post("/auth/challenge", json={"department": code})
    assert challenge.status_code == 201, challenge.text
    body = challenge.json()
    signature = sign_challenge(ledger.department_account(code), body["message"])
    token = client.post("/auth/token", json={"challenge_id": body["challenge_id"], "signature": signature})
    assert token.status_code == 200, token.text
    return str(token.json()["access_token"])


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


_codes = iter(range(1, 10_000))


def register(ledger: Ledger, prefix: str, *roles: str) -> str:
    """Register a department with exactly ``roles`` (codes unique per process)."""
    code = f"{prefix}{os.getpid() % 1000}-{next(_codes)}"
    bits = 0
    for role in roles:
        bits |= ROLE_BITS[role]
    items = TEST_ITEMS if bits & ROLE_APPROVER else ()
    Council(ledger).register(code, f"API test department {code}", bits, types=TEST_TYPES, items=items)
    return code


def issue(ledger: Ledger, department: str, n: int = 1) -> list[dict[str, Any]]:
    """Issue ``n`` certificates for ``department`` through the library; returns their documents."""
    records = [validate_record(r, i + 1, department=department) for i, r in enumerate(make_records(n))]
    out = io.StringIO()
    issue_records(ledger, records, department, out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert set(body) >= PROBLEM_KEYS, body
    assert body["status"] == status and body["type"].startswith("/problems/")
    return body  # type: ignore[no-any-return]


def sign_in(client: httpx.Client, ledger: Ledger, code: str) -> dict[str, str]:
    challenge = client.post("/auth/challenge", json={"department": code})
    assert challenge.status_code == 201, challenge.text
    body = challenge.json()
    token = client.post(
        "/auth/token",
        json={
            "challenge_id": body["challenge_id"],
            "signature": sign_challenge(ledger.department_account(code), body["message"]),
        },
    )
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def problem_body(response: Any, *statuses: int) -> dict[str, Any]:
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert set(body) >= PROBLEM_KEYS and body["status"] == response.status_code
    return body  # type: ignore[no-any-return]
