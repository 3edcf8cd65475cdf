"""Public verification against the trivial endpoint, in process: the gateway's ASGI app (the whole middleware
stack, bench/gateway_server.py's constant route) driven directly by an event loop, no server and no socket, so
the figure is the application's own CPU per request, steady on a loaded machine where wrk's ratios swing.

``python -m bench.gateway_inprocess [--chunks 40] [--per-chunk 300]``: issues ``DOCUMENTS`` certificates on an
embedded ledger, then alternates chunks of requests to ``POST /public/verify`` and ``POST /public/bench-constant``
(the same bodies, in turn) and reports the median main-thread CPU-µs per request of each and their difference
(the head refresher's thread, which both share, is not counted). Every answer must be a 200 and every verification
``"verified": true``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from typing import Any

from bench._common import open_ledger, scratch_dir
from bench.gateway import DOCUMENTS, VERIFY_PATH
from bench.gateway_server import CONSTANT_PATH, _add_constant_route
from bench.verification import _mine, issue_documents
from ledger.onchain.chainread import Finality


def _scope(path: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


def _receiver(body: bytes) -> Any:
    """The ASGI ``receive`` of one request: its body in one message (the app never waits for a disconnect)."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    return receive


async def _requests(app: Any, path: str, bodies: list[bytes], start: int, count: int, check: bool) -> float:
    """Main-thread CPU-seconds of ``count`` requests to ``path``."""
    statuses: list[int] = []
    answers: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])
        elif check and message.get("body"):
            answers.append(message["body"])

    began = time.thread_time()
    for i in range(start, start + count):
        body = bodies[i % len(bodies)]
        await app(_scope(path, body), _receiver(body), send)
    spent = time.thread_time() - began
    if set(statuses) != {200}:
        raise RuntimeError(f"POST {path}: answers {sorted(set(statuses))}")
    if check and not all(json.loads(a)["verified"] is True for a in answers):
        raise RuntimeError(f"POST {path}: a document was not verified")
    return spent


def run(chunks: int = 40, per_chunk: int = 300) -> dict[str, Any]:
    os.environ["LEDGER_API_PUBLIC_BURST"] = "100000000"
    os.environ["LEDGER_API_PUBLIC_PER_SECOND"] = "100000000"
    os.environ["LEDGER_API_ANCHOR_INTERVAL_SECONDS"] = "0"
    from api.config import ApiSettings
    from api.main import create_app

    with scratch_dir("bench-gateway-inprocess-") as tmp:
        ledger = open_ledger(tmp / "data")
        try:
            docs = issue_documents(ledger, DOCUMENTS, "W")
            _mine(ledger, Finality(ledger.settings.confirmations).reorg_depth + 2)
            bodies = [json.dumps({"document": d}, separators=(",", ":")).encode() for d in docs]
            settings = ApiSettings()
            app = create_app(ledger, settings=settings)
            _add_constant_route(app)
            app.state.head.start(settings.head_refresh_seconds)
            try:
                figures = asyncio.run(_measure(app, bodies, chunks, per_chunk))
            finally:
                app.state.head.stop()
        finally:
            ledger.close()
    return figures


async def _measure(app: Any, bodies: list[bytes], chunks: int, per_chunk: int) -> dict[str, Any]:
    await _requests(app, VERIFY_PATH, bodies, 0, 2 * len(bodies), True)  # warm: every batch, both endpoints
    await _requests(app, CONSTANT_PATH, bodies, 0, 2 * len(bodies), False)
    verify, constant = [], []
    for chunk in range(chunks):
        first, second = (VERIFY_PATH, CONSTANT_PATH) if chunk % 2 == 0 else (CONSTANT_PATH, VERIFY_PATH)
        for path in (first, second):
            spent = await _requests(app, path, bodies, chunk * per_chunk, per_chunk, path == VERIFY_PATH and chunk < 2)
            (verify if path == VERIFY_PATH else constant).append(spent / per_chunk * 1e6)
    v, c = statistics.median(verify), statistics.median(constant)
    return {
        "verify_cpu_us": round(v, 1),
        "constant_cpu_us": round(c, 1),
        "extra_cpu_us": round(v - c, 1),
        "ratio": round(c / v, 3),
        "load": os.getloadavg()[0],
    }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.gateway_inprocess")
    parser.add_argument("--chunks", type=int, default=40)
    parser.add_argument("--per-chunk", type=int, default=300)
    options = parser.parse_args()
    print(json.dumps(run(options.chunks, options.per_chunk)))
