"""Keeping the chain head the gateway verifies against fresh, with at most one head read in flight.

Public verification of a certificate file answers from memory against a head read at most
``head_max_age_seconds`` ago (:meth:`ledger.services.verify.ChainView.warm_head`). A background thread reads the head
every ``head_refresh_seconds`` and publishes it once the status index is synced to it (``ChainView.refresh``).

It is a thread, not a task on the event loop: under load one pass of the loop serves dozens of requests
(50-70 ms at 50 connections), so a task that needs several passes per read would let the head age past the
bound. The thread reads ``eth_blockNumber`` over one kept-alive connection with ``http.client`` (a handful of
GIL hand-offs) rather than through web3 (dozens, each up to the 5 ms switch interval while the loop is busy);
only a new block costs more (the status index is synced through web3, as ``ChainView.refresh`` does). A node URL
this reader does not handle (not http/https, credentials in it), a node it cannot reach or an answer it does not
understand falls back to ``ChainView.refresh`` (web3); a reader that keeps failing where web3 succeeds (a proxy,
say) is not used again.

When the head is too old all the same (the chain is slow, the thread was starved), requests wait for one shared
read instead of each reading the head in a thread of its own, which under load would queue hundreds of reads
behind one another.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from urllib.parse import urlsplit

from ledger.formats.canonical import json_loads
from ledger.services.verify import ChainView

log = logging.getLogger("api")


class HeadRefresher:
    def __init__(self, view: ChainView, timeout: float = 2.0) -> None:
        self.view = view
        self.refreshed_at = float("-inf")  # monotonic time at which the last successful read started
        self._lock = threading.Lock()  # one read at a time; callers that waited for it take its result
        self._generation = 0
        self._reader = _BlockNumberReader(str(getattr(view.chain.w3.provider, "endpoint_uri", "") or ""), timeout)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def stale(self) -> bool:
        """Whether the last read through here is older than the view's ``max_head_age``."""
        return time.monotonic() - self.refreshed_at > self.view.max_head_age

    def refresh(self) -> None:
        """Read the head and publish it (blocking), or join the read in flight. Raises what the read raised
        (e.g. ChainError)."""
        generation = self._generation
        with self._lock:
            if self._generation != generation:
                return  # the read in flight when this call was made has just finished: take its head
            started = time.monotonic()
            head = self._reader.read() if self._reader.usable else None
            if head is None:
                self.view.refresh()  # through web3; raises ChainError if the node is down
                if self._reader.failures >= 3:  # web3 reaches the node and this reader does not
                    self._reader.usable = False
                    self._reader.close()
            else:
                self.view.refresh(head)  # syncs the status index first when the head moved
            self.refreshed_at = max(self.refreshed_at, started)
            self._generation += 1

    def start(self, interval: float) -> None:
        """Refresh every ``interval`` seconds (start to start) in a daemon thread until :meth:`stop`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(interval,), name="head-refresher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self._reader.close()

    def _run(self, interval: float) -> None:
        failing = False
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.refresh()
                if failing:
                    log.warning("the chain head can be read again")
                failing = False
            except Exception as exc:  # noqa: BLE001 - retried; verification reports a chain it cannot read
                if not failing:
                    log.warning("reading the chain head failed (retrying every %s s): %s", interval, exc)
                failing = True
            self._stop.wait(max(0.0, interval - (time.monotonic() - started)))


# An eth_blockNumber answer is under 100 bytes; a node answering more than this is not read further.
_MOST_BYTES = 64 * 1024


class _BlockNumberReader:
    """``eth_blockNumber`` over one kept-alive HTTP/1.1 connection. ``read`` answers None when it cannot get the
    head (no answer, or one it does not understand); the caller then reads it through web3. One thread at a
    time (HeadRefresher's lock)."""

    BODY = json.dumps({"jsonrpc": "2.0", "method": "eth_blockNumber", "params": [], "id": 1}).encode()

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.usable = parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.username
        self.https = parts.scheme == "https"
        self.netloc = parts.netloc
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        self.failures = 0  # in a row
        self._connection: http.client.HTTPConnection | None = None

    def read(self) -> int | None:
        for attempt in (1, 2):  # a kept-alive connection the node has dropped fails once; a new one is tried
            reused = self._connection is not None
            try:
                head = self._exchange()
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self.close()
                if attempt == 1 and reused and not isinstance(exc, (TimeoutError, ValueError)):
                    continue
                self.failures += 1
                return None
            self.failures = 0
            return head
        return None

    def _exchange(self) -> int:
        if self._connection is None:
            kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self._connection = kind(self.netloc, timeout=self.timeout)
        self._connection.request("POST", self.path, self.BODY, {"Content-Type": "application/json"})
        response = self._connection.getresponse()
        body = response.read(_MOST_BYTES + 1)  # an answer that never ends is not held in memory
        if len(body) > _MOST_BYTES:
            raise ValueError(f"an answer of over {_MOST_BYTES} bytes")  # the connection is closed by the caller
        if response.status != 200:
            raise ValueError(f"HTTP {response.status}")
        if response.will_close:
            self.close()
        answer = json_loads(body)
        result = answer.get("result") if isinstance(answer, dict) else None
        if not isinstance(result, str) or not result.startswith("0x"):
            raise ValueError(f"unexpected answer {answer!r}")
        return int(result, 16)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
