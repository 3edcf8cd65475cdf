"""Replay's facts check's native path (``_hashcore.facts_check``, ledger/formats/_native_facts.py) against the
Python check, the reference (``replay._Facts.check_reference``).

Adversary: a department (or an insider with database access) shaping a decision record, or an applicant shaping
the certificates they cite, so that the native check and the reference disagree - a decision whose recorded facts
the chain contradicts passing replay on one machine and failing on another - or so that the native check crashes:
erased citations (cited by digest, shredded inline copies), a status changed before or after the decision block,
anchors after the block or not deep enough, confirmations of every type, holder fields missing, blank, altered or
held through another field, recorded facts of every JSON type (1 for true, NaN, huge integers, lists and objects),
a decision block of another type, unicode, findings of the decision's moment and authority. Every answer must be the
reference's findings (kinds, order, texts) and rules' view; where the native check declines (None) the reference
checks the whole decision.

The chain's and the applicant secret's answers are the two checks' common callbacks (``_judge``, ``_status_of``,
``_reference``), given here as pure functions of their arguments, so that the two checks are compared on every
branch with no chain: tests/test_replay*.py run the native check (it is on by default) against the real chain.
"""

from __future__ import annotations

import random
import sys
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.formats import _native_facts
from ledger.services import replay
from ledger.services.facts import CertificateFact
from ledger.services.replay import _Facts, _UnseenFact

needs_native = pytest.mark.skipif(_native_facts.facts_check is None, reason="the native core is not built here")

_DEPT = "DPT"
_BLOCK = 120
_MOMENT = "2026-12-07T10:00:00+00:00"
_DIGESTS = tuple("0x" + format(i, "064x") for i in range(1, 7))
_ROOTS = tuple("0x" + format(i << 8, "064x") for i in range(1, 4))
_TYPES = ("business-licence", "id-card", "tax-registration", "证书", "e\u0301", "")
_STATUSES = ("valid", "revoked", "suspended", "superseded", "unknown", "válido")
_IDS = ("alice", "bob", "", " ", "\u2003", "\u00a0alice", "12345", "名前", "a\u0301")
# recorded values of every JSON type, compared with the check's own str, bool and None
_ODD: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    1,
    -1,
    1.0,
    0.0,
    float("nan"),
    float("inf"),
    10**30,
    2**63,
    "true",
    "valid",
    "unknown",
    "",
    "\U0001f600",
    [],
    ["valid"],
    {},
    {"a": 1},
)


class _Dict(dict):  # type: ignore[type-arg]
    """A dict subclass: a record whose item access is its own."""


class _Str(str):
    """A str subclass: its comparison is its own."""

    __slots__ = ()


class _Harness(_Facts):
    """A ``_Facts`` whose chain and secret answer as pure functions of what is asked (the two checks' callbacks)."""

    def __init__(
        self,
        judgement: tuple[bool, list[tuple[str, str]]],
        statuses: dict[tuple[Any, int], Any],
        erased_facts: dict[str, CertificateFact | None],
    ) -> None:
        super().__init__(None)  # type: ignore[arg-type]
        self.judgement = judgement
        self.statuses = statuses
        self.erased_facts = erased_facts
        self.calls: list[tuple[Any, ...]] = []

    def _judge(
        self, department: str, block: int, decided: datetime, anchor: Any, body: dict[str, Any]
    ) -> tuple[bool, list[tuple[str, str]]]:
        self.calls.append(("judge", department, block))
        return self.judgement

    def _status_of(self, fact: Any, block: int) -> str:
        self.calls.append(("status", fact.digest, block))
        if fact.root is not None and not fact.root.startswith("0x"):
            raise ValueError("not a root")  # the reference's bytes.fromhex of a malformed root
        found = self.statuses.get((fact.digest, block), "valid")
        assert isinstance(found, str)
        return found

    def _reference(self, department: str, identity: str) -> str:
        self.calls.append(("reference", identity))
        return f"ref:{department}:{identity.strip()}"

    def _erased_fact(
        self, digest: str, theirs: Any, block: int, department: str, citation: tuple[Any, int]
    ) -> CertificateFact | None:
        return self.erased_facts.get(digest)


def _run(check: Callable[..., Any], harness: _Harness, case: dict[str, Any]) -> Any:
    found: list[tuple[str, str]] = []
    try:
        views = check(_DEPT, case["input"], case["body"], case["anchor"], lambda c, d: found.append((c, d)))
    except Exception as exc:  # noqa: BLE001 - the reference's error is part of its answer
        return ("raised", type(exc).__name__, found)
    return (found, views)


def _native(harness: _Harness, case: dict[str, Any]) -> Any:
    return _native_facts.facts_check(
        case["body"],
        case["input"],
        _DEPT,
        case["anchor"],
        harness._moments,
        harness._judged,
        harness._judge,
        harness.cache,
        harness._erased,
        harness.shredded,
        harness._status_of,
        harness._reference,
    )


class _Anchor:
    def __init__(self, block_number: Any) -> None:
        self.block_number = block_number


def _fact(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.12:
        return _UnseenFact(rng.choice((*_DIGESTS, None)), ("not_found",))
    if roll < 0.2:
        return _UnseenFact(None, ("citation_invalid",))
    cert_type = rng.choice((*_TYPES, None))
    return CertificateFact(
        rng.choice((*_DIGESTS, None, "")),
        rng.choice(("DPT", "MKT", None, "", "ÉTAT")),
        rng.choice((*_ROOTS, None, "", "zz")),
        cert_type,
        rng.random() < 0.8,
        rng.choice(_STATUSES),
        rng.choice((True, False, None)),
        _BLOCK,
        rng.choice(((), ("validity",), ("status",), ("signature",), ("not_found",), ("citation_invalid",))),
        rng.choice((None, _BLOCK - 50, _BLOCK - 3, _BLOCK - 2, _BLOCK, _BLOCK + 1, 10**30, -(10**30))),
        rng.choice((0, 1, 3)),
        rng.choice((True, False, None)),
        tuple(rng.choice(_IDS) for _ in range(rng.choice((0, 1, 1, 2)))),
        tuple(rng.choice(_IDS) for _ in range(rng.choice((0, 1, 2)))),
    )


def _recorded(rng: random.Random, fact: Any, view: dict[str, Any] | None) -> Any:
    """A recorded fact: the reference's own answer (a view) with some fields altered, missing or of other types."""
    if rng.random() < 0.02:
        return rng.choice(("not a fact", 5, None, ["digest"]))
    base = view if view is not None and rng.random() < 0.8 else {}
    theirs: dict[str, Any] = {
        "digest": base.get("digest", fact.digest),
        "type": base.get("type", fact.type),
        "verified": base.get("verified", rng.choice((True, False))),
        "status": base.get("status", rng.choice(_STATUSES)),
        "expired": base.get("expired", rng.choice((True, False, None))),
        "holder": base.get("holder", rng.choice((True, False, None))),
        "issuer": fact.issuer,
        "root": fact.root,
        "as_of_block": _BLOCK,
        "confirmations": rng.choice((0, 0, 1, 3, 5, 60, -1, 10**30, True, False, 2.0, "3", None, [3])),
        "failed": list(fact.failed),
    }
    for _ in range(rng.choice((0, 0, 0, 0, 1, 2))):
        name = rng.choice(
            ("digest", "type", "verified", "status", "expired", "holder", "confirmations") * 3 + ("as_of_block",)
        )
        if rng.random() < 0.25:
            theirs.pop(name, None)
        else:
            theirs[name] = rng.choice(_ODD)
    return theirs


def _case(rng: random.Random) -> tuple[dict[str, Any], Callable[[], _Harness]]:
    count = rng.choice((0, 1, 1, 2, 3))
    facts = [_fact(rng) for _ in range(count)]
    citations: list[Any] = []
    shredded: dict[str, str] = {}
    for fact in facts:
        roll = rng.random()
        if roll < 0.3:
            ref = "0x" + format(rng.randrange(1 << 32), "064x")
            citations.append({"document_ref": ref})
            if rng.random() < 0.7:
                shredded[ref] = rng.choice((*_DIGESTS, fact.digest or _DIGESTS[0]))
        elif roll < 0.4:
            citations.append({"document_ref": rng.choice((5, None, ["x"]))})
        else:
            citations.append(rng.choice((fact.digest or "x", {"digest": fact.digest})))
    erased = {d: {_DEPT: rng.choice(("id-card", None))} for d in _DIGESTS if rng.random() < 0.15}
    erased_facts: dict[str, CertificateFact | None] = {
        d: (
            None
            if rng.random() < 0.5
            else CertificateFact(d, _DEPT, _ROOTS[0], "id-card", True, "revoked", None, _BLOCK, (), _BLOCK - 9, 0, True)
        )
        for d in erased
    }
    statuses = {(d, _BLOCK): rng.choice(_STATUSES) for d in _DIGESTS if rng.random() < 0.5}
    judgement: tuple[bool, list[tuple[str, str]]] = rng.choice(
        (
            *([(True, [])] * 12),
            (False, [("facts_block_invalid", "the decision names block 120, after it was anchored in block 3")]),
            (False, [("decided_without_authority", "DPT was suspended from block 7 while ... (block 120)")]),
        )
    )
    applicant = rng.choice(
        (f"ref:{_DEPT}:alice", f"ref:{_DEPT}:bob", f"ref:{_DEPT}:名前", f"ref:{_DEPT}:", None, 5, "")
    )
    body: dict[str, Any] = {
        "certificates": None,
        "decided_at": rng.choice((_MOMENT,) * 30 + ("2026-12-07T10:00:01Z", "not a time", 5)),
        "as_of_block": _BLOCK,
        "input_digest": "0x" + "ab" * 32,
        "applicant_ref": applicant,
    }
    if rng.random() < 0.05:
        body["as_of_block"] = rng.choice((True, "120", 120.0, None, -1, 10**30, float("nan"), [120], {"b": 1}))
    moments = {_MOMENT: datetime(2026, 12, 7, 10, tzinfo=UTC), "not a time": None}
    known_moments = rng.random() < 0.9
    cached = rng.random() < 0.95
    anchor = rng.choice((None, _Anchor(_BLOCK + 4), _Anchor(_BLOCK + 4)))
    judged_before = rng.random() < 0.3
    erased_read = rng.random() < 0.9

    def harness() -> _Harness:
        made = _Harness(judgement, statuses, erased_facts)
        made._erased = dict(erased) if erased_read else None
        made.shredded = dict(shredded)
        if known_moments:
            made._moments = dict(moments)
        if cached:
            made.cache = {(body["input_digest"], body["decided_at"]): list(facts)}
        if judged_before and type(body["as_of_block"]) is int:
            key = (_DEPT, body["as_of_block"], body["decided_at"], anchor.block_number if anchor else None)
            made._judged = {key: judgement}
        return made

    case = {"input": {"certificates": citations} if count or rng.random() < 0.5 else {}, "body": body, "anchor": anchor}
    # the record: the reference's own views, altered here and there (so that most decisions agree, some do not)
    body["certificates"] = [{} for _ in facts]
    for theirs in body["certificates"]:
        theirs["as_of_block"] = body["as_of_block"]
    first = _run(harness().check_reference, harness(), case) if erased_read and cached else None
    views = first[1] if first is not None and first[0] != "raised" and isinstance(first[1], list) else None
    body["certificates"] = [
        _recorded(rng, fact, views[i] if views is not None else None) for i, fact in enumerate(facts)
    ]
    for theirs in body["certificates"]:
        if isinstance(theirs, dict) and "as_of_block" in theirs and theirs["as_of_block"] == _BLOCK:
            theirs["as_of_block"] = body["as_of_block"]
    roll = rng.random()
    if roll < 0.03:
        body["certificates"] = body["certificates"] + [{"as_of_block": body["as_of_block"]}]
    elif roll < 0.05:
        body["certificates"] = rng.choice(("facts", None, 3, {"0": {}}))
    return case, harness


@needs_native
@pytest.mark.parametrize("seed", range(8))
def test_generated_facts_and_records_are_checked_alike(seed: int) -> None:
    """3,000 generated decisions a seed: the native answer is the reference's on every one it gives (most of them:
    asserted, so that a check declining everything cannot pass), and ``check`` (native first) equals the reference
    on all, declined ones and the reference's errors included."""
    rng = random.Random(seed)
    answered = 0
    total = 3_000
    for _ in range(total):
        case, harness = _case(rng)
        expected = _run(harness().check_reference, harness(), case)
        native = _native(harness(), case)
        if native is not None:
            answered += 1
            found, views = native
            assert (found, views) == expected, (case, native, expected)
        made = harness()
        assert _run(made.check, made, case) == expected, case
    assert answered > total * 0.6, answered


@needs_native
def test_every_branch_is_answered_natively() -> None:
    """The generated decisions take every branch of the check natively: each kind of finding, a status of the chain
    as of the block, a fact no longer counted (anchored after the block, not deep enough), held and not held."""
    rng = random.Random(99)
    kinds: set[str] = set()
    statuses: set[str] = set()
    held = {True: 0, False: 0}
    unknown_after_anchor = 0
    for _ in range(6_000):
        case, harness = _case(rng)
        made = harness()
        native = _native(made, case)
        if native is None:
            continue
        kinds.update(check for check, _ in native[0])
        for view, fact in zip(native[1] or [], made.cache.get((case["body"]["input_digest"], case["body"]["decided_at"]), []), strict=False):  # fmt: skip
            statuses.add(view["status"])
            held[view["holder"]] += 1
            if fact.verified and not view["verified"]:
                unknown_after_anchor += 1
        if any(call[0] == "status" for call in made.calls):
            statuses.add("<chain>")
    assert kinds == {"certificate_facts", "facts_block_invalid", "decided_without_authority"}
    assert {"<chain>", "unknown", "válido"} <= statuses
    assert held[True] > 50 and held[False] > 50
    assert unknown_after_anchor > 50


def _simple(**changes: Any) -> tuple[dict[str, Any], _Harness]:
    fact = CertificateFact(_DIGESTS[0], _DEPT, _ROOTS[0], "id-card", True, "valid", False, _BLOCK, (), _BLOCK - 10, 1)
    fact = CertificateFact(**{**{k: getattr(fact, k) for k in fact.__slots__}, **changes.pop("fact", {})})
    theirs = {
        "digest": _DIGESTS[0],
        "type": "id-card",
        "verified": True,
        "status": "valid",
        "expired": False,
        "holder": False,
        "as_of_block": _BLOCK,
        "confirmations": 1,
    } | changes.pop("theirs", {})
    body = {
        "certificates": [theirs],
        "decided_at": _MOMENT,
        "as_of_block": _BLOCK,
        "input_digest": "0x" + "ab" * 32,
        "applicant_ref": f"ref:{_DEPT}:alice",
    } | changes.pop("body", {})
    made = _Harness((True, []), {}, {})
    made._erased = {}
    made._moments = {_MOMENT: datetime(2026, 12, 7, 10, tzinfo=UTC)}
    made.cache = {(body["input_digest"], _MOMENT): [fact]}
    assert not changes
    return {"input": {"certificates": [_DIGESTS[0]]}, "body": body, "anchor": None}, made


@needs_native
def test_confirmations_and_anchors_at_their_edges() -> None:
    """A fact anchored exactly ``confirmations`` blocks before the decision block counts; one block fewer does not;
    one anchored after the block is not verified and its expiry unknown; huge and negative numbers compare exactly."""
    for anchored, depth, counted in (
        (_BLOCK - 3, 3, True),
        (_BLOCK - 2, 3, False),
        (_BLOCK, 0, True),
        (_BLOCK, 1, False),
        (_BLOCK + 1, 0, False),
        (-(10**30), 10**30, True),
        (-(10**30), 10**30 + _BLOCK + 1, False),
    ):
        case, made = _simple(fact={"anchored_block": anchored}, theirs={"confirmations": depth})
        native = _native(made, case)
        assert native is not None
        assert native[1][0]["verified"] is counted, (anchored, depth)
        assert native == _run(made.check_reference, made, case)


@needs_native
def test_the_holder_fields_branches() -> None:
    """Held through the type's field; a blank field names no one; not held when not verified; held through another
    disclosed field only (the rule before round 69) is the reference's to report."""
    case, made = _simple(fact={"subject_ids": ("alice",)}, theirs={"holder": True})
    assert _native(made, case) == ([], [made.cache[("0x" + "ab" * 32, _MOMENT)][0].rule_view() | {"holder": True}])
    case, made = _simple(fact={"subject_ids": (" \u2003",)}, theirs={"holder": True})
    found, _ = _native(made, case)
    assert found == [
        ("certificate_facts", f"certificate 1 ({_DIGESTS[0]}) as of block 120: holder: recorded True, the chain says False")
    ]  # fmt: skip
    assert made.calls == [("judge", _DEPT, _BLOCK), ("status", _DIGESTS[0], _BLOCK)]  # no reference of a blank field
    case, made = _simple(fact={"subject_ids": ("bob",), "any_ids": ("alice",)}, theirs={"holder": True})
    assert _native(made, case) is None
    found, _ = _run(made.check_reference, made, case)
    assert [c for c, _ in found] == ["held_by_other_field"]


@needs_native
def test_erased_citations_are_the_references() -> None:
    """A citation of a certificate the chain attests erased (by digest, or a shredded inline copy naming the recorded
    digest) is re-established from the store by the reference; before the erasures are read, too."""
    case, made = _simple(fact={"failed": ("not_found",)})
    made._erased = {_DIGESTS[0]: {_DEPT: None}}
    assert _native(made, case) is None
    made._erased = None
    assert _native(made, case) is None
    made._erased = {}
    assert _native(made, case) is not None
    case, made = _simple(fact={"failed": ("citation_invalid",)})
    case["input"] = {"certificates": [{"document_ref": "0xref"}]}
    made.shredded = {"0xref": _DIGESTS[0]}
    made._erased = {_DIGESTS[0]: {_DEPT: None}}
    assert _native(made, case) is None
    made.shredded = {"0xref": _DIGESTS[1]}  # the copy of another certificate than the recorded one: not excused
    assert _native(made, case) == _run(made.check_reference, made, case)


@needs_native
def test_values_of_other_types_are_declined() -> None:
    """Subclasses, tuples where JSON has lists, other mappings: the reference's, whole."""
    for changes in (
        {"body": {"certificates": _Dict}},
        {"theirs": {"status": _Str("valid")}},
        {"theirs": {"status": ("valid",)}},
        {"theirs": {"confirmations": _Int(1)}},
        {"body": {"applicant_ref": _Str("x")}},
        {"body": {"as_of_block": _Int(_BLOCK)}},
        {"body": {"decided_at": _Str(_MOMENT)}},
        {"fact": {"status": _Str("valid")}},
        {"fact": {"subject_ids": ["alice"]}},
        {"fact": {"anchored_block": 1.0}},
        {"fact": {"verified": 1}},
    ):
        kind = changes.get("body", {}).get("certificates")
        if kind is _Dict:
            case, made = _simple()
            case["body"]["certificates"] = [_Dict(case["body"]["certificates"][0])]
        else:
            case, made = _simple(**changes)
        assert _native(made, case) is None, changes
    case, made = _simple()
    case["body"] = _Dict(case["body"])
    assert _native(made, case) is None
    assert _native_facts.facts_check() is None
    assert _native_facts.facts_check(*([None] * 12)) is None


class _Int(int):
    """An int subclass: its comparison is its own."""


@needs_native
def test_deep_and_huge_recorded_values_neither_crash_nor_recurse() -> None:
    """A recorded fact nested 200,000 deep or a million members long: compared with a str without descending,
    and shown only by the reference (no repr of it here); the recursion limit is not what stops it."""
    deep: Any = []
    for _ in range(200_000):
        deep = [deep]
    for value in (deep, list(range(1_000_000)), {str(i): i for i in range(100_000)}):
        for field in ("status", "type", "holder"):
            case, made = _simple(theirs={field: value})
            assert _native(made, case) is None
        case, made = _simple(body={"as_of_block": value})
        assert _native(made, case) is None


@needs_native
def test_hostile_hash_and_callbacks_free_nothing_the_check_holds() -> None:
    """No JSON value has them, but an input digest whose ``__hash__`` empties the body and the cache while it is
    looked up, and a reference callback that empties the recorded facts, free nothing the check still reads: it
    holds its own references, and answers or declines without crashing."""

    class Emptying:
        def __init__(self, victims: list[Any]) -> None:
            self.victims = victims

        def __hash__(self) -> int:
            for victim in self.victims:
                victim.clear()
            return 7

        def __eq__(self, other: object) -> bool:
            return other is self

    for _ in range(200):
        case, made = _simple(fact={"subject_ids": ("alice",)})
        digest = Emptying([case["body"], made.cache, case["input"]])
        made.cache = {(digest, _MOMENT): made.cache[("0x" + "ab" * 32, _MOMENT)]}
        case["body"]["input_digest"] = digest
        answer = _native(made, case)
        assert answer is None or answer[1][0]["type"] == "id-card"
        case, made = _simple(fact={"subject_ids": ("x", "alice")}, theirs={"holder": True})
        theirs = case["body"]["certificates"][0]

        def emptying(department: str, identity: str, theirs: dict[str, Any] = theirs) -> str:
            theirs.clear()
            return f"ref:{department}:{identity}"

        made._reference = emptying  # type: ignore[method-assign]
        answer = _native(made, case)
        assert answer is not None
        assert answer[0][0][0] == "certificate_facts"  # every recorded field gone after the first reference


@needs_native
def test_the_check_neither_leaks_nor_frees_what_it_was_given() -> None:
    """Answers, findings and declines, 5,000 times each: the reference counts of the facts' values, the records' and
    the callbacks' are as before, and memory does not grow."""
    marker = "x" * 40
    cases = [
        _simple(fact={"subject_ids": (marker,), "type": marker}, theirs={"type": marker}),
        _simple(theirs={"status": marker, "holder": 1.0}),
        _simple(theirs={"status": [marker]}),
        _simple(body={"as_of_block": marker}),
        _simple(fact={"failed": ("not_found",)}),
    ]
    cases[4][1]._erased = {_DIGESTS[0]: {}}
    watched = [marker, _DIGESTS[0], _ROOTS[0], *(made.cache for _, made in cases)]
    watched += [case["body"] for case, _ in cases] + [case["body"]["certificates"][0] for case, _ in cases]
    for case, made in cases:
        _native(made, case)
    before = [sys.getrefcount(x) for x in watched]
    tracemalloc.start()
    first, _ = tracemalloc.get_traced_memory()
    for _ in range(5_000):
        for case, made in cases:
            made.calls.clear()
            _native(made, case)
    second, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [sys.getrefcount(x) for x in watched] == before
    assert second - first < 10_000
    answers = [_native(made, case) for case, made in cases]
    assert [a is None for a in answers] == [False, False, True, False, True]
    assert answers[3] == (
        [("facts_block_invalid", f"the decision and its certificate facts name no single block they were judged at (as_of_block {marker!r})")],
        None,
    )  # fmt: skip


def test_check_is_the_reference_without_the_native_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the native core (a machine that did not build it) ``check`` is the reference."""
    monkeypatch.setattr(replay, "facts_check", None)
    rng = random.Random(5)
    for _ in range(300):
        case, harness = _case(rng)
        made = harness()
        assert _run(made.check, made, case) == _run(harness().check_reference, harness(), case)


@needs_native
def test_a_replay_on_the_chain_reports_alike_both_ways(
    ledger: Any, fresh_department: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against the real chain: decisions on valid, revoked (before and after) and unrelated licences, and records an
    insider rewrote (status, holder, verified, expiry, type, confirmations, the digest), replayed with the native
    check (which answers most decisions) and without it: the same discrepancies, in order, with the same texts."""
    import copy
    import io
    import json

    from ledger.services import decisions, issuance, logchain, status

    from .conftest import make_records, write_jsonl
    from .decision_support import application, unique_rule_set

    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / "licences.jsonl", make_records(5)), "MKT", out=out)
    licences = [json.loads(line) for line in out.getvalue().splitlines()]
    dept = fresh_department
    rule_set = unique_rule_set(f"native-facts-{dept}")
    decisions.publish_rule_set(ledger, rule_set, dept)
    status.revoke(ledger, licences[1]["digest"], "fraud")
    made = []
    for n, (licence, holder) in enumerate(
        ((licences[0], True), (licences[1], True), (licences[2], False), (licences[3], True), (licences[4], True))
    ):
        identity = licence["fields"]["subject.credit_code"] if holder else "applicant-1"
        app = application(f"C-NF-{n}", licence["digest"])
        made.append(
            decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rule_set, applicant_ref=identity)
        )
    status.revoke(ledger, licences[3]["digest"], "data-error")  # after its decision: not held against it
    for n, changes in enumerate(
        (
            {"status": "valid"},
            {"holder": False},
            {"verified": 1},
            {"expired": None},
            {"type": "证书", "holder": 1.0},
            {"confirmations": 10**6},
            {"digest": "0x" + "00" * 32},
            {"status": ["valid"]},
        )
    ):
        body = copy.deepcopy(made[n % len(made)].body)
        body["case_id"] = f"C-NF-FORGED-{n}"
        body["certificates"][0].update(changes)
        logchain.append(ledger, logchain.LOG_DECISIONS, dept, body)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)

    answered: list[bool] = []
    native = _native_facts.facts_check

    def counted(*args: Any) -> Any:
        found = native(*args)
        answered.append(found is not None)
        return found

    monkeypatch.setattr(replay, "facts_check", counted)
    with_native = replay.replay(ledger, department=dept, workers=0)
    monkeypatch.setattr(replay, "facts_check", None)
    reference = replay.replay(ledger, department=dept, workers=0)
    assert sum(answered) >= 11, answered
    assert [d.to_json() for d in with_native.discrepancies] == [d.to_json() for d in reference.discrepancies]
    checks = {d.check for d in reference.discrepancies}
    assert {"certificate_facts", "outcome_mismatch"} <= checks, checks
    kept = ("decisions", "automatic", "re_run", "inputs_erased", "outcomes", "reasons", "rules")
    assert [with_native.to_json()[k] for k in kept] == [reference.to_json()[k] for k in kept]
