"""Index the decisions naming each certificate (a certificate's timeline read every decision of the log).

A certificate's public timeline asked which decision produced it, and its full timeline which decisions cited it,
by reading every entry of the decisions log and searching its text: an anonymous client's request cost more with
each decision recorded (0.9 s after 20,000 decisions). ``logmention`` (log, department, seq -> certificate digest,
indexed by digest) is written in the transaction that appends a decision: one row per certificate it cites
(``certificates[].digest``) or issued (``issued.certificate``). The upgrade writes the rows of every stored decision
from its body; a body that is not such JSON (one an insider edited) names none.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from alembic import op

from ledger.formats.canonical import json_loads

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

_CHUNK = 5_000
_DIGEST = re.compile(r"0x[0-9a-f]{64}")


def _mentions(text: str | None) -> list[str]:
    """The certificates a decisions-log body names (``logchain.mentions_of`` as of this revision)."""
    try:
        body: Any = json_loads(text or "")
    except ValueError:
        return []
    if not isinstance(body, dict):
        return []
    named: list[Any] = []
    cited = body.get("certificates")
    if isinstance(cited, list):
        named.extend(c.get("digest") for c in cited if isinstance(c, dict))
    issued = body.get("issued")
    if isinstance(issued, dict):
        named.append(issued.get("certificate"))
    return list(dict.fromkeys(d for d in named if isinstance(d, str) and _DIGEST.fullmatch(d)))


def upgrade() -> None:
    op.create_table(
        "logmention",
        sa.Column("log", sa.String(length=32), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("log", "department_id", "seq", "digest"),
    )
    with op.batch_alter_table("logmention", schema=None) as batch_op:
        batch_op.create_index("ix_logmention_digest", ["digest", "log", "department_id", "seq"], unique=False)
    conn = op.get_bind()
    entries = sa.table(
        "logentry",
        sa.column("id", sa.Integer),
        sa.column("log"),
        sa.column("department_id"),
        sa.column("seq", sa.Integer),
        sa.column("body", sa.Text),
    )
    mentions = sa.table(
        "logmention", sa.column("log"), sa.column("department_id"), sa.column("seq"), sa.column("digest")
    )
    after = 0
    while True:
        rows = conn.execute(
            sa.select(entries.c.id, entries.c.department_id, entries.c.seq, entries.c.body)
            .where(entries.c.id > after, entries.c.log == "decisions")
            .order_by(entries.c.id)
            .limit(_CHUNK)
        ).all()
        if not rows:
            break
        after = rows[-1][0]
        named = [
            {"log": "decisions", "department_id": department, "seq": seq, "digest": digest}
            for _, department, seq, text in rows
            for digest in _mentions(text)
        ]
        if named:
            conn.execute(sa.insert(mentions), named)


def downgrade() -> None:
    with op.batch_alter_table("logmention", schema=None) as batch_op:
        batch_op.drop_index("ix_logmention_digest")
    op.drop_table("logmention")
