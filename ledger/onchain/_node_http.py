"""The node's HTTP transport, without web3 (``chain.py`` re-exports it and builds web3's provider on it): the session
whose failures never name the node's URL and whose answers are bounded in size, the checks of an answer's shape, and
:class:`BlockTimes`, the one read a replay worker's chunk makes of the chain (a block's timestamp) made over it
directly. A worker that needs no more than that imports requests, not web3 and eth_account (about 0.75 CPU-s at
each worker's start: bench/analysis.md, branch replay5)."""

from __future__ import annotations

import json
import re
import ssl
import time
import urllib.error
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
import requests.utils
import urllib3.exceptions

from ..formats.canonical import MAX_JSON_DEPTH, check_json_depth
from .deadline import current_limit

NODE_ADDRESS = "<the node's URL>"  # what errors say instead of it (LEDGER_RPC_URL; the operator knows it)


class _AddresslessAdapter(requests.adapters.HTTPAdapter):
    """Transport failures say what failed, never where: requests' text names the node's host, port and path
    ("HTTPConnectionPool(host=..., port=...): Max retries exceeded with url: /v3/<access key>"), and that text
    reached verification reports and the gateway's answers (tests/test_node_address.py). The same exception class
    is raised (web3's retries and the ledger's handlers see what they saw), with the cause's kind and reason only;
    the original stays chained for the operator's log."""

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().send(request, *args, **kwargs)
        except requests.exceptions.RequestException as exc:
            raise _quiet(exc, request) from exc


class _AddresslessSession(requests.Session):
    """The adapter's rewrite, for what fails in ``Session.send`` after the adapter has returned: the body is read
    there (a node that sends its headers and stalls: urllib3's "HTTPConnectionPool(host=..., port=...): Read timed
    out."). A text already rewritten by the adapter is rewritten again to the same. The body is read here, at most
    :data:`MAX_NODE_ANSWER_BYTES` of it. No redirect is followed (requests followed one, 307 and 308 as the POST
    they were, so the ledger's reads and signed transactions went to whatever host the answer named): a 3xx answered
    at the node's address is the node's failure, :class:`NodeAnswerError`, as a witness's requests and the
    collectors' follow none (``services/_remote.py``)."""

    def send(self, request: Any, **kwargs: Any) -> Any:
        streamed = kwargs.get("stream", False)
        seconds = _answer_seconds(kwargs.get("timeout"))
        limit = current_limit()
        cut = False  # whether the limit cut this request's own timeout
        if limit is not None:  # a verification's whole time: what is left of it bounds this request too
            left = limit[0] - time.monotonic()
            if left <= 0:
                raise TimeLimitError(_ran_out(limit))
            cut = left < seconds
            seconds = min(seconds, left)
            kwargs["timeout"] = _capped(kwargs.get("timeout"), left)
        try:
            response = super().send(request, **{**kwargs, "stream": True, "allow_redirects": False})
            redirect = 300 <= response.status_code < 400
            whole = streamed or redirect or _read_at_most(response, MAX_NODE_ANSWER_BYTES, seconds)
        except requests.exceptions.RequestException as exc:
            if cut and limit is not None and time.monotonic() >= limit[0] - _LIMIT_SLACK:
                # the read timed out at the limit's end (its timeout was cut to what was left): the limit ran out,
                # not the node's read timeout; saying "the node does not answer" named no limit (red team round 67)
                raise TimeLimitError(_ran_out(limit)) from exc
            raise _quiet(exc, request) from exc
        if redirect:
            response.close()
            raise NodeAnswerError(
                f"the node's address answered with a redirect (HTTP {response.status_code}), which is not followed: "
                "the ledger reads and writes only the node at the configured URL, never a host an answer names - "
                "configure the node's own address (LEDGER_RPC_URL)"
            )
        if not whole:
            response.close()
            raise NodeAnswerError(
                f"the node's answer exceeds {MAX_NODE_ANSWER_BYTES} bytes, more than any answer the ledger asks for: "
                "the node at the configured URL is faulty or hostile"
            )
        return response


# How near the limit's end a failed request counts as cut by the limit (a socket's timeout fires at its end, not
# before it; this covers the clock read after it)
_LIMIT_SLACK = 0.05


def _ran_out(limit: tuple[float, float]) -> str:
    return (
        f"the verification's time limit of {limit[1]:g} s ran out waiting for the node (LEDGER_VERIFY_SECONDS): a "
        "node answering slowly holds a verification for as many answers as it needs; the node at the configured URL "
        "is slow, faulty or hostile - check it, or allow more time"
    )


def time_limit_in(exc: BaseException | None) -> TimeLimitError | None:
    """The :class:`TimeLimitError` ``exc`` is or was raised from (web3 may wrap it), or None."""
    seen = 0
    while exc is not None and seen < 16:
        if isinstance(exc, TimeLimitError):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


class TimeLimitError(requests.exceptions.RequestException):
    """A verification's time limit (``deadline.time_limit``) ran out before the node answered: a failure to read the
    chain (an OSError, as a transport failure is), which web3 does not ask again (it asks a timed-out read again)."""


def _capped(timeout: Any, left: float) -> Any:
    """requests' ``timeout`` (a number, a (connect, read) pair or None) with neither part longer than ``left``."""
    if isinstance(timeout, tuple):
        return tuple(left if part is None else min(float(part), left) for part in timeout)
    return left if timeout is None else min(float(timeout), left)


# The most bytes of one node answer read (decompressed): far more than any honest answer (an eth_getLogs chunk of
# ``LEDGER_LOG_SPAN`` blocks), as the court's verifier bounds its own (RPC_ANSWER_LIMIT). requests read an answer
# whole into memory, so a node whose answer never ended could exhaust the process's memory.
MAX_NODE_ANSWER_BYTES = 256 * 2**20


def _answer_seconds(timeout: Any) -> float:
    """How long a node has to send an answer whole: the read timeout the request was sent with (requests' ``timeout``,
    a number or a (connect, read) pair), :data:`DEFAULT_ANSWER_SECONDS` without one."""
    read = timeout[1] if isinstance(timeout, tuple) else timeout
    return float(read) if isinstance(read, (int, float)) and read > 0 else DEFAULT_ANSWER_SECONDS


DEFAULT_ANSWER_SECONDS = 30.0


def _read_at_most(response: requests.Response, limit: int, seconds: float = DEFAULT_ANSWER_SECONDS) -> bool:
    """Read ``response``'s body into it (``response.content``), as requests does, unless it exceeds ``limit`` bytes:
    False then, having read no more than that and a chunk. The body must arrive whole within ``seconds`` of the
    first read (a ReadTimeout otherwise): requests' timeout bounds each read from the socket, not the answer, so a
    node sending a byte every few seconds held the reader for as long as it liked, 40 bytes of a block number taking
    hours (red team round 58). Each read returns what has arrived (``read1``), so the bound is kept to within one
    read's timeout."""
    chunks, size = [], 0
    deadline = time.monotonic() + seconds
    while True:
        chunk = _read1(response)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            return False
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise requests.exceptions.ReadTimeout(
                f"the node's answer did not arrive whole within {seconds:g} s (it sent {size} bytes): a node answering "
                "a byte at a time holds every reader; the node at the configured URL is faulty or hostile"
            )
    response._content = b"".join(chunks)
    return True


def _read1(response: requests.Response) -> bytes:
    """What has arrived of ``response``'s body (up to 64 KiB, decoded), urllib3's failures raised as requests raises
    them when it reads a body itself (``Response.iter_content``), so that web3's retries and the ledger's handlers
    see the exceptions they saw."""
    try:
        return bytes(response.raw.read1(64 * 1024, decode_content=True))
    except urllib3.exceptions.ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.exceptions.ConnectionError(exc) from exc
    except urllib3.exceptions.SSLError as exc:
        raise requests.exceptions.SSLError(exc) from exc


def _quiet(exc: requests.exceptions.RequestException, request: Any) -> requests.exceptions.RequestException:
    """The same exception class (web3's retries and the ledger's handlers see what they saw), with the cause's kind
    and reason only; the original stays chained for the operator's log."""
    try:
        return type(exc)(transport_failure(exc), request=request)
    except TypeError:  # a class with another constructor: the generic one, still a RequestException
        return requests.exceptions.ConnectionError(transport_failure(exc), request=request)


def node_location(url: object) -> str:
    """A node's URL as the operator's log may show it (``LedgerError.where``): scheme, host and port. The user
    part, the path and the query are left out: a hosted node's access key is usually one of them
    (``https://node.example/v3/<key>``), and no log is a place for a key (the database URL's password is hidden
    the same way: storage/dburl.py)."""
    text = str(url)
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number, an unclosed IPv6 bracket
        return "the node of LEDGER_RPC_URL (its URL is not shown)"
    if not host or not parts.scheme:
        return "the node of LEDGER_RPC_URL (its URL is not shown)"
    shown = f"{parts.scheme}://{f'[{host}]' if ':' in host else host}{f':{port}' if port is not None else ''}"
    hidden = parts.username or parts.password or parts.path.strip("/") or parts.query or parts.fragment
    return f"{shown}/<path not shown>" if hidden else shown


def without_node_url(text: str, url: object) -> str:
    """``text`` (an HTTP client's error) with ``url`` and its path, as a client quotes it ("... with url:
    /v3/<key>"), replaced: what :func:`node_location` leaves out is not written elsewhere in a log line either."""
    full = str(url)
    text = text.replace(full, node_location(full))
    try:
        parts = urlsplit(full)
    except ValueError:
        return text
    for tail in (parts.path + (f"?{parts.query}" if parts.query else ""), parts.path):
        if tail.strip("/"):
            text = text.replace(tail, "/<path not shown>")
    return text


def transport_failure(exc: BaseException, what: str = "the node") -> str:
    """``exc``'s kind and the operating system's reason (e.g. "Connection refused"), without any address, for a
    failure of requests (the ledger's node) or of urllib (a witness's node, a status list: its URLError keeps the
    system's error as ``reason``); ``what`` is what could not be reached. The text of urllib's errors names the host
    a TLS certificate does not match, as requests' do; the URL belongs in ``LedgerError.where``."""
    if isinstance(exc, urllib.error.HTTPError):  # an answer, not a transport failure; its text names no URL
        return f"{what} answered HTTP {exc.code}"
    timed_out = isinstance(exc, requests.exceptions.Timeout)
    reason, seen = None, set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:  # the innermost OSError with an errno names the reason
        seen.add(id(cause))
        # a body read that timed out: a ConnectionError wrapping urllib3's ReadTimeoutError (not isinstance-checked
        # on urllib3's TimeoutError: its NewConnectionError, a refused connection, is one); urllib's is the
        # socket's own TimeoutError
        timed_out = timed_out or any(
            isinstance(x, (urllib3.exceptions.ReadTimeoutError, TimeoutError)) for x in (cause, *cause.args)
        )
        if isinstance(cause, ssl.SSLError):
            # its text may name the host: "Hostname mismatch, certificate is not valid for '<host>'"; its reason
            # code does not (CERTIFICATE_VERIFY_FAILED)
            reason = f"TLS {getattr(cause, 'reason', None) or 'failure'}"
        elif isinstance(cause, OSError) and cause.errno is not None and cause.strerror:
            reason = cause.strerror
        wrapped = getattr(cause, "reason", None) if isinstance(cause, urllib.error.URLError) else None
        cause = wrapped if isinstance(wrapped, BaseException) else cause.__cause__ or cause.__context__
    kind = "did not answer in time" if timed_out else "could not be reached"
    return f"{what} {kind} ({type(exc).__name__}{': ' + reason if reason else ''})"


class NodeAnswerError(requests.exceptions.RequestException):
    """The node's answer is not JSON-RPC web3 can decode: a failure to read the chain (an OSError, as a transport
    failure is, so every reader of the chain takes it for one), whose text quotes nothing of the answer."""


# The shape each result the ledger reads must have (JSON-RPC's: quantities and data as hex text, blocks and receipts as
# objects or null, logs as a list of objects). Any other answer - a hostile node's null for a block number, a string
# for a block, a number for a call's data - made web3 or the reader raise TypeError, KeyError, AttributeError or
# ValueError, which readers took for anything but a chain failure: verification reported the holder's document as
# malformed, the gateway answered 500 (red team round 28). Such an answer is the node's error (NodeAnswerError).
_QUANTITY_TEXT = re.compile(r"0x[0-9a-fA-F]{1,64}")
_DATA_TEXT = re.compile(r"0x[0-9a-fA-F]*")  # some nodes write no code as "0x0": hex digits, not pairs
_HASH_TEXT = re.compile(r"0x[0-9a-fA-F]{64}")
_QUANTITY_RESULTS = frozenset(
    {"eth_blockNumber", "eth_chainId", "eth_gasPrice", "eth_estimateGas", "eth_getBalance", "eth_getTransactionCount"}
)
_DATA_RESULTS = frozenset({"eth_call", "eth_getCode", "eth_getStorageAt"})
_OBJECT_RESULTS = frozenset(
    {"eth_getBlockByNumber", "eth_getBlockByHash", "eth_getTransactionReceipt", "eth_getTransactionByHash"}
)


def _result_shape_problem(method: str, result: Any) -> str | None:
    """What is wrong with ``result`` as the answer to ``method`` (None: nothing this checks; web3 reads the rest)."""
    if method in _QUANTITY_RESULTS:
        ok = isinstance(result, str) and _QUANTITY_TEXT.fullmatch(result) is not None
        return None if ok else "a quantity (0x and at most 64 hex digits)"
    if method in _DATA_RESULTS:
        ok = isinstance(result, str) and _DATA_TEXT.fullmatch(result) is not None
        return None if ok else "data (0x and hex digits)"
    if method in _OBJECT_RESULTS:
        if result is None:
            return None
        if not isinstance(result, dict):
            return "an object or null"
        if method.startswith("eth_getBlock"):
            hashes = (result.get("hash"), result.get("parentHash"))
            numbers = (result.get("number"), result.get("timestamp"))
            if not all(isinstance(h, str) and _HASH_TEXT.fullmatch(h) for h in hashes) or not all(
                isinstance(n, str) and _QUANTITY_TEXT.fullmatch(n) for n in numbers
            ):
                return "a block (its hash, parent hash, number and timestamp as hex text)"
        return None
    if method == "eth_getLogs":
        ok = isinstance(result, list) and all(isinstance(log, dict) for log in result)
        return None if ok else "a list of log objects"
    return None


def _logs_problem(params: Any, logs: list[Any]) -> str | None:
    """What is wrong with ``logs`` as the answer to ``eth_getLogs(params)``: a log marked removed (of a block no
    longer in the chain), or one of another address or under other topics than the filter asked for. web3 decodes
    whatever the node gives (it checks no address), so a reader took a reorganised-away anchoring, or another
    contract's event of the same signature, for the contract's own (red team round 29a); the court's verifier refuses
    such an answer whole, and so does the ledger. A log of a block outside the numbered range asked for is refused
    too: a reader that trusted the range took a status event moved before its department's registration (red team
    round 68) for one of the range."""
    query = params[0] if isinstance(params, (list, tuple)) and params and isinstance(params[0], dict) else None
    if query is None:
        return None
    low, high = _numbered(query.get("fromBlock")), _numbered(query.get("toBlock"))
    asked = query.get("address")
    addresses = (
        {a.lower() for a in (asked if isinstance(asked, list) else [asked]) if isinstance(a, str)} if asked else None
    )
    wanted = [
        None
        if want is None
        else {w.lower() for w in (want if isinstance(want, list) else [want]) if isinstance(w, str)}
        for want in (query.get("topics") or [])
    ]
    for log in logs:
        if log.get("removed") is True:
            return "logs, none marked removed (of a block no longer in the chain)"
        if addresses is not None and str(log.get("address", "")).lower() not in addresses:
            return "logs of the contract asked for only"
        topics = log.get("topics")
        if wanted and not isinstance(topics, list):
            return "logs with their topics"
        for i, want in enumerate(wanted):
            if want is not None and (i >= len(topics) or str(topics[i]).lower() not in want):
                return "logs under the topics asked for only"
        if low is not None or high is not None:
            number = _numbered(log.get("blockNumber"))
            if number is None:
                return "logs with their block numbers"
            if (low is not None and number < low) or (high is not None and number > high):
                return "logs of the blocks asked for only"
    return None


def _numbered(block: Any) -> int | None:
    """A block given as a number (hex text), or None for a tag (``latest``), nothing, or anything else."""
    return int(block, 16) if isinstance(block, str) and _QUANTITY_TEXT.fullmatch(block) else None


# The latest block time a date can hold (9999-12-31T23:59:59Z): an honest chain's blocks are far below it, and a
# later one made replay's report text (``datetime.fromtimestamp``) raise OverflowError (red team round 37)
_LAST_BLOCK_TIME = 253_402_300_799


def _block_problem(method: str, params: Any, block: Any) -> str | None:
    """What is wrong with ``block`` (shape-checked) as the answer to ``method(params)``: another block than the
    number or hash asked for (a node answering block N+1 for N moved every decision moment replay judges by block N's
    time, on the one-process and the worker's path alike: red team round 37), or a timestamp no date can hold."""
    if not isinstance(block, dict):
        return None
    asked = params[0] if isinstance(params, (list, tuple)) and params else None
    number = _numbered(asked) if method == "eth_getBlockByNumber" else None
    if number is not None and int(block["number"], 16) != number:
        return "the block asked for (it answered another block)"
    if method == "eth_getBlockByHash" and isinstance(asked, str) and block["hash"].lower() != asked.lower():
        return "the block asked for (it answered another block)"
    if int(block["timestamp"], 16) > _LAST_BLOCK_TIME:
        return "a block whose timestamp a date can hold"
    return None


def _checked(method: str, response: Any, params: Any = None) -> Any:
    """``response``, unless its result is not of the shape JSON-RPC gives ``method``'s, is (``eth_getBlock*``)
    another block than asked for, or (``eth_getLogs``) holds a log the filter ``params`` did not ask for
    (NodeAnswerError), or is no JSON-RPC object at all (a number, ``null``, a list: web3's handling and the fast
    call read it with ``.get``, and an AttributeError escaped every reader, red team round 49)."""
    if not isinstance(response, dict):
        raise NodeAnswerError(
            f"the node's answer to {method} is no JSON-RPC object ({type(response).__name__}): the node at the "
            "configured URL is faulty or hostile"
        )
    if "result" in response and not response.get("error"):
        problem = _result_shape_problem(method, response["result"])
        if problem is None and method.startswith("eth_getBlock"):
            problem = _block_problem(method, params, response["result"])
        if problem is None and method == "eth_getLogs":
            problem = _logs_problem(params, response["result"])
        if problem is not None:
            raise NodeAnswerError(
                f"the node's answer to {method} is not {problem} ({type(response['result']).__name__}): the node at "
                "the configured URL is faulty or hostile"
            )
    return response


def _addressless_response(response: requests.Response, *_: Any, **__: Any) -> requests.Response:
    """A node's HTTP error (401 for a wrong access key, 429, 5xx) is raised by web3 with ``response.url`` in its
    text: the URL of an error answer is replaced with :data:`NODE_ADDRESS` before anyone reads it."""
    if response.status_code >= 400:
        response.url = NODE_ADDRESS
    return response


def node_session(url: str) -> tuple[requests.Session, dict[str, str]]:
    """The HTTP session every read of the node at ``url`` goes through, and the proxies for it.

    One session for every thread, which does not look for proxies in the environment on each request (that scan of
    os.environ was a third of a request's CPU): the proxy for the node's URL, if the environment names one, is read
    here once, as requests would have read it. Its failures and error answers never name the URL."""
    session = _AddresslessSession()
    session.trust_env = False
    session.mount("http://", _AddresslessAdapter(pool_connections=4, pool_maxsize=64))
    session.mount("https://", _AddresslessAdapter(pool_connections=4, pool_maxsize=64))
    session.hooks["response"].append(_addressless_response)
    return session, dict(requests.utils.get_environ_proxies(url))


def decoded(raw: bytes, decode: Callable[[bytes], Any]) -> Any:
    """A node's JSON-RPC answer parsed by ``decode``: one nested deeper than :data:`MAX_JSON_DEPTH` is refused
    before it is parsed (a dependency raises the recursion limit to 100,000, so a hostile node's 200 KB of ``[``
    overflowed the C stack), and one that is no JSON is the node's error; either way the text quotes nothing of the
    answer. Both request paths read answers through it (web3's provider, ``chain._NodeProvider``, and
    :func:`decode_answer`)."""
    try:
        check_json_depth(raw)
    except ValueError as exc:
        raise NodeAnswerError(
            f"the node's answer is nested deeper than {MAX_JSON_DEPTH} levels (arrays and objects within each "
            "other), which no JSON-RPC answer comes near: the node at the configured URL is faulty or hostile"
        ) from exc
    if answer_values(raw) > max(MIN_ANSWER_VALUES, len(raw) // BYTES_PER_ANSWER_VALUE):
        raise NodeAnswerError(
            f"the node's answer packs more JSON values than one per {BYTES_PER_ANSWER_VALUE} bytes (a list of empty "
            "objects or of zeroes), which no JSON-RPC answer comes near and which parses into some 30 times its size "
            "in memory: the node at the configured URL is faulty or hostile"
        )
    try:
        return decode(raw)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise NodeAnswerError(f"the node's answer is not JSON-RPC ({type(exc).__name__})") from exc


# How densely a node's answer may pack JSON values: an answer of empty objects (``[{},{},...]``) or zeroes is parsed
# into some 30 times its size (8 MiB: 250 MB), so 256 MiB (MAX_NODE_ANSWER_BYTES) took about 8 GB (red team round 58).
# An honest answer holds one value per 20 bytes or more (a log: some 20 values in 420 to 700 bytes; a block's
# transaction hashes: 69 bytes each), so one per 16 is refused, below a floor that lets any small answer through.
# The court's verifier bounds its answers alike (scripts/verify_evidence.py, answer_values).
BYTES_PER_ANSWER_VALUE = 16
MIN_ANSWER_VALUES = 100_000


def answer_values(raw: bytes) -> int:
    """At least the number of JSON values ``raw`` holds but for one per array or object nested without a comma
    (depth-bounded): each value after a container's first follows a comma, each member's value a colon. Commas and
    colons inside strings count too, so it is never less."""
    return raw.count(b",") + raw.count(b":") + 1


def decode_answer(raw: bytes) -> Any:
    """A node's JSON-RPC answer parsed as web3's provider parses it (:func:`decoded`), without web3."""
    return decoded(raw, json.loads)


# What web3's HTTPProvider asks a read again after (its ExceptionRetryConfiguration's defaults, for
# eth_getBlockByNumber): the worker's reader does the same, so both paths of a replay see one answer
_RETRIES, _BACKOFF = 5, 0.125
_RETRIED = (ConnectionError, requests.exceptions.HTTPError, requests.exceptions.Timeout)


class BlockTimes:
    """Block timestamps read from the node at ``url`` with ``eth_getBlockByNumber``, over :func:`node_session`, the
    answer checked as the chain client checks it (:func:`decode_answer`, :func:`_checked`): what
    ``web3.eth.get_block(number)["timestamp"]`` gives, for a process that has no other use for web3."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self._url = url
        self._timeout = timeout
        self._session, self._proxies = node_session(url)
        self._id = 0

    def timestamp(self, number: int) -> int | None:
        """Block ``number``'s timestamp; None when the node has no such block. A transport failure, an error
        answer or an answer of another shape raises (requests' exceptions, :class:`NodeAnswerError`). An HTTP
        error or a timeout is asked again (web3's list, :data:`_RETRIED`), as web3's provider asks the replaying
        process's (:data:`_RETRIES` tries, waiting 0.125 s, 0.25 s, ...): a node's one transient 503 made a worker's
        block "not on this chain" where ``workers=0`` read its time (red team round 37)."""
        params = block_params(number)
        for attempt in range(_RETRIES):
            self._id += 1
            try:
                response = self._session.post(
                    self._url,
                    json={"jsonrpc": "2.0", "method": "eth_getBlockByNumber", "params": params, "id": self._id},
                    timeout=self._timeout,
                    proxies=self._proxies or None,
                )
                response.raise_for_status()
            except _RETRIED:
                if attempt == _RETRIES - 1:
                    raise
                time.sleep(_BACKOFF * 2**attempt)
                continue
            return block_timestamp(_checked("eth_getBlockByNumber", decode_answer(response.content), params))
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self._session.close()


def block_params(number: int) -> list[Any]:
    """``eth_getBlockByNumber``'s parameters for block ``number`` without its transactions."""
    return [hex(number), False]


def block_timestamp(answer: Any) -> int | None:
    """The timestamp of the node's (checked: :func:`_checked`) answer to ``eth_getBlockByNumber``; None when the
    node has no such block. Read alike by a replay worker (:class:`BlockTimes`) and the replaying process (through
    its chain client's provider, not web3's block formatter, which refused blocks this reads - a miner that is no
    address - so that ``workers=0`` and a pooled replay judged one history differently: red team round 37)."""
    if not isinstance(answer, dict) or "result" not in answer or answer.get("error"):
        raise NodeAnswerError("the node refused to give a block (an error answer, or no result)")
    block = answer["result"]
    return None if block is None else int(block["timestamp"], 16)
