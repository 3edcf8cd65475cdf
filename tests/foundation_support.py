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
from ledger.formats.certificate import SCHEMA_ID
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


def reanchored(ledger: Ledger, department: str, document: dict[str, Any]) -> dict[str, Any]:
    """``department`` anchors ``document``'s digest again, alone in a batch of its own (one call, its own key), and
    hands the holder the document with the new anchor section: the same certificate, the same digest (red team
    rounds 42 and 45)."""
    chain, account = ledger.chain, ledger.department_account(department)
    digest = parse_hex32(document["digest"])
    tree = MerkleTree([digest, b"\x5a" * 32])
    chain.transact(account, chain.anchor.functions.anchorBatch(tree.root, 2, SCHEMA_ID))
    message = batch_message(
        chain.chain_id, chain.deployment.anchor, tree.root, 2, SCHEMA_ID, department_id_bytes(department)
    )
    again = copy.deepcopy(document)
    again["anchor"]["root"] = hex32(tree.root)
    again["anchor"]["proof"] = [hex32(p) for p in tree.proof(0)]
    again["anchor"]["signature"] = "0x" + sign(account, message).hex()
    return again
