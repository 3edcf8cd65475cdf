"""Agreement of the hashing fast paths with the reference RFC 8785 implementation (run before timing).

The issuance benchmark leans on ``ledger.formats.canonical``'s fast paths; this checks, on a few thousand generated
values, that they produce byte for byte what ``rfc8785`` produces, so a speed-up can never change a digest.
"""

from __future__ import annotations

import hashlib
import random
import string

import rfc8785
from eth_utils.crypto import keccak

from ledger.errors import InputError
from ledger.formats.canonical import CERT_FORMAT, CERT_PREFIX, CERT_TAG, canonical_json, certificate_digest

_ALPHABET = string.printable + 'éß中文\u2028\u2029\x7f\x00\x1f"\\ \U0001f600\ufffe'


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 12)))


def _value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randint(0, 7 if depth < 2 else 4)
    if kind == 0:
        return _text(rng)
    if kind == 1:
        return rng.choice([None, True, False])
    if kind == 2:
        return rng.randint(-(2**60), 2**60) if rng.random() < 0.2 else rng.randint(-(10**6), 10**6)
    if kind == 3:
        return rng.uniform(-1e6, 1e6)
    if kind == 4:
        return rng.choice(["", "a", "Zhang Wei", "2026-01-01"])
    if kind == 5:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {_text(rng): _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def run(samples: int = 5000, seed: int = 7) -> int:
    """Raise AssertionError on the first disagreement; returns the number of values checked."""
    rng = random.Random(seed)
    for _ in range(samples):
        value = _value(rng)
        try:
            expected_bytes: bytes | None = rfc8785.dumps(value)
        except (rfc8785.CanonicalizationError, TypeError, ValueError):
            expected_bytes = None
        try:
            got: bytes | None = canonical_json(value)
        except InputError:
            got = None
        assert got == expected_bytes, value
        names = {
            (_text(rng) if rng.random() < 0.3 else "subject." + rng.choice(string.ascii_letters)): rng.randbytes(32)
            for _ in range(rng.randint(1, 6))
        }
        inner = hashlib.sha256(
            CERT_PREFIX + rfc8785.dumps({"fields": {k: v.hex() for k, v in names.items()}, "format": CERT_FORMAT})
        ).digest()
        expected = hashlib.sha256(CERT_TAG + bytes(keccak(text="birth-certificate")) + inner).digest()
        assert certificate_digest(names, "birth-certificate") == expected, names
    return samples


if __name__ == "__main__":
    print(f"canonical fast paths agree with rfc8785 on {run()} generated values")
