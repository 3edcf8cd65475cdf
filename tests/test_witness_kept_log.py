"""``ledger witness collect`` keeps the log contract's proofs of the decision batches anchored since the checkpoint
before, so a decision bundle written later against a kept checkpoint proves its log batch (``witness.state.log``).

A decision bundle's log proof was asked of the node at the checkpoint's block when the bundle was written; a node
keeping the head's state only (the embedded node; Besu some 512 blocks) could no longer give it for an older
checkpoint (``--as-of-block``), and the bundle said "log batch: not proven". Collect now keeps, beside the trails' and
the registry's proofs, the proofs of every word of the records of the decision-log batches anchored since the previous
checkpoint (the newest ``MAX_KEPT_BATCHES``) and of the rule sets their departments published (the newest
``MAX_KEPT_RULE_SETS``); the producer takes the section from them, and both verifiers prove it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.client import Ledger
from ledger.onchain import logslots
from ledger.onchain.ids import department_id_bytes
from ledger.services import evidence, logchain
from ledger.services.witness import client as wclient
from ledger.services.witness.bundle import log_section

from .cli_support import drop_older_states, mining_paused, rpc
from .conftest import PASSPHRASE
from .evidence_support import decided, failed_names, standalone
from .witness_support import trusted_witness


@pytest.fixture(autouse=True)
def _passphrases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")


def test_a_decision_bundle_against_a_kept_older_checkpoint_proves_its_log_batch(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: the chain's operator, whose node need keep no old state (and none is asked of it): a bundle of an
    older checkpoint proves the decision's batch record and rule set from the proofs collect kept. The checkpoint's
    kept file names the batch; after newer blocks the node no longer proves that block, yet the bundle written
    against the checkpoint (``as_of_block``) carries ``log`` and ``registry`` from the kept proofs, and both verifiers
    pass every check under ``--require-state-proof``. The next checkpoint, with no batch anchored since, keeps no log
    batch: the file holds the batches since the checkpoint before, not every batch ever."""
    rule_set, apps = decided(ledger, fresh_department, 2)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    dept = department_id_bytes(fresh_department)
    for key, config in trusted_witness(ledger, tmp_path):
        store = wclient.CheckpointStore(ledger.settings.data_dir)
        with mining_paused(ledger):
            rpc(ledger, "evm_mine")
            collected = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
        assert collected.witnessed and collected.checkpoint is not None
        cp = collected.checkpoint.checkpoint
        kept = store.state(cp.hash_hex)
        assert kept is not None and isinstance(kept.get("log"), dict), kept and sorted(kept)
        batches = kept["log"]["batches"]
        ours = [pair for pair in batches if pair[0] == "0x" + dept.hex()]
        assert ours, batches
        assert ["0x" + dept.hex(), "0x" + bytes(rule_set.digest).hex()] in kept["log"]["rule_sets"]
        assert len(batches) <= logslots.MAX_KEPT_BATCHES
        root = bytes.fromhex(ours[-1][1][2:])
        drop_older_states(ledger)  # the node keeps no state of the checkpoint's block any more
        assert log_section(ledger.chain, cp, fresh_department, root, bytes(rule_set.digest)) is None
        bundle = evidence.decision_bundle(ledger, fresh_department, str(apps[0]["case_id"]), as_of_block=cp.height)
        assert bundle["witness"]["checkpoint"] == collected.checkpoint.note
        assert {"block", "log", "registry"} <= set(bundle["witness"]["state"]), bundle["witness"]
        path = tmp_path / "decision.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        report = evidence.verify_bundle(path, ledger.chain, witness_keys=[key], require_state_proof=True)
        _, result, stderr = standalone(ledger, path, "--witness-key", key, "--require-state-proof")
        assert result is not None, stderr
        assert report.ok and result["verified"], ([c for c in report.checks if not c.ok], failed_names(result))
        assert report.state_proof == result["state_proof"] == "proven"
        witnessed = next(c.detail for c in report.checks if c.name == "witnessed")
        assert f"under root 0x{root.hex()}" in witnessed and "publication (block" in witnessed, witnessed

        with mining_paused(ledger):
            rpc(ledger, "evm_mine")
            again = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
        assert again.witnessed and again.checkpoint is not None
        later = store.state(again.checkpoint.checkpoint.hash_hex)
        assert later is not None and later["log"]["batches"] == [] and later["log"]["since"] == cp.height, later
