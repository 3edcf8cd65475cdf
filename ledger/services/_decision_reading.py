"""The reading of ``decisions.decide_many``'s applications (``decisions.py`` re-exports what its other paths use):
each application checked, its applicant's salted reference, its input sealed and hashed, and the values the writer
needs of it before any read - a pure function of the applications, the rule sets and the department's applicant
secret. No database, no chain, no clock, and no heavy import: a worker process that reads chunks
(``_decision_workers.read_chunk``) imports this module, the formats and ``_citations.py`` only, not ``decisions.py``
(the storage models, web3 and verification: some two seconds of CPU at each worker's start, on the run's path while
the writer waits for the first chunk)."""

from __future__ import annotations

import hashlib
import hmac
import os
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import InputError, LedgerError
from ..formats.canonical import hex32, integer_spelt_double
from ..formats.decision_input import MAX_INPUT_BYTES, SEALED_KEY, commit, refuse_sealed_past_bound, seal_fields
from ..formats.logbody import canonical_body, lookup_key
from ..formats.rules import RuleSet, evaluate, published_view
from ._citations import Classified, Measured, citations, classify, inline_sizes, seal_citations

APPLICANT_PREFIX = b"pl-applicant\x00"


def _reference(secret: bytes, prefix: bytes, identity: str, what: str) -> str:
    if not isinstance(identity, str) or not identity.strip():
        raise InputError(f"{what} must be a non-empty string (it is stored only as a salted digest)")
    return "0x" + hmac.new(secret, prefix + identity.encode("utf-8"), hashlib.sha256).hexdigest()


class _References:
    """``_reference(secret, prefix, identity, what)`` for many identities: the HMAC key schedule done once, each
    identity hashed on a copy (the same digests; the same error for an identity that is not a non-empty string)."""

    def __init__(self, secret: bytes, prefix: bytes, what: str) -> None:
        self._keyed = hmac.new(secret, prefix, hashlib.sha256)
        self._what = what

    def __call__(self, identity: str) -> str:
        if not isinstance(identity, str) or not identity.strip():
            raise InputError(f"{self._what} must be a non-empty string (it is stored only as a salted digest)")
        keyed = self._keyed.copy()
        keyed.update(identity.encode("utf-8"))
        return "0x" + keyed.hexdigest()


def canonical_identity(identity: str) -> str:
    """The canonical form of an applicant's identity: its Unicode compatibility form (NFKC: half-width letters and
    digits for full-width ones), and an identifier - an ID number, a unified social credit code, a passport or other
    document number, i.e. ASCII letters and digits with at least one digit - in capital letters, as those numbers
    are issued (``11010519491231002X``, ``91440300MA5…``, ``AB1234567``). Identities of other shapes (a name, an
    internal reference with punctuation) have no case rule: they are compared as sent."""
    folded = unicodedata.normalize("NFKC", identity)
    if folded.isascii() and folded.isalnum() and any(c.isdigit() for c in folded):
        return folded.upper()
    return folded


def applicant_identity(identity: Any, what: str = "applicant_ref") -> str:
    """``identity`` as an applicant's identity entering the ledger (a decision, a bulk run, an officer's decision, a
    credit listing), or InputError. Its salted reference is an HMAC of the exact text, and the credit list, a case's
    decisions and the holder facts are keyed by it: a listed applicant who sent their identity with a space after
    it, a zero-width space inside, in lower case or in full-width letters got another reference and was "not
    listed". So surrounding whitespace, characters that print as nothing (format characters, other spaces than ' ',
    controls) and an identity not in its canonical form (:func:`canonical_identity`) are refused, not changed: what
    is recorded is what was sent, and the references recorded before stay the ones replay re-derives. (Identities
    read from certificates are compared as they are.)"""
    if not isinstance(identity, str) or not identity.strip():
        raise InputError(f"{what} must be a non-empty string (it is stored only as a salted digest)", field=what)
    if identity != identity.strip() or not identity.isprintable():
        raise InputError(
            f"{what} {identity!r} has surrounding whitespace or a character that prints as nothing (a control, a "
            "zero-width or non-breaking space, a byte-order mark): send the identity exactly as the credential "
            "states it (e.g. an ID number or a unified social credit code)",
            field=what,
        )
    canonical = canonical_identity(identity)
    if canonical != identity:
        raise InputError(
            f"{what} {identity!r} is not in its canonical form {canonical!r}: an ID number, a unified social credit "
            "code or a document number is written in capital letters and half-width digits, as issued, and another "
            f"spelling would be another applicant to the credit list and the case's decisions - send {canonical!r}",
            field=what,
        )
    foreign = _look_alike(identity)
    if foreign is not None:
        raise InputError(
            f"{what} {identity!r} holds digits or ASCII letters, and {foreign!r} "
            f"(U+{ord(foreign):04X} {unicodedata.name(foreign, 'unnamed')}), which is not ASCII: a letter of another "
            "script can print like a Latin one (Cyrillic A U+0410, Greek B U+0392), and that spelling would be another "
            "applicant to the credit list and the case's decisions - send the identifier in ASCII capital letters "
            "and digits, as issued",
            field=what,
        )
    return identity


def _look_alike(identity: str) -> str | None:
    """The first character that is not ASCII in an identity that also holds ASCII letters or digits, or a digit of
    any script, else None. NFKC folds full-width and other compatibility forms, but not a letter of another script
    that prints like a Latin one (Cyrillic A, U+0410, beside Latin A), nor a digit of another script: an
    identifier is ASCII, a name in another script has no ASCII letters and no digits (red team round 39)."""
    if identity.isascii() or not any((c.isascii() and c.isalnum()) or c.isdecimal() for c in identity):
        return None
    return next(c for c in identity if not c.isascii())


MAX_CASE_ID = 128  # characters: the gateway's bound (api/models.py, DecisionCreate.case_id)


def case_number(case_id: Any) -> str:
    """``case_id`` as a case number entering the ledger (an automatic decision, a bulk run, an officer's decision),
    or InputError: 1-128 printable ASCII characters without spaces, as the gateway's ``POST /decisions`` takes.
    A case is decided by the rules once and an officer's decision of a decided case overrides it, both keyed by the
    exact text: a number with a zero-width space or a space after it, a full-width or Cyrillic letter, another
    script's digit or a control prints as the decided case's number and was another case to the ledger, decided
    again with nothing in replay to say so (red team round 60)."""
    if not isinstance(case_id, str) or not case_id:
        raise InputError("case_id must be a non-empty string", field="case_id")
    if len(case_id) > MAX_CASE_ID or not all("!" <= c <= "~" for c in case_id):
        raise InputError(
            f"case_id {case_id[:MAX_CASE_ID]!r} is not a case number: 1-{MAX_CASE_ID} printable ASCII characters "
            "without spaces (letters, digits, punctuation). Another spelling - a zero-width or other space, a "
            "full-width or non-Latin letter, a control - prints as another case's number but would be another case "
            "to the ledger: send the number as the department issued it",
            field="case_id",
        )
    return case_id


def _prepare_input(
    case_id: str, service_item: str, decision_input: Mapping[str, Any], *, known_case: bool = False
) -> dict[str, Any]:
    """The input as stored, with its case and item; ``known_case``: a case the department has decided already (an
    officer's override), whose number is taken as recorded (one from before round 60's rule stays overridable)."""
    if known_case:
        if not isinstance(case_id, str) or not case_id:
            raise InputError("case_id must be a non-empty string", field="case_id")
    else:
        case_number(case_id)
    if not isinstance(service_item, str) or not service_item:
        raise InputError("service_item must be a non-empty string")
    if not isinstance(decision_input, Mapping):
        raise InputError(f"decision input must be a mapping, got {type(decision_input).__name__}")
    if "applicant_ref" in decision_input:
        raise InputError(
            "the decision input is stored: pass the applicant identity as applicant_ref=..., not inside the input",
            field="applicant_ref",
        )
    if SEALED_KEY in decision_input:
        raise InputError(
            f"{SEALED_KEY} is written by the ledger when it stores an input (the hashes of the fields it seals "
            "apart); remove it from the application",
            field=SEALED_KEY,
        )
    if INPUT_NONCE in decision_input:
        raise InputError(
            f"{INPUT_NONCE} is added by the ledger when it stores an input; remove it from the application",
            field=INPUT_NONCE,
        )
    # a stored input names each copy it cited inline by its content address; an application may not: the copies
    # are sealed data of whichever department stored them (another's applicant's licence), and reading one is no
    # read of the issuer's store that its access log would record
    named = [c for c in citations(decision_input) if isinstance(c, Mapping) and "document_ref" in c]
    if named:
        raise InputError(
            f"certificate citation {named[0]!r} names a stored copy (document_ref), which only the ledger does when "
            'it stores an input: cite the certificate itself ({"document": ...}) or its digest',
            field="certificates",
        )
    for key, value in (("case_id", case_id), ("service_item", service_item)):
        if decision_input.get(key, value) != value:
            raise InputError(f"the input's {key} {decision_input[key]!r} differs from {value!r}", field=key)
    # stored as RFC 8785 writes it, such a number reads back as an integer canonical JSON cannot write: replay called
    # the honest record's input commitment invalid and its evidence bundle could not be made (red team round 60)
    found = integer_spelt_double(decision_input)
    if found is not None:
        where = found[1]
        raise InputError(
            f"the number at {where} is 2**53 or more in size (up to 1e21) and not written as an integer: RFC 8785 "
            "writes such a double as its integer digits, which read back as an integer past 2**53 that the decision's "
            "input commitment and evidence bundle cannot carry - send it as a smaller number (another unit) or as text",
            field=where,
        )
    return {**decision_input, "case_id": case_id, "service_item": service_item}


def cited_certificate_digest(document: Mapping[str, Any]) -> str:
    """The digest of the certificate a cited document is a copy (or presentation) of, computed from its fields,
    salts and disclosed hashes (a credential is converted first, as verification does), never the digest it
    states. A copy the verifier refused for its format or anchor still carries the fields, so it is labelled from
    its fields and salts alone, and so is a credential whose envelope was edited (a wallet adding a display name:
    the claims and salts inside are still the certificate's); ``""`` when even that fails (no certificate's fields
    and salts are in it)."""
    from ..formats.certificate import CertificateDocument, load_document

    try:
        return hex32(load_document(document).digest())
    except (LedgerError, ValueError, TypeError, KeyError, AttributeError):
        pass
    try:
        return hex32(CertificateDocument.content_digest(_certificate_part(document)))
    except (LedgerError, ValueError, TypeError, KeyError, AttributeError):
        return ""


def cited_fields_digest(document: Mapping[str, Any]) -> bytes | None:
    """The fields digest of the certificate a cited document is a copy of (its fields', salts' and disclosed hashes',
    a credential's as :func:`cited_certificate_digest` reads it), None when none can be computed: what finds the
    certificate of a copy whose holder hid its type, whose digest (pl-cert/2) cannot be computed (red team round
    55; ``decisions.label_typeless``)."""
    from ..formats.certificate import CertificateDocument

    try:
        return CertificateDocument.content_fields_digest(_certificate_part(document))
    except (LedgerError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _certificate_part(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The certificate a cited document carries: a credential's (compact or JSON-LD expanded) converted as
    verification converts it, any other document as it is. Errors as ``vc.carried``'s."""
    from ..formats import vc  # imported here: pydantic's schemas, for an application citing a document inline

    return vc.carried(document) if vc.is_credential(document) or vc.is_expanded_credential(document) else document


def _input_row(prepared: dict[str, Any], sealed: Mapping[str, Any] | None = None) -> tuple[str, dict[str, str]]:
    """(input digest, row) of an input as stored; ``sealed``: the fields :func:`seal_fields` took out of it, which
    its bound counts too (:func:`refuse_sealed_past_bound`)."""
    text = canonical_body(prepared)
    if sealed:
        refuse_sealed_past_bound(len(text), sealed)
    if len(text) > MAX_INPUT_BYTES:
        raise InputError(
            f"the decision input is {len(text):,} bytes as stored, past the {MAX_INPUT_BYTES:,} a decision's input "
            "may be (its evidence bundle carries it whole): send the application's own fields, not documents or "
            "data attached to it"
        )
    digest = "0x" + hashlib.sha256(text).hexdigest()
    return digest, {"digest": digest, "document": text.decode("utf-8")}


INPUT_NONCE = "input_nonce"


def _with_nonce(kept: Mapping[str, Any]) -> dict[str, Any]:
    """The input as stored: with a random 16-byte nonce, because ``input_digest`` is an unsalted digest of the stored
    input and is in every bundle; without the nonce, a field a bundle hides but that has few possible values (a flag,
    a small number) could be found by trying each against it. The nonce is no part of what the rules read or of the
    ``input_commitment``."""
    return {**kept, INPUT_NONCE: os.urandom(16).hex()}


def _stored_input(
    secret: bytes, kept: Mapping[str, Any], identity: str, sealed: Mapping[str, Any] | None = None
) -> tuple[str, str, dict[str, str]]:
    """``_decision_workers.stored_inputs`` of one input, called by :meth:`_Chunk.add` directly: that function's
    import of this module, a relative import statement run for every application, cost a worker ~2 CPU-us each.
    ``sealed``: as :func:`_input_row`'s."""
    digest, row = _input_row(_with_nonce(kept), sealed)
    inputs, applicant = commit(secret, kept, digest, identity)
    return digest, row["document"], {"input_commitment": inputs, "applicant_commitment": applicant}


class _Chunk:
    """Applications read for one chunk of :func:`decide_many` (:func:`_read_chunk`), each checked, its input sealed
    and hashed: what a worker process hands back to the writer (plain values only, no rule set objects)."""

    def __init__(self) -> None:
        # (rule set key in decide_many's ``rule_sets``, prepared input, applicant reference), in input order
        self.pending: list[tuple[str, dict[str, Any], str]] = []
        self.identities: list[str] = []  # the applicants' identities, for the input commitments
        self.kept: list[dict[str, Any]] = []  # the inputs as stored (cited documents sealed away)
        self.documents: dict[str, Mapping[str, Any]] = {}
        self.stored: list[tuple[str, str, dict[str, str]]] = []  # (input digest, stored text, commitments)
        self.cases: dict[str, int] = {}  # case id -> its application number: a case is decided once
        # pure functions of the applications, computed where they are read (a worker) and not by the writer:
        self.cited: list[list[Any]] = []  # each prepared input's citations (facts.citations)
        self.classified: list[list[Classified]] = []  # and each citation's facts.classify
        self.sizes: list[list[int | None]] = []  # and the size sealing measured of each inline document (or None)
        self.links: list[dict[str, str]] = []  # the stored inputs' InputCitation rows (_citation_links)
        self.labels: dict[str, str] = {}  # cited document ref -> cited_certificate_digest of it
        self.keys: list[str] = []  # the cases' index keys, sorted (logchain.lookup_key: _decided_automatically)
        # input digest -> (the fields its rule set's certificate copies, their random salts): sealed apart
        self.sealed: dict[str, tuple[dict[str, Any], dict[str, bytes]]] = {}

    def add(
        self,
        secret: bytes,
        reference: Callable[[str], str],
        rule_sets: Mapping[str, RuleSet],
        number: int,
        application: Any,
    ) -> None:
        if not isinstance(application, Mapping):
            raise InputError("an application must be a JSON object", line=number)
        item = application.get("service_item")
        key = item if isinstance(item, str) and rule_sets.get(item) else "*"
        rules = rule_sets.get(key)
        if rules is None:
            raise InputError(f"no rule set for service item {item!r}; give one with --rules", line=number)
        identity = application.get("applicant_ref")
        plain = {k: v for k, v in application.items() if k != "applicant_ref"}
        try:
            prepared = _prepare_input(application.get("case_id"), item, plain)  # type: ignore[arg-type]
            if not isinstance(identity, str):
                raise InputError("applicant_ref (the applicant's identity) is required", field="applicant_ref")
            applicant_identity(identity)
            if rules.service_item not in ("*", item):
                evaluate(rules, prepared)  # raises the engine's own error for a rule set of another item
            published_view(rules, prepared)  # raises for an item the screen's catalogue does not list (round 60b)
        except InputError as exc:
            raise InputError(f"application {number}: {exc}") from exc
        case = prepared["case_id"]
        if case in self.cases:  # the earlier one is not recorded yet: the input names the case twice
            raise InputError(
                f"application {number}: case {case!r} is also application {self.cases[case]} of this input; a case "
                "is decided automatically once - remove the repeat (an officer decides a case again, "
                "`ledger record-decision ... --overrides CASE`)",
                line=number,
            )
        measured: Measured = {}
        kept, cited = seal_citations(prepared, measured)
        if not cited and kept == prepared:  # nothing sealed away: one dict, sent back from a worker once
            kept = prepared
        try:  # its stored text, digest and commitments: a value canonical JSON refuses is this application's error
            # what the rule set's certificate copies is never stored in clear (decision_input.seal_fields)
            stored_form, personal, salts = seal_fields(kept, rules.personal) if rules.personal else (kept, {}, {})
            stored = _stored_input(secret, stored_form, identity, personal)
        except InputError as exc:
            raise InputError(f"application {number}: {exc}") from exc
        found = citations(prepared)
        classified = [classify(c) for c in found]
        # _citation_links(digest, kept): the copies sealing named, in its order (an application naming a copy itself
        # was refused by _prepare_input), without reading the stored input's citations again
        links = [{"input_digest": stored[0], "ref": ref} for ref in cited]
        labels = {ref: cited_certificate_digest(document) for ref, document in cited.items()}
        self.cases[case] = number
        self.pending.append((key, prepared, reference(identity)))
        self.identities.append(identity)
        self.kept.append(kept)
        self.documents.update(cited)  # a ref cited again: its later document, and the label of that one
        self.labels.update(labels)
        self.stored.append(stored)
        if personal:
            self.sealed[stored[0]] = (personal, salts)
        self.cited.append(found)
        self.classified.append(classified)
        self.sizes.append(inline_sizes(classified, measured))
        self.links.extend(links)


def _read_chunk(secret: bytes, rule_sets: Mapping[str, RuleSet], first: int, applications: Sequence[Any]) -> _Chunk:
    """Applications ``first``, ``first + 1``, ... read, checked, sealed and hashed (:meth:`_Chunk.add`): no
    database, no chain, no clock. Run by a worker process (``_decision_workers``) or by the writer itself, with the
    same answers: an application that fails - in any way - is an InputError naming its number, and nothing of its
    chunk is recorded (this step writes nothing anywhere)."""
    references = _References(secret, APPLICANT_PREFIX, "applicant_ref")  # applicant_reference, keyed once
    chunk = _Chunk()
    for number, application in enumerate(applications, start=first):
        try:
            chunk.add(secret, references, rule_sets, number, application)
        except LedgerError:
            raise
        except Exception as exc:  # noqa: BLE001 - hostile input the checks above did not foresee: named, no crash
            raise InputError(
                f"application {number} could not be read ({type(exc).__name__}: {str(exc)[:200]}); nothing of its "
                "chunk was recorded",
                line=number,
            ) from None
    chunk.keys = sorted({lookup_key(case) for case in chunk.cases})
    return chunk
