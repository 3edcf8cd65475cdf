"""Pausing Python's cyclic garbage collector around a long, allocation-heavy run, in one-shot processes only.

Issuing, verifying, deciding and replaying create hundreds of thousands of small containers without reference
cycles; the cyclic collector would only rescan them (a sixth to a third of the time: a third of ``decide_many``'s),
so the CLI and the benchmarks pause it for such a run. The runs that make cycles (SQLAlchemy statements) free them
with one young-generation pass per chunk while it is paused (``decide_many``, ``replay``): memory stays flat. The
library itself never pauses it: ``gc.disable()`` is process-wide, so in the gateway one request would switch the
collector off under every other request running in that process, and the last to finish would decide whether it
comes back on.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic collector for the block; it resumes after (when it was enabled before)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def pause_for_this_process() -> None:
    """Pause the cyclic collector for the rest of this process: only in a process spawned for one run (replay's
    workers, ``services/_replay_worker.py``), which frees each chunk's cycles itself (:func:`free_chunk_cycles`), as
    the CLI's run does; never in the gateway's or a caller's process."""
    gc.disable()


def free_chunk_cycles() -> None:
    """Within a run that paused the collector (:func:`cyclic_gc_paused`), once per chunk of work: one pass over the
    young objects frees the reference cycles the chunk's queries left (SQLAlchemy statements holding their IN lists
    of digests, some 340 bytes per decision), which would otherwise never be freed: memory stays flat in the run's
    length. Call it once the chunk's own values (bodies, inputs, facts) are freed, so that the pass does not walk
    them alive. Nothing while the collector runs: it does this itself."""
    if not gc.isenabled():
        gc.collect(1)
