"""The ledger's side of witnessing: which witnesses a department trusts, collecting their cosignatures, and the
witnessed state that verification reports.

Configuration lives in ``<data dir>/witnesses.json`` (``ledger witness trust URL VKEY``, ``ledger witness
quorum K``)::

    {"quorum": 2, "finality": 0, "witnesses": [{"url": "http://court.example:7001", "key": "<vkey>"}, ...]}

Cosigned checkpoints are appended to ``<data dir>/witness/checkpoints.jsonl``; a checkpoint is *witnessed* once
``quorum`` of the trusted witnesses cosigned it. The ledger signs its checkpoints with its own Ed25519 note key
(``<data dir>/keys/checkpoint.key``, named after the origin), which witnesses may pin with ``--log-key``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...config import secret_env
from ...errors import ChainError, ConfigError, InputError, LedgerError
from ...formats.canonical import json_loads
from ...onchain import logslots, registryslots, stateproof
from ...onchain.chain import Chain
from ...onchain.ids import department_code
from ...onchain.trail import Trail
from ...storage._files import create_exclusive, replace_private
from ...storage.vault import open_secret, wrap_secret
from .._remote import AnswerRefused, bounded_read, open_url, quoted
from .checkpoint import MAX_SIZE_DIGITS, ChainIdentity, Checkpoint, decimal
from .note import (
    COSIGNATURE_V1,
    ED25519,
    Note,
    SignerKey,
    VerifierKey,
    distinct_keys,
    parse_note,
    parse_signature_lines,
)

TIMEOUT = 10.0


@dataclass(frozen=True)
class TrustedWitness:
    url: str
    key: VerifierKey

    @property
    def name(self) -> str:
        return self.key.name


@dataclass(frozen=True)
class WitnessConfig:
    witnesses: tuple[TrustedWitness, ...] = ()
    quorum: int = 0
    finality: int = 0

    def __post_init__(self) -> None:
        # Reports, refusals, alarms and remembered sizes name a witness by its key's name: a witness taking another
        # trusted witness's name had `ledger audit-chain` keep only one of the two answers, so a colluder's checkpoint
        # hid the honest witness's contradiction (red team round 59). One name, one witness.
        seen: dict[str, TrustedWitness] = {}
        for witness in self.witnesses:
            first = seen.setdefault(witness.name, witness)
            if first is not witness:
                raise ConfigError(
                    f"two trusted witnesses are named {witness.name!r}: {first.url} (key {first.key}) and "
                    f"{witness.url} (key {witness.key}); a name identifies one witness in every report, so a witness "
                    "taking another's name could hide its answers. Trust each witness under the name its operator "
                    "publishes, and remove the one you did not mean (`ledger witness trust` replaces a name)"
                )

    @property
    def configured(self) -> bool:
        return bool(self.witnesses)

    @property
    def keys(self) -> list[VerifierKey]:
        return [w.key for w in self.witnesses]

    @classmethod
    def load(cls, data_dir: Path) -> WitnessConfig:
        path = data_dir / "witnesses.json"
        try:
            raw = json_loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path} is not readable JSON: {exc}") from None
        try:
            witnesses = tuple(
                TrustedWitness(str(w["url"]).rstrip("/"), VerifierKey.parse(w["key"])) for w in raw.get("witnesses", [])
            )
            quorum = int(raw.get("quorum") or (len(witnesses) // 2 + 1 if witnesses else 0))
            finality = int(raw.get("finality", 0))
        except (LedgerError, AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"{path} is not a witness configuration ({type(exc).__name__}: {exc}); "
                "rewrite it with `ledger witness trust URL VKEY`"
            ) from None
        if witnesses and not 1 <= quorum <= len(witnesses):
            raise ConfigError(f"{path}: quorum {quorum} must be between 1 and the {len(witnesses)} witnesses")
        return cls(witnesses, quorum, finality)

    def save(self, data_dir: Path) -> None:
        data = {
            "quorum": self.quorum,
            "finality": self.finality,
            "witnesses": [{"url": w.url, "key": str(w.key)} for w in self.witnesses],
        }
        (data_dir / "witnesses.json").write_text(json.dumps(data, indent=2) + "\n")


def chain_identity(chain: Chain) -> ChainIdentity:
    d = chain.deployment
    return ChainIdentity(chain.chain_id, d.genesis_hash.lower(), d.registry.lower())


def log_key(data_dir: Path, origin: str, passphrase: str | None = None) -> SignerKey:
    """The ledger's checkpoint signing key (created on first use; mode 0600), its seed encrypted at rest under the
    ledger's passphrase (``passphrase``, default ``LEDGER_PASSPHRASE``)."""
    configured = secret_env("LEDGER_PASSPHRASE")  # a witness program has no ledger Settings of its own
    secret = passphrase or (configured.get_secret_value() if configured else None)
    path = data_dir / "keys" / "checkpoint.key"
    if path.exists():
        try:
            stored = json_loads(path.read_text())
        except ValueError:
            raise ConfigError(f"{path} is not an encrypted checkpoint key; restore it from a backup") from None
        return SignerKey.from_seed(origin, ED25519, _opened(path, stored, secret, origin))
    if not secret:
        raise ConfigError("the ledger's checkpoint key is kept encrypted: set LEDGER_PASSPHRASE")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = SignerKey.generate(origin, ED25519)
    # bound to its purpose and to this chain's origin: no other key file of the deployment, nor another chain's
    # checkpoint key, opens in its place (red team round 57)
    wrapped = wrap_secret(key.seed(), secret, purpose="checkpoint", owner=origin)
    if not create_exclusive(path, json.dumps(wrapped).encode()):  # another process made it meanwhile: its key
        return log_key(data_dir, origin, passphrase)
    return key


def _opened(path: Path, stored: Any, secret: str | None, origin: str) -> bytes:
    """The checkpoint key's seed in ``stored`` (the content of ``path``); a file of the layout before ``pl-key/2``
    is rewrapped bound to its purpose and ``origin`` (written whole, synced, renamed into place)."""
    what, variable = f"the checkpoint key file {path}", "LEDGER_PASSPHRASE"
    seed, rewrapped = open_secret(stored, secret, what, variable, purpose="checkpoint", owner=origin)
    if rewrapped is not None:
        with contextlib.suppress(OSError):  # a directory it may not write: the old file stays, and still opens
            replace_private(path, json.dumps(rewrapped).encode())
    return seed


@dataclass(frozen=True)
class WitnessedCheckpoint:
    """A checkpoint and the trusted witnesses whose cosignatures on it verify."""

    checkpoint: Checkpoint
    note: str
    cosigners: tuple[str, ...]
    quorum: int

    @property
    def witnessed(self) -> bool:
        return len(self.cosigners) >= self.quorum > 0

    def to_json(self) -> dict[str, Any]:
        return {
            "height": self.checkpoint.height,
            "hash": self.checkpoint.hash_hex,
            "origin": self.checkpoint.origin,
            "cosigners": list(self.cosigners),
            "quorum": self.quorum,
            "witnessed": self.witnessed,
            "note": self.note,
        }

    @classmethod
    def from_note(cls, text: str, keys: list[VerifierKey], quorum: int) -> WitnessedCheckpoint:
        note = parse_note(text)
        checkpoint = Checkpoint.parse(note.text)
        cosigners = tuple(
            k.name for k, _ in note.verified(distinct_keys([k for k in keys if k.kind == COSIGNATURE_V1]))
        )
        return cls(checkpoint, text, cosigners, quorum)


@dataclass
class CollectResult:
    checkpoint: WitnessedCheckpoint | None
    refusals: dict[str, str] = field(default_factory=dict)
    alarms: dict[str, str] = field(default_factory=dict)

    @property
    def witnessed(self) -> bool:
        return self.checkpoint is not None and self.checkpoint.witnessed

    def to_json(self) -> dict[str, Any]:
        return {
            "witnessed": self.witnessed,
            "checkpoint": self.checkpoint.to_json() if self.checkpoint else None,
            "refusals": self.refusals,
            "alarms": self.alarms,
        }


# The checkpoints whose status trail proofs are kept (CheckpointStore.save_state): the latest, and the one before it
# for a verifier that read the checkpoint file just before the latest was appended.
STATES_KEPT = 2


class CheckpointStore:
    """The cosigned checkpoints this ledger collected, oldest first (one JSON line each)."""

    def __init__(self, data_dir: Path) -> None:
        self.directory = data_dir / "witness"

    def append(self, item: WitnessedCheckpoint) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.directory / "checkpoints.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(item.to_json()) + "\n")

    def all(self, config: WitnessConfig) -> list[WitnessedCheckpoint]:
        try:
            lines = (self.directory / "checkpoints.jsonl").read_text().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                out.append(WitnessedCheckpoint.from_note(_stored_note(line), config.keys, config.quorum))
            except (LedgerError, ValueError):
                continue  # a damaged line proves nothing; the witnesses hold their own copies
        return out

    def latest_witnessed(self, config: WitnessConfig, origin: str) -> WitnessedCheckpoint | None:
        """The newest witnessed checkpoint of ``origin``, read from the end of the file: witnesses never cosign a
        smaller size after a larger one, so the last witnessed line is the highest (and a long history is not
        re-verified line by line)."""
        try:
            lines = (self.directory / "checkpoints.jsonl").read_text().splitlines()
        except FileNotFoundError:
            return None
        for line in reversed(lines):
            try:
                item = WitnessedCheckpoint.from_note(_stored_note(line), config.keys, config.quorum)
            except (LedgerError, ValueError):
                continue
            if item.witnessed and item.checkpoint.origin == origin:
                return item
        return None

    def save_state(self, block_hash: str, state: dict[str, Any]) -> None:
        """Keep the proofs of the status trails at the checkpoint of ``block_hash`` (:func:`state_at`), one file per
        checkpoint (``state-<hash>.json``), so a verifier reading the previous checkpoint while this one is written
        still finds its own (:meth:`forget_states` removes all but the newest few)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._state_path(block_hash)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"hash": block_hash, **state}))
        os.replace(tmp, path)

    def forget_states(self, keep: int = STATES_KEPT) -> None:
        """Remove the kept proofs of all but the ``keep`` newest checkpoints (verification proves against the
        latest witnessed checkpoint only)."""
        found = sorted(self.directory.glob("state-0x*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in found[keep:]:
            with contextlib.suppress(OSError):
                old.unlink()

    def state(self, block_hash: str) -> dict[str, Any] | None:
        """The kept proofs of the checkpoint of ``block_hash``, or None (none kept, damaged: whatever is read here is
        checked against the witnessed hash before it is believed)."""
        try:
            stored = json_loads(self._state_path(block_hash).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(stored, dict) or stored.get("hash") != block_hash or type(stored.get("proofs")) is not list:
            return None
        return stored

    def _state_path(self, block_hash: str) -> Path:
        return self.directory / f"state-{block_hash.lower()}.json"

    def sizes(self) -> dict[str, int]:
        try:
            stored = json_loads((self.directory / "sizes.json").read_text())
        except (FileNotFoundError, ValueError):
            return {}
        if not isinstance(stored, dict) or not all(type(v) is int for v in stored.values()):
            return {}  # damaged: forgotten, and the next answer of each witness is remembered again
        return stored

    def remember_size(self, witness: str, size: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        sizes = self.sizes()
        sizes[witness] = size
        tmp = self.directory / "sizes.json.tmp"
        tmp.write_text(json.dumps(sizes))
        os.replace(tmp, self.directory / "sizes.json")


def _stored_note(line: str) -> str:
    """The note text of one line of checkpoints.jsonl; ValueError for a line of any other shape (damage: such a
    line proves nothing and is skipped, the witnesses hold their own copies)."""
    item = json_loads(line)
    note = item.get("note") if isinstance(item, dict) else None
    if not isinstance(note, str):
        raise ValueError("not a stored checkpoint")
    return note


# The most of a witness's answer the ledger reads, in bytes and in seconds: a cosignature is one line, a checkpoint a
# few, so an answer past either bound is no answer. A witness, or whatever answers at its address, sending one that
# never ends (streamed, or a byte at a time, which no socket timeout catches) held every collection, and each command
# collecting after its write to the chain, for ever (red team round 54).
MAX_ANSWER_BYTES = 64 * 1024
ANSWER_SECONDS = 30.0


# The most time one witness's part of a collection may take in all: its 409s followed, its signed checkpoint asked,
# the request sent again from there - up to seven requests, each within the bounds above, so a relay answering each
# just inside them held every collection (the gateway's anchoring round with it) for minutes (red team round 76).
WITNESS_SECONDS = 60.0

_AnswerRefused = AnswerRefused  # a witness's answer past MAX_ANSWER_BYTES or ANSWER_SECONDS: that witness's refusal


def _http(method: str, url: str, body: bytes | None = None, deadline: float | None = None) -> tuple[int, str, str]:
    """(status, content type, text) of a witness's answer, read within the bounds, and by ``deadline`` (a
    ``time.monotonic()``: the end of that witness's part of a collection); a redirect is not followed (its 3xx is
    the answer: the witness's address is the one its operator configured; ledger/services/_remote.py)."""
    timeout, seconds = TIMEOUT, ANSWER_SECONDS
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _AnswerRefused(
                f"its answers took longer than {WITNESS_SECONDS} s in all, and it was not asked again in this collection"
            )
        timeout, seconds = min(timeout, left), min(seconds, left)
    request = urllib.request.Request(url, body, method=method)
    try:
        with open_url(request, timeout=timeout) as response:
            return response.status, response.headers.get("Content-Type", ""), _bounded(response, seconds)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), _bounded(exc, seconds)


def _bounded(response: Any, seconds: float | None = None) -> str:
    """The answer's text, read up to :data:`MAX_ANSWER_BYTES` and ``seconds`` (:data:`ANSWER_SECONDS`);
    :class:`_AnswerRefused` past either."""
    try:
        raw = bounded_read(response, MAX_ANSWER_BYTES, ANSWER_SECONDS if seconds is None else seconds)
    except AnswerRefused as exc:
        raise _AnswerRefused(f"{exc}, more than a witness's answer holds") from None
    return raw.decode("utf-8", "replace")


# What asking a witness may raise besides its HTTP answer: urllib's transport failures (OSErrors), and http.client's
# own for an answer that is not HTTP at all (BadStatusLine: something else listens at the witness's address), which
# urllib lets through as they are - caught as one witness's refusal, not as the end of the whole collection.
_UNANSWERED = (OSError, http.client.HTTPException)


def _unreachable(witness: TrustedWitness, exc: BaseException) -> str:
    if isinstance(exc, _AnswerRefused):
        return f"refused at {witness.url}: {exc}"
    why = str(exc) if isinstance(exc, OSError) else f"its answer is not HTTP ({type(exc).__name__})"
    return f"unreachable at {witness.url}: {quoted(why)}"


def _answer_problem(status: int, text: str) -> str:
    """A witness's answer other than 200, as a refusal or an alarm names it: quoted (the text is whoever answered's,
    a relay's as well as the witness's: never written as it is to the operator's terminal or the gateway's log), and
    a redirect said to be one, not followed (red team round 76)."""
    if 300 <= status < 400:
        return (
            f"HTTP {status}: it answered with a redirect, which is not followed (a witness is asked at the address "
            "it is trusted at: `ledger witness trust` the address it answers at)"
        )
    return f"HTTP {status}: {quoted(text)}"


def request_cosignature(
    witness: TrustedWitness, note: Note, old: int, deadline: float | None = None
) -> tuple[int, str, str]:
    """POST add-checkpoint; (status, content type, body). Raises OSError when the witness is unreachable."""
    body = f"old {old}\n\n".encode() + note.render().encode()
    return _http("POST", witness.url + "/add-checkpoint", body, deadline)


def _follow_size(witness: TrustedWitness, note: Note, old: int, deadline: float) -> tuple[int, int, str, str]:
    """Ask ``witness`` to cosign ``note`` as of size ``old``, following the size its 409 names (at most three
    times): (the size last sent, status, content type, body)."""
    status, ctype, text = request_cosignature(witness, note, old, deadline)
    for _ in range(3):  # another collector may cosign between our two requests: follow its size again
        size = decimal(text.strip(), MAX_SIZE_DIGITS)  # a witness's word: over 4,300 digits int() raises
        if not (status == 409 and ctype.startswith("text/x.tlog.size") and size is not None):
            break
        if size == old:
            break  # a conflict at the same size is the witness's own answer, not a race
        old = size  # the witness cosigned elsewhere since (or we never asked): its size
        # Asked again even when it is ahead of this checkpoint: it checks its own view of the chain first,
        # so a chain rolled back below what it cosigned gets its ALARM, not a plain "stale" refusal.
        status, ctype, text = request_cosignature(witness, note, old, deadline)
    return old, status, ctype, text


def _cosigned_size(witness: TrustedWitness, origin: str, deadline: float) -> int | None:
    """The size of ``witness``'s latest checkpoint of ``origin`` that its key cosigned (``GET /checkpoint``); None
    when it has none, or answers none its key verifies."""
    status, _, text = _http(
        "GET", witness.url + "/checkpoint?origin=" + urllib.parse.quote(origin, safe=""), None, deadline
    )
    if status != 200:
        return None
    try:
        item = WitnessedCheckpoint.from_note(text, [witness.key], 1)
    except (InputError, ValueError):
        return None
    return item.checkpoint.size if item.cosigners and item.checkpoint.origin == origin else None


def collect(
    chain: Chain, data_dir: Path, config: WitnessConfig | None = None, *, height: int | None = None
) -> CollectResult:
    """Ask every trusted witness to cosign a checkpoint at ``height`` (default: head - finality); keep the
    cosigned checkpoint, witnessed when a quorum answered. Unreachable or refusing witnesses are listed; a
    refusal that is an alarm (the witness saw a rollback or rewrite) is listed under ``alarms``.

    A witness that follows the chain on its own may have cosigned a later block meanwhile; the round then starts
    again at a newer head (at most ``ROUNDS`` times), so that every cosignature is on one checkpoint."""
    config = config or WitnessConfig.load(data_dir)
    if not config.configured:
        raise ConfigError("no witnesses configured: `ledger witness trust URL VKEY` first")
    identity = chain_identity(chain)
    key = log_key(data_dir, identity.origin)
    store = CheckpointStore(data_dir)
    result = CollectResult(None)
    wanted = height
    previous = store.latest_witnessed(config, identity.origin)
    for round_ in range(ROUNDS):
        for _ in range(STATE_TRIES):
            at = chain.block_number() - config.finality if wanted is None else wanted
            if at < 0:
                raise InputError(f"no block is {config.finality} blocks deep yet")
            checkpoint = Checkpoint.at(identity, at, bytes(chain.w3.eth.get_block(at)["hash"]))
            # now, while the node still keeps the block's state (it keeps a few blocks' below the head at most: the
            # embedded node 32, node.STATE_HISTORY, Besu some 512); a node that dropped it meanwhile has a newer head
            # chosen, else the checkpoint would be cosigned with no proofs and every witnessed verification fail (red
            # team round 75)
            state = state_at(chain, at, checkpoint.block_hash)
            if state is not None:
                _keep_log(chain, store, previous, state, checkpoint.block_hash)
            if state is not None or wanted is not None:
                break
        note = Note(checkpoint.text(), (key.sign_note(checkpoint.text()),))
        result, signatures, ahead = _round(config, store, note, checkpoint)
        if ahead and wanted is None and round_ < ROUNDS - 1:
            continue
        break
    cosigned = Note(note.text, note.signatures + tuple(signatures)).render()
    item = WitnessedCheckpoint.from_note(cosigned, config.keys, config.quorum)
    if item.cosigners:
        if state is not None:
            store.save_state(checkpoint.hash_hex, state)
        store.append(item)
        store.forget_states()
    result.checkpoint = item
    return result


ROUNDS = 3
# How long a status trail that could not be proven at a checkpoint stays unproven before the node is asked again
# (WitnessView.proven_trail): long enough for a batch, short enough that a node's passing failure is soon over.
PROOF_RETRY_SECONDS = 10.0
# The heads collect tries in turn for one whose state the node still has when it reads the proofs (state_at): the
# embedded node keeps node.STATE_HISTORY blocks' states below its head, so the first try fails only when more blocks
# than that are mined while it reads.
STATE_TRIES = 3


def state_at(chain: Chain, height: int, block_hash: bytes) -> dict[str, Any] | None:
    """The node's proofs of every registered department's status and anchoring trails in block ``height`` of hash
    ``block_hash`` (its header and ``eth_getProof`` answers, a department's four slots in one answer), or None when
    the node cannot give proofs that hash up to that block (it keeps no state of it, or answered another state's:
    the embedded node, caught mining the next block, did). Each is checked here, so no checkpoint is kept with
    proofs that cannot prove it, and again against the witnessed hash each time a verifier reads them
    (:meth:`WitnessView.proven_trail`: the file is not trusted). Kept beside the checkpoint, they let a verifier
    prove the trails at the witnessed block after the node has dropped its state (the embedded node keeps the
    states of 32 blocks below its head, Besu some 512)."""
    try:
        ids, _ = chain.call(chain.anchor.functions.statusTrails(), height)
        departments = [bytes(dept) for dept in ids]
        per_chunk = stateproof.MAX_PROOF_SLOTS // len(stateproof.department_slots(bytes(32)))
        block: Any = None
        proofs: list[Any] = []
        chunk_of: dict[str, int] = {}
        for i in range(0, len(departments), per_chunk):  # a department's slots never split between two proofs
            chunk = departments[i : i + per_chunk]
            slots = [slot for dept in chunk for slot in stateproof.department_slots(dept)]
            block, answer, _ = stateproof.fetch_verified(chain.w3, chain.deployment.anchor, slots, block_hash, height)
            chunk_of |= {"0x" + dept.hex(): len(proofs) for dept in chunk}
            proofs.append(answer)
        # the registry's key, status and type periods of every department: what its department_key and
        # type_authority checks read (a department whose history is past MAX_PERIODS is left out: unproven)
        _, registry, _, _ = registryslots.fetch_histories(
            chain.w3, chain.deployment.registry, block_hash, height, departments
        )
    except LedgerError:
        return None
    return {
        "height": height,
        "block": block,
        "proofs": proofs,
        "departments": chunk_of,
        "registry": {"address": chain.deployment.registry.lower(), **registryslots.packed(registry)},
    }


def _keep_log(
    chain: Chain, store: CheckpointStore, previous: WitnessedCheckpoint | None, state: dict[str, Any], block_hash: bytes
) -> None:
    """Add to ``state`` (:func:`state_at`'s, of its block) the log contract's proofs of the decision batches
    anchored since the ``previous`` checkpoint and of their departments' rule sets (``log``,
    :func:`logslots.kept_at`): a decision bundle naming this checkpoint, the first covering its anchoring, then proves
    its log batch after the node has dropped the block's state. Left out when the node cannot prove them (the
    trails' proofs are kept all the same)."""
    height = state["height"]
    since = int(chain.deployment.deployed_block) - 1
    kept = store.state(previous.checkpoint.hash_hex) if previous is not None else None
    log = kept.get("log") if kept is not None else None
    # the departments' rule set publications up to the previous checkpoint, carried forward (kept_at checks its shape)
    published = log.get("published") if isinstance(log, dict) else None
    if previous is not None and previous.checkpoint.height < height:
        since = previous.checkpoint.height
    # the same block again (nothing mined since): what its file kept, read no more
    elif previous is not None and isinstance(log, dict) and type(log.get("since")) is int and log["since"] < height:
        if kept is not None and kept.get("height") == height and kept.get("block") == state.get("block"):
            # the same block's proofs (each is checked against the cosigned hash wherever it is used): a bundle
            # built with a fresh checkpoint while nothing was mined scans no events (tests/test_evidence_flat.py)
            state["log"] = log
            return
        since = log["since"]
    try:
        state["log"] = logslots.kept_at(chain, height, block_hash, max(since, -1), published)
    except LedgerError:
        pass


def _round(
    config: WitnessConfig, store: CheckpointStore, note: Note, checkpoint: Checkpoint
) -> tuple[CollectResult, list[Any], bool]:
    """One request to every witness, all at once: (result, cosignatures, whether some witness is ahead of this
    checkpoint). An unreachable witness costs its timeout once, not once per witness after it."""
    sizes = store.sizes()
    result = CollectResult(None)
    signatures = []
    ahead = False

    def ask(witness: TrustedWitness) -> tuple[int, int, str, str] | OSError | http.client.HTTPException:
        try:
            deadline = time.monotonic() + WITNESS_SECONDS  # this witness's whole part, however many requests
            old, status, ctype, text = _follow_size(witness, note, sizes.get(witness.name, 0), deadline)
            if old > checkpoint.size and status == 400:
                # "stale" only says the size we sent is above this checkpoint's; that size came from a 409's body (now
                # or remembered), which whatever answers at the witness's address can write. The witness is ahead
                # only by its own signed checkpoint: a size nobody signed, once remembered, had every later request
                # refused as stale and lost the witness for good (red team round 59).
                signed = _cosigned_size(witness, checkpoint.origin, deadline)
                if signed is None or signed <= checkpoint.size:
                    old, status, ctype, text = _follow_size(witness, note, signed or 0, deadline)
                else:
                    old = signed
            return old, status, ctype, text
        except _UNANSWERED as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(len(config.witnesses), 1)) as pool:
        answers = list(pool.map(ask, config.witnesses))
    for witness, answer in zip(config.witnesses, answers, strict=True):
        if isinstance(answer, _UNANSWERED):
            result.refusals[witness.name] = _unreachable(witness, answer)
            continue
        old, status, _, text = answer
        if old > checkpoint.size and status == 400:
            store.remember_size(witness.name, old)
            ahead = True
            result.refusals[witness.name] = f"it cosigned a later block ({old - 1}) already"
            continue
        if status != 200:
            (result.alarms if text.startswith("ALARM") else result.refusals)[witness.name] = _answer_problem(
                status, text
            )
            continue
        try:
            lines = parse_signature_lines(text)
        except InputError as exc:
            result.refusals[witness.name] = f"malformed answer: {quoted(str(exc))}"
            continue
        good = [s for s in lines if s.verified_by(witness.key, note.text)]
        if not good:
            result.refusals[witness.name] = "answered without a cosignature its key verifies"
            continue
        signatures.extend(good)
        store.remember_size(witness.name, checkpoint.size)
    return result, signatures, ahead


def fetch_latest(config: WitnessConfig, origin: str) -> tuple[dict[str, WitnessedCheckpoint], dict[str, str]]:
    """Each trusted witness's latest cosigned checkpoint of ``origin`` (their own word, not ours), and the
    witnesses that could not be asked."""
    found, problems = {}, {}
    for witness in config.witnesses:
        try:
            status, _, text = _http("GET", witness.url + "/checkpoint?origin=" + urllib.parse.quote(origin, safe=""))
        except _UNANSWERED as exc:
            problems[witness.name] = _unreachable(witness, exc)
            continue
        if status != 200:
            problems[witness.name] = _answer_problem(status, text)
            continue
        try:
            item = WitnessedCheckpoint.from_note(text, [witness.key], 1)
        except InputError as exc:
            problems[witness.name] = f"malformed checkpoint: {quoted(str(exc))}"
            continue
        if item.cosigners and item.checkpoint.origin == origin:
            found[witness.name] = item
        else:
            problems[witness.name] = "its checkpoint carries no cosignature its key verifies"
    return found, problems


RECHECK_SECONDS = 1.0  # the chain's block at the witnessed height is read again at least this often


class WitnessView:
    """The witnessed state verification reports: the latest checkpoint a quorum cosigned (re-read when the
    checkpoint file changes, so a long-lived gateway sees new ones), and whether the chain read still has that
    block hash at that height (checked once per head, and again after :data:`RECHECK_SECONDS`: a chain rewritten
    to the same height leaves the head's number as it was, so a check kept per head alone reported a rewritten
    history as witnessed for as long as the operator made no new block)."""

    def __init__(
        self,
        chain: Chain,
        config: WitnessConfig,
        latest: WitnessedCheckpoint | None,
        data_dir: Path | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.chain, self.config, self._latest = chain, config, latest
        self._data_dir = data_dir
        self._stamp: int | None = None
        self._checked: tuple[int, str, str | None, float] | None = None
        self._clock = clock
        # (checkpoint hash, department id) -> its proven status trail at the checkpoint's block. A value proven at a
        # fixed block hash never changes, so it is kept for as long as that checkpoint is the latest witnessed one
        # (the freshness bound: what a verifier proves is the state at that block, not after it; a change after it
        # is "not witnessed yet"); only the latest checkpoint's are kept.
        self._proven: dict[tuple[str, bytes], tuple[Trail, Trail]] = {}
        # (checkpoint hash, department id) -> (the failure, when) of a trail that could not be proven: answered again
        # for PROOF_RETRY_SECONDS, so a node answering bad proofs costs a batch one header read and one eth_getProof
        # per department, not per certificate (red team round 75); tried again after, a node's failure may pass
        self._unproven: dict[tuple[str, bytes], tuple[str, float]] = {}
        # the same for the registry's history of a department (proven_registry): (checkpoint hash, department id) ->
        # (its history, or None and why it is not proven); its failures; and the registry words the kept proofs of
        # the latest checkpoint prove (every kept answer checked once, kept while that checkpoint is the latest)
        self._histories: dict[tuple[str, bytes], tuple[registryslots.RegistryHistory | None, str]] = {}
        self._histories_unproven: dict[tuple[str, bytes], tuple[str, float]] = {}
        # (checkpoint hash, "kept" / "older" (a kept file without them) / "none" (no kept file), the words)
        self._registry_words: tuple[str, str, dict[int, int]] = ("", "none", {})

    @classmethod
    def for_ledger(cls, chain: Chain, data_dir: Path) -> WitnessView | None:
        config = WitnessConfig.load(data_dir)
        if not config.configured:
            return None
        return cls(chain, config, None, data_dir)

    @property
    def latest(self) -> WitnessedCheckpoint | None:
        if self._data_dir is not None:
            path = CheckpointStore(self._data_dir).directory / "checkpoints.jsonl"
            try:
                stamp = path.stat().st_mtime_ns
            except FileNotFoundError:
                stamp = 0
            if stamp != self._stamp:
                self._latest = CheckpointStore(self._data_dir).latest_witnessed(
                    self.config, chain_identity(self.chain).origin
                )
                self._stamp = stamp
        return self._latest

    def chain_problem(self, head: int) -> str | None:
        """Why the chain contradicts the latest witnessed checkpoint, or None."""
        latest = self.latest
        if latest is None:
            return None
        cp = latest.checkpoint
        checked_at = self._clock()
        if (
            self._checked is not None
            and self._checked[:2] == (head, cp.hash_hex)
            and checked_at - self._checked[3] < RECHECK_SECONDS
        ):
            return self._checked[2]
        problem = None
        if head < cp.height:
            problem = (
                f"the chain was rolled back: its head is block {head}, below block {cp.height} that "
                f"{', '.join(latest.cosigners)} cosigned"
            )
        else:
            try:
                now: str | None = "0x" + bytes(self.chain.w3.eth.get_block(cp.height)["hash"]).hex()
            except Exception:  # noqa: BLE001 - web3's BlockNotFound is no LedgerError: a missing block is the answer
                now = None
            if now != cp.hash_hex:
                problem = (
                    f"the chain was rewritten below a witnessed height: block {cp.height} has hash {now}; "
                    f"{', '.join(latest.cosigners)} cosigned {cp.hash_hex}"
                )
        self._checked = (head, cp.hash_hex, problem, checked_at)
        return problem

    def proven_trail(self, department_id: bytes) -> Trail:
        """Department ``department_id``'s status trail at the latest witnessed checkpoint's block, proven from the
        block's hash (ledger/onchain/stateproof.py): from the proofs kept when the checkpoint was collected, else
        asked of the node (one header read and one ``eth_getProof``). A ChainError when neither proves it."""
        return self._proven_trails(department_id)[0]

    def proven_anchoring(self, department_id: bytes) -> Trail:
        """Department ``department_id``'s anchoring trail (CertificateAnchor 4.2.0) at the latest witnessed
        checkpoint's block, proven as :meth:`proven_trail` proves the status trail (the same proof, kept once)."""
        return self._proven_trails(department_id)[1]

    def _proven_trails(self, department_id: bytes) -> tuple[Trail, Trail]:
        latest = self.latest
        if latest is None:
            raise ChainError("no witnessed checkpoint to prove a status trail at")
        cp = latest.checkpoint
        key = (cp.hash_hex, department_id)
        found = self._proven.get(key)
        if found is None:
            now = self._clock()
            failed = self._unproven.get(key)
            if failed is not None and now - failed[1] < PROOF_RETRY_SECONDS:
                raise ChainError(failed[0])
            try:
                found = self._prove(cp, department_id)
            except ChainError as exc:
                self._unproven = {k: v for k, v in self._unproven.items() if k[0] == cp.hash_hex}
                self._unproven[key] = (str(exc), now)
                raise
            self._unproven.pop(key, None)
            self._proven = {k: v for k, v in self._proven.items() if k[0] == cp.hash_hex}
            self._proven[key] = found
        return found

    def _prove(self, cp: Checkpoint, department_id: bytes) -> tuple[Trail, Trail]:
        anchor = self.chain.deployment.anchor
        slots = stateproof.department_slots(department_id)
        kept = CheckpointStore(self._data_dir).state(cp.hash_hex) if self._data_dir is not None else None
        why = "no proof of it was kept when the checkpoint was collected"
        block = kept.get("block") if kept is not None else None
        proofs = kept.get("proofs", []) if kept is not None else []
        # the one proof holding the department, by the kept file's map, tried first (a department the map does not
        # name, or a file without one, walks them all): a check against the block's hash all the same, the file is
        # not trusted, and the map is only a hint: the others are walked when the named one fails (red team round
        # 78: an insider pointing it at another proof had a department's trails unproven while the file held them)
        named = kept.get("departments") if kept is not None else None
        at = named.get("0x" + department_id.hex()) if isinstance(named, dict) else None
        if type(at) is int and 0 <= at < len(proofs):
            proofs = [proofs[at], *proofs[:at], *proofs[at + 1 :]]
        for answer in proofs:
            try:
                words = stateproof.verified_words(block, answer, anchor, slots, cp.block_hash, cp.height)
            except ChainError as exc:
                why = f"the kept proof does not prove it ({exc})"
                continue
            return stateproof.trail_from(words, department_id), stateproof.anchoring_from(words, department_id)
        try:
            return stateproof.proven_trails(self.chain.w3, anchor, cp.block_hash, cp.height, department_id)
        except ChainError as exc:
            raise ChainError(
                f"the status and anchoring trails of department {department_code(department_id)!r} at witnessed block "
                f"{cp.height} could not be proven: {why}, and the node's own proof failed ({exc}). A node keeping no "
                "state of that block cannot prove it: run `ledger witness collect` (it keeps the proofs of the block "
                "it has cosigned)"
            ) from None

    def proven_registry(self, department_id: bytes) -> tuple[registryslots.RegistryHistory | None, str]:
        """Department ``department_id``'s key, status and type periods in the registry at the latest witnessed
        checkpoint's block, proven from the block's hash (ledger/onchain/registryslots.py): from the proofs kept when
        the checkpoint was collected, else asked of the node. (history, "") when proven; (None, why) when not, and the
        checkpoint's kept proofs were collected before collect kept the registry's (its verification says so, not a
        silent pass); a ChainError when neither the kept proofs nor the node prove it otherwise."""
        latest = self.latest
        if latest is None:
            raise ChainError("no witnessed checkpoint to prove the registry's state at")
        cp = latest.checkpoint
        key = (cp.hash_hex, department_id)
        found = self._histories.get(key)
        if found is None:
            now = self._clock()
            failed = self._histories_unproven.get(key)
            if failed is not None and now - failed[1] < PROOF_RETRY_SECONDS:
                raise ChainError(failed[0])
            try:
                found = self._prove_registry(cp, department_id)
            except ChainError as exc:
                self._histories_unproven = {k: v for k, v in self._histories_unproven.items() if k[0] == cp.hash_hex}
                self._histories_unproven[key] = (str(exc), now)
                raise
            self._histories_unproven.pop(key, None)
            self._histories = {k: v for k, v in self._histories.items() if k[0] == cp.hash_hex}
            self._histories[key] = found
        return found

    def _prove_registry(self, cp: Checkpoint, department_id: bytes) -> tuple[registryslots.RegistryHistory | None, str]:
        registry = self.chain.deployment.registry
        if self._registry_words[0] != cp.hash_hex:  # the kept file read, and every kept answer checked, once
            kept = CheckpointStore(self._data_dir).state(cp.hash_hex) if self._data_dir is not None else None
            section = kept.get("registry") if kept is not None else None
            if isinstance(section, dict) and kept is not None:
                answers = registryslots.unpacked(section)
                words = registryslots.kept_words(kept.get("block"), answers, registry, cp.block_hash, cp.height)
                self._registry_words = (cp.hash_hex, "kept", words)
            else:
                self._registry_words = (cp.hash_hex, "none" if kept is None else "older", {})
        _, found, words = self._registry_words
        if found == "kept":
            history = registryslots.history_from(words, department_id)
            if history is not None:
                return history, ""
            why = "the kept proofs do not prove it"
        elif found == "older":
            why = "the checkpoint's kept proofs hold none of the registry's (kept by a collect before they were)"
        else:
            why = "no proof of it was kept when the checkpoint was collected"
        try:
            return registryslots.proven_history(self.chain.w3, registry, cp.block_hash, cp.height, department_id), ""
        except ChainError as exc:
            if found == "older":
                return None, f"{why}, and the node's own proof failed ({exc})"
            raise ChainError(
                f"the registry's key, status and type periods of department {department_code(department_id)!r} at "
                f"witnessed block {cp.height} could not be proven: {why}, and the node's own proof failed ({exc}). A "
                "node keeping no state of that block cannot prove them: run `ledger witness collect` (it keeps the "
                "proofs of the block it has cosigned)"
            ) from None

    def check(self, blocks: Iterable[int], head: int) -> tuple[bool, str]:
        problem = self.chain_problem(head)
        if problem:
            return False, problem
        latest = self.latest
        last = max([b for b in blocks if b] or [0])
        if latest is None:
            return False, (
                f"not witnessed yet: no checkpoint has a quorum of {self.config.quorum} of "
                f"{len(self.config.witnesses)} witnesses; run `ledger witness collect`"
            )
        if last > latest.checkpoint.height:
            return False, (
                f"not witnessed yet: block {last} is after the latest witnessed checkpoint (block "
                f"{latest.checkpoint.height}); run `ledger witness collect`"
            )
        return True, (
            f"witnessed: checkpoint at block {latest.checkpoint.height} cosigned by "
            f"{', '.join(latest.cosigners)} ({len(latest.cosigners)} of {len(self.config.witnesses)}, "
            f"quorum {self.config.quorum})"
        )
