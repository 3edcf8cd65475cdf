"""The registry's storage written with the node's control (``anvil_setStorageAt``) to a history a test needs: the
contracts never let a batch be anchored outside the registry's history, so the history is made to say what an
operator's lie contradicts (tests/test_registry_state_proof.py, tests/test_evidence_registry_proof.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from eth_utils import keccak

from ledger.client import Ledger
from ledger.onchain import registryslots

from .cli_support import rpc


def _word(ledger: Ledger, slot: int) -> int:
    return int(rpc(ledger, "eth_getStorageAt", ledger.chain.deployment.registry, hex(slot), "latest"), 16)


def _set_word(ledger: Ledger, slot: int, value: int) -> None:
    rpc(
        ledger,
        "anvil_setStorageAt",
        ledger.chain.deployment.registry,
        hex(slot),
        "0x" + value.to_bytes(32, "big").hex(),
    )


@contextlib.contextmanager
def history_written(ledger: Ledger, dept: bytes, change: str, block: int) -> Iterator[None]:
    """The registry's history of ``dept`` made to say, of ``block``: ``forged key`` its key then was another
    (the first key period's signer replaced), ``key revoked`` its first key was revoked before it (the period closed
    at ``block - 1``), ``type granted`` business-licence was granted only after it (its period from ``block + 1``),
    ``department active`` the department was suspended (its first status period inactive), or ``length`` its key
    history is 2^40 periods long. Restored after."""
    layout = registryslots.registry_layout()
    if change == "forged key":
        array, index, member, value = layout.keys, 0, "signer", 0xBAD
    elif change == "key revoked":
        array, index, member, value = layout.keys, 0, "toBlock", block - 1
    elif change == "type granted":
        periods = ledger.chain.call(ledger.chain.registry.functions.typeHistory(dept))
        index = [bytes(p[0]) for p in periods].index(keccak(text="business-licence"))
        array, member, value = layout.types, "fromBlock", block + 1
    elif change == "department active":
        array, index, member, value = layout.statuses, 0, "active", 0
    else:
        array, index, member, value = layout.keys, -1, "", 1 << 40
    if index < 0:
        slot, shift, mask = array.length_slot(dept), 0, (1 << 256) - 1
    else:
        at = array.members[member]
        slot = array.element_slot(dept, index) + at.slot
        shift, mask = 8 * at.offset, ((1 << (8 * at.size)) - 1) << (8 * at.offset)
    before = _word(ledger, slot)
    _set_word(ledger, slot, (before & ~mask) | (value << shift))
    rpc(ledger, "evm_mine")
    try:
        yield
    finally:
        _set_word(ledger, slot, before)
        rpc(ledger, "evm_mine")


def registry_calls(registry: str) -> tuple[Callable[..., Any], Callable[..., Any], dict[str, Any]]:
    """(record, replay, the record): a proxy's rewrite recording every ``eth_call`` answer of the registry by its call
    data, and one answering each recorded call with the recorded answer (the operator's node answering the registry's
    reads from the state it recorded, whatever the chain holds now)."""
    seen: dict[str, Any] = {}

    def data_of(method: str, params: Any) -> str | None:
        if method != "eth_call" or not isinstance(params, list) or not isinstance(params[0], dict):
            return None
        if str(params[0].get("to", "")).lower() != registry.lower():
            return None
        return str(params[0].get("data") or params[0].get("input") or "").lower()

    def record(method: str, params: Any, answer: Any) -> Any:
        data = data_of(method, params)
        if data is not None and "error" not in answer:
            seen[data] = answer["result"]
        return answer

    def replay(method: str, params: Any, answer: Any) -> Any:
        data = data_of(method, params)
        if data is not None and data in seen:
            return {k: v for k, v in answer.items() if k != "error"} | {"result": seen[data]}
        return answer

    return record, replay, seen


def batched(rewrite: Callable[..., Any]) -> Callable[[list[Any], Any], Any]:
    """A proxy's batch rewrite applying ``rewrite`` to each answer of a batch."""

    def batch(requests: list[Any], answers: Any) -> Any:
        asked = {r["id"]: r for r in requests}
        return [rewrite(asked[a["id"]]["method"], asked[a["id"]]["params"], a) for a in answers]

    return batch
