"""Red team round 78: the chain's operator against the anchoring trail (CertificateAnchor 4.2.0).

The adversary is the chain's operator, a node answering each JSON-RPC request as it likes: per method, per block,
per query. Here it answers a department's batch stream (the read checked against its anchoring trail) honestly, and
the per-root reads a bundle verifier takes the anchoring from (``batch(department, root)`` and the ``eth_getLogs``
of that root) with a lie: the batch of one root at the position of another batch of the department. A verifier
checking only the position of its event among the trail-checked ones is told nothing by the trail.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_utils import keccak

from ledger.client import Ledger
from ledger.onchain import trail
from ledger.onchain.chain import Chain, connect
from ledger.onchain.ids import department_id_bytes
from ledger.services import evidence

from .anchoring_support import two_batches
from .evidence_support import failed_names, rpc_url, standalone
from .rpc_proxy import RpcProxy

BATCH_SELECTOR = "0x" + keccak(text="batch(bytes32,bytes32)")[:4].hex()


def _lying(ledger: Ledger, url: str) -> Chain:
    return Chain(connect(url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)


def _batch_log(ledger: Ledger, department: str, root: str) -> dict[str, Any]:
    """Department ``department``'s real ``BatchAnchored`` log of ``root``, as the honest node answers it."""
    query = {
        "address": ledger.chain.deployment.anchor,
        "fromBlock": hex(int(ledger.chain.deployment.deployed_block)),
        "toBlock": "latest",
        "topics": [trail.BATCH_ANCHORED_TOPIC, root, "0x" + department_id_bytes(department).hex()],
    }
    (log,) = ledger.chain.w3.provider.make_request("eth_getLogs", [query])["result"]  # type: ignore[arg-type]
    return dict(log)


def _backdating(moved: dict[str, Any], into: dict[str, Any]) -> Callable[[str, Any, Any], Any]:
    """A node answering the per-root reads of ``moved``'s root (its ``batch`` record, its ``eth_getLogs``) as if it
    were anchored at the position (block, log index, block hash) of ``into``, another batch of its department;
    the department's batch stream (``eth_getLogs`` by department) and everything else stay honest."""
    root = moved["topics"][1].lower()
    block = int(into["blockNumber"], 16)
    placed = {**moved, "blockNumber": into["blockNumber"], "logIndex": into["logIndex"], "blockHash": into["blockHash"]}

    def rewrite(method: str, params: Any, answer: Any) -> Any:
        if method == "eth_getLogs":
            query = params[0]
            topics = [str(t).lower() if t else None for t in query.get("topics") or []]
            if len(topics) > 1 and topics[1] == root:
                inside = int(query["fromBlock"], 16) <= block <= int(query["toBlock"], 16)
                return {**answer, "result": [placed] if inside else []}
        if method == "eth_call":
            data = str((params[0] or {}).get("data") or (params[0] or {}).get("input") or "").lower()
            if data.startswith(BATCH_SELECTOR) and root[2:] in data and isinstance(answer.get("result"), str):
                words = answer["result"][2:]
                return {**answer, "result": "0x" + words[:64] + f"{block:064x}" + words[128:]}
        return answer

    return rewrite


def test_a_batch_backdated_to_another_batchs_position_is_refused_by_both_bundle_verifiers(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Finding 1 (high): both bundle verifiers took the anchoring of the bundle's root from the per-root reads and
    asked only whether its (block, log index) was among the department's batch events that hash to the anchoring
    trail. A node answering the department's stream honestly and the per-root reads with the root moved to an
    earlier batch's position (the ``batch`` record to match) had both verifiers pass ``anchor_event`` for an
    anchoring in a block it never happened in: the event at that position is another root's. Both now require the
    event there to be the bundle's, field for field (root, key, count, type), and agree."""
    target, first_root, path = two_batches(ledger, tmp_path, fresh_department)
    first = _batch_log(ledger, fresh_department, first_root)
    second = _batch_log(ledger, fresh_department, target["anchor"]["root"].lower())
    assert int(first["blockNumber"], 16) < int(second["blockNumber"], 16)
    bundle = json.loads(path.read_text(encoding="utf-8"))
    bundle["anchor"]["block_number"] = int(first["blockNumber"], 16)  # what the lying node backs
    path.write_text(json.dumps(bundle), encoding="utf-8")
    with RpcProxy(rpc_url(ledger), rewrite=_backdating(second, first)) as node:
        report = evidence.verify_bundle(path, _lying(ledger, node.url))
        mine = {c["name"]: c for c in report.to_json()["checks"]}
        code, result, stderr = standalone(ledger, path, rpc=node.url)
    assert result is not None, stderr
    theirs = {c["name"]: c for c in result["checks"]}
    assert mine["anchor_event"]["ok"] is False, mine["anchor_event"]
    assert "anchoring trail" in mine["anchor_event"]["detail"], mine["anchor_event"]
    assert code == 1 and "anchor_event" in failed_names(result), result
    assert "anchoring trail" in theirs["anchor_event"]["detail"], theirs["anchor_event"]


def test_an_honest_node_passes_the_same_bundle_through_both_verifiers(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """The other side of finding 1: the field-for-field comparison passes the real anchoring, in both verifiers."""
    _, _, path = two_batches(ledger, tmp_path, fresh_department)
    report = evidence.verify_bundle(path, ledger.chain)
    code, result, stderr = standalone(ledger, path)
    assert result is not None, stderr
    assert report.ok and code == 0, (report.to_json(), result)
