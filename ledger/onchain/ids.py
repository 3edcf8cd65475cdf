"""Department ids and roles as the contracts encode them: plain values and functions, no web3 (``chain.py``
re-exports them), so that code which only names a department or tests a role - a replay worker's chunk - does not
import the chain's client."""

from __future__ import annotations

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
