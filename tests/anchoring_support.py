"""Shared set-ups for the anchoring trail's tests (CertificateAnchor 4.2.0): tests/test_anchoring_trail.py and the
red team rounds against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ledger.client import Ledger
from ledger.services import evidence

from .cli_support import rpc
from .conftest import make_records
from .evidence_support import issue


def two_batches(ledger: Ledger, tmp_path: Path, department: str) -> tuple[dict[str, Any], str, Path]:
    """Two batches of ``department`` in two blocks: the second's certificate, the first batch's root, and a bundle
    of the certificate (blocks mined on top, so its confirmations count)."""
    (first,) = issue(ledger, tmp_path, department, make_records(1))
    for _ in range(2):
        rpc(ledger, "evm_mine")
    (target,) = issue(ledger, tmp_path, department, make_records(1))
    for _ in range(3):
        rpc(ledger, "evm_mine")
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(evidence.certificate_bundle(ledger, target)), encoding="utf-8")
    return target, first["anchor"]["root"].lower(), path
