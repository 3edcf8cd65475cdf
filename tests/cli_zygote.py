"""Test support: ``python -m ledger.cli`` without paying the interpreter's start-up for each command.

Every ``ledger`` command the tests run is a process of its own, and most of its 3 s is importing web3, eth-account
(py_ecc precomputes pairing tables at import), SQLAlchemy and alembic. This server imports them once, then forks
one process per command: the command still runs in its own process, with its own arguments, environment, working
directory, standard streams and exit status, and exits through the interpreter's normal shutdown. Nothing is run
before the fork but imports, so no connection, thread or open database is shared.

Protocol (one Unix-socket connection per command): the client sends one JSON line ``{"args", "env", "cwd", "stdin",
"stdout", "stderr"}`` (the three streams as file paths); the server answers ``{"pid": N}`` when the command's
process exists and ``{"returncode": N}`` when it has ended (negative: killed by that signal, as ``subprocess``
says it). ``tests/cli_support.py`` is the client and falls back to a real ``subprocess.run`` whenever the
interpreter itself would start differently (another PYTHON* or locale variable).
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import json
import os
import pkgutil
import signal
import socket
import sys
import types
from typing import Any

# Imports a command of any group may need; a module not listed is imported by the command itself, as usual.
_PRELOAD = ("web3", "eth_account", "sqlalchemy", "sqlmodel", "alembic", "alembic.config", "alembic.command")


def _preload() -> None:
    for name in _PRELOAD:
        importlib.import_module(name)
    import ledger

    for module in pkgutil.walk_packages(ledger.__path__, "ledger."):
        if module.name.endswith("__main__") or ".migrations." in module.name:
            continue  # ledger.cli.__main__ runs the command; alembic runs migration scripts itself
        importlib.import_module(module.name)


def _receive(conn: socket.socket) -> dict[str, Any]:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            os._exit(0)  # the client went away before sending a whole request
        data += chunk
    request: dict[str, Any] = json.loads(data)
    return request


def _serve(path: str) -> dict[str, Any]:
    """Accept commands forever; returns only in a command's own process, with its request."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped by the kernel
    listener.settimeout(2)
    parent = os.getppid()
    print("ready", flush=True)
    while True:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            if os.getppid() != parent:  # the test process is gone (killed): so is the need for this server
                os._exit(0)
            continue
        conn.settimeout(None)
        if os.fork():
            conn.close()
            continue
        # A supervisor: one per command, so commands run side by side and each reports its own status.
        listener.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        request = _receive(conn)
        pid = os.fork()
        if pid == 0:
            conn.close()
            return request
        try:
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
            _, status = os.waitpid(pid, 0)
            conn.sendall(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
            conn.close()
        except OSError:
            pass  # the client stopped listening (its timeout killed the command): nobody to tell
        os._exit(0)


def _become(request: dict[str, Any]) -> None:
    """Make this forked process look like ``python -m ledger.cli ARGS`` started with the request's settings."""
    os.chdir(request["cwd"])
    stdin = os.open(request["stdin"] or os.devnull, os.O_RDONLY)
    stdout = os.open(request["stdout"], os.O_WRONLY | os.O_TRUNC)
    stderr = os.open(request["stderr"], os.O_WRONLY | os.O_TRUNC)
    for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
        os.dup2(fd, target)
        os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    spec = importlib.util.find_spec("ledger.cli.__main__")
    assert spec is not None and spec.origin is not None
    main = types.ModuleType("__main__")
    main.__spec__, main.__file__ = spec, spec.origin  # what multiprocessing's spawn reads to start its workers
    sys.modules["__main__"] = main
    sys.argv = [spec.origin, *request["args"]]
    sys.path[0] = request["cwd"]


if __name__ == "__main__":
    sys.path[0] = os.getcwd()  # as for ``python -m``: the working directory, not tests/
    _preload()
    # What the imports made is moved out of the collector's sight (the documented use of gc.freeze before fork):
    # each command still ends through the interpreter's normal shutdown, whose collections now skip the ~150,000
    # preloaded objects it shares with the server instead of walking, and copying page by page, all of them. That
    # shutdown took 0.5 s of CPU per command; 0.08 s now.
    gc.collect()
    gc.freeze()
    command = _serve(sys.argv[1])
    _become(command)
    from ledger.cli import main as ledger_main

    sys.exit(ledger_main())
