"""Red team round 39b: the insider, the relaying gateway, the holder, the operator.

1. A log row's column holding what the ledger never writes there stopped every auditor's tool. SQLite keeps any
   type in any column and hands a text's bytes back as stored; PostgreSQL lets whoever owns the table retype a
   column. An insider writing one byte that is not UTF-8 into one decision's body, a blob or a number where a text
   belongs, text where the sequence number or the time belongs, or a non-ASCII ``prev_hash``, or (PostgreSQL)
   retyping the time column as text, made ``check_log``, ``ledger replay``, ``ledger reconcile`` and the
   auditors' listing of the log stop with a traceback (``OperationalError: Could not decode to UTF-8``,
   ``AttributeError``, ``TypeError``, ``UnicodeEncodeError``): one edited row hid the report of the whole log,
   every department's in a replay of all of them. A log row now reads, at the storage boundary, whatever the
   database holds: a text column as text (bytes that are not UTF-8 as U+FFFD), a sequence number that is no
   integer as 0, a time that is none as the first instant of the calendar; the check reports such a row as it
   reports any edit (``altered``, ``time_altered``, ``missing``) and reads on.
2. The same for the times of a grant or a consent row (SQLite): a ``created_at``, ``expires_at`` or ``revoked_at``
   of a grant, a ``given_at`` or ``withdrawn_at`` of a consent, that is no time made the issuer's and the grantee's
   listings of grants, the issuer's listing of consents, the grantee's read, the full provenance timeline (500) and
   ``ledger reconcile`` (a traceback) fail for the certificate, hiding every other grant and consent of it. Every
   time column reads such a value as 1970-01-01 (``models.StoredTime``): an expiry, revocation or withdrawal read
   that way ends the grant or consent (fail closed), and the listings show the row with the log's verdict on it.
3. A log row duplicated past a dropped unique constraint was reported as a deletion that never happened. An
   insider who drops ``uq_logentry_log_department_seq`` (PostgreSQL: one ``ALTER TABLE``; SQLite: the table
   rebuilt without it; or a database left half-migrated) can insert a second row at a sequence number - a copy, or
   another decision linked to the same predecessor. The check read the second row as a jump and reported "sequence
   number 3 is missing (a deleted entry)", which it is not, and a copy as nothing else: an auditor was sent after a
   deletion while the extra row stood in every listing. The check (and replay) now report the second row at a number
   as ``inserted``, naming both hashes and the constraint to restore, and judge the next entry's link against
   either, so no deletion and no broken link are made up.
4. A log's anchoring that vanished from the chain stopped that log's anchoring for good. The chain's operator
   reorganising away the block that anchored a department's erasure (or decision, or read) left the stored anchor
   row confirmed for a range the chain no longer holds; the next anchoring refused, blaming an insider ("the
   database's anchors were edited, and no later entry is anchored until that row is resolved"), so ``ledger erase``
   failed after erasing and every later entry of the log stayed off chain - rewritable and deletable without a
   trace - until someone edited the database by hand. As certificate batches are (``issuance.recheck``), such an
   anchor is now moved back to prepared and sent again, after the check that it was prepared from the stored
   entries (an insider's row is still refused, never signed).
5. A database whose schema is not the one the migrations build passed every check. The ledger asks only the
   revision a database records (``alembic_version``), so a constraint an insider dropped (the log's unique sequence
   numbers, on which an append's retry and the anchors' first numbers rely), a column retyped, or a migration left
   half-done under a revision stamped as done went unnoticed: ``ledger reconcile`` said ok, and the ledger's own
   appends could then write two entries at one number. ``reconcile`` now compares the live schema with the models
   (Alembic's comparison, as ``tests/test_migrations.py`` does) and reports each difference as ``schema_altered``;
   where a retyped column fails the queries themselves (PostgreSQL: the body made ``bytea``), it stops saying so
   (a StateError naming the difference) instead of with the driver's error alone.
6. A grant's ``reveal`` or a consent's ``fields`` holding JSON of another shape (a string, a number, an object, a
   list holding a number: both databases; text that is no JSON: SQLite) made the issuer's listing of the
   certificate's grants, the grantee's listing of every grant it received, the read, the full timeline (500) and
   reconcile (a traceback) fail on that one row. Such a value now reads as a list naming no field
   (``models.StoredNames``): nothing is disclosed on it, and the row is judged against what the access log records
   and the ledger signed, so the grant or consent is listed not live, with the problem, and serves no read.
7. A batch row's ``count`` holding text (SQLite) stopped ``ledger reconcile`` (``int()``: a ValueError) before it
   reported anything of any batch. It is now reported as ``batch_count_mismatch`` naming what the row holds, and the
   batch's rows are judged against the count the chain anchored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from ledger.client import Ledger
from ledger.errors import LedgerError, StateError
from ledger.formats.canonical import canonical_json
from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER, ROLE_VERIFIER
from ledger.onchain.ids import department_id_bytes
from ledger.services import decisions, erasure, evidence, logchain, reconcile, replay, status
from ledger.services.departments import Council

from . import consent_support, permit_support
from .api_support import Clock, bearer, issue, login, make_client, register, sign_challenge
from .cli_support import rpc, run_cli
from .conftest import PASSPHRASE, TEST_ITEMS, TEST_TYPES, make_settings
from .decision_support import decided_history

# (what the insider writes, the SQL, the discrepancies check_log must give: (kind, seq))
_SQLITE_EDITS = (
    ("a body byte that is not UTF-8", "body = CAST(X'7BFF7D' AS TEXT)", {("altered", 2)}),
    ("a body stored as a blob", "body = X'7B7D'", {("altered", 2)}),
    ("a body stored as a number", "body = 17", {("altered", 2)}),
    ("a previous hash stored as a blob", "prev_hash = X'3078'", {("altered", 2), ("broken_chain", 2)}),
    ("a previous hash that is not ASCII", "prev_hash = 'é'", {("altered", 2), ("broken_chain", 2)}),
    ("a time that is no time", "created_at = 'yesterday'", {("time_altered", 2)}),
    ("a time stored as a number", "created_at = 5", {("time_altered", 2)}),
    ("a sequence number that is text", "seq = 'two'", {("missing", 2), ("altered", None)}),
    ("a sequence number that is a real", "seq = 2.5", {("missing", 2), ("altered", None)}),
)


@contextmanager
def _edited(ledger: Ledger, department: str, assignment: str) -> Iterator[None]:
    """Entry 2 of ``department``'s decisions log with ``assignment`` applied, put back afterwards."""
    where = "log = 'decisions' AND department_id = :d"
    with ledger.engine.begin() as conn:
        saved = conn.execute(
            text(f"SELECT id, seq, body, prev_hash, created_at FROM logentry WHERE {where} AND seq = 2"),
            {"d": department},
        ).one()
        conn.execute(text(f"UPDATE logentry SET {assignment} WHERE id = :id"), {"id": saved[0]})
    try:
        yield
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE logentry SET seq = :seq, body = :body, prev_hash = :prev, created_at = :at WHERE id = :id"
                ),
                {"id": saved[0], "seq": saved[1], "body": saved[2], "prev": saved[3], "at": saved[4]},
            )


def _every_reader_reports(ledger: Ledger, department: str, expected: set[tuple[str, int | None]]) -> None:
    found = logchain.check_log(ledger, logchain.LOG_DECISIONS, department)
    assert {(d.kind, d.seq) for d in found} == expected, found
    listed = list(logchain.entries(ledger, logchain.LOG_DECISIONS, department))
    assert len(listed) == 3, listed
    report = replay.replay(ledger, department=department, workers=0)
    assert not report.ok and {d.check for d in report.discrepancies} >= {kind for kind, _ in expected}, report
    reconciled = reconcile.reconcile(ledger, departments=[department], check_bodies=False)
    assert not reconciled.ok, reconciled.to_json()


@pytest.fixture(scope="module")
def history(ledger: Ledger) -> Iterator[str]:
    code = "RT39B"
    Council(ledger).register(
        code, "Red team 39b", ROLE_ISSUER | ROLE_VERIFIER | ROLE_APPROVER, types=TEST_TYPES, items=TEST_ITEMS
    )
    decided_history(ledger, code, 3)
    assert logchain.check_log(ledger, logchain.LOG_DECISIONS, code) == []
    yield code


def test_a_log_row_holding_another_type_or_encoding_is_reported_not_a_traceback(ledger: Ledger, history: str) -> None:
    """Adversary: an insider with write access to the SQLite file (PostgreSQL: to the rows), writing into one
    decision's row what the ledger never writes there - a byte that is not UTF-8, a blob or a number for text, text
    or a real for the sequence number, a time that is none - so that every auditor's tool stops on it and reports
    nothing of the rest of the log. Each is now reported as the edit it is, and the tools read on."""
    edits = _SQLITE_EDITS if ledger.engine.dialect.name == "sqlite" else _SQLITE_EDITS[4:5]
    for name, assignment, expected in edits:
        with _edited(ledger, history, assignment):
            try:
                _every_reader_reports(ledger, history, expected)
            except AssertionError as exc:
                raise AssertionError(f"{name}: {exc}") from exc
    assert logchain.check_log(ledger, logchain.LOG_DECISIONS, history) == []


def test_a_log_column_retyped_on_postgresql_is_read_as_before(ledger: Ledger, history: str) -> None:
    """Adversary: an insider owning the PostgreSQL tables, retyping the log's time column as text: every row's time
    then came back as text, and the log's check, replay and the listing stopped with a traceback on the first. The
    rows' instants are unchanged, so the log checks clean."""
    if ledger.engine.dialect.name != "postgresql":
        pytest.skip("a column's type is retyped on PostgreSQL; SQLite keeps any type in any column (the test above)")
    retypes = (("created_at", "text USING created_at::text", "timestamptz USING created_at::timestamptz"),)
    for column, to, back in retypes:
        with ledger.engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE logentry ALTER COLUMN {column} TYPE {to}"))
        try:
            assert logchain.check_log(ledger, logchain.LOG_DECISIONS, history) == [], column
            assert len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, history))) == 3
            assert replay.replay(ledger, department=history, workers=0).ok, column
        finally:
            with ledger.engine.begin() as conn:
                conn.execute(text(f"ALTER TABLE logentry ALTER COLUMN {column} TYPE {back}"))


# (table, the edit, whether the grant still serves its read afterwards): a consent's given_at is in the record the
# ledger signed, so a row whose time reads otherwise is not relied on
_SHARING_EDITS = (
    ("certificate_grant", "created_at = 'yesterday'", True),
    ("certificate_grant", "expires_at = 5", False),
    ("certificate_grant", "revoked_at = 'never'", False),
    ("consent_record", "given_at = X'00'", False),
    ("consent_record", "withdrawn_at = 'soon'", False),
)


class _Shared:
    """One certificate of ``department`` shared with a new verifier through the gateway (with the subject's
    consent, ``reveal`` as given): what each party's listings and the grantee's read answer."""

    def __init__(self, ledger: Ledger, department: str, reveal: list[str] | None = None) -> None:
        self.ledger, self.department = ledger, department
        clock = Clock()
        self.client = make_client(ledger, clock)
        grantee = register(ledger, "SV", "verifier")
        (doc,) = issue(ledger, department, 1)
        self.issuer = bearer(login(self.client, ledger, department))
        self.reader = bearer(login(self.client, ledger, grantee))
        given = consent_support.give(ledger, doc, grantee, clock.now)
        granted = self.client.post(
            f"/certificates/{doc['digest']}/grants",
            headers=self.issuer,
            json={
                "grantee": grantee,
                "purpose": "insurance claim 2026-0042",
                "consent": given.id,
                "purpose_code": "insurance-claim",
                "expires_at": (clock.now + timedelta(minutes=10)).isoformat(),
                **({"reveal": reveal} if reveal is not None else {}),
            },
        )
        assert granted.status_code == 201, granted.text
        self.digest = doc["digest"]

    def answers(self) -> dict[str, Any]:
        """Each listing's and the read's answer (200 or 403, never 500); reconcile's report, not a traceback."""
        out = {}
        digest = self.digest
        for path, who in (
            (f"/certificates/{digest}/grants", self.issuer),
            ("/grants/received", self.reader),
            (f"/certificates/{digest}/consents", self.issuer),
            (f"/certificates/{digest}/provenance", self.issuer),
            (f"/certificates/{digest}/content", self.reader),
        ):
            answer = self.client.get(path, headers=who)
            assert answer.status_code in (200, 403), (path, answer.status_code, answer.text)
            out[path] = answer
        reconcile.reconcile(self.ledger, departments=[self.department], check_bodies=False)
        return out

    def read(self) -> int:
        return int(self.answers()[f"/certificates/{self.digest}/content"].status_code)

    @contextmanager
    def edited(self, table: str, assignment: str) -> Iterator[None]:
        """The certificate's row of ``table`` (it has one) with ``assignment`` applied, put back afterwards."""
        column, mine = assignment.split(" = ")[0], {"d": self.digest}
        restore = f"UPDATE {table} SET {column} = :v WHERE digest = :d"
        with self.ledger.engine.begin() as conn:
            if self.ledger.engine.dialect.name == "postgresql":  # put back as text cast to the column's type
                kind = conn.execute(text(f"SELECT pg_typeof({column})::text FROM {table} WHERE digest = :d"), mine)
                restore = (
                    f"UPDATE {table} SET {column} = CAST(CAST(:v AS text) AS {kind.scalar_one()}) WHERE digest = :d"
                )
                saved = conn.execute(text(f"SELECT {column}::text FROM {table} WHERE digest = :d"), mine).scalar_one()
            else:
                saved = conn.execute(text(f"SELECT {column} FROM {table} WHERE digest = :d"), mine).scalar_one()
            conn.execute(text(f"UPDATE {table} SET {assignment} WHERE digest = :d"), mine)
        try:
            yield
        finally:
            with self.ledger.engine.begin() as conn:
                conn.execute(text(restore), {"v": saved, **mine})


def test_a_grant_or_consent_time_that_is_no_time_hides_nothing_and_serves_nothing(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: an insider with write access to the SQLite file, writing a time that is no time into a grant's or
    a consent's row, so that the certificate's grant and consent listings, its full timeline and reconcile fail
    (500, a traceback) and show nothing of its other grants and consents; or so that a grant or consent whose end
    the row records serves reads again."""
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL refuses a value that is no time in a timestamptz column (a retyped column: above)")
    monkeypatch.setattr(ledger, "settings", ledger.settings.with_(consent_providers=consent_support.PROVIDERS_ENV))
    shared = _Shared(ledger, fresh_department)
    digest = shared.digest
    assert shared.read() == 200
    for table, assignment, serves in _SHARING_EDITS:
        with shared.edited(table, assignment):
            got = shared.answers()
            read = got[f"/certificates/{digest}/content"].status_code
            assert read == (200 if serves else 403), (assignment, read)
            (listed,) = got[f"/certificates/{digest}/grants"].json()
            assert listed["live"] is (serves or table == "consent_record"), (assignment, listed)
            if table == "consent_record":
                (consented,) = got[f"/certificates/{digest}/consents"].json()
                assert consented["live"] is False, (assignment, consented)
    assert shared.read() == 200


def test_a_grant_or_consent_list_of_another_shape_hides_nothing_and_serves_nothing(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: an insider with database access writing JSON of another shape into a grant's ``reveal`` or a
    consent's ``fields`` (a string, a number, an object; on SQLite also text that is no JSON): the issuer's listing
    of the certificate's grants, the grantee's listing of every grant it received, the read, the full timeline
    (500) and reconcile (a traceback) failed on that one row."""
    monkeypatch.setattr(ledger, "settings", ledger.settings.with_(consent_providers=consent_support.PROVIDERS_ENV))
    shared = _Shared(ledger, fresh_department, reveal=["subject.name"])
    digest = shared.digest
    assert shared.read() == 200
    edits = [
        ("certificate_grant", "reveal = '\"subject.name\"'"),
        ("certificate_grant", "reveal = '5'"),
        ("consent_record", "fields = '{}'"),
        ("consent_record", "fields = '[\"subject.name\", 7]'"),
        ("consent_record", "fields = 'null'"),
    ]
    if ledger.engine.dialect.name == "sqlite":  # PostgreSQL keeps a json column's text JSON
        edits += [("certificate_grant", "reveal = 'x'"), ("consent_record", "fields = X'00'")]
    for table, assignment in edits:
        with shared.edited(table, assignment):
            got = shared.answers()
            assert got[f"/certificates/{digest}/content"].status_code == 403, assignment  # served on nothing
            (listed,) = got[f"/certificates/{digest}/grants"].json()
            assert listed["live"] is (table == "consent_record"), (assignment, listed)
            if table == "certificate_grant":
                assert listed["problem"], (assignment, listed)
            else:
                (consented,) = got[f"/certificates/{digest}/consents"].json()
                assert consented["live"] is False and consented["problem"], (assignment, consented)
    assert shared.read() == 200


def test_a_batch_count_that_is_no_number_is_reported_by_reconcile(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: an insider with write access to the SQLite file writing text into a batch row's ``count``:
    ``ledger reconcile`` stopped with a traceback (ValueError) and reported nothing of any batch. The row is now
    reported as the count it is not (``batch_count_mismatch``), the others checked as before."""
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL refuses text in an integer column")
    issue(ledger, fresh_department, 1)
    with ledger.engine.begin() as conn:
        conn.execute(text("UPDATE batch SET count = 'one' WHERE department_id = :d"), {"d": fresh_department})
    try:
        report = reconcile.reconcile(ledger, departments=[fresh_department], check_bodies=False)
        assert [d.kind for d in report.divergences] == ["batch_count_mismatch"], report.to_json()
        assert "'one'" in report.divergences[0].detail, report.divergences[0]
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(text("UPDATE batch SET count = 1 WHERE department_id = :d"), {"d": fresh_department})
    assert reconcile.reconcile(ledger, departments=[fresh_department], check_bodies=False).ok


@contextmanager
def _without_unique_sequence_numbers(ledger: Ledger) -> Iterator[None]:
    """The log table without its unique constraint on (log, department, seq), put back afterwards (with the rows the
    test inserted gone): PostgreSQL drops the constraint; SQLite, which cannot, gets a copy of the table without it
    in its place."""
    with ledger.engine.begin() as conn:
        if ledger.engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE logentry DROP CONSTRAINT uq_logentry_log_department_seq"))
        else:
            conn.execute(text("ALTER TABLE logentry RENAME TO logentry_kept"))
            conn.execute(text("CREATE TABLE logentry AS SELECT * FROM logentry_kept"))
    try:
        yield
    finally:
        with ledger.engine.begin() as conn:
            if ledger.engine.dialect.name == "postgresql":
                conn.execute(  # a row the test left behind (it deletes its own)
                    text(
                        "DELETE FROM logentry a USING logentry b WHERE a.log = b.log AND "
                        "a.department_id = b.department_id AND a.seq = b.seq AND a.id > b.id"
                    )
                )
                conn.execute(
                    text(
                        "ALTER TABLE logentry ADD CONSTRAINT uq_logentry_log_department_seq "
                        "UNIQUE (log, department_id, seq)"
                    )
                )
            else:
                conn.execute(text("DROP TABLE logentry"))
                conn.execute(text("ALTER TABLE logentry_kept RENAME TO logentry"))


def test_a_duplicated_log_row_is_reported_as_inserted_not_as_a_deletion(ledger: Ledger, history: str) -> None:
    """Adversary: an insider with database access who drops the log's unique constraint on sequence numbers and
    inserts a second row at number 2: a copy of the entry, or another decision (the outcome changed) linked to
    entry 1, so that a reader taking the first row at a number may take theirs. The check said entry 3 was deleted
    (it is not) and, for a copy, nothing else."""
    with _without_unique_sequence_numbers(ledger):
        with ledger.engine.begin() as conn:
            row = conn.execute(
                text(
                    "SELECT body, lookup, prev_hash, created_at, entry_hash FROM logentry "
                    "WHERE log = 'decisions' AND department_id = :d AND seq = 2"
                ),
                {"d": history},
            ).one()
        body = json.loads(row[0])
        body["outcome"] = "approve" if body["outcome"] != "approve" else "refuse"
        other = canonical_json(body).decode()
        for text_, hash_ in (
            (row[0], row[4]),
            (other, logchain.compute_entry_hash(logchain.LOG_DECISIONS, history, 2, row[2], other)),
        ):
            with ledger.engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO logentry (id, log, department_id, seq, body, lookup, entry_hash, prev_hash, "
                        "created_at) VALUES ((SELECT max(id) + 1 FROM logentry), 'decisions', :d, 2, :b, :l, :h, :p, "
                        ":c)"
                    ),
                    {"d": history, "b": text_, "l": row[1], "h": hash_, "p": row[2], "c": row[3]},
                )
            found = logchain.check_log(ledger, logchain.LOG_DECISIONS, history)
            assert [(d.kind, d.seq) for d in found] == [("inserted", 2)], found
            assert hash_ in found[0].detail and "uq_logentry_log_department_seq" in found[0].detail, found
            checks = {(d.check, d.seq) for d in replay.replay(ledger, department=history, workers=0).discrepancies}
            assert checks == {("inserted", 2)}, checks
            with ledger.engine.begin() as conn:
                conn.execute(
                    text("DELETE FROM logentry WHERE id = (SELECT max(id) FROM logentry) AND entry_hash = :h"),
                    {"h": hash_},
                )
    assert logchain.check_log(ledger, logchain.LOG_DECISIONS, history) == []


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    """A ledger with its own node, whose history the test rewrites (never the shared chain's)."""
    ledger = Ledger.open(make_settings(tmp_path_factory.mktemp("rt39b-own")), passphrase=PASSPHRASE)
    Council(ledger).register("OWN", "Own office", ROLE_ISSUER, types=TEST_TYPES)
    yield ledger
    ledger.close()


def test_a_log_anchoring_the_chain_no_longer_holds_is_sent_again_not_a_stop(own: Ledger) -> None:
    """Adversary: the chain's operator, reorganising away the block that anchored a department's erasure entry
    (past the finality window or not), so that the department's erasures log stops being anchored: the next
    anchoring (``ledger erase`` anchors at once) refused for good, blaming the database, and every later entry
    stayed off chain."""
    first, second = issue(own, "OWN", 2)
    snapshot = rpc(own, "evm_snapshot")
    erasure.erase(own, first["digest"], basis="court-order", by="officer-39")
    assert [e.state for e in logchain.entries(own, erasure.LOG, "OWN")] == ["anchored"]
    assert rpc(own, "evm_revert", snapshot) is True  # the anchoring's block leaves the canonical chain
    rpc(own, "anvil_mine", "0x3")  # and other blocks take its height
    found = logchain.check_log(own, erasure.LOG, "OWN")
    assert [(d.kind, d.seq) for d in found] == [("not_anchored", 1)], found  # seen while it is gone

    erasure.erase(own, second["digest"], basis="court-order", by="officer-39")  # raised StateError
    assert logchain.check_log(own, erasure.LOG, "OWN") == []
    assert [e.state for e in logchain.entries(own, erasure.LOG, "OWN")] == ["anchored", "anchored"]
    chain = own.chain
    assert chain.call(chain.log.functions.nextSequence(department_id_bytes("OWN"), logchain.log_id(erasure.LOG))) == 3


def test_a_schema_an_insider_changed_under_a_current_revision_is_reported_by_reconcile(
    ledger: Ledger, history: str
) -> None:
    """Adversary: an insider with database access (or one who left a migration half-done and stamped it done)
    dropping the log's unique constraint on sequence numbers, under the revision the database records: nothing
    reported it, and from then on nothing kept two rows (the insider's or the ledger's own concurrent appends) from
    one number."""

    def schema_findings() -> list[str]:
        report = reconcile.reconcile(ledger, departments=[history], check_bodies=False)
        return [d.detail for d in report.divergences if d.kind == "schema_altered"]

    assert schema_findings() == []
    with _without_unique_sequence_numbers(ledger):
        found = schema_findings()
        assert found and any("uq_logentry_log_department_seq" in d for d in found), found
    assert schema_findings() == []
    if ledger.engine.dialect.name != "postgresql":
        return
    # a column retyped so that the queries themselves fail (PostgreSQL: no LIKE on bytea): the driver's error alone
    # said nothing of why; reconcile names the schema's difference
    with ledger.engine.begin() as conn:
        conn.execute(text("ALTER TABLE logentry ALTER COLUMN body TYPE bytea USING convert_to(body, 'UTF8')"))
    try:
        with pytest.raises(
            StateError, match=r"migrations build \(1 difference\(s\), the first: modify_type logentry\.body"
        ):
            reconcile.reconcile(ledger, departments=[history], check_bodies=False)
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(text("ALTER TABLE logentry ALTER COLUMN body TYPE text USING convert_from(body, 'UTF8')"))
    assert schema_findings() == []


def test_a_table_renamed_under_the_ledger_stops_the_cli_and_the_gateway_with_what_differs(
    ledger: Ledger, history: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Adversary: an insider renaming (or retyping, or dropping) a table under the ledger. ``ledger replay`` stopped
    with the driver's traceback - the failing statement and, for a write, its parameters (an input's typed text) -
    and the gateway logged the same; neither said that the schema differed or what to do. Both now say the database
    refused a query (its error class), the command names what differs from the migrations, and neither the answer,
    the output nor the log holds a statement's parameters."""
    client = make_client(ledger, Clock())
    token = bearer(login(client, ledger, "AUD"))
    with ledger.engine.begin() as conn:
        conn.execute(text("ALTER TABLE logentry RENAME TO logentry_aside"))
    try:
        done = run_cli(ledger, "replay", "--department", history)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and "SELECT" not in done.stderr, done.stderr
        assert "error: the database refused a query (" in done.stderr, done.stderr
        assert "table logentry is missing from the database" in done.stderr, done.stderr
        assert "restore the schema" in done.stderr, done.stderr
        with caplog.at_level("ERROR", logger="api"):
            answer = client.get(f"/audit/logs/decisions?department={history}", headers=token)
        assert answer.status_code == 500, answer.text
        assert answer.json()["detail"].startswith("the gateway's database refused a query"), answer.text
        assert "SELECT" not in answer.text
        logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
        assert "database refused a query" in logged and "ledger reconcile" in logged, logged
        assert "SELECT" not in logged and "Traceback" not in logged, logged
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(text("ALTER TABLE logentry_aside RENAME TO logentry"))
    assert logchain.check_log(ledger, logchain.LOG_DECISIONS, history) == []


def test_a_failed_write_names_no_value_it_was_writing(ledger: Ledger) -> None:
    """Adversary: whoever reads the ledger's errors and logs (an operator's log shipper). A statement that failed
    showed its parameters in the error's text - on an insert of a decision's input, what the applicant typed - and
    that text reached tracebacks and logs. The engine hides them (``hide_parameters``)."""
    secret = "Room 1401, 88 Shennan Road"
    with pytest.raises(Exception) as failed, ledger.engine.begin() as conn:
        conn.execute(text("INSERT INTO no_such_table (premises) VALUES (:p)"), {"p": secret})
    assert secret not in str(failed.value) and secret not in repr(failed.value)


@contextmanager
def _one_row_set(ledger: Ledger, table: str, where: str, params: dict[str, Any], assignment: str) -> Iterator[None]:
    """The first row of ``table`` matching ``where`` with ``assignment`` applied (past the ledger), put back after."""
    pick = f"rowid IN (SELECT rowid FROM {table} WHERE {where} ORDER BY rowid LIMIT 1)"
    column = assignment.split("=")[0].strip()
    with ledger.engine.begin() as conn:
        saved = conn.execute(text(f"SELECT rowid, {column} FROM {table} WHERE {pick}"), params).one()
        conn.execute(text(f"UPDATE {table} SET {assignment} WHERE {pick}"), params)
    try:
        yield
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(text(f"UPDATE {table} SET {column} = :v WHERE rowid = :r"), {"v": saved[1], "r": saved[0]})


def test_odd_values_in_the_decision_and_status_tables_are_reported_not_a_traceback(
    ledger: Ledger, history: str
) -> None:
    """Adversary: an insider writing what the ledger never writes into the tables beside the logs (SQLite keeps any
    type in any column). A stored rule set that is JSON but no object stopped replay and reconcile with an
    AttributeError; a stored input that is not JSON, or no object, stopped the decision's evidence bundle; an
    applicant secret stored as text stopped a replay with workers with a TypeError; a status change whose detail is
    no hex stopped reconcile. Each is now reported as the alteration it is (or refused with the library's error
    naming the row), and the rest is checked."""
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps each column's type: these values cannot be stored")
    mine = {"d": history}
    with ledger.engine.connect() as conn:
        first = json.loads(
            conn.execute(
                text("SELECT body FROM logentry WHERE department_id = :d AND log = 'decisions' ORDER BY seq LIMIT 1"),
                mine,
            ).scalar_one()
        )
    for document in ("5", "'[]'"):
        with _one_row_set(ledger, "rulesetrecord", "department_id = :d", mine, f"document = {document}"):
            report = replay.replay(ledger, department=history, workers=0)
            assert "rule_set_altered" in {d.check for d in report.discrepancies}, (document, report.discrepancies)
            assert reconcile.reconcile(ledger, departments=[history], check_bodies=False) is not None
    for document in ("X'FF'", "5", "'[]'", "'{\"a\":'"):
        with (
            _one_row_set(
                ledger, "decisioninput", "digest = :i", {"i": first["input_digest"]}, f"document = {document}"
            ),
            pytest.raises(StateError, match=r"stored input 0x[0-9a-f]{64} .*was altered"),
        ):
            evidence.decision_bundle(ledger, history, first["case_id"])
    with (
        _one_row_set(ledger, "applicantsecret", "department_id = :d", mine, "sealed = 'x'"),
        pytest.raises(LedgerError, match="applicant secret"),
    ):
        replay.replay(ledger, department=history, workers=1)
    (doc,) = issue(ledger, history, 1)
    status.suspend(ledger, doc["digest"], "under-investigation", history)
    for detail in ("X'FF'", "'0xzz'"):
        with _one_row_set(ledger, "statuschange", "digest = :g", {"g": doc["digest"]}, f"detail = {detail}"):
            found = reconcile.reconcile(ledger, departments=[history], check_bodies=False)
            assert "status_change_missing" in {d.kind for d in found.divergences}, (detail, found.to_json())
    status.reinstate(ledger, doc["digest"], "grounds-resolved", history)  # a second row, of a text digest
    with _one_row_set(ledger, "statuschange", "digest = :g", {"g": doc["digest"]}, "digest = X'FF'"):
        found = reconcile.reconcile(ledger, departments=[history], check_bodies=False)
        assert {(d.kind, d.certificate) for d in found.divergences} == {("status_history", doc["digest"])}, found
    assert reconcile.reconcile(ledger, departments=[history], check_bodies=False).ok


def test_odd_values_in_a_permits_index_row_its_cited_copy_and_a_sign_in_challenge(
    ledger: Ledger, tmp_path: Path
) -> None:
    """Adversary: the same insider, on the rows a permit and a sign-in leave. A permit's index row whose decision
    number is text made the anonymous public timeline of the permit answer 500; a cited copy whose sealed bytes
    are text stopped replay and the decision's evidence bundle with a TypeError; a sign-in challenge whose text is
    a blob made the token exchange answer 500. Now the timeline reads the decision from the log's mentions, the
    copy counts as altered (replay reports the citation), and the exchange is refused (401)."""
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps each column's type: these values cannot be stored")
    code = "RT39BP"
    Council(ledger).register(
        code, "Red team 39b permits", ROLE_ISSUER | ROLE_VERIFIER | ROLE_APPROVER, types=TEST_TYPES, items=TEST_ITEMS
    )
    rules = permit_support.permit_rules(code)
    decisions.publish_rule_set(ledger, rules, code)
    licence, holder = permit_support.fresh_licence(ledger, tmp_path, "rt39bp")
    app = {**permit_support.application("P-1", licence), "certificates": [licence]}  # the licence cited inline
    decided = decisions.decide(ledger, code, "P-1", app["service_item"], app, rules, applicant_ref=holder)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, code)
    permit = decided.body["issued"]["certificate"]
    client = make_client(ledger, Clock())
    with _one_row_set(ledger, "producedcertificate", "digest = :g", {"g": permit}, "decision_seq = 'x'"):
        timeline = client.get(f"/public/certificates/{permit}/timeline")
        assert timeline.status_code == 200, timeline.text
    cited = "ref IN (SELECT ref FROM inputcitation WHERE input_digest = :i)"
    with _one_row_set(ledger, "citeddocument", cited, {"i": decided.body["input_digest"]}, "sealed = 'x'"):
        report = replay.replay(ledger, department=code, workers=0)
        assert not report.ok, report
        assert evidence.decision_bundle(ledger, code, "P-1")["cited"] == [None]
    assert replay.replay(ledger, department=code, workers=0).ok
    challenge = client.post("/auth/challenge", json={"department": code}).json()
    with ledger.engine.begin() as conn:
        conn.execute(text("UPDATE auth_challenge SET message = X'FF' WHERE id = :i"), {"i": challenge["challenge_id"]})
    signature = sign_challenge(ledger.department_account(code), challenge["message"])
    token = client.post("/auth/token", json={"challenge_id": challenge["challenge_id"], "signature": signature})
    assert token.status_code == 401 and "altered" in token.json()["detail"], token.text
    assert login(client, ledger, code)  # a new challenge signs in
