"""Red team round 85b: council, supervision, consent, sharing, erasure, auth and keys at rest.

* (The issuer after a lawful erasure, or an insider with the database and the operator's passphrase) erase a food
  business permit that has ended: its ``permit_key`` row kept the permit's key, a hash of its holder and premises
  keyed with the department's decision secret, which the erasure does not touch. So the erased permit stayed linked
  to every other permit of the same holder and premises (the renewal that followed it: one equality, read from the
  database alone), and whoever holds the secret could confirm a guessed holder and premises for it, the premises as
  the applicant typed them being exactly what the erasure destroyed in ``sealed_input``. An ended permit's key is now
  blanked by its erasure (in the department's key tree, MACed as every row is); a permit erased while it still stands
  keeps it until it ends (the guard needs it), and ``ledger erase`` run again then blanks it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.services import decisions, erasure, permits, status
from ledger.storage.models import PermitKey

from .permit_support import (
    SERVICE_ITEM,
    decide_premises,
    fresh_licence,
    premises_application,
    published_permit_rules,
    replay_checks,
)

_KEYS = PermitKey.__table__  # type: ignore[attr-defined]


def _key(ledger: Ledger, permit: str) -> str | None:
    with ledger.engine.connect() as conn:
        return conn.execute(select(_KEYS.c.key).where(_KEYS.c.digest == permit)).scalar()


def _permit(decision: decisions.Decision) -> str:
    return str(decision.body["issued"]["certificate"])


def test_an_erased_permit_that_ended_keeps_no_key_of_its_holder_and_premises(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: the issuer after a lawful erasure (or an insider with the database and the passphrase). The
    holder's permit for Shop 1 is revoked, a renewal for Shop 1 approved, and the first permit erased
    (retention-expired): its row no longer holds the key the renewal's row holds, and the department's key rows still
    check (no permit_key_altered, the renewal still stands in the way of a third permit for Shop 1)."""
    dept = fresh_department
    tag = "rt85b-ended"
    rules = published_permit_rules(ledger, dept, tag)
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    first = _permit(decide_premises(ledger, dept, f"{tag}-1", "Shop 1", licence, holder, rules))
    status.revoke(ledger, first, "fraud", department=dept)
    renewal = _permit(decide_premises(ledger, dept, f"{tag}-2", "Shop 1", licence, holder, rules))
    key = _key(ledger, renewal)
    assert key and _key(ledger, first) == key  # one holder, one premises: one key

    erasure.erase(ledger, first, dept, basis="retention-expired", by="clerk-1")

    assert _key(ledger, first) == "", "the erased permit is still linked to its holder and premises by its key"
    assert _key(ledger, renewal) == key
    again = premises_application("Shop 1", f"{tag}-3", licence)
    with pytest.raises(StateError, match="live permit for the same premises"):
        decisions.decide(ledger, dept, f"{tag}-3", SERVICE_ITEM, again, rules, applicant_ref=holder)
    assert _permit(decide_premises(ledger, dept, f"{tag}-4", "Shop 2", licence, holder, rules))
    assert not {c for c, _ in replay_checks(ledger, dept)} & {"permit_key_altered"}
    with ledger.engine.connect() as conn:
        problem, _ = permits.key_rows_problem(
            ledger, dept, decisions._secret(ledger, dept), [key], conn, ["food-business-permit"]
        )
    assert problem is None


def test_a_permit_erased_while_it_stands_keeps_its_key_until_it_ends(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: a department erasing a live permit to get a second one for the same premises approved. Erased while
    it stands, the permit keeps its key (a second case for Shop 1 is refused); once it is revoked, erasing it again
    blanks the key, and a new case for Shop 1 is approved."""
    dept = fresh_department
    tag = "rt85b-standing"
    rules = published_permit_rules(ledger, dept, tag)
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    first = _permit(decide_premises(ledger, dept, f"{tag}-1", "Shop 1", licence, holder, rules))
    key = _key(ledger, first)
    assert key

    erasure.erase(ledger, first, dept, basis="consent-withdrawn", by="clerk-1")

    assert _key(ledger, first) == key
    again = premises_application("Shop 1", f"{tag}-2", licence)
    with pytest.raises(StateError, match="live permit for the same premises"):
        decisions.decide(ledger, dept, f"{tag}-2", SERVICE_ITEM, again, rules, applicant_ref=holder)

    status.revoke(ledger, first, "fraud", department=dept)
    erasure.erase(ledger, first, dept, basis="consent-withdrawn", by="clerk-1")

    assert _key(ledger, first) == ""
    assert _permit(decide_premises(ledger, dept, f"{tag}-3", "Shop 1", licence, holder, rules))
    assert not {c for c, _ in replay_checks(ledger, dept)} & {"permit_key_altered"}


def test_an_erased_permit_past_its_validity_keeps_no_key(ledger: Ledger, fresh_department: str, tmp_path: Path) -> None:
    """Adversary: as the first test's. A permit that ended by its own validity (it rests on a licence ending two
    seconds after the approval), never revoked, is erased: its sealed end, read before the body goes, blanks its key,
    and a new case for the same premises is approved."""
    dept = fresh_department
    tag = "rt85b-expired"
    rules = published_permit_rules(ledger, dept, tag)
    ends = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    licence, holder = fresh_licence(ledger, tmp_path, tag, valid_until=ends.isoformat().replace("+00:00", "Z"))
    first = _permit(decide_premises(ledger, dept, f"{tag}-1", "Shop 1", licence, holder, rules))
    assert _key(ledger, first)
    time.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds()) + 1.1)  # the wall clock: no node control moves it

    erasure.erase(ledger, first, dept, basis="retention-expired", by="clerk-1")

    assert _key(ledger, first) == ""
    assert not {c for c, _ in replay_checks(ledger, dept)} & {"permit_key_altered"}
