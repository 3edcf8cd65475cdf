"""Issue 18 (time per million): the SQLite settings every connection of the engine runs with. The write-ahead log is
checkpointed every ``SQLITE_CHECKPOINT_PAGES`` pages (1 GiB), so the digest-index pages that the batches of a bulk
issuance dirty again and again are copied back to the database file once per checkpoint, not once per batch. Only
the cost changes: committed rows are in the log either way, and erasure still truncates it (tests/test_erasure.py
scans the -wal file for the erased secrets)."""

from __future__ import annotations

import threading
from pathlib import Path

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
        full = (store.SQLITE_CHECKPOINT_PAGES, store.SQLITE_CACHE_KIB, "wal", store.SQLITE_PAGE_BYTES)
        assert _settings(engine) == full
        with store.streaming_cache():  # replay's small cache changes the cache, not the checkpoints
            assert _settings(engine) == (full[0], store.SQLITE_STREAMING_CACHE_KIB, *full[2:])
        other: list[tuple[int, int, str, int]] = []
        thread = threading.Thread(target=lambda: other.append(_settings(engine)))
        thread.start()
        thread.join()
        assert other == [full]
        # 1 GiB of 16 KiB pages: the figure bench/analysis.md measured ("time per million")
        assert store.SQLITE_CHECKPOINT_PAGES * store.SQLITE_PAGE_BYTES == 2**30
    finally:
        engine.dispose()
