"""Run every benchmark, print its figures and write bench/RESULTS.md with the machine and date.

    python -m bench            # full run (about 10-15 minutes on 2 cores)
    python -m bench --quick    # smaller sizes, shorter load runs (written to bench/out/, beside no full run's)
    python -m bench --only issuance,gas   # bench/out/ too
    python -m bench --scale    # issue 10,000,000 certificates into one store, growth table in bench/SCALE.md

Benchmarks measure; nothing here is a test. A component that does not exist yet is reported as
"not available yet: <what>".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import charts, report
from bench._common import Cost

SECTIONS = ("selfcheck", "issuance", "gas", "verification", "gateway", "replay", "evidence", "witness")
HERE = Path(__file__).resolve().parent


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) // 1024
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE.parent, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    from ledger.onchain.node import ANVIL_FLAGS  # noqa: F401 - the embedded default being measured
    from ledger.onchain.toolchain import tool_path

    anvil = (
        subprocess.run([str(tool_path("anvil")), "--version"], capture_output=True, text=True, check=False)
        .stdout.strip()
        .splitlines()
    )
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mb": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "anvil": anvil[0] if anvil else "?",
        "commit": commit,
        "load_before": os.getloadavg(),
    }


def _section(name: str, quick: bool) -> dict[str, Any]:
    if name == "selfcheck":
        from bench import selfcheck

        return {"values": selfcheck.run()}
    module = __import__(f"bench.{name}", fromlist=["run"])
    missing = getattr(module, "available", lambda: None)()
    if missing:
        print(f"  not available yet: {missing}", flush=True)
        return {"not_available": missing}
    return module.run(quick=quick)  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and shorter load runs")
    parser.add_argument("--only", help=f"comma-separated sections of {', '.join(SECTIONS)}")
    parser.add_argument(
        "--scale",
        nargs="?",
        const=10_000_000,
        type=int,
        metavar="N",
        help="only the scale run: issue N certificates (default 10,000,000) a million at a time "
        "into one store, with a growth table",
    )
    parser.add_argument(
        "--scale-step",
        type=int,
        default=1_000_000,
        metavar="N",
        help="certificates per step of the scale run (a row of its growth table)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        help="where to write the results (with results.json and the charts beside it); default bench/RESULTS.md "
        "for a full run, bench/out/RESULTS.md for a --quick or --only one, which must not replace the full run's",
    )
    args = parser.parse_args(argv)
    if args.scale:
        from bench import issuance

        return issuance.scale_main(args.scale, HERE / "SCALE.md", args.scale_step)
    wanted = [s.strip() for s in args.only.split(",")] if args.only else list(SECTIONS)
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}")
    info = machine()
    print(
        f"bench on {info['cpu']} ({info['cores']} cores, {info['memory_mb']:,} MB), Python {info['python']}, "
        f"{info['anvil']}, {info['date']}{' (quick)' if args.quick else ''}",
        flush=True,
    )
    results: dict[str, Any] = {}
    failed = False
    started = time.perf_counter()
    for name in wanted:
        print(f"[{name}]", flush=True)
        t0 = time.perf_counter()
        cost = Cost()
        try:
            with cost:
                results[name] = _section(name, args.quick)
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others' figures
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            failed = True
        results[name]["section_seconds"] = time.perf_counter() - t0
        if hasattr(cost, "cpu"):
            results[name]["cost"] = cost.to_json()
    info["load_after"] = os.getloadavg()
    info["total_seconds"] = time.perf_counter() - started
    info["quick"] = args.quick
    partial = args.quick or bool(args.only)
    results_md = args.results or (HERE / "out" / "RESULTS.md" if partial else HERE / "RESULTS.md")
    results_md.parent.mkdir(parents=True, exist_ok=True)
    (results_md.parent / "results.json").write_text(
        json.dumps({"machine": info, "results": results}, indent=2, default=str)
    )
    charts.draw(results, into=results_md.parent)  # before the report, which shows them
    results_md.write_text(report.render(info, results))
    print(f"wrote {results_md} ({info['total_seconds']:.0f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
