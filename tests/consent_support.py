"""The data subject's side in tests: an authentication provider (its own key, as the department's ID service
would hold) that signs subject assertions, and a helper giving consent through the library.

The provider's key is a test constant: it plays an outside service, not a key of the ledger.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eth_account import Account

from ledger.client import Ledger
from ledger.services import consent, sharing
from ledger.services.auth import Attempt, Principal

from .api_support import issue

PROVIDER_NAME = "gov-id-app"
ASSURANCE = "substantial"
PROVIDER_KEY = Account.from_key("0x" + "5a" * 32)
PROVIDERS = {PROVIDER_NAME: consent.Provider(PROVIDER_NAME, PROVIDER_KEY.address, ASSURANCE)}
PROVIDERS_ENV = f"{PROVIDER_NAME}={PROVIDER_KEY.address}@{ASSURANCE}"  # LEDGER_CONSENT_PROVIDERS for a gateway
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(name="world")
def consent_world(ledger: Any, fresh_department: str) -> dict[str, Any]:
    """A fresh issuer (its access log is this test's alone), two certificates of two different people."""
    docs = issue(ledger, fresh_department, 2)
    assert identifier(docs[0]) != identifier(docs[1])
    return {"issuer": fresh_department, "a": docs[0], "b": docs[1], "signer": "0x" + "00" * 20}


def grant(ledger: Any, w: dict[str, Any], doc: dict[str, Any], now: datetime = NOW, **changes: Any) -> sharing.Grant:
    """The issuer's grant to INS of ``doc``'s name for an insurance claim (``changes`` override the request)."""
    body: dict[str, Any] = {
        "grantee": "INS",
        "purpose": "claim 2026-0042",
        "purpose_code": "insurance-claim",
        "expires_at": now + timedelta(days=1),
        "reveal": ["subject.name"],
        **changes,
    }
    return sharing.create_grant(
        ledger, issuer=w["issuer"], signer=w["signer"], digest=doc["digest"], grant=sharing.GrantCreate(**body), now=now
    )


def read_as(ledger: Any, doc: dict[str, Any], now: datetime, department: str = "INS") -> sharing.Content:
    """A signed-in verifier of ``department`` reading ``doc``'s shared content at ``now``."""
    principal = Principal(department, "0x" + "11" * 20, ("verifier",), "jti", now + timedelta(hours=1))
    return sharing.fetch_content(ledger, doc["digest"], Attempt(principal), now=now)


def identifier(document: dict[str, Any]) -> str:
    """What the provider authenticated: the person's ID number, as the certificate holds it."""
    return str(document["fields"]["subject.id_number"])


def assertion(
    ledger: Ledger,
    subject: str,
    now: datetime,
    bound: consent.ConsentCreate | dict[str, Any],
    *,
    account: Any = PROVIDER_KEY,
    provider: str = PROVIDER_NAME,
    assurance: str = ASSURANCE,
    audience: str | None = None,
    lifetime: timedelta = timedelta(minutes=5),
) -> consent.SignedAssertion:
    """The provider's assertion that ``subject`` authenticated and asked for ``bound``: a consent request, or a
    canonical request (``consent.withdrawal_request(id)``, ``listing_request(ledger)``,
    ``accesses_request(digest)``)."""
    canonical = consent.consent_request(bound) if isinstance(bound, consent.ConsentCreate) else bound
    return consent.sign_assertion(
        account,
        provider=provider,
        subject=subject,
        assurance=assurance,
        audience=audience or consent.audience(ledger),
        issued_at=now,
        request=canonical,
        lifetime=lifetime,
    )


def request(document: dict[str, Any], recipient: str, now: datetime, **changes: Any) -> consent.ConsentCreate:
    body: dict[str, Any] = {
        "certificate": document["digest"],
        "recipient": recipient,
        "purpose_code": "insurance-claim",
        "purpose_text": "medical insurance claim 2026-0042",
        "fields": sorted(f for f in document["fields"] if f.startswith("subject.")),
        "expires_at": now + timedelta(days=60),
        **changes,
    }
    return consent.ConsentCreate(**body)


def give(ledger: Ledger, document: dict[str, Any], recipient: str, now: datetime, **changes: Any) -> consent.Consent:
    """The certificate's subject consents (all personal fields to ``recipient`` for insurance-claim)."""
    asked = request(document, recipient, now, **changes)
    return consent.give(
        ledger,
        assertion=assertion(ledger, identifier(document), now, asked),
        consent=asked,
        now=now,
        providers=PROVIDERS,
    )


def written_grant(ledger: Ledger, w: dict[str, Any], grant_id: str, doc: dict[str, Any], **terms: Any) -> sharing.Grant:
    """A grant row to INS on ``doc`` that an insider writes into the database itself (nothing logged), valid from
    NOW for a day; ``terms`` override its purpose, reveal and so on."""
    row = sharing.Grant(
        id=grant_id,
        digest=doc["digest"],
        issuer=w["issuer"],
        grantee="INS",
        expires_at=NOW + timedelta(days=1),
        created_by=w["signer"],
        created_at=NOW,
        **{"purpose": "x", "reveal": ["subject.name"], **terms},
    )
    with ledger.engine.begin() as conn:
        conn.execute(sharing.Grant.__table__.insert().values(**row.model_dump()))  # type: ignore[attr-defined]
    return row
