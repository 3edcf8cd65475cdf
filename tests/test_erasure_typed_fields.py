"""What an applicant typed that a certificate copies is erased with that certificate (threat model, "Read what an
applicant typed into an application after the certificate it produced was lawfully erased"; found by hand in red
team round 39).

The shipped food business permit rules copy ``application.premises`` and ``application.business_scope`` into the
permit an approval issues. ``ledger erase`` of the permit destroyed its sealed body, but the decision input was kept
in clear (``decisioninput``, read by replay and every evidence bundle), so an insider with the database, or anyone
holding a backup taken after the erasure, still read the premises typed. The fields a rule set's ``produces``
copies from ``application.*`` (and those it declares ``personal``) are now sealed apart (``SealedInput``) and kept
in the stored input only as their salted field hashes; the permit's erasure destroys them, replay and both evidence
verifiers report the decision as lawfully erased (the commitment still checked), and an erasure no entry attests
stays a discrepancy."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text, update

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.services import decisions, erasure, evidence, logchain, provenance
from ledger.services.reconcile import reconcile
from ledger.services.replay import replay
from ledger.storage.models import SealedInput
from ledger.storage.vault import ERASED

from .evidence_support import both
from .permit_support import application, fresh_licence, permit_rules, published_permit_rules, referred_then_approved


def _typed(tag: str) -> str:
    return f"Room 7, {tag} Shennan Boulevard, Futian"  # unique per test: no other row holds it by chance


def _approved(ledger: Ledger, tmp: Path, dept: str, tag: str) -> tuple[decisions.Decision, str]:
    rules = published_permit_rules(ledger, dept, tag)
    licence, holder = fresh_licence(ledger, tmp, tag)
    app = application(f"FBP-{tag}", licence)
    app["application"]["premises"] = _typed(tag)
    app["application"]["business_name"] = f"{tag} Corner Shop"  # declared personal by the shipped rules (1.3.0)
    decision = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    assert decision.body["outcome"] == "approve", decision.body
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    return decision, holder


def _everything_stored(ledger: Ledger) -> str:
    """Every row of every table, as text."""
    seen = []
    with ledger.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                seen.append(
                    repr(tuple(bytes(v).decode("latin-1") if isinstance(v, (bytes, memoryview)) else v for v in row))
                )
    return "\n".join(seen)


def _files_holding(ledger: Ledger, typed: str) -> list[str]:
    """The files of the data directory (the database, its write-ahead log, keys, exports), and on PostgreSQL
    of the server's data directory, whose bytes hold ``typed``, searched by grep in a process of its own: closing
    any descriptor of the SQLite file in this process would drop the ledger's own POSIX locks on it."""
    places = [str(ledger.settings.data_dir)]
    if ledger.engine.dialect.name == "postgresql":  # the server's files too: tables, old row versions, WAL
        with ledger.engine.connect() as conn:
            places.append(str(conn.execute(text("SHOW data_directory")).scalar()))
    found = subprocess.run(
        ["grep", "-rlaF", "--exclude-dir=chain", typed, *places],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.split()


def _sqlite_dump(ledger: Ledger) -> str:
    """``.dump`` of the SQLite database, read through the ledger's own engine (a second connection of another
    library left open beside the ledger's upsets SQLite's shared memory for the processes that follow)."""
    if ledger.engine.dialect.name != "sqlite":
        return ""
    with ledger.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        return "\n".join(raw.iterdump())


def test_the_premises_typed_are_gone_with_the_permit_and_replay_and_bundles_say_so(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    dept, tag = fresh_department, fresh_department.lower()
    decision, holder = _approved(ledger, tmp_path, dept, tag)
    typed = _typed(tag)
    # kept sealed, never in clear, even before any erasure
    assert typed not in _everything_stored(ledger) and typed not in _sqlite_dump(ledger)
    assert _files_holding(ledger, typed) == []
    # the department still reads it (its own bundle discloses it) while the permit lives
    sections = evidence.decision_bundle(ledger, dept, decision.body["case_id"], applicant=holder)
    assert sections["input"]["fields"]["application.premises"] == typed
    assert "erased" not in sections["input"]
    live, code, _ = both(ledger, sections, tmp_path, "live.json")  # its random salts open the commitment
    assert live.ok and code == 0, live.to_json()

    permit = decision.body["issued"]["certificate"]
    kept = SealedInput.__table__  # type: ignore[attr-defined]
    with ledger.engine.connect() as conn:
        backup = conn.execute(
            select(kept.c.sealed).where(kept.c.input_digest == decision.body["input_digest"])
        ).scalar()
    erasure.erase(ledger, permit, basis="no-longer-necessary", by="officer-40")
    stored = _everything_stored(ledger)
    assert typed not in stored and typed not in _sqlite_dump(ledger)
    assert _files_holding(ledger, typed) == []
    assert f"{tag} Corner Shop" not in stored and _files_holding(ledger, f"{tag} Corner Shop") == []
    assert "prepackaged-food-sales" in stored  # what no certificate copies stays readable (the rules read it)

    # replay: a lawful erasure, explained, no discrepancy; the commitment and every rule not reading it still checked
    report = replay(ledger, department=dept)
    assert report.ok, [d.__dict__ for d in report.discrepancies]
    assert report.to_json()["inputs_erased"] == 1
    # a backup's sealed fields written back (the vault key opens them) are named by reconcile; erasing again ends them
    with ledger.engine.begin() as conn:
        conn.execute(kept.update().where(kept.c.input_digest == decision.body["input_digest"]).values(sealed=backup))
    found = {(d.kind, d.certificate) for d in reconcile(ledger, departments=[dept]).divergences}
    assert ("erasure_incomplete", permit) in found and not {k for k, _ in found} & {"schema_altered"}, found
    assert erasure.erase(ledger, permit, basis="no-longer-necessary", by="officer-40")["typed_fields_erased"] == 1
    assert ("erasure_incomplete", permit) not in {
        (d.kind, d.certificate) for d in reconcile(ledger, departments=[dept]).divergences
    }
    # the certificate's provenance says what became of the fields it copied
    (produced,) = [
        e for e in provenance.timeline(ledger, permit, now=datetime.now(UTC))["events"] if e["kind"] == "produced"
    ]
    assert produced["input_erased"] is True and "lawfully erased" in produced["summary"], produced
    # the bundle: the erased fields are hidden as their hashes, named as erased, and both verifiers agree
    # (the identity disclosed: a rule re-run that reads holder needs it, erased fields or not: red team round 47)
    bundle = evidence.decision_bundle(ledger, dept, decision.body["case_id"], applicant=holder)
    section = bundle["input"]
    assert section["erased"] == ["application.business_name", "application.business_scope", "application.premises"]
    assert "application.premises" in section["hidden"] and "application.premises" not in section["fields"]
    assert typed not in json.dumps(bundle)
    report_b, code, result = both(ledger, bundle, tmp_path)
    assert report_b.ok and code == 0, report_b.to_json()
    assert result is not None
    rerun = next(c for c in result["checks"] if c["name"] == "rerun")
    assert rerun["detail"].startswith("lawfully erased"), rerun
    assert next(c for c in report_b.checks if c.name == "rerun").detail.startswith("lawfully erased")
    # a bundle whose erasure entry was edited (to name another certificate, say) or taken away excuses no re-run
    entry = section["erasure"]
    section["erasure"] = {**entry, "body": {**entry["body"], "basis": "court-order"}}
    assert {c.name for c in both(ledger, bundle, tmp_path, "edited.json")[0].failed} == {"rerun"}
    del section["erasure"]
    assert {c.name for c in both(ledger, bundle, tmp_path, "no-entry.json")[0].failed} == {"rerun"}


def test_an_erasure_no_entry_attests_is_a_discrepancy(ledger: Ledger, fresh_department: str, tmp_path: Path) -> None:
    dept, tag = fresh_department, fresh_department.lower()
    decision, _ = _approved(ledger, tmp_path, dept, tag)
    with ledger.engine.begin() as conn:  # an insider destroys the sealed fields, no erasure entry, permit alive
        conn.execute(
            update(SealedInput).where(SealedInput.input_digest == decision.body["input_digest"]).values(sealed=ERASED)  # type: ignore[arg-type]
        )
    found = {(d.check, d.seq) for d in replay(ledger, department=dept).discrepancies}
    assert ("input_erased_unattested", decision.seq) in found, found
    with ledger.engine.begin() as conn:  # and deleting the row is no erasure either
        conn.execute(
            SealedInput.__table__.delete().where(  # type: ignore[attr-defined]
                SealedInput.__table__.c.input_digest == decision.body["input_digest"]  # type: ignore[attr-defined]
            )
        )
    found = {(d.check, d.seq) for d in replay(ledger, department=dept).discrepancies}
    assert ("input_missing", decision.seq) in found, found


def test_an_application_may_not_bring_its_own_sealed_hashes(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """The stored input's ``input_sealed`` is the ledger's: an application carrying one (a hash for a field it
    never gave) is refused, and nothing of it is stored."""
    dept, tag = fresh_department, fresh_department.lower()
    rules = published_permit_rules(ledger, dept, tag)
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    app = {**application(f"FBP-{tag}", licence), "input_sealed": {"application.premises": "00" * 32}}
    with ledger.engine.connect() as conn:
        before = conn.execute(select(SealedInput.input_digest)).all()  # type: ignore[call-overload]
    with pytest.raises(InputError, match="input_sealed"):
        decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    with ledger.engine.connect() as conn:
        assert conn.execute(select(SealedInput.input_digest)).all() == before  # type: ignore[call-overload]


def test_a_bulk_run_seals_the_typed_fields_too_and_a_refusal_keeps_them_sealed(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """``decide_many`` (its applications read in a worker process) seals what the permit copies as ``decide`` does;
    a refused application's typed fields are sealed as well (no certificate, so no erasure reaches them yet)."""
    dept, tag = fresh_department, fresh_department.lower()
    rules = published_permit_rules(ledger, dept, tag)
    apps = []
    for i, scope in enumerate(("prepackaged-food-sales", "cooked-food")):
        licence, holder = fresh_licence(ledger, tmp_path, f"{tag}-{i}")
        app = application(f"FBP-{tag}-{i}", licence, scope=scope)
        app["application"]["premises"] = _typed(f"{tag}-{i}")
        apps.append({**app, "applicant_ref": holder})
    result = decisions.decide_many(ledger, dept, apps, {"*": rules}, workers=1)
    assert result.count == 2 and len(result.produced) == 1, result.to_json()
    stored = _everything_stored(ledger)
    assert not any(_typed(f"{tag}-{i}") in stored for i in range(2))
    assert "cooked-food" not in stored  # the refused one's scope: sealed too
    assert replay(ledger, department=dept).ok


def test_any_rule_set_names_its_personal_fields_and_a_bad_declaration_is_refused() -> None:
    """The mechanism is the rule set's, not the shipped one's: what ``produces`` copies from the application, and
    what the set declares ``personal``, are sealed; the stored input keeps their hashes, not their values."""
    from ledger.formats.decision_input import SEALED_KEY, seal_fields

    rules = permit_rules("personal")  # the shipped set declares the business name typed (1.3.0)
    assert rules.personal == ("application.business_name", "application.business_scope", "application.premises")
    assert permit_rules("plain", personal=[]).personal == ("application.business_scope", "application.premises")
    with pytest.raises(InputError, match="personal"):
        permit_rules("bad", personal=["certificates"])
    app = {
        "case_id": "C",
        "application": {"business_name": "Shop", "premises": {"street": "x", "no": 1}, "online": True},
    }
    stored, sealed, salts = seal_fields(app, rules.personal)
    assert stored == {
        "case_id": "C",
        "application": {"online": True},
        SEALED_KEY: {n: stored[SEALED_KEY][n] for n in sealed},
    }
    assert sealed == {
        "application.business_name": "Shop",
        "application.premises.street": "x",
        "application.premises.no": 1,
    }
    assert {len(s) for s in salts.values()} == {16}


def test_history_stored_in_clear_before_still_replays_and_bundles(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """A decision recorded before the fields were sealed (its input in clear, no ``input_sealed``: the same rule
    set read by a ledger that sealed nothing) replays and bundles as recorded, before and after its permit's
    erasure, which reaches no typed field of it (docs/threat-model.md: left as recorded)."""
    import dataclasses

    dept, tag = fresh_department, fresh_department.lower()
    rules = dataclasses.replace(published_permit_rules(ledger, dept, tag), personal=())
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    app = application(f"FBP-{tag}", licence)
    app["application"]["premises"] = _typed(tag)
    decision = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert _typed(tag) in _everything_stored(ledger)  # the old layout, in clear
    done = erasure.erase(ledger, decision.body["issued"]["certificate"], basis="no-longer-necessary", by="o-40")
    assert done["typed_fields_erased"] == 0
    report = replay(ledger, department=dept)
    assert report.ok and report.re_run == 1 and report.inputs_erased == 0, report.to_json()
    bundle = evidence.decision_bundle(ledger, dept, app["case_id"], applicant=holder)
    assert "erased" not in bundle["input"] and both(ledger, bundle, tmp_path)[0].ok


def test_a_referral_an_officer_then_approved_loses_what_was_typed_with_the_permit(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """The rules referred the application (no permit), an officer approved it on the same input (the permit): the
    permit's erasure reaches the typed fields of both decisions of the case, its entry names both inputs, and
    replay and the referral's bundle (whose record issued nothing) accept that anchored entry."""
    dept, tag = fresh_department, fresh_department.lower()
    rules = published_permit_rules(ledger, dept, tag)
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    app = application(f"FBP-{tag}", licence, scope="cooked-food")
    app["application"]["premises"] = _typed(tag)
    referred, approval = referred_then_approved(ledger, dept, rules, app, holder, "officer-40")
    assert referred.body["outcome"] == "refer" and "issued" not in referred.body
    done = erasure.erase(ledger, approval.body["issued"]["certificate"], basis="consent-withdrawn", by="officer-40")
    assert done["typed_fields_erased"] == 2, done
    (entry,) = erasure.recorded(ledger, dept).values()
    assert sorted(entry["inputs"]) == sorted([referred.body["input_digest"], approval.body["input_digest"]])
    report = replay(ledger, department=dept)
    assert report.ok and report.inputs_erased == 1, report.to_json()  # the officer's decision is not re-run
    bundle = evidence.decision_bundle(ledger, dept, app["case_id"], applicant=holder, seq=referred.seq)
    assert bundle["input"]["erasure"]["body"]["inputs"] == entry["inputs"]
    checked, code, result = both(ledger, bundle, tmp_path, "referral.json")
    assert checked.ok and code == 0 and result is not None, checked.to_json()
    assert next(c for c in result["checks"] if c["name"] == "rerun")["detail"].startswith("lawfully erased")
