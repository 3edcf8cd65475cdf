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
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ChainError
from .chainread import MAX_BLOCK_NUMBER
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


def require(department_id: bytes, got: Trail, contract: Trail, what: str) -> None:
    """Refuse ``got``, the trail recomputed from the events a node gave for ``what``, unless it is the contract's."""
    if got.agrees(contract):
        return
    raise ChainError(
        f"the node's status events of department {department_code(department_id)!r} ({what}) do not hash to the status trail "
        f"the contract keeps for it: {got.changes} events given, the contract counts {contract.changes} changes, the "
        f"last in block {contract.block}. The node left out, made up, moved or altered status events (or the chain "
        "changed while it was read: try again); do not trust this node's event logs"
    )


def require_all(got: Mapping[bytes, Trail], contract: Mapping[bytes, Trail], what: str) -> None:
    """Refuse the trails recomputed from the events of every department unless each is the contract's, and no
    department the contract does not list has any (:func:`require`)."""
    for dept in _every(got, contract):
        require(dept, got.get(dept, NONE), contract.get(dept, NONE), what)


def _every(*maps: Mapping[bytes, Trail]) -> Iterable[bytes]:
    seen: dict[bytes, None] = {}
    for found in maps:
        seen.update(dict.fromkeys(found))
    return seen
