"""DepartmentRegistry's history of a department (its keys, statuses, certificate types and service items) proven at a
witnessed block.

A certificate's ``department_key`` and ``type_authority`` checks ask the registry's views ``wasActiveSignerAt`` and
``wasAuthorizedForTypeAt``; without this they are the node's word, even at a block a quorum of witnesses cosigned. The
views read three arrays of the department (``_keyHistory``, ``_statusHistory``, ``_typeHistory``), which only grow
and whose periods, once past, never change for a block below the one they were read at: a period is closed at the
block of the change that ends it, and a grant starts at the block after the one that made it. So the arrays proven at
the witnessed block h answer every question about a block at or below h as the registry answers it at any later block.

The proof is EIP-1186's, as for the anchor contract's trails (:mod:`ledger.onchain.stateproof`): the registry's
account proof and its storage proofs against the state root of the block whose hash the witnesses cosigned. The slots
are the compiler's (``storageLayout`` in ledger/onchain/contracts.json): a dynamic array in a mapping keeps its length
at ``keccak(key . slot)`` and its elements from ``keccak(that slot)``, each element ``numberOfBytes / 32`` words, its
members at the offsets the compiler states. A length past :data:`MAX_PERIODS` is refused before any element is asked
for: the length is a proven word, but a word of the registry's storage all the same, and it bounds the work.

The fourth array, ``_itemHistory`` (the service items the council made the department responsible for, registry
2.6.0), is read alike but optional: a proof made before it was carried (its length slot absent) still proves the other
three, its items "not proven" (``RegistryHistory.items`` None); so is one whose item length is past
:data:`MAX_PERIODS`. An item's period is closed in place when the council revokes it (its ``untilBlock`` set to the
block after), which like a type's leaves every answer of a block at or below the proven one as it was.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.crypto import keccak

from ..errors import ChainError
from . import stateproof
from .ids import department_code

# The most periods of one kind this reader accepts of a department: a key rotation, a status change or a type grant is
# a council decision each, and a department's whole history is a few dozen. Past it, the history is not proven.
MAX_PERIODS = 256
# The most eth_getProof answers a kept file may hold for the registry (MAX_PROOF_SLOTS slots each).
MAX_KEPT_ANSWERS = 1024


@dataclass(frozen=True, slots=True)
class PeriodArray:
    """A ``mapping(bytes32 => Struct[])`` of the registry: the mapping's slot, each element's words and members."""

    label: str
    slot: int
    words: int
    members: Mapping[str, stateproof.Member]

    def length_slot(self, department_id: bytes) -> int:
        return int.from_bytes(keccak(department_id + self.slot.to_bytes(32, "big")), "big")

    def element_slot(self, department_id: bytes, index: int) -> int:
        start = int.from_bytes(keccak(self.length_slot(department_id).to_bytes(32, "big")), "big")
        return (start + index * self.words) % (1 << 256)

    def slots(self, department_id: bytes, length: int) -> list[int]:
        """The storage slots of the array's first ``length`` elements, every word of each."""
        return [self.element_slot(department_id, i) + w for i in range(length) for w in range(self.words)]

    def elements(self, words: Mapping[int, int], department_id: bytes, length: int) -> list[dict[str, int]]:
        return [
            {name: m.of(words, self.element_slot(department_id, i)) for name, m in self.members.items()}
            for i in range(length)
        ]


@dataclass(frozen=True, slots=True)
class RegistryLayout:
    """Where DepartmentRegistry keeps a department's key, status, type and service item periods, from the compiler's
    layout (``arrays``: the three every registry proof proves; ``items`` is optional to a reader)."""

    keys: PeriodArray
    statuses: PeriodArray
    types: PeriodArray
    items: PeriodArray

    @classmethod
    def from_layout(cls, layout: Mapping[str, Any]) -> RegistryLayout:
        variables = {v["label"]: v for v in layout["storage"]}
        types = layout["types"]

        def array(label: str, wanted: Sequence[str]) -> PeriodArray:
            mapping = types[variables[label]["type"]]
            if mapping["encoding"] != "mapping" or types[mapping["key"]]["numberOfBytes"] != "32":
                raise ValueError(f"{label} is no mapping of a 32-byte key")
            dynamic = types[mapping["value"]]
            if dynamic["encoding"] != "dynamic_array":
                raise ValueError(f"{label} maps to no dynamic array")
            struct = types[dynamic["base"]]
            members = stateproof.layout_members(types, dynamic["base"])
            if sorted(members) != sorted(wanted):
                raise ValueError(f"{label}'s periods have members {sorted(members)}, not {sorted(wanted)}")
            size = int(struct["numberOfBytes"])
            if size % 32 or not 0 < size <= 32 * 4:
                raise ValueError(f"{label}'s periods are {size} bytes, no whole number of words")
            return PeriodArray(label, int(variables[label]["slot"]), size // 32, members)

        return cls(
            array("_keyHistory", ("signer", "fromBlock", "toBlock")),
            array("_statusHistory", ("active", "roles", "fromBlock")),
            array("_typeHistory", ("typeHash", "fromBlock", "untilBlock")),
            array("_itemHistory", ("serviceItem", "fromBlock", "untilBlock")),
        )

    @property
    def arrays(self) -> tuple[PeriodArray, PeriodArray, PeriodArray]:
        return self.keys, self.statuses, self.types


@functools.cache
def registry_layout() -> RegistryLayout:
    """DepartmentRegistry's storage layout as the slots read it (once a process)."""
    return stateproof.shipped_layout("DepartmentRegistry", RegistryLayout.from_layout)


# -- a department's history ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyPeriod:
    signer: str  # 0x and 40 lower-case hex digits
    from_block: int
    to_block: int  # 0: still the department's key


@dataclass(frozen=True, slots=True)
class StatusPeriod:
    active: bool
    roles: int
    from_block: int


@dataclass(frozen=True, slots=True)
class TypePeriod:
    type_hash: bytes
    from_block: int
    until_block: int  # 0: still held


@dataclass(frozen=True, slots=True)
class ItemPeriod:
    service_item: bytes
    from_block: int
    until_block: int  # 0: still held


@dataclass(frozen=True, slots=True)
class RegistryHistory:
    """A department's periods as the registry's storage holds them at one block; answers the registry's views.
    ``items`` None: the service item periods are not proven (a proof made before it carried them)."""

    keys: tuple[KeyPeriod, ...]
    statuses: tuple[StatusPeriod, ...]
    types: tuple[TypePeriod, ...]
    items: tuple[ItemPeriod, ...] | None = None

    def held_item_at(self, item: bytes, block: int) -> bool:
        """``heldServiceItemAt(department, item, block)`` (DepartmentRegistry.sol) of the proven item periods (False
        when they are not proven: ask :attr:`items` first)."""
        return any(
            p.service_item == item and p.from_block <= block and (p.until_block == 0 or block < p.until_block)
            for p in self.items or ()
        )

    def key_period(self, signer: str) -> KeyPeriod | None:
        """The period of ``signer`` among the department's keys (a key is one department's, once), or None."""
        wanted = signer.lower()
        return next((k for k in self.keys if k.signer == wanted), None)

    def status_at(self, block: int) -> StatusPeriod | None:
        """The status in force at ``block``: the last period starting at or before it (None: not registered yet)."""
        return next((s for s in reversed(self.statuses) if s.from_block <= block), None)

    def was_active_signer_at(self, signer: str, role: int, block: int) -> bool:
        """``wasActiveSignerAt(signer, role, block)`` for a signer of this department (DepartmentRegistry.sol)."""
        key = self.key_period(signer)
        if key is None or not (key.from_block <= block and (key.to_block == 0 or block < key.to_block)):
            return False
        status = self.status_at(block)
        return status is not None and status.active and status.roles & role == role

    def could_act_in(self, signer: str, role: int, block: int) -> bool:
        """:func:`ledger.services.verify.could_act_in`'s question: an active key of ``role`` after ``block - 1`` or
        after ``block``."""
        return self.was_active_signer_at(signer, role, block) or (
            block > 0 and self.was_active_signer_at(signer, role, block - 1)
        )

    def key_and_standing(self, issuer: str, signer: str, block: int) -> str:
        """What these periods say of ``signer`` and of department ``issuer`` at ``block``, in words (the detail of a
        verifier holding a node's ``wasActiveSignerAt`` answer to them)."""
        period = self.key_period(signer)
        held = (
            f"key {signer.lower()} is none of {issuer!r}'s keys"
            if period is None
            else f"key {signer.lower()} is {issuer!r}'s from block {period.from_block}"
            + (f" to block {period.to_block}" if period.to_block else " on")
        )
        status = self.status_at(block)
        stands = (
            "the department was not registered"
            if status is None
            else f"the department was {'active' if status.active else 'suspended'} with roles {status.roles}"
        )
        return f"{held}; {stands} at block {block}"

    def was_authorized_for_type_at(self, type_hash: bytes, block: int) -> bool:
        """``wasAuthorizedForTypeAt(department, type_hash, block)`` (DepartmentRegistry.sol)."""
        return any(
            t.type_hash == type_hash and t.from_block <= block and (t.until_block == 0 or block < t.until_block)
            for t in self.types
        )


def length_slots(department_id: bytes) -> list[int]:
    """The slots of the lengths of department ``department_id``'s key, status and type periods."""
    return [array.length_slot(department_id) for array in registry_layout().arrays]


def lengths(words: Mapping[int, int], department_id: bytes) -> tuple[int, int, int]:
    """The proven lengths of the department's three arrays; a ChainError for one past :data:`MAX_PERIODS`."""
    found = []
    for array in registry_layout().arrays:
        length = words[array.length_slot(department_id)]
        if length > MAX_PERIODS:
            raise ChainError(
                f"the registry's state holds {length} {array.label} periods of department "
                f"{department_code(department_id)!r}, more than the {MAX_PERIODS} this verifier reads: its history "
                "is not proven"
            )
        found.append(length)
    return found[0], found[1], found[2]


def period_slots(department_id: bytes, counts: tuple[int, int, int]) -> list[int]:
    """The slots of every period of the department, ``counts`` of each kind (:func:`lengths`)."""
    return [
        slot
        for array, count in zip(registry_layout().arrays, counts, strict=True)
        for slot in array.slots(department_id, count)
    ]


def item_slots(words: Mapping[int, int], department_id: bytes) -> list[int]:
    """The slots of department ``department_id``'s service item periods that proven ``words`` name: the length's,
    then (when it is proven and within :data:`MAX_PERIODS`) every period's words."""
    array = registry_layout().items
    at = array.length_slot(department_id)
    if at not in words or words[at] > MAX_PERIODS:
        return [at]
    return [at, *array.slots(department_id, words[at])]


def items_from(words: Mapping[int, int], department_id: bytes) -> tuple[ItemPeriod, ...] | None:
    """Department ``department_id``'s service item periods from proven storage ``words``, or None when they are not
    proven: a slot of them missing, or their length past :data:`MAX_PERIODS`."""
    array = registry_layout().items
    at = array.length_slot(department_id)
    if at not in words or words[at] > MAX_PERIODS:
        return None
    if any(slot not in words for slot in array.slots(department_id, words[at])):
        return None
    return tuple(
        ItemPeriod(i["serviceItem"].to_bytes(32, "big"), i["fromBlock"], i["untilBlock"])
        for i in array.elements(words, department_id, words[at])
    )


def history_from(words: Mapping[int, int], department_id: bytes) -> RegistryHistory | None:
    """Department ``department_id``'s history from proven storage ``words``, or None when ``words`` lack one of its
    key, status or type slots (a ChainError for one of those arrays past :data:`MAX_PERIODS`); its items None when
    they are not proven (:func:`items_from`)."""
    if any(slot not in words for slot in length_slots(department_id)):
        return None
    counts = lengths(words, department_id)
    if any(slot not in words for slot in period_slots(department_id, counts)):
        return None
    layout = registry_layout()
    keys = layout.keys.elements(words, department_id, counts[0])
    statuses = layout.statuses.elements(words, department_id, counts[1])
    types = layout.types.elements(words, department_id, counts[2])
    return RegistryHistory(
        tuple(KeyPeriod("0x" + k["signer"].to_bytes(20, "big").hex(), k["fromBlock"], k["toBlock"]) for k in keys),
        tuple(StatusPeriod(s["active"] != 0, s["roles"], s["fromBlock"]) for s in statuses),
        tuple(TypePeriod(t["typeHash"].to_bytes(32, "big"), t["fromBlock"], t["untilBlock"]) for t in types),
        items_from(words, department_id),
    )


# -- reading it from a node, or from kept proofs ---------------------------------------------------------------------


def _chunks(slots: Sequence[int]) -> Iterable[list[int]]:
    for i in range(0, len(slots), stateproof.MAX_PROOF_SLOTS):
        yield list(slots[i : i + stateproof.MAX_PROOF_SLOTS])


def fetch_histories(
    w3: Any, registry: str, block_hash: bytes, number: int, department_ids: Sequence[bytes]
) -> tuple[Any, list[Any], dict[int, int], list[bytes]]:
    """The node's proofs of the histories of ``department_ids`` in block ``number`` of hash ``block_hash``, each
    checked against that hash: (its header, its ``eth_getProof`` answers, the words they prove, the departments whose
    history lies past :data:`MAX_PERIODS`, whose periods are not asked for). Two rounds: every length, then every
    period (at most ``MAX_PROOF_SLOTS`` slots an answer). Service item periods past :data:`MAX_PERIODS` are not asked
    for either, the department's other periods all the same (its items are then not proven)."""
    block: Any = None
    answers: list[Any] = []
    words: dict[int, int] = {}

    def prove(slots: Sequence[int]) -> None:
        nonlocal block
        for chunk in _chunks(slots):
            block, answer, proven = stateproof.fetch_verified(w3, registry, chunk, block_hash, number)
            answers.append(answer)
            words.update(proven)

    items = registry_layout().items
    prove([slot for dept in department_ids for slot in [*length_slots(dept), items.length_slot(dept)]])
    wanted: list[int] = []
    too_long: list[bytes] = []
    for dept in department_ids:
        try:
            wanted += period_slots(dept, lengths(words, dept))
        except ChainError:
            too_long.append(dept)
            continue
        wanted += item_slots(words, dept)[1:]
    prove(wanted)
    return block, answers, words, too_long


def proven_history(w3: Any, registry: str, block_hash: bytes, number: int, department_id: bytes) -> RegistryHistory:
    """Department ``department_id``'s history in block ``number`` of hash ``block_hash``, proven from the block's
    header (a header read and an ``eth_getProof`` per 64 slots, its lengths first)."""
    _, _, words, _ = fetch_histories(w3, registry, block_hash, number, [department_id])
    history = history_from(words, department_id)
    if history is None:  # not reached: every slot was asked for and proven, or a ChainError raised
        raise ChainError(f"the node's proofs leave department {department_code(department_id)!r}'s history unproven")
    return history


def packed(answers: Sequence[Any]) -> dict[str, Any]:
    """The ``eth_getProof`` answers of the registry as a kept file holds them: each trie node once (``nodes``), each
    answer's account and storage proofs as indices into them (the upper nodes of the storage trie and the account
    proof are the same in every proof: kept whole, a department's dozen slots cost some 60 KB)."""
    nodes: dict[str, int] = {}

    def refs(proof: Sequence[str]) -> list[int]:
        return [nodes.setdefault(node.lower(), len(nodes)) for node in proof]

    kept = [
        {
            "accountProof": refs(answer["accountProof"]),
            "storageProof": [{"key": e["key"], "proof": refs(e["proof"])} for e in answer["storageProof"]],
        }
        for answer in answers
    ]
    return {"nodes": list(nodes), "proofs": kept}


def unpacked(section: Any) -> list[Any]:
    """The answers :func:`packed` kept, as ``eth_getProof`` answered them (none for a section of another shape; each
    answer is checked against the witnessed hash all the same)."""
    nodes = section.get("nodes") if isinstance(section, Mapping) else None
    proofs = section.get("proofs") if isinstance(section, Mapping) else None
    if type(nodes) is not list or type(proofs) is not list or len(nodes) > MAX_KEPT_ANSWERS * 4 * 65:
        return []

    def whole(refs: Any) -> list[Any]:
        if type(refs) is not list or len(refs) > stateproof.MAX_PROOF_NODES:
            return []
        return [nodes[i] if type(i) is int and 0 <= i < len(nodes) else None for i in refs]

    out = []
    for answer in proofs[:MAX_KEPT_ANSWERS]:
        entries = answer.get("storageProof") if isinstance(answer, Mapping) else None
        if type(entries) is not list:
            continue
        out.append(
            {
                "accountProof": whole(answer.get("accountProof")),
                "storageProof": [
                    {"key": e.get("key"), "proof": whole(e.get("proof"))} if isinstance(e, Mapping) else None
                    for e in entries
                ],
            }
        )
    return out


def kept_words(block: Any, answers: Any, registry: str, block_hash: bytes, number: int) -> dict[int, int]:
    """Every registry word the kept ``answers`` (``eth_getProof`` answers of ``registry``, with the block's header
    ``block``) prove at block ``number`` of hash ``block_hash``; an answer that does not prove it is skipped (the file
    is not trusted: nothing it holds counts unless it hashes up to the witnessed block)."""
    words: dict[int, int] = {}
    if type(answers) is not list:
        return words
    for answer in answers[:MAX_KEPT_ANSWERS]:
        entries = answer.get("storageProof") if isinstance(answer, Mapping) else None
        if type(entries) is not list or not 0 < len(entries) <= stateproof.MAX_PROOF_SLOTS:
            continue
        keys = [e.get("key") if isinstance(e, Mapping) else None for e in entries]
        try:  # verified_words refuses a key that is not 0x and hex digits (int() reads more)
            slots = [int(k, 16) if type(k) is str and len(k) <= 66 else -1 for k in keys]
            words.update(stateproof.verified_words(block, answer, registry, slots, block_hash, number))
        except (ChainError, ValueError):
            continue
    return words


# -- in an evidence bundle (docs/evidence.md, "The registry's state at the cosigned block") --------------------------

# The most eth_getProof answers a bundle's registry section may hold: the lengths', then every period's, MAX_PROOF_SLOTS
# a answer (4 + MAX_PERIODS * 7 slots at most: 29 answers)
MAX_BUNDLE_ANSWERS = 32


def department_slots(words: Mapping[int, int], department_id: bytes) -> list[int]:
    """Every slot of department ``department_id``'s history that proven ``words`` name: its three lengths, then (when
    they are proven and within :data:`MAX_PERIODS`) every period's words; then its service items'
    (:func:`item_slots`)."""
    slots = length_slots(department_id)
    if all(slot in words for slot in slots):
        slots += period_slots(department_id, lengths(words, department_id))
    return slots + item_slots(words, department_id)


def bundle_section(answers: Sequence[Any], department_id: bytes, words: Mapping[int, int]) -> dict[str, Any]:
    """The ``witness.state.registry`` member of a bundle: the ``eth_getProof`` answers ``answers`` of the registry
    (which prove ``words``) cut to department ``department_id``'s slots, packed as a kept file packs them (each trie
    node once, :func:`packed`)."""
    wanted = {f"0x{slot:064x}" for slot in department_slots(words, department_id)}
    cut = []
    for answer in answers:
        storage = [e for e in answer["storageProof"] if _slot_text(e.get("key")) in wanted]
        if storage:
            cut.append({"accountProof": answer["accountProof"], "storageProof": storage})
    return packed(cut)


def _slot_text(key: Any) -> str | None:
    try:
        return f"0x{int(key, 16):064x}" if type(key) is str and len(key) <= 66 else None
    except ValueError:
        return None


def bundle_history(
    block: Any, section: Any, registry: str, block_hash: bytes, number: int, department_id: bytes
) -> RegistryHistory:
    """Department ``department_id``'s history as a bundle's registry section (:func:`bundle_section`) proves it in the
    block of hash ``block_hash`` with the bundle's header ``block``; a ChainError when any answer of it does not prove
    that block, or it leaves one of the department's slots unproven, or a length is past :data:`MAX_PERIODS` (no
    period of it is read then). Stricter than a kept file's reading: the bundle is the evidence, every part of it
    must hold. Only the service items' length may be absent (a section made before it carried them) or past
    :data:`MAX_PERIODS`: the history's items are then None, not proven."""
    nodes = section.get("nodes") if isinstance(section, Mapping) else None
    proofs = section.get("proofs") if isinstance(section, Mapping) else None
    if type(nodes) is not list or type(proofs) is not list or not 0 < len(proofs) <= MAX_BUNDLE_ANSWERS:
        raise ChainError(
            f"the registry proof is no object of trie nodes and at most {MAX_BUNDLE_ANSWERS} proofs referring to them"
        )

    def whole(refs: Any) -> list[Any]:
        if type(refs) is not list or len(refs) > stateproof.MAX_PROOF_NODES:
            raise ChainError(f"the registry proof holds a proof of more than {stateproof.MAX_PROOF_NODES} nodes")
        if any(type(i) is not int or not 0 <= i < len(nodes) for i in refs):
            raise ChainError("the registry proof refers to a trie node it does not hold")
        return [nodes[i] for i in refs]

    words: dict[int, int] = {}
    for answer in proofs:
        entries = answer.get("storageProof") if isinstance(answer, Mapping) else None
        if type(entries) is not list or not 0 < len(entries) <= stateproof.MAX_PROOF_SLOTS:
            raise ChainError(
                f"the registry proof holds a proof of no slot or of more than {stateproof.MAX_PROOF_SLOTS}"
            )
        slots = []
        for entry in entries:
            key = entry.get("key") if isinstance(entry, Mapping) else None
            slot = _slot_text(key)
            if slot is None:
                raise ChainError("the registry proof holds a storage proof of no slot")
            slots.append(int(slot, 16))
        unpacked_answer = {
            "accountProof": whole(answer.get("accountProof")),
            "storageProof": [{"key": e["key"], "proof": whole(e.get("proof"))} for e in entries],
        }
        words.update(stateproof.verified_words(block, unpacked_answer, registry, slots, block_hash, number))
    optional = registry_layout().items.length_slot(department_id)
    missing = [slot for slot in department_slots(words, department_id) if slot not in words and slot != optional]
    if missing:
        raise ChainError(
            f"the registry proof holds no proof of storage slot 0x{missing[0]:064x} of department "
            f"{department_code(department_id)!r}'s history ({len(missing)} of its slots unproven)"
        )
    history = history_from(words, department_id)
    if history is None:  # not reached: every slot is proven
        raise ChainError(f"the registry proof leaves department {department_code(department_id)!r}'s history unproven")
    return history
