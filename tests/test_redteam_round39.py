"""Red team, round 39: the applicant, the department, the council.

Holes (each test failed before its fix):

1. An applicant escaped the credit list with a look-alike letter in their identity. Round 15b refused an identity
   not in its canonical form (NFKC, an ASCII identifier in capital letters), but a letter of another script that
   prints as a Latin capital - Cyrillic A, B, E, K, M, H, O, P, C, T, X (U+0410...), Greek ones (U+0391...) - is no
   compatibility form of it (NFKC keeps it) and is not ASCII, so ``AB1234567`` spelt with a Cyrillic A and B was
   taken as sent: another salted reference, "not listed", approved on the fast track. An identity that holds ASCII
   letters or digits, or a digit of any script, and any character that is not ASCII is now refused wherever one
   enters, saying which character is not ASCII.
2. Two shipped rule sets approved what one of their blocking rules reads but cannot read. A comparison with a missing
   field, or one of another type, is false, so an approving rule must itself state every field a blocking rule
   reads (round 6 restated two of them). ``ss-eligibility`` 1.5.0 did not state ``item.item_type`` nor
   ``item.joint_bodies``: an item described without them, or with ``"4"`` / ``"2"`` as text, skipped "multi-department
   package" and "joint handling" and was approved in seconds. ``business-licence-renewal`` 1.2.0 asked only that
   ``item.onsite_reason`` exist: ``"5"``, ``null`` or ``[5]`` skipped the study's on-site constraint ("never
   relaxed") and renewed the licence at once. The approving rules now state each (``ss-eligibility`` 1.6.0,
   ``business-licence-renewal`` 1.3.0), and a test holds every shipped rule set to it.
3. A department published a rule set on chain under another service item than its own. ``publishRuleSet(digest,
   serviceItem)`` takes the item from the caller (the contract cannot read the document), and nothing compared the
   two: a department calling the contract with its own key put its food business permit rules on the public record
   as a rule set for another item (or for any item, ``*``), so whoever watches which rules serve an item never saw
   them, and the library decided the permit's item with them; replay and both evidence verifiers compared the
   bundle's item with the chain's, never with the document's. The library now refuses to decide (or to call the rule
   set published) with a publication naming another item; replay reports such a decision
   (``rule_set_unpublished``) and both verifiers fail its ``rule_set_published`` check.
4. A council member's proposal to register a department whose code has a space that does not show. The registry
   takes any printable ASCII code (round 28), so one member could propose ``"MKT "``: every summary
   (``council show``, ``council list``, the history) printed "register department MKT ('Market Regulation
   Bureau') ...", the market regulator's own code as far as a voter could see. A code with a space at its start or
   end, or two together, is now shown quoted with a warning to compare it character by character.

Held (a test each, for what no test covered): identities wholly in one script are taken as before; an application
spelling its values in every way JSON allows (``4.0`` for 4, ``-0.0``, keys in another order, a key with a dot, a
tilde or nothing in it, an empty object, a decomposed accent) gets one outcome from the engine, replay and the
court's re-run.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.formats.rules import evaluate, load_rule_set
from ledger.onchain.chain import ROLE_ISSUER
from ledger.services import decisions, evidence, logchain
from ledger.services.council import Action, GovernanceEvent, get_proposal
from ledger.services.departments import Council
from ledger.services.replay import replay

from .conftest import make_records
from .decision_support import TYPICAL_ITEM
from .evidence_support import both, issue
from .permit_support import SERVICE_ITEM as PERMIT_ITEM
from .permit_support import application as permit_application
from .permit_support import permit_rules
from .supervision_support import ITEM, respelt_listing_refused, rule_set

# -- 1. a look-alike letter of another script in the identity escaped the credit list ------------------------------

_LISTED_BY: dict[str, Any] = {"officer": "o-39", "basis": {"legal_basis": "SOCIAL-CREDIT-REG-ART-12"}}
_CYRILLIC = str.maketrans("ABEKMHOPCTX", "\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0425")
_GREEK = str.maketrans(
    "ABEZHIKMNOPTX", "\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a7"
)


def _identifier(department: str, shape: str) -> str:
    """An identifier of this test's own: a passport-style number, or an ID number ending in the check letter X."""
    digits = "".join(c for c in department if c.isdigit())[-7:]
    return f"AB{digits:0>7}" if shape == "passport" else f"1101051949{digits:0>7}X"


@pytest.mark.parametrize(
    ("shape", "spelling"),
    [
        pytest.param("passport", lambda s: s.translate(_CYRILLIC), id="cyrillic-letters"),
        pytest.param("passport", lambda s: s[0] + s[1:].translate(_GREEK), id="one-greek-letter"),
        pytest.param("id-number", lambda s: s[:-1] + "\u0425", id="cyrillic-check-letter"),
        pytest.param("id-number", lambda s: s[:3] + "\u0966" + s[4:], id="devanagari-zero"),
        pytest.param(
            "passport",
            lambda s: s.translate(_CYRILLIC).translate({c: c + 0x0936 for c in range(0x30, 0x3A)}),
            id="no-ascii-at-all",
        ),
    ],
)
def test_a_credit_listed_applicant_cannot_escape_the_list_with_a_look_alike_letter(
    ledger: Ledger, fresh_department: str, shape: str, spelling: Any
) -> None:
    """Adversary: an applicant on the department's credit list (``AB1234567``, an ID number ending in ``X``) who
    applies with a letter of another script that prints like the Latin one (Cyrillic A, B and X, U+0410, U+0412,
    U+0425; Greek B, U+0392; a Devanagari zero among the digits): NFKC keeps each, and round 15b's case rule reads
    only ASCII identifiers, so the identity was taken as sent, salted to another reference, "not listed", and
    approved on the fast track. Refused on every path (a decision, a bulk run, an officer's decision, a credit
    listing), naming the character that is not ASCII; the true spelling is still found listed."""
    dept = fresh_department
    rules = rule_set(f"r39-look-alike-{shape}")
    decisions.publish_rule_set(ledger, rules, dept)
    identity = _identifier(dept, shape)
    respelt_listing_refused(
        ledger,
        dept,
        rules,
        identity,
        spelling(identity),
        listed_by=_LISTED_BY,
        refused="applicant_ref.*not ASCII",
        listing_refused=re.escape("applicant") + ".*not ASCII",
    )


@pytest.mark.parametrize("identity", ["\u5f20\u4f1f", "applicant-17", "A123456(7)", "Zhang Wei"])
def test_identities_of_one_script_are_still_taken(identity: str) -> None:
    """Held: an identity wholly in one script - a name in Chinese characters, an internal reference, a Hong Kong
    identity card number with its check digit in brackets, a name in Latin letters - is taken as sent."""
    assert decisions.applicant_identity(identity) == identity


# -- 2. a blocking rule's field that the approving rule did not state ------------------------------------------------

SHIPPED = sorted((Path(__file__).resolve().parent.parent / "rules").glob("*.yaml"))
_LICENCE = {
    "type": "business-licence",
    "digest": "0x" + "11" * 32,
    "issuer": "MKT",
    "verified": True,
    "status": "valid",
    "expired": False,
    "holder": True,
}
_TAX = {**_LICENCE, "type": "tax-clearance", "digest": "0x" + "22" * 32, "issuer": "TAX"}
_TYPICAL_ITEM = {**TYPICAL_ITEM, "notify_commit": 1}
# what the rules read of an application each shipped rule set approves (the certificates as the ledger's facts)
_APPROVED = {
    "item": _TYPICAL_ITEM,
    "application": {
        "applicant_type": "enterprise",
        "online": True,
        "materials_submitted": 2,
        "commitment_signed": True,
        "business_name": "Nanshan Corner Shop",
        "business_scope": "prepackaged-food-sales",
    },
    "applicant": {"blacklisted": False},
    "certificates": [_LICENCE, _TAX],
}


def _paths(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {v for k, v in node.items() if k in ("field", "ref") and isinstance(v, str)}
        return found.union(*(_paths(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_paths(v) for v in node))
    return set()


def _set(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    root, name = path.split(".")
    if value is _ABSENT:
        del out[root][name]
    else:
        out[root][name] = value
    return out


_ABSENT = object()


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_no_shipped_rule_set_approves_a_field_its_blocking_rules_cannot_read(path: Path) -> None:
    """Adversary: an applicant (or an intake copying what the applicant typed, or an item catalogue missing an
    attribute) giving a field a blocking rule reads in a form no comparison reads: absent, null, a number as text, a
    list or an object holding it. The blocking rule's comparison is false, so it does not fire; unless the approving
    rule states the field itself, the application is approved in seconds with what should have referred it unread:
    ``ss-eligibility`` 1.5.0 approved an item whose ``item_type`` was ``"4"`` (a multi-department package) or whose
    ``joint_bodies`` was missing, ``business-licence-renewal`` 1.2.0 one whose ``onsite_reason`` was ``"5"``."""
    rules = load_rule_set(path)
    # a rule set publishing its item's attributes (round 60) is read with those: the application submits what it asks
    base = _APPROVED
    if rules.item is not None and "materials_required" in rules.item:
        base = _set(_APPROVED, "application.materials_submitted", rules.item["materials_required"])
    assert evaluate(rules, base).outcome == "approve", f"{path.name}: the test's application is not approved"
    blocking = {p for rule in rules.document["rules"] if rule["outcome"] != "approve" for p in _paths(rule["when"])}
    blocking.discard("applicant.blacklisted")  # the ledger's credit list, never the application's word
    if rules.item is not None:  # the item's published attributes, never the application's word (round 60)
        blocking = {f for f in blocking if not f.startswith("item.")}
    approved = []
    for field in sorted(blocking):
        root, name = field.split(".")
        value = base[root][name]
        for lie in (_ABSENT, None, str(value).lower(), [value], {"value": value}):
            if lie == value:
                continue
            if evaluate(rules, _set(base, field, lie)).outcome == "approve":
                approved.append(f"{field} = {'(absent)' if lie is _ABSENT else repr(lie)}")
    assert approved == [], f"{path.name} approves with a blocking rule's field unread: {approved}"


# -- 3. a rule set published on chain under another service item -------------------------------------------------


def test_a_rule_set_published_under_another_service_item_decides_nothing(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: a department calling ``BatchLog.publishRuleSet`` with its own key, naming another service item than
    the rule set's (its food business permit rules, ``440300-SCJG-0107``, published as a rule set for
    ``440300-XXXX-0001``): the chain's public record of which rules serve an item is then wrong, and the library
    decided the permit's item with them, as if published for it. Refused before anything is recorded; a decision
    written past the library is reported by replay (``rule_set_unpublished``) and fails ``rule_set_published`` in both
    evidence verifiers."""
    dept = fresh_department
    rules = permit_rules(f"r39-item-{dept}")
    chain = ledger.chain
    other = decisions.service_item_bytes("440300-XXXX-0001")
    chain.transact(ledger.department_account(dept), chain.log.functions.publishRuleSet(rules.digest, other))
    (licence,) = issue(ledger, tmp_path, "MKT", make_records(1))
    identity = str(licence["fields"]["subject.credit_code"])
    app = permit_application("C-R39-ITEM", licence)
    with pytest.raises(StateError, match=r"440300-XXXX-0001.*440300-SCJG-0107"):
        decisions.decide(ledger, dept, "C-R39-ITEM", PERMIT_ITEM, app, rules, applicant_ref=identity)
    with pytest.raises(StateError, match="440300-XXXX-0001"):
        decisions.publish_rule_set(ledger, rules, dept)  # "already published" it is not: not for its item
    assert decisions.find_decisions(ledger, dept, "C-R39-ITEM") == []

    # written past the library (an older one, or a caller of its internals): the publication taken as it stands
    block = int(chain.call(chain.log.functions.ruleSet(decisions.department_id_bytes(dept), rules.digest))[2])
    decisions._store_rule_set(ledger, rules, dept, None, block)
    memo = ledger.local("decisions.published", decisions._Memo)
    with memo.guard:
        memo.values[(dept, rules.hex_digest)] = block
    try:
        decision = decisions.decide(ledger, dept, "C-R39-ITEM", PERMIT_ITEM, app, rules, applicant_ref=identity)
    finally:
        with memo.guard:
            memo.values.pop((dept, rules.hex_digest), None)
    assert decision.body["outcome"] == "approve", decision.body
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    for workers in (0, 1):  # in the replaying process, and with the publications handed to a worker
        found = [(d.check, d.seq) for d in replay(ledger, department=dept, workers=workers).discrepancies]
        assert ("rule_set_unpublished", decision.seq) in found, (workers, found)
    bundle = evidence.decision_bundle(ledger, dept, "C-R39-ITEM", applicant=identity)
    report, code, result = both(ledger, bundle, tmp_path, "item.json")
    assert code == 1 and "rule_set_published" in {c.name for c in report.failed}, report.to_json()
    detail = next(c for c in result["checks"] if c["name"] == "rule_set_published")["detail"]
    assert "440300-SCJG-0107" in detail, detail


# -- held: one application, one outcome in the three engines --------------------------------------------------------


def test_an_application_spelt_every_way_json_allows_gets_one_outcome_from_the_three_engines(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Held. Adversary: an applicant spelling their values so that the engine deciding, replay re-running the stored
    input and the court re-running the input a bundle opens might read them differently: ``4.0`` for the count 4,
    ``-0.0`` for 0, two objects equal but for the order of their keys, keys with a dot, a tilde, ``~1`` or nothing
    in them, an empty object, an accent decomposed (NFD) where the rule names it composed. What was decided is
    what the input digest commits to, and all three give the outcome and reasons recorded."""
    dept = fresh_department
    tag = f"r39-spelt-{dept}"
    rules = load_rule_set(
        {
            "engine": "pl-rules/1",
            "rule_set_id": "spelt",
            "version": tag,
            "service_item": "*",
            "title": "one application, one outcome",
            "default_outcome": "refer",
            "default_reason": "NOT_MATCHED",
            "rules": [
                {
                    "id": "composed-accent",
                    "outcome": "reject",
                    "reason": "COMPOSED_NAME",
                    "when": {"field": "application.town", "op": "==", "value": "Mont\u00e9limar"},
                },
                {
                    "id": "spelt",
                    "outcome": "approve",
                    "reason": "MATCHED",
                    "when": {
                        "all": [
                            {"field": "application.materials_submitted", "op": ">=", "value": 4},
                            {"field": "application.materials_submitted", "op": "==", "value": 4},
                            {"field": "application.balance", "op": "==", "value": 0},
                            {"field": "application.balance", "op": ">=", "value": 0},
                            {"field": "application.declared", "op": "==", "ref": "application.checked"},
                            {"field": "application.empty", "op": "exists", "value": True},
                            {"field": "application.empty", "op": "!=", "value": None},
                            {"field": "application.flags", "op": "!=", "ref": "application.numbers"},
                        ]
                    },
                },
            ],
        }
    )
    decisions.publish_rule_set(ledger, rules, dept)
    app = {
        "case_id": "C-R39-SPELT",
        "service_item": ITEM,
        "application": {
            "materials_submitted": 4.0,
            "balance": -0.0,
            "declared": {"b": [1, {"y": None, "x": "2"}], "a": True},
            "checked": {"a": True, "b": [1, {"x": "2", "y": None}]},
            "empty": {},
            "flags": [True, False],
            "numbers": [1, 0],
            "town": "Monte\u0301limar",
            "odd keys": {"a.b": 1, "a~1b": 2, "": 3, "~": {"@": 4}},
        },
    }
    decision = decisions.decide(ledger, dept, "C-R39-SPELT", ITEM, app, rules, applicant_ref="AB3900001")
    assert (decision.body["outcome"], decision.body["reasons"]) == ("approve", ["MATCHED"]), decision.body
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    found = [(d.check, d.detail) for d in replay(ledger, department=dept).discrepancies if d.seq == decision.seq]
    assert found == [], found
    bundle = evidence.decision_bundle(ledger, dept, "C-R39-SPELT", applicant="AB3900001")
    report, code, result = both(ledger, bundle, tmp_path, "spelt.json")
    assert code == 0 and report.ok, report.to_json()
    rerun = next(c for c in result["checks"] if c["name"] == "rerun")
    assert rerun["result"] == "PASS" and "approve (MATCHED)" in rerun["detail"], rerun


# -- 4. a department code with a space that does not show ------------------------------------------------------


@pytest.mark.parametrize("code", ["MKT ", " MKT", "MK  T"])
def test_a_proposed_department_code_with_a_space_that_does_not_show_is_shown_quoted(ledger: Ledger, code: str) -> None:
    """Adversary: one council member proposing to register ``"MKT "`` (a trailing space; or a leading one, or two
    together), with the market regulator's name and a key of their own: the registry takes any printable ASCII
    code, and ``council show`` printed "register department MKT  ('Market Regulation Bureau') with key ...", which a
    voter reads as MKT. Once registered, its certificates would say they were issued by "MKT ". The summary now
    quotes such a code and says to compare it character by character; the history's lines quote it too."""
    member = Council(ledger).members[0]
    proposal_id = member.propose(
        Action.REGISTER, code, name="Market Regulation Bureau", signer="0x" + "39" * 20, roles=ROLE_ISSUER
    )
    try:
        summary = get_proposal(ledger.chain, proposal_id).summary
    finally:
        member.cancel(proposal_id)
    assert f"register department {code!r} (" in summary and "character by character" in summary, summary
    line = GovernanceEvent(1, "0x", 0, "ProposalCreated", {"proposalId": proposal_id}, code).line()
    assert f"[{code!r}]" in line, line
