"""Every table of the ledger's database, in one place: what the migrations (``ledger/migrations``) build.

Rows hold digests, proofs, chain coordinates and non-personal metadata; personal content is kept only sealed
(vault.py). The modules that use a table import it from here (and re-export it where callers already import it).

Changing a table means adding a migration in the same commit (docs/database.md); ``tests/test_migrations.py``
fails while the migrations and these classes disagree.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ValidationError
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from ledger.errors import InputError

__all__ = [
    "AnchorState",
    "ApplicantSecret",
    "AuthChallenge",
    "Batch",
    "BatchState",
    "Certificate",
    "CitedDocument",
    "Consent",
    "ConsentGrant",
    "ConsentPublic",
    "DecisionInput",
    "EntryState",
    "Grant",
    "GrantBase",
    "GrantPublic",
    "Hex32",
    "InputCitation",
    "IssuedToken",
    "KeyCheck",
    "LogAnchor",
    "LogEntry",
    "LogMention",
    "ProducedCertificate",
    "RuleSetRecord",
    "SealedInput",
    "SpentAssertion",
    "StatusChange",
    "aware",
    "metadata",
    "utcnow",
]

metadata = SQLModel.metadata

MAX_PURPOSE = 500  # a grant's stated purpose
MAX_PURPOSE_TEXT = 500  # a consent's purpose in words


def utcnow() -> datetime:
    return datetime.now(UTC)


def given_time(value: datetime, name: str = "time") -> datetime:
    """``value``, a time a caller gave the library, as an aware UTC datetime. A naive one (no ``tzinfo``) is
    refused: Python reads it as the machine's local time where a body states it and the database as UTC where it
    stores it, so on a machine not on UTC the two would disagree (the log's check: ``time_altered``)."""
    if not isinstance(value, datetime):
        raise InputError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(
            f"{name} {value.isoformat()} has no time zone: pass an aware datetime, e.g. datetime.now(UTC) or "
            "datetime(2026, 3, 10, 9, 30, tzinfo=UTC)"
        )
    return aware(value)


CLOCK_SKEW_SECONDS = 30
"""The clock difference allowed between an instant an entry states and the ledger's clock (and the chain's: replay's
``FACTS_CLOCK_SKEW``)."""


def not_ahead(value: datetime, name: str, statement: str, now: datetime, *, nothing: str = "recorded") -> datetime:
    """``value`` (aware), an instant an entry will state as ``name``; InputError when it is more than
    :data:`CLOCK_SKEW_SECONDS` ahead of ``now``. The ledger stores and lists an entry at the instant its body states
    (gaps34), so one dated ahead sat in a later window, and its age against the anchoring deadline came out
    negative (red team round 35). ``statement``: what such an entry states, for the message; ``nothing``: what was
    not done."""
    if value > now + timedelta(seconds=CLOCK_SKEW_SECONDS):
        raise InputError(
            f"{name} {value.isoformat()} is in the future (now {now.isoformat()}): {statement}; give that moment, or "
            f"none (now). Nothing was {nothing}",
            field=name,
        )
    return value


def aware(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (SQLite hands back naive ones); InputError for a moment given with a zone
    whose UTC instant is outside the calendar (``9999-12-31T23:59:59-14:00``), e.g. a grant's expiry."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InputError(
            f"time {value.isoformat()} lies outside the calendar once converted to UTC; give a time between years "
            "1 and 9999 in UTC"
        ) from None


# -- certificates (store.py, issuance.py, status.py) ------------------------------------------------------------


ALTERED_HASH = "0x" + "00" * 32  # what a Hex32 column reads as when it holds another SQL type than bytes


class Hex32(TypeDecorator[str]):
    """A 32-byte hash kept as 32 raw bytes in the database, seen as ``0x`` + 64 lowercase hex digits everywhere
    else (issue 18: a 66-character text cost 34 more bytes in the row and again in every index holding it).

    The conversion happens only here, at the storage boundary, so queries keep comparing against ``hex32(...)``
    texts. A value that is not such a text (an id looked up as a digest, a malformed digest) is bound as its own
    UTF-8 bytes, which never have 32 bytes of this form and so match no row: the same "not found" as before."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None or isinstance(value, bytes):
            return value
        if isinstance(value, str) and len(value) == 66 and value[:2] == "0x":
            try:
                return bytes.fromhex(value[2:])
            except ValueError:
                pass
        return str(value).encode()

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, bytes | bytearray | memoryview):
            return "0x" + bytes(value).hex()
        # Another SQL type where a hash belongs (SQLite keeps a text or a number in any column): only an edit made
        # past the ledger puts it there. It reads as the zero hash, which no certificate, batch or entry has, so
        # every check comparing it fails and `ledger reconcile` names the row instead of stopping on it.
        return ALTERED_HASH


class BatchState:
    # a permit's batch stored before the decision that produces it is recorded: never sent (``ledger resume`` leaves
    # it), moved to ``prepared`` in the transaction that records the decision (decisions.py, permits.release)
    HELD = "held"
    PREPARED = "prepared"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    PENDING = (PREPARED, SUBMITTED)


class StoredBlob(TypeDecorator[bytes]):
    """A certificate's sealed body, a cited copy of one, a decision input's sealed fields: what no reader takes for
    bytes (SQLite keeps a text or a number in any column, only an edit made past the ledger puts one there) reads as
    no bytes, a body that does not open, which every reader reports as the altered row it is. Read as it came,
    ``bytes(text)`` raised a TypeError: the certificate's public timeline and its issuer's full one answered 500,
    ``ledger reconcile`` stopped before reporting anything, every ``ledger erase`` stopped labelling the cited copies,
    and replay stopped loading a decision's sealed fields (red team round 80)."""

    impl = LargeBinary
    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        return _as_blob


def _as_blob(value: Any) -> bytes | None:
    if value is None or type(value) is bytes:
        return value
    return bytes(value) if isinstance(value, bytearray | memoryview) else b""


class Batch(SQLModel, table=True):
    """One anchored (or being anchored) Merkle batch. ``leaves`` holds the batch's certificate digests in leaf
    order, 32 bytes each, and ``nodes`` the tree's nodes 6 levels up (the root of each run of 64 leaves, half a byte
    per certificate): every certificate's Merkle proof is recomputed from them (``store.batch_proof``) instead of
    being stored per certificate (issue 18: 436 bytes per certificate). Altering either gives proofs that do not
    lead to the anchored root, which verification compares them with; ``ledger reconcile`` rebuilds both."""

    root: str = Field(sa_column=Column(Hex32, primary_key=True))
    department_id: str = Field(index=True, max_length=32)
    # indexed: the store's batch types are read one index seek per type (decisions.label_typeless), not by a scan
    schema_id: str = Field(index=True, max_length=66)
    count: int
    state: str = Field(default=BatchState.PREPARED, index=True, max_length=16)
    signer: str = Field(max_length=42)
    signature: str = Field(max_length=132)
    tx_hash: str | None = Field(default=None, max_length=66)
    nonce: int | None = None
    block_number: int | None = None
    block_hash: str | None = Field(default=None, max_length=66)
    block_time: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    confirmed_at: datetime | None = None
    leaves: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    nodes: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Certificate(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("department_id", "certificate_id", name="uq_certificate_department_id"),)

    """One certificate: its digest, where it sits in its batch (``batch_root``, ``leaf_index``; the proof is
    recomputed from the batch's ``leaves``), non-personal metadata and the sealed body. The department's
    queries are served by the unique (department, id) index, whose first column is the department."""

    # The digest index is split into generations (ledger.storage.generations, issue 18): new rows go to the newest,
    # so a group's inserts stay in one bounded part of the index; the digest is unique across all of them (the
    # writer checks the closed ones), and every read by digest names the generations to look in.
    epoch: int = Field(default=0, sa_column=Column(Integer, primary_key=True, autoincrement=False, default=0))
    digest: str = Field(sa_column=Column(Hex32, primary_key=True))
    batch_root: str = Field(sa_column=Column(Hex32, ForeignKey("batch.root"), index=True, nullable=False))
    leaf_index: int
    certificate_id: str = Field(max_length=128)
    department_id: str = Field(max_length=32)
    cert_type: str = Field(max_length=64)
    issued_at: str = Field(max_length=40)
    valid_until: str | None = Field(default=None, max_length=40)
    sealed: bytes = Field(sa_column=Column(StoredBlob, nullable=False))
    status: str = Field(default="valid", max_length=16)
    superseded_by: str | None = Field(default=None, max_length=66)


class CertificateGeneration(SQLModel, table=True):
    """A generation of certificate digests: ``rows`` counts the rows written to it (a discarded batch's stay
    counted). Only the newest takes rows; it closes once it holds the configured number (``ledger.config``).
    Generation 0 holds every row stored before generations (0026)."""

    __tablename__ = "certificate_generation"

    epoch: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    rows: int = 0


class StatusChange(SQLModel, table=True):
    """A revocation, suspension, reinstatement or supersession sent to the chain."""

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(index=True, max_length=66)
    action: str = Field(max_length=16)
    detail: str = Field(index=True, max_length=66)  # a supersession's successor: a timeline asks by it (0009)
    tx_hash: str | None = Field(default=None, max_length=66)
    block_number: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    # A free-text note that stays off chain: sealed with the vault key (AES-256-GCM, bound to the digest).
    note_sealed: bytes | None = None


# -- hash-chained logs (logchain.py) ----------------------------------------------------------------------------

# A log row is what auditors and courts are shown, so it reads whatever the database hands back: SQLite keeps any type
# in any column (and a text's bytes as given), and whoever owns a PostgreSQL table can retype a column. Only an edit
# made past the ledger puts anything else there; read as it came, it stopped the log's check, replay, reconcile and
# the listings with a traceback, hiding the report of the whole log (red team round 39b). Each column reads as its
# type, an odd value as one the ledger never writes, which the check reports as the edit it is. Every other table's
# times read the same way (StoredTime): a grant's or a consent's time that was no time made every listing of the
# certificate's grants and consents, its timeline and reconcile fail.

UNREADABLE_SEQ = 0
"""What a log row's sequence number reads as when it is no integer (the ledger numbers entries from 1)."""

UNREADABLE_TIME = datetime(1970, 1, 1, tzinfo=UTC)
"""What a stored time reads as when it is no time: before any the ledger writes (a log entry's check reports
``time_altered``), and far enough from the calendar's ends for any arithmetic on it."""


def _as_text(value: Any) -> Any:
    if value is None or type(value) is str:
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


class StoredText(TypeDecorator[str]):
    """A text column of a log row: a blob or a number the database hands back reads as text."""

    impl = String
    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        return _as_text  # one call per value: replay reads every column of every entry (no dialect reads a text)


class StoredLongText(StoredText):
    impl = Text
    cache_ok = True


class StoredSeq(TypeDecorator[int]):
    """A log row's sequence number: anything but an integer reads as :data:`UNREADABLE_SEQ`."""

    impl = Integer
    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        return _as_seq


def _as_seq(value: Any) -> int | None:
    return value if type(value) is int or value is None else UNREADABLE_SEQ


class StoredTime(TypeDecorator[datetime]):
    """A stored time (with its zone): what no reader of the dialect takes for a time reads as
    :data:`UNREADABLE_TIME`, so an expiry, revocation or withdrawal read that way ends what it bounds."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        inner = self.impl_instance.dialect_impl(dialect).result_processor(dialect, coltype)

        read = inner if inner is not None else datetime.fromisoformat  # (a dialect reading times as text, or not)

        def process(value: Any) -> datetime | None:
            if type(value) is str:  # SQLite's form, first: replay reads the time of every entry
                try:
                    return read(value)  # type: ignore[no-any-return]
                except ValueError:
                    return UNREADABLE_TIME
            if value is None or isinstance(value, datetime):
                return value
            return UNREADABLE_TIME

        return process


class EntryState:
    """An entry's anchoring, derived from the anchor whose range holds its sequence number (none: pending; one
    prepared or submitted: submitted; one anchored: anchored): no entry row is written when its log is anchored."""

    PENDING = "pending"
    SUBMITTED = "submitted"
    ANCHORED = "anchored"


class AnchorState:
    PREPARED = "prepared"
    SUBMITTED = "submitted"
    ANCHORED = "anchored"
    OPEN = (PREPARED, SUBMITTED)


class LogEntry(SQLModel, table=True):
    """One entry of one department's log; every log kind shares this table."""

    __table_args__ = (
        UniqueConstraint("log", "department_id", "seq", name="uq_logentry_log_department_seq"),
        Index("ix_logentry_lookup", "log", "department_id", "lookup", "seq"),  # a key's entries in order
    )

    id: int | None = Field(default=None, primary_key=True)
    log: str = Field(sa_column=Column(StoredText(32), nullable=False))
    department_id: str = Field(sa_column=Column(StoredText(32), nullable=False))
    seq: int = Field(sa_column=Column(StoredSeq, nullable=False))
    body: str = Field(sa_column=Column(StoredLongText, nullable=False))
    # the index key of an entry about a case (logchain.lookup_key of the body's case_id) or, in the access and erasures
    # logs, about a certificate (of its digest), so finding a case's decisions, a certificate's reads or its erasure
    # reads their few rows instead of every body of the log; the database's word, checked against the body (replay,
    # check_log)
    lookup: str | None = Field(default=None, sa_column=Column(StoredText(32), nullable=True))
    entry_hash: str = Field(sa_column=Column(StoredText(66), nullable=False))
    prev_hash: str = Field(sa_column=Column(StoredText(66), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(StoredTime, nullable=False))
    # the ledger's mark on the entry: HMAC-SHA256 of its entry hash under a key derived from the department's secret
    # (sealed by the vault), hex; anchoring refuses an entry without it (logchain.entry_mark). NULL: written before
    # marks existed (migration 0019), or past the ledger
    mark: str | None = Field(default=None, sa_column=Column(StoredText(64), nullable=True))
    # No anchoring columns: an entry's anchor, leaf index, proof and state follow from the LogAnchor whose range
    # holds its sequence number (logchain.Entry), so anchoring never rewrites these ~2 KB rows (migration 0012).


class LogMention(SQLModel, table=True):
    """That entry ``seq`` of ``department_id``'s log ``log`` names certificate ``digest``: a decision citing it or
    issuing it (``logchain.mentions_of``), written in the transaction that appends the entry. A certificate's
    decisions (its timeline, the decision that produced a permit) are then one indexed read, not a scan of every
    decision of the log. The database's word, like ``LogEntry.lookup``: the readers parse the bodies it points at."""

    __table_args__ = (Index("ix_logmention_digest", "digest", "log", "department_id", "seq"),)

    log: str = Field(primary_key=True, max_length=32)
    department_id: str = Field(primary_key=True, max_length=32)
    seq: int = Field(primary_key=True)
    digest: str = Field(primary_key=True, max_length=66)


class LogAnchor(SQLModel, table=True):
    """The outbox row of one anchored (or being anchored) range of a department's log, and the anchoring of every
    entry in it. ``leaves`` holds the range's entry hashes in sequence order, 32 bytes each, and ``nodes`` the
    tree's run roots (as ``Batch``): an entry's proof is ``store.batch_proof(leaves, nodes, seq - first_seq)``.
    Ranges of one log never share a first sequence number: two anchorers preparing overlapping ranges of the same
    pending entries start at the same one, and the second's insert fails."""

    __table_args__ = (
        UniqueConstraint("log", "department_id", "first_seq", name="uq_loganchor_log_department_first_seq"),
    )

    root: str = Field(primary_key=True, max_length=66)
    log: str = Field(index=True, max_length=32)
    department_id: str = Field(index=True, max_length=32)
    first_seq: int
    last_seq: int
    head_hash: str = Field(max_length=66)
    signer: str = Field(max_length=42)
    signature: str = Field(max_length=132)
    state: str = Field(default=AnchorState.PREPARED, index=True, max_length=16)
    tx_hash: str | None = Field(default=None, max_length=66)
    block_number: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(StoredTime, nullable=False))
    anchored_at: datetime | None = Field(default=None, sa_column=Column(StoredTime, nullable=True))
    leaves: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    nodes: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


UNREADABLE_NAMES = ["(unreadable)"]
"""What a stored list of field names (a grant's ``reveal``, a consent's ``fields``) reads as when it is not one: a
name no certificate has, so no field is disclosed on it, and the checks against what the access log records and the
ledger signed find the row altered."""


class StoredNames(TypeDecorator[list[str]]):
    """A JSON list of field names: anything else the database hands back (text that is no JSON on SQLite, a string,
    a number, an object) reads as :data:`UNREADABLE_NAMES`. Read as it came, one such row made every listing of the
    grants or consents holding it answer 500, and reconcile stop (red team round 39b); SQL NULL (and JSON null)
    read as None."""

    impl = JSON
    cache_ok = True
    null_allowed = True  # a grant's reveal: JSON null (how a Python None is written) is "every field"

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        inner = self.impl_instance.dialect_impl(dialect).result_processor(dialect, coltype)
        null_allowed = self.null_allowed

        def process(value: Any) -> list[str] | None:
            if value is None:  # SQL NULL, or JSON null a driver parsed itself (psycopg)
                return None if null_allowed else list(UNREADABLE_NAMES)
            if isinstance(value, bytes | bytearray | memoryview):
                value = bytes(value).decode("utf-8", "replace")
            try:
                read = inner(value) if inner is not None else value
            except (ValueError, TypeError):
                return list(UNREADABLE_NAMES)
            if read is None and null_allowed:
                return None
            if isinstance(read, list) and all(type(name) is str for name in read):
                return read
            return list(UNREADABLE_NAMES)

        return process


_Row = TypeVar("_Row", bound=SQLModel)


@functools.cache
def _text_fields(model: type[SQLModel]) -> frozenset[str]:
    """The names of ``model``'s text fields (``str``, or ``str | None``)."""
    return frozenset(
        name
        for name, info in model.model_fields.items()
        if info.annotation is str or set(get_args(info.annotation)) == {str, type(None)}
    )


def stored_row(model: type[_Row], mapping: Mapping[Any, Any]) -> _Row:
    """A row of ``model`` (a grant, a consent) as the database handed it back, whatever an insider wrote there: a
    text column holding a blob or a number (SQLite keeps any type in any column, and a text's bytes as given) reads
    as text (:func:`_as_text`, bytes that are no UTF-8 replaced), and a row that still breaks the model's bounds (a
    text past its column's length, which SQLite does not enforce) is taken as it stands (``model_construct``). Read
    with ``model_validate`` alone, one such row made every listing of the certificate's grants or consents, the
    grantee's list of every grant it received, a read through any grant of the certificate and ``ledger
    reconcile`` fail (red team round 80); its readers now judge it against the anchored log as the edit it is."""
    fields = _text_fields(model)
    values = {name: _as_text(value) if name in fields else value for name, value in mapping.items()}
    try:
        return model.model_validate(values)
    except ValidationError:
        return model.model_construct(**values)


class StoredFieldNames(StoredNames):
    """A list of field names that is never null (a consent's ``fields``, NOT NULL): null reads as
    :data:`UNREADABLE_NAMES` too."""

    cache_ok = True
    null_allowed = False


# -- decisions (decisions.py, permits.py) -----------------------------------------------------------------------


class RuleSetRecord(SQLModel, table=True):
    """A published rule set: its canonical document (what replay re-runs) and where it was published."""

    digest: str = Field(primary_key=True, max_length=66)
    rule_set_id: str = Field(max_length=64)
    version: str = Field(max_length=64)
    service_item: str = Field(max_length=128)
    document: str = Field(sa_column=Column(Text, nullable=False))
    department_id: str = Field(max_length=32)
    tx_hash: str | None = Field(default=None, max_length=66)
    block_number: int | None = None
    published_at: datetime = Field(default_factory=utcnow, sa_column=Column(StoredTime, nullable=False))


class DecisionInput(SQLModel, table=True):
    """The canonical JSON of one decision input, keyed by its digest (SHA-256 of that text)."""

    digest: str = Field(primary_key=True, max_length=66)
    document: str = Field(sa_column=Column(Text, nullable=False))


class CitedDocument(SQLModel, table=True):
    """A certificate document an application cited inline, sealed by the vault (it holds the holder's disclosed
    fields), keyed by its content address; the stored input names it by ``document_ref``.

    ``digest`` is the certificate's digest as the ledger computed it from the document's fields and salts (never
    the digest the document states), ``""`` for a document from which none can be computed, NULL for a row stored
    before the column existed (``ledger erase`` works those out). Erasing that certificate overwrites ``sealed``
    with the erasure marker (``vault.ERASED``) and keeps the row: the stored input still names it, and replay
    learns from it which erased certificate the citation was (docs/privacy.md)."""

    ref: str = Field(primary_key=True, max_length=66)
    sealed: bytes = Field(sa_column=Column(StoredBlob, nullable=False))  # text an insider wrote: no bytes (round 80)
    digest: str | None = Field(default=None, index=True, max_length=66)


class SealedInput(SQLModel, table=True):
    """The fields of stored decision input ``input_digest`` that a certificate the decision produced copies (or
    that its rule set declares personal, ``RuleSet.personal``), with their random salts, sealed by the vault; the
    stored input keeps only their salted field hashes (``decision_input.SEALED_KEY``). Erasing the certificate the
    decision produced overwrites ``sealed`` with the erasure marker (``vault.ERASED``) and keeps the row: replay
    then reports the decision as lawfully erased (docs/privacy.md)."""

    __tablename__ = "sealed_input"

    input_digest: str = Field(primary_key=True, max_length=66)
    sealed: bytes = Field(sa_column=Column(StoredBlob, nullable=False))  # text an insider wrote: no bytes (round 80)


class InputCitation(SQLModel, table=True):
    """That stored decision input ``input_digest`` names the cited copy ``ref`` (a ``{"document_ref": ref}``
    citation), written with the input: a refused decision removes a copy only when no other stored input names it,
    asked through ``ix_inputcitation_ref`` instead of searching every stored input's text (migration 0007)."""

    input_digest: str = Field(primary_key=True, max_length=66)
    ref: str = Field(primary_key=True, index=True, max_length=66)


class ApplicantSecret(SQLModel, table=True):
    """A department's HMAC secret for applicant and officer references, sealed by the vault."""

    department_id: str = Field(primary_key=True, max_length=32)
    sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class ProducedCertificate(SQLModel, table=True):
    """Index row: the certificate ``digest`` was issued by decision ``decision_seq`` of ``department_id``."""

    digest: str = Field(primary_key=True, max_length=66)
    department_id: str = Field(index=True, max_length=32)
    case_id: str = Field(max_length=128)
    certificate_id: str = Field(max_length=128)
    decision_seq: int
    entry_hash: str = Field(max_length=66)


class PermitKey(SQLModel, table=True):
    """What a permit is for, as a keyed hash: its holder and the fields its rule set's ``produces.one_per`` names (the
    food business permit's premises), keyed with the department's decision secret, so the row names neither. An
    approval asks by it whether the holder has a live permit of the type for the same premises (permits.py; red team
    round 77: a second case for the same premises got a second permit, which a withdrawal of the first left
    standing). Written in the transaction that records the approval; ``key`` is NULL for a permit issued before
    migration 0022, keyed when an approval first asks, and ``""`` for one that states no such fields (erased, or an
    officer's approval given no input).

    Since migration 0024 the keyed rows are authenticated (red team round 84p: an insider deleting or rekeying a row
    let a second permit through; round 84q: checking every row at each approval cost ~1 s at 100,000 permits):
    ``bucket`` is the first 16 bits of ``key`` (a row of a non-empty key is a leaf entry of that bucket of the
    department's :class:`PermitKeyNode` hash tree, whose root :class:`PermitKeyTree` holds MACed), ``after_seq`` the
    decision log's head the row was written after (its approval's decision follows it) and ``mac`` a MAC under the
    department's decision secret over the department, the permit, ``key`` and ``after_seq`` (``permits.row_mac``),
    which the approval checks on the rows of the decisions recorded after the tree's root.

    Since migration 0025 a permit has a row per key (``nth`` from 0, the key of its premises as typed first): its
    premises are read as typed, in capitals and case-folded, and each reading that gives other text is a key (red team
    round 85c: the same Greek or Cyrillic premises in capitals read otherwise as typed; ``permits.premises_keys``).
    A permit not keyed yet, or stating nothing, has the one row ``nth`` 0."""

    __tablename__ = "permit_key"
    __table_args__ = (
        Index("ix_permit_key_department_key", "department_id", "key"),
        Index("ix_permit_key_department_bucket", "department_id", "bucket"),
    )

    digest: str = Field(primary_key=True, max_length=66)
    nth: int = Field(default=0, primary_key=True)
    department_id: str = Field(max_length=32)
    key: str | None = Field(default=None, max_length=66)
    bucket: int | None = Field(default=None)
    after_seq: int | None = Field(default=None)
    mac: str | None = Field(default=None, max_length=66)


class PermitKeyNode(SQLModel, table=True):
    """A node of a department's hash tree over its keyed ``permit_key`` rows (migration 0024, red team round 84q):
    ``level`` 16 is a bucket's leaf (the SHA-256 of the bucket's (key, permit) pairs in order), ``level`` 0 the root,
    each node between the hash of its two children; ``position`` counts from the left of its level. A node absent
    is the hash of an empty subtree. No secret: the root is bound to the department by :class:`PermitKeyTree`."""

    __tablename__ = "permit_key_node"

    department_id: str = Field(primary_key=True, max_length=32)
    level: int = Field(primary_key=True)
    position: int = Field(primary_key=True)
    hash: str = Field(max_length=66)


class PermitKeyTree(SQLModel, table=True):
    """The root of a department's :class:`PermitKeyNode` tree as the last approval of a keyed permit left it
    (migration 0024, red team round 84q): ``root``, ``after_seq`` (the decision log's head it was written after)
    and ``mac`` (under the department's decision secret over both, ``permits.tree_mac``). An approval reads one
    bucket and its path to this root, not every row; a row put back from before is held to the decisions log."""

    __tablename__ = "permit_key_tree"

    department_id: str = Field(primary_key=True, max_length=32)
    root: str = Field(max_length=66)
    after_seq: int
    mac: str = Field(max_length=66)


class PermitBasis(SQLModel, table=True):
    """What a permit rests on: per permit and certificate type, the cited certificate a field of it is certified from
    (``produces.fields`` naming ``certificate.TYPE.FIELD``; the fact the approval established: its issuer, digest and
    batch root, no field of it), so that :func:`~ledger.services.permits.follow_bases` can make the permit follow the
    status of that certificate on chain (red team round 77c: a licence revoked for fraud left the permits resting on it
    valid). Written in the transaction that records the approval; a permit issued before migration 0023 gets its rows
    at the first sweep (from its decision's recorded facts). ``basis_digest`` NULL: the permit rests on no certificate
    (type ``""``). ``followed``: what the sweep did last (NULL nothing; ``suspending``/``revoking`` before its
    transaction, ``suspended``/``revoked`` after; ``followed_block`` the block of the sweep's own suspension, the
    only one it reinstates)."""

    __tablename__ = "permit_basis"
    __table_args__ = (Index("ix_permit_basis_department", "department_id"),)

    permit: str = Field(primary_key=True, max_length=66)
    cert_type: str = Field(primary_key=True, max_length=64)
    department_id: str = Field(max_length=32)
    basis_issuer: str | None = Field(default=None, max_length=32)
    basis_digest: str | None = Field(default=None, max_length=66)
    basis_root: str | None = Field(default=None, max_length=66)
    followed: str | None = Field(default=None, max_length=16)
    followed_block: int | None = Field(default=None)


# -- the gateway's sign-in (auth.py) ----------------------------------------------------------------------------


class AuthChallenge(SQLModel, table=True):
    """A one-time sign-in challenge; ``used_at`` is set when it is exchanged, so it cannot be replayed."""

    __tablename__ = "auth_challenge"
    # the periodic deletion of expired challenges reads only those (red team round 64; migration 0020)
    __table_args__ = (Index("ix_auth_challenge_expires_at", "expires_at"),)

    id: str = Field(primary_key=True, max_length=64)
    department_id: str = Field(max_length=32)
    message: str = Field(max_length=1000)
    created_at: datetime = Field(sa_column=Column(StoredTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(StoredTime, nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(StoredTime, nullable=True))


class IssuedToken(SQLModel, table=True):
    """A token the gateway issued and that is not signed out: honoured only while its row is here and its seal is
    the MAC the gateway's token secret gives (``auth.token_seal``), so an insider who deletes or edits rows ends
    tokens rather than reviving them. Sign-out deletes the row; rows are kept until a day after their expiry."""

    __tablename__ = "auth_issued_token"

    jti: str = Field(primary_key=True, max_length=64)
    department_id: str = Field(max_length=32)
    expires_at: datetime = Field(sa_column=Column(StoredTime, nullable=False, index=True))
    seal: str = Field(max_length=64)


class KeyCheck(SQLModel, table=True):
    """Which key this database was first used with, for each key kept outside it (``storage/keycheck.py``): a check
    value (an HMAC under the key of a fixed label and the purpose, never the key) recorded at the key's first use, so
    another deployment's key file under the same passphrase, or a clear token secret planted in place of the wrapped
    one, is refused before anything is sealed, opened or signed with it."""

    __tablename__ = "key_check"

    purpose: str = Field(primary_key=True, max_length=32)
    check_value: str = Field(max_length=64)
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=Column(StoredTime, nullable=False))


# -- sharing grants (sharing.py) --------------------------------------------------------------------------------


class GrantBase(SQLModel):
    grantee: str = Field(max_length=32, description="Department code that may read the certificate.")
    purpose: str = Field(
        min_length=1,
        max_length=MAX_PURPOSE,
        description="Why the receiving department needs it; recorded with every access.",
    )
    expires_at: datetime = Field(description="End of the grant (ISO 8601 with time zone); must be in the future.")
    reveal: list[str] | None = Field(
        default=None,
        sa_column=Column(StoredNames, nullable=True),
        description="Fields to reveal (e.g. subject.name); omitted: the whole certificate. "
        "id, type, issuer, issued_at and validity dates are always disclosed.",
    )


class GrantPublic(GrantBase):
    # shown as stored: a row an insider wrote past the request's bounds is listed (not live, its problem named),
    # never a 500 for the whole listing (red team round 80)
    grantee: str = Field(description="Department code that may read the certificate.")
    purpose: str = Field(description="Why the receiving department needs it; recorded with every access.")
    id: str
    digest: str
    issuer: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    live: bool = False
    # in a listing (sharing.listed): why the row is not the grant the issuer's anchored access log records (revived,
    # rewritten, written with no logged creation); such a row is never live, as no read is served through it
    problem: str | None = None


GRANT_PURPOSE_ERASED = "(erased)"
"""What ``Grant.purpose`` holds once the grant's certificate was erased (erasure.py): the issuer's free text may
name the person, and the access log keeps only its hash, keyed by the grant's ``purpose_salt`` (which erasure
clears with it)."""


class Grant(GrantBase, table=True):
    __tablename__ = "certificate_grant"
    # a department's received grants in the order ``GET /grants/received`` pages them, so a page reads only itself
    # however many grants other issuers made (red team round 74; migration 0021)
    __table_args__ = (Index("ix_certificate_grant_received", "grantee", "created_at", "id"),)

    id: str = Field(primary_key=True, max_length=32)
    digest: str = Field(index=True, max_length=66)
    issuer: str = Field(index=True, max_length=32)
    grantee: str = Field(index=True, max_length=32)
    created_by: str = Field(max_length=42, description="Signer address of the issuing department's session.")
    created_at: datetime = Field(sa_column=Column(StoredTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(StoredTime, nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(StoredTime, nullable=True))
    revoked_by: str | None = Field(default=None, max_length=42)
    # the random salt (hex) that keys the hash of ``purpose`` in the anchored access log (accesslog.purpose_hash):
    # as sensitive as the text, never in an entry or an answer, cleared by erasure with it (0010); NULL for a grant
    # made before it, whose entries hold the text's unsalted SHA-256
    purpose_salt: str | None = Field(default=None, max_length=64)

    def is_live(self, now: datetime) -> bool:
        return self.revoked_at is None and aware(self.created_at) <= now < aware(self.expires_at)

    def public(self, now: datetime) -> GrantPublic:
        data = self.model_dump(exclude={"purpose_salt"})
        for key in ("created_at", "expires_at", "revoked_at"):
            if data.get(key) is not None:
                data[key] = aware(data[key])
        return GrantPublic(**data, live=self.is_live(now))


# -- consent from the data subject (consent.py) -----------------------------------------------------------------


class ConsentPublic(BaseModel):
    id: str
    certificate: str
    issuer: str
    recipient: str
    purpose_code: str
    purpose_text: str
    fields: list[str]
    provider: str
    assurance: str
    given_at: datetime
    expires_at: datetime
    withdrawn_at: datetime | None = None
    signer: str
    record_hash: str
    live: bool
    # in a listing (consent.listed): why a row that reads live is not relied on (its signature or the anchored
    # access log says otherwise: an edited row); such a row is never live, as no read is served on it
    problem: str | None = None


CONSENT_ERASED = "erased"
"""What ``Consent.subject_ref`` holds once the consent's certificate was erased (erasure.py): the keyed reference
of the person's identifier would let whoever holds the vault key confirm a guessed ID number and so tie the erased
certificate to its person again. The purpose text, the person's own words, is emptied with it, and the record's
salt (``record_salt``) is cleared, without which the record hash confirms no guess of either."""


class Consent(SQLModel, table=True):
    __tablename__ = "consent_record"

    id: str = Field(primary_key=True, max_length=32)
    digest: str = Field(index=True, max_length=66)
    issuer: str = Field(index=True, max_length=32)
    subject_ref: str = Field(index=True, max_length=66)
    provider: str = Field(max_length=64)
    assurance: str = Field(max_length=64)
    recipient: str = Field(max_length=32)
    purpose_code: str = Field(max_length=64)
    purpose_text: str = Field(max_length=MAX_PURPOSE_TEXT)
    fields: list[str] = Field(sa_column=Column(StoredFieldNames, nullable=False))
    given_at: datetime = Field(sa_column=Column(StoredTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(StoredTime, nullable=False))
    withdrawn_at: datetime | None = Field(default=None, sa_column=Column(StoredTime, nullable=True))
    signer: str = Field(max_length=42)
    signature: str = Field(max_length=132)
    record_hash: str = Field(max_length=66)
    # the random salt (hex) the signed record (``pl-consent/2``) hashes with the rest (consent.py): without it the
    # record hash, kept in the row and in the anchored ``consent`` entry, confirms no guessed person or purpose once
    # erasure cleared the salt with them (0011); never in an answer. NULL: a ``pl-consent/1`` record, made before
    record_salt: str | None = Field(default=None, max_length=64)

    def is_live(self, now: datetime) -> bool:
        return self.withdrawn_at is None and aware(self.given_at) <= now < aware(self.expires_at)

    def public(self, now: datetime) -> ConsentPublic:
        return ConsentPublic(
            id=self.id,
            certificate=self.digest,
            issuer=self.issuer,
            recipient=self.recipient,
            purpose_code=self.purpose_code,
            purpose_text=self.purpose_text,
            fields=sorted(self.fields),
            provider=self.provider,
            assurance=self.assurance,
            given_at=aware(self.given_at),
            expires_at=aware(self.expires_at),
            withdrawn_at=aware(self.withdrawn_at) if self.withdrawn_at is not None else None,
            signer=self.signer,
            record_hash=self.record_hash,
            live=self.is_live(now),
        )


class ConsentGrant(SQLModel, table=True):
    """Which consent a grant relies on (a grant without a row here needed none)."""

    __tablename__ = "consent_grant"

    grant_id: str = Field(primary_key=True, max_length=32)
    consent_id: str = Field(index=True, max_length=32)
    purpose_code: str = Field(max_length=64)


class SpentAssertion(SQLModel, table=True):
    __tablename__ = "consent_assertion_spent"

    nonce_hash: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_column=Column(StoredTime, nullable=False))
