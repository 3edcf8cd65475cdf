"""Red team round 70: against this session's merges (rounds 67 to 69 and the lead's).

Found and fixed here:

* (An applicant lying in their input) type the premises a food business permit copies with a character that
  displays as nothing but is no control or format character: a combining grapheme joiner (U+034F), a variation
  selector over an ASCII letter (U+FE0F, U+E0100), a Hangul filler (U+3164, U+115F, U+FFA0), a Khmer inherent vowel
  (U+17B4), a Mongolian free variation selector (U+180B), or a zero-width joiner between two ASCII characters: round
  69's check read only the control, format and separator categories (and skipped every string ``isprintable``
  passes), so the signed permit held an address that displays as another permit's address but is not equal to it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.services import decisions, logchain

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
