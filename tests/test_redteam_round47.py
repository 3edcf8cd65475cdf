"""Red team round 47: attacks on the last session's merges (case erasure, the sealed token list, the partial re-run,
an override's moment, CertificateAnchor 2.1.0/2.2.0, DepartmentRegistry 2.4.0, the CLI's last resort, issuance's
sorted group insert); docs/threat-model.md, round 47 rows. Each attack was written failing first.

1. (round 44/45 open) An override's moment was bounded in the library by the decision it replaces read with
   ``instant``, which takes a moment without a zone for unreadable, so a replaced decision stating
   ``2026-12-06T07:00:00.000`` (an import, an older tool: written past the library) bounded nothing, while replay reads
   it as UTC and called the library's own override ``override_invalid``. The library now reads a recorded moment as
   replay does (``logbody.recorded_instant``).
2. (priv41/round 43) ``erase --case`` skipped its "not before the case's latest decision" check altogether when any
   decision of the case stated a moment it could not read, so an ``at`` while an approval (stated without a zone)
   stood was taken on a basis that does not wait (objection, court order), and replay called the library's erasure
   ``case_erased_in_force``. The bound is now the latest moment any decision states, read as replay reads it.
3. (priv41) An officer's approval of a case already erased was bounded only by the decision it overrides: stated
   between the refusal and the erasure (recorded after the erasure), it made replay read the case as approved when
   the erasure was made, ``case_erased_in_force``, the library's own erasure "written past the library". An approval
   of an erased case must now state a moment after the erasure (``erasure.approval_after_erasure``), the rules'
   approval too (``decide``, ``decide_many``: they may decide a case an officer refused first).
4. (partial re-run, round 42r) Both bundle verifiers took every rule reading ``holder`` as recorded in a re-run in
   part when the applicant's identity was not disclosed: an approval citing a licence its applicant does not hold,
   written past the library, passed the court once its permit was erased, while replay reported it. A rule re-run
   that reads ``holder`` now needs the identity, as in a full re-run.
5. (priv41, operator) A records schedule past what a timedelta holds made every time-based case erasure an
   OverflowError (the CLI's exit 70); the age is now compared in days.
6. (priv41) Replay judged a case's erasure by its first entry's moment only: a later entry, written past the library
   while the case (reopened after the first) stood approved, was taken as lawful. Every entry is judged now.

Held (by reading, no change): an insider swapping ``auth_issued_token`` rows between departments or copying one
under another id ends the token (the seal is over the MAC-checked payload's id, department and expiry; the row's
own department column is never read), and a token from before a key rotation or suspension is refused by its epoch
(round 42t's open row, a live row written back after a sign-out, stands); DepartmentRegistry 2.4.0 stays disjoint
under rotation (a rotated-out key keeps its department, so it can never join the council), removal (an ex-member
may become a key, never both at once) and re-adding (refused for a key); the CLI's last resort names a class and a
place in the ledger's own code, never a message; a case id in another Unicode form or case is another case to
every reader alike (compared exactly, the index key only narrowing the read)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import InputError, StateError
from ledger.formats.rules import Evaluation, RuleSet
from ledger.services import decisions, erasure, evidence, logchain, permits
from ledger.services.replay import replay

from .evidence_support import both
from .permit_support import application, fresh_licence, officer_decision, published_permit_rules


def _zoneless(moment: datetime) -> str:
    """``moment`` as a decision written past the library may state it: no zone (replay reads it as UTC)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")


def _referred(
    ledger: Ledger, tmp: Path, dept: str, rules: RuleSet, tag: str, *, seconds_ago: int
) -> tuple[dict[str, Any], str, decisions.Decision]:
    """(the application, its holder's identity, the rules' referral of it stated ``seconds_ago`` back, within the
    30 s a stated moment may be before the head: red team round 69; each test keeps half of that as its margin for a
    busy machine): a permit application for cooked food (the rules refer it), citing a fresh licence of its
    applicant."""
    licence, holder = fresh_licence(ledger, tmp, tag)
    app = application(f"FBP-{tag}", licence, scope="cooked-food")
    referred = decisions.decide(
        ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder,
        decided_at=_now() - timedelta(seconds=seconds_ago),
    )  # fmt: skip
    return app, holder, referred


def test_an_override_of_a_decision_stated_without_a_zone_is_bounded_by_its_moment(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an officer (through the library) overriding a decision whose record states its moment without a
    zone (written past the library: an import, an older tool), with a moment before it. The library took it, and its
    own replay then reported the override as stating an earlier moment than the decision it replaces."""
    dept = fresh_department
    case = "C-RT47-ZONE"
    first = officer_decision(
        ledger,
        dept,
        case,
        "applicant-rt47z",
        "reject",
        "OFFICER_FOUND_FRAUD",
        decided_at=_now() - timedelta(seconds=12),
    )
    moment = _now() - timedelta(seconds=7)
    forged = dict(
        first.body, decided_at=_zoneless(moment), overrides={"seq": first.seq, "entry_hash": first.entry_hash}
    )
    written = logchain.append(ledger, logchain.LOG_DECISIONS, dept, forged)
    head = len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)))
    with pytest.raises(InputError, match="before the decision it overrides"):
        officer_decision(
            ledger,
            dept,
            case,
            "applicant-rt47z",
            "reject",
            "OFFICER_FOUND_FRAUD",
            overrides=written.seq,
            decided_at=moment - timedelta(seconds=3),
        )
    assert len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept))) == head  # nothing recorded
    # the same instant is no earlier: taken, and replay finds nothing to say of it
    taken = officer_decision(
        ledger, dept, case, "applicant-rt47z", "reject", "OFFICER_FOUND_FRAUD", overrides=written.seq, decided_at=moment
    )
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    found = [d for d in replay(ledger, department=dept, case_id=case).discrepancies if d.seq == taken.seq]
    assert not [d for d in found if d.check == "override_invalid"], found


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture()
def permit_department(ledger: Ledger, fresh_department: str) -> tuple[str, RuleSet]:
    return fresh_department, published_permit_rules(ledger, fresh_department, "rt47")


def test_a_case_erasure_is_bounded_by_its_readable_decisions_when_one_is_stated_without_a_zone(
    ledger: Ledger, permit_department: tuple[str, RuleSet], tmp_path: Path
) -> None:
    """Adversary: an officer erasing a case (basis objection: no records schedule to wait for) with an ``at`` while
    the case stood approved. The rules referred it; an approval stating its moment without a zone was written past
    the library; an officer's refusal (through the library) withdrew it. The library skipped its "not before the
    case's latest decision" check for a case with any moment it could not read, took the erasure, and replay then
    called it ``case_erased_in_force`` ("written past the library")."""
    dept, rules = permit_department
    app, holder, referred = _referred(ledger, tmp_path, dept, rules, "rt47-at", seconds_ago=12)
    approved_at = _now() - timedelta(seconds=10)
    approval = dict(
        referred.body,
        outcome="approve",
        reasons=["ONSITE_CHECK_PASSED"],
        fired=[],
        input_digest=None,
        rule_set=None,
        engine=None,
        decided_by={"kind": "officer", "department": dept, "officer_ref": "0x" + "47" * 32},
        decided_at=_zoneless(approved_at),
        overrides={"seq": referred.seq, "entry_hash": referred.entry_hash},
    )
    for key in ("legal_basis", "as_of_block", "credit", "input_commitment", "applicant_commitment"):
        approval.pop(key, None)
    written = logchain.append(ledger, logchain.LOG_DECISIONS, dept, approval)
    officer_decision(ledger, dept, app["case_id"], holder, "reject", "OFFICER_FOUND_FRAUD", overrides=written.seq)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    head = len(list(logchain.entries(ledger, erasure.LOG, dept)))
    while_approved = (approved_at + timedelta(seconds=2)).replace(microsecond=0)
    with pytest.raises(StateError, match="before the case's latest decision"):
        erasure.erase_case(ledger, app["case_id"], dept, basis="objection", by="officer-47", at=while_approved)
    assert len(list(logchain.entries(ledger, erasure.LOG, dept))) == head
    assert not {d for d in replay(ledger, department=dept).discrepancies if d.check == "case_erased_in_force"}
    # now (after the refusal) it is taken, and replay finds no erasure in force
    done = erasure.erase_case(ledger, app["case_id"], dept, basis="objection", by="officer-47")
    assert done["inputs"] == [referred.body["input_digest"]], done
    assert not {d for d in replay(ledger, department=dept).discrepancies if d.check == "case_erased_in_force"}


def test_an_approval_of_an_erased_case_may_not_state_a_moment_before_its_erasure(
    ledger: Ledger, permit_department: tuple[str, RuleSet], tmp_path: Path
) -> None:
    """Adversary: an officer approving, through the library, a case already erased (``erase --case``), stating a
    moment between the refusal and the erasure. The library took it (an override is bounded only by the decision it
    replaces), and replay then read the case as approved when the erasure was made: ``case_erased_in_force``, the
    library's own erasure "written past the library", and the refused application's typed fields gone while the
    record says the case stood approved."""
    dept, rules = permit_department
    app, holder, referred = _referred(ledger, tmp_path, dept, rules, "rt47-after", seconds_ago=12)
    refusal = officer_decision(
        ledger, dept, app["case_id"], holder, "reject", "OFFICER_FOUND_FRAUD", overrides=referred.seq,
        decided_at=_now() - timedelta(seconds=10),
    )  # fmt: skip
    erased_at = (_now() - timedelta(seconds=2)).replace(microsecond=0)  # an entry states whole seconds
    done = erasure.erase_case(ledger, app["case_id"], dept, basis="objection", by="officer-47", at=erased_at)
    assert done["inputs"] == [referred.body["input_digest"]], done
    head = len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)))
    for stated in (erased_at - timedelta(seconds=5), erased_at):
        with pytest.raises(InputError, match="erased"):
            officer_decision(
                ledger, dept, app["case_id"], holder, "approve", "ONSITE_CHECK_PASSED", overrides=refusal.seq,
                decided_at=stated,
            )  # fmt: skip
    assert len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept))) == head  # nothing recorded
    # a refusal confirming the case may state that moment (no reader takes it for the case in force); an approval
    # after the erasure is the case reopened, as replay reads it
    confirmed = officer_decision(
        ledger, dept, app["case_id"], holder, "reject", "OFFICER_FOUND_FRAUD", overrides=refusal.seq,
        decided_at=erased_at - timedelta(seconds=5),
    )  # fmt: skip
    officer_decision(
        ledger, dept, app["case_id"], holder, "approve", "ONSITE_CHECK_PASSED", overrides=confirmed.seq,
        decided_at=erased_at + timedelta(milliseconds=1),
    )  # fmt: skip
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert not {d for d in replay(ledger, department=dept).discrepancies if d.check == "case_erased_in_force"}


def test_an_erased_approval_citing_a_licence_its_applicant_does_not_hold_fails_without_the_identity(
    ledger: Ledger, permit_department: tuple[str, RuleSet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: a department writing its decisions past the library, then showing a court a bundle it made without
    the applicant's identity. The application cites a business licence someone else holds; the department's engine
    approves it anyway (the rules refer it: no verified licence of the applicant's), its permit is then lawfully
    erased. Replay, which re-establishes the holder fact from the record's applicant reference, reports the outcome;
    both bundle verifiers took every rule reading ``holder`` as the record states it, because the identity was not
    disclosed, and passed the bundle "lawfully erased in part" - where the same bundle of a decision that lost no
    field fails, asking for the identity. The erasure reaches the application's typed fields, not the holder fact."""
    dept, rules = permit_department
    licence, _ = fresh_licence(ledger, tmp_path, "rt47-holder")
    app = application("FBP-rt47-holder", licence)
    applicant = "RT47APPLICANT1"  # not the licence's holder
    approve = Evaluation("approve", ("PREPACKAGED_SALES_PERMITTED",), ("prepackaged-sales-approved",))
    monkeypatch.setattr(decisions, "evaluate", lambda rule_set, view: approve)
    # past the library, its permit is issued without the business name no licence of the applicant's certifies
    # (the library refuses such a permit since red team round 77)
    monkeypatch.setattr(permits, "_states_nothing", lambda value: False)
    forged = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=applicant)
    monkeypatch.undo()
    assert forged.body["outcome"] == "approve" and not forged.body["certificates"][0]["holder"], forged.body
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    erasure.erase(ledger, forged.body["issued"]["certificate"], basis="no-longer-necessary", by="officer-47")
    found = [d for d in replay(ledger, department=dept).discrepancies if d.seq == forged.seq]
    assert any(d.check == "outcome_mismatch" for d in found), found
    for who, name in ((None, "anonymous.json"), (applicant, "disclosed.json")):
        bundle = evidence.decision_bundle(ledger, dept, app["case_id"], applicant=who)
        assert bundle["input"]["erased"], bundle["input"]
        report, _, result = both(ledger, bundle, tmp_path, name)
        assert result is not None and not report.ok, (who, report.to_json())
        mine = next(c for c in report.checks if c.name == "rerun").detail
        theirs = next(c for c in result["checks"] if c["name"] == "rerun")["detail"]
        for detail in (mine, theirs):
            assert ("identity is not disclosed" if who is None else "'refer'") in detail, (who, detail)


def test_a_records_schedule_past_the_calendar_holds_a_case_back_instead_of_failing(
    ledger: Ledger, permit_department: tuple[str, RuleSet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: none; an operator setting LEDGER_CASE_ERASURE_MIN_AGE_DAYS to a schedule longer than a datetime
    holds (10000000000: "never erase on a time basis"). The age check built ``timedelta(days=...)``, which raised
    OverflowError: ``ledger erase --case`` ended in the CLI's internal error (exit 70) for every case, on every
    basis that waits. The case is now held back with the schedule's StateError."""
    dept, rules = permit_department
    licence, holder = fresh_licence(ledger, tmp_path, "rt47-schedule")
    app = application("FBP-rt47-schedule", licence, scope="cooked-food")
    decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    monkeypatch.setattr(ledger, "settings", ledger.settings.with_(case_erasure_min_age_days=10_000_000_000))
    with pytest.raises(StateError, match="LEDGER_CASE_ERASURE_MIN_AGE_DAYS"):
        erasure.erase_case(ledger, app["case_id"], dept, basis="retention-expired", by="officer-47")


def test_the_rules_may_not_approve_an_erased_case_at_a_moment_before_its_erasure(
    ledger: Ledger, permit_department: tuple[str, RuleSet], tmp_path: Path
) -> None:
    """Adversary: a department running the rules (``decide``, ``decide_many``) on a case an officer refused first and
    that was then erased, stating a moment before the erasure: the rules may decide a case no automatic decision
    settled and no approval touched, so their approval was recorded, and replay read the case as approved when the
    erasure was made (``case_erased_in_force``, the library's own erasure "written past the library")."""
    dept, rules = permit_department
    licence, holder = fresh_licence(ledger, tmp_path, "rt47-rules")
    app = application("FBP-rt47-rules", licence)
    officer_decision(
        ledger, dept, app["case_id"], holder, "reject", "OFFICER_FOUND_FRAUD", decision_input=app, rule_set=rules,
        decided_at=_now() - timedelta(seconds=10),
    )  # fmt: skip
    erased_at = (_now() - timedelta(seconds=2)).replace(microsecond=0)
    assert erasure.erase_case(ledger, app["case_id"], dept, basis="objection", by="officer-47", at=erased_at)["inputs"]
    head = len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)))
    with pytest.raises(InputError, match="erased"):
        decisions.decide(
            ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder,
            decided_at=erased_at - timedelta(seconds=5),
        )  # fmt: skip
    with pytest.raises(InputError, match="erased"):
        decisions.decide_many(
            ledger, dept, [{**app, "applicant_ref": holder}], {"*": rules}, workers=0,
            decided_at=erased_at - timedelta(seconds=5),
        )  # fmt: skip
    assert len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept))) == head  # nothing recorded
    approved = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    assert approved.body["outcome"] == "approve", approved.body  # now: after the erasure, the case reopened
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert not {d for d in replay(ledger, department=dept).discrepancies if d.check == "case_erased_in_force"}


def test_a_later_case_erasure_entry_written_while_the_reopened_case_stood_approved_is_reported(
    ledger: Ledger, permit_department: tuple[str, RuleSet], tmp_path: Path
) -> None:
    """Adversary: a department writing its erasures log past the library. Its case was refused and lawfully erased
    (entry 1); an officer then referred it on a fresh application and another approved it (the case reopened). A
    second entry naming the referral's input, stated while the approval stood, erased what the referral typed: the
    library refuses that (an approval in force), but replay judged a case's erasure by its first entry's moment only,
    so it said nothing and took the referral's fields for lawfully erased."""
    from sqlalchemy import update

    from ledger.storage.models import SealedInput
    from ledger.storage.vault import ERASED

    dept, rules = permit_department
    licence, holder = fresh_licence(ledger, tmp_path, "rt47-second")
    app = application("FBP-rt47-second", licence, scope="cooked-food")
    case = app["case_id"]
    refused = officer_decision(
        ledger, dept, case, holder, "reject", "OFFICER_FOUND_FRAUD", decision_input=app, rule_set=rules,
        decided_at=_now() - timedelta(seconds=14),
    )  # fmt: skip
    erasure.erase_case(ledger, case, dept, basis="objection", by="officer-47", at=_now() - timedelta(seconds=12))
    again = dict(app, application={**app["application"], "premises": "Room 47, Keyuan Road"})
    referred = officer_decision(
        ledger, dept, case, holder, "refer", "OFFICER_NEEDS_ONSITE_CHECK", overrides=refused.seq,
        decision_input=again, rule_set=rules, decided_at=_now() - timedelta(seconds=10),
    )  # fmt: skip
    approval = officer_decision(
        ledger, dept, case, holder, "approve", "ONSITE_CHECK_PASSED", overrides=referred.seq,
        decided_at=_now() - timedelta(seconds=8),
    )  # fmt: skip
    assert not {d for d in replay(ledger, department=dept).discrepancies if d.check == "case_erased_in_force"}
    stated = (_now() - timedelta(seconds=6)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    body = {
        "case_id": case,
        "basis": "objection",
        "by": "rogue",
        "at": stated,
        "inputs": [referred.body["input_digest"]],
    }
    logchain.append(ledger, erasure.LOG, dept, body)
    logchain.anchor_pending(ledger, erasure.LOG, dept)
    with ledger.engine.begin() as conn:
        conn.execute(
            update(SealedInput)
            .where(SealedInput.input_digest == referred.body["input_digest"])  # type: ignore[arg-type]
            .values(sealed=ERASED)
        )
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    found = [d for d in replay(ledger, department=dept).discrepancies if d.check == "case_erased_in_force"]
    assert [d.seq for d in found] == [approval.seq], found


def test_who_erased_is_kept_as_a_salted_reference_in_the_anchored_erasures_log(
    ledger: Ledger, permit_department: tuple[str, RuleSet], tmp_path: Path
) -> None:
    """Adversary: anyone reading the ``erasures`` log (an auditor, an insider, a backup: anchored and kept for ever)
    learning who erased. Every other log keeps a member of staff only as the department's salted reference
    (``officer_ref``: deciding officers, inspectors, credit listings), but an erasure's entry kept the staff id given
    as ``--by`` in clear, and a staff id may be an e-mail address (``li.wei@example.gov``). An entry now keeps
    ``by_ref``; the caller's own result still names who it gave."""
    dept, rules = permit_department
    staff = "li.wei@example.gov"
    licence, holder = fresh_licence(ledger, tmp_path, "rt47-by")
    done = erasure.erase(ledger, licence["digest"], basis="consent-withdrawn", by=staff)
    assert done["by"] == staff and done["by_ref"] == decisions.officer_ref(ledger, "MKT", staff)
    app = application("FBP-rt47-by", licence)
    officer_decision(
        ledger, dept, app["case_id"], holder, "reject", "OFFICER_FOUND_FRAUD", decision_input=app, rule_set=rules,
        decided_at=_now() - timedelta(seconds=10),
    )  # fmt: skip
    case = erasure.erase_case(ledger, app["case_id"], dept, basis="objection", by=staff)
    assert case["by"] == staff and case["by_ref"] == decisions.officer_ref(ledger, dept, staff)
    for department, key in (("MKT", "certificate"), (dept, "case_id")):
        bodies = [
            logchain.read_body(e.body, erasure.LOG, department, e.seq)
            for e in logchain.entries(ledger, erasure.LOG, department)
        ]
        (mine,) = [b for b in bodies if b.get(key) in (licence["digest"], app["case_id"])]
        assert "li.wei" not in json.dumps(bodies) and "by" not in mine, mine
        assert mine["by_ref"] == decisions.officer_ref(ledger, department, staff)
    assert erasure.recorded(ledger, "MKT")[licence["digest"]]["by_ref"] == done["by_ref"]
