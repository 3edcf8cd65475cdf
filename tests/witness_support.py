"""A witness (``ledger witness serve``) in a process of its own, or in this one (:func:`serve_witness`), for the
witness tests."""

from __future__ import annotations

import functools
import os
import resource
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ledger.client import Ledger
from ledger.services import status
from ledger.services.witness import client as wclient
from ledger.services.witness.rpc import Rpc
from ledger.services.witness.server import Witness, WitnessStore, make_handler

from .cli_support import (
    ForkedProcess,
    _same_interpreter,
    drop_older_states,
    fork_command,
    ledger_process,
    mining_paused,
)
from .conftest import make_records
from .evidence_support import issue, rpc_url
from .node_support import SERVER_POLL


def serve_witness(ledger: Ledger, tmp_path: Path) -> Iterator[tuple[Witness, str]]:
    """One witness (key ``court-witness``, store under ``tmp_path``) following ``ledger``'s node, served in this
    process: yields (the witness, its URL) once, and stops it after (``for running, url in serve_witness(...)``).

    The node mines only for transactions meanwhile (``mining_paused``; a test mines more blocks with ``evm_mine``, and
    ``drop_older_states`` past the states the node keeps), so the tests decide which blocks' states the node still
    has. Before the embedded node kept recent states (node.py ``STATE_HISTORY``), this pause was what kept collect's
    proofs readable: on a chain whose state had grown (one session ledger, a bare ``pytest``; or any pass on a loaded
    machine) reading them took longer than the second to the next block, each of collect's tries lost its block, and
    the checkpoint was kept without proofs (bench/analysis.md, ci9; red team round 75)."""
    store = WitnessStore(tmp_path / "witness")
    store.create_key("court-witness")
    running = Witness(store, Rpc(rpc_url(ledger)), log=lambda _line: None)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(running))
    threading.Thread(target=server.serve_forever, args=(SERVER_POLL,), daemon=True).start()
    try:
        with mining_paused(ledger):
            yield running, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def trusted_witness(ledger: Ledger, tmp_path: Path) -> Iterator[tuple[str, wclient.WitnessConfig]]:
    """A witness trusted by ``ledger`` (its witnesses.json, removed after): yields (its verifier key, the config)
    once (``for key, config in trusted_witness(...)``), the node mining only for transactions
    (:func:`serve_witness`)."""
    path = ledger.settings.data_dir / "witnesses.json"
    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        config.save(ledger.settings.data_dir)
        try:
            yield str(running.verifier), config
        finally:
            path.unlink(missing_ok=True)


def checkpoints_around_a_revocation(
    ledger: Ledger, tmp_path: Path, department: str
) -> Iterator[tuple[dict[str, Any], wclient.WitnessConfig, Any, Any]]:
    """A certificate of ``department`` issued, a checkpoint collected from one in-process witness
    (:func:`serve_witness`), the certificate revoked, a second checkpoint collected, and enough blocks mined that the
    embedded node keeps no state of the witnessed block (``drop_older_states``): yields (the certificate, the witness
    configuration, the first checkpoint, the second) once, the witness serving until the caller's loop ends."""
    (target,) = issue(ledger, tmp_path, department, make_records(1))
    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        first = wclient.collect(ledger.chain, ledger.settings.data_dir, config).checkpoint
        status.revoke(ledger, target["digest"], "fraud")
        second = wclient.collect(ledger.chain, ledger.settings.data_dir, config).checkpoint
        assert first is not None and second is not None and second.witnessed
        drop_older_states(ledger)  # the node drops the witnessed block's state
        yield target, config, first, second


def _limit_open_files(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


class WitnessProcess:
    """``ledger witness serve`` in its own process with its own key and store."""

    def __init__(self, store: Path, name: str, rpc: str, *extra: str, open_files: int | None = None) -> None:
        """``open_files``: the process's limit of open files (RLIMIT_NOFILE), so a test reaches it with a few
        hundred connections, not the thousands of the system's default."""
        self.store, self.name, self.rpc = store, name, rpc
        self._log = ""
        if not (store / "witness.key").exists():
            run = ledger_process(
                ["witness", "keygen", "--store", str(store), "--name", name], env=os.environ, timeout=60
            )
            run.check_returncode()
            self.key = run.stdout.strip()
        else:
            found = ledger_process(["witness", "key", "--store", str(store)], env=os.environ, timeout=60)
            found.check_returncode()
            self.key = found.stdout.strip()
        args = ["witness", "serve", "--store", str(store), "--rpc", rpc, *extra]
        self.process: subprocess.Popen[str] | ForkedProcess
        if open_files is None and _same_interpreter(os.environ):
            # forked from the command server, as every `ledger` command of the tests: a fresh interpreter spent ~2
            # CPU-s importing, some 30 times a pass
            self.process = fork_command(
                "cli", "ledger.cli", args, env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        else:  # a limit of open files is set in the process before it runs: a fresh one
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ledger.cli", *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                preexec_fn=None if open_files is None else functools.partial(_limit_open_files, open_files),
            )
        line = self.process.stdout.readline() if self.process.stdout else ""
        assert " listening on " in line, (line, self.process.stderr.read() if self.process.stderr else "")
        self.url = line.split(" listening on ")[1].split()[0]

    def stop(self) -> str:
        """Stop the process; its log (cosignatures and alarms)."""
        if self.process.poll() is None:
            self.process.terminate()
        if isinstance(self.process, subprocess.Popen):
            _, err = self.process.communicate(timeout=30)
            return err
        assert self.process.stdout is not None and self.process.stderr is not None
        if self.process.stderr.closed:  # stopped before: the log read then, as a second communicate() gives it
            return self._log
        with self.process.stdout, self.process.stderr:  # end-of-file once the process is gone
            self._log = self.process.stderr.read()  # the log first: a witness's standard output holds one line
            self.process.stdout.read()
        self.process.wait(30)
        return self._log

    def alarms(self) -> str:
        path = self.store / "alarms.log"
        return path.read_text() if path.exists() else ""

    def post(self, body: bytes) -> tuple[int, str, str]:
        request = urllib.request.Request(self.url + "/add-checkpoint", body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def altered_account_proof(method: str, _params: Any, answer: Any) -> Any:
    """An ``RpcProxy`` rewrite of the chain's operator: every ``eth_getProof`` answer's last account proof node has
    its last byte changed, so the proof no longer hashes up to the block's state root."""
    if method == "eth_getProof" and isinstance(answer.get("result"), dict):
        nodes = list(answer["result"]["accountProof"])
        nodes[-1] = nodes[-1][:-2] + ("00" if nodes[-1][-2:] != "00" else "01")
        return {**answer, "result": {**answer["result"], "accountProof": nodes}}
    return answer
