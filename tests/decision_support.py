"""Helpers and fixtures that several test modules use (from tests/test_decisions.py: no test module
imports another)."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from ledger.formats.rules import RuleSet
from ledger.services import decisions
from ledger.services.demo_data import catalogue, generate_applications, generate_service_items

from .catalogue_support import with_catalogue

RULES = Path(__file__).resolve().parent.parent / "rules" / "ss-eligibility.yaml"


def unique_rule_set(tag: str) -> RuleSet:
    """The shipped eligibility rules under a version of their own, so a test may tamper with its stored copy,
    publishing the test department's catalogue (:data:`CATALOGUE`: the items :func:`application` and
    :func:`applications` name), as a screen for every item must to be published (red team round 60c)."""
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    document["version"] = f"test-{tag}"
    return with_catalogue(document, CATALOGUE)


# the test department's service items: every test's generated applications name these, whatever their seed, so one
# catalogue (CATALOGUE) holds the attributes each states
ITEMS = generate_service_items(40, 7)


def applications(n: int, seed: int = 7) -> list[dict[str, Any]]:
    return list(generate_applications(n, ITEMS, seed))


def decided_history(ledger: Any, department: str, n: int = 300) -> RuleSet:
    """``n`` automatic decisions of ``department``, published rules, all anchored."""
    rule_set = unique_rule_set(department)
    decisions.publish_rule_set(ledger, rule_set, department)
    # a seed of its own: inputs are stored by digest, so departments deciding identical inputs would share rows
    result = decisions.decide_many(
        ledger, department, applications(n, seed=zlib.crc32(department.encode())), {"*": rule_set}
    )
    assert result.count == n and result.roots
    return rule_set


def history_applicant(department: str, n: int, case_id: str) -> str:
    """The applicant identity the ``n`` decisions of :func:`decided_history` gave case ``case_id`` of ``department``:
    an officer's decision of the case names that applicant (a case is one applicant's)."""
    apps = applications(n, seed=zlib.crc32(department.encode()))
    return str(next(a["applicant_ref"] for a in apps if a["case_id"] == case_id))


# An item with every typical feature of an approve-in-seconds item (rules/ss-eligibility.yaml)
TYPICAL_ITEM = {
    "handling_type": 1,
    "promised_limit_days": 1,
    "legal_limit_days": 10,
    "materials_required": 2,
    "item_version": 30,
    "online_depth": 4,
    "handling_form": 1,
    "implementing_body": 2,
    "in_service_hall": 1,
    "courier": 1,
    "appointment": 1,
    "onsite_reason": 1,
    "item_type": 1,
    "joint_bodies": 0,
}


# the test department's catalogue: its generated items, and ITEM-1 with every typical feature
CATALOGUE = {**catalogue(ITEMS), "ITEM-1": TYPICAL_ITEM}


def application(case: str, *citations: Any) -> dict[str, Any]:
    return {
        "case_id": case,
        "service_item": "ITEM-1",
        "item": TYPICAL_ITEM,
        "application": {"applicant_type": "enterprise", "online": True, "materials_submitted": 2},
        "applicant": {"blacklisted": False},
        "certificates": list(citations),
    }


def citation_as_decided(ledger: Any, department: str, rules: RuleSet, licence: dict[str, Any], case: str) -> Any:
    """How the decision of ``case`` records its one citation: an application citing ``licence`` by digest, decided
    under ``rules`` for the licence's holder (what a restored or erased licence must read as)."""
    app = application(case, licence["digest"])
    decided = decisions.decide(
        ledger,
        department,
        app["case_id"],
        app["service_item"],
        app,
        rules,
        applicant_ref=licence["fields"]["subject.credit_code"],
    )
    (cited,) = decided.body["certificates"]
    return cited


@contextmanager
def overtaken_after_the_check(ledger: Any, rival: Callable[[Any], Any]) -> Iterator[list[Any]]:
    """Two processes deciding one case at once, made certain: right after this ledger's first check that the case
    is undecided (``decisions._refuse_decided``), a second ledger object on the same data (another process's
    objects and database connections) runs ``rival``. Yields a list that then holds what ``rival`` returned."""
    from ledger.client import Ledger

    from .conftest import PASSPHRASE

    other = Ledger.open(ledger.settings, passphrase=PASSPHRASE)
    real = decisions._refuse_decided
    raced: list[Any] = []

    def checked_then_overtaken(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        if not raced:
            raced.append(None)  # (the rival's own check passes through here too)
            raced[0] = rival(other)

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(decisions, "_refuse_decided", checked_then_overtaken)
            yield raced
    finally:
        other.close()


def erase_with_its_cited_copy(ledger: Any, digest: str, by: str) -> None:
    """Erase certificate ``digest`` (basis "objection", by staff id ``by``): the one copy of it an application cited
    inline, sealed with the person's fields and salts, is destroyed with it (red team rounds 14c and 40)."""
    from sqlalchemy import select

    from ledger.services import erasure
    from ledger.storage.models import CitedDocument
    from ledger.storage.vault import ERASED

    done = erasure.erase(ledger, digest, basis="objection", by=by)
    assert done["cited_copies_erased"] == 1, "the sealed copy of the credential survives the erasure"
    with ledger.engine.connect() as conn:
        copies = conn.execute(select(CitedDocument.sealed).where(CitedDocument.digest == digest)).scalars().all()  # type: ignore[arg-type]
    assert [bytes(c) for c in copies] == [ERASED]
