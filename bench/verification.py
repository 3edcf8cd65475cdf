"""In-process verification: certificates verified per second through ``ledger.services.verify`` (the one verification
path), on certificates issued by the ledger itself, some of them revoked, suspended, reinstated or superseded.

Three figures: ``verify_many`` (one head read and one status-index sync per call, then pure computation),
``verify_certificate`` in a loop on one long-lived view (one ``eth_blockNumber`` per verification, as the
gateway does), and a cold single verification on a fresh view (what one ``ledger verify`` costs). Before timing,
every report from the status index is compared with the report of a fresh view that reads ``statusOf`` per
certificate, so a faster path can never give a different answer.
"""

from __future__ import annotations

import io
import json
import resource
import time
from typing import Any

from bench._common import DEPARTMENT, open_ledger, percentile, record, scratch_dir

CERTIFICATES = 20_000
QUICK_CERTIFICATES = 5_000


def _mine(ledger: Any, blocks: int) -> None:
    """Bench setup only: make the anchors deep enough to be cached (anvil's evm_mine)."""
    for _ in range(blocks):
        ledger.chain.w3.provider.make_request("evm_mine", [])


def issue_documents(ledger: Any, n: int, tag: str) -> list[dict[str, Any]]:
    from ledger.formats.certificate import validate_record
    from ledger.services.issuance import issue_records

    out = io.StringIO()
    records = (validate_record(record(i, tag), i + 1) for i in range(n))
    issue_records(ledger, records, DEPARTMENT, out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def change_statuses(ledger: Any, docs: list[dict[str, Any]]) -> dict[str, str]:
    from ledger.services import status

    digests = [d["digest"] for d in docs]
    status.revoke(ledger, digests[1], "fraud", DEPARTMENT)
    status.revoke(ledger, digests[2], "data-error", DEPARTMENT)
    status.suspend(ledger, digests[3], "under-investigation", DEPARTMENT)
    status.suspend(ledger, digests[4], "under-investigation", DEPARTMENT)
    status.reinstate(ledger, digests[4], "grounds-resolved", DEPARTMENT)
    status.supersede(ledger, digests[5], digests[6], DEPARTMENT)
    return {
        digests[1]: "revoked",
        digests[2]: "revoked",
        digests[3]: "suspended",
        digests[4]: "valid",
        digests[5]: "superseded",
        digests[6]: "valid",
    }


def _comparable(report: Any) -> dict[str, Any]:
    data = report.to_json()
    data.pop("as_of_block")
    for check in data["checks"]:
        if check["name"] in ("confirmations", "status"):
            check["detail"] = check["detail"].split(" blocks on top")[-1]
    return data


def check_index(ledger: Any, docs: list[dict[str, Any]], expected: dict[str, str]) -> int:
    """Reports from the status index equal those of statusOf calls; returns how many were compared."""
    from ledger.services.verify import ChainView, verify_certificate, verify_many

    sample = [d for d in docs if d["digest"] in expected] + docs[-50:]
    indexed = verify_many(sample, ChainView(ledger.chain, ledger.settings.confirmations))
    for doc, report in zip(sample, indexed, strict=True):
        direct = verify_certificate(doc, ChainView(ledger.chain, ledger.settings.confirmations))
        assert _comparable(report) == _comparable(direct), (report.to_json(), direct.to_json())
        if doc["digest"] in expected:
            assert report.facts["status"] == expected[doc["digest"]], (doc["digest"], report.facts)
    return len(sample)


def _cpu() -> float:
    """CPU-seconds of this process and of its reaped children (verify_many's forked helper)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(quick: bool = False) -> dict[str, Any]:
    from ledger._gc import cyclic_gc_paused
    from ledger.services.verify import ChainView, verify_certificate, verify_many

    n = QUICK_CERTIFICATES if quick else CERTIFICATES
    with scratch_dir("bench-verify-") as tmp:
        ledger = open_ledger(tmp / "data")
        try:
            docs = issue_documents(ledger, n, "V")
            expected = change_statuses(ledger, docs)
            compared = check_index(ledger, docs, expected)  # status events near the head (re-read each sync)
            _mine(ledger, 20)
            compared += check_index(ledger, docs, expected)  # and once they are deep
            view = ChainView(ledger.chain, ledger.settings.confirmations)
            verify_many(docs[:100], view)  # warm: batch anchors, key history, signatures, status index
            start, cpu_start = time.perf_counter(), _cpu()
            with cyclic_gc_paused():  # as a one-shot caller does (ledger._gc)
                reports = verify_many(docs, view)  # forks one helper on two cores or more (verify.worker_count)
            many_s, many_cpu = time.perf_counter() - start, _cpu() - cpu_start
            with cyclic_gc_paused():  # the same reports from one process
                single = verify_many(docs[:2_000], view, workers=0)
            assert [_comparable(r) for r in single] == [_comparable(r) for r in reports[:2_000]]
            assert sum(r.ok for r in reports) == n - 4, sum(
                r.ok for r in reports
            )  # 2 revoked, 1 suspended, 1 superseded

            loop_n = min(n, 5_000)
            start = time.perf_counter()
            for doc in docs[:loop_n]:
                verify_certificate(doc, view)
            loop_s = time.perf_counter() - start

            cold = []
            for doc in docs[-20:]:
                start = time.perf_counter()
                verify_certificate(doc, ChainView(ledger.chain, ledger.settings.confirmations))
                cold.append(time.perf_counter() - start)
            cold.sort()
        finally:
            ledger.close()
    result = {
        "certificates": n,
        "verify_many_per_second": n / many_s,
        "verify_many_per_cpu_second": n / many_cpu,
        "loop_per_second": loop_n / loop_s,
        "loop_certificates": loop_n,
        "cold_p50_ms": percentile(cold, 50) * 1e3,
        "compared": compared,
    }
    print(
        f"  verify_many over {n:,} certificates: {result['verify_many_per_second']:,.0f} verifications/s "
        f"({result['verify_many_per_cpu_second']:,.0f} per CPU-second, the forked helper's included)",
        flush=True,
    )
    print(f"  verify_certificate, one long-lived view: {result['loop_per_second']:,.0f} verifications/s", flush=True)
    print(f"  cold single verification (fresh view): p50 {result['cold_p50_ms']:.1f} ms", flush=True)
    print(
        f"  status index agreed with statusOf on {compared} reports (incl. revoked, suspended, reinstated, superseded)",
        flush=True,
    )
    return result


if __name__ == "__main__":
    run(quick=True)
