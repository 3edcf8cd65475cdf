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
2. On SQLite (which keeps a text in an integer column), an anchor row whose ``first_seq``, ``last_seq`` or
   ``block_number`` was edited into text made every reader of the log's anchoring raise (check_log, the entries'
   listing and the auditor's ``/audit/logs/{log}``, ``attested``, ``unanchored``, ``anchored_blocks``): the row is
   now read as no anchor (its entries unanchored, which check_log reports) and named, and ``anchor_pending`` refuses
   naming it.
3. A confirmed anchor row's ``block_number`` edited: the supervision's readers without the chain's ranges (a
   decision's credit status as of its block, the credit list, an announcement's anchoring block) take the block
   from the row, and ``anchored_blocks`` said check_log compares it with the chain; nothing did (replay and
   reconcile all-clear). check_log now reports ``anchor_altered``.
4. An anchor row of the insider's making in state ``prepared`` (as a crash leaves one), its root a tree of hashes
   of their choosing, its range past the log's last entry: ``anchor_pending`` completed it with the department's
   key, so the chain attested in the department's name entries it never wrote (to be put in place of the ones it
   writes later, anchored before they were decided). An open anchor is now sent only when it is what anchoring
   prepares from the stored entries of its range (its leaves, root and head theirs); else anchoring refuses, naming
   it.
5. An anchor row whose range runs backwards (first 9, last 2) holds no entry, so check_log said all-clear while
   anchor_pending, continuing after the last stored anchor's end, refused every round pointing at replay: it is now
   named as the range past the log is (1).
"""

from __future__ import annotations

import os

import pytest

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.services import logchain
from ledger.storage.models import LogAnchor

from .insider_support import forged_anchor, insider_edit

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


@pytest.mark.skipif(
    "postgresql" in os.environ.get("LEDGER_TEST_DATABASE_URL", ""),
    reason="PostgreSQL refuses a text in an integer column: only SQLite keeps the insider's edit",
)
def test_an_anchor_row_whose_range_or_block_is_edited_into_text_is_named_not_a_crash(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider with database access on SQLite (which keeps a text in an integer column), writing text
    into an anchor row's range or block number: every reader of the log's anchoring (check_log, the entries'
    listing, the attestation of an entry, unanchored, the supervision's anchored blocks, anchor_pending) raised
    ValueError or TypeError - a 500 of the auditor's listing and a traceback from replay and reconcile - instead of
    naming the row."""
    dept = fresh_department
    _append(ledger, dept, 3, "first")
    (first,) = logchain.anchor_pending(ledger, LOG, dept)
    _append(ledger, dept, 3, "second")
    (second,) = logchain.anchor_pending(ledger, LOG, dept)

    def readers() -> tuple[list[tuple[str, int | None]], list[bool], list[int], dict[int, int]]:
        found = [(d.kind, d.seq) for d in logchain.check_log(ledger, LOG, dept)]
        attested = [logchain.attested(ledger, e) for e in logchain.entries(ledger, LOG, dept)]
        waiting = [u.count for u in logchain.unanchored(ledger, LOG, dept)]
        with ledger.engine.connect() as conn:
            blocks = logchain.anchored_blocks(conn, LOG, dept, [1, 4])
        return found, attested, waiting, blocks

    found, attested, waiting, blocks = readers()
    assert (found, attested, waiting, sorted(blocks)) == ([], [True] * 6, [], [1, 4])
    for root, edit in ((first, {"first_seq": "x"}), (second, {"last_seq": "x"}), (second, {"block_number": "x"})):
        with insider_edit(ledger, LogAnchor, LogAnchor.root, root, **edit):
            found, attested, waiting, blocks = readers()
            if "block_number" in edit:  # the chain's word is unchanged: the supervision's block goes, and is named
                assert (found, attested, sorted(blocks)) == ([("anchor_altered", 4)], [True] * 6, [1])
                continue
            held = range(0, 3) if root == first else range(3, 6)
            assert ("not_anchored", None) in found and all(("not_anchored", i + 1) in found for i in held), found
            assert not any(attested[i] for i in held)
            assert waiting, "the entries the edited row held are pending again"
            with pytest.raises(StateError, match=r"no sequence number|database and the chain disagree"):
                logchain.anchor_pending(ledger, LOG, dept)


def test_an_anchor_rows_edited_block_is_named_by_the_log_check(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: an insider with database access moving a confirmed anchor's block (``loganchor.block_number``):
    the supervision's readers without the chain's ranges (a decision's credit status as of its block, the credit
    list, an announcement's anchoring block) take the block from the anchor row, and ``anchored_blocks`` says
    check_log compares it with the chain, but no check did: replay and reconcile said all-clear for a block the chain
    does not record (a credit listing made to look anchored after a decision, so the decision read the applicant
    as not listed)."""
    dept = fresh_department
    _append(ledger, dept, 3, "anchored")
    (root,) = logchain.anchor_pending(ledger, LOG, dept)
    (anchored,) = logchain.chain_ranges(ledger, LOG, dept)
    assert logchain.check_log(ledger, LOG, dept) == []
    for block in (anchored.block_number + 1_000, 1):
        with insider_edit(ledger, LogAnchor, LogAnchor.root, root, block_number=block):
            found = logchain.check_log(ledger, LOG, dept)
            assert [(d.kind, d.seq) for d in found] == [("anchor_altered", 1)], found
            assert str(block) in found[0].detail and str(anchored.block_number) in found[0].detail
    assert logchain.check_log(ledger, LOG, dept) == []


def test_an_open_anchor_row_of_the_insiders_making_is_not_sent_with_the_departments_key(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider with database access writing an anchor row in state ``prepared`` (as a crash leaves
    one) whose root is a tree of hashes of their choosing, its range running past the log's last entry: the next
    ``anchor_pending`` completed it, sending ``anchorLog`` with the department's key, so the chain attested, in the
    department's name, entries the department never wrote - the insider could later put those in place of the ones
    it writes, anchored (check_log all-clear) before they were decided."""
    dept = fresh_department
    _append(ledger, dept, 3, "anchored")
    assert logchain.anchor_pending(ledger, LOG, dept)
    _append(ledger, dept, 3, "waiting")
    for first, last in ((4, 10), (4, 6)):  # past the head, and the pending range itself with other leaves
        with (
            forged_anchor(ledger, LOG, dept, first, last, state="prepared") as root,
            pytest.raises(StateError, match=root),
        ):
            logchain.anchor_pending(ledger, LOG, dept)
        assert [(r.first_seq, r.last_seq) for r in logchain.chain_ranges(ledger, LOG, dept)] == [(1, 3)]
    assert logchain.anchor_pending(ledger, LOG, dept)
    assert [(r.first_seq, r.last_seq) for r in logchain.chain_ranges(ledger, LOG, dept)] == [(1, 3), (4, 6)]
    assert logchain.check_log(ledger, LOG, dept) == []


def test_an_anchor_row_with_an_inverted_range_that_stops_anchoring_is_named(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider with database access writing an anchor row whose range runs backwards (first 9, last 2):
    it holds no entry, so check_log (replay, reconcile) said all-clear, while anchor_pending, which continues after
    the last stored anchor's end, refused every round ("the database and the chain disagree - run replay") and the
    department's entries stayed unanchored with nothing naming why."""
    dept = fresh_department
    _append(ledger, dept, 3, "anchored")
    assert logchain.anchor_pending(ledger, LOG, dept)
    _append(ledger, dept, 3, "waiting")
    with forged_anchor(ledger, LOG, dept, 9, 2) as root:
        with pytest.raises(StateError):
            logchain.anchor_pending(ledger, LOG, dept)
        found = logchain.check_log(ledger, LOG, dept)
        assert [d.kind for d in found] == ["not_anchored"] and root in found[0].detail, found
    assert logchain.anchor_pending(ledger, LOG, dept)
