"""One JSON-RPC proxy in front of the real node for tests that need to see, refuse or rewrite what passes between
a client of the ledger and the chain: a public provider's block-range limit, a recording relay (what the node's
operator learns), a hostile node rewriting chosen answers."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .node_support import SERVER_POLL

# intercept(request) -> the answer's bytes to send instead of forwarding, an HTTP status to answer with no body
# (a load balancer's 503), or None to forward
Intercept = Callable[[dict[str, Any]], "bytes | int | None"]
# rewrite(method, params, answer) -> the answer object to send, or bytes to send as they are
Rewrite = Callable[[str, Any, Any], Any]
# rewrite_batch(requests, answers) -> the answer object to send for a JSON-RPC batch
RewriteBatch = Callable[[list[Any], Any], Any]


class RpcProxy:
    """Forwards every JSON-RPC request body to ``upstream`` and answers with the node's answer; records each body
    (``bodies``) and each method asked for (``methods``, batch members counted one by one). ``intercept`` may answer
    a request itself (or refuse it with an HTTP status); ``rewrite`` may change the node's answer to a single
    request."""

    def __init__(
        self,
        upstream: str,
        *,
        intercept: Intercept | None = None,
        rewrite: Rewrite | None = None,
        rewrite_batch: RewriteBatch | None = None,
    ) -> None:
        self.upstream = upstream
        self.intercept, self.rewrite, self.rewrite_batch = intercept, rewrite, rewrite_batch
        self.bodies: list[bytes] = []
        self.methods: Counter[str] = Counter()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._answer(*proxy._handle(body))

            def _answer(self, status: int, raw: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                try:
                    self.wfile.write(raw)
                except OSError:
                    pass  # the reader gave up on the answer (a time limit, a test's early end)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(SERVER_POLL,), daemon=True).start()

    def _handle(self, body: bytes) -> tuple[int, bytes]:
        request = json.loads(body)
        with self._lock:
            self.bodies.append(body)
            for call in request if isinstance(request, list) else [request]:
                self.methods[call.get("method")] += 1
        if self.intercept is not None and isinstance(request, dict):
            answer = self.intercept(request)
            if isinstance(answer, int):
                return answer, b""
            if answer is not None:
                return 200, answer
        forwarded = urllib.request.Request(self.upstream, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(forwarded, timeout=60) as response:
            raw = response.read()
        if self.rewrite_batch is not None and isinstance(request, list):
            return 200, json.dumps(self.rewrite_batch(request, json.loads(raw))).encode()
        if self.rewrite is None or not isinstance(request, dict):
            return 200, raw
        changed = self.rewrite(request["method"], request.get("params"), json.loads(raw))
        return 200, changed if isinstance(changed, bytes) else json.dumps(changed).encode()

    def saw(self, value: str) -> bool:
        """Whether any request body held ``value`` (hex, case and 0x prefix aside)."""
        needle = value.lower().removeprefix("0x").encode()
        return any(needle in body.lower() for body in self.bodies)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> RpcProxy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
