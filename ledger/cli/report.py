"""``ledger report``: the auditors' report of a department over a period, as HTML (English and Chinese) and JSON."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..formats.i18n import LANGUAGES
from ..services import report
from .output import open_ledger


def register(commands: Any) -> None:
    p = commands.add_parser(
        "report",
        help="write a department's decision report for a period: HTML (English and "
        "Chinese, charts inline, nothing fetched) and the same data as JSON",
    )
    p.add_argument("--department", "-d", required=True, help="the department reported on")
    p.add_argument("--from", dest="start", required=True, metavar="DATE", help="first day, YYYY-MM-DD (UTC)")
    p.add_argument("--to", dest="end", required=True, metavar="DATE", help="last day, YYYY-MM-DD (UTC), included")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="directory for report.html, report.en.html, report.zh-CN.html and report.json",
    )
    p.add_argument("--lang", choices=LANGUAGES, default="en", help="language of report.html (default en)")
    p.set_defaults(run=_report)


def _report(args: argparse.Namespace) -> int:
    report.parse_period(args.start, args.end)  # a bad date is refused before the ledger is opened
    ledger = open_ledger(args)
    try:
        data = report.build_report(ledger, args.department, args.start, args.end)
    finally:
        ledger.close()
    for path in report.write_report(data, args.out, args.lang):
        print(path)
    checked = data["replay"]
    print(
        f"{data['totals']['decisions']} decisions of {args.department} from {args.start} to {args.end}; replay "
        + ("OK" if checked["ok"] else f"found {checked['discrepancies_total']} discrepancies")
    )
    return 0
