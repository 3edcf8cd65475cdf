"""One verification core (ledger/formats/checks.py): the paths that verify certificates — a document (CLI, gateway), an
evidence bundle, the provenance timeline — judge the same facts with the same check and say the same thing.

Adversary: a holder who swaps in another batch's signature, or presents an expired certificate, to whichever path
is the most lenient. Each path must fail it, with one and the same detail."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.formats import checks
from ledger.services import evidence, provenance
from ledger.services.verify import ChainView, verify_certificate

from .conftest import make_records
from .evidence_support import issue


@pytest.fixture(scope="module")
def docs(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("checks")
    first = issue(ledger, tmp, "MKT", make_records(2, prefix="CORE-A"))
    second = issue(ledger, tmp, "MKT", make_records(2, prefix="CORE-B"))
    return [first[0], second[0]]


def test_a_swapped_batch_signature_fails_alike_in_every_path(ledger: Ledger, docs: list[dict[str, Any]]) -> None:
    doc, other = docs
    forged = copy.deepcopy(doc)
    forged["anchor"]["signature"] = other["anchor"]["signature"]  # a genuine signature, of another batch
    report = verify_certificate(forged, ChainView(ledger.chain))
    bundle = evidence.certificate_bundle(ledger, doc)
    bundle["anchor"]["signature"] = other["anchor"]["signature"]
    from_bundle = evidence.verify_bundle(bundle, ledger.chain)
    assert not report.check("signature").ok and not from_bundle.check("signature").ok
    assert report.check("signature").detail == from_bundle.check("signature").detail
    assert "not to the anchoring key" in report.check("signature").detail


def test_an_expired_certificate_fails_alike_in_every_path(ledger: Ledger, docs: list[dict[str, Any]]) -> None:
    doc = docs[0]
    later = datetime(2099, 1, 1, tzinfo=UTC)
    report = verify_certificate(doc, ChainView(ledger.chain), now=later)
    from_bundle = evidence.verify_bundle(evidence.certificate_bundle(ledger, doc), ledger.chain, now=later)
    assert report.check("validity").detail == from_bundle.check("validity").detail
    assert report.check("validity").detail.startswith("expired on")


def test_the_timeline_states_the_core_checks_verdicts(ledger: Ledger, docs: list[dict[str, Any]]) -> None:
    doc = docs[0]
    events = provenance.timeline(ledger, doc["digest"], now=datetime.now(UTC))["events"]
    signed = next(e for e in events if e["kind"] == "signed")
    report = verify_certificate(doc, ChainView(ledger.chain))
    assert signed["signature_valid"] is report.check("signature").ok is True
    assert signed["key_was_active_issuer"] is report.check("department_key").ok is True


def test_the_core_judges_without_the_chain() -> None:
    """The primitives take facts, not a node: the same inputs give the same verdict anywhere."""
    assert checks.validity("2030-01-01", "2030-12-31", datetime(2031, 1, 1, tzinfo=UTC)) == (
        False,
        "expired on 2030-12-31",
    )
    assert checks.validity("2030-01-01T00:00:00", None, datetime(2031, 1, 1, tzinfo=UTC))[0] is False  # no zone
    ok, detail = checks.merkle_proof(b"\x01" * 32, [], b"\x02" * 32, what="log entry")
    assert not ok and "another log entry" in detail
    assert checks.chain_identity("0xAB", "0xab")[0] and not checks.chain_identity("0xab", "0xcd")[0]


def test_no_path_re_implements_a_core_check() -> None:
    """Recovering a batch signature, following a Merkle proof and reading validity dates happen in the core only
    (and in the standalone court verifier, independent by design)."""
    library = Path(__file__).resolve().parent.parent / "ledger"
    for path in library.rglob("*.py"):
        if path.name in ("checks.py", "signing.py", "merkle.py", "certificate.py", "issuance.py", "logchain.py"):
            continue  # the core, the primitives it wraps, and the writers (signing batches, building trees)
        text = path.read_text(encoding="utf-8")
        for primitive in ("root_from_proof", "validity_instant", "batch_message", "log_message"):
            assert not re.search(rf"(?<!def ){primitive}\(", text), (
                f"{path.relative_to(library)} calls {primitive} itself: use ledger/formats/checks.py"
            )


def test_rechecking_the_genesis_keeps_a_warm_view_answering_from_memory(
    ledger: Ledger, docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway's refresher re-reads the chain's genesis every few seconds (``ChainView.refresh``). While that
    read is in flight, a certificate of a verified, final batch must still be answered from memory: the view used
    to forget the old genesis before reading the new one, so every public verification arriving during the read
    (a web3 call: tens of ms on a busy gateway) went down the chain-reading path in a worker thread."""
    from ledger.onchain.chainread import Finality
    from ledger.services.verify import GENESIS_RECHECK

    for _ in range(Finality(ledger.settings.confirmations).reorg_depth + 1):  # the batch's anchor is final
        ledger.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    doc = docs[0]
    issuer, root = doc["fields"]["issuer"], bytes.fromhex(doc["anchor"]["root"][2:])
    view = ChainView(ledger.chain, ledger.settings.confirmations, max_head_age=3600)
    head = view.refresh()
    assert verify_certificate(doc, view).ok
    assert view.warm_head(issuer, root) is not None
    seen_during_read: list[int | None] = []
    real = ledger.chain.block_hash

    def block_hash(number: int) -> Any:
        seen_during_read.append(view.warm_head(issuer, root))
        return real(number)

    monkeypatch.setattr(ledger.chain, "block_hash", block_hash)
    # as if read 3 s ago: due for the refresher's re-read (every GENESIS_RECHECK / 2), still good for 2 s more
    view._genesis = (view._genesis[0], view._genesis[1] - GENESIS_RECHECK * 0.6)
    view.refresh(head)  # the head already synced: nothing but the genesis is read
    assert seen_during_read and all(head is not None for head in seen_during_read), seen_during_read
    assert view.warm_head(issuer, root) is not None
