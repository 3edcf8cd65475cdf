"""Write a schema migration for a change to ledger/storage/models.py: builds a scratch SQLite database at the newest
revision, lets Alembic compare it with the models, and writes ledger/migrations/versions/NNNN_<slug>.py.

    .venv/bin/python scripts/new_migration.py "why the schema changes"

Read and edit what it wrote (Alembic guesses renames as drop + add, and a new NOT NULL column on a table with
rows needs a default); then tests/test_migrations.py checks it on SQLite and PostgreSQL (docs/database.md).
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from alembic import command

from ledger.storage import migrations
from ledger.storage.store import open_engine


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].strip():
        print(__doc__, file=sys.stderr)
        return 2
    message = argv[0].strip()
    versions = sorted((migrations.SCRIPT_LOCATION / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    number = int(versions[-1].name[:4]) + 1 if versions else 1
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40]
    with tempfile.TemporaryDirectory() as scratch:
        engine = open_engine(f"sqlite:///{Path(scratch) / 'scratch.sqlite3'}", migrate=False)
        if versions:
            migrations.upgrade(engine)
        with engine.connect() as conn:
            script = command.revision(
                migrations.config(conn), message=message, autogenerate=True, rev_id=f"{number:04d}"
            )
            conn.commit()
        engine.dispose()
    path = Path(script.path) if script is not None and not isinstance(script, list) else None
    if path is not None and path.name != f"{number:04d}_{slug}.py":
        path = path.rename(path.with_name(f"{number:04d}_{slug}.py"))
    print(f"wrote {path}: read it, then run tests/test_migrations.py")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
