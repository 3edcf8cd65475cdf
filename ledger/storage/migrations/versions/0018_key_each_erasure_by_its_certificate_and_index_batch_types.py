"""Key each erasure by its certificate, and index the batches' types (each read a whole table for one answer).

``logentry.lookup`` of an ``erasures``-log entry naming a certificate (its body's ``certificate`` member, a digest)
now holds that certificate's key: the first 16 bytes of ``SHA-256("pl-lookup\\0" || certificate)`` in hex, as for
the access log (revision 0006). ``ix_logentry_lookup`` then finds one certificate's erasure entry for a supersession
(``status._erased_side``), an erasure run again and the attestation of a later citation, instead of every body of
the department's log. The upgrade keys every existing such entry from its body; a case erasure keeps its case key,
and a body that is not a JSON object naming a string ``certificate`` (an insider's edit) keeps what it has.

``ix_batch_schema_id``: the types of the store's batches (``decisions.label_typeless``, labelling a cited copy whose
holder hid its type) are read one index seek per type, not by a DISTINCT over every batch row.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from alembic import op

from ledger.formats.canonical import json_loads

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | None = None
depends_on: str | None = None

_CHUNK = 5_000


def _keys(text: str | None) -> tuple[str | None, str | None]:
    """The key ``logchain.lookup_of`` gives an erasures-log body naming a certificate as of this revision (None for
    any other body), and the one it gave before (its case id's, or None)."""
    try:
        body: Any = json_loads(text or "")
    except (ValueError, TypeError):
        return None, None
    if not isinstance(body, dict):
        return None, None
    certificate, case = body.get("certificate"), body.get("case_id")
    return (
        _lookup_key(certificate) if isinstance(certificate, str) else None,
        _lookup_key(case) if isinstance(case, str) else None,
    )


def _lookup_key(named: str) -> str:
    return hashlib.sha256(b"pl-lookup\x00" + named.encode("utf-8", "surrogatepass")).hexdigest()[:32]


_KEEP = object()  # what a re-key answers for a row it leaves as it is


def _rekey(conn: Any, key_of: Any) -> None:
    """Set ``lookup`` of every erasures-log entry to ``key_of(body, lookup)`` unless it answers :data:`_KEEP`, in
    keyset pages on the primary key (no cursor held open across the updates)."""
    entries = sa.table(
        "logentry", sa.column("id", sa.Integer), sa.column("log"), sa.column("body", sa.Text), sa.column("lookup")
    )
    after = 0
    while True:
        rows = conn.execute(
            sa.select(entries.c.id, entries.c.body, entries.c.lookup)
            .where(entries.c.id > after, entries.c.log == "erasures")
            .order_by(entries.c.id)
            .limit(_CHUNK)
        ).all()
        if not rows:
            return
        after = rows[-1][0]
        keyed = [
            {"row": row_id, "key": key} for row_id, text, lookup in rows if (key := key_of(text, lookup)) is not _KEEP
        ]
        if keyed:
            conn.execute(
                sa.update(entries).where(entries.c.id == sa.bindparam("row")).values(lookup=sa.bindparam("key")),
                keyed,
            )


def _certificate_key(text: str | None, lookup: str | None) -> Any:
    key = _keys(text)[0]
    return key if key is not None and key != lookup else _KEEP


def _previous_key(text: str | None, _lookup: str | None) -> Any:
    key, previous = _keys(text)
    return previous if key is not None else _KEEP


def upgrade() -> None:
    with op.batch_alter_table("batch", schema=None) as batch_op:
        batch_op.create_index("ix_batch_schema_id", ["schema_id"], unique=False)
    _rekey(op.get_bind(), _certificate_key)


def downgrade() -> None:
    """The previous version keys an erasures-log entry by its case id alone: a certificate's erasure had none."""
    with op.batch_alter_table("batch", schema=None) as batch_op:
        batch_op.drop_index("ix_batch_schema_id")
    _rekey(op.get_bind(), _previous_key)
