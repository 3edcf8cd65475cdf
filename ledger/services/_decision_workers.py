"""Worker processes for bulk deciding and replay: the per-decision work that needs neither database nor chain.

:func:`decide_many` hands each chunk of applications, as given, to a worker (``_decision_reading._read_chunk``): each
application checked, its applicant's salted reference, its input sealed (cited documents taken out), its stored
text with a fresh nonce, digest and field-by-field ``input_commitment`` (``formats/decision_input.py``), and what the
writer reads of it before any database or chain read: its citations classified (``facts.classify``), its stored
input's citation rows, its cited copies' certificate digests (``cited_certificate_digest``) and the cases' index keys
(``logchain.lookup_key``). Those are pure functions of the application, the rule sets and the department's applicant
secret. The writer (the calling process) does everything that reads or writes the database or the chain - the
decided-before checks, establishing the facts, the credit view, rules and body, the stored inputs, the log append,
anchoring - chunk after chunk in input order; up to one chunk per worker is read ahead. Nothing is skipped or
cached: each value is computed once per decision, in another process, by the same code the writer runs when there is
no worker. (:func:`replay` hands its workers whole chunks instead, through the same :class:`Pool`:
``_replay_worker``.)

The applicant secret is sent to the workers with each chunk (through the pool's pipe to this process's own spawned
children; they keep it in memory only, for that chunk), and so are the rule sets' documents (:class:`RuleSets`: a
worker compiles each once, by its digest). Signing keys never leave this process.

A reading worker imports ``_decision_reading.py`` (the formats and ``_citations.py``: ~0.1 s of CPU), never
``decisions.py`` with the storage models, web3 and verification (~2 s, which the writer waited for before its first
chunk). Workers pay off only on long runs (each is a spawned interpreter; replay's import the library), so by
default (:func:`worker_count`) they start for runs of more than :data:`POOL_MIN` decisions, one per core beyond the
first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from ..errors import LedgerError, StateError
from ..formats import canonical
from ..formats.canonical import MAX_JSON_DEPTH, json_loads
from ..formats.decision_input import input_commitment_of, input_commitments_of
from ..formats.rules import RuleSet, load_rule_set

POOL_MIN = 20_000


def worker_count(requested: int | None, size: int) -> int:
    """Worker processes for a run of ``size`` decisions: ``requested`` when given (0: none); by default one per core
    beyond the first, and none for runs of up to :data:`POOL_MIN` decisions."""
    if requested is not None:
        return max(0, requested)
    if size <= POOL_MIN:
        return 0
    return max(0, (os.cpu_count() or 1) - 1)


class RuleSets(dict[str, RuleSet]):
    """``decide_many``'s rule sets (service item -> rule set) as sent to a worker: their documents, each compiled
    there once per process and checked against its digest (a compiled rule set holds functions, which do not pickle).
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rule_sets_from, ({item: (r.hex_digest, r.document) for item, r in self.items()},))


_COMPILED: dict[str, RuleSet] = {}  # digest -> the rule set compiled from that document, in this worker process


def _rule_sets_from(documents: Mapping[str, tuple[str, Mapping[str, Any]]]) -> RuleSets:
    out = RuleSets()
    for item, (digest, document) in documents.items():
        rules = _COMPILED.get(digest)
        if rules is None:
            rules = load_rule_set(document)
            if rules.hex_digest != digest:
                raise StateError(f"rule set {digest} compiled in a worker to {rules.hex_digest}; nothing was decided")
            _COMPILED[digest] = rules
        out[item] = rules
    return out


def stored_inputs(
    secret: bytes, kept: Sequence[Mapping[str, Any]], identities: Sequence[str]
) -> list[tuple[str, str, dict[str, str]]]:
    """For each input as stored (citations sealed) and its applicant's identity: (input digest, stored text, the
    record's commitments), the stored text carrying a fresh random nonce (``decisions._with_nonce``)."""
    from ._decision_reading import _stored_input

    return [_stored_input(secret, value, identity) for value, identity in zip(kept, identities, strict=True)]


def input_commitments(
    secret: bytes, stored: Sequence[tuple[str, str]], parsed: Mapping[str, Any] | None = None
) -> list[str | None]:
    """``input_commitment_of`` for each (input digest, stored input text); None for a text that is not a JSON
    object (replay reports that input as altered on its own). ``parsed``: input digest -> ``json_loads`` of that
    same text, parsed by the caller just before (replay without workers, which parses each input once per chunk
    for its re-run): used instead of parsing it again; a worker always parses the text it is sent."""
    out: list[str | None] = [None] * len(stored)
    objects: list[tuple[str, Any]] = []  # (digest, stored input) of the texts that are JSON objects
    at: list[int] = []  # where each of them goes in ``out``
    for i, (digest, text) in enumerate(stored):
        try:
            value = parsed[digest] if parsed is not None and digest in parsed else json_loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            objects.append((digest, value))
            at.append(i)
    computed: list[str | None]
    try:
        computed = list(input_commitments_of(secret, objects))  # one native pass for the chunk
    except LedgerError:  # a stored input_sealed of another shape: that input is reported altered, the others judged
        computed = [_commitment_or_none(secret, value, digest) for digest, value in objects]
    for i, commitment in zip(at, computed, strict=True):
        out[i] = commitment
    return out


# the native reading of a chunk's decision bodies (None: not built, or a build older than it, or no orjson, whose
# loads is the parser canonical.json_loads hands a canonical text to)
_NATIVE_DECISION_BODIES = (
    getattr(canonical.NATIVE, "decision_bodies", None) if canonical._fast_loads is not None else None
)

# what one row of a chunk of the decisions log reads as: its body, the index key its case id gives
# (logchain.lookup_of), the certificates it names (logchain.mentions_of) and what permits.LinkScan reads of it
ReadBody = tuple[dict[str, Any], str | None, set[str], dict[str, Any]]


def decision_bodies(
    rows: list[tuple[int, str, str, str | None]], link_fields: tuple[str, ...]
) -> list[ReadBody | None]:
    """For each (seq, body text, ...) row of a chunk of the decisions log, in one native call for the chunk:
    (``logchain.stored_loads(text)``, ``logchain.lookup_of(body)``, ``set(logchain.mentions_of(body))``, the body's
    ``link_fields``) when the text is the canonical JSON (RFC 8785) of the object it reads as - the spelling the
    ledger writes, so ``logchain.spelling_problem`` is None for it - or None: replay's Python code reads that row
    (every row when the module is not built). ``_hashcore.decision_bodies`` says which texts it answers for;
    tests/test_hashcore.py compares its answers with the Python code's on honest and tampered bodies."""
    if _NATIVE_DECISION_BODIES is None:
        return [None] * len(rows)
    return _NATIVE_DECISION_BODIES(rows, canonical._fast_loads, MAX_JSON_DEPTH, link_fields)  # type: ignore[no-any-return]


def _commitment_or_none(secret: bytes, value: Mapping[str, Any], digest: str) -> str | None:
    try:
        return input_commitment_of(secret, value, digest)
    except LedgerError:
        return None


def read_chunk(secret: bytes, rule_sets: RuleSets, first: int, applications: Sequence[Any]) -> Any:
    """``_decision_reading._read_chunk`` in a worker process (started with
    :func:`ledger._gc.pause_for_this_process`: the collector would rescan every unpickled application), freeing the
    chunk's reference cycles after it."""
    from .._gc import free_chunk_cycles
    from ._decision_reading import _read_chunk  # not decisions.py: its imports are seconds of a worker's start

    try:
        return _read_chunk(secret, rule_sets, first, applications)
    finally:
        free_chunk_cycles()


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
        from concurrent.futures.process import BrokenProcessPool

        try:
            return Pending(self._executor.submit(fn, *args))
        except BrokenProcessPool as exc:  # a worker died meanwhile: reported in turn, after the items before it
            failed: Future[Any] = Future()
            failed.set_exception(exc)
            return Pending(failed)

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

    def result(self, what: str = "the chunk it was working on") -> Any:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self._future.result()
        except BrokenProcessPool as exc:
            raise StateError(
                f"a worker process stopped ({exc}); the run stopped before {what} "
                "(nothing of that chunk was recorded or judged); see the system log for why the process died"
            ) from exc


class Done:
    """A value computed here, in a Future's shape, for the runs without workers; ``error``: what computing it
    raised, raised in turn by :meth:`result` (after the items before it, as from a worker)."""

    def __init__(self, value: Any = None, error: Exception | None = None) -> None:
        self._value = value
        self._error = error

    def done(self) -> bool:
        return True

    def result(self, what: str = "") -> Any:
        if self._error is not None:
            raise self._error
        return self._value


def run(pool: Pool | None, fn: Any, *args: Any) -> Pending | Done:
    """``fn(*args)`` in a worker when there is a pool, else here and now; either way its error is raised by the
    result's ``result()``."""
    if pool is not None:
        return pool.submit(fn, *args)
    try:
        return Done(fn(*args))
    except Exception as exc:  # noqa: BLE001 - raised by result(), in its turn
        return Done(error=exc)
