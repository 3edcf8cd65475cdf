"""Split the certificate digest index into generations: ``certificate`` keyed by ``(epoch, digest)``, and
``certificate_generation`` counting each generation's rows (issue 18; ledger.storage.generations).

Every row stored before becomes generation 0, however many there are (the next generation opens after it, when a
writer finds it full). SQLite has no way to change a primary key: the table is built again beside the old one and
the rows copied; PostgreSQL changes the key in place. The downgrade refuses a store with a row beyond generation 0
(a ledger before 0026 reads generation 0 only).

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | None = None
depends_on: str | None = None

_COLUMNS = (
    "digest, batch_root, leaf_index, certificate_id, department_id, cert_type, issued_at, valid_until, sealed, "
    "status, superseded_by"
)


def _rebuild_on_sqlite(with_epoch: bool) -> None:
    columns: list[sa.schema.SchemaItem] = [
        *([sa.Column("epoch", sa.Integer(), autoincrement=False, nullable=False)] if with_epoch else []),
        sa.Column("digest", sa.LargeBinary(), nullable=False),
        sa.Column("batch_root", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_index", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.String(length=128), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("cert_type", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.String(length=40), nullable=False),
        sa.Column("valid_until", sa.String(length=40), nullable=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("superseded_by", sa.String(length=66), nullable=True),
    ]
    op.create_table(
        "certificate_rebuilt",
        *columns,
        sa.ForeignKeyConstraint(["batch_root"], ["batch.root"]),
        sa.PrimaryKeyConstraint(*(["epoch", "digest"] if with_epoch else ["digest"])),
        sa.UniqueConstraint("department_id", "certificate_id", name="uq_certificate_department_id"),
    )
    epoch = ("epoch, ", "0, ") if with_epoch else ("", "")
    op.execute(
        f"INSERT INTO certificate_rebuilt ({epoch[0]}{_COLUMNS}) "  # noqa: S608 - constants
        f"SELECT {epoch[1]}{_COLUMNS} FROM certificate"
    )
    op.drop_index("ix_certificate_batch_root", table_name="certificate")
    op.drop_table("certificate")
    op.rename_table("certificate_rebuilt", "certificate")
    op.create_index("ix_certificate_batch_root", "certificate", ["batch_root"], unique=False)


def upgrade() -> None:
    op.create_table(
        "certificate_generation",
        sa.Column("epoch", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("epoch"),
    )
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_on_sqlite(with_epoch=True)
    else:
        op.add_column("certificate", sa.Column("epoch", sa.Integer(), nullable=False, server_default="0"))
        op.alter_column("certificate", "epoch", existing_type=sa.Integer(), server_default=None)
        op.drop_constraint("certificate_pkey", "certificate", type_="primary")
        op.create_primary_key("certificate_pkey", "certificate", ["epoch", "digest"])
    op.execute("INSERT INTO certificate_generation (epoch, rows) SELECT 0, count(*) FROM certificate")


def downgrade() -> None:
    beyond = op.get_bind().execute(sa.text("SELECT count(*) FROM certificate WHERE epoch <> 0")).scalar()
    if beyond:
        raise RuntimeError(
            f"{beyond} certificate rows are in generations after 0: a ledger before 0026 cannot read them; "
            "nothing was changed"
        )
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_on_sqlite(with_epoch=False)
    else:
        op.drop_constraint("certificate_pkey", "certificate", type_="primary")
        op.create_primary_key("certificate_pkey", "certificate", ["digest"])
        op.drop_column("certificate", "epoch")
    op.drop_table("certificate_generation")
