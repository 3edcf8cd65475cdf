"""A real gateway process for the tests that attack it: ``python -m api`` (uvicorn, the production entry point)
on 127.0.0.1, opening the session's ledger (the same embedded anvil node and database) from the environment.

The process is started with the settings a test passes (``LEDGER_API_*``), by default forked from a server that has
already imported uvicorn, FastAPI and the library (tests/cli_zygote.py; ``LEDGER_TEST_GATEWAY_FORK=0``: a fresh
interpreter), and stopped (SIGTERM) when the test's fixture ends; ``alive()`` tells whether it survived. Nothing
is mocked: requests go over TCP through uvicorn's parser. :class:`BoundGateway` is the same process told its public
URL (``LEDGER_API_PUBLIC_URL``), which sign-in binds to, as a context manager with a ready client.
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

from .cli_support import ForkedProcess, _same_interpreter, fork_command
from .conftest import PASSPHRASE

REPO_ROOT = Path(__file__).resolve().parent.parent
# uvicorn logs this once it listens; "Application startup complete" comes before it binds the socket, so a test that
# took that line for readiness could connect before there was anything to connect to (refused, seen under load), and
# a gateway whose port was taken meanwhile logged it and then exited.
STARTED = "Uvicorn running on"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# A fresh ``python -m api`` or the same forked from the gateway command server (tests/cli_zygote.py), which has
# already imported uvicorn, FastAPI and the library: each gateway started 2 s sooner. The test sees the same
# process either way (its pid, status, signals, stderr as a pipe); LEDGER_TEST_GATEWAY_FORK=0 starts fresh
# interpreters, as does an environment with other PYTHON* or locale variables.
GatewayProcess = subprocess.Popen[str] | ForkedProcess


class Gateway:
    def __init__(self, process: GatewayProcess, url: str) -> None:
        self.process = process
        self.url = url
        self.output: list[str] = []
        self.started = threading.Event()
        self.ready = False  # uvicorn said it listens (not merely: the log ended)
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:  # uvicorn logs to stderr; a full pipe would block the server
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.output.append(line)
            if STARTED in line:
                self.ready = True
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
def gateway(
    ledger: Ledger,
    *,
    bare_uvicorn: bool = False,
    rpc_url: str | None = None,
    env_vars: dict[str, str] | None = None,
    **settings: Any,
) -> Iterator[Gateway]:
    """Run ``python -m api`` on ``ledger``'s data directory with ``LEDGER_API_<NAME>`` set from ``settings``
    (with ``bare_uvicorn``: ``uvicorn api.main:app`` with uvicorn's defaults instead; with ``rpc_url``: the
    shared chain reached at that address, as an external node, e.g. through a ``ChainRelay``; ``env_vars``:
    more environment variables, by full name)."""
    chosen = int(settings.pop("port", 0))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LEDGER_API_")},
        "LEDGER_DATA_DIR": str(ledger.settings.data_dir),
        "LEDGER_PASSPHRASE": PASSPHRASE,
        "LEDGER_KEYSTORE_KDF_N": "1024",
        "PYTHONUNBUFFERED": "1",
        **(env_vars or {}),
    }
    if ledger.settings.database_url:
        env["LEDGER_DATABASE_URL"] = ledger.settings.database_url
    env.setdefault("LEDGER_API_ANCHOR_INTERVAL_SECONDS", "0")
    if rpc_url is not None:
        env.update(LEDGER_RPC_URL=rpc_url, LEDGER_DEPLOYMENT_FILE=str(ledger.settings.deployment_path))
    for name, value in settings.items():
        env[f"LEDGER_API_{name.upper()}"] = str(value)
    # A port found free can be taken before the gateway binds it (the other CI pass starts gateways too): a port
    # this function chose is chosen again then; a port the caller chose is the caller's to retry (BoundGateway).
    for attempt in range(_PORT_ATTEMPTS):
        port = chosen or _free_port()
        gw = _start(bare_uvicorn, port, env)
        if gw.ready or chosen or not _port_taken(gw) or attempt == _PORT_ATTEMPTS - 1:
            break
        if gw.process.poll() is None:
            gw.process.kill()
        gw.process.wait()
    try:
        assert gw.ready and gw.process.poll() is None, f"the gateway did not start:\n{gw.log()}"
        yield gw
    finally:
        gw.process.terminate()
        try:
            gw.process.wait(30)
        except subprocess.TimeoutExpired:
            gw.process.kill()
            gw.process.wait()


_PORT_ATTEMPTS = 3


def _port_taken(gw: Gateway) -> bool:
    """The gateway exited because its port was in use meanwhile (uvicorn: "[Errno 98] ... address already in use")."""
    return "address already in use" in gw.log().lower()


def _start(bare_uvicorn: bool, port: int, env: dict[str, str]) -> Gateway:
    """Start the gateway on ``port`` and wait until it listens or its log ends (then until it exits, so the log is
    complete): ``ready`` says which."""
    module, *args = ["uvicorn", "api.main:app"] if bare_uvicorn else ["api"]
    args += ["--port", str(port), "--log-level", "info"]
    process: GatewayProcess
    if _same_interpreter(env, "gateway"):
        process = fork_command("gateway", module, args, env=env, cwd=REPO_ROOT, stderr=subprocess.PIPE)
    else:
        process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    gw = Gateway(process, f"http://127.0.0.1:{port}")
    if not (gw.started.wait(120) and gw.ready):  # the log ended without a start: let the process finish
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            pass
    return gw


class BoundGateway:
    """``with BoundGateway(ledger, public_url=...) as gw: gw.client.get(...)``: a gateway process that knows its
    public URL (default: its own address), with a client ready; stopped on exit. Failing to start raises
    AssertionError ("exited at start") with the process's log."""

    def __init__(self, ledger: Ledger, *, public_url: str | None = None, **env: str) -> None:
        self.ledger = ledger
        self.public_url = public_url
        self.env = {"LEDGER_API_PUBLIC_BURST": "1000000", **env}
        self._context: Any = None
        self.client: httpx.Client | None = None  # type: ignore[assignment]

    def __enter__(self) -> BoundGateway:
        for attempt in range(_PORT_ATTEMPTS):  # its public URL names its port: a port taken meanwhile, another one
            port = _free_port()
            self.url = f"http://127.0.0.1:{port}"
            env = {"LEDGER_API_PUBLIC_URL": self.public_url or self.url, **self.env}
            self._context = gateway(self.ledger, env_vars=env, port=port)
            try:
                self.process = self._context.__enter__()
                break
            except AssertionError as exc:
                if "address already in use" not in str(exc).lower() or attempt == _PORT_ATTEMPTS - 1:
                    raise AssertionError(f"the gateway exited at start: {exc}") from None
        self.client = self.process.client()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.client is not None:
            self.client.close()
        self._context.__exit__(None, None, None)


class ChainRelay:
    """A TCP relay between a gateway and the session's anvil node, so a test can take "the chain" away from the
    gateway (``cut()``: open connections dropped, new ones refused) and give it back (``restore()``) without
    stopping the node every other test uses."""

    def __init__(self, target: str) -> None:
        host, port = target.removeprefix("http://").rstrip("/").split(":")
        self.target = (host, int(port))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            if self._listener is not None:
                try:
                    self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
                except OSError:
                    pass
                self._listener.close()
                self._listener = None
            for s in self._sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
