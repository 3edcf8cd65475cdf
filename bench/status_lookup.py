"""Herd-private status (issue 16): what reading a department's whole status event stream costs, against one
``statusOf`` call per certificate, at 10,000 and 100,000 status events.

The events come from bench/contracts/StatusEventEmitter.sol, which emits the anchor contract's status events
(same signatures and topics) many per transaction; a view whose anchor address is the emitter then reads them
exactly as it reads the real contract's. Figures: a cold lookup (the whole stream read with eth_getLogs and
folded), a warm lookup (the stream in memory), the same stream read by the standalone court verifier on a bare
standard library, and a direct ``statusOf`` call on the real contract for comparison.

    python -m bench.status_lookup [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench._common import DEPARTMENT, open_ledger, scratch_dir

SOURCE = Path(__file__).resolve().parent / "contracts" / "StatusEventEmitter.sol"
SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "verify_evidence.py"
SIZES = (10_000, 100_000)
PER_TRANSACTION = 2_000


def _compile() -> dict[str, Any]:
    from solcx import compile_standard

    from ledger.onchain.toolchain import COMPILER_SETTINGS, SOLC

    output = compile_standard(
        {
            "language": "Solidity",
            "sources": {SOURCE.name: {"content": SOURCE.read_text()}},
            "settings": COMPILER_SETTINGS,
        },
        solc_binary=str(SOLC),
    )
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise RuntimeError("\n".join(e["formattedMessage"] for e in errors))
    data = output["contracts"][SOURCE.name]["StatusEventEmitter"]
    return {"abi": data["abi"], "bytecode": data["evm"]["bytecode"]["object"]}


def _deploy(ledger: Any) -> Any:
    chain, w3 = ledger.chain, ledger.chain.w3
    account = ledger.department_account(DEPARTMENT)
    artifact = _compile()
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx = factory.constructor().build_transaction(
        {
            "from": account.address,
            "gasPrice": 0,
            "chainId": chain.chain_id,
            "gas": 3_000_000,
            "nonce": int(w3.eth.get_transaction_count(account.address, "pending")),
        }
    )
    chain.forget_nonce(account.address)
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction), timeout=60, poll_latency=0.02
    )
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


def _load_script() -> Any:
    spec = importlib.util.spec_from_file_location("verify_evidence", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(quick: bool = False) -> dict[str, Any]:
    from ledger.onchain.chain import Chain, department_id_bytes
    from ledger.services.verify import ChainView

    sizes = (2_000, 10_000) if quick else SIZES
    results: dict[str, Any] = {"sizes": []}
    with scratch_dir("bench-status-") as tmp:
        ledger = open_ledger(tmp)
        chain = ledger.chain
        account = ledger.department_account(DEPARTMENT)
        emitter = _deploy(ledger)
        fake = Chain(chain.w3, dataclasses.replace(chain.deployment, anchor=emitter.address), artifacts=chain.artifacts)
        dept, root = department_id_bytes(DEPARTMENT), os.urandom(32)
        target = emitter.functions  # the last event's digest is the one looked up (worst case: read to the end)
        emitted = 0
        script = _load_script()
        for size in sizes:
            while emitted < size:
                n = min(PER_TRANSACTION, size - emitted)
                chain.transact(account, target.emitMany(dept, root, emitted, n))
                emitted += n
            digest = chain.w3.keccak(hexstr=("0x" + root.hex() + (size - 1).to_bytes(32, "big").hex()))
            head = chain.block_number()
            cold = []
            for _ in range(3):
                view = ChainView(fake, status_lookup="herd")
                started = time.perf_counter()
                found = view.status(DEPARTMENT, root, bytes(digest), None, head)
                cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            for _ in range(10):  # fewer than INDEX_AFTER: a longer-lived view switches to its all-department index
                view.status(DEPARTMENT, root, bytes(digest), None, head)
            warm = (time.perf_counter() - started) / 10
            standalone = []
            for _ in range(3):
                verifier = script.Verifier(
                    {
                        "chain": {"anchor_contract": emitter.address, "registry_contract": chain.deployment.registry},
                        "certificate": {"fields": {"issuer": DEPARTMENT}, "digest": "0x" + bytes(digest).hex()},
                        "anchor": {"root": "0x" + root.hex()},
                    },
                    script.Rpc(str(chain.w3.provider.endpoint_uri)),
                    anchor=None,
                    file=None,
                    confirmations=0,
                )
                verifier.head = head
                started = time.perf_counter()
                history = verifier._herd_history()
                standalone.append(time.perf_counter() - started)
            direct = []
            for _ in range(50):
                real = ChainView(chain, status_lookup="direct")  # fresh: a long-lived view switches to its index
                started = time.perf_counter()
                real.status(DEPARTMENT, root, bytes(digest), None, head)
                direct.append(time.perf_counter() - started)
            rpc, raw = script.Rpc(str(chain.w3.provider.endpoint_uri)), []
            for _ in range(50):
                started = time.perf_counter()
                rpc.call(
                    chain.deployment.anchor,
                    "statusOf(bytes32,bytes32,bytes32)",
                    ["bytes32"] * 3,
                    [dept, root, bytes(digest)],
                    ["uint8", "uint32", "uint32", "bytes32"],
                    hex(head),
                )
                raw.append(time.perf_counter() - started)
            logs = fake.w3.eth.get_logs({"address": emitter.address, "fromBlock": 0, "toBlock": head})
            wire = len(
                json.dumps(
                    [
                        {
                            k: (v.hex() if isinstance(v, bytes) else [t.hex() for t in v] if isinstance(v, list) else v)
                            for k, v in dict(log).items()
                        }
                        for log in logs
                    ]
                )
            )
            entry = {
                "events": size,
                "status_found": found[0],
                "standalone_found": script.STATUSES[history[-1][0]],
                "cold_lookup_s": min(cold),
                "warm_lookup_us": warm * 1e6,
                "standalone_cold_s": min(standalone),
                "direct_statusOf_ms": statistics.median(direct) * 1e3,
                "standalone_statusOf_ms": statistics.median(raw) * 1e3,
                "log_bytes_approx": wire,
            }
            results["sizes"].append(entry)
            print(json.dumps(entry), flush=True)
        ledger.close()
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    run(parser.parse_args().quick)
