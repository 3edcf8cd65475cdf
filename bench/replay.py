"""Decisions and replay: automatic decisions recorded per second by ``decisions.decide_many``, and re-run per second
by ``ledger.services.replay.replay`` over that history.

The shipped rule set rules/ss-eligibility.yaml is published, then ``decide_many`` decides generated applications
(ledger.services.demo_data, streamed: never all in memory) and anchors them: that is the decide figure. The replay
figure is the auditor's replay of the whole history: log integrity against the chain, rule set and input loaded by
digest, facts re-established, input commitment recomputed, engine re-run and compared, for every decision.

Each figure carries its wall time, CPU-seconds (this process and its worker processes) and the peak resident memory
of this process and of the largest worker::

    python -m bench.replay --decisions 100000
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path
from typing import Any

from bench._common import DEPARTMENT, cpu_seconds, open_ledger, peak_rss_mb, scratch_dir

DECISIONS = 100_000
QUICK_DECISIONS = 20_000
RULES = Path(__file__).resolve().parent.parent / "rules" / "ss-eligibility.yaml"


def available() -> str | None:
    try:
        from ledger.services import decisions, replay  # noqa: F401
        from ledger.services.demo_data import generate_applications, generate_service_items  # noqa: F401
    except ImportError as exc:
        return f"decision replay (ledger.services.replay): {exc}"
    return None


def _children_peak_mb() -> float:
    """High-water RSS of the largest child process waited for (worker pools once shut down, the anvil node once
    closed). A spawned worker counts the parent's pages it shared between fork and exec, so this is an upper bound."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _reset_peak_rss() -> bool:
    """Reset this process's resident-memory high-water mark (Linux: ``clear_refs`` 5 resets ``VmHWM``), so that
    replay's own peak is measured, not decide's before it in the same process. False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_rss_since_reset_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def run(quick: bool = False, decisions_count: int | None = None) -> dict[str, Any]:
    from ledger._gc import cyclic_gc_paused
    from ledger.formats.rules import load_rule_set
    from ledger.services import decisions
    from ledger.services.demo_data import catalogue, generate_applications, generate_service_items
    from ledger.services.replay import replay

    n = decisions_count or (QUICK_DECISIONS if quick else DECISIONS)
    with scratch_dir("bench-replay-") as tmp:
        ledger = open_ledger(tmp / "data")
        try:
            items = generate_service_items(40, 11)
            # the screen publishes the department's catalogue and reads it, not the applications' item (round 60b)
            rule_set = load_rule_set(decisions._as_rule_set(RULES).document | {"items": catalogue(items)})
            decisions.publish_rule_set(ledger, rule_set, DEPARTMENT)
            load = os.getloadavg()[0]
            start, cpu_start, own_start = time.perf_counter(), cpu_seconds(), time.process_time()
            with cyclic_gc_paused():  # as `ledger decide` runs it
                decided = decisions.decide_many(
                    ledger,
                    DEPARTMENT,
                    generate_applications(n, items, 11),
                    {"*": rule_set},
                    total=n,
                )
            decide_s, decide_cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
            decide_own = time.process_time() - own_start
            decide_rss = peak_rss_mb()
            assert decided.count == n, decided.count
            print(
                f"  decide {n:,}: {n / decide_s:,.0f}/s ({decide_s:.1f} s wall, {decide_cpu:.1f} CPU-s, "
                f"{n / decide_cpu:,.0f} per CPU-s; this process {decide_own:.1f} CPU-s, workers "
                f"{decide_cpu - decide_own:.1f}); peak RSS {decide_rss:,.0f} MB",
                flush=True,
            )
            reset = _reset_peak_rss()
            start, cpu_start, own_start = time.perf_counter(), cpu_seconds(), time.process_time()
            with cyclic_gc_paused():  # as `ledger replay` runs it
                report = replay(ledger, department=DEPARTMENT)
            replay_s, replay_cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
            replay_own = time.process_time() - own_start
            replay_rss = _peak_rss_since_reset_mb() if reset else None
            assert report.ok, report.summary()
            assert report.re_run == n, (report.re_run, n)
        finally:
            ledger.close()
    result = {
        "decisions": n,
        "load_before": load,
        "load_after": os.getloadavg()[0],
        "decide_seconds": decide_s,
        "decide_cpu_seconds": decide_cpu,
        "decide_per_second": n / decide_s,
        "decide_per_cpu_second": n / decide_cpu,
        "decide_own_cpu_seconds": decide_own,
        "replay_seconds": replay_s,
        "replay_cpu_seconds": replay_cpu,
        "per_second": n / replay_s,
        "per_cpu_second": n / replay_cpu,
        "replay_own_cpu_seconds": replay_own,
        "peak_rss_mb_after_decide": decide_rss,
        "peak_rss_mb": peak_rss_mb(),
        "replay_peak_rss_mb": replay_rss,
        "workers_peak_rss_mb": _children_peak_mb(),
    }
    print(
        f"  replay {n:,}: {result['per_second']:,.0f}/s ({replay_s:.1f} s wall, {replay_cpu:.1f} CPU-s, "
        f"{result['per_cpu_second']:,.0f} per CPU-s; this process {replay_own:.1f} CPU-s, workers "
        f"{replay_cpu - replay_own:.1f}; no discrepancies)\n"
        f"  peak RSS {result['peak_rss_mb']:,.0f} MB (after deciding {decide_rss:,.0f} MB; during replay "
        + (f"{replay_rss:,.0f} MB" if replay_rss is not None else "not measured")
        + f"), largest child process "
        f"{result['workers_peak_rss_mb']:,.0f} MB; load {load:.1f} -> {result['load_after']:.1f}",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=QUICK_DECISIONS, metavar="N", help="decisions to make")
    args = parser.parse_args(argv)
    if args.decisions < 1:
        parser.error("--decisions must be at least 1")
    run(decisions_count=args.decisions)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
