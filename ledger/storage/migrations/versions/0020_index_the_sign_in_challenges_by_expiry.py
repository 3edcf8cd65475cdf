"""Index the sign-in challenges by their expiry: the gateway's deletion of expired challenges reads only those.

Every ``POST /auth/challenge`` deleted the expired challenges by ``expires_at``, which no index held: a scan of every
challenge kept for the day, on SQLite under the database's one write lock, so an anonymous client asking for
challenges all day slowed every sign-in (red team round 64). The deletion now runs at most once a minute, and
``ix_auth_challenge_expires_at`` makes it read the expired rows alone.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_auth_challenge_expires_at", "auth_challenge", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_auth_challenge_expires_at", table_name="auth_challenge")
