"""Link each stored decision input to the cited copies it names, so a refused decision's cleanup is an indexed read.

A decision refused after its input and the copies of the documents it cited inline were stored (another process
decided the case first) removes those copies unless another stored input still names them. That question was a
``LIKE`` search of every stored input's text for each copy: its cost grew with the store. ``inputcitation``
(input digest -> cited copy ref, indexed by ref) is written in the transaction that stores the input, and answers
it from the index. The upgrade links every stored input from its text: each ``{"document_ref": "0x" + 64 hex}``
citation of its ``certificates``, as the ledger names a copy; an input that is not such JSON (one an insider
edited) names none.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from alembic import op

from ledger.formats.canonical import json_loads

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_CHUNK = 5_000
_REF = re.compile(r"0x[0-9a-f]{64}")


def _refs(text: str | None) -> list[str]:
    """The cited copies a stored input names (``facts.named_copies`` as of this revision)."""
    try:
        stored: Any = json_loads(text or "")
    except ValueError:
        return []
    cited = stored.get("certificates") if isinstance(stored, dict) else None
    if not isinstance(cited, list):
        return []
    refs = (c.get("document_ref") for c in cited if isinstance(c, dict))
    return list(dict.fromkeys(r for r in refs if isinstance(r, str) and _REF.fullmatch(r)))


def upgrade() -> None:
    op.create_table(
        "inputcitation",
        sa.Column("input_digest", sa.String(length=66), nullable=False),
        sa.Column("ref", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("input_digest", "ref"),
    )
    op.create_index(op.f("ix_inputcitation_ref"), "inputcitation", ["ref"], unique=False)
    conn = op.get_bind()
    inputs = sa.table("decisioninput", sa.column("digest", sa.String), sa.column("document", sa.Text))
    links = sa.table("inputcitation", sa.column("input_digest", sa.String), sa.column("ref", sa.String))
    after = ""
    while True:
        rows = conn.execute(
            sa.select(inputs.c.digest, inputs.c.document)
            .where(inputs.c.digest > after)
            .order_by(inputs.c.digest)
            .limit(_CHUNK)
        ).all()
        if not rows:
            break
        after = rows[-1][0]
        named = [{"input_digest": digest, "ref": ref} for digest, text in rows for ref in _refs(text)]
        if named:
            conn.execute(sa.insert(links), named)


def downgrade() -> None:
    op.drop_index(op.f("ix_inputcitation_ref"), table_name="inputcitation")
    op.drop_table("inputcitation")
