"""The facts an automatic decision rests on, established by the ledger itself, never taken from the application.

An application cites the certificates it relies on in ``certificates``: each citation is a certificate document or
presentation (``{"document": {...}}``, or the document itself) or a digest of a certificate in this ledger's store
(``{"digest": "0x..."}`` or the digest string). Whatever else a citation says - ``type``, ``verified``, ``status``,
``expired`` - is the applicant's claim and is ignored: at decision time the ledger verifies every cited certificate
against the chain (the same checks as ``ledger verify``) and the rules read only what it found:

``type``      the certificate's disclosed ``type`` field (None when it could not be read)
``verified``  every check but status and validity passed: the certificate is authentic, anchored by its issuer,
              signed with the issuer's key of the time
``status``    valid / suspended / revoked / superseded as of the decision block; ``unknown`` when not authentic
``expired``   not valid at the decision moment (outside ``valid_from`` .. ``valid_until``)

Each fact records the block it was judged at (``as_of_block``) and the names of the checks that failed, so replay
can re-establish it as of that block and report a decision whose certificate was not in the state recorded.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..formats.canonical import check_value_depth
from .verify import STATUS_NAMES, ChainView, Report, verify_many

if TYPE_CHECKING:
    from ..client import Ledger

__all__ = ["CLAIMS_IGNORED", "CertificateFact", "citations", "establish", "facts_view", "resolve_citations"]

CLAIMS_IGNORED = ("type", "verified", "status", "expired", "issuer", "holder")
# Disclosed fields that identify a certificate's holder; an applicant holds a certificate when one of them is the
# applicant's own identity (compared as the department's salted applicant reference, so no identity is stored).
HOLDER_FIELDS = ("subject.credit_code", "subject.id_number", "subject.holder_id")
_DIGEST_TEXT = re.compile(r"0x[0-9a-f]{64}")
_NOT_AUTHENTICITY = {"status", "validity"}


@dataclass(frozen=True, slots=True)
class CertificateFact:
    """What the ledger established about one cited certificate."""

    digest: str | None
    issuer: str | None
    root: str | None
    type: str | None
    verified: bool
    status: str
    expired: bool | None
    as_of_block: int | None
    failed: tuple[str, ...]
    anchored_block: int | None = None
    confirmations: int = 0  # the depth the decision required of an anchor (LEDGER_CONFIRMATIONS then)
    holder: bool | None = None  # the certificate names the applicant (see HOLDER_FIELDS); None until compared
    subject_ids: tuple[str, ...] = ()  # its disclosed holder identifiers, compared in memory, never recorded

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "issuer": self.issuer,
            "root": self.root,
            "type": self.type,
            "verified": self.verified,
            "status": self.status,
            "expired": self.expired,
            "holder": self.holder,
            "as_of_block": self.as_of_block,
            "confirmations": self.confirmations,
            "failed": list(self.failed),
        }

    def rule_view(self) -> dict[str, Any]:
        """What the rules' ``certificate`` conditions read."""
        return {
            "type": self.type,
            "digest": self.digest,
            "issuer": self.issuer if self.verified else None,
            "verified": self.verified,
            "status": self.status,
            "expired": self.expired,
            "holder": bool(self.holder),
        }

    def held_by(self, applicant_ref: str, reference: Callable[[str], str]) -> CertificateFact:
        """This fact with ``holder`` set: authentic and naming the applicant whose salted reference is
        ``applicant_ref`` (``reference`` salts an identifier the same way)."""
        # an empty or blank holder field names no one (and is no identity to salt: the reference refuses it)
        holder = self.verified and any(reference(i) == applicant_ref for i in self.subject_ids if i.strip())
        # built directly: dataclasses.replace costs several times more, once per cited certificate per decision
        return CertificateFact(
            self.digest,
            self.issuer,
            self.root,
            self.type,
            self.verified,
            self.status,
            self.expired,
            self.as_of_block,
            self.failed,
            self.anchored_block,
            self.confirmations,
            holder,
            self.subject_ids,
        )


def document_ref(document: Mapping[str, Any]) -> str:
    """Content address of a cited document: ``0x`` + SHA-256 of its sorted, compact JSON."""
    check_value_depth(document)  # a caller's dict: json.dumps recurses once per level (canonical.check_value_depth)
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return "0x" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def seal_citations(decision_input: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Mapping[str, Any]]]:
    """The input as stored, and the documents it cited inline keyed by their content address.

    A cited document carries the holder's disclosed fields, so it is never stored in the clear: the stored input
    names it by ``{"document_ref": "0x…"}`` and the document is kept sealed (``decisions.CitedDocument``)."""
    cited = decision_input.get("certificates")
    if not isinstance(cited, (list, tuple)):
        return dict(decision_input), {}
    documents: dict[str, Mapping[str, Any]] = {}
    stored = []
    for citation in cited:
        document = _cited_document(citation) if not _is_ref(citation) else None
        if document is None:
            stored.append(citation)
            continue
        ref = document_ref(document)
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
    return (
        _cited_document(citation),
        _cited_digest(citation),
        citation["document_ref"] if _is_ref(citation) else None,
    )


def _classified(inputs: Iterable[Mapping[str, Any]]) -> list[list[Classified]]:
    return [[classify(c) for c in citations(i)] for i in inputs]


def store_reads(
    inputs: Iterable[Mapping[str, Any]],
    stored: Mapping[str, Mapping[str, Any]],
    classified: Sequence[Sequence[Classified]] | None = None,
) -> list[set[str]]:
    """Per application of ``inputs``, the digests of the certificates it cites by digest alone that ``stored``
    (:func:`resolve_citations`) opened from the certificate store: what deciding on it reads of the store.
    ``classified``: the inputs' citations read by :func:`classify` already."""
    out = []
    for items in classified if classified is not None else _classified(inputs):
        read = set()
        for document, digest, _ in items:
            if document is None and digest is not None and digest in stored:
                read.add(digest)
        out.append(read)
    return out


def resolve_citations(
    ledger: Ledger, inputs: Iterable[Mapping[str, Any]], classified: Sequence[Sequence[Classified]] | None = None
) -> dict[str, dict[str, Any]]:
    """The documents every citation of ``inputs`` names by digest (from the certificate store) or by
    ``document_ref`` (sealed cited documents), in one bulk lookup each. ``classified``: the inputs' citations
    read by :func:`classify` already."""
    from .decisions import load_cited_documents
    from .issuance import export_documents

    rows = classified if classified is not None else _classified(inputs)
    digests = [d for items in rows for _, d, _ in items if d is not None]
    refs = [r for items in rows for _, _, r in items if r is not None]
    found = export_documents(ledger, digests) if digests else {}
    if refs:
        found.update(load_cited_documents(ledger, refs))
    return found


def _fact(report: Report, document: Mapping[str, Any], confirmations: int) -> CertificateFact:
    listed = document.get("fields")
    fields: Mapping[str, Any] = listed if isinstance(listed, Mapping) else {}
    cert_type = fields.get("type") if isinstance(fields.get("type"), str) else None
    failed = tuple(c.name for c in report.checks if not c.ok)
    authentic = bool(report.checks) and not [n for n in failed if n not in _NOT_AUTHENTICITY]
    facts = report.facts
    status = str(facts.get("status", "unknown")) if authentic else "unknown"
    validity = next((c for c in report.checks if c.name == "validity"), None)
    expired = None if validity is None or validity.skipped else not validity.ok
    ids = tuple(str(fields[name]) for name in HOLDER_FIELDS if name in fields and isinstance(fields[name], (str, int)))
    return CertificateFact(
        report.digest,
        facts.get("department"),
        facts.get("root"),
        cert_type,
        authentic,
        status,
        expired,
        report.as_of_block,
        failed,
        facts.get("block_number"),
        confirmations=confirmations,
        subject_ids=ids,
    )


def establish(
    view: ChainView,
    cited: Sequence[Sequence[Any]],
    stored: Mapping[str, dict[str, Any]],
    *,
    now: datetime,
    classified: Sequence[Sequence[Classified]] | None = None,
) -> list[list[CertificateFact]]:
    """The facts of every citation of every application in ``cited`` (one list of citations per application),
    verified against one head; validity judged at ``now`` (the decision moment). ``stored`` resolves digests.
    ``classified``: the citations of ``cited`` read by :func:`classify` already, in the same order."""
    documents: list[Mapping[str, Any]] = []
    where: list[tuple[int, int]] = []
    unseen: list[tuple[int, int, str | None, str]] = []  # (application, citation, digest, why) not looked at
    out: list[list[CertificateFact | None]] = []
    for a, items in enumerate(classified if classified is not None else [[classify(c) for c in i] for i in cited]):
        row: list[CertificateFact | None] = []
        for c, (document, digest, ref) in enumerate(items):
            if document is None and digest is not None:
                document = stored.get(digest)
            elif document is None and ref is not None:
                document = stored.get(ref)
            if document is None:
                unseen.append((a, c, digest, "not_found" if digest is not None else "citation_invalid"))
                row.append(None)
                continue
            documents.append(document)
            where.append((a, c))
            row.append(None)
        out.append(row)
    reports = verify_many(documents, view, now=now) if documents else []
    for (a, c), document, report in zip(where, documents, reports, strict=True):
        out[a][c] = _fact(report, document, view.confirmations)
    block = next((r.as_of_block for r in reports if r.as_of_block is not None), None)
    if block is None and (unseen or reports):
        block = view.head()
    # certificates that could not even be looked at were judged at the same block as the others
    for a, c, digest, why in unseen:
        out[a][c] = CertificateFact(
            digest, None, None, None, False, "unknown", None, block, (why,), confirmations=view.confirmations
        )
    return [
        [
            f if f.as_of_block is not None else replace(f, as_of_block=block, confirmations=view.confirmations)
            for f in row
            if f is not None
        ]
        for row in out
    ]


def facts_view(prepared: Mapping[str, Any], facts: Sequence[CertificateFact]) -> dict[str, Any]:
    """The input the rules evaluate: the application with its citations replaced by the established facts."""
    return {**prepared, "certificates": [f.rule_view() for f in facts]}


def status_at_block(history: Sequence[tuple[int, int]], block: int) -> str:
    """Status name in force at ``block`` from a key's (block, status code) events in chain order."""
    status = 0
    for changed, code in history:
        if changed > block:
            break
        status = code
    return STATUS_NAMES[status]
