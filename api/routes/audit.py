"""Auditors read any hash-chained log (decision history, access logs) and check it against its anchors."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from ledger.services import logchain

from ..deps import Auditor, LedgerDep
from ..limits import GuardedRoute
from ..models import CheckLogPublic, DiscrepancyPublic, LogEntryPublic
from ..problems import AUTHED

router = APIRouter(prefix="/audit", tags=["audit"], route_class=GuardedRoute)

LogName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9-]{0,31}$", examples=["decisions", "access"])]


@router.get("/logs/{log}", response_model=list[LogEntryPublic], responses=AUTHED)
def read_log(
    log: LogName,
    auditor: Auditor,
    ledger: LedgerDep,
    department: Annotated[str | None, Query(max_length=32)] = None,
    since: Annotated[datetime | None, Query(description="Inclusive, ISO 8601 with zone.")] = None,
    until: Annotated[datetime | None, Query(description="Exclusive, ISO 8601 with zone.")] = None,
) -> list[LogEntryPublic]:
    """Entries of log ``log`` (e.g. ``decisions``), one department or all, oldest first (auditor role)."""
    return [
        LogEntryPublic(
            log=e.log,
            department=e.department_id,
            seq=e.seq,
            body=json.loads(e.body),
            entry_hash=e.entry_hash,
            prev_hash=e.prev_hash,
            created_at=e.created_at,
            anchored=e.state == logchain.EntryState.ANCHORED,
            batch_root=e.batch_root,
        )
        for e in logchain.entries(ledger, log, department, since=since, until=until)
    ]


@router.get("/logs/{log}/check", response_model=CheckLogPublic, responses=AUTHED)
def check_log(
    log: LogName, auditor: Auditor, ledger: LedgerDep, department: Annotated[str, Query(max_length=32)]
) -> CheckLogPublic:
    """Every discrepancy between a department's log, its hash chain and its on-chain anchors (auditor role)."""
    found = [DiscrepancyPublic(**d.to_json()) for d in logchain.check_log(ledger, log, department)]
    return CheckLogPublic(log=log, department=department, intact=not found, discrepancies=found)
