"""Issue 6, real database under concurrency: writers in several threads and several processes, sharing one
department key, never store a certificate id twice nor anchor a root twice. Runs on SQLite and, through
scripts/test.sh (LEDGER_TEST_DATABASE_URL), on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats.certificate import validate_record
from ledger.services import issuance
from ledger.storage.store import Certificate

from .cli_support import ForkedProcess, assert_anchored_exactly_once, crash_worker, env_for, ledger_process
from .conftest import make_records, write_jsonl


def run_threads(targets: list[Callable[[], object]]) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(targets))

    def run(target: Callable[[], object]) -> None:
        barrier.wait()
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    return errors


def stored_ids(ledger: Ledger, department: str) -> set[str]:
    with ledger.engine.connect() as conn:
        return set(
            conn.execute(select(Certificate.certificate_id).where(Certificate.department_id == department)).scalars()
        )


def finished(process: subprocess.Popen[str] | ForkedProcess) -> str:
    """Wait for a worker to end; its standard error."""
    if isinstance(process, subprocess.Popen):
        return process.communicate(timeout=180)[1]
    assert process.stdout is not None and process.stderr is not None
    with process.stdout, process.stderr:  # end-of-file once the process is gone
        err = process.stderr.read()
        process.stdout.read()
    process.wait(180)
    return err


def test_threads_and_processes_issuing_for_one_department(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    code = fresh_department
    files = [write_jsonl(tmp_path / f"part{i}.jsonl", make_records(9, prefix=f"PAR{i}")) for i in range(5)]
    shared = write_jsonl(tmp_path / "shared.jsonl", make_records(12, prefix="SHARED"))
    processes = [
        crash_worker(ledger, files[3], code),
        crash_worker(ledger, files[4], code),
        crash_worker(ledger, shared, code),
    ]
    targets: list[Callable[[], object]] = [
        (lambda f=f: issuance.issue_file(ledger, f, code, batch_size=3)) for f in files[:3]
    ]
    targets += [lambda: issuance.issue_file(ledger, shared, code, batch_size=3, skip_issued=True)] * 2
    errors = run_threads(targets)
    outputs = [finished(p) for p in processes]
    # the same file issued by three writers at once: losers stop with a clear InputError, never a crash
    assert all(isinstance(e, InputError) and "issued" in str(e) for e in errors), errors
    for p, err in zip(processes, outputs, strict=True):
        assert p.returncode == 0 or "InputError" in err, err
    issuance.resume(ledger)  # batches a stopped writer left in flight
    ids = {f"PAR{i}-{j:06d}" for i in range(5) for j in range(9)}
    missing_shared = {f"SHARED-{j:06d}" for j in range(12)} - stored_ids(ledger, code)
    if missing_shared:  # a loser stopped before issuing the rest of the shared file: finish it
        issuance.issue_file(ledger, shared, code, batch_size=3, skip_issued=True)
    assert_anchored_exactly_once(ledger, code, ids | {f"SHARED-{j:06d}" for j in range(12)}, verify=False)


def test_concurrent_resumes_anchor_each_pending_batch_once(ledger: Ledger, fresh_department: str) -> None:
    code = fresh_department
    built = []
    for i in range(6):
        records = [validate_record(r, 1) for r in make_records(2, prefix=f"RES{i}")]
        batch = issuance.build_batch(ledger, records, code)
        issuance.store_prepared(ledger, batch)
        built.append(batch)

    def cli_resume() -> None:
        # `ledger resume` in a process of its own, forked from the command server: it resumes at the barrier with
        # the threads (a fresh interpreter spent its first ~2 s importing, by when the threads had done the work)
        done = ledger_process(["resume"], env=env_for(ledger))
        assert done.returncode == 0, done.stderr

    errors = run_threads([lambda: issuance.resume(ledger)] * 3 + [cli_resume] * 2)
    assert not errors, errors
    ids = {f"RES{i}-{j:06d}" for i in range(6) for j in range(2)}
    assert_anchored_exactly_once(ledger, code, ids, verify=False)


def test_a_deadlock_between_two_writers_of_the_same_ids_is_a_lost_race(ledger: Ledger) -> None:
    """(Two runs issuing the same records at once: a clerk's retry beside the first run, two gateways) A group
    inserts its rows in digest order and one record's digests differ between writers (random salts), so two writers
    take the id index's entries in opposite orders and PostgreSQL ends one transaction as a deadlock's victim
    (SQLSTATE 40P01): issuance crashed on it where a refused row is a clear InputError (a fresh-clone CI run of the
    test above). Here two transactions take two keys in opposite orders for real: the victim's error is one that
    issuance takes as the race for the ids lost, as it takes a refused row; any other refusal is not."""
    if ledger.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite admits one writing transaction at a time, so no two writers deadlock")
    table = f"deadlock_probe_{os.getpid()}"
    with ledger.engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table} (k text PRIMARY KEY)")
    try:
        barrier = threading.Barrier(2)
        errors: list[DBAPIError] = []

        def insert(first: str, second: str) -> None:
            with ledger.engine.connect() as conn:
                try:
                    with conn.begin():
                        conn.exec_driver_sql(f"INSERT INTO {table} VALUES ('{first}')")
                        barrier.wait(30)
                        conn.exec_driver_sql(f"INSERT INTO {table} VALUES ('{second}')")
                except DBAPIError as exc:
                    errors.append(exc)

        threads = [threading.Thread(target=insert, args=pair) for pair in (("a", "b"), ("b", "a"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert [getattr(e.orig, "sqlstate", None) for e in errors] == ["40P01"], errors
        assert issuance._lost_race(errors[0])
        with ledger.engine.connect() as conn, pytest.raises(DBAPIError) as refused:
            conn.exec_driver_sql(f"INSERT INTO {table} VALUES (NULL)")
        assert isinstance(refused.value, IntegrityError) and issuance._lost_race(refused.value)
        with ledger.engine.connect() as conn, pytest.raises(DBAPIError) as other:
            conn.exec_driver_sql(f"SELECT * FROM {table}_none")
        assert not issuance._lost_race(other.value)
    finally:
        with ledger.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE {table}")


def test_a_lost_race_whose_winner_committed_nothing_says_so(ledger: Ledger, fresh_department: str) -> None:
    """(Two runs issuing the same records at once) The victim of a deadlock is told about it while the other writer's
    transaction is still open: none of its ids is committed, so the InputError said the batch's ids "were issued"
    concurrently, naming none, which may never come true (the winner can still roll back). With none committed it
    says that another writer was issuing them and has not committed, and to continue the file once that writer has
    finished; ids a committed winner issued are still named."""
    code = fresh_department
    records = [validate_record(r, 1) for r in make_records(2, prefix=f"LOST{os.getpid()}")]
    ids = [r.certificate_id for r in records]
    pending = str(issuance._issued_concurrently(ledger, code, ids))
    assert "not committed" in pending and "were issued" not in pending and "`ledger continue`" in pending, pending
    assert "nothing of this batch was written" in pending, pending
    issuance.store_prepared(ledger, issuance.build_batch(ledger, records[:1], code))
    won = str(issuance._issued_concurrently(ledger, code, ids))
    assert f"certificate id(s) {ids[:1]} of this batch were issued by {code} concurrently" in won, won
