"""Gas per certificate: batched anchoring (CertificateAnchor.anchorBatch, one transaction per batch) at batch
sizes 1, 100 and 10,000 against a baseline that stores every certificate in its own transaction
(bench/contracts/PerCertificateStore.sol). Both are measured in the same run, on the same embedded anvil node,
from the gasUsed of real receipts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bench._common import DEPARTMENT, open_ledger, record, scratch_dir

BATCH_SIZES = (1, 100, 10_000)
BASELINE_CERTIFICATES = 200
BASELINE_SOURCE = Path(__file__).resolve().parent / "contracts" / "PerCertificateStore.sol"


def compile_baseline() -> dict[str, Any]:
    """Compile the baseline with the pinned solc adapter and the ledger's own compiler settings."""
    from solcx import compile_standard

    from ledger.onchain.toolchain import COMPILER_SETTINGS, SOLC

    request = {
        "language": "Solidity",
        "sources": {"PerCertificateStore.sol": {"content": BASELINE_SOURCE.read_text()}},
        "settings": COMPILER_SETTINGS,
    }
    output = compile_standard(request, solc_binary=str(SOLC))
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise RuntimeError("\n".join(e["formattedMessage"] for e in errors))
    data = output["contracts"]["PerCertificateStore.sol"]["PerCertificateStore"]
    return {"abi": data["abi"], "bytecode": data["evm"]["bytecode"]["object"]}


def _batched(ledger: Any, size: int, tag: str) -> dict[str, Any]:
    from ledger.formats.certificate import validate_record
    from ledger.services.issuance import build_batch, confirm, store_prepared, submit

    records = [validate_record(record(i, tag), i + 1) for i in range(size)]
    built = build_batch(ledger, records, DEPARTMENT)
    store_prepared(ledger, built)
    tx_hash = submit(ledger, built)
    confirm(ledger, built.root)
    receipt = ledger.chain.wait(tx_hash)
    gas = int(receipt["gasUsed"])
    return {"batch_size": size, "gas_used": gas, "gas_per_certificate": gas / size}


def _baseline(ledger: Any, n: int) -> dict[str, Any]:
    chain = ledger.chain
    w3 = chain.w3
    account = ledger.department_account(DEPARTMENT)
    artifact = compile_baseline()
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx = factory.constructor().build_transaction(
        {
            "from": account.address,
            "gasPrice": 0,
            "chainId": chain.chain_id,
            "gas": 2_000_000,
            "nonce": int(w3.eth.get_transaction_count(account.address, "pending")),
        }
    )
    chain.forget_nonce(account.address)
    deploy = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction), timeout=60, poll_latency=0.02
    )
    store = w3.eth.contract(address=deploy["contractAddress"], abi=artifact["abi"])
    hashes = [chain.send(account, store.functions.store(os.urandom(32)), gas=100_000) for _ in range(n)]
    gas = [int(chain.wait(h)["gasUsed"]) for h in hashes]
    return {
        "certificates": n,
        "transactions": n,
        "gas_used": sum(gas),
        "gas_per_certificate": sum(gas) / n,
        "min": min(gas),
        "max": max(gas),
    }


def run(quick: bool = False) -> dict[str, Any]:
    with scratch_dir("bench-gas-") as tmp:
        ledger = open_ledger(tmp / "data")
        try:
            batched = [_batched(ledger, size, f"G{size}") for size in BATCH_SIZES]
            baseline = _baseline(ledger, BASELINE_CERTIFICATES)
        finally:
            ledger.close()
    per_cert = baseline["gas_per_certificate"]
    for row in batched:
        row["baseline_ratio"] = per_cert / row["gas_per_certificate"]
        print(
            f"  batch {row['batch_size']:>6,}: {row['gas_used']:,} gas per anchoring tx, "
            f"{row['gas_per_certificate']:,.2f} gas/certificate; baseline / batched = {row['baseline_ratio']:,.2f}",
            flush=True,
        )
    print(
        f"  baseline (one tx per certificate, {baseline['certificates']} txs): {per_cert:,.0f} gas/certificate",
        flush=True,
    )
    return {"batched": batched, "baseline": baseline}


if __name__ == "__main__":
    run()
