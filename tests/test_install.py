"""An install that works anywhere: the wheel, installed (not editable) into a clean venv outside the repository,
runs the CLI story (first use deploys, the council registers a department, it issues and anchors, a certificate
verifies) from another directory, with anvil named by the setting ``LEDGER_ANVIL``.

Adversary: none but the user's machine. A package that still reads its contracts, compiler or node from the
source tree works in the repository and nowhere else (``no contracts found in …/site-packages/contracts/src``).

The clean venv sees the dependencies the project's .venv already holds (a view of its site-packages without our
own editable install) and pip runs with ``--no-index``: nothing is downloaded, and pip still checks that every
declared dependency is satisfied.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from ledger.config import REPO_ROOT
from ledger.onchain.toolchain import tool_path

from .conftest import DEMO_COUNCIL_PASSPHRASES

OUR_DISTRIBUTION = ("ledger", "api", "provenance_ledger", "__editable__", "_provenance_ledger")


def _build_wheel(tmp_path: Path) -> Path:
    """Build the wheel from a copy of the package sources (the build leaves nothing in the checkout)."""
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(REPO_ROOT / "pyproject.toml", source)
    shutil.copy(REPO_ROOT / "setup.py", source)  # the native hashing core, compiled by the wheel's build
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so")
    for package in ("ledger", "api"):
        shutil.copytree(REPO_ROOT / package, source / package, ignore=ignore)
    out = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    (wheel,) = out.glob("provenance_ledger-*.whl")
    return wheel


def _clean_venv(tmp_path: Path) -> Path:
    """A fresh venv whose only extra path is a view of our .venv's installed dependencies (not of us). It holds no
    pip of its own: ensurepip's install of one cost ~5 CPU-s a pass, and this interpreter's pip installs into it with
    ``--python`` (run by the venv's interpreter, so it checks the dependencies as that interpreter sees them)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    view = tmp_path / "dependencies"
    view.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if entry.name.lower().startswith(OUR_DISTRIBUTION) or entry.suffix == ".pth":
            continue
        (view / entry.name).symlink_to(entry)
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "installed-dependencies.pth").write_text(f"{view}\n")
    return venv


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("install")
    wheel = _build_wheel(tmp)
    venv = _clean_venv(tmp)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return venv


def _environment(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGER_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(
        {
            "LEDGER_DATA_DIR": str(data),
            "LEDGER_PASSPHRASE": "installed ledger passphrase",
            "LEDGER_KEYSTORE_KDF_N": "1024",
            "LEDGER_INSECURE_KEYSTORE_KDF_FLOOR": "1024",
            "LEDGER_ANVIL": str(tool_path("anvil")),
            # no node_modules and no anvil on PATH: the setting is the only way to the node
            "PATH": "/usr/bin:/bin",
        }
    )
    for index, value in enumerate(DEMO_COUNCIL_PASSPHRASES, start=1):
        env[f"LEDGER_DEMO_COUNCIL_PASSPHRASE_{index}"] = value
    return env


def test_installed_package_is_the_wheel_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    code = (
        "import ledger, ledger.onchain.toolchain as t, ledger.formats.canonical as c; print(ledger.__file__); "
        "print(t.shipped_artifacts()['BatchLog'].name); print(c.NATIVE is not None)"
    )
    done = subprocess.run(
        [str(installed / "bin" / "python"), "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_environment(tmp_path / "data"),
        check=True,
    )
    where, name, native = done.stdout.split()
    assert Path(where).is_relative_to(installed) and name == "BatchLog"
    if shutil.which("cc") and Path("/usr/include/openssl/sha.h").exists():
        assert native == "True"  # the wheel's build compiled the native hashing core


def test_cli_story_runs_from_the_installed_wheel_elsewhere(installed: Path, tmp_path: Path) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    data = work / "data"
    env = _environment(data)
    ledger_cmd = str(installed / "bin" / "ledger")

    def ledger(*args: str, extra: dict[str, str] | None = None, expect: int = 0) -> str:
        done = subprocess.run(
            [ledger_cmd, *args], capture_output=True, text=True, cwd=work, env={**env, **(extra or {})}, timeout=300
        )
        assert done.returncode == expect, f"ledger {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done.stdout

    def member(n: int, *args: str) -> dict[str, object]:
        out = ledger(
            "council",
            *args,
            "--member-keystore",
            str(data / "keys" / f"council-{n}"),
            extra={"LEDGER_COUNCIL_PASSPHRASE": DEMO_COUNCIL_PASSPHRASES[n - 1]},
        )
        return dict(json.loads(out))

    node = subprocess.Popen(
        [ledger_cmd, "node"], cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert node.stdout is not None
        line = node.stdout.readline()
        if line.startswith("warning: LEDGER_INSECURE_KEYSTORE_KDF_FLOOR"):  # set below, as the suite runs
            line = node.stdout.readline()
        assert "embedded chain at" in line, line + node.stdout.read()
        ledger("departments")  # first use: the shipped contracts deploy with the demo council
        proposal = member(1, "register", "MKT", "--name", "Market Regulation Bureau", "--roles", "issuer,verifier")
        assert member(2, "approve", str(proposal["proposal"]))["state"] == "executed"
        granted = member(1, "grant-type", "MKT", "business-licence")
        assert member(2, "approve", str(granted["proposal"]))["state"] == "executed"
        records = work / "licences.jsonl"
        records.write_text(
            "".join(
                json.dumps(
                    {
                        "id": f"BL-INSTALL-{i:03d}",
                        "type": "business-licence",
                        "subject": {"enterprise_name": f"Trading Co. {i}", "credit_code": f"91440300MA5{i:07d}"},
                        "valid_from": "2026-01-01",
                        "valid_until": "2036-12-31",
                    }
                )
                + "\n"
                for i in range(3)
            )
        )
        ledger("issue", str(records), "-d", "MKT", "--out", str(work / "issued.jsonl"))
        certificate = work / "licence.json"
        certificate.write_text((work / "issued.jsonl").read_text().splitlines()[0])
        ledger("verify", str(certificate))
        forged = json.loads(certificate.read_text())
        forged["fields"]["subject.enterprise_name"] = "Forged Holdings Ltd."
        certificate.write_text(json.dumps(forged))
        ledger("verify", str(certificate), expect=1)
    finally:
        node.send_signal(signal.SIGTERM)
        try:
            node.wait(30)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()
    assert not (work / "contracts").exists() and not (work / "build").exists()
