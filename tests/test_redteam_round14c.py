"""Red team, round 14c: privacy and supervision - an insider with the database or the disk, a person who asked for
erasure, an officer or department abusing supervision.

Holes (each test failed before its fix):

- a withdrawal that withdrew nothing: ``ledger inspect withdraw`` recorded the withdrawal (an officer's refusal of
  the approval) before it checked its credit listing, so a listing it could not make (``--credit-days -1``, a
  ``--credit-reason`` in words, a period past the calendar: a traceback) failed after the refusal was in the log:
  the permit stayed valid, the applicant was not listed, the withdrawal was not anchored, and running the command
  again was refused for good ("no longer in force") (``ledger/services/supervision.py``: every input is checked
  before anything is recorded);
- a wallet's credential kept in the clear: an application citing a certificate as the W3C credential the holder's
  wallet keeps (``ledger export --vc``), the document itself rather than wrapped in ``{"document": ...}``, was not
  recognised as a cited document: the stored decision input (plain JSON, ``decisioninput``) kept every claim and
  salt of it, where no erasure reaches, and the decision took it for no certificate at all
  (``ledger/services/facts.py``: a credential cited as itself is read, and sealed, as the document it carries);
- a cited copy out of the erasure's reach: a credential whose envelope the holder's wallet edited (a display name
  added) is refused by verification, and the ledger, which labels each sealed copy with the certificate digest it
  computes from it, computed none; the copy, every claim and salt of the certificate, survived ``ledger erase``
  (``ledger/services/decisions.py``: labelled from the claims and salts it carries, ``vc.carried``);
- replay stalled for hours: an inspection announced with the sample rate ``1e-100000000`` (above 0, at most 1) was
  accepted, and ``Fraction`` read it as a number of a hundred million digits at the announcement, every draw and
  every replay of the department (``ledger/services/supervision.py``: a rate is short decimal text, nothing else);
- tracebacks: an officer's override naming a decision number no database integer holds, a moment option outside the
  calendar once in UTC, a window of due commitments reaching past the calendar, each an OverflowError out of
  ``ledger`` (``ledger/services/decisions.py``, ``ledger/cli/output.py``, ``ledger/services/supervision.py``);
- free text for ever in the decision log: an officer's decision took any text as a reason (a name, an ID number),
  hash-chained and anchored with the decision, in every evidence bundle and notice of it, out of any erasure's reach
  (``ledger/services/decisions.py``: an officer's reasons are codes, as a withdrawal's are);
- free text for ever in the erasures log: ``ledger erase --by`` took any text up to 128 characters, the one place an
  officer is invited to write who asked for the erasure, anchored beside the digest it erased
  (``ledger/services/erasure.py``: who erases is a staff id).
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats import vc
from ledger.services import decisions, erasure, issuance, logchain, supervision
from ledger.storage.models import DecisionInput

from .cli_support import cli_in_process
from .conftest import make_records, write_jsonl
from .decision_support import application, erase_with_its_cited_copy, unique_rule_set
from .permit_support import SERVICE_ITEM as ITEM
from .permit_support import application as permit_application
from .permit_support import (
    fresh_licence,
    inspected,
    live_permits,
    officer_decision,
    published_permit_rules,
    replay_checks,
)

# --------------------------------------------------------------------------- a withdrawal checks before recording


def test_a_withdrawal_whose_credit_listing_is_refused_records_nothing_and_can_be_made_again(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    dept = fresh_department
    since = datetime.now(UTC) - timedelta(minutes=1)
    rules = published_permit_rules(ledger, dept, "listing-refused")
    licence, identity = fresh_licence(ledger, tmp_path, "listing-refused")
    decided = decisions.decide(
        ledger, dept, "FBP-LR-1", ITEM, permit_application("FBP-LR-1", licence), rules, applicant_ref=identity
    )
    permit = decided.body["issued"]["certificate"]
    finding = inspected(ledger, dept, since, "FBP-LR-1")

    def withdraw(**kw: Any) -> dict[str, Any]:
        return supervision.withdraw_approval(
            ledger,
            dept,
            finding,
            officer="officer-14c",
            reasons=["APPROVAL_OBTAINED_IMPROPERLY"],
            legal_basis="ART-69",
            **kw,
        )

    # each of these listings cannot be made: the withdrawal is refused whole, before anything is in the log
    for bad, field in (
        ({"credit_days": -1}, "credit_days"),
        ({"credit_days": 10**7}, "credit_days"),  # past year 9999: OverflowError, a traceback
        ({"credit_days": True}, "credit_days"),
        ({"credit_reason": "hid the kitchen of Li Wei, ID 110101199003071234"}, "credit_reason"),
    ):
        with pytest.raises(InputError) as refused:
            withdraw(**bad)
        assert refused.value.field == field, bad
        assert [d.body["outcome"] for d in decisions.find_decisions(ledger, dept, "FBP-LR-1")] == ["approve"], bad
        assert live_permits(ledger, [permit]) == [permit], bad
        assert supervision.credit_entries(ledger, dept) == [], bad

    # and the officer's corrected withdrawal goes through: the permit is revoked, the applicant listed
    done = withdraw(credit_days=30, credit_reason="PREMISES_NOT_AS_DECLARED")
    assert [d.body["outcome"] for d in decisions.find_decisions(ledger, dept, "FBP-LR-1")] == ["approve", "reject"]
    assert live_permits(ledger, [permit]) == []
    (listing,) = supervision.credit_entries(ledger, dept)
    assert listing.seq == done["credit_listing"] and listing.reason == "PREMISES_NOT_AS_DECLARED"
    assert replay_checks(ledger, dept) == set()


# --------------------------------------------------------------------------- a credential cited as itself


def _issued(ledger: Ledger, tmp_path: Path, department: str, tag: str) -> dict[str, Any]:
    """One certificate of ``department`` whose subject name carries ``tag``: the holder's document."""
    (record,) = make_records(1)
    record["subject"]["name"] = f"{tag}-subject"
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / f"{tag}.jsonl", [record]), department, out=out)
    return json.loads(out.getvalue())


def test_a_credential_cited_as_itself_is_sealed_not_stored_in_the_clear_and_erasure_reaches_it(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: an insider reading the database (no vault key needed), and the person after ``ledger erase``. The
    applicant sends the credential their wallet holds, as it is, in ``certificates``."""
    dept = fresh_department
    licence = _issued(ledger, tmp_path, dept, "wallet14c")
    credential = vc.to_credential(licence)
    rules = unique_rule_set(f"wallet-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    holder = licence["fields"]["subject.credit_code"]
    decided = decisions.decide(
        ledger, dept, "C-WALLET-1", "ITEM-1", application("C-WALLET-1", credential), rules, applicant_ref=holder
    )
    # read as the certificate it is
    (fact,) = decided.body["certificates"]
    assert (fact["digest"], fact["verified"], fact["holder"]) == (licence["digest"], True, True)

    personal = [str(v) for k, v in licence["fields"].items() if k.startswith("subject.")]
    personal += list(licence["salts"].values())
    with ledger.engine.connect() as conn:
        stored = conn.execute(
            select(DecisionInput.document).where(DecisionInput.digest == decided.body["input_digest"])  # type: ignore[arg-type]
        ).scalar_one()
    assert [p for p in personal if p in stored] == [], "the stored input holds the credential's claims in the clear"

    erase_with_its_cited_copy(ledger, licence["digest"], "officer-14c")
    assert replay_checks(ledger, dept) == set()


def test_a_credential_whose_envelope_a_wallet_edited_is_still_found_by_the_erasure(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: an insider holding the vault key, after the person's erasure. The holder's wallet added a display
    name to the credential (its envelope no longer matches the certified fields it carries, so verification refuses
    it); the copy the application cited is sealed all the same, with every claim and salt of the certificate, and
    must be labelled with that certificate's digest so that ``ledger erase`` destroys it."""
    dept = fresh_department
    licence = _issued(ledger, tmp_path, dept, "edited14c")
    credential = {**vc.to_credential(licence), "name": "My business licence"}
    rules = unique_rule_set(f"edited-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    holder = licence["fields"]["subject.credit_code"]
    decided = decisions.decide(
        ledger,
        dept,
        "C-EDITED-1",
        "ITEM-1",
        application("C-EDITED-1", {"document": credential}),
        rules,
        applicant_ref=holder,
    )
    (fact,) = decided.body["certificates"]
    assert fact["verified"] is False  # the edited envelope is refused, as by every verifier

    erase_with_its_cited_copy(ledger, licence["digest"], "officer-14c")
    assert replay_checks(ledger, dept) == set()  # the honest decision still replays clean after the erasure


# --------------------------------------------------------------------------- a sample rate that costs hours


def test_a_sample_rate_in_exponent_form_is_refused_and_does_not_stall_replay(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: a department (its officer, or past the library) that wants the auditors' replay never to finish.
    The rate was read with ``Fraction(text)``, which turns ``1e-100000000`` (16 characters) into a number of a
    hundred million digits: the announcement was accepted (above 0, at most 1), and every draw and every replay of
    the department (``ledger replay``, the auditors' report) recomputed it, for hours."""
    dept = fresh_department
    since = datetime.now(UTC) - timedelta(minutes=1)
    supervision.register_inspectors(ledger, dept, f"inspectors-{dept}", ["insp-1"])

    def announce(rate: str) -> dict[str, Any]:
        return supervision.announce_inspection(
            ledger, dept, since=since, until=since + timedelta(hours=1), rate=rate, inspectors=f"inspectors-{dept}"
        )

    # the rate is a short decimal text (docs/decisions.md): nothing else is read, so nothing else can cost
    for rate in ("1e-2", "1e-100000000", "0." + "0" * 60 + "1", "5e-1"):
        with pytest.raises(InputError) as refused:
            announce(rate)
        assert refused.value.field == "rate", rate
    # written past the library, anchored, and drawn with the real block hash: replay names it, and goes on
    head = ledger.chain.block_number()
    entries = supervision._log(ledger, dept)
    (inspectors,) = [e for e in entries if e.body.get("kind") == "inspector_list"]
    announcement = logchain.append(
        ledger,
        logchain.LOG_DECISIONS,
        dept,
        {
            "format": supervision.SUPERVISION_FORMAT,
            "kind": "inspection_announcement",
            "period": {"since": "2026-01-01T00:00:00.000Z", "until": "2026-01-02T00:00:00.000Z"},
            "rate": "1e-100000000",
            "inspectors": {
                "seq": inspectors.seq,
                "entry_hash": inspectors.entry_hash,
                "list_id": f"inspectors-{dept}",
                "digest": inspectors.body["digest"],
            },
            "target_block": head + 5,
            "announced_at": "2026-01-02T00:00:00.000Z",
        },
    )
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    ledger.chain.w3.provider.make_request("anvil_mine", [hex(6)])  # type: ignore[arg-type]
    block = ledger.chain.w3.eth.get_block(head + 5)
    logchain.append(
        ledger,
        logchain.LOG_DECISIONS,
        dept,
        {
            "format": supervision.SUPERVISION_FORMAT,
            "kind": "inspection_draw",
            "announcement": {"seq": announcement.seq, "entry_hash": announcement.entry_hash},
            "target_block": head + 5,
            "block_hash": "0x" + bytes(block["hash"]).hex(),
            "population": {"count": 0, "digest": "0x" + "00" * 32},
            "sample": [],
            "drawn_at_block": head + 6,
            "drawn_at": "2026-01-02T00:00:00.000Z",
        },
    )
    checks = replay_checks(ledger, dept)
    assert ("draw_mismatch", announcement.seq + 1) in checks


# --------------------------------------------------------------------------- clear errors, never a traceback


def test_supervision_commands_and_an_officers_override_refuse_out_of_range_values_clearly(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Adversary: an officer (or a script driving the commands) giving numbers and times past what the calendar or
    the database holds. Each was a Python traceback (OverflowError) out of ``ledger``; each is now exit 2 naming the
    value, or, for a window reaching past the calendar, simply everything due."""
    dept = fresh_department
    refused = (
        # a decision number no database integer holds: SQLite's OverflowError
        (
            "record-decision",
            *("-d", dept, "--case", "C-R14C-1", "--item", "X", "--officer", "officer-14c", "--outcome", "reject"),
            *("--reason", "R", "--applicant", "a", "--overrides", "99999999999999999999"),
        ),
        ("supervision", "summary", "-d", dept, "--since", "0001-01-01T00:00:00+14:00"),  # before year 1 in UTC
        (
            "inspect",
            *("announce", "-d", dept, "--since", "9999-12-31T23:59:59-14:00", "--until", "9999-12-31"),
            *("--rate", "0.5", "--inspectors", "inspectors-2026"),
        ),
        ("supervision", "due", "-d", dept, "--within", "-1"),
    )
    for args in refused:
        code, out, err = cli_in_process(ledger, monkeypatch, capsys, *args)
        assert code == 2 and err.startswith("error: ") and "Traceback" not in err, (args, err)
    # a window reaching past the calendar lists everything due
    for args in (("--within", "99999999999"), ("--within", "3000000"), ("--today", "9999-12-31")):
        code, out, err = cli_in_process(ledger, monkeypatch, capsys, "supervision", "due", "-d", dept, *args)
        assert code == 0 and json.loads(out) == [], (args, err)


# --------------------------------------------------------------------------- an officer's reasons are codes


def test_an_officers_decision_gives_reason_codes_not_free_text_that_the_anchored_log_keeps_for_ever(
    ledger: Ledger,
    tmp_path: Path,
    fresh_department: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Adversary: an officer writing the person into the record, and anyone who reads it after (auditors, courts,
    the report, an insider). An officer's decision took any text as a reason: ``--reason "refused: Li Wei, ID
    110101199003071234, has a record"`` went into the decision's body, hash-chained, anchored, in every evidence
    bundle and notice of it, where no erasure can ever reach (a withdrawal's reasons were codes already)."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "reasons")
    licence, identity = fresh_licence(ledger, tmp_path, "reasons")
    decisions.decide(
        ledger, dept, "FBP-RC-1", ITEM, permit_application("FBP-RC-1", licence), rules, applicant_ref=identity
    )
    words = "refused: Li Wei, ID 110101199003071234, has a record"
    for reasons in ([words], ["OFFICER_REVIEW", "li wei"], ["<img src=x onerror=alert(1)>"], [""]):
        with pytest.raises(InputError) as refused:
            decisions.record_human_decision(
                ledger,
                dept,
                "FBP-RC-1",
                ITEM,
                officer="officer-14c",
                outcome="reject",
                reasons=reasons,
                applicant_ref=identity,
                overrides="FBP-RC-1",
            )
        assert refused.value.field == "reasons", reasons
    code, _out, err = cli_in_process(
        ledger,
        monkeypatch,
        capsys,
        *("record-decision", "-d", dept, "--case", "FBP-RC-1", "--item", ITEM, "--officer", "officer-14c"),
        *("--outcome", "reject", "--reason", words, "--applicant", identity, "--overrides", "FBP-RC-1"),
    )
    assert code == 2 and "code" in err, err
    assert [d.body["outcome"] for d in decisions.find_decisions(ledger, dept, "FBP-RC-1")] == ["approve"]
    # a code is what an officer gives
    officer_decision(ledger, dept, "FBP-RC-1", identity, "reject", "PREMISES_NOT_AS_DECLARED", overrides="FBP-RC-1")
    assert [d.body["outcome"] for d in decisions.find_decisions(ledger, dept, "FBP-RC-1")] == ["approve", "reject"]


# --------------------------------------------------------------------------- who erased: a staff id, not a sentence


def test_who_erased_is_a_staff_id_not_free_text_in_the_anchored_erasures_log(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: the person who asked for erasure, reading the department's ``erasures`` log (anchored, kept for
    ever, shown to auditors). Its basis is a code because the log is never erased; ``--by`` took any text up to 128
    characters, the one place an officer is invited to write who asked: "on request of Li Wei, ID ..." stayed there
    for good, beside the digest of the certificate it erased."""
    dept = fresh_department
    licence = _issued(ledger, tmp_path, dept, "by14c")
    for by in ("on request of Li Wei, ID 110101199003071234", "officer 7", "officer-7\nLi Wei", "-officer"):
        with pytest.raises(InputError) as refused:
            erasure.erase(ledger, licence["digest"], basis="objection", by=by)
        assert refused.value.field == "by", by
        assert erasure.recorded(ledger, dept) == {}, by  # nothing logged, nothing destroyed
        assert not erasure.is_erased(ledger, licence["digest"]), by
    done = erasure.erase(ledger, licence["digest"], basis="objection", by="officer-7")
    assert done["by"] == "officer-7" and erasure.is_erased(ledger, licence["digest"])
