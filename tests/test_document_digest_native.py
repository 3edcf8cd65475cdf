"""The native certificate digest (``_hashcore.document_digest``, ``CertificateDocument.digest``'s fast path) against
the reference (``CertificateDocument._digest`` with the native core switched off): the same digest, or the same
error, on honest and hostile documents; the native call alone gives that digest or declines (None)."""

from __future__ import annotations

import collections
import gc
import sys
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.formats import canonical
from ledger.formats.canonical import CERT_FORMAT, CERT_PREFIX, CERT_TAG, FIELD_PREFIX, NATIVE, SALT_BYTES
from ledger.formats.certificate import CertificateDocument

needs_native = pytest.mark.skipif(
    getattr(NATIVE, "document_digest", None) is None, reason="the native core is not built here"
)


def _outcome(compute: Any) -> Any:
    try:
        return ("ok", compute())
    except Exception as exc:  # noqa: BLE001 - the error itself is what is compared
        return (type(exc).__name__, str(exc))


def _reference(doc: CertificateDocument) -> Any:
    """The digest in Python alone: every native call of canonical.py switched off."""
    saved = canonical.NATIVE
    canonical.NATIVE = None
    try:
        return _outcome(doc._digest)
    finally:
        canonical.NATIVE = saved


def _native(doc: CertificateDocument, schema: bytes) -> Any:
    assert NATIVE is not None
    return _outcome(
        lambda: NATIVE.document_digest(
            doc.fields, doc.salts, doc.hidden, SALT_BYTES, FIELD_PREFIX, CERT_PREFIX, doc.fmt, CERT_TAG, schema
        )
    )


def _both(doc: CertificateDocument) -> Any:
    """The public digest (native first) is the reference's, error included; the native call alone, handed the
    type's schema, gives the same digest or declines. Returns what the native call gave."""
    reference = _reference(doc)
    assert _outcome(doc.digest) == reference
    native = None
    if getattr(NATIVE, "document_digest", None) is not None:
        schema = canonical.plain_type_schema(doc.fields.get("type") if isinstance(doc.fields, dict) else None)
        native = _native(doc, schema if schema is not None else canonical.type_schema("permit"))
        if schema is not None and doc.fmt == CERT_FORMAT:
            assert native == ("ok", None) or native == reference, (native, reference)
    return native


def _document(**changes: Any) -> CertificateDocument:
    fields: dict[str, Any] = {
        "id": "X-1",
        "type": "business-licence",
        "issuer": "CITY-HALL",
        "issued_at": "2026-01-01T00:00:00Z",
        "valid_from": "2026-01-01",
        "valid_until": "2031-12-31",
        "subject.name": 'Zhang "Wei" \\ 1',
    }
    salts = {name: bytes([i + 1]) * SALT_BYTES for i, name in enumerate(fields)}
    hidden = {"subject.address": b"\xab" * 32, "subject.born": b"\xcd" * 32}
    parts: dict[str, Any] = {"fields": fields, "salts": salts, "hidden": hidden, "anchor": {}, "fmt": CERT_FORMAT}
    parts.update(changes)
    return CertificateDocument(**parts)


def test_the_fast_path_is_taken_for_an_issued_shape_and_gives_the_known_digest() -> None:
    """A known answer (worked out by the reference when this was written): a change to either path's hashing (the
    field hashes, the hidden hashes' place in the fields digest, the type's layer) changes it."""
    doc = _document()
    assert _reference(doc) == ("ok", bytes.fromhex("b193dda2b584c4045e68674afae55905a3ebfdb829a4ea494213843af2bf59f5"))
    assert doc.digest() == bytes.fromhex("b193dda2b584c4045e68674afae55905a3ebfdb829a4ea494213843af2bf59f5")
    if getattr(NATIVE, "document_digest", None) is not None:
        assert _native(doc, canonical.type_schema("business-licence")) == (
            "ok",
            bytes.fromhex("b193dda2b584c4045e68674afae55905a3ebfdb829a4ea494213843af2bf59f5"),
        )


class _Str(str):
    pass


class _Dict(dict):  # type: ignore[type-arg]
    pass


_SALTS = _document().salts

_VALUES: list[Any] = [
    "",
    "plain",
    '"quoted" \\',
    "line\nbreak",
    "\x00\x7f",
    "caf\u00e9 \u4e2d\u6587",
    "\U0001f600",
    "\ud800 lone",
    "x" * 10_000,
    _Str("subclass"),
    0,
    -1,
    2**53,
    10**30,
    1.5,
    float("nan"),
    True,
    None,
    [],
    {"b": 1, "a": ["x", None]},
    b"bytes",
    object(),
]


@pytest.mark.parametrize("value", _VALUES, ids=lambda v: repr(v)[:40])
@pytest.mark.parametrize("name", ["subject.v", "caf\u00e9", "\ud800", 'q"\\', "", "%s", "\x00", "valid_from"])
def test_every_field_name_and_value_gets_the_reference_digest(name: str, value: Any) -> None:
    doc = _document()
    doc.fields[name] = value
    doc.salts[name] = b"\x09" * SALT_BYTES
    _both(doc)


@pytest.mark.parametrize(
    "change",
    [
        {"salts": {**_SALTS, "id": b"\x01" * (SALT_BYTES - 1)}},  # short
        {"salts": {**_SALTS, "id": b"\x01" * 64}},  # long
        {"salts": {k: v for k, v in _SALTS.items() if k != "id"}},  # missing
        {"salts": {**_SALTS, "id": bytearray(b"\x01" * SALT_BYTES)}},  # not bytes
        {"salts": {**_SALTS, "id": "01" * SALT_BYTES}},  # text
        {"salts": {**_SALTS, "extra": b"\x01" * SALT_BYTES}},  # a salt of no field
        {"salts": {**_SALTS, _Str("extra"): b"\x01" * SALT_BYTES}},
        {"salts": {**_SALTS, 7: b"\x01" * SALT_BYTES}},
        {"salts": _Dict(_SALTS)},
        {"salts": collections.OrderedDict(_SALTS)},
        {"hidden": {}},
        {"hidden": {"id": b"\x02" * 32}},  # both disclosed and hidden: the update's order decides
        {"hidden": {"type": b"\x02" * 32}},
        {"hidden": {"subject.x": b""}},
        {"hidden": {"subject.x": b"\x03" * 33}},
        {"hidden": {"subject.x": bytearray(b"\x03" * 32)}},
        {"hidden": {"subject.x": "03" * 32}},
        {"hidden": {"caf\u00e9": b"\x03" * 32}},
        {"hidden": {'q"\\%': b"\x03" * 32}},
        {"hidden": {_Str("subject.x"): b"\x03" * 32}},
        {"hidden": {3: b"\x03" * 32}},
        {"hidden": _Dict({"subject.x": b"\x03" * 32})},
        {"fmt": "pl-cert/1"},
        {"fmt": _Str(CERT_FORMAT)},
        {"fmt": "caf\u00e9"},
    ],
    ids=repr,
)
def test_salts_hidden_hashes_and_formats_of_every_kind_get_the_reference_digest(change: dict[str, Any]) -> None:
    _both(_document(**change))


@pytest.mark.parametrize(
    "certificate_type",
    [
        "business-licence",
        "permit",
        "Business-Licence",  # no type name: keccak of the text, by the reference
        "-x",
        "a" * 65,
        "caf\u00e9",
        "\ud800",
        _Str("permit"),
        "",
        7,
        None,
        ["permit"],
    ],
    ids=repr,
)
def test_every_stated_type_gets_the_reference_digest(certificate_type: Any) -> None:
    doc = _document()
    doc.fields["type"] = certificate_type
    _both(doc)
    del doc.fields["type"]
    _both(doc)
    doc.hidden["type"] = b"\x05" * 32  # the type hidden: no digest (pl-cert/2 commits to it)
    _both(doc)


def test_fields_of_another_mapping_kind_get_the_reference_digest() -> None:
    doc = _document()
    _both(_document(fields=_Dict(doc.fields)))
    _both(_document(fields=collections.OrderedDict(doc.fields)))


@needs_native
def test_the_native_call_declines_what_it_does_not_build_and_refuses_a_wrong_call() -> None:
    assert NATIVE is not None
    doc = _document()
    schema = canonical.type_schema("business-licence")
    args = [doc.fields, doc.salts, doc.hidden, SALT_BYTES, FIELD_PREFIX, CERT_PREFIX, CERT_FORMAT, CERT_TAG, schema]
    assert NATIVE.document_digest(*args) == doc._digest()
    for at, other in [
        (8, schema[:31]),
        (8, bytearray(schema)),
        (8, None),
        (7, bytearray(CERT_TAG)),
        (6, 7),
        (5, "pl-cert\x00"),
        (4, memoryview(FIELD_PREFIX)),
        (2, None),
        (1, list(doc.salts.items())),
        (0, _Dict(doc.fields)),
    ]:
        assert NATIVE.document_digest(*args[:at], other, *args[at + 1 :]) is None, at
    with pytest.raises(TypeError):
        NATIVE.document_digest(*args[:8])
    with pytest.raises(TypeError):
        NATIVE.document_digest(*args[:3], "16", *args[4:])


_names = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=10) | st.text(max_size=6)
_values = st.none() | st.booleans() | st.integers() | st.text(max_size=30) | st.lists(st.integers(), max_size=3)


@settings(max_examples=400, deadline=None)
@given(
    fields=st.dictionaries(_names, _values, max_size=10),
    hidden=st.dictionaries(_names, st.binary(min_size=0, max_size=40), max_size=4),
    salt_size=st.sampled_from([15, 16, 32]),
    certificate_type=st.sampled_from(["business-licence", "permit", "Permit", None]),
)
def test_generated_documents_get_the_reference_digest(
    fields: dict[str, Any], hidden: dict[str, bytes], salt_size: int, certificate_type: Any
) -> None:
    if certificate_type is not None:
        fields["type"] = certificate_type
    salts = {name: bytes([i % 256]) * salt_size for i, name in enumerate(fields)}
    _both(_document(fields=fields, salts=salts, hidden=hidden))


@needs_native
def test_the_native_digest_neither_leaks_nor_frees_what_it_was_given() -> None:
    assert NATIVE is not None
    doc = _document()
    declined = _document(hidden={"id": b"\x02" * 32})
    listed = ["a", "list"]
    odd = _document()
    odd.fields["subject.list"] = listed
    odd.salts["subject.list"] = b"\x07" * SALT_BYTES
    schema = canonical.type_schema("business-licence")
    kept = [doc.fields["subject.name"], doc.salts["id"], doc.hidden["subject.born"], listed, schema]
    before = [sys.getrefcount(x) for x in kept]

    def rounds() -> None:
        for _ in range(2_000):
            for d in (doc, declined, odd):
                NATIVE.document_digest(
                    d.fields, d.salts, d.hidden, SALT_BYTES, FIELD_PREFIX, CERT_PREFIX, CERT_FORMAT, CERT_TAG, schema
                )

    rounds()
    gc.collect()
    tracemalloc.start()
    first, _ = tracemalloc.get_traced_memory()
    rounds()
    gc.collect()
    second, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert second - first < 64 * 1024
    assert [sys.getrefcount(x) for x in kept] == before
