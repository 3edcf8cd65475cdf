"""Provenance through the gateway: the full timeline for the issuer and auditors, the public one, the HTML page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ledger.services import logchain

from . import consent_support
from .api_support import Clock, assert_problem, bearer, issue, login, make_client


def test_timeline_of_a_shared_then_superseded_certificate(ledger: Any, fresh_department: str) -> None:
    clock = Clock()
    client = make_client(ledger, clock)
    issuer = login(client, ledger, fresh_department)
    reader = login(client, ledger, "PSB")
    doc, new_doc = issue(ledger, fresh_department, 2)
    old, new = doc["digest"], new_doc["digest"]

    assert client.get(f"/certificates/{old}/content", headers=bearer(reader)).status_code == 403
    grant = client.post(
        f"/certificates/{old}/grants",
        headers=bearer(issuer),
        json={
            "grantee": "PSB",
            "purpose": "background check 7",
            "expires_at": (clock.now + timedelta(days=1)).isoformat(),
            "consent": consent_support.give(ledger, doc, "PSB", clock.now).id,
            "purpose_code": "insurance-claim",
        },
    )
    assert grant.status_code == 201
    assert client.get(f"/certificates/{old}/content", headers=bearer(reader)).status_code == 200
    assert client.delete(f"/grants/{grant.json()['id']}", headers=bearer(issuer)).status_code == 200
    assert client.post("/access-log/anchor", headers=bearer(issuer)).status_code == 200
    superseded = client.post(f"/certificates/{old}/supersede", headers=bearer(issuer), json={"successor": new})
    assert superseded.status_code == 200, superseded.text

    # a decision of the department's decisions log that used the certificate (format of docs/decisions.md)
    logchain.append(
        ledger,
        logchain.LOG_DECISIONS,
        fresh_department,
        {
            "case_id": "CASE-7",
            "service_item": "test-item",
            "outcome": "approved",
            "certificates": [{"type": "business-licence", "digest": old, "ok": True, "status": "valid"}],
            "decided_at": clock.now.isoformat(),
        },
    )

    full = client.get(f"/certificates/{old}/provenance", headers=bearer(issuer))
    assert full.status_code == 200, full.text
    body = full.json()
    assert body["status"] == "superseded" and body["view"] == "full"
    kinds = [e["kind"] for e in body["events"]]
    for kind in (
        "issued",
        "anchored",
        "signed",
        "granted",
        "grant_revoked",
        "access",
        "access_refused",
        "superseded",
        "decision",
    ):
        assert kind in kinds, (kind, kinds)
    assert kinds.index("issued") < kinds.index("anchored") < kinds.index("signed")
    anchored = next(e for e in body["events"] if e["kind"] == "anchored")
    assert anchored["tx_hash"].startswith("0x") and anchored["block_number"] > 0 and anchored["at"]
    signed = next(e for e in body["events"] if e["kind"] == "signed")
    assert signed["signature_valid"] is True and signed["key_was_active_issuer"] is True
    access = next(e for e in body["events"] if e["kind"] == "access")
    assert access["actor"] == "PSB" and access["anchored"] is True and "background check 7" in access["summary"]
    assert next(e for e in body["events"] if e["kind"] == "superseded")["successor"] == new
    decision = next(e for e in body["events"] if e["kind"] == "decision")
    assert decision["case_id"] == "CASE-7" and decision["outcome"] == "approved"

    auditor = login(client, ledger, "AUD")
    assert client.get(f"/certificates/{old}/provenance", headers=bearer(auditor)).json()["events"] == body["events"]

    public = client.get(f"/public/certificates/{old}/timeline").json()
    assert public["view"] == "public" and public["status"] == "superseded"
    assert {e["kind"] for e in public["events"]} == {"issued", "anchored", "signed", "superseded"}
    assert "background check" not in str(public) and "certificate_id" not in str(public)
    successor = client.get(f"/public/certificates/{new}/timeline").json()
    assert [e["predecessor"] for e in successor["events"] if e["kind"] == "supersedes"] == [old]

    page = client.get(f"/public/certificates/{old}/timeline.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Provenance timeline" in page.text and "superseded" in page.text and old in page.text

    revoked = issue(ledger, fresh_department, 1)[0]["digest"]
    assert (
        client.post(
            f"/certificates/{revoked}/revoke", headers=bearer(issuer), json={"reason": "data-error"}
        ).status_code
        == 200
    )
    events = client.get(f"/public/certificates/{revoked}/timeline").json()["events"]
    assert [e["reason"] for e in events if e["kind"] == "revoked"] == ["data-error"]
    assert_problem(client.get(f"/public/certificates/0x{'00' * 32}/timeline"), 404)


def test_issuance_precedes_anchoring_even_when_the_clocks_disagree(
    ledger: Any, fresh_department: str, tmp_path: Any, monkeypatch: Any
) -> None:
    """The issuer's wall clock may run seconds ahead of the block timestamp; the timeline stays causal."""
    import io
    import json
    from datetime import UTC, datetime

    from ledger.services import issuance, provenance

    from .conftest import make_records, write_jsonl

    # the issuer's clock, ahead of the chain's: the moment the certificate states (its sealed issued_at, which the
    # timeline shows: the store row's column is no one's word, red team round 61) is after its anchoring block's
    chain_now = datetime.fromtimestamp(int(ledger.chain.w3.eth.get_block("latest")["timestamp"]), UTC)
    ahead = (max(chain_now, datetime.now(UTC)) + timedelta(seconds=10)).replace(microsecond=0)
    monkeypatch.setattr(issuance, "_issued_at", lambda: ahead.isoformat().replace("+00:00", "Z"))
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / "skew.jsonl", make_records(1)), fresh_department, out=out)
    digest = json.loads(out.getvalue())["digest"]
    events = provenance.timeline(ledger, digest, now=datetime.now().astimezone())["events"]
    assert [e["kind"] for e in events[:3]] == ["issued", "anchored", "signed"]
    assert events[0]["at"] > events[1]["at"]  # each event keeps the time its own source recorded
