"""The adversary of the type-authority tests: a department anchoring a certificate type it does not hold.

Issuance refuses such a batch before storing it and again before sending it, so the adversary skips the library
where it checks: it builds and stores the batch with the library's low-level steps, then sends ``anchorBatch``
itself with its own key (as any holder of a department key can), and hands out the holder's document.
"""

from __future__ import annotations

from typing import Any

from ledger.client import Ledger
from ledger.formats.certificate import SCHEMA_ID, validate_record
from ledger.services import issuance

from .conftest import make_records


def anchor_anyway(ledger: Ledger, department: str, cert_type: str) -> dict[str, Any]:
    """One certificate of ``cert_type`` anchored by ``department``'s own key, past issuance's checks."""
    records = [
        validate_record(r, i, department=department) for i, r in enumerate(make_records(1, cert_type=cert_type), 1)
    ]
    built = issuance.build_batch(ledger, records, department)
    issuance.store_prepared(ledger, built)
    chain = ledger.chain
    sent = chain.send(
        ledger.department_account(department),
        chain.anchor.functions.anchorBatch(built.root, len(built.digests), SCHEMA_ID),
    )
    assert chain.wait(sent, timeout=60)["status"] == 1
    issuance.confirm(ledger, built.root, timeout=60)  # finds the anchoring event mined: sends nothing itself
    return issuance.export_document(ledger, "0x" + built.digests[0].hex(), department)
