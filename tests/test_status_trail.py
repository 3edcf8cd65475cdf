"""Status trails (CertificateAnchor 4.1.0): every reader of status events checks them against the department's trail.

The adversary is the chain's operator (or a node replica whose log index lags its blocks) answering ``eth_getLogs``
with a department's status stream changed, every other answer honest. Round 68 left a revocation out (its tests,
tests/test_redteam_round68.py); these move a suspension to another block within the range read, so that it comes
before the reinstatement it followed, and make up a reinstatement. Before 4.1.0 each made a suspended certificate
valid to every reader that does not name the certificate to the node (the herd read of ``ledger verify`` and
``verify_many``, the gateway's status index, both bundle verifiers); each reader now recomputes the department's
trail from the events it got and refuses a stream that does not reproduce the contract's (``statusTrail``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.onchain import trail
from ledger.onchain.chain import Chain, connect
from ledger.onchain.ids import department_id_bytes
from ledger.services import evidence
from ledger.services.verify import ChainView, verify_certificate, verify_many

from .evidence_support import SUSPENDED_TOPIC, failed_names, made_up_reinstatement, rpc_url, standalone, suspended_again
from .rpc_proxy import RpcProxy


def _of(log: dict[str, Any], digest: str) -> bool:
    return str(log["topics"][1]).lower() == digest.lower()


def _every_reader_refuses(ledger: Ledger, node_url: str, target: dict[str, Any], path: Path) -> None:
    chain = Chain(connect(node_url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
    # the direct lookup names the certificate and reads the contract's state: suspended
    direct = verify_certificate(target, ChainView(chain, status_lookup="direct"))
    assert {c.name for c in direct.failed} == {"status"}, direct.to_json()
    herd = verify_certificate(target, ChainView(chain))  # ledger verify's default
    assert not herd.ok
    assert "status trail" in json.dumps(herd.to_json()), herd.to_json()
    assert not verify_many([target], ChainView(chain))[0].ok
    view = ChainView(chain, ledger.settings.confirmations, max_head_age=3600.0)  # the gateway's, with its index
    with pytest.raises(ChainError, match="status trail"):
        view.refresh()
    assert not evidence.verify_bundle(path, chain).ok
    with pytest.raises(ChainError, match="status trail"):  # replay's and `ledger reconcile`'s chain-wide read
        ChainView(chain).status_events()
    code, result, stderr = standalone(ledger, path, rpc=node_url)
    assert result is not None, stderr
    assert code == 1 and "status" in failed_names(result), result
    assert "status trail" in json.dumps(result), result


def test_a_suspension_moved_before_its_reinstatement_within_the_range_read_is_refused_by_every_reader(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """The chain's operator answers ``eth_getLogs`` with a certificate's last suspension moved to the block of its
    first one, after the department's registration and inside every range read: chain order then puts the
    reinstatement last, and the certificate read valid since it. The trail commits to each change's block and
    order, so the stream no longer hashes to it."""
    target, path, _ = suspended_again(ledger, tmp_path, fresh_department)
    suspensions = [
        int(log["blockNumber"]) for log in ledger.chain.anchor.events.CertificateSuspended.get_logs(from_block=0)
    ]
    first, last = suspensions[-2], suspensions[-1]

    def moved(method: str, _params: Any, answer: Any) -> Any:
        if method == "eth_getLogs" and isinstance(answer.get("result"), list):
            for log in answer["result"]:
                ours = log["topics"][0].lower() == SUSPENDED_TOPIC and _of(log, target["digest"])
                if ours and int(log["blockNumber"], 16) == last:
                    log["blockNumber"] = hex(first)
                    log["logIndex"] = hex(int(log["logIndex"], 16) + 7)  # not two events at one position
        return answer

    with RpcProxy(rpc_url(ledger), rewrite=moved) as node:
        _every_reader_refuses(ledger, node.url, target, path)


def test_a_made_up_reinstatement_is_refused_by_every_reader(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """The chain's operator adds a reinstatement of the suspended certificate, in the block of its last suspension
    after it, to every ``eth_getLogs`` answer holding that suspension: the certificate read valid. No status
    change made it, so the trail does not count it."""
    target, path, _ = suspended_again(ledger, tmp_path, fresh_department)

    made_up = made_up_reinstatement(target["digest"])

    with RpcProxy(rpc_url(ledger), rewrite=made_up) as node:
        _every_reader_refuses(ledger, node.url, target, path)


def test_an_honest_stream_reproduces_every_departments_trail(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """The other side: the trail recomputed from an honest node's events is the contract's, for every department
    of the deployment (whatever the suite made before), and each reader says what the chain says."""
    target, path, _ = suspended_again(ledger, tmp_path, fresh_department)
    stated = trail.stated_all(ledger.chain)
    dept = department_id_bytes(fresh_department)
    assert stated[dept].changes == 3
    events = ChainView(ledger.chain).status_events()  # checked against every department's trail
    assert sum(1 for (d, _, _), *_ in events if d == dept) == 3
    assert {c.name for c in verify_certificate(target, ChainView(ledger.chain)).failed} == {"status"}
    view = ChainView(ledger.chain, ledger.settings.confirmations, max_head_age=3600.0)
    view.refresh()
    assert {c.name for c in verify_many([target], view)[0].failed} == {"status"}
    code, result, stderr = standalone(ledger, path)
    assert result is not None, stderr
    assert code == 1 and failed_names(result) == {"status", "status_statement"}, result
