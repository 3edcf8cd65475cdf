"""W3C Bitstring Status List v1.0: the format (list URLs, a credential's entries, ``encodedList``).

Pure functions; the lists themselves, stated from the chain and the store, are ``ledger.services.statuslist``.
docs/format.md §11 is the specification.
"""

from __future__ import annotations

import base64
import gzip
import re
import zlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from ..errors import InputError
from .canonical import hex32, parse_hex32

ENTRY_TYPE = "BitstringStatusListEntry"
LIST_TYPE = "BitstringStatusListCredential"
PROOF_TYPE = "PlCertStatusListAnchor"
PURPOSES = {"revocation": frozenset({2, 3}), "suspension": frozenset({1})}  # on-chain status codes (verify.py)
LIST_BITS = 131_072  # the spec's minimum (16 KiB), for herd privacy; batches are smaller (docs/format.md)
ROUTE = "/public/status-lists"
_URL = re.compile(r"^(https?://[^/?#\s]+)" + ROUTE + r"/([^/?#\s]+)/(0x[0-9a-f]{64})/(revocation|suspension)\Z")


def list_url(base: str, department: str, root: bytes, purpose: str) -> str:
    if purpose not in PURPOSES:
        raise InputError(f"status purpose {purpose!r} is not one of {', '.join(PURPOSES)}")
    return f"{base.rstrip('/')}{ROUTE}/{quote(department, safe='')}/{hex32(root)}/{purpose}"


def parse_url(url: Any) -> tuple[str, str, bytes, str]:
    """(base, department, root, purpose) of a status list URL made by :func:`list_url`; InputError otherwise."""
    found = _URL.match(url) if isinstance(url, str) else None
    if found is None:
        raise InputError(
            f"statusListCredential {url!r} is not a status list of this ledger's gateway "
            f"(https://HOST{ROUTE}/DEPARTMENT/ROOT/revocation|suspension)"
        )
    return found[1], unquote(found[2]), parse_hex32(found[3]), found[4]


def entries(base: str, department: str, root: bytes, index: int) -> list[dict[str, Any]]:
    """The two BitstringStatusListEntry entries of the certificate at leaf ``index`` of batch ``root``."""
    if type(index) is not int or not 0 <= index < LIST_BITS:
        raise InputError(f"statusListIndex must be an integer from 0 to {LIST_BITS - 1}, got {index!r}")
    found = []
    for purpose in PURPOSES:
        url = list_url(base, department, root, purpose)
        found.append(
            {
                "id": f"{url}#{index}",
                "type": ENTRY_TYPE,
                "statusPurpose": purpose,
                "statusListIndex": str(index),
                "statusListCredential": url,
            }
        )
    return found


def entry_base_and_index(found: list[Any], department: str, root: bytes) -> tuple[str, int]:
    """The gateway base URL and index the entries of a credential name, after checking they are exactly what
    :func:`entries` makes for this certificate's department and root; InputError naming what is wrong."""
    if len(found) != len(PURPOSES) or not all(isinstance(e, Mapping) for e in found):
        raise InputError(f"a credential carries one {ENTRY_TYPE} per purpose ({', '.join(PURPOSES)})")
    base, dept, list_root, _ = parse_url(found[0].get("statusListCredential"))
    if dept != department or list_root != root:
        raise InputError(
            f"the {ENTRY_TYPE} names the status list of {dept}'s batch {hex32(list_root)}, not of this "
            f"certificate's ({department}, {hex32(root)})"
        )
    text = found[0].get("statusListIndex")
    # ASCII digits only: str.isdigit() is also true of "²", which int() refuses (a ValueError, not a refusal)
    if not isinstance(text, str) or not text.isascii() or not text.isdigit() or len(text) > 6:
        raise InputError(f"statusListIndex must be a decimal integer string, got {text!r}")
    index = int(text)
    if [dict(e) for e in found] != entries(base, department, root, index):
        raise InputError(
            f"the {ENTRY_TYPE} entries are not the ones this ledger exports for statusListIndex "
            f"{index}: export the credential again with `ledger export --vc`"
        )
    return base, index


def encode(bits: set[int] | frozenset[int], size: int = LIST_BITS) -> str:
    """``encodedList`` of a bitstring of ``size`` bits with the given bits set (bit 0 = MSB of byte 0)."""
    raw = bytearray(size // 8)
    for i in bits:
        if not 0 <= i < size:
            raise InputError(f"status list index {i} outside a list of {size} bits")
        raw[i // 8] |= 0x80 >> (i % 8)
    packed = gzip.compress(bytes(raw), mtime=0)
    return "u" + base64.urlsafe_b64encode(packed).decode().rstrip("=")


def decode(encoded: Any) -> bytes:
    """The bitstring of an ``encodedList``; InputError when it is not multibase base64url GZIP of at least 16 KiB
    (a decompression bomb stops at 16 KiB above what any list of this ledger holds)."""
    if not isinstance(encoded, str) or not encoded.startswith("u") or len(encoded) > 1_000_000:
        raise InputError("encodedList must be a string: multibase 'u' + base64url of the GZIP-compressed bitstring")
    body = encoded[1:]
    if not re.fullmatch(r"[A-Za-z0-9_-]*", body):
        raise InputError("encodedList is not base64url without padding after its 'u' prefix")
    try:
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        inflater = zlib.decompressobj(wbits=31)
        raw = inflater.decompress(packed, 2 * LIST_BITS // 8)
        if inflater.unconsumed_tail or not inflater.eof:
            raise InputError(f"encodedList is truncated or decompresses to more than {2 * LIST_BITS // 8} bytes")
    except (ValueError, zlib.error) as exc:
        raise InputError(f"encodedList is not GZIP-compressed data: {exc}") from None
    if len(raw) < LIST_BITS // 8:
        raise InputError(f"the status list has {len(raw) * 8} bits; the specification asks for at least {LIST_BITS}")
    return raw


def bit(raw: bytes, index: int) -> bool:
    if not 0 <= index < len(raw) * 8:
        raise InputError(f"statusListIndex {index} is outside the list's {len(raw) * 8} bits")
    return bool(raw[index // 8] & (0x80 >> (index % 8)))
