"""Hash-chained logs against the real chain: appending, anchoring, and check_log naming each kind of tampering."""

from __future__ import annotations

import hashlib
import itertools
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import insert, text

from ledger.errors import InputError
from ledger.formats.canonical import canonical_json
from ledger.formats.merkle import MerkleTree, verify_proof
from ledger.services import logchain
from ledger.services.demo_data import generate_applications, generate_service_items
from ledger.services.logchain import LogEntry, anchor_pending, append, append_many, check_log, entries
from ledger.storage.models import DecisionInput, LogMention
from ledger.storage.store import batch_proof, insert_rows

LOG = "test-log"


def _bodies(n: int, tag: str = "x") -> list[dict[str, Any]]:
    return [{"n": i, "tag": tag, "nested": {"list": [1, "two", None, True]}} for i in range(n)]


def _kinds(found: list[logchain.Discrepancy]) -> dict[str, list[int | None]]:
    out: dict[str, list[int | None]] = {}
    for d in found:
        out.setdefault(d.kind, []).append(d.seq)
    return out


def _sql(ledger: Any, statement: str, **params: Any) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_entry_hash_is_the_documented_canonical_form() -> None:
    body = {"b": [1, 2], "a": "é ü 中", "z": None}
    prev = "0x" + "ab" * 32
    expected = (
        "0x"
        + hashlib.sha256(
            logchain.ENTRY_PREFIX
            + canonical_json({"log": "decisions", "department": "MKT", "seq": 7, "prev": prev, "body": body})
        ).hexdigest()
    )
    assert logchain.compute_entry_hash("decisions", "MKT", 7, prev, canonical_json(body)) == expected


def test_fast_canonical_body_matches_rfc8785() -> None:
    items = generate_service_items(20, seed=3)
    samples: list[dict[str, Any]] = list(generate_applications(200, items, seed=3))
    samples += [
        {"s": "tab\there", "k": "line\u2028sep"},
        {"f": 1.5, "g": 1e21},
        {"\u00e9": 1, "e": 2, "z": {"\U0001f600": 1, "\uffff": 2}},
        {"ctrl": "\x7f\x00"},
    ]
    for body in samples:
        assert logchain.canonical_body(body) == canonical_json(body)
    with pytest.raises(InputError):
        logchain.canonical_body({"big": 2**60})  # outside the integers JSON numbers carry exactly


def test_append_anchor_and_clean_check(ledger: Any, fresh_department: str) -> None:
    dept = fresh_department
    first = append(ledger, LOG, dept, {"hello": "world"})
    assert (first.seq, first.prev_hash, first.state) == (1, logchain.ZERO_HASH, "pending")
    assert append_many(ledger, LOG, dept, _bodies(250)) == 250
    roots = anchor_pending(ledger, LOG, dept, max_batch=100)
    assert len(roots) == 3
    assert anchor_pending(ledger, LOG, dept) == []  # idempotent
    stored = list(entries(ledger, LOG, dept))
    assert [e.seq for e in stored] == list(range(1, 252))
    assert all(e.state == "anchored" and e.batch_root is not None for e in stored)
    # each entry's proof, rebuilt from its anchor's stored leaves and run roots, leads to the root the chain holds
    ranges = {r.root: r for r in logchain.chain_ranges(ledger, LOG, dept)}
    for e in stored:
        leaves, nodes = _stored_tree(ledger, e.batch_root)
        assert e.leaf_index == e.seq - ranges[e.batch_root].first_seq
        proof = batch_proof(leaves, nodes, e.leaf_index)
        assert verify_proof(bytes.fromhex(e.entry_hash[2:]), proof, bytes.fromhex(e.batch_root[2:]))
    assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(stored))
    assert stored[0].created_at.tzinfo is not None
    hour = timedelta(hours=1)
    assert len(list(entries(ledger, LOG, dept, since=stored[0].created_at - hour))) == 251
    assert list(entries(ledger, LOG, dept, since=stored[-1].created_at + hour)) == []
    assert list(entries(ledger, LOG, dept, until=stored[0].created_at - hour)) == []
    chain = ledger.chain
    assert chain.call(chain.log.functions.nextSequence(dept.encode().ljust(32, b"\0"), logchain.log_id(LOG))) == 252
    assert check_log(ledger, LOG, dept) == []
    # un-anchored entries after the last anchored range are not a discrepancy
    append(ledger, LOG, dept, {"late": True})
    assert check_log(ledger, LOG, dept) == []


def test_concurrent_appends_never_duplicate_a_sequence_number(ledger: Any, fresh_department: str) -> None:
    dept = fresh_department
    errors: list[BaseException] = []

    def writer(tag: str) -> None:
        try:
            for i in range(40):
                if i % 2:
                    append(ledger, LOG, dept, {"writer": tag, "i": i})
                else:
                    append_many(ledger, LOG, dept, [{"writer": tag, "i": i, "j": j} for j in range(3)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{k}",)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    seqs = [e.seq for e in entries(ledger, LOG, dept)]
    assert seqs == list(range(1, 6 * (20 + 20 * 3) + 1))
    anchor_pending(ledger, LOG, dept)
    assert check_log(ledger, LOG, dept) == []


def _stored_tree(ledger: Any, root: str) -> tuple[bytes, bytes]:
    with ledger.engine.connect() as conn:
        leaves, nodes = conn.execute(text("SELECT leaves, nodes FROM loganchor WHERE root = :r"), {"r": root}).one()
    return bytes(leaves), bytes(nodes)


def _anchored_log(ledger: Any, dept: str, n: int = 60, batch: int = 25) -> None:
    append_many(ledger, LOG, dept, _bodies(n, dept))
    anchor_pending(ledger, LOG, dept, max_batch=batch)


def test_altered_body_is_found(ledger: Any, fresh_department: str) -> None:
    _anchored_log(ledger, fresh_department)
    _sql(
        ledger,
        "UPDATE logentry SET body = replace(body, :old, :new) WHERE log=:l AND department_id=:d AND seq=8",
        old='"n":7,',
        new='"n":8,',
        l=LOG,
        d=fresh_department,
    )
    assert _kinds(check_log(ledger, LOG, fresh_department)) == {"altered": [8]}


def test_recomputed_hash_breaks_the_chain_and_the_anchor(ledger: Any, fresh_department: str) -> None:
    dept = fresh_department
    _anchored_log(ledger, dept)
    with ledger.engine.begin() as conn:
        _seq, body, prev = conn.execute(
            text("SELECT seq, body, prev_hash FROM logentry WHERE log=:l AND department_id=:d AND seq=30"),
            {"l": LOG, "d": dept},
        ).one()
        forged = body.replace('"n":29', '"n":1000')
        conn.execute(
            text("UPDATE logentry SET body=:b, entry_hash=:h WHERE log=:l AND department_id=:d AND seq=30"),
            {"b": forged, "h": logchain.compute_entry_hash(LOG, dept, 30, prev, forged), "l": LOG, "d": dept},
        )
    kinds = _kinds(check_log(ledger, LOG, dept))
    assert kinds["broken_chain"] == [31]
    assert kinds["inserted"] == [30]


def test_deleted_entries_are_missing_even_at_the_end(ledger: Any, fresh_department: str) -> None:
    dept = fresh_department
    _anchored_log(ledger, dept)
    _sql(ledger, "DELETE FROM logentry WHERE log=:l AND department_id=:d AND seq IN (10, 59, 60)", l=LOG, d=dept)
    assert _kinds(check_log(ledger, LOG, dept)) == {"missing": [10, 59]}


def test_swapped_entries_are_reordered(ledger: Any, fresh_department: str) -> None:
    dept = fresh_department
    _anchored_log(ledger, dept)
    append_many(ledger, LOG, dept, _bodies(10, "unanchored"))  # 61-70, never anchored
    for a, b in ((12, 13), (64, 66)):
        _sql(ledger, "UPDATE logentry SET seq = -1 WHERE log=:l AND department_id=:d AND seq=:a", l=LOG, d=dept, a=a)
        _sql(
            ledger, "UPDATE logentry SET seq = :a WHERE log=:l AND department_id=:d AND seq=:b", l=LOG, d=dept, a=a, b=b
        )
        _sql(ledger, "UPDATE logentry SET seq = :b WHERE log=:l AND department_id=:d AND seq=-1", l=LOG, d=dept, b=b)
    assert _kinds(check_log(ledger, LOG, dept)) == {"reordered": [12, 13, 64, 66]}


def test_missing_anchor_and_unknown_root(ledger: Any, fresh_department: str) -> None:
    # An entry's anchoring is its anchor row's: an insider who deletes the row holding 1-25 leaves those entries
    # without an anchor where the chain anchored them, one who adds a row claiming 61 anchored under a root the chain
    # does not know makes it "marked anchored" without being so; and one who moves the start of the row holding
    # 26-50 makes its entries sit at the wrong leaves.
    dept = fresh_department
    _anchored_log(ledger, dept)  # anchors 1-25, 26-50, 51-60
    append(ledger, LOG, dept, {"beyond": 1})  # seq 61
    _sql(ledger, "DELETE FROM loganchor WHERE log=:l AND department_id=:d AND first_seq=1", l=LOG, d=dept)
    _sql(
        ledger,
        "INSERT INTO loganchor (root, log, department_id, first_seq, last_seq, head_hash, signer, signature, state, "
        "created_at, leaves, nodes) SELECT :r, log, department_id, 61, 61, head_hash, signer, signature, 'anchored', "
        "created_at, leaves, nodes FROM loganchor WHERE log=:l AND department_id=:d AND first_seq=51",
        r="0x" + "11" * 32,
        l=LOG,
        d=dept,
    )
    assert _kinds(check_log(ledger, LOG, dept)) == {"not_anchored": [*range(1, 26), 61]}
    _sql(ledger, "UPDATE loganchor SET first_seq=24 WHERE log=:l AND department_id=:d AND first_seq=26", l=LOG, d=dept)
    assert _kinds(check_log(ledger, LOG, dept)) == {
        "not_anchored": [*range(1, 26), 61],  # 24 and 25 now name 26-50's root, at its leaves 0 and 1
        "reordered": list(range(26, 51)),
        "anchor_altered": [24],  # the row itself: its range is not the one the chain anchored under its root
    }


@pytest.mark.parametrize("part", ["leaf", "run root"])
def test_tampered_proof_is_proof_invalid(ledger: Any, fresh_department: str, part: str) -> None:
    # The proofs are rebuilt from the anchor row's leaves and run roots: an insider who edits one leaf (entry 5's)
    # changes the proof of every other entry of its run of 64 (each has it, or a node above it, as a sibling), one
    # who edits a run root the proof of every entry of the other runs; the entries themselves are intact.
    dept = fresh_department
    _anchored_log(ledger, dept, n=150, batch=150)  # one anchor, three runs: 1-64, 65-128, 129-150
    [root] = [r.root for r in logchain.chain_ranges(ledger, LOG, dept)]
    leaves, nodes = _stored_tree(ledger, root)
    if part == "leaf":
        leaves, expected = leaves[:128] + b"\x01" * 32 + leaves[160:], [s for s in range(1, 65) if s != 5]
    else:
        nodes, expected = b"\x01" * 32 + nodes[32:], list(range(65, 151))
    _sql(ledger, "UPDATE loganchor SET leaves=:v, nodes=:n WHERE root=:r", v=leaves, n=nodes, r=root)
    assert _kinds(check_log(ledger, LOG, dept)) == {"proof_invalid": expected}


def test_interrupted_anchor_is_confirmed_from_the_chain(ledger: Any, fresh_department: str) -> None:
    dept = fresh_department
    _anchored_log(ledger, dept, n=30, batch=30)
    # as if the process died after sending: the outbox still says submitted
    _sql(
        ledger, "UPDATE loganchor SET state='submitted', tx_hash=NULL WHERE log=:l AND department_id=:d", l=LOG, d=dept
    )
    assert all(e.state == "submitted" for e in entries(ledger, LOG, dept))  # the anchor's state, not a row's
    block = ledger.chain.block_number()
    assert len(anchor_pending(ledger, LOG, dept)) == 1
    assert all(e.state == "anchored" for e in entries(ledger, LOG, dept))
    assert check_log(ledger, LOG, dept) == []
    # nothing was sent again: no new LogBatchAnchored event for this department
    assert all(r.block_number <= block for r in logchain.chain_ranges(ledger, LOG, dept))


def _raw(ledger: Any, table: str, columns: str, department: str) -> list[tuple[Any, ...]]:
    """Rows as the driver returns them (no type processing): what is stored, column by column; in one order on every
    database (an entry's several index rows share its seq: PostgreSQL returns them in any order)."""
    with ledger.engine.connect() as conn:
        query = text(f"SELECT {columns} FROM {table} WHERE department_id = :d ORDER BY seq, {columns}")
        return [tuple(r) for r in conn.execute(query, {"d": department})]


def test_bulk_writes_store_what_sqlalchemy_stores(ledger: Any, fresh_department: str) -> None:
    # An append writes its rows with one driver-level executemany (store.insert_rows): each column must hold what
    # SQLAlchemy's own insert stores from the same values (created_at through the DateTime type's processing); an
    # anchoring writes one anchor row, holding its range's entry hashes and the tree's run roots.
    dept, ref = fresh_department, fresh_department + "-ref"
    at = datetime(2026, 12, 5, 1, 2, 3, 456789, tzinfo=UTC)
    cited = ["0x" + f"{i:064x}" for i in range(1, 4)]
    bodies = [{"case_id": f"C-{i}", "certificates": [{"digest": d} for d in cited[: i % 4]]} for i in range(37)]
    assert append_many(ledger, logchain.LOG_DECISIONS, dept, bodies, created_at=at, chunk=20) == 37
    anchor_pending(ledger, logchain.LOG_DECISIONS, dept, max_batch=16)
    columns = "log, seq, body, lookup, entry_hash, prev_hash, created_at"
    fast = _raw(ledger, "logentry", columns, dept)
    assert len(fast) == 37
    with ledger.engine.connect() as conn:
        anchors = conn.execute(
            text(
                "SELECT first_seq, last_seq, root, leaves, nodes, state FROM loganchor WHERE department_id = :d "
                "ORDER BY first_seq"
            ),
            {"d": dept},
        ).all()
    assert [(a[0], a[1]) for a in anchors] == [(1, 16), (17, 32), (33, 37)]
    for first, last, root, leaves, nodes, state in anchors:
        tree = MerkleTree([bytes.fromhex(r[4][2:]) for r in fast[first - 1 : last]])
        assert (bytes(leaves), bytes(nodes), root, state) == (
            b"".join(bytes.fromhex(r[4][2:]) for r in fast[first - 1 : last]),
            tree.run_roots(),
            "0x" + tree.root.hex(),
            "anchored",
        )
    prev = logchain.ZERO_HASH
    for row in fast:  # each hash as the documented form gives it (compute_entry_hash), chained
        assert (row[5], row[4]) == (
            prev,
            logchain.compute_entry_hash(logchain.LOG_DECISIONS, dept, row[1], prev, row[2]),
        )
        prev = row[4]
    entries_table, mentions_table = LogEntry.__table__, LogMention.__table__  # type: ignore[attr-defined]
    with ledger.engine.begin() as conn:  # the reference: SQLAlchemy's statements, the same values, another department
        conn.execute(
            insert(entries_table),
            [
                {"log": r[0], "department_id": ref, "seq": r[1], "body": r[2], "lookup": r[3], "entry_hash": r[4]}
                | {"prev_hash": r[5], "created_at": at}
                for r in fast
            ],
        )
        conn.execute(
            insert(mentions_table),
            [
                {"log": logchain.LOG_DECISIONS, "department_id": ref, "seq": seq, "digest": d}
                for seq, body in enumerate(bodies, start=1)
                for d in logchain.mentions_of(body)
            ],
        )
    assert _raw(ledger, "logentry", columns, ref) == fast
    mention_columns = "log, seq, digest"
    assert _raw(ledger, "logmention", mention_columns, dept) == _raw(ledger, "logmention", mention_columns, ref)
    assert len(_raw(ledger, "logmention", mention_columns, dept)) == sum(i % 4 for i in range(37))
    # skip_existing: a row whose key is stored already is left as it is, the others inserted (decision inputs)
    inputs = DecisionInput.__table__  # type: ignore[attr-defined]
    key = "0x" + "cd" * 32
    with ledger.engine.begin() as conn:
        insert_rows(conn, inputs, ("digest", "document"), [(key, "{}")], skip_existing=True)
        insert_rows(conn, inputs, ("digest", "document"), [(key, "{}"), (key[:-2] + "ce", "{}")], skip_existing=True)
        stored = conn.execute(
            text("SELECT digest FROM decisioninput WHERE digest IN (:a, :b)"), {"a": key, "b": key[:-2] + "ce"}
        )
        assert sorted(r[0] for r in stored) == [key[:-2] + "cd", key[:-2] + "ce"]


def test_bulk_insert_processes_each_value_as_sqlalchemy_does(ledger: Any, fresh_department: str) -> None:
    # store.insert_rows runs a column's bind processor once per value object (an append's rows share one created_at):
    # rows sharing an object, rows with objects of their own, and objects that compare equal but are written
    # differently (one instant in two zones: SQLite stores the wall-clock fields as given) must each be stored as
    # SQLAlchemy's own insert stores them
    dept, ref = fresh_department, fresh_department + "-ref"
    shared = datetime(2026, 12, 5, 1, 2, 3, 456789, tzinfo=UTC)
    same_instant = shared.astimezone(timezone(timedelta(hours=5)))
    assert same_instant == shared and same_instant.hour != shared.hour
    times = [shared, shared, same_instant, datetime(2026, 12, 5, 1, 2, 3, 456789, tzinfo=UTC), shared]
    times += [shared + timedelta(microseconds=i) for i in range(5)] + [same_instant, shared]
    columns = ("log", "department_id", "seq", "body", "entry_hash", "prev_hash", "created_at")
    values = [("bulk-dates", seq, "{}", "0x" + f"{seq:064x}", logchain.ZERO_HASH, at) for seq, at in enumerate(times)]
    entries_table = LogEntry.__table__  # type: ignore[attr-defined]
    with ledger.engine.begin() as conn:
        insert_rows(conn, entries_table, columns, [(v[0], dept, *v[1:]) for v in values])
        conn.execute(
            insert(entries_table),
            [dict(zip(columns, (v[0], ref, *v[1:]), strict=True)) for v in values],
        )
    stored = _raw(ledger, "logentry", "seq, created_at", dept)
    assert stored == _raw(ledger, "logentry", "seq, created_at", ref) and len(stored) == len(times)
    if ledger.engine.dialect.name == "sqlite":  # the two zones' texts differ, as the values' fields do
        assert len({r[1] for r in stored}) == 6


def test_an_append_stores_and_hashes_the_canonical_bytes_of_any_text(ledger: Any, fresh_department: str) -> None:
    # The append keeps each body's canonical text as str until its transaction and hashes it encoded again
    # (logchain._prepared): the stored text and the entry hash must be those of canonical_json's own bytes, for
    # multi-byte UTF-8 (2-, 3- and 4-byte characters), escapes, and bodies that take the general (RFC 8785) path.
    dept = fresh_department
    texts = ["plain", "café", "营业执照 第3号", "emoji \U0001f600 and \u00a0nbsp", 'quote " back \\ slash', "tab\tnl\n"]
    bodies: list[dict[str, Any]] = [{"case_id": f"C-{i}", "note": t} for i, t in enumerate(texts)]
    bodies.append({"case_id": "C-float", "score": 1.5, "big": 2**40, "nested": {"z": ["ü", {"a": None}]}})
    assert append_many(ledger, logchain.LOG_DECISIONS, dept, bodies[:4], chunk=3) == 4
    for body in bodies[4:]:
        append(ledger, logchain.LOG_DECISIONS, dept, body)
    stored = _raw(ledger, "logentry", "seq, body, entry_hash, prev_hash", dept)
    assert len(stored) == len(bodies)
    prev = logchain.ZERO_HASH
    for (seq, text_, entry_hash, prev_hash), body in zip(stored, bodies, strict=True):
        raw = canonical_json(body)
        assert text_ == raw.decode("utf-8")
        assert (prev_hash, entry_hash) == (
            prev,
            logchain.compute_entry_hash(logchain.LOG_DECISIONS, dept, seq, prev, raw),
        )
        prev = entry_hash
    assert check_log(ledger, logchain.LOG_DECISIONS, dept) == []


def _time_agrees_reference(text: str, created_at: datetime) -> bool | None:
    """``logchain._decision_time_agrees`` as it was written before its one-pass kind scan and naive comparison."""
    at = text.find('"decided_at":"')
    if at < 0 or any(kind in text for kind in logchain._SUPERVISION_KINDS):
        return None
    start = at + 14
    end = text.find('"', start)
    if end < 0 or text.find('"decided_at":"', end) >= 0:
        return None
    stated = logchain.instant(text[start:end])
    stored = created_at if created_at.tzinfo is not None else created_at.replace(tzinfo=UTC)
    return True if stated is not None and stated == stored else None


def test_decision_time_fast_answer_equals_its_reference_on_generated_texts() -> None:
    """The decided_at fast path (one scan for a supervision kind, the stored naive time compared with the stated
    instant's naive UTC fields) answers as the plain reading did, on texts holding each kind, near misses of them,
    several kind members, nested and repeated decided_at, times in other zones, naive and aware stored times."""
    import random

    rng = random.Random(18)
    pieces = [
        '"kind":"engine"',
        '"kind":"credit_listing"',
        '"kind":"credit_"',
        '"kind":"inspection_x"',
        '"kind":"commitment_check"',
        '"kind":"commitment_checks"',
        '"kind":"commitment_check',
        '"kind":"',
        '"kind":"credit',
        '"kind":"inspect',
        '"kind":"kind":"credit_',
        '"decided_at":"2026-01-02T03:04:05.678Z"',
        '"decided_at":"2026-01-02T04:04:05.678+01:00"',
        '"decided_at":"2026-01-02T03:04:05Z"',
        '"decided_at":"2026-01-02T03:04:05"',
        '"decided_at":"not a time"',
        '"decided_at":"',
        '{"x":1}',
        ",",
    ]
    stored = [
        datetime(2026, 1, 2, 3, 4, 5, 678000),
        datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        datetime(2026, 1, 2, 4, 4, 5, 678000, tzinfo=timezone(timedelta(hours=1))),
        datetime(2026, 1, 2, 3, 4, 5),
        datetime(2026, 1, 2, 3, 4, 5, 678000, fold=1),
    ]
    answered = set()
    for _ in range(6000):
        text = "{" + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6))) + "}"
        for created_at in stored:
            want = _time_agrees_reference(text, created_at)
            assert logchain._decision_time_agrees(text, created_at) == want, (text, created_at)
            assert logchain._names_supervision_kind(text) == any(k in text for k in logchain._SUPERVISION_KINDS)
            answered.add(want)
    assert answered == {True, None}
