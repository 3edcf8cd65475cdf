"""Schema migrations (Alembic): the database's tables are built and changed only by the revisions in ``versions/``,
shipped inside the package so an installed ledger migrates its own database.

Opening a ledger (``store.open_engine``) brings its database to the newest revision this code knows, under a lock
(SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock), so two processes opening one
database at once migrate it once. A database at a revision this code does not know (a newer ledger migrated it:
running old code on it after a rollback would silently misread it) is refused, never touched. A database made
before migrations existed (tables, no ``alembic_version``) is adopted when its tables are exactly the models'.

``ledger db current`` and ``ledger db upgrade`` run the same functions by hand (docs/database.md).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, inspect
from sqlalchemy.exc import DBAPIError

from ...errors import ConfigError, StateError
from .. import dburl
from ..models import metadata
from ..store import refusal

__all__ = [
    "SCHEMA_REMEDY",
    "SCRIPT_LOCATION",
    "Revision",
    "current",
    "described_differences",
    "differences",
    "failed_query",
    "head",
    "state",
    "upgrade",
]

SCRIPT_LOCATION = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"
# pg_advisory_xact_lock key: "pl-migr" as a number; any constant the ledger's processes share.
_PG_LOCK = int.from_bytes(b"pl-migr", "big")


@dataclass(frozen=True)
class Revision:
    """Where a database stands: its revision (None: no tables yet), the code's newest, and whether it is known."""

    current: str | None
    head: str
    known: bool
    legacy: bool = False  # ledger tables but no revision: made before migrations

    @property
    def up_to_date(self) -> bool:
        return self.known and self.current == self.head and not self.legacy


def config(connection: Connection | None = None) -> Config:
    """An Alembic configuration on the shipped scripts (no alembic.ini), bound to ``connection`` if given."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(config())


def head() -> str:
    """The newest revision this code knows."""
    heads = _scripts().get_heads()
    if len(heads) != 1:  # two revisions with one parent: a merge of two branches forgot its merge revision
        raise ConfigError(
            f"the ledger's migrations have {len(heads)} heads ({', '.join(heads)}); "
            "add a merge revision (docs/database.md)"
        )
    return heads[0]


def _known(revision: str) -> bool:
    try:
        return _scripts().get_revision(revision) is not None
    except CommandError:
        return False


def _state(conn: Connection) -> Revision:
    heads = MigrationContext.configure(conn).get_current_heads()
    if len(heads) > 1:
        raise ConfigError(
            f"the database records several schema revisions ({', '.join(heads)}); it was migrated "
            "by hand or by a branch of the ledger: restore it from a backup"
        )
    current_revision = heads[0] if heads else None
    legacy = current_revision is None and bool(set(inspect(conn).get_table_names()) & set(metadata.tables))
    known = current_revision is None or _known(current_revision)
    return Revision(current=current_revision, head=head(), known=known, legacy=legacy)


def state(engine: Engine) -> Revision:
    """The database's revision, read without changing anything."""
    with engine.connect() as conn:
        return _state(conn)


def current(engine: Engine) -> str | None:
    """The database's revision (None for an empty database); ConfigError if this code does not know it."""
    found = state(engine)
    _refuse_unknown(found, engine)
    return found.current


def _refuse_unknown(found: Revision, engine: Engine) -> None:
    if not found.known:
        raise ConfigError(
            f"the database {_redacted(engine)} is at schema revision {found.current!r}, which this ledger does not "
            f"know (its newest is {found.head!r}): a newer version of the ledger migrated it. Run that version "
            "(upgrade this installation), or restore the database from the backup taken before that migration; "
            "this version will not read or change it"
        )


def _redacted(engine: Engine) -> str:
    return dburl.location(engine.url)  # also without libpq's password parameter


def _lock(conn: Connection) -> None:
    """Hold the migration lock until the transaction ends: one process migrates, the others wait and find it done."""
    if conn.dialect.name == "sqlite":
        # Python's sqlite3 opens no transaction before DDL by itself; an immediate one takes the write lock now.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK})")


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the database to ``revision`` (default: the newest); returns (before, after). Never goes back (a
    target at or below the current revision changes nothing). Refuses a database at a revision this code does not
    know, and one made before migrations whose tables differ from the models."""
    if revision != "head" and not _known(revision):
        raise ConfigError(f"no schema revision {revision!r}: this ledger knows {', '.join(_revisions())}")
    with engine.connect() as conn:
        _lock(conn)
        found = _state(conn)
        _refuse_unknown(found, engine)
        if found.legacy:
            _adopt(conn, engine)
        try:
            command.upgrade(config(conn), revision)
        except CommandError as exc:  # a target not reachable from here (a target below it is a no-op)
            raise ConfigError(
                f"cannot migrate the database {_redacted(engine)} from revision {found.current!r} "
                f"to {revision!r}: {exc}; migrations only move forward (to go back, restore a "
                "backup)"
            ) from exc
        after = _state(conn).current
        conn.commit()
    return found.current, after


def _revisions() -> list[str]:
    """Every revision this code knows, oldest first."""
    return [script.revision for script in reversed(list(_scripts().walk_revisions()))]


def _adopt(conn: Connection, engine: Engine) -> None:
    """A database made by ``create_all`` before migrations: take it over if its tables are the models' (the gateway
    made some tables only when first used, so missing ones are created), then record the newest revision."""
    missing = set(metadata.tables) - set(inspect(conn).get_table_names())
    problems = [d for d in _compare(conn) if not _of_missing_table(d, missing)]
    if problems:
        raise ConfigError(
            f"the database {_redacted(engine)} has ledger tables but no schema revision, and they differ from this "
            f"ledger's ({len(problems)} differences, first: {problems[0]!r}); it was made by an older ledger "
            "without migrations: open it with that version, or move its rows to a new database"
        )
    # Only the missing tables are created: the others match the models, which match the newest revision.
    metadata.create_all(conn, tables=[metadata.tables[name] for name in sorted(missing)])
    command.stamp(config(conn), "head")


def _of_missing_table(diff: Any, missing: set[str]) -> bool:
    """An ``add_table`` of a missing table, or an ``add_index`` on one."""
    if not isinstance(diff, tuple) or diff[0] not in ("add_table", "add_index"):
        return False
    return str(diff[1].name if diff[0] == "add_table" else diff[1].table.name) in missing


def ours(name: str | None, type_: str, _parents: Any) -> bool:
    """Alembic's ``include_name``: compare only the ledger's tables (a database may hold others: a DBA's, a probe's),
    so neither a comparison nor a generated migration ever proposes dropping them."""
    return type_ != "table" or name in metadata.tables


def _compare(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True, "include_name": ours}
    )
    diffs: list[Any] = compare_metadata(context, metadata)
    return diffs


def differences(engine: Engine) -> list[Any]:
    """Alembic's comparison of the database with the models: empty when the migrations built exactly them."""
    with engine.connect() as conn:
        return _compare(conn)


SCHEMA_REMEDY = (
    "restore the schema (or the database) from a backup, or re-create what differs as the migrations build it "
    "(docs/database.md)"
)


def described_differences(engine: Engine) -> list[str]:
    """Each of :func:`differences`, in words: the operation that would bring the database back to the models."""
    return [_described(diff) for diff in differences(engine)]


def _described(diff: Any) -> str:
    if isinstance(diff, list):  # the changes of one column: (op, schema, table, column, details, old, new)
        return "; ".join(f"{d[0]} {d[2]}.{d[3]}: {d[-2]!r} in the database, {d[-1]!r} in the models" for d in diff)
    op, obj = diff[0], diff[1]
    table = getattr(getattr(obj, "table", None), "name", None)
    name = getattr(obj, "name", None)
    if op.startswith("add_"):
        return f"{op[4:]} {table + '.' if table else ''}{name} is missing from the database"
    if op.startswith("remove_"):
        return f"{op[7:]} {table + '.' if table else ''}{name} is in the database, not in the models"
    return f"{op} {table + '.' if table else ''}{name}"


def failed_query(engine: Engine, exc: DBAPIError) -> StateError:
    """The error to raise for a query the database refused (``exc``): what it said (``store.refusal``), and when its
    schema is not the one the migrations build - a table renamed, a column retyped or dropped under the ledger - the
    first difference and what to do. The statement and its values are never quoted."""
    said = refusal(exc)
    try:
        found = described_differences(engine)
    except Exception:  # noqa: BLE001 - the database cannot even be compared: say what is known
        return StateError(f"{said}, and its schema could not be read to say why; check the database server and its log")
    if found:
        return StateError(
            f"{said}: its schema is not the one the migrations build ({len(found)} difference(s), the first: "
            f"{found[0]}); {SCHEMA_REMEDY}"
        )
    return StateError(
        f"{said}, and its schema is the one the migrations build: check the database server and its log (space, "
        "permissions, a connection ended), then run the command again"
    )
