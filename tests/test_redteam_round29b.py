"""Red team round 29b: a department outside its authority, an applicant lying, an insider with database access, an
anonymous client, a gateway relaying another's messages.

1. A suspended issuer kept sharing. ``sharing.create_grant`` checked only that the caller issued the certificate:
   the gateway asks the registry for the issuer role, but ``ledger share`` (and any library caller) does not go
   through the gateway, so a department the council suspended (or whose issuer role it removed) shared its
   certificates on, and the gateway served every read through those grants - and through the grants made before
   the suspension - in its name. Sharing now asks the registry whichever door it comes through, and a read through
   a grant is refused (and logged) while its issuer cannot act; a reinstatement serves the grants again.
2. An access-log entry's time was the database's word. The time windows of the department's and the auditors'
   listings (``GET /access-log?since=&until=``, ``GET /audit/logs/access?since=&until=``) select on the row's
   ``created_at``, which the entry hash does not cover: an insider who moved an anchored read's ``created_at`` out
   of the window hid it from the auditor asking "who read HOSP's certificates in March", and the log's check
   still said intact. The ledger writes every access entry with ``created_at`` the instant its body states
   (``at``; on SQLite now stored in UTC, not as the wall-clock fields of whatever zone it came in), and the check
   compares them (``time_altered``).
3. The consent listings showed each row's own ``live``. An insider who undid a person's withdrawal (or moved an
   expiry) in the database had the person's own listing (``POST /public/consents/mine``), the issuer's
   (``GET /certificates/{digest}/consents``) and ``ledger consent list`` call the consent live, though no read was
   served on it (round 2) - what round 27's residual fixed for the grant listings. A live row is now judged as a read
   judges it (signature, anchored creation and withdrawal): ``live: false`` with the ``problem`` named.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import update

from ledger.client import Ledger
from ledger.onchain.chain import ROLE_APPROVER, ROLE_VERIFIER
from ledger.services import accesslog, consent, sharing
from ledger.services.auth import PermissionDenied
from ledger.services.departments import Council
from ledger.storage.models import LogEntry

from .api_support import Clock, bearer, issue, login, make_client, problem_body
from .cli_support import run_cli
from .consent_support import NOW, PROVIDERS, assertion, give, identifier, read_as


def _grant(ledger: Ledger, issuer: str, doc: dict[str, Any]) -> sharing.Grant:
    body = sharing.GrantCreate(
        grantee="INS", purpose="claim 2026-0042", expires_at=NOW + timedelta(days=1), reveal=["type"]
    )
    return sharing.create_grant(
        ledger, issuer=issuer, signer="0x" + "00" * 20, digest=doc["digest"], grant=body, now=NOW
    )


def test_a_suspended_issuer_neither_shares_nor_is_read_through_its_grants(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: a department the council suspended, sharing through the library or the CLI (no gateway asks the
    registry there), and its grantees reading through grants it made before."""
    before, after = issue(ledger, fresh_department, 2)
    standing = _grant(ledger, fresh_department, before)
    assert read_as(ledger, before, NOW).grant is not None
    council = Council(ledger)
    council.suspend(fresh_department)

    with pytest.raises(PermissionDenied, match=f"suspended department '{fresh_department}'.*Nothing was shared"):
        _grant(ledger, fresh_department, after)
    assert sharing.list_grants(ledger, digest=after["digest"]) == []

    refused = f"grant {standing.id} is live but the council suspended department '{fresh_department}'"
    with pytest.raises(PermissionDenied, match=refused):
        read_as(ledger, before, NOW)
    client = make_client(ledger, Clock(NOW))  # the gateway alike: the grantee's own token is valid
    answer = client.get(f"/certificates/{before['digest']}/content", headers=bearer(login(client, ledger, "INS")))
    assert refused in problem_body(answer, 403)["detail"]
    logged = accesslog.entries(ledger, department=fresh_department, certificate=before["digest"])
    assert logged[-1]["outcome"] == "refused" and refused in logged[-1]["detail"]

    (shown,) = sharing.listed(ledger, sharing.list_grants(ledger, digest=before["digest"]), NOW)
    assert not shown.live and f"suspended department '{fresh_department}'" in str(shown.problem)  # listed as read

    council.reinstate(fresh_department)
    assert sharing.listed(ledger, [standing], NOW)[0].live
    assert read_as(ledger, before, NOW).grant is not None  # not revoked: served again


def test_an_issuer_without_the_issuer_role_cannot_share_through_the_cli(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: a department whose issuer role the council removed, running `ledger share` on its own host."""
    (doc,) = issue(ledger, fresh_department, 1)
    Council(ledger).set_roles(fresh_department, ROLE_VERIFIER | ROLE_APPROVER)
    until = (NOW + timedelta(days=1)).isoformat()
    out = run_cli(
        ledger, "share", doc["digest"], "--to", "INS", "--purpose", "claim", "--until", until, "--reveal", "type"
    )
    assert out.returncode != 0 and "no longer holds the issuer role" in out.stderr, out
    assert sharing.list_grants(ledger, digest=doc["digest"]) == []


def test_a_read_moved_out_of_the_auditors_time_window_is_reported_by_the_check(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider with database access, hiding a read from the time window an auditor lists."""
    digest = "0x" + "c3" * 32
    march = datetime(2026, 3, 10, 9, 30, 15, 123456, tzinfo=UTC)

    def read(at: datetime) -> int:
        return accesslog.record(
            ledger,
            certificate=digest,
            issuer=fresh_department,
            action="read",
            outcome="served",
            actor="INS",
            signer=None,
            at=at,
        ).seq

    honest = read(march.astimezone(timezone(timedelta(hours=8))))  # the same instant, written in another zone
    hidden = read(march + timedelta(minutes=5))
    accesslog.anchor(ledger, fresh_department)
    window = {"since": datetime(2026, 3, 1, tzinfo=UTC), "until": datetime(2026, 4, 1, tzinfo=UTC)}
    assert [e["seq"] for e in accesslog.entries(ledger, department=fresh_department, **window)] == [honest, hidden]
    assert accesslog.check(ledger, fresh_department) == []

    with ledger.engine.begin() as conn:
        conn.execute(
            update(LogEntry)
            .where(LogEntry.log == accesslog.LOG, LogEntry.department_id == fresh_department, LogEntry.seq == hidden)
            .values(created_at=datetime(2025, 1, 1, tzinfo=UTC))
        )
    assert [e["seq"] for e in accesslog.entries(ledger, department=fresh_department, **window)] == [honest]
    found = accesslog.check(ledger, fresh_department)
    assert [(d["kind"], d["seq"]) for d in found] == [("time_altered", hidden)], found
    assert "2026-03-10T09:35:15.123456Z" in found[0]["detail"]


def test_a_consent_whose_withdrawal_an_insider_undid_is_not_listed_live(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: an insider with database access, undoing a person's withdrawal (or extending a consent) so that
    the person and the issuer are told the consent still stands."""
    doc, other = issue(ledger, fresh_department, 2)
    withdrawn, extended = give(ledger, doc, "INS", NOW), give(ledger, other, "INS", NOW)
    leave = consent.withdrawal_request(withdrawn.id)
    signed = assertion(ledger, identifier(doc), NOW, leave)
    consent.withdraw(ledger, assertion=signed, consent_id=withdrawn.id, now=NOW, providers=PROVIDERS)
    with ledger.engine.begin() as conn:
        conn.execute(update(consent.Consent).where(consent.Consent.id == withdrawn.id).values(withdrawn_at=None))
        later = NOW + timedelta(days=300)
        conn.execute(update(consent.Consent).where(consent.Consent.id == extended.id).values(expires_at=later))

    client = make_client(ledger, Clock(NOW))
    token = login(client, ledger, fresh_department)
    for row, cert, said in (
        (withdrawn, doc, "withdrawn by the data subject"),
        (extended, other, "stored hash does not match"),
    ):
        answer = client.get(f"/certificates/{cert['digest']}/consents", headers=bearer(token))
        assert answer.status_code == 200, answer.text
        (listed,) = answer.json()
        assert listed["id"] == row.id and listed["live"] is False and said in listed["problem"], listed
