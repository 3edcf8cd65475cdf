"""Red team, round 29c: closes round 29a's open row "Respell a disclosed number" (docs/threat-model.md).

A holder rewrites a number of a certificate with other digits that read as the same IEEE double: a certified
``1e+20`` shown as ``100000000000000000001.0`` or ``1.00000000000000008e20``, a certified ``0.0`` as ``1e-400``
(underflow), a certified ``0.1`` as ``0.1000000000000000000001``. Every verifier reads the double, whose canonical
form (RFC 8785) is what the field hash commits to, so the document (or the bundle carrying the field) verified while
its text states digits the issuer never wrote. Round 23 refused this for an integer spelling only (the ledger's
parser keeps a long integer exact, and canonical JSON refuses it).

The rule now, in every reader of text from outside (the library's ``strict_json_loads``, the gateway's guard and
body parser, the court's verifier): a number's text must denote, as an exact decimal, the value canonical JSON writes
for it. ``1.0``, ``23.0``, ``1e20``, ``1E+20``, ``100000000000000000000``, ``0.10``, ``-0.0`` (zero, which canonical
JSON writes ``0``) are that value; the respellings are refused, naming the number and where it stands. The issuing
side applies the same reader: a record holding such a number is refused, naming its line.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats.canonical import strict_json_loads
from ledger.formats.certificate import validate_record
from ledger.services import evidence, issuance
from ledger.services.issuance import issue_records
from ledger.services.verify import ChainView, verify_certificate

from .api_support import Clock, make_client, register
from .cli_support import run_cli
from .conftest import make_records, write_jsonl
from .evidence_support import failed_names, standalone_many

REFUSED = "not exactly representable"

# (field, the text the issuer's certificate holds, a respelling reading as the same double)
RESPELLED = [
    ("subject.registered_capital", "1e+20", "100000000000000000001.0"),
    ("subject.registered_capital", "1e+20", "1.00000000000000008e20"),
    ("subject.arrears", "0.0", "1e-400"),
    ("subject.rate", "0.1", "0.1000000000000000000001"),
]
# (field, certified text, another spelling of exactly the same decimal value: still verified everywhere)
HONEST = [
    ("subject.registered_capital", "1e+20", "1e20"),
    ("subject.registered_capital", "1e+20", "1E+20"),
    ("subject.registered_capital", "1e+20", "100000000000000000000"),
    ("subject.employees", "23", "23.0"),
    ("subject.arrears", "0.0", "-0.0"),  # zero: canonical JSON writes 0 for either sign
    ("subject.arrears", "0.0", "-0"),
    ("subject.arrears", "0.0", "0"),
    ("subject.rate", "0.1", "0.10"),
    ("subject.unit", "1.0", "1.0"),
]
_JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def certified(ledger: Ledger) -> tuple[str, dict[str, Any]]:
    """One certificate with number fields, issued as ``ledger issue`` issues it: (its file's text, its bundle)."""
    department = register(ledger, "RR29C", "issuer")
    (record,) = make_records(1)
    record["subject"].update(registered_capital=1e20, arrears=0.0, rate=0.1, employees=23, unit=1.0)
    out = io.StringIO()
    issue_records(ledger, [validate_record(record, 1, department=department)], department, out=out)
    text = out.getvalue().strip()
    for field, certified_text, _ in [*RESPELLED, *HONEST]:
        assert _spelled(text, field) == certified_text, (field, text)
    return text, evidence.certificate_bundle(ledger, json.loads(text))


def _pattern(field: str) -> re.Pattern[str]:
    return re.compile(r'("' + re.escape(field) + r'":\s*)(-?[0-9][0-9.eE+-]*)')


def _spelled(text: str, field: str) -> str:
    found = _pattern(field).findall(text)
    assert len(found) == 1, (field, found)
    return str(found[0][1])


def _respell(text: str, field: str, spelling: str) -> str:
    changed = _pattern(field).sub(lambda m: m.group(1) + spelling, text)
    assert _spelled(changed, field) == spelling
    return changed


def _view(ledger: Ledger) -> ChainView:
    return ChainView(ledger.chain)


def _documents(certified: tuple[str, dict[str, Any]], cases: list[tuple[str, str, str]]) -> list[str]:
    return [_respell(certified[0], field, spelling) for field, _, spelling in cases]


def _bundle_texts(certified: tuple[str, dict[str, Any]], cases: list[tuple[str, str, str]]) -> list[str]:
    text = json.dumps(certified[1])
    return [_respell(text, field, spelling) for field, _, spelling in cases]


@pytest.mark.parametrize(("field", "certified_text", "spelling"), RESPELLED, ids=[c[2] for c in RESPELLED])
def test_the_library_and_ledger_verify_refuse_a_respelled_number(
    ledger: Ledger,
    certified: tuple[str, dict[str, Any]],
    tmp_path: Path,
    field: str,
    certified_text: str,
    spelling: str,
) -> None:
    document = _respell(certified[0], field, spelling)
    with pytest.raises(InputError, match=REFUSED) as refused:
        strict_json_loads(document)
    assert spelling in str(refused.value) and field in str(refused.value), refused.value  # names it and where
    path = tmp_path / "respelled.json"
    path.write_text(document, encoding="utf-8")
    report = verify_certificate(str(path), _view(ledger))
    assert not report.ok and report.checks[0].name == "format", report.to_json()
    assert REFUSED in report.checks[0].detail, report.checks[0].detail
    done = run_cli(ledger, "verify", str(path), "--json")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    first = json.loads(done.stdout)["checks"][0]
    assert first["name"] == "format" and REFUSED in first["detail"], first


@pytest.mark.parametrize(("field", "certified_text", "spelling"), HONEST, ids=[c[2] for c in HONEST])
def test_the_library_and_ledger_verify_accept_another_spelling_of_the_same_value(
    ledger: Ledger,
    certified: tuple[str, dict[str, Any]],
    tmp_path: Path,
    field: str,
    certified_text: str,
    spelling: str,
) -> None:
    path = tmp_path / "honest.json"
    path.write_text(_respell(certified[0], field, spelling), encoding="utf-8")
    report = verify_certificate(str(path), _view(ledger))
    assert report.ok, report.to_json()
    done = run_cli(ledger, "verify", str(path), "--json")
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])


def test_the_gateways_public_verify_refuses_a_respelled_number_and_verifies_the_honest_spellings(
    ledger: Ledger, certified: tuple[str, dict[str, Any]]
) -> None:
    client = make_client(ledger, Clock())
    for document in _documents(certified, RESPELLED):
        answer = client.post("/public/verify", content=b'{"document": ' + document.encode() + b"}", headers=_JSON)
        assert answer.status_code == 422 and REFUSED in answer.text, (answer.status_code, answer.text[:600])
    for document in [certified[0], *_documents(certified, HONEST)]:
        answer = client.post("/public/verify", content=b'{"document": ' + document.encode() + b"}", headers=_JSON)
        assert answer.status_code == 200 and answer.json()["verified"] is True, answer.text[:600]


def test_both_bundle_verifiers_refuse_a_respelled_number_and_accept_the_honest_spellings(
    ledger: Ledger, certified: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    bad = _bundle_texts(certified, RESPELLED)
    good = [json.dumps(certified[1]), *_bundle_texts(certified, HONEST)]
    paths = []
    for i, text in enumerate([*bad, *good]):
        paths.append(tmp_path / f"bundle-{i}.json")
        paths[-1].write_text(text, encoding="utf-8")
    answers = standalone_many(ledger, paths)
    for path, (code, result, stderr) in zip(paths[: len(bad)], answers, strict=False):
        report = evidence.verify_bundle(path, ledger.chain)
        assert not report.ok and {c.name for c in report.failed} == {"bundle"}, report.to_json()
        assert REFUSED in str(report.to_json()), report.to_json()
        assert code == 2 and result is None and REFUSED in stderr, (code, stderr)  # as for a key named twice
    for path, (code, result, stderr) in zip(paths[len(bad) :], answers[len(bad) :], strict=True):
        report = evidence.verify_bundle(path, ledger.chain)
        assert report.ok, report.to_json()
        assert code == 0 and result is not None and not failed_names(result), (code, result, stderr)


@pytest.mark.parametrize("spelling", ["100000000000000000001.0", "1e-400", "100000000000000000001"])
def test_ledger_issue_refuses_a_record_whose_number_is_not_the_value_it_reads_as(
    ledger: Ledger, tmp_path: Path, spelling: str
) -> None:
    """The certificate would carry the double's canonical digits, not the record's: the record is refused, naming
    its line, before anything is issued."""
    records = make_records(2)
    lines = [json.dumps(records[0]), json.dumps(records[1]).replace('"subject": {', f'"subject": {{"x": {spelling}, ')]
    path = write_jsonl(tmp_path / "records.jsonl", lines)
    with pytest.raises(InputError, match=REFUSED) as refused:
        issuance.issue_file(ledger, path, "MKT", out=io.StringIO())
    assert refused.value.line == 2, refused.value
