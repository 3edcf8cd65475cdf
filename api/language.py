"""The reader's language for the pages (ledger/formats/i18n.py): ``?lang=`` (the page's language control, remembered in
the ``pl_lang`` cookie for a year), else the cookie, else ``Accept-Language``, else English."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Depends, Query, Request
from fastapi.responses import Response

from ledger.formats.i18n import COOKIE, LANGUAGES, negotiate, normalise

LangQuery = Annotated[
    str | None,
    Query(
        max_length=16,
        description=f"Page language: one of {list(LANGUAGES)}; "
        "remembered in a cookie. Default: the cookie, else Accept-Language.",
    ),
]


def page_language(request: Request, lang: LangQuery = None) -> str:
    return negotiate(request.headers.get("accept-language"), normalise(lang) or request.cookies.get(COOKIE))


PageLanguage = Annotated[str, Depends(page_language)]


R = TypeVar("R", bound=Response)


def remember(response: R, request: Request, language: str) -> R:
    """Keep an explicit choice (``?lang=``) for the next pages; a page without one changes nothing."""
    if normalise(request.query_params.get("lang")):
        response.set_cookie(COOKIE, language, max_age=365 * 24 * 3600, samesite="lax", path="/")
    return response
