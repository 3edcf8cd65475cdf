"""The hostile corpus of ``POST /public/verify`` bodies the gateway's reference tests replay
(test_public_verify_reference, test_public_verify_native): valid, tampered, wrong types, duplicate keys, huge
numbers, deep nesting, bad UTF-8, oversized, digests; and the rate limits' client key as the gateway read it before
it read the scope's raw headers (test_public_verify_reference, test_redteam_round28b)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

from starlette.requests import Request

from api.ratelimit import client_key
from ledger.formats.certificate import load_document


def edited(doc: dict[str, Any], *path_and_value: Any, drop: bool = False) -> dict[str, Any]:
    edited = copy.deepcopy(doc)
    *path, last, value = path_and_value if not drop else (*path_and_value, None)
    target = edited
    for step in path:
        target = target[step]
    if drop:
        target.pop(last, None)
    else:
        target[last] = value
    return edited


def with_hidden(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """``doc`` with field ``name`` hidden (its salted hash in ``hidden``, as a presentation has it)."""
    hashes = load_document(doc).field_hashes()
    edited = copy.deepcopy(doc)
    edited["fields"].pop(name)
    edited["salts"].pop(name)
    edited.setdefault("hidden", {})[name] = hashes[name].hex()
    return edited


def corpus(docs: list[dict[str, Any]]) -> Iterator[tuple[str, bytes, dict[str, str]]]:
    """(what, body, headers): every body twice, so the second meets each app's warm caches."""
    a, b, c = docs
    as_json = {"Content-Type": "application/json"}
    documents: list[tuple[str, Any]] = [
        ("valid", a),
        ("valid, another of the batch", b),
        ("a field changed", edited(a, "fields", "subject.name", "Mallory")),
        ("stated digest changed", edited(a, "digest", "0x" + "00" * 32)),
        ("valid_until malformed", edited(a, "fields", "valid_until", "2031-13-01")),
        ("valid_until a number", edited(a, "fields", "valid_until", 5)),
        ("valid_until naive", edited(a, "fields", "valid_until", "2031-01-01T00:00:00")),
        ("valid_from ahead", edited(a, "fields", "valid_from", "2999-01-01")),
        ("valid_until past", edited(a, "fields", "valid_until", "2000-01-01")),
        ("valid_until out of the calendar", edited(a, "fields", "valid_until", "0001-01-01T00:00:00+01:00")),
        ("issuer dropped", edited(a, "fields", "issuer", drop=True)),
        ("issuer a number", edited(a, "fields", "issuer", 7)),
        ("type hidden... or odd", edited(a, "fields", "type", "NOT a type")),
        ("a required field hidden", with_hidden(a, "valid_until")),
        ("an always-disclosed field hidden", with_hidden(a, "issuer")),
        ("a subject field hidden", with_hidden(c, "subject.name")),
        ("chain id True", edited(a, "anchor", "chain_id", True)),
        ("chain id 1", edited(a, "anchor", "chain_id", 1)),
        ("chain id text", edited(a, "anchor", "chain_id", str(a["anchor"]["chain_id"]))),
        ("chain id float", edited(a, "anchor", "chain_id", float(a["anchor"]["chain_id"]))),
        ("chain id -0.0", edited(a, "anchor", "chain_id", -0.0)),
        ("chain id 0.0", edited(a, "anchor", "chain_id", 0.0)),
        ("contract empty", edited(a, "anchor", "contract", "")),
        ("contract dropped", edited(a, "anchor", "contract", drop=True)),
        ("contract null", edited(a, "anchor", "contract", None)),
        ("contract upper case", edited(a, "anchor", "contract", a["anchor"]["contract"].upper())),
        ("registry another", edited(a, "anchor", "registry", "0x" + "11" * 20)),
        ("registry a number", edited(a, "anchor", "registry", 5)),
        ("proof not a list", edited(a, "anchor", "proof", "0x00")),
        ("proof element short", edited(a, "anchor", "proof", ["0x1234"])),
        ("proof element a number", edited(a, "anchor", "proof", [5])),
        ("proof of another", edited(a, "anchor", "proof", b["anchor"]["proof"])),
        ("proof too long", edited(a, "anchor", "proof", ["0x" + "ab" * 32] * 65)),
        ("signature garbage", edited(a, "anchor", "signature", "0xzz")),
        ("signature another", edited(a, "anchor", "signature", "0x" + "11" * 65)),
        ("root of nothing", edited(a, "anchor", "root", "0x" + "22" * 32)),
        ("root not hex", edited(a, "anchor", "root", "root")),
        ("department another", edited(a, "anchor", "department", "HOSP")),
        ("signer another", edited(a, "anchor", "signer", "0x" + "33" * 20)),
        ("huge integer in a field", edited(a, "fields", "subject.name", 10**30)),
        # details that echo the sender's text: written by orjson, or by the standard library (a lone surrogate)
        ("signer with a lone surrogate", edited(a, "anchor", "signer", "0x\ud800")),
        ("contract with a lone surrogate", edited(a, "anchor", "contract", "\udfff")),
        ("contract not ASCII", edited(a, "anchor", "contract", "合约\u00e9\u2028")),
        ("signer very long", edited(a, "anchor", "signer", "0x" + "ab" * 400)),
        ("another issuer's text", edited(a, "anchor", "department", 'B\u00e9"\\')),
        ("format unknown", edited(a, "format", "pl-cert/9")),
        ("not a document", []),
        ("a string", "certificate"),
        ("empty", {}),
    ]
    for what, document in documents:
        yield what, json.dumps({"document": document}).encode(), as_json
    body = json.dumps({"document": a})
    yield "digest alone", json.dumps({"digest": a["digest"]}).encode(), as_json
    yield "digest of nothing", json.dumps({"digest": "0x" + "44" * 32}).encode(), as_json
    yield "digest malformed", b'{"digest": "0x12"}', as_json
    yield "digest a number", b'{"digest": 5}', as_json
    yield "document and digest", json.dumps({"document": a, "digest": a["digest"]}).encode(), as_json
    yield "duplicate key at the top", b'{"document": {}, ' + body[1:].encode(), as_json
    yield "duplicate key in fields", body.replace('"fields": {', '"fields": {"id": "x", ', 1).encode(), as_json
    yield "duplicate key in anchor", body.replace('"anchor": {', '"anchor": {"root": "0x00", ', 1).encode(), as_json
    yield (
        "duplicate key, spaced colon",
        body.replace('"anchor": {', '"anchor": {"root" : "0x00", ', 1).encode(),
        as_json,
    )
    yield "duplicate key deep", b'{"document": {"fields": {"x": [{"a": 1, "a": 2}]}}}', as_json
    yield "huge number", b'{"document": {"fields": {"x": 1e400}}}', as_json
    yield "huge integer", b'{"document": {"fields": {"x": ' + b"9" * 5000 + b"}}}", as_json
    yield "deep nesting", b'{"document": {"fields": {"x": ' + b"[" * 3000 + b"]" * 3000 + b"}}}", as_json
    yield "unclosed", b'{"document": {"fields": ' + b"[" * 3000, as_json
    yield "bad UTF-8", b'{"document": {"fields": {"x": "\xff\xfe"}}}', as_json
    yield "lone surrogate", body.replace('"subject.name": "', '"subject.name": "\\ud800', 1).encode(), as_json
    yield "NUL escaped", b'{"document": {"fields": {"x": "a\\u0000"}}}', as_json
    yield "not JSON", b"certificate, please", as_json
    yield "no body", b"", as_json
    yield "text/plain", body.encode(), {"Content-Type": "text/plain"}
    yield "no content type", body.encode(), {}
    yield "oversized", b'{"document": {"fields": {"x": "' + b"a" * 1_100_000 + b'"}}}', as_json
    yield "many values", b'{"document": {"fields": {"x": [' + b"1," * 9_000 + b"1]}}}", as_json
    yield "long string", b'{"document": {"fields": {"x": "' + b"a" * 200_000 + b'"}}}', as_json
    big = edited(a, "fields", "subject.name", "a" * 100_000)  # past ON_LOOP_BYTES: parsed in a worker thread
    yield "big body", json.dumps({"document": big}).encode(), as_json
    many = copy.deepcopy(a)  # past SMALL_DOCUMENT_FIELDS: verified in a worker thread
    many["fields"].update({f"extra.{i}": "x" for i in range(80)})
    many["salts"].update({f"extra.{i}": "00" * 16 for i in range(80)})
    yield "many fields", json.dumps({"document": many}).encode(), as_json
    yield "forwarded for", body.encode(), {**as_json, "X-Forwarded-For": "198.51.100.7, testclient"}
    yield "vc shaped", json.dumps({"document": {"@context": ["x"], "type": ["VerifiableCredential"]}}).encode(), as_json


def reference_client_key(request: Request, trusted: Any) -> str:
    """``api.deps.client_address`` as it was before it read the scope's raw headers: through Starlette's ``Headers``
    (the reference ``client_address_of`` is compared with)."""
    peer = request.client.host if request.client else "unknown"
    forwarded = ",".join(request.headers.getlist("x-forwarded-for")) or None
    if not trusted:
        if forwarded and peer in forwarded:
            return "untrusted X-Forwarded-For"
        return client_key(peer, None, ()) if ":" in peer else peer
    return client_key(peer, forwarded, trusted)
