"""Ledger integrity against a hostile department or holder: documents that mean two things.

* A JSON object that names a key twice: Python's json and orjson keep the last value, a person or another parser
  may read the first. Every parser of what comes from outside refuses it, naming the key: certificate documents,
  presentations, evidence bundles (both verifiers), input records (JSONL, CSV headers), decision inputs and the
  gateway's request bodies. (Rule sets: ``test_rules.py::test_duplicate_yaml_keys_are_refused``,
  ``::test_duplicate_json_keys_are_refused``.)

Each attack puts the forged value first, so a last-wins parser sees the genuine document and, before the fix,
everything verified. Real anvil, real contracts, real gateway; nothing is mocked."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ledger.cli import main as cli_main
from ledger.cli.decisions import _read_jsonl
from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats.certificate import iter_raw_records, load_document, validate_record
from ledger.services import evidence, issuance
from ledger.services.issuance import issue_records
from ledger.services.verify import ChainView, verify_certificate

from .api_support import Clock, assert_problem, bearer, login, make_client, register
from .conftest import make_records, write_jsonl
from .evidence_support import failed_names, standalone


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


def test_certificate_with_a_duplicate_field_is_refused(
    ledger: Ledger, docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    path = tmp_path / "cert.json"
    path.write_text(forged_first(docs[0], "fields", "subject.name", "Somebody Else"))
    report = verify_certificate(str(path), ChainView(ledger.chain))
    assert not report.ok
    assert not report.check("format").ok and "duplicate key 'subject.name'" in report.check("format").detail
    with pytest.raises(InputError, match=r"duplicate key 'subject\.name'"):
        load_document(path)


def test_cli_verify_refuses_a_duplicate_key(
    ledger: Ledger, docs: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cert.json"
    path.write_text(forged_first(docs[0], "", "format", "pl-cert/0"))
    code = cli_main(["--data-dir", str(ledger.settings.data_dir), "verify", str(path)])
    captured = capsys.readouterr()
    assert code != 0
    assert "duplicate key 'format'" in captured.out + captured.err


def test_presentation_with_a_duplicate_key_is_refused(
    ledger: Ledger, docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    presentation = load_document(docs[1]).present(["subject.name"]).to_json()
    path = tmp_path / "presentation.json"
    path.write_text(forged_first(presentation, "anchor", "root", "0x" + "00" * 32))
    report = verify_certificate(str(path), ChainView(ledger.chain))
    assert not report.ok and "duplicate key 'root'" in report.check("format").detail


def test_evidence_bundle_with_a_duplicate_key_is_refused_by_both_verifiers(
    ledger: Ledger, docs: list[dict[str, Any]], tmp_path: Path
) -> None:
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
    with pytest.raises(InputError, match=r"duplicate column 'subject\.name'"):
        list(iter_raw_records(path))


def test_decision_input_with_a_duplicate_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "applications.jsonl"
    path.write_text('{"case_id": "A-1", "income": 100, "income": 99999}\n')
    with open(path, "rb") as handle, pytest.raises(InputError, match="duplicate key 'income'"):
        list(_read_jsonl(handle, path))


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
    answer = client.post(
        "/certificates", content=records, headers={"Content-Type": "application/json", **bearer(token)}
    )
    assert "duplicate key 'name'" in assert_problem(answer, 422)["detail"]


# -- validity instants -----------------------------------------------------------------------------------------


def record(valid_from: str | None, valid_until: str | None) -> dict[str, Any]:
    raw = make_records(1)[0]
    raw.pop("valid_from"), raw.pop("valid_until")
    return {
        **raw,
        **({"valid_from": valid_from} if valid_from else {}),
        **({"valid_until": valid_until} if valid_until else {}),
    }


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-03-01T00:30:00Z", "2026-03-01T07:00:00+08:00"),  # ends 2026-02-28T23:00Z, before it starts
        ("2026-03-01", "2026-03-01T07:00:00+08:00"),  # a date starts at 00:00:00 UTC; the end is 23:00Z the day before
        ("2026-03-02T01:00:00+14:00", "2026-03-01T10:00:00-10:00"),  # 03-01T11:00Z to 03-01T20:00Z: valid
    ],
)
def test_validity_window_is_compared_as_instants(start: str, end: str) -> None:
    start_t = datetime.fromisoformat(start.replace("Z", "+00:00"))
    start_t = start_t if start_t.tzinfo else start_t.replace(tzinfo=UTC)
    end_t = datetime.fromisoformat(end.replace("Z", "+00:00"))
    if end_t < start_t:
        with pytest.raises(InputError, match="before valid_from"):
            validate_record(record(start, end), 1)
    else:
        assert validate_record(record(start, end), 1).valid_until == end


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-03-01T07:00:00+08:00", "2026-02-28T23:30:00Z"),  # starts 2026-02-28T23:00Z: half an hour of validity
        ("2026-03-01", "2026-02-28T20:00:00-05:00"),  # ends 2026-03-01T01:00Z, after 00:00:00 UTC of its start day
        ("2026-03-01", "2026-03-01"),  # one whole day
    ],
)
def test_validity_window_valid_across_time_zones_is_accepted(start: str, end: str) -> None:
    parsed = validate_record(record(start, end), 1)
    assert (parsed.valid_from, parsed.valid_until) == (start, end)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-03-01T10:00:00", "without a time zone"),
        ("2026-03-01 10:00:00Z", "not a date"),
        ("2026-03-01T10:00:00+0800", "not a date"),
        ("2026-03-01T10:00Z", "not a date"),
        ("20260301", "not a date"),
        ("2026-02-30", "not a date"),
        ("٢٠٢٦-03-01", "not a date"),  # Arabic-Indic digits: \d would match them
    ],
)
def test_ambiguous_or_malformed_validity_is_refused(value: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        validate_record(record(value, None), 1)
    with pytest.raises(InputError, match=message):
        validate_record(record(None, value), 1)


def test_all_three_verifiers_judge_validity_at_the_same_instants(ledger: Ledger, tmp_path: Path) -> None:
    """Validity written with offsets that cross midnight, and a naive date-time (issued around the input check,
    as a hostile issuer could): the library, the library's bundle check and the standalone verifier agree."""
    now = datetime.now(UTC).replace(microsecond=0)
    plus8, minus10 = timezone(timedelta(hours=8)), timezone(timedelta(hours=-10))
    cases = {  # name: (valid_from, valid_until, verdict)
        "expired": ("2026-01-01", "2026-03-01T07:00:00+08:00", False),  # ended 2026-02-28T23:00Z
        "ended-a-minute-ago": (None, (now - timedelta(minutes=1)).astimezone(plus8).isoformat(), False),
        "current": (
            (now - timedelta(hours=1)).astimezone(minus10).isoformat(),
            (now + timedelta(hours=1)).astimezone(plus8).isoformat(),
            True,
        ),
        "not-yet": ((now + timedelta(hours=1)).astimezone(plus8).isoformat(), "2099-12-31", False),
        "naive": ("2026-01-01", "2099-01-01T00:00:00", False),
    }
    base = validate_record(make_records(1, prefix="VAL")[0], 1, department="MKT")
    records = [
        dataclasses.replace(base, certificate_id=f"VAL-{name}", valid_from=start, valid_until=end)
        for name, (start, end, _) in cases.items()
    ]
    out = io.StringIO()
    issue_records(ledger, records, "MKT", out=out)
    issued = [json.loads(line) for line in out.getvalue().splitlines()]
    for (name, (_, _, verdict)), doc in zip(cases.items(), issued, strict=True):
        check = verify_certificate(doc, ChainView(ledger.chain)).check("validity")
        assert check.ok == verdict, (name, check)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(evidence.certificate_bundle(ledger, doc)))
        library = evidence.verify_bundle(path, ledger.chain)
        assert library.check("validity").ok == verdict, (name, library.to_json())
        _code, result, stderr = standalone(ledger, path)
        assert result is not None, stderr
        assert ("validity" not in failed_names(result)) == verdict, (name, result)
        assert failed_names(result) == {c.name for c in library.failed}, (name, result, library.to_json())
    assert "time zone" in verify_certificate(issued[-1], ChainView(ledger.chain)).check("validity").detail


# -- hex -------------------------------------------------------------------------------------------------------


def _hexes(value: Any, change: Any) -> Any:
    """``value`` with ``change(text)`` applied to every hex string of 32 or more digits (0x-prefixed or not)."""
    if isinstance(value, dict):
        return {k: _hexes(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [_hexes(v, change) for v in value]
    if isinstance(value, str):
        digits = value.removeprefix("0x")
        if len(digits) >= 32 and all(c in "0123456789abcdefABCDEF" for c in digits) and not digits.isdigit():
            return change(value)
    return value


def _upper(text: str) -> str:
    return "0x" + text[2:].upper() if text.startswith("0x") else text.upper()


def test_hex_in_either_case_verifies_alike_everywhere(
    ledger: Ledger, docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    """docs/format.md: hex digits are read in either case (addresses come EIP-55 checksummed) and compared as
    bytes; both bundle verifiers and the certificate verifier agree."""
    upper_doc = _hexes(docs[0], _upper)
    assert upper_doc != docs[0]
    assert verify_certificate(upper_doc, ChainView(ledger.chain)).ok
    path = tmp_path / "upper.json"
    path.write_text(json.dumps(_hexes(evidence.certificate_bundle(ledger, docs[0]), _upper)))
    report = evidence.verify_bundle(path, ledger.chain)
    assert report.ok, report.to_json()
    code, result, stderr = standalone(ledger, path)
    assert code == 0 and result is not None and not failed_names(result), (result, stderr)


@pytest.mark.parametrize("where", ["salt", "digest", "proof"])
def test_hex_with_whitespace_is_refused_by_every_verifier(
    ledger: Ledger, docs: list[dict[str, Any]], tmp_path: Path, where: str
) -> None:
    """Python's bytes.fromhex skips spaces ("ab cd" is two bytes), other parsers refuse them: a hex value with
    whitespace is malformed for every verifier, not a shorter value."""
    bundle = evidence.certificate_bundle(ledger, docs[0])
    doc = json.loads(json.dumps(docs[0]))
    if where == "salt":
        name = next(iter(bundle["certificate"]["salts"]))
        bundle["certificate"]["salts"][name] = bundle["certificate"]["salts"][name][:30] + "  "
        doc["salts"][name] = doc["salts"][name][:30] + "  "
    elif where == "digest":
        bundle["certificate"]["digest"] = bundle["certificate"]["digest"][:64] + "  "
        doc["digest"] = doc["digest"][:64] + "  "
    else:
        bundle["anchor"]["proof"][0] = bundle["anchor"]["proof"][0][:64] + " \t"
        doc["anchor"]["proof"][0] = doc["anchor"]["proof"][0][:64] + " \t"
    report = verify_certificate(doc, ChainView(ledger.chain))
    assert not report.ok and report.failed[0].name in ("format", "merkle_proof"), report.to_json()
    assert "hex" in report.failed[0].detail, report.to_json()
    path = tmp_path / "spaced.json"
    path.write_text(json.dumps(bundle))
    library = evidence.verify_bundle(path, ledger.chain)
    assert [c.name for c in library.failed] == ["bundle"], library.to_json()
    code, result, stderr = standalone(ledger, path)
    assert code == 1 and result is not None, stderr
    assert failed_names(result) == {"bundle"}, result


def test_nan_and_infinity_are_not_json_for_any_reader(
    ledger: Ledger, docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Python's json reads the tokens NaN and Infinity, which are not JSON (RFC 8259) and which other parsers
    refuse: every reader of outside documents refuses them at parse time, naming the token."""
    text = json.dumps(docs[0]).replace('"fields": {', '"fields": {"subject.score": NaN, ', 1)
    path = tmp_path / "nan.json"
    path.write_text(text)
    report = verify_certificate(str(path), ChainView(ledger.chain))
    assert not report.check("format").ok and "NaN" in report.check("format").detail, report.to_json()
    bundle = json.dumps(evidence.certificate_bundle(ledger, docs[0]))
    path.write_text(bundle.replace('"fields": {', '"fields": {"subject.score": -Infinity, ', 1))
    library = evidence.verify_bundle(path, ledger.chain)
    assert [c.name for c in library.failed] == ["bundle"] and "-Infinity" in library.check("bundle").detail
    code, result, stderr = standalone(ledger, path)
    assert code == 2 and result is None and "-Infinity" in stderr, stderr
    records = tmp_path / "in.jsonl"
    records.write_text('{"id": "N-1", "type": "permit", "subject": {"score": Infinity}}\n')
    with pytest.raises(InputError, match=r"line 1: .*Infinity"):
        list(iter_raw_records(records))


def test_hidden_when_empty_is_read_as_documented(ledger: Ledger, docs: list[dict[str, Any]], tmp_path: Path) -> None:
    """docs/format.md §9 and docs/evidence.md: a document leaves `hidden` out when empty and readers take `{}`
    alike; a bundle always carries it, and both bundle verifiers refuse a bundle without it."""
    assert "hidden" not in docs[0]
    assert verify_certificate({**docs[0], "hidden": {}}, ChainView(ledger.chain)).ok
    bundle = evidence.certificate_bundle(ledger, docs[0])
    assert bundle["certificate"]["hidden"] == {}
    del bundle["certificate"]["hidden"]
    path = tmp_path / "no-hidden.json"
    path.write_text(json.dumps(bundle))
    library = evidence.verify_bundle(path, ledger.chain)
    assert [c.name for c in library.failed] == ["bundle"], library.to_json()
    code, result, stderr = standalone(ledger, path)
    assert code == 1 and result is not None and failed_names(result) == {"bundle"}, (result, stderr)


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "a": 2}',
        '{"a": 1, "\\u0061": 2}',  # the same key spelled with an escape
        '{"a:b": ":", "x": {"k": 1, "k": 2}}',  # colons inside strings must not hide the nested duplicate
        '[{"n": ":"}, {"n": 1, "n": 2}]',
        '{"\\u003a": 1, "a": 1, "a": 2}',  # an escaped colon in a key
    ],
)
def test_duplicate_keys_are_refused_however_the_text_hides_them(text: str) -> None:
    """strict_json_loads parses with orjson (which keeps the last duplicate) only when the text's ':' count proves
    there is none: every spelling that would slip a duplicate past that count falls back to json and is refused."""
    from ledger.formats.canonical import strict_json_loads

    for form in (text, text.encode()):
        with pytest.raises(InputError, match="duplicate key"):
            strict_json_loads(form)


def test_strict_parse_gives_json_values_for_colons_escapes_and_long_numbers() -> None:
    from ledger.formats.canonical import strict_json_loads

    for text in (
        '{"t": "2026-01-01T10:00:00Z", "u": "\\u003a", "n": 1180591620717411303424, "f": 1.5e3}',  # 2**70
        '{"a": {"b": [1, {"c": ":"}]}, "\\u0061\\u003a": null}',
        '":"',
        "12345678901234567168",  # a double exactly: read as that double, equal to json's integer
    ):
        assert strict_json_loads(text) == json.loads(text)
        assert strict_json_loads(text.encode()) == json.loads(text)
    # a long integer that no double is states digits canonical JSON cannot hash: refused (docs/format.md, Numbers)
    for text in ('{"n": 123456789012345678901234}', "12345678901234567890"):
        for form in (text, text.encode()):
            with pytest.raises(InputError, match="not exactly representable"):
                strict_json_loads(form)
