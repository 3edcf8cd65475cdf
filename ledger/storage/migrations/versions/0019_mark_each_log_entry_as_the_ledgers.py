"""Mark each log entry as the ledger's: anchoring signs only entries the ledger wrote.

An entry's hash is no one's signature: an insider who can write the database (no keys) appended an entry to a
department's log - an erasure naming a live certificate, a decision nobody took - hashed and chained as the library
does, and the next anchoring signed it on chain in the department's name, after which it read as any lawful entry
(red team round 63's open row). ``logentry.mark`` holds HMAC-SHA256 of the entry hash under a key derived from the
department's secret, which the vault seals (``logchain.entry_mark``); anchoring refuses an entry whose mark is
missing or does not check, and everything after it.

Entries written before this revision have no mark. Anchor every log before upgrading (``ledger anchor-logs``); an
entry still pending at the upgrade is refused until the operator, having checked it, anchors it with ``ledger
anchor-logs --accept-unmarked``.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("logentry") as batch:
        batch.add_column(sa.Column("mark", sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Marks dropped: anchoring signs whatever the log holds again."""
    with op.batch_alter_table("logentry") as batch:
        batch.drop_column("mark")
