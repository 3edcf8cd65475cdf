"""Store each decision and erasure at the instant its body states (red team round 34g).

The time windows of the listings (``GET /audit/logs/{log}?since=&until=``, ``logchain.entries(since=, until=)``)
select on ``logentry.created_at``, which the entry hash does not cover. The ledger now stores an entry at the
instant its body states (``logbody.stated_time``, copied here as it was: a decision's ``decided_at``, a supervision
record's ``listed_at``, ``drawn_at``, ..., an erasure's ``at``) and the log's check compares them
(``time_altered``). Entries of the ``decisions`` and ``erasures`` logs written before were stored at their append
time (a decision some milliseconds after its ``decided_at``, an erasure within the second its ``at`` names): this
sets each to the instant its body states, so windows select on what the hash covers and the check finds honest rows
intact. A row whose body is not JSON, or states no readable time, is left as it is (its hash and readers report it).
The access log is left alone: its entries were written at their ``at`` already, and its check (round 29b) reports a
row an insider moved, which rewriting from the body would hide.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from ledger.formats.canonical import json_loads

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None

_LOGS = ("decisions", "erasures")
_CHUNK = 5_000


# Which member of a body states the instant it records, as ``ledger.formats.logbody.time_member`` said when this
# revision was written (frozen here: a later change of the library must not change what this revision does). The
# access log's entries were stored at their ``at`` already and are not touched (_LOGS).
_TIME_MEMBER = {"erasures": "at"}
_SUPERVISION_TIME = {
    "credit_listing": "listed_at",
    "credit_removal": "removed_at",
    "commitment_check": "checked_at",
    "inspection_announcement": "announced_at",
    "inspection_draw": "drawn_at",
    "inspection_finding": "inspected_at",
}


def _stated_time(body: Any, log: str) -> datetime | None:
    """The UTC instant ``body`` (an entry of log ``log``) states, or None when it states none readable (no member,
    not an ISO 8601 time with a zone, outside the calendar in UTC)."""
    if not isinstance(body, dict):
        return None
    if log == "decisions":
        kind = body.get("kind")
        member = (
            "decided_at" if "decided_at" in body else _SUPERVISION_TIME.get(kind) if isinstance(kind, str) else None
        )
    else:
        member = _TIME_MEMBER.get(log)
    text = body.get(member) if member is not None else None
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
        return moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


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
                stated = _stated_time(json_loads(body), log)
            except (ValueError, TypeError):
                continue
            if stated is not None and (created_at is None or _aware(created_at) != stated):
                moved.append({"row_id": row_id, "stated": stated})
        if moved:
            conn.execute(update, moved)


def downgrade() -> None:
    """Nothing to undo: the append times were not kept, and the previous version reads any stored time."""
