"""Auditors read any hash-chained log (decision history, access logs) and check it against its anchors."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from ledger.services import logchain

from .. import services
from ..deps import Auditor, LedgerDep, SettingsDep, SinceQuery, UntilQuery
from ..limits import GuardedRoute, run_whole_log
from ..models import CheckLogPublic, DiscrepancyPublic, LogEntryPublic
from ..paging import PageDep
from ..problems import AUTHED, R404

router = APIRouter(prefix="/audit", tags=["audit"], route_class=GuardedRoute)

BODY_TEXT_CHARS = 1024
LogName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9-]{0,31}$", examples=["decisions", "access"])]


@router.get("/logs/{log}", response_model=list[LogEntryPublic], responses={**AUTHED, **R404})
def read_log(
    log: LogName,
    auditor: Auditor,
    ledger: LedgerDep,
    department: Annotated[str | None, Query(max_length=32)] = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    *,
    page: PageDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> list[LogEntryPublic]:
    """Entries of log ``log`` (e.g. ``decisions``), one department or all, by department then sequence number, a
    page at a time (auditor role; the `Link` header names the next page; a page of a time window walks at most
    `window_scan_rows` entries, so it may hold fewer than `limit`, none even, and still name a next one)."""
    services.kept_log(log)  # a log the ledger does not keep is no empty page (red team round 74)
    bound = None
    if since is not None or until is not None:
        bound = logchain.window_bound(ledger, log, department, page.after, settings.window_scan_rows)
    ranges: dict[Any, Any] = {}  # what the chain says of each root, read once for this page
    found = [
        LogEntryPublic(
            log=e.log,
            department=e.department_id,
            seq=e.seq,
            **_body(e),
            entry_hash=e.entry_hash,
            prev_hash=e.prev_hash,
            created_at=e.created_at,
            anchored=logchain.attested(ledger, e, ranges),  # the chain's word, not the row's state
            batch_root=e.batch_root,
            time_altered=logchain.time_altered(e),
        )
        for e in logchain.entries(
            ledger, log, department, since=since, until=until, after=page.after, limit=page.limit, through=bound
        )
    ]
    page.link_window(request, response, len(found), (found[-1].department, found[-1].seq) if found else None, bound)
    return found


def _body(entry: logchain.Entry) -> dict[str, Any]:
    """The entry's body, or why it cannot be read and how it begins: an insider's edit of one row must not hide the
    rest of the log from the auditor (the check endpoint names the entry as altered). A body stored in another
    spelling than its canonical JSON is shown with why and its stored text (red team round 51)."""
    try:
        body = logchain.read_body(entry.body, entry.log, entry.department_id, entry.seq)
    except logchain.UnreadableEntry as exc:
        return {"body": None, "body_error": str(exc), "body_text": entry.body[:BODY_TEXT_CHARS]}
    spelt = logchain.spelling_problem(entry.body, body)
    if spelt is not None:  # read here as Python reads it (the last of a key named twice): shown as stored too
        return {"body": body, "body_error": spelt, "body_text": entry.body[:BODY_TEXT_CHARS]}
    return {"body": body}


@router.get("/logs/{log}/check", response_model=CheckLogPublic, responses={**AUTHED, **R404})
async def check_log(
    log: LogName,
    auditor: Auditor,
    ledger: LedgerDep,
    department: Annotated[str, Query(max_length=32)],
    request: Request,
) -> CheckLogPublic:
    """Every discrepancy between a department's log, its hash chain and its on-chain anchors (auditor role). It
    walks the whole log: one such request (or report) runs at a time, a few wait, more get 429."""
    # nothing there is no "intact" (red team round 74): one indexed read and the registry's, off the event loop
    await run_in_threadpool(services.checkable_log, ledger, log, department)
    checked = await run_whole_log(request, auditor.department, logchain.check_log, ledger, log, department)
    found = [DiscrepancyPublic(**d.to_json()) for d in checked]
    return CheckLogPublic(log=log, department=department, intact=not found, discrepancies=found)
