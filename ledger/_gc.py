"""Pausing Python's cyclic garbage collector around a long, allocation-heavy run, in one-shot processes only.

Issuing, verifying and replaying create hundreds of thousands of small containers without reference cycles; the
cyclic collector would only rescan them (a sixth to a third of the time), so the CLI and the benchmarks pause it
for such a run. The library itself never does: ``gc.disable()`` is process-wide, so in the gateway one request
would switch the collector off under every other request running in that process, and the last to finish would
decide whether it comes back on.
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
