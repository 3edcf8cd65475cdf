"""Red team round 27, against what landed on 2026-12-05: issuance groups, decide's worker pipeline, the embedded
node's reads asked again, and the residual fixes.

1. (An insider with database access) Grant listings judge each row against the issuer's anchored access log
   (residual fix 5), but the listing's reader of the log (``sharing._grant_entries``) left out an entry edited into
   something unreadable, while a read through the grant (``sharing.record_problem``) refuses it as "cannot be relied
   on". An insider who revived a revoked grant and garbled its revocation entry (one character appended) made the
   issuer's and the grantee's listings show the grant live, with no problem, and reconcile and the timeline judged
   the row sound. A grant whose log entries cannot all be read now reads, in a listing, as a read through it does:
   not live, naming the unreadable entry.
2. (A hostile node, or whoever stands between a reader and its node) The reads asked again when the embedded node
   refuses them for a moved head recognise anvil's refusal by its text, "BlockOutOfRangeError: block height is N but
   requested was M", and compare N and M as integers. A node answering with a height of 5,000 digits made that
   comparison raise Python's ValueError (integers of more than 4,300 digits are not converted from text): out of
   every chain call of the ledger (a traceback, not a ChainError), of the witness's reader (its follower thread,
   which catches the library's errors only, died: the witness silently stopped observing every origin) and of the
   court's verifier's reader (the verdict "cannot be judged" instead of the check failing on the node). Only a
   height and block number of at most 20 digits are read as that refusal; any other answer is the node's error.
3. (An insider with database access) ``unanchored`` now asks the chain each department's ``nextSequence`` (residual
   fix 3), with the department's code as the contract's bytes32: a log entry stored under a code no department can
   have (not printable ASCII) made that conversion raise InputError out of ``unanchored`` itself, so the gateway's
   periodic anchoring rounds of the access logs and of the decision logs (``accesslog.anchor_all``,
   ``api.services.anchor_decisions``), which list the departments to anchor through it, stopped for every
   department, though one department's failure is meant to hold none of the others back. The chain anchors
   nothing under such a code: its entries are counted unanchored, and anchoring them fails for that code alone.
   Replay and reconcile still stopped with that InputError (naming the code), leaving every other department
   unchecked (red team round 42): they report the code's entries (``department_invalid``) and go on.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, select
from sqlmodel import col

from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.onchain.chain import Chain, connect
from ledger.services import accesslog, logchain, reconcile, replay, sharing
from ledger.services.witness.rpc import Rpc
from ledger.storage.models import Grant, LogEntry

from .api_support import Clock, issue, register
from .evidence_support import SCRIPT_MODULE, rpc_url
from .insider_support import insider_edit
from .rpc_proxy import RpcProxy


def test_a_revived_grant_whose_revocation_entry_was_garbled_is_not_listed_live(
    ledger: Ledger, fresh_department: str
) -> None:
    dept = fresh_department
    clock = Clock()
    grantee = register(ledger, "RTG", "verifier")
    (doc,) = issue(ledger, dept, 1)
    signer = ledger.department_account(dept).address
    terms = sharing.GrantCreate(grantee=grantee, purpose="p", expires_at=clock.now + timedelta(days=1), reveal=["id"])
    grant = sharing.create_grant(ledger, issuer=dept, signer=signer, digest=doc["digest"], grant=terms, now=clock.now)
    sharing.revoke_grant(ledger, issuer=dept, signer=signer, grant_id=grant.id, now=clock.now)
    with ledger.engine.connect() as conn:
        entry_id, body = conn.execute(
            select(col(LogEntry.id), col(LogEntry.body)).where(
                col(LogEntry.log) == accesslog.LOG,
                col(LogEntry.department_id) == dept,
                col(LogEntry.body).like('%"action":"grant-revoked"%'),
                col(LogEntry.body).like(f'%"grant":"{grant.id}"%'),
            )
        ).one()
    with (
        insider_edit(ledger, Grant, Grant.id, grant.id, revoked_at=None, revoked_by=None),
        insider_edit(ledger, LogEntry, LogEntry.id, entry_id, body=body + "x"),
    ):
        (row,) = [g for g in sharing.list_grants(ledger, digest=doc["digest"]) if g.id == grant.id]
        read = sharing.record_problem(ledger, row)
        assert read is not None and "cannot be relied on" in read, read  # a read through it is refused
        (shown,) = sharing.listed(ledger, [row], clock.now)
        assert not shown.live and shown.problem and grant.id in shown.problem, shown
        problems = {p.grant: p for p in sharing.grant_problems(ledger, dept, doc["digest"])}
        assert grant.id in problems and problems[grant.id].kind == "altered", problems


def _moved_head_with_a_huge_height(request: dict[str, Any]) -> bytes | None:
    if request.get("method") not in ("eth_call", "eth_getCode"):
        return None
    message = f"BlockOutOfRangeError: block height is {'9' * 5000} but requested was 1"
    error = {"code": -32000, "message": message}
    return json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "error": error}).encode()


def test_a_moved_head_refusal_with_a_height_past_integer_parsing_is_the_nodes_error_not_a_crash(
    ledger: Ledger,
) -> None:
    registry = ledger.chain.deployment.registry
    with RpcProxy(rpc_url(ledger), intercept=_moved_head_with_a_huge_height) as proxy:
        chain = Chain(connect(proxy.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
        with pytest.raises(ChainError):
            chain.call(chain.registry.functions.departmentIds())
        with pytest.raises(ChainError):  # the witness's reader: its follower catches the library's errors
            Rpc(proxy.url).has_code(registry)
        with pytest.raises(SCRIPT_MODULE.Failure):  # the court's verifier: a failed read, judged as one
            SCRIPT_MODULE.Rpc(proxy.url)("eth_getCode", registry, "latest")


def test_a_log_entry_under_a_code_no_department_can_have_holds_back_only_itself(
    ledger: Ledger, fresh_department: str
) -> None:
    dept, junk = fresh_department, "D\u00c9PT-RT27"  # not ASCII: no bytes32 department id on chain
    _copied_under(ledger, logchain.append(ledger, accesslog.LOG, dept, {"action": "test", "detail": "round 27"}), junk)
    table = LogEntry.__table__  # type: ignore[attr-defined]
    try:
        waiting = {u.department: u.count for u in logchain.unanchored(ledger, accesslog.LOG)}
        assert waiting.get(junk) == 1 and waiting.get(dept) == 1, waiting
        done = accesslog.anchor_all(ledger)
        assert isinstance(done.get(dept), list) and done[dept], done  # the others are anchored
        assert isinstance(done.get(junk), str), done  # that code alone is refused
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.department_id == junk))


def test_replay_and_reconcile_report_entries_under_a_code_no_department_can_have(
    ledger: Ledger, fresh_department: str
) -> None:
    """Round 27 left replay and reconcile stopping with InputError on such a code (naming it): loud, but the rest of
    the departments went unchecked. Each now reports the code's entries as ``department_invalid`` and goes on."""
    dept, junk = fresh_department, "D\u00c9PT-RT42"
    table = LogEntry.__table__  # type: ignore[attr-defined]
    for log in (accesslog.LOG, logchain.LOG_DECISIONS, "erasures"):
        _copied_under(ledger, logchain.append(ledger, log, dept, {"action": "test", "detail": "round 42"}), junk)
    try:
        replayed = replay.replay(ledger, department=[dept, junk], workers=0)
        flagged = [d for d in replayed.discrepancies if d.department == junk]
        assert [d.check for d in flagged] == ["department_invalid"], flagged
        assert "no department can have" in flagged[0].detail and "1 entr" in flagged[0].detail
        reconciled = reconcile.reconcile(ledger, departments=[dept, junk], check_bodies=False)
        text = [f"{d.kind} {d.detail}" for d in reconciled.divergences]
        assert any("department_invalid" in t and "access log" in t and ascii(junk) in t for t in text), text
        assert any("department_invalid" in t and "erasures log" in t for t in text), text
        assert not any(t.split(" ", 2)[1].startswith(f"{dept}'s") for t in text), text  # judged as before
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.department_id == junk))


def _copied_under(ledger: Ledger, entry: logchain.Entry, code: str) -> None:
    """The insider's row: a copy of ``entry``'s row stored under department ``code``."""
    table = LogEntry.__table__  # type: ignore[attr-defined]
    with ledger.engine.connect() as conn:
        row = dict(conn.execute(select(table).where(table.c.id == entry.id)).one()._mapping)
    row.pop("id")
    with ledger.engine.begin() as conn:
        conn.execute(insert(table).values({**row, "department_id": code}))
