"""Alembic's environment for the ledger: always run through ``ledger.storage.migrations`` (which hands over an open
connection, inside a transaction that holds the migration lock), never with a URL of its own."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import DateTime, TypeDecorator
from sqlmodel.sql.sqltypes import AutoString

from ledger.storage.migrations import ours
from ledger.storage.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run the ledger's migrations with `ledger db upgrade` (or scripts/new_migration.py to "
        "write one), not with the alembic command: they need the ledger's own connection and lock"
    )


def _render_type(type_: str, obj: Any, _autogen_context: Any) -> str | Literal[False]:
    """Write SQLModel's column types as the plain SQLAlchemy types they stand for, so a revision does not depend
    on sqlmodel's internals (they change between its versions; a revision must not)."""
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    if type_ == "type" and isinstance(obj, TypeDecorator) and isinstance(obj.impl, DateTime):
        return f"sa.DateTime(timezone={bool(obj.impl.timezone)})"
    return False


context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot alter most of a table in place: Alembic's batch mode copies it (the template does the same).
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    compare_server_default=True,
    include_name=ours,
    render_item=_render_type,
)
with context.begin_transaction():
    context.run_migrations()
