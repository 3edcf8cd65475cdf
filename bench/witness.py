"""Witnessed checkpoints (docs/witness.md): how many checkpoints a witness sustains, whether its work grows with
the number of certificates (it must not: it reads block headers, never certificates), and the extra time a
witnessed evidence bundle costs to build and to check.

Two witnesses run in this process, each with its own key, store and HTTP server (the same code as
``ledger witness serve``); the ledger talks to them over HTTP as in production.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import time
from typing import Any

from bench._common import PASSPHRASE, open_ledger, percentile, scratch_dir
from bench.evidence import VERIFIER, _load_verifier
from bench.verification import _mine, issue_documents

CHECKPOINTS = 200
QUICK_CHECKPOINTS = 50
BUNDLES = 20
QUICK_BUNDLES = 5
# Evidence as the chain grows (issue 18: no scan that grows with the store): the issuer anchors GROWTH more batches
# of one certificate and revokes each, and the chain grows by GROWTH_BLOCKS empty blocks; a bundle of one of the
# first certificates is built and checked GROWTH_RUNS times before and after, under each status lookup
GROWTH, QUICK_GROWTH = 200, 20
GROWTH_BLOCKS, QUICK_GROWTH_BLOCKS = 2_000, 200
GROWTH_RUNS = 5


def available() -> str | None:
    try:
        from ledger.services.witness import server  # noqa: F401
    except ImportError as exc:
        return f"witnesses (ledger.services.witness): {exc}"
    return None


def _start(tmp: Any, name: str, rpc: str) -> tuple[Any, str, Any]:
    from http.server import ThreadingHTTPServer

    from ledger.services.witness.rpc import Rpc
    from ledger.services.witness.server import Witness, WitnessStore, make_handler

    os.environ.setdefault("LEDGER_WITNESS_PASSPHRASE", f"benchmark witness {name}")  # its key is kept encrypted
    store = WitnessStore(tmp / name)
    store.create_key(f"{name}.bench/w")
    witness = Witness(store, Rpc(rpc), log=lambda line: None)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(witness))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return witness, f"http://127.0.0.1:{server.server_address[1]}", server


def _collect_ms(ledger: Any, config: Any, runs: int, blocks: int = 1) -> list[float]:
    from ledger.services.witness.client import collect

    times = []
    for _ in range(runs):
        _mine(ledger, blocks)
        start = time.perf_counter()
        result = collect(ledger.chain, ledger.settings.data_dir, config)
        times.append((time.perf_counter() - start) * 1e3)
        assert result.witnessed, result.to_json()
    return sorted(times)


def _witness_alone_ms(ledger: Any, witness: Any, runs: int) -> list[float]:
    """One witness's own work per checkpoint (its chain reads, the checks, signing, persisting), no HTTP."""
    from ledger.services.witness.checkpoint import Checkpoint
    from ledger.services.witness.client import chain_identity, log_key
    from ledger.services.witness.note import Note

    identity = chain_identity(ledger.chain)
    key = log_key(ledger.settings.data_dir, identity.origin, PASSPHRASE)
    times = []
    for _ in range(runs):
        _mine(ledger, 1)
        head = ledger.chain.block_number()
        cp = Checkpoint.at(identity, head, bytes(ledger.chain.w3.eth.get_block(head)["hash"]))
        old = witness.store.load()["origins"][identity.origin]["size"]
        body = f"old {old}\n\n".encode() + Note(cp.text(), (key.sign_note(cp.text()),)).render().encode()
        start = time.perf_counter()
        witness.add_checkpoint(body)
        times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)


def _grow(ledger: Any, batches: int, blocks: int) -> None:
    """Bench setup: ``batches`` more batches of one certificate from the bench's department, each revoked (its
    batch stream and its status stream grow), then ``blocks`` empty blocks."""
    from ledger.services import status

    for i in range(batches):
        (doc,) = issue_documents(ledger, 1, f"G{i}")
        status.revoke(ledger, doc["digest"], "fraud")
    _mine(ledger, blocks)


def _bundle_ms(
    ledger: Any, verifier: Any, doc: dict[str, Any], path: Any, rpc: str, keys: list[str], lookup: str
) -> tuple[float, float]:
    """(build p50, check p50) in ms of ``doc``'s witnessed bundle under ``lookup``, the court's verifier checking
    it with the same lookup and both witness keys."""
    from ledger.services.evidence import certificate_bundle

    builds, checks = [], []
    for _ in range(GROWTH_RUNS):
        start = time.perf_counter()
        bundle = certificate_bundle(ledger, doc, status_lookup=lookup)
        builds.append((time.perf_counter() - start) * 1e3)
        # the direct lookup proves the certificate's own slots (docs/evidence.md, "Certificate slots"); herd not
        assert ("certificate" in bundle["witness"]["state"]) == (lookup == "direct"), sorted(bundle["witness"])
        path.write_text(json.dumps(bundle))
        args = [str(path), "--rpc", rpc, "--json", "--status-lookup", lookup]
        args += [a for k in keys for a in ("--witness-key", k)]
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            code = verifier.main(args)
        checks.append((time.perf_counter() - start) * 1e3)
        assert code == 0, (code, path)
    return percentile(sorted(builds), 50), percentile(sorted(checks), 50)


def run(quick: bool = False) -> dict[str, Any]:
    from ledger.services.evidence import certificate_bundle
    from ledger.services.witness.client import TrustedWitness, WitnessConfig

    n = QUICK_CHECKPOINTS if quick else CHECKPOINTS
    verifier = _load_verifier()
    with scratch_dir("bench-witness-") as tmp:
        ledger = open_ledger(tmp / "data")
        servers = []
        try:
            rpc = str(ledger.chain.w3.provider.endpoint_uri)
            started = [_start(tmp, name, rpc) for name in ("w1", "w2")]
            servers = [s for _, _, s in started]
            config = WitnessConfig(tuple(TrustedWitness(url, w.verifier) for w, url, _ in started), 2, 0)
            config.save(ledger.settings.data_dir)
            _collect_ms(ledger, config, 3)  # warm up
            one_block = _collect_ms(ledger, config, n)
            alone = _witness_alone_ms(ledger, started[0][0], n)
            hundred_blocks = _collect_ms(ledger, config, max(n // 10, 5), blocks=100)
            # Cosigning after a block that anchors 10 certificates, then after one that anchors 5,000.
            issue_documents(ledger, 10, "S")
            small = _collect_ms(ledger, config, 1, blocks=0)
            docs = issue_documents(ledger, 5_000 if not quick else 1_000, "L")
            large = _collect_ms(ledger, config, 1, blocks=0)
            _mine(ledger, 10)

            # Evidence: the same bundles built and checked with and without witnesses.
            count = QUICK_BUNDLES if quick else BUNDLES
            keys = [str(w.verifier) for w, _, _ in started]
            figures: dict[str, list[float]] = {"build": [], "build_witnessed": [], "check": [], "check_witnessed": []}
            for witnessed in (False, True):
                (config if witnessed else WitnessConfig()).save(ledger.settings.data_dir)
                suffix = "_witnessed" if witnessed else ""
                for i, doc in enumerate(docs[:count]):
                    start = time.perf_counter()
                    bundle = certificate_bundle(ledger, doc)
                    figures["build" + suffix].append((time.perf_counter() - start) * 1e3)
                    assert ("witness" in bundle) == witnessed
                    path = tmp / f"b{i}{suffix}.json"
                    path.write_text(json.dumps(bundle))
                    args = [str(path), "--rpc", rpc, "--json"] + [
                        a for k in keys for a in ("--witness-key", k) if witnessed
                    ]
                    start = time.perf_counter()
                    with contextlib.redirect_stdout(io.StringIO()):
                        code = verifier.main(args)
                    figures["check" + suffix].append((time.perf_counter() - start) * 1e3)
                    assert code == 0, (code, path)

            # The same certificate's witnessed bundle before and after the chain grew (config: witnessed, saved last)
            growth = (QUICK_GROWTH, QUICK_GROWTH_BLOCKS) if quick else (GROWTH, GROWTH_BLOCKS)
            grown: dict[str, float] = {}
            for phase in ("before", "after"):
                if phase == "after":
                    _grow(ledger, *growth)
                for lookup in ("herd", "direct"):
                    build, check = _bundle_ms(ledger, verifier, docs[0], tmp / "grown.json", rpc, keys, lookup)
                    grown[f"{lookup}_build_{phase}_ms"], grown[f"{lookup}_check_{phase}_ms"] = build, check
        finally:
            for server in servers:
                server.shutdown()
            ledger.close()
    for values in figures.values():
        values.sort()
    p50 = {k: percentile(v, 50) for k, v in figures.items()}
    result = {
        "checkpoints": n,
        "witnesses": 2,
        "witness_alone_p50_ms": percentile(alone, 50),
        "witness_checkpoints_per_s": 1e3 / percentile(alone, 50),
        "collect_p50_ms": percentile(one_block, 50),
        "collect_max_ms": one_block[-1],
        "checkpoints_per_s": 1e3 / percentile(one_block, 50),
        "collect_after_100_blocks_p50_ms": percentile(hundred_blocks, 50),
        "collect_after_10_certificates_ms": small[0],
        "collect_after_many_certificates_ms": large[0],
        "many_certificates": 5_000 if not quick else 1_000,
        "bundle_build_extra_ms": p50["build_witnessed"] - p50["build"],
        "bundle_check_extra_ms": p50["check_witnessed"] - p50["check"],
        "bundle_build_p50_ms": p50["build"],
        "bundle_check_p50_ms": p50["check"],
        "verifier": str(VERIFIER.name),
        "growth_batches": growth[0],
        "growth_blocks": growth[1],
        "growth_runs": GROWTH_RUNS,
        **grown,
    }
    print(
        f"  witness: one witness sustains {result['witness_checkpoints_per_s']:.0f} checkpoints/s "
        f"(p50 {result['witness_alone_p50_ms']:.1f} ms each); "
        f"{result['checkpoints_per_s']:.0f} checkpoints/s cosigned by 2 witnesses over HTTP "
        f"(collect p50 {result['collect_p50_ms']:.1f} ms, after 100 blocks "
        f"{result['collect_after_100_blocks_p50_ms']:.1f} ms); after a block anchoring 10 certificates "
        f"{result['collect_after_10_certificates_ms']:.1f} ms, {result['many_certificates']:,} certificates "
        f"{result['collect_after_many_certificates_ms']:.1f} ms; evidence bundle +"
        f"{result['bundle_build_extra_ms']:.1f} ms to build, +{result['bundle_check_extra_ms']:.1f} ms to check; "
        f"after {growth[0]} more batches and revocations and {growth[1]:,} blocks, a witnessed bundle's build/check "
        f"p50 went {grown['herd_build_before_ms']:.0f}/{grown['herd_check_before_ms']:.0f} -> "
        f"{grown['herd_build_after_ms']:.0f}/{grown['herd_check_after_ms']:.0f} ms (herd lookup), "
        f"{grown['direct_build_before_ms']:.0f}/{grown['direct_check_before_ms']:.0f} -> "
        f"{grown['direct_build_after_ms']:.0f}/{grown['direct_check_after_ms']:.0f} ms (direct: certificate slots)",
        flush=True,
    )
    return result


if __name__ == "__main__":
    run(quick=True)
