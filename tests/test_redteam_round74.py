"""Red team, round 74: the gateway, attacked over TCP (a real ``python -m api``, tests/gateway_process.py) as an
anonymous client, as a relay of another's messages and as a signed-in department reaching past its authority.

1. Found, fixed (a signed-in issuing department, or whoever holds its token): ``POST /certificates`` with a record
   holding a lone surrogate (``"\\ud800"``, which JSON may write and the guard hands on as the ledger's parser reads
   it, round 23) was a 500: the gateway measured each record's size by encoding it to UTF-8 before the library's
   check of the record ran, and a lone surrogate has no UTF-8. The size is now measured as the ledger's parser
   counts it, so the library's refusal answers (422 naming the field), nothing issued.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from ledger.client import Ledger
from ledger.storage.models import Certificate

from .api_support import problem_body, sign_in
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
