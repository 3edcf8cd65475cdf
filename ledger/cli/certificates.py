"""``ledger issue | verify | export | present | revoke | suspend | reinstate | supersede | resume``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._gc import cyclic_gc_paused
from ..errors import InputError
from ..formats import vc
from ..formats.canonical import strict_json_loads
from ..formats.certificate import MAX_RECORD_BYTES, load_document, open_without_waiting, read_bounded
from ..services import issuance, status, statuslist
from ..services.verify import STATUS_LOOKUPS, ChainView, expectation, verify_certificate
from ..services.verify import Check as verify_check
from .output import ProgressBar, moment, open_ledger, open_private, print_json, print_report, write_private

if TYPE_CHECKING:
    from ..client import Ledger


def register(commands: Any) -> None:
    p = commands.add_parser("issue", help="issue certificates from a JSONL or CSV file, anchored in batches")
    p.add_argument("file", type=Path)
    p.add_argument("--department", "-d", required=True, help="issuing department id (its key signs)")
    p.add_argument("--batch-size", type=int, help="certificates per anchoring transaction (default 10000)")
    p.add_argument("--out", type=Path, help="write the issued certificate documents here (JSONL)")
    p.set_defaults(run=_issue)

    p = commands.add_parser(
        "verify", help="verify a certificate document (or its Verifiable Credential) against the chain"
    )
    p.add_argument("file", type=Path)
    p.add_argument("--at", help="check validity at this ISO 8601 time instead of now")
    p.add_argument(
        "--now",
        help="judge validity at this ISO 8601 moment instead of the clock's (status stays as of "
        "the head; --at also moves status to that time)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--type",
        dest="expected_type",
        metavar="TYPE",
        help="the certificate type asked for (e.g. business-licence): a genuine certificate of another type fails",
    )
    p.add_argument(
        "--issuer",
        dest="expected_issuer",
        metavar="DEPARTMENT",
        help="the issuing department asked for: a genuine certificate of another department fails",
    )
    p.add_argument(
        "--status-list",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a status list credential a credential's BitstringStatusListEntry names (repeatable); "
        "lists not given are fetched from their URL",
    )
    p.add_argument(
        "--status-lookup",
        choices=STATUS_LOOKUPS,
        help="herd (default, LEDGER_STATUS_LOOKUP): read the "
        "issuer's whole status event stream, so the node does not learn which certificate is checked; "
        "direct: ask the node for this certificate's status",
    )
    p.set_defaults(run=_verify)

    p = commands.add_parser("export", help="write a stored certificate's document (or a presentation)")
    p.add_argument("certificate", help="digest (0x...) or certificate id with --department")
    p.add_argument("--department", "-d")
    p.add_argument("--reveal", help="comma-separated fields to disclose; the others stay hidden")
    p.add_argument(
        "--vc",
        action="store_true",
        help="as a W3C Verifiable Credential (Data Model 2.0), with "
        "BitstringStatusListEntry status entries pointing at the gateway",
    )
    p.add_argument(
        "--status-base",
        help="gateway URL the status list entries point at (default LEDGER_API_PUBLIC_URL, else http://127.0.0.1:8000)",
    )
    p.add_argument("--out", type=Path)
    p.set_defaults(run=_export)

    p = commands.add_parser("status-list", help="a batch's W3C Bitstring Status List credential, as of a block")
    p.add_argument("department")
    p.add_argument("root", help="batch root (0x + 64 hex digits)")
    p.add_argument("--purpose", required=True, choices=list(statuslist.PURPOSES))
    p.add_argument("--block", type=int, help="state the chain as of this block (default: the head)")
    p.add_argument("--status-base", help="gateway URL the list's id names (as for export --vc)")
    p.add_argument("--out", type=Path)
    p.set_defaults(run=_status_list)

    p = commands.add_parser("present", help="derive a presentation that reveals only chosen fields")
    p.add_argument("file", type=Path)
    p.add_argument("--reveal", required=True, help="comma-separated fields to disclose")
    p.add_argument("--vc", action="store_true", help="as a W3C Verifiable Credential (Data Model 2.0)")
    p.add_argument("--out", type=Path)
    p.set_defaults(run=_present)

    for action in ("revoke", "suspend", "reinstate"):
        p = commands.add_parser(action, help=f"{action} a certificate (issuing department only)")
        p.add_argument("certificate", help="digest (0x...) or certificate id with --department")
        p.add_argument("--department", "-d")
        p.add_argument(
            "--reason",
            required=True,
            choices=list(status.REASONS),
            metavar="REASON",
            help="a code of the published vocabulary (goes on chain): " + ", ".join(status.REASONS),
        )
        p.add_argument("--note", help="free text kept off chain, sealed in this ledger's database")
        p.set_defaults(run=_status_change, action=action)

    p = commands.add_parser("supersede", help="mark a certificate superseded by a newer one")
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--department", "-d")
    p.set_defaults(run=_supersede)

    p = commands.add_parser("resume", help="complete batches left pending by a crash or a chain outage")
    p.set_defaults(run=_resume)


def _issue(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        out = open_private(args.out) if args.out else None
        try:
            with cyclic_gc_paused():
                result = issuance.issue_file(
                    ledger,
                    args.file,
                    args.department,
                    batch_size=args.batch_size,
                    out=out,
                    progress=ProgressBar(f"issuing {args.file.name}"),
                )
        finally:
            if out:
                out.close()
        _witness_after_change(ledger)
    print_json(result.to_json())
    return 0


def _witness_after_change(ledger: Ledger) -> None:
    from .witness import collect_after_change

    collect_after_change(ledger)


def _verify(args: argparse.Namespace) -> int:
    from ..services.witness.client import WitnessView

    now = moment("--now", args.now)  # a bad value stops here, before the chain is touched
    expectation(args.expected_type, args.expected_issuer, names=("--type", "--issuer"))  # and so does this
    with open_ledger(args) as ledger:  # a document, a presentation or either as a VC 2.0 credential (vc.py)
        view = ChainView(
            ledger.chain,
            ledger.settings.confirmations,
            status_lookup=args.status_lookup or ledger.settings.status_lookup,
        )
        view.witness = WitnessView.for_ledger(ledger.chain, ledger.settings.data_dir)
        # read once: the text verified is the text whose status entries are checked (red team round 81)
        credential = _read_once(args.file)
        report = verify_certificate(
            credential if credential is not None else str(args.file),
            view,
            at=args.at,
            now=now,
            expected_type=args.expected_type,
            expected_issuer=args.expected_issuer,
        )
        # a certificate of this store: its entries must name its own leaf
        leaf = statuslist.own_leaf(ledger, report.digest) if report.digest is not None else None
        report = _with_status_lists(report, args, view, statuslist.default_base(ledger.settings), leaf, credential)
    if args.json:
        print_json(report.to_json())
    else:
        print_report(report)
    return 0 if report.ok else 1


def _read_once(path: Path) -> dict[str, Any] | None:
    """The JSON object in the file at ``path``, read once as ``load_document`` reads a file (without waiting on a
    pipe no process writes to, at most its limit, strictly), or None when it is none: verification then reads the
    path itself and its ``format`` check says why. ``ledger verify --status-list`` opened the file a second time
    with ``open()``, which waits for ever on such a pipe, and checked the status entries of whatever that second
    read gave (red team round 81)."""
    if "\x00" in str(path):
        return None
    try:
        with open_without_waiting(path) as handle:
            raw = handle.read(16 * MAX_RECORD_BYTES + 1)
    except OSError:
        return None
    if len(raw) > 16 * MAX_RECORD_BYTES:
        return None
    try:
        parsed = strict_json_loads(raw)
    except (ValueError, InputError):
        return None
    return parsed if type(parsed) is dict else None


def _with_status_lists(
    report: Any,
    args: argparse.Namespace,
    view: ChainView,
    fetch_from: str,
    leaf: int | None,
    credential: dict[str, Any] | None,
) -> Any:
    """The report with a ``status_list`` check when the file read (``credential``: what was verified) is a
    credential with BitstringStatusListEntry entries (statuslist.check_entries)."""
    import dataclasses

    if not report.check("format").ok and not args.status_list:
        return report  # the format check has said why (a file over the limit is not read again here)
    if credential is None:
        return report  # no JSON object: the format check has said why
    if not vc.is_credential(credential) or not isinstance(credential.get("credentialStatus"), list):
        return report
    lists: dict[str, Any] = {}
    for path in args.status_list:
        raw = read_bounded(path, statuslist.MAX_LIST_BYTES, "status list file")
        try:
            listed = strict_json_loads(raw.decode("utf-8"))  # a key named twice: two lists in one
        except (ValueError, InputError) as exc:
            raise InputError(f"cannot read the status list {path}: {exc}") from None
        lists[str(listed.get("id")) if isinstance(listed, dict) else str(path)] = listed
    if not report.check("format").ok:
        skipped = verify_check("status_list", False, "not run: the credential could not be read", skipped=True)
        return dataclasses.replace(report, checks=(*report.checks, skipped))
    ok, detail = statuslist.check_entries(credential, lists, view, fetch_from=fetch_from, leaf=leaf)
    return dataclasses.replace(report, checks=(*report.checks, verify_check("status_list", ok, detail)))


def _write(doc: dict[str, Any], out: Path | None) -> None:
    if out:
        write_private(out, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {out}", file=sys.stderr)
    else:
        print_json(doc)


def _export(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        doc = issuance.holder_document(ledger, args.certificate, args.department)
        index = statuslist.leaf_index(ledger, doc["digest"]) if args.vc else 0
    if args.reveal:
        doc = load_document(doc).present(_fields(args.reveal)).to_json()
    if args.vc:
        base = (args.status_base or statuslist.default_base(ledger.settings)).rstrip("/")
        doc = vc.to_credential(doc, status_list=(base, index))
    _write(doc, args.out)
    return 0


def _status_list(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        listed = statuslist.list_credential(
            ledger,
            args.department,
            args.root,
            args.purpose,
            base=(args.status_base or statuslist.default_base(ledger.settings)),
            block=args.block,
        )
    _write(listed, args.out)
    return 0


def _fields(text: str) -> list[str]:
    return [f.strip() for f in text.split(",") if f.strip()]


def _present(args: argparse.Namespace) -> int:
    doc = load_document(args.file).present(_fields(args.reveal)).to_json()
    _write(vc.to_credential(doc) if args.vc else doc, args.out)
    return 0


def _status_change(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        tx = getattr(status, args.action)(ledger, args.certificate, args.reason, args.department, note=args.note)
        _witness_after_change(ledger)
    print_json({"action": args.action, "certificate": args.certificate, "transaction": tx})
    return 0


def _supersede(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        tx = status.supersede(ledger, args.old, args.new, args.department)
        _witness_after_change(ledger)
    print_json({"action": "supersede", "old": args.old, "new": args.new, "transaction": tx})
    return 0


def _resume(args: argparse.Namespace) -> int:
    held_back: list[str] = []
    with open_ledger(args) as ledger:
        done = issuance.resume(ledger, held_back=held_back)
    for why in held_back:
        print(f"warning: {why}", file=sys.stderr)
    print_json({"completed_batches": done, "held_back": held_back})
    return 0
