"""Issue 18: deciding and replaying with worker processes (the input hashing and commitments in another process)
records and finds exactly what one process does: a history decided with workers replays clean, and tampering in
the middle of a chunk or across a chunk boundary is named by the same checks, at the same sequence numbers.

Adversary: an insider with database access who edits one decision deep inside a long log, or swaps two at the seam
where the replay hands one chunk to a worker and starts the next."""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest
from sqlalchemy import text

from ledger.errors import InputError
from ledger.services import decisions
from ledger.services import replay as replay_module
from ledger.services.logchain import LOG_DECISIONS, canonical_body
from ledger.services.replay import replay

from .decision_support import applications, unique_rule_set

N = 200
CHUNK = 40  # replay's chunk in these tests: entries 1-40, 41-80, 81-120, ...


def _checks(report: Any) -> dict[str, list[int | None]]:
    out: dict[str, list[int | None]] = {}
    for d in report.discrepancies:
        out.setdefault(d.check, []).append(d.seq)
    return out


def _sql(ledger: Any, statement: str, **params: Any) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(text(statement), params)


def _body(ledger: Any, dept: str, seq: int) -> dict[str, Any]:
    with ledger.engine.connect() as conn:
        raw = conn.execute(
            text("SELECT body FROM logentry WHERE log=:l AND department_id=:d AND seq=:s"),
            {"l": LOG_DECISIONS, "d": dept, "s": seq},
        ).scalar_one()
    return json.loads(raw)  # type: ignore[no-any-return]


def _set_body(ledger: Any, dept: str, seq: int, body: dict[str, Any]) -> None:
    _sql(
        ledger,
        "UPDATE logentry SET body=:b WHERE log=:l AND department_id=:d AND seq=:s",
        b=canonical_body(body).decode(),
        l=LOG_DECISIONS,
        d=dept,
        s=seq,
    )


def _decide_with_worker(ledger: Any, dept: str, apps: list[dict[str, Any]]) -> decisions.DecideResult:
    rule_set = unique_rule_set(dept)
    decisions.publish_rule_set(ledger, rule_set, dept)
    return decisions.decide_many(ledger, dept, apps, {"*": rule_set}, chunk=50, workers=1)


def test_history_decided_with_a_worker_replays_clean_with_and_without_workers(
    ledger: Any, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dept = fresh_department
    result = _decide_with_worker(ledger, dept, applications(N, seed=zlib.crc32(dept.encode())))
    assert result.count == N and result.roots
    monkeypatch.setattr(replay_module, "_CHUNK", CHUNK)
    alone = replay(ledger, department=dept, workers=0)
    assert alone.ok, alone.summary()
    assert alone.re_run == N
    parallel = replay(ledger, department=dept, workers=1)
    assert parallel.ok, parallel.summary()
    assert (parallel.decisions, parallel.re_run, parallel.outcomes) == (N, N, alone.outcomes)


def _comparable(report: Any) -> dict[str, Any]:
    """A report's JSON without what differs between two runs of the same history: the time they took, and the head
    they started at (the embedded node mines a block a second)."""
    out = report.to_json()
    out.pop("seconds")
    out.pop("as_of_block")
    return out


@pytest.mark.parametrize("here_when_busy", [False, True], ids=["every-chunk-in-a-worker", "shared-with-a-worker"])
def test_tampering_inside_a_chunk_and_across_its_boundary_is_found_with_workers(
    ledger: Any, fresh_department: str, monkeypatch: pytest.MonkeyPatch, here_when_busy: bool
) -> None:
    """The parallel replay (chunks re-run in a worker, or shared between it and the replaying process) gives the
    report of the one-process replay, finding for finding and in the same order, on a history with altered,
    reordered, missing and irreproducible decisions in several chunks and at their seams."""
    dept = fresh_department
    _decide_with_worker(ledger, dept, applications(N, seed=zlib.crc32(dept.encode())))
    # the middle of the second chunk: an outcome changed, and another record's input commitment replaced
    body = _body(ledger, dept, 60)
    flipped = "approve" if body["outcome"] != "approve" else "refer"
    _set_body(ledger, dept, 60, {**body, "outcome": flipped})
    other = _body(ledger, dept, 63)
    _set_body(ledger, dept, 63, {**other, "input_commitment": "0x" + "11" * 32})
    # the last entry of the first chunk: its body no JSON object (the worker parses it, the walk hash-checks it)
    _sql(
        ledger,
        "UPDATE logentry SET body=:b WHERE log=:l AND department_id=:d AND seq=40",
        b="[1, 2]",
        l=LOG_DECISIONS,
        d=dept,
    )
    # the middle of the third chunk: its stored input edited
    digest = _body(ledger, dept, 100)["input_digest"]
    with ledger.engine.connect() as conn:
        stored = json.loads(
            conn.execute(text("SELECT document FROM decisioninput WHERE digest=:d"), {"d": digest}).scalar_one()
        )
    stored["applicant"]["blacklisted"] = not stored["applicant"]["blacklisted"]
    _sql(ledger, "UPDATE decisioninput SET document=:t WHERE digest=:d", t=canonical_body(stored).decode(), d=digest)
    # the seam between the fourth and fifth chunks: entries 120 and 121 swapped
    for statement in (
        "UPDATE logentry SET seq=-1 WHERE log=:l AND department_id=:d AND seq=120",
        "UPDATE logentry SET seq=120 WHERE log=:l AND department_id=:d AND seq=121",
        "UPDATE logentry SET seq=121 WHERE log=:l AND department_id=:d AND seq=-1",
        # the certificates index moved along, as a careful insider would (else replay names it: index_altered)
        "UPDATE logmention SET seq=-1 WHERE log=:l AND department_id=:d AND seq=120",
        "UPDATE logmention SET seq=120 WHERE log=:l AND department_id=:d AND seq=121",
        "UPDATE logmention SET seq=121 WHERE log=:l AND department_id=:d AND seq=-1",
        # the fourth chunk's 150th entry deleted, with its index rows
        "DELETE FROM logmention WHERE log=:l AND department_id=:d AND seq=150",
        "DELETE FROM logentry WHERE log=:l AND department_id=:d AND seq=150",
    ):
        _sql(ledger, statement, l=LOG_DECISIONS, d=dept)
    # the last chunk: a decision whose stored input is gone (it cannot be re-run), another's index row removed
    gone = _body(ledger, dept, 170)["input_digest"]
    _sql(ledger, "DELETE FROM decisioninput WHERE digest=:d", d=gone)
    # (the first entry after 180 that names a certificate: which do depends on the generated applications)
    with ledger.engine.connect() as conn:
        unindexed = conn.execute(
            text("SELECT MIN(seq) FROM logmention WHERE log=:l AND department_id=:d AND seq>180"),
            {"l": LOG_DECISIONS, "d": dept},
        ).scalar_one()
    assert unindexed is not None
    _sql(
        ledger,
        "DELETE FROM logmention WHERE log=:l AND department_id=:d AND seq=:s",
        l=LOG_DECISIONS,
        d=dept,
        s=unindexed,
    )
    monkeypatch.setattr(replay_module, "_CHUNK", CHUNK)
    monkeypatch.setattr(replay_module, "_RUN_HERE_WHEN_BUSY", here_when_busy)
    expected = {
        "altered": [40, 60, 63],
        "body_invalid": [40],
        "outcome_mismatch": [60],
        "input_commitment_invalid": [63],
        "input_altered": [100],
        "reordered": [120, 121],
        "missing": [150],
        "input_missing": [170],
        "index_altered": [unindexed],
    }
    parallel = replay(ledger, department=dept, workers=1)
    assert _checks(parallel) == expected, parallel.summary()
    alone = replay(ledger, department=dept, workers=0)
    assert [d.to_json() for d in parallel.discrepancies] == [d.to_json() for d in alone.discrepancies]
    assert _comparable(parallel) == _comparable(alone)
    assert parallel.summary().split("\n")[1:] == alone.summary().split("\n")[1:]  # the first line has the time
    # as `ledger replay` runs it: the cyclic collector paused, a young-generation pass per chunk (memory flat)
    from ledger._gc import cyclic_gc_paused

    with cyclic_gc_paused():
        paused = replay(ledger, department=dept, workers=1)
    assert _comparable(paused) == _comparable(alone)


@pytest.mark.parametrize("workers", [0, 1], ids=["one-process", "with-a-worker"])
def test_decisions_sharing_a_moment_are_each_reported_when_it_is_wrong(
    ledger: Any, fresh_department: str, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """Replay judges a decision's moment and its department's authority once per chunk for the decisions sharing
    its facts block, decided_at and anchoring block (a bulk run decides a chunk at one moment): each decision of
    that moment is still reported, with the same finding, and one of another moment in the same chunk on its own."""
    dept = fresh_department
    _decide_with_worker(ledger, dept, applications(N, seed=zlib.crc32(dept.encode())))
    later = {41: "2099-01-01T00:00:00.000Z", 42: "2099-01-01T00:00:00.000Z", 43: "2098-06-01T00:00:00.000Z"}
    later[44] = later[41]
    for seq, moment in later.items():
        body = _body(ledger, dept, seq)
        assert body["as_of_block"] == _body(ledger, dept, 41)["as_of_block"]  # one bulk chunk: one facts block
        _set_body(ledger, dept, seq, {**body, "decided_at": moment})
    monkeypatch.setattr(replay_module, "_CHUNK", CHUNK)
    report = replay(ledger, department=dept, workers=workers)
    assert _checks(report) == {"altered": [41, 42, 43, 44], "facts_block_invalid": [41, 42, 43, 44]}
    found = {d.seq: d.detail for d in report.discrepancies if d.check == "facts_block_invalid"}
    assert found[41] == found[42] == found[44] != found[43]
    assert all(moment in found[seq] for seq, moment in later.items())
    alone = replay(ledger, department=dept, workers=0)
    assert [d.to_json() for d in report.discrepancies] == [d.to_json() for d in alone.discrepancies]


def test_a_bad_application_with_workers_records_the_chunks_before_it_and_nothing_after(
    ledger: Any, fresh_department: str
) -> None:
    dept = fresh_department
    apps = applications(150, seed=zlib.crc32(dept.encode()))
    apps[129] = {**apps[129], "case_id": ""}
    with pytest.raises(InputError, match="application 130"):
        _decide_with_worker(ledger, dept, apps)
    with ledger.engine.connect() as conn:
        recorded = conn.execute(
            text("SELECT count(*) FROM logentry WHERE log=:l AND department_id=:d"), {"l": LOG_DECISIONS, "d": dept}
        ).scalar_one()
    assert recorded == 100  # chunks 1-50 and 51-100, as one process records them


def test_a_long_run_anchors_as_it_goes_so_its_first_decisions_are_not_anchored_late(
    ledger: Any, fresh_department: str
) -> None:
    """Found at 1,000,000 decisions: anchored only at the end of a 20-minute run, the first quarter of the history
    was ``anchored_late`` (the deadline is 15 minutes). Now every full anchoring batch is anchored when recorded."""
    dept = fresh_department
    rule_set = unique_rule_set(dept)
    decisions.publish_rule_set(ledger, rule_set, dept)
    apps = applications(250, seed=zlib.crc32(dept.encode()))
    result = decisions.decide_many(ledger, dept, apps, {"*": rule_set}, chunk=50, anchor_every=100, workers=0)
    assert result.count == 250
    with ledger.engine.connect() as conn:
        ranges = conn.execute(
            text("SELECT first_seq, last_seq FROM loganchor WHERE log=:l AND department_id=:d ORDER BY first_seq"),
            {"l": LOG_DECISIONS, "d": dept},
        ).all()
    assert [tuple(r) for r in ranges] == [(1, 100), (101, 200), (201, 250)]
    assert len(result.roots) == 3
    report = replay(ledger, department=dept)
    assert report.ok, report.summary()


def test_streaming_cache_shrinks_sqlite_page_caches_only_inside_it(ledger: Any) -> None:
    """Issue 18 (memory flat in the log's length): replay's connections keep a small page cache; every other checkout
    (before, after, another thread) keeps the full one. Only memory changes: the rows read are the same."""
    import threading

    from ledger.storage import store

    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("a SQLite page cache setting")

    def cache_kib() -> int:
        with ledger.engine.connect() as conn:
            return -int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())

    assert cache_kib() == store.SQLITE_CACHE_KIB
    other: list[int] = []
    with store.streaming_cache():
        assert cache_kib() == store.SQLITE_STREAMING_CACHE_KIB
        thread = threading.Thread(target=lambda: other.append(cache_kib()))
        thread.start()
        thread.join()
    assert other == [store.SQLITE_CACHE_KIB]
    assert cache_kib() == store.SQLITE_CACHE_KIB


def test_deciding_with_the_collector_paused_frees_each_chunks_cycles_and_records_the_same(
    ledger: Any, fresh_department: str
) -> None:
    """`ledger decide` pauses the cyclic collector for its run (ledger/_gc.py); decide_many then frees each chunk's
    reference cycles itself (a young-generation pass per chunk), so what is left for the collector at the end does
    not grow with the number of chunks; the decisions replay clean, and the collector is back on after."""
    import gc

    from ledger._gc import cyclic_gc_paused

    dept = fresh_department
    rule_set = unique_rule_set(dept)
    decisions.publish_rule_set(ledger, rule_set, dept)
    apps = applications(240, seed=zlib.crc32(dept.encode()))
    left = []
    for part in (apps[:40], apps[40:240]):  # 4 chunks, then 20
        gc.collect()
        with cyclic_gc_paused():
            result = decisions.decide_many(ledger, dept, part, {"*": rule_set}, chunk=10, workers=0)
            left.append(gc.collect())
        assert result.count == len(part)
    assert gc.isenabled()
    assert left[1] < left[0] + 200, left  # five times the chunks, not five times the garbage
    report = replay(ledger, department=dept)
    assert report.ok and report.re_run == 240, report.summary()


_WORKER_PROBE = """
import json, pickle, sys
from ledger.services import _replay_worker

spec, args = pickle.loads(open(sys.argv[1], "rb").read())
_replay_worker.start(spec)
found = _replay_worker.run_chunk(*args)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("web3", "eth_account", "eth_keyfile", "py_ecc", "aiohttp"))
print(json.dumps({"re_run": found.re_run, "found": [d.check for d in found.discrepancies], "heavy": heavy}))
"""


def test_a_replay_worker_rerunning_a_chunk_imports_no_chain_client(
    ledger: Any, fresh_department: str, tmp_path: Any
) -> None:
    """A worker started as the pool starts it, re-running a chunk of a history as the bench makes it (applications
    citing certificates by digest, none in the store), imports neither web3 nor eth_account: the department's periods
    and rule set publications come with the chunk, block times are read over the node's transport alone, and the
    chain's client is made only when a chunk needs more. Before, each worker imported them at its start (about 0.75
    CPU-s of its ~1.2: bench/analysis.md, replay5); a regression here is slow, not wrong - this keeps it seen."""
    import pickle
    import subprocess
    import sys
    from pathlib import Path

    from ledger.services import _replay_worker

    dept = fresh_department
    _decide_with_worker(ledger, dept, applications(N, seed=zlib.crc32(dept.encode())))
    with ledger.engine.connect() as conn:
        rows = [
            (int(s), str(b), str(h), lk)
            for s, b, h, lk in conn.execute(
                text(
                    "SELECT seq, body, entry_hash, lookup FROM logentry WHERE log=:l AND department_id=:d ORDER BY seq"
                ),
                {"l": LOG_DECISIONS, "d": dept},
            )
        ]
    ranges = replay_module._all_ranges(ledger).get(dept, [])
    selection = replay_module._Selection(None, None, None, None)
    run = replay_module._DepartmentRun(
        ledger, dept, ranges, replay_module._RuleSets(ledger), replay_module._Facts(ledger), selection
    )
    sent = tmp_path / "chunk.pickle"
    sent.write_bytes(
        pickle.dumps(
            (
                _replay_worker.spec_of(ledger),
                (dept, ranges, selection, rows, run.credit_book(), run.chain_facts(), run.facts.erasure_record()),
            )
        )
    )
    out = subprocess.run(
        [sys.executable, "-c", _WORKER_PROBE, str(sent)],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    probe = json.loads(out.stdout)
    assert (probe["re_run"], probe["found"]) == (N, [])
    assert probe["heavy"] == []


def test_a_workers_block_times_are_the_chain_clients(ledger: Any) -> None:
    """The block times a replay worker reads without web3 (``_node_http.BlockTimes``) are web3's ``get_block``
    timestamps, and a block the node does not have is None (web3: BlockNotFound), as replay's ``block_time`` takes
    both."""
    from ledger.onchain._node_http import BlockTimes

    url = str(ledger.chain.w3.provider.endpoint_uri)
    head = ledger.chain.block_number()
    reader = BlockTimes(url)
    try:
        for number in sorted({0, 1, max(0, head - 1), head}):
            assert reader.timestamp(number) == int(ledger.chain.w3.eth.get_block(number)["timestamp"])
        assert reader.timestamp(head + 10_000) is None
    finally:
        reader.close()


def _set_text(ledger: Any, dept: str, seq: int, raw: str) -> None:
    _sql(
        ledger,
        "UPDATE logentry SET body=:b WHERE log=:l AND department_id=:d AND seq=:s",
        b=raw,
        l=LOG_DECISIONS,
        d=dept,
        s=seq,
    )


def test_bodies_read_natively_or_by_the_python_code_give_the_same_report(
    ledger: Any, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18: a chunk's bodies are read in one native call when they are spelt as the ledger writes them
    (``_decision_workers.decision_bodies``), the others by the Python code. Adversary: an insider who edits bodies so
    that the two readings differ - spelt otherwise (spaced, reordered, a key named twice with another case id, an
    escaped letter, a float), no object, a lone surrogate, another case id under the same index key, a citation's
    digest respelt, the index rows of its certificates edited: the report, finding for finding, is the one the
    Python code alone gives, and names each edit."""
    dept = fresh_department
    _decide_with_worker(ledger, dept, applications(120, seed=zlib.crc32(dept.encode())))
    with ledger.engine.connect() as conn:
        cited = [
            int(s)
            for (s,) in conn.execute(
                text("SELECT DISTINCT seq FROM logmention WHERE log=:l AND department_id=:d ORDER BY seq"),
                {"l": LOG_DECISIONS, "d": dept},
            )
            if not 5 <= int(s) <= 13
        ]
    assert len(cited) >= 2
    spaced = json.dumps(_body(ledger, dept, 5), sort_keys=True)  # ", " and ": ": another spelling
    _set_text(ledger, dept, 5, spaced)
    reordered = dict(reversed(_body(ledger, dept, 6).items()))
    _set_text(ledger, dept, 6, json.dumps(reordered, separators=(",", ":")))  # compact, keys in reverse order
    twice = canonical_body(_body(ledger, dept, 7)).decode()
    _set_text(ledger, dept, 7, twice[:-1] + ',"case_id":"CASE-OTHER"}')  # read as the last: another case
    eight = canonical_body(_body(ledger, dept, 8)).decode()
    _set_text(ledger, dept, 8, eight.replace('"format":"p', '"format":"\\u0070', 1))  # the same value, escaped
    _set_body(
        ledger, dept, 9, {**_body(ledger, dept, 9), "as_of_block": float(_body(ledger, dept, 9)["as_of_block"]) + 0.5}
    )
    _set_text(ledger, dept, 10, "[1,2]")
    _set_text(ledger, dept, 11, canonical_body(_body(ledger, dept, 11)).decode()[:-1] + ',"zz":"\\ud800"}')
    _set_body(ledger, dept, 12, {**_body(ledger, dept, 12), "case_id": "CASE-ELSEWHERE"})  # its index key is now wrong
    first = _body(ledger, dept, cited[0])
    first["certificates"][0]["digest"] = first["certificates"][0]["digest"].upper().replace("0X", "0x")
    _set_body(ledger, dept, cited[0], first)  # a digest respelt: no longer a mention
    _sql(
        ledger,
        "DELETE FROM logmention WHERE log=:l AND department_id=:d AND seq=:s",
        l=LOG_DECISIONS,
        d=dept,
        s=cited[1],
    )
    _sql(ledger, "UPDATE logentry SET lookup='0' WHERE log=:l AND department_id=:d AND seq=13", l=LOG_DECISIONS, d=dept)
    monkeypatch.setattr(replay_module, "_CHUNK", CHUNK)
    from ledger.formats.canonical import NATIVE
    from ledger.services import _decision_workers

    assert NATIVE is None or _decision_workers._NATIVE_DECISION_BODIES is not None
    native = replay(ledger, department=dept, workers=0)
    monkeypatch.setattr(_decision_workers, "_NATIVE_DECISION_BODIES", None)
    python = replay(ledger, department=dept, workers=0)
    assert [d.to_json() for d in native.discrepancies] == [d.to_json() for d in python.discrepancies]
    assert _comparable(native) == _comparable(python)
    found = _checks(python)
    assert found["body_invalid"] == [5, 6, 7, 8, 10, 11]  # 9's float is spelt canonically: its facts block is wrong
    assert found["facts_block_invalid"] == [9]
    assert {7, 12, 13, cited[0], cited[1]} <= set(found["index_altered"])
