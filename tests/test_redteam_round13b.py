"""Red team, round 13b: an insider with database access, and a relay passing the data subject's messages on.

1. Grant rows were believed as the database held them. ``fetch_content`` served a department through any live
   grant row whose consent (if it needed one) still held, so an insider (a DBA colluding with the grantee) could
   set a revoked grant's ``revoked_at`` back to NULL, move an expired grant's ``expires_at`` forward or point a
   grant that needs no consent at another department, and the grantee read the certificate again, although the
   issuer's anchored access log records the grant's revocation and the terms it was made on. Now a grant's
   creation entry records its terms (grantee, expiry, disclosed fields), and a read is served only through a grant
   whose row is the one its logged creation made and whose revocation the log does not record (grants logged
   before the terms were: their creation's text names grantee and expiry).

Each hole found was written first as a failing test, then closed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from ledger.services import accesslog, sharing
from ledger.services.auth import PermissionDenied
from ledger.storage.models import Grant

from .consent_support import (
    NOW,
    consent_world,  # noqa: F401 - the world fixture
    give,
    grant,
    read_as,
)


def _edit_grant(ledger: Any, grant_id: str, **values: Any) -> None:
    """What an insider with write access to the database does to a grant row."""
    with ledger.engine.begin() as conn:
        conn.execute(update(Grant).where(Grant.id == grant_id).values(**values))  # type: ignore[arg-type]


def _last_refusal(ledger: Any, issuer: str) -> str:
    refused = [e for e in accesslog.entries(ledger, department=issuer) if e.get("outcome") == "refused"]
    return str(refused[-1]["detail"])


def test_a_grant_revived_extended_or_pointed_elsewhere_in_the_database_is_not_served(
    ledger: Any, world: dict[str, Any]
) -> None:
    w = world
    given = give(ledger, w["a"], "INS", NOW)  # the person's consent holds for 60 days throughout

    # revoked by the issuer, revived by the insider
    revoked = grant(ledger, w, w["a"], consent=given.id)
    assert read_as(ledger, w["a"], NOW).grant is not None
    sharing.revoke_grant(ledger, issuer=w["issuer"], signer=w["signer"], grant_id=revoked.id, now=NOW)
    with pytest.raises(PermissionDenied):
        read_as(ledger, w["a"], NOW)
    _edit_grant(ledger, revoked.id, revoked_at=None, revoked_by=None)
    with pytest.raises(PermissionDenied, match="revoked"):
        read_as(ledger, w["a"], NOW + timedelta(seconds=1))
    assert "revoked" in _last_refusal(ledger, w["issuer"])

    # expired after a day, extended by the insider to the consent's end
    later = NOW + timedelta(days=2)
    expired = grant(ledger, w, w["a"], consent=given.id, expires_at=NOW + timedelta(days=1))
    _edit_grant(ledger, revoked.id, revoked_at=NOW)  # leave only the grant under test live
    with pytest.raises(PermissionDenied):
        read_as(ledger, w["a"], later)
    _edit_grant(ledger, expired.id, expires_at=NOW + timedelta(days=50))
    with pytest.raises(PermissionDenied, match="expires_at"):
        read_as(ledger, w["a"], later)

    # a grant disclosing no personal field (no consent needed), pointed at another department
    plain = grant(ledger, w, w["b"], reveal=["id"], purpose_code=None)
    assert read_as(ledger, w["b"], NOW).grant is not None
    _edit_grant(ledger, plain.id, grantee="PSB")
    with pytest.raises(PermissionDenied, match="grantee"):
        read_as(ledger, w["b"], NOW, department="PSB")
    # ... or widened to more fields than it was made for
    _edit_grant(ledger, plain.id, grantee="INS", reveal=["id", "valid_from"])
    with pytest.raises(PermissionDenied, match="reveal"):
        read_as(ledger, w["b"], NOW)

    # the honest grants still serve: an unedited one, and one whose row is put back as logged
    _edit_grant(ledger, plain.id, reveal=["id"])
    assert read_as(ledger, w["b"], NOW).grant is not None


def test_a_grant_logged_before_its_terms_were_is_held_to_the_grantee_and_expiry_its_entry_names(
    ledger: Any, world: dict[str, Any]
) -> None:
    """A grant made before this round: its creation entry's text alone states grantee and expiry."""
    w = world
    old = Grant(
        id="0ld" + "a" * 21,
        digest=w["b"]["digest"],
        issuer=w["issuer"],
        grantee="INS",
        purpose="claim",
        expires_at=NOW + timedelta(days=1),
        reveal=["id"],
        created_by=w["signer"],
        created_at=NOW,
    )
    with ledger.engine.begin() as conn:
        conn.execute(Grant.__table__.insert().values(**old.model_dump()))  # type: ignore[attr-defined]
    with pytest.raises(PermissionDenied, match="no logged creation"):
        read_as(ledger, w["b"], NOW)
    accesslog.record(  # what create_grant logged until now
        ledger,
        certificate=old.digest,
        issuer=w["issuer"],
        action="grant",
        outcome="recorded",
        actor=w["issuer"],
        signer=w["signer"],
        at=NOW,
        grant_id=old.id,
        purpose_text=old.purpose,
        detail=f"shared with INS until {(NOW + timedelta(days=1)).isoformat()}",
    )
    assert read_as(ledger, w["b"], NOW).grant is not None
    _edit_grant(ledger, old.id, expires_at=NOW + timedelta(days=30))
    with pytest.raises(PermissionDenied, match="expires_at"):
        read_as(ledger, w["b"], NOW + timedelta(days=2))
