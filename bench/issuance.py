"""Bulk issuance end to end on the embedded default: validate, canonicalize, salt, hash, sign, store, anchor,
confirm, through ``ledger.services.issuance.issue_file`` exactly as ``ledger issue`` runs it
(worker processes included).

Each size runs in a fresh subprocess with its own data directory (anvil node + SQLite), so its peak memory
(the RSS high-water mark from getrusage) is that of one issuance and nothing else. The input file is written
before the clock starts; the figure covers both passes over it (validation, then issuing).

Every row carries its wall time, its CPU-seconds (the issuing process and its worker processes), the load average
and the limit it is chasing, measured in the same process just before: canonicalize + salt + hash + Merkle tree per
CPU-second of one core, times the cores. It also says where the bytes of the store go (SQLite's dbstat).

``python -m bench --scale [N]`` issues N certificates (default 10,000,000) a million at a time into one store and
writes a growth table: seconds per million, CPU, peak and current memory, bytes per certificate.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import scale_probe
from bench._common import DEPARTMENT, Cost, open_ledger, peak_rss_mb, scratch_dir, sqlite_space, write_records

SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
TARGET, FLOOR = 30_000, 20_000
LIMIT_SAMPLE = 20_000


def limit_per_core(n: int = LIMIT_SAMPLE) -> dict[str, float]:
    """Canonicalize + salt + hash + Merkle tree of n validated records (``_unsigned_packed``, the pure part of a
    batch as the worker processes compute it) in this process: certificates per CPU-second of one core, and per
    wall second under the current load."""
    from bench._common import record
    from ledger.formats.certificate import validate_record
    from ledger.services._issue_worker import _unsigned_packed as _unsigned
    from ledger.services.issuance import _issued_at

    records = [validate_record(record(i, "L"), i + 1, department=DEPARTMENT) for i in range(n)]
    _unsigned(records[:1000], DEPARTMENT, _issued_at())  # warm
    start, cpu_start = time.perf_counter(), time.process_time()
    for i in range(0, n, 10_000):
        _unsigned(records[i : i + 10_000], DEPARTMENT, _issued_at())
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    cores = os.cpu_count() or 1
    return {
        "per_core_per_cpu_second": n / cpu,
        "per_core_per_wall_second": n / wall,
        "cores": cores,
        "limit": n / cpu * cores,
    }


def _store_space(db_file: Path, n: int) -> dict[str, Any]:
    import sqlite3

    wal = db_file.with_name(db_file.name + "-wal")  # up to ~1 GiB not yet checkpointed (store.py)
    file_bytes = db_file.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        columns = conn.execute(
            "SELECT AVG(LENGTH(sealed)), AVG(LENGTH(digest)), AVG(LENGTH(batch_root)) FROM certificate"
        ).fetchone()
        # the Merkle proofs are recomputed from each batch's leaves (32 bytes per certificate, on the batch row)
        leaves = conn.execute("SELECT SUM(LENGTH(leaves)) FROM batch").fetchone()[0] / n
    finally:
        conn.close()
    space = sqlite_space(db_file)
    # Bytes per certificate: the pages of the database as read through the log (dbstat). The files on disk also
    # hold a write-ahead log that keeps its largest size (up to ~1 GiB) once checkpointed: db_mb counts it.
    return {
        "db_mb": file_bytes / 2**20,
        "bytes_per_certificate": sum(space.values()) / n,
        "file_bytes_per_certificate": file_bytes / n,
        "space_per_certificate": {name: size / n for name, size in space.items() if size / n >= 1},
        "column_bytes": {**dict(zip(("sealed", "digest", "batch_root"), columns, strict=True)), "batch_leaves": leaves},
    }


def worker(n: int, profile: Path | None = None) -> dict[str, Any]:
    from ledger._gc import cyclic_gc_paused
    from ledger.services.issuance import issue_file

    limit = limit_per_core()
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
            own_start = time.process_time()
            with Cost() as cost, cyclic_gc_paused():  # as `ledger issue` runs it
                result = issue_file(ledger, source, DEPARTMENT)
            own_cpu = time.process_time() - own_start
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(str(profile))
            assert result.count == n, (result.count, n)
            workers = ledger.settings.issue_workers
        finally:
            ledger.close()
        space = _store_space(tmp / "data" / "ledger.sqlite3", n)
    per_second = n / cost.seconds
    return {
        "certificates": n,
        "seconds": cost.seconds,
        "per_second": per_second,
        "cpu_seconds": cost.cpu,
        "writer_cpu_seconds": own_cpu,
        "per_cpu_second": n / cost.cpu,
        "load_before": cost.load_before,
        "load_after": cost.load_after,
        "issue_workers_setting": workers,
        "limit": limit,
        "share_of_limit": per_second / limit["limit"],
        "batches": len(result.batches),
        "transactions": len(set(result.transactions)),
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        **space,
    }


def postgres_space(url: str, n: int) -> dict[str, Any]:
    """Issue n certificates into a PostgreSQL database (it should be empty) and measure the bytes per certificate
    of the certificate and batch tables (the batch rows hold the leaves every proof is recomputed from), their
    TOAST and each index (pg_relation_size after VACUUM)."""
    from sqlalchemy import text

    from ledger.services.issuance import issue_file

    with scratch_dir("bench-pg-") as tmp:
        source = write_records(tmp / "records.jsonl", n, tag="P")
        ledger = open_ledger(tmp / "data", database_url=url)
        try:
            with Cost() as cost:
                issue_file(ledger, source, DEPARTMENT)
            with ledger.engine.connect() as conn:
                auto = conn.execution_options(isolation_level="AUTOCOMMIT")
                auto.exec_driver_sql("VACUUM ANALYZE certificate")
                auto.exec_driver_sql("VACUUM ANALYZE batch")
                rows = []
                for table in ("certificate", "batch"):
                    rows += conn.execute(
                        text(
                            # the TOAST table (where the batches' leaves go) is in the pg_toast schema
                            "SELECT CASE WHEN ns.nspname = 'pg_toast' THEN :t || ' (TOAST)' ELSE c.relname END, "
                            "pg_relation_size(c.oid) FROM pg_class c JOIN pg_namespace ns ON "
                            "ns.oid = c.relnamespace WHERE c.oid = CAST(:t AS regclass) "
                            "OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = CAST(:t AS regclass)) "
                            "OR c.oid = (SELECT reltoastrelid FROM pg_class WHERE oid = CAST(:t AS regclass))"
                        ),
                        {"t": table},
                    ).all()
                total = conn.execute(
                    text("SELECT pg_total_relation_size('certificate') + pg_total_relation_size('batch')")
                ).scalar()
                n = conn.execute(text("SELECT count(*) FROM certificate")).scalar()  # all rows the sizes cover
        finally:
            ledger.close()
    return {
        "certificates": n,
        **cost.to_json(),
        "per_second": n / cost.seconds,
        "bytes_per_certificate": total / n,
        "space_per_certificate": {name: size / n for name, size in rows if size / n >= 1},
    }


def run(quick: bool = False) -> dict[str, Any]:
    rows = []
    for n in QUICK_SIZES if quick else SIZES:
        out = subprocess.run(
            [sys.executable, "-m", "bench.issuance", "--worker", str(n)],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent.parent,
        )
        if out.returncode != 0:
            raise RuntimeError(f"issuance of {n} failed:\n{out.stderr[-3000:]}")
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"  issuance {n:>9,}: {row['per_second']:8,.0f} certificates/s  ({row['seconds']:.1f} s, "
            f"{row['cpu_seconds']:.1f} CPU-s, load {row['load_before']:.1f}, limit {row['limit']['limit']:,.0f}/s, "
            f"{row['share_of_limit']:.0%} of it, {row['transactions']} anchoring tx, peak RSS "
            f"{row['peak_rss_mb']:.0f} MB, {row['bytes_per_certificate']:,.0f} bytes/certificate)",
            flush=True,
        )
        rows.append(row)
    return {"rows": rows, "target": TARGET, "floor": FLOOR}


# -- scale: ten million into one store ---------------------------------------------------------------------------


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def scale_worker(total: int, step: int = 1_000_000) -> None:
    """Issue ``total`` certificates a ``step`` at a time into one store; one JSON line per step on stdout."""
    from ledger._gc import cyclic_gc_paused
    from ledger.services.issuance import issue_file

    limit = limit_per_core()
    print(json.dumps({"limit": limit}), flush=True)
    with scratch_dir("bench-scale-") as tmp:
        ledger = open_ledger(tmp / "data")
        try:
            ledger.vault  # noqa: B018
            done = 0
            while done < total:
                n = min(step, total - done)
                source = write_records(tmp / "records.jsonl", n, tag=f"S{done // step:03d}")
                with Cost() as cost, cyclic_gc_paused():
                    result = issue_file(ledger, source, DEPARTMENT)
                assert result.count == n
                source.unlink()
                done += n
                found = scale_probe.evidence(ledger, done, step)  # time only: its memory is the run's
                db_bytes = sum(sqlite_space(tmp / "data" / "ledger.sqlite3").values())  # through the log
                print(
                    json.dumps(
                        {
                            "certificates": done,
                            "step": n,
                            **cost.to_json(),
                            "per_second": n / cost.seconds,
                            "peak_rss_mb": peak_rss_mb(),
                            "rss_mb": _current_rss_mb(),
                            "db_mb": db_bytes / 2**20,
                            "bytes_per_certificate": db_bytes / done,
                            "evidence_p50_ms": found["p50_ms"],
                            "evidence_max_ms": found["max_ms"],
                        }
                    ),
                    flush=True,
                )
        finally:
            ledger.close()
        for what in ("verify", "reconcile"):  # each in its own process on the closed store: its own peak memory
            probe = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.scale_probe",
                    str(tmp / "data"),
                    "--total",
                    str(total),
                    "--step",
                    str(step),
                    "--what",
                    what,
                ],
                capture_output=True,
                text=True,
                check=False,
                cwd=Path(__file__).resolve().parent.parent,
            )
            if probe.returncode != 0:
                print(json.dumps({"probe": what, "error": probe.stderr[-2000:]}), flush=True)
            else:
                print(json.dumps({"probe": what, **json.loads(probe.stdout.strip().splitlines()[-1])}), flush=True)


def scale_main(total: int, out_file: Path, step: int = 1_000_000) -> int:
    """Run :func:`scale_worker` in a fresh process, print and write the growth table."""
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.issuance", "--scale", str(total), "--step", str(step)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    rows, limit, probes = [], None, []
    assert proc.stdout is not None
    for line in proc.stdout:
        data = json.loads(line)
        if "limit" in data:
            limit = data["limit"]
            print(f"limit: {limit['limit']:,.0f} certificates/s ({limit['cores']} cores)", flush=True)
            continue
        if "probe" in data:
            probes.append(data)
            print(f"  {data['probe']} over the store: {json.dumps(data)}", flush=True)
            out_file.write_text(scale_table(started, total, step, limit, rows, probes))
            continue
        rows.append(data)
        print(
            f"  {data['certificates']:>11,}: {data['wall_seconds']:.1f} s for this step "
            f"({data['per_second']:,.0f}/s, {data['cpu_seconds']:.1f} CPU-s, load {data['load_before']:.1f}), "
            f"peak RSS {data['peak_rss_mb']:.0f} MB, {data['bytes_per_certificate']:,.0f} bytes/certificate, "
            f"evidence bundle p50 {data['evidence_p50_ms']:.0f} ms (max {data['evidence_max_ms']:.0f})",
            flush=True,
        )
        out_file.write_text(scale_table(started, total, step, limit, rows, probes))
    from bench import charts

    charts.draw(scale_markdown=out_file.read_text())  # scale.svg (and targets.svg from the last full run)
    return proc.wait()


def scale_table(
    started: str,
    total: int,
    step: int,
    limit: dict[str, float] | None,
    rows: list[dict[str, Any]],
    probes: list[dict[str, Any]] | None = None,
) -> str:
    out = [
        f"## Scale: one store growing to {total:,} certificates (`python -m bench --scale`)",
        "",
        f"Started {started}; {len(rows)} of {-(-total // step)} step(s) done. Each step issues one file of "
        f"{step:,} new records with `issue_file` into the same store (SQLite); wall and CPU-seconds (process + "
        "worker processes), load average at the start of the step, peak RSS (high-water) and RSS after it, "
        "and the database's pages (dbstat, read through the write-ahead log) divided by all certificates so far; "
        "then the time from a certificate id to its evidence bundle for 30 certificates drawn across the whole "
        "store (lookup, export, `certificate_bundle`; target ≤ 50 ms)."
        + (f" Limit measured before: {limit['limit']:,.0f} certificates/s ({limit['cores']} cores)." if limit else ""),
        "",
        "| certificates | seconds for this step | certificates/s | CPU-s | load | peak RSS MB | RSS MB | "
        "database MB | bytes per certificate | evidence p50 / max ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['certificates']:,} | {r['wall_seconds']:.1f} | {r['per_second']:,.0f} | "
            f"{r['cpu_seconds']:.1f} | {r['load_before']:.1f} | {r['peak_rss_mb']:.0f} | {r['rss_mb']:.0f} | "
            f"{r['db_mb']:,.0f} | {r['bytes_per_certificate']:,.0f} | "
            f"{r.get('evidence_p50_ms', float('nan')):.0f} / {r.get('evidence_max_ms', float('nan')):.0f} |"
        )
    if probes:
        out += [
            "",
            "Over the whole store once it is built, each in its own process (its peak memory is its own): "
            f"`verify_many` over {scale_probe.VERIFY_SAMPLE:,} documents drawn at random across the store, and "
            "`ledger reconcile` (every row's leaf, proof and sealed body, every batch against the chain).",
            "",
            "| over the store | items | seconds | items/s | CPU-s | load | peak RSS MB |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for p in probes:
            if "error" in p:
                out.append(f"| {p['probe']} | failed: {p['error'].splitlines()[-1][:200]} | | | | | |")
                continue
            items = p.get("verified", p.get("certificates", 0))
            out.append(
                f"| {p['probe']} | {items:,} | {p['wall_seconds']:.1f} | {p['per_second']:,.0f} | "
                f"{p['cpu_seconds']:.1f} | {p['load_before']:.1f} | {p['peak_rss_mb']:.0f} |"
            )
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", type=int)
    parser.add_argument("--scale", type=int)
    parser.add_argument("--step", type=int, default=1_000_000)
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--postgres", metavar="URL", help="measure bytes per certificate on this PostgreSQL")
    args = parser.parse_args()
    if args.postgres:
        print(json.dumps(postgres_space(args.postgres, args.worker or 100_000)))
        return
    if args.scale:
        scale_worker(args.scale, args.step)
        return
    print(json.dumps(worker(args.worker, args.profile)))


if __name__ == "__main__":
    main()
