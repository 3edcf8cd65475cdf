"""A council of separate keyholders, through the real `ledger` command against a real anvil node.

Three member processes, each with its own data directory, keystore and passphrase, run the whole lifecycle:
propose, list, inspect, approve by signature file (submitted by someone else), execute; a second proposal is
rejected; a third expires (anvil's evm_increaseTime, no sleeping). One person holding all three keystore files but
only one passphrase cannot reach the 2-of-3 threshold.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account

from ledger.client import Ledger
from ledger.errors import ChainError, KeystoreError
from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER
from ledger.services.council import (
    Action,
    CouncilMember,
    ProposalState,
    approval_typed_data,
    current_service_items,
    get_proposal,
    holds_service_item,
    submit_approvals,
)
from ledger.services.departments import Council, get_department
from ledger.storage.keys import Keystore

from .cli_support import ledger_process
from .conftest import DEMO_COUNCIL_PASSPHRASES, make_settings

LIFETIME = 7 * 24 * 3600


@dataclass
class Network:
    ledger: Ledger
    url: str
    deployment: Path
    root: Path


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """Its own embedded chain (time is moved forward here); the demo council's three member keystores are moved
    out to three member folders, so nothing but the members themselves holds a member key."""
    root = tmp_path_factory.mktemp("council")
    ledger = Ledger.open(make_settings(root / "node"), passphrase="operator passphrase")
    for index in (1, 2, 3):
        member_keys = root / f"member-{index}" / "keys"
        member_keys.mkdir(parents=True)
        shutil.move(root / "node" / "keys" / f"council-{index}" / "council.json", member_keys / "council.json")
    assert ledger.node is not None and ledger.node.url
    yield Network(ledger=ledger, url=ledger.node.url, deployment=ledger.settings.deployment_path, root=root)
    ledger.close()


def run(
    network: Network,
    member: int,
    *args: str,
    expect: int = 0,
    passphrase: str | None = None,
    keystore: Path | None = None,
) -> str:
    """`ledger ...` as council member ``member`` (1-3) on their own machine: own data dir, own passphrase."""
    home = network.root / f"member-{member}"
    secret = passphrase or DEMO_COUNCIL_PASSPHRASES[member - 1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_DEMO_COUNCIL")}
    env.update(
        LEDGER_DATA_DIR=str(home),
        LEDGER_RPC_URL=network.url,
        LEDGER_DEPLOYMENT_FILE=str(network.deployment),
        LEDGER_GAS_PRICE="0",
        LEDGER_COUNCIL_PASSPHRASE=secret,
        LEDGER_PASSPHRASE=secret,
        LEDGER_KEYSTORE_KDF_N="1024",
    )
    env.pop("LEDGER_DATABASE_URL", None)
    if keystore is not None:
        args = (*args, "--member-keystore", str(keystore))
    done = ledger_process(args, env=env)
    assert done.returncode == expect, f"member {member}: ledger {' '.join(args)}: {done.stdout}\n{done.stderr}"
    # a command that succeeds: its output (standard error may hold a warning: the suite's insecure KDF floor); one
    # that fails: its output and its error
    return done.stdout if expect == 0 else done.stdout + done.stderr


def member_address(network: Network, member: int) -> str:
    return Keystore(network.root / f"member-{member}" / "keys").address("council")


def test_three_members_on_their_own_machines_run_the_lifecycle(network: Network) -> None:
    chain = network.ledger.chain
    department_key = Account.create().address

    # Member 1 proposes; that counts as their approval, and 1 of 2 is not enough.
    created = json.loads(
        run(
            network,
            1,
            "council",
            "propose",
            "register",
            "LIFE",
            "--name",
            "Lifecycle Office",
            "--roles",
            "issuer",
            "--signer",
            department_key,
        )
    )
    first = created["proposal"]
    assert created["state"] == "open" and created["approvals"] == 1 and created["threshold"] == 2
    assert created["approved_by"] == [member_address(network, 1)]

    # Member 2 lists the open proposals: votes and expiry, read from the chain.
    listed = json.loads(run(network, 2, "council", "list", "--json"))
    assert [p["id"] for p in listed] == [first]
    assert listed[0]["expires_at"] == created["expires_at"] and listed[0]["state"] == "open"

    # Member 3 inspects it, in words, and signs an approval into a file; nothing is sent.
    shown = run(network, 3, "council", "show", str(first))
    assert f"register department LIFE ('Lifecycle Office') with key {department_key} and roles issuer" in shown
    approval = network.root / "approval-3.json"
    run(network, 3, "council", "sign", str(first), "--out", str(approval))
    assert get_proposal(chain, first).approvals == 1
    assert json.loads(approval.read_text())["member"] == member_address(network, 3)

    # Member 1 collects the file and submits it: that reaches the threshold and executes.
    executed = json.loads(run(network, 1, "council", "submit", str(first), str(approval)))
    assert executed["state"] == "executed" and executed["approved_by"] == [
        member_address(network, 1),
        member_address(network, 3),
    ]
    assert get_department(chain, "LIFE").signer == department_key

    # The same file again counts nothing more (nothing is sent); edited to name another proposal, the chain
    # refuses it.
    assert "counts already on proposal" in run(network, 2, "council", "submit", str(first), str(approval), expect=2)

    # A second proposal is rejected by the two others: defeated, it can never execute.
    second = json.loads(run(network, 2, "council", "suspend", "LIFE"))["proposal"]
    assert (
        f"suspend department LIFE: its key stops acting until it is reinstated; now: 'Lifecycle Office', key "
        f"{department_key}, roles issuer, active"
    ) in run(network, 1, "council", "show", str(second))
    forged = json.loads(approval.read_text()) | {"proposal_id": second}
    (network.root / "forged.json").write_text(json.dumps(forged))
    assert "RegistryInvalidSignature" in run(
        network, 1, "council", "submit", str(second), str(network.root / "forged.json"), expect=2
    )
    run(network, 1, "council", "reject", str(second))
    assert json.loads(run(network, 3, "council", "reject", str(second)))["state"] == "defeated"
    assert "RegistryProposalDefeated" in run(network, 1, "council", "approve", str(second), expect=2)
    assert get_department(chain, "LIFE").active

    # A third expires: a week of block time passes (the node's control, not a sleep) and approval is refused.
    third = json.loads(run(network, 3, "council", "roles", "LIFE", "--roles", "issuer,verifier"))["proposal"]
    assert [p["id"] for p in json.loads(run(network, 1, "council", "list", "--json"))] == [third]
    chain.w3.provider.make_request("evm_increaseTime", [LIFETIME])  # type: ignore[arg-type]
    chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert json.loads(run(network, 1, "council", "list", "--json")) == []
    assert "RegistryProposalExpired" in run(network, 1, "council", "approve", str(third), expect=2)
    assert "issuer,verifier" not in ",".join(get_department(chain, "LIFE").roles)
    states = {p["id"]: p["state"] for p in json.loads(run(network, 2, "council", "list", "--all", "--json"))}
    assert (states[first], states[second], states[third]) == ("executed", "defeated", "expired")

    # The registry's events are the governance history, overall and per department.
    history = json.loads(run(network, 2, "council", "history", "LIFE", "--json"))
    names = [e["event"] for e in history]
    assert names.count("ProposalCreated") == 3 and "DepartmentRegistered" in names and "ProposalDefeated" in names
    assert names.count("ProposalRejected") == 2
    departments = json.loads(run(network, 2, "departments", "--json"))
    life = next(d for d in departments if d["id"] == "LIFE")
    assert [e["event"] for e in life["governance"]] == names


def test_one_person_with_every_keystore_file_but_one_passphrase_cannot_reach_the_threshold(network: Network) -> None:
    chain = network.ledger.chain
    hoard = network.root / "member-1" / "hoard"
    hoard.mkdir()
    for index in (1, 2, 3):
        shutil.copy(network.root / f"member-{index}" / "keys" / "council.json", hoard / f"council-{index}.json")

    # A keystore holding several council keys is refused outright...
    assert "holds 3 council keys" in run(network, 1, "council", "suspend", "LIFE", keystore=hoard, expect=2)
    # ...and with the explicit demo flag, the one passphrase opens one key only: 1 of 2 approvals, no more.
    several = ("--several-council-keys", "--member-key")
    proposal = json.loads(run(network, 1, "council", "suspend", "LIFE", *several, "council-1", keystore=hoard))
    assert proposal["approvals"] == 1 and proposal["state"] == "open"
    for key in ("council-2", "council-3"):
        out = run(network, 1, "council", "approve", str(proposal["proposal"]), *several, key, keystore=hoard, expect=2)
        assert f"wrong passphrase for key {key!r}" in out
        out = run(
            network,
            1,
            "council",
            "sign",
            str(proposal["proposal"]),
            "--out",
            str(hoard / "x.json"),
            *several,
            key,
            keystore=hoard,
            expect=2,
        )
        assert "wrong passphrase" in out
    assert get_proposal(chain, proposal["proposal"]).approvals == 1
    assert get_department(chain, "LIFE").active
    run(network, 1, "council", "cancel", str(proposal["proposal"]), *several, "council-1", keystore=hoard)
    assert get_proposal(chain, proposal["proposal"]).state is ProposalState.CANCELLED


def test_a_keystore_holds_one_council_key(tmp_path: Path) -> None:
    keystore = Keystore(tmp_path, kdf_n=1024)
    keystore.create("council", "one passphrase")
    with pytest.raises(KeystoreError, match="one council member's key"):
        keystore.create("council-2", "one passphrase")
    keystore.create("dept-MKT", "one passphrase")  # department keys are not council keys
    Keystore(tmp_path, kdf_n=1024, several_council_keys=True).create("council-2", "one passphrase")


def test_members_grant_and_revoke_service_items_from_the_command_line(network: Network) -> None:
    """The council makes a department responsible for service items (red team round 85s): `council propose
    grant-item`, shown in words, executed at the threshold, in the history; `revoke-item` ends it."""
    chain = network.ledger.chain
    accounts = [
        Keystore(network.root / f"member-{i}" / "keys").unlock("council", DEMO_COUNCIL_PASSPHRASES[i - 1])
        for i in (1, 2)
    ]
    Council(network.ledger, accounts).register(
        "SSB", "Social Security Bureau", ROLE_APPROVER, signer=Account.create().address
    )
    created = json.loads(run(network, 1, "council", "propose", "grant-item", "SSB", "*", "440300-SHBZ-0001"))
    shown = run(network, 2, "council", "show", str(created["proposal"]))
    assert "authorize department SSB to decide on service items '*' (every service item), '440300-SHBZ-0001'" in shown
    assert not holds_service_item(chain, "SSB", "*")
    run(network, 2, "council", "approve", str(created["proposal"]))
    assert holds_service_item(chain, "SSB", "*") and holds_service_item(chain, "SSB", "440300-SHBZ-0001")
    assert current_service_items(chain, "SSB") == ["*", "440300-SHBZ-0001"]
    listing = run(network, 2, "departments")
    assert "service items: '*' (every service item), '440300-SHBZ-0001'" in listing, listing
    revoked = json.loads(run(network, 1, "council", "propose", "revoke-item", "SSB", "*"))
    run(network, 2, "council", "approve", str(revoked["proposal"]))
    assert current_service_items(chain, "SSB") == ["440300-SHBZ-0001"]
    # the department listing shows what it holds now, and (--json) every period, as for certificate types
    (ssb,) = [d for d in json.loads(run(network, 2, "departments", "--json")) if d["id"] == "SSB"]
    assert ssb["items"] == ["440300-SHBZ-0001"], ssb
    periods = {p["service_item"]: p for p in ssb["item_history"]}
    assert set(periods) == {"*", "440300-SHBZ-0001"} and periods["440300-SHBZ-0001"]["until_block"] is None
    assert periods["*"]["until_block"] is not None and periods["*"]["from_block"] < periods["*"]["until_block"]
    assert "service items: '440300-SHBZ-0001'" in run(network, 2, "departments")
    history = run(network, 2, "council", "history", "SSB")
    assert "ServiceItemGranted" in history and "ServiceItemRevoked" in history, history
    refused = run(network, 1, "council", "propose", "grant-item", "SSB", "A,B", expect=2)
    assert "holds ','" in refused, refused


def test_a_former_member_cannot_approve(network: Network) -> None:
    """Member 3 is removed by proposal; its on-chain vote and its signed approval are refused from then on."""
    chain = network.ledger.chain
    members = [
        CouncilMember(
            chain, Keystore(network.root / f"member-{i}" / "keys").unlock("council", DEMO_COUNCIL_PASSPHRASES[i - 1])
        )
        for i in (1, 2, 3)
    ]
    accounts = [m.account for m in members]
    Council(network.ledger, accounts).register(
        "FMR", "Former member test", ROLE_ISSUER, signer=Account.create().address
    )
    Council(network.ledger, accounts).decide(Action.REMOVE_MEMBER, None, signer=members[2].address)
    assert not chain.call(chain.registry.functions.isCouncilMember(members[2].address))
    proposal_id = members[0].propose(Action.SUSPEND, "FMR")
    with pytest.raises(Exception, match="RegistryNotCouncilMember"):
        members[2].approve(proposal_id)
    with pytest.raises(KeystoreError, match="is not a member"):
        members[2].sign_approval(proposal_id)
    # Signed by hand (the ledger will not sign for a non-member) and relayed by anyone: the chain refuses it too.
    proposal = get_proposal(chain, proposal_id)
    typed = approval_typed_data(chain, proposal, proposal.expires_at)
    signature = members[2].account.sign_typed_data(full_message=typed).signature
    forged = {
        "chain_id": chain.chain_id,
        "registry": chain.deployment.registry,
        "proposal_id": proposal_id,
        "member": members[2].address,
        "deadline": proposal.expires_at,
        "signature": "0x" + bytes(signature).hex(),
    }
    with pytest.raises(ChainError, match="RegistryNotCouncilMember"):
        submit_approvals(chain, Account.create(), proposal_id, [forged])
    assert get_department(chain, "FMR").active
    # Council changes stay possible: bring the member back, which makes the open suspension stale.
    Council(network.ledger, [m.account for m in members[:2]]).decide(Action.ADD_MEMBER, None, signer=members[2].address)
    assert get_proposal(chain, proposal_id).state is ProposalState.STALE
    assert get_department(chain, "FMR").active
    # Back on the council, member 3's signed approval of a new proposal, relayed by an account that is no member
    # (it needs no funds on a zero-fee chain), executes it.
    proposal_id = members[0].propose(Action.SUSPEND, "FMR")
    assert submit_approvals(chain, Account.create(), proposal_id, [members[2].sign_approval(proposal_id)]).executed
    assert not get_department(chain, "FMR").active
