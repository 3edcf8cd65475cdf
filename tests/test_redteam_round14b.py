"""Red team, round 14b: an applicant lying in their application, a hostile department, an anonymous client and an
insider with database access.

1. A permit's certified field came from any licence of the type. The shipped food business permit takes its
   business name from "the applicant's own verified, valid, unexpired" business licence
   (``certificate.business-licence.subject.name``), while its rules approve only on a business licence of the
   market regulator (``issuer: [MKT]``). The field was read from the first such citation of any issuer, so an
   applicant who also held a business licence from a department the rule set does not trust (another office the
   council authorised for the type, or a hostile one that wrote any name) cited that one first and had the
   approving department sign a permit in a business name the market regulator never vouched for. Now a certified
   field is read only from a certificate of an issuer every condition of the rule set on that type accepts.
2. A certificate's timeline read every decision of the log. The public timeline (``GET
   /public/certificates/{digest}/timeline``, anyone) asked which decision produced the certificate by reading every
   entry of its issuer's decisions log and searching its text, and the full timeline (issuer, auditors) which
   decisions cited it by reading every decision of every department: an anonymous client's request cost more with
   each decision recorded (0.9 s of a gateway thread after 20,000 decisions, a minute at a million). The decisions
   naming a certificate are now indexed when they are appended (``logmention``, migration 0008) and read by index.
3. A department's applicant secret was re-created when its row was missing. Every applicant reference (what the
   credit list, the case's decisions and the holder facts are keyed by) is an HMAC with that secret, kept sealed in
   ``applicantsecret``. An insider who deleted the row made the ledger mint a fresh secret at the next start, in
   silence: from then on every credit-listed applicant got a reference the list does not hold, and the rules
   approved them on the fast track (the decision recording "not listed", which replay re-reads as true). Now a
   missing secret is created only for a department whose decisions log is empty; otherwise nothing is decided and
   the error says to restore the row.
4. A log entry edited to hold a lone surrogate hid the whole log and the report. JSON spells a lone surrogate
   (``"\\ud800"``) and Python's parser, the ledger's fallback, reads it, but no Unicode text carries one: an insider
   who wrote one into a single entry (a case id, an action) made every answer quoting it fail to encode, so the
   auditors' listing of the log (``GET /audit/logs/{log}``), the department's own access log (``GET /access-log``)
   and the auditors' report (``GET /audit/report``, HTML and JSON) answered 500 for the whole log, where round 5
   made every reader name an edited entry and show the rest. A stored text holding a lone surrogate is now read as
   an entry the ledger never wrote: named, and the rest shown; replay reports it ``body_invalid``.
5. An applicant's identity was salted exactly as sent. The credit list, a case's decisions and the holder facts are
   keyed by the department's salted reference of the applicant's identity, an HMAC of the exact string. A
   credit-listed applicant who sent their identity with a space after it, or a zero-width space inside it, got
   another reference, was "not listed", and was approved on the fast track. Now an identity with surrounding
   whitespace or a character that prints as nothing is refused wherever one enters (a decision, a bulk run, an
   officer's decision, a credit listing), saying what to send.
6. Verifying an erased certificate read the issuer's whole erasures log. Once a body is erased, who issued it and
   of which type are believed only from the issuer's erasure entry that the chain attests, so a public
   verification by digest (``POST /public/verify``, anyone) and the public timeline re-checked the whole
   ``erasures`` log against its anchors at every request: every entry read and hashed and the chain's anchoring
   events scanned (0.5 s after 20,000 erasures). What the chain attests is now worked out once per state of the
   log (its head and its last anchored entry) and kept.
7. A lone surrogate in one grant row hid every grant. The same escape written by an insider into a grant's
   ``reveal`` (a JSON column) was read back as a string no Unicode text carries: the read through the grant was
   refused (its row is not the grant its logged creation made), but the issuer's list of the certificate's grants
   and the grantee's list of grants received answered 500, for every grant. The gateway's JSON answers now write
   such a string escaped (``\\ud800``) instead of failing, so the lists show every grant, the edited one as it is.
8. A council member's approval file was read without checking its values. ``ledger council submit`` collects the
   members' signed approval files; a file whose ``chain_id`` was an object, whose ``member`` was no address, whose
   ``signature`` was no hex or whose ``deadline`` did not fit 256 bits stopped the command with a Python traceback
   (TypeError, ValueError), and one whose ``proposal_id`` was ``true`` or ``1.9`` was read as proposal 1. Each value
   is now checked for what a signed approval holds, and a file that does not hold it is refused, naming the key.

Each hole found was written first as a failing test, then closed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, text

from ledger.client import Ledger
from ledger.errors import InputError, StateError
from ledger.services import decisions, erasure, logchain, permits, supervision
from ledger.services.replay import replay
from ledger.storage.models import ApplicantSecret

from .api_support import Clock, bearer, issue, login, make_client
from .conftest import PASSPHRASE, make_records
from .council_support import approval_body
from .permit_support import application, issue_records, published_permit_rules
from .sqlite_support import sqlite_steps
from .supervision_support import ITEM, decide, rule_set
from .supervision_support import application as application_of

# -- 1. a permit's business name from a licence the rules do not rely on ---------------------------------------------


def test_a_permits_certified_name_comes_from_a_licence_of_an_issuer_the_rules_trust(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: an applicant holding the market regulator's business licence and another business licence, in
    another name, from a department the council also authorised for the type (HOSP here) but which the permit's
    rules do not trust (every business-licence condition names ``issuer: [MKT]``). They cite the other licence first:
    the rules approve on the regulator's licence, and the permit must state the regulator's name, not the other."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "r14b-issuer")
    (record,) = make_records(1)
    (licence,) = issue_records(ledger, tmp_path, "MKT", [record], "r14b-mkt")
    identity = licence["fields"]["subject.credit_code"]
    other = {**record, "id": record["id"] + "-H", "subject": {**record["subject"], "name": "Famous Brand Food Co."}}
    (untrusted,) = issue_records(ledger, tmp_path, "HOSP", [other], "r14b-hosp")
    assert untrusted["fields"]["subject.credit_code"] == identity  # it names the applicant too
    app = application("FBP-R14B-1", licence)
    app["certificates"] = [untrusted["digest"], licence["digest"]]
    decision = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=identity)
    assert decision.body["outcome"] == "approve", decision.body
    facts = decision.body["certificates"]
    assert [f["issuer"] for f in facts] == ["HOSP", "MKT"] and all(f["holder"] and f["verified"] for f in facts)
    (permit,) = permits.documents(ledger, [decision.body["issued"]["certificate"]])
    assert permit["fields"]["subject.business_name"] == record["subject"]["name"], permit["fields"]
    # the bulk path reads the same
    bulk = application("FBP-R14B-2", licence)
    bulk["certificates"] = [{"document": untrusted}, licence["digest"]]
    result = decisions.decide_many(ledger, dept, [{**bulk, "applicant_ref": identity}], {"*": rules})
    (permit,) = permits.documents(ledger, list(result.produced))
    assert permit["fields"]["subject.business_name"] == record["subject"]["name"], permit["fields"]
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).ok


# -- 2. a certificate's timeline read every decision ----------------------------------------------------------------


def test_a_certificates_timeline_costs_the_same_however_many_decisions_are_logged(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: an anonymous client asking, again and again, for the public timeline of a permit (or any
    certificate) of a department that decides many cases; and a signed-in issuer or auditor asking for a cited
    licence's full timeline. Each answer read every decision of the log. Counted in SQLite's virtual-machine steps,
    not seconds: the same timelines after 4,000 more decisions about other cases cost about what they cost before,
    and still name the decision that produced the permit and the one that cited the licence."""
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("counts SQLite's virtual-machine steps")
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "r14b-timeline")
    (record,) = make_records(1)
    (licence,) = issue_records(ledger, tmp_path, "MKT", [record], "r14b-timeline")
    identity = licence["fields"]["subject.credit_code"]
    app = application("FBP-R14B-T", licence)
    decision = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=identity)
    permit = decision.body["issued"]["certificate"]
    client = make_client(ledger, Clock())
    auditor = bearer(login(client, ledger, "PSB"))
    public = (f"/public/certificates/{permit}/timeline", {}, "produced")
    full = (f"/certificates/{licence['digest']}/provenance", auditor, "decision")
    with sqlite_steps(ledger.engine) as steps:

        def cost(url: str, headers: dict[str, str], kind: str) -> int:
            steps.reset()
            answer = client.get(url, headers=headers)
            assert answer.status_code == 200, answer.text
            (event_,) = [e for e in answer.json()["events"] if e["kind"] == kind]
            assert event_["seq"] == decision.seq and event_["department"] == dept, event_
            return steps.count

        cost(*public)  # the first request of a connection also reads the schema
        before = [cost(*public), cost(*full)]
        others = ({"case_id": f"OTHER-{i}", "outcome": "refer", "certificates": []} for i in range(4_000))
        logchain.append_many(ledger, logchain.LOG_DECISIONS, dept, others)
        after = [cost(*public), cost(*full)]
    for name, was, now in zip(("public timeline", "full timeline"), before, after, strict=True):
        assert now < was * 1.25 + 50, f"the {name} took {was} x 10 steps, then {now} x 10 with 4,000 more decisions"


# -- 3. a deleted applicant secret silently replaced --------------------------------------------------------------


def test_an_applicant_secret_deleted_in_the_database_is_not_replaced_by_a_new_one(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider (colluding with a credit-listed applicant) deleting the department's row of
    ``applicantsecret``. At the next start the ledger made a new secret, so the listed applicant's reference was no
    longer the one the credit list holds, and the rules approved them. Now the ledger refuses to decide (or
    replay) with a new secret once its decisions log holds entries made with the old one."""
    dept = fresh_department
    rules = rule_set("r14b-secret")
    decisions.publish_rule_set(ledger, rules, dept)
    supervision.credit_list(
        ledger,
        dept,
        applicant="applicant-listed",
        reason="FALSE_MATERIALS",
        since=date.today() - timedelta(days=1),
        until=date.today() + timedelta(days=365),
        officer="officer-1",
        basis={"legal_basis": "CREDIT-REG-ART-12"},
    )
    assert decide(ledger, dept, rules, "S-R14B-1", "applicant-listed").body["reasons"] == [
        "APPLICANT_ON_CREDIT_BLACKLIST"
    ]
    with ledger.engine.begin() as conn:
        conn.execute(delete(ApplicantSecret).where(ApplicantSecret.department_id == dept))  # type: ignore[arg-type]
    restarted = Ledger.open(ledger.settings, passphrase=PASSPHRASE)  # the gateway (or the CLI) starts again
    try:
        with pytest.raises(StateError, match="applicant secret") as refused:
            decide(restarted, dept, rules, "S-R14B-2", "applicant-listed")
        assert "restore" in str(refused.value)
        assert decisions.find_decisions(restarted, dept, "S-R14B-2") == []
        with pytest.raises(StateError, match="applicant secret"):
            replay(restarted, department=dept)
        with restarted.engine.connect() as conn:  # and no new secret was written in its place
            kept = conn.execute(select(ApplicantSecret.department_id)).scalars().all()  # type: ignore[call-overload]
        assert dept not in kept
    finally:
        restarted.close()


# -- 4. a lone surrogate in one entry hid the whole log ----------------------------------------------------------


def _edit(ledger: Ledger, log: str, department: str, seq: int, old: str, new: str) -> None:
    """An insider's edit of one stored log entry: ``old`` replaced by ``new`` in its text."""
    with ledger.engine.begin() as conn:
        where = {"l": log, "d": department, "s": seq}
        body = conn.execute(
            text("SELECT body FROM logentry WHERE log=:l AND department_id=:d AND seq=:s"), where
        ).scalar_one()
        assert old in body
        conn.execute(
            text("UPDATE logentry SET body=:b WHERE log=:l AND department_id=:d AND seq=:s"),
            {**where, "b": body.replace(old, new)},
        )


def test_a_lone_surrogate_written_into_one_entry_does_not_hide_the_log_or_the_report(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider writing a lone surrogate (the JSON escape ``\\ud800``) into one decision's case id and
    into one access-log entry's action. Every listing of those logs and the auditors' report must still answer
    (200), name the edited entry and show the others; replay names it."""
    dept = fresh_department
    rules = rule_set("r14b-surrogate")
    decisions.publish_rule_set(ledger, rules, dept)
    decide(ledger, dept, rules, "SUR-R14B-1", "applicant-s1")
    decide(ledger, dept, rules, "SUR-R14B-2", "applicant-s2")
    client = make_client(ledger, Clock())
    auditor, own = bearer(login(client, ledger, "PSB")), bearer(login(client, ledger, dept))
    (document,) = issue(ledger, dept, 1)
    for _ in range(2):  # two reads of its own certificate: entries 1 and 2 of its access log
        assert client.get(f"/certificates/{document['digest']}/content", headers=own).status_code == 200
    _edit(ledger, logchain.LOG_DECISIONS, dept, 1, '"SUR-R14B-1"', '"SUR-\\ud800"')
    _edit(ledger, logchain.LOG_ACCESS, dept, 1, '"action":"', '"action":"\\udc00')
    for url, headers in (
        (f"/audit/logs/decisions?department={dept}", auditor),
        (f"/audit/logs/access?department={dept}", auditor),
    ):
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200, (url, answer.text[:300])
        (named,) = [e for e in answer.json() if e["body"] is None]
        assert named["seq"] == 1 and "lone surrogate" in named["body_error"], named
    answer = client.get("/access-log", headers=own)
    assert answer.status_code == 200, answer.text[:300]
    assert [e["seq"] for e in answer.json()] == [1, 2] and answer.json()[0]["action"] is None, answer.json()
    today = datetime.now(UTC).date()
    for form in ("json", "html"):
        answer = client.get(
            "/audit/report",
            params={"department": dept, "from": str(today - timedelta(days=7)), "to": str(today), "format": form},
            headers=auditor,
        )
        assert answer.status_code == 200, (form, answer.text[:300])
        if form == "json":  # and it says replay found the edited entry
            assert answer.json()["replay"]["ok"] is False, answer.json()["replay"]
    found = {(d.check, d.seq) for d in replay(ledger, department=dept).discrepancies}
    assert ("body_invalid", 1) in found, found


# -- 5. an identity spelt with invisible characters escaped the credit list ------------------------------------------


@pytest.mark.parametrize("spelling", ["{} ", " {}", "{}\t", "{}\u200b", "\u200b{}", "{}\u00a0", "{}\ufeff"])
def test_a_credit_listed_applicant_cannot_escape_the_list_by_padding_their_identity(
    ledger: Ledger, fresh_department: str, spelling: str
) -> None:
    """Adversary: an applicant on the department's credit list sending their identity (``applicant_ref``) with a
    trailing space, a tab, a zero-width or non-breaking space or a byte-order mark: the salted reference differed
    from the listed one and the rules approved. Such an identity is refused on every path; the identity itself
    is still referred."""
    dept = fresh_department
    rules = rule_set("r14b-padded")
    decisions.publish_rule_set(ledger, rules, dept)
    identity = f"91440300MA5{dept.replace('-', '')[-7:]:0>7}"
    supervision.credit_list(
        ledger,
        dept,
        applicant=identity,
        reason="FALSE_MATERIALS",
        since=date.today() - timedelta(days=1),
        until=date.today() + timedelta(days=365),
        officer="officer-1",
        basis={"legal_basis": "CREDIT-REG-ART-12"},
    )
    padded = spelling.format(identity)
    with pytest.raises(InputError, match="applicant_ref"):
        decide(ledger, dept, rules, "PAD-1", padded)
    with pytest.raises(InputError, match="applicant_ref"):
        decisions.decide_many(ledger, dept, [{**application_of("PAD-2"), "applicant_ref": padded}], {"*": rules})
    with pytest.raises(InputError, match="applicant_ref"):
        decisions.record_human_decision(
            ledger, dept, "PAD-3", ITEM, officer="officer", outcome="approve", reasons=["OK"], applicant_ref=padded
        )
    with pytest.raises(InputError, match="applicant"):
        supervision.credit_list(
            ledger,
            dept,
            applicant=padded,
            reason="FALSE_MATERIALS",
            since=date.today(),
            until=date.today(),
            officer="officer-1",
            basis={"legal_basis": "CREDIT-REG-ART-12"},
        )
    assert all(decisions.find_decisions(ledger, dept, case) == [] for case in ("PAD-1", "PAD-2", "PAD-3"))
    listed = decide(ledger, dept, rules, "PAD-4", identity)
    assert listed.body["reasons"] == ["APPLICANT_ON_CREDIT_BLACKLIST"], listed.body


# -- 6. verifying an erased certificate read the whole erasures log -----------------------------------------------


def test_verifying_an_erased_certificate_costs_the_same_however_long_the_erasures_log_grows(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an anonymous client asking again and again for the public verification (by digest) and the public
    timeline of a certificate its issuer erased. Each answer checked the issuer's whole erasures log against the
    chain. Counted in SQLite's steps: after 4,000 more (anchored) erasure entries the same requests, asked again,
    cost about what they cost before, and still say who issued it and that its type was authorized."""
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("counts SQLite's virtual-machine steps")
    dept = fresh_department
    (document,) = issue(ledger, dept, 1)
    digest = document["digest"]
    erasure.erase(ledger, digest, basis="court-order", by="officer-1")
    client = make_client(ledger, Clock())
    with sqlite_steps(ledger.engine) as steps:

        def cost() -> int:
            steps.reset()
            verified = client.post("/public/verify", json={"digest": digest})
            assert verified.status_code == 200, verified.text
            report = verified.json()
            assert report["erased"] is True and report["verified"] is True and report["issuer"] == dept, report
            timeline = client.get(f"/public/certificates/{digest}/timeline")
            assert timeline.status_code == 200 and timeline.json()["type"] == "business-licence", timeline.text
            return steps.count

        cost()  # the first request of a connection reads the schema; the first after a change checks the log
        before = cost()
        others = (
            {"certificate": f"0x{i:064x}", "basis": "court-order", "by": "officer-1", "at": "2026-01-01T00:00:00Z"}
            for i in range(4_000)
        )
        logchain.append_many(ledger, erasure.LOG, dept, others)
        logchain.anchor_pending(ledger, erasure.LOG, dept)
        cost()
        after = cost()
    assert after < before * 1.25 + 50, f"verifying took {before} x 10 steps, then {after} x 10 with a longer log"


# -- 7. a lone surrogate in one grant row hid every grant -----------------------------------------------------------


def test_a_lone_surrogate_written_into_one_grant_row_does_not_hide_the_grant_lists(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider writing a lone surrogate into one grant's ``reveal`` column. The read through it is
    refused as before; the issuer's and the grantee's lists of grants still answer (200) and show both grants."""
    dept = fresh_department
    (document,) = issue(ledger, dept, 1)
    digest = document["digest"]
    client = make_client(ledger, Clock())
    own, grantee = bearer(login(client, ledger, dept)), bearer(login(client, ledger, "INS"))
    made = []
    for reveal in (["type"], ["type", "valid_until"]):
        answer = client.post(
            f"/certificates/{digest}/grants",
            json={"grantee": "INS", "purpose": "r14b", "expires_at": "2099-01-01T00:00:00Z", "reveal": reveal},
            headers=own,
        )
        assert answer.status_code == 201, answer.text
        made.append(answer.json()["id"])
    with ledger.engine.begin() as conn:
        conn.execute(
            text("UPDATE certificate_grant SET reveal=:r WHERE id=:i"), {"r": '["type","\\ud800"]', "i": made[0]}
        )
    for url, headers in ((f"/certificates/{digest}/grants", own), ("/grants/received", grantee)):
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200, (url, answer.text[:300])
        assert set(made) <= {g["id"] for g in answer.json()}, answer.json()
        assert "\\ud800" in answer.text  # the edited value, escaped
    read = client.get(f"/certificates/{digest}/content", headers=grantee)
    assert read.status_code == 200 and read.json()["grant"]["id"] == made[1], read.text  # the genuine grant serves


# -- 8. a council approval file of other types ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("chain_id", {}),
        ("chain_id", "31337x"),
        ("registry", 7),
        ("proposal_id", True),
        ("proposal_id", 1.9),
        ("proposal_id", [1]),
        ("member", "bob"),
        ("deadline", "soon"),
        ("deadline", 2**300),
        ("signature", "0xzz"),
        ("signature", 5),
    ],
)
def test_a_council_approval_file_of_other_types_is_refused_naming_the_key(
    ledger: Ledger, tmp_path: Path, key: str, value: Any
) -> None:
    """Adversary: a council member (or whoever passes the files on) handing the collector an approval file whose
    values are of other types than a signed approval's. Submitting it must be refused with an InputError naming
    the key, never a traceback, and a ``proposal_id`` of ``true`` or ``1.9`` is not proposal 1."""
    import json

    from eth_account import Account

    from ledger.errors import InputError
    from ledger.services.council import read_approval, submit_approvals

    chain = ledger.chain
    genuine = approval_body(chain, Account.create().address, "0x" + "11" * 65)
    path = tmp_path / "approval.json"
    path.write_text(json.dumps({**genuine, key: value}), encoding="utf-8")
    with pytest.raises(InputError, match=key):
        submit_approvals(chain, Account.create(), 1, [read_approval(path)])
    with pytest.raises(InputError, match=key):  # the library's own callers, handing a parsed file
        submit_approvals(chain, Account.create(), 1, [{**genuine, key: value}])


# -- 2, continued: the certificates index is the database's word, and replay compares it with every entry --------


def test_an_edited_certificate_index_is_reported_by_replay(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: an insider with database access. Since hole 2 a certificate's timelines (and the decision that
    produced a permit) are found through ``LogMention`` rows: deleting a decision's row hides it from the cited
    licence's timeline, adding one puts a decision into a timeline it has no part in. Neither changes an entry, so
    the log's hashes and anchors hold; replay compares every entry's rows with the certificates its body names."""
    from ledger.storage.models import LogMention

    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "r14b-mentions")
    (record,) = make_records(1)
    (licence,) = issue_records(ledger, tmp_path, "MKT", [record], "r14b-mentions")
    app = application("FBP-R14B-M", licence)
    identity = licence["fields"]["subject.credit_code"]
    decision = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=identity)

    def altered() -> list[Any]:
        return [d for d in replay(ledger, department=dept).discrepancies if d.check == "index_altered"]

    assert altered() == []
    stranger = "0x" + "ab" * 32
    with ledger.engine.begin() as conn:
        conn.execute(
            delete(LogMention).where(
                LogMention.department_id == dept, LogMention.seq == decision.seq, LogMention.digest == licence["digest"]
            )
        )
        conn.execute(
            LogMention.__table__.insert().values(  # type: ignore[attr-defined]
                log=logchain.LOG_DECISIONS, department_id=dept, seq=decision.seq, digest=stranger
            )
        )
    (found,) = altered()
    assert found.seq == decision.seq and licence["digest"] in found.detail and stranger in found.detail, found
