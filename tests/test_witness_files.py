"""Files the ledger and its witnesses keep for themselves (witnesses.json, witness/checkpoints.jsonl, sizes.json,
the checkpoint, witness and vault key files, a witness's state.json) read back after damage: a disk fault, a bad
restore or an insider's edit. Each damaged file is a clear error, or is skipped as proving nothing, never a crash of
the process that reads it (the CLI, a gateway worker building an evidence bundle, a witness). A dependency raises
Python's recursion limit, so nesting is refused before parsing (300,000 "[" crashed the interpreter before)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.errors import ChainError, ConfigError, KeystoreError, LedgerError
from ledger.onchain.chain import Deployment
from ledger.onchain.node import EmbeddedNode, pin_genesis
from ledger.services.witness.client import CheckpointStore, WitnessConfig, log_key
from ledger.services.witness.server import WitnessStore
from ledger.storage.keys import Keystore
from ledger.storage.vault import Vault

DEEP = "[" * 300_000


def test_deeply_nested_checkpoint_lines_are_skipped_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "witness").mkdir()
    (tmp_path / "witness" / "checkpoints.jsonl").write_text(DEEP + "\n" + '{"note": ' + DEEP + "\n")
    store = CheckpointStore(tmp_path)
    assert store.all(WitnessConfig()) == []
    assert store.latest_witnessed(WitnessConfig(), "anything") is None


def test_a_checkpoint_line_of_another_shape_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "witness").mkdir()
    lines = ["[1, 2]", '"note"', "null", '{"note": 5}', '{"note": ["x"]}', "{}"]
    (tmp_path / "witness" / "checkpoints.jsonl").write_text("\n".join(lines) + "\n")
    assert CheckpointStore(tmp_path).all(WitnessConfig()) == []


@pytest.mark.parametrize(
    "text",
    [
        DEEP,
        "[1, 2]",
        '"text"',
        "5",
        '{"witnesses": 5}',
        '{"witnesses": [5]}',
        '{"witnesses": [{"url": "http://w"}]}',
        '{"quorum": "many"}',
    ],
)
def test_a_damaged_witness_configuration_is_a_clear_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "witnesses.json").write_text(text)
    with pytest.raises(ConfigError, match=r"witnesses\.json"):
        WitnessConfig.load(tmp_path)


@pytest.mark.parametrize("text", [DEEP, "[1]", '{"a": "x"}', '{"a": [1]}'])
def test_damaged_remembered_sizes_are_forgotten(tmp_path: Path, text: str) -> None:
    (tmp_path / "witness").mkdir()
    (tmp_path / "witness" / "sizes.json").write_text(text)
    store = CheckpointStore(tmp_path)
    assert store.sizes() == {}
    store.remember_size("w1", 7)
    assert json.loads((tmp_path / "witness" / "sizes.json").read_text()) == {"w1": 7}


@pytest.mark.parametrize("text", [DEEP, "[1]", '{"salt": 5, "nonce": 5, "ciphertext": 5}'])
def test_a_damaged_checkpoint_key_file_is_a_clear_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "checkpoint.key").write_text(text)
    with pytest.raises(LedgerError, match="checkpoint key"):
        log_key(tmp_path, "example.org/ledger", "a passphrase")


@pytest.mark.parametrize("text", [DEEP, "[1]", '{"origins": []}', "{}"])
def test_a_witness_refuses_to_work_from_a_damaged_state_file(tmp_path: Path, text: str) -> None:
    """A witness that forgot what it cosigned could be led to cosign a rolled-back log: a damaged state stops it
    with a clear error instead of reading as empty."""
    (tmp_path / "state.json").write_text(text)
    with pytest.raises(ConfigError, match=r"state\.json is not a witness state file"):
        WitnessStore(tmp_path).load()
    assert WitnessStore(tmp_path / "new").load() == {"origins": {}}


@pytest.mark.parametrize("text", [DEEP, "[1]", '{"seed": {}}', '{"name": "w", "seed": [1]}'])
def test_a_damaged_witness_key_file_is_a_clear_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "witness.key").write_text(text)
    with pytest.raises(LedgerError, match=r"witness\.key|witness key"):
        WitnessStore(tmp_path).key("a passphrase")


@pytest.mark.parametrize("text", [DEEP, "[1]", '{"salt": "zz", "nonce": "00", "ciphertext": "00"}'])
def test_a_damaged_vault_key_file_is_a_clear_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "vault.key").write_text(text)
    # 300,000 brackets are more than a key file holds: refused unread (read_key_file), the others unparsed
    with pytest.raises(KeystoreError, match=r"vault\.key is (not an encrypted key file|larger than any key file)"):
        Vault.from_env_or_file(tmp_path / "vault.key", "a passphrase")


@pytest.mark.parametrize("text", [DEEP, "[1]", '"text"'])
def test_a_damaged_department_keystore_file_is_a_clear_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "dept-X.json").write_text(text)
    keystore = Keystore(tmp_path)
    # 300,000 brackets are more than a keystore file holds: refused unread (read_key_file), the others unparsed
    damaged = r"keystore file of key 'dept-X' (is damaged|\S+ is larger than any key file)"
    with pytest.raises(KeystoreError, match=damaged):
        keystore.address("dept-X")
    with pytest.raises(KeystoreError, match=damaged):
        keystore.unlock("dept-X", "a passphrase")


@pytest.mark.parametrize("text", [DEEP, "[1]"])
def test_damaged_chain_files_are_clear_errors(tmp_path: Path, text: str) -> None:
    """The deployment record, the embedded node's genesis record, its state and its address file."""
    (tmp_path / "deployment.json").write_text(text)
    with pytest.raises(ConfigError, match="deployment file"):
        Deployment.load(tmp_path / "deployment.json")
    node = EmbeddedNode(tmp_path)
    node.genesis_file.write_text(text)
    with pytest.raises(ChainError, match=r"genesis\.json is unreadable"):
        node.recorded_genesis()
    (tmp_path / "state.json").write_text(text)
    with pytest.raises(ChainError, match="state file"):
        pin_genesis(tmp_path / "state.json", None)
    node.info_file.write_text(text)
    assert node._running_url() is None  # no node known to be running: one is started, as on a first start
    assert node._previous_port() is None
