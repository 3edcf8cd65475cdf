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

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..formats.holders import HOLDER_FIELD_OF_TYPE as HOLDER_FIELD_OF_TYPE  # re-exported
from ..formats.holders import HOLDER_FIELDS as HOLDER_FIELDS
from ._citations import (  # the pure reading of citations, light enough for a reading worker to import alone
    Classified,
    _classified,
    citations,
    classify,
)
from ._citations import _as_document as _as_document  # re-exported: their callers import them from here
from ._citations import _cited_digest as _cited_digest
from ._citations import _cited_document as _cited_document
from ._citations import _is_mapping as _is_mapping
from ._citations import _is_ref as _is_ref
from ._citations import document_ref as document_ref
from ._citations import named_copies as named_copies
from ._citations import seal_citations as seal_citations
from .verify import STATUS_NAMES, ChainView, Report, verify_many

if TYPE_CHECKING:
    from ..client import Ledger

__all__ = ["CLAIMS_IGNORED", "CertificateFact", "citations", "establish", "facts_view", "resolve_citations"]

CLAIMS_IGNORED = ("type", "verified", "status", "expired", "issuer", "holder")
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
    subject_ids: tuple[str, ...] = ()  # its type's disclosed holder identifier, compared in memory, never recorded
    any_ids: tuple[str, ...] = ()  # every disclosed HOLDER_FIELDS value (the rule before round 69), for replay alone

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
        """This fact with ``holder`` set: authentic and naming, in its type's holder field, the applicant whose salted
        reference is ``applicant_ref`` (``reference`` salts an identifier the same way)."""
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
            self.any_ids,
        )


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
    _drop_written_back(ledger, found)
    if refs:
        found.update(load_cited_documents(ledger, refs))
    return found


def drop_erased_copies(ledger: Ledger, found: dict[str, dict[str, Any]], refs: Iterable[str]) -> None:
    """Leave out of ``found`` each copy cited inline (``refs``) whose certificate's erasure its issuer's erasures log
    records (as :func:`_drop_written_back` does for certificates cited by digest; the digest computed from the copy's
    own fields): for presenting a decision's citations to anyone (its evidence bundle). The erasure destroyed the
    copy; one written back from a backup presented the erased holder fields again (red team round 62)."""
    from ._decision_reading import cited_certificate_digest

    copies = {ref: found[ref] for ref in refs if ref in found}
    _drop_written_back(ledger, copies, lambda _ref, document: cited_certificate_digest(document))
    for ref in [ref for ref in refs if ref in found and ref not in copies]:
        del found[ref]


def _drop_written_back(
    ledger: Ledger,
    found: dict[str, dict[str, Any]],
    digest_of: Callable[[str, Mapping[str, Any]], str] = lambda key, _document: key,
) -> None:
    """Leave out of ``found`` (digest -> document) each certificate whose issuer's erasures log records its erasure
    (as the chain attests it, or recorded and not anchored yet: red team round 62): its body was written back from a
    copy after its lawful erasure, and a decision citing it reads it as any erased certificate, not found in the
    store (red team round 61: an applicant's citation of an erased licence was verified and held again);
    ``digest_of``: the certificate digest of an entry of ``found`` (:func:`drop_erased_copies`). One look
    at each issuer's attested erasures (kept as digest-only verification keeps them) and one indexed query for its
    recorded ones, by the issuer the body itself states."""
    from .erasure import attested_erasures, recorded_erasures

    by_issuer: dict[str, dict[str, str]] = {}  # issuer -> key in found -> the certificate's digest
    for key, document in found.items():
        fields = document.get("fields")
        issuer = fields.get("issuer") if isinstance(fields, Mapping) else None
        # a copy cited inline states any issuer: one that is no department code (a NUL, which PostgreSQL refuses in
        # a query) has no erasures log
        if isinstance(issuer, str) and _department_code(issuer):
            by_issuer.setdefault(issuer, {})[key] = digest_of(key, document)
    for issuer, digests in by_issuer.items():
        # an erasure recorded but not anchored yet too (red team round 62: written back before its anchoring)
        erased = attested_erasures(ledger, issuer) | recorded_erasures(ledger, issuer, set(digests.values()))
        for key, digest in digests.items():
            if digest in erased:
                del found[key]


def _department_code(text: str) -> bool:
    from ..errors import InputError
    from ..onchain.ids import department_id_bytes

    try:
        department_id_bytes(text)
    except InputError:
        return False
    return True


def holder_ids(cert_type: str | None, fields: Mapping[str, Any]) -> tuple[str, ...]:
    """The disclosed identity of the holder of a certificate of ``cert_type`` with ``fields``: its type's holder field
    (:data:`HOLDER_FIELD_OF_TYPE`), none for a type that names none."""
    name = HOLDER_FIELD_OF_TYPE.get(cert_type) if cert_type is not None else None
    value = fields.get(name) if name is not None else None
    return (str(value),) if isinstance(value, (str, int)) else ()


def any_holder_ids(fields: Mapping[str, Any]) -> tuple[str, ...]:
    """Every disclosed field of :data:`HOLDER_FIELDS`: what named the holder before each type named its own field
    (red team round 69); replay tells a decision recorded under that rule from an altered one."""
    return tuple(str(fields[name]) for name in HOLDER_FIELDS if name in fields and isinstance(fields[name], (str, int)))


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
    ids = holder_ids(cert_type, fields)
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
        any_ids=any_holder_ids(fields),
    )


def establish(
    view: ChainView,
    cited: Sequence[Sequence[Any]],
    stored: Mapping[str, dict[str, Any]],
    *,
    now: datetime,
    classified: Sequence[Sequence[Classified]] | None = None,
    unseen_holder: bool | None = None,
) -> list[list[CertificateFact]]:
    """The facts of every citation of every application in ``cited`` (one list of citations per application),
    verified against one head; validity judged at ``now`` (the decision moment). ``stored`` resolves digests.
    ``classified``: the citations of ``cited`` read by :func:`classify` already, in the same order.
    ``unseen_holder``: the ``holder`` of the facts of citations that could not be looked at (None: not compared
    yet). A decision passes False, what :meth:`CertificateFact.held_by` gives any fact that is not authentic, so
    that such a fact is built once, not built and then copied to say so."""
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
            digest,
            None,
            None,
            None,
            False,
            "unknown",
            None,
            block,
            (why,),
            confirmations=view.confirmations,
            holder=unseen_holder,
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
