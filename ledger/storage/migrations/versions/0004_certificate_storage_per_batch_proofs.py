"""Certificates in under a kilobyte (issue 18): Merkle proofs per batch, hashes as 32 raw bytes.

- ``batch.leaves`` (new): the batch's certificate digests in leaf order, 32 bytes each, and ``batch.nodes`` (new):
  the tree's nodes six levels up (the root of each run of 64 leaves). Every certificate's proof is recomputed
  from them (``store.batch_proof``: 64 leaves and the run roots), byte-identical to the proof issuance computed;
  ``certificate.proof`` (436 bytes for a batch of 10,000) is dropped.
- ``batch.root``, ``certificate.digest`` and ``certificate.batch_root``: 32 raw bytes instead of 66-character
  ``0x`` hex texts (in the row and in the primary-key and batch indexes). The library still sees ``0x`` texts
  (``models.Hex32`` converts at the storage boundary).
- ``ix_certificate_department_id`` dropped: the unique (department_id, certificate_id) index, whose first column
  is the department, serves every query by department.

Both tables are rebuilt (SQLite cannot change a primary key's type in place) in one transaction: new tables,
rows copied with the conversion, old tables dropped, new ones renamed. Nothing is lost: a value that is not a
``0x`` + 64 hex digit text (a row an insider altered) is kept as its own UTF-8 bytes, which ``ledger reconcile``
still reports. The leaves of each batch come from its certificate rows; the upgrade refuses, changing nothing,
when they do not rebuild the batch's root (rows deleted, digests or leaf indexes edited): the stored proofs of
the intact certificates of such a batch would otherwise be lost with the column. Run ``ledger reconcile`` with
the previous version and restore the rows from a backup first.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from alembic import op

from ledger.errors import ConfigError
from ledger.formats.merkle import MerkleTree

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_RUN_LEVEL = 6  # batch.nodes: the tree's nodes at this level (the root of each run of 64 leaves)
_HEX32 = re.compile(r"0x[0-9a-fA-F]{64}")

_BATCH_COLUMNS = (
    "department_id",
    "schema_id",
    "count",
    "state",
    "signer",
    "signature",
    "tx_hash",
    "nonce",
    "block_number",
    "block_hash",
    "block_time",
    "created_at",
    "confirmed_at",
)
_CERT_COLUMNS = (
    "leaf_index",
    "certificate_id",
    "department_id",
    "cert_type",
    "issued_at",
    "valid_until",
    "sealed",
    "status",
    "superseded_by",
)


def _raw(value: str) -> bytes:
    """A ``0x`` hex text as its 32 bytes; anything else as its own UTF-8 bytes (kept, never a valid hash)."""
    return bytes.fromhex(value[2:]) if _HEX32.fullmatch(value) else value.encode()


def _to_bytes_sql(column: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return (
            f"CASE WHEN {column} ~ '^0x[0-9a-fA-F]{{64}}$' THEN decode(substr({column}, 3), 'hex') "
            f"ELSE convert_to({column}, 'UTF8') END"
        )
    return f"ledger_0004_raw({column})"


def _batch_columns(root: Any, extra: list[sa.Column[Any]]) -> list[Any]:
    return [
        sa.Column("root", root, nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("schema_id", sa.String(length=66), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("signature", sa.String(length=132), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("nonce", sa.Integer(), nullable=True),
        sa.Column("block_number", sa.Integer(), nullable=True),
        sa.Column("block_hash", sa.String(length=66), nullable=True),
        sa.Column("block_time", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        *extra,
    ]


def _cert_columns(hash_type: Any, extra: list[sa.Column[Any]]) -> list[Any]:
    return [
        sa.Column("digest", hash_type, nullable=False),
        sa.Column("batch_root", hash_type, nullable=False),
        sa.Column("leaf_index", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.String(length=128), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("cert_type", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.String(length=40), nullable=False),
        sa.Column("valid_until", sa.String(length=40), nullable=True),
        *extra,
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("superseded_by", sa.String(length=66), nullable=True),
    ]


def _swap(conn: sa.Connection, unique_in_table: bool) -> None:
    """Drop the old tables, give the new ones their names, and build the indexes (shared by both directions)."""
    op.drop_index(op.f("ix_certificate_batch_root"), table_name="certificate")
    if sa.inspect(conn).has_index("certificate", "ix_certificate_department_id"):
        op.drop_index(op.f("ix_certificate_department_id"), table_name="certificate")
    op.drop_table("certificate")
    op.drop_index(op.f("ix_batch_department_id"), table_name="batch")
    op.drop_index(op.f("ix_batch_state"), table_name="batch")
    op.drop_table("batch")
    op.rename_table("batch_new", "batch")
    op.rename_table("certificate_new", "certificate")
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ALTER TABLE batch RENAME CONSTRAINT batch_new_pkey TO batch_pkey")
        conn.exec_driver_sql("ALTER TABLE certificate RENAME CONSTRAINT certificate_new_pkey TO certificate_pkey")
        conn.exec_driver_sql(
            "ALTER TABLE certificate RENAME CONSTRAINT certificate_new_batch_root_fkey TO certificate_batch_root_fkey"
        )
    if not unique_in_table:  # PostgreSQL: the name was the old table's until it was dropped
        op.create_unique_constraint("uq_certificate_department_id", "certificate", ["department_id", "certificate_id"])
    op.create_index(op.f("ix_batch_department_id"), "batch", ["department_id"], unique=False)
    op.create_index(op.f("ix_batch_state"), "batch", ["state"], unique=False)
    op.create_index(op.f("ix_certificate_batch_root"), "certificate", ["batch_root"], unique=False)


def _pg(conn: sa.Connection, name: str) -> str | None:
    """A constraint name on PostgreSQL (renamed in ``_swap``); SQLite's stay unnamed, as the models make them."""
    return name if conn.dialect.name == "postgresql" else None


def _unique(conn: sa.Connection) -> list[Any]:
    if conn.dialect.name == "postgresql":
        return []
    return [sa.UniqueConstraint("department_id", "certificate_id", name="uq_certificate_department_id")]


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        conn.connection.driver_connection.create_function(  # type: ignore[union-attr]
            "ledger_0004_raw", 1, lambda v: None if v is None else _raw(v), deterministic=True
        )
    op.create_table(
        "batch_new",
        *_batch_columns(
            sa.LargeBinary(),
            [
                sa.Column("leaves", sa.LargeBinary(), nullable=False),
                sa.Column("nodes", sa.LargeBinary(), nullable=False),
            ],
        ),
        sa.PrimaryKeyConstraint("root", name=_pg(conn, "batch_new_pkey")),
    )
    old_batch = sa.Table("batch", sa.MetaData(), autoload_with=conn)
    old_cert = sa.Table("certificate", sa.MetaData(), autoload_with=conn)
    new_batch = sa.Table("batch_new", sa.MetaData(), autoload_with=conn)
    for batch in conn.execute(sa.select(old_batch)).mappings().all():
        rows = conn.execute(
            sa.select(old_cert.c.digest, old_cert.c.leaf_index)
            .where(old_cert.c.batch_root == batch["root"])
            .order_by(old_cert.c.leaf_index)
        ).all()
        leaves = [_raw(d) for d, _ in rows]
        tree = MerkleTree(leaves) if leaves and all(len(d) == 32 for d in leaves) else None
        intact = (
            [i for _, i in rows] == list(range(batch["count"]))
            and tree is not None
            and tree.root == _raw(batch["root"])
        )
        if not intact:
            raise ConfigError(
                f"cannot move batch {batch['root']} to per-batch Merkle proofs: its {len(rows)} certificate rows "
                f"(of {batch['count']}) do not rebuild its root (rows deleted, or digests or leaf indexes changed). "
                "Nothing was changed; run `ledger reconcile` with the previous version and restore those rows "
                "from a backup, then open the database again"
            )
        conn.execute(
            sa.insert(new_batch).values(
                root=_raw(batch["root"]),
                leaves=b"".join(leaves),
                nodes=b"".join(tree.level(_RUN_LEVEL)),  # type: ignore[union-attr]
                **{c: batch[c] for c in _BATCH_COLUMNS},
            )
        )
    op.create_table(
        "certificate_new",
        *_cert_columns(sa.LargeBinary(), []),
        sa.ForeignKeyConstraint(["batch_root"], ["batch_new.root"], name=_pg(conn, "certificate_new_batch_root_fkey")),
        sa.PrimaryKeyConstraint("digest", name=_pg(conn, "certificate_new_pkey")),
        *_unique(conn),
    )
    conn.exec_driver_sql(
        f"INSERT INTO certificate_new (digest, batch_root, {', '.join(_CERT_COLUMNS)}) "  # noqa: S608 - constants
        f"SELECT {_to_bytes_sql('digest')}, {_to_bytes_sql('batch_root')}, {', '.join(_CERT_COLUMNS)} "
        "FROM certificate"
    )
    _swap(conn, unique_in_table=conn.dialect.name != "postgresql")


def downgrade() -> None:
    """Back to text hashes and a stored proof per certificate, recomputed from each batch's leaves."""
    conn = op.get_bind()
    op.create_table(
        "batch_new",
        *_batch_columns(sa.String(length=66), []),
        sa.PrimaryKeyConstraint("root", name=_pg(conn, "batch_new_pkey")),
    )
    op.create_table(
        "certificate_new",
        *_cert_columns(sa.String(length=66), [sa.Column("proof", sa.LargeBinary(), nullable=False)]),
        sa.ForeignKeyConstraint(["batch_root"], ["batch_new.root"], name=_pg(conn, "certificate_new_batch_root_fkey")),
        sa.PrimaryKeyConstraint("digest", name=_pg(conn, "certificate_new_pkey")),
        *_unique(conn),
    )
    old_batch = sa.Table("batch", sa.MetaData(), autoload_with=conn)
    old_cert = sa.Table("certificate", sa.MetaData(), autoload_with=conn)
    new_batch = sa.Table("batch_new", sa.MetaData(), autoload_with=conn)
    new_cert = sa.Table("certificate_new", sa.MetaData(), autoload_with=conn)
    for batch in conn.execute(sa.select(old_batch)).mappings().all():
        root = bytes(batch["root"])
        conn.execute(sa.insert(new_batch).values(root="0x" + root.hex(), **{c: batch[c] for c in _BATCH_COLUMNS}))
        leaves = bytes(batch["leaves"])
        tree = MerkleTree([leaves[i : i + 32] for i in range(0, len(leaves), 32)]) if leaves else None
        rows = conn.execute(sa.select(old_cert).where(old_cert.c.batch_root == root)).mappings().all()
        for row in rows:
            i = row["leaf_index"]
            proof = b"".join(tree.proof(i)) if tree is not None and 0 <= i < len(tree) else b""
            conn.execute(
                sa.insert(new_cert).values(
                    digest="0x" + bytes(row["digest"]).hex(),
                    batch_root="0x" + root.hex(),
                    proof=proof,
                    **{c: row[c] for c in _CERT_COLUMNS},
                )
            )
    _swap(conn, unique_in_table=conn.dialect.name != "postgresql")
    op.create_index(op.f("ix_certificate_department_id"), "certificate", ["department_id"], unique=False)
