"""Issue 12, "an approval produces its result": a rule set names the certificate an approval issues (a permit); the
approval issues it at once, signed by the approving department and anchored in the same run; the link between the
decision and the permit runs both ways and replay checks it. Adversaries: an applicant presenting a permit for a
refused application, a department issuing a "permit" citing another department's decision, an insider deleting
the link row."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlmodel import col

from ledger.client import Ledger
from ledger.errors import InputError, StateError
from ledger.formats.certificate import validate_record
from ledger.onchain.chain import ROLE_APPROVER, ROLE_VERIFIER
from ledger.services import decisions, issuance, logchain, permits, provenance
from ledger.services.departments import Council
from ledger.services.replay import replay
from ledger.services.verify import ChainView, verify_certificate
from ledger.storage.models import Batch, BatchState, Certificate

from .conftest import TEST_ITEMS, TEST_TYPES, make_records, write_jsonl
from .decision_support import overtaken_after_the_check
from .permit_support import application, permit_rules


def verify_document(ledger: Ledger, document: dict[str, Any]) -> Any:
    return verify_certificate(document, ChainView(ledger.chain, 0))


@pytest.fixture(scope="module")
def licences(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = io.StringIO()
    issuance.issue_file(
        ledger, write_jsonl(tmp_path_factory.mktemp("permits") / "l.jsonl", make_records(6)), "MKT", out=out
    )
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.fixture()
def approver(ledger: Ledger, fresh_department: str) -> str:
    decisions.publish_rule_set(ledger, permit_rules(fresh_department), fresh_department)
    return fresh_department


def decide(ledger: Ledger, dept: str, case: str, licence: dict[str, Any], **kwargs: Any) -> decisions.Decision:
    app = application(case, licence, **kwargs)
    return decisions.decide(
        ledger,
        dept,
        case,
        app["service_item"],
        app,
        permit_rules(dept),
        applicant_ref=licence["fields"]["subject.credit_code"],
    )


LINK_CHECKS = {
    "issued_not_anchored",
    "issued_by_non_approval",
    "produced_not_revoked",
    "produced_link_missing",
    "produced_link_altered",
    "produced_decision_missing",
    "produced_by_other_department",
    "produced_decision_refused",
}


def checks(ledger: Ledger, dept: str) -> dict[str, list[Any]]:
    report = replay(ledger, department=dept)
    # replay feeds check_links from its own walk of the log (issue 18: the log read once); check_links reading the
    # log itself (as reconcile runs it) must find exactly the same
    walked = sorted(
        (d.check, d.seq or 0, d.case_id or "", d.detail) for d in report.discrepancies if d.check in LINK_CHECKS
    )
    alone = sorted((p.check, p.seq or 0, p.case_id or "", p.detail) for p in permits.check_links(ledger, [dept]))
    assert walked == alone
    out: dict[str, list[Any]] = {}
    for d in report.discrepancies:
        out.setdefault(d.check, []).append(d.seq)
    return out


def test_an_approval_issues_its_permit_linked_both_ways(
    ledger: Ledger, approver: str, licences: list[dict[str, Any]]
) -> None:
    decision = decide(ledger, approver, "FBP-1", licences[0])
    assert decision.body["outcome"] == "approve", decision.body
    issued = decision.body["issued"]
    assert issued["type"] == "food-business-permit" and issued["id"] == f"FBP-{approver}-FBP-1"
    (document,) = permits.documents(ledger, [issued["certificate"]])  # what the applicant is handed
    fields = document["fields"]
    assert document["digest"] == issued["certificate"] and fields["issuer"] == approver
    assert fields["subject.credit_code"] == licences[0]["fields"]["subject.credit_code"]  # the holder can cite it
    assert fields["subject.business_name"] == licences[0]["fields"]["subject.name"]  # the licence says it, not the form
    assert fields["subject.produced_by"] == {
        "department": approver,
        "case_id": "FBP-1",
        "rule_set": permit_rules(approver).hex_digest,
        "input_digest": decision.body["input_digest"],
        "decided_at": decision.body["decided_at"],
    }
    assert fields["valid_from"].startswith(decision.body["decided_at"][:10]) and fields["valid_until"] > "2030"
    assert verify_document(ledger, document).ok
    from ledger.services import logchain

    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, approver)
    assert checks(ledger, approver) == {}
    # the certificate's provenance shows the decision and rule set that produced it
    events = provenance.timeline(ledger, issued["certificate"], now=decision_time(decision))["events"]
    (produced,) = [e for e in events if e["kind"] == "produced"]
    assert (produced["department"], produced["seq"], produced["rule_set"], produced["anchored"]) == (
        approver,
        decision.seq,
        permit_rules(approver).hex_digest,
        True,
    )
    assert "case_id" not in produced  # the public view names no case


def decision_time(decision: decisions.Decision) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(decision.body["decided_at"].replace("Z", "+00:00"))


def test_a_refusal_issues_nothing(ledger: Ledger, approver: str, licences: list[dict[str, Any]]) -> None:
    decision = decide(ledger, approver, "FBP-2", licences[1], scope="cooked-food")
    assert decision.body["outcome"] == "refer" and "issued" not in decision.body


def test_an_approver_without_the_issuer_role_is_refused_before_anything_is_written(
    ledger: Ledger, licences: list[dict[str, Any]]
) -> None:
    code = f"PAO{len(licences)}-{id(licences) % 997}"
    Council(ledger).register(code, "Approver only", ROLE_APPROVER | ROLE_VERIFIER, types=TEST_TYPES, items=TEST_ITEMS)
    decisions.publish_rule_set(ledger, permit_rules(code), code)
    with pytest.raises(StateError, match="needs the issuer role too"):
        decide(ledger, code, "FBP-3", licences[2])
    from ledger.services import logchain

    assert list(logchain.entries(ledger, logchain.LOG_DECISIONS, code)) == []


def test_withdrawn_approval_revokes_its_permit(ledger: Ledger, approver: str, licences: list[dict[str, Any]]) -> None:
    """The applicant presenting a permit for an application an officer refused after all: the permit is revoked."""
    decision = decide(ledger, approver, "FBP-4", licences[3])
    digest = decision.body["issued"]["certificate"]
    override = decisions.record_human_decision(
        ledger,
        approver,
        "FBP-4",
        "440300-SCJG-0107",
        officer="officer-9",
        outcome="reject",
        reasons=["PREMISES_NOT_AS_DECLARED"],
        applicant_ref=licences[3]["fields"]["subject.credit_code"],
        overrides=decision.seq,
    )
    assert override.body["withdraws"] == [digest]
    (document,) = permits.documents(ledger, [digest])
    report = verify_document(ledger, document)
    assert not report.ok and "revoked" in json.dumps(report.to_json())
    assert "produced_not_revoked" not in checks(ledger, approver)


def test_a_permit_for_a_refused_application_is_caught(
    ledger: Ledger, approver: str, licences: list[dict[str, Any]]
) -> None:
    """The department (or an insider with its key) hands out a 'permit' for a case the rules referred."""
    refused = decide(ledger, approver, "FBP-5", licences[4], scope="cooked-food")
    record = {
        "id": "FBP-FORGED-5",
        "type": "food-business-permit",
        "subject": {
            "credit_code": licences[4]["fields"]["subject.credit_code"],
            "produced_by": {
                "department": approver,
                "case_id": "FBP-5",
                "rule_set": refused.body["rule_set"],
                "input_digest": refused.body["input_digest"],
                "decided_at": refused.body["decided_at"],
            },
        },
    }
    issuance.issue_records(ledger, [validate_record(record, 1, department=approver)], approver)
    assert "produced_decision_refused" in checks(ledger, approver)


def test_a_permit_citing_another_departments_decision_is_caught(
    ledger: Ledger, approver: str, fresh_department: str, licences: list[dict[str, Any]]
) -> None:
    granted = decide(ledger, approver, "FBP-6", licences[5])
    impostor = f"IMP-{approver}"[:12]
    from ledger.onchain.chain import ROLE_ISSUER

    Council(ledger).register(impostor, "Impostor", ROLE_ISSUER | ROLE_APPROVER, types=TEST_TYPES, items=TEST_ITEMS)
    # (the approver's rule set, stored when it was published, makes the permit type known to replay; the impostor
    # cannot publish it as its own: a rule set is its publisher's)
    claim = {
        "department": approver,
        "case_id": "FBP-6",
        "rule_set": granted.body["rule_set"],
        "input_digest": granted.body["input_digest"],
        "decided_at": granted.body["decided_at"],
    }
    record = {
        "id": "FBP-IMP-6",
        "type": "food-business-permit",
        "subject": {"credit_code": licences[5]["fields"]["subject.credit_code"], "produced_by": claim},
    }
    issuance.issue_records(ledger, [validate_record(record, 1, department=impostor)], impostor)
    assert "produced_by_other_department" in checks(ledger, impostor)
    assert checks(ledger, approver).keys() <= {"anchoring_overdue"}


def test_an_insider_deleting_the_link_row_is_caught(
    ledger: Ledger, approver: str, licences: list[dict[str, Any]]
) -> None:
    decision = decide(ledger, approver, "FBP-7", licences[0])
    digest = decision.body["issued"]["certificate"]
    with ledger.engine.begin() as conn:
        conn.execute(delete(permits.ProducedCertificate).where(permits.ProducedCertificate.digest == digest))
    assert checks(ledger, approver).get("produced_link_missing") == [decision.seq]
    from ledger.services.reconcile import reconcile

    assert "produced_link_missing" in {d.kind for d in reconcile(ledger, departments=[approver]).divergences}
    # provenance still finds the decision through the anchored decision log itself, and says the index is off
    (produced,) = [
        e for e in provenance.timeline(ledger, digest, now=decision_time(decision))["events"] if e["kind"] == "produced"
    ]
    assert produced["seq"] == decision.seq and produced["index_row_ok"] is False


def test_a_decision_naming_a_permit_that_was_never_anchored_is_caught(
    ledger: Ledger, approver: str, licences: list[dict[str, Any]]
) -> None:
    decision = decide(ledger, approver, "FBP-8", licences[1])
    digest = decision.body["issued"]["certificate"]
    from ledger.storage.store import Batch, Certificate

    with ledger.engine.begin() as conn:  # an insider makes the permit's batch look never anchored
        root = conn.execute(select(Certificate.batch_root).where(Certificate.digest == digest)).scalar_one()
        conn.execute(update(Batch).where(Batch.root == root).values(state="prepared"))
    assert checks(ledger, approver).get("issued_not_anchored") == [decision.seq]


def test_bulk_decisions_issue_and_anchor_permits(ledger: Ledger, approver: str, licences: list[dict[str, Any]]) -> None:
    apps = [
        {
            **application(f"BULK-{i}", licences[i], scope="prepackaged-food-sales" if i % 2 else "cooked-food"),
            "applicant_ref": licences[i]["fields"]["subject.credit_code"],
        }
        for i in range(4)
    ]
    result = decisions.decide_many(ledger, approver, apps, {"440300-SCJG-0107": permit_rules(approver)})
    assert result.outcomes["approve"] == 2 and len(result.produced) == 2
    documents = permits.documents(ledger, result.produced)
    assert [d["fields"]["subject.produced_by"]["case_id"] for d in documents] == ["BULK-1", "BULK-3"]
    assert all(verify_document(ledger, d).ok for d in documents)
    assert checks(ledger, approver) == {}


def test_a_bad_produces_section_is_refused_clearly() -> None:
    with pytest.raises(InputError, match=r"produces\.holder"):
        permit_rules("bad", produces={"type": "x", "valid_days": 10, "holder": "name", "fields": {"a": "case_id"}})
    with pytest.raises(InputError, match="not a decision input path"):
        permit_rules(
            "bad", produces={"type": "x", "valid_days": 10, "holder": "credit_code", "fields": {"a": "secret.key"}}
        )


def test_cli_decide_delivers_permits_and_names_their_decision(
    ledger: Ledger, approver: str, tmp_path: Path, licences: list[dict[str, Any]]
) -> None:
    from .cli_support import run_cli

    rules_file = tmp_path / "permit.json"
    rules_file.write_text(json.dumps(permit_rules(approver).document), encoding="utf-8")
    apps = write_jsonl(
        tmp_path / "apps.jsonl",
        [
            {**application(f"CLI-{i}", licences[i]), "applicant_ref": licences[i]["fields"]["subject.credit_code"]}
            for i in range(2)
        ],
    )
    out = tmp_path / "permits.jsonl"
    done = run_cli(
        ledger, "decide", str(apps), "-d", approver, "--rules", str(rules_file), "--certificates-out", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["certificates_issued"] == 2
    documents = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [d["fields"]["subject.produced_by"]["case_id"] for d in documents] == ["CLI-0", "CLI-1"]
    shown = run_cli(ledger, "produced-by", documents[0]["digest"])
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["case_id"] == "CLI-0" and json.loads(shown.stdout)["anchored"] is True
    presented = tmp_path / "presented.json"
    presented.write_text(json.dumps({**documents[1], "digest": documents[0]["digest"]}), encoding="utf-8")
    by_file = run_cli(ledger, "produced-by", str(presented))  # the digest is recomputed, not taken from the file
    assert by_file.returncode == 0 and json.loads(by_file.stdout)["case_id"] == "CLI-1", by_file.stderr
    nobody = run_cli(ledger, "produced-by", licences[0]["digest"])
    assert nobody.returncode == 1 and "no decision" in nobody.stderr
    bad = run_cli(ledger, "produced-by", "0x1234")
    assert bad.returncode != 0 and "digest" in bad.stderr


def test_an_officer_approving_a_referred_case_issues_the_permit(
    ledger: Ledger, approver: str, licences: list[dict[str, Any]]
) -> None:
    referred = decide(ledger, approver, "FBP-9", licences[2], scope="cooked-food")
    assert "issued" not in referred.body
    app = application("FBP-9", licences[2], scope="cooked-food")
    approval = decisions.record_human_decision(
        ledger,
        approver,
        "FBP-9",
        app["service_item"],
        officer="officer-3",
        outcome="approve",
        reasons=["ONSITE_CHECK_PASSED"],
        applicant_ref=licences[2]["fields"]["subject.credit_code"],
        overrides=referred.seq,
        decision_input=app,
        rule_set=permit_rules(approver),
    )
    digest = approval.body["issued"]["certificate"]
    (document,) = permits.documents(ledger, [digest])
    assert document["fields"]["subject.business_scope"] == "cooked-food"
    assert verify_document(ledger, document).ok
    assert permits.produced_by(ledger, digest)["seq"] == approval.seq
    assert checks(ledger, approver).keys() <= {"anchoring_overdue"}


def test_a_withdrawal_whose_revocation_never_happened_is_caught(
    ledger: Ledger, approver: str, licences: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between recording the withdrawing override and revoking the permit: replay says so until revoked."""
    decision = decide(ledger, approver, "FBP-10", licences[4])
    digest = decision.body["issued"]["certificate"]
    revoke = permits.withdraw
    monkeypatch.setattr(permits, "withdraw", lambda *args, **kwargs: [])  # the process dies before revoking
    override = decisions.record_human_decision(
        ledger,
        approver,
        "FBP-10",
        "440300-SCJG-0107",
        officer="officer-9",
        outcome="refer",
        reasons=["PREMISES_UNDER_REVIEW"],
        applicant_ref=licences[4]["fields"]["subject.credit_code"],
        overrides=decision.seq,
    )
    assert override.body["withdraws"] == [digest]
    assert checks(ledger, approver).get("produced_not_revoked") == [decision.seq]
    revoke(ledger, approver, [digest], override.seq)  # what the error message tells the operator to do
    assert "produced_not_revoked" not in checks(ledger, approver)


def test_a_permit_whose_decision_was_deleted_is_caught(
    ledger: Ledger, approver: str, licences: list[dict[str, Any]]
) -> None:
    """An insider deletes the approval that issued a permit (say, to hide who approved it)."""
    from ledger.services import logchain

    decision = decide(ledger, approver, "FBP-11", licences[5])
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, approver)
    with ledger.engine.begin() as conn:
        conn.execute(
            delete(logchain.LogEntry).where(
                logchain.LogEntry.log == logchain.LOG_DECISIONS,
                logchain.LogEntry.department_id == approver,
                logchain.LogEntry.seq == decision.seq,
            )
        )
    found = checks(ledger, approver)
    assert "produced_decision_missing" in found and "missing" in found


def test_link_checks_fed_by_replays_walk_match_a_reading_of_the_log_across_chunks_and_with_workers(
    ledger: Ledger, approver: str, licences: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18: replay gathers what check_links needs while it walks the log (no second read). An insider edits an
    issuing approval into a refusal in one chunk and deletes another's link row in the next, and writes a body that
    is not JSON: the walk-fed checks, with and without a worker, name what a separate reading of the log names."""
    from sqlalchemy import text

    from ledger.services import logchain
    from ledger.services import replay as replay_module

    made = [decide(ledger, approver, f"FBP-W{i}", licences[i % len(licences)]) for i in range(5)]
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, approver)
    issuing = [d for d in made if "issued" in d.body]
    assert len(issuing) >= 3
    first, second, third = issuing[:3]
    body = {**first.body, "outcome": "refer"}
    with ledger.engine.begin() as conn:
        conn.execute(
            text("UPDATE logentry SET body=:b WHERE log=:l AND department_id=:d AND seq=:s"),
            {"b": logchain.canonical_body(body).decode(), "l": logchain.LOG_DECISIONS, "d": approver, "s": first.seq},
        )
        conn.execute(
            delete(permits.ProducedCertificate).where(
                permits.ProducedCertificate.digest == second.body["issued"]["certificate"]
            )
        )
        conn.execute(
            text("UPDATE logentry SET body='{not json' WHERE log=:l AND department_id=:d AND seq=:s"),
            {"l": logchain.LOG_DECISIONS, "d": approver, "s": third.seq},
        )
    monkeypatch.setattr(replay_module, "_CHUNK", 2)  # the decisions span several chunks
    alone = sorted((p.check, p.seq or 0, p.detail) for p in permits.check_links(ledger, [approver]))
    assert {c for c, _, _ in alone} >= {"issued_by_non_approval", "produced_link_missing"}
    found = []
    # in one process; with a worker beside it; every chunk in the worker (what check_links reads merged in log order)
    for workers, here_when_busy in ((0, True), (1, True), (1, False)):
        monkeypatch.setattr(replay_module, "_RUN_HERE_WHEN_BUSY", here_when_busy)
        report = replay(ledger, department=approver, workers=workers)
        walked = sorted((d.check, d.seq or 0, d.detail) for d in report.discrepancies if d.check in LINK_CHECKS)
        assert walked == alone, workers
        assert {"altered", "body_invalid"} <= set(report.counts_by_check())
        found.append([d.to_json() for d in report.discrepancies])
    assert found[1] == found[0] and found[2] == found[0]


def test_two_gateways_deciding_one_case_at_once_record_one_decision_and_one_permit(
    ledger: Ledger, approver: str, licences: list[dict[str, Any]]
) -> None:
    """Adversary: an applicant (or a client retrying) sending the same application to two replicas of the gateway at
    the same instant, each with its own ledger object and database connections. Both found the case undecided
    (each process serialises only its own requests), so both recorded an approval and both issued a permit: two
    permits for one case. The race is made certain here: the second replica decides the case right after the first
    has checked it. The first must be refused, naming the second's decision, and leave no permit of its own."""
    overtaking = overtaken_after_the_check(ledger, lambda other: decide(other, approver, "FBP-RACE", licences[1]))
    refused = pytest.raises(StateError, match=r"'FBP-RACE' was already decided automatically: decision (\d+)")
    with overtaking as raced, refused as caught:
        decide(ledger, approver, "FBP-RACE", licences[1])
    (winner,) = raced
    assert f"decision {winner.seq} " in str(caught.value)
    automatic = [
        d for d in decisions.find_decisions(ledger, approver, "FBP-RACE") if d.body["decided_by"]["kind"] == "engine"
    ]
    assert [d.seq for d in automatic] == [winner.seq]
    with ledger.engine.connect() as conn:
        permit_ids = conn.execute(
            select(col(Certificate.certificate_id), col(Certificate.batch_root)).where(
                col(Certificate.department_id) == approver, col(Certificate.certificate_id).like("FBP-%-FBP-RACE%")
            )
        ).all()
        prepared = conn.execute(
            select(col(Batch.root)).where(
                col(Batch.department_id) == approver, col(Batch.state) != BatchState.CONFIRMED
            )
        ).all()
    assert [cid for cid, _ in permit_ids] == [winner.body["issued"]["id"]], "the loser's permit is left in the store"
    assert prepared == [], "the loser's permit batch would be anchored by `ledger resume`"
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, approver)
    assert checks(ledger, approver) == {}
