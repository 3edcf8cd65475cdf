"""Helpers and fixtures that several test modules use (from tests/test_evidence.py: no test module
imports another)."""

from __future__ import annotations

import atexit
import importlib.util
import io
import json
import locale
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak

from ledger.client import Ledger
from ledger.onchain.chain import Chain, connect
from ledger.services import decisions, evidence, issuance, logchain, status

from .conftest import COURT_FORK, PASSPHRASE, make_records, write_jsonl

REPO = Path(__file__).resolve().parent.parent


SCRIPT = REPO / "scripts" / "verify_evidence.py"
COURT_BATCH = Path(__file__).with_name("court_batch.py")
COURT_ZYGOTE = Path(__file__).with_name("court_zygote.py")


def rpc_url(ledger: Ledger) -> str:
    return str(ledger.chain.w3.provider.endpoint_uri)  # type: ignore[attr-defined]


def standalone(
    ledger: Ledger,
    path: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    rpc: str | None = None,
) -> tuple[int, dict[str, Any] | None, str]:
    """Run scripts/verify_evidence.py in its own process, against ``rpc`` (default: the ledger's node); (exit code,
    parsed --json output, stderr). Without ``env``
    or ``cwd``, forked from tests/court_zygote.py (``python -I -S``, the script loaded once: a process per call
    without an interpreter's start-up each time), or, when that server is busy with another thread's call, gone,
    or opted out of (``LEDGER_TEST_COURT_FORK=0``), through tests/court_batch.py (``python -I -S``: the script's
    ``main`` from its cached bytecode, so the 4,000 lines are not compiled again for each run)."""
    args = [str(path), "--rpc", rpc or rpc_url(ledger), "--json", *extra]
    forked = _COURT.run(args, timeout=300) if env is None and cwd is None and COURT_FORK else None
    if forked is not None:
        code, stdout, stderr = forked
        return code, (json.loads(stdout) if stdout.strip() else None), stderr
    launcher = [str(SCRIPT)] if env is not None or cwd is not None else ["-I", "-S", str(COURT_BATCH)]
    run = subprocess.run(
        [sys.executable, *launcher, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )
    return run.returncode, (json.loads(run.stdout) if run.stdout.strip() else None), run.stderr


def _locale_settings(env: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """What a ``python -I`` interpreter reads from its environment at start-up (stdio's encoding): PYTHON*
    variables are ignored under ``-I``."""
    return {k: v for k, v in env.items() if k.startswith("LC_") or k in ("LANG", "LANGUAGE")}


def _text(data: str) -> str:
    """A captured stream (its bytes as Latin-1 text) as ``subprocess.run(text=True)`` gives it: the locale's
    encoding, universal newlines."""
    decoded = data.encode("latin-1").decode(locale.getpreferredencoding(False))
    return decoded.replace("\r\n", "\n").replace("\r", "\n")


class _CourtServer:
    """This test process's tests/court_zygote.py, started on first use, one call at a time (a call made while
    another thread's is under way returns None: the caller starts a fresh process, as before)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._requests: io.TextIOWrapper | None = None
        self._replies: int = -1
        self._buffer = b""
        self._locale: dict[str, str] = {}

    def _start(self) -> None:
        requests_read, requests_write = os.pipe()
        replies_read, replies_write = os.pipe()
        self._locale = _locale_settings(os.environ)
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(COURT_ZYGOTE), str(requests_read), str(replies_write)],
            stdout=subprocess.DEVNULL,
            pass_fds=(requests_read, replies_write),
        )
        os.close(requests_read)
        os.close(replies_write)
        self._requests = open(requests_write, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the server
        self._replies, self._buffer = replies_read, b""

    def _stop(self) -> None:
        """Close the pipes (the server ends at the end of its requests) and wait for it."""
        if self._requests is not None:
            try:
                self._requests.close()
            except OSError:
                pass  # it is gone already
            os.close(self._replies)
        if self._process is not None:
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process, self._requests = None, None

    def _line(self, deadline: float | None) -> dict[str, Any] | None:
        """The server's next answer; None if it is not there by ``deadline`` (monotonic seconds)."""
        while b"\n" not in self._buffer:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self._replies], [], [], wait)[0]:
                return None
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise EOFError("the court verifier's server ended")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self, args: list[str], *, timeout: float) -> tuple[int, str, str] | None:
        """(exit code, stdout, stderr) of the verifier run with ``args`` in a process forked from the server; None
        when it cannot serve this call (busy, another locale than it started with, or it died: then it is started
        anew for the next call, and this one is the caller's to run in a fresh process)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if self._process is not None and _locale_settings(os.environ) != self._locale:
                return None
            if self._process is None:
                self._start()
            assert self._requests is not None
            request = {"args": args, "env": dict(os.environ), "cwd": os.getcwd(), "umask": _umask()}
            try:
                self._requests.write(json.dumps(request) + "\n")
                self._requests.flush()
                started = self._line(None)
                assert started is not None
                deadline = time.monotonic() + timeout
                ended = self._line(deadline)
                if ended is None:  # as subprocess.run's timeout: the process is killed, the caller told
                    os.kill(int(started["pid"]), signal.SIGKILL)
                    ended = self._line(None)
                    assert ended is not None
                    raise subprocess.TimeoutExpired(args, timeout, _text(ended["stdout"]), _text(ended["stderr"]))
            except (OSError, EOFError, ValueError):
                self._stop()  # a server that died mid-call is started anew for the next one
                return None
            return int(ended["returncode"]), _text(ended["stdout"]), _text(ended["stderr"])
        finally:
            self._lock.release()


def _umask() -> int:
    """This process's umask, read without setting it (os.umask would change it for every thread meanwhile)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    raise RuntimeError("no Umask in /proc/self/status")


_COURT = _CourtServer()
atexit.register(_COURT._stop)


def standalone_many(
    ledger: Ledger, paths: list[Path], processes: int = 2, *, extra: tuple[str, ...] = ()
) -> list[tuple[int, dict[str, Any] | None, str]]:
    """:func:`standalone` for each of ``paths`` (with the arguments ``extra`` after each), in order: the court's
    verifier run in ``processes`` interpreters of its own side by side (tests/court_batch.py), each bundle verified
    by a fresh call of its ``main``."""
    runner = [sys.executable, "-I", "-S", str(COURT_BATCH)]

    def run(share: list[Path]) -> list[tuple[int, dict[str, Any] | None, str]]:
        asked = "".join(json.dumps([str(p), "--rpc", rpc_url(ledger), "--json", *extra]) + "\n" for p in share)
        done = subprocess.run(runner, input=asked, capture_output=True, text=True, timeout=600)
        lines = done.stdout.splitlines()
        assert done.returncode == 0 and len(lines) == len(share), (done.returncode, done.stderr[-2000:])
        return [(code, json.loads(out) if out.strip() else None, err) for code, out, err in map(json.loads, lines)]

    with ThreadPoolExecutor(max_workers=processes) as pool:
        shares = list(pool.map(run, [paths[i::processes] for i in range(processes)]))
    ordered: list[tuple[int, dict[str, Any] | None, str]] = [(0, None, "")] * len(paths)
    for i, share in enumerate(shares):
        for j, answer in enumerate(share):
            ordered[i + j * processes] = answer
    return ordered


def cli_env(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Point the CLI at the session ledger (its database, passphrase); returns the --data-dir arguments."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)  # the vault opens certificates found by id or file
    if ledger.settings.database_url:
        monkeypatch.setenv("LEDGER_DATABASE_URL", ledger.settings.database_url)
    else:
        monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    return ["--data-dir", str(ledger.settings.data_dir)]


def failed_names(result: dict[str, Any]) -> set[str]:
    return {c["name"] for c in result["checks"] if c["result"] == "FAIL"}


def suspended_again(ledger: Ledger, tmp: Path, department: str) -> tuple[dict[str, Any], Path, int]:
    """A certificate of ``department`` suspended, reinstated and suspended again (two blocks mined after each), a
    bundle of it restating it as valid since its reinstatement (what a node moving or making up a status event would
    have it read), and the block of its last suspension: (document, the bundle's path, that block)."""
    (target, *_) = issue(ledger, tmp, department, make_records(2))

    def changed(change: Any, reason: str) -> None:
        change(ledger, target["digest"], reason)
        for _ in range(2):
            ledger.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    changed(status.suspend, "under-investigation")
    changed(status.reinstate, "grounds-resolved")
    valid_since_reinstated = evidence.certificate_bundle(ledger, target)["status"]
    assert valid_since_reinstated["status"] == "valid", valid_since_reinstated
    changed(status.suspend, "under-investigation")
    forged = evidence.certificate_bundle(ledger, target)
    assert forged["status"]["status"] == "suspended", forged["status"]
    suspended_in = int(forged["status"]["changed_in_block"])
    forged["status"] = valid_since_reinstated
    path = tmp / "restated-valid.json"
    path.write_text(json.dumps(forged), encoding="utf-8")
    return target, path, suspended_in


SUSPENDED_TOPIC = "0x" + keccak(text="CertificateSuspended(bytes32,bytes32,bytes32,uint8)").hex()
REINSTATED_TOPIC = "0x" + keccak(text="CertificateReinstated(bytes32,bytes32,bytes32,uint8)").hex()


def made_up_reinstatement(digest: str) -> Callable[[str, Any, Any], Any]:
    """An ``RpcProxy`` rewrite of the chain's operator: every ``eth_getLogs`` answer holding a suspension of
    certificate ``digest`` gets a reinstatement made up right after its last one (the log copied, its topic and log
    index changed), so a reader believing the logs alone reads the certificate valid again."""

    def made_up(method: str, _params: Any, answer: Any) -> Any:
        if method == "eth_getLogs" and isinstance(answer.get("result"), list):
            found = [log for log in answer["result"] if log["topics"][0].lower() == SUSPENDED_TOPIC]
            found = [log for log in found if str(log["topics"][1]).lower() == digest.lower()]
            if found:
                last = found[-1]
                answer["result"].append(
                    {
                        **last,
                        "topics": [REINSTATED_TOPIC, *last["topics"][1:]],
                        "logIndex": hex(int(last["logIndex"], 16) + 1),
                    }
                )
        return answer

    return made_up


def issue(ledger: Ledger, tmp: Path, department: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp / f"in-{records[0]['id']}.jsonl", records), department, out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def both(
    ledger: Ledger, bundle: Any, tmp: Path, name: str = "bundle.json", *extra: str, file: Path | None = None
) -> tuple[evidence.BundleReport, int, dict[str, Any] | None]:
    """Verify with the library and the standalone verifier; assert they agree; return both results."""
    path = tmp / name
    path.write_text(json.dumps(bundle) if not isinstance(bundle, str) else bundle, encoding="utf-8")
    report = evidence.verify_bundle(path, ledger.chain, file=file)
    code, result, stderr = standalone(ledger, path, *extra, *(["--file", str(file)] if file else []))
    assert result is not None, stderr
    assert (code == 0) == report.ok, (report.to_json(), result)
    assert failed_names(result) == {c.name for c in report.failed}, (report.to_json(), result)
    return report, code, result


def through(ledger: Ledger, url: str) -> Chain:
    """The ledger's deployment read through the node at ``url`` (a lying proxy's, say)."""
    return Chain(connect(url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)


def witnessed_both(
    ledger: Ledger,
    bundle: dict[str, Any],
    tmp: Path,
    key: str,
    *extra: str,
    node: str | None = None,
    name: str = "bundle.json",
) -> tuple[evidence.BundleReport, dict[str, tuple[bool, str]], dict[str, Any]]:
    """(the library's report, its checks {name: (passed, detail)}, the court's JSON answer) on ``bundle`` with the
    witness key ``key`` through ``node`` (default: the honest node), asserting both fail and skip the same checks."""
    path = tmp / name
    path.write_text(json.dumps(bundle), encoding="utf-8")
    chain = ledger.chain if node is None else through(ledger, node)
    report = evidence.verify_bundle(
        path, chain, witness_keys=[key], require_state_proof="--require-state-proof" in extra
    )
    _, result, stderr = standalone(ledger, path, "--witness-key", key, *extra, rpc=node)
    assert result is not None, stderr
    library = {c.name: (c.ok, c.detail) for c in report.checks}
    failed = {c.name for c in report.checks if not c.ok and not c.skipped}
    skipped = {c.name for c in report.checks if c.skipped}
    assert failed == failed_names(result), (library, result["checks"])
    assert skipped == {c["name"] for c in result["checks"] if c["result"] == "SKIP"}, (library, result["checks"])
    return report, library, result


def court_checks(result: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The court's checks {name: (result, detail)}."""
    return {c["name"]: (c["result"], c["detail"]) for c in result["checks"]}


def anchored_case(ledger: Ledger, department: str) -> str:
    """A case decided by ``department`` (two decided) and its decisions log anchored: the first case's id."""
    _, apps = decided(ledger, department, 2)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, department)
    return str(apps[0]["case_id"])


def witnessed_decision_bundle(ledger: Ledger, department: str, case_id: str) -> dict[str, Any]:
    """``case_id``'s decision bundle, proven at a block mined for it while nothing else is mined (the sections are
    proven at one block), carrying the deciding department's registry proof."""
    from .cli_support import mining_paused, rpc

    with mining_paused(ledger):
        rpc(ledger, "evm_mine")
        bundle = evidence.decision_bundle(ledger, department, case_id)
    assert "registry" in bundle["witness"]["state"], bundle.get("witness")
    return bundle


def decided(ledger: Ledger, department: str, n: int = 5) -> tuple[Any, list[dict[str, Any]]]:

    from .decision_support import applications, unique_rule_set

    rule_set = unique_rule_set(f"evidence-{department}")
    decisions.publish_rule_set(ledger, rule_set, department)
    apps = applications(n, seed=11)
    result = decisions.decide_many(ledger, department, apps, {"*": rule_set})
    assert result.count == n and result.roots
    return rule_set, apps


def load_script() -> Any:
    spec = importlib.util.spec_from_file_location("verify_evidence", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT_MODULE = load_script()


def bare(ledger: Ledger, path: Path, *extra: str) -> tuple[int, dict[str, Any] | None, str]:
    """scripts/verify_evidence.py under ``python -I -S``: no site-packages, no user site, no PYTHON* variables."""
    run = subprocess.run(
        [sys.executable, "-I", "-S", str(SCRIPT), str(path), "--rpc", rpc_url(ledger), "--json", *extra],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd=path.parent,
    )
    return run.returncode, (json.loads(run.stdout) if run.stdout.strip() else None), run.stderr
