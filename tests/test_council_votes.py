"""The council's one-process votes (``Council.decide``) read whether a vote executed the proposal from that vote's
receipt, and a member's proposal reads the membership only when the chain refused it. These tests hold the
answers to what reading the proposal's state after every vote, and the membership before every proposal, gave:
the same proposal executed, the same id returned, the same error for a non-member and for a refused proposal, a
proposal executed by someone else meanwhile still returned, and the receipt read only for the registry's own
``ProposalExecuted`` of that proposal.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from hexbytes import HexBytes

from ledger.client import Ledger
from ledger.errors import ChainError, KeystoreError
from ledger.onchain.chain import ROLE_ISSUER, ROLE_VERIFIER
from ledger.services.council import (
    Action,
    CouncilMember,
    ProposalState,
    current_types,
    executed_in,
    get_proposal,
    proposal_state,
)
from ledger.services.departments import Council, get_department

from .conftest import TEST_TYPES


def _code(ledger: Ledger, tag: str) -> str:
    return f"CV{tag}{ledger.chain.block_number()}"


def test_a_proposal_and_its_votes_say_from_their_receipts_what_the_chain_then_says(ledger: Ledger) -> None:
    chain = ledger.chain
    first, second, third = Council(ledger).members
    code = _code(ledger, "a")
    signer = Account.create().address
    proposal_id, executed = first._propose(Action.REGISTER, code, name="Votes office", signer=signer, roles=1)
    assert not executed
    assert proposal_state(chain, proposal_id) is ProposalState.OPEN
    assert second._vote(proposal_id) is True
    assert proposal_state(chain, proposal_id) is ProposalState.EXECUTED
    assert get_department(chain, code).signer == signer
    # a vote on an executed proposal is refused by the chain, as before
    with pytest.raises(ChainError) as refused:
        third._vote(proposal_id)
    assert refused.value.error_name == "RegistryProposalAlreadyExecuted"


def test_register_through_the_council_gives_the_department_its_roles_and_types(ledger: Ledger) -> None:
    code = _code(ledger, "b")
    signer = Council(ledger).register(code, "Votes office", ROLE_ISSUER | ROLE_VERIFIER, types=TEST_TYPES)
    department = get_department(ledger.chain, code)
    assert department.signer == signer and department.roles == ["issuer", "verifier"] and department.active
    assert sorted(current_types(ledger.chain, code)) == sorted(TEST_TYPES)


class _LateVoter:
    """A member whose vote comes after another member's approval executed the proposal (a member voting from
    elsewhere in between): the real chain refuses the late vote."""

    def __init__(self, member: CouncilMember, elsewhere: CouncilMember) -> None:
        self.member, self.elsewhere, self.address = member, elsewhere, member.address

    def _vote(self, proposal_id: int, proposal_hash: bytes | None = None) -> bool:
        assert self.elsewhere._vote(proposal_id, proposal_hash) is True
        return self.member._vote(proposal_id, proposal_hash)


def test_a_proposal_executed_by_another_vote_meanwhile_is_returned_not_an_error(ledger: Ledger) -> None:
    council = Council(ledger)
    first, second, third = council.members
    council.members = [first, _LateVoter(second, third)]  # type: ignore[list-item]
    code = _code(ledger, "c")
    signer = Account.create().address
    proposal_id = council.decide(Action.REGISTER, code, name="Votes office", signer=signer, roles=ROLE_ISSUER)
    proposal = get_proposal(ledger.chain, proposal_id)
    assert proposal.state is ProposalState.EXECUTED
    assert sorted(proposal.approved_by) == sorted([first.address, third.address])  # the late vote was refused
    assert get_department(ledger.chain, code).signer == signer


def test_a_refused_vote_on_a_proposal_not_executed_is_still_an_error(ledger: Ledger) -> None:
    council = Council(ledger)
    first, second, _third = council.members
    code = _code(ledger, "d")
    proposal_id = first.propose(Action.REGISTER, code, name="Votes office", signer=Account.create().address, roles=1)
    first.cancel(proposal_id)

    class _Cancelled:
        address = second.address

        def _vote(self, _proposal_id: int, _proposal_hash: bytes | None = None) -> bool:
            return second._vote(proposal_id)  # the cancelled one, whatever decide proposed

    council.members = [first, _Cancelled()]  # type: ignore[list-item]
    with pytest.raises(ChainError) as refused:
        council.decide(Action.REGISTER, _code(ledger, "e"), name="Other", signer=Account.create().address, roles=1)
    assert refused.value.error_name == "RegistryProposalCancelled"
    newest = proposal_count(ledger.chain)  # decide's own proposal, left open by the refusal: closed again
    assert proposal_state(ledger.chain, newest) is ProposalState.OPEN
    first.cancel(newest)


def test_a_non_member_still_gets_the_keystore_error_and_nothing_is_sent(ledger: Ledger) -> None:
    chain = ledger.chain
    outsider = Account.create()
    count = proposal_count(chain)
    with pytest.raises(KeystoreError, match="is not a member of the council"):
        CouncilMember(chain, outsider).propose(Action.REGISTER, _code(ledger, "f"), name="X", signer=outsider.address)
    assert int(chain.w3.eth.get_transaction_count(outsider.address, "pending")) == 0
    assert proposal_count(chain) == count


def test_a_members_refused_proposal_is_the_chains_own_error(ledger: Ledger) -> None:
    first, *_ = Council(ledger).members
    with pytest.raises(ChainError) as refused:  # MKT exists (the session's departments)
        first.propose(Action.REGISTER, "MKT", name="Again", signer=Account.create().address, roles=1)
    assert not isinstance(refused.value, KeystoreError)
    assert refused.value.error_name == "RegistryDepartmentExists"


def proposal_count(chain: Any) -> int:
    return int(chain.call(chain.registry.functions.proposalCount()))


def test_only_the_registrys_own_executed_log_of_that_proposal_counts(ledger: Ledger) -> None:
    chain = ledger.chain
    first, second, _third = Council(ledger).members
    code = _code(ledger, "g")
    proposal_id = first.propose(Action.REGISTER, code, name="Votes office", signer=Account.create().address, roles=1)
    receipt = chain.transact(second.account, chain.registry.functions.approve(proposal_id))
    assert executed_in(chain, receipt, proposal_id)
    assert not executed_in(chain, receipt, proposal_id + 1)
    assert not executed_in(chain, receipt, proposal_id - 1)

    def with_logs(change: Any) -> dict[str, Any]:
        return {**receipt, "logs": [change(dict(log)) for log in receipt["logs"]]}

    elsewhere = with_logs(lambda log: {**log, "address": chain.anchor.address})
    assert not executed_in(chain, elsewhere, proposal_id)
    extra_topic = with_logs(lambda log: {**log, "topics": [*log["topics"], HexBytes(b"\0" * 32)]})
    assert not executed_in(chain, extra_topic, proposal_id)
    no_topics = with_logs(lambda log: {**log, "topics": []})
    assert not executed_in(chain, no_topics, proposal_id)
    lower = with_logs(lambda log: {**log, "address": str(log["address"]).lower()})
    assert executed_in(chain, lower, proposal_id)
