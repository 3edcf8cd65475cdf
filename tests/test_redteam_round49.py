"""Red team round 49 against this session's merges (docs/threat-model.md, round 49 rows). Each attack was written
failing first.

1. (A hostile node, or a relay in front of it) answer a JSON-RPC batch (``Chain.call_many``: verification's direct
   status read, the department listing) with a member that is no JSON object (a number, ``null``, a list): web3's
   pairing called ``.get`` on it and an AttributeError escaped every reader (no ChainError: the gateway's 500, the
   CLI's traceback), where the same answer to a single call reads as the node's error. Or answer it with ids that
   are not the ones asked (another batch's answers): web3 sorted them by whatever ids they bore and paired them
   with the calls. Answers are now paired by the asked ids; anything else is asked again call by call.
2. (A race, no adversary) erase a certificate (``ledger erase``, not ``--case``) while an application citing it is
   decided: neither the erasure (its look at the decisions citing it came first) nor the decision (its look at
   whether the certificate was erased came before the seal) attested the citation, so replay reported the honest
   decision as tampered (``certificate_facts``) for ever. The erasure now looks again once logged and attests,
   after the seal, what was recorded meanwhile.
3. (An anonymous client) send a GET or DELETE with ``Transfer-Encoding: chunked`` and trickle its body: the guard
   passed it on unread, the route answered, and the connection stayed open as long as chunks came, past round
   48's ``max_body_seconds``. A body announced by Transfer-Encoding is now read under the deadline: 408.
4. (A hostile node) answer a single request with JSON that is no object: an AttributeError escaped every reader,
   as in 1. The provider now refuses such an answer as the node's failure (ChainError).

Held (no change; docs/threat-model.md, round 49 rows): a batch answered reordered (paired by id), with an error in
one slot (that call asked on its own), with an extra member, refused as a whole, or with an id asked twice (asked
again call by call) reads as single calls read. A node that swaps two answers' ids lies as it could in single
calls: nothing a client can tell. A POST's chunked body trickled, a zero-length chunk then more, ``Expect:
100-continue`` with no body: 408 at the deadline (by hand against a real uvicorn); the guard reads a body whole
before any route runs, so no trickle holds the decisions log's head.

Real anvil, real database; the node is reached through tests/rpc_proxy.py.
"""

from __future__ import annotations

import io
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.onchain.chain import Chain, connect
from ledger.services import decisions, erasure, issuance, logchain
from ledger.services.replay import replay

from .conftest import make_records, write_jsonl
from .decision_support import application, unique_rule_set
from .gateway_process import gateway
from .rpc_proxy import RpcProxy

_ANSWERS = {
    # finding 1: refused by web3's pairing with an AttributeError
    "a number": lambda first, second: [first, 7],
    "null": lambda first, second: [first, None],
    "a list": lambda first, second: [first, [second]],
    # finding 1: ids not asked, paired by their order
    "another batch's ids": lambda first, second: [{**second, "id": 1000}, {**first, "id": 1001}],
    # held
    "reordered": lambda first, second: [second, first],
    "a string id": lambda first, second: [first, {**second, "id": str(second["id"])}],
    "a boolean id": lambda first, second: [{**first, "id": True}, second],
    "an error in one slot": lambda first, second: [
        first,
        {"jsonrpc": "2.0", "id": second["id"], "error": {"code": -32000, "message": "execution reverted"}},
    ],
    "an extra member": lambda first, second: [first, second, {**second, "id": second["id"] + 1}],
    "one id twice": lambda first, second: [{**second, "id": first["id"]}, first],
    "refused": lambda first, second: {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "no batch"}},
}


@pytest.mark.parametrize("answer", list(_ANSWERS))
def test_a_batch_answered_in_any_shape_reads_as_single_calls_read(ledger: Ledger, answer: str) -> None:
    """Adversary: a node (or a relay in front of it) answering ``call_many``'s JSON-RPC batch in a shape no honest
    node gives. Every shape reads the values single calls read (the batch, then each call on its own where the
    batch is not one answer per asked id), never an error of the client's own."""

    def rewrite(requests: list[Any], answers: Any) -> Any:
        first, second = sorted(answers, key=lambda a: a["id"])
        return _ANSWERS[answer](first, second)

    with RpcProxy(str(ledger.chain.w3.provider.endpoint_uri), rewrite_batch=rewrite) as proxy:  # type: ignore[attr-defined]
        chain = Chain(connect(proxy.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
        fns = [chain.registry.functions.proposalCount(), chain.anchor.functions.MAX_REASON()]
        expected = [ledger.chain.call(chain.registry.functions.proposalCount()), 12]
        assert expected[0] != 12
        assert chain.call_many(fns) == expected
        assert proxy.methods["eth_call"] in (2, 3, 4), proxy.methods


def _issued(ledger: Ledger, tmp_path: Path, department: str, tag: str) -> dict[str, Any]:
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / f"{tag}.jsonl", make_records(1)), department, out=out)
    (line,) = out.getvalue().splitlines()
    return dict(json.loads(line))


@pytest.mark.parametrize("looks", [1, 2])
def test_a_decision_citing_a_certificate_while_it_is_erased_replays(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, looks: int
) -> None:
    """Adversary: none, a race (skew's report left `ledger erase` of a certificate, not of a case, unlooked at). An
    officer erases a certificate while an application citing it is decided: the erasure established the facts of
    the decisions citing it (``cited_in``) before this one was recorded, and the decision, asking after it was
    recorded whether its cited certificate was erased meanwhile (``_attest_erased``), asked before the erasure
    logged or sealed anything. The interleaving is reproduced by recording the decision right after the erasure's
    first look (``looks`` 1) or its last before the seal (2: the fix's own window); replay must still find the honest
    decision's citation attested."""
    doc = _issued(ledger, tmp_path, fresh_department, "rt49-race")
    rules = unique_rule_set(f"rt49-race-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    looked = erasure.cited_in
    seen = []

    def look_then_decide(ledger_: Ledger, digest: str, **kwargs: Any) -> list[dict[str, Any]]:
        found = looked(ledger_, digest, **kwargs)
        seen.append(digest)
        if len(seen) < looks:
            return found
        monkeypatch.setattr(erasure, "cited_in", looked)
        case = f"C-RT49-RACE-{looks}"
        app = application(case, {"document": doc})
        decided = decisions.decide(
            ledger,
            fresh_department,
            case,
            app["service_item"],
            app,
            rules,
            applicant_ref=doc["fields"]["subject.credit_code"],
        )
        assert [f["verified"] for f in decided.body["certificates"]] == [True]
        return found

    monkeypatch.setattr(erasure, "cited_in", look_then_decide)
    erasure.erase(ledger, doc["digest"], basis="objection", by="officer-49")
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    logchain.anchor_pending(ledger, erasure.LOG, fresh_department)
    assert len(seen) == looks
    found = replay(ledger, department=fresh_department)
    assert found.ok, found.summary()


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_body_trickled_after_a_request_that_takes_none_is_refused_at_the_deadline(
    ledger: Ledger, method: str
) -> None:
    """Adversary: an anonymous client (or a relay in front of the gateway) that sends a GET (or DELETE, HEAD,
    OPTIONS) with ``Transfer-Encoding: chunked`` and then its body a chunk at a time. The guard passed such a
    request on unread (no Content-Length: no body, it took it), the route answered (401) without reading the body,
    and the server kept the connection open for as long as chunks kept coming (each byte put off its keep-alive
    timeout): round 48's deadline, ``max_body_seconds``, bypassed, a connection held for ever for one request.
    Holds now: a body announced by Transfer-Encoding is read under the deadline whatever the method: 408, closed."""
    with gateway(ledger, max_body_seconds=2) as gw:
        host, port = gw.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as slow:
            started = time.monotonic()
            slow.sendall(f"{method} /auth/me HTTP/1.1\r\nHost: gateway\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
            slow.settimeout(0.5)
            answer, closed = b"", False
            while not closed and time.monotonic() - started < 10:
                try:
                    slow.sendall(b"1\r\n \r\n")  # one byte of body, every half second
                    chunk = slow.recv(65536)
                    answer, closed = answer + chunk, not chunk
                except TimeoutError:
                    continue
                except OSError:
                    closed = True
            waited = time.monotonic() - started
        assert closed, f"the connection was still open after {waited:.1f} s: {answer[:200]!r}"
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:300]
        assert 1.9 < waited < 8, waited


@pytest.mark.parametrize("answer", [7, None, [1], "0x", []], ids=["a number", "null", "a list", "a string", "empty"])
@pytest.mark.parametrize("method", ["eth_call", "eth_blockNumber"])
def test_a_single_request_answered_with_no_json_object_is_the_nodes_failure(
    ledger: Ledger, method: str, answer: Any
) -> None:
    """Adversary: a node (or a relay in front of it) answering one request (a view call, the head) with JSON that is
    no object (a number, ``null``, a list, a string): the ledger's fast call and web3's answer handling called
    ``.get`` on it and an AttributeError escaped every reader of the chain (the gateway's 500, the CLI's
    traceback), as finding 1 did for a batch. Holds now: the provider refuses an answer that is no JSON-RPC object
    (NodeAnswerError), which every reader takes for a failure to read the chain (ChainError)."""

    def rewrite(asked: str, params: Any, got: Any) -> Any:
        return answer if asked == method else got

    with RpcProxy(str(ledger.chain.w3.provider.endpoint_uri), rewrite=rewrite) as proxy:  # type: ignore[attr-defined]
        chain = Chain(connect(proxy.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
        with pytest.raises(ChainError):
            if method == "eth_call":
                chain.call(chain.registry.functions.proposalCount())
            else:
                chain.block_number()
