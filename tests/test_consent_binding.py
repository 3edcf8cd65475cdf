"""The subject assertion binds the request it authorizes (red team, after round 3), at the library level, against
the session's real chain and database.

Adversary: a gateway relaying another's messages. The person authenticates with their provider for one request
(consent to INS, for an insurance claim, of their name, for 60 days; or the withdrawal of one consent; or the list
of who read their certificate); the relay passes the assertion on with a request of its choosing. Each test is one
such rewrite; each is refused, nothing is recorded, and the person's assertion stays unspent for the request they
did make. The clock is passed in, never waited on.
"""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import pytest
from eth_account.messages import encode_defunct

from ledger.errors import InputError
from ledger.formats.canonical import canonical_json
from ledger.services import accesslog, consent, sharing
from ledger.services.auth import PermissionDenied
from ledger.storage.models import aware

from .consent_support import (
    NOW,
    PROVIDER_KEY,
    PROVIDERS,
    assertion,
    consent_world,  # noqa: F401 - the world fixture
    give,
    grant,
    identifier,
    read_as,
    request,
)


def _provider_signed(body: dict[str, Any]) -> consent.SignedAssertion:
    """``body`` as the configured provider signs it (for assertions of a shape sign_assertion does not make)."""
    signature = PROVIDER_KEY.sign_message(encode_defunct(primitive=canonical_json(body))).signature
    return consent.SignedAssertion(assertion=body, signature="0x" + bytes(signature).hex())


def _nothing_recorded(ledger: Any, w: dict[str, Any]) -> None:
    assert consent.list_consents(ledger, issuer=w["issuer"]) == []
    assert accesslog.entries(ledger, department=w["issuer"]) == []


def test_a_relay_cannot_change_recipient_fields_expiry_or_purpose(ledger: Any, world: dict[str, Any]) -> None:
    """The relay keeps the person's assertion and rewrites the consent request it came with: another recipient,
    more fields, a longer expiry, another purpose (code or words), another certificate of the same person."""
    w = world
    asked = request(w["a"], "INS", NOW, fields=["subject.name"])
    signed = assertion(ledger, identifier(w["a"]), NOW, asked)
    personal = sorted(f for f in w["a"]["fields"] if f.startswith("subject."))
    rewrites: list[dict[str, Any]] = [
        {"recipient": "PSB"},
        {"fields": personal},
        {"fields": ["subject.name", "subject.id_number"]},
        {"expires_at": NOW + timedelta(days=5 * 365)},
        {"purpose_code": "marketing"},
        {"purpose_text": "anything the relay likes"},
        {"certificate": w["b"]["digest"]},
    ]
    for changes in rewrites:
        with pytest.raises(PermissionDenied, match="another request") as refused:
            consent.give(
                ledger, assertion=signed, consent=asked.model_copy(update=changes), now=NOW, providers=PROVIDERS
            )
        assert "ask the provider" in str(refused.value), changes
    # the relay rewrites the bound digest too: the provider's signature no longer matches
    forged = consent.SignedAssertion(
        assertion={
            **signed.assertion,
            "request": consent.request_digest(consent.consent_request(asked.model_copy(update={"recipient": "PSB"}))),
        },
        signature=signed.signature,
    )
    with pytest.raises(PermissionDenied, match="not signed by provider"):
        consent.give(
            ledger,
            assertion=forged,
            consent=asked.model_copy(update={"recipient": "PSB"}),
            now=NOW,
            providers=PROVIDERS,
        )
    _nothing_recorded(ledger, w)
    # none of the refusals spent the assertion: the request the person made goes through, exactly as made
    given = consent.give(ledger, assertion=signed, consent=asked, now=NOW, providers=PROVIDERS)
    assert (given.recipient, given.fields, given.purpose_code) == ("INS", ["subject.name"], "insurance-claim")
    assert aware(given.expires_at) == asked.expires_at
    with pytest.raises(PermissionDenied, match="used already"):
        consent.give(ledger, assertion=signed, consent=asked, now=NOW, providers=PROVIDERS)


def test_order_and_spelling_that_do_not_change_the_meaning_still_match(ledger: Any, world: dict[str, Any]) -> None:
    """The canonical request: the same fields in another order or repeated, the same instant in another zone, the
    digest in capitals, bind the same request (a relay reformatting JSON does not break a genuine consent)."""
    w = world
    asked = request(w["a"], "INS", NOW, fields=["subject.name", "subject.id_number"])
    signed = assertion(ledger, identifier(w["a"]), NOW, asked)
    same = asked.model_copy(
        update={
            "fields": ["subject.id_number", "subject.name", "subject.name"],
            "expires_at": asked.expires_at.astimezone(timezone(timedelta(hours=8))),
            "certificate": "0x" + asked.certificate[2:].upper(),
        }
    )
    assert consent.request_digest(consent.consent_request(same)) == consent.request_digest(
        consent.consent_request(asked)
    )
    assert consent.give(ledger, assertion=signed, consent=same, now=NOW, providers=PROVIDERS).id


def test_a_withdrawal_assertion_is_not_a_consent(ledger: Any, world: dict[str, Any]) -> None:
    """The person authenticates to withdraw consent X; the relay uses that assertion to give a new consent (to a
    recipient of its choosing), or to withdraw another consent Y of the same person instead."""
    w, who = world, identifier(world["a"])
    x = give(ledger, w["a"], "INS", NOW)
    y = give(ledger, w["a"], "PSB", NOW, purpose_code="benefit-check")
    leave_x = assertion(ledger, who, NOW, consent.withdrawal_request(x.id))
    with pytest.raises(PermissionDenied, match="another request"):
        consent.give(ledger, assertion=leave_x, consent=request(w["a"], "PSB", NOW), now=NOW, providers=PROVIDERS)
    with pytest.raises(PermissionDenied, match="another request"):
        consent.withdraw(ledger, assertion=leave_x, consent_id=y.id, now=NOW, providers=PROVIDERS)
    # and the other way round: an assertion for a consent does not withdraw one
    to_give = request(w["a"], "INS", NOW)
    with pytest.raises(PermissionDenied, match="another request"):
        consent.withdraw(
            ledger, assertion=assertion(ledger, who, NOW, to_give), consent_id=x.id, now=NOW, providers=PROVIDERS
        )
    # both given at NOW: a list orders consents given at one instant by id
    assert [c.id for c in consent.list_consents(ledger, issuer=w["issuer"])] == sorted([x.id, y.id])
    assert all(c.withdrawn_at is None for c in consent.list_consents(ledger, issuer=w["issuer"]))
    # the withdrawal the person asked for still works with their assertion, once
    done = consent.withdraw(ledger, assertion=leave_x, consent_id=x.id, now=NOW, providers=PROVIDERS)
    assert done.withdrawn_at is not None
    assert consent.load(ledger, y.id).withdrawn_at is None  # type: ignore[union-attr]


def test_an_assertion_for_request_a_does_not_serve_request_b(ledger: Any, world: dict[str, Any]) -> None:
    """The relay holds assertions the person made for earlier, other requests (a consent to INS, the list of their
    consents, the list of who read the certificate) and tries each with request B; and an old-style assertion
    that binds no request at all."""
    w, who = world, identifier(world["a"])
    a = request(w["a"], "INS", NOW)
    b = request(w["a"], "PSB", NOW, purpose_code="benefit-check", fields=["subject.name"])
    for bound in (a, consent.listing_request(ledger), consent.accesses_request(w["a"]["digest"])):
        with pytest.raises(PermissionDenied, match="another request"):
            consent.give(ledger, assertion=assertion(ledger, who, NOW, bound), consent=b, now=NOW, providers=PROVIDERS)
    with pytest.raises(PermissionDenied, match="another request"):
        consent.list_consents(ledger, assertion=assertion(ledger, who, NOW, a), now=NOW, providers=PROVIDERS)
    body = {k: v for k, v in assertion(ledger, who, NOW, a).assertion.items() if k != "request"}
    old = _provider_signed({**body, "type": "pl-subject-assertion/1"})  # the format before binding
    with pytest.raises(InputError, match="binds no request") as refused:
        consent.give(ledger, assertion=old, consent=a, now=NOW, providers=PROVIDERS)
    assert refused.value.field == "assertion.type"
    missing = _provider_signed(body)
    with pytest.raises(InputError) as refused:
        consent.give(ledger, assertion=missing, consent=a, now=NOW, providers=PROVIDERS)
    assert refused.value.field == "assertion.request"
    _nothing_recorded(ledger, w)


def test_a_grantee_holding_the_whole_certificate_cannot_list_the_others_reads(
    ledger: Any, world: dict[str, Any]
) -> None:
    """Adversary: a department granted the whole certificate (every field and salt) asks who else read it. The
    complete file is no proof of being the person any more: the list needs the subject's own assertion, bound to
    this certificate's list."""
    w, who = world, identifier(world["a"])
    full = give(ledger, w["a"], "INS", NOW)
    grant(ledger, w, w["a"], consent=full.id, reveal=None)
    psb = give(ledger, w["a"], "PSB", NOW, purpose_code="benefit-check", fields=["subject.name"])
    grant(ledger, w, w["a"], grantee="PSB", purpose="benefit check 7", purpose_code="benefit-check", consent=psb.id)
    held = read_as(ledger, w["a"], NOW).document  # INS reads the whole certificate, salts and all
    assert not held.get("hidden") and held["digest"] == w["a"]["digest"]
    read_as(ledger, w["a"], NOW, department="PSB")
    # an assertion INS gets for someone else (person B, or A's own for another request) is refused
    for signed in (
        assertion(ledger, identifier(w["b"]), NOW, consent.accesses_request(w["a"]["digest"])),
        assertion(ledger, who, NOW, consent.accesses_request(w["b"]["digest"])),
        assertion(ledger, who, NOW, consent.listing_request(ledger)),
    ):
        with pytest.raises(PermissionDenied):
            sharing.subject_accesses(ledger, digest=w["a"]["digest"], assertion=signed, now=NOW, providers=PROVIDERS)
    # the person sees every read, with each department's purpose; once per assertion
    mine = assertion(ledger, who, NOW, consent.accesses_request(w["a"]["digest"]))
    seen = sharing.subject_accesses(ledger, digest=w["a"]["digest"], assertion=mine, now=NOW, providers=PROVIDERS)
    assert {(e["actor"], e["purpose"]) for e in seen if e["action"] == "read"} == {
        ("INS", "claim 2026-0042"),
        ("PSB", "benefit check 7"),
    }
    with pytest.raises(PermissionDenied, match="used already"):
        sharing.subject_accesses(ledger, digest=w["a"]["digest"], assertion=mine, now=NOW, providers=PROVIDERS)


def test_after_erasure_the_subject_list_answers_erased_and_spends_nothing(ledger: Any, world: dict[str, Any]) -> None:
    """The limit docs/privacy.md states: once the issuer erased the certificate, the ledger cannot tell who its
    subject is, so the person's list answers ErasedError (and the assertion is kept); the issuer still lists."""
    from ledger.errors import ErasedError
    from ledger.services import erasure

    w = world
    give(ledger, w["a"], "INS", NOW)
    erasure.erase(ledger, w["a"]["digest"], basis="consent-withdrawn", by="officer-bind")
    mine = assertion(ledger, identifier(w["a"]), NOW, consent.accesses_request(w["a"]["digest"]))
    for _ in range(2):
        with pytest.raises(ErasedError):
            sharing.subject_accesses(ledger, digest=w["a"]["digest"], assertion=mine, now=NOW, providers=PROVIDERS)
    assert [e["action"] for e in accesslog.entries(ledger, department=w["issuer"], certificate=w["a"]["digest"])] == [
        "consent"
    ]
