"""Record what each permit rests on: the cited certificate a field of it is certified from, per type.

A permit certifying a field from the applicant's business licence kept its validity when that licence was revoked
later (red team round 77c: a relying party verifying the food business permit read "valid" while the licence under
it was revoked for fraud). ``permit_basis`` holds, per permit and certificate type, the certificate the approval
established (its issuer, digest and batch root: no field of it), and what the sweep (``ledger permits follow``) did
to the permit because of it. Permits issued before this revision get no row here: the first sweep reads their
decisions' recorded facts and writes them (a revision holds no rule set to choose the citation a field came from).

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "permit_basis",
        sa.Column("permit", sa.String(length=66), nullable=False),
        sa.Column("cert_type", sa.String(length=64), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("basis_issuer", sa.String(length=32), nullable=True),
        sa.Column("basis_digest", sa.String(length=66), nullable=True),
        sa.Column("basis_root", sa.String(length=66), nullable=True),
        sa.Column("followed", sa.String(length=16), nullable=True),
        sa.Column("followed_block", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("permit", "cert_type"),
    )
    op.create_index("ix_permit_basis_department", "permit_basis", ["department_id"])


def downgrade() -> None:
    op.drop_index("ix_permit_basis_department", table_name="permit_basis")
    op.drop_table("permit_basis")
