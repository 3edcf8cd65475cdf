"""Erasure (crypto-shredding): the data key goes, the hashes, anchors, statuses and logs stay verifiable.

Everything runs for real: anvil, the database of the suite (SQLite, or PostgreSQL with LEDGER_TEST_DATABASE_URL),
the `ledger` command in a subprocess. The byte checks read the SQLite database file and its write-ahead log.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update

from ledger.client import Ledger
from ledger.errors import ErasedError, InputError, StateError
from ledger.formats.certificate import CertificateDocument
from ledger.services import decisions, erasure, evidence, issuance, logchain, status
from ledger.services.reconcile import reconcile
from ledger.services.replay import replay
from ledger.services.verify import DIGEST_CHECK_NAMES, ChainView, verify_certificate, verify_digest
from ledger.storage.models import CitedDocument, LogEntry
from ledger.storage.store import Certificate, StatusChange
from ledger.storage.vault import ERASED

from .api_support import Clock, make_client
from .cli_support import run_cli
from .conftest import make_records, write_jsonl
from .decision_support import application, unique_rule_set


def issue_with_copies(ledger: Ledger, tmp_path: Path, department: str, n: int, tag: str) -> list[dict[str, Any]]:
    """Issue n certificates whose subject names carry a unique marker; return the holders' documents."""
    records = make_records(n)
    for i, record in enumerate(records):
        record["subject"]["name"] = f"{tag}-subject-{i}"
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / f"{tag}.jsonl", records), department, batch_size=n, out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def sealed_of(ledger: Ledger, digest: str) -> bytes:
    with ledger.engine.connect() as conn:
        return bytes(conn.execute(select(Certificate.sealed).where(Certificate.digest == digest)).scalar_one())


def everything_written(ledger: Ledger) -> bytes:
    """Every byte the ledger's database holds: the SQLite files, or every row of every PostgreSQL table."""
    if ledger.engine.dialect.name == "sqlite":
        base = Path(ledger.engine.url.database)
        # Read in another process: opening and closing the database file here would drop every POSIX lock this
        # process's SQLite holds on it (closing any descriptor of a file does), breaking the session's engine.
        files = [str(p) for p in (base, Path(f"{base}-wal"), Path(f"{base}-shm")) if p.exists()]
        return subprocess.run(["cat", *files], check=True, capture_output=True).stdout
    chunks = []
    with ledger.engine.connect() as conn:
        tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
        for table in tables:
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    chunks.append(bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode())
    return b"\n".join(chunks)


def secrets_of(doc: dict[str, Any], sealed: bytes) -> list[bytes]:
    """What must be gone after erasing ``doc``: its plain subject fields, salts (raw and hex), and the stored
    sealed body's wrapped data key and ciphertext."""
    found = [str(v).encode() for k, v in doc["fields"].items() if k.startswith("subject.")]
    found += [bytes.fromhex(s) for s in doc["salts"].values()] + [s.encode() for s in doc["salts"].values()]
    found += [sealed[i : i + 24] for i in range(8, len(sealed) - 24, 24)]  # wrapped key and ciphertext, in pieces
    return found


def test_erase_destroys_the_data_key_and_keeps_everything_verifiable(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    docs = issue_with_copies(ledger, tmp_path, fresh_department, 4, "erase1")
    holder, other = docs[0], docs[1]
    digest = holder["digest"]
    status.suspend(ledger, digest, "under-investigation", note=f"{holder['fields']['subject.name']} phoned us")
    gone = secrets_of(holder, sealed_of(ledger, digest))
    kept = secrets_of(other, sealed_of(ledger, other["digest"]))
    assert erasure.flush_sqlite_log(ledger) in (True, None)
    before = everything_written(ledger)
    if ledger.engine.dialect.name == "postgresql":
        assert all(s in before for s in gone[-3:])  # the scan sees sealed bodies: it would see them afterwards
    else:
        assert sum(s in before for s in gone[-3:]) == 3

    done = run_cli(ledger, "erase", digest, "--basis", "consent-withdrawn", "--by", "officer-7")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["basis"] == "consent-withdrawn" and result["by"] == "officer-7" and result["anchored_roots"]
    assert result["sqlite_log_truncated"] in (True, None)

    # nothing of it left where the ledger writes, while the neighbour's body is untouched
    assert sealed_of(ledger, digest) == ERASED
    assert erasure.flush_sqlite_log(ledger) in (True, None)
    after = everything_written(ledger)
    left = [s for s in gone if s in after]
    assert not left, f"{len(left)} secret piece(s) of the erased certificate are still in the database"
    assert all(s in after for s in kept[-3:])
    with ledger.engine.connect() as conn:
        assert conn.execute(select(StatusChange.note_sealed).where(StatusChange.digest == digest)).scalar() is None

    # the issuer can no longer read, export or prove it, from the library or the command line
    with pytest.raises(ErasedError, match="erased"):
        issuance.export_document(ledger, digest)
    assert digest not in issuance.export_documents(ledger, [digest, other["digest"]])
    assert other["digest"] in issuance.export_documents(ledger, [digest, other["digest"]])
    refused = run_cli(ledger, "export", digest)
    assert (
        refused.returncode == 2
        and "erased" in refused.stderr
        and holder["fields"]["subject.name"] not in (refused.stdout + refused.stderr)
    )
    with pytest.raises(ErasedError):
        evidence.bundle_for_stored(ledger, digest)

    # the holder's own copy still verifies (status included: still suspended), and so does its evidence bundle
    report = verify_certificate(holder, ChainView(ledger.chain, ledger.settings.confirmations))
    assert report.digest is not None and {c.name for c in report.failed} <= {"status"}, report.to_json()
    bundle = evidence.certificate_bundle(ledger, holder)
    assert bundle["certificate"]["fields"]["subject.name"] == holder["fields"]["subject.name"]
    checked = evidence.verify_bundle(bundle, ledger.chain)
    assert {c.name for c in checked.failed} <= {"status"}, checked.to_json()
    status.reinstate(ledger, digest, "grounds-resolved")  # status changes still work on an erased certificate
    assert verify_certificate(holder, ChainView(ledger.chain, ledger.settings.confirmations)).ok

    # the erasure is recorded in the department's anchored log; reconcile tells it from tampering
    entry = erasure.recorded(ledger, fresh_department)[digest]
    assert entry["anchored"] and entry["basis"] == "consent-withdrawn" and "by" not in entry
    assert entry["by_ref"] == decisions.officer_ref(ledger, fresh_department, "officer-7")  # salted, as every log
    assert holder["fields"]["subject.name"] not in json.dumps(entry)
    assert not logchain.check_log(ledger, erasure.LOG, fresh_department)
    checked_db = reconcile(ledger, departments=[fresh_department])
    assert checked_db.ok and checked_db.erased == 1, checked_db.text()

    again = run_cli(ledger, "erase", digest, "--basis", "consent-withdrawn")  # idempotent: no second entry
    assert again.returncode == 0, again.stderr
    assert len([e for e in logchain.entries(ledger, erasure.LOG, fresh_department)]) == 1


def test_reconcile_tells_an_erasure_from_tampering(ledger: Ledger, fresh_department: str, tmp_path: Path) -> None:
    docs = issue_with_copies(ledger, tmp_path, fresh_department, 3, "erase2")
    erased, destroyed, interrupted = (d["digest"] for d in docs)
    erasure.erase(ledger, erased, basis="retention-expired", by="records-office")
    with ledger.engine.begin() as conn:  # someone wipes a body without recording an erasure
        conn.execute(update(Certificate).where(Certificate.digest == destroyed).values(sealed=ERASED))
    # a crash after the log entry, before the key was destroyed
    logchain.append(
        ledger,
        erasure.LOG,
        fresh_department,
        {"certificate": interrupted, "basis": "objection", "by": "officer-9", "at": "2026-01-01T00:00:00Z"},
    )
    found = {(d.kind, d.certificate) for d in reconcile(ledger, departments=[fresh_department]).divergences}
    assert found == {("erased_unrecorded", destroyed), ("erasure_incomplete", interrupted)}

    erasure.erase(ledger, interrupted, basis="objection", by="officer-9")  # completes it, logs nothing new
    assert len(list(logchain.entries(ledger, erasure.LOG, fresh_department))) == 2
    found = {(d.kind, d.certificate) for d in reconcile(ledger, departments=[fresh_department]).divergences}
    assert found == {("erased_unrecorded", destroyed)}

    # deleting the anchored entry to hide an erasure is seen twice: the log lost a row, the body has no record
    with ledger.engine.begin() as conn:
        conn.execute(
            delete(logchain.LogEntry).where(
                logchain.LogEntry.log == erasure.LOG,  # type: ignore[arg-type]
                logchain.LogEntry.department_id == fresh_department,
                logchain.LogEntry.seq == 1,
            )
        )
    kinds = {(d.kind, d.certificate) for d in reconcile(ledger, departments=[fresh_department]).divergences}
    assert ("erased_unrecorded", erased) in kinds and ("erasure_log", None) in kinds


def test_erase_needs_a_known_legal_basis(ledger: Ledger, fresh_department: str, tmp_path: Path) -> None:
    docs = issue_with_copies(ledger, tmp_path, fresh_department, 1, "erase3")
    with pytest.raises(InputError, match="legal basis"):
        erasure.erase(ledger, docs[0]["digest"], basis="because", by="x")
    assert sealed_of(ledger, docs[0]["digest"]) != ERASED
    assert issuance.export_document(ledger, docs[0]["digest"])["salts"] == docs[0]["salts"]


def _raw_pages(conn: Any, table: str) -> bytes:
    blocks = conn.execute(text(f"SELECT pg_relation_size('{table}') / current_setting('block_size')::int")).scalar()
    return b"".join(bytes(conn.execute(text(f"SELECT get_raw_page('{table}', {i})")).scalar()) for i in range(blocks))


def test_postgres_pages_keep_the_old_version_until_reclaimed(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """What PostgreSQL's own pages hold (pageinspect): the old row version survives the UPDATE until `--reclaim`
    (VACUUM FULL) rewrites the table; docs/privacy.md says so."""
    if ledger.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only (LEDGER_TEST_DATABASE_URL); SQLite pages are checked above")
    with ledger.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pageinspect"))
    docs = issue_with_copies(ledger, tmp_path, fresh_department, 2, "erase4")
    digest = docs[0]["digest"]
    pieces = secrets_of(docs[0], sealed_of(ledger, digest))[-3:]
    with ledger.engine.connect() as conn:
        assert all(p in _raw_pages(conn, "certificate") for p in pieces)
    erasure.erase(ledger, digest, basis="court-order", by="registrar")
    with ledger.engine.connect() as conn:
        stale = _raw_pages(conn, "certificate")
    done = run_cli(ledger, "erase", digest, "--basis", "court-order", "--reclaim")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["reclaimed"].startswith("VACUUM FULL")
    with ledger.engine.connect() as conn:
        pages = _raw_pages(conn, "certificate")
    assert not [p for p in pieces if p in pages]
    assert any(p in stale for p in pieces), "PostgreSQL zeroed the old version itself: update docs/privacy.md"
    assert secrets_of(docs[1], sealed_of(ledger, docs[1]["digest"]))[-1] in pages


def _cited_rows(ledger: Ledger, digest: str) -> list[tuple[str, bytes]]:
    with ledger.engine.connect() as conn:
        return [
            (ref, bytes(sealed))
            for ref, sealed in conn.execute(
                select(CitedDocument.ref, CitedDocument.sealed).where(CitedDocument.digest == digest)
            )
        ]


def test_erase_reaches_the_copies_cited_inline_in_decisions(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: the issuer, or anyone holding the vault key (an insider with the database and the operator's
    passphrase), after a lawful erasure. The holder had cited the certificate inline in applications: the whole
    document in one, a presentation of it in another. Those copies hold the same fields and salts, sealed with the
    vault key, not with the destroyed data key: if they survive `ledger erase`, the erased fields stay readable.
    After the erasure nothing of the certificate is left in the database, a copy cited later is never stored, the
    copies of other certificates still open, and replay and the other decisions' evidence still check out."""
    docs = issue_with_copies(ledger, tmp_path, fresh_department, 3, "erase5")
    erased, kept = docs[0], docs[1]
    rules = unique_rule_set(f"erase5-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    presented = CertificateDocument.from_json(erased).present(["subject.name"]).to_json()

    def decide(case: str, *cited: dict[str, Any], holder: dict[str, Any]) -> decisions.Decision:
        app = application(case, *({"document": c} for c in cited))
        return decisions.decide(
            ledger,
            fresh_department,
            case,
            app["service_item"],
            app,
            rules,
            applicant_ref=holder["fields"]["subject.credit_code"],
        )

    both = decide("C-ER5-BOTH", erased, kept, holder=erased)
    decide("C-ER5-PRESENTED", presented, holder=erased)
    decide("C-ER5-OTHER", kept, holder=kept)
    assert [f["verified"] for f in both.body["certificates"]] == [True, True]
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    assert replay(ledger, department=fresh_department).ok

    copies = _cited_rows(ledger, erased["digest"])
    assert len(copies) == 2  # the whole document and the presentation, labelled by the digest the ledger computed
    gone = secrets_of(erased, sealed_of(ledger, erased["digest"]))
    gone += [sealed[i : i + 24] for _, sealed in copies for i in range(12, len(sealed) - 24, 24)]
    kept_copies = _cited_rows(ledger, kept["digest"])
    assert erasure.flush_sqlite_log(ledger) in (True, None)
    before = everything_written(ledger)
    assert sum(piece in before for piece in gone[-4:]) == 4  # the scan sees the sealed copies: it would see them later
    assert len(decisions.load_cited_documents(ledger, [ref for ref, _ in copies])) == 2  # readable with the vault key

    done = run_cli(ledger, "erase", erased["digest"], "--basis", "objection", "--by", "officer-5")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["cited_copies_erased"] == 2

    # the holder cites the erased certificate again, in a new presentation: the decision is taken on it, but the
    # copy is not stored (and the whole document, cited again, keeps its destroyed row)
    again = CertificateDocument.from_json(erased).present(["subject.id_number"]).to_json()
    later = decide("C-ER5-LATER", again, erased, holder=erased)
    assert [f["verified"] for f in later.body["certificates"]] == [True, True]
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    assert len(_cited_rows(ledger, erased["digest"])) == 3
    assert all(sealed == ERASED for _, sealed in _cited_rows(ledger, erased["digest"]))

    assert erasure.flush_sqlite_log(ledger) in (True, None)
    after = everything_written(ledger)
    left = [piece for piece in gone if piece in after]
    assert not left, f"{len(left)} secret piece(s) of the erased certificate survive in its cited copies"
    assert decisions.load_cited_documents(ledger, [ref for ref, _ in copies]) == {}
    assert set(decisions.load_cited_documents(ledger, [ref for ref, _ in kept_copies])) == {
        ref for ref, _ in kept_copies
    }  # another certificate's copies are untouched

    # every decision still replays: the erased citations are checked against what erasure left
    after_replay = replay(ledger, department=fresh_department)
    assert after_replay.ok, "an erasure made an honest decision look tampered: " + after_replay.summary()
    # ... and a copy an insider destroys without an erasure is reported
    with ledger.engine.begin() as conn:
        conn.execute(update(CitedDocument).where(CitedDocument.digest == kept["digest"]).values(sealed=ERASED))
    tampered = replay(ledger, department=fresh_department)
    assert {d.check for d in tampered.discrepancies} >= {"certificate_facts"}, tampered.summary()

    # a decision that cited only other certificates keeps its complete evidence for a court
    with ledger.engine.begin() as conn:
        for ref, sealed in kept_copies:
            conn.execute(update(CitedDocument).where(CitedDocument.ref == ref).values(sealed=sealed))
    bundle = evidence.decision_bundle(
        ledger, fresh_department, "C-ER5-OTHER", applicant=kept["fields"]["subject.credit_code"]
    )
    # the decision that cited the erased certificate too: its bundle carries the other certificate but nothing of
    # the erased one, so the court's re-run cannot re-establish that fact without the holder's own copy (privacy.md)
    both_bundle = evidence.decision_bundle(
        ledger, fresh_department, "C-ER5-BOTH", applicant=erased["fields"]["subject.credit_code"]
    )
    assert both_bundle["cited"][0] is None and both_bundle["cited"][1]["digest"] == kept["digest"]
    assert erased["fields"]["subject.name"] not in json.dumps(both_bundle)
    assert [c["name"] for c in both_bundle["library_report"]["checks"] if not c["ok"]] == ["certificate_facts"]
    assert bundle["library_report"]["verified"], [c for c in bundle["library_report"]["checks"] if not c["ok"]]
    assert replay(ledger, department=fresh_department).ok


def test_postgres_pages_keep_no_cited_copy_once_reclaimed(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """The destroyed cited copies on PostgreSQL's own pages (pageinspect): `--reclaim` rewrites `citeddocument`
    too, so no old version of a copy outlives it."""
    if ledger.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only (LEDGER_TEST_DATABASE_URL); SQLite pages are checked above")
    with ledger.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pageinspect"))
    (doc,) = issue_with_copies(ledger, tmp_path, fresh_department, 1, "erase6")
    rules = unique_rule_set(f"erase6-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    app = application("C-ER6", {"document": doc})
    decisions.decide(
        ledger,
        fresh_department,
        "C-ER6",
        app["service_item"],
        app,
        rules,
        applicant_ref=doc["fields"]["subject.credit_code"],
    )
    ((_, sealed),) = _cited_rows(ledger, doc["digest"])
    pieces = [sealed[i : i + 24] for i in range(12, len(sealed) - 24, 24)]
    with ledger.engine.connect() as conn:
        assert all(p in _raw_pages(conn, "citeddocument") for p in pieces)
    done = run_cli(ledger, "erase", doc["digest"], "--basis", "court-order", "--reclaim")
    assert done.returncode == 0, done.stderr
    assert "citeddocument" in json.loads(done.stdout)["reclaimed"]
    with ledger.engine.connect() as conn:
        pages = _raw_pages(conn, "citeddocument")
    assert not [p for p in pieces if p in pages]


def test_erase_reaches_copies_stored_before_they_were_labelled(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: the same reader of the vault, on a database upgraded from before cited copies were labelled
    (migration 0003 leaves old rows unlabelled: only the vault opens them). One certificate's copy is unlabelled;
    another certificate was erased before the upgrade, so its erasure never reached its copy. Reconcile reports a
    labelled copy the erasure missed, and the next `ledger erase` labels the old rows, destroys the copy of the
    certificate it erases and completes the earlier erasure."""
    first, second = issue_with_copies(ledger, tmp_path, fresh_department, 2, "erase7")
    rules = unique_rule_set(f"erase7-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    for case, doc in (("C-ER7-1", first), ("C-ER7-2", second)):
        app = application(case, {"document": doc})
        decisions.decide(
            ledger,
            fresh_department,
            case,
            app["service_item"],
            app,
            rules,
            applicant_ref=doc["fields"]["subject.credit_code"],
        )
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    ((first_ref, _),) = _cited_rows(ledger, first["digest"])
    ((second_ref, second_sealed),) = _cited_rows(ledger, second["digest"])

    # the second certificate erased as before this change: its copy left sealed, readable with the vault key
    erasure.erase(ledger, second["digest"], basis="retention-expired", by="records-office")
    with ledger.engine.begin() as conn:
        conn.execute(update(CitedDocument).where(CitedDocument.ref == second_ref).values(sealed=second_sealed))
    found = {(d.kind, d.certificate) for d in reconcile(ledger, departments=[fresh_department]).divergences}
    assert ("erasure_incomplete", second["digest"]) in found
    # ... and, as the upgrade leaves them, neither copy is labelled
    with ledger.engine.begin() as conn:
        conn.execute(update(CitedDocument).where(CitedDocument.ref.in_([first_ref, second_ref])).values(digest=None))
    assert len(decisions.load_cited_documents(ledger, [first_ref, second_ref])) == 2

    result = erasure.erase(ledger, first["digest"], basis="objection", by="officer-7")
    assert result["cited_copies_erased"] == 1
    assert decisions.load_cited_documents(ledger, [first_ref, second_ref]) == {}
    assert _cited_rows(ledger, first["digest"]) == [(first_ref, ERASED)]
    assert _cited_rows(ledger, second["digest"]) == [(second_ref, ERASED)]
    assert erasure.flush_sqlite_log(ledger) in (True, None)
    after = everything_written(ledger)
    assert not [s for doc in (first, second) for s in secrets_of(doc, b"") if s in after]
    checked = reconcile(ledger, departments=[fresh_department])
    assert checked.ok and checked.erased == 2, checked.text()
    assert replay(ledger, department=fresh_department).ok


def test_a_copy_stored_while_its_certificate_is_erased_does_not_survive(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race between a gateway storing a decision's cited copy and an officer erasing that certificate: the
    decision looked before the erasure committed and found the certificate intact, the erasure then swept the
    copies before this one was stored. The interleaving is reproduced by making the early look miss the erasure;
    the check inside the storing transaction must still destroy the copy."""
    (doc,) = issue_with_copies(ledger, tmp_path, fresh_department, 1, "erase8")
    rules = unique_rule_set(f"erase8-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    erasure.erase(ledger, doc["digest"], basis="objection", by="officer-8")
    monkeypatch.setattr(decisions, "_erased_in_store", lambda _ledger, _digests: set())
    app = application("C-ER8", {"document": doc})
    decisions.decide(
        ledger,
        fresh_department,
        "C-ER8",
        app["service_item"],
        app,
        rules,
        applicant_ref=doc["fields"]["subject.credit_code"],
    )
    ((ref, sealed),) = _cited_rows(ledger, doc["digest"])
    assert sealed == ERASED and decisions.load_cited_documents(ledger, [ref]) == {}
    monkeypatch.undo()
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    assert replay(ledger, department=fresh_department).ok


def test_a_digest_alone_verifies_an_erased_certificate_at_the_gateway(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Erasure destroys the contents, not the certificate's existence: a court or citizen holding only the digest
    of an erased certificate still learns the chain's facts from ``POST /public/verify`` (anchored, by whom and
    when, its status), and that the contents were erased - never a personal field, and not a 409 because the
    issuer can no longer rebuild the document. The holder's own file still verifies with every check."""
    holder, _ = issue_with_copies(ledger, tmp_path, fresh_department, 2, "erase-pv")
    digest = holder["digest"]
    client = make_client(ledger, Clock())
    before = client.post("/public/verify", json={"digest": digest})
    assert before.status_code == 200, before.text
    assert before.json()["erased"] is False
    erasure.erase(ledger, digest, basis="consent-withdrawn", by="officer-pv")

    answer = client.post("/public/verify", json={"digest": digest})
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["verified"] is True and report["erased"] is True, report
    assert report["digest"] == digest and report["status"] == "valid" and report["issuer"] == fresh_department
    # the same checks but validity, whose dates went with the contents (judged by digest since red team round 81)
    assert [(c["name"], c["ok"]) for c in report["checks"]] == [
        (c["name"], c["ok"]) for c in before.json()["checks"] if c["name"] != "validity"
    ]
    assert "validity" in [c["name"] for c in before.json()["checks"]]
    anchored = next(c for c in report["checks"] if c["name"] == "anchored")
    assert fresh_department in anchored["detail"] and "block" in anchored["detail"], anchored
    personal = [str(v) for k, v in holder["fields"].items() if k != "issuer" and k != "type"]
    personal += list(holder["salts"].values())
    assert not [p for p in personal if p in answer.text], answer.text

    status.suspend(ledger, digest, "under-investigation")  # the status is the chain's, read afresh
    suspended = client.post("/public/verify", json={"digest": digest}).json()
    assert suspended["verified"] is False and suspended["status"] == "suspended" and suspended["erased"] is True

    # the holder's file: every check, as before the erasure (the status check fails: it is suspended now)
    with_file = client.post("/public/verify", json={"document": holder}).json()
    assert {c["name"] for c in with_file["checks"] if not c["ok"]} == {"status"}, with_file
    assert "validity" in {c["name"] for c in with_file["checks"]}


def test_a_digest_alone_gets_the_chain_checks_a_file_gets(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """``verify_digest`` is the document verification without the checks that read fields, not a second verifier:
    on the same view it gives exactly the chain checks (and facts) the holder's file gets. A stored anchor that is
    not the certificate's, or an issuer that did not anchor it, fails as it would in a file."""
    holder, neighbour = issue_with_copies(ledger, tmp_path, fresh_department, 2, "digest-core")
    # one head for both (the node mines every second: two head reads could differ by a block and a confirmation)
    view = ChainView(ledger.chain, ledger.settings.confirmations, max_head_age=3600)
    anchored = issuance.stored_anchor(ledger, holder["digest"])
    assert anchored.erased is False and anchored.issuer == fresh_department
    by_file = verify_certificate(holder, view)
    by_digest = verify_digest(
        holder["digest"], anchored.anchor, view, issuer=anchored.issuer, certificate_type=holder["fields"]["type"]
    )
    assert by_digest.ok and [c.name for c in by_digest.checks] == list(DIGEST_CHECK_NAMES)
    assert by_digest.checks == tuple(c for c in by_file.checks if c.name in DIGEST_CHECK_NAMES)
    assert by_digest.facts == by_file.facts and by_digest.as_of_block == by_file.as_of_block

    other_proof = issuance.stored_anchor(ledger, neighbour["digest"]).anchor
    wrong = verify_digest(holder["digest"], other_proof, view, issuer=fresh_department, certificate_type="x")
    assert not wrong.check("merkle_proof").ok and wrong.check("status").skipped
    elsewhere = verify_digest(
        holder["digest"], anchored.anchor, view, issuer="MKT", certificate_type=holder["fields"]["type"]
    )
    assert not elsewhere.check("anchored").ok and not elsewhere.ok


def test_digest_only_verification_of_an_erased_certificate_believes_only_its_proven_erasure_entry(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """After erasure only the issuer's anchored ``erasures`` entry binds an issuer and a type to the digest: the
    entry records the type from the sealed body; an entry written before types were recorded leaves type authority
    "not established" (said so, no type named); a body destroyed with no entry leaves issuer and type unproven."""
    current, older, shredded = issue_with_copies(ledger, tmp_path, fresh_department, 3, "attribution")
    cert_type = current["fields"]["type"]

    erasure.erase(ledger, current["digest"], basis="consent-withdrawn", by="officer-att")
    entry = erasure.recorded(ledger, fresh_department)[current["digest"]]
    assert entry["type"] == cert_type and entry["anchored"] is True
    assert erasure.attribution(ledger, current["digest"], fresh_department) == erasure.Attribution(
        fresh_department, cert_type, {}
    )

    # an entry as erasures logged them before the type was recorded: erase completes it, logging nothing more
    body = {
        "certificate": older["digest"],
        "basis": "consent-withdrawn",
        "by": "officer-att",
        "at": "2026-01-01T00:00:00Z",
    }
    logchain.append(ledger, erasure.LOG, fresh_department, body)
    erasure.erase(ledger, older["digest"], basis="consent-withdrawn", by="officer-att")
    assert "type" not in erasure.recorded(ledger, fresh_department)[older["digest"]]

    # an insider destroys a body and writes no entry
    with ledger.engine.begin() as conn:
        conn.execute(update(Certificate).where(Certificate.digest == shredded["digest"]).values(sealed=ERASED))  # type: ignore[arg-type]

    with make_client(ledger, Clock()) as client:
        answers = {
            name: client.post("/public/verify", json={"digest": doc["digest"]}).json()
            for name, doc in (("current", current), ("older", older), ("shredded", shredded))
        }
    for answer in answers.values():
        assert answer["erased"] is True and cert_type not in json.dumps(answer), answer
    assert answers["current"]["verified"] is True, answers["current"]

    def failed(answer: dict[str, Any]) -> dict[str, str]:
        return {c["name"]: c["detail"] for c in answer["checks"] if not c["ok"] and not c["skipped"]}

    older_failed = failed(answers["older"])
    assert answers["older"]["verified"] is False and list(older_failed) == ["type_authority"], answers["older"]
    assert older_failed["type_authority"].startswith("not established: the certificate was erased before")
    shredded_failed = failed(answers["shredded"])
    assert answers["shredded"]["verified"] is False and set(shredded_failed) == {"issuer", "type_authority"}
    assert "no erasure entry" in shredded_failed["issuer"], answers["shredded"]
    # the timeline judges the same type: the proven entry's, or none ("not established")
    from datetime import UTC, datetime

    from ledger.services import provenance

    for doc, authorized in ((current, True), (older, False), (shredded, False)):
        events = provenance.timeline(ledger, doc["digest"], now=datetime.now(UTC))["events"]
        signed = next(e for e in events if e["kind"] == "signed")
        assert signed["type_was_authorized"] is authorized, signed
        assert ("not established" in signed["summary"]) is not authorized, signed

    # reconcile takes both kinds of entry for erasures, and still reports the shredded body as tampering
    found = {(d.kind, d.certificate) for d in reconcile(ledger, departments=[fresh_department]).divergences}
    assert found == {("erased_unrecorded", shredded["digest"])}


def test_an_erased_certificate_is_superseded_through_the_fields_digest_its_erasure_entry_records(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """(A department's clerk) supersede a licence whose contents were lawfully erased, or name an erased one as the
    successor: the contract (4.0.0) is handed each side's fields digest, which went with the fields, so since
    pl-cert/2 the library refused. The erasure entry records it (a hash of salted hashes: nothing of the person once
    the salts are gone), so both directions go through and every verifier names the successor.
    Adversary: an insider with database access who, before the supersession, edits the fields digest or the type the
    erasure entry records (another certificate's fields digest), or who wrote the erasure marker with no erasure
    entry, or an entry as erasures logged them before the fields digest was recorded: refused with a StateError
    saying what to do, and nothing is sent to the chain."""
    dept = fresh_department
    old, new, third, erased_successor, shredded, older = issue_with_copies(ledger, tmp_path, dept, 6, "supersede")
    view = ChainView(ledger.chain, ledger.settings.confirmations)

    erasure.erase(ledger, old["digest"], basis="retention-expired", by="records-office")
    entry = erasure.recorded(ledger, dept)[old["digest"]]
    assert entry["fields_digest"] == "0x" + CertificateDocument.content_fields_digest(old).hex(), entry

    # the insider's edits of the recorded fields digest or type: refused before any transaction
    wrong = "0x" + CertificateDocument.content_fields_digest(new).hex()
    for edit in ({"fields_digest": wrong}, {"fields_digest": "0x1234"}, {"type": "birth-certificate"}):
        body = {k: v for k, v in {**entry, **edit}.items() if k in _erasure_body_keys(entry)}
        edited = json.dumps(body, sort_keys=True, separators=(",", ":"))  # spelt as the ledger writes bodies
        with _entry_body_edited(ledger, dept, entry["seq"], edited):
            with pytest.raises(StateError, match=r"erased.*do not give its digest.*reconcile") as refused:
                status.supersede(ledger, old["digest"], new["digest"], dept)
            assert old["digest"] in str(refused.value), edit
    assert verify_certificate(old, view).facts["status"] == "valid"

    status.supersede(ledger, old["digest"], new["digest"], dept)
    report = verify_certificate(old, view)
    assert report.facts["status"] == "superseded" and report.facts["superseded_by"] == new["digest"], report.to_json()
    assert verify_certificate(new, view).ok

    # an erased certificate named as the successor
    erasure.erase(ledger, erased_successor["digest"], basis="retention-expired", by="records-office")
    status.supersede(ledger, third["digest"], erased_successor["digest"], dept)
    assert verify_certificate(third, view).facts["superseded_by"] == erased_successor["digest"]

    # the marker with no entry; an entry logged before fields digests were recorded
    logchain.append(
        ledger,
        erasure.LOG,
        dept,
        {"certificate": older["digest"], "basis": "consent-withdrawn", "by": "x", "at": "2026-01-01T00:00:00Z"},
    )
    erasure.erase(ledger, older["digest"], basis="consent-withdrawn", by="officer-att")
    assert "fields_digest" not in erasure.recorded(ledger, dept)[older["digest"]]
    with ledger.engine.begin() as conn:
        conn.execute(update(Certificate).where(Certificate.digest == shredded["digest"]).values(sealed=ERASED))  # type: ignore[arg-type]
    try:
        for gone in (shredded, older):
            with pytest.raises(StateError, match=r"erased.*revoke the certificate instead"):
                status.supersede(ledger, gone["digest"], new["digest"], dept)
            assert verify_certificate(gone, view).facts["status"] == "valid"
    finally:  # the session's store is shared: the shredded row becomes a recorded erasure
        erasure.erase(ledger, shredded["digest"], basis="consent-withdrawn", by="officer-att")


def _erasure_body_keys(entry: dict[str, Any]) -> set[str]:
    """The members of an erasure entry's body (``erasure.recorded`` adds the entry's own columns to it)."""
    return set(entry) - {"department", "seq", "entry_hash", "anchored"}


@contextlib.contextmanager
def _entry_body_edited(ledger: Ledger, department: str, seq: int, body: str) -> Iterator[None]:
    """An insider's edit of entry ``seq`` of ``department``'s erasures log, undone afterwards (the store is shared)."""
    where = (LogEntry.log == erasure.LOG, LogEntry.department_id == department, LogEntry.seq == seq)
    with ledger.engine.begin() as conn:
        before = conn.execute(select(LogEntry.body).where(*where)).scalar_one()
        conn.execute(update(LogEntry).where(*where).values(body=body))
    try:
        yield
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(update(LogEntry).where(*where).values(body=before))


def test_superseding_an_erased_certificate_reads_its_own_erasure_entry_not_the_departments_whole_log(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(A department with a long erasures log) supersede one erased certificate, erase it again, attest a later
    citation of it: each looked up the certificate's entry by reading every entry of the department's log (a
    million erasures, a million bodies parsed per supersession). The entry is found by its certificate's index key
    (``LogEntry.lookup``), so each reads the one entry whatever the log's length, and what it checks is unchanged.
    Adversary: an insider with database access who clears or moves that key: the supersession is refused (the
    entry is not found, nothing is sent to the chain) and the log's check names the edited key."""
    dept = fresh_department
    old, new = issue_with_copies(ledger, tmp_path, dept, 2, "erased-lookup")
    erasure.erase(ledger, old["digest"], basis="retention-expired", by="records-office")
    for i in range(40):  # other certificates' erasures, logged before and after
        logchain.append(
            ledger, erasure.LOG, dept, {"certificate": "0x" + f"{i:064x}", "basis": "court-order", "by_ref": "x"}
        )
    read: list[int] = []
    real = logchain.read_body

    def counting(text: Any, log: str, department: str, seq: int) -> dict[str, Any]:
        if log == erasure.LOG:
            read.append(seq)
        return real(text, log, department, seq)

    monkeypatch.setattr(logchain, "read_body", counting)
    entry = erasure.recorded_entry(ledger, dept, old["digest"])
    assert entry is not None and entry["fields_digest"] and read == [entry["seq"]], read
    read.clear()
    assert erasure.recorded_entry(ledger, dept, new["digest"]) is None
    erasure.attest_citations(ledger, {new["digest"]: [{"department": dept, "seq": 1}]})  # not erased: nothing logged
    with ledger.engine.connect() as conn:
        assert read == [] and logchain.head_seq(conn, erasure.LOG, dept) == entry["seq"] + 40, read

    # the insider moves the entry's key: not found, refused before any transaction, and the log's check names it
    where = (LogEntry.log == erasure.LOG, LogEntry.department_id == dept, LogEntry.seq == entry["seq"])
    with ledger.engine.begin() as conn:
        key = conn.execute(select(LogEntry.lookup).where(*where)).scalar_one()
        assert key == logchain.lookup_key(old["digest"])
        conn.execute(update(LogEntry).where(*where).values(lookup=logchain.lookup_key(new["digest"])))
    try:
        with pytest.raises(StateError, match=r"erased.*revoke the certificate instead"):
            status.supersede(ledger, old["digest"], new["digest"], dept)
        flagged = [(d.kind, d.seq) for d in logchain.check_log(ledger, erasure.LOG, dept)]
        assert ("index_altered", entry["seq"]) in flagged, flagged
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(update(LogEntry).where(*where).values(lookup=key))
    read.clear()
    status.supersede(ledger, old["digest"], new["digest"], dept)
    assert read == [entry["seq"]], read
    view = ChainView(ledger.chain, ledger.settings.confirmations)
    assert verify_certificate(old, view).facts["superseded_by"] == new["digest"]
