"""``ledger db current | upgrade``: the database's schema revision, and migrating it by hand (docs/database.md).

Neither starts or reads the chain: they open only the database the settings name."""

from __future__ import annotations

import argparse
from typing import Any

from ..config import Settings
from ..storage import dburl, migrations
from ..storage.store import open_engine, private_directory
from .output import print_json


def register(commands: Any) -> None:
    p = commands.add_parser("db", help="the database's schema revision and its migrations")
    sub = p.add_subparsers(dest="db_command", required=True, metavar="SUBCOMMAND")
    q = sub.add_parser("current", help="the database's revision and this ledger's newest (exit 1 unless equal)")
    q.set_defaults(run=_current)
    q = sub.add_parser(
        "upgrade",
        help="migrate the database to this ledger's newest revision (opening a ledger "
        "does the same); take a backup first",
    )
    q.add_argument("--revision", default="head", help="stop at this revision (default: the newest)")
    q.set_defaults(run=_upgrade)


def _engine(args: argparse.Namespace, *, migrate: bool = False) -> Any:
    settings = Settings.from_env(getattr(args, "data_dir", None))
    if settings.database_url is None:
        private_directory(settings.data_dir)  # the embedded SQLite file lives there
    return open_engine(settings.db_url, migrate=migrate)


def _current(args: argparse.Namespace) -> int:
    engine = _engine(args)
    try:
        found = migrations.state(engine)
    finally:
        engine.dispose()
    if not found.known:
        verdict = "newer than this ledger: run the ledger version that migrated it, or restore a backup"
    elif found.legacy:
        verdict = "made before migrations: `ledger db upgrade` adopts it"
    elif found.current != found.head:
        verdict = "behind: `ledger db upgrade` migrates it"
    else:
        verdict = "up to date"
    print_json(
        {
            "database": dburl.location(engine.url),
            "current": found.current,
            "head": found.head,
            "status": verdict,
        }
    )
    return 0 if found.up_to_date else 1


def _upgrade(args: argparse.Namespace) -> int:
    engine = _engine(args)
    try:
        before, after = migrations.upgrade(engine, args.revision)
    finally:
        engine.dispose()
    print_json({"database": dburl.location(engine.url), "before": before, "after": after})
    return 0
