"""Red team round 86 (witnessed decision bundles): si1's "held the service item at publication" in both verifiers.

* (The chain's operator, its node answering the registry's ``serviceItemHistory`` with no period, witnesses honest)
  a witnessed decision bundle proves its rule set's publication at the cosigned block (ev4's ``witness.state.log``:
  department, service item and block), and BatchLog 3.0.0 refuses a publication of an item the department does not
  hold. Both verifiers then ask the node for the department's item periods and fail ``rule_set_published`` saying the
  department "did not hold the service item the rule set was published for ... the council had not made it
  responsible": on the node's unproven word, the court reads an honest department's decision as one taken outside its
  authority, and nothing says the answer was the node's (severity low: no decision passes that should fail, but the
  verdict blames the department for the operator's lie). Then open (the bundle's registry proof carried keys,
  statuses and type periods only); fixed since (ip1): it carries the department's ``_itemHistory`` too, and both
  verifiers hold the node's answer to it, failing ``rule_set_published`` with "do not trust this node".
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak

from ledger.client import Ledger
from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER, ROLE_VERIFIER, Chain, connect
from ledger.services import evidence
from ledger.services.departments import Council

from .conftest import PASSPHRASE, TEST_ITEMS, TEST_TYPES
from .evidence_support import decided, rpc_url, standalone
from .rpc_proxy import RpcProxy
from .witness_support import trusted_witness

SERVICE_ITEM_HISTORY = "0x" + keccak(text="serviceItemHistory(bytes32)")[:4].hex()
NO_PERIODS = "0x" + f"{32:064x}{0:064x}"  # an ABI (bytes32,uint64,uint64)[] of no element


def _no_periods(method: str, params: Any, result: Any) -> Any:
    call = params[0] if method == "eth_call" and isinstance(params, list) and params else {}
    data = str(call.get("data", call.get("input", ""))).lower() if isinstance(call, dict) else ""
    return NO_PERIODS if data.startswith(SERVICE_ITEM_HISTORY) else result


def _rewrite(method: str, params: Any, answer: Any) -> Any:
    return {**answer, "result": _no_periods(method, params, answer["result"])} if "result" in answer else answer


def _rewrite_batch(requests: list[Any], answers: list[Any]) -> list[Any]:
    asked = {r.get("id"): r for r in requests}
    return [
        _rewrite(asked[a.get("id")].get("method"), asked[a.get("id")].get("params"), a) if a.get("id") in asked else a
        for a in answers
    ]


def test_a_node_denying_the_departments_item_is_named_not_believed_against_the_proven_publication(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: the chain's operator (witnesses honest), its node answering ``serviceItemHistory`` of the deciding
    department with no period. The bundle proves the publication at the cosigned block, which BatchLog 3.0.0 makes
    only for an item the department holds; both verifiers should name the node (``do not trust this node``), not
    read the department as deciding outside its authority."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    department = f"R86W{os.getpid() % 10000}"
    roles = ROLE_ISSUER | ROLE_VERIFIER | ROLE_APPROVER
    Council(ledger).register(department, f"Round 86 {department}", roles, types=TEST_TYPES, items=TEST_ITEMS)
    _, apps = decided(ledger, department, n=2)
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = evidence.decision_bundle(ledger, department, apps[0]["case_id"])
        if "log" not in bundle["witness"].get("state", {}):
            pytest.fail(f"no log proof in the witnessed bundle: {sorted(bundle['witness'].get('state', {}))}")
        path = tmp_path / "decision.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        honest = evidence.verify_bundle(path, ledger.chain, witness_keys=[key], require_state_proof=True)
        if not honest.ok:
            pytest.fail(f"the honest bundle fails: {honest.to_json()}")
        with RpcProxy(rpc_url(ledger), rewrite=_rewrite, rewrite_batch=_rewrite_batch) as node:
            lying = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
            report = evidence.verify_bundle(path, lying, witness_keys=[key], require_state_proof=True)
            _, result, stderr = standalone(ledger, path, "--witness-key", key, "--require-state-proof", rpc=node.url)
            if not node.saw(SERVICE_ITEM_HISTORY):
                pytest.fail("the lie was never told")
        if result is None:
            pytest.fail(stderr)
        library = report.check("rule_set_published")
        court = next(c for c in result["checks"] if c["name"] == "rule_set_published")
        # the two verifiers agree today: both fail, in the same words
        if library.ok or court["result"] != "FAIL" or library.detail != court["detail"]:
            pytest.fail(f"the verifiers differ: {library} / {court}")
        if not report.check("witnessed").ok:
            pytest.fail(f"witnessed fails: {report.check('witnessed')}")
        for detail in (library.detail, court["detail"]):
            assert "do not trust this node" in detail, detail
