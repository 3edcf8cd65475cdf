"""Schema migrations, on the real database (SQLite, or PostgreSQL with LEDGER_TEST_DATABASE_URL).

Adversaries: an insider or a rollback that runs old code on a database a newer ledger migrated (the old code
would misread columns it does not know: refused, untouched); an operator upgrading a deployment (rows survive);
a developer changing a table without writing its migration (this module fails).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import SQLModel

from ledger.cli import main
from ledger.errors import ConfigError
from ledger.formats.merkle import MerkleTree
from ledger.storage import migrations
from ledger.storage.models import Batch, Certificate, Grant, aware, metadata
from ledger.storage.store import batch_proof, open_engine

from .conftest import database_url

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BATCH = {
    "root": "0x" + MerkleTree([b"\x55" * 32]).root.hex(),  # a one-certificate batch: the root of its digest
    "department_id": "MKT",
    "schema_id": "0x" + "22" * 32,
    "count": 1,
    "state": "confirmed",
    "signer": "0x" + "33" * 20,
    "signature": "0x" + "44" * 65,
    "created_at": NOW,
}
CERTIFICATE = {
    "digest": "0x" + "55" * 32,
    "batch_root": BATCH["root"],
    "leaf_index": 0,
    "certificate_id": "BL-1",
    "department_id": "MKT",
    "cert_type": "business-licence",
    "issued_at": "2026-03-01T12:00:00Z",
    "proof": b"",  # a one-leaf tree's proof is empty
    "sealed": b"sealed bytes",
    "status": "valid",
}


@pytest.fixture()
def url(tmp_path: Path) -> str:
    return database_url(tmp_path) or f"sqlite:///{tmp_path / 'ledger.sqlite3'}"


def _table(conn: sa.Connection, model: type[SQLModel]) -> sa.Table:
    """The table as the database has it now (at an older revision it may lack columns the model has)."""
    return sa.Table(model.__tablename__, sa.MetaData(), autoload_with=conn)


def _rows(engine: sa.Engine, model: type[SQLModel]) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(_table(conn, model)))]


def _model_rows(engine: sa.Engine, model: type[SQLModel]) -> list[dict[str, object]]:
    """Rows as the library sees them (hashes as ``0x`` texts, whatever their storage form)."""
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(model.__table__))]  # type: ignore[attr-defined]


def _version(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")]


def test_the_migrations_build_exactly_the_models(url: str) -> None:
    """The hygiene check: change a table in ledger/storage/models.py without a migration and this fails
    (write it with scripts/new_migration.py; docs/database.md)."""
    engine = open_engine(url)
    assert migrations.state(engine).up_to_date
    assert migrations.differences(engine) == [], (
        "ledger/storage/models.py and ledger/migrations disagree: write a migration (scripts/new_migration.py)"
    )
    engine.dispose()


def test_the_check_sees_a_table_changed_without_a_migration(url: str) -> None:
    """The comparison is not vacuous: a column the models gained but no migration added is reported."""
    engine = open_engine(url)
    changed = sa.MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["certificate"].append_column(sa.Column("holder_note", sa.String(64), nullable=True))
    with engine.connect() as conn:
        from alembic.autogenerate import compare_metadata
        from alembic.runtime.migration import MigrationContext

        diffs = compare_metadata(MigrationContext.configure(conn), changed)
    assert [(d[0], d[3].name) for d in diffs if d[0] == "add_column"] == [("add_column", "holder_note")]
    engine.dispose()


def test_every_revision_step_by_step_ends_at_the_same_schema(url: str) -> None:
    engine = open_engine(url, migrate=False)
    revisions = migrations._revisions()
    assert revisions[0] == "0001" and revisions[-1] == migrations.head()
    for revision in revisions:
        assert migrations.upgrade(engine, revision)[1] == revision
    assert migrations.differences(engine) == []
    # The downgrades (never run by the ledger, there for a developer) take it back to nothing, and up again.
    with engine.connect() as conn:
        command.downgrade(migrations.config(conn), "base")
        conn.commit()
        assert not set(sa.inspect(conn).get_table_names()) & set(metadata.tables)
    assert migrations.upgrade(engine) == (None, migrations.head())
    assert migrations.differences(engine) == []
    engine.dispose()


def test_a_database_at_an_older_revision_is_upgraded_on_open_without_losing_rows(url: str) -> None:
    old = open_engine(url, migrate=False)
    assert migrations.upgrade(old, "0001") == (None, "0001")
    with old.begin() as conn:
        conn.execute(sa.insert(_table(conn, Batch)), [BATCH])
        conn.execute(sa.insert(_table(conn, Certificate)), [CERTIFICATE])
        assert not sa.inspect(conn).has_table("certificate_grant")  # 0002's table: not there yet
    before = (_rows(old, Batch), _rows(old, Certificate))
    old.dispose()

    engine = open_engine(url)  # what every `ledger` command and the gateway do
    assert _version(engine) == [migrations.head()]
    after = (_model_rows(engine, Batch), _model_rows(engine, Certificate))

    # every row and value kept (a later revision may add columns: the old ones are compared; 0004 replaced the
    # per-certificate proof by the batch's leaves, from which the same proof is recomputed)
    def same(value: object) -> object:  # a reflected column hands back naive datetimes, the model aware ones
        return aware(value) if isinstance(value, datetime) else value

    assert [
        [{k: same(row[k]) for k in old_row if k != "proof"} for row, old_row in zip(rows, old_rows, strict=True)]
        for rows, old_rows in zip(after, before, strict=True)
    ] == [[{k: same(v) for k, v in row.items() if k != "proof"} for row in rows] for rows in before]
    assert b"".join(batch_proof(after[0][0]["leaves"], after[0][0]["nodes"], 0)) == CERTIFICATE["proof"]  # type: ignore[arg-type]
    assert _rows(engine, Certificate)[0]["sealed"] == b"sealed bytes"
    with engine.begin() as conn:  # the new revision's tables work
        conn.execute(
            sa.insert(Grant.__table__),
            [
                {  # type: ignore[attr-defined]
                    "id": "g1",
                    "digest": CERTIFICATE["digest"],
                    "issuer": "MKT",
                    "grantee": "INS",
                    "purpose": "claim",
                    "created_by": BATCH["signer"],
                    "created_at": NOW,
                    "expires_at": NOW,
                }
            ],
        )
    assert len(_rows(engine, Grant)) == 1
    engine.dispose()


def test_a_database_from_a_newer_ledger_is_refused_and_left_untouched(url: str) -> None:
    engine = open_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Batch.__table__), [{**BATCH, "leaves": b"\x55" * 32, "nodes": bytes.fromhex(BATCH["root"][2:])}]
        )  # type: ignore[attr-defined]
        # What a newer ledger leaves: a revision this code has never seen (and, say, a column it does not know).
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099_future'")
        conn.exec_driver_sql("ALTER TABLE batch ADD COLUMN future_flag INTEGER")
    engine.dispose()

    with pytest.raises(ConfigError, match=r"revision '0099_future'.*does not\s+know.*newer version of the ledger"):
        open_engine(url)
    probe = open_engine(url, migrate=False)
    with pytest.raises(ConfigError, match="newer version"):
        migrations.upgrade(probe)
    with pytest.raises(ConfigError, match="newer version"):
        migrations.current(probe)
    assert _version(probe) == ["0099_future"]  # nothing was stamped over it
    assert [r["root"] for r in _model_rows(probe, Batch)] == [BATCH["root"]]
    probe.dispose()


def test_a_database_made_before_migrations_is_adopted_only_if_its_tables_are_the_models(url: str) -> None:
    legacy = open_engine(url, migrate=False)
    core = [metadata.tables[name] for name in ("batch", "certificate", "statuschange", "logentry", "loganchor")]
    metadata.create_all(legacy, tables=core)  # what create_all left before migrations (no gateway tables yet)
    with legacy.begin() as conn:
        conn.execute(
            sa.insert(Batch.__table__), [{**BATCH, "leaves": b"\x55" * 32, "nodes": bytes.fromhex(BATCH["root"][2:])}]
        )  # type: ignore[attr-defined]
        conn.exec_driver_sql("CREATE TABLE operator_notes (note VARCHAR(10))")  # not ours: left alone
    assert migrations.state(legacy).legacy
    legacy.dispose()

    engine = open_engine(url)
    assert _version(engine) == [migrations.head()]
    assert migrations.differences(engine) == []
    assert [r["root"] for r in _model_rows(engine, Batch)] == [BATCH["root"]]
    assert sa.inspect(engine).has_table("operator_notes")
    engine.dispose()


def test_a_pre_migration_database_whose_tables_differ_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    legacy = open_engine(url, migrate=False)
    with legacy.begin() as conn:  # an older ledger's certificate table, without superseded_by
        conn.exec_driver_sql("CREATE TABLE certificate (digest VARCHAR(66) PRIMARY KEY, status VARCHAR(16))")
        conn.exec_driver_sql("INSERT INTO certificate VALUES ('0xab', 'valid')")
    legacy.dispose()
    with pytest.raises(ConfigError, match="no schema revision, and they differ"):
        open_engine(url)
    check = open_engine(url, migrate=False)
    with check.connect() as conn:
        assert list(conn.exec_driver_sql("SELECT digest, status FROM certificate")) == [("0xab", "valid")]
        assert not sa.inspect(conn).has_table("alembic_version")
    check.dispose()


def test_processes_opening_a_new_database_at_once_migrate_it_once(url: str, tmp_path: Path) -> None:
    """Four openers of one new database: one migrates, the others wait and find it done. On SQLite this is done
    for 40 new files: ``PRAGMA journal_mode=WAL`` could answer "database is locked" at once, without waiting,
    while another opener held the file (about one new database in thirteen; seen in CI)."""
    urls = [url] if not url.startswith("sqlite") else [f"sqlite:///{tmp_path / f'new{n}.sqlite3'}" for n in range(40)]
    for each in urls:
        errors: list[BaseException] = []

        def open_it(target: str = each, errors: list[BaseException] = errors) -> None:
            try:
                open_engine(target).dispose()
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        engine = open_engine(each, migrate=False)
        assert _version(engine) == [migrations.head()]
        engine.dispose()


def test_ledger_db_current_and_upgrade(
    tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if url.startswith("sqlite"):
        monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("LEDGER_DATABASE_URL", url)
    data = ["--data-dir", str(tmp_path / "data")]
    assert main([*data, "db", "current"]) == 1  # nothing yet: behind
    assert '"current": null' in capsys.readouterr().out
    assert main([*data, "db", "upgrade", "--revision", "0001"]) == 0
    assert '"after": "0001"' in capsys.readouterr().out
    assert main([*data, "db", "current"]) == 1
    assert "behind" in capsys.readouterr().out
    assert main([*data, "db", "upgrade"]) == 0
    assert f'"after": "{migrations.head()}"' in capsys.readouterr().out
    assert main([*data, "db", "current"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main([*data, "db", "upgrade", "--revision", "0001"]) == 0  # backwards: nothing happens
    assert f'"after": "{migrations.head()}"' in capsys.readouterr().out
    assert main([*data, "db", "upgrade", "--revision", "nonsense"]) == 2
    assert "no schema revision 'nonsense'" in capsys.readouterr().err
    assert main([*data, "db", "current"]) == 0


def _pre_0004_store(url: str, count: int) -> tuple[sa.Engine, list[dict[str, object]]]:
    """A store at revision 0003 holding one batch of ``count`` certificates with their proofs stored per row, as
    issuance wrote them before 0004 (``b"".join(tree.proof(i))``)."""
    digests = [bytes([i % 251, i // 251]) * 16 for i in range(count)]
    tree = MerkleTree(digests)
    old = open_engine(url, migrate=False)
    migrations.upgrade(old, "0003")
    batch = {**BATCH, "root": "0x" + tree.root.hex(), "count": count}
    certificates = [
        {
            **CERTIFICATE,
            "digest": "0x" + d.hex(),
            "batch_root": batch["root"],
            "leaf_index": i,
            "certificate_id": f"BL-{i}",
            "proof": b"".join(tree.proof(i)),
        }
        for i, d in enumerate(digests)
    ]
    with old.begin() as conn:
        conn.execute(sa.insert(_table(conn, Batch)), [batch])
        conn.execute(sa.insert(_table(conn, Certificate)), certificates)
    return old, certificates


def test_0004_recomputes_every_stored_proof_byte_for_byte(url: str) -> None:
    """The per-certificate proof column goes; the proof recomputed from the batch's leaves is the one stored."""
    old, certificates = _pre_0004_store(url, 203)  # four runs of 64 leaves, the last one short
    old.dispose()
    engine = open_engine(url)
    [batch] = _model_rows(engine, Batch)
    rows = {r["digest"]: r for r in _model_rows(engine, Certificate)}
    assert "proof" not in next(iter(rows.values()))
    assert len(rows) == len(certificates)
    for cert in certificates:
        row = rows[cert["digest"]]
        assert row["batch_root"] == batch["root"] and row["leaf_index"] == cert["leaf_index"]
        assert b"".join(batch_proof(batch["leaves"], batch["nodes"], cert["leaf_index"])) == cert["proof"]  # type: ignore[arg-type]
    assert migrations.differences(engine) == []
    engine.dispose()


@pytest.mark.parametrize("tamper", ["delete", "leaf_index", "digest"])
def test_0004_refuses_a_store_whose_rows_no_longer_rebuild_their_batch(url: str, tamper: str) -> None:
    """Adversary: an insider who deleted or edited certificate rows before the upgrade. Their batch's proofs
    cannot be recomputed from what is left, and dropping the stored proofs would lose those of the intact rows
    too: the upgrade refuses and changes nothing (the store stays at 0003 with every proof)."""
    old, certificates = _pre_0004_store(url, 5)
    table = sa.table("certificate", sa.column("digest"), sa.column("leaf_index"))
    victim = certificates[2]["digest"]
    with old.begin() as conn:
        if tamper == "delete":
            conn.execute(sa.delete(table).where(table.c.digest == victim))
        elif tamper == "leaf_index":
            conn.execute(sa.update(table).where(table.c.digest == victim).values(leaf_index=7))
        else:
            conn.execute(sa.update(table).where(table.c.digest == victim).values(digest="0x" + "ee" * 32))
    before = _rows(old, Certificate)
    old.dispose()
    with pytest.raises(ConfigError, match=r"do not rebuild its root.*Nothing was changed"):
        open_engine(url)
    probe = open_engine(url, migrate=False)
    assert _version(probe) == ["0003"]
    assert _rows(probe, Certificate) == before  # every stored proof still there
    probe.dispose()


def test_0005_keys_every_stored_decision_by_its_case(url: str) -> None:
    """Entries stored before 0005 get the lookup key their case id gives (so a case's earlier decisions are still
    found, and a retried request still gets no second decision); an entry naming no case, or one an insider
    edited into junk, gets none."""
    from ledger.services.logchain import LogEntry, lookup_key

    old = open_engine(url, migrate=False)
    assert migrations.upgrade(old, "0004") == (None, "0004")
    bodies = [
        '{"case_id":"CASE-1","outcome":"approve"}',
        '{"case_id":"CASE-é\\"%_","outcome":"refer"}',  # escapes and LIKE's wildcards in the case id
        '{"format":"pl-supervision/1","kind":"inspection_draw"}',
        '{not json "case_id":',
        '{"case_id":7}',
    ]
    rows = [
        {
            "log": "decisions",
            "department_id": "GOV",
            "seq": i + 1,
            "body": body,
            "entry_hash": "0x" + f"{i + 1:02x}" * 32,
            "prev_hash": "0x" + "00" * 32,
            "created_at": NOW,
            "state": "pending",
        }
        for i, body in enumerate(bodies)
    ]
    with old.begin() as conn:
        conn.execute(sa.insert(_table(conn, LogEntry)), rows)
    old.dispose()
    engine = open_engine(url)
    with engine.connect() as conn:
        keys = dict(conn.execute(sa.select(LogEntry.seq, LogEntry.lookup).order_by(LogEntry.seq)).all())  # type: ignore[call-overload]
    assert keys == {1: lookup_key("CASE-1"), 2: lookup_key('CASE-é"%_'), 3: None, 4: None, 5: None}
    assert migrations.differences(engine) == []
    engine.dispose()


def test_0006_keys_every_stored_read_by_its_certificate(url: str) -> None:
    """Access-log entries stored before 0006 get the key of the certificate they are about, so a certificate's
    reads (its issuer's and auditors' listing, its data subject's, its timeline) still include every earlier read;
    a decision keeps its case key, and an entry an insider edited into junk gets none."""
    from ledger.services.logchain import LogEntry, lookup_key

    old = open_engine(url, migrate=False)
    assert migrations.upgrade(old, "0005") == (None, "0005")
    digest = "0x" + "ab" * 32
    bodies = [
        ("access", f'{{"action":"read","certificate":"{digest}","outcome":"served"}}'),
        ("access", '{"action":"grant","certificate":"0x' + "cd" * 32 + '","case_id":"CASE-9"}'),
        ("access", '{not json "certificate":'),
        ("access", '{"certificate":7}'),
        ("decisions", '{"case_id":"CASE-1","certificate":"0x' + "ab" * 32 + '"}'),
    ]
    rows = [
        {
            "log": log,
            "department_id": "GOV",
            "seq": i + 1,
            "body": body,
            "lookup": lookup_key("CASE-1") if log == "decisions" else None,
            "entry_hash": "0x" + f"{i + 1:02x}" * 32,
            "prev_hash": "0x" + "00" * 32,
            "created_at": NOW,
            "state": "pending",
        }
        for i, (log, body) in enumerate(bodies)
    ]
    with old.begin() as conn:
        conn.execute(sa.insert(_table(conn, LogEntry)), rows)
    old.dispose()
    engine = open_engine(url)
    with engine.connect() as conn:
        keys = dict(conn.execute(sa.select(LogEntry.seq, LogEntry.lookup).order_by(LogEntry.seq)).all())  # type: ignore[call-overload]
    assert keys == {1: lookup_key(digest), 2: lookup_key("0x" + "cd" * 32), 3: None, 4: None, 5: lookup_key("CASE-1")}
    assert migrations.differences(engine) == []
    engine.dispose()


def test_0007_links_every_stored_input_to_the_copies_it_names(url: str) -> None:
    """Inputs stored before 0007 get a link to each cited copy they name, so a decision refused after 0007 never
    removes a copy an older decision's input still needs for replay; text naming no copy (a made-up reference,
    junk an insider wrote) gets none."""
    from ledger.storage.models import DecisionInput, InputCitation

    old = open_engine(url, migrate=False)
    assert migrations.upgrade(old, "0006") == (None, "0006")
    first, second = "0x" + "a1" * 32, "0x" + "b2" * 32
    documents = {
        "0x" + "01" * 32: f'{{"certificates":[{{"document_ref":"{first}"}},"0x{"cc" * 32}",'
        f'{{"document_ref":"{second}"}},{{"document_ref":"{first}"}}],"case_id":"C-1"}}',
        "0x" + "02" * 32: f'{{"certificates":[{{"document_ref":"{first}"}}]}}',
        "0x" + "03" * 32: '{"certificates":[{"document_ref":"not an address"},{"document_ref":7}]}',
        "0x" + "04" * 32: f'{{not json "document_ref":"{first}"',
        "0x" + "05" * 32: f'{{"certificates":{{"document_ref":"{first}"}}}}',
    }
    with old.begin() as conn:
        conn.execute(
            sa.insert(_table(conn, DecisionInput)), [{"digest": d, "document": t} for d, t in documents.items()]
        )
    old.dispose()
    engine = open_engine(url)
    with engine.connect() as conn:
        links = set(conn.execute(sa.select(InputCitation.input_digest, InputCitation.ref)).all())  # type: ignore[call-overload]
    assert links == {("0x" + "01" * 32, first), ("0x" + "01" * 32, second), ("0x" + "02" * 32, first)}
    assert migrations.differences(engine) == []
    engine.dispose()


def test_0008_indexes_every_stored_decision_by_the_certificates_it_names(url: str) -> None:
    """Decisions stored before 0008 get a mention row for each certificate they cite or issued, so a certificate's
    timeline (read by index from 0008 on) still names every earlier decision; an access-log entry and a body an
    insider edited into junk get none."""
    from ledger.services.logchain import LogEntry
    from ledger.storage.models import LogMention

    old = open_engine(url, migrate=False)
    assert migrations.upgrade(old, "0007") == (None, "0007")
    cited, issued, other = "0x" + "ab" * 32, "0x" + "cd" * 32, "0x" + "ef" * 32
    bodies = [
        (
            "decisions",
            f'{{"case_id":"C-1","certificates":[{{"digest":"{cited}"}},{{"digest":null}}],'
            f'"issued":{{"certificate":"{issued}"}}}}',
        ),
        ("decisions", f'{{"case_id":"C-2","certificates":[{{"digest":"{cited}"}},{{"digest":"{cited}"}}]}}'),
        ("decisions", f'{{not json "digest":"{other}"'),
        ("decisions", f'{{"case_id":"C-4","certificates":[{{"digest":"{other.upper()}"}}],"issued":7}}'),
        ("access", f'{{"action":"read","certificate":"{other}","certificates":[{{"digest":"{other}"}}]}}'),
    ]
    rows = [
        {
            "log": log,
            "department_id": "GOV",
            "seq": i + 1,
            "body": body,
            "lookup": None,
            "entry_hash": "0x" + f"{i + 1:02x}" * 32,
            "prev_hash": "0x" + "00" * 32,
            "created_at": NOW,
            "state": "pending",
        }
        for i, (log, body) in enumerate(bodies)
    ]
    with old.begin() as conn:
        conn.execute(sa.insert(_table(conn, LogEntry)), rows)
    old.dispose()
    engine = open_engine(url)
    with engine.connect() as conn:
        found = set(conn.execute(sa.select(LogMention.log, LogMention.seq, LogMention.digest)).all())  # type: ignore[call-overload]
    assert found == {("decisions", 1, cited), ("decisions", 1, issued), ("decisions", 2, cited)}
    assert migrations.differences(engine) == []
    engine.dispose()


def _pre_0012_store(url: str) -> tuple[sa.Engine, list[dict[str, object]], list[dict[str, object]]]:
    """A store at 0011 as the ledger wrote it then: two departments' decision logs, each anchored in three ranges
    (two confirmed, the last prepared) and a few entries pending; every anchored entry's row holding its anchor's
    root, its leaf index, its proof and its state."""
    from ledger.services.logchain import compute_entry_hash

    old = open_engine(url, migrate=False)
    assert migrations.upgrade(old, "0011") == (None, "0011")
    entries: list[dict[str, object]] = []
    anchors: list[dict[str, object]] = []
    for department in ("MKT", "GOV"):
        prev = "0x" + "00" * 32
        mine = []
        for seq in range(1, 151):
            body = f'{{"case_id":"C-{seq}","department":"{department}"}}'
            entry_hash = compute_entry_hash("decisions", department, seq, prev, body)
            mine.append(
                {
                    "log": "decisions",
                    "department_id": department,
                    "seq": seq,
                    "body": body,
                    "lookup": None,
                    "entry_hash": entry_hash,
                    "prev_hash": prev,
                    "created_at": NOW,
                    "batch_root": None,
                    "leaf_index": None,
                    "proof": None,
                    "state": "pending",
                }
            )
            prev = entry_hash
        for first, last, state in ((1, 64, "anchored"), (65, 140, "anchored"), (141, 145, "prepared")):
            batch = mine[first - 1 : last]
            tree = MerkleTree([bytes.fromhex(str(e["entry_hash"])[2:]) for e in batch])
            root = "0x" + tree.root.hex()
            for i, (entry, proof) in enumerate(zip(batch, tree.proofs(), strict=True)):
                entry.update(
                    batch_root=root,
                    leaf_index=i,
                    proof=proof,
                    state="anchored" if state == "anchored" else "submitted",
                )
            anchors.append(
                {
                    "root": root,
                    "log": "decisions",
                    "department_id": department,
                    "first_seq": first,
                    "last_seq": last,
                    "head_hash": batch[-1]["entry_hash"],
                    "signer": "0x" + "33" * 20,
                    "signature": "0x" + "44" * 65,
                    "state": state,
                    "tx_hash": "0x" + "66" * 32 if state == "anchored" else None,
                    "block_number": 7 if state == "anchored" else None,
                    "created_at": NOW,
                    "anchored_at": NOW if state == "anchored" else None,
                }
            )
        entries.extend(mine)
    with old.begin() as conn:
        conn.execute(sa.insert(sa.Table("logentry", sa.MetaData(), autoload_with=conn)), entries)
        conn.execute(sa.insert(sa.Table("loganchor", sa.MetaData(), autoload_with=conn)), anchors)
    return old, entries, anchors


_ANCHORING = ("batch_root", "leaf_index", "proof", "state")


def test_0012_derives_every_entrys_anchoring_as_it_was_stored(url: str) -> None:
    """The entries' anchoring columns go; what each entry's anchor row gives (its root, leaf, proof rebuilt from the
    row's leaves and run roots, and state) is what the entry's row held, and every other value is kept."""
    from ledger.services import logchain
    from ledger.storage.models import LogAnchor, LogEntry

    old, entries, anchors = _pre_0012_store(url)
    old.dispose()
    engine = open_engine(url)
    assert _version(engine) == [migrations.head()]
    kept = [{k: v for k, v in e.items() if k not in _ANCHORING} for e in entries]
    after = sorted(_rows(engine, LogEntry), key=lambda r: (r["department_id"], r["seq"]))
    assert [r["mark"] for r in after] == [None] * len(after)  # 0019: written before marks existed
    assert [
        {k: (aware(v) if isinstance(v, datetime) else v) for k, v in r.items() if k not in ("id", "mark")}
        for r in after
    ] == sorted(
        kept,
        key=lambda r: (r["department_id"], r["seq"]),  # type: ignore[arg-type, return-value]
    )
    stored = {a["root"]: a for a in _model_rows(engine, LogAnchor)}
    assert {
        r: {k: (aware(v) if isinstance(v, datetime) else v) for k, v in a.items() if k not in ("leaves", "nodes")}
        for r, a in stored.items()
    } == {a["root"]: {k: (aware(v) if isinstance(v, datetime) else v) for k, v in a.items()} for a in anchors}
    with engine.connect() as conn:
        for department in ("MKT", "GOV"):
            spans = logchain._spans(conn, "decisions", department)
            for e in (e for e in entries if e["department_id"] == department):
                span = spans.holding(int(e["seq"]))  # type: ignore[call-overload]
                if span is None:
                    assert (e["batch_root"], e["state"]) == (None, "pending")
                    continue
                leaf = int(e["seq"]) - span.first_seq  # type: ignore[call-overload]
                anchor = stored[span.root]
                proof = b"".join(batch_proof(anchor["leaves"], anchor["nodes"], leaf))  # type: ignore[arg-type]
                derived = (span.root, leaf, proof, logchain._ENTRY_STATE[span.state])
                assert derived == tuple(e[k] for k in _ANCHORING)
    assert migrations.differences(engine) == []
    engine.dispose()


@pytest.mark.parametrize("tamper", ["delete", "proof", "state", "claimed", "anchor_gone", "backwards"])
def test_0012_refuses_a_store_whose_entries_do_not_match_their_anchors(url: str, tamper: str) -> None:
    """Adversary: an insider who deleted an anchored entry, edited one's stored proof or state, made a pending entry
    claim an anchor, or deleted an anchor row, before the upgrade. What the anchor rows would give those entries is
    not what their rows say, and dropping the columns would lose it: the upgrade refuses and changes nothing (the
    store stays at 0011, every row as it was), so the previous version's check_log still reports it."""
    old, _entries, anchors = _pre_0012_store(url)
    table = sa.table(
        "logentry",
        sa.column("department_id"),
        sa.column("seq"),
        sa.column("proof"),
        sa.column("state"),
        sa.column("batch_root"),
    )
    victim = (table.c.department_id == "GOV", table.c.seq == 70)
    with old.begin() as conn:
        if tamper == "delete":
            conn.execute(sa.delete(table).where(*victim))
        elif tamper == "proof":
            conn.execute(sa.update(table).where(*victim).values(proof=b"\x01" * 32))
        elif tamper == "state":
            conn.execute(sa.update(table).where(*victim).values(state="pending"))
        elif tamper == "claimed":
            pending = (table.c.department_id == "GOV", table.c.seq == 150)
            conn.execute(sa.update(table).where(*pending).values(batch_root=anchors[-1]["root"], state="submitted"))
        elif tamper == "backwards":  # red team round 24: a range holding no entry rebuilt an empty tree (InputError)
            forged = {**anchors[-1], "root": "0x" + "ab" * 32, "first_seq": 500, "last_seq": 499}
            conn.execute(sa.insert(sa.table("loganchor", *(sa.column(k) for k in forged))).values(**forged))
        else:
            conn.execute(sa.text("DELETE FROM loganchor WHERE root = :r"), {"r": anchors[-1]["root"]})
    with old.connect() as conn:
        before = [tuple(r) for r in conn.execute(sa.text("SELECT * FROM logentry ORDER BY department_id, seq"))]
        anchors_before = [tuple(r) for r in conn.execute(sa.text("SELECT * FROM loganchor ORDER BY root"))]
    old.dispose()
    with pytest.raises(ConfigError, match=r"cannot move the logs' anchoring.*Nothing was changed"):
        open_engine(url)
    probe = open_engine(url, migrate=False)
    assert _version(probe) == ["0011"]
    with probe.connect() as conn:
        assert [tuple(r) for r in conn.execute(sa.text("SELECT * FROM logentry ORDER BY department_id, seq"))] == before
        assert [tuple(r) for r in conn.execute(sa.text("SELECT * FROM loganchor ORDER BY root"))] == anchors_before
    probe.dispose()


def test_0013_stores_each_decision_and_erasure_at_the_time_its_body_states(url: str) -> None:
    """Decisions and erasures stored before 0013 at their append time get the instant their body states (red team
    round 34g: the listings' time windows select on it); a body stating none, or not JSON, and the access log (whose
    check reports a moved row, which a rewrite would hide) keep theirs."""
    from ledger.services.logchain import LogEntry

    old = open_engine(url, migrate=False)
    assert migrations.upgrade(old, "0012") == (None, "0012")
    appended = datetime(2026, 3, 1, 12, 0, 0, 417352, tzinfo=UTC)
    logged = [
        ("decisions", '{"case_id":"C-1","decided_at":"2026-03-01T12:00:00.125Z"}'),
        ("decisions", '{"format":"pl-supervision/1","kind":"inspection_draw","drawn_at":"2026-03-01T11:00:00+08:00"}'),
        ("decisions", '{"format":"pl-supervision/1","kind":"inspector_list"}'),
        ("decisions", '{not json "decided_at":'),
        ("erasures", '{"at":"2026-03-01T12:00:00Z","certificate":"0x55"}'),
        ("erasures", '{"cited_in":[],"erased":"0x55"}'),
        ("access", '{"at":"2026-02-01T00:00:00Z","certificate":"0x55"}'),
    ]
    rows = [
        {
            "log": log,
            "department_id": "GOV",
            "seq": i + 1,
            "body": body,
            "entry_hash": "0x" + f"{i + 1:02x}" * 32,
            "prev_hash": "0x" + "00" * 32,
            "created_at": appended,
        }
        for i, (log, body) in enumerate(logged)
    ]
    with old.begin() as conn:
        conn.execute(sa.insert(_table(conn, LogEntry)), rows)
    old.dispose()
    engine = open_engine(url)
    with engine.connect() as conn:
        stored = [aware(t) for t in conn.execute(sa.select(LogEntry.created_at).order_by(LogEntry.seq)).scalars()]  # type: ignore[arg-type]
    assert stored == [
        datetime(2026, 3, 1, 12, 0, 0, 125000, tzinfo=UTC),
        datetime(2026, 3, 1, 3, 0, tzinfo=UTC),
        appended,
        appended,
        datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        appended,
        appended,
    ]
    assert migrations.differences(engine) == []
    engine.dispose()


# What a revision may take from the library: the root error type and the readers of formats the project versions and
# never changes in place (RFC 8785 JSON as ``json_loads`` reads it, the pl-merkle tree). Anything else - what a body
# means, which member states its time, how a row is keyed - is copied into the revision as it was when written, so
# that a later change of the library cannot change what an old revision does to a database that upgrades through it.
_REVISION_MAY_IMPORT = {
    "ledger.errors": {"ConfigError"},
    "ledger.formats.canonical": {"json_loads"},
    "ledger.formats.merkle": {"MerkleTree"},
}


def test_no_revision_takes_a_meaning_from_the_library_that_may_change_after_it() -> None:
    """A revision is frozen: it imports from the library only the error type and the fixed formats' readers."""
    import ast

    found: list[str] = []
    for path in sorted((migrations.SCRIPT_LOCATION / "versions").glob("[0-9]*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found += [f"{path.name}: import {a.name}" for a in node.names if a.name.split(".")[0] == "ledger"]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ledger":
                allowed = _REVISION_MAY_IMPORT.get(node.module or "", set())
                found += [f"{path.name}: {node.module}.{a.name}" for a in node.names if a.name not in allowed]
            elif isinstance(node, ast.ImportFrom) and node.level:
                found.append(f"{path.name}: a relative import")
    assert found == []


def test_0015_sets_the_copies_labelled_as_no_certificates_to_be_labelled_again(url: str) -> None:
    """A cited copy labelled ``""`` (no certificate digest found by the reader before round 40, which missed claims
    in arrays, named by IRI or expanded) is set back to NULL, so that ``ledger erase`` labels it again with the
    reader that finds them; a labelled copy and an unlabelled one are left as they are."""
    from ledger.storage.models import CitedDocument

    old = open_engine(url, migrate=False)
    assert migrations.upgrade(old, "0014") == (None, "0014")
    rows = [
        {"ref": "0x" + "01" * 32, "sealed": b"a", "digest": ""},
        {"ref": "0x" + "02" * 32, "sealed": b"b", "digest": "0x" + "55" * 32},
        {"ref": "0x" + "03" * 32, "sealed": b"c", "digest": None},
    ]
    with old.begin() as conn:
        conn.execute(sa.insert(_table(conn, CitedDocument)), rows)
    old.dispose()
    engine = open_engine(url)
    assert {r["ref"]: r["digest"] for r in _rows(engine, CitedDocument)} == {
        "0x" + "01" * 32: None,
        "0x" + "02" * 32: "0x" + "55" * 32,
        "0x" + "03" * 32: None,
    }
    assert migrations.differences(engine) == []
    engine.dispose()


def test_0018_keys_every_stored_erasure_by_its_certificate(url: str) -> None:
    """Erasures-log entries stored before 0018 naming a certificate get its key, so a supersession of a certificate
    erased before the upgrade finds its entry (``erasure.recorded_entry``); a case erasure keeps its case key, and
    an entry naming none, or edited into junk, and the other logs keep theirs. The downgrade gives back the keys the
    previous version wrote."""
    from ledger.services.logchain import LogEntry, lookup_key

    old = open_engine(url, migrate=False)
    assert migrations.upgrade(old, "0016") == (None, "0016")
    digest = "0x" + "ab" * 32
    logged = [
        ("erasures", f'{{"at":"2026-03-01T12:00:00Z","certificate":"{digest}"}}', None),
        ("erasures", '{"case_id":"CASE-2","certificate":"0x' + "cd" * 32 + '"}', lookup_key("CASE-2")),
        ("erasures", '{"case_id":"CASE-3","inputs":["0x01"]}', lookup_key("CASE-3")),
        ("erasures", f'{{"cited_in":[],"erased":"{digest}"}}', None),
        ("erasures", '{not json "certificate":', None),
        ("erasures", '{"certificate":7}', None),
        ("decisions", f'{{"case_id":"CASE-1","certificate":"{digest}"}}', lookup_key("CASE-1")),
    ]
    rows = [
        {
            "log": log,
            "department_id": "GOV",
            "seq": i + 1,
            "body": body,
            "lookup": key,
            "entry_hash": "0x" + f"{i + 1:02x}" * 32,
            "prev_hash": "0x" + "00" * 32,
            "created_at": NOW,
        }
        for i, (log, body, key) in enumerate(logged)
    ]
    with old.begin() as conn:
        conn.execute(sa.insert(_table(conn, LogEntry)), rows)
    old.dispose()

    def keys(engine: sa.Engine) -> list[str | None]:
        with engine.connect() as conn:
            return list(conn.execute(sa.select(LogEntry.lookup).order_by(LogEntry.seq)).scalars())  # type: ignore[call-overload]

    engine = open_engine(url)
    assert keys(engine) == [
        lookup_key(digest),
        lookup_key("0x" + "cd" * 32),
        lookup_key("CASE-3"),
        None,
        None,
        None,
        lookup_key("CASE-1"),
    ]
    assert migrations.differences(engine) == []
    with engine.connect() as conn:
        command.downgrade(migrations.config(conn), "0016")
        conn.commit()
    assert keys(engine) == [key for _, _, key in logged]
    engine.dispose()


def test_0019_leaves_every_stored_entry_unmarked_and_drops_the_marks_on_downgrade(url: str) -> None:
    """Entries stored before 0019 get no mark (the ledger cannot tell its own from an insider's after the fact:
    anchoring refuses them until the operator accepts them, ``ledger anchor-logs --accept-unmarked``); every other
    value is kept, and the downgrade drops the column with its marks."""
    from ledger.services.logchain import LogEntry

    old = open_engine(url, migrate=False)
    assert migrations.upgrade(old, "0018") == (None, "0018")
    rows = [
        {
            "log": "decisions",
            "department_id": "GOV",
            "seq": i + 1,
            "body": f'{{"case_id":"CASE-{i}"}}',
            "lookup": None,
            "entry_hash": "0x" + f"{i + 1:02x}" * 32,
            "prev_hash": "0x" + "00" * 32,
            "created_at": NOW,
        }
        for i in range(3)
    ]
    with old.begin() as conn:
        conn.execute(sa.insert(_table(conn, LogEntry)), rows)
    old.dispose()
    engine = open_engine(url)
    with engine.connect() as conn:
        stored = [dict(r._mapping) for r in conn.execute(sa.select(_table(conn, LogEntry)).order_by(LogEntry.seq))]  # type: ignore[arg-type]
    assert [r["mark"] for r in stored] == [None, None, None]
    assert [r["entry_hash"] for r in stored] == [r["entry_hash"] for r in rows]
    assert migrations.differences(engine) == []
    with engine.connect() as conn:
        command.downgrade(migrations.config(conn), "0018")
        conn.commit()
    with engine.connect() as conn:
        assert "mark" not in {c["name"] for c in sa.inspect(conn).get_columns("logentry")}
        assert conn.execute(sa.select(sa.func.count()).select_from(sa.table("logentry"))).scalar_one() == 3
    engine.dispose()


def test_0022_gives_every_permit_issued_before_it_a_row_to_key_and_drops_them_on_downgrade(url: str) -> None:
    """Permits issued before 0022 (their index rows) get a ``permit_key`` row with no key, which the ledger keys
    when an approval first asks (their fields are sealed: ``permits._key_earlier``); every index row is kept, and
    the downgrade drops the table."""
    from ledger.storage.models import PermitKey, ProducedCertificate

    old = open_engine(url, migrate=False)
    assert migrations.upgrade(old, "0021") == (None, "0021")
    rows = [
        {
            "digest": "0x" + f"{i + 1:02x}" * 32,
            "department_id": dept,
            "case_id": f"CASE-{i}",
            "certificate_id": f"FBP-{dept}-CASE-{i}",
            "decision_seq": i + 1,
            "entry_hash": "0x" + f"{i + 7:02x}" * 32,
        }
        for i, dept in enumerate(["GOV", "GOV", "MKT"])
    ]
    with old.begin() as conn:
        conn.execute(sa.insert(_table(conn, ProducedCertificate)), rows)
    old.dispose()
    engine = open_engine(url)
    unkeyed = {"nth": 0, "key": None, "bucket": None, "after_seq": None, "mac": None}  # (0024's and 0025's columns)
    assert sorted(_model_rows(engine, PermitKey), key=lambda r: str(r["digest"])) == [
        {"digest": r["digest"], "department_id": r["department_id"], **unkeyed} for r in rows
    ]
    assert sorted(_model_rows(engine, ProducedCertificate), key=lambda r: str(r["digest"])) == rows
    assert migrations.differences(engine) == []
    with engine.connect() as conn:
        command.downgrade(migrations.config(conn), "0021")
        conn.commit()
    with engine.connect() as conn:
        assert "permit_key" not in sa.inspect(conn).get_table_names()
    assert sorted(_model_rows(engine, ProducedCertificate), key=lambda r: str(r["digest"])) == rows
    engine.dispose()


def test_0023_keeps_every_permit_row_of_0022_and_adds_what_they_rest_on_empty(url: str) -> None:
    """Permits issued before 0023 keep their index and key rows; ``permit_basis`` starts empty (the first sweep,
    ``permits.follow_bases``, writes their rows from their decisions' recorded facts), and the downgrade drops it."""
    from ledger.storage.models import PermitBasis, PermitKey, ProducedCertificate

    old = open_engine(url, migrate=False)
    assert migrations.upgrade(old, "0022") == (None, "0022")
    rows = [
        {
            "digest": "0x" + f"{i + 1:02x}" * 32,
            "department_id": dept,
            "case_id": f"CASE-{i}",
            "certificate_id": f"FBP-{dept}-CASE-{i}",
            "decision_seq": i + 1,
            "entry_hash": "0x" + f"{i + 7:02x}" * 32,
        }
        for i, dept in enumerate(["GOV", "MKT"])
    ]
    keys = [{"digest": r["digest"], "department_id": r["department_id"], "key": "0x" + "ab" * 32} for r in rows]
    with old.begin() as conn:
        conn.execute(sa.insert(_table(conn, ProducedCertificate)), rows)
        conn.execute(sa.insert(_table(conn, PermitKey)), keys)
    old.dispose()
    engine = open_engine(url)
    assert sorted(_model_rows(engine, ProducedCertificate), key=lambda r: str(r["digest"])) == rows
    # (0024 blanks the keys: the ledger keys each permit again, numbered and MACed, when an approval asks)
    blanked = [dict(k, nth=0, key=None, bucket=None, after_seq=None, mac=None) for k in keys]
    assert sorted(_model_rows(engine, PermitKey), key=lambda r: str(r["digest"])) == blanked
    assert _model_rows(engine, PermitBasis) == []
    assert migrations.differences(engine) == []
    with engine.connect() as conn:
        command.downgrade(migrations.config(conn), "0022")
        conn.commit()
    with engine.connect() as conn:
        assert "permit_basis" not in sa.inspect(conn).get_table_names()
    assert sorted(_rows(engine, PermitKey), key=lambda r: str(r["digest"])) == [dict(k, key=None) for k in keys]
    engine.dispose()


def test_0024_blanks_every_permit_key_to_be_keyed_again_bound_and_keeps_the_rows_on_downgrade(url: str) -> None:
    """0024 MACs each ``permit_key`` row and puts the keyed ones in a hash tree by bucket whose root is MACed (red team
    rounds 84p, 84q); a revision holds no secret to MAC the rows it finds, nor a key to check theirs, so it blanks
    every key and starts every tree empty (the ledger keys each permit again from its sealed fields into the tree when
    an approval asks: ``permits._key_earlier``); the downgrade drops the columns and the tree's tables and keeps the
    rows."""
    from ledger.storage.models import PermitKey, PermitKeyNode, PermitKeyTree

    old = open_engine(url, migrate=False)
    assert migrations.upgrade(old, "0023") == (None, "0023")
    keys = [
        {"digest": "0x" + f"{i + 1:02x}" * 32, "department_id": dept, "key": "0x" + "ab" * 32}
        for i, dept in enumerate(["GOV", "GOV", "MKT"])
    ]
    with old.begin() as conn:
        conn.execute(sa.insert(_table(conn, PermitKey)), keys)
    old.dispose()
    engine = open_engine(url)
    assert sorted(_model_rows(engine, PermitKey), key=lambda r: str(r["digest"])) == [
        dict(k, nth=0, key=None, bucket=None, after_seq=None, mac=None) for k in keys
    ]
    assert _model_rows(engine, PermitKeyNode) == [] and _model_rows(engine, PermitKeyTree) == []
    assert migrations.differences(engine) == []
    with engine.connect() as conn:
        command.downgrade(migrations.config(conn), "0023")
        conn.commit()
    with engine.connect() as conn:
        assert {c["name"] for c in sa.inspect(conn).get_columns("permit_key")} == {"digest", "department_id", "key"}
        assert {"permit_key_node", "permit_key_tree"}.isdisjoint(sa.inspect(conn).get_table_names())
    assert sorted(_rows(engine, PermitKey), key=lambda r: str(r["digest"])) == [dict(k, key=None) for k in keys]
    engine.dispose()


def test_0025_keys_each_permit_by_a_row_a_key_blanked_to_be_keyed_again_and_keeps_the_rows_on_downgrade(
    url: str,
) -> None:
    """0025 gives ``permit_key`` a row per key of a permit (``nth`` in its primary key: its premises as typed, in
    capitals and case-folded, red team round 85c); a revision holds no secret to derive the new keys, so it blanks
    every key and empties every tree, each permit keeping its row 0 (the ledger keys it again, with all its keys,
    when an approval asks); the downgrade keeps each permit's row 0, blanked, and drops the others."""
    from ledger.storage.models import PermitKey, PermitKeyNode, PermitKeyTree

    old = open_engine(url, migrate=False)
    assert migrations.upgrade(old, "0024") == (None, "0024")
    keys = [
        {"digest": "0x" + f"{i + 1:02x}" * 32, "department_id": dept, "key": "0x" + "ab" * 32, "bucket": 0xABAB}
        for i, dept in enumerate(["GOV", "GOV", "MKT"])
    ]
    with old.begin() as conn:
        conn.execute(sa.insert(_table(conn, PermitKey)), [dict(k, after_seq=3, mac="0x" + "cd" * 32) for k in keys])
        conn.execute(
            sa.insert(_table(conn, PermitKeyTree)), [dict(department_id="GOV", root="0x00", after_seq=3, mac="0x")]
        )
        conn.execute(
            sa.insert(_table(conn, PermitKeyNode)), [dict(department_id="GOV", level=0, position=0, hash="0x00")]
        )
    old.dispose()
    engine = open_engine(url)
    blank = {"key": None, "bucket": None, "after_seq": None, "mac": None}
    assert sorted(_model_rows(engine, PermitKey), key=lambda r: str(r["digest"])) == [
        dict(k, nth=0, **blank) for k in keys
    ]
    assert _model_rows(engine, PermitKeyNode) == [] and _model_rows(engine, PermitKeyTree) == []
    assert migrations.differences(engine) == []
    with engine.begin() as conn:  # a second key of the first permit, then the downgrade
        conn.execute(sa.insert(PermitKey.__table__), [dict(keys[0], nth=1, key="0x" + "ef" * 32)])  # type: ignore[attr-defined]
        with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
            conn.execute(sa.insert(PermitKey.__table__), [dict(keys[0], nth=1)])  # type: ignore[attr-defined]
    with engine.connect() as conn:
        command.downgrade(migrations.config(conn), "0024")
        conn.commit()
    with engine.connect() as conn:
        assert "nth" not in {c["name"] for c in sa.inspect(conn).get_columns("permit_key")}
        assert sa.inspect(conn).get_pk_constraint("permit_key")["constrained_columns"] == ["digest"]
    assert sorted(_rows(engine, PermitKey), key=lambda r: str(r["digest"])) == [dict(k, **blank) for k in keys]
    engine.dispose()


def test_0026_puts_every_stored_certificate_in_generation_0_and_keeps_them_on_downgrade(url: str) -> None:
    """0026 keys ``certificate`` by ``(epoch, digest)`` (the digest index in generations, issue 18): every row stored
    before is generation 0, counted in ``certificate_generation``; the key still refuses a digest twice within a
    generation; the downgrade keeps every row and gives the digest its key back."""
    from ledger.storage.models import CertificateGeneration

    old = open_engine(url, migrate=False)
    assert migrations.upgrade(old, "0025") == (None, "0025")
    leaves = [bytes([i + 1]) * 32 for i in range(3)]
    batch = dict(
        BATCH,
        root="0x" + MerkleTree(leaves).root.hex(),
        count=3,
        leaves=b"".join(leaves),
        nodes=MerkleTree(leaves).root,
    )
    certificates = [
        {k: v for k, v in CERTIFICATE.items() if k != "proof"}
        | {"digest": "0x" + d.hex(), "batch_root": batch["root"], "leaf_index": i, "certificate_id": f"BL-{i}"}
        for i, d in enumerate(leaves)
    ]
    with old.begin() as conn:
        conn.execute(sa.insert(Batch.__table__), [batch])  # type: ignore[attr-defined]
        conn.execute(
            sa.insert(_table(conn, Certificate)),
            [
                dict(c, digest=bytes.fromhex(c["digest"][2:]), batch_root=bytes.fromhex(batch["root"][2:]))
                for c in certificates
            ],
        )  # type: ignore[index]
    old.dispose()
    engine = open_engine(url)
    stored = sorted(_model_rows(engine, Certificate), key=lambda r: str(r["digest"]))
    assert [r["epoch"] for r in stored] == [0, 0, 0]
    assert [{k: r[k] for k in certificates[0]} for r in stored] == certificates
    assert _model_rows(engine, CertificateGeneration) == [{"epoch": 0, "rows": 3}]
    assert migrations.differences(engine) == []
    with engine.connect() as conn:
        assert sa.inspect(conn).get_pk_constraint("certificate")["constrained_columns"] == ["epoch", "digest"]
    with engine.begin() as conn, pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
        conn.execute(sa.insert(Certificate.__table__), [dict(certificates[0], certificate_id="BL-again")])  # type: ignore[attr-defined]
    with engine.connect() as conn:
        command.downgrade(migrations.config(conn), "0025")
        conn.commit()
    with engine.connect() as conn:
        assert "epoch" not in {c["name"] for c in sa.inspect(conn).get_columns("certificate")}
        assert sa.inspect(conn).get_pk_constraint("certificate")["constrained_columns"] == ["digest"]
        assert "certificate_generation" not in sa.inspect(conn).get_table_names()
        assert len(conn.execute(sa.select(_table(conn, Certificate))).all()) == 3
    engine.dispose()
