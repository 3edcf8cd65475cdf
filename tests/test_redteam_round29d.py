"""Red team, round 29d: one lying number, unbounded work (the open row of round 29a).

The chain's operator (or whoever answers at the node's URL) claims a head far beyond the real one and answers
``[]`` for every range of logs. Each reader that reads a range of blocks up to the head kept asking: the library's
evidence check scanned for the anchoring event from the deployment to the head in ``LEDGER_LOG_SPAN`` ranges (10^8
requests for a head of 2^40), the court's verifier read the issuer's status stream in 50,000-block ranges up to it
(2x10^7), the gateway's status index synced towards it. Now:

* a head beyond what the contracts can record (they keep block numbers in 32 bits) is not believed, by the library
  (``Chain.block_number``, and any scan's end) and by the court's verifier;
* a scan of more than a few ranges first asks the node for the block at its end: a node that cannot produce the
  head it claimed is not believed;
* the library finds the anchoring of a batch (a decision's log range, a rule set's publication) from the contract's
  own record of it and reads the logs of that one block, as the court's verifier reads them in one request.

The proxy in front of the real anvil stops answering logs after ``TRIPWIRE`` requests, so the unfixed readers fail
these tests instead of running for days.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.onchain.chain import Chain, connect
from ledger.services import evidence
from ledger.services.verify import ChainView, verify_certificate

from .conftest import make_records
from .evidence_support import SCRIPT_MODULE, decided, issue, rpc_url
from .rpc_proxy import RpcProxy

TRIPWIRE = 200
"""eth_getLogs requests after which the hostile node answers an error: far more than any reader may ask."""

BOUND = 40
"""eth_getLogs requests a reader may ask of a node claiming an absurd head (the honest path asks a handful)."""

NOT_BELIEVABLE = "not believable"


class _LyingNode(RpcProxy):
    """A node claiming head ``claimed`` and answering ``[]`` for every range of logs (an error past the
    tripwire); everything else is the real anvil's answer."""

    def __init__(self, upstream: str, claimed: int) -> None:
        self.logs = 0

        def intercept(request: dict[str, Any]) -> bytes | None:
            method = request.get("method")
            if method == "eth_blockNumber":
                return self._answer(request, hex(claimed))
            if method == "eth_getLogs":
                self.logs += 1
                if self.logs > TRIPWIRE:
                    error = {"code": -32000, "message": "tripwire: the reader keeps scanning"}
                    return json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "error": error}).encode()
                return self._answer(request, [])
            return None

        super().__init__(upstream, intercept=intercept)

    @staticmethod
    def _answer(request: dict[str, Any], result: Any) -> bytes:
        return json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": result}).encode()


def _via(ledger: Ledger, url: str) -> Chain:
    return Chain(connect(url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)


def _court(path: Path, url: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = SCRIPT_MODULE.main([str(path), "--rpc", url, "--json"])
    return code, json.loads(out.getvalue())


# a head the contracts cannot record, and one they can but the node has no block for
CLAIMS = {"2^40": 2**40, "2^31 (no such block)": 2**31}


@pytest.fixture(scope="module")
def certificate(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    tmp = tmp_path_factory.mktemp("r29d")
    (doc,) = issue(ledger, tmp, "MKT", make_records(1))
    path = tmp / "bundle.json"
    path.write_text(json.dumps(evidence.certificate_bundle(ledger, doc)), encoding="utf-8")
    return doc, path


@pytest.mark.parametrize("claim", list(CLAIMS))
def test_the_evidence_verifiers_do_not_scan_towards_a_lying_head(
    ledger: Ledger, certificate: tuple[dict[str, Any], Path], claim: str
) -> None:
    """Both evidence verifiers end at once with a failure saying the node is not believed, and agree."""
    _doc, path = certificate
    with _LyingNode(rpc_url(ledger), CLAIMS[claim]) as node:
        checked = evidence.verify_bundle(path, _via(ledger, node.url))
        library_logs = node.logs
        assert library_logs <= BOUND, (claim, library_logs)
        assert not checked.ok and NOT_BELIEVABLE in json.dumps(checked.to_json()), (claim, checked.to_json())
    with _LyingNode(rpc_url(ledger), CLAIMS[claim]) as node:
        code, court = _court(path, node.url)
        assert node.logs <= BOUND, (claim, node.logs)
        assert code == 1 and not court["verified"], (claim, court)
        assert NOT_BELIEVABLE in json.dumps(court), (claim, court)


def test_a_decision_bundle_is_not_scanned_for_towards_a_lying_head(ledger: Ledger, tmp_path: Path) -> None:
    """The decision's anchoring and its rule set's publication are found from the log contract's records."""
    _rules, apps = decided(ledger, "INS", 1)
    path = tmp_path / "decision.json"
    path.write_text(json.dumps(evidence.decision_bundle(ledger, "INS", apps[0]["case_id"])), encoding="utf-8")
    for claim, head in CLAIMS.items():
        with _LyingNode(rpc_url(ledger), head) as node:
            checked = evidence.verify_bundle(path, _via(ledger, node.url))
            assert node.logs <= BOUND, (claim, node.logs)
            assert not checked.ok and NOT_BELIEVABLE in json.dumps(checked.to_json()), (claim, checked.to_json())
        with _LyingNode(rpc_url(ledger), head) as node:
            code, court = _court(path, node.url)
            assert node.logs <= BOUND, (claim, node.logs)
            assert code == 1 and not court["verified"], (claim, court)


def test_the_status_index_and_a_verification_do_not_sync_towards_a_lying_head(
    ledger: Ledger, certificate: tuple[dict[str, Any], Path]
) -> None:
    """The gateway's view (its head refresher hands it the head it read itself) and a plain verification."""
    doc, _path = certificate
    for claim, head in CLAIMS.items():
        with _LyingNode(rpc_url(ledger), head) as node:
            view = ChainView(_via(ledger, node.url))
            with pytest.raises(ChainError, match=NOT_BELIEVABLE):
                view.refresh(head)  # api/head.py reads eth_blockNumber itself and hands the number over
            with pytest.raises(ChainError, match=NOT_BELIEVABLE):
                view.sync()
            report = verify_certificate(doc, ChainView(_via(ledger, node.url)))
            assert not report.ok, (claim, report.to_json())
            assert node.logs <= BOUND, (claim, node.logs)


def test_the_honest_node_still_verifies_everywhere_and_the_anchoring_is_read_from_one_block(
    ledger: Ledger, certificate: tuple[dict[str, Any], Path]
) -> None:
    doc, path = certificate
    with RpcProxy(rpc_url(ledger)) as node:
        chain = _via(ledger, node.url)
        checked = evidence.verify_bundle(path, chain)
        assert checked.ok, checked.to_json()
        anchored = json.loads(path.read_text(encoding="utf-8"))["anchor"]["block_number"]
        lookups = [json.loads(b) for b in node.bodies if b"eth_getLogs" in b and b"fromBlock" in b]
        # the anchoring event is read from the block the contract records, not looked for from the deployment
        assert any(
            int(q["params"][0]["fromBlock"], 16) == int(q["params"][0]["toBlock"], 16) == anchored for q in lookups
        ), lookups
        assert verify_certificate(doc, ChainView(chain)).ok
        view = ChainView(chain)
        # the embedded node also mines a block a second: the head read is the node's head at some moment of the call
        before = ledger.chain.block_number()
        assert before <= view.refresh() <= ledger.chain.block_number()
        code, court = _court(path, node.url)
        assert code == 0 and court["verified"], court
