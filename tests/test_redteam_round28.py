"""Red team round 28: council proposals naming a department id that is no department code.

1. (A council member acting alone) The registry took any nonzero bytes32 as the department of a proposal to
   register one; the library read it back as text (``department_code``: trailing zeros stripped) and computed the
   proposal's hash from that text again (``department_id_bytes``), which refuses anything but 1 to 32 printable
   ASCII characters. One member proposing to register the department ``"\\0MKT"`` (a leading zero byte) made
   ``ledger council list`` and ``show`` fail with an InputError for every member: the open proposals - among them
   any rotation of a department's key the same member proposed - could no longer be read or printed, for the
   proposal's week. A department id of control characters (a carriage return, an escape sequence) went raw to the
   voters' terminals in ``list``, ``show`` and ``history``: the proposer wrote whatever summary it liked over the
   one it proposed. And once registered by a council misled so, such a department broke what round 27 assumed:
   that no department can have a code that is not printable ASCII. DepartmentRegistry 2.3.0 refuses a department
   id that is not a code (``RegistryInvalidDepartmentCode``: 1 to 32 printable ASCII characters, then zero bytes);
   the library computes a proposal's hash from the registry's own bytes32, shows an id that is no code as its hex
   ("not a department code") and prints no control character in ``history``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.services.council import Action, GovernanceEvent, describe, get_proposal, list_proposals, shown_id
from ledger.services.departments import Council

from .cli_support import run_cli
from .conftest import PASSPHRASE, make_settings

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # any control character but tab and newline
NOT_CODES = (b"\x00MKT", b"MK\x00T", b"X\r\x1b[2K#1 reinstate VICTIM", b"MK\xff")


@pytest.fixture()
def own(tmp_path: Path) -> Iterator[Ledger]:
    """A ledger with its own anvil: the proposals this test leaves open would be listed by others' tests."""
    instance = Ledger.open(make_settings(tmp_path / "own"), passphrase=PASSPHRASE)
    yield instance
    instance.close()


def _raw_register(own: Ledger, member: Account, raw_id: bytes) -> int:
    chain = own.chain
    registry = chain.registry.functions
    chain.transact(
        member,
        registry.propose(int(Action.REGISTER), raw_id.ljust(32, b"\x00"), "Office", Account.create().address, 2),
    )
    return int(chain.call(registry.proposalCount()))


def test_a_council_member_cannot_propose_a_department_id_that_is_no_code(own: Ledger) -> None:
    """Adversary: one council member, proposing with the registry's own function (not the library's, which
    refuses such an id before sending anything)."""
    chain = own.chain
    hostile = Council(own).members[0]
    before = int(chain.call(chain.registry.functions.proposalCount()))
    for raw in NOT_CODES:
        with pytest.raises(ChainError) as refused:
            chain.transact(
                hostile.account,
                chain.registry.functions.propose(
                    int(Action.REGISTER), raw.ljust(32, b"\x00"), "Office", Account.create().address, 2
                ),
            )
        assert refused.value.error_name == "RegistryInvalidDepartmentCode", refused.value
    assert int(chain.call(chain.registry.functions.proposalCount())) == before
    # every listing still reads, and shows the registry's hash of each proposal
    proposal = hostile.propose(Action.REGISTER, "R28 ~X", name="Office", signer=Account.create().address, roles=2)
    assert {p.id for p in list_proposals(chain)} >= {proposal}
    shown = get_proposal(chain, proposal)
    assert shown.proposal_hash == "0x" + bytes(chain.call(chain.registry.functions.proposalHash(proposal))).hex()
    listing = run_cli(own, "council", "list")
    assert listing.returncode == 0 and f"#{proposal} " in listing.stdout, listing.stdout + listing.stderr


def test_an_id_that_is_no_code_is_shown_as_hex_and_no_event_writes_a_control_character() -> None:
    """What a registry older than 2.3.0 (or any source of raw ids) hands the library is shown, never interpreted."""
    for raw in NOT_CODES:
        text = shown_id(raw.ljust(32, b"\x00"))
        assert text == "0x" + raw.ljust(32, b"\x00").hex()
        summary = describe(Action.REGISTER, text, name="Office", signer="0x" + "11" * 20, roles=2)
        assert "not a department code" in summary and not CONTROL.search(summary)
    assert shown_id(b"HOSP-01".ljust(32, b"\x00")) == "HOSP-01"
    event = GovernanceEvent(1, "0x", 0, "DepartmentRegistered", {"name": "Office\r\x1b[2KMKT"}, "R28")
    assert not CONTROL.search(event.line()), event.line()
