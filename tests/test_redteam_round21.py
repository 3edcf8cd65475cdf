"""Red team, round 21: an insider with database access, a department acting outside its authority, and a gateway
relaying another's messages.

1. ``decisions._unrecorded``: a decision refused at the last moment removes the sealed copies of the documents it
   cited that no stored input names. A recorded decision citing the same document (content-addressed: one shared
   row) that had inserted its input's citation but not yet committed was not seen on PostgreSQL (the copy's insert
   had found the row there and skipped it, locking nothing), so the refused one's cleanup deleted the copy the
   recorded decision names: replay could no longer re-establish that decision's facts. The copy is now locked by
   whoever stores an input naming it, and the cleanup leaves a copy someone holds.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.services import decisions, issuance, logchain
from ledger.services.facts import document_ref
from ledger.services.replay import replay

from .conftest import PASSPHRASE, make_records, write_jsonl
from .decision_support import application, overtaken_after_the_check, unique_rule_set


@pytest.fixture(scope="module")
def licences(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Business licences of MKT issued for this module alone (no other test cites them)."""
    out = io.StringIO()
    path = write_jsonl(tmp_path_factory.mktemp("r21") / "licences.jsonl", make_records(3))
    issuance.issue_file(ledger, path, "MKT", out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


# -- 1. a refused decision's cleanup and a recorded one's shared cited copy ------------------------------------------


def test_a_refused_decisions_cleanup_keeps_the_cited_copy_a_concurrent_recorded_decision_is_storing(
    ledger: Ledger, fresh_department: str, licences: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: an applicant (or a retrying client) sending, to two replicas at once, two applications citing the
    same licence inline, one of which loses a race and is refused. The steps are driven in this order, no thread
    and no sleep: the loser stores its input and the licence's copy (committed) and is refused; the winner, another
    process, stores its input naming the copy (the copy's insert finds it and skips it); before the winner commits,
    the loser's cleanup asks which stored inputs name the copy - the winner's is not committed, so none - and
    deleted it; the winner commits, recorded on a copy that is gone. SQLite lets one writer at a time into the
    database (the loser's cleanup would wait for the winner's commit, then see its input): the interleaving exists on
    PostgreSQL only."""
    if ledger.engine.dialect.name == "sqlite":
        pytest.skip("SQLite admits one writing transaction at a time: the cleanup cannot run inside the winner's")
    dept = fresh_department
    rule_set = unique_rule_set(f"r21-cite-{dept}")
    decisions.publish_rule_set(ledger, rule_set, dept)
    cited = licences[0]
    ref = document_ref(cited)
    winner = Ledger.open(ledger.settings, passphrase=PASSPHRASE)  # another replica: its own objects and connections
    cleanup = decisions._unrecorded
    stored = decisions._erased_meanwhile
    held: list[tuple[Any, ...]] = []
    recorded: list[Any] = []

    def stored_then_the_loser_cleans_up(conn: Any, labelled: Any) -> None:
        stored(conn, labelled)  # the winner's copy and citation are written, its transaction still open
        if held:
            cleanup(*held.pop())  # the loser's cleanup, on its own connection, runs to its commit here

    def the_winner_runs_before_the_loser_cleans_up(*args: Any) -> None:
        held.append(args)
        monkeypatch.setattr(decisions, "_erased_meanwhile", stored_then_the_loser_cleans_up)
        recorded.append(
            decisions.decide(
                winner,
                dept,
                "C-R21-WINNER",
                "ITEM-1",
                application("C-R21-WINNER", {"document": cited}),
                rule_set,
                applicant_ref="p",
            )
        )
        monkeypatch.setattr(decisions, "_erased_meanwhile", stored)
        assert not held, "the loser's cleanup did not run inside the winner's transaction"

    try:
        monkeypatch.setattr(decisions, "_unrecorded", the_winner_runs_before_the_loser_cleans_up)
        with (
            overtaken_after_the_check(
                ledger,
                lambda other: decisions.decide(
                    other, dept, "C-R21-LOSER", "ITEM-1", application("C-R21-LOSER"), rule_set, applicant_ref="p"
                ),
            ),
            pytest.raises(StateError, match=r"'C-R21-LOSER' was already decided automatically"),
        ):
            decisions.decide(
                ledger,
                dept,
                "C-R21-LOSER",
                "ITEM-1",
                application("C-R21-LOSER", {"document": cited}),
                rule_set,
                applicant_ref="p",
            )
        monkeypatch.setattr(decisions, "_unrecorded", cleanup)
    finally:
        winner.close()
    assert recorded, "the winner's decision was not recorded"
    assert decisions.load_cited_documents(ledger, [ref]) != {}, (
        "the refused decision's cleanup deleted the cited copy the recorded decision names"
    )
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).ok
