"""One scan policy for eth_getLogs (ledger.onchain.chainread).

Adversary: a public RPC provider, which refuses an eth_getLogs range wider than it allows (and any scan from
block 0 of a long chain). A proxy in front of the real anvil node plays it: it forwards every request and answers
a too-wide eth_getLogs with the error such providers give. Scans chunked to the provider's span return every
event, in chain order; a scan it refuses surfaces as a ChainError that says what to change.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.config import Settings
from ledger.errors import ChainError, ConfigError
from ledger.formats.certificate import validate_record
from ledger.onchain import chainread
from ledger.onchain.chain import Chain, connect, department_id_bytes
from ledger.services.issuance import issue_records

from .conftest import make_records
from .rpc_proxy import RpcProxy

PROVIDER_SPAN = 3


class _Provider(RpcProxy):
    """A JSON-RPC proxy to ``upstream`` that refuses eth_getLogs over more than ``span`` blocks, like public
    providers do, and counts the eth_getLogs requests it forwarded."""

    def __init__(self, upstream: str, span: int) -> None:
        self.span, self.log_requests, self.refused = span, 0, 0
        super().__init__(upstream, intercept=self.refusal)

    def refusal(self, request: dict[str, Any]) -> bytes | None:
        if request.get("method") != "eth_getLogs":
            return None
        params = request["params"][0]
        low, high = params.get("fromBlock"), params.get("toBlock")
        if (
            not (isinstance(low, str) and isinstance(high, str) and low.startswith("0x") and high.startswith("0x"))
            or int(high, 16) - int(low, 16) + 1 > self.span
        ):
            self.refused += 1
            error = {"code": -32005, "message": f"query exceeds max block range {self.span}"}
            return json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "error": error}).encode()
        self.log_requests += 1
        return None


@pytest.fixture()
def provider(ledger: Ledger) -> Iterator[_Provider]:
    proxy = _Provider(str(ledger.chain.w3.provider.endpoint_uri), PROVIDER_SPAN)  # type: ignore[attr-defined]
    yield proxy
    proxy.close()


def _chain_via(ledger: Ledger, url: str, span: int) -> Chain:
    return Chain(
        connect(url),  # as the ledger connects
        ledger.chain.deployment,
        gas_price=0,
        artifacts=ledger.chain.artifacts,
        log_span=span,
    )


def _issue_batch(ledger: Ledger, department: str) -> str:
    records = [validate_record(r, i + 1, department=department) for i, r in enumerate(make_records(2))]
    return issue_records(ledger, records, department, out=io.StringIO()).batches[0]


def test_a_scan_wider_than_the_span_returns_every_event_in_order(
    ledger: Ledger, fresh_department: str, provider: _Provider
) -> None:
    start = ledger.chain.block_number() + 1
    first = _issue_batch(ledger, fresh_department)
    ledger.chain.w3.provider.make_request("anvil_mine", [2 * PROVIDER_SPAN])  # type: ignore[arg-type]
    second = _issue_batch(ledger, fresh_department)
    ledger.chain.w3.provider.make_request("anvil_mine", [PROVIDER_SPAN])  # type: ignore[arg-type]
    end = ledger.chain.block_number()
    assert end - start + 1 > 3 * PROVIDER_SPAN
    chain = _chain_via(ledger, provider.url, PROVIDER_SPAN)
    logs = chainread.scan(
        chain,
        chain.anchor.events.BatchAnchored,
        what="test anchors",
        start=start,
        end=end,
        argument_filters={"departmentId": department_id_bytes(fresh_department)},
    )
    assert ["0x" + bytes(log["args"]["root"]).hex() for log in logs] == [first, second]
    assert provider.refused == 0 and provider.log_requests == -(-(end - start + 1) // PROVIDER_SPAN)
    events = [chainread.BatchAnchored.from_log(log) for log in logs]
    assert [e.root for e in events] == [first, second] and all(e.count == 2 for e in events)
    assert events[0].block_number < events[1].block_number and events[1].block_number - events[0].block_number > 1


def test_a_scan_never_starts_before_the_deployment_block(ledger: Ledger, provider: _Provider) -> None:
    deployed = ledger.chain.deployment.deployed_block
    chain = _chain_via(ledger, provider.url, PROVIDER_SPAN)
    chainread.scan(
        chain, chain.anchor.events.BatchAnchored, what="test anchors", start=0, end=deployed + PROVIDER_SPAN - 1
    )
    assert provider.log_requests == 1 and provider.refused == 0  # not (deployed + span) / span requests


def test_the_library_reads_through_the_layer(ledger: Ledger, fresh_department: str, provider: _Provider) -> None:
    """A library read (the governance history, from the deployment block to the head) through a provider that
    refuses wide ranges works when the span fits it."""
    from ledger.services.council import governance_history

    chain = _chain_via(ledger, provider.url, 10**6)
    with pytest.raises(ChainError):
        governance_history(chain)
    span = max(PROVIDER_SPAN, (ledger.chain.block_number() - ledger.chain.deployment.deployed_block) // 40)
    provider.span = span
    chain = _chain_via(ledger, provider.url, span)
    history = governance_history(chain, department=fresh_department)
    assert history == governance_history(ledger.chain, department=fresh_department) and history


def test_a_refused_scan_is_a_chain_error_that_says_what_to_change(ledger: Ledger, provider: _Provider) -> None:
    chain = _chain_via(ledger, provider.url, 10 * PROVIDER_SPAN)
    head = ledger.chain.block_number()
    with pytest.raises(ChainError) as refused:
        chainread.scan(chain, chain.anchor.events.BatchAnchored, what="the anchors", end=head)
    message = str(refused.value)
    assert "could not read the anchors in blocks" in message and "max block range 3" in message
    assert "LEDGER_LOG_SPAN (now 30)" in message
    assert provider.url not in message and refused.value.where == provider.url  # the operator's log only


def test_an_unreachable_node_is_a_chain_error(ledger: Ledger, provider: _Provider) -> None:
    url = provider.url
    provider.server.shutdown()
    provider.server.server_close()
    chain = _chain_via(ledger, url, PROVIDER_SPAN)
    deployed = ledger.chain.deployment.deployed_block
    with pytest.raises(
        ChainError,
        match=r"could not read the status events in blocks .* from the node: the node "
        r"could not be reached \(ConnectionError: Connection refused\)",
    ) as caught:
        chainread.scan_raw(
            chain, {"address": chain.deployment.anchor}, what="the status events", start=deployed, end=deployed + 1
        )
    assert url not in str(caught.value) and caught.value.where == url


def test_the_span_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_LOG_SPAN", "500")
    assert Settings.from_env(tmp_path).log_span == 500
    monkeypatch.setenv("LEDGER_LOG_SPAN", "0")
    with pytest.raises(ConfigError, match="LEDGER_LOG_SPAN=0 must be at least 1"):
        Settings.from_env(tmp_path)
    monkeypatch.delenv("LEDGER_LOG_SPAN")
    assert Settings.from_env(tmp_path).log_span == chainread.DEFAULT_LOG_SPAN
    assert list(chainread.block_ranges(5, 11, 3)) == [(5, 7), (8, 10), (11, 11)]
    assert list(chainread.block_ranges(5, 4, 3)) == []


def test_one_finality_policy() -> None:
    """Counting, caching for good and re-checking all derive from the configured confirmations."""
    assert chainread.Finality(0).counts(100, 100) and not chainread.Finality(3).counts(100, 102)
    assert chainread.Finality(3).counts(100, 103)
    assert chainread.Finality(0).final_upto(100) == 100 - chainread.REORG_MARGIN
    assert chainread.Finality(5).final_upto(100) == 100 - 5 - chainread.REORG_MARGIN  # never shallower than counting
    assert chainread.Finality(0).recheck_window == 256 and chainread.Finality(100).recheck_window == 400
