"""Red team round 83: the applicant, the holder and a hostile department against this session's permits.

* (An applicant lying in their input) a holder has one live permit per premises, premises compared NFKC-normalised,
  case-folded, letters and digits only. Respelling ``Room 101`` with another script's digits (Arabic-Indic U+0661
  U+0660 U+0661, or Devanagari: NFKC leaves them, ``str.isalnum`` keeps them) or with an invisible Hangul filler
  letter (U+3164, U+FFA0, U+115F, U+1160: letters to ``isalnum``, blank on every screen) gave the same premises
  another key: with the digits a second live permit was approved for them (the fillers are refused as copied text
  since round 77b, so they only reached the key, not an approval). So did an address in Chinese with its room
  number in Chinese numerals digit by digit (no decimal digits to Unicode). A decimal digit of any script is now
  compared as its value, those numerals as their digits, and the filler letters dropped. Open: a number in Chinese
  words (one hundred and one).
* (Same) a Latin letter respelt with its Cyrillic look-alike (U+043E for the o of ``Road``) is still another key: open
  (closed in round 84p: premises are compared through Unicode's confusables prototypes).
* (An insider with database access) point a permit's ``permit_basis`` row at another holder's licence revoked for
  fraud, or blank it: the sweep acted on the rows as written, so it revoked a permit resting on a valid licence and
  skipped one whose licence was revoked. The sweep now holds each permit's rows to the decision that issued it.
  Writing an officer's suspension's block into the row as the sweep's own had the sweep lift it: the sweep now lifts
  only a suspension for its own reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from ledger.client import Ledger
from ledger.errors import InputError, StateError
from ledger.services import decisions, permits, status
from ledger.services.verify import ChainView, verify_certificate
from ledger.storage.models import Certificate, PermitBasis

from .permit_support import SERVICE_ITEM, application, fresh_licence, published_permit_rules, replay_checks

PREMISES = "Room 101, 1 Keyuan Road"

RESPELT = {
    "arabic-indic digits": "Room \u0661\u0660\u0661, \u0661 Keyuan Road",
    "devanagari digits": "Room \u0967\u0966\u0967, \u0967 Keyuan Road",
    "full-width digits": "Room \uff11\uff10\uff11, \uff11 Keyuan Road",
    "mathematical bold digits": "Room \U0001d7cf\U0001d7ce\U0001d7cf, \U0001d7cf Keyuan Road",
    "zero-width space": "Room 10\u200b1, 1 Keyuan Road",
    "hangul filler": "Room 101\u3164, 1 Keyuan Road",
    "half-width hangul filler": "Room 101\uffa0, 1 Keyuan Road",
    "hangul choseong filler": "Room 1\u115f01, 1 Keyuan Road",
    "hangul jungseong filler": "Room 1\u116001, 1 Keyuan Road",
    "upper case": "ROOM 101, 1 KEYUAN ROAD",
}

# Keyuan Road No. 1, room 101, in Chinese: with Arabic digits, and with the Chinese numerals digit by digit
KEYUAN = "\u79d1\u82d1\u8def1\u53f7101\u5ba4"
KEYUAN_CHINESE = "\u79d1\u82d1\u8def\u4e00\u53f7\u4e00\u3007\u4e00\u5ba4"
# the same room 101 as a number in words (one hundred and one: U+4E00 U+767E U+96F6 U+4E00)
KEYUAN_WORDS = "\u79d1\u82d1\u8def\u4e00\u53f7\u4e00\u767e\u96f6\u4e00\u5ba4"

BASES = PermitBasis.__table__  # type: ignore[attr-defined]

SPEC = {"type": "food-business-permit", "holder": "credit_code", "one_per": ["premises"]}


@pytest.mark.parametrize("respelt", list(RESPELT.values()), ids=list(RESPELT))
def test_premises_respelt_in_unicode_key_as_the_same_premises(respelt: str) -> None:
    """The key compares what a reader sees: every respelling above is the premises ``Room 101, 1 Keyuan Road``."""
    secret = b"k" * 32
    plain = permits.premises_key(secret, SPEC, {"credit_code": "X1", "premises": PREMISES})
    assert permits.premises_key(secret, SPEC, {"credit_code": "X1", "premises": respelt}) == plain
    # and still not another shop's
    other = permits.premises_key(secret, SPEC, {"credit_code": "X1", "premises": "Room 102, 1 Keyuan Road"})
    assert other != plain


def test_premises_in_chinese_numerals_digit_by_digit_key_as_with_arabic_digits() -> None:
    """An address in Chinese gives room 101 as ``101`` or digit by digit in Chinese numerals (U+4E00 U+3007 U+4E00,
    no decimal digits to Unicode): one premises; another room is not."""
    secret = b"k" * 32
    plain = permits.premises_key(secret, SPEC, {"credit_code": "X1", "premises": KEYUAN})
    assert permits.premises_key(secret, SPEC, {"credit_code": "X1", "premises": KEYUAN_CHINESE}) == plain
    assert permits.premises_key(secret, SPEC, {"credit_code": "X1", "premises": KEYUAN.replace("101", "102")}) != plain


@pytest.mark.xfail(
    strict=True,
    reason="open (red team rounds 83, 84p): a number in Chinese words (one hundred and one) is other premises than "
    "101; left so: reading number words in an address needs telling numbers from names (a street named for ten li) "
    "and the colloquial forms apart (one hundred one: 110 or 101), and a wrong guess merges two shops (the intake's "
    "address registry closes it)",
)
def test_premises_with_a_chinese_number_in_words_key_as_with_arabic_digits() -> None:
    secret = b"k" * 32
    plain = permits.premises_key(secret, SPEC, {"credit_code": "X1", "premises": KEYUAN})
    assert permits.premises_key(secret, SPEC, {"credit_code": "X1", "premises": KEYUAN_WORDS}) == plain


def test_a_second_permit_for_premises_respelt_with_other_digits_or_a_filler_is_refused(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an applicant lying in their input. The holder has a live permit for ``Room 101, 1 Keyuan Road``;
    a second application for the same shop, its number typed in Arabic-Indic or Devanagari digits, was approved as
    other premises (two live permits, one surviving the other's withdrawal). Each is refused now (StateError, nothing
    recorded); another shop of the holder is still approved. (An invisible Hangul filler letter was refused already,
    as a copied character not shown as itself: the key drops it as well.)"""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt83-digits")
    licence, holder = fresh_licence(ledger, tmp_path, "rt83-digits")
    first = application("FBP-RT83-DIGITS-0", licence)
    first["application"]["premises"] = PREMISES
    decisions.decide(ledger, dept, first["case_id"], SERVICE_ITEM, first, rules, applicant_ref=holder)
    for n, respelt in enumerate(
        ("Room \u0661\u0660\u0661, \u0661 Keyuan Road", "Room \u0967\u0966\u0967, \u0967 Keyuan Road"), start=1
    ):
        again = application(f"FBP-RT83-DIGITS-{n}", licence)
        again["application"]["premises"] = respelt
        with pytest.raises(StateError, match="same premises"):
            decisions.decide(ledger, dept, again["case_id"], SERVICE_ITEM, again, rules, applicant_ref=holder)
        assert decisions.find_decisions(ledger, dept, again["case_id"]) == []
    chinese = application("FBP-RT83-DIGITS-CN-1", licence)
    chinese["application"]["premises"] = KEYUAN
    decisions.decide(ledger, dept, chinese["case_id"], SERVICE_ITEM, chinese, rules, applicant_ref=holder)
    again = application("FBP-RT83-DIGITS-CN-2", licence)
    again["application"]["premises"] = KEYUAN_CHINESE
    with pytest.raises(StateError, match="same premises"):
        decisions.decide(ledger, dept, again["case_id"], SERVICE_ITEM, again, rules, applicant_ref=holder)
    # a filler letter never reaches the key of a permit issued since round 77b: the copied text is refused first
    filler = application("FBP-RT83-DIGITS-3", licence)
    filler["application"]["premises"] = "Room 101\u3164, 1 Keyuan Road"
    with pytest.raises(InputError, match="HANGUL FILLER"):
        decisions.decide(ledger, dept, filler["case_id"], SERVICE_ITEM, filler, rules, applicant_ref=holder)
    shop = application("FBP-RT83-DIGITS-9", licence)
    shop["application"]["premises"] = "Room \u0661\u0660\u0662, \u0661 Keyuan Road"
    approved = decisions.decide(ledger, dept, shop["case_id"], SERVICE_ITEM, shop, rules, applicant_ref=holder)
    assert approved.body["outcome"] == "approve" and approved.body.get("issued")
    assert replay_checks(ledger, dept) == set()


def test_premises_respelt_with_a_cyrillic_look_alike_key_as_the_same_premises() -> None:
    """Open in round 83, closed in round 84p (a confusables fold, ``ledger.formats.lookalikes``)."""
    secret = b"k" * 32
    plain = permits.premises_key(secret, SPEC, {"credit_code": "X1", "premises": PREMISES})
    assert (
        permits.premises_key(secret, SPEC, {"credit_code": "X1", "premises": "Room 101, 1 Keyuan R\u043ead"}) == plain
    )


def _approved(ledger: Ledger, dept: str, rules: Any, licence: dict[str, Any], holder: str, case: str) -> str:
    decided = decisions.decide(
        ledger, dept, case, SERVICE_ITEM, application(case, licence), rules, applicant_ref=holder
    )
    assert decided.body["outcome"] == "approve", decided.body
    return str(decided.body["issued"]["certificate"])


def _valid(ledger: Ledger, digest: str) -> bool:
    (document,) = permits.documents(ledger, [digest])
    return verify_certificate(document, ChainView(ledger.chain, 0)).ok


def test_an_insiders_permit_basis_row_neither_revokes_a_valid_permit_nor_hides_a_revoked_licence(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an insider with database access. The sweep acted on the ``permit_basis`` rows as written: one
    pointed at another holder's licence revoked for fraud (issuer, digest, root all genuine) made the sweep revoke
    a permit resting on a valid licence; one blanked (``basis_digest`` NULL) made it skip a permit whose licence was
    revoked, which stayed valid. The sweep now holds each permit's rows to the decision that issued it: the rows are
    put back, the valid permit stands, the other falls; a renewal the sweep moved a row to is still taken."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt83-basis")
    mine, holder = fresh_licence(ledger, tmp_path, "rt83-basis-mine")
    hidden, _ = fresh_licence(ledger, tmp_path, "rt83-basis-hidden")
    theirs, _ = fresh_licence(ledger, tmp_path, "rt83-basis-theirs", holder="91440300MA59999983")
    renewed, _ = fresh_licence(ledger, tmp_path, "rt83-basis-renewed")
    renewal, _ = fresh_licence(ledger, tmp_path, "rt83-basis-renewal")
    target = _approved(ledger, dept, rules, mine, holder, "FBP-RT83-BASIS-TARGET")
    escaping = _approved(ledger, dept, rules, hidden, holder, "FBP-RT83-BASIS-ESCAPING")
    kept = _approved(ledger, dept, rules, renewed, holder, "FBP-RT83-BASIS-RENEWED")
    status.supersede(ledger, renewed["digest"], renewal["digest"])
    assert permits.follow_bases(ledger, dept).renewed == [kept]

    status.revoke(ledger, theirs["digest"], "fraud")
    status.revoke(ledger, hidden["digest"], "fraud")
    with ledger.engine.begin() as conn:
        conn.execute(
            update(BASES)
            .where(BASES.c.permit == target)
            .values(basis_digest=theirs["digest"], basis_root=theirs["anchor"]["root"])
        )
        conn.execute(update(BASES).where(BASES.c.permit == escaping).values(basis_digest=None, basis_root=None))
    swept = permits.follow_bases(ledger, dept)
    assert swept.revoked == [escaping] and swept.unread == {}, swept
    assert _valid(ledger, target) and not _valid(ledger, escaping) and _valid(ledger, kept)
    with ledger.engine.connect() as conn:
        rows = {r.permit: r.basis_digest for r in conn.execute(BASES.select().where(BASES.c.department_id == dept))}
    assert rows[target] == mine["digest"] and rows[escaping] == hidden["digest"] and rows[kept] == renewal["digest"]


def test_an_insiders_permit_basis_row_does_not_make_the_sweep_lift_an_officers_suspension(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an insider with database access. An officer suspended a permit for non-compliance; writing
    ``followed = suspended`` and the block of that suspension into its ``permit_basis`` row made the next sweep (its
    licence valid) take the suspension for its own and reinstate the permit. The sweep now lifts only a suspension
    for its own reason (``under-investigation``): the officer's stands."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt83-lift")
    licence, holder = fresh_licence(ledger, tmp_path, "rt83-lift")
    permit = _approved(ledger, dept, rules, licence, holder, "FBP-RT83-LIFT")
    status.suspend(ledger, permit, "non-compliance", dept)
    with ledger.engine.connect() as conn:
        root = conn.execute(select(Certificate.batch_root).where(Certificate.digest == permit)).scalar_one()
    block = permits._suspended_block(ChainView(ledger.chain, 0), dept, str(root), permit)
    with ledger.engine.begin() as conn:
        conn.execute(update(BASES).where(BASES.c.permit == permit).values(followed="suspended", followed_block=block))
    swept = permits.follow_bases(ledger, dept)
    assert swept.reinstated == [] and swept.unread == {}, swept
    assert not _valid(ledger, permit)
