"""Worker processes for bulk deciding and replay: the per-decision hashing that needs neither database nor chain.

The largest share of a decision's CPU is its input: canonical form and digest of the stored input, and the
field-by-field ``input_commitment`` (``formats/decision_input.py``: an HMAC-derived salt and a salted hash per field).
Those are pure functions of the input and the department's applicant secret, so :func:`decide_many` hands them,
a chunk at a time, to worker processes while this process does everything that reads or writes the database or the
chain, evaluates the rules and compares, in order. Nothing is skipped or cached: each value is computed once per
decision, in another process. (:func:`replay` hands its workers whole chunks instead, through the same
:class:`Pool`: ``_replay_worker``.)

The applicant secret is sent to the workers with each chunk (through the pool's pipe to this process's own spawned
children; they keep it in memory only, for that chunk). Signing keys never leave this process.

Workers pay off only on long runs: each spawned worker imports the library (about a second of CPU), so by default
(:func:`worker_count`) they start for runs of more than :data:`POOL_MIN` decisions, one per core beyond the first.
Replay takes that default; ``decide_many`` starts none unless asked (its worker saved no wall time on two idle
cores and cost a fifth more CPU: bench/analysis.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from ..errors import StateError
from ..formats.canonical import json_loads
from ..formats.decision_input import commit, input_commitment_of

POOL_MIN = 20_000


def worker_count(requested: int | None, size: int) -> int:
    """Worker processes for a run of ``size`` decisions: ``requested`` when given (0: none); by default one per core
    beyond the first, and none for runs of up to :data:`POOL_MIN` decisions."""
    if requested is not None:
        return max(0, requested)
    if size <= POOL_MIN:
        return 0
    return max(0, (os.cpu_count() or 1) - 1)


def stored_inputs(
    secret: bytes, kept: Sequence[Mapping[str, Any]], identities: Sequence[str]
) -> list[tuple[str, str, dict[str, str]]]:
    """For each input as stored (citations sealed) and its applicant's identity: (input digest, stored text, the
    record's commitments), the stored text carrying a fresh random nonce (``decisions._with_nonce``)."""
    from .decisions import _input_row, _with_nonce

    out = []
    for value, identity in zip(kept, identities, strict=True):
        digest, row = _input_row(_with_nonce(value))
        inputs, applicant = commit(secret, value, digest, identity)
        out.append((digest, row["document"], {"input_commitment": inputs, "applicant_commitment": applicant}))
    return out


def input_commitments(
    secret: bytes, stored: Sequence[tuple[str, str]], parsed: Mapping[str, Any] | None = None
) -> list[str | None]:
    """``input_commitment_of`` for each (input digest, stored input text); None for a text that is not a JSON
    object (replay reports that input as altered on its own). ``parsed``: input digest -> ``json_loads`` of that
    same text, parsed by the caller just before (replay without workers, which parses each input once per chunk
    for its re-run): used instead of parsing it again; a worker always parses the text it is sent."""
    out: list[str | None] = []
    for digest, text in stored:
        try:
            value = parsed[digest] if parsed is not None and digest in parsed else json_loads(text)
        except ValueError:
            value = None
        out.append(input_commitment_of(secret, value, digest) if isinstance(value, dict) else None)
    return out


def _warm() -> None:
    """Nothing: submitted once per worker so that they start (and import) while this process works."""


class Pool:
    """A spawned process pool (never forked: this process holds database connections, the node's process and key
    material); its workers are this process's children, so their CPU time counts in its RUSAGE_CHILDREN."""

    def __init__(self, workers: int, initializer: Any = None, initargs: tuple[Any, ...] = ()) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.size = workers
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=initializer,
            initargs=initargs,
        )
        for _ in range(workers):
            self._executor.submit(_warm)

    def submit(self, fn: Any, *args: Any) -> Pending:
        return Pending(self._executor.submit(fn, *args))

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Pending:
    """A worker's result to come; a worker that died is a StateError (the library's own error), not a crash."""

    def __init__(self, future: Future[Any]) -> None:
        self._future = future

    def done(self) -> bool:
        return self._future.done()

    def result(self) -> Any:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self._future.result()
        except BrokenProcessPool as exc:
            raise StateError(
                f"a worker process stopped ({exc}); the run stopped before the chunk it was working on "
                "(nothing of that chunk was recorded or judged); see the system log for why the process died"
            ) from exc


class Done:
    """A computed value in a Future's shape, for the runs without workers."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def done(self) -> bool:
        return True

    def result(self) -> Any:
        return self._value


def run(pool: Pool | None, fn: Any, *args: Any) -> Pending | Done:
    """``fn(*args)`` in a worker when there is a pool, else here and now."""
    return pool.submit(fn, *args) if pool is not None else Done(fn(*args))
