"""Issue 18 (time per million): the SQLite settings every connection of the engine runs with. The write-ahead log is
checkpointed every ``SQLITE_CHECKPOINT_BYTES`` (1 GiB, counted in pages of the file's own size), so the digest-index
pages that the batches of a bulk issuance dirty again and again are copied back to the database file once per
checkpoint, not once per batch. A new database file gets ``SQLITE_PAGE_BYTES`` (16 KiB) pages; a file made before them
(4 KiB, until 2026-12-02) keeps its own page size and is checkpointed every 1 GiB too. Only the cost changes:
committed rows are in the log either way, and erasure still truncates it (tests/test_erasure.py scans the -wal file
for the erased secrets)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ledger.storage import store


def _settings(engine: Engine) -> tuple[int, int, str, int]:
    with engine.connect() as conn:
        return (
            int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()),
            -int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one()),
            str(conn.exec_driver_sql("PRAGMA journal_mode").scalar_one()),
            int(conn.exec_driver_sql("PRAGMA page_size").scalar_one()),
        )


def test_every_connection_checkpoints_at_the_configured_size(tmp_path: Path) -> None:
    engine = store.open_engine(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    try:
        pages = store.SQLITE_CHECKPOINT_BYTES // store.SQLITE_PAGE_BYTES
        full = (pages, store.SQLITE_CACHE_KIB, "wal", store.SQLITE_PAGE_BYTES)
        assert _settings(engine) == full
        with store.streaming_cache():  # replay's small cache changes the cache, not the checkpoints
            assert _settings(engine) == (full[0], store.SQLITE_STREAMING_CACHE_KIB, *full[2:])
        other: list[tuple[int, int, str, int]] = []
        thread = threading.Thread(target=lambda: other.append(_settings(engine)))
        thread.start()
        thread.join()
        assert other == [full]
        # 1 GiB of 16 KiB pages: the figures bench/analysis.md measured ("time per million")
        assert (pages, store.SQLITE_PAGE_BYTES) == (65_536, 16 * 1024)
    finally:
        engine.dispose()


def test_a_store_made_with_4_kib_pages_keeps_them_and_is_checkpointed_every_1_gib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store made before pages became 16 KiB (2026-12-02) is opened as it is: SQLite fixes a file's page size once
    it is in WAL mode, so the setting cannot (and must not) rewrite it. Its log is checkpointed every 1 GiB like a
    new store's: 262,144 of its pages (the setting was a count of 16 KiB pages, 256 MB of such a store's), and what
    it holds reads back."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    with monkeypatch.context() as before:
        before.setattr(store, "SQLITE_PAGE_BYTES", 4096)  # what versions before 2026-12-02 made
        engine = store.open_engine(url)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("CREATE TABLE kept (n INTEGER)")
                conn.exec_driver_sql("INSERT INTO kept VALUES (42)")
        finally:
            engine.dispose()
    assert store.SQLITE_PAGE_BYTES == 16 * 1024
    engine = store.open_engine(url)
    try:
        assert _settings(engine) == (262_144, store.SQLITE_CACHE_KIB, "wal", 4096)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT n FROM kept").scalar_one() == 42
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    finally:
        engine.dispose()
    fresh = store.open_engine(f"sqlite:///{tmp_path / 'new.sqlite3'}")  # a new file beside it: the new size
    try:
        assert _settings(fresh) == (65_536, store.SQLITE_CACHE_KIB, "wal", 16 * 1024)
    finally:
        fresh.dispose()
