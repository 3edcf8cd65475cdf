"""Red team, round 15c: a department publishing rules written to be slow, so that every auditor's replay and every
court's re-run of its decisions takes hours (docs/threat-model.md).

Round 14a stopped a forger's own rules: both verifiers re-run only a rule set published on chain. A department may
publish what it likes, though: rules comparing two big lists of the input with each other a thousand times, or a rule
set of a million conditions, and record decisions on them past the library. Both engines now refuse a rule set
larger than any honest one (``rules.MAX_CONDITIONS`` conditions, ``rules.MAX_LISTED_VALUES`` listed values) and stop
an evaluation once it has compared ``rules.MAX_STEPS`` members of the input's lists and objects (docs/rules.md,
"Bounds"), at the same step."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats import rules
from ledger.formats.canonical import hex32
from ledger.onchain.chain import ROLE_AUDITOR
from ledger.services import decisions, evidence, logchain, provenance, status
from ledger.services.departments import Council
from ledger.services.replay import replay

from .api_support import sign_in
from .cli_support import rpc
from .conftest import make_records
from .decision_support import application, decided_history
from .evidence_support import SCRIPT_MODULE, issue, standalone
from .gateway_process import BoundGateway
from .report_support import today
from .verifiers_support import both_engines, one_rule_set

COMPARE = {"field": "application.big_a", "op": "==", "ref": "application.big_b"}


def _court(document: dict[str, Any], data: dict[str, Any]) -> str:
    return str(SCRIPT_MODULE.run_rules(json.loads(json.dumps(document)), json.loads(json.dumps(data)))[0])


def _both_refuse(document: dict[str, Any], data: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match):
        rules.evaluate(rules.load_rule_set(document), json.loads(json.dumps(data)))
    with pytest.raises(SCRIPT_MODULE.Failure, match=match):
        _court(document, data)


def test_a_rule_set_larger_than_any_honest_one_is_refused_by_both_engines() -> None:
    """Adversary: a department publishing a rule set of more conditions, or longer ``in`` lists, than any honest one
    (the shipped ones have at most 29 conditions and 8 listed values), each evaluated per decision by every replay."""
    data = {"item": {"x": 1}}
    exists = {"field": "item.x", "op": "exists", "value": True}
    at_most = one_rule_set({"all": [exists] * (rules.MAX_CONDITIONS - 1)})  # the `all` is a condition too
    assert both_engines(at_most, data) == ("approve", "approve")
    over = one_rule_set({"all": [exists] * rules.MAX_CONDITIONS})
    _both_refuse(over, data, f"{rules.MAX_CONDITIONS + 1} conditions")
    values = list(range(rules.MAX_LISTED_VALUES // 2))
    listed = one_rule_set({"any": [{"field": "item.x", "op": "in", "value": values}] * 2})
    assert both_engines(listed, data) == ("approve", "approve")
    too_many = one_rule_set({"any": [{"field": "item.x", "op": "in", "value": [*values, -1]}] * 2})
    _both_refuse(too_many, data, f"{rules.MAX_LISTED_VALUES + 2} listed values")
    issuers = one_rule_set(
        {"certificate": {"type": "t", "issuer": [f"D{i}" for i in range(rules.MAX_LISTED_VALUES + 1)]}}
    )
    _both_refuse(issuers, data, "listed values")


@pytest.mark.parametrize(
    ("big_a", "big_b"),
    [
        ([0] * rules.MAX_STEPS, [0] * rules.MAX_STEPS),  # one comparison of two lists
        ({str(i): [0] for i in range(rules.MAX_STEPS // 2)}, {str(i): [0] for i in range(rules.MAX_STEPS // 2)}),
    ],
    ids=["list", "object of lists"],
)
def test_comparing_the_inputs_lists_stops_at_the_same_step_in_both_engines(big_a: Any, big_b: Any) -> None:
    """Adversary: rules comparing two of the input's lists with ``ref``, over and over (round 14a's forged rules,
    published this time): both engines stop an evaluation at exactly ``MAX_STEPS`` members compared, so they agree
    on every input, a step below the bound and a step above."""
    data = {"application": {"big_a": big_a, "big_b": big_b}}
    assert both_engines(one_rule_set(COMPARE), data) == ("approve", "approve")  # MAX_STEPS members: allowed
    twice = one_rule_set({"all": [COMPARE, COMPARE]})  # one step more
    _both_refuse(twice, data, f"more than {rules.MAX_STEPS:,} members")
    # a mismatch found early costs the same: the members are counted before they are compared
    data["application"]["big_b"] = [1, *big_b[1:]] if isinstance(big_b, list) else {**big_b, "0": [1]}
    assert both_engines(one_rule_set(COMPARE), data) == ("refer", "refer")
    _both_refuse(one_rule_set({"any": [COMPARE, COMPARE]}), data, f"more than {rules.MAX_STEPS:,} members")


def test_scanning_the_cited_certificates_counts_too() -> None:
    """Adversary: a department whose rules ask about the cited certificates a thousand times over a decision citing
    thousands of them: each certificate condition counts the list it scans."""
    cert = {"type": "t", "verified": True}
    half = rules.MAX_STEPS // 2
    data: dict[str, Any] = {"certificates": [{"type": "u"}] * half}
    condition = {"certificate": cert}
    assert both_engines(one_rule_set({"not": {"any": [condition, condition]}}), data) == ("approve", "approve")
    _both_refuse(one_rule_set({"any": [condition] * 3}), data, f"more than {rules.MAX_STEPS:,} members")


def _hostile_rules(dept: str) -> rules.RuleSet:
    document = one_rule_set({"all": [COMPARE] * 999})  # 1,000 conditions: as large as a rule set may be
    document.update(rule_set_id=f"slow-{dept.lower()}", service_item="ITEM-1")
    return rules.load_rule_set(document)


def test_slow_rules_recorded_past_the_library_are_reported_by_replay_and_both_verifiers(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Adversary: a department publishing rules that compare two 400-element lists of the input 999 times (400,000
    members per decision; with 400,000-element lists, hours per decision) and recording decisions on them. The
    library refuses to decide (nothing recorded); written past it, replay reports the decision ``rerun_failed`` and
    both verifiers fail ``rerun`` on its evidence bundle, at once, naming the bound."""
    dept = fresh_department
    rule_set = _hostile_rules(dept)
    decisions.publish_rule_set(ledger, rule_set, dept)
    app = application("C-SLOW-1")
    app["application"] = {**app["application"], "big_a": [0] * 400, "big_b": [0] * 400}
    before = len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)))
    with pytest.raises(InputError, match=f"more than {rules.MAX_STEPS:,} members"):
        decisions.decide(ledger, dept, "C-SLOW-1", "ITEM-1", app, rule_set, applicant_ref="slow-applicant")
    assert len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept))) == before
    # the attack: the library's bound taken out (an older library, or the department's own code)
    monkeypatch.setattr(rules, "MAX_STEPS", 10**9)
    decided = decisions.decide(ledger, dept, "C-SLOW-1", "ITEM-1", app, rule_set, applicant_ref="slow-applicant")
    monkeypatch.undo()
    assert decided.body["outcome"] == "approve"
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    report = replay(ledger, department=dept)
    found = [(d.check, d.seq) for d in report.discrepancies]
    assert found == [("rerun_failed", decided.seq)], report.summary()
    assert f"more than {rules.MAX_STEPS:,} members" in report.discrepancies[0].detail
    bundle = evidence.decision_bundle(ledger, dept, "C-SLOW-1", applicant="slow-applicant")
    assert bundle["rule_set"]["digest"] == hex32(rule_set.digest)
    path = tmp_path / "slow.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    library = evidence.verify_bundle(path, ledger.chain)
    assert not library.check("rerun").ok and f"more than {rules.MAX_STEPS:,} members" in library.check("rerun").detail
    code, court, stderr = standalone(ledger, path)
    assert code == 1 and court is not None, stderr
    rerun = next(c for c in court["checks"] if c["name"] == "rerun")
    assert rerun["result"] == "FAIL" and f"more than {rules.MAX_STEPS:,} members" in rerun["detail"], rerun
    assert {c["name"] for c in court["checks"] if c["result"] == "FAIL"} == {c.name for c in library.failed}


# -- an auditor asking for the whole log at once, many times over --------------------------------------------------


def test_an_auditor_cannot_make_the_gateway_walk_whole_logs_many_times_at_once(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an auditor (or whoever holds an auditor's token) asking for a department's report and its log
    check many times at once: each walked the whole log in a worker thread of its own (forty of them by default),
    with every other request of the gateway waiting for the interpreter. Whole-log work now runs
    ``whole_log_threads`` at a time (one by default); a department's second such request while its first runs or
    waits is refused (429 with Retry-After), so one token cannot fill the queue that others' checks wait in; beyond
    ``whole_log_queue`` waiting, 429 too."""
    dept = fresh_department
    decided_history(ledger, dept, n=2_000)  # a replay of a second or so: the requests below overlap it
    second_auditor = f"A{dept}"
    Council(ledger).register(second_auditor, f"Second audit office {dept}", ROLE_AUDITOR)
    report = ("/audit/report", {"department": dept, "from": today(), "to": today(), "format": "json"})
    log_check = ("/audit/logs/decisions/check", {"department": dept})

    def ask(gw: Any, headers: dict[str, str], query: tuple[str, dict[str, str]]) -> httpx.Response:
        with gw.process.client() as client:
            return client.get(query[0], params=query[1], headers=headers)

    def refused(answers: list[httpx.Response], words: str) -> list[httpx.Response]:
        found = [a for a in answers if a.status_code == 429]
        for a in found:
            assert int(a.headers["Retry-After"]) > 0 and words in a.json()["detail"], a.json()
        return found

    with BoundGateway(ledger) as gw:
        auditor = sign_in(gw.client, ledger, "AUD")
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: ask(gw, auditor, (report, log_check)[i % 2]), range(8)))
        assert {a.status_code for a in answers} == {200, 429}, [(a.status_code, a.text[:200]) for a in answers]
        assert refused(answers, "one at a time per department")
        assert gw.process.alive()
        for query in (report, log_check):  # one at a time, every request is answered
            assert ask(gw, auditor, query).status_code == 200
    with BoundGateway(ledger, LEDGER_API_WHOLE_LOG_QUEUE="0") as gw:  # nobody may wait: two departments at once
        tokens = [sign_in(gw.client, ledger, code) for code in ("AUD", second_auditor)]
        # The second department asks while the first one's report runs. Two requests sent together need not
        # overlap (the first may be done before the second arrives, as a faster machine showed), so the second asks
        # until the first is answered or it is refused, a few rounds at most.
        answers = []
        for _ in range(5):
            with ThreadPoolExecutor(1) as pool:
                first = pool.submit(ask, gw, tokens[0], report)
                while not first.done():
                    answers.append(ask(gw, tokens[1], report))
                    if answers[-1].status_code == 429:
                        break
                answers.append(first.result())
            if any(a.status_code == 429 for a in answers):
                break
        assert {a.status_code for a in answers} == {200, 429}, [(a.status_code, a.text[:200]) for a in answers]
        assert refused(answers, "each walks a whole log")


# -- the public timeline of an old chain ---------------------------------------------------------------------------


def test_a_public_timeline_reads_the_same_few_blocks_however_old_the_chain_is(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: an anonymous client asking for the public timeline of a certificate (``/public/certificates/{d}/
    timeline``, its page): it scanned the chain's event logs six times from the deployment block to the head, so
    each answer cost a node request per ``LEDGER_LOG_SPAN`` blocks of the chain's whole age, six times over (a year
    of one-second blocks: some 19,000 requests an answer). It now reads the blocks the contract says its batch was
    anchored and its status changed in, and the supersession the issuer's store names (checked on chain): as many
    requests on a chain 200 blocks older (at 5 blocks a request: 240 more before), and the same events."""
    dept = fresh_department
    old, new = issue(ledger, tmp_path, dept, make_records(2))
    status.supersede(ledger, old["digest"], new["digest"], dept)
    status.suspend(ledger, new["digest"], "under-investigation", dept)
    status.reinstate(ledger, new["digest"], "grounds-resolved", dept)
    monkeypatch.setattr(ledger.chain, "log_span", 5)
    requests: list[tuple[int, int]] = []
    real = ledger.chain.w3.eth.get_logs

    def counted(params: Any) -> Any:
        requests.append((int(params["fromBlock"]), int(params["toBlock"])))
        return real(params)

    monkeypatch.setattr(ledger.chain.w3.eth, "get_logs", counted)

    def timeline() -> tuple[list[dict[str, Any]], int]:
        requests.clear()
        events = provenance.timeline(ledger, new["digest"], now=datetime.now(UTC), private=False)["events"]
        return events, len(requests)

    young, asked = timeline()
    kinds = [e["kind"] for e in young]
    assert {"issued", "anchored", "signed", "supersedes", "suspended", "reinstated"} <= set(kinds), kinds
    assert next(e for e in young if e["kind"] == "supersedes")["predecessor"] == old["digest"]
    rpc(ledger, "anvil_mine", hex(200))  # the shared chain: few blocks, a short span (3,000 took anvil > 30 s)
    aged, asked_later = timeline()
    assert aged == young
    assert asked_later == asked, (asked, asked_later, requests)


def test_a_timeline_reads_its_status_from_the_history_it_lists(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timeline listed the status events of one read of the contract's status history, then asked ``statusOf``
    in another request: a change mined between the two showed a status the listed events did not lead to. The
    status is now the history's last change (what statusOf reads), from the same answer, and one call fewer."""
    dept = fresh_department
    (doc,) = issue(ledger, tmp_path, dept, make_records(1))
    status.suspend(ledger, doc["digest"], "under-investigation", dept)
    status.reinstate(ledger, doc["digest"], "grounds-resolved", dept)
    status.revoke(ledger, doc["digest"], "fraud", dept)
    asked: list[str] = []
    real = ledger.chain.call

    def recorded(fn: Any, block: Any = "latest") -> Any:
        asked.append(fn.fn_name)
        return real(fn, block)

    monkeypatch.setattr(ledger.chain, "call", recorded)
    shown = provenance.timeline(ledger, doc["digest"], now=datetime.now(UTC), private=False)
    assert shown["status"] == "revoked"
    assert [e["kind"] for e in shown["events"] if e["kind"] in ("suspended", "reinstated", "revoked")] == [
        "suspended",
        "reinstated",
        "revoked",
    ]
    assert "statusOf" not in asked and asked.count("statusHistory") == 1, asked
