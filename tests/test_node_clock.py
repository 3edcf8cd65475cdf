"""The embedded chain's clock only moves on across a restart (adversary: the chain's operator, or a host whose clock
steps back). anvil 1.7.1 reloading its state stamps its next blocks by the machine's clock whatever its newest
block's stamp: a clock behind that stamp made a block older than its parent, and every reading by time (``--at``'s
bisection over block times, a certificate's status at a moment) found other blocks than the chain's order gives.
The node's start now compares the state's newest stamp with the clock: a little behind (``clock_carry``) it starts
with anvil's own ``--timestamp`` at that stamp; further behind it refuses, saying what and what to do.

A chain whose newest block is stamped ahead of the machine's clock is made with the node's test controls
(``evm_increaseTime``): what a clock set back after those blocks were stamped looks like to the next start. Real
anvil, real stops and starts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ledger.client import Ledger
from ledger.config import DEFAULT_NODE_CLOCK_CARRY_SECONDS
from ledger.errors import ChainError
from ledger.onchain.node import EmbeddedNode, _rpc, clock_flags

from .conftest import PASSPHRASE, make_settings

AHEAD = 1000  # seconds the chain's newest block is stamped after the machine's clock


def _stamp(url: str, block: str | int = "latest") -> tuple[int, int, str]:
    """(number, timestamp, hash) of ``block`` as the node at ``url`` answers it."""
    tag = block if isinstance(block, str) else hex(block)
    answer = _rpc(url, "eth_getBlockByNumber", [tag, False])
    assert isinstance(answer, dict), answer
    return int(answer["number"], 16), int(answer["timestamp"], 16), str(answer["hash"])


def _make_chain_ahead(chain_dir: Path, ahead: int = AHEAD) -> tuple[str, list[tuple[int, int, str]]]:
    """A stopped embedded chain, its genesis recorded, whose newest blocks are stamped ``ahead`` seconds after the
    machine's clock: (genesis hash, every block as (number, timestamp, hash))."""
    carry = 10 * ahead
    node = EmbeddedNode(chain_dir, clock_carry=carry)
    node.start()
    node.stop()
    url = node.start()  # the genesis is recorded by the first start that finds a state file
    try:
        _rpc(url, "evm_mine", [])
        _rpc(url, "evm_increaseTime", [ahead])
        _rpc(url, "evm_mine", [])
        _rpc(url, "evm_mine", [])
        head = _stamp(url)[0]
        blocks = [_stamp(url, n) for n in range(head + 1)]
    finally:
        node.stop()  # a clean stop: the whole chain is in the state file
    genesis = node.recorded_genesis()
    assert genesis is not None and genesis == blocks[0][2].lower()
    assert blocks[-1][1] >= int(time.time()) + ahead - 60, ("the chain was not ahead of the clock", blocks)
    return genesis, blocks


def test_a_restart_carries_the_chains_clock_on_from_its_newest_block(tmp_path: Path) -> None:
    """Within the bound the restarted node stamps its next blocks at or after the newest block's stamp (before the
    fix: ~AHEAD s before it), and the chain keeps its genesis and every block."""
    genesis, blocks = _make_chain_ahead(tmp_path / "chain")
    node = EmbeddedNode(tmp_path / "chain", clock_carry=2 * AHEAD)
    url = node.start()
    try:
        assert [_stamp(url, n) for n in range(len(blocks))] == blocks, "the restart changed the chain's blocks"
        assert _stamp(url, 0)[2].lower() == genesis == node.recorded_genesis()
        _rpc(url, "evm_mine", [])
        _rpc(url, "evm_mine", [])
        head = _stamp(url)[0]
        stamps = [_stamp(url, n)[1] for n in range(head + 1)]
    finally:
        node.stop()
    assert head == len(blocks) + 1
    assert stamps == sorted(stamps), f"a block stamped before its parent after the restart: {stamps}"
    assert stamps[-1] >= blocks[-1][1]
    assert stamps[-1] <= blocks[-1][1] + 120, "the chain's clock jumped further than the seconds since the start"
    # and the next start (nothing behind any more than the seconds just spent) keeps the genesis again
    url = node.start()
    try:
        assert _stamp(url, 0)[2].lower() == genesis
    finally:
        node.stop()


def test_a_clock_further_behind_than_the_bound_is_refused_with_what_to_do(tmp_path: Path) -> None:
    """Further behind than ``clock_carry`` the start is refused before anvil runs: the state file is untouched, no
    node is left running, and the error names both times and the setting that carries the clock on."""
    _, blocks = _make_chain_ahead(tmp_path / "chain")
    node = EmbeddedNode(tmp_path / "chain", clock_carry=DEFAULT_NODE_CLOCK_CARRY_SECONDS)
    before = node.state_file.read_bytes(), node.info_file.read_bytes()
    with pytest.raises(ChainError) as refused:
        node.start()
    message = str(refused.value)
    assert "LEDGER_NODE_CLOCK_CARRY_SECONDS" in message and "set back" in message, message
    assert time.strftime("%Y-%m-%dT%H:%M", time.gmtime(blocks[-1][1])) in message, message
    assert not node.owned and node.url is None
    assert (node.state_file.read_bytes(), node.info_file.read_bytes()) == before  # no new node was recorded


def test_the_ledger_refuses_by_its_setting_and_starts_when_told_to_carry(tmp_path: Path) -> None:
    """``Ledger.open`` passes ``LEDGER_NODE_CLOCK_CARRY_SECONDS`` (Settings.node_clock_carry_seconds) to its node."""
    settings = make_settings(tmp_path / "data", node_clock_carry_seconds=10 * AHEAD)
    with Ledger.open(settings, passphrase=PASSPHRASE) as ledger:
        chain = ledger.chain
        chain.w3.provider.make_request("evm_increaseTime", [AHEAD])  # type: ignore[arg-type]
        chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        newest = int(chain.w3.eth.get_block("latest")["timestamp"])
    with pytest.raises(ChainError, match="LEDGER_NODE_CLOCK_CARRY_SECONDS"):
        Ledger.open(settings.with_(node_clock_carry_seconds=60), passphrase=PASSPHRASE)
    with Ledger.open(settings, passphrase=PASSPHRASE) as ledger:
        ledger.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        assert int(ledger.chain.w3.eth.get_block("latest")["timestamp"]) >= newest


@pytest.mark.parametrize(
    ("behind", "carry", "flags"),
    [(-5, 0, []), (0, 0, []), (1, 60, ["--timestamp"]), (60, 60, ["--timestamp"]), (61, 60, None), (1, 0, None)],
)
def test_clock_flags_bound(behind: int, carry: int, flags: list[str] | None, tmp_path: Path) -> None:
    now = 1_800_000_000.5
    last = int(now) + behind
    if flags is None:
        with pytest.raises(ChainError, match=f"{behind} s after this machine's clock"):
            clock_flags(last, now, carry, tmp_path / "state.json")
        return
    expected = [] if not flags else [*flags, str(last)]
    assert clock_flags(last, now, carry, tmp_path / "state.json") == expected
    assert clock_flags(None, now, carry, tmp_path / "state.json") == []
