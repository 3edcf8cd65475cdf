"""Red team round 84q: the permits' guard, at scale and from the sealed body.

* (An insider with database access) re-date a holder's live food business permit in the store's
  ``certificate.valid_until`` column to the past: the approval judged the permit's expiry from that column, so the
  live permit looked expired and a second case for the same holder and premises was approved. The guard now judges
  it from the permit's sealed dates once its fields hash to its digest (as every verifier does).
* (An insider with database access) the guard that held the ``permit_key`` rows to the department read and MACed
  every keyed row at each approval (~1 s an approval at 100,000 permits). The rows are now authenticated by a hash
  tree over their keys whose root alone is MACed and held to the decisions log; an approval reads one bucket and its
  path. The edits of round 84p stay refused (tests/test_redteam_round84p.py); here the edits the tree adds a place
  for: a tree node or root put back from before, a row given a new bucket.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.services import decisions, logchain
from ledger.storage.store import Certificate

from .permit_support import SERVICE_ITEM, application, fresh_licence, published_permit_rules


def _apply(premises: str, case: str, licence: dict[str, Any]) -> dict[str, Any]:
    given = application(case, licence)
    given["application"]["premises"] = premises
    return given


def _count(ledger: Ledger, dept: str) -> int:
    with ledger.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(logchain.LogEntry)
                .where(logchain.LogEntry.department_id == dept, logchain.LogEntry.log == "decisions")  # type: ignore[arg-type]
            ).scalar_one()
        )


def test_a_permit_re_dated_in_the_store_still_stands_in_the_way(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an insider with database access. The holder's live permit for Shop 1 is re-dated in the store's
    column to 2001; a second case for Shop 1 is still refused (its sealed dates say it is live), nothing recorded."""
    dept = fresh_department
    tag = "rt84q-redated"
    rules = published_permit_rules(ledger, dept, tag)
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    first = decisions.decide(
        ledger, dept, f"{tag}-1", SERVICE_ITEM, _apply("Shop 1", f"{tag}-1", licence), rules, applicant_ref=holder
    )
    permit = first.body["issued"]["certificate"]
    with ledger.engine.begin() as conn:
        changed = conn.execute(
            Certificate.__table__.update()  # type: ignore[attr-defined]
            .where(Certificate.__table__.c.digest == permit)  # type: ignore[attr-defined]
            .values(valid_until="2001-01-01T00:00:00Z")
        )
        assert changed.rowcount == 1
    before = _count(ledger, dept)
    again = _apply("Shop 1", f"{tag}-2", licence)
    with pytest.raises(StateError, match="live permit for the same premises"):
        decisions.decide(ledger, dept, f"{tag}-2", SERVICE_ITEM, again, rules, applicant_ref=holder)
    assert _count(ledger, dept) == before
