"""Issue 18: replay's credit book works out a decision's credit status and the credit entries its block passed over
from an index of its applicant's entries, built once per replay, instead of from every credit entry of the
department for every decision. Both must be exactly what the reference gives (``supervision._status_from`` and
``CreditBook.passed_over_reference`` over all entries), on whatever an insider can leave in the log.

Adversary: an insider with database access who writes credit entries past the library: removals naming listings
that do not exist, or naming one listing twice, at blocks before and after the listing's; unanchored entries;
listings whose dates are no dates; decision records that carry a credit entry's ``kind`` or ``listing``; entries
sharing one entry hash."""

from __future__ import annotations

import random
from typing import Any

import pytest

from ledger.services import supervision
from ledger.services.supervision import SUPERVISION_FORMAT, CreditBook, _Entry, _status_from

APPLICANTS = ["0xaa", "0xbb", "0xcc", "0xdd"]
DAYS = ["2026-01-01", "2026-03-01", "2026-06-01", "2026-12-31", "not a date", "", "2027"]


def _body(rng: random.Random, hashes: list[str]) -> dict[str, Any]:
    kind = rng.randrange(9)
    if kind <= 2:
        body: dict[str, Any] = {
            "format": SUPERVISION_FORMAT,
            "kind": "credit_listing",
            "applicant_ref": rng.choice([*APPLICANTS, *APPLICANTS, 7, None]),
            "since": rng.choice([*DAYS, None]),
            "until": rng.choice([*DAYS, 20270101]),
        }
        if rng.random() < 0.2:
            del body[rng.choice(["since", "until", "applicant_ref"])]
        return body
    if kind <= 5:
        target = rng.choice([*hashes, *hashes, "0x" + "ee" * 32, 5, None])
        listing: Any = {"seq": rng.randrange(1, 40), "entry_hash": target}
        if rng.random() < 0.1:
            listing = rng.choice([None, {}, {"seq": 1}])
        return {"format": SUPERVISION_FORMAT, "kind": "credit_removal", "listing": listing}
    if kind == 6:  # a decision record carrying a listing's kind (not a supervision record)
        return {"format": "pl-decision/2", "kind": "credit_listing", "applicant_ref": rng.choice(APPLICANTS)}
    if kind == 7:  # a decision record naming a listing (not a supervision record)
        return {"format": "pl-decision/2", "listing": rng.choice([None, {}, {"entry_hash": rng.choice(hashes)}])}
    return {"format": SUPERVISION_FORMAT, "kind": rng.choice(["credit_other", "inspection_announcement"])}


def _entries(rng: random.Random) -> list[_Entry]:
    count = rng.randrange(0, 30)
    hashes = [f"0x{rng.randrange(16**6):064x}" for _ in range(max(1, count // 2))]  # shared by several entries
    out = []
    seq = 0
    for _ in range(count):
        seq += rng.randrange(1, 3)
        block = None if rng.random() < 0.2 else rng.randrange(0, 25)
        out.append(_Entry(seq, rng.choice(hashes), _body(rng, hashes), block))
    return out


@pytest.mark.parametrize("seed", range(300))
def test_the_indexed_book_gives_the_reference_status_and_passed_over_entries(seed: int) -> None:
    rng = random.Random(seed)
    entries = _entries(rng)
    for slack in (0, 2):
        book = CreditBook.of(entries, slack)
        for applicant in [*APPLICANTS, "0xnobody"]:
            for block in range(-1, 27, 3):
                for at in ("2026-02-01T10:00:00Z", "2026-06-01T00:00:00Z", "2027-01-01T00:00:00Z", "x"):
                    assert book.status(applicant, block, at) == _status_from(entries, [applicant], block, at)[applicant]
                for seq in (1, 10, 25, 70):
                    assert book.passed_over(applicant, block, seq) == book.passed_over_reference(applicant, block, seq)


def test_a_decision_record_naming_a_listing_by_a_string_is_not_held_against_anyone() -> None:
    """The reference raised AttributeError on a record (not a supervision record) whose ``listing`` is a string, so an
    insider's edit stopped the replay instead of being reported (``altered``, by the log check); the indexed book
    skips it, as it skips every entry that names no listing of an applicant."""
    listing = _Entry(
        1,
        "0x" + "01" * 32,
        {
            "format": SUPERVISION_FORMAT,
            "kind": "credit_listing",
            "applicant_ref": "0xaa",
            "since": "2026-01-01",
            "until": "2027-01-01",
        },
        3,
    )
    odd = _Entry(2, "0x" + "02" * 32, {"format": "pl-decision/2", "listing": "0x" + "01" * 32}, 9)
    book = CreditBook.of([listing, odd], 0)
    with pytest.raises(AttributeError):
        book.passed_over_reference("0xaa", 1, 5)
    assert book.passed_over("0xaa", 1, 5) == [1]
    assert supervision.CreditBook.of([listing], 0).passed_over_reference("0xaa", 1, 5) == [1]
