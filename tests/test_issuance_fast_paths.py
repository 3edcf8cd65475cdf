"""Issue 18, issuance towards 30,000/s: the shortcuts of the issuing loop, each against its adversary.

1. Field hashes and digests are written by a per-layout fast path (``seal_many``, ``canonical.field_hashes``,
   ``canonical._canonical_digest_body``). Adversary: a record or a document hostile in its shape (unicode escapes,
   control characters, lone surrogates, deep nesting, long numbers, floats, names with ``%``, non-ASCII and
   astral names): it must get the digest the reference path (RFC 8785 by the ``rfc8785`` package, one SHA-256 per
   field as docs/format.md writes it) gives, or the same error.
2. The issuing pass does not check again a slice of lines whose digest is the one the validation pass found valid.
   Adversary: an applicant (or a process beside the CLI) changing the file between the passes (a line edited,
   inserted, removed, an id repeated): the slice is checked again in full, with the same result or the same error
   as without the shortcut.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ledger.client import Ledger
from ledger.errors import InputError, LedgerError
from ledger.formats import canonical
from ledger.formats.canonical import CERT_FORMAT, CERT_PREFIX, FIELD_PREFIX, SALT_BYTES
from ledger.formats.certificate import record_fields, seal_fields, seal_many, validate_record
from ledger.services import _issue_worker, issuance
from ledger.storage.store import Certificate

from .conftest import make_records, write_jsonl
from .evidence_support import SCRIPT_MODULE as COURT

# -- 1. the digest, against the reference ---------------------------------------------------------------------


def _written(value: Any) -> bytes:
    """RFC 8785 by the rfc8785 package, refused (InputError) where its digits are no double (2**60 written
    ``1152921504606847000``), which the court's verifier refuses to read (docs/format.md, Numbers; round 52o)."""
    text = rfc8785.dumps(value)
    try:
        json.loads(text, parse_float=COURT.exact_float, parse_int=COURT.exact_int)
    except COURT.InexactNumber:
        raise InputError("RFC 8785 writes a number of it in digits no double is") from None
    return text


def _reference_fields_digest(fields: dict[str, Any], salts: dict[str, bytes]) -> bytes:
    """docs/format.md, literally: RFC 8785 by the rfc8785 package, one SHA-256 per field."""
    hashes = {
        name: hashlib.sha256(FIELD_PREFIX + salts[name] + name.encode("utf-8") + b"\x00" + _written(value)).hexdigest()
        for name, value in fields.items()
    }
    return hashlib.sha256(CERT_PREFIX + rfc8785.dumps({"fields": hashes, "format": CERT_FORMAT})).digest()


def _reference_digest(fields: dict[str, Any], salts: dict[str, bytes]) -> bytes:
    """The same, with the type's layer (pl-cert/2): SHA-256("pl-cert/2" 0x00 || keccak256(type) || fields digest)."""
    schema = bytes(keccak(text=fields["type"]))
    return hashlib.sha256(b"pl-cert/2\x00" + schema + _reference_fields_digest(fields, salts)).digest()


def _outcome(compute: Any) -> Any:
    try:
        return compute()
    except InputError as exc:
        return ("InputError", str(exc))
    except (rfc8785.CanonicalizationError, TypeError, ValueError, UnicodeEncodeError) as exc:
        return ("refused", type(exc).__name__)


_HOSTILE_STRINGS = [
    "plain",
    "",
    "50% off %s %d %%",
    "line\nbreak",
    "\x00\x01\x1f",
    "\u2028\u2029",
    "caf\u00e9 \u4e2d\u6587",
    "\U0001f600 astral",
    "\ud800 lone surrogate",
    '"quoted" \\ back',
    "\x7f\x85\xa0",
]
_HOSTILE_VALUES: list[Any] = [
    *_HOSTILE_STRINGS,
    0,
    -1,
    2**53 - 1,
    2**53,
    -(2**53),
    10**30,
    1.5,
    -0.0,
    1e300,
    float("nan"),
    True,
    None,
    [],
    {},
    {"b": 1, "a": [1, "x", None, {"\u00e9": 2}]},
    {"\U0001f600": 1, "\uffff": 2},
    {"k": "\u2028"},
]


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for i in range(depth):
        value = {"n": value, "i": i} if i % 2 else [value]
    return value


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


@pytest.mark.parametrize("value", [*_HOSTILE_VALUES, _nested(200), _nested(900)], ids=repr)
def test_hostile_values_get_the_reference_digest_or_its_error(value: Any) -> None:
    fields = {"id": "X-1", "type": "permit", "issuer": "D", "issued_at": "2026-01-01T00:00:00Z", "subject.v": value}
    randomness = bytes(range(SALT_BYTES * len(fields)))
    salts = {n: randomness[i * SALT_BYTES : (i + 1) * SALT_BYTES] for i, n in enumerate(fields)}
    reference = _outcome(lambda: _reference_digest(fields, salts))
    fast = _outcome(lambda: seal_many([fields], randomness)[0])
    one = _outcome(lambda: seal_fields(fields, randomness).digest)
    if _depth(value) > canonical.MAX_JSON_DEPTH:  # RFC 8785 hashes it; the ledger takes no value deeper than the
        # texts it parses may be (red team round 26: the recursive encoders' C stack), the same on both paths
        assert isinstance(fast, tuple) and fast[0] == "InputError" and "levels deep" in fast[1], fast
        assert fast == one
    elif isinstance(reference, bytes):
        assert fast == reference and one == reference
    else:  # the reference refuses it: so does the ledger, with its own words, the same on both paths
        assert isinstance(fast, tuple) and fast[0] == "InputError", fast
        assert fast == one


@pytest.mark.parametrize(
    "names",
    [
        ["id", "type", "subject.a"],
        ["a%s", "b%%", "%"],  # the digest's template is a %-format: a name with % must not format
        ["Zeta", "alpha", "_", "A0"],
        ["caf\u00e9", "cafe"],  # non-ASCII: the general path
        ["\U0001f600", "\uffff", "z"],  # astral vs BMP: RFC 8785 orders by UTF-16 units, Python by code point
        ["tab\there", "ok"],
        ["", "x"],
        ['q"uote', "back\\slash"],
    ],
    ids=repr,
)
def test_document_field_names_of_any_shape_get_the_reference_digest(names: list[str]) -> None:
    """What verification computes for a holder's document: field_hashes + certificate_digest, twice (the second
    time from the remembered name parts and template), against the reference."""
    fields = {n: f"value of {n}" for n in names}
    fields.setdefault("type", "birth-certificate")  # the digest commits to it
    salts = {n: hashlib.sha256(n.encode()).digest()[:SALT_BYTES] for n in fields}
    reference = _reference_digest(fields, salts)
    for _ in range(2):
        assert canonical.certificate_digest(canonical.field_hashes(fields, salts), fields["type"]) == reference
        randomness = b"".join(salts.values())
        assert seal_many([fields], randomness) == [reference]
    reordered = dict(reversed(list(fields.items())))  # another layout of the same names: the same digest
    assert canonical.certificate_digest(canonical.field_hashes(reordered, salts), fields["type"]) == reference


def test_hostile_documents_do_not_grow_the_remembered_layouts_without_bound() -> None:
    """A verifier handed many documents of fresh, long field names: the memos stay bounded and the digests stay
    the reference's for documents beyond the bounds."""
    for i in range(1500):
        names = [f"n{i}_{j}_" + "x" * (200 if i % 2 else 10) for j in range(3)]
        fields = {n: "v" for n in names}
        salts = {n: b"s" * SALT_BYTES for n in names}
        digest = canonical.fields_digest(canonical.field_hashes(fields, salts))
        if i % 300 == 0 or i > 1490:
            assert digest == _reference_fields_digest(fields, salts)
    assert len(canonical._NAME_PARTS) <= canonical._NAME_PARTS_MAX
    assert all(len(n) <= canonical._NAME_MAX_CHARS for n in canonical._NAME_PARTS)
    assert len(canonical._DIGEST_TEMPLATES) <= canonical._DIGEST_TEMPLATES_MAX
    assert all(sum(map(len, k)) <= canonical._LAYOUT_MAX_CHARS for k in canonical._DIGEST_TEMPLATES)
    big = {f"f{j}": "v" for j in range(2000)}  # one layout beyond the character bound: not remembered
    salts = {n: b"s" * SALT_BYTES for n in big}
    before = len(canonical._DIGEST_TEMPLATES)
    assert canonical.fields_digest(canonical.field_hashes(big, salts)) == _reference_fields_digest(big, salts)
    assert len(canonical._DIGEST_TEMPLATES) == before


def test_a_lone_surrogate_name_is_refused_the_same_way_on_every_path() -> None:
    fields = {"ok": "x", "bad\ud800": "y"}
    salts = {n: b"s" * SALT_BYTES for n in fields}
    with pytest.raises(InputError, match="not valid Unicode") as direct:
        canonical.field_hashes(fields, salts)
    with pytest.raises(InputError) as many:
        seal_many([fields], b"s" * SALT_BYTES * 2)
    assert str(many.value) == str(direct.value)
    with pytest.raises(InputError, match="at least 16"):
        canonical.field_hashes({"a": "x"}, {"a": b"short"})
    with pytest.raises(InputError, match="not enough random"):
        seal_many([fields], b"s" * SALT_BYTES)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=st.dictionaries(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True), _json_values, max_size=6),
    seed=st.integers(0, 2**32),
)
def test_generated_records_get_the_reference_digest(subject: dict[str, Any], seed: int) -> None:
    """Records of generated subjects, sealed as issuance seals a batch (several layouts in one call)."""
    rng = random.Random(seed)
    batch = [
        {"id": f"G-{i}", "type": "permit", "issuer": "D", "issued_at": "2026-01-01T00:00:00Z", **sub}
        for i, sub in enumerate([{f"subject.{k}": v for k, v in subject.items()}, {"subject.x": "y"}] * 2)
    ]
    randomness = rng.randbytes(SALT_BYTES * sum(len(f) for f in batch))
    offsets = [0]
    for f in batch:
        offsets.append(offsets[-1] + SALT_BYTES * len(f))
    expected = []
    for f, start in zip(batch, offsets, strict=False):
        salts = {n: randomness[start + i * SALT_BYTES : start + (i + 1) * SALT_BYTES] for i, n in enumerate(f)}
        expected.append(_outcome(lambda f=f, salts=salts: _reference_digest(f, salts)))
    got = _outcome(lambda: seal_many(batch, randomness))
    if all(isinstance(e, bytes) for e in expected):
        assert got == expected
    else:
        assert isinstance(got, tuple) and got[0] == "InputError", got


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=st.dictionaries(
        st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True), _json_values, min_size=1, max_size=6
    ),
    optional=st.fixed_dictionaries(
        {},
        optional={
            "valid_from": st.sampled_from(["2026-01-01", "2026-01-01T08:00:00+08:00", None]),
            "valid_until": st.sampled_from(["2031-12-31", "2031-12-31T23:59:59Z", None]),
            "attachments": st.just([{"name": "a.pdf", "sha256": "ab" * 32}]),
            "issuer": st.just("D"),
        },
    ),
)
def test_a_validated_record_gets_the_reference_fields_in_the_reference_order(
    subject: dict[str, Any], optional: dict[str, Any]
) -> None:
    """The issuing pass's field map of a record the validation pass accepted (``_checked_fields``) is
    ``record_fields(validate_record(...))``, names in the same order (salts and sealed body follow that order)."""
    raw = {"id": "G-1", "type": "permit", "subject": subject, **optional}
    try:
        record = validate_record(raw, 1, department="D")
    except InputError:
        return  # refused by the validation pass: never reaches the issuing pass's shortcut
    reference = record_fields(record, "D", "2026-01-01T00:00:00Z")
    got = _issue_worker._checked_fields(raw, "D", "2026-01-01T00:00:00Z")
    assert list(got.items()) == list(reference.items())


def test_a_batch_built_by_unsigned_matches_the_reference_from_its_packed_salts() -> None:
    """What a worker hands the writer: digests, packed salts (salts_of) and the sealed-body plaintexts agree with
    the reference digest of the same fields and salts."""
    records = [validate_record(r, i + 1, department="D") for i, r in enumerate(make_records(50))]
    records.append(
        validate_record(
            {"id": "odd", "type": "permit", "subject": {"n": [1, {"z": '"\u00e9\\', "a": 2.5}], "m": "50%"}}, 99
        )
    )
    built = _issue_worker._built_for_writer(records, "D", "2026-01-01T00:00:00Z", True)
    for i, record in enumerate(records):
        fields = record_fields(record, "D", "2026-01-01T00:00:00Z")
        salts = _issue_worker.salts_of(built, i)
        assert built.fields[i] == fields and list(salts) == list(fields)
        assert built.digests[i] == _reference_digest(fields, salts)
        assert _issue_worker.read_body(built.bodies[i]) == (fields, salts)  # type: ignore[index]
    in_process = _issue_worker._unsigned(records, "D", "2026-01-01T00:00:00Z")  # build_batch's: salts by name
    assert in_process.packed_salts is None and len(in_process.salts) == len(records)
    for fields, salts, digest in zip(in_process.fields, in_process.salts, in_process.digests, strict=True):
        assert list(salts) == list(fields) and digest == _reference_digest(fields, salts)


# -- 2. the issuing pass's slices, against a file changed between the passes ------------------------------------


def _lines(records: list[Any]) -> list[bytes]:
    return [((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n").encode() for r in records]


def _build(lines: list[bytes], valid_slice: tuple[bytes, bool] | None, first: int = 11) -> Any:
    try:
        built = _issue_worker._build_lines_in_worker(
            first, lines, "D", "2026-01-01T00:00:00Z", 65536, True, valid_slice
        )
    except InputError as exc:
        return ("InputError", str(exc))
    return built.fields


def _edits(records: list[dict[str, Any]]) -> dict[str, list[bytes]]:
    lines = _lines(records)
    bad_type = _lines([{**records[3], "type": "Not A Type"}])[0]
    return {
        "a line edited to an invalid record": [*lines[:3], bad_type, *lines[4:]],
        "a valid line edited (another name)": [
            *lines[:3],
            _lines([{**records[3], "subject": {"n": "x"}}])[0],
            *lines[4:],
        ],
        "a line inserted": [*lines[:5], _lines([make_records(1, prefix="INS")[0]])[0], *lines[5:]],
        "a line removed": [*lines[:5], *lines[6:]],
        "an id repeated": [*lines[:6], _lines([{**records[6], "id": records[1]["id"]}])[0], *lines[7:]],
        "a blank line inserted": [*lines[:2], b"\n", *lines[2:]],
        "malformed JSON": [*lines[:2], b'{"id": \n', *lines[3:]],
        "a duplicate key": [*lines[:2], lines[2].replace(b'"subject": {', b'"subject": {"name": "F", ', 1), *lines[3:]],
        "an invalid date": [*lines[:2], lines[2].replace(b"2031-12-31", b"2031-02-30"), *lines[3:]],
    }


@pytest.mark.parametrize("edit", list(_edits(make_records(10))), ids=str)
def test_a_slice_changed_after_validation_is_checked_again_in_full(edit: str) -> None:
    records = make_records(10)
    original = _lines(records)
    valid = _issue_worker._check_lines(11, original, "D", 65536)
    assert not valid.errors and valid.fatal is None and valid.first_line == 11
    changed = _edits(records)[edit]
    # with the validation pass's digest of the original slice, the changed slice gets what it gets without it
    assert _build(changed, (valid.slice_digest, valid.orjson_values)) == _build(changed, None)
    # and the same slice at another place in the file is not the slice that was validated
    assert _issue_worker._slice_digest(12, original, "D", 65536) != valid.slice_digest
    assert _issue_worker._slice_digest(11, original, "E", 65536) != valid.slice_digest
    assert _issue_worker._slice_digest(11, original, "D", 65535) != valid.slice_digest


def test_an_unchanged_slice_skips_the_second_check_and_gets_the_same_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shortcut is taken (no validate_record call) only for the very bytes validated, and yields the records
    validate_record gives: dates with and without time zones, attachments, absent optional members."""
    records: list[Any] = make_records(6)
    records[1] = {**records[1], "valid_from": "2026-01-01T08:00:00+08:00", "valid_until": "2026-01-01T00:00:01Z"}
    records[2] = {**records[2], "attachments": [{"name": "a.pdf", "sha256": "ab" * 32, "media_type": "x/y"}]}
    records[3] = {k: v for k, v in records[3].items() if k not in ("valid_from", "valid_until")}
    records[4] = {**records[4], "issuer": "D"}
    lines = _lines(records)
    lines.insert(3, b"   \n")
    valid = _issue_worker._check_lines(11, lines, "D", 65536)
    assert not valid.errors
    slow = _build(lines, None)
    calls: list[int] = []
    real = _issue_worker.validate_record
    monkeypatch.setattr(_issue_worker, "validate_record", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert valid.orjson_values
    fast = _build(lines, (valid.slice_digest, True))
    assert not calls, "the validated slice was checked again"
    assert fast == slow
    # in the same order too: the salts are drawn and the sealed body written in the order of the names
    assert [list(fields.items()) for fields in fast] == [list(fields.items()) for fields in slow]
    parsed = [json.loads(line) for line in lines if line.strip()]
    issued_at = "2026-01-01T00:00:00Z"
    for line_no, raw in zip((11, 12, 13, 15, 16, 17), parsed, strict=True):
        reference = record_fields(real(raw, line_no, department="D"), "D", issued_at)
        assert list(_issue_worker._checked_fields(raw, "D", issued_at).items()) == list(reference.items())
    _build(lines, (hashlib.sha256(b"something else").digest(), True))
    assert len(calls) == len(parsed)  # another digest: every record checked again


@pytest.mark.parametrize(
    "line",
    [
        # values json reads and orjson's parse alone is not trusted for: an escape that spells a colon, a number of
        # 19 digits and more, a duplicate key made invisible by an escape
        '{"id":"E-1","type":"permit","subject":{"n\\u0061me":"x:y","n":"\\u00e9"}}',
        '{"id":"E-2","type":"permit","subject":{"big":123456789012345678901234567890,"f":1.0000000000000000001}}',
        '{"id":"E-3","type":"permit","subject":{"n":"x","\\u006e":"y"}}',
    ],
    ids=["escaped-colon", "long-number", "escaped-duplicate"],
)
def test_a_validated_slice_with_lines_json_must_read_gets_json_values(line: str) -> None:
    """A slice the validation pass found valid in which some line took json's path: the issuing pass parses it as
    strict_json_loads does (not orjson alone), so the records are the same as with the full check, or the line
    is refused as before."""
    lines = [*_lines(make_records(3)), (line + "\n").encode()]
    valid = _issue_worker._check_lines(11, lines, "D", 65536)
    assert not valid.orjson_values
    full = _build(lines, None)
    if valid.errors or valid.fatal is not None:  # refused by the validation pass: never noted as valid
        assert isinstance(full, tuple) and full[0] == "InputError"
        return
    fast = _build(lines, (valid.slice_digest, valid.orjson_values))
    assert fast == full
    if isinstance(full, list):
        assert [list(fields.items()) for fields in fast] == [list(fields.items()) for fields in full]
    if isinstance(full, list):  # else refused when sealed (an integer beyond ±2**53): the same error both ways
        assert full[-1] == record_fields(validate_record(json.loads(line), 14), "D", full[-1]["issued_at"])


@pytest.fixture
def parallel(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    monkeypatch.setattr(ledger, "settings", ledger.settings.with_(issue_workers=2))
    return ledger


def test_the_validation_pass_notes_the_digest_of_every_slice_the_issuing_pass_reads(
    parallel: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    records: list[Any] = list(make_records(23))
    records.insert(9, "")
    path = write_jsonl(tmp_path / "slices.jsonl", records)
    noted: dict[int, bytes] = {}
    with issuance._BuildPool.start(1) as pool:
        assert issuance.validate_file(parallel, path, fresh_department, pool=pool, block=7, valid_slices=noted) == 23
    blocks = list(issuance._line_blocks(path, 7, tail=False))
    assert len(blocks) == 4
    for first, lines in blocks:
        assert noted[first] == (_issue_worker._slice_digest(first, lines, fresh_department, 65536), True)


@pytest.mark.parametrize("edit", ["invalid type", "repeated id", "inserted line", "removed line"])
def test_a_file_changed_between_the_passes_is_caught_as_without_the_shortcut(
    parallel: Ledger, fresh_department: str, tmp_path: Path, edit: str
) -> None:
    """End to end with worker processes: after the first batch is anchored, a later slice of the file changes.
    The changed slice is checked again: its batch is refused with the line (or the repeated id), nothing of it
    is stored, and no certificate id is issued twice."""
    # the edits are far beyond what the issuing pass has read when they happen: the first batch is confirmed once
    # the second group of batches is stored (issuance.GROUP_BATCHES), with the workers' slices read ahead of it
    records = make_records(600)
    path = write_jsonl(tmp_path / "changing.jsonl", records)
    changed: list[bool] = []

    def change(_done: int, _total: int) -> None:
        if changed:
            return
        lines = path.read_bytes().splitlines(keepends=True)
        if edit == "invalid type":  # same length: every other byte stays where it was
            lines[589] = lines[589].replace(b'"business-licence"', b'"Business-licence"')
        elif edit == "repeated id":
            lines[589] = lines[589].replace(records[589]["id"].encode(), records[0]["id"].encode())
        elif edit == "inserted line":
            lines.insert(589, b'{"id": "late", "type": "Bad Type", "subject": {"n": "x"}}\n')
        else:
            del lines[589]
        path.write_bytes(b"".join(lines))
        changed.append(True)

    raised: BaseException | None = None
    try:
        issuance.issue_file(parallel, path, fresh_department, batch_size=25, progress=change)
    except LedgerError as exc:
        raised = exc
    assert changed
    with parallel.engine.connect() as conn:
        ids = list(
            conn.execute(
                select(Certificate.certificate_id).where(Certificate.department_id == fresh_department)
            ).scalars()
        )
    assert len(ids) == len(set(ids)), "one certificate id issued twice"
    if edit == "removed line":  # every remaining record is valid and issued once; the removed one is not
        assert raised is None and len(ids) == 599 and records[589]["id"] not in ids
        return
    assert isinstance(raised, InputError), raised
    if edit == "repeated id":
        assert records[0]["id"] in str(raised)
    else:
        assert "line 590" in str(raised), raised
        assert "type" in str(raised)
    assert len(ids) < 600


# -- 3. what a worker hands back without holders' documents: the rows' columns, not the field maps ---------------


def test_rows_from_a_worker_without_documents_hold_what_the_certificate_says(
    parallel: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Without ``out`` the workers send each row's columns instead of the field maps: the stored rows, the sealed
    bodies and the exported documents are those of the records (and verify), valid_until absent or present."""
    from ledger.services.verify import ChainView, verify_many

    records: list[Any] = make_records(30)
    records[4] = {k: v for k, v in records[4].items() if k != "valid_until"}
    records[9] = {**records[9], "valid_until": "2030-06-30T12:00:00+02:00"}
    path = write_jsonl(tmp_path / "rows.jsonl", records)
    result = issuance.issue_file(parallel, path, fresh_department, batch_size=7)
    assert result.count == 30
    with parallel.engine.connect() as conn:
        rows = {
            r[0]: r[1:]
            for r in conn.execute(
                select(
                    Certificate.certificate_id, Certificate.cert_type, Certificate.issued_at, Certificate.valid_until
                ).where(Certificate.department_id == fresh_department)
            )
        }
    docs = [issuance.export_document(parallel, r["id"], fresh_department) for r in records]
    for record, doc in zip(records, docs, strict=True):
        fields = doc["fields"]
        assert fields["id"] == record["id"] and fields["subject.name"] == record["subject"]["name"]
        assert fields.get("valid_until") == record.get("valid_until")
        assert rows[record["id"]] == (fields["type"], fields["issued_at"], fields.get("valid_until"))
    assert all(r.ok for r in verify_many(docs, ChainView(parallel.chain, 0)))


def test_a_sealed_body_is_the_encoders_bytes_of_its_fields_and_salts(
    parallel: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """The sealed-body plaintext is copied out of orjson's buffer at once (issue 18: the encoder's bytes keep ~4 KB
    each): the bytes sealed and stored, from the workers and from the writer alone, are exactly orjson's (json's
    when orjson refuses) of the certificate's fields and packed salts, and its digest is the reference one."""
    import base64

    import orjson

    records: list[Any] = make_records(12)
    subjects: list[Any] = [
        # text a certificate may state (a line separator or a control character is refused: red team round 71)
        {"name": "caf\u00e9 \u4e2d\u6587 \U0001f600", "n": [1, {"z": '"\u00e9\\', "a": 2.5}]},
        {"name": 'quoted "twice" \\ back / \u00a0\u3000', "big": 2**53 - 1, "neg": -0.0},
        {"name": "x" * 3000, "nested": _nested(20)},  # a body longer than orjson's first buffer
    ]
    for i, subject in enumerate(subjects):
        records[i] = {**records[i], "subject": subject}
    path = write_jsonl(tmp_path / "bodies.jsonl", records)
    assert issuance.issue_file(parallel, path, fresh_department, batch_size=5).count == len(records)
    alone = [{**r, "id": f"{r['id']}-alone"} for r in records]
    one = parallel.settings.with_(issue_workers=0)
    parallel.settings, workers_settings = one, parallel.settings
    try:
        issuance.issue_file(parallel, write_jsonl(tmp_path / "alone.jsonl", alone), fresh_department, batch_size=5)
    finally:
        parallel.settings = workers_settings
    with parallel.engine.connect() as conn:
        rows = {
            r[0]: r[1:]
            for r in conn.execute(
                select(Certificate.certificate_id, Certificate.digest, Certificate.issued_at, Certificate.sealed).where(
                    Certificate.department_id == fresh_department
                )
            )
        }
    assert len(rows) == 2 * len(records)
    for raw in [*records, *alone]:
        digest, issued_at, sealed = rows[raw["id"]]
        digest_bytes = bytes.fromhex(digest[2:])
        plaintext = parallel.vault.open(bytes(sealed), digest_bytes)
        fields = record_fields(validate_record(raw, 1, department=fresh_department), fresh_department, issued_at)
        _, salts = _issue_worker.read_body(plaintext)
        packed = b"".join(salts.values())
        expected = orjson.dumps({"fields": fields, "s": base64.b64encode(packed).decode()})
        assert plaintext == expected
        assert _issue_worker._body_packed(fields, packed) == expected
        assert type(_issue_worker._body_packed(fields, packed)) is bytes
        assert digest_bytes == _reference_digest(fields, salts)
