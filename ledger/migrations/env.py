"""Alembic's environment for the ledger: always run through ``ledger.migrations`` (which hands over an open
connection, inside a transaction that holds the migration lock), never with a URL of its own."""

from __future__ import annotations

from alembic import context

from ledger.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the ledger's migrations with `ledger db upgrade` (or scripts/new_migration.py to "
                       "write one), not with the alembic command: they need the ledger's own connection and lock")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot alter most of a table in place: Alembic's batch mode copies it (the template does the same).
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    compare_server_default=True,
)
with context.begin_transaction():
    context.run_migrations()
