"""Red team, round 36: the guard's unreadable bodies (rt34b), the listings' time windows (gaps34/rt35) and the
decision and certificate bundles the library and the court's verifier both judge (rt34a).

1. (An anonymous client, or a signed-in department) post a body nobody can read (``{``, not UTF-8, a number too
   long to read, whitespace, duplicate keys) to an authenticated route, as often as it likes: the body was refused
   (422) before the dependency that spends the caller's budget ran, so no budget was ever spent, and each request
   had the gateway read and parse up to the anonymous body limit (1 MiB), or 4 MiB with a token.
2. (An auditor, or a client of its own department's access log) ask for a window with ``since=20261201``: the
   gateway read a number as a Unix time (seconds, or milliseconds past 2e10, pydantic's rule), so a compact date
   listed the entries since 1970-08-23, and nothing said so.

Each test is one attack, named in its docstring with the adversary and what it tries. Real anvil, real database
(SQLite, or PostgreSQL with LEDGER_TEST_DATABASE_URL), the gateway in process; no mocks.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from ledger.client import Ledger

from .api_support import Clock, bearer, login, make_client, problem_body, register

UNREADABLE = {
    "a brace": b"{",
    "not UTF-8": b'{"a":"\xff"}',
    "a number too long to read": b'{"a":' + b"1" * 5000 + b"}",
    "whitespace": b"   ",
    "duplicate keys": b'{"a":1,"a":2}',
}
AUTHENTICATED_POSTS = ("/decisions", "/certificates", "/verify", "/certificates/0x00/revoke", "/access-log/anchor")


@pytest.mark.parametrize("route", AUTHENTICATED_POSTS)
def test_an_unreadable_body_spends_the_anonymous_callers_refused_budget(ledger: Ledger, route: str) -> None:
    """Adversary: an anonymous client posting bodies nobody can read to an authenticated route, past the budget
    of requests without a valid token (3 here): answered 422 each time, for ever, with no budget spent.
    Holds now: each spends the address's refused-request budget, then 429."""
    client = make_client(ledger, Clock(), refused_burst=3, refused_per_second=0.001)
    for what, body in UNREADABLE.items():
        client.cookies.clear()
        answers = [client.post(route, content=body, headers={"content-type": "application/json"}) for _ in range(4)]
        statuses = [a.status_code for a in answers]
        assert statuses[-1] == 429, (what, statuses)
        assert all(s in (401, 422, 429) for s in statuses), (what, statuses)
        problem_body(answers[-1], 429)
        client = make_client(ledger, Clock(), refused_burst=3, refused_per_second=0.001)


def test_an_unreadable_body_spends_the_signed_in_departments_budget(ledger: Ledger) -> None:
    """Adversary: a signed-in department posting 4 MiB bodies nobody can read to /decisions: its budget was never
    spent. Holds now: each spends one of the department's requests, then 429."""
    code = register(ledger, "RTU", "approver")
    client = make_client(ledger, Clock(), authenticated_burst=4, authenticated_per_second=0.001)
    token = login(client, ledger, code)
    headers = {"content-type": "application/json", **bearer(token)}
    statuses = [client.post("/decisions", content=b"{", headers=headers).status_code for _ in range(5)]
    assert statuses == [422, 422, 422, 422, 429], statuses
    # a readable request still spends once: the budget is not spent twice by the mend
    client = make_client(ledger, Clock(), authenticated_burst=2, authenticated_per_second=0.001)
    token = login(client, ledger, code)
    answer = client.get("/access-log", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    answer = client.get("/access-log", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    problem_body(client.get("/access-log", headers=bearer(token)), 429)


@pytest.mark.parametrize("value", ["20261201", "1700000000", "1700000000000", "0", "-1", "1.5", "253402300800"])
@pytest.mark.parametrize("path", ["/audit/logs/decisions", "/access-log"])
def test_a_number_is_not_taken_for_a_listings_time(ledger: Ledger, path: str, value: str) -> None:
    """Adversary: an auditor (or a department reading its access log) writing a compact date or a Unix time for
    ``since``/``until``: read as seconds (or milliseconds past 2e10) since 1970, a window nobody asked for, listed
    without a word. Holds now: 422 naming the parameter and the form to give."""
    client = make_client(ledger, Clock())
    code = register(ledger, "RTW", "auditor")
    token = login(client, ledger, code)
    for key in ("since", "until"):
        answer = client.get(f"{path}?{key}={quote(value)}", headers=bearer(token))
        body = problem_body(answer, 422)
        assert key in body["detail"] and "ISO 8601" in body["detail"] and "2026-" in body["detail"], body
    good = client.get(f"{path}?since=2026-12-01T00:00:00Z&until=2026-12-02T00:00:00%2B08:00", headers=bearer(token))
    assert good.status_code == 200, good.text
