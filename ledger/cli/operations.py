"""``ledger reconcile | recheck | continue``: operating the ledger after crashes, chain faults and tampering."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .._gc import cyclic_gc_paused
from ..services import issuance
from ..services.reconcile import reconcile
from .output import ProgressBar, open_ledger, open_private, print_json


def register(commands: Any) -> None:
    p = commands.add_parser(
        "reconcile", help="compare the database with the chain and list every divergence (exit 1 if any)"
    )
    p.add_argument("--department", "-d", action="append", help="only this department (repeatable)")
    p.add_argument("--no-bodies", action="store_true", help="skip opening the sealed bodies (faster)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=_reconcile)

    p = commands.add_parser(
        "recheck",
        help="move confirmed batches whose anchor the chain lost (reorganisation, "
        "node restart) back to pending; `ledger resume` re-anchors them",
    )
    p.add_argument("--window", type=int, help="blocks back from the head to check (default 256)")
    p.set_defaults(run=_recheck)

    p = commands.add_parser(
        "continue",
        help="finish an interrupted `ledger issue` of FILE: complete its pending "
        "batches, then issue the records not stored yet",
    )
    p.add_argument("file", type=Path)
    p.add_argument("--department", "-d", required=True)
    p.add_argument("--batch-size", type=int)
    p.add_argument(
        "--out",
        type=Path,
        help="write the certificates issued now here (JSONL); `ledger export` rebuilds the earlier ones",
    )
    p.set_defaults(run=_continue)


def _reconcile(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        report = reconcile(
            ledger,
            departments=args.department,
            check_bodies=not args.no_bodies,
            progress=lambda n: print(f"reconcile: {n} certificates checked", file=sys.stderr),
        )
    if args.json:
        print_json(report.to_json())
    else:
        print(report.text())
    return 0 if report.ok else 1


def _recheck(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        moved = issuance.recheck(ledger, window=args.window)
    print_json({"moved_back_to_prepared": moved})
    return 0


def _continue(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        completed = issuance.resume(ledger)
        out = open_private(args.out) if args.out else None
        try:
            with cyclic_gc_paused():
                result = issuance.issue_file(
                    ledger,
                    args.file,
                    args.department,
                    batch_size=args.batch_size,
                    out=out,
                    progress=ProgressBar(f"continuing {args.file.name}"),
                    skip_issued=True,
                )
        finally:
            if out:
                out.close()
    print_json({**result.to_json(), "completed_batches": completed})
    return 0
