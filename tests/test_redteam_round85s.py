"""Red team, round 85 (service items): a department deciding a service item the council never made it responsible for.

Hole (each attack test failed before its fix): ``BatchLog.publishRuleSet(digest, serviceItem)`` checked only the
caller's approver role. Issuing a permit needs the council's type authority, but a decision that produces no
certificate (a subsidy, a refund, a registration) could be taken by any approver department for any service item -
the tax office approving social-security subsidies - and was reported published, re-run fine by replay and passed by
both evidence verifiers. Adversary: a department acting
outside its authority, through the library or calling the contract with its own key and web3.

Fixed: the council grants and revokes service items to departments as it grants certificate types
(DepartmentRegistry 2.6.0, ``GrantServiceItem``/``RevokeServiceItem``, periods in ``serviceItemHistory``);
``publishRuleSet`` reverts ``RuleSetServiceItemNotHeld(departmentId, serviceItem)`` unless the caller's department
holds the item at that block (BatchLog 3.0.0); the library refuses to publish or decide before anything is sent,
naming ``ledger council propose grant-item``; replay (``rule_set_unpublished``) and both verifiers
(``rule_set_published``) check the item was held at the publication's block. "*" (every item) is a grant of its own.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from ledger.client import Ledger
from ledger.errors import ChainError, StateError
from ledger.onchain.ids import ROLE_APPROVER, ROLE_ISSUER, department_id_bytes, service_item_bytes
from ledger.services import decisions, evidence
from ledger.services.departments import Council
from ledger.services.replay import replay

from .decision_support import application, unique_rule_set
from .evidence_support import both, decided

_codes = itertools.count(1)


def _tax_office(ledger: Ledger) -> str:
    """A newly registered approver department the council granted no service item (the tax office)."""
    code = f"TAX-{os.getpid() % 1000}-{next(_codes)}"
    Council(ledger).register(code, f"Tax office {code}", ROLE_APPROVER | ROLE_ISSUER)
    return code


def test_a_department_calling_the_contract_cannot_publish_rules_for_an_item_it_does_not_hold(ledger: Ledger) -> None:
    """Adversary: the tax office (its own key, web3, no library) publishing the social-security subsidy rules for
    every item (``*``), which the council never granted it: the contract refuses, naming the department and item."""
    dept = _tax_office(ledger)
    rules = unique_rule_set(f"r85s-direct-{dept}")
    chain, account = ledger.chain, ledger.department_account(dept)
    item = service_item_bytes(rules.service_item)
    with pytest.raises(ChainError) as raised:
        chain.send(account, chain.log.functions.publishRuleSet(rules.digest, item))
    assert raised.value.error_name == "RuleSetServiceItemNotHeld", str(raised.value)
    assert raised.value.error_args[0] == department_id_bytes(dept), raised.value.error_args
    assert raised.value.error_args[1] == item, raised.value.error_args
    publisher, *_ = chain.call(chain.log.functions.ruleSet(department_id_bytes(dept), rules.digest))
    assert publisher == b"\x00" * 32


def test_the_library_refuses_to_publish_or_decide_an_item_the_department_does_not_hold(ledger: Ledger) -> None:
    """Adversary: the tax office publishing the subsidy rules through the library and deciding a case with them:
    both refused before anything is sent or recorded, naming the council command that grants the item."""
    dept = _tax_office(ledger)
    rules = unique_rule_set(f"r85s-library-{dept}")
    with pytest.raises(StateError, match=r"grant-item"):
        decisions.publish_rule_set(ledger, rules, dept)
    app = application("C-R85S-1")
    with pytest.raises(StateError, match=r"grant-item"):
        decisions.decide(ledger, dept, "C-R85S-1", "ITEM-1", app, rules, applicant_ref="AB1234567")
    assert decisions.find_decisions(ledger, dept, "C-R85S-1") == []


def test_a_decision_on_an_item_revoked_after_it_was_taken_stays_valid(ledger: Ledger, tmp_path: Path) -> None:
    """Held: the council revoking an item ends the department's authority from the next block, not backwards. The
    decisions it took while it held the item replay clean and pass ``rule_set_published`` in both verifiers (the
    publication's block lies in a period of the registry's ``serviceItemHistory``); from then on it neither
    publishes nor decides for the item."""
    code = f"SS-{os.getpid() % 1000}-{next(_codes)}"
    Council(ledger).register(code, f"Social security {code}", ROLE_APPROVER | ROLE_ISSUER, items=("*",))
    _rules, apps = decided(ledger, code, n=3)
    Council(ledger).revoke_items(code, ["*"])
    found = [(d.check, d.seq) for d in replay(ledger, department=code).discrepancies]
    assert not [f for f in found if f[0] == "rule_set_unpublished"], found
    bundle = evidence.decision_bundle(ledger, code, apps[1]["case_id"])
    report, exit_code, result = both(ledger, bundle, tmp_path, "revoked-after.json")
    assert exit_code == 0 and report.ok, report.to_json()
    detail = next(c for c in result["checks"] if c["name"] == "rule_set_published")["detail"]
    assert "holding the service item" in detail, detail
    later = unique_rule_set(f"r85s-later-{code}")
    with pytest.raises(StateError, match=r"grant-item"):
        decisions.publish_rule_set(ledger, later, code)
    with pytest.raises(StateError, match=r"grant-item"):
        decisions.decide(ledger, code, "C-R85S-2", "ITEM-1", application("C-R85S-2"), _rules, applicant_ref="AB1234567")
