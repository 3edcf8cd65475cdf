"""Pages of the lists that grow with the ledger (log entries, reads): at most ``limit`` items per answer, the next
page named by a ``Link: <...>; rel="next"`` header (RFC 8288, a reference relative to the request), as GitHub's
API does. The body stays a JSON array, so a client that reads one page sees what it saw before for a short list.

The cursor ``after`` is the last item's place, ``DEPARTMENT:SEQ``: the next page starts after it (keyset paging, so
a page costs the same at the millionth entry as at the first, and entries appended meanwhile are not skipped or
repeated)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response

MAX_PAGE = 1_000
_CURSOR = r"^[^:\s]{1,32}:[0-9]{1,18}$"


@dataclass(frozen=True, slots=True)
class Page:
    limit: int
    after: tuple[str, int] | None

    def link(self, request: Request, response: Response, count: int, last: tuple[str, int] | None) -> None:
        """Name the next page, after ``last`` (department, seq), when this one is full: there may be more."""
        if count == self.limit and last is not None:
            _link_next(request, response, f"{last[0]}:{last[1]}", self.limit)

    def link_window(
        self,
        request: Request,
        response: Response,
        count: int,
        last: tuple[str, int] | None,
        bound: tuple[str, int] | None,
    ) -> None:
        """A time window's page: the next one after ``last`` when this one is full, else after ``bound``, the entry
        its walk stopped at (``logchain.window_bound``; None: it walked to the end), so a window few entries are in
        is listed in short pages of bounded cost (red team round 74)."""
        if count == self.limit and last is not None:
            _link_next(request, response, f"{last[0]}:{last[1]}", self.limit)
        elif bound is not None:
            _link_next(request, response, f"{bound[0]}:{bound[1]}", self.limit)


def _link_next(request: Request, response: Response, after: str, limit: int) -> None:
    """The ``Link`` header naming the page after ``after``: relative to the request (RFC 8288 allows it), never
    built from a Host header the client chose."""
    url = request.url.include_query_params(after=after, limit=limit)
    response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'


def last_place(items: list[dict[str, Any]]) -> tuple[str, int] | None:
    """The (department, seq) of the last of ``items`` (API-shaped entries), None for none."""
    return (str(items[-1]["department"]), int(items[-1]["seq"])) if items else None


def _page(
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE, description=f"At most this many items (1 to {MAX_PAGE}, the default).")
    ] = MAX_PAGE,
    after: Annotated[
        str | None,
        Query(
            pattern=_CURSOR,
            description="Start after this item (`DEPARTMENT:SEQ`, from the `Link` header's `next` page).",
            examples=["MKT:1000"],
        ),
    ] = None,
) -> Page:
    if after is None:
        return Page(limit, None)
    department, seq = after.rsplit(":", 1)
    return Page(limit, (department, int(seq)))


PageDep = Annotated[Page, Depends(_page)]


@dataclass(frozen=True, slots=True)
class IdPage:
    """A page of a list of records with ids (grants, consents), ordered by creation then id: ``after`` is the id of
    the last record of the page before."""

    limit: int
    after: str | None

    def link(self, request: Request, response: Response, count: int, last: str | None) -> None:
        """Name the next page, after the record ``last``, when this one is full: there may be more."""
        if count == self.limit and last is not None:
            _link_next(request, response, last, self.limit)


def _id_page(
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE, description=f"At most this many records (1 to {MAX_PAGE}, the default).")
    ] = MAX_PAGE,
    after: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9a-f]{1,32}$",
            description="Start after this record (its id, from the `Link` header's `next` page).",
            examples=["9c1d2e3f4a5b6c7d8e9f0a1b"],
        ),
    ] = None,
) -> IdPage:
    return IdPage(limit, after)


IdPageDep = Annotated[IdPage, Depends(_id_page)]
