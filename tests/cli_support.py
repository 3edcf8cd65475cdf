"""Helpers and fixtures that several test modules use (from tests/test_crash.py: no test module
imports another)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from typing import Any

from sqlalchemy import select

from ledger.client import Ledger
from ledger.formats.canonical import hex32
from ledger.services import issuance
from ledger.services.reconcile import chain_anchors, reconcile
from ledger.services.verify import ChainView, verify_certificate
from ledger.storage.store import Batch, BatchState, Certificate

from .conftest import PASSPHRASE


def env_for(ledger: Ledger, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "LEDGER_DATA_DIR": str(ledger.settings.data_dir),
        "LEDGER_PASSPHRASE": PASSPHRASE,
        "LEDGER_DATABASE_URL": ledger.settings.database_url or "",
        **extra,
    }


def run_cli(ledger: Ledger, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger.cli", *args],
        capture_output=True,
        text=True,
        env=env_for(ledger, **extra),
        timeout=180,
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


def rpc(ledger: Ledger, method: str, *params: Any) -> Any:
    """Test only: a node control call (evm_snapshot, anvil_dropAllTransactions, ...); raises on error."""
    answer = ledger.chain.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer["result"]


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
