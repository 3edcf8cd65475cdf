"""Red team, round 74: the gateway, attacked over TCP (a real ``python -m api``, tests/gateway_process.py) as an
anonymous client, as a relay of another's messages and as a signed-in department reaching past its authority.

1. Found, fixed (a signed-in issuing department, or whoever holds its token): ``POST /certificates`` with a record
   holding a lone surrogate (``"\\ud800"``, which JSON may write and the guard hands on as the ledger's parser reads
   it, round 23) was a 500: the gateway measured each record's size by encoding it to UTF-8 before the library's
   check of the record ran, and a lone surrogate has no UTF-8. The size is now measured as the ledger's parser
   counts it, so the library's refusal answers (422 naming the field), nothing issued.
2. Found, fixed (a department under audit, or a relay in front of the auditors' gateway, handing the auditor a check
   link one letter off): ``GET /audit/logs/{log}/check`` and ``GET /access-log/check`` checked any log name and any
   department code as written, so a log the ledger does not keep (``decision``) or a code nobody registered
   (``mkt``) was ``intact: true``. Such a log is now a 404 naming the ledger's logs, such a department the report's
   404 (entries stored under a code nobody registered are still checked and reported).
3. Found, fixed (a signed-in department on its own access log, which it grows at will, or an auditor on any log):
   a time window (``since``/``until``) no entry is in walked the whole log on every page, 170-265 ms a request at
   300,000 entries, holding a worker thread. A window's page now walks at most ``LEDGER_API_WINDOW_SCAN_ROWS``
   entries and names the next page after the last one it walked.
4. Found, fixed (any issuing department granting a department share after share): ``GET /grants/received`` sorted
   every grant the department ever received for each page (only ``grantee`` was indexed); migration 0021 indexes
   them in page order (grantee, created_at, id).
5. Found, fixed (the same, or only the years): a read through a grant, and the issuer's listing of a certificate's
   grants, looked up the certificate's grants to (or by) a department with that department's index on SQLite,
   sorting every grant it ever received (or made), three times a read; with a digest, the certificate's index is
   now the only one a database can use.

Held, tried without a test of its own (in-process and against the gateway process, both 4xx with the library's words):
- A lone surrogate in every other body a department or anyone sends: a grant's purpose, a revocation's reason,
  ``expected_type``, a sign-in's department and challenge id, a decision's ``applicant_ref`` (pydantic refuses the
  text), a decision's input value or member name (422: no canonical JSON), a certificate's field name or value at
  ``POST /verify`` and ``POST /public/verify`` (verified false, the text escaped in the answer).
- ``NaN`` and a 31-digit integer in a decision's input (422 naming them); ``at`` before 1970 (422), in 9999 (a report,
  not verified); a report of 3,652,028 days (422); ``limit`` past 1,000 and an ``after`` that is no place (422).
- A status list asked under another department than the batch's (404 naming the department); ``DELETE /grants/{id}``
  of another issuer's grant (the 404 an unknown id gets); ``/grants/received`` for an issuer without the verifier
  role (403).
- A cache reaching across requests: the view's kept validity windows are keyed by the dates' text and type, its
  batch checks by (department, root, signature, head) and never kept for a question about the past (``at``);
  ``expected_*`` are checked on every verification, nothing of them kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from ledger.client import Ledger
from ledger.storage.models import Certificate

from .api_support import problem_body, register, sign_in
from .gateway_process import BoundGateway

_JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def gw(ledger: Ledger) -> Iterator[BoundGateway]:
    with BoundGateway(ledger) as running:
        yield running


def _certificates_of(ledger: Ledger, department: str) -> int:
    with ledger.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(Certificate).where(Certificate.department_id == department)  # type: ignore[arg-type]
            ).scalar_one()
        )


def _record(name: str) -> dict[str, Any]:
    return {
        "id": "RT74-SURROGATE-1",
        "type": "business-licence",
        "subject": {"name": name, "credit_code": "91440300MA5000001"},
        "valid_from": "2026-01-01",
        "valid_until": "2031-12-31",
    }


def test_a_record_holding_a_lone_surrogate_is_refused_naming_its_field_not_a_500(
    ledger: Ledger, gw: BoundGateway, fresh_department: str
) -> None:
    """Adversary: a signed-in issuing department (or whoever holds its token) posting records for issuance. A lone
    surrogate is valid JSON (``"\\ud800"``) and the ledger's parser keeps it; the gateway's size check encoded the
    record to UTF-8 first and raised, a 500, where the library refuses the record naming the field."""
    client, before = gw.client, _certificates_of(ledger, fresh_department)
    headers = {**sign_in(client, ledger, fresh_department), **_JSON}
    body = json.dumps({"records": [_record("MARK")]}).replace('"MARK"', '"\\ud800"')
    answer = client.post("/certificates", content=body.encode(), headers=headers)
    detail = problem_body(answer, 422)["detail"]
    assert "subject.name" in detail and "nothing was issued" in detail, detail
    assert _certificates_of(ledger, fresh_department) == before
    # the same record spelt plainly is issued: the refusal was the surrogate's, not the route's
    plain = client.post("/certificates", json={"records": [_record("Plain Name Co.")]}, headers=headers)
    assert plain.status_code == 201, plain.text
    assert _certificates_of(ledger, fresh_department) == before + 1


def test_a_check_of_a_log_the_ledger_does_not_keep_or_of_no_department_is_refused_not_called_intact(
    ledger: Ledger, gw: BoundGateway, fresh_department: str
) -> None:
    """Adversary: a department under audit (or a relay in front of the auditors' gateway) handing the auditor a check
    link one letter off - ``/audit/logs/decision/check?department=MKT``, ``department=mkt``, an access-log check of a
    code nobody registered. Any log name and any code were checked as written: nothing stored under them, nothing
    anchored, so the answer was ``intact: true`` with no discrepancy, the verdict the auditor was looking for, for a
    log that does not exist. The auditors' report already refused an unregistered department (404)."""
    client = gw.client
    auditor = sign_in(client, ledger, "AUD")
    for path, params in (
        ("/audit/logs/decision/check", {"department": fresh_department}),
        ("/audit/logs/decision", {"department": fresh_department}),
        ("/audit/logs/decisions/check", {"department": fresh_department.lower()}),
        ("/audit/logs/access/check", {"department": "NODEPT74"}),
        ("/access-log/check", {"department": "NODEPT74"}),
    ):
        answer = client.get(path, params=params, headers=auditor)
        detail = problem_body(answer, 404)["detail"]
        assert "intact" not in answer.text, answer.text
        assert ("decisions, access, erasures" in detail) or ("is not registered" in detail), (path, detail)
    # a registered department's log with nothing in it yet is intact: the refusal is the name's, not the emptiness's
    for log in ("decisions", "access", "erasures"):
        answer = client.get(f"/audit/logs/{log}/check", params={"department": fresh_department}, headers=auditor)
        assert answer.status_code == 200 and answer.json()["intact"] is True, answer.text


def _follow(client: Any, path: str, params: dict[str, Any], headers: dict[str, str]) -> tuple[list[Any], list[int]]:
    """Every item of a paged listing, following its ``Link`` headers; with the entries each page moved past."""
    items: list[Any] = []
    steps: list[int] = []
    url: str | None = path
    before = 0
    while url is not None:
        answer = client.get(url, params=params if url == path else None, headers=headers)
        assert answer.status_code == 200, answer.text
        items += answer.json()
        link = answer.headers.get("link")
        if link is None:
            return items, steps
        url = link.split(">")[0].removeprefix("<")
        place = int(url.split("after=")[1].split("&")[0].split("%3A")[-1].split(":")[-1])
        steps.append(place - before)
        before = place
    return items, steps


def test_a_time_window_no_entry_is_in_reads_a_bounded_run_of_the_log_per_page(ledger: Ledger) -> None:
    """Adversary: a signed-in department (its own access log, which it grows at will: each read of its own
    certificate is an entry, 100 a second at its budget) or an auditor (any department's log, or every department's
    at once), asking again and again for a time window no entry is in (``GET /access-log?since=2099-01-01``,
    ``GET /audit/logs/access?since=...``). The window was a filter on the append time, which no index orders, so
    each page walked the whole log to find ``limit`` entries that are not there: 170 to 230 ms a request for a log of
    300,000 entries (SQLite, measured), each holding a worker thread; forty at once held every one. A page now walks
    at most ``window_scan_rows`` entries of the log (in its key order) and, when it found fewer than ``limit`` in the
    window, names the next page after the last entry it walked: short or empty pages, each of bounded cost, and every
    entry of the window still listed once."""
    code = register(ledger, "RW", "issuer", "verifier")
    with BoundGateway(ledger, LEDGER_API_WINDOW_SCAN_ROWS="40") as running:
        client = running.client
        own = sign_in(client, ledger, code)
        document = client.post("/certificates", json={"records": [_record("Window Co.")]}, headers={**own, **_JSON})
        assert document.status_code == 201, document.text
        digest = document.json()["certificates"][0]["digest"]
        for _ in range(100):  # the department's own reads: one entry each
            assert client.get(f"/certificates/{digest}/content", headers=own).status_code == 200
        mark = client.get("/access-log", params={"limit": 1000}, headers=own).json()[-1]["at"]
        for _ in range(5):
            assert client.get(f"/certificates/{digest}/content", headers=own).status_code == 200
        auditor = sign_in(client, ledger, "AUD")
        for path, params, headers in (
            ("/access-log", {"since": "2099-01-01T00:00:00Z"}, own),
            ("/access-log", {"until": "2000-01-01T00:00:00Z"}, own),
            ("/audit/logs/access", {"since": "2099-01-01T00:00:00Z", "department": code}, auditor),
        ):
            items, steps = _follow(client, path, params, headers)
            assert items == [] and steps and max(steps) <= 40, (path, steps)  # each page walked 40 entries at most
        # every department's log at once: the first page walks 40 entries and names the next
        first = client.get("/audit/logs/access", params={"since": "2099-01-01T00:00:00Z"}, headers=auditor)
        assert first.status_code == 200 and first.json() == [] and "after=" in first.headers["link"], first.headers
        # a window some entries are in: every one of them, once, in order, over the short pages
        found, steps = _follow(client, "/access-log", {"since": mark, "limit": 3}, own)
        assert max(steps) <= 40
        assert [e["at"] >= mark for e in found] == [True] * len(found) and len(found) == 6, found
        assert [e["seq"] for e in found] == sorted({e["seq"] for e in found})


def test_a_page_of_received_grants_costs_the_same_however_many_grants_other_issuers_made(ledger: Ledger) -> None:
    """Adversary: any issuing department, granting a department share after share of its certificates (each grant
    is one request at its budget of 100 a second; the receiving department cannot refuse them, round 40's row says
    why the list is never answered whole). ``GET /grants/received`` pages by (created_at, id) over the ``grantee``
    index, so the database reads and sorts every grant the department ever received for each page, a page of one
    included: the grantee's listing, and the gateway thread serving it, cost more with every grant anyone made.
    Counted in SQLite's steps, for the page's read of the grants (``sharing.list_grants``, what the route runs): after
    20,000 more grants received, a page of one should cost about what it did (20,000 grants: some 5,000 times)."""
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("counts SQLite's virtual-machine steps")
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import delete, insert

    from ledger.services import sharing
    from ledger.storage.models import Grant

    from .sqlite_support import sqlite_steps

    grantee = register(ledger, "RG", "verifier")
    table = Grant.__table__  # type: ignore[attr-defined]
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def grants(numbers: range) -> list[dict[str, Any]]:
        return [
            {
                "id": f"rt74g{i:019d}",
                "digest": "0x" + f"{i:064x}",
                "issuer": "MKT",
                "grantee": grantee,
                "purpose": "p",
                "expires_at": start + timedelta(days=400),
                "reveal": None,
                "created_by": "0x" + "00" * 20,
                "created_at": start + timedelta(seconds=20_000 - i),
            }
            for i in numbers
        ]

    try:
        with sqlite_steps(ledger.engine) as steps:

            def cost() -> int:  # the page GET /grants/received?limit=1 reads (sharing.list_grants)
                steps.reset()
                assert len(sharing.list_grants(ledger, grantee=grantee, limit=1)) == 1
                return steps.count

            with ledger.engine.begin() as conn:  # one grant received: the page lists it
                conn.execute(insert(table), grants(range(20_000, 20_001)))
            cost()  # the first read of a connection reads the schema
            before = cost()
            with ledger.engine.begin() as conn:  # what 20,000 grants of other issuers leave in the table
                conn.execute(insert(table), grants(range(20_000)))
            cost()
            after = cost()
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.grantee == grantee))
    assert after < before * 2 + 1_000, (before, after)


def test_a_read_through_a_grant_costs_the_same_however_many_grants_its_reader_and_issuer_hold(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: any issuing department granting a department share after share (the grants it receives are not
    its to refuse), or simply the years: an insurer receives a grant per claim. A read through a grant
    (``GET /certificates/{digest}/content``) looks up the grants of that certificate to that department, and the
    issuer's listing of a certificate's grants (``GET /certificates/{digest}/grants``) those of that certificate by
    that issuer: SQLite, which keeps no statistics, served each with the grantee's (or the issuer's) index and sorted
    every grant the department ever received (or made), three times a read, where the certificate's own index finds
    its few grants. Counted in SQLite's steps: 20,000 more grants received by the reader and made by the issuer
    should leave both about as costly as before."""
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("counts SQLite's virtual-machine steps")
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import delete, insert

    from ledger.storage.models import Grant

    from . import consent_support
    from .api_support import Clock, bearer, issue, login, make_client
    from .sqlite_support import sqlite_steps

    monkeypatch.setattr(ledger, "settings", ledger.settings.with_(consent_providers=consent_support.PROVIDERS_ENV))
    clock = Clock()
    client = make_client(ledger, clock)
    reader = register(ledger, "RR", "verifier")
    doc = issue(ledger, fresh_department, 1)[0]
    issuer, read_as = bearer(login(client, ledger, fresh_department)), bearer(login(client, ledger, reader))
    made = client.post(
        f"/certificates/{doc['digest']}/grants",
        headers=issuer,
        json={
            "grantee": reader,
            "purpose": "claim 74",
            "consent": consent_support.give(ledger, doc, reader, clock.now).id,
            "purpose_code": "insurance-claim",
            "expires_at": (clock.now + timedelta(minutes=10)).isoformat(),
        },
    )
    assert made.status_code == 201, made.text
    table = Grant.__table__  # type: ignore[attr-defined]
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def grant(i: int, issuer_code: str, grantee_code: str) -> dict[str, Any]:
        return {
            "id": f"rt74r{i:019d}",
            "digest": "0x" + f"{i + 7_400_000:064x}",
            "issuer": issuer_code,
            "grantee": grantee_code,
            "purpose": "p",
            "expires_at": start + timedelta(days=400),
            "reveal": None,
            "created_by": "0x" + "00" * 20,
            "created_at": start,
        }

    try:
        with sqlite_steps(ledger.engine) as steps:

            def cost() -> int:
                steps.reset()
                read = client.get(f"/certificates/{doc['digest']}/content", headers=read_as)
                assert read.status_code == 200, read.text
                listed = client.get(f"/certificates/{doc['digest']}/grants", headers=issuer)
                assert listed.status_code == 200 and len(listed.json()) == 1, listed.text
                return steps.count

            cost()  # the first request of a connection reads the schema
            before = cost()
            with ledger.engine.begin() as conn:  # 10,000 grants received by the reader, 10,000 made by the issuer
                conn.execute(insert(table), [grant(i, "MKT", reader) for i in range(10_000)])
                conn.execute(insert(table), [grant(i, fresh_department, "MKT") for i in range(10_000, 20_000)])
            cost()
            after = cost()
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.id.like("rt74r%")))
    assert after < before * 3 // 2 + 1_000, (before, after)
