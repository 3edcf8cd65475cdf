"""Red team: who lifted a credit listing, and whose name a listing's entry carries.

1. Removing a credit listing recorded nobody. ``supervision.credit_remove`` (``ledger supervision credit remove``)
   took a reason code and nothing else, so a department insider could lift the bar on an applicant - who then got the
   fast track on their next application - and the audit trail could not say who did it or on what. A removal now
   names its officer (a staff id, recorded salted as a listing's officer is) and a typed basis (``ListingBasis``: a
   legal-basis code, optionally the decision document's code), refused naming the field otherwise; the credit list,
   the summary and replay show them. Removals written before are read as before, their officer "not recorded".
2. Replay did not look at a credit entry's ``officer_ref``. An insider writing a listing or a removal into the log
   past the library (with the department's key, so it is hash-chained and anchored) could leave the officer out, or
   write a staff id in clear or any other text where the salted reference goes, and replay was silent. Replay now
   reports such an entry (``credit_officer_invalid``): an officer reference that is not a salted reference, always; a
   missing one once the department's log holds an entry of that kind naming its officer (the library has written
   every one with an officer since), so entries written before the officer was required replay as before. An
   officer reference edited in the store after anchoring is ``altered`` (the log checks), and a withdrawal's listing
   naming another officer than the withdrawal's is ``credit_officer_invalid``.

Each hole was written first as a failing test, then closed.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.services import decisions, logchain, supervision
from ledger.services.logchain import LOG_DECISIONS
from ledger.services.replay import replay

from .cli_support import cli_in_process
from .supervision_support import (
    announced,
    mine,
    published_fixture,  # noqa: F401 - fixture
)

_BASIS = {"legal_basis": "SOCIAL-CREDIT-REG-ART-20", "document": "MKT-CREDIT-2026-0077"}


def _listed(ledger: Ledger, dept: str, applicant: str, officer: str = "o-list") -> supervision.CreditEntry:
    return supervision.credit_list(
        ledger,
        dept,
        applicant=applicant,
        reason="FALSE_MATERIALS",
        since=date.today() - timedelta(days=1),
        until=date.today() + timedelta(days=365),
        officer=officer,
        basis={"legal_basis": "SOCIAL-CREDIT-REG-ART-12"},
    )


def _body(ledger: Ledger, dept: str, seq: int) -> dict[str, Any]:
    (body,) = [e.body for e in logchain.entries(ledger, LOG_DECISIONS, dept) if e.seq == seq]
    return dict(logchain.stored_loads(body) if isinstance(body, str) else body)


def _found(ledger: Ledger, dept: str) -> list[tuple[str, int | None]]:
    return [(d.check, d.seq) for d in replay(ledger, department=dept).discrepancies]


def _past_the_library(ledger: Ledger, dept: str, body: dict[str, Any]) -> int:
    """An insider with the department's key writes ``body`` into its decisions log and anchors it."""
    entry = logchain.append(ledger, LOG_DECISIONS, dept, body)
    logchain.anchor_pending(ledger, LOG_DECISIONS, dept)
    return int(entry.seq)


# -- 1. a removal names who removed and on what basis ------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "field"),
    [
        pytest.param({"basis": _BASIS}, "officer", id="no-officer"),
        pytest.param({"officer": "o-remove"}, "basis", id="no-basis"),
        pytest.param({"officer": "Li Wei (on the phone)", "basis": _BASIS}, "officer", id="officer-in-words"),
        pytest.param({"officer": "", "basis": _BASIS}, "officer", id="officer-empty"),
        pytest.param({"officer": "o-remove", "basis": "SOCIAL-CREDIT-REG-ART-20"}, "basis", id="basis-not-a-mapping"),
        pytest.param({"officer": "o-remove", "basis": {}}, "basis.legal_basis", id="basis-empty"),
        pytest.param(
            {"officer": "o-remove", "basis": {**_BASIS, "note": "his cousin asked"}}, "basis.note", id="free-text"
        ),
        pytest.param(
            {"officer": "o-remove", "basis": {"legal_basis": "appeal upheld"}}, "basis.legal_basis", id="basis-in-words"
        ),
    ],
)
def test_removing_a_credit_listing_is_refused_without_an_officer_and_a_typed_basis(
    ledger: Ledger, published: Any, given: dict[str, Any], field: str
) -> None:
    """Adversary: a department insider lifting an applicant's credit listing - the applicant gets the fast track at
    the next application - with nobody on record as having done it, or on no stated basis. A removal without its
    officer (a staff id) and a typed basis is refused naming the field, and the listing stays in force."""
    dept, _rules = published
    listing = _listed(ledger, dept, "applicant-kept")
    with pytest.raises(InputError) as refused:
        supervision.credit_remove(ledger, dept, listing.seq, reason="APPEAL_UPHELD", **given)
    assert refused.value.field == field, refused.value
    assert [(e.seq, e.removed_by) for e in supervision.credit_entries(ledger, dept)] == [(listing.seq, None)]


def test_a_removal_records_who_removed_and_on_what_basis(ledger: Ledger, published: Any) -> None:
    """The removal's anchored entry names its officer by salted reference (never the staff id) and its basis; the
    credit list, the summary and replay show them. A removal written before the officer was required (no officer,
    no basis) is read, shown as "officer not recorded", and replays clean."""
    dept, _rules = published
    old_listing = _listed(ledger, dept, "applicant-old")
    # a removal as the ledger wrote it before: a reason and nothing else
    old = _past_the_library(
        ledger,
        dept,
        {
            "format": supervision.SUPERVISION_FORMAT,
            "kind": "credit_removal",
            "listing": {"seq": old_listing.seq, "entry_hash": _hash(ledger, dept, old_listing.seq)},
            "reason": "APPEAL_UPHELD",
            "removed_at": "2026-06-01T00:00:00.000Z",
        },
    )
    listing = _listed(ledger, dept, "applicant-lifted")
    typed = supervision.ListingBasis(legal_basis=_BASIS["legal_basis"], document=_BASIS["document"])
    seq = supervision.credit_remove(ledger, dept, listing.seq, reason="APPEAL_UPHELD", officer="o-remove", basis=typed)
    body = _body(ledger, dept, seq)
    who = decisions.officer_ref(ledger, dept, "o-remove")
    assert body["officer_ref"] == who and body["basis"] == _BASIS, body
    assert "o-remove" not in json.dumps(body)
    shown = {e.seq: e for e in supervision.credit_entries(ledger, dept)}
    assert shown[listing.seq].removed_by == seq
    assert shown[listing.seq].removal == {
        "seq": seq,
        "reason": "APPEAL_UPHELD",
        "basis": _BASIS,
        "officer_ref": who,
        "officer_recorded": True,
        "removed_at": body["removed_at"],
    }
    assert shown[old_listing.seq].removed_by == old
    assert shown[old_listing.seq].removal == {
        "seq": old,
        "reason": "APPEAL_UPHELD",
        "basis": None,
        "officer_ref": None,
        "officer_recorded": False,
        "removed_at": "2026-06-01T00:00:00.000Z",
    }
    (summarised,) = [c for c in supervision.summary(ledger, dept)["credit_list"] if c["seq"] == listing.seq]
    assert summarised["removal"]["officer_ref"] == who
    report = replay(ledger, department=dept)
    assert report.ok, report.summary()
    assert "officer not recorded" in report.summary()


def test_the_cli_removes_a_listing_only_with_an_officer_and_a_legal_basis(
    ledger: Ledger, published: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``ledger supervision credit remove`` asks who removes (``--officer``) and on what (``--legal-basis``,
    optionally ``--document``); a staff id in words is refused naming the field (exit 2), and nothing is removed."""
    dept, _rules = published
    listing = _listed(ledger, dept, "applicant-cli")
    removal = ("supervision", "credit", "remove", str(listing.seq), "-d", dept, "--reason", "APPEAL_UPHELD")
    with pytest.raises(SystemExit):  # argparse: --officer and --legal-basis are required
        cli_in_process(ledger, monkeypatch, capsys, *removal)
    code, _out, err = cli_in_process(
        ledger, monkeypatch, capsys, *removal, "--officer", "Li Wei", "--legal-basis", "REG-20"
    )
    assert code == 2 and "'officer'" in err and "staff id" in err, err
    assert supervision.credit_entries(ledger, dept)[0].removed_by is None
    code, out, err = cli_in_process(
        ledger, monkeypatch, capsys, *removal, "--officer", "o-remove", "--legal-basis", "REG-20"
    )
    assert code == 0, err
    shown = json.loads(out)
    assert shown["officer_ref"] == decisions.officer_ref(ledger, dept, "o-remove")
    assert shown["basis"] == {"legal_basis": "REG-20", "document": None}
    assert supervision.credit_entries(ledger, dept)[0].removed_by == shown["removal"]


# -- 2. replay checks a credit entry's officer -------------------------------------------------------------------


def _hash(ledger: Ledger, dept: str, seq: int) -> str:
    (entry,) = [e for e in logchain.entries(ledger, LOG_DECISIONS, dept) if e.seq == seq]
    return str(entry.entry_hash)


def test_replay_reports_a_credit_entry_written_without_its_officer_or_with_a_malformed_one(
    ledger: Ledger, published: Any
) -> None:
    """Adversary: an insider with database access and the department's key writing a listing, or a removal that lifts
    one, into the log past the library - hash-chained and anchored, so the log checks pass - with no officer on it,
    or the staff id in clear (or any text) where the salted reference goes. Replay reports each entry
    (``credit_officer_invalid``); the honest entries, and those written before the officer was required, replay
    clean."""
    dept, _rules = published
    legacy = _past_the_library(  # a listing as written before round 15b: no officer (honest, replays clean)
        ledger,
        dept,
        {
            "format": supervision.SUPERVISION_FORMAT,
            "kind": "credit_listing",
            "applicant_ref": decisions.applicant_reference(ledger, dept, "applicant-legacy"),
            "reason": "FALSE_MATERIALS",
            "since": "2026-01-01",
            "until": "2027-01-01",
            "basis": None,
            "listed_at": "2026-01-01T00:00:00.000Z",
        },
    )
    honest = _listed(ledger, dept, "applicant-honest")
    lifted = _listed(ledger, dept, "applicant-lifted")
    removed = supervision.credit_remove(
        ledger, dept, honest.seq, reason="APPEAL_UPHELD", officer="o-remove", basis=_BASIS
    )
    assert replay(ledger, department=dept).ok
    listing = _body(ledger, dept, honest.seq)
    no_officer = _past_the_library(
        ledger, dept, {k: v for k, v in listing.items() if k != "officer_ref"} | {"applicant_ref": "0x" + "32" * 32}
    )
    in_clear = _past_the_library(ledger, dept, {**listing, "applicant_ref": "0x" + "33" * 32, "officer_ref": "o-list"})
    removal = _body(ledger, dept, removed)
    silent = _past_the_library(
        ledger,
        dept,
        {k: v for k, v in removal.items() if k != "officer_ref"}
        | {"listing": {"seq": lifted.seq, "entry_hash": _hash(ledger, dept, lifted.seq)}},
    )
    found = _found(ledger, dept)
    assert sorted(s for c, s in found if c == "credit_officer_invalid") == [no_officer, in_clear, silent], found
    assert legacy not in [s for _c, s in found], found


def test_replay_reports_an_officer_edited_in_the_store_after_the_fact(ledger: Ledger, published: Any) -> None:
    """Adversary: an insider with database access editing the ``officer_ref`` of an anchored listing or removal (to
    another officer, to nothing) to move the blame. The entry no longer matches its anchor: replay reports it
    (``altered``), and a reference that is not a salted one also as ``credit_officer_invalid``."""
    dept, _rules = published
    listing = _listed(ledger, dept, "applicant-edited")
    kept = _listed(ledger, dept, "applicant-edited-2")
    removed = supervision.credit_remove(
        ledger, dept, kept.seq, reason="APPEAL_UPHELD", officer="o-remove", basis=_BASIS
    )
    assert replay(ledger, department=dept).ok
    other = decisions.officer_ref(ledger, dept, "o-innocent")
    _edit(ledger, dept, listing.seq, {**_body(ledger, dept, listing.seq), "officer_ref": other})
    _edit(ledger, dept, removed, {**_body(ledger, dept, removed), "officer_ref": "somebody"})
    found = _found(ledger, dept)
    assert ("altered", listing.seq) in found and ("altered", removed) in found, found
    assert ("credit_officer_invalid", removed) in found, found


def _edit(ledger: Ledger, dept: str, seq: int, body: dict[str, Any]) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(
            text("UPDATE logentry SET body=:b WHERE log=:l AND department_id=:d AND seq=:s"),
            {"b": json.dumps(body), "l": LOG_DECISIONS, "d": dept, "s": seq},
        )


def _withdrawn(ledger: Ledger, dept: str, rules: Any) -> dict[str, Any]:
    """An approval drawn for inspection, found non-conforming and withdrawn by officer ``o-withdraw`` (which lists
    the applicant): the withdrawal's answer, the department's replay clean."""
    announcement = announced(ledger, dept, rules, n=10, rate="0.3")
    mine(ledger, announcement["target_block"] - ledger.chain.block_number())
    draw = supervision.draw_inspection(ledger, dept, announcement["seq"])
    first = draw["sample"][0]
    inspector = next(
        f"insp-{i}" for i in (1, 2, 3) if decisions.officer_ref(ledger, dept, f"insp-{i}") == first["inspector_ref"]
    )
    bad = supervision.record_finding(
        ledger, dept, draw["seq"], first["case_id"], inspector=inspector, conforming=False, findings=["F"]
    )
    withdrawn: dict[str, Any] = supervision.withdraw_approval(
        ledger, dept, bad, officer="o-withdraw", reasons=["IMPROPER"], legal_basis="ADMIN-LICENSING-LAW-ART-69"
    )
    assert replay(ledger, department=dept).ok
    return withdrawn


def test_replay_reports_a_withdrawals_listing_naming_another_officer(ledger: Ledger, published: Any) -> None:
    """Adversary: an insider writing, past the library, a second listing resting on a real withdrawal but naming
    another officer than the one who withdrew (blame moved onto a colleague). A withdrawal's listing is made by the
    withdrawing officer: replay reports one naming anyone else (``credit_officer_invalid``)."""
    dept, rules = published
    withdrawn = _withdrawn(ledger, dept, rules)
    listing = _body(ledger, dept, withdrawn["credit_listing"])
    moved = _past_the_library(ledger, dept, {**listing, "officer_ref": decisions.officer_ref(ledger, dept, "o-other")})
    found = _found(ledger, dept)
    assert [s for c, s in found if c == "credit_officer_invalid"] == [moved], found


def test_replay_reports_a_withdrawals_listing_whose_withdrawal_names_its_officer_in_another_shape(
    ledger: Ledger, published: Any
) -> None:
    """Adversary: an insider writing, past the library, a withdrawal whose ``decided_by`` is not the mapping the
    library writes (the staff id in clear, a list), and a listing resting on it. Replay compared the listing's officer
    with ``decided_by.get("officer_ref")`` and stopped on the AttributeError: one entry ended the whole replay, every
    other check of the department unreported. Replay now reports the listing (``credit_officer_invalid``)."""
    dept, rules = published
    withdrawn = _withdrawn(ledger, dept, rules)
    listing = _body(ledger, dept, withdrawn["credit_listing"])
    withdrawal_seq = listing["basis"]["withdrawal"]["seq"]
    withdrawal = _body(ledger, dept, withdrawal_seq)
    listings = []
    for shape in ("o-withdraw", ["o-withdraw"]):
        forged = _past_the_library(ledger, dept, {**withdrawal, "decided_by": shape})
        listings.append(
            _past_the_library(
                ledger,
                dept,
                {
                    **listing,
                    "basis": {
                        **listing["basis"],
                        "withdrawal": {"seq": forged, "entry_hash": _hash(ledger, dept, forged)},
                    },
                },
            )
        )
    found = _found(ledger, dept)
    assert sorted(s for c, s in found if c == "credit_officer_invalid") == listings, found
