"""The rule engine's native walk (``_hashcore.rules_evaluate``, ledger/formats/_native_rules.py) against the Python
engine, the reference (ledger/formats/rules.py's compiled closures).

Adversary: an applicant shaping an input (or a department a rule set) so that the native walk and the Python engine
disagree - a decision approved on one machine and refused on another, or re-run by replay to another outcome - or so
that the walk crashes: numbers as int, float, huge, bool and decimal strings, NaN and infinities, unicode, missing
paths, scalars and lists on a path, lists and objects compared, mapping and string subclasses, certificate lists of
every shape, the MAX_STEPS budget, deep and huge values. Every answer must be the Python engine's outcome, reasons
and fired rules, in order; where the walk declines (None) the Python engine decides the whole decision.
"""

from __future__ import annotations

import collections
import decimal
import random
import sys
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from ledger.errors import InputError
from ledger.formats import _native_rules, rules
from ledger.formats.rules import MAX_STEPS, Evaluation, RuleSet, evaluate, load_rule_set

needs_native = pytest.mark.skipif(_native_rules.rules_evaluate is None, reason="the native core is not built here")

_PATHS = (
    "item.kind",
    "item.days",
    "application.count",
    "application.online",
    "application.name",
    "application.money",
    "application.nested.level",
    "application.nested.deeper.value",
    "applicant.blacklisted",
    "applicant.score",
)
_LITERALS: tuple[Any, ...] = (
    0,
    1,
    -1,
    2,
    3,
    1.0,
    0.0,
    -0.0,
    1.5,
    2.5,
    -7.25,
    2**53 - 1,
    9007199254740991.0,
    1e15,
    True,
    False,
    None,
    "1",
    "1.0",
    "2",
    "abc",
    "ABC",
    "",
    "中文",
    "é",
    "e\u0301",
    "\U0001f600",
    "valid",
    "MKT",
)
_INPUT_SCALARS: tuple[Any, ...] = (
    *_LITERALS,
    2**53 + 1,
    10**30,
    -(10**40),
    1e300,
    -1e300,
    float("inf"),
    float("-inf"),
    float("nan"),
    1e-300,
    "1e0",
    "0x1",
    " 1",
)
_TYPES = ("business-licence", "tax-registration", "id-card")
_STATUSES = ("valid", "revoked", "suspended", "superseded", "unknown")


class _Dict(dict):  # type: ignore[type-arg]
    """A dict subclass: a mapping the native walk does not read (its item access is its own)."""


class _Str(str):
    """A str subclass: its comparison is its own."""

    __slots__ = ()


def _native(rule_set: RuleSet, view: Any, budget: int = MAX_STEPS) -> Any:
    program = _native_rules.program_of(rule_set.document, rules.OUTCOMES)
    assert program is not None
    return _native_rules.rules_evaluate(program, rules.published_view(rule_set, view), budget)


def _reference(rule_set: RuleSet, view: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as patch:
        patch.setattr(rules, "_NATIVE_RULES", False)
        try:
            found = evaluate(rule_set, view)
        except InputError as exc:
            return ("refused", str(exc))
    return (found.outcome, found.reasons, found.fired)


def _rule_set(rule_docs: list[dict[str, Any]], **extra: Any) -> RuleSet:
    return load_rule_set(
        {
            "engine": rules.ENGINE_VERSION,
            "rule_set_id": "native-diff",
            "version": "1",
            "service_item": "*",
            "title": "differential",
            "default_outcome": "refer",
            "default_reason": "NO_RULE",
            "rules": rule_docs,
            **extra,
        }
    )


# ------------------------------------------------------------------------------------------------ generation


def _condition(rng: random.Random, depth: int) -> dict[str, Any]:
    kind = rng.random()
    if depth < 4 and kind < 0.25:
        key = rng.choice(("all", "any"))
        return {key: [_condition(rng, depth + 1) for _ in range(rng.randint(1, 4))]}
    if depth < 4 and kind < 0.33:
        return {"not": _condition(rng, depth + 1)}
    if kind < 0.45:
        return {"certificate": _certificate_spec(rng)}
    field = rng.choice(_PATHS)
    op = rng.choice(("==", "!=", "<", "<=", ">", ">=", "in", "not_in", "exists"))
    if rng.random() < 0.2 and op not in ("in", "not_in", "exists"):
        return {"field": field, "op": op, "ref": rng.choice(_PATHS)}
    if op == "exists":
        return {"field": field, "op": op, "value": rng.choice((True, False))}
    if op in ("in", "not_in"):
        return {"field": field, "op": op, "value": rng.sample(_LITERALS, rng.randint(1, 6))}
    if op in ("<", "<=", ">", ">="):
        value = rng.choice([v for v in _LITERALS if type(v) in (int, float)])
        return {"field": field, "op": op, "value": value}
    return {"field": field, "op": op, "value": rng.choice(_LITERALS)}


def _certificate_spec(rng: random.Random) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": rng.choice(_TYPES)}
    for flag in ("verified", "expired", "holder"):
        if rng.random() < 0.4:
            spec[flag] = rng.choice((True, False))
    if rng.random() < 0.4:
        spec["status"] = rng.choice(_STATUSES)
    if rng.random() < 0.3:
        spec["issuer"] = rng.choice(("MKT", ["MKT", "TAX"], ["TAX"], "中文"))
    keys = list(spec)
    rng.shuffle(keys)
    return {k: spec[k] for k in keys}


def _rule_docs(rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "id": f"r{i}",
            "outcome": rng.choice(rules.OUTCOMES),
            "reason": rng.choice(("A", "B", "C", "D_E")),
            "when": _condition(rng, 0),
        }
        for i in range(rng.randint(1, 8))
    ]


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.random()
    if depth < 3 and kind < 0.08:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if depth < 3 and kind < 0.13:
        return {rng.choice(("level", "value", "x")): _value(rng, depth + 1) for _ in range(rng.randint(0, 2))}
    if kind < 0.15:
        return tuple(_value(rng, depth + 1) for _ in range(rng.randint(0, 2)))
    return rng.choice(_INPUT_SCALARS)


def _section(rng: random.Random, names: tuple[str, ...]) -> Any:
    shape = rng.random()
    if shape < 0.05:
        return rng.choice((None, "text", 3, [1, 2], []))  # not a mapping: every path through it is missing
    section: dict[str, Any] = {}
    for name in names:
        if rng.random() < 0.8:
            section[name] = _value(rng)
    if "nested" in names and rng.random() < 0.6:
        section["nested"] = rng.choice(
            (
                {"level": _value(rng), "deeper": {"value": _value(rng)}},
                {"level": _value(rng), "deeper": _value(rng)},
                [{"level": 1}],
                "level",
                None,
            )
        )
    return section


def _certificate(rng: random.Random) -> Any:
    if rng.random() < 0.07:
        return rng.choice((None, "business-licence", [], ["business-licence"], 1))
    cert: dict[str, Any] = {}
    if rng.random() < 0.95:
        cert["type"] = rng.choice((*_TYPES, "Business-licence", 1, None))
    for flag in ("verified", "expired", "holder"):
        if rng.random() < 0.9:
            cert[flag] = rng.choice((True, False, True, False, 1, 0, "true", None, [True]))
    if rng.random() < 0.9:
        cert["status"] = rng.choice((*_STATUSES, "VALID", None, 0))
    if rng.random() < 0.8:
        cert["issuer"] = rng.choice(("MKT", "TAX", "中文", None, ["MKT"], 1, "mkt", ""))
    return cert


def _view(rng: random.Random) -> dict[str, Any]:
    view: dict[str, Any] = {"case_id": "CASE-1"}
    if rng.random() < 0.95:
        view["item"] = _section(rng, ("kind", "days"))
    if rng.random() < 0.95:
        view["application"] = _section(rng, ("count", "online", "name", "money", "nested"))
    if rng.random() < 0.95:
        view["applicant"] = _section(rng, ("blacklisted", "score"))
    shape = rng.random()
    if shape < 0.85:
        view["certificates"] = [_certificate(rng) for _ in range(rng.randint(0, 4))]
    elif shape < 0.9:
        view["certificates"] = tuple(_certificate(rng) for _ in range(rng.randint(0, 3)))
    elif shape < 0.95:
        view["certificates"] = rng.choice(({"type": "business-licence"}, "business-licence", None, 3))
    return view


def _cases(seed: int, sets: int, inputs: int) -> Iterator[tuple[RuleSet, dict[str, Any]]]:
    rng = random.Random(seed)
    for _ in range(sets):
        rule_set = _rule_set(_rule_docs(rng))
        for _ in range(inputs):
            yield rule_set, _view(rng)


# ------------------------------------------------------------------------------------------------ differential


@needs_native
@pytest.mark.parametrize("seed", range(8))
def test_generated_rule_sets_and_inputs_decide_alike(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random rule sets (every condition kind, nested) and inputs (every value type on and off the rules' paths):
    the native walk's outcome, reasons and fired rules, in order, are the Python engine's, on every case it answers;
    it answers nearly all (a walk declining everything would pass the comparison and win nothing), and evaluate's
    own answer (native first) is the reference's on every case, declined ones included."""
    answered = declined = 0
    kinds: collections.Counter[str] = collections.Counter()
    for rule_set, view in _cases(seed, 60, 40):
        expected = _reference(rule_set, view, monkeypatch)
        found = _native(rule_set, view)
        if found is None:
            declined += 1
        else:
            answered += 1
            assert found == expected, (rule_set.document["rules"], view)
            assert all(type(r) is str for r in found[1] + found[2])
        try:
            result = evaluate(rule_set, view)
            got: Any = (result.outcome, result.reasons, result.fired)
        except InputError as exc:
            got = ("refused", str(exc))
        assert got == expected, (rule_set.document["rules"], view)
        kinds[expected[0]] += 1
    assert answered > 0.9 * (answered + declined), (answered, declined)
    assert set(kinds) >= {"reject", "refer", "approve"}, kinds


@needs_native
def test_each_comparison_alike_on_every_pair_of_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every operator against every literal, for every input value alone on its path (and missing): _same's number
    and string semantics (1 is 1.0, true is not 1, NaN is nothing, huge integers exact, "1" is not 1), the ordering
    of numbers only, membership of scalars only."""
    values = [*_INPUT_SCALARS, [], [1], {}, {"a": 1}, (1,)]
    rule_docs = []
    for op in ("==", "!=", "<", "<=", ">", ">="):
        for i, literal in enumerate(_LITERALS):
            if op in ("<", "<=", ">", ">=") and type(literal) not in (int, float):
                continue
            rule_docs.append(
                {"id": f"c{len(rule_docs)}", "outcome": "approve", "reason": f"R{len(rule_docs)}"[:60],
                 "when": {"field": "application.x", "op": op, "value": _LITERALS[i]}}
            )  # fmt: skip
    for inside in ("in", "not_in"):
        rule_docs.append(
            {"id": f"c{len(rule_docs)}", "outcome": "refer", "reason": "MEMBER",
             "when": {"field": "application.x", "op": inside, "value": list(_LITERALS)}}
        )  # fmt: skip
    for op in ("==", "!=", "<", "<=", ">", ">="):
        rule_docs.append(
            {"id": f"c{len(rule_docs)}", "outcome": "reject", "reason": "REF",
             "when": {"field": "application.x", "op": op, "ref": "application.y"}}
        )  # fmt: skip
    rule_set = _rule_set(rule_docs)
    compared = 0
    for x in [*values, "absent"]:
        for y in [*values, "absent"]:
            application = {k: v for k, v in (("x", x), ("y", y)) if not (isinstance(v, str) and v == "absent")}
            view = {"application": application, "certificates": []}
            expected = _reference(rule_set, view, monkeypatch)
            found = _native(rule_set, view)
            if found is not None:
                compared += 1
                assert found == expected, (x, y)
    assert compared > 0.9 * (len(values) + 1) ** 2


@needs_native
def test_the_shipped_rule_sets_run_natively(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every shipped rule set compiles to a native program, and its honest inputs are answered natively (the
    bench's path), as the Python engine answers them."""
    from pathlib import Path

    rng = random.Random(5)
    files = sorted((Path(__file__).resolve().parent.parent / "rules").glob("*.yaml"))
    assert files
    for path in files:
        rule_set = load_rule_set(path)
        assert _native_rules.program_of(rule_set.document, rules.OUTCOMES) is not None, path
        for _ in range(300):
            view = {
                "service_item": rule_set.service_item if rule_set.service_item != "*" else "x",
                "item": rule_set.item or {"item_type": rng.randint(0, 3), "promised_limit_days": rng.randint(0, 30)},
                "application": {"materials_submitted": rng.randint(0, 6), "online": rng.random() < 0.5},
                "applicant": {"blacklisted": rng.random() < 0.1},
                "certificates": [_certificate(rng) for _ in range(rng.randint(0, 3))],
            }
            if rule_set.items is not None:
                view["service_item"] = rng.choice(sorted(rule_set.items))
            found = _native(rule_set, view)
            assert found is not None
            assert found == _reference(rule_set, view, monkeypatch)
        evaluate(rule_set, view)
        assert rule_set._native, "evaluate kept the set's native program"


# ------------------------------------------------------------------------------------------------ declined


@needs_native
def test_values_of_other_types_are_declined_and_decided_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mapping subclass, a str subclass, a Decimal, a set on a rule's path, or a view that is no exact dict: the
    walk declines (their comparisons and item access are their own), and evaluate's answer is the reference's."""
    rule_set = _rule_set(
        [
            {
                "id": "a",
                "outcome": "approve",
                "reason": "A",
                "when": {"field": "application.x", "op": "==", "value": 1},
            },
            {"id": "b", "outcome": "reject", "reason": "B", "when": {"certificate": {"type": "business-licence"}}},
        ]
    )
    odd: list[Any] = [_Dict(x=1), _Str("1"), decimal.Decimal(1), {1}, frozenset()]
    for value in odd:
        for view in (
            {"application": {"x": value}},
            {"application": value},
            {"application": {"x": 1}, "certificates": [value]},
            {"application": {"x": 1}, "certificates": [{"type": value}]},
        ):
            assert _native(rule_set, view) is None, view
            got = evaluate(rule_set, view)
            assert (got.outcome, got.reasons, got.fired) == _reference(rule_set, view, monkeypatch)
    assert _native_rules.rules_evaluate(rule_set._native or (), _Dict(application={"x": 1}), MAX_STEPS) is None
    got = evaluate(rule_set, _Dict(application={"x": 1}))
    assert got == Evaluation("approve", ("A",), ("a",))


@needs_native
def test_lists_and_objects_of_one_size_compared_are_declined(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two lists or two objects of one size compared by ``ref``: the Python engine walks them (counting MAX_STEPS),
    the native walk declines; of other sizes or kinds they differ, natively too."""
    rule_set = _rule_set(
        [{"id": "s", "outcome": "approve", "reason": "SAME", "when": {"field": "application.x", "op": "==", "ref": "application.y"}}]
    )  # fmt: skip
    for x, y, declined in (
        ([1], [True], True),
        ([1], [1.0], True),
        ({}, {}, True),
        ([], [], True),
        ({"a": 1}, {"b": 1}, True),
        ([1], [1, 2], False),
        ([1], {"a": 1}, False),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ([1], 1, False),
        ((1,), [1], True),
    ):
        view = {"application": {"x": x, "y": y}}
        found = _native(rule_set, view)
        assert (found is None) == declined, (x, y)
        expected = _reference(rule_set, view, monkeypatch)
        assert found is None or found == expected
        got = evaluate(rule_set, view)
        assert (got.outcome, got.reasons, got.fired) == expected


@needs_native
def test_a_certificate_scan_past_the_budget_is_the_python_engines_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Certificate scans spend the list's length, as _spend does: at the budget the walk still answers, past it it
    declines and the Python engine refuses the decision with its own error."""
    rule_set = _rule_set(
        [
            {"id": "a", "outcome": "refer", "reason": "A", "when": {"certificate": {"type": "id-card"}}},
            {"id": "b", "outcome": "reject", "reason": "B", "when": {"certificate": {"type": "tax-registration"}}},
        ]
    )
    half = MAX_STEPS // 2
    within = {"certificates": [{"type": "business-licence"}] * half}
    assert _native(rule_set, within) == ("refer", ("NO_RULE",), ())
    past = {"certificates": [{"type": "business-licence"}] * (half + 1)}
    assert _native(rule_set, past) is None
    with pytest.raises(InputError, match="compared more than"):
        evaluate(rule_set, past)
    assert _native(rule_set, within, budget=half - 1) is None
    # exactly at the budget (_spend refuses only below zero), and one member past it
    assert _native(rule_set, within, budget=2 * half) == ("refer", ("NO_RULE",), ())
    assert _native(rule_set, within, budget=2 * half - 1) is None
    assert _reference(rule_set, within, monkeypatch) == ("refer", ("NO_RULE",), ())


# ------------------------------------------------------------------------------------------------ hostile


@needs_native
def test_deep_and_huge_values_do_not_reach_the_walk() -> None:
    """The walk never descends into a value: a list or object nested 300,000 deep (built without recursion), or a
    list of a million members, on a rule's path or compared by ``ref``, is measured or declined - no recursion, no
    crash, whatever the interpreter's recursion limit (a dependency raises it)."""
    deep: Any = 0
    for _ in range(300_000):
        deep = [deep]
    deep_object: Any = 0
    for _ in range(300_000):
        deep_object = {"value": deep_object}
    huge = list(range(1_000_000))
    rule_set = _rule_set(
        [
            {"id": "e", "outcome": "approve", "reason": "E", "when": {"field": "application.x", "op": "==", "ref": "application.y"}},
            {"id": "i", "outcome": "refer", "reason": "I", "when": {"field": "application.x", "op": "in", "value": [1, 2]}},
            {"id": "n", "outcome": "refer", "reason": "N", "when": {"field": "application.x", "op": "!=", "value": 1}},
            {"id": "o", "outcome": "refer", "reason": "O", "when": {"field": "application.x", "op": ">", "value": 1}},
        ]
    )  # fmt: skip
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1_000_000)
    try:
        # a list or an object is in no list of scalars, is not 1, is no number, and is not a value of another kind
        assert _native(rule_set, {"application": {"x": deep, "y": 1}}) == ("refer", ("N",), ("n",))
        assert _native(rule_set, {"application": {"x": deep, "y": deep}}) is None
        assert _native(rule_set, {"application": {"x": deep_object, "y": deep}}) == ("refer", ("N",), ("n",))
        assert _native(rule_set, {"application": {"x": huge, "y": huge[:-1]}}) == ("refer", ("N",), ("n",))
        assert _native(rule_set, {"application": deep_object}) == ("refer", ("NO_RULE",), ())
    finally:
        sys.setrecursionlimit(limit)


@needs_native
def test_programs_of_other_shapes_and_bad_arguments_are_declined() -> None:
    """The C entry point checks what it walks: a program, a node, a path or a budget of another shape is None, never
    a crash (a program comes only from program_of; this guards the walk's own reading)."""
    walk = _native_rules.rules_evaluate
    view = {"application": {"x": 1}, "certificates": [{"type": "a"}]}
    good = ((((5, ("application", "x"), 1), 2, "A", "a"),), rules.OUTCOMES, ("refer", ("D",), ()))
    assert walk(good, view, MAX_STEPS) == ("approve", ("A",), ("a",))
    for budget in (-1, 2**70, 1.0):
        assert walk(good, view, budget) is None, budget
    for program in (
        list(good),
        (good[0], good[1]),
        (good[0], good[1], None),
        (good[0], good[1], ("refer", ("D",))),
        ((((99, ("application", "x"), 1), 2, "A", "a"),), rules.OUTCOMES, good[2]),
        ((((5, ("application", "x")), 2, "A", "a"),), rules.OUTCOMES, good[2]),
        ((((5, "application.x", 1), 2, "A", "a"),), rules.OUTCOMES, good[2]),
        ((((5, (), 1), 2, "A", "a"),), rules.OUTCOMES, good[2]),
        ((((5, ("application", ["x"]), 1), 2, "A", "a"),), rules.OUTCOMES, good[2]),
        ((((9, ("application", "x"), 1, 17), 2, "A", "a"),), rules.OUTCOMES, good[2]),
        ((((9, ("application", "x"), 1, "<"), 2, "A", "a"),), rules.OUTCOMES, good[2]),
        ((((0, [(3, ("application", "x"))]), 2, "A", "a"),), rules.OUTCOMES, good[2]),
        ((((13, (("type", "a"),)), 2, "A", "a"),), rules.OUTCOMES, good[2]),
        ((((13, (("issuer", "a", True),)), 2, "A", "a"),), rules.OUTCOMES, good[2]),
        ((((7, ("application", "x"), [1]), 2, "A", "a"),), rules.OUTCOMES, good[2]),
        ((((5, ("application", "x"), 1), 7, "A", "a"),), rules.OUTCOMES, good[2]),
        ((((5, ("application", "x"), 1), "2", "A", "a"),), rules.OUTCOMES, good[2]),
        (((5, ("application", "x"), 1),), rules.OUTCOMES, good[2]),
    ):
        assert walk(program, view, MAX_STEPS) is None, program

    nested: Any = (3, ("application", "x"))
    for _ in range(100):
        nested = (2, nested)
    assert walk((((nested, 2, "A", "a"),), rules.OUTCOMES, good[2]), view, MAX_STEPS) is None
    assert walk(good, view) is None
    assert walk(good, view, MAX_STEPS, None) is None


def test_deeply_nested_rule_sets_run_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule set nested deeper than the walk goes (64 conditions) has no native program: evaluate runs it in Python,
    with the reference's answer."""
    when: dict[str, Any] = {"field": "application.x", "op": "==", "value": 1}
    for _ in range(70):
        when = {"not": when}
    rule_set = _rule_set([{"id": "deep", "outcome": "approve", "reason": "DEEP", "when": when}])
    assert _native_rules.program_of(rule_set.document, rules.OUTCOMES) is None
    view = {"application": {"x": 1}}
    assert evaluate(rule_set, view) == Evaluation("approve", ("DEEP",), ("deep",))
    assert rule_set._native is False
    assert evaluate(rule_set, view) == Evaluation(*_reference(rule_set, view, monkeypatch))


@needs_native
def test_the_walk_neither_leaks_nor_frees_what_it_was_given() -> None:
    """Answers, defaults and declines, 5,000 times each: the reference counts of the program's strings, the view's
    values and the default answer are as before, and memory does not grow."""
    rule_set = _rule_set(
        [
            {"id": "a", "outcome": "approve", "reason": "A", "when": {"field": "application.x", "op": "==", "value": 1}},
            {"id": "b", "outcome": "reject", "reason": "B", "when": {"certificate": {"type": "id-card", "issuer": ["MKT"]}}},
            {"id": "c", "outcome": "reject", "reason": "C", "when": {"field": "application.x", "op": "==", "ref": "application.y"}},
        ]
    )  # fmt: skip
    program = _native_rules.program_of(rule_set.document, rules.OUTCOMES)
    assert program is not None
    walk = _native_rules.rules_evaluate
    marker, issuer = "x" * 40, "MKT".lower().upper()
    views = (
        {"application": {"x": 1, "y": marker}, "certificates": [{"type": "id-card", "issuer": issuer}]},
        {"application": {"x": marker}, "certificates": []},
        {"application": {"x": [marker], "y": [marker]}},
    )
    watched = (*program[0], *(r[2] for r in program[0]), *(r[3] for r in program[0]), program[2], marker, issuer)
    for view in views:
        walk(program, view, MAX_STEPS)
    before = [sys.getrefcount(x) for x in watched]
    tracemalloc.start()
    first, _ = tracemalloc.get_traced_memory()
    for _ in range(5_000):
        for view in views:
            walk(program, view, MAX_STEPS)
    second, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [sys.getrefcount(x) for x in watched] == before
    assert second - first < 10_000
    assert [walk(program, view, MAX_STEPS) for view in views] == [
        ("reject", ("B",), ("a", "b")),
        ("refer", ("NO_RULE",), ()),
        None,
    ]


@needs_native
def test_a_key_whose_comparison_mutates_the_input_frees_nothing_the_walk_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    """No JSON value has it, but a dict key of another type than str is compared by its own ``__eq__`` when a str key
    of its hash is looked up: one that empties the input mid-walk (the value read before it, the list of certificates
    being scanned) frees nothing the walk still reads - it holds its own references - and the answer is the
    Python engine's on the same mutation."""

    class Emptying:
        def __init__(self, like: str, victim: Any) -> None:
            self.like, self.victim = like, victim

        def __hash__(self) -> int:
            return hash(self.like)

        def __eq__(self, other: object) -> bool:
            self.victim.clear()
            return False

    rule_set = _rule_set(
        [
            {"id": "r", "outcome": "reject", "reason": "R", "when": {"field": "application.x", "op": "==", "ref": "applicant.y"}},
            {"id": "c", "outcome": "approve", "reason": "C", "when": {"certificate": {"type": "id-card"}}},
        ]
    )  # fmt: skip

    def view() -> dict[str, Any]:
        application = {"x": [object() for _ in range(3)]}  # held by the dict alone
        applicant: dict[Any, Any] = {Emptying("y", application): 1, "y": [1, 2]}
        certificates: list[Any] = []
        certificates += [{Emptying("type", certificates): 1, "type": "x"}, {"type": "id-card"}]
        return {"application": application, "applicant": applicant, "certificates": certificates}

    for _ in range(200):
        assert _native(rule_set, view()) == ("refer", ("NO_RULE",), ())
    assert _reference(rule_set, view(), monkeypatch) == ("refer", ("NO_RULE",), ())
