"""Certificates as W3C Verifiable Credentials (Data Model 2.0), and back.

:func:`to_credential` wraps a holder's document or presentation (``pl-cert/2``, docs/format.md §9) in a VC 2.0
credential: issuer, validFrom / validUntil, credentialSubject, a ``credentialStatus`` that points at the status on
chain, and a proof of type ``PlCertAnchorProof`` that carries everything the ledger's own verification needs (salts,
hidden field hashes, digest, anchor with its Merkle proof and EIP-712 signature). :func:`to_document` turns such a
credential back into the document, after checking it against the VC 2.0 JSON Schema (``contexts/vc-2.0.schema.json``),
checking that every readable property of the envelope is exactly the one the certified fields give (the envelope is a
view of the document, so nobody can extend ``validUntil`` or rename the issuer in it without failing), and only then
expanding it as JSON-LD with the contexts shipped in ``ledger/formats/contexts`` (never the network): a credential's own
contexts are never processed. The verdict then comes from
the same checks as for the document (``ledger verify``). docs/format.md §11 is the specification.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import quote

from ..errors import InputError
from .canonical import check_value_depth, parse_hex32
from .certificate import CertificateDocument, load_document

VC_V2 = "https://www.w3.org/ns/credentials/v2"
PL_CERT_V1 = "https://ns.provenance-ledger.org/pl-cert/v1"
CONTEXTS = {VC_V2: "credentials-v2.jsonld", PL_CERT_V1: "pl-cert-v1.jsonld"}
PROOF_TYPE = "PlCertAnchorProof"
STATUS_TYPE = "PlCertChainStatus"
# The IRIs the shipped contexts expand a credential's subject, proof, claims, salts and hidden hashes to: what a
# credential kept in JSON-LD expanded form (every term an IRI, no @context) names them by.
SUBJECT_IRI = "https://www.w3.org/2018/credentials#credentialSubject"
PROOF_IRI = "https://w3id.org/security#proof"
_PL = "https://ns.provenance-ledger.org/pl-cert#"


@cache
def _shipped(name: str) -> Any:
    return json.loads(resources.files("ledger.formats").joinpath("contexts", name).read_text(encoding="utf-8"))


def document_loader(url: str, options: Any = None) -> dict[str, Any]:
    """pyld document loader that knows only the shipped contexts: nothing is ever fetched."""
    name = CONTEXTS.get(url)
    if name is None:
        from pyld.jsonld import JsonLdError

        raise JsonLdError(
            f"context {url} is not shipped with the ledger and is never fetched",
            "jsonld.LoadDocumentError",
            {"url": url},
            code="loading document failed",
        )
    return {"contextUrl": None, "documentUrl": url, "document": _shipped(name)}


def is_credential(value: Any) -> bool:
    return isinstance(value, Mapping) and "@context" in value


def is_expanded_credential(value: Any) -> bool:
    """A credential in JSON-LD expanded form (no ``@context``; its subject and proof named by IRI), as a wallet
    working in RDF may keep it: not one :func:`to_document` reads (verification refuses it), but it carries the
    certificate's claims and salts all the same (:func:`carried`)."""
    return isinstance(value, Mapping) and "@context" not in value and (SUBJECT_IRI in value or PROOF_IRI in value)


def _timestamp(value: str, *, end_of_day: bool = False) -> str:
    """An xsd:dateTimeStamp (VC 2.0 validFrom / validUntil) for a certificate date or date-time."""
    if not isinstance(value, str):  # a list or an object in a hostile credential: a TypeError, refused by the caller
        raise TypeError(f"a validity date must be text, not {type(value).__name__}")
    if len(value) == 10:
        day = date.fromisoformat(value)
        return f"{day.isoformat()}T{'23:59:59' if end_of_day else '00:00:00'}Z"
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the ledger reads zone-less times as UTC (verify.py)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _issuer_id(anchor: Mapping[str, Any], department: str) -> str:
    return f"urn:pl-department:{anchor['chain_id']}:{str(anchor['registry']).lower()}:{quote(department, safe='')}"


def to_credential(
    source: Mapping[str, Any] | CertificateDocument, *, status_list: tuple[str, int] | None = None
) -> dict[str, Any]:
    """The VC 2.0 credential of a holder's document or presentation (see the module docstring). ``status_list``
    (gateway base URL, leaf index in the batch) adds the two BitstringStatusListEntry entries (statuslist.py), and
    ``credentialStatus`` becomes an array with the PlCertChainStatus entry first."""
    doc = source.to_json() if isinstance(source, CertificateDocument) else load_document(source).to_json()
    if isinstance(source, Mapping) and isinstance(source.get("digest"), str):
        doc["digest"] = source["digest"]  # the stated digest is a claim that verification compares; keep it
    fields, anchor = doc["fields"], doc["anchor"]
    try:
        issuer = fields["issuer"]
        issuer_id = _issuer_id(anchor, issuer)  # TypeError for an issuer claim that is not text (quote refuses it)
        certificate_id, certificate_type = fields["id"], fields["type"]
        valid_from = _timestamp(fields.get("valid_from") or fields["issued_at"])
        valid_until = _timestamp(fields["valid_until"], end_of_day=True) if "valid_until" in fields else None
        anchor["chain_id"], anchor["registry"], anchor["contract"], anchor["root"], anchor["signer"]
    except (KeyError, TypeError, ValueError, OverflowError) as exc:  # Overflow: a moment outside the calendar
        raise InputError(
            f"this document cannot be a credential: {exc!r} is missing or malformed; export it again "
            "with `ledger export`"
        ) from None
    credential: dict[str, Any] = {
        "@context": [VC_V2, PL_CERT_V1],
        "id": f"urn:pl-cert:{doc['digest']}",
        "type": ["VerifiableCredential", "PlCertCredential"],
        "issuer": {"id": issuer_id, "name": issuer},
        "validFrom": valid_from,
    }
    if valid_until is not None:
        credential["validUntil"] = valid_until
    credential["credentialSubject"] = {
        "type": "PlCertSubject",
        "certificateId": certificate_id,
        "certificateType": certificate_type,
        "claims": fields,
    }
    credential["credentialStatus"] = {
        "type": STATUS_TYPE,
        "chainId": anchor["chain_id"],
        "contract": anchor["contract"],
        "department": anchor.get("department", issuer),
        "root": anchor["root"],
        "digest": doc["digest"],
    }
    if status_list is not None:
        from . import bitstring

        base, index = status_list
        credential["credentialStatus"] = [
            credential["credentialStatus"],
            *bitstring.entries(
                base, str(anchor.get("department", issuer)), parse_hex32(str(anchor["root"]), "anchor.root"), index
            ),
        ]
    proof = {
        "type": PROOF_TYPE,
        "proofPurpose": "assertionMethod",
        "verificationMethod": f"{issuer_id}#{str(anchor['signer']).lower()}",
        "format": doc["format"],
        "digest": doc["digest"],
        "salts": doc["salts"],
    }
    if doc.get("hidden"):
        proof["hidden"] = doc["hidden"]
    proof["anchor"] = anchor
    if isinstance(anchor.get("block_time"), int):
        try:
            created = datetime.fromtimestamp(anchor["block_time"], UTC)
        except (OverflowError, OSError, ValueError):  # a block time no calendar holds: a malformed document
            raise InputError(
                f"anchor.block_time {anchor['block_time']} is not a moment of the calendar; export it again "
                "with `ledger export`"
            ) from None
        proof["created"] = created.isoformat().replace("+00:00", "Z")
    credential["proof"] = proof
    return credential


def schema_errors(credential: Any) -> list[str]:
    """Where ``credential`` breaks the VC 2.0 JSON Schema (empty: it conforms)."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(_shipped("vc-2.0.schema.json"))
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
        for e in sorted(validator.iter_errors(credential), key=lambda e: list(map(str, e.absolute_path)))
    ]


def expand(credential: Any) -> list[Any]:
    """JSON-LD expansion with the shipped contexts only; InputError when it fails."""
    check_value_depth(credential)  # a caller's dict: json.dumps recurses once per level
    return _expand_text(_text(credential))


# The SHA-256 of credential texts found to expand with the shipped contexts, at most EXPANDED_TEXTS of them (the
# least recently seen go first). A verification of a credential with status list entries read it twice (the
# report's document, then the entries' check), each time running the JSON-LD processor - the costliest step of an
# anonymous client's verification after the chain's reads - on the same text with the same contexts, the second
# proving nothing the first had not (red team round 67). The processor reads nothing but the text and the shipped
# contexts (``document_loader``), so a text that expanded once expands again: known by its hash, it is not run.
EXPANDED_TEXTS = 1_024
_expanded: OrderedDict[bytes, None] = OrderedDict()
_expanded_guard = threading.Lock()


def _check_expands(credential: Any) -> None:
    """:func:`expand`'s refusal, without its result: the processor is run once per credential text."""
    check_value_depth(credential)
    text = _text(credential)
    key = hashlib.sha256(text.encode()).digest()  # json.dumps writes ASCII
    with _expanded_guard:
        if key in _expanded:
            _expanded.move_to_end(key)
            return
    _expand_text(text)
    with _expanded_guard:
        _expanded[key] = None
        while len(_expanded) > EXPANDED_TEXTS:
            _expanded.popitem(last=False)


def _text(credential: Any) -> str:
    try:
        return json.dumps(credential)
    except (TypeError, ValueError) as exc:  # a caller's value that is no JSON: as the processor's failure
        raise InputError(
            f"the credential is not valid JSON-LD with the shipped contexts ({VC_V2}, {PL_CERT_V1}): "
            f"{type(exc).__name__}; export it again with `ledger export --vc`"
        ) from None


def _expand_text(text: str) -> list[Any]:
    from pyld import jsonld

    try:
        return list(jsonld.expand(json.loads(text), {"documentLoader": document_loader}))
    except Exception as exc:  # noqa: BLE001 - hostile input: any failure of the processor is a refusal, never a crash
        reason = getattr(exc, "type", None) or type(exc).__name__
        raise InputError(
            f"the credential is not valid JSON-LD with the shipped contexts ({VC_V2}, {PL_CERT_V1}): "
            f"{reason}; export it again with `ledger export --vc`"
        ) from None


def to_document(credential: Any) -> dict[str, Any]:
    """The holder's document inside a credential made by :func:`to_credential`, after the checks of the module
    docstring; InputError naming the first problem otherwise."""
    if not isinstance(credential, Mapping):
        raise InputError("a credential must be a JSON object")
    problems = schema_errors(credential)
    if problems:
        raise InputError("the credential does not conform to the VC 2.0 schema: " + "; ".join(problems[:5]))
    if "VerifiablePresentation" in (credential.get("type") or []):
        raise InputError(
            "this is a verifiable presentation; give the credential it holds (its verifiableCredential entry)"
        )
    proof = credential.get("proof")
    subject = credential.get("credentialSubject")
    if not isinstance(proof, Mapping) or proof.get("type") != PROOF_TYPE or not isinstance(subject, Mapping):
        raise InputError(
            f"the credential has no {PROOF_TYPE} proof and one credentialSubject: it was not exported "
            "by this ledger, which verifies only its own anchored certificates"
        )
    doc: dict[str, Any] = {
        "format": proof.get("format"),
        "fields": subject.get("claims"),
        "salts": proof.get("salts"),
        "digest": proof.get("digest"),
        "anchor": proof.get("anchor"),
    }
    if proof.get("hidden"):
        doc["hidden"] = proof["hidden"]
    expected = to_credential(
        doc, status_list=_status_list(credential, doc)
    )  # refuses a malformed document with its own message
    # Compared as JSON texts compare, not by Python's ``==``: that takes 31337.0 and true for 31337 and 1 (JSON-LD
    # reads a double, a boolean) and a member that is null for one that is missing (``"@type": null`` expands to a
    # null type beside the credential's own) (red team round 40)
    differing = sorted(
        k
        for k in set(expected) | set(credential)
        if k not in expected or k not in credential or not _same_json(expected[k], credential[k])
    )
    if "@context" in differing:
        raise InputError(
            f"the credential is not valid JSON-LD with the shipped contexts ({VC_V2}, {PL_CERT_V1}) alone: its "
            "@context names others; export it again with `ledger export --vc`"
        )
    extra = [k for k in differing if k not in expected]
    if extra:
        raise InputError(
            f"the credential holds {', '.join(map(repr, extra))}, which the issuer's export does not (even as null): "
            "its readable envelope was edited; trust neither, ask the holder for the issuer's export"
        )
    if differing:
        raise InputError(
            f"the credential's {', '.join(differing)} disagree(s) with the certified fields it carries: "
            "its readable envelope was edited; trust neither, ask the holder for the issuer's export"
        )
    # Expanded only now, when it is the envelope this ledger writes: a hostile credential's own contexts (a scoped
    # context of thousands of terms, applied at every level of a nested value) cost the processor minutes of CPU.
    _check_expands(credential)
    return doc


def _same_json(a: Any, b: Any) -> bool:
    """Whether two parsed JSON values are the same JSON: the same members, the same items in the same order, and
    numbers of the same kind (an integer is not a number with a fraction part or an exponent, a boolean is neither),
    where Python's ``==`` takes ``1``, ``1.0`` and ``True`` for one another. Recursion goes only as deep as both
    values are containers of the same kind."""
    kind = _json_kind(a)
    if kind != _json_kind(b):
        return False
    if kind == "object":
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if kind == "array":
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _json_kind(value: Any) -> str:
    if value is None or isinstance(value, bool | str):
        return type(value).__name__
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "double"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return f"not JSON ({type(value).__name__})"


def carried(credential: Mapping[str, Any]) -> dict[str, Any]:
    """The certified members a credential carries (``fields``, ``salts``, ``hidden``), read without any of
    :func:`to_document`'s checks: what labels a cited copy with its certificate's digest
    (``CertificateDocument.content_digest``) when its envelope was edited and verification refuses it, since the
    claims and salts inside are still the certificate's (erasure must find the copy). Read as a wallet may have
    rewritten the credential, all of which VC 2.0 and JSON-LD allow (red team round 40): a subject or proof given
    as an array (the first node holding claims, salts), a proof node inside an ``@graph``, and members named by
    their IRIs, in expanded form (:func:`is_expanded_credential`) or compacted with other contexts, their values
    ``@json`` value objects. Otherwise a copy sealed with the claims got no certificate's digest and no erasure
    reached it."""
    subjects = _nodes(credential.get("credentialSubject")) + _nodes(credential.get(SUBJECT_IRI))
    proofs = [
        node
        for proof in _nodes(credential.get("proof")) + _nodes(credential.get(PROOF_IRI))
        for node in _nodes(proof.get("@graph")) or [proof]
    ]
    subject = next((node for node in subjects if _member(node, "claims") is not None), {})
    proof = next((node for node in proofs if _member(node, "salts") is not None), {})
    found: dict[str, Any] = {"fields": _member(subject, "claims"), "salts": _member(proof, "salts")}
    if "hidden" in proof or _PL + "hidden" in proof:
        found["hidden"] = _member(proof, "hidden")
    return found


def _nodes(value: Any) -> list[Mapping[str, Any]]:
    """The objects of a member's value: the value itself when it is one, the objects of an array."""
    if isinstance(value, Mapping):
        return [value]
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _member(node: Mapping[str, Any], name: str) -> Any:
    """A pl-cert member of ``node`` by its term or its IRI; an (expanded) array of one value object, or a value
    object, read as its ``@value``."""
    for key in (name, _PL + name):
        if key in node:
            value = node[key]
            if isinstance(value, list) and len(value) == 1:
                value = value[0]
            if isinstance(value, Mapping) and "@value" in value:
                value = value["@value"]
            return value
    return None


def _status_list(credential: Mapping[str, Any], doc: Mapping[str, Any]) -> tuple[str, int] | None:
    """(base URL, index) the credential's BitstringStatusListEntry entries name, checked against the document's
    department and root (statuslist.py); None when it has none."""
    status = credential.get("credentialStatus")
    if not isinstance(status, list):
        return None
    from . import bitstring

    found = [e for e in status if isinstance(e, Mapping) and e.get("type") == bitstring.ENTRY_TYPE]
    if not found:
        return None
    anchor = doc.get("anchor") if isinstance(doc.get("anchor"), Mapping) else {}
    fields = doc.get("fields") if isinstance(doc.get("fields"), Mapping) else {}
    root = parse_hex32(str(anchor.get("root")), "anchor.root")  # type: ignore[union-attr]
    return bitstring.entry_base_and_index(
        found,
        str(anchor.get("department") or fields.get("issuer")),  # type: ignore[union-attr]
        root,
    )
