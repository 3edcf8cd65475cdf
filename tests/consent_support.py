"""The data subject's side in tests: an authentication provider (its own key, as the department's ID service
would hold) that signs subject assertions, and a helper giving consent through the library.

The provider's key is a test constant: it plays an outside service, not a key of the ledger.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from eth_account import Account

from ledger import consent
from ledger.client import Ledger

PROVIDER_NAME = "gov-id-app"
ASSURANCE = "substantial"
PROVIDER_KEY = Account.from_key("0x" + "5a" * 32)
PROVIDERS = {PROVIDER_NAME: consent.Provider(PROVIDER_NAME, PROVIDER_KEY.address, ASSURANCE)}
PROVIDERS_ENV = f"{PROVIDER_NAME}={PROVIDER_KEY.address}@{ASSURANCE}"  # LEDGER_CONSENT_PROVIDERS for a gateway


def identifier(document: dict[str, Any]) -> str:
    """What the provider authenticated: the person's ID number, as the certificate holds it."""
    return str(document["fields"]["subject.id_number"])


def assertion(ledger: Ledger, subject: str, now: datetime, *, account: Any = PROVIDER_KEY,
              provider: str = PROVIDER_NAME, assurance: str = ASSURANCE, audience: str | None = None,
              lifetime: timedelta = timedelta(minutes=5)) -> consent.SignedAssertion:
    return consent.sign_assertion(account, provider=provider, subject=subject, assurance=assurance,
                                  audience=audience or consent.audience(ledger), issued_at=now, lifetime=lifetime)


def request(document: dict[str, Any], recipient: str, now: datetime, **changes: Any) -> consent.ConsentCreate:
    body: dict[str, Any] = {
        "certificate": document["digest"], "recipient": recipient, "purpose_code": "insurance-claim",
        "purpose_text": "medical insurance claim 2026-0042",
        "fields": sorted(f for f in document["fields"] if f.startswith("subject.")),
        "expires_at": now + timedelta(days=60), **changes}
    return consent.ConsentCreate(**body)


def give(ledger: Ledger, document: dict[str, Any], recipient: str, now: datetime, **changes: Any) -> consent.Consent:
    """The certificate's subject consents (all personal fields to ``recipient`` for insurance-claim)."""
    consent.ensure_tables(ledger.engine)
    return consent.give(ledger, assertion=assertion(ledger, identifier(document), now),
                        consent=request(document, recipient, now, **changes), now=now, providers=PROVIDERS)
