"""View calls read by the ledger's own path (``Chain.call``: one plain ``eth_call``, web3's codec) answer exactly as
web3's contract pipeline does, and a node answering what no function returns gets web3's own error.

Adversary: the chain's operator, or a node in between, answering a view call with bytes that are not hex or not
the function's outputs: the shortcut must not turn that into a value, or into another kind of error than before
(but web3's BadFunctionCallOutput, what a node without the contract answers, is the chain's error since red team 29a).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, Web3RPCError

from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.onchain.chain import HEAD_MOVED_ASKS, Chain, HeadMovedError, NodeAnswerError, connect, department_id_bytes

from .rpc_proxy import RpcProxy


def _views(chain: Chain) -> list[Any]:
    mkt = department_id_bytes("MKT")
    return [
        chain.registry.functions.department(mkt),
        chain.registry.functions.keyHistory(mkt),
        chain.registry.functions.statusHistory(mkt),
        chain.registry.functions.departmentIds(),
    ]


def _chain_via(ledger: Ledger, url: str) -> Chain:
    # the session's embedded node, behind a proxy
    return Chain(connect(url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)


def test_view_calls_answer_as_web3_does_without_asking_the_chain_id_each_time(ledger: Ledger) -> None:
    with RpcProxy(str(ledger.chain.w3.provider.endpoint_uri)) as proxy:  # type: ignore[attr-defined]
        chain = _chain_via(ledger, proxy.url)
        for fn in _views(chain):
            assert chain.call(fn) == fn.call(block_identifier="latest"), fn.fn_name
        for _ in range(HEAD_MOVED_ASKS):  # the node keeps the head's state only: a block mined meanwhile, again
            head = chain.block_number()
            try:
                for fn in _views(chain):
                    assert chain.call(fn, head) == fn.call(block_identifier=head), fn.fn_name
                break
            except (HeadMovedError, Web3RPCError) as exc:
                assert "BlockOutOfRangeError" in str(exc), exc
        else:
            raise AssertionError(f"no {HEAD_MOVED_ASKS} heads in a row were kept while 8 view calls were read")
        department = chain.call(chain.registry.functions.department(department_id_bytes("MKT")))
        assert Web3.is_checksum_address(department[2])  # addresses come checksummed, as web3 gives them
        # web3 asked it twice before every eth_call (34 here); now the provider keeps the first answers
        assert proxy.methods["eth_chainId"] <= 2 < proxy.methods["eth_call"], proxy.methods


def _result(value: Any) -> Any:
    return lambda reply: {**reply, "result": value}


def _without(member: str) -> Any:
    return lambda reply: {k: v for k, v in reply.items() if k != member}


@pytest.mark.parametrize(
    "answer",
    [
        _result("0xzz"),  # not hex
        _result("0x1234"),  # shorter than the function's outputs
        _result("0x" + "00" * 31),
        _result(7),  # not a string
        _without("jsonrpc"),  # not a JSON-RPC 2.0 answer: web3 refuses it
        _without("id"),
        lambda reply: {**reply, "error": {"code": -32000, "message": "and a result"}},  # both error and result
        lambda reply: {**reply, "jsonrpc": "1.0"},
    ],
)
def test_a_node_answering_what_no_function_returns_gets_web3s_own_error(ledger: Ledger, answer: Any) -> None:
    def lie(method: str, _params: Any, reply: Any) -> Any:
        return answer(reply) if method == "eth_call" else reply

    with RpcProxy(str(ledger.chain.w3.provider.endpoint_uri), rewrite=lie) as proxy:  # type: ignore[attr-defined]
        chain = _chain_via(ledger, proxy.url)
        fn = chain.registry.functions.department(department_id_bytes("MKT"))
        # whatever web3 raises, the ledger raises too
        with pytest.raises(Exception) as web3_path:
            fn.call()
        with pytest.raises(Exception) as ledger_path:
            chain.call(fn)
        if isinstance(web3_path.value, NodeAnswerError):  # no JSON-RPC data at all: the node's error (round 28)
            assert isinstance(ledger_path.value, ChainError), ledger_path.value
        elif isinstance(web3_path.value, BadFunctionCallOutput):  # no value of the outputs: the chain's error (29a)
            assert isinstance(ledger_path.value, ChainError), ledger_path.value
            assert ledger_path.value.__cause__ is not None
            assert type(ledger_path.value.__cause__) is BadFunctionCallOutput
        else:
            assert type(ledger_path.value) is type(web3_path.value), (ledger_path.value, web3_path.value)


def test_a_node_given_by_url_that_keeps_no_older_state_has_reads_at_a_moved_head_asked_again(ledger: Ledger) -> None:
    # Council members on their own machines point LEDGER_RPC_URL at the operator's embedded node, which keeps the
    # head's state only: a read at latest meeting a block being mined is refused, and was the member's error (a CI
    # run's `ledger council approve` reported the registry "version unreadable"). The witness's reader and the
    # court's verifier asked again on any node; the library asked again on its own embedded node only.
    refused = {"left": HEAD_MOVED_ASKS - 1}

    def moved(request: dict[str, Any]) -> bytes | None:
        if request.get("method") != "eth_call" or refused["left"] == 0:
            return None
        refused["left"] -= 1
        message = "BlockOutOfRangeError: block height is 12 but requested was 11"
        error = {"code": -32602, "message": message}
        return json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "error": error}).encode()

    with RpcProxy(str(ledger.chain.w3.provider.endpoint_uri), intercept=moved) as proxy:  # type: ignore[attr-defined]
        chain = Chain(connect(proxy.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
        ids = chain.registry.functions.departmentIds()
        before = proxy.methods["eth_call"]
        assert chain.call(ids) == ledger.chain.call(ledger.chain.registry.functions.departmentIds())
        assert proxy.methods["eth_call"] - before == HEAD_MOVED_ASKS
        # refused every time it is asked: the node's error, after eight asks by the ledger's path and eight by web3's
        refused["left"] = 2 * HEAD_MOVED_ASKS
        with pytest.raises(HeadMovedError):
            chain.call(ids)
        assert proxy.methods["eth_call"] - before == 3 * HEAD_MOVED_ASKS


def test_a_batch_answered_twice_for_one_request_is_asked_again_call_by_call(ledger: Ledger) -> None:
    """Adversary: the node (or one in between) answering a JSON-RPC batch (``Chain.call_many``: verification's
    direct status read, ``statusOf`` with ``endedUnder`` and ``heldUnder``) with two answers bearing one request's
    id. web3 orders a batch's answers by id, so the first call was given the second's answer (a status read for an
    end under another root): answers that are not one per request are asked again, call by call."""

    def twice(requests: list[Any], answers: Any) -> Any:
        assert len(requests) == 2 and isinstance(answers, list), answers
        first, second = sorted(answers, key=lambda a: a["id"])
        return [{**second, "id": first["id"]}, first]

    with RpcProxy(str(ledger.chain.w3.provider.endpoint_uri), rewrite_batch=twice) as proxy:  # type: ignore[attr-defined]
        chain = Chain(connect(proxy.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
        fns = [chain.registry.functions.proposalCount(), chain.anchor.functions.MAX_REASON()]
        expected = [ledger.chain.call(chain.registry.functions.proposalCount()), 12]
        assert expected[0] != 12
        assert chain.call_many(fns) == expected
        assert proxy.methods["eth_call"] == 4, proxy.methods  # the batch of two, then each on its own
