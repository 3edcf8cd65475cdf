"""Red team round 77c (permits): a permit falls with the licence it rests on.

Round 77b left open: a business licence revoked (or suspended) after the food business permit was approved on it left
the permit valid, so a relying party verifying the permit read "valid" while the licence under it had been revoked
for fraud. The permit's department now records what each permit rests on (``permit_basis``, migration 0023: the
licence's issuer, digest and batch root, no field of it) and a sweep (``permits.follow_bases``, ``ledger permits
follow``, the gateway's periodic task) makes each live permit follow it on chain, reading every status as the
verification core proves it (the issuer's whole status event stream, held to its status trail).

Attacks tried here, each failing before this round:

* (A holder whose licence was revoked for fraud) keep trading on the permit: the sweep revokes it, ``ledger verify``
  says revoked with its reason, and the sealed note names the licence;
* (A holder whose licence is suspended) the permit follows the suspension and the reinstatement, and an officer's own
  suspension is never lifted by the sweep;
* (A holder whose licence was superseded) a renewal naming the same holder keeps the permit (resting on the renewal
  from then on); a successor naming another holder ends it;
* (A department acting outside its authority) a row naming another department's permit makes its sweep act on
  nothing;
* (The chain's operator) a node moving another licence's revocation onto the basis does not make the sweep revoke;
* (Nobody: a crash, a bad argument) an interrupted sweep loses nothing, the next finishes it; bad input is refused.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from ledger.client import Ledger
from ledger.errors import InputError, LedgerError
from ledger.onchain.chain import Chain, connect
from ledger.services import decisions, permits, status
from ledger.services.verify import ChainView, verify_certificate
from ledger.storage.models import PermitBasis
from ledger.storage.store import StatusChange

from .api_support import UNLIMITED
from .cli_support import cli_in_process
from .evidence_support import rpc_url
from .permit_support import SERVICE_ITEM, application, fresh_licence, published_permit_rules
from .rpc_proxy import RpcProxy

BASES = PermitBasis.__table__  # type: ignore[attr-defined]


def _permit(ledger: Ledger, dept: str, rules: Any, licence: dict[str, Any], holder: str, case: str) -> dict[str, Any]:
    app = application(case, licence)
    decided = decisions.decide(ledger, dept, case, SERVICE_ITEM, app, rules, applicant_ref=holder)
    assert decided.body["outcome"] == "approve", decided.body
    (document,) = permits.documents(ledger, [decided.body["issued"]["certificate"]])
    return document


def _standing(ledger: Ledger, document: dict[str, Any]) -> tuple[bool, str]:
    """(verifies, the status check's detail) of ``document`` as a relying party reads it, with a fresh view."""
    report = verify_certificate(document, ChainView(ledger.chain, 0))
    (check,) = [c for c in report.checks if c.name == "status"]
    return report.ok, check.detail


def _notes(ledger: Ledger, digest: str) -> list[str]:
    with ledger.engine.connect() as conn:
        ids = conn.execute(select(StatusChange.id).where(StatusChange.digest == digest)).scalars().all()  # type: ignore[call-overload]
    return [note for i in ids if (note := status.note_of(ledger, i)) is not None]


def test_a_permit_falls_with_the_licence_it_rests_on(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Adversary: a holder whose business licence was revoked for fraud, showing the food business permit approved
    on it. The permit stayed valid. ``ledger permits follow`` revokes it (reason ``other``, the sealed note naming
    the licence and what ended it); ``ledger verify`` of the permit says revoked; a permit resting on a valid licence
    is left alone, and so is one issued before migration 0023 until the sweep reads its decision (then it falls too).
    A second run changes nothing."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt77c-falls")
    licence, holder = fresh_licence(ledger, tmp_path, "rt77c-falls")
    other, _ = fresh_licence(ledger, tmp_path, "rt77c-stands")
    earlier_licence, _ = fresh_licence(ledger, tmp_path, "rt77c-earlier")
    permit = _permit(ledger, dept, rules, licence, holder, "FBP-RT77C-FALLS")
    standing = _permit(ledger, dept, rules, other, holder, "FBP-RT77C-STANDS")
    earlier = _permit(ledger, dept, rules, earlier_licence, holder, "FBP-RT77C-EARLIER")
    with ledger.engine.connect() as conn:
        rows = conn.execute(BASES.select().where(BASES.c.permit == permit["digest"])).all()
    assert [(r.cert_type, r.basis_issuer, r.basis_digest) for r in rows] == [
        ("business-licence", "MKT", licence["digest"])
    ]
    with ledger.engine.begin() as conn:  # as if issued before migration 0023: no row yet
        conn.execute(delete(BASES).where(BASES.c.permit == earlier["digest"]))
    assert _standing(ledger, permit)[0]

    status.revoke(ledger, licence["digest"], "fraud")
    status.revoke(ledger, earlier_licence["digest"], "entity-dissolved")
    assert _standing(ledger, permit)[0]  # the hole: the licence is revoked, the permit still verifies
    code, out, _ = cli_in_process(ledger, monkeypatch, capsys, "permits", "follow", "--department", dept)
    assert code == 0, out
    result = json.loads(out)
    assert sorted(result["revoked"]) == sorted([permit["digest"], earlier["digest"]]), result
    assert result["suspended"] == result["reinstated"] == [] and result["unread"] == {}

    ok, detail = _standing(ledger, permit)
    assert not ok and "revoked" in detail and "other" in detail, detail
    (note,) = _notes(ledger, permit["digest"])
    assert licence["digest"] in note and "MKT" in note and "revoked" in note and "fraud" in note, note
    assert holder not in note
    assert _standing(ledger, standing)[0]
    assert not _standing(ledger, earlier)[0]
    path = tmp_path / "permit.json"
    path.write_text(json.dumps(permit), encoding="utf-8")
    code, out, _ = cli_in_process(ledger, monkeypatch, capsys, "verify", str(path))
    assert code == 1 and "revoked" in out and "other" in out.lower(), out

    again = permits.follow_bases(ledger, dept)
    assert again.revoked == again.suspended == again.reinstated == [] and again.unread == {}
    assert len(_notes(ledger, permit["digest"])) == 1


def test_a_permit_follows_its_licences_suspension_and_reinstatement(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: a holder whose licence is suspended under investigation. The permit follows: suspended while the
    licence is, reinstated when it is; a permit an officer suspended on its own grounds stays suspended when the
    licence is reinstated (the sweep lifts only its own suspension)."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt77c-held")
    licence, holder = fresh_licence(ledger, tmp_path, "rt77c-held")
    permit = _permit(ledger, dept, rules, licence, holder, "FBP-RT77C-HELD")
    officers = _permit(ledger, dept, rules, licence, holder, "FBP-RT77C-OFFICER")
    status.suspend(ledger, officers["digest"], "non-compliance", dept)

    status.suspend(ledger, licence["digest"], "under-investigation")
    first = permits.follow_bases(ledger, dept)
    assert first.suspended == [permit["digest"]] and first.revoked == [], first
    ok, detail = _standing(ledger, permit)
    assert not ok and "suspended" in detail, detail
    assert permits.follow_bases(ledger, dept).suspended == []  # idempotent

    status.reinstate(ledger, licence["digest"], "grounds-resolved")
    back = permits.follow_bases(ledger, dept)
    assert back.reinstated == [permit["digest"]], back
    assert _standing(ledger, permit)[0]
    assert not _standing(ledger, officers)[0]  # the officer's suspension stands
    assert permits.follow_bases(ledger, dept).reinstated == []


def test_a_renewal_of_the_same_holder_keeps_the_permit_and_another_holders_ends_it(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """A licence superseded by its renewal naming the same holder leaves the permit valid, resting on the renewal
    from then on (its revocation then revokes the permit); a licence superseded by one naming another holder (the
    business transferred) revokes the permit."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt77c-renewed")
    licence, holder = fresh_licence(ledger, tmp_path, "rt77c-renewed")
    renewal, _ = fresh_licence(ledger, tmp_path, "rt77c-renewal")
    sold, _ = fresh_licence(ledger, tmp_path, "rt77c-sold")
    buyer, _ = fresh_licence(ledger, tmp_path, "rt77c-buyer", holder="91440300MA59999983")
    permit = _permit(ledger, dept, rules, licence, holder, "FBP-RT77C-RENEWED")
    transferred = _permit(ledger, dept, rules, sold, holder, "FBP-RT77C-SOLD")

    status.supersede(ledger, licence["digest"], renewal["digest"])
    status.supersede(ledger, sold["digest"], buyer["digest"])
    swept = permits.follow_bases(ledger, dept)
    assert swept.renewed == [permit["digest"]] and swept.revoked == [transferred["digest"]], swept
    assert _standing(ledger, permit)[0] and not _standing(ledger, transferred)[0]
    with ledger.engine.connect() as conn:
        (row,) = conn.execute(BASES.select().where(BASES.c.permit == permit["digest"])).all()
    assert row.basis_digest == renewal["digest"]

    status.revoke(ledger, renewal["digest"], "fraud")
    assert permits.follow_bases(ledger, dept).revoked == [permit["digest"]]
    assert not _standing(ledger, permit)[0]


def test_a_department_cannot_make_its_sweep_act_on_another_departments_permit(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: a department acting outside its authority (or an insider writing its rows). A ``permit_basis`` row
    of department B naming department A's permit, on a revoked licence: B's sweep acts on nothing (only B's own
    certificates are read, and the status service refuses another's); A's sweep revokes its permit."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt77c-other")
    licence, holder = fresh_licence(ledger, tmp_path, "rt77c-other")
    permit = _permit(ledger, dept, rules, licence, holder, "FBP-RT77C-OTHER")
    status.revoke(ledger, licence["digest"], "fraud")
    outsider = "MKT"  # a department of this ledger that issues licences, not this permit
    with ledger.engine.begin() as conn:
        conn.execute(
            insert(BASES).values(
                permit=permit["digest"],
                cert_type="tax-clearance",
                department_id=outsider,
                basis_issuer="MKT",
                basis_digest=licence["digest"],
                basis_root=licence["anchor"]["root"],
            )
        )
    swept = permits.follow_bases(ledger, outsider)
    assert permit["digest"] not in swept.revoked + swept.suspended, swept
    assert _standing(ledger, permit)[0]
    with pytest.raises(LedgerError, match="only its issuing department"):
        status.revoke(ledger, permit["digest"], "other", outsider)
    assert permits.follow_bases(ledger, dept).revoked == [permit["digest"]]


def test_a_node_claiming_the_licence_revoked_does_not_make_the_sweep_revoke(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: the chain's operator. The node moves another licence's revocation onto the permit's licence in
    ``eth_getLogs`` (the contract says the licence is valid). The sweep reads statuses as the verification core
    does: the events do not hash to the issuer's status trail, the read is refused, and the permit is left valid
    and listed unread; read honestly, the sweep does nothing either."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt77c-node")
    licence, holder = fresh_licence(ledger, tmp_path, "rt77c-node")
    decoy, _ = fresh_licence(ledger, tmp_path, "rt77c-decoy")
    permit = _permit(ledger, dept, rules, licence, holder, "FBP-RT77C-NODE")
    status.revoke(ledger, decoy["digest"], "fraud")
    target = [licence["digest"].lower(), "0x" + licence["anchor"]["root"][2:].lower()]
    moved = decoy["digest"].lower()

    def rewrite(method: str, _params: Any, answer: Any) -> Any:
        if method == "eth_getLogs" and isinstance(answer.get("result"), list):
            for log in answer["result"]:
                if log["topics"][1].lower() == moved:
                    log["topics"][1:3] = target
        return answer

    with RpcProxy(rpc_url(ledger), rewrite=rewrite) as node:
        chain = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
        swept = permits.follow_bases(ledger, dept, view=ChainView(chain, ledger.settings.confirmations))
    assert swept.revoked == swept.suspended == [], swept
    assert permit["digest"] in swept.unread and "status trail" in swept.unread[permit["digest"]], swept.unread
    assert _standing(ledger, permit)[0]
    honest = permits.follow_bases(ledger, dept)
    assert honest.revoked == [] and honest.unread == {}
    assert _standing(ledger, permit)[0]


def test_an_interrupted_sweep_loses_nothing_and_bad_input_is_refused(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Nobody attacks: a sweep cut short (a limit, or a crash between its transaction and its row) is finished by
    the next run, and a suspension made just before a crash is still the sweep's to lift. A bad limit or a
    department this ledger does not sign for is refused before anything is read or written."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt77c-cut")
    licences = [fresh_licence(ledger, tmp_path, f"rt77c-cut-{i}")[0] for i in range(3)]
    holder = licences[0]["fields"]["subject.credit_code"]
    issued = [_permit(ledger, dept, rules, lic, holder, f"FBP-RT77C-CUT-{i}") for i, lic in enumerate(licences)]
    for licence in licences[:2]:
        status.revoke(ledger, licence["digest"], "fraud")
    seen: list[tuple[int, int]] = []
    cut = permits.follow_bases(ledger, dept, limit=1, progress=lambda done, total: seen.append((done, total)))
    assert cut.checked == 1 and cut.left == 2 and seen == [(1, 3)] and len(cut.revoked) <= 1, cut
    rest = permits.follow_bases(ledger, dept)
    assert sorted(cut.revoked + rest.revoked) == sorted(p["digest"] for p in issued[:2]), rest

    # a crash after the sweep's suspension was sent, before its row said so
    last, licence = issued[2], licences[2]
    status.suspend(ledger, licence["digest"], "under-investigation")
    with ledger.engine.begin() as conn:
        conn.execute(update(BASES).where(BASES.c.permit == last["digest"]).values(followed="suspending"))
    status.suspend(ledger, last["digest"], permits.BASIS_SUSPENDED_REASON, dept)
    assert permits.follow_bases(ledger, dept).suspended == []  # suspended already: taken as the sweep's own
    status.reinstate(ledger, licence["digest"], "grounds-resolved")
    assert permits.follow_bases(ledger, dept).reinstated == [last["digest"]]
    assert _standing(ledger, last)[0]

    with pytest.raises(InputError, match="limit"):
        permits.follow_bases(ledger, dept, limit=0)
    with pytest.raises(LedgerError):
        permits.follow_bases(ledger, "NOSUCH")
    code, _, err = cli_in_process(ledger, monkeypatch, capsys, "permits", "follow", "--department", "NOSUCH")
    assert code == 2 and err.strip(), err


def test_the_gateway_makes_permits_follow_their_licences_on_its_own(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the department's automatic work runs: the gateway's background task (``LEDGER_PERMIT_FOLLOW_SECONDS``)
    revokes the permit of a revoked licence with no one running ``ledger permits follow``, within its interval."""
    from fastapi.testclient import TestClient

    from api.config import ApiSettings
    from api.main import create_app

    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt77c-gateway")
    licence, holder = fresh_licence(ledger, tmp_path, "rt77c-gateway")
    permit = _permit(ledger, dept, rules, licence, holder, "FBP-RT77C-GATEWAY")
    status.revoke(ledger, licence["digest"], "fraud")
    monkeypatch.setattr(ledger, "settings", ledger.settings.with_(permit_follow_seconds=1))
    app = create_app(ledger, settings=ApiSettings(anchor_interval_seconds=0, **UNLIMITED))
    with TestClient(app):
        for _ in range(300):  # the task's first round comes after one interval
            if not _standing(ledger, permit)[0]:
                break
            threading.Event().wait(0.1)
    ok, detail = _standing(ledger, permit)
    assert not ok and "revoked" in detail, detail
