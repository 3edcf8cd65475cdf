"""A secure Merkle-Patricia trie built from its definition (Yellow Paper appendix D), for tries no contract of ours
happens to hold, and a header whose hash is what a test makes it (from tests/test_bundle_state_proof.py: no test
module imports another): both verifiers' walks over extensions, branches, embedded nodes and absences, and their
reading of proven words no honest chain holds."""

from __future__ import annotations

from typing import Any

import rlp
from eth_utils.crypto import keccak


def hex_prefix(nibbles: list[int], leaf: bool) -> bytes:
    flag = (2 if leaf else 0) + len(nibbles) % 2
    full = [flag, 0, *nibbles] if len(nibbles) % 2 == 0 else [flag, *nibbles]
    return bytes(16 * full[i] + full[i + 1] for i in range(0, len(full), 2))


def key_nibbles(key: bytes) -> list[int]:
    return [n for byte in keccak(key) for n in (byte >> 4, byte & 0x0F)]


def _build(pairs: list[tuple[list[int], bytes]], depth: int, nodes: dict[bytes, bytes]) -> Any:
    """The node (as RLP structure) over ``pairs`` (paths and values) below ``depth`` nibbles; every node referred to
    by hash is put in ``nodes``."""
    if len(pairs) == 1:
        path, value = pairs[0]
        return [hex_prefix(path[depth:], True), value]
    common = 0
    while all(p[depth + common] == pairs[0][0][depth + common] for p, _ in pairs):
        common += 1
    if common:
        return [
            hex_prefix(pairs[0][0][depth : depth + common], False),
            _ref(_build(pairs, depth + common, nodes), nodes),
        ]
    children: list[Any] = []
    for nibble in range(16):
        under = [(p, v) for p, v in pairs if p[depth] == nibble]
        children.append(_ref(_build(under, depth + 1, nodes), nodes) if under else b"")
    return [*children, b""]


def _ref(node: Any, nodes: dict[bytes, bytes]) -> Any:
    encoded = rlp.encode(node)
    if len(encoded) < 32:
        return node
    nodes[keccak(encoded)] = encoded
    return keccak(encoded)


def secure_trie(entries: dict[bytes, bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    nodes: dict[bytes, bytes] = {}
    root = rlp.encode(_build([(key_nibbles(k), v) for k, v in entries.items()], 0, nodes))
    nodes[keccak(root)] = root
    return keccak(root), nodes


def prove(root: bytes, nodes: dict[bytes, bytes], key: bytes) -> list[bytes]:
    """The proof of ``key`` (present or absent): the nodes referred to by hash on its path, root first."""
    path, depth, proof = key_nibbles(key), 0, []
    ref: Any = root
    while True:
        if isinstance(ref, bytes) and len(ref) == 32:
            proof.append(nodes[ref])
            node = rlp.decode(nodes[ref])
        elif isinstance(ref, list):
            node = ref
        else:
            return proof
        if len(node) == 17:
            ref, depth = node[path[depth]], depth + 1
            continue
        flag = node[0][0] >> 4
        part = ([node[0][0] & 0x0F] if flag & 1 else []) + [n for b in node[0][1:] for n in (b >> 4, b & 0x0F)]
        if flag >= 2 or path[depth : depth + len(part)] != part:
            return proof
        ref, depth = node[1], depth + len(part)


def word_leaf(word: int) -> bytes:
    """A storage word as its trie leaf's value: the RLP of its minimal big-endian bytes."""
    return bytes(rlp.encode(word.to_bytes((word.bit_length() + 7) // 8, "big")))


def made_up_state(address: bytes, words: dict[int, int], number: int = 100) -> tuple[dict[str, str], bytes, Any]:
    """(a header of block ``number`` whose state holds the contract at ``address`` with storage ``words``, that
    header's hash, the ``eth_getProof`` answer proving every slot of ``words`` there): a block no chain has, for the
    verifiers' reading of proven words a contract never writes."""
    from ledger.onchain import stateproof

    storage_root, storage = secure_trie({slot.to_bytes(32, "big"): word_leaf(w) for slot, w in words.items() if w})
    account = bytes(rlp.encode([1, 0, storage_root, keccak(b"code")]))
    state_root, accounts = secure_trie(
        {address: account, b"\x01" * 20: bytes(rlp.encode([0, 5, keccak(b"\x80"), keccak(b"")]))}
    )
    zero = "0x" + "00" * 32
    block = {
        "parentHash": zero,
        "sha3Uncles": zero,
        "miner": "0x" + "00" * 20,
        "stateRoot": "0x" + state_root.hex(),
        "transactionsRoot": zero,
        "receiptsRoot": zero,
        "logsBloom": "0x" + "00" * 256,
        "difficulty": "0x0",
        "number": hex(number),
        "gasLimit": hex(30_000_000),
        "gasUsed": "0x0",
        "timestamp": hex(1_700_000_000),
        "extraData": "0x",
        "mixHash": zero,
        "nonce": "0x" + "00" * 8,
    }
    answer = {
        "accountProof": ["0x" + n.hex() for n in prove(state_root, accounts, address)],
        "storageProof": [
            {
                "key": f"0x{slot:064x}",
                "proof": ["0x" + n.hex() for n in prove(storage_root, storage, slot.to_bytes(32, "big"))],
            }
            for slot in words
        ],
    }
    return block, keccak(stateproof.header_rlp(block)), answer
