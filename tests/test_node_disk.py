"""The embedded node does not fill the disk. anvil moves the states of old blocks out of memory into files under
``~/.foundry/anvil/tmp`` (about 0.2 MB per block on an empty chain, more with the ledger's contracts), up to 3,600
of them, and leaves them behind when it is stopped or killed. With a block every second that is gigabytes a day per
node; a test run had filled a CI machine's disk with them. The ledger never reads state at an old block (every
historical fact is read from events or from a view function taking the block as an argument), so the node keeps
none on disk. Real anvil; ``anvil_mine`` stands in for an hour of one-second blocks."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.onchain.node import EmbeddedNode, _rpc

BLOCKS = 3 * 1024  # far past anvil's in-memory window of old states


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def test_an_hour_of_blocks_leaves_no_states_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # where anvil keeps its state cache by default
    node = EmbeddedNode(tmp_path / "chain")
    url = node.start()
    try:
        for _ in range(3):
            _rpc(url, "anvil_mine", [hex(BLOCKS // 3)], timeout=60)
        assert int(str(_rpc(url, "eth_blockNumber", [])), 16) >= BLOCKS
        assert _size(home) == 0, sorted(str(p.relative_to(home)) for p in home.rglob("*"))[:5]
    finally:
        node.stop()
    assert _size(home) == 0
    assert _size(tmp_path / "chain") < 50 * 1024 * 1024  # the state file and the log, not a state per block
