"""Departments and the governing council: registering, rotating keys, suspending, listing.

Every change is a council proposal that executes on the M-th approval, on chain. Listing reads the registry
contract: each department's roles, status and full key and status history (what verifiers rely on to say that
a key was an active issuer's at a given block).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from web3.logs import DISCARD

from .chain import Chain, department_code, department_id_bytes, role_names
from .client import COUNCIL_KEYS, Ledger, department_key_name
from .errors import ChainError, NotFoundError, StateError

ZERO_ADDRESS = "0x" + "00" * 20


class Action(IntEnum):
    REGISTER = 0
    ROTATE_KEY = 1
    SUSPEND = 2
    REINSTATE = 3
    SET_ROLES = 4


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
class Department:
    code: str
    name: str
    signer: str
    roles: list[str]
    active: bool
    registered_block: int
    keys: list[KeyPeriod]
    statuses: list[StatusPeriod]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.code, "name": self.name, "signer": self.signer, "roles": self.roles,
            "active": self.active, "registered_block": self.registered_block,
            "keys": [k.__dict__ for k in self.keys], "statuses": [s.__dict__ for s in self.statuses],
        }


def get_department(chain: Chain, code: str) -> Department:
    dept_id = department_id_bytes(code)
    try:
        d = chain.call(chain.registry.functions.department(dept_id))
    except ChainError as exc:
        if exc.error_name == "RegistryUnknownDepartment":
            raise NotFoundError(f"department {code!r} is not registered; `ledger departments` lists them") from None
        raise
    keys = [KeyPeriod(k[0], int(k[1]), int(k[2]) or None)
            for k in chain.call(chain.registry.functions.keyHistory(dept_id))]
    statuses = [StatusPeriod(bool(s[0]), role_names(int(s[1])), int(s[2]))
                for s in chain.call(chain.registry.functions.statusHistory(dept_id))]
    return Department(code=department_code(d[0]), name=d[1], signer=d[2], roles=role_names(int(d[3])),
                      active=bool(d[4]), registered_block=int(d[5]), keys=keys, statuses=statuses)


def list_departments(chain: Chain) -> list[Department]:
    ids = chain.call(chain.registry.functions.departmentIds())
    return [get_department(chain, department_code(raw)) for raw in ids]


class Council:
    """Council votes, signed by the members' keys held in this ledger's keystore."""

    def __init__(self, ledger: Ledger, members: Sequence[str] = COUNCIL_KEYS) -> None:
        self.ledger = ledger
        self.members = list(members)

    def propose(self, member: str, action: Action, code: str, *, name: str = "",
                signer: str = ZERO_ADDRESS, roles: int = 0) -> int:
        chain = self.ledger.chain
        fn = chain.registry.functions.propose(int(action), department_id_bytes(code), name, signer, roles)
        receipt = chain.transact(self.ledger.account(member), fn)
        events = chain.registry.events.ProposalCreated().process_receipt(receipt, errors=DISCARD)
        return int(events[0]["args"]["proposalId"])

    def approve(self, member: str, proposal_id: int) -> bool:
        chain = self.ledger.chain
        chain.transact(self.ledger.account(member), chain.registry.functions.approve(proposal_id))
        return bool(chain.call(chain.registry.functions.proposal(proposal_id))[6])

    def decide(self, action: Action, code: str, *, name: str = "", signer: str = ZERO_ADDRESS,
               roles: int = 0) -> int:
        """Propose with the first member and approve with the next ones until the proposal executes."""
        first, *others = self.members
        proposal_id = self.propose(first, action, code, name=name, signer=signer, roles=roles)
        chain = self.ledger.chain
        if chain.call(chain.registry.functions.proposal(proposal_id))[6]:
            return proposal_id
        for member in others:
            if self.approve(member, proposal_id):
                return proposal_id
        raise StateError(f"proposal {proposal_id} did not reach the council threshold with members {self.members}")

    # -- the actions -------------------------------------------------------------------------------------
    def register(self, code: str, name: str, roles: int, *, signer: str | None = None) -> str:
        """Register a department; without ``signer`` a new key ``dept-CODE`` is created in the keystore."""
        if signer is None:
            key = department_key_name(code)
            signer = (self.ledger.keystore.address(key) if self.ledger.keystore.exists(key)
                      else self.ledger.keystore.create(key, self.ledger.passphrase()))
        self.decide(Action.REGISTER, code, name=name, signer=signer, roles=roles)
        return signer

    def rotate_key(self, code: str) -> str:
        """Give department ``code`` a new key; the old keystore file is kept, renamed, for the record."""
        keystore = self.ledger.keystore
        key = department_key_name(code)
        new_name = f"{key}.next"
        new_signer = keystore.address(new_name) if keystore.exists(new_name) else keystore.create(
            new_name, self.ledger.passphrase())
        self.decide(Action.ROTATE_KEY, code, signer=new_signer)
        if keystore.exists(key):
            keystore.rename(key, f"{key}.retired-{keystore.address(key)[2:10].lower()}")
        keystore.rename(new_name, key)
        self.ledger._accounts.pop(key, None)
        self.ledger._accounts.pop(new_name, None)
        return new_signer

    def suspend(self, code: str) -> None:
        self.decide(Action.SUSPEND, code)

    def reinstate(self, code: str) -> None:
        self.decide(Action.REINSTATE, code)

    def set_roles(self, code: str, roles: int) -> None:
        self.decide(Action.SET_ROLES, code, roles=roles)
