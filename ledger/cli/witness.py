"""``ledger witness ...`` (run a witness; trust witnesses and collect their cosignatures) and ``ledger audit-chain``.

A witness is run by an independent party with its own key and store; it needs no ledger data directory:

    ledger witness keygen --store DIR --name court.example/w1     prints its verifier key (give it to departments)
    ledger witness serve --store DIR --rpc URL [--port N] [--finality F] [--log-key VKEY] [--interval S]
    ledger witness check --store DIR --rpc URL --origin ORIGIN     follow once; exit 3 on an alarm
    ledger witness rotate-key --store DIR                          a new key of its name, its record kept

A department configures the witnesses it trusts and collects cosignatures:

    ledger witness trust URL VKEY            ledger witness quorum K [--finality F]
    ledger witness collect [--every S]       ledger witness status
    ledger audit-chain                       the chain against witnessed checkpoints and the database
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ..client import Ledger
from ..errors import InputError, LedgerError
from ..services.witness import client as wclient
from ..services.witness.audit import audit_chain
from ..services.witness.note import VerifierKey
from ..services.witness.rpc import Rpc
from ..services.witness.server import ALARM_EXIT, Witness, WitnessRefusal, WitnessStore, serve
from .output import open_ledger, print_json


def register(commands: Any) -> None:
    p = commands.add_parser(
        "witness",
        help="run a witness, or trust witnesses and collect their cosignatures",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="witness_command", required=True, metavar="ACTION")

    q = sub.add_parser("keygen", help="create a witness's Ed25519 key in its store; prints the verifier key")
    q.add_argument("--store", type=Path, required=True)
    q.add_argument("--name", required=True, help="the witness's name, e.g. court.example/w1")
    q.set_defaults(run=_keygen)

    q = sub.add_parser(
        "rotate-key",
        help="replace a stopped witness's key by a new one of its name, keeping its record; prints the new verifier "
        "key (the old key file is kept beside it for you to destroy)",
    )
    q.add_argument("--store", type=Path, required=True)
    q.set_defaults(run=_rotate_key)

    q = sub.add_parser("key", help="print a witness's verifier key")
    q.add_argument("--store", type=Path, required=True)
    q.set_defaults(run=_key)

    for name, fn, text in (
        ("serve", _serve, "serve the witness over HTTP (c2sp.org/tlog-witness shape)"),
        ("check", _check, "follow the chain once and cosign its final head; exit 3 on an alarm"),
    ):
        q = sub.add_parser(name, help=text)
        q.add_argument("--store", type=Path, required=True)
        q.add_argument("--rpc", required=True, help="JSON-RPC URL of the witness's own node of the chain")
        q.add_argument("--finality", type=int, default=0, help="cosign only blocks this deep below the head")
        q.add_argument(
            "--log-key",
            action="append",
            default=[],
            help="accept only checkpoints signed by this ledger checkpoint key (repeatable)",
        )
        q.add_argument(
            "--first-start",
            action="store_true",
            help="start an empty record of what this witness cosigned: only for a witness that never cosigned and "
            "has no state.json (keygen writes one); refused when it has one",
        )
        q.add_argument(
            "--sign-record",
            metavar="SHA256",
            help="sign once the record (state.json) an older version wrote, unsigned: only the one with this SHA-256 "
            "(`sha256sum state.json`, after comparing it with your backup); refused when it is signed already",
        )
        if name == "serve":
            q.add_argument("--host", default="127.0.0.1")
            q.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
            q.add_argument("--interval", type=float, default=0.0, help="also follow the chain every S seconds")
            q.add_argument("--origin", action="append", default=[], help="a chain to follow from the start")
        else:
            q.add_argument("--origin", required=True, help="the chain's origin (`ledger witness status` prints it)")
        q.set_defaults(run=fn)

    q = sub.add_parser("trust", help="trust a witness: its URL and verifier key")
    q.add_argument("url")
    q.add_argument("key")
    q.set_defaults(run=_trust)

    q = sub.add_parser("quorum", help="how many trusted witnesses must cosign (k of n)")
    q.add_argument("k", type=int)
    q.add_argument("--finality", type=int, help="ask for checkpoints this many blocks below the head")
    q.set_defaults(run=_quorum)

    q = sub.add_parser("collect", help="ask the trusted witnesses to cosign a checkpoint now (or every S seconds)")
    q.add_argument("--every", type=float, help="repeat every S seconds until interrupted")
    q.set_defaults(run=_collect)

    q = sub.add_parser("status", help="origin, log key, trusted witnesses and the latest witnessed checkpoint")
    q.set_defaults(run=_status)

    p = commands.add_parser(
        "audit-chain",
        help="compare the chain with the witnessed checkpoints and the database; "
        "names a rollback or rewrite below a witnessed height (exit 1)",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-ask", action="store_true", help="do not ask the witnesses for their latest checkpoints")
    p.set_defaults(run=_audit)


# -- the witness's side -----------------------------------------------------------------------------------------


def _keygen(args: argparse.Namespace) -> int:
    print(WitnessStore(args.store).create_key(args.name).verifier)
    return 0


def _rotate_key(args: argparse.Namespace) -> int:
    print(WitnessStore(args.store).rotate_key().verifier)
    return 0


def _key(args: argparse.Namespace) -> int:
    print(WitnessStore(args.store).key().verifier)
    return 0


def _witness(args: argparse.Namespace) -> Witness:
    store = WitnessStore(args.store)
    if args.first_start:
        store.first_start()
    if args.sign_record:
        store.sign_record(args.sign_record)
    store.load()  # a missing or damaged record stops the witness at its start, not at each request
    return Witness(
        store,
        Rpc(args.rpc),
        finality=args.finality,
        log_keys=[VerifierKey.parse(k) for k in args.log_key],
    )


def _serve(args: argparse.Namespace) -> int:
    witness = _witness(args)

    def ready(url: str) -> None:
        print(f"witness {witness.key.name} listening on {url} key {witness.verifier}", flush=True)

    try:
        serve(witness, args.host, args.port, origins=args.origin, interval=args.interval, ready=ready)
    except KeyboardInterrupt:
        pass
    return 0


def _check(args: argparse.Namespace) -> int:
    witness = _witness(args)
    try:
        cosigned = witness.observe(args.origin)
    except WitnessRefusal as refusal:
        print(("ALARM: " if refusal.alarm else "refused: ") + refusal.local_message(), file=sys.stderr)
        return ALARM_EXIT if refusal.alarm else 1
    print(cosigned.note, end="")
    return 0


# -- the ledger's side ------------------------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> tuple[Path, wclient.WitnessConfig]:
    from ..config import Settings

    data_dir = Settings.from_env(getattr(args, "data_dir", None)).data_dir
    return data_dir, wclient.WitnessConfig.load(data_dir)


def _trust(args: argparse.Namespace) -> int:
    data_dir, config = _config(args)
    key = VerifierKey.parse(args.key)
    witnesses = (
        *tuple(w for w in config.witnesses if w.name != key.name),
        wclient.TrustedWitness(args.url.rstrip("/"), key),
    )
    for replaced in (w for w in config.witnesses if w.name == key.name and (w.url, w.key) != (witnesses[-1].url, key)):
        # one name, one witness: said aloud, since a key published under a trusted witness's name replaces it
        print(f"replacing witness {replaced.name} at {replaced.url} (key {replaced.key})", file=sys.stderr)
    quorum = config.quorum if config.configured else 1
    wclient.WitnessConfig(witnesses, min(max(quorum, 1), len(witnesses)), config.finality).save(data_dir)
    print(f"trusting {len(witnesses)} witness(es); quorum {min(max(quorum, 1), len(witnesses))}", file=sys.stderr)
    return 0


def _quorum(args: argparse.Namespace) -> int:
    data_dir, config = _config(args)
    finality = config.finality if args.finality is None else args.finality
    # checked before anything is written: a saved quorum no load accepts broke every later command, this one too
    if not 1 <= args.k <= len(config.witnesses):
        raise InputError(
            f"quorum {args.k} must be between 1 and the {len(config.witnesses)} witness(es) trusted "
            "(`ledger witness trust URL VKEY` first); witnesses.json is unchanged"
        )
    if finality < 0:
        raise InputError(f"--finality {finality} must be 0 or more blocks below the head; witnesses.json is unchanged")
    wclient.WitnessConfig(config.witnesses, args.k, finality).save(data_dir)
    return 0


def collect_after_change(ledger: Ledger) -> None:
    """Collect cosignatures after something was anchored, when witnesses are configured; report on stderr.
    A write that succeeded on chain never fails because a witness did not answer."""
    config = wclient.WitnessConfig.load(ledger.settings.data_dir)
    if not config.configured:
        return
    try:
        result = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
    except LedgerError as exc:
        print(f"witnesses: not collected ({exc.local_message()}); run `ledger witness collect`", file=sys.stderr)
        return
    _print_collect(result, config)


def _print_collect(result: wclient.CollectResult, config: wclient.WitnessConfig) -> None:
    cp = result.checkpoint
    if cp is not None:
        print(
            f"witnesses: block {cp.checkpoint.height} cosigned by {', '.join(cp.cosigners) or 'nobody'} "
            f"({len(cp.cosigners)} of {len(config.witnesses)}, quorum {config.quorum}): "
            + ("WITNESSED" if result.witnessed else "NOT witnessed"),
            file=sys.stderr,
        )
    for name, text in result.refusals.items():
        print(f"witnesses: {name} did not cosign: {text}", file=sys.stderr)
    for name, text in result.alarms.items():
        print(f"witnesses: ALARM from {name}: {text}", file=sys.stderr)


def _collect(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        config = wclient.WitnessConfig.load(ledger.settings.data_dir)
        while True:
            result = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
            _print_collect(result, config)
            if not args.every:
                print_json(result.to_json())
                return ALARM_EXIT if result.alarms else 0 if result.witnessed else 1
            time.sleep(args.every)


def _status(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        data_dir = ledger.settings.data_dir
        config = wclient.WitnessConfig.load(data_dir)
        origin = wclient.chain_identity(ledger.chain).origin
        latest = wclient.CheckpointStore(data_dir).latest_witnessed(config, origin) if config.configured else None
        print_json(
            {
                "origin": origin,
                "log_key": str(wclient.log_key(data_dir, origin).verifier),
                "quorum": config.quorum,
                "finality": config.finality,
                "witnesses": [{"url": w.url, "key": str(w.key)} for w in config.witnesses],
                "latest_witnessed": latest.to_json() if latest else None,
            }
        )
    return 0


def _audit(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        report = audit_chain(ledger, ask_witnesses=not args.no_ask)
    if args.json:
        print_json(report.to_json())
    else:
        print(report.text())
    return 0 if report.ok else 1
