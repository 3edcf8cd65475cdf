"""The ``ledger`` command: a thin layer over the library. Each command group lives in its own module and
registers its subcommands here; every LedgerError becomes a one-line message and exit code 2."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

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
    except KeyboardInterrupt:
        print("interrupted; pending batches complete with `ledger resume`", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
