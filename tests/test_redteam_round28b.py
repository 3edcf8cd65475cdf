"""Red team, round 28b: public verification's one native call (branch gwfuse) against its Python reference.

What gwfuse landed: ``_hashcore.public_answer(doc, view, ctx)`` reads ``ChainView.warm``'s condition natively,
the small-document bound, and judges validity from the view's kept ``ValidityWindow`` at CLOCK_REALTIME's
microsecond; the rate limit and the duplicate-key check became one precheck, the client address read from the
scope's raw headers; the verify router is tried first. The Python path (``services.fast_public_report``, the
view's own code, Starlette's ``Headers``) is the reference.

Adversaries and what was tried (no hole found; these are the differential tests that guard the change, each shown
to fail when the C is broken at the place it guards):

- A hostile department whose certificate's validity window is odd: windows of random dates (dates alone, date-times
  with second fractions of one to six digits, offsets up to +/-23:59, the calendar's ends, 23:59:59 ends, windows
  one instant long or inverted, one bound missing) planted under a real certificate's dates in the view's memo, so
  both paths judge by that window; each bound to the microsecond either side, a second either side, and moments far
  in the past and the future. The native judgement (the view's Python clock made to fail, so no fallback can
  answer) gives the reference's bytes at every moment. Breaking ``now < start_us`` into ``<=`` (or ``>`` into
  ``>=`` at the end) fails this test.
- The gateway whose view is not warm (stale head, unsynced or unbuilt index, genesis read too long ago, attributes
  of types the view never writes), in random combinations rather than one at a time: ``public_answer`` answers only
  when ``ChainView.warm`` gives a head, and then with ``public_report``'s bytes at that head. Inverting
  ``head_v > synced_v`` fails it.
- An anonymous client, or a proxy relaying others' requests, forging X-Forwarded-For (repeated lines, names in other
  cases or with stray characters, latin-1 bytes, commas, blanks, the peer's own address, IPv6) with and without
  trusted proxies: the rate limits' key read from the raw headers is the key Starlette's ``getlist`` reading gave,
  for thousands of random header lists.
- A holder editing their document to its biggest: genuine certificates of SMALL_DOCUMENT_FIELDS fields and one
  more, disclosed or hidden: the native call answers the first with the reference's bytes and declines the second,
  as ``small_document`` decides. Moving the native bound by one fails it.
- An anonymous flood: thousands of calls answered natively, by the view's code and declined leave every object the
  call reads with the references it had (a reference kept per request is memory a client grows at will, one lost a
  freed object read). Dropping the validity key's or warm_head's genesis release fails it.
- A sync from another thread mid-call (status index swapped, windows without verdicts planted so the view's Python
  code runs inside the call and threads switch there): every answer is one state's reference bytes or None. A stress
  test for the sanitizers more than a differential one.
- Run under ASan and UBSan (the extension built with -fsanitize=address,undefined, libasan preloaded,
  PYCRYPTODOME_DISABLE_DEEPBIND=1): this module, test_public_verify_native, test_public_verify_reference and
  test_hashcore, 2,800 tests, clean.
- The route order: no other route is reached through POST /public/verify's place first (its paths overlap no other
  route's; every other path still reaches its own route). Not a separate test here: test_public_verify_reference
  asserts the first route and that /openapi.json is still served.
"""

from __future__ import annotations

import copy
import io
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.requests import Request

from api import services
from api.config import ApiSettings
from api.deps import client_address_of
from api.main import create_app
from api.ratelimit import parse_networks
from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats import checks as checks_core
from ledger.formats.canonical import NATIVE
from ledger.formats.certificate import validate_record, validity_instant
from ledger.onchain.chainread import Finality
from ledger.services.issuance import issue_records
from ledger.services.verify import GENESIS_RECHECK, ChainView, verify_certificate

from .conftest import make_records
from .public_verify_support import reference_client_key, with_hidden

pytestmark = pytest.mark.skipif(
    getattr(NATIVE, "public_answer", None) is None, reason="the native core is not built (setup.py build_ext)"
)

DEPARTMENT = "MKT"
START, END = "2026-01-01", "2030-12-31T12:00:00+02:00"


@pytest.fixture(scope="module")
def certificate(ledger: Ledger) -> dict[str, Any]:
    """One certificate with both validity dates, its anchor final (the view keeps it)."""
    record = make_records(1, prefix="RT28B")[0]
    record["valid_from"], record["valid_until"] = START, END
    out = io.StringIO()
    issue_records(ledger, [validate_record(record, 1, department=DEPARTMENT)], DEPARTMENT, out=out)
    for _ in range(Finality(ledger.settings.confirmations).reorg_depth + 2):
        ledger.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    return json.loads(out.getvalue().splitlines()[0])  # type: ignore[no-any-return]


def _view(ledger: Ledger) -> ChainView:
    view = ChainView(ledger.chain, ledger.settings.confirmations, max_head_age=3600.0)
    view.refresh()
    return view


# -- validity: random windows, judged natively -------------------------------------------------------------------


def _date_text(rng: random.Random) -> str:
    """A validity date as a hostile department might write one: well formed, at odd places of the calendar."""
    year = rng.choice([1, 2, 1969, 1970, 2026, 2038, 9998, 9999, rng.randint(1, 9999)])
    month = rng.randint(1, 12)
    day = rng.choice([1, 28, 29, 30, 31, rng.randint(1, 28)])
    text = f"{year:04d}-{month:02d}-{day:02d}"
    if rng.random() < 0.3:
        return text
    text += f"T{rng.choice([0, 23, rng.randint(0, 23)]):02d}:{rng.choice([0, 59]):02d}:{rng.choice([0, 59]):02d}"
    if rng.random() < 0.6:
        text += "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 6)))
    zone = rng.random()
    if zone < 0.3:
        return text + "Z"
    sign = rng.choice("+-")
    hours, minutes = rng.choice([(0, 0), (23, 59), (14, 0), (5, 30), (rng.randint(0, 23), rng.randint(0, 59))])
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


def _window(rng: random.Random) -> tuple[str | None, str | None]:
    """Two dates that read as instants (a missing bound now and then, inverted or one instant long sometimes)."""
    while True:
        start = None if rng.random() < 0.15 else _date_text(rng)
        end = None if rng.random() < 0.15 else _date_text(rng)
        if rng.random() < 0.1 and start is not None:
            end = start  # one day (a date) or one instant (a date-time) long
        try:
            for value, is_end in ((start, False), (end, True)):
                if value is not None:
                    validity_instant(value, end=is_end)
        except InputError:
            continue  # a malformed window is the view's code's to judge: not the native judgement under test
        return start, end


_STEPS = (
    timedelta(0),
    timedelta(microseconds=1),
    timedelta(microseconds=-1),
    timedelta(seconds=1),
    timedelta(seconds=-1),
    timedelta(microseconds=500_000),
)


def _moments(rng: random.Random, start: str | None, end: str | None) -> list[datetime]:
    moments = [datetime.now(UTC), datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, UTC)]
    moments.append(datetime(1, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(315_537_897_600_000_000)))
    for value, is_end in ((start, False), (end, True)):
        if value is not None:
            instant = validity_instant(value, end=is_end)
            for step in _STEPS:
                try:
                    moments.append(instant + step)
                except OverflowError:
                    pass
    return moments


def _native_only_at(view: ChainView, document: Any, moment: datetime) -> bytes | None:
    """The native call at ``moment`` with the view's Python judgement out of reach (the datetime clock only the
    view's own code reads fails): an answer is the native judgement's, never the fallback's."""
    context = list(services._native_context(view, moment))

    def refused() -> datetime:
        raise RuntimeError("the Python clock was read: validity was not judged natively")

    replaced = 0
    for i, constant in enumerate(context):
        if getattr(constant, "__name__", "") == "<lambda>" and constant() is moment:
            context[i] = refused
            replaced += 1
    assert replaced == 1
    head = view.warm()
    assert head is not None
    return NATIVE.public_report(document, view, head, tuple(context))  # type: ignore[no-any-return]


def _reference_at(view: ChainView, document: Any, moment: datetime) -> bytes:
    return services.json_bytes(services.public_fields(verify_certificate(document, view, now=moment)))


def test_random_windows_are_judged_natively_at_every_bound_as_the_view_judges_them(
    ledger: Ledger, certificate: dict[str, Any]
) -> None:
    """Windows of random dates planted under the certificate's dates (so both paths judge by the same window):
    at each bound, a microsecond and a second either side, half a second after, now, and far moments, the native
    judgement is the reference's bytes, "valid", "not valid before" and "expired" alike."""
    view = _view(ledger)
    _reference_at(view, certificate, datetime.now(UTC))
    key = (START, END, False)
    assert key in view._windows
    rng = random.Random(2812)
    seen: set[str] = set()
    for _ in range(160):
        start, end = _window(rng)
        hidden = rng.random() < 0.2
        view._windows[key] = checks_core.ValidityWindow(start, end, dates_hidden=hidden)
        for moment in _moments(rng, start, end):
            if view.warm() is None:
                view.refresh()
            expected = _reference_at(view, certificate, moment)  # writes this branch's verdict in the window
            assert _native_only_at(view, certificate, moment) == expected, (start, end, hidden, moment)
            assert services.fast_public_bytes(view, certificate, now=moment) == expected, (start, end, moment)
            check = next(c for c in json.loads(expected)["checks"] if c["name"] == "validity")
            seen.add(check["detail"].split(" ")[0])
    assert seen == {"valid", "not", "expired"}


# -- the warm condition, in random combinations ------------------------------------------------------------------


def test_random_view_states_are_answered_only_when_the_view_is_warm(
    ledger: Ledger, certificate: dict[str, Any]
) -> None:
    """Two to four changes at once to the attributes ``ChainView.warm`` reads, of the values and types a sync in
    flight, a stale head or a planted value could leave: ``public_answer`` gives ``public_report``'s bytes at the
    head ``warm`` gives, and nothing when ``warm`` gives none (or raises)."""
    view = _view(ledger)
    verify_certificate(certificate, view)
    assert services.fast_public_bytes(view, certificate) is not None
    context = view.public_report_context
    assert context is not None
    now = time.monotonic()
    head = view.warm()
    assert head is not None
    genesis = view._genesis[0]
    choices: dict[str, list[Any]] = {
        "max_head_age": [3600.0, 0.0, -0.0, -1.0, 1e-9, 3600, 0, True, float("nan"), float("inf"), 2**53, 2**53 - 1],
        "_head_read_at": [now, now - 3601.0, now + 10.0, float("-inf"), float("inf"), float("nan"), int(now), None],
        "_head": [head, head + 1, head - 1, 0, -1, True, float(head), 2**63, "1"],
        "_synced": [head, head - 1, head + 1, -1, 2**63, float(head), None, False],
        "_indexed": [True, False, 1, 0, None],
        "_genesis": [
            (genesis, now),
            (genesis, now - GENESIS_RECHECK - 1.0),
            (genesis, float("nan")),
            (genesis, int(now)),
            [genesis, now],
            (genesis,),
            (genesis, now, 0),
        ],
    }
    rng = random.Random(28)
    answered = refused = 0
    for _ in range(600):
        state = {name: rng.choice(choices[name]) for name in rng.sample(sorted(choices), rng.randint(2, 4))}
        trial = copy.copy(view)
        for name, value in state.items():
            setattr(trial, name, value)
        try:
            warm = trial.warm()
        except (TypeError, IndexError, ValueError):
            warm = None
        native = NATIVE.public_answer(certificate, trial, context)
        if warm is None:
            assert native is None, state
            refused += 1
        elif native is not None:
            assert native == NATIVE.public_report(certificate, trial, warm, context), state
            answered += 1
    assert answered >= 20 and refused >= 100


# -- the rate limits' key, from forged and relayed headers -------------------------------------------------------


_NAMES = [b"x-forwarded-for"] * 6 + [
    b"X-Forwarded-For",
    b"x-forwarded-for ",
    b"x_forwarded_for",
    b"forwarded",
    b"x-real-ip",
]
_HOPS = [
    "203.0.113.9",
    "10.0.0.5",
    "10.9.9.9",
    "127.0.0.1",
    "::1",
    "2001:db8::7",
    "[2001:db8::8]",
    "2001:db8:0:0:1::9",
    "198.51.100.7:4711",
    "unknown",
    "testclient",
    "",
    " ",
    "0.0.0.0",  # noqa: S104 - a forged hop, not a bind
    "255.255.255.255",
    "1.2.3.4.5",
    "10.0.0.5\t",
    "caf\xe9",
]


def _header_value(rng: random.Random) -> bytes:
    hops = [rng.choice(_HOPS) for _ in range(rng.randint(0, 4))]
    separator = rng.choice([",", ", ", " ,", ",,"])
    return separator.join(hops).encode("latin-1")


@pytest.mark.parametrize("trusted", ["", "10.0.0.0/8", "10.0.0.5, ::1, 127.0.0.1", "0.0.0.0/0, ::/0"])
def test_random_forwarded_lines_key_the_budgets_as_starlettes_headers_did(trusted: str) -> None:
    """Random header lists (repeated lines, names that are not exactly the lower-cased one, latin-1 text, empty
    and odd hops, the peer's own address) from random peers: the key read from the raw headers is the
    reference's, trusted proxies or not."""
    app = create_app(settings=ApiSettings(trusted_proxies=trusted))
    networks = parse_networks(trusted)
    rng = random.Random(f"rt28b {trusted}")
    peers: list[tuple[str, int] | None] = [
        ("10.0.0.5", 1),
        ("127.0.0.1", 2),
        ("203.0.113.9", 3),
        ("::1", 4),
        ("2001:db8::1", 5),
        ("testclient", 6),
        None,
    ]
    keys = set()
    for _ in range(3000):
        headers = [(rng.choice(_NAMES), _header_value(rng)) for _ in range(rng.randint(0, 4))]
        rng.shuffle(headers)
        scope = {"type": "http", "app": app, "headers": headers, "client": rng.choice(peers)}
        key = client_address_of(scope, networks)
        assert key == reference_client_key(Request(dict(scope, headers=list(scope["headers"]))), networks), scope
        keys.add(key)
    assert len(keys) >= 5


# -- no reference kept or lost: a flood of requests leaks nothing ------------------------------------------------


def test_a_flood_of_answers_leaves_every_objects_count_of_references_as_it_was(
    ledger: Ledger, certificate: dict[str, Any]
) -> None:
    """Thousands of calls, answered natively (the kept window's verdict), by the view's code (a window without
    that verdict yet), and declined (a cold view, a big document): every object the call reads (the document's
    values, the view's attributes, the window, its verdicts, the context) has the references it had before. A
    reference kept per request is memory an anonymous client grows at will; one lost is a freed object read."""
    import gc
    import sys

    view = _view(ledger)
    verify_certificate(certificate, view)
    assert services.fast_public_bytes(view, certificate) is not None
    context = view.public_report_context
    assert context is not None
    window = view._windows[(START, END, False)]
    watched: list[Any] = [
        *certificate["fields"].values(),
        *certificate["anchor"].values(),
        certificate["fields"],
        certificate["anchor"],
        window,
        *[verdict for verdict in window._verdicts if verdict is not None],
        window._start_us,
        window._end_us,
        view._head,
        view._synced,
        view._genesis,
        view._windows,
        view._index,
        view.max_head_age,
        view._head_read_at,
        *context,
    ]
    # objects of their own (the small ints and the singletons are shared with everything else running)
    watched = [v for v in watched if v is not None and type(v) is not bool and not (type(v) is int and -5 <= v <= 256)]
    big = copy.deepcopy(certificate)
    big["hidden"] = {f"x{i}": "00" * 32 for i in range(services.SMALL_DOCUMENT_FIELDS + 1)}

    def flood() -> None:
        for i in range(3000):
            if i % 3 == 0:
                view._windows[(START, END, False)] = checks_core.ValidityWindow(START, END)  # no verdict yet
            elif i % 3 == 1:
                view._windows[(START, END, False)] = window
            assert NATIVE.public_answer(certificate, view, context) is not None
            assert NATIVE.public_answer(big, view, context) is None
        view._windows[(START, END, False)] = window

    flood()  # every memo the calls fill is filled
    gc.collect()
    before = [sys.getrefcount(value) for value in watched]
    flood()
    gc.collect()
    after = [sys.getrefcount(value) for value in watched]
    assert after == before, [(value, b, a) for value, b, a in zip(watched, before, after, strict=True) if a != b]
    cold = copy.copy(view)
    cold._head_read_at = float("-inf")
    before = [sys.getrefcount(value) for value in watched]
    for _ in range(3000):
        assert NATIVE.public_answer(certificate, cold, context) is None
    after = [sys.getrefcount(value) for value in watched]
    assert after == before


# -- the small-document bound, at its edge -----------------------------------------------------------------------


def test_the_small_document_bound_is_the_references_to_the_field(ledger: Ledger) -> None:
    """Genuine certificates of SMALL_DOCUMENT_FIELDS fields and one more, disclosed or hidden: the native call
    answers the first with the reference's bytes and leaves the second (the route's worker thread verifies it),
    as ``small_document`` decides; a hidden field counts as a disclosed one does."""
    records = make_records(24, prefix="RT28S")
    for extra, record in enumerate(records, start=48):
        record["subject"].update({f"extra_{i:03d}": f"value {i}" for i in range(extra)})
    out = io.StringIO()
    valid = [validate_record(record, i + 1, department=DEPARTMENT) for i, record in enumerate(records)]
    issue_records(ledger, valid, DEPARTMENT, out=out)
    for _ in range(Finality(ledger.settings.confirmations).reorg_depth + 2):
        ledger.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    docs = [json.loads(line) for line in out.getvalue().splitlines()]
    view = _view(ledger)
    verify_certificate(docs[0], view)  # the batch in the view's memory
    sizes: dict[int, list[dict[str, Any]]] = {}
    for doc in docs:  # each as issued, and with a subject field hidden (the same count, split in two)
        count = len(doc["fields"]) + len(doc.get("hidden") or {})
        sizes[count] = [doc, with_hidden(doc, "subject.extra_000")]
    limit = services.SMALL_DOCUMENT_FIELDS
    assert limit in sizes and limit + 1 in sizes
    for count in (limit - 1, limit, limit + 1):
        for doc in sizes[count]:
            reference = services.fast_public_report(view, doc)
            assert reference is not None
            native = services.fast_public_bytes(view, doc)
            assert services.small_document(doc) == (count <= limit)
            if count <= limit:
                assert native == services.json_bytes(reference), count
            else:
                assert native is None, count


# -- a sync from another thread, mid-call ------------------------------------------------------------------------


def test_an_index_swapped_by_another_thread_mid_call_gives_one_states_answer(
    ledger: Ledger, certificate: dict[str, Any]
) -> None:
    """Another thread swaps the view's status index (the certificate valid, then revoked, as a sync publishes it)
    and plants windows without verdicts (so each call runs the view's Python code, where threads switch) while
    the native call answers: every answer is the reference's for one of the two states, or None; none reads an
    index or a window another thread let go (ASan run: see the module's docstring)."""
    import sys
    import threading

    view = _view(ledger)
    verify_certificate(certificate, view)
    context = view.public_report_context = services._native_context(view)
    dept = DEPARTMENT.encode().ljust(32, b"\x00")
    digest = bytes.fromhex(certificate["digest"][2:])
    root = next(key for key in view._batches if key[0] == DEPARTMENT)[1]
    deep, recent = view._index
    clean = ({k: v for k, v in deep.items() if k[2] != digest}, {k: v for k, v in recent.items() if k[2] != digest})
    revoked = (clean[0], {**clean[1], (dept, root, digest): (1, 8, (1).to_bytes(32, "big"))})
    answers = set()
    for index in (clean, revoked):
        view._index = index
        reference = services.fast_public_report(view, certificate)
        assert reference is not None
        answers.add(services.json_bytes(reference))
    assert len(answers) == 2
    stop = threading.Event()

    def sync() -> None:
        while not stop.is_set():
            for index in (clean, revoked):
                view._index = (dict(index[0]), dict(index[1]))  # a new object each time, the old one let go
                view._windows = {(START, END, False): checks_core.ValidityWindow(START, END)}

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    thread = threading.Thread(target=sync)
    thread.start()
    try:
        seen = set()
        for _ in range(4000):
            answer = NATIVE.public_answer(certificate, view, context)
            assert answer is None or answer in answers, answer
            seen.add(answer)
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
    assert answers <= seen
