"""A grant's random purpose salt, which keys the hash of its free-text purpose in the anchored access log.

``certificate_grant.purpose_salt``: the access log held a grant's purpose as the SHA-256 of the text alone, so
anyone holding the anchored entries confirmed a guessed text ("claim of <a name>") even after erasure cleared it
from the row. New grants get a random salt here, kept with the text and cleared with it by ``ledger erase``; the
entries hold a hash keyed by it (``purpose_hash``). Grants made before stay NULL: their anchored entries hold the
unsalted hash already, and a salt added now would hide nothing.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("certificate_grant", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purpose_salt", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("certificate_grant", schema=None) as batch_op:
        batch_op.drop_column("purpose_salt")
