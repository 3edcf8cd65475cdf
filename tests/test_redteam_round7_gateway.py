"""Round 7, the gateway: a token that can no longer act still bought a signed-in department's body limits.

The request guard parses a body before any 401 (api/limits.py), so it lets a big body through only for a token
this gateway minted and that has not expired: a MAC and a clock check, no database, no registry. A token its
department signed out (a leaked one, after the department noticed), or one of a department the council suspended,
passed that check until it expired: 4 MiB and 200,000 values parsed per request instead of an anonymous caller's
1 MiB. The guard now asks the authenticator (sign-outs, the registry) before it reads more than an anonymous
caller may send: only such requests pay for that check.
"""

from __future__ import annotations

from typing import Any

from ledger.client import Ledger
from ledger.services.departments import Council

from .api_support import Clock, bearer, login, make_client, problem_body

BIG = b'{"records": [' + b",".join([b'{"a": "' + b"x" * 1000 + b'"}'] * 1500) + b"]}"  # 1.5 MB of JSON


def _post_big(client: Any, token: str) -> Any:
    assert len(BIG) > 2**20
    return client.post("/certificates", content=BIG, headers={**bearer(token), "Content-Type": "application/json"})


def test_a_signed_out_token_gets_an_anonymous_callers_body_limit(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: whoever holds a token its department signed out (copied from a log, a shared machine)."""
    client = make_client(ledger, Clock())
    gone, live = login(client, ledger, fresh_department), login(client, ledger, fresh_department)
    assert client.post("/auth/logout", headers=bearer(gone)).status_code == 204
    assert "exceeds 1048576 bytes" in problem_body(_post_big(client, gone), 413)["detail"]
    assert _post_big(client, live).status_code != 413  # the department's other token: its 4 MiB, as before


def test_a_suspended_departments_token_gets_an_anonymous_callers_body_limit(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: a department the council suspended, still holding a token issued before the suspension."""
    client = make_client(ledger, Clock())
    token = login(client, ledger, fresh_department)
    assert _post_big(client, token).status_code != 413
    Council(ledger).suspend(fresh_department)
    assert "exceeds 1048576 bytes" in problem_body(_post_big(client, token), 413)["detail"]
    small = client.post("/certificates", json={"records": []}, headers=bearer(token))
    assert "suspended" in problem_body(small, 403)["detail"]  # a small body still gets the reason, from the route
