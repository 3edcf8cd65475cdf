"""Red team: who lifted a credit listing.

1. Removing a credit listing recorded nobody. ``supervision.credit_remove`` (``ledger supervision credit remove``)
   took a reason code and nothing else, so a department insider could lift the bar on an applicant - who then got the
   fast track on their next application - and the audit trail could not say who did it or on what. A removal now
   names its officer (a staff id, recorded salted as a listing's officer is) and a typed basis (``ListingBasis``: a
   legal-basis code, optionally the decision document's code), refused naming the field otherwise; the credit list,
   the summary and replay show them. Removals written before are read as before, their officer "not recorded".

Each hole was written first as a failing test, then closed.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.services import decisions, logchain, supervision
from ledger.services.logchain import LOG_DECISIONS
from ledger.services.replay import replay

from .cli_support import cli_in_process
from .supervision_support import (
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


def _hash(ledger: Ledger, dept: str, seq: int) -> str:
    (entry,) = [e for e in logchain.entries(ledger, LOG_DECISIONS, dept) if e.seq == seq]
    return str(entry.entry_hash)
