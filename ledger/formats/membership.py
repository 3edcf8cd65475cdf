"""A membership (Bloom) filter of certificate digests: which of a closed generation's rows a batch or a look-up
may meet (issue 18, bench/analysis.md "ten million: generations of the digest index").

A certificate digest is a SHA-256 output, uniformly random, so a digest's positions are taken from its own bytes
with no hashing: ``h1`` and ``h2`` are its first two 8-byte words (little-endian; ``h2`` made odd), position ``i``
of ``POSITIONS`` is ``h1 + i * h2`` modulo the filter's size in bits, a power of two of about ``BITS_PER_ENTRY``
bits a digest (0.05 % of absent digests answer "maybe"). A filter never answers "no" for a digest it was built
from: the callers probe the rows exactly for every "maybe", so what they find is exact. ``_hashcore`` computes the
same bits (``membership_build`` / ``membership_maybe``; tests/test_digest_generations.py compares the two); this
module's loops are the specification and the fallback without the native build."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ._native import NATIVE

POSITIONS = 11
BITS_PER_ENTRY = 16
_WORDS = (1 << 64) - 1
_SMALLEST = 8  # bytes


def filter_size(entries: int) -> int:
    """The size in bytes of the filter for ``entries`` digests: a power of two, at least ``BITS_PER_ENTRY`` bits
    an entry."""
    size = _SMALLEST
    while size * 8 < entries * BITS_PER_ENTRY:
        size *= 2
    return size


def _positions(digest: bytes, mask: int) -> list[int]:
    h1 = int.from_bytes(digest[:8], "little")
    h2 = int.from_bytes(digest[8:16], "little") | 1
    return [((h1 + i * h2) & _WORDS) & mask for i in range(POSITIONS)]


def build(digests: Sequence[bytes], *, size: int | None = None, native: bool = True) -> bytes:
    """The filter holding ``digests`` (each 32 bytes), of ``size`` bytes (a power of two; default
    :func:`filter_size` of their number). Filters of one size built from parts of a set, OR-ed, are the filter of
    the whole set (:func:`union`)."""
    joined = b"".join(digests)
    size = filter_size(len(digests)) if size is None else size
    if native and NATIVE is not None:
        built = NATIVE.membership_build(joined, size)
        if built is not None:
            return built
    bits, mask = bytearray(size), size * 8 - 1
    for digest in digests:
        for pos in _positions(digest, mask):
            bits[pos >> 3] |= 1 << (pos & 7)
    return bytes(bits)


def union(size: int, filters: Iterable[bytes]) -> bytes:
    """The filter of ``size`` bytes holding every digest any of ``filters`` (each of that size) holds: none, an
    empty one."""
    joined = 0
    for bits in filters:
        joined |= int.from_bytes(bits, "little")
    return joined.to_bytes(size, "little")


def maybe(filter_bits: bytes, digests: Sequence[bytes], *, native: bool = True) -> list[int]:
    """The indexes of those of ``digests`` (each 32 bytes) that ``filter_bits`` may hold: every one it was built
    from, and a few others."""
    if native and NATIVE is not None:
        found = NATIVE.membership_maybe(filter_bits, b"".join(digests))
        if found is not None:
            return found
    mask = len(filter_bits) * 8 - 1
    return [
        n
        for n, digest in enumerate(digests)
        if all(filter_bits[pos >> 3] >> (pos & 7) & 1 for pos in _positions(digest, mask))
    ]
