"""Anchoring a log writes one row per anchored range, not two rewrites of every entry row (issue 18).

- ``loganchor.leaves`` (new): the range's entry hashes in sequence order, 32 bytes each, and ``loganchor.nodes``
  (new): the tree's run roots, as ``batch.leaves`` / ``batch.nodes`` for certificates (0004). An entry's proof is
  ``store.batch_proof(leaves, nodes, seq - first_seq)``, byte-identical to the proof anchoring computed.
- ``logentry.batch_root``, ``leaf_index``, ``proof`` and ``state`` (and their two indexes) dropped: an entry's
  anchor is the one whose range holds its sequence number, its state that anchor's (none: pending; prepared or
  submitted: submitted; anchored: anchored). Anchoring no longer rewrites each ~2 KB entry row twice (its proof,
  then its state on confirmation): about 13 µs a decision (bench/analysis.md).
- ``uq_loganchor_log_department_first_seq``: two anchorers that prepared overlapping ranges of the same pending
  entries start at the same sequence number, so the second one's anchor row is refused (the entries' state
  column did that before: the second's UPDATE found them no longer pending).

Nothing is lost: the upgrade derives every entry's anchor, leaf index, proof and state from the new rows and
compares them with the stored columns, and refuses, changing nothing, when one differs (an anchor's rows deleted
or edited, an entry naming an anchor whose range does not hold it, a state that is not its anchor's): the
stored proofs of that range's intact entries would otherwise be lost with the column. Run ``ledger replay`` with
the previous version and restore those rows from a backup first.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from alembic import op

from ledger.errors import ConfigError
from ledger.formats.merkle import MerkleTree

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None

_HEX32 = re.compile(r"0x[0-9a-f]{64}")
_ENTRY_STATE = {"prepared": "submitted", "submitted": "submitted", "anchored": "anchored"}


def _hash(value: Any) -> bytes | None:
    return bytes.fromhex(value[2:]) if isinstance(value, str) and _HEX32.fullmatch(value) else None


def _refuse(why: str) -> ConfigError:
    return ConfigError(
        f"cannot move the logs' anchoring to per-range rows: {why}. Nothing was changed; run `ledger replay` and "
        "GET /audit/logs/<log>/check with the previous version, restore those rows from a backup, then open the "
        "database again"
    )


def upgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table("loganchor", schema=None) as batch_op:
        batch_op.add_column(sa.Column("leaves", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("nodes", sa.LargeBinary(), nullable=True))
    anchors = sa.Table("loganchor", sa.MetaData(), autoload_with=conn)
    entries = sa.Table("logentry", sa.MetaData(), autoload_with=conn)
    covered = 0
    for anchor in conn.execute(
        sa.select(
            anchors.c.root,
            anchors.c.log,
            anchors.c.department_id,
            anchors.c.first_seq,
            anchors.c.last_seq,
            anchors.c.state,
        ).order_by(anchors.c.log, anchors.c.department_id, anchors.c.first_seq)
    ).all():
        root, log, department, first, last, state = anchor
        rows = conn.execute(
            sa.select(entries.c.seq, entries.c.entry_hash, entries.c.batch_root, entries.c.leaf_index, entries.c.proof)
            .where(
                entries.c.log == log,
                entries.c.department_id == department,
                entries.c.seq >= first,
                entries.c.seq <= last,
                entries.c.batch_root == root,
                entries.c.state == _ENTRY_STATE.get(state, "?"),
            )
            .order_by(entries.c.seq)
        ).all()
        leaves = [_hash(r.entry_hash) for r in rows]
        where = f"entries {first}-{last} of {department}'s {log} log (anchor {root})"
        if last < first:  # it holds no entry (an insider's row): no tree to rebuild, and no anchoring ever made it
            raise _refuse(f"the range of {where} runs backwards")
        if [r.seq for r in rows] != list(range(first, last + 1)) or None in leaves:
            raise _refuse(
                f"{len(rows)} of {where} name that anchor with its state {state!r} and a well-formed hash "
                "(rows deleted, or their hash, anchor or state edited)"
            )
        tree = MerkleTree(leaves)  # type: ignore[arg-type]
        if _hash(root) != tree.root:
            raise _refuse(f"the entry hashes of {where} do not rebuild its root")
        for i, (row, proof) in enumerate(zip(rows, tree.proofs(), strict=True)):
            if row.leaf_index != i or (bytes(row.proof) if row.proof is not None else None) != proof:
                raise _refuse(f"entry {row.seq} of {where} stores another leaf index or proof than its anchor's")
        conn.execute(
            sa.update(anchors).where(anchors.c.root == root).values(leaves=b"".join(leaves), nodes=tree.run_roots())  # type: ignore[arg-type]
        )
        covered += len(rows)
    anchoring = sa.or_(
        entries.c.batch_root.is_not(None),
        entries.c.leaf_index.is_not(None),
        entries.c.proof.is_not(None),
        entries.c.state != "pending",
    )
    claimed = conn.execute(sa.select(sa.func.count()).select_from(entries).where(anchoring)).scalar_one()
    if claimed != covered:
        raise _refuse(
            f"{claimed - covered} log entries name an anchor or a state that no anchor's range gives them "
            "(an anchor row deleted or its range edited, or an entry's anchoring columns edited)"
        )
    with op.batch_alter_table("loganchor", schema=None) as batch_op:
        batch_op.alter_column("leaves", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.alter_column("nodes", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.create_unique_constraint(
            "uq_loganchor_log_department_first_seq", ["log", "department_id", "first_seq"]
        )
    op.drop_index(op.f("ix_logentry_batch_root"), table_name="logentry")
    op.drop_index(op.f("ix_logentry_state"), table_name="logentry")
    for column in ("batch_root", "leaf_index", "proof", "state"):
        # SQLite (3.35+) drops a column in place: no copy of the table through a temporary one
        conn.exec_driver_sql(f"ALTER TABLE logentry DROP COLUMN {column}")


def downgrade() -> None:
    """Back to each entry's anchor, leaf index, proof and state in its row, from the anchors' leaves."""
    conn = op.get_bind()
    with op.batch_alter_table("logentry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch_root", sa.String(length=66), nullable=True))
        batch_op.add_column(sa.Column("leaf_index", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("proof", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("state", sa.String(length=16), nullable=False, server_default="pending"))
    anchors = sa.Table("loganchor", sa.MetaData(), autoload_with=conn)
    entries = sa.Table("logentry", sa.MetaData(), autoload_with=conn)
    for root, log, department, first, state, leaves in conn.execute(
        sa.select(
            anchors.c.root,
            anchors.c.log,
            anchors.c.department_id,
            anchors.c.first_seq,
            anchors.c.state,
            anchors.c.leaves,
        )
    ).all():
        blob = bytes(leaves)
        tree = MerkleTree([blob[i : i + 32] for i in range(0, len(blob), 32)])
        for i, proof in enumerate(tree.proofs()):
            conn.execute(
                sa.update(entries)
                .where(entries.c.log == log, entries.c.department_id == department, entries.c.seq == first + i)
                .values(batch_root=root, leaf_index=i, proof=proof, state=_ENTRY_STATE[state])
            )
    with op.batch_alter_table("logentry", schema=None) as batch_op:
        batch_op.alter_column("state", existing_type=sa.String(length=16), server_default=None)
    op.create_index(op.f("ix_logentry_batch_root"), "logentry", ["batch_root"], unique=False)
    op.create_index(op.f("ix_logentry_state"), "logentry", ["state"], unique=False)
    with op.batch_alter_table("loganchor", schema=None) as batch_op:
        batch_op.drop_constraint("uq_loganchor_log_department_first_seq", type_="unique")
        batch_op.drop_column("nodes")
        batch_op.drop_column("leaves")
