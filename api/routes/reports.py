"""The auditors' report (ledger/services/report.py) over HTTP: ``GET /audit/report`` as HTML (English or Chinese) or
JSON, for signed-in departments with the auditor role; its style sheet is a file of this gateway (the
Content-Security-Policy admits no inline style)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ledger.formats.i18n import LANGUAGES
from ledger.services import report

from ..deps import Auditor, LedgerDep, NowDep
from ..language import PageLanguage, remember
from ..limits import GuardedRoute, run_whole_log
from ..problems import AUTHED

router = APIRouter(tags=["audit"], route_class=GuardedRoute)
STYLESHEET_PATH = "/pages/report.css"


@router.get(
    "/audit/report",
    responses={
        **AUTHED,
        200: {
            "content": {"text/html": {}, "application/json": {}},
            "description": "The report page, or its data as JSON.",
        },
    },
)
async def department_report(
    request: Request,
    auditor: Auditor,
    ledger: LedgerDep,
    now: NowDep,
    language: PageLanguage,
    department: Annotated[str, Query(min_length=1, max_length=32)],
    start: Annotated[date, Query(alias="from", description="First day (UTC).")],
    end: Annotated[date, Query(alias="to", description="Last day (UTC), included.")],
    format: Annotated[Literal["html", "json"], Query()] = "html",
) -> Response:
    """A department's decision report for a period (auditor role): outcomes over time, reason codes, automatic and
    officer decisions, overrides per officer, rule-set versions, replay status and findings, supervision."""
    data: dict[str, Any] = await run_whole_log(
        request, auditor.department, report.build_report, ledger, department, start, end, now=now
    )
    if format == "json":
        return JSONResponse(data)
    query = {"department": department, "from": start.isoformat(), "to": end.isoformat()}
    switch = {code: "?" + urlencode({**query, "lang": code}) for code in LANGUAGES}
    page = report.render_html(
        data,
        language,
        stylesheet=STYLESHEET_PATH,
        switch=switch,
        json_href="?" + urlencode({**query, "format": "json"}),
    )
    return remember(
        HTMLResponse(page, headers={"Cache-Control": "no-store", "Content-Language": language}), request, language
    )


@router.get(STYLESHEET_PATH, include_in_schema=False)
async def report_stylesheet() -> Response:
    return Response(report.STYLESHEET, media_type="text/css", headers={"Cache-Control": "max-age=3600"})
