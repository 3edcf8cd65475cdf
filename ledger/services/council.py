"""One council member's side of governance: propose, list, inspect, approve, reject, cancel, sign, submit.

A :class:`CouncilMember` holds exactly one council key. Several members never share a keystore or a passphrase:
M of N means M people, each acting with their own key. A member approves either with an on-chain transaction
(:meth:`CouncilMember.approve`) or off line with an EIP-712 signature written to a file
(:meth:`CouncilMember.sign_approval`) that anyone may collect and submit (:func:`submit_approvals`); the registry
checks every signature against the council at the block it is submitted in.

Proposals expire on chain (``PROPOSAL_LIFETIME`` seconds of block time after they are made), can be rejected by
members and cancelled by their proposer; a change of the council makes older open proposals stale. The
registry's events are the complete governance history (:func:`governance_history`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any, TypeVar

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from eth_utils.abi import get_abi_output_types
from web3.logs import DISCARD

from ..errors import ChainError, InputError, KeystoreError, StateError
from ..formats.canonical import parse_hex32, strict_json_loads
from ..formats.certificate import read_bounded
from ..onchain import chainread
from ..onchain.chain import Chain, HeadMovedError, department_code, department_id_bytes, role_names
from ..onchain.ids import service_item_bytes
from ..storage.keys import Keystore, is_council_key

__all__ = [
    "COUNCIL_CHANGES",
    "ITEM_ACTIONS",
    "TYPE_ACTIONS",
    "Action",
    "ApprovalFile",
    "CouncilMember",
    "GovernanceEvent",
    "Proposal",
    "ProposalState",
    "approval_typed_data",
    "at_one_block",
    "current_service_items",
    "current_types",
    "describe",
    "explain",
    "for_department",
    "get_proposal",
    "governance_history",
    "holds_service_item",
    "is_authorized_for_type",
    "item_code",
    "item_list",
    "list_proposals",
    "load_member",
    "read_approval",
    "submit_approvals",
    "type_hash",
    "type_list",
    "types_of",
]

ZERO_ADDRESS = "0x" + "00" * 20
ZERO_ID = b"\x00" * 32
APPROVAL_FILE_FORMAT = "ledger-council-approval/1"


class Action(IntEnum):
    REGISTER = 0
    ROTATE_KEY = 1
    SUSPEND = 2
    REINSTATE = 3
    SET_ROLES = 4
    ADD_MEMBER = 5
    REMOVE_MEMBER = 6
    SET_THRESHOLD = 7
    GRANT_TYPE = 8  # name = the certificate type the department may issue from now on
    REVOKE_TYPE = 9  # name = the certificate type it may no longer issue
    GRANT_SERVICE_ITEM = 10  # name = the service item code it may decide on from now on (one per proposal)
    REVOKE_SERVICE_ITEM = 11  # name = the service item code it may no longer decide on


# Actions that change the council itself (no department); every other action names a department.
COUNCIL_CHANGES = frozenset({Action.ADD_MEMBER, Action.REMOVE_MEMBER, Action.SET_THRESHOLD})
TYPE_ACTIONS = frozenset({Action.GRANT_TYPE, Action.REVOKE_TYPE})
ITEM_ACTIONS = frozenset({Action.GRANT_SERVICE_ITEM, Action.REVOKE_SERVICE_ITEM})
# Longest service item code a grant may name, in bytes (the registry's limit; docs/rules.md's codes are 1-128).
MAX_SERVICE_ITEM_BYTES = 128
# Most service items one grant or revocation names (the registry's MAX_ITEMS_PER_PROPOSAL).
MAX_ITEMS_PER_PROPOSAL = 32
# A certificate type name (docs/format.md), as the registry checks it too.
CERTIFICATE_TYPE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}\Z")
# Most types one grant or revocation names (the registry's MAX_TYPES_PER_PROPOSAL).
MAX_TYPES_PER_PROPOSAL = 32
# Reads of one proposal (or listing) at one head before giving up: each a block mined meanwhile can interrupt on a
# node keeping its head's state only (the embedded node keeps node.STATE_HISTORY below it).
PINNED_READ_ATTEMPTS = 3

_T = TypeVar("_T")


def type_list(types: Sequence[str]) -> str:
    """The ``name`` of a grant or revocation proposal: ``types`` joined by "," as the registry reads them (all of
    them or none change). Raises InputError, before any transaction, for what the registry would refuse."""
    if isinstance(types, str):
        raise InputError(f"certificate types are a list of names, not one string: [{types!r}]")
    if not 1 <= len(types) <= MAX_TYPES_PER_PROPOSAL:
        raise InputError(
            f"a grant or revocation names 1 to {MAX_TYPES_PER_PROPOSAL} certificate types, not {len(types)}"
        )
    for certificate_type in types:
        if not isinstance(certificate_type, str) or not CERTIFICATE_TYPE.match(certificate_type):
            raise InputError(
                f"{certificate_type!r} is not a certificate type: lowercase letters, digits and '-', at most 64 "
                "characters, not starting with '-' (e.g. business-licence)"
            )
    repeated = sorted({t for t in types if types.count(t) > 1})
    if repeated:
        raise InputError(f"certificate type {repeated[0]!r} is named twice; name each type once")
    return ",".join(types)


def item_code(code: str) -> str:
    """One service item code a grant or revocation may name, as a rule set's ``service_item`` names it ("*" is every
    item: a grant of its own). InputError, before any transaction, for what the registry would refuse or split."""
    if not isinstance(code, str) or not code or len(code.encode("utf-8")) > MAX_SERVICE_ITEM_BYTES:
        raise InputError(f"{code!r} is not a service item code: 1 to {MAX_SERVICE_ITEM_BYTES} bytes of text")
    if not code.isprintable():
        raise InputError(f"service item code {code!r} holds a character that is not printable")
    if "," in code:
        raise InputError(
            f"service item code {code!r} holds ',', which separates the codes of a grant: it cannot be granted"
        )
    return code


def item_list(items: Sequence[str]) -> str:
    """The ``name`` of a service item grant or revocation proposal: ``items`` joined by "," as the registry reads them
    (all of them or none change). Raises InputError, before any transaction, for what the registry would refuse."""
    if isinstance(items, str):
        raise InputError(f"service items are a list of codes, not one string: [{items!r}]")
    if not 1 <= len(items) <= MAX_ITEMS_PER_PROPOSAL:
        raise InputError(f"a grant or revocation names 1 to {MAX_ITEMS_PER_PROPOSAL} service items, not {len(items)}")
    for item in items:
        item_code(item)
    keys = [service_item_bytes(item) for item in items]
    repeated = sorted({item for item, key in zip(items, keys, strict=True) if keys.count(key) > 1})
    if repeated:
        raise InputError(f"service item {repeated[0]!r} is named twice; name each item once")
    return ",".join(items)


def types_of(name: str) -> list[str]:
    """The certificate types a grant or revocation proposal's ``name`` lists."""
    return name.split(",")


def shown_id(raw: bytes) -> str:
    """A department id from the registry as text: its code, when it is one (1 to 32 printable ASCII characters,
    zero-padded on the right, as :func:`department_id_bytes` makes it); otherwise "0x" + its 64 hex digits. The
    registry takes any nonzero bytes32 in a proposal: a member's id of control characters printed as text wrote on
    the other members' terminals, and one the library could not turn back into its bytes stopped every listing of
    proposals (red team round 28)."""
    raw = bytes(raw)
    code = department_code(raw)
    try:
        if department_id_bytes(code) == raw:
            return code
    except InputError:
        pass
    return "0x" + raw.hex()


def is_code(department: str) -> bool:
    """Whether ``department`` (as :func:`shown_id` gives it) is a department code rather than the hex of an id that
    is none (a code is at most 32 characters: never 66)."""
    return not (len(department) == 66 and department.startswith("0x"))


def hidden_spaces(code: str) -> bool:
    """Whether a department code holds spaces a reader cannot see: at its start or end, or two together. The
    registry takes any printable ASCII code, so a member could propose ``"MKT "``, which every summary printed as
    the code of the market regulator (red team round 39)."""
    return code != code.strip(" ") or "  " in code


def _printable(value: Any) -> Any:
    """``value`` for a line of text: a string holding a character that is not printable (a terminal's escape
    sequence, a carriage return) as its repr, so that no event's text can write over another's."""
    return repr(value) if isinstance(value, str) and not value.isprintable() else value


class ProposalState(IntEnum):
    OPEN = 0
    EXECUTED = 1
    DEFEATED = 2
    CANCELLED = 3
    EXPIRED = 4
    STALE = 5


@dataclass(frozen=True)
class Proposal:
    id: int
    action: Action
    department: str | None  # None for council changes; its code, or "0x" + hex for an id that is none (shown_id)
    name: str
    signer: str
    roles: int
    approvals: int
    rejections: int
    executed: bool
    cancelled: bool
    proposer: str
    expires_at: int  # block timestamp
    council_epoch: int
    state: ProposalState
    approved_by: list[str] = field(default_factory=list)
    rejected_by: list[str] = field(default_factory=list)
    department_id: bytes = ZERO_ID  # the registry's bytes32, which the proposal's hash covers
    # the registry's bytes of a name that is no UTF-8 (``name`` then shows them escaped), which the hash covers
    name_bytes: bytes | None = None

    @property
    def summary(self) -> str:
        return describe(
            self.action,
            self.department,
            name=self.name,
            signer=self.signer,
            roles=self.roles,
            name_bytes=self.name_bytes,
        )

    @property
    def proposal_hash(self) -> str:
        """The registry's ``proposalHash`` of this content (action, department, name, signer, roles, proposer,
        expiry), computed here: a vote naming it counts only for this content (``approveProposal``)."""
        return "0x" + content_hash(self).hex()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["department_id"] = "0x" + self.department_id.hex()
        data["name_bytes"] = None if self.name_bytes is None else "0x" + self.name_bytes.hex()
        data["proposal_hash"] = self.proposal_hash
        data["action"] = self.action.name.lower()
        data["state"] = self.state.name.lower()
        data["roles"] = role_names(self.roles) if self.action in (Action.REGISTER, Action.SET_ROLES) else self.roles
        data["summary"] = self.summary
        return data


def describe(
    action: Action,
    department: str | None,
    *,
    name: str = "",
    signer: str = ZERO_ADDRESS,
    roles: int = 0,
    name_bytes: bytes | None = None,
) -> str:
    """What a proposal will change, in words (``name_bytes``: the registry's name, when it is no UTF-8, shown as
    bytes with every byte past ASCII escaped)."""
    if department is not None and not is_code(department):
        department = f"{department} (not a department code: no department of this ledger can use it)"
    elif department is not None and hidden_spaces(department):
        department = (
            f"{department!r} (a code with a space at its start or end, or two together, prints like "
            f"{' '.join(department.split())!r}: compare it character by character)"
        )
    if action is Action.REGISTER:
        shown = (
            repr(name)
            if name_bytes is None
            else f"{name_bytes!r}, not UTF-8: bytes that are no text, escaped here; no reader can print or compare it"
        )
        return f"register department {department} ({shown}) with key {signer} and roles {','.join(role_names(roles))}"
    if action is Action.ROTATE_KEY:
        return f"replace the key of department {department} with {signer}; the old key stops acting"
    if action is Action.SUSPEND:
        return f"suspend department {department}: its key stops acting until it is reinstated"
    if action is Action.REINSTATE:
        return f"reinstate department {department}"
    if action is Action.SET_ROLES:
        return f"set the roles of department {department} to {','.join(role_names(roles))}"
    if action in TYPE_ACTIONS:
        types = types_of(name)
        named = f"type{'s' if len(types) > 1 else ''} {', '.join(repr(t) for t in types)}"
        if action is Action.GRANT_TYPE:
            return f"authorize department {department} to issue certificates of {named}"
        return (
            f"stop department {department} issuing certificates of {named} (those it anchored before stay authorized)"
        )
    if action in ITEM_ACTIONS:
        codes = name.split(",")
        named = f"service item{'s' if len(codes) > 1 else ''} " + ", ".join(
            repr(c) + (" (every service item)" if c == "*" else "") for c in codes
        )
        if action is Action.GRANT_SERVICE_ITEM:
            return f"authorize department {department} to decide on {named}"
        return (
            f"stop department {department} deciding on {named} (decisions it anchored before stay valid; any it "
            "has not anchored when this executes no longer count)"
        )
    if action is Action.ADD_MEMBER:
        return f"add {signer} to the council (open proposals made before become stale)"
    if action is Action.REMOVE_MEMBER:
        return f"remove {signer} from the council (open proposals made before become stale)"
    return f"set the council threshold to {roles} (open proposals made before become stale)"


def explain(chain: Chain, proposal: Proposal) -> str:
    """The proposal in words, set against the registry's state now (what changes from what), read at one block."""
    fns = chain.registry.functions

    def now_at(block: int) -> str:
        if proposal.department and is_code(proposal.department) and proposal.action is not Action.REGISTER:
            now = chain.call(fns.department(department_id_bytes(proposal.department)), block)
            status = "active" if now[4] else "suspended"
            text = f"; now: {now[1]!r}, key {now[2]}, roles {','.join(role_names(int(now[3])))}, {status}"
            if proposal.action in TYPE_ACTIONS:
                types = current_types(chain, proposal.department, block=block)
                text += f", types {', '.join(types) if types else 'none'}"
            if proposal.action in ITEM_ACTIONS:
                items = current_service_items(chain, proposal.department, block=block)
                text += f", service items {', '.join(items) if items else 'none'}"
            return text
        if proposal.action in COUNCIL_CHANGES:
            members, threshold = chain.call_many([fns.councilMembers(), fns.threshold()], block)
            return f"; now: {int(threshold)} of {len(members)} ({', '.join(members)})"
        return ""

    try:
        return proposal.summary + at_one_block(chain, now_at, "the registry's state")
    except ChainError as exc:
        return proposal.summary + f"; now: unknown ({exc})"


def at_one_block(chain: Chain, read: Callable[[int], _T], what: str) -> _T:
    """``read(block)`` at the head the node claims now, so that its several calls see one state (a vote landing
    between two calls read at ``latest`` mixed two states: rt59). On a node keeping its head's state only (the
    embedded node keeps some below it), when a block is mined during the reads they are made again at the new head,
    up to :data:`PINNED_READ_ATTEMPTS` times; then a ChainError (never a mix of two blocks)."""
    moved: HeadMovedError | None = None
    for _ in range(PINNED_READ_ATTEMPTS):
        try:
            return read(chain.block_number())
        except HeadMovedError as exc:
            moved = exc
    raise ChainError(
        f"{what} could not be read at one block: a block was mined during each of {PINNED_READ_ATTEMPTS} reads; "
        "read again (a busy node settles within seconds)"
    ) from moved


# -- reading ----------------------------------------------------------------------------------------------
def proposal_state(chain: Chain, proposal_id: int) -> ProposalState:
    return ProposalState(int(chain.call(chain.registry.functions.proposalState(proposal_id))))


_PROPOSAL_EXECUTED = keccak(text="ProposalExecuted(uint256)")


def executed_in(chain: Chain, receipt: Any, proposal_id: int) -> bool:
    """Whether the transaction of ``receipt`` executed proposal ``proposal_id``: the registry's
    ``ProposalExecuted(proposalId)`` is among its logs. Executed is final (the contract's ``_state`` answers
    Executed first), so True means the proposal's state is EXECUTED from then on, as ``proposal_state`` would read."""
    registry = chain.registry.address.lower()
    wanted = proposal_id.to_bytes(32, "big")
    for log in receipt["logs"]:
        topics = log["topics"]
        if (
            str(log["address"]).lower() == registry
            and len(topics) == 2
            and bytes(topics[0]) == _PROPOSAL_EXECUTED
            and bytes(topics[1]) == wanted
        ):
            return True
    return False


def _proposal_struct(chain: Chain, proposal_id: int, block: int) -> tuple[list[Any], bytes | None]:
    """The registry's ``proposal(proposal_id)`` and, when its name is no UTF-8, the name's bytes (the name then read
    with them escaped). The registry takes any bytes as a name: read as text, one member's proposal of a name that is
    no UTF-8 raised UnicodeDecodeError in every listing of the council's proposals (red team round 59)."""
    fn = chain.registry.functions.proposal(proposal_id)
    try:
        return list(chain.call(fn, block)), None
    except UnicodeDecodeError:
        pass
    types = [t.replace("string", "bytes") for t in get_abi_output_types(fn.abi)]  # one string: the name
    answer = chain.call_data(fn, block)  # a block mined meanwhile: HeadMovedError, read again by at_one_block
    try:
        (value,) = abi_decode(types, answer)
    except Exception as exc:  # noqa: BLE001 - eth-abi's several errors: the node's answer is unreadable
        raise ChainError(
            f"proposal {proposal_id} cannot be read from the registry ({type(exc).__name__}: {exc})"
        ) from None
    raw = list(value)
    name = bytes(raw[2])
    raw[2] = name.decode("utf-8", "backslashreplace")
    raw[3], raw[8] = to_checksum_address(raw[3]), to_checksum_address(raw[8])
    return raw, name


def get_proposal(chain: Chain, proposal_id: int) -> Proposal:
    """Proposal ``proposal_id`` as the registry holds it, every part read at one block (:func:`at_one_block`)."""
    return at_one_block(chain, lambda block: _proposal_at(chain, proposal_id, block), f"proposal {proposal_id}")


def _proposal_at(chain: Chain, proposal_id: int, block: int) -> Proposal:
    fns = chain.registry.functions
    raw, name_bytes = _proposal_struct(chain, proposal_id, block)
    state_value, members = chain.call_many([fns.proposalState(proposal_id), fns.councilMembers()], block)
    state = ProposalState(int(state_value))
    votes = chain.call_many(
        [fns.hasApproved(proposal_id, m) for m in members] + [fns.hasRejected(proposal_id, m) for m in members], block
    )
    approved = [m for m, yes in zip(members, votes[: len(members)], strict=True) if yes]
    rejected = [m for m, no in zip(members, votes[len(members) :], strict=True) if no]
    action = Action(int(raw[0]))
    return Proposal(
        id=proposal_id,
        action=action,
        department=shown_id(raw[1]) if raw[1] != ZERO_ID else None,
        name=raw[2],
        signer=raw[3],
        roles=int(raw[4]),
        approvals=int(raw[5]),
        executed=bool(raw[6]),
        expires_at=int(raw[7]),
        proposer=raw[8],
        rejections=int(raw[9]),
        cancelled=bool(raw[10]),
        council_epoch=int(raw[11]),
        state=state,
        approved_by=approved,
        rejected_by=rejected,
        department_id=bytes(raw[1]),
        name_bytes=name_bytes,
    )


def list_proposals(chain: Chain, *, include_closed: bool = False) -> list[Proposal]:
    """Proposals, newest first; only open ones unless ``include_closed``. Which to list is read at one block, and
    each proposal at one block of its own (:func:`get_proposal`): a listing of every proposal a long-lived council
    has made, read whole at one block, would outlast the embedded node's one-second block and never complete."""
    fns = chain.registry.functions

    def open_ids(block: int) -> list[int]:
        ids = range(int(chain.call(fns.proposalCount(), block)), 0, -1)
        states = chain.call_many([fns.proposalState(i) for i in ids], block)
        return [
            i
            for i, state in zip(ids, states, strict=True)
            if include_closed or ProposalState(int(state)) is ProposalState.OPEN
        ]

    return [get_proposal(chain, i) for i in at_one_block(chain, open_ids, "the council's proposals")]


def type_hash(certificate_type: str) -> bytes:
    """The registry's key of a certificate type: keccak256 of its name."""
    return bytes(keccak(text=certificate_type))


def current_types(chain: Chain, department: str, *, block: int | None = None) -> list[str]:
    """Names of the certificate types ``department`` holds now (its open grants), sorted; read at one block
    (``block``, or the head when this reads it)."""
    fns = chain.registry.functions

    def at(head: int) -> list[str]:
        periods = chain.call(fns.typeHistory(department_id_bytes(department)), head)
        held = sorted({bytes(p[0]) for p in periods if int(p[2]) == 0})
        return sorted(str(name) for name in chain.call_many([fns.certificateTypeName(h) for h in held], head))

    return at(block) if block is not None else at_one_block(chain, at, f"the types of {department}")


def is_authorized_for_type(chain: Chain, department: str, certificate_type: str, block: int | None = None) -> bool:
    """True when ``department`` held ``certificate_type`` at ``block`` (default: now)."""
    fns = chain.registry.functions
    if block is None:
        return bool(chain.call(fns.isAuthorizedForType(department_id_bytes(department), type_hash(certificate_type))))
    return bool(
        chain.call(fns.wasAuthorizedForTypeAt(department_id_bytes(department), type_hash(certificate_type), block))
    )


def current_service_items(chain: Chain, department: str, *, block: int | None = None) -> list[str]:
    """Codes of the service items ``department`` holds now (its open grants), sorted; read at one block."""
    fns = chain.registry.functions

    def at(head: int) -> list[str]:
        periods = chain.call(fns.serviceItemHistory(department_id_bytes(department)), head)
        held = sorted({bytes(p[0]) for p in periods if int(p[2]) == 0})
        return sorted(str(name) for name in chain.call_many([fns.serviceItemName(h) for h in held], head))

    return at(block) if block is not None else at_one_block(chain, at, f"the service items of {department}")


def holds_service_item(chain: Chain, department: str, code: str, block: int | None = None) -> bool:
    """True when ``department`` held service item ``code`` at ``block`` (default: now)."""
    fns = chain.registry.functions
    item = service_item_bytes(code)
    if block is None:
        return bool(chain.call(fns.holdsServiceItem(department_id_bytes(department), item)))
    return bool(chain.call(fns.heldServiceItemAt(department_id_bytes(department), item, block)))


@dataclass(frozen=True)
class GovernanceEvent:
    block: int
    tx: str
    log_index: int
    event: str
    args: dict[str, Any]
    department: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        shown = ", ".join(f"{k}={_printable(v)}" for k, v in self.args.items() if k != "departmentId")
        shown_code = repr(self.department) if self.department and hidden_spaces(self.department) else self.department
        where = f"[{shown_code}] " if self.department else ""
        return f"block {self.block:>8}  {self.event:<24} {where}{shown}"


_HISTORY_EVENTS = (
    "ProposalCreated",
    "ProposalApproved",
    "ProposalRejected",
    "ProposalDefeated",
    "ProposalCancelled",
    "ProposalExecuted",
    "DepartmentRegistered",
    "DepartmentKeyRotated",
    "DepartmentSuspended",
    "DepartmentReinstated",
    "DepartmentRolesChanged",
    "CertificateTypeGranted",
    "CertificateTypeRevoked",
    "ServiceItemGranted",
    "ServiceItemRevoked",
    "CouncilMemberAdded",
    "CouncilMemberRemoved",
    "ThresholdChanged",
)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


def governance_history(chain: Chain, *, department: str | None = None) -> list[GovernanceEvent]:
    """Every governance event of the registry, oldest first; with ``department`` only the proposals and changes
    that concern it (its proposals' votes and execution included)."""
    events: list[GovernanceEvent] = []
    head = chain.block_number()
    for name in _HISTORY_EVENTS:
        logs = chainread.scan(
            chain, getattr(chain.registry.events, name), what=f"the registry's {name} events", end=head
        )
        for log in logs:
            args = {k: _plain(v) for k, v in dict(log["args"]).items()}
            raw_id = log["args"].get("departmentId")
            code = shown_id(raw_id) if isinstance(raw_id, bytes) and raw_id != ZERO_ID else None
            if "action" in args:
                args["action"] = Action(int(args["action"])).name.lower()
            if code is not None:
                args["departmentId"] = code
            events.append(
                GovernanceEvent(
                    block=int(log["blockNumber"]),
                    tx="0x" + bytes(log["transactionHash"]).hex(),
                    log_index=int(log["logIndex"]),
                    event=name,
                    args=args,
                    department=code,
                )
            )
    events.sort(key=lambda e: (e.block, e.log_index))
    return events if department is None else for_department(events, department)


def for_department(events: Sequence[GovernanceEvent], department: str) -> list[GovernanceEvent]:
    """The events of ``events`` that concern ``department``: its proposals, their votes, their effects."""
    ids = {e.args["proposalId"] for e in events if e.event == "ProposalCreated" and e.department == department}
    return [e for e in events if e.department == department or e.args.get("proposalId") in ids]


# -- the member -----------------------------------------------------------------------------------------
class CouncilMember:
    """One council member acting with their own key."""

    def __init__(self, chain: Chain, account: LocalAccount) -> None:
        self.chain = chain
        self.account = account

    @property
    def address(self) -> str:
        return str(self.account.address)

    def _check_member(self) -> None:
        if not self.chain.call(self.chain.registry.functions.isCouncilMember(self.address)):
            raise KeystoreError(
                f"{self.address} is not a member of the council of registry "
                f"{self.chain.deployment.registry}; use your own council key (--member-keystore)"
            )

    def propose(
        self,
        action: Action,
        department: str | None = None,
        *,
        name: str = "",
        signer: str = ZERO_ADDRESS,
        roles: int = 0,
    ) -> int:
        """Create a proposal (counting this member's approval); returns its id."""
        return self._propose(action, department, name=name, signer=signer, roles=roles)[0]

    def _propose(
        self, action: Action, department: str | None, *, name: str, signer: str, roles: int
    ) -> tuple[int, bool]:
        """:meth:`propose`, and whether this member's approval executed the proposal in the same transaction (its
        receipt holds ``ProposalExecuted``), which the council's one-process votes read instead of asking the
        chain again."""
        if action in TYPE_ACTIONS:
            type_list(types_of(name))
        if action in COUNCIL_CHANGES:
            if department is not None:
                raise InputError("council changes name no department")
            raw_id = ZERO_ID
        else:
            if department is None:
                raise InputError(f"{action.name.lower()} needs a department id")
            raw_id = department_id_bytes(department)
        registry = self.chain.registry
        refused: ChainError | None = None
        try:
            receipt = self.chain.transact(
                self.account, registry.functions.propose(int(action), raw_id, name, signer, roles)
            )
        except ChainError as exc:
            refused = exc
        if refused is not None:
            # The membership is read only when the chain refused (the contract refuses a non-member's proposal
            # before anything else, so nothing was sent): a non-member gets the same KeystoreError as when it was
            # read before the proposal, a member the chain's own refusal; one round trip fewer per proposal.
            self._check_member()
            raise refused
        events = registry.events.ProposalCreated().process_receipt(receipt, errors=DISCARD)
        proposal_id = int(events[0]["args"]["proposalId"])
        return proposal_id, executed_in(self.chain, receipt, proposal_id)

    def approve(self, proposal_id: int, proposal_hash: str | bytes | None = None) -> Proposal:
        """Approve proposal ``proposal_id`` if it is still the content whose hash is ``proposal_hash`` (what the
        member was shown: ``Proposal.proposal_hash``, ``ledger council show``); without one, the content the chain
        holds when this reads it. The chain refuses the vote (``RegistryProposalChanged``) when the number names
        other content by then (a chain rewritten meanwhile). Returns the proposal as it then is."""
        self.vote(proposal_id, proposal_hash)
        return get_proposal(self.chain, proposal_id)

    def vote(self, proposal_id: int, proposal_hash: str | bytes | None = None) -> ProposalState:
        """Approve (as :meth:`approve`), and read back only the proposal's state (one call; ``approve`` reads the
        whole proposal, every member's vote included)."""
        expected = self._expected(proposal_id, proposal_hash)
        self.chain.transact(self.account, self.chain.registry.functions.approveProposal(proposal_id, expected))
        return proposal_state(self.chain, proposal_id)

    def _vote(self, proposal_id: int, proposal_hash: str | bytes | None = None) -> bool:
        """Approve (as :meth:`approve`); whether this approval executed the proposal (its receipt holds
        ``ProposalExecuted``)."""
        expected = self._expected(proposal_id, proposal_hash)
        receipt = self.chain.transact(
            self.account, self.chain.registry.functions.approveProposal(proposal_id, expected)
        )
        return executed_in(self.chain, receipt, proposal_id)

    def reject(self, proposal_id: int, proposal_hash: str | bytes | None = None) -> Proposal:
        """Vote against proposal ``proposal_id``, bound to its content as :meth:`approve` is."""
        expected = self._expected(proposal_id, proposal_hash)
        self.chain.transact(self.account, self.chain.registry.functions.rejectProposal(proposal_id, expected))
        return get_proposal(self.chain, proposal_id)

    def _expected(self, proposal_id: int, proposal_hash: str | bytes | None) -> bytes:
        """The proposal hash a vote names: the one given, else the registry's for the number now."""
        if proposal_hash is None:
            return bytes(self.chain.call(self.chain.registry.functions.proposalHash(proposal_id)))
        if isinstance(proposal_hash, bytes):
            if len(proposal_hash) != 32:
                raise InputError("a proposal hash is 32 bytes")
            return proposal_hash
        return parse_hex32(proposal_hash, "proposal hash")

    def cancel(self, proposal_id: int) -> Proposal:
        self.chain.transact(self.account, self.chain.registry.functions.cancel(proposal_id))
        return get_proposal(self.chain, proposal_id)

    def sign_approval(
        self, proposal_id: int, proposal_hash: str | bytes | None = None, *, valid_for: int = 24 * 3600
    ) -> dict[str, Any]:
        """An approval signed with this member's key, for anyone to submit; nothing is sent.

        The digest is computed here from the proposal's content read from the chain, and compared with the
        registry's own. With ``proposal_hash`` (what the member was shown: ``ledger council show``) nothing is
        signed unless number ``proposal_id`` still names that content (a chain rewritten meanwhile: StateError),
        as :meth:`approve` binds a vote sent at once.
        """
        proposal = get_proposal(self.chain, proposal_id)
        if proposal.state is not ProposalState.OPEN:
            raise StateError(
                f"proposal {proposal_id} is {proposal.state.name.lower()}; only an open proposal can be approved"
            )
        if proposal.name_bytes is not None:
            raise StateError(
                f"proposal {proposal_id} names a department by bytes that are no UTF-8 ({proposal.name_bytes!r}): no "
                "reader could print or compare that name once registered; nothing was signed. Reject it "
                f"(`ledger council reject {proposal_id} --hash {proposal.proposal_hash}`)"
            )
        if proposal_hash is not None:
            shown = self._expected(proposal_id, proposal_hash)
            if shown != content_hash(proposal):
                raise StateError(
                    f"proposal {proposal_id} now names other content than the proposal hash 0x{shown.hex()} you "
                    f"were shown (the chain was rewritten, or another proposal was shown): it is now "
                    f"{proposal.summary!r}, hash {proposal.proposal_hash}; nothing was signed. Run `ledger council "
                    f"show {proposal_id}` again and sign only what you mean to approve"
                )
        self._check_member()
        now = int(self.chain.w3.eth.get_block("latest")["timestamp"])
        deadline = min(now + valid_for, proposal.expires_at)
        typed = approval_typed_data(self.chain, proposal, deadline)
        message = encode_typed_data(full_message=typed)
        digest = keccak(b"\x19" + message.version + message.header + message.body)
        on_chain = bytes(self.chain.call(self.chain.registry.functions.approvalDigest(proposal_id, deadline)))
        if digest != on_chain:
            raise ChainError(
                f"the registry computes another approval digest for proposal {proposal_id} than this "
                "ledger; refusing to sign (wrong registry or contract version?)"
            )
        signed = self.account.sign_typed_data(full_message=typed)
        return {
            "format": APPROVAL_FILE_FORMAT,
            "chain_id": self.chain.chain_id,
            "registry": self.chain.deployment.registry,
            "proposal_id": proposal_id,
            "proposal_hash": typed["message"]["proposalHash"],
            "council_epoch": proposal.council_epoch,
            "summary": proposal.summary,
            "member": self.address,
            "deadline": deadline,
            "signature": "0x" + bytes(signed.signature).hex(),
        }


def content_hash(proposal: Proposal) -> bytes:
    """The registry's ``proposalHash`` of a proposal's content, computed here from the registry's own bytes32 of its
    department (the code read back from it is not always one: :func:`shown_id`)."""
    raw_id = proposal.department_id
    return keccak(
        abi_encode(
            ["uint8", "bytes32", "bytes32", "address", "uint8", "address", "uint64"],
            [
                int(proposal.action),
                raw_id,
                keccak(proposal.name.encode() if proposal.name_bytes is None else proposal.name_bytes),
                proposal.signer,
                proposal.roles,
                proposal.proposer,
                proposal.expires_at,
            ],
        )
    )


def approval_typed_data(chain: Chain, proposal: Proposal, deadline: int) -> dict[str, Any]:
    """The EIP-712 message of an approval (registry domain version "2")."""
    proposal_hash = content_hash(proposal)
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Approval": [
                {"name": "proposalId", "type": "uint256"},
                {"name": "proposalHash", "type": "bytes32"},
                {"name": "councilEpoch", "type": "uint64"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Approval",
        "domain": {
            "name": "DepartmentRegistry",
            "version": "2",
            "chainId": chain.chain_id,
            "verifyingContract": chain.deployment.registry,
        },
        "message": {
            "proposalId": proposal.id,
            "proposalHash": "0x" + proposal_hash.hex(),
            "councilEpoch": proposal.council_epoch,
            "deadline": deadline,
        },
    }


ApprovalFile = dict[str, Any]


# A signed approval is a few hundred bytes and its summary one line about the proposal: a file past this is no
# approval, and is refused before it is parsed (red team round 54: a relay padded one to any size)
MAX_APPROVAL_FILE_BYTES = 1 << 20


def read_approval(path: Path) -> ApprovalFile:
    raw = read_bounded(path, MAX_APPROVAL_FILE_BYTES, "approval file")
    try:
        data = strict_json_loads(raw)  # a key named twice (a second proposal_id) is refused
    except InputError as exc:
        raise InputError(f"approval file {path} is refused: {exc}; ask the member for it again") from None
    except ValueError as exc:
        raise InputError(f"approval file {path} is unreadable ({exc}); ask the member for it again") from None
    if not isinstance(data, dict) or data.get("format") != APPROVAL_FILE_FORMAT:
        raise InputError(f"{path} is not a council approval file (format {APPROVAL_FILE_FORMAT})")
    for key in ("chain_id", "registry", "proposal_id", "member", "deadline", "signature"):
        if key not in data:
            raise InputError(f"approval file {path} lacks {key!r}; ask the member to sign again")
    try:
        _approval_values(data)
    except InputError as exc:
        raise InputError(f"approval file {path} is refused: {exc}; ask the member for it again") from None
    return data


_SIGNATURE = re.compile(r"0x[0-9a-fA-F]{130}\Z")
# The registry's _recover: s at most half the secp256k1 group order (EIP-2) and v 27 or 28, else the zero address
_HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


def _approval_values(approval: ApprovalFile) -> tuple[int, str, int, str, int, bytes]:
    """(chain id, registry, proposal id, member, deadline, signature) of an approval, each of the type a signed
    approval holds; InputError naming the first that is not (an object for a chain id, ``true`` or ``1.9`` for a
    proposal id, no address, no hex, a deadline past 256 bits), never a TypeError or ValueError from deep inside."""

    def whole(key: str, low: int, high: int) -> int:
        value = approval.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value < high:
            raise InputError(f"{key} {value!r} is not a whole number from {low} below {high}")
        return value

    def address(key: str) -> str:
        value = approval.get(key)
        try:
            if not isinstance(value, str):
                raise ValueError(value)
            return str(to_checksum_address(value))
        except ValueError:
            raise InputError(f"{key} {value!r} is not an Ethereum address (0x and 40 hex digits)") from None

    signature = approval.get("signature")
    if not isinstance(signature, str) or not _SIGNATURE.match(signature):
        raise InputError(f"signature {signature!r} is not a 65-byte signature (0x and 130 hex digits)")
    raw = bytes.fromhex(signature[2:])
    values = (
        whole("chain_id", 1, 2**64),
        address("registry"),
        whole("proposal_id", 1, 2**256),
        address("member"),
        whole("deadline", 0, 2**256),
        raw,
    )
    if int.from_bytes(raw[32:64], "big") > _HALF_ORDER or raw[64] not in (27, 28):
        # eth-account recovers the member from either form, the registry from neither: the batch would revert as a
        # whole, naming the member (red team round 50)
        raise InputError(
            f"signature {signature[:12]}... is re-encoded: its s lies in the upper half of the curve order or its "
            f"last byte (v) is {raw[64]}, not 27 or 28, and the registry takes only the form the member's key signs "
            "(EIP-2), so it would refuse the whole submission naming the member; the file was changed on its way "
            "(the same signature written as its twin, or with the raw recovery id): ask the member for it again"
        )
    return values


def submit_approvals(
    chain: Chain, sender: LocalAccount, proposal_id: int, approvals: Iterable[ApprovalFile]
) -> Proposal:
    """Submit collected signed approvals of ``proposal_id`` from ``sender`` (any account the network accepts).

    Files meant for another chain, registry or proposal are refused here with a clear message; the registry
    checks each signature again, against the council of the block it lands in.
    """
    batch = []
    for a in approvals:
        chain_id, registry, proposal, member, deadline, signature = _approval_values(a)
        if chain_id != chain.chain_id or registry != chain.deployment.registry:
            raise InputError(
                f"the approval by {member} is for registry {registry} on chain "
                f"{chain_id}, not this ledger's; it cannot count here"
            )
        if proposal != proposal_id:
            raise InputError(f"the approval by {member} is for proposal {proposal}, not {proposal_id}")
        batch.append((member, deadline, signature))
    if not batch:
        raise InputError("no approvals to submit")
    pending = _not_yet_counted(chain, proposal_id, batch)
    if not pending:
        now = get_proposal(chain, proposal_id)
        raise StateError(
            f"every approval given counts already on proposal {proposal_id} ({now.state.name.lower()}, "
            f"{now.approvals} approval(s)): nothing was sent"
        )
    chain.transact(sender, chain.registry.functions.approveWithSignatures(proposal_id, pending))
    return get_proposal(chain, proposal_id)


def _not_yet_counted(
    chain: Chain, proposal_id: int, batch: list[tuple[str, int, bytes]]
) -> list[tuple[str, int, bytes]]:
    """The approvals of ``batch`` the registry has not counted yet, one per member (of a member's several files, the
    one valid longest), read at one block. A member's approval counted already (its own vote, or its signature sent
    ahead of the batch by a relay) is left out: registry 2.4.0 reverted the whole batch for it, so a relay sending
    one signature first voided the others' (red team round 59); 2.5.0 skips it, and sending it costs gas for
    nothing. A member who rejected the proposal is an InputError naming it, as the registry would refuse it."""
    latest: dict[str, tuple[str, int, bytes]] = {}
    for approval in batch:
        kept = latest.get(approval[0])
        if kept is None or approval[1] > kept[1]:
            latest[approval[0]] = approval
    members = list(latest)
    fns = chain.registry.functions

    def votes_at(block: int) -> list[Any]:
        return chain.call_many(
            [fns.hasApproved(proposal_id, m) for m in members] + [fns.hasRejected(proposal_id, m) for m in members],
            block,
        )

    votes = at_one_block(chain, votes_at, f"the votes on proposal {proposal_id}")
    for member, rejected in zip(members, votes[len(members) :], strict=True):
        if rejected:
            raise InputError(
                f"{member} rejected proposal {proposal_id}; their signed approval cannot count and the registry "
                "would refuse the whole submission: leave their file out (nothing was sent)"
            )
    return [latest[m] for m, approved in zip(members, votes[: len(members)], strict=True) if not approved]


def load_member(
    chain: Chain, keystore: Keystore, passphrase: str, *, key: str | None = None, several_council_keys: bool = False
) -> CouncilMember:
    """The member whose key is in ``keystore``: ``key`` or, by default, its only council key.

    A keystore holding more than one council key is refused unless ``several_council_keys``: whoever holds
    the keys and their one passphrase would be several members at once.
    """
    council_keys = [n for n in keystore.names() if is_council_key(n)]
    if len(council_keys) > 1 and not several_council_keys:
        raise KeystoreError(
            f"the keystore {keystore.directory} holds {len(council_keys)} council keys "
            f"({', '.join(council_keys)}); a council member holds one. Move the others to their "
            "members, or pass --several-council-keys if this is a demo"
        )
    if key is None:
        if not council_keys:
            raise KeystoreError(
                f"no council key in {keystore.directory}: create yours with "
                "`ledger keys create council` or point --member-keystore at your keystore"
            )
        key = council_keys[0]
    return CouncilMember(chain, keystore.unlock(key, passphrase))
