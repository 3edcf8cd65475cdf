"""The witness: an independent party's program that cosigns checkpoints of the chain it follows, and refuses
(with an alarm naming what diverged) anything inconsistent with what it cosigned before.

It keeps, per origin (chain identity), only the latest checkpoint it cosigned. A new checkpoint of size M is
cosigned only when, read from the witness's own node over standard JSON-RPC:

* the node is the chain the origin names (chain id, genesis hash, registry contract has code);
* block M-1 is at least ``finality`` blocks below the head;
* the block at the last cosigned height still has the cosigned hash (else: ALARM, rewrite or rollback);
* every block from there up to M-1 links to its parent (the new head extends the cosigned history);
* block M-1 has the checkpoint's hash (else: refused as forged).

HTTP (c2sp.org/tlog-witness shape): ``POST /add-checkpoint`` (body: ``old <size>``, no proof lines, a blank
line, the signed checkpoint; answers 200 with the cosignature line, 400/403/404/409/422 otherwise),
``GET /checkpoint?origin=...`` (the latest cosigned checkpoint with its cosignature), ``GET /key``.
docs/witness.md states the protocol and its deviations.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from ...config import secret_env
from ...errors import ChainError, ConfigError, InputError, LedgerError
from ...formats.canonical import canonical_json, json_loads
from ...onchain.chain import node_location
from ...storage._files import replace_private
from ...storage.vault import open_secret, wrap_secret
from .checkpoint import MAX_SIZE_DIGITS, ChainIdentity, Checkpoint, decimal
from .note import COSIGNATURE_V1, ED25519, RECORD_TAG, Note, SignerKey, VerifierKey, parse_note
from .rpc import Rpc

MAX_REQUEST = 64 * 1024
# A witness serves anyone, each connection in a thread of its own: without bounds, a few hundred connections held open
# by one host (sending nothing, or a byte now and then) took every file the process may open, and no collector was
# answered while they stood (red team round 54). At most this many connections at once, this many from one address,
# each for at most this long (an honest exchange is one request, answered within the node's timeout); one past a
# bound is closed at once.
# What a witness keeps of the checkpoints a pinned log key signed against the chain it reads (a split view: the
# log's proof of having signed a second history): each at most a note, the file at most this many bytes (beyond,
# the alarm still says so; only the first conflicts are kept, which are the proof).
MAX_CONFLICT_BYTES = 4 * 1024 * 1024
MAX_CONNECTIONS = 128
MAX_PER_ADDRESS = 8
CONNECTION_SECONDS = 60.0
ALARM_EXIT = 3


class WitnessRefusal(LedgerError):
    """The witness did not cosign; ``status`` is the HTTP status of the refusal, ``alarm`` whether it is an
    inconsistency with cosigned history (a rollback, rewrite or swapped chain) rather than a bad request."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        alarm: bool = False,
        size: int | None = None,
        where: object = None,
        chain_hash: str | None = None,
    ) -> None:
        # chain_hash: the hash the witness's chain has at the checkpoint's height, when the checkpoint names another
        # (a conflict at a cosigned size, or a forged final block): what a signed such checkpoint contradicts
        self.status, self.alarm, self.size, self.chain_hash = status, alarm, size, chain_hash
        super().__init__(message, where=where)  # where: the witness's node, for its own log; never answered


@dataclass(frozen=True)
class Cosigned:
    checkpoint: Checkpoint
    note: str  # the checkpoint text with the witness's cosignature line


WITNESS_PASSPHRASE_VARIABLE = "LEDGER_WITNESS_PASSPHRASE"  # noqa: S105 - a variable name


def _record_message(origins: dict[str, Any]) -> bytes:
    """What the witness signs of its record (:data:`note.RECORD_TAG` first: never a note or a cosignature)."""
    return RECORD_TAG + canonical_json({"origins": origins})


class WitnessStore:
    """A witness's directory: its key (``witness.key``: its name and its Ed25519 seed encrypted under the
    witness's passphrase, ``LEDGER_WITNESS_PASSPHRASE``; mode 0600), its state (``state.json``: the latest
    cosigned checkpoint per origin, signed by the witness's key on every write: replacing it needs that key) and its
    alarms (``alarms.log``), with the checkpoints a pinned log key signed against the chain (``conflicts.jsonl``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._key: SignerKey | None = None  # read once: the record is signed and checked with it on every access

    @staticmethod
    def _passphrase(passphrase: str | None) -> str | None:
        configured = secret_env(WITNESS_PASSPHRASE_VARIABLE)  # a witness runs without the ledger's Settings
        return passphrase or (configured.get_secret_value() if configured else None)

    def create_key(self, name: str, passphrase: str | None = None) -> SignerKey:
        secret = self._passphrase(passphrase)
        if not secret:
            raise InputError(
                f"a witness keeps its key encrypted: set {WITNESS_PASSPHRASE_VARIABLE} to a passphrase of its own"
            )
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.directory / "witness.key"
        if path.exists():
            raise InputError(f"{path} exists already: a witness keeps its key")
        key = SignerKey.generate(name, COSIGNATURE_V1)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            # the seed bound to its purpose and to this witness's name (red team round 57): no other key file opens
            # as a witness's seed, and the name beside it cannot be edited
            json.dump({"name": name, "seed": wrap_secret(key.seed(), secret, purpose="witness", owner=name)}, handle)
        self._key = key
        if not (self.directory / "state.json").exists():
            self.save({"origins": {}})  # the record of what it cosigns starts with its key, never later by default
        return key

    def rotate_key(self, passphrase: str | None = None) -> SignerKey:
        """Replace the witness's key by a new one of the same name, keeping its record: the record is checked with
        the old key and signed with the new one. A key was made only in a new store, whose empty record had the
        rotated witness cosign a chain rolled back meanwhile as new to it (red team round 59). The old key file is
        kept beside it (``witness.key.<time>.old``, mode 0600) for its operator to destroy; stop the witness first
        (a running one holds the old key, and the record it writes next would be refused at its restart)."""
        secret = self._passphrase(passphrase)
        if not secret:
            raise InputError(
                f"a witness keeps its key encrypted: set {WITNESS_PASSPHRASE_VARIABLE} to a passphrase of its own"
            )
        with self.lock():
            old = self.key(passphrase)
            record = self.load()  # checked with the old key: a replaced record is never carried over to the new one
            path = self.directory / "witness.key"
            kept = self.directory / f"witness.key.{time.time_ns()}.old"  # one per rotation, even within a second
            fd = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(path.read_bytes())
            key = SignerKey.generate(old.name, COSIGNATURE_V1)
            tmp = self.directory / "witness.key.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(
                    {"name": old.name, "seed": wrap_secret(key.seed(), secret, purpose="witness", owner=old.name)},
                    handle,
                )
            os.replace(tmp, path)  # a crash from here to the save leaves a record the new key refuses: it stops
            self._key = key
            self.save(record)
        return key

    def first_start(self) -> None:
        """Start the record of what this witness cosigned, empty: the explicit step for a store whose key was made
        without one (before keygen wrote it). Refused when a record exists: a first start forgets what it holds."""
        path = self.directory / "state.json"
        if path.exists():
            raise InputError(
                f"{path} exists: this witness has a record of what it cosigned, and --first-start would start it "
                "from nothing; drop --first-start (give it only once, to a witness that never cosigned)"
            )
        self.save({"origins": {}})

    def key(self, passphrase: str | None = None) -> SignerKey:
        if self._key is not None:
            return self._key
        path = self.directory / "witness.key"
        try:
            raw = json_loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"no witness key at {path} ({exc}): run `ledger witness keygen` first") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise InputError(f"{path} is not a witness key file; restore it from a backup")
        seed, rewrapped = open_secret(
            raw.get("seed"),
            self._passphrase(passphrase),
            f"the witness key file {path}",
            WITNESS_PASSPHRASE_VARIABLE,
            purpose="witness",
            owner=raw["name"],
        )
        if rewrapped is not None:  # a file of the layout before pl-key/2: bound now (written whole, then renamed)
            with contextlib.suppress(OSError):
                replace_private(path, json.dumps({**raw, "seed": rewrapped}).encode())
        self._key = SignerKey.from_seed(raw["name"], COSIGNATURE_V1, seed)
        return self._key

    def load(self) -> dict[str, Any]:
        """The record of what this witness cosigned, ``{"origins": {...}}``. Beside a key it must carry the key's
        signature of its origins (:meth:`save`): a record replaced by someone without the key stops the witness."""
        state = self._read()
        if (self.directory / "witness.key").exists() and not self._signed(state):
            path = self.directory / "state.json"
            if "signature" not in state:
                raise ConfigError(
                    f"{path} is not signed by this witness's key: it was replaced, or written by a version before "
                    "records were signed. Restore it from a backup; a record you know to be this witness's own "
                    "(compare it with your backup) is signed once with --sign-record SHA256, its SHA-256 "
                    "(`sha256sum state.json`)"
                )
            raise ConfigError(
                f"{path} is not signed by this witness's key (its signature fails): the record was replaced or "
                "edited, and reading it could let the witness cosign a rolled-back chain. Restore it from a backup"
            )
        return {"origins": state["origins"]}

    def _signed(self, state: dict[str, Any]) -> bool:
        signature = state.get("signature")
        try:
            raw = bytes.fromhex(signature) if isinstance(signature, str) else b""
        except ValueError:
            return False
        return len(raw) == 64 and self.key().verifier.verify(_record_message(state["origins"]), raw)

    def sign_record(self, digest: str) -> None:
        """Sign the record that stands, written by a version before records were signed: only the one whose
        SHA-256 (hex) is ``digest``, the record its operator checked, and only when it is not signed already (a
        flag left in a service definition must not sign whatever record stands at the next start)."""
        path = self.directory / "state.json"
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise InputError(f"no record to sign at {path} ({exc})") from None
        # the record signed is parsed from the very bytes whose digest is compared: read again, the file could be
        # one written after the check (red team round 35)
        state = self._parse(text.decode("utf-8", "replace"))
        if "signature" in state:
            raise InputError(f"{path} is signed already: drop --sign-record (it signs a record once)")
        if hashlib.sha256(text).hexdigest() != digest.strip().lower():
            raise InputError(
                f"{path} does not have the SHA-256 digest {digest!r}: it is not the record you checked; compare it "
                "with your backup again (`sha256sum state.json`)"
            )
        self.save({"origins": state["origins"]})

    def _read(self) -> dict[str, Any]:
        path = self.directory / "state.json"
        try:
            text = path.read_text()
        except FileNotFoundError:
            if not (self.directory / "witness.key").exists():
                return {"origins": {}}  # no witness here yet (its key, made by keygen, comes with its record)
            # deleted (or left out of a restore): read as a first start, the witness would cosign a rolled-back or
            # rewritten chain of every origin it cosigned before
            raise ConfigError(
                f"{path} is missing beside the witness's key: its record of what it cosigned is gone, and starting "
                "from nothing would let it cosign a rolled-back chain. Restore it from a backup; only a witness that "
                "never cosigned starts an empty record, with --first-start (`ledger witness serve` or `check`)"
            ) from None
        except ValueError:  # not UTF-8
            text = ""
        return self._parse(text)

    def _parse(self, text: str) -> dict[str, Any]:
        """The record ``text`` (the file ``state.json``'s) holds; ConfigError when it is not one."""
        path = self.directory / "state.json"
        try:
            state = json_loads(text)
        except ValueError:
            state = None
        # a witness that forgot what it cosigned could be led to cosign a rolled-back log: damage stops it instead
        if (
            not isinstance(state, dict)
            or not isinstance(state.get("origins"), dict)
            or not all(_cosigned_entry(entry) for entry in state["origins"].values())
        ):
            raise ConfigError(f"{path} is not a witness state file; restore it from a backup")
        return state

    def save(self, state: dict[str, Any]) -> None:
        """Write the record ``{"origins": {...}}``, signed by the witness's key (:meth:`load` checks it)."""
        origins = state["origins"]
        signature = self.key().sign_record(_record_message(origins)).hex()
        tmp = self.directory / "state.json.tmp"
        tmp.write_text(json.dumps({"origins": origins, "signature": signature}, indent=1))
        os.replace(tmp, self.directory / "state.json")  # atomic: a crash leaves the old or the new state

    def lock(self) -> Any:
        handle = open(self.directory / "state.lock", "w")  # noqa: SIM115 - the caller holds the lock through it
        fcntl.flock(handle, fcntl.LOCK_EX)
        return handle

    def alarm(self, line: str) -> None:
        with open(self.directory / "alarms.log", "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def keep_conflict(self, item: dict[str, Any]) -> str:
        """Append ``item`` (a signed checkpoint contradicting the chain) to ``conflicts.jsonl``, once each (origin,
        size, claimed hash) and while the file is under :data:`MAX_CONFLICT_BYTES`: "kept", "known" (kept before)
        or "full"."""
        path = self.directory / "conflicts.jsonl"
        line = json.dumps(item, sort_keys=True) + "\n"
        try:
            kept = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            kept = []
        same = (item["origin"], item["size"], item["claimed"])
        for old in kept:
            try:
                seen = json_loads(old)
            except ValueError:
                continue
            if isinstance(seen, dict) and (seen.get("origin"), seen.get("size"), seen.get("claimed")) == same:
                return "known"
        if sum(len(k) + 1 for k in kept) + len(line) > MAX_CONFLICT_BYTES:
            return "full"
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line)
        return "kept"


def _cosigned_entry(entry: object) -> bool:
    """Whether ``entry`` is what :meth:`Witness._cosign` records for an origin: an origin's entry read as it came was
    null for "never cosigned" (a rolled-back chain cosigned as new) and any other damage a crash (red team, round
    23)."""
    return (
        isinstance(entry, dict)
        and type(entry.get("size")) is int
        and entry["size"] >= 1
        and isinstance(entry.get("hash"), str)
        and isinstance(entry.get("note"), str)
    )


class Witness:
    def __init__(
        self,
        store: WitnessStore,
        rpc: Rpc,
        *,
        finality: int = 0,
        log_keys: list[VerifierKey] | None = None,
        clock: Callable[[], float] = time.time,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.key = store.key()
        self.rpc = rpc
        self.node = node_location(rpc.url)  # where the witness reads the chain, for its operator's log and alarms
        self.finality = finality
        wrong = [k.name for k in log_keys or [] if k.kind != ED25519]
        if wrong:  # refusing here, not ignoring: an ignored --log-key would let every signer through
            raise InputError(f"a ledger checkpoint key is an Ed25519 note key (type 0x01); not {', '.join(wrong)}")
        for pinned in log_keys or []:  # a key trusted for no origin would refuse every checkpoint, unexplained
            try:
                ChainIdentity.from_origin(pinned.name)
            except InputError:
                raise InputError(
                    f"log key {pinned.name[:200]!r} is not named after a chain origin (provenance-ledger/<chain id>/"
                    "<genesis>/<registry>): a ledger's checkpoint key carries its origin as its name, and counts "
                    "only for it; pin the key `ledger witness status` prints"
                ) from None
        self.log_keys = list(log_keys or [])
        self.clock = clock
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._lock = threading.Lock()
        self._alarmed: dict[str, str] = {}
        self._conflicts_full: set[str] = set()  # origins whose conflicts no longer fit: alarmed once

    @property
    def verifier(self) -> VerifierKey:
        return self.key.verifier

    # -- the protocol ----------------------------------------------------------------------------------------
    def add_checkpoint(self, body: bytes) -> str:
        """Handle a tlog-witness add-checkpoint request body; the cosignature line, or WitnessRefusal."""
        old, note = self._parse_request(body)
        try:
            checkpoint = Checkpoint.parse(note.text)
        except InputError as exc:
            raise WitnessRefusal(400, str(exc)) from None
        signed = note.verified(self.keys_for(checkpoint.origin)) if self.log_keys else []
        if self.log_keys and not signed:
            raise WitnessRefusal(
                403,
                f"no signature on the checkpoint verifies with a log key this witness trusts for {checkpoint.origin}"
                " (a log's key is named after its origin: another log's key does not count for it)",
            )
        try:
            return self._cosign(checkpoint, old).note.split("\n\n", 1)[1]
        except WitnessRefusal as refusal:
            if signed and refusal.chain_hash is not None:
                self._keep_conflict(Note(note.text, tuple(sig for _, sig in signed)), checkpoint, refusal.chain_hash)
            raise

    def _keep_conflict(self, signed: Note, checkpoint: Checkpoint, chain_hash: str) -> None:
        """Keep a checkpoint a pinned log key signed that the chain contradicts - the log's key signed a history this
        witness's chain does not hold (a split view, or the log's node on another branch past finality) - with its
        signatures, and raise an alarm. It was refused and forgotten, so the only proof went with the request (red
        team round 59). Only a pinned key's checkpoints are kept: anyone can post unsigned ones."""
        stamp = self.clock()
        names = sorted({sig.name for sig in signed.signatures})
        item = {
            "origin": checkpoint.origin,
            "size": checkpoint.size,
            "claimed": checkpoint.hash_hex,
            "chain": chain_hash,
            "note": signed.render(),
            "seen_at": int(stamp),
        }
        with self._lock, self.store.lock():
            kept = self.store.keep_conflict(item)
        if kept == "known" or (kept == "full" and checkpoint.origin in self._conflicts_full):
            return  # its alarm was raised when it was kept (or when the file filled): not again per request
        if kept == "full":
            self._conflicts_full.add(checkpoint.origin)
        where = (
            "kept in conflicts.jsonl"
            if kept == "kept"
            else f"not kept: conflicts.jsonl holds {MAX_CONFLICT_BYTES} bytes"
        )
        line = (
            f"ALARM {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(stamp))} {checkpoint.origin}: the log key "
            f"{', '.join(names)} signed a checkpoint of block {checkpoint.height} with hash {checkpoint.hash_hex}; "
            f"this witness's chain has {chain_hash} there (a second history: split view) - {where}"
        )
        self.store.alarm(line)
        self.log(f"witness {self.key.name}: {line}")

    def keys_for(self, origin: str) -> list[VerifierKey]:
        """The pinned log keys trusted for ``origin``: those named after it (c2sp.org/signed-note names a log's key
        after its origin, and tlog-witness trusts a key for one origin). Any pinned key of any origin counted, so
        the operator of one ledger got another origin on the chain cosigned with its key (red team round 59)."""
        return [k for k in self.log_keys if k.name == origin]

    def observe(self, origin: str) -> Cosigned:
        """Follow the chain on the witness's own initiative: cosign ``head - finality`` if it extends what was
        cosigned before (so a rollback is seen even if nobody asks). WitnessRefusal(alarm=True) if not."""
        identity = ChainIdentity.from_origin(origin)
        head = self._head()
        height = head - self.finality
        if height < 0:
            raise WitnessRefusal(422, "the chain has no final block yet")
        state = self.store.load()["origins"].get(origin)
        if state is not None and height + 1 <= state["size"]:
            try:
                self._check_identity(identity, known=True)
                self._check_cosigned(origin, state, head)
            except WitnessRefusal as refusal:
                self._alarm(origin, refusal)
                raise
            return Cosigned(Checkpoint.parse(state["note"].split("\n\n", 1)[0] + "\n"), state["note"])
        block_hash = self.rpc.block_hash(height)
        if block_hash is None:
            raise WitnessRefusal(422, f"the node has no block {height}")
        return self._cosign(Checkpoint.at(identity, height, block_hash), None)

    def latest(self, origin: str | None = None) -> str | None:
        origins = self.store.load()["origins"]
        if origin is None and len(origins) == 1:
            origin = next(iter(origins))
        state = origins.get(origin) if origin else None
        return None if state is None else str(state["note"])

    # -- the checks ------------------------------------------------------------------------------------------
    def _parse_request(self, body: bytes) -> tuple[int, Note]:
        if len(body) > MAX_REQUEST:
            raise WitnessRefusal(400, f"request body over {MAX_REQUEST} bytes")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise WitnessRefusal(400, "request body is not UTF-8") from None
        head, sep, rest = text.partition("\n")
        # "²" is a digit to isdigit, not to int; over 4,300 digits int() raises (and no chain has 10**20 blocks)
        old = decimal(head[4:], MAX_SIZE_DIGITS) if head.startswith("old ") else None
        if not sep or old is None:
            raise WitnessRefusal(400, "the request starts with 'old <size>' (a decimal block count) and a newline")
        proof, sep, checkpoint = rest.partition("\n\n") if not rest.startswith("\n") else ("", "\n", rest[1:])
        if not sep:
            raise WitnessRefusal(400, "no blank line between the old size and the checkpoint")
        if proof.strip():
            raise WitnessRefusal(422, "this witness reads the chain itself and takes no consistency proof lines")
        try:
            return old, parse_note(checkpoint)
        except InputError as exc:
            raise WitnessRefusal(400, str(exc)) from None

    def _head(self) -> int:
        try:
            return self.rpc.head()
        except ChainError as exc:
            raise WitnessRefusal(503, f"the witness cannot read its node: {exc}", where=exc.where) from None

    def _check_identity(self, identity: ChainIdentity, *, known: bool) -> None:
        try:
            chain_id, genesis = self.rpc.chain_id(), self.rpc.block_hash(0)
            has_code = self.rpc.has_code(identity.registry)
        except ChainError as exc:
            raise WitnessRefusal(503, f"the witness cannot read its node: {exc}", where=exc.where) from None
        problems = []
        if chain_id != identity.chain_id:
            problems.append(f"chain id {chain_id}, not {identity.chain_id}")
        if genesis != identity.genesis_hash:
            problems.append(f"genesis block {genesis}, not {identity.genesis_hash}")
        if not has_code:
            problems.append(f"no registry contract at {identity.registry}")
        if problems:
            what = "the witness's node serves another chain: " + "; ".join(problems)
            if known:
                raise WitnessRefusal(
                    422, f"chain swapped: {what}; this witness cosigned {identity.origin}", alarm=True, where=self.node
                )
            raise WitnessRefusal(404, f"unknown origin {identity.origin}: {what}", where=self.node)

    def _check_cosigned(self, origin: str, state: dict[str, Any], head: int) -> None:
        height, cosigned = state["size"] - 1, state["hash"]
        if head < height:
            raise WitnessRefusal(
                422,
                f"rollback: the chain's head is block {head}, below block {height} whose hash "
                f"{cosigned} this witness cosigned",
                alarm=True,
                where=self.node,
            )
        now = self.rpc.block_hash(height)
        if now != cosigned:
            raise WitnessRefusal(
                422,
                f"history rewritten: block {height} has hash {now} now; this witness cosigned {cosigned}",
                alarm=True,
                where=self.node,
            )

    def _cosign(self, checkpoint: Checkpoint, old: int | None) -> Cosigned:
        origin = checkpoint.origin
        with self._lock, self.store.lock():  # the check and the update are one step (tlog-witness)
            state = self.store.load()
            current = state["origins"].get(origin)
            try:
                # The witness's own view of the chain comes first: a chain that contradicts what it cosigned is an
                # alarm whatever the request says (a rolled-back chain only offers "stale" checkpoints).
                self._check_identity(checkpoint.identity, known=current is not None)
                head = self._head()
                if current is not None:
                    self._check_cosigned(origin, current, head)
                stored = current["size"] if current else 0
                if old is not None and old > checkpoint.size:
                    raise WitnessRefusal(
                        400, f"old size {old} is above the checkpoint size {checkpoint.size}: a stale checkpoint"
                    )
                if old is not None and old != stored:
                    raise WitnessRefusal(409, f"old size {old} is not the latest cosigned size {stored}", size=stored)
                if checkpoint.height > head - self.finality:
                    raise WitnessRefusal(
                        422,
                        f"block {checkpoint.height} is not final: the head is {head} and this "
                        f"witness waits {self.finality} blocks",
                    )
                if current is not None and checkpoint.size == current["size"]:
                    if checkpoint.hash_hex != current["hash"]:
                        raise WitnessRefusal(
                            409,
                            f"block {checkpoint.height} was cosigned with hash {current['hash']}, "
                            f"not {checkpoint.hash_hex}",
                            size=stored,
                            chain_hash=current["hash"],
                        )
                    return Cosigned(checkpoint, current["note"])
                self._check_links(checkpoint, current)
            except WitnessRefusal as refusal:
                self._alarm(origin, refusal)
                raise
            stamp = int(self.clock())
            signature = self.key.cosign(checkpoint.text(), stamp)
            note = Note(checkpoint.text(), (signature,)).render()
            state["origins"][origin] = {
                "size": checkpoint.size,
                "hash": checkpoint.hash_hex,
                "note": note,
                "cosigned_at": stamp,
            }
            self.store.save(state)
        self.log(f"witness {self.key.name}: cosigned {origin} at block {checkpoint.height} {checkpoint.hash_hex}")
        return Cosigned(checkpoint, note)

    def _alarm(self, origin: str, refusal: WitnessRefusal) -> None:
        # Raised once per distinct divergence: a witness following every second must not repeat it forever.
        if refusal.alarm and self._alarmed.get(origin) != str(refusal):
            self._alarmed[origin] = str(refusal)
            # The alarm file and log are the witness operator's: they name the node that diverged (its location,
            # never its path, which may carry an access key); the answer to the requester never does.
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock()))
            line = f"ALARM {stamp} {origin}: {refusal.local_message()}"
            self.store.alarm(line)
            self.log(f"witness {self.key.name}: {line}")

    def _check_links(self, checkpoint: Checkpoint, current: dict[str, Any] | None) -> None:
        """The cosigned block still has its cosigned hash, every block from it up to the checkpoint's links to its
        parent, and the last one has the checkpoint's hash, all in one read of the chain. Work grows with the blocks
        since the last cosignature, never with certificates."""
        first = current["size"] - 1 if current else checkpoint.height
        try:
            headers = self.rpc.headers(first, checkpoint.height)
        except ChainError as exc:
            raise WitnessRefusal(503, f"the witness cannot read its node: {exc}", where=exc.where) from None
        previous = current["hash"] if current else None
        for header in headers:
            if header is None:
                raise WitnessRefusal(422, f"the node has no block up to {checkpoint.height}")
            number, block_hash, parent = header
            if current is not None and number == first and block_hash != current["hash"]:
                # read again here: the chain may have been reorganised since _check_cosigned read this block, and
                # the links below are checked from what this read says, not from what that one said
                raise WitnessRefusal(
                    422,
                    f"history rewritten: block {number} has hash {block_hash} now; this witness cosigned "
                    f"{current['hash']}",
                    alarm=True,
                    where=self.node,
                )
            if previous is not None and number > first and parent != previous:
                raise WitnessRefusal(
                    422,
                    f"history rewritten: block {number} does not link to block {number - 1} ({parent} != {previous})",
                    alarm=True,
                    where=self.node,
                )
            previous = block_hash
        if previous != checkpoint.hash_hex:
            raise WitnessRefusal(
                422,
                f"forged checkpoint: block {checkpoint.height} of the chain has hash {previous}, "
                f"the checkpoint says {checkpoint.hash_hex}",
                chain_hash=previous,
            )


# -- HTTP ---------------------------------------------------------------------------------------------------


def make_handler(witness: Witness) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30  # a client that stalls mid-request holds a thread for at most this long

        def _send(self, status: int, body: str, content_type: str = "text/plain; charset=utf-8") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            if urlparse(self.path).path.rstrip("/") != "/add-checkpoint":
                self._send(404, "not found\n")
                return
            raw = self.headers.get("Content-Length") or ""
            # at most 10 digits read: int() raises ValueError past 4,300 (the handler died without an answer)
            length = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 10 else -1
            if not 0 <= length <= MAX_REQUEST:
                self._send(400, f"a request needs a Content-Length of at most {MAX_REQUEST} bytes\n")
                return
            try:
                self._send(200, witness.add_checkpoint(self.rfile.read(length)))
            except WitnessRefusal as refusal:
                if refusal.status == 409 and refusal.size is not None:
                    self._send(409, f"{refusal.size}\n", "text/x.tlog.size")
                else:
                    self._send(refusal.status, ("ALARM: " if refusal.alarm else "") + f"{refusal}\n")

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/key":
                self._send(200, f"{witness.verifier}\n")
            elif url.path == "/checkpoint":
                origin = next(iter(parse_qs(url.query).get("origin", [])), None)
                note = witness.latest(origin)
                self._send(200, note) if note else self._send(404, "nothing cosigned for this origin\n")
            else:
                self._send(404, "not found\n")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the witness logs cosignatures and alarms itself

    return Handler


class _BoundedServer(ThreadingHTTPServer):
    """A :class:`ThreadingHTTPServer` holding at most :data:`MAX_CONNECTIONS` connections at once, at most
    :data:`MAX_PER_ADDRESS` from one client address, each cut after :data:`CONNECTION_SECONDS`."""

    daemon_threads = True
    # the kernel's queue of connections not yet accepted: socketserver's 5 filled with a burst of connections, each
    # closed at once when accepted, and a collector's connection then waited for its retries (a second, then more)
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._open: dict[str, int] = {}
        self._open_lock = threading.Lock()

    def verify_request(self, request: Any, client_address: Any) -> bool:
        host = str(client_address[0])
        with self._open_lock:
            if sum(self._open.values()) >= MAX_CONNECTIONS or self._open.get(host, 0) >= MAX_PER_ADDRESS:
                return False  # closed at once by the caller (socketserver's shutdown_request)
            self._open[host] = self._open.get(host, 0) + 1
        return True

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        cut = threading.Timer(CONNECTION_SECONDS, _cut, (request,))
        cut.daemon = True
        cut.start()
        try:
            super().process_request_thread(request, client_address)
        finally:
            cut.cancel()
            host = str(client_address[0])
            with self._open_lock:
                left = self._open.get(host, 1) - 1
                if left > 0:
                    self._open[host] = left
                else:
                    self._open.pop(host, None)


def _cut(connection: Any) -> None:
    """End a connection held past :data:`CONNECTION_SECONDS`: its handler's next read or write fails, and it ends."""
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # closed already


def observe_round(witness: Witness, origins: list[str]) -> None:
    """One round of the follower: observe each of ``origins`` and of those cosigned before. An origin that cannot be
    observed is logged and the round goes on: whatever one observation raises - a refusal, the library's error, or
    an error nobody foresaw in reading a hostile node's answer - must not stop the witness observing every origin
    from then on (the follower thread would die silently, and a chain rewritten later go without its alarm: red
    team round 28)."""
    for origin in set(origins) | set(witness.store.load()["origins"]):
        try:
            witness.observe(origin)
        except WitnessRefusal as refusal:
            if not refusal.alarm:
                witness.log(f"witness {witness.key.name}: not cosigned: {refusal.local_message()}")
        except LedgerError as exc:
            witness.log(f"witness {witness.key.name}: {exc.local_message()}")
        except Exception as exc:  # noqa: BLE001 - logged, and the next origin and round are observed
            witness.log(f"witness {witness.key.name}: observing {origin} failed ({type(exc).__name__}: {exc})")


def serve(
    witness: Witness,
    host: str,
    port: int,
    *,
    origins: list[str] | None = None,
    interval: float = 0.0,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until interrupted; with ``interval`` > 0 also observe each of ``origins`` (and those cosigned
    before) every ``interval`` seconds."""
    server = _BoundedServer((host, port), make_handler(witness))
    url = f"http://{host}:{server.server_address[1]}"
    stop = threading.Event()
    if interval > 0:

        def follow() -> None:
            while not stop.wait(interval):
                observe_round(witness, origins or [])

        threading.Thread(target=follow, daemon=True).start()
    if ready:
        ready(url)
    try:
        server.serve_forever()
    finally:
        stop.set()
        server.server_close()
