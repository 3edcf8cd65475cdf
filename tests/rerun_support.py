"""Helpers and fixtures that several test modules use (from tests/test_decision_rerun.py: no test module
imports another)."""

from __future__ import annotations

import copy
import itertools
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from ledger.client import Ledger
from ledger.formats.rules import load_rule_set
from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER
from ledger.services import decisions, evidence, logchain, status
from ledger.services.departments import Council

from .conftest import TEST_ITEMS, TEST_TYPES, make_records
from .evidence_support import issue

RULES = Path(__file__).resolve().parent.parent / "rules"


ITEM = {
    "handling_type": 1,
    "promised_limit_days": 1,
    "legal_limit_days": 10,
    "materials_required": 2,
    "item_version": 30,
    "online_depth": 4,
    "handling_form": 2,
    "implementing_body": 2,
    "in_service_hall": 1,
    "courier": 1,
    "appointment": 1,
    "onsite_reason": 1,
    "item_type": 1,
    "joint_bodies": 0,
}


def application(case: str, digest: str) -> dict[str, Any]:
    return {
        "case_id": case,
        "service_item": "ITEM-1",
        "item": dict(ITEM),
        "application": {"online": True, "materials_submitted": 2, "applicant_type": "enterprise"},
        "applicant": {"blacklisted": False},
        "certificates": [{"digest": digest}],
    }


_worlds = itertools.count(1)


class World:
    def __init__(self, ledger: Ledger, tmp: Path) -> None:
        self.ledger = ledger
        # unique in the session: a code from id(self) % 1000 was reused once a world was freed (CI: RR304 twice)
        self.dept = f"RR{os.getpid() % 1000}-{next(_worlds)}"
        Council(ledger).register(
            self.dept, "Re-run test approvals", ROLE_ISSUER | ROLE_APPROVER, types=TEST_TYPES, items=TEST_ITEMS
        )
        document = yaml.safe_load((RULES / "ss-eligibility.yaml").read_text(encoding="utf-8"))
        document["items"] = {"ITEM-1": dict(ITEM)}  # the catalogue of the one item it decides (round 60c)
        document["version"] = f"rerun-{self.dept}"
        self.rules = load_rule_set(document)
        decisions.publish_rule_set(ledger, self.rules, self.dept)
        document["version"] = f"rerun-{self.dept}-other"
        self.other_rules = load_rule_set(document)
        decisions.publish_rule_set(ledger, self.other_rules, self.dept)
        self.licences = issue(ledger, tmp, "MKT", make_records(4))

        expired = make_records(1, cert_type="business-licence")
        expired[0].update(valid_from="2020-01-01", valid_until="2021-12-31")
        self.licences += issue(ledger, tmp, "MKT", expired)  # licence 4: expired
        self.licences += issue(ledger, tmp, "MKT", make_records(1))  # licence 5: suspended before its decision

    def holder(self, i: int) -> str:
        return str(self.licences[i]["fields"]["subject.credit_code"])

    def decide(self, case: str, i: int, **extra: Any) -> decisions.Decision:
        return decisions.decide(
            self.ledger,
            self.dept,
            case,
            "ITEM-1",
            {**application(case, self.licences[i]["digest"]), **extra},
            self.rules,
            applicant_ref=self.holder(i),
        )

    def bundle(self, case: str, i: int | None, seq: int | None = None, **kwargs: Any) -> dict[str, Any]:
        logchain.anchor_pending(self.ledger, logchain.LOG_DECISIONS, self.dept)
        return evidence.decision_bundle(
            self.ledger, self.dept, case, seq=seq, applicant=None if i is None else self.holder(i), **kwargs
        )


@pytest.fixture(scope="module", name="world")
def world_fixture(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(ledger, tmp_path_factory.mktemp("rerun"))


@pytest.fixture(scope="module", name="approved")
def approved_fixture(world: World) -> dict[str, Any]:
    decision = world.decide("RR-APPROVE", 0)
    assert decision.body["outcome"] == "approve", decision.body
    return world.bundle("RR-APPROVE", 0)


def decided_after_revocation(ledger: Ledger, world: World, case: str, i: int) -> tuple[int, int, dict[str, Any]]:
    """A department's approval of ``case`` recorded as taken after licence ``i``'s revocation on the facts of the
    block before it, and anchored (round 34a's forgery; rounds 36 and 58 reuse it): (its facts block, its sequence
    number, its evidence bundle)."""
    honest = world.decide(case, i)
    assert honest.body["outcome"] == "approve"
    block = honest.body["as_of_block"]
    status.revoke(ledger, world.licences[i]["digest"], "fraud")
    # a block mined a moment after the revocation's (two seconds: the shared chain's clock stays within the 30 s
    # every reader allows), and a decision said to be taken at the latest moment its anchoring (a later block)
    # allows: 30 s after that block, so the facts block had not been the head for over 30 s
    w3 = ledger.chain.w3
    w3.provider.make_request("evm_increaseTime", [2])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    later = int(w3.eth.get_block("latest")["timestamp"])
    assert later > int(w3.eth.get_block(block + 1)["timestamp"])
    body = copy.deepcopy(honest.body)
    moment = datetime.fromtimestamp(later + 30, UTC)
    body["decided_at"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    entry = logchain.append(ledger, logchain.LOG_DECISIONS, world.dept, body)
    return block, entry.seq, world.bundle(case, i, seq=entry.seq)
