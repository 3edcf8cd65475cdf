"""Merkle trees over 32-byte digests, the one implementation used for certificates, decisions and access logs.

Leaves and inner nodes are domain-separated, so a 64-byte inner node can never pass as a leaf::

    leaf(d)    = SHA-256(0x00 || d)
    node(a, b) = SHA-256(0x01 || min(a, b) || max(a, b))      (pair sorted: proofs need no left/right bits)

A level with an odd number of nodes promotes its last node unchanged (it is never paired with itself). A proof
is the list of sibling hashes from the leaf up; a one-leaf tree has root ``leaf(d)`` and an empty proof. The
contracts verify proofs with the same rules (``contracts/src/Sha256Merkle.sol``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ..errors import InputError

_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_hash(digest: bytes) -> bytes:
    return hashlib.sha256(_LEAF + digest).digest()


def node_hash(a: bytes, b: bytes) -> bytes:
    return hashlib.sha256(_NODE + a + b if a <= b else _NODE + b + a).digest()


RUN_LEVEL = 6  # a stored batch keeps its tree's nodes at this level: the roots of each run of 64 leaves


class MerkleTree:
    """A built tree; ``root`` and ``proof(i)`` for the i-th digest given."""

    __slots__ = ("_levels",)

    def __init__(self, digests: Sequence[bytes]) -> None:
        if not digests:
            raise InputError("a Merkle tree needs at least one digest")
        sha = hashlib.sha256
        level = []
        for d in digests:
            if len(d) != 32:
                raise InputError(f"Merkle leaves are 32-byte digests, got {len(d)} bytes")
            level.append(sha(_LEAF + d).digest())
        levels = [level]
        while len(level) > 1:
            nxt = []
            for i in range(0, len(level) - 1, 2):
                a, b = level[i], level[i + 1]
                nxt.append(sha(_NODE + a + b if a <= b else _NODE + b + a).digest())
            if len(level) % 2:
                nxt.append(level[-1])
            levels.append(nxt)
            level = nxt
        self._levels = levels

    @property
    def root(self) -> bytes:
        return self._levels[-1][0]

    def __len__(self) -> int:
        return len(self._levels[0])

    def run_roots(self) -> bytes:
        """The roots of each run of ``2 ** RUN_LEVEL`` leaves, concatenated: with the leaves, what a store keeps of
        a batch to rebuild any leaf's proof (``storage.store.batch_proof``)."""
        return b"".join(self.level(RUN_LEVEL))

    def level(self, depth: int) -> list[bytes]:
        """The nodes ``depth`` levels above the leaf hashes (the root's level when the tree is not that tall)."""
        return list(self._levels[min(depth, len(self._levels) - 1)])

    def proof(self, index: int) -> list[bytes]:
        levels = self._levels
        if not 0 <= index < len(levels[0]):
            raise IndexError(f"leaf index {index} outside a tree of {len(self)} leaves")
        proof = []
        for depth in range(len(levels) - 1):
            level = levels[depth]
            sibling = index ^ 1
            if sibling < len(level):
                proof.append(level[sibling])
            index >>= 1
        return proof


def root_from_proof(digest: bytes, proof: Sequence[bytes]) -> bytes:
    sha = hashlib.sha256
    h = sha(_LEAF + digest).digest()
    for sibling in proof:  # node_hash inlined
        h = sha(_NODE + h + sibling if h <= sibling else _NODE + sibling + h).digest()
    return h


def verify_proof(digest: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    return root_from_proof(digest, proof) == root
