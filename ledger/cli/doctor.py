"""``ledger doctor``: the insecure settings in effect now and the one an earlier command ran with (exit 1 if any)."""

from __future__ import annotations

import argparse
from typing import Any

from ..config import data_dir_from_env
from ..services import doctor


def register(commands: Any) -> None:
    p = commands.add_parser(
        "doctor",
        help="report insecure settings in effect now or recorded by earlier commands (cron, services); exit 1 if any",
    )
    p.add_argument("--clear", action="store_true", help="forget the recorded one, once the setting is removed")
    p.set_defaults(run=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    data_dir = data_dir_from_env(args.data_dir)
    if args.clear:
        doctor.clear(data_dir)
    found = doctor.findings(data_dir)
    for finding in found:
        if finding.when is None:
            print(f"in effect now: {finding.warning}")
        else:
            print(f"recorded by `ledger {finding.command}` at {finding.when}: {finding.warning}")
    if not found:
        print("no insecure setting in effect or recorded")
    return 1 if found else 0
