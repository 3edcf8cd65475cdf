"""Red team round 82: the chain's operator and a hostile department against this session's proofs (the certificate's
own slots, ev1/ev2; the issuer's registry history, reg1).

1. The chain's operator hiding an end through another root. A digest its department anchored again is the same
   certificate, and an end (revocation, supersession) under one of its roots holds under every other
   (``endedUnder``, red team rounds 42 and 46). A witnessed bundle built under the direct lookup proves the
   certificate's ``ended`` slot at the cosigned block; both verifiers only named it in ``witnessed``'s detail
   ("anchored again") and judged "status now" from the node's ``endedUnder`` answer, which the operator answers
   with zero: a certificate revoked through its other root was reported valid, the proof saying otherwise in the
   same bundle. An end is never undone, so a proven end elsewhere fails ``status`` whatever the node says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak

from ledger.client import Ledger
from ledger.onchain.chain import Chain, connect
from ledger.services import evidence, status

from .conftest import PASSPHRASE, make_records
from .evidence_support import issue, rpc_url, standalone
from .foundation_support import reanchored
from .rpc_proxy import RpcProxy
from .witness_support import trusted_witness

ENDED_UNDER = "0x" + keccak(text="endedUnder(bytes32,bytes32)")[:4].hex()


@pytest.fixture()
def passphrases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")


def _asks_ended_under(method: Any, params: Any) -> bool:
    call = params[0] if method == "eth_call" and isinstance(params, list) and params else {}
    return isinstance(call, dict) and str(call.get("data", call.get("input", ""))).lower().startswith(ENDED_UNDER)


def _no_end_elsewhere(method: str, params: Any, answer: Any) -> Any:
    """The operator's node: every ``endedUnder`` call answered "never ended"."""
    return {**answer, "result": "0x" + "00" * 32} if _asks_ended_under(method, params) else answer


def _no_end_elsewhere_batch(request: list[Any], answers: list[Any]) -> list[Any]:
    """The same lie inside a JSON-RPC batch (the library asks ``endedUnder`` and ``heldUnder`` in one)."""
    lied = {r.get("id") for r in request if _asks_ended_under(r.get("method"), r.get("params"))}
    return [{**a, "result": "0x" + "00" * 32} if a.get("id") in lied else a for a in answers]


def test_an_end_through_another_root_proven_in_the_bundle_fails_status_whatever_the_node_answers(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: the chain's operator (a node answering ``endedUnder`` with zero) and whoever hands the court the
    copy's bundle. The department anchored the certificate again and revoked it through its first root; the copy's
    direct-lookup bundle proves ``ended`` = that root at the cosigned block. Both verifiers fail ``status`` naming the
    root, under the honest node and under the lying one (before: passed "valid now" under the lying one)."""
    (document,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    again = reanchored(ledger, fresh_department, document)
    status.revoke(ledger, document["digest"], "fraud", department=fresh_department)
    first_root = document["anchor"]["root"].lower()
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = evidence.certificate_bundle(ledger, again, status_lookup="direct")
        assert "certificate" in bundle["witness"]["state"], sorted(bundle["witness"]["state"])
        assert bundle["status"]["status"] == "valid"  # as of: under the copy's own root nothing happened
        path = tmp_path / "copy.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        for rewrite in (None, _no_end_elsewhere):
            batch = _no_end_elsewhere_batch if rewrite else None
            with RpcProxy(rpc_url(ledger), rewrite=rewrite, rewrite_batch=batch) as node:
                chain = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
                report = evidence.verify_bundle(path, chain, witness_keys=[key], status_lookup="direct")
                code, answer, stderr = standalone(
                    ledger, path, "--witness-key", key, "--status-lookup", "direct", rpc=node.url
                )
            assert answer is not None, stderr
            court = {c["name"]: (c["result"], c["detail"]) for c in answer["checks"]}
            name = "lying" if rewrite else "honest"
            library = report.check("status")
            if rewrite:
                assert node.saw(ENDED_UNDER), "the lie was never told"
            assert not library.ok and first_root in library.detail.lower(), (name, library)
            assert court["status"][0] == "FAIL" and first_root in court["status"][1].lower(), (name, court["status"])
            assert report.check("witnessed").ok and court["witnessed"][0] == "PASS", (name, report.to_json(), court)
            assert code == 1
