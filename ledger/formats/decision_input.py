"""A decision's input committed field by field (``pl-input/1``), so a bundle can disclose it selectively.

The stored input of a decision (``decisions.DecisionInput``) is a nested JSON object. For a court to re-run the
decision from an evidence bundle alone, the decision record commits to that input in a way a bundle can open one
field at a time, hiding what it need not show, exactly as a certificate does (docs/format.md):

* the input is flattened into **fields** named by dotted paths (``item.onsite_reason``, ``applicant.blacklisted``,
  ``certificates``): every non-empty mapping is descended into, anything else is one field; keys are escaped
  JSON-Pointer style (``~`` as ``~0``, ``.`` as ``~1``, ``@`` as ``~2``) so :func:`unflatten` rebuilds any input;
* each field is hashed with its own salt exactly like a certificate field,
  ``SHA-256("pl-field\\0" || salt || name || "\\0" || JCS(value))``, and the record's ``input_commitment`` is
  ``0x`` + ``SHA-256("pl-input\\0" || JCS({"fields": {name: hex hash}, "format": "pl-input/1"}))``;
* the applicant's identity, which the record otherwise keeps only as the keyed ``applicant_ref``, is committed
  as the field hash of ``@applicant`` (``applicant_commitment``): disclosing it lets a verifier work out whether
  a cited certificate names the applicant (the ``holder`` fact).

Fields a certificate copies (``RuleSet.personal``: what ``produces`` takes from ``application.*`` or
``applicant.*``, and what a rule set declares ``personal``) are never stored in clear (:func:`seal_fields`): the
stored input holds them only as their field hashes under ``input_sealed`` (:data:`SEALED_KEY`), each hashed with a
**random** salt that is sealed with the value (``SealedInput``), so the erasure of that certificate leaves hashes
nobody can confirm a guess against, not even with the department's secret. The commitment is unchanged in form:
the hashes of the fields in clear and the sealed hashes, one set of fields.

Salts are 16 bytes derived, not stored: ``HMAC-SHA256(department secret, "pl-input-salt\\0" || input_digest ||
"\\0" || name)[:16]``, with the department's applicant secret (sealed by the vault), so only the department can
open its commitments and nothing new has to be kept. Format and checks: docs/evidence.md.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import InputError, VerificationError
from .canonical import (
    FIELD_PREFIX,
    MAX_JSON_DEPTH,
    NATIVE,
    SALT_BYTES,
    canonical_json,
    field_hashes,
    hex32,
    tagged_digest,
)

__all__ = [
    "APPLICANT_FIELD",
    "INPUT_FORMAT",
    "SEALED_KEY",
    "commit",
    "commitment",
    "flatten",
    "input_commitment_of",
    "input_commitments_of",
    "open_input",
    "opening",
    "seal_fields",
    "sealed_hashes",
    "unflatten",
]

INPUT_FORMAT = "pl-input/1"
APPLICANT_FIELD = "@applicant"
SEALED_KEY = "input_sealed"  # the stored input's {field: hex hash} of the fields sealed apart (seal_fields)
_NONCE_KEY = "input_nonce"  # decisions.INPUT_NONCE: no part of the commitment
_PREFIX = b"pl-input\x00"
_SALT_PREFIX = b"pl-input-salt\x00"
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
# the native salted input hashes (``_hashcore.input_hashes``), or None (not built, or a build older than it)
_NATIVE_INPUT_HASHES = getattr(NATIVE, "input_hashes", None)
_NATIVE_FLATTEN = getattr(NATIVE, "flatten", None)
_NATIVE_INPUT_COMMITMENTS = getattr(NATIVE, "input_commitments", None)
# The most a decision's stored input may be, as canonical JSON (its text, without the cited documents the ledger
# seals apart): every evidence bundle of the decision carries it whole beside its rule set (at most
# rules.MAX_RULE_SET_BYTES), and both bundle readers take at most 4 MiB (evidence.MAX_BUNDLE_BYTES): an applicant's
# own input could otherwise leave their decision with no bundle any court reads (red team round 54). Honest
# applications are a few kilobytes.
MAX_INPUT_BYTES = 1024 * 1024
# ... and the fields it flattens to: a bundle opens the input field by field, each name with its value and its salt
# (a shared prefix, written once in the input, is written again in every name): at most this many fields, and this
# many characters in all their names (the shipped rule sets' applications: ~25 fields, ~700 characters).
MAX_INPUT_FIELDS = 2_000
MAX_INPUT_NAME_CHARS = 256 * 1024

_IPAD = bytes(x ^ 0x36 for x in range(256))  # HMAC's key pads as translation tables (as the hmac module does)
_OPAD = bytes(x ^ 0x5C for x in range(256))


def _escape(key: str) -> str:
    if "~" not in key and "." not in key and "@" not in key:  # nearly every key
        return key
    return key.replace("~", "~0").replace(".", "~1").replace("@", "~2")


def _unescape(segment: str) -> str:
    return segment.replace("~2", "@").replace("~1", ".").replace("~0", "~")


def flatten(decision_input: Mapping[str, Any]) -> dict[str, Any]:
    """The input's fields by dotted path: every non-empty mapping is descended into; any other value (a list, a
    scalar, an empty mapping) is one field. Keys are escaped as in JSON Pointer ("~" as "~0", "." as "~1", and
    "@" as "~2", so no input field can be named ``@applicant``).

    The native walk (``_hashcore.flatten``) answers plain JSON objects; :func:`_flatten_py`, the reference, answers
    anything it declines (tests/test_hashcore.py compares the two)."""
    if _NATIVE_FLATTEN is not None:
        fields: dict[str, Any] | None = _NATIVE_FLATTEN(decision_input, _escape)
        if fields is not None:
            return fields
    return _flatten_py(decision_input)


def _flatten_py(decision_input: Mapping[str, Any]) -> dict[str, Any]:
    """The reference of :func:`flatten` (pure Python)."""
    fields: dict[str, Any] = {}

    def walk(name: str, value: Any) -> None:
        for key, inner in value.items():
            # _escape inlined for the usual key (a str without "~", "." or "@"): one call fewer per field
            text = key if type(key) is str else str(key)
            if "~" in text or "." in text or "@" in text:
                text = _escape(text)
            path = name + "." + text
            kind = type(inner)
            if kind is dict:
                if inner:
                    walk(path, inner)
                else:
                    fields[path] = inner
            elif inner is None or kind is str or kind is int or kind is bool or kind is list or kind is float:
                fields[path] = inner  # JSON's other types: never a Mapping, no need of the ABC's check
            elif inner and isinstance(inner, Mapping):
                walk(path, inner)
            else:
                fields[path] = inner

    for key, value in decision_input.items():
        name = _escape(str(key))
        if (type(value) is dict or isinstance(value, Mapping)) and value:
            walk(name, value)
        else:
            fields[name] = value
    return fields


def unflatten(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The object ``flatten`` took apart (the ``@applicant`` field, if present, is left out).

    VerificationError for fields no input flattens to (:func:`_refuse_ambiguous`): one lying inside another
    (``item`` and ``item.x``), or two naming one path (``item.a~`` and ``item.a~0``), whose meaning would depend on
    the order the fields are listed in; a path deeper than any JSON input nests."""
    _refuse_ambiguous(fields)
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name == APPLICANT_FIELD:
            continue
        segments = [_unescape(s) for s in name.split(".")]
        node = out
        for segment in segments[:-1]:
            node = node.setdefault(segment, {})
        node[segments[-1]] = value
    return out


def _refuse_ambiguous(fields: Iterable[str]) -> None:
    """VerificationError unless every field names its own path of the input, none inside another's: one pass over
    a tree of the paths (leaves hold the field's name), linear in the names' length. Comparing every prefix of a
    name with the others was quadratic: a forged bundle's 2 MB name ``a.a.a...`` held a verifier for hours."""
    tree: dict[str, Any] = {}
    for name in fields:
        segments = name.split(".")
        if len(segments) > MAX_JSON_DEPTH:
            raise VerificationError(
                f"input field {name[:60]!r}... is a path of {len(segments)} segments: no input nests deeper than "
                f"{MAX_JSON_DEPTH} levels, so no input flattens to it"
            )
        node = tree
        for segment in segments[:-1]:
            below = node.setdefault(_unescape(segment), {})
            if isinstance(below, str):
                raise _inside(name, below)
            node = below
        last = _unescape(segments[-1])
        there = node.get(last)
        if isinstance(there, str):
            raise VerificationError(
                f"input fields {there!r} and {name!r} name the same path of the input: no input flattens to "
                "both, so the input these fields commit to is ambiguous"
            )
        if there is not None:
            while isinstance(there, dict):  # every inner node leads to a field
                there = next(iter(there.values()))
            raise _inside(there, name)
        node[last] = name


def _inside(inner: str, outer: str) -> VerificationError:
    return VerificationError(
        f"input field {inner!r} lies inside field {outer!r}: no input flattens to both, so the input these fields "
        "commit to is ambiguous"
    )


def _hmac_keyed(secret: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256's inner and outer hashes with ``secret``'s padded key already absorbed (RFC 2104), so each
    salt costs two hash copies instead of the key schedule that ``hmac.new`` redoes on every call."""
    key = (hashlib.sha256(secret).digest() if len(secret) > 64 else secret).ljust(64, b"\x00")
    return hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD))


def _salt_message(input_digest: str) -> bytes:
    """What every field's salt derivation of the input ``input_digest`` begins with (then the field's name)."""
    return _SALT_PREFIX + input_digest.lower().encode("ascii") + b"\x00"


def salts(secret: bytes, input_digest: str, names: Iterable[str]) -> dict[str, bytes]:
    """The derived salt of every field ``names`` of the input with digest ``input_digest``:
    ``HMAC-SHA256(secret, "pl-input-salt\\0" || input_digest || "\\0" || name)[:16]``."""
    inner, outer = _hmac_keyed(secret)
    inner.update(_salt_message(input_digest))
    derived: dict[str, bytes] = {}
    for name in names:
        i = inner.copy()
        i.update(name.encode("utf-8"))
        o = outer.copy()
        o.update(i.digest())
        derived[name] = o.digest()[:SALT_BYTES]
    return derived


def _salted_hashes(secret: bytes, input_digest: str, fields: Mapping[str, Any]) -> dict[str, bytes]:
    """``field_hashes(fields, salts(secret, input_digest, fields))`` in one pass (what every decision and every
    replayed decision computes): each field's salt is derived and used at once, ``SHA-256("pl-field\\0" || salt ||
    name || "\\0" || JCS(value))`` exactly as ``canonical.field_hashes`` hashes it.

    The native fast path (``_hashcore.input_hashes``, OpenSSL's SHA-256) answers the plain case;
    :func:`_salted_hashes_py`, the reference, answers anything it declines, errors included
    (tests/test_hashcore.py compares the two)."""
    if _NATIVE_INPUT_HASHES is not None:
        hashes: dict[str, bytes] | None = _NATIVE_INPUT_HASHES(
            fields, secret, _salt_message(input_digest), SALT_BYTES, FIELD_PREFIX, canonical_json
        )
        if hashes is not None:
            return hashes
    return _salted_hashes_py(secret, input_digest, fields)


def _salted_hashes_py(secret: bytes, input_digest: str, fields: Mapping[str, Any]) -> dict[str, bytes]:
    """The reference of :func:`_salted_hashes` (pure Python)."""
    inner, outer = _hmac_keyed(secret)
    inner.update(_salt_message(input_digest))
    sha256 = hashlib.sha256
    hashes: dict[str, bytes] = {}
    try:
        for name, value in fields.items():
            encoded = name.encode("utf-8")
            i = inner.copy()
            i.update(encoded)
            o = outer.copy()
            o.update(i.digest())
            hashes[name] = sha256(
                b"".join((FIELD_PREFIX, o.digest()[:SALT_BYTES], encoded, b"\x00", canonical_json(value)))
            ).digest()
    except UnicodeEncodeError:
        raise InputError(f"field name {name!r} is not valid Unicode text (a lone surrogate?)") from None
    return hashes


def commitment(hashes: Mapping[str, bytes]) -> str:
    """``input_commitment`` of the field hashes (disclosed and hidden fields alike)."""
    # {"fields": {name: hex hash}, "format": "pl-input/1"} in RFC 8785 form: the same body a certificate digest has
    return hex32(tagged_digest(_PREFIX, hashes, INPUT_FORMAT))


def seal_fields(
    stored_input: Mapping[str, Any], names: Iterable[str]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, bytes]]:
    """(the input as stored, the fields sealed away, their random salts): every field (dotted path, as
    :func:`flatten` names it) that is one of ``names`` or lies inside one is taken out of the stored input, which
    keeps its field hash under :data:`SEALED_KEY` instead; each salt is 16 random bytes, sealed with its value by
    the caller and destroyed with it, never derived from the department's secret. An input holding none of
    ``names`` is returned as it is, with nothing sealed. The input's bound counts the sealed fields too: the caller
    adds :func:`sealed_bytes` of them to the stored input's text (``decisions._input_row``), so that the input is
    canonicalised once, as stored, not also whole here."""
    wanted = tuple(names)
    if not wanted:
        return dict(stored_input), {}, {}
    fields = flatten(stored_input)
    sealed = {n: v for n, v in fields.items() if any(n == p or n.startswith(p + ".") for p in wanted)}
    if not sealed:
        return dict(stored_input), {}, {}
    randomness = os.urandom(SALT_BYTES * len(sealed))
    salted = {n: randomness[i * SALT_BYTES : (i + 1) * SALT_BYTES] for i, n in enumerate(sorted(sealed))}
    hashes = field_hashes(sealed, salted)
    kept = unflatten({n: v for n, v in fields.items() if n not in sealed})
    kept[SEALED_KEY] = {n: hashes[n].hex() for n in sorted(sealed)}
    return kept, sealed, salted


def sealed_bytes(sealed: Mapping[str, Any]) -> int:
    """What the fields :func:`seal_fields` took out of an input add to it, in canonical JSON bytes (each name and
    value, as the input spelt them): the input's bound (``MAX_INPUT_BYTES``, checked on the stored text) counts them,
    since every bundle of the decision opens them, so megabytes typed in one made the decision's bundle one no
    verifier reads (red team round 56)."""
    return sum(len(canonical_json(name)) + len(canonical_json(value)) + 1 for name, value in sealed.items())


def refuse_sealed_past_bound(stored_bytes: int, sealed: Mapping[str, Any]) -> None:
    """InputError when an input whose stored text is ``stored_bytes`` long, with the fields :func:`seal_fields` took
    out of it (``sealed``) counted back in (:func:`sealed_bytes`), is past :data:`MAX_INPUT_BYTES`."""
    if sealed and (size := stored_bytes + sealed_bytes(sealed)) > MAX_INPUT_BYTES:
        raise InputError(
            f"the decision input is {size:,} bytes with the fields its rule set keeps sealed apart, past the "
            f"{MAX_INPUT_BYTES:,} a decision's input may be (its evidence bundle opens them all): send the "
            "application's own fields, not documents or data attached to it"
        )


def sealed_hashes(stored_input: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """(the stored input without its :data:`SEALED_KEY` and nonce, the hashes of the fields sealed apart).
    VerificationError for a :data:`SEALED_KEY` that is not field names with 32-byte hex hashes, or that names a
    field the input also holds in clear (the ledger never writes either)."""
    rest = {k: v for k, v in stored_input.items() if k != SEALED_KEY and k != _NONCE_KEY}
    marker = stored_input.get(SEALED_KEY)
    if marker is None:
        return rest, {}
    if (
        not isinstance(marker, dict)
        or not marker
        or not all(isinstance(h, str) and len(h) == 64 and _HEX.fullmatch(h) for h in marker.values())
    ):
        raise VerificationError(
            f"the stored input's {SEALED_KEY} is not an object of field names and 32-byte hex hashes: the ledger "
            "never writes it so (the stored input was edited)"
        )
    _refuse_ambiguous([*flatten(rest), *marker])
    return rest, {str(n): bytes.fromhex(h) for n, h in marker.items()}


def commit(secret: bytes, stored_input: Mapping[str, Any], input_digest: str, identity: str) -> tuple[str, str]:
    """(``input_commitment``, ``applicant_commitment``) a decision records for its stored input and applicant."""
    sealed: dict[str, bytes] = {}
    if SEALED_KEY in stored_input:
        stored_input, sealed = sealed_hashes(stored_input)
    fields = flatten(stored_input)
    if len(fields) + len(sealed) > MAX_INPUT_FIELDS or sum(map(len, fields)) > MAX_INPUT_NAME_CHARS:
        raise InputError(
            f"the decision input has {len(fields) + len(sealed):,} fields named in "
            f"{sum(map(len, fields)):,} characters: at most {MAX_INPUT_FIELDS:,} fields and "
            f"{MAX_INPUT_NAME_CHARS:,} characters of names (every evidence bundle of the decision opens it field by "
            "field); send the application's own fields, not data attached to it"
        )
    fields[APPLICANT_FIELD] = identity  # flatten escapes "@": no input field has this name
    hashes = _salted_hashes(secret, input_digest, fields)
    applicant = hashes.pop(APPLICANT_FIELD)
    hashes.update(sealed)
    return commitment(hashes), hex32(applicant)


def input_commitment_of(secret: bytes, stored_input: Mapping[str, Any], input_digest: str) -> str:
    """The ``input_commitment`` the department's secret gives for a stored input (what replay compares): the
    fields in clear hashed with their derived salts, the fields sealed apart by their kept hashes."""
    if SEALED_KEY not in stored_input:  # nearly every input: nothing sealed apart
        fields = flatten({k: v for k, v in stored_input.items() if k != _NONCE_KEY})
        return commitment(_salted_hashes(secret, input_digest, fields))
    rest, sealed = sealed_hashes(stored_input)
    hashes = _salted_hashes(secret, input_digest, flatten(rest))
    hashes.update(sealed)
    return commitment(hashes)


def input_commitments_of(secret: bytes, stored: list[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """:func:`input_commitment_of` of each (input digest, stored input), in order: what replay compares for a chunk.

    The native pass (``_hashcore.input_commitments``: one call for the chunk, each input walked, salted, hashed and
    committed without the fields, salts and hashes as Python objects) answers the plain inputs; the reference,
    :func:`input_commitment_of`, answers each one it declines, errors included (tests/test_hashcore.py compares the
    two on generated and hostile inputs)."""
    answers: list[str | None] = [None] * len(stored)
    # an input with fields sealed apart (``input_sealed``: their kept hashes, not their values) is the reference's
    plain = [i for i, (_, value) in enumerate(stored) if not (isinstance(value, Mapping) and SEALED_KEY in value)]
    if _NATIVE_INPUT_COMMITMENTS is not None and plain:
        found = _NATIVE_INPUT_COMMITMENTS(
            secret,
            stored if len(plain) == len(stored) else [stored[i] for i in plain],
            _SALT_PREFIX,
            SALT_BYTES,
            FIELD_PREFIX,
            _PREFIX,
            INPUT_FORMAT,
            _NONCE_KEY,
            canonical_json,
        )
        if found is not None:
            for i, answer in zip(plain, found, strict=True):
                answers[i] = answer
    return [
        answer if answer is not None else input_commitment_of(secret, value, digest)
        for answer, (digest, value) in zip(answers, stored, strict=True)
    ]


def opening(
    secret: bytes,
    stored_input: Mapping[str, Any],
    input_digest: str,
    identity: str | None,
    *,
    hide: Iterable[str] = (),
    sealed: tuple[Mapping[str, Any], Mapping[str, bytes]] | None = None,
) -> dict[str, Any]:
    """The bundle's ``input`` section: disclosed fields with their salts, hidden ones as hashes, and the applicant's
    identity with its salt when ``identity`` is given (else null).

    ``sealed``: the (values, random salts) of the fields the stored input keeps sealed apart (``SealedInput``),
    opened; None when they were erased: then they are hidden as their kept hashes and listed under ``erased``.
    ``hide`` names fields (dotted paths) to hide; InputError for a name the input does not have."""
    rest, kept = sealed_hashes(stored_input)
    fields = flatten(rest)
    values, random_salts = sealed if sealed is not None else ({}, {})
    if kept and sealed is not None and field_hashes(values, random_salts) != kept:
        raise VerificationError(
            "the sealed fields of this input do not hash to the hashes its stored input keeps: a row was altered or "
            "moved; run `ledger replay`"
        )
    hide = set(hide)
    unknown = sorted(hide - set(fields) - set(kept))
    if unknown:
        raise InputError(f"cannot hide {unknown}: the input has no such field (fields: {sorted([*fields, *kept])})")
    derived = salts(secret, input_digest, [*fields, APPLICANT_FIELD])
    hashes = field_hashes(fields, derived)
    if sealed is not None:
        fields.update(values)
        derived.update(random_salts)
    hashes.update(kept)
    disclosed = {n: v for n, v in fields.items() if n not in hide}
    section: dict[str, Any] = {
        "format": INPUT_FORMAT,
        "fields": disclosed,
        "salts": {n: derived[n].hex() for n in disclosed},
        "hidden": {n: hashes[n].hex() for n in hashes if n in hide or n not in fields},
        "applicant": None if identity is None else {"identity": identity, "salt": derived[APPLICANT_FIELD].hex()},
    }
    if kept and sealed is None:
        section["erased"] = sorted(kept)
    return section


def open_input(section: Mapping[str, Any], body: Mapping[str, Any]) -> tuple[dict[str, Any], str | None, str]:
    """Check a bundle's ``input`` section against the record's commitments; (disclosed fields, the applicant's
    identity if disclosed, detail). VerificationError says what does not match (a disclosed value edited, a salt
    wrong, a field left out, another applicant named)."""
    if section.get("format") != INPUT_FORMAT:
        raise VerificationError(f"input format {section.get('format')!r} is not {INPUT_FORMAT!r}")
    fields, given, hidden = section["fields"], section["salts"], section["hidden"]
    if set(given) != set(fields):
        raise VerificationError(f"salts are given for {sorted(given)} but the disclosed fields are {sorted(fields)}")
    if set(fields) & set(hidden):
        raise VerificationError(f"fields both disclosed and hidden: {sorted(set(fields) & set(hidden))}")
    for name, text in [*given.items(), *hidden.items()]:  # hex digits only (bytes.fromhex skips whitespace)
        if not isinstance(text, str) or not _HEX.fullmatch(text):
            raise VerificationError(f"the salt or hidden hash of input field {name!r} is not hex digits")
    short = sorted(n for n, h in hidden.items() if len(h) != 64)
    if short:
        raise VerificationError(f"hidden input field hashes {short} are not 32 bytes (64 hex digits)")
    hashes = field_hashes(fields, {n: bytes.fromhex(s) for n, s in given.items()})
    hashes.update({n: bytes.fromhex(h) for n, h in hidden.items()})
    computed = commitment(hashes)
    recorded = body.get("input_commitment")
    if not isinstance(recorded, str) or computed != recorded.lower():
        raise VerificationError(
            f"the disclosed input and hidden field hashes give commitment {computed}, not the "
            f"recorded input_commitment {recorded}: a disclosed field was edited, a salt is wrong "
            "or a field was left out"
        )
    identity = None
    applicant = section.get("applicant")
    if applicant is not None:
        identity = applicant["identity"]
        opened = hex32(
            field_hashes({APPLICANT_FIELD: identity}, {APPLICANT_FIELD: bytes.fromhex(applicant["salt"])})[
                APPLICANT_FIELD
            ]
        )
        if opened != str(body.get("applicant_commitment")).lower():
            raise VerificationError(
                f"the disclosed applicant identity and salt hash to {opened}, not the recorded "
                f"applicant_commitment {body.get('applicant_commitment')}"
            )
    return (
        dict(fields),
        identity,
        (
            f"{len(fields)} disclosed and {len(hidden)} hidden fields open the recorded input_commitment {computed}"
            + (
                "; the applicant's identity opens applicant_commitment"
                if identity is not None
                else "; the applicant's identity is not disclosed"
            )
        ),
    )
