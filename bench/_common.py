"""Shared helpers for the benchmarks: a fresh embedded ledger, synthetic records, timing and memory."""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PASSPHRASE = "bench-passphrase"
DEPARTMENT = "BENCH"
# Keys stay scrypt-encrypted; the benchmark need not wait on the production work factor when unlocking them.
os.environ.setdefault("LEDGER_KEYSTORE_KDF_N", "1024")
os.environ.setdefault("LEDGER_INSECURE_KEYSTORE_KDF_FLOOR", "1024")  # test keys only: below the safe floor
# The ledger's own encrypted keys (e.g. the witness checkpoint key) open with the benchmark's passphrase.
os.environ.setdefault("LEDGER_PASSPHRASE", PASSPHRASE)


# The certificate types the benchmarks issue: the council grants exactly these (docs/governance.md).
BENCH_TYPES = ("business-licence", "tax-clearance", "decision-notice", "food-business-permit")
# The service items the benchmarks' approvers decide on (the shipped screen for every item, the permit's item).
BENCH_ITEMS = ("*", "440300-SCJG-0107")


def record(i: int, tag: str = "B") -> dict[str, Any]:
    """One synthetic business-licence record, the same shape as the test suite's (three subject fields)."""
    return {
        "id": f"{tag}-{i:08d}",
        "type": "business-licence",
        "subject": {
            "name": f"Zhang Wei {i}",
            "credit_code": f"91440300MA5{i:08d}",
            "id_number": f"44030019800101{i:04d}",
        },
        "valid_from": "2026-01-01",
        "valid_until": "2031-12-31",
    }


def write_records(path: Path, n: int, tag: str = "B") -> Path:
    """Write n records as JSONL, streaming (the input file of a bulk issuance)."""
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    with path.open("w", encoding="utf-8") as handle:
        for start in range(0, n, 10_000):
            handle.write("".join(dumps(record(i, tag)) + "\n" for i in range(start, min(n, start + 10_000))))
    return path


def open_ledger(data_dir: Path, *, departments: tuple[str, ...] = (DEPARTMENT,), **settings: Any) -> Any:
    """An embedded ledger (its own anvil node and SQLite) with issuer+verifier departments registered."""
    from ledger.client import Ledger
    from ledger.config import Settings
    from ledger.onchain.chain import ROLE_APPROVER, ROLE_AUDITOR, ROLE_ISSUER, ROLE_VERIFIER
    from ledger.services.departments import Council

    for member in (1, 2, 3):  # the embedded demo council: three members, three keystores, three passphrases
        os.environ.setdefault(f"LEDGER_DEMO_COUNCIL_PASSPHRASE_{member}", f"benchmark council member {member}")
    ledger = Ledger.open(Settings(data_dir=data_dir, keystore_kdf_n=1024, **settings), passphrase=PASSPHRASE)
    council = Council(ledger)
    roles = ROLE_ISSUER | ROLE_VERIFIER | ROLE_AUDITOR | ROLE_APPROVER
    for code in departments:
        if not ledger.keystore.exists(f"dept-{code}"):
            council.register(code, f"Benchmark department {code}", roles, types=BENCH_TYPES, items=BENCH_ITEMS)
    return ledger


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    base = Path(os.environ.get("BENCH_TMP", tempfile.gettempdir()))
    with tempfile.TemporaryDirectory(prefix=prefix, dir=base) as tmp:
        yield Path(tmp)


def peak_rss_mb() -> float:
    """High-water resident set size of this process: Linux's VmHWM, of this process's own memory since it started
    its program (``ru_maxrss`` survives exec: a probe started by the scale run reported the run's 601 MB as its own);
    ``ru_maxrss`` (KiB) where /proc has none."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self.start


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def cpu_seconds() -> float:
    """CPU-seconds (user + system) of this process and of its children that have been waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Cost:
    """Wall time, CPU-seconds (process + children) and load average around a block: every figure carries them, so
    a figure from a busy machine reads as one."""

    def __enter__(self) -> Cost:
        self.load_before = os.getloadavg()[0]
        self.start, self.cpu_start = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self.start
        self.cpu = cpu_seconds() - self.cpu_start
        self.load_after = os.getloadavg()[0]

    def to_json(self) -> dict[str, float]:
        return {
            "wall_seconds": self.seconds,
            "cpu_seconds": self.cpu,
            "load_before": self.load_before,
            "load_after": self.load_after,
        }


def sqlite_space(db_file: Path) -> dict[str, int]:
    """Bytes each table and index takes in a SQLite file (the dbstat virtual table), largest first."""
    import sqlite3

    conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    finally:
        conn.close()
    return {name: int(size) for name, size in rows}
