"""The access log of a department: list, anchor pending entries, check against the chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from ledger.services import accesslog, logchain
from ledger.services.auth import PermissionDenied, Principal

from .. import services
from ..deps import CurrentDepartment, LedgerDep, SettingsDep, SinceQuery, UntilQuery
from ..limits import GuardedRoute, run_whole_log
from ..models import AccessEntry, AnchorPublic, CheckLogPublic, DiscrepancyPublic
from ..paging import PageDep, last_place
from ..problems import AUTHED, R404

router = APIRouter(prefix="/access-log", tags=["access log"], route_class=GuardedRoute)

DepartmentQuery = Annotated[
    str | None,
    Query(
        max_length=32,
        description="Department whose log to use; default: "
        "the caller's. Reading or checking other departments' logs needs the auditor role; only a department "
        "anchors its own.",
    ),
]


def _department(caller: Principal, department: str | None) -> str:
    code = department or caller.department
    if code != caller.department and not caller.has("auditor"):
        raise PermissionDenied(f"reading or checking {code}'s access log needs the auditor role")
    return code


def _own(caller: Principal, department: str | None) -> str:
    """The log a caller may anchor: its own. Anchoring signs and sends a transaction with the department's key at
    a moment of the caller's choosing, so it is the department's act (or its gateway's background round), never
    another's: an auditor reads and checks a log, it does not sign for it."""
    code = department or caller.department
    if code != caller.department:
        raise PermissionDenied(
            f"only {code} anchors {code}'s access log (its gateway also does, every few seconds): anchoring signs "
            f"with {code}'s key. An auditor reads and checks it: GET /access-log?department={code}, "
            f"GET /access-log/check?department={code}"
        )
    return code


@router.get("", response_model=list[AccessEntry], responses=AUTHED)
def list_entries(
    caller: CurrentDepartment,
    ledger: LedgerDep,
    department: DepartmentQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    *,
    page: PageDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> list[AccessEntry]:
    """Entries of a department's access log (its own, or any for auditors), oldest first, a page at a time (the
    `Link` header names the next page; a page of a time window walks at most `window_scan_rows` entries, so it may
    hold fewer than `limit`, none even, and still name a next one)."""
    code = _department(caller, department)
    bound = None
    if since is not None or until is not None:
        bound = logchain.window_bound(ledger, accesslog.LOG, code, page.after, settings.window_scan_rows)
    found = accesslog.entries(
        ledger, department=code, since=since, until=until, after=page.after, limit=page.limit, through=bound
    )
    page.link_window(request, response, len(found), last_place(found), bound)
    return [AccessEntry(**e) for e in found]


@router.post("/anchor", response_model=AnchorPublic, responses=AUTHED)
def anchor(caller: CurrentDepartment, ledger: LedgerDep, department: DepartmentQuery = None) -> AnchorPublic:
    """Anchor the caller's own pending entries now (the gateway also does it periodically): Merkle root signed by
    the department's key, sent to the BatchLog contract. Another department's log, even for an auditor: 403."""
    code = _own(caller, department)
    return AnchorPublic(department=code, roots=accesslog.anchor(ledger, code))


@router.get("/check", response_model=CheckLogPublic, responses={**AUTHED, **R404})
async def check(
    caller: CurrentDepartment, ledger: LedgerDep, request: Request, department: DepartmentQuery = None
) -> CheckLogPublic:
    """Re-derive the hash chain and compare it with the anchors: deleted, altered or reordered entries show up. It
    walks the whole log: one such request (or report, or other log check) runs at a time, a few wait, more get 429."""
    code = _department(caller, department)
    # a code nobody registered is no "intact" (red team round 74): one indexed read and the registry's, off the loop
    await run_in_threadpool(services.checkable_log, ledger, accesslog.LOG, code)
    found = [
        DiscrepancyPublic(**d) for d in await run_whole_log(request, caller.department, accesslog.check, ledger, code)
    ]
    return CheckLogPublic(log=accesslog.LOG, department=code, intact=not found, discrepancies=found)
