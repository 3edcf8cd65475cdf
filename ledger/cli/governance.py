"""``ledger departments | council ... | keys ... | deploy | node``."""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import time
from typing import Any

from ..chain import Chain, connect, role_names, roles_from_names
from ..config import Settings
from ..departments import Council, list_departments
from ..errors import InputError
from ..keys import Keystore
from ..node import EmbeddedNode
from .output import open_ledger, print_json


def register(commands: Any) -> None:
    p = commands.add_parser("departments", help="list registered departments with roles, status and key history")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_departments)

    council = commands.add_parser("council", help="council votes (needs the members' keys in this keystore)")
    sub = council.add_subparsers(dest="council_command", required=True)
    p = sub.add_parser("register", help="register a department")
    p.add_argument("code")
    p.add_argument("--name", required=True)
    p.add_argument("--roles", required=True, help="comma-separated: issuer,verifier,auditor,approver")
    p.add_argument("--signer", help="the department's address (default: create key dept-CODE here)")
    p.set_defaults(run=_council, action="register")
    for action in ("rotate", "suspend", "reinstate"):
        p = sub.add_parser(action, help=f"{action} a department" + (" key" if action == "rotate" else ""))
        p.add_argument("code")
        p.set_defaults(run=_council, action=action)
    p = sub.add_parser("roles", help="change a department's roles")
    p.add_argument("code")
    p.add_argument("--roles", required=True)
    p.set_defaults(run=_council, action="roles")

    keys = commands.add_parser("keys", help="manage encrypted keys")
    sub = keys.add_subparsers(dest="keys_command", required=True)
    p = sub.add_parser("create", help="create a key")
    p.add_argument("name")
    p.set_defaults(run=_keys, action="create")
    p = sub.add_parser("import", help="import a private key read from a prompt or $LEDGER_IMPORT_KEY")
    p.add_argument("name")
    p.set_defaults(run=_keys, action="import")
    p = sub.add_parser("list", help="list key names and addresses")
    p.set_defaults(run=_keys, action="list")

    p = commands.add_parser("deploy", help="deploy the contracts to LEDGER_RPC_URL")
    p.add_argument("--council", required=True, help="comma-separated council member addresses")
    p.add_argument("--threshold", type=int, required=True)
    p.add_argument("--key", default="council-1", help="key that pays for and sends the deployment")
    p.set_defaults(run=_deploy)

    p = commands.add_parser("node", help="run the embedded chain node in the foreground")
    p.set_defaults(run=_node)


def _departments(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        departments = list_departments(ledger.chain)
    if args.json:
        print_json([d.to_json() for d in departments])
        return 0
    for d in departments:
        print(f"{d.code:<10} {d.name:<40} {'active' if d.active else 'SUSPENDED':<9} {','.join(d.roles):<28} "
              f"key {d.signer} ({len(d.keys)} key(s) in history)")
    return 0


def _council(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        council = Council(ledger)
        if args.action == "register":
            signer = council.register(args.code, args.name, roles_from_names(args.roles), signer=args.signer)
            print_json({"registered": args.code, "signer": signer})
        elif args.action == "rotate":
            print_json({"rotated": args.code, "signer": council.rotate_key(args.code)})
        elif args.action == "suspend":
            council.suspend(args.code)
            print_json({"suspended": args.code})
        elif args.action == "reinstate":
            council.reinstate(args.code)
            print_json({"reinstated": args.code})
        else:
            bits = roles_from_names(args.roles)
            council.set_roles(args.code, bits)
            print_json({"department": args.code, "roles": role_names(bits)})
    return 0


def _passphrase() -> str:
    value = os.environ.get("LEDGER_PASSPHRASE")
    if value:
        return value
    if not os.isatty(0):
        raise InputError("set LEDGER_PASSPHRASE: keys are encrypted with it")
    return getpass.getpass("passphrase: ")


def _keys(args: argparse.Namespace) -> int:
    settings = Settings.from_env(args.data_dir)
    keystore = Keystore(settings.keys_dir, kdf_n=settings.keystore_kdf_n,
                        kdf_floor=settings.keystore_kdf_floor)
    if args.action == "list":
        for name in keystore.names():
            if name != "vault":
                print(f"{name:<32} {keystore.address(name)}")
        return 0
    if args.action == "create":
        print_json({"name": args.name, "address": keystore.create(args.name, _passphrase())})
        return 0
    secret = os.environ.get("LEDGER_IMPORT_KEY") or getpass.getpass("private key (hex): ")
    print_json({"name": args.name, "address": keystore.import_key(args.name, secret.strip(), _passphrase())})
    return 0


def _deploy(args: argparse.Namespace) -> int:
    settings = Settings.from_env(args.data_dir)
    if settings.embedded:
        raise InputError("set LEDGER_RPC_URL: the embedded chain deploys itself on first use")
    keystore = Keystore(settings.keys_dir, kdf_n=settings.keystore_kdf_n,
                        kdf_floor=settings.keystore_kdf_floor)
    deployer = keystore.unlock(args.key, _passphrase())
    council = [a.strip() for a in args.council.split(",") if a.strip()]
    raw_price = os.environ.get("LEDGER_GAS_PRICE")
    deployment = Chain.deploy(connect(settings.rpc_url or ""), deployer, council, args.threshold,
                              gas_price=int(raw_price) if raw_price else None)
    deployment.save(settings.deployment_path)
    print_json(deployment.__dict__)
    return 0


def _node(args: argparse.Namespace) -> int:
    settings = Settings.from_env(args.data_dir)
    node = EmbeddedNode(settings.chain_dir)
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



