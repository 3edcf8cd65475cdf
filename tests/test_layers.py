"""The layers of ledger/ (docs/architecture.md) are kept by a tool, not by goodwill.

Adversary: a developer (or a merged branch) that makes a pure format read the database, a chain reader call a
domain service, or the library call the gateway: each is an import across a layer, and each must fail the test
run with the offending import named. The real import-linter runs on the real tree, and on a copy of it with one
such import planted, so the contract is shown to catch what it is for.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300)


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for name in ("ledger", "api"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_tree_keeps_its_layers() -> None:
    done = _lint(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "planted", "named"),
    [
        ("formats/merkle.py", "from ..storage import store", "ledger.formats.merkle -> ledger.storage.store"),
        ("onchain/chainread.py", "from ..services import verify", "ledger.onchain.chainread -> ledger.services.verify"),
        ("storage/vault.py", "from ..onchain import chain", "ledger.storage.vault -> ledger.onchain.chain"),
        ("services/status.py", "from ..cli import output", "ledger.services.status -> ledger.cli.output"),
        ("formats/vc.py", "import api.problems", "ledger.formats.vc -> api.problems"),
    ],
)
def test_an_import_across_a_layer_fails_the_run_and_is_named(
    tmp_path: Path, module: str, planted: str, named: str
) -> None:
    root = _copy(tmp_path)
    target = root / "ledger" / module
    # inside a function: a lazy import crosses the layer just the same
    target.write_text(target.read_text() + f"\n\ndef _planted() -> None:\n    {planted}  # noqa: F401\n")
    done = _lint(root)
    assert done.returncode == 1, done.stdout
    assert named in done.stdout


def test_a_module_outside_every_layer_is_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "ledger" / "stray.py").write_text('"""A module that belongs to no layer."""\n')
    done = _lint(root)
    assert done.returncode == 1
    assert "ledger.stray" in done.stdout


def test_public_modules_import_from_the_package_and_load_only_when_used() -> None:
    code = (
        "import sys, ledger\n"
        "assert not [m for m in sys.modules if m.startswith('ledger.services')], 'import ledger loads services'\n"
        "from ledger import verify, issuance, vc\n"
        "print(verify.__name__, issuance.__name__, vc.__name__)\n"
        "try:\n    from ledger import no_such_module\nexcept ImportError:\n    print('refused')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["ledger.services.verify", "ledger.services.issuance", "ledger.formats.vc", "refused"]
