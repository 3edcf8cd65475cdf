"""The ``ledger`` command: a thin layer over the library. Each command group lives in its own module and
registers its subcommands here; every LedgerError becomes a one-line message and exit code 2, and so does a query
the database refused (what differs from the migrations, if anything; never the statement or its values)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from sqlalchemy.exc import DBAPIError

from ..errors import LedgerError

GROUPS = (
    "ledger.cli.certificates",
    "ledger.cli.governance",
    "ledger.cli.decisions",
    "ledger.cli.evidence",
    "ledger.cli.operations",
    "ledger.cli.privacy",
    "ledger.cli.witness",
    "ledger.cli.report",
    "ledger.cli.consent",
    "ledger.cli.supervision",
    "ledger.cli.database",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ledger", description="Provenance ledger for government certificates and approval decisions."
    )
    parser.add_argument("--data-dir", help="data directory (default $LEDGER_DATA_DIR or ./.ledger)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in GROUPS:
        importlib.import_module(name).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except LedgerError as exc:
        print(f"error: {exc.local_message()}", file=sys.stderr)
        return 2
    except DBAPIError as exc:
        print(f"error: {_refused(args, exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; pending batches complete with `ledger resume`", file=sys.stderr)
        return 130


def _refused(args: argparse.Namespace, exc: DBAPIError) -> str:
    """A query the database refused, explained against a fresh look at its schema (a table renamed or a column
    retyped under the ledger: red team round 39b)."""
    from ..config import Settings
    from ..storage import migrations
    from ..storage.store import open_engine, refusal

    try:
        engine = open_engine(Settings.from_env(getattr(args, "data_dir", None)).db_url, migrate=False)
    except LedgerError:
        return f"{refusal(exc)}; check the database server and its log"
    try:
        return migrations.failed_query(engine, exc).local_message()
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
