"""The certificate format (``pl-cert/2``): input records, issued certificates and presentations.

An input record (one JSONL line or CSV row) is validated strictly; a certificate is its flat map of fields,
each hashed with its own salt (canonical.py), and its digest commits to all field hashes. The holder's
certificate document carries the disclosed fields with their salts, the hashes of hidden fields, and the
anchor (Merkle proof, batch root, signature, chain coordinates). A presentation is the same document with some
fields moved to ``hidden``: their values and salts are gone, only their hashes remain. docs/format.md is the
written specification.
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import itertools
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import ValidationError

from ..errors import InputError
from .canonical import (
    CERT_FORMAT,
    CERT_PREFIX,
    CERT_TAG,
    FIELD_PREFIX,
    MAX_INPUT_DEPTH,
    NATIVE,
    SALT_BYTES,
    _digest_template,
    _json_string,
    _sha256,
    canonical_json,
    certificate_digest,
    certificate_schema,
    check_input_depth,
    field_hashes,
    fields_digest,
    hex32,
    inexact_double,
    inexact_double_problem,
    plain_type_schema,
    strict_json_loads,
    type_schema,
    typed_digest,
)
from .displayed import describe, hidden_character, hidden_in
from .schemas import CertificateDocumentModel


@functools.lru_cache(maxsize=1024)
def batch_schema(certificate_type: str) -> bytes:
    """The ``schema`` of a batch of certificates of ``certificate_type``: keccak256 of the type name, the registry's
    type hash. Every batch is of one type; the anchor contract (3.0.0) records it, refuses a type the department
    does not hold and a supersession across two types, and every verifier checks that a certificate's ``type`` hashes
    to its batch's schema (docs/format.md §8). A pure function of a few dozen names: kept."""
    return type_schema(certificate_type)


REQUIRED_DISCLOSED = ("id", "type", "issuer", "issued_at")
ALWAYS_DISCLOSED = (*REQUIRED_DISCLOSED, "valid_from", "valid_until")  # kept in every presentation
MAX_RECORD_BYTES = 64 * 1024
MAX_FIELDS = 256

_TOP_LEVEL = {"id", "type", "subject", "valid_from", "valid_until", "attachments", "issuer"}
_TYPE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}\Z")
_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}\Z")
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")


@dataclass(frozen=True, slots=True)
class Record:
    """A validated input record, before salts and hashes."""

    line: int
    certificate_id: str
    cert_type: str
    subject: dict[str, Any]
    valid_from: str | None
    valid_until: str | None
    attachments: list[dict[str, Any]] | None


# docs/format.md#validity: a date, or a date-time with seconds and a time zone (Z or +HH:MM / -HH:MM). ASCII
# digits only ([0-9], not \d), so every verifier, in any language, reads the same instant.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_NAIVE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?")
_DAY_START, _DAY_END = time(0, 0, 0), time(23, 59, 59)


def validity_instant(value: Any, *, end: bool) -> datetime:
    """The UTC instant a ``valid_from`` (``end=False``) or ``valid_until`` (``end=True``) value stands for.

    A date alone is 00:00:00 UTC of that day as a start and 23:59:59 UTC as an end; a date-time must carry its
    time zone (``Z`` or an offset): a naive one is refused, as the holder's and the verifier's zones may differ.
    """
    if not isinstance(value, str):
        raise InputError(f"must be an ISO 8601 date or date-time string, got {type(value).__name__}")
    try:
        if _DATE.fullmatch(value):
            return datetime.combine(date.fromisoformat(value), _DAY_END if end else _DAY_START, UTC)
        if _DATE_TIME.fullmatch(value):
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: a failed check (as the court's verifier says), no crash
        raise InputError(
            f"{value!r} is outside the calendar (its UTC instant is before year 1 or after 9999)"
        ) from None
    except ValueError:
        pass  # e.g. 2026-02-30, hour 25, offset +24:00
    else:
        if _NAIVE.fullmatch(value):
            raise InputError(f"{value!r} is a date-time without a time zone: add Z (UTC) or an offset such as +08:00")
    raise InputError(
        f"{value!r} is not a date (YYYY-MM-DD) or a date-time with seconds and a time zone "
        "(YYYY-MM-DDTHH:MM:SS[.ffffff] then Z or +HH:MM / -HH:MM)"
    )


@functools.lru_cache(maxsize=4096)
def _instant(value: str, end: bool) -> datetime:
    """:func:`validity_instant` of a string, remembered: a file's records share a few validity dates, and a
    datetime is immutable (an invalid value raises, and exceptions are not remembered)."""
    return validity_instant(value, end=end)


def remembered_instant(value: Any, *, end: bool) -> datetime:
    """:func:`validity_instant`, remembered for strings (a pure function of the text; at most 4,096 kept): the
    certificates of a batch, issued or verified, share a few validity dates."""
    return _instant(value, end) if type(value) is str else validity_instant(value, end=end)


def _date(value: Any, name: str, line: int, *, end: bool) -> tuple[str, datetime]:
    try:
        return value, remembered_instant(value, end=end)
    except InputError as exc:
        raise InputError(str(exc), line=line, field=name) from None


def _displayed_as_stated(value: Any, name: str, line: int) -> None:
    """InputError naming the field (and the path in it) and the character when a text in field ``name``'s ``value``
    holds one that displays as nothing or as other text (:func:`.displayed.hidden_character`: a bidirectional
    override or isolate, a zero-width space, a control character, a joiner that joins nothing): the signed
    certificate would display as other text than it states (red team round 71). A department's private use and
    unassigned code points are its text (a rare character of a name, a newer emoji)."""
    found = hidden_in(value, assigned=False)
    if found is not None:
        hidden, path = found
        raise InputError(
            f"holds {describe(hidden)}, a character that is not shown as itself (a bidirectional control, a "
            "zero-width or filler character, a control character, a variation selector or a joiner that joins "
            "nothing, a line separator), so the certificate would display as other text than it states: remove it "
            "from the record (or write the text it was meant to show) and issue again; nothing was issued",
            line=line,
            field=f"subject.{name}{path}",
        )


def validate_record(raw: Any, line: int, *, department: str | None = None) -> Record:
    """Check one input record; InputError names the line, the field and what to fix."""
    if not isinstance(raw, dict):
        raise InputError(f"a record must be a JSON object, got {type(raw).__name__}", line=line)
    unknown = set(raw) - _TOP_LEVEL
    if unknown:
        raise InputError(f"unknown keys {sorted(unknown)}; allowed: {sorted(_TOP_LEVEL)}", line=line)
    for key in ("id", "type", "subject"):
        if key not in raw or raw[key] in (None, "", {}):
            raise InputError("is required", line=line, field=key)
    cert_id = raw["id"]
    if not isinstance(cert_id, str) or not 0 < len(cert_id) <= 128 or not cert_id.isprintable():
        raise InputError("must be a printable string of 1-128 characters", line=line, field="id")
    if not cert_id.isascii() and (hidden := hidden_character(cert_id, assigned=False)) is not None:
        # printable yet shown as nothing (a combining grapheme joiner, a Hangul filler): two certificate numbers
        # would display alike (red team round 81)
        raise InputError(
            f"holds {describe(hidden)}, a character that is not shown as itself, so the certificate number would "
            "display as another; remove it and issue again; nothing was issued",
            line=line,
            field="id",
        )
    if not isinstance(raw["type"], str) or not _TYPE.match(raw["type"]):
        raise InputError("must be lowercase letters, digits and '-' (e.g. business-licence)", line=line, field="type")
    subject = raw["subject"]
    if not isinstance(subject, dict):
        raise InputError("must be an object of named fields", line=line, field="subject")
    if len(subject) > MAX_FIELDS:
        raise InputError(f"has {len(subject)} fields; at most {MAX_FIELDS}", line=line, field="subject")
    for name, value in subject.items():
        if not _FIELD.match(name):
            raise InputError(
                "field names are a letter then letters, digits or '_' (max 64)", line=line, field=f"subject.{name}"
            )
        if type(value) is str:
            # the usual case, printable ASCII, passes at once; other text in two calls into C, mostly
            if not (value.isascii() and value.isprintable()) and hidden_character(value, assigned=False) is not None:
                _displayed_as_stated(value, name, line)
        elif isinstance(value, (dict, list)):
            _displayed_as_stated(value, name, line)
        if isinstance(value, float) and value != value:
            raise InputError("NaN cannot be certified", line=line, field=f"subject.{name}")
        if type(value) is not str and (inexact := inexact_double(value)) is not None:  # red team round 52o
            number, path = inexact
            where = f"subject.{name}" + ("" if not path else path if path.startswith("[") else "." + path)
            raise InputError(f"number {number!r} {inexact_double_problem(number)}", line=line, field=where)
    issuer = raw.get("issuer")
    if issuer is not None and department is not None and issuer != department:
        raise InputError(
            f"record names issuer {issuer!r} but is being issued by {department!r}", line=line, field="issuer"
        )
    start, end = raw.get("valid_from"), raw.get("valid_until")
    valid_from = _date(start, "valid_from", line, end=False) if start is not None else None
    valid_until = _date(end, "valid_until", line, end=True) if end is not None else None
    if valid_from and valid_until and valid_until[1] < valid_from[1]:  # instants, not strings: time zones differ
        raise InputError(
            f"{valid_until[0]} ({valid_until[1].isoformat()}) is before valid_from {valid_from[0]} "
            f"({valid_from[1].isoformat()})",
            line=line,
            field="valid_until",
        )
    attachments = raw.get("attachments")
    if attachments is not None:
        if not isinstance(attachments, list) or not attachments:
            raise InputError("must be a non-empty list of {name, sha256}", line=line, field="attachments")
        for i, item in enumerate(attachments):
            if (
                not isinstance(item, dict)
                or set(item) - {"name", "sha256", "media_type"}
                or not isinstance(item.get("name"), str)
                or not _SHA256.match(str(item.get("sha256", "")))
            ):
                raise InputError(
                    "each attachment is {name, sha256 (64 lowercase hex), media_type?}",
                    line=line,
                    field=f"attachments[{i}]",
                )
            if "media_type" in item and type(item["media_type"]) is not str:  # docs/format.md: text
                raise InputError(
                    "an attachment's media_type is text (e.g. application/pdf)", line=line, field=f"attachments[{i}]"
                )
            # the text a clerk reads to know what the attached file is: round 71's rule for subject fields (a
            # right-to-left override made invoice<RLO>fdp.exe display as invoiceexe.pdf; red team round 81)
            for member in ("name", "media_type"):
                text = item.get(member)
                if text is not None and not (text.isascii() and text.isprintable()):
                    hidden = hidden_character(text, assigned=False)
                    if hidden is not None:
                        raise InputError(
                            f"holds {describe(hidden)}, a character that is not shown as itself (a bidirectional "
                            "control, a zero-width or filler character, a control character, a line separator), "
                            "so the attachment would display as another than it states: remove it and issue "
                            "again; nothing was issued",
                            line=line,
                            field=f"attachments[{i}].{member}",
                        )
    return Record(
        line,
        cert_id,
        raw["type"],
        subject,
        valid_from[0] if valid_from else None,
        valid_until[0] if valid_until else None,
        attachments,
    )


def record_fields(record: Record, department: str, issued_at: str) -> dict[str, Any]:
    """The flat field map of the certificate issued from ``record``."""
    fields: dict[str, Any] = {
        "id": record.certificate_id,
        "type": record.cert_type,
        "issuer": department,
        "issued_at": issued_at,
    }
    if record.valid_from is not None:
        fields["valid_from"] = record.valid_from
    if record.valid_until is not None:
        fields["valid_until"] = record.valid_until
    if record.attachments is not None:
        fields["attachments"] = record.attachments
    for name, value in record.subject.items():
        fields[f"subject.{name}"] = value
    return fields


@dataclass(frozen=True, slots=True)
class Sealed:
    """A certificate's fields, salts and digest, ready to be put in a batch."""

    fields: dict[str, Any]
    salts: dict[str, bytes]
    digest: bytes


def seal_fields(fields: Mapping[str, Any], random_bytes: bytes) -> Sealed:
    """Salt and hash every field; ``random_bytes`` supplies SALT_BYTES per field (os.urandom in production)."""
    if len(random_bytes) < SALT_BYTES * len(fields):
        raise InputError("not enough random bytes for the salts")
    salts = {name: random_bytes[i * SALT_BYTES : (i + 1) * SALT_BYTES] for i, name in enumerate(fields)}
    hashes = field_hashes(fields, salts)
    return Sealed(dict(fields), salts, certificate_digest(hashes, fields.get("type")))


def seal_many(all_fields: list[dict[str, Any]], randomness: bytes) -> list[bytes]:
    """The digests of many certificates' fields, salted in order from ``randomness`` (SALT_BYTES per field, the
    certificates one after another): for each, ``seal_fields(fields, its slice).digest``, byte for byte.

    Issuance's loop: the certificates of a file share a few layouts (field names in order), and what depends only
    on a layout (each name's ``utf8(name) || 0x00``, the canonical order of the names, the text of the digest's
    body around the hashes) is worked out once per layout and call; per field what remains is one SHA-256 of the
    joined parts. A layout the fast path does not cover (a name that is not printable ASCII) and any value that is
    not a printable string go through :func:`canonical.field_hashes` / :func:`canonical.canonical_json` as
    :func:`seal_fields` does, with the same errors. The native fast path (``canonical.NATIVE``) seals a plain
    certificate in one call, and leaves anything else to this loop."""
    if len(randomness) < SALT_BYTES * sum(len(f) for f in all_fields):
        raise InputError("not enough random bytes for the salts")
    native = NATIVE.sealed_digest if NATIVE is not None else None
    layouts: dict[tuple[str, ...], tuple[list[bytes], str, list[int]] | None] = {}
    sha, quote, prefix, cert_prefix = _sha256, _json_string, FIELD_PREFIX, CERT_PREFIX
    digests = []
    offset = 0
    for fields in all_fields:
        if native is not None:
            inner = native(fields, randomness, offset, SALT_BYTES, prefix, cert_prefix, CERT_FORMAT, canonical_json)
            if inner is not None:  # the fields digest: the type's layer is added here
                digests.append(_typed(fields, inner))
                offset += SALT_BYTES * len(fields)
                continue
        key = tuple(fields)
        if key in layouts:
            layout = layouts[key]
        else:
            layout = layouts[key] = _layout(key)
        end = offset + SALT_BYTES * len(key)
        if layout is None:
            digests.append(seal_fields(fields, randomness[offset:end]).digest)
            offset = end
            continue
        parts, text, order = layout
        hexes = []
        for part, value in zip(parts, fields.values(), strict=True):
            salt = randomness[offset : offset + SALT_BYTES]
            offset += SALT_BYTES
            if type(value) is str and value.isprintable():
                hexes.append(sha(b"".join((prefix, salt, part, quote(value).encode("utf-8")))).hexdigest())
            else:
                hexes.append(sha(b"".join((prefix, salt, part, canonical_json(value)))).hexdigest())
        digests.append(_typed(fields, sha(cert_prefix + (text % tuple([hexes[i] for i in order])).encode()).digest()))
    return digests


def _typed(fields: Mapping[str, Any], fields_digest: bytes) -> bytes:
    """The digest of the certificate of ``fields`` whose fields digest is ``fields_digest``: its type's layer, as
    :func:`canonical.certificate_digest` adds it (with its errors)."""
    return typed_digest(certificate_schema(fields.get("type")), fields_digest)


def _layout(names: tuple[str, ...]) -> tuple[list[bytes], str, list[int]] | None:
    """Per field name ``utf8(name) || 0x00``, the digest body's template and the names' canonical order (indexes
    into ``names``); None when the names need the general path."""
    if not all(type(n) is str and n.isascii() and n.isprintable() for n in names):
        return None
    text, order = _digest_template((CERT_FORMAT, *names))
    if not text:
        return None
    position = {n: i for i, n in enumerate(names)}
    return [n.encode("ascii") + b"\x00" for n in names], text, [position[n] for n in order]


# -- reading input files ---------------------------------------------------------------------------------------


def iter_raw_records(path: Path, *, max_record_bytes: int = MAX_RECORD_BYTES) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed record) from a JSONL or CSV file, streaming; InputError on a bad line."""
    suffix = path.suffix.lower()
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        if suffix == ".csv":
            yield from _iter_csv(handle, max_record_bytes)
            return
        yield from iter_jsonl_lines(bounded_lines(handle, max_record_bytes), max_record_bytes=max_record_bytes)


def open_without_waiting(path: str | Path) -> BinaryIO:
    """A file others hand the ledger, opened for reading in binary without waiting: a named pipe no process writes
    to would keep ``open()`` waiting for a writer for ever (red team round 56). Blocking again once open, so a pipe
    a process writes to (``<(...)``) is read to its end, and one with no writer reads as empty. OSError as open()."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """The bytes of the file at ``path``, with at most ``limit + 1`` of them ever in memory: InputError when it holds
    more than ``limit`` (``what`` names what it should be: "approval file"), or cannot be read. For every file the
    ledger takes from others: one padded to a gigabyte, or a name such as /dev/zero, is refused, not read to its end
    (red team round 54)."""
    if "\x00" in str(path):  # no file name holds a NUL (open() would raise ValueError)
        raise InputError(f"{str(path)[:80]!r} is no file name (it holds a NUL character): give the {what}")
    try:
        with open_without_waiting(path) as handle:
            raw = handle.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read the {what} {path}: {exc.strerror}") from None
    if len(raw) > limit:
        raise InputError(
            f"the {what} {path} is over {limit} bytes, more than any {what} holds: it is refused unread; ask for it again"
        )
    return raw


def bounded_lines(handle: Any, max_bytes: int, *, first_line: int = 1) -> Iterator[bytes]:
    """The lines of a binary file, each read with at most ``max_bytes + 1`` bytes in memory: InputError naming
    the line that is longer (a file of one endless line, or /dev/zero, is refused, not read to the end)."""
    for number in itertools.count(first_line):
        line = handle.readline(max_bytes + 1)
        if not line:
            return
        if len(line) > max_bytes:  # as iter_jsonl_lines counts: the newline included
            raise InputError(f"record is over {max_bytes} bytes; the limit is {max_bytes}", line=number)
        yield line


def iter_jsonl_lines(
    lines: Iterable[bytes],
    *,
    first_line: int = 1,
    max_record_bytes: int = MAX_RECORD_BYTES,
    loads: Callable[[bytes], Any] = strict_json_loads,
) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed record) from lines of a JSONL file (each with its newline), numbered from
    ``first_line``; blank lines are skipped; InputError on a bad line. Issuance worker processes parse slices of a
    file with it, exactly as :func:`iter_raw_records` parses the whole (``loads``: ``strict_json_loads`` or a
    function giving its values and errors)."""
    for line_no, raw_line in enumerate(lines, start=first_line):
        if len(raw_line) > max_record_bytes:
            raise InputError(f"record is {len(raw_line)} bytes; the limit is {max_record_bytes}", line=line_no)
        if not raw_line.strip():
            continue
        try:
            if raw_line.count(b"[") + raw_line.count(b"{") > MAX_INPUT_DEPTH:  # a record seldom has any: no call
                check_input_depth(raw_line)  # before either parser: orjson alone (the workers') reads 1,024 levels
            yield line_no, loads(raw_line)
        except UnicodeDecodeError:
            raise InputError("is not UTF-8", line=line_no) from None
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON: {exc.msg} at column {exc.colno}", line=line_no) from None
        except InputError as exc:
            raise InputError(str(exc), line=line_no) from None


def _iter_csv(handle: Any, max_record_bytes: int) -> Iterator[tuple[int, Any]]:
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
    reader = csv.DictReader(text)
    if not reader.fieldnames:
        raise InputError("the CSV file has no header row", line=1)
    twice = sorted({name for name in reader.fieldnames if reader.fieldnames.count(name) > 1})
    if twice:  # DictReader would keep the last column of each name
        raise InputError(f"duplicate column {twice[0]!r} in the header row; remove one of them", line=1)
    for row in reader:
        line_no = reader.line_num
        if sum(len(v or "") for v in row.values() if isinstance(v, str)) > max_record_bytes:
            raise InputError(f"record is larger than {max_record_bytes} bytes", line=line_no)
        if None in row:
            raise InputError("has more columns than the header", line=line_no)
        record: dict[str, Any] = {}
        subject: dict[str, Any] = {}
        for key, value in row.items():
            if value in (None, ""):
                continue
            if key.startswith("subject."):
                subject[key.removeprefix("subject.")] = value
            else:
                record[key] = value
        if subject:
            record["subject"] = subject
        yield line_no, record


# -- the holder's certificate document ------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateDocument:
    """A certificate (or presentation) as the holder keeps it and the verifier reads it."""

    fields: dict[str, Any]
    salts: dict[str, bytes]
    hidden: dict[str, bytes]
    anchor: dict[str, Any]
    fmt: str = CERT_FORMAT
    stated_digest: bytes | None = None  # the digest the file claims; verification recomputes its own

    def __init__(
        self,
        fields: dict[str, Any],
        salts: dict[str, bytes],
        hidden: dict[str, bytes],
        anchor: dict[str, Any],
        fmt: str = CERT_FORMAT,
        stated_digest: bytes | None = None,
    ) -> None:
        # the generated __init__ of a frozen dataclass sets each field through object.__setattr__ (~0.1 µs each);
        # a verifier reads one document per certificate
        attributes = self.__dict__
        attributes["fields"] = fields
        attributes["salts"] = salts
        attributes["hidden"] = hidden
        attributes["anchor"] = anchor
        attributes["fmt"] = fmt
        attributes["stated_digest"] = stated_digest

    def field_hashes(self) -> dict[str, bytes]:
        return dict(sorted(self._field_hashes().items()))

    def _field_hashes(self) -> dict[str, bytes]:
        hashes = field_hashes(self.fields, self.salts)
        hashes.update(self.hidden)
        return hashes

    def digest(self) -> bytes:
        """The certificate's digest from its fields, salts and hidden hashes (pl-cert/2: the type's layer needs the
        type disclosed; InputError otherwise). The native call (``_hashcore.document_digest``) answers the plain
        case in one go; :meth:`_digest` is the reference, which it reproduces byte for byte or declines to
        (tests/test_hashcore.py)."""
        fields = self.fields
        if _NATIVE_DIGEST is not None and type(fields) is dict and self.fmt == CERT_FORMAT:
            schema = plain_type_schema(fields.get("type"))
            if schema is not None:
                found: bytes | None = _NATIVE_DIGEST(
                    fields,
                    self.salts,
                    self.hidden,
                    SALT_BYTES,
                    FIELD_PREFIX,
                    CERT_PREFIX,
                    CERT_FORMAT,
                    CERT_TAG,
                    schema,
                )
                if found is not None:
                    return found
        return self._digest()

    def _digest(self) -> bytes:
        """:meth:`digest` in Python: the reference."""
        # it orders the names itself; the type's layer needs the type disclosed (InputError otherwise)
        return certificate_digest(self._field_hashes(), self.fields.get("type"), self.fmt)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "format": self.fmt,
            "fields": self.fields,
            "salts": {k: v.hex() for k, v in self.salts.items()},
        }
        if self.hidden:
            doc["hidden"] = {k: v.hex() for k, v in self.hidden.items()}
        doc["digest"] = hex32(self.digest())
        doc["anchor"] = self.anchor
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> CertificateDocument:
        """Parse a certificate document; InputError says which part is malformed.

        The shape is the published one: the document is validated by ``CertificateDocumentModel``
        (``formats/schemas.py``, the model ``docs/schema/certificate-document.schema.json`` is generated from), strict
        as JSON is (a number is not a string, ``true`` is not ``1``), so the reader and the schema cannot drift apart.
        What the model cannot say (every disclosed field has its salt, no field both disclosed and hidden) is checked
        here; what the document means is checked by verification.

        The native fast path (``_hashcore.document_parts``) reads a document that certainly has this shape (exact
        JSON types, ASCII member names, numbers within 64 bits) and gives the same parts; anything else it leaves
        to the model and the checks below, which stay the reference (tests/test_hashcore.py compares the two)."""
        if _NATIVE_PARTS is not None:
            parts = _NATIVE_PARTS(doc, CERT_FORMAT, 2 * SALT_BYTES)
            if parts is not None:
                fields, salts, hidden, anchor, stated = parts
                return cls(fields, salts, hidden, anchor, CERT_FORMAT, stated)
        return cls._from_json(doc)

    @classmethod
    def _from_json(cls, doc: Any) -> CertificateDocument:
        """:meth:`from_json` in Python: the reference."""
        try:
            _DOCUMENT_SHAPE(doc)
        except ValidationError as exc:
            raise _shape_error(exc) from None
        fields, salts_raw, hidden_raw = doc["fields"], doc["salts"], doc.get("hidden") or {}
        if salts_raw.keys() != fields.keys():
            missing = sorted(set(fields) - set(salts_raw))
            extra = sorted(set(salts_raw) - set(fields))
            raise InputError(f"every disclosed field needs its salt (missing {missing}, extra {extra})", field="salts")
        overlap = fields.keys() & hidden_raw.keys() if hidden_raw else None
        if overlap:
            raise InputError(f"fields both disclosed and hidden: {sorted(overlap)}", field="hidden")
        salts = {name: bytes.fromhex(value) for name, value in salts_raw.items()}
        hidden = {name: bytes.fromhex(value.removeprefix("0x")) for name, value in hidden_raw.items()}
        stated = bytes.fromhex(doc["digest"].removeprefix("0x")) if doc.get("digest") is not None else None
        return cls(
            fields=fields, salts=salts, hidden=hidden, anchor=doc["anchor"], fmt=CERT_FORMAT, stated_digest=stated
        )

    @classmethod
    def content_digest(cls, doc: Any) -> bytes:
        """The digest of the certificate whose ``fields``, ``salts`` and ``hidden`` members ``doc`` carries, whatever
        the rest of it (format, anchor) looks like: to label a copy of a certificate that verification refused for
        its anchor (erasure must still find it). InputError when those three members are malformed."""
        return cls._content(doc).digest()

    @classmethod
    def content_fields_digest(cls, doc: Any) -> bytes:
        """The fields digest (:func:`canonical.fields_digest`) of the certificate whose ``fields``, ``salts`` and
        ``hidden`` members ``doc`` carries: computable when its type is hidden, which its digest is not (pl-cert/2),
        so that a copy whose holder hid the type can still be told to be a copy of a known certificate (red team
        round 55). InputError when those three members are malformed."""
        return fields_digest(cls._content(doc).field_hashes())

    @classmethod
    def _content(cls, doc: Any) -> CertificateDocument:
        if not isinstance(doc, Mapping):
            raise InputError("a certificate document is a JSON object")
        return cls.from_json(
            {
                "format": CERT_FORMAT,
                "fields": doc.get("fields"),
                "salts": doc.get("salts"),
                **({"hidden": doc["hidden"]} if "hidden" in doc else {}),
                "anchor": _ANY_ANCHOR,
            }
        )

    def present(self, reveal: list[str] | set[str]) -> CertificateDocument:
        """A presentation revealing only ``reveal`` (plus the fields every verifier needs)."""
        keep = set(reveal) | (set(ALWAYS_DISCLOSED) & set(self.fields))
        unknown = set(reveal) - set(self.fields) - set(self.hidden)
        if unknown:
            raise InputError(f"cannot reveal unknown fields {sorted(unknown)}")
        not_here = keep & set(self.hidden)
        if not_here - set(REQUIRED_DISCLOSED) or not_here & set(reveal):
            raise InputError(f"fields {sorted(not_here)} are hidden in this document and cannot be revealed")
        hashes = self.field_hashes()
        fields = {k: v for k, v in self.fields.items() if k in keep}
        salts = {k: v for k, v in self.salts.items() if k in keep}
        hidden = {k: h for k, h in hashes.items() if k not in fields}
        return CertificateDocument(fields=fields, salts=salts, hidden=hidden, anchor=self.anchor, fmt=self.fmt)


# A well-formed anchor section standing in for a copy's own (content_digest reads only fields, salts and hidden).
_ANY_ANCHOR: dict[str, Any] = {
    "chain_id": 1,
    "contract": "0x" + "00" * 20,
    "registry": "0x" + "00" * 20,
    "root": "0x" + "00" * 32,
    "department": "-",
    "signer": "0x" + "00" * 20,
    "signature": "0x" + "00" * 65,
    "count": 1,
    "schema": "0x" + "00" * 32,
    "tx_hash": "0x" + "00" * 32,
    "block_number": 0,
    "block_hash": "0x" + "00" * 32,
    "block_time": 0,
    "proof": [],
}
_DOCUMENT_SHAPE = CertificateDocumentModel.__pydantic_validator__.validate_python  # no model built: only the verdict
_NATIVE_PARTS = getattr(NATIVE, "document_parts", None)  # None: not built, or a build older than it
_NATIVE_DIGEST = getattr(NATIVE, "document_digest", None)  # None: not built, or a build older than it

# What a reader is told when a member has the wrong shape, by where it is (pydantic's own words otherwise).
_SHAPE_WORDS = {
    "format": f"unknown certificate format; expected {CERT_FORMAT!r}",
    "fields": "missing or not an object",
    "salts": "missing or not an object of salts, one per disclosed field",
    "salt": f"salt must be {2 * SALT_BYTES} hex digits",
    "hidden": "not an object of hidden fields' hashes",
    "hash": "the hash of a hidden field must be 32 bytes as 64 hex digits",
    "digest": "must be 32 bytes as 64 hex digits (verification recomputes it)",
    "anchor": "missing or not an object; a certificate without its anchor cannot be verified",
}
_PATTERN_WORDS = {
    r"^0x[0-9a-fA-F]{64}$": "must be 32 bytes written as 0x and 64 hex digits",
    r"^0x[0-9a-fA-F]{40}$": "must be an address written as 0x and 40 hex digits",
    r"^0x[0-9a-fA-F]{130}$": "must be a 65-byte signature written as 0x and 130 hex digits",
}


def _shape_error(exc: ValidationError) -> InputError:
    """The first shape problem pydantic found, as an InputError naming the member (``anchor.proof.3``)."""
    error = exc.errors(include_url=False)[0]
    loc = [str(part) for part in error["loc"]]
    if not loc:
        return InputError("a certificate document is a JSON object")
    where = ".".join(loc)
    if loc[0] in ("salts", "hidden") and len(loc) > 1:
        words = _SHAPE_WORDS["salt" if loc[0] == "salts" else "hash"]
        where = f"{loc[0]}.{'.'.join(loc[1:])}"
    elif len(loc) == 1 and loc[0] in _SHAPE_WORDS:
        words = _SHAPE_WORDS[loc[0]]
        if loc[0] == "format":
            words = f"unknown certificate format {error.get('input')!r}; expected {CERT_FORMAT!r}"
        if error["type"] == "extra_forbidden":
            words = "is not a member of a pl-cert/2 document; remove it"
    elif error["type"] == "extra_forbidden":
        words = "is not a member of a pl-cert/2 document; remove it"
    elif error["type"] == "missing":
        words = "missing"
    else:
        pattern = str((error.get("ctx") or {}).get("pattern"))
        words = _PATTERN_WORDS.get(pattern) or f"{error['msg'][:1].lower()}{error['msg'][1:]}"
        if error["type"] in ("string_pattern_mismatch", "string_type", "int_type", "greater_than_equal"):
            value = error.get("input")
            if isinstance(value, str | int) and not isinstance(value, bool):
                words += f" (got {str(value)[:80]!r})"
            else:
                words += f" (got {type(value).__name__})"
    return InputError(words, field=where)


def load_document(source: str | Path | Mapping[str, Any]) -> CertificateDocument:
    """Read a certificate document from a file path or a parsed mapping, or the document inside a W3C Verifiable
    Credential exported by ``ledger export --vc`` (checked and converted by vc.py; docs/format.md §11)."""
    if isinstance(source, Mapping):
        if "@context" in source:
            from .vc import to_document

            source = to_document(source)
        # a dict as it is: from_json keeps none of the top level and changes nothing (another mapping is copied)
        return CertificateDocument.from_json(source if type(source) is dict else dict(source))
    if not isinstance(source, (str, Path)):
        raise InputError(f"a certificate document is a JSON object, got {type(source).__name__}")
    if "\x00" in str(source):  # no file name holds a NUL (open() would raise ValueError)
        raise InputError(f"{str(source)[:80]!r} is no file name (it holds a NUL character): give a certificate file")
    path = Path(source)
    try:
        with open_without_waiting(path) as handle:  # never more than the limit in memory (a holder may name /dev/zero)
            raw = handle.read(16 * MAX_RECORD_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    if len(raw) > 16 * MAX_RECORD_BYTES:
        raise InputError(f"{path} is over {16 * MAX_RECORD_BYTES} bytes, the most a certificate document may be")
    try:
        parsed = strict_json_loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from None
    except InputError as exc:  # a duplicate key
        raise InputError(f"{path}: {exc}") from None
    return load_document(parsed) if isinstance(parsed, Mapping) else CertificateDocument.from_json(parsed)


def read_sealed_body(plaintext: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Fields and salts from a sealed body's plaintext, of either layout (ValueError/KeyError when malformed)."""
    body = json.loads(plaintext)
    fields = body["fields"]
    if "salts" in body:
        return fields, {k: bytes.fromhex(v) for k, v in body["salts"].items()}
    packed = base64.b64decode(body["s"], validate=True)
    if not isinstance(fields, dict) or len(packed) != SALT_BYTES * len(fields):
        raise ValueError(f"the sealed body holds {len(packed)} bytes of salts for {len(fields)} fields")
    return fields, {name: packed[i * SALT_BYTES : (i + 1) * SALT_BYTES] for i, name in enumerate(fields)}
