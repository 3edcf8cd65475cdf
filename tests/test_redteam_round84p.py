"""Red team round 84p: the permits' open rows.

* (An insider with database access) delete a food business permit's ``permit_key`` row, give it another key, blank
  it or put back an older copy of the table: the approval found the holder's live permit for the same premises by
  that row alone, so a second case for the same holder and premises was approved and its permit issued (replay
  reported it afterwards: ``permit_key_altered``). Each row is now bound to the department (a MAC under its decision
  secret over its permit, key and the decision-log head it was written after; since round 84q the keyed rows are the
  leaves of a hash tree whose root is MACed, tests/test_redteam_round84q.py), and the approval's guard refuses while
  the bucket asked does not hash to the root, or a decision recorded after the root issued a keyed permit whose row
  is missing, does not check or is newer than the root.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.formats.lookalikes import LOOKALIKES
from ledger.services import decisions, permits, status
from ledger.storage.models import PermitBasis, PermitKey

from .cli_support import cli_in_process
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
_BASES = PermitBasis.__table__  # type: ignore[attr-defined]


@pytest.mark.parametrize("edit", ["latest deleted", "earlier deleted", "rekeyed", "blanked", "older table"])
def test_an_approval_does_not_trust_a_permit_key_row_an_insider_edited(
    ledger: Ledger, fresh_department: str, tmp_path: Path, edit: str
) -> None:
    """Adversary: an insider with database access (round 77's open clause, mend1's replay only reporting it). The
    holder has a live permit for Shop 1; the insider edits its ``permit_key`` row; a second case for Shop 1 must
    still be refused (nothing recorded), whatever the edit."""
    dept = fresh_department
    tag = "rt84p-" + edit.replace(" ", "-")
    rules = published_permit_rules(ledger, dept, tag)
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    if edit == "older table":  # a permit for Shop 0 first, and a copy of the table as it was then
        zero = premises_application("Shop 0", f"{tag}-0", licence)
        decisions.decide(ledger, dept, f"{tag}-0", SERVICE_ITEM, zero, rules, applicant_ref=holder)
        with ledger.engine.connect() as conn:
            saved = [dict(r._mapping) for r in conn.execute(_KEYS.select().where(_KEYS.c.department_id == dept))]
    first = decide_premises(ledger, dept, f"{tag}-1", "Shop 1", licence, holder, rules)
    permit = first.body["issued"]["certificate"]
    if edit != "latest deleted":  # a later permit of the holder for other premises: the edited row is not the newest
        later = premises_application("Shop 2", f"{tag}-2", licence)
        decisions.decide(ledger, dept, f"{tag}-2", SERVICE_ITEM, later, rules, applicant_ref=holder)
    with ledger.engine.begin() as conn:
        row = _KEYS.c.digest == permit
        if edit in ("latest deleted", "earlier deleted"):
            assert conn.execute(_KEYS.delete().where(row)).rowcount == 1
        elif edit == "rekeyed":
            assert conn.execute(_KEYS.update().where(row).values(key="0x" + "ab" * 32)).rowcount == 1
        elif edit == "blanked":
            assert conn.execute(_KEYS.update().where(row).values(key="")).rowcount == 1
        else:  # the table as it was before the Shop 1 permit: every row genuine, the later two gone
            conn.execute(_KEYS.delete().where(_KEYS.c.department_id == dept))
            conn.execute(_KEYS.insert(), saved)
    before = decisions_count(ledger, dept)
    again = premises_application("Shop 1", f"{tag}-3", licence)
    with pytest.raises(StateError, match="permit_key"):
        decisions.decide(ledger, dept, f"{tag}-3", SERVICE_ITEM, again, rules, applicant_ref=holder)
    assert decisions_count(ledger, dept) == before  # nothing recorded
    assert ("permit_key_altered", first.seq) in replay_checks(ledger, dept)


def test_rekeying_puts_the_rows_right_and_approvals_go_on(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """After the guard refused an insider's edit (an earlier row deleted), ``ledger permits rekey`` blanks the rows
    and puts the deleted one back from the decisions log; the next approval keys every permit again from its sealed
    fields: a second permit for Shop 1 is refused as the holder's live permit, a new shop is approved."""
    dept = fresh_department
    tag = "rt84p-rekey"
    rules = published_permit_rules(ledger, dept, tag)
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    first = decide_premises(ledger, dept, f"{tag}-1", "Shop 1", licence, holder, rules)
    decide_premises(ledger, dept, f"{tag}-2", "Shop 2", licence, holder, rules)
    with ledger.engine.begin() as conn:
        conn.execute(_KEYS.delete().where(_KEYS.c.digest == first.body["issued"]["certificate"]))
    again = premises_application("Shop 1", f"{tag}-3", licence)
    with pytest.raises(StateError, match="permit_key rows were altered"):
        decisions.decide(ledger, dept, f"{tag}-3", SERVICE_ITEM, again, rules, applicant_ref=holder)
    code, out, _err = cli_in_process(ledger, monkeypatch, capsys, "permits", "rekey", "--department", dept)
    assert code == 0, out
    with pytest.raises(StateError, match="live permit for the same premises"):
        decisions.decide(ledger, dept, f"{tag}-3", SERVICE_ITEM, again, rules, applicant_ref=holder)
    other = premises_application("Shop 3", f"{tag}-4", licence)
    assert "issued" in decisions.decide(ledger, dept, f"{tag}-4", SERVICE_ITEM, other, rules, applicant_ref=holder).body
    assert replay_checks(ledger, dept) == set()


@pytest.mark.parametrize("edit", ["pointed elsewhere", "blanked", "another type", "suspension block"])
def test_replay_reports_a_permit_basis_row_an_insider_altered(
    ledger: Ledger, fresh_department: str, tmp_path: Path, edit: str
) -> None:
    """Adversary: an insider with database access. Whatever the edit to a permit's ``permit_basis`` row, replay
    reports ``permit_basis_altered`` at the approval that issued the permit."""
    dept = fresh_department
    tag = "rt84p-basis-" + edit.replace(" ", "-")
    rules = published_permit_rules(ledger, dept, tag)
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    other, _ = fresh_licence(ledger, tmp_path, tag + "-other", holder="91440300MA59999983")
    decided = decide_premises(ledger, dept, f"{tag}-1", "Shop 1", licence, holder, rules)
    permit = decided.body["issued"]["certificate"]
    assert replay_checks(ledger, dept) == set()
    row = _BASES.c.permit == permit
    with ledger.engine.begin() as conn:
        if edit == "pointed elsewhere":
            changed = (
                _BASES.update().where(row).values(basis_digest=other["digest"], basis_root=other["anchor"]["root"])
            )
        elif edit == "blanked":
            changed = _BASES.update().where(row).values(basis_digest=None, basis_root=None)
        elif edit == "another type":
            changed = _BASES.update().where(row).values(cert_type="tax-clearance")
        else:
            changed = _BASES.update().where(row).values(followed="suspended", followed_block=1)
        assert conn.execute(changed).rowcount == 1
    assert ("permit_basis_altered", decided.seq) in replay_checks(ledger, dept)


def test_replay_takes_the_sweeps_own_rows_as_they_are(ledger: Ledger, fresh_department: str, tmp_path: Path) -> None:
    """What the sweep writes is no alteration: a row moved to a renewal of the same holder, a row marking the sweep's
    own suspension (then lifted)."""
    dept = fresh_department
    tag = "rt84p-swept"
    rules = published_permit_rules(ledger, dept, tag)
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    renewal, _ = fresh_licence(ledger, tmp_path, tag + "-renewal", holder=holder)
    held, _ = fresh_licence(ledger, tmp_path, tag + "-held", holder=holder)
    renewed = decide_premises(ledger, dept, f"{tag}-1", "Shop 1", licence, holder, rules)
    suspended = decisions.decide(
        ledger,
        dept,
        f"{tag}-2",
        SERVICE_ITEM,
        premises_application("Shop 2", f"{tag}-2", held),
        rules,
        applicant_ref=holder,
    )
    status.supersede(ledger, licence["digest"], renewal["digest"])
    status.suspend(ledger, held["digest"], "under-investigation")
    swept = permits.follow_bases(ledger, dept)
    assert swept.renewed == [renewed.body["issued"]["certificate"]], swept
    assert swept.suspended == [suspended.body["issued"]["certificate"]], swept
    assert {c for c, _ in replay_checks(ledger, dept)} == set()
    status.reinstate(ledger, held["digest"], "grounds-resolved")
    assert permits.follow_bases(ledger, dept).reinstated == [suspended.body["issued"]["certificate"]]
    assert {c for c, _ in replay_checks(ledger, dept)} == set()


SPEC = {"type": "food-business-permit", "holder": "credit_code", "one_per": ["premises"]}
LOOKALIKE_PREMISES = {
    "cyrillic o": "Room 101, 1 Keyuan R\u043ead",
    "cyrillic capitals": "ROOM 101, 1 \u041a\u0415YU\u0410N R\u041eAD",
    "greek capitals": "R\u039f\u039fM 101, 1 \u039a\u0395YU\u0391\u039d ROAD",
    "greek small": "R\u03bf\u03bfm 101, 1 Keyuan R\u03bfad",
    "cyrillic and latin i": "Room 101, 1 Keyu\u0430n Road \u0456",
}


@pytest.mark.parametrize("respelt", sorted(LOOKALIKE_PREMISES))
def test_premises_respelt_with_look_alikes_key_as_the_same_premises(respelt: str) -> None:
    secret = b"k" * 32
    plain = "Room 101, 1 Keyuan Road" + (" i" if respelt == "cyrillic and latin i" else "")
    key = permits.premises_key(secret, SPEC, {"credit_code": "X1", "premises": plain})
    assert permits.premises_key(secret, SPEC, {"credit_code": "X1", "premises": LOOKALIKE_PREMISES[respelt]}) == key
    # other premises stay other premises: another room, and Cyrillic text that looks like no Latin text
    assert permits.premises_key(secret, SPEC, {"credit_code": "X1", "premises": plain.replace("101", "102")}) != key
    assert permits._compared("\u0443\u043b. \u041b\u0435\u043d\u0438\u043d\u0430 5") != permits._compared(
        "\u0443\u043b. \u041b\u0435\u043d\u0438\u043d\u0430 6"
    )


def test_ascii_premises_compare_as_before() -> None:
    """The fold touches no ASCII text: every permit keyed from ASCII premises keeps its key."""
    assert permits._compared("Room 101, 1 Keyuan Road (II) l0") == "room1011keyuanroadiil0"


def test_the_look_alike_table_is_of_the_scripts_and_prototypes_it_says() -> None:
    """Each entry is a letter of the Cyrillic, Greek or Latin script, not ASCII, left as it is by NFKC, mapped to
    ASCII letters and digits; a capital never to a small ``l``; the round's letters are there."""
    assert len(LOOKALIKES) > 100
    for char, target in LOOKALIKES.items():
        name = unicodedata.name(char)
        assert name.startswith(("CYRILLIC ", "GREEK ", "LATIN ")), name
        assert unicodedata.category(char).startswith("L") and not char.isascii(), name
        assert unicodedata.normalize("NFKC", char) == char, name
        assert target.isascii() and target.isalnum(), (name, target)
        assert not (unicodedata.category(char) == "Lu" and "l" in target), (name, target)
    wanted = {"\u043e": "o", "\u0430": "a", "\u0435": "e", "\u0440": "p", "\u0441": "c", "\u03bf": "o"}
    assert {c: LOOKALIKES[c] for c in wanted} == wanted
    assert LOOKALIKES["\u041a"] == "K" and LOOKALIKES["\u0406"] == "I" and LOOKALIKES["\u039f"] == "O"


def test_a_second_permit_for_premises_respelt_with_look_alikes_is_refused(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an applicant lying in their input. The holder has a live permit for Room 101; the same shop typed
    with a Cyrillic o, or in Greek capitals, is refused as the same premises, nothing recorded."""
    dept = fresh_department
    tag = "rt84p-lookalike"
    rules = published_permit_rules(ledger, dept, tag)
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    plain = "Room 101, 1 Keyuan Road"
    decide_premises(ledger, dept, f"{tag}-1", plain, licence, holder, rules)
    for n, respelt in enumerate(("cyrillic o", "greek capitals"), start=2):
        again = premises_application(LOOKALIKE_PREMISES[respelt], f"{tag}-{n}", licence)
        before = decisions_count(ledger, dept)
        with pytest.raises(StateError, match="live permit for the same premises"):
            decisions.decide(ledger, dept, f"{tag}-{n}", SERVICE_ITEM, again, rules, applicant_ref=holder)
        assert decisions_count(ledger, dept) == before


def test_a_row_number_written_as_text_is_refused_not_a_traceback(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """An insider writing text into a row's bucket (its number in 84p; SQLite keeps it, PostgreSQL's column refuses
    it) and blanking another to be keyed again: the approval is refused naming a row, and keying earlier permits stops
    short of putting the blanked one in the tree, no traceback."""
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps the column's type")
    dept = fresh_department
    tag = "rt84p-text"
    rules = published_permit_rules(ledger, dept, tag)
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    first = decide_premises(ledger, dept, f"{tag}-1", "Shop 1", licence, holder, rules)
    second = decide_premises(ledger, dept, f"{tag}-2", "Shop 2", licence, holder, rules)
    with ledger.engine.begin() as conn:
        conn.execute(_KEYS.update().where(_KEYS.c.digest == first.body["issued"]["certificate"]).values(bucket="one"))
        blank = _KEYS.update().where(_KEYS.c.digest == second.body["issued"]["certificate"])
        conn.execute(blank.values(key=None, bucket=None, after_seq=None, mac=None))  # to be keyed again
    again = premises_application("Shop 3", f"{tag}-3", licence)
    with pytest.raises(StateError, match="permit_key rows were altered"):
        decisions.decide(ledger, dept, f"{tag}-3", SERVICE_ITEM, again, rules, applicant_ref=holder)
