"""Red team round 80: an insider with database access, and a department acting outside its authority, against the
gateway and the stores.

1. A grant's free-text purpose was the row's word. A read through a grant is held to the grant its creation entry in
   the issuer's anchored access log records (round 13: grantee, expiry, disclosed fields, its revocation), but not
   to its purpose, which that entry keeps as a hash keyed by the grant's salt. An insider (a DBA colluding with the
   grantee) who rewrote a live grant's ``purpose`` had every read through it served, and logged under the purpose
   they wrote: the data subject's list of who read their certificate and why, the issuer's access listing and the
   grantee's list of grants named the insider's purpose, and the grant listings and ``ledger reconcile`` called
   the grant intact. Writing the erasure's marker in its place (``(erased)``, no salt) on a live certificate had
   the reads logged with no purpose at all. A grant's row must now state the purpose its logged creation hashed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from ledger.client import Ledger
from ledger.services import accesslog, reconcile, sharing
from ledger.services.auth import PermissionDenied
from ledger.storage.models import GRANT_PURPOSE_ERASED, Grant

from .consent_support import NOW, consent_world, grant, read_as  # noqa: F401 - the world fixture


def _edit_grant(ledger: Ledger, grant_id: str, **values: Any) -> None:
    """What an insider with write access to the database does to a grant row."""
    with ledger.engine.begin() as conn:
        conn.execute(update(Grant).where(Grant.id == grant_id).values(**values))  # type: ignore[arg-type]


# -- 1. a grant's purpose rewritten in the database ----------------------------------------------------------------


@pytest.mark.parametrize(
    "edit",
    [
        {"purpose": "court order 17/2026 (criminal investigation)"},
        {"purpose": GRANT_PURPOSE_ERASED, "purpose_salt": None},
    ],
    ids=["rewritten", "marked-erased"],
)
def test_a_grant_whose_purpose_an_insider_rewrote_is_not_served_and_is_named(
    ledger: Ledger, world: dict[str, Any], edit: dict[str, Any]
) -> None:
    """Adversary: an insider with database access (colluding with the grantee, or covering for it) rewriting the
    purpose of a live grant that needs no consent, so that the reads through it are logged, and shown to the data
    subject and the issuer, under a purpose the issuer never stated (or under none). The read is refused naming
    the purpose, the listings show the grant not live, reconcile reports ``grant_altered``; put back, it serves."""
    w = world
    made = grant(ledger, w, w["b"], reveal=["id"], purpose_code=None)  # "claim 2026-0042", no personal field
    assert read_as(ledger, w["b"], NOW).grant is not None
    _edit_grant(ledger, made.id, **edit)
    try:
        with pytest.raises(PermissionDenied, match="purpose"):
            read_as(ledger, w["b"], NOW + timedelta(seconds=1))
        (listed,) = sharing.listed(ledger, sharing.list_grants(ledger, digest=w["b"]["digest"]), NOW)
        assert not listed.live and listed.problem is not None and "purpose" in listed.problem
        found = reconcile.reconcile(ledger, departments=[w["issuer"]], check_bodies=False)
        assert ("grant_altered", w["b"]["digest"]) in {(d.kind, d.certificate) for d in found.divergences}, found
    finally:
        _edit_grant(ledger, made.id, purpose=made.purpose, purpose_salt=made.purpose_salt)
    # no read was served, so none was logged under the insider's purpose (nor under none): the one read before the
    # edit, shown with the issuer's purpose
    assert _served_purposes(ledger, w) == ["claim 2026-0042"]
    assert read_as(ledger, w["b"], NOW + timedelta(seconds=2)).grant is not None
    assert _served_purposes(ledger, w) == ["claim 2026-0042"] * 2


def _served_purposes(ledger: Ledger, w: dict[str, Any]) -> list[Any]:
    """The purpose each served read of ``w["b"]`` is listed under, oldest first."""
    return [
        e.get("purpose")
        for e in accesslog.entries(ledger, department=w["issuer"], certificate=w["b"]["digest"])
        if e.get("action") == "read" and e.get("outcome") == "served"
    ]
