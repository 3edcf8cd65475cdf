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
2. (The chain's operator, or whoever answers at the witness's node URL) Round 27 kept one malformed answer from
   killing the witness's follower; its reader (``witness.rpc.Rpc``) still took every other answer's shape on
   trust: ``eth_blockNumber`` answered ``null`` or ``12`` (a number, not a quantity), a block answered as a string
   or without its hash, a batch answer with a list as its id raised TypeError, ValueError or KeyError - no
   ChainError - out of the follower thread (which catches the library's errors only: it died, and the witness
   silently stopped observing every origin, so a chain rewritten later went without its alarm) and out of a
   cosignature request (the connection dropped instead of a 503 naming the node). Each answer is now checked
   for the shape it must have (a quantity, a block with 32-byte hashes) and is otherwise the node's error
   (ChainError), and the follower's round (``observe_round``) outlives any failure of one origin's observation,
   logging it.
3. (The chain's operator, or whoever answers at the ledger's node URL) The ledger's own reader of the chain did the
   same: ``eth_blockNumber`` answered ``null`` or ``"0xzz"``, a block answered as a string or without its hash, a
   call's data answered as a number or null, raised TypeError, ValueError, KeyError, AttributeError or web3's
   BadFunctionCallOutput out of ``Chain.block_number``, ``block_hash``, ``call`` and every direct block read -
   which readers took for anything but a chain failure (a holder's document reported malformed, the gateway's
   500). The node provider now checks each result the ledger reads for JSON-RPC's shape (quantities, data,
   blocks, receipts, logs) and answers any other as the node's error (NodeAnswerError, read as a ChainError).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.onchain import chainread
from ledger.onchain.chain import Chain, connect
from ledger.services.council import Action, GovernanceEvent, describe, get_proposal, list_proposals, shown_id
from ledger.services.departments import Council
from ledger.services.witness import client as wclient
from ledger.services.witness.rpc import Rpc
from ledger.services.witness.server import Witness, WitnessStore, observe_round

from .cli_support import run_cli
from .conftest import PASSPHRASE, make_settings
from .evidence_support import rpc_url
from .node_support import SERVER_POLL
from .rpc_proxy import RpcProxy

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


# (method, the result a hostile node answers instead of the node's): each a shape the reader took on trust
MALFORMED = (
    ("eth_blockNumber", None),
    ("eth_blockNumber", 12),
    ("eth_blockNumber", "0xzz"),
    ("eth_chainId", []),
    ("eth_getBlockByNumber", "a block"),
    ("eth_getBlockByNumber", {"number": "0x0"}),
    ("eth_getBlockByNumber", {"hash": 5, "parentHash": "0x" + "00" * 32}),
    ("eth_getCode", {"code": "0x60"}),
)


def _reads(rpc: Rpc) -> dict[str, Any]:
    return {
        "eth_blockNumber": rpc.head,
        "eth_chainId": rpc.chain_id,
        "eth_getBlockByNumber": lambda: rpc.block_hash(0),
        "eth_getCode": lambda: rpc.has_code("0x" + "11" * 20),
    }


class _BatchNode:
    """A node that answers every batch with ``answers`` (the witness asks block headers in batches)."""

    def __init__(self, answers: Any) -> None:
        raw = json.dumps(answers).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(SERVER_POLL,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_malformed_node_answer_is_the_witness_nodes_error_and_the_follower_goes_on(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: the node the witness reads (the chain's operator's, or whoever answers at its URL)."""
    for method, result in MALFORMED:

        def rewrite(asked: str, _params: Any, answer: Any, method: str = method, result: Any = result) -> Any:
            return {**answer, "result": result} if asked == method else answer

        with RpcProxy(rpc_url(ledger), rewrite=rewrite) as proxy:
            with pytest.raises(ChainError) as failed:
                _reads(Rpc(proxy.url))[method]()
            assert "node" in str(failed.value), failed.value

    hashes = {"hash": "0x" + "ab" * 32, "parentHash": "0x" + "cd" * 32}
    for answers, expected in (
        ([{"jsonrpc": "2.0", "id": [0], "result": hashes}], [None]),  # an id no dict is keyed by: no answer
        ([{"jsonrpc": "2.0", "id": 0, "result": "a block"}], ChainError),
        ([{"jsonrpc": "2.0", "id": 0, "result": {"hash": "0x12"}}], ChainError),
        ({"jsonrpc": "2.0", "id": 0, "result": hashes}, ChainError),  # one answer, not a batch
    ):
        node = _BatchNode(answers)
        try:
            if expected is ChainError:
                with pytest.raises(ChainError):
                    Rpc(node.url).headers(0, 0)
            else:
                assert Rpc(node.url).headers(0, 0) == expected
        finally:
            node.close()

    # the follower's round outlives one origin's failure to be read, whatever it is, and logs it
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    origin = wclient.chain_identity(ledger.chain).origin
    store = WitnessStore(tmp_path / "witness")
    store.create_key("court.example/round28")
    logged: list[str] = []
    Witness(store, Rpc(rpc_url(ledger)), log=logged.append).observe(origin)  # cosigned before

    def broken(*_args: Any) -> Any:
        raise RuntimeError("a reader's bug")

    witness = Witness(store, Rpc(rpc_url(ledger)), log=logged.append)
    monkeypatch.setattr(witness, "observe", broken)
    observe_round(witness, [origin])
    assert any("a reader's bug" in line and origin in line for line in logged), logged


def test_a_malformed_node_answer_is_the_ledgers_chain_error(ledger: Ledger) -> None:
    """Adversary: the node the ledger reads (the chain's operator's, or whoever answers at its URL)."""
    cases = (
        ("eth_blockNumber", None),
        ("eth_blockNumber", "0xzz"),
        ("eth_blockNumber", []),
        ("eth_getBlockByNumber", "a block"),
        ("eth_getBlockByNumber", {"number": "0x1"}),
        ("eth_call", 5),
        ("eth_call", None),
        ("eth_getLogs", "logs"),
        ("eth_getLogs", [5]),
    )
    for method, result in cases:

        def rewrite(asked: str, _params: Any, answer: Any, method: str = method, result: Any = result) -> Any:
            return {**answer, "result": result} if asked == method else answer

        with RpcProxy(rpc_url(ledger), rewrite=rewrite) as proxy:
            chain = Chain(
                connect(proxy.url),
                ledger.chain.deployment,
                gas_price=0,
                artifacts=ledger.chain.artifacts,
            )
            reads = {
                "eth_blockNumber": chain.block_number,
                "eth_getBlockByNumber": lambda chain=chain: chain.block_hash(1),
                "eth_call": lambda chain=chain: chain.call(chain.registry.functions.departmentIds()),
                "eth_getLogs": lambda chain=chain: chainread.scan(
                    chain, chain.registry.events.DepartmentRegistered, what="registrations", end=1
                ),
            }
            with pytest.raises(ChainError) as failed:
                reads[method]()
            assert "node" in str(failed.value), (method, result, failed.value)
