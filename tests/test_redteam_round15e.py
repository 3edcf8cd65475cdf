"""Red team, round 15e: the chain's operator rewriting history under a long-lived view, a gateway relaying
another's messages, and an anonymous client of the public endpoints.

Holes (each test failed before its fix):

1. A long-lived view (the gateway's, one per process) kept the registry's answer to "was the department authorized
   for this type at the anchoring block" for good as soon as the block was below the head, not once it was final
   (``chainread.Finality``, the one policy every other cached chain fact follows). The chain's operator showed a
   branch in which the council granted a department a type, let the gateway verify a certificate of that type
   anchored just after, then reorganised the chain (within the finality window) to a branch without the grant
   and with the same anchoring at the same height: every verifier asking the chain failed ``type_authority``,
   the gateway (``/public/verify``, the timeline) kept saying the department held the type until it restarted.
   The answer is now kept only for a block the finality policy calls final; a shallower one is asked again.

2. A long-lived view's department status streams (the "herd" lookup: the W3C status lists the gateway serves to
   anyone at ``/public/status-lists/...``, a verification asking about a moment, a bundle's status history) were
   read again only when asked about a later head. Round 14's fix (the status index reads the events not yet final
   again once ``verify.RESYNC_SECONDS`` have passed, head moved or not) did not reach them: the chain's operator
   replacing the last block with one of the same height that revokes a certificate, and making no further block,
   left the gateway's status list saying "not revoked" as of that block for as long as no block came. A stream is
   now read again past its final boundary once it is ``RESYNC_SECONDS`` old, as the index is.

3. A long-lived view's head never went down: the gateway's head refresher published ``max(head read, head
   before)``. The chain's operator rolling the chain back (to a lower height) and anchoring a batch at the new tip
   had the gateway judge that anchoring against the old, higher head: its confirmations counted blocks the chain
   no longer had, and a batch at the tip was "final" (deeper than ``confirmations + 12`` below that head), so its
   anchor was cached for good. Rolled back once more (the batch gone), every verifier reading the chain failed
   ``anchored``; the gateway kept verifying the certificate until it restarted. The head a refresh reads is now
   the head published, lower or not, and the status index is brought back to it.

Each hole found was written first as a failing test, then closed.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.formats.certificate import batch_schema, validate_record
from ledger.onchain.chain import ROLE_ISSUER, ROLE_VERIFIER
from ledger.services import issuance, status, statuslist, verify
from ledger.services.departments import Council
from ledger.services.verify import ChainView, verify_certificate

from .cli_support import rpc
from .conftest import PASSPHRASE, make_records, make_settings, write_jsonl

_codes = itertools.count(1)


@pytest.fixture()
def own(tmp_path: Path) -> Iterator[Ledger]:
    """A ledger with its own anvil: this test rewrites its chain."""
    instance = Ledger.open(make_settings(tmp_path / "own"), passphrase=PASSPHRASE)
    # blocks come only from transactions and evm_mine: the tests compare heights, which the node's one-second
    # interval miner moved at its own moment on a busy machine (CI: block 10 where the rewrite left 9)
    rpc(instance, "evm_setIntervalMining", 0)
    rpc(instance, "evm_setAutomine", True)  # setting the interval switched every kind of mining off
    yield instance
    instance.close()


def _failed(report: Any) -> set[str]:
    return {c.name for c in report.failed}


# -- 1. a registry answer about a block not yet final -----------------------------------------------------------------


def test_a_type_grant_a_reorganisation_removed_is_not_kept_by_a_long_lived_view(own: Ledger) -> None:
    """Adversary: the chain's operator. The council grants a department a type; the department anchors a
    certificate of it in the next block and the gateway verifies it. The operator then replaces those blocks
    (shallower than the finality depth) with a branch holding the same anchoring at the same height and the grant
    only in that block (a grant counts from the block after its own).
    Every view reading the rewritten chain fails ``type_authority``; the long-lived view must too, not answer from
    what it read of the branch that is gone."""
    code = f"R15E{os.getpid() % 1000}-{next(_codes)}"
    council = Council(own)
    council.register(code, f"Bureau {code}", ROLE_ISSUER | ROLE_VERIFIER, types=("health-permit",))
    rpc(own, "evm_mine")
    before = rpc(own, "evm_snapshot")
    council.grant_types(code, ["business-licence"])

    issuance.check_types_authorized(own, code, {"business-licence"})
    records = [
        validate_record(r, i, department=code) for i, r in enumerate(make_records(1, cert_type="business-licence"), 1)
    ]
    built = issuance.build_batch(own, records, code)
    issuance.store_prepared(own, built)
    chain = own.chain
    account = own.department_account(code)
    anchoring = chain.anchor.functions.anchorBatch(built.root, len(built.digests), batch_schema("business-licence"))
    receipt = chain.wait(chain.send(account, anchoring), timeout=60)
    assert receipt["status"] == 1
    anchored_in = int(receipt["blockNumber"])
    issuance.confirm(own, built.root, timeout=60)
    document = issuance.export_document(own, "0x" + built.digests[0].hex(), code)
    rpc(own, "evm_mine")
    head = chain.block_number()
    assert head - anchored_in < own.settings.confirmations + 12  # not final: a reorganisation may undo it

    gateway = ChainView(chain, own.settings.confirmations)  # the gateway's view, for the process's life
    report = verify_certificate(document, gateway)
    assert report.ok, report.to_json()

    # the operator's branch: the same anchoring in the same block, the council's grant mined only in that block, just
    # before it (CertificateAnchor 3.0.0 anchors no batch of a type its department does not hold when it runs; a
    # grant counts from the block after its own, so by the registry the department did not hold it at that block)
    assert rpc(own, "evm_revert", before) is True
    from ledger.services.council import Action, type_list

    first, *others = council.members
    proposal = first.propose(Action.GRANT_TYPE, code, name=type_list(["business-licence"]))
    threshold = int(chain.call(chain.registry.functions.threshold()))
    for member in others[: threshold - 2]:
        member.approve(proposal)
    while chain.block_number() < anchored_in - 1:
        rpc(own, "evm_mine")
    rpc(own, "evm_setAutomine", False)
    try:
        granting = chain.send(others[threshold - 2].account, chain.registry.functions.approve(proposal))
        sent = chain.send(account, anchoring, gas=300_000)  # not estimated: the grant is not mined yet
        rpc(own, "evm_mine")
    finally:
        rpc(own, "evm_setAutomine", True)
    granted, receipt = chain.wait(granting, timeout=60), chain.wait(sent, timeout=60)
    assert granted["status"] == 1 and int(granted["blockNumber"]) == anchored_in
    assert receipt["status"] == 1 and int(receipt["blockNumber"]) == anchored_in
    assert int(granted["transactionIndex"]) < int(receipt["transactionIndex"])
    while chain.block_number() < head:
        rpc(own, "evm_mine")

    fresh = verify_certificate(document, ChainView(chain, own.settings.confirmations))
    assert _failed(fresh) == {"type_authority"}, fresh.to_json()
    again = verify_certificate(document, gateway)
    assert _failed(again) == {"type_authority"}, again.to_json()


# -- 2. a department's status stream and a rewrite to the same height -------------------------------------------------


def test_a_revocation_brought_in_by_a_rewrite_to_the_same_height_is_in_a_long_lived_views_status_list(
    own: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: the chain's operator. The gateway serves a batch's revocation list (anyone may fetch it; a W3C
    verifier reads only the list); the operator replaces the last block with one of the same height that revokes
    the certificate and makes no further block. Once ``RESYNC_SECONDS`` have passed, the list the gateway's
    long-lived view gives must have the certificate's bit set, as a fresh view's has."""
    code = f"R15E{os.getpid() % 1000}-{next(_codes)}"
    Council(own).register(code, f"Bureau {code}", ROLE_ISSUER | ROLE_VERIFIER, types=("business-licence",))
    with (tmp_path / "out.jsonl").open("w") as out:
        issuance.issue_file(own, write_jsonl(tmp_path / "r.jsonl", make_records(1)), code, out=out)
    document = json.loads((tmp_path / "out.jsonl").read_text())
    root = document["anchor"]["root"]
    before = rpc(own, "evm_snapshot")
    rpc(own, "evm_mine")  # the block the gateway reads ...
    head = own.chain.block_number()
    gateway = ChainView(own.chain, own.settings.confirmations)

    def revoked(view: ChainView) -> bool:
        listed = statuslist.list_credential(own, code, root, "revocation", base="https://gw.example", view=view)
        assert listed["proof"]["block"] == head
        return statuslist.bit(statuslist.decode(listed["credentialSubject"]["encodedList"]), 0)

    assert not revoked(gateway)

    assert rpc(own, "evm_revert", before) is True  # ... replaced by one that revokes the certificate
    status.revoke(own, document["digest"], "fraud", code)
    assert own.chain.block_number() == head  # the same height: only the block changed
    assert revoked(ChainView(own.chain, own.settings.confirmations))
    monkeypatch.setattr(verify, "RESYNC_SECONDS", 3600.0)
    assert not revoked(gateway)  # within the interval: the block read before
    monkeypatch.setattr(verify, "RESYNC_SECONDS", 0.0)  # the interval has passed
    assert revoked(gateway)


# -- 3. a head that went down -----------------------------------------------------------------------------------------


def test_a_batch_anchored_after_a_rollback_is_not_judged_against_the_head_the_chain_no_longer_has(
    own: Ledger, tmp_path: Path
) -> None:
    """Adversary: the chain's operator. The gateway has read head H; the operator rolls the chain back by more than
    the finality depth and the department anchors a certificate at the new tip. The gateway's view must judge it
    against the chain's head (not final: not cached), so that when the operator rolls back once more, dropping the
    anchoring, the gateway fails ``anchored`` as every verifier reading the chain does."""
    code = f"R15E{os.getpid() % 1000}-{next(_codes)}"
    Council(own).register(code, f"Bureau {code}", ROLE_ISSUER | ROLE_VERIFIER, types=("business-licence",))
    depth = own.settings.confirmations + 12
    before = rpc(own, "evm_snapshot")
    low = own.chain.block_number()
    for _ in range(depth + 8):
        rpc(own, "evm_mine")
    gateway = ChainView(own.chain, own.settings.confirmations, max_head_age=3600.0)  # kept fresh by its refresher
    high = gateway.refresh()

    assert rpc(own, "evm_revert", before) is True  # the chain rolled back ...
    again = rpc(own, "evm_snapshot")
    with (tmp_path / "out.jsonl").open("w") as out:  # ... and a certificate anchored at its new tip
        issuance.issue_file(own, write_jsonl(tmp_path / "r.jsonl", make_records(1)), code, out=out)
    document = json.loads((tmp_path / "out.jsonl").read_text())
    assert own.chain.block_number() < high - depth
    head = gateway.refresh()
    report = verify_certificate(document, gateway)
    assert report.ok, report.to_json()
    assert report.as_of_block == own.chain.block_number() == head, (report.as_of_block, head)

    assert rpc(own, "evm_revert", again) is True  # rolled back once more: the anchoring is gone
    assert own.chain.block_number() == low
    fresh = verify_certificate(document, ChainView(own.chain, own.settings.confirmations))
    assert "anchored" in _failed(fresh), fresh.to_json()
    gateway.refresh()
    later = verify_certificate(document, gateway)
    assert "anchored" in _failed(later), later.to_json()
