"""Red team round 85: applicants, departments, insiders and anonymous clients against decisions, permits and the
gateway.

* (An insider with database access) make a holder's live food business permit look out of the way of a second one
  by editing the store's rows the approval's guard joins to judge it live: the permit's batch row relabelled
  ``held`` (a batch never sent), the certificate row moved to another department, or pointed at another batch: the
  guard kept only the permits its join of certificate and batch rows found, in a batch not ``held``, so the live
  permit was left out and a second permit for the same holder and premises was approved (round 84q's re-dating,
  by another column).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.services import decisions, reconcile
from ledger.storage.store import Batch, Certificate

from .permit_support import (
    SERVICE_ITEM,
    decide_premises,
    decisions_count,
    fresh_licence,
    premises_application,
    published_permit_rules,
)

# what `ledger reconcile` names each edit by
EDIT_REPORTED = {
    "batch_held": {"batch_state_altered"},
    "moved_department": {"row_altered"},
    "other_batch": {"rows_missing"},
}
_CERTS = Certificate.__table__  # type: ignore[attr-defined]
_BATCHES = Batch.__table__  # type: ignore[attr-defined]


@pytest.mark.parametrize("edit", ["batch_held", "moved_department", "other_batch"])
def test_a_permit_whose_store_rows_an_insider_edited_still_stands_in_the_way(
    ledger: Ledger, fresh_department: str, tmp_path: Path, edit: str
) -> None:
    """Adversary: an insider with database access. The holder's live permit for Shop 1 has its batch relabelled
    ``held``, its row moved to the market regulator, or pointed at the licence's batch; a second case for Shop 1 is
    still refused (the permit is on chain, valid, and its sealed dates say it is live), nothing recorded."""
    dept = fresh_department
    tag = f"rt85-rows-{edit}"
    rules = published_permit_rules(ledger, dept, tag)
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    first = decide_premises(ledger, dept, f"{tag}-1", "Shop 1", licence, holder, rules)
    permit = first.body["issued"]["certificate"]
    with ledger.engine.begin() as conn:
        root = conn.execute(select(_CERTS.c.batch_root).where(_CERTS.c.digest == permit)).scalar_one()
        if edit == "batch_held":
            changed = conn.execute(_BATCHES.update().where(_BATCHES.c.root == root).values(state="held"))
        elif edit == "moved_department":
            changed = conn.execute(_CERTS.update().where(_CERTS.c.digest == permit).values(department_id="MKT"))
        else:
            other = conn.execute(select(_CERTS.c.batch_root).where(_CERTS.c.digest == licence["digest"])).scalar_one()
            changed = conn.execute(_CERTS.update().where(_CERTS.c.digest == permit).values(batch_root=other))
        assert changed.rowcount == 1
    before = decisions_count(ledger, dept)
    again = premises_application("Shop 1", f"{tag}-2", licence)
    with pytest.raises(StateError, match="live permit for the same premises"):
        decisions.decide(ledger, dept, f"{tag}-2", SERVICE_ITEM, again, rules, applicant_ref=holder)
    assert decisions_count(ledger, dept) == before
    # and the operator's daily comparison of the store with the chain names the edited row
    found = reconcile.reconcile(ledger, departments=[dept], check_bodies=False)
    assert {d.kind for d in found.divergences} & EDIT_REPORTED[edit], found
