"""Red team, round 18: attacks on the day's speed changes (issue 18).

1. The view's shared checks (``ChainView.shared_check``, 65,536 of them, one view for every client of the gateway)
   were bounded in number but not in size: a check whose detail quotes a document's text (a malformed
   ``valid_from``, an invalid ``type``) kept that text, up to a megabyte per check. Such text reaches a check only
   in a certificate of an anchored tree (a department's own, anchored with its key outside the library, which
   refuses such records), so a hostile department could leave gigabytes in every gateway that verifies its
   documents. A detail longer than ``verify.DETAIL_KEPT`` (512) characters is now answered without being kept.
   The anchor section's values, which the new "chain" check memo and the signature memos key on, were checked
   and found bounded: the format refuses an address, signature or chain id of any other shape before any check
   runs (the parametrized test shows no memo keeps the long text, and the reports equal a fresh view's).
2. ``store.insert_rows(skip_existing=True)``, which writes a decision chunk's stored inputs and their citation
   links, wrote ``INSERT OR IGNORE`` on SQLite where the SQLAlchemy statement it replaced wrote ``ON CONFLICT DO
   NOTHING``. The two differ beyond a key that exists: OR IGNORE also skips, silently, a row that breaks NOT NULL
   or a CHECK, so a decision whose input row was broken would be recorded without it instead of the write being
   refused. It now writes ``ON CONFLICT DO NOTHING`` on both databases.
3. Anchoring a log reads its pending entries, then writes the anchor row and every entry's proof with ``UPDATE ...
   WHERE id = ? AND state = 'pending'``. Another anchorer (another process, another ``max_batch``: another root,
   so no clash of anchor keys) that prepared some of those entries meanwhile left the UPDATE changing fewer rows
   than the batch: the anchor row named entries that did not name it, and its root went to the chain all the
   same. Neither the SQLAlchemy executemany nor the driver-level one that replaced it looked at the count; it is
   now compared with the batch, and a short count rolls the preparation back (the other anchorer completes its
   own; the same short count twice is refused as a driver miscounting, never a loop).

Also attacked and found sound (tests/test_vault_native.py and tests/test_hashcore.py, run under ASan/UBSan too): the
native sealing when a finalizer changes the items list while the output list is allocated (it seals what it
checked after that allocation, or declines), and the native flatten with an escape that changes the dict it walks
and with keys that escape alike; log appends whose writers race in the database, as processes do (every inline
entry hash is compute_entry_hash of the entry stored before it; seen retrying on both databases).
"""

from __future__ import annotations

import copy
import secrets
import threading
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ledger.client import Ledger
from ledger.services import logchain
from ledger.services import verify as verify_mod
from ledger.services.decisions import _insert_ignore
from ledger.services.verify import ChainView, verify_certificate
from ledger.storage.models import DecisionInput, LogAnchor
from ledger.storage.store import insert_rows

from .api_support import issue

_BIG = 200_000  # characters of hostile text per document (the gateway takes bodies of 1 MiB)


def _longest(value: Any, seen: set[int] | None = None) -> int:
    """The longest text (str or bytes) inside ``value``: tuples, lists, dicts, checks and windows walked."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, dict):
        return max((max(_longest(k, seen), _longest(v, seen)) for k, v in value.items()), default=0)
    if isinstance(value, (tuple, list)):
        return max((_longest(v, seen) for v in value), default=0)
    if isinstance(value, verify_mod.Check):
        return max(len(value.name), len(value.detail))
    return 0


def _kept_text(view: ChainView) -> int:
    """The longest text any memo of ``view`` holds."""
    return max(
        _longest(view._checks),
        _longest(view.chain_checks),
        _longest(view._windows),
        _longest(view._recovered),
        _longest(view._batch_checks[1]),
    )


@pytest.fixture(scope="module")
def genuine(ledger: Ledger) -> dict[str, Any]:
    return issue(ledger, "MKT", 1)[0]


def _edited(doc: dict[str, Any], section: str, name: str, value: Any) -> dict[str, Any]:
    edited = copy.deepcopy(doc)
    edited[section][name] = value
    return edited


@pytest.mark.parametrize(
    ("section", "name", "value"),
    [
        ("anchor", "contract", "0x" + "ab" * (_BIG // 2)),
        ("anchor", "registry", "r" * _BIG),
        ("anchor", "chain_id", "9" * _BIG),
        ("anchor", "department", "D" * _BIG),
        ("anchor", "signer", "0x" + "cd" * (_BIG // 2)),
        ("anchor", "signature", "0x" + "ef" * (_BIG // 2)),
        ("fields", "valid_from", "2026-01-01" + "x" * _BIG),
        ("fields", "valid_until", "y" * _BIG),
        ("fields", "type", "t" * _BIG),
    ],
)
def test_a_view_keeps_no_senders_long_text(
    ledger: Ledger, genuine: dict[str, Any], section: str, name: str, value: str
) -> None:
    """Verifying a document with a long hostile value leaves no memo of the shared view holding it (nor a detail
    quoting it), and the report is the one a view of its own gives."""
    doc = _edited(genuine, section, name, value)
    shared = ChainView(ledger.chain, ledger.settings.confirmations)
    verify_certificate(genuine, shared)  # the view's memos hold a genuine certificate's checks
    honest = _kept_text(shared)
    assert honest <= verify_mod.DETAIL_KEPT
    report = verify_certificate(doc, shared)
    assert not report.ok
    assert _kept_text(shared) <= verify_mod.DETAIL_KEPT, f"{section}.{name}: the view keeps the sender's text"
    report, alone = _as_of_one_block(ledger, doc, shared, report)
    assert report.to_json() == alone.to_json()
    again, fresh = _as_of_one_block(ledger, genuine, shared)  # and an honest client after it gets the genuine answer
    assert again.ok and again.to_json() == fresh.to_json()


def _as_of_one_block(ledger: Ledger, doc: dict[str, Any], shared: ChainView, first: Any = None) -> tuple[Any, Any]:
    """``doc`` verified through ``shared`` and through a view of its own, as of the same head: the shared chain
    may get a block between the two, and the confirmations' detail counts them."""
    for _ in range(10):
        mine = first if first is not None else verify_certificate(doc, shared)
        first = None
        alone = verify_certificate(doc, ChainView(ledger.chain, ledger.settings.confirmations))
        if mine.as_of_block == alone.as_of_block:
            return mine, alone
    raise AssertionError("the chain moved on between every pair of verifications")


def test_the_shared_checks_keep_no_long_detail(ledger: Ledger) -> None:
    """A check whose detail quotes more text than a genuine certificate's (a department's own tree anchored with a
    megabyte of ``valid_from`` reaches the validity check, whose detail quotes it) is answered, not kept."""
    view = ChainView(ledger.chain, ledger.settings.confirmations)
    detail = f"{'2026-01-01' + 'x' * _BIG!r} is not a date"
    found = view.shared_check(("validity", False, detail))
    assert (found.name, found.ok, found.detail) == ("validity", False, detail)
    assert _kept_text(view) == 0
    short = view.shared_check(("validity", True, "valid 2026-01-01 to no end date"))
    assert view.shared_check(("validity", True, "valid 2026-01-01 to no end date")) is short


def test_a_genuine_certificates_checks_are_still_shared(ledger: Ledger, genuine: dict[str, Any]) -> None:
    """The bound does not turn the memos off: a genuine certificate verified twice gets the same check objects."""
    shared = ChainView(ledger.chain, ledger.settings.confirmations)
    first = verify_certificate(genuine, shared)
    second = verify_certificate(genuine, shared)
    assert first.ok and second.ok
    for name in ("chain", "disclosure", "issuer", "validity"):
        assert first.check(name) is second.check(name), name


# -- 2. the bulk writes: skipping an existing key is all that is skipped --------------------------------------------


def test_skipping_existing_keys_skips_nothing_else(ledger: Ledger) -> None:
    """``store.insert_rows(skip_existing=True)`` wrote ``INSERT OR IGNORE`` on SQLite, which also drops, without a
    word, a row that breaks NOT NULL (or a CHECK): a stored decision's input row could vanish where SQLAlchemy's
    ``ON CONFLICT DO NOTHING`` (the statement it replaced) refused the whole write. Both now skip a row whose key
    exists, and refuse any other violation, on SQLite and PostgreSQL alike."""
    table = DecisionInput.__table__  # type: ignore[attr-defined]
    key = "0x" + secrets.token_hex(32)
    for write in (
        lambda conn, rows: conn.execute(
            _insert_ignore(conn, table), [dict(zip(("digest", "document"), r, strict=True)) for r in rows]
        ),
        lambda conn, rows: insert_rows(conn, table, ("digest", "document"), rows, skip_existing=True),
    ):
        with ledger.engine.connect() as conn:
            outer = conn.begin()
            try:
                write(conn, [(key, "{}")])
                write(conn, [(key, '{"other": 1}')])  # the key exists: skipped
                assert conn.execute(select(table.c.document).where(table.c.digest == key)).scalar_one() == "{}"
                with pytest.raises(IntegrityError), conn.begin_nested():
                    write(conn, [("0x" + secrets.token_hex(32), None)])  # NOT NULL: refused, not skipped
            finally:
                outer.rollback()


# -- 3. an anchoring of entries another anchorer took meanwhile writes and sends nothing -----------------------------


def test_an_anchoring_whose_entries_were_taken_meanwhile_writes_and_sends_nothing(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between reading the pending entries and writing its anchor, another anchorer (another process, another
    ``max_batch``, so another root and no clash of anchor keys) prepares and anchors some of them. Round 18 made the
    proofs' UPDATE count the rows it changed; the entries' rows are no longer written (migration 0012), and the two
    ranges start at the same entry, which the anchors' unique (log, department, first_seq) refuses: this
    preparation is rolled back and never sent, and the next look finds nothing left to anchor."""
    dept, log = fresh_department, "rt18"
    logchain.append_many(ledger, log, dept, [{"n": i} for i in range(6)])
    real_sign = logchain.sign
    taken: list[int] = []

    def sign_after_another_took_some(*args: Any, **kwargs: Any) -> Any:
        if not taken:  # the other anchorer anchors the entries first, in batches of 3
            taken.append(3)
            logchain.anchor_pending(ledger, log, dept, max_batch=3)
        return real_sign(*args, **kwargs)

    monkeypatch.setattr(logchain, "sign", sign_after_another_took_some)
    roots = logchain.anchor_pending(ledger, log, dept)
    assert taken == [3]
    ranges = logchain.chain_ranges(ledger, log, dept)
    assert [(r.first_seq, r.last_seq) for r in ranges] == [(1, 3), (4, 6)]  # never 1-6: not sent
    assert roots == []  # nothing of this call's own
    anchors = LogAnchor.__table__  # type: ignore[attr-defined]
    with ledger.engine.connect() as conn:
        written = conn.execute(
            select(anchors.c.first_seq, anchors.c.last_seq, anchors.c.root)
            .where(anchors.c.department_id == dept)
            .order_by(anchors.c.first_seq)
        ).all()
    assert [tuple(w) for w in written] == [(r.first_seq, r.last_seq, r.root) for r in ranges]  # no row for 1-6
    assert logchain.check_log(ledger, log, dept) == []


def test_appenders_racing_in_the_database_hash_every_entry_after_the_head_they_wrote_after(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers of other processes share no lock with this one: with the process's append lock taken away, writers
    race at the database (the head read, the insert, a unique violation and a retry), as processes do. Every entry's
    hash, computed inline with the head's hash as read in the writing transaction, must be compute_entry_hash of
    the entry before it as stored, and the log must check clean."""
    dept, log = fresh_department, "rt18-race"
    monkeypatch.setattr(logchain, "_append_lock", lambda *_args: threading.Lock())
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def writer(tag: str) -> None:
        barrier.wait()
        try:
            for i in range(15):
                logchain.append_many(ledger, log, dept, [{"writer": tag, "i": i, "j": j} for j in range(1 + i % 3)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{k}",)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    stored = list(logchain.entries(ledger, log, dept))
    assert [e.seq for e in stored] == list(range(1, 4 * 30 + 1))
    prev = logchain.ZERO_HASH
    for entry in stored:
        assert entry.prev_hash == prev
        assert entry.entry_hash == logchain.compute_entry_hash(log, dept, entry.seq, prev, entry.body)
        prev = entry.entry_hash
    logchain.anchor_pending(ledger, log, dept)
    assert logchain.check_log(ledger, log, dept) == []
