"""The permission matrix: every kind of caller against every endpoint, asserting the exact status code.

Callers: an issuer (the certificate's), another issuer, a verifier holding a live grant, an auditor, an approver,
nobody (no token), a suspended department, a department whose key was rotated out, a forged token and an expired
token. Roles come from the real registry on the session's anvil chain; only the clock is supplied by the test.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from ledger.client import Ledger
from ledger.services import consent
from ledger.services.auth import sign_challenge
from ledger.services.departments import Council

from . import consent_support
from .api_support import Clock, assert_problem, bearer, issue, login, make_client, register
from .conftest import make_records

PRINCIPALS = (
    "issuer",
    "other_issuer",
    "verifier",
    "auditor",
    "approver",
    "anonymous",
    "suspended",
    "rotated",
    "forged",
    "expired",
)


@dataclass
class Matrix:
    ledger: Ledger
    client: TestClient
    clock: Clock
    codes: dict[str, str]
    tokens: dict[str, str | None]
    accounts: dict[str, Any]
    digest: str
    document: dict[str, Any]
    spare: list[str] = field(default_factory=list)
    consents: dict[str, str] = field(default_factory=dict)  # recipient -> the holder's consent to it
    extra: dict[str, Any] = field(default_factory=dict)  # what an endpoint's request builder keeps between calls

    def fresh(self) -> str:
        """An unused certificate of the issuer (for endpoints that change a certificate)."""
        return self.spare.pop()

    def grant(self) -> str:
        """A new grant by the issuer on the shared certificate."""
        r = self.client.post(
            f"/certificates/{self.digest}/grants",
            headers=bearer(self.tokens["issuer"]),
            json={
                "grantee": "INS",
                "purpose": "matrix",
                "expires_at": (self.clock.now + timedelta(days=1)).isoformat(),
                "consent": self.consents["INS"],
                "purpose_code": "insurance-claim",
            },
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


@pytest.fixture(scope="module")
def matrix(ledger: Ledger) -> Matrix:
    clock = Clock()
    client = make_client(ledger, clock)
    codes = {
        "issuer": "HOSP",
        "auditor": "AUD",
        "other_issuer": register(ledger, "XI", "issuer"),
        "verifier": register(ledger, "XV", "verifier"),
        "approver": register(ledger, "XA", "approver"),
        "suspended": register(ledger, "XS", "issuer", "verifier", "approver"),
        "rotated": register(ledger, "XR", "issuer", "verifier", "approver"),
    }
    tokens: dict[str, str | None] = {name: login(client, ledger, code) for name, code in codes.items()}
    accounts = {name: ledger.department_account(code) for name, code in codes.items()}
    council = Council(ledger)
    council.suspend(codes["suspended"])
    council.rotate_key(codes["rotated"])  # the token and the account kept above now hold the old key
    tokens["anonymous"] = None
    accounts["anonymous"] = Account.create()  # a key no department registered
    codes["anonymous"] = "HOSP"
    # forged: a real token whose payload now claims another department (the MAC no longer matches)
    prefix, payload, mac = str(tokens["other_issuer"]).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "HOSP"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    tokens["forged"], codes["forged"], accounts["forged"] = f"{prefix}.{forged}.{mac}", "HOSP", None
    # expired: signed in a day ago (15-minute tokens)
    clock.advance(days=-1)
    tokens["expired"], codes["expired"], accounts["expired"] = login(client, ledger, "HOSP"), "HOSP", None
    clock.advance(days=1)
    docs = issue(ledger, "HOSP", 41)
    m = Matrix(
        ledger, client, clock, codes, tokens, accounts, docs[0]["digest"], docs[0], [d["digest"] for d in docs[1:]]
    )
    for recipient in ("INS", codes["verifier"]):
        m.consents[recipient] = consent_support.give(ledger, m.document, recipient, clock.now).id
    r = client.post(
        f"/certificates/{m.digest}/grants",
        headers=bearer(tokens["issuer"]),
        json={
            "grantee": codes["verifier"],
            "purpose": "permission matrix",
            "reveal": ["subject.name"],
            "consent": m.consents[codes["verifier"]],
            "purpose_code": "insurance-claim",
            "expires_at": (clock.now + timedelta(days=30)).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    return m


Request = tuple[str, str, dict[str, Any]]


def _token_request(m: Matrix, who: str) -> Request:
    challenge = m.client.post("/auth/challenge", json={"department": m.codes[who]}).json()
    account = m.accounts[who]
    if who == "expired":  # a challenge answered after it expired
        m.clock.advance(hours=-1)
        challenge = m.client.post("/auth/challenge", json={"department": m.codes[who]}).json()
        m.clock.advance(hours=1)
        account = m.ledger.department_account("HOSP")
    signature = sign_challenge(account, challenge["message"]) if account is not None else "0x" + "11" * 65
    return "POST", "/auth/token", {"json": {"challenge_id": challenge["challenge_id"], "signature": signature}}


def _logout(m: Matrix, who: str) -> Request:
    """Sign out a token of its own: the shared tokens must outlive this test."""
    if who in ("issuer", "other_issuer", "verifier", "auditor", "approver"):
        return "POST", "/auth/logout", {"headers": bearer(login(m.client, m.ledger, m.codes[who]))}
    return "POST", "/auth/logout", {}


def _supersede(m: Matrix, who: str) -> Request:
    old, new = m.fresh(), m.fresh()
    return "POST", f"/certificates/{old}/supersede", {"json": {"successor": new}}


def _decide(m: Matrix, who: str) -> Request:
    """An application under a rule set the approver published (once); every caller sends a case of its own."""
    from ledger.services import decisions

    from .decision_support import applications, unique_rule_set

    if "rule_set" not in m.extra:
        rule_set = unique_rule_set(f"matrix-{m.codes['approver']}")
        decisions.publish_rule_set(m.ledger, rule_set, m.codes["approver"])
        m.extra["rule_set"] = rule_set.hex_digest
    application = dict(applications(1, seed=5)[0])
    application["case_id"] = f"MATRIX-{who}-{len(m.extra)}"
    m.extra[application["case_id"]] = who
    applicant = application.pop("applicant_ref")
    return (
        "POST",
        "/decisions",
        {
            "json": {
                "case_id": application["case_id"],
                "service_item": application["service_item"],
                "rule_set": m.extra["rule_set"],
                "applicant_ref": applicant,
                "input": application,
            }
        },
    )


def _row(
    issuer: int,
    other_issuer: int,
    verifier: int,
    auditor: int,
    approver: int,
    *,
    anonymous: int = 401,
    suspended: int = 403,
    rotated: int = 401,
    forged: int = 401,
    expired: int = 401,
) -> dict[str, int]:
    return dict(
        zip(
            PRINCIPALS,
            (issuer, other_issuer, verifier, auditor, approver, anonymous, suspended, rotated, forged, expired),
            strict=True,
        )
    )


def _public(status: int) -> dict[str, int]:
    return dict.fromkeys(PRINCIPALS, status)


ANY_DEPARTMENT = _row(200, 200, 200, 200, 200)
OWNER_OR_AUDITOR = _row(200, 403, 403, 200, 403)


def _assertion(m: Matrix, bound: Any) -> dict[str, Any]:
    signed = consent_support.assertion(m.ledger, consent_support.identifier(m.document), m.clock.now, bound)
    return signed.model_dump()


# endpoint id -> (method + path template, request builder, expected status per caller)
ENDPOINTS: dict[str, tuple[str, Callable[[Matrix, str], Request], dict[str, int]]] = {
    "challenge": (
        "POST /auth/challenge",
        lambda m, w: ("POST", "/auth/challenge", {"json": {"department": m.codes[w]}}),
        _public(201),
    ),
    "token": ("POST /auth/token", _token_request, {**_row(200, 200, 200, 200, 200, suspended=403), "anonymous": 401}),
    "me": ("GET /auth/me", lambda m, w: ("GET", "/auth/me", {}), ANY_DEPARTMENT),
    "logout": ("POST /auth/logout", _logout, _row(204, 204, 204, 204, 204)),
    "departments": ("GET /departments", lambda m, w: ("GET", "/departments", {}), ANY_DEPARTMENT),
    "issue": (
        "POST /certificates",
        lambda m, w: ("POST", "/certificates", {"json": {"records": make_records(1)}}),
        _row(201, 201, 403, 403, 403),
    ),
    "content": (
        "GET /certificates/{digest}/content",
        lambda m, w: ("GET", f"/certificates/{m.digest}/content", {}),
        _row(200, 403, 200, 403, 403),
    ),
    "revoke": (
        "POST /certificates/{digest}/revoke",
        lambda m, w: ("POST", f"/certificates/{m.fresh()}/revoke", {"json": {"reason": "other"}}),
        _row(200, 403, 403, 403, 403),
    ),
    "supersede": ("POST /certificates/{digest}/supersede", _supersede, _row(200, 403, 403, 403, 403)),
    "grant_create": (
        "POST /certificates/{digest}/grants",
        lambda m, w: (
            "POST",
            f"/certificates/{m.digest}/grants",
            {
                "json": {
                    "grantee": "INS",
                    "purpose": "claim 42",
                    "consent": m.consents["INS"],
                    "purpose_code": "insurance-claim",
                    "expires_at": (m.clock.now + timedelta(days=1)).isoformat(),
                }
            },
        ),
        _row(201, 403, 403, 403, 403),
    ),
    "grant_list": (
        "GET /certificates/{digest}/grants",
        lambda m, w: ("GET", f"/certificates/{m.digest}/grants", {}),
        _row(200, 403, 403, 403, 403),
    ),
    "accesses": (
        "GET /certificates/{digest}/accesses",
        lambda m, w: ("GET", f"/certificates/{m.digest}/accesses", {}),
        OWNER_OR_AUDITOR,
    ),
    "provenance": (
        "GET /certificates/{digest}/provenance",
        lambda m, w: ("GET", f"/certificates/{m.digest}/provenance", {}),
        OWNER_OR_AUDITOR,
    ),
    "grants_received": (
        "GET /grants/received",
        lambda m, w: ("GET", "/grants/received", {}),
        _row(403, 403, 200, 403, 403),
    ),
    "grant_revoke": (
        "DELETE /grants/{grant_id}",
        lambda m, w: ("DELETE", f"/grants/{m.grant()}", {}),
        _row(200, 404, 403, 403, 403),
    ),
    "decide": ("POST /decisions", _decide, _row(403, 403, 403, 403, 201)),
    "verify": (
        "POST /verify",
        lambda m, w: ("POST", "/verify", {"json": {"document": m.document}}),
        _row(403, 403, 200, 403, 403),
    ),
    "public_verify": (
        "POST /public/verify",
        lambda m, w: ("POST", "/public/verify", {"json": {"digest": m.digest}}),
        _public(200),
    ),
    "public_timeline": (
        "GET /public/certificates/{digest}/timeline",
        lambda m, w: ("GET", f"/public/certificates/{m.digest}/timeline", {}),
        _public(200),
    ),
    "public_status_list": (
        "GET /public/status-lists/{department}/{root}/{purpose}",
        lambda m, w: (
            "GET",
            f"/public/status-lists/{m.document['anchor']['department']}/{m.document['anchor']['root']}/revocation",
            {},
        ),
        _public(200),
    ),
    "timeline_page": (
        "GET /public/certificates/{digest}/timeline.html",
        lambda m, w: ("GET", f"/public/certificates/{m.digest}/timeline.html", {}),
        _public(200),
    ),
    # the data subject's list of accesses: their provider's assertion, not a token or the certificate file; this
    # gateway trusts no provider
    "holder_accesses": (
        "POST /public/holder/accesses",
        lambda m, w: (
            "POST",
            "/public/holder/accesses",
            {"json": {"certificate": m.digest, "assertion": _assertion(m, consent.accesses_request(m.digest))}},
        ),
        _public(403),
    ),
    "access_log_own": ("GET /access-log", lambda m, w: ("GET", "/access-log", {}), ANY_DEPARTMENT),
    "access_log_issuer": (
        "GET /access-log",
        lambda m, w: ("GET", "/access-log", {"params": {"department": "HOSP"}}),
        _row(200, 403, 403, 200, 403),
    ),
    "access_log_anchor": ("POST /access-log/anchor", lambda m, w: ("POST", "/access-log/anchor", {}), ANY_DEPARTMENT),
    "access_log_check": ("GET /access-log/check", lambda m, w: ("GET", "/access-log/check", {}), ANY_DEPARTMENT),
    "audit_log": (
        "GET /audit/logs/{log}",
        lambda m, w: ("GET", "/audit/logs/decisions", {}),
        _row(403, 403, 403, 200, 403),
    ),
    "audit_check": (
        "GET /audit/logs/{log}/check",
        lambda m, w: ("GET", "/audit/logs/access/check", {"params": {"department": "HOSP"}}),
        _row(403, 403, 403, 200, 403),
    ),
    "page": ("GET /", lambda m, w: ("GET", "/", {}), _public(200)),
    "audit_report": (
        "GET /audit/report",
        lambda m, w: (
            "GET",
            "/audit/report",
            {"params": {"department": "HOSP", "from": "2026-01-01", "to": "2026-01-31", "format": "json"}},
        ),
        _row(403, 403, 403, 200, 403),
    ),
    # consent: the person's requests carry a provider's assertion, not a token; this gateway trusts no provider
    "consent_give": (
        "POST /public/consents",
        lambda m, w: (
            "POST",
            "/public/consents",
            {
                "json": {
                    "assertion": _assertion(m, consent_support.request(m.document, "INS", m.clock.now)),
                    "consent": consent_support.request(m.document, "INS", m.clock.now).model_dump(mode="json"),
                }
            },
        ),
        _public(403),
    ),
    "consent_withdraw": (
        "POST /public/consents/{consent_id}/withdraw",
        lambda m, w: (
            "POST",
            f"/public/consents/{m.consents['INS']}/withdraw",
            {"json": {"assertion": _assertion(m, consent.withdrawal_request(m.consents["INS"]))}},
        ),
        _public(403),
    ),
    "consent_mine": (
        "POST /public/consents/mine",
        lambda m, w: (
            "POST",
            "/public/consents/mine",
            {"json": {"assertion": _assertion(m, consent.listing_request(m.ledger))}},
        ),
        _public(403),
    ),
    "consent_list": (
        "GET /certificates/{digest}/consents",
        lambda m, w: ("GET", f"/certificates/{m.digest}/consents", {}),
        _row(200, 403, 403, 403, 403),
    ),
    "consent_check": (
        "GET /consents/check",
        lambda m, w: ("GET", "/consents/check", {}),
        _row(200, 200, 403, 403, 403),
    ),
}

CASES = [(endpoint, who) for endpoint in ENDPOINTS for who in PRINCIPALS]


@pytest.mark.parametrize(("endpoint", "who"), CASES, ids=[f"{e}-{w}" for e, w in CASES])
def test_permission_matrix(matrix: Matrix, endpoint: str, who: str) -> None:
    _, build, expected = ENDPOINTS[endpoint]
    method, path, kwargs = build(matrix, who)
    headers = kwargs.pop("headers", None) or bearer(matrix.tokens[who])
    response = matrix.client.request(method, path, headers=headers, **kwargs)
    assert response.status_code == expected[who], response.text
    if expected[who] >= 400:
        body = assert_problem(response, expected[who])
        if expected[who] == 401:
            assert response.headers["www-authenticate"].startswith("Bearer")
        assert body["instance"] == path


def test_matrix_covers_every_endpoint(matrix: Matrix) -> None:
    """Every operation in the OpenAPI document is in the matrix (a new endpoint must be added to it)."""
    operations = {
        f"{method.upper()} {path}" for path, item in matrix.client.app.openapi()["paths"].items() for method in item
    }
    covered = {spec for spec, _, _ in ENDPOINTS.values()}
    assert operations == covered


def test_refused_attempts_are_logged(matrix: Matrix) -> None:
    """The content endpoint's refusals above (wrong department, no token, suspended, rotated, forged, expired)
    are all in the issuer's access log, and so is the granted read."""
    r = matrix.client.get(f"/certificates/{matrix.digest}/content", headers=bearer(matrix.tokens["anonymous"]))
    assert r.status_code == 401
    r = matrix.client.get(f"/certificates/{matrix.digest}/accesses", headers=bearer(matrix.tokens["issuer"]))
    actors = {(a["actor"], a["outcome"]) for a in r.json()}
    assert ("anonymous", "refused") in actors
    assert (matrix.codes["verifier"], "served") in actors
