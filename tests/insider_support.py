"""An insider's edit of one stored row, for the red-team tests that play a person with database access."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select, update

from ledger.client import Ledger


@contextlib.contextmanager
def insider_edit(ledger: Ledger, model: Any, key: Any, value: str, **changes: Any) -> Iterator[None]:
    """The insider's edit of the row of ``model`` whose ``key`` column is ``value``, undone afterwards: the session's
    database is shared, and a row left moved is a divergence every later reconcile reports."""
    columns = [getattr(model, name) for name in changes]
    with ledger.engine.begin() as conn:
        before = dict(zip(changes, conn.execute(select(*columns).where(key == value)).one(), strict=True))
        conn.execute(update(model).where(key == value).values(**changes))
    try:
        yield
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(update(model).where(key == value).values(**before))
