"""Approval decisions: published rule sets, automatic and human decisions recorded in a hash-chained, anchored log.

* A rule set is published on chain (``BatchLog.publishRuleSet``) by an approver department before any decision may use
  it; its canonical document is kept in :class:`RuleSetRecord`, keyed by digest, so replay can re-run decisions.
* Every decision is an entry of the department's ``decisions`` log (``logchain.py``): its sequence number is the
  department's decision number and its ``prev_hash`` the hash of the department's previous decision. The body (format
  in ``docs/decisions.md``) carries digests and results, never plain personal data.
* The full canonical decision input is kept in :class:`DecisionInput`, keyed by its digest, so an auditor can re-run the
  engine on exactly what it saw.
* The applicant reference is ``HMAC-SHA256(department secret, "pl-applicant\\x00" || identity)``: the same applicant
  gets the same reference within a department (so an auditor can group a person's cases) but the identity cannot be
  recovered or confirmed by guessing without the secret. The 32-byte secret is generated per department on first use
  and stored sealed by the vault (AES-256-GCM under the operator's passphrase or ``LEDGER_VAULT_KEY``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from .._gc import free_chunk_cycles, pause_for_this_process
from ..errors import ChainError, InputError, LedgerError, NotFoundError, StateError
from ..formats.canonical import hex32, json_loads, parse_hex32
from ..formats.decision_input import seal_fields
from ..formats.logbody import recorded_instant
from ..formats.rules import (
    ANY_SERVICE_ITEM,
    ENGINE_VERSION,
    OUTCOMES,
    RuleSet,
    check_item_published,
    check_rule_set_size,
    evaluate,
    load_rule_set,
)
from ..onchain import chainread
from ..onchain._node_http import block_params, block_timestamp
from ..onchain.ids import ROLE_APPROVER, department_id_bytes, item_text, service_item_bytes
from ..storage import generations
from ..storage.models import (
    CLOCK_SKEW_SECONDS,
    ApplicantSecret,
    Certificate,
    CitedDocument,
    DecisionInput,
    InputCitation,
    RuleSetRecord,
    SealedInput,
    not_ahead,
)
from ..storage.store import insert_rows, rows_in
from ..storage.vault import ERASED
from . import _decision_workers, accesslog, issuance, logchain, permits, supervision
from ._citations import Measured, refuse_cited_past_bound
from ._decision_reading import (  # the applications' reading, which a worker imports alone (no heavy import)
    APPLICANT_PREFIX as APPLICANT_PREFIX,
)
from ._decision_reading import INPUT_NONCE as INPUT_NONCE  # re-exported: their callers import them from here
from ._decision_reading import (
    _Chunk,
    _input_row,
    _prepare_input,
    _read_chunk,
    _reference,
    _References,
    _with_nonce,
    applicant_identity,
    case_number,
    cited_certificate_digest,
    cited_fields_digest,
)
from ._decision_reading import canonical_identity as canonical_identity
from .facts import (
    CertificateFact,
    Classified,
    citations,
    classify,
    document_ref,
    establish,
    facts_view,
    named_copies,
    resolve_citations,
    seal_citations,
    store_reads,
)
from .logchain import LOG_DECISIONS, canonical_body
from .verify import ChainView

if TYPE_CHECKING:
    from ..client import Ledger

__all__ = [
    "DECISION_FORMAT",
    "DecideResult",
    "Decision",
    "DecisionInput",
    "RuleSetRecord",
    "applicant_identity",
    "applicant_reference",
    "canonical_identity",
    "decide",
    "decide_many",
    "find_decision",
    "find_decisions",
    "load_recorded_rule_set",
    "officer_ref",
    "publish_rule_set",
    "record_human_decision",
    "service_item_bytes",
]

# pl-decision/2: the certificates a decision rests on are facts the ledger established (facts.py), recorded with
# the block they were judged at. pl-decision/1 (the application's own claims) belongs to 1.x deployments: replay
# refuses it.
DECISION_FORMAT = "pl-decision/2"
OFFICER_PREFIX = b"pl-officer\x00"
_SECRET_BINDING = b"pl-applicant-secret\x00"
_REASON_CODE = re.compile(r"[A-Z0-9_.-]{1,64}")  # an officer's reason (rule reasons are UPPER_SNAKE_CASE ids)
# The most reason codes one officer's decision gives: the record is in every evidence bundle of the decision, which
# both verifiers read 4 MiB of at most; 70,000 codes made a refusal no court could be shown (red team round 56). A
# rule set's decision gives one; an officer's a few.
MAX_OFFICER_REASONS = 64

Progress = Callable[[int, int], None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


_RULE_SETS = RuleSetRecord.__table__  # type: ignore[attr-defined]
_INPUTS = DecisionInput.__table__  # type: ignore[attr-defined]
_CITED = CitedDocument.__table__  # type: ignore[attr-defined]
_NAMES = InputCitation.__table__  # type: ignore[attr-defined]
_SECRETS = ApplicantSecret.__table__  # type: ignore[attr-defined]
_SEALED = SealedInput.__table__  # type: ignore[attr-defined]


# -- references -------------------------------------------------------------------------------------------------


class _Memo:
    """A ledger's memo of values that never change once read (``Ledger.local``): one per ledger, never keyed by
    ``id()`` in a module global, which a later ledger on another database may reuse."""

    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.values: dict[Any, Any] = {}


def _secret(ledger: Ledger, department: str) -> bytes:
    memo = ledger.local("decisions.secrets", _Memo)
    key = department
    with memo.guard:
        if key in memo.values:
            return bytes(memo.values[key])
    binding = _SECRET_BINDING + department.encode("ascii")
    with ledger.engine.connect() as conn:
        sealed = conn.execute(select(_SECRETS.c.sealed).where(_SECRETS.c.department_id == department)).scalar()
    if sealed is None:
        _require_unused_secret(ledger, department)
        fresh = os.urandom(32)
        try:
            with ledger.engine.begin() as conn:
                conn.execute(
                    _SECRETS.insert().values(department_id=department, sealed=ledger.vault.seal(fresh, binding))
                )
            secret = fresh
        except IntegrityError:  # another writer created it first: use theirs
            with ledger.engine.connect() as conn:
                sealed = conn.execute(
                    select(_SECRETS.c.sealed).where(_SECRETS.c.department_id == department)
                ).scalar_one()
            secret = _opened_secret(ledger, department, sealed, binding)
    else:
        secret = _opened_secret(ledger, department, sealed, binding)
    with memo.guard:
        memo.values[key] = secret
    return secret


def existing_department_secret(ledger: Ledger, department: str) -> bytes | None:
    """:func:`department_secret` when ``department`` has one, None when it has none (none is made): for readers that
    check what the secret keyed (``logchain``'s marks) and must not create one."""
    memo = ledger.local("decisions.secrets", _Memo)
    with memo.guard:
        if department in memo.values:
            return bytes(memo.values[department])
    with ledger.engine.connect() as conn:
        sealed = conn.execute(select(_SECRETS.c.sealed).where(_SECRETS.c.department_id == department)).scalar()
    return None if sealed is None else _secret(ledger, department)


def department_secret(ledger: Ledger, department: str) -> bytes:
    """``department``'s secret, sealed by the vault (made at its first use): the key of its applicant and officer
    references, input commitments and log entry marks (``logchain.mark_key``)."""
    return _secret(ledger, department)


def _opened_secret(ledger: Ledger, department: str, sealed: Any, binding: bytes) -> bytes:
    """The applicant secret ``sealed`` (a row's value) opened; StateError naming the row when it is not the sealed
    bytes the ledger wrote (SQLite keeps whatever an insider writes: text, a number)."""
    try:
        if isinstance(sealed, (bytes, bytearray, memoryview)):
            return ledger.vault.open(bytes(sealed), binding)
    except LedgerError:
        pass
    raise StateError(
        f"department {department!r}'s applicant secret (table applicantsecret) does not open: the row was altered or "
        "moved past the ledger. Restore it from a backup; a new secret would give every applicant another "
        "reference, so credit listings and earlier decisions would no longer be recognised"
    )


def _require_unused_secret(ledger: Ledger, department: str) -> None:
    """StateError when ``department`` has no applicant secret but its decisions log holds entries, its erasures
    log an entry naming who erased by reference (``by_ref``), or any of its logs an entry bearing the ledger's mark
    (``logchain.entry_mark``, keyed by the secret): they were made with a secret (applicant and officer
    references, credit listings, input commitments, who erased) that is gone from the database, and a new one would
    give every applicant and member of staff another reference, so a credit-listed applicant would no longer be
    recognised, nor who erased (red team round 50). Only a department that never decided, listed anyone or erased
    under a reference gets a new secret."""
    entries = logchain.LogEntry
    with ledger.engine.connect() as conn:
        used = (
            conn.execute(
                select(col(entries.seq))
                .where(col(entries.log) == LOG_DECISIONS, col(entries.department_id) == department)
                .limit(1)
            ).first()
            or conn.execute(
                select(col(entries.seq))
                .where(
                    col(entries.log) == logchain.LOG_ERASURES,
                    col(entries.department_id) == department,
                    col(entries.body).contains('"by_ref":'),
                )
                .limit(1)
            ).first()
            # any entry of any of its logs bearing a mark: marks are keyed by this secret (logchain.mark_key), so a
            # new one would call every genuine pending entry an insider's (red team round 66)
            or conn.execute(
                select(col(entries.seq))
                .where(
                    col(entries.log).in_((logchain.LOG_DECISIONS, logchain.LOG_ACCESS, logchain.LOG_ERASURES)),
                    col(entries.department_id) == department,
                    col(entries.mark).is_not(None),
                )
                .limit(1)
            ).first()
        )
    if used is not None:
        raise StateError(
            f"department {department!r}'s applicant secret (table applicantsecret) is missing from the database, "
            "but its logs hold entries made with it: a new secret would give every applicant and member of staff a "
            "new reference (credit listings, earlier decisions and who erased would no longer be recognised) and "
            "call every log entry it marked an insider's. Nothing was decided, erased or anchored; restore the row from a backup of the database (it is sealed with the "
            "vault key)"
        )


def applicant_reference(ledger: Ledger, department: str, identity: str) -> str:
    """The salted reference ``department`` records for applicant ``identity`` (see the module docstring)."""
    return _reference(_secret(ledger, department), APPLICANT_PREFIX, identity, "applicant_ref")


def officer_ref(ledger: Ledger, department: str, officer: str) -> str:
    return _reference(_secret(ledger, department), OFFICER_PREFIX, officer, "officer")


# -- rule sets --------------------------------------------------------------------------------------------------


def _as_rule_set(rule_set: RuleSet | str | Path | Mapping[str, Any]) -> RuleSet:
    return rule_set if isinstance(rule_set, RuleSet) else load_rule_set(rule_set)


def _store_rule_set(
    ledger: Ledger, rule_set: RuleSet, department: str, tx_hash: str | None, block_number: int | None
) -> None:
    row = {
        "digest": rule_set.hex_digest,
        "rule_set_id": rule_set.rule_set_id,
        "version": rule_set.version,
        "service_item": rule_set.service_item,
        "document": canonical_body(rule_set.document).decode("utf-8"),
        "department_id": department,
        "tx_hash": tx_hash,
        "block_number": block_number,
        "published_at": _utcnow(),
    }
    with ledger.engine.begin() as conn:
        conn.execute(_insert_ignore(conn, _RULE_SETS), [row])


def _insert_ignore(conn: Any, table: Any) -> Any:
    """INSERT that skips rows whose primary key exists (same key = same content: keys are content digests)."""
    name = conn.dialect.name
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return table.insert().prefix_with("IGNORE")


def _insert_locking(conn: Any, table: Any) -> Any:
    """INSERT of content-addressed rows (keyed by ``ref``) that, where the key exists, keeps the row as it is but
    locks it for the transaction (PostgreSQL's ``DO NOTHING`` locks nothing): whoever deletes such a row with a lock
    (``_unrecorded``) waits for, or skips, this transaction instead of deleting a row it is about to name."""
    name = conn.dialect.name
    if name in ("sqlite", "postgresql"):
        insert = (sqlite if name == "sqlite" else postgresql).insert(table)
        return insert.on_conflict_do_update(index_elements=[table.c.ref], set_={"digest": table.c.digest})
    return _insert_ignore(conn, table)


def _chain_rule_set(ledger: Ledger, rule_set: RuleSet, department: str) -> int | None:
    """Block in which ``department`` published ``rule_set``, or None. Rule sets are kept per department on chain
    (BatchLog 2.1.0): another department publishing the same digest, even first, publishes its own. StateError when
    the publication names another service item than the rule set's own."""
    chain = ledger.chain
    _dept, item, block, _time = chain.call(
        chain.log.functions.ruleSet(department_id_bytes(department), rule_set.digest)
    )
    if int(block) and bytes(item) != service_item_bytes(rule_set.service_item):
        raise StateError(
            f"rule set {rule_set.rule_set_id!r} {rule_set.version} ({rule_set.hex_digest}) was published by "
            f"{department} in block {int(block)} as a rule set for service item {item_text(bytes(item))}, but it "
            f"serves {rule_set.service_item!r}: the chain's public record of which rules serve an item would be "
            "wrong, so it decides nothing. Publish a new version of it (another `version`, so another digest) with "
            f"`ledger rules publish FILE --department {department}`. Nothing was recorded"
        )
    return int(block) or None


def _refuse_another_document_under_its_version(ledger: Ledger, rule_set: RuleSet, department: str) -> None:
    """StateError when ``department`` already published another document under ``rule_set``'s id and version: a
    decision, the auditors' report and a court name the rules by them, and two documents under one name let either
    pass for the other. The stored documents of that id and version are read (an index-free read of a table of a few
    rows per rule set), and the chain asked whether ``department`` published each: a document is stored once, under
    the department that published it first."""
    with ledger.engine.connect() as conn:
        others = (
            conn.execute(
                select(_RULE_SETS.c.digest).where(
                    _RULE_SETS.c.rule_set_id == rule_set.rule_set_id,
                    _RULE_SETS.c.version == rule_set.version,
                    _RULE_SETS.c.digest != rule_set.hex_digest,
                )
            )
            .scalars()
            .all()
        )
    chain = ledger.chain
    for digest in sorted(others):
        try:
            published = chain.call(chain.log.functions.ruleSet(department_id_bytes(department), parse_hex32(digest)))
        except (InputError, ValueError):  # a stored digest of another form: an edited row, published by no one
            continue
        if int(published[2]):
            raise StateError(
                f"{department} already published rule set {rule_set.rule_set_id!r} version {rule_set.version} as "
                f"another document ({digest}, in block {int(published[2])}); this one ({rule_set.hex_digest}) differs "
                "from it, and decisions, reports and courts name the rules by id and version. Give the changed rules "
                f"a new `version` and publish that: `ledger rules publish FILE --department {department}`. Nothing "
                "was published"
            )


def _other_publishers(ledger: Ledger, digest: bytes, department: str) -> list[str]:
    """The departments other than ``department`` that published rule set ``digest`` (its RuleSetPublished events;
    read only to word a refusal)."""
    chain = ledger.chain
    logs = chainread.scan(
        chain, chain.log.events.RuleSetPublished, what="the rule set's publication", argument_filters={"digest": digest}
    )
    found = (bytes(log["args"]["departmentId"]).rstrip(b"\x00").decode("ascii", "replace") for log in logs)
    return sorted({code for code in found if code != department})


def require_approver(ledger: Ledger, department: str, what: str) -> None:
    """StateError unless ``department``'s key is the current key of an active approver department: only approvers
    decide and publish rule sets (the chain refuses the rest as well; this says so before anything is written)."""
    account = ledger.department_account(department)
    chain = ledger.chain
    if not chain.call(chain.registry.functions.isActiveSigner(account.address, ROLE_APPROVER)):
        raise StateError(
            f"department {department!r} cannot {what}: its key {account.address} is not the current key "
            "of an active department with the approver role (`ledger departments` shows the roles; "
            "the council grants roles)"
        )


def require_service_item(ledger: Ledger, department: str, item: str, what: str) -> None:
    """StateError unless the council made ``department`` responsible for service item ``item`` (it holds it now:
    DepartmentRegistry's service item grants; "*", every item, is a grant of its own). The chain refuses a rule set
    for an item the department does not hold (BatchLog 3.0.0, red team round 85s); this says so before anything is
    written, naming the council's command."""
    from .council import item_code  # here: council imports eth_account, which a replay worker never needs

    try:
        item_code(item)
    except InputError as exc:  # no council can grant it (a ',' splits a grant's codes): say so, not "grant it"
        raise InputError(
            f"department {department!r} cannot {what} for service item {item!r}: {exc}, so no department can hold "
            "it; give the service_item the item's code as the service catalogue publishes it (letters, "
            "digits and '-', e.g. 440300-SCJG-0107)",
            field="service_item",
        ) from None
    chain = ledger.chain
    fns = chain.registry.functions
    if not chain.call(fns.holdsServiceItem(department_id_bytes(department), service_item_bytes(item))):
        raise StateError(
            f"department {department!r} cannot {what} for service item {item!r}: the council has not made it "
            f"responsible for that item (never granted, or revoked); the council grants it: one member runs "
            f"`ledger council propose grant-item {department} {item}` and the others approve"
        )


def _holds_every_item(ledger: Ledger, department: str) -> bool:
    """Whether the council made ``department`` responsible for every service item ("*") now."""
    chain = ledger.chain
    return bool(
        chain.call(
            chain.registry.functions.holdsServiceItem(
                department_id_bytes(department), service_item_bytes(ANY_SERVICE_ITEM)
            )
        )
    )


def publish_rule_set(
    ledger: Ledger, rule_set: RuleSet | str | Path | Mapping[str, Any], department: str
) -> dict[str, Any]:
    """Publish ``rule_set`` on chain from approver ``department``'s key and store its canonical document.

    Idempotent: a rule set already on chain is only stored. Returns digest, department, block and transaction.
    StateError, nothing published, when ``department`` already published another document under the rule set's id
    and version (publish the change as a new version).
    A department without the approver role is refused even when someone else published the rule set. Another
    department's publication of the same digest (even an earlier one) is no obstacle: rule sets are kept per
    department on chain, and this publishes ``department``'s own.
    """
    rule_set = _as_rule_set(rule_set)
    check_rule_set_size(rule_set)  # nothing published or stored: its decisions' bundles would be unread
    check_item_published(rule_set)  # nor rules reading the item's attributes from the application (round 60c)
    chain = ledger.chain
    require_approver(ledger, department, "publish rule sets")
    existing = _chain_rule_set(ledger, rule_set, department)
    if existing is not None:
        _store_rule_set(ledger, rule_set, department, None, existing)
        return {
            "digest": rule_set.hex_digest,
            "rule_set_id": rule_set.rule_set_id,
            "department": department,
            "block_number": existing,
            "transaction": None,
            "already_published": True,
        }
    require_service_item(ledger, department, rule_set.service_item, "publish rule sets")
    _refuse_another_document_under_its_version(ledger, rule_set, department)
    account = ledger.department_account(department)
    receipt = chain.transact(
        account, chain.log.functions.publishRuleSet(rule_set.digest, service_item_bytes(rule_set.service_item))
    )
    tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    _store_rule_set(ledger, rule_set, department, tx_hash, int(receipt["blockNumber"]))
    return {
        "digest": rule_set.hex_digest,
        "rule_set_id": rule_set.rule_set_id,
        "department": department,
        "block_number": int(receipt["blockNumber"]),
        "transaction": tx_hash,
        "already_published": False,
    }


def load_recorded_rule_set(ledger: Ledger, digest: str) -> tuple[RuleSet | None, str | None]:
    """The stored rule set ``digest`` compiled, or (None, why not): "unknown" or "altered: ..."."""
    with ledger.engine.connect() as conn:
        text = conn.execute(select(_RULE_SETS.c.document).where(_RULE_SETS.c.digest == digest)).scalar()
    if text is None:
        return None, "unknown"

    try:
        rule_set = load_rule_set(json_loads(text))
    except (ValueError, InputError) as exc:
        return None, f"altered: the stored document no longer loads ({exc})"
    if rule_set.hex_digest != digest:
        return None, f"altered: the stored document's digest is now {rule_set.hex_digest}"
    return rule_set, None


def _not_own(rule_set: RuleSet, publishers: Sequence[str], department: str) -> StateError:
    return StateError(
        f"rule set {rule_set.rule_set_id!r} {rule_set.version} ({rule_set.hex_digest}) was published by "
        f"{', '.join(publishers)}, not {department}: a department decides only with rule sets it published itself "
        "(the chain binds a rule set - its policy, legal bases and the permit it produces - to the department whose "
        f"key published it). To adopt it, publish it yourself: `ledger rules publish FILE --department "
        f"{department}`. Nothing was recorded"
    )


def _require_own(ledger: Ledger, rule_set: RuleSet, department: str) -> None:
    """StateError unless ``department`` itself published ``rule_set`` on chain and its document is stored; InputError
    for a rule set too big for its decisions' evidence bundles (one published past the library)."""
    _publication(ledger, rule_set, department)


def _publication(ledger: Ledger, rule_set: RuleSet, department: str) -> int:
    """Block in which ``department`` published ``rule_set`` on chain, remembered per process once read; StateError
    when it did not (naming the departments that did) or the document is not stored."""
    published = ledger.local("decisions.published", _Memo)
    key = (department, rule_set.hex_digest)
    with published.guard:
        remembered: int | None = published.values.get(key)
    if remembered is not None:
        return remembered
    check_rule_set_size(rule_set)  # once per process, as the publication: every decision's bundle carries it whole
    on_chain = _chain_rule_set(ledger, rule_set, department)
    if on_chain is None:
        others = _other_publishers(ledger, rule_set.digest, department)
        if others:
            raise _not_own(rule_set, others, department)
        raise StateError(
            f"rule set {rule_set.rule_set_id!r} {rule_set.version} ({rule_set.hex_digest}) is not "
            f"published on chain by {department}; an approver department must publish it first (`ledger rules "
            f"publish FILE --department {department}`) - no decision was recorded"
        )
    stored, why = load_recorded_rule_set(ledger, rule_set.hex_digest)
    if stored is None and why == "unknown":
        _store_rule_set(ledger, rule_set, department, None, on_chain)  # published elsewhere: keep the document
    elif stored is None:
        raise StateError(
            f"the stored document of rule set {rule_set.hex_digest} was {why}; restore it from the "
            "published file before deciding with it"
        )
    with published.guard:
        published.values[key] = on_chain
    return on_chain


def _resolve_rule_set(ledger: Ledger, rule_set: RuleSet | str) -> RuleSet:
    if isinstance(rule_set, RuleSet):
        return rule_set
    if isinstance(rule_set, str) and rule_set.startswith("0x"):
        digest = hex32(parse_hex32(rule_set, "rule set digest"))
        loaded, why = load_recorded_rule_set(ledger, digest)
        if loaded is None:
            raise (
                NotFoundError(
                    f"rule set {digest} is {why}: no decision can use it; publish the rule set file "
                    "with `ledger rules publish`"
                )
                if why == "unknown"
                else StateError(f"rule set {digest} is {why}")
            )
        return loaded
    return load_rule_set(rule_set)


# -- recording --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """A recorded decision: its place in the department's decision log and its body."""

    department: str
    seq: int
    entry_hash: str
    body: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"department": self.department, "seq": self.seq, "entry_hash": self.entry_hash, **self.body}


def _time_text(value: datetime | None) -> str:
    now = _utcnow()
    value = value or now
    if value.tzinfo is None:
        raise InputError("decided_at must carry a time zone (UTC)")
    not_ahead(value, "decided_at", "a decision states the moment it was taken", now)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def officer_time(value: datetime | None) -> str:
    """:func:`_time_text` of the moment an officer's decision states (``record_human_decision``, an inspection's
    withdrawal), refused more than :data:`CLOCK_SKEW_SECONDS` before now: an officer's decision is taken when the
    officer records it (the CLI and the gateway record now). Stated minutes back it was listed in a time window it
    does not belong to (within the anchoring deadline replay could not tell), the permit an approval issues was valid
    from then, and an approval with the application judged a cited licence's validity at that moment while its
    status was read now (round 69's bound on the rules' decisions; red team round 71)."""
    now = _utcnow()
    at = _time_text(value)
    if value is not None and value < now - timedelta(seconds=CLOCK_SKEW_SECONDS):
        raise InputError(
            f"decided_at {at} is more than {CLOCK_SKEW_SECONDS} s before now ({_time_text(now)}): an officer's "
            "decision states the moment the officer takes it, which is when it is recorded (its time window, the "
            "validity of the permit an approval issues and the facts of the certificates it cites are read at it). "
            "Leave decided_at out (now). Nothing was recorded",
            field="decided_at",
        )
    return at


def _stated_at_head(
    ledger: Ledger, at: str, block: int | None = None, *, nothing: str = "Nothing was recorded"
) -> None:
    """InputError when a stated decision moment ``at`` is more than :data:`CLOCK_SKEW_SECONDS` before the time of
    ``block`` (by default the chain's head now), the block the facts are established at: a cited certificate's
    validity is judged at the stated moment while its status is read as of that block, so a decision stated last
    month approved on a licence that expired last week, and replay called the library's own record
    ``facts_block_invalid`` (red team round 69). The bound is replay's (``FACTS_CLOCK_SKEW``); a block whose time the
    node does not give is left to replay. ``nothing``: what was not done, for the message."""
    chain = ledger.chain
    number = chain.block_number() if block is None else block
    try:
        mined = block_timestamp(
            chain.w3.provider.make_request("eth_getBlockByNumber", block_params(number))  # type: ignore[arg-type]
        )
    except Exception as exc:  # the node's own failure (an error answer, no answer), said as a chain failure
        if isinstance(exc, LedgerError):
            raise
        raise ChainError(f"could not read block {number}'s time to check decided_at; try again") from exc
    moment = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
    if mined is not None and mined > moment + CLOCK_SKEW_SECONDS:
        raise InputError(
            f"decided_at {at} is before block {number}, the chain's head the facts are established at (mined "
            f"{datetime.fromtimestamp(mined, UTC).isoformat()}): a decision is taken on the facts of the head at its "
            f"moment, so it cannot state one more than {CLOCK_SKEW_SECONDS} s before it (a certificate's validity "
            f"would be judged then, its status now). Leave decided_at out (now). {nothing}",
            field="decided_at",
        )


def _establish(
    ledger: Ledger,
    department: str,
    prepared: Sequence[Mapping[str, Any]],
    applicants: Sequence[str],
    now: str,
    view: ChainView | None = None,
    references: Callable[[str], str] | None = None,
    read: tuple[Sequence[Sequence[Any]], Sequence[Sequence[Classified]]] | None = None,
    measured: Measured | None = None,
    sizes: Sequence[Sequence[int | None]] | None = None,
) -> tuple[int, list[list[CertificateFact]]]:
    """The head the decisions are taken at, and every certificate the applications cite verified against the
    chain as of that head (facts.py), each marked whether it names its applicant (``applicants``: their salted
    references, in the order of ``prepared``). ``read``: each application's citations and their :func:`classify`,
    computed from ``prepared`` already (``decide_many``'s chunk reading, :class:`_Chunk`): pure functions of the
    application, the same values. ``measured``: what :func:`seal_citations` measured of the inline documents; ``sizes``:
    the same, per citation, from a chunk read elsewhere (:func:`_citations.inline_sizes`)."""
    cited, classified = read if read is not None else ([citations(p) for p in prepared], None)
    view = view or ChainView(ledger.chain, ledger.settings.confirmations)
    if not any(cited):
        return view.head(), [[] for _ in prepared]
    moment = datetime.fromisoformat(now.replace("Z", "+00:00"))
    if classified is None:
        classified = [[classify(c) for c in row] for row in cited]  # each citation read once for the three uses
    stored = resolve_citations(ledger, prepared, classified)
    refuse_cited_past_bound(prepared, classified, stored, measured, sizes)  # before anything is read or logged
    _log_store_reads(ledger, department, prepared, stored, moment, classified)
    # a citation that could not be looked at (no such certificate in the store, an unreadable citation) is no
    # authentic certificate: its fact is built with holder False, which is what held_by would make of it
    facts = establish(view, cited, stored, now=moment, classified=classified, unseen_holder=False)
    block = next(f.as_of_block for row in facts for f in row if f.as_of_block is not None)

    def reference(identity: str) -> str:
        return applicant_reference(ledger, department, identity)

    salted = references or reference
    return block, [
        [f if f.holder is not None else f.held_by(applicant, salted) for f in row]
        for row, applicant in zip(facts, applicants, strict=True)
    ]


def _log_store_reads(
    ledger: Ledger,
    department: str,
    prepared: Sequence[Mapping[str, Any]],
    stored: Mapping[str, Mapping[str, Any]],
    at: datetime,
    classified: Sequence[Sequence[Classified]] | None = None,
) -> None:
    """Append to each issuer's access log the reads ``department``'s decisions make of its certificates: a
    citation by digest alone is verified from the issuer's store (fields and salts opened), and what the decision
    learns (type, status, validity, whether the certificate names the applicant) is the certificate's content. The
    issuer and the data subject see who read it and for which case, as for a read through a grant. A department
    reading its own certificates is its own processing, not logged here."""
    bodies: dict[str, list[dict[str, Any]]] = {}
    for decision_input, digests in zip(prepared, store_reads(prepared, stored, classified), strict=True):
        for digest in sorted(digests):
            fields = stored[digest].get("fields")
            issuer = fields.get("issuer") if isinstance(fields, Mapping) else None
            if not isinstance(issuer, str) or issuer == department:
                continue
            bodies.setdefault(issuer, []).append(
                accesslog.entry_body(
                    certificate=digest,
                    action="read",
                    outcome="served",
                    actor=department,
                    signer=None,
                    at=at,
                    purpose=f"decision of case {decision_input.get('case_id')}",
                    detail="cited by digest in an application: verified from the issuer's store for the decision "
                    "(type, status, validity, whether it names the applicant)",
                )
            )
    for issuer, entries in sorted(bodies.items()):
        accesslog.record_many(ledger, issuer, entries, at)


def _automatic_body(
    rule_set: RuleSet,
    prepared: dict[str, Any],
    facts: Sequence[CertificateFact],
    input_digest: str,
    applicant: str,
    decided_at: str,
    as_of_block: int,
    credit: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    # The applicant's credit status is the ledger's (its credit list as of the decision block), never the
    # application's own claim; the decision records what the rules read (supervision.py).
    view = facts_view(prepared, facts)
    if credit is not None:
        view = supervision.with_credit(view, credit)
    result = evaluate(rule_set, view)
    body = {
        "format": DECISION_FORMAT,
        "case_id": prepared["case_id"],
        "service_item": prepared["service_item"],
        "applicant_ref": applicant,
        "input_digest": input_digest,
        "certificates": [f.to_json() for f in facts],
        "rule_set": rule_set.hex_digest,
        "engine": ENGINE_VERSION,
        "outcome": result.outcome,
        "reasons": list(result.reasons),
        "legal_basis": rule_set.legal_basis(result.reasons),
        "fired": list(result.fired),
        "decided_by": {"kind": "engine", "engine": ENGINE_VERSION},
        "decided_at": decided_at,
        "as_of_block": as_of_block,
        "overrides": None,
    }
    if credit is not None:
        body["credit"] = dict(credit)
    commitment = supervision.commitment_of(rule_set, result.outcome, result.fired, decided_at)
    if commitment is not None:
        body["commitment"] = commitment
    return body


def _citation_links(input_digest: str, kept: Mapping[str, Any]) -> list[dict[str, str]]:
    """The ``InputCitation`` rows of stored input ``input_digest`` (``kept``, as stored): the copies it names."""
    return [{"input_digest": input_digest, "ref": ref} for ref in named_copies(kept)]


def _store_inputs(
    ledger: Ledger,
    rows: list[dict[str, str]],
    documents: Mapping[str, Mapping[str, Any]] | None = None,
    links: Sequence[dict[str, str]] = (),
    labels: Mapping[str, str] | None = None,
    sealed: Mapping[str, tuple[Mapping[str, Any], Mapping[str, bytes]]] | None = None,
) -> None:
    """``sealed``: input digest -> (the fields its rule set keeps out of the stored text, their random salts)
    (``decision_input.seal_fields``), sealed by the vault into ``SealedInput`` in the same transaction.

    Store decision inputs, which cited copies each names (``links``, :func:`_citation_links`) and the documents
    they cite inline, sealed by the vault and labelled with the certificate digest computed from them, so that
    erasing that certificate reaches them. A cited copy of a certificate already erased in this store is never
    kept: its row holds the erasure marker from the start. ``labels``: :func:`cited_certificate_digest` of each of
    ``documents``, computed already (``decide_many``'s chunk reading)."""
    labelled = (
        {ref: labels[ref] for ref in documents or {}}
        if labels is not None
        else {ref: cited_certificate_digest(doc) for ref, doc in (documents or {}).items()}
    )
    kept = documents or {}
    labelled = {ref: digest or label_typeless(ledger, kept[ref]) for ref, digest in labelled.items()}
    erased = _erased_in_store(ledger, [d for d in labelled.values() if d])
    cited: list[dict[str, Any]] = [
        {
            "ref": ref,
            "digest": labelled[ref],
            "sealed": ERASED
            if labelled[ref] in erased
            else ledger.vault.seal(json.dumps(doc, ensure_ascii=False).encode("utf-8"), bytes.fromhex(ref[2:])),
        }
        for ref, doc in (documents or {}).items()
    ]
    apart = [(d, _seal_apart(ledger, d, fields, salts)) for d, (fields, salts) in (sealed or {}).items()]
    if rows or cited:
        with ledger.engine.begin() as conn:
            # one executemany each in the driver's placeholders (store.insert_rows), keys being content digests
            insert_rows(
                conn, _INPUTS, ("digest", "document"), [(r["digest"], r["document"]) for r in rows], skip_existing=True
            )
            insert_rows(
                conn,
                _NAMES,
                ("input_digest", "ref"),
                [(n["input_digest"], n["ref"]) for n in links],
                skip_existing=True,
            )
            if apart:
                insert_rows(conn, _SEALED, ("input_digest", "sealed"), apart, skip_existing=True)
            if cited:
                # inserted, or the row already there locked (never skipped unlocked): a refused decision's cleanup
                # running meanwhile then leaves this copy alone, though this input naming it is not yet committed
                conn.execute(_insert_locking(conn, _CITED), cited)
                _erased_meanwhile(conn, {ref: digest for ref, digest in labelled.items() if digest not in erased})


def _seal_apart(ledger: Ledger, input_digest: str, fields: Mapping[str, Any], salts: Mapping[str, bytes]) -> bytes:
    """The fields a stored input keeps apart and their random salts, sealed by the vault bound to the input."""
    plain = json.dumps(
        {"fields": dict(fields), "salts": {n: s.hex() for n, s in salts.items()}}, ensure_ascii=False, sort_keys=True
    )
    return ledger.vault.seal(plain.encode("utf-8"), bytes.fromhex(input_digest[2:]))


def load_sealed_inputs(
    ledger: Ledger, digests: Sequence[str]
) -> dict[str, tuple[dict[str, Any], dict[str, bytes]] | None]:
    """The fields stored inputs ``digests`` keep sealed apart, opened: input digest -> (fields, random salts), or
    None where their erasure destroyed them; an absent row is left out, and so is one that does not open (altered
    or moved: the caller reports it as missing)."""
    found: dict[str, tuple[dict[str, Any], dict[str, bytes]] | None] = {}
    wanted = list(dict.fromkeys(digests))
    for i in range(0, len(wanted), 900):
        with ledger.engine.connect() as conn:
            rows = conn.execute(
                select(_SEALED.c.input_digest, _SEALED.c.sealed).where(_SEALED.c.input_digest.in_(wanted[i : i + 900]))
            ).all()
        for digest, blob in rows:
            if bytes(blob) == ERASED:
                found[digest] = None
                continue
            try:
                opened = json_loads(ledger.vault.open(bytes(blob), bytes.fromhex(digest[2:])))
                found[digest] = (
                    dict(opened["fields"]),
                    {str(n): bytes.fromhex(h) for n, h in opened["salts"].items()},
                )
            except (LedgerError, ValueError, KeyError, TypeError, AttributeError):
                continue
    return found


def _attest_erased(ledger: Ledger, department: str, bodies: Sequence[Mapping[str, Any]]) -> None:
    """After decisions were recorded: the facts they established from a copy, cited inline, of a certificate its
    issuer has erased (the copy is never kept, so nothing else could re-establish them) go to the issuer's
    ``erasures`` log (``erasure.attest_citations``), which replay reads instead of the records it checks."""
    cited = {
        f["digest"]: None
        for body in bodies
        for f in (body.get("certificates") or [])
        if isinstance(f, Mapping) and f.get("verified") is True and isinstance(f.get("digest"), str)
    }
    # asked again now, not from the decision's first look: an erasure that committed meanwhile counts too
    erased = _stored_erased(ledger, list(cited), waiting=True) if cited else set()
    if not erased:
        return
    from .erasure import attest_citations

    items: dict[str, list[dict[str, Any]]] = {}
    for body in bodies:
        for i, fact in enumerate(body.get("certificates") or []):
            if isinstance(fact, Mapping) and fact.get("verified") is True and fact.get("digest") in erased:
                items.setdefault(fact["digest"], []).append(
                    {
                        "department": department,
                        "input_digest": body.get("input_digest"),
                        "citation": i,
                        "holder": fact.get("holder"),
                        "expired": fact.get("expired"),
                    }
                )
    attest_citations(ledger, items)


def _erased_meanwhile(conn: Any, labelled: Mapping[str, str]) -> None:
    """Inside the transaction that stored the copies ``labelled`` (ref -> digest): destroy those whose certificate
    an erasure running at the same time has erased. The certificate rows are read with a shared lock after the
    insert, so either the erasure committed first and is seen here, or it waits for this transaction and then
    finds the copies itself (SQLite: the insert already holds the database's write lock)."""
    digests = sorted({d for d in labelled.values() if d})
    erased: set[str] = set()
    for i in range(0, len(digests), 900):
        found = conn.execute(
            select(col(Certificate.digest), col(Certificate.sealed))
            .where(generations.digest_in(conn, digests[i : i + 900]))
            .with_for_update(read=True)
        )
        erased.update(digest for digest, sealed in found if bytes(sealed) == ERASED)
    refs = [ref for ref, digest in labelled.items() if digest in erased]
    for i in range(0, len(refs), 900):
        conn.execute(_CITED.update().where(_CITED.c.ref.in_(refs[i : i + 900])).values(sealed=ERASED))


def label_typeless(ledger: Ledger, document: Any) -> str:
    """The digest of the certificate of this store that cited ``document`` is a copy of, when no digest can be
    computed from the copy alone (``cited_certificate_digest`` gave ``""``): a copy whose holder hid its ``type``
    (pl-cert/2: the digest commits to the type) still carries every other field and salt, and is found by its fields
    digest under each certificate type this store's batches are of (a few; the digest is a SHA-256, so at most one
    is a certificate). ``""`` when the copy is of no certificate stored here, which no erasure of this ledger could
    reach anyway (red team round 55: such a copy outlived its certificate's erasure)."""
    from ..formats.canonical import typed_digest
    from ..storage.store import Batch

    inner = cited_fields_digest(document) if isinstance(document, Mapping) else None
    fields = document.get("fields") if isinstance(document, Mapping) else None
    if inner is None or (isinstance(fields, Mapping) and "type" in fields):
        return ""  # a copy stating a type: its digest was computed from it (an edited copy's is no certificate's)
    with ledger.engine.connect() as conn:
        # one seek of ix_batch_schema_id per type (a skip scan by hand: DISTINCT read every batch row)
        schemas: list[str] = []
        while True:
            least = select(func.min(col(Batch.schema_id)))
            if schemas:
                least = least.where(col(Batch.schema_id) > schemas[-1])
            if (schema := conn.execute(least).scalar()) is None:
                break
            schemas.append(schema)
        candidates = {hex32(typed_digest(parse_hex32(schema), inner)) for schema in schemas if _hex32(schema)}
        found = conn.execute(
            select(col(Certificate.digest)).where(generations.digest_in(conn, sorted(candidates))).limit(1)
        ).scalar()
    return hex32(parse_hex32(found)) if found else ""


def _hex32(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"0x[0-9a-fA-F]{64}", value) is not None


def _erased_in_store(ledger: Ledger, digests: Sequence[str]) -> set[str]:
    """Those of ``digests`` whose certificate this ledger stores and has erased, as a decision first looks (before
    anything is stored); :func:`_stored_erased` is the same question asked after recording (``_attest_erased``),
    kept apart so that a test reproducing a race can make the first look miss an erasure without the second."""
    return _stored_erased(ledger, digests)


def _stored_erased(ledger: Ledger, digests: Sequence[str], *, waiting: bool = False) -> set[str]:
    """Those of ``digests`` whose certificate this ledger stores and has erased. ``waiting`` (the question asked
    after recording, :func:`_attest_erased`): each row read with a shared lock, so that an erasure sealing it now is
    waited for and its seal seen (PostgreSQL; SQLite's writer already committed or not before this record): the
    erasure's seal attests, in its own transaction, every citation recorded before it (``erasure.erase``), and
    this decision attests its own when it was not."""
    found: set[str] = set()
    wanted = list(dict.fromkeys(digests))
    for i in range(0, len(wanted), 900):
        with ledger.engine.connect() as conn:
            if waiting:  # every row of the digests, not those sealed: a row being sealed must be waited for
                query = select(col(Certificate.digest), col(Certificate.sealed)).where(
                    generations.digest_in(conn, wanted[i : i + 900])
                )
                found.update(
                    d for d, sealed in conn.execute(query.with_for_update(read=True)) if bytes(sealed) == ERASED
                )
                continue
            found.update(
                conn.execute(
                    select(col(Certificate.digest)).where(
                        generations.digest_in(conn, wanted[i : i + 900]), col(Certificate.sealed) == ERASED
                    )
                ).scalars()
            )
    return found


def load_cited_documents(ledger: Ledger, refs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The sealed cited documents ``refs`` (content addresses), opened; absent, erased or altered ones are left
    out."""
    found: dict[str, dict[str, Any]] = {}
    wanted = list(dict.fromkeys(refs))
    for i in range(0, len(wanted), 900):
        with ledger.engine.connect() as conn:
            rows = conn.execute(select(_CITED.c.ref, _CITED.c.sealed).where(_CITED.c.ref.in_(wanted[i : i + 900])))
            for ref, sealed in rows:
                # what is not sealed bytes (SQLite keeps an insider's text or number) is altered: left out as well
                if not isinstance(sealed, (bytes, bytearray, memoryview)) or bytes(sealed) == ERASED:
                    continue
                try:
                    document = json_loads(ledger.vault.open(bytes(sealed), bytes.fromhex(ref[2:])))
                except (LedgerError, ValueError):
                    continue
                if isinstance(document, dict) and document_ref(document) == ref:
                    found[ref] = document
    return found


def erased_citations(ledger: Ledger, refs: Sequence[str]) -> dict[str, str]:
    """Of the cited documents ``refs``, those whose copy was destroyed by the erasure of their certificate:
    ref -> the certificate digest their row names (replay checks it against the decision record and the
    ``erasures`` log before believing it)."""
    found: dict[str, str] = {}
    wanted = list(dict.fromkeys(refs))
    for i in range(0, len(wanted), 900):
        with ledger.engine.connect() as conn:
            rows = conn.execute(
                select(_CITED.c.ref, _CITED.c.digest).where(
                    _CITED.c.ref.in_(wanted[i : i + 900]), _CITED.c.sealed == ERASED
                )
            )
            found.update({ref: digest for ref, digest in rows if digest})
    return found


def _credit_statuses(
    ledger: Ledger, department: str, applicants: Sequence[str], block: int, at: str
) -> dict[str, dict[str, Any]]:
    from .supervision import credit_statuses

    return credit_statuses(ledger, department, applicants, block, at)


def _input_commitments(
    ledger: Ledger, department: str, kept: Mapping[str, Any], input_digest: str, identity: str
) -> dict[str, str]:
    """The record's field-by-field commitments to its stored input and to the applicant's identity
    (``decision_input.py``): what lets an evidence bundle disclose the input selectively for a court's re-run."""
    from ..formats.decision_input import commit

    inputs, applicant = commit(_secret(ledger, department), kept, input_digest, identity)
    return {"input_commitment": inputs, "applicant_commitment": applicant}


def _recorded(ledger: Ledger, department: str, body: dict[str, Any], guard: logchain.Guard | None = None) -> Decision:
    entry = logchain.append(ledger, LOG_DECISIONS, department, body, guard=guard)
    return Decision(department, entry.seq, entry.entry_hash, body)


def _undecided_guard(
    ledger: Ledger,
    department: str,
    case_ids: Sequence[str],
    produced: permits.Produced | None,
    keys: Sequence[str] | None = None,
    opened: Mapping[str, tuple[str, str]] | None = None,
) -> logchain.Guard:
    """Asked inside the transaction that records decisions of ``case_ids`` (:data:`logchain.Guard`): that none of
    them was decided automatically (another process - a gateway replica, a second bulk run - deciding one of them at
    the same instant is seen there, or makes this append collide and ask again), then the permits ``produced`` for
    them, stored held, become sendable in the same transaction. ``keys``, ``opened``: see
    :func:`_decided_automatically` (an officer's decision opening a case meanwhile is asked about here too)."""

    def guard(conn: Connection) -> None:
        _refuse_decided(ledger, department, case_ids, conn=conn, keys=keys, opened=opened)
        if produced is not None:
            produced.release(conn)

    return guard


def _one_permit_guard(
    ledger: Ledger,
    department: str,
    case_id: str,
    produced: permits.Produced,
    overrides: Mapping[str, Any] | None,
    approved_at: str | None = None,
) -> logchain.Guard:
    """Asked inside the transaction that records an officer's decision (:data:`logchain.Guard`): that the decision it
    overrides (``overrides``; None: the case had none) is still the case's latest - a decision recorded meanwhile (the
    rules approving the case, another officer) would otherwise be passed over, a refusal withdrawing nothing of what
    it issued; for an approval stating ``approved_at``, that no erasure of the case states that moment or a later one
    (``erasure.approval_after_erasure``); when it issues a permit, that the case got no live permit meanwhile (two
    officers approving it at the same instant would otherwise leave two); then the permit becomes sendable in the
    same transaction."""

    def guard(conn: Connection) -> None:
        if approved_at is not None:
            from .erasure import approval_after_erasure

            # an erasure of the case being made meanwhile waits for this transaction or is waited for and seen
            # (logchain.hold_log, which its guard takes too; red team round 47b)
            logchain.hold_log(conn, LOG_DECISIONS, department)
            approval_after_erasure(ledger, department, case_id, approved_at, conn=conn)
        decided = find_decisions(ledger, department, case_id, conn=conn)
        latest = {"seq": decided[-1].seq, "entry_hash": decided[-1].entry_hash} if decided else None
        if latest != (dict(overrides) if overrides is not None else None):
            raise StateError(
                f"case {case_id!r} was decided meanwhile: decision {decided[-1].seq} "
                f"({decided[-1].body.get('outcome')}) is now its latest, and this decision "
                + (f"overrides decision {overrides.get('seq')}" if overrides is not None else "overrides none")
                + " - nothing was recorded; an officer's decision replaces the case's latest word: record it again "
                f"with overrides={decided[-1].seq}"
            )
        if produced.digests:
            standing = permits.live(ledger, department, case_id, conn=conn)
            if standing:
                raise StateError(
                    f"case {case_id!r} got a live permit ({standing[0]}) while this approval was being recorded: "
                    "a case has one live permit - nothing was recorded; record the decision again (it then "
                    "confirms the case and issues none)"
                )
        produced.release(conn)

    return guard


def _unrecorded(
    ledger: Ledger,
    produced: permits.Produced | None,
    input_digests: Sequence[str],
    cited_refs: Iterable[str] = (),
) -> None:
    """Undo what was stored for decisions that were then not recorded: their permits (held, never sent), their
    stored inputs (each unique to its decision by its nonce, so no other decision names them) and the copies of
    the documents they cited inline that no other stored input names (``ix_inputcitation_ref``)."""
    if produced is not None:
        produced.discard(ledger)
    with ledger.engine.begin() as conn:
        for i in range(0, len(input_digests), 900):
            chunk = list(input_digests[i : i + 900])
            conn.execute(_NAMES.delete().where(_NAMES.c.input_digest.in_(chunk)))
            conn.execute(_INPUTS.delete().where(_INPUTS.c.digest.in_(chunk)))
            conn.execute(_SEALED.delete().where(_SEALED.c.input_digest.in_(chunk)))
        for ref in dict.fromkeys(cited_refs):  # a refusal is rare and cites a few: one indexed lookup each
            # A decision storing an input that names this copy holds its row locked until it commits (its input's
            # citation is invisible here until then): such a copy is left alone, never deleted under it. A copy
            # nobody holds is locked first, so the inputs naming it are asked after any such writer has committed.
            held = conn.execute(
                select(_CITED.c.ref).where(_CITED.c.ref == ref).with_for_update(skip_locked=True)
            ).first()
            if held is None:
                continue
            named = conn.execute(select(_NAMES.c.input_digest).where(_NAMES.c.ref == ref).limit(1)).first()
            if named is None:
                conn.execute(_CITED.delete().where(_CITED.c.ref == ref))


def decide(
    ledger: Ledger,
    department: str,
    case_id: str,
    service_item: str,
    decision_input: Mapping[str, Any],
    rule_set: RuleSet | str,
    *,
    applicant_ref: str,
    decided_at: datetime | None = None,
) -> Decision:
    """Decide one case automatically with a published rule set and record it in ``department``'s decision log.

    ``applicant_ref`` is the applicant's identity; only its salted digest is recorded. Anchoring happens in batches
    (:func:`ledger.services.logchain.anchor_pending`, or :func:`decide_many`). A case ``department`` already decided
    automatically is refused (StateError naming that decision): deciding again is an officer's override
    (:func:`record_human_decision`), never a re-run of the rules on other input until the outcome suits.
    """
    department_id_bytes(department)
    applicant_identity(applicant_ref)
    require_approver(ledger, department, "record decisions")
    rules = _resolve_rule_set(ledger, rule_set)
    require_service_item(ledger, department, rules.service_item, "record decisions")
    check_item_published(rules)  # one stored before round 60c reads the item from the application: it decides nothing
    permits.require_issuer(ledger, department, rules)
    prepared = _prepare_input(case_id, service_item, decision_input)
    _require_own(ledger, rules, department)
    applicant = applicant_reference(ledger, department, applicant_ref)
    opened = {case_id: (prepared["service_item"], applicant)}
    _refuse_decided(ledger, department, [case_id], opened=opened)
    measured: Measured = {}
    kept, documents = seal_citations(prepared, measured)
    stored, personal, salts = seal_fields(kept, rules.personal)  # what a certificate copies: never in clear
    digest, row = _input_row(_with_nonce(stored), personal)
    # now is after every erasure logged so far, not after one made while this case is decided (round 47b)
    seen = _erasure_log_head(ledger, department) if decided_at is None else None
    at = _time_text(decided_at)
    if decided_at is not None:
        _stated_at_head(ledger, at)  # before anything is read or logged
    block, (facts,) = _establish(ledger, department, [prepared], [applicant], at, measured=measured)
    if decided_at is not None:
        _stated_at_head(ledger, at, block)  # a block mined meanwhile
    credit = _credit_statuses(ledger, department, [applicant], block, at)[applicant]
    body = _automatic_body(rules, kept, facts, digest, applicant, at, block, credit)
    body.update(_input_commitments(ledger, department, stored, digest, applicant_ref))
    if decided_at is not None:
        _after_erasures(ledger, department, [body])
    _store_inputs(
        ledger,
        [row],
        documents,
        _citation_links(digest, kept),
        sealed={digest: (personal, salts)} if personal else None,
    )
    # an approval under a rule set that produces a certificate issues it now (permits.py): stored held, named by
    # the decision, made sendable as the decision is recorded, then anchored
    produced: permits.Produced | None = None
    try:
        produced = permits.prepare(ledger, department, [(rules, body, prepared, applicant_ref)])
        guard = _erasures_guard(
            ledger, department, [body], _undecided_guard(ledger, department, [case_id], produced, opened=opened), seen
        )
        decision = _recorded(ledger, department, body, guard)
    except LedgerError as exc:  # not recorded (e.g. decided meanwhile by another process): this one leaves nothing
        _unrecorded(ledger, produced, [digest], (documents or {}).keys())
        if not isinstance(exc, _DecidedAlready):  # the guard's refusal names the rival already
            _refuse_decided(ledger, department, [case_id])  # a rival's decision: named (its permit took this one's id)
        raise
    permits.link(ledger, department, decision.seq - 1, [body])
    _attest_erased(ledger, department, [body])
    produced.anchor(ledger)
    return decision


def _erasure_log_head(ledger: Ledger, department: str) -> int:
    """``erasure.log_head``, imported when called (erasure imports this module)."""
    from .erasure import log_head

    return log_head(ledger, department)


def _after_erasures(
    ledger: Ledger, department: str, bodies: Sequence[Mapping[str, Any]], conn: Connection | None = None
) -> None:
    """InputError for an approval among ``bodies`` stating a moment no later than an erasure of its case
    (``erasure.approval_after_erasure``): the rules may decide a case an officer refused first, and one erased since,
    approved at a stated moment before its erasure, made replay call the library's erasure ``case_erased_in_force``
    (red team round 47). Asked only for a stated ``decided_at``: now is after every erasure made, and the bulk path
    pays no query per case for it. ``conn``: asked in the recording transaction (:func:`_erasures_guard`)."""
    from .erasure import approval_after_erasure

    for body in bodies:
        if body.get("outcome") == "approve":
            approval_after_erasure(ledger, department, str(body["case_id"]), str(body["decided_at"]), conn=conn)


def _erasures_guard(
    ledger: Ledger,
    department: str,
    bodies: Sequence[Mapping[str, Any]],
    guard: logchain.Guard,
    since: int | None = None,
) -> logchain.Guard:
    """``guard``, asked after the approvals among ``bodies`` were checked against the case erasures inside the
    transaction that records them, with the decisions log held (``logchain.hold_log``, which a case erasure's guard
    takes too): an erasure of one of their cases made meanwhile is seen, or waits and then sees them (red team round
    47b). A stated ``decided_at``: :func:`_after_erasures` (asked before only, it missed an erasure committed between
    the two, and on PostgreSQL one being made at the same instant). Now, taken after the erasures log's head
    ``since`` was read: only the entries after it (``erasure.approvals_after_erasures_since``), since every erasure
    logged before states a moment before now, and one made while the rules decided may state a later one."""
    approvals = [body for body in bodies if body.get("outcome") == "approve"]
    if not approvals:
        return guard

    def checked(conn: Connection) -> None:
        logchain.hold_log(conn, LOG_DECISIONS, department)
        if since is None:
            _after_erasures(ledger, department, approvals, conn)
        else:
            from .erasure import approvals_after_erasures_since

            stated = {str(body["case_id"]): str(body["decided_at"]) for body in approvals}
            approvals_after_erasures_since(ledger, department, stated, since, conn)
        guard(conn)

    return checked


def decide_once(
    ledger: Ledger,
    department: str,
    case_id: str,
    service_item: str,
    decision_input: Mapping[str, Any],
    rule_set: RuleSet | str,
    *,
    applicant_ref: str,
) -> Decision:
    """:func:`decide`, refusing a case this department already decided automatically (StateError naming that
    decision): a client retrying a request, or sending an application again with other input, gets no second
    decision and no second permit. Deciding again is an officer's override (:func:`record_human_decision`).

    Serialised per case within this ledger object (one gateway process), so concurrent requests for one case wait
    rather than build twice; replicas of a gateway deciding the same case at the same instant are kept to one
    decision by :func:`decide`'s check inside the recording transaction."""
    if isinstance(rule_set, str) and not rule_set.startswith("0x"):  # never a path from whoever sent the request
        raise InputError(f"rule set {rule_set!r} is not a digest (0x + 64 hex digits) of a published rule set")
    stripes = ledger.local("decisions.case_locks", lambda: [threading.Lock() for _ in range(_CASE_LOCKS)])
    with stripes[hash((department, case_id)) % _CASE_LOCKS]:  # decide() refuses a case decided before
        return decide(ledger, department, case_id, service_item, decision_input, rule_set, applicant_ref=applicant_ref)


_CASE_LOCKS = 256  # striped: bounded memory however many cases a process decides


def _decided_automatically(
    ledger: Ledger,
    department: str,
    case_ids: Sequence[str],
    conn: Connection | None = None,
    keys: Sequence[str] | None = None,
    opened: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, Decision]:
    """Of ``case_ids``, those the rules may not decide, each with the decision that settles it: its first automatic
    decision when ``department`` already decided it automatically; else, for a case a decision of which approved it
    (an officer's), its latest decision when that approves it (a refusal by the rules would leave the approval's permit
    live beside it) or the decision that withdrew the approval (an officer's refusal, an inspection's withdrawal: an
    approval by the rules would issue a fresh permit for the withdrawn case). A case once approved is changed,
    withdrawn or restored by an officer's override, never by the rules. One indexed query (``ix_logentry_lookup``) per
    900 cases, never a scan of the log. ``conn``: read in that connection's transaction (an append's,
    :data:`logchain.Guard`). ``keys``: the cases' index keys (``sorted({lookup_key(c) for c in case_ids})``),
    computed already (``decide_many``'s chunk reading, :class:`_Chunk`). ``opened``: the service item and applicant
    reference each case is about to be decided for (:func:`_require_case_opened_as`)."""
    from .logchain import LogEntry, lookup_key, read_body

    if keys is None:
        keys = sorted({lookup_key(c) for c in case_ids})
    wanted = set(case_ids)
    found: dict[str, Decision] = {}
    history: dict[str, list[Decision]] = {}
    t = LogEntry.__tablename__
    head = (
        f"SELECT {t}.seq, {t}.entry_hash, {t}.body FROM {t} "  # noqa: S608
        f"WHERE {t}.log = {{mark}} AND {t}.department_id = {{mark}} AND {t}.lookup"
    )
    if conn is not None:
        rows = list(rows_in(conn, head, (LOG_DECISIONS, department), keys))
    else:
        with ledger.engine.connect() as own:
            rows = list(rows_in(own, head, (LOG_DECISIONS, department), keys))
    for seq, entry_hash, text in rows:
        body = read_body(text, LOG_DECISIONS, department, seq)  # unreadable: refused, naming the entry
        case = body.get("case_id")
        decided_by = body.get("decided_by")
        if not isinstance(case, str) or case not in wanted or not isinstance(decided_by, dict):
            continue
        decision = Decision(department, int(seq), entry_hash, body)
        if decided_by.get("kind") == "engine" and (case not in found or int(seq) < found[case].seq):
            found[case] = decision
        history.setdefault(case, []).append(decision)
    if opened is not None:
        _require_case_opened_as(history, found, opened, case_ids)
    for case, decided in history.items():
        if case in found:
            continue
        decided.sort(key=lambda d: d.seq)
        approved = [d for d in decided if d.body.get("outcome") == "approve"]
        if not approved:
            continue  # only referred or refused by officers: the rules may decide it once
        if decided[-1].body.get("outcome") == "approve":
            found[case] = decided[-1]
        else:  # the decision that withdrew the case's last approval
            found[case] = next(d for d in decided if d.seq > approved[-1].seq)
    return found


def _require_case_opened_as(
    history: Mapping[str, list[Decision]],
    found: Mapping[str, Decision],
    opened: Mapping[str, tuple[str, str]],
    case_ids: Sequence[str],
) -> None:
    """InputError (the first in ``case_ids`` order) when the rules are to decide a case an officer decided first
    (referred or refused it: the rules may still decide it once) for another service item or applicant than that
    officer's decision names: a case is one applicant's application for one item, and the rules' approval issued a
    permit for another item and applicant that the library's own replay then called ``item_changed`` and
    ``applicant_changed`` (red team round 70). A case the rules decided already is refused as such instead."""
    for case in case_ids:
        decided = history.get(case)
        if not decided or case in found or case not in opened:
            continue
        first = min(
            (d for d in decided if d.body.get("format") != supervision.SUPERVISION_FORMAT),
            key=lambda d: d.seq,
            default=None,
        )
        if first is None:
            continue
        item, applicant = opened[case]
        stated_item, stated_applicant = first.body.get("service_item"), first.body.get("applicant_ref")
        if isinstance(stated_item, str) and stated_item != item:
            raise InputError(
                f"case {case!r} was opened by an officer's decision {first.seq} for service item {stated_item!r}, not "
                f"{item!r}: the rules decide a case for the item it was applied for (an application for another item "
                "is a new case). Nothing was recorded",
                field="service_item",
            )
        if isinstance(stated_applicant, str) and stated_applicant != applicant:
            raise InputError(
                f"case {case!r} is another applicant's: the officer's decision {first.seq} that opened it names another "
                "applicant than the identity given (applicant_ref); the rules decide a case for the applicant it is "
                "about - give that applicant's identity, or decide this application as a case of its own. Nothing was "
                "recorded",
                field="applicant_ref",
            )


class _DecidedAlready(StateError):
    """The refusal of a case decided automatically before, naming that decision (:func:`_refuse_decided`)."""


def _decided_already(case_id: str, first: Decision) -> StateError:
    kind = first.body.get("decided_by", {}).get("kind")
    if kind != "engine" and first.body.get("outcome") == "approve":  # an officer's approval (_decided_automatically)
        return _DecidedAlready(
            f"case {case_id!r} was approved by an officer: decision {first.seq} ({first.body.get('decided_at')}); "
            "the rules do not decide an approved case again (a refusal would leave its permit live) - an officer "
            f"changes or withdraws the approval by overriding it (`ledger record-decision ... --overrides {first.seq}`)"
        )
    if kind != "engine":  # the refusal that withdrew an officer's approval of the case
        withdrawal = first.body.get("withdrawal")
        finding = withdrawal.get("finding") if isinstance(withdrawal, dict) else None
        how = (
            f"after inspection finding {finding.get('seq')} found it non-conforming"
            if isinstance(finding, dict)
            else "by an officer's refusal"
        )
        return _DecidedAlready(
            f"case {case_id!r} was approved, and the approval was withdrawn {how}: decision {first.seq} "
            f"({first.body.get('outcome')}, {first.body.get('decided_at')}); the rules do not decide a case whose "
            "approval was withdrawn (their approval would issue a fresh permit for it) - the applicant applies again "
            "as a new case, or an officer reviews the withdrawal by overriding it "
            f"(`ledger record-decision ... --overrides {first.seq}`). Nothing was recorded"
        )
    return _DecidedAlready(
        f"case {case_id!r} was already decided automatically: decision {first.seq} "
        f"({first.body.get('outcome')}, {first.body.get('decided_at')}); it is not decided again "
        "- an officer may override it (`ledger record-decision ... --overrides "
        f"{first.seq}`)"
    )


def _refuse_decided(
    ledger: Ledger,
    department: str,
    case_ids: Sequence[str],
    conn: Connection | None = None,
    keys: Sequence[str] | None = None,
    opened: Mapping[str, tuple[str, str]] | None = None,
) -> None:
    """StateError naming the earlier decision when ``department`` already decided one of ``case_ids``
    automatically (the first in ``case_ids`` order): a case is decided by the rules once, and again only by an
    officer's override (:func:`record_human_decision`) - not re-run, with other input, until the outcome suits.

    Asked before the work (nothing is built for a case decided long ago) and again inside the transaction that
    records the decisions (:func:`_undecided_guard`): two processes deciding one case at once record it once."""
    earlier = _decided_automatically(ledger, department, case_ids, conn, keys, opened)
    for case in case_ids:
        if case in earlier:
            raise _decided_already(case, earlier[case])


def find_decisions(ledger: Ledger, department: str, case_id: str, *, conn: Connection | None = None) -> list[Decision]:
    """Every recorded decision of ``department`` for ``case_id``, oldest first (``conn``: read in that connection's
    transaction, an append's :data:`logchain.Guard`)."""

    from .logchain import LogEntry, lookup_key

    if not isinstance(case_id, str):
        raise InputError("a case id is a string")
    query = (  # the case's few rows by their index key (ix_logentry_lookup), not a scan of the log
        select(col(LogEntry.seq), col(LogEntry.entry_hash), col(LogEntry.body))
        .where(
            col(LogEntry.log) == LOG_DECISIONS,
            col(LogEntry.department_id) == department,
            col(LogEntry.lookup) == lookup_key(case_id),
        )
        .order_by(col(LogEntry.seq))
    )
    if conn is not None:
        return _case_decisions(conn, department, case_id, query)
    with ledger.engine.connect() as own:
        return _case_decisions(own, department, case_id, query)


def _overridden_seq(body: Mapping[str, Any]) -> int | None:
    ref = body.get("overrides")
    seq = ref.get("seq") if isinstance(ref, dict) else None
    return seq if type(seq) is int and 0 < seq < 2**63 else None


def _case_decisions(conn: Connection, department: str, case_id: str, query: Any) -> list[Decision]:
    from .logchain import LogEntry, read_body

    found: dict[int, Decision] = {}
    for seq, entry_hash, text in conn.execute(query).all():
        # an entry that names the case but cannot be read fails the request (naming it): left out, an earlier
        # decision would pass for the latest
        body = read_body(text, LOG_DECISIONS, department, seq)
        if body.get("case_id") == case_id:
            found[int(seq)] = Decision(department, int(seq), entry_hash, body)
    # An officer's decision names the one it replaced (``overrides``: number and entry hash), which is read by its
    # number when the index did not find it: its key (LogEntry.lookup, outside the entry hash) cleared by an
    # insider, an approval an officer confirmed was lost to the case's history, and the refusal replacing the
    # confirmation left the approval's permit and notices valid (red team round 34a). An honest history names only
    # decisions the index found: no further read.
    pending = [n for d in found.values() if (n := _overridden_seq(d.body)) is not None and n not in found]
    seen = set(found)
    while pending:
        seq = pending.pop()
        if seq in seen:
            continue
        seen.add(seq)
        row = conn.execute(
            select(col(LogEntry.entry_hash), col(LogEntry.body)).where(
                col(LogEntry.log) == LOG_DECISIONS, col(LogEntry.department_id) == department, col(LogEntry.seq) == seq
            )
        ).first()
        if row is None:
            continue
        body = read_body(row[1], LOG_DECISIONS, department, seq)
        if body.get("case_id") == case_id:
            found[seq] = Decision(department, seq, row[0], body)
            if (earlier := _overridden_seq(body)) is not None and earlier not in seen:
                pending.append(earlier)
    return [found[seq] for seq in sorted(found)]


def find_decision(
    ledger: Ledger,
    department: str,
    case_id: str,
    seq: int | None = None,
    *,
    among: Sequence[Decision] | None = None,
) -> Decision:
    """``department``'s decision on ``case_id``: its latest, or the one numbered ``seq``; NotFoundError if none.
    ``among``: the case's decisions (:func:`find_decisions`) read already."""
    found = list(among) if among is not None else find_decisions(ledger, department, case_id)
    if seq is not None:
        found = [d for d in found if d.seq == seq]
    if not found:
        raise NotFoundError(
            f"department {department!r} has no recorded decision for case {case_id!r}"
            + (f" with sequence number {seq}" if seq is not None else "")
        )
    return found[-1]


def not_before(at: str, seq: int, replaced: Mapping[str, Any]) -> None:
    """Refuse an officer's decision stating a moment ``at`` before the one the decision it overrides (number ``seq``,
    body ``replaced``) states (an inspection's withdrawal too: supervision.py, red team round 45): the
    record would say the case was settled before the decision it replaced was taken, and every reader ordering a
    case by its stated moments (time windows, a case erasure's age) would read the two the other way round (red team
    round 44). A replaced decision stating no readable moment (an old or edited record) bounds nothing here; replay
    reports it. Both moments are read as replay reads them (``recorded_instant``: one without a zone is UTC), so a
    replaced decision stating its moment without a zone (written past the library) bounds it too (red team round
    47)."""
    stated = replaced.get("decided_at")
    before = recorded_instant(stated)
    mine = recorded_instant(at)
    if before is not None and mine is not None and mine < before:
        raise InputError(
            f"decided_at {at} is before the decision it overrides (#{seq}, decided at {stated}): an "
            "officer's decision replaces one already taken; state the moment it was taken (or leave decided_at out: "
            "now)",
            field="decided_at",
        )


def _override_target(ledger: Ledger, department: str, case_id: str, overrides: int | str) -> Decision:
    """The decision an officer's decision of ``case_id`` replaces (``overrides``: its number or the case id): the
    case's latest; its place (seq, entry_hash) is the body's ``overrides``."""

    from .logchain import LogEntry, read_body

    if isinstance(overrides, bool) or not isinstance(overrides, (int, str)):
        raise InputError("overrides must be a decision sequence number or a case id", field="overrides")
    if isinstance(overrides, int):
        if not 0 < overrides < 2**63:  # no log entry has it, and no database integer holds it (an OverflowError)
            raise NotFoundError(f"{department} has no decision number {overrides} to override")
        with ledger.engine.connect() as conn:
            row = conn.execute(
                select(LogEntry.entry_hash, LogEntry.body).where(  # type: ignore[call-overload]
                    LogEntry.log == LOG_DECISIONS, LogEntry.department_id == department, LogEntry.seq == overrides
                )
            ).first()
        if row is None:
            raise NotFoundError(f"{department} has no decision number {overrides} to override")
        target = Decision(department, overrides, row[0], read_body(row[1], LOG_DECISIONS, department, overrides))
    else:
        previous = find_decisions(ledger, department, overrides)
        if not previous:
            raise NotFoundError(f"{department} has no decision for case {overrides!r} to override")
        target = previous[-1]
    if target.body.get("case_id") != case_id:
        raise InputError(
            f"decision {target.seq} is for case {target.body.get('case_id')!r}, not {case_id!r}; an "
            "override must concern the same case",
            field="overrides",
        )
    # named by its case, the target is the case's latest already (read above); named by number, it may be older
    if isinstance(overrides, str):
        latest = target
    else:
        indexed = find_decisions(ledger, department, case_id)
        if all(d.seq != target.seq for d in indexed):
            # read by its number, the decision is missing from its case's index (LogEntry.lookup, outside the entry
            # hash): the case's latest decision cannot be told (red team round 34a: an IndexError, a traceback)
            raise StateError(
                f"decision {target.seq} is not among the decisions the index of case {case_id!r} finds: the "
                f"database's index of cases was edited (`ledger replay --department {department}` reports it, "
                "index_altered); restore the entry's lookup key from the case id its body names. Nothing was recorded"
            )
        latest = indexed[-1]
    if latest.seq != target.seq:
        # overriding an older decision would pass over the ones since (a withdrawal, a refusal) in the record: the
        # override chain an evidence bundle shows would say the officer replaced a decision that no longer stood
        raise StateError(
            f"decision {target.seq} is not the latest decision of case {case_id!r}: decision {latest.seq} "
            f"({latest.body.get('outcome')}, {latest.body.get('decided_at')}) came after it. An officer's decision "
            f"replaces the case's latest word - give overrides={latest.seq} (or the case id). Nothing was recorded"
        )
    return target


def _require_same_item(replaced: Decision | None, case_id: str, service_item: str, rules: RuleSet | None) -> None:
    """InputError when an officer's decision names another service item than the decision it replaces, or than the
    rule set it gives serves (a screen for every item serves any): a case is one application for one item, and the
    record said the case was one item's and then another's, the approval's permit stating an item its rules do not
    serve, with replay reporting nothing (red team round 69). Asked before anything is read, logged or stored."""
    stated = replaced.body.get("service_item") if replaced is not None else None
    # an item edited into another type is the log check's to report (``altered``), as for the applicant
    if replaced is not None and isinstance(stated, str) and stated != service_item:
        raise InputError(
            f"case {case_id!r} was decided for service item {stated!r} (decision {replaced.seq}), not "
            f"{service_item!r}: an officer's decision of a case names the item it was applied for (a case is one "
            "application for one item; an application for another item is a new case). Nothing was recorded",
            field="service_item",
        )
    if rules is not None and rules.service_item not in (ANY_SERVICE_ITEM, service_item):
        raise InputError(
            f"rule set {rules.rule_set_id!r} {rules.version} serves service item {rules.service_item!r}, not "
            f"{service_item!r}: an officer's decision names the rule set of the item it decides (an approval's "
            "certificate would state an item its rules do not serve). Nothing was recorded",
            field="service_item",
        )


def _require_same_applicant(ledger: Ledger, department: str, case_id: str, applicant: str) -> None:
    """InputError when a decision of ``case_id`` names another applicant than ``applicant`` (a salted reference): a
    case is one applicant's, and an officer's decision of it that named another would make the record say two things
    (a credit-listed applicant's case moved to a clean one, another applicant's name put on a refusal). Replay
    reports such a history written past the library (``applicant_changed``)."""
    other = next(
        (
            d
            for d in find_decisions(ledger, department, case_id)
            # a reference edited into another type is the log check's to report (``altered``), as replay does
            if isinstance(d.body.get("applicant_ref"), str) and d.body["applicant_ref"] != applicant
        ),
        None,
    )
    if other is not None:
        raise InputError(
            f"case {case_id!r} is another applicant's: decision {other.seq} of it names another applicant than the "
            "identity given (applicant_ref). Every decision of a case is about the applicant the case is about: give "
            "that applicant's identity, or decide the other applicant's application as a case of its own. Nothing "
            "was recorded",
            field="applicant_ref",
        )


def record_human_decision(
    ledger: Ledger,
    department: str,
    case_id: str,
    service_item: str,
    *,
    officer: str,
    outcome: str,
    reasons: Sequence[str],
    applicant_ref: str,
    overrides: int | str | None = None,
    decision_input: Mapping[str, Any] | None = None,
    rule_set: RuleSet | str | None = None,
    decided_at: datetime | None = None,
) -> Decision:
    """Record an officer's decision (``overrides``: the decision number or case id it replaces, if any)."""
    department_id_bytes(department)
    if overrides is None:  # a new case's number; an override names a case recorded already, as it was recorded
        case_number(case_id)
    applicant_identity(applicant_ref)
    require_approver(ledger, department, "record decisions")
    if outcome not in OUTCOMES:
        raise InputError(f"outcome {outcome!r} must be one of {list(OUTCOMES)}", field="outcome")
    if isinstance(reasons, str) or not reasons or not all(isinstance(r, str) and r for r in reasons):
        raise InputError("reasons must be a non-empty list of reason ids", field="reasons")
    if len(reasons) > MAX_OFFICER_REASONS:
        raise InputError(
            f"{len(reasons):,} reasons given: an officer's decision gives at most {MAX_OFFICER_REASONS} reason codes "
            "(every evidence bundle of it carries them); give the codes that decided the case",
            field="reasons",
        )
    # codes, never free text: the record is hash-chained and anchored, in every evidence bundle and notice of it, and
    # no erasure can reach it (a name or an ID number written as a reason would stay for ever)
    words = [r for r in reasons if not _REASON_CODE.fullmatch(r)]
    if words:
        raise InputError(
            f"reason {words[0][:40]!r} is not a reason code: capital letters, digits, '_', '-' or '.', at most 64 "
            "(e.g. OFFICER_CHECKED_ON_SITE); the record is anchored and kept for ever, so no free text goes in it",
            field="reasons",
        )
    if overrides is None:
        # an officer's decision of a case already decided replaces that decision, and says so: recorded as a first
        # decision it withdrew nothing (a refused case kept its permit) and left the record naming nothing it replaced
        earlier = find_decisions(ledger, department, case_id)
        if earlier:
            raise StateError(
                f"case {case_id!r} was already decided: decision {earlier[-1].seq} "
                f"({earlier[-1].body.get('outcome')}); an officer's decision of it overrides that one - give "
                f"overrides={earlier[-1].seq} (`ledger record-decision ... --overrides {earlier[-1].seq}`)"
            )
    # the decision it replaces, resolved before anything is read or stored for it (the case's latest: asked again
    # inside the recording transaction)
    replaced = None if overrides is None else _override_target(ledger, department, case_id, overrides)
    target = None if replaced is None else {"seq": replaced.seq, "entry_hash": replaced.entry_hash}
    if target is not None:
        _require_same_applicant(ledger, department, case_id, applicant_reference(ledger, department, applicant_ref))
    _require_same_item(
        replaced, case_id, service_item, rule_set if rule_set is None else _resolve_rule_set(ledger, rule_set)
    )
    # the item an officer decides: its rules' when it applies some (red team round 86s), else the one it names, which
    # the department must hold, or hold every item ("*": round 86o)
    if rule_set is not None:
        require_service_item(ledger, department, _resolve_rule_set(ledger, rule_set).service_item, "record decisions")
    elif not _holds_every_item(ledger, department):
        require_service_item(ledger, department, service_item, "record decisions")
    input_digest = None
    certificates: list[dict[str, Any]] = []
    commitments: dict[str, str] = {}
    documents: Mapping[str, Mapping[str, Any]] = {}  # the copies cited inline (none without an input)
    personal: dict[str, Any] = {}  # the fields its rule set's certificate copies, sealed apart (seal_fields)
    salts: dict[str, bytes] = {}
    at = officer_time(decided_at)
    if replaced is not None:
        not_before(at, replaced.seq, replaced.body)
    if outcome == "approve":
        from .erasure import approval_after_erasure

        approval_after_erasure(ledger, department, case_id, at)  # asked again inside the recording transaction
    if decision_input is not None:
        prepared = _prepare_input(case_id, service_item, decision_input, known_case=replaced is not None)
        measured: Measured = {}
        kept, documents = seal_citations(prepared, measured)
        # what the rule set's certificate copies is never stored in clear (decision_input.seal_fields)
        names = _resolve_rule_set(ledger, rule_set).personal if rule_set is not None else ()
        stored, personal, salts = seal_fields(kept, names)
        input_digest, row = _input_row(_with_nonce(stored), personal)
        commitments = _input_commitments(ledger, department, stored, input_digest, applicant_ref)
        applicant = applicant_reference(ledger, department, applicant_ref)
        if decided_at is not None:
            _stated_at_head(ledger, at)  # before anything is read or logged, as the rules' (red team round 69)
        established = _establish(ledger, department, [prepared], [applicant], at, measured=measured)
        if decided_at is not None:
            _stated_at_head(ledger, at, established[0])  # a block mined meanwhile
        certificates = [f.to_json() for f in established[1][0]]
    rules_digest = None
    rules = None
    if rule_set is not None:
        rules = _resolve_rule_set(ledger, rule_set)
        _require_own(ledger, rules, department)
        if outcome == "approve":
            permits.require_issuer(ledger, department, rules)
        rules_digest = rules.hex_digest
    body: dict[str, Any] = {
        "format": DECISION_FORMAT,
        "case_id": case_id,
        "service_item": service_item,
        "applicant_ref": applicant_reference(ledger, department, applicant_ref),
        "input_digest": input_digest,
        "certificates": certificates,
        "rule_set": rules_digest,
        "engine": None,
        "outcome": outcome,
        "reasons": list(reasons),
        "fired": [],
        "decided_by": {
            "kind": "officer",
            "department": department,
            "officer_ref": officer_ref(ledger, department, officer),
        },
        "decided_at": at,
        "overrides": target,
    }
    body.update(commitments)
    # an override that withdraws an approval revokes the certificate the approval produced (permits.py)
    withdrawn = permits.withdrawn(
        ledger, department, body["overrides"]["seq"] if body["overrides"] else None, outcome, case_id
    )
    if withdrawn:
        body["withdraws"] = withdrawn
    # an officer's approval under a rule set that produces a certificate issues it like an automatic one, unless the
    # case has a live permit already: one case, one permit (an approval confirming an approved case keeps its permit)
    given = {**(decision_input or {}), "case_id": case_id, "service_item": service_item}
    issues = rules is not None and rules.produces is not None and outcome == "approve"
    produced = permits.prepare(
        ledger,
        department,
        [(rules, body, given, applicant_ref)] if issues and not permits.live(ledger, department, case_id) else [],  # type: ignore[list-item]
        complete=decision_input is not None,
    )
    # the input and its cited copies are stored only once everything above was accepted, and removed again if the
    # decision is not recorded: a refused decision leaves no personal data that no decision names
    try:
        if input_digest is not None:
            _store_inputs(
                ledger,
                [row],
                documents,
                _citation_links(input_digest, kept),
                sealed={input_digest: (personal, salts)} if personal else None,
            )
        decision = _recorded(
            ledger,
            department,
            body,
            _one_permit_guard(
                ledger, department, case_id, produced, body["overrides"], at if outcome == "approve" else None
            ),
        )
    except LedgerError:
        _unrecorded(ledger, produced, [input_digest] if input_digest else [], (documents or {}).keys())
        raise
    permits.link(ledger, department, decision.seq - 1, [body])
    _attest_erased(ledger, department, [body])
    produced.anchor(ledger)
    permits.withdraw(ledger, department, withdrawn, decision.seq)
    if replaced is not None:
        from . import notices

        notices.withdraw_replaced(ledger, department, case_id, replaced.seq, outcome, decision.seq)
    return decision


# -- bulk -------------------------------------------------------------------------------------------------------


@dataclass
class DecideResult:
    department: str
    count: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    roots: list[str] = field(default_factory=list)
    produced: list[str] = field(default_factory=list)  # digests of the certificates the approvals issued

    def to_json(self) -> dict[str, Any]:
        return {
            "department": self.department,
            "decisions": self.count,
            "outcomes": dict(self.outcomes),
            "anchored_batches": self.roots,
            "certificates_issued": len(self.produced),
        }


def _anchor_due(unanchored: Sequence[tuple[int, float]], every: int, deadline: int) -> bool:
    """Whether the decisions recorded and not anchored yet (count, monotonic time per chunk) are due: a full
    anchoring batch of them, or the oldest half the anchoring deadline old."""
    if not unanchored:
        return False
    return sum(n for n, _ in unanchored) >= every or bool(
        deadline and time.monotonic() - unanchored[0][1] >= deadline / 2
    )


def decide_many(
    ledger: Ledger,
    department: str,
    applications: Iterable[Mapping[str, Any]],
    rule_sets: Mapping[str, RuleSet],
    progress: Progress | None = None,
    *,
    decided_at: datetime | None = None,
    chunk: int = 5_000,
    total: int = 0,
    anchor: bool = True,
    workers: int | None = None,
    anchor_every: int = 10_000,
) -> DecideResult:
    """Decide a stream of applications (demo_data shape: case_id, service_item, applicant_ref, ...) and anchor them.

    ``rule_sets`` maps a service item code to its rule set; the key ``"*"`` serves every other item. Every rule set is
    checked to be published before the first decision is recorded. ``workers``: processes that read the
    applications - check, seal and hash each (``_decision_workers``) - while this process records the chunk before;
    by default one per core beyond the first for runs of more than 20,000 (``total``), else none. With ``anchor``,
    the decisions are anchored as the run goes, each time ``anchor_every`` of them (one anchoring batch) are recorded
    or the oldest is half the anchoring deadline old, and at the end.

    A case is decided automatically once: a case the department already decided automatically is refused
    (StateError naming that decision) before anything of the chunk holding it is recorded, and so is a case the input
    repeats (InputError for a repeat within a chunk, like a bad application; StateError when the chunk before it was
    recorded). The chunks before are recorded; `ledger anchor-logs` anchors those the run had not anchored yet.
    """
    department_id_bytes(department)
    require_approver(ledger, department, "record decisions")
    for rules in rule_sets.values():
        require_service_item(ledger, department, rules.service_item, "record decisions")
        check_item_published(rules)  # as decide: nothing recorded under rules reading the item from the application
        _require_own(ledger, rules, department)
        permits.require_issuer(ledger, department, rules)
    result = DecideResult(department)
    produced: list[permits.Produced] = []
    fixed_time = _time_text(decided_at) if decided_at is not None else None
    if fixed_time is not None:
        _stated_at_head(ledger, fixed_time)  # before anything is read, logged or recorded
    view = ChainView(ledger.chain, ledger.settings.confirmations)
    secret = _secret(ledger, department)
    from .supervision import CreditReader

    credit_reader = CreditReader(ledger, department)  # reads only what was recorded since its last read
    references = _References(secret, APPLICANT_PREFIX, "applicant_ref")  # applicant_reference, keyed once

    def flush(chunk_read: _Chunk) -> None:
        # One moment and one head per chunk: every certificate the chunk cites is verified at once (facts.py),
        # then each application is evaluated on those facts.
        pending, identities = chunk_read.pending, chunk_read.identities
        # now is after every erasure logged so far, not after one made while the chunk is decided (round 47b)
        seen = _erasure_log_head(ledger, department) if fixed_time is None else None
        at = fixed_time or _time_text(None)
        require_approver(ledger, department, "record decisions")  # again per chunk: a suspension stops the run
        # a case this department decided before - by an earlier run, decide(), or a chunk before this one of the
        # same input - refuses the chunk before any of it is recorded: one indexed query per chunk, not per case
        opened = {p["case_id"]: (p["service_item"], a) for _, p, a in pending}
        _refuse_decided(ledger, department, list(chunk_read.cases), keys=chunk_read.keys, opened=opened)
        block, facts = _establish(
            ledger,
            department,
            [p for _, p, _ in pending],
            [a for _, _, a in pending],
            at,
            view,
            references,
            (chunk_read.cited, chunk_read.classified),
            sizes=chunk_read.sizes,
        )
        if fixed_time is not None:
            _stated_at_head(  # each chunk's facts block: a run outlives its stated moment
                ledger, fixed_time, block, nothing="This chunk was not recorded (the chunks before it were)"
            )
        credit = credit_reader.statuses([a for _, _, a in pending], block, at)
        bodies, inputs = [], []
        for (key, _, applicant), kept, found, (digest, text, commitments) in zip(
            pending, chunk_read.kept, facts, chunk_read.stored, strict=True
        ):
            body = _automatic_body(rule_sets[key], kept, found, digest, applicant, at, block, credit[applicant])
            body.update(commitments)
            inputs.append({"digest": digest, "document": text})
            bodies.append(body)
            result.outcomes[body["outcome"]] += 1
        if fixed_time is not None:
            _after_erasures(ledger, department, bodies)
        _store_inputs(ledger, inputs, chunk_read.documents, chunk_read.links, chunk_read.labels, chunk_read.sealed)
        made: permits.Produced | None = None
        try:  # one transaction (a chunk is at most ``chunk``), asking again inside it that no case was decided
            made = permits.prepare(
                ledger,
                department,
                [
                    (rule_sets[key], body, prepared, identity)
                    for (key, prepared, _), body, identity in zip(pending, bodies, identities, strict=True)
                ],
            )
            head = permits.head_seq(ledger, department) if made.digests else 0
            guard = _erasures_guard(
                ledger,
                department,
                bodies,
                _undecided_guard(ledger, department, list(chunk_read.cases), made, chunk_read.keys, opened),
                seen,
            )
            logchain.append_many(ledger, LOG_DECISIONS, department, bodies, chunk=max(chunk, len(bodies)), guard=guard)
        except LedgerError as exc:  # not recorded (another process decided one of its cases meanwhile): nothing is kept
            _unrecorded(ledger, made, [i["digest"] for i in inputs], chunk_read.documents.keys())
            if not isinstance(exc, _DecidedAlready):  # the guard's refusal names the rival already
                _refuse_decided(ledger, department, list(chunk_read.cases), keys=chunk_read.keys)
            raise
        _attest_erased(ledger, department, bodies)
        if made.digests:
            permits.link(ledger, department, head, bodies)
            for built in made.built:  # sent now, confirmed with the decision log's anchoring below
                issuance.submit(ledger, built)
            produced.append(made)
        result.count += len(bodies)
        unanchored.append((len(bodies), time.monotonic()))
        if anchor and _anchor_due(unanchored, anchor_every, ledger.settings.anchor_deadline_seconds):
            anchor_now()
        if progress is not None:
            progress(result.count, total)

    # A long run anchors as it goes, a full anchoring batch at a time (no more transactions than anchoring it all at
    # the end), and before its oldest unanchored decision is half the anchoring deadline old: anchored only at the
    # end, the first decisions of a run longer than the deadline would be ``anchored_late`` in replay, their time
    # and facts not attested.
    unanchored: list[tuple[int, float]] = []  # (decisions, when recorded) per chunk recorded and not anchored yet

    def anchor_now() -> None:
        try:
            result.roots.extend(logchain.anchor_pending(ledger, LOG_DECISIONS, department))
        except ChainError as exc:
            raise ChainError(
                f"{result.count} decisions were recorded but not all anchored ({exc}); run "
                f"`ledger anchor-logs --department {department}`"
            ) from exc
        unanchored.clear()

    # Chunks are read (checked, sealed, hashed: _read_chunk) by worker processes, or here without workers, and
    # recorded here strictly in input order, one after the other: a chunk is recorded once the chunk after it was
    # read (one per worker ahead). A chunk's application that fails stops the run after the chunks before it were
    # recorded, with nothing of its own chunk written.
    workers = _decision_workers.worker_count(workers, total)
    with (
        _decision_workers.Pool(workers, initializer=pause_for_this_process) if workers else contextlib.nullcontext()
    ) as pool:
        sendable = _decision_workers.RuleSets(rule_sets)  # a worker compiles each rule set once, by digest
        read = _decision_workers.read_chunk if pool is not None else _read_chunk
        ahead: deque[tuple[int, list[Any], Any]] = deque()

        def record_read(first: int, batch: list[Any], reading: Any) -> None:
            try:
                chunk_read = reading.result(f"applications {first}-{first + len(batch) - 1}")
            except (LedgerError, KeyboardInterrupt):
                raise
            except Exception:  # noqa: BLE001 - the chunk could not reach or leave a worker (pickle refused it):
                chunk_read = _read_chunk(secret, rule_sets, first, batch)  # read here: the writer's own answer
            flush(chunk_read)

        batch: list[Any] = []
        first = 1
        for number, application in enumerate(applications, start=1):
            batch.append(application)
            if len(batch) >= chunk:
                ahead.append((first, batch, _decision_workers.run(pool, read, secret, sendable, first, batch)))
                first, batch = number + 1, []
                while len(ahead) > max(workers, 1):
                    record_read(*ahead.popleft())
                free_chunk_cycles()  # after the chunk recorded is freed: the pass walks only the chunks in hand
        if batch:
            ahead.append((first, batch, _decision_workers.run(pool, read, secret, sendable, first, batch)))
        while ahead:
            record_read(*ahead.popleft())
    if anchor:
        anchor_now()
    for made in produced:  # the approvals' certificates, anchored in the same run as the decisions naming them
        for built in made.built:
            issuance.confirm(ledger, built.root)
        result.produced.extend(made.digests)
    return result
