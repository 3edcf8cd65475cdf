"""Moving to a real network changes configuration only.

A separately started node stands in for a permissioned network (zero fees, another chain id); the ledger is
pointed at it with LEDGER_RPC_URL through a proxy that records every JSON-RPC method called. The whole flow runs
through the CLI: keys, deployment, council votes, issuance, verification, revocation. Outside tests the ledger
may speak only standard methods (eth_*, net_*, web3_*): no anvil_*, evm_* or debug_* call is allowed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.node import rpc_ready
from ledger.toolchain import tool_path

from .conftest import PASSPHRASE, database_url, make_records, write_jsonl
from .rpc_proxy import RpcProxy

CHAIN_ID = 4242
STANDARD_PREFIXES = ("eth_", "net_", "web3_")


@pytest.fixture()
def network(tmp_path: Path) -> Iterator[RpcProxy]:
    """A node started on its own, like a validator of the departments' network, behind the recording proxy."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    node = subprocess.Popen([str(tool_path("anvil")), "--port", str(port), "--chain-id", str(CHAIN_ID),
                             "--base-fee", "0", "--gas-price", "0", "--block-time", "1", "--mixed-mining",
                             "--silent"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            if rpc_ready(url):
                break
            threading.Event().wait(0.05)
        proxy = RpcProxy(url)
        yield proxy
        proxy.close()
    finally:
        node.terminate()
        node.wait(10)


def test_whole_flow_on_an_external_chain_uses_only_standard_json_rpc(network: RpcProxy, tmp_path: Path) -> None:
    data_dir = tmp_path / "department-node"
    env = dict(os.environ, LEDGER_DATA_DIR=str(data_dir), LEDGER_RPC_URL=network.url, LEDGER_PASSPHRASE=PASSPHRASE,
               LEDGER_DATABASE_URL=database_url(data_dir) or "", LEDGER_GAS_PRICE="0",
               LEDGER_KEYSTORE_KDF_N="1024", LEDGER_CONFIRMATIONS="1")

    def ledger(*args: str, expect: int = 0) -> str:
        done = subprocess.run([sys.executable, "-m", "ledger.cli", *args], env=env, capture_output=True, text=True,
                              timeout=180)
        assert done.returncode == expect, f"ledger {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done.stdout

    # Without a deployment the ledger says what to do instead of deploying anything by itself.
    assert "run `ledger deploy`" in subprocess.run([sys.executable, "-m", "ledger.cli", "departments"], env=env,
                                                   capture_output=True, text=True).stderr
    # Each council member's key in its own keystore under its own passphrase (side by side only in this test).
    keystores = [str(tmp_path / f"member-{i}") for i in (1, 2, 3)]

    def member(i: int, *args: str) -> str:
        saved = dict(env)
        env["LEDGER_COUNCIL_PASSPHRASE"] = f"member {i} passphrase"
        if args[0] in ("keys", "deploy"):
            env["LEDGER_PASSPHRASE"] = env["LEDGER_COUNCIL_PASSPHRASE"]
        try:
            return ledger(*args, *(("--member-keystore", keystores[i - 1]) if args[0] == "council" else ()))
        finally:
            env.clear()
            env.update(saved)

    members = [json.loads(member(i, "keys", "create", "council", "--keystore", keystores[i - 1]))["address"]
               for i in (1, 2, 3)]
    deployment = json.loads(member(1, "deploy", "--council", ",".join(members), "--threshold", "2",
                                   "--keystore", keystores[0]))
    assert deployment["chain_id"] == CHAIN_ID
    # Member 1 proposes (the department key is created in this node's keystore), member 2 approves: executed.
    proposal = json.loads(member(1, "council", "register", "HOUSING", "--name", "Housing Bureau", "--roles",
                                 "issuer,verifier"))
    assert proposal["state"] == "open"
    assert json.loads(member(2, "council", "approve", str(proposal["proposal"])))["state"] == "executed"
    assert "Housing Bureau" in ledger("departments")
    source = write_jsonl(tmp_path / "permits.jsonl", make_records(20, cert_type="housing-permit"))
    issued = json.loads(ledger("issue", str(source), "-d", "HOUSING", "--batch-size", "8",
                               "--out", str(tmp_path / "issued.jsonl")))
    assert issued["certificates"] == 20 and len(issued["transactions"]) == 3
    docs = [json.loads(line) for line in (tmp_path / "issued.jsonl").read_text().splitlines()]
    (tmp_path / "c.json").write_text(json.dumps(docs[0]))
    assert "VERIFIED" in ledger("verify", str(tmp_path / "c.json"))
    ledger("revoke", docs[0]["digest"], "--reason", "data-error")
    assert "revoked" in ledger("verify", str(tmp_path / "c.json"), expect=1)
    ledger("reconcile")  # exit code 0: database and chain agree

    non_standard = sorted(m for m in network.methods if not m.startswith(STANDARD_PREFIXES))
    assert not non_standard, f"the ledger called non-standard JSON-RPC methods: {non_standard}"
    assert network.methods["eth_sendRawTransaction"] >= 3 + 3  # anchors + deploy; every write is signed locally
    assert "eth_sendTransaction" not in network.methods  # no key lives in the node
