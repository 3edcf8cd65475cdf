"""Round 8 review: today's three changes attacked as their adversaries would.

* 9d4bb1f - two processes deciding one case at once record it once (``logchain.Guard``, ``_undecided_guard``,
  ``_unrecorded``);
* c8b2b7a - the consent check believes only erasures the chain attests (``erasure.proven``), by the issuer;
* bf9fc98 - the embedded anvil keeps no old states (``--max-persisted-states 0``).

Five of these attacks worked when the review wrote them (cleanup after a refused decision, permit ids, ``ledger
resume``, the consent check, old-state reads); the product was then mended. The others pin down what was proved
safe.
"""

from __future__ import annotations

import io
import json
import threading
from typing import Any

import pytest
from sqlalchemy import select, update

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.services import consent, decisions, erasure, issuance, logchain, permits
from ledger.services.facts import document_ref
from ledger.services.replay import replay
from ledger.storage.models import CONSENT_ERASED, Batch, Certificate, CitedDocument, Consent, DecisionInput

from .cli_support import drop_older_states
from .conftest import PASSPHRASE, TEST_TYPES, make_records, write_jsonl
from .consent_support import (
    NOW,
    consent_world,  # noqa: F401 - the world fixture
    give,
)
from .decision_support import application, overtaken_after_the_check, unique_rule_set
from .permit_support import application as permit_application
from .permit_support import permit_rules


@pytest.fixture(scope="module")
def licences(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Business licences of MKT issued for this module alone (no other test cites them)."""
    out = io.StringIO()
    path = write_jsonl(tmp_path_factory.mktemp("r8") / "licences.jsonl", make_records(6))
    issuance.issue_file(ledger, path, "MKT", out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _published(ledger: Ledger, department: str, tag: str) -> Any:
    rule_set = unique_rule_set(f"r8-{tag}-{department}")
    decisions.publish_rule_set(ledger, rule_set, department)
    return rule_set


def _automatic(ledger: Ledger, department: str, case: str) -> list[int]:
    return [
        d.seq for d in decisions.find_decisions(ledger, department, case) if d.body["decided_by"]["kind"] == "engine"
    ]


def _inputs(ledger: Ledger) -> set[str]:
    with ledger.engine.connect() as conn:
        return set(conn.execute(select(DecisionInput.digest)).scalars())  # type: ignore[call-overload]


# -- 9d4bb1f: the guard inside the append transaction ------------------------------------------------------------


def test_a_rival_recording_between_the_guard_and_the_insert_on_an_empty_log_is_caught(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: two gateway replicas deciding the FIRST case of a department at once. On PostgreSQL the append
    locks the head row (``SELECT ... FOR UPDATE``), but an empty log has no head row to lock; on SQLite the head and
    the guard are read before the first write (pysqlite begins the transaction at the INSERT), so neither read is
    protected by a lock. The race is put at the worst point: the other replica records its decision after this
    one's guard has found the case undecided and before this one inserts. What keeps it to one decision is the
    unique (log, department, seq) constraint: both take seq 1, the insert collides, the append is retried and the
    guard, asked again, refuses. Run with LEDGER_TEST_DATABASE_URL for PostgreSQL (passed on both)."""
    dept = fresh_department
    rule_set = _published(ledger, dept, "empty")
    assert permits.head_seq(ledger, dept) == 0  # the department's decision log is empty: no head row to lock
    other = Ledger.open(ledger.settings, passphrase=PASSPHRASE)
    real_guard = decisions._undecided_guard
    raced: list[Any] = []
    guards_asked: list[str] = []

    def guard_then_overtaken(lg: Ledger, department: str, case_ids: Any, *produced: Any, **named: Any) -> Any:
        inner = real_guard(lg, department, case_ids, *produced, **named)

        def guard(conn: Any) -> None:
            guards_asked.append("this" if lg is ledger else "other")
            inner(conn)
            if lg is ledger and not raced:
                raced.append(None)
                raced[0] = decisions.decide(
                    other, dept, "C-R8-EMPTY", "ITEM-1", application("C-R8-EMPTY"), rule_set, applicant_ref="p"
                )

        return guard

    monkeypatch.setattr(decisions, "_undecided_guard", guard_then_overtaken)
    before = _inputs(ledger)
    try:
        with pytest.raises(StateError, match=r"'C-R8-EMPTY' was already decided automatically: decision 1 "):
            decisions.decide(
                ledger, dept, "C-R8-EMPTY", "ITEM-1", application("C-R8-EMPTY"), rule_set, applicant_ref="p"
            )
    finally:
        other.close()
    monkeypatch.undo()
    (winner,) = raced
    assert winner.seq == 1
    # this process's guard was asked twice: the first append collided on seq 1 and was retried
    assert guards_asked.count("this") == 2, guards_asked
    assert _automatic(ledger, dept, "C-R8-EMPTY") == [1]
    assert _inputs(ledger) - before == {winner.body["input_digest"]}


def test_a_rival_blocked_on_the_head_row_lock_is_refused_once_the_holder_commits(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: two bulk runs (or replicas) deciding one case of a department whose log is NOT empty, the other
    process starting its append while this one is inside its append transaction. On PostgreSQL the other waits on
    the head row's lock, then (READ COMMITTED) gets the OLD head row back; its guard is a new statement with a new
    snapshot and sees this one's decision. On SQLite the other's insert waits for the write lock (busy timeout),
    then collides on the sequence number. Either way the other is refused and one decision stands (passed on
    SQLite and PostgreSQL)."""
    dept = fresh_department
    rule_set = _published(ledger, dept, "locked")
    decisions.decide(ledger, dept, "C-R8-FIRST", "ITEM-1", application("C-R8-FIRST"), rule_set, applicant_ref="q")
    other = Ledger.open(ledger.settings, passphrase=PASSPHRASE)
    real_guard = decisions._undecided_guard
    outcome: dict[str, Any] = {}
    started = threading.Event()

    def run_other() -> None:
        started.set()
        try:
            outcome["decision"] = decisions.decide(
                other, dept, "C-R8-LOCK", "ITEM-1", application("C-R8-LOCK"), rule_set, applicant_ref="p"
            )
        except Exception as exc:  # noqa: BLE001 - what the other process got
            outcome["error"] = exc

    thread = threading.Thread(target=run_other, daemon=True)

    def guard_then_rival(lg: Ledger, department: str, case_ids: Any, *produced: Any, **named: Any) -> Any:
        inner = real_guard(lg, department, case_ids, *produced, **named)

        def guard(conn: Any) -> None:
            inner(conn)
            if lg is ledger and not thread.is_alive() and "decision" not in outcome and "error" not in outcome:
                thread.start()
                started.wait(10)
                thread.join(1.5)  # the rival gets as far as it can while this transaction is open

        return guard

    monkeypatch.setattr(decisions, "_undecided_guard", guard_then_rival)
    mine: Any = None
    try:
        try:
            mine = decisions.decide(
                ledger, dept, "C-R8-LOCK", "ITEM-1", application("C-R8-LOCK"), rule_set, applicant_ref="p"
            )
        except StateError as exc:  # SQLite: the rival wrote first (no lock is held before the insert)
            assert "'C-R8-LOCK' was already decided automatically" in str(exc)
        thread.join(60)
    finally:
        other.close()
    monkeypatch.undo()
    assert not thread.is_alive()
    automatic = _automatic(ledger, dept, "C-R8-LOCK")
    assert len(automatic) == 1, (automatic, outcome)
    if "decision" in outcome:  # the rival overtook (SQLite: it could write before this one's insert)
        assert mine is None
        assert automatic == [outcome["decision"].seq]
    else:
        assert mine is not None
        assert automatic == [mine.seq]
        assert isinstance(outcome.get("error"), StateError), outcome


def test_a_decide_refused_by_a_rival_leaves_no_sealed_copy_of_what_it_cited(
    ledger: Ledger, fresh_department: str, licences: list[dict[str, Any]]
) -> None:
    """Adversary: an applicant (or a client retrying) sending the same case to two replicas at once, one of them
    with a licence attached inline (the holder's disclosed fields: personal data). The replica that loses the race
    is refused and 'leaves nothing' (decide's comment): its permit and its stored input are removed. But the sealed
    copy of the cited licence stored with that input (``CitedDocument``) stays: a copy of a person's certificate
    that no recorded decision names, kept for no decision, and never removed by anything (no input refers to it).
    Each lost race adds one; a client can make it happen at will by retrying in parallel."""
    dept = fresh_department
    rule_set = _published(ledger, dept, "cite")
    cited = licences[0]
    ref = document_ref(cited)
    # the other replica: the same case, no document attached
    with (
        overtaken_after_the_check(
            ledger,
            lambda other: decisions.decide(
                other, dept, "C-R8-CITE", "ITEM-1", application("C-R8-CITE"), rule_set, applicant_ref="p"
            ),
        ) as raced,
        pytest.raises(StateError, match=r"'C-R8-CITE' was already decided automatically"),
    ):
        decisions.decide(
            ledger,
            dept,
            "C-R8-CITE",
            "ITEM-1",
            application("C-R8-CITE", {"document": cited}),
            rule_set,
            applicant_ref="p",
        )
    assert _automatic(ledger, dept, "C-R8-CITE") == [raced[0].seq]
    with ledger.engine.connect() as conn:
        left = conn.execute(select(CitedDocument.ref).where(CitedDocument.ref == ref)).scalars().all()  # type: ignore[call-overload]
    assert left == [], "the refused decision's sealed copy of the cited licence is left in the store"


# -- c8b2b7a: the consent check and proven erasures ---------------------------------------------------------------


def test_an_insider_cannot_hide_a_consent_edit_behind_another_certificates_proven_erasure(
    ledger: Ledger, world: dict[str, Any]
) -> None:
    """Adversary: an insider with write access to the database (not the department's key), after c8b2b7a. The
    erasure must now be anchored and by the certificate's issuer, so the insider borrows one that is: certificate
    ``a`` was lawfully erased (anchored erasure entry, by its issuer). On the consent a person gave for the LIVE
    certificate ``b``, the insider rewrites ``digest`` to ``a``'s, writes the erasure marker over ``subject_ref``
    and empties the purpose text: the person's consent is destroyed (and detached from ``b``), yet the row's digest
    is in ``erasure.proven`` with a Certificate of the same issuer sealed ERASED, so the signature check is skipped,
    and ``record_hash`` (untouched) still equals the logged one. The logged consent entry names certificate ``b``;
    the check never compares it with the row's digest. ``consent.check`` must report the row."""
    issuer = world["issuer"]
    victim = give(ledger, world["b"], "INS", NOW)
    erasure.erase(ledger, world["a"]["digest"], basis="objection", by="officer-r8")
    assert world["a"]["digest"] in erasure.proven(ledger, issuer)  # the borrowed erasure is genuine and anchored
    assert consent.check(ledger, issuer) == []
    with ledger.engine.begin() as conn:
        conn.execute(
            update(Consent)  # type: ignore[arg-type]
            .where(Consent.id == victim.id)  # type: ignore[arg-type]
            .values(digest=world["a"]["digest"], subject_ref=CONSENT_ERASED, purpose_text="")
        )
    found = consent.check(ledger, issuer)
    assert victim.id in [f["consent"] for f in found], found


# -- bf9fc98: no old states kept by the embedded node -------------------------------------------------------------


def test_a_long_bulk_verification_can_still_read_status_as_of_the_head_it_started_at(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Adversary: none - time. ``verify_many`` reads the head once and, with ``LEDGER_STATUS_LOOKUP=direct``, asked
    every certificate's status with ``eth_call statusOf(...)`` AT that head (``ChainView.status(..., head)``). A
    run over many certificates takes long while the embedded node mines a block a second; once the head it started
    at is out of anvil's in-memory window (measured: fine 1,300 blocks back, 'BlockOutOfRangeError' 2,500 back),
    the remaining certificates came back as chain failures. Before bf9fc98 anvil kept up to 3,600 older states on
    disk (about an hour). ``anvil_mine`` stands in for the run's duration, on a ledger of its own (its node's height
    and clock move; the shared chain is not touched): past the states the embedded node keeps (``drop_older_states``,
    node.py ``STATE_HISTORY``), as 2,600 blocks were past anvil's window before it kept 32 (they took ~25 s at load
    16, in both passes: ci10)."""
    from ledger.onchain.chain import ROLE_ISSUER
    from ledger.services.departments import Council
    from ledger.services.verify import ChainView

    from .conftest import make_settings

    data_dir = tmp_path_factory.mktemp("old-state")
    with Ledger.open(make_settings(data_dir), passphrase=PASSPHRASE) as own:
        Council(own).register("OLD", "Old-state office", ROLE_ISSUER, types=TEST_TYPES)
        out = io.StringIO()
        issuance.issue_file(own, write_jsonl(data_dir / "one.jsonl", make_records(1)), "OLD", out=out)
        doc = json.loads(out.getvalue().splitlines()[0])
        view = ChainView(own.chain, status_lookup="direct")
        head = view.head()
        root = bytes.fromhex(doc["anchor"]["root"][2:])
        digest = bytes.fromhex(doc["digest"][2:])
        assert view.status("OLD", root, digest, None, head)[0] == "valid"
        drop_older_states(own)  # the node no longer has the state at ``head``
        assert view.status("OLD", root, digest, None, head)[0] == "valid"


# -- 9d4bb1f: a race lost before the recording transaction --------------------------------------------------------


def _permit_rules(tag: str) -> Any:
    return permit_rules(tag)


def test_two_replicas_approving_one_case_at_once_loser_is_refused_by_name_and_leaves_no_input(
    ledger: Ledger, fresh_department: str, licences: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: an applicant (or a retrying client) sending one application to two gateway replicas at the same
    instant, under a rule set that issues a permit. 9d4bb1f moved the refusal into the recording transaction and
    cleans up after a refusal there; but both replicas build their permit before recording, and both choose the
    permit id ``PREFIX-DEPT-CASE`` (free when each looked). Here the other replica decides the whole case right
    after this one chose its permit id. This one must be refused as 9d4bb1f promises (StateError naming the
    other's decision: a client retrying learns its case is decided) and keep nothing: no stored input of its own."""
    dept = fresh_department
    rules = _permit_rules(dept)
    decisions.publish_rule_set(ledger, rules, dept)
    licence = licences[2]
    identity = licence["fields"]["subject.credit_code"]
    app = permit_application("C-R8-PERMIT", licence)
    other = Ledger.open(ledger.settings, passphrase=PASSPHRASE)
    real = permits._unused_ids
    raced: list[Any] = []

    def chosen_then_overtaken(lg: Ledger, department: str, wanted: list[str]) -> list[str]:
        ids = real(lg, department, wanted)
        if lg is ledger and not raced:
            raced.append(None)
            raced[0] = decisions.decide(
                other, dept, "C-R8-PERMIT", app["service_item"], app, rules, applicant_ref=identity
            )
        return ids

    monkeypatch.setattr(permits, "_unused_ids", chosen_then_overtaken)
    before = _inputs(ledger)
    try:
        with pytest.raises(StateError, match=r"'C-R8-PERMIT' was already decided automatically"):
            decisions.decide(ledger, dept, "C-R8-PERMIT", app["service_item"], app, rules, applicant_ref=identity)
    finally:
        other.close()
        monkeypatch.undo()
        assert _automatic(ledger, dept, "C-R8-PERMIT") == [raced[0].seq]
        assert _inputs(ledger) - before == {raced[0].body["input_digest"]}, "the loser's stored input is left"


def test_a_refused_decisions_permit_is_never_anchored_even_by_a_concurrent_resume(
    ledger: Ledger, fresh_department: str, licences: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: two replicas approving one case at once while `ledger resume` runs (scheduled, or an operator
    finishing a crash's batches): resume sends every ``prepared`` batch. The replica that loses the race has stored
    its permit ``prepared`` before recording; resume anchors it; the guard then refuses the decision and
    ``discard_prepared`` leaves the sent batch alone ('ledger resume finishes it'). The case ends with two valid
    permits on chain, one for a decision that does not exist - what 9d4bb1f set out to prevent."""
    dept = fresh_department
    rules = _permit_rules(f"{dept}-resume")
    decisions.publish_rule_set(ledger, rules, dept)
    licence = licences[3]
    identity = licence["fields"]["subject.credit_code"]
    app = permit_application("C-R8-RESUME", licence)
    other = Ledger.open(ledger.settings, passphrase=PASSPHRASE)
    real = decisions._recorded
    raced: list[Any] = []

    def overtaken_while_resume_runs(lg: Ledger, department: str, body: dict[str, Any], guard: Any = None) -> Any:
        if lg is ledger and not raced:
            raced.append(None)
            issuance.resume(other)  # the loser's prepared permit is sent and confirmed
            raced[0] = decisions.decide(
                other, dept, "C-R8-RESUME", app["service_item"], app, rules, applicant_ref=identity
            )
        return real(lg, department, body, guard)

    monkeypatch.setattr(decisions, "_recorded", overtaken_while_resume_runs)
    try:
        with pytest.raises(StateError, match=r"'C-R8-RESUME' was already decided automatically"):
            decisions.decide(ledger, dept, "C-R8-RESUME", app["service_item"], app, rules, applicant_ref=identity)
    finally:
        other.close()
        monkeypatch.undo()
    (winner,) = raced
    assert _automatic(ledger, dept, "C-R8-RESUME") == [winner.seq]
    with ledger.engine.connect() as conn:
        permit_ids = (
            conn.execute(
                select(Certificate.certificate_id).where(  # type: ignore[call-overload]
                    Certificate.department_id == dept, Certificate.certificate_id.like("%-C-R8-RESUME%")
                )
            )
            .scalars()
            .all()
        )
        states = conn.execute(
            select(Certificate.certificate_id, Batch.state)  # type: ignore[call-overload]
            .join(Batch, Batch.root == Certificate.batch_root)  # type: ignore[arg-type]
            .where(Certificate.department_id == dept)
        ).all()
    assert permit_ids == [winner.body["issued"]["id"]], f"a second permit of the case is anchored: {states}"


def test_a_decide_refused_by_a_rival_never_removes_a_cited_copy_the_recorded_decision_names(
    ledger: Ledger, fresh_department: str, licences: list[dict[str, Any]]
) -> None:
    """The other side of the hole above, for whoever closes it: cited copies are content-addressed
    (``CitedDocument.ref`` = the document's address, stored insert-or-ignore), so the winner and the loser of a race
    that attached the SAME licence share one row. Removing the loser's copies by ref would destroy the recorded
    decision's copy (replay could not re-establish its facts): the cleanup keeps a copy another stored input names."""
    dept = fresh_department
    rule_set = _published(ledger, dept, "shared")
    cited = licences[1]
    ref = document_ref(cited)
    app = application("C-R8-SHARED", {"document": cited})
    with (
        overtaken_after_the_check(
            ledger,
            lambda other: decisions.decide(other, dept, "C-R8-SHARED", "ITEM-1", app, rule_set, applicant_ref="p"),
        ),
        pytest.raises(StateError, match=r"'C-R8-SHARED' was already decided automatically"),
    ):
        decisions.decide(ledger, dept, "C-R8-SHARED", "ITEM-1", app, rule_set, applicant_ref="p")
    with ledger.engine.connect() as conn:
        kept = conn.execute(select(CitedDocument.ref).where(CitedDocument.ref == ref)).scalars().all()  # type: ignore[call-overload]
    assert kept == [ref]
    assert decisions.load_cited_documents(ledger, [ref]) != {}
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)

    assert replay(ledger, department=dept).ok


@pytest.mark.parametrize("earlier", ["a bulk run", "an officer"])
def test_a_decide_refused_by_a_rival_keeps_a_cited_copy_an_earlier_decision_of_any_path_names(
    ledger: Ledger, fresh_department: str, licences: list[dict[str, Any]], earlier: str
) -> None:
    """The cleanup asks which stored inputs name a copy (``InputCitation``, written with each input) rather than
    searching their text: an input stored by a path that forgot to say which copies it names would let a lost
    race destroy a copy a recorded decision needs (replay could not re-establish its facts). The bulk path and an
    officer's decision with its input store the same licence first; a later decide citing it loses a race."""
    dept = fresh_department
    rule_set = _published(ledger, dept, "earlier")
    cited = licences[4 if earlier == "a bulk run" else 5]
    ref = document_ref(cited)
    first = application("C-R8-EARLIER", {"document": cited})
    if earlier == "a bulk run":
        decisions.decide_many(ledger, dept, [{**first, "applicant_ref": "p"}], {"*": rule_set}, anchor=False)
    else:
        decisions.record_human_decision(
            ledger,
            dept,
            "C-R8-EARLIER",
            "ITEM-1",
            officer="officer-1",
            outcome="refer",
            reasons=["OFFICER_REVIEW"],
            applicant_ref="p",
            decision_input=first,
            rule_set=rule_set,
        )
    with (
        overtaken_after_the_check(
            ledger,
            lambda other: decisions.decide(
                other, dept, "C-R8-LATER", "ITEM-1", application("C-R8-LATER"), rule_set, applicant_ref="p"
            ),
        ),
        pytest.raises(StateError, match=r"'C-R8-LATER' was already decided automatically"),
    ):
        decisions.decide(
            ledger,
            dept,
            "C-R8-LATER",
            "ITEM-1",
            application("C-R8-LATER", {"document": cited}),
            rule_set,
            applicant_ref="p",
        )
    assert decisions.load_cited_documents(ledger, [ref]) != {}, f"the copy {earlier}'s decision names was removed"
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).ok
