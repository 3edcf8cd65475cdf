"""The embedded chain: an anvil node whose state lives in the data directory.

Several ledger processes share one node: the first starts it and records its port and pid in
``chain/node.json``; the others attach. The state is written every second (``--state-interval``) and on a
clean stop, so a restart keeps every anchor; after a hard kill the newest second of blocks may be lost, which
the outbox treats like a reorganisation (see docs/guarantees.md). A restarted node listens on the port of the
previous one (kept in ``chain/node.json``) when it is free, so processes attached to it carry on.

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

from .errors import ChainError
from .toolchain import tool_path

CHAIN_ID = 31337
ANVIL_FLAGS = [
    "--chain-id", str(CHAIN_ID),
    # Zero fees like a permissioned Besu network: department keys need no funding.
    "--base-fee", "0",
    "--gas-price", "0",
    # Mine each transaction at once and also every second, so a burst never sits in the pool (foundry#10122).
    "--mixed-mining",
    "--block-time", "1",
    "--state-interval", "1",
    "--silent",
]


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


def rpc_ready(url: str, timeout: float = 0.5) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return "result" in json.loads(response.read())
    except (OSError, ValueError):
        return False


def node_environment() -> dict[str, str]:
    """The environment of the node: ours without the ledger's settings and secrets."""
    return {name: value for name, value in os.environ.items() if not name.startswith("LEDGER_")}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EmbeddedNode:
    """Start or attach to the anvil node of a data directory."""

    def __init__(self, chain_dir: Path) -> None:
        self.chain_dir = chain_dir
        self.url: str | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def state_file(self) -> Path:
        return self.chain_dir / "state.json"

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
            port = _free_port(self._previous_port())
            url = f"http://127.0.0.1:{port}"
            log = open(self.chain_dir / "anvil.log", "ab")
            self._process = subprocess.Popen(
                [str(tool_path("anvil")), "--port", str(port), "--state", str(self.state_file), *ANVIL_FLAGS],
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
            self.info_file.write_text(json.dumps({"pid": self._process.pid, "url": url}))
            self.url = url
            return url

    def _running_url(self) -> str | None:
        try:
            info = json.loads(self.info_file.read_text())
        except (OSError, ValueError):
            return None
        if _pid_alive(int(info["pid"])) and rpc_ready(info["url"]):
            return str(info["url"])
        return None

    def _previous_port(self) -> int | None:
        """The port of the node that last ran on this data directory: processes still attached to it
        (after a crash or a restart of the node) reconnect without being told a new address."""
        try:
            return int(json.loads(self.info_file.read_text())["url"].rsplit(":", 1)[1])
        except (OSError, ValueError, KeyError, IndexError):
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
