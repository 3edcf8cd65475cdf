"""Index a department's received grants in the order they are paged: ``GET /grants/received`` reads a page alone.

``GET /grants/received`` pages a department's received grants by (created_at, id), and only ``grantee`` was indexed:
every page read and sorted every grant the department had ever received, so any issuing department, granting share
after share at its request budget, made the receiving department's listing (and the gateway thread serving it) cost
more with every grant (red team round 74). ``ix_certificate_grant_received`` holds them in page order.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_certificate_grant_received", "certificate_grant", ["grantee", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_certificate_grant_received", table_name="certificate_grant")
