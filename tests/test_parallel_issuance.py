"""Issue 18, issuance on both cores: batches built in worker processes, one writer.

Adversaries: a holder who would learn another holder's salts if two worker processes drew the same randomness
(a forked random state), and an applicant whose bad record sits in the middle of a file that workers build.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.services import issuance
from ledger.services.verify import ChainView, verify_many
from ledger.storage.store import Certificate

from .conftest import make_records, write_jsonl


@pytest.fixture
def parallel(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    monkeypatch.setattr(ledger, "settings", ledger.settings.with_(issue_workers=2))
    return ledger


def test_worker_batches_verify_in_order_with_salts_never_shared(
    parallel: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    records = make_records(40)
    out = io.StringIO()
    result = issuance.issue_file(
        parallel, write_jsonl(tmp_path / "p.jsonl", records), fresh_department, batch_size=7, out=out
    )
    assert result.count == 40 and len(result.batches) == 6
    docs = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [d["fields"]["id"] for d in docs] == [r["id"] for r in records], "documents out of input order"
    reports = verify_many(docs, ChainView(parallel.chain, 0))
    assert all(r.ok for r in reports), [r for r in reports if not r.ok][:1]
    salts = [s for d in docs for s in d["salts"].values()]
    assert len(set(salts)) == len(salts), "two fields got the same salt: worker randomness is shared"
    with parallel.engine.connect() as conn:
        rows = conn.execute(
            select(Certificate.digest, Certificate.batch_root, Certificate.leaf_index).where(
                Certificate.department_id == fresh_department
            )
        ).all()
    assert len(rows) == 40 and {index for _, _, index in rows} == set(range(7))
    for doc in docs:  # the store holds what the holder got: same fields, salts, root and proof
        assert issuance.export_document(parallel, doc["fields"]["id"], fresh_department) == doc


def test_bad_record_in_a_worker_built_file_writes_nothing(
    parallel: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    records: list[object] = list(make_records(30))
    records[17] = {"id": "bad", "type": "Not A Type", "subject": {"name": "x"}}
    with pytest.raises(InputError, match="line 18"):
        issuance.issue_file(parallel, write_jsonl(tmp_path / "bad.jsonl", records), fresh_department, batch_size=7)
    with parallel.engine.connect() as conn:
        assert (
            conn.execute(select(Certificate.digest).where(Certificate.department_id == fresh_department)).first()
            is None
        )
