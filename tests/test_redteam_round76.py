"""Red team round 76: the malicious gateway - a department's gateway, one impersonating another, or a relay in front of
a gateway or a witness (whatever answers at the address the ledger asks: a proxy, the network's operator).

1. (A relay in front of a witness the ledger trusts) answer the ledger's request for a cosignature with ``303 See
   Other`` (or its request for the witness's latest checkpoint with ``302 Found``) naming any address: urllib
   followed it, so the ledger's machine - at each anchoring round of the gateway, after each issuance, and for
   ``ledger audit-chain`` - sent requests to whatever host the relay named, inside its own network too, with the
   checkpoint request turned into a ``GET``. Fixed: a witness's redirect is its answer, a refusal saying so, never
   followed.
2. (A relay in front of the verifier's own gateway) answer ``ledger verify``'s fetch of a credential's status list with
   a redirect (followed, as above: the verifier's fetch of a status list is restricted to its own gateway so that a
   holder cannot aim it elsewhere, and the relay could), with a list trickled a byte at a time (read for as long as
   the relay kept talking: every read within the socket's 10 s timeout, up to 4,000,000 bytes), or with an answer
   that is not HTTP (``http.client.BadStatusLine`` escaped the fetch: `ledger verify` stopped with an internal
   error). Fixed: no redirect followed, the list read within 30 s, any failure to fetch it a "not checked" status
   list check (the chain's status, the status check, still decides).
3. (A relay in front of a witness) answer with a refusal or an ``ALARM:`` whose text holds terminal escapes, line
   breaks and 60 KB: the ledger quoted the whole answer as written in the collection's refusals and alarms, which
   ``ledger witness collect`` (and every command collecting after a write) prints on the operator's terminal and the
   gateway writes to its log - a screen cleared, a log line of the relay's making ("cosigned"). Fixed: another
   party's text is quoted bounded (300 characters) with every character that is not printable escaped.
4. (A relay in front of a witness, with the chain's operator rolling the chain back) answer ``ledger audit-chain``'s
   request for the witness's latest checkpoint with an old one of the witness's own, below the rollback: with no
   quorum reached (another witness offline), the ledger's file kept the witness's cosignature of the rolled-back
   block but compared only quorum-witnessed checkpoints, so audit-chain said "no divergence". Fixed: the latest of
   each witness's cosignatures the file keeps is compared too, and a witness answering below it is noted.
5. (A relay in front of a witness) answer each request just inside round 54's bound (30 s an answer) and lead the
   ledger through the most requests one witness's part of a collection makes (seven: 409s followed, a "stale" 400,
   the signed checkpoint asked, 409s followed again): every collection waited three and a half minutes, the gateway's
   anchoring round (no log entry anchored meanwhile) and each command collecting after a write with it. Fixed: one
   witness's whole part of a collection is bounded too (60 s).
6. (A relay between a witness and its node, or the node) trickle an answer to the witness a byte at a time: the
   witness reads its node under its lock, so every cosignature of every origin waited for as long as the relay kept
   talking. Fixed: each of the node's answers is read within the witness's timeout in all.

Held: a relay answering the witness's stale cosignature (of an earlier checkpoint), a cosignature of its own key under
the witness's name, or the witness's line twice toward a quorum of two: none counts (each is verified against this
checkpoint's text with the trusted key, one witness once).

Real anvil, real witness (in this process), real sockets.
"""

from __future__ import annotations

import base64
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ledger.client import Ledger
from ledger.errors import ChainError, InputError
from ledger.onchain.chain import ROLE_ISSUER
from ledger.services import statuslist
from ledger.services.departments import Council
from ledger.services.witness import client as wclient
from ledger.services.witness.audit import audit_chain
from ledger.services.witness.checkpoint import Checkpoint
from ledger.services.witness.note import COSIGNATURE_V1, SignerKey
from ledger.services.witness.rpc import Rpc

from .conftest import PASSPHRASE, TEST_TYPES, make_settings
from .node_support import SERVER_POLL
from .witness_support import serve_witness

# An answer: (status, headers, body); the handler gets the method, the path and the request's body.
Answer = tuple[int, dict[str, str], bytes]


@contextmanager
def _serving(answer: Callable[[str, str, bytes], Answer]) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """An HTTP server answering each request with ``answer``: (its URL, the (method, path) of every request it got)."""
    seen: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append((self.command, self.path))
            status, headers, out = answer(self.command, self.path, body)
            self.send_response(status)
            for name, value in {"Content-Length": str(len(out)), **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(SERVER_POLL,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _raw_server(talk: Callable[[socket.socket, threading.Event], None]) -> Iterator[str]:
    """A socket server that reads a request and then runs ``talk`` on the connection (until the test ends)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(SERVER_POLL)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with connection:
                connection.recv(65536)
                talk(connection, stop)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def _stranger(name: str = "relayed.example/w") -> SignerKey:
    return SignerKey.generate(name, COSIGNATURE_V1)


# -- 1. a witness's redirect ------------------------------------------------------------------------------------------


def test_a_relay_redirecting_a_witness_request_sends_the_ledger_nowhere_else(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 1: the relay answers the cosignature request with 303 and the checkpoint request with 302, naming an
    address inside the ledger's network (here another local server); the ledger sent it a request for each."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)  # the ledger's checkpoint key
    with _serving(lambda _m, _p, _b: (200, {"Content-Type": "text/plain"}, b"inside\n")) as (inside, reached):

        def redirect(method: str, path: str, _body: bytes) -> Answer:
            return (303 if method == "POST" else 302), {"Location": inside + "/admin?from=" + path}, b""

        with _serving(redirect) as (relay, asked):
            key = _stranger().verifier
            config = wclient.WitnessConfig((wclient.TrustedWitness(relay, key),), 1)
            result = wclient.collect(ledger.chain, tmp_path / "ledger", config)
            found, problems = wclient.fetch_latest(config, wclient.chain_identity(ledger.chain).origin)
    assert asked, "the relay was asked"
    assert reached == [], f"the ledger followed the relay's redirect to {reached}"
    assert not result.witnessed and "redirect, which is not followed" in result.refusals[key.name], result
    assert not found and "redirect, which is not followed" in problems[key.name], problems


# -- 2. the status list fetched from the verifier's gateway -----------------------------------------------------------


def _list_url(base: str) -> str:
    return f"{base}/public/status-lists/MKT/0x{'ab' * 32}/revocation"


def test_a_relay_redirecting_a_status_list_fetch_sends_the_verifier_nowhere_else() -> None:
    """Finding 2, redirect: the verifier fetches status lists from its own gateway only; a redirect of whatever
    answers there aimed it at any host (here another local server, which answered a list of its own)."""
    with _serving(lambda _m, _p, _b: (200, {"Content-Type": "application/json"}, b"{}")) as (inside, reached):

        def redirect(_m: str, path: str, _b: bytes) -> Answer:
            return (302, {"Location": inside + path}, b"")

        with (
            _serving(redirect) as (gateway, asked),
            pytest.raises(InputError, match="redirect, which is not") as refused,
        ):
            statuslist.fetch(_list_url(gateway))
    assert asked and reached == [], reached
    assert isinstance(refused.value, statuslist._Unreachable)  # "not checked": the status check decides


def _trickle(connection: socket.socket, stop: threading.Event) -> None:
    """A list's headers, then a byte every 50 ms until the reader hangs up (or the test ends)."""
    try:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4000000\r\n\r\n{")
        while not stop.wait(0.05):
            connection.sendall(b" ")
    except OSError:
        pass


def test_a_status_list_trickled_a_byte_at_a_time_is_read_up_to_a_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 2, in time: every byte came within the socket's timeout, so the fetch read for as long as the relay
    kept talking (a 4,000,000-byte list at a byte every 9 s: 417 days)."""
    monkeypatch.setattr(statuslist, "LIST_SECONDS", 1.0)
    with _raw_server(_trickle) as gateway:
        started = time.monotonic()
        with pytest.raises(InputError, match=r"longer than 1\.0 s") as refused:
            statuslist.fetch(_list_url(gateway))
        assert time.monotonic() - started < 10
    assert isinstance(refused.value, statuslist._Unreachable)


def _not_http(connection: socket.socket, _stop: threading.Event) -> None:
    connection.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")


def test_a_status_list_answer_that_is_not_http_is_not_checked_not_a_crash() -> None:
    """Finding 2, in kind: http.client's BadStatusLine is no OSError, so it escaped the fetch (and `ledger verify`
    stopped with an internal error) where an unreachable gateway is a status list "not checked"."""
    with (
        _raw_server(_not_http) as gateway,
        pytest.raises(InputError, match="could not fetch the status list") as refused,
    ):
        statuslist.fetch(_list_url(gateway))
    assert isinstance(refused.value, statuslist._Unreachable)


# -- 3. another party's text on the operator's terminal and in the gateway's log ---------------------------------------

_HOSTILE = (
    "ALARM: rollback\x1b[2J\x1b[H\r\n2026-12-07 10:00:00 INFO api: witness court.example/w1 cosigned block 9\n"
    "\x9b31m\u202e" + "x" * 60_000
)


def test_a_relay_answering_for_a_witness_writes_no_escape_or_line_into_reports_terminals_or_logs(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 3: the relay's ALARM (a 422) and refusal (a 500) hold a screen clear, a forged log line, an 8-bit
    CSI, a right-to-left override and 60 KB; each reached the collection's alarms and refusals as written."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    body = _HOSTILE.encode()

    def hostile(method: str, _path: str, _body: bytes) -> Answer:
        return (422 if method == "POST" else 500), {"Content-Type": "text/plain; charset=utf-8"}, body

    with _serving(hostile) as (relay, _):
        key = _stranger().verifier
        config = wclient.WitnessConfig((wclient.TrustedWitness(relay, key),), 1)
        result = wclient.collect(ledger.chain, tmp_path / "ledger", config)
        _, problems = wclient.fetch_latest(config, wclient.chain_identity(ledger.chain).origin)
    for said in (result.alarms[key.name], problems[key.name]):
        assert said.isprintable(), said[:200]
        assert len(said) < 500 and "more characters" in said, len(said)
        assert "ALARM: rollback\\x1b[2J" in said and "\\r\\n2026-12-07" in said, said[:200]


# -- held: what a relay can make of a witness's cosignature -----------------------------------------------------------


class _Rewriting:
    """A relay in front of a real witness: forwards each request, and rewrites the witness's 200 answers with
    ``rewrite`` (the answer's text, and every cosignature answer it forwarded before)."""

    def __init__(self, target: str, rewrite: Callable[[str, list[str]], str]) -> None:
        self.target, self.rewrite, self.before = target, rewrite, list[str]()

    def __call__(self, method: str, path: str, body: bytes) -> Answer:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(self.target + path, body if method == "POST" else None, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status, ctype, text = answer.status, answer.headers["Content-Type"], answer.read().decode()
        except urllib.error.HTTPError as refused:
            return refused.code, {"Content-Type": refused.headers["Content-Type"]}, refused.read()
        if method == "POST" and status == 200:
            forwarded, text = text, self.rewrite(text, self.before)
            self.before.append(forwarded)
        return status, {"Content-Type": ctype}, text.encode()


@pytest.mark.parametrize("trick", ["stale", "impostor", "twice"])
def test_a_relay_makes_nothing_of_a_witnesss_cosignature_that_counts(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trick: str
) -> None:
    """Held: ``stale`` answers the cosignature the witness gave for the block before; ``impostor`` a cosignature of the
    checkpoint by the relay's own key under the witness's name and key id; ``twice`` the witness's own line twice, to
    a ledger trusting two witnesses with a quorum of two (the other one unreachable). Each checkpoint is left not
    witnessed; the witness's own answer, honestly relayed, counts (the relay's trick is what fails)."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    impostor = _stranger()

    def rewrite(text: str, before: list[str]) -> str:
        if trick == "stale":
            return before[-1] if before else text
        if trick == "twice":
            return text + text
        line = wclient.parse_signature_lines(text)[0]  # the witness's: its name, key id and time
        signed = impostor.cosign(checkpoint_text[0], struct.unpack(">Q", line.signature[:8])[0]).signature
        return f"\u2014 {line.name} {base64.b64encode(line.key_id + signed).decode()}\n"

    checkpoint_text: list[str] = []
    for running, url in serve_witness(ledger, tmp_path):
        with _serving(_Rewriting(url, rewrite)) as (relay, _):
            witness = wclient.TrustedWitness(relay, running.verifier)
            others = (wclient.TrustedWitness("http://127.0.0.1:9", _stranger("other.example/w").verifier),)
            config = (
                wclient.WitnessConfig((witness, *others), 2)
                if trick == "twice"
                else wclient.WitnessConfig((witness,), 1)
            )
            data_dir = tmp_path / "ledger"
            head = ledger.chain.block_number()
            if trick == "stale":  # the witness cosigns the block before, honestly relayed
                first = wclient.collect(ledger.chain, data_dir, config, height=head - 1)
                assert first.witnessed, first.to_json()
            identity = wclient.chain_identity(ledger.chain)
            checkpoint_text.append(
                Checkpoint.at(identity, head, bytes(ledger.chain.w3.eth.get_block(head)["hash"])).text()
            )
            result = wclient.collect(ledger.chain, data_dir, config, height=head)
    assert result.checkpoint is not None and not result.witnessed, result.to_json()
    if trick == "twice":
        assert result.checkpoint.cosigners == (running.verifier.name,), result.to_json()
    else:
        assert result.checkpoint.cosigners == (), result.to_json()
        assert "without a cosignature its key verifies" in result.refusals[running.verifier.name], result.to_json()


# -- 4. a witness's stale checkpoint hiding a rollback from audit-chain -----------------------------------------------


def _node(ledger: Ledger, method: str, *params: object) -> object:
    """Test only: a node control call (evm_snapshot, evm_revert, evm_mine)."""
    answer = ledger.chain.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer["result"]


class _Stale(_Rewriting):
    """A relay that forwards everything, and once ``stale`` answers ``GET /checkpoint`` with the first such answer it
    forwarded: the witness's own signed checkpoint, an old one."""

    def __init__(self, target: str) -> None:
        super().__init__(target, lambda text, _before: text)
        self.stale, self.first = False, b""

    def __call__(self, method: str, path: str, body: bytes) -> Answer:
        if method == "GET" and self.stale and self.first:
            return 200, {"Content-Type": "text/plain; charset=utf-8"}, self.first
        status, headers, out = super().__call__(method, path, body)
        if method == "GET" and status == 200 and not self.first:
            self.first = out
        return status, headers, out


@pytest.fixture()
def own(tmp_path: Path) -> Iterator[Ledger]:
    """A ledger with its own anvil: this test rolls its chain back."""
    ledger = Ledger.open(make_settings(tmp_path / "own"), passphrase=PASSPHRASE)
    Council(ledger).register("MKT", "Market Regulation Bureau", ROLE_ISSUER, types=TEST_TYPES)
    yield ledger
    ledger.close()


def test_a_relay_answering_a_witnesss_old_checkpoint_hides_no_rollback_from_audit_chain(
    own: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 4: the ledger trusts two witnesses with a quorum of two; one is offline, so the blocks the other cosigns
    are cosigned (and kept in the ledger's file) but never witnessed. The chain's operator rolls the chain back below
    the latest of them, and a relay in front of the witness answers `ledger audit-chain`'s question for the witness's
    latest checkpoint with an old one of the witness's, below the rollback: audit-chain compared the chain with its
    quorum-witnessed checkpoints (none) and with what the witness was heard to say (the old one), and said "no
    divergence", while the ledger's own file held the witness's cosignature of a block the chain no longer has."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    for running, url in serve_witness(own, tmp_path):
        relay = _Stale(url)
        with _serving(relay) as (relayed, _):
            offline = wclient.TrustedWitness("http://127.0.0.1:9", _stranger("notary.example/w2").verifier)
            config = wclient.WitnessConfig((wclient.TrustedWitness(relayed, running.verifier), offline), 2)
            config.save(own.settings.data_dir)
            first = wclient.collect(own.chain, own.settings.data_dir, config)
            assert first.checkpoint is not None and first.checkpoint.cosigners == (running.verifier.name,)
            origin = wclient.chain_identity(own.chain).origin
            assert wclient.fetch_latest(config, origin)[0]  # the relay keeps this answer: the witness's, honest then
            snapshot = _node(own, "evm_snapshot")
            for _ in range(30):
                _node(own, "evm_mine")
            later = wclient.collect(own.chain, own.settings.data_dir, config)
            assert later.checkpoint is not None and later.checkpoint.cosigners == (running.verifier.name,)
            assert not later.witnessed  # the other witness is offline
            assert _node(own, "evm_revert", snapshot) is True  # the operator rolls the chain back below it
            relay.stale = True
            report = audit_chain(own)
    contradicted = [f for f in report.findings if f.kind == "witness_contradicted"]
    assert contradicted, report.to_json()
    assert contradicted[0].height == later.checkpoint.checkpoint.height, report.to_json()
    assert "rolled back" in contradicted[0].detail, report.to_json()
    assert any("below block" in n and "it cosigned for this ledger" in n for n in report.notes), report.notes


# -- 5. a witness's part of a collection dragged out ----------------------------------------------------------------


class _Dragging:
    """A relay answering every request slowly (``pause`` s before each body), and leading the ledger through every
    request a collection may make of one witness: a 409 naming a huge size, a 400 (stale) to that, no signed
    checkpoint, then 409s naming sizes 1, 2, 3, 4."""

    def __init__(self, pause: float) -> None:
        self.pause, self.asked = pause, 0
        self.sizes = iter(["1000000", "stale", "1", "2", "3", "4"] + ["5"] * 20)

    def __call__(self, method: str, _path: str, _body: bytes) -> Answer:
        self.asked += 1
        time.sleep(self.pause)  # the relay's pace, not the test's: no node control makes a relay slow
        if method == "GET":
            return 404, {"Content-Type": "text/plain"}, b"no checkpoint\n"
        size = next(self.sizes)
        if size == "stale":
            return 400, {"Content-Type": "text/plain"}, b"stale\n"
        return 409, {"Content-Type": "text/x.tlog.size"}, f"{size}\n".encode()


def test_a_relay_drags_one_witnesss_requests_out_no_longer_than_a_bound_in_all(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 5: each answer was bounded (30 s, round 54), but one witness's part of a collection is up to seven
    requests (its 409s followed three times, its signed checkpoint asked, then again from there), so a relay answering
    each just inside the bound held every collection - the gateway's anchoring round, which anchors no access or
    decision log entry while it collects, and every command collecting after a write - for three and a half minutes
    (four and a half with connections slow to answer) instead of one answer's bound. Here each answer takes 0.6 s and
    a witness's whole part at most 1.5 s: the ledger stops asking it past that."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setattr(wclient, "WITNESS_SECONDS", 1.5)
    relay = _Dragging(0.6)
    with _serving(relay) as (url, _):
        key = _stranger().verifier
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, key),), 1)
        result = wclient.collect(ledger.chain, tmp_path / "ledger", config, height=ledger.chain.block_number())
    assert not result.witnessed and key.name in result.refusals, result.to_json()
    assert relay.asked <= 3, f"the relay was asked {relay.asked} times"


# -- 6. a witness's node trickling its answers ------------------------------------------------------------------------


def _slow_node(connection: socket.socket, stop: threading.Event) -> None:
    """A JSON-RPC answer's headers, then its body a byte every 50 ms, 100 bytes (5 s), then the rest at once."""
    body = b'{"jsonrpc": "2.0", "id": 1, "result": "0x10"}' + b" " * 100
    try:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        connection.sendall(f"Content-Length: {len(body)}\r\n\r\n".encode())
        for i in range(100):
            if stop.wait(0.05):
                return
            connection.sendall(body[i : i + 1])
        connection.sendall(body[100:])
    except OSError:
        pass


def test_a_witnesss_node_trickling_an_answer_holds_the_witness_no_longer_than_its_timeout() -> None:
    """Finding 6: the witness reads its node under its lock (the check and the update are one step), each read within
    the socket's timeout (30 s) but the answer for as long as it kept coming: a node, or whatever answers at its
    address, trickling a byte at a time held the lock, and every cosignature of every origin with it, for as long as
    it liked (here 5 s, against a timeout of 1 s)."""
    with _raw_server(_slow_node) as node, pytest.raises(ChainError, match=r"longer than 1\.0 s"):
        Rpc(node, timeout=1.0).head()


def test_a_redirect_answered_at_a_witnesss_node_address_sends_the_witness_nowhere_else() -> None:
    """Round 76's noticed row, mended: whatever answers at the address of a witness's node (a proxy, the network's
    operator) answers its reads with a redirect naming a host inside the witness's network: urllib followed it (307
    and 308 as the POST they were, 301 to 303 as a GET), so the witness's machine asked that host, the answer taken
    for the node's. The witness follows no redirect: its node is the address its operator configured."""
    node_answer = b'{"jsonrpc": "2.0", "id": 1, "result": "0x10"}'
    with _serving(lambda _m, _p, _b: (200, {"Content-Type": "application/json"}, node_answer)) as (inside, reached):
        for status in (301, 302, 303, 307, 308):

            def redirect(_m: str, path: str, _b: bytes, code: int = status) -> Answer:
                return code, {"Location": inside + "/admin?from=" + path}, b""

            with _serving(redirect) as (relay, asked), pytest.raises(ChainError, match="redirect, which is not"):
                Rpc(relay, timeout=5.0).head()
            assert asked, status
    assert reached == [], f"the witness followed its node's redirect to {reached}"
