"""An insider's edit of one stored row, for the red-team tests that play a person with database access."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from ledger.client import Ledger
from ledger.services import logchain
from ledger.storage.vault import Vault


@contextlib.contextmanager
def insider_edit(ledger: Ledger, model: Any, key: Any, value: str, **changes: Any) -> Iterator[None]:
    """The insider's edit of the row of ``model`` whose ``key`` column is ``value``, undone afterwards: the session's
    database is shared, and a row left moved is a divergence every later reconcile reports."""
    columns = [getattr(model, name) for name in changes]
    with ledger.engine.begin() as conn:
        before = dict(zip(changes, conn.execute(select(*columns).where(key == value)).one(), strict=True))
        conn.execute(update(model).where(key == value).values(**changes))
    try:
        yield
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(update(model).where(key == value).values(**before))


def anchor_claims(ledger: Ledger, log: str, department: str, seq: int) -> list[Any]:
    """The insider's ways of making the store call entry ``seq`` of ``department``'s ``log``
    anchored when it is not (an entry's anchoring is the anchor row whose range holds it): each a context manager
    that makes the claim and undoes it. A forged anchor row of the entry alone, marked anchored
    (:func:`forged_anchor`); and the department's latest real anchor stretched to reach the entry."""
    from ledger.storage.models import LogAnchor

    with ledger.engine.connect() as conn:
        latest = conn.execute(
            select(LogAnchor.root)
            .where(LogAnchor.log == log, LogAnchor.department_id == department, LogAnchor.last_seq < seq)  # type: ignore[arg-type]
            .order_by(LogAnchor.last_seq.desc())  # type: ignore[attr-defined]
            .limit(1)
        ).scalar_one()
    return [
        forged_anchor(ledger, log, department, seq, seq),
        insider_edit(ledger, LogAnchor, LogAnchor.root, latest, last_seq=seq),
    ]


@contextlib.contextmanager
def forged_anchor(
    ledger: Ledger, log: str, department: str, first: int, last: int, state: str = "anchored"
) -> Iterator[str]:
    """The insider's anchor row of ``department``'s ``log`` claiming entries ``first``-``last`` (in state ``state``)
    under a root nobody anchored (its leaves made up), removed afterwards; yields the root."""
    from ledger.storage.models import LogAnchor

    leaf = bytes([first % 251 + 1]) * 32
    root = "0x" + bytes([last % 251 + 3]).hex() * 32
    now = datetime.now(UTC)
    row = {
        "root": root,
        "log": log,
        "department_id": department,
        "first_seq": first,
        "last_seq": last,
        "head_hash": "0x" + leaf.hex(),
        "signer": "0x" + "11" * 20,
        "signature": "0x" + "22" * 65,
        "state": state,
        "tx_hash": "0x" + "33" * 32,
        "block_number": 1,
        "created_at": now,
        "anchored_at": now,
        "leaves": leaf * (last - first + 1),
        "nodes": leaf,
    }
    with ledger.engine.begin() as conn:
        conn.execute(insert(LogAnchor).values(**row))
    try:
        yield root
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(delete(LogAnchor).where(LogAnchor.root == root))  # type: ignore[arg-type]


SPELLINGS = ("a key named twice", "spaced out")


def written_past_the_library(
    monkeypatch: pytest.MonkeyPatch, log: str, spelling: str, *, twice: str = '"outcome":"approve"'
) -> None:
    """The next entry of ``log`` stored in the spelling ``spelling`` (one of :data:`SPELLINGS`) of its canonical
    text, its hash taken over that text, as a department's own tool would store and anchor it; a key named twice
    puts the member ``twice`` first."""
    spell = {
        "spaced out": lambda text: text.replace('":', '": '),
        "a key named twice": lambda text: "{" + twice + "," + text[1:],
    }[spelling]
    honest = logchain._row

    def row(body: dict[str, Any], written_to: str, created_at: Any) -> tuple[Any, ...]:
        text, *rest = honest(body, written_to, created_at)
        return (spell(text) if written_to == log else text, *rest)

    monkeypatch.setattr(logchain, "_row", row)


@contextlib.contextmanager
def foreign_vault_key(ledger: Ledger, directory: Path) -> Iterator[Vault]:
    """The insider's swap of the vault key (red team rounds 62 and 63): the vault's ``key_check`` row deleted and
    another deployment's ``vault.key`` (made in ``directory``, wrapped under the same passphrase) put in place of
    this one's, as a process started after the swap sees it; yields the other key's vault, to seal bodies under.
    Undone afterwards: this deployment's key file back, and its check value recorded again if the row now holds
    another (the session's database is shared)."""
    from ledger.storage import keycheck
    from ledger.storage.models import KeyCheck

    from .conftest import PASSPHRASE

    other = Vault.from_env_or_file(directory / "other.key", PASSPHRASE, kdf_n=1024, kdf_floor=1024)
    keys = ledger.settings.keys_dir
    own = (keys / "vault.key").read_bytes()
    recorded = keycheck.recorded(ledger.engine, "vault")
    with ledger.engine.begin() as conn:
        conn.execute(delete(KeyCheck.__table__).where(KeyCheck.__table__.c.purpose == "vault"))  # type: ignore[attr-defined]
    (keys / "vault.key").write_bytes((directory / "other.key").read_bytes())
    ledger._vault = None  # as a process started after the swap
    try:
        yield other
    finally:
        (keys / "vault.key").write_bytes(own)
        ledger._vault = None
        if recorded is not None and keycheck.recorded(ledger.engine, "vault") != recorded:
            keycheck.replace(ledger.engine, "vault", recorded)


@contextlib.contextmanager
def reads_of_the_whole_store(ledger: Ledger) -> Iterator[list[str]]:
    """The statements run on ``ledger``'s database in the block whose plan reads the whole ``certificate`` table (a
    scan, not a seek into one of its indexes), listed once the block ends. PostgreSQL is asked with sequential scans
    off, so that a small test table read through an index still shows whether the index was sought into."""
    from sqlalchemy import event

    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "certificate" in statement:
            seen.append((statement, parameters))

    found: list[str] = []
    event.listen(ledger.engine, "before_cursor_execute", record)
    try:
        yield found
    finally:
        event.remove(ledger.engine, "before_cursor_execute", record)
    with ledger.engine.connect() as conn:
        for statement, parameters in seen:
            if conn.dialect.name == "sqlite":
                plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
                if any(re.match(r"SCAN certificate\b", str(step[-1])) for step in plan):
                    found.append(statement)
            else:
                conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
                plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar_one()
                if _scans_certificate((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]):
                    found.append(statement)


def _scans_certificate(node: dict[str, Any]) -> bool:
    if node.get("Relation Name") == "certificate" and (
        node["Node Type"] == "Seq Scan"
        or (node["Node Type"] in ("Index Scan", "Index Only Scan") and "Index Cond" not in node)
    ):
        return True
    return any(_scans_certificate(child) for child in node.get("Plans", []))


def appended_past_the_library(
    ledger: Ledger, log: str, department: str, body: dict[str, Any], *, mark: str | None = None
) -> int:
    """The insider's entry appended to ``department``'s ``log`` with SQL alone (no key): the body's canonical text,
    hashed and chained after the head as the library does, its index key and time as the library stores them, and
    ``mark`` as the mark (None: none; the insider cannot make the ledger's). Returns its sequence number."""
    from ledger.storage.models import LogEntry

    table = LogEntry.__table__  # type: ignore[attr-defined]
    with ledger.engine.begin() as conn:
        head = conn.execute(
            select(table.c.seq, table.c.entry_hash)
            .where(table.c.log == log, table.c.department_id == department)
            .order_by(table.c.seq.desc())
            .limit(1)
        ).first()
        seq, prev = (int(head[0]) + 1, str(head[1])) if head is not None else (1, logchain.ZERO_HASH)
        text, lookup, _named, stored_at = logchain._row(body, log, None)  # the text, key and time the library stores
        conn.execute(
            insert(table).values(
                log=log,
                department_id=department,
                seq=seq,
                body=text,
                lookup=lookup,
                entry_hash=logchain.compute_entry_hash(log, department, seq, prev, text),
                prev_hash=prev,
                created_at=stored_at,
                mark=mark,
            )
        )
    return seq


def entry_column(ledger: Ledger, log: str, department: str, seq: int, column: str) -> Any:
    """What the store holds in ``column`` of entry ``seq`` of ``department``'s ``log``."""
    from ledger.storage.models import LogEntry

    table = LogEntry.__table__  # type: ignore[attr-defined]
    with ledger.engine.connect() as conn:
        return conn.execute(
            select(table.c[column]).where(table.c.log == log, table.c.department_id == department, table.c.seq == seq)
        ).scalar_one()


def next_on_chain(ledger: Ledger, log: str, department: str) -> int:
    """The sequence number the chain expects next of ``department``'s ``log``: what anchoring has signed so far."""
    from ledger.onchain.ids import department_id_bytes

    chain = ledger.chain
    return int(chain.call(chain.log.functions.nextSequence(department_id_bytes(department), logchain.log_id(log))))


def access_body(digest: str, n: int) -> dict[str, Any]:
    """An access-log body naming ``digest`` and reader ``n``: what the ledger, or an insider, appends."""
    return {"certificate": digest, "reader": f"ref-{n}", "purpose": "check", "at": datetime.now(UTC).isoformat()}


def removed_entry(ledger: Ledger, log: str, department: str, seq: int) -> None:
    """The operator, having checked entry ``seq`` of ``department``'s ``log``, removes its row and its mentions."""
    from ledger.storage.models import LogEntry, LogMention

    with ledger.engine.begin() as conn:
        for model in (LogMention, LogEntry):
            conn.execute(
                delete(model).where(
                    model.log == log,  # type: ignore[arg-type]
                    model.department_id == department,  # type: ignore[arg-type]
                    model.seq == seq,  # type: ignore[arg-type]
                )
            )
