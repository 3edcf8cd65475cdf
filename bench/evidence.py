"""Evidence bundles: time to build one (``ledger.services.evidence.certificate_bundle``) and to check it with the
standalone verifier (scripts/verify_evidence.py, which imports nothing of the ledger), both in process and as
the separate command a court would run (interpreter start-up included).

Where the chain's length enters (docs/evidence.md, "Certificate slots"): these bundles are built with no witnesses
configured, so they take the trail path: the build and the court's check read the issuer's batch stream from its
registration to the head (the anchoring event held to the anchoring trail), and the default herd status lookup its
whole status stream (the supersessions with it). A witnessed bundle with the certificate's slots proven (a fresh
checkpoint, the direct lookup) reads only the anchoring's block (its predecessors from the contract's record,
CertificateAnchor 4.3.0). The figures here are for a short chain; the scale run's (bench/scale_probe.py) for a long one.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench._common import open_ledger, percentile, scratch_dir
from bench.verification import _mine, issue_documents

VERIFIER = Path(__file__).resolve().parent.parent / "scripts" / "verify_evidence.py"
BUNDLES = 30
QUICK_BUNDLES = 10
COMMAND_RUNS = 5


def available() -> str | None:
    try:
        from ledger.services.evidence import certificate_bundle  # noqa: F401
    except ImportError as exc:
        return f"evidence bundles (ledger.services.evidence): {exc}"
    if not VERIFIER.exists():
        return "the standalone verifier (scripts/verify_evidence.py)"
    return None


def _load_verifier() -> Any:
    spec = importlib.util.spec_from_file_location("verify_evidence", VERIFIER)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def run(quick: bool = False) -> dict[str, Any]:
    from ledger.services.evidence import certificate_bundle

    n = QUICK_BUNDLES if quick else BUNDLES
    verifier = _load_verifier()
    with scratch_dir("bench-evidence-") as tmp:
        ledger = open_ledger(tmp / "data")
        try:
            docs = issue_documents(ledger, n, "E")
            _mine(ledger, 10)
            rpc = str(ledger.chain.w3.provider.endpoint_uri)
            anchor = ledger.chain.deployment.anchor
            build, check, paths = [], [], []
            for i, doc in enumerate(docs):
                start = time.perf_counter()
                bundle = certificate_bundle(ledger, doc)
                build.append(time.perf_counter() - start)
                path = tmp / f"bundle-{i}.json"
                path.write_text(json.dumps(bundle))
                paths.append(path)
            bundle_bytes = paths[0].stat().st_size
            for path in paths:
                start = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):
                    code = verifier.main([str(path), "--rpc", rpc, "--anchor", anchor, "--json"])
                check.append(time.perf_counter() - start)
                assert code == 0, (code, path)
            command = []
            for path in paths[:COMMAND_RUNS]:
                start = time.perf_counter()
                subprocess.run(
                    [sys.executable, str(VERIFIER), str(path), "--rpc", rpc, "--anchor", anchor],
                    check=True,
                    capture_output=True,
                    timeout=120,
                )
                command.append(time.perf_counter() - start)
        finally:
            ledger.close()
    build.sort()
    check.sort()
    command.sort()
    result = {
        "bundles": n,
        "build_p50_ms": percentile(build, 50) * 1e3,
        "build_max_ms": build[-1] * 1e3,
        "check_p50_ms": percentile(check, 50) * 1e3,
        "check_max_ms": check[-1] * 1e3,
        "command_p50_ms": percentile(command, 50) * 1e3,
        "bundle_bytes": bundle_bytes,
    }
    print(
        f"  evidence bundle: build p50 {result['build_p50_ms']:.0f} ms (max {result['build_max_ms']:.0f}); "
        f"standalone check p50 {result['check_p50_ms']:.0f} ms in process (max {result['check_max_ms']:.0f}), "
        f"{result['command_p50_ms']:.0f} ms as a command",
        flush=True,
    )
    return result


if __name__ == "__main__":
    run(quick=True)
