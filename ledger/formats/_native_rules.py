"""The rule engine's native fast path (``_hashcore.rules_evaluate``): a rule set's ``when`` trees compiled once into
nested tuples that the C code walks for each decision.

rules.py's compiled closures are the reference. The native walk answers a decision with exactly their outcome,
reasons and fired rules, or declines it (None), and then the Python engine runs the whole decision, never part of
it: a view or a value on a rule's path of another type than JSON's (dict, list, str, int, float, bool, None; a
tuple), two lists or two objects of one size compared (the Python engine walks them, counting MAX_STEPS), a
certificate scan past the budget (the Python engine refuses the decision), an error. A rule set whose program
cannot be built (a literal of another type, conditions nested deeper than the C walk goes) runs in Python only.
tests/test_native_rules.py compares the two on generated rule sets and inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._native import NATIVE

# the node codes of _hashcore.c's rule engine (enum R_ALL ...), and its comparison operators (Python's Py_LT ...)
_ALL, _ANY, _NOT, _EXISTS, _ABSENT, _EQ, _NE, _IN, _NOT_IN, _ORDER, _REF_ORDER, _REF_EQ, _REF_NE, _CERT = range(14)
_OPERATORS = {"<": 0, "<=": 1, ">": 4, ">=": 5}
_DEPTH = 64  # RULES_DEPTH in _hashcore.c: a deeper tree is the Python engine's
_RULES = 4096  # RULES_MAX in _hashcore.c
_SCALARS = (str, int, float, bool, type(None))


class _Unsupported(Exception):
    """A rule set the native walk does not take (it runs in Python)."""


def program_of(document: Mapping[str, Any], outcomes: tuple[str, ...]) -> tuple[Any, ...] | None:
    """The native program of a rule set ``document`` that rules.load_rule_set validated and compiled, or None (not
    built, or a rule set the native walk does not take). ``outcomes``: the outcomes in order of precedence."""
    if rules_evaluate is None:
        return None
    rules = document["rules"]
    if len(rules) > _RULES:
        return None
    try:
        compiled = tuple(
            (_node(rule["when"], 0), outcomes.index(rule["outcome"]), rule["reason"], rule["id"]) for rule in rules
        )
    except _Unsupported:
        return None
    return compiled, outcomes, (document["default_outcome"], (document["default_reason"],), ())


# rules_evaluate(program, view, budget) -> (outcome, reasons, fired) | None, for a program of program_of's
rules_evaluate: Any = getattr(NATIVE, "rules_evaluate", None)


def _literal(value: Any) -> Any:
    if type(value) not in _SCALARS:  # exact types: a subclass's comparison is its own
        raise _Unsupported
    return value


def _path(text: str) -> tuple[str, ...]:
    return tuple(text.split("."))


def _node(node: Mapping[str, Any], depth: int) -> tuple[Any, ...]:
    """One condition (rules._compile_condition's shapes, already validated) as a native node."""
    if depth >= _DEPTH:
        raise _Unsupported
    if "field" in node:
        path, op = _path(node["field"]), node["op"]
        if "ref" in node:
            other = _path(node["ref"])
            if op in _OPERATORS:
                return (_REF_ORDER, path, other, _OPERATORS[op])
            return (_REF_EQ if op == "==" else _REF_NE, path, other)
        value = node["value"]
        if op == "exists":
            return (_EXISTS if value else _ABSENT, path)
        if op in ("in", "not_in"):
            return (_IN if op == "in" else _NOT_IN, path, tuple(_literal(v) for v in value))
        if op in _OPERATORS:
            if type(value) not in (int, float):
                raise _Unsupported
            return (_ORDER, path, value, _OPERATORS[op])
        return (_EQ if op == "==" else _NE, path, _literal(value))
    ((key, arg),) = node.items()
    if key in ("all", "any"):
        return (_ALL if key == "all" else _ANY, tuple(_node(part, depth + 1) for part in arg))
    if key == "not":
        return (_NOT, _node(arg, depth + 1))
    # certificate: (name, value, is_issuer) in the spec's order, an issuer as the tuple of its ids
    wanted = []
    for name, value in arg.items():
        if name == "issuer":
            issuers = value if isinstance(value, list) else [value]
            wanted.append((name, tuple(_literal(i) for i in issuers), True))
        else:
            wanted.append((name, _literal(value), False))
    return (_CERT, tuple(wanted))
