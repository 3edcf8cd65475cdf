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


def _problems(ledger: Ledger, path: Path, department: str) -> str:
    with pytest.raises(InputError) as caught:
        issuance.issue_file(ledger, path, department, batch_size=7)
    return str(caught.value)


def test_workers_report_a_bad_file_exactly_as_the_writer_alone(
    parallel: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An applicant's file with invalid records spread over many slices of lines (a wrong type, an issuer it may
    not name, a date that does not exist) and blank lines: the workers' validation pass names the same lines in
    the same words as the writer's own pass, and nothing is issued."""
    monkeypatch.setattr(issuance, "_CHECK_BLOCK", 5)  # many slices for the workers
    records: list[object] = list(make_records(40))
    records[3] = {**make_records(1)[0], "type": "Not A Type"}
    records[12] = {**make_records(1)[0], "issuer": "SOMEONE-ELSE"}
    records[36] = {**make_records(1)[0], "valid_until": "2026-02-30"}
    records.insert(25, "   ")
    records.insert(8, "")
    path = write_jsonl(tmp_path / "bad.jsonl", records)
    by_workers = _problems(parallel, path, fresh_department)
    for line in ("line 4,", "line 14,", "line 39,"):
        assert line in by_workers, by_workers
    assert by_workers == _problems(_alone(parallel, monkeypatch), path, fresh_department)
    _assert_nothing_stored(parallel, fresh_department)


def test_an_id_used_twice_in_different_slices_is_found(
    parallel: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer finds a repeated id on the 8-byte id hashes the workers return, then names both lines."""
    monkeypatch.setattr(issuance, "_CHECK_BLOCK", 5)
    records = make_records(40)
    records[33] = {**records[8], "subject": {"name": "Li Na"}}
    path = write_jsonl(tmp_path / "twice.jsonl", records)
    by_workers = _problems(parallel, path, fresh_department)
    assert "line 34: certificate id" in by_workers and "repeats line 9" in by_workers, by_workers
    assert by_workers == _problems(_alone(parallel, monkeypatch), path, fresh_department)
    _assert_nothing_stored(parallel, fresh_department)


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"id": "x", "type": ', r"^line 27: malformed JSON"),
        # orjson alone would keep the last "name": the worker's parser must refuse it as json does
        (json.dumps(make_records(1)[0]).replace('"subject": {', '"subject": {"name": "Forged", ', 1), r"^line 27: dup"),
    ],
)
def test_a_line_that_is_no_record_in_a_late_slice_stops_everything_with_its_line(
    parallel: Ledger,
    fresh_department: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bad_line: str,
    message: str,
) -> None:
    monkeypatch.setattr(issuance, "_CHECK_BLOCK", 5)
    records: list[object] = list(make_records(30))
    records[2] = {**make_records(1)[0], "type": "Not A Type"}  # as in one process: the unreadable line wins
    records[26] = bad_line
    path = write_jsonl(tmp_path / "cut.jsonl", records)
    with pytest.raises(InputError, match=message):
        issuance.issue_file(parallel, path, fresh_department, batch_size=7)
    _assert_nothing_stored(parallel, fresh_department)


def _alone(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    monkeypatch.setattr(ledger, "settings", ledger.settings.with_(issue_workers=-1))
    return ledger


def _assert_nothing_stored(ledger: Ledger, department: str) -> None:
    with ledger.engine.connect() as conn:
        stored = conn.execute(select(Certificate.digest).where(Certificate.department_id == department))
        assert stored.first() is None


def test_a_worker_process_loads_no_chain_store_or_key_code() -> None:
    """What a spawned worker imports to unpickle its tasks: the formats only (no web3, SQLAlchemy, keystore or
    vault), so it starts in a tenth of a CPU-second and could not touch the chain, the store or a key."""
    import subprocess
    import sys

    code = (
        "import sys, ledger.services._issue_worker\n"
        "heavy = ('web3', 'sqlalchemy', 'eth_account', 'ledger.client', 'ledger.storage', 'ledger.onchain')\n"
        "print(sorted({m.split('.')[0] if not m.startswith('ledger') else m for m in sys.modules "
        "if m.startswith(heavy)}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
