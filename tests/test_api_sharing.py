"""Sharing with consent through the gateway: grant, read, expiry, revocation, and the anchored access log.

The clock is the test's (grant expiry is reached by moving it, never by waiting); the chain and database are the
session's real ones.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete

from ledger.services import consent
from ledger.services.logchain import LOG_ACCESS, LogEntry

from . import consent_support
from .api_support import Clock, assert_problem, bearer, issue, login, make_client, register


@pytest.fixture()
def world(ledger: Any, fresh_department: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A fresh issuing department (its access log is this test's alone), a verifier, a certificate; the test
    provider is configured (LEDGER_CONSENT_PROVIDERS) for the data subject's requests."""
    monkeypatch.setattr(ledger, "settings", ledger.settings.with_(consent_providers=consent_support.PROVIDERS_ENV))
    clock = Clock()
    client = make_client(ledger, clock)
    verifier = register(ledger, "SV", "verifier")
    doc = issue(ledger, fresh_department, 1)[0]
    return {
        "ledger": ledger,
        "clock": clock,
        "client": client,
        "issuer": fresh_department,
        "verifier": verifier,
        "doc": doc,
        "digest": doc["digest"],
        "issuer_token": login(client, ledger, fresh_department),
        "verifier_token": login(client, ledger, verifier),
    }


def _grant(w: dict[str, Any], **changes: Any) -> Any:
    if "consent" not in w:  # the holder consents (to every personal field) when the first grant is asked for
        w["consent"] = consent_support.give(w["ledger"], w["doc"], w["verifier"], w["clock"].now).id
    body = {
        "grantee": w["verifier"],
        "purpose": "insurance claim 2026-0042, holder consented",
        "consent": w["consent"],
        "purpose_code": "insurance-claim",
        "expires_at": (w["clock"].now + timedelta(minutes=10)).isoformat(),
        **changes,
    }
    return w["client"].post(f"/certificates/{w['digest']}/grants", headers=bearer(w["issuer_token"]), json=body)


def _read(w: dict[str, Any]) -> Any:
    return w["client"].get(f"/certificates/{w['digest']}/content", headers=bearer(w["verifier_token"]))


def test_grant_expiry_and_revocation(world: dict[str, Any]) -> None:
    w, client = world, world["client"]
    assert_problem(_read(w), 403)  # no grant yet

    grant = _grant(w, reveal=["subject.name"])
    assert grant.status_code == 201, grant.text
    assert grant.json()["live"] is True
    read = _read(w)
    assert read.status_code == 200, read.text
    shown = read.json()["document"]
    assert shown["fields"]["subject.name"] == w["doc"]["fields"]["subject.name"]
    assert "subject.id_number" not in shown["fields"] and "subject.id_number" in shown["hidden"]
    assert read.json()["grant"]["purpose"].startswith("insurance claim")
    # the presentation the verifier received verifies, with the hidden fields only as hashes
    verified = client.post("/verify", headers=bearer(w["verifier_token"]), json={"document": shown})
    assert verified.status_code == 200 and verified.json()["verified"] is True, verified.text
    received = client.get("/grants/received", headers=bearer(w["verifier_token"])).json()
    assert [g["digest"] for g in received if g["live"]] == [w["digest"]]

    w["clock"].advance(minutes=10)  # the grant ends exactly now (tokens last 15 minutes)
    assert_problem(_read(w), 403)
    listed = client.get(f"/certificates/{w['digest']}/grants", headers=bearer(w["issuer_token"])).json()
    assert [g["live"] for g in listed] == [False]

    second = _grant(w).json()
    assert _read(w).status_code == 200
    revoked = client.delete(f"/grants/{second['id']}", headers=bearer(w["issuer_token"]))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert_problem(_read(w), 403)
    assert_problem(client.delete(f"/grants/{second['id']}", headers=bearer(w["issuer_token"])), 409)

    # every read and every refusal, in order, with the reason; all anchored once the batch is sent
    anchored = client.post("/access-log/anchor", headers=bearer(w["issuer_token"]))
    assert anchored.status_code == 200 and anchored.json()["roots"], anchored.text
    accesses = client.get(f"/certificates/{w['digest']}/accesses", headers=bearer(w["issuer_token"])).json()
    assert [(a["actor"], a["outcome"]) for a in accesses] == [
        (w["verifier"], "refused"),
        (w["verifier"], "served"),
        (w["verifier"], "refused"),
        (w["verifier"], "served"),
        (w["verifier"], "refused"),
    ]
    assert "no grant" in accesses[0]["detail"]
    assert "expired" in accesses[2]["detail"]
    assert "revoked" in accesses[4]["detail"]
    assert accesses[1]["purpose"].startswith("insurance claim") and accesses[1]["grant"] == grant.json()["id"]
    assert all(a["anchored"] and a["tx_hash"] and a["block_number"] for a in accesses)

    # the data subject, authenticated by their provider for this list, sees the same list; a file (complete or a
    # presentation) proves nothing about who asks (tests/test_api_consent.py: a grantee holding it all)
    bound = consent.accesses_request(w["digest"])
    signed = consent_support.assertion(w["ledger"], consent_support.identifier(w["doc"]), w["clock"].now, bound)
    subject = client.post(
        "/public/holder/accesses", json={"certificate": w["digest"], "assertion": signed.model_dump()}
    )
    assert subject.status_code == 200, subject.text
    assert [a["seq"] for a in subject.json()] == [a["seq"] for a in accesses]
    for document in (w["doc"], shown):
        assert_problem(client.post("/public/holder/accesses", json={"document": document}), 422)


def test_grant_validation(world: dict[str, Any]) -> None:
    w = world
    past = assert_problem(_grant(w, expires_at=(w["clock"].now - timedelta(seconds=1)).isoformat()), 422)
    assert past["errors"][0]["field"] == "expires_at"
    assert assert_problem(_grant(w, grantee="NOPE-DEPT"), 422)["errors"][0]["field"] == "grantee"
    assert_problem(_grant(w, grantee=w["issuer"]), 422)
    assert_problem(_grant(w, reveal=["subject.no_such_field"]), 422)
    missing = assert_problem(_grant(w, purpose=""), 422)
    assert missing["type"] == "/problems/validation-error" and missing["errors"]


def test_unauthenticated_and_unknown_reads(world: dict[str, Any], ledger: Any) -> None:
    w, client = world, world["client"]
    assert_problem(client.get(f"/certificates/{w['digest']}/content"), 401)
    # an unknown digest gets the same answer as a certificate without a grant: no oracle for existing digests
    unknown = "0x" + "ab" * 32
    body = assert_problem(client.get(f"/certificates/{unknown}/content", headers=bearer(w["verifier_token"])), 403)
    assert "no live grant" in body["detail"]
    entries = client.get("/access-log", headers=bearer(w["issuer_token"])).json()
    assert [(e["actor"], e["authenticated"], e["outcome"]) for e in entries] == [("anonymous", False, "refused")]


def test_deleted_access_log_entry_is_detected(world: dict[str, Any], ledger: Any) -> None:
    w, client = world, world["client"]
    _grant(w)
    for _ in range(3):
        assert _read(w).status_code == 200
    assert client.post("/access-log/anchor", headers=bearer(w["issuer_token"])).json()["roots"]
    intact = client.get("/access-log/check", headers=bearer(w["issuer_token"])).json()
    assert intact["intact"] is True and intact["discrepancies"] == []

    with ledger.engine.begin() as conn:  # someone with database access removes the second read
        conn.execute(
            delete(LogEntry).where(LogEntry.log == LOG_ACCESS, LogEntry.department_id == w["issuer"], LogEntry.seq == 3)
        )
    check = client.get("/access-log/check", headers=bearer(w["issuer_token"])).json()
    assert check["intact"] is False
    assert {"kind": "missing", "seq": 3} in [{"kind": d["kind"], "seq": d["seq"]} for d in check["discrepancies"]]
    auditor = login(client, ledger, "AUD")
    audited = client.get("/audit/logs/access/check", params={"department": w["issuer"]}, headers=bearer(auditor))
    assert audited.status_code == 200 and audited.json()["intact"] is False


def test_background_anchoring_round_skips_a_suspended_issuer(world: dict[str, Any], ledger: Any) -> None:
    """What the gateway's periodic task runs: every department's pending entries are anchored; a department the
    council suspended (its key may no longer anchor) is reported and does not hold the others back."""
    from ledger.services import accesslog
    from ledger.services.departments import Council

    w, client = world, world["client"]
    other = register(ledger, "SI", "issuer")
    other_digest = issue(ledger, other, 1)[0]["digest"]
    assert client.get(f"/certificates/{w['digest']}/content", headers=bearer(w["verifier_token"])).status_code == 403
    assert client.get(f"/certificates/{other_digest}/content", headers=bearer(w["verifier_token"])).status_code == 403
    Council(ledger).suspend(other)
    result = accesslog.anchor_all(ledger, [other, w["issuer"]])
    assert isinstance(result[other], str) and isinstance(result[w["issuer"]], list) and result[w["issuer"]]
    assert all(e["anchored"] for e in accesslog.entries(ledger, department=w["issuer"]))
    assert not any(e["anchored"] for e in accesslog.entries(ledger, department=other))
