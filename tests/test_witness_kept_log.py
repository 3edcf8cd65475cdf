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
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.onchain import logslots
from ledger.onchain.chain import Chain, connect
from ledger.onchain.ids import department_id_bytes
from ledger.services import decisions, evidence, logchain
from ledger.services.witness import client as wclient
from ledger.services.witness.bundle import log_section

from .cli_support import drop_older_states, mining_paused, rpc
from .conftest import PASSPHRASE
from .decision_support import applications
from .evidence_support import decided, failed_names, rpc_url, standalone
from .rpc_proxy import RpcProxy
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


def _one(case: str) -> list[dict[str, Any]]:
    """One generated application under case id ``case``."""
    return [{**applications(1)[0], "case_id": case}]


def _rule_set_scans(proxy: RpcProxy) -> tuple[int, int]:
    """(eth_getLogs calls of RuleSetPublished events, the blocks they cover in all) the proxy saw."""
    calls = span = 0
    for body in proxy.bodies:
        request = json.loads(body)
        for call in request if isinstance(request, list) else [request]:
            if call.get("method") != "eth_getLogs" or logslots.RULE_SET_TOPIC not in json.dumps(call["params"][0]):
                continue
            query = call["params"][0]
            calls += 1
            span += int(query["toBlock"], 16) - int(query["fromBlock"], 16) + 1
    return calls, span


def _collect_through(ledger: Ledger, config: wclient.WitnessConfig) -> tuple[wclient.CollectResult, tuple[int, int]]:
    with RpcProxy(rpc_url(ledger)) as node:
        counted = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
        collected = wclient.collect(counted, ledger.settings.data_dir, config)
        scans = _rule_set_scans(node)
    assert collected.witnessed and collected.checkpoint is not None, collected
    return collected, scans


def test_collects_rule_set_scan_reads_no_more_of_the_chain_when_it_grows(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: none (issue 18: no scan that grows with the chain). A collect with a new decision batch chose the
    rule sets whose proofs it keeps by scanning the departments' RuleSetPublished events from the deployment (block
    0) to the checkpoint; the list of publications is now carried forward in the kept file (``published``, with the
    block it covers) and only the blocks since the previous checkpoint are scanned. Measured through a proxy: the
    collect after 100 blocks and a batch reads the same before and after the chain grew by 1,000 blocks (this failed
    on the scan from the deployment: its span was the whole chain, growing by 1,000); and the rule set is kept."""
    rule_set, _ = decided(ledger, fresh_department, 1)
    ours = ["0x" + department_id_bytes(fresh_department).hex(), "0x" + bytes(rule_set.digest).hex()]
    for _, config in trusted_witness(ledger, tmp_path):
        wclient.collect(ledger.chain, ledger.settings.data_dir, config)
        store = wclient.CheckpointStore(ledger.settings.data_dir)

        def measure(case: str, config: wclient.WitnessConfig = config, store: Any = store) -> tuple[int, int]:
            assert decisions.decide_many(ledger, fresh_department, _one(case), {"*": rule_set}).roots  # anchored
            rpc(ledger, "anvil_mine", hex(100))
            collected, scans = _collect_through(ledger, config)
            assert collected.checkpoint is not None
            kept = store.state(collected.checkpoint.checkpoint.hash_hex)
            assert kept is not None and ours in kept["log"]["rule_sets"], kept and kept.get("log")
            assert kept["log"]["published"]["through"] == collected.checkpoint.checkpoint.height
            return scans

        before = measure("C-KEPT-31")
        rpc(ledger, "anvil_mine", hex(1000))
        wclient.collect(ledger.chain, ledger.settings.data_dir, config)  # a checkpoint at each anchoring round
        after = measure("C-KEPT-32")
        assert after == before, (before, after)
        assert before[1] <= 200, f"the rule set scan covers {before[1]} blocks, not those since the checkpoint before"


def test_a_carried_list_an_insider_edited_loses_proofs_at_worst_never_passes_what_the_chain_denies(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: an insider with access to the data directory, editing the carried list of publications in the
    previous checkpoint's kept file: the department's rule set taken out and 64 digests it never published put in
    (crowding out the newest 64). The next collect keeps no proof of the real rule set's record, so a bundle of a
    decision under it written after the node dropped the block's state carries no ``log`` section: "not proven",
    ``state_proof`` partial, and ``--require-state-proof`` fails in both verifiers - never "proven" on the edited
    list. A list that does not read as one (a ``through`` beyond the previous checkpoint) is not used: the next
    collect scans from the deployment and keeps the proof again."""
    rule_set, _ = decided(ledger, fresh_department, 1)
    dept = "0x" + department_id_bytes(fresh_department).hex()
    ours = [dept, "0x" + bytes(rule_set.digest).hex()]
    for key, config in trusted_witness(ledger, tmp_path):
        store = wclient.CheckpointStore(ledger.settings.data_dir)
        rpc(ledger, "evm_mine")
        first = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
        assert first.checkpoint is not None
        path = store._state_path(first.checkpoint.checkpoint.hash_hex)
        kept = json.loads(path.read_text())
        assert ours in kept["log"]["published"]["rule_sets"], kept["log"]["published"]
        forged = [[dept, "0x" + f"{i:064x}"] for i in range(1, logslots.MAX_KEPT_RULE_SETS + 1)]
        kept["log"]["published"]["rule_sets"] = [p for p in kept["log"]["published"]["rule_sets"] if p != ours] + forged
        path.write_text(json.dumps(kept))

        apps = _one("C-KEPT-41")
        assert decisions.decide_many(ledger, fresh_department, apps, {"*": rule_set}).roots  # anchored
        rpc(ledger, "evm_mine")
        second = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
        assert second.checkpoint is not None
        cp = second.checkpoint.checkpoint
        later = store.state(cp.hash_hex)
        assert later is not None and ours not in later["log"]["rule_sets"], later and later["log"]["rule_sets"]
        drop_older_states(ledger)
        bundle = evidence.decision_bundle(ledger, fresh_department, str(apps[0]["case_id"]), as_of_block=cp.height)
        assert "log" not in bundle["witness"].get("state", {}), sorted(bundle["witness"].get("state", {}))
        written = tmp_path / "edited-list.json"
        written.write_text(json.dumps(bundle), encoding="utf-8")
        report = evidence.verify_bundle(written, ledger.chain, witness_keys=[key])
        assert report.ok and report.state_proof == "partial", report.to_json()
        strict = evidence.verify_bundle(written, ledger.chain, witness_keys=[key], require_state_proof=True)
        code, result, stderr = standalone(ledger, written, "--witness-key", key, "--require-state-proof")
        assert result is not None, stderr
        assert not strict.ok and code != 0 and result["state_proof"] != "proven", (strict.to_json(), result)

        broken = json.loads(store._state_path(cp.hash_hex).read_text())
        broken["log"]["published"]["through"] = cp.height + 10  # claims blocks the checkpoint never saw
        store._state_path(cp.hash_hex).write_text(json.dumps(broken))
        rpc(ledger, "evm_mine")
        third = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
        assert third.checkpoint is not None
        again = store.state(third.checkpoint.checkpoint.hash_hex)
        assert again is not None and ours in again["log"]["published"]["rule_sets"], again and again["log"]
