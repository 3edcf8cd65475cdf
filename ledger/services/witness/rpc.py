"""A minimal JSON-RPC reader of the chain for witnesses: standard ``eth_*`` calls only, batched.

A witness reads the chain itself and trusts nothing the ledger sends it; it needs no web3 and no contract ABI.
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.error
import urllib.request
from typing import Any

from ...errors import ChainError
from ...formats.canonical import json_loads
from ...onchain.chain import HEAD_MOVED_ASKS, MAX_NODE_ANSWER_BYTES, head_moved, node_location, transport_failure
from .._remote import AnswerRefused, AnswerTooLarge, bounded_read, open_url

BATCH = 200
_QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,64}")  # a JSON-RPC quantity of at most 256 bits
_HASH = re.compile(r"0x[0-9a-fA-F]{64}")


class Rpc:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url
        self.timeout = timeout

    def _post(self, payload: Any) -> Any:
        """The node's answer. Its URL (which may hold an access key) is in no error's text, only in ``where``:
        the witness answers its refusals, which say that it cannot read its node and why, to whoever asks it."""
        request = urllib.request.Request(self.url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
        try:
            # no redirect is followed: the node is the address the witness's operator configured, and a Location is
            # the word of whatever answers there, aiming the witness's machine at a host of its choosing (round 76)
            with open_url(request, self.timeout) as response:
                # one that never ends is not held in memory, nor waited for: the socket's timeout bounds each read, so
                # an answer trickled a byte at a time held the witness's lock, and with it every cosignature of every
                # origin, for as long as the node (or whatever answers at its address) kept talking (red team round 76)
                body = bounded_read(response, MAX_NODE_ANSWER_BYTES, self.timeout)
            return json_loads(body)
        except AnswerTooLarge:
            raise ChainError(
                f"the node's answer exceeds {MAX_NODE_ANSWER_BYTES} bytes, more than any answer the witness asks "
                "for: the node is faulty or hostile",
                where=node_location(self.url),
            ) from None
        except AnswerRefused:
            raise ChainError(
                f"the node's answer took longer than {self.timeout} s to arrive: the node is slow, faulty or hostile",
                where=node_location(self.url),
            ) from None
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                raise ChainError(
                    f"the node answered HTTP {exc.code}: a redirect, which is not followed (a witness reads its node "
                    "at the address its operator configured: configure the node's own address)",
                    where=node_location(self.url),
                ) from None
            raise ChainError(transport_failure(exc), where=node_location(self.url)) from exc
        except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError; BadStatusLine
            raise ChainError(transport_failure(exc), where=node_location(self.url)) from exc
        except ValueError as exc:  # quoting none of the answer: a portal's page may name the address it was asked
            raise ChainError(
                f"the node's answer is not JSON-RPC ({type(exc).__name__})", where=node_location(self.url)
            ) from exc

    def __call__(self, method: str, *params: Any) -> Any:
        request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        answer = self._post(request)
        for _ in range(HEAD_MOVED_ASKS - 1):  # anvil's refusal of a read at latest while a block was mined, only
            if not head_moved(method, params, answer):
                break
            answer = self._post(request)
        if not isinstance(answer, dict) or answer.get("error"):
            raise ChainError(
                f"the node refused {method}: {answer.get('error') if isinstance(answer, dict) else answer}",
                where=node_location(self.url),
            )
        return answer.get("result")

    # Every answer is checked for the shape it must have before it is used: a hostile node's answer of another
    # shape (null for a number, a string for a block) raised TypeError or KeyError out of the witness's follower,
    # which then stopped observing every origin (red team round 28). It is the node's error instead.
    def _malformed(self, what: str, value: Any) -> ChainError:
        return ChainError(
            f"the node's answer to {what} is not what JSON-RPC answers ({type(value).__name__}): the node is faulty "
            "or hostile",
            where=node_location(self.url),
        )

    def _quantity(self, method: str) -> int:
        value = self(method)
        if not isinstance(value, str) or not _QUANTITY.fullmatch(value):
            raise self._malformed(method, value)
        return int(value, 16)

    def _hashes(self, block: Any, *names: str) -> tuple[str, ...]:
        """The block's 32-byte hashes ``names`` in lower case; ChainError for anything but a block holding them."""
        values = tuple(block.get(name) if isinstance(block, dict) else None for name in names)
        if not all(isinstance(v, str) and _HASH.fullmatch(v) for v in values):
            raise self._malformed("eth_getBlockByNumber", block)
        return tuple(str(v).lower() for v in values)

    def head(self) -> int:
        return self._quantity("eth_blockNumber")

    def chain_id(self) -> int:
        return self._quantity("eth_chainId")

    def block_hash(self, number: int) -> str | None:
        block = self("eth_getBlockByNumber", hex(number), False)
        return None if block is None else self._hashes(block, "hash")[0]

    def headers(self, first: int, last: int) -> list[tuple[int, str, str] | None]:
        """(number, hash, parentHash) of blocks first..last, batched; None where the node has no such block."""
        out: list[tuple[int, str, str] | None] = []
        for start in range(first, last + 1, BATCH):
            numbers = range(start, min(start + BATCH, last + 1))
            answers = self._post(
                [
                    {"jsonrpc": "2.0", "id": n, "method": "eth_getBlockByNumber", "params": [hex(n), False]}
                    for n in numbers
                ]
            )
            if not isinstance(answers, list):
                raise ChainError(
                    f"the node does not answer batched requests ({type(answers).__name__})",
                    where=node_location(self.url),
                )
            # an answer's id is the block number asked for (an int); any other id (a list cannot key a dict) is no
            # answer to this batch
            by_id = {a["id"]: a for a in answers if isinstance(a, dict) and type(a.get("id")) is int}
            for n in numbers:
                answer = by_id.get(n)
                block = answer.get("result") if answer is not None else None
                if block is None:
                    out.append(None)
                    continue
                block_hash, parent = self._hashes(block, "hash", "parentHash")
                out.append((n, block_hash, parent))
        return out

    def has_code(self, address: str) -> bool:
        code = self("eth_getCode", address, "latest")
        if not isinstance(code, str):
            raise self._malformed("eth_getCode", code)
        return code not in ("0x", "0x0", "")
