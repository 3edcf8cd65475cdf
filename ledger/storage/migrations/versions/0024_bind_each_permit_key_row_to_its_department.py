"""Bind each permit's key row to its department: numbered without gaps and MACed under the decision secret.

An approval found the holder's live permit for the same premises by its ``permit_key`` row alone, so an insider
deleting the row, or giving it another key, let a second case for the same holder and premises through (round 77's
open clause; replay reported it afterwards: ``permit_key_altered``). ``permit_key`` gains ``n`` (the department's
keyed rows numbered 1, 2, 3...), ``after_seq`` (the decision log's head the row was written after) and ``mac`` (over
both, the permit and its key, under the department's decision secret), which the approval checks on every row before
it trusts one (red team round 84p). A revision holds no secret to MAC the rows it finds, nor a key to open the permits
to check their keys: it blanks every key, and the ledger opens and keys each permit again, numbered and MACed, when
an approval first asks (as it keys the permits issued before 0022).

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("permit_key", schema=None) as batch_op:
        batch_op.add_column(sa.Column("n", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("after_seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("mac", sa.String(length=66), nullable=True))
        batch_op.create_index("ix_permit_key_department_n", ["department_id", "n"], unique=True)
    op.execute("UPDATE permit_key SET key = NULL")


def downgrade() -> None:
    with op.batch_alter_table("permit_key", schema=None) as batch_op:
        batch_op.drop_index("ix_permit_key_department_n")
        batch_op.drop_column("mac")
        batch_op.drop_column("after_seq")
        batch_op.drop_column("n")
