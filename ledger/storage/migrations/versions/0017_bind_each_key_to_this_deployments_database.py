"""Each key kept outside the database is bound to it: a check value per purpose, recorded at the key's first use.

Another deployment's ``vault.key`` under the same passphrase opened here (its bodies then failed their integrity check
and new ones were sealed under the other key), as did its consent key, and a clear token secret of at least 32 bytes
put in place of ``keys/api-token.key`` became the gateway's secret. ``key_check`` holds, per purpose (``vault``,
``consent``, ``api-token``), an HMAC under the key of a fixed label (the consent key's address), never the key: a key
whose check value differs is refused before anything is sealed, opened or signed with it. A database upgraded to this
revision has no rows: each key's is recorded at its next use.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "key_check",
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("check_value", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("purpose"),
    )


def downgrade() -> None:
    """Keys unbound again: any key under the passphrase opens, as before."""
    op.drop_table("key_check")
