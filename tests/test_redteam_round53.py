"""Red team round 53: against the ``opens`` merge (an erasure's seal and its racing attestations in one transaction,
the decisions log's check comparing spelling, canonical JSON refusing an inexact double).

1. (A department writing its decision log past the library: it holds the log's key) between an erasure's last look
   and its seal, a decision entry citing the certificate as verified whose attested facts canonical JSON cannot
   write (an ``input_digest`` of 1152921504606847000, an integer past 2**53). The racing attestation is now built in
   the seal's own transaction (``logchain.append_composed``): its refusal rolled the seal back, so one entry any
   department can write blocked the erasure of another department's certificate for as long as it raced, where
   before the merge the seal had committed first. An item the attestation cannot write is replay's to report (as an
   unreadable record is), never the seal's to block.

Real anvil, real database.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.services import erasure, issuance, logchain

from .conftest import make_records, write_jsonl


def _issued(ledger: Ledger, tmp_path: Path, department: str, tag: str) -> dict[str, Any]:
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / f"{tag}.jsonl", make_records(1)), department, out=out)
    return dict(json.loads(out.getvalue().splitlines()[0]))


@pytest.mark.parametrize("spelt", ["1152921504606847000", "1e999", '"\\ud800"'])
def test_a_racing_citation_the_attestation_cannot_write_does_not_block_the_seal(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelt: str
) -> None:
    """Finding 1: the entry stored right after the erasure's last look (round 49's hook), its ``input_digest`` a
    value canonical JSON refuses; the erasure must still seal the certificate."""
    doc = _issued(ledger, tmp_path, fresh_department, "rt53-racing")
    digest = doc["digest"]
    looked = erasure.cited_in
    seen: list[str] = []

    def look_then_write(ledger_: Ledger, digest_: str, **kwargs: Any) -> list[dict[str, Any]]:
        found = looked(ledger_, digest_, **kwargs)
        seen.append(digest_)
        if len(seen) == 2:  # the last look before the seal: the insider's entry, stored as its own tool writes
            text = (
                f'{{"certificates":[{{"digest":"{digest}","expired":false,"holder":true,"verified":true}}],'
                f'"input_digest":{spelt}}}'
            )
            logchain._append_rows(
                ledger_, logchain.LOG_DECISIONS, fresh_department, [(text, None, [digest], datetime.now(UTC))]
            )
        return found

    with monkeypatch.context() as patch:
        patch.setattr(erasure, "cited_in", look_then_write)
        erasure.erase(ledger, digest, basis="objection", by="officer-53")
    assert len(seen) == 2
    assert erasure.is_erased(ledger, digest)
