"""The database: SQLModel tables for batches and certificates, and opening SQLite or PostgreSQL.

Rows hold digests, proofs, chain coordinates and non-personal metadata (certificate id, type, issuer,
validity). A certificate's fields and salts are kept only sealed (see vault.py). Every batch moves through
persisted states in the same transaction as its certificates (a transactional outbox)::

    prepared -> submitted -> confirmed

so after a crash every certificate is either anchored exactly once or still pending and completed on restart.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, LargeBinary, UniqueConstraint, event, make_url
from sqlmodel import Field, SQLModel, create_engine

from .errors import ConfigError


def utcnow() -> datetime:
    return datetime.now(UTC)


class BatchState:
    PREPARED = "prepared"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    PENDING = (PREPARED, SUBMITTED)


class Batch(SQLModel, table=True):
    root: str = Field(primary_key=True, max_length=66)
    department_id: str = Field(index=True, max_length=32)
    schema_id: str = Field(max_length=66)
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


class Certificate(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("department_id", "certificate_id", name="uq_certificate_department_id"),)

    digest: str = Field(primary_key=True, max_length=66)
    batch_root: str = Field(index=True, foreign_key="batch.root", max_length=66)
    leaf_index: int
    certificate_id: str = Field(max_length=128)
    department_id: str = Field(index=True, max_length=32)
    cert_type: str = Field(max_length=64)
    issued_at: str = Field(max_length=40)
    valid_until: str | None = Field(default=None, max_length=40)
    proof: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: str = Field(default="valid", max_length=16)
    superseded_by: str | None = Field(default=None, max_length=66)


class StatusChange(SQLModel, table=True):
    """A revocation, suspension, reinstatement or supersession sent to the chain."""

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(index=True, max_length=66)
    action: str = Field(max_length=16)
    detail: str = Field(max_length=66)
    tx_hash: str | None = Field(default=None, max_length=66)
    block_number: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    # A free-text note that stays off chain: sealed with the vault key (AES-256-GCM, bound to the digest).
    note_sealed: bytes | None = None


def private_directory(path: Path) -> None:
    """Create ``path`` (and parents) if needed and make it 0700: keys, chain state and the database live there."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        path.chmod(0o700)
    except PermissionError:
        raise ConfigError(f"the data directory {path} must be private (0700) but belongs to another user; "
                          "use a directory of your own (LEDGER_DATA_DIR)") from None


def _private_sqlite_files(url: str) -> None:
    """Create the SQLite database file 0600 before SQLite does (it would follow the umask, typically 0644) and
    tighten existing ones. SQLite gives its -wal and -shm files the database file's mode."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    # Never open an existing database file here: closing any descriptor of a file drops every POSIX lock this
    # process holds on it, including SQLite's own locks of engines already open on it ("disk I/O error").
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").chmod(0o600)


def open_engine(url: str) -> Engine:
    """Create the engine and the tables; SQLite gets WAL and foreign keys, and files only its owner can read."""
    try:
        if url.startswith("sqlite"):
            _private_sqlite_files(url)
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
            engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
        _import_models()
        SQLModel.metadata.create_all(engine)
    except Exception as exc:  # noqa: BLE001 - any driver error means the database is not usable
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"cannot open the database {_redact(url)}: {exc}") from exc
    return engine


def _import_models() -> None:
    """Import every module that defines tables, so create_all sees them all."""
    import importlib

    for module in ("ledger.logchain", "ledger.decisions", "ledger.accesslog", "ledger.permits"):
        importlib.import_module(module)


SQLITE_CACHE_KIB = 128 * 1024
SQLITE_PAGE_BYTES = 16 * 1024
SQLITE_CHECKPOINT_PAGES = 10_000  # x 16 KiB pages: the same ~160 MB as before


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # 16 KiB pages instead of 4 KiB, for a new database file (an existing one keeps its page size): a certificate
    # row is about 1.4 KB, so a 4 KiB page held two and left a third of itself empty; a 16 KiB page holds eleven
    # (issue 18: bytes per certificate). Must precede the switch to WAL, after which the size is fixed.
    cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_BYTES}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # 128 MB page cache at most (SQLite's default is 2 MB): the indexes keyed by random certificate digests
    # of a million-row store then stay in memory, instead of every insert reading pages back from the file.
    # Pages are allocated as used, so a small store costs nothing more.
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.execute("PRAGMA temp_store=MEMORY")
    # Deleted and overwritten content is zeroed in the pages, not just unlinked: an erased certificate's data key
    # must not survive in free space of the file (ledger/erasure.py, docs/privacy.md).
    cursor.execute("PRAGMA secure_delete=ON")
    # Checkpoint the write-ahead log every ~160 MB instead of every 4 MB: a batch of certificates dirties pages
    # all over the digest index, and pages written again by the next batches are then copied back to the
    # database file once, not once per batch (at a million rows this halves the time of a commit). Durability
    # is unchanged: a committed transaction is in the log either way.
    cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
    cursor.close()


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
