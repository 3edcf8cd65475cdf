"""Red team round 28: council proposals naming a department id that is no department code.

1. (A council member acting alone) The registry takes any nonzero bytes32 as the department of a proposal; the
   library read it back as text (``department_code``: trailing zeros stripped) and computed the proposal's hash
   from that text again (``department_id_bytes``), which refuses anything but 1 to 32 printable ASCII characters.
   One member proposing to register the department ``"\\0MKT"`` (a leading zero byte) made ``ledger council list``
   and ``show`` (and ``Council``'s listing) fail with an InputError for every member: the open proposals - among
   them any rotation of a department's key the same member proposed - could no longer be read or printed, for the
   proposal's week. A department id of control characters (an escape sequence, a carriage return) was printed raw
   by ``list``, ``show`` and ``history``: the proposer wrote on the voter's terminal whatever summary it liked
   over the one it proposed. The proposal's hash is now computed from the registry's own bytes32; a department id
   that is no code is shown as its hex (``0x...``, "not a department code") in every summary and listing, and the
   text output of ``history`` prints no control character.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from ledger.client import Ledger
from ledger.onchain.chain import ROLE_ISSUER, ROLE_VERIFIER
from ledger.services.council import Action, get_proposal, list_proposals
from ledger.services.departments import Council

from .cli_support import run_cli
from .conftest import PASSPHRASE, TEST_TYPES, make_settings

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # any control character but tab and newline


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


def test_a_proposal_naming_no_department_code_hides_no_proposal_and_writes_nothing_on_the_terminal(own: Ledger) -> None:
    """Adversary: one council member, proposing with the registry's own function (not the library's)."""
    chain = own.chain
    council = Council(own)
    hostile = council.members[0]
    council.register("R28-VICTIM", "Victim office", ROLE_ISSUER | ROLE_VERIFIER, types=TEST_TYPES)
    rotation = hostile.propose(Action.ROTATE_KEY, "R28-VICTIM", signer=Account.create().address)
    zero_led = _raw_register(own, hostile.account, b"\x00MKT")
    spoofing = _raw_register(own, hostile.account, b"X\r\x1b[2K#1 reinstate R28-VICTIM")

    # the library's listing reads every open proposal, and each one's hash is the registry's
    listed = {p.id: p for p in list_proposals(chain)}
    assert {rotation, zero_led, spoofing} <= set(listed)
    for number in (zero_led, spoofing):
        on_chain = "0x" + bytes(chain.call(chain.registry.functions.proposalHash(number))).hex()
        assert get_proposal(chain, number).proposal_hash == on_chain
        assert "not a department code" in listed[number].summary and not CONTROL.search(listed[number].summary)

    # the CLI lists them all and writes no control character
    listing = run_cli(own, "council", "list")
    assert listing.returncode == 0, listing.stderr
    assert f"#{rotation} " in listing.stdout and not CONTROL.search(listing.stdout), listing.stdout
    as_json = json.loads(run_cli(own, "council", "list", "--json").stdout)
    assert {p["id"] for p in as_json} >= {rotation, zero_led, spoofing}
    show = run_cli(own, "council", "show", str(spoofing))
    assert show.returncode == 0 and not CONTROL.search(show.stdout), show.stdout + show.stderr
    history = run_cli(own, "council", "history")
    assert history.returncode == 0 and not CONTROL.search(history.stdout), history.stdout + history.stderr
