"""RED TEAM findings (branch ``redteam``): each test here FAILS on the code it was written against and shows one
hole an adversary can use. A test passes once the hole is closed. Run alone:

    .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_redteam.py

Adversaries: an approver department (or an insider holding its key / its database) recording decisions, an
applicant citing certificates, a forger handing a court a decision bundle.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ledger.client import Ledger
from ledger.formats.canonical import hex32
from ledger.formats.rules import evaluate
from ledger.services import decisions, evidence, issuance, logchain, status
from ledger.services.replay import replay
from ledger.storage.store import batch_proof

from .conftest import make_records, write_jsonl
from .decision_support import application, unique_rule_set
from .evidence_support import failed_names, standalone


@pytest.fixture(scope="module")
def licences(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = io.StringIO()
    path = write_jsonl(tmp_path_factory.mktemp("redteam") / "licences.jsonl", make_records(12))
    issuance.issue_file(ledger, path, "MKT", out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.fixture()
def approver(ledger: Ledger, fresh_department: str) -> str:
    decisions.publish_rule_set(ledger, unique_rule_set(f"rt-{fresh_department}"), fresh_department)
    return fresh_department


def rules_of(dept: str) -> Any:
    return unique_rule_set(f"rt-{dept}")


def decide(ledger: Ledger, dept: str, app: dict[str, Any], **kwargs: Any) -> decisions.Decision:
    return decisions.decide(
        ledger,
        dept,
        app["case_id"],
        app["service_item"],
        app,
        rules_of(dept),
        applicant_ref=kwargs.pop("applicant_ref", "applicant-1"),
        **kwargs,
    )


def checks_of(report: Any) -> dict[str, list[int | None]]:
    out: dict[str, list[int | None]] = {}
    for d in report.discrepancies:
        out.setdefault(d.check, []).append(d.seq)
    return out


# -- RT-1: a decision bundle taken from a log that is not the decision log ---------------------------------------


def test_redteam_rt1_decision_bundle_from_a_shadow_log_is_refused(
    ledger: Ledger, approver: str, tmp_path: Path
) -> None:
    """An approver department (or whoever holds its key) writes a second, never-audited "decision" for a case into
    a log of another name (BatchLog anchors any logId for an active department; only the decisions log needs the
    approver role, and this department has it). Both bundle verifiers check that the entry hashes to the named
    log and that the key was an approver's - never that the named log IS the decision log. So a court is shown a
    verified "approve" that contradicts the department's real, replayed decision log, which replay never sees."""
    dept = approver
    app = application("C-RT1")  # no licence cited: the real engine refers it to an officer
    honest = decide(ledger, dept, app)
    assert honest.body["outcome"] == "refer"
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    genuine = evidence.decision_bundle(ledger, dept, "C-RT1")
    assert evidence.verify_bundle(genuine, ledger.chain).ok

    shadow = "decisions-final"  # any name: logId sha256("pl-log/decisions-final")
    body = dict(
        copy.deepcopy(honest.body), outcome="approve", reasons=["TYPICAL_FEATURES_MATCH"], fired=["typical-features"]
    )
    entry = logchain.append(ledger, shadow, dept, body)
    (root,) = logchain.anchor_pending(ledger, shadow, dept)
    entry_t, anchor_t = logchain.LogEntry.__table__, logchain.LogAnchor.__table__  # type: ignore[attr-defined]
    with ledger.engine.connect() as conn:
        row = conn.execute(
            select(entry_t).where(entry_t.c.log == shadow, entry_t.c.department_id == dept, entry_t.c.seq == entry.seq)
        ).one()
        anchor_row = conn.execute(select(anchor_t).where(anchor_t.c.root == root)).one()
    event = evidence._log_event(ledger.chain, dept, bytes.fromhex(root[2:]))
    assert event is not None
    head = ledger.chain.block_number()
    proof = b"".join(batch_proof(anchor_row.leaves, anchor_row.nodes, row.seq - anchor_row.first_seq))
    forged = copy.deepcopy(genuine)
    forged.pop("library_report", None)
    forged["decision"] = {
        "log": shadow,
        "department": dept,
        "seq": row.seq,
        "prev_hash": row.prev_hash,
        "entry_hash": row.entry_hash,
        "body": json.loads(row.body),
    }
    forged["anchor"] = {
        "root": root,
        "proof": [hex32(proof[i : i + 32]) for i in range(0, len(proof), 32)],
        "log_id": hex32(logchain.log_id(shadow)),
        "first_seq": event["first_seq"],
        "last_seq": event["last_seq"],
        "head_hash": event["head_hash"],
        "signer": event["signer"],
        "signature": anchor_row.signature,
        "tx_hash": event["tx_hash"],
        "block_number": event["block_number"],
        "block_hash": event["block_hash"],
        "block_timestamp": int(ledger.chain.w3.eth.get_block(event["block_number"])["timestamp"]),
    }
    forged["department"] = evidence.department_statement(ledger.chain, dept, head)
    forged["as_of"] = {
        "block_number": head,
        "block_hash": "0x" + bytes(ledger.chain.w3.eth.get_block(head)["hash"]).hex(),
    }
    assert forged["decision"]["body"]["outcome"] == "approve"

    assert replay(ledger, department=dept).ok  # the department's decision log still says "refer" and is clean
    report = evidence.verify_bundle(forged, ledger.chain)
    path = tmp_path / "forged-decision.json"
    path.write_text(json.dumps(forged), encoding="utf-8")
    code, result, stderr = standalone(ledger, path)
    assert result is not None, stderr
    # Expected: both verifiers refuse a "decision" that is not an entry of the decision log.
    accepted = {"library": report.ok, "standalone": code == 0 and not failed_names(result)}
    assert accepted == {"library": False, "standalone": False}, (
        f"an approve taken from a non-decision log verifies: {accepted}"
    )


# -- RT-2: format downgrade -------------------------------------------------------------------------------------


def test_redteam_rt2_pl_decision_1_body_skips_fact_check(
    ledger: Ledger, licences: list[dict[str, Any]], approver: str
) -> None:
    """A decision body recorded with ``"format": "pl-decision/1"`` (or any format other than pl-decision/2, or
    none) is re-run by replay on the application's own claims: the ledger's facts are never re-established. An
    approver (or insider writing the decision log before the anchoring job runs) records an approval on a revoked
    licence that the application calls "verified"/"valid" and replay reports no discrepancy - the exact attack
    pl-decision/2 was introduced to stop, still open by changing one string."""
    revoked = licences[0]
    status.revoke(ledger, revoked["digest"], "fraud")
    honest = decide(
        ledger,
        approver,
        application("C-RT2", revoked["digest"]),
        applicant_ref=revoked["fields"]["subject.credit_code"],
    )
    assert honest.body["outcome"] == "reject"

    lie = {
        "type": "business-licence",
        "digest": revoked["digest"],
        "verified": True,
        "status": "valid",
        "expired": False,
        "holder": True,
        "issuer": "MKT",
    }
    prepared = decisions._prepare_input("C-RT2-B", "ITEM-1", application("C-RT2-B", lie))
    input_digest, row = decisions._input_row(prepared)
    decisions._store_inputs(ledger, [row])
    result = evaluate(rules_of(approver), prepared)
    assert result.outcome == "approve"
    for fmt in ("pl-decision/1", None):
        body = dict(
            copy.deepcopy(honest.body),
            case_id="C-RT2-B",
            input_digest=input_digest,
            outcome="approve",
            reasons=list(result.reasons),
            fired=list(result.fired),
            certificates=[],
        )
        if fmt is None:
            del body["format"]
        else:
            body["format"] = fmt
        logchain.append(ledger, logchain.LOG_DECISIONS, approver, body)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, approver)
    report = replay(ledger, department=approver)
    # Expected: a decision recorded after pl-decision/2 exists (or with an unknown format) is a discrepancy.
    assert not report.ok, (
        "replay accepts an approval of a revoked licence recorded as pl-decision/1: " + report.summary()
    )


# -- RT-3: someone else's certificate ----------------------------------------------------------------------------


def test_redteam_rt3_an_applicant_borrows_another_holders_licence(
    ledger: Ledger, licences: list[dict[str, Any]], approver: str
) -> None:
    """Facts bind a cited certificate to nothing about the applicant: rules can read only type, verified, status and
    expired. An applicant who knows the digest of any valid licence in the store (a supplier's, a competitor's; a
    digest is what public verification and shared links carry) cites it as their own and is approved
    automatically. Two unrelated applicants are approved on one licence of "Zhang Wei 2"."""
    other = licences[2]
    assert other["fields"]["subject.name"] == "Zhang Wei 2"
    a = decide(ledger, approver, application("C-RT3-A", other["digest"]), applicant_ref="Li Na (unrelated)")
    b = decide(ledger, approver, application("C-RT3-B", other["digest"]), applicant_ref="Wang Fang (unrelated)")
    # Expected: a certificate of another holder is not evidence for this applicant (refer, not approve).
    assert (a.body["outcome"], b.body["outcome"]) != ("approve", "approve"), (
        "two unrelated applicants approved on one licence of a third party"
    )


# -- RT-4: confirmations ---------------------------------------------------------------------------------------


def test_redteam_rt4_honest_decision_with_confirmations_is_flagged_by_replay(
    ledger: Ledger, approver: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With LEDGER_CONFIRMATIONS > 0 (any production setting), an honest decision citing a licence anchored a few
    blocks earlier records it as not verified (the confirmations check failed at decision time); replay re-checks
    authenticity at today's head, finds it verified, and reports certificate_facts + outcome_mismatch against an
    honest engine. (Conversely, the applicant was refused for a depth that replay no longer sees.)"""
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / "fresh.jsonl", make_records(1)), "MKT", out=out)
    fresh = json.loads(out.getvalue().splitlines()[0])
    original = ledger.settings
    monkeypatch.setattr(ledger, "settings", dataclasses.replace(original, confirmations=3))
    decision = decide(ledger, approver, application("C-RT4", fresh["digest"]))
    assert decision.body["certificates"][0]["failed"] == ["confirmations"]
    monkeypatch.setattr(ledger, "settings", original)
    for _ in range(4):
        ledger.chain.w3.provider.make_request("evm_mine", [])
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, approver)
    report = replay(ledger, department=approver)
    assert report.ok, "replay flags an honest decision: " + report.summary()


# -- RT-5: a department issuing a type it has no authority for -------------------------------------------------


def test_redteam_rt5_a_hospital_mints_business_licences_that_decisions_accept(
    ledger: Ledger, approver: str, tmp_path: Path
) -> None:
    """The rules' certificate facts carry type, verified, status and expired - not the issuer - so no rule set can say
    "a business licence from the market regulator". Any issuer department (here the hospital, HOSP) issues a
    "business-licence" for whoever it likes; it verifies (its own namespace, its own key) and the engine approves
    on it exactly as on one from MKT."""
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / "hosp.jsonl", make_records(1)), "HOSP", out=out)
    minted = json.loads(out.getvalue().splitlines()[0])
    assert minted["fields"]["type"] == "business-licence" and minted["fields"]["issuer"] == "HOSP"
    decision = decide(ledger, approver, application("C-RT5", {"document": minted}))
    (fact,) = decision.body["certificates"]
    assert fact["verified"] and fact["issuer"] == "HOSP"
    # Expected: a business licence not issued by the authority for business licences is not grounds for approval.
    assert decision.body["outcome"] != "approve", "a hospital-issued 'business-licence' approved the application"


# -- RT-7: reconcile mixes departments' status events ------------------------------------------------------------


def test_redteam_rt7_a_squatted_root_makes_reconcile_blame_the_victims_rows(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """reconcile reads status events keyed by (root, digest) for every department it manages, dropping the
    department. HOSP (managed by the same ledger, as every department of a deployment is) anchors the victim's
    public batch root value in its own namespace and "revokes" the victim's certificate there, using the public
    proof. Every verifier correctly keeps saying valid - but reconcile now reports status_mismatch and
    status_history on the victim's untouched rows; and an insider who sets the victim's row to 'revoked' to match
    is NOT reported (the squat's events hide the tampering)."""
    from ledger.formats.canonical import parse_hex32
    from ledger.formats.certificate import batch_schema
    from ledger.services.reconcile import reconcile
    from ledger.storage.store import Certificate

    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / "victim.jsonl", make_records(2)), fresh_department, out=out)
    victim, other = [json.loads(line) for line in out.getvalue().splitlines()]
    root = parse_hex32(victim["anchor"]["root"])
    chain, hosp = ledger.chain, ledger.department_account("HOSP")
    chain.transact(
        hosp, chain.anchor.functions.anchorBatch(root, 2, batch_schema("business-licence"))
    )  # same root value, HOSP's namespace
    for doc in (victim, other):
        chain.transact(
            hosp,
            chain.anchor.functions.revoke(
                root, parse_hex32(doc["digest"]), [parse_hex32(p) for p in doc["anchor"]["proof"]], 2
            ),
        )
    # insider: sets the second certificate's row to revoked, as the squat's events say
    with ledger.engine.begin() as conn:
        conn.execute(
            Certificate.__table__.update()
            .where(  # type: ignore[attr-defined]
                Certificate.__table__.c.digest == other["digest"]
            )
            .values(status="revoked")
        )  # type: ignore[attr-defined]
    report = reconcile(ledger, departments=[fresh_department, "HOSP"])
    found = {
        (d.kind, d.certificate) for d in report.divergences if d.certificate in (victim["digest"], other["digest"])
    }
    # Expected: nothing about the untouched row; the tampered row reported (status_mismatch)
    assert found == {("status_mismatch", other["digest"])}, found


# -- RT-8: a cited document that crashes the engine -------------------------------------------------------------


@pytest.mark.parametrize("anchor_change", [{"proof": 5}, {"chain_id": [1]}, {"chain_id": {"a": 1}}])
def test_redteam_rt8_malformed_anchor_is_a_failed_check_not_a_crash(
    ledger: Ledger, licences: list[dict[str, Any]], approver: str, anchor_change: dict[str, Any]
) -> None:
    """verify.py: ``_proof`` iterates a non-list proof (``int`` -> TypeError) and ``chain_check`` puts anchor.chain_id
    in a dict key (list -> unhashable TypeError); neither is caught. The gateway's schema refuses these shapes (422),
    but ``ledger verify FILE`` and, worse, the decision engine take documents from applications: one application
    citing such a document aborts ``decide`` and the whole chunk of ``decide_many`` (every other applicant's
    decision in the run) with a TypeError traceback."""
    from ledger.services.verify import ChainView, verify_certificate

    doc = copy.deepcopy(licences[7])
    doc["anchor"].update(anchor_change)
    crashes = {}
    try:
        assert not verify_certificate(doc, ChainView(ledger.chain)).ok
    except TypeError as exc:
        crashes["verify_certificate"] = repr(exc)
    apps = [{**application(f"C-RT8-{i}", licences[8]["digest"]), "applicant_ref": f"a-{i}"} for i in range(3)]
    apps.append({**application("C-RT8-BAD", {"document": doc}), "applicant_ref": "attacker"})
    try:
        result = decisions.decide_many(ledger, approver, apps, {"*": rules_of(approver)}, anchor=False)
        assert result.count == 4
    except TypeError as exc:
        crashes["decide_many (3 honest applications lost with it)"] = repr(exc)
    assert not crashes, crashes


def test_redteam_rt8b_one_recorded_input_with_a_malformed_anchor_crashes_the_whole_replay(
    ledger: Ledger, licences: list[dict[str, Any]], approver: str
) -> None:
    """The same uncaught TypeError in replay: an insider records (hash-chained, anchored) one decision whose stored
    input cites a document with ``anchor.proof: 5``; ``replay`` - the auditor's tool, meant to fail closed with a
    discrepancy per problem - dies with a traceback for the whole department instead of reporting it."""
    honest = decide(ledger, approver, application("C-RT8B", licences[10]["digest"]))
    doc = copy.deepcopy(licences[10])
    doc["anchor"]["proof"] = 5
    prepared = decisions._prepare_input("C-RT8B-X", "ITEM-1", application("C-RT8B-X", {"document": doc}))
    input_digest, row = decisions._input_row(prepared)
    decisions._store_inputs(ledger, [row])
    logchain.append(
        ledger,
        logchain.LOG_DECISIONS,
        approver,
        dict(copy.deepcopy(honest.body), case_id="C-RT8B-X", input_digest=input_digest),
    )
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, approver)
    try:
        report = replay(ledger, department=approver)
    except TypeError as exc:
        pytest.fail(f"replay crashed instead of reporting a discrepancy: {exc!r}")
    assert not report.ok


# -- RT-9: decisions dated while the department was not an approver ---------------------------------------------


def test_redteam_rt9_decision_dated_during_a_suspension_is_accepted_once_reinstated(
    ledger: Ledger, approver: str
) -> None:
    """The approver role is enforced when a range is anchored, never at the moment a decision says it was made.
    The council suspends a department (e.g. its decisions are under investigation); meanwhile decisions are
    written into its log (an insider with database access, or a decide_many run that started before the
    suspension - it checks the role once, up front). They cannot be anchored during the suspension, but the
    anchoring job sends them as soon as the department is reinstated, and replay and the decision bundle verifiers
    then accept decisions dated inside the suspension window as decisions of an approver."""
    from datetime import UTC, datetime

    from ledger.services.departments import Council

    template = decide(ledger, approver, application("C-RT9-T"))
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, approver)
    council = Council(ledger)
    council.suspend(approver)
    suspended_from = ledger.chain.block_number()
    prepared = decisions._prepare_input("C-RT9", "ITEM-1", application("C-RT9"))
    input_digest, row = decisions._input_row(prepared)
    decisions._store_inputs(ledger, [row])
    result = evaluate(rules_of(approver), prepared)
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    body = dict(
        copy.deepcopy(template.body),
        case_id="C-RT9",
        input_digest=input_digest,
        decided_at=now,
        outcome=result.outcome,
        reasons=list(result.reasons),
        fired=list(result.fired),
        certificates=[],
    )
    entry = logchain.append(ledger, logchain.LOG_DECISIONS, approver, body)  # made while suspended
    council.reinstate(approver)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, approver)
    assert ledger.chain.block_number() > suspended_from
    report = replay(ledger, department=approver)
    bundle = evidence.decision_bundle(ledger, approver, "C-RT9")
    verdicts = {"replay_ok": report.ok, "bundle_ok": evidence.verify_bundle(bundle, ledger.chain).ok}
    # Expected: a decision dated while its department was suspended is reported (replay) and refused (bundle).
    assert verdicts == {"replay_ok": False, "bundle_ok": False}, (entry.seq, verdicts)


# -- RT-10: a certificate anchored after the decision makes replay flag an honest engine --------------------------


def test_redteam_rt10_certificate_anchored_after_the_decision_flags_an_honest_decision(
    ledger: Ledger, approver: str
) -> None:
    """An application cites a document whose batch its issuer anchors only after the decision (a hostile issuer
    framing an approver, or a document handed out of a prepared batch). The engine correctly records it not
    verified (anchored failed, validity skipped: expired None). Replay re-establishes the fact at today's head,
    downgrades it to "not anchored by the block" but keeps the *re-computed* expired=False, so it reports
    certificate_facts against the honest decision."""
    from ledger.formats.canonical import hex32
    from ledger.formats.certificate import validate_record

    records = [validate_record(r, i) for i, r in enumerate(make_records(2), 1)]
    built = issuance.build_batch(ledger, records, "MKT")
    issuance.store_prepared(ledger, built)
    anchor = {
        "chain_id": ledger.chain.chain_id,
        "contract": ledger.chain.deployment.anchor,
        "root": hex32(built.root),
        "department": "MKT",
        "signature": "0x" + built.signature.hex(),
    }
    doc = issuance.document_json(built.fields[0], built.salts[0], anchor, built.tree.proof(0))
    decision = decide(ledger, approver, application("C-RT10", {"document": doc}))
    assert decision.body["certificates"][0]["verified"] is False
    issuance.confirm(ledger, built.root, timeout=60)  # the issuer anchors afterwards
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, approver)
    report = replay(ledger, department=approver)
    assert report.ok, "replay flags an honest decision: " + report.summary()


# -- RT-11: applicant text copied into the decision record -------------------------------------------------------


def test_redteam_rt11_a_citation_string_lands_verbatim_in_the_decision_record(ledger: Ledger, approver: str) -> None:
    """docs/decisions.md: the decision body "carries digests and results, never plain personal data". A citation
    that is any string (or {"digest": any string}) is recorded as the fact's ``digest`` verbatim (lower-cased): an
    applicant's name and ID number - or a megabyte of text - end up in the hash-chained decision log that cannot
    be edited, and in every decision bundle handed to a court."""
    personal = "li na, id 440300198001011234, 12 harbour road"
    decision = decide(ledger, approver, application("C-RT11", personal, {"digest": "x" * 5000}))
    recorded = [f["digest"] for f in decision.body["certificates"]]
    assert all(d is None or (isinstance(d, str) and len(d) == 66 and d.startswith("0x")) for d in recorded), recorded[0]


# -- RT-12: a rule set published after the decision moment ----------------------------------------------------


def test_redteam_rt12_rule_set_published_after_the_decision_moment_is_accepted(
    ledger: Ledger, licences: list[dict[str, Any]], approver: str
) -> None:
    """Rules must be published before any decision may use them; replay only checks publication against the block
    that *anchored* the decision, not against the decision's own moment (decided_at / its facts block). A decision
    recorded with a rule set that did not exist on chain when it was made - rules written afterwards to fit the
    outcome - is accepted as long as the rule set is published before the next anchoring run."""
    honest = decide(ledger, approver, application("C-RT12", licences[9]["digest"]))
    facts_block = honest.body["certificates"][0]["as_of_block"]
    later_rules = unique_rule_set(f"rt-later-{approver}")
    body = dict(copy.deepcopy(honest.body), case_id="C-RT12-B", rule_set=later_rules.hex_digest)
    entry = logchain.append(ledger, logchain.LOG_DECISIONS, approver, body)
    ledger.chain.w3.provider.make_request("evm_mine", [])
    published = decisions.publish_rule_set(ledger, later_rules, approver)  # only now
    assert published["block_number"] > facts_block
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, approver)
    report = replay(ledger, department=approver)
    assert checks_of(report).get("rule_set_unpublished") == [entry.seq], (
        "replay accepts a rule set published after the decision was made: " + report.summary()
    )


# -- RT-13: unanchored decisions pass replay -----------------------------------------------------------------------


def test_redteam_rt13_a_decision_that_can_never_be_anchored_passes_replay(
    ledger: Ledger, licences: list[dict[str, Any]], approver: str
) -> None:
    """The council removes a department's approver role between a decision and its anchoring (or an insider
    appends decisions at the tail of the log and stops the anchoring job). The chain refuses the range
    (LogUnauthorized) so the decision stays pending forever, yet replay reports it re-run and "OK: no discrepancies -
    every record matches its anchor": entries after the last anchored range are neither reported nor counted
    apart, so an auditor cannot tell tamper-evident decisions from ones only the database vouches for."""
    from ledger.errors import ChainError
    from ledger.onchain.chain import ROLE_ISSUER, ROLE_VERIFIER
    from ledger.services.departments import Council

    decide(ledger, approver, application("C-RT13", licences[11]["digest"]))
    Council(ledger).set_roles(approver, ROLE_ISSUER | ROLE_VERIFIER)
    with pytest.raises(ChainError, match="LogUnauthorized"):
        logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, approver)
    report = replay(ledger, department=approver)
    assert not report.ok, "replay calls an unanchorable decision OK: " + report.summary()


# -- RT-6: a backdated decision ----------------------------------------------------------------------------------


def test_redteam_rt6_backdated_decision_on_a_revoked_licence_is_reported(
    ledger: Ledger, licences: list[dict[str, Any]], approver: str
) -> None:
    """An approver (or an insider writing its decision log) approves an application after the licence it cites was
    revoked by writing decided_at = a moment before the revocation and as_of_block = the head of that moment, then
    anchors it. The block was the head at decided_at, so only the gap between decided_at and the anchoring betrays
    it: replay reports decisions anchored later than the department's deadline after their time (anchored_late;
    default 15 minutes, here a strict 1 s, so the test moves the chain's clock by 3 s only)."""
    from datetime import UTC, datetime

    from ledger.client import Ledger as LedgerClass
    from ledger.services.facts import CertificateFact, facts_view

    from .conftest import PASSPHRASE

    template = decide(ledger, approver, application("C-RT6-T", licences[6]["digest"]))  # an honest decision
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, approver)
    cert = licences[5]
    chain = ledger.chain
    before = chain.block_number()
    before_time = int(chain.w3.eth.get_block(before)["timestamp"])
    chain.w3.provider.make_request("evm_increaseTime", [3])  # a few seconds later (well within the clock skew)
    status.revoke(ledger, cert["digest"], "fraud")  # in a later block
    assert int(chain.w3.eth.get_block(chain.block_number())["timestamp"]) >= before_time + 3

    prepared = decisions._prepare_input("C-RT6", "ITEM-1", application("C-RT6", cert["digest"]))
    input_digest, row = decisions._input_row(prepared)
    decisions._store_inputs(ledger, [row])
    fact = CertificateFact(
        cert["digest"], "MKT", cert["anchor"]["root"], "business-licence", True, "valid", False, before, (), holder=True
    )
    result = evaluate(rules_of(approver), facts_view(prepared, [fact]))
    assert result.outcome == "approve"
    decided_at = datetime.fromtimestamp(before_time, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    body = dict(
        copy.deepcopy(template.body),
        case_id="C-RT6",
        input_digest=input_digest,
        certificates=[fact.to_json()],
        outcome=result.outcome,
        reasons=list(result.reasons),
        fired=list(result.fired),
        decided_at=decided_at,
        as_of_block=before,
    )
    entry = logchain.append(ledger, logchain.LOG_DECISIONS, approver, body)  # recorded after the revocation
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, approver)  # and anchored after it
    strict = LedgerClass(
        settings=ledger.settings.with_(anchor_deadline_seconds=1),
        chain=ledger.chain,
        engine=ledger.engine,
        keystore=ledger.keystore,
        passphrase=PASSPHRASE,
    )
    report = replay(strict, department=approver)
    # Expected: a decision appended and anchored after the revocation cannot pass for one taken before it.
    assert entry.seq in checks_of(report).get("anchored_late", []), (
        "replay accepts an approval backdated to before the revocation: " + report.summary()
    )
