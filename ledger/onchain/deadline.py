"""A verification's whole time: :class:`time_limit` bounds every request the node's session makes within it
(``_node_http``), so a node answering each read just inside the read timeout cannot hold one verification for the
number of its reads times that timeout. Without requests or web3: the verification core enters it per certificate."""

from __future__ import annotations

import time
from contextvars import ContextVar, Token

# A verification's end (time.monotonic()) and its length in seconds, for the requests made within it (this thread or
# task); None outside one. The read timeout bounds one answer (red team round 58); this bounds them all together.
_TIME_LIMIT: ContextVar[tuple[float, float] | None] = ContextVar("ledger_verification_time_limit", default=None)


def current_limit() -> tuple[float, float] | None:
    """The time limit the caller is within: its end (``time.monotonic()``) and its length in seconds; None: none."""
    return _TIME_LIMIT.get()


class time_limit:  # used as a function: ``with time_limit(seconds):``
    """Within this block, every request to the node must be answered whole by ``seconds`` from now: a request made
    after that raises the node session's ``TimeLimitError``, and one made before it gets no longer than what is left
    (its read timeout and its answer's whole-arrival bound are cut to it). A node answering each request whole just
    inside the read timeout held a verification for its number of requests times 30 s (red team round 58's open
    part). Nested limits keep the earlier end; ``None`` sets none. A class, not a generator: ``verify_many`` enters
    one per certificate."""

    __slots__ = ("_seconds", "_token")

    def __init__(self, seconds: float | None) -> None:
        self._seconds = seconds
        self._token: Token[tuple[float, float] | None] | None = None

    def __enter__(self) -> None:
        if self._seconds is None:
            return
        ends = time.monotonic() + self._seconds
        current = _TIME_LIMIT.get()
        if current is None or ends < current[0]:
            self._token = _TIME_LIMIT.set((ends, self._seconds))

    def __exit__(self, *_: object) -> None:
        if self._token is not None:
            _TIME_LIMIT.reset(self._token)
            self._token = None


def chain_limit(chain: object) -> time_limit:
    """:class:`time_limit` of ``chain``'s verification time (``LEDGER_VERIFY_SECONDS``, its ``verify_seconds``), or
    none for a chain without one: the limit every verification path enters around its reads."""
    return time_limit(getattr(chain, "verify_seconds", None))
