"""The chain's operator's node for the status checks (from tests/test_redteam_round82.py: no test module imports
another): an honest node but for the anchor contract's ``endedUnder`` and ``statusOf`` views, answered as for a
certificate never ended ("valid, never changed"), and both verifiers' verdicts on one bundle through it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eth_utils.crypto import keccak

from ledger.client import Ledger
from ledger.onchain.chain import Chain, connect
from ledger.services import evidence

from .evidence_support import rpc_url, standalone
from .rpc_proxy import RpcProxy

ENDED_UNDER = "0x" + keccak(text="endedUnder(bytes32,bytes32)")[:4].hex()
STATUS_OF = "0x" + keccak(text="statusOf(bytes32,bytes32,bytes32)")[:4].hex()

# what the operator's node answers the anchor's views with: "never ended", and "valid, never changed"
LIES = {ENDED_UNDER: "0x" + "00" * 32, STATUS_OF: "0x" + "00" * 128}


def _lie_for(method: Any, params: Any) -> str | None:
    call = params[0] if method == "eth_call" and isinstance(params, list) and params else {}
    data = str(call.get("data", call.get("input", ""))).lower() if isinstance(call, dict) else ""
    return next((lie for selector, lie in LIES.items() if data.startswith(selector)), None)


def no_end(method: str, params: Any, answer: Any) -> Any:
    """The operator's node: every ``endedUnder`` and ``statusOf`` call answered as for a certificate never ended."""
    lie = _lie_for(method, params)
    return answer if lie is None else {**answer, "result": lie}


def no_end_batch(request: list[Any], answers: list[Any]) -> list[Any]:
    """The same lies inside a JSON-RPC batch (the library asks ``endedUnder`` and ``heldUnder`` in one)."""
    lies = {r.get("id"): _lie_for(r.get("method"), r.get("params")) for r in request}
    return [a if lies.get(a.get("id")) is None else {**a, "result": lies[a.get("id")]} for a in answers]


def status_by_both(
    ledger: Ledger, path: Path, key: str, lying: bool, lookup: str = "direct"
) -> tuple[Any, dict[str, Any], int]:
    """(the library's report, the court's checks by name, its exit code) for the bundle at ``path`` under the
    status lookup ``lookup``, through an honest node or the operator's (which must have been asked its lies)."""
    rewrite, batch = (no_end, no_end_batch) if lying else (None, None)
    with RpcProxy(rpc_url(ledger), rewrite=rewrite, rewrite_batch=batch) as node:
        chain = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
        report = evidence.verify_bundle(path, chain, witness_keys=[key], status_lookup=lookup)
        code, answer, stderr = standalone(ledger, path, "--witness-key", key, "--status-lookup", lookup, rpc=node.url)
        if lying and lookup == "direct":
            assert node.saw(ENDED_UNDER) and node.saw(STATUS_OF), "the lie was never told"
    assert answer is not None, stderr
    return report, {c["name"]: (c["result"], c["detail"]) for c in answer["checks"]}, code
