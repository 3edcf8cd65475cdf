"""SQLite's own work counted, for the tests that guard a read against growing with the store: a count of virtual-
machine steps (in tens) does not vary with the machine's load, as a time would."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event


class Steps:
    """The steps counted since the last :meth:`reset` (in tens: the handler runs once every 10 instructions)."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0  # never reset: a block that counted nothing watched no connection

    def reset(self) -> None:
        self.count = 0


@contextlib.contextmanager
def sqlite_steps(engine: Any) -> Iterator[Steps]:
    """Count the steps of every connection ``engine`` opens within the block: its pool is emptied first, so each
    connection from here on is a new one, watched, and again at the end, so none stays watched."""
    steps = Steps()

    def tick() -> int:
        steps.count += 1
        steps.total += 1
        return 0  # go on

    def watch(dbapi: Any, _record: Any) -> None:
        dbapi.set_progress_handler(tick, 10)  # once every 10 instructions

    event.listen(engine, "connect", watch)
    try:
        engine.dispose()
        yield steps
    finally:
        event.remove(engine, "connect", watch)
        engine.dispose()
    assert steps.total > 0, "no SQLite step was counted: no connection of the block was watched"
