"""A token bucket per client IP for the public endpoints; the clock is passed in, so tests can freeze it."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from datetime import datetime

MAX_CLIENTS = 100_000


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many requests from this address; retry after {retry_after} s")


@dataclass
class TokenBucket:
    burst: int
    per_second: float
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # client -> (tokens, at)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def take(self, client: str, now: datetime) -> None:
        """Spend one token of ``client``'s bucket or raise RateLimited with the seconds until one is back."""
        t = now.timestamp()
        with self._guard:
            tokens, last = self._buckets.get(client, (float(self.burst), t))
            tokens = min(float(self.burst), tokens + max(0.0, t - last) * self.per_second)
            if tokens < 1.0:
                self._buckets[client] = (tokens, t)
                raise RateLimited(max(1, math.ceil((1.0 - tokens) / self.per_second)))
            if len(self._buckets) >= MAX_CLIENTS and client not in self._buckets:
                self._buckets.clear()  # bounded memory; a flood of addresses only resets everyone's bucket
            self._buckets[client] = (tokens - 1.0, t)
