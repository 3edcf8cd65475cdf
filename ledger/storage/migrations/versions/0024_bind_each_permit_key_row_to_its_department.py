"""Bind each permit's key row to its department: a hash tree over the keyed rows whose root is MACed.

An approval found the holder's live permit for the same premises by its ``permit_key`` row alone, so an insider
deleting the row, or giving it another key, let a second case for the same holder and premises through (round 77's
open clause; replay reported it afterwards: ``permit_key_altered``). ``permit_key`` gains ``bucket`` (the first 16
bits of its key), ``after_seq`` (the decision log's head the row was written after) and ``mac`` (over the permit, its
key and ``after_seq``, under the department's decision secret); ``permit_key_node`` holds each department's hash tree
over its keyed rows by bucket and ``permit_key_tree`` its root, MACed and held to the decisions log, which an
approval checks one bucket and its path against (red team rounds 84p, 84q). A revision holds no secret to MAC the
rows it finds, nor a key to open the permits to check their keys: it blanks every key, and the ledger opens and keys
each permit again, into the tree, when an approval first asks (as it keys the permits issued before 0022).

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
        batch_op.add_column(sa.Column("bucket", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("after_seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("mac", sa.String(length=66), nullable=True))
        batch_op.create_index("ix_permit_key_department_bucket", ["department_id", "bucket"])
    op.create_table(
        "permit_key_node",
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("department_id", "level", "position"),
    )
    op.create_table(
        "permit_key_tree",
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("root", sa.String(length=66), nullable=False),
        sa.Column("after_seq", sa.Integer(), nullable=False),
        sa.Column("mac", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("department_id"),
    )
    op.execute("UPDATE permit_key SET key = NULL")


def downgrade() -> None:
    op.drop_table("permit_key_tree")
    op.drop_table("permit_key_node")
    with op.batch_alter_table("permit_key", schema=None) as batch_op:
        batch_op.drop_index("ix_permit_key_department_bucket")
        batch_op.drop_column("mac")
        batch_op.drop_column("after_seq")
        batch_op.drop_column("bucket")
