"""``merkle.ProofWalks``: the memo of proofs walked before that verification uses for a certificate's Merkle proof
(``verify._anchoring``). It must give the root :func:`merkle.root_from_proof` gives for every proof it answers,
whatever a holder did to the proof, and leave every proof not in the usual form to the strict reader.

Adversary: a holder editing their document's proof so that a memo of other certificates' walks vouches for it:
siblings swapped, replaced, dropped, added, re-spelt (upper case, no ``0x``, whitespace), characters moved from
one element to the next so that the joined text is unchanged, elements that are not text. Each test runs with the
native walk and with the Python one."""

from __future__ import annotations

import random
from typing import Any

import pytest

from ledger.errors import InputError
from ledger.formats import merkle
from ledger.formats.merkle import MerkleTree, ProofWalks, root_from_proof
from ledger.services.verify import _proof


@pytest.fixture(autouse=True, params=["native", "python"])
def walker(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: with the native walk (``_hashcore.proof_walk``) where it is built, and with the Python one."""
    if request.param == "native" and merkle.NATIVE is None:
        pytest.skip("the native core is not built here")
    if request.param == "python":
        monkeypatch.setattr(merkle, "NATIVE", None)
    return str(request.param)


def _tree(n: int, seed: int) -> tuple[list[bytes], MerkleTree]:
    rng = random.Random(seed)
    leaves = [rng.randbytes(32) for _ in range(n)]
    return leaves, MerkleTree(leaves)


def _hex(proof: list[bytes]) -> list[str]:
    return ["0x" + p.hex() for p in proof]


def _strict(digest: bytes, elements: Any) -> bytes | None:
    try:
        return root_from_proof(digest, _proof(elements))
    except (InputError, ValueError, TypeError):
        return None


def _edits(elements: list[str], other: list[str], rng: random.Random) -> list[Any]:
    """Hostile versions of one proof (``other``: another leaf's proof of the same tree)."""
    if not elements:  # a one-leaf tree: its proof is empty
        return [["0x" + "00" * 32], [""], [None], None, "", ()]
    out: list[Any] = [list(other), elements[:-1], [*elements, elements[-1]], elements[::-1]]
    for i in range(len(elements)):
        swapped = list(elements)
        swapped[i] = other[i] if i < len(other) else "0x" + "00" * 32
        out.append(swapped)
        for spelt in (
            elements[i].upper(),
            elements[i][2:],
            "0X" + elements[i][2:],
            elements[i][:30] + " " + elements[i][31:],
        ):
            out.append([*elements[:i], spelt, *elements[i + 1 :]])
        if i + 1 < len(elements):  # one character moved to the next element: the joined text is the same
            moved = list(elements)
            moved[i], moved[i + 1] = elements[i][:-1], elements[i][-1] + elements[i + 1]
            out.append(moved)
            moved = list(elements)
            moved[i], moved[i + 1] = elements[i] + elements[i + 1][:1], elements[i + 1][1:]
            out.append(moved)
        out.append([*elements[:i], bytes.fromhex(elements[i][2:]), *elements[i + 1 :]])
        out.append([*elements[:i], [elements[i]], *elements[i + 1 :]])
    out += ["".join(elements), tuple(elements), None, [], [elements[0][2:] + elements[0][2:4]]]
    return out


@pytest.mark.parametrize("size", [1, 2, 3, 37, 256])
def test_the_memo_gives_the_strict_readers_root_for_every_edited_proof(size: int) -> None:
    rng = random.Random(size)
    leaves, tree = _tree(size, size)
    walks = ProofWalks()
    order = list(range(size))
    rng.shuffle(order)
    for rounds in range(2):
        for i in order:
            elements = _hex(tree.proof(i))
            assert walks.root(leaves[i], elements, tree.root) == tree.root
            other = _hex(tree.proof((i + 1) % size))
            for edited in _edits(elements, other, rng):
                for digest in (leaves[i], leaves[(i + 1) % size]):
                    answer = walks.root(digest, edited, tree.root)
                    if answer is not None:
                        assert answer == _strict(digest, edited), (i, edited, rounds)
                        if edited != elements or digest != leaves[i]:
                            assert answer != tree.root or _strict(digest, edited) == tree.root
            assert walks.root(leaves[i], elements, tree.root) == tree.root  # the edits taught it nothing false


def test_a_proof_of_another_tree_is_never_taken_for_this_one() -> None:
    """Two trees sharing no node: a walk remembered for one root does not answer for another."""
    leaves, tree = _tree(64, 1)
    _, other = _tree(64, 2)
    walks = ProofWalks()
    for i in range(64):
        walks.root(leaves[i], _hex(tree.proof(i)), tree.root)
    for i in range(64):
        answer = walks.root(leaves[i], _hex(tree.proof(i)), other.root)
        assert answer == tree.root != other.root


def test_the_memo_is_bounded_and_still_right_when_it_forgets() -> None:
    leaves, tree = _tree(300, 3)
    walks = ProofWalks(limit=40)
    for i in list(range(300)) * 2:
        assert walks.root(leaves[i], _hex(tree.proof(i)), tree.root) == tree.root
        assert len(walks._nodes) <= 40
