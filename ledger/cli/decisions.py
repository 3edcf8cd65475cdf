"""``ledger rules publish | demo-data | decide | permits follow | anchor-logs | replay``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from .._gc import cyclic_gc_paused
from ..errors import InputError
from ..formats.canonical import check_input_depth, strict_json_loads
from ..formats.certificate import bounded_lines, open_without_waiting
from ..formats.i18n import LANGUAGES
from ..formats.rules import check_item_published, load_rule_set
from ..services import decisions, logchain, replay
from ..services.demo_data import catalogue, generate_applications, generate_service_items
from .output import (
    ProgressBar,
    distinct_files,
    identity_argument,
    moment,
    open_ledger,
    open_private,
    print_json,
    replace_file,
    write_private,
)


def register(commands: Any) -> None:
    rules = commands.add_parser("rules", help="decision rule sets")
    sub = rules.add_subparsers(dest="rules_command", required=True)
    p = sub.add_parser("publish", help="publish a rule set on chain (approver departments) and store its document")
    p.add_argument("file", type=Path)
    p.add_argument("--department", "-d", required=True, help="approver department whose key publishes")
    p.set_defaults(run=_publish)
    p = sub.add_parser("digest", help="validate a rule set file and print its digest")
    p.add_argument("file", type=Path)
    p.set_defaults(run=_digest)

    p = commands.add_parser("demo-data", help="write demo applications (JSONL) with realistic distributions")
    p.add_argument("--items", type=int, default=200, help="number of service items (default 200)")
    p.add_argument("--applications", type=int, default=10_000, help="number of applications (default 10000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--licences",
        type=Path,
        help="issued business licences (JSONL of certificate documents, as `ledger issue --out` writes): "
        "enterprise applications cite them by digest",
    )
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "--rules",
        type=Path,
        help="a rule set for every service item ('*'): also write it publishing the catalogue of the generated items "
        "(items, added to the screen's own), which its rules then read in place of what each application states "
        "(to --rules-out)",
    )
    p.add_argument("--rules-out", type=Path, help="where --rules writes the rule set with the catalogue (JSON)")
    p.set_defaults(run=_demo_data)

    p = commands.add_parser(
        "decide",
        help="decide applications (JSONL) automatically, record and anchor them; a case already decided "
        "automatically is refused (an officer decides it again: record-decision --overrides)",
    )
    p.add_argument("file", type=Path)
    p.add_argument("--department", "-d", required=True, help="deciding department (its key anchors the log)")
    p.add_argument(
        "--rules",
        "-r",
        type=Path,
        action="append",
        required=True,
        help="published rule set file; repeat for several items (a '*' rule set serves all others)",
    )
    p.add_argument(
        "--certificates-out",
        type=Path,
        metavar="FILE",
        help="write the certificates the approvals issued (a rule set's `produces`, e.g. permits) here, "
        "one document per line, for delivery to the applicants",
    )
    p.set_defaults(run=_decide)

    p = commands.add_parser("record-decision", help="record an officer's decision (or an override of an earlier one)")
    p.add_argument("--department", "-d", required=True, help="the officer's department (its key anchors the log)")
    p.add_argument("--case", required=True, help="case id")
    p.add_argument("--item", required=True, help="service item code")
    p.add_argument("--officer", required=True, help="officer id (stored only as a salted reference)")
    p.add_argument("--outcome", required=True, choices=["approve", "reject", "refer"])
    p.add_argument("--reason", action="append", required=True, help="reason id; repeat for several")
    p.add_argument(
        "--applicant",
        required=True,
        help="applicant reference (stored only salted); '-' reads it from standard input, out of the process list",
    )
    p.add_argument(
        "--overrides",
        help="the decision this one replaces, the case's latest: its number in the log, or the case id (its latest)",
    )
    p.add_argument("--no-anchor", action="store_true", help="leave it for the next `ledger anchor-logs`")
    p.set_defaults(run=_record_decision)

    p = commands.add_parser(
        "notice",
        help="issue the applicant's decision notice: a certificate of the decision, "
        "its reasons in words, their legal basis and how to ask for review",
    )
    p.add_argument("case", help="case id")
    p.add_argument("--department", "-d", required=True, help="the deciding department (needs the issuer role too)")
    p.add_argument("--seq", type=int, help="the decision's number in the log (default: the latest for the case)")
    p.add_argument("--out", type=Path, help="write the notice here (default: standard output)")
    p.add_argument(
        "--lang",
        default="en",
        choices=LANGUAGES,
        help="the applicant's language: reasons and review in the rule set's words in it (default: en)",
    )
    p.set_defaults(run=_notice)

    p = commands.add_parser(
        "produced-by",
        help="the decision that issued a certificate (an approval's permit), read "
        "from the decision log; exit 1 when no decision names it",
    )
    p.add_argument(
        "certificate",
        help="the certificate's digest (0x + 64 hex digits) or its document file (a "
        "presented permit: its digest is recomputed, never taken from the file)",
    )
    p.set_defaults(run=_produced_by)

    p = commands.add_parser("permits", help="the permits a department's approvals issued")
    sub = p.add_subparsers(dest="permits_command", required=True)
    q = sub.add_parser(
        "follow",
        help="make the department's live permits follow the certificates they rest on: revoke a permit whose licence "
        "was revoked, suspend and reinstate it with its licence (the gateway runs this periodically too)",
    )
    q.add_argument("--department", "-d", required=True, help="the department whose permits follow their bases")
    q.add_argument("--limit", type=int, help="judge at most this many permits (the rest at the next run)")
    q.set_defaults(run=_follow_permits)
    q = sub.add_parser(
        "rekey",
        help="put the department's permit_key rows right after an approval refused them as altered: every permit its "
        "decisions issued is keyed again from its sealed fields when the next approval asks",
    )
    q.add_argument("--department", "-d", required=True, help="the department whose permits are keyed again")
    q.set_defaults(run=_rekey_permits)

    p = commands.add_parser("anchor-logs", help="anchor a department's un-anchored log entries")
    p.add_argument("--department", "-d", required=True)
    p.add_argument("--log", default=logchain.LOG_DECISIONS, help="log name (default decisions)")
    p.add_argument(
        "--accept-unmarked",
        action="store_true",
        help="anchor entries that bear no mark (written before the upgrade to migration 0019) once you have checked "
        "them; an entry whose mark does not check is never anchored",
    )
    p.set_defaults(run=_anchor_logs)

    p = commands.add_parser("replay", help="check and re-run the decision history; non-zero exit on any discrepancy")
    p.add_argument("--department", "-d", action="append", help="only this department (repeatable; default all)")
    p.add_argument("--since", help="decided at or after this ISO 8601 time")
    p.add_argument("--until", help="decided before this ISO 8601 time")
    p.add_argument("--item", help="only this service item")
    p.add_argument("--case", help="only this case id")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the full JSON report here ('-' for stdout)")
    p.set_defaults(run=_replay)


def _publish(args: argparse.Namespace) -> int:
    rule_set = load_rule_set(args.file)
    with open_ledger(args) as ledger:
        print_json(decisions.publish_rule_set(ledger, rule_set, args.department))
    return 0


def _digest(args: argparse.Namespace) -> int:
    rule_set = load_rule_set(args.file)
    check_item_published(rule_set)  # validated as publishing would: a screen reading the applicant's item is none
    print_json(
        {
            "digest": rule_set.hex_digest,
            "rule_set_id": rule_set.rule_set_id,
            "version": rule_set.version,
            "service_item": rule_set.service_item,
            "rules": len(rule_set.rules),
        }
    )
    return 0


def _demo_data(args: argparse.Namespace) -> int:
    if args.items < 1 or args.applications < 1:
        raise InputError("--items and --applications must be at least 1")
    items = generate_service_items(args.items, args.seed)
    if (args.rules is None) != (args.rules_out is None):
        raise InputError("--rules and --rules-out go together: the screen to publish the catalogue in, and its file")
    # the screen is written before the licences are read and the applications written: over either it destroyed it,
    # under --out it was overwritten by the applications (red team round 63)
    distinct_files(
        {"--rules-out": args.rules_out, "--out": args.out}, {"--rules": args.rules, "--licences": args.licences}
    )
    if args.rules is not None:
        document = load_rule_set(args.rules).document
        # merged into the screen's own catalogue, which replacing dropped: a code both list is refused unless its
        # attributes agree (the generated applications would be read against the other item)
        own = document.get("items") or {}
        generated = catalogue(items)
        clash = sorted(code for code in generated if code in own and own[code] != generated[code])
        if clash:
            raise InputError(
                f"the screen {args.rules} already publishes item {clash[0]!r} with other attributes than demo-data "
                f"generates for it ({len(clash)} such item(s)): give --items or --seed that generate other codes, or "
                "a screen without them. Nothing was written"
            )
        screen = document | {"items": own | generated}
        load_rule_set(screen)  # refuses a rule set for one item, or a catalogue past the bounds
        write_private(args.rules_out, json.dumps(screen, ensure_ascii=False, indent=1) + "\n")
    licences = None
    if args.licences is not None:
        with _open_once(args.licences, "licences file") as handle:
            licences = [
                (doc["digest"], str(doc["fields"].get("subject.credit_code")))
                for doc in _read_jsonl(handle, args.licences)
                if isinstance(doc.get("digest"), str)
                and isinstance(doc.get("fields"), dict)
                and doc["fields"].get("type") == "business-licence"
            ]
        if not licences:
            raise InputError(f"{args.licences} holds no business-licence certificate documents")
    with open_private(args.out) as out:
        for application in generate_applications(args.applications, items, args.seed, licences=licences):
            out.write(json.dumps(application, ensure_ascii=False, separators=(",", ":")) + "\n")
    print_json(
        {"out": str(args.out), "service_items": args.items, "applications": args.applications, "seed": args.seed}
    )
    return 0


def _notice(args: argparse.Namespace) -> int:
    from ..services.notices import issue_notice
    from .witness import collect_after_change

    with open_ledger(args) as ledger:
        document = issue_notice(ledger, args.department, args.case, seq=args.seq, language=args.lang)
        collect_after_change(ledger)  # the notice was just anchored: ask the witnesses to cosign it
    text = json.dumps(document, ensure_ascii=False, indent=2)
    if args.out is None:
        sys.stdout.write(text + "\n")
    else:
        write_private(args.out, text + "\n")
        print_json(
            {
                "notice": str(args.out),
                "digest": document["digest"],
                "outcome": document["fields"].get("subject.outcome"),
            }
        )
    return 0


MAX_APPLICATION_BYTES = 4 * 2**20  # one application per line, its cited documents inline: the gateway's body limit


def _open_once(path: Path, what: str) -> BinaryIO:
    """The JSONL file at ``path`` (``what`` names it: "applications file"), opened once and without waiting
    (``open_without_waiting``: a named pipe no process writes to reads as empty). ``ledger decide`` opened it twice
    with ``open()``, once to count its lines: a pipe (``<(...)``) was read to its end by the count and nothing was
    decided, and an unwritten named pipe kept the first open waiting for ever (round 81's ``ledger verify
    --status-list``, noticed again)."""
    if "\x00" in str(path):  # no file name holds a NUL (os.open raises ValueError)
        raise InputError(f"{str(path)[:80]!r} is no file name (it holds a NUL character): give the {what}")
    try:
        return open_without_waiting(path)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc


def _read_jsonl(handle: BinaryIO, path: Path) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(bounded_lines(handle, MAX_APPLICATION_BYTES), start=1):
        if not line.strip():
            continue
        try:
            check_input_depth(line)  # its decision's bundle nests it further: every reader must read that back
            yield strict_json_loads(line)
        except (ValueError, InputError) as exc:
            raise InputError(f"{path.name} is not JSONL: {exc}", line=number) from None


def _count_lines(handle: BinaryIO) -> int:
    """The applications in the file open at ``handle``, for the progress bar, and the file rewound; 0 (no count)
    for a pipe, which is read once, as it is decided."""
    if not handle.seekable():
        return 0
    count = sum(1 for line in bounded_lines(handle, MAX_APPLICATION_BYTES) if line.strip())
    handle.seek(0)
    return count


def _decide(args: argparse.Namespace) -> int:
    rule_sets = {}
    for file in args.rules:
        rule_set = load_rule_set(file)
        rule_sets[rule_set.service_item] = rule_set
    with _open_once(args.file, "applications file") as handle:  # opened once: the count rewinds it
        total = _count_lines(handle)
        with open_ledger(args) as ledger:
            with cyclic_gc_paused():  # one-shot process (ledger/_gc.py); decide_many frees each chunk's cycles itself
                result = decisions.decide_many(
                    ledger,
                    args.department,
                    _read_jsonl(handle, args.file),
                    rule_sets,
                    progress=ProgressBar(f"deciding {args.file.name}"),
                    total=total,
                    chunk=1_000,
                )
            if result.produced:
                from .witness import collect_after_change

                collect_after_change(
                    ledger
                )  # the approvals' certificates were just anchored: ask the witnesses to cosign
            if args.certificates_out is not None:
                from ..services import permits

                with open_private(args.certificates_out) as out:
                    for document in permits.documents(ledger, result.produced):
                        out.write(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n")
                print(f"wrote {len(result.produced)} certificate(s) to {args.certificates_out}", file=sys.stderr)
    print_json(result.to_json())
    return 0


def _record_decision(args: argparse.Namespace) -> int:
    overrides: int | str | None = (
        int(args.overrides)
        if args.overrides and args.overrides.isascii() and args.overrides.isdigit()
        else args.overrides
    )
    with open_ledger(args) as ledger:
        decision = decisions.record_human_decision(
            ledger,
            args.department,
            args.case,
            args.item,
            officer=args.officer,
            outcome=args.outcome,
            reasons=args.reason,
            applicant_ref=identity_argument(args.applicant),
            overrides=overrides,
        )
        roots = [] if args.no_anchor else logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, args.department)
        if "issued" in decision.body or "withdraws" in decision.body:  # a permit was anchored or revoked
            from .witness import collect_after_change

            collect_after_change(ledger)
    print_json({**decision.to_json(), "anchored_batches": roots})
    return 0


def _produced_by(args: argparse.Namespace) -> int:
    from ..formats.canonical import hex32, parse_hex32
    from ..services import permits

    if args.certificate.startswith("0x"):
        digest = hex32(parse_hex32(args.certificate, "certificate digest"))
    else:
        from ..formats.certificate import load_document

        digest = hex32(load_document(args.certificate).digest())
    with open_ledger(args) as ledger:
        found = permits.produced_by(ledger, digest)
    if found is None:
        print(
            f"no decision of this ledger names certificate {digest}: if it claims to be an approval's permit, no "
            "approval issued it",
            file=sys.stderr,
        )
        return 1
    print_json(found)
    if found["outcome"] != "approve" or not found["anchored"]:
        print(
            f"the decision naming {digest} is {'not an approval' if found['outcome'] != 'approve' else 'not anchored'}",
            file=sys.stderr,
        )
        return 1
    return 0


def _follow_permits(args: argparse.Namespace) -> int:
    from ..services import permits

    with open_ledger(args) as ledger:
        report = permits.follow_bases(
            ledger, args.department, limit=args.limit, progress=ProgressBar("following permits' bases")
        )
    print_json(report.to_json())
    return 1 if report.unread else 0


def _rekey_permits(args: argparse.Namespace) -> int:
    from ..services import permits

    with open_ledger(args) as ledger:
        blanked = permits.rekey(ledger, args.department)
    print_json({"department": args.department, "rows_to_key_again": blanked})
    return 0


def _anchor_logs(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        roots = logchain.anchor_pending(ledger, args.log, args.department, accept_unmarked=args.accept_unmarked)
    print_json({"department": args.department, "log": args.log, "anchored_batches": roots})
    return 0


def _replay(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger, cyclic_gc_paused():
        report = replay.replay(
            ledger,
            department=args.department,
            since=moment("--since", args.since),
            until=moment("--until", args.until),
            service_item=args.item,
            case_id=args.case,
            progress=ProgressBar("replaying"),
        )
    if args.json is not None:
        if str(args.json) == "-":
            print_json(report.to_json())
        else:
            replace_file(args.json, json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
            print(f"wrote {args.json}", file=sys.stderr)
    print(report.summary(), file=sys.stderr if str(args.json) == "-" else sys.stdout)
    return 0 if report.ok else 1
