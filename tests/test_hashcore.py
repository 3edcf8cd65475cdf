"""The native fast path of the field hashes and digests (``ledger/formats/_hashcore.c``) against the Python reference.

Adversary: a holder (or an applicant) handing the verifier a document shaped to make the native code and the
Python code disagree (a digest that verifies on one machine and not on another), or to make it crash or leak:
names and values of every kind (non-ASCII, astral, lone surrogates, quotes and backslashes, control characters,
``%``), non-JSON values, short, missing and non-bytes salts, mapping and string subclasses, huge values, a
``canonical_json`` that raises or mutates the input. Every answer - a hash, a digest, or the error - must be the
one the pure-Python code gives.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import gc
import hashlib
import os
import random
import shutil
import sys
import tracemalloc
import types
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import InputError, LedgerError
from ledger.formats import canonical, certificate, decision_input, merkle
from ledger.formats.canonical import CERT_FORMAT, CERT_PREFIX, FIELD_PREFIX, SALT_BYTES

NATIVE = canonical.NATIVE
needs_native = pytest.mark.skipif(NATIVE is None, reason="the native core is not built here")


def test_the_native_core_is_built_wherever_it_can_be() -> None:
    """Where a C compiler and OpenSSL's headers are (CI: scripts/setup.sh installs them), setup.py builds it: the
    rest of the suite then runs through it, and a build that silently failed would be noticed here."""
    if shutil.which("cc") is None or not Path("/usr/include/openssl/sha.h").exists():
        pytest.skip("no C compiler or no OpenSSL headers: the pure-Python code runs alone")
    assert NATIVE is not None


def _outcome(compute: Any) -> Any:
    try:
        return ("ok", compute())
    except Exception as exc:  # noqa: BLE001 - the error itself is what is compared
        return (type(exc).__name__, str(exc))


def _python_field_hashes(fields: Any, salts: Any) -> Any:
    return _outcome(lambda: canonical._field_hashes_py(fields, salts))


def _python_digest(prefix: bytes, hashes: Any, fmt: Any) -> Any:
    return _outcome(lambda: canonical._sha256(prefix + canonical._canonical_digest_body(hashes, fmt)).digest())


def _both_field_hashes(fields: Any, salts: Any) -> None:
    """The public function (native first) gives what Python gives, error included; the native call alone gives
    that or None."""
    reference = _python_field_hashes(fields, salts)
    assert _outcome(lambda: canonical.field_hashes(fields, salts)) == reference
    if NATIVE is not None:
        native = _outcome(
            lambda: NATIVE.field_hashes(fields, salts, FIELD_PREFIX, SALT_BYTES, canonical.canonical_json)
        )
        assert native == ("ok", None) or native == reference
        if reference[0] == "ok" and native[1] is not None:
            assert list(native[1]) == list(reference[1])  # the same order of names


def _both_digests(prefix: bytes, hashes: Any, fmt: Any) -> None:
    reference = _python_digest(prefix, hashes, fmt)
    assert _outcome(lambda: canonical.tagged_digest(prefix, hashes, fmt)) == reference
    if NATIVE is not None:
        native = _outcome(lambda: NATIVE.tagged_digest(prefix, hashes, fmt))
        assert native == ("ok", None) or native == reference


def _seal_both(all_fields: list[dict[str, Any]], randomness: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _outcome(lambda: certificate.seal_many(all_fields, randomness))
    with monkeypatch.context() as patch:
        patch.setattr(certificate, "NATIVE", None)
        reference = _outcome(lambda: certificate.seal_many(all_fields, randomness))
    assert fast == reference
    one = _outcome(lambda: [certificate.seal_fields(f, randomness).digest for f in all_fields[:1]])
    if reference[0] == "ok" and len(all_fields) == 1:
        assert one == reference


_STRINGS = [
    "",
    "plain",
    '"quoted" and \\ back\\slash\\',
    '"',
    "\\",
    "50% off %s %d %%",
    "line\nbreak\ttab\r",
    "\x00\x01\x1f\x7f",
    "a\x7fb",
    "\x85\xa0\xad",
    "\u2028\u2029",
    "caf\u00e9 \u4e2d\u6587",
    "\U0001f600 astral \U0010ffff",
    "\ud800 lone",
    "\udfff",
    "\ufeff bom",
    "x" * 100_000,
    '\\"' * 5_000,
]


class _Str(str):
    pass


class _Dict(dict):  # type: ignore[type-arg]
    pass


_VALUES: list[Any] = [
    *_STRINGS,
    _Str("subclass"),
    0,
    -1,
    2**53,
    10**30,
    1.5,
    -0.0,
    float("nan"),
    float("inf"),
    True,
    None,
    [],
    {},
    {"b": 1, "a": ["x", None]},
    {1: "non-string key"},
    b"bytes",
    {"set"},
    object(),
]


@pytest.mark.parametrize("value", _VALUES, ids=lambda v: repr(v)[:40])
@pytest.mark.parametrize("name", ["subject.v", "caf\u00e9", "\U0001f600", "\ud800", 'q"\\', "", "%s", "\x00"])
def test_every_name_and_value_gets_the_reference_answer(name: str, value: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fields = {"id": "X-1", "type": "permit", name: value}
    salts = {n: bytes([i]) * SALT_BYTES for i, n in enumerate(fields)}
    _both_field_hashes(fields, salts)
    randomness = bytes(range(SALT_BYTES * len(fields)))
    _seal_both([fields], randomness, monkeypatch)
    hashes = {n: bytes([i]) * 32 for i, n in enumerate(fields)}
    _both_digests(CERT_PREFIX, hashes, CERT_FORMAT)


@pytest.mark.parametrize(
    "salts",
    [
        {"a": b"\x01" * 15, "b": b"\x02" * 16},  # too short
        {"a": b"\x01" * 16},  # one missing
        {"a": bytearray(b"\x01" * 16), "b": b"\x02" * 16},  # not bytes
        {"a": memoryview(b"\x01" * 16), "b": b"\x02" * 16},
        {"a": "0" * 32, "b": b"\x02" * 16},  # text, not bytes
        {"a": b"\x01" * 100, "b": b""},  # long, and empty
        _Dict(a=b"\x01" * 16, b=b"\x02" * 16),
        collections.OrderedDict(a=b"\x01" * 16, b=b"\x02" * 16),
    ],
    ids=repr,
)
def test_salts_of_every_kind_get_the_reference_answer(salts: Any) -> None:
    _both_field_hashes({"a": "x", "b": ["y"]}, salts)
    _both_field_hashes(_Dict(a="x", b=["y"]), salts)


@pytest.mark.parametrize(
    "hashes",
    [
        {},
        {"a": b""},
        {"a": b"\x00" * 33, "b": bytes(range(256)) * 3},  # any length: hex of whatever is there
        {"b": b"\x01" * 32, "a": b"\x02" * 32, "A": b"\x03" * 32, "_": b"\x04" * 32, "a0": b"\x05" * 32},
        {"caf\u00e9": b"\x01" * 32},
        {"\U0001f600": b"\x01" * 32, "\uffff": b"\x02" * 32},
        {'q"': b"\x01" * 32, "b\\": b"\x02" * 32, "%": b"\x03" * 32},
        {"a": bytearray(b"\x01" * 32)},
        {"a": "not bytes"},
        {_Str("a"): b"\x01" * 32},
        {1: b"\x01" * 32},
        _Dict(a=b"\x01" * 32),
    ],
    ids=repr,
)
@pytest.mark.parametrize("fmt", [CERT_FORMAT, "pl-input/1", "caf\u00e9", "", 'q"\\%', "\x00", _Str(CERT_FORMAT)])
def test_digests_of_every_layout_get_the_reference_answer(hashes: Any, fmt: Any) -> None:
    _both_digests(CERT_PREFIX, hashes, fmt)
    _both_digests(b"", hashes, fmt)


_names = st.text(min_size=0, max_size=12)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fields=st.dictionaries(_names, _json | st.text(), max_size=12),
    salt_size=st.sampled_from([0, 15, 16, 17, 32]),
)
def test_generated_certificates_get_the_reference_answer(
    fields: dict[str, Any], salt_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    salts = {n: bytes([i % 256]) * salt_size for i, n in enumerate(fields)}
    _both_field_hashes(fields, salts)
    hashes = {n: bytes([i % 256]) * 32 for i, n in enumerate(fields)}
    _both_digests(CERT_PREFIX, hashes, CERT_FORMAT)
    randomness = bytes(i % 251 for i in range(SALT_BYTES * len(fields)))
    _seal_both([fields, fields], randomness + randomness, monkeypatch)


def test_sealing_many_certificates_mixed_plain_and_not_matches_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = {"id": "X-1", "type": "permit", "subject.name": 'A "B" \\ C'}
    odd = {"id": "X-2", "caf\u00e9": "non-ASCII name: the Python path", "subject.list": [1, 2]}
    broken = {"id": "X-3", "subject.bad": "\ud800"}  # the canonical form refuses a lone surrogate
    randomness = os.urandom(SALT_BYTES * 9)
    _seal_both([plain, odd, plain], randomness, monkeypatch)
    _seal_both([plain, broken, odd], randomness, monkeypatch)
    assert _outcome(lambda: certificate.seal_many([plain, odd], randomness[:40]))[0] == "InputError"  # short


def _refusing_writer(_value: Any) -> bytes:
    """A canonical writer that refuses every value (as canonical_json refuses a NaN)."""
    raise InputError("refused")


def _text_writer(_value: Any) -> Any:
    """A canonical writer that returns text, not bytes."""
    return "not bytes"


@needs_native
def test_a_hostile_canonical_writer_cannot_crash_it() -> None:
    """canonical_json is Python code running between the native steps: one that raises, returns text, or empties
    the mappings it was handed must leave a clean fallback (None) or the Python loop's own error, never a crash or
    a half-built answer."""
    assert NATIVE is not None
    fields: dict[str, Any] = {"a": [1], "b": [2], "c": "x"}
    salts: dict[str, bytes] = {n: b"\x01" * 16 for n in fields}

    def vandal(value: Any) -> bytes:
        fields.clear()
        salts.clear()
        gc.collect()
        return canonical.canonical_json(value)

    assert NATIVE.field_hashes(fields, salts, FIELD_PREFIX, 16, _refusing_writer) is None
    assert NATIVE.field_hashes(fields, salts, FIELD_PREFIX, 16, _text_writer) is None
    assert (
        NATIVE.sealed_digest(fields, b"\x00" * 48, 0, 16, FIELD_PREFIX, CERT_PREFIX, CERT_FORMAT, _refusing_writer)
        is None
    )
    # The native code walks the items as the Python loop does, through the dict's iterator: the vandal's clearing
    # makes it raise the loop's RuntimeError, and the salt already looked up stays alive; with the salts cleared
    # but not the fields (a copy), the next salt is missing: the Python path decides.
    with pytest.raises(RuntimeError, match="changed size during iteration"):
        NATIVE.field_hashes(fields, dict(salts), FIELD_PREFIX, 16, vandal)
    fields.update({"a": [1], "b": [2], "c": "x"})
    salts.update({n: b"\x01" * 16 for n in fields})
    assert NATIVE.field_hashes(dict(fields), salts, FIELD_PREFIX, 16, vandal) is None
    fields.update({"a": [1], "b": [2], "c": "x"})
    with pytest.raises(RuntimeError, match="changed size during iteration"):
        NATIVE.sealed_digest(fields, b"\x00" * 48, 0, 16, FIELD_PREFIX, CERT_PREFIX, CERT_FORMAT, vandal)


@pytest.mark.parametrize(
    "edit",
    [
        lambda fields: fields.__setitem__("b", "edited"),  # a later value replaced: no error, a different hash
        lambda fields: fields.pop("c"),  # a later field removed: RuntimeError
        lambda fields: fields.__setitem__("z", "added"),  # a field added: RuntimeError
        lambda fields: fields.pop("a"),  # the field being written removed
    ],
    ids=["replace", "remove-later", "add", "remove-current"],
)
def test_a_value_that_edits_the_certificate_while_it_is_written_gets_the_reference_answer(
    edit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """canonical_json runs Python code for a value that is not a plain JSON type (rfc8785 copies a dict subclass
    through its keys()): the pure-Python loop reads each field's value from the live mapping when it gets to it,
    and its iterator raises when the mapping changed size. A snapshot of the items taken at the start hashed the
    old value instead, or carried on past a removed field: the same call, two answers."""

    def build() -> dict[str, Any]:
        fields: dict[str, Any] = {}

        class Editing(dict):  # type: ignore[type-arg]
            def __iter__(self) -> Any:
                return super().__iter__()

            def keys(self) -> Any:
                edit(fields)
                return super().keys()

        fields.update({"a": Editing(x=1), "b": "original", "c": [1]})
        return fields

    salts = {n: bytes([i + 1]) * SALT_BYTES for i, n in enumerate("abcz")}
    reference = _python_field_hashes(build(), salts)
    assert _outcome(lambda: canonical.field_hashes(build(), salts)) == reference
    randomness = bytes(range(SALT_BYTES * 3))
    fast = _outcome(lambda: certificate.seal_many([build()], randomness))
    with monkeypatch.context() as patch:
        patch.setattr(certificate, "NATIVE", None)
        assert _outcome(lambda: certificate.seal_many([build()], randomness)) == fast


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_while_a_value_is_written_is_raised_not_swallowed(
    interrupt: type[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or a signal handler's SystemExit) lands wherever Python code runs, most often in canonical_json
    writing a non-string value: the pure-Python code raises it there. The native core must not clear it as one more
    error and fall back (the Python path then writes the value again and answers): the interrupt would be lost and
    a long issuance or verification would carry on as if it had never been asked to stop."""
    real = canonical.canonical_json
    calls: list[Any] = []

    def interrupted(value: Any) -> bytes:
        calls.append(value)
        if len(calls) == 1:
            raise interrupt()
        return real(value)

    monkeypatch.setattr(canonical, "canonical_json", interrupted)
    monkeypatch.setattr(certificate, "canonical_json", interrupted)
    fields = {"id": "X-1", "subject.list": [1, 2], "subject.n": 3}
    salts = {n: b"\x01" * SALT_BYTES for n in fields}
    with pytest.raises(interrupt):
        canonical.field_hashes(fields, salts)
    calls.clear()
    with pytest.raises(interrupt):
        certificate.seal_many([fields], bytes(SALT_BYTES * len(fields)))
    calls.clear()
    with monkeypatch.context() as patch:  # the reference does the same
        patch.setattr(canonical, "NATIVE", None)
        patch.setattr(certificate, "NATIVE", None)
        with pytest.raises(interrupt):
            canonical.field_hashes(fields, salts)
        calls.clear()
        with pytest.raises(interrupt):
            certificate.seal_many([fields], bytes(SALT_BYTES * len(fields)))


@needs_native
@pytest.mark.parametrize(
    ("offset", "salt_bytes", "size"),
    [(-1, 16, 64), (0, 0, 64), (0, -16, 64), (49, 16, 64), (0, 16, 47), (2**62, 16, 64), (0, 2**62, 64)],
)
def test_out_of_range_salt_slices_are_refused_not_read(offset: int, salt_bytes: int, size: int) -> None:
    """sealed_digest reads salts at randomness[offset + i * salt_bytes:]: any slice past the end is None (the caller
    then says the randomness is short), never a read beyond the buffer."""
    assert NATIVE is not None
    fields = {"a": "x", "b": "y", "c": "z"}
    assert (
        NATIVE.sealed_digest(fields, b"\x00" * size, offset, salt_bytes, FIELD_PREFIX, CERT_PREFIX, "f", repr) is None
    )


def _growth(rounds: Any) -> int:
    """Bytes still allocated after a second run of ``rounds`` (the first warms the interpreter's caches)."""
    rounds()
    gc.collect()
    tracemalloc.start()
    first, _ = tracemalloc.get_traced_memory()
    rounds()
    gc.collect()
    second, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return second - first


@needs_native
def test_it_neither_leaks_nor_frees_what_it_was_given() -> None:
    assert NATIVE is not None
    name, value, salt = "subject.name", "value " * 10, b"\x07" * 16
    listed = ["a", "list"]
    fields = {name: value, "subject.list": listed}
    salts = {name: salt, "subject.list": salt}
    before = [sys.getrefcount(x) for x in (name, value, salt, listed)]

    def rounds() -> None:
        for _ in range(2_000):
            NATIVE.field_hashes(fields, salts, FIELD_PREFIX, 16, canonical.canonical_json)
            NATIVE.field_hashes(fields, {name: salt}, FIELD_PREFIX, 16, canonical.canonical_json)  # fallback
            NATIVE.tagged_digest(CERT_PREFIX, {name: salt}, CERT_FORMAT)
            NATIVE.sealed_digest(
                fields, salt * 2, 0, 16, FIELD_PREFIX, CERT_PREFIX, CERT_FORMAT, canonical.canonical_json
            )

    assert _growth(rounds) < 64 * 1024
    assert [sys.getrefcount(x) for x in (name, value, salt, listed)] == before


@needs_native
def test_sealing_bodies_neither_leaks_nor_frees_what_it_was_given() -> None:
    """``seal_bodies`` (the vault's native sealing, tests/test_vault_native.py) on sealed and declined calls."""
    assert NATIVE is not None
    kek, body, digest = b"\x01" * 32, b"body " * 100, b"\x02" * 32
    item = (body, digest)
    items, declined = [item] * 10, [item, (bytearray(body), digest)]
    before = [sys.getrefcount(x) for x in (kek, body, digest, item)]

    def rounds() -> None:
        for _ in range(500):
            NATIVE.seal_bodies(kek, b"PLK1", b"pl-dk", items, b"\x03" * 440)
            NATIVE.seal_bodies(kek, b"PLK1", b"pl-dk", declined, b"\x03" * 88)

    assert _growth(rounds) < 64 * 1024
    assert [sys.getrefcount(x) for x in (kek, body, digest, item)] == before


# -- the Merkle proof walk (merkle.ProofWalks) -------------------------------------------------------------------


def _walk_both(digest: bytes, elements: list[Any], root: bytes, nodes: dict[bytes, Any]) -> Any:
    text = "".join(e if isinstance(e, str) else "" for e in elements)
    reference = _outcome(lambda: merkle._walk(digest, elements, text, root, dict(nodes)))
    if NATIVE is not None:
        native = _outcome(lambda: NATIVE.proof_walk(digest, elements, text, root, dict(nodes)))
        assert native == ("ok", NotImplemented) or native == reference, (native, reference)
    return reference


def _proof_texts(seed: int, size: int) -> tuple[list[bytes], merkle.MerkleTree]:
    rng = random.Random(seed)
    leaves = [rng.randbytes(32) for _ in range(size)]
    return leaves, merkle.MerkleTree(leaves)


_SPELLINGS = [
    lambda e: e.upper(),
    lambda e: "0X" + e[2:],
    lambda e: e[:30] + " " + e[31:],
    lambda e: e[:30] + "\u0660" + e[31:],  # an Arabic-Indic zero: a digit to str.isdigit, not to fromhex
    lambda e: e[:30] + "\uff10" + e[31:],  # a full-width zero
    lambda e: e[:65] + "\U0001f600",
    lambda e: "\u00e9" + e[1:],
    lambda e: e[:2] + "g" + e[3:],
]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 257])
def test_proof_walks_native_and_python_agree_on_every_spelling_and_memo(size: int) -> None:
    leaves, tree = _proof_texts(size, size)
    root = tree.root
    walks = merkle.ProofWalks()
    rng = random.Random(size)
    for i in rng.sample(range(size), min(size, 20)):
        elements = ["0x" + p.hex() for p in tree.proof(i)]
        nodes = dict(walks._nodes)
        assert _walk_both(leaves[i], elements, root, nodes)[0] == "ok"
        assert walks.root(leaves[i], elements, root) == root  # the memo grows as verification grows it
        for at in range(len(elements)):
            for spell in _SPELLINGS:
                edited = [*elements[:at], spell(elements[at]), *elements[at + 1 :]]
                _walk_both(leaves[i], edited, root, dict(walks._nodes))
        _walk_both(leaves[i], elements, b"\x00" * 32, dict(walks._nodes))  # another root: no memo applies
        _walk_both(leaves[i][::-1], elements, root, dict(walks._nodes))  # another digest


def test_proof_walk_memo_entries_of_every_shape_get_the_reference_answer() -> None:
    """The memo is the ledger's own; still, an entry of an unexpected shape must be declined, not misread."""
    leaves, tree = _proof_texts(5, 8)
    elements = ["0x" + p.hex() for p in tree.proof(3)]
    text = "".join(elements)
    first = hashlib.sha256(b"\x00" + leaves[3]).digest()
    for entry in [
        (tree.root, text, 0),
        (tree.root, text, 1),
        (tree.root, "\u00e9" + text[1:], 0),  # a non-ASCII text: the general comparison
        (tree.root, text[:-1] + "\u00e9", 0),
        (tree.root, text[:66], 0),
        (tree.root, text + "x", 0),
        (b"\x00" * 32, text, 0),
        (tree.root, text, 2**70),
        (tree.root, text, -1),
        (tree.root, text, True),
        [tree.root, text, 0],
        (tree.root, text),
        (bytearray(tree.root), text, 0),
        (tree.root, _Str(text), 0),
    ]:
        _walk_both(leaves[3], elements, tree.root, {first: entry})


def test_proof_walk_declines_what_it_does_not_build() -> None:
    assert NATIVE is None or NATIVE.proof_walk(bytearray(32), [], "", b"", {}) is NotImplemented
    assert (
        NATIVE is None or NATIVE.proof_walk(b"", [_Str("0x" + "00" * 32)], "0x" + "00" * 32, b"", {}) is NotImplemented
    )
    assert NATIVE is None or NATIVE.proof_walk(b"", [None], "", b"", {}) is NotImplemented


# -- the certificate document's shape (CertificateDocument.from_json) ----------------------------------------------


def _document() -> dict[str, Any]:
    names = ["id", "type", "issuer", "issued_at", "valid_from", "valid_until", "subject.name"]
    return {
        "format": CERT_FORMAT,
        "fields": {name: f"value of {name}" for name in names},
        "salts": {name: f"{i:02x}" * SALT_BYTES for i, name in enumerate(names)},
        "hidden": {"subject.address": "ab" * 32, "subject.born": "0x" + "CD" * 32},
        "digest": "0x" + "ef" * 32,
        "anchor": {
            "chain_id": 31337,
            "contract": "0x" + "11" * 20,
            "registry": "0x" + "22" * 20,
            "root": "0x" + "33" * 32,
            "department": "CITY-HALL",
            "signer": "0x" + "4A" * 20,
            "signature": "0x" + "55" * 65,
            "count": 10_000,
            "schema": "0x" + "66" * 32,
            "tx_hash": "0x" + "77" * 32,
            "block_number": 0,
            "block_hash": "0x" + "88" * 32,
            "block_time": 1_700_000_000,
            "proof": ["0x" + "99" * 32, "0x" + "aA" * 32],
            "note": "a producer's own member",
        },
    }


def _parts_both(doc: Any) -> None:
    """The public reader (native first) gives what the Python reader gives, error included; the native call alone
    gives the same parts or declines."""
    reference = _outcome(lambda: certificate.CertificateDocument._from_json(doc))
    assert _outcome(lambda: certificate.CertificateDocument.from_json(doc)) == reference
    if NATIVE is not None:
        native = _outcome(lambda: NATIVE.document_parts(doc, CERT_FORMAT, 2 * SALT_BYTES))
        if native != ("ok", None):
            assert reference[0] == "ok", (native, reference)
            fields, salts, hidden, anchor, stated = native[1]
            parsed = reference[1]
            assert fields is parsed.fields and anchor is parsed.anchor
            assert (salts, hidden, stated) == (parsed.salts, parsed.hidden, parsed.stated_digest)
            assert list(salts) == list(parsed.salts) and list(hidden) == list(parsed.hidden)


@needs_native
def test_a_well_formed_document_is_read_natively() -> None:
    """The fast path is taken for the documents the ledger issues (else it would be dead code)."""
    assert NATIVE is not None
    doc = _document()
    assert NATIVE.document_parts(doc, CERT_FORMAT, 2 * SALT_BYTES) is not None
    del doc["hidden"], doc["digest"]
    assert NATIVE.document_parts(doc, CERT_FORMAT, 2 * SALT_BYTES) is not None
    _parts_both(doc)


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def edit(doc: dict[str, Any]) -> None:
        target = doc
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return edit


def _drop(path: tuple[Any, ...]) -> Any:
    def edit(doc: dict[str, Any]) -> None:
        target = doc
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return edit


class _Dict(dict):  # type: ignore[type-arg]
    pass


_HEX64 = "ab" * 32
_SHAPE_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 2**63, 2**64, -(2**63), 1.0, "", "x", "pl-cert/2", _Str("pl-cert/2"),
    "0x" + _HEX64, "0X" + _HEX64, "0x" + _HEX64 + "\n", "0x" + _HEX64[:-1], "0x" + _HEX64 + "a", " 0x" + _HEX64[1:],
    "0x" + _HEX64[:-1] + "g", "0x" + _HEX64[:-1] + "\u0661", _HEX64, _HEX64[:32], _HEX64[:31] + "\u00e9",
    _Str(_HEX64[:32]), "0x" + "11" * 20, "0x" + "55" * 65, "\ud800", "A" * 32, "A" * 33, "A\tB", "A\x7fB", "caf\u00e9",
    [], ["0x" + _HEX64], ("0x" + _HEX64,), ["0x" + _HEX64, 1], {}, _Dict(), {"id": "x"}, b"ab" * 16, bytearray(32),
    2**63 - 1, -(2**63) - 1, 2**64 - 1,
]  # fmt: skip
_SHAPE_PATHS: list[tuple[Any, ...]] = [
    ("format",), ("fields",), ("salts",), ("hidden",), ("digest",), ("anchor",), ("fields", "id"),
    ("fields", "extra"), ("salts", "id"), ("salts", "extra"), ("hidden", "subject.address"), ("hidden", "id"),
    ("hidden", "new"), ("anchor", "chain_id"), ("anchor", "contract"), ("anchor", "registry"), ("anchor", "root"),
    ("anchor", "department"), ("anchor", "signer"), ("anchor", "signature"), ("anchor", "count"),
    ("anchor", "schema"), ("anchor", "schema_"), ("anchor", "tx_hash"), ("anchor", "block_number"),
    ("anchor", "block_hash"), ("anchor", "block_time"), ("anchor", "proof"), ("anchor", "proof", 0),
    ("anchor", "proof", 1), ("anchor", "\u00e9"), ("anchor", "\ud800"), ("anchor", 5), ("other",), (_Str("format"),),
    ("fields", _Str("id")), ("salts", "\u00e9"), ("fields", "\u00e9"), ("fields", 1),
    # members pydantic's model machinery has names of its own for (an extra member is kept aside, never set)
    ("anchor", "model_config"), ("anchor", "__class__"), ("anchor", "__pydantic_extra__"), ("format\x00",),
]  # fmt: skip


@pytest.mark.parametrize("path", _SHAPE_PATHS, ids=repr)
def test_every_member_of_every_kind_gets_the_reference_reading(path: tuple[Any, ...]) -> None:
    for edit in [_drop(path), *(_set(path, value) for value in _SHAPE_VALUES)]:
        doc = _document()
        try:
            edit(doc)
        except (KeyError, IndexError):
            continue
        _parts_both(doc)


def test_documents_of_every_container_kind_get_the_reference_reading() -> None:
    for doc in [None, [], "doc", _Dict(_document()), collections.OrderedDict(_document()), {}, {"format": CERT_FORMAT}]:
        _parts_both(doc)
    doc = _document()
    doc["hidden"] = {}
    _parts_both(doc)
    doc["fields"], doc["salts"] = {}, {}
    _parts_both(doc)
    doc = _document()
    doc["hidden"]["id"] = _HEX64  # disclosed and hidden
    _parts_both(doc)
    doc = _document()
    doc["salts"]["other"] = doc["salts"].pop("id")  # as many salts as fields, one of them for another name
    _parts_both(doc)


@settings(max_examples=400, deadline=None)
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(_SHAPE_PATHS), st.sampled_from(_SHAPE_VALUES), st.booleans()), min_size=1, max_size=4
    )
)
def test_generated_edits_of_a_document_get_the_reference_reading(edits: list[tuple[Any, Any, bool]]) -> None:
    doc = _document()
    for path, value, drop in edits:
        try:
            (_drop(path) if drop else _set(path, value))(doc)
        except (KeyError, IndexError, TypeError):
            continue
    _parts_both(doc)


@needs_native
def test_reading_documents_neither_leaks_nor_frees_what_it_was_given() -> None:
    assert NATIVE is not None
    doc = _document()
    doc["hidden"]["subject.address"] = "".join(["ab"] * 32)  # objects of this test's own (not shared constants)
    doc["digest"] = "0x" + "".join(["ef"] * 32)
    members = [doc["fields"], doc["salts"]["id"], doc["hidden"]["subject.address"], doc["anchor"], doc["digest"]]
    gc.collect()
    before = [sys.getrefcount(x) for x in members]

    def rounds() -> None:
        for _ in range(2_000):
            NATIVE.document_parts(doc, CERT_FORMAT, 2 * SALT_BYTES)
            NATIVE.document_parts({**doc, "extra": 1}, CERT_FORMAT, 2 * SALT_BYTES)  # declined
            NATIVE.document_parts({**doc, "salts": {**doc["salts"], "id": "zz"}}, CERT_FORMAT, 2 * SALT_BYTES)

    assert _growth(rounds) < 64 * 1024
    assert [sys.getrefcount(x) for x in members] == before


@needs_native
def test_a_finalizer_editing_the_document_while_it_is_read_cannot_crash_it() -> None:
    """Red team 17: the reader allocates the salts' and hidden hashes' bytes after its checks, and an allocation may
    run a collection whose finalizers edit the document (not reachable from JSON, but the contract is never to
    crash): salts cleared or replaced by non-strings, hidden hashes added, the whole document emptied, at any of
    the allocations (a collection at every one). The reader declines or gives parts of the checked shape, and
    holds no reference it did not take (run under ASan/UBSan too, as the module docstring says)."""
    assert NATIVE is not None
    rng = random.Random(17)

    class Edit:
        def __init__(self, act: Any) -> None:
            self.act, self.cycle = act, self  # cyclic garbage: only a collection finalizes it

        def __del__(self) -> None:
            try:
                self.act()
            except Exception:  # noqa: BLE001, S110 - an edit that no longer applies
                pass

    threshold = gc.get_threshold()
    gc.set_threshold(1, 1, 1)
    try:
        for _ in range(1_000):
            doc = _document()
            for k in range(30):  # enough members that the reader allocates many times
                doc["fields"][f"f{k}"], doc["salts"][f"f{k}"], doc["hidden"][f"h{k}"] = k, "ab" * SALT_BYTES, _HEX64
            salts, hidden, fields = doc["salts"], doc["hidden"], doc["fields"]
            edits = [
                salts.clear,
                functools.partial(salts.update, {f"x{i}": 5 for i in range(40)}),
                functools.partial(salts.__setitem__, "id", 7),
                functools.partial(salts.update, dict.fromkeys(salts, "zz")),
                hidden.clear,
                functools.partial(hidden.update, {f"y{i}": "q" for i in range(40)}),
                fields.clear,
                doc["anchor"].clear,
                doc.clear,
            ]
            for act in rng.sample(edits, 2):
                Edit(act)
            parts = NATIVE.document_parts(doc, CERT_FORMAT, 2 * SALT_BYTES)
            if parts is not None:
                assert all(isinstance(v, bytes) and len(v) == SALT_BYTES for v in parts[1].values())
                assert all(isinstance(v, bytes) and len(v) == 32 for v in parts[2].values())
    finally:
        gc.set_threshold(*threshold)
        gc.collect()


# -- a decision's salted input hashes (decision_input._salted_hashes) ------------------------------------------------

_SECRETS = [b"", b"k", b"\x00" * 32, bytes(range(64)), bytes(range(65)), os.urandom(200)]


def _both_input_hashes(secret: Any, input_digest: Any, fields: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The public function (native first) gives what the pure-Python reference gives, error included; the native
    call alone gives that or None."""
    reference = _outcome(lambda: decision_input._salted_hashes_py(secret, input_digest, fields))
    assert _outcome(lambda: decision_input._salted_hashes(secret, input_digest, fields)) == reference
    with monkeypatch.context() as patch:
        patch.setattr(decision_input, "_NATIVE_INPUT_HASHES", None)
        assert _outcome(lambda: decision_input._salted_hashes(secret, input_digest, fields)) == reference
    native_call = getattr(NATIVE, "input_hashes", None)
    if native_call is not None and isinstance(input_digest, str) and input_digest.isascii():
        message = b"pl-input-salt\x00" + input_digest.lower().encode("ascii") + b"\x00"
        native = _outcome(
            lambda: native_call(fields, secret, message, SALT_BYTES, FIELD_PREFIX, canonical.canonical_json)
        )
        assert native == ("ok", None) or native == reference
        if reference[0] == "ok" and native[1] is not None:
            assert list(native[1]) == list(reference[1])  # the same order of names
    return reference


def test_the_native_input_hashes_are_built_with_the_core() -> None:
    assert NATIVE is None or decision_input._NATIVE_INPUT_HASHES is not None


def test_salted_input_hashes_match_the_hmac_definition() -> None:
    """The reference itself against the definition written with the standard hmac module (docs/evidence.md)."""
    import hmac

    fields = {"item.a": 1, "b": "x", "c": [1, {"d": None}], "@applicant": "91440300MA5000001"}
    secret, digest = os.urandom(32), "0x" + "Ab" * 32
    expected = {}
    for name, value in fields.items():
        salt = hmac.new(secret, b"pl-input-salt\x00" + digest.lower().encode() + b"\x00" + name.encode(), "sha256")
        expected[name] = hashlib.sha256(
            FIELD_PREFIX + salt.digest()[:SALT_BYTES] + name.encode() + b"\x00" + canonical.canonical_json(value)
        ).digest()
    assert decision_input._salted_hashes(secret, digest, fields) == expected
    assert decision_input._salted_hashes_py(secret, digest, fields) == expected


@pytest.mark.parametrize("secret", _SECRETS, ids=lambda s: f"secret{len(s)}")
@pytest.mark.parametrize("value", _VALUES, ids=lambda v: repr(v)[:40])
@pytest.mark.parametrize("name", ["item.v", "caf\u00e9", "\U0001f600", "\ud800", 'q"\\', "", "%s", "\x00"])
def test_every_input_field_gets_the_reference_answer(
    name: str, value: Any, secret: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = {"case_id": "CASE-1", "item.n": 3, name: value, "@applicant": "applicant-1"}
    _both_input_hashes(secret, "0x" + "AB" * 32, fields, monkeypatch)


_SCALARS: list[Any] = [
    0,
    1,
    -1,
    2**53 - 1,
    -(2**53) + 1,
    2**53,
    -(2**53),
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    10**40,
    True,
    False,
    None,
    1.0,
    collections.Counter,
]


class _Int(int):
    pass


@pytest.mark.parametrize("value", [*_SCALARS, _Int(5), _Int(2**60)], ids=repr)
def test_scalars_at_every_edge_get_the_reference_answer(value: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The native writer of None, booleans and exact ints within I-JSON's range (canonical_json's own fast paths):
    the edges of that range, 64-bit overflow, an int subclass and the booleans (ints to Python) answer as the
    reference does, in the input hashes and in the certificate field hashes alike."""
    _both_input_hashes(b"secret", "0x00", {"a": value}, monkeypatch)
    _both_field_hashes({"a": value}, {"a": b"\x01" * SALT_BYTES})


@pytest.mark.parametrize(
    ("secret", "digest", "fields"),
    [
        (bytearray(b"k"), "0x00", {"a": 1}),  # not bytes: the Python code decides
        (memoryview(b"k"), "0x00", {"a": 1}),
        ("k", "0x00", {"a": 1}),
        (None, "0x00", {"a": 1}),
        (b"k", "0x\u00e9", {"a": 1}),  # a digest that is not ASCII: the reference's own error
        (b"k", None, {"a": 1}),
        (b"k", "0x00", _Dict(a=1, b="x")),
        (b"k", "0x00", collections.OrderedDict(a=1)),
        (b"k", "0x00", {1: "a non-string name"}),
        (b"k", "0x00", {_Str("a"): 1}),
        (b"k", "0x00", {"\ud800": 1}),
        (b"k", "0x00", {}),
    ],
    ids=repr,
)
def test_input_arguments_of_every_kind_get_the_reference_answer(
    secret: Any, digest: Any, fields: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _both_input_hashes(secret, digest, fields, monkeypatch)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fields=st.dictionaries(_names, _json | st.text() | st.integers(), max_size=12),
    secret=st.binary(max_size=130),
    digest=st.text(alphabet="0123456789abcdefABCDEFx", max_size=70),
)
def test_generated_inputs_get_the_reference_answer(
    fields: dict[str, Any], secret: bytes, digest: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _both_input_hashes(secret, digest, fields, monkeypatch)
    _both_input_hashes(secret, digest, decision_input.flatten(fields), monkeypatch)


@needs_native
def test_native_input_hashes_decline_or_raise_as_the_reference_on_hostile_calls() -> None:
    """A salt size it cannot give, a canonical writer that raises, returns text or empties the mapping, and an
    interrupt: None (the reference answers), the Python loop's own RuntimeError, or the interrupt itself."""
    native_call = NATIVE.input_hashes
    message = b"pl-input-salt\x000x00\x00"
    fields: dict[str, Any] = {"a": [1], "b": [2], "c": "x"}
    for size in (0, -1, 33, 2**40):
        assert native_call(fields, b"k", message, size, FIELD_PREFIX, canonical.canonical_json) is None
    assert native_call(fields, b"k", bytearray(message), 16, FIELD_PREFIX, canonical.canonical_json) is None
    assert native_call(fields, b"k", message, 16, bytearray(FIELD_PREFIX), canonical.canonical_json) is None

    def vandal(value: Any) -> bytes:
        fields.clear()
        gc.collect()
        return canonical.canonical_json(value)

    def interrupted(_value: Any) -> bytes:
        raise KeyboardInterrupt

    assert native_call(fields, b"k", message, 16, FIELD_PREFIX, _refusing_writer) is None
    assert native_call(fields, b"k", message, 16, FIELD_PREFIX, _text_writer) is None
    with pytest.raises(KeyboardInterrupt):
        native_call(fields, b"k", message, 16, FIELD_PREFIX, interrupted)
    with pytest.raises(RuntimeError, match="changed size during iteration"):
        native_call(fields, b"k", message, 16, FIELD_PREFIX, vandal)
    with pytest.raises(TypeError):
        native_call(fields, b"k", message, 16, FIELD_PREFIX)


@needs_native
def test_native_input_hashes_neither_leak_nor_free_what_they_were_given() -> None:
    native_call = NATIVE.input_hashes
    name, value, secret = "item.name", "value " * 10, b"\x07" * 32
    listed = ["a", "list"]
    fields = {name: value, "item.list": listed, "item.n": 12345, "item.big": 2**60}
    before = [sys.getrefcount(x) for x in (name, value, secret, listed)]

    def rounds() -> None:
        for _ in range(2_000):
            native_call(fields, secret, b"m", 16, FIELD_PREFIX, canonical.canonical_json)
            native_call({**fields, "\ud800": 1}, secret, b"m", 16, FIELD_PREFIX, canonical.canonical_json)  # declined

    assert _growth(rounds) < 64 * 1024
    assert [sys.getrefcount(x) for x in (name, value, secret, listed)] == before


# -- whether a value's sorted compact JSON is its canonical form (canonical._json_plain) -----------------------------


def _both_plain(value: Any) -> bool:
    reference = canonical._json_plain_py(value)
    assert canonical._json_plain(value) is reference
    native_call = getattr(NATIVE, "json_plain", None)
    if native_call is not None:
        assert native_call(value, canonical._CONTAINERS) is reference
    return reference


def test_the_native_plain_check_is_built_with_the_core() -> None:
    assert NATIVE is None or canonical._NATIVE_JSON_PLAIN is not None


_ANY_JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**53 - 1, 2**53, -(2**53) + 1, -(2**53), 2**63, -(2**63) - 1, 10**30, _Int(1), _Str("s")])
    | st.floats()
    | st.text()
    | st.binary(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner)
        | st.dictionaries(
            st.text(max_size=4) | st.integers(0, 3) | st.sampled_from([_Str("k"), "\x7f", " "]), inner, max_size=4
        )
        | st.builds(_Dict, st.dictionaries(st.text(max_size=3), inner, max_size=3))
    ),
    max_leaves=16,
)


@settings(max_examples=1500, deadline=None)
@given(_ANY_JSONISH)
def test_generated_values_get_the_reference_plain_answer(value: Any) -> None:
    _both_plain(value)
    _both_plain([value, {"k": value}])


@pytest.mark.parametrize("value", [*_VALUES, *_SCALARS, _Int(5), (1, 2), {"a": (1,)}, {"\u00e9": 1}], ids=repr)
def test_every_value_gets_the_reference_plain_answer(value: Any) -> None:
    _both_plain(value)
    _both_plain({"a": value})
    _both_plain([value])


def test_the_plain_walks_budget_ends_where_the_references_does() -> None:
    """At most 100,000 containers are walked (each taken off the stack once per path to it): exactly at the budget
    still plain, one more not, whether the containers are side by side, nested or shared; a value that contains
    itself is never plain; a wide list of scalars costs nothing of the budget."""
    budget = canonical._CONTAINERS
    assert _both_plain([[] for _ in range(budget - 1)]) is True
    assert _both_plain([[] for _ in range(budget)]) is False
    assert _both_plain([{} for _ in range(budget - 1)]) is True
    assert _both_plain({"a": [{} for _ in range(budget)]}) is False
    nested: Any = []
    for _ in range(budget - 1):
        nested = [nested]
    assert _both_plain(nested) is True
    assert _both_plain([nested]) is False
    shared = [[] for _ in range(10)]
    assert _both_plain([shared] * (budget // 11 - 1)) is True
    assert _both_plain([shared] * (budget // 11 + 1)) is False
    looped: list[Any] = [1]
    looped.append(looped)
    assert _both_plain(looped) is False
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    assert _both_plain(cyclic) is False
    assert _both_plain([1] * 1_000_000) is True
    assert _both_plain([[1] * 1_000_000, 1.5]) is False
    if NATIVE is not None:
        assert NATIVE.json_plain([[]], 2) is True
        assert NATIVE.json_plain([[]], 1) is False
        assert NATIVE.json_plain([], 0) is False
        assert NATIVE.json_plain([], -5) is False
        with pytest.raises(TypeError):
            NATIVE.json_plain([])


def _both_spelt(value: Any, limit: int = canonical.MAX_JSON_DEPTH) -> Any:
    """integer_spelt_double's answer (or its error) with the native plain check in front and without it: equal."""
    with_check = _outcome(lambda: canonical.integer_spelt_double(value, limit))
    walked = pytest.MonkeyPatch()
    walked.setattr(canonical, "_NATIVE_JSON_PLAIN", None)
    try:
        reference = _outcome(lambda: canonical.integer_spelt_double(value, limit))
    finally:
        walked.undo()
    assert with_check == reference
    return reference


@settings(max_examples=800, deadline=None)
@given(_ANY_JSONISH | st.sampled_from([1e16, -1e16, 2.0**60, 2.0**53, 1e21, 9.9e20, float("nan"), float("inf")]))
def test_integer_spelt_doubles_are_found_with_the_plain_check_in_front_as_by_the_walk(value: Any) -> None:
    """decide checks every application for a double RFC 8785 writes as integer digits (red team round 60); a value
    the native plain check passes holds no double, so the walk is skipped: the answer (or error) is the walk's."""
    _both_spelt(value)
    _both_spelt({"a": [value, {"b": value}]})


def test_integer_spelt_doubles_depth_bound_is_the_walks_with_the_plain_check_in_front() -> None:
    """Nested exactly to the bound: no double, no error; one deeper: the walk's InputError, not a plain pass."""
    for limit in (1, 2, 5, 64):
        nested: Any = 1
        for _ in range(limit):
            nested = [nested]
        assert _both_spelt(nested, limit) == ("ok", None)
        assert _both_spelt([nested], limit)[0] == "InputError"
        assert _both_spelt({"x": [1e16]}, limit + 2) == ("ok", (1e16, "x[0]"))


# -- the decision input's fields by path (decision_input.flatten) -------------------------------------------------


def _both_flatten(value: Any) -> Any:
    """The native walk's answer (when it gives one) is the reference's, fields in the same order."""
    reference = _outcome(lambda: list(decision_input._flatten_py(value).items()))
    assert _outcome(lambda: list(decision_input.flatten(value).items())) == reference
    if NATIVE is not None:
        native = NATIVE.flatten(value, decision_input._escape)
        assert native is None or ("ok", list(native.items())) == reference
    return reference


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for i in range(depth):
        value = {f"k{i}": value, "x": i}
    return value


def test_applications_flatten_as_the_reference_does() -> None:
    from ledger.services.demo_data import generate_applications, generate_service_items

    for application in generate_applications(300, generate_service_items(20, seed=5), seed=5):
        assert _both_flatten(application)[0] == "ok"
        if NATIVE is not None:
            assert NATIVE.flatten(application, decision_input._escape) is not None  # the plain case is native


_FLAT_KEYS = ["a.b", "a~b", "@applicant", "~0", "~1.~2@", "", ".", "caf\u00e9", "\U0001f600", "\ud800", _Str("s")]
_FLAT_VALUES: list[Any] = [
    None, True, False, 0, -(2**70), 1.5, float("nan"), float("inf"), "", "\ud800", [], [{"a": 1}], {}, {"": {}},
    (1, 2), {1, 2}, b"raw", _Str("s"), _Int(5), collections.OrderedDict(a=1), collections.OrderedDict(),
    collections.defaultdict(int, a=1), types.MappingProxyType({"m": 1}), object(),
]  # fmt: skip


@pytest.mark.parametrize("value", _FLAT_VALUES, ids=lambda v: repr(v)[:40])
@pytest.mark.parametrize("key", [*_FLAT_KEYS, 7, (1, 2)], ids=repr)
def test_every_key_and_value_flattens_as_the_reference_does(key: Any, value: Any) -> None:
    _both_flatten({key: value})
    _both_flatten({"outer": {key: value}, "after": 1})
    _both_flatten({"outer": {"inner": {key: value, "z": [value]}}})
    _both_flatten(collections.OrderedDict([("o", {key: value})]))


def test_deep_and_colliding_inputs_flatten_as_the_reference_does() -> None:
    for depth in (1, 60, 63, 64, 65, 66, 200, 2_000):
        _both_flatten(_nested(depth))  # past the native depth the reference answers, RecursionError included
    # (a cyclic input is left out: no JSON input is one, and the reference builds ever longer paths until the
    # recursion limit, which the test runner raises, or memory ends)
    _both_flatten({"a": {"b": 1}, "a~1b": 2, "a.b": 3, 1: 4, "1": 5})  # escaped, and a non-str key naming "1"


@needs_native
def test_a_hostile_escape_cannot_crash_the_native_walk() -> None:
    assert NATIVE is not None

    def refuse(_key: str) -> str:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        NATIVE.flatten({"a": {"b.c": 1}}, refuse)
    assert NATIVE.flatten({"a": {"b.c": 1}}, lambda _key: 5) is None  # not a str: the reference answers
    assert NATIVE.flatten({"a": {"b": 1}}, refuse) == {"a.b": 1}  # asked only for a key that needs escaping
    assert NATIVE.flatten([("a", 1)], decision_input._escape) is None
    with pytest.raises(TypeError):
        NATIVE.flatten({})


@needs_native
def test_the_native_walk_neither_leaks_nor_frees_what_it_was_given() -> None:
    assert NATIVE is not None
    inner, leaf, key = {"b.c": "value " * 10, "d": [1, 2]}, ["x"], "a~k"
    value = {key: inner, "e": leaf, "f": {}, "g": {"h": (1,)}}  # "g" declines after the rest was built
    before = [sys.getrefcount(x) for x in (inner, leaf, key)]

    def rounds() -> None:
        for _ in range(2_000):
            NATIVE.flatten(value, decision_input._escape)
            NATIVE.flatten({key: inner, "e": leaf}, decision_input._escape)

    assert _growth(rounds) < 64 * 1024
    assert [sys.getrefcount(x) for x in (inner, leaf, key)] == before


# -- replay's input commitments, one native call per chunk (decision_input.input_commitments_of) -------------------


def _commitments_call(secret: Any, items: Any, canonical_json: Any = canonical.canonical_json) -> Any:
    assert NATIVE is not None
    return NATIVE.input_commitments(
        secret,
        items,
        decision_input._SALT_PREFIX,
        SALT_BYTES,
        FIELD_PREFIX,
        decision_input._PREFIX,
        decision_input.INPUT_FORMAT,
        decision_input._NONCE_KEY,
        canonical_json,
    )


def _both_commitments(secret: Any, items: list[Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The chunk's commitments (native first) are the reference's one by one, the first error included, with the
    native core or without it; each answer the native call gives is the reference's."""
    reference = _outcome(lambda: [decision_input.input_commitment_of(secret, v, d) for d, v in items])
    assert _outcome(lambda: decision_input.input_commitments_of(secret, items)) == reference
    with monkeypatch.context() as patch:
        patch.setattr(decision_input, "_NATIVE_INPUT_COMMITMENTS", None)
        assert _outcome(lambda: decision_input.input_commitments_of(secret, items)) == reference
    if NATIVE is not None:
        native = _commitments_call(secret, items)
        assert len(native) == len(items)
        for answer, (digest, value) in zip(native, items, strict=True):
            if answer is not None:
                assert ("ok", answer) == _outcome(
                    lambda d=digest, v=value: decision_input.input_commitment_of(secret, v, d)
                )
    return reference


def test_the_native_input_commitments_are_built_with_the_core() -> None:
    assert NATIVE is None or decision_input._NATIVE_INPUT_COMMITMENTS is not None


def test_stored_applications_commit_natively_as_the_reference_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inputs replay meets (applications as stored: a nonce, citations, nested item attributes) are answered
    natively, each with the reference's commitment, whatever the secret's length."""
    from ledger.services.demo_data import generate_applications, generate_service_items

    applications = list(generate_applications(60, generate_service_items(10, seed=3), seed=3))
    items = [
        ("0x" + hashlib.sha256(str(i).encode()).hexdigest(), {**a, "input_nonce": os.urandom(16).hex()})
        for i, a in enumerate(applications)
    ]
    for secret in _SECRETS:
        assert _both_commitments(secret, items, monkeypatch)[0] == "ok"
        if NATIVE is not None:
            assert None not in _commitments_call(secret, items)  # the plain case is native


def test_an_input_with_fields_sealed_apart_commits_by_their_kept_hashes_in_a_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An input whose typed fields a certificate copies is stored with their hashes under ``input_sealed``, not their
    values (priv40): in a chunk beside plain inputs its commitment is the reference's, which takes those hashes as
    they are; the native pass, which would hash ``input_sealed`` as a field, is never asked about it."""
    plain = {"case_id": "C-1", "item": {"onsite_reason": 0}, "input_nonce": "00" * 16}
    typed = {**plain, "case_id": "C-2", "application": {"premises": "Room 101, 1 Keyuan Road", "scope": "x"}}
    stored, _values, _salts = decision_input.seal_fields(typed, ["application.premises"])
    assert decision_input.SEALED_KEY in stored and "premises" not in stored["application"]
    items = [("0x" + "11" * 32, plain), ("0x" + "22" * 32, stored), ("0x" + "33" * 32, dict(plain, case_id="C-3"))]
    for secret in _SECRETS:
        assert _both_commitments(secret, items, monkeypatch)[0] == "ok"


@pytest.mark.parametrize("value", _FLAT_VALUES, ids=lambda v: repr(v)[:40])
@pytest.mark.parametrize("key", [*_FLAT_KEYS, "input_nonce", 7], ids=repr)
def test_every_key_and_value_commits_as_the_reference_does(
    key: Any, value: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys that escape, are empty, not ASCII, a lone surrogate, a subclass or no str; values of every JSON type
    and of none (huge numbers, NaN, a lone surrogate, mappings that are not dicts): at the top, nested and next to
    the nonce, each input of a chunk gets the reference's commitment or its error, and the others theirs."""
    plain = ("0x" + "ab" * 32, {"case_id": "C-1", "item": {"n": 1}})
    _both_commitments(b"k" * 32, [("0x" + "Ab" * 32, {key: value, "input_nonce": "n"}), plain], monkeypatch)
    _both_commitments(
        b"k" * 32, [plain, ("0x00", {"outer": {key: value, "input_nonce": [value]}, "z": 1})], monkeypatch
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    inputs=st.lists(st.dictionaries(_names, _json | st.text(), max_size=8), max_size=4),
    secret=st.binary(max_size=130),
    digest=st.text(alphabet="0123456789abcdefABCDEFx", max_size=70),
)
def test_generated_chunks_commit_as_the_reference_does(
    inputs: list[dict[str, Any]], secret: bytes, digest: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _both_commitments(secret, [(digest + str(i), value) for i, value in enumerate(inputs)], monkeypatch)


def test_hostile_chunks_commit_as_the_reference_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nesting at and past the native depth (the reference's RecursionError included), numbers past 2**53 and
    64 bits, digests that are not lower case, not ASCII or no str, items that are no pair of a digest and a dict:
    each answered as the reference answers it, in order."""
    secret = os.urandom(32)
    for depth in (62, 63, 64, 65, 66, 200, 2_000):
        _both_commitments(secret, [("0x01", _nested(depth)), ("0x02", {"a": 1})], monkeypatch)
    numbers: list[Any] = [2**53 - 1, 2**53, -(2**53), 2**63, -(2**63) - 1, 10**40, 1e308, -0.0, 5e-324]
    for number in numbers:
        _both_commitments(secret, [("0x03", {"n": number, "deep": {"n": [number]}})], monkeypatch)
    for digest in ("0X" + "AB" * 32, "0x\u00e9", "", "0x" + "ab" * 5_000, "0x\ud800"):
        _both_commitments(secret, [(digest, {"a": 1})], monkeypatch)
    for item in [(None, {"a": 1}), ("0x04", [("a", 1)]), ("0x05", _Dict(a=1)), ("0x06", collections.OrderedDict(a=1))]:
        _both_commitments(secret, [item, ("0x07", {"a": 2})], monkeypatch)
    if NATIVE is not None:
        odd = [("0x08", {"a": 1}, "third"), ["0x09", {"a": 1}], "0x0a", ("0x0b",)]
        assert _commitments_call(secret, [*odd, ("0x0c", {"a": 1})])[:4] == [None] * 4


def test_stored_texts_commit_as_replay_read_them() -> None:
    """Texts as a chunk hands them over (``_decision_workers.input_commitments``): duplicate keys, invalid UTF-8,
    escaped lone surrogates, deep nesting, huge numbers, not an object: each the reference's answer (None where the
    text is no JSON object, or the reference refuses it with the library's error: replay reports that input's
    commitment, and judges the others), in order, parsed here or handed over parsed."""
    from ledger.services import _decision_workers

    secret = b"\x01" * 32
    texts = [
        '{"a":1,"a":2}',
        '{"a":{"b":1,"b":{"c":2}}}',
        b'{"a":"\xff\xfe"}',
        b'{"\xc3\xa9":1}',
        '{"a":"\\ud800"}',
        '{"\\udc00":1}',
        "[" * 300 + "]" * 300,
        '{"a":' * 70 + "1" + "}" * 70,
        '{"n":123456789012345678901234567890}',
        '{"n":1e400}',
        '"a string"',
        "not json",
        '{"input_nonce":"x","item":{"k.y~@":[1,{"z":null}]}}',
    ]
    stored = [(f"0x{i:02x}", text) for i, text in enumerate(texts)]

    def reference(text: Any, digest: str) -> Any:
        try:
            value = canonical.json_loads(text)
        except ValueError:
            return None
        if not isinstance(value, dict):
            return None
        try:
            return decision_input.input_commitment_of(secret, value, digest)
        except LedgerError:
            return None

    expected = _outcome(lambda: [reference(text, digest) for digest, text in stored])
    assert _outcome(lambda: _decision_workers.input_commitments(secret, stored)) == expected
    parsed = {}
    for digest, text in stored:
        with contextlib.suppress(ValueError):
            parsed[digest] = canonical.json_loads(text)
    assert _outcome(lambda: _decision_workers.input_commitments(secret, stored, parsed)) == expected


@needs_native
def test_native_input_commitments_decline_or_raise_as_the_reference_on_hostile_calls() -> None:
    """A canonical writer that raises or returns text declines that input (the reference answers it), an interrupt
    is raised, arguments of other types decline the call, a wrong count is a TypeError."""
    items = [("0x01", {"a": [1], "b": "x"}), ("0x02", {"c": 3})]
    assert _commitments_call(b"k", items, _refusing_writer) == [None, _commitments_call(b"k", items)[1]]
    assert _commitments_call(b"k", items, _text_writer)[0] is None

    def interrupted(_value: Any) -> bytes:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _commitments_call(b"k", items, interrupted)
    assert _commitments_call(bytearray(b"k"), items) is None
    assert _commitments_call(b"k", tuple(items)) is None
    assert NATIVE.input_commitments(b"k", items, b"s", 0, FIELD_PREFIX, b"p", "f", "n", repr) is None
    assert NATIVE.input_commitments(b"k", items, b"s", 33, FIELD_PREFIX, b"p", "f", "n", repr) is None
    assert NATIVE.input_commitments(b"k", items, b"s", 16, FIELD_PREFIX, b"p", "caf\u00e9", "n", repr) is None
    with pytest.raises(TypeError):
        NATIVE.input_commitments(b"k", items)


@needs_native
def test_native_input_commitments_neither_leak_nor_free_what_they_were_given() -> None:
    listed, text, secret = ["a", "list"], "value " * 10, b"\x07" * 32
    value = {"item": {"name": text, "list": listed, "big": 2**60, "e": {}}, "input_nonce": "n"}
    items = [("0x01", value), ("0x02", {**value, "\ud800": 1}), ("0x03", {"a": 1})]  # the second declines
    before = [sys.getrefcount(x) for x in (listed, text, secret, value)]

    def rounds() -> None:
        for _ in range(1_000):
            _commitments_call(secret, items)
            _commitments_call(secret, items, _refusing_writer)

    assert _growth(rounds) < 64 * 1024
    assert [sys.getrefcount(x) for x in (listed, text, secret, value)] == before


# -- red team, round 18: hostile escapes and keys that escape alike ---------------------------------------------


def test_a_hostile_escape_changing_the_input_cannot_crash_the_native_walk() -> None:
    """``escape`` is the library's own pure function; one that changes the dict being walked must still leave the
    interpreter sound (the reference raises RuntimeError; the native walk answers or declines)."""
    if NATIVE is None:
        pytest.skip("the native core is not built here")
    for how in ("clear", "grow", "drop_inner"):
        inner = {"x.y": 1, "z": {"deep.er": [1, 2]}, "w": 2}
        value: dict[str, Any] = {"a.b": inner, "c": "text", "d.e": {"f": 1}}

        def escape(key: str, value: dict[str, Any] = value, inner: dict[str, Any] = inner, how: str = how) -> str:
            if how == "clear":
                value.clear()
                inner.clear()
            elif how == "grow":
                for i in range(100):
                    value[f"new{i}"] = i
                    inner[f"new{i}"] = {"k": i}
            else:
                value.pop("a.b", None)
            return decision_input._escape(key)

        result = NATIVE.flatten(value, escape)
        assert result is None or isinstance(result, dict)
        gc.collect()


def test_flatten_keys_that_escape_alike_never_collide() -> None:
    """JSON Pointer escaping is one-to-one: keys written differently keep fields of their own in both walks."""
    keys = ["a.b", "a~1b", "a~01b", "a~b", "a@b", "a~2b", "a.", ".a", "~", "~0", "~1", "~2", "@", ".", ""]
    value = {k: {k2: i * 100 + j for j, k2 in enumerate(keys)} for i, k in enumerate(keys)}
    fast, reference = decision_input.flatten(value), decision_input._flatten_py(value)
    assert list(fast.items()) == list(reference.items())
    assert len(fast) == len(keys) ** 2


# -- json_loads: the native precheck (_hashcore.json_fast) sends a plain text straight to orjson ---------------------


def _loaded(load: Any, text: Any) -> tuple[str, str]:
    """What ``load`` answers for ``text``: the value's type and repr (an int is no float, -0.0 no 0.0), or the error's
    type and message."""
    try:
        value = load(text)
    except Exception as exc:  # noqa: BLE001 - the error is the answer compared
        return type(exc).__name__, str(exc)
    return type(value).__name__, repr(value)


_LONG = "1234567890123456789012"


def _json_fast_model(text: str | bytes, limit: int) -> bool:
    """What _hashcore.json_fast is to answer, written plainly: at most ``limit`` opening brackets (none counted after
    a backslash inside a string); outside strings, no run of 16 digits and points (before an exponent) and no
    exponent of 3 digits (canonical.may_respell, round 29c); an exact str only when ASCII."""
    if isinstance(text, str):
        if not text.isascii():
            return False
        text = text.encode("ascii")
    openings, run, exponent, quoted, i = 0, 0, -1, False, 0
    while i < len(text):
        c = text[i : i + 1]
        if c in (b"[", b"{"):
            openings, run, exponent = openings + 1, 0, -1
            if openings > limit:
                return False
        elif quoted:
            if c == b"\\":
                i += 1
            elif c == b'"':
                quoted = False
        elif c.isdigit() or c == b".":
            if exponent >= 0:
                exponent += 1
                if exponent >= 3:
                    return False
            else:
                run += 1
                if run >= 16:
                    return False
        elif c in (b"e", b"E") and run > 0:
            exponent = 0
        elif c not in (b"+", b"-"):
            run, exponent, quoted = 0, -1, c == b'"'
        i += 1
    return True


_JSON_TEXTS = [
    "",
    " ",
    "{}",
    "[]",
    '{"a":1}',
    f'{{"a":{_LONG}}}',
    f'{{"a":-{_LONG}}}',
    f'{{"a":"{_LONG}"}}',
    f'{{"a":"\\"","b":{_LONG}}}',  # an escaped quote, then a long number outside the string
    f'{{"a":"\\\\","b":{_LONG}}}',  # an escaped backslash: the next quote closes the string
    f'{{"a":"\\\\\\"{_LONG}"}}',  # backslash, escaped quote: still inside
    f'"abc {_LONG}',  # unterminated: no JSON
    f"{_LONG[:18]}",
    f"{_LONG[:19]}",
    f"-{_LONG[:18]}",
    f"0.{_LONG}",
    f"1.5e{_LONG[:3]}",
    "1e400",
    "1e-400",
    "[1E+99,1e-99,1.5e100]",
    "1.00000000000000008e20",
    "100000000000000000001.0",
    "0.1000000000000000000001",
    "123456789012345",
    "1234567890123456",
    "[true,false,null,1e5]",
    '{"a":"1e-400 1234567890123456"}',
    "-0.0",
    "0.1",
    "9223372036854775807",
    "18446744073709551616",
    f"[{_LONG[:10]},{_LONG[:10]}]",
    f"[{_LONG[:10]}.{_LONG[:10]}]",
    '{"a":"x\\[","b":[1]}',  # a bracket after a backslash: no JSON
    '{"a":"\\ud800"}',  # a lone surrogate: json reads it, orjson does not
    '{"a":"\\ud83d\\ude00"}',
    '{"a":"é"}',
    '{"a":1,"a":2}',
    "NaN",
    "[Infinity]",
    "\ufeff{}",
    "[" * 512 + "]" * 512,
    "[" * 513 + "]" * 513,
    '"' + "[" * 600 + '"',
    "[" * 100 + f'"{_LONG}"' + "]" * 100,
    '{"a":[1,2,{"b":null}],"c":true,"d":false}',
]


@needs_native
@pytest.mark.parametrize("text", _JSON_TEXTS, ids=lambda t: repr(t)[:40])
@pytest.mark.parametrize("form", ["str", "bytes", "latin1", "bytearray", "memoryview"])
def test_json_loads_answers_as_the_reference_does(text: str, form: str) -> None:
    """Adversary: a stored body or input edited so that the fast path reads it otherwise than the reference (a long
    number hidden behind an escaped quote, a bracket after a backslash, depth in strings, bytes that are no UTF-8):
    json_loads gives the same value or the same error either way."""
    raw = text.encode("utf-8", "surrogatepass")
    form_of: Any = {
        "str": text,
        "bytes": raw,
        "latin1": text.encode("latin-1", "replace"),
        "bytearray": bytearray(raw),
        "memoryview": memoryview(raw),
    }[form]
    assert _loaded(canonical.json_loads, form_of) == _loaded(canonical._json_loads_py, form_of)


@needs_native
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet='[]{}"\\0123456789.,:-eE a\u00e9', max_size=60))
def test_json_loads_answers_as_the_reference_does_on_any_text(text: str) -> None:
    for form in (text, text.encode("utf-8")):
        assert _loaded(canonical.json_loads, form) == _loaded(canonical._json_loads_py, form)
        assert NATIVE.json_fast(form, 3) is _json_fast_model(form, 3)


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet='ab"\\0123456789[{', max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@needs_native
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_JSON_VALUES)
def test_json_loads_reads_any_json_as_the_reference_does(value: Any) -> None:
    import json

    text = json.dumps(value)
    assert _loaded(canonical.json_loads, text) == _loaded(canonical._json_loads_py, text)


@needs_native
def test_the_json_precheck_declines_what_it_cannot_read_in_place() -> None:
    fast = NATIVE.json_fast
    assert fast("{}", 512) is True and fast(b"{}", 512) is True
    assert fast('{"a":"\u00e9"}', 512) is False  # not ASCII: its UTF-8 form would be a copy
    assert fast(bytearray(b"{}"), 512) is False and fast(memoryview(b"{}"), 512) is False
    assert fast(type("S", (str,), {})("{}"), 512) is False
    assert fast("[[]]", 1) is False and fast("[[]]", 2) is True
    assert fast(f'["{_LONG}"]', 512) is True and fast(f"[{_LONG}]", 512) is False
    # numbers whose text may not be the double they read as (round 29c): the exact reader decides
    assert fast("[1e-400]", 512) is False and fast("[1e-99]", 512) is True
    assert fast("[0.10000000000001]", 512) is False and fast("[0.1000000000001]", 512) is True  # 16, 15 chars
    with pytest.raises(TypeError):
        fast("{}")


# -- replay's reading of a chunk's decision bodies in one native call (_decision_workers.decision_bodies) ----------
#
# Adversary: an insider with database access who edits stored decision bodies so that the native reading and the
# Python reading of a chunk disagree - a body spelt otherwise than the ledger writes it (spaced out, keys reordered
# or named twice, a number or a string spelt another way) read as canonical so that its body_invalid is not
# reported, another case id or another certificate read than the Python code reads (index_altered missed), or a
# text shaped to crash the scan (nesting, truncation, escapes). Every row must read as replay's Python code reads
# it, or be left to that code.


def _python_body_reading(text: Any) -> Any:
    """What replay's Python code reads of a row's text: None for a body it reports unreadable, else (body, index
    key, named certificates, link fields, spelling problem)."""
    from ledger.services import logchain, replay

    try:
        body = logchain.stored_loads(text)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    links = {k: body[k] for k in replay._LINK_FIELDS if k in body}
    return body, logchain.lookup_of(body), set(logchain.mentions_of(body)), links, logchain.spelling_problem(text, body)


def _both_body_readings(texts: list[Any]) -> list[Any]:
    """The native reading of ``texts`` as one chunk: each row it answers is the Python code's reading of a body
    spelt as the ledger writes it (no spelling problem), the same values of the same types."""
    from ledger.services import _decision_workers, replay

    rows = [(i, text, "0x" + "00" * 32, None) for i, text in enumerate(texts)]
    read = _decision_workers.decision_bodies(rows, replay._LINK_FIELDS)
    assert len(read) == len(rows)
    for text, native in zip(texts, read, strict=True):
        if native is None:
            continue
        reference = _python_body_reading(text)
        assert reference is not None, text
        body, lookup, mentions, links, spelt = reference
        assert spelt is None, text
        assert repr(native[0]) == repr(body) and native[0] == body  # repr: 1 and 1.0, True and 1 differ
        assert (native[1], native[2], native[3]) == (lookup, mentions, links)
        assert [type(x) for x in native] == [dict, type(lookup), set, dict]
        assert list(native[3]) == list(links)  # the same order
    return read


def _decision_body(i: int, **edits: Any) -> dict[str, Any]:
    """A decisions-log body as the ledger writes one (the bench's shape), with ``edits`` applied."""
    digest = "0x" + hashlib.sha256(str(i).encode()).hexdigest()
    body: dict[str, Any] = {
        "applicant_commitment": digest,
        "as_of_block": 9 + i,
        "case_id": f"CASE-{i:06d}",
        "certificates": [
            {"as_of_block": 9, "digest": digest, "failed": ["not_found"], "holder": False, "issuer": None},
            {"digest": "0x" + "ab" * 32, "verified": True},
        ],
        "credit": {"as_of_block": 9, "listed": False, "listings": []},
        "decided_at": "2026-12-07T03:55:14.135Z",
        "decided_by": {"engine": "pl-rules/1", "kind": "engine"},
        "fired": [],
        "format": "pl-decision/2",
        "issued": {"certificate": "0x" + "cd" * 32} if i % 2 else None,
        "legal_basis": {"R1": "Administrative Licensing Law, art. 34(3): verified by officers"},
        "outcome": "refer",
        "overrides": None,
        "reasons": ["R1"],
        "service_item": "440300-000008",
    }
    body.update(edits)
    return {k: v for k, v in body.items() if v is not _ABSENT}


_ABSENT = object()


def _canonical_text(body: dict[str, Any]) -> str:
    from ledger.formats.logbody import canonical_body

    return canonical_body(body).decode("utf-8")


def test_the_native_body_reading_is_built_with_the_core() -> None:
    from ledger.services import _decision_workers

    assert NATIVE is None or _decision_workers._NATIVE_DECISION_BODIES is not None


@needs_native
def test_honest_decision_bodies_are_read_natively_as_the_python_code_reads_them() -> None:
    """The bodies the ledger writes - with and without an issued certificate, citations of every kind, empty and
    nested containers, the edges of the integers it writes exactly, names that sort by their prefix, text that is not
    ASCII - are all read natively (the fast path is taken), each as the Python code reads it."""
    bodies = [_decision_body(i) for i in range(40)]
    bodies += [
        _decision_body(1, case_id=_ABSENT, issued=_ABSENT),
        _decision_body(2, certificates=[], reasons=[], extra={"": 0, "a": {}, "ab": [], "b": [[[]], {}]}),
        _decision_body(3, as_of_block=10**15 - 1, big=-(10**15 - 1), zero=0, neg=-7, t=True, f=False, n=None),
        _decision_body(4, case_id="", outcome="approve", issued={"certificate": "0x" + "0f" * 32, "x": 1}),
        _decision_body(5, certificates=[{"digest": "0x" + "ab" * 32}, {"digest": "0x" + "ab" * 32}, 7, None, "s"]),
        _decision_body(6, text=" !#$%&'()*+,-./:;<=>?@[]^_`{|}~ ", nested=[[[[[[[[{"deep": [1]}]]]]]]]]),
        # a department writing its legal bases and case numbers in Chinese; characters str.isprintable refuses
        # (RFC 8785 writes them as they are too); astral ones
        _decision_body(
            7,
            case_id="\u6848-0007",
            legal_basis={"R1": "\u300a\u4e2d\u534e\u4eba\u6c11\u5171\u548c\u56fd\u884c\u653f\u8bb8\u53ef\u6cd5\u300b"},
            odd=["\u2028", "\xa0", "\x85", "\ufeff", "\ufffe", "\U0001f600", "\U000e0001", "e\u0301"],
        ),
        {},
    ]
    texts = [_canonical_text(b) for b in bodies]
    read = _both_body_readings(texts)
    assert None not in read


_TAMPERED_BODIES = [
    # another spelling of an honest body: the Python code reports body_invalid (spelling) and reads on
    '{"a":1, "b":2}',
    '{ "a":1}',
    '{"a":1}\n',
    ' {"a":1}',
    '{"b":1,"a":2}',
    '{"a":1,"a":2}',
    '{"a":1,"a":1}',
    '{"ab":1,"a":2}',
    '{"a":1,"A":2}',
    '{"":1,"":2}',
    '{"a":-0}',
    '{"a":1.0}',
    '{"a":1e2}',
    '{"a":1E2}',
    '{"a":0.5}',
    '{"a":100000000000000}',
    '{"a":1000000000000000}',
    '{"a":10000000000000000}',
    '{"a":9007199254740993}',
    '{"a":-9007199254740992}',
    '{"a":123456789012345678901234567890}',
    '{"a":01}',
    '{"a":00}',
    '{"a":-}',
    '{"a":+1}',
    '{"a":"\\u0041"}',
    '{"a":"\\u00e9"}',
    '{"a":"\u00e9"}',
    '{"\u00e9":1}',
    '{"a":"\\ud800"}',
    '{"a":"\\"","b":1}',
    '{"a":"\\\\"}',
    '{"a":"\\n"}',
    '{"a":"\\/"}',
    '{"a":"\x7f"}',
    '{"a":"\x1f"}',
    '{"a":"\t"}',
    '{"a\\u0000":1}',
    '{"a":"\ud800"}',  # a str holding a lone surrogate itself (no UTF-8 form), not an escape
    '{"case_id":"\udfff"}',
    '{"\u00e9":1,"a":2}',
    # not an object, not JSON, cut short, trailing text
    "[]",
    '"a"',
    "1",
    "null",
    "",
    "{",
    "}",
    "{}}",
    "{}{}",
    '{"a":1',
    '{"a":1,}',
    '{"a":[1,]}',
    '{"a":[,1]}',
    '{"a":}',
    '{"a"1}',
    '{"a":1 }',
    '{"a":tru}',
    '{"a":truex}',
    '{"a":nul}',
    '{"a":fals}',
    '{"a":"unterminated}',
    "{a:1}",
    "{'a':1}",
    '{"a":[1}',
    '{"a":{]}',
    '{"a":NaN}',
    '{"a":Infinity}',
    # nested to the bound and past it (MAX_JSON_DEPTH: 512), and far past it
    '{"a":' + "[" * 511 + "]" * 511 + "}",
    '{"a":' + "[" * 512 + "]" * 512 + "}",
    '{"a":' + "[" * 100_000 + "]" * 100_000 + "}",
    '{"a":' + "[" * 100_000,
    '{"a":"' + "[" * 600 + '"}',
    '{"a":' + '{"a":' * 600 + "1" + "}" * 600 + "}",
]


@needs_native
@pytest.mark.parametrize("text", _TAMPERED_BODIES, ids=lambda t: repr(t)[:40])
def test_tampered_bodies_are_left_to_the_python_code_or_read_as_it_reads_them(text: str) -> None:
    """Each edited text beside an honest body in one chunk: none is read otherwise than the Python code reads it,
    and the honest body beside it is still read natively."""
    honest = _canonical_text(_decision_body(1))
    read = _both_body_readings([honest, text, honest])
    assert read[0] is not None and read[2] is not None


@needs_native
@pytest.mark.parametrize(
    "edits",
    [
        {"case_id": 7},
        {"case_id": None},
        {"case_id": ["CASE-1"]},
        {"case_id": {"id": "CASE-1"}},
        {"case_id": "CASE-\u00e9"},
        {"certificates": {"digest": "0x" + "ab" * 32}},
        {"certificates": "0x" + "ab" * 32},
        {"certificates": [{"digest": "0x" + "AB" * 32}]},
        {"certificates": [{"digest": "0X" + "ab" * 32}]},
        {"certificates": [{"digest": "0x" + "ab" * 32 + "a"}]},
        {"certificates": [{"digest": "0x" + "ab" * 31 + "a"}]},
        {"certificates": [{"digest": "0x" + "ag" * 32}]},
        {"certificates": [{"digest": 5}, {"digest": None}, {"digest": ["0x" + "ab" * 32]}]},
        {"certificates": [["0x" + "ab" * 32]]},
        {"issued": "0x" + "cd" * 32},
        {"issued": {"certificate": None}},
        {"issued": {"certificate": "0x" + "CD" * 32}},
        {"issued": [{"certificate": "0x" + "cd" * 32}]},
        {"outcome": _ABSENT, "issued": _ABSENT, "case_id": _ABSENT},
        {"outcome": {"nested": [1, "x"]}},
    ],
    ids=repr,
)
def test_every_field_replay_reads_of_a_body_is_read_as_the_python_code_reads_it(edits: dict[str, Any]) -> None:
    """A body whose case id, citations or issued certificate an insider edited (another type, another spelling of a
    digest, a non-ASCII case id) and rewrote canonically: its index key, the certificates it names and its link
    fields are the Python code's, natively or by the Python code."""
    _both_body_readings([_canonical_text(_decision_body(3, **edits))])


_BODY_KEYS = st.sampled_from(["", "a", "ab", "b", "A", "case_id", "issued", "certificate", "digest", "\u00e9", 'q"'])
_BODY_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**17), max_value=10**17)
    | st.sampled_from([0.5, 1.0, 1e16, -0.0, 2**53, "0x" + "ab" * 32, "0x" + "AB" * 32, "\\", "\x7f", "\ud800"])
    | st.text(alphabet='ab "\\\x1f\u00e9[{', max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_BODY_KEYS, inner, max_size=4),
    max_leaves=12,
)


@needs_native
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.dictionaries(_BODY_KEYS, _BODY_VALUES, max_size=6),
    at=st.integers(min_value=0),
    edit=st.sampled_from(["", " ", ",", "}", "]", '"', "\\", "0", "-", ".", "e", "1", "{", "[", ":", "x"]),
    cut=st.booleans(),
)
def test_generated_bodies_and_their_edits_are_read_as_the_python_code_reads_them(
    body: dict[str, Any], at: int, edit: str, cut: bool
) -> None:
    """Generated bodies in the ledger's spelling (when it has one for them), in json's other spellings, and with one
    character inserted or replaced anywhere: each read as the Python code reads it, or left to it."""
    import json

    texts = [json.dumps(body), json.dumps(body, sort_keys=True), json.dumps(body, separators=(",", ":"))]
    with contextlib.suppress(InputError, ValueError, UnicodeError):
        texts.append(_canonical_text(body))
    spelt = texts[-1]
    at %= len(spelt) + 1
    texts.append(spelt[:at] + edit + spelt[at + (1 if cut else 0) :])
    _both_body_readings(texts)


@needs_native
def test_the_native_body_reading_declines_or_raises_as_it_should_on_hostile_calls() -> None:
    """Rows of another shape are left to the Python code; a parser that refuses a text leaves it too, one that is
    interrupted raises; arguments of another type are refused, not read."""
    import orjson

    honest = _canonical_text(_decision_body(1))
    fields = ("case_id", "outcome", "issued")
    call = NATIVE.decision_bodies
    odd_rows: list[Any] = [(1,), [1, honest], (1, honest.encode()), (1, _Str(honest)), (1, None), "row", (1, honest)]
    assert call(odd_rows, orjson.loads, 512, fields)[:-1] == [None] * 6
    assert call(odd_rows, orjson.loads, 512, fields)[-1] is not None

    def refuses(text: str) -> Any:
        raise ValueError("no")

    def interrupted(text: str) -> Any:
        raise KeyboardInterrupt

    assert call([(1, honest)], refuses, 512, fields) == [None]
    with pytest.raises(KeyboardInterrupt):
        call([(1, honest)], interrupted, 512, fields)
    assert call([(1, honest)], lambda t: [1], 512, fields) == [None]
    assert call([(1, honest)], lambda t: _Dict(orjson.loads(t)), 512, fields) == [None]
    # a parser handing back subclasses the Python code would read as their bases: left to it
    sub = orjson.loads(honest)
    sub["case_id"] = _Str(sub["case_id"])
    assert call([(1, honest)], lambda t: sub, 512, fields) == [None]
    assert call([(1, '{"a":[[1]]}')], orjson.loads, 2, fields) == [None]
    assert call([(1, '{"a":[[1]]}')], orjson.loads, 3, fields) != [None]
    for bad in (
        ((1, honest), orjson.loads, 512, fields),
        ([(1, honest)], "parse", 512, fields),
        ([(1, honest)], orjson.loads, 512, list(fields)),
        ([(1, honest)], orjson.loads, 512, (1,)),
        ([(1, honest)], orjson.loads, "512", fields),
        ([(1, honest)], orjson.loads, 512),
    ):
        with pytest.raises(TypeError):
            call(*bad)
    for limit in (0, -1, 5000):
        with pytest.raises(ValueError, match="limit"):
            call([(1, honest)], orjson.loads, limit, fields)


@needs_native
def test_the_native_body_reading_neither_leaks_nor_frees_what_it_was_given() -> None:
    import orjson

    texts = [_canonical_text(_decision_body(i)) for i in range(4)] + ['{"a":1, "b":2}', "[]"]
    rows = [(i, t, "h", None) for i, t in enumerate(texts)]
    fields = ("case_id", "outcome", "issued")
    before = [sys.getrefcount(x) for x in (*texts, *rows, fields)]

    def rounds() -> None:
        for _ in range(2_000):
            NATIVE.decision_bodies(rows, orjson.loads, 512, fields)

    assert _growth(rounds) < 64 * 1024
    assert [sys.getrefcount(x) for x in (*texts, *rows, fields)] == before
