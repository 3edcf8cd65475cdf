"""Red team, round 34a: a department's notices after its decisions were replaced, an id that names a notice.

1. An approval confirmed by an officer (an approving override) and then refused (a refusal overriding the
   confirmation, or an inspection's withdrawal): round 32 revoked the notices of the decision the refusal replaced,
   the confirmation, and not those of the approval it had confirmed. The applicant kept a signed, anchored "approve"
   notice that every verifier called valid after the refusal. Every notice of the case stating another outcome than
   the decision now in force is revoked with it.
2. A certificate of another type whose id is the one a notice would have (``NOTICE-<dept>-<seq>``): the notice of
   that decision was "the one issued before" (a business licence, a person's fields, handed over as the notice), and
   an override of the decision revoked that certificate. A notice is a certificate of the notice type only.
3. Round 32's supersession by a certificate of the same type compared the store's ``cert_type`` column, the
   database's word: an insider who retyped a birth certificate's row as a business licence let the department's
   clerk (the CLI, the gateway) supersede a licence by it. The types compared are now the sealed fields' (only the
   vault key opens them, bound to the digest).
4. (The chain's operator, with a department that decided after a revocation on the facts of the block before it)
   answer ``null`` for the one block after the decision's facts block: replay read the missing block as "the facts
   block is still the head" and dropped the bound it gives (the facts block was the head no longer than until that
   block was mined), though the decision's anchoring, a later block, was on the same chain; the decision passed
   replay. A chain that has a later block has that one: replay now reports the node's answer.
5. (An insider with database access) clear the index key of an officer's refusal (``LogEntry.lookup``, which the
   entry hash does not cover): ``ledger notice CASE`` found the approval the refusal withdrew as the case's latest
   decision and issued a signed, anchored "approve" notice that every verifier calls valid. The case's entries
   after the latest its index finds are now looked for by their bodies too, and no notice is issued while one hides.
6. (A department's clerk, through ``ledger issue`` or the gateway's issuance) issue a certificate of the notice type
   of one's own writing: "approve" for a case the department refused, naming the refusal's number and entry hash.
   Every verifier called it valid: a notice is a certificate, and nothing tied its words to the decision it names.
   A notice is now issued only from its decision (``ledger notice``): issuance refuses the notice type otherwise.
7. (An insider with database access) clear the index key of an approval an officer then confirmed: the refusal that
   replaced the confirmation found the case's decisions through the index, missed the approval, and left its
   permit (and its notice) valid. An officer's decision names the one it replaced by number and entry hash: the
   case's history now follows those names too, so a decision the index lost is still found.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from ledger.client import Ledger
from ledger.errors import InputError, StateError
from ledger.onchain.chain import Chain, connect
from ledger.services import decisions, evidence, logchain, notices, provenance, replay, status
from ledger.services.logchain import LogEntry
from ledger.storage.store import Batch, Certificate

from .api_support import Clock, assert_problem, bearer, login, make_client
from .conftest import make_records
from .evidence_support import both, failed_names, rpc_url, standalone
from .foundation_support import issue
from .insider_support import insider_edit
from .permit_support import (
    SERVICE_ITEM,
    application,
    inspected,
    live_permits,
    officer_decision,
    permit_rules,
    withdrawn,
)
from .rerun_support import World, decided_after_revocation, world_fixture  # noqa: F401 - the decisions' world
from .rpc_proxy import RpcProxy


def _status(ledger: Ledger, digest: str) -> str:
    return str(provenance.timeline(ledger, digest, now=datetime.now(UTC))["status"])


def test_a_confirmed_approvals_notice_is_revoked_when_the_case_is_refused(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: the applicant whose approval an officer confirmed and a later officer refused, showing the notice of
    the first approval: the refusal replaced the confirmation, and only the confirmation's notices were revoked."""
    dept = fresh_department
    approval = officer_decision(ledger, dept, "C-RT34-A", "applicant-rt34a", "approve", "OFFICER_CHECKED_ON_SITE")
    first = notices.issue_notice(ledger, dept, "C-RT34-A")
    confirmed = officer_decision(
        ledger, dept, "C-RT34-A", "applicant-rt34a", "approve", "OFFICER_CHECKED_ON_SITE", overrides=approval.seq
    )
    assert _status(ledger, first["digest"]) == "valid"  # a confirmation leaves it, as round 32 decided
    second = notices.issue_notice(ledger, dept, "C-RT34-A")
    officer_decision(
        ledger, dept, "C-RT34-A", "applicant-rt34a", "reject", "OFFICER_FOUND_FRAUD", overrides=confirmed.seq
    )
    assert _status(ledger, second["digest"]) == "revoked"
    assert _status(ledger, first["digest"]) == "revoked"


def test_a_confirmed_approvals_notice_is_revoked_by_an_inspection_withdrawal(
    ledger: Ledger, fresh_department: str
) -> None:
    """The same through an inspection's withdrawal of the confirmed approval."""
    dept = fresh_department
    start = datetime.now(UTC) - timedelta(minutes=1)
    approval = officer_decision(ledger, dept, "C-RT34-W", "applicant-rt34w", "approve", "OFFICER_CHECKED_ON_SITE")
    first = notices.issue_notice(ledger, dept, "C-RT34-W")
    officer_decision(
        ledger, dept, "C-RT34-W", "applicant-rt34w", "approve", "OFFICER_CHECKED_ON_SITE", overrides=approval.seq
    )
    finding = inspected(ledger, dept, start, "C-RT34-W")
    withdrawn(ledger, dept, finding)
    assert _status(ledger, first["digest"]) == "revoked"


def test_a_certificate_of_another_type_is_never_taken_for_a_notice(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: a clerk of the department issuing a licence under the id the next decision's notice will have: the
    notice asked for was that licence (another person's fields), and the officer's refusal revoked the licence."""
    dept = fresh_department
    approval = officer_decision(ledger, dept, "C-RT34-D", "applicant-rt34d", "approve", "OFFICER_CHECKED_ON_SITE")
    (record,) = make_records(1)
    (licence,) = issue(ledger, tmp_path, dept, [{**record, "id": f"NOTICE-{dept}-{approval.seq}-zh-CN"}])
    with pytest.raises(StateError, match="not a notice"):
        notices.issue_notice(ledger, dept, "C-RT34-D", language="zh-CN")
    notice = notices.issue_notice(ledger, dept, "C-RT34-D")
    assert notice["fields"]["type"] == notices.NOTICE_TYPE
    officer_decision(
        ledger, dept, "C-RT34-D", "applicant-rt34d", "reject", "OFFICER_FOUND_FRAUD", overrides=approval.seq
    )
    assert _status(ledger, notice["digest"]) == "revoked"
    assert _status(ledger, licence["digest"]) == "valid"


def test_a_retyped_row_does_not_let_a_certificate_be_superseded_by_one_of_another_type(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an insider with database access retyping a birth certificate's row as a business licence, so that
    the department's clerk (who holds no key, only the gateway's or the CLI's say) can mark a licence replaced by it."""
    dept = fresh_department
    (licence,) = issue(ledger, tmp_path, dept, make_records(1))
    (birth,) = issue(ledger, tmp_path, dept, make_records(1, cert_type="birth-certificate"))
    retyped = insider_edit(ledger, Certificate, Certificate.digest, birth["digest"], cert_type="business-licence")
    with retyped, pytest.raises(InputError, match="birth-certificate"):
        status.supersede(ledger, licence["digest"], birth["digest"], dept)
    assert _status(ledger, licence["digest"]) == "valid"


@contextlib.contextmanager
def _through(ledger: Ledger, proxy: RpcProxy) -> Iterator[None]:
    """The ledger reading the chain through ``proxy`` (its node's operator) while inside."""
    honest = ledger.chain
    ledger.chain = Chain(connect(proxy.url), honest.deployment, gas_price=0, artifacts=honest.artifacts)
    try:
        yield
    finally:
        ledger.chain = honest


def _hiding(upstream: str, number: int) -> RpcProxy:
    """A node answering ``null`` for block ``number`` (as a node does for a block it does not have)."""

    def intercept(request: dict[str, Any]) -> bytes | None:
        params = request.get("params") or []
        if request.get("method") == "eth_getBlockByNumber" and params and params[0] == hex(number):
            return json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": None}).encode()
        return None

    return RpcProxy(upstream, intercept=intercept)


def _facts_findings(ledger: Ledger, world: World, case: str, seq: int) -> list[str]:
    found = replay.replay(ledger, department=world.dept, case_id=case).discrepancies
    return [d.detail for d in found if d.seq == seq and d.check == "facts_block_invalid"]


def test_a_node_hiding_the_block_after_the_facts_block_does_not_pass_a_later_decision(
    ledger: Ledger, world: World, tmp_path: Path
) -> None:
    """Adversary: a department recording an approval taken after the cited licence's revocation on the facts of the
    block before it, with the chain's operator answering that the block after the facts block does not exist."""
    block, seq, bundle = decided_after_revocation(ledger, world, "RT34A-HIDE", 3)
    assert _facts_findings(ledger, world, "RT34A-HIDE", seq), "the honest node: the facts block was the head no longer"
    proxy = _hiding(rpc_url(ledger), block + 1)
    try:
        with _through(ledger, proxy):
            assert _facts_findings(ledger, world, "RT34A-HIDE", seq)
            report, code, result = both(ledger, bundle, tmp_path, "hidden.json")
            assert code == 1 and not report.ok
            assert result is not None and "certificate_facts" in failed_names(result), result
    finally:
        proxy.server.shutdown()


def test_a_node_whose_head_falls_back_to_the_facts_block_does_not_pass_a_later_decision(
    ledger: Ledger, world: World, tmp_path: Path
) -> None:
    """Adversary: the same department, with a node (or one replica behind the node's load balancer) that answers the
    real head once and the facts block as its head afterwards: the library's bundle check read the head again for
    the facts block's bound, found no block after it, and judged the facts block still the head at the decision."""
    block, seq, bundle = decided_after_revocation(ledger, world, "RT34A-LAG", 2)
    asked = []

    def intercept(request: dict[str, Any]) -> bytes | None:
        if request.get("method") != "eth_blockNumber":
            return None
        asked.append(request)
        if len(asked) == 1:
            return None
        return json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": hex(block)}).encode()

    proxy = RpcProxy(rpc_url(ledger), intercept=intercept)
    try:
        with _through(ledger, proxy):
            report = evidence.verify_bundle(bundle, ledger.chain)
            assert not report.ok
            assert "certificate_facts" in {c.name for c in report.failed}, report.to_json()
            asked.clear()
            assert _facts_findings(ledger, world, "RT34A-LAG", seq)
            asked.clear()  # the court's verifier reads the head once, and judges the rest against it
            path = tmp_path / "lagging.json"
            path.write_text(json.dumps(bundle), encoding="utf-8")
            code, result, stderr = standalone(ledger, path)
            assert code == 1 and result is not None, stderr
            assert "certificate_facts" in failed_names(result), result
    finally:
        proxy.server.shutdown()


def test_a_notice_whose_batch_an_insider_marked_unsent_is_not_silently_left_standing(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider with database access marking the batch of an approval's notice as not sent (its row's
    state), so that the officer's refusal took the notice for one never anchored ("absent") and left it standing on
    chain without a word: the applicant kept a valid "approve" notice after the refusal."""
    dept = fresh_department
    approval = officer_decision(ledger, dept, "C-RT34-B", "applicant-rt34b", "approve", "OFFICER_CHECKED_ON_SITE")
    notice = notices.issue_notice(ledger, dept, "C-RT34-B")
    with ledger.engine.connect() as conn:
        root = conn.execute(
            select(col(Certificate.batch_root)).where(col(Certificate.digest) == notice["digest"])
        ).scalar_one()
    unsent = insider_edit(ledger, Batch, Batch.root, root, state="prepared")
    with unsent, pytest.raises(StateError, match=notice["digest"]):
        officer_decision(
            ledger, dept, "C-RT34-B", "applicant-rt34b", "reject", "OFFICER_FOUND_FRAUD", overrides=approval.seq
        )
    status.revoke(ledger, notice["digest"], "data-changed", dept)  # what the error tells the operator to run
    assert _status(ledger, notice["digest"]) == "revoked"


def test_a_refusal_an_insider_hid_from_the_case_index_gets_no_approve_notice_issued(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider with database access (with the applicant) clearing the index key of the officer's refusal
    of the case, then having the department's operator hand out the case's notice: the approval it withdrew was the
    latest decision the index found, and its "approve" notice was issued, valid for every verifier."""
    dept = fresh_department
    approval = officer_decision(ledger, dept, "C-RT34-X", "applicant-rt34x", "approve", "OFFICER_CHECKED_ON_SITE")
    refusal = officer_decision(
        ledger, dept, "C-RT34-X", "applicant-rt34x", "reject", "OFFICER_FOUND_FRAUD", overrides=approval.seq
    )
    with ledger.engine.connect() as conn:
        row = conn.execute(
            select(col(LogEntry.id)).where(
                col(LogEntry.log) == logchain.LOG_DECISIONS,
                col(LogEntry.department_id) == dept,
                col(LogEntry.seq) == refusal.seq,
            )
        ).scalar_one()
    with insider_edit(ledger, LogEntry, LogEntry.id, row, lookup=None):
        for seq in (None, approval.seq):
            with pytest.raises(StateError, match=f"entry {refusal.seq} .* index of cases was edited"):
                notices.issue_notice(ledger, dept, "C-RT34-X", seq=seq)
    # the index restored, the decision in force gets its notice
    assert notices.issue_notice(ledger, dept, "C-RT34-X")["fields"]["subject.outcome"] == "reject"


def test_a_notice_of_ones_own_writing_is_not_issued(ledger: Ledger, fresh_department: str, tmp_path: Path) -> None:
    """Adversary: a department's clerk (the gateway's issuer, or ``ledger issue``) writing the case's notice by hand:
    "approve" for the case the department refused, valid for every verifier."""
    dept = fresh_department
    refusal = officer_decision(ledger, dept, "C-RT34-F", "applicant-rt34f", "reject", "OFFICER_FOUND_FRAUD")
    genuine = notices.notice_record(dept, refusal, None)
    forged = copy.deepcopy(genuine)
    forged["id"] = f"FORGED-{dept}-{refusal.seq}"
    forged["subject"]["outcome"] = "approve"
    forged["subject"]["reasons"] = []
    with pytest.raises(InputError, match="ledger notice"):
        issue(ledger, tmp_path, dept, [forged])
    client = make_client(ledger, Clock())
    refused = client.post("/certificates", headers=bearer(login(client, ledger, dept)), json={"records": [forged]})
    assert_problem(refused, 422)
    # the notice of the decision itself, as before
    assert notices.issue_notice(ledger, dept, "C-RT34-F")["fields"]["subject.outcome"] == "reject"


def test_an_override_of_a_decision_hidden_from_the_case_index_is_refused_by_name(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider with database access clearing the index key of the decision an officer is about to
    refuse (by its number): the officer's command stopped with a traceback (an IndexError: the case's index found
    no decision at all), nothing said what was wrong."""
    dept = fresh_department
    approval = officer_decision(ledger, dept, "C-RT34-O", "applicant-rt34o", "approve", "OFFICER_CHECKED_ON_SITE")
    with ledger.engine.connect() as conn:
        row = conn.execute(
            select(col(LogEntry.id)).where(
                col(LogEntry.log) == logchain.LOG_DECISIONS,
                col(LogEntry.department_id) == dept,
                col(LogEntry.seq) == approval.seq,
            )
        ).scalar_one()
    hidden = insider_edit(ledger, LogEntry, LogEntry.id, row, lookup=None)
    with hidden, pytest.raises(StateError, match="index"):
        officer_decision(
            ledger, dept, "C-RT34-O", "applicant-rt34o", "reject", "OFFICER_FOUND_FRAUD", overrides=approval.seq
        )


def test_a_confirmed_approval_hidden_from_the_case_index_loses_its_permit_and_notice_with_the_refusal(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an insider with database access (with the applicant) clearing the index key of the approval that
    issued the applicant's permit, after an officer confirmed it: the later refusal of the case withdrew nothing,
    and the permit and the approval's notice stayed valid for every verifier."""
    dept = fresh_department
    decisions.publish_rule_set(ledger, permit_rules(dept), dept)
    (licence,) = issue(ledger, tmp_path, "MKT", make_records(1))
    app = application("C-RT34-P", licence)
    who = licence["fields"]["subject.credit_code"]
    approval = decisions.decide(ledger, dept, "C-RT34-P", SERVICE_ITEM, app, permit_rules(dept), applicant_ref=who)
    permit = approval.body["issued"]["certificate"]
    notice = notices.issue_notice(ledger, dept, "C-RT34-P")
    confirmed = officer_decision(
        ledger, dept, "C-RT34-P", who, "approve", "OFFICER_CHECKED_ON_SITE", overrides=approval.seq
    )
    with ledger.engine.connect() as conn:
        row = conn.execute(
            select(col(LogEntry.id)).where(
                col(LogEntry.log) == logchain.LOG_DECISIONS,
                col(LogEntry.department_id) == dept,
                col(LogEntry.seq) == approval.seq,
            )
        ).scalar_one()
    with insider_edit(ledger, LogEntry, LogEntry.id, row, lookup=None):
        refusal = officer_decision(
            ledger, dept, "C-RT34-P", who, "reject", "OFFICER_FOUND_FRAUD", overrides=confirmed.seq
        )
    assert refusal.body.get("withdraws") == [permit]
    assert live_permits(ledger, [permit]) == []
    assert _status(ledger, notice["digest"]) == "revoked"
