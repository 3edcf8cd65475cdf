"""Red team, round 86s (service items, at the decision's own block): a department deciding an item after the council
revoked it, with rules it published while it held the item.

Hole (each attack test failed before its fix): round 85s judged a department's service item at the block its rule set
was published in. A decision is evidenced by the block that anchors its log batch, and the council's revocation of
the item came between the two: the library refused to decide, but the department running its own copy of it (or
writing its log entry itself) and anchoring its log batch (``BatchLog.anchorLog`` with its own key: the chain sees a
Merkle root, no item) recorded decisions on an item it no longer held, replayed clean and passed both evidence
verifiers. Adversary: a department acting outside its authority.

Fixed: replay reports ``service_item_not_held`` and both verifiers fail ``service_item_held`` for a decision whose
rule set's item the department did not hold at the anchoring block of the decision's log batch (a period of the
registry's ``serviceItemHistory`` covers it, the block judged whole as for types); the library refuses an officer's
decision applying such rules too. A decision anchored while the item was held stays valid after a revocation.

Then open, fixed since (ip1): with the chain's operator answering the item periods falsely, a witnessed bundle of
such a decision passed both verifiers, "proven": no state proof carried the periods. The bundle's registry proof now
carries the deciding department's ``_itemHistory`` and both verifiers hold the node's answer to it.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from eth_abi import encode as abi_encode
from eth_utils.crypto import keccak

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.formats.rules import RuleSet
from ledger.onchain.chain import Chain, connect
from ledger.onchain.ids import ROLE_APPROVER, ROLE_ISSUER, department_id_bytes
from ledger.services import decisions, evidence, logchain
from ledger.services.council import Action
from ledger.services.departments import Council
from ledger.services.replay import replay

from .cli_support import rpc
from .conftest import PASSPHRASE
from .decision_support import application, unique_rule_set
from .evidence_support import both, rpc_url, standalone
from .rpc_proxy import RpcProxy
from .witness_support import trusted_witness

_codes = itertools.count(1)


def _social_security(ledger: Ledger, tag: str) -> tuple[str, RuleSet]:
    """A newly registered approver department granted every item ("*"), its rules published while it holds it."""
    code = f"S86-{os.getpid() % 1000}-{tag}{next(_codes)}"
    Council(ledger).register(code, f"Social security {code}", ROLE_APPROVER | ROLE_ISSUER, items=("*",))
    rules = unique_rule_set(f"r86s-{code}")
    decisions.publish_rule_set(ledger, rules, code)
    return code, rules


def test_a_decision_taken_and_anchored_after_the_item_was_revoked_fails_replay_and_both_verifiers(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: the department, after the council revoked its item, deciding a case with its own copy of the
    library (the service item refusal taken out) and anchoring its decision log with its own key. The decision
    anchored while the item was held stays valid; the one anchored after the revocation is reported by replay
    (``service_item_not_held``) and fails ``service_item_held`` in both verifiers, naming the anchoring block."""
    code, rules = _social_security(ledger, "a")
    decisions.decide(ledger, code, "C-R86S-1", "ITEM-1", application("C-R86S-1"), rules, applicant_ref="AB1234561")
    logchain.anchor_pending(ledger, decisions.LOG_DECISIONS, code)
    Council(ledger).revoke_items(code, ["*"])
    with pytest.raises(StateError, match=r"grant-item"):
        decisions.decide(ledger, code, "C-R86S-2", "ITEM-1", application("C-R86S-2"), rules, applicant_ref="AB1234562")
    monkeypatch.setattr(decisions, "require_service_item", lambda *_a, **_k: None)  # the department's own copy
    decisions.decide(ledger, code, "C-R86S-2", "ITEM-1", application("C-R86S-2"), rules, applicant_ref="AB1234562")
    monkeypatch.undo()
    assert logchain.anchor_pending(ledger, decisions.LOG_DECISIONS, code)  # the chain takes the root: no item in it
    anchored = logchain.chain_ranges(ledger, decisions.LOG_DECISIONS, code)[-1].block_number

    discrepancies = replay(ledger, department=code).discrepancies
    found = [(d.check, d.case_id) for d in discrepancies]
    assert found == [("service_item_not_held", "C-R86S-2")], found
    detail = discrepancies[0].detail
    assert f"block {anchored}" in detail and "'*'" in detail, detail

    late = evidence.decision_bundle(ledger, code, "C-R86S-2")
    report, exit_code, result = both(ledger, late, tmp_path, "after-revocation.json")
    assert exit_code == 1 and not report.ok
    assert {c.name for c in report.failed} == {"service_item_held"}, report.to_json()
    assert result is not None
    court = next(c for c in result["checks"] if c["name"] == "service_item_held")["detail"]
    assert f"block {anchored}" in court, court

    earlier = evidence.decision_bundle(ledger, code, "C-R86S-1")
    report, exit_code, result = both(ledger, earlier, tmp_path, "before-revocation.json")
    assert exit_code == 0 and report.ok, report.to_json()
    assert result is not None
    held = next(c for c in result["checks"] if c["name"] == "service_item_held")["detail"]
    assert "held" in held, held


def test_a_decision_recorded_before_the_revocation_and_anchored_after_it_is_judged_by_its_anchoring(
    ledger: Ledger,
) -> None:
    """The block a decision is evidenced by is its log batch's anchoring: a decision recorded while the item was
    held but anchored only after the council revoked it is indistinguishable on the record from one backdated by
    its department, so it is reported (docs/governance.md: anchor before the revocation executes)."""
    code, rules = _social_security(ledger, "b")
    decisions.decide(ledger, code, "C-R86S-3", "ITEM-1", application("C-R86S-3"), rules, applicant_ref="AB1234563")
    Council(ledger).revoke_items(code, ["*"])
    logchain.anchor_pending(ledger, decisions.LOG_DECISIONS, code)
    found = [(d.check, d.case_id) for d in replay(ledger, department=code).discrepancies]
    assert found == [("service_item_not_held", "C-R86S-3")], found


def test_a_revocation_mined_in_the_anchorings_own_block_leaves_the_decision_inside_the_grant(
    ledger: Ledger, tmp_path: Path
) -> None:
    """The block is judged whole, as for certificate types: the council's revocation executed in the very block that
    anchors the decision (whatever their order in it) still covers the anchoring - a department gains nothing by
    being ordered after it that it could not have by being ordered first. Replay and both verifiers pass it."""
    code, rules = _social_security(ledger, "e")
    decisions.decide(ledger, code, "C-R86S-5", "ITEM-1", application("C-R86S-5"), rules, applicant_ref="AB1234565")
    council = Council(ledger)
    first, *others = council.members
    proposal = first.propose(Action.REVOKE_SERVICE_ITEM, code, name="*")
    threshold = int(ledger.chain.call(ledger.chain.registry.functions.threshold()))
    for member in others[: threshold - 2]:
        assert not member.approve(proposal).executed
    last, chain = others[threshold - 2], ledger.chain
    rpc(ledger, "evm_setAutomine", False)
    rpc(ledger, "evm_setIntervalMining", 0)
    anchored: list[list[str]] = []
    worker = threading.Thread(
        target=lambda: anchored.append(logchain.anchor_pending(ledger, decisions.LOG_DECISIONS, code))
    )
    try:
        worker.start()
        deadline = time.monotonic() + 30
        while int(rpc(ledger, "txpool_status")["pending"], 16) < 1:  # the anchoring waits in the node's pool
            assert time.monotonic() < deadline, "the anchoring was never sent"
            time.sleep(0.05)
        revocation = chain.send(last.account, chain.registry.functions.approve(proposal))
        rpc(ledger, "evm_mine")
    finally:
        rpc(ledger, "evm_setAutomine", True)
    worker.join(timeout=60)
    assert anchored and anchored[0], anchored
    (anchoring,) = logchain.chain_ranges(ledger, decisions.LOG_DECISIONS, code)
    assert chain.wait(revocation, timeout=30)["blockNumber"] == anchoring.block_number
    assert not chain.call(chain.registry.functions.holdsServiceItem(department_id_bytes(code), b"*".ljust(32, b"\0")))

    assert [d.check for d in replay(ledger, department=code).discrepancies] == []
    bundle = evidence.decision_bundle(ledger, code, "C-R86S-5")
    report, exit_code, _ = both(ledger, bundle, tmp_path, "revoked-in-the-same-block.json")
    assert exit_code == 0 and report.ok, report.to_json()


def test_the_library_refuses_an_officers_decision_under_rules_of_an_item_revoked(ledger: Ledger) -> None:
    """Adversary: the department, after the revocation, recording an officer's decision that applies the rules it
    published while it held the item: refused before anything is recorded, naming the council's command."""
    code, rules = _social_security(ledger, "c")
    Council(ledger).revoke_items(code, ["*"])
    with pytest.raises(StateError, match=r"grant-item"):
        decisions.record_human_decision(
            ledger,
            code,
            "C-R86S-4",
            "ITEM-1",
            officer="officer-86",
            outcome="reject",
            reasons=["OFFICER_CHECKED_ON_SITE"],
            applicant_ref="AB1234564",
            rule_set=rules,
        )
    assert decisions.find_decisions(ledger, code, "C-R86S-4") == []


def test_a_service_item_code_holding_a_comma_is_refused_at_every_entry_point(ledger: Ledger) -> None:
    """A council grant's codes travel joined by ',' (the proposal's name), so a code holding ',' can never be
    granted; real codes (the service catalogue's, e.g. 440300-SCJG-0107) hold letters, digits and '-' only. Each
    entry point refuses it with an error saying why: the library's grant (as the command line does), and
    publishing or deciding with a rule set serving such a code, which no longer says "ask the council to grant it".
    The registry itself reads such a name as two codes, which is what `ledger council show` shows."""
    from ledger.errors import InputError
    from ledger.services.council import describe, item_list

    code, _rules = _social_security(ledger, "d")
    with pytest.raises(InputError, match=r"holds ','"):
        Council(ledger).grant_items(code, ["440300-SCJG-0042,0043"])
    with pytest.raises(InputError, match=r"holds ','"):
        item_list(["440300-SCJG-0042,0043"])
    shipped = Path(__file__).resolve().parent.parent / "rules" / "business-licence-renewal.yaml"
    document = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    document.update(service_item="440300-SCJG-0042,0043", version=f"r86s-comma-{code}")
    with pytest.raises(InputError, match=r"holds ','.*no department can hold it") as raised:
        decisions.publish_rule_set(ledger, document, code)
    assert "grant-item" not in str(raised.value), raised.value
    shown = describe(Action.GRANT_SERVICE_ITEM, code, name="440300-SCJG-0042,0043")
    assert "'440300-SCJG-0042', '0043'" in shown, shown


SERVICE_ITEM_HISTORY = "0x" + keccak(text="serviceItemHistory(bytes32)")[:4].hex()
# an ABI (bytes32,uint64,uint64)[] of one period: every item ("*") held from block 1 on, never revoked
EVERY_ITEM_HELD = "0x" + abi_encode(["(bytes32,uint64,uint64)[]"], [[(b"*".ljust(32, b"\0"), 1, 0)]]).hex()


def _held_for_ever(method: str, params: Any, answer: Any) -> Any:
    call = params[0] if method == "eth_call" and isinstance(params, list) and params else {}
    data = str(call.get("data", call.get("input", ""))).lower() if isinstance(call, dict) else ""
    if "result" in answer and data.startswith(SERVICE_ITEM_HISTORY):
        return {**answer, "result": EVERY_ITEM_HELD}
    return answer


def _held_for_ever_batch(requests: list[Any], answers: list[Any]) -> list[Any]:
    asked = {r.get("id"): r for r in requests}
    return [
        _held_for_ever(asked[a.get("id")].get("method"), asked[a.get("id")].get("params"), a)
        if a.get("id") in asked
        else a
        for a in answers
    ]


def test_a_node_answering_a_revoked_item_as_held_is_not_believed_by_a_witnessed_bundles_verifiers(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: the department deciding after the revocation (as above), with the chain's operator answering the
    registry's ``serviceItemHistory`` with the item never revoked; the witnesses are honest. ``service_item_held``
    reads the periods from the node, and no part of a witnessed decision bundle proves them (``witness.state.log``
    proves the batch and the publication, the registry section the deciding key): both verifiers should not pass it
    with ``--require-state-proof``. Closed: the decision bundle's registry proof proves the department's
    ``_itemHistory`` at the cosigned block and both verifiers hold the node's answer to it, naming the node."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    code, rules = _social_security(ledger, "w")
    Council(ledger).revoke_items(code, ["*"])
    with monkeypatch.context() as patch:
        patch.setattr(decisions, "require_service_item", lambda *_a, **_k: None)  # the department's own copy
        decisions.decide(ledger, code, "C-R86S-6", "ITEM-1", application("C-R86S-6"), rules, applicant_ref="AB1234566")
    logchain.anchor_pending(ledger, decisions.LOG_DECISIONS, code)
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = evidence.decision_bundle(ledger, code, "C-R86S-6")
        if "log" not in bundle["witness"].get("state", {}):
            pytest.fail(f"no log proof in the witnessed bundle: {sorted(bundle['witness'].get('state', {}))}")
        path = tmp_path / "revoked-witnessed.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        honest = evidence.verify_bundle(path, ledger.chain, witness_keys=[key], require_state_proof=True)
        if honest.ok or {c.name for c in honest.failed} != {"service_item_held"}:
            pytest.fail(f"the honest node's answer should fail service_item_held alone: {honest.to_json()}")
        with RpcProxy(rpc_url(ledger), rewrite=_held_for_ever, rewrite_batch=_held_for_ever_batch) as node:
            lying = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
            report = evidence.verify_bundle(path, lying, witness_keys=[key], require_state_proof=True)
            exit_code, result, stderr = standalone(
                ledger, path, "--witness-key", key, "--require-state-proof", rpc=node.url
            )
            if not node.saw(SERVICE_ITEM_HISTORY):
                pytest.fail("the lie was never told")
        if result is None:
            pytest.fail(stderr)
        assert not report.ok, report.to_json()
        assert exit_code != 0, result
        # for the reason the proof gives: the node's answer named, not believed, in both verifiers alike
        library = report.check("service_item_held")
        court = next(c for c in result["checks"] if c["name"] == "service_item_held")
        assert not library.ok and court["result"] == "FAIL", (library, court)
        assert library.detail == court["detail"], (library, court)
        assert "do not trust this node" in library.detail and "proven by the bundle's registry proof" in library.detail
