"""Reading events from the chain: one scan policy for ``eth_getLogs`` and typed events.

Every event query of the library goes through :func:`scan` (decoded events of one contract event) or
:func:`scan_raw` (a raw filter, for several event types in one request). The policy is the same everywhere:

* from the deployment block (never block 0: nothing of ours is older, and public RPC providers refuse an
  unbounded range), up to the head read once when the scan starts (or the ``end`` a caller fixes);
* in chunks of ``Chain.log_span`` blocks (``LEDGER_LOG_SPAN``, default 10,000: what public providers accept),
  results in chain order;
* never towards a head the node cannot back (red team round 29d): an end beyond :data:`MAX_BLOCK_NUMBER` (what the
  contracts can record) is refused, and a scan of more than :data:`PROBE_AFTER_RANGES` ranges first asks the node
  for the block at its end, refused when the node has none: a node claiming a head of 2^40 and answering ``[]``
  for every range made the scan ask 10^8 times;
* any transport or node error becomes a :class:`~ledger.errors.ChainError` that names what was being read, the
  blocks and the node, and what to do.

The dataclasses below are the typed form of the events read most; ``from_log`` builds one from a decoded event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ChainError

if TYPE_CHECKING:
    from .chain import Chain

DEFAULT_LOG_SPAN = 10_000
"""Blocks per ``eth_getLogs`` request unless ``LEDGER_LOG_SPAN`` says otherwise."""

REORG_MARGIN = 12
"""Blocks beyond the configured confirmations that a reorganisation is still guarded against."""

MAX_BLOCK_NUMBER = 2**32 - 1
"""The highest block the contracts can record: they keep block numbers in 32 bits (``uint32(block.number)``), so
no deployment of ours works past it, and a node claiming a head beyond it is not believed (:func:`believable_head`).
At ``LEDGER_LOG_SPAN`` 10,000 it bounds a scan from the deployment to 430,000 ranges."""

PROBE_AFTER_RANGES = 8
"""A scan of more ranges than this first asks the node for the block at its end (one request; an honest scan of
fewer ranges, every scan of a deployment younger than 80,000 blocks at the default span, pays nothing)."""


@dataclass(frozen=True)
class Finality:
    """The one finality policy, from the configured confirmations (``LEDGER_CONFIRMATIONS``).

    * an anchor *counts* once ``confirmations`` blocks are on top of it (``counts``);
    * a fact is *final* (cached for good, never re-read) once it is ``confirmations + REORG_MARGIN`` deep
      (``final_upto``): shallower facts are re-read, so a reorganisation cannot leave a stale one behind;
    * a confirmed batch is re-checked against the canonical chain while it is in the newest ``recheck_window``
      blocks (``ledger recheck``; ``ledger reconcile`` checks them all).
    """

    confirmations: int = 0

    def counts(self, block: int, head: int) -> bool:
        return head - block >= self.confirmations

    @property
    def reorg_depth(self) -> int:
        return self.confirmations + REORG_MARGIN

    def final_upto(self, head: int) -> int:
        """The newest block whose facts are final at ``head``."""
        return head - self.reorg_depth

    @property
    def recheck_window(self) -> int:
        return max(256, 4 * self.confirmations)


# What a node or its transport raises for a failed request: requests' errors are OSErrors, web3's own errors
# (RPC errors, timeouts, bad responses) are Web3Exceptions, a malformed answer is a ValueError.
# web3's are imported when an exception is matched against them (a process that never opened a chain client raises
# none of them: a replay worker imports this module without web3).
def read_errors() -> tuple[type[Exception], ...]:
    """What a failed read of the node raises (requests' OSErrors, a malformed answer's ValueError, web3's own)."""
    return (OSError, ValueError, *web3_errors())


def web3_errors() -> tuple[type[Exception], ...]:
    """web3's own errors of a failed request (RPC errors, timeouts, bad responses), imported when matched."""
    from web3.exceptions import Web3Exception

    return (Web3Exception,)


def _block_not_found() -> type[Exception]:
    from web3.exceptions import BlockNotFound

    return BlockNotFound


def block_ranges(start: int, end: int, span: int) -> Iterator[tuple[int, int]]:
    """[start, end] cut into consecutive inclusive ranges of at most ``span`` blocks."""
    if span < 1:
        raise ValueError(f"a log span must be at least 1 block, not {span}")
    block = start
    while block <= end:
        upto = min(end, block + span - 1)
        yield block, upto
        block = upto + 1


def believable_head(number: int, where: str) -> int:
    """``number`` (a head the node at ``where`` claimed, or the end of a read up to it), or a ChainError saying it
    is not believable: beyond :data:`MAX_BLOCK_NUMBER`, a block no deployment of ours reaches."""
    if number > MAX_BLOCK_NUMBER:
        raise ChainError(
            f"the node claims a head of block {number}, beyond what the contracts can record (they keep block "
            f"numbers in 32 bits: no deployment reaches block {MAX_BLOCK_NUMBER + 1}); its answer is not "
            "believable: check that LEDGER_RPC_URL names a node of this chain you trust",
            where=where,
        )
    return number


def _probe(chain: Chain, what: str, last: int) -> None:
    """The node must produce block ``last`` before a scan of many ranges reads up to it (red team round 29d)."""
    try:
        block = chain.w3.eth.get_block(last)
    except _block_not_found():
        block = None
    except read_errors() as exc:
        raise ChainError(
            f"could not read block {last}, the end of {what}, from the node: {exc}", where=_url(chain)
        ) from exc
    if block is None or int(block.get("number", -1)) != last:
        raise ChainError(
            f"the node claims a head of at least block {last} but does not produce that block: its answer is not "
            f"believable, so {what} is not read up to it; check that LEDGER_RPC_URL names a node of this chain "
            "you trust",
            where=_url(chain),
        )


def scan_ranges(chain: Chain, what: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """The ranges of ``chain.log_span`` blocks a read of [start, end] asks for, once ``end`` is believable: within
    :data:`MAX_BLOCK_NUMBER`, and a block the node produces when the read takes more than
    :data:`PROBE_AFTER_RANGES` ranges (a ChainError saying the node is not believable otherwise). Every read of
    logs in ranges goes through it."""
    span = chain.log_span
    believable_head(end, _url(chain))
    if span >= 1 and (end - start) // span >= PROBE_AFTER_RANGES:
        _probe(chain, what, end)
    return block_ranges(start, end, span)


def _fetch(chain: Chain, what: str, start: int, end: int | None, request: Callable[[int, int], list[Any]]) -> list[Any]:
    span = chain.log_span
    first = max(int(chain.deployment.deployed_block), start)
    last = chain.block_number() if end is None else end
    found: list[Any] = []
    for low, high in scan_ranges(chain, what, first, last):
        try:
            found.extend(request(low, high))
        except read_errors() as exc:
            from ._node_http import time_limit_in

            limit = time_limit_in(exc)
            if limit is not None:  # the time limit ran out: nothing to do with the node's logs (red team round 67)
                raise ChainError(f"could not read {what} in blocks {low}-{high}: {limit}", where=_url(chain)) from exc
            raise ChainError(
                f"could not read {what} in blocks {low}-{high} from the node: {exc}. Check that the node is "
                f"reachable and keeps logs (not pruned); if it limits eth_getLogs ranges, lower LEDGER_LOG_SPAN "
                f"(now {span})",
                where=_url(chain),  # the operator's log, never an answer (it may carry an access key)
            ) from exc
    found.sort(key=lambda log: (int(log["blockNumber"]), int(log["logIndex"])))
    return found


def scan(
    chain: Chain,
    event: Any,
    *,
    what: str,
    argument_filters: Mapping[str, Any] | None = None,
    start: int = 0,
    end: int | None = None,
) -> list[Any]:
    """Decoded logs of the contract event ``event`` (e.g. ``chain.anchor.events.BatchAnchored``) matching
    ``argument_filters``, from ``start`` (never before the deployment block) to ``end`` (default: the head now),
    oldest first. ``what`` names the read in errors ("the anchors of MKT")."""
    filters = dict(argument_filters) if argument_filters else None

    def request(low: int, high: int) -> list[Any]:
        return list(event().get_logs(from_block=low, to_block=high, argument_filters=filters))

    return _fetch(chain, what, start, end, request)


def scan_raw(
    chain: Chain, params: Mapping[str, Any], *, what: str, start: int = 0, end: int | None = None
) -> list[Any]:
    """Raw logs for the filter ``params`` (address, topics; the block range is the scan's), oldest first."""

    def request(low: int, high: int) -> list[Any]:
        return list(chain.w3.eth.get_logs({**params, "fromBlock": low, "toBlock": high}))  # type: ignore[typeddict-item]

    return _fetch(chain, what, start, end, request)


def _url(chain: Chain) -> str:
    from .chain import node_location  # chain imports this module

    return node_location(getattr(chain.w3.provider, "endpoint_uri", "?"))


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


@dataclass(frozen=True, kw_only=True)
class EventAt:
    """Where an event is: its block and transaction."""

    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int

    @staticmethod
    def _where(log: Any) -> dict[str, Any]:
        return {
            "block_number": int(log["blockNumber"]),
            "block_hash": _hex(log["blockHash"]),
            "tx_hash": _hex(log["transactionHash"]),
            "log_index": int(log["logIndex"]),
        }


@dataclass(frozen=True, kw_only=True)
class BatchAnchored(EventAt):
    """``CertificateAnchor.BatchAnchored``: a department anchored a batch root."""

    department_id: bytes
    root: str
    signer: str
    count: int
    schema: str

    @classmethod
    def from_log(cls, log: Any) -> BatchAnchored:
        args = log["args"]
        return cls(
            department_id=bytes(args["departmentId"]),
            root=_hex(args["root"]),
            signer=str(args["signer"]),
            count=int(args["count"]),
            schema=_hex(args["schema"]),
            **cls._where(log),
        )


@dataclass(frozen=True, kw_only=True)
class LogBatchAnchored(EventAt):
    """``BatchLog.LogBatchAnchored``: a department anchored a range of one of its hash-chained logs."""

    log_id: str
    department_id: bytes
    root: str
    first_seq: int
    last_seq: int
    head_hash: str
    signer: str

    @classmethod
    def from_log(cls, log: Any) -> LogBatchAnchored:
        args = log["args"]
        return cls(
            log_id=_hex(args["logId"]),
            department_id=bytes(args["departmentId"]),
            root=_hex(args["root"]),
            first_seq=int(args["firstSeq"]),
            last_seq=int(args["lastSeq"]),
            head_hash=_hex(args["headHash"]),
            signer=str(args["signer"]),
            **cls._where(log),
        )


def recorded_anchorings(
    chain: Chain, department_id: bytes, root: bytes, signer: str, number: int, count: int, what: str
) -> list[Any]:
    """The ``BatchAnchored`` logs of ``department_id``'s batch ``root`` that agree with the contract's record of it
    (``batch(department, root)``: anchored in block ``number`` by ``signer``, of ``count`` certificates): read in
    that block only, and only those with the record's key and size (another department's anchoring of the same root
    value, in its own namespace, is never among them). A node answering the logs alone, a made-up event, is not
    believed for the anchoring (red team round 78)."""
    logs = scan(
        chain,
        chain.anchor.events.BatchAnchored,
        what=what,
        argument_filters={"root": root, "departmentId": department_id},
        start=number,
        end=number,
    )
    return [
        log
        for log in logs
        if str(log["args"]["signer"]).lower() == signer.lower() and int(log["args"]["count"]) == count
    ]


def log_batches_anchored(
    chain: Chain, *, log_id: bytes | None = None, department_id: bytes | None = None, root: bytes | None = None
) -> list[LogBatchAnchored]:
    """The ``LogBatchAnchored`` events matching the given log, department and root, oldest first."""
    filters = {k: v for k, v in (("logId", log_id), ("departmentId", department_id), ("root", root)) if v is not None}
    logs = scan(chain, chain.log.events.LogBatchAnchored, what="the anchored log ranges", argument_filters=filters)
    return [LogBatchAnchored.from_log(log) for log in logs]
