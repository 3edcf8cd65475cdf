"""A real gateway process for the tests that attack it: ``python -m api`` (uvicorn, the production entry point)
on 127.0.0.1, opening the session's ledger (the same embedded anvil node and database) from the environment.

The process is started with the settings a test passes (``LEDGER_API_*``) and stopped when the test's fixture
ends; ``alive()`` tells whether it survived. Nothing is mocked: requests go over TCP through uvicorn's parser.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from ledger.client import Ledger

from .conftest import PASSPHRASE

REPO_ROOT = Path(__file__).resolve().parent.parent
STARTED = "Application startup complete"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gateway:
    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url
        self.output: list[str] = []
        self.started = threading.Event()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:  # uvicorn logs to stderr; a full pipe would block the server
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.output.append(line)
            if STARTED in line:
                self.started.set()
        self.started.set()  # the process ended (failed start): stop waiting

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=options.pop("timeout", 60), **options)

    def alive(self) -> bool:
        """The process still runs and answers."""
        if self.process.poll() is not None:
            return False
        with self.client() as c:
            return c.get("/openapi.json").status_code == 200

    def log(self) -> str:
        return "".join(self.output[-200:])


@contextmanager
def gateway(ledger: Ledger, *, bare_uvicorn: bool = False, **settings: Any) -> Iterator[Gateway]:
    """Run ``python -m api`` on ``ledger``'s data directory with ``LEDGER_API_<NAME>`` set from ``settings``
    (with ``bare_uvicorn``: ``uvicorn api.main:app`` with uvicorn's defaults instead)."""
    port = _free_port()
    env = {**os.environ, "LEDGER_DATA_DIR": str(ledger.settings.data_dir), "LEDGER_PASSPHRASE": PASSPHRASE,
           "LEDGER_KEYSTORE_KDF_N": "1024", "PYTHONUNBUFFERED": "1"}
    if ledger.settings.database_url:
        env["LEDGER_DATABASE_URL"] = ledger.settings.database_url
    env.setdefault("LEDGER_API_ANCHOR_INTERVAL_SECONDS", "0")
    for name, value in settings.items():
        env[f"LEDGER_API_{name.upper()}"] = str(value)
    command = ["uvicorn", "api.main:app"] if bare_uvicorn else ["api"]
    process = subprocess.Popen([sys.executable, "-m", *command, "--port", str(port), "--log-level", "info"],
                               cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    gw = Gateway(process, f"http://127.0.0.1:{port}")
    try:
        assert gw.started.wait(120) and process.poll() is None, f"the gateway did not start:\n{gw.log()}"
        yield gw
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
