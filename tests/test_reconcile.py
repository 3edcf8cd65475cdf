"""Issue 6, tampering: `ledger reconcile` compares the database with the chain and names every divergence."""

from __future__ import annotations

import json
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from ledger.client import Ledger
from ledger.formats.canonical import hex32
from ledger.formats.certificate import batch_schema
from ledger.formats.merkle import MerkleTree
from ledger.formats.signing import batch_message, sign
from ledger.onchain.ids import department_id_bytes
from ledger.services import issuance
from ledger.services.reconcile import reconcile
from ledger.storage.store import Batch, BatchState, Certificate, chunk_nodes, utcnow

from .cli_support import run_cli
from .conftest import make_records, write_jsonl


def issue(ledger: Ledger, tmp_path: Path, department: str, n: int = 6) -> list[str]:
    result = issuance.issue_file(
        ledger, write_jsonl(tmp_path / f"{department}.jsonl", make_records(n)), department, batch_size=3
    )
    return result.batches


def first_row(ledger: Ledger, root: str) -> Any:
    with ledger.engine.connect() as conn:
        return conn.execute(
            select(Certificate).where(Certificate.batch_root == root).order_by(Certificate.leaf_index)
        ).first()


def change(ledger: Ledger, statement: Any) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(statement)


def _digest(ledger: Ledger, root: str) -> None:
    row = first_row(ledger, root)
    change(ledger, update(Certificate).where(Certificate.digest == row.digest).values(digest="0x" + "ab" * 32))


def _leaves(ledger: Ledger, root: str) -> bytes:
    with ledger.engine.connect() as conn:
        return bytes(conn.execute(select(Batch.leaves).where(Batch.root == root)).scalar_one())


def _batch_leaves(ledger: Ledger, root: str) -> None:
    """The proofs are recomputed from the batch's stored leaves: an insider editing one of them (to make the proofs
    lead elsewhere, as editing a stored proof did) changes the recomputed root."""
    leaves = _leaves(ledger, root)
    change(ledger, update(Batch).where(Batch.root == root).values(leaves=b"\x11" * 32 + leaves[32:]))


def _batch_leaves_truncated(ledger: Ledger, root: str) -> None:
    change(ledger, update(Batch).where(Batch.root == root).values(leaves=_leaves(ledger, root)[:-33]))


def _batch_nodes(ledger: Ledger, root: str) -> None:
    """The stored run roots (from which readers take the upper part of every proof) edited."""
    change(ledger, update(Batch).where(Batch.root == root).values(nodes=b"\x22" * 32))


def _leaves_swapped(ledger: Ledger, root: str) -> None:
    """Two certificates' places in the batch exchanged, in the leaves: each row's recomputed proof is another's."""
    leaves = _leaves(ledger, root)
    change(ledger, update(Batch).where(Batch.root == root).values(leaves=leaves[32:64] + leaves[:32] + leaves[64:]))


def _sealed(ledger: Ledger, root: str) -> None:
    row = first_row(ledger, root)
    sealed = bytearray(row.sealed)
    sealed[20] ^= 1
    change(ledger, update(Certificate).where(Certificate.digest == row.digest).values(sealed=bytes(sealed)))


def _column(ledger: Ledger, root: str) -> None:
    row = first_row(ledger, root)
    change(ledger, update(Certificate).where(Certificate.digest == row.digest).values(valid_until="2099-12-31"))


def _leaf(ledger: Ledger, root: str) -> None:
    row = first_row(ledger, root)
    change(ledger, update(Certificate).where(Certificate.digest == row.digest).values(leaf_index=77))


def _deleted(ledger: Ledger, root: str) -> None:
    change(ledger, delete(Certificate).where(Certificate.digest == first_row(ledger, root).digest))


def _count(ledger: Ledger, root: str) -> None:
    change(ledger, update(Batch).where(Batch.root == root).values(count=4))


def _moved(ledger: Ledger, root: str) -> None:
    change(ledger, update(Batch).where(Batch.root == root).values(block_hash="0x" + "cd" * 32))


def _forged_batch(ledger: Ledger, root: str) -> None:
    with ledger.engine.connect() as conn:
        batch = conn.execute(select(Batch).where(Batch.root == root)).first()
    change(ledger, insert(Batch).values({**batch._mapping, "root": "0x" + "ef" * 32}))


def _unknown_anchor(ledger: Ledger, root: str) -> None:
    with ledger.engine.connect() as conn:
        department = conn.execute(select(Batch.department_id).where(Batch.root == root)).scalar_one()
    ledger.chain.transact(
        ledger.department_account(department),
        ledger.chain.anchor.functions.anchorBatch(b"\x77" * 32, 3, batch_schema("business-licence")),
    )


TAMPERING: dict[str, tuple[Callable[[Ledger, str], None], set[str]]] = {
    "digest_changed": (_digest, {"certificate_altered"}),
    "batch_leaves_changed": (_batch_leaves, {"certificate_altered"}),
    "batch_leaves_truncated": (_batch_leaves_truncated, {"certificate_altered"}),
    "batch_leaves_swapped": (_leaves_swapped, {"certificate_altered"}),
    "batch_nodes_changed": (_batch_nodes, {"certificate_altered"}),
    "sealed_body_changed": (_sealed, {"sealed_body_altered"}),
    "plain_column_changed": (_column, {"row_altered"}),
    "leaf_index_changed": (_leaf, {"certificate_altered"}),
    "row_deleted": (_deleted, {"rows_missing"}),
    "batch_count_changed": (_count, {"batch_count_mismatch"}),
    "anchor_moved": (_moved, {"anchor_moved"}),
    "anchor_missing": (_forged_batch, {"anchor_missing"}),
    "anchor_unknown": (_unknown_anchor, {"anchor_unknown"}),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_each_kind_of_tampering_is_reported(ledger: Ledger, tmp_path: Path, fresh_department: str, case: str) -> None:
    roots = issue(ledger, tmp_path, fresh_department)
    assert reconcile(ledger, departments=[fresh_department]).ok
    tamper, expected = TAMPERING[case]
    tamper(ledger, roots[0])
    report = reconcile(ledger, departments=[fresh_department])
    assert not report.ok
    assert {d.kind for d in report.divergences} >= expected, report.text()
    assert all(d.root in (roots[0], "0x" + "ef" * 32, "0x" + "77" * 32) for d in report.divergences), report.text()


def test_cli_lists_divergences_as_json_and_text_with_exit_code(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    roots = issue(ledger, tmp_path, fresh_department)
    clean = run_cli(ledger, "reconcile", "-d", fresh_department)
    assert clean.returncode == 0, clean.stderr
    assert "no divergence" in clean.stdout
    _deleted(ledger, roots[1])
    _sealed(ledger, roots[0])
    text = run_cli(ledger, "reconcile", "-d", fresh_department)
    assert text.returncode == 1
    assert f"[rows_missing] batch {roots[1]}" in text.stdout and "[sealed_body_altered]" in text.stdout
    as_json = run_cli(ledger, "reconcile", "-d", fresh_department, "--json")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False and report["divergence_counts"] == {"rows_missing": 1, "sealed_body_altered": 1}


def test_pending_batches_are_listed_not_divergent(ledger: Ledger, fresh_department: str) -> None:
    records = [issuance.validate_record(r, 1) for r in make_records(2)]
    built = issuance.build_batch(ledger, records, fresh_department)
    issuance.store_prepared(ledger, built)
    report = reconcile(ledger, departments=[fresh_department])
    assert report.ok and report.pending == [hex32(built.root)]
    issuance.resume(ledger)
    assert reconcile(ledger, departments=[fresh_department]).pending == []


def test_30k_certificates_of_one_batch_are_streamed(ledger: Ledger, fresh_department: str) -> None:
    """30,000 rows in one anchored batch: reconciled row by row, memory bounded by a chunk, not the table. The batch
    itself (its leaves and the tree rebuilt from them, ~250 bytes a certificate) is held: reconcile peaks near 10 MiB
    here; the rows read at once take 29 MiB more (~1 KB a row). (It was 100,000 rows under a 40 MiB
    bound: tracemalloc slowed that to 19 s of a CI pass, for the same finding.)"""
    n = 30_000
    digests = [i.to_bytes(4, "big") + os.urandom(28) for i in range(n)]
    tree = MerkleTree(digests)
    root = hex32(tree.root)
    receipt = ledger.chain.transact(
        ledger.department_account(fresh_department),
        ledger.chain.anchor.functions.anchorBatch(tree.root, n, batch_schema("business-licence")),
    )
    block = ledger.chain.w3.eth.get_block(receipt["blockNumber"])
    with ledger.engine.begin() as conn:
        conn.execute(
            insert(Batch).values(
                root=root,
                department_id=fresh_department,
                schema_id=hex32(batch_schema("business-licence")),
                count=n,
                state=BatchState.CONFIRMED,
                signer=ledger.department_account(fresh_department).address,
                # the department's EIP-712 signature of the root, as the ledger stores it (reconcile recovers it)
                signature="0x"
                + sign(
                    ledger.department_account(fresh_department),
                    batch_message(
                        ledger.chain.chain_id,
                        ledger.chain.deployment.anchor,
                        tree.root,
                        n,
                        batch_schema("business-licence"),
                        department_id_bytes(fresh_department),
                    ),
                ).hex(),
                tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
                block_number=receipt["blockNumber"],
                block_hash="0x" + bytes(block["hash"]).hex(),
                block_time=block["timestamp"],
                created_at=utcnow(),
                leaves=b"".join(digests),
                nodes=chunk_nodes(tree),
            )
        )
        for start in range(0, n, 20_000):
            conn.execute(
                insert(Certificate),
                [
                    {
                        "digest": hex32(digests[i]),
                        "batch_root": root,
                        "leaf_index": i,
                        "certificate_id": f"BIG-{i}",
                        "department_id": fresh_department,
                        "cert_type": "permit",
                        "issued_at": "2026-01-01T00:00:00Z",
                        "sealed": b"",
                        "status": "valid",
                    }
                    for i in range(start, min(start + 20_000, n))
                ],
            )
    del digests, tree
    try:
        seen: list[int] = []
        tracemalloc.start()
        report = reconcile(ledger, departments=[fresh_department], check_bodies=False, progress=seen.append)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert report.ok and report.certificates == n, report.text()
        assert seen[-1] == n and len(seen) >= 3  # progress once a chunk (10,000 rows) at least
        assert peak < 16 * 2**20, f"reconcile held {peak / 2**20:.0f} MiB: it must stream the rows"
        change(ledger, delete(Certificate).where(Certificate.certificate_id == "BIG-12345"))
        assert [d.kind for d in reconcile(ledger, departments=[fresh_department], check_bodies=False).divergences] == [
            "rows_missing"
        ]
    finally:
        # The 30,000 rows leave the session's store: every later test that reads the whole store (reconcile of
        # every department, reports, listings) would read them again (test_reconcile_logs' whole-store reconcile
        # took 62 s on SQLite with them, 13 s without). The department's anchor stays on chain, as a divergence
        # of this department only, as before.
        with ledger.engine.begin() as conn:
            conn.execute(delete(Certificate).where(Certificate.department_id == fresh_department))
            conn.execute(delete(Batch).where(Batch.root == root))


def test_statuses_are_reconciled_with_the_issuers_events(ledger: Ledger, tmp_path: Path, fresh_department: str) -> None:
    """An insider with database access sets a revoked row back to valid, drops a supersession link and deletes a
    status-change row: reconcile names each, from the chain's status events."""
    from ledger.services import status
    from ledger.storage.store import StatusChange

    dept = fresh_department
    issue(ledger, tmp_path, dept, n=6)
    with ledger.engine.connect() as conn:
        digests = [
            r[0]
            for r in conn.execute(
                select(Certificate.digest)
                .where(Certificate.department_id == dept)
                .order_by(Certificate.batch_root, Certificate.leaf_index)
            )
        ]
    status.revoke(ledger, digests[0], "fraud")
    status.supersede(ledger, digests[1], digests[2])
    status.suspend(ledger, digests[3], "under-investigation")
    assert reconcile(ledger, departments=[dept]).ok
    change(ledger, update(Certificate).where(Certificate.digest == digests[0]).values(status="valid"))
    change(ledger, update(Certificate).where(Certificate.digest == digests[1]).values(superseded_by=None))
    change(ledger, delete(StatusChange).where(StatusChange.digest == digests[3]))
    found = {(d.kind, d.certificate) for d in reconcile(ledger, departments=[dept]).divergences}
    assert found == {("status_mismatch", digests[0]), ("status_mismatch", digests[1]), ("status_history", digests[3])}
