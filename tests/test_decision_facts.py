"""Decisions that check for themselves: an applicant lying in their input, and a decision recorded on made-up
facts, against the real chain. The engine verifies every cited certificate itself; replay re-establishes each
fact as of the block it was judged at."""

from __future__ import annotations

import copy
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ledger.client import Ledger
from ledger.errors import ChainError, InputError, StateError
from ledger.onchain.chain import ROLE_ISSUER
from ledger.services import decisions, issuance, logchain, status
from ledger.services.departments import Council
from ledger.services.replay import replay

from .conftest import make_records, write_jsonl
from .decision_support import application, unique_rule_set


@pytest.fixture(scope="module")
def licences(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = io.StringIO()
    path = write_jsonl(tmp_path_factory.mktemp("facts") / "licences.jsonl", make_records(8))
    issuance.issue_file(ledger, path, "MKT", out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.fixture()
def approver(ledger: Ledger, fresh_department: str) -> str:
    decisions.publish_rule_set(ledger, unique_rule_set(f"facts-{fresh_department}"), fresh_department)
    return fresh_department


def decide(
    ledger: Ledger, dept: str, app: dict[str, Any], *, holder: dict[str, Any] | None = None, **kwargs: Any
) -> decisions.Decision:
    """Decide ``app`` for the applicant who holds ``holder`` (a licence document), or for an unrelated one."""
    identity = holder["fields"]["subject.credit_code"] if holder else "applicant-1"
    return decisions.decide(
        ledger,
        dept,
        app["case_id"],
        app["service_item"],
        app,
        unique_rule_set(f"facts-{dept}"),
        applicant_ref=identity,
        **kwargs,
    )


def _checks(report: Any) -> dict[str, list[int | None]]:
    out: dict[str, list[int | None]] = {}
    for d in report.discrepancies:
        out.setdefault(d.check, []).append(d.seq)
    return out


def test_a_valid_licence_is_approved_on_facts_the_ledger_established(
    ledger: Ledger, licences: list[dict[str, Any]], approver: str
) -> None:
    by_document = decide(ledger, approver, application("C-DOC", {"document": licences[0]}), holder=licences[0])
    by_digest = decide(ledger, approver, application("C-DIG", licences[1]["digest"]), holder=licences[1])
    for decision, doc in ((by_document, licences[0]), (by_digest, licences[1])):
        (fact,) = decision.body["certificates"]
        assert decision.body["outcome"] == "approve", decision.body
        assert (
            fact["digest"],
            fact["type"],
            fact["verified"],
            fact["status"],
            fact["expired"],
            fact["issuer"],
            fact["holder"],
        ) == (doc["digest"], "business-licence", True, "valid", False, "MKT", True)
        assert isinstance(fact["as_of_block"], int) and fact["as_of_block"] <= ledger.chain.block_number()
    # the cited document carries the holder's disclosed fields: it is stored sealed, never in the clear
    name = licences[0]["fields"]["subject.name"]
    with ledger.engine.connect() as conn:
        stored = conn.execute(
            select(decisions.DecisionInput.document).where(
                decisions.DecisionInput.digest == by_document.body["input_digest"]
            )
        ).scalar_one()
        sealed = conn.execute(select(decisions.CitedDocument.sealed)).scalars().all()
    assert name not in stored and '"document_ref"' in stored
    assert sealed and not any(name.encode() in bytes(blob) for blob in sealed)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, approver)
    assert replay(ledger, department=approver).ok


def test_an_applicant_lying_about_a_revoked_licence_is_not_approved(
    ledger: Ledger, licences: list[dict[str, Any]], approver: str
) -> None:
    revoked = licences[2]
    status.revoke(ledger, revoked["digest"], "fraud")
    lie = {
        "type": "business-licence",
        "digest": revoked["digest"],
        "verified": True,
        "status": "valid",
        "expired": False,
    }
    decision = decide(ledger, approver, application("C-LIE", lie), holder=revoked)
    assert decision.body["outcome"] == "reject"
    assert decision.body["reasons"] == ["REQUIRED_CERTIFICATE_REVOKED"]
    assert decision.body["certificates"][0]["status"] == "revoked"
    # a digest nobody issued is never "verified", whatever the application says
    made_up = {"type": "business-licence", "digest": "0x" + "ab" * 32, "verified": True, "status": "valid"}
    unknown = decide(ledger, approver, application("C-UNKNOWN", made_up))
    assert unknown.body["outcome"] == "refer"
    assert unknown.body["certificates"][0] == {
        **unknown.body["certificates"][0],
        "verified": False,
        "status": "unknown",
        "failed": ["not_found"],
    }
    # the same through decide_many (the bulk path)
    identity = revoked["fields"]["subject.credit_code"]
    result = decisions.decide_many(
        ledger,
        approver,
        [{**application("C-BULK", lie), "applicant_ref": identity}],
        {"*": unique_rule_set(f"facts-{approver}")},
    )
    assert dict(result.outcomes) == {"reject": 1}
    assert replay(ledger, department=approver).ok


def test_revoked_before_is_caught_revoked_after_is_not_held_against_it(
    ledger: Ledger, licences: list[dict[str, Any]], approver: str
) -> None:
    before, after = licences[3], licences[4]
    status.revoke(ledger, before["digest"], "fraud")  # on chain one block before the decision
    caught = decide(ledger, approver, application("C-BEFORE", before["digest"]), holder=before)
    assert caught.body["outcome"] == "reject"
    approved = decide(ledger, approver, application("C-AFTER", after["digest"]), holder=after)
    assert approved.body["outcome"] == "approve"
    status.revoke(ledger, after["digest"], "data-error")  # after the decision: it stood on the facts of its time
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, approver)
    report = replay(ledger, department=approver)
    assert report.ok, report.summary()


def _forge(ledger: Ledger, dept: str, honest: decisions.Decision, **changes: Any) -> int:
    """An insider (or a dishonest engine) records a decision body of its own making, hash-chained and anchored."""
    body = copy.deepcopy(honest.body)
    body["case_id"] = "C-FORGED"
    for key, value in changes.items():
        if key.startswith("fact_"):
            body["certificates"][0][key[5:]] = value
        else:
            body[key] = value
    entry = logchain.append(ledger, logchain.LOG_DECISIONS, dept, body)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    return entry.seq


def test_replay_reports_a_decision_recorded_on_made_up_facts(
    ledger: Ledger, licences: list[dict[str, Any]], approver: str
) -> None:
    revoked = licences[5]
    status.revoke(ledger, revoked["digest"], "fraud")
    honest = decide(ledger, approver, application("C-HONEST", revoked["digest"]), holder=revoked)
    assert honest.body["outcome"] == "reject"
    # the recorded facts say "valid" and the outcome "approve", though the revocation was on chain
    seq = _forge(
        ledger,
        approver,
        honest,
        fact_status="valid",
        outcome="approve",
        reasons=["TYPICAL_FEATURES_MATCH"],
        fired=["typical-features"],
    )
    checks = _checks(replay(ledger, department=approver))
    assert checks.get("certificate_facts") == [seq]
    assert checks.get("outcome_mismatch") == [seq]


def test_replay_reports_facts_judged_at_a_block_that_was_not_the_head(
    ledger: Ledger, licences: list[dict[str, Any]], approver: str
) -> None:
    honest = decide(ledger, approver, application("C-T", licences[6]["digest"]))
    block = honest.body["certificates"][0]["as_of_block"]
    later = datetime.fromisoformat(honest.body["decided_at"].replace("Z", "+00:00")) + timedelta(hours=2)
    ledger.chain.w3.provider.make_request("evm_mine", [])  # a block after the facts block exists
    seq = _forge(ledger, approver, honest, decided_at=later.astimezone(UTC).isoformat().replace("+00:00", "Z"))
    checks = _checks(replay(ledger, department=approver))
    assert checks == {"facts_block_invalid": [seq]}, checks
    assert block < ledger.chain.block_number()


def test_only_approvers_decide(ledger: Ledger, tmp_path: Path) -> None:
    app = application("C-NOT-APPROVER")
    for dept in ("MKT", "PSB"):  # an issuer and an auditor
        with pytest.raises(StateError, match="approver role"):
            decisions.decide(
                ledger, dept, app["case_id"], app["service_item"], app, "0x" + "11" * 32, applicant_ref="x"
            )
        with pytest.raises(StateError, match="approver role"):
            decisions.record_human_decision(
                ledger, dept, "C", "ITEM-1", officer="o", outcome="approve", reasons=["R"], applicant_ref="a"
            )
        # publishing is refused even for a rule set someone else already published
        with pytest.raises(StateError, match="approver role"):
            decisions.publish_rule_set(ledger, unique_rule_set("facts-published-by-INS"), dept)
    decisions.publish_rule_set(ledger, unique_rule_set("facts-published-by-INS"), "INS")
    # the chain itself refuses a decision log range from a department without the approver role (one of its own,
    # so that the entry it cannot anchor stays out of every other test's way)
    code = f"NOAPP-{tmp_path.name[-6:]}"
    Council(ledger).register(code, "Issuer only", ROLE_ISSUER)
    logchain.append(ledger, logchain.LOG_DECISIONS, code, {"forged": True})
    with pytest.raises(ChainError, match="LogUnauthorized"):
        logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, code)
    assert logchain.chain_ranges(ledger, logchain.LOG_DECISIONS, code) == []


def test_unanchored_decisions_are_counted_and_overdue_ones_reported(ledger: Ledger, fresh_department: str) -> None:
    """A decision kept only in the database could be deleted without a trace: replay shows how many and how old,
    and past the department's deadline names it."""
    from ledger.client import Ledger as LedgerClass

    from .conftest import PASSPHRASE

    dept = fresh_department
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    logchain.append(
        ledger,
        logchain.LOG_DECISIONS,
        dept,
        # an officer's decision names the item it decides (replay's service_item_not_held, red team round 86o)
        {"format": "pl-decision/2", "case_id": "C-OLD", "service_item": "ITEM-1", "decided_by": {"kind": "officer"}},
        created_at=hour_ago,
    )
    lenient = LedgerClass(
        settings=ledger.settings.with_(anchor_deadline_seconds=0),
        chain=ledger.chain,
        engine=ledger.engine,
        keystore=ledger.keystore,
        passphrase=PASSPHRASE,
    )
    report = replay(lenient, department=dept)  # no deadline: counted, not a discrepancy
    assert report.ok and report.departments[dept]["unanchored"] == 1
    assert report.departments[dept]["oldest_unanchored_seconds"] >= 3600
    assert _checks(replay(ledger, department=dept)) == {"anchoring_overdue": [1]}  # the default: 15 minutes
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).ok


def test_the_applicant_gets_a_verifiable_notice_with_reasons_legal_basis_and_review(
    ledger: Ledger, licences: list[dict[str, Any]], approver: str
) -> None:
    from ledger.services.notices import issue_notice
    from ledger.services.verify import ChainView, verify_certificate

    decision = decide(ledger, approver, application("C-NOTICE", licences[7]["digest"]), holder=licences[7])
    assert decision.body["outcome"] == "approve"
    assert decision.body["legal_basis"] == {
        "TYPICAL_FEATURES_MATCH": "Administrative Licensing Law of the PRC, art. "
        "34(2): a complete application in statutory form is decided on the spot"
    }
    notice = issue_notice(ledger, approver, "C-NOTICE")
    report = verify_certificate(notice, ChainView(ledger.chain))
    assert report.ok, report.to_json()
    fields = notice["fields"]
    assert fields["type"] == "decision-notice" and fields["issuer"] == approver
    assert fields["subject.outcome"] == "approve"
    assert fields["subject.decision"] == {
        "department": approver,
        "seq": decision.seq,
        "entry_hash": decision.entry_hash,
    }
    (reason,) = fields["subject.reasons"]
    assert reason["code"] == "TYPICAL_FEATURES_MATCH" and reason["legal_basis"].startswith("Administrative Licensing")
    assert reason["text"] and "reconsideration" in fields["subject.review"]
    assert licences[7]["fields"]["subject.credit_code"] not in json.dumps(notice)  # the applicant only salted
    assert issue_notice(ledger, approver, "C-NOTICE")["digest"] == notice["digest"]  # one notice per decision
    # an approver that is not also an issuer cannot hand out notices
    decisions.record_human_decision(
        ledger,
        "INS",
        "C-INS-NOTICE",
        "ITEM-1",
        officer="o-1",
        outcome="refer",
        reasons=["OFFICER_REVIEW"],
        applicant_ref="applicant-9",
    )
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, "INS")
    with pytest.raises(StateError, match="issuer"):
        issue_notice(ledger, "INS", "C-INS-NOTICE")


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_notice_gives_each_reason_in_words_in_the_applicants_language(
    ledger: Ledger,
    licences: list[dict[str, Any]],
    approver: str,
    language: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The applicant reads the reasons the rule set gives for its decision in the language they chose (`--lang`),
    in the words published with the rule set (`reason_texts`, `review_texts`), not as bare codes."""
    from ledger.services.notices import issue_notice
    from ledger.services.verify import ChainView, verify_certificate

    from .supervision_support import cli

    rules = unique_rule_set(f"facts-{approver}")
    case = f"C-NOTICE-{language}"
    decide(ledger, approver, application(case, licences[6]["digest"]), holder=licences[6])
    code, out, err = cli(ledger, monkeypatch, capsys, "notice", case, "-d", approver, "--lang", language)
    assert code == 0, err
    notice = issue_notice(ledger, approver, case, language=language)
    assert notice["digest"] == out["digest"]  # one notice per decision and language
    assert verify_certificate(notice, ChainView(ledger.chain)).ok
    fields = notice["fields"]
    assert fields["subject.language"] == language
    (reason,) = fields["subject.reasons"]
    assert reason["code"] == "TYPICAL_FEATURES_MATCH"
    assert reason["text"] == rules.reason_texts["TYPICAL_FEATURES_MATCH"][language]  # type: ignore[index]
    assert fields["subject.review"] == rules.document["review_texts"][language]
    chinese = any("\u4e00" <= c <= "\u9fff" for c in reason["text"] + fields["subject.review"])
    assert chinese == (language == "zh-CN")
    other = issue_notice(ledger, approver, case, language="en" if language == "zh-CN" else "zh-CN")
    assert other["digest"] != notice["digest"] and other["fields"]["subject.decision"] == fields["subject.decision"]
    with pytest.raises(InputError, match="language"):
        issue_notice(ledger, approver, case, language="fr")
