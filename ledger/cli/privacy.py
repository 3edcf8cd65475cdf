"""``ledger erase``: destroy a certificate's data key, keeping its hashes, anchor, statuses and logs verifiable."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import InputError
from ..services import erasure
from .output import open_ledger, print_json


def register(commands: Any) -> None:
    p = commands.add_parser(
        "erase",
        help="erase a certificate's contents for good (crypto-shredding); "
        "recorded in the department's anchored erasures log",
    )
    p.add_argument("certificate", nargs="?", help="digest (0x...) or certificate id with --department")
    p.add_argument("--department", "-d")
    p.add_argument(
        "--case",
        metavar="CASE_ID",
        help="instead of a certificate: what the applicant typed in the department's own case CASE_ID that no "
        "certificate carries (refused, referred and left, withdrawn); needs --department",
    )
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
    if (args.certificate is None) == (args.case is None):
        raise InputError("give a certificate (digest, or id with --department) or --case CASE_ID, not both")
    if args.case is not None and not args.department:
        raise InputError("--case needs --department: the department whose case it is", field="department")
    with open_ledger(args) as ledger:
        if args.case is not None:
            result = erasure.erase_case(ledger, args.case, args.department, basis=args.basis, by=args.by)
        else:
            result = erasure.erase(ledger, args.certificate, args.department, basis=args.basis, by=args.by)
        if args.reclaim:
            result["reclaimed"] = erasure.reclaim(ledger)
    print_json(result)
    return 0
