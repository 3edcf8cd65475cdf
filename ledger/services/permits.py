"""Certificates an approval produces: a rule set's ``produces`` names the certificate (a permit) that an approval
issues at once, signed by the approving department and anchored in the same run as the decision.

The link runs both ways and each way is anchored:

* the decision body records ``issued: {certificate, type, id}`` (the permit's digest), so the decision log - hash
  chained and anchored in ``BatchLog`` - says which certificate it issued;
* the permit carries ``subject.produced_by = {department, case_id, rule_set, input_digest}``, salted and hashed
  into its digest like every field, so the certificate - anchored in ``CertificateAnchor`` - says which decision
  produced it. A digest cannot name itself, so the permit names the decision by its department, case and input
  rather than by its log entry; the decision naming the permit's digest closes the loop.

A :class:`ProducedCertificate` row indexes the pair (digest -> decision number and entry hash) for provenance and
delivery; it is a convenience, never a source of truth: :func:`check_links` (run by ``ledger replay``) re-derives
every link from the anchored decision bodies and the certificates' own fields and reports a missing or altered row.

An officer's override that withdraws an approval (outcome other than approve) revokes every permit the case's
decisions produced that is not revoked yet (reason code :data:`WITHDRAWN_REASON`); its body records
``withdraws: [digest, ...]``.

Order of writing (crash safety): the permit batch is stored ``prepared`` first, then the decision naming it is
appended, then the batch is anchored, then the decision log. A crash in between leaves a prepared batch that
``ledger resume`` anchors, and replay reports ``issued_not_anchored`` until it is.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select
from sqlmodel import col

from ..errors import ChainError, InputError, LedgerError, StateError
from ..formats import checks
from ..formats.canonical import certificate_digest, field_hashes, json_loads
from ..formats.certificate import read_sealed_body, validate_record
from ..formats.displayed import describe, hidden_character
from ..formats.lookalikes import LOOKALIKES
from ..formats.rules import CERTIFICATE_PATH, RuleSet, published_view
from ..onchain.ids import ROLE_ISSUER
from ..storage import generations
from ..storage.models import PermitBasis, PermitKey, PermitKeyNode, PermitKeyTree, ProducedCertificate
from ..storage.store import Batch, BatchState, Certificate
from . import erasure, issuance, logchain
from .facts import _cited_digest, _cited_document, citations, resolve_citations
from .logchain import LOG_DECISIONS, LogEntry

if TYPE_CHECKING:
    from ..client import Ledger

__all__ = [
    "WITHDRAWN_REASON",
    "LinkProblem",
    "ProducedCertificate",
    "check_links",
    "live",
    "produced_by",
    "withdraw",
]

# The published status reason (reasons.py) a withdrawn approval's permit is revoked with; the sealed note and the
# overriding decision (which records ``withdraws``) say which decision withdrew it.
WITHDRAWN_REASON = "other"
PRODUCED_FIELD = "produced_by"


_LINKS = ProducedCertificate.__table__  # type: ignore[attr-defined]
_KEYS = PermitKey.__table__  # type: ignore[attr-defined]
_BASES = PermitBasis.__table__  # type: ignore[attr-defined]


# -- issuing ----------------------------------------------------------------------------------------------------


def require_issuer(ledger: Ledger, department: str, rule_set: RuleSet) -> None:
    """StateError unless ``department`` may sign the certificate ``rule_set`` produces (before anything is written)."""
    if rule_set.produces is None:
        return
    account = ledger.department_account(department)
    chain = ledger.chain
    if not chain.call(chain.registry.functions.isActiveSigner(account.address, ROLE_ISSUER)):
        raise StateError(
            f"rule set {rule_set.rule_set_id!r} produces a {rule_set.produces['type']!r} certificate on "
            f"approval, which the approving department signs: {department!r} needs the issuer role too "
            "(the council grants roles). No decision was recorded"
        )


def _value(decision_input: Mapping[str, Any], path: str) -> Any:
    value: Any = decision_input
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def trusted_issuers(rule_set: RuleSet, cert_type: str) -> frozenset[str] | None:
    """The issuers the rule set relies on for certificates of ``cert_type``: those every ``certificate`` condition
    on that type that names issuers accepts (None: no condition names any, so any authorised issuer). The shipped
    permit rules accept a business licence of the market regulator only (``issuer: [MKT]``): a field certified
    from a business licence must come from one of its licences, not from another the applicant also cites."""
    accepted: frozenset[str] | None = None
    stack: list[Any] = [rule.get("when") for rule in rule_set.document.get("rules", []) if isinstance(rule, Mapping)]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, Mapping):
            spec = node.get("certificate")
            if isinstance(spec, Mapping) and spec.get("type") == cert_type and "issuer" in spec:
                named = spec["issuer"] if isinstance(spec["issuer"], list) else [spec["issuer"]]
                accepted = frozenset(named) if accepted is None else accepted & frozenset(named)
            stack.extend(value for key, value in node.items() if key in ("all", "any", "not"))
    return accepted


def _certified(
    body: Mapping[str, Any],
    decision_input: Mapping[str, Any],
    stored: Mapping[str, Any],
    cert_type: str,
    field: str,
    issuers: frozenset[str] | None = None,
) -> Any:
    """A disclosed field of the applicant's own cited certificate of ``cert_type``: the first citation whose fact
    (as the decision recorded it, established by the ledger) is verified, valid, unexpired, names the applicant and,
    when ``issuers`` is given (:func:`trusted_issuers`), was issued by one of them; None when there is none or it
    does not disclose ``field``. What the application itself says is never read."""
    facts = body.get("certificates")
    cited = citations(decision_input)
    if not isinstance(facts, list) or len(facts) != len(cited):
        return None
    for fact, citation in zip(facts, cited, strict=True):
        if not (
            isinstance(fact, Mapping)
            and fact.get("type") == cert_type
            and (issuers is None or fact.get("issuer") in issuers)
            and fact.get("verified") is True
            and fact.get("status") == "valid"
            and fact.get("expired") is False
            and fact.get("holder") is True
        ):
            continue
        document = _cited_document(citation)
        if document is None:
            digest = _cited_digest(citation)
            document = stored.get(digest) if digest is not None else None
        fields = document.get("fields") if isinstance(document, Mapping) else None
        # the facts are the citations' own, in order (facts.establish): this is the document that fact is of
        return fields.get(field) if isinstance(fields, Mapping) else None
    return None


def _rests_until(
    body: Mapping[str, Any],
    decision_input: Mapping[str, Any],
    stored: Mapping[str, Any],
    cert_type: str,
    issuers: frozenset[str] | None,
) -> datetime | None:
    """The end of the validity of the certificate a permit certifies a field from (:func:`_certified`: the same
    citation), or None when it states none or it cannot be read: a permit resting on a licence ends no later than
    the licence (red team round 77b: a five-year permit was issued on a licence ending next month)."""
    until = _certified(body, decision_input, stored, cert_type, "valid_until", issuers)
    if until is None:
        return None
    try:
        return checks.validity_end(until)
    except InputError:
        return None  # a verified certificate states a readable validity (validate_record): none to hold it to


def _record(
    rule_set: RuleSet,
    department: str,
    body: Mapping[str, Any],
    decision_input: Mapping[str, Any],
    identity: str,
    certificate_id: str,
    stored: Mapping[str, Any],
    complete: bool = True,
) -> dict[str, Any]:
    spec = rule_set.produces or {}
    subject: dict[str, Any] = {}
    # the item's published attributes, as the rules read them (red team rounds 60, 60b)
    decision_input = published_view(rule_set, decision_input)
    types = spec.get("types") or {}
    ends: list[datetime] = []  # the validity of each certificate a field is certified from
    for name, path in spec["fields"].items():
        from_certificate = CERTIFICATE_PATH.fullmatch(path)
        if from_certificate is not None:
            rests = _rests_until(
                body,
                decision_input,
                stored,
                from_certificate[1],
                trusted_issuers(rule_set, from_certificate[1]),
            )
            ends += [rests] if rests is not None else []
        value = (
            _certified(
                body,
                decision_input,
                stored,
                from_certificate[1],
                from_certificate[2],
                trusted_issuers(rule_set, from_certificate[1]),
            )
            if from_certificate is not None
            else _value(decision_input, path)
        )
        if complete and _states_nothing(value):
            raise _incomplete(spec["type"], name, path, from_certificate, body["case_id"])
        if value is not None and name in types and not _of_type(value, types[name]):
            raise _mistyped(spec["type"], name, path, types[name], value, body["case_id"])
        if value is not None:  # a fact the input does not carry is never invented (an officer's approval without one)
            # what the applicant typed displays as it is stated (a certified value is its issuer's word)
            subject[name] = (
                value if from_certificate is not None else _displayed_as_stated(value, name, body["case_id"])
            )
    subject[spec["holder"]] = identity
    subject[PRODUCED_FIELD] = {
        "department": department,
        "case_id": body["case_id"],
        "rule_set": body["rule_set"],
        "input_digest": body["input_digest"],
        "decided_at": body["decided_at"],
    }
    start = datetime.fromisoformat(body["decided_at"].replace("Z", "+00:00"))
    # no later than a certificate it rests on; one ended already (facts a department made up) ends it at once
    end = max(start, min([start + timedelta(days=int(spec["valid_days"])), *ends]))
    return {
        "id": certificate_id,
        "type": spec["type"],
        "subject": subject,
        "valid_from": start.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "valid_until": end.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    }


def _states_nothing(value: Any) -> bool:
    """Whether a field's value states nothing: absent (None), blank text, an empty list or object."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, (Mapping, list, tuple)) and not value


def _of_type(value: Any, kind: str) -> bool:
    """Whether ``value`` is of ``kind``, a type ``produces.types`` names (formats/rules.py ``PRODUCES_TYPES``)."""
    if kind == "text":
        return isinstance(value, str)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, Mapping)
    return isinstance(value, (list, tuple))


def _mistyped(cert_type: str, name: str, path: str, kind: str, value: Any, case_id: Any) -> InputError:
    """The refusal of an approval whose permit would state ``name`` as a value of another type than the rule set
    gives it (red team round 77b: premises ``true``, or ``{"x": 1}``, were signed into a five-year permit)."""
    given = {bool: "true/false", str: "text", dict: "an object", list: "a list"}.get(type(value), "a number")
    return InputError(
        f"case {case_id!r}: the {cert_type} this approval issues states {name!r} as {kind} (the rule set's "
        f"produces.types), and {path!r} gives {given}: give it as {kind}. Nothing was recorded",
        field=f"application ({name})" if not CERTIFICATE_PATH.fullmatch(path) else "certificates",
    )


def _incomplete(
    cert_type: str, name: str, path: str, from_certificate: re.Match[str] | None, case_id: Any
) -> InputError:
    """The refusal of an approval whose permit would state nothing for ``name`` (red team round 77: a permit naming
    no premises, or no business, was signed and anchored for five years, to be shown wherever its holder likes)."""
    if from_certificate is not None:
        source = (
            f"certified from the applicant's own cited {from_certificate[1]} (verified, valid, unexpired, of an issuer "
            f"the rules trust, the first such citation), which does not disclose {from_certificate[2]!r}: cite that "
            f"certificate with {from_certificate[2]!r} disclosed, or by its digest"
        )
    else:
        source = f"copied from the application's {path!r}, which the application does not give: give it as text"
    return InputError(
        f"case {case_id!r}: the {cert_type} this approval issues states {name!r}, {source}. A permit stating nothing "
        "there would be signed and anchored for its holder to show for anything; nothing was recorded",
        field=f"application ({name})" if from_certificate is None else "certificates",
    )


# What a permit never copies from an application (red team rounds 69, 70, 71): a character that displays as nothing
# or as other text (formats/displayed.py), private use and unassigned code points included: each makes the
# certificate display as other text than it states (an address with a right-to-left override reads as another
# address in a page, on paper, in a terminal).
_MAX_TEXT_DEPTH = 64  # a copied value nested deeper is no field a permit states (refused, not walked further)


def _displayed_as_stated(value: Any, name: str, case_id: Any, depth: int = 0) -> Any:
    """``value`` (a field a permit copies), or InputError naming the field when a string in it holds a character
    that displays as nothing or as other text (:func:`~ledger.formats.displayed.hidden_character`); nothing is
    recorded or issued."""
    if isinstance(value, str):
        if (hidden := hidden_character(value)) is not None:
            raise InputError(
                f"case {case_id!r}: the permit would copy field {name!r} holding {describe(hidden)}, a character "
                "that is not shown as itself (a control, bidirectional, zero-width or filler character, a variation "
                "selector, a joiner that joins nothing, or a line separator), so the signed permit would read as other text than it "
                "states: the application must give it as plain text. Nothing was recorded",
                field=f"application ({name})",
            )
        return value
    if depth >= _MAX_TEXT_DEPTH and isinstance(value, (Mapping, list, tuple)):
        raise InputError(
            f"case {case_id!r}: the permit would copy field {name!r} nested more than {_MAX_TEXT_DEPTH} deep, which no "
            "certificate field is: give it as plain text. Nothing was recorded",
            field=f"application ({name})",
        )
    if isinstance(value, Mapping):
        for member, inner in value.items():
            _displayed_as_stated(member, name, case_id, depth + 1)
            _displayed_as_stated(inner, name, case_id, depth + 1)
    elif isinstance(value, (list, tuple)):
        for inner in value:
            _displayed_as_stated(inner, name, case_id, depth + 1)
    return value


def _bounded(record: dict[str, Any], limit: int) -> dict[str, Any]:
    """``record``, or InputError when it is past ``limit`` bytes as a JSON line: the bound every record of an
    issuance file is held to (``settings.max_record_bytes``, which the certificate document readers take 16 times
    at most), held to a permit too, whose record copies what the applicant typed (red team round 56: 200 KB of
    premises issued a 200 KB certificate)."""
    size = len(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass"))
    if size > limit:
        raise InputError(
            f"the permit this approval of case {record['subject'].get(PRODUCED_FIELD, {}).get('case_id')!r} issues "
            f"would be a record of {size:,} bytes, past the {limit:,} bytes any certificate's record may be (it "
            "copies fields of the application): the application's fields the permit copies are too long; nothing "
            "was recorded",
            field="application",
        )
    return record


@dataclass
class Produced:
    """Permits built for a run of decisions, stored ``prepared``, not anchored yet."""

    department: str
    built: list[issuance.BuiltBatch]
    digests: list[str]
    # (digest, key, case) of each key of each permit :func:`premises_keys` keys (its first key first; ``""`` when it
    # states nothing): written as the decisions are recorded
    keys: list[tuple[str, str, str]] = field(default_factory=list)
    # the rows of :data:`_BASES` of each permit (what it rests on: :func:`bases_of`), written as the keys are
    bases: list[dict[str, Any]] = field(default_factory=list)
    ledger: Ledger | None = None
    secret: bytes = field(default=b"", repr=False)  # the department's decision secret (the rows' MAC), in memory only
    types: list[str] = field(default_factory=list)  # the types of the permits keyed

    def anchor(self, ledger: Ledger) -> list[str]:
        """Anchor every permit batch (waits for the configured confirmations); returns the permit digests."""
        for built in self.built:
            issuance.submit(ledger, built)
        for built in self.built:
            issuance.confirm(ledger, built.root)
        return self.digests

    def discard(self, ledger: Ledger) -> None:
        """Remove the permits built, never sent: the decisions they were built for were not recorded."""
        for built in self.built:
            issuance.discard_prepared(ledger, built)

    def release(self, conn: Connection) -> None:
        """In the transaction that records their decisions: the permits, stored ``held`` (never sent, not even by
        ``ledger resume``), become sendable, and their keys are written (:func:`premises_keys`). A decision refused
        there leaves them held, then discarded. StateError when a permit for the same holder and premises became
        live meanwhile (another case approved at the same instant: the append serialises the two, and the later
        one's guard sees the earlier one's key)."""
        if self.keys and self.ledger is not None:
            # the decisions log held: no other approval writes the tree or appends a decision until this one commits
            logchain.hold_log(conn, LOG_DECISIONS, self.department)
            asked = [k for _, k, _ in self.keys if k]
            tree = _require_intact(self.ledger, self.department, self.secret, asked, conn, self.types)
            found = [(d, k) for k in sorted(set(asked)) for d in tree.found(k)]
            _refuse_standing(self.ledger, self.department, [t for t in self.keys if t[1]], conn=conn, found=found)
            tree.add(_log_head(conn, self.department), [(d, k) for d, k, _ in self.keys])
        if self.bases:
            conn.execute(_BASES.insert(), self.bases)
        issuance.release_held(conn, [built.root for built in self.built])


MAX_CERTIFICATE_ID = 128  # a certificate id's length (formats/certificate.py validate_record, Certificate)
_AGAIN_ROOM = 8  # what a case approved again after a withdrawal adds to its permit's id ("-2", "-3"...)


def permit_id(prefix: str, department: str, case_id: str) -> str:
    """The id of the permit an approval of ``case_id`` issues: ``PREFIX-DEPT-CASE``, or, when that (with room for
    a later approval's ``-N``) would be past the 128 characters a certificate id may be, the case number cut short
    and followed by ``~`` and 16 hex digits of its SHA-256 (red team round 77b: a 128-character case number, which
    every entry point takes, made an id no certificate may have, and its approval was refused as a bad record)."""
    whole = f"{prefix}-{department}-{case_id}"
    if len(whole) <= MAX_CERTIFICATE_ID - _AGAIN_ROOM:
        return whole
    mark = "~" + hashlib.sha256(case_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    head = f"{prefix}-{department}-"
    return head + case_id[: MAX_CERTIFICATE_ID - _AGAIN_ROOM - len(head) - len(mark)] + mark


def _unused_ids(ledger: Ledger, department: str, wanted: list[str]) -> list[str]:
    """``wanted`` ids, each made unique (a case approved again after a withdrawal gets ``-2``, ``-3``...)."""
    ids = col(Certificate.certificate_id)
    with ledger.engine.connect() as conn:
        taken = set(
            conn.execute(select(ids).where(col(Certificate.department_id) == department, ids.in_(wanted))).scalars()
        )
        for cid in list(taken):
            taken.update(
                conn.execute(
                    select(ids).where(col(Certificate.department_id) == department, ids.like(f"{cid}-%"))
                ).scalars()
            )
    out = []
    for cid in wanted:
        candidate, n = cid, 1
        while candidate in taken:
            n += 1
            candidate = f"{cid}-{n}"
        taken.add(candidate)
        out.append(candidate)
    return out


def prepare(
    ledger: Ledger,
    department: str,
    items: Sequence[tuple[RuleSet, dict[str, Any], Mapping[str, Any], str]],
    *,
    complete: bool = True,
) -> Produced:
    """For each (rule set, decision body, decision input, applicant identity) whose body approves under a rule set
    that produces a certificate: build the certificate, store its batch ``prepared`` and record ``issued`` in the
    body (which is not appended yet). Nothing is anchored here: :meth:`Produced.anchor`. ``complete``: the input is
    an application, so the certificate must state every field ``produces`` names (InputError naming the first it
    would state nothing for); False for an officer's approval given no input, whose permit states none."""
    wanted = [
        (rules, body, given, identity)
        for rules, body, given, identity in items
        if rules.produces is not None and body.get("outcome") == "approve"
    ]
    produced = Produced(department, [], [])
    if not wanted:
        return produced
    ids = _unused_ids(
        ledger,
        department,
        [permit_id(rules.produces["id_prefix"], department, body["case_id"]) for rules, body, _, _ in wanted],  # type: ignore[index]
    )
    # the cited certificates a produced field is taken from, opened as the decision verified them
    stored = (
        resolve_citations(ledger, [given for rules, _, given, _ in wanted])
        if any(CERTIFICATE_PATH.fullmatch(p) for rules, _, _, _ in wanted for p in rules.produces["fields"].values())  # type: ignore[index]
        else {}
    )
    raw = [
        _bounded(
            _record(rules, department, body, given, identity, cid, stored, complete),
            ledger.settings.max_record_bytes,
        )
        for (rules, body, given, identity), cid in zip(wanted, ids, strict=True)
    ]
    records = [validate_record(record, n, department=department) for n, record in enumerate(raw, start=1)]
    issuance.check_types_authorized(ledger, department, {r.cert_type for r in records})
    # one live permit per holder and premises, across cases (red team round 77): refused before anything is built
    keys = _keys(ledger, department, [rules for rules, _, _, _ in wanted], raw)
    _refuse_standing(
        ledger,
        department,
        [("", k, str(b["case_id"])) for (_, b, _, _), ks in zip(wanted, keys, strict=True) for k in ks or [] if k],
    )
    # a batch is of one certificate type (its schema, CertificateAnchor 3.0.0): the permits are batched per type,
    # and their digests listed in the order of the decisions
    per_type: dict[str, list[int]] = {}
    for n, record in enumerate(records):
        per_type.setdefault(record.cert_type, []).append(n)
    digests = [""] * len(records)
    size = ledger.settings.batch_size
    for indices in per_type.values():
        for start in range(0, len(indices), size):
            part = indices[start : start + size]
            built = issuance.build_batch(ledger, [records[n] for n in part], department)
            issuance.store_prepared(ledger, built, held=True)
            produced.built.append(built)
            for n, digest in zip(part, built.digests, strict=True):
                record = records[n]
                digests[n] = "0x" + digest.hex()
                wanted[n][1]["issued"] = {
                    "certificate": digests[n],
                    "type": record.cert_type,
                    "id": record.certificate_id,
                }
    produced.digests.extend(digests)
    produced.ledger = ledger
    # every permit of a rule set keying its permits gets a row ("" when it states nothing to key), so that a keyed
    # permit's decision with no row is an insider's deletion (_require_intact)
    produced.keys = [
        (d, k, str(w[1]["case_id"])) for d, ks, w in zip(digests, keys, wanted, strict=True) for k in ks or []
    ]
    if produced.keys:
        from .decisions import _secret

        produced.secret = _secret(ledger, department)
        produced.types = sorted({r.cert_type for r, ks in zip(records, keys, strict=True) if ks is not None})
    produced.bases = [
        _basis_row(digest, department, basis)
        for digest, (rules, body, _, _) in zip(digests, wanted, strict=True)
        for basis in bases_of(rules, body)
    ]
    return produced


# -- one live permit per holder and premises --------------------------------------------------------------------


# letters to ``str.isalnum`` that every screen shows blank (Hangul fillers): dropped as the spaces they look like
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
# letters to ``str.isalnum`` drawn as ASCII punctuation, which premises are compared without: the modifier letters
# (category Lm) NFKC leaves in the Spacing Modifier Letters and Modifier Tone Letters blocks (apostrophe U+02BC, prime,
# turned comma, vertical line, triangular colon, low macron...), the Lisu tone letters (drawn as . , .. ., ; :), the
# low circumflex U+A788, the NKo tone apostrophes and lajanyalan (an underscore), the Armenian half ring, the vertical
# tilde, the Latin retroflex click (an exclamation mark) and the Arabic tatweel, which only stretches a line: dropped
# as the marks they look like (red team round 85: ``O\u02bcBrien Road`` was other premises than ``O'Brien Road``)
_PUNCTUATION_LETTERS = frozenset(
    ch
    for ch in map(chr, [*range(0x02B0, 0x0300), *range(0xA700, 0xA720)])
    if unicodedata.category(ch) == "Lm" and unicodedata.normalize("NFKC", ch) == ch
) | frozenset("\ua4f8\ua4f9\ua4fa\ua4fb\ua4fc\ua4fd\ua788\u07f4\u07f5\u07fa\u0559\u2e2f\u01c3\u0640")
_DROPPED_LETTERS = _BLANK_LETTERS | _PUNCTUATION_LETTERS


# the Chinese numerals as written digit by digit (room 101 as U+4E00 U+3007 U+4E00): no decimal digits to Unicode
_CHINESE_DIGITS = dict(
    zip("\u3007\u96f6\u4e00\u4e8c\u4e09\u56db\u4e94\u516d\u4e03\u516b\u4e5d", "00123456789", strict=True)
)


def _compared_char(ch: str) -> str:
    digit = unicodedata.decimal(ch, None)
    return str(digit) if digit is not None else _CHINESE_DIGITS.get(ch, ch)


def _compared(value: Any, case: Callable[[str], str] | None = None) -> Any:
    """``value`` as premises are compared: text NFKC-normalised, a Cyrillic, Greek or Latin letter that looks like an
    ASCII letter or digit as that one (Unicode's confusables prototypes, :data:`~ledger.formats.lookalikes.LOOKALIKES`:
    ``R\u043ead`` with a Cyrillic o is ``Road``, red team round 84p), case-folded, letters and digits only (``Room
    101, 1 Keyuan Road`` and ``room 101 1 keyuan road.`` are one address), a decimal digit of any script as its value
    (Arabic-Indic U+0661 U+0660 U+0661 is ``101``, and so is the Chinese numerals' digit-by-digit U+4E00 U+3007
    U+4E00) and the blank Hangul filler letters dropped (red team round 83: each gave the same premises another
    key), as are the letters drawn as punctuation (:data:`_PUNCTUATION_LETTERS`: ``O\u02bcBrien``, with a modifier
    letter apostrophe, is ``obrien``, red team round 85); other values member by member. Text of ASCII alone compares
    as before. ``case``: the text put in capitals (:func:`_capitals`) or case-folded before the table is read (one of
    :data:`_READINGS`: :func:`premises_keys`)."""
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value)
        if not text.isascii():
            if case is not None:
                text = unicodedata.normalize("NFKC", case(text))
            text = "".join(LOOKALIKES.get(ch, ch) for ch in text)
        return "".join(_compared_char(ch) for ch in text.casefold() if ch.isalnum() and ch not in _DROPPED_LETTERS)
    if isinstance(value, Mapping):
        return {str(_compared(k, case)): _compared(v, case) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_compared(v, case) for v in value]
    return value


# the marks Greek capitals are written without: every combining mark on a Greek letter but the dialytika (U+0308),
# which capitals keep (``ΟΔΟΣ`` is ``Οδός`` in capitals; ``ΑΫΛΟΣ`` keeps its diaeresis)
_KEPT_ON_GREEK = frozenset("\u0308")


def _capitals(text: str) -> str:
    """``text`` in capitals as Greek writes them: upper-cased, the accents and breathings of Greek letters dropped."""
    out: list[str] = []
    greek = False
    for ch in unicodedata.normalize("NFD", text.upper()):
        if unicodedata.combining(ch):
            if greek and ch not in _KEPT_ON_GREEK:
                continue
        else:
            greek = unicodedata.name(ch, "").startswith("GREEK ")
        out.append(ch)
    return "".join(out)


# the readings of premises a permit is keyed by (red team round 85c): as typed (round 84p's key), in capitals and
# case-folded, each read through the look-alike table afterwards. The table is read before case-folding so that a
# Latin word respelt with a Greek capital nu (``KEYUA\u039d``) is ``KEYUAN``, where its small letter would be a
# ``v``; so the same Greek or Cyrillic premises in capitals, and with a final sigma as a medial one, read otherwise
# as typed. Read in capitals, or case-folded, they read alike: an application sharing any key with a live permit is
# the same premises. No one reading does both (capital nu N, small nu v: one key would make ``Ivy`` and ``Iny``
# one street); docs/decisions.md weighs them.
_READINGS: tuple[Callable[[str], str] | None, ...] = (None, _capitals, str.casefold)


def premises_keys(secret: bytes, spec: Mapping[str, Any], subject: Mapping[str, Any]) -> list[str] | None:
    """The keys of a permit of ``spec`` (a rule set's ``produces``) stating ``subject`` (field name -> value): a keyed
    hash of its type, its holder and the fields ``produces.one_per`` names, as compared (:func:`_compared`), for each
    reading of :data:`_READINGS` that gives other text (one for ASCII premises; the key as typed first); None when the
    rule set names none or the permit states nothing for one (an officer's approval given no input). Keyed with the
    department's decision secret, so a stored key names neither the holder nor the premises."""
    names = spec.get("one_per")
    holder = subject.get(spec["holder"])
    if not names or not isinstance(holder, str):
        return None
    values = {name: subject.get(name) for name in names}
    if any(_states_nothing(v) for v in values.values()):
        return None
    out: list[str] = []
    for case in _READINGS:
        text = json.dumps(
            ["pl-permit-key/1", spec["type"], holder, {k: _compared(v, case) for k, v in values.items()}],
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        key = "0x" + hmac.new(secret, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        if key not in out:
            out.append(key)
    return out


def premises_key(secret: bytes, spec: Mapping[str, Any], subject: Mapping[str, Any]) -> str | None:
    """The first of :func:`premises_keys`: the key of the premises as typed (round 84p's), or None."""
    keys = premises_keys(secret, spec, subject)
    return keys[0] if keys else None


def _keys(
    ledger: Ledger, department: str, rule_sets: Sequence[RuleSet], records: Sequence[Mapping[str, Any]]
) -> list[list[str] | None]:
    """Each record's :func:`premises_keys` (None: not keyed; ``[""]``: states nothing to key); InputError when two
    of them share one (one run cannot issue two permits for the same holder and premises; nothing is recorded)."""
    if not any((rules.produces or {}).get("one_per") for rules in rule_sets):
        return [None] * len(records)
    from .decisions import _secret

    secret = _secret(ledger, department)
    keys: list[list[str] | None] = [
        (premises_keys(secret, rules.produces or {}, record["subject"]) or [""])
        if (rules.produces or {}).get("one_per")
        else None
        for rules, record in zip(rule_sets, records, strict=True)
    ]
    first: dict[str, Any] = {}
    for some, record in zip(keys, records, strict=True):
        case = record["subject"][PRODUCED_FIELD]["case_id"]
        for key in some or []:
            if not key or first.setdefault(key, case) == case:
                continue
            raise InputError(
                f"cases {first[key]!r} and {case!r} both ask for a {record['type']} for the same holder and premises: "
                "a holder has one live permit per premises, so only one of them can be approved. Nothing was recorded",
                field="case_id",
            )
    for rules in {id(r): r for r in rule_sets if (r.produces or {}).get("one_per")}.values():
        _key_earlier(ledger, department, secret, rules.produces or {})
    return keys


def _key_earlier(ledger: Ledger, department: str, secret: bytes, spec: Mapping[str, Any]) -> None:
    """Key the permits of ``spec``'s type issued before migration 0022 or 0024, or blanked by ``ledger permits
    rekey`` (their row has no key yet): each is opened and keyed by the fields ``spec`` names, or given ``""`` when it
    states none of them (erased, or issued without an input), and put in the department's tree in one transaction
    under the decisions log held; a permit of another type is left for a rule set producing that type. Nothing is
    keyed while the tree does not check (the approval's guard then refuses, naming it)."""
    with ledger.engine.connect() as conn:
        unkeyed = list(
            conn.execute(
                select(_KEYS.c.digest).where(_KEYS.c.department_id == department, _KEYS.c.key.is_(None))
            ).scalars()
        )
        if not unkeyed:
            return
        rows: list[Any] = []
        for i in range(0, len(unkeyed), 900):
            # every type: the row's cert_type is the store's word, the sealed body's type is the permit's (red team
            # round 85: a live permit retyped in the store was passed over, so keyed by nothing)
            rows += conn.execute(
                select(col(Certificate.digest), col(Certificate.sealed), col(Certificate.cert_type)).where(
                    generations.digest_in(conn, unkeyed[i : i + 900])
                )
            ).all()
    keyed: list[tuple[str, str]] = []
    for digest, sealed, cert_type in rows:
        fields = sealed_fields(ledger, str(digest), sealed)
        if fields is None:
            # a body lawfully erased states nothing to compare; one that does not open or states other fields (an
            # insider's edit: reconcile names it) is left unkeyed, and the approval's guard refuses while it is
            # (_unkeyable): keyed as stating nothing, a live permit was found by no key (red team round 85)
            if cert_type == spec["type"] and erasure.attested_erased(ledger, str(digest), department):
                keyed.append((str(digest), ""))
            continue
        if fields.get("type") != spec["type"]:
            continue  # another type's permit: keyed when a rule set producing that type asks
        subject = {k.removeprefix("subject."): v for k, v in fields.items() if k.startswith("subject.")}
        try:
            keyed += [(str(digest), k) for k in premises_keys(secret, spec, subject) or [""]]
        except (ValueError, TypeError, AttributeError):
            keyed.append((str(digest), ""))
    with ledger.engine.begin() as conn:
        logchain.hold_log(conn, LOG_DECISIONS, department)
        tree = _Tree(conn, ledger, department, secret)
        if tree.problem() is not None or tree.bucket_problem({_bucket(k) for _, k in keyed if k}) is not None:
            return  # the approval's guard names it
        still = set(
            conn.execute(
                select(_KEYS.c.digest).where(
                    _KEYS.c.department_id == department, _KEYS.c.key.is_(None), _KEYS.c.nth == 0
                )
            ).scalars()
        )
        # a permit keyed in one row only, not keyed yet (one with more rows was not blanked by a rekey or the
        # migration: the guard names its bucket)
        asked = sorted(still & {d for d, _ in keyed})
        for i in range(0, len(asked), 900):
            still -= set(
                conn.execute(
                    select(_KEYS.c.digest).where(_KEYS.c.digest.in_(asked[i : i + 900]), _KEYS.c.nth > 0)
                ).scalars()
            )
        tree.add(_log_head(conn, department), [(d, k) for d, k in keyed if d in still], update=True)


def row_mac(secret: bytes, department: str, digest: str, key: str, after_seq: int) -> str:
    """The MAC binding a ``permit_key`` row to its department (migration 0024): its permit, key and the decision-log
    head it was written after, under the department's decision secret (which the database holds only sealed), so an
    insider can neither write a row nor change one (red team round 84p)."""
    one = hmac.new(secret, b"pl-permit-key-row/2", hashlib.sha256)
    # NUL-separated: a department, two hex texts (or "") and a number hold none
    one.update(f"\x00{department}\x00{digest}\x00{key}\x00{after_seq}".encode("utf-8", "surrogatepass"))
    return "0x" + one.hexdigest()


def tree_mac(secret: bytes, department: str, root: str, after_seq: int) -> str:
    """The MAC binding a department's permit-key tree root (``permit_key_tree``) to it and to the decision-log head
    it was written after (red team round 84q)."""
    one = hmac.new(secret, b"pl-permit-key-tree/1", hashlib.sha256)
    one.update(f"\x00{department}\x00{root}\x00{after_seq}".encode("utf-8", "surrogatepass"))
    return "0x" + one.hexdigest()


_DEPTH = 16  # the tree's levels below the root: a bucket is a key's first 16 bits (65,536 buckets)
_KEY_TEXT = re.compile(r"0x[0-9a-f]{64}")


def _bucket(key: str) -> int:
    return int(key[2:6], 16)


def _leaf(entries: Iterable[tuple[str, str]]) -> bytes:
    """A bucket's leaf hash: its (key, permit) pairs in order ("" for a row's missing key)."""
    one = hashlib.sha256(b"pl-permit-key-leaf/1")
    for key, digest in sorted(entries):
        one.update(f"\x00{key}\x00{digest}".encode("utf-8", "surrogatepass"))
    return one.digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"pl-permit-key-node/1" + left + right).digest()


def _empties() -> list[bytes]:
    """The hash of an empty subtree at each level (0: the root of an empty tree)."""
    out = [_leaf(())]
    for _ in range(_DEPTH):
        out.append(_node(out[-1], out[-1]))
    return out[::-1]


_EMPTY = _empties()


class _Tree:
    """A department's permit-key tree as its transaction reads it (the decisions log held): the MACed root, the
    buckets asked and their paths; :meth:`problem` and :meth:`bucket_problem` say why it cannot be trusted,
    :meth:`add` puts rows in (writing the rows, the changed nodes and the root)."""

    _NODES = PermitKeyNode.__table__  # type: ignore[attr-defined]
    _ROOTS = PermitKeyTree.__table__  # type: ignore[attr-defined]

    def __init__(self, conn: Connection, ledger: Ledger, department: str, secret: bytes) -> None:
        self.conn, self.ledger, self.department, self.secret = conn, ledger, department, secret
        row = conn.execute(
            select(self._ROOTS.c.root, self._ROOTS.c.after_seq, self._ROOTS.c.mac).where(
                self._ROOTS.c.department_id == department
            )
        ).first()
        self.stored = row
        self.root = "0x" + _EMPTY[0].hex() if row is None else str(row.root)
        self.after_seq = 0 if row is None else row.after_seq
        self.rows: dict[int, list[Any]] = {}  # bucket -> its rows
        self.nodes: dict[tuple[int, int], bytes] = {}  # (level, position) -> hash, as stored or as written

    def problem(self) -> str | None:
        """Why the root cannot be trusted: its MAC does not check, or a decision recorded after it issued a permit
        of a rule set keying its permits whose row is missing, does not check or was written after the root (the
        tree, or the table, put back from before: red team round 84p's older copy)."""
        if self.stored is not None and (
            type(self.after_seq) is not int
            or not hmac.compare_digest(
                str(self.stored.mac), tree_mac(self.secret, self.department, self.root, self.after_seq)
            )
        ):
            return "the tree's root does not check against its MAC"
        if self.stored is None:
            # no tree yet (a new department, or after migration 0024 or `ledger permits rekey`): no row is keyed, and
            # every permit a decision issued has a row to key (one look at the whole log, until the tree is written)
            keyed = self.conn.execute(
                select(_KEYS.c.digest)
                .where(_KEYS.c.department_id == self.department, _KEYS.c.key.is_not(None))
                .limit(1)
            ).scalar()
            if keyed is not None:
                return f"permit {keyed}'s row is keyed but the department's tree is missing (it was deleted)"
        entry = logchain.LogEntry
        rule_sets: dict[str, Any] = {}
        for seq, text in self.conn.execute(
            select(col(entry.seq), col(entry.body)).where(
                col(entry.log) == LOG_DECISIONS,
                col(entry.department_id) == self.department,
                col(entry.seq) > self.after_seq,
                col(entry.body).contains('"issued":{'),
            )
        ):
            try:
                body = logchain.read_body(text, LOG_DECISIONS, self.department, seq)
            except logchain.UnreadableEntry:
                continue  # an entry edited in the database: replay names it
            issued = body.get("issued")
            digest = issued.get("certificate") if isinstance(issued, Mapping) else None
            if not isinstance(digest, str):
                continue
            rows = self.conn.execute(
                select(_KEYS.c.key, _KEYS.c.after_seq, _KEYS.c.mac).where(
                    _KEYS.c.digest == digest, _KEYS.c.department_id == self.department
                )
            ).all()
            if rows and all(row.key is None for row in rows) and self.stored is None:
                continue  # to be keyed (_key_earlier)
            for row in rows:  # each key of the permit (premises_keys): one row a key
                if row.key is None:
                    continue
                if type(row.after_seq) is not int or not hmac.compare_digest(
                    str(row.mac or ""), row_mac(self.secret, self.department, digest, str(row.key), row.after_seq)
                ):
                    return f"permit {digest}'s row does not check against its MAC (its key or permit was changed)"
                if row.after_seq > self.after_seq:
                    return f"permit {digest}'s row is newer than the tree's root (the tree was put back from before)"
            if rows and all(row.key is not None for row in rows):
                continue
            if _states_a_key(self.conn, self.ledger, self.department, self.secret, digest, body, rule_sets):
                return (
                    f"decision {seq} issued permit {digest}, which has no row (rows were deleted or put back; if its "
                    "certificate row or sealed body is gone too, restore them from a backup: `ledger reconcile` names "
                    "them)"
                )
        return None

    def _read(self, buckets: Iterable[int]) -> None:
        wanted = sorted(set(buckets) - set(self.rows))
        if not wanted:
            return
        for b in wanted:
            self.rows[b] = []
        for i in range(0, len(wanted), 900):
            for row in self.conn.execute(
                select(_KEYS.c.digest, _KEYS.c.key, _KEYS.c.bucket).where(
                    _KEYS.c.department_id == self.department, _KEYS.c.bucket.in_(wanted[i : i + 900])
                )
            ):
                if type(row.bucket) is int and row.bucket in self.rows:
                    self.rows[row.bucket].append(row)
        places = sorted(
            {(level, (b >> (_DEPTH - level)) ^ 1) for b in wanted for level in range(1, _DEPTH + 1)} - set(self.nodes)
        )
        nodes = self._NODES
        for level in range(1, _DEPTH + 1):
            at = sorted({p for lv, p in places if lv == level})
            for i in range(0, len(at), 900):
                for position, text in self.conn.execute(
                    select(nodes.c.position, nodes.c.hash).where(
                        nodes.c.department_id == self.department,
                        nodes.c.level == level,
                        nodes.c.position.in_(at[i : i + 900]),
                    )
                ):
                    try:
                        self.nodes[(level, int(position))] = bytes.fromhex(str(text)[2:])
                    except ValueError:
                        self.nodes[(level, int(position))] = b""  # an edited node: its root will not check

    def _root_with(self, leaves: Mapping[int, bytes]) -> tuple[bytes, dict[tuple[int, int], bytes]]:
        """The root over ``leaves`` (bucket -> leaf hash) and the stored nodes beside their paths, and every node
        on those paths."""
        current = dict(leaves)
        made: dict[tuple[int, int], bytes] = {(_DEPTH, b): h for b, h in leaves.items()}
        for level in range(_DEPTH, 0, -1):
            parents: dict[int, bytes] = {}
            for position in {p >> 1 for p in current}:
                left, right = (
                    current[p] if p in current else self.nodes.get((level, p), _EMPTY[level])
                    for p in (2 * position, 2 * position + 1)
                )
                parents[position] = _node(left, right)
                made[(level - 1, position)] = parents[position]
            current = parents
        return current[0], made

    def bucket_problem(self, buckets: Iterable[int]) -> str | None:
        """Why ``buckets``' rows and paths do not hash to the root (a row deleted, rekeyed, blanked or added, a node
        edited), or None."""
        wanted = set(buckets)
        if not wanted:
            return None
        self._read(wanted)
        leaves = {b: _leaf((str(r.key or ""), str(r.digest)) for r in self.rows[b]) for b in wanted}
        root, _ = self._root_with(leaves)
        if "0x" + root.hex() != self.root:
            return (
                f"the rows of key bucket(s) {', '.join(f'{b:04x}' for b in sorted(wanted))} do not hash to the tree's "
                "root (a row was deleted, rekeyed, blanked or added, or a node edited)"
            )
        return None

    def found(self, key: str) -> list[str]:
        """The permits whose row holds ``key`` (its bucket checked by :meth:`bucket_problem`)."""
        return sorted(str(r.digest) for r in self.rows.get(_bucket(key), []) if r.key == key)

    def add(self, head: int, entries: Sequence[tuple[str, str]], *, update: bool = False) -> None:
        """Write a row for each (permit, key) of ``entries`` (a permit's keys in order: its ``nth`` 0, 1...;
        ``update``: each permit has its row 0, keyless), a keyed one into its bucket, then the changed nodes and the
        root, MACed, written after decision ``head``."""
        buckets = {_bucket(k) for _, k in entries if k}
        self._read(buckets)
        counted: dict[str, int] = {}
        values: list[dict[str, Any]] = []
        for d, k in entries:
            counted[d] = counted.get(d, -1) + 1
            values.append(
                {
                    "digest": d,
                    "nth": counted[d],
                    "department_id": self.department,
                    "key": k,
                    "bucket": _bucket(k) if k else None,
                    "after_seq": head,
                    "mac": row_mac(self.secret, self.department, d, k, head),
                }
            )
        if update:
            for value in [v for v in values if v["nth"] == 0]:
                self.conn.execute(
                    _KEYS.update()
                    .where(_KEYS.c.digest == value["digest"], _KEYS.c.nth == 0, _KEYS.c.key.is_(None))
                    .values(**value)
                )
            values = [v for v in values if v["nth"] > 0]
        if values:
            self.conn.execute(_KEYS.insert(), values)
        for d, k in entries:
            if k:
                self.rows[_bucket(k)].append(_Entry(d, k, _bucket(k)))
        self._write(head, buckets)

    def blank(self, head: int, digest: str, keys: Sequence[str]) -> None:
        """Blank the rows of permit ``digest`` (keyed ``keys``, their buckets checked by :meth:`bucket_problem`): its
        first row's key becomes ``""`` (it states nothing to compare, as an erased permit keyed after its erasure
        does), MACed after decision ``head``, its other rows go, and their buckets' leaves, the paths above them and
        the root are written again without them."""
        buckets = {_bucket(k) for k in keys}
        self._read(buckets)
        mine = (_KEYS.c.digest == digest) & (_KEYS.c.department_id == self.department)
        self.conn.execute(_KEYS.delete().where(mine, _KEYS.c.nth > 0))
        self.conn.execute(
            _KEYS.update()
            .where(mine, _KEYS.c.nth == 0)
            .values(key="", bucket=None, after_seq=head, mac=row_mac(self.secret, self.department, digest, "", head))
        )
        for bucket in buckets:
            self.rows[bucket] = [r for r in self.rows[bucket] if str(r.digest) != digest]
        self._write(head, buckets)

    def _write(self, head: int, buckets: set[int]) -> None:
        """Write the leaves of ``buckets`` (as :attr:`rows` holds them now), the nodes on their paths and the root,
        MACed, written after decision ``head``."""
        root_hex = self.root
        if buckets:
            root, made = self._root_with(
                {b: _leaf((str(r.key or ""), str(r.digest)) for r in self.rows[b]) for b in buckets}
            )
            self.nodes.update(made)
            nodes = self._NODES
            places = sorted(made)
            for level in range(0, _DEPTH + 1):
                at = [p for lv, p in places if lv == level]
                for i in range(0, len(at), 900):
                    self.conn.execute(
                        nodes.delete().where(
                            nodes.c.department_id == self.department,
                            nodes.c.level == level,
                            nodes.c.position.in_(at[i : i + 900]),
                        )
                    )
            for i in range(0, len(places), 5_000):
                self.conn.execute(
                    nodes.insert(),
                    [
                        {
                            "department_id": self.department,
                            "level": lv,
                            "position": p,
                            "hash": "0x" + made[(lv, p)].hex(),
                        }
                        for lv, p in places[i : i + 5_000]
                    ],
                )
            root_hex = "0x" + root.hex()
        roots = self._ROOTS
        self.conn.execute(roots.delete().where(roots.c.department_id == self.department))
        self.conn.execute(
            roots.insert(),
            [
                {
                    "department_id": self.department,
                    "root": root_hex,
                    "after_seq": head,
                    "mac": tree_mac(self.secret, self.department, root_hex, head),
                }
            ],
        )
        self.root, self.after_seq = root_hex, head


@dataclass(frozen=True)
class _Entry:
    digest: str
    key: str
    bucket: int


def _log_head(conn: Connection, department: str) -> int:
    from sqlalchemy import func

    entry = logchain.LogEntry
    return int(
        conn.execute(
            select(func.coalesce(func.max(entry.seq), 0)).where(
                col(entry.log) == LOG_DECISIONS, col(entry.department_id) == department
            )
        ).scalar_one()
    )


def key_rows_problem(
    ledger: Ledger, department: str, secret: bytes, keys: Iterable[str], conn: Connection, spec_types: Iterable[str]
) -> tuple[str | None, _Tree]:
    """Why ``department``'s ``permit_key`` rows cannot be trusted to find its live permits of ``keys``, or None
    (red team round 84p: an insider deleting, rekeying or blanking a row, or putting back an older copy of the table,
    let a second permit for the same holder and premises through), and the tree read:

    * the tree's root does not check against its MAC, or a decision after it issued a keyed permit whose row is
      missing, does not check or is newer than the root (the tree or the table put back from before);
    * the rows of a bucket a key asked falls in, with their path, do not hash to the root (a row deleted, rekeyed,
      blanked or added, a node edited);
    * a permit of a type asked about is left without a key (blanked to be keyed again, and its bucket did not check).

    Reads the root, one bucket and its 16 path nodes a key, and the decisions after the root (the approvals since the
    last keyed one): the cost does not grow with the department's permits (red team round 84q, docs/decisions.md)."""
    tree = _Tree(conn, ledger, department, secret)
    problem = tree.problem() or tree.bucket_problem(_bucket(k) for k in keys if _KEY_TEXT.fullmatch(k))
    types = sorted(set(spec_types))
    if problem is None and types:
        # rows left keyless (of types no approval asked about since 0024 or a rekey: not of these, _key_earlier keyed
        # them; few, found by the key's index)
        unkeyed = list(
            conn.execute(
                select(_KEYS.c.digest).where(_KEYS.c.department_id == department, _KEYS.c.key.is_(None))
            ).scalars()
        )
        for i in range(0, len(unkeyed), 900):
            left = conn.execute(
                select(col(Certificate.digest))
                .where(generations.digest_in(conn, unkeyed[i : i + 900]), col(Certificate.cert_type).in_(types))
                .limit(1)
            ).scalar()
            if left is not None:
                problem = f"permit {left}'s row is left without a key (it was blanked, and its bucket does not check)"
                break
        if problem is None and unkeyed:
            problem = _unkeyable(ledger, department, unkeyed, types, conn)
    return problem, tree


def _unkeyable(
    ledger: Ledger, department: str, unkeyed: Sequence[str], types: Sequence[str], conn: Connection
) -> str | None:
    """Why a row left without a key may hide a live permit of ``types`` from the approval (red team round 85), or
    None: its certificate row is gone, or its sealed body states one of those types (its row's ``cert_type`` was
    changed, so keying passed it over), or does not open or states other fields than its digest's and its contents
    were not lawfully erased (keyed as stating nothing, it was found by no key). The rows left are few: those of types
    no approval asked about since migration 0024 or a rekey (one open each)."""
    for i in range(0, len(unkeyed), 900):
        part = unkeyed[i : i + 900]
        rows = conn.execute(
            select(col(Certificate.digest), col(Certificate.sealed)).where(generations.digest_in(conn, part))
        ).all()
        gone = sorted(set(map(str, part)) - {str(d) for d, _ in rows})
        if gone:
            # a key row is written only for a permit the store holds (release, rekey), and none is deleted after
            return (
                f"permit {gone[0]}'s certificate row is gone, so it cannot be keyed (restore it from a backup: "
                "`ledger reconcile` names it)"
            )
        for digest, sealed in rows:
            fields = sealed_fields(ledger, str(digest), sealed)
            if fields is None and not erasure.attested_erased(ledger, str(digest), department):
                return (
                    f"permit {digest}'s sealed body does not open or states other fields than its digest's, so it "
                    "cannot be keyed (restore the body from a backup: `ledger reconcile` names the row; if it was "
                    "lawfully erased, anchor the erasure first: `ledger anchor-logs --log erasures`)"
                )
            if fields is not None and fields.get("type") in types:
                return f"permit {digest}'s row is left without a key (its type in the store was changed)"
    return None


def _states_a_key(
    conn: Connection,
    ledger: Ledger,
    department: str,
    secret: bytes,
    digest: str,
    body: Mapping[str, Any],
    rule_sets: dict[str, Any],
) -> bool:
    """Whether the permit ``digest`` a decision (``body``) issued has a :func:`premises_key`, read from its sealed
    fields under the decision's rule set. A permit whose certificate row is gone, or whose body does not read and was
    not lawfully erased (its erasure the chain's fact), is taken to state one: nothing says it does not, and taken as
    stating nothing, its key row deleted with it (and the department's rows rekeyed by hand) hid a live permit from
    the approval (red team round 85)."""
    from .decisions import load_recorded_rule_set

    named = str(body.get("rule_set"))
    if named not in rule_sets:
        rule_sets[named] = load_recorded_rule_set(ledger, named)[0]
    rules = rule_sets[named]
    spec = (rules.produces or {}) if rules is not None else {}
    if not spec.get("one_per"):
        return False
    # by the digest alone: the decision names the permit, whatever department its row now says (red team round 85:
    # a row moved to another department read as a permit stating nothing, so its deleted key row as no loss)
    row = conn.execute(select(col(Certificate.sealed)).where(generations.digest_in(conn, [digest]))).first()
    if row is None:
        return True
    fields = sealed_fields(ledger, digest, row.sealed)
    if fields is None:
        return not erasure.attested_erased(ledger, digest, department)
    subject = {k.removeprefix("subject."): v for k, v in fields.items() if k.startswith("subject.")}
    try:
        return premises_key(secret, spec, subject) is not None
    except (ValueError, TypeError, AttributeError):
        return False


def _require_intact(
    ledger: Ledger, department: str, secret: bytes, keys: Iterable[str], conn: Connection, spec_types: Iterable[str]
) -> _Tree:
    """The department's tree with ``keys``' buckets checked, or StateError when :func:`key_rows_problem` finds a
    problem: no approval of a keyed permit is recorded while the rows by which it finds the holder's live permits
    cannot be trusted."""
    problem, tree = key_rows_problem(ledger, department, secret, keys, conn, spec_types)
    if problem is not None:
        raise StateError(
            f"{department}'s permit_key rows were altered in the database: {problem}. An approval finds the holder's "
            "live permit for the same premises by them, so none is recorded until they are put right: `ledger replay` "
            f"names the permits (permit_key_altered), and `ledger permits rekey --department {department}` keys every "
            "permit again from its sealed fields. Nothing was recorded"
        )
    return tree


def rekey(ledger: Ledger, department: str) -> int:
    """Put ``department``'s ``permit_key`` rows right after :func:`_require_intact` refused them: a row (not keyed)
    for every permit a decision of its log says it issued and its store holds, every row's key, bucket and MAC
    blanked and the tree dropped, so that the next approval keys each permit of its type again from the permit's
    sealed fields (:func:`_key_earlier`) into a new tree; a permit's rows past its first go (each of its keys is
    written again). The decisions log is read whole; returns the rows blanked."""
    ledger.department_account(department)  # a department this ledger signs for (KeystoreError otherwise)
    entry = logchain.LogEntry
    with ledger.engine.begin() as conn:
        logchain.hold_log(conn, LOG_DECISIONS, department)
        named: set[str] = set()
        for seq, text in conn.execute(
            select(col(entry.seq), col(entry.body)).where(
                col(entry.log) == LOG_DECISIONS,
                col(entry.department_id) == department,
                col(entry.body).contains('"issued":{'),
            )
        ):
            try:
                issued = logchain.read_body(text, LOG_DECISIONS, department, seq).get("issued")
            except logchain.UnreadableEntry:
                continue  # replay names it
            if isinstance(issued, Mapping) and isinstance(issued.get("certificate"), str):
                named.add(issued["certificate"])
        have = {
            str(d) for d in conn.execute(select(_KEYS.c.digest).where(_KEYS.c.department_id == department)).scalars()
        }
        wanted = sorted(named - have)
        held: list[str] = []
        for i in range(0, len(wanted), 900):
            held += [
                str(d)
                # by digest alone: a permit the department's decision names is its own whatever department its row
                # now says (red team round 85: a row moved to another department was left without a key row)
                for d in conn.execute(
                    select(col(Certificate.digest)).where(generations.digest_in(conn, wanted[i : i + 900]))
                ).scalars()
            ]
        if held:
            conn.execute(
                _KEYS.insert(), [{"digest": d, "nth": 0, "department_id": department, "key": None} for d in held]
            )
        # a permit's keys but its first go with their rows (keyed again from its sealed fields: premises_keys)
        conn.execute(_KEYS.delete().where(_KEYS.c.department_id == department, _KEYS.c.nth > 0))
        blanked = conn.execute(
            _KEYS.update()
            .where(_KEYS.c.department_id == department)
            .values(key=None, bucket=None, after_seq=None, mac=None)
        ).rowcount
        conn.execute(_Tree._NODES.delete().where(_Tree._NODES.c.department_id == department))
        conn.execute(_Tree._ROOTS.delete().where(_Tree._ROOTS.c.department_id == department))
    return int(blanked)


def _keyed(ledger: Ledger, department: str, digest: str, conn: Connection | None = None) -> list[str]:
    """The keys permit ``digest``'s ``permit_key`` rows hold, in order (none: no row, not keyed yet, or ``""``)."""
    query = (
        select(_KEYS.c.key).where(_KEYS.c.digest == digest, _KEYS.c.department_id == department).order_by(_KEYS.c.nth)
    )
    if conn is None:
        with ledger.engine.connect() as own:
            keys = list(own.execute(query).scalars())
    else:
        keys = list(conn.execute(query).scalars())
    return [k for k in keys if isinstance(k, str) and _KEY_TEXT.fullmatch(k)]


def validity_ended(ledger: Ledger, department: str, digest: str) -> bool:
    """Whether the keyed permit ``digest`` is past the end of its validity as its sealed body states it (False for a
    certificate that is no keyed permit): asked by an erasure before it destroys the body (:func:`forget_key`)."""
    if not _keyed(ledger, department, digest):
        return False
    with ledger.engine.connect() as conn:
        sealed = conn.execute(
            select(col(Certificate.sealed)).where(
                generations.digest_in(conn, [digest]), col(Certificate.department_id) == department
            )
        ).scalar()
    return _ended(ledger, digest, sealed, datetime.now(UTC))


def forget_key(ledger: Ledger, department: str, digest: str, *, expired: bool = False) -> str | None:
    """Blank the key of the erased permit ``digest`` once it has ended (``expired``: its sealed body said so before
    the erasure destroyed it; else revoked or superseded on chain). The key is a hash of the holder and the premises
    keyed with the department's decision secret, which the erasure leaves: kept, it linked the erased permit to every
    other permit of the same holder and premises, and confirmed a guessed holder and premises to whoever holds the
    secret (red team round 85b). A permit that still stands keeps it, as the guard needs it (:func:`standing` holds an
    erased permit live until the chain ends it); ``ledger erase`` run again once it has ended blanks it. Nothing is
    blanked while the department's key rows do not check (the approval's guard names them; ``ledger permits rekey``
    blanks every row) or the chain cannot be read. Returns what became of the key, for the erasure's result: None for
    a certificate with no key (no keyed permit, or blanked already)."""
    keys = _keyed(ledger, department, digest)
    if not keys:
        return None
    if not expired:
        try:
            now = chain_statuses(ledger, department, [digest]).get(digest)
        except (ChainError, OSError):
            return (
                "kept: whether the permit has ended could not be read from the chain; run `ledger erase` of it again "
                "to remove its key of the holder and premises"
            )
        if now not in ("revoked", "superseded"):
            return (
                "kept while the permit stands (the guard of one live permit per holder and premises needs it): run "
                "`ledger erase` of it again once it has ended (revoked or superseded) to remove it"
            )
    from .decisions import _secret

    secret = _secret(ledger, department)
    with ledger.engine.begin() as conn:
        logchain.hold_log(conn, LOG_DECISIONS, department)
        if _keyed(ledger, department, digest, conn) != keys:
            return None  # blanked (or rekeyed) meanwhile
        tree = _Tree(conn, ledger, department, secret)
        problem = tree.problem() or tree.bucket_problem({_bucket(k) for k in keys})
        if problem is not None:
            return (
                f"kept: {department}'s permit_key rows were altered in the database ({problem}); `ledger permits "
                f"rekey --department {department}` puts them right, then run `ledger erase` of it again"
            )
        tree.blank(_log_head(conn, department), digest, keys)
    return "blanked"


def standing(
    ledger: Ledger,
    department: str,
    keys: Iterable[str],
    *,
    conn: Connection | None = None,
    found: Sequence[tuple[str, str]] | None = None,
) -> dict[str, tuple[str, str | None]]:
    """key -> (digest, case) of a permit of ``department`` with that key that has not ended: not past the validity
    its sealed body states, and neither revoked nor superseded on chain by ``department`` (one not anchored yet, or
    whose store rows no longer lead to its anchoring, has not ended). ``conn``: the keys are read in that connection's
    transaction; ``found``: the (permit, key) rows the recording transaction's guard read from checked buckets
    (:func:`_require_intact`), read instead."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}

    def read(c: Connection) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for i in range(0, len(wanted), 900):
            out += [
                (str(d), str(k))
                for d, k in c.execute(
                    select(_KEYS.c.digest, _KEYS.c.key).where(
                        _KEYS.c.department_id == department, _KEYS.c.key.in_(wanted[i : i + 900])
                    )
                )
            ]
        return out

    if found is not None:
        found = [(d, k) for d, k in found if k in wanted]
    elif conn is not None:
        found = read(conn)
    else:
        with ledger.engine.connect() as own:
            found = read(own)
    if not found:
        return {}
    now = datetime.now(UTC)
    digests = [d for d, _ in found]
    with ledger.engine.connect() as c:
        # the sealed body by its digest alone (the vault binds it to the digest): the row's department, batch and the
        # batch's state are the store's word, and an insider relabelling the batch ``held``, or moving the row to
        # another department, left the live permit out (red team round 85); a permit the tree finds was recorded
        # with its decision (release: one transaction), so it has ended only when its sealed dates or the chain say so
        sealed_of = dict(
            c.execute(
                select(col(Certificate.digest), col(Certificate.sealed)).where(generations.digest_in(c, digests))
            ).all()
        )
        alive = {d for d in digests if not _ended(ledger, d, sealed_of.get(d), now)}
        cases = dict(
            c.execute(
                select(col(ProducedCertificate.digest), col(ProducedCertificate.case_id)).where(
                    col(ProducedCertificate.digest).in_(digests)
                )
            ).all()
        )
    statuses = chain_statuses(ledger, department, alive)
    out: dict[str, tuple[str, str | None]] = {}
    for digest, key in found:
        if digest in alive and statuses.get(digest) not in ("revoked", "superseded"):
            out.setdefault(key, (digest, cases.get(digest)))
    return out


def sealed_fields(ledger: Ledger, digest: str, sealed: bytes | None) -> dict[str, Any] | None:
    """The fields of the certificate ``digest`` as its sealed body states them, once they hash to the digest; None
    when the body is gone (erased), does not open, or states other fields."""
    if sealed is None:
        return None
    try:
        fields, salts = read_sealed_body(ledger.vault.open(bytes(sealed), bytes.fromhex(digest[2:])))
        if not isinstance(fields, dict) or certificate_digest(field_hashes(fields, salts), fields.get("type")) != (
            bytes.fromhex(digest[2:])
        ):
            return None
    except (LedgerError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return fields


def _ended(ledger: Ledger, digest: str, sealed: bytes | None, now: datetime) -> bool:
    """Whether the permit ``digest`` is past the end of its validity as its sealed body states it (red team round
    84q: an insider re-dating the store's ``valid_until`` column to the past made a live permit look expired, and a
    second permit for the same premises was approved). A body that is gone, does not open, states other fields than
    its digest's or an end that is no date has not ended: the store's columns are never read for it."""
    fields = sealed_fields(ledger, digest, sealed)
    if fields is None or fields.get("valid_until") is None:
        return False
    try:
        return checks.validity_end(fields["valid_until"]) < now
    except InputError:
        return False


def _refuse_standing(
    ledger: Ledger,
    department: str,
    keys: Sequence[tuple[str, str, str]],
    *,
    conn: Connection | None = None,
    found: Sequence[tuple[str, str]] | None = None,
) -> None:
    """StateError when a permit of ``department`` for the same holder and premises as one of ``keys`` ((digest, key,
    case) of the permits about to be issued) has not ended: the case is not approved (nothing recorded)."""
    live = standing(ledger, department, [k for _, k, _ in keys], conn=conn, found=found)
    for _, key, case in keys:
        if key in live:
            digest, other = live[key]
            raise StateError(
                f"case {case!r}: the holder has a live permit for the same premises ({digest}"
                + (f", case {other!r}" if other else "")
                + "): a holder has one live permit per premises, and another would stay valid after the first is "
                "withdrawn. Nothing was recorded; that permit must end first (its case refused or withdrawn, or "
                "`ledger revoke`), or change what it states by refusing and approving its own case again"
            )


def link(ledger: Ledger, department: str, after_seq: int, bodies: Sequence[Mapping[str, Any]]) -> None:
    """Write the index rows of the decisions ``bodies`` just appended after sequence number ``after_seq``. Each row
    is found by the permit digest its body names, not by position, so a concurrent writer's entries in between
    cannot shift a link onto another decision."""
    wanted = {body["issued"]["certificate"]: body for body in bodies if isinstance(body.get("issued"), Mapping)}
    if not wanted:
        return
    rows = []
    with ledger.engine.connect() as conn:
        entry = logchain.LogEntry
        result = conn.execute(
            select(col(entry.seq), col(entry.entry_hash), col(entry.body)).where(
                col(entry.log) == LOG_DECISIONS,
                col(entry.department_id) == department,
                col(entry.seq) > after_seq,
                col(entry.body).contains('"issued":{'),
            )
        )
        for seq, entry_hash, text in result:
            try:
                issued: Any = logchain.read_body(text, LOG_DECISIONS, department, seq).get("issued")
            except logchain.UnreadableEntry:
                continue  # another entry, edited in the database: replay names it
            body = wanted.pop(issued.get("certificate"), None) if isinstance(issued, dict) else None
            if body is not None:
                rows.append(
                    {
                        "digest": issued["certificate"],
                        "department_id": department,
                        "case_id": body["case_id"],
                        "certificate_id": issued["id"],
                        "decision_seq": int(seq),
                        "entry_hash": entry_hash,
                    }
                )
    if rows:
        with ledger.engine.begin() as conn:
            conn.execute(_LINKS.insert(), rows)


def head_seq(ledger: Ledger, department: str) -> int:
    """The department's last decision number (0 when it has none)."""
    from sqlalchemy import func

    with ledger.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.coalesce(func.max(logchain.LogEntry.seq), 0)).where(
                    col(logchain.LogEntry.log) == LOG_DECISIONS, col(logchain.LogEntry.department_id) == department
                )
            ).scalar_one()
        )


def documents(ledger: Ledger, digests: Iterable[str]) -> list[dict[str, Any]]:
    """The holder documents of anchored permits, in the order given (for delivery to the applicants)."""
    wanted = list(digests)
    found = issuance.export_documents(ledger, wanted)
    return [found[d] for d in wanted if d in found]


# -- withdrawal -------------------------------------------------------------------------------------------------


def withdrawn(ledger: Ledger, department: str, target_seq: int | None, outcome: str, case_id: str) -> list[str]:
    """The permits an override of decision ``target_seq`` (of case ``case_id``) with ``outcome`` withdraws: none
    unless it refuses; then every permit any decision of the case issued that is not revoked already. The overridden
    decision's own is not enough: an approval confirmed by an approving override, then refused by overriding the
    case's latest decision, would leave the first approval's permit valid for a refused case."""
    if target_seq is None or outcome == "approve":
        return []
    return live(ledger, department, case_id)


def live(ledger: Ledger, department: str, case_id: str, *, conn: Connection | None = None) -> list[str]:
    """The permits decisions of case ``case_id`` issued that are not revoked or superseded, oldest first. A case has
    at most one: an approval of a case that has one issues none (the permit stands; to change what it states, an
    officer refuses the case, withdrawing it, and approves it again), and replay reports ``produced_twice``.
    ``conn``: the decisions are read in that connection's transaction (the recording one's guard).

    Whether a permit ended is the chain's word (its status under ``department``), never the store's status column:
    a permit an insider marked revoked in the database alone would otherwise be left valid on chain by the case's
    refusal (it withdraws the live ones) and let a second approval issue a second live permit. One not anchored
    yet (held, prepared) has not ended."""
    from .decisions import find_decisions

    issued = [
        d.body["issued"]["certificate"]
        for d in find_decisions(ledger, department, case_id, conn=conn)
        if isinstance(d.body.get("issued"), dict) and isinstance(d.body["issued"].get("certificate"), str)
    ]
    if not issued:
        return []
    statuses = chain_statuses(ledger, department, dict.fromkeys(issued))
    return [d for d in dict.fromkeys(issued) if statuses.get(d) not in ("revoked", "superseded")]


def withdraw(ledger: Ledger, department: str, digests: Sequence[str], seq: int) -> list[str]:
    """Revoke the permits decision ``seq`` withdrew; returns the revocation transactions."""
    from . import status

    done = []
    for digest in digests:
        try:
            done.append(
                status.revoke(
                    ledger,
                    digest,
                    WITHDRAWN_REASON,
                    department,
                    note=f"approval withdrawn by decision {seq} of {department}",
                )
            )
        except LedgerError as exc:
            raise StateError(
                f"decision {seq} withdraws permit {digest} but its revocation failed ({exc}); run "
                f"`ledger revoke {digest} --reason {WITHDRAWN_REASON}` (replay reports it until then)"
            ) from exc
    return done


# -- following what a permit rests on ---------------------------------------------------------------------------

# The published status reasons (reasons.py) the sweep changes a permit's status with. The vocabulary is the
# contract's (CertificateAnchor MAX_REASON): it has no code saying "the certificate it rests on was revoked", so a
# permit falls with ``other`` and the sealed note says which certificate, of which issuer, ended (docs/decisions.md).
BASIS_ENDED_REASON = "other"
BASIS_SUSPENDED_REASON = "under-investigation"
BASIS_REINSTATED_REASON = "grounds-resolved"
NO_BASIS = ""  # the cert_type of a permit's row saying it rests on no certificate


def bases_of(rule_set: RuleSet, body: Mapping[str, Any]) -> list[tuple[str, str | None, str | None, str | None]]:
    """(type, issuer, digest, root) of each certificate type a field of the permit ``rule_set`` produces is certified
    from: the first fact of the decision ``body`` that :func:`_certified` takes a field from (verified, valid,
    unexpired, the applicant's, of a trusted issuer), with None for a type no fact qualifies for (an officer's
    approval given no input); ``[("", None, None, None)]`` when no field is certified from a certificate."""
    spec = rule_set.produces or {}
    facts = body.get("certificates")
    facts = facts if isinstance(facts, list) else []
    out: dict[str, tuple[str, str | None, str | None, str | None]] = {}
    for path in spec.get("fields", {}).values():
        match = CERTIFICATE_PATH.fullmatch(path)
        if match is None or match[1] in out:
            continue
        cert_type, issuers = match[1], trusted_issuers(rule_set, match[1])
        out[cert_type] = (cert_type, None, None, None)
        for fact in facts:
            if (
                isinstance(fact, Mapping)
                and fact.get("type") == cert_type
                and (issuers is None or fact.get("issuer") in issuers)
                and fact.get("verified") is True
                and fact.get("status") == "valid"
                and fact.get("expired") is False
                and fact.get("holder") is True
            ):
                issuer, digest, root = fact.get("issuer"), fact.get("digest"), fact.get("root")
                if all(isinstance(v, str) for v in (issuer, digest, root)):
                    out[cert_type] = (cert_type, issuer, digest, root)
                break
    return list(out.values()) or [(NO_BASIS, None, None, None)]


def _basis_row(permit: str, department: str, basis: tuple[str, str | None, str | None, str | None]) -> dict[str, Any]:
    cert_type, issuer, digest, root = basis
    return {
        "permit": permit,
        "cert_type": cert_type,
        "department_id": department,
        "basis_issuer": issuer,
        "basis_digest": digest,
        "basis_root": root,
        "followed": None,
        "followed_block": None,
    }


def _record_earlier_bases(ledger: Ledger, department: str) -> int:
    """Write the :data:`_BASES` rows of ``department``'s permits issued before migration 0023 (an index row, no basis
    row), from the facts their decision recorded and the rule set it ran; returns how many permits. A decision that
    does not name the permit (an index row an insider altered: replay reports it), is unreadable or ran a rule set
    this store no longer holds gets no row and is read again at the next sweep."""
    with ledger.engine.connect() as conn:
        missing = conn.execute(
            select(_LINKS.c.digest, _LINKS.c.decision_seq)
            .where(_LINKS.c.department_id == department)
            .where(~select(_BASES.c.permit).where(_BASES.c.permit == _LINKS.c.digest).exists())
        ).all()
    written = 0
    for digest, seq in missing:
        decided = _decided_bases(ledger, department, digest, seq)
        if decided is None:
            continue
        with ledger.engine.begin() as conn:
            conn.execute(_BASES.insert(), [_basis_row(digest, department, b) for b in decided])
        written += 1
    return written


def _decided_bases(
    ledger: Ledger, department: str, digest: str, seq: Any, rule_sets: dict[str, Any] | None = None
) -> list[tuple[str, str | None, str | None, str | None]] | None:
    """:func:`bases_of` the decision at ``seq`` of ``department``'s log, once it names the permit ``digest``; None
    when it does not (an index row altered), is unreadable or ran a rule set this store no longer holds.
    ``rule_sets``: the rule sets loaded so far (digest -> RuleSet or None), kept across calls of one sweep."""
    from .decisions import load_recorded_rule_set

    if type(seq) is not int:
        return None
    entry = next(iter(logchain.entries(ledger, LOG_DECISIONS, department, after=(department, seq - 1), limit=1)), None)
    if entry is None or entry.seq != seq:
        return None
    try:
        body = logchain.read_body(entry.body, LOG_DECISIONS, department, entry.seq)
    except logchain.UnreadableEntry:
        return None
    issued = body.get("issued")
    if not isinstance(issued, Mapping) or issued.get("certificate") != digest:
        return None
    named = str(body.get("rule_set"))
    cache = rule_sets if rule_sets is not None else {}
    if named not in cache:
        cache[named] = load_recorded_rule_set(ledger, named)[0]
    rule_set = cache[named]
    if rule_set is None:
        return None
    return bases_of(rule_set, body)


def _held_to_decision(
    ledger: Ledger, view: Any, department: str, permit: str, head: int, rule_sets: dict[str, Any]
) -> list[Any] | str:
    """The :data:`_BASES` rows of ``permit`` the sweep may act on, each held to the decision that issued the permit
    (red team round 83: an insider's row pointing at another holder's revoked licence made the sweep revoke a valid
    permit, and a row blanked made it skip a permit whose licence was revoked): a row is what the decision's facts
    give (:func:`bases_of`), or a renewal the basis's issuer superseded it with naming the permit's holder (as the
    sweep moves it); another row is put back to the decision's basis, a missing one written, one of a type the
    decision rests on nothing of left out. Why not, when the decision cannot be read (nothing is done)."""
    with ledger.engine.connect() as conn:
        seq = conn.execute(select(_LINKS.c.decision_seq).where(_LINKS.c.digest == permit)).scalar()
        rows = {r.cert_type: r for r in conn.execute(_BASES.select().where(_BASES.c.permit == permit))}
    decided = _decided_bases(ledger, department, permit, seq, rule_sets)
    if decided is None:
        return "the decision that issued it could not be read as naming it (replay names why): nothing was done"
    changed = False
    for basis in decided:
        cert_type, issuer, digest, root = basis
        row = rows.get(cert_type)
        if row is None:
            with ledger.engine.begin() as conn:
                conn.execute(_BASES.insert(), [_basis_row(permit, department, basis)])
            changed = True
            continue
        if (row.basis_issuer, row.basis_digest, row.basis_root) == (issuer, digest, root):
            continue
        if _renewed_to(ledger, view, permit, issuer, digest, row, head):
            continue
        _mark(ledger, permit, cert_type, basis_issuer=issuer, basis_digest=digest, basis_root=root)
        changed = True
    if changed:
        with ledger.engine.connect() as conn:
            rows = {r.cert_type: r for r in conn.execute(_BASES.select().where(_BASES.c.permit == permit))}
    wanted = {b[0] for b in decided}
    return [r for t, r in sorted(rows.items()) if t in wanted and r.basis_digest is not None]


def _renewed_to(
    ledger: Ledger, view: Any, permit: str, issuer: str | None, digest: str | None, row: Any, head: int
) -> bool:
    """Whether ``row`` names a renewal of the decision's basis ``digest``: reached from it through its issuer's
    supersessions (at most 32), each naming the permit's holder."""
    if issuer is None or digest is None or row.basis_issuer != issuer or row.basis_digest is None:
        return False
    holder = _holder_of(ledger, permit)
    current = digest
    for _ in range(32):
        successor = _successor(view, issuer, current, head)
        if successor is None or holder is None or _holder_of(ledger, successor[0]) != holder:
            return False
        if successor == (row.basis_digest, row.basis_root):
            return True
        current = successor[0]
    return False


@dataclass
class Followed:
    """What one sweep (:func:`follow_bases`) found and did, as of block ``as_of_block``: the permits it revoked,
    suspended and reinstated, those whose basis was renewed for the same holder (now resting on the renewal), and
    those it could not judge (``unread``: permit -> why; nothing was done to them). ``left``: permits past ``limit``,
    for the next run."""

    department: str
    as_of_block: int | None = None
    checked: int = 0
    revoked: list[str] = field(default_factory=list)
    suspended: list[str] = field(default_factory=list)
    reinstated: list[str] = field(default_factory=list)
    renewed: list[str] = field(default_factory=list)
    unread: dict[str, str] = field(default_factory=dict)
    left: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "department": self.department,
            "as_of_block": self.as_of_block,
            "checked": self.checked,
            "revoked": self.revoked,
            "suspended": self.suspended,
            "reinstated": self.reinstated,
            "renewed": self.renewed,
            "unread": self.unread,
            "left": self.left,
        }


def _holder_of(ledger: Ledger, digest: str) -> str | None:
    """The identity a certificate of this store names as its holder (HOLDER_FIELD_OF_TYPE), or None: not in the
    store, erased, unreadable, or of a type naming no holder. Compared in memory, never recorded."""
    from ..formats.holders import HOLDER_FIELD_OF_TYPE

    with ledger.engine.connect() as conn:
        row = conn.execute(
            select(col(Certificate.sealed), col(Certificate.cert_type)).where(generations.digest_in(conn, [digest]))
        ).first()
    if row is None or row[1] not in HOLDER_FIELD_OF_TYPE:
        return None
    try:
        fields = json_loads(ledger.vault.open(bytes(row[0]), bytes.fromhex(digest[2:])))["fields"]
        holder = fields.get(HOLDER_FIELD_OF_TYPE[row[1]])
    except (LedgerError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return holder if isinstance(holder, str) and holder.strip() else None


def _successor(view: Any, issuer: str, digest: str, head: int) -> tuple[str, str] | None:
    """(digest, root) of the certificate that superseded ``digest`` of ``issuer``, from the issuer's status events
    as the verification core reads them (checked against its status trail)."""
    from ..formats.canonical import hex32, parse_hex32

    stream = view.department_stream(issuer, head)
    wanted = parse_hex32(digest)
    for replaced in (stream.replaced, stream.replaced_recent):
        for (_dept, root, successor), olds in replaced.items():
            if wanted in olds:
                return hex32(successor), hex32(root)
    return None


def _basis_standing(view: Any, issuer: str, root: str, digest: str, head: int) -> tuple[str, int, str]:
    """(status, block, reason name) of a permit's basis as of ``head``, as the verification core reads it
    (:meth:`ChainView.standing`: its own status, then an end or a suspension under another root of its issuer)."""
    from ..formats.canonical import parse_hex32
    from ..formats.reasons import reason_name

    own, ended, held = view.standing(issuer, parse_hex32(root), parse_hex32(digest), None, head)
    if own[0] in ("revoked", "superseded"):
        found = own
    elif ended is not None:
        found = ended
    elif own[0] == "suspended":
        found = own
    elif held is not None:
        found = held
    else:
        return "valid", 0, ""
    detail = bytes(found[3])
    reason = reason_name(detail[-1]) if found[0] in ("revoked", "suspended") and detail else ""
    return str(found[0]), int(found[1]), reason


def follow_bases(
    ledger: Ledger,
    department: str,
    *,
    view: Any = None,
    limit: int | None = None,
    progress: Any = None,
) -> Followed:
    """Make ``department``'s live permits follow the certificates they rest on (:data:`_BASES`; red team round 77c:
    a licence revoked for fraud left the food business permit resting on it valid). Every status is read in one pass
    through ``view`` (a :class:`~ledger.services.verify.ChainView`, herd lookup by default: each issuer's whole status
    event stream, held to its status trail, so a node adding, dropping or moving an event is refused, never believed),
    as of one head. Per permit, the worst of its bases:

    * revoked, or superseded by a certificate naming another holder: the permit is revoked
      (:data:`BASIS_ENDED_REASON`; the sealed note names the basis, its issuer and what ended it);
    * superseded by a renewal naming the same holder: the permit stands and rests on the renewal from now on;
      superseded by a certificate this store cannot open: suspended (the department looks);
    * suspended (under its root or another of its issuer's): a valid permit is suspended
      (:data:`BASIS_SUSPENDED_REASON`);
    * valid again: a permit the sweep suspended, and still suspended by that very change, is reinstated
      (:data:`BASIS_REINSTATED_REASON`); one an officer suspended is left to the officer.

    Only ``department``'s own permits are acted on (its store's rows, its key: another department's permit is
    refused by the status service and by the contract). Idempotent and resumable: an ended permit is skipped; the
    intent is written before each transaction and the result after it, so a sweep cut short is finished by the next
    (a permit marked ``suspending`` found suspended on chain is taken as the sweep's). A basis whose issuer's events
    cannot be read (a node refused) leaves its permits untouched, listed in ``unread``. ``limit``: judge at most this
    many permits (the rest are counted in ``left``, for the next run); ``progress(done, total)`` is called as permits
    are judged."""
    from ..errors import ChainError
    from .verify import ChainView

    if limit is not None and (type(limit) is not int or limit < 1):
        raise InputError("limit is a whole number of permits, at least 1", field="limit")
    ledger.department_account(department)  # a department this ledger signs for (KeystoreError otherwise)
    _record_earlier_bases(ledger, department)
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    with ledger.engine.connect() as conn:
        found = conn.execute(
            select(_BASES).where(_BASES.c.department_id == department).order_by(_BASES.c.permit, _BASES.c.cert_type)
        ).all()
        wanted = sorted({row.permit for row in found})
        # the permits themselves, of ``department``'s own store, anchored, not expired: a row naming another's
        # permit (or one never anchored) is not acted on (the digest column is typed: compared as bound values)
        own: dict[str, str] = {}
        for i in range(0, len(wanted), 900):
            own.update(
                (str(digest), str(root))
                for digest, root, until in conn.execute(
                    select(col(Certificate.digest), col(Certificate.batch_root), col(Certificate.valid_until))
                    .join(Batch, col(Batch.root) == Certificate.batch_root)
                    .where(
                        generations.digest_in(conn, wanted[i : i + 900]),
                        col(Certificate.department_id) == department,
                        col(Batch.state) == BatchState.CONFIRMED,
                    )
                )
                if until is None or str(until) > now  # an expired permit has nothing left to follow
            )
    permits_of: dict[str, tuple[str, list[Any]]] = {}
    for row in found:
        if row.permit in own:
            permits_of.setdefault(row.permit, (own[row.permit], []))[1].append(row)
    view = view if view is not None else ChainView(ledger.chain, ledger.settings.confirmations)
    head = view.head()
    report = Followed(department, head)
    total = len(permits_of)
    rule_sets: dict[str, Any] = {}  # the rule sets the permits' decisions ran, loaded once a sweep
    for done, (permit, (root, _rows)) in enumerate(permits_of.items(), start=1):
        if limit is not None and report.checked >= limit:
            report.left = total - done + 1
            break
        report.checked += 1
        try:
            held = _held_to_decision(ledger, view, department, permit, head, rule_sets)
            if isinstance(held, str):
                report.unread[permit] = held
            elif held:
                _follow_one(ledger, view, department, permit, root, held, head, report)
        except ChainError as exc:
            report.unread[permit] = f"the chain could not be read as the verification core reads it: {exc}"
        if progress is not None:
            progress(done, total)
    return report


def follow_all(ledger: Ledger, *, limit: int | None = None) -> dict[str, Followed | str]:
    """:func:`follow_bases` for every department that issued a permit (the gateway's periodic round), through one
    view, so each issuer's status events are read once for all of them: the report per department, or the error that
    left one department's permits for the next round (its key suspended, the node refusing)."""
    from .verify import ChainView

    with ledger.engine.connect() as conn:
        departments = sorted(set(conn.execute(select(_LINKS.c.department_id).distinct()).scalars()))
    view = ChainView(ledger.chain, ledger.settings.confirmations)
    done: dict[str, Followed | str] = {}
    for department in departments:
        try:
            done[department] = follow_bases(ledger, department, view=view, limit=limit)
        except LedgerError as exc:
            done[department] = exc.local_message()  # for the gateway's log, never an answer
    return done


def _mark(ledger: Ledger, permit: str, cert_type: str | None, **values: Any) -> None:
    where = _BASES.c.permit == permit
    if cert_type is not None:
        where = where & (_BASES.c.cert_type == cert_type)
    with ledger.engine.begin() as conn:
        conn.execute(_BASES.update().where(where).values(**values))


def _follow_one(
    ledger: Ledger,
    view: Any,
    department: str,
    permit: str,
    root: str,
    bases: Sequence[Any],
    head: int,
    report: Followed,
) -> None:
    """Judge one permit by its bases and act (see :func:`follow_bases`)."""
    from ..formats.canonical import parse_hex32
    from ..formats.reasons import reason_name
    from . import status

    own, ended, held = view.standing(department, parse_hex32(root), parse_hex32(permit), None, head)
    if own[0] in ("revoked", "superseded") or ended is not None:
        if any(b.followed == "revoking" for b in bases):  # cut short after its transaction: the sweep's revocation
            _mark(ledger, permit, None, followed="revoked")
        return  # ended: nothing left to follow
    suspended = own[0] == "suspended" or held is not None
    suspended_at = int(own[1]) if own[0] == "suspended" else (int(held[1]) if held is not None else 0)
    worst: tuple[int, str, Any, str] = (0, "valid", None, "")  # (rank, what, basis row, note)
    for basis in bases:
        state, block, reason = _basis_standing(view, basis.basis_issuer, basis.basis_root, basis.basis_digest, head)
        named = f"the {basis.cert_type} {basis.basis_digest} of {basis.basis_issuer} it rests on"
        if state == "superseded":
            successor = _successor(view, basis.basis_issuer, basis.basis_digest, head)
            holder = _holder_of(ledger, permit)
            if successor is not None and holder is not None and _holder_of(ledger, successor[0]) == holder:
                # a renewal naming the same holder: the permit rests on it from now on (and follows it)
                _mark(ledger, permit, basis.cert_type, basis_digest=successor[0], basis_root=successor[1])
                report.renewed.append(permit)
                continue
            if successor is not None and _holder_of(ledger, successor[0]) is not None and holder is not None:
                found = (3, "revoke", basis, f"{named} was superseded in block {block} by one naming another holder")
            else:
                found = (2, "suspend", basis, f"{named} was superseded in block {block} by one this store cannot read")
        elif state == "revoked":
            found = (3, "revoke", basis, f"{named} was revoked in block {block} ({reason})")
        elif state == "suspended":
            found = (2, "suspend", basis, f"{named} was suspended in block {block} ({reason})")
        else:
            found = (0, "valid", basis, "")
        worst = max(worst, found, key=lambda w: w[0])
    rank, action, basis, note = worst
    ours = [b for b in bases if b.followed in ("suspended", "suspending")]
    if action == "revoke":
        _mark(ledger, permit, basis.cert_type, followed="revoking")
        status.revoke(ledger, permit, BASIS_ENDED_REASON, department, note=f"followed its basis: {note}")
        _mark(ledger, permit, basis.cert_type, followed="revoked")
        report.revoked.append(permit)
    elif action == "suspend":
        if suspended:
            pending = [b for b in ours if b.followed == "suspending"]
            for b in pending:  # cut short after its transaction: the suspension on chain is the sweep's
                _mark(ledger, permit, b.cert_type, followed="suspended", followed_block=suspended_at)
            return  # suspended already (by the sweep, or by an officer: left as it is)
        _mark(ledger, permit, basis.cert_type, followed="suspending")
        status.suspend(ledger, permit, BASIS_SUSPENDED_REASON, department, note=f"followed its basis: {note}")
        block = _suspended_block(view, department, root, permit)
        _mark(ledger, permit, basis.cert_type, followed="suspended", followed_block=block)
        report.suspended.append(permit)
    elif rank == 0 and ours:
        # every basis valid: reinstate only the sweep's own suspension, still the permit's latest change
        mine = {b.followed_block for b in ours if b.followed == "suspended"}
        # and only a suspension for the sweep's reason: the row's block is the store's word (red team round 83: an
        # insider writing an officer's suspension's block into it had the sweep lift that suspension)
        detail = bytes(own[3]) if own[0] == "suspended" else b""
        sweeps = bool(detail) and reason_name(detail[-1]) == BASIS_SUSPENDED_REASON
        if suspended and own[0] == "suspended" and suspended_at in mine and sweeps:
            status.reinstate(
                ledger, permit, BASIS_REINSTATED_REASON, department, note="followed its basis: valid again"
            )
            report.reinstated.append(permit)
        _mark(ledger, permit, None, followed=None, followed_block=None)


def _suspended_block(view: Any, department: str, root: str, permit: str) -> int:
    """The block of ``permit``'s latest status change, read from the chain just after the sweep made it."""
    from ..formats.canonical import parse_hex32
    from ..onchain.chain import department_id_bytes

    chain = view.chain
    answer = chain.call(
        chain.anchor.functions.statusOf(department_id_bytes(department), parse_hex32(root), parse_hex32(permit))
    )
    return int(answer[1])


# -- provenance -------------------------------------------------------------------------------------------------


def produced_by(ledger: Ledger, digest: str) -> dict[str, Any] | None:
    """The decision that issued certificate ``digest``, read from the decision log itself (the index row only
    says where to look): department, seq, entry hash, case, rule set, anchored, and whether the index row agrees.
    None when no decision of this ledger names it."""
    with ledger.engine.connect() as conn:
        row = conn.execute(select(ProducedCertificate).where(ProducedCertificate.digest == digest)).first()  # type: ignore[arg-type]
        cert = conn.execute(select(Certificate.department_id).where(generations.digest_in(conn, [digest]))).scalar()  # type: ignore[call-overload]
    departments = [row.department_id] if row is not None else ([cert] if cert else [])
    unreadable: logchain.UnreadableEntry | None = None
    for dept in departments:
        # the decisions naming the certificate (their mention rows) and the one the index row names: a few
        # entries, read by index, never every decision of the log (an anonymous client's timeline asks this)
        named = {e.seq: e for e in logchain.mentioning(ledger, LOG_DECISIONS, digest, dept)}
        # the index row's number, when it is one (SQLite keeps an insider's text there: then only the mentions)
        if row is not None and type(row.decision_seq) is int and row.decision_seq not in named:
            pointed = list(logchain.entries(ledger, LOG_DECISIONS, dept, after=(dept, row.decision_seq - 1), limit=1))
            named.update({e.seq: e for e in pointed if e.seq == row.decision_seq})
        for entry in (named[seq] for seq in sorted(named)):
            if digest not in entry.body:
                continue
            try:
                body = logchain.read_body(entry.body, LOG_DECISIONS, dept, entry.seq)
            except logchain.UnreadableEntry as exc:
                unreadable = unreadable or exc  # a readable decision that issued it may still follow
                continue
            issued = body.get("issued")
            if isinstance(issued, dict) and issued.get("certificate") == digest:
                return {
                    "department": dept,
                    "seq": entry.seq,
                    "entry_hash": entry.entry_hash,
                    "case_id": body.get("case_id"),
                    "rule_set": body.get("rule_set"),
                    "outcome": body.get("outcome"),
                    "decided_at": body.get("decided_at"),
                    "input_digest": body.get("input_digest"),
                    "anchored": logchain.attested(ledger, entry),  # the chain's word, not the row's state
                    "index_row": row is not None
                    and row.decision_seq == entry.seq
                    and row.entry_hash == entry.entry_hash,
                }
    if unreadable is not None:  # "no decision issued it" would be a guess: the edited entry may be the one
        raise unreadable
    return None


# -- checking ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkProblem:
    check: str
    department: str
    seq: int | None
    case_id: str | None
    detail: str


def _produced_types(ledger: Ledger) -> set[str]:
    from .decisions import RuleSetRecord

    types = set()
    with ledger.engine.connect() as conn:
        for text in conn.execute(select(RuleSetRecord.document)).scalars():  # type: ignore[call-overload]
            try:
                document = json_loads(text)
            except (ValueError, TypeError):  # no JSON text (an edit past the ledger: replay reports rule_set_altered)
                continue
            produces = document.get("produces") if isinstance(document, dict) else None
            if isinstance(produces, dict) and isinstance(produces.get("type"), str):
                types.add(produces["type"])
    return types


def chain_statuses(ledger: Ledger, department: str, digests: Iterable[str]) -> dict[str, str]:
    """Each of ``department``'s anchored certificates' status on chain now ("absent": no anchor of its batch)."""
    from ..formats.canonical import parse_hex32
    from ..onchain.chain import department_id_bytes

    chain = ledger.chain
    out: dict[str, str] = {}
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(col(Certificate.digest), col(Certificate.batch_root), col(Batch.state))
            .join(Batch, col(Batch.root) == Certificate.batch_root)
            .where(generations.digest_in(conn, list(digests)))
        ).all()
    anchored: dict[str, bool] = {}
    for digest, root, state in rows:
        if root not in anchored:
            anchored[root] = (
                state == BatchState.CONFIRMED
                and issuance.anchor_event(ledger, parse_hex32(root), department) is not None
            )
        if not anchored[root]:
            out[digest] = "absent"
            continue
        code = int(
            chain.call(
                chain.anchor.functions.statusOf(department_id_bytes(department), parse_hex32(root), parse_hex32(digest))
            )[0]
        )
        out[digest] = ("valid", "suspended", "revoked", "superseded")[code]
    return out


def _decision_bodies(ledger: Ledger, department: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(seq, entry hash, body) of ``department``'s decision log in order, streamed; unreadable bodies are left out
    (check_log reports them)."""

    entries = LogEntry.__table__  # type: ignore[attr-defined]
    with ledger.engine.connect() as conn:
        rows = conn.execution_options(yield_per=5_000).execute(
            select(entries.c.seq, entries.c.entry_hash, entries.c.body)
            .where(entries.c.log == LOG_DECISIONS, entries.c.department_id == department)
            .order_by(entries.c.seq)
        )
        for seq, entry_hash, text in rows:
            try:
                body = logchain.stored_loads(text)
            except ValueError:
                continue
            if isinstance(body, dict):
                yield int(seq), entry_hash, body


class LinkScan:
    """What :func:`check_links` reads from one department's decision log, gathered as the log is walked: fed every
    readable body in sequence order (replay feeds it from its own walk, so the log is read once, not twice). What it
    keeps grows with the decisions that issued or withdrew, not with the log."""

    def __init__(self) -> None:
        self.issued: dict[str, tuple[int, str, Any]] = {}  # certificate -> (seq, entry hash, case id) of its decision
        self.by_case: dict[str, list[str]] = {}  # case id -> the certificates its decisions issued so far
        self.withdrawn_by: dict[str, int] = {}  # certificate -> the refusal that withdrew it
        self.problems: list[LinkProblem] = []

    def add(self, department: str, seq: int, entry_hash: str, body: Mapping[str, Any]) -> None:
        """One decision log entry (a JSON object; unreadable bodies are check_log's to report)."""
        case = body.get("case_id")
        case = case if isinstance(case, str) else None  # a body edited to another type: read as no case
        if body.get("outcome") in ("reject", "refer") and case is not None:
            # any decision refusing the case - an officer's override, one written past the library without naming the
            # decision it replaces, or the rules' (which the library refuses on an approved case) - is the case's latest
            # word and withdraws every permit the case's decisions issued before, not only the overridden decision's
            # own (an approving override in between issues none)
            for certificate in self.by_case.get(case, ()):
                self.withdrawn_by.setdefault(certificate, seq)
        mark = body.get("issued")
        if isinstance(mark, dict) and isinstance(mark.get("certificate"), str):
            self.issued[mark["certificate"]] = (seq, entry_hash, body.get("case_id"))
            if case is not None:
                self.by_case.setdefault(case, []).append(mark["certificate"])
            if body.get("outcome") != "approve":
                self.problems.append(
                    LinkProblem(
                        "issued_by_non_approval",
                        department,
                        seq,
                        body.get("case_id"),
                        f"a decision with outcome {body.get('outcome')!r} says it issued {mark['certificate']}",
                    )
                )


def _twice(department: str, scan: LinkScan, statuses: Mapping[str, str]) -> list[LinkProblem]:
    """``produced_twice``: a case with more than one permit valid (or suspended) on chain now, named at each
    decision that issued one beside an earlier live one."""
    problems = []
    for case, certificates in scan.by_case.items():
        live = [c for c in certificates if statuses.get(c) in ("valid", "suspended")]
        for later in live[1:]:
            seq = scan.issued[later][0]
            problems.append(
                LinkProblem(
                    "produced_twice",
                    department,
                    seq,
                    case,
                    f"case {case!r} has {len(live)} live permits ({', '.join(live)}): decision {seq} issued {later} "
                    f"while {live[0]} stood; a case has one - revoke all but one (`ledger revoke DIGEST --reason "
                    f"{WITHDRAWN_REASON}`)",
                )
            )
    return problems


def check_links(
    ledger: Ledger, departments: Iterable[str], scans: Mapping[str, LinkScan] | None = None
) -> list[LinkProblem]:
    """Every broken link between decisions and the certificates they produced (``ledger replay`` runs it):

    * ``issued_not_anchored``: a decision says it issued a certificate the chain has no anchor of (by its department)
    * ``issued_by_non_approval``: a decision that is not an approval says it issued a certificate
    * ``produced_not_revoked``: an approval was withdrawn by a later decision but its certificate is not revoked
    * ``produced_twice``: a case has more than one live permit (an approval issued one while another stood)
    * ``produced_link_missing`` / ``produced_link_altered``: the index row of a produced certificate was deleted or
      points elsewhere than the decision that names the certificate
    * ``produced_decision_missing``: a certificate says (``produced_by``) that a decision produced it, or is of a type
      a published rule set produces, but no decision of its department names it
    * ``produced_by_other_department``: a certificate claims to be produced by another department's decision
    * ``produced_decision_refused``: the decision a certificate names refused or referred the application

    ``scans``: a department's :class:`LinkScan` already fed its whole log, in order (replay's walk); the log of a
    department without one is read here.
    """
    problems: list[LinkProblem] = []
    types = _produced_types(ledger)
    vault = None
    for dept in departments:
        scan = scans.get(dept) if scans is not None else None
        if scan is None:
            # one streaming pass over the log; what it keeps grows with the decisions that issued or withdrew, not
            # with the log (issue 18: a million decisions replay in flat memory)
            scan = LinkScan()
            for seq, entry_hash, body in _decision_bodies(ledger, dept):
                scan.add(dept, seq, entry_hash, body)
        problems.extend(scan.problems)
        issued, withdrawn_by = scan.issued, scan.withdrawn_by
        with ledger.engine.connect() as conn:
            links = {
                r.digest: r
                for r in conn.execute(select(ProducedCertificate).where(col(ProducedCertificate.department_id) == dept))
            }
            # only certificates of a type some published rule set produces are opened: a claim inside any other
            # type is no permit a rule set issues (and opening every licence of an issuer would cost minutes)
            c = Certificate
            candidates = (
                list(
                    conn.execute(
                        select(col(c.digest), col(c.sealed), col(c.cert_type)).where(
                            col(c.department_id) == dept, col(c.cert_type).in_(sorted(types))
                        )
                    )
                )
                if types
                else []
            )
        statuses = chain_statuses(ledger, dept, issued)
        problems.extend(_twice(dept, scan, statuses))
        for digest, (seq, entry_hash, case) in issued.items():
            state = statuses.get(digest, "absent")
            if state == "absent":
                problems.append(
                    LinkProblem(
                        "issued_not_anchored",
                        dept,
                        seq,
                        case,
                        f"the decision says it issued {digest}, which {dept} has not anchored "
                        "(`ledger resume` anchors a pending batch)",
                    )
                )
            if digest in withdrawn_by and state not in ("revoked", "absent"):
                problems.append(
                    LinkProblem(
                        "produced_not_revoked",
                        dept,
                        seq,
                        case,
                        f"decision {withdrawn_by[digest]} withdrew this approval but {digest} is "
                        f"still {state} on chain; revoke it (`ledger revoke {digest} --reason "
                        f"{WITHDRAWN_REASON}`)",
                    )
                )
            row = links.pop(digest, None)
            if row is None:
                problems.append(
                    LinkProblem(
                        "produced_link_missing",
                        dept,
                        seq,
                        case,
                        f"the index row linking {digest} to this decision was deleted",
                    )
                )
            elif row.decision_seq != seq or row.entry_hash != entry_hash:
                problems.append(
                    LinkProblem(
                        "produced_link_altered",
                        dept,
                        seq,
                        case,
                        f"the index row of {digest} names decision {row.decision_seq} "
                        f"({row.entry_hash}), not this one ({entry_hash})",
                    )
                )
        for digest, row in links.items():
            problems.append(
                LinkProblem(
                    "produced_link_altered",
                    dept,
                    row.decision_seq,
                    row.case_id,
                    f"an index row says decision {row.decision_seq} issued {digest}, but no "
                    "decision names that certificate",
                )
            )
        claims: list[tuple[str, str, Any]] = []  # (digest, type, claim) of certificates no decision names
        for digest, sealed, cert_type in candidates:
            if digest in issued:
                continue
            if vault is None:
                vault = ledger.vault
            try:
                fields = json_loads(vault.open(bytes(sealed), bytes.fromhex(digest[2:])))["fields"]
            except (LedgerError, ValueError, KeyError, TypeError):
                fields = None  # erased or altered: reconcile names it
            claims.append(
                (digest, cert_type, fields.get(f"subject.{PRODUCED_FIELD}") if isinstance(fields, dict) else None)
            )
        # the outcomes of the decisions those certificates claim, found in a second pass only when there are claims
        wanted = {
            (str(claim.get("case_id")), str(claim.get("input_digest")))
            for _, _, claim in claims
            if isinstance(claim, dict)
        }
        decided: dict[tuple[str, str], str] = {}  # (case, input digest) -> outcome, for produced_by claims
        if wanted:
            for _, _, body in _decision_bodies(ledger, dept):
                key = (str(body.get("case_id")), str(body.get("input_digest")))
                if key in wanted:
                    decided[key] = str(body.get("outcome"))
        for digest, cert_type, claim in claims:
            if not isinstance(claim, dict):
                problems.append(
                    LinkProblem(
                        "produced_decision_missing",
                        dept,
                        None,
                        None,
                        f"{digest} is a {cert_type!r}, a type an approval produces, but no decision of {dept} names it",
                    )
                )
                continue
            case = claim.get("case_id")
            if claim.get("department") != dept:
                problems.append(
                    LinkProblem(
                        "produced_by_other_department",
                        dept,
                        None,
                        case,
                        f"{digest}, issued by {dept}, claims to be produced by a decision of "
                        f"{claim.get('department')!r}: only the approving department issues "
                        "what its approval produces",
                    )
                )
                continue
            outcome = decided.get((str(case), str(claim.get("input_digest"))))
            if outcome is not None and outcome != "approve":
                problems.append(
                    LinkProblem(
                        "produced_decision_refused",
                        dept,
                        None,
                        case,
                        f"{digest} claims to be produced by the decision on case {case!r}, "
                        f"which decided {outcome!r}, and no decision names it",
                    )
                )
            else:
                problems.append(
                    LinkProblem(
                        "produced_decision_missing",
                        dept,
                        None,
                        case,
                        f"{digest} claims to be produced by a decision on case {case!r} of "
                        f"{dept}, but no decision names it",
                    )
                )
    return problems
