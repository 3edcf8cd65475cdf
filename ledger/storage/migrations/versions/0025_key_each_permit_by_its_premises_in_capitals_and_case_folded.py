"""Key each permit by its premises as typed, in capitals and case-folded: a row a key.

Premises were compared through the look-alike table read before case-folding (red team round 84p), so the same Greek
or Cyrillic premises in capitals, or with a final sigma as a medial one, got another key and a second live permit
(red team round 85's open row): a small letter the table lists (sigma, nu) became its ASCII look-alike while its
capital stayed itself. A permit is now keyed by each reading of its premises that gives other text (as typed, in
capitals, case-folded: ``permits.premises_keys``), and ``permit_key`` holds a row per key: ``nth`` joins the primary
key (0 for the key as typed; a permit not keyed yet, or stating nothing, has the one row 0). A revision holds no key
to open the permits, nor the secret to key them: as 0024 did, it blanks every key and empties every department's key
tree, and the ledger keys each permit again, with all its keys, when an approval first asks (``ledger permits
rekey`` does the same for one department).

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | None = None
depends_on: str | None = None


def _rebuild_on_sqlite(keyed_by_nth: bool) -> None:
    """SQLite's primary key has no name to drop: the table is built again beside the old one (no key kept: _blank)."""
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("digest", sa.String(length=66), nullable=False),
        *([sa.Column("nth", sa.Integer(), nullable=False)] if keyed_by_nth else []),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=66), nullable=True),
        sa.Column("bucket", sa.Integer(), nullable=True),
        sa.Column("after_seq", sa.Integer(), nullable=True),
        sa.Column("mac", sa.String(length=66), nullable=True),
    ]
    primary = ["digest", "nth"] if keyed_by_nth else ["digest"]
    op.create_table("permit_key_rebuilt", *columns, sa.PrimaryKeyConstraint(*primary))
    if keyed_by_nth:
        op.execute(
            "INSERT INTO permit_key_rebuilt (digest, nth, department_id) SELECT digest, 0, department_id FROM permit_key"
        )
    else:
        op.execute(
            "INSERT INTO permit_key_rebuilt (digest, department_id) SELECT digest, department_id FROM permit_key "
            "WHERE nth = 0"
        )
    op.drop_index("ix_permit_key_department_bucket", table_name="permit_key")
    op.drop_index("ix_permit_key_department_key", table_name="permit_key")
    op.drop_table("permit_key")
    op.rename_table("permit_key_rebuilt", "permit_key")
    op.create_index("ix_permit_key_department_key", "permit_key", ["department_id", "key"])
    op.create_index("ix_permit_key_department_bucket", "permit_key", ["department_id", "bucket"])


def _blank() -> None:
    op.execute("UPDATE permit_key SET key = NULL, bucket = NULL, after_seq = NULL, mac = NULL")
    op.execute("DELETE FROM permit_key_node")
    op.execute("DELETE FROM permit_key_tree")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_on_sqlite(keyed_by_nth=True)
    else:
        op.add_column("permit_key", sa.Column("nth", sa.Integer(), nullable=False, server_default="0"))
        op.alter_column("permit_key", "nth", existing_type=sa.Integer(), server_default=None)
        op.drop_constraint("permit_key_pkey", "permit_key", type_="primary")
        op.create_primary_key("permit_key_pkey", "permit_key", ["digest", "nth"])
    _blank()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_on_sqlite(keyed_by_nth=False)
    else:
        op.execute("DELETE FROM permit_key WHERE nth > 0")
        op.drop_constraint("permit_key_pkey", "permit_key", type_="primary")
        op.create_primary_key("permit_key_pkey", "permit_key", ["digest"])
        op.drop_column("permit_key", "nth")
    _blank()
