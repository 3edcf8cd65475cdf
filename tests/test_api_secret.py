"""The gateway's token secret: short secrets refused from every source, the file created atomically (several
workers starting at once all end with the same secret), mode 0600. Real processes, real files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import ConfigError
from ledger.services.auth import MIN_SECRET_BYTES, load_secret

REPO = Path(__file__).resolve().parent.parent
WORKER = """
import sys
from pathlib import Path
from typing import Any
from ledger.services.auth import load_secret
sys.stdin.readline()  # wait for the starting gun: every worker is imported and ready
print(load_secret(Path(sys.argv[1])).hex())
"""


def test_short_or_empty_secret_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGER_API_SECRET", raising=False)
    for content in (b"", b"x" * (MIN_SECRET_BYTES - 1)):
        path = tmp_path / "api-token.key"
        path.write_bytes(content)
        with pytest.raises(ConfigError, match=f"at least {MIN_SECRET_BYTES} bytes"):
            load_secret(path)


def test_short_secret_from_the_environment_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("00" * 16, "ab" * (MIN_SECRET_BYTES - 1)):
        monkeypatch.setenv("LEDGER_API_SECRET", value)
        with pytest.raises(ConfigError, match=f"at least {MIN_SECRET_BYTES} bytes"):
            load_secret(tmp_path / "unused.key")
    monkeypatch.setenv("LEDGER_API_SECRET", "not hex")
    with pytest.raises(ConfigError, match="hex"):
        load_secret(tmp_path / "unused.key")
    monkeypatch.setenv("LEDGER_API_SECRET", "5a" * MIN_SECRET_BYTES)
    assert load_secret(tmp_path / "unused.key") == b"\x5a" * MIN_SECRET_BYTES
    assert not (tmp_path / "unused.key").exists()


def test_workers_starting_at_once_share_one_full_secret(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "api-token.key"
    env = {k: v for k, v in os.environ.items() if k != "LEDGER_API_SECRET"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(path)],
            cwd=REPO,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(6)
    ]
    for worker in workers:  # all workers are blocked on stdin; release them together
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        results.append(out.strip())
    assert len(set(results)) == 1 and len(bytes.fromhex(results[0])) == MIN_SECRET_BYTES
    assert path.read_bytes().hex() == results[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["api-token.key"]  # no temporary file left behind


def test_gateway_refuses_to_start_with_a_short_secret(ledger: Any) -> None:
    from .gateway_process import BoundGateway as Gateway

    gateway = Gateway(ledger, LEDGER_API_SECRET="ab" * 16)
    with pytest.raises(AssertionError, match="exited at start") as refused:
        gateway.__enter__()
    assert f"at least {MIN_SECRET_BYTES} bytes" in str(refused.value)
