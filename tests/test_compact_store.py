"""Issue 18, a kilobyte per certificate: the sealed body keeps its salts as one base64 text instead of a map of hex
texts. Adversary: an insider with database access who shortens or swaps the stored body; and stores written
before the change, whose bodies must still export and reconcile."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text, update

from ledger.client import Ledger
from ledger.errors import VerificationError
from ledger.formats.canonical import hex32
from ledger.formats.merkle import MerkleTree
from ledger.services import evidence, issuance
from ledger.services.reconcile import reconcile
from ledger.services.status import stored
from ledger.services.verify import ChainView, verify_certificate
from ledger.storage.store import Batch, Certificate, batch_proof, chunk_nodes

from .conftest import make_records, write_jsonl


def _issue_one(ledger: Ledger, department: str, tmp_path: Path) -> tuple[dict, str]:
    out = __import__("io").StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / "one.jsonl", make_records(2)), department, out=out)
    doc = json.loads(out.getvalue().splitlines()[0])
    return doc, doc["fields"]["id"]


def _row(ledger: Ledger, department: str, cid: str) -> tuple[str, bytes]:
    with ledger.engine.connect() as conn:
        digest, sealed = conn.execute(
            select(Certificate.digest, Certificate.sealed).where(
                Certificate.department_id == department, Certificate.certificate_id == cid
            )
        ).one()
    return digest, bytes(sealed)


def test_body_is_compact_and_exports_exactly(ledger: Ledger, fresh_department: str, tmp_path: Path) -> None:
    doc, cid = _issue_one(ledger, fresh_department, tmp_path)
    digest, sealed = _row(ledger, fresh_department, cid)
    body = json.loads(ledger.vault.open(sealed, bytes.fromhex(digest[2:])))
    assert set(body) == {"fields", "s"}, "salts should be one packed text"
    assert issuance.export_document(ledger, cid, fresh_department) == doc


def test_body_of_the_first_layout_still_exports_and_reconciles(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    doc, cid = _issue_one(ledger, fresh_department, tmp_path)
    digest, _ = _row(ledger, fresh_department, cid)
    old = json.dumps(
        {"fields": doc["fields"], "salts": doc["salts"]}, ensure_ascii=False, separators=(",", ":")
    ).encode()
    resealed = ledger.vault.seal_certificates(fresh_department, [(old, bytes.fromhex(digest[2:]))])[0]
    with ledger.engine.begin() as conn:
        conn.execute(update(Certificate).where(Certificate.digest == digest).values(sealed=resealed))
    assert issuance.export_document(ledger, cid, fresh_department) == doc
    report = reconcile(ledger, departments=[fresh_department])
    assert report.ok, report.text()


@pytest.mark.parametrize("packed", ["", "AAAA", "not base64!"])
def test_short_or_garbled_salts_are_an_altered_body(
    ledger: Ledger, fresh_department: str, tmp_path: Path, packed: str
) -> None:
    doc, cid = _issue_one(ledger, fresh_department, tmp_path)
    digest, _ = _row(ledger, fresh_department, cid)
    bad = json.dumps({"fields": doc["fields"], "s": packed}).encode()
    resealed = ledger.vault.seal_certificates(fresh_department, [(bad, bytes.fromhex(digest[2:]))])[0]
    with ledger.engine.begin() as conn:
        conn.execute(update(Certificate).where(Certificate.digest == digest).values(sealed=resealed))
    kinds = {d.kind for d in reconcile(ledger, departments=[fresh_department]).divergences}
    assert "sealed_body_altered" in kinds
    assert digest not in issuance.export_documents(ledger, [digest])


def test_proofs_recomputed_from_the_batch_are_the_issued_ones(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every reader of a stored certificate (status.stored, export_document(s), and through them evidence, sharing,
    revocation) gets the proof recomputed from the batch's leaves, byte-identical to the one issuance computed and
    earlier versions stored per row; the row itself holds no proof and keeps its hashes as 32 raw bytes."""
    out = __import__("io").StringIO()
    records = write_jsonl(tmp_path / "many.jsonl", make_records(23))
    issuance.issue_file(ledger, records, fresh_department, out=out, batch_size=10)  # 10 + 10 + 3: odd levels too
    issued = [json.loads(line) for line in out.getvalue().splitlines()]
    exported = issuance.export_documents(ledger, [d["digest"] for d in issued])
    assert exported == {d["digest"]: d for d in issued}
    # holding one batch row at a time (a store's many batches: issue 18's 10M verify probe), the same documents
    monkeypatch.setattr(issuance, "_BATCHES_KEPT", 1)
    assert issuance.export_documents(ledger, [d["digest"] for d in issued]) == exported
    for doc in issued:
        assert exported[doc["digest"]]["anchor"]["proof"] == doc["anchor"]["proof"]
        assert [hex32(p) for p in stored(ledger, doc["digest"]).proof] == doc["anchor"]["proof"]
        assert issuance.export_document(ledger, doc["fields"]["id"], fresh_department) == doc
    with ledger.engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("certificate")}
        lengths = conn.execute(
            text("SELECT DISTINCT length(digest), length(batch_root) FROM certificate WHERE department_id = :d"),
            {"d": fresh_department},
        ).all()
    assert "proof" not in columns and lengths == [(32, 32)]


@pytest.mark.parametrize("edit", ["leaf", "order", "index"])
def test_an_edited_batch_leaf_or_leaf_index_fails_verification(
    ledger: Ledger, fresh_department: str, tmp_path: Path, edit: str
) -> None:
    """Adversary: an insider editing the stored leaves of a batch, or a certificate's leaf index, so that the
    proof handed out leads elsewhere. The exported document then fails the Merkle check against the anchored
    root (as a document with an edited stored proof did), and no evidence bundle is produced for it."""
    doc, cid = _issue_one(ledger, fresh_department, tmp_path)
    digest, _ = _row(ledger, fresh_department, cid)
    root = doc["anchor"]["root"]
    view = ChainView(ledger.chain, ledger.settings.confirmations)
    assert verify_certificate(issuance.export_document(ledger, digest), view).ok
    with ledger.engine.begin() as conn:
        leaves = bytes(conn.execute(select(Batch.leaves).where(Batch.root == root)).scalar_one())
        if edit == "leaf":  # the other certificate's leaf: this one's proof is built from it
            conn.execute(update(Batch).where(Batch.root == root).values(leaves=leaves[:32] + b"\x11" * 32))
        elif edit == "order":
            conn.execute(update(Batch).where(Batch.root == root).values(leaves=leaves[32:] + leaves[:32]))
        else:
            conn.execute(update(Certificate).where(Certificate.digest == digest).values(leaf_index=1))
    report = verify_certificate(issuance.export_document(ledger, digest), view)
    assert not report.ok and report.check("merkle_proof").ok is False, report
    with pytest.raises(VerificationError, match="merkle_proof failed"):
        evidence.bundle_for_stored(ledger, digest)


def test_an_edited_run_root_fails_verification_and_reconcile(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an insider editing ``batch.nodes``, the stored roots of each run of 64 leaves that readers take
    the upper part of a proof from. A certificate of another run then gets a proof that fails against the
    anchored root, and reconcile names every certificate of the batch (proofs read from that row cannot be
    trusted)."""
    out = __import__("io").StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / "runs.jsonl", make_records(70)), fresh_department, out=out)
    docs = [json.loads(line) for line in out.getvalue().splitlines()]
    root = docs[0]["anchor"]["root"]
    view = ChainView(ledger.chain, ledger.settings.confirmations)
    assert verify_certificate(issuance.export_document(ledger, docs[0]["digest"]), view).ok
    with ledger.engine.begin() as conn:
        nodes = bytes(conn.execute(select(Batch.nodes).where(Batch.root == root)).scalar_one())
        assert len(nodes) == 64  # two runs: leaves 0-63 and 64-69
        conn.execute(update(Batch).where(Batch.root == root).values(nodes=nodes[:32] + b"\x33" * 32))
    report = verify_certificate(issuance.export_document(ledger, docs[0]["digest"]), view)
    assert not report.ok and report.check("merkle_proof").ok is False, report
    divergences = reconcile(ledger, departments=[fresh_department]).divergences
    assert {(d.kind, d.certificate) for d in divergences} == {("certificate_altered", d["digest"]) for d in docs}


@pytest.mark.parametrize("n", [1, 2, 63, 64, 65, 127, 128, 129, 200, 4097])
def test_a_proof_from_the_run_and_the_run_roots_is_the_whole_trees(n: int) -> None:
    """``batch_proof`` rebuilds 64 leaves and the levels above the run roots, never the whole tree: for every
    size (one run, a short last run, odd levels) and every leaf it gives the whole tree's proof."""
    digests = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n)]
    tree = MerkleTree(digests)
    leaves, nodes = b"".join(digests), chunk_nodes(tree)
    assert len(nodes) == 32 * -(-n // 64)
    for i in range(n) if n < 300 else range(0, n, 37):
        assert batch_proof(leaves, nodes, i) == tree.proof(i)
    assert batch_proof(leaves, nodes, n) == [] and batch_proof(leaves, nodes, -1) == []


def test_bulk_export_finds_exactly_the_stored_digests_among_hostile_ones(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """``export_documents`` (what decide and replay resolve cited digests with; its look-up a driver-level statement
    binding the digests in the column's storage form) returns each anchored certificate asked for, by any spelling
    of its digest, and nothing for a digest that is not hex, too short, unknown or not a text; a row whose digest
    an insider rewrote as a text (the layout before 32 raw bytes) is not found, as through the column type."""
    out = __import__("io").StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / "three.jsonl", make_records(3)), fresh_department, out=out)
    issued = {d["digest"]: d for d in (json.loads(line) for line in out.getvalue().splitlines())}
    first, second, third = sorted(issued)
    asked = [
        first.upper().replace("0X", "0x"),
        second,
        first,
        "0x" + "zz" * 32,
        "0x" + "ab" * 31,
        "0x" + "00" * 32,
        "0X" + third[2:],
        7,
        None,
    ]
    assert issuance.export_documents(ledger, asked) == {first: issued[first], second: issued[second]}
    if ledger.engine.dialect.name == "sqlite":  # a text where 32 bytes belong: SQLite keeps any type in a column
        with ledger.engine.begin() as conn:
            conn.execute(
                text("UPDATE certificate SET digest = :t WHERE digest = :b"),
                {"t": second, "b": bytes.fromhex(second[2:])},
            )
        assert issuance.export_documents(ledger, [first, second, third]) == {first: issued[first], third: issued[third]}
