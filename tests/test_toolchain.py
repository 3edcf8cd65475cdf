"""The pinned compiler behind our adapter: the CLI contract forge and py-solc-x rely on, and reproducible output."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from ledger.errors import ConfigError
from ledger.onchain.toolchain import (
    ARTIFACTS_FILE,
    COMPILER_SETTINGS,
    NODE_BIN,
    REPO_ROOT,
    SOLC,
    build_artifacts_document,
    compile_contracts,
    contract_artifacts,
    render_artifacts_document,
    shipped_artifacts,
    solc_version,
    tool_path,
)


def test_adapter_answers_version_like_native_solc() -> None:
    out = subprocess.run([str(SOLC), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1].startswith("Version: 0.8.28+commit.")
    assert solc_version().startswith("0.8.28+commit.")
    pinned = json.loads((REPO_ROOT / "package.json").read_text())["dependencies"]["solc"]
    assert solc_version().startswith(pinned + "+")


def test_standard_json_stdout_is_only_json_and_resolves_imports() -> None:
    request = {
        "language": "Solidity",
        "sources": {"contracts/src/CertificateAnchor.sol": {"urls": ["contracts/src/CertificateAnchor.sol"]}},
        "settings": COMPILER_SETTINGS,
    }
    done = subprocess.run(
        [str(SOLC), "--standard-json", "--base-path", str(REPO_ROOT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
    )
    output = json.loads(done.stdout)  # raises if anything but JSON is on stdout
    assert not [e for e in output.get("errors", []) if e["severity"] == "error"]
    assert "contracts/src/IDepartmentRegistry.sol" in output["sources"]  # an import resolved under --base-path


def test_missing_import_is_reported_not_crashed() -> None:
    request = {
        "language": "Solidity",
        "sources": {"x.sol": {"content": 'pragma solidity 0.8.28; import "./nope.sol"; contract X {}'}},
        "settings": COMPILER_SETTINGS,
    }
    done = subprocess.run(
        [str(SOLC), "--standard-json"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
    )
    errors = json.loads(done.stdout)["errors"]
    assert any("nope.sol" in e["formattedMessage"] for e in errors)


def test_unknown_option_is_a_clear_error() -> None:
    done = subprocess.run([str(SOLC), "--bin", "x.sol"], capture_output=True, text=True)
    assert done.returncode == 2 and "unsupported option --bin" in done.stderr


@pytest.fixture(scope="module")
def fresh_document() -> dict[str, Any]:
    """One fresh compile (no cache) of contracts/src, as ledger/onchain/contracts.json holds it: the shipped-file
    test compares it with the file, the determinism test with a second fresh compile (each solc run costs seconds;
    the two tests used to make three)."""
    return build_artifacts_document()


def test_compiling_twice_is_byte_identical(fresh_document: dict[str, Any]) -> None:
    first = fresh_document["contracts"]
    second = compile_contracts(use_cache=False)
    assert set(first) >= {"DepartmentRegistry", "CertificateAnchor", "BatchLog"}
    assert set(first) == set(second)
    for name in first:
        assert first[name]["bytecode"] == second[name].bytecode, name


def test_forge_builds_the_same_bytecode_as_the_client(tmp_path) -> None:
    out = tmp_path / "forge-out"
    subprocess.run(
        [
            str(tool_path("forge")),
            "build",
            "--offline",
            "--skip",
            "test",
            "--out",
            str(out),
            "--cache-path",
            str(tmp_path / "cache"),
        ],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    )
    client = compile_contracts()
    shipped = shipped_artifacts()
    for name in ("DepartmentRegistry", "CertificateAnchor", "BatchLog"):
        forge = json.loads((out / f"{name}.sol" / f"{name}.json").read_text())
        assert forge["bytecode"]["object"].removeprefix("0x") == client[name].bytecode, name
        assert forge["bytecode"]["object"].removeprefix("0x") == shipped[name].bytecode, name
        canonical = sorted(json.dumps(item, sort_keys=True) for item in shipped[name].abi)
        assert sorted(json.dumps(item, sort_keys=True) for item in forge["abi"]) == canonical, name


def test_shipped_contracts_equal_a_fresh_compile(fresh_document: dict[str, Any]) -> None:
    """The package's ledger/onchain/contracts.json (what an installed ledger deploys) is exactly what the pinned
    compiler makes of contracts/src now; a contract changed without renewing it fails here, naming the fix."""
    fresh = render_artifacts_document(fresh_document)
    assert ARTIFACTS_FILE.read_text() == fresh, (
        "ledger/onchain/contracts.json is stale: run `python scripts/build_contracts.py --write` and commit it"
    )
    document = json.loads(fresh)
    assert document["compiler"]["solc"] == solc_version()
    assert document["compiler"]["settings"] == COMPILER_SETTINGS


def test_the_checkout_uses_the_shipped_contracts_when_they_match() -> None:
    used, shipped = contract_artifacts(), shipped_artifacts()
    assert {n: (a.abi, a.bytecode) for n, a in used.items()} == {n: (a.abi, a.bytecode) for n, a in shipped.items()}


def test_anvil_from_the_setting_then_node_modules_then_path(tmp_path, monkeypatch) -> None:
    pinned = NODE_BIN / "anvil-linux-amd64" / "bin" / "anvil"
    assert tool_path("anvil") == pinned
    assert tool_path("anvil", pinned) == pinned  # the setting wins
    with pytest.raises(ConfigError, match="LEDGER_ANVIL"):
        tool_path("anvil", tmp_path / "no-such-anvil")
    not_executable = tmp_path / "anvil"
    not_executable.write_text("")
    with pytest.raises(ConfigError, match="not an executable file"):
        tool_path("anvil", not_executable)
    monkeypatch.setattr("ledger.onchain.toolchain.NODE_BIN", tmp_path / "no-node-modules")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "anvil").symlink_to(pinned)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert tool_path("anvil") == bin_dir / "anvil"
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match=r"not found.*LEDGER_ANVIL.*PATH"):
        tool_path("anvil")
