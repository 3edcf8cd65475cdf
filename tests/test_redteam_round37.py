"""Red team, round 37: replay's workers read block times without web3 (replay6), and a hostile node.

A replay worker asks the node for block timestamps with its own small reader (``_node_http.BlockTimes``); the
replaying process (``workers=0``) asks web3's ``get_block``. Both check an answer's shape (``_checked``), but
neither checked that the block answered is the block asked for, nor that its timestamp is one a date can hold:

* a node answering ``eth_getBlockByNumber(N)`` with block N+1 moved every decision moment judged by block N's time
  (a decision's facts block "was the head at decided_at", its anchoring deadline) by one block, silently;
* a timestamp of 64 hex digits passed the shape check and then made replay's report text
  (``datetime.fromtimestamp``) raise OverflowError: the replay stopped with a traceback instead of a finding.

Now such an answer is the node's error (NodeAnswerError, a chain read failure), on both paths alike, so the
one-process and the pooled replay see the same. The replaying process also reads a block time from the same raw
checked answer as a worker (web3's block formatter refused blocks the worker read), and a worker asks a block again
after a transient failure as web3's provider does. Tried and holding: an attested erasure entry edited after its
anchoring (reported alike with and without workers); a forged token on an unreadable body (rt36: the sender's
refused-request budget is spent, not the department's it names).

Real anvil, real database (SQLite, or PostgreSQL with LEDGER_TEST_DATABASE_URL), the gateway in process; no mocks.
"""

from __future__ import annotations

import io
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.onchain._node_http import BlockTimes, NodeAnswerError
from ledger.onchain.chain import Chain, connect

from .api_support import Clock, bearer, login, make_client, problem_body, register
from .rpc_proxy import Intercept, RpcProxy


def _upstream(ledger: Ledger) -> str:
    return str(ledger.chain.w3.provider.endpoint_uri)


def _ask(url: str, method: str, params: list[Any]) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["result"]


def _another_block(upstream: str) -> Any:
    """A node answering block N+1 when asked for block N (a real block of the chain, well formed)."""

    def rewrite(method: str, params: Any, answer: Any) -> Any:
        if method == "eth_getBlockByNumber" and isinstance(params, list) and str(params[0]).startswith("0x"):
            answer["result"] = _ask(upstream, method, [hex(int(params[0], 16) + 1), False])
        return answer

    return rewrite


def _huge_timestamp(method: str, params: Any, answer: Any) -> Any:
    if method == "eth_getBlockByNumber" and isinstance(answer.get("result"), dict):
        answer["result"]["timestamp"] = "0x" + "f" * 64
    return answer


@pytest.fixture
def mined(ledger: Ledger) -> int:
    """A block with a successor on the chain (anvil mines on demand)."""
    ledger.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    ledger.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    return ledger.chain.block_number() - 1


def _via(ledger: Ledger, url: str) -> Chain:
    return Chain(connect(url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)


@pytest.fixture
def another_block(ledger: Ledger) -> Iterator[RpcProxy]:
    with RpcProxy(_upstream(ledger), rewrite=_another_block(_upstream(ledger))) as proxy:
        yield proxy


@pytest.fixture
def huge_timestamp(ledger: Ledger) -> Iterator[RpcProxy]:
    with RpcProxy(_upstream(ledger), rewrite=_huge_timestamp) as proxy:
        yield proxy


def test_a_workers_block_time_of_another_block_is_the_nodes_error(another_block: RpcProxy, mined: int) -> None:
    reader = BlockTimes(another_block.url)
    try:
        with pytest.raises(NodeAnswerError, match="another block"):
            reader.timestamp(mined)
    finally:
        reader.close()


def test_the_chain_clients_block_of_another_number_is_the_nodes_error(
    ledger: Ledger, another_block: RpcProxy, mined: int
) -> None:
    chain = _via(ledger, another_block.url)
    with pytest.raises(NodeAnswerError, match="another block"):
        chain.w3.eth.get_block(mined)


def test_a_block_time_no_date_can_hold_is_the_nodes_error_on_both_paths(
    ledger: Ledger, huge_timestamp: RpcProxy, mined: int
) -> None:
    reader = BlockTimes(huge_timestamp.url)
    try:
        with pytest.raises(NodeAnswerError, match="timestamp"):
            reader.timestamp(mined)
    finally:
        reader.close()
    with pytest.raises(NodeAnswerError, match="timestamp"):
        _via(ledger, huge_timestamp.url).w3.eth.get_block(mined)


def test_the_honest_node_still_answers_both_paths_alike(ledger: Ledger, mined: int) -> None:
    with RpcProxy(_upstream(ledger)) as proxy:
        reader = BlockTimes(proxy.url)
        try:
            for number in (0, mined, mined + 1):
                assert reader.timestamp(number) == int(_via(ledger, proxy.url).w3.eth.get_block(number)["timestamp"])
            assert reader.timestamp(mined + 10_000) is None
            latest = _via(ledger, proxy.url).w3.eth.get_block("latest")
            assert latest["number"] >= mined + 1
        finally:
            reader.close()


def _odd_miner(method: str, params: Any, answer: Any) -> Any:
    """A block well formed where the ledger's answer check looks (number, hashes, timestamp), its miner not an
    address: web3's block formatter refuses it, the worker's reader never looks."""
    if method == "eth_getBlockByNumber" and isinstance(answer.get("result"), dict):
        answer["result"]["miner"] = "0x12"
    return answer


def test_a_block_time_is_the_same_answer_in_the_replaying_process_and_a_worker(ledger: Ledger, mined: int) -> None:
    """replay's ``_Facts.block_time``: web3's in the replaying process (``workers=0``), ``BlockTimes`` in a
    worker. A node giving a block a field web3 refuses made the one None ("this chain does not have" the block:
    ``facts_block_invalid``) and the other the timestamp: one history, two replay reports."""
    from ledger.services import replay

    with RpcProxy(_upstream(ledger), rewrite=_odd_miner) as proxy:
        chain = _via(ledger, proxy.url)
        honest = int(ledger.chain.w3.eth.get_block(mined)["timestamp"])
        reader = BlockTimes(proxy.url)
        try:
            in_worker = replay._Facts(ledger, block_time=reader.timestamp).block_time(mined)
        finally:
            reader.close()
        one_process = replay._Facts(_WithChain(ledger, chain)).block_time(mined)  # type: ignore[arg-type]
    assert one_process == in_worker == honest


class _WithChain:
    """``ledger`` reading the chain through ``chain`` (the hostile node's), for ``_Facts``."""

    def __init__(self, ledger: Ledger, chain: Chain) -> None:
        self.settings, self.engine, self.chain = ledger.settings, ledger.engine, chain


def _replay_json(report: Any) -> dict[str, Any]:
    out = report.to_json()
    out.pop("seconds")
    out.pop("as_of_block")
    return out  # type: ignore[no-any-return]


def test_an_erasure_entry_edited_after_anchoring_is_reported_alike_with_and_without_workers(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an insider with database access. A pooled replay's workers take the attested erasures the
    replaying process read (replay6), a one-process replay reads its own: an erasure entry edited after its
    anchoring (no longer attested) must leave a decision citing the erased licence reported the same by both, and
    the honest history clean in both."""
    from sqlalchemy import text

    from ledger.services import decisions, erasure, issuance, logchain
    from ledger.services.replay import replay

    from .conftest import make_records, write_jsonl
    from .decision_support import application, unique_rule_set

    rules = unique_rule_set(f"rt37-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / "l.jsonl", make_records(1)), "MKT", out=out)
    licence = json.loads(out.getvalue())
    app = application("C-RT37-ERASE", licence["digest"])
    decisions.decide(
        ledger,
        fresh_department,
        app["case_id"],
        app["service_item"],
        app,
        rules,
        applicant_ref=licence["fields"]["subject.credit_code"],
    )
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    erasure.erase(ledger, licence["digest"], basis="consent-withdrawn", by="officer-rt37")
    logchain.anchor_pending(ledger, logchain.LOG_ERASURES, "MKT")

    alone, pooled = (
        replay(ledger, department=fresh_department, workers=0),
        replay(ledger, department=fresh_department, workers=1),
    )
    assert alone.ok and pooled.ok, alone.summary() + pooled.summary()
    assert _replay_json(alone) == _replay_json(pooled)

    where = "log=:l AND department_id='MKT' AND body LIKE :d"
    params = {"l": logchain.LOG_ERASURES, "d": f"%{licence['digest']}%"}
    with ledger.engine.connect() as conn:
        (body,) = conn.execute(text(f"SELECT body FROM logentry WHERE {where}"), params).one()
    edited = body.replace("consent-withdrawn", "court-order")
    assert edited != body
    with ledger.engine.begin() as conn:
        conn.execute(text(f"UPDATE logentry SET body=:b WHERE {where}"), {**params, "b": edited})
    try:
        alone, pooled = (
            replay(ledger, department=fresh_department, workers=0),
            replay(ledger, department=fresh_department, workers=1),
        )
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(text(f"UPDATE logentry SET body=:b WHERE {where}"), {**params, "b": body})
    assert not alone.ok, alone.summary()
    assert _replay_json(alone) == _replay_json(pooled)


def _first_block_read_refused() -> Intercept:
    """A node behind a load balancer that answers HTTP 503 to the first request for each block (then the node's
    answer): a transient failure web3's provider asks again after, as it does for every read it deems safe."""
    seen: set[str] = set()

    def intercept(request: dict[str, Any]) -> int | None:
        key = json.dumps(request.get("params"))
        if request.get("method") == "eth_getBlockByNumber" and key not in seen:
            seen.add(key)
            return 503
        return None

    return intercept


def test_a_transient_node_failure_is_asked_again_by_a_worker_as_by_the_replaying_process(
    ledger: Ledger, mined: int
) -> None:
    """web3's provider asks a block again after an HTTP error or a timeout (5 tries); a worker's ``BlockTimes``
    asked once, so a node's one 503 made a pooled replay report the block "which this chain does not have"
    (``facts_block_invalid``) where ``workers=0`` judged it by its time."""
    from ledger.services import replay

    honest = int(ledger.chain.w3.eth.get_block(mined)["timestamp"])
    with RpcProxy(_upstream(ledger), intercept=_first_block_read_refused()) as node:
        reader = BlockTimes(node.url)
        try:
            in_worker = replay._Facts(ledger, block_time=reader.timestamp).block_time(mined)
        finally:
            reader.close()
        chain = _via(ledger, node.url)
        one_process = replay._Facts(_WithChain(ledger, chain)).block_time(mined + 1)  # type: ignore[arg-type]
        assert one_process == int(ledger.chain.w3.eth.get_block(mined + 1)["timestamp"])
    assert in_worker == honest


def test_a_forged_token_on_an_unreadable_body_spends_the_senders_budget_not_the_departments(ledger: Ledger) -> None:
    """Adversary: an anonymous client that knows a department's token shape (its claims are readable) sends bodies
    nobody can read with a forged token naming the department (rt36 counts such a refusal when it happens): if the
    claimed department's budget were spent, the client would lock the department out of the gateway. Holds: the
    sender's address's refused-request budget is spent, the department's is untouched."""
    code = register(ledger, "RTV", "approver")
    client = make_client(
        ledger,
        Clock(),
        refused_burst=3,
        refused_per_second=0.001,
        authenticated_burst=2,
        authenticated_per_second=0.001,
    )
    token = login(client, ledger, code)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    headers = {"content-type": "application/json", **bearer(forged)}
    statuses = [client.post("/decisions", content=b"{", headers=headers).status_code for _ in range(4)]
    assert statuses[-1] == 429 and all(s in (401, 422, 429) for s in statuses), statuses
    for _ in range(2):  # the department's own two requests are still there
        answer = client.get("/access-log", headers=bearer(token))
        assert answer.status_code == 200, answer.text
    problem_body(client.get("/access-log", headers=bearer(token)), 429)
