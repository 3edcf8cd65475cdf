"""Red team, round 25: a department acting outside its authority, a forger, the chain's operator and a privacy
adversary (contracts, documents, verification, logs).

1. Rule sets were keyed on chain by their digest alone (``BatchLog.ruleSet(digest)``, the first publisher wins) and
   a department decides only with a rule set it published itself. A hostile approver department needs nothing but
   the digest to publish a rule set first in its own name - the digest is in the author's pending
   ``publishRuleSet`` transaction, which every node of a permissioned chain relays - so it could stop another
   department from ever publishing (hence deciding with) any rule set: the author's transaction reverted
   (``RuleSetAlreadyPublished``) and the library refused ("published by HOSP, not GOV"), every new version squatted
   the same way. BatchLog 2.1.0 keeps rule sets per department, ``(department, digest)``, as batches and log
   ranges are (root squatting): the squatter's publication is its own, and every reader (decisions, replay, both
   evidence verifiers) asks for the deciding department's.
2. A council member's vote named a proposal by its number alone (``approve(proposalId)``), so it counted for
   whatever the chain held under that number when the vote was mined. The chain's operator, with one colluding
   member, shows the honest member proposal 7 "register a new office", then rewrites the chain from before it
   (a reorganisation) so that proposal 7 is "rotate MKT's key to the attacker's": the member's
   ``ledger council approve 7`` executed the rotation. DepartmentRegistry 2.2.0 takes the proposal's hash with a
   vote (``approveProposal`` / ``rejectProposal``, ``RegistryProposalChanged`` otherwise); the library votes only
   that way, ``ledger council show`` prints the hash and ``approve`` / ``reject --hash`` bind the vote to it
   (without ``--hash``, to the proposal read and printed by that very command).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER, ROLE_VERIFIER
from ledger.services import decisions, evidence, logchain
from ledger.services.council import Action, get_proposal
from ledger.services.departments import Council, get_department
from ledger.services.replay import replay

from .cli_support import rpc, run_cli
from .conftest import DEMO_COUNCIL_PASSPHRASES, PASSPHRASE, TEST_ITEMS, TEST_TYPES, make_settings
from .decision_support import applications, unique_rule_set
from .evidence_support import both, failed_names


def test_a_department_squatting_a_rule_set_digest_does_not_stop_its_author_publishing_or_deciding(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: a hostile approver department that copies the digest of another department's rule set (from its
    pending transaction) and publishes it first in its own name."""
    owner = fresh_department
    squatter = f"{owner}-Q"
    Council(ledger).register(
        squatter, "Squatting office", ROLE_ISSUER | ROLE_VERIFIER | ROLE_APPROVER, types=TEST_TYPES, items=TEST_ITEMS
    )
    rules = unique_rule_set(f"r25-{owner}")
    chain = ledger.chain
    chain.transact(
        ledger.department_account(squatter),
        chain.log.functions.publishRuleSet(rules.digest, decisions.service_item_bytes(rules.service_item)),
    )

    # the author still publishes its rule set, in its own name, and decides with it
    published = decisions.publish_rule_set(ledger, rules, owner)
    assert (published["department"], published["already_published"]) == (owner, False), published
    apps = applications(4, seed=zlib.crc32(owner.encode()))
    result = decisions.decide_many(ledger, owner, apps, {"*": rules})
    assert result.count == 4
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, owner)
    assert {d.check for d in replay(ledger, department=owner).discrepancies} == set()

    # a court's verifiers find the author's publication, not the squatter's earlier one
    case = apps[0]
    bundle = evidence.decision_bundle(ledger, owner, case["case_id"], applicant=case["applicant_ref"])
    report, _, result_json = both(ledger, bundle, tmp_path)
    assert report.ok and result_json is not None and failed_names(result_json) == set(), report.to_json()


@pytest.fixture()
def own(tmp_path: Path) -> Iterator[Ledger]:
    """A ledger with its own anvil: this test rewrites its chain."""
    instance = Ledger.open(make_settings(tmp_path / "own"), passphrase=PASSPHRASE)
    yield instance
    instance.close()


def test_a_council_vote_counts_only_for_the_proposal_the_member_was_shown(own: Ledger) -> None:
    """Adversary: the chain's operator, colluding with one council member, rewriting history between what an
    honest member was shown and the vote it sends."""
    chain = own.chain
    council = Council(own)
    colluding, honest, _third = council.members
    victim = "R25-VICTIM"
    victim_key = council.register(victim, "Victim office", ROLE_ISSUER | ROLE_VERIFIER, types=TEST_TYPES)
    before = rpc(own, "evm_snapshot")
    shown_id = colluding.propose(
        Action.REGISTER, "R25-NEW", name="New office", signer=Account.create().address, roles=ROLE_VERIFIER
    )
    shown = get_proposal(chain, shown_id)  # what `ledger council show` shows the honest member
    assert "R25-NEW" in shown.summary

    # the operator rewrites the chain from before the proposal: its number now names a rotation of the victim's key
    assert rpc(own, "evm_revert", before) is True
    attacker = Account.create()
    assert colluding.propose(Action.ROTATE_KEY, victim, signer=attacker.address) == shown_id

    # the honest member's vote names the proposal it was shown: it is refused, and the key stays the victim's
    with pytest.raises(ChainError) as refused:
        honest.approve(shown_id, shown.proposal_hash)
    assert refused.value.error_name == "RegistryProposalChanged", refused.value
    with pytest.raises(ChainError) as refused_no:
        honest.reject(shown_id, shown.proposal_hash)
    assert refused_no.value.error_name == "RegistryProposalChanged", refused_no.value
    assert get_department(chain, victim).signer == victim_key

    # the CLI: `show` prints the hash, `approve --hash` binds the vote to it (exit 2, nothing executed)
    member = ["--member-keystore", str(own.settings.keys_dir / "council-2")]
    env = {"LEDGER_COUNCIL_PASSPHRASE": DEMO_COUNCIL_PASSPHRASES[1]}
    now = json.loads(run_cli(own, "council", "show", str(shown_id), "--json", *member, **env).stdout)
    assert now["proposal_hash"] != shown.proposal_hash
    cli = run_cli(own, "council", "approve", str(shown_id), "--hash", shown.proposal_hash, *member, **env)
    assert cli.returncode == 2 and "RegistryProposalChanged" in cli.stderr, cli.stderr
    assert get_department(chain, victim).signer == victim_key
    # what it does show is what a vote with its hash approves
    approved = run_cli(own, "council", "approve", str(shown_id), "--hash", now["proposal_hash"], *member, **env)
    assert json.loads(approved.stdout)["state"] == "executed"
    assert get_department(chain, victim).signer == attacker.address
