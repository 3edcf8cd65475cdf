"""Decisions against the real chain: publication gate, automatic and human records, salted applicant references."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from ledger.errors import InputError, StateError
from ledger.formats.canonical import document_digest, hex32
from ledger.formats.rules import ENGINE_VERSION, evaluate
from ledger.onchain.chain import department_id_bytes
from ledger.services import decisions, logchain
from ledger.services.decisions import DecisionInput, RuleSetRecord

from .decision_support import applications, decided_history, unique_rule_set


def test_publish_is_idempotent_and_stores_the_canonical_document(ledger: Any, fresh_department: str) -> None:
    rule_set = unique_rule_set(f"pub-{fresh_department}")
    first = decisions.publish_rule_set(ledger, rule_set, fresh_department)
    assert first["already_published"] is False and first["transaction"]
    again = decisions.publish_rule_set(ledger, rule_set, fresh_department)
    assert again["already_published"] is True and again["block_number"] == first["block_number"]
    chain = ledger.chain
    _dept, item, block, _ = chain.call(
        chain.log.functions.ruleSet(department_id_bytes(fresh_department), rule_set.digest)
    )
    assert bytes(item) == decisions.service_item_bytes("*") and block == first["block_number"]
    with ledger.engine.connect() as conn:
        text = conn.execute(
            select(RuleSetRecord.document).where(RuleSetRecord.digest == rule_set.hex_digest)
        ).scalar_one()
    assert hex32(document_digest(json.loads(text))) == rule_set.hex_digest


def test_a_second_document_under_a_published_id_and_version_is_refused(ledger: Any, fresh_department: str) -> None:
    """(An approver department's clerk who edits published rules - a title, a threshold - and publishes them again
    under the same version, by mistake or to blur which rules decided a case.) Both were published: decisions, the
    auditors' report and a court name the rules by id and version, and either document passed for the other. The
    second is refused before anything is published, saying to give it a new version; the same document again stays
    idempotent, and the changed one under a new version is published."""
    from ledger.formats.rules import load_rule_set

    rule_set = unique_rule_set(f"one-name-{fresh_department}")
    decisions.publish_rule_set(ledger, rule_set, fresh_department)
    changed = load_rule_set(rule_set.document | {"title": f"{rule_set.document['title']} (changed)"})
    assert changed.digest != rule_set.digest and changed.version == rule_set.version
    with pytest.raises(StateError, match=f"already published rule set .* version {rule_set.version} as another"):
        decisions.publish_rule_set(ledger, changed, fresh_department)
    chain = ledger.chain
    block = chain.call(chain.log.functions.ruleSet(department_id_bytes(fresh_department), changed.digest))[2]
    with ledger.engine.connect() as conn:
        stored = conn.execute(select(RuleSetRecord.digest).where(RuleSetRecord.digest == changed.hex_digest)).first()
    assert block == 0 and stored is None  # nothing published, nothing stored
    assert decisions.publish_rule_set(ledger, rule_set, fresh_department)["already_published"] is True
    renamed = load_rule_set(changed.document | {"version": f"{rule_set.version}-2"})
    assert decisions.publish_rule_set(ledger, renamed, fresh_department)["already_published"] is False


def test_a_store_already_holding_two_documents_under_one_version_is_replayed_and_reported(
    ledger: Any, fresh_department: str
) -> None:
    """(A store from before the refusal, where a department published two documents under one id and version.)
    Replay re-runs the decisions of each against its own document, and the auditors' report lists both, each
    marked with the other's digest: read, reported, never a crash."""
    from ledger.formats.rules import load_rule_set
    from ledger.services import report
    from ledger.services.replay import replay

    first = unique_rule_set(f"pair-{fresh_department}")
    second = load_rule_set(first.document | {"title": f"{first.document['title']} (changed)"})
    decisions.publish_rule_set(ledger, first, fresh_department)
    chain = ledger.chain
    receipt = chain.transact(  # the second published past the library, as before the refusal
        ledger.department_account(fresh_department),
        chain.log.functions.publishRuleSet(second.digest, decisions.service_item_bytes(second.service_item)),
    )
    decisions._store_rule_set(ledger, second, fresh_department, None, int(receipt["blockNumber"]))
    apps = applications(2, seed=11)
    for app, rules in zip(apps, (first, second), strict=True):
        identity = app.pop("applicant_ref")
        decisions.decide(
            ledger, fresh_department, app["case_id"], app["service_item"], app, rules, applicant_ref=identity
        )
    assert replay(ledger, department=fresh_department).ok
    today = datetime.now(UTC).date().isoformat()
    rows = {r["digest"]: r for r in report.build_report(ledger, fresh_department, today, today)["rule_sets"]}
    assert rows[first.hex_digest]["version_shared_with"] == [second.hex_digest], rows
    assert rows[second.hex_digest]["version_shared_with"] == [first.hex_digest], rows
    page = report.render_html(report.build_report(ledger, fresh_department, today, today), "en")
    assert second.hex_digest in page and "as another document under this version too" in page


def test_only_an_approver_may_publish(ledger: Any) -> None:
    with pytest.raises(StateError, match="approver"):
        decisions.publish_rule_set(ledger, unique_rule_set("not-approver"), "MKT")


def test_unpublished_rule_set_is_refused_at_decide_time(ledger: Any, fresh_department: str) -> None:
    rule_set = unique_rule_set(f"unpublished-{fresh_department}")
    app = applications(1)[0]
    identity = app.pop("applicant_ref")
    with pytest.raises(StateError, match="not published"):
        decisions.decide(
            ledger, fresh_department, app["case_id"], app["service_item"], app, rule_set, applicant_ref=identity
        )
    with pytest.raises(StateError, match="not published"):
        decisions.decide_many(ledger, fresh_department, applications(3), {"*": rule_set})
    with pytest.raises(Exception, match="publish"):  # an unknown digest names the way out
        decisions.decide(
            ledger, fresh_department, app["case_id"], app["service_item"], app, "0x" + "42" * 32, applicant_ref=identity
        )
    assert list(logchain.entries(ledger, logchain.LOG_DECISIONS, fresh_department)) == []


def test_automatic_decision_record(ledger: Any, fresh_department: str) -> None:
    dept = fresh_department
    rule_set = unique_rule_set(f"auto-{dept}")
    decisions.publish_rule_set(ledger, rule_set, dept)
    app = applications(5)[2]
    identity = app.pop("applicant_ref")
    # a stated moment (within the 30 s before the head a decision may state: red team round 69)
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    decision = decisions.decide(
        ledger, dept, app["case_id"], app["service_item"], app, rule_set, applicant_ref=identity, decided_at=at
    )
    body = decision.body
    # the demo application's citations carry made-up claims ("verified": true ...) about digests nobody issued:
    # the ledger establishes the facts itself, and the rules read those
    assert [(c["digest"], c["verified"], c["status"], c["failed"]) for c in body["certificates"]] == [
        (c["digest"], False, "unknown", ["not_found"]) for c in app["certificates"]
    ]
    facts = [
        {"type": None, "digest": c["digest"], "verified": False, "status": "unknown", "expired": None}
        for c in app["certificates"]
    ]
    expected = evaluate(rule_set, {**app, "certificates": facts})
    assert decision.seq == 1
    assert body["format"] == "pl-decision/2"
    assert body["outcome"] == expected.outcome and body["reasons"] == list(expected.reasons)
    assert body["rule_set"] == rule_set.hex_digest and body["engine"] == ENGINE_VERSION
    assert body["decided_by"] == {"kind": "engine", "engine": ENGINE_VERSION}
    assert body["decided_at"] == at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    # the stored input is the application plus a random nonce (so input_digest gives away no hidden field)
    # the applicant identity is never stored, only a salted, department-keyed digest
    assert identity not in json.dumps(body) and body["applicant_ref"].startswith("0x")
    assert body["applicant_ref"] == decisions.applicant_reference(ledger, dept, identity)
    assert body["applicant_ref"] != decisions.applicant_reference(ledger, "MKT", identity)
    with ledger.engine.connect() as conn:
        stored = conn.execute(
            select(DecisionInput.document).where(DecisionInput.digest == body["input_digest"])
        ).scalar_one()
    assert body["input_digest"] == hex32(document_digest(json.loads(stored)))
    nonce = json.loads(stored).pop(decisions.INPUT_NONCE)
    assert len(bytes.fromhex(nonce)) == 16
    assert {k: v for k, v in json.loads(stored).items() if k != decisions.INPUT_NONCE} == app
    assert identity not in stored
    with pytest.raises(InputError, match="applicant_ref"):
        decisions.decide(
            ledger,
            dept,
            "CASE-X",
            app["service_item"],
            {**app, "applicant_ref": identity},
            rule_set,
            applicant_ref=identity,
        )


def test_human_decision_overrides_an_automatic_one(ledger: Any, fresh_department: str) -> None:
    dept = fresh_department
    rule_set = unique_rule_set(f"human-{dept}")
    decisions.publish_rule_set(ledger, rule_set, dept)
    decisions.decide_many(ledger, dept, applications(10), {"*": rule_set})
    auto = decisions.find_decisions(ledger, dept, "CASE-000004")
    assert len(auto) == 1
    human = decisions.record_human_decision(
        ledger,
        dept,
        "CASE-000004",
        auto[0].body["service_item"],
        officer="officer-17",
        outcome="approve",
        reasons=["OFFICER_VERIFIED_ON_SITE"],
        applicant_ref=next(a["applicant_ref"] for a in applications(10) if a["case_id"] == "CASE-000004"),
        overrides="CASE-000004",
    )
    assert human.seq == 11
    assert human.body["overrides"] == {"seq": auto[0].seq, "entry_hash": auto[0].entry_hash}
    assert human.body["decided_by"]["kind"] == "officer" and "officer-17" not in json.dumps(human.body)
    assert [d.seq for d in decisions.find_decisions(ledger, dept, "CASE-000004")] == [auto[0].seq, 11]
    with pytest.raises(InputError, match="same case"):
        decisions.record_human_decision(
            ledger,
            dept,
            "CASE-000005",
            "x",
            officer="o",
            outcome="reject",
            reasons=["R"],
            applicant_ref="a",
            overrides=auto[0].seq,
        )
    with pytest.raises(InputError, match="outcome"):
        decisions.record_human_decision(
            ledger, dept, "CASE-000005", "x", officer="o", outcome="maybe", reasons=["R"], applicant_ref="a"
        )


def test_decide_many_records_anchors_and_chains(ledger: Any, fresh_department: str) -> None:
    dept = fresh_department
    decided_history(ledger, dept, n=120)
    stored = list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept))
    assert [e.seq for e in stored] == list(range(1, 121))
    assert all(e.state == "anchored" for e in stored)
    assert [json.loads(e.body)["case_id"] for e in stored] == [f"CASE-{i:06d}" for i in range(1, 121)]
    assert logchain.check_log(ledger, logchain.LOG_DECISIONS, dept) == []
