"""Red team, round 30: what landed in the session's merges num29, rt29b, rt29a, replay4, decide4 and gw3.

Finding 1 (num29): a number whose exponent has 19 or more digits (``1e-9999999999999999999``: 23 characters) reads
as the double 0.0 (``float`` underflows), and the new exactness check then built ``Decimal(token)``, which raises
``decimal.InvalidOperation`` for an exponent beyond ±999999999999999999 - an ArithmeticError, not the ValueError or
InputError every reader's callers catch. A holder (or anyone posting to the gateway) got a traceback out of the
court's verifier (exit 1, "Traceback", no verdict), a 500 out of the gateway's public verification, and an
uncaught exception out of ``strict_json_loads``, ``evidence.verify_bundle`` (documented never to raise) and
``ledger issue``. Such a number is now judged like any other: a nonzero one is refused as not exactly its value,
naming it; a zero (every digit 0: the text denotes exactly 0) reads as 0, as ``0e-5`` does - in every reader alike.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats.canonical import exact_json_loads, strict_json_loads
from ledger.services import evidence, issuance

from .api_support import Clock, make_client
from .conftest import make_records, write_jsonl
from .evidence_support import SCRIPT_MODULE, bare

REFUSED = "not exactly representable"
# a nonzero number with an exponent past Decimal's range: the double 0.0 (or -0.0), not its value
HUGE_EXPONENTS = ["1e-9999999999999999999", "-1E-99999999999999999999", "2.5e-0000000000000000000000000001234"]
# zero with such an exponent: exactly zero, read as 0.0 by every reader
ZEROS = ["0e-9999999999999999999", "0.000e+99999999999999999999", "-0E-99999999999999999999"]


def _court_loads(text: str) -> Any:
    v = SCRIPT_MODULE
    return json.loads(
        text,
        object_pairs_hook=v.unique_keys,
        parse_constant=v.not_json,
        parse_float=v.exact_float,
        parse_int=v.exact_int,
    )


@pytest.mark.parametrize("number", HUGE_EXPONENTS)
def test_every_reader_refuses_a_nonzero_number_with_an_exponent_past_decimals_range(number: str) -> None:
    text = '{"subject": {"x": ' + number + "}}"
    with pytest.raises(InputError, match=REFUSED) as refused:
        strict_json_loads(text)
    assert number[:24] in str(refused.value) and '"x"' in str(refused.value), refused.value
    with pytest.raises(InputError, match=REFUSED):
        exact_json_loads(text.encode())
    with pytest.raises(SCRIPT_MODULE.InexactNumber):
        _court_loads(text)


@pytest.mark.parametrize("number", ZEROS)
def test_every_reader_reads_a_zero_with_an_exponent_past_decimals_range_as_zero(number: str) -> None:
    text = f"[{number}]"
    values = [strict_json_loads(text), exact_json_loads(text), _court_loads(text)]
    assert all(v == [0.0] and type(v[0]) is float for v in values), values


def test_the_gateway_answers_422_not_500(ledger: Ledger) -> None:
    client = make_client(ledger, Clock())
    for number in HUGE_EXPONENTS:
        body = b'{"document": {"a": ' + number.encode() + b"}}"
        answer = client.post("/public/verify", content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 422 and REFUSED in answer.text, (answer.status_code, answer.text[:600])


def test_the_court_verifier_and_verify_bundle_refuse_it_without_a_traceback(ledger: Ledger, tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_text('{"format": "pl-evidence/1", "kind": "certificate", "x": ' + HUGE_EXPONENTS[0] + "}")
    code, result, stderr = bare(ledger, path)
    assert code == 2 and result is None and REFUSED in stderr and "Traceback" not in stderr, (code, stderr)
    report = evidence.verify_bundle(path, ledger.chain)
    assert not report.ok and REFUSED in str(report.to_json()), report.to_json()


def test_ledger_issue_refuses_the_record_naming_its_line(ledger: Ledger, tmp_path: Path) -> None:
    records = make_records(2)
    spelled = json.dumps(records[1]).replace('"subject": {', f'"subject": {{"x": {HUGE_EXPONENTS[0]}, ')
    path = write_jsonl(tmp_path / "records.jsonl", [json.dumps(records[0]), spelled])
    with pytest.raises(InputError, match=REFUSED) as refused:
        issuance.issue_file(ledger, path, "MKT", out=io.StringIO())
    assert refused.value.line == 2, refused.value
