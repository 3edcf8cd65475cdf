"""Index the log entries of a case (issue 18: finding a case's decisions read every body of the log).

``logentry.lookup`` (new): for an entry whose body names a ``case_id`` (a decision), the first 16 bytes of
``SHA-256("pl-lookup\\0" || case_id)`` in hex; NULL otherwise. ``ix_logentry_lookup`` on (log, department_id,
lookup) lets ``decisions.find_decisions`` (deciding once per case, notices, evidence, overrides) read a case's few
rows instead of a ``LIKE`` scan of the department's whole log. The upgrade computes the key of every existing
entry from its body; a body that is not a JSON object naming a string ``case_id`` (one an insider edited) gets
none, as the ledger would have written it, and ``ledger replay`` still reports it.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from alembic import op

from ledger.formats.canonical import json_loads

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_CHUNK = 5_000


def _lookup(text: str | None) -> str | None:
    """The key ``logchain.lookup_key`` gives the body's case id (as of this revision), or None."""
    try:
        body: Any = json_loads(text or "")
    except ValueError:
        return None
    case = body.get("case_id") if isinstance(body, dict) else None
    if not isinstance(case, str):
        return None
    return hashlib.sha256(b"pl-lookup\x00" + case.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def upgrade() -> None:
    with op.batch_alter_table("logentry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lookup", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_logentry_lookup", ["log", "department_id", "lookup"], unique=False)
    conn = op.get_bind()
    entries = sa.table("logentry", sa.column("id", sa.Integer), sa.column("body", sa.Text), sa.column("lookup"))
    after = 0
    while True:
        rows = conn.execute(
            sa.select(entries.c.id, entries.c.body)
            .where(entries.c.id > after, entries.c.body.like('%"case_id":%'))
            .order_by(entries.c.id)
            .limit(_CHUNK)
        ).all()
        if not rows:
            break
        after = rows[-1][0]
        keyed = [{"row": row_id, "key": key} for row_id, text in rows if (key := _lookup(text)) is not None]
        if keyed:
            conn.execute(
                sa.update(entries).where(entries.c.id == sa.bindparam("row")).values(lookup=sa.bindparam("key")),
                keyed,
            )


def downgrade() -> None:
    with op.batch_alter_table("logentry", schema=None) as batch_op:
        batch_op.drop_index("ix_logentry_lookup")
        batch_op.drop_column("lookup")
