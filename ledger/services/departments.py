"""Departments and the governing council: registering, rotating keys, suspending, listing.

Every change is a council proposal that executes on the M-th approval, on chain (each member's side is in
``ledger.services.council``). Listing reads the registry
contract: each department's roles, status, the certificate types it may issue and full key, status and type
history (what verifiers rely on to say that a key was an active issuer's, authorized for a type, at a given block).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount

from ..client import (
    COUNCIL_KEYS,
    DEMO_MEMBER_KEY,
    Ledger,
    demo_member_keystore,
    demo_member_passphrase,
    department_key_name,
)
from ..errors import ChainError, NotFoundError, StateError
from ..onchain.chain import Chain, HeadMovedError, department_code, department_id_bytes, role_names
from .council import ZERO_ADDRESS, Action, CouncilMember, ProposalState, item_list, proposal_state, type_list

__all__ = [
    "Action",
    "Council",
    "Department",
    "ItemPeriod",
    "TypePeriod",
    "get_department",
    "list_departments",
    "promote_rotated_key",
    "registry_record",
]


@dataclass(frozen=True)
class KeyPeriod:
    signer: str
    from_block: int
    to_block: int | None  # None: still the department's key


@dataclass(frozen=True)
class StatusPeriod:
    active: bool
    roles: list[str]
    from_block: int


@dataclass(frozen=True)
class TypePeriod:
    certificate_type: str
    from_block: int
    until_block: int | None  # None: still held


@dataclass(frozen=True)
class ItemPeriod:
    service_item: str  # the code as granted (the registry's serviceItemName), or the bytes32's hex without one
    from_block: int
    until_block: int | None  # None: still held


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    signer: str
    roles: list[str]
    active: bool
    registered_block: int
    keys: list[KeyPeriod]
    statuses: list[StatusPeriod]
    type_history: list[TypePeriod] = field(default_factory=list)
    item_history: list[ItemPeriod] = field(default_factory=list)

    @property
    def types(self) -> list[str]:
        """The certificate types the department may issue now, sorted."""
        return sorted({t.certificate_type for t in self.type_history if t.until_block is None})

    @property
    def items(self) -> list[str]:
        """The service items the department may decide on now (publish rule sets for), sorted; "*" is every item."""
        return sorted({t.service_item for t in self.item_history if t.until_block is None})

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.code,
            "name": self.name,
            "signer": self.signer,
            "roles": self.roles,
            "active": self.active,
            "registered_block": self.registered_block,
            "keys": [k.__dict__ for k in self.keys],
            "statuses": [s.__dict__ for s in self.statuses],
            "types": self.types,
            "type_history": [t.__dict__ for t in self.type_history],
            "items": self.items,
            "item_history": [t.__dict__ for t in self.item_history],
        }


def get_department(chain: Chain, code: str) -> Department:
    """``code``'s registry record with its key, status, type and service item histories: read in one JSON-RPC batch
    (an evidence bundle, `ledger departments show`), then its types' and items' names in another; NotFoundError when
    it is not registered (the record's revert is read first, as :meth:`Chain.call` names it)."""
    dept_id = department_id_bytes(code)
    registry = chain.registry.functions
    try:
        d, keys, statuses, periods, items = chain.call_many(
            [
                registry.department(dept_id),
                registry.keyHistory(dept_id),
                registry.statusHistory(dept_id),
                registry.typeHistory(dept_id),
                registry.serviceItemHistory(dept_id),
            ]
        )
    except ChainError as exc:
        if exc.error_name == "RegistryUnknownDepartment":
            raise NotFoundError(f"department {code!r} is not registered; `ledger departments` lists them") from None
        raise
    return _department(d, keys, statuses, periods, _names(chain, periods, items, "latest"), items)


def _names(chain: Chain, types: Any, items: Any, block: int | str) -> dict[tuple[str, bytes], str]:
    """The names of the certificate types (by keccak256 hash) and service items (by bytes32) of these periods, read in
    one batch: the registry's ``certificateTypeName`` and ``serviceItemName``, keyed ("type", hash) and ("item",
    bytes32)."""
    fns = chain.registry.functions
    hashes = sorted({bytes(p[0]) for p in types})
    codes = sorted({bytes(p[0]) for p in items})
    calls = [fns.certificateTypeName(h) for h in hashes] + [fns.serviceItemName(c) for c in codes]
    names = chain.call_many(calls, block) if calls else []
    found = {("type", h): str(n) for h, n in zip(hashes, names[: len(hashes)], strict=True)}
    found.update({("item", c): str(n) for c, n in zip(codes, names[len(hashes) :], strict=True)})
    return found


def registry_record(d: Any) -> Department:
    """The registry's ``department(code)`` answer by name, without the histories :func:`get_department` reads too
    (one call where it makes four)."""
    return _department(d, (), ())


def _department(
    d: Any,
    key_history: Any,
    status_history: Any,
    type_history: Any = (),
    names: dict[tuple[str, bytes], str] | None = None,
    item_history: Any = (),
) -> Department:
    keys = [KeyPeriod(k[0], int(k[1]), int(k[2]) or None) for k in key_history]
    statuses = [StatusPeriod(bool(s[0]), role_names(int(s[1])), int(s[2])) for s in status_history]
    return Department(
        code=department_code(d[0]),
        name=d[1],
        signer=d[2],
        roles=role_names(int(d[3])),
        active=bool(d[4]),
        registered_block=int(d[5]),
        keys=keys,
        statuses=statuses,
        type_history=[
            TypePeriod((names or {}).get(("type", bytes(t[0])), "0x" + bytes(t[0]).hex()), int(t[1]), int(t[2]) or None)
            for t in type_history
        ],
        item_history=[
            ItemPeriod((names or {}).get(("item", bytes(t[0])), "0x" + bytes(t[0]).hex()), int(t[1]), int(t[2]) or None)
            for t in item_history
        ],
    )


# Listings at one head before one at ``latest`` (list_departments): each a block can interrupt on the embedded node.
LISTING_ATTEMPTS = 3


def list_departments(chain: Chain) -> list[Department]:
    """Every registered department, read at one block in one batch (three calls per department would make the
    listing cost grow with the registry: seconds for some hundreds of departments). On a node keeping the state of
    its head only (the embedded node keeps node.STATE_HISTORY below it), when a block is mined during the reads,
    they are made again at the new head. A listing that a block interrupts every time (hundreds of departments read
    call by call from a node that serves no batches, a block a second) is then read at ``latest``: each call is
    answered at the head when it is read, so the departments are as of blocks between the listing's start and end
    (the newest change of one mined meanwhile may be missing), never older."""
    for _ in range(LISTING_ATTEMPTS):
        try:
            return _departments_at(chain, chain.block_number())
        except HeadMovedError:
            continue
    return _departments_at(chain, "latest")


def _departments_at(chain: Chain, head: int | str) -> list[Department]:
    registry = chain.registry.functions
    ids = chain.call(registry.departmentIds(), head)
    reads = (
        registry.department,
        registry.keyHistory,
        registry.statusHistory,
        registry.typeHistory,
        registry.serviceItemHistory,
    )
    calls = [f(raw) for raw in ids for f in reads]
    values = chain.call_many(calls, head)
    n = len(reads)
    types = [p for i in range(3, len(values), n) for p in values[i]]
    items = [p for i in range(4, len(values), n) for p in values[i]]
    names = _names(chain, types, items, head)
    return [
        _department(values[i], values[i + 1], values[i + 2], values[i + 3], names, values[i + 4])
        for i in range(0, len(values), n)
    ]


def promote_rotated_key(ledger: Ledger, code: str) -> bool:
    """Once a rotation to the key ``dept-CODE.next`` has executed, make it the department's key ``dept-CODE``
    here (the old file is kept, renamed, for the record). True when a key was promoted."""
    keystore = ledger.keystore
    key = department_key_name(code)
    new_name = f"{key}.next"
    if not keystore.exists(new_name):
        return False
    current = ledger.chain.call(ledger.chain.registry.functions.department(department_id_bytes(code)))[2]
    if current != keystore.address(new_name):
        return False
    if keystore.exists(key):
        keystore.rename(key, f"{key}.retired-{keystore.address(key)[2:10].lower()}")
    keystore.rename(new_name, key)
    ledger._accounts.pop(key, None)
    ledger._accounts.pop(new_name, None)
    return True


def demo_council_accounts(ledger: Ledger) -> list[LocalAccount]:
    """The embedded demo council's three members, each unlocked from its own keystore with its own passphrase."""
    accounts = []
    for index in (1, 2, 3):
        cache_key = f"{COUNCIL_KEYS[index - 1]}/{DEMO_MEMBER_KEY}"
        with ledger._guard:
            if cache_key not in ledger._accounts:
                keystore = demo_member_keystore(ledger.settings, index)
                ledger._accounts[cache_key] = keystore.unlock(
                    DEMO_MEMBER_KEY, demo_member_passphrase(index, ledger.settings)
                )
            accounts.append(ledger._accounts[cache_key])
    return accounts


class Council:
    """Several members' votes cast from one process: a convenience for tests, benchmarks and the demo.

    Each member is an account unlocked from its own keystore with its own passphrase (``members``); by default
    the embedded demo council's three members (``keys/council-N``, ``LEDGER_DEMO_COUNCIL_PASSPHRASE_N``). A real
    council never does this: each member runs ``ledger council`` with their own key (ledger.services.council).
    """

    def __init__(self, ledger: Ledger, members: Sequence[LocalAccount] | None = None) -> None:
        self.ledger = ledger
        self.members = [CouncilMember(ledger.chain, a) for a in (members or demo_council_accounts(ledger))]

    def decide(
        self, action: Action, code: str | None, *, name: str = "", signer: str = ZERO_ADDRESS, roles: int = 0
    ) -> int:
        """Propose with the first member and approve with the next ones until the proposal executes.

        Whether a vote executed the proposal is read from that vote's receipt (``ProposalExecuted``), not asked of
        the chain again after each vote. When another approval executed the proposal meanwhile (a member voting
        elsewhere), the next vote is refused by the chain, whose state then says executed: the proposal is
        returned, as when the state was read after every vote."""
        chain = self.ledger.chain
        first, *others = self.members
        proposal_id, executed = first._propose(action, code, name=name, signer=signer, roles=roles)
        if executed:
            return proposal_id
        # every vote names the content just proposed (read once): a chain rewritten meanwhile refuses it
        expected = bytes(chain.call(chain.registry.functions.proposalHash(proposal_id)))
        for member in others:
            try:
                executed = member._vote(proposal_id, expected)
            except ChainError:
                if proposal_state(chain, proposal_id) is ProposalState.EXECUTED:
                    return proposal_id
                raise
            if executed:
                return proposal_id
        if proposal_state(chain, proposal_id) is ProposalState.EXECUTED:
            return proposal_id
        raise StateError(
            f"proposal {proposal_id} did not reach the council threshold with members "
            f"{[m.address for m in self.members]}"
        )

    # -- the actions -------------------------------------------------------------------------------------
    def register(
        self,
        code: str,
        name: str,
        roles: int,
        *,
        signer: str | None = None,
        types: Sequence[str] = (),
        items: Sequence[str] = (),
    ) -> str:
        """Register a department and grant it the certificate ``types`` it may issue (a second proposal, one for all
        of them) and the service ``items`` it may decide on (a third, one for all of them); without ``signer`` a new key
        ``dept-CODE`` is created in the keystore."""
        if types:
            type_list(types)  # refused before the department exists, not half-way
        if items:
            item_list(items)
        if signer is None:
            key = department_key_name(code)
            signer = (
                self.ledger.keystore.address(key)
                if self.ledger.keystore.exists(key)
                else self.ledger.keystore.create(key, self.ledger.passphrase())
            )
        self.decide(Action.REGISTER, code, name=name, signer=signer, roles=roles)
        if types:
            self.grant_types(code, types)
        if items:
            self.grant_items(code, items)
        return signer

    def grant_types(self, code: str, types: Sequence[str]) -> None:
        """Authorize department ``code`` to issue certificates of each of ``types`` from now on (one proposal)."""
        self.decide(Action.GRANT_TYPE, code, name=type_list(types))

    def revoke_types(self, code: str, types: Sequence[str]) -> None:
        """Stop department ``code`` issuing each of ``types`` (one proposal); what it anchored before stays
        authorized."""
        self.decide(Action.REVOKE_TYPE, code, name=type_list(types))

    def grant_items(self, code: str, items: Sequence[str]) -> None:
        """Authorize department ``code`` to publish rule sets for, and so decide on, each of service ``items`` from the
        next block (one proposal; "*" is every item, a grant of its own)."""
        self.decide(Action.GRANT_SERVICE_ITEM, code, name=item_list(items))

    def revoke_items(self, code: str, items: Sequence[str]) -> None:
        """Stop department ``code`` publishing rule sets for each of service ``items`` (one proposal); what it
        published before stays authorized, and so do the decisions taken with it."""
        self.decide(Action.REVOKE_SERVICE_ITEM, code, name=item_list(items))

    def rotate_key(self, code: str) -> str:
        """Give department ``code`` a new key; the old keystore file is kept, renamed, for the record."""
        keystore = self.ledger.keystore
        new_name = f"{department_key_name(code)}.next"
        new_signer = (
            keystore.address(new_name)
            if keystore.exists(new_name)
            else keystore.create(new_name, self.ledger.passphrase())
        )
        self.decide(Action.ROTATE_KEY, code, signer=new_signer)
        promote_rotated_key(self.ledger, code)
        return new_signer

    def suspend(self, code: str) -> None:
        self.decide(Action.SUSPEND, code)

    def reinstate(self, code: str) -> None:
        self.decide(Action.REINSTATE, code)

    def set_roles(self, code: str, roles: int) -> None:
        self.decide(Action.SET_ROLES, code, roles=roles)
