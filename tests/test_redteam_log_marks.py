"""The ledger's mark on each log entry: anchoring signs, in the department's name, only entries the ledger wrote.

An entry's hash is no one's signature. An insider who can write the database but holds no key appended an entry to a
department's log - an erasure naming a live certificate (to hide it from its holder and a court), a decision nobody
took - hashed and chained exactly as the library does, and the next ``ledger anchor-logs`` (or the anchoring every
``decide`` and ``erase`` runs) signed it on chain; from then on it read as any lawful entry (red team round 63's open
row). Each entry now bears an HMAC of its hash under a key derived from the department's secret, which the vault
seals (``logchain.entry_mark``), and anchoring refuses an entry without it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, update

from ledger.cli import main as cli_main
from ledger.client import Ledger
from ledger.errors import StateError
from ledger.formats.merkle import MerkleTree
from ledger.services import erasure, logchain
from ledger.storage.models import LogAnchor, LogEntry
from ledger.storage.store import chunk_nodes

from .api_support import issue
from .evidence_support import cli_env
from .insider_support import (
    access_body,
    appended_past_the_library,
    entry_column,
    next_on_chain,
    removed_entry,
)


def _last_seq(ledger: Ledger, log: str, department: str) -> int:
    with ledger.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.max(LogEntry.seq)).where(
                    LogEntry.log == log,  # type: ignore[arg-type]
                    LogEntry.department_id == department,  # type: ignore[arg-type]
                )
            ).scalar_one()
        )


def _forged_erasure(digest: str) -> dict[str, Any]:
    return {"certificate": digest, "basis": "forged-order", "by_ref": "0" * 64, "at": datetime.now(UTC).isoformat()}


def test_an_insiders_erasure_entry_is_not_anchored_in_the_departments_name(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Adversary: an insider who can write the database (no keys) appends an entry to the department's ``erasures``
    log naming a live certificate, chained and hashed as the library does, and waits for the operator's routine
    ``ledger anchor-logs --log erasures``: it signed the entry on chain, after which the certificate read as lawfully
    erased everywhere. The anchoring must refuse it, name it and say what to do, and anchor nothing of it; the entry
    is anchored only on the operator's word that it was checked (``--accept-unmarked``), which the operator, seeing
    an erasure nobody ordered, does not give."""
    (doc,) = issue(ledger, fresh_department, 1)
    # a department with a history (its secret made by its first entry, as every department that decides or erases)
    logchain.append(ledger, logchain.LOG_ACCESS, fresh_department, access_body(doc["digest"], 0))
    before = next_on_chain(ledger, erasure.LOG, fresh_department)
    seq = appended_past_the_library(ledger, erasure.LOG, fresh_department, _forged_erasure(doc["digest"]))
    data_dir = cli_env(ledger, monkeypatch)
    capsys.readouterr()
    try:
        code = cli_main([*data_dir, "anchor-logs", "--department", fresh_department, "--log", erasure.LOG])
        said = capsys.readouterr()
        assert code != 0, said.out
        words = said.err
        assert f"entry {seq} was not written by this ledger (it has no mark)" in words, words
        assert "--accept-unmarked" in words and "ledger replay" in words, words
        assert next_on_chain(ledger, erasure.LOG, fresh_department) == before
        with pytest.raises(StateError, match=f"entry {seq} was not written by this ledger"):
            logchain.anchor_pending(ledger, erasure.LOG, fresh_department)
        assert next_on_chain(ledger, erasure.LOG, fresh_department) == before
        # the log's check (replay, reconcile) names it before any anchoring is tried
        found = logchain.check_log(ledger, erasure.LOG, fresh_department)
        assert [(d.kind, d.seq) for d in found] == [("unmarked", seq)], [d.to_json() for d in found]
    finally:
        removed_entry(ledger, erasure.LOG, fresh_department, seq)
    assert logchain.anchor_pending(ledger, erasure.LOG, fresh_department) == []
    assert logchain.check_log(ledger, erasure.LOG, fresh_department) == []


def test_a_mark_copied_from_a_genuine_entry_or_kept_through_an_edit_never_anchors(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: the same insider, knowing entries bear marks, copies a genuine entry's mark onto the forged one;
    or edits a genuine pending entry's body, hashing it again (and keeping its mark). A mark vouches for one entry
    hash: both are refused, also with ``accept_unmarked`` (which accepts a missing mark, never a wrong one)."""
    (doc,) = issue(ledger, fresh_department, 1)
    genuine = logchain.append(ledger, logchain.LOG_ACCESS, fresh_department, access_body(doc["digest"], 1))
    copied = entry_column(ledger, logchain.LOG_ACCESS, fresh_department, genuine.seq, "mark")
    assert isinstance(copied, str) and len(copied) == 64, copied
    assert logchain.anchor_pending(ledger, logchain.LOG_ACCESS, fresh_department)
    before = next_on_chain(ledger, logchain.LOG_ACCESS, fresh_department)
    seq = appended_past_the_library(
        ledger, logchain.LOG_ACCESS, fresh_department, access_body(doc["digest"], 2), mark=copied
    )
    try:
        for accept in (False, True):
            with pytest.raises(StateError, match=f"entry {seq} .*its mark is not the ledger's mark of its hash"):
                logchain.anchor_pending(ledger, logchain.LOG_ACCESS, fresh_department, accept_unmarked=accept)
        assert next_on_chain(ledger, logchain.LOG_ACCESS, fresh_department) == before
    finally:
        removed_entry(ledger, logchain.LOG_ACCESS, fresh_department, seq)

    edited = logchain.append(ledger, logchain.LOG_ACCESS, fresh_department, access_body(doc["digest"], 3))
    prev = entry_column(ledger, logchain.LOG_ACCESS, fresh_department, edited.seq, "prev_hash")
    text = logchain.canonical_body({**access_body(doc["digest"], 3), "purpose": "other"}).decode()
    rehashed = logchain.compute_entry_hash(logchain.LOG_ACCESS, fresh_department, edited.seq, prev, text)
    where = (
        (LogEntry.log == logchain.LOG_ACCESS)  # type: ignore[arg-type]
        & (LogEntry.department_id == fresh_department)  # type: ignore[arg-type]
        & (LogEntry.seq == edited.seq)  # type: ignore[arg-type]
    )
    with ledger.engine.begin() as conn:
        conn.execute(update(LogEntry).where(where).values(body=text, entry_hash=rehashed))
    try:
        with pytest.raises(StateError, match=f"entry {edited.seq} .*not the ledger's mark"):
            logchain.anchor_pending(ledger, logchain.LOG_ACCESS, fresh_department, accept_unmarked=True)
        assert next_on_chain(ledger, logchain.LOG_ACCESS, fresh_department) == before
    finally:
        removed_entry(ledger, logchain.LOG_ACCESS, fresh_department, edited.seq)


def test_the_genuine_entries_before_an_insiders_are_anchored_and_it_is_named(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: the insider appends their entry after genuine pending ones, so that refusing it would hold the
    department's own back. The genuine ones are anchored; the insider's, and nothing after it, is not."""
    (doc,) = issue(ledger, fresh_department, 1)
    logchain.anchor_pending(ledger, logchain.LOG_ACCESS, fresh_department)
    before = next_on_chain(ledger, logchain.LOG_ACCESS, fresh_department)
    for n in (1, 2):
        logchain.append(ledger, logchain.LOG_ACCESS, fresh_department, access_body(doc["digest"], n))
    seq = appended_past_the_library(ledger, logchain.LOG_ACCESS, fresh_department, access_body(doc["digest"], 9))
    assert seq == before + 2
    try:
        with pytest.raises(StateError, match=f"entry {seq} was not written by this ledger"):
            logchain.anchor_pending(ledger, logchain.LOG_ACCESS, fresh_department)
        assert next_on_chain(ledger, logchain.LOG_ACCESS, fresh_department) == before + 2
    finally:
        removed_entry(ledger, logchain.LOG_ACCESS, fresh_department, seq)


def test_an_insiders_prepared_anchor_over_their_own_entry_is_not_sent(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: the insider writes, beside their entry, an open anchor row prepared from it exactly as the library
    prepares one (its root, leaves, nodes and head the entry's), so the check that an open anchor was prepared from
    the stored entries passes, and the next anchoring sends it with the department's key after a "crash". The
    entries of an open anchor must bear the ledger's mark too."""
    (doc,) = issue(ledger, fresh_department, 1)
    logchain.append(ledger, logchain.LOG_ACCESS, fresh_department, access_body(doc["digest"], 0))
    before = next_on_chain(ledger, erasure.LOG, fresh_department)
    seq = appended_past_the_library(ledger, erasure.LOG, fresh_department, _forged_erasure(doc["digest"]))
    entry_hash = entry_column(ledger, erasure.LOG, fresh_department, seq, "entry_hash")
    tree = MerkleTree([bytes.fromhex(entry_hash[2:])])
    root = "0x" + tree.root.hex()
    row = {
        "root": root,
        "log": erasure.LOG,
        "department_id": fresh_department,
        "first_seq": seq,
        "last_seq": seq,
        "head_hash": entry_hash,
        "signer": "0x" + "11" * 20,
        "signature": "0x" + "22" * 65,
        "state": "prepared",
        "created_at": datetime.now(UTC),
        "leaves": bytes.fromhex(entry_hash[2:]),
        "nodes": chunk_nodes(tree),
    }
    with ledger.engine.begin() as conn:
        conn.execute(insert(LogAnchor).values(**row))
    try:
        with pytest.raises(StateError, match=f"entry {seq} was not written by this ledger"):
            logchain.anchor_pending(ledger, erasure.LOG, fresh_department)
        assert next_on_chain(ledger, erasure.LOG, fresh_department) == before
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(delete(LogAnchor).where(LogAnchor.root == root))  # type: ignore[arg-type]
        removed_entry(ledger, erasure.LOG, fresh_department, seq)


def test_an_entry_written_before_marks_existed_is_anchored_once_the_operator_accepts_it(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An entry pending at the upgrade to migration 0019 has no mark (the column is new, as are the marks of every
    entry before it): anchoring refuses it like an insider's, saying how to proceed, and ``ledger anchor-logs
    --accept-unmarked`` anchors it once checked."""
    (doc,) = issue(ledger, fresh_department, 1)
    logchain.anchor_pending(ledger, logchain.LOG_ACCESS, fresh_department)
    before = next_on_chain(ledger, logchain.LOG_ACCESS, fresh_department)
    old = logchain.append(ledger, logchain.LOG_ACCESS, fresh_department, access_body(doc["digest"], 1))
    where = (
        (LogEntry.log == logchain.LOG_ACCESS)  # type: ignore[arg-type]
        & (LogEntry.department_id == fresh_department)  # type: ignore[arg-type]
        & (LogEntry.seq <= old.seq)  # type: ignore[operator]
    )
    with ledger.engine.begin() as conn:  # the log as it stood at the upgrade: no entry marked
        conn.execute(update(LogEntry).where(where).values(mark=None))
    with pytest.raises(StateError, match=f"entry {old.seq} was not written by this ledger \\(it has no mark\\)"):
        logchain.anchor_pending(ledger, logchain.LOG_ACCESS, fresh_department)
    assert next_on_chain(ledger, logchain.LOG_ACCESS, fresh_department) == before
    data_dir = cli_env(ledger, monkeypatch)
    capsys.readouterr()
    args = ["anchor-logs", "--department", fresh_department, "--log", logchain.LOG_ACCESS, "--accept-unmarked"]
    assert cli_main([*data_dir, *args]) == 0
    assert json.loads(capsys.readouterr().out)["anchored_batches"], "nothing anchored"
    assert next_on_chain(ledger, logchain.LOG_ACCESS, fresh_department) == before + 1


def test_every_entry_the_library_appends_bears_the_ledgers_mark(ledger: Ledger, fresh_department: str) -> None:
    """Whatever path appends (one entry, many, an erasure composed with its seal), the entry bears the mark of its
    own hash under the department's key, and a routine anchoring signs them all."""
    docs = issue(ledger, fresh_department, 2)
    one = logchain.append(ledger, logchain.LOG_ACCESS, fresh_department, access_body(docs[0]["digest"], 1))
    many = logchain.append_many(
        ledger, logchain.LOG_ACCESS, fresh_department, [access_body(docs[0]["digest"], n) for n in (2, 3)]
    )
    assert many == 2
    erasure.erase(ledger, docs[1]["digest"], fresh_department, basis="court-order", by="officer-1")
    key = logchain.mark_key(ledger, fresh_department)
    for log in (logchain.LOG_ACCESS, erasure.LOG):
        last = _last_seq(ledger, log, fresh_department)
        for seq in range(1, last + 1):
            entry_hash = entry_column(ledger, log, fresh_department, seq, "entry_hash")
            assert entry_column(ledger, log, fresh_department, seq, "mark") == logchain.entry_mark(key, entry_hash)
    assert one.seq >= 1
    logchain.anchor_pending(ledger, logchain.LOG_ACCESS, fresh_department)
    assert logchain.unanchored(ledger, logchain.LOG_ACCESS, fresh_department) == []
