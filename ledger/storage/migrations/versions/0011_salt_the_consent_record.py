"""A consent record's random salt, hashed and signed with the record, so that its hash confirms no guess.

``consent_record.record_salt``: the record (``pl-consent/1``) hashed nothing secret but the subject reference and
the purpose text, and its hash stays in the row and in the anchored ``consent`` entry after erasure empties those
two; the subject reference is the same in every consent of the person, so the other rows of the database supplied
the candidates, and one rebuilt record per candidate person and text tied the erased certificate to its person.
New records (``pl-consent/2``) hash a random salt kept here, which ``ledger erase`` clears with the reference and
the text. Records made before stay NULL (``pl-consent/1``): their hashes are anchored already.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("consent_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("record_salt", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consent_record", schema=None) as batch_op:
        batch_op.drop_column("record_salt")
