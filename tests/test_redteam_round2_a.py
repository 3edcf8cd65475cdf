"""Red team, round 2 (A): consent (issue 16), supervision and the report (issue 17), attacked as their adversaries
would. Each test is one attack against the real chain and database; a library refusal or a replay flag is the
expected answer, and bad input loses nothing. The clock is passed in; blocks are mined with node controls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from ledger import consent, sharing
from ledger.auth import Attempt, PermissionDenied, Principal
from ledger.errors import InputError, NotFoundError

from .consent_support import PROVIDERS, assertion, give, identifier, request
from .test_api_support import issue

NOW = datetime.now(UTC).replace(microsecond=0)


# -- consent ------------------------------------------------------------------------------------------------------

@pytest.fixture()
def world(ledger: Any, fresh_department: str) -> dict[str, Any]:
    sharing.ensure_tables(ledger.engine)
    docs = issue(ledger, fresh_department, 2)
    return {"issuer": fresh_department, "a": docs[0], "b": docs[1], "signer": "0x" + "00" * 20}


def _grant(ledger: Any, w: dict[str, Any], doc: dict[str, Any], now: datetime = NOW, **changes: Any) -> sharing.Grant:
    body: dict[str, Any] = {"grantee": "INS", "purpose": "claim 2026-0042", "purpose_code": "insurance-claim",
                            "expires_at": now + timedelta(days=1), "reveal": ["subject.name"], **changes}
    return sharing.create_grant(ledger, issuer=w["issuer"], signer=w["signer"], digest=doc["digest"],
                                grant=sharing.GrantCreate(**body), now=now)


def _read(ledger: Any, doc: dict[str, Any], now: datetime, department: str = "INS") -> sharing.Content:
    principal = Principal(department, "0x" + "11" * 20, ("verifier",), "jti", now + timedelta(hours=1))
    return sharing.fetch_content(ledger, doc["digest"], Attempt(principal), now=now)


def test_refused_consent_request_does_not_cost_the_person_their_assertion(ledger: Any, world: dict[str, Any]) -> None:
    """Bad input loses nothing: a consent refused for a typo (unknown recipient, unknown field, no time zone) leaves
    the single-use assertion unspent, so the person need not authenticate again; the good request then spends it."""
    w = world
    signed = assertion(ledger, identifier(w["a"]), NOW)
    naive = (NOW + timedelta(days=30)).replace(tzinfo=None)
    for recipient, changes, field in (("NOSUCHDEPT", {}, "recipient"), ("INS", {"fields": ["subject.x"]}, "fields"),
                                      ("INS", {"expires_at": naive}, "expires_at"),
                                      ("INS", {"expires_at": NOW}, "expires_at")):
        with pytest.raises(InputError) as refused:
            consent.give(ledger, assertion=signed, consent=request(w["a"], recipient, NOW, **changes), now=NOW,
                         providers=PROVIDERS)
        assert refused.value.field == field
    assert consent.list_consents(ledger, digest=w["a"]["digest"]) == []  # nothing recorded
    given = consent.give(ledger, assertion=signed, consent=request(w["a"], "INS", NOW), now=NOW, providers=PROVIDERS)
    assert given.id
    with pytest.raises(PermissionDenied, match="used already"):  # and it is single-use after all
        consent.give(ledger, assertion=signed, consent=request(w["a"], "INS", NOW), now=NOW, providers=PROVIDERS)
    # but a relay holding A's assertion gets one guess at which certificates are A's, not a probing oracle
    probe = assertion(ledger, identifier(w["a"]), NOW)
    with pytest.raises(PermissionDenied, match="not the subject"):
        consent.give(ledger, assertion=probe, consent=request(w["b"], "INS", NOW), now=NOW, providers=PROVIDERS)
    with pytest.raises(PermissionDenied, match="used already"):
        consent.give(ledger, assertion=probe, consent=request(w["a"], "INS", NOW), now=NOW, providers=PROVIDERS)


def test_clock_edges_of_a_consent(ledger: Any, world: dict[str, Any]) -> None:
    """Expiry exactly at now is expired; an assertion issued in the future (beyond the skew) or without a time zone
    is refused; a read at the consent's last instant is refused, a second earlier it is served."""
    w = world
    end = NOW + timedelta(hours=2)
    given = give(ledger, w["a"], "INS", NOW, fields=["subject.name"], expires_at=end)
    _grant(ledger, w, w["a"], consent=given.id, expires_at=end)
    assert _read(ledger, w["a"], end - timedelta(seconds=1)).grant is not None
    with pytest.raises(PermissionDenied):
        _read(ledger, w["a"], end)
    future = assertion(ledger, identifier(w["a"]), NOW + timedelta(minutes=5))
    with pytest.raises(PermissionDenied, match="valid from"):
        consent.give(ledger, assertion=future, consent=request(w["a"], "INS", NOW), now=NOW, providers=PROVIDERS)
    zoneless = assertion(ledger, identifier(w["a"]), NOW)
    body = {**zoneless.assertion, "issued_at": NOW.replace(tzinfo=None).isoformat()}
    forged = consent.SignedAssertion(assertion=body, signature=zoneless.signature)
    with pytest.raises(PermissionDenied):  # the provider signed another text: the signature no longer matches
        consent.give(ledger, assertion=forged, consent=request(w["a"], "INS", NOW), now=NOW, providers=PROVIDERS)


def test_consent_is_not_replayed_for_another_ledger_or_certificate(ledger: Any, world: dict[str, Any]) -> None:
    """An assertion addressed to another gateway/ledger is refused (and not spent); a consent names one
    certificate, so a grant on the subject's other certificate cannot rely on it."""
    w = world
    elsewhere = assertion(ledger, identifier(w["a"]), NOW, audience="provenance-ledger:1:0x" + "00" * 20)
    with pytest.raises(PermissionDenied, match="addressed to"):
        consent.give(ledger, assertion=elsewhere, consent=request(w["a"], "INS", NOW), now=NOW, providers=PROVIDERS)
    given = give(ledger, w["a"], "INS", NOW)
    with pytest.raises(PermissionDenied, match="another certificate"):
        _grant(ledger, w, w["b"], consent=given.id)


def test_subject_b_cannot_withdraw_subject_as_consent(ledger: Any, world: dict[str, Any]) -> None:
    w = world
    given = give(ledger, w["a"], "INS", NOW)
    _grant(ledger, w, w["a"], consent=given.id)
    with pytest.raises(NotFoundError):
        consent.withdraw(ledger, assertion=assertion(ledger, identifier(w["b"]), NOW), consent_id=given.id,
                         now=NOW, providers=PROVIDERS)
    assert _read(ledger, w["a"], NOW).grant is not None  # A's consent still holds


def test_withdrawal_while_a_grant_is_being_made_wins(ledger: Any, world: dict[str, Any]) -> None:
    """The issuer checked the consent, the subject withdraws, then the grant is stored: the grant exists but the
    next read re-checks the consent and is refused."""
    w = world
    given = give(ledger, w["a"], "INS", NOW)
    checked = consent.for_grant
    seen: list[str] = []

    def withdraw_in_flight(*args: Any, **kwargs: Any) -> Any:
        row = checked(*args, **kwargs)
        consent.withdraw(ledger, assertion=assertion(ledger, identifier(w["a"]), NOW), consent_id=given.id,
                         now=NOW, providers=PROVIDERS)
        seen.append("withdrawn")
        return row

    consent.for_grant = withdraw_in_flight  # type: ignore[assignment]
    try:
        _grant(ledger, w, w["a"], consent=given.id)
    finally:
        consent.for_grant = checked  # type: ignore[assignment]
    assert seen == ["withdrawn"]
    with pytest.raises(PermissionDenied, match="withdrawn"):
        _read(ledger, w["a"], NOW + timedelta(seconds=1))


def test_insider_undoing_a_withdrawal_or_extending_expiry_is_not_believed(ledger: Any, world: dict[str, Any]) -> None:
    w = world
    given = give(ledger, w["a"], "INS", NOW, expires_at=NOW + timedelta(days=2))
    _grant(ledger, w, w["a"], consent=given.id)
    consent.withdraw(ledger, assertion=assertion(ledger, identifier(w["a"]), NOW), consent_id=given.id, now=NOW,
                     providers=PROVIDERS)
    with ledger.engine.begin() as conn:  # flip withdrawn back
        conn.execute(update(consent.Consent).where(consent.Consent.id == given.id).values(withdrawn_at=None))
    with pytest.raises(PermissionDenied, match="withdrawn"):
        _read(ledger, w["a"], NOW)
    assert "consent_withdrawal_undone" in {d["kind"] for d in consent.check(ledger, w["issuer"])}
    other = give(ledger, w["a"], "INS", NOW, expires_at=NOW + timedelta(days=2))
    _grant(ledger, w, w["a"], consent=other.id)
    with ledger.engine.begin() as conn:  # extend the expiry (and a grant past it)
        conn.execute(update(consent.Consent).where(consent.Consent.id == other.id).values(
            expires_at=NOW + timedelta(days=365)))
    with pytest.raises(PermissionDenied, match="stored hash"):
        _read(ledger, w["a"], NOW + timedelta(hours=1))
    assert "consent_signature" in {d["kind"] for d in consent.check(ledger, w["issuer"])}


def test_insider_repointing_a_grant_to_another_purpose_consent_is_not_served(ledger: Any,
                                                                             world: dict[str, Any]) -> None:
    """The recipient widening the purpose after consent: the subject consented to INS for a claim and, separately,
    for underwriting; a grant made on the claim consent is re-pointed (consent_grant row edited, purpose too) to
    the other consent. Reads must stop: the grant's logged creation names the consent it was made on."""
    w = world
    claim = give(ledger, w["a"], "INS", NOW, fields=["subject.name"])
    _grant(ledger, w, w["a"], consent=claim.id)
    underwriting = give(ledger, w["a"], "INS", NOW, purpose_code="underwriting", fields=["subject.name"])
    grant = _grant(ledger, w, w["a"], consent=underwriting.id, purpose_code="underwriting")
    assert _read(ledger, w["a"], NOW).grant is not None
    consent.withdraw(ledger, assertion=assertion(ledger, identifier(w["a"]), NOW), consent_id=claim.id, now=NOW,
                     providers=PROVIDERS)
    second = give(ledger, w["a"], "INS", NOW, purpose_code="marketing", fields=["subject.name"])
    with ledger.engine.begin() as conn:
        conn.execute(update(consent.ConsentGrant).where(consent.ConsentGrant.grant_id == grant.id).values(
            consent_id=second.id, purpose_code="marketing"))
        conn.execute(update(consent.Consent).where(consent.Consent.id == underwriting.id).values(
            withdrawn_at=NOW))  # the subject had withdrawn the underwriting consent; the insider re-points
    with pytest.raises(PermissionDenied, match="not made on consent"):
        _read(ledger, w["a"], NOW + timedelta(seconds=1))
