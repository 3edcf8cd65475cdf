"""Status trails: what tells a department's whole status event stream from one a node left events out of.

A status is read without naming the certificate to the node (the herd read, the gateway's index, replay and
reconcile): from ``eth_getLogs``, every status event of a department or of the contract. Nothing in a list of
events says whether it is whole, so a node that left a revocation out of its answer was believed (red team round
68). Since CertificateAnchor 4.1.0 the contract keeps, per department, the running hash of its status changes in
the order it made them (``statusTrail``, docs/format.md §8)::

    trail_0 = 32 zero bytes
    trail_n = SHA-256(trail_{n-1} || uint8 status || digest || root || uint32 block || event data)

with the new status code (0 valid, 1 suspended, 2 revoked, 3 superseded), the certificate's digest and root as the
event's topics name them, the event's block (4 bytes, big-endian) and the event's ABI data as the log carries it
(the reason code as one word, or a supersession's successor digest and root). A reader recomputes it from the events
it got and compares it, and the number of changes, with the contract's at the latest block: an event left out, made
up, moved to another block, put out of order or altered changes it.

The contract's value is read before the events and at the latest block: it names the block of the department's last
change, and the events are read up to that block if it is past the head being read to (a node keeps the state of
recent blocks only, so the value is never asked for at an older block). A node that lies about the contract's state
as well as its logs is out of reach here, as it is for the direct lookup (``statusOf``); with witnesses configured,
the ``witnessed`` check proves the trail at the cosigned block from the state root (:mod:`ledger.onchain.stateproof`,
EIP-1186) and holds the node's events up to that block to it.

Anchoring trails (CertificateAnchor 4.2.0) do the same for a department's ``BatchAnchored`` events: the running hash
of its anchorings in chain order (``anchoringTrail``, docs/format.md §8)::

    trail_n = SHA-256(trail_{n-1} || root || signer (20 bytes) || uint32 block || event data)

with the batch's root and anchoring key as the event's topics name them, the block, and the event's ABI data (its
count as one word, then its certificate type). A reader of a department's, or the contract's, batch events checks
them against it (:func:`batch_events`); the ``witnessed`` check proves it at the cosigned block and holds a batch
dated at or below that block to the events that hash to it (red team round 75: a node dated a batch anchored after
the latest checkpoint below it, and ``witnessed`` vouched for an anchoring no quorum had seen).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils.crypto import keccak

from ..errors import ChainError
from .chainread import MAX_BLOCK_NUMBER, scan_ranges
from .ids import department_code

if TYPE_CHECKING:
    from .chain import Chain

ZERO = bytes(32)


@dataclass(frozen=True, slots=True)
class Trail:
    """A department's status trail after ``changes`` status changes, the last in block ``block`` (0 with none)."""

    trail: bytes = ZERO
    block: int = 0
    changes: int = 0

    def then(self, status: int, digest: bytes, root: bytes, block: int, data: bytes) -> Trail:
        """The trail once the status event (``status``, ``digest``, ``root``, ``block``, ABI ``data``) is chained."""
        if not 0 <= block <= MAX_BLOCK_NUMBER:
            raise ChainError(f"the node answered a status event of block {block}, which no contract can record")
        link = hashlib.sha256(
            b"".join((self.trail, bytes((status,)), digest, root, block.to_bytes(4, "big"), data))
        ).digest()
        return Trail(link, block, self.changes + 1)

    def anchored(self, root: bytes, signer: bytes, block: int, data: bytes) -> Trail:
        """The anchoring trail once the batch event (``root``, ``signer``'s 20 bytes, ``block``, ABI ``data``: count
        and certificate type) is chained (``changes`` counts the batches)."""
        if not 0 <= block <= MAX_BLOCK_NUMBER:
            raise ChainError(f"the node answered a batch event of block {block}, which no contract can record")
        link = hashlib.sha256(b"".join((self.trail, root, signer, block.to_bytes(4, "big"), data))).digest()
        return Trail(link, block, self.changes + 1)

    def agrees(self, stated: Trail) -> bool:
        """Whether this trail, recomputed from events, is ``stated``, the contract's: hash, count and the block of the
        last change (a block stated past the real last change only made readers read further: red team round 72)."""
        return self.trail == stated.trail and self.changes == stated.changes and self.block == stated.block


NONE = Trail()


def chained(
    events: Iterable[tuple[tuple[bytes, bytes, bytes], int, int, bytes]],
    kept: Mapping[bytes, Trail] | None = None,
    final_upto: int = -1,
) -> tuple[dict[bytes, Trail], dict[bytes, Trail]]:
    """Each department's trail once ``events`` ((department, root, digest), status, block, ABI data; in chain
    order) are chained after its ``kept`` one, and its trail after those of them up to block ``final_upto`` (what a
    reader keeps to go on from at its next read)."""
    running, final = dict(kept or {}), dict(kept or {})
    for (dept, root, digest), status, block, data in events:
        running[dept] = running.get(dept, NONE).then(status, digest, root, block, data)
        if block <= final_upto:
            final[dept] = running[dept]
    return running, final


def from_answer(value: Any) -> Trail:
    """The trail from a decoded ``statusTrail`` answer (trail, block, changes)."""
    trail, block, changes = value
    return Trail(bytes(trail), int(block), int(changes))


def stated(chain: Chain, department_id: bytes) -> Trail:
    """Department ``department_id``'s status trail as the contract keeps it at the latest block."""
    return from_answer(chain.call(chain.anchor.functions.statusTrail(department_id)))


def stated_all(chain: Chain) -> dict[bytes, Trail]:
    """Every registered department's status trail as the contract keeps it at the latest block, in one call."""
    ids, trails = chain.call(chain.anchor.functions.statusTrails())
    if len(ids) != len(trails):
        raise ChainError("the node answered statusTrails with as many trails as departments: do not trust this node")
    return {bytes(dept): from_answer(value) for dept, value in zip(ids, trails, strict=True)}


def require(department_id: bytes, got: Trail, contract: Trail, what: str, *, batches: bool = False) -> None:
    """Refuse ``got``, the trail recomputed from the events a node gave for ``what``, unless it is the contract's
    (its anchoring trail with ``batches``, else its status trail)."""
    if got.agrees(contract):
        return
    if batches:
        raise ChainError(
            f"the node's batch events of department {department_code(department_id)!r} ({what}) do not hash to the "
            f"anchoring trail the contract keeps for it: {got.changes} events given, the contract counts "
            f"{contract.changes} batches, the last in block {contract.block}. The node left out, made up, moved or "
            "altered batch events (or the chain changed while it was read: try again); do not trust this node's "
            "event logs"
        )
    raise ChainError(
        f"the node's status events of department {department_code(department_id)!r} ({what}) do not hash to the status trail "
        f"the contract keeps for it: {got.changes} events given, the contract counts {contract.changes} changes, the "
        f"last in block {contract.block}. The node left out, made up, moved or altered status events (or the chain "
        "changed while it was read: try again); do not trust this node's event logs"
    )


def require_all(
    got: Mapping[bytes, Trail], contract: Mapping[bytes, Trail], what: str, *, batches: bool = False
) -> None:
    """Refuse the trails recomputed from the events of every department unless each is the contract's, and no
    department the contract does not list has any (:func:`require`)."""
    for dept in _every(got, contract):
        require(dept, got.get(dept, NONE), contract.get(dept, NONE), what, batches=batches)


def _every(*maps: Mapping[bytes, Trail]) -> Iterable[bytes]:
    seen: dict[bytes, None] = {}
    for found in maps:
        seen.update(dict.fromkeys(found))
    return seen


# -- anchoring trails (CertificateAnchor 4.2.0) ------------------------------------------------------------------

BATCH_ANCHORED_TOPIC = "0x" + keccak(text="BatchAnchored(bytes32,bytes32,address,uint32,bytes32)").hex()


@dataclass(frozen=True, slots=True)
class BatchEvent:
    """One ``BatchAnchored`` event as a node answered it (checked: the anchor contract's, of the department and
    blocks asked for): ``signer`` its 20 bytes, ``data`` its ABI data (count, certificate type)."""

    department_id: bytes
    root: bytes
    signer: bytes
    block: int
    log_index: int
    block_hash: str
    data: bytes

    @property
    def count(self) -> int:
        return int.from_bytes(self.data[:32], "big")

    @property
    def schema(self) -> bytes:
        return self.data[32:64]

    @property
    def signer_address(self) -> str:
        return "0x" + self.signer.hex()


def anchorings_chained(events: Iterable[BatchEvent], kept: Mapping[bytes, Trail] | None = None) -> dict[bytes, Trail]:
    """Each department's anchoring trail once ``events`` (in chain order) are chained after its ``kept`` one."""
    running = dict(kept or {})
    for event in events:
        running[event.department_id] = running.get(event.department_id, NONE).anchored(
            event.root, event.signer, event.block, event.data
        )
    return running


def stated_anchoring(chain: Chain, department_id: bytes) -> Trail:
    """Department ``department_id``'s anchoring trail as the contract keeps it at the latest block."""
    return from_answer(chain.call(chain.anchor.functions.anchoringTrail(department_id)))


def stated_anchorings(chain: Chain) -> dict[bytes, Trail]:
    """Every registered department's anchoring trail as the contract keeps it at the latest block, in one call."""
    ids, trails = chain.call(chain.anchor.functions.anchoringTrails())
    if len(ids) != len(trails):
        raise ChainError("the node answered anchoringTrails with as many trails as departments: do not trust this node")
    return {bytes(dept): from_answer(value) for dept, value in zip(ids, trails, strict=True)}


def read_batch_events(chain: Chain, start: int, end: int, department_id: bytes | None = None) -> list[BatchEvent]:
    """The ``BatchAnchored`` events of blocks [start, end] (of ``department_id`` when given), in chain order, as the
    node answers them (unchecked against any trail: :func:`batch_events` checks them). Read as raw JSON-RPC, and an
    event of another contract or department, outside the range, or malformed is the node lying (a ChainError)."""
    contract = chain.deployment.anchor.lower()
    dept_topic = None if department_id is None else "0x" + department_id.hex()
    what = "the batch events" + ("" if department_id is None else f" of {department_code(department_id)!r}")
    found: list[tuple[int, BatchEvent]] = []
    for low, high in scan_ranges(chain, what, max(start, int(chain.deployment.deployed_block)), end):
        topics: list[str | None] = (
            [BATCH_ANCHORED_TOPIC] if dept_topic is None else [BATCH_ANCHORED_TOPIC, None, dept_topic]
        )
        query = {"address": contract, "fromBlock": hex(low), "toBlock": hex(high), "topics": topics}
        try:
            answer = chain.w3.provider.make_request("eth_getLogs", [query])  # type: ignore[arg-type]
        except (OSError, ValueError) as exc:
            raise ChainError(f"could not read {what} of blocks {low}-{high}: {exc}") from exc
        if not isinstance(answer, Mapping) or answer.get("error") or not isinstance(answer.get("result"), list):
            error = answer.get("error") if isinstance(answer, Mapping) else None
            raise ChainError(f"could not read {what} of blocks {low}-{high}: {error or 'no list of events'}")
        try:
            for log in answer["result"]:
                names = [str(t).lower() for t in log["topics"]]
                number = int(log["blockNumber"], 16)
                data = bytes.fromhex(log["data"][2:])
                if (
                    log.get("removed")
                    or str(log["address"]).lower() != contract
                    or len(names) != 4
                    or names[0] != BATCH_ANCHORED_TOPIC
                    or (dept_topic is not None and names[2] != dept_topic)
                    or not low <= number <= high
                    or len(data) != 64
                    or names[3][:26] != "0x" + "00" * 12
                ):
                    raise ChainError(f"the node answered a query for {what} with an event it was not asked for")
                event = BatchEvent(
                    bytes.fromhex(names[2][2:]),
                    bytes.fromhex(names[1][2:]),
                    bytes.fromhex(names[3][26:]),
                    number,
                    int(log["logIndex"], 16),
                    str(log["blockHash"]).lower(),
                    data,
                )
                found.append((event.log_index, event))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ChainError(f"the node's answer for {what} of blocks {low}-{high} is malformed: {exc}") from exc
    found.sort(key=lambda item: (item[1].block, item[0]))
    return [event for _, event in found]


def registered_from(chain: Chain, department_id: bytes) -> int:
    """The block from which department ``department_id`` can have batch events: its registration (the start of its
    first status period in the registry), or the deployment's block for a department the registry does not know.
    A department's batch events are read from there, as the court's verifier reads them and ``ChainView`` reads a
    department's status and batch events (red team round 78: the library read them from the deployment, so a batch
    event a node made up before the registration failed a bundle in the library that the court verified)."""
    deployed = int(chain.deployment.deployed_block)
    try:
        periods = chain.call(chain.registry.functions.statusHistory(department_id))
    except ChainError as exc:
        if exc.error_name != "RegistryUnknownDepartment":
            raise
        return deployed
    return max(deployed, min((int(period[2]) for period in periods), default=deployed))


def batch_events(chain: Chain, *, department_id: bytes | None = None, what: str) -> list[BatchEvent]:
    """Every ``BatchAnchored`` event of the deployment (of ``department_id`` when given, from its registration:
    :func:`registered_from`), in chain order, checked against the anchoring trails the contract keeps at the latest
    block: the head read first, the trails then, the events then up to the later of that head and the last anchoring
    the trails name, and refused (a ChainError) unless each department's events hash to its trail. A node leaving a
    batch out, making one up, moving one to another block or altering one is caught; one lying about the contract's
    state as well is out of reach here (``witnessed`` proves it at a cosigned block). The head is read before the
    trails, as the court's verifier reads it: a batch anchored between the two reads is in the trail and read up to
    its block, one anchored after the trails lies past every block read (red team round 78: with the head read after
    them, such a batch was in the events and not the trail, and every reader refused an honest chain that the court's
    verifier passed)."""
    head = chain.block_number()
    if department_id is None:
        stated, start = stated_anchorings(chain), 0
    else:
        stated = {department_id: stated_anchoring(chain, department_id)}
        start = registered_from(chain, department_id)
    end = max([head, *(t.block for t in stated.values())])
    events = read_batch_events(chain, start, end, department_id)
    got = anchorings_chained(events)
    require_all(got, stated, f"{what}, blocks up to {end}", batches=True)
    return events
