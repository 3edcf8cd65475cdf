"""Asking another party over HTTP: a witness (``ledger witness collect``, ``ledger audit-chain``) or the verifier's own
gateway for a status list (``ledger verify``). Whatever answers at such an address - the party, or a relay in front
of it: a proxy, the network's operator - writes the answer, so the ledger

* follows no redirect: the address is the one its operator configured, and a ``Location`` is the relay's word; a
  redirect followed aimed the ledger's machine at any host the relay named, inside its own network too (a ``POST``
  answered ``303`` became a ``GET`` there), where the ledger asks nothing but the party itself (red team round 76);
* reads an answer up to a bound in bytes and in seconds (:func:`bounded_read`): a socket's timeout bounds each read,
  not the answer, so one trickled a byte at a time held the ledger for as long as the relay kept talking (red team
  rounds 54 and 76);
* quotes an answer's text in a refusal, a report, a terminal or a log only as :func:`quoted`: bounded, and each
  character that is not printable written as its escape, so a relay's escape sequence or line break is named, never
  acted on (red team round 76: a terminal cleared, a forged line in the gateway's log).
"""

from __future__ import annotations

import http.client
import time
import urllib.request
from typing import Any

# The most of another party's text a refusal or a report quotes: an ALARM is a line, a problem answer a few.
QUOTED_CHARS = 300


class AnswerRefused(http.client.HTTPException):
    """An answer past :func:`bounded_read`'s bounds: a refusal of whoever sent it."""


class AnswerTooLarge(AnswerRefused):
    """An answer past :func:`bounded_read`'s bound in bytes."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None  # urllib then raises the 3xx as an HTTPError: the answer, not followed


_OPENER = urllib.request.build_opener(_NoRedirect)


def open_url(request: urllib.request.Request | str, timeout: float) -> Any:
    """``urllib.request.urlopen`` that follows no redirect: a 3xx is an ``HTTPError`` of that status."""
    return _OPENER.open(request, timeout=timeout)


def bounded_read(response: Any, max_bytes: int, seconds: float) -> bytes:
    """The answer's body, read a socket read at a time up to ``max_bytes`` and ``seconds`` (each read waits at most
    the socket's timeout); :class:`AnswerTooLarge` past the first, :class:`AnswerRefused` past the second."""
    deadline = time.monotonic() + seconds
    chunks: list[bytes] = []
    size = 0
    while piece := response.read1(max_bytes + 1 - size):
        chunks.append(piece)
        size += len(piece)
        if size > max_bytes:
            raise AnswerTooLarge(f"its answer is over {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise AnswerRefused(f"its answer took longer than {seconds} s to arrive, and was not waited for")
    return b"".join(chunks)


def quoted(text: str, limit: int = QUOTED_CHARS) -> str:
    """``text`` (another party's) as a refusal or a report may quote it: its first ``limit`` characters, each that is
    not printable (an escape, a line break, a carriage return, a C1 control, a bidirectional override) written as its
    Python escape, and how many more were left out."""
    text = text.strip()
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit])
    return shown + (f"... ({len(text) - limit} more characters)" if len(text) > limit else "")
