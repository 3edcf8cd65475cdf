"""One page of a list ordered by (creation time, id): keyset paging, so a page costs the same however long the list
is, and records made meanwhile are neither skipped nor repeated. Grants and consents use it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import tuple_
from sqlalchemy.engine import Connection

from ..errors import InputError


def page(
    conn: Connection, query: Any, created: Any, ident: Any, *, after: str | None, limit: int | None, noun: str
) -> Any:
    """``query`` (already filtered to the list, ordered by ``created`` then ``ident``) from after the record whose id
    is ``after``, at most ``limit`` rows; InputError when ``after`` names no record of this list."""
    if after is not None:
        mark = conn.execute(query.with_only_columns(created).where(ident == after)).first()
        if mark is None:
            raise InputError(
                f"after={after!r} names no {noun} of this list; pass the id of the last {noun} of the page before "
                "(the Link header's next page does)",
                field="after",
            )
        query = query.where(tuple_(created, ident) > tuple_(mark[0], after))
    if limit is not None:
        query = query.limit(limit)
    return conn.execute(query)
