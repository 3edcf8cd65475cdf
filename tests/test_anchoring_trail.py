"""Anchoring trails (CertificateAnchor 4.2.0): every reader of a department's batch events checks them against its
anchoring trail, and ``witnessed`` proves that trail at the cosigned block.

The adversary is the chain's operator answering ``eth_getLogs`` with a department's ``BatchAnchored`` events changed,
every other answer honest: a batch left out, moved to another block, or made up. The readers of batch streams
(``ledger reconcile``'s chain-wide read, the vault's probe of anchored batches) and both bundle verifiers (the
library's and the court's, which read the department's batch events whole) refuse each; the ``witnessed`` check
refuses batch events up to the witnessed block that do not hash to the anchoring trail the state proof gives there
(red team round 75 dated a batch below the checkpoint: tests/test_redteam_round75.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.onchain import trail
from ledger.onchain.chain import Chain, connect
from ledger.onchain.ids import department_id_bytes
from ledger.onchain.node import BLOCK_TIME
from ledger.services import evidence, reconcile
from ledger.services.verify import ChainView, verify_certificate
from ledger.services.witness import client as wclient

from .anchoring_support import two_batches
from .cli_support import drop_older_states, rpc
from .conftest import PASSPHRASE
from .evidence_support import failed_names, rpc_url, standalone
from .rpc_proxy import RpcProxy
from .witness_support import serve_witness

BATCH_TOPIC = trail.BATCH_ANCHORED_TOPIC


def _batch_logs(answer: Any) -> list[dict[str, Any]]:
    result = answer.get("result") if isinstance(answer, dict) else None
    return [log for log in result or [] if str(log["topics"][0]).lower() == BATCH_TOPIC]


def _left_out(root: str) -> Callable[[str, Any, Any], Any]:
    def rewrite(method: str, _params: Any, answer: Any) -> Any:
        if method == "eth_getLogs" and isinstance(answer.get("result"), list):
            kept = [log for log in answer["result"] if log not in _batch_logs(answer) or log["topics"][1] != root]
            return {**answer, "result": kept}
        return answer

    return rewrite


def _moved(root: str, by: int) -> Callable[[str, Any, Any], Any]:
    def rewrite(method: str, _params: Any, answer: Any) -> Any:
        if method == "eth_getLogs":
            for log in _batch_logs(answer):
                if log["topics"][1] == root:
                    log["blockNumber"] = hex(int(log["blockNumber"], 16) - by)
        return answer

    return rewrite


def _made_up(root: str) -> Callable[[str, Any, Any], Any]:
    """A batch the department never anchored, beside its real one of ``root``, in the same block."""

    def rewrite(method: str, _params: Any, answer: Any) -> Any:
        if method == "eth_getLogs" and isinstance(answer.get("result"), list):
            extra = [
                {**log, "topics": [log["topics"][0], "0x" + "ab" * 32, *log["topics"][2:]], "logIndex": "0x7f"}
                for log in _batch_logs(answer)
                if log["topics"][1] == root
            ]
            return {**answer, "result": answer["result"] + extra}
        return answer

    return rewrite


def _lying(ledger: Ledger, url: str) -> Chain:
    return Chain(connect(url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)


@pytest.mark.parametrize("attack", ["left out", "moved", "made up"])
def test_a_batch_event_left_out_moved_or_made_up_is_refused_by_every_reader(
    ledger: Ledger, tmp_path: Path, fresh_department: str, attack: str
) -> None:
    """The chain's operator leaves the department's first batch out of its ``eth_getLogs`` answers, moves it one
    block earlier, or adds a batch never anchored beside it: the department's batch events no longer hash to its
    anchoring trail, and every reader of them says so (the library's and the court's bundle verifiers alike)."""
    _, first_root, path = two_batches(ledger, tmp_path, fresh_department)
    rewrite = {"left out": _left_out, "moved": lambda r: _moved(r, 1), "made up": _made_up}[attack](first_root)
    with RpcProxy(rpc_url(ledger), rewrite=rewrite) as node:
        chain = _lying(ledger, node.url)
        with pytest.raises(ChainError, match="anchoring trail"):  # `ledger reconcile`'s chain-wide read
            list(reconcile.chain_anchors(_on(ledger, chain)))
        with pytest.raises(ChainError, match="anchoring trail"):  # the vault's probe of anchored batches
            trail.batch_events(chain, what="the anchored batches")
        report = evidence.verify_bundle(path, chain)
        assert not report.ok and "anchoring trail" in json.dumps(report.to_json()), report.to_json()
        code, result, stderr = standalone(ledger, path, rpc=node.url)
        assert result is not None, stderr
        assert code == 1 and "anchor_event" in failed_names(result), result
        assert "anchoring trail" in json.dumps(result), result


def _on(ledger: Ledger, chain: Chain) -> Any:
    """``ledger`` read through ``chain`` (reconcile reads ``ledger.chain``)."""

    class Through:
        def __getattr__(self, name: str) -> Any:
            return chain if name == "chain" else getattr(ledger, name)

    return Through()


def test_an_honest_stream_reproduces_every_departments_anchoring_trail(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """The other side: an honest node's batch events hash to every department's anchoring trail (whatever the suite
    anchored before), and both bundle verifiers verify the bundle, agreeing."""
    target, first_root, path = two_batches(ledger, tmp_path, fresh_department)
    dept = department_id_bytes(fresh_department)
    events = trail.batch_events(ledger.chain, what="every batch")
    mine = [e for e in events if e.department_id == dept]
    assert ["0x" + e.root.hex() for e in mine] == [first_root, target["anchor"]["root"].lower()]
    assert trail.stated_anchorings(ledger.chain)[dept].changes == 2
    assert trail.stated_anchoring(ledger.chain, dept) == trail.anchorings_chained(mine)[dept]
    assert len(list(reconcile.chain_anchors(ledger))) == len(events)
    report = evidence.verify_bundle(path, ledger.chain)
    code, result, stderr = standalone(ledger, path)
    assert result is not None, stderr
    assert report.ok and code == 0, (report.to_json(), result)


def _witnessed(chain: Chain, config: wclient.WitnessConfig, data_dir: Path | None, target: dict[str, Any]) -> Any:
    view = ChainView(chain)
    view.witness = wclient.WitnessView(chain, config, None, data_dir)
    return {c.name: c for c in verify_certificate(target, view).checks}["witnessed"]


@pytest.mark.parametrize("attack", ["left out", "moved"])
def test_batch_events_that_do_not_hash_to_the_proven_anchoring_trail_fail_witnessed(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch, attack: str
) -> None:
    """The chain's operator answers the reads ``witnessed`` makes of the department's batch events up to the
    witnessed block (``toBlock`` that block) with its first batch left out, or the certificate's own batch moved a
    block earlier, and every other answer honestly (so the anchoring trail it states at the head agrees with
    nothing it hides): the events no longer hash to the anchoring trail the state proof gives at the witnessed
    block, and ``witnessed`` fails naming it."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    target, first_root, _ = two_batches(ledger, tmp_path, fresh_department)
    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        collected = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
        assert collected.witnessed and collected.checkpoint is not None
        height = collected.checkpoint.checkpoint.height
        for _ in range(2):
            rpc(ledger, "evm_mine")
        changed = _left_out(first_root) if attack == "left out" else _moved(target["anchor"]["root"].lower(), 1)

        def at_the_witnessed_block(
            method: str, params: Any, answer: Any, upto: int = height, change: Any = changed
        ) -> Any:
            if method == "eth_getLogs" and int(params[0]["toBlock"], 16) == upto:
                return change(method, params, answer)
            return answer

        assert _witnessed(ledger.chain, config, ledger.settings.data_dir, target).ok  # the honest node
        with RpcProxy(rpc_url(ledger), rewrite=at_the_witnessed_block) as node:
            check = _witnessed(_lying(ledger, node.url), config, ledger.settings.data_dir, target)
            assert not check.ok and "anchoring trail" in check.detail, check


def test_an_honest_chain_passes_witnessed_with_kept_proofs_and_live(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: none (a false failure is a finding too). Both batches lie at or below the checkpoint: the
    anchoring trail proven there, from the proofs ``collect`` kept once the embedded node dropped the block's state,
    and from the node's own proof while it still has it, is the one the department's batch events give, and each
    certificate's batch is among them."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    target, _, _ = two_batches(ledger, tmp_path, fresh_department)
    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        rpc(ledger, "evm_setIntervalMining", 0)
        try:
            collected = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
            assert collected.witnessed and collected.checkpoint is not None
            view = ChainView(ledger.chain)
            view.witness = wclient.WitnessView(ledger.chain, config, collected.checkpoint)  # no kept proofs: live
            check = {c.name: c for c in verify_certificate(target, view).checks}["witnessed"]
            assert check.ok, check
            dept = department_id_bytes(fresh_department)
            assert view.witness.proven_anchoring(dept).changes == 2
        finally:
            rpc(ledger, "evm_setIntervalMining", BLOCK_TIME)
        drop_older_states(ledger)  # the node drops the witnessed block's state: the kept proofs prove it
        assert _witnessed(ledger.chain, config, ledger.settings.data_dir, target).ok
        # the kept file names the proof holding each department (16 a proof, four slots each): read that one alone
        kept = wclient.CheckpointStore(ledger.settings.data_dir).state(collected.checkpoint.checkpoint.hash_hex)
        assert kept is not None and kept["departments"]["0x" + dept.hex()] < len(kept["proofs"])
        assert set(kept["departments"]) <= {"0x" + d.hex() for d in trail.stated_anchorings(ledger.chain)}
        with RpcProxy(rpc_url(ledger), rewrite=lambda _m, _p, answer: answer) as node:
            assert _witnessed(_lying(ledger, node.url), config, ledger.settings.data_dir, target).ok
            assert node.methods["eth_getProof"] == 0, node.methods
