"""Red team, round 55: typebind (certificate format pl-cert/2, CertificateAnchor 4.0.0), a certificate's digest
committing to its type.

1. Held (holder): a genuine certificate's document whose ``type`` member is edited to a Unicode lookalike, a
   normalisation variant, a name with a NUL, a very long name, or a non-string, or hidden (selective disclosure):
   its digest, which commits to the type, is no longer the anchored leaf (or cannot be computed, for a hidden or
   non-text type), and the library, the gateway (its Python and native paths) and both bundle verifiers (the
   library's and the court's independent one, with its own keccak) refuse it, agreeing on which checks fail.
2. Held (insider with database access): before ``ledger supersede``, a certificate's sealed body swapped for
   another certificate's of the department (of another type, or of the same), or replaced by the erasure marker:
   ``status.supersede`` refuses with a StateError naming what to do, and nothing is sent to the chain.
3. Found (an applicant citing a copy of someone's certificate, or the department wanting a holder's fields kept):
   a copy cited inline with its ``type`` hidden is stored sealed (it holds the holder's disclosed fields), labelled
   with the digest the ledger computes from it so that the certificate's erasure destroys it; since pl-cert/2 no
   digest can be computed without the type, so the copy was labelled ``""`` and survived the erasure, readable
   with the vault key (under pl-cert/1 its digest did not need the type). Fixed: such a copy is labelled by its
   fields digest under the store's batch types (``decisions.label_typeless``).
4. Held (applicant): a decision citing a copy with its type hidden gets one verdict from the library's and the
   court's bundle verifiers.
5. Found (anonymous gateway client): documents with long made-up types filled the type-hash cache, bounded by count
   only, with their names (up to 512 MiB). Fixed: only names a type can have are kept.
6. Held (department with its key): a revocation or suspension through a copy anchored as another type is the
   certificate's own in every verifier, and names no successor (the round 52 row's claim).
"""

from __future__ import annotations

import copy
import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from api import services
from ledger.client import Ledger
from ledger.errors import StateError
from ledger.formats import vc
from ledger.formats.canonical import field_hash, parse_hex32
from ledger.formats.reasons import REASONS
from ledger.onchain.chainread import Finality
from ledger.services import decisions, erasure, evidence, logchain, status
from ledger.services.replay import replay
from ledger.services.verify import ChainView, verify_certificate
from ledger.storage.models import Certificate, CitedDocument
from ledger.storage.vault import ERASED

from .api_support import Clock, make_client
from .conftest import make_records
from .decision_support import application, unique_rule_set
from .evidence_support import both
from .foundation_support import issue, reanchored, verify
from .insider_support import insider_edit

LICENCE, BIRTH = "business-licence", "birth-certificate"

# what a holder edits the type to: a Cyrillic dze for the s (a lookalike), the decomposed form of an accented
# name (another normalisation of "the same" text), a NUL and what follows it (a C reader stops at it), a name past
# keccak's 136-byte block (the court's own keccak absorbs it in two), and the type of another certificate
EDITED_TYPES = (
    "bu\u0455iness-licence",
    unicodedata.normalize("NFD", "business-licence-\u00e9"),
    "business-licence\x00birth-certificate",
    "business-licence-" + "x" * 200,
    BIRTH,
)


def _failed(report: Any) -> set[str]:
    return {c.name for c in report.failed}


def _retyped(document: dict[str, Any], new_type: Any) -> dict[str, Any]:
    edited = copy.deepcopy(document)
    edited["fields"]["type"] = new_type
    return edited


def _final(ledger: Ledger) -> None:
    for _ in range(Finality(ledger.settings.confirmations).reorg_depth + 2):  # a long-lived view keeps the batch
        ledger.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[attr-defined]


def test_a_document_whose_type_is_edited_or_hidden_verifies_in_no_verifier(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: the holder of a business licence, editing its ``type`` member (a lookalike, another Unicode
    normalisation, a NUL, a name past one keccak block, another type, a number) or hiding it, so that the document
    reads as a certificate of another type. Held: the digest commits to the type (pl-cert/2), so the edited document's
    digest is no leaf of its batch, and a hidden or non-text type gives no digest at all: the library, the gateway's
    Python path and its native answer, and both bundle verifiers refuse every variant, the last two agreeing."""
    (document,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    _final(ledger)
    view = ChainView(ledger.chain, ledger.settings.confirmations, max_head_age=3600.0)
    view.refresh()
    for _ in range(2):  # the second time the batch's checks are kept: the native path answers the genuine document
        assert verify_certificate(document, view).ok
    genuine = services.fast_public_bytes(view, document)
    assert genuine is not None and json.loads(genuine)["verified"] is True, genuine  # the native path is the one met
    client = make_client(ledger, Clock())
    hidden = copy.deepcopy(document)
    salt = bytes.fromhex(hidden["salts"].pop("type"))
    hidden.setdefault("hidden", {})["type"] = "0x" + field_hash("type", hidden["fields"].pop("type"), salt).hex()
    variants = [_retyped(document, t) for t in (*EDITED_TYPES, 7)] + [hidden]
    for edited in variants:
        shown = repr(edited["fields"].get("type"))
        report = verify(ledger, edited)
        assert not report.ok and "integrity" in _failed(report), (shown, report.to_json())
        assert not verify_certificate(edited, view).ok, shown
        native = services.fast_public_bytes(view, edited)
        assert native is None or json.loads(native)["verified"] is False, (shown, native)
        answer = client.post("/public/verify", json={"document": edited})
        assert answer.status_code in (200, 422), (shown, answer.text)
        assert answer.status_code == 422 or answer.json()["verified"] is False, (shown, answer.json())
    assert "disclosure" in _failed(verify(ledger, hidden))  # the holder is told which field to disclose
    bundle = evidence.certificate_bundle(ledger, document)
    for new_type in EDITED_TYPES:
        edited = copy.deepcopy(bundle)
        cert = edited["certificate"]
        cert["fields"]["type"] = new_type
        cert["field_hashes"]["type"] = field_hash("type", new_type, bytes.fromhex(cert["salts"]["type"])).hex()
        report, code, _ = both(ledger, edited, tmp_path, "retyped.json")  # asserts the two verifiers agree
        assert not report.ok and code != 0 and "digest" in _failed(report), (repr(new_type), report.to_json())
    hidden_bundle = copy.deepcopy(bundle)
    cert = hidden_bundle["certificate"]
    del cert["fields"]["type"], cert["salts"]["type"]
    cert["hidden"]["type"] = cert["field_hashes"]["type"]
    report, code, _ = both(ledger, hidden_bundle, tmp_path, "hidden.json")
    assert {"digest", "disclosure"} <= _failed(report) and code != 0, report.to_json()


def test_an_insiders_edit_of_a_sealed_body_before_a_supersession_is_refused_and_nothing_is_sent(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an insider with database access, before a clerk's ``ledger supersede`` of a licence by another:
    swaps the licence's sealed body for a birth certificate's of the department (or the other licence's, so that
    both sides agree on their type), or replaces it by the erasure marker. ``status.supersede`` reads each side's
    type and fields digest from its sealed body (pl-cert/2: what the contract computes the digest from), so the
    edit must not make it send a supersession the store's rows do not support. Held: StateError naming what was
    wrong and what to do, and the licence stays valid on chain."""
    dept = fresh_department
    licence, successor = issue(ledger, tmp_path, dept, make_records(2))
    (birth,) = issue(ledger, tmp_path, dept, make_records(1, cert_type=BIRTH))

    def sealed_of(digest: str) -> bytes:
        with ledger.engine.connect() as conn:
            return bytes(conn.execute(select(col(Certificate.sealed)).where(Certificate.digest == digest)).scalar_one())

    edits = {
        "a birth certificate's body": sealed_of(birth["digest"]),
        "the successor's body": sealed_of(successor["digest"]),
    }
    for what, body in edits.items():
        swapped = insider_edit(ledger, Certificate, Certificate.digest, licence["digest"], sealed=body)
        with swapped, pytest.raises(StateError, match=r"does not open.*ledger reconcile") as refused:
            status.supersede(ledger, licence["digest"], successor["digest"], dept)
        assert licence["digest"] in str(refused.value), what
    erased = insider_edit(ledger, Certificate, Certificate.digest, licence["digest"], sealed=ERASED)
    with erased, pytest.raises(StateError, match=r"erased.*revoke the certificate instead"):
        status.supersede(ledger, licence["digest"], successor["digest"], dept)
    report = verify(ledger, licence)
    assert report.ok and report.facts["status"] == "valid" and "superseded_by" not in report.facts, report.to_json()


def _type_hidden(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with its ``type`` hidden: the field's hash in ``hidden``, its value and salt gone."""
    hidden = copy.deepcopy(document)
    salt = bytes.fromhex(hidden["salts"].pop("type"))
    hidden.setdefault("hidden", {})["type"] = "0x" + field_hash("type", hidden["fields"].pop("type"), salt).hex()
    return hidden


def test_a_copy_cited_with_its_type_hidden_does_not_survive_the_certificates_erasure(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an applicant citing a copy of a person's certificate with its ``type`` hidden (or a department
    wanting that person's fields kept past an erasure). The copy, holding the person's disclosed fields, is stored
    sealed with the vault key, and the certificate's erasure destroys the copies labelled with its digest; since
    pl-cert/2 a copy's digest needs its type, so this one was labelled ``""`` and outlived the erasure, its fields
    readable with the vault key. After the erasure, no stored copy of the certificate opens."""
    (document,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    rules = unique_rule_set(f"rt55-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    credential = vc.to_credential(document)  # the wallet's copy, its claims' type hidden the same way
    hidden_claims = _type_hidden({"fields": credential["credentialSubject"]["claims"], **credential["proof"]})
    credential["credentialSubject"]["claims"] = hidden_claims["fields"]
    credential["proof"] = {**credential["proof"], "salts": hidden_claims["salts"], "hidden": hidden_claims["hidden"]}
    copies = [_type_hidden(document), credential]
    assert [decisions.cited_certificate_digest(c) for c in copies] == ["", ""]  # no digest without the type
    app = application("C-RT55-HIDDEN", *({"document": c} for c in copies))
    holder = document["fields"]["subject.credit_code"]
    decided = decisions.decide(
        ledger, fresh_department, "C-RT55-HIDDEN", app["service_item"], app, rules, applicant_ref=holder
    )
    assert [f["verified"] for f in decided.body["certificates"]] == [False, False]  # refused, and still stored
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    assert replay(ledger, department=fresh_department).ok
    with ledger.engine.connect() as conn:
        labelled = (
            conn.execute(select(col(CitedDocument.ref)).where(col(CitedDocument.digest) == document["digest"]))
            .scalars()
            .all()
        )
    assert len(labelled) == 2  # both copies carry their certificate's digest, found by their fields digest
    with ledger.engine.begin() as conn:  # one as a database upgraded from before copies were labelled has it
        conn.execute(update(CitedDocument).where(col(CitedDocument.ref) == labelled[0]).values(digest=None))
    done = erasure.erase(ledger, document["digest"], basis="objection", by="officer-55")  # labels it, then erases
    with ledger.engine.connect() as conn:
        refs = conn.execute(select(col(CitedDocument.ref))).scalars().all()
    readable = decisions.load_cited_documents(ledger, list(refs))
    left = [ref for ref, kept in readable.items() if json.dumps(kept).find(json.dumps(document["fields"]["id"])) >= 0]
    assert not left, f"the copy with its type hidden survived the erasure ({done['cited_copies_erased']} erased)"
    assert done["cited_copies_erased"] == 2
    after = replay(ledger, department=fresh_department)  # the honest decision does not look tampered for it
    assert after.ok, after.summary()


def test_a_decision_citing_a_copy_with_its_type_hidden_gets_one_verdict_from_both_bundle_verifiers(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an applicant citing a genuine certificate with its ``type`` hidden, hoping that the library's
    replay and the court's independent re-run establish different facts of it (pl-cert/2: no digest can be computed
    without the type; the library labels the fact from the verification report, the court from its own hashing).
    Held: the decision records the citation unverified, with no digest and no type, and its evidence bundle passes
    in the library and in the court's verifier alike (``both`` asserts they agree)."""
    (document,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    rules = unique_rule_set(f"rt55b-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    holder = document["fields"]["subject.credit_code"]
    app = application("C-RT55-BUNDLE", {"document": _type_hidden(document)}, {"document": document})
    decided = decisions.decide(
        ledger, fresh_department, "C-RT55-BUNDLE", app["service_item"], app, rules, applicant_ref=holder
    )
    hidden_fact, whole_fact = decided.body["certificates"]
    assert hidden_fact["verified"] is False and hidden_fact["type"] is None, hidden_fact
    assert hidden_fact["digest"] in (None, ""), hidden_fact  # no digest is computed without the type
    assert whole_fact["verified"] is True and whole_fact["digest"] == document["digest"], whole_fact
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    bundle = evidence.decision_bundle(ledger, fresh_department, "C-RT55-BUNDLE", applicant=holder)
    report, code, _ = both(ledger, bundle, tmp_path, "decision.json")
    assert report.ok and code == 0, report.to_json()


def test_anonymous_documents_with_long_made_up_types_leave_no_memory_behind(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an anonymous client of ``POST /public/verify`` (from many addresses: the rate limits are per
    client) sending documents each with another made-up ``type`` of 128 Ki characters (the longest JSON string the
    gateway reads). Every digest commits to the type (pl-cert/2), and the type's keccak256 was kept in a cache of
    4,096 names bounded by count only, so the names themselves stayed: up to 512 MiB of a gateway's memory. Held
    now: only a name that can be a certificate type (the registry's: 1-64 of a-z, 0-9 and '-') is kept; the
    answers are unchanged."""
    import gc
    import tracemalloc

    (document,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    client = make_client(ledger, Clock())
    assert client.post("/public/verify", json={"document": document}).json()["verified"] is True
    sent, size = 40, 120_000  # a JSON string of the gateway holds at most 131,072 characters
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(sent):
            made_up = f"{i:04d}-" + "x" * size
            answer = client.post("/public/verify", json={"document": _retyped(document, made_up)})
            assert answer.status_code == 200 and answer.json()["verified"] is False, answer.text[:300]
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < sent * size // 4, f"{kept:,} bytes kept after {sent} documents of {size:,}-character types"
    assert client.post("/public/verify", json={"document": document}).json()["verified"] is True


@pytest.mark.parametrize("change", ["revoke", "suspend"])
def test_a_status_change_through_a_copy_anchored_as_another_type_is_the_certificates_own_in_every_verifier(
    ledger: Ledger, fresh_department: str, tmp_path: Path, change: str
) -> None:
    """Adversary: a department calling the contract directly, with its own key: it anchors one of its birth
    certificates' digest again in a batch it declares "business-licence" and revokes (or suspends) it there. The
    round 52 row claims such a change is the birth certificate's own, of its own type (its digest commits to it
    since pl-cert/2), as one through its own batch would be, and states nothing across types. Checked in every
    verifier: the birth certificate's document (library, the gateway's Python path and native answer) and its
    evidence bundle (library and court, agreeing) all report it revoked (or suspended) with the reason given, none
    names a successor, and the department's licences stay valid."""
    dept = fresh_department
    (licence,) = issue(ledger, tmp_path, dept, make_records(1))
    (birth,) = issue(ledger, tmp_path, dept, make_records(1, cert_type=BIRTH))
    copy_ = reanchored(ledger, dept, birth, declared=LICENCE)
    chain, account = ledger.chain, ledger.department_account(dept)
    reason = "fraud" if change == "revoke" else "under-investigation"
    function = getattr(chain.anchor.functions, change)
    proof = [parse_hex32(p) for p in copy_["anchor"]["proof"]]
    chain.transact(
        account,
        function(parse_hex32(copy_["anchor"]["root"]), parse_hex32(birth["digest"]), proof, REASONS[reason]),
    )
    expected = "revoked" if change == "revoke" else "suspended"
    _final(ledger)
    view = ChainView(ledger.chain, ledger.settings.confirmations, max_head_age=3600.0)
    view.refresh()
    client = make_client(ledger, Clock())
    for _ in range(2):  # the second time the native path may answer from what the first kept
        report = verify_certificate(birth, view)
        assert report.facts["status"] == expected and "superseded_by" not in report.facts, report.to_json()
        native = services.fast_public_bytes(view, birth)
        assert native is None or json.loads(native)["status"] == expected, native
    answer = client.post("/public/verify", json={"document": birth}).json()
    assert answer["status"] == expected and answer["verified"] is False, answer
    # a bundle states the status under the root it names (its own batch's: valid, round 42); its "status now"
    # check, in both verifiers, finds the change under the copy's root, with its reason
    bundle = evidence.certificate_bundle(ledger, birth)
    report, code, _ = both(ledger, bundle, tmp_path, f"{change}d.json")  # the library's and the court's agree
    assert _failed(report) == {"status"} and code == 1, report.to_json()
    detail = report.check("status").detail
    assert expected in detail and reason in detail and copy_["anchor"]["root"] in detail, detail
    for valid in (licence,):
        report = verify(ledger, valid)
        assert report.ok and report.facts["status"] == "valid" and "replaces" not in report.facts, report.to_json()


def test_labelling_a_copy_with_its_type_hidden_reads_the_batch_types_from_an_index_not_every_batch(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """(A store of many batches, an applicant citing copies with their type hidden) ``label_typeless`` asked for the
    store's batch types with a DISTINCT over every batch row: a scan per copy labelled, growing with every batch
    issued. The types are read by one index seek per type (``ix_batch_schema_id``); the label is the same."""
    from sqlalchemy import event

    (document,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        statements.append((statement, parameters))

    event.listen(ledger.engine, "before_cursor_execute", seen)
    try:
        assert decisions.label_typeless(ledger, _type_hidden(document)) == document["digest"]
    finally:
        event.remove(ledger.engine, "before_cursor_execute", seen)
    on_batches = [(s, p) for s, p in statements if "FROM batch" in s]
    assert on_batches, statements
    if ledger.engine.dialect.name != "sqlite":
        return  # PostgreSQL's planner scans a small table whatever its indexes: the plan is judged on SQLite
    with ledger.engine.connect() as conn:
        for statement, parameters in on_batches:
            plan = " | ".join(
                str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            )
            assert "SCAN" not in plan and "ix_batch_schema_id" in plan, (statement, plan)
