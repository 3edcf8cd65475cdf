"""Red team, round 29a: a forger, a holder editing their document, the chain's operator, a court's expert.

Findings (each test failed before its fix):

1. (A department holding its own key, or an insider with it) The court's procedure for a decision bundle pins the
   anchor contract (``--anchor``), but a decision is anchored in the batch log contract, which the bundle names
   itself and the court's verifier checked only for using the same registry. Any approver key can deploy a copy of
   BatchLog bound to the real registry and anchor there what it likes: a decision record rewritten after its
   anchoring (the real log keeps it gap-free and anchors each range once), or one the real log never saw. Its
   bundle, naming that contract, passed every check of ``scripts/verify_evidence.py`` run with ``--anchor``, with no
   word that the log contract was not pinned, while the library (which compares all three contracts with its
   deployment) failed ``chain``: two verdicts. Now the court's verifier takes ``--log`` (the log contract from the
   operator's publication, like ``--anchor``), fails ``chain`` on another one, and says NOT PINNED (and warns) for
   every contract the bundle's checks read that was not pinned: the log contract (and the anchor contract, which a
   decision's cited certificates are read from) for a decision bundle.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.formats import signing
from ledger.formats.canonical import canonical_json, sha256
from ledger.onchain.chain import Chain, connect, department_id_bytes
from ledger.onchain.toolchain import contract_artifacts
from ledger.services import decisions, evidence, logchain
from ledger.services.verify import ChainView, verify_certificate

from .conftest import make_records
from .decision_support import application, unique_rule_set
from .evidence_support import SCRIPT_MODULE, bare, failed_names, issue, rpc_url
from .rpc_proxy import RpcProxy


def _check(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in result["checks"] if c["name"] == name)


def _look_alike_log(ledger: Ledger, department: str) -> Any:
    """A copy of BatchLog bound to the ledger's own registry, deployed by the department's key: no council vote,
    nothing any verifier reads about the deployment but the bundle."""
    chain, account = ledger.chain, ledger.department_account(department)
    artifact = contract_artifacts()["BatchLog"]
    factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx_hash = chain.send(account, factory.constructor(chain.deployment.registry), gas=6_000_000)
    receipt = chain.wait(tx_hash, timeout=60)
    assert receipt["status"] == 1
    return chain.w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)


def test_a_decision_anchored_in_a_log_contract_of_the_departments_own_is_not_passed_as_pinned(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """The department anchors a decision honestly, then rewrites the record (here: whom it was about) and anchors
    the rewritten one in a BatchLog of its own. The court's verifier with the documented ``--anchor`` passed it
    as pinned; the library failed ``chain``."""
    chain, account = ledger.chain, ledger.department_account(fresh_department)
    rules = unique_rule_set(f"r29a-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    # the shadow log, set up beforehand: the department publishes its rule sets there too
    shadow = _look_alike_log(ledger, fresh_department)
    published = chain.send(
        account, shadow.functions.publishRuleSet(rules.digest, decisions.service_item_bytes(rules.service_item))
    )
    publication = chain.wait(published, timeout=60)
    assert publication["status"] == 1
    app = application("C-R29A-LOG")
    decisions.decide(ledger, fresh_department, app["case_id"], app["service_item"], app, rules, applicant_ref="A1")
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    genuine = evidence.decision_bundle(ledger, fresh_department, "C-R29A-LOG")

    # the record rewritten after its anchoring: the ledger's log anchored seq 1 once, with the original's hash
    forged = copy.deepcopy(genuine)
    record = forged["decision"]
    record["body"]["applicant_ref"] = "0x" + "ab" * 32
    payload = {k: record[k] for k in ("body", "department", "log", "seq")} | {"prev": record["prev_hash"]}
    entry_hash = sha256(b"pl-log-entry\x00" + canonical_json(payload))
    record["entry_hash"] = "0x" + entry_hash.hex()
    root = sha256(b"\x00" + entry_hash)
    log_id, dept = logchain.log_id(logchain.LOG_DECISIONS), department_id_bytes(fresh_department)
    sent = chain.send(account, shadow.functions.anchorLog(log_id, root, 1, 1, entry_hash))
    mined = chain.wait(sent, timeout=60)
    assert mined["status"] == 1
    block = chain.w3.eth.get_block(mined["blockNumber"])
    signature = signing.sign(
        account, signing.log_message(chain.w3.eth.chain_id, shadow.address, log_id, root, 1, 1, dept)
    )
    forged["chain"]["log_contract"] = shadow.address
    forged["rule_set"] |= {
        "tx_hash": "0x" + bytes(publication["transactionHash"]).hex(),
        "block_number": publication["blockNumber"],
    }
    forged["anchor"] |= {
        "root": "0x" + root.hex(),
        "proof": [],
        "head_hash": "0x" + entry_hash.hex(),
        "signature": "0x" + signature.hex(),
        "tx_hash": "0x" + bytes(mined["transactionHash"]).hex(),
        "block_number": block["number"],
        "block_hash": "0x" + bytes(block["hash"]).hex(),
        "block_timestamp": block["timestamp"],
    }
    forged["as_of"] = {"block_number": block["number"], "block_hash": "0x" + bytes(block["hash"]).hex()}
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forged), encoding="utf-8")

    library = evidence.verify_bundle(path, chain)
    assert {c.name for c in library.failed} == {"chain"}, library.to_json()

    # the documented procedure: --anchor from the operator's publication. Every check passes (the contracts do
    # what the bundle says), so the verdict must tell the court the log contract was the bundle's own word
    code, result, stderr = bare(ledger, path, "--anchor", chain.deployment.anchor)
    assert result is not None, stderr
    assert code == 0 and result["verified"], [
        c for c in result["checks"] if c["result"] != "PASS"
    ]  # the rewritten record verifies: the log is the bundle's word
    assert "NOT PINNED" in _check(result, "chain")["detail"] and "log" in _check(result, "chain")["detail"], result
    assert "--log" in stderr, stderr

    # pinned as the operator publishes them: the look-alike log fails chain, as in the library
    code, result, stderr = bare(ledger, path, "--anchor", chain.deployment.anchor, "--log", chain.deployment.log)
    assert result is not None, stderr
    assert code == 1 and failed_names(result) == {"chain"}, result
    assert "not the one you gave" in _check(result, "chain")["detail"]

    # the genuine bundle, pinned both ways, verifies and says nothing is unpinned
    path.write_text(json.dumps(genuine), encoding="utf-8")
    code, result, stderr = bare(ledger, path, "--anchor", chain.deployment.anchor, "--log", chain.deployment.log)
    assert result is not None and code == 0, (result, stderr)
    assert "NOT PINNED" not in json.dumps(result) and "warning" not in stderr


def _answering(method: str, change: Any) -> Any:
    """A node rewrite: ``method``'s result replaced by ``change(result)``."""

    def rewrite(asked: str, _params: Any, answer: Any) -> Any:
        if asked != method or "result" not in answer:
            return answer
        return {**answer, "result": change(answer["result"])}

    return rewrite


def _court(path: Path, url: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = SCRIPT_MODULE.main([str(path), "--rpc", url, "--json"])
    return code, json.loads(out.getvalue())


def _via(ledger: Ledger, url: str) -> Chain:
    return Chain(connect(url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)


def test_a_node_without_the_contracts_or_with_malformed_answers_gets_a_verdict_not_an_exception(
    ledger: Ledger, tmp_path: Path
) -> None:
    """The node answers ``eth_call`` with no data (no contract at the address), a block it has with null, or the
    chain id in decimal: the library's verifications raised BadFunctionCallOutput, BlockNotFound and NodeAnswerError
    (``ledger verify`` and ``ledger evidence verify`` a traceback, the gateway a 500) where the court's verifier
    fails a check; each is now a verdict naming the failure to read the chain."""
    (doc,) = issue(ledger, tmp_path, "MKT", make_records(1))
    bundle = evidence.certificate_bundle(ledger, doc)
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    # (rewrite, whether the document's own verification reads it: it takes the chain id from its deployment)
    cases = {
        "no contract at the address (eth_call answers no data)": (_answering("eth_call", lambda _r: "0x"), True),
        "no such block": (_answering("eth_getBlockByNumber", lambda _r: None), True),
        "a chain id that is no quantity": (_answering("eth_chainId", lambda r: str(int(r, 16))), False),
    }
    for name, (rewrite, read_by_document) in cases.items():
        with RpcProxy(rpc_url(ledger), rewrite=rewrite) as node:
            chain = _via(ledger, node.url)
            report = verify_certificate(doc, ChainView(chain))  # raised for no contract at the address
            assert report.ok != read_by_document, (name, report.to_json())
            checked = evidence.verify_bundle(path, chain)  # raised in each case
            assert not checked.ok and "the chain could not be read" in json.dumps(checked.to_json()), (name, checked)
            code, court = _court(path, node.url)
            assert code == 1 and not court["verified"], (name, court)
    # and the call itself names what was wrong
    with RpcProxy(rpc_url(ledger), rewrite=_answering("eth_call", lambda _r: "0x")) as node:
        chain = _via(ledger, node.url)
        with pytest.raises(ChainError, match="no contract"):
            chain.call(chain.registry.functions.departmentIds())


def test_the_library_refuses_an_anchoring_event_marked_removed_or_of_another_contract_as_the_court_does(
    ledger: Ledger, tmp_path: Path
) -> None:
    """The node answers the anchoring event's lookup with the event marked removed (reorganised away), as a log of
    another contract, or under other topics than asked: the court's verifier refuses the answer, the library's
    evidence verification took the first two for the anchoring and verified the bundle."""
    (doc,) = issue(ledger, tmp_path, "MKT", make_records(1))
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(evidence.certificate_bundle(ledger, doc)), encoding="utf-8")
    cases = {
        "marked removed": lambda logs: [{**log, "removed": True} for log in logs],
        "of another contract": lambda logs: [{**log, "address": "0x" + "11" * 20} for log in logs],
        "under other topics": lambda logs: [{**log, "topics": [*log["topics"][:1], "0x" + "22" * 32]} for log in logs],
    }
    for name, change in cases.items():
        with RpcProxy(rpc_url(ledger), rewrite=_answering("eth_getLogs", change)) as node:
            code, court = _court(path, node.url)
            assert code == 1 and not court["verified"], (name, court)
            checked = evidence.verify_bundle(path, _via(ledger, node.url))
            assert not checked.ok, (name, checked.to_json())  # the library passed anchor_event
            assert not checked.check("anchor_event").ok, (name, checked.to_json())
