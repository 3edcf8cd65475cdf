"""The pinned compiler behind our adapter: the CLI contract forge and py-solc-x rely on, and reproducible output."""

from __future__ import annotations

import json
import subprocess

from ledger.toolchain import COMPILER_SETTINGS, REPO_ROOT, SOLC, compile_contracts, solc_version, tool_path


def test_adapter_answers_version_like_native_solc() -> None:
    out = subprocess.run([str(SOLC), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1].startswith("Version: 0.8.28+commit.")
    assert solc_version().startswith("0.8.28+commit.")
    pinned = json.loads((REPO_ROOT / "package.json").read_text())["dependencies"]["solc"]
    assert solc_version().startswith(pinned + "+")


def test_standard_json_stdout_is_only_json_and_resolves_imports() -> None:
    request = {"language": "Solidity", "sources": {"contracts/src/CertificateAnchor.sol": {
        "urls": ["contracts/src/CertificateAnchor.sol"]}}, "settings": COMPILER_SETTINGS}
    done = subprocess.run([str(SOLC), "--standard-json", "--base-path", str(REPO_ROOT)], input=json.dumps(request),
                          capture_output=True, text=True, check=True)
    output = json.loads(done.stdout)  # raises if anything but JSON is on stdout
    assert not [e for e in output.get("errors", []) if e["severity"] == "error"]
    assert "contracts/src/IDepartmentRegistry.sol" in output["sources"]  # an import resolved under --base-path


def test_missing_import_is_reported_not_crashed() -> None:
    request = {"language": "Solidity", "sources": {"x.sol": {"content":
               'pragma solidity 0.8.28; import "./nope.sol"; contract X {}'}}, "settings": COMPILER_SETTINGS}
    done = subprocess.run([str(SOLC), "--standard-json"], input=json.dumps(request), capture_output=True, text=True,
                          cwd=REPO_ROOT, check=True)
    errors = json.loads(done.stdout)["errors"]
    assert any("nope.sol" in e["formattedMessage"] for e in errors)


def test_unknown_option_is_a_clear_error() -> None:
    done = subprocess.run([str(SOLC), "--bin", "x.sol"], capture_output=True, text=True)
    assert done.returncode == 2 and "unsupported option --bin" in done.stderr


def test_compiling_twice_is_byte_identical() -> None:
    first = compile_contracts(use_cache=False)
    second = compile_contracts(use_cache=False)
    assert set(first) >= {"DepartmentRegistry", "CertificateAnchor", "BatchLog"}
    for name in first:
        assert first[name].bytecode == second[name].bytecode, name


def test_forge_builds_the_same_bytecode_as_the_client(tmp_path) -> None:
    out = tmp_path / "forge-out"
    subprocess.run([str(tool_path("forge")), "build", "--offline", "--skip", "test", "--out", str(out),
                    "--cache-path", str(tmp_path / "cache")], cwd=REPO_ROOT, check=True, capture_output=True)
    client = compile_contracts()
    for name in ("DepartmentRegistry", "CertificateAnchor", "BatchLog"):
        forge = json.loads((out / f"{name}.sol" / f"{name}.json").read_text())
        assert forge["bytecode"]["object"].removeprefix("0x") == client[name].bytecode, name
