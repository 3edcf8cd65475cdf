"""Red team round 86: the native code against its Python references and the court's verifier, and rt85b's key-file
warnings.

* (A court's expert checking that the two verifiers agree; an applicant shaping an input; a holder editing their
  document) the gateway and the CLI decide with the native rule walk (``_hashcore.rules_evaluate``) and hash
  certificates with ``_hashcore.document_digest``; replay runs the library's Python engine on the stored input; the
  court's ``scripts/verify_evidence.py`` runs its own engine and hashing on the bundle's canonical JSON, read with its
  strict number hooks. tests/test_native_rules.py compares the native walk with the library's engine; nothing compared
  all of them on one input as each of them reads it. Generated rule sets and inputs (floats at the edges, integers at
  2**53, decimal strings with exponents, leading zeros and Arabic-Indic digits, NUL, non-BMP, long strings, booleans
  against numbers, lists and objects compared, certificate lists of every shape), the MAX_STEPS budget at its bound,
  conditions nested at the native walk's depth bound (63 and 64), and certificate documents with field names and values
  of every kind: the four answers agree on every case (no divergence found).
* (Another local user, once the operator keeps the keys on another volume: ``$LEDGER_DATA_DIR/keys`` a symbolic link
  to it, or one key file linked to a file elsewhere) round 85b's ``ledger doctor`` looked at the keys directory and
  its entries with ``lstat``: a linked directory was no directory to it and a linked file no regular file, so it said
  nothing, while the keystore opens both through the link and the data directory's 0700 does not guard the target:
  the case where the files' own modes matter most went unsaid. The doctor (and the gateway's start-up log, the council
  commands' warning) now judges a link by what it leads to.
"""

from __future__ import annotations

import functools
import json
import random
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import InputError
from ledger.formats import _native_rules, canonical, rules
from ledger.formats.certificate import CertificateDocument
from ledger.formats.rules import MAX_STEPS, RuleSet, evaluate, load_rule_set
from ledger.services import doctor
from ledger.storage.keys import Keystore

from .conftest import PASSPHRASE
from .evidence_support import SCRIPT_MODULE

COURT = SCRIPT_MODULE
_HOOKS = {
    "object_pairs_hook": COURT.unique_keys,
    "parse_constant": COURT.not_json,
    "parse_float": COURT.exact_float,
    "parse_int": COURT.exact_int,
}

# literals a rule may state, and the values an applicant may send besides them
_LITERALS: tuple[Any, ...] = (
    0,
    1,
    -1,
    10,
    0.5,
    1.0,
    -0.0,
    1e308,
    -1e308,
    5e-324,
    2**53 - 1,
    9007199254740991.0,
    2**52 + 0.5,
    1e21,
    1e20,
    123456789.125,
    True,
    False,
    None,
    "",
    "1",
    "01",
    "1e0",
    "1.0",
    "1E+2",
    "\u0661",  # ARABIC-INDIC DIGIT ONE
    "\u0663",
    "\x00",
    "a\x00",
    "\U0001f600",
    "e\u0301",
    "\u00e9",
    "\ufeff",
    "A" * 300,
    "true",
    "null",
    "MKT",
    "valid",
)
_SENT: tuple[Any, ...] = (
    *_LITERALS,
    2**53 + 1,
    -(2**53 + 1),
    10**30,
    2**64,
    1.7976931348623157e308,
    1e-320,
    [],
    {},
    [1],
    {"a": 1},
    [True],
    [1.0],
    "x" * 5000,
)
_PATHS = ("item.kind", "application.count", "application.name", "application.n.v", "applicant.score", "applicant.flag")
_TYPES = ("business-licence", "id-card")


def _condition(rng: random.Random, depth: int) -> dict[str, Any]:
    kind = rng.random()
    if depth < 4 and kind < 0.25:
        return {rng.choice(("all", "any")): [_condition(rng, depth + 1) for _ in range(rng.randint(1, 3))]}
    if depth < 4 and kind < 0.32:
        return {"not": _condition(rng, depth + 1)}
    if kind < 0.42:
        spec: dict[str, Any] = {"type": rng.choice(_TYPES)}
        for flag in ("verified", "expired", "holder"):
            if rng.random() < 0.4:
                spec[flag] = rng.choice((True, False))
        if rng.random() < 0.4:
            spec["status"] = rng.choice(rules.CERTIFICATE_STATUSES)
        if rng.random() < 0.3:
            spec["issuer"] = rng.choice(("MKT", ["MKT", "TAX"], ["\u4e2d\u6587"]))
        return {"certificate": spec}
    path = rng.choice(_PATHS)
    op = rng.choice(("==", "!=", "<", "<=", ">", ">=", "in", "not_in", "exists"))
    if rng.random() < 0.2 and op not in ("in", "not_in", "exists"):
        return {"field": path, "op": op, "ref": rng.choice(_PATHS)}
    if op == "exists":
        return {"field": path, "op": op, "value": rng.choice((True, False))}
    if op in ("in", "not_in"):
        return {"field": path, "op": op, "value": rng.sample(_LITERALS, rng.randint(1, 5))}
    if op in ("<", "<=", ">", ">="):
        return {"field": path, "op": op, "value": rng.choice([v for v in _LITERALS if type(v) in (int, float)])}
    return {"field": path, "op": op, "value": rng.choice(_LITERALS)}


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.random()
    if depth < 3 and kind < 0.08:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if depth < 3 and kind < 0.14:
        return {rng.choice(("v", "x", "n")): _value(rng, depth + 1) for _ in range(rng.randint(0, 2))}
    return rng.choice(_SENT)


def _certificate(rng: random.Random) -> Any:
    if rng.random() < 0.05:
        return rng.choice((None, "business-licence", [], 1))
    cert: dict[str, Any] = {}
    if rng.random() < 0.95:
        cert["type"] = rng.choice((*_TYPES, 1, None))
    for flag in ("verified", "expired", "holder"):
        if rng.random() < 0.9:
            cert[flag] = rng.choice((True, False, 1, 0, None))
    if rng.random() < 0.9:
        cert["status"] = rng.choice((*rules.CERTIFICATE_STATUSES, None, 0))
    if rng.random() < 0.8:
        cert["issuer"] = rng.choice(("MKT", "TAX", "\u4e2d\u6587", None, ["MKT"], 1))
    return cert


def _input(rng: random.Random) -> dict[str, Any]:
    sent: dict[str, Any] = {"case_id": "CASE-1"}
    for section, names in (
        ("item", ("kind",)),
        ("application", ("count", "name", "n")),
        ("applicant", ("score", "flag")),
    ):
        if rng.random() < 0.95:
            if rng.random() < 0.05:
                sent[section] = rng.choice((None, 1, [], "s"))
                continue
            sent[section] = {n: _value(rng) for n in names if rng.random() < 0.8}
            if section == "application" and rng.random() < 0.4:
                sent[section]["n"] = {"v": _value(rng)}
    if rng.random() < 0.9:
        sent["certificates"] = [_certificate(rng) for _ in range(rng.randint(0, 4))]
    return sent


def _rule_set_document(rule_docs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "engine": rules.ENGINE_VERSION,
        "rule_set_id": "round-86",
        "version": "1",
        "service_item": "*",
        "title": "three engines",
        "default_outcome": "refer",
        "default_reason": "NONE",
        "rules": rule_docs,
    }


def _library(rule_set: RuleSet, decision_input: dict[str, Any], native: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as patch:
        patch.setattr(rules, "_NATIVE_RULES", native)
        try:
            found = evaluate(rule_set, decision_input)
        except InputError:
            return ("refused",)
    return (found.outcome, tuple(found.reasons), tuple(found.fired))


def _court(document: dict[str, Any], decision_input: dict[str, Any]) -> Any:
    try:
        outcome, reasons, _basis, fired = COURT.run_rules_given(document, decision_input)
    except COURT.Failure:
        return ("refused",)
    return (outcome, tuple(reasons), tuple(fired))


def _four(rule_set: RuleSet, sent: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ...]:
    """(the gateway's native decision on the input as sent, the library's Python engine on it, the court's engine on
    the stored input as its bundle reader reads it, replay's engine on the stored input)."""
    stored = canonical.canonical_json(sent)
    court_rules = json.loads(canonical.canonical_json(rule_set.document), **_HOOKS)
    return (
        _library(rule_set, sent, True, monkeypatch),
        _library(rule_set, sent, False, monkeypatch),
        _court(court_rules, json.loads(stored, **_HOOKS)),
        _library(rule_set, canonical.json_loads(stored), True, monkeypatch),
    )


needs_native = pytest.mark.skipif(_native_rules.rules_evaluate is None, reason="the native core is not built here")


@needs_native
@pytest.mark.parametrize("seed", [86, 8601])
def test_the_native_walk_the_library_and_the_court_decide_alike(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Adversary: an applicant shaping an input, or a department its rules, so that the gateway's native decision,
    replay's and the court's re-run differ (an approval the court re-runs as a refusal, or the other way). Every
    input the ledger can store (canonical JSON) gets one answer from all four."""
    rng = random.Random(seed)
    compared = 0
    for _ in range(160):
        rule_docs = [
            {
                "id": f"r{i}",
                "outcome": rng.choice(rules.OUTCOMES),
                "reason": rng.choice("ABC"),
                "when": _condition(rng, 0),
            }
            for i in range(rng.randint(1, 6))
        ]
        try:
            rule_set = load_rule_set(_rule_set_document(rule_docs))
        except InputError:  # a literal of 2**53 or more not written as an integer (red team round 60): not loaded
            continue
        assert _native_rules.program_of(rule_set.document, rules.OUTCOMES) is not None
        for _ in range(20):
            sent = _input(rng)
            try:
                canonical.canonical_json(sent)
            except InputError:
                continue  # an input the ledger cannot store is refused before any engine decides
            answers = _four(rule_set, sent, monkeypatch)
            assert len(set(answers)) == 1, (answers, rule_docs, sent)
            compared += 1
    assert compared > 1200


@needs_native
def test_the_step_budget_is_spent_alike_at_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Adversary: an applicant sizing the certificate list and two lists compared so that one engine stays within
    MAX_STEPS and another refuses: exactly at the bound all four decide, one member past it all four refuse."""
    scan = {"certificate": {"type": "business-licence"}}
    compare = {"field": "application.a", "op": "==", "ref": "application.b"}
    rule_set = load_rule_set(
        _rule_set_document(
            [
                {"id": "scan", "outcome": "approve", "reason": "SCAN", "when": scan},
                {"id": "lists", "outcome": "reject", "reason": "SAME", "when": compare},
            ]
        )
    )
    for lists, certificates, within in (
        (0, MAX_STEPS, True),
        (0, MAX_STEPS + 1, False),
        (MAX_STEPS // 2, MAX_STEPS // 2, True),
        (MAX_STEPS // 2, MAX_STEPS // 2 + 1, False),
    ):
        sent: dict[str, Any] = {
            "application": {"a": [1] * lists, "b": [1] * lists} if lists else {},
            "certificates": [None] * (certificates - 1) + [{"type": "business-licence"}],
        }
        answers = _four(rule_set, sent, monkeypatch)
        assert len(set(answers)) == 1, (lists, certificates, answers)
        assert (answers[0] != ("refused",)) == within, (lists, certificates, answers)


@needs_native
@pytest.mark.parametrize("depth", [62, 63, 64, 65])
def test_conditions_nested_at_the_native_depth_bound_decide_alike(depth: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Adversary: a department nesting its conditions at the depth where the native walk hands the rule set to the
    Python engine (RULES_DEPTH 64): below it the walk decides, at and past it Python does; all four answers agree."""
    when: dict[str, Any] = {"field": "application.count", "op": ">=", "value": 3}
    for level in range(depth):
        when = (
            {"not": when} if level % 2 else {"all": [when, {"field": "applicant.flag", "op": "exists", "value": False}]}
        )
    rule_set = load_rule_set(_rule_set_document([{"id": "deep", "outcome": "approve", "reason": "DEEP", "when": when}]))
    built = _native_rules.program_of(rule_set.document, rules.OUTCOMES)
    assert (built is not None) == (depth < 64), depth
    for sent in (
        {"application": {"count": 3}},
        {"application": {"count": 2.5}},
        {"application": {"count": "3"}},
        {"application": {"count": 3}, "applicant": {"flag": True}},
        {},
    ):
        answers = _four(rule_set, sent, monkeypatch)
        assert len(set(answers)) == 1, (depth, sent, answers)


_NAMES = (
    "a",
    "b",
    "Z",
    "z",
    "a b",
    'a"b',
    "a\\b",
    "~",
    "\x7f",
    "\u2028",
    "",
    "\uff61",  # after every non-BMP name in code point order, before them in UTF-16 order (RFC 8785's)
    "\U0001f600",
    "\u00e9",
    "a\x00",
)
_FIELD_VALUES: tuple[Any, ...] = (
    0,
    1.5,
    1e21,
    1e-7,
    -0.0,
    "x",
    "\x00",
    "\u2028",
    "\U0001f600",
    True,
    None,
    [1, {"\uff61": 1, "\U0001f600": 2}],
    {},
    2**53 - 1,
    '\\"',
    "A" * 1000,
    "\u0663",
)


def _outcome(compute: Any) -> Any:
    try:
        return compute()
    except (InputError, COURT.Failure) as exc:
        return type(exc).__name__


def _court_digest(document: CertificateDocument) -> bytes:
    """The court's digest of ``document`` as its bundle reader reads it (each value through JSON)."""
    salts = document.salts
    hashes = {n: COURT.field_hash(n, json.loads(json.dumps(v)), salts[n]).hex() for n, v in document.fields.items()}
    hashes.update({n: h.hex() for n, h in document.hidden.items()})
    return bytes(COURT.cert_digest(hashes, "pl-cert/2", document.fields["type"]))


def test_a_certificate_digest_is_the_same_natively_in_python_and_in_the_court() -> None:
    """Adversary: a holder editing their document (a field's name or value respelt, a hidden hash added) so that the
    gateway's native digest, the library's Python digest and the court's differ: one of them would take the edited
    document for the anchored one. On every generated document the three agree, or both library paths refuse it
    (a value canonical JSON cannot carry) and the court refuses or gets another digest."""
    rng = random.Random(86)
    for _ in range(1500):
        fields: dict[str, Any] = {"type": rng.choice(("business-licence", "Bad Type", "x" * 70, "\U0001f600"))}
        for name in rng.sample(_NAMES, rng.randint(0, 5)):
            fields[name] = rng.choice(_FIELD_VALUES)
        salts = {name: rng.randbytes(16) for name in fields}
        hidden = {}
        if rng.random() < 0.3:
            hidden[rng.choice(("h", "\uff61h", "hh"))] = rng.randbytes(32)
        document = CertificateDocument(fields, salts, hidden, {})

        native, python, theirs = (
            _outcome(document.digest),
            _outcome(document._digest),
            _outcome(functools.partial(_court_digest, document)),
        )
        assert native == python, fields
        assert theirs == native or (isinstance(native, str) and theirs != python), (fields, native, theirs)


def test_doctor_names_key_files_reached_through_a_symbolic_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: another local user, once the operator keeps the keys on another volume (``keys`` a link to a
    directory there, or one key file a link to a file there) restored with the usual umask. The keystore opens the
    keys through the links, and the data directory's 0700 does not guard their targets; round 85b's doctor judged the
    links themselves (``lstat``: no directory, no regular file) and said nothing. It now names each such file."""
    monkeypatch.delenv("LEDGER_INSECURE_KEYSTORE_KDF_FLOOR", raising=False)
    volume = tmp_path / "volume" / "keys"
    Keystore(volume, kdf_n=1024, kdf_floor=1024).create("dept-MKT", PASSPHRASE)
    (volume / "dept-MKT.json").chmod(0o644)
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "keys").symlink_to(volume, target_is_directory=True)
    # the keystore reads the key through the link
    assert Keystore(data / "keys", kdf_n=1024, kdf_floor=1024).address("dept-MKT")
    said = [f.warning for f in doctor.findings(data)]
    assert len(said) == 1 and f"{data / 'keys' / 'dept-MKT.json'} may be opened by other users" in said[0], said

    # one key file linked to a file elsewhere, in a private keys directory
    (data / "keys").unlink()
    own = data / "keys"
    Keystore(own, kdf_n=1024, kdf_floor=1024).create("dept-TAX", PASSPHRASE)
    (own / "vault.key").symlink_to(volume / "dept-MKT.json")
    said = [f.warning for f in doctor.findings(data)]
    assert len(said) == 1 and f"{own / 'vault.key'} (a link to {volume / 'dept-MKT.json'})" in said[0], said

    (volume / "dept-MKT.json").chmod(0o600)
    assert doctor.findings(data) == []
