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
from ._native import NATIVE

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

    def proofs(self) -> list[bytes]:
        """Every leaf's proof as its siblings' bytes joined (``b"".join(self.proof(i))`` for each leaf ``i``, in
        leaf order), built top-down so that the siblings above a node are joined once for all leaves below it."""
        levels = self._levels
        above = [b""]  # per node of the current level: its siblings' bytes from there up to the root
        for depth in range(len(levels) - 2, -1, -1):
            level = levels[depth]
            size = len(level)
            above = [(level[j ^ 1] + above[j >> 1]) if (j ^ 1) < size else above[j >> 1] for j in range(size)]
        return above


def root_from_proof(digest: bytes, proof: Sequence[bytes]) -> bytes:
    sha = hashlib.sha256
    h = sha(_LEAF + digest).digest()
    for sibling in proof:  # node_hash inlined
        h = sha(_NODE + h + sibling if h <= sibling else _NODE + sibling + h).digest()
    return h


class ProofWalks:
    """Proofs walked before, to walk the next one of the same tree only until it meets them: a pure memo of
    :func:`root_from_proof`, bounded, giving the same root for every proof it takes.

    A proof written as verifiers receive it (a list of ``"0x"`` + 64 hex digits) is walked from the leaf up. Each
    node of a walk that reached its root is remembered with the proof's text and its height; a later proof that
    reaches a remembered node at the same height, with the same text above it, reaches the same root without
    hashing the rest: the siblings above are the same bytes. Certificates of one batch share their upper nodes,
    so verifying a batch's certificates one after another hashes about two levels each instead of all of them
    (fourteen for a batch of 10,000); the same certificate again hashes one. Nothing of the chain is kept: only
    which hashes lead to which.

    Bounded twice: ``limit`` nodes, and ``text_limit`` characters of the proofs' texts they keep (each walk's text
    counted once). The text is whoever sent the proof's: a client verifying certificates of a tree of its own,
    64-hash proofs each, had each walk remembered with 4 KB of text of its own (140 MB at the node bound). Past
    either bound everything is forgotten at once (a certificate of a batch of 10,000 keeps under 1 KB of text: some
    9,000 of them between two forgettings, each costing one full walk)."""

    def __init__(self, limit: int = 32_768, text_limit: int = 2**23) -> None:
        self._limit = limit
        self.text_limit = text_limit
        self._chars = 0  # characters of the texts the nodes keep (shared by a walk's nodes: counted once)
        self._nodes: dict[bytes, tuple[bytes, str, int]] = {}  # node -> (root, the proof's text, height)

    def root(self, digest: bytes, elements: object, root: bytes) -> bytes | None:
        """The root proof ``elements`` take ``digest`` to, or None when the proof is not in the usual form (the
        caller parses it strictly, which names what is wrong). ``root``: the root it should reach (remembered
        when it does)."""
        if type(elements) is not list:
            return None
        n = len(elements)
        try:
            text = "".join(elements)
        except TypeError:
            return None  # an element that is not text
        if n and (len(text) != 66 * n or min(map(len, elements)) != 66):
            return None  # every element 66 characters: the text's 66-character slices are the elements
        nodes = self._nodes
        walk = NATIVE.proof_walk(digest, elements, text, root, nodes) if NATIVE is not None else NotImplemented
        if walk is NotImplemented:
            walk = _walk(digest, elements, text, root, nodes)
        if walk is None:
            return None
        reached, walked = walk
        if reached == root and walked:
            if len(nodes) + len(walked) > self._limit or self._chars + len(text) > self.text_limit:
                nodes.clear()
                self._chars = 0
            self._chars += len(text)
            for height, node in enumerate(walked):
                nodes[node] = (root, text, height)
        return reached


def _walk(
    digest: bytes, elements: list[str], text: str, root: bytes, nodes: dict[bytes, tuple[bytes, str, int]]
) -> tuple[bytes, list[bytes]] | None:
    """:meth:`ProofWalks.root`'s walk: (the root reached, the nodes walked below the first remembered one), or None
    for an element not in the usual form. ``NATIVE.proof_walk`` answers the same (tests/test_proof_walks.py)."""
    sha, known = hashlib.sha256, None
    h = sha(_LEAF + digest).digest()
    walked: list[bytes] = []
    for height in range(len(elements)):
        seen = nodes.get(h)
        if seen is not None and seen[2] == height and seen[0] == root and seen[1][66 * height :] == text[66 * height :]:
            known = root
            break
        walked.append(h)
        element = elements[height]
        if element[:2] != "0x":
            return None
        try:
            sibling = bytes.fromhex(element[2:])
        except ValueError:
            return None
        if len(sibling) != 32:  # fromhex skips whitespace: not 64 hex digits
            return None
        h = sha(_NODE + h + sibling if h <= sibling else _NODE + sibling + h).digest()
    return (known if known is not None else h), walked


def verify_proof(digest: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    return root_from_proof(digest, proof) == root
