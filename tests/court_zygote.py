"""Test support: scripts/verify_evidence.py (the court's verifier) run in a process of its own per call, without
paying the interpreter's start-up and the script's loading each time.

The suite runs the court's verifier a few hundred times per pass (tests/evidence_support.py ``standalone``), each a
fresh ``python -I -S`` that spent ~0.09 CPU-s starting and loading the 4,000-line script before verifying anything.
This server (started ``python -I -S`` too, so nothing but the standard library can be imported, as for the script
itself) loads the script once, then forks one process per call: the call still runs in a process of its own, with
the caller's arguments, environment, working directory and umask, its own standard output and error (captured at
the descriptor level) and its own exit status; the script's module is as the import left it, never as an earlier
call left it (each call's changes die with its process). Only imports run before the fork: no connection, thread or
open file but the protocol's pipes is shared, and a verifier that crashes or is killed takes only its own process.

What a call observes is what ``python scripts/verify_evidence.py ARGS`` gives: the exit code of ``sys.exit(main())``
(an uncaught exception: its traceback on standard error through ``sys.excepthook`` and exit status 1, or for a
``KeyboardInterrupt`` SIGINT after it; a ``SystemExit``: its code as the interpreter reads it; a signal: the negative
signal number, as ``subprocess`` says it) and ``argparse`` naming the script (``sys.argv[0]``). The one difference:
the script's module is named ``verify_evidence``, not ``__main__`` (as in tests/court_batch.py).

Protocol (``court_zygote.py REQUESTS REPLIES``: two pipe descriptors the client passes): one JSON line per call,
``{"args", "env", "cwd", "umask"}``; the server answers ``{"pid": N}`` when the call's process exists, then
``{"returncode": N, "stdout": TEXT, "stderr": TEXT, "cpu": SECONDS}`` when it has ended (the streams' bytes as
Latin-1 text, decoded by the client as ``subprocess.run(text=True)`` does; the CPU time of the call's process).
End of file on REQUESTS ends the server.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "verify_evidence.py"


def _load() -> Any:
    spec = importlib.util.spec_from_file_location("verify_evidence", SCRIPT)
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    sys.modules["verify_evidence"] = script
    spec.loader.exec_module(script)
    return script


def _exit_code(exc: SystemExit) -> int:
    """The status the interpreter exits with for an uncaught ``exc`` (Python/pythonrun.c handle_system_exit)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF  # what exit(3) hands the parent
    print(exc.code, file=sys.stderr)
    return 1


def _call(script: Any, request: dict[str, Any], replies: int, requests: int, out: int, err: int) -> None:
    """In the forked process: become the call's process, run the verifier, exit with its status. Never returns."""
    code = 1
    try:
        os.close(replies)
        os.close(requests)
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.close(out)
        os.close(err)
        os.chdir(request["cwd"])
        os.umask(request["umask"])  # a fresh process inherits the test's umask of now, not the server's
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()  # what the C library and time.localtime read TZ into, as a fresh interpreter's start does
        tempfile.tempdir = None  # gettempdir() reads TMPDIR again
        sys.argv = [str(SCRIPT), *request["args"]]  # argparse names the script in its messages, as when it is run
        try:
            code = _exit_code(SystemExit(script.main(request["args"])))
        except SystemExit as exc:
            code = _exit_code(exc)
        except BaseException as exc:  # noqa: BLE001 - what the interpreter does with an uncaught exception
            sys.excepthook(*sys.exc_info())
            code = 1
            if isinstance(exc, KeyboardInterrupt):  # the interpreter ends by SIGINT then (Modules/main.c)
                sys.stdout.flush()
                sys.stderr.flush()
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGINT)
    except BaseException:  # noqa: BLE001 - the server's own plumbing failed in this process: say so, exit 1
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode("latin-1")


def serve(requests: int, replies: int) -> None:
    script = _load()
    answer = os.fdopen(replies, "w", encoding="utf-8", closefd=False)
    for line in os.fdopen(requests, "r", encoding="utf-8", closefd=False):
        request = json.loads(line)
        out, err = os.memfd_create("stdout"), os.memfd_create("stderr")
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _call(script, request, replies, requests, out, err)
        answer.write(json.dumps({"pid": pid}) + "\n")
        answer.flush()
        _, status, usage = os.wait4(pid, 0)
        reply = {
            "returncode": os.waitstatus_to_exitcode(status),
            "stdout": _read(out),
            "stderr": _read(err),
            "cpu": usage.ru_utime + usage.ru_stime,  # seconds the call's process took (for measurements)
        }
        answer.write(json.dumps(reply) + "\n")
        answer.flush()


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
