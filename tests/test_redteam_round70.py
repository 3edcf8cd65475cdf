"""Red team round 70: against this session's merges (rounds 67 to 69 and the lead's).

Found and fixed here:

* (An applicant lying in their input) type the premises a food business permit copies with a character that
  displays as nothing but is no control or format character: a combining grapheme joiner (U+034F), a variation
  selector over an ASCII letter (U+FE0F, U+E0100), a Hangul filler (U+3164, U+115F, U+FFA0), a Khmer inherent vowel
  (U+17B4), a Mongolian free variation selector (U+180B), or a zero-width joiner between two ASCII characters: round
  69's check read only the control, format and separator categories (and skipped every string ``isprintable``
  passes), so the signed permit held an address that displays as another permit's address but is not equal to it.
* (A department acting outside its authority, through the library) refer a new case as an officer for one item and
  applicant, then decide it by the rules for another item and applicant: round 69 bound an override to the item it
  replaces, not the rules' decision to the officer's, so a permit was issued that replay called ``item_changed``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.services import decisions, logchain
from ledger.services.replay import replay

from .permit_support import SERVICE_ITEM, application, fresh_licence, published_permit_rules


def test_a_permit_copies_no_character_that_displays_as_nothing(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an applicant lying in their input, typing the premises the permit copies with an invisible
    character that round 69's check let through (a default-ignorable code point of another category than control or
    format: a combining grapheme joiner, variation selectors, Hangul fillers, a Khmer inherent vowel, a Mongolian
    variation selector; or a zero-width joiner between ASCII characters, which no script spells a word with). The
    permit was issued, signed and anchored, displaying as ``Shop 3, 1 Keyuan Road`` while stating other text. Now
    the decision is refused naming the field and nothing is recorded; an honest address that needs a joiner (a
    Devanagari or Persian word), a decomposed accent and an emoji sequence are still approved."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt70-blank")
    licence, holder = fresh_licence(ledger, tmp_path, "rt70-blank")
    app = application("FBP-RT70-BLANK", licence)
    tricks = (
        "Shop 3, 1 Keyuan\u034f Road",
        "Shop 3, 1 Keyuan Road\ufe0f",
        "Shop 3, 1 Keyuan Road\U000e0100",
        "Shop 3, 1 Keyuan Road\u3164",
        "Shop 3, 1 Keyuan\u115f Road",
        "Shop 3, 1 Keyuan Road\uffa0",
        "Shop 3, 1 Keyuan\u17b4 Road",
        "Shop 3, 1 Keyuan\u180b Road",
        "Shop 3, 1 Keyu\u200dan Road",
        "Shop 3, 1 Keyuan Road\u200c",
    )
    for trick in tricks:
        lying = {**app, "application": {**app["application"], "premises": trick}}
        with pytest.raises(InputError, match="premises"):
            decisions.decide(ledger, dept, app["case_id"], SERVICE_ITEM, lying, rules, applicant_ref=holder)
    assert list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)) == []
    honest = "\u0915\u094d\u200d\u0937 Market, Cafe\u0301 \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \U0001f468\u200d\U0001f373"
    ok = {**app, "application": {**app["application"], "premises": honest}}
    approved = decisions.decide(ledger, dept, app["case_id"], SERVICE_ITEM, ok, rules, applicant_ref=holder)
    assert approved.body["outcome"] == "approve" and approved.body.get("issued"), approved.body


def test_the_rules_do_not_decide_a_case_an_officer_opened_for_another_item_or_applicant(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: a department acting outside its authority, through the library with its own key. An officer
    refers a new case for one service item and applicant (or refuses it); the rules may then decide the case once
    (round 69 bound an officer's override to the item it replaces, not the rules' decision to the officer's), so
    ``decide`` of the same case under the permit rules for another item and another applicant approved and issued
    a permit, and the library's own replay then called it ``item_changed`` and ``applicant_changed``. The rules'
    decision of a case an officer decided first names that case's item and applicant: refused, nothing recorded or
    issued; the same case decided for its own item and applicant is approved with replay silent."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt70-opened")
    licence, holder = fresh_licence(ledger, tmp_path, "rt70-opened")
    app = application("FBP-RT70-OPENED", licence)
    decisions.record_human_decision(
        ledger, dept, app["case_id"], "OTHER-ITEM-70", officer="officer-70", outcome="refer",
        reasons=["OFFICER_NEEDS_DOCUMENTS"], applicant_ref=holder,
    )  # fmt: skip
    head = len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)))
    with pytest.raises(InputError, match="service item") as moved:
        decisions.decide(ledger, dept, app["case_id"], SERVICE_ITEM, app, rules, applicant_ref=holder)
    assert "OTHER-ITEM-70" in str(moved.value)
    with pytest.raises(InputError, match="service item"):
        decisions.decide_many(ledger, dept, [{**app, "applicant_ref": holder}], {"*": rules})
    assert len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept))) == head
    # another applicant: a case an officer opened for one applicant is not decided by the rules for another
    case2 = application("FBP-RT70-OPENED2", licence)
    decisions.record_human_decision(
        ledger, dept, case2["case_id"], SERVICE_ITEM, officer="officer-70", outcome="refer",
        reasons=["OFFICER_NEEDS_DOCUMENTS"], applicant_ref="applicant-rt70-someone-else",
    )  # fmt: skip
    with pytest.raises(InputError, match="applicant"):
        decisions.decide(ledger, dept, case2["case_id"], SERVICE_ITEM, case2, rules, applicant_ref=holder)
    with pytest.raises(InputError, match="applicant"):
        decisions.decide_many(ledger, dept, [{**case2, "applicant_ref": holder}], {"*": rules})
    # the honest case: an officer's referral, then the rules for the same item and applicant
    case3 = application("FBP-RT70-OPENED3", licence)
    decisions.record_human_decision(
        ledger, dept, case3["case_id"], SERVICE_ITEM, officer="officer-70", outcome="refer",
        reasons=["OFFICER_NEEDS_DOCUMENTS"], applicant_ref=holder,
    )  # fmt: skip
    approved = decisions.decide(ledger, dept, case3["case_id"], SERVICE_ITEM, case3, rules, applicant_ref=holder)
    assert approved.body["outcome"] == "approve" and approved.body.get("issued"), approved.body
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).to_json()["discrepancies"] == []
