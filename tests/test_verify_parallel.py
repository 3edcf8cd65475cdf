"""Issue 18, verification's shortcuts against their adversaries, on an isolated anvil (a reorganisation and a
suspended department never touch the shared chain):

* ``verify_many`` on two cores (a forked child verifies part of the documents and sends its reports back) gives the
  reports one process gives, over genuine, revoked, suspended, superseded and tampered documents, and a batch whose
  anchor is not final yet (so not cached: the child may not read the chain and hands it back);
* the batch checks a long-lived view keeps per (department, root, signature, head) give the reports a fresh view
  gives: for tampered documents, after a certificate is revoked or its department suspended between two
  verifications, and for a batch whose anchor is reorganised away (never kept: not final).
"""

from __future__ import annotations

import copy
import os
import resource
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from ledger.client import Ledger
from ledger.onchain.chain import ROLE_ISSUER, Chain
from ledger.services import status
from ledger.services.departments import Council
from ledger.services.verify import (
    ChainView,
    _go_offline,
    _Offline,
    verify_certificate,
    verify_many,
    worker_count,
)

from .cli_support import rpc
from .conftest import PASSPHRASE, TEST_TYPES, make_records, make_settings
from .foundation_support import issue

NOW = "2027-06-01T00:00:00Z"
DEPT = "PAR"


@pytest.fixture(scope="module")
def isolated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    ledger = Ledger.open(make_settings(tmp_path_factory.mktemp("parallel")), passphrase=PASSPHRASE)
    Council(ledger).register(DEPT, "Parallel Verification Office", ROLE_ISSUER, types=TEST_TYPES)
    yield ledger
    ledger.close()


@pytest.fixture(scope="module")
def documents(isolated: Ledger, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """30 certificates in 3 batches, 3 of them with a status change, all final (deep enough to be cached)."""
    docs = issue(isolated, tmp_path_factory.mktemp("docs"), DEPT, make_records(30, prefix="PAR"), batch_size=10)
    status.revoke(isolated, docs[1]["digest"], "fraud", DEPT)
    status.suspend(isolated, docs[12]["digest"], "under-investigation", DEPT)
    status.supersede(isolated, docs[21]["digest"], docs[22]["digest"], DEPT)
    mine(isolated, 40)
    return docs


def mine(ledger: Ledger, blocks: int) -> None:
    rpc(ledger, "anvil_mine", hex(blocks))


def tampered(doc: dict[str, Any]) -> list[Any]:
    """A holder's edits of a genuine document: every part a verifier reads."""
    out: list[Any] = []

    def edit(change: Any) -> None:
        d = copy.deepcopy(doc)
        change(d)
        out.append(d)

    name = next(k for k in doc["fields"] if k not in ("id", "type", "issuer", "issued_at", "valid_from", "valid_until"))
    edit(lambda d: d["fields"].__setitem__(name, "someone else"))
    edit(lambda d: d["fields"].__setitem__("valid_until", "2099-12-31"))
    edit(lambda d: d["fields"].__setitem__("valid_until", 20991231))
    edit(lambda d: d["salts"].__setitem__(name, "00" * 16))
    edit(lambda d: d.__setitem__("digest", "0x" + "11" * 32))
    edit(lambda d: d["anchor"]["proof"].__setitem__(0, "0x" + "22" * 32))
    edit(lambda d: d["anchor"]["proof"].__setitem__(0, " " + d["anchor"]["proof"][0][1:]))
    edit(lambda d: d["anchor"]["proof"].__setitem__(0, d["anchor"]["proof"][0][:-2] + " 0"))
    edit(lambda d: d["anchor"]["proof"].pop())
    edit(lambda d: d["anchor"].__setitem__("proof", 7))
    edit(lambda d: d["anchor"].__setitem__("root", "0x" + "33" * 32))
    edit(lambda d: d["anchor"].__setitem__("signature", "0x" + "44" * 65))
    edit(lambda d: d["anchor"].__setitem__("signature", "0x12"))
    edit(lambda d: d["anchor"].__setitem__("department", "OTHER"))
    edit(lambda d: d["anchor"].__setitem__("signer", "0x" + "55" * 20))
    edit(lambda d: d["anchor"].__setitem__("chain_id", 1))
    edit(lambda d: d["fields"].__setitem__("issuer", "OTHER"))
    edit(lambda d: d["fields"].__setitem__("issuer", 12))
    edit(lambda d: d.pop("anchor"))
    out.extend(["not a document", {"fields": []}, 42])
    return out


def as_json(reports: list[Any]) -> list[dict[str, Any]]:
    return [r.to_json() for r in reports]


def comparable(report: Any) -> dict[str, Any]:
    """A report without the head it is as of (the node mines blocks of its own between two verifications): the
    confirmations check must state the depth below that head, which is then left out."""
    data = report.to_json()
    head = data.pop("as_of_block")
    for check in data["checks"]:
        if check["name"] == "confirmations" and not check["skipped"]:
            depth, rest = check["detail"].split(" blocks on top")
            assert int(depth) == head - data["facts"]["block_number"]
            check["detail"] = rest
    return data


def test_forked_verify_many_gives_the_reports_of_one_process(
    isolated: Ledger, documents: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.services import verify as verify_module

    monkeypatch.setattr(verify_module, "_CHUNK_MIN", 8)  # many chunks: both processes take some, in any order
    monkeypatch.setattr(verify_module, "_CHILD_LEAVES", 16)
    # a batch anchored just now: not final, so not cached, so the forked child may not verify it (no chain reads)
    shallow = issue(isolated, tmp_path, DEPT, make_records(4, prefix="PAR-NEW"), batch_size=10)
    sources: list[Any] = [*documents, *shallow]
    for doc in (documents[0], documents[1], documents[12], documents[21], documents[22], shallow[0]):
        sources.extend(tampered(doc))
    sources = sources * 3  # both processes get some of each
    view = ChainView(isolated.chain, isolated.settings.confirmations, max_head_age=3600)  # one head for both calls
    one = as_json(verify_many(sources, view, now=NOW, workers=0))
    faults = resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt
    two = as_json(verify_many(sources, view, now=NOW, workers=1))
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt > faults  # a child did run (and was reaped)
    assert two == one
    # and those are the reports of a fresh view verifying each document on its own (the status index, the kept
    # batch checks and the fork are all shortcuts)
    fresh = [
        verify_certificate(s, ChainView(isolated.chain, isolated.settings.confirmations), now=NOW) for s in sources[:90]
    ]
    indexed = verify_many(sources[:90], ChainView(isolated.chain, isolated.settings.confirmations), now=NOW, workers=1)
    assert [comparable(r) for r in indexed] == [comparable(r) for r in fresh]
    by_digest = {r["digest"]: r for r in one}
    assert by_digest[documents[1]["digest"]]["facts"]["status"] == "revoked"
    assert by_digest[documents[12]["digest"]]["facts"]["status"] == "suspended"
    assert by_digest[documents[21]["digest"]]["facts"]["status"] == "superseded"
    genuine = len(documents) + len(shallow)
    assert sum(r["verified"] for r in one[: len(documents)]) == len(documents) - 3
    assert not any(r["verified"] for r in one[genuine : len(sources) // 3])  # no tampered one passes


def test_the_childs_chunks_carry_the_reports_of_one_process(
    isolated: Ledger, documents: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child's side of the split, run in this process: it takes chunks from the tickets in the order they come,
    skips what the parent verified before the fork, sends per chunk the reports one process gives, and leaves the
    last tickets (here one chunk's worth) to the parent; the parent fills in exactly those (the others stay for it
    to verify)."""
    from ledger.services import verify as verify_module
    from ledger.services.verify import _child_chunks, _Frames, _Run

    monkeypatch.setattr(verify_module, "_CHILD_LEAVES", 7)

    sources: list[Any] = [*documents, *tampered(documents[0]), *tampered(documents[12])]
    view = ChainView(isolated.chain, isolated.settings.confirmations, max_head_age=3600)
    one = as_json(verify_many(sources, view, now=NOW, workers=0))
    size = 7
    tickets_r, tickets_w = os.pipe()
    os.write(tickets_w, bytes([3, 0, 5]))
    os.close(tickets_w)
    warmed = bytearray(len(sources))
    warmed[2] = warmed[22] = 1  # verified by the parent before the fork
    sent = tmp_path / "frames"
    with sent.open("wb") as pipe:
        _child_chunks(sources, _Run(view, None, view.head(), NOW), warmed, size, tickets_r, pipe)
    assert os.read(tickets_r, 8) == bytes([5])  # the last chunk: the parent's
    os.close(tickets_r)
    reports: list[Any] = [None] * len(sources)
    frames = _Frames(os.open(sent, os.O_RDONLY), len(sources), size)
    frames.take(reports, block=True)
    frames.close()
    taken = {i for chunk in (3, 0) for i in range(chunk * size, (chunk + 1) * size)} - {2, 22}
    assert {i for i, r in enumerate(reports) if r is not None} == taken
    assert all(reports[i].to_json() == one[i] for i in taken)


def test_a_forked_verifier_cannot_read_the_chain(isolated: Ledger, documents: list[dict[str, Any]]) -> None:
    """What keeps the child off this process's connections: every request to the node raises _Offline (a
    BaseException, so no check turns it into a report). On a view of its own provider, so this process is unaffected."""
    url = isolated.chain.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    chain = Chain(Web3(Web3.HTTPProvider(url)), isolated.chain.deployment)
    view = ChainView(chain, isolated.settings.confirmations)
    _go_offline(view)
    with pytest.raises(_Offline):
        verify_certificate(documents[0], view)
    assert verify_certificate(documents[0], ChainView(isolated.chain)).ok  # the session's view still reads


def test_a_forked_child_cannot_reach_the_node_through_webs_warm_pipeline(
    isolated: Ledger, documents: list[dict[str, Any]]
) -> None:
    """The attack the test above missed: web3 builds its request pipeline once and keeps the provider's
    ``make_request`` it found then, so replacing that method in a child whose view had already read the chain left
    every web3 read (head, blocks, logs) going out over this process's kept-alive connection, shared with the child
    after the fork. The child must be offline for those reads too, and this process's connection untouched."""
    import os

    view = ChainView(isolated.chain, isolated.settings.confirmations)
    assert verify_certificate(documents[0], view).ok  # web3's pipeline is built and a connection is kept alive
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        outcome = b"?"
        try:
            _go_offline(view)
            try:
                view.chain.w3.eth.get_block("latest")
                outcome = b"read"
            except _Offline:
                try:
                    view.chain.block_number()
                    outcome = b"read"
                except _Offline:
                    outcome = b"offline"
        finally:
            os.write(write_end, outcome)
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        outcome = pipe.read()
    os.waitpid(pid, 0)
    assert outcome == b"offline"
    assert verify_certificate(documents[2], ChainView(isolated.chain)).ok  # this process still reads


def test_a_cold_view_given_files_gets_the_same_reports_when_the_child_gives_up(
    isolated: Ledger, documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Files are not read to warm their batches before the fork, so on a view that met none of them the child can
    verify nothing offline: past a few refusals it hands the rest back, and this process verifies them."""
    import json

    paths = []
    for i, doc in enumerate(documents):
        path = tmp_path / f"{i}.json"
        path.write_text(json.dumps(doc))
        paths.append(str(path))
    texts = paths * 4  # 120 files, more than the child tries before giving up
    cold = verify_many(texts, ChainView(isolated.chain, isolated.settings.confirmations), now=NOW, workers=1)
    one = verify_many(texts, ChainView(isolated.chain, isolated.settings.confirmations), now=NOW, workers=0)
    assert [comparable(r) for r in cold] == [comparable(r) for r in one]
    parsed = verify_many(documents * 4, ChainView(isolated.chain, isolated.settings.confirmations), now=NOW, workers=0)
    assert [comparable(r) for r in cold] == [comparable(r) for r in parsed]


def test_no_fork_beside_other_threads_or_for_small_calls() -> None:
    assert worker_count(None, 10) == 0
    assert worker_count(0, 100_000) == 0
    assert worker_count(5, 10) == 1  # asked for: one helper at most
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert worker_count(None, 100_000) == 0  # a lock another thread holds at the fork would stay held
    finally:
        stop.set()
        thread.join()


def test_kept_batch_checks_equal_fresh_ones_across_status_and_department_changes(
    isolated: Ledger, documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    docs = issue(isolated, tmp_path, DEPT, make_records(3, prefix="PAR-KEEP"), batch_size=10)
    mine(isolated, 40)
    view = ChainView(isolated.chain, isolated.settings.confirmations)  # long-lived, as the gateway's

    def same_as_fresh(doc: Any) -> dict[str, Any]:
        kept = verify_certificate(doc, view, now=NOW)
        fresh = verify_certificate(doc, ChainView(isolated.chain, isolated.settings.confirmations), now=NOW)
        assert comparable(kept) == comparable(fresh)  # the node mines on its own: the head may differ by a block
        return kept.to_json()

    first = same_as_fresh(docs[0])
    assert first["verified"]
    head, kept = view._batch_checks
    assert head == first["as_of_block"] and len(kept) == 1  # kept for this head
    for doc in [docs[1], *tampered(docs[0])]:  # the second one takes the kept checks; tampered ones too
        same_as_fresh(doc)
    status.revoke(isolated, docs[1]["digest"], "fraud", DEPT)  # between two verifications
    assert same_as_fresh(docs[1])["facts"]["status"] == "revoked"
    Council(isolated).suspend(DEPT)  # the department suspended: reports as a fresh view gives them
    try:
        for doc in docs:
            same_as_fresh(doc)
        mine(isolated, 2)
        for doc in docs:
            same_as_fresh(doc)
    finally:
        Council(isolated).reinstate(DEPT)


def test_a_batch_reorganised_away_was_never_kept(
    isolated: Ledger, documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    snapshot = rpc(isolated, "evm_snapshot")
    docs = issue(isolated, tmp_path, DEPT, make_records(2, prefix="PAR-REORG"), batch_size=10)
    view = ChainView(isolated.chain, 0)
    assert verify_certificate(docs[0], view, now=NOW).ok and verify_certificate(docs[1], view, now=NOW).ok
    _head, kept = view._batch_checks
    assert not [k for k in kept if k[1].hex() == docs[0]["anchor"]["root"][2:]]  # not final: not kept
    assert rpc(isolated, "evm_revert", snapshot) is True  # the anchoring block leaves the chain
    mine(isolated, 3)
    report = verify_certificate(docs[0], view, now=NOW)
    assert not report.ok and "anchored" in {c.name for c in report.failed}
    assert comparable(report) == comparable(verify_certificate(docs[0], ChainView(isolated.chain, 0), now=NOW))


def test_a_runs_type_check_is_kept_only_once_the_registrys_answer_is_final(isolated: Ledger, tmp_path: Path) -> None:
    """The type_authority check is kept for the rest of a run (the certificates of a batch share it) only once the
    view keeps the registry's answer (final): before, each certificate reads it, as a reorganisation could drop the
    grant. Reports, tampered types included, are those of a fresh view either way."""
    from ledger.services.verify import _Run, _verify_one

    docs = issue(isolated, tmp_path, DEPT, make_records(3, prefix="PAR-TYPE"), batch_size=10)
    for value in (7, "Not A Type", "x" * 65, None):
        edited = copy.deepcopy(docs[0])
        edited["fields"]["type"] = value
        docs.append(edited)
    for final in (False, True):
        if final:
            mine(isolated, 40)
        view = ChainView(isolated.chain, isolated.settings.confirmations)
        run = _Run(view, None, view.head(), NOW)
        reports = [_verify_one(doc, run) for doc in docs]
        assert len(run._type_checks) == (1 if final else 0)
        fresh = [
            verify_certificate(d, ChainView(isolated.chain, isolated.settings.confirmations), now=NOW) for d in docs
        ]
        assert [comparable(r) for r in reports] == [comparable(r) for r in fresh]
        assert [r.check("type_authority").ok for r in reports] == [True] * 3 + [False] * 4


def anchor_edits(doc: dict[str, Any], other: dict[str, Any]) -> list[Any]:
    """Edits of a genuine document's anchor section (and issuer) that a run's kept anchoring must tell apart from
    the genuine texts: each part of its key changed alone, in another spelling of the same value, or made a
    non-text (not kept: worked out in full). ``other``: a genuine document of another batch."""
    out: list[Any] = []

    def edit(change: Any) -> None:
        d = copy.deepcopy(doc)
        change(d)
        out.append(d)

    anchor = doc["anchor"]
    for name, value in (
        ("root", other["anchor"]["root"]),  # a genuine root of the issuer: the proof does not lead there
        ("root", anchor["root"].upper().replace("0X", "0x")),  # the same root in capitals: another text
        ("root", 7),
        ("signature", other["anchor"]["signature"]),  # another batch's genuine signature
        ("signature", anchor["signature"].upper().replace("0X", "0x")),
        ("signature", anchor["signature"][2:]),  # no 0x: the same bytes
        ("signature", None),
        ("department", "OTHER"),
        ("department", 12),
        ("signer", anchor["signer"].lower()),  # the anchoring key in lower case: the same key
        ("signer", other["anchor"]["signer"][:-2] + "00"),
        ("signer", 5),
        ("signer", None),
    ):
        edit(lambda d, name=name, value=value: d["anchor"].__setitem__(name, value))
    edit(lambda d: d["anchor"].pop("signer"))
    edit(lambda d: d["anchor"].pop("department"))
    edit(lambda d: d["anchor"].pop("signature"))
    edit(lambda d: d["fields"].__setitem__("issuer", "OTHER"))  # the digest changes: its proof fails
    edit(lambda d: d["anchor"]["proof"].__setitem__(0, "0x" + "66" * 32))  # the kept texts, another proof
    edit(lambda d: d["anchor"]["proof"].__setitem__(0, "0xzz" + "66" * 31))  # ... one no hex
    edit(lambda d: d["anchor"].__setitem__("proof", "0x" + "66" * 32))
    edit(lambda d: d["anchor"]["proof"].pop())
    return out


def test_a_runs_kept_anchoring_gives_the_reports_worked_out_in_full(
    isolated: Ledger, documents: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify_many works out an anchor section's batch part (root, batch, anchored to signature checks) once per
    run for each (issuer, root, signature, department, signer, head) text it meets: the reports are those with
    nothing kept, in every order (an edited section met before the genuine one of its batch, and after), with a
    moment asked about, and those of a fresh view verifying each document on its own."""
    from ledger.formats.certificate import load_document
    from ledger.services import verify as verify_module

    edited = [
        *anchor_edits(documents[0], documents[10]),
        *anchor_edits(documents[12], documents[25]),
        *anchor_edits(documents[21], documents[0]),
    ]
    # presentations (fields hidden: other field counts in the format check) and a moment asked about (another
    # status detail): the passing checks a run keeps by what their details name
    shown = [f for f in documents[3]["fields"] if f not in ("id", "type", "issuer", "issued_at")]
    presented = [load_document(documents[3]).present(shown[:n]).to_json() for n in range(len(shown))]
    view = ChainView(isolated.chain, isolated.settings.confirmations, max_head_age=3600)  # one head for every call
    walked_in_full = [0, 0]  # merkle_proof_text's calls with the kept anchoring on, off
    proof_text = verify_module.checks_core.merkle_proof_text

    def counted(on: int) -> Any:
        def merkle_proof_text(*args: Any) -> Any:
            walked_in_full[on] += 1
            return proof_text(*args)

        return merkle_proof_text

    for sources in ([*documents, *edited, *documents], [*edited, *documents, *edited]):
        for at in (None, "2026-12-01T00:00:00Z"):
            with monkeypatch.context() as m:
                m.setattr(verify_module.checks_core, "merkle_proof_text", counted(0))
                kept = verify_many(sources, view, now=NOW, at=at, workers=0)
            with monkeypatch.context() as m:
                m.setattr(verify_module.checks_core, "merkle_proof_text", counted(1))
                m.setattr(verify_module, "_anchoring_key", lambda *_: None)  # nothing kept: every one in full
                full = verify_many(sources, view, now=NOW, at=at, workers=0)
            assert as_json(kept) == as_json(full)
    assert walked_in_full[0] < walked_in_full[1]  # the kept part was taken: proofs walked without the full check
    for at in (None, "2026-12-01T00:00:00Z"):
        sources = [*presented, *documents[:5], documents[22], *presented, *edited, documents[22]]
        many = verify_many(sources, view, now=NOW, at=at, workers=0)
        fresh = [
            verify_certificate(d, ChainView(isolated.chain, isolated.settings.confirmations), now=NOW, at=at)
            for d in sources
        ]
        assert [comparable(r) for r in many] == [comparable(r) for r in fresh]
    assert len({r.check("format").detail for r in many[: len(presented)]}) > 2  # three field counts
    assert all(r.ok for r in verify_many(presented, view, now=NOW, workers=0))
    reports = verify_many(edited, view, now=NOW, workers=0)
    # the same values spelled otherwise (root and signature in capitals, the signer in lower case) pass for the genuine
    # valid certificate and every other edit fails a check (many the format's: a section that is no anchor)
    assert [i for i, r in enumerate(reports) if r.ok] == [1, 4, 9]


@pytest.mark.parametrize(
    "elements",
    [
        ["0x" + "ab" * 32, "0x" + "cd" * 32],
        ["0x" + "ab" * 31 + "  ", "0x" + "cd" * 32],  # whitespace fromhex would skip: 31 bytes, not 32
        ["0x" + "ab" * 31 + " a", "b" + "0x" + "cd" * 31 + "c"],  # a digit pair split across two elements
        ["0x" + "ab" * 31 + "a ", " b" + "cd" * 31 + "cd"],
        ["0x" + "ab" * 31 + "zz", "0x" + "cd" * 32],
        ["0X" + "AB" * 32],
        ["0x" + "ab" * 32, 7],
        [],
    ],
)
def test_proof_read_in_one_go_equals_element_by_element(elements: list[Any]) -> None:
    from ledger.errors import InputError
    from ledger.formats.canonical import parse_hex32
    from ledger.services.verify import _proof

    try:
        expected: Any = [parse_hex32(p, "proof element") for p in elements]
    except (InputError, TypeError, AttributeError) as exc:
        expected = type(exc)
    try:
        found: Any = _proof(elements)
    except (InputError, TypeError, AttributeError) as exc:
        found = type(exc)
    assert found == expected


def _frame(chunk: int, reports: Any, *, length: int | None = None) -> bytes:
    import pickle
    import struct

    body = reports if isinstance(reports, bytes) else pickle.dumps(reports)
    return struct.pack("<IQ", chunk, len(body) if length is None else length) + body


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        (_frame(0, ["a", "b"]) + _frame(2, ["e"]), ["a", "b", None, None, "e"]),
        (_frame(1, ["c", None]), [None, None, "c", None, None]),  # None: the child could not verify it offline
        (_frame(2, ["e"]) + _frame(0, ["a", "b"]), ["a", "b", None, None, "e"]),  # in any order
        (_frame(0, ["a", "b"]) + _frame(1, ["c", "d"])[:-3], ["a", "b", None, None, None]),  # died mid-write
        (_frame(0, ["a", "b"])[:7], [None] * 5),  # ... or while writing the header
        (b"", [None] * 5),  # ... or before writing anything
        (_frame(3, ["x"]) + _frame(0, ["a", "b"]), [None] * 5),  # a chunk this call has not
        (_frame(0, ["a"]) + _frame(2, ["e"]), [None] * 5),  # not one report per document of its chunk
        (_frame(0, {"a": 1}), [None] * 5),
        (_frame(0, b"not a pickle") + _frame(2, ["e"]), [None] * 5),
        (_frame(0, ["a", "b"]) + _frame(2, ["e"], length=1 << 62), ["a", "b", None, None, None]),  # no such length
        (_frame(0, ["a", "b"]) + _frame(0, ["x", "y"]), ["a", "b", None, None, None]),  # sent twice: the first kept
    ],
)
def test_the_parent_reads_whole_frames_the_child_sent_and_nothing_else(
    written: bytes, expected: list[str | None]
) -> None:
    """The child's reports come chunk by chunk, each a header (chunk, length) and that many bytes of pickled
    reports; whatever is short of that, names no chunk of the call or is not one report (or None) per document of
    its chunk ends the reading, and the parent verifies what is missing itself (here: 5 documents, chunks of 2)."""
    from ledger.services.verify import _Frames

    read_end, write_end = os.pipe()
    os.write(write_end, written)
    os.close(write_end)
    reports: list[Any] = [None] * 5
    frames = _Frames(read_end, 5, 2)
    frames.take(reports, block=False)
    frames.take(reports, block=True)
    frames.close()
    assert reports == expected


def test_reports_longer_than_the_bound_are_verified_by_the_parent_none_lost(
    isolated: Ledger, documents: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Red team 17, on ad29056: the child states the length of its reports first. A length past the bound (here a
    bound of 64 bytes, so any real one is past it) is not read: this process closes the pipe, the child blocked
    writing gets a broken pipe and leaves, and this process verifies the child's part itself. Nothing hangs and
    no report is lost or different. (It held: this pins it on the real fork path.)"""
    from ledger.services import verify as verify_module

    sources: list[Any] = [*documents, *tampered(documents[0])] * 20  # the child's part pickles to far more than 64 KB
    view = ChainView(isolated.chain, isolated.settings.confirmations, max_head_age=3600)
    one = as_json(verify_many(sources, view, now=NOW, workers=0))
    monkeypatch.setattr(verify_module, "_REPORTS_MAX_BYTES", 64)
    assert as_json(verify_many(sources, view, now=NOW, workers=1)) == one
