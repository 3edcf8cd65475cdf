"""``ledger supervision due | check | credit | summary`` and ``ledger inspect inspectors | announce | draw | finding |
withdraw``: thin wrappers over ``ledger.services.supervision``."""

from __future__ import annotations

import argparse
from datetime import UTC
from typing import Any

from ..errors import InputError
from ..services import supervision
from .output import identity_argument, moment, open_ledger, print_json


def register(commands: Any) -> None:
    group = commands.add_parser("supervision", help="after approval: commitments, the credit list, a summary")
    sub = group.add_subparsers(dest="supervision_command", required=True)
    p = sub.add_parser("due", help="list approvals on a commitment that are due or overdue for their check")
    p.add_argument("--department", "-d", required=True)
    p.add_argument("--within", type=int, default=30, help="days ahead to list (default 30)")
    p.add_argument("--today", help="the day to count from (YYYY-MM-DD; default today, UTC)")
    p.set_defaults(run=_due)
    p = sub.add_parser("check", help="record whether an applicant met what it committed to")
    p.add_argument("case", help="case id of the approval on a commitment")
    p.add_argument("--department", "-d", required=True)
    p.add_argument("--officer", required=True, help="officer id (stored only as a salted reference)")
    result = p.add_mutually_exclusive_group(required=True)
    result.add_argument("--met", action="store_true")
    result.add_argument("--broken", action="store_true")
    p.add_argument("--finding", action="append", default=[], help="finding code; repeat for several")
    p.set_defaults(run=_check)
    p = sub.add_parser("credit", help="the department's credit list (applicants by salted reference only)")
    credit = p.add_subparsers(dest="credit_command", required=True)
    c = credit.add_parser("add", help="list an applicant for a period, with a reason code")
    c.add_argument("--department", "-d", required=True)
    c.add_argument(
        "--applicant",
        required=True,
        help="applicant identity (stored only salted); '-' reads it from standard input, out of the process list",
    )
    c.add_argument("--reason", required=True, help="reason code")
    c.add_argument("--since", required=True, help="first day listed (YYYY-MM-DD)")
    c.add_argument("--until", required=True, help="first day no longer listed (YYYY-MM-DD)")
    c.add_argument("--officer", required=True, help="who lists: a staff id (stored only as a salted reference)")
    c.add_argument("--legal-basis", required=True, help="legal-basis code the listing applies")
    c.add_argument("--document", help="code of the department's decision document, if any")
    c.set_defaults(run=_credit_add)
    c = credit.add_parser("remove", help="remove a listing (an anchored removal naming it)")
    c.add_argument("listing", type=int, help="the listing's number in the log")
    c.add_argument("--department", "-d", required=True)
    c.add_argument("--reason", required=True, help="reason code")
    c.add_argument("--officer", required=True, help="who removes: a staff id (stored only as a salted reference)")
    c.add_argument("--legal-basis", required=True, help="legal-basis code the removal applies")
    c.add_argument("--document", help="code of the department's decision document, if any")
    c.set_defaults(run=_credit_remove)
    c = credit.add_parser("list", help="the department's listings and removals")
    c.add_argument("--department", "-d", required=True)
    c.set_defaults(run=_credit_list)
    p = sub.add_parser("summary", help="commitments, inspections, withdrawals and credit list of a period (JSON)")
    p.add_argument("--department", "-d", required=True)
    p.add_argument("--since", help="ISO 8601 time (inclusive)")
    p.add_argument("--until", help="ISO 8601 time (exclusive)")
    p.set_defaults(run=_summary)

    group = commands.add_parser("inspect", help="random inspections anyone can re-draw (docs/decisions.md)")
    sub = group.add_subparsers(dest="inspect_command", required=True)
    p = sub.add_parser("inspectors", help="register a list of inspectors (stored as salted officer references)")
    p.add_argument("--department", "-d", required=True)
    p.add_argument("--list-id", required=True, help="the list's name, e.g. inspectors-2026")
    p.add_argument("--inspector", action="append", required=True, help="inspector id; repeat for each")
    p.set_defaults(run=_inspectors)
    p = sub.add_parser("announce", help="anchor an inspection announcement with a future target block")
    p.add_argument("--department", "-d", required=True)
    p.add_argument(
        "--since",
        help="approvals decided at or after this ISO 8601 time (default: where the last "
        "announcement's period ended; periods are contiguous, so only a first announcement "
        "chooses)",
    )
    p.add_argument("--until", required=True, help="approvals decided before this ISO 8601 time")
    p.add_argument("--rate", required=True, help="sample rate, e.g. 0.05")
    p.add_argument("--inspectors", required=True, help="a registered inspector list id")
    p.add_argument("--target-block", type=int, help="the future block whose hash draws the sample")
    p.add_argument(
        "--delay",
        type=int,
        default=supervision.DEFAULT_TARGET_DELAY,
        help=f"else: this many blocks after the head (default {supervision.DEFAULT_TARGET_DELAY})",
    )
    p.set_defaults(run=_announce)
    p = sub.add_parser("draw", help="draw an announced inspection with its target block's hash")
    p.add_argument("announcement", type=int, help="the announcement's number in the log")
    p.add_argument("--department", "-d", required=True)
    p.add_argument("--wait", type=float, default=0, help="seconds to wait for the target block (default: no wait)")
    p.set_defaults(run=_draw)
    p = sub.add_parser("assigned", help="the cases a draw assigned to an inspector")
    p.add_argument("draw", type=int, help="the draw's number in the log")
    p.add_argument("--department", "-d", required=True)
    p.add_argument("--inspector", required=True, help="the inspector's id")
    p.set_defaults(run=_assigned)
    p = sub.add_parser("finding", help="record the result of a drawn case's inspection")
    p.add_argument("--department", "-d", required=True)
    p.add_argument("--draw", type=int, required=True, help="the draw's number in the log")
    p.add_argument("--case", required=True)
    p.add_argument("--inspector", required=True, help="the assigned inspector's id")
    result = p.add_mutually_exclusive_group(required=True)
    result.add_argument("--conforming", action="store_true")
    result.add_argument("--non-conforming", action="store_true")
    p.add_argument("--finding", action="append", default=[], help="finding code; repeat for several")
    p.set_defaults(run=_finding)
    p = sub.add_parser("withdraw", help="withdraw the approval a non-conforming finding concerns; list the applicant")
    p.add_argument("--department", "-d", required=True)
    p.add_argument("--finding", type=int, required=True, help="the finding's number in the log")
    p.add_argument("--officer", required=True)
    p.add_argument("--reason", action="append", required=True, help="reason code; repeat for several")
    p.add_argument("--legal-basis", required=True, help="legal-basis code")
    p.add_argument("--credit-days", type=int, default=365, help="days on the credit list (0: not listed)")
    p.add_argument("--credit-reason", help="the listing's reason code (default: the first reason)")
    p.set_defaults(run=_withdraw)


def _iso(text: str | None, option: str) -> str | None:
    value = moment(option, text)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z") if value else None


def _due(args: argparse.Namespace) -> int:
    today = None
    if args.today is not None:
        if len(args.today) != 10:
            raise InputError(f"--today {args.today!r} is not a date: give one as YYYY-MM-DD (e.g. 2030-01-31)")
        today = moment("--today", args.today).date()  # type: ignore[union-attr]
    with open_ledger(args) as ledger:
        found = supervision.due_commitments(ledger, args.department, within_days=args.within, today=today)
    print_json([c.to_json() for c in found])
    return 0


def _check(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        seq = supervision.record_commitment_check(
            ledger, args.department, args.case, met=args.met, officer=args.officer, findings=args.finding
        )
    print_json({"department": args.department, "case": args.case, "seq": seq, "met": args.met})
    return 0


def _credit_add(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        entry = supervision.credit_list(
            ledger,
            args.department,
            applicant=identity_argument(args.applicant),
            reason=args.reason,
            since=args.since,
            until=args.until,
            officer=args.officer,
            basis=supervision.ListingBasis(legal_basis=args.legal_basis, document=args.document),
        )
    print_json(entry.to_json())
    return 0


def _credit_remove(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        seq = supervision.credit_remove(
            ledger,
            args.department,
            args.listing,
            reason=args.reason,
            officer=args.officer,
            basis=supervision.ListingBasis(legal_basis=args.legal_basis, document=args.document),
        )
        shown = next(c.removal for c in supervision.credit_entries(ledger, args.department) if c.seq == args.listing)
    print_json(
        {
            "department": args.department,
            "listing": args.listing,
            "removal": seq,
            **{k: v for k, v in (shown or {}).items() if k != "seq"},
        }
    )
    return 0


def _credit_list(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        print_json([c.to_json() for c in supervision.credit_entries(ledger, args.department)])
    return 0


def _summary(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        print_json(
            supervision.summary(
                ledger, args.department, since=_iso(args.since, "--since"), until=_iso(args.until, "--until")
            )
        )
    return 0


def _inspectors(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        print_json(supervision.register_inspectors(ledger, args.department, args.list_id, args.inspector))
    return 0


def _announce(args: argparse.Namespace) -> int:
    since, until = moment("--since", args.since), moment("--until", args.until)
    if until is None:
        raise InputError("an announcement needs --until (and --since for a department's first period)")
    with open_ledger(args) as ledger:
        if since is None:
            since = supervision.next_period_start(ledger, args.department)
        if since is None:
            raise InputError(
                f"{args.department} has announced no inspection yet: give --since for its first period", field="since"
            )
        print_json(
            supervision.announce_inspection(
                ledger,
                args.department,
                since=since,
                until=until,
                rate=args.rate,
                inspectors=args.inspectors,
                target_block=args.target_block,
                delay=args.delay,
            )
        )
    return 0


def _draw(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        if args.wait:
            supervision.wait_for_block(
                ledger, supervision.announcement_target(ledger, args.department, args.announcement), timeout=args.wait
            )
        print_json(supervision.draw_inspection(ledger, args.department, args.announcement))
    return 0


def _assigned(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        print_json(supervision.assigned_cases(ledger, args.department, args.draw, args.inspector))
    return 0


def _finding(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        seq = supervision.record_finding(
            ledger,
            args.department,
            args.draw,
            args.case,
            inspector=args.inspector,
            conforming=args.conforming,
            findings=args.finding,
        )
    print_json(
        {"department": args.department, "draw": args.draw, "case": args.case, "seq": seq, "conforming": args.conforming}
    )
    return 0


def _withdraw(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        print_json(
            supervision.withdraw_approval(
                ledger,
                args.department,
                args.finding,
                officer=args.officer,
                reasons=args.reason,
                legal_basis=args.legal_basis,
                credit_days=args.credit_days,
                credit_reason=args.credit_reason,
            )
        )
    return 0
