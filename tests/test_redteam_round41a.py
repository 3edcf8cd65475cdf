"""Red team round 41a: what landed as priv40 (the fields a certificate copies, sealed apart and erased with it),
attacked as a department acting outside its authority, an applicant, an insider with the database and a court's
expert (docs/threat-model.md, round 41a rows). Each test was written failing first; they share one department and
one published rule set (module scope), each test its own cases."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import pytest
from sqlalchemy import select, update

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats.certificate import validate_record
from ledger.formats.rules import RuleSet
from ledger.services import decisions, erasure, evidence, issuance, logchain
from ledger.services.departments import Council
from ledger.services.reconcile import reconcile
from ledger.services.replay import replay
from ledger.storage.models import SealedInput
from ledger.storage.vault import ERASED

from .conftest import TEST_ITEMS, TEST_TYPES
from .evidence_support import both, load_script
from .permit_support import application, fresh_licence, permit_rules, published_permit_rules, referred_then_approved

_cases = itertools.count(1)
_KEPT = SealedInput.__table__  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def dept(ledger: Ledger) -> str:
    code = "RT41A"
    from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER, ROLE_VERIFIER

    Council(ledger).register(
        code, "Red team 41a", ROLE_ISSUER | ROLE_VERIFIER | ROLE_APPROVER, types=TEST_TYPES, items=TEST_ITEMS
    )
    return code


@pytest.fixture(scope="module")
def rules(ledger: Ledger, dept: str) -> RuleSet:
    return published_permit_rules(ledger, dept, "rt41a")


def _decided(
    ledger: Ledger, tmp: Path, dept: str, rules: RuleSet, scope: str = "prepackaged-food-sales"
) -> tuple[decisions.Decision, str]:
    tag = f"rt41a-{next(_cases)}"
    licence, holder = fresh_licence(ledger, tmp, tag)
    app = application(f"FBP-{tag}", licence, scope=scope)
    app["application"]["premises"] = f"Room {tag}, Shennan Boulevard"
    decision = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    return decision, holder


def _sealed_row(ledger: Ledger, input_digest: str) -> bytes | None:
    with ledger.engine.connect() as conn:
        blob = conn.execute(select(_KEPT.c.sealed).where(_KEPT.c.input_digest == input_digest)).scalar()
    return None if blob is None else bytes(blob)


def _checks(ledger: Ledger, dept: str) -> set[tuple[str, int | None]]:
    return {(d.check, d.seq) for d in replay(ledger, department=dept).discrepancies}


def _own_erasure_entry(ledger: Ledger, dept: str, certificate: str, inputs: list[str]) -> None:
    """What a department with its own log's keys can write: an erasures entry of its choosing, anchored, and the
    sealed rows it names destroyed."""
    body = {"certificate": certificate, "basis": "no-longer-necessary", "by": "rogue", "at": "2026-12-06T00:00:00Z"}
    logchain.append(ledger, erasure.LOG, dept, {**body, "inputs": inputs, "cited_in": []})
    logchain.anchor_pending(ledger, erasure.LOG, dept)
    with ledger.engine.begin() as conn:
        conn.execute(update(SealedInput).where(SealedInput.input_digest.in_(inputs)).values(sealed=ERASED))  # type: ignore[attr-defined]


# -- a department acting outside its authority ------------------------------------------------------------------


def test_a_hand_issued_permit_claiming_a_decision_erases_none_of_its_typed_fields(
    ledger: Ledger, dept: str, rules: RuleSet, tmp_path: Path
) -> None:
    """A certificate the department issued by hand, its body claiming ``produced_by`` a decision that issued
    another permit (or none): its erasure must not reach that decision's typed fields, nor name its input."""
    decision, holder = _decided(ledger, tmp_path, dept, rules)
    refused, _ = _decided(ledger, tmp_path, dept, rules, scope="cooked-food")  # a referral: issued nothing
    forged = []
    for victim in (decision, refused):
        claim = {
            "department": dept,
            "case_id": victim.body["case_id"],
            "rule_set": victim.body["rule_set"],
            "input_digest": victim.body["input_digest"],
            "decided_at": victim.body["decided_at"],
        }
        record = {
            "id": f"FBP-FORGED-{victim.seq}",
            "type": "food-business-permit",
            "subject": {"credit_code": holder, "produced_by": claim},
        }
        out = io.StringIO()
        issuance.issue_records(ledger, [validate_record(record, 1, department=dept)], dept, out=out)
        forged.append(json.loads(out.getvalue().splitlines()[0])["digest"])
    for digest, victim in zip(forged, (decision, refused), strict=True):
        done = erasure.erase(ledger, digest, basis="no-longer-necessary", by="rogue")
        assert done["typed_fields_erased"] == 0, done
        assert "inputs" not in erasure.recorded(ledger, dept)[digest]
        assert _sealed_row(ledger, victim.body["input_digest"]) not in (None, ERASED)


def test_an_erasure_entry_of_another_certificate_excuses_no_rerun_of_a_decision_that_issued_one(
    ledger: Ledger, dept: str, rules: RuleSet, tmp_path: Path
) -> None:
    """The department writes its own erasures entry naming the input of an approval whose permit still stands:
    replay and both verifiers take only the erasure of the permit the decision issued as lawful."""
    decision, _ = _decided(ledger, tmp_path, dept, rules)
    other, _ = _decided(ledger, tmp_path, dept, rules)
    _own_erasure_entry(ledger, dept, other.body["issued"]["certificate"], [decision.body["input_digest"]])
    assert ("input_erased_unattested", decision.seq) in _checks(ledger, dept)
    bundle = evidence.decision_bundle(ledger, dept, decision.body["case_id"])
    assert bundle["input"].get("erased")
    report, _, _ = both(ledger, bundle, tmp_path, "other-cert.json")
    assert "rerun" in {c.name for c in report.failed}, report.to_json()


def test_an_erasure_entry_naming_a_referral_of_another_case_is_no_lawful_erasure(
    ledger: Ledger, dept: str, rules: RuleSet, tmp_path: Path
) -> None:
    """A referral (no permit) is erased only with a permit its own case produced: an entry of a permit of another
    case naming its input is reported by replay, and both verifiers, which find in the bundle no decision of the
    referral's case that issued the certificate erased (``input.erasure.issued_by``), fail its re-run."""
    referred, _ = _decided(ledger, tmp_path, dept, rules, scope="cooked-food")
    assert "issued" not in referred.body
    other, _ = _decided(ledger, tmp_path, dept, rules)
    _own_erasure_entry(ledger, dept, other.body["issued"]["certificate"], [referred.body["input_digest"]])
    assert ("input_erased_unattested", referred.seq) in _checks(ledger, dept)
    bundle = evidence.decision_bundle(ledger, dept, referred.body["case_id"])
    assert bundle["input"].get("erased") and "issued_by" not in bundle["input"]["erasure"]
    report, _, _ = both(ledger, bundle, tmp_path, "referral-other-case.json")
    assert "rerun" in {c.name for c in report.failed}, report.to_json()
    # nor does the other case's issuing decision, carried in its place, pass for the referral's case
    issuing = evidence.decision_bundle(ledger, dept, other.body["case_id"])
    bundle["input"]["erasure"]["issued_by"] = {
        "log": "decisions",
        "department": dept,
        "seq": other.seq,
        "prev_hash": issuing["decision"]["prev_hash"],
        "entry_hash": issuing["decision"]["entry_hash"],
        "body": issuing["decision"]["body"],
        "root": issuing["anchor"]["root"],
        "proof": issuing["anchor"]["proof"],
    }
    report, _, _ = both(ledger, bundle, tmp_path, "referral-other-issuer.json")
    assert "rerun" in {c.name for c in report.failed}, report.to_json()


def test_a_rule_set_may_not_declare_personal_a_field_its_rules_read() -> None:
    """Declaring ``personal`` what the rules read would make every decision unrepeatable once its permit is
    erased: the ledger and the court's verifier both refuse such a set."""
    with pytest.raises(InputError, match="personal"):
        permit_rules("reads", personal=["application.materials_submitted"])
    with pytest.raises(InputError, match="personal"):
        permit_rules("reads-inside", personal=["application"])
    script = load_script()
    document = dict(permit_rules("ok").document)
    document["personal"] = ["application.materials_submitted"]
    with pytest.raises(script.Failure, match="personal"):
        script.rule_set_problem(document)
    document["personal"] = ["application.business_name"]
    script.rule_set_problem(document)


# -- a court's expert: an edited bundle ------------------------------------------------------------------------


def test_a_bundle_may_not_call_erased_a_field_the_certificate_never_copied(
    ledger: Ledger, dept: str, rules: RuleSet, tmp_path: Path
) -> None:
    """After a lawful erasure, a bundle hiding a field the rules read (not one the rule set seals) and listing it
    under ``input.erased`` must not pass as lawfully erased: both verifiers fail the re-run, and agree."""
    decision, _ = _decided(ledger, tmp_path, dept, rules)
    erasure.erase(ledger, decision.body["issued"]["certificate"], basis="no-longer-necessary", by="officer")
    logchain.anchor_pending(ledger, erasure.LOG, dept)
    bundle = evidence.decision_bundle(ledger, dept, decision.body["case_id"], hide=["application.materials_submitted"])
    honest, _, _ = both(ledger, bundle, tmp_path, "honest.json")
    assert "rerun" in {c.name for c in honest.failed}  # hidden, read by the rules: cannot be re-run
    bundle["input"]["erased"] = sorted([*bundle["input"]["erased"], "application.materials_submitted"])
    report, _, _ = both(ledger, bundle, tmp_path, "widened.json")
    assert "rerun" in {c.name for c in report.failed}, report.to_json()


# -- an insider with database access ---------------------------------------------------------------------------


def test_a_referrals_sealed_row_written_back_after_the_erasure_is_reported(
    ledger: Ledger, dept: str, rules: RuleSet, tmp_path: Path
) -> None:
    """The case's referral's typed fields, destroyed with the permit the officer's approval issued, written back
    from a backup: reconcile names the erasure incomplete."""
    tag = f"rt41a-{next(_cases)}"
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    app = application(f"FBP-{tag}", licence, scope="cooked-food")
    referred, approval = referred_then_approved(ledger, dept, rules, app, holder, "officer-41")
    backup = _sealed_row(ledger, referred.body["input_digest"])
    permit = approval.body["issued"]["certificate"]
    assert erasure.erase(ledger, permit, basis="consent-withdrawn", by="officer-41")["typed_fields_erased"] == 2
    logchain.anchor_pending(ledger, erasure.LOG, dept)
    with ledger.engine.begin() as conn:
        conn.execute(_KEPT.update().where(_KEPT.c.input_digest == referred.body["input_digest"]).values(sealed=backup))
    found = {(d.kind, d.certificate) for d in reconcile(ledger, departments=[dept]).divergences}
    assert ("erasure_incomplete", permit) in found, found


def test_a_permits_sealed_row_written_back_after_the_erasure_is_reported_by_replay(
    ledger: Ledger, dept: str, rules: RuleSet, tmp_path: Path
) -> None:
    """The approval's own typed fields written back from a backup after its permit's lawful erasure: replay no
    longer reports the decision clean (reconcile's erasure_incomplete is test_erasure_typed_fields')."""
    decision, _ = _decided(ledger, tmp_path, dept, rules)
    backup = _sealed_row(ledger, decision.body["input_digest"])
    erasure.erase(ledger, decision.body["issued"]["certificate"], basis="no-longer-necessary", by="officer")
    logchain.anchor_pending(ledger, erasure.LOG, dept)
    assert ("input_erasure_undone", decision.seq) not in _checks(ledger, dept)
    with ledger.engine.begin() as conn:
        conn.execute(_KEPT.update().where(_KEPT.c.input_digest == decision.body["input_digest"]).values(sealed=backup))
    assert ("input_erasure_undone", decision.seq) in _checks(ledger, dept)


def test_an_erasure_anchored_after_the_bundles_block_excuses_no_rerun(
    ledger: Ledger, dept: str, rules: RuleSet, tmp_path: Path
) -> None:
    """A bundle stated as of a block before the erasure (the day the court asked, say) carrying the later entry:
    as of its block the fields existed, so both verifiers fail the re-run, and agree."""
    decision, holder = _decided(ledger, tmp_path, dept, rules)
    before = ledger.chain.w3.eth.block_number
    erasure.erase(ledger, decision.body["issued"]["certificate"], basis="no-longer-necessary", by="officer")
    logchain.anchor_pending(ledger, erasure.LOG, dept)
    # the identity disclosed: a rule re-run that reads holder needs it (red team round 47)
    now = evidence.decision_bundle(ledger, dept, decision.body["case_id"], applicant=holder)
    assert both(ledger, now, tmp_path, "now.json")[0].ok
    earlier = evidence.decision_bundle(ledger, dept, decision.body["case_id"], applicant=holder, as_of_block=before)
    report, _, result = both(ledger, earlier, tmp_path, "earlier.json")
    assert "rerun" in {c.name for c in report.failed}, report.to_json()
    assert result is not None and "after the bundle's as_of block" in json.dumps(result)


def test_an_insider_moving_swapping_or_unsealing_rows_is_reported(
    ledger: Ledger, dept: str, rules: RuleSet, tmp_path: Path
) -> None:
    """Held: a sealed row put under another input's digest (or two swapped) does not open (the vault binds it to
    its digest): input_missing; a stored input with ``input_sealed`` dropped no longer has its digest:
    input_altered."""
    first, _ = _decided(ledger, tmp_path, dept, rules)
    second, _ = _decided(ledger, tmp_path, dept, rules)
    a, b = first.body["input_digest"], second.body["input_digest"]
    rows = {a: _sealed_row(ledger, a), b: _sealed_row(ledger, b)}
    with ledger.engine.begin() as conn:
        for mine, theirs in ((a, b), (b, a)):
            conn.execute(_KEPT.update().where(_KEPT.c.input_digest == mine).values(sealed=rows[theirs]))
    found = _checks(ledger, dept)
    assert {("input_missing", first.seq), ("input_missing", second.seq)} <= found, found
    with ledger.engine.begin() as conn:
        for digest, blob in rows.items():
            conn.execute(_KEPT.update().where(_KEPT.c.input_digest == digest).values(sealed=blob))
    from ledger.services.decisions import DecisionInput

    table = DecisionInput.__table__  # type: ignore[attr-defined]
    with ledger.engine.begin() as conn:
        document = conn.execute(select(table.c.document).where(table.c.digest == a)).scalar_one()
        stored = json.loads(document)
        del stored["input_sealed"]
        conn.execute(table.update().where(table.c.digest == a).values(document=json.dumps(stored)))
    found = _checks(ledger, dept)
    assert ("input_altered", first.seq) in found and ("input_missing", second.seq) not in found, found
    with ledger.engine.begin() as conn:
        conn.execute(table.update().where(table.c.digest == a).values(document=document))


# -- an applicant lying in their input -------------------------------------------------------------------------


def test_an_applicant_cannot_smuggle_sealed_hashes_nor_slip_a_copied_field_past_the_sealing(
    ledger: Ledger, dept: str, rules: RuleSet, tmp_path: Path
) -> None:
    """Held: ``input_sealed`` at the top (spelled with JSON escapes too) is refused by every entry point; nested,
    or a key spelled like a sealed path, it is an ordinary field; what the permit copies, an object or a list, is
    sealed whole, so no part of it is stored in clear."""
    tag = f"rt41a-{next(_cases)}"
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    app = application(f"FBP-{tag}", licence)
    smuggled = json.loads(
        json.dumps(app)[:-1] + ', "input\\u005fsealed": {"application.premises": "' + "0" * 64 + '"}}'
    )
    with pytest.raises(InputError, match="input_sealed"):
        decisions.decide(ledger, dept, app["case_id"], app["service_item"], smuggled, rules, applicant_ref=holder)
    with pytest.raises(InputError, match="input_sealed"):
        decisions.decide_many(ledger, dept, [{**smuggled, "applicant_ref": holder}], {"*": rules}, workers=1)
    app["application"]["premises"] = {"street": f"Street {tag}", "rooms": [f"Room {tag}-1", f"Room {tag}-2"]}
    app["application"]["input_sealed"] = {"application.premises": "0" * 64}
    app["application.premises"] = f"Top {tag}"  # a top-level key spelled like the path: no field the permit copies
    # the shipped set takes premises as text (1.5.0, round 77b): a rule set copying them as an object
    produces = {**rules.document["produces"], "types": {"premises": "object"}}
    objects = permit_rules(f"{tag}-objects", produces=produces)
    decisions.publish_rule_set(ledger, objects, dept)
    decision = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, objects, applicant_ref=holder)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    from ledger.services.decisions import DecisionInput

    table = DecisionInput.__table__  # type: ignore[attr-defined]
    with ledger.engine.connect() as conn:
        document = conn.execute(
            select(table.c.document).where(table.c.digest == decision.body["input_digest"])
        ).scalar_one()
    assert f"Street {tag}" not in document and f"Room {tag}-1" not in document
    assert json.loads(document)["input_sealed"].keys() == {
        "application.business_name",
        "application.business_scope",
        "application.premises.rooms",
        "application.premises.street",
    }
    assert not {("input_altered", decision.seq), ("input_missing", decision.seq)} & _checks(ledger, dept)
    bundle = evidence.decision_bundle(ledger, dept, decision.body["case_id"], applicant=holder)
    assert both(ledger, bundle, tmp_path, "nested.json")[0].ok


# -- the timeline ------------------------------------------------------------------------------------------------


def test_the_timeline_calls_the_typed_fields_lawfully_erased_only_after_an_attested_erasure(
    ledger: Ledger, dept: str, rules: RuleSet, tmp_path: Path
) -> None:
    """An insider writes the erasure marker into a live permit's sealed row: the permit's timeline must not say
    what was typed was "lawfully erased" with it (no erasure of it exists); it says the fields were destroyed."""
    from datetime import UTC, datetime

    from ledger.services import provenance

    decision, _ = _decided(ledger, tmp_path, dept, rules)
    permit = decision.body["issued"]["certificate"]
    with ledger.engine.begin() as conn:
        conn.execute(_KEPT.update().where(_KEPT.c.input_digest == decision.body["input_digest"]).values(sealed=ERASED))
    (produced,) = [
        e for e in provenance.timeline(ledger, permit, now=datetime.now(UTC))["events"] if e["kind"] == "produced"
    ]
    assert produced["input_erased"] is False and "lawfully erased" not in produced["summary"], produced
    assert "without a lawful erasure" in produced["summary"], produced


def test_a_bundle_may_not_call_a_field_erased_without_the_erasure_even_where_no_rule_reads_it(
    ledger: Ledger, dept: str, rules: RuleSet, tmp_path: Path
) -> None:
    """A live permit's decision: the department hides the premises (sealed, read by no rule) and lists them as
    erased; the verifiers said "erased with the certificate this decision produced" on no evidence. Any
    ``input.erased`` now needs the anchored erasure, for an officer's decision too; both verifiers agree."""
    decision, holder = _decided(ledger, tmp_path, dept, rules)
    bundle = evidence.decision_bundle(
        ledger, dept, decision.body["case_id"], applicant=holder, hide=["application.premises"]
    )
    hidden = both(ledger, bundle, tmp_path, "hidden.json")[0]
    assert hidden.ok, [(c.name, c.detail) for c in hidden.failed]
    bundle["input"]["erased"] = ["application.premises"]
    report, _, _ = both(ledger, bundle, tmp_path, "claimed.json")
    assert "rerun" in {c.name for c in report.failed}, report.to_json()
    tag = f"rt41a-{next(_cases)}"
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    app = application(f"FBP-{tag}", licence, scope="cooked-food")
    _referred, _approval = referred_then_approved(ledger, dept, rules, app, holder, "officer-41")
    officer = evidence.decision_bundle(ledger, dept, app["case_id"], hide=["application.premises"])
    assert both(ledger, officer, tmp_path, "officer.json")[0].ok
    officer["input"]["erased"] = ["application.premises"]
    report, _, _ = both(ledger, officer, tmp_path, "officer-claimed.json")
    assert "rerun" in {c.name for c in report.failed}, report.to_json()


def test_an_officers_decisions_sealed_row_destroyed_or_restored_is_reported(
    ledger: Ledger, dept: str, rules: RuleSet, tmp_path: Path
) -> None:
    """An officer's decision stores its input with the fields its rule set seals too, but replay never looked at
    it: the row destroyed with no erasure, or written back after the lawful one, is now reported as for an
    automatic decision."""
    tag = f"rt41a-{next(_cases)}"
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    app = application(f"FBP-{tag}", licence, scope="cooked-food")
    referred, approval = referred_then_approved(ledger, dept, rules, app, holder, "officer-41")
    backup = _sealed_row(ledger, approval.body["input_digest"])
    with ledger.engine.begin() as conn:
        conn.execute(_KEPT.update().where(_KEPT.c.input_digest == approval.body["input_digest"]).values(sealed=ERASED))
    found = _checks(ledger, dept)
    assert ("input_erased_unattested", approval.seq) in found, found
    with ledger.engine.begin() as conn:  # a lawful erasure, then the row written back from a backup
        conn.execute(_KEPT.update().where(_KEPT.c.input_digest == approval.body["input_digest"]).values(sealed=backup))
    erasure.erase(ledger, approval.body["issued"]["certificate"], basis="no-longer-necessary", by="officer-41")
    logchain.anchor_pending(ledger, erasure.LOG, dept)
    assert not {c for c, s in _checks(ledger, dept) if s in (approval.seq, referred.seq)}
    with ledger.engine.begin() as conn:
        conn.execute(_KEPT.update().where(_KEPT.c.input_digest == approval.body["input_digest"]).values(sealed=backup))
    assert ("input_erasure_undone", approval.seq) in _checks(ledger, dept)
