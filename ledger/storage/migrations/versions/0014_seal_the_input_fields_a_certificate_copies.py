"""The fields of a decision input that the certificate it produced copies, sealed apart so its erasure reaches them.

``sealed_input``: a rule set's ``produces`` copied what the applicant typed (the food business permit's premises)
into the permit, and ``ledger erase`` of the permit left it in clear in the stored decision input. New inputs keep
those fields sealed here (with their random salts) and only their salted hashes in the stored input; an erasure of
the permit overwrites the row with the erasure marker. Inputs stored before keep their fields in clear (they still
replay as recorded).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "sealed_input",
        sa.Column("input_digest", sa.String(length=66), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("input_digest"),
    )


def downgrade() -> None:
    op.drop_table("sealed_input")
