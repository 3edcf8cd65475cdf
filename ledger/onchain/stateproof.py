"""EIP-1186 state proofs: the anchor contract's storage read from a block a witness vouches for, not from a node's word.

A witnessed checkpoint names a block by its hash (docs/witness.md). The hash is keccak256 of the block header's RLP,
the header carries the state root, and the state root commits, through the state trie, to each account's storage
root and, through that account's storage trie, to every storage word. So a node's ``eth_getProof`` answer (the trie
nodes on the way to the anchor contract's account and to chosen storage slots) proves what the contract held at that
block, whatever else the node says: each node is checked against the hash (or, for a node under 32 bytes, the
embedding) its parent refers to, from the state root down (the Yellow Paper, appendix D; go-ethereum's
``trie.VerifyProof``). A node answering ``statusTrail`` or ``statusOf`` from a state it made up, with logs that agree,
cannot make a proof of it that hashes to a witnessed block.

Everything here reads the node's answers as hostile: bounded sizes and counts, canonical RLP only, no recursion (a
dependency raises the recursion limit, so a deep structure must not be walked by the stack), and every failure a
:class:`~ledger.errors.ChainError` naming what disagreed.

The slots are the compiler's (``storageLayout`` in ledger/onchain/contracts.json), not counted by hand.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from eth_utils.crypto import keccak

from ..errors import ChainError
from .toolchain import storage_layout
from .trail import Trail

# The most a proof may hold: a secure trie's key is 64 nibbles and every node on the way consumes at least one, so an
# honest proof has at most 65 nodes; a branch of 16 hash references is 532 bytes, an account leaf about 110.
MAX_PROOF_NODES = 65
MAX_NODE_BYTES = 1024
MAX_PROOF_SLOTS = 64
# A header is some 600 bytes; a BFT chain's extra data (validators, seals) is larger, but never this.
MAX_HEADER_BYTES = 64 * 1024

EMPTY_TRIE_ROOT = keccak(b"\x80")
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")
_SLOT_KEY = re.compile(r"0x[0-9a-fA-F]{1,64}")

# The header's fields in the order its RLP lists them (go-ethereum core/types.Header): the first fifteen in every
# block, then each fork's additions, each present only with every one before it.
_BASE_FIELDS = (
    ("parentHash", 32),
    ("sha3Uncles", 32),
    ("miner", 20),
    ("stateRoot", 32),
    ("transactionsRoot", 32),
    ("receiptsRoot", 32),
    ("logsBloom", 256),
    ("difficulty", 0),
    ("number", 0),
    ("gasLimit", 0),
    ("gasUsed", 0),
    ("timestamp", 0),
    ("extraData", -1),
    ("mixHash", 32),
    ("nonce", 8),
)
_FORK_FIELDS = (
    ("baseFeePerGas", 0),  # London
    ("withdrawalsRoot", 32),  # Shanghai
    ("blobGasUsed", 0),  # Cancun
    ("excessBlobGas", 0),
    ("parentBeaconBlockRoot", 32),
    ("requestsHash", 32),  # Prague
)
# What eth_getBlockByNumber answers besides the header: the block's body and what a node works out of it.
NOT_HEADER = frozenset({"hash", "size", "totalDifficulty", "transactions", "uncles", "withdrawals"})


# -- RLP ---------------------------------------------------------------------------------------------------------


def _rlp_length(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _rlp_bytes(value: bytes) -> bytes:
    if len(value) == 1 and value[0] < 0x80:
        return value
    if len(value) < 56:
        return bytes((0x80 + len(value),)) + value
    size = _rlp_length(len(value))
    return bytes((0xB7 + len(size),)) + size + value


def _rlp_list(items: Sequence[bytes]) -> bytes:
    body = b"".join(_rlp_bytes(item) for item in items)
    if len(body) < 56:
        return bytes((0xC0 + len(body),)) + body
    size = _rlp_length(len(body))
    return bytes((0xF7 + len(size),)) + size + body


def _item(data: bytes, at: int, end: int) -> tuple[bool, int, int]:
    """The RLP item starting at ``data[at]`` (before ``end``): (whether it is a list, its payload's start, its end);
    a ChainError for anything but canonical RLP (a length with leading zeros, a long form for a short length, a
    single byte under 0x80 wrapped as a string, an item running past ``end``)."""
    if at >= end:
        raise ChainError("the node's proof holds a truncated RLP item: do not trust this node's state proofs")
    first = data[at]
    if first < 0x80:
        return False, at, at + 1
    is_list = first >= 0xC0
    short = first - (0xC0 if is_list else 0x80)
    if short <= 55:
        start, size = at + 1, short
        if not is_list and size == 1 and start < end and data[start] < 0x80:
            raise ChainError("the node's proof holds a non-canonical RLP byte: do not trust this node's state proofs")
    else:
        width = short - 55
        start = at + 1 + width
        if start > end or data[at + 1] == 0:
            raise ChainError("the node's proof holds a malformed RLP length: do not trust this node's state proofs")
        size = int.from_bytes(data[at + 1 : start], "big")
        if size <= 55:
            raise ChainError("the node's proof holds a non-canonical RLP length: do not trust this node's state proofs")
    if start + size > end:
        raise ChainError(
            "the node's proof holds an RLP item longer than its node: do not trust this node's state proofs"
        )
    return is_list, start, start + size


@dataclass(frozen=True, slots=True)
class _Element:
    """One element of an RLP list: a string (``value``) or an embedded list (``raw``, its whole encoding)."""

    is_list: bool
    value: bytes


def _list(data: bytes, what: str) -> list[_Element]:
    """The elements of the RLP list that ``data`` is exactly, one level deep (an embedded list is kept encoded)."""
    is_list, start, end = _item(data, 0, len(data))
    if not is_list or end != len(data):
        raise ChainError(f"the node's {what} is not one RLP list: do not trust this node's state proofs")
    elements = []
    at = start
    while at < end:
        nested, payload, after = _item(data, at, end)
        elements.append(_Element(nested, data[at:after] if nested else data[payload:after]))
        at = after
    return elements


def _integer(value: bytes, what: str) -> int:
    if value[:1] == b"\x00":
        raise ChainError(
            f"the node's proof states {what} with a leading zero byte: do not trust this node's state proofs"
        )
    return int.from_bytes(value, "big")


# -- Merkle-Patricia proofs --------------------------------------------------------------------------------------


def _nibbles(key: bytes) -> list[int]:
    out: list[int] = []
    for byte in key:
        out += (byte >> 4, byte & 0x0F)
    return out


def _path(encoded: bytes) -> tuple[bool, list[int]]:
    """A leaf's or an extension's hex-prefix encoded path: (whether it is a leaf, its nibbles)."""
    if not encoded:
        raise ChainError(
            "the node's proof holds a leaf or extension with no path: do not trust this node's state proofs"
        )
    flag = encoded[0] >> 4
    if flag > 3 or (not flag & 1 and encoded[0] & 0x0F):
        raise ChainError("the node's proof holds a malformed trie path: do not trust this node's state proofs")
    nibbles = ([encoded[0] & 0x0F] if flag & 1 else []) + _nibbles(encoded[1:])
    return flag >= 2, nibbles


def verify_proof(root: bytes, key: bytes, proof: Sequence[bytes], what: str) -> bytes | None:
    """The value stored under ``keccak256(key)`` in the secure trie of root hash ``root``, as the nodes of ``proof``
    (root first, as EIP-1186 lists them) prove it; None when they prove no value is there. A ChainError, naming
    ``what`` was being proven, for any proof that does not hash up to ``root`` or is not a trie's path."""

    def refused(why: str) -> ChainError:
        return ChainError(f"the node's proof of {what} {why}: the node made up state or proof; do not trust this node")

    if len(proof) > MAX_PROOF_NODES:
        raise refused(f"holds {len(proof)} nodes, more than the {MAX_PROOF_NODES} a path of the trie can have")
    if root == EMPTY_TRIE_ROOT:
        # an empty trie holds no key: its proof is no node (go-ethereum) or the empty root node itself, the RLP of the
        # empty string that hashes to the root (anvil); anything else claims a node the trie does not have
        if len(proof) == 0 or (len(proof) == 1 and proof[0] == b"\x80"):
            return None
        raise refused("holds nodes of a trie that is empty")
    if not proof:
        raise refused("is empty, for a trie that is not")
    key_nibbles = _nibbles(keccak(key))
    depth = 0
    used = 0
    wanted: bytes | None = root  # the hash the next node must have; None: the next node is embedded in its parent
    node = b""
    for _ in range(2 * MAX_PROOF_NODES):  # every turn consumes a proof node or a nibble: bounded without this too
        if wanted is not None:
            if used == len(proof):
                raise refused("ends before the path reaches a value or a proven absence")
            node = proof[used]
            used += 1
            if len(node) > MAX_NODE_BYTES:
                raise refused(f"holds a node of {len(node)} bytes, more than a trie node holds")
            if keccak(node) != wanted:
                raise refused(f"holds node {used}, which is not the one its parent (or the state root) names")
        elements = _list(node, f"proof of {what}")
        if len(elements) == 17:
            if depth == len(key_nibbles):
                raise refused("reaches a branch at the end of its key, which a secure trie never has")
            child = elements[key_nibbles[depth]]
            depth += 1
            if not child.is_list and not child.value:
                found: bytes | None = None  # no child there: the key is absent
                break
        elif len(elements) == 2:
            if elements[0].is_list:
                raise refused("holds a node whose path is not a string")
            leaf, path = _path(elements[0].value)
            rest = key_nibbles[depth:]
            if leaf:
                if elements[1].is_list or not elements[1].value:
                    raise refused("holds a leaf with no value")
                found = elements[1].value if rest == path else None
                break
            if not path:
                raise refused("holds an extension of an empty path, which no trie has")
            if rest[: len(path)] != path:
                found = None  # the key leaves the extension's path: absent
                break
            depth += len(path)
            child = elements[1]
        else:
            raise refused(
                f"holds a node of {len(elements)} elements, neither a branch (17) nor a leaf or extension (2)"
            )
        if child.is_list:
            if len(child.value) >= 32:
                raise refused("embeds a node of 32 bytes or more, which a trie refers to by its hash")
            wanted, node = None, child.value
        elif len(child.value) == 32:
            wanted = child.value
        else:
            raise refused("refers to a node by neither a 32-byte hash nor an embedding")
    else:
        raise refused("does not end")
    if used != len(proof):
        raise refused(f"holds {len(proof) - used} nodes past the end of its path")
    return found


# -- headers, accounts, storage ----------------------------------------------------------------------------------


def _hex(digits: str) -> bytes:
    """``digits`` as bytes: hex digits only (``bytes.fromhex`` skips white space, which the court's verifier refuses,
    so a proof spaced out would have passed one verifier and failed the other); a ValueError otherwise."""
    if not _HEX_DIGITS.fullmatch(digits):
        raise ValueError("not hex digits")
    return bytes.fromhex(digits)


def _field(block: Mapping[str, Any], name: str, size: int) -> bytes:
    text = block[name]
    if type(text) is not str or text[:2] != "0x" or len(text) > 2 * MAX_HEADER_BYTES:
        raise ChainError(f"the node's block states {name} as no hex string: do not trust this node's blocks")
    try:
        value = _hex(text[2:] if size != 0 or len(text) % 2 == 0 else "0" + text[2:])
    except ValueError:
        raise ChainError(f"the node's block states {name} as no hex string: do not trust this node's blocks") from None
    if size > 0 and len(value) != size:
        raise ChainError(f"the node's block states a {name} of {len(value)} bytes, not {size}: do not trust this node")
    if size == 0:  # a quantity: its minimal big-endian bytes
        value = value.lstrip(b"\x00")
    return value


def header_rlp(block: Mapping[str, Any]) -> bytes:
    """The RLP of the header of ``block`` (an ``eth_getBlockByNumber`` answer): its fields in the header's order,
    each fork's fields only as far as the block has them. A member that is no header field nor part of the block's
    body is refused, not skipped: a header field this reader does not know would leave the hash unreproducible, and
    the block unproven."""
    unknown = sorted(k for k in block if k not in NOT_HEADER and k not in dict(_BASE_FIELDS + _FORK_FIELDS))
    if unknown:
        raise ChainError(
            f"the node's block has header fields this reader does not know ({', '.join(unknown)[:200]}): its hash "
            "cannot be reproduced, so no state is proven from it; a newer ledger may know the fork that added them"
        )
    missing = [name for name, _ in _BASE_FIELDS if name not in block]
    if missing:
        raise ChainError(
            f"the node's block lacks header fields ({', '.join(missing)}): do not trust this node's blocks"
        )
    forks = [name for name, _ in _FORK_FIELDS if name in block]
    if forks != [name for name, _ in _FORK_FIELDS[: len(forks)]]:
        raise ChainError(
            f"the node's block has header fields ({', '.join(forks)}) without every one before them: no header is so "
            "made; do not trust this node's blocks"
        )
    fields = _BASE_FIELDS + _FORK_FIELDS[: len(forks)]
    return _rlp_list([_field(block, name, size) for name, size in fields])


def state_root(block: Mapping[str, Any], block_hash: bytes, number: int) -> bytes:
    """The state root of block ``number`` of hash ``block_hash`` (a witnessed one), from the node's ``block``: the
    header's hash must be ``block_hash`` and its number ``number``, or the node answered another block or a made-up
    header."""
    if not isinstance(block, Mapping):
        raise ChainError(f"the node answered no block {number}: do not trust this node's blocks")
    encoded = header_rlp(block)
    if len(encoded) > MAX_HEADER_BYTES:
        raise ChainError(f"the node's block {number} has a header of {len(encoded)} bytes: do not trust this node")
    if keccak(encoded) != block_hash:
        raise ChainError(
            f"the node's header of block {number} hashes to 0x{keccak(encoded).hex()}, not to the witnessed "
            f"0x{block_hash.hex()}: the node answered another block or altered its header; do not trust this node"
        )
    if int.from_bytes(_field(block, "number", 0), "big") != number:
        raise ChainError(f"the node answered block {block.get('number')!r} for block {number}: do not trust this node")
    return _field(block, "stateRoot", 32)


@dataclass(frozen=True, slots=True)
class Account:
    nonce: int
    balance: int
    storage_root: bytes
    code_hash: bytes


def account(root: bytes, address: bytes, proof: Sequence[bytes]) -> Account:
    """The account at ``address`` in the state of root ``root``, as ``proof`` proves it (its absence refused: the
    anchor contract is there at every block a witness cosigns after its deployment)."""
    what = f"account 0x{address.hex()}"
    value = verify_proof(root, address, proof, what)
    if value is None:
        raise ChainError(f"the node's proof says {what} does not exist at the witnessed block: do not trust this node")
    fields = _list(value, f"{what}'s leaf")
    if len(fields) != 4 or any(f.is_list for f in fields) or len(fields[2].value) != 32 or len(fields[3].value) != 32:
        raise ChainError(f"the node's proof of {what} ends in no account: do not trust this node's state proofs")
    return Account(
        _integer(fields[0].value, "a nonce"), _integer(fields[1].value, "a balance"), fields[2].value, fields[3].value
    )


def storage_word(root: bytes, slot: int, proof: Sequence[bytes]) -> int:
    """The storage word at ``slot`` in the storage trie of root ``root`` (0 when ``proof`` proves it absent)."""
    what = f"storage slot 0x{slot:064x}"
    value = verify_proof(root, slot.to_bytes(32, "big"), proof, what)
    if value is None:
        return 0
    is_list, start, end = _item(value, 0, len(value))
    if is_list or end != len(value) or end - start > 32:
        raise ChainError(f"the node's proof of {what} ends in no storage word: do not trust this node's state proofs")
    # an empty word is zero: anvil keeps a slot a transaction read as zero in its trie, as a leaf of the empty string
    # (its hash proven like any other; go-ethereum leaves such a slot out, which proves zero too)
    return _integer(value[start:end], "a storage word")


# -- the anchor contract's layout --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    """A struct member as the compiler lays it out: its slot within the struct, its byte offset within that word and
    its size (anchorslots.py and registryslots.py read theirs with it too)."""

    slot: int
    offset: int
    size: int

    def of(self, words: Mapping[int, int], base: int) -> int:
        word = words[base + self.slot].to_bytes(32, "big")
        return int.from_bytes(word[32 - self.offset - self.size : 32 - self.offset], "big")


def layout_leaf(types: Mapping[str, Any], type_name: str) -> str:
    """The type a compiler's storage-layout ``type_name`` holds below its mappings and dynamic arrays (a struct's
    name, for the record a mapping of arrays keeps)."""
    while types[type_name]["encoding"] in ("mapping", "dynamic_array"):
        entry = types[type_name]
        type_name = entry["value"] if entry["encoding"] == "mapping" else entry["base"]
    return type_name


def layout_members(types: Mapping[str, Any], struct: str) -> dict[str, Member]:
    """Struct ``struct``'s members as the compiler's storage layout ``types`` places them."""
    return {
        m["label"]: Member(int(m["slot"]), int(m["offset"]), int(types[m["type"]]["numberOfBytes"]))
        for m in types[struct]["members"]
    }


_Layout = TypeVar("_Layout")


def shipped_layout(contract: str, read: Callable[[Mapping[str, Any]], _Layout]) -> _Layout:
    """``read`` of the compiler's storage layout of ``contract`` as shipped with the contracts (contracts.json); a
    ChainError naming the contract when it does not read. Each slots module's ``*_layout`` keeps its answer."""
    try:
        return read(storage_layout(contract))
    except (KeyError, TypeError, ValueError) as exc:
        raise ChainError(f"the shipped storage layout of {contract} is unreadable ({exc!r})") from None


@dataclass(frozen=True, slots=True)
class AnchorLayout:
    """Where CertificateAnchor keeps a department's status and anchoring trails, from the compiler's storage layout."""

    trails: int
    trail: Mapping[str, Member]
    anchorings: int
    anchoring: Mapping[str, Member]

    @classmethod
    def from_layout(cls, layout: Mapping[str, Any]) -> AnchorLayout:
        variables = {v["label"]: v for v in layout["storage"]}
        types = layout["types"]

        def struct(mapping_type: str) -> dict[str, Member]:
            return layout_members(types, layout_leaf(types, mapping_type))

        return cls(
            int(variables["_trails"]["slot"]),
            struct(variables["_trails"]["type"]),
            int(variables["_anchorings"]["slot"]),
            struct(variables["_anchorings"]["type"]),
        )

    def trail_base(self, department_id: bytes) -> int:
        return _mapped(self.trails, department_id)

    def anchoring_base(self, department_id: bytes) -> int:
        return _mapped(self.anchorings, department_id)


def _mapped(slot: int, key: bytes) -> int:
    """The slot of ``mapping[key]`` for a mapping at ``slot`` and a 32-byte key (Solidity's layout)."""
    return int.from_bytes(keccak(key + slot.to_bytes(32, "big")), "big")


@functools.cache
def anchor_layout() -> AnchorLayout:
    """CertificateAnchor's storage layout as the slots read it (once a process)."""
    return shipped_layout("CertificateAnchor", AnchorLayout.from_layout)


# -- reading proven state from a node ----------------------------------------------------------------------------


def _hex_list(value: Any, what: str) -> list[bytes]:
    if type(value) is not list or len(value) > MAX_PROOF_NODES:
        raise ChainError(f"the node answered {what} as no list of at most {MAX_PROOF_NODES} nodes: do not trust it")
    out: list[bytes] = []
    for item in value:
        if type(item) is not str or item[:2] != "0x" or len(item) > 2 + 2 * MAX_NODE_BYTES:
            raise ChainError(
                f"the node answered {what} with a node that is no hex string of at most {MAX_NODE_BYTES} bytes"
            )
        try:
            out.append(_hex(item[2:]))
        except ValueError:
            raise ChainError(f"the node answered {what} with a node that is no hex string") from None
    return out


def _request(w3: Any, method: str, params: list[Any]) -> Any:
    try:
        response = w3.provider.make_request(method, params)
    except ChainError:
        raise
    except Exception as exc:  # noqa: BLE001 - the transport's and web3's many errors: the node could not be read
        raise ChainError(f"the node could not be asked {method}: {type(exc).__name__}: {exc}") from None
    if not isinstance(response, Mapping) or "result" not in response:
        error = response.get("error") if isinstance(response, Mapping) else None
        message = error.get("message") if isinstance(error, Mapping) else None
        raise ChainError(f"the node did not answer {method}: {str(message)[:200] if message else 'no result'}")
    return response["result"]


def fetch(w3: Any, address: str, slots: Sequence[int], number: int) -> tuple[Any, Any]:
    """The node's answers that prove ``slots`` of the contract at ``address`` in block ``number``: its
    ``eth_getBlockByNumber`` and its ``eth_getProof`` (unchecked: :func:`verified_words` checks them)."""
    if not 0 < len(slots) <= MAX_PROOF_SLOTS:
        raise ChainError(f"between 1 and {MAX_PROOF_SLOTS} storage slots are proven at once, not {len(slots)}")
    block = _request(w3, "eth_getBlockByNumber", [hex(number), False])
    keys = ["0x" + slot.to_bytes(32, "big").hex() for slot in slots]
    return block, _request(w3, "eth_getProof", [address, keys, hex(number)])


def verified_words(
    block: Any, answer: Any, address: str, slots: Sequence[int], block_hash: bytes, number: int
) -> dict[int, int]:
    """The storage words at ``slots`` of the contract at ``address`` in block ``number`` of hash ``block_hash``, as
    the node's ``block`` (its header) and ``answer`` (an ``eth_getProof`` answer holding a proof of each slot, maybe
    of others too) prove them. What the node states beside its proof (balance, storage hash, value) is not believed:
    the proven values are returned."""
    root = state_root(block, block_hash, number)
    if not isinstance(answer, Mapping) or type(answer.get("storageProof")) is not list:
        raise ChainError("the node answered eth_getProof with no proof: do not trust this node's state proofs")
    address_bytes = bytes.fromhex(address.removeprefix("0x"))
    contract = account(root, address_bytes, _hex_list(answer.get("accountProof"), "the account proof"))
    entries = answer["storageProof"]
    if len(entries) > 2 * MAX_PROOF_SLOTS:
        raise ChainError(f"the node answered {len(entries)} storage proofs: more than were asked; do not trust it")
    by_slot: dict[int, Any] = {}
    for entry in entries:
        stated = entry.get("key") if isinstance(entry, Mapping) else None
        # a quantity written as nodes write it: 0x and hex digits only (int() would also read white space, underscores
        # and no prefix, which the court's verifier refuses)
        slot = int(stated, 16) if type(stated) is str and _SLOT_KEY.fullmatch(stated) else -1
        if slot < 0 or slot in by_slot:
            raise ChainError(
                f"the node answered a storage proof of key {str(stated)[:80]!r}, not one slot asked once: do not "
                "trust this node's state proofs"
            )
        by_slot[slot] = entry
    words = {}
    for slot in slots:
        if slot not in by_slot:
            raise ChainError(f"the node answered no storage proof of slot 0x{slot:064x}: do not trust this node")
        words[slot] = storage_word(
            contract.storage_root, slot, _hex_list(by_slot[slot].get("proof"), "a storage proof")
        )
    return words


def fetch_verified(
    w3: Any, address: str, slots: Sequence[int], block_hash: bytes, number: int
) -> tuple[Any, Any, dict[int, int]]:
    """The node's answers that prove ``slots`` of the contract at ``address`` in block ``number`` of hash
    ``block_hash`` (its ``eth_getBlockByNumber`` and ``eth_getProof``, as :func:`fetch` reads them) and the words
    they prove (:func:`verified_words`): what ``ledger witness collect`` keeps, checked before it is kept."""
    block, answer = fetch(w3, address, slots, number)
    return block, answer, verified_words(block, answer, address, slots, block_hash, number)


def proven_words(w3: Any, address: str, slots: Sequence[int], block_hash: bytes, number: int) -> dict[int, int]:
    """The storage words at ``slots`` of the contract at ``address`` in block ``number`` of hash ``block_hash``,
    each proven from the block's header down (one ``eth_getBlockByNumber`` and one ``eth_getProof``)."""
    return fetch_verified(w3, address, slots, block_hash, number)[2]


def trail_slots(department_id: bytes) -> list[int]:
    """The storage slots of department ``department_id``'s status trail."""
    layout = anchor_layout()
    base = layout.trail_base(department_id)
    return sorted({base + m.slot for m in layout.trail.values()})


def trail_from(words: Mapping[int, int], department_id: bytes) -> Trail:
    """Department ``department_id``'s status trail from its proven storage ``words`` (:func:`trail_slots`)."""
    layout = anchor_layout()
    base, member = layout.trail_base(department_id), layout.trail
    return Trail(
        member["trail"].of(words, base).to_bytes(32, "big"),
        member["blockNumber"].of(words, base),
        member["changes"].of(words, base),
    )


def anchoring_slots(department_id: bytes) -> list[int]:
    """The storage slots of department ``department_id``'s anchoring trail (CertificateAnchor 4.2.0)."""
    layout = anchor_layout()
    base = layout.anchoring_base(department_id)
    return sorted({base + m.slot for m in layout.anchoring.values()})


def department_slots(department_id: bytes) -> list[int]:
    """The storage slots a witnessed verification proves of department ``department_id``: its status trail's, then
    its anchoring trail's (what ``ledger witness collect`` keeps proofs of, four per department)."""
    return trail_slots(department_id) + anchoring_slots(department_id)


def anchoring_from(words: Mapping[int, int], department_id: bytes) -> Trail:
    """Department ``department_id``'s anchoring trail from its proven storage ``words`` (:func:`anchoring_slots`);
    ``changes`` counts its batches."""
    layout = anchor_layout()
    base, member = layout.anchoring_base(department_id), layout.anchoring
    return Trail(
        member["trail"].of(words, base).to_bytes(32, "big"),
        member["blockNumber"].of(words, base),
        member["batches"].of(words, base),
    )


def proven_trail(w3: Any, address: str, block_hash: bytes, number: int, department_id: bytes) -> Trail:
    """Department ``department_id``'s status trail (``statusTrail``) in block ``number`` of hash ``block_hash``,
    proven from the block's header."""
    return trail_from(proven_words(w3, address, trail_slots(department_id), block_hash, number), department_id)


def proven_trails(w3: Any, address: str, block_hash: bytes, number: int, department_id: bytes) -> tuple[Trail, Trail]:
    """Department ``department_id``'s status and anchoring trails in block ``number`` of hash ``block_hash``, proven
    from the block's header (one header read, one ``eth_getProof`` of their four slots)."""
    words = proven_words(w3, address, department_slots(department_id), block_hash, number)
    return trail_from(words, department_id), anchoring_from(words, department_id)
