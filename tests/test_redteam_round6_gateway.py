"""Red team, round 6: the gateway (api/) as an anonymous client, a hostile department and a malicious gateway.

Holes found (each test failed at e22b8a3):
- the request guard read the *last* ``Content-Type`` header, Starlette (FastAPI's body parsing) the *first*: a body
  sent as ``application/json`` then ``text/plain`` went past every depth, size-of-value and duplicate-key check to
  Python's recursive JSON parser, and one anonymous 300 KB request of brackets killed the gateway process (SIGSEGV:
  a dependency raises the recursion limit to 100,000);
- a moment outside the calendar once in UTC (``9999-12-31T23:59:59-14:00``, ``0001-01-01T00:00:00+14:00``) was a 500
  as a grant's expiry (an issuer) and as a consent's expiry (anyone: ``POST /public/consents`` computes the request
  the assertion must be bound to before it looks at the assertion);
- behind a trusted proxy that adds its own ``X-Forwarded-For`` line (HAProxy's ``option forwardfor``) instead of
  appending to the client's, the gateway read only the first line, the client's: a fresh rate-limit budget for
  every address it cared to write;
- the guard let any token whose MAC checked send a signed-in department's 4 MiB and 200,000 values, expired or not:
  a token kept from long ago bought a big body, parsed before the 401, for ever;
- a signed-in department (any role, 100 requests/s of budget) asking again and again for another department's
  certificate it has no grant for wrote one entry per attempt into that department's anchored access log: the
  issuer's, auditor's and data subject's lists of reads (unpaged) grew by 360,000 entries an hour;
- on PostgreSQL a NUL (``\\u0000``) in a JSON body string was a 500 wherever the string met a query: anyone's
  ``POST /auth/token`` (the challenge id), an issuer's grant (purpose, consent id). Round 3 refused a NUL in the
  path and query only;
- two ``POST /auth/logout`` of one token at once both found no revocation row and both inserted one: the second
  was a 500 (an IntegrityError; seen on PostgreSQL, where the two transactions really overlap);
- two ``DELETE /grants/{id}`` at once both found the grant live: both answered 200, both wrote a ``grant-revoked``
  entry into the anchored access log, and the later one moved the recorded revocation time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ledger.client import Ledger

from .api_support import UNLIMITED, Clock, bearer, issue, login, make_client, problem_body, register
from .gateway_process import Gateway, gateway


@pytest.fixture(scope="module")
def gw(ledger: Ledger) -> Iterator[Gateway]:
    with gateway(ledger, **UNLIMITED) as running:
        yield running


DEEP = 150_000  # levels: 300 KB of brackets, under the 1 MiB an anonymous body may be


def test_a_body_cannot_hide_from_the_guard_behind_a_second_content_type(gw: Gateway) -> None:
    """Adversary: an anonymous client naming Content-Type twice, JSON first (what FastAPI reads) and text last (what
    the guard read), with a body nested 150,000 levels deep: a 400 naming the header, and the gateway lives on.
    Headers whose value the guard checks and the application reads again (Content-Type, Content-Length,
    Authorization) may be sent once."""
    deep = b'{"department":' + b"[" * DEEP + b"]" * DEEP + b"}"
    with gw.client() as c:
        for route in ("/auth/challenge", "/public/verify", "/certificates"):
            for types in (("application/json", "text/plain"), ("application/json", "application/json")):
                answer = c.post(route, content=deep, headers=[("Content-Type", t) for t in types])
                problem = problem_body(answer, 400)
                assert "Content-Type header more than once" in problem["detail"], problem
        answer = c.get("/auth/me", headers=[("Authorization", "Bearer a"), ("Authorization", "Bearer b")])
        assert "Authorization header more than once" in problem_body(answer, 400)["detail"]
        # one Content-Type that is not JSON: FastAPI does not parse the body (422), nor does anyone else
        answer = c.post("/auth/challenge", content=deep, headers={"Content-Type": "text/plain"})
        problem_body(answer, 422)
    assert gw.alive(), gw.log()


OUTSIDE_THE_CALENDAR = ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00")
ASSERTION: dict[str, Any] = {
    "assertion": {
        "type": "pl-subject-assertion/2",
        "provider": "gov-id-app",
        "subject": "someone",
        "assurance": "substantial",
        "audience": "provenance-ledger:1:0x" + "00" * 20,
        "issued_at": "2026-01-01T00:00:00Z",
        "expires_at": "2026-01-01T00:05:00Z",
        "nonce": "4f1c2b7a9e0d3c5b8a6f1e2d3c4b5a69",
        "request": "0x" + "5c" * 32,
    },
    "signature": "0x" + "11" * 65,
}


def test_a_moment_outside_the_calendar_is_a_422_as_a_grant_or_consent_expiry(ledger: Ledger) -> None:
    """Adversary: an issuer granting "until 9999-12-31T23:59:59-14:00" (after the calendar's last instant in UTC),
    and an anonymous client giving a consent with such an expiry: 422 naming the time, never a 500."""
    client = make_client(ledger, Clock())
    issuer, verifier = register(ledger, "R6I", "issuer"), register(ledger, "R6V", "verifier")
    digest = issue(ledger, issuer)[0]["digest"]
    token = login(client, ledger, issuer)
    for moment in OUTSIDE_THE_CALENDAR:
        grant = {"grantee": verifier, "purpose": "claim 42", "expires_at": moment}
        answer = client.post(f"/certificates/{digest}/grants", json=grant, headers=bearer(token))
        assert "outside the calendar" in problem_body(answer, 422)["detail"], answer.text
        consent = {
            "certificate": digest,
            "recipient": verifier,
            "purpose_code": "insurance-claim",
            "purpose_text": "claim 42",
            "fields": ["subject.name"],
            "expires_at": moment,
        }
        answer = client.post("/public/consents", json={"assertion": ASSERTION, "consent": consent})
        assert "outside the calendar" in problem_body(answer, 422)["detail"], answer.text


TIGHT = {"public_burst": 3, "public_per_second": 0.001, "refused_burst": 3, "refused_per_second": 0.001}


def test_a_client_cannot_pick_its_budget_with_an_x_forwarded_for_line_of_its_own(ledger: Ledger) -> None:
    """Adversary: an anonymous client behind a trusted proxy that adds its own X-Forwarded-For line (the client's
    real address, last) sending a line of its own first, a new address each time: its real address is what the
    budget is keyed on, so the fourth request is 429 whatever it writes."""
    path = "/public/certificates/0x" + "cd" * 32 + "/timeline"
    with gateway(ledger, trusted_proxies="127.0.0.1", **TIGHT) as proxied, proxied.client() as c:
        for i in range(3):
            lines = [("X-Forwarded-For", f"198.51.100.{i}"), ("X-Forwarded-For", "203.0.113.50")]
            assert c.get(path, headers=lines).status_code == 404
        for i in range(3, 6):
            lines = [("X-Forwarded-For", f"198.51.100.{i}"), ("X-Forwarded-For", "203.0.113.50")]
            problem_body(c.get(path, headers=lines), 429)
        assert c.get(path, headers={"X-Forwarded-For": "203.0.113.51"}).status_code == 404  # another client


def test_an_expired_token_gets_an_anonymous_callers_body_limit(ledger: Ledger) -> None:
    """Adversary: whoever kept a department's token after it expired (a leaked log, a former employee's laptop)
    sending bodies only a signed-in department may send: refused at the anonymous limit (413), before the body is
    read whole, like a forged token; a live token is still let through to its 401/403/2xx."""
    issuer = register(ledger, "R6E", "issuer")
    clock = Clock()
    clock.advance(days=-1)  # signed in yesterday: the token expired long ago
    client = make_client(ledger, clock)
    stale = login(client, ledger, issuer)
    clock.advance(days=1)
    live = login(client, ledger, issuer)
    body = b'{"records": [' + b",".join([b'{"a": "' + b"x" * 1000 + b'"}'] * 1500) + b"]}"  # 1.5 MB
    assert len(body) > 2**20
    answer = client.post("/certificates", content=body, headers={**bearer(stale), "Content-Type": "application/json"})
    assert "exceeds 1048576 bytes" in problem_body(answer, 413)["detail"], answer.text
    answer = client.post("/certificates", content=body, headers={**bearer(live), "Content-Type": "application/json"})
    assert answer.status_code != 413, answer.text


def _accesses(client: Any, digest: str, token: str) -> list[dict[str, Any]]:
    answer = client.get(f"/certificates/{digest}/accesses", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_a_department_cannot_flood_anothers_access_log_with_refused_reads(ledger: Ledger) -> None:
    """Adversary: a signed-in department without a grant asking 40 times for another department's certificate:
    every attempt is refused (403), the first is recorded with its reason and who asked, and the others are
    counted (at most one entry per department, certificate and reason per refusal window); the count is written
    with the next entry once the window has closed, or by the anchoring round (``flush``)."""
    clock = Clock()
    client = make_client(ledger, clock, refusal_log_window_seconds=60)
    issuer, reader = register(ledger, "R6F", "issuer"), register(ledger, "R6R", "verifier")
    digest = issue(ledger, issuer)[0]["digest"]
    issuer_token, reader_token = login(client, ledger, issuer), login(client, ledger, reader)
    for _ in range(40):
        problem_body(client.get(f"/certificates/{digest}/content", headers=bearer(reader_token)), 403)
    refused = [a for a in _accesses(client, digest, issuer_token) if a["outcome"] == "refused"]
    assert [(a["actor"], a["authenticated"]) for a in refused] == [(reader, True)], refused
    assert "no grant" in refused[0]["detail"]
    clock.advance(seconds=61)
    problem_body(client.get(f"/certificates/{digest}/content", headers=bearer(reader_token)), 403)
    refused = [a for a in _accesses(client, digest, issuer_token) if a["outcome"] == "refused"]
    assert [(a["actor"], a["authenticated"]) for a in refused] == [(reader, True)] * 2, refused
    assert "39 more attempt(s)" in refused[1]["detail"], refused[1]
    # what is left counted when the window closes is written by the anchoring round
    problem_body(client.get(f"/certificates/{digest}/content", headers=bearer(reader_token)), 403)
    clock.advance(seconds=61)
    assert client.app.state.refusals.flush(ledger, now=clock.now) >= 1  # type: ignore[attr-defined]
    refused = [a for a in _accesses(client, digest, issuer_token) if a["outcome"] == "refused"]
    assert len(refused) == 3 and refused[2]["actor"] == reader and "1 more attempt(s)" in refused[2]["detail"]


def test_a_nul_in_a_json_body_is_a_422_before_any_query(ledger: Ledger) -> None:
    """Adversary: anyone sending a challenge id with a NUL, an issuer a grant whose purpose or consent id holds one
    (PostgreSQL refuses a NUL in any text: a 500 from deep inside the query). A 422 naming the NUL, on either
    database, before anything is looked up or written; a NUL spelled out (a backslash, then ``u0000``) is not
    one."""
    client = make_client(ledger, Clock())
    issuer, verifier = register(ledger, "R6N", "issuer"), register(ledger, "R6W", "verifier")
    digest = issue(ledger, issuer)[0]["digest"]
    token = login(client, ledger, issuer)
    grant = {"grantee": verifier, "purpose": "claim 42", "expires_at": "2099-01-01T00:00:00Z", "reveal": ["valid_from"]}
    probes = [
        ("/auth/token", {"challenge_id": "ab\u0000cd", "signature": "0x" + "11" * 65}, {}),
        (f"/certificates/{digest}/grants", {**grant, "purpose": "claim\u000042"}, bearer(token)),
        (f"/certificates/{digest}/grants", {**grant, "consent": "ab\u0000", "purpose_code": "x"}, bearer(token)),
        ("/public/verify", {"digest": digest, "x\u0000": 1}, {}),
    ]
    for path, body, headers in probes:
        answer = client.post(path, json=body, headers=headers)  # JSON writes the NUL as \\u0000
        assert "NUL character" in problem_body(answer, 422)["detail"], (path, answer.text)
    spelled = {"challenge_id": "ab\\u0000cd", "signature": "0x" + "11" * 65}  # a backslash, then text: no NUL
    problem_body(client.post("/auth/token", json=spelled), 401)


def _sign_out(gw: Gateway, headers: dict[str, str]) -> int:
    with gw.client() as own:
        return own.post("/auth/logout", headers=headers).status_code


def test_signing_out_twice_at_once_is_not_a_500(ledger: Ledger, gw: Gateway) -> None:
    """Adversary: whoever holds a token (its owner's retrying client, or a thief racing the owner) sending
    ``POST /auth/logout`` many times at once: each is 204 (signed out) or 401 (already signed out), never a 500
    from two sign-outs inserting the same token id; afterwards the token is refused."""
    from concurrent.futures import ThreadPoolExecutor

    from .api_support import sign_in

    for _ in range(3):
        with gw.client() as c:
            headers = sign_in(c, ledger, "MKT")

        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(_sign_out, [gw] * 16, [headers] * 16))
        assert set(statuses) <= {204, 401} and 204 in statuses, statuses
        with gw.client() as c:
            problem_body(c.get("/auth/me", headers=headers), 401)
    assert gw.alive(), gw.log()


def _revoke(gw: Gateway, headers: dict[str, str], grant_id: str) -> int:
    with gw.client() as own:
        return own.delete(f"/grants/{grant_id}", headers=headers).status_code


def test_revoking_a_grant_twice_at_once_revokes_it_once(ledger: Ledger, gw: Gateway) -> None:
    """Adversary: an issuer's client (retrying, or two officers) revoking one grant many times at once: one 200,
    the others 409 (already revoked), and one ``grant-revoked`` entry in the access log."""
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime, timedelta

    from ledger.services import accesslog, sharing

    from .api_support import sign_in

    digest = issue(ledger, "MKT")[0]["digest"]
    with gw.client() as c:
        headers = sign_in(c, ledger, "MKT")
    now = datetime.now(UTC)
    for _ in range(3):
        grant = sharing.create_grant(
            ledger,
            issuer="MKT",
            signer="0x" + "00" * 20,
            digest=digest,
            grant=sharing.GrantCreate(
                grantee="INS", purpose="claim 42", expires_at=now + timedelta(days=1), reveal=["valid_from"]
            ),
            now=now,
        )
        with ThreadPoolExecutor(12) as pool:
            statuses = list(pool.map(_revoke, [gw] * 12, [headers] * 12, [grant.id] * 12))
        assert sorted(statuses) == [200] + [409] * 11, statuses
        revoked = [
            e
            for e in accesslog.entries(ledger, department="MKT", certificate=digest)
            if e.get("action") == "grant-revoked" and e.get("grant") == grant.id
        ]
        assert len(revoked) == 1, revoked


def test_answers_with_personal_data_are_never_stored_by_a_cache(ledger: Ledger) -> None:
    """Adversary: the next user of a shared office computer, reading an officer's certificate contents and access
    lists back from the browser's cache. Every answer of the API says ``Cache-Control: no-store`` (the report and its
    style sheet keep their own); only the page assets may be cached."""
    client = make_client(ledger, Clock())
    issuer = register(ledger, "R6C", "issuer")
    digest = issue(ledger, issuer)[0]["digest"]
    token = login(client, ledger, issuer)
    for answer in (
        client.get(f"/certificates/{digest}/content", headers=bearer(token)),
        client.get(f"/certificates/{digest}/accesses", headers=bearer(token)),
        client.get("/access-log", headers=bearer(token)),
        client.get("/auth/me", headers=bearer(token)),
        client.post("/public/verify", json={"digest": digest}),
        client.get(f"/public/certificates/{digest}/timeline.html"),
        client.get("/auth/me"),  # a problem too
    ):
        assert answer.headers.get("cache-control") == "no-store", (answer.request.url, answer.headers)
    assert "no-store" not in client.get("/static/style.css").headers.get("cache-control", "")
