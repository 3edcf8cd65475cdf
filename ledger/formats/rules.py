"""Deterministic rule engine for approve-in-seconds decisions.

A rule set is a declarative document (YAML or JSON, format in ``docs/rules.md``). Its identity is
``digest = SHA-256(RFC 8785 canonical JSON of the parsed document)``, so comments and layout do not matter and any
semantic edit does. :func:`load_rule_set` validates the document strictly and compiles every condition once into
closures; :func:`evaluate` is then a pure function of the rule set and one decision input: no clock, randomness,
I/O or network, and it never mutates its input.

Decision input shape (every part optional; what a rule needs and does not find is "missing")::

    {
      "case_id": "CASE-000001",              # carried along, not read by rules
      "service_item": "<item code>",         # if present, must match the rule set's service_item (unless "*")
      "item": {<service item attributes, codes as in docs/rules.md>},
      "application": {"materials_submitted": 4, "online": true, "applicant_type": "enterprise", ...},
      "applicant": {"blacklisted": false, ...},
      "certificates": [{"type": "business-licence", "digest": "0x..", "verified": true,
                        "status": "valid" | "revoked" | "suspended" | "superseded" | "unknown",
                        "expired": false}],
    }

Missing fields: a comparison whose field (or ``ref``) is missing, or whose value has the wrong type for an ordering
operator, is false, whatever the operator (``!=`` and ``not_in`` included). ``exists`` tests presence. A missing or
non-list ``certificates`` means "no certificates". ``not`` negates that false, so guard with ``exists`` when it matters.

Precedence: any fired ``reject`` rule gives reject; else any fired ``refer`` rule gives refer; else any fired
``approve`` rule gives approve; else the rule set's ``default_outcome`` with its ``default_reason``. ``reasons`` are the
reason ids of the fired rules whose outcome won, in rule order; ``fired`` lists every fired rule id, in rule order.
"""

from __future__ import annotations

import json
import math
import operator
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from . import _native_rules
from .canonical import canonical_json, check_json_depth, document_digest, hex32, integer_spelt_double, json_depth
from .displayed import describe, hidden_character
from .holders import HOLDER_FIELD_OF_TYPE

__all__ = [
    "CERTIFICATE_STATUSES",
    "ENGINE_VERSION",
    "OUTCOMES",
    "Evaluation",
    "Rule",
    "RuleSet",
    "check_item_published",
    "check_rule_set_size",
    "evaluate",
    "evaluate_known",
    "load_rule_set",
    "published_view",
    "unpublished_item_read",
]

ENGINE_VERSION = "pl-rules/1"
OUTCOMES = ("reject", "refer", "approve")  # in order of precedence
CERTIFICATE_STATUSES = ("valid", "revoked", "suspended", "superseded", "unknown")
ANY_SERVICE_ITEM = "*"

# Bounds on what one evaluation may cost (docs/rules.md, "Bounds"): every replay and every court re-runs each
# decision, so a department's rules must not be able to make that take hours. The court's verifier
# (scripts/verify_evidence.py) applies the same three, counted the same way.
MAX_CONDITIONS = 1_000  # condition mappings in a rule set's `when` trees (the shipped ones have at most 29)
MAX_LISTED_VALUES = 10_000  # values of its `in` / `not_in` lists and certificate `issuer` lists, together
MAX_STEPS = 100_000  # members of the input's lists and objects one evaluation may compare (an honest one: tens)
# Lists and mappings within each other in a rule file, YAML or JSON (the shipped ones: 9 at most). PyYAML builds
# nested nodes by recursion, and a process that imported py_ecc (web3's stack: the CLI, the gateway) allows 100,000
# Python frames, so a few kilobytes nested 30,000 deep overflowed the C stack (a segmentation fault); this bound holds
# long before. A JSON file meets it too: one 511 deep made every decision's evidence bundle too deep for any reader.
MAX_YAML_DEPTH = 100
# The most a rule set's canonical JSON may be to publish or to decide with (the shipped ones: 7 KB at most). Every
# decision's evidence bundle carries its rule set whole, and both bundle verifiers read 4 MiB at most: a rule set of
# megabytes (the bounds above count conditions and listed values, not their size) made every decision under it one no
# court could verify (red team round 54). Rule sets already stored are read back whatever their size.
MAX_RULE_SET_BYTES = 256 * 1024
# The most service items a screen for every item's catalogue (``items``) may list (red team round 60b); its size is
# bounded by MAX_RULE_SET_BYTES too
MAX_CATALOGUE_ITEMS = 5_000
# ... and its file, read at most this far: room for comments and layout around a rule set at its bound (the shipped
# files are 11 KB at most); a file padded past it, or a name such as /dev/zero, is refused unread, as every file others
# hand the ledger is (red team round 56: a rule set file was read whole, then parsed)
MAX_RULE_SET_FILE_BYTES = 1024 * 1024

_Condition = Callable[[Mapping[str, Any]], bool]

_SET_KEYS = {
    "engine",
    "rule_set_id",
    "version",
    "service_item",
    "title",
    "description",
    "default_outcome",
    "default_reason",
    "default_legal_basis",
    "review",
    "review_texts",
    "rules",
    "reason_texts",
    "produces",
    "personal",
    "item",
    "items",
}
_SET_REQUIRED = _SET_KEYS - {
    "description",
    "default_legal_basis",
    "review",
    "review_texts",
    "reason_texts",
    "produces",
    "personal",
    "item",
    "items",
}
_RULE_KEYS = {"id", "outcome", "reason", "description", "legal_basis", "when", "commitment"}
_RULE_REQUIRED = _RULE_KEYS - {"description", "legal_basis", "commitment"}
_COMMITMENT_KEYS = {"promise", "within_days", "check"}
_TEXT_MAX = 500
_CERT_KEYS = {"type", "verified", "status", "expired", "issuer", "holder"}
_FIELD_ROOTS = ("item", "application", "applicant")
_ORDERING_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_OPS = ("==", "!=", *_ORDERING_OPS, "in", "not_in", "exists")
_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_REASON = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_SEGMENT = re.compile(r"[a-z][a-z0-9_]{0,63}")
_MISSING = object()
# whether evaluate asks the native engine first (_native_rules; tests/test_native_rules.py turns it off to compare)
_NATIVE_RULES = True


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule: if ``condition(decision_input)`` holds, the rule fires with ``outcome`` and ``reason``."""

    rule_id: str
    outcome: str
    reason: str
    condition: _Condition
    legal_basis: str | None = None  # the law or regulation and article the rule applies
    description: str | None = None
    # approve on a commitment: {"promise": CODE, "within_days": N, "check": CODE} (docs/rules.md, supervision.py)
    commitment: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A validated, compiled rule set. ``digest`` (SHA-256 of the canonical ``document``) is its identity.

    ``document`` is a private copy of the parsed source; do not modify it (the digest would no longer match).
    """

    rule_set_id: str
    version: str
    service_item: str
    title: str
    default_outcome: str
    default_reason: str
    rules: tuple[Rule, ...]
    document: dict[str, Any]
    digest: bytes
    default_legal_basis: str | None = None
    review: str | None = None  # how an applicant asks for a review of a decision
    # display texts of the reasons, per language ("en", "zh-CN"): published with the rules, so a page shows the
    # words that were in force with the decision
    reason_texts: dict[str, dict[str, str]] | None = None
    produces: dict[str, Any] | None = None  # the certificate an approval issues (see _check_produces), or None
    review_texts: dict[str, str] | None = None  # ``review`` per language ("en", "zh-CN"), published with the rules
    # the input fields never stored in clear (docs/decisions.md "Fields a certificate copies"): those ``produces``
    # copies from ``application.*`` or ``applicant.*``, and those the set declares ``personal``; sorted
    personal: tuple[str, ...] = ()
    # the published attributes of the one service item the set serves ({name: scalar}), or None: when given, the rules
    # read these as ``item``, never the input's own (_check_item_attributes; red team round 60)
    item: dict[str, Any] | None = None
    # a screen for every item's catalogue ({item code: {name: scalar}}), or None: when given, the rules read the
    # application's item's entry as ``item``, never the input's own, and refuse an item it does not list
    # (_check_catalogue; red team round 60b)
    items: dict[str, dict[str, Any]] | None = None
    # reason -> its legal basis, filled by legal_basis() as reasons are met: a function of ``rules`` and the
    # defaults, which never change (the set is frozen and its rules a tuple), so nothing in it goes stale
    _bases: dict[str, str | None] = field(default_factory=dict, init=False, repr=False, compare=False)
    # the native engine's program of the set (_native_rules.program_of), built at its first evaluation: False when
    # the native walk does not take it (or is not built), so every decision runs in Python
    _native: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def hex_digest(self) -> str:
        return hex32(self.digest)

    def legal_basis(self, reasons: tuple[str, ...] | list[str]) -> dict[str, str | None]:
        """The legal basis of each reason: the first rule giving that reason (the default reason: the set's)."""
        found: dict[str, str | None] = {}
        bases = self._bases
        for reason in reasons:
            if reason not in bases:  # once per reason and rule set: every decision names one or two of a few
                rule = next((r for r in self.rules if r.reason == reason), None)
                bases[reason] = (
                    rule.legal_basis
                    if rule is not None
                    else (self.default_legal_basis if reason == self.default_reason else None)
                )
            found[reason] = bases[reason]
        return found

    def describe(self, reason: str) -> str | None:
        """A reason in words: the description of the first rule giving it."""
        rule = next((r for r in self.rules if r.reason == reason), None)
        return rule.description if rule is not None else None

    def review_text(self, language: str) -> str | None:
        """How to ask for a review, in ``language``: from ``review_texts``; in English falling back to ``review``."""
        texts = self.review_texts or {}
        return texts.get(language) or (self.review if language == "en" else None)

    def reason_text(self, reason: str, language: str) -> str | None:
        """A reason's display text in ``language`` ("en" or "zh-CN"), from ``reason_texts``; in English falling
        back to the rule's description; None when the rule set has none."""
        texts = (self.reason_texts or {}).get(reason) or {}
        return texts.get(language) or (texts.get("en") or self.describe(reason) if language == "en" else None)


@dataclass(frozen=True, slots=True)
class Evaluation:
    outcome: str
    reasons: tuple[str, ...]
    fired: tuple[str, ...]


# --------------------------------------------------------------------------------------------------- loading


def load_rule_set(source: str | Path | Mapping[str, Any]) -> RuleSet:
    """Load, validate and compile a rule set from a ``.yaml``/``.yml``/``.json`` file path or a parsed mapping.

    Raises InputError naming the rule (or top-level key) and what to fix.
    """
    document = _read_document(source) if isinstance(source, (str, Path)) else _plain_copy(source)
    if not isinstance(document, dict):
        raise InputError(f"a rule set must be a mapping at the top level, got {type(document).__name__}")
    _check_keys(document, _SET_KEYS, _SET_REQUIRED, "rule set")
    spelt = integer_spelt_double(document)
    if spelt is not None:  # stored, it would load again as an integer canonical JSON cannot write (red team round 60)
        raise InputError(
            f"{spelt[1]}: the number {spelt[0]!r} is 2**53 or more in size (up to 1e21) and not written as an integer: "
            "RFC 8785 writes it as integer digits, which the ledger reads back as an integer past 2**53 that canonical "
            "JSON cannot write, so the stored rule set would no longer load; state a smaller number (another unit)",
            field="rules",
        )
    if document["engine"] != ENGINE_VERSION:
        raise InputError(
            f"rule set is written for engine {document['engine']!r}; this engine is {ENGINE_VERSION!r}"
            " - port the rule set or use the matching engine",
            field="engine",
        )
    for key in ("rule_set_id", "version", "service_item", "title"):
        if not isinstance(document[key], str) or not document[key].strip():
            raise InputError(f'{key} must be a non-empty string (quote versions like "1.0" in YAML)', field=key)
    for key in ("service_item", "title"):
        # an item code is shown to people and compared as text, and a title is shown (red team round 71)
        if (hidden := hidden_character(document[key])) is not None:
            raise InputError(
                f"{key} {document[key]!r} holds {describe(hidden)}, a character that is not shown as itself (a "
                "control, bidirectional, zero-width or filler character, a variation selector or a joiner that "
                "joins nothing, a line separator): the rule set would display as another's; give it as plain text",
                field=key,
            )
    if not _ID.fullmatch(document["rule_set_id"]):
        raise InputError("rule_set_id must be lowercase letters, digits, '.', '_' or '-'", field="rule_set_id")
    default_outcome = _check_outcome(document["default_outcome"], "default_outcome")
    default_reason = _check_reason(document["default_reason"], "default_reason")
    rules_doc = document["rules"]
    if not isinstance(rules_doc, list) or not rules_doc:
        raise InputError("rules must be a non-empty list of rules", field="rules")
    _check_size(rules_doc)
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, rule_doc in enumerate(rules_doc):
        rule = _compile_rule(rule_doc, index)
        if rule.rule_id in seen:
            raise InputError(f"duplicate rule id {rule.rule_id!r}; give every rule a unique id", field="rules")
        seen.add(rule.rule_id)
        rules.append(rule)
    return RuleSet(
        rule_set_id=document["rule_set_id"],
        version=document["version"],
        service_item=document["service_item"],
        title=document["title"],
        default_outcome=default_outcome,
        default_reason=default_reason,
        rules=tuple(rules),
        document=document,
        digest=document_digest(document),
        default_legal_basis=_optional_text(document.get("default_legal_basis"), "default_legal_basis"),
        review=_optional_text(document.get("review"), "review"),
        reason_texts=_reason_texts(document.get("reason_texts"), {r.reason for r in rules} | {default_reason}),
        produces=_check_produces(document.get("produces")),
        review_texts=_review_texts(document.get("review_texts")),
        personal=_personal(document.get("personal"), document.get("produces"), document.get("rules")),
        item=_check_item_attributes(document.get("item"), document["service_item"]),
        items=_check_catalogue(document.get("items"), document["service_item"]),
    )


def check_rule_set_size(rule_set: RuleSet) -> None:
    """InputError when ``rule_set``'s canonical JSON is over :data:`MAX_RULE_SET_BYTES`: no decision may be made
    with it (nor may it be published), since each decision's evidence bundle would carry it whole."""
    size = len(canonical_json(rule_set.document))
    if size > MAX_RULE_SET_BYTES:
        raise InputError(
            f"rule set {rule_set.rule_set_id!r} {rule_set.version} is {size} bytes as canonical JSON; a rule set is at "
            f"most {MAX_RULE_SET_BYTES} bytes, since every decision's evidence bundle carries it whole and a court's "
            "verifier reads a bundle of 4 MiB at most: state long texts and lists elsewhere (a code the rules compare)"
        )


def _value_reads(node: Any) -> set[str]:
    """The input paths whose values the rules of a set document read: a condition's ``field`` (unless the condition
    only asks whether it ``exists``, which a kept hash still shows) and ``ref``."""
    if isinstance(node, dict):
        found = {
            v
            for k, v in node.items()
            if isinstance(v, str) and (k == "ref" or (k == "field" and node.get("op") != "exists"))
        }
        return found.union(*(_value_reads(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_value_reads(v) for v in node))
    return set()


def _personal(declared: Any, produces: Any, rules: Any = None) -> tuple[str, ...]:
    """The input fields of the set that are never stored in clear: every ``application.*`` or ``applicant.*`` path
    ``produces`` copies into the certificate (what the applicant typed, erased with that certificate), and the
    paths the set declares ``personal`` (a list of such paths). InputError for a declaration of another shape, or
    one naming a field whose value the rules read (or a part or parent of one): declared personal, it would be
    erased with the certificate and no decision reading it could be re-run again (red team, round 41a); a rule
    asking only whether it ``exists`` may (the shipped set asks that a business name was typed)."""
    if declared is None:
        declared = []
    if not isinstance(declared, list) or not all(
        isinstance(p, str) and _INPUT_PATH.fullmatch(p) and p.startswith(("application.", "applicant."))
        for p in declared
    ):
        raise InputError(
            "personal must be a list of input paths under application. or applicant. (e.g. application.premises): "
            "the fields of an application that are sealed, never stored in clear",
            field="personal",
        )
    read = sorted(_value_reads(rules))
    clash = sorted(
        f"{p} ({r})" for p in declared for r in read if p == r or r.startswith(p + ".") or p.startswith(r + ".")
    )
    if clash:
        raise InputError(
            f"personal names field(s) whose value the rules read: {', '.join(clash)}; a field a rule compares "
            "cannot be declared personal (erased with the certificate, the decision could never be re-run): "
            "declare only fields no rule compares (asking whether one exists is allowed)",
            field="personal",
        )
    copied = (produces or {}).get("fields", {}).values() if isinstance(produces, dict) else ()
    return tuple(
        sorted({*declared, *(p for p in copied if isinstance(p, str) and p.startswith(("application.", "applicant.")))})
    )


def _review_texts(value: Any) -> dict[str, str] | None:
    """``review_texts``: {"en": text, "zh-CN": text}, how to ask for a review in each language."""
    from .i18n import LANGUAGES

    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise InputError(f"review_texts must map languages {list(LANGUAGES)} to text", field="review_texts")
    for language, words in value.items():
        if language not in LANGUAGES:
            raise InputError(
                f"review_texts: language {language!r} is not one of {list(LANGUAGES)}", field="review_texts"
            )
        if not isinstance(words, str):
            raise InputError(f"review_texts.{language} must be text", field="review_texts")
        _optional_text(words, f"review_texts.{language}")
    return dict(value)


def _reason_texts(value: Any, reasons: set[str]) -> dict[str, dict[str, str]] | None:
    """``reason_texts``: {REASON: {"en": text, "zh-CN": text}} for reasons the rule set gives."""
    from .i18n import LANGUAGES

    if value is None:
        return None
    if not isinstance(value, dict):
        raise InputError("reason_texts must map reason ids to {language: text}", field="reason_texts")
    found: dict[str, dict[str, str]] = {}
    for reason, texts in value.items():
        if reason not in reasons:
            raise InputError(
                f"reason_texts names {reason!r}, which no rule of this rule set gives", field="reason_texts"
            )
        if not isinstance(texts, dict) or not texts:
            raise InputError(
                f"reason_texts.{reason} must map languages {list(LANGUAGES)} to text", field="reason_texts"
            )
        for language, words in texts.items():
            if language not in LANGUAGES:
                raise InputError(
                    f"reason_texts.{reason}: language {language!r} is not one of {list(LANGUAGES)}",
                    field="reason_texts",
                )
            if not isinstance(words, str):
                raise InputError(f"reason_texts.{reason}.{language} must be text", field="reason_texts")
            found.setdefault(reason, {})[language] = words
            _optional_text(words, f"reason_texts.{reason}.{language}")
    return found


# What an approval produces (docs/rules.md "produces"): the certificate type, its validity, the subject field that
# carries the applicant's identity (so the holder can cite it later: the field its type names, holders.py) and which
# facts of the decision input become its subject fields.
_PRODUCES_KEYS = {"type", "valid_days", "holder", "fields", "id_prefix", "one_per", "types"}
# what ``produces.types`` may hold a copied field to (permits.py; red team round 77b: premises ``true`` were issued)
PRODUCES_TYPES = ("text", "number", "boolean", "object", "list")
_HOLDER_FIELDS = ("credit_code", "id_number", "holder_id")
_INPUT_PATH = re.compile(r"(case_id|service_item|(item|application|applicant)(\.[a-z][a-z0-9_]{0,63})+)")
# a disclosed field of the applicant's own cited certificate of a type: certificate.TYPE.FIELD (permits.py), e.g.
# certificate.business-licence.subject.name
CERTIFICATE_PATH = re.compile(
    r"certificate\.([a-z0-9][a-z0-9-]{0,63})\.((?:[a-z][a-z0-9_]{0,63})(?:\.[a-z][a-z0-9_]{0,63})*)"
)
_PREFIX = re.compile(r"[A-Z][A-Z0-9-]{0,15}")


def _check_produces(spec: Any) -> dict[str, Any] | None:
    if spec is None:
        return None
    where = "produces"
    if not isinstance(spec, dict):
        raise InputError(f"{where} must be a mapping with keys {sorted(_PRODUCES_KEYS)}", field=where)
    _check_keys(spec, _PRODUCES_KEYS, {"type", "valid_days", "holder", "fields"}, where)
    if not isinstance(spec["type"], str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", spec["type"]):
        raise InputError(f"{where}.type must be a certificate type: lowercase letters, digits and '-'", field=where)
    days = spec["valid_days"]
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 36_600:
        raise InputError(f"{where}.valid_days must be a whole number of days from 1 to 36600", field=where)
    if spec["holder"] not in _HOLDER_FIELDS:
        raise InputError(
            f"{where}.holder must name the subject field carrying the applicant's identity, one of "
            f"{list(_HOLDER_FIELDS)}",
            field=where,
        )
    fields = spec["fields"]
    if not isinstance(fields, dict) or not fields:
        raise InputError(
            f"{where}.fields must map subject field names to decision input paths, e.g. "
            "business_name: application.business_name",
            field=where,
        )
    for name, path in fields.items():
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", str(name)) or name in (*_HOLDER_FIELDS, "produced_by"):
            raise InputError(
                f"{where}.fields: {name!r} must be a snake_case subject field name other than "
                f"{[*_HOLDER_FIELDS, 'produced_by']}",
                field=where,
            )
        if not isinstance(path, str) or not (_INPUT_PATH.fullmatch(path) or CERTIFICATE_PATH.fullmatch(path)):
            raise InputError(
                f"{where}.fields.{name}: {path!r} is not a decision input path (case_id, service_item "
                "or item./application./applicant. then snake_case names) nor a field of the applicant's own "
                "cited certificate (certificate.TYPE.FIELD, e.g. certificate.business-licence.subject.name)",
                field=where,
            )
    named = HOLDER_FIELD_OF_TYPE.get(spec["type"])
    if named is not None and named != f"subject.{spec['holder']}":
        # the permit would carry the applicant's identity where its type names no holder: nobody could cite it
        raise InputError(
            f"{where}.holder: a {spec['type']} names its holder in {named} (ledger/formats/holders.py), so the "
            f"applicant's identity goes there: holder: {named.removeprefix('subject.')}",
            field=where,
        )
    types = spec.get("types")
    if types is not None and (
        not isinstance(types, dict)
        or any(name not in fields or kind not in PRODUCES_TYPES for name, kind in types.items())
    ):
        raise InputError(
            f"{where}.types must map field names of {where}.fields to one of {list(PRODUCES_TYPES)} (e.g. "
            "premises: text): the type each copied value must have",
            field=where,
        )
    one_per = spec.get("one_per")
    if one_per is not None and (
        not isinstance(one_per, list)
        or not one_per
        or len(set(map(str, one_per))) != len(one_per)
        or any(not isinstance(name, str) or name not in fields for name in one_per)
    ):
        # a holder has one live certificate of the type per value of these fields (permits.py; red team round 77)
        raise InputError(
            f"{where}.one_per must be a non-empty list of distinct field names of {where}.fields (e.g. [premises]): "
            "a holder has one live certificate of the type per value of those fields",
            field=where,
        )
    prefix = spec.get("id_prefix", spec["type"].upper()[:16].rstrip("-"))
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise InputError(f"{where}.id_prefix must be 1-16 capital letters, digits or '-'", field=where)
    return {**spec, "id_prefix": prefix}


def _check_item_attributes(value: Any, service_item: str) -> dict[str, Any] | None:
    """The ``item`` a rule set publishes, or None: the attributes of the service item it serves (docs/rules.md,
    "Service item attributes"), each a snake_case name with a number, text or true/false. The service item's
    attributes are the department's published facts, not the applicant's: an application stating
    ``materials_required: 0`` was approved with nothing submitted under rules that read ``item`` from the input
    (red team round 60). A screen for every item (``*``) has no one item's attributes to publish."""
    if value is None:
        return None
    if service_item == ANY_SERVICE_ITEM:
        raise InputError(
            "item: a rule set for every service item ('*') publishes no item's attributes; give them in the rule set "
            "of the one service item they describe",
            field="item",
        )
    return _attributes(value, "item", "item")


def _attributes(value: Any, where: str, field: str) -> dict[str, Any]:
    """One service item's published attributes: a non-empty mapping of snake_case names to scalars."""
    if not isinstance(value, dict) or not value:
        raise InputError(
            f"{where} must be a mapping of the service item's attributes, e.g. {{onsite_reason: 0}}", field=field
        )
    for name, attribute in value.items():
        if not isinstance(name, str) or not _SEGMENT.fullmatch(name):
            raise InputError(f"{where}: attribute name {name!r} is not a snake_case name", field=field)
        if not (isinstance(attribute, (str, bool)) or _is_number(attribute)):
            raise InputError(
                f"{where}: attribute {name!r} must be a number, text or true/false, got {attribute!r}", field=field
            )
    return dict(value)


_ITEM_CODE = re.compile(r"[!-~]{1,128}")  # printable ASCII without spaces, as a case number


def _check_catalogue(value: Any, service_item: str) -> dict[str, dict[str, Any]] | None:
    """The ``items`` a screen for every item (``*``) publishes, or None: the department's catalogue, each service
    item code (printable ASCII without spaces) with its attributes as ``item`` gives them (docs/rules.md, "Service
    item attributes"), at most :data:`MAX_CATALOGUE_ITEMS`. Without it the screen read ``item`` from the application,
    so an applicant stating ``notify_commit: 1`` was approved on a commitment (red team round 60b)."""
    if value is None:
        return None
    if service_item != ANY_SERVICE_ITEM:
        raise InputError(
            "items: a rule set for one service item publishes that item's attributes as item, not a catalogue (items)",
            field="items",
        )
    if not isinstance(value, dict) or not value:
        raise InputError(
            "items must be a mapping of service item codes to their attributes, e.g. {440300-000001: {notify_commit: 0}}",
            field="items",
        )
    if len(value) > MAX_CATALOGUE_ITEMS:
        raise InputError(
            f"items lists {len(value)} service items, over the bound of {MAX_CATALOGUE_ITEMS}: split the screen into "
            "rule sets of fewer items",
            field="items",
        )
    catalogue: dict[str, dict[str, Any]] = {}
    for code, attributes in value.items():
        if not isinstance(code, str) or not _ITEM_CODE.fullmatch(code):
            raise InputError(
                f"items: service item code {code!r} is not 1-128 printable ASCII characters without spaces",
                field="items",
            )
        catalogue[code] = _attributes(attributes, f"items.{code}", "items")
    return catalogue


def published_view(rule_set: RuleSet, decision_input: Mapping[str, Any]) -> Mapping[str, Any]:
    """``decision_input`` with ``item`` the rule set's published attributes of its service item - the set's ``item``,
    or its catalogue's entry for the input's ``service_item`` - never the input's own (red team rounds 60, 60b); the
    input as given when the set publishes neither. InputError, naming the item, for one its catalogue does not list."""
    if rule_set.item is not None:
        return {**decision_input, "item": rule_set.item}
    if rule_set.items is None:
        return decision_input
    code = decision_input.get("service_item")
    attributes = rule_set.items.get(code) if isinstance(code, str) else None
    if attributes is None:
        raise InputError(
            f"service item {code!r} is not in the catalogue (items) of rule set {rule_set.rule_set_id!r} "
            f"{rule_set.version!r}: its attributes are published nowhere the rules can read; publish a version "
            "listing it, or decide it with that item's own rule set",
            field="service_item",
        )
    return {**decision_input, "item": attributes}


def unpublished_item_read(document: Mapping[str, Any]) -> str | None:
    """The first ``item.`` path a rule set document's rules read - a condition's ``field`` (whatever its operator:
    ``exists`` too) or ``ref``, in rule order, then a permit's ``produces.fields`` - when the document publishes
    neither its item's attributes (``item``) nor a catalogue (``items``); else None. Such rules read the service
    item's attributes from the application: an applicant stating ``item.notify_commit: 1`` was approved on a
    commitment (red team round 60c). A plain walk over the document, so a verifier may ask it of a rule set it has not
    loaded; the court's verifier (scripts/verify_evidence.py, ``rule_item_read``) keeps its own copy."""
    if document.get("item") is not None or document.get("items") is not None:
        return None
    rules = document.get("rules")
    todo: list[Any] = (
        [rule.get("when") for rule in reversed(rules) if isinstance(rule, dict)] if isinstance(rules, list) else []
    )
    while todo:  # depth first, in the order the rules are written; no recursion (a rule set may nest 100 deep)
        node = todo.pop()
        if isinstance(node, dict):
            for key in ("field", "ref"):
                path = node.get(key)
                if isinstance(path, str) and path.startswith("item."):
                    return path
            todo.extend(reversed([node[key] for key in ("all", "any", "not") if key in node]))
        elif isinstance(node, list):
            todo.extend(reversed(node))
    produces = document.get("produces")
    fields = produces.get("fields") if isinstance(produces, Mapping) else None
    for path in fields.values() if isinstance(fields, Mapping) else ():
        if isinstance(path, str) and path.startswith("item."):
            return path
    return None


def check_item_published(rule_set: RuleSet) -> None:
    """InputError when ``rule_set``'s rules read a service item's attribute (``item.``) it does not publish (neither
    ``item`` nor ``items``): no such rule set may be published, nor decide, since its rules would read what the
    application states about its item, which is the department's to say (red team round 60c). One already stored is
    still read back, and replay and both bundle verifiers report its decisions."""
    path = unpublished_item_read(rule_set.document)
    if path is not None:
        raise InputError(
            f"rule set {rule_set.rule_set_id!r} {rule_set.version!r} reads {path}, an attribute of the service item, "
            "but publishes neither the item's attributes (item) nor the department's catalogue (items): its rules "
            "would read what the application states about its item, which an applicant can state falsely. Publish "
            "the item's attributes (item, in a rule set for one service item) or the department's catalogue (items, "
            "in a screen for every item; `ledger demo-data --rules FILE --rules-out OUT` writes one); docs/rules.md, "
            '"Service item attributes"',
            field="item",
        )


def _optional_text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > _TEXT_MAX:
        raise InputError(f"{where} must be text of 1 to {_TEXT_MAX} characters")
    return value


class _StrictYamlLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML has no type hints: SafeLoader is Any
    """Safe YAML loader that refuses duplicate keys (PyYAML silently keeps the last one) and aliases.

    An alias (``*name``, a merge key ``<<: *name`` too) names a node written elsewhere: nine nested ones name 10^9
    values in a few hundred bytes, which the loader shares but the plain-JSON copy of the rule set would write out
    one by one. A rule set never needs one, so the first is refused where it stands, before anything expands."""

    _depth = 0  # lists and mappings open around the node being composed

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise InputError(
                f"YAML alias *{event.anchor} is not allowed in a rule set; write the value out where it is used",
                line=event.start_mark.line + 1,
            )
        if not self.check_event(yaml.events.SequenceStartEvent, yaml.events.MappingStartEvent):
            return super().compose_node(parent, index)
        if self._depth >= MAX_YAML_DEPTH:
            raise InputError(
                f"the rule file nests more than {MAX_YAML_DEPTH} lists and mappings within each other; no rule set"
                " comes near that: check the file's indentation and brackets",
                line=self.peek_event().start_mark.line + 1,
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_number(loader: _StrictYamlLoader, node: yaml.ScalarNode) -> Any:
    """An int or float scalar, as the safe loader reads it, but never a base-60 one (YAML 1.1 reads ``1:30`` as 90,
    multiplying out every part: a scalar of 80,000 parts held the loader for seconds, quadratically more as it grows)
    and never one too long for Python to read (an int of more than 4,300 digits)."""
    where = node.start_mark.line + 1
    if ":" in node.value:
        shown = node.value if len(node.value) <= 20 else node.value[:20] + "..."
        raise InputError(
            f"{shown} is a base-60 number in YAML 1.1 (1:30 reads as 90); a rule set has no use for one: quote it"
            ' ("12:30") if it is text, or write the number in decimal',
            line=where,
        )
    construct = (
        yaml.SafeLoader.construct_yaml_int if node.tag.endswith(":int") else yaml.SafeLoader.construct_yaml_float
    )
    try:
        return construct(loader, node)
    except ValueError as exc:
        raise InputError(
            f"a number of {len(node.value)} characters is too long to read ({exc}); a rule set's numbers are far"
            " shorter: check the file",
            line=where,
        ) from None


def _construct_unique_mapping(loader: _StrictYamlLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):  # "? [a, b]": Python cannot use a list or mapping as a key
            raise InputError(
                "a key must be text, not a list or mapping; write the key as a name", line=key_node.start_mark.line + 1
            )
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise InputError(f"duplicate key {key!r}; remove one of them", line=key_node.start_mark.line + 1)
        result[key] = loader.construct_object(value_node, deep=True)
    return result


_StrictYamlLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)
_StrictYamlLoader.add_constructor("tag:yaml.org,2002:int", _construct_number)
_StrictYamlLoader.add_constructor("tag:yaml.org,2002:float", _construct_number)


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InputError(f"duplicate key {key!r}; remove one of them")
        result[key] = value
    return result


def _read_document(path: str | Path) -> Any:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise InputError(f"rule set file {str(path)!r} must end in .yaml, .yml or .json")
    from .certificate import read_bounded

    raw = read_bounded(path, MAX_RULE_SET_FILE_BYTES, "rule set file")  # refused unread past the bound (round 56)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"rule set file {str(path)!r} is not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    try:
        # YAML's flow style nests with the same brackets, and PyYAML spends minutes on 10,000 levels of them
        check_json_depth(text)
        if suffix == ".json":
            # the bound a YAML file meets in the composer: a rule set 511 deep, which the readers' bound allowed,
            # made every decision's evidence bundle (the rule set two levels further in) too deep for any reader
            if json_depth(text) > MAX_YAML_DEPTH:
                raise InputError(
                    f"the rule file nests more than {MAX_YAML_DEPTH} lists and mappings within each other; no rule"
                    " set comes near that: check the file's brackets"
                )
            try:
                parsed = json.loads(text, object_pairs_hook=_reject_duplicates)
            except json.JSONDecodeError:
                raise
            except ValueError as exc:  # an int of more than 4,300 digits, which Python refuses to read
                raise InputError(
                    f"rule set file {str(path)!r} holds a number too long to read ({exc}); a rule set's numbers are far"
                    " shorter: check the file"
                ) from None
        else:
            parsed = yaml.load(text, Loader=_StrictYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"rule set file {str(path)!r} is not valid {suffix[1:].upper()}: {exc}") from exc
    # YAML can produce values JSON cannot carry (dates, sets); normalise and refuse those here.
    return _plain_copy(parsed)


def _plain_copy(value: Any) -> Any:
    """Deep copy as plain JSON types (tuples become lists); InputError for anything JSON cannot carry."""
    try:
        return json.loads(json.dumps(value, allow_nan=False, ensure_ascii=False))
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"rule set contains a value JSON cannot carry ({exc}); use strings, numbers, booleans,"
            " lists and mappings only (quote dates in YAML)"
        ) from exc


def _check_keys(doc: Mapping[str, Any], allowed: set[str], required: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in doc if k not in allowed)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown}; allowed keys are {sorted(allowed)}")
    missing = sorted(required - doc.keys())
    if missing:
        raise InputError(f"{where}: missing required key(s) {missing}")


def _check_outcome(value: Any, where: str) -> str:
    if value not in OUTCOMES:
        raise InputError(f"{where}: unknown outcome {value!r}; use one of {list(OUTCOMES)}")
    return str(value)


def _check_reason(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _REASON.fullmatch(value):
        raise InputError(f"{where}: reason id {value!r} must be UPPER_SNAKE_CASE, e.g. ONSITE_REASON_BLOCKS_AUTO")
    return value


def _compile_rule(doc: Any, index: int) -> Rule:
    if not isinstance(doc, dict):
        raise InputError(f"rules[{index}] must be a mapping with keys {sorted(_RULE_REQUIRED)}")
    rule_id = doc.get("id")
    if not isinstance(rule_id, str) or not _ID.fullmatch(rule_id):
        raise InputError(f"rules[{index}]: id {rule_id!r} must be lowercase letters, digits, '.', '_' or '-'")
    where = f"rule {rule_id!r}"
    _check_keys(doc, _RULE_KEYS, _RULE_REQUIRED, where)
    return Rule(
        rule_id=rule_id,
        outcome=_check_outcome(doc["outcome"], where),
        reason=_check_reason(doc["reason"], where),
        condition=_compile_condition(doc["when"], where),
        legal_basis=_optional_text(doc.get("legal_basis"), f"{where}: legal_basis"),
        description=doc.get("description") if isinstance(doc.get("description"), str) else None,
        commitment=_compile_commitment(doc.get("commitment"), doc["outcome"], where),
    )


def _compile_commitment(spec: Any, outcome: Any, where: str) -> Mapping[str, Any] | None:
    """A rule's ``commitment``: what an approval on a commitment makes the applicant promise, within how many
    days, and the check it will face; only an approve rule may carry one."""
    if spec is None:
        return None
    if outcome != "approve":
        raise InputError(f"{where}: only an approve rule may approve on a commitment")
    if not isinstance(spec, dict):
        raise InputError(f"{where}: commitment must be a mapping with keys {sorted(_COMMITMENT_KEYS)}")
    _check_keys(spec, _COMMITMENT_KEYS, _COMMITMENT_KEYS, f"{where}: commitment")
    days = spec["within_days"]
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3650:
        raise InputError(f"{where}: commitment within_days {days!r} must be a whole number of days, 1 to 3650")
    return {
        "promise": _check_reason(spec["promise"], f"{where}: commitment promise"),
        "within_days": days,
        "check": _check_reason(spec["check"], f"{where}: commitment check"),
    }


# ------------------------------------------------------------------------------------------------ bounds


def _check_size(rules_doc: list[Any]) -> None:
    """InputError when the rules' ``when`` trees hold more than :data:`MAX_CONDITIONS` condition mappings or their
    ``in``/``not_in`` and certificate ``issuer`` lists more than :data:`MAX_LISTED_VALUES` values together. One
    walk without recursion that stops at the bound, before anything is compiled (so a YAML alias repeating a
    subtree, which expands exponentially, is refused after at most that many nodes)."""
    conditions = listed = 0
    todo = [rule.get("when") for rule in reversed(rules_doc) if isinstance(rule, dict)]
    while todo:
        node = todo.pop()
        if not isinstance(node, dict):
            continue  # compiling refuses it, naming the rule
        conditions += 1
        if "field" in node:
            value = node.get("value")
            if node.get("op") in ("in", "not_in") and isinstance(value, list):
                listed += len(value)
        elif len(node) == 1:
            ((key, arg),) = node.items()
            if key in ("all", "any") and isinstance(arg, list):
                todo.extend(reversed(arg))
            elif key == "not":
                todo.append(arg)
            elif key == "certificate" and isinstance(arg, dict) and isinstance(arg.get("issuer"), list):
                listed += len(arg["issuer"])
        if conditions > MAX_CONDITIONS:
            raise InputError(
                f"the rule set has at least {conditions} conditions; at most {MAX_CONDITIONS} are allowed"
                " (docs/rules.md, Bounds): split it into rule sets of their own service items",
                field="rules",
            )
        if listed > MAX_LISTED_VALUES:
            raise InputError(
                f"the rule set's in/not_in and issuer lists hold at least {listed} listed values; at most"
                f" {MAX_LISTED_VALUES} are allowed in all (docs/rules.md, Bounds)",
                field="rules",
            )


# What is left of the current evaluation's MAX_STEPS, per thread (the gateway evaluates in worker threads). Only
# comparisons of two lists or two objects and scans of the cited certificates spend it: scalar comparisons, all an
# honest rule set makes but for a few certificate conditions, never touch it.
_budget = threading.local()


def _spend(members: int) -> None:
    left = _budget.left - members
    if left < 0:
        raise InputError(
            f"the rules compared more than {MAX_STEPS:,} members of the input's lists and objects in one evaluation"
            " (docs/rules.md, Bounds): no honest rule set needs that many; the decision is refused"
        )
    _budget.left = left


# ------------------------------------------------------------------------------------------------ conditions


def _compile_condition(node: Any, where: str) -> _Condition:
    if not isinstance(node, dict) or not node:
        raise InputError(
            f"{where}: a condition must be a mapping with one of all/any/not/field/certificate, got {node!r}"
        )
    if "field" in node:
        return _compile_comparison(node, where)
    if len(node) != 1:
        raise InputError(
            f"{where}: condition {sorted(node)} mixes keys; use exactly one of all/any/not/field/"
            "certificate per mapping"
        )
    ((key, arg),) = node.items()
    if key in ("all", "any"):
        if not isinstance(arg, list) or not arg:
            raise InputError(f"{where}: '{key}' needs a non-empty list of conditions")
        parts = tuple(_compile_condition(part, where) for part in arg)
        return _all_of(parts) if key == "all" else _any_of(parts)
    if key == "not":
        inner = _compile_condition(arg, where)
        return lambda d: not inner(d)
    if key == "certificate":
        return _compile_certificate(arg, where)
    raise InputError(f"{where}: unknown condition key {key!r}; use all, any, not, field or certificate")


def _all_of(parts: tuple[_Condition, ...]) -> _Condition:
    def check(d: Mapping[str, Any]) -> bool:
        for part in parts:  # noqa: SIM110 - a plain loop: no generator per evaluation
            if not part(d):
                return False
        return True

    return check


def _any_of(parts: tuple[_Condition, ...]) -> _Condition:
    def check(d: Mapping[str, Any]) -> bool:
        for part in parts:  # noqa: SIM110 - a plain loop: no generator per evaluation
            if part(d):
                return True
        return False

    return check


def _compile_path(path: Any, where: str) -> tuple[str, ...]:
    segments = tuple(path.split(".")) if isinstance(path, str) else ()
    if len(segments) < 2 or segments[0] not in _FIELD_ROOTS or not all(_SEGMENT.fullmatch(s) for s in segments):
        raise InputError(
            f"{where}: bad field path {path!r}; write root.name[.name...] with root one of "
            f"{list(_FIELD_ROOTS)} and snake_case names, e.g. item.onsite_reason"
        )
    return segments


def _getter(path: tuple[str, ...]) -> Callable[[Mapping[str, Any]], Any]:
    # Indexing and catching the failure is the fast path; a list or string on the way (TypeError) or an absent key
    # both mean "missing".
    if len(path) == 2:
        first, second = path

        def get_two(decision_input: Mapping[str, Any]) -> Any:
            try:
                value = decision_input[first]
                if type(value) is not dict and not isinstance(value, Mapping):  # _mapping_only, without its call
                    return _MISSING
                return value[second]
            except (KeyError, TypeError):
                return _MISSING

        return get_two

    def get(decision_input: Mapping[str, Any]) -> Any:
        value: Any = decision_input
        try:
            for segment in path:
                value = _mapping_only(value)[segment]
        except (KeyError, TypeError):
            return _MISSING
        return value

    return get


def _mapping_only(value: Any) -> Mapping[str, Any]:
    if type(value) is dict or isinstance(value, Mapping):
        return value
    raise TypeError("not a mapping")


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, int, float))


def _is_number(value: Any) -> bool:
    # int/float comparisons in Python are exact (no float conversion), so huge integers are fine.
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1 and false is not 0, at any depth (Python's ``[1] == [True]`` holds); 1.0 is 1
    (one JSON number, written "1" in canonical JSON); objects are equal whatever their keys' order."""
    if type(a) in _SCALARS and type(b) in _SCALARS:  # the usual case, without the walk
        return a == b and isinstance(a, bool) == isinstance(b, bool)
    # two containers of one kind and size: their members are counted (MAX_STEPS) before any is compared, an object's
    # in the order of its keys sorted: the first member that differs ends the walk, and the order the keys were
    # written in is the applicant's (a stored input comes back sorted), so it must not decide what the walk costs
    if isinstance(a, Mapping):
        if not isinstance(b, Mapping) or len(a) != len(b):
            return False
        _spend(len(a))
        return all(key in b and _same(a[key], b[key]) for key in sorted(a, key=str))
    if isinstance(a, (list, tuple)):
        if not isinstance(b, (list, tuple)) or len(a) != len(b):
            return False
        _spend(len(a))
        return all(map(_same, a, b))
    if isinstance(b, (Mapping, list, tuple)):
        return False
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _compile_comparison(node: dict[str, Any], where: str) -> _Condition:
    unknown = sorted(set(node) - {"field", "op", "value", "ref"})
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown} in a field comparison; use field, op and value (or ref)")
    path = _compile_path(node["field"], where)
    get = _getter(path)
    op = node.get("op")
    if op not in _OPS:
        raise InputError(f"{where}: unknown operator {op!r} on {node['field']!r}; use one of {list(_OPS)}")
    if ("value" in node) == ("ref" in node):
        raise InputError(f"{where}: comparison on {node['field']!r} needs exactly one of 'value' or 'ref'")
    if "ref" in node:
        if op in ("in", "not_in", "exists"):
            raise InputError(f"{where}: operator {op!r} takes a literal 'value', not a 'ref'")
        get_other = _getter(_compile_path(node["ref"], where))
        return _compare_fields(get, op, get_other)
    value = node["value"]
    if op == "exists":
        if not isinstance(value, bool):
            raise InputError(f"{where}: 'exists' needs value true or false, got {value!r}")
        return (lambda d: get(d) is not _MISSING) if value else (lambda d: get(d) is _MISSING)
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value or not all(_is_scalar(v) for v in value):
            raise InputError(f"{where}: {op!r} needs a non-empty list of scalar values, got {value!r}")
        return _member_of(get, tuple(value), op == "in")
    if op in _ORDERING_OPS:
        if not _is_number(value):
            raise InputError(f"{where}: {op!r} compares numbers; value {value!r} is not a finite number")
        return _ordered(get, _ORDERING_OPS[op], value, path)
    if not _is_scalar(value):
        raise InputError(f"{where}: {op!r} needs a scalar value (string, number, boolean or null), got {value!r}")
    if op == "==":
        return _equal_to(get, value, path)
    return lambda d: (x := get(d)) is not _MISSING and not _same(x, value)


# The compiled comparisons below are _same and _is_number with their usual case - a scalar read from the input, an
# exact int or float - decided inline, without a call per comparison (evaluate runs once per decision, in decide's
# writer and replay's workers); any other value takes the general function, so every answer is the same
# (tests/test_rules.py compares them with the general functions on hostile values).


def _equal_to(get: Callable[[Mapping[str, Any]], Any], value: Any, path: tuple[str, ...] = ()) -> _Condition:
    """``_same(get(d), value)`` for a scalar ``value`` from a rule; a two-segment ``path`` (``item.item_type``) is
    read inline, as its getter reads it."""
    if type(value) not in _SCALARS:
        return lambda d: _same(get(d), value)
    boolean = isinstance(value, bool)
    if len(path) == 2:
        first, second = path

        def check_two(d: Mapping[str, Any]) -> bool:
            try:  # get_two (_getter)
                x = d[first]
                x = x[second] if type(x) is dict or isinstance(x, Mapping) else _MISSING
            except (KeyError, TypeError):
                x = _MISSING
            if type(x) in _SCALARS:
                return x == value and isinstance(x, bool) == boolean
            return _same(x, value)

        return check_two

    def check(d: Mapping[str, Any]) -> bool:
        x = get(d)
        if type(x) in _SCALARS:
            return x == value and isinstance(x, bool) == boolean
        return _same(x, value)

    return check


def _ordered(
    get: Callable[[Mapping[str, Any]], Any], compare: Callable[[Any, Any], bool], value: Any, path: tuple[str, ...] = ()
) -> _Condition:
    """``_is_number(x) and compare(x, value)`` for ``x = get(d)``; a two-segment ``path`` is read inline."""
    if len(path) == 2:
        first, second = path

        def check_two(d: Mapping[str, Any]) -> bool:
            try:  # get_two (_getter)
                x = d[first]
                x = x[second] if type(x) is dict or isinstance(x, Mapping) else _MISSING
            except (KeyError, TypeError):
                x = _MISSING
            kind = type(x)
            if kind is int:
                return compare(x, value)
            if kind is float:
                return math.isfinite(x) and compare(x, value)
            return _is_number(x) and compare(x, value)

        return check_two

    def check(d: Mapping[str, Any]) -> bool:
        x = get(d)
        kind = type(x)
        if kind is int:
            return compare(x, value)
        if kind is float:
            return math.isfinite(x) and compare(x, value)
        return _is_number(x) and compare(x, value)

    return check


def _member_of(get: Callable[[Mapping[str, Any]], Any], options: tuple[Any, ...], inside: bool) -> _Condition:
    """``x is not _MISSING and any(_same(x, v) for v in options)`` (negated for ``not_in``), ``options`` scalars."""
    typed = tuple((v, isinstance(v, bool)) for v in options)

    def check(d: Mapping[str, Any]) -> bool:
        x = get(d)
        if x is _MISSING:
            return False
        if type(x) in _SCALARS:  # _same(x, v) of a scalar x and a scalar v, whatever v's exact type
            boolean = isinstance(x, bool)
            for v, v_boolean in typed:
                if x == v and boolean == v_boolean:
                    return inside
            return not inside
        for v in options:
            if _same(x, v):
                return inside
        return not inside

    return check


def _compare_fields(
    get: Callable[[Mapping[str, Any]], Any], op: str, get_other: Callable[[Mapping[str, Any]], Any]
) -> _Condition:
    if op in _ORDERING_OPS:
        compare = _ORDERING_OPS[op]
        return lambda d: _is_number(x := get(d)) and _is_number(y := get_other(d)) and compare(x, y)
    equal = op == "=="

    def check(d: Mapping[str, Any]) -> bool:
        x, y = get(d), get_other(d)
        return x is not _MISSING and y is not _MISSING and _same(x, y) == equal

    return check


def _compile_certificate(spec: Any, where: str) -> _Condition:
    """True if some listed certificate has the given type and every given property."""
    if not isinstance(spec, dict):
        raise InputError(f"{where}: 'certificate' needs a mapping such as {{type: business-licence, status: valid}}")
    unknown = sorted(set(spec) - _CERT_KEYS)
    if unknown:
        raise InputError(f"{where}: unknown certificate propert(ies) {unknown}; use {sorted(_CERT_KEYS)}")
    if not isinstance(spec.get("type"), str) or not spec["type"]:
        raise InputError(f"{where}: certificate condition needs a 'type', e.g. type: business-licence")
    if "issuer" in spec:
        issuers = spec["issuer"] if isinstance(spec["issuer"], list) else [spec["issuer"]]
        if not issuers or not all(isinstance(i, str) and i for i in issuers):
            raise InputError(
                f"{where}: certificate 'issuer' must be a department id or a list of them, e.g. issuer: [MKT]"
            )
        spec = {**spec, "issuer": tuple(issuers)}
    for flag in ("verified", "expired", "holder"):
        if flag in spec and not isinstance(spec[flag], bool):
            raise InputError(f"{where}: certificate '{flag}' must be true or false, got {spec[flag]!r}")
    if "status" in spec and spec["status"] not in CERTIFICATE_STATUSES:
        raise InputError(
            f"{where}: unknown certificate status {spec['status']!r}; use one of {list(CERTIFICATE_STATUSES)}"
        )
    wanted = tuple(spec.items())

    def check(d: Mapping[str, Any]) -> bool:
        # any(c is a mapping and every wanted property holds for c): plain loops, no generator per certificate, and
        # a plain dict recognised without the ABC's isinstance check
        certificates = d.get("certificates")
        if not isinstance(certificates, (list, tuple)):
            return False
        _spend(len(certificates))
        for c in certificates:
            if type(c) is not dict and not isinstance(c, Mapping):
                continue
            for k, v in wanted:
                if not (c.get("issuer") in v if k == "issuer" else _same(c.get(k, _MISSING), v)):
                    break
            else:
                return True
        return False

    return check


# ------------------------------------------------------------------------------------------------ evaluation


def evaluate(rule_set: RuleSet, decision_input: Mapping[str, Any]) -> Evaluation:
    """Apply ``rule_set`` to one decision input. Pure: the result depends only on the two arguments."""
    if not isinstance(decision_input, Mapping):
        raise InputError(f"decision input must be a mapping, got {type(decision_input).__name__}")
    item_code = decision_input.get("service_item")
    if item_code is not None and rule_set.service_item not in (ANY_SERVICE_ITEM, item_code):
        _check_item(rule_set, decision_input)  # raises
    # the item's published attributes, never the input's own (red team rounds 60, 60b)
    decision_input = published_view(rule_set, decision_input)
    if _NATIVE_RULES:  # the same answer, natively, or None: then the Python engine decides the whole decision
        program = rule_set._native
        if program is None:
            program = _native_rules.program_of(rule_set.document, OUTCOMES) or False
            object.__setattr__(rule_set, "_native", program)
        if program is not False and type(decision_input) is dict:
            found = _native_rules.rules_evaluate(program, decision_input, MAX_STEPS)
            if found is not None:
                return Evaluation(*found)
    _budget.left = MAX_STEPS
    # every decision taken or replayed comes here: inline, as before evaluate_known (no call, no look-up per rule);
    # the precedence is _combined's
    fired = [rule for rule in rule_set.rules if rule.condition(decision_input)]
    if not fired:
        return Evaluation(rule_set.default_outcome, (rule_set.default_reason,), ())
    outcomes = {rule.outcome for rule in fired}
    outcome = next(o for o in OUTCOMES if o in outcomes)
    return Evaluation(outcome, tuple(r.reason for r in fired if r.outcome == outcome), tuple(r.rule_id for r in fired))


def evaluate_known(rule_set: RuleSet, decision_input: Mapping[str, Any], given: Mapping[str, bool]) -> Evaluation:
    """:func:`evaluate`, with the rules named in ``given`` (rule id -> whether it fired) not run but taken as
    given: how replay and the bundle verifiers re-run a decision whose input lost fields to a lawful erasure (the
    rules reading them are taken as the record states, every other rule is run; docs/decisions.md). The outcome
    combines them with the engine's own precedence."""
    if not isinstance(decision_input, Mapping):
        raise InputError(f"decision input must be a mapping, got {type(decision_input).__name__}")
    _check_item(rule_set, decision_input)
    decision_input = published_view(rule_set, decision_input)  # as evaluate reads it
    _budget.left = MAX_STEPS
    return _combined(
        rule_set,
        [
            rule
            for rule in rule_set.rules
            if (given[rule.rule_id] if rule.rule_id in given else rule.condition(decision_input))
        ],
    )


def _check_item(rule_set: RuleSet, decision_input: Mapping[str, Any]) -> None:
    item_code = decision_input.get("service_item")
    if item_code is not None and rule_set.service_item not in (ANY_SERVICE_ITEM, item_code):
        raise InputError(
            f"decision input is for service item {item_code!r} but rule set "
            f"{rule_set.rule_set_id!r} is for {rule_set.service_item!r}; use that item's rule set"
        )


def _combined(rule_set: RuleSet, fired: list[Rule]) -> Evaluation:
    """The outcome of the ``fired`` rules by precedence (docs/rules.md), or the set's default when none fired."""
    if not fired:
        return Evaluation(rule_set.default_outcome, (rule_set.default_reason,), ())
    outcomes = {rule.outcome for rule in fired}
    outcome = next(o for o in OUTCOMES if o in outcomes)
    return Evaluation(outcome, tuple(r.reason for r in fired if r.outcome == outcome), tuple(r.rule_id for r in fired))
