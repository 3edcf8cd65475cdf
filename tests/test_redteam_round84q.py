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
from sqlalchemy import select

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.services import decisions, permits
from ledger.storage.models import PermitKey, PermitKeyNode, PermitKeyTree
from ledger.storage.store import Certificate

from .conftest import PASSPHRASE
from .permit_support import (
    SERVICE_ITEM,
    decide_premises,
    decisions_count,
    fresh_licence,
    premises_application,
    published_permit_rules,
    replay_checks,
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
    first = decide_premises(ledger, dept, f"{tag}-1", "Shop 1", licence, holder, rules)
    permit = first.body["issued"]["certificate"]
    with ledger.engine.begin() as conn:
        changed = conn.execute(
            Certificate.__table__.update()  # type: ignore[attr-defined]
            .where(Certificate.__table__.c.digest == permit)  # type: ignore[attr-defined]
            .values(valid_until="2001-01-01T00:00:00Z")
        )
        assert changed.rowcount == 1
    before = decisions_count(ledger, dept)
    again = premises_application("Shop 1", f"{tag}-2", licence)
    with pytest.raises(StateError, match="live permit for the same premises"):
        decisions.decide(ledger, dept, f"{tag}-2", SERVICE_ITEM, again, rules, applicant_ref=holder)
    assert decisions_count(ledger, dept) == before


PERMIT = "food-business-permit"
_KEYS = PermitKey.__table__  # type: ignore[attr-defined]
_NODES = PermitKeyNode.__table__  # type: ignore[attr-defined]
_ROOTS = PermitKeyTree.__table__  # type: ignore[attr-defined]


def _saved(ledger: Ledger, dept: str) -> dict[str, list[dict[str, Any]]]:
    with ledger.engine.connect() as conn:
        return {
            name: [dict(r._mapping) for r in conn.execute(table.select().where(table.c.department_id == dept))]
            for name, table in (("nodes", _NODES), ("roots", _ROOTS))
        }


@pytest.mark.parametrize(
    "edit",
    [
        "tree put back, row deleted",
        "tree put back, newest row deleted",
        "root deleted",
        "nodes deleted",
        "row moved to another bucket",
        "row given a key of its bucket",
        "row blanked, type changed",
    ],
)
def test_an_approval_does_not_trust_a_permit_key_tree_an_insider_edited(
    ledger: Ledger, fresh_department: str, tmp_path: Path, edit: str
) -> None:
    """Adversary: an insider with database access, no keys. The holder has a live permit for Shop 1; the insider
    edits the tree or its rows (a copy of the tree from before the Shop 1 permit put back with its row deleted, with
    a later permit or without; the root or the nodes deleted; the row moved to another bucket, or given another key
    of the same bucket; the row blanked to be keyed again and its permit's type column changed so that nothing keys
    it). A second case for Shop 1 is refused, nothing recorded."""
    dept = fresh_department
    tag = "rt84q-" + edit.replace(" ", "-").replace(",", "")
    rules = published_permit_rules(ledger, dept, tag)
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    decide_premises(ledger, dept, f"{tag}-0", "Shop 0", licence, holder, rules)
    before_first = _saved(ledger, dept)
    first = decide_premises(ledger, dept, f"{tag}-1", "Shop 1", licence, holder, rules)
    permit = first.body["issued"]["certificate"]
    if edit != "tree put back, newest row deleted":
        later = premises_application("Shop 2", f"{tag}-2", licence)
        decisions.decide(ledger, dept, f"{tag}-2", SERVICE_ITEM, later, rules, applicant_ref=holder)
    row = _KEYS.c.digest == permit
    with ledger.engine.begin() as conn:
        key, bucket = conn.execute(select(_KEYS.c.key, _KEYS.c.bucket).where(row)).one()
        if edit.startswith("tree put back"):
            for name, table in (("nodes", _NODES), ("roots", _ROOTS)):
                conn.execute(table.delete().where(table.c.department_id == dept))
                if before_first[name]:
                    conn.execute(table.insert(), before_first[name])
            assert conn.execute(_KEYS.delete().where(row)).rowcount == 1
        elif edit == "root deleted":
            assert conn.execute(_ROOTS.delete().where(_ROOTS.c.department_id == dept)).rowcount == 1
        elif edit == "nodes deleted":
            assert conn.execute(_NODES.delete().where(_NODES.c.department_id == dept)).rowcount > 0
        elif edit == "row moved to another bucket":
            assert conn.execute(_KEYS.update().where(row).values(bucket=(bucket + 1) % 65536)).rowcount == 1
        elif edit == "row given a key of its bucket":
            other = key[:6] + ("0" if key[6] != "0" else "1") + key[7:]
            assert conn.execute(_KEYS.update().where(row).values(key=other)).rowcount == 1
        else:
            blank = _KEYS.update().where(row).values(key=None, bucket=None, after_seq=None, mac=None)
            assert conn.execute(blank).rowcount == 1
            certificates = Certificate.__table__  # type: ignore[attr-defined]
            retyped = certificates.update().where(certificates.c.digest == permit).values(cert_type="other-type")
            assert conn.execute(retyped).rowcount == 1
    with ledger.engine.connect() as conn:  # the guard itself names it, whatever refuses first
        problem, _ = permits.key_rows_problem(ledger, dept, decisions._secret(ledger, dept), [key], conn, [PERMIT])
    assert problem is not None
    before = decisions_count(ledger, dept)
    again = premises_application("Shop 1", f"{tag}-3", licence)
    # refused by the guard (rows altered), or, where the edit left the row found by its key, as the live permit
    with pytest.raises(StateError, match=r"permit_key rows were altered|live permit for the same premises"):
        decisions.decide(ledger, dept, f"{tag}-3", SERVICE_ITEM, again, rules, applicant_ref=holder)
    assert decisions_count(ledger, dept) == before


def test_an_edited_bucket_stops_only_the_approvals_it_would_answer(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """The guard reads the buckets the approval asks, not every row: a row of another bucket moved still lets an
    approval of other premises through (its bucket and path check), and one for the edited row's premises is
    refused (by the guard, or before it by the lookup by key, which the move does not hide it from)."""
    dept = fresh_department
    tag = "rt84q-bucket"
    rules = published_permit_rules(ledger, dept, tag)
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    first = decide_premises(ledger, dept, f"{tag}-1", "Shop 1", licence, holder, rules)
    decide_premises(ledger, dept, f"{tag}-2", "Shop 2", licence, holder, rules)
    row = _KEYS.c.digest == first.body["issued"]["certificate"]
    with ledger.engine.begin() as conn:
        assert conn.execute(_KEYS.update().where(row).values(bucket=-1)).rowcount == 1
    other = premises_application("Shop 3", f"{tag}-3", licence)
    assert "issued" in decisions.decide(ledger, dept, f"{tag}-3", SERVICE_ITEM, other, rules, applicant_ref=holder).body
    secret = decisions._secret(ledger, dept)
    with ledger.engine.connect() as conn:
        key = conn.execute(select(_KEYS.c.key).where(row)).scalar_one()
        assert permits.key_rows_problem(ledger, dept, secret, [key], conn, [PERMIT])[0] is not None
    with pytest.raises(StateError, match="live permit for the same premises"):
        again = premises_application("Shop 1", f"{tag}-4", licence)
        decisions.decide(ledger, dept, f"{tag}-4", SERVICE_ITEM, again, rules, applicant_ref=holder)


@pytest.mark.parametrize("premises", ["other premises", "the same premises"])
def test_two_gateways_approving_at_once_keep_the_tree_whole(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, premises: str
) -> None:
    """Two replicas of the gateway (each its own ledger object and connections) approve two cases of one holder at
    once, the second between the first's permit being built and its recording: for other premises both are recorded
    and the tree both wrote still checks (a third case for the first shop is refused as live, a new shop approved);
    for the same premises the first is refused by its recording transaction's guard, naming the second's permit."""
    dept = fresh_department
    tag = "rt84q-race-" + premises.split()[0]
    rules = published_permit_rules(ledger, dept, tag)
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    rival_shop = "Shop 2" if premises == "other premises" else "Shop 1"
    other = Ledger.open(ledger.settings, passphrase=PASSPHRASE)
    real = permits.prepare
    raced: list[Any] = []

    def prepared_then_overtaken(*args: Any, **kwargs: Any) -> Any:
        made = real(*args, **kwargs)
        if not raced:
            raced.append(None)  # (the rival's own prepare passes through here too)
            given = premises_application(rival_shop, f"{tag}-2", licence)
            raced[0] = decisions.decide(other, dept, f"{tag}-2", SERVICE_ITEM, given, rules, applicant_ref=holder)
        return made

    first = premises_application("Shop 1", f"{tag}-1", licence)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(permits, "prepare", prepared_then_overtaken)
            if premises == "the same premises":
                with pytest.raises(StateError, match="live permit for the same premises") as refused:
                    decisions.decide(ledger, dept, f"{tag}-1", SERVICE_ITEM, first, rules, applicant_ref=holder)
                assert raced[0].body["issued"]["certificate"] in str(refused.value)
            else:
                decisions.decide(ledger, dept, f"{tag}-1", SERVICE_ITEM, first, rules, applicant_ref=holder)
    finally:
        other.close()
    assert "issued" in raced[0].body
    again = premises_application("Shop 1", f"{tag}-3", licence)
    with pytest.raises(StateError, match="live permit for the same premises"):
        decisions.decide(ledger, dept, f"{tag}-3", SERVICE_ITEM, again, rules, applicant_ref=holder)
    new = premises_application("Shop 9", f"{tag}-4", licence)
    assert "issued" in decisions.decide(ledger, dept, f"{tag}-4", SERVICE_ITEM, new, rules, applicant_ref=holder).body
    assert replay_checks(ledger, dept) == set()
