"""Key each permit by its holder and premises: an approval finds a live permit for the same premises in any case.

A department's approval looked for a live permit of its own case only, so an applicant sending the same application
twice (an intake numbering each submission as a case) got two permits for the same business at the same premises,
and a withdrawal of the first case's approval after a non-conforming inspection left the second standing (red team
round 77). ``permit_key`` holds, per permit, a keyed hash of its holder and the fields its rule set names
(``produces.one_per``). Permits issued before this revision get a row with no key: the ledger opens and keys them
when an approval first asks (their fields are sealed: a revision holds no key to open them).

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "permit_key",
        sa.Column("digest", sa.String(length=66), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=66), nullable=True),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_index("ix_permit_key_department_key", "permit_key", ["department_id", "key"])
    op.execute(
        "INSERT INTO permit_key (digest, department_id, key) "
        "SELECT digest, department_id, NULL FROM producedcertificate"
    )


def downgrade() -> None:
    op.drop_index("ix_permit_key_department_key", table_name="permit_key")
    op.drop_table("permit_key")
