"""Helpers and fixtures that several test modules use (from tests/test_crash.py: no test module
imports another)."""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import locale
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select

from ledger.client import Ledger
from ledger.config import REPO_ROOT
from ledger.formats.canonical import hex32
from ledger.onchain.node import BLOCK_TIME, STATE_HISTORY
from ledger.services import issuance
from ledger.services.reconcile import chain_anchors, reconcile
from ledger.services.verify import ChainView, verify_certificate
from ledger.storage.store import Batch, BatchState, Certificate

from .conftest import PASSPHRASE, mining_mode_changed, paused_nodes


def env_for(ledger: Ledger, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "LEDGER_DATA_DIR": str(ledger.settings.data_dir),
        "LEDGER_PASSPHRASE": PASSPHRASE,
        "LEDGER_DATABASE_URL": ledger.settings.database_url or "",
        **extra,
    }


def run_cli(ledger: Ledger, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return ledger_process(args, env=env_for(ledger, **extra))


def ledger_process(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    input: str | None = None,
    cwd: str | Path | None = None,
    timeout: float = 180,
    module: str = "ledger.cli",
    kind: str = "cli",
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run([python, "-m", "ledger.cli", *args], capture_output=True, text=True, ...)``: the command
    runs in a process of its own, forked from a server that has already imported the library
    (tests/cli_zygote.py), unless the interpreter would start differently for this environment or
    ``LEDGER_TEST_CLI_FORK=0`` asks for a fresh interpreter each time. ``module`` and ``kind`` run another module
    to its end the same way, e.g. ``module="api", kind="gateway"`` for a gateway expected to exit at start."""
    command = [sys.executable, "-m", module, *args]
    if not _same_interpreter(env, kind):
        return subprocess.run(
            command, capture_output=True, text=True, env=dict(env), input=input, cwd=cwd, timeout=timeout
        )
    scratch = Path(tempfile.mkdtemp(prefix="ledger-cli-"))
    try:
        streams = {name: scratch / name for name in ("stdin", "stdout", "stderr")}
        for path in streams.values():
            path.touch()
        if input is not None:
            streams["stdin"].write_text(input, encoding=locale.getpreferredencoding(False))
        process = fork_command(
            kind,
            module,
            args,
            env=env,
            cwd=cwd,
            stdin=streams["stdin"] if input is not None else None,
            stdout=streams["stdout"],
            stderr=streams["stderr"],
        )
        try:
            returncode = process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = _text(streams["stdout"]), _text(streams["stderr"])
            raise subprocess.TimeoutExpired(command, timeout, stdout, stderr) from None
        finally:
            process.close()
        return subprocess.CompletedProcess(command, returncode, _text(streams["stdout"]), _text(streams["stderr"]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class ForkedProcess:
    """What ``subprocess.Popen`` offers of a process, for a command the fork server (tests/cli_zygote.py) runs:
    ``pid``, ``args``, ``returncode``, ``poll()``, ``wait(timeout)``, ``send_signal()``, ``terminate()``,
    ``kill()`` and, for ``stdout=PIPE`` or ``stderr=PIPE``, ``stdout`` or ``stderr`` (text, the locale's encoding,
    universal newlines).

    The command is not this process's child, so its status comes from the server's supervisor, which waits for it
    and writes ``{"returncode": N}`` on the connection this object keeps open. Signals go through a pidfd taken
    right after the server named the pid, so a signal sent after the command ended (the supervisor reaped it and the
    pid may be reused) reaches nobody, as ``Popen.send_signal`` after ``poll()`` does."""

    def __init__(
        self, conn: socket.socket, args: list[str], stderr: IO[str] | None, stdout: IO[str] | None = None
    ) -> None:
        self.args = args
        self.stderr = stderr
        self.stdout = stdout
        self.returncode: int | None = None
        self._conn = conn
        self._buffer = b""
        self._lock = threading.Lock()
        conn.settimeout(60)
        self.pid = int(json.loads(self._line())["pid"])
        self._pidfd: int | None = None
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            pass  # it has already ended: poll() will say so, a signal reaches nobody
        except (AttributeError, OSError):  # no pidfd on this kernel: plain kill(2), as Popen
            self._pidfd = -1

    def _line(self) -> bytes:
        while b"\n" not in self._buffer:
            chunk = self._conn.recv(4096)
            if not chunk:
                raise RuntimeError(f"the command server lost the command {self.args}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def _status(self, timeout: float | None) -> int | None:
        with self._lock:
            if self.returncode is None:
                self._conn.settimeout(timeout)
                try:
                    self.returncode = int(json.loads(self._line())["returncode"])
                except (TimeoutError, BlockingIOError):
                    return None
                self.close()
            return self.returncode

    def poll(self) -> int | None:
        return self._status(0)

    def wait(self, timeout: float | None = None) -> int:
        returncode = self._status(timeout)
        if returncode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is not None or self._pidfd is None:
            return
        try:
            if self._pidfd == -1:
                os.kill(self.pid, sig)
            else:
                signal.pidfd_send_signal(self._pidfd, sig)
        except ProcessLookupError:
            pass  # it ended since: as Popen, nothing to do

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def close(self) -> None:
        """Let go of the server's connection and the pidfd (the status is known, or nobody will ask again)."""
        self._conn.close()
        if self._pidfd is not None and self._pidfd >= 0:
            os.close(self._pidfd)
        self._pidfd = None


def fork_command(
    kind: str,
    module: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | Path | None = None,
    stdin: Path | None = None,
    stdout: Path | int | None = None,
    stderr: Path | int | None = None,
) -> ForkedProcess:
    """``python -m MODULE ARGS`` run by the fork server of ``kind`` ("cli": the library preloaded; "gateway": the
    gateway's packages too). Streams: a file (stdout and stderr truncated), None (``/dev/null``) or, for stdout and
    stderr, ``subprocess.PIPE`` (read it from the result's ``stdout`` or ``stderr``). Callers check
    ``_same_interpreter(env, kind)`` first: the server's interpreter started with the settings ``kind`` names."""
    passed: list[int] = []
    readers: dict[str, IO[str]] = {}
    streams: dict[str, Any] = {}
    for name, stream in (("stdout", stdout), ("stderr", stderr)):
        if stream == subprocess.PIPE:
            read_end, write_end = os.pipe()
            streams[name] = {"fd": len(passed)}
            passed.append(write_end)
            # as Popen(stderr=PIPE, text=True) makes it: a buffered reader in the locale's encoding, universal newlines
            readers[name] = io.TextIOWrapper(open(read_end, "rb"), encoding=locale.getpreferredencoding(False))  # noqa: SIM115
        else:
            streams[name] = str(stream) if stream is not None else None
    request = {
        "module": module,
        "args": list(args),
        "env": dict(env),
        "cwd": str(Path(cwd) if cwd is not None else Path.cwd()),
        "umask": _umask(),
        "stdin": str(stdin) if stdin is not None else None,
        **streams,
    }
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(_zygote(kind))
        socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], passed)
        return ForkedProcess(conn, [sys.executable, "-m", module, *args], readers.get("stderr"), readers.get("stdout"))
    except BaseException:
        conn.close()
        for reader in readers.values():
            reader.close()
        raise
    finally:
        for fd in passed:  # the server holds its own copy now (SCM_RIGHTS): only the command writes to the pipe
            os.close(fd)


def _umask() -> int:
    """This process's umask, read without setting it (os.umask would change it for every thread meanwhile)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    raise RuntimeError("no Umask in /proc/self/status")


def _text(path: Path) -> str:
    """A captured stream as ``subprocess.run(text=True)`` gives it: the locale's encoding, universal newlines."""
    data = path.read_bytes().decode(locale.getpreferredencoding(False))
    return data.replace("\r\n", "\n").replace("\r", "\n")


def _interpreter_settings(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(("PYTHON", "LC_")) or k in ("LANG", "LANGUAGE")}


# One server per kind of command: "cli" starts with this process's own environment; "gateway" as the tests start a
# gateway (tests/gateway_process.py: PYTHONUNBUFFERED=1, so its log reaches the test as it is written), with the
# gateway's packages preloaded. An opt-out variable per kind starts a fresh interpreter for every command instead.
_KINDS: dict[str, tuple[dict[str, str], str, tuple[str, ...]]] = {  # environment, opt-out, server's arguments
    "cli": ({}, "LEDGER_TEST_CLI_FORK", ()),
    "gateway": ({"PYTHONUNBUFFERED": "1"}, "LEDGER_TEST_GATEWAY_FORK", ("gateway",)),
}
_ZYGOTES: dict[str, dict[str, Any]] = {}
_ZYGOTE_LOCK = threading.Lock()


def _server_env(kind: str) -> dict[str, str]:
    started = _ZYGOTES.get(kind)
    return dict(started["env"]) if started else {**os.environ, **_KINDS[kind][0]}


def _same_interpreter(env: Mapping[str, str], kind: str = "cli") -> bool:
    """Whether ``kind``'s fork server may run a command with ``env``: its interpreter would start as a fresh one
    with ``env`` does (the same PYTHON* and locale variables), and ``kind``'s opt-out is not set."""
    opt_out = _KINDS[kind][1]
    return os.environ.get(opt_out) != "0" and _interpreter_settings(env) == _interpreter_settings(_server_env(kind))


def _zygote(kind: str = "cli") -> str:
    """The socket of this test process's command server of ``kind``, started on first use."""
    with _ZYGOTE_LOCK:
        started = _ZYGOTES.get(kind)
        if started is None or started["process"].poll() is not None:
            home = Path(tempfile.mkdtemp(prefix=f"ledger-zygote-{kind}-"))
            path = str(home / "socket")
            env = _server_env(kind) if started is None else dict(started["env"])
            process = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("cli_zygote.py")), path, *_KINDS[kind][2]],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=(home / "stderr").open("wb"),
                env=env,
            )
            assert process.stdout is not None
            if process.stdout.readline() != b"ready\n":
                raise RuntimeError(f"the {kind} command server did not start: {(home / 'stderr').read_text()}")
            process.stdout.close()
            atexit.register(_stop_zygote, process, home)
            started = _ZYGOTES[kind] = {"socket": path, "process": process, "env": env}
        return str(started["socket"])


def _stop_zygote(process: subprocess.Popen[bytes], home: Path) -> None:
    process.kill()
    process.wait()
    shutil.rmtree(home, ignore_errors=True)


def crash_worker(ledger: Ledger, source: Path, department: str) -> subprocess.Popen[str] | ForkedProcess:
    """scripts/crash_worker.py issuing ``source`` in batches of three in a process of its own (tests/test_crash.py
    kills it at random points, tests/test_postgres.py runs several at once): forked from the command server (as
    ``python -m scripts.crash_worker`` from the repository), which spares it ~2 CPU-s of imports and starts it at
    once, instead of ~2 s later."""
    args = [str(source), department, "3"]
    env = env_for(ledger)
    if _same_interpreter(env):
        return fork_command(
            "cli", "scripts.crash_worker", args, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    return subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "scripts" / "crash_worker.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def assert_anchored_exactly_once(ledger: Ledger, department: str, ids: set[str], *, verify: bool = True) -> None:
    """Every id stored once, every batch confirmed, every root anchored on chain exactly once, all verify."""
    with ledger.engine.connect() as conn:
        stored = (
            conn.execute(select(Certificate.certificate_id).where(Certificate.department_id == department))
            .scalars()
            .all()
        )
        batches = conn.execute(
            select(Batch.root, Batch.state, Batch.count, Batch.block_hash).where(Batch.department_id == department)
        ).all()
    assert Counter(stored) == Counter(ids), "a certificate id is missing or stored twice"
    assert all(state == BatchState.CONFIRMED for _, state, _, _ in batches), batches
    assert sum(count for _, _, count, _ in batches) == len(ids)
    anchored = Counter(hex32(root) for root, _ in chain_anchors(ledger, {department}))
    assert all(n == 1 for n in anchored.values()), "a root was anchored twice"
    assert set(anchored) == {root for root, _, _, _ in batches}, "DB batches and chain anchors differ"
    for root, _, _, block_hash in batches:
        event = issuance.anchor_event(ledger, bytes.fromhex(root[2:]))
        assert event is not None and event["block_hash"] == block_hash, "a confirmed batch's block is not canonical"
    if verify:
        view = ChainView(ledger.chain, ledger.settings.confirmations)
        for certificate_id in ids:
            report = verify_certificate(issuance.export_document(ledger, certificate_id, department), view)
            assert report.ok, report.to_json()
    report = reconcile(ledger, departments=[department])
    assert report.ok and not report.pending, report.text()


_MINING_MODE_CALLS = frozenset(
    {"evm_setIntervalMining", "evm_setAutomine", "anvil_setIntervalMining", "anvil_setAutomine"}
)


def rpc(ledger: Ledger, method: str, *params: Any) -> Any:
    """Test only: a node control call (evm_snapshot, anvil_dropAllTransactions, ...); raises on error. A call that
    changes the node's mining mode has the node of a module's ``ledger`` restarted in its own mode when the test ends
    (conftest.py ``mining_mode_changed``)."""
    if method in _MINING_MODE_CALLS:
        mining_mode_changed(ledger)
    answer = ledger.chain.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer["result"]


def drop_older_states(ledger: Ledger) -> None:
    """Test only: mine more empty blocks at once than the embedded node keeps the states of (``STATE_HISTORY``,
    node.py), so it keeps no state of any block up to the head before the call: a node that dropped the witnessed
    block's state, as every node does some time after it (Besu after some 512 blocks)."""
    rpc(ledger, "anvil_mine", hex(STATE_HISTORY + 1))


@contextlib.contextmanager
def mining_paused(ledger: Ledger) -> Iterator[None]:
    """The node mines only for transactions while the test reads state at its head, so the test decides which blocks
    are mined (the embedded node keeps the states of ``STATE_HISTORY`` blocks below its head only, node.py). The
    node mines every ``BLOCK_TIME`` seconds again afterwards, and is restarted in its own mixed mode when the test
    ends (``rpc``: no call gives that mode back). Nested blocks (a test's own inside
    ``witness_support.serve_witness``'s) keep the pause until the outermost ends."""
    where = str(ledger.settings.data_dir)
    depth = paused_nodes.setdefault(where, [0])  # forgotten when the test ends (conftest.py), whatever was left open
    if not depth[0]:
        rpc(ledger, "evm_setIntervalMining", 0)
        rpc(ledger, "evm_setAutomine", True)  # setting the interval switched every kind of mining off
    depth[0] += 1
    try:
        yield
    finally:
        depth[0] -= 1
        if not depth[0] and paused_nodes.get(where) is depth:  # not a block a failed test left, closed later
            del paused_nodes[where]
            rpc(ledger, "evm_setIntervalMining", BLOCK_TIME)


def cli_in_process(ledger: Ledger, monkeypatch: Any, capsys: Any, *args: str) -> tuple[int, str, str]:
    """``ledger ARGS`` in this process (``ledger.cli.main``), on the session ledger's data directory and database:
    (exit code, standard output, standard error)."""
    from ledger.cli import main as cli_main

    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    if ledger.settings.database_url:
        monkeypatch.setenv("LEDGER_DATABASE_URL", ledger.settings.database_url)
    else:
        monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    capsys.readouterr()
    code = cli_main(["--data-dir", str(ledger.settings.data_dir), *args])
    out, err = capsys.readouterr()
    return code, out, err
