"""The gateway keeps the tokens it issued, each row sealed under its token secret, not the tokens signed out.

``auth_revoked_token`` listed the tokens signed out, and the gateway honoured every token not on the list: an
insider who deleted a row, or edited its ``jti``, revived a signed-out token until its expiry (red team round 42t).
``auth_issued_token`` holds a row per token issued (its id, department, expiry and a MAC under the gateway's token
secret, which is not in the database), and a token is honoured only while its row is there with that seal; a
sign-out deletes the row. Tokens issued before this revision have no row: they end here, and their departments
sign in again (a token lives 15 minutes by default). The signed-out list is dropped with it.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "auth_issued_token",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seal", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("jti"),
    )
    op.create_index(op.f("ix_auth_issued_token_expires_at"), "auth_issued_token", ["expires_at"], unique=False)
    op.drop_table("auth_revoked_token")


def downgrade() -> None:
    """The empty signed-out list back: every token issued since is honoured again until its expiry."""
    op.create_table(
        "auth_revoked_token",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti"),
    )
    op.drop_index(op.f("ix_auth_issued_token_expires_at"), table_name="auth_issued_token")
    op.drop_table("auth_issued_token")
