"""The registry's storage written with the node's control (``anvil_setStorageAt``) to a history a test needs: the
contracts never let a batch be anchored outside the registry's history, so the history is made to say what an
operator's lie contradicts (tests/test_registry_state_proof.py, tests/test_evidence_registry_proof.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

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
    (the first key period's signer replaced), ``type granted`` business-licence was granted only after it (its period
    from ``block + 1``), ``department active`` the department was suspended (its first status period inactive), or
    ``length`` its key history is 2^40 periods long. Restored after."""
    layout = registryslots.registry_layout()
    if change == "forged key":
        array, index, member, value = layout.keys, 0, "signer", 0xBAD
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
