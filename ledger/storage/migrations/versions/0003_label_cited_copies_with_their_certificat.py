"""Cited copies labelled with their certificate's digest, so that erasing the certificate reaches them.

``citeddocument.digest``: the digest the ledger computed from a copy an application cited inline. Rows stored
before it stay NULL here (only the vault key opens them, and a migration does not hold it); ``ledger erase``
labels them before it erases (``erasure.label_cited_copies``).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("citeddocument", schema=None) as batch_op:
        batch_op.add_column(sa.Column("digest", sa.String(length=66), nullable=True))
        batch_op.create_index(batch_op.f("ix_citeddocument_digest"), ["digest"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("citeddocument", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_citeddocument_digest"))
        batch_op.drop_column("digest")
