"""The embedded chain: an anvil node whose state lives in the data directory.

Several ledger processes share one node: the first starts it and records its port and pid in
``chain/node.json``; the others attach. The state is written every second (``--state-interval``) and on a
clean stop, so a restart keeps every anchor; after a hard kill the newest second of blocks may be lost, which
the outbox treats like a reorganisation (see docs/guarantees.md). A restarted node listens on the port of the
previous one (kept in ``chain/node.json``) when it is free, so processes attached to it carry on.

The chain keeps its identity across restarts. anvil 1.7.1 makes a fresh block 0 (stamped with the current time)
at every start and adds it to the state file next to the ones of earlier starts; which of them it loads as block
0 next time depends on hash-map order, so the genesis hash, which evidence bundles and the deployment file name,
would change at random. ``--init`` (a fixed genesis) cannot be combined with ``--state``, and ``--timestamp``
at genesis's stamp also rewinds the clock of every later block to it. So the genesis hash is recorded in
``chain/genesis.json``, and before each start the state file is rewritten to hold that block 0 only (anvil then
loads it over its fresh one); a start whose block 0 is not the recorded one is refused. The hash is recorded at
the first start that finds a state file (the parent of block 1, else its oldest block 0), so a node killed
before its first dump simply starts a new chain, as nothing of the old one was kept.

The chain's clock only moves on. anvil 1.7.1 reloading its state stamps the next blocks by the machine's clock,
whatever the last block's stamp (measured: a block 99 s before its parent after the clock was 100 s ahead), so a host
clock set back across a restart would have block times go back, and every reading by time (``--at``'s bisection over
block times, ``statusAt``) would find other blocks than the chain's order gives. So before each start the last
block's stamp in the state file is compared with the clock: when the clock is behind it by at most ``clock_carry``
seconds (``LEDGER_NODE_CLOCK_CARRY_SECONDS``, 60 by default: the clock skew the ledger allows elsewhere) the node is
started with ``--timestamp`` at that stamp, which anvil takes as the time of its fresh block 0 (dropped: the state's
block 0 is loaded over it) and as the clock its next blocks are stamped by (that stamp plus the seconds since the
start); further behind, the start is refused, naming both times and what to do. No ``evm_*`` call is made: the
option is anvil's own, at start.

The node gets the environment without any ``LEDGER_*`` variable: it needs none, and the passphrase, the token
secret, the vault key and a database URL with its password must not be readable in ``/proc/<pid>/environ`` of a
process that outlives the one that started it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import rlp
from eth_utils import keccak

from ..config import DEFAULT_NODE_CLOCK_CARRY_SECONDS
from ..errors import ChainError
from ..formats.canonical import json_loads
from .toolchain import tool_path

CHAIN_ID = 31337
# Seconds between the node's blocks when no transaction mines one; 3 is the shortest at which anvil honours
# ``--prune-history STATE_HISTORY`` (below). A transaction is still mined at once (``--mixed-mining``): only a
# transaction left in the pool by foundry#10122 waits for the next interval block, up to BLOCK_TIME seconds.
BLOCK_TIME = 3
# The states of blocks below the head the node keeps (``--prune-history``): ``ledger witness collect`` reads the
# proofs of a block while at most this many blocks are mined on top of it (a block a proof read, on a chain of some
# fifty departments, is some 30: red team round 75).
STATE_HISTORY = 32
ANVIL_FLAGS = [
    "--chain-id",
    str(CHAIN_ID),
    # Zero fees like a permissioned Besu network: department keys need no funding.
    "--base-fee",
    "0",
    "--gas-price",
    "0",
    # Mine each transaction at once and also every BLOCK_TIME seconds, so a burst never sits in the pool
    # (foundry#10122).
    "--mixed-mining",
    "--block-time",
    str(BLOCK_TIME),
    # Keep the state of the STATE_HISTORY blocks below the head, in memory only, and no older one. anvil keeps a full
    # copy of the state per block: by default 1,500 in memory, then files under ~/.foundry/anvil/tmp (up to 3,600,
    # left behind at exit: gigabytes a day). ``--max-persisted-states 0`` kept the 1,500 copies in memory (a test
    # session's node reached 9.8 GB and was killed). ``--prune-history N`` keeps N in memory and none on disk, but
    # anvil 1.7.1 raises N to 1,500 whenever the block time is 2 s or less (storage.rs,
    # update_interval_mine_block_time): hence a block time of 3 s, the shortest at which N holds (measured: with
    # ``--block-time 2 --prune-history 16`` the state 30 blocks below the head was still answered, with 3 s the 17th
    # was refused). Bare ``--prune-history`` (the head's state only) had ``ledger witness collect`` lose the block
    # it chose whenever reading its proofs (every department's trails and registry history, 0.5-2 s on a grown
    # chain or a loaded machine) outlasted the next block, at each of its tries: the checkpoint was cosigned without
    # proofs and every witnessed verification failed until the next (red team round 75, ci9); with recent states
    # kept, collect reads the proofs of a block up to STATE_HISTORY blocks deep, so ``finality`` above 0 keeps its
    # proofs too. Cost, measured over 300 blocks on 13,000 storage slots: 0 MB kept with none, 33 MB with 16, 50 MB
    # with 32, 106 MB with 64 (about 1.6 MB a state at that size, growing with the chain's state); with 32, the node's
    # memory levels off some 100 MB above a node keeping none after 600 blocks and stays there; the state file is
    # not changed (no ``--preserve-historical-states``: the older states are never written to it). A read at
    # ``latest`` that meets a block being mined, or at a head observed a moment before, is now answered from the
    # kept states; against a node keeping none (an external anvil) it is asked again (chain.head_moved) or made
    # again at a new head (departments.list_departments). Blocks, receipts and logs are all kept.
    "--prune-history",
    str(STATE_HISTORY),
    "--silent",
]


# The state file is written every STATE_INTERVAL seconds (``--state-interval``), so a hard kill loses at most the
# newest second of blocks. Each write serialises the whole chain, history included (blocks, transactions, receipts):
# measured at 2,000 blocks (a 19 MB file), a write every second costs anvil ~4 % of a core, growing with the chain.
STATE_INTERVAL = 1


def _free_port(preferred: int | None = None) -> int:
    """``preferred`` when it can be bound (a restarted node keeps its address), else any free port."""
    if preferred:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as anvil binds: TIME_WAIT is no obstacle
            try:
                s.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The most bytes of the embedded node's answer read: a chain id or block 0 is a few hundred; a longer answer is cut
# there and fails its parse. The port may have been taken by another local process, which may answer anything: its
# answer is parsed by the bounded parser (200 KB of "[" overflowed json.loads's C stack).
_MOST_BYTES = 1 << 20


def rpc_ready(url: str, timeout: float = 0.5) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return "result" in json_loads(response.read(_MOST_BYTES))  # whatever took the port may answer
    except (OSError, ValueError):
        return False


def node_environment() -> dict[str, str]:
    """The environment of the node: ours without the ledger's settings and secrets."""
    return {name: value for name, value in os.environ.items() if not name.startswith("LEDGER_")}


def _rpc(url: str, method: str, params: list[object], timeout: float = 5.0) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json_loads(response.read(_MOST_BYTES))
    except (OSError, ValueError) as exc:
        raise ChainError(f"the embedded node at {url} did not answer {method}: {exc}") from exc
    if "result" not in answer:
        raise ChainError(f"the embedded node at {url} refused {method}: {answer.get('error')}")
    return answer["result"]


# Header fields anvil's state file writes as quantities; every other field is a byte string. The file lists the
# fields in RLP order (the order of the header struct), so the block hash is keccak(rlp(values in file order)).
_QUANTITIES = frozenset(
    {"difficulty", "number", "gasLimit", "gasUsed", "timestamp", "baseFeePerGas", "blobGasUsed", "excessBlobGas"}
)


def header_hash(header: dict[str, str]) -> str:
    """The hash of a block header as anvil's state file stores it."""
    values = [int(v, 16) if k in _QUANTITIES else bytes.fromhex(v.removeprefix("0x")) for k, v in header.items()]
    return "0x" + keccak(rlp.encode(values)).hex()


def pin_genesis(state_file: Path, genesis: str | None) -> str | None:
    """Leave exactly one block 0 in ``state_file``: the one whose hash is ``genesis`` (or, with no record, the
    parent of block 1, else the oldest). Returns that block's hash (None when the file holds no block 0)."""
    return pin_and_stamp(state_file, genesis)[0]


def pin_and_stamp(state_file: Path, genesis: str | None) -> tuple[str | None, int | None]:
    """:func:`pin_genesis`, and the timestamp of the state's newest block after it (None without a state file or
    blocks): the state file is read once (some megabytes on a grown chain)."""
    try:
        state = json_loads(state_file.read_text())
    except FileNotFoundError:
        return None, None
    except ValueError as exc:
        raise ChainError(
            f"the embedded chain's state file {state_file} is unreadable ({exc}); restore it from a backup"
        ) from exc
    try:
        return _pin_genesis(state_file, state, genesis), _last_stamp(state)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ChainError(
            f"the embedded chain's state file {state_file} is not one anvil wrote ({type(exc).__name__}: {exc}); "
            "restore it from a backup"
        ) from exc


def _pin_genesis(state_file: Path, state: Any, genesis: str | None) -> str | None:
    blocks = state.get("blocks") or []
    zeros = [b for b in blocks if int(b["header"]["number"], 16) == 0]
    if not zeros:
        return None
    if genesis is None:
        parents = [b["header"]["parentHash"] for b in blocks if int(b["header"]["number"], 16) == 1]
        oldest = min(zeros, key=lambda b: int(b["header"]["timestamp"], 16))
        genesis = parents[0] if parents else header_hash(oldest["header"])
    keep = [b for b in zeros if header_hash(b["header"]) == genesis.lower()][:1]
    if not keep:
        raise ChainError(
            f"the embedded chain's state file {state_file} does not hold its genesis block {genesis}: "
            "it belongs to another chain; restore the data directory from a backup"
        )
    if len(zeros) > 1:
        state["blocks"] = [b for b in blocks if int(b["header"]["number"], 16) != 0] + keep
        tmp = state_file.with_suffix(".pin.tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(state_file)
    return genesis.lower()


def _last_stamp(state: Any) -> int | None:
    """The timestamp of the newest block (by number) of the state file's ``blocks`` (None when it lists none)."""
    blocks = state.get("blocks") or []
    if not blocks:
        return None
    newest = max(blocks, key=lambda b: int(b["header"]["number"], 16))
    return int(newest["header"]["timestamp"], 16)


def clock_flags(last_stamp: int | None, now: float, carry: int, state_file: Path) -> list[str]:
    """anvil's start options keeping the chain's clock moving on from ``last_stamp``, the state's newest block's
    timestamp, when the machine's clock ``now`` is behind it by at most ``carry`` seconds (``--timestamp``: its next
    blocks are stamped from there); none when the clock is at or past it. A ChainError when it is further behind: the
    node would stamp its next blocks before their parents."""
    if last_stamp is None or last_stamp <= int(now):
        return []
    behind = last_stamp - int(now)
    if behind <= carry:
        return ["--timestamp", str(last_stamp)]
    raise ChainError(
        f"the embedded chain's newest block (in {state_file}) is stamped {_utc(last_stamp)}, {behind} s after this "
        f"machine's clock ({_utc(int(now))}): the clock was set back since the node last ran, or was ahead when those "
        "blocks were stamped. Started now, the node would stamp its next blocks before their parents, and readings "
        "by time (`--at`, a certificate's status at a moment) would find other blocks than the chain's order gives. "
        "Correct the clock (NTP) and start again; if the clock is right and the chain's stamps ran ahead, set "
        f"LEDGER_NODE_CLOCK_CARRY_SECONDS to {behind} or more to start with the chain's clock carried on from its "
        f"newest block (its blocks then stamped {behind} s ahead of this clock). Within {carry} s it is carried on "
        "by itself"
    )


def _utc(stamp: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_node(pid: int) -> bool:
    """Whether ``pid`` is a running anvil (where /proc tells; elsewhere: whether it runs at all)."""
    if not _pid_alive(pid):
        return False
    try:
        return b"anvil" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


class EmbeddedNode:
    """Start or attach to the anvil node of a data directory."""

    def __init__(
        self,
        chain_dir: Path,
        *,
        anvil: Path | None = None,
        state_interval: int = STATE_INTERVAL,
        clock_carry: int = DEFAULT_NODE_CLOCK_CARRY_SECONDS,
    ) -> None:
        """``state_interval``: seconds between the node's writes of its state file when this object starts it (the
        ledger always uses :data:`STATE_INTERVAL`; the test suite's session chain, never killed, writes less often).
        ``clock_carry``: the most seconds the machine's clock may be behind the state's newest block at a start for
        the node to carry the chain's clock on from it (:func:`clock_flags`); further behind, the start is refused."""
        if isinstance(state_interval, bool) or not isinstance(state_interval, int) or state_interval < 1:
            raise ValueError(f"state_interval must be a whole number of seconds of at least 1, not {state_interval!r}")
        if isinstance(clock_carry, bool) or not isinstance(clock_carry, int) or clock_carry < 0:
            raise ValueError(f"clock_carry must be a whole number of seconds of at least 0, not {clock_carry!r}")
        self.chain_dir = chain_dir
        self.anvil = anvil
        self.state_interval = state_interval
        self.clock_carry = clock_carry
        self.url: str | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def state_file(self) -> Path:
        return self.chain_dir / "state.json"

    @property
    def genesis_file(self) -> Path:
        return self.chain_dir / "genesis.json"

    def recorded_genesis(self) -> str | None:
        """The genesis hash recorded at the chain's first start (None before it)."""
        try:
            return str(json_loads(self.genesis_file.read_text())["hash"]).lower()
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise ChainError(f"{self.genesis_file} is unreadable ({exc}); restore it from a backup") from exc

    @property
    def info_file(self) -> Path:
        return self.chain_dir / "node.json"

    @property
    def owned(self) -> bool:
        return self._process is not None

    def start(self, timeout: float = 30.0) -> str:
        self.chain_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.chain_dir / "node.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            url = self._running_url()
            if url:
                self.url = url
                return url
            recorded = self.recorded_genesis()
            pinned, last_stamp = pin_and_stamp(self.state_file, recorded)
            expected = pinned or recorded
            clock = clock_flags(last_stamp, time.time(), self.clock_carry, self.state_file)
            had_state = self.state_file.exists()
            port = _free_port(self._previous_port())
            url = f"http://127.0.0.1:{port}"
            log = open(self.chain_dir / "anvil.log", "ab")  # noqa: SIM115 - the node writes to it while it runs
            self._process = subprocess.Popen(
                [
                    str(tool_path("anvil", self.anvil)),
                    "--port",
                    str(port),
                    "--state",
                    str(self.state_file),
                    *ANVIL_FLAGS,
                    "--state-interval",
                    str(self.state_interval),
                    *clock,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=node_environment(),
                start_new_session=True,
            )
            log.close()
            deadline = time.monotonic() + timeout
            while not rpc_ready(url):
                if self._process.poll() is not None:
                    tail = (self.chain_dir / "anvil.log").read_text(errors="replace")[-2000:]
                    self._process = None
                    raise ChainError(f"the embedded anvil node exited at start:\n{tail}")
                if time.monotonic() > deadline:
                    self.stop()
                    raise ChainError(f"the embedded anvil node did not answer on {url} within {timeout} s")
                time.sleep(0.05)
            self._check_genesis(url, expected, had_state)
            self.info_file.write_text(json.dumps({"pid": self._process.pid, "url": url}))
            self.url = url
            return url

    def _check_genesis(self, url: str, expected: str | None, had_state: bool) -> None:
        block = _rpc(url, "eth_getBlockByNumber", ["0x0", False])
        found = str(block["hash"]).lower() if isinstance(block, dict) else None
        if expected is not None and found != expected:
            self.stop()
            why = "was altered" if had_state else "is missing"
            raise ChainError(
                f"the embedded node started with genesis {found}, not the chain's genesis {expected} "
                f"recorded in {self.genesis_file}: its state file {self.state_file} {why}. Restore it "
                f"from a backup; to start a new chain on purpose, remove {self.genesis_file} too"
            )
        if had_state and not self.genesis_file.exists():  # recorded once a state file holds it: a crash before the
            tmp = self.genesis_file.with_suffix(".tmp")  # first dump leaves nothing to keep, and nothing recorded
            tmp.write_text(json.dumps({"hash": found, "chain_id": CHAIN_ID}))
            tmp.replace(self.genesis_file)

    def _running_url(self, wait: float = 30.0) -> str | None:
        """The URL of this data directory's node if it is running. A node that is running but slow to answer (a
        loaded machine) is waited for, never replaced: a second node on the same state file would read it while the
        first writes it."""
        try:
            info = json_loads(self.info_file.read_text())
            pid, url = int(info["pid"]), str(info["url"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        deadline = time.monotonic() + wait
        while _is_node(pid):
            if rpc_ready(url, timeout=2.0):
                return url
            if time.monotonic() > deadline:
                raise ChainError(
                    f"the embedded node of {self.chain_dir} (process {pid}, {url}) is running but did "
                    f"not answer within {wait:.0f} s; the machine may be overloaded: try again, or stop "
                    f"that process"
                )
            time.sleep(0.2)
        return None

    def _previous_port(self) -> int | None:
        """The port of the node that last ran on this data directory: processes still attached to it
        (after a crash or a restart of the node) reconnect without being told a new address."""
        try:
            return int(json_loads(self.info_file.read_text())["url"].rsplit(":", 1)[1])
        except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
            return None

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the node if this object started it; a clean stop writes the state file."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """Kill the node hard (tests of crash recovery): no final state dump."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()
