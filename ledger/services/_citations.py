"""The pure reading of an application's certificate citations (``facts.py`` re-exports it): what each citation
carries or names, and the input as stored with its inline documents sealed away. No database, no chain, no heavy
import: a worker process that reads applications for ``decisions.decide_many`` (``_decision_reading.py``) imports
this and not ``facts.py`` (which imports verification, web3 and the storage models: seconds of a worker's start)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import InputError
from ..formats.canonical import check_value_depth

_DIGEST_TEXT = re.compile(r"0x[0-9a-f]{64}")
# vc.SUBJECT_IRI and vc.PROOF_IRI: a credential in JSON-LD expanded form names its subject and proof by them
# (spelt here: this module imports nothing heavy, and vc.py reads the certificate models)
_EXPANDED_SUBJECT = "https://www.w3.org/2018/credentials#credentialSubject"
_EXPANDED_PROOF = "https://w3id.org/security#proof"


# An application cites at most this many certificates, and the documents it cites inline are together at most this
# many bytes: each citation is established on chain when the case is decided, and every evidence bundle of the
# decision carries each cited document and its facts (red team round 54: an applicant's own input could leave their
# decision with no bundle any court reads). An honest application cites a few.
MAX_CITATIONS = 64
MAX_CITED_BYTES = 1024 * 1024


def document_ref(document: Mapping[str, Any]) -> str:
    """Content address of a cited document: ``0x`` + SHA-256 of its sorted, compact JSON."""
    return "0x" + hashlib.sha256(_document_text(document)).hexdigest()


def _document_text(document: Mapping[str, Any]) -> bytes:
    check_value_depth(document)  # a caller's dict: json.dumps recurses once per level (canonical.check_value_depth)
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return text.encode("utf-8", "surrogatepass")


# what seal_citations measured of the documents an input cites inline, for refuse_cited_past_bound: id -> (the
# document, kept alive with its id so that no other object takes that id meanwhile; its text's bytes)
Measured = dict[int, tuple[Mapping[str, Any], int]]


def refuse_cited_past_bound(
    prepared: Sequence[Mapping[str, Any]],
    classified: Sequence[Sequence[Classified]],
    stored: Mapping[str, Mapping[str, Any]],
    measured: Measured | None = None,
    sizes: Sequence[Sequence[int | None]] | None = None,
) -> None:
    """InputError when the documents one of ``prepared`` cites, inline or by digest (``stored``: the store's, as
    :func:`facts.resolve_citations` read them), are past :data:`MAX_CITED_BYTES` together, each counted once per
    citation: every evidence bundle of the decision carries a presentation of each (red team round 56: one wide
    certificate cited by digest 64 times made the bundle past what both verifiers read; :func:`seal_citations`
    counted the inline ones alone). Each document counts the UTF-8 bytes of its compact JSON (what a bundle, written
    without ASCII escapes, carries of it), measured once for all the applications citing it: an inline one by what
    :func:`seal_citations` measured already (``measured``), not written again; an application citing one document is
    not measured (~15 us a document, for the common case of a bulk run): an inline one is bounded by
    :func:`seal_citations`, one from the store by the record bound every issued certificate is held to
    (``settings.max_record_bytes``). ``sizes``: each application's citations' inline sizes as sealing measured them
    where it ran (:func:`inline_sizes`: ``decide_many``'s chunk reading, perhaps in a worker process)."""
    known_sizes: dict[int, int] = {}
    for i, (application, row) in enumerate(zip(prepared, classified, strict=True)):
        if len(row) < 2:
            continue
        total = 0
        for j, (inline, digest, ref) in enumerate(row):
            if inline is not None and sizes is not None and (sealed_size := sizes[i][j]) is not None:
                total += sealed_size
                continue
            document = inline if inline is not None else stored.get(digest or ref or "")
            if document is None:
                continue
            if (size := known_sizes.get(id(document))) is None:
                known = measured.get(id(document)) if measured else None
                size = known[1] if known is not None and known[0] is document else len(_document_text(document))
                known_sizes[id(document)] = size
            total += size
        if total > MAX_CITED_BYTES:
            raise InputError(
                f"case {application.get('case_id')!r}: the certificates the application cites are past "
                f"{MAX_CITED_BYTES:,} bytes together, each counted as often as it is cited (every evidence bundle "
                "of the decision carries each): cite each certificate once, and only those the case needs",
                field="certificates",
            )


def inline_sizes(row: Sequence[Classified], measured: Measured) -> list[int | None]:
    """Each citation of ``row`` (its :func:`classify`) with the size :func:`seal_citations` measured of the document
    it carries inline (``measured``), or None (none inline, or one converted anew from a credential): plain values,
    for :func:`refuse_cited_past_bound` wherever it runs."""
    sizes: list[int | None] = []
    for inline, _digest, _ref in row:
        known = measured.get(id(inline)) if inline is not None else None
        sizes.append(known[1] if known is not None and known[0] is inline else None)
    return sizes


def seal_citations(
    decision_input: Mapping[str, Any], measured: Measured | None = None
) -> tuple[dict[str, Any], dict[str, Mapping[str, Any]]]:
    """The input as stored, and the documents it cited inline keyed by their content address.

    A cited document carries the holder's disclosed fields, so it is never stored in the clear: the stored input
    names it by ``{"document_ref": "0x…"}`` and the document is kept sealed (``decisions.CitedDocument``).
    ``measured``: filled with each inline document's text size, for :func:`refuse_cited_past_bound`."""
    cited = decision_input.get("certificates")
    if not isinstance(cited, (list, tuple)):
        return dict(decision_input), {}
    if len(cited) > MAX_CITATIONS:
        raise InputError(
            f"the application cites {len(cited):,} certificates, past the {MAX_CITATIONS} one application may cite",
            field="certificates",
        )
    documents: dict[str, Mapping[str, Any]] = {}
    stored = []
    size = 0
    for citation in cited:
        document = _cited_document(citation) if not _is_ref(citation) else None
        if document is None:
            stored.append(citation)
            continue
        text = _document_text(document)
        if measured is not None:
            measured[id(document)] = (document, len(text))
        if (size := size + len(text)) > MAX_CITED_BYTES:
            raise InputError(
                f"the documents the application cites inline are past {MAX_CITED_BYTES:,} bytes together (every "
                "evidence bundle of the decision carries them): cite a certificate by its digest instead",
                field="certificates",
            )
        ref = "0x" + hashlib.sha256(text).hexdigest()
        documents[ref] = document
        stored.append({"document_ref": ref})
    return {**decision_input, "certificates": stored}, documents


def _is_mapping(value: Any) -> bool:
    """isinstance(value, Mapping), a plain dict and JSON's other value types recognised without the ABC's (slower)
    check (a missing key's None, most often)."""
    kind = type(value)
    if kind is dict:
        return True
    if value is None or kind is str or kind is list or kind is int or kind is bool or kind is float:
        return False
    return isinstance(value, Mapping)


def _is_ref(citation: Any) -> bool:
    return _is_mapping(citation) and isinstance(citation.get("document_ref"), str)


def named_copies(stored_input: Mapping[str, Any]) -> list[str]:
    """The cited copies (content addresses) a stored input names by ``{"document_ref": ref}``, once each; a
    citation naming something that is no content address names no copy (none is stored under it)."""
    refs = (c["document_ref"] for c in citations(stored_input) if _is_ref(c))
    return list(dict.fromkeys(r for r in refs if _DIGEST_TEXT.fullmatch(r)))


def citations(decision_input: Mapping[str, Any]) -> list[Any]:
    """The certificate citations of an application (none when ``certificates`` is absent or not a list)."""
    cited = decision_input.get("certificates")
    return list(cited) if isinstance(cited, (list, tuple)) else []


def _cited_digest(citation: Any) -> str | None:
    """The digest a citation names, when it is one (``0x`` + 64 hex digits): any other text an applicant puts in
    a citation is never copied into the decision record (it could be a name or an ID number)."""
    if isinstance(citation, str):
        digest: Any = citation
    elif _is_ref(citation) or not _is_mapping(citation) or "document" in citation or "fields" in citation:
        return None
    else:
        digest = citation.get("digest")
    return _digest_text(digest)


def _digest_text(digest: Any) -> str | None:
    """``digest`` as a certificate digest (``0x`` + 64 hex digits, in lower case), or None."""
    if not isinstance(digest, str) or len(digest) != 66:
        return None
    digest = digest.lower()
    return digest if _DIGEST_TEXT.fullmatch(digest) else None


def _cited_document(citation: Any) -> Mapping[str, Any] | None:
    """The certificate document a citation carries inline: wrapped (``{"document": ...}``) or the document itself,
    a holder's document, a presentation, or the W3C credential a wallet keeps (``ledger export --vc``). A credential
    cited as itself is one too: taken for something else, its claims and salts were stored in the clear in the
    decision input, where no erasure reaches (red team, round 14c)."""
    if _is_mapping(citation):
        if _is_mapping(citation.get("document")):
            return _as_document(citation["document"])
        if "fields" in citation and "anchor" in citation:
            return citation
        if "@context" in citation and "document_ref" not in citation:  # vc.is_credential
            return _as_document(citation)
        if (_EXPANDED_SUBJECT in citation or _EXPANDED_PROOF in citation) and "document_ref" not in citation:
            # vc.is_expanded_credential: the credential in JSON-LD expanded form, claims and salts included; kept
            # as given, it stayed in the stored input in the clear, where no erasure reaches (red team round 40)
            return citation
    return None


def _as_document(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """A cited W3C credential (`ledger export --vc`, what a wallet holds) as the pl-cert document it carries, the
    form a decision reads facts from and seals: verification judges both alike, but the type and holder fields are
    the document's `fields` (a credential has them as `credentialSubject.claims`), and the decision bundle's cited
    copy must be a document that any bundle verifier reads (docs/evidence.md). A credential that does not convert
    is kept as given: its verification then fails and says why."""
    from ..errors import InputError
    from ..formats import vc

    if not vc.is_credential(document):
        return document
    try:
        return vc.to_document(document)
    except InputError:
        return document


Classified = tuple[Mapping[str, Any] | None, str | None, str | None]
"""A citation as :func:`classify` reads it: (the document it carries inline, the digest it names, the stored copy it
names by ``document_ref``)."""


def classify(citation: Any) -> Classified:
    """What a citation carries or names, read once for every use a decision makes of it (resolving, logging the
    store's reads, establishing): :func:`_cited_document`, :func:`_cited_digest` and its ``document_ref``."""
    if (
        type(citation) is dict
        and "document" not in citation
        and "fields" not in citation
        and "@context" not in citation
        and _EXPANDED_SUBJECT not in citation
        and _EXPANDED_PROOF not in citation
        and not isinstance(citation.get("document_ref"), str)
    ):
        # a plain citation by digest (the common one, and every one a stored input holds but its sealed copies'
        # references): it carries no document and names no copy, whatever its digest is - the same answer as the
        # three readings below
        return None, _digest_text(citation.get("digest")), None
    return (
        _cited_document(citation),
        _cited_digest(citation),
        citation["document_ref"] if _is_ref(citation) else None,
    )


def _classified(inputs: Iterable[Mapping[str, Any]]) -> list[list[Classified]]:
    return [[classify(c) for c in citations(i)] for i in inputs]
