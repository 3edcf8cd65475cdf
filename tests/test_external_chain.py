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
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ledger.onchain.node import rpc_ready
from ledger.onchain.toolchain import tool_path

from .cli_support import ledger_process
from .conftest import PASSPHRASE, database_url, make_records, write_jsonl
from .rpc_proxy import RpcProxy

CHAIN_ID = 4242
STANDARD_PREFIXES = ("eth_", "net_", "web3_")


@contextmanager
def _node(*fees: str) -> Iterator[tuple[RpcProxy, str]]:
    """A node started on its own, like a validator of the departments' network, behind the recording proxy;
    yields the proxy and the node's own URL (for what the network's operator does, e.g. funding an account)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    node = subprocess.Popen(
        [
            str(tool_path("anvil")),
            "--port",
            str(port),
            "--chain-id",
            str(CHAIN_ID),
            *fees,
            "--block-time",
            "1",
            "--mixed-mining",
            "--max-persisted-states",  # no state files left in ~/.foundry (tests/test_node_disk.py)
            "0",
            "--silent",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            if rpc_ready(url):
                break
            threading.Event().wait(0.05)
        with RpcProxy(url) as proxy:
            yield proxy, url
    finally:
        node.terminate()
        node.wait(10)


@pytest.fixture()
def network() -> Iterator[RpcProxy]:
    """A zero-fee network (as docs/deploy.md configures Besu)."""
    with _node("--base-fee", "0", "--gas-price", "0") as (proxy, _):
        yield proxy


def test_whole_flow_on_an_external_chain_uses_only_standard_json_rpc(network: RpcProxy, tmp_path: Path) -> None:
    data_dir = tmp_path / "department-node"
    env = dict(
        os.environ,
        LEDGER_DATA_DIR=str(data_dir),
        LEDGER_RPC_URL=network.url,
        LEDGER_PASSPHRASE=PASSPHRASE,
        LEDGER_DATABASE_URL=database_url(data_dir) or "",
        LEDGER_GAS_PRICE="0",
        LEDGER_KEYSTORE_KDF_N="1024",
        LEDGER_CONFIRMATIONS="1",
    )

    def ledger(*args: str, expect: int = 0) -> str:
        done = ledger_process(args, env=env)
        assert done.returncode == expect, f"ledger {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done.stdout

    # Without a deployment the ledger says what to do instead of deploying anything by itself.
    assert "run `ledger deploy`" in ledger_process(["departments"], env=env).stderr
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

    members = [
        json.loads(member(i, "keys", "create", "council", "--keystore", keystores[i - 1]))["address"] for i in (1, 2, 3)
    ]
    deployment = json.loads(
        member(1, "deploy", "--council", ",".join(members), "--threshold", "2", "--keystore", keystores[0])
    )
    assert deployment["chain_id"] == CHAIN_ID
    # Member 1 proposes (the department key is created in this node's keystore), member 2 approves: executed.
    proposal = json.loads(
        member(1, "council", "register", "HOUSING", "--name", "Housing Bureau", "--roles", "issuer,verifier")
    )
    assert proposal["state"] == "open"
    assert json.loads(member(2, "council", "approve", str(proposal["proposal"])))["state"] == "executed"
    assert "Housing Bureau" in ledger("departments")
    # the council authorizes the type it issues (DepartmentRegistry typeHistory): the same two members
    granted = json.loads(member(1, "council", "grant-type", "HOUSING", "housing-permit"))
    assert json.loads(member(2, "council", "approve", str(granted["proposal"])))["state"] == "executed"
    assert "housing-permit" in ledger("departments")
    source = write_jsonl(tmp_path / "permits.jsonl", make_records(20, cert_type="housing-permit"))
    issued = json.loads(
        ledger("issue", str(source), "-d", "HOUSING", "--batch-size", "8", "--out", str(tmp_path / "issued.jsonl"))
    )
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


def _rpc(url: str, method: str, *params: Any) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())["result"]


def _fund(url: str, address: str) -> None:
    """The network's operator gives ``address`` 1 ether from a dev account of the node (not the ledger's doing)."""
    sender = _rpc(url, "eth_accounts")[0]
    tx = _rpc(url, "eth_sendTransaction", {"from": sender, "to": address, "value": hex(10**18)})
    for _ in range(200):
        if _rpc(url, "eth_getTransactionReceipt", tx):
            return
        threading.Event().wait(0.05)
    raise AssertionError(f"funding {address} was not mined")


def test_a_network_that_charges_gas_needs_no_fee_setting(tmp_path: Path) -> None:
    """On a network with an EIP-1559 base fee (a public-style chain, or Besu without zeroBaseFee) the ledger reads
    the node's fee model and sends type-2 transactions whose fee cap covers the base fee; no LEDGER_GAS_PRICE.
    A department key with no funds gets a clear error naming the address to fund, and loses nothing: after
    funding, `ledger resume` anchors the stored batch and every certificate verifies."""
    with _node("--base-fee", str(10**9)) as (network, node_url):
        data_dir = tmp_path / "department-node"
        env = dict(
            os.environ,
            LEDGER_DATA_DIR=str(data_dir),
            LEDGER_RPC_URL=network.url,
            LEDGER_PASSPHRASE=PASSPHRASE,
            LEDGER_COUNCIL_PASSPHRASE=PASSPHRASE,
            LEDGER_DATABASE_URL=database_url(data_dir) or "",
            LEDGER_KEYSTORE_KDF_N="1024",
            LEDGER_CONFIRMATIONS="1",
        )
        env.pop("LEDGER_GAS_PRICE", None)

        def ledger(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
            done = ledger_process(args, env=env)
            assert done.returncode == expect, f"ledger {' '.join(args)}: {done.stdout}\n{done.stderr}"
            return done

        keystore = str(tmp_path / "member")
        member = json.loads(ledger("keys", "create", "council", "--keystore", keystore).stdout)["address"]
        _fund(node_url, member)
        ledger("deploy", "--council", member, "--threshold", "1", "--keystore", keystore)
        registered = json.loads(
            ledger(
                "council",
                "register",
                "HOUSING",
                "--name",
                "Housing Bureau",
                "--roles",
                "issuer,verifier",
                "--member-keystore",
                keystore,
            ).stdout
        )
        assert registered["state"] == "executed"
        granted = ledger("council", "grant-type", "HOUSING", "housing-permit", "--member-keystore", keystore).stdout
        assert json.loads(granted)["state"] == "executed"
        department = next(line.split()[-1] for line in ledger("keys", "list").stdout.splitlines() if "HOUSING" in line)
        assert department.startswith("0x") and len(department) == 42, department

        source = write_jsonl(tmp_path / "permits.jsonl", make_records(6, cert_type="housing-permit"))
        refused = ledger("issue", str(source), "-d", "HOUSING", expect=2)
        assert f"{department} cannot pay for gas" in refused.stderr and "fund that address" in refused.stderr, (
            refused.stderr
        )
        # said at once, not after waiting out the confirmation deadline (a key with no funds stays unfunded)
        assert "did not reach" not in refused.stderr, refused.stderr
        _fund(node_url, department)
        ledger("resume")
        assert json.loads(ledger("continue", str(source), "-d", "HOUSING").stdout)["certificates"] == 0  # all stored
        first = json.loads(source.read_text().splitlines()[0])["id"]
        ledger("export", first, "-d", "HOUSING", "--out", str(tmp_path / "c.json"))
        assert "VERIFIED" in ledger("verify", str(tmp_path / "c.json")).stdout
        ledger("reconcile")

        base = int(_rpc(node_url, "eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
        assert base > 0
        mined = [
            tx
            for n in range(1, int(_rpc(node_url, "eth_blockNumber"), 16) + 1)
            for tx in _rpc(node_url, "eth_getBlockByNumber", hex(n), True)["transactions"]
            if tx["from"].lower() in (member.lower(), department.lower())
        ]
        assert mined and all(tx["type"] == "0x2" and int(tx["maxFeePerGas"], 16) >= base for tx in mined), mined
        non_standard = sorted(m for m in network.methods if not m.startswith(STANDARD_PREFIXES))
        assert not non_standard, non_standard
