"""Bulk issuance end to end on the embedded default: validate, canonicalize, salt, hash, sign, store, anchor,
confirm, through ``ledger.issuance.issue_file`` exactly as ``ledger issue`` runs it.

Each size runs in a fresh subprocess with its own data directory (anvil node + SQLite), so its peak memory
(the RSS high-water mark from getrusage) is that of one issuance and nothing else. The input file is written
before the clock starts; the figure covers both passes over it (validation, then issuing).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench._common import DEPARTMENT, open_ledger, peak_rss_mb, scratch_dir, write_records

SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)


def worker(n: int, profile: Path | None = None) -> dict[str, Any]:
    from ledger._gc import cyclic_gc_paused
    from ledger.issuance import issue_file

    with scratch_dir("bench-issue-") as tmp:
        source = write_records(tmp / "records.jsonl", n)
        ledger = open_ledger(tmp / "data")
        try:
            ledger.vault  # noqa: B018 - unwrap the vault key (one scrypt) before the clock starts
            rss_before = peak_rss_mb()
            profiler = None
            if profile is not None:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            start, cpu_start = time.perf_counter(), time.process_time()
            with cyclic_gc_paused():  # as `ledger issue` runs it
                result = issue_file(ledger, source, DEPARTMENT)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(str(profile))
            assert result.count == n, (result.count, n)
            db_file = tmp / "data" / "ledger.sqlite3"
            wal = db_file.with_name(db_file.name + "-wal")  # up to ~160 MB not yet checkpointed (store.py)
            db_bytes = db_file.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
        finally:
            ledger.close()
    return {"certificates": n, "seconds": seconds, "per_second": n / seconds, "cpu_seconds": cpu,
            "per_cpu_second": n / cpu, "batches": len(result.batches),
            "transactions": len(set(result.transactions)), "rss_before_mb": rss_before, "peak_rss_mb": peak_rss_mb(),
            "db_mb": db_bytes / 2**20}


def run(quick: bool = False) -> dict[str, Any]:
    rows = []
    for n in QUICK_SIZES if quick else SIZES:
        out = subprocess.run([sys.executable, "-m", "bench.issuance", "--worker", str(n)], capture_output=True,
                             text=True, check=False, cwd=Path(__file__).resolve().parent.parent)
        if out.returncode != 0:
            raise RuntimeError(f"issuance of {n} failed:\n{out.stderr[-3000:]}")
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  issuance {n:>9,}: {row['per_second']:8,.0f} certificates/s  ({row['seconds']:.1f} s, "
              f"{row['per_cpu_second']:,.0f} per CPU-second of this process, "
              f"{row['transactions']} anchoring tx, peak RSS {row['peak_rss_mb']:.0f} MB)", flush=True)
        rows.append(row)
    return {"rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", type=int, required=True)
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()
    print(json.dumps(worker(args.worker, args.profile)))


if __name__ == "__main__":
    main()
