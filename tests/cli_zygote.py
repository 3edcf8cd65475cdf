"""Test support: ``python -m ledger.cli`` and ``python -m api`` without paying the interpreter's start-up each time.

Every ``ledger`` command the tests run is a process of its own, and most of its 3 s is importing web3, eth-account
(py_ecc precomputes pairing tables at import), SQLAlchemy and alembic; every gateway the tests start is a process
too, with FastAPI and uvicorn on top. This server imports them once, then forks one process per command: the command
still runs in its own process, with its own arguments, environment, working directory, standard streams and exit
status, runs its module as ``python -m MODULE`` does (``runpy``, in a fresh ``__main__``) and exits as the
interpreter's shutdown begins (non-daemon threads joined, atexit handlers run, streams flushed; ``_run_and_exit``)
but without tearing down the modules the server preloaded. Nothing is run before the fork but imports, so no
connection, thread or open database is shared.

``cli_zygote.py SOCKET`` preloads the library; ``cli_zygote.py SOCKET gateway`` preloads the gateway's packages as
well (uvicorn, FastAPI, every ``api`` module but ``api.main``, whose module-level ``app = create_app()`` reads the
``LEDGER_API_*`` settings: the command imports it itself, after its environment is set, as ``uvicorn api.main:app``
would).

Protocol (one Unix-socket connection per command): the client sends one JSON line ``{"module", "args", "env", "cwd",
"umask", "stdin", "stdout", "stderr"}``, with the descriptors it passes (``socket.send_fds``) as ancillary data of
the line. Each stream is a file path, ``null`` (``/dev/null``) or ``{"fd": i}``: the i-th descriptor passed, e.g.
the write end of a pipe whose read end the client keeps (the server closes its copies once the command has them, so
the client sees end-of-file when the command and its children are gone). The server answers ``{"pid": N}`` when the
command's process exists and ``{"returncode": N}`` when it has ended (negative: killed by that signal, as
``subprocess`` says it). ``tests/cli_support.py`` is the client (``ledger_process``, ``fork_command``) and falls
back to a real subprocess whenever the interpreter itself would start differently (another PYTHON* or locale
variable).
"""

from __future__ import annotations

import builtins
import contextlib
import gc
import importlib
import json
import os
import pkgutil
import runpy
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
import types
from typing import Any

# Imports a command of any group may need; a module not listed is imported by the command itself, as usual.
_PRELOAD = ("web3", "eth_account", "sqlalchemy", "sqlmodel", "alembic", "alembic.config", "alembic.command")
# What ``python -m api`` and ``python -m uvicorn api.main:app`` import before the application (uvicorn's "auto"
# choices: httptools, uvloop, the websockets protocol).
_PRELOAD_GATEWAY = (
    "fastapi",
    "uvicorn",
    "uvicorn.main",
    "uvicorn.config",
    "uvicorn.server",
    "uvicorn.lifespan.on",
    "uvicorn.loops.auto",
    "uvicorn.loops.uvloop",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.protocols.http.h11_impl",
    "uvicorn.protocols.websockets.auto",
)
# Read the environment at import: the command imports them after its own environment is set.
_NOT_PRELOADED = ("api.main", "api.__main__")
_MAX_FDS = 3


def _preload(gateway: bool) -> None:
    for name in _PRELOAD:
        importlib.import_module(name)
    import ledger

    for module in pkgutil.walk_packages(ledger.__path__, "ledger."):
        if module.name.endswith("__main__") or ".migrations." in module.name:
            continue  # ledger.cli.__main__ runs the command; alembic runs migration scripts itself
        importlib.import_module(module.name)
    if not gateway:
        return
    for name in _PRELOAD_GATEWAY:
        importlib.import_module(name)
    import api

    for module in pkgutil.walk_packages(api.__path__, "api."):
        if module.name not in _NOT_PRELOADED:
            importlib.import_module(module.name)
    from api.config import get_settings

    # Checked, not assumed: a preloaded module that imported the application, or read the gateway's settings, would
    # hand every gateway the server's environment instead of its own.
    assert not set(_NOT_PRELOADED) & set(sys.modules), "the preload imported the application"
    assert get_settings.cache_info().currsize == 0, "the preload read the gateway's settings"


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    data = b""
    fds: list[int] = []
    while not data.endswith(b"\n"):
        chunk, received, _, _ = socket.recv_fds(conn, 1 << 20, _MAX_FDS)
        fds += received
        if not chunk:
            os._exit(0)  # the client went away before sending a whole request
        data += chunk
    request: dict[str, Any] = json.loads(data)
    return request, fds


def _serve(path: str) -> tuple[dict[str, Any], list[int]]:
    """Accept commands forever; returns only in a command's own process, with its request and descriptors."""
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
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the command inherits the disposition a fresh process has
        request, fds = _receive(conn)
        pid = os.fork()
        if pid == 0:
            conn.close()
            return request, fds
        for fd in fds:  # the command has them now; a pipe's reader must see its end when the command's copies close
            os.close(fd)
        try:
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
            _, status = os.waitpid(pid, 0)
            conn.sendall(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
            conn.close()
        except OSError:
            pass  # the client stopped listening (its timeout killed the command): nobody to tell
        os._exit(0)


def _stream(spec: str | dict[str, int] | None, fds: list[int], flags: int) -> int:
    if isinstance(spec, dict):
        return os.dup(fds[spec["fd"]])
    if spec is None:
        return os.open(os.devnull, flags)
    return os.open(spec, flags | (os.O_TRUNC if flags != os.O_RDONLY else 0))


def _become(request: dict[str, Any], fds: list[int]) -> str:
    """Make this forked process look like ``python -m MODULE ARGS`` started with the request's settings (up to
    running the module: returns its name)."""
    os.chdir(request["cwd"])
    if "umask" in request:  # a fresh process inherits the test's umask of now, not the server's
        os.umask(request["umask"])
    streams = [
        _stream(request.get("stdin"), fds, os.O_RDONLY),
        _stream(request["stdout"], fds, os.O_WRONLY),
        _stream(request["stderr"], fds, os.O_WRONLY),
    ]
    for target, fd in enumerate(streams):
        os.dup2(fd, target)
        os.close(fd)
    for fd in fds:
        os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()  # what the C library and time.localtime read TZ into, as a fresh interpreter's start does
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again
    main = types.ModuleType("__main__")  # runpy runs the module in it, as ``python -m`` runs it in a fresh one
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = main
    if "multiprocessing" in sys.modules:  # imported before __main__ existed, it aliased the server's
        sys.modules["__mp_main__"] = main
    sys.argv = ["-m", *request["args"]]  # runpy puts the module's file in argv[0], as ``python -m`` does
    sys.path[0] = request["cwd"]
    module: str = request.get("module", "ledger.cli")
    return module


def _exit_code(exc: SystemExit) -> int:
    """The status the interpreter exits with for an uncaught ``exc`` (Python/pythonrun.c handle_system_exit)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        # past a C long PyLong_AsLong fails and the interpreter's status is -1 (red team round 57)
        if not -(2**63) <= exc.code < 2**63:
            return 0xFF
        return exc.code & 0xFF  # what exit(3) hands the parent
    print(exc.code, file=sys.stderr)
    return 1


def _flush_std_files() -> bool:
    """Standard output and error flushed as Py_FinalizeEx's flush_std_files does: False when either could not be
    (standard output's error reported as an unraisable one, standard error's dropped), and the interpreter then exits
    120 (a command whose output was lost on a full disk or a closed pipe exited 0 here: red team round 57)."""
    flushed = True
    for stream in (sys.stdout, sys.stderr):
        if stream is None or getattr(stream, "closed", False):
            continue
        try:
            stream.flush()
        except Exception as exc:  # noqa: BLE001 - as the interpreter: any error of a flush
            flushed = False
            if stream is sys.stdout:
                with contextlib.suppress(Exception):
                    sys.stderr.write(f"Exception ignored in: {stream!r}\n")
                    traceback.print_exception(exc.with_traceback(None))
                    sys.stderr.flush()
    return flushed


def _run_and_exit(module: str) -> None:
    """Run ``module`` as ``python -m`` does (Modules/main.c: its code in __main__), then end as the interpreter's
    shutdown (Py_FinalizeEx) begins - non-daemon threads joined, atexit handlers run (logging's flush, pools'
    joins, ``weakref.finalize``), standard streams flushed, the exit status as handle_system_exit reads it - and
    stop there, with ``os._exit``, as tests/court_zygote.py does: the rest of a normal shutdown tears down every
    module, writing the refcount of each object the server preloaded, which cost each command ~0.1 CPU-s and 16,000
    copy-on-write page faults (bench/analysis.md, ci3). Never returns."""
    code = 1
    interrupted = False
    try:
        try:
            runpy._run_module_as_main(module)  # type: ignore[attr-defined]
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc)
        except BaseException as exc:  # noqa: BLE001 - what the interpreter does with an uncaught exception
            # the traceback as a fresh interpreter prints it: from runpy's frame on, without this function's
            shown = exc.with_traceback(exc.__traceback__.tb_next if exc.__traceback__ else None)
            sys.excepthook(type(shown), shown, shown.__traceback__)
            code, interrupted = 1, isinstance(exc, KeyboardInterrupt)
        threading._shutdown()  # type: ignore[attr-defined]
        import atexit

        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001 - an exception while shutting down: printed, status 1, as the interpreter does
        traceback.print_exc()
        code = 1
    finally:
        try:
            # Py_RunMain's status when Py_FinalizeEx fails: output lost is no success (red team round 57)
            if not _flush_std_files():
                code = 120
        finally:
            if interrupted:  # the interpreter ends by SIGINT then (Modules/main.c exit_sigint)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGINT)
            os._exit(code)


if __name__ == "__main__":
    sys.path[0] = os.getcwd()  # as for ``python -m``: the working directory, not tests/
    _preload(gateway=sys.argv[2:] == ["gateway"])
    assert threading.active_count() == 1, "a preloaded module started a thread: it would not survive the fork"
    # What the imports made is moved out of the collector's sight (the documented use of gc.freeze before fork):
    # each command's collections skip the ~150,000 preloaded objects it shares with the server instead of walking,
    # and copying page by page, all of them (a command's normal shutdown took 0.5 s of CPU then, 0.08-0.1 s after;
    # _run_and_exit leaves out the module teardown that was the rest).
    gc.collect()
    gc.freeze()
    command, passed = _serve(sys.argv[1])
    _run_and_exit(_become(command, passed))
