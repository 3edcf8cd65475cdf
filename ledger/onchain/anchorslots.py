"""Where CertificateAnchor keeps one certificate: the storage slots a state proof at a witnessed block proves it by.

Per department the contract keeps everything a bundle states about one certificate in storage: its batch's record
(``_batches[department][root]``: signer, block, time, count, type), its status history
(``_history[department][root][digest]``, a dynamic array of status changes), the roots under which it ended
(``_ended[department][digest]``) and was first suspended (``_held[department][digest]``), and the certificates it
superseded (``_predecessors[department][root][digest]``, CertificateAnchor 4.3.0). Proving those slots at a cosigned
block (ledger/onchain/stateproof.py) proves the batch, the certificate's status and its predecessors up to that block
in a fixed number of proofs, whatever the chain's length or the department's number of batches and status changes:
no event stream is read (docs/evidence.md, "Certificate slots").

The slots are the compiler's (``storageLayout`` in ledger/onchain/contracts.json): mapping and array slots are
Solidity's (``keccak256(key . slot)``, an array's elements from ``keccak256(slot)``), the members' slots and offsets
read from the layout, never counted by hand.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from eth_utils.crypto import keccak

from ..errors import ChainError
from .stateproof import MAX_PROOF_SLOTS, Member, layout_leaf, layout_members, shipped_layout

# The most status changes and predecessors together a certificate's proof carries: six fixed slots and two per
# change or predecessor within the most slots one proof holds. A certificate suspended and reinstated more often than
# this (or replacing that many) is proven by the trail path instead.
MAX_HISTORY = (MAX_PROOF_SLOTS - 6) // 2


@dataclass(frozen=True, slots=True)
class CertificateLayout:
    """The slots of the mappings that hold a certificate, and the members of its batch record and status changes."""

    batches: int
    batch: Mapping[str, Member]
    history: int
    change: Mapping[str, Member]
    change_words: int
    ended: int
    held: int
    predecessors: int
    predecessor: Mapping[str, Member]
    predecessor_words: int

    @classmethod
    def from_layout(cls, layout: Mapping[str, Any]) -> CertificateLayout:
        variables = {v["label"]: v for v in layout["storage"]}
        types = layout["types"]

        change = layout_leaf(types, variables["_history"]["type"])
        predecessor = layout_leaf(types, variables["_predecessors"]["type"])
        for name in ("_ended", "_held"):
            if types[layout_leaf(types, variables[name]["type"])]["numberOfBytes"] != "32":
                raise ValueError(f"{name} does not map to one word")
        return cls(
            int(variables["_batches"]["slot"]),
            layout_members(types, layout_leaf(types, variables["_batches"]["type"])),
            int(variables["_history"]["slot"]),
            layout_members(types, change),
            int(types[change]["numberOfBytes"]) // 32,
            int(variables["_ended"]["slot"]),
            int(variables["_held"]["slot"]),
            int(variables["_predecessors"]["slot"]),
            layout_members(types, predecessor),
            int(types[predecessor]["numberOfBytes"]) // 32,
        )


def mapped(slot: int, key: bytes) -> int:
    """The slot of ``mapping[key]`` for a mapping at ``slot`` and a 32-byte key (Solidity's layout)."""
    return int.from_bytes(keccak(key + slot.to_bytes(32, "big")), "big")


@functools.cache
def certificate_layout() -> CertificateLayout:
    """CertificateAnchor's storage layout as the slots read it (once a process)."""
    return shipped_layout("CertificateAnchor", CertificateLayout.from_layout)


@dataclass(frozen=True, slots=True)
class CertificateSlots:
    """The slots of one certificate (``department``, ``root``, ``digest``)."""

    batch: int  # the batch record's first word
    history: int  # the status history's length word
    ended: int
    held: int
    predecessors: int  # the predecessors' length word (4.3.0)

    def fixed(self) -> list[int]:
        """The slots proven whatever the history's length: the batch record's, the history's length, ended's, held's
        and the predecessors' length."""
        layout = certificate_layout()
        words = sorted({self.batch + m.slot for m in layout.batch.values()})
        return [*words, self.history, self.ended, self.held, self.predecessors]

    def entries(self, length: int) -> list[int]:
        """The slots of the first ``length`` status changes (an array's elements lie from ``keccak256(slot)``)."""
        layout = certificate_layout()
        first = int.from_bytes(keccak(self.history.to_bytes(32, "big")), "big")
        return [first + i * layout.change_words + w for i in range(length) for w in range(layout.change_words)]

    def predecessor_entries(self, count: int) -> list[int]:
        """The slots of the first ``count`` predecessors (root, then digest each)."""
        layout = certificate_layout()
        first = int.from_bytes(keccak(self.predecessors.to_bytes(32, "big")), "big")
        return [first + i * layout.predecessor_words + w for i in range(count) for w in range(layout.predecessor_words)]

    def all(self, length: int, count: int = 0) -> list[int]:
        return self.fixed() + self.entries(length) + self.predecessor_entries(count)


def certificate_slots(department_id: bytes, root: bytes, digest: bytes) -> CertificateSlots:
    layout = certificate_layout()
    return CertificateSlots(
        mapped(mapped(layout.batches, department_id), root),
        mapped(mapped(mapped(layout.history, department_id), root), digest),
        mapped(mapped(layout.ended, department_id), digest),
        mapped(mapped(layout.held, department_id), digest),
        mapped(mapped(mapped(layout.predecessors, department_id), root), digest),
    )


@dataclass(frozen=True, slots=True)
class BatchRecord:
    signer: str  # 0x + 40 lowercase hex digits
    block_number: int
    timestamp: int
    count: int
    schema: bytes


@dataclass(frozen=True, slots=True)
class ProvenCertificate:
    """What the certificate's proven slots say at the proven block."""

    batch: BatchRecord
    history: tuple[tuple[int, int, int, bytes], ...]  # (status code, block, timestamp, detail), oldest first
    ended: bytes  # the root under which the digest ended, 32 zero bytes while live
    held: bytes  # the root through which it was first suspended, 32 zero bytes while never
    predecessors: tuple[tuple[bytes, bytes], ...] = ()  # (root, digest) of each certificate it superseded, in order
    at: int = 0  # the block it is proven at: every change up to it is in ``history`` (0: not said)
    # the status history through ``held`` when that is another root than the certificate's (the same digest anchored
    # again and suspended through its first root), every change up to ``at``: None while not proven (a bundle
    # without ``witness.state.held_history``, or ``held`` naming no other root)
    held_history: tuple[tuple[int, int, int, bytes], ...] | None = None


@dataclass(frozen=True, slots=True)
class ProvenStanding:
    """What a bundle taking the trail path proves of a certificate's status at the cosigned block: the issuer's status
    events up to it, which hash to the status trail proven there, give its status history under its root and the root
    under which it first ended and the root every suspension of it is made through (each 32 zero bytes while none),
    as a :class:`ProvenCertificate` holds them (red team round 84: the ``status`` check holds the node's "now" to
    either)."""

    history: tuple[tuple[int, int, int, bytes], ...]  # (status code, block, timestamp (0: not read), detail)
    ended: bytes
    held: bytes
    at: int  # the cosigned block: every change up to it is in ``history``
    # the changes through ``held`` up to ``at`` when it is another root (the proven events hold them too), else None
    held_history: tuple[tuple[int, int, int, bytes], ...] | None = None


def history_length(words: Mapping[int, int], slots: CertificateSlots) -> int:
    return words[slots.history]


def predecessor_count(words: Mapping[int, int], slots: CertificateSlots) -> int:
    return words[slots.predecessors]


def history_changes(words: Mapping[int, int], slots: CertificateSlots) -> tuple[tuple[int, int, int, bytes], ...]:
    """The status history (code, block, timestamp, detail), oldest first, from the proven ``words`` of its length and
    every entry it names."""
    layout = certificate_layout()
    c = layout.change
    return tuple(
        (
            c["status"].of(words, base),
            c["blockNumber"].of(words, base),
            c["timestamp"].of(words, base),
            c["detail"].of(words, base).to_bytes(32, "big"),
        )
        for base in slots.entries(history_length(words, slots))[:: layout.change_words]
    )


def proven_certificate(words: Mapping[int, int], slots: CertificateSlots) -> ProvenCertificate:
    """The certificate's batch record, status history, ended and held roots and predecessors from its proven storage
    ``words`` (every slot of :meth:`CertificateSlots.all` for the proven lengths)."""
    layout = certificate_layout()
    b = layout.batch
    batch = BatchRecord(
        "0x" + b["signer"].of(words, slots.batch).to_bytes(20, "big").hex(),
        b["blockNumber"].of(words, slots.batch),
        b["timestamp"].of(words, slots.batch),
        b["count"].of(words, slots.batch),
        b["schema"].of(words, slots.batch).to_bytes(32, "big"),
    )
    history = history_changes(words, slots)
    p = layout.predecessor
    predecessors = tuple(
        (p["root"].of(words, base).to_bytes(32, "big"), p["digest"].of(words, base).to_bytes(32, "big"))
        for base in slots.predecessor_entries(predecessor_count(words, slots))[:: layout.predecessor_words]
    )
    return ProvenCertificate(
        batch, history, words[slots.ended].to_bytes(32, "big"), words[slots.held].to_bytes(32, "big"), predecessors
    )


def verified_certificate(
    block: Any, answer: Any, address: str, slots: CertificateSlots, block_hash: bytes, number: int
) -> ProvenCertificate:
    """The certificate of ``slots`` as the header ``block`` and the ``eth_getProof`` answer ``answer`` prove it in
    block ``number`` of hash ``block_hash``: its fixed slots first, then as many status changes and predecessors as
    the proven lengths name (a ChainError when the proof lacks one, or they are past :data:`MAX_HISTORY`)."""
    from .stateproof import verified_words

    words = verified_words(block, answer, address, slots.fixed(), block_hash, number)
    length, count = history_length(words, slots), predecessor_count(words, slots)
    if length > MAX_HISTORY:
        raise ChainError(
            f"the certificate's proven status history has {length} changes, more than the {MAX_HISTORY} a state "
            "proof of it carries"
        )
    if length + count > MAX_HISTORY:
        raise ChainError(
            f"the certificate's proven status history and predecessors have {length + count} entries, more than the "
            f"{MAX_HISTORY} a state proof of it carries"
        )
    rest = slots.entries(length) + slots.predecessor_entries(count)
    if rest:
        words.update(verified_words(block, answer, address, rest, block_hash, number))
    return replace(proven_certificate(words, slots), at=number)


def verified_history(
    block: Any, answer: Any, address: str, slots: CertificateSlots, block_hash: bytes, number: int
) -> tuple[tuple[int, int, int, bytes], ...]:
    """The status history of ``slots`` (its length, then as many changes as it names) as the header ``block`` and the
    ``eth_getProof`` answer ``answer`` prove it in block ``number`` of hash ``block_hash``: every change up to that
    block. A ChainError when the proof lacks a slot or the length is past :data:`MAX_HISTORY` (the bound of the
    certificate's own history: docs/evidence.md, ``witness.state.held_history``)."""
    from .stateproof import verified_words

    words = verified_words(block, answer, address, [slots.history], block_hash, number)
    length = history_length(words, slots)
    if length > MAX_HISTORY:
        raise ChainError(
            f"the proven status history through the held root has {length} changes, more than the {MAX_HISTORY} a "
            "state proof of it carries"
        )
    if length:
        words.update(verified_words(block, answer, address, slots.entries(length), block_hash, number))
    return history_changes(words, slots)
