"""A real gateway: ``uvicorn api.main:app`` in its own process, on the session's data directory.

The process opens the ledger from the environment like production: it attaches to the session's anvil node
(``chain/node.json``), reads the deployment and the database of the data directory and unlocks the keys with
LEDGER_PASSPHRASE. Each gateway is told its public URL (``LEDGER_API_PUBLIC_URL``), which sign-in binds to.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from ledger.client import Ledger

from .conftest import PASSPHRASE

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gateway:
    """``with Gateway(ledger, public_url=...) as gw: gw.client.get(...)``; stopped (SIGTERM, then kill) on exit."""

    def __init__(self, ledger: Ledger, *, public_url: str | None = None, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.public_url = public_url or self.url
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_API_")}
        self.env.update({
            "LEDGER_DATA_DIR": str(ledger.settings.data_dir),
            "LEDGER_PASSPHRASE": PASSPHRASE,
            "LEDGER_API_PUBLIC_URL": self.public_url,
            "LEDGER_API_ANCHOR_INTERVAL_SECONDS": "0",
            "LEDGER_API_PUBLIC_BURST": "1000000",
            **env,
        })
        if ledger.settings.database_url:
            self.env["LEDGER_DATABASE_URL"] = ledger.settings.database_url
        self.process: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(base_url=self.url, timeout=60)

    def __enter__(self) -> Gateway:
        log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"gateway-{self.port}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "warning"], cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 180  # start-up, not a timed assertion: imports on a busy machine
        while True:
            if self.process.poll() is not None:
                self.client.close()
                raise AssertionError(f"the gateway exited at start (log {log.name}):\n"
                                     + Path(log.name).read_text(errors="replace")[-3000:])
            try:
                if self.client.get("/openapi.json").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise AssertionError(f"the gateway did not answer on {self.url}")
            time.sleep(0.1)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.client.close()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
