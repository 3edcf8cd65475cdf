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
HELD_UNDER = "0x" + keccak(text="heldUnder(bytes32,bytes32)")[:4].hex()
ZERO_WORD = "0x" + "00" * 32

# what the operator's node answers the anchor's views with: "never ended", and "valid, never changed"
LIES = {ENDED_UNDER: ZERO_WORD, STATUS_OF: "0x" + "00" * 128}


def _lie_for(method: Any, params: Any, lies: dict[str, str]) -> str | None:
    call = params[0] if method == "eth_call" and isinstance(params, list) and params else {}
    data = str(call.get("data", call.get("input", ""))).lower() if isinstance(call, dict) else ""
    return next((lie for selector, lie in lies.items() if data.startswith(selector)), None)


def lying(lies: dict[str, str]) -> tuple[Any, Any]:
    """The rewrites (one answer, a batch's answers) of a node answering each call of a selector of ``lies`` (the
    first four bytes of its call data, 0x and hex) with that lie, inside a JSON-RPC batch too."""

    def one(method: str, params: Any, answer: Any) -> Any:
        lie = _lie_for(method, params, lies)
        return answer if lie is None else {**answer, "result": lie}

    def batch(request: list[Any], answers: list[Any]) -> list[Any]:
        told = {r.get("id"): _lie_for(r.get("method"), r.get("params"), lies) for r in request}
        return [a if told.get(a.get("id")) is None else {**a, "result": told[a.get("id")]} for a in answers]

    return one, batch


# the operator's node: every ``endedUnder`` and ``statusOf`` call answered as for a certificate never ended
no_end, no_end_batch = lying(LIES)


def status_by_both(
    ledger: Ledger, path: Path, key: str, lie: bool, lookup: str = "direct", lies: dict[str, str] | None = None
) -> tuple[Any, dict[str, Any], int]:
    """(the library's report, the court's checks by name, its exit code) for the bundle at ``path`` under the
    status lookup ``lookup``, through an honest node or (``lie``) the operator's, answering ``lies`` (default
    :data:`LIES`, which it must have been asked)."""
    rewrite, batch = lying(lies or LIES) if lie else (None, None)
    with RpcProxy(rpc_url(ledger), rewrite=rewrite, rewrite_batch=batch) as node:
        chain = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
        report = evidence.verify_bundle(path, chain, witness_keys=[key], status_lookup=lookup)
        code, answer, stderr = standalone(ledger, path, "--witness-key", key, "--status-lookup", lookup, rpc=node.url)
        if lie and lookup == "direct":
            assert all(node.saw(selector) for selector in lies or LIES), "the lie was never told"
    assert answer is not None, stderr
    return report, {c["name"]: (c["result"], c["detail"]) for c in answer["checks"]}, code
