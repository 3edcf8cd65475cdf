"""Issue 18, several batches per database transaction: a bulk issuance stores its batches a group at a time
(issuance.GROUP_BATCHES), and sends none of a group before the group has committed.

Adversaries: another writer taking a certificate id of a later batch of the group (the batches before it must
stay stored whole, the taken one must leave nothing), a council revoking a type in the middle of a run, an
operator interrupting a run while a group is open (no half-written batch, nothing sent that is not stored), and
the cost model the grouping relies on: every write of a run commits on one connection, so no other connection's
commit empties the writer's page cache between groups."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select

from ledger.client import Ledger
from ledger.errors import InputError, StateError
from ledger.formats.certificate import Record, validate_record
from ledger.services import issuance
from ledger.storage.store import Batch, BatchState, Certificate

from .cli_support import assert_anchored_exactly_once
from .conftest import make_records


def _validated(department: str, raws: list[dict[str, Any]]) -> list[Record]:
    return [validate_record(raw, i + 1, department=department) for i, raw in enumerate(raws)]


def _stored(ledger: Ledger, department: str) -> tuple[dict[str, tuple[str, int, int]], set[str]]:
    """Each batch of ``department``: (state, count, rows stored with its root); and every stored id."""
    with ledger.engine.connect() as conn:
        batches = conn.execute(
            select(Batch.root, Batch.state, Batch.count).where(Batch.department_id == department)
        ).all()
        rows = dict(
            conn.execute(  # type: ignore[arg-type]
                select(Certificate.batch_root, func.count())
                .where(Certificate.department_id == department)
                .group_by(Certificate.batch_root)
            ).all()
        )
        ids = set(
            conn.execute(select(Certificate.certificate_id).where(Certificate.department_id == department)).scalars()
        )
    return {root: (state, count, rows.get(root, 0)) for root, state, count in batches}, ids


def _assert_every_batch_whole(batches: dict[str, tuple[str, int, int]]) -> None:
    assert all(count == rows for _, count, rows in batches.values()), f"a half-written batch: {batches}"


def test_the_test_batches_share_one_group() -> None:
    assert issuance._group_size(3) >= 3, "the tests below need three batches of 3 in one transaction"
    assert issuance._group_size(issuance.GROUP_CERTIFICATES) == 1
    assert issuance._group_size(100_000) == 1


def test_an_id_taken_in_a_later_batch_of_a_group_leaves_the_batches_before_it_whole(
    ledger: Ledger, fresh_department: str
) -> None:
    department = fresh_department
    taken = make_records(1)
    issuance.issue_records(ledger, _validated(department, taken), department)
    raws = make_records(9)
    raws[7]["id"] = taken[0]["id"]  # in the third batch of three: another writer stored it first
    with pytest.raises(InputError, match=re.escape(taken[0]["id"])) as caught:
        issuance.issue_records(ledger, _validated(department, raws), department, batch_size=3)
    assert "nothing of this batch was written" in str(caught.value)
    batches, ids = _stored(ledger, department)
    _assert_every_batch_whole(batches)
    assert ids == {taken[0]["id"]} | {r["id"] for r in raws[:6]}, "a batch before the taken id was lost"
    assert sorted(state for state, _, _ in batches.values()).count(BatchState.CONFIRMED) == 1
    issuance.resume(ledger)  # the two batches before it are completed like any pending batch
    assert_anchored_exactly_once(ledger, department, ids, verify=False)


def test_a_type_refused_in_the_middle_of_a_group_stores_the_batches_before_it_and_sends_none_unstored(
    ledger: Ledger, fresh_department: str
) -> None:
    department = fresh_department
    raws = make_records(6) + make_records(3, cert_type="a-type-never-granted")

    def one_by_one() -> Iterator[Record]:  # a generator: each batch's types are checked when it comes
        yield from _validated(department, raws)

    with pytest.raises(StateError, match="a-type-never-granted"):
        issuance.issue_records(ledger, one_by_one(), department, batch_size=3)
    batches, ids = _stored(ledger, department)
    _assert_every_batch_whole(batches)
    assert ids == {r["id"] for r in raws[:6]}
    issuance.resume(ledger)
    assert_anchored_exactly_once(ledger, department, ids, verify=False)


def test_an_interrupted_group_leaves_no_half_written_batch_and_continuing_anchors_each_once(
    ledger: Ledger, fresh_department: str
) -> None:
    department = fresh_department
    records = _validated(department, make_records(12))

    def interrupted() -> Iterator[Record]:
        for i, record in enumerate(records):
            if i == 7:  # while the third batch of the group is being cut
                raise KeyboardInterrupt
            yield record

    with pytest.raises(KeyboardInterrupt):
        issuance.issue_records(ledger, interrupted(), department, batch_size=3)
    batches, ids = _stored(ledger, department)
    _assert_every_batch_whole(batches)
    sent = {root for root, (state, _, _) in batches.items() if state != BatchState.PREPARED}
    assert sent <= set(batches), "a batch was sent that is not stored"
    issuance.resume(ledger)  # what `ledger continue` does: complete the pending batches, issue the rest
    issuance.issue_records(ledger, [r for r in records if r.certificate_id not in ids], department, batch_size=3)
    assert_anchored_exactly_once(ledger, department, {r.certificate_id for r in records}, verify=False)


def test_every_write_of_a_bulk_issuance_commits_on_one_connection(ledger: Ledger, fresh_department: str) -> None:
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's page cache is per connection; PostgreSQL's shared buffers are not")
    department = fresh_department
    committed: Counter[int] = Counter()

    def on_commit(conn: Any) -> None:
        committed[id(conn.connection.dbapi_connection)] += 1

    with ledger.engine.connect(), ledger.engine.connect(), ledger.engine.connect():
        pass  # idle connections in the pool, as a gateway or an earlier run leaves them
    event.listen(ledger.engine, "commit", on_commit)
    try:
        result = issuance.issue_records(ledger, _validated(department, make_records(40)), department, batch_size=3)
    finally:
        event.remove(ledger.engine, "commit", on_commit)
    assert result.count == 40 and len(result.batches) == 14
    # three groups of five batches (one of four): each group's commit, and each batch's sent and confirmed states
    assert sum(committed.values()) == 3 + 2 * 14, committed
    assert len(committed) == 1, f"commits on {len(committed)} connections: each empties the others' page caches"


def test_a_group_inserts_its_certificates_in_digest_order_each_at_its_leaf(
    ledger: Ledger, fresh_department: str
) -> None:
    """A group's certificate rows are inserted in one statement in digest order (the digest index's pages visited
    once each, in order: bench/analysis.md, "one sorted insert per group"); only the insertion order changed:
    each row keeps its batch and leaf index, its digest is the batch's leaf there, and every document verifies
    and reconciles."""
    department = fresh_department
    records = _validated(department, make_records(9))
    result = issuance.issue_records(ledger, records, department, batch_size=3)
    assert result.count == 9 and len(result.batches) == 3
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(Certificate.digest, Certificate.batch_root, Certificate.leaf_index).where(
                Certificate.department_id == department
            )
        ).all()
        leaves = dict(conn.execute(select(Batch.root, Batch.leaves).where(Batch.department_id == department)).all())
        if ledger.engine.dialect.name == "sqlite":  # the table's own order: the order the rows were inserted in
            inserted = conn.exec_driver_sql(
                "SELECT digest FROM certificate WHERE department_id = ? ORDER BY rowid", (department,)
            ).scalars()
            digests = [bytes(d) for d in inserted]
            assert digests == sorted(digests), "the group's rows were not inserted in digest order"
    assert len(rows) == 9 and len({root for _, root, _ in rows}) == 3
    for digest, root, leaf in rows:
        stored = bytes(leaves[root])
        assert "0x" + stored[32 * leaf : 32 * leaf + 32].hex() == digest, "a row's leaf does not hold its digest"
    assert_anchored_exactly_once(ledger, department, {r.certificate_id for r in records}, verify=True)


def test_a_digest_already_stored_is_refused_and_nothing_of_its_batch_is_written(
    ledger: Ledger, fresh_department: str
) -> None:
    """The digest is unique across the whole store: a batch carrying a stored certificate's digest (under new ids)
    is refused and leaves no row and no batch. Today the digest's primary key is the arbiter; a digest index split
    into generations (bench/analysis.md, "an index whose inserts stay local") must keep this across generations."""
    department = fresh_department
    issuance.issue_records(ledger, _validated(department, make_records(1)), department)
    before = _stored(ledger, department)
    with ledger.engine.connect() as conn:
        stored = conn.execute(select(Certificate.digest).where(Certificate.department_id == department)).scalar_one()
    built = issuance.build_batch(ledger, _validated(department, make_records(2)), department)
    built.digests[1] = bytes.fromhex(stored[2:])  # the second of two new ids carries the stored digest
    with pytest.raises(InputError, match="nothing of this batch was written"):
        issuance.store_prepared(ledger, built)
    assert _stored(ledger, department) == before, "a batch holding a stored digest left a row or a batch behind"
