"""Red team round 85c: premises in Greek or Cyrillic typed in capitals (round 85's open row).

* (An applicant lying in their input) hold a live food business permit for premises written in Greek or Cyrillic in
  sentence case (``Οδός Μεσογείων 5``, ``ул. Бажова, д. 5``) and apply again with them in capitals (with Greek's
  accents, or without them, as Greek capitals are written), with a final sigma written as a medial one, or in
  capitals with a Latin look-alike capital slipped in: premises were compared through round 84p's look-alike table
  read before case-folding, so a small letter it lists (sigma, nu; be) became its ASCII look-alike while its capital
  stayed itself, and a capital it lists (nu: ``N``) looks like another ASCII letter than its small letter (``v``).
  The same premises got another key and a second permit. One key cannot close it without reopening round 84p (a
  table read after case-folding turns a Greek capital nu slipped into ``KEYUAN`` into a ``v``): a permit is now keyed
  by its premises as typed, in capitals and case-folded (``permits.premises_keys``), each in the department's key
  tree, and an application is refused when any of its keys is a live permit's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.services import decisions, permits
from ledger.storage.models import PermitKey

from .permit_support import (
    SERVICE_ITEM,
    decide_premises,
    decisions_count,
    fresh_licence,
    premises_application,
    published_permit_rules,
    replay_checks,
)

_KEYS = PermitKey.__table__  # type: ignore[attr-defined]
SPEC = {"type": "food-business-permit", "holder": "credit_code", "one_per": ["premises"]}

GREEK = "\u039f\u03b4\u03cc\u03c2 \u039c\u03b5\u03c3\u03bf\u03b3\u03b5\u03af\u03c9\u03bd 5"  # Οδός Μεσογείων 5
CYRILLIC = "\u0443\u043b. \u0411\u0430\u0436\u043e\u0432\u0430, \u0434. 5"  # ул. Бажова, д. 5
SOLONOS = "\u039f\u03b4\u03cc\u03c2 \u03a3\u03cc\u03bb\u03c9\u03bd\u03bf\u03c2 5"  # Οδός Σόλωνος 5
# the same premises as a lying applicant types them again
SAME = {
    "greek capitals": (GREEK, GREEK.upper()),
    "greek capitals unaccented": (
        GREEK,
        "\u039f\u0394\u039f\u03a3 \u039c\u0395\u03a3\u039f\u0393\u0395\u0399\u03a9\u039d 5",
    ),
    "greek small unaccented": (
        GREEK,
        "\u03bf\u03b4\u03bf\u03c2 \u03bc\u03b5\u03c3\u03bf\u03b3\u03b5\u03b9\u03c9\u03bd 5",
    ),
    # capitals, and a Latin M for the Greek capital mu
    "greek capitals latin m": (GREEK, "\u039f\u0394\u039f\u03a3 M\u0395\u03a3\u039f\u0393\u0395\u0399\u03a9\u039d 5"),
    "greek medial sigma": (SOLONOS, "\u03bf\u03b4\u03cc\u03c3 \u03c3\u03cc\u03bb\u03c9\u03bd\u03bf\u03c3 5"),
    "greek sigma capitals": (SOLONOS, SOLONOS.upper()),
    "cyrillic capitals": (CYRILLIC, CYRILLIC.upper()),
    # capitals, and a Latin A and a Latin small o for the Cyrillic ones
    "cyrillic capitals latin a": (CYRILLIC, "\u0423\u041b. \u0411A\u0416\u041e\u0412\u0410, \u0414. 5"),
    "cyrillic latin o": (CYRILLIC, "\u0443\u043b. \u0411\u0430\u0436o\u0432\u0430, \u0434. 5"),
    # round 84p's: Latin premises respelt with Greek or Cyrillic look-alikes, capitals and small letters
    "latin in greek capitals": ("Room 101, 1 Keyuan Road", "R\u039f\u039fM 101, 1 \u039a\u0395YU\u0391\u039d ROAD"),
    "latin in cyrillic capitals": ("Room 101, 1 Keyuan Road", "ROOM 101, 1 \u041a\u0415YU\u0410N R\u041eAD"),
    "latin with greek small": ("Room 101, 1 Keyuan Road", "R\u03bf\u03bfm 101, 1 Keyuan R\u03bfad"),
    "latin with cyrillic o": ("Room 101, 1 Keyuan Road", "Room 101, 1 Keyuan R\u043ead"),
    "latin with greek small nu": ("3 Ivy Road", "3 I\u03bdy Road"),
}
# other premises of the same holder: each shares no key with the first (two shops are two permits)
OTHER = {
    "greek other number": (GREEK, GREEK.upper().replace("5", "6")),
    "greek other street": (GREEK, SOLONOS.upper()),
    "cyrillic other number": (CYRILLIC, CYRILLIC.upper().replace("5", "6")),
    "cyrillic other street": (CYRILLIC, "\u0423\u041b. \u041b\u0415\u041d\u0418\u041d\u0410, \u0414. 5"),
    # a capital nu looks like N and its small letter like v: neither is the other Latin letter
    "latin v and n": ("3 Ivy Road", "3 Iny Road"),
    "latin other room": ("Room 101, 1 Keyuan Road", "R\u039f\u039fM 102, 1 \u039a\u0395YU\u0391\u039d ROAD"),
}


def _keys(premises: str) -> set[str]:
    keys = permits.premises_keys(b"k" * 32, SPEC, {"credit_code": "X1", "premises": premises})
    assert keys
    return set(keys)


@pytest.mark.parametrize("case", sorted(SAME))
def test_premises_in_greek_or_cyrillic_capitals_key_as_the_same_premises(case: str) -> None:
    """Premises are compared without case in every script the look-alike table reads, as in ASCII: the same address
    in capitals (or a final sigma written as a sigma) shares a key with it; so does Latin text respelt with Greek or
    Cyrillic look-alikes (round 84p); another number does not."""
    plain, respelt = SAME[case]
    assert respelt != plain
    assert _keys(plain) & _keys(respelt), case
    assert not _keys(plain) & _keys(plain.replace("5", "7").replace("101", "107").replace("3 ", "8 ")), case


@pytest.mark.parametrize("case", sorted(OTHER))
def test_other_premises_share_no_key(case: str) -> None:
    """A false merge is a harm too (two shops of one holder, one refused): premises that differ in a number or a
    street, or a letter whose Greek capital and small letter look like two Latin letters, share no key."""
    first, other = OTHER[case]
    assert not _keys(first) & _keys(other), case


def test_ascii_premises_keep_one_key_as_before() -> None:
    """ASCII premises (and any whose three readings agree) have one key, the one round 84p gave them."""
    keys = permits.premises_keys(b"k" * 32, SPEC, {"credit_code": "X1", "premises": "Room 101, 1 Keyuan Road"})
    assert keys == [permits.premises_key(b"k" * 32, SPEC, {"credit_code": "X1", "premises": "room 101 1 keyuan road"})]


def _refused(ledger: Ledger, dept: str, case: str, premises: str, licence: dict, holder: str, rules: object) -> None:
    before = decisions_count(ledger, dept)
    again = premises_application(premises, case, licence)
    with pytest.raises(StateError, match="live permit for the same premises"):
        decisions.decide(ledger, dept, case, SERVICE_ITEM, again, rules, applicant_ref=holder)  # type: ignore[arg-type]
    assert decisions_count(ledger, dept) == before


@pytest.mark.parametrize("script", ["greek", "cyrillic", "latin"])
def test_a_second_permit_for_the_same_premises_in_capitals_is_refused(
    ledger: Ledger, fresh_department: str, tmp_path: Path, script: str
) -> None:
    """Adversary: an applicant lying in their input. The holder has live permits for premises in ``script``; the same
    premises typed again in capitals, unaccented, with a medial sigma, or with a look-alike of another script slipped
    in, are refused (StateError naming the live permit, nothing recorded); other premises of the holder - another
    number, another street - are still approved."""
    dept = fresh_department
    tag = f"rt85c-{script}"
    rules = published_permit_rules(ledger, dept, tag)
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    same = {c: pair for c, pair in SAME.items() if c.startswith(script)}
    for n, first in enumerate(sorted({plain for plain, _ in same.values()})):
        decide_premises(ledger, dept, f"{tag}-live-{n}", first, licence, holder, rules)
    for n, case in enumerate(sorted(same)):
        _refused(ledger, dept, f"{tag}-again-{n}", same[case][1], licence, holder, rules)
    others = sorted({other for c, (first, other) in OTHER.items() if c.startswith(script)} - {SOLONOS.upper()})
    for n, other in enumerate(others):
        granted = decide_premises(ledger, dept, f"{tag}-other-{n}", other, licence, holder, rules)
        assert "issued" in granted.body, other
    assert not {c for c, _ in replay_checks(ledger, dept)} & {"permit_key_altered"}


def test_each_key_of_a_permit_is_held_to_the_tree_and_rekeyed(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an insider with database access. The holder's live permit for Greek premises has a row per key;
    the insider deletes those its capitals match (all but its first, the key as typed): an application in capitals is
    refused as the rows altered, replay names the permit, and after ``ledger permits rekey`` every key is written
    again from the sealed fields (as a store migrated to 0025 gets them): the capitals are refused as the live
    permit's."""
    dept = fresh_department
    tag = "rt85c-rows"
    rules = published_permit_rules(ledger, dept, tag)
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    first = decide_premises(ledger, dept, f"{tag}-1", GREEK, licence, holder, rules)
    permit = first.body["issued"]["certificate"]
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(_KEYS.c.nth, _KEYS.c.key).where(_KEYS.c.digest == permit)).all()
    assert sorted(n for n, _ in rows) == [0, 1, 2] and len({k for _, k in rows}) == 3
    with ledger.engine.begin() as conn:
        assert conn.execute(_KEYS.delete().where(_KEYS.c.digest == permit, _KEYS.c.nth > 0)).rowcount == 2
    before = decisions_count(ledger, dept)
    again = premises_application(GREEK.upper(), f"{tag}-2", licence)
    with pytest.raises(StateError, match="permit_key rows were altered"):
        decisions.decide(ledger, dept, f"{tag}-2", SERVICE_ITEM, again, rules, applicant_ref=holder)
    assert decisions_count(ledger, dept) == before
    assert ("permit_key_altered", first.seq) in replay_checks(ledger, dept)
    permits.rekey(ledger, dept)
    with ledger.engine.connect() as conn:
        assert conn.execute(select(_KEYS.c.nth, _KEYS.c.key).where(_KEYS.c.digest == permit)).all() == [(0, None)]
    _refused(ledger, dept, f"{tag}-2", GREEK.upper(), licence, holder, rules)
    with ledger.engine.connect() as conn:
        assert sorted(conn.execute(select(_KEYS.c.nth, _KEYS.c.key).where(_KEYS.c.digest == permit)).all()) == sorted(
            rows
        )
    assert replay_checks(ledger, dept) == set()


def test_an_erased_permit_that_ended_keeps_none_of_its_keys(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Round 85b's erasure for a permit of several keys: the holder's permit for Greek premises is revoked, a renewal
    approved, and the first permit erased: none of its keys is kept (its first row blanked, the others gone), the key
    rows still check, and the renewal still stands in the way of the premises in capitals."""
    from ledger.services import erasure, status

    dept = fresh_department
    tag = "rt85c-erased"
    rules = published_permit_rules(ledger, dept, tag)
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    first = decide_premises(ledger, dept, f"{tag}-1", GREEK, licence, holder, rules).body["issued"]["certificate"]
    status.revoke(ledger, first, "fraud", department=dept)
    renewal = decide_premises(ledger, dept, f"{tag}-2", GREEK, licence, holder, rules).body["issued"]["certificate"]

    def rows(permit: str) -> list[tuple[int, str | None]]:
        with ledger.engine.connect() as conn:
            found = conn.execute(select(_KEYS.c.nth, _KEYS.c.key).where(_KEYS.c.digest == permit))
            return sorted((int(n), k) for n, k in found)

    keys = [k for _, k in rows(renewal)]
    assert len(keys) == 3 and [k for _, k in rows(first)] == keys
    assert erasure.erase(ledger, first, dept, basis="retention-expired", by="clerk-1")["permit_key"] == "blanked"
    assert rows(first) == [(0, "")]
    assert [k for _, k in rows(renewal)] == keys
    with ledger.engine.connect() as conn:
        problem, _ = permits.key_rows_problem(
            ledger, dept, decisions._secret(ledger, dept), keys, conn, ["food-business-permit"]
        )
    assert problem is None
    _refused(ledger, dept, f"{tag}-3", GREEK.upper(), licence, holder, rules)
    assert not {c for c, _ in replay_checks(ledger, dept)} & {"permit_key_altered"}
