"""Refused reads by callers who could not be authenticated, recorded in the certificate issuer's access log
without letting such callers grow the log at will.

A caller without a valid token proves nothing about who it is, so nothing it sends is recorded: no department or
signer its token claims, no text of it; the entry says "anonymous", ``authenticated: false`` and why (no token,
or a token that is not valid now). Per certificate, at most one such entry is appended per window
(``LEDGER_API_REFUSAL_LOG_WINDOW_SECONDS``); the attempts in between are counted and the count is carried by the
next entry. The log therefore grows by at most one entry per certificate per window, however many requests come.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime

from ledger import accesslog, sharing
from ledger.canonical import hex32, parse_hex32
from ledger.client import Ledger
from ledger.errors import InputError, NotFoundError

MAX_CERTIFICATES = 100_000


class RefusalLog:
    def __init__(self, window_seconds: float, *, max_certificates: int = MAX_CERTIFICATES) -> None:
        self.window = window_seconds
        self.max_certificates = max_certificates
        self._open: OrderedDict[str, tuple[datetime, int]] = OrderedDict()  # digest -> (logged at, not logged since)
        self._guard = threading.Lock()

    def record(self, ledger: Ledger, digest: str, *, token_sent: bool, now: datetime) -> None:
        """Record one unauthenticated refused read of ``digest`` (nothing for a digest the gateway never issued)."""
        try:
            key = hex32(parse_hex32(digest))
            cert = sharing.stored(ledger, key)
        except (NotFoundError, InputError):
            return
        with self._guard:
            window = self._open.get(key)
            if window is not None and (now - window[0]).total_seconds() < self.window:
                self._open[key] = (window[0], window[1] + 1)
                return
            skipped = window[1] if window is not None else 0
            self._open[key] = (now, 0)
            self._open.move_to_end(key)
            while len(self._open) > self.max_certificates:
                self._open.popitem(last=False)
        why = ("a token that is not valid now (forged, expired, rotated-out key or suspended department)"
               if token_sent else "no bearer token")
        detail = f"unauthenticated read refused: {why}"
        if skipped:
            detail += (f"; {skipped} more unauthenticated attempt(s) since {window[0].isoformat()}"  # type: ignore[index]
                       " were counted, not recorded one by one")
        accesslog.record(ledger, certificate=key, issuer=cert.department, action="read", outcome="refused",
                         actor=None, signer=None, at=now, detail=detail, authenticated=False)
