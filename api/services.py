"""Gateway glue over the library: shaping issuance and public verification for HTTP. No rules live here."""

from __future__ import annotations

import io
import json
from typing import Any

from sqlalchemy import select

from ledger.canonical import hex32, parse_hex32
from ledger.client import Ledger
from ledger.errors import InputError
from ledger.issuance import check_can_issue, export_document, issue_records
from ledger.certificate import validate_record
from ledger.store import Certificate
from ledger.verify import ChainView, Report, verify_certificate

from .models import CheckPublic, IssuedCertificate, IssuePublic, PublicReport


def issue(ledger: Ledger, department: str, raw_records: list[dict[str, Any]], *, limit: int) -> IssuePublic:
    """Validate every record first (nothing is issued if one is wrong), then issue them in one or more batches."""
    if len(raw_records) > limit:
        raise InputError(f"{len(raw_records)} records in one request; at most {limit} (split the request)",
                         field="records")
    check_can_issue(ledger, department)
    limit_bytes = ledger.settings.max_record_bytes
    for i, raw in enumerate(raw_records):
        size = len(json.dumps(raw, ensure_ascii=False, separators=(",", ":")).encode())
        if size > limit_bytes:
            raise InputError(f"record is {size} bytes; the limit is {limit_bytes}", line=i + 1, field="records")
    records = [validate_record(raw, i + 1, department=department) for i, raw in enumerate(raw_records)]
    ids = [r.certificate_id for r in records]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise InputError(f"certificate ids repeat within the request: {repeated[:10]}", field="records")
    with ledger.engine.connect() as conn:
        existing = sorted(r[0] for r in conn.execute(select(Certificate.certificate_id).where(  # type: ignore[call-overload]
            Certificate.department_id == department, Certificate.certificate_id.in_(ids))))  # type: ignore[attr-defined]
    if existing:
        raise InputError(f"certificate ids already issued by {department}: {existing[:10]}", field="records")
    out = io.StringIO()
    result = issue_records(ledger, records, department, out=out)
    issued = [json.loads(line) for line in out.getvalue().splitlines() if line]
    return IssuePublic(department=department, batches=result.batches, transactions=result.transactions,
                       certificates=[IssuedCertificate(id=d["fields"]["id"], digest=d["digest"]) for d in issued])


def checks(report: Report) -> list[CheckPublic]:
    return [CheckPublic(**c.to_json()) for c in report.checks]


def public_report(ledger: Ledger, view: ChainView, *, document: dict[str, Any] | None,
                  digest: str | None) -> PublicReport:
    """Verify a certificate file, or the stored certificate with this digest; reveal status, never fields."""
    if (document is None) == (digest is None):
        raise InputError("send either the certificate document or its digest", field="document")
    if document is None:
        assert digest is not None
        document = export_document(ledger, hex32(parse_hex32(digest)))
    report = verify_certificate(document, view)
    return PublicReport(verified=report.ok, digest=report.digest, status=report.facts.get("status"),
                        issuer=report.facts.get("department"), as_of_block=report.as_of_block, checks=checks(report))
