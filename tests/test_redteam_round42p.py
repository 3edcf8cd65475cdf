"""Red team round 42p: the erasure of a case no certificate carries (``ledger erase --case``, priv41), and the
attacks round 41a made on priv40 turned on it (docs/threat-model.md, round 42p rows).

A refused, referred-and-left or withdrawn application keeps what the applicant typed sealed apart
(``sealed_input``) with no certificate whose erasure reaches it. ``erasure.erase_case`` erases it: one anchored
entry of the department's ``erasures`` log naming the case and its inputs, the rows destroyed in the same
transaction, refused while the case has a live certificate or stands approved. Replay, both bundle verifiers and the
timeline call those inputs lawfully erased only on that entry: anchored (by the bundle's as_of), naming that case
and that input, in the log of the department whose case it is. Each attack was written failing first; they share
two departments and one published rule set (module scope), each test its own cases."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from ledger.client import Ledger
from ledger.errors import NotFoundError, StateError
from ledger.formats.rules import RuleSet
from ledger.services import _decision_rerun, decisions, erasure, evidence, logchain, provenance
from ledger.services.reconcile import reconcile
from ledger.services.replay import replay
from ledger.storage.models import SealedInput
from ledger.storage.vault import ERASED

from .cli_support import run_cli
from .conftest import TEST_ITEMS, TEST_TYPES
from .evidence_support import both
from .permit_support import application, fresh_licence, officer_decision, published_permit_rules

_cases = itertools.count(1)
_KEPT = SealedInput.__table__  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def depts(ledger: Ledger) -> tuple[str, str]:
    from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER, ROLE_VERIFIER
    from ledger.services.departments import Council

    for code in ("RT42P", "RT42Q"):
        Council(ledger).register(
            code, f"Red team {code}", ROLE_ISSUER | ROLE_VERIFIER | ROLE_APPROVER, types=TEST_TYPES, items=TEST_ITEMS
        )
    return "RT42P", "RT42Q"


@pytest.fixture(scope="module")
def rules(ledger: Ledger, depts: tuple[str, str]) -> RuleSet:
    return published_permit_rules(ledger, depts[0], "rt42p")


def _referred(ledger: Ledger, tmp: Path, dept: str, rules: RuleSet) -> tuple[decisions.Decision, str, str]:
    """The rules' referral of a fresh application (a scope that needs an on-site check): no certificate. Returns
    the decision, the applicant and the cited licence's digest."""
    tag = f"rt42p-{next(_cases)}"
    licence, holder = fresh_licence(ledger, tmp, tag)
    app = application(f"FBP-{tag}", licence, scope="cooked-food")
    app["application"]["premises"] = f"Room {tag}, Shennan Boulevard"
    decision = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    assert decision.body["outcome"] == "refer" and "issued" not in decision.body
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    return decision, holder, licence["digest"]


def _row(ledger: Ledger, input_digest: str) -> bytes | None:
    with ledger.engine.connect() as conn:
        blob = conn.execute(select(_KEPT.c.sealed).where(_KEPT.c.input_digest == input_digest)).scalar()
    return None if blob is None else bytes(blob)


def _checks(ledger: Ledger, dept: str) -> set[tuple[str, int | None]]:
    return {(d.check, d.seq) for d in replay(ledger, department=dept).discrepancies}


def _hostile_case_entry(
    ledger: Ledger, dept: str, case: str, inputs: list[str], *, anchor: bool = True, destroy: bool = True
) -> None:
    """What a department with its own log's keys can write: a case erasure entry of its choosing (anchored or not)
    and the sealed rows it names destroyed."""
    at = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    body = {"case_id": case, "basis": "no-longer-necessary", "by": "rogue", "at": at}
    logchain.append(ledger, erasure.LOG, dept, {**body, "inputs": inputs})
    if anchor:
        logchain.anchor_pending(ledger, erasure.LOG, dept)
    if destroy:
        with ledger.engine.begin() as conn:
            conn.execute(update(SealedInput).where(SealedInput.input_digest.in_(inputs)).values(sealed=ERASED))  # type: ignore[attr-defined]


def _carrying(ledger: Ledger, bundle: dict[str, Any], dept: str, case: str) -> dict[str, Any]:
    """``bundle`` with its ``input.erasure`` replaced by the anchored case erasure entry of ``dept`` naming
    ``case`` (as the bundle builder carries one), and its erased fields listed."""
    for entry in logchain.entries(ledger, erasure.LOG, dept):
        body = logchain.read_body(entry.body, erasure.LOG, dept, entry.seq)
        if body.get("case_id") == case and "certificate" not in body:
            proof = _decision_rerun._entry_proof(ledger, erasure.LOG, dept, entry, body)
            assert proof is not None
            bundle["input"]["erasure"] = proof
            return bundle
    raise AssertionError(f"no entry of {dept} names case {case}")


# -- what lands: the case's own erasure ---------------------------------------------------------------------------


def test_a_referral_left_undecided_is_erased_with_its_case_and_every_reader_calls_it_lawful(
    ledger: Ledger, depts: tuple[str, str], rules: RuleSet, tmp_path: Path
) -> None:
    dept = depts[0]
    referred, holder, licence = _referred(ledger, tmp_path, dept, rules)
    case, typed = referred.body["case_id"], referred.body["input_digest"]
    backup = _row(ledger, typed)
    done = erasure.erase_case(ledger, case, dept, basis="objection", by="officer-42")
    assert done["typed_fields_erased"] == 1 and done["inputs"] == [typed] and done["anchored_roots"], done
    assert _row(ledger, typed) == ERASED
    assert not {c for c, s in _checks(ledger, dept) if s == referred.seq}
    assert replay(ledger, department=dept).inputs_erased >= 1
    bundle = evidence.decision_bundle(ledger, dept, case, applicant=holder)
    assert bundle["input"]["erased"] and bundle["input"]["erasure"]["body"]["case_id"] == case
    report, _, result = both(ledger, bundle, tmp_path, "case-erased.json")
    assert report.ok, report.to_json()
    assert next(c for c in report.checks if c.name == "rerun").detail.startswith("lawfully erased"), report.to_json()
    assert (
        result is not None
        and "the case's erasure" in next(c for c in result["checks"] if c["name"] == "rerun")["detail"]
    )
    (event,) = [
        e
        for e in provenance.timeline(ledger, licence, now=datetime.now(UTC), private=True)["events"]
        if e["kind"] == "decision" and e.get("case_id") == case
    ]
    assert event["input_erased"] is True and "lawfully erased" in event["summary"], event
    # the case's erasure excuses what it erased, nothing more: a field the rules read, hidden and called erased
    widened = evidence.decision_bundle(ledger, dept, case, applicant=holder, hide=["application.materials_submitted"])
    widened["input"]["erased"] = sorted([*widened["input"]["erased"], "application.materials_submitted"])
    report, _, _ = both(ledger, widened, tmp_path, "case-widened.json")
    assert "rerun" in {c.name for c in report.failed}, report.to_json()
    # again: nothing logged twice; a backup's row written back is reported, then destroyed again
    assert erasure.erase_case(ledger, case, dept, basis="objection", by="officer-42")["seq"] == done["seq"]
    with ledger.engine.begin() as conn:
        conn.execute(_KEPT.update().where(_KEPT.c.input_digest == typed).values(sealed=backup))
    assert ("input_erasure_undone", referred.seq) in _checks(ledger, dept)
    found = {(d.kind, case in d.detail) for d in reconcile(ledger, departments=[dept]).divergences}
    assert ("erasure_incomplete", True) in found, found
    again = erasure.erase_case(ledger, case, dept, basis="objection", by="officer-42")
    assert again["seq"] == done["seq"] and _row(ledger, typed) == ERASED
    assert not {c for c, s in _checks(ledger, dept) if s == referred.seq}


def test_a_case_with_a_live_permit_or_an_approval_in_force_is_refused_and_nothing_is_lost(
    ledger: Ledger, depts: tuple[str, str], rules: RuleSet, tmp_path: Path
) -> None:
    dept = depts[0]
    tag = f"rt42p-{next(_cases)}"
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    app = application(f"FBP-{tag}", licence)
    approval = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    assert approval.body["outcome"] == "approve" and "issued" in approval.body
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    kept = _row(ledger, approval.body["input_digest"])
    head = len(list(logchain.entries(ledger, erasure.LOG, dept)))
    with pytest.raises(StateError, match="live certificate"):
        erasure.erase_case(ledger, app["case_id"], dept, basis="objection", by="officer-42")
    with pytest.raises(NotFoundError, match="no case"):
        erasure.erase_case(ledger, app["case_id"], depts[1], basis="objection", by="officer-42")  # not its case
    assert _row(ledger, approval.body["input_digest"]) == kept
    assert len(list(logchain.entries(ledger, erasure.LOG, dept))) == head
    # the approval withdrawn by an officer's refusal (the permit revoked): the case is erasable, the approval's own
    # typed fields are not reached (its certificate's erasure takes them)
    refusal = officer_decision(
        ledger, dept, app["case_id"], holder, "reject", "OFFICER_FOUND_FRAUD", overrides=approval.seq
    )
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert refusal.body.get("input_digest") is None and refusal.body.get("withdraws")
    with pytest.raises(StateError, match="nothing to erase"):  # the approval's input is its permit's to erase
        erasure.erase_case(ledger, app["case_id"], dept, basis="objection", by="officer-42")
    assert _row(ledger, approval.body["input_digest"]) == kept
    assert len(list(logchain.entries(ledger, erasure.LOG, dept))) == head


def test_a_minimum_age_holds_back_the_time_bases_only(
    ledger: Ledger, depts: tuple[str, str], rules: RuleSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dept = depts[0]
    referred, _, _ = _referred(ledger, tmp_path, dept, rules)
    monkeypatch.setattr(ledger, "settings", ledger.settings.with_(case_erasure_min_age_days=30))
    for basis in ("retention-expired", "no-longer-necessary"):
        with pytest.raises(StateError, match="LEDGER_CASE_ERASURE_MIN_AGE_DAYS"):
            erasure.erase_case(ledger, referred.body["case_id"], dept, basis=basis, by="officer-42")
    assert _row(ledger, referred.body["input_digest"]) not in (None, ERASED)
    monkeypatch.undo()
    case = referred.body["case_id"]
    both_named = run_cli(ledger, "erase", "0x" + "00" * 32, "--case", case, "-d", dept, "--basis", "objection")
    assert both_named.returncode != 0 and "not both" in both_named.stderr, both_named
    done = run_cli(ledger, "erase", "--case", case, "-d", dept, "--basis", "court-order", "--by", "clerk-3")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["inputs"] == [referred.body["input_digest"]]
    assert _row(ledger, referred.body["input_digest"]) == ERASED


# -- attacks: who may excuse a destroyed row, and with what --------------------------------------------------------


def test_an_erasure_of_another_case_excuses_nothing(
    ledger: Ledger, depts: tuple[str, str], rules: RuleSet, tmp_path: Path
) -> None:
    """The department's own anchored case entry naming case B with case A's input (or B's erasure carried in A's
    bundle): replay reports A, both verifiers fail its re-run."""
    dept = depts[0]
    victim, _, licence = _referred(ledger, tmp_path, dept, rules)
    other, _, _ = _referred(ledger, tmp_path, dept, rules)
    _hostile_case_entry(ledger, dept, other.body["case_id"], [victim.body["input_digest"]])
    assert ("input_erased_unattested", victim.seq) in _checks(ledger, dept)
    (event,) = [
        e
        for e in provenance.timeline(ledger, licence, now=datetime.now(UTC), private=True)["events"]
        if e["kind"] == "decision" and e.get("case_id") == victim.body["case_id"]
    ]
    assert event["input_erased"] is False and "without a lawful erasure" in event["summary"], event
    bundle = evidence.decision_bundle(ledger, dept, victim.body["case_id"])
    assert bundle["input"].get("erased") and bundle["input"].get("erasure") is None
    report, _, _ = both(ledger, _carrying(ledger, bundle, dept, other.body["case_id"]), tmp_path, "other-case.json")
    assert "rerun" in {c.name for c in report.failed}, report.to_json()


def test_another_departments_erasure_of_the_same_case_id_excuses_nothing(
    ledger: Ledger, depts: tuple[str, str], rules: RuleSet, tmp_path: Path
) -> None:
    """Department Q logs and anchors, in its own erasures log, an erasure naming P's case id and input: P's
    destroyed row stays unattested in replay and both verifiers (the entry relabelled as P's does not verify)."""
    dept, other = depts
    victim, _, _ = _referred(ledger, tmp_path, dept, rules)
    case = victim.body["case_id"]
    _hostile_case_entry(ledger, other, case, [victim.body["input_digest"]])
    assert ("input_erased_unattested", victim.seq) in _checks(ledger, dept)
    bundle = _carrying(ledger, evidence.decision_bundle(ledger, dept, case), other, case)
    report, _, _ = both(ledger, bundle, tmp_path, "other-dept.json")
    assert "rerun" in {c.name for c in report.failed}, report.to_json()
    bundle["input"]["erasure"]["department"] = dept
    report, _, _ = both(ledger, bundle, tmp_path, "other-dept-relabelled.json")
    assert "rerun" in {c.name for c in report.failed}, report.to_json()


def test_an_unanchored_case_erasure_or_one_after_the_bundles_block_excuses_nothing(
    ledger: Ledger, depts: tuple[str, str], rules: RuleSet, tmp_path: Path
) -> None:
    dept = depts[0]
    victim, holder, _ = _referred(ledger, tmp_path, dept, rules)
    case = victim.body["case_id"]
    before = ledger.chain.w3.eth.block_number
    _hostile_case_entry(ledger, dept, case, [victim.body["input_digest"]], anchor=False)
    assert ("input_erased_unattested", victim.seq) in _checks(ledger, dept)
    logchain.anchor_pending(ledger, erasure.LOG, dept)
    assert ("input_erased_unattested", victim.seq) not in _checks(ledger, dept)  # now it is the case's erasure
    # the identity disclosed: a rule re-run that reads holder needs it (red team round 47)
    assert both(ledger, evidence.decision_bundle(ledger, dept, case, applicant=holder), tmp_path, "now.json")[0].ok
    earlier = evidence.decision_bundle(ledger, dept, case, applicant=holder, as_of_block=before)
    report, _, _ = both(ledger, _carrying(ledger, earlier, dept, case), tmp_path, "earlier.json")
    assert "rerun" in {c.name for c in report.failed}, report.to_json()


def test_a_case_erasure_naming_an_approvals_input_excuses_nothing(
    ledger: Ledger, depts: tuple[str, str], rules: RuleSet, tmp_path: Path
) -> None:
    """A decision that issued a permit loses its typed fields with that permit's erasure alone: the department's
    own entry for the case naming the approval's input, its permit live, is reported; both verifiers fail it."""
    dept = depts[0]
    tag = f"rt42p-{next(_cases)}"
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    app = application(f"FBP-{tag}", licence)
    approval = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    _hostile_case_entry(ledger, dept, app["case_id"], [approval.body["input_digest"]])
    assert ("input_erased_unattested", approval.seq) in _checks(ledger, dept)
    bundle = _carrying(ledger, evidence.decision_bundle(ledger, dept, app["case_id"]), dept, app["case_id"])
    report, _, _ = both(ledger, bundle, tmp_path, "approval.json")
    assert "rerun" in {c.name for c in report.failed}, report.to_json()


def test_a_case_erasure_entry_not_naming_the_input_excuses_nothing(
    ledger: Ledger, depts: tuple[str, str], rules: RuleSet, tmp_path: Path
) -> None:
    """The case's own anchored entry naming another input (a decision recorded after the erasure, say): the
    row destroyed is reported, and a bundle carrying that entry fails in both verifiers."""
    dept = depts[0]
    victim, _, _ = _referred(ledger, tmp_path, dept, rules)
    other, _, _ = _referred(ledger, tmp_path, dept, rules)
    case = victim.body["case_id"]
    _hostile_case_entry(ledger, dept, case, [other.body["input_digest"]], destroy=False)
    with ledger.engine.begin() as conn:
        conn.execute(_KEPT.update().where(_KEPT.c.input_digest == victim.body["input_digest"]).values(sealed=ERASED))
    assert ("input_erased_unattested", victim.seq) in _checks(ledger, dept)
    bundle = _carrying(ledger, evidence.decision_bundle(ledger, dept, case), dept, case)
    report, _, _ = both(ledger, bundle, tmp_path, "other-input.json")
    assert "rerun" in {c.name for c in report.failed}, report.to_json()


def test_a_case_erasure_excuses_no_approval_that_issued_nothing(
    ledger: Ledger, depts: tuple[str, str], tmp_path: Path
) -> None:
    """A rule set that seals a typed field (``personal``) and produces nothing: its approval issues no certificate.
    The department's own anchored case entry naming that approval's input would hide what it approved from every
    re-run: replay reports it, both verifiers fail it, and ``erase_case`` refuses the approved case."""
    import yaml

    from ledger.formats.rules import load_rule_set

    from .permit_support import RULES

    dept = depts[0]
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    document.pop("produces")
    document["version"] = "test-rt42p-no-permit"
    plain = load_rule_set(document)
    decisions.publish_rule_set(ledger, plain, dept)
    tag = f"rt42p-{next(_cases)}"
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    app = application(f"FBP-{tag}", licence)
    approval = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, plain, applicant_ref=holder)
    assert approval.body["outcome"] == "approve" and "issued" not in approval.body
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert _row(ledger, approval.body["input_digest"]) not in (None, ERASED)  # business_name, declared personal
    with pytest.raises(StateError, match="stands approved"):
        erasure.erase_case(ledger, app["case_id"], dept, basis="objection", by="officer-42")
    _hostile_case_entry(ledger, dept, app["case_id"], [approval.body["input_digest"]])
    assert ("input_erased_unattested", approval.seq) in _checks(ledger, dept)
    (event,) = [
        e
        for e in provenance.timeline(ledger, licence["digest"], now=datetime.now(UTC), private=True)["events"]
        if e["kind"] == "decision" and e.get("case_id") == app["case_id"]
    ]
    assert event["input_erased"] is False, event
    bundle = _carrying(ledger, evidence.decision_bundle(ledger, dept, app["case_id"]), dept, app["case_id"])
    bundle["input"]["erased"] = ["application.business_name"]
    report, _, _ = both(ledger, bundle, tmp_path, "approval-no-permit.json")
    assert "rerun" in {c.name for c in report.failed}, report.to_json()


def test_a_case_erasure_entry_of_a_shape_the_ledger_never_writes_gets_one_verdict_everywhere(
    ledger: Ledger, depts: tuple[str, str], rules: RuleSet, tmp_path: Path
) -> None:
    """Entries the library never writes, anchored by the department: ``inputs`` holding a non-digest beside the
    input (its own case, a referral: lawful for replay and both verifiers alike), and one also stating ``erased``
    (the shape of a citation attestation: lawful for none). Replay and the verifiers read the shape the same way."""
    dept = depts[0]
    kept, kept_holder, _ = _referred(ledger, tmp_path, dept, rules)
    odd, _, _ = _referred(ledger, tmp_path, dept, rules)
    _hostile_case_entry(ledger, dept, kept.body["case_id"], [kept.body["input_digest"], 5])  # type: ignore[list-item]
    body = {"case_id": odd.body["case_id"], "inputs": [odd.body["input_digest"]], "erased": "0x" + "11" * 32}
    logchain.append(
        ledger, erasure.LOG, dept, {**body, "basis": "objection", "by": "rogue", "at": "2026-12-06T00:00:00Z"}
    )
    logchain.anchor_pending(ledger, erasure.LOG, dept)
    with ledger.engine.begin() as conn:
        conn.execute(_KEPT.update().where(_KEPT.c.input_digest == odd.body["input_digest"]).values(sealed=ERASED))
    found = _checks(ledger, dept)
    assert ("input_erased_unattested", kept.seq) not in found and ("input_erased_unattested", odd.seq) in found
    kept_bundle = evidence.decision_bundle(ledger, dept, kept.body["case_id"], applicant=kept_holder)
    assert both(ledger, kept_bundle, tmp_path, "odd-ok.json")[0].ok
    bundle = _carrying(ledger, evidence.decision_bundle(ledger, dept, odd.body["case_id"]), dept, odd.body["case_id"])
    report, _, _ = both(ledger, bundle, tmp_path, "odd-erased.json")
    assert "rerun" in {c.name for c in report.failed}, report.to_json()


def test_an_officers_refusal_of_a_referral_is_erased_with_the_case(
    ledger: Ledger, depts: tuple[str, str], rules: RuleSet, tmp_path: Path
) -> None:
    """The rules refer, an officer refuses on the same application typed (its input sealed too): the case erasure
    reaches both inputs, and replay (which checks an officer's sealed fields as an automatic decision's) and both
    verifiers of the officer's decision call them lawfully erased."""
    dept = depts[0]
    tag = f"rt42p-{next(_cases)}"
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    app = application(f"FBP-{tag}", licence, scope="cooked-food")
    referred = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    refusal = decisions.record_human_decision(
        ledger,
        dept,
        app["case_id"],
        app["service_item"],
        officer="officer-42",
        outcome="reject",
        reasons=["OFFICER_FOUND_FRAUD"],
        applicant_ref=holder,
        overrides=referred.seq,
        decision_input=app,
        rule_set=rules,
    )
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    done = erasure.erase_case(ledger, app["case_id"], dept, basis="objection", by="officer-42")
    assert set(done["inputs"]) == {referred.body["input_digest"], refusal.body["input_digest"]}, done
    assert not {c for c, s in _checks(ledger, dept) if s in (referred.seq, refusal.seq)}
    report, _, _ = both(ledger, evidence.decision_bundle(ledger, dept, app["case_id"]), tmp_path, "officer.json")
    assert report.ok, report.to_json()


def test_a_case_erased_past_the_library_while_its_approval_stood_is_reported(
    ledger: Ledger, depts: tuple[str, str], rules: RuleSet, tmp_path: Path
) -> None:
    """The rules referred, an officer approved (the permit live): ``erase_case`` refuses the case, so the department
    writes and anchors the entry itself, naming the referral's input (a decision that is no approval, which the
    entry does excuse): replay reports the erasure of a case in force (``case_erased_in_force``)."""
    from .permit_support import referred_then_approved

    dept = depts[0]
    tag = f"rt42p-{next(_cases)}"
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    app = application(f"FBP-{tag}", licence, scope="cooked-food")
    referred, approval = referred_then_approved(ledger, dept, rules, app, holder, "officer-42")
    with pytest.raises(StateError, match="live certificate"):
        erasure.erase_case(ledger, app["case_id"], dept, basis="objection", by="officer-42")
    assert ("case_erased_in_force", approval.seq) not in _checks(ledger, dept)
    _hostile_case_entry(ledger, dept, app["case_id"], [referred.body["input_digest"]])
    assert ("case_erased_in_force", approval.seq) in _checks(ledger, dept)
