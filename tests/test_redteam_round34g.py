"""Red team round 34g: the trust gaps round 29b-33 left open.

1. The decisions and erasures logs' time windows were the database's word. ``GET /audit/logs/{log}?since=&until=``
   and ``logchain.entries(since=, until=)`` select on ``logentry.created_at``, which the entry hash does not cover,
   and for these two logs nothing compared it with anything: an insider who moved a decision's (or an erasure's)
   ``created_at`` hid it from the auditor asking "what did INS decide in March", or planted it in another window,
   and the log's check said intact. Every entry whose body states its instant (a decision's ``decided_at``, a
   supervision record's ``listed_at``/``drawn_at``/..., an erasure's ``at``, a read's ``at``) is now stored at that
   instant, so a window selects on what the hash covers; the check compares them (``time_altered``) and the
   listing marks a listed entry whose stored time is not its body's (``time_altered: true``).
2. A library caller's naive time (a ``datetime`` without a zone) was read two ways: the body's ``at`` took it for
   the machine's local time, the stored time for UTC, so on a machine not on UTC every such read was reported
   ``time_altered`` - a false alarm an auditor learns to ignore. Every public function that writes or compares a
   given time now refuses a naive one (InputError: pass an aware one).
3. A witness's record was anyone's word who could write its directory. ``state.json`` (its latest cosigned
   checkpoint per origin, its only defence against a rolled-back chain) was read as it came: an insider who
   replaced it with an empty record (``{"origins": {}}``) had the witness cosign a rolled-back or rewritten chain
   as new to it. The witness now signs its record with its own key on every write and refuses one whose signature
   fails (restore from a backup); a record an older version wrote is signed once, by its digest
   (``--sign-record SHA256``), so replacing the record needs the witness's key. Open: an older authentic record
   restored (an insider's copy of a backup) is accepted: the witness then checks the chain back only to it.
4. The refusal throttle forgot counted attempts. It keeps one window per (certificate[, department, reason]) and,
   past ``max_certificates`` windows, dropped the oldest - with the attempts it had counted and not yet written.
   A caller refused again and again (counted, one entry per window) then flooding fresh keys evicted its own
   window, and those attempts were never written anywhere. A window holding unwritten attempts is now never
   dropped: eviction takes the least recently refused window with nothing unwritten, and a window it must take
   with a count is handed to ``flush`` (the anchoring task), which writes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from ledger.client import Ledger
from ledger.errors import ConfigError, InputError
from ledger.services import accesslog, consent, erasure, logchain, sharing
from ledger.services.witness import client as wclient
from ledger.services.witness.rpc import Rpc
from ledger.services.witness.server import Witness, WitnessStore
from ledger.storage.models import LogEntry

from .api_support import Clock, bearer, issue, login, make_client
from .cli_support import ledger_process
from .decision_support import decided_history
from .evidence_support import rpc_url

OUTSIDE = datetime(2025, 1, 1, tzinfo=UTC)


def _stated(entry: logchain.Entry, member: str) -> datetime:
    body = logchain.read_body(entry.body, entry.log, entry.department_id, entry.seq)
    return datetime.fromisoformat(body[member]).astimezone(UTC)


def _move(ledger: Ledger, log: str, department: str, seq: int, to: datetime) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(
            update(LogEntry)
            .where(LogEntry.log == log, LogEntry.department_id == department, LogEntry.seq == seq)
            .values(created_at=to)
        )


def _window_of(ledger: Ledger, log: str, department: str, since: datetime, until: datetime) -> list[int]:
    return [e.seq for e in logchain.entries(ledger, log, department, since=since, until=until)]


def test_a_decision_moved_out_of_its_time_window_is_reported_and_marked(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: an insider with database access, moving an anchored decision out of the window an auditor
    lists (and into another one)."""
    decided_history(ledger, fresh_department, 3)
    stored = list(logchain.entries(ledger, logchain.LOG_DECISIONS, fresh_department))
    for entry in stored:  # a window selects on what the entry hash covers: the time the body states
        assert entry.created_at == _stated(entry, "decided_at"), entry
        assert not logchain.time_altered(entry)
    when = stored[1].created_at
    window = (when, when + timedelta(milliseconds=1))
    assert 2 in _window_of(ledger, logchain.LOG_DECISIONS, fresh_department, *window)
    assert logchain.check_log(ledger, logchain.LOG_DECISIONS, fresh_department) == []

    _move(ledger, logchain.LOG_DECISIONS, fresh_department, 2, OUTSIDE)
    assert 2 not in _window_of(ledger, logchain.LOG_DECISIONS, fresh_department, *window)
    found = logchain.check_log(ledger, logchain.LOG_DECISIONS, fresh_department)
    assert [(d.kind, d.seq) for d in found] == [("time_altered", 2)], found
    assert "2025-01-01T00:00:00Z" in found[0].detail and "decided_at" in found[0].detail

    # where it was planted, the listing says so, in the library and at the gateway
    planted = (OUTSIDE, OUTSIDE + timedelta(seconds=1))
    (moved,) = logchain.entries(ledger, logchain.LOG_DECISIONS, fresh_department, since=planted[0], until=planted[1])
    assert moved.seq == 2 and logchain.time_altered(moved)
    client = make_client(ledger, Clock())
    auditor = bearer(login(client, ledger, "PSB"))
    answer = client.get(
        f"/audit/logs/decisions?department={fresh_department}&since=2025-01-01T00:00:00Z&until=2025-01-01T00:00:01Z",
        headers=auditor,
    )
    assert answer.status_code == 200, answer.text
    assert [(e["seq"], e["time_altered"]) for e in answer.json()] == [(2, True)], answer.json()
    honest = client.get(f"/audit/logs/decisions?department={fresh_department}", headers=auditor).json()
    assert [(e["seq"], e["time_altered"]) for e in honest] == [(1, False), (2, True), (3, False)], honest


def test_an_erasure_moved_out_of_its_time_window_is_reported(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: an insider with database access, hiding a lawful-erasure record from the auditor's window (or
    passing a deletion off as older than it is)."""
    (doc,) = issue(ledger, fresh_department, 1)
    march = datetime(2026, 3, 10, 9, 30, 15, 654321, tzinfo=UTC)
    erasure.erase(ledger, doc["digest"], basis="court-order", by="officer-34", at=march)
    (entry,) = logchain.entries(ledger, erasure.LOG, fresh_department)
    assert entry.created_at == march.replace(microsecond=0) == _stated(entry, "at")  # the instant its body states
    window = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    assert _window_of(ledger, erasure.LOG, fresh_department, *window) == [entry.seq]
    assert logchain.check_log(ledger, erasure.LOG, fresh_department) == []

    _move(ledger, erasure.LOG, fresh_department, entry.seq, OUTSIDE)
    assert _window_of(ledger, erasure.LOG, fresh_department, *window) == []
    found = logchain.check_log(ledger, erasure.LOG, fresh_department)
    assert [(d.kind, d.seq) for d in found] == [("time_altered", entry.seq)], found
    assert "2026-03-10T09:30:15Z" in found[0].detail


@pytest.fixture()
def shanghai(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local zone is UTC+8, as on a machine in Beijing."""
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        yield
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_naive_time_is_refused_at_every_door_that_logs_it(
    ledger: Ledger, fresh_department: str, shanghai: None
) -> None:
    """Adversary: none - a library caller on a machine not on UTC passing ``datetime.now()`` (no zone), whose
    reads the check then called edited."""
    naive = datetime(2026, 3, 10, 9, 30, 15)
    (doc,) = issue(ledger, fresh_department, 1)

    def read(at: datetime) -> Any:
        return accesslog.record(
            ledger,
            certificate=doc["digest"],
            issuer=fresh_department,
            action="read",
            outcome="served",
            actor="INS",
            signer=None,
            at=at,
        )

    doors: list[Callable[[], Any]] = [
        lambda: read(naive),
        lambda: accesslog.entry_body(
            certificate=doc["digest"], action="read", outcome="served", actor="INS", signer=None, at=naive
        ),
        lambda: accesslog.record_many(ledger, fresh_department, [], naive),
        lambda: logchain.append(ledger, erasure.LOG, fresh_department, {"erased": "0x00"}, created_at=naive),
        lambda: logchain.append_many(ledger, erasure.LOG, fresh_department, [{"erased": "0x00"}], created_at=naive),
        lambda: erasure.erase(ledger, doc["digest"], basis="court-order", by="officer-34", at=naive),
        lambda: sharing.create_grant(
            ledger,
            issuer=fresh_department,
            signer="0x" + "00" * 20,
            digest=doc["digest"],
            grant=sharing.GrantCreate(
                grantee="INS", purpose="claim", expires_at=datetime(2026, 3, 11, tzinfo=UTC), reveal=["type"]
            ),
            now=naive,
        ),
        lambda: sharing.live_grant(ledger, doc["digest"], "INS", naive),
        lambda: consent.listed(ledger, consent.list_consents(ledger, issuer=fresh_department), naive),
    ]
    for door in doors:
        with pytest.raises(InputError, match=r"has no time zone.*aware"):
            door()
    assert list(logchain.entries(ledger, logchain.LOG_ACCESS, fresh_department)) == []
    assert list(logchain.entries(ledger, erasure.LOG, fresh_department)) == []
    assert sharing.list_grants(ledger, digest=doc["digest"]) == []

    honest = read(naive.replace(tzinfo=UTC))  # the same wall clock, given its zone: stored and stated alike
    assert honest.created_at == datetime(2026, 3, 10, 9, 30, 15, tzinfo=UTC)
    assert accesslog.check(ledger, fresh_department) == []


def test_a_flood_of_fresh_refusals_does_not_erase_counted_attempts(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: a signed-in department refused many times for one certificate (its attempts counted, not yet
    written), then refused once each for many other keys to evict that window and so erase the count."""
    from api.refusals import RefusalLog

    now = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    docs = issue(ledger, fresh_department, 1)
    throttle = RefusalLog(60, max_certificates=4)
    victim = (docs[0]["digest"], "INS", "no live grant")
    assert throttle.signed_in(*victim, None, fresh_department, now) == ""  # written (by fetch_content)
    for i in range(5):
        assert throttle.signed_in(*victim, None, fresh_department, now + timedelta(seconds=i + 1)) is None  # counted
    for i in range(10):  # the flood: fresh keys, each refused once
        key = ("0x" + f"{i:064x}", "INS", "no live grant")
        assert throttle.signed_in(*key, None, fresh_department, now + timedelta(seconds=10)) == ""
    assert throttle.flush(ledger, now=now + timedelta(seconds=61)) == 1  # the victim's count, written
    (entry,) = accesslog.entries(ledger, department=fresh_department, certificate=docs[0]["digest"])
    assert "5 more attempt(s) by INS for the same reason" in entry["detail"], entry
    # a table full of windows holding counts: the oldest goes to flush, which writes it at once
    full = RefusalLog(60, max_certificates=2)
    for i in range(3):
        key = ("0x" + f"{i + 100:064x}", "INS", "no live grant")
        assert full.signed_in(*key, None, fresh_department, now) == ""
        assert full.signed_in(*key, None, fresh_department, now + timedelta(seconds=1)) is None
    assert full._evicted and full._evicted[0][0][0] == "0x" + f"{100:064x}"


def test_a_witness_record_replaced_by_an_insider_stops_the_witness(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: someone who can write a witness's directory but does not hold its key (nor its passphrase),
    replacing its record so that it cosigns a rolled-back chain as new to it."""
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    origin = wclient.chain_identity(ledger.chain).origin
    store = WitnessStore(tmp_path / "witness")
    store.create_key("court.example/34g")
    state = store.directory / "state.json"
    empty = state.read_text()  # the record keygen wrote: authentic, and empty

    def observe() -> Any:
        return Witness(WitnessStore(store.directory), Rpc(rpc_url(ledger)), log=lambda _line: None).observe(origin)

    cosigned = observe()
    kept = state.read_text()
    assert json.loads(kept)["origins"][origin]["size"] == cosigned.checkpoint.size
    signature = json.loads(kept)["signature"]
    for forged in (
        '{"origins": {}}',  # the insider's empty record
        json.dumps({"origins": {}, "signature": signature}),  # with the real record's signature
        json.dumps({"origins": {}, "signature": "00" * 64}),
        json.dumps({**json.loads(kept), "signature": json.loads(empty)["signature"]}),
    ):
        state.write_text(forged)
        with pytest.raises(ConfigError, match=r"state\.json is not signed by this witness's key.*backup"):
            observe()
    state.write_text(kept)  # the record restored from its backup
    assert observe().checkpoint.size >= cosigned.checkpoint.size
    state.write_text(empty)  # what stays open: an older authentic record is accepted
    assert observe().checkpoint.size >= cosigned.checkpoint.size

    # a record an older version wrote (unsigned) is signed once, by its digest, never whatever stands there
    legacy = json.dumps({"origins": json.loads(state.read_text())["origins"]}, indent=1)
    state.write_text(legacy)
    with pytest.raises(ConfigError, match="--sign-record"):
        observe()
    with pytest.raises(InputError, match="digest"):
        WitnessStore(store.directory).sign_record("00" * 32)
    command = ["witness", "check", "--store", str(store.directory), "--rpc", rpc_url(ledger), "--origin", origin]
    digest = hashlib.sha256(legacy.encode()).hexdigest()
    run = ledger_process([*command, "--sign-record", digest], env=dict(os.environ))
    assert run.returncode == 0 and origin in run.stdout, run
    again = ledger_process([*command, "--sign-record", digest], env=dict(os.environ))
    assert again.returncode == 2 and "signed already" in again.stderr, again
