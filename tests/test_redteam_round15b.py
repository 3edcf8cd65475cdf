"""Red team, round 15b: an applicant lying in their input, a department's officer recording inconsistent decisions,
a department listing applicants with no officer or basis on record, and a holder whose bundle the two verifiers
judged by different rules.

1. An applicant's identity was salted in any letter case. The credit list, a case's decisions and the holder facts
   are keyed by the department's salted reference of the applicant's identity, an HMAC of the exact text: an
   applicant credit-listed as ``AB1234567`` applied as ``ab1234567`` (or in full-width letters or digits), got
   another reference, was "not listed" and was approved on the fast track. An identity not in its canonical form
   (NFKC; an identifier of ASCII letters and digits in capital letters) is now refused wherever one enters (a
   decision, a bulk run, an officer's decision, a credit listing), naming the canonical form. Nothing is normalised,
   so the references already recorded, which replay re-derives, stay what they are.
2. An officer's decisions of one case could name different applicants. A case's decisions are linked by its case id
   and each override's reference to the decision it replaces; nothing compared their applicants, so an officer
   could override the rules' decision for a credit-listed applicant with an approval naming a clean one, and replay
   was silent. Recording refuses it (InputError on ``applicant_ref``); replay reports any decision of a case naming
   another applicant than its first (``applicant_changed``), also in a history written into the database past the
   library, with or without an override named.
3. A manual credit listing recorded no officer and any basis. ``supervision.credit_list`` took any mapping as the
   listing's ``basis`` (free text naming a person, anchored for ever; a made-up reference to a withdrawal) and
   recorded nobody as having listed the applicant, who then lost the fast track on every application. A manual
   listing now names its officer (a staff id, recorded salted like an officer's decision's) and a typed basis
   (``ListingBasis``: a legal-basis code, optionally the decision document's code); anything else is refused naming
   the field. A withdrawal's listing records the withdrawing officer; listings written before are read as before.
4. The court's verifier and the library read witness key names by different rules. The library refuses a witness
   key (a C2SP vkey given with ``--witness-key``) whose name is no note key name (empty, white space, a character
   that prints as nothing) and one whose key id is not 8 hex digits; the court's verifier took any name and any
   key id spelling: a key id written with spaces passed in the library (``bytes.fromhex`` skips them) and failed
   in the court's verifier, and every other bad key failed in both for different reasons. Both now read a witness
   key by one rule, each failure with the same words.

Each hole found was written first as a failing test, then closed.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.services import decisions, evidence, logchain, supervision
from ledger.services.replay import replay

from .cli_support import cli_in_process
from .conftest import make_records
from .evidence_support import issue, standalone
from .supervision_support import ITEM, decide, respelt_listing_refused, rule_set

# -- 1. an identity spelt in lower case escaped the credit list -------------------------------------------------

_LISTED_BY: dict[str, Any] = {
    "officer": "o-15b",
    "basis": {"legal_basis": "SOCIAL-CREDIT-REG-ART-12"},
}  # who listed, on what basis (3.)


def _identifier(department: str) -> str:
    """A passport-style document number of this test's own (two capital letters, seven digits)."""
    digits = "".join(c for c in department if c.isdigit())[-7:]
    return f"AB{digits:0>7}"


@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param(str.lower, id="lower-case"),
        pytest.param(lambda s: s[0] + s[1:].lower(), id="mixed-case"),
        pytest.param(lambda s: s.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)}), id="full-width"),
        pytest.param(lambda s: s[:2] + s[2:].translate({c: c + 0xFEE0 for c in range(0x30, 0x3A)}), id="wide-digits"),
    ],
)
def test_a_credit_listed_applicant_cannot_escape_the_list_by_the_case_of_their_identity(
    ledger: Ledger, fresh_department: str, spelling: Any
) -> None:
    """Adversary: an applicant on the department's credit list as ``AB1234567`` applying as ``ab1234567`` (or in
    full-width letters or digits, which print alike): the salted reference is an HMAC of the exact text, so it
    differed from the listed one, the applicant was "not listed" and approved on the fast track (and a case they
    had been decided on could be applied for again as someone else). An identifier (an ID number, a unified social
    credit code, a document number: ASCII letters and digits) not in its canonical form - capital letters,
    half-width - is refused on every path, naming the canonical form; nothing is normalised in silence, so the
    references already recorded stay what they are."""
    dept = fresh_department
    rules = rule_set("r15b-case")
    decisions.publish_rule_set(ledger, rules, dept)
    identity = _identifier(dept)
    canonical = re.escape(repr(identity))  # each refusal names the canonical form
    respelt_listing_refused(
        ledger,
        dept,
        rules,
        identity,
        spelling(identity),
        listed_by=_LISTED_BY,
        refused=f"applicant_ref.*{canonical}",
        listing_refused=f"applicant.*{canonical}",
    )
    # identities of other shapes (a name, an internal reference) are still compared as sent, and replay re-derives
    # the references it compares exactly as before
    assert decide(ledger, dept, rules, "CASE-5", "applicant-r15b").body["outcome"] == "approve"
    assert replay(ledger, department=dept).ok


# -- 2. an officer's decisions of one case naming different applicants ------------------------------------------


def test_an_officers_decision_of_a_case_names_the_applicant_the_case_is_about(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an officer (or an insider writing the decisions log directly) recording, on a case the rules decided
    for one applicant, an override naming another applicant - an approval "for" a credit-listed applicant's case
    that moves it to a clean one, or a refusal that puts another applicant's name on the case. The case's decisions
    are linked by its case id and the override's reference to the decision it replaces; nothing compared their
    applicants, so the record said two things and replay was silent. Recording refuses it, and replay reports a
    history written so past the library (``applicant_changed``), with or without an override named."""
    dept = fresh_department
    rules = rule_set("r15b-applicant")
    decisions.publish_rule_set(ledger, rules, dept)
    first, second = _identifier(dept), _identifier(dept).replace("AB", "CD")
    decided = decide(ledger, dept, rules, "CASE-1", first)
    with pytest.raises(InputError, match="applicant_ref") as refused:
        decisions.record_human_decision(
            ledger,
            dept,
            "CASE-1",
            ITEM,
            officer="o-1",
            outcome="reject",
            reasons=["R"],
            applicant_ref=second,
            overrides="CASE-1",
        )
    assert "another applicant" in str(refused.value) and f"decision {decided.seq}" in str(refused.value)
    assert [d.seq for d in decisions.find_decisions(ledger, dept, "CASE-1")] == [decided.seq]
    same = decisions.record_human_decision(
        ledger,
        dept,
        "CASE-1",
        ITEM,
        officer="o-1",
        outcome="reject",
        reasons=["R"],
        applicant_ref=first,
        overrides="CASE-1",
    )
    assert replay(ledger, department=dept).ok

    # an insider writes the same overrides into the log past the library (anchored by the department's next run)
    other = decisions.applicant_reference(ledger, dept, second)
    forged = {**same.body, "applicant_ref": other, "overrides": {"seq": same.seq, "entry_hash": same.entry_hash}}
    written = logchain.append(ledger, logchain.LOG_DECISIONS, dept, forged)
    decide(ledger, dept, rules, "CASE-2", first)
    unlinked = {**same.body, "case_id": "CASE-2", "applicant_ref": other, "overrides": None}
    loose = logchain.append(ledger, logchain.LOG_DECISIONS, dept, unlinked)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    found = [(d.check, d.seq, d.case_id) for d in replay(ledger, department=dept).discrepancies]
    assert ("applicant_changed", written.seq, "CASE-1") in found, found
    assert ("applicant_changed", loose.seq, "CASE-2") in found, found
    assert not [f for f in found if f[0] == "applicant_changed" and f[1] not in (written.seq, loose.seq)], found


# -- 3. a manual credit listing recorded no officer and any basis ------------------------------------------------


_WHEN = {"reason": "FALSE_MATERIALS", "since": "2026-01-01", "until": "2027-01-01"}
_BASIS = {"legal_basis": "SOCIAL-CREDIT-REG-ART-12", "document": "MKT-CREDIT-2026-0042"}


@pytest.mark.parametrize(
    ("given", "field"),
    [
        pytest.param({"basis": _BASIS}, "officer", id="no-officer"),
        pytest.param({"officer": "o-15b"}, "basis", id="no-basis"),
        pytest.param({"officer": "Li Wei (on the phone)", "basis": _BASIS}, "officer", id="officer-in-words"),
        pytest.param({"officer": "", "basis": _BASIS}, "officer", id="officer-empty"),
        pytest.param({"officer": "o-15b", "basis": "SOCIAL-CREDIT-REG-ART-12"}, "basis", id="basis-not-a-mapping"),
        pytest.param({"officer": "o-15b", "basis": {}}, "basis.legal_basis", id="basis-empty"),
        pytest.param(
            {"officer": "o-15b", "basis": {**_BASIS, "note": "Li Wei, ID 110101199003071234, lied"}},
            "basis.note",
            id="basis-with-free-text",
        ),
        pytest.param(
            {"officer": "o-15b", "basis": {"legal_basis": "he cheated on the form"}},
            "basis.legal_basis",
            id="legal-basis-in-words",
        ),
        pytest.param(
            {"officer": "o-15b", "basis": {**_BASIS, "document": "the file of Li Wei"}},
            "basis.document",
            id="document-in-words",
        ),
        pytest.param(
            {"officer": "o-15b", "basis": {"withdrawal": {"seq": 1, "entry_hash": "0x" + "00" * 32}}},
            "basis.withdrawal",
            id="a-withdrawal-basis-made-up",
        ),
    ],
)
def test_a_manual_credit_listing_is_refused_without_an_officer_and_a_typed_basis(
    ledger: Ledger, fresh_department: str, given: dict[str, Any], field: str
) -> None:
    """Adversary: a department (or one officer in it) putting an applicant on the credit list - which takes the fast
    track from every later application - with nobody on record as having listed them and any mapping as the
    "basis": none at all, free text that names a person for ever in the anchored log, or a made-up reference to a
    withdrawal. A manual listing now names its officer (a staff id, recorded salted as an officer's decision
    records it) and a typed basis (a legal-basis code and, optionally, the code of the decision document);
    anything else is refused naming the field, and nothing is listed."""
    dept = fresh_department
    with pytest.raises(InputError) as refused:
        supervision.credit_list(ledger, dept, applicant=_identifier(dept), **_WHEN, **given)
    assert refused.value.field == field, refused.value
    assert supervision.credit_entries(ledger, dept) == []


def test_a_manual_credit_listing_records_who_listed_and_on_what_basis(ledger: Ledger, fresh_department: str) -> None:
    """A listing says who listed (the officer's salted reference, never the staff id itself) and on what basis, and
    the typed form and its mapping record the same; listings written before (no officer, any basis) stay readable
    and keep counting for the rules and replay."""
    dept = fresh_department
    rules = rule_set("r15b-listing")
    decisions.publish_rule_set(ledger, rules, dept)
    identity = _identifier(dept)
    # a listing as the ledger wrote it before (earlier in the log): no officer, any basis
    old = decisions.applicant_identity(identity.replace("AB", "EF"))
    logchain.append(
        ledger,
        logchain.LOG_DECISIONS,
        dept,
        {
            "format": supervision.SUPERVISION_FORMAT,
            "kind": "credit_listing",
            "applicant_ref": decisions.applicant_reference(ledger, dept, old),
            "reason": "FALSE_MATERIALS",
            "since": (date.today() - timedelta(days=1)).isoformat(),
            "until": (date.today() + timedelta(days=30)).isoformat(),
            "basis": {"note": "written before round 15b"},
            "listed_at": "2026-01-01T00:00:00.000Z",
        },
    )
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    typed = supervision.ListingBasis(legal_basis=_BASIS["legal_basis"], document=_BASIS["document"])
    listed = supervision.credit_list(ledger, dept, applicant=identity, officer="o-15b", basis=typed, **_WHEN)
    assert listed.officer_ref == decisions.officer_ref(ledger, dept, "o-15b")
    assert listed.basis == _BASIS
    again = supervision.credit_list(ledger, dept, applicant=identity, officer="o-15b", basis=dict(_BASIS), **_WHEN)
    assert (again.officer_ref, again.basis) == (listed.officer_ref, listed.basis)
    (body,) = [e.body for e in logchain.entries(ledger, logchain.LOG_DECISIONS, dept) if e.seq == listed.seq]
    assert "o-15b" not in body
    before = [e for e in supervision.credit_entries(ledger, dept) if e.seq not in (listed.seq, again.seq)]
    assert [(e.officer_ref, e.basis) for e in before] == [(None, {"note": "written before round 15b"})]
    assert decide(ledger, dept, rules, "CASE-OLD", old).body["reasons"] == ["APPLICANT_ON_CREDIT_BLACKLIST"]
    assert replay(ledger, department=dept).ok


def test_the_cli_lists_an_applicant_only_with_an_officer_and_a_legal_basis(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``ledger supervision credit add`` asks who lists (``--officer``) and on what (``--legal-basis``, optionally
    ``--document``); a staff id in words is refused naming the field (exit 2), and nothing is listed."""
    dept = fresh_department
    listing = ("supervision", "credit", "add", "-d", dept, "--applicant", _identifier(dept), "--reason", "R")
    period = ("--since", "2026-01-01", "--until", "2027-01-01")
    with pytest.raises(SystemExit):  # argparse: --officer and --legal-basis are required
        cli_in_process(ledger, monkeypatch, capsys, *listing, *period)
    code, _out, err = cli_in_process(
        ledger, monkeypatch, capsys, *listing, *period, "--officer", "Li Wei", "--legal-basis", "REG-12"
    )
    assert code == 2 and "'officer'" in err and "staff id" in err, err
    assert supervision.credit_entries(ledger, dept) == []
    code, out, err = cli_in_process(
        ledger, monkeypatch, capsys, *listing, *period, "--officer", "o-15b", "--legal-basis", "REG-12"
    )
    assert code == 0, err
    shown = json.loads(out)
    assert shown["officer_ref"] == decisions.officer_ref(ledger, dept, "o-15b")
    assert shown["basis"] == {"legal_basis": "REG-12", "document": None}


# -- 4. witness key names: one rule in the library and the court's verifier -------------------------------------


def _cosigned_bundle(ledger: Ledger, tmp: Path, department: str) -> tuple[dict[str, Any], Any]:
    """A certificate bundle with a checkpoint of its as_of block cosigned by a witness of the court's own (signing
    in-process), and that witness's signing key."""
    from ledger.services.witness.checkpoint import Checkpoint, origin_for
    from ledger.services.witness.note import COSIGNATURE_V1, SignerKey

    (document,) = issue(ledger, tmp, department, make_records(1))
    bundle = json.loads(json.dumps(evidence.certificate_bundle(ledger, document)))
    c = bundle["chain"]
    origin = origin_for(c["chain_id"], c["genesis_hash"], c["registry_contract"])
    checkpoint = Checkpoint(
        origin, bundle["as_of"]["block_number"] + 1, bytes.fromhex(bundle["as_of"]["block_hash"][2:])
    )
    witness = SignerKey.generate("court-witness-r15b", COSIGNATURE_V1)
    text = checkpoint.text()
    bundle["witness"] = {"checkpoint": text + "\n" + witness.cosign(text, 1_767_225_600).line()}
    return bundle, witness


def _vkey(name: str, kind: int, public: bytes, key_id: str | None = None) -> str:
    """A C2SP verifier key named ``name`` (its key id computed for that name unless ``key_id`` is given)."""
    from ledger.services.witness.note import key_id as computed

    stated = key_id if key_id is not None else computed(name, kind, public).hex()
    return f"{name}+{stated}+{base64.b64encode(bytes([kind]) + public).decode()}"


def _spaced(hex_id: str) -> str:
    return " ".join(hex_id[i : i + 2] for i in range(0, 8, 2))


# each: the court's witness keys, from (the witness's public key, another key's public key)
_KEYS = {
    "the-genuine-key": lambda mine, other: [_vkey("court-witness-r15b", 4, mine)],
    "a-name-with-a-space": lambda mine, other: [_vkey("court witness", 4, mine)],
    "an-empty-name": lambda mine, other: [_vkey("", 4, mine)],
    "a-name-with-a-zero-width-space": lambda mine, other: [_vkey("court\u200bwitness", 4, mine)],
    "a-name-with-a-tab": lambda mine, other: [_vkey("court\twitness", 4, mine)],
    "a-key-id-spelt-with-spaces": lambda mine, other: [
        _vkey("court-witness-r15b", 4, mine, _spaced(_vkey("court-witness-r15b", 4, mine).split("+")[1]))
    ],
    "a-key-id-in-capitals": lambda mine, other: [
        _vkey("court-witness-r15b", 4, mine, _vkey("court-witness-r15b", 4, mine).split("+")[1].upper())
    ],
    "a-key-renamed-keeping-its-id": lambda mine, other: [
        _vkey("court-witness-r15b-renamed", 4, mine, _vkey("court-witness-r15b", 4, mine).split("+")[1])
    ],
    "the-key-under-two-names": lambda mine, other: [
        _vkey("court-witness-r15b", 4, mine),
        _vkey("court-witness-alias", 4, mine),
    ],
    "the-key-under-two-names-the-other-first": lambda mine, other: [
        _vkey("court-witness-alias", 4, mine),
        _vkey("court-witness-r15b", 4, mine),
    ],
    "two-keys-under-one-name": lambda mine, other: [
        _vkey("court-witness-r15b", 4, other),
        _vkey("court-witness-r15b", 4, mine),
    ],
    "the-same-key-twice": lambda mine, other: [_vkey("court-witness-r15b", 4, mine)] * 2,
    "a-note-key-not-a-cosignature-key": lambda mine, other: [_vkey("court-witness-r15b", 1, mine)],
    "a-bad-name-beside-the-genuine-key": lambda mine, other: [
        _vkey("court-witness-r15b", 4, mine),
        _vkey("court witness", 4, other),
    ],
}


def _words(detail: str) -> str:
    """A check's detail without the name of the exception it came from (the library says InputError, the court's
    verifier, which has no error hierarchy, ValueError)."""
    return re.sub(r"^[A-Za-z]+Error: ", "", detail)


@pytest.mark.parametrize("keys", list(_KEYS.values()), ids=list(_KEYS))
def test_both_verifiers_read_witness_key_names_by_one_rule(
    ledger: Ledger, fresh_department: str, tmp_path: Path, keys: Any
) -> None:
    """Adversary: a holder (or a party in court) whose bundle is judged by whichever verifier reads the court's
    witness keys more kindly. A key with a name no signed note can carry (white space, empty, a character that prints
    as nothing), a key id spelt with spaces, a key renamed, one key under two names, two keys under one name: the
    library and the court's verifier (scripts/verify_evidence.py, standalone by design) must give one verdict on
    `witnessed`, for the same reason."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    bundle, witness = _cosigned_bundle(ledger, tmp_path, fresh_department)
    other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    given = keys(witness.verifier.public, other)
    path = tmp_path / "witnessed.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    library = evidence.verify_bundle(path, ledger.chain, witness_keys=given).check("witnessed")
    _, result, stderr = standalone(ledger, path, *[a for key in given for a in ("--witness-key", key)])
    assert result is not None, stderr
    court = {c["name"]: (c["result"], c["detail"]) for c in result["checks"]}["witnessed"]
    assert (library.ok, _words(library.detail)) == (court[0] == "PASS", _words(court[1])), (given, library, court)
