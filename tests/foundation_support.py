"""Helpers and fixtures that several test modules use (from tests/test_foundation.py: no test module
imports another)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from ledger.client import Ledger
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
