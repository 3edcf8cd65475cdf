"""Red team, round 2 (b): complete decision bundles, the standalone verifier, herd status and ``--now``.

Each test is an attack that worked against main before its fix (docs/threat-model.md, "Red team round 2 (b)"):
the adversary is named in the test's docstring."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ledger.errors import InputError
from ledger.rules import load_rule_set

from .test_evidence import _SCRIPT_MODULE as SCRIPT

BASE: dict[str, Any] = {
    "engine": "pl-rules/1", "rule_set_id": "redteam", "version": "1", "service_item": "*", "title": "t",
    "default_outcome": "approve", "default_reason": "ALL_GOOD",
    "rules": [{"id": "r1", "outcome": "reject", "reason": "BAD", "when": {"field": "item.x", "op": "==",
                                                                          "value": 1}}]}


def _with_rule(when: Any, **rule: Any) -> dict[str, Any]:
    document = copy.deepcopy(BASE)
    document["rules"][0].update({"when": when, **rule})
    return document


# -- a department publishing a rule set the library would refuse --------------------------------------------------
# The rule set is published on chain by digest only: a department (or whoever holds its approver key) can publish
# any document. The library refuses to load one outside pl-rules/1, so its re-run fails; the standalone engine ran
# it anyway and could PASS a re-run the library fails: the two verifiers disagreed on the same bundle.

MALFORMED_RULE_SETS = {
    "extra top-level key": {**BASE, "exceptions": [{"field": "item.x"}]},
    "extra rule key": _with_rule(BASE["rules"][0]["when"], unless={"field": "item.y", "op": "exists", "value": True}),
    "in with an empty list": _with_rule({"field": "item.x", "op": "not_in", "value": []}),
    "in with a nested list": _with_rule({"field": "item.x", "op": "in", "value": [[1]]}),
    "exists with text": _with_rule({"field": "item.x", "op": "exists", "value": "false"}),
    "== with an object": _with_rule({"field": "item.x", "op": "==", "value": {"a": 1}}),
    "== with a list": _with_rule({"field": "item.x", "op": "==", "value": [1]}),
    "ordering on text": _with_rule({"field": "item.x", "op": "<", "value": "5"}),
    "ordering on a boolean": _with_rule({"field": "item.x", "op": "<", "value": True}),
    "in with a ref": _with_rule({"field": "item.x", "op": "in", "ref": "item.y"}),
    "one-segment path": _with_rule({"field": "item", "op": "exists", "value": True}),
    "unknown root": _with_rule({"field": "other.x", "op": "exists", "value": True}),
    "dotted key path": _with_rule({"field": "item.X", "op": "exists", "value": True}),
    "certificate without type": _with_rule({"certificate": {"verified": True}}),
    "certificate flag as number": _with_rule({"certificate": {"type": "licence", "verified": 1}}),
    "certificate unknown status": _with_rule({"certificate": {"type": "licence", "status": "fine"}}),
    "certificate empty issuers": _with_rule({"certificate": {"type": "licence", "issuer": []}}),
    "unknown rule outcome": _with_rule({"field": "item.x", "op": "exists", "value": True}, outcome="maybe"),
    "lower-case reason": _with_rule(BASE["rules"][0]["when"], reason="bad"),
    "duplicate rule id": {**BASE, "rules": [BASE["rules"][0], BASE["rules"][0]]},
    "missing title": {k: v for k, v in BASE.items() if k != "title"},
    "bad default outcome": {**BASE, "default_outcome": "maybe"},
    "empty legal basis": _with_rule(BASE["rules"][0]["when"], legal_basis=" "),
    "commitment on reject": _with_rule(BASE["rules"][0]["when"],
                                       commitment={"promise": "P", "within_days": 5, "check": "C"}),
    "commitment of 0 days": {**BASE, "rules": [{**BASE["rules"][0], "outcome": "approve", "commitment": {
        "promise": "P", "within_days": 0, "check": "C"}}]},
    "reason text for no reason": {**BASE, "reason_texts": {"OTHER": {"en": "x"}}},
    "reason text language": {**BASE, "reason_texts": {"BAD": {"fr": "x"}}},
    "rule set id upper case": {**BASE, "rule_set_id": "RedTeam"},
}


@pytest.mark.parametrize("name", sorted(MALFORMED_RULE_SETS))
def test_standalone_refuses_every_rule_set_the_library_refuses(name: str) -> None:
    """Adversary: a department publishing a rule set outside pl-rules/1 and recording the outcome the lenient
    engine gives."""
    document = MALFORMED_RULE_SETS[name]
    with pytest.raises(InputError):
        load_rule_set(document)
    for data in ({"item": {"x": 1, "y": 2}}, {"item": {}}, {}):
        with pytest.raises(SCRIPT.Failure):
            SCRIPT.run_rules(copy.deepcopy(document), data)


def test_a_rule_set_of_unknown_outcomes_fails_closed_without_a_traceback() -> None:
    """Adversary: a department whose only firing rule has an outcome no engine knows (the standalone engine used
    to raise StopIteration, which no check catches: a traceback instead of a verdict)."""
    document = _with_rule({"field": "item.x", "op": "exists", "value": True}, outcome="maybe")
    with pytest.raises(SCRIPT.Failure, match="outcome"):
        SCRIPT.run_rules(document, {"item": {"x": 1}})
