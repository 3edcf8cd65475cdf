"""Lists that grow with the ledger come a page at a time (api/paging.py): the access log, a certificate's reads and
an auditor's reading of any log. Before, each answer held the whole list, built in memory: a log of millions of
entries made one request take the gateway's memory. Following the ``Link`` header's next page gives every entry
exactly once, in order; bad paging parameters get a 422 that says what to send."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from ledger.client import Ledger
from ledger.services import accesslog

from .api_support import Clock, assert_problem, bearer, issue, login, make_client, register

AT = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def _record(ledger: Ledger, department: str, certificate: str, action: str = "read") -> int:
    entry = accesslog.record(
        ledger,
        certificate=certificate,
        issuer=department,
        action=action,
        outcome="served",
        actor="PAGING-READER",
        signer=None,
        at=AT,
    )
    return int(entry.seq)


def _follow(client: Any, url: str, token: str, **params: Any) -> tuple[list[dict[str, Any]], list[int]]:
    """Every item of every page from ``url`` on, and the size of each page."""
    items: list[dict[str, Any]] = []
    sizes: list[int] = []
    response = client.get(url, params=params, headers=bearer(token))
    while True:
        assert response.status_code == 200, response.text
        sizes.append(len(response.json()))
        items += response.json()
        link = response.headers.get("link")
        if link is None:
            return items, sizes
        match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
        assert match, link
        response = client.get(match.group(1), headers=bearer(token))


def test_pages_of_the_access_log_and_of_a_certificates_reads_give_every_entry_once(
    ledger: Ledger, fresh_department: str
) -> None:
    client = make_client(ledger, Clock())
    token = login(client, ledger, fresh_department)
    mine = issue(ledger, fresh_department, 1)[0]["digest"]
    other = "0x" + "c3" * 32
    seqs = [_record(ledger, fresh_department, cert) for cert in (mine, other, mine, mine, other, mine, mine)]
    seqs.append(_record(ledger, fresh_department, mine, action="grant"))
    seqs.append(_record(ledger, fresh_department, mine))

    evil = client.get("/access-log", params={"limit": 1}, headers={**bearer(token), "Host": "evil.example"})
    assert evil.headers["link"].startswith("</access-log?") and "evil" not in evil.headers["link"]
    whole = client.get("/access-log", headers=bearer(token))
    assert whole.status_code == 200 and "link" not in whole.headers  # under a page: one answer, as before
    items, sizes = _follow(client, "/access-log", token, limit=3)
    assert [e["seq"] for e in items] == [e["seq"] for e in whole.json()] == seqs
    assert sizes == [3, 3, 3, 0]  # a full last page names a next one, which is empty

    reads_of_mine = [s for s, c in zip(seqs[:7], (1, 0, 1, 1, 0, 1, 1), strict=True) if c] + [seqs[8]]
    listed = client.get(f"/certificates/{mine}/accesses", headers=bearer(token)).json()
    assert [e["seq"] for e in listed] == reads_of_mine  # the grant event left out, the other certificate's too
    paged, _ = _follow(client, f"/certificates/{mine}/accesses", token, limit=2)
    assert [e["seq"] for e in paged] == reads_of_mine
    assert {e["certificate"] for e in paged} == {mine}


def test_an_auditor_pages_through_every_departments_log_in_order(ledger: Ledger, fresh_department: str) -> None:
    client = make_client(ledger, Clock())
    auditor = login(client, ledger, "AUD")
    seqs = [_record(ledger, fresh_department, "0x" + f"{i:02x}" * 32) for i in range(5)]

    one, _ = _follow(client, "/audit/logs/access", auditor, department=fresh_department, limit=2)
    assert [e["seq"] for e in one] == seqs
    # across departments: by department, then sequence number, starting after a place (the cursor)
    page = client.get(
        "/audit/logs/access", params={"after": f"{fresh_department}:{seqs[1]}", "limit": 3}, headers=bearer(auditor)
    )
    assert page.status_code == 200
    assert [(e["department"], e["seq"]) for e in page.json()] == [(fresh_department, s) for s in seqs[2:]]
    assert f"after={fresh_department}%3A{seqs[4]}" in page.headers["link"]
    later = client.get(page.headers["link"][1:].split(">")[0], headers=bearer(auditor)).json()
    places = [(e["department"], e["seq"]) for e in later]
    assert places == sorted(places) and all(d > fresh_department for d, _ in places)


def test_bad_paging_parameters_are_refused_with_what_to_send(ledger: Ledger, fresh_department: str) -> None:
    client = make_client(ledger, Clock())
    token = login(client, ledger, fresh_department)
    for params in (
        {"limit": 0},
        {"limit": 1001},
        {"limit": "ten"},
        {"after": "MKT"},
        {"after": "MKT:-1"},
        {"after": "MKT:1e3"},
        {"after": ":5"},
        {"after": "A B:5"},
        {"after": "MKT:" + "9" * 19},
    ):
        body = assert_problem(client.get("/access-log", params=params, headers=bearer(token)), 422)
        assert "limit" in str(body) or "after" in str(body), (params, body)


def test_the_grants_a_department_received_come_a_page_at_a_time(ledger: Ledger, fresh_department: str) -> None:
    """Any issuer can add to another department's list of received grants (a grant disclosing no personal field
    needs no consent), so ``GET /grants/received`` answered, whole, a list a hostile issuer could grow without bound.
    Now it comes a page at a time: every grant exactly once, oldest first, and a cursor naming no grant of the
    caller's list is a 422 that says what to send."""
    from datetime import timedelta

    from ledger.services import sharing

    client = make_client(ledger, Clock())
    grantee = register(ledger, "PGR", "verifier")
    (doc,) = issue(ledger, fresh_department, 1)
    signer = ledger.department_account(fresh_department).address
    made = [
        sharing.create_grant(
            ledger,
            issuer=fresh_department,
            signer=signer,
            digest=doc["digest"],
            grant=sharing.GrantCreate(
                grantee=grantee, purpose=f"paging {i}", expires_at=AT + timedelta(days=1), reveal=["id"]
            ),
            now=AT + timedelta(seconds=i // 2),  # pairs made at one instant: the id orders them
        ).id
        for i in range(7)
    ]
    token = login(client, ledger, grantee)
    items, sizes = _follow(client, "/grants/received", token, limit=3)
    assert sorted(g["id"] for g in items) == sorted(made) and sizes == [3, 3, 1]
    assert [(g["created_at"], g["id"]) for g in items] == sorted((g["created_at"], g["id"]) for g in items)
    whole = client.get("/grants/received", headers=bearer(token)).json()
    assert [g["id"] for g in whole] == [g["id"] for g in items]
    for after in ("f" * 24, "not-hex", "a" * 33):
        body = assert_problem(client.get("/grants/received", params={"after": after}, headers=bearer(token)), 422)
        assert "after" in str(body), body
    # another department's grant is no cursor of this list
    other = register(ledger, "PGO", "verifier")
    theirs = sharing.create_grant(
        ledger,
        issuer=fresh_department,
        signer=signer,
        digest=doc["digest"],
        grant=sharing.GrantCreate(grantee=other, purpose="other", expires_at=AT + timedelta(days=1), reveal=["id"]),
        now=AT,
    )
    assert_problem(client.get("/grants/received", params={"after": theirs.id}, headers=bearer(token)), 422)
