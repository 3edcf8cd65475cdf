"""Store each decision and erasure at the instant its body states (red team round 34g).

The time windows of the listings (``GET /audit/logs/{log}?since=&until=``, ``logchain.entries(since=, until=)``)
select on ``logentry.created_at``, which the entry hash does not cover. The ledger now stores an entry at the
instant its body states (``logbody.stated_time``: a decision's ``decided_at``, a supervision record's
``listed_at``, ``drawn_at``, ..., an erasure's ``at``) and the log's check compares them (``time_altered``). Entries
of the ``decisions`` and ``erasures`` logs written before were stored at their append time (a decision some
milliseconds after its ``decided_at``, an erasure within the second its ``at`` names): this sets each to the
instant its body states, so windows select on what the hash covers and the check finds honest rows intact. A row
whose body is not JSON, or states no readable time, is left as it is (its hash and readers report it). The
access log is left alone: its entries were written at their ``at`` already, and its check (round 29b) reports a
row an insider moved, which rewriting from the body would hide.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from ledger.formats.canonical import json_loads
from ledger.formats.logbody import stated_time

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None

_LOGS = ("decisions", "erasures")
_CHUNK = 5_000


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def upgrade() -> None:
    conn = op.get_bind()
    entries = sa.Table("logentry", sa.MetaData(), autoload_with=conn)
    update = sa.update(entries).where(entries.c.id == sa.bindparam("row_id")).values(created_at=sa.bindparam("stated"))
    last = 0
    while True:  # keyset pages on the primary key: no cursor held open across the updates
        rows = conn.execute(
            sa.select(entries.c.id, entries.c.log, entries.c.body, entries.c.created_at)
            .where(entries.c.log.in_(_LOGS), entries.c.id > last)
            .order_by(entries.c.id)
            .limit(_CHUNK)
        ).all()
        if not rows:
            return
        last = rows[-1][0]
        moved = []
        for row_id, log, body, created_at in rows:
            try:
                stated = stated_time(json_loads(body), log)
            except (ValueError, TypeError):
                continue
            if stated is not None and (created_at is None or _aware(created_at) != stated):
                moved.append({"row_id": row_id, "stated": stated})
        if moved:
            conn.execute(update, moved)


def downgrade() -> None:
    """Nothing to undo: the append times were not kept, and the previous version reads any stored time."""
