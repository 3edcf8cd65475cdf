"""Red team, round 24: an insider with database access against the anchoring derived from anchor rows (an entry's
anchoring is the ``loganchor`` row whose range holds its sequence number; merge 45dd037).

1. Pending-entry discovery trusted the store's last anchor: an anchor row of the insider's making, marked anchored,
   placed past the department's pending entries (say entries 4-6 wait, the row claims 7) made ``anchor_pending``
   find nothing to anchor and return quietly, ``unanchored`` report nothing (no anchoring-overdue in replay, no note
   in reconcile, the gateway's periodic round skipping the department), and ``check_log`` say nothing either (no
   entry sits in the forged range): the waiting entries stayed rewritable and deletable in the database for good.
   ``unanchored`` now counts from the end of the stored anchored ranges that continue the log from its first
   entry, ``anchor_pending`` refuses (naming the anchor) when the stored anchors reach past what the chain
   anchored, and ``check_log`` names a stored anchored range the chain does not hold that reaches past the log.
"""

from __future__ import annotations

import pytest

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.services import logchain

from .insider_support import forged_anchor

LOG = logchain.LOG_ACCESS


def _append(ledger: Ledger, department: str, n: int, tag: str) -> None:
    logchain.append_many(ledger, LOG, department, ({"r24": tag, "i": i} for i in range(n)))


def test_an_anchor_row_forged_past_the_pending_entries_does_not_hide_them_from_anchoring(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider with database access, keeping a department's latest entries out of the chain's reach
    (so they can still be rewritten or deleted without a trace) with one anchor row claiming a later entry."""
    dept = fresh_department
    _append(ledger, dept, 3, "anchored")
    assert logchain.anchor_pending(ledger, LOG, dept)
    _append(ledger, dept, 3, "waiting")  # entries 4-6, not anchored yet
    (waiting,) = logchain.unanchored(ledger, LOG, dept)
    assert (waiting.count, waiting.oldest_seq) == (3, 4)
    assert logchain.check_log(ledger, LOG, dept) == []

    with forged_anchor(ledger, LOG, dept, 7, 7) as root:
        # the waiting entries are still reported as waiting
        (waiting,) = logchain.unanchored(ledger, LOG, dept)
        assert (waiting.count, waiting.oldest_seq) == (3, 4)
        # the check names the forged anchor
        found = logchain.check_log(ledger, LOG, dept)
        assert [(d.kind, d.seq) for d in found] == [("not_anchored", 7)], found
        assert root in found[0].detail
        # anchoring refuses, naming the anchor the chain does not hold, instead of anchoring nothing quietly
        with pytest.raises(StateError, match=root):
            logchain.anchor_pending(ledger, LOG, dept)
    # the forged row gone, the entries are anchored as ever
    assert logchain.anchor_pending(ledger, LOG, dept)
    assert logchain.unanchored(ledger, LOG, dept) == []
    assert logchain.check_log(ledger, LOG, dept) == []
