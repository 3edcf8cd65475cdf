"""Index the status changes by their detail (a certificate's timeline asked which certificate it superseded).

A certificate's public timeline names the certificate it superseded: the issuer's store says which (a
``supersede`` status change whose ``detail`` is the successor's digest), the chain confirms it. Without an index
every anonymous timeline request read all of the issuer's status changes.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("statuschange") as batch_op:
        batch_op.create_index("ix_statuschange_detail", ["detail"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("statuschange") as batch_op:
        batch_op.drop_index("ix_statuschange_detail")
