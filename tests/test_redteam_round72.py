"""Red team, round 72: CertificateAnchor 4.1.0's status trail, attacked where its readers do not reach.

1. Found, fixed (the chain's operator, or a node replica whose log index lags its blocks): the provenance
   timeline (``ledger provenance``, the gateway's timeline page) listed whatever status events the node gave for the
   blocks the contract's status history of the certificate names, unchecked against that history: a made-up
   reinstatement after the last suspension ended the listing with "reinstated" under a status of suspended (round
   61's wrong page again), and a revocation left out listed no revocation under a status of revoked. The listing
   now has to be the history's changes one for one (kind, block, reason or successor), or the timeline is refused.

2. Found, fixed (the same): with the direct lookup (``ledger verify --status-lookup direct``, no index and no
   department stream read) the report's ``replaces`` came from one unchecked ``eth_getLogs`` of the issuer's
   supersessions: a made-up supersession naming the certificate as successor made the report say it replaces a
   certificate it never replaced. Each supersession read is now believed only as the superseded certificate's
   status history on the contract records it (``statusHistory``, one batch for all), else the report fails. Open:
   one left out (the report then names no predecessor; the herd read and the index check the whole stream).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak

from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.onchain.chain import Chain, connect
from ledger.services import provenance, status
from ledger.services.verify import ChainView, verify_certificate

from .conftest import make_records
from .evidence_support import issue, rpc_url
from .rpc_proxy import RpcProxy

SUSPENDED_TOPIC = "0x" + keccak(text="CertificateSuspended(bytes32,bytes32,bytes32,uint8)").hex()
REINSTATED_TOPIC = "0x" + keccak(text="CertificateReinstated(bytes32,bytes32,bytes32,uint8)").hex()
REVOKED_TOPIC = "0x" + keccak(text="CertificateRevoked(bytes32,bytes32,bytes32,uint8)").hex()
SUPERSEDED_TOPIC = "0x" + keccak(text="CertificateSuperseded(bytes32,bytes32,bytes32,bytes32,bytes32)").hex()


def _through(ledger: Ledger, node: RpcProxy) -> Chain:
    return Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)


def _timeline(ledger: Ledger, node: RpcProxy, digest: str) -> dict[str, Any]:
    honest = ledger.chain
    ledger.chain = _through(ledger, node)
    try:
        return provenance.timeline(ledger, digest, now=datetime.now(UTC))
    finally:
        ledger.chain = honest


def _logs(ledger: Ledger, topic: str, digest: str) -> list[dict[str, Any]]:
    answer = ledger.chain.w3.provider.make_request(
        "eth_getLogs",  # type: ignore[arg-type]
        [
            {
                "address": ledger.chain.deployment.anchor,
                "fromBlock": "0x0",
                "toBlock": "latest",
                "topics": [topic, digest],
            }
        ],
    )
    return list(answer["result"])


def _asks_for(params: Any, topic: str, block: int) -> bool:
    """Whether the ``eth_getLogs`` query ``params`` asks for events of ``topic`` (alone or among others) in a range
    holding ``block``."""
    query = params[0] if isinstance(params, list) and params else {}
    first = (query.get("topics") or [None])[0]
    asked = [str(t).lower() for t in first] if isinstance(first, list) else [str(first).lower()]
    return topic in asked and int(query.get("fromBlock", "0x0"), 16) <= block <= int(query["toBlock"], 16)


def test_a_made_up_reinstatement_on_the_timeline_is_refused(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: the chain's operator, answering the timeline's ``eth_getLogs`` for reinstatements in the block
    of the certificate's last suspension with a reinstatement it made up (the suspension's log, retopicked, one
    position later). The status history (``statusHistory``) says suspended; the listing ended with "reinstated"."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.suspend(ledger, target["digest"], "under-investigation")
    (suspension,) = _logs(ledger, SUSPENDED_TOPIC, target["digest"])
    block = int(suspension["blockNumber"], 16)

    def made_up(method: str, params: Any, answer: Any) -> Any:
        if method == "eth_getLogs" and _asks_for(params, REINSTATED_TOPIC, block):
            fake = {**suspension, "topics": [REINSTATED_TOPIC, *suspension["topics"][1:]]}
            answer["result"] = [*answer["result"], {**fake, "logIndex": hex(int(suspension["logIndex"], 16) + 1)}]
        return answer

    with RpcProxy(rpc_url(ledger), rewrite=made_up) as node, pytest.raises(ChainError, match="status history"):
        _timeline(ledger, node, target["digest"])
    honest = provenance.timeline(ledger, target["digest"], now=datetime.now(UTC))
    assert honest["status"] == "suspended"
    assert [e["kind"] for e in honest["events"] if e["source"] == "chain"][-1] == "suspended", honest["events"]


def test_a_revocation_left_out_of_the_timeline_is_refused(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: the chain's operator (or a replica whose log index lags), answering the timeline's
    ``eth_getLogs`` for revocations with nothing: the page said revoked and listed no revocation, its reason or its
    transaction."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.revoke(ledger, target["digest"], "fraud")

    def left_out(method: str, params: Any, answer: Any) -> Any:
        if method == "eth_getLogs" and isinstance(answer.get("result"), list):
            answer["result"] = [log for log in answer["result"] if log["topics"][0].lower() != REVOKED_TOPIC]
        return answer

    with RpcProxy(rpc_url(ledger), rewrite=left_out) as node, pytest.raises(ChainError, match="status history"):
        _timeline(ledger, node, target["digest"])
    honest = provenance.timeline(ledger, target["digest"], now=datetime.now(UTC))
    assert honest["status"] == "revoked"
    assert "revoked" in [e["kind"] for e in honest["events"]], honest["events"]


def test_a_made_up_predecessor_is_refused_by_the_direct_lookup(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: the chain's operator, adding to every ``eth_getLogs`` answer a supersession of another of the
    department's certificates by the one verified (a valid certificate that superseded nothing). With the direct
    lookup the report said it replaces that certificate: ``replaces`` was the only status fact read from unchecked
    logs."""
    target, other = issue(ledger, tmp_path, fresh_department, make_records(2))
    status.suspend(ledger, other["digest"], "under-investigation")  # a real log of the department to dress up
    (suspension,) = _logs(ledger, SUSPENDED_TOPIC, other["digest"])
    data = "0x" + target["digest"].removeprefix("0x") + target["anchor"]["root"].removeprefix("0x")
    fake = {**suspension, "topics": [SUPERSEDED_TOPIC, *suspension["topics"][1:]], "data": data}
    fake["logIndex"] = hex(int(suspension["logIndex"], 16) + 1)

    def made_up(method: str, params: Any, answer: Any) -> Any:
        if method == "eth_getLogs" and _asks_for(params, SUPERSEDED_TOPIC, int(suspension["blockNumber"], 16)):
            answer["result"] = [*answer["result"], fake]
        return answer

    with RpcProxy(rpc_url(ledger), rewrite=made_up) as node:
        report = verify_certificate(target, ChainView(_through(ledger, node), status_lookup="direct"))
    assert "replaces" not in report.to_json()["facts"], report.to_json()
    assert not report.ok and "does not record" in str(report.to_json()), report.to_json()
    honest = verify_certificate(target, ChainView(ledger.chain, status_lookup="direct"))
    assert honest.ok and "replaces" not in honest.to_json()["facts"], honest.to_json()
