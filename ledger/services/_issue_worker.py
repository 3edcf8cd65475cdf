"""Issuance's computation over records alone (no key, no database, no chain): parsing and checking slices of an
input file, salts, field hashes, digests, Merkle tree, proofs and sealed-body plaintexts of a batch.

Worker processes run it (:mod:`ledger.services.issuance` keeps everything that needs a key or the store), so it
imports only the formats: a spawned worker starts in a tenth of a second instead of loading web3 and the store.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from hashlib import blake2b, sha256
from typing import Any

from ..errors import InputError, StateError

try:
    import orjson

    _orjson: Any = orjson
except ImportError:  # optional: json writes the same values, more slowly
    _orjson = None
from ..formats.canonical import SALT_BYTES, _strict_fast, strict_json_loads
from ..formats.certificate import Record, iter_jsonl_lines, record_fields, seal_many, validate_record
from ..formats.certificate import read_sealed_body as read_body  # noqa: F401 - re-exported (issuance.read_body)
from ..formats.merkle import MerkleTree


@dataclass
class BuiltBatch:
    root: bytes
    department: str
    signer: str
    signature: bytes
    digests: list[bytes]
    tree: MerkleTree | None  # None when a worker built it: ``proofs`` then holds every proof
    fields: list[dict[str, Any]]
    salts: list[dict[str, bytes]]
    tx_hash: str | None = None
    bodies: list[bytes] | None = None  # sealed-body plaintexts and proofs when a worker computed them
    proofs: list[bytes] | None = None
    run_roots: bytes | None = None  # MerkleTree.run_roots() when a worker built the tree (the batch row keeps it)
    # From a worker: each certificate's salts as one string of SALT_BYTES per field in field order, ``salts`` left
    # empty (a dict per certificate cost ≈ 5 µs to pickle and unpickle; the writer reads them only to write the
    # holders' documents). :func:`salts_of` gives either form.
    packed_salts: list[bytes] | None = None
    # From a worker building no holders' documents: per certificate only what its row needs besides the body (id,
    # type, issued_at, valid_until), ``fields`` left empty (the field maps were 4.7 µs per certificate to pickle
    # and unpickle; the sealed-body plaintexts already carry them). :func:`row_columns` gives either form.
    columns: list[tuple[str, str, str, str | None]] | None = None
    # The batch's certificate types, computed once (``issuance.batch_types``): checked before it is stored and
    # again when it is sent.
    types: frozenset[str] | None = None


def _id_hash(department: str, certificate_id: str) -> int:
    return int.from_bytes(blake2b(f"{department}\x00{certificate_id}".encode(), digest_size=8).digest(), "big")


@dataclass
class _Checked:
    """What the validation pass learns from a slice of the file: the valid records' ids, their lines and id
    hashes; the invalid records' errors; the first line that is not a record at all (reading stops there)."""

    ids: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    hashes: bytes = b""
    errors: list[str] = field(default_factory=list)
    fatal: InputError | None = None
    first_line: int = 0  # from a worker: the slice's first line and its digest (:func:`_slice_digest`)
    slice_digest: bytes = b""
    orjson_values: bool = False  # every line's value is orjson's parse of it (``strict_json_loads``' fast path)
    types: dict[str, int] = field(default_factory=dict)  # each certificate type of the valid records: its first line


def _check(records: Iterable[tuple[int, Any]], department: str, limit: int | None = None) -> _Checked:
    """Check (line, parsed record) pairs, up to ``limit`` of them (this runs in a worker process, or here)."""
    checked = _Checked()
    hashes = array("Q")
    try:
        for line, raw in itertools.islice(records, limit):
            try:
                record = validate_record(raw, line, department=department)
            except InputError as exc:
                checked.errors.append(str(exc))
                continue
            checked.ids.append(record.certificate_id)
            checked.lines.append(line)
            checked.types.setdefault(record.cert_type, line)
            hashes.append(_id_hash(department, record.certificate_id))
    except InputError as exc:
        checked.fatal = exc
    checked.hashes = hashes.tobytes()
    return checked


def _check_lines(first_line: int, lines: list[bytes], department: str, max_bytes: int) -> _Checked:
    slow: list[int] = []

    def loads(text: bytes) -> Any:
        """``strict_json_loads(text)``, noting a line whose value did not come from orjson's parse alone."""
        value = _strict_fast(text)
        if value is None:  # a duplicate key, an escape, a long number, null, an error: json decides, as before
            slow.append(1)
            return strict_json_loads(text)
        return value

    parsed = iter_jsonl_lines(lines, first_line=first_line, max_record_bytes=max_bytes, loads=loads)
    checked = _check(parsed, department)
    checked.first_line = first_line
    checked.slice_digest = _slice_digest(first_line, lines, department, max_bytes)
    checked.orjson_values = not slow and _orjson is not None
    return checked


def _slice_digest(first_line: int, lines: list[bytes], department: str, max_bytes: int) -> bytes:
    """SHA-256 of a slice of a JSONL file checked for ``department`` with lines of at most ``max_bytes``: those and
    its first line's number, then its bytes. Two slices with the same digest are the same lines at the same place
    checked the same way, so checking them gives the same result (what the issuing pass relies on to skip checking
    again a slice the validation pass found valid)."""
    name = department.encode("utf-8", "surrogatepass")
    head = b"%d\x00%d\x00%d:%b\x00" % (first_line, max_bytes, len(name), name)
    return sha256(head + b"".join(lines)).digest()


def _proof(built: BuiltBatch, i: int) -> list[bytes]:
    if built.tree is not None:
        return built.tree.proof(i)
    raw = built.proofs[i]  # type: ignore[index]
    return [raw[j : j + 32] for j in range(0, len(raw), 32)]


def _unsigned(records: list[Record], department: str, issued_at: str) -> BuiltBatch:
    """Salts, field hashes, digests and Merkle tree of one batch: computation over the records alone (no key, no
    database, no chain). Each certificate's salts by field name (``salts``); :func:`_unsigned_packed` is the same
    with the salts left packed, as worker processes hand them back."""
    built = _unsigned_packed(records, department, issued_at)
    built.salts = [salts_of(built, i) for i in range(len(built.fields))]
    built.packed_salts = None
    return built


def _unsigned_packed(records: list[Record], department: str, issued_at: str) -> BuiltBatch:
    """:func:`_unsigned` with each certificate's salts as one string, SALT_BYTES per field in field order, as
    os.urandom drew them (``packed_salts``, read by :func:`salts_of`)."""
    return _unsigned_fields([record_fields(r, department, issued_at) for r in records], department)


def _unsigned_fields(all_fields: list[dict[str, Any]], department: str) -> BuiltBatch:
    """:func:`_unsigned_packed` of the certificates' field maps (``record_fields``)."""
    randomness = os.urandom(SALT_BYTES * sum(len(f) for f in all_fields))
    digests = seal_many(all_fields, randomness)
    packed, offset = [], 0
    for fields in all_fields:
        end = offset + SALT_BYTES * len(fields)
        packed.append(randomness[offset:end])
        offset = end
    tree = MerkleTree(digests)
    return BuiltBatch(
        root=tree.root,
        department=department,
        signer="",
        signature=b"",
        digests=digests,
        tree=tree,
        fields=all_fields,
        salts=[],
        packed_salts=packed,
    )


def _build_in_worker(
    rows: list[tuple[Any, ...]], department: str, issued_at: str, with_proofs: bool = True
) -> BuiltBatch:
    return _built_for_writer([Record(0, *row) for row in rows], department, issued_at, with_proofs)


def _build_lines_in_worker(
    first_line: int,
    lines: list[bytes],
    department: str,
    issued_at: str,
    max_bytes: int,
    with_proofs: bool = True,
    valid_slice: tuple[bytes, bool] | None = None,
) -> BuiltBatch:
    """Parse, check and build one batch from its lines (InputError names the line, as in the writer).

    ``valid_slice`` is the :func:`_slice_digest` of a slice the validation pass checked and found valid for this
    department, and whether each of its lines' values was orjson's parse of it (``_Checked.orjson_values``). When
    these lines have that digest they are the same bytes at the same place, so checking them again gives that
    same verdict: their records are taken as parsed (``Record`` from the parsed values exactly as
    :func:`validate_record` builds it), parsed by orjson alone when that is what ``strict_json_loads`` returned for
    them. Any other slice (the file changed between the passes: a line edited, inserted or removed, a slice
    moved) is parsed and checked again in full, as before."""
    if valid_slice is not None and _slice_digest(first_line, lines, department, max_bytes) == valid_slice[0]:
        if valid_slice[1] and _orjson is not None:
            loads = _orjson.loads
            raws = [loads(raw) for raw in lines if raw.strip()]  # what iter_jsonl_lines skips as blank
        else:
            raws = [raw for _line, raw in iter_jsonl_lines(lines, first_line=first_line, max_record_bytes=max_bytes)]
        all_fields = [_checked_fields(raw, department, issued_at) for raw in raws]
        return _fields_for_writer(all_fields, department, with_proofs)
    parsed = iter_jsonl_lines(lines, first_line=first_line, max_record_bytes=max_bytes)
    records = [validate_record(raw, line, department=department) for line, raw in parsed]
    return _built_for_writer(records, department, issued_at, with_proofs)


def _checked_fields(raw: dict[str, Any], department: str, issued_at: str) -> dict[str, Any]:
    """``record_fields(validate_record(raw, ...), department, issued_at)`` of a record :func:`validate_record`
    accepts, names in the same order (the salts and the sealed body follow it), without the ``Record`` between
    (about 1.2 us less per certificate; tests/test_issuance_fast_paths.py compares the two)."""
    get = raw.get
    fields: dict[str, Any] = {"id": raw["id"], "type": raw["type"], "issuer": department, "issued_at": issued_at}
    value = get("valid_from")
    if value is not None:
        fields["valid_from"] = value
    value = get("valid_until")
    if value is not None:
        fields["valid_until"] = value
    value = get("attachments")
    if value is not None:
        fields["attachments"] = value
    for name, value in raw["subject"].items():
        fields[f"subject.{name}"] = value
    return fields


def _built_for_writer(records: list[Record], department: str, issued_at: str, with_proofs: bool) -> BuiltBatch:
    """The batch as the writer takes it from a worker: bodies, packed salts, run roots, and each certificate's proof
    only ``with_proofs`` (for the holders' documents the writer writes out; the store keeps leaves and run roots)."""
    return _fields_for_writer([record_fields(r, department, issued_at) for r in records], department, with_proofs)


def _fields_for_writer(all_fields: list[dict[str, Any]], department: str, with_proofs: bool) -> BuiltBatch:
    """:func:`_built_for_writer` of the certificates' field maps (``record_fields``)."""
    built = _unsigned_fields(all_fields, department)
    packed = built.packed_salts or []
    built.bodies = [_body_packed(fields, salts) for fields, salts in zip(built.fields, packed, strict=True)]
    if with_proofs:
        built.proofs = [b"".join(_proof(built, i)) for i in range(len(all_fields))]
    else:  # no holders' documents: the writer needs of the fields only its rows' columns
        built.columns = row_columns(built)
        built.fields = []
    built.run_roots = built.tree.run_roots() if built.tree is not None else None
    built.tree = None  # the proofs say all of it; not sending the levels back saves memory and copying
    return built


def row_columns(built: BuiltBatch) -> list[tuple[str, str, str, str | None]]:
    """Each certificate's id, type, issued_at and valid_until (its row's columns), whichever form the batch has."""
    if built.columns is not None:
        return built.columns
    return [(f["id"], f["type"], f["issued_at"], f.get("valid_until")) for f in built.fields]


def _warm() -> None:
    """Nothing: submitted once so the workers start (and import) while the validation pass runs."""


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # one encoder, not one per call


def _body(fields: dict[str, Any], salts: dict[str, bytes]) -> bytes:
    """The plaintext of a certificate's sealed body: its fields, and its salts as one base64 text, each field's
    salt in the fields' order (``"s"``). The first layout kept ``"salts"`` as a map of hex texts: 270 more bytes
    per certificate of three subject fields (issue 18); :func:`read_body` reads both."""
    if list(salts) != list(fields):
        raise StateError("a certificate's salts must name its fields in the same order; nothing was stored")
    return _body_packed(fields, b"".join(salts.values()))


def _body_packed(fields: dict[str, Any], packed: bytes) -> bytes:
    """:func:`_body` of salts already packed in the fields' order (SALT_BYTES each)."""
    if len(packed) != SALT_BYTES * len(fields):
        raise StateError(f"{len(packed)} bytes of salts for {len(fields)} fields; nothing was stored")
    body = {"fields": fields, "s": base64.b64encode(packed).decode()}
    if _orjson is not None:
        # The body is read back by json.loads (read_body), so only the values must agree, and they do for what
        # reaches here: fields whose canonical hashing (RFC 8785) accepted them (finite numbers, integers within
        # ±2**53). orjson refuses what it cannot write (a lone surrogate, a key that is not a string): json then.
        # Copied at once: the bytes orjson returns keep its whole working buffer (4,089 bytes held for a body of
        # ~480: tracemalloc), and a batch holds its 10,000 bodies until it is pickled to the writer or sealed
        # (39 MB instead of 5 MB; ~2 CPU-us a certificate in fresh pages). The same bytes.
        try:
            return bytes(memoryview(_orjson.dumps(body)))
        except (TypeError, _orjson.JSONEncodeError):
            pass
    return _encode(body).encode()


def salts_of(built: BuiltBatch, i: int) -> dict[str, bytes]:
    """The salts of the batch's certificate ``i``, by field name, whichever form the batch carries them in."""
    if built.packed_salts is None:
        return built.salts[i]
    packed = built.packed_salts[i]
    return {name: packed[j * SALT_BYTES : (j + 1) * SALT_BYTES] for j, name in enumerate(built.fields[i])}
