"""Red team, round 36: the guard's unreadable bodies (rt34b), the listings' time windows (gaps34/rt35) and the
decision and certificate bundles the library and the court's verifier both judge (rt34a).

1. (An anonymous client, or a signed-in department) post a body nobody can read (``{``, not UTF-8, a number too
   long to read, whitespace, duplicate keys) to an authenticated route, as often as it likes: the body was refused
   (422) before the dependency that spends the caller's budget ran, so no budget was ever spent, and each request
   had the gateway read and parse up to the anonymous body limit (1 MiB), or 4 MiB with a token.
2. (An auditor, or a client of its own department's access log) ask for a window with ``since=20261201``: the
   gateway read a number as a Unix time (seconds, or milliseconds past 2e10, pydantic's rule), so a compact date
   listed the entries since 1970-08-23, and nothing said so.
3. (An insider writing the decision log, then a court's expert checking the bundle) an officer's decision stating
   a decided_at after its anchoring block was mined: replay reports it (anchored_late, rt35), both bundle verifiers
   passed it (an automatic decision is bounded by its facts block, an officer's by nothing). Backdated by years it
   still passes both: the bound is the ledger's anchoring deadline, which the bundle does not carry (an open row of
   docs/threat-model.md).
4. (A department, its node answering the facts block as its head) a decision taken after a revocation on the facts
   before it: the library read the block after the facts block (its anchoring is later) and failed
   ``certificate_facts``, the court's verifier did not, and the two disagreed on the bundle's failed checks. With a
   node answering the real head first and a lower one afterwards, the library (reading the head again) failed an
   honest decision's ``certificate_facts`` that the court's verifier (reading it once) passed.

Each test is one attack, named in its docstring with the adversary and what it tries. Real anvil, real database
(SQLite, or PostgreSQL with LEDGER_TEST_DATABASE_URL), the gateway in process; no mocks.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from ledger.client import Ledger
from ledger.onchain.chain import Chain, connect
from ledger.services import evidence, logchain

from .api_support import Clock, bearer, login, make_client, problem_body, register
from .evidence_support import both, failed_names, rpc_url, standalone
from .permit_support import officer_decision
from .rerun_support import World, decided_after_revocation, world_fixture  # noqa: F401 - the decisions' world
from .rpc_proxy import RpcProxy

UNREADABLE = {
    "a brace": b"{",
    "not UTF-8": b'{"a":"\xff"}',
    "a number too long to read": b'{"a":' + b"1" * 5000 + b"}",
    "whitespace": b"   ",
    "duplicate keys": b'{"a":1,"a":2}',
}
AUTHENTICATED_POSTS = ("/decisions", "/certificates", "/verify", "/certificates/0x00/revoke", "/access-log/anchor")


@pytest.mark.parametrize("route", AUTHENTICATED_POSTS)
def test_an_unreadable_body_spends_the_anonymous_callers_refused_budget(ledger: Ledger, route: str) -> None:
    """Adversary: an anonymous client posting bodies nobody can read to an authenticated route, past the budget
    of requests without a valid token (3 here): answered 422 each time, for ever, with no budget spent.
    Holds now: each spends the address's refused-request budget, then 429."""
    client = make_client(ledger, Clock(), refused_burst=3, refused_per_second=0.001)
    for what, body in UNREADABLE.items():
        client.cookies.clear()
        answers = [client.post(route, content=body, headers={"content-type": "application/json"}) for _ in range(4)]
        statuses = [a.status_code for a in answers]
        assert statuses[-1] == 429, (what, statuses)
        assert all(s in (401, 422, 429) for s in statuses), (what, statuses)
        problem_body(answers[-1], 429)
        client = make_client(ledger, Clock(), refused_burst=3, refused_per_second=0.001)


def test_an_unreadable_body_spends_the_signed_in_departments_budget(ledger: Ledger) -> None:
    """Adversary: a signed-in department posting 4 MiB bodies nobody can read to /decisions: its budget was never
    spent. Holds now: each spends one of the department's requests, then 429."""
    code = register(ledger, "RTU", "approver")
    client = make_client(ledger, Clock(), authenticated_burst=4, authenticated_per_second=0.001)
    token = login(client, ledger, code)
    headers = {"content-type": "application/json", **bearer(token)}
    statuses = [client.post("/decisions", content=b"{", headers=headers).status_code for _ in range(5)]
    assert statuses == [422, 422, 422, 422, 429], statuses
    # a readable request still spends once: the budget is not spent twice by the mend
    client = make_client(ledger, Clock(), authenticated_burst=2, authenticated_per_second=0.001)
    token = login(client, ledger, code)
    answer = client.get("/access-log", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    answer = client.get("/access-log", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    problem_body(client.get("/access-log", headers=bearer(token)), 429)


@pytest.mark.parametrize("value", ["20261201", "1700000000", "1700000000000", "0", "-1", "1.5", "253402300800"])
@pytest.mark.parametrize("path", ["/audit/logs/decisions", "/access-log"])
def test_a_number_is_not_taken_for_a_listings_time(ledger: Ledger, path: str, value: str) -> None:
    """Adversary: an auditor (or a department reading its access log) writing a compact date or a Unix time for
    ``since``/``until``: read as seconds (or milliseconds past 2e10) since 1970, a window nobody asked for, listed
    without a word. Holds now: 422 naming the parameter and the form to give."""
    client = make_client(ledger, Clock())
    code = register(ledger, "RTW", "auditor")
    token = login(client, ledger, code)
    for key in ("since", "until"):
        answer = client.get(f"{path}?{key}={quote(value)}", headers=bearer(token))
        body = problem_body(answer, 422)
        assert key in body["detail"] and "ISO 8601" in body["detail"] and "2026-" in body["detail"], body
    good = client.get(f"{path}?since=2026-12-01T00:00:00Z&until=2026-12-02T00:00:00%2B08:00", headers=bearer(token))
    assert good.status_code == 200, good.text


@pytest.mark.parametrize("value", ["", " ", "2026-W01", "0x10", "inf", "20260101T000000Z", "2026-001T00:00:00Z"])
def test_a_listings_time_of_another_shape_is_answered_with_the_form_to_give(ledger: Ledger, value: str) -> None:
    """Adversary: the same reader writing another shape of time: answered 422 "input is too short" or "invalid
    date separator", which does not say what to give. Holds now: the answer names the ISO 8601 form."""
    client = make_client(ledger, Clock())
    token = login(client, ledger, register(ledger, "RTS", "auditor"))
    for path in ("/audit/logs/decisions", "/access-log"):
        body = problem_body(client.get(f"{path}?until={quote(value)}", headers=bearer(token)), 422)
        assert "until" in body["detail"] and "ISO 8601" in body["detail"] and "2026-" in body["detail"], body
    for good in (
        "2026-12-01T00:00:00Z",
        "2026-12-01 08:00:00+08:00",
        "2026-12-01T00:00Z",
        "2026-12-01T00:00:00.5-05:00",
    ):
        answer = client.get(f"/access-log?since={quote(good)}", headers=bearer(token))
        assert answer.status_code == 200, (good, answer.text)


def test_an_officers_decision_dated_after_its_anchoring_fails_in_both_bundle_verifiers(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an insider appending an officer's decision stating next year (the library refuses such a time
    when recording, not when it is written past it), anchored now, its bundle handed to a court: replay reports it
    (anchored_late, rt35), but the bundle checks bounded an automatic decision's decided_at by its anchoring block
    (certificate_facts) and an officer's by nothing, so the library and the court's verifier both passed it.
    Holds now: both fail ``rerun``, the check an officer's decision gets, naming the anchoring block."""
    dept = fresh_department
    model = officer_decision(ledger, dept, "C-RT36-MODEL", "applicant-rt36f", "reject", "OFFICER_FOUND_FRAUD")
    later = datetime.now(UTC) + timedelta(days=365)
    body = dict(
        model.body, case_id="C-RT36-AHEAD", decided_at=later.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
    logchain.append(ledger, logchain.LOG_DECISIONS, dept, body)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    for _ in range(ledger.settings.confirmations + 1):
        ledger.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    report, _, _result = both(ledger, evidence.decision_bundle(ledger, dept, "C-RT36-AHEAD"), tmp_path)
    assert {c.name for c in report.failed} == {"rerun"}, report.to_json()
    assert "after it was anchored in block" in next(c.detail for c in report.failed), report.to_json()
    # the officer's decision taken now passes both, as before
    report, _, _ = both(ledger, evidence.decision_bundle(ledger, dept, "C-RT36-MODEL"), tmp_path, "model.json")
    assert report.ok, report.to_json()


def test_a_node_answering_the_facts_block_as_its_head_gets_the_same_verdict_from_both_verifiers(
    ledger: Ledger, world: World, tmp_path: Path
) -> None:
    """Adversary: a department recording an approval taken after the cited licence's revocation on the facts of the
    block before it, its node answering the facts block as its head to every reader (round 34a's lagging replica,
    from the first question on): the library read the block after it (its anchoring is later) and failed
    ``certificate_facts``; the court's verifier read the next block only below the head it was told, and passed
    ``certificate_facts`` (failing ``confirmations`` alone). Holds now: both fail the same checks."""
    block, _, bundle = decided_after_revocation(ledger, world, "RT36-HEAD", 1)

    def intercept(request: dict[str, Any]) -> bytes | None:
        if request.get("method") != "eth_blockNumber":
            return None
        return json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": hex(block)}).encode()

    proxy = RpcProxy(rpc_url(ledger), intercept=intercept)
    honest = ledger.chain
    ledger.chain = Chain(connect(proxy.url), honest.deployment, gas_price=0, artifacts=honest.artifacts)
    try:
        path = tmp_path / "low-head.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        report = evidence.verify_bundle(path, ledger.chain)
        code, result, stderr = standalone(ledger, path, "--rpc", proxy.url)
        assert code == 1, result
        assert result is not None, stderr
        assert "certificate_facts" in {c.name for c in report.failed}, report.to_json()
        assert failed_names(result) == {c.name for c in report.failed}, (report.to_json(), result)
    finally:
        ledger.chain = honest
        proxy.server.shutdown()


@pytest.mark.parametrize("below", ["facts block", "licence"])
def test_a_node_whose_head_falls_below_the_facts_block_after_the_first_question_gets_one_verdict(
    ledger: Ledger, world: World, tmp_path: Path, below: str
) -> None:
    """Adversary: a node (or a lagging replica behind a load balancer) answering the real head to the first question
    and a head below an honest decision's facts block afterwards: the court's verifier reads the head once and
    judges the rest against it; the library read it again for the facts block and failed ``certificate_facts``
    ("this chain does not have" the block), so the two gave the bundle different verdicts. Holds now: the library
    judges the facts block against the head its bundle check read once, as the court's verifier does."""
    case = f"RT36-LAG-{below[0]}"
    honest_decision = world.decide(case, 0)
    block = honest_decision.body["as_of_block"]
    lower = block - 1 if below == "facts block" else world.licences[0]["anchor"]["block_number"] - 1
    for _ in range(ledger.settings.confirmations + 1):
        ledger.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    bundle = world.bundle(case, 0)
    asked: list[Any] = []

    def intercept(request: dict[str, Any]) -> bytes | None:
        if request.get("method") != "eth_blockNumber":
            return None
        asked.append(request)
        if len(asked) == 1:
            return None
        return json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": hex(lower)}).encode()

    proxy = RpcProxy(rpc_url(ledger), intercept=intercept)
    honest = ledger.chain
    ledger.chain = Chain(connect(proxy.url), honest.deployment, gas_price=0, artifacts=honest.artifacts)
    try:
        path = tmp_path / "lagging.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        report = evidence.verify_bundle(path, ledger.chain)
        asked.clear()
        code, result, stderr = standalone(ledger, path, "--rpc", proxy.url)
        assert result is not None, stderr
        assert failed_names(result) == {c.name for c in report.failed}, (report.to_json(), result)
        assert (code == 0) == report.ok, (report.to_json(), result)
        assert "certificate_facts" not in failed_names(result), result
    finally:
        ledger.chain = honest
        proxy.server.shutdown()
