"""Red team, round 20: the native JSON precheck, replay's driver-level look-ups, insert_rows' memo, and round 19's
fixes (the timeline and status list bound to the batch's stored leaves, the custodian check in the timeline).

1. Round 19 made the public timeline and the public W3C status list read the batch's stored ``leaves`` and
   ``nodes`` and the row's ``leaf_index``. SQLite keeps a text or a number in any column: an insider writing one
   there made both public pages a 500 (``bytes(str)``, ``0 <= "one"``), and ``ledger reconcile`` stopped on it
   instead of naming the batch. A blob of another type now reads as no bytes and an index that is no integer as
   no proof: what an altered blob gives, a refusal (409) that reconcile names.
2. Round 19's custodian check in the timeline compares the row's issuer with the sealed fields, and has nothing to
   compare once a certificate is erased: an insider who moved an erased, revoked certificate's row (and its batch's)
   to another department had the public and auditor's timeline say "valid, issued by" that department, whose status
   history of it is empty. The timeline now refuses a row whose batch is another department's, and a batch the
   store says was anchored that the chain has no anchoring of by the row's department (409, reconcile names it).
3. The public W3C status list of a batch (round 19: bits from the batch's stored leaves) took the department from
   the batch row: an insider who moved an anchored batch's row to another department had that department's list
   published for it, every bit clear (no status change of it is in that department's history) and its proof
   naming that department as the anchorer. A batch the store records as anchored must now be anchored on chain by
   the department asked for (409 otherwise); a batch not yet anchored (held, pending) is listed as before.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.services import erasure, provenance, reconcile, status, statuslist
from ledger.storage.models import Batch, Certificate

from .api_support import Clock, assert_problem, issue, make_client
from .insider_support import insider_edit


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _raw(ledger: Ledger, statement: str, **values: Any) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(text(statement), values)


@pytest.mark.parametrize("batch_too", [False, True])
def test_the_timeline_of_an_erased_certificate_an_insider_moved_to_another_department_is_refused(
    ledger: Ledger, fresh_department: str, batch_too: bool
) -> None:
    (doc,) = issue(ledger, fresh_department, 1)
    status.revoke(ledger, doc["digest"], "fraud", fresh_department)
    erasure.erase(ledger, doc["digest"], basis="court-order", by="officer-1")
    assert provenance.timeline(ledger, doc["digest"], now=_now())["status"] == "revoked"
    client = make_client(ledger, Clock())
    # no sealed fields are left to compare the row's issuer with: the row (and its batch) moved to HOSP, under which
    # the chain records no status of it, had the public timeline say "valid, issued by HOSP"
    with contextlib.ExitStack() as edits:
        edits.enter_context(insider_edit(ledger, Certificate, Certificate.digest, doc["digest"], department_id="HOSP"))
        if batch_too:
            edits.enter_context(insider_edit(ledger, Batch, Batch.root, doc["anchor"]["root"], department_id="HOSP"))
        assert_problem(client.get(f"/public/certificates/{doc['digest']}/timeline"), 409)
        for private in (False, True):
            with pytest.raises(StateError, match="HOSP"):
                provenance.timeline(ledger, doc["digest"], now=_now(), private=private)
    assert provenance.timeline(ledger, doc["digest"], now=_now())["status"] == "revoked"


def test_text_or_a_number_where_a_batch_keeps_bytes_is_a_refusal_not_a_server_error(
    ledger: Ledger, fresh_department: str
) -> None:
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps only bytes in a bytea column and integers in an integer one")
    docs = issue(ledger, fresh_department, 2)
    doc, root = docs[0], docs[0]["anchor"]["root"]
    status.revoke(ledger, doc["digest"], "fraud", fresh_department)
    client = make_client(ledger, Clock())
    timeline = f"/public/certificates/{doc['digest']}/timeline"
    listed = f"/public/status-lists/{fresh_department}/{root}/revocation"
    key, digest = bytes.fromhex(root[2:]), bytes.fromhex(doc["digest"][2:])
    with ledger.engine.connect() as conn:
        leaves, nodes = conn.execute(select(Batch.leaves, Batch.nodes).where(Batch.root == root)).one()  # type: ignore[call-overload,arg-type]
        index = conn.execute(select(Certificate.leaf_index).where(Certificate.digest == doc["digest"])).scalar()  # type: ignore[call-overload,arg-type]
    try:
        for value in ("edited", 1.5):
            _raw(ledger, "UPDATE batch SET leaves = :v WHERE root = :r", v=value, r=key)
            assert_problem(client.get(timeline), 409)
            assert_problem(client.get(listed), 409)
            # and reconcile names the batch instead of stopping on it
            assert not reconcile.reconcile(ledger, departments=[fresh_department], check_bodies=False).ok
            _raw(ledger, "UPDATE batch SET leaves = :v, nodes = :n WHERE root = :r", v=leaves, n=value, r=key)
            # the run roots are not needed below 64 leaves: the answers stay the chain's
            assert client.get(timeline).json()["status"] == "revoked"
            assert client.get(listed).status_code == 200
            _raw(ledger, "UPDATE batch SET nodes = :n WHERE root = :r", n=nodes, r=key)
        for value in ("one", b"\x01"):
            _raw(ledger, "UPDATE certificate SET leaf_index = :v WHERE digest = :d", v=value, d=digest)
            assert_problem(client.get(timeline), 409)
    finally:
        _raw(ledger, "UPDATE batch SET leaves = :v, nodes = :n WHERE root = :r", v=leaves, n=nodes, r=key)
        _raw(ledger, "UPDATE certificate SET leaf_index = :v WHERE digest = :d", v=index, d=digest)
    assert client.get(timeline).json()["status"] == "revoked"


def test_no_status_list_is_published_under_a_department_an_insider_moved_an_anchored_batch_to(
    ledger: Ledger, fresh_department: str
) -> None:
    docs = issue(ledger, fresh_department, 2)
    root = docs[0]["anchor"]["root"]
    status.revoke(ledger, docs[1]["digest"], "fraud", fresh_department)
    client = make_client(ledger, Clock())
    assert client.get(f"/public/status-lists/{fresh_department}/{root}/revocation").status_code == 200
    # HOSP never anchored the batch, so its status history has no change of it: its list had every bit clear
    with insider_edit(ledger, Batch, Batch.root, root, department_id="HOSP"):
        assert_problem(client.get(f"/public/status-lists/HOSP/{root}/revocation"), 409)
        with pytest.raises(StateError, match="HOSP"):
            statuslist.list_credential(ledger, "HOSP", root, "revocation", base="https://gw.example")
    assert client.get(f"/public/status-lists/{fresh_department}/{root}/revocation").status_code == 200
