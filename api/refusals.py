"""Refused reads, recorded in the certificate issuer's access log without letting the callers grow the log at will.

Signed-in departments: every refused read is recorded with who asked and why, but a department asking again and
again for the same certificate with the same reason gets one entry per window; the attempts in between are
counted and the count is written as below (``signed_in``). Without this a department, at its 100 requests/s,
grew another department's anchored access log (and the data subject's list of reads) by 360,000 entries an hour.

Callers who could not be authenticated:

A caller without a valid token proves nothing about who it is, so nothing it sends is recorded: no department or
signer its token claims, no text of it; the entry says "anonymous", ``authenticated: false`` and why (no token,
or a token that is not valid now). Per certificate, at most one such entry is appended per window
(``LEDGER_API_REFUSAL_LOG_WINDOW_SECONDS``); the attempts in between are counted, and the count is carried by the
next entry or, once the window has closed, written by the anchoring task (``flush``). The log therefore grows by
at most one entry per certificate per window, however many requests come.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from ledger.client import Ledger
from ledger.errors import InputError, NotFoundError
from ledger.formats.canonical import hex32, parse_hex32
from ledger.services import accesslog, sharing

MAX_CERTIFICATES = 100_000
_EVICTION_SCAN = 64  # windows looked at for one with nothing unwritten, least recently refused first


@dataclass
class _Window:
    opened: datetime  # when the last entry for this certificate was written
    issuer: str
    counted: int = 0  # attempts since then, not yet written
    # a signed-in department's window: who asked and why (None: an unauthenticated caller's)
    actor: str | None = None
    signer: str | None = None
    reason: str = ""


class RefusalLog:
    def __init__(self, window_seconds: float, *, max_certificates: int = MAX_CERTIFICATES) -> None:
        self.window = window_seconds
        self.max_certificates = max_certificates
        # digest (unauthenticated callers) or (digest, department, reason) -> its window
        self._open: OrderedDict[str | tuple[str, str, str], _Window] = OrderedDict()
        self._guard = threading.Lock()
        # windows evicted with attempts counted and not yet written: flush writes them (never dropped)
        self._evicted: list[tuple[str | tuple[str, str, str], _Window]] = []

    def _evict(self) -> None:
        """Past ``max_certificates`` windows (under the guard): drop the least recently refused window with nothing
        unwritten - its first refusal is in the log, so dropping it costs at most one more entry. A flood of fresh
        keys must not erase attempts counted and not yet written: a window holding some, when every window does,
        goes to :meth:`flush`, which writes its count (the oldest, when none of the :data:`_EVICTION_SCAN` least
        recently refused is quiet)."""
        while len(self._open) > self.max_certificates:
            # bounded (no full scan under the lock), and never the window just opened (the last)
            oldest = itertools.islice(self._open.items(), min(_EVICTION_SCAN, len(self._open) - 1))
            quiet = next((key for key, w in oldest if not w.counted), None)
            if quiet is not None:
                del self._open[quiet]
            else:
                self._evicted.append(self._open.popitem(last=False))

    def record(self, ledger: Ledger, digest: str, *, token_sent: bool, now: datetime) -> None:
        """Record one unauthenticated refused read of ``digest`` (nothing for a digest the gateway never issued)."""
        try:
            key = hex32(parse_hex32(digest))
            cert = sharing.stored(ledger, key)
        except (NotFoundError, InputError):
            return
        with self._guard:
            window = self._open.get(key)
            if window is not None and (now - window.opened).total_seconds() < self.window:
                window.counted += 1
                return
            self._open[key] = _Window(now, cert.department)
            self._open.move_to_end(key)
            self._evict()
        why = (
            "a token that is not valid now (forged, expired, rotated-out key or suspended department)"
            if token_sent
            else "no bearer token"
        )
        detail = f"unauthenticated read refused: {why}"
        if window is not None and window.counted:
            detail += f"; {_counted(window, now)}"
        accesslog.record(
            ledger,
            certificate=key,
            issuer=cert.department,
            action="read",
            outcome="refused",
            actor=None,
            signer=None,
            at=now,
            detail=detail,
            authenticated=False,
        )

    def signed_in(
        self, digest: str, department: str, reason: str, signer: str | None, issuer: str, now: datetime
    ) -> str | None:
        """A signed-in department's refused read of ``digest`` for ``reason`` (``sharing.fetch_content``'s
        throttle): the text to add to its entry, or None when it is only counted (one entry per window)."""
        key = (digest, department, reason)
        with self._guard:
            window = self._open.get(key)
            if window is not None and (now - window.opened).total_seconds() < self.window:
                window.counted += 1
                return None
            self._open[key] = _Window(now, issuer, actor=department, signer=signer, reason=reason)
            self._open.move_to_end(key)
            self._evict()
        return f"; {_counted(window, now, department)}" if window is not None and window.counted else ""

    def flush(self, ledger: Ledger, *, now: datetime) -> int:
        """Write the count of every window that closed with attempts not yet written (the anchoring task calls
        this before anchoring, so a count is not left waiting for the next attempt); returns entries written."""
        with self._guard:
            due = [
                (key, w)
                for key, w in self._open.items()
                if w.counted and (now - w.opened).total_seconds() >= self.window
            ]
            for key, w in due:
                self._open[key] = _Window(now, w.issuer, actor=w.actor, signer=w.signer, reason=w.reason)
            due.extend(self._evicted)  # counts a flood of fresh keys pushed out: written now, whatever their age
            self._evicted = []
        for key, w in due:
            accesslog.record(
                ledger,
                certificate=key[0] if isinstance(key, tuple) else key,
                issuer=w.issuer,
                action="read",
                outcome="refused",
                actor=w.actor,
                signer=w.signer,
                at=now,
                detail=(
                    f"{w.reason}; {_counted(w, now, w.actor)}"
                    if w.actor is not None
                    else f"unauthenticated reads refused: {_counted(w, now)}"
                ),
                authenticated=w.actor is not None,
            )
        return len(due)


def _counted(window: _Window, now: datetime, department: str | None = None) -> str:
    what = (
        f"more attempt(s) by {department} for the same reason"
        if department is not None
        else "more unauthenticated attempt(s)"
    )
    return (
        f"{window.counted} {what} from {window.opened.isoformat()} to "
        f"{now.isoformat()} were counted, not recorded one by one"
    )
