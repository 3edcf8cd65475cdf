"""The pinned toolchain: anvil and the solc adapter from node_modules, and compiling our contracts with it.

Compilation goes through py-solc-x's standard-JSON interface with ``scripts/solc`` (the official WebAssembly
compiler pinned in package.json). Metadata hashes are off, so the bytecode is byte-identical run to run; the
result is cached under ``build/`` keyed by the sources and the compiler version.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .config import REPO_ROOT
from .errors import ConfigError

CONTRACTS_DIR = REPO_ROOT / "contracts" / "src"
SOLC = REPO_ROOT / "scripts" / "solc"
NODE_BIN = REPO_ROOT / "node_modules" / "@foundry-rs"
SETUP_HINT = "run `scripts/setup.sh` (it runs npm ci and installs the Python package)"

# Same settings as foundry.toml, so forge and the client deploy the same bytecode.
COMPILER_SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "none", "appendCBOR": False},
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}


def tool_path(name: str) -> Path:
    """Path of a pinned foundry binary (``anvil`` or ``forge``)."""
    path = NODE_BIN / f"{name}-linux-amd64" / "bin" / name
    if not path.exists():
        found = shutil.which(name)
        if found:
            return Path(found)
        raise ConfigError(f"{name} is not installed at {path}; {SETUP_HINT}")
    return path


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


def compile_contracts(*, use_cache: bool = True) -> dict[str, Artifact]:
    """Compile every contract in contracts/src; returns artifacts by contract name."""
    sources = _sources()
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
    artifacts = {}
    for contracts in output["contracts"].values():
        for name, data in contracts.items():
            artifacts[name] = Artifact(name=name, abi=data["abi"], bytecode=data["evm"]["bytecode"]["object"])
    return artifacts


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
