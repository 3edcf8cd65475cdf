"""Every LEDGER_* variable is read once, in Settings; secrets never show when settings are printed or logged.

Adversary: an operator's log collector (or a traceback in a bug report) that records the ledger's settings: a
passphrase, vault key or token secret in a plain-string field would land in it. And a module reading the
environment on its own, deep inside, bypasses the validation Settings gives every value.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import SecretStr

from ledger.config import Settings
from ledger.errors import ConfigError

LEDGER = Path(__file__).resolve().parent.parent / "ledger"
SECRETS = {
    "LEDGER_PASSPHRASE": "pass-one",
    "LEDGER_COUNCIL_PASSPHRASE": "council-two",
    "LEDGER_DEMO_COUNCIL_PASSPHRASE_1": "demo-a",
    "LEDGER_DEMO_COUNCIL_PASSPHRASE_2": "demo-b",
    "LEDGER_DEMO_COUNCIL_PASSPHRASE_3": "demo-c",
    "LEDGER_VAULT_KEY": "ab" * 32,
    "LEDGER_API_SECRET": "cd" * 32,
    "LEDGER_IMPORT_KEY": "ef" * 32,
}


def test_settings_read_every_variable_and_hide_the_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LEDGER_GAS_PRICE", "7")
    monkeypatch.setenv("LEDGER_ANVIL", "/opt/foundry/anvil")
    settings = Settings.from_env(tmp_path)
    assert settings.passphrase == SecretStr("pass-one") and settings.council_passphrase == SecretStr("council-two")
    assert [s.get_secret_value() for s in settings.demo_council_passphrases if s] == ["demo-a", "demo-b", "demo-c"]
    assert settings.vault_key is not None and settings.vault_key.get_secret_value() == "ab" * 32
    assert settings.api_secret is not None and settings.import_key is not None
    assert settings.gas_price == 7 and settings.anvil == Path("/opt/foundry/anvil")
    shown = repr(settings) + str(settings) + repr(settings.passphrase) + str(settings.vault_key)
    assert not [value for value in SECRETS.values() if value in shown]


def test_bad_values_are_refused_with_the_variable_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_GAS_PRICE", "cheap")
    with pytest.raises(ConfigError, match="LEDGER_GAS_PRICE='cheap' is not a whole number"):
        Settings.from_env(tmp_path)
    monkeypatch.setenv("LEDGER_GAS_PRICE", "")
    assert Settings.from_env(tmp_path).gas_price is None  # empty: the node's price


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = []
    for path in LEDGER.rglob("*.py"):
        if path.name == "config.py" and path.parent == LEDGER:
            continue
        for top in ast.parse(path.read_text()).body:  # named by the function they are in, not a line number
            for node in ast.walk(top):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr in ("environ", "getenv")
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "os"
                ):
                    readers.append(f"{path.relative_to(LEDGER)}:{getattr(top, 'name', node.lineno)}")
    # node.py copies the environment for the anvil child *without* any LEDGER_* variable: not a setting read
    assert readers == ["onchain/node.py:node_environment"]
