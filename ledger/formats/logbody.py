"""A log entry's canonical body text and the index key stored with it (``LogEntry.lookup``): pure functions of the
body, here apart from ``services/logchain.py`` (which re-exports both) so that a process reading applications
computes them without importing the storage layer."""

from __future__ import annotations

import hashlib
from typing import Any

from ..errors import InputError
from .canonical import canonical_json


def canonical_body(body: Any) -> bytes:
    """RFC 8785 bytes of a log body: a fast path for plain JSON (no floats, printable strings), else canonical_json."""
    if type(body) is not dict:
        raise InputError(f"a log entry body must be a JSON object, got {type(body).__name__}")
    return canonical_json(body)  # plain JSON (no floats, printable strings) takes its fast path


def lookup_key(case_id: str) -> str:
    """The index key (``LogEntry.lookup``) of the entries about ``case_id``: 16 bytes of its SHA-256, hex."""
    return hashlib.sha256(b"pl-lookup\x00" + case_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
