"""Index the access log by certificate (issue 18: listing a certificate's reads read the issuer's whole access log).

``logentry.lookup`` of an access-log entry (log ``access``) now holds the key of the certificate it is about: the
first 16 bytes of ``SHA-256("pl-lookup\\0" || certificate)`` in hex, the certificate being the body's
``certificate`` member (a digest). ``ix_logentry_lookup`` (revision 0005) then finds one certificate's reads for its
issuer, auditors, its data subject and its timeline. The upgrade keys every existing access-log entry from its body;
a body that is not a JSON object naming a string ``certificate`` (one an insider edited) gets none, as the ledger
would have written it. The index gains ``seq`` as its last column, so a key's entries come out in order from the
index alone (a page of them, or a case's decisions): without it SQLite walked the (log, department, seq) index to
avoid a sort, reading every entry of the log to find the few with the key.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from alembic import op

from ledger.formats.canonical import json_loads

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_CHUNK = 5_000


def _lookup(text: str | None) -> str | None:
    """The key ``logchain.lookup_of`` gives an access-log body (as of this revision), or None."""
    try:
        body: Any = json_loads(text or "")
    except ValueError:
        return None
    certificate = body.get("certificate") if isinstance(body, dict) else None
    if not isinstance(certificate, str):
        return None
    return hashlib.sha256(b"pl-lookup\x00" + certificate.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def upgrade() -> None:
    with op.batch_alter_table("logentry", schema=None) as batch_op:
        batch_op.drop_index("ix_logentry_lookup")
        batch_op.create_index("ix_logentry_lookup", ["log", "department_id", "lookup", "seq"], unique=False)
    conn = op.get_bind()
    entries = sa.table(
        "logentry", sa.column("id", sa.Integer), sa.column("log"), sa.column("body", sa.Text), sa.column("lookup")
    )
    after = 0
    while True:
        rows = conn.execute(
            sa.select(entries.c.id, entries.c.body)
            .where(entries.c.id > after, entries.c.log == "access")
            .order_by(entries.c.id)
            .limit(_CHUNK)
        ).all()
        if not rows:
            break
        after = rows[-1][0]
        keyed = [{"row": row_id, "key": _lookup(text)} for row_id, text in rows]
        conn.execute(
            sa.update(entries).where(entries.c.id == sa.bindparam("row")).values(lookup=sa.bindparam("key")), keyed
        )


def downgrade() -> None:
    conn = op.get_bind()
    entries = sa.table("logentry", sa.column("log"), sa.column("lookup"))
    conn.execute(sa.update(entries).where(entries.c.log == "access").values(lookup=None))
    with op.batch_alter_table("logentry", schema=None) as batch_op:
        batch_op.drop_index("ix_logentry_lookup")
        batch_op.create_index("ix_logentry_lookup", ["log", "department_id", "lookup"], unique=False)
