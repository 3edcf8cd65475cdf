"""Department ids and roles as the contracts encode them: plain values and functions, no web3 (``chain.py``
re-exports them), so that code which only names a department or tests a role - a replay worker's chunk - does not
import the chain's client."""

from __future__ import annotations

import hashlib

from ..errors import InputError

ROLE_ISSUER = 1
ROLE_VERIFIER = 2
ROLE_AUDITOR = 4
ROLE_APPROVER = 8


def department_id_bytes(code: str) -> bytes:
    """A department code ("MKT", "HOSP-01") as the bytes32 the contracts use (ASCII, right-padded)."""
    if not isinstance(code, str) or not code or len(code) > 32 or not code.isascii() or not code.isprintable():
        raise InputError(f"department id {code!r} must be 1 to 32 printable ASCII characters")
    return code.encode("ascii").ljust(32, b"\x00")


def department_code(raw: bytes) -> str:
    return raw.rstrip(b"\x00").decode("ascii", errors="replace")


def service_item_bytes(code: str) -> bytes:
    """A service item code as the bytes32 ``BatchLog.publishRuleSet`` records: the ASCII code right-padded when it
    fits, else SHA-256 of its UTF-8."""
    if not isinstance(code, str) or not code:
        raise InputError("a service item code must be a non-empty string")
    raw = code.encode("utf-8")
    if len(raw) <= 32 and code.isascii():
        return raw.ljust(32, b"\x00")
    return hashlib.sha256(raw).digest()


def item_text(item: bytes) -> str:
    """A published ``serviceItem`` (bytes32) in words: the code it pads, or its hex (the SHA-256 of a long code)."""
    code = item.rstrip(b"\x00")
    if code and code.isascii() and code.decode("ascii").isprintable():
        return repr(code.decode("ascii"))
    return "0x" + item.hex()
