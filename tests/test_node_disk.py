"""The embedded node does not fill the disk. anvil moves the states of old blocks out of memory into files under
``~/.foundry/anvil/tmp`` (about 0.2 MB per block on an empty chain, more with the ledger's contracts), up to 3,600
of them, and leaves them behind when it is stopped or killed. With a block every second that is gigabytes a day per
node; a test run had filled a CI machine's disk with them. The ledger never reads state at an old block (every
historical fact is read from events or from a view function taking the block as an argument), so the node keeps
none on disk. Real anvil; ``anvil_mine`` stands in for an hour of its blocks (``BLOCK_TIME`` seconds each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.onchain.node import BLOCK_TIME, EmbeddedNode, _rpc

# An hour of the node's blocks, far past anvil's in-memory window of old states: measured (ci10) on the embedded
# node's flags without ``--prune-history``, anvil had written 28 state files by block 512 and 1,019 (82 MB) by block
# 1,024. 3 x 1,024 blocks (an hour of the one-second blocks of before) took ~24 s of the pass at load 16.
BLOCKS = 3600 // BLOCK_TIME


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


def _interval(pid: int) -> str:
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return args[args.index(b"--state-interval") + 1].decode()


def test_the_ledgers_node_writes_its_state_every_second_and_a_slower_node_is_asked_for(tmp_path: Path) -> None:
    """The ledger's node keeps the one-second state interval (a hard kill loses at most the newest second of blocks,
    docs/guarantees.md); the test suite's session chain asks for a slower one, and gets exactly that."""
    for chain_dir, node, expected in (
        (tmp_path / "a", EmbeddedNode(tmp_path / "a"), "1"),
        (tmp_path / "b", EmbeddedNode(tmp_path / "b", state_interval=30), "30"),
    ):
        node.start()
        try:
            assert node._process is not None and _interval(node._process.pid) == expected, chain_dir
        finally:
            node.stop()
    for wrong in (0, -1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="state_interval"):
            EmbeddedNode(tmp_path / "c", state_interval=wrong)  # type: ignore[arg-type]
