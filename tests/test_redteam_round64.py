"""Red team round 64: an anonymous client of the gateway, a gateway relaying another department's messages, and a
court's expert against the evidence bundle and the standalone verifier.

1. (An anonymous client, from as many addresses as it likes: the public budgets are per client) ask again and
   again for a big batch's W3C status list (``GET /public/status-lists/{department}/{root}/{purpose}``): each answer
   rebuilt the batch's whole Merkle tree from its stored leaves (to check they lead to the root) and looked up the
   status of every leaf in the department's stream, so one request's work grew with the batch (60 ms for the
   default 10,000 certificates, 0.6 s for the largest batch the ledger makes), all of it again on each request.
   Fixed: leaves once found to lead to a root are known by their SHA-256 (a changed blob is checked again), and
   only the leaves whose digest the department's stream changed are looked up.
2. (An anonymous client; a relay or proxy in front of the gateway passing the client's Host on) send a path with a
   trailing slash (``POST /public/consents/``, ``/public/consents/mine/``, ``/public/verify/``, ``GET /docs/``):
   Starlette answered 307 with a Location built from the request's Host header and scheme, so the answer sent the
   client - with its body: a 307 keeps method and body, a person's signed assertion included - to whatever host
   the Host header named, and, behind a proxy terminating TLS, to ``http://`` in the clear. A Host header named
   twice (a proxy may route by one, Starlette reads the other) or holding ``/``, ``?``, ``#``, ``@`` or a space
   was served (RFC 9112 section 3.2: 400). Fixed: no path is redirected (a trailing slash is a path like any other:
   404 naming it), and a Host named twice or that is no URI authority is refused (400) before any route.
3. (An anonymous client, from as many addresses as it likes: the sign-in budget is per client) ask for sign-in
   challenges all day: each is a row kept until a day after it expired, and each request for one ran ``DELETE FROM
   auth_challenge WHERE expires_at < ...`` on a column no index covers, a scan of the whole table (and, on SQLite,
   of the database's one write lock) on every request, so each challenge - a department's honest sign-in included
   - cost more with every challenge asked that day. Fixed without a migration: the expired challenges are deleted
   at most once a minute (``auth.CHALLENGE_PURGE_SECONDS``), not by every request.
"""

from __future__ import annotations

import json
import socket
import sys
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from ledger.client import Ledger
from ledger.services import auth, status, statuslist
from ledger.services.verify import ChainView

from .api_support import UNLIMITED, Clock, issue, make_client
from .gateway_process import Gateway, gateway
from .sqlite_support import sqlite_steps


def _calls(fn: Any) -> tuple[Any, int]:
    """``fn()`` and how many Python and C function calls it made (the interpreter's profile hook: deterministic,
    unlike a clock on a shared machine)."""
    made = [0]

    def hook(_frame: Any, event: str, _arg: Any) -> None:
        if event in ("call", "c_call"):
            made[0] += 1

    sys.setprofile(hook)
    try:
        result = fn()
    finally:
        sys.setprofile(None)
    return result, made[0]


def test_a_big_batchs_status_list_asked_again_costs_what_a_small_ones_does(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an anonymous client asking again and again for the public W3C status list of a department's big
    batch. Each answer rebuilt the batch's Merkle tree and looked up every leaf's status: its work grew with the
    batch. Counted in function calls: asked again, the list of a 3,000-certificate batch costs about what the list
    of a 30-certificate batch does, and still sets exactly the revoked certificates' bits."""
    dept = fresh_department
    big = issue(ledger, dept, 3_000)
    small = issue(ledger, dept, 30)
    assert len({d["anchor"]["root"] for d in big}) == 1 and big[0]["anchor"]["root"] != small[0]["anchor"]["root"]
    revoked = [big[7], big[2_999], small[3]]
    for document in revoked:
        status.revoke(ledger, document["digest"], "fraud")
    view = ChainView(ledger.chain, ledger.settings.confirmations, status_lookup="herd")

    def listed(documents: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
        root = documents[0]["anchor"]["root"]
        return _calls(lambda: statuslist.list_credential(ledger, dept, root, "revocation", base="http://gw", view=view))

    for documents in (big, small):
        listed(documents)  # the first answer checks the leaves against the root
    # the least of three answers each: the view reads the chain again now and then (a head, the department's events
    # not final yet, every RESYNC_SECONDS), thousands of calls that say nothing of the list's own work
    (big_list, big_cost), (small_list, small_cost) = (
        min((listed(documents) for _ in range(3)), key=lambda answer: answer[1]) for documents in (big, small)
    )
    assert big_cost < small_cost + 1_000, (big_cost, small_cost)
    for credential, documents in ((big_list, big), (small_list, small)):
        bits = statuslist.decode(credential["credentialSubject"]["encodedList"])
        wanted = {i for i, d in enumerate(documents) if d in revoked}
        assert {i for i in range(len(documents)) if bits[i // 8] & (0x80 >> i % 8)} == wanted

    # the gateway serves the same list
    client = make_client(ledger, Clock())
    served = client.get(f"/public/status-lists/{dept}/{big[0]['anchor']['root']}/revocation")
    assert served.status_code == 200, served.text
    assert served.json()["credentialSubject"]["encodedList"] == big_list["credentialSubject"]["encodedList"]


def _exchange(gw: Gateway, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """``request`` sent as written over TCP (httpx writes one Host of its own); (status, headers, body)."""
    host, port = gw.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=60) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _post(path: str, host_lines: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\n{host_lines}Connection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def test_a_trailing_slash_is_never_a_redirect_built_from_the_host_header(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: an anonymous client (or a relay or proxy passing the client's Host header on) sending a path with a
    trailing slash and a Host of its choosing. Starlette answered 307 to ``http://<Host><path without the slash>``:
    a client following it sent the same body - a person's signed assertion, a certificate - to the host the Host
    header named, and behind a proxy terminating TLS in the clear. No answer of the gateway is a redirect now: such
    a path is a 404 naming it, and no answer carries a Location."""
    (document,) = issue(ledger, fresh_department, 1)
    assertion = json.dumps({"assertion": {"assertion": {}, "signature": "0x"}}).encode()
    with gateway(ledger, **UNLIMITED) as gw:
        for request in (
            _post("/public/consents/", "Host: evil.example\r\n", assertion),
            _post("/public/consents/mine/", "Host: evil.example\r\n", assertion),
            _post("/public/holder/accesses/", "Host: evil.example\r\n", assertion),
            _post("/public/verify/", "Host: evil.example\r\n", json.dumps({"digest": document["digest"]}).encode()),
            f"GET /public/certificates/{document['digest']}/timeline/ HTTP/1.1\r\nHost: evil.example\r\n"
            "Connection: close\r\n\r\n".encode(),
            b"GET /docs/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
        ):
            code, headers, body = _exchange(gw, request)
            assert code == 404 and "location" not in headers, (request[:60], code, headers)
            assert headers["content-type"].startswith("application/problem+json"), headers
            assert "evil.example" not in body.decode(), body
        # the paths as written are served as before
        code, _, body = _exchange(
            gw, _post("/public/verify", "Host: gw.example\r\n", b'{"digest": "%s"}' % document["digest"].encode())
        )
        assert code == 200 and json.loads(body)["verified"] is True, body
        assert gw.alive()


def test_a_host_header_named_twice_or_no_authority_is_refused(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: an anonymous client sending two Host headers (a proxy in front may route by the last, Starlette
    reads the first), or a Host holding what no URI authority holds (``/``, ``?``, ``#``, ``@``, a space): RFC 9112
    section 3.2 asks a server for 400, and Starlette builds the request's URL by writing the Host before the path.
    Refused with a problem document naming the Host header; the ordinary forms (a name, a port, an IPv6 literal,
    an IPv4 address, none at all in HTTP/1.0) are served."""
    (document,) = issue(ledger, fresh_department, 1)
    body = json.dumps({"digest": document["digest"]}).encode()
    with gateway(ledger, **UNLIMITED) as gw:
        for hosts in (
            "Host: gw.example\r\nHost: evil.example\r\n",
            "Host: gw.example/admin\r\n",
            "Host: gw.example?x\r\n",
            "Host: gw.example#x\r\n",
            "Host: user@evil.example\r\n",
            "Host: gw example\r\n",
            "Host: gw.example:80:81\r\n",
            "Host: [::1\r\n",
        ):
            code, headers, answer = _exchange(gw, _post("/public/verify", hosts, body))
            assert code == 400, (hosts, code, answer)
            assert headers["content-type"].startswith("application/problem+json") and b"Host" in answer, answer
        for hosts in (
            "Host: gw.example\r\n",
            "Host: gw.example:8443\r\n",
            "Host: [2001:db8::1]:443\r\n",
            "Host: 198.51.100.7\r\n",
            "Host: GW.Example.\r\n",
        ):
            code, _, answer = _exchange(gw, _post("/public/verify", hosts, body))
            assert code == 200 and json.loads(answer)["verified"] is True, (hosts, code, answer)
        request = (
            f"POST /public/verify HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        code, _, answer = _exchange(gw, request.encode() + body)
        assert code == 200, answer
        assert gw.alive()


def test_a_sign_in_challenge_costs_the_same_however_many_challenges_the_day_left(ledger: Ledger) -> None:
    """Adversary: an anonymous client asking for sign-in challenges all day from many addresses (the sign-in budget
    is per client). Each challenge is kept until a day after it expired, and each request for one deleted the
    expired ones with a scan of the whole table (its ``expires_at`` has no index). Counted in SQLite's steps: after
    20,000 more challenges kept, asking for one costs about what it cost before; the expired ones still go, once
    a day past their expiry has passed."""
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("counts SQLite's virtual-machine steps")
    from ledger.storage.models import AuthChallenge

    clock = Clock()
    client = make_client(ledger, clock)
    table = AuthChallenge.__table__  # type: ignore[attr-defined]
    with sqlite_steps(ledger.engine) as steps:

        def cost() -> int:
            steps.reset()
            answer = client.post("/auth/challenge", json={"department": "MKT"})
            assert answer.status_code == 201, answer.text
            return steps.count

        cost()  # the first request of a connection reads the schema
        before = cost()
        expires = clock.now + timedelta(minutes=5)
        with ledger.engine.begin() as conn:  # what 20,000 requests for a challenge leave for the day
            conn.execute(
                insert(table),
                [
                    {
                        "id": f"rt64-{i:059d}",
                        "department_id": "MKT",
                        "message": "m",
                        "created_at": clock.now,
                        "expires_at": expires,
                    }
                    for i in range(20_000)
                ],
            )
        cost()
        after = cost()
    assert after < before * 2 + 1_000, (before, after)

    def planted() -> int:
        with ledger.engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(table.c.id.like("rt64-%"))).scalar_one())

    assert planted() == 20_000
    clock.advance(days=1, minutes=5 + auth.CHALLENGE_PURGE_SECONDS / 60 + 1)
    cost()
    assert planted() == 0


def test_the_periodic_deletion_of_expired_challenges_reads_only_the_expired_ones(ledger: Ledger) -> None:
    """Adversary: the same anonymous client, after round 64's fix: the expired challenges are deleted once a minute,
    but each deletion still scans every challenge kept for the day. Counted in SQLite's steps: the request that
    deletes (a minute on) costs about what it costs with the table empty, 20,000 unexpired challenges kept."""
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("counts SQLite's virtual-machine steps")
    from ledger.storage.models import AuthChallenge

    clock = Clock()
    client = make_client(ledger, clock)
    table = AuthChallenge.__table__  # type: ignore[attr-defined]
    try:
        with sqlite_steps(ledger.engine) as steps:

            def deleting() -> int:  # a request a minute after the last deletion: this one deletes
                clock.advance(seconds=auth.CHALLENGE_PURGE_SECONDS + 1)
                steps.reset()
                answer = client.post("/auth/challenge", json={"department": "MKT"})
                assert answer.status_code == 201, answer.text
                return steps.count

            deleting()
            before = deleting()
            with ledger.engine.begin() as conn:
                conn.execute(
                    insert(table),
                    [
                        {
                            "id": f"rt64x-{i:058d}",
                            "department_id": "MKT",
                            "message": "m",
                            "created_at": clock.now,
                            "expires_at": clock.now + timedelta(hours=1),
                        }
                        for i in range(20_000)
                    ],
                )
            after = deleting()
    finally:
        with ledger.engine.begin() as conn:  # the session's store, as it was
            conn.execute(table.delete().where(table.c.id.like("rt64x-%")))
    assert after < before * 2 + 1_000, (before, after)
