"""Issue 18, a kilobyte per certificate: the sealed body keeps its salts as one base64 text instead of a map of hex
texts. Adversary: an insider with database access who shortens or swaps the stored body; and stores written
before the change, whose bodies must still export and reconcile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, update

from ledger.client import Ledger
from ledger.services import issuance
from ledger.services.reconcile import reconcile
from ledger.storage.store import Certificate

from .conftest import make_records, write_jsonl


def _issue_one(ledger: Ledger, department: str, tmp_path: Path) -> tuple[dict, str]:
    out = __import__("io").StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / "one.jsonl", make_records(2)), department, out=out)
    doc = json.loads(out.getvalue().splitlines()[0])
    return doc, doc["fields"]["id"]


def _row(ledger: Ledger, department: str, cid: str) -> tuple[str, bytes]:
    with ledger.engine.connect() as conn:
        digest, sealed = conn.execute(
            select(Certificate.digest, Certificate.sealed).where(
                Certificate.department_id == department, Certificate.certificate_id == cid
            )
        ).one()
    return digest, bytes(sealed)


def test_body_is_compact_and_exports_exactly(ledger: Ledger, fresh_department: str, tmp_path: Path) -> None:
    doc, cid = _issue_one(ledger, fresh_department, tmp_path)
    digest, sealed = _row(ledger, fresh_department, cid)
    body = json.loads(ledger.vault.open(sealed, bytes.fromhex(digest[2:])))
    assert set(body) == {"fields", "s"}, "salts should be one packed text"
    assert issuance.export_document(ledger, cid, fresh_department) == doc


def test_body_of_the_first_layout_still_exports_and_reconciles(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    doc, cid = _issue_one(ledger, fresh_department, tmp_path)
    digest, _ = _row(ledger, fresh_department, cid)
    old = json.dumps(
        {"fields": doc["fields"], "salts": doc["salts"]}, ensure_ascii=False, separators=(",", ":")
    ).encode()
    resealed = ledger.vault.seal_certificates(fresh_department, [(old, bytes.fromhex(digest[2:]))])[0]
    with ledger.engine.begin() as conn:
        conn.execute(update(Certificate).where(Certificate.digest == digest).values(sealed=resealed))
    assert issuance.export_document(ledger, cid, fresh_department) == doc
    report = reconcile(ledger, departments=[fresh_department])
    assert report.ok, report.text()


@pytest.mark.parametrize("packed", ["", "AAAA", "not base64!"])
def test_short_or_garbled_salts_are_an_altered_body(
    ledger: Ledger, fresh_department: str, tmp_path: Path, packed: str
) -> None:
    doc, cid = _issue_one(ledger, fresh_department, tmp_path)
    digest, _ = _row(ledger, fresh_department, cid)
    bad = json.dumps({"fields": doc["fields"], "s": packed}).encode()
    resealed = ledger.vault.seal_certificates(fresh_department, [(bad, bytes.fromhex(digest[2:]))])[0]
    with ledger.engine.begin() as conn:
        conn.execute(update(Certificate).where(Certificate.digest == digest).values(sealed=resealed))
    kinds = {d.kind for d in reconcile(ledger, departments=[fresh_department]).divergences}
    assert "sealed_body_altered" in kinds
    assert digest not in issuance.export_documents(ledger, [digest])
