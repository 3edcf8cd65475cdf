"""Red team, round 39: the applicant, the department, the council.

Holes (each test failed before its fix):

1. An applicant escaped the credit list with a look-alike letter in their identity. Round 15b refused an identity
   not in its canonical form (NFKC, an ASCII identifier in capital letters), but a letter of another script that
   prints as a Latin capital - Cyrillic ``А В Е К М Н О Р С Т Х``, Greek ``Α Β Ε Ζ Η Ι Κ Μ Ν Ο Ρ Τ Χ`` - is no
   compatibility form of it (NFKC keeps it) and is not ASCII, so ``АВ1234567`` (Cyrillic) was taken as sent: another
   salted reference, "not listed", approved on the fast track. An identity that holds ASCII letters or digits and
   any other character than ASCII is now refused wherever one enters, saying which character is not ASCII.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.services import decisions, supervision

from .supervision_support import ITEM, decide, rule_set
from .supervision_support import application as application_of

# -- 1. a look-alike letter of another script in the identity escaped the credit list ------------------------------

_LISTED_BY: dict[str, Any] = {"officer": "o-39", "basis": {"legal_basis": "SOCIAL-CREDIT-REG-ART-12"}}
_CYRILLIC = str.maketrans("ABEKMHOPCTX", "АВЕКМНОРСТХ")
_GREEK = str.maketrans("ABEZHIKMNOPTX", "ΑΒΕΖΗΙΚΜΝΟΡΤΧ")


def _identifier(department: str, shape: str) -> str:
    """An identifier of this test's own: a passport-style number, or an ID number ending in the check letter X."""
    digits = "".join(c for c in department if c.isdigit())[-7:]
    return f"AB{digits:0>7}" if shape == "passport" else f"1101051949{digits:0>7}X"


@pytest.mark.parametrize(
    ("shape", "spelling"),
    [
        pytest.param("passport", lambda s: s.translate(_CYRILLIC), id="cyrillic-letters"),
        pytest.param("passport", lambda s: s[0] + s[1:].translate(_GREEK), id="one-greek-letter"),
        pytest.param("id-number", lambda s: s[:-1] + "Х", id="cyrillic-check-letter"),
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
    applies with a letter of another script that prints like the Latin one (Cyrillic ``А``, ``В``, ``Х``; Greek
    ``Β``; a Devanagari zero among the digits): NFKC keeps each, and round 15b's case rule reads only ASCII
    identifiers, so the identity was taken as sent, salted to another reference, "not listed", and approved on the
    fast track. Refused on every path (a decision, a bulk run, an officer's decision, a credit listing), naming
    the character that is not ASCII; the true spelling is still found listed."""
    dept = fresh_department
    rules = rule_set(f"r39-look-alike-{shape}")
    decisions.publish_rule_set(ledger, rules, dept)
    identity = _identifier(dept, shape)
    supervision.credit_list(
        ledger,
        dept,
        applicant=identity,
        reason="FALSE_MATERIALS",
        since=date.today() - timedelta(days=1),
        until=date.today() + timedelta(days=365),
        **_LISTED_BY,
    )
    other = spelling(identity)
    assert other != identity
    refused = "applicant_ref.*not ASCII"
    with pytest.raises(InputError, match=refused):
        decide(ledger, dept, rules, "CASE-1", other)
    with pytest.raises(InputError, match=refused):
        decisions.decide_many(ledger, dept, [{**application_of("CASE-2"), "applicant_ref": other}], {"*": rules})
    with pytest.raises(InputError, match=refused):
        decisions.record_human_decision(
            ledger, dept, "CASE-3", ITEM, officer="officer", outcome="approve", reasons=["OK"], applicant_ref=other
        )
    with pytest.raises(InputError, match=re.escape("applicant") + ".*not ASCII"):
        supervision.credit_list(
            ledger,
            dept,
            applicant=other,
            reason="FALSE_MATERIALS",
            since=date.today(),
            until=date.today() + timedelta(days=1),
            **_LISTED_BY,
        )
    assert all(decisions.find_decisions(ledger, dept, case) == [] for case in ("CASE-1", "CASE-2", "CASE-3"))
    listed = decide(ledger, dept, rules, "CASE-4", identity)
    assert listed.body["reasons"] == ["APPLICANT_ON_CREDIT_BLACKLIST"], listed.body


@pytest.mark.parametrize("identity", ["张伟", "applicant-17", "A123456(7)", "Zhang Wei"])
def test_identities_of_one_script_are_still_taken(identity: str) -> None:
    """Held: an identity wholly in one script - a name in Chinese characters, an internal reference, a Hong Kong
    identity card number with its check digit in brackets, a name in Latin letters - is taken as sent."""
    assert decisions.applicant_identity(identity) == identity
