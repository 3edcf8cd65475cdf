"""The pinned toolchain: anvil and the solc adapter from node_modules, and compiling our contracts with it.

Compilation goes through py-solc-x's standard-JSON interface with ``scripts/solc`` (the official WebAssembly
compiler pinned in package.json). Metadata hashes are off, so the bytecode is byte-identical run to run; the
result is cached under ``build/`` keyed by the sources and the compiler version.

The package ships the compiled contracts (``ledger/onchain/contracts.json``: ABIs, bytecode, the compiler and the digest
of each source), so an installed ledger (``pip install .``, run from anywhere) needs neither the sources nor the
compiler. :func:`contract_artifacts` reads that file; only in a source checkout whose contracts changed since it
was written does it compile them instead (a test then fails until ``python scripts/build_contracts.py --write`` renews
the file). anvil is found from the setting ``LEDGER_ANVIL`` (``Settings.anvil``), else in the project's
``node_modules``, else on ``PATH``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..config import REPO_ROOT
from ..errors import ConfigError

CONTRACTS_DIR = REPO_ROOT / "contracts" / "src"
SOLC = REPO_ROOT / "scripts" / "solc"
NODE_BIN = REPO_ROOT / "node_modules" / "@foundry-rs"
SETUP_HINT = "run `scripts/setup.sh` (it runs npm ci and installs the Python package)"

# Same settings as foundry.toml, so forge and the client deploy the same bytecode.
COMPILER_SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "none", "appendCBOR": False},
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "storageLayout"]}},
}


ARTIFACTS_FILE = Path(__file__).resolve().parent / "contracts.json"
ARTIFACTS_HINT = (
    "run `python scripts/build_contracts.py --write` in the source checkout and commit ledger/onchain/contracts.json"
)


def tool_path(name: str, explicit: str | Path | None = None) -> Path:
    """Path of a foundry binary (``anvil`` or ``forge``): ``explicit`` (a setting) when given, else the pinned one
    in the project's ``node_modules``, else the one on ``PATH``."""
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ConfigError(
                f"the configured {name} {path} is not an executable file; point "
                f"LEDGER_{name.upper()} at the {name} binary or unset it to use the one on PATH"
            )
        return path
    pinned = NODE_BIN / f"{name}-linux-amd64" / "bin" / name
    if pinned.exists():
        return pinned
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ConfigError(
        f"{name} was not found: not set in LEDGER_{name.upper()}, not at {pinned}, not on PATH; "
        f"install foundry's {name} and put it on PATH, set LEDGER_{name.upper()}, or, in a source "
        f"checkout, {SETUP_HINT}"
    )


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str


@cache
def solc_version() -> str:
    if not SOLC.exists() or shutil.which("node") is None:
        raise ConfigError(f"the solc adapter needs node and {SOLC}; {SETUP_HINT}")
    out = subprocess.run([str(SOLC), "--version"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise ConfigError(f"solc adapter failed: {out.stderr.strip()}; {SETUP_HINT}")
    return out.stdout.strip().splitlines()[-1].removeprefix("Version: ")


def _pinned_solc() -> str:
    """The installed solc package's version (the cache key; running the compiler costs ~0.4 s)."""
    try:
        return str(json.loads((REPO_ROOT / "node_modules" / "solc" / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        raise ConfigError(f"the solc package is not installed; {SETUP_HINT}") from None


def _sources() -> dict[str, str]:
    files = sorted(CONTRACTS_DIR.glob("*.sol"))
    if not files:
        raise ConfigError(f"no contracts found in {CONTRACTS_DIR}")
    return {f"contracts/src/{f.name}": f.read_text() for f in files}


def _source_digests(sources: dict[str, str]) -> dict[str, str]:
    return {path: hashlib.sha256(text.encode()).hexdigest() for path, text in sorted(sources.items())}


def build_artifacts_document() -> dict[str, Any]:
    """What ``ledger/onchain/contracts.json`` holds, freshly compiled from contracts/src by the pinned compiler."""
    sources = _sources()
    output = _compile_output(sources, use_cache=False)
    contracts = {}
    for unit in output["contracts"].values():
        for name, data in unit.items():
            contracts[name] = {
                "abi": data["abi"],
                "bytecode": data["evm"]["bytecode"]["object"],
                "deployedBytecode": data["evm"]["deployedBytecode"]["object"],
                "storageLayout": _storage_layout(data.get("storageLayout") or {}),
            }
    return {
        "compiler": {"solc": solc_version(), "settings": COMPILER_SETTINGS},
        "sources": _source_digests(sources),
        "contracts": dict(sorted(contracts.items())),
    }


def _storage_layout(layout: dict[str, Any]) -> dict[str, Any]:
    """The compiler's storage layout of one contract, with what a reader of its storage needs (the state proofs of
    ledger/onchain/stateproof.py): each variable's slot, offset and type, and each type's size, key and value types
    and struct members. The compiler's AST ids stay in the type names, as it writes them."""

    def variable(item: dict[str, Any]) -> dict[str, Any]:
        return {"label": item["label"], "slot": item["slot"], "offset": item["offset"], "type": item["type"]}

    kept = ("encoding", "numberOfBytes", "key", "value", "base")
    types = {
        name: {
            **{k: v for k, v in info.items() if k in kept},
            **({"members": [variable(m) for m in info["members"]]} if "members" in info else {}),
        }
        for name, info in (layout.get("types") or {}).items()
    }
    return {"storage": [variable(item) for item in layout.get("storage", [])], "types": types}


def storage_layout(contract: str) -> dict[str, Any]:
    """``contract``'s storage layout as the shipped contracts.json records it (:func:`_storage_layout`)."""
    try:
        layout: dict[str, Any] = _shipped()["contracts"][contract]["storageLayout"]
    except KeyError:
        raise ConfigError(f"the compiled contracts carry no storage layout of {contract}; {ARTIFACTS_HINT}") from None
    return layout


def render_artifacts_document(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


@cache
def _shipped() -> dict[str, Any]:
    try:
        document: dict[str, Any] = json.loads(ARTIFACTS_FILE.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"the compiled contracts {ARTIFACTS_FILE} are missing from this installation; "
            f"reinstall the package, or {ARTIFACTS_HINT}"
        ) from None
    except ValueError as exc:
        raise ConfigError(
            f"the compiled contracts {ARTIFACTS_FILE} are unreadable ({exc}); reinstall the "
            f"package, or {ARTIFACTS_HINT}"
        ) from exc
    return document


def shipped_artifacts() -> dict[str, Artifact]:
    """The compiled contracts shipped with the package, by contract name."""
    return {
        name: Artifact(name=name, abi=data["abi"], bytecode=data["bytecode"])
        for name, data in _shipped()["contracts"].items()
    }


def contract_artifacts() -> dict[str, Artifact]:
    """The contracts this ledger deploys and talks to: the shipped ones, unless this is a source checkout whose
    contracts/src no longer matches them (a developer changed a contract): then a fresh compile."""
    if (
        CONTRACTS_DIR.is_dir()
        and any(CONTRACTS_DIR.glob("*.sol"))
        and _source_digests(_sources()) != _shipped_sources_or_none()
    ):
        return compile_contracts()
    return shipped_artifacts()


def _shipped_sources_or_none() -> dict[str, str] | None:
    try:
        return dict(_shipped()["sources"])
    except ConfigError:
        return None


def compile_contracts(*, use_cache: bool = True) -> dict[str, Artifact]:
    """Compile every contract in contracts/src; returns artifacts by contract name."""
    output = _compile_output(_sources(), use_cache=use_cache)
    artifacts = {}
    for contracts in output["contracts"].values():
        for name, data in contracts.items():
            artifacts[name] = Artifact(name=name, abi=data["abi"], bytecode=data["evm"]["bytecode"]["object"])
    return artifacts


def _compile_output(sources: dict[str, str], *, use_cache: bool) -> dict[str, Any]:
    version = _pinned_solc()
    key = hashlib.sha256(
        json.dumps({"sources": sources, "settings": COMPILER_SETTINGS, "solc": version}, sort_keys=True).encode()
    ).hexdigest()[:16]
    cache_file = REPO_ROOT / "build" / f"contracts-{key}.json"
    if use_cache and cache_file.exists():
        output = json.loads(cache_file.read_text())
    else:
        output = _run_solc(sources)
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(output, sort_keys=True))
        tmp.replace(cache_file)
    return output


def _run_solc(sources: dict[str, str]) -> dict[str, Any]:
    from solcx import compile_standard
    from solcx.exceptions import SolcError

    request = {
        "language": "Solidity",
        "sources": {path: {"content": text} for path, text in sources.items()},
        "settings": COMPILER_SETTINGS,
    }
    try:
        output: dict[str, Any] = compile_standard(request, solc_binary=str(SOLC), base_path=str(REPO_ROOT))
    except SolcError as exc:
        raise ConfigError(f"contracts failed to compile: {exc}") from exc
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise ConfigError("contracts failed to compile:\n" + "\n".join(e["formattedMessage"] for e in errors))
    return output


def main(argv: list[str] | None = None) -> int:
    """``scripts/build_contracts.py --write``: compile contracts/src and write ledger/onchain/contracts.json;
    ``--check``: exit 1 when the shipped file differs from a fresh compile."""
    parser = argparse.ArgumentParser(prog="scripts/build_contracts.py", description=main.__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = render_artifacts_document(build_artifacts_document())
    if args.write:
        ARTIFACTS_FILE.write_text(text)
        print(f"wrote {ARTIFACTS_FILE}")
        return 0
    if not ARTIFACTS_FILE.exists() or ARTIFACTS_FILE.read_text() != text:
        print(f"{ARTIFACTS_FILE} differs from a fresh compile; {ARTIFACTS_HINT}", file=sys.stderr)
        return 1
    return 0
