"""Pages for people: the verification page (static HTML + a small script) and a provenance timeline page."""

from __future__ import annotations

from html import escape
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, HTMLResponse

from ledger.formats.canonical import hex32
from ledger.formats.i18n import LANGUAGES, MESSAGES, format_datetime, source_word, status_word, text
from ledger.formats.reasons import reason_text
from ledger.services import provenance

from ..deps import LedgerDep, NowDep, RateLimitedPublic
from ..language import PageLanguage, remember
from ..limits import PageRoute
from ..models import DIGEST_PATTERN
from ..problems import PUBLIC, R404

STATIC = FilePath(__file__).resolve().parent.parent / "static"
router = APIRouter(tags=["pages"], route_class=PageRoute)


@router.get(
    "/",
    response_class=FileResponse,
    include_in_schema=True,
    responses={200: {"content": {"text/html": {}}, "description": "The verification page."}},
)
def verification_page() -> FileResponse:
    """Drop a certificate file or paste a digest: verified or not, every check, and the timeline."""
    return FileResponse(STATIC / "verify.html", media_type="text/html")


@router.get("/docs", response_class=FileResponse, include_in_schema=False)
def api_docs() -> FileResponse:
    """Swagger UI, served with every asset from this gateway (api/security.py)."""
    return FileResponse(STATIC / "docs.html", media_type="text/html")


def _row(event: dict[str, Any], language: str) -> str:
    extra = {k: v for k, v in event.items() if k not in ("kind", "at", "summary", "summaries", "source")}
    summaries = found if isinstance(found := event.get("summaries"), dict) else {}
    summary = str(summaries.get(language) or event["summary"])
    details = "".join(
        f"<div><span class=k>{escape(str(k))}</span> <code>{escape(str(v))}</code></div>" for k, v in extra.items()
    )
    kind = str(event["kind"])
    label = text(language, f"event.{kind}") if f"event.{kind}" in MESSAGES else kind.replace("_", " ")
    reason = event.get("reason")
    why = (
        (
            f" <span class=reason>({escape(text(language, 'timeline.reason'))}: "
            f"{escape(reason_text(str(reason), language))})</span>"
        )
        if reason
        else ""
    )
    return (
        f"<li class='event {escape(kind)}' data-kind='{escape(kind)}'>"
        f"<time datetime='{escape(str(event.get('at') or ''))}'>{escape(format_datetime(language, event.get('at')))}"
        f"</time><strong>{escape(label)}</strong> <span>{escape(summary)}</span>{why}"
        f"<small>{escape(text(language, 'timeline.source'))}: {escape(source_word(language, str(event['source'])))}"
        f"</small>{details}</li>"
    )


def _switch(language: str) -> str:
    """The language control: links to this page in each language (the choice is remembered in a cookie)."""
    return (
        "<nav class=lang aria-label='"
        + escape(text(language, "language.switch"))
        + "'>"
        + "".join(
            f"<a href='?lang={code}' hreflang='{code}' lang='{code}' data-lang='{code}'"
            + (" aria-current='true'" if code == language else "")
            + f">{escape(text(code, 'language.name'))}</a>"
            for code in LANGUAGES
        )
        + "</nav>"
    )


@router.get(
    "/public/certificates/{digest}/timeline.html",
    response_class=HTMLResponse,
    dependencies=[RateLimitedPublic],
    responses={**PUBLIC, **R404, 200: {"content": {"text/html": {}}, "description": "The timeline page."}},
)
def timeline_page(
    digest: Annotated[str, Path(pattern=DIGEST_PATTERN)],
    ledger: LedgerDep,
    now: NowDep,
    request: Request,
    language: PageLanguage,
) -> HTMLResponse:
    """The public provenance timeline of a certificate as an HTML page, in English or Chinese (``?lang=``, the
    ``pl_lang`` cookie, ``Accept-Language``)."""
    data = provenance.timeline(ledger, hex32(bytes.fromhex(digest[2:])), now=now, private=False)
    rows = "\n".join(_row(e, language) for e in data["events"])
    t = lambda key, **values: escape(text(language, key, **values))  # noqa: E731
    status = str(data["status"])
    page = f"""<!doctype html>
<html lang="{language}"><head><meta charset="utf-8"><title>{t("timeline.title")} {escape(data["digest"][:18])}…</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/style.css"></head>
<body><main>
{_switch(language)}
<h1>{t("timeline.title")}</h1>
<p class="meta">{t("timeline.certificate")} <code>{escape(data["digest"])}</code><br>
{t("timeline.issued_by", type=data["type"], issuer=data["issuer"])} — {t("timeline.status")}
<b class="status-{escape(status)}" data-status="{escape(status)}">{escape(status_word(language, status))}</b>
({t("timeline.as_of", at=format_datetime(language, data["as_of"]))})</p>
<ol class="timeline">{rows}</ol>
<p><a href="/">{t("timeline.verify_another")}</a></p>
</main></body></html>"""
    return remember(HTMLResponse(page, headers={"Content-Language": language}), request, language)
