"""Ledger integrity against a hostile department or holder: documents that mean two things.

* A JSON object that names a key twice: Python's json and orjson keep the last value, a person or another parser
  may read the first. Every parser of what comes from outside refuses it, naming the key: certificate documents,
  presentations, evidence bundles (both verifiers), input records (JSONL, CSV headers), decision inputs and the
  gateway's request bodies. (Rule sets: ``test_rules.py::test_duplicate_yaml_keys_are_refused``,
  ``::test_duplicate_json_keys_are_refused``.)

Each attack puts the forged value first, so a last-wins parser sees the genuine document and, before the fix,
everything verified. Real anvil, real contracts, real gateway; nothing is mocked."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from ledger import evidence, issuance
from ledger.certificate import iter_raw_records, load_document
from ledger.cli import main as cli_main
from ledger.cli.decisions import _read_jsonl
from ledger.client import Ledger
from ledger.errors import InputError
from ledger.verify import ChainView, verify_certificate

from .conftest import make_records, write_jsonl
from .test_api_support import Clock, assert_problem, bearer, login, make_client, register
from .test_evidence import standalone


def forged_first(document: dict[str, Any], section: str, key: str, value: Any) -> str:
    """``document`` as JSON text whose ``section`` object names ``key`` twice: ``value`` first, the genuine last."""
    text = json.dumps(document)
    opening = f'"{section}": {{' if section else "{"
    assert opening in text
    return text.replace(opening, opening + json.dumps(key) + ": " + json.dumps(value) + ", ", 1)


@pytest.fixture(scope="module")
def docs(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = io.StringIO()
    tmp = tmp_path_factory.mktemp("fmt")
    issuance.issue_file(ledger, write_jsonl(tmp / "in.jsonl", make_records(3)), "MKT", out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


# -- duplicate keys --------------------------------------------------------------------------------------------

def test_certificate_with_a_duplicate_field_is_refused(ledger: Ledger, docs: list[dict[str, Any]],
                                                        tmp_path: Path) -> None:
    path = tmp_path / "cert.json"
    path.write_text(forged_first(docs[0], "fields", "subject.name", "Somebody Else"))
    report = verify_certificate(str(path), ChainView(ledger.chain))
    assert not report.ok
    assert not report.check("format").ok and "duplicate key 'subject.name'" in report.check("format").detail
    with pytest.raises(InputError, match="duplicate key 'subject.name'"):
        load_document(path)


def test_cli_verify_refuses_a_duplicate_key(ledger: Ledger, docs: list[dict[str, Any]], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cert.json"
    path.write_text(forged_first(docs[0], "", "format", "pl-cert/0"))
    code = cli_main(["--data-dir", str(ledger.settings.data_dir), "verify", str(path)])
    captured = capsys.readouterr()
    assert code != 0
    assert "duplicate key 'format'" in captured.out + captured.err


def test_presentation_with_a_duplicate_key_is_refused(ledger: Ledger, docs: list[dict[str, Any]],
                                                       tmp_path: Path) -> None:
    presentation = load_document(docs[1]).present(["subject.name"]).to_json()
    path = tmp_path / "presentation.json"
    path.write_text(forged_first(presentation, "anchor", "root", "0x" + "00" * 32))
    report = verify_certificate(str(path), ChainView(ledger.chain))
    assert not report.ok and "duplicate key 'root'" in report.check("format").detail


def test_evidence_bundle_with_a_duplicate_key_is_refused_by_both_verifiers(ledger: Ledger,
                                                                           docs: list[dict[str, Any]],
                                                                           tmp_path: Path) -> None:
    bundle = evidence.certificate_bundle(ledger, docs[0])
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    assert evidence.verify_bundle(path, ledger.chain).ok  # the genuine bundle verifies
    path.write_text(forged_first(bundle, "certificate", "digest", "0x" + "11" * 32))
    report = evidence.verify_bundle(path, ledger.chain)
    assert not report.ok and "duplicate key 'digest'" in report.check("bundle").detail
    code, result, stderr = standalone(ledger, path)
    assert code == 2 and result is None
    assert "duplicate key 'digest'" in stderr


def test_input_record_with_a_duplicate_key_is_refused_with_its_line(tmp_path: Path) -> None:
    good = json.dumps(make_records(1)[0])
    path = tmp_path / "in.jsonl"
    path.write_text(good + "\n" + forged_first(make_records(1)[0], "subject", "name", "Other") + "\n")
    with pytest.raises(InputError, match="line 2: duplicate key 'name'"):
        list(iter_raw_records(path))


def test_csv_with_a_duplicate_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("id,type,subject.name,subject.name,valid_from\nC-1,permit,Zhang Wei,Li Na,2026-01-01\n")
    with pytest.raises(InputError, match="duplicate column 'subject.name'"):
        list(iter_raw_records(path))


def test_decision_input_with_a_duplicate_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "applications.jsonl"
    path.write_text('{"case_id": "A-1", "income": 100, "income": 99999}\n')
    with pytest.raises(InputError, match="duplicate key 'income'"):
        list(_read_jsonl(path))


def test_gateway_refuses_a_request_body_with_a_duplicate_key(ledger: Ledger, docs: list[dict[str, Any]]) -> None:
    client = make_client(ledger, Clock())
    genuine = client.post("/public/verify", json={"document": docs[2]})
    assert genuine.status_code == 200 and genuine.json()["verified"], genuine.text
    body = forged_first({"document": docs[2]}, "fields", "issuer", "HOSP")
    answer = client.post("/public/verify", content=body, headers={"Content-Type": "application/json"})
    assert "duplicate key 'issuer'" in assert_problem(answer, 422)["detail"]
    department = register(ledger, "FMT", "verifier", "issuer")
    token = login(client, ledger, department)
    answer = client.post("/verify", content=body, headers={"Content-Type": "application/json", **bearer(token)})
    assert "duplicate key 'issuer'" in assert_problem(answer, 422)["detail"]
    records = forged_first({"records": make_records(1)}, "subject", "name", "Other")
    answer = client.post("/certificates", content=records,
                         headers={"Content-Type": "application/json", **bearer(token)})
    assert "duplicate key 'name'" in assert_problem(answer, 422)["detail"]
