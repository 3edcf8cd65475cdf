"""Helpers and fixtures that several test modules use (from tests/test_foundation.py: no test module
imports another)."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

from ledger.client import Ledger
from ledger.formats.canonical import hex32, parse_hex32
from ledger.formats.certificate import batch_schema
from ledger.formats.merkle import MerkleTree
from ledger.formats.signing import batch_message, sign
from ledger.onchain.ids import department_id_bytes
from ledger.services import issuance
from ledger.services.verify import ChainView, verify_certificate

from .conftest import write_jsonl


def issue(
    ledger: Ledger, tmp_path: Path, department: str, records: list[dict[str, Any]], **kwargs: Any
) -> list[dict[str, Any]]:
    out = io.StringIO()
    issuance.issue_file(
        ledger,
        write_jsonl(tmp_path / f"in-{department}-{records[0]['id']}.jsonl", records),
        department,
        out=out,
        **kwargs,
    )
    return [json.loads(line) for line in out.getvalue().splitlines()]


def verify(ledger: Ledger, doc: Any, **kwargs: Any):
    return verify_certificate(doc, ChainView(ledger.chain, ledger.settings.confirmations), **kwargs)


def reanchored(
    ledger: Ledger, department: str, document: dict[str, Any], *, declared: str | None = None
) -> dict[str, Any]:
    """``department`` anchors ``document``'s digest again, alone in a batch of its own (one call, its own key), and
    hands the holder the document with the new anchor section: the same certificate, the same digest (red team
    rounds 42 and 45). The batch is of the certificate's own type, or of type ``declared`` (a department holding
    it: the contract cannot see the leaves, red team round 52)."""
    chain, account = ledger.chain, ledger.department_account(department)
    digest = parse_hex32(document["digest"])
    tree = MerkleTree([digest, b"\x5a" * 32])
    schema = batch_schema(declared or document["fields"]["type"])
    chain.transact(account, chain.anchor.functions.anchorBatch(tree.root, 2, schema))
    message = batch_message(
        chain.chain_id, chain.deployment.anchor, tree.root, 2, schema, department_id_bytes(department)
    )
    again = copy.deepcopy(document)
    again["anchor"]["root"] = hex32(tree.root)
    again["anchor"]["proof"] = [hex32(p) for p in tree.proof(0)]
    again["anchor"]["signature"] = "0x" + sign(account, message).hex()
    again["anchor"]["schema"] = hex32(schema)
    return again


def copy_the_gateway_answers_natively(
    ledger: Ledger, tmp: Path, department: str
) -> tuple[dict[str, Any], dict[str, Any], ChainView, Any]:
    """One certificate issued by ``department`` and anchored again under a second root (:func:`reanchored`), both
    final, and a long-lived view (the gateway's) that has met the copy's batch, so the gateway answers the copy in
    its one native call (asserted: valid): (document, copy, view, mine), ``mine()`` making the next change final."""
    from api import services
    from ledger.onchain.chainread import Finality

    from .conftest import make_records

    (document,) = issue(ledger, tmp, department, make_records(1))
    again = reanchored(ledger, department, document)
    final = Finality(ledger.settings.confirmations).reorg_depth + 2

    def mine() -> None:
        for _ in range(final):
            ledger.chain.w3.provider.make_request("evm_mine", [])

    mine()
    view = ChainView(ledger.chain, ledger.settings.confirmations, max_head_age=3600.0)
    view.refresh()
    verify_certificate(again, view)  # the batch met: its checks kept for this head
    answered = services.fast_public_bytes(view, again)
    assert answered is not None and json.loads(answered)["status"] == "valid"
    return document, again, view, mine
