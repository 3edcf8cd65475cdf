"""The node's address never reaches a client of the ledger.

Adversary: an anonymous client of the public verification (or any gateway route) while the node is down, slow or
refusing the gateway's credentials. A failed request's text named the node's URL - host, port, and a path that a
hosted node's access key is often part of (``https://node.example/v3/<key>``) - and that text went into the report
and the problem answer. The node's failure is still reported (unreachable, timed out, refused), without its address;
the operator's log keeps the full text (``LedgerError.where``).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.formats.certificate import validate_record
from ledger.onchain import chainread
from ledger.onchain._node_http import BlockTimes
from ledger.onchain.chain import Chain, connect, fee_fields
from ledger.services.issuance import issue_records
from ledger.services.verify import ChainView, verify_certificate

from .conftest import make_records
from .node_support import SERVER_POLL, Refusing, closed_port, serving, tls_files

SECRET = "v3/ACCESS-KEY-0123456789abcdef"


@pytest.fixture(scope="module")
def refusing() -> Iterator[str]:
    with serving(Refusing) as url:
        yield url


@pytest.fixture(scope="module")
def document(ledger: Ledger) -> dict[str, Any]:
    out = io.StringIO()
    records = [validate_record(r, i + 1) for i, r in enumerate(make_records(1, prefix="NODEADDR"))]
    issue_records(ledger, records, "MKT", out=out)
    return dict(json.loads(out.getvalue().splitlines()[0]))


def _chain(ledger: Ledger, url: str, timeout: float = 2) -> Chain:
    return Chain(connect(url, timeout=timeout), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)


def _unread_without_address(ledger: Ledger, document: dict[str, Any], chain: Chain, url: str) -> tuple[str, str]:
    """A contract call through ``chain`` is a ChainError, and verifying ``document`` through it fails: neither
    names ``url``. (the error's text, the report's JSON) for the test's own checks of what they say."""
    with pytest.raises(ChainError) as caught:
        chain.call(chain.registry.functions.departmentIds())
    error = str(caught.value)
    assert _leaks(error, url) == [], error
    report = verify_certificate(document, ChainView(chain, ledger.settings.confirmations))
    text = json.dumps(report.to_json())
    assert not report.ok and _leaks(text, url) == [], text
    return error, text


def _urls(refusing: str) -> list[str]:
    return [f"http://127.0.0.1:{closed_port()}/{SECRET}", f"{refusing}/{SECRET}"]


def _leaks(text: str, url: str) -> list[str]:
    host_port = url.split("//")[1].split("/")[0]
    host, port = host_port.rsplit(":", 1)
    # urllib3 writes the address as "HTTPConnectionPool(host='127.0.0.1', port=8545)"
    return [part for part in (SECRET, "ACCESS-KEY", host_port, url, host, f"port={port}") if part in text]


def test_a_verification_report_names_no_node_address(ledger: Ledger, document: dict[str, Any], refusing: str) -> None:
    for url in _urls(refusing):
        report = verify_certificate(document, ChainView(_chain(ledger, url), ledger.settings.confirmations))
        text = json.dumps(report.to_json())
        assert not report.ok
        assert "chain could not be read" in text, text
        assert _leaks(text, url) == [], text


def test_a_chain_error_keeps_the_address_for_the_operator_only(ledger: Ledger, refusing: str) -> None:
    for url in _urls(refusing):
        chain = _chain(ledger, url)
        first = int(chain.deployment.deployed_block)
        for read in (
            chain.block_number,
            lambda c=chain: c.call(c.registry.functions.departmentIds()),
            lambda c=chain, e=first + 5: chainread.scan(
                c, c.anchor.events.CertificateRevoked, what="revocations", end=e
            ),
            lambda c=chain: fee_fields(c.w3),
        ):
            with pytest.raises(ChainError) as caught:
                read()
            assert _leaks(str(caught.value), url) == [], str(caught.value)
            assert any(word in str(caught.value) for word in ("refused", "reached", "answer", "401")), str(caught.value)
            # the operator's location, where there is one, says which node (scheme, host, port) and keeps no key
            # for a log either
            where = caught.value.where or url.split(f"/{SECRET}")[0]
            assert url.split(f"/{SECRET}")[0] in where and "ACCESS-KEY" not in where, where


def test_a_witness_reading_its_node_keeps_no_key_for_its_log(refusing: str) -> None:
    """A witness's node reader: its refusal names no address, and its location for the witness's own log names the
    node without the key in its path."""
    from ledger.services.witness.rpc import Rpc

    for url in _urls(refusing):
        with pytest.raises(ChainError) as caught:
            Rpc(url, timeout=2).head()
        where = caught.value.where or ""
        assert _leaks(str(caught.value), url) == [], str(caught.value)
        assert url.split(f"/{SECRET}")[0] in where and "ACCESS-KEY" not in where, where


class _Stalling(BaseHTTPRequestHandler):
    """A node that answers the headers and then stalls in the body: the read times out after the adapter has
    returned (requests reads the body in Session.send), where urllib3's text names the pool's host and port."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "100")
        self.end_headers()
        self.wfile.write(b"{")
        self.wfile.flush()
        self.server.stop.wait(1.0)  # type: ignore[attr-defined]

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def stalling() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stalling)
    server.stop = threading.Event()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, args=(SERVER_POLL,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{SECRET}"
    finally:
        server.stop.set()  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()


def test_a_body_that_times_out_names_no_node_address(ledger: Ledger, document: dict[str, Any], stalling: str) -> None:
    error, _ = _unread_without_address(ledger, document, _chain(ledger, stalling, timeout=0.3), stalling)
    assert "did not answer in time" in error, error


class _Echoing(BaseHTTPRequestHandler):
    """Something between the gateway and its node (a proxy's or a portal's page) answering 200 with a page that is
    not JSON and that names the address asked for."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        page = f"<html>blocked: http://{self.headers['Host']}{self.path}</html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def echoing() -> Iterator[str]:
    with serving(_Echoing, f"/{SECRET}") as url:
        yield url


def test_an_answer_that_is_not_json_is_a_chain_failure_naming_no_address(
    ledger: Ledger, document: dict[str, Any], echoing: str
) -> None:
    """web3 quotes an answer it cannot decode in its error ("Could not decode '<html>…'"), a ValueError the chain's
    readers did not take for a chain failure: verification reported the holder's document as malformed, quoting the
    page (and what it names). It is a chain that could not be read, and the page stays in the operator's log."""
    _, text = _unread_without_address(ledger, document, _chain(ledger, echoing), echoing)
    assert "chain could not be read" in text and "malformed" not in text, text


def test_a_certificate_for_another_name_names_no_node_address(
    ledger: Ledger, document: dict[str, Any], tmp_path: Any
) -> None:
    """The node's TLS certificate does not name the host the gateway asked for (a misissued or expired DNS name,
    a box in the middle): the system's reason for the failure is "Hostname mismatch, certificate is not valid for
    '<the node's host>'", which the transport failure's text carried. It says the TLS failure's kind only."""

    ca, node_cert, node_key = tls_files(tmp_path)
    with serving(Refusing, f"/{SECRET}", tls=(node_cert, node_key)) as url:
        chain = _chain(ledger, url)
        chain.w3.provider._request_kwargs["verify"] = ca  # type: ignore[attr-defined]  # the gateway trusts this CA
        error, _ = _unread_without_address(ledger, document, chain, url)
        assert "CERTIFICATE_VERIFY_FAILED" in error, error


def test_the_courts_verifier_report_names_no_node_address(
    ledger: Ledger, document: dict[str, Any], refusing: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The standalone verifier (scripts/verify_evidence.py) reads the chain through the court's own node, whose
    URL may hold the court's access key; its report, which the court may hand to the parties, said "the chain could
    not be read: the node at <url> did not answer ...". It says what failed and why, not where."""
    import subprocess
    import sys

    from ledger.services import evidence

    from .evidence_support import SCRIPT

    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(evidence.certificate_bundle(ledger, document)))
    ca, node_cert, node_key = tls_files(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", ca)  # the court trusts this CA; its node's certificate names another host
    with serving(Refusing, f"/{SECRET}", tls=(node_cert, node_key)) as mismatched:
        urls = {
            "refused": f"http://127.0.0.1:{closed_port()}/{SECRET}",
            "401": f"{refusing}/{SECRET}",
            "CERTIFICATE_VERIFY_FAILED": mismatched,
        }
        for reason, url in urls.items():
            run = subprocess.run(
                [sys.executable, str(SCRIPT), str(bundle), "--rpc", url, "--json"],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert run.returncode == 1 and "chain could not be read" in run.stdout, (run.stdout, run.stderr)
            assert reason in run.stdout, run.stdout
            assert _leaks(run.stdout + run.stderr, url) == [], run.stdout


def test_opening_a_ledger_on_the_wrong_node_names_it_in_where_only(ledger: Ledger, tmp_path: Any) -> None:
    """A ledger pointed at a node without its deployment, or at another chain's node, says so and what to do; the
    node's URL (and access key) is the operator's, in ``where`` (printed by the CLI after the message), not in the
    message a gateway's start-up failure logs as it is."""
    from ledger.client import Ledger as LedgerClass
    from ledger.errors import ConfigError

    from .conftest import PASSPHRASE, make_settings
    from .rpc_proxy import RpcProxy

    node = str(ledger.chain.w3.provider.endpoint_uri)  # type: ignore[attr-defined]

    def other_chain(request: dict[str, Any]) -> bytes | None:
        if request.get("method") != "eth_chainId":
            return None
        return json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": "0x1"}).encode()

    for intercept, settings in (
        (None, {}),  # no deployment file in this data directory
        (other_chain, {"deployment_file": ledger.settings.deployment_path}),  # the deployment of another chain
    ):
        with RpcProxy(node, intercept=intercept) as proxy:
            url = f"{proxy.url}/{SECRET}"
            data_dir = tmp_path / f"data{len(settings)}"
            with pytest.raises(ConfigError) as caught:
                LedgerClass.open(make_settings(data_dir, rpc_url=url, **settings), passphrase=PASSPHRASE).close()
            assert _leaks(str(caught.value), url) == [], str(caught.value)
            assert "LEDGER_RPC_URL" in str(caught.value), caught.value.local_message()
            assert caught.value.where == f"{proxy.url}/<path not shown>", caught.value.where  # no key in a log


def test_replays_worker_set_up_names_the_node_without_its_path(ledger: Ledger) -> None:
    """Replay hands its workers the node's URL (and the vault key) to open the same ledger; whatever prints that
    set-up (a failed pool initializer's traceback, a debug line) names the node as scheme://host:port only and
    never the key: a hosted node carries its access key in the URL's path."""
    from ledger.services import _replay_worker

    spec = _replay_worker.spec_of(ledger)
    hosted = type(spec)(spec.settings, "https://node.example:8545/v3/ACCESSKEY123", spec.deployment, spec.vault_key)
    shown = repr(hosted) + str(hosted)
    assert "node.example:8545" in shown and "ACCESSKEY123" not in shown
    assert spec.vault_key.hex() not in shown and repr(spec.vault_key) not in shown


def _redirecting(code: int, target: str) -> type[BaseHTTPRequestHandler]:
    """Whatever answers at the node's configured address (a proxy, the network's operator) sending every request on
    to ``target`` with status ``code``."""

    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(code)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    return Redirecting


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_the_ledger_follows_no_redirect_from_its_nodes_address(ledger: Ledger, code: int) -> None:
    """Round 76's reasoning, for the ledger's own node session (as a witness's and the collectors' sessions already
    do): requests followed a redirect answered at the node's address, 307 and 308 as the POST they were, so the
    ledger's machine sent its reads and its signed transactions to whatever host the answer named (inside its own
    network too) and took that host's answers for the node's. Here the redirect names the real node: had it been
    followed, the read would have succeeded. It is a chain failure saying the redirect was not followed, naming
    neither address; the replay workers' reader (BlockTimes) refuses it alike."""
    node = str(ledger.chain.w3.provider.endpoint_uri)  # type: ignore[attr-defined]
    with serving(_redirecting(code, node), f"/{SECRET}") as url:
        with pytest.raises(ChainError) as caught:
            _chain(ledger, url).call(_chain(ledger, url).registry.functions.departmentIds())
        error = str(caught.value)
        assert "redirect" in error and "not followed" in error, error
        assert _leaks(error, url) == [] and node not in error, error
        with pytest.raises(requests.exceptions.RequestException, match="not followed"):
            BlockTimes(url, timeout=2).timestamp(1)
