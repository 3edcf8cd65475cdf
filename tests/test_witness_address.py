"""A witness's node address never reaches whoever asks the witness, nor the ledger collecting from it.

Adversary: anyone who can reach a witness (``POST /add-checkpoint`` needs no key unless the witness pins the
ledger's with ``--log-key``), and the ledger's operator, another organisation than the witness's (a court). The
witness reads the chain through a node of its own, whose URL may hold an access key in its path
(``https://node.example/v3/<key>``). Its refusals named that URL ("the node at <url> did not answer", "the node at
<url> serves another chain") in the answer's body, which the ledger also logs and prints as the witness's refusal.
The witness still says what is wrong (it cannot read its node, and why; its node serves another chain); the URL is
the witness operator's only (``LedgerError.where``, its own log).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.client import Ledger
from ledger.services.witness import client as wclient
from ledger.services.witness.checkpoint import ChainIdentity, Checkpoint
from ledger.services.witness.note import ED25519, Note, SignerKey

from .conftest import PASSPHRASE
from .evidence_support import rpc_url
from .node_support import Refusing, closed_port, serving, tls_files
from .rpc_proxy import RpcProxy
from .witness_support import WitnessProcess

SECRET = "v3/WITNESS-NODE-KEY-0123456789abcdef"


@pytest.fixture(autouse=True)
def passphrases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")


def _leaks(text: str, url: str) -> list[str]:
    host_port = url.split("//")[1].split("/")[0]
    host, port = host_port.rsplit(":", 1)
    return [part for part in (SECRET, "WITNESS-NODE-KEY", host_port, url, f"'{host}'", f":{port}") if part in text]


def _anonymous_request(identity: ChainIdentity, block_hash: bytes, height: int) -> bytes:
    """An add-checkpoint request anyone can write: a checkpoint signed by a key of its own."""
    checkpoint = Checkpoint.at(identity, height, block_hash)
    stranger = SignerKey.generate(checkpoint.origin, ED25519)
    note = Note(checkpoint.text(), (stranger.sign_note(checkpoint.text()),))
    return f"old 0\n\n{note.render()}".encode()


def _asked_about_the_head(ledger: Ledger, witnesses: list[WitnessProcess], store: Path, node: str) -> tuple[int, str]:
    """A witness reading the chain at ``node`` is sent anyone's checkpoint of the ledger's head: (status, body)."""
    witnesses.append(WitnessProcess(store, "court.example/w", node))
    head = ledger.chain.block_number()
    request = _anonymous_request(
        wclient.chain_identity(ledger.chain), bytes(ledger.chain.w3.eth.get_block(head)["hash"]), head
    )
    status, _, body = witnesses[-1].post(request)
    return status, body


@pytest.fixture()
def witnesses() -> Iterator[list[WitnessProcess]]:
    started: list[WitnessProcess] = []
    yield started
    for witness in started:
        witness.stop()


def _collected_refusal(ledger: Ledger, witness: WitnessProcess, tmp_path: Path) -> str:
    """What the ledger records (logs, prints) when it asks ``witness`` to cosign."""
    config = wclient.WitnessConfig((wclient.TrustedWitness(witness.url, wclient.VerifierKey.parse(witness.key)),), 1)
    result = wclient.collect(ledger.chain, tmp_path / "ledger", config)
    assert not result.witnessed
    return str({**result.refusals, **result.alarms})


def test_a_witness_whose_node_is_down_names_no_node_address(
    ledger: Ledger, witnesses: list[WitnessProcess], tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/{SECRET}"
    status, body = _asked_about_the_head(ledger, witnesses, tmp_path / "w", url)
    assert status == 503 and "cannot read its node" in body and "refused" in body, body
    assert _leaks(body, url) == [], body
    refusal = _collected_refusal(ledger, witnesses[0], tmp_path)
    assert "cannot read its node" in refusal and _leaks(refusal, url) == [], refusal


def test_a_witness_whose_node_refuses_it_names_no_node_address(
    ledger: Ledger, witnesses: list[WitnessProcess], tmp_path: Path
) -> None:
    """The witness's node refuses the witness's access key (401)."""
    with serving(Refusing, f"/{SECRET}") as url:
        status, body = _asked_about_the_head(ledger, witnesses, tmp_path / "w", url)
        assert status == 503 and "401" in body, body
        assert _leaks(body, url) == [], body


def test_a_witness_on_another_chain_names_no_node_address(
    ledger: Ledger, witnesses: list[WitnessProcess], tmp_path: Path
) -> None:
    """Anyone may send a checkpoint of another chain: the witness answers that its node serves another chain
    (404 unknown origin), and said where that node is."""
    with RpcProxy(rpc_url(ledger)) as proxy:
        url = f"{proxy.url}/{SECRET}"
        witnesses.append(WitnessProcess(tmp_path / "w", "court.example/w", url))
        real = wclient.chain_identity(ledger.chain)
        other = ChainIdentity(real.chain_id + 1, real.genesis_hash, real.registry)
        status, _, body = witnesses[0].post(_anonymous_request(other, b"\x11" * 32, 1))
        assert status == 404 and "serves another chain" in body, body
        assert _leaks(body, url) == [], body


def test_a_witness_whose_node_certificate_names_another_host_names_no_node_address(
    ledger: Ledger, witnesses: list[WitnessProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The witness's node presents a certificate for another name: the TLS library's reason names the host the
    witness asked for ("Hostname mismatch, certificate is not valid for '<host>'")."""

    ca, node_cert, node_key = tls_files(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", ca)  # the witness trusts this CA (its process inherits the environment)
    assert os.environ["SSL_CERT_FILE"] == ca
    with serving(Refusing, f"/{SECRET}", tls=(node_cert, node_key)) as url:
        status, body = _asked_about_the_head(ledger, witnesses, tmp_path / "w", url)
        assert status == 503 and "CERTIFICATE_VERIFY_FAILED" in body, body
        assert _leaks(body, url) == [], body
