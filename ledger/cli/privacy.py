"""``ledger erase``: destroy a certificate's data key, keeping its hashes, anchor, statuses and logs verifiable."""

from __future__ import annotations

import argparse
from typing import Any

from ..services import erasure
from .output import open_ledger, print_json


def register(commands: Any) -> None:
    p = commands.add_parser(
        "erase",
        help="erase a certificate's contents for good (crypto-shredding); "
        "recorded in the department's anchored erasures log",
    )
    p.add_argument("certificate", help="digest (0x...) or certificate id with --department")
    p.add_argument("--department", "-d")
    p.add_argument(
        "--basis",
        required=True,
        choices=list(erasure.BASES),
        metavar="BASIS",
        help="legal basis, a code (goes in the anchored log): " + ", ".join(erasure.BASES),
    )
    p.add_argument("--by", help="who erases (staff id; default: the operating-system user)")
    p.add_argument(
        "--reclaim",
        action="store_true",
        help="PostgreSQL: then VACUUM FULL the tables, so no old row version stays in their pages "
        "(locks them while it runs)",
    )
    p.set_defaults(run=_erase)


def _erase(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        result = erasure.erase(ledger, args.certificate, args.department, basis=args.basis, by=args.by)
        if args.reclaim:
            result["reclaimed"] = erasure.reclaim(ledger)
    print_json(result)
    return 0
