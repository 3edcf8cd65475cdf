"""``ledger departments | council ... | keys ... | deploy | node``."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from ..client import Ledger, department_key_name
from ..config import Settings
from ..errors import InputError
from ..onchain.chain import Chain, connect, roles_from_names
from ..onchain.node import EmbeddedNode
from ..services.council import (
    ZERO_ADDRESS,
    Action,
    CouncilMember,
    Proposal,
    ProposalState,
    explain,
    for_department,
    get_proposal,
    governance_history,
    is_code,
    item_list,
    list_proposals,
    load_member,
    read_approval,
    submit_approvals,
    type_list,
)
from ..services.departments import list_departments, promote_rotated_key
from ..services.doctor import key_file_findings
from ..storage.keys import Keystore
from .output import open_ledger, print_json, replace_file


def register(commands: Any) -> None:
    p = commands.add_parser(
        "departments", help="list registered departments with roles, status, certificate types and key history"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_departments)

    council = commands.add_parser(
        "council", help="council governance: each member acts with their own key (docs/governance.md)"
    )
    sub = council.add_subparsers(dest="council_command", required=True)
    member = argparse.ArgumentParser(add_help=False)
    member.add_argument("--member-keystore", help="folder of your council keystore (default: the data dir's keys)")
    member.add_argument("--member-key", help="your council key's name (default: the keystore's one council key)")
    member.add_argument(
        "--several-council-keys",
        action="store_true",
        help="accept a keystore holding several council keys (demos only: one person, one key)",
    )
    _proposal_parsers(sub, member)  # `ledger council register ...`: short for `council propose register`
    propose = sub.add_parser("propose", help="propose a change (counts as your approval)")
    _proposal_parsers(propose.add_subparsers(dest="propose_command", required=True), member)
    p = sub.add_parser("list", help="open proposals with their votes and expiry", parents=[member])
    p.add_argument("--all", action="store_true", help="closed proposals too")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_council_read, action="list")
    p = sub.add_parser("show", help="one proposal: what it will change, votes, expiry", parents=[member])
    p.add_argument("proposal", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_council_read, action="show")
    p = sub.add_parser("history", help="the registry's complete governance history", parents=[member])
    p.add_argument("department", nargs="?", help="only what concerns this department")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_council_read, action="history")
    for action, text in (
        ("approve", "approve a proposal with your key (executes at the threshold)"),
        ("reject", "vote against a proposal"),
        ("cancel", "withdraw a proposal you made"),
    ):
        p = sub.add_parser(action, help=text, parents=[member])
        p.add_argument("proposal", type=int)
        if action != "cancel":
            p.add_argument(
                "--hash",
                dest="proposal_hash",
                help="the proposal hash `council show` printed: the vote counts only for that content (refused if "
                "the number names other content by then); default: the content read now",
            )
        p.set_defaults(run=_council_vote, action=action)
    p = sub.add_parser(
        "sign", help="sign your approval into a file, sending nothing (someone submits it)", parents=[member]
    )
    p.add_argument("proposal", type=int)
    p.add_argument("--out", required=True, help="approval file to write")
    p.add_argument(
        "--hash",
        dest="proposal_hash",
        help="the proposal hash `council show` printed: nothing is signed if the number names other content by "
        "then; default: the content read now",
    )
    p.add_argument("--valid-for", type=int, default=24 * 3600, help="seconds the signature stays valid (default 1 day)")
    p.set_defaults(run=_council_vote, action="sign")
    p = sub.add_parser("submit", help="submit collected approval files (anyone may)", parents=[member])
    p.add_argument("proposal", type=int)
    p.add_argument("files", nargs="+")
    p.add_argument("--sender-key", help="send from this key of the data dir's keystore (default: your council key)")
    p.set_defaults(run=_council_vote, action="submit")
    p = sub.add_parser("promote-key", help="after a rotation executed, make dept-CODE.next this department's key")
    p.add_argument("code")
    p.set_defaults(run=_council_promote)

    keys = commands.add_parser("keys", help="manage encrypted keys")
    sub = keys.add_subparsers(dest="keys_command", required=True)
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--keystore",
        help="keystore folder (default: the data dir's keys); a council member's key "
        "lives in its own keystore, under its own passphrase",
    )
    where.add_argument(
        "--several-council-keys", action="store_true", help="allow a second council key in this keystore (demos only)"
    )
    p = sub.add_parser("create", help="create a key (name a council key 'council')", parents=[where])
    p.add_argument("name")
    p.set_defaults(run=_keys, action="create")
    p = sub.add_parser("import", help="import a private key read from a prompt or $LEDGER_IMPORT_KEY", parents=[where])
    p.add_argument("name")
    p.set_defaults(run=_keys, action="import")
    p = sub.add_parser("list", help="list key names and addresses", parents=[where])
    p.set_defaults(run=_keys, action="list")

    p = commands.add_parser("deploy", help="deploy the contracts to LEDGER_RPC_URL")
    p.add_argument("--council", required=True, help="comma-separated council member addresses")
    p.add_argument("--threshold", type=int, required=True)
    p.add_argument("--key", default="council", help="key that pays for and sends the deployment")
    p.add_argument("--keystore", help="folder of that key's keystore (default: the data dir's keys)")
    p.set_defaults(run=_deploy)

    p = commands.add_parser("node", help="run the embedded chain node in the foreground")
    p.set_defaults(run=_node)


def _departments(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        departments = list_departments(ledger.chain)
        events = governance_history(ledger.chain)
    if args.json:
        print_json(
            [{**d.to_json(), "governance": [e.to_json() for e in for_department(events, d.code)]} for d in departments]
        )
        return 0
    for d in departments:
        print(
            f"{d.code:<10} {d.name:<40} {'active' if d.active else 'SUSPENDED':<9} {','.join(d.roles):<28} "
            f"key {d.signer} ({len(d.keys)} key(s) in history)"
        )
        print(f"           types: {', '.join(d.types) if d.types else 'none (the council grants them: grant-type)'}")
        print(f"           service items: {_shown_items(d.items)}")
        for e in for_department(events, d.code):
            print(f"           {e.line()}")
    return 0


def _shown_items(items: Sequence[str]) -> str:
    """A department's service items on one line: each code quoted (a code is any printable text, and one with a
    space at its end prints like another), "*" named as every item."""
    if not items:
        return "none (the council grants them: grant-item)"
    return ", ".join(repr(c) + (" (every service item)" if c == "*" else "") for c in items)


def _proposal_parsers(sub: Any, member: argparse.ArgumentParser) -> None:
    p = sub.add_parser("register", help="register a department", parents=[member])
    p.add_argument("code")
    p.add_argument("--name", required=True)
    p.add_argument("--roles", required=True, help="comma-separated: issuer,verifier,auditor,approver")
    p.add_argument("--signer", help="the department's address (default: create key dept-CODE here)")
    p.set_defaults(run=_propose, action="register")
    p = sub.add_parser("rotate", help="give a department a new key", parents=[member])
    p.add_argument("code")
    p.add_argument("--signer", help="the new key's address (default: create key dept-CODE.next here)")
    p.set_defaults(run=_propose, action="rotate")
    for action in ("suspend", "reinstate"):
        p = sub.add_parser(action, help=f"{action} a department", parents=[member])
        p.add_argument("code")
        p.set_defaults(run=_propose, action=action)
    for action, text in (
        ("grant-type", "authorize a department to issue one or more certificate types (one proposal)"),
        ("revoke-type", "stop a department issuing certificate types (what it anchored before stays valid)"),
    ):
        p = sub.add_parser(action, help=text, parents=[member])
        p.add_argument("code")
        p.add_argument("types", metavar="TYPE", nargs="+", help="a certificate type, e.g. business-licence")
        p.set_defaults(run=_propose, action=action)
    for action, text in (
        ("grant-item", "authorize a department to decide on one or more service items (one proposal; * is every item)"),
        (
            "revoke-item",
            "stop a department deciding on service items (what it decided and anchored before stays valid)",
        ),
    ):
        p = sub.add_parser(action, help=text, parents=[member])
        p.add_argument("code")
        p.add_argument("items", metavar="ITEM", nargs="+", help="a service item code, e.g. 440300-SCJG-0107")
        p.set_defaults(run=_propose, action=action)
    p = sub.add_parser("roles", help="change a department's roles", parents=[member])
    p.add_argument("code")
    p.add_argument("--roles", required=True)
    p.set_defaults(run=_propose, action="roles")
    for action, text in (("add-member", "add a council member"), ("remove-member", "remove a council member")):
        p = sub.add_parser(action, help=text, parents=[member])
        p.add_argument("address")
        p.set_defaults(run=_propose, action=action)
    p = sub.add_parser("threshold", help="change the number of approvals a proposal needs", parents=[member])
    p.add_argument("threshold", type=int)
    p.set_defaults(run=_propose, action="threshold")


def _member_passphrase(settings: Settings) -> str:
    secret = settings.council_passphrase or settings.passphrase
    if secret is not None:
        return secret.get_secret_value()
    if not os.isatty(0):
        raise InputError("set LEDGER_COUNCIL_PASSPHRASE (or LEDGER_PASSPHRASE): your council key is encrypted with it")
    return getpass.getpass("your council key's passphrase: ")


def _member(args: argparse.Namespace, ledger: Ledger) -> CouncilMember:
    settings = ledger.settings
    directory = Path(args.member_keystore) if args.member_keystore else settings.keys_dir
    _warn_if_exposed(directory, args)
    keystore = Keystore(
        directory,
        kdf_n=settings.keystore_kdf_n,
        kdf_floor=settings.keystore_kdf_floor,
        several_council_keys=args.several_council_keys,
    )
    return load_member(
        ledger.chain,
        keystore,
        _member_passphrase(settings),
        key=args.member_key,
        several_council_keys=args.several_council_keys,
    )


def _warn_if_exposed(directory: Path, args: argparse.Namespace) -> None:
    """Tell the member (at a terminal; recorded for `ledger doctor` otherwise) that key files of their keystore, or
    the folder itself, are open to other users: a council key copied from there can be tried against passphrases
    offline, and unlike the data directory (made 0700 at every start) nothing keeps a member's own folder private
    (red team round 85b). The key is still used: a restore must still run."""
    from . import _warn_the_operator

    exposed = key_file_findings(directory)
    if exposed:
        _warn_the_operator("; ".join(finding.warning for finding in exposed), args)


def _proposal_json(chain: Chain, proposal: Proposal) -> dict[str, Any]:
    data = proposal.to_json()
    data["summary"] = explain(chain, proposal) if proposal.state is ProposalState.OPEN else proposal.summary
    data["threshold"] = int(chain.call(chain.registry.functions.threshold()))
    data["expires"] = _utc(proposal.expires_at)
    return data


def _utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _propose(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        member = _member(args, ledger)
        action, code, name, signer, roles = _proposal_arguments(args, ledger)
        proposal_id = member.propose(action, code, name=name, signer=signer, roles=roles)
        proposal = get_proposal(ledger.chain, proposal_id)
        if proposal.executed and action is Action.ROTATE_KEY and code is not None:
            promote_rotated_key(ledger, code)
        print_json({"proposal": proposal_id, **_proposal_json(ledger.chain, proposal)})
    return 0


def _proposal_arguments(args: argparse.Namespace, ledger: Ledger) -> tuple[Action, str | None, str, str, int]:
    keystore = ledger.keystore
    if args.action == "register":
        signer = args.signer
        if signer is None:
            key = department_key_name(args.code)
            signer = keystore.address(key) if keystore.exists(key) else keystore.create(key, ledger.passphrase())
        return Action.REGISTER, args.code, args.name, _address(signer), roles_from_names(args.roles)
    if args.action == "rotate":
        signer = args.signer
        if signer is None:
            key = f"{department_key_name(args.code)}.next"
            signer = keystore.address(key) if keystore.exists(key) else keystore.create(key, ledger.passphrase())
        return Action.ROTATE_KEY, args.code, "", _address(signer), 0
    if args.action in ("suspend", "reinstate"):
        return (Action.SUSPEND if args.action == "suspend" else Action.REINSTATE), args.code, "", ZERO_ADDRESS, 0
    if args.action in ("grant-type", "revoke-type"):
        action = Action.GRANT_TYPE if args.action == "grant-type" else Action.REVOKE_TYPE
        return action, args.code, type_list(args.types), ZERO_ADDRESS, 0
    if args.action in ("grant-item", "revoke-item"):
        action = Action.GRANT_SERVICE_ITEM if args.action == "grant-item" else Action.REVOKE_SERVICE_ITEM
        return action, args.code, item_list(args.items), ZERO_ADDRESS, 0
    if args.action == "roles":
        return Action.SET_ROLES, args.code, "", ZERO_ADDRESS, roles_from_names(args.roles)
    if args.action in ("add-member", "remove-member"):
        action = Action.ADD_MEMBER if args.action == "add-member" else Action.REMOVE_MEMBER
        return action, None, "", _address(args.address), 0
    if not 1 <= args.threshold <= 255:
        raise InputError(f"threshold {args.threshold} must be between 1 and the council's size")
    return Action.SET_THRESHOLD, None, "", ZERO_ADDRESS, args.threshold


def _address(value: str) -> str:
    try:
        return str(to_checksum_address(value))
    except ValueError:
        raise InputError(f"{value!r} is not an address (0x followed by 40 hex digits)") from None


def _council_read(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        chain = ledger.chain
        if args.action == "history":
            events = governance_history(chain, department=args.department)
            if args.json:
                print_json([e.to_json() for e in events])
            for e in events if not args.json else ():
                print(e.line())
            return 0
        proposals = (
            [get_proposal(chain, args.proposal)]
            if args.action == "show"
            else list_proposals(chain, include_closed=args.all)
        )
        data = [_proposal_json(chain, p) for p in proposals]
    if args.json:
        print_json(data[0] if args.action == "show" else data)
        return 0
    if not data:
        print("no open proposals" if args.action == "list" else "")
    for d in data:
        print(
            f"#{d['id']:<4} {d['state']:<9} {d['approvals']}/{d['threshold']} approvals, {d['rejections']} "
            f"against; expires {d['expires']}; proposed by {d['proposer']}\n      {d['summary']}"
        )
        if args.action == "show":
            print(
                f"      approved by: {', '.join(d['approved_by']) or '-'}\n"
                f"      rejected by: {', '.join(d['rejected_by']) or '-'}\n      council epoch {d['council_epoch']}\n"
                f"      proposal hash {d['proposal_hash']} (to vote for exactly this: `ledger council approve "
                f"{d['id']} --hash {d['proposal_hash']}`, or `ledger council sign {d['id']} --hash "
                f"{d['proposal_hash']} --out FILE`)"
            )
    return 0


def _council_vote(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        chain = ledger.chain
        if args.action == "submit":
            approvals = [read_approval(Path(f)) for f in args.files]
            sender = ledger.account(args.sender_key) if args.sender_key else _member(args, ledger).account
            proposal = submit_approvals(chain, sender, args.proposal, approvals)
        else:
            member = _member(args, ledger)
            if args.action == "sign":
                signed = member.sign_approval(args.proposal, args.proposal_hash, valid_for=args.valid_for)
                replace_file(Path(args.out), json.dumps(signed, indent=2) + "\n")
                print_json(
                    {
                        "signed": args.proposal,
                        "out": args.out,
                        "summary": signed["summary"],
                        "member": signed["member"],
                        "valid_until": _utc(signed["deadline"]),
                    }
                )
                return 0
            if args.action == "cancel":
                proposal = member.cancel(args.proposal)
            else:
                proposal = getattr(member, args.action)(args.proposal, args.proposal_hash)
        # no key of this keystore is named after an id that is no department code (is_code)
        department = proposal.department
        if proposal.executed and proposal.action is Action.ROTATE_KEY and department and is_code(department):
            promote_rotated_key(ledger, department)
        print_json(_proposal_json(chain, proposal))
    return 0


def _council_promote(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        promoted = promote_rotated_key(ledger, args.code)
    print_json({"department": args.code, "promoted": promoted})
    if not promoted:
        print(f"no executed rotation to a key dept-{args.code}.next in this keystore", file=sys.stderr)
    return 0 if promoted else 1


def _passphrase(settings: Settings) -> str:
    if settings.passphrase is not None:
        return settings.passphrase.get_secret_value()
    if not os.isatty(0):
        raise InputError("set LEDGER_PASSPHRASE: keys are encrypted with it")
    return getpass.getpass("passphrase: ")


def _keys(args: argparse.Namespace) -> int:
    settings = Settings.from_env(args.data_dir)
    keystore = Keystore(
        Path(args.keystore) if args.keystore else settings.keys_dir,
        kdf_n=settings.keystore_kdf_n,
        kdf_floor=settings.keystore_kdf_floor,
        several_council_keys=args.several_council_keys,
    )
    if args.action == "list":
        for name in keystore.names():
            if name != "vault":
                print(f"{name:<32} {keystore.address(name)}")
        return 0
    if args.action == "create":
        print_json({"name": args.name, "address": keystore.create(args.name, _passphrase(settings))})
        return 0
    imported = settings.import_key
    secret = imported.get_secret_value() if imported is not None else getpass.getpass("private key (hex): ")
    print_json({"name": args.name, "address": keystore.import_key(args.name, secret.strip(), _passphrase(settings))})
    return 0


def _deploy(args: argparse.Namespace) -> int:
    settings = Settings.from_env(args.data_dir)
    if settings.embedded:
        raise InputError("set LEDGER_RPC_URL: the embedded chain deploys itself on first use")
    keystore = Keystore(
        Path(args.keystore) if args.keystore else settings.keys_dir,
        kdf_n=settings.keystore_kdf_n,
        kdf_floor=settings.keystore_kdf_floor,
    )
    deployer = keystore.unlock(args.key, _passphrase(settings))
    council = [a.strip() for a in args.council.split(",") if a.strip()]
    deployment = Chain.deploy(
        connect(settings.rpc_url or ""), deployer, council, args.threshold, gas_price=settings.gas_price
    )
    deployment.save(settings.deployment_path)
    print_json(deployment.__dict__)
    return 0


def _node(args: argparse.Namespace) -> int:
    settings = Settings.from_env(args.data_dir)
    node = EmbeddedNode(settings.chain_dir, anvil=settings.anvil, clock_carry=settings.node_clock_carry_seconds)
    url = node.start()
    print(f"embedded chain at {url} (state in {node.state_file}); Ctrl-C stops it", flush=True)
    stop = False

    def _stop(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stop:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    node.stop()
    return 0
