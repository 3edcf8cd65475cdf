"""Replay: decisions re-run per second by ``ledger.services.replay.replay`` over a history of automatic decisions.

The history is made first (not timed): the shipped rule set rules/ss-eligibility.yaml is published, then
``decisions.decide_many`` decides generated applications (ledger.services.demo_data) and anchors them. The figure is the
auditor's replay of that whole history: log integrity against the chain, rule set and input loaded by digest,
engine re-run and comparison, for every decision.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench._common import DEPARTMENT, open_ledger, scratch_dir

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


def run(quick: bool = False) -> dict[str, Any]:
    from ledger._gc import cyclic_gc_paused
    from ledger.services import decisions
    from ledger.services.demo_data import generate_applications, generate_service_items
    from ledger.services.replay import replay

    n = QUICK_DECISIONS if quick else DECISIONS
    with scratch_dir("bench-replay-") as tmp:
        ledger = open_ledger(tmp / "data")
        try:
            rule_set = decisions._as_rule_set(RULES)
            decisions.publish_rule_set(ledger, rule_set, DEPARTMENT)
            start = time.perf_counter()
            decided = decisions.decide_many(
                ledger,
                DEPARTMENT,
                generate_applications(n, generate_service_items(40, 11), 11),
                {"*": rule_set},
                total=n,
            )
            decide_s = time.perf_counter() - start
            assert decided.count == n, decided.count
            start, cpu_start = time.perf_counter(), time.process_time()
            with cyclic_gc_paused():  # as `ledger replay` runs it
                report = replay(ledger, department=DEPARTMENT)
            replay_s, replay_cpu = time.perf_counter() - start, time.process_time() - cpu_start
            assert report.ok, report.summary()
            assert report.re_run == n, (report.re_run, n)
        finally:
            ledger.close()
    result = {
        "decisions": n,
        "replay_seconds": replay_s,
        "per_second": n / replay_s,
        "per_cpu_second": n / replay_cpu,
        "decide_per_second": n / decide_s,
        "decide_seconds": decide_s,
    }
    print(
        f"  replay of {n:,} decisions: {result['per_second']:,.0f} decisions/s ({replay_s:.1f} s, "
        f"{result['per_cpu_second']:,.0f} per CPU-second; no "
        f"discrepancies); deciding them took {decide_s:.1f} s ({result['decide_per_second']:,.0f}/s)",
        flush=True,
    )
    return result


if __name__ == "__main__":
    run(quick=True)
