"""Pages for people: the verification page (static HTML + a small script) and a provenance timeline page."""

from __future__ import annotations

from html import escape
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse, HTMLResponse

from ledger import provenance
from ledger.canonical import hex32

from ..deps import LedgerDep, NowDep, RateLimitedPublic
from ..limits import GuardedRoute
from ..models import DIGEST_PATTERN
from ..problems import PUBLIC, R404

STATIC = FilePath(__file__).resolve().parent.parent / "static"
router = APIRouter(tags=["pages"], route_class=GuardedRoute)


@router.get("/", response_class=FileResponse, include_in_schema=True,
            responses={200: {"content": {"text/html": {}}, "description": "The verification page."}})
def verification_page() -> FileResponse:
    """Drop a certificate file or paste a digest: verified or not, every check, and the timeline."""
    return FileResponse(STATIC / "verify.html", media_type="text/html")


@router.get("/docs", response_class=FileResponse, include_in_schema=False)
def api_docs() -> FileResponse:
    """Swagger UI, served with every asset from this gateway (api/security.py)."""
    return FileResponse(STATIC / "docs.html", media_type="text/html")


def _row(event: dict[str, Any]) -> str:
    extra = {k: v for k, v in event.items() if k not in ("kind", "at", "summary", "source")}
    details = "".join(f"<div><span class=k>{escape(str(k))}</span> <code>{escape(str(v))}</code></div>"
                      for k, v in extra.items())
    return (f"<li class='event {escape(event['kind'])}'><time>{escape(event.get('at') or '—')}</time>"
            f"<strong>{escape(event['kind'].replace('_', ' '))}</strong> <span>{escape(event['summary'])}</span>"
            f"<small>source: {escape(event['source'])}</small>{details}</li>")


@router.get("/public/certificates/{digest}/timeline.html", response_class=HTMLResponse,
            dependencies=[RateLimitedPublic],
            responses={**PUBLIC, **R404, 200: {"content": {"text/html": {}}, "description": "The timeline page."}})
def timeline_page(digest: Annotated[str, Path(pattern=DIGEST_PATTERN)], ledger: LedgerDep,
                  now: NowDep) -> HTMLResponse:
    """The public provenance timeline of a certificate as an HTML page."""
    data = provenance.timeline(ledger, hex32(bytes.fromhex(digest[2:])), now=now, private=False)
    rows = "\n".join(_row(e) for e in data["events"])
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Provenance of {escape(data['digest'][:18])}…</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/style.css"></head>
<body><main>
<h1>Provenance timeline</h1>
<p class="meta">Certificate <code>{escape(data['digest'])}</code><br>
{escape(data['type'])} issued by <b>{escape(data['issuer'])}</b> — status
<b class="status-{escape(data['status'])}">{escape(data['status'])}</b> (as of {escape(data['as_of'] or '')})</p>
<ol class="timeline">{rows}</ol>
<p><a href="/">Verify another certificate</a></p>
</main></body></html>"""
    return HTMLResponse(page)
