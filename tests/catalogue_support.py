"""The department's catalogue (``items``) a test's screen for every item publishes (red team round 60c): a screen
whose rules read ``item.`` publishes the attributes of the items its applications name, or it is neither published
nor decides. One helper for every test module (no test module imports another)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ledger.formats.rules import RuleSet, load_rule_set


def catalogue_of(applications: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The catalogue of the items ``applications`` name, each with the attributes the applications state for it
    (an honest intake's): the same attributes for every application of an item, or the test is wrong."""
    found: dict[str, dict[str, Any]] = {}
    for application in applications:
        code, attributes = application["service_item"], dict(application["item"])
        assert found.setdefault(code, attributes) == attributes, f"item {code} stated two ways: {attributes}"
    return found


def with_catalogue(
    rule_set: RuleSet | Mapping[str, Any] | str | Path, items: Mapping[str, Mapping[str, Any]]
) -> RuleSet:
    """``rule_set`` (a rule set, its document or its file) publishing ``items`` as its catalogue, added to any it
    publishes already."""
    loaded = rule_set if isinstance(rule_set, RuleSet) else load_rule_set(rule_set)
    document = dict(loaded.document)
    document["items"] = {**(document.get("items") or {}), **{code: dict(a) for code, a in items.items()}}
    return load_rule_set(document)
