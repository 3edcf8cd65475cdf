"""What a store of many certificates costs to use, measured on the store the scale run built
(``python -m bench --scale``): each probe runs in its own process on the closed store, so its peak memory is its
own (getrusage high-water mark), not the issuing run's.

- ``evidence``: look up a certificate by id, export its holder document and build its evidence bundle
  (``evidence.certificate_bundle``) for certificates drawn at random across the whole store: no step may scan
  what grows with the store (target ≤ 50 ms at 10,000,000).
- ``verify``: ``verify_many`` over documents drawn at random across the store (every check of a certificate's
  verification, status from the index brought up to the head).
- ``reconcile``: ``ledger reconcile`` over the whole store (every row's leaf, proof and sealed body, every batch
  against its anchor on chain), streaming.

    python -m bench.scale_probe DATA_DIR --total N --step S --what evidence|verify|reconcile
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

from bench._common import DEPARTMENT, Cost, open_ledger, peak_rss_mb, percentile

EVIDENCE_SAMPLE = 30
VERIFY_SAMPLE = 5_000


def _random_ids(total: int, step: int, n: int, seed: int) -> list[str]:
    """Ids of n certificates drawn at random among the ``total`` the scale run issued (``S<step>-<index>``)."""
    rng = random.Random(seed)
    picks = rng.sample(range(total), n)
    return [f"S{i // step:03d}-{i % step:08d}" for i in picks]


def _documents(ledger: Any, ids: list[str]) -> list[dict[str, Any]]:
    from ledger.formats.canonical import hex32
    from ledger.services.issuance import export_documents
    from ledger.services.status import stored

    digests = [hex32(stored(ledger, cert_id, DEPARTMENT).digest) for cert_id in ids]
    found = export_documents(ledger, digests)
    return [found[d] for d in digests]


def evidence(ledger: Any, total: int, step: int, n: int = EVIDENCE_SAMPLE) -> dict[str, Any]:
    """Milliseconds to go from a certificate id to its evidence bundle, per certificate."""
    from ledger.services.evidence import certificate_bundle

    ids = _random_ids(total, step, n + 1, seed=total)
    certificate_bundle(ledger, _documents(ledger, ids[:1])[0])  # warm: imports, the head, the department history
    lookup, bundle = [], []
    for cert_id in ids[1:]:
        start = time.perf_counter()
        (doc,) = _documents(ledger, [cert_id])
        middle = time.perf_counter()
        certificate_bundle(ledger, doc)
        lookup.append((middle - start) * 1000)
        bundle.append((time.perf_counter() - middle) * 1000)
    total_ms = sorted(a + b for a, b in zip(lookup, bundle, strict=True))
    return {
        "bundles": n,
        "lookup_p50_ms": percentile(sorted(lookup), 50),
        "bundle_p50_ms": percentile(sorted(bundle), 50),
        "p50_ms": percentile(total_ms, 50),
        "max_ms": total_ms[-1],
    }


def verify(ledger: Any, total: int, step: int, n: int = VERIFY_SAMPLE) -> dict[str, Any]:
    from ledger.services.verify import ChainView, verify_many

    docs = _documents(ledger, _random_ids(total, step, n, seed=total + 1))
    with Cost() as cost:
        reports = verify_many(docs, ChainView(ledger.chain))
    failed = [r for r in reports if not r.ok]
    assert not failed, failed[0].to_json()
    return {"verified": n, "per_second": n / cost.seconds, "per_cpu_second": n / cost.cpu, **cost.to_json()}


def reconcile(ledger: Any) -> dict[str, Any]:
    from ledger.services.reconcile import reconcile as run

    with Cost() as cost:
        report = run(ledger)
    assert report.ok, report.to_json()["divergences"][:3]
    return {
        "certificates": report.certificates,
        "batches": report.batches,
        "per_second": report.certificates / cost.seconds,
        **cost.to_json(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--total", type=int, required=True)
    parser.add_argument("--step", type=int, required=True)
    parser.add_argument("--what", choices=("evidence", "verify", "reconcile"), required=True)
    args = parser.parse_args()
    ledger = open_ledger(args.data_dir)
    try:
        ledger.vault  # noqa: B018 - unwrap the vault key (one scrypt) before any clock starts
        rss_before = peak_rss_mb()
        if args.what == "evidence":
            out = evidence(ledger, args.total, args.step)
        elif args.what == "verify":
            out = verify(ledger, args.total, args.step)
        else:
            out = reconcile(ledger)
    finally:
        ledger.close()
    print(json.dumps({"what": args.what, **out, "rss_before_mb": rss_before, "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main()
