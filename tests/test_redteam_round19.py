"""Red team, round 19: the whole product, with the paged lists, the replay worker, the view memos and the bulk
writes of the last session looked at first.

1. ``POST /public/consents/mine`` (``consent.list_consents`` with an assertion) spent the person's assertion before
   it looked at the page asked for: a cursor naming no consent of the person's list (a typo, a consent of someone
   else, a page link kept from another listing) was refused with a 422, and the assertion was gone with it. Every
   other subject request (giving consent, the holder's list of reads) checks the request before it spends; the
   listing now does too.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.services import consent

from . import consent_support
from .api_support import issue


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_a_listing_refused_for_its_cursor_does_not_cost_the_person_their_assertion(
    ledger: Ledger, fresh_department: str
) -> None:
    (doc,) = issue(ledger, fresh_department, 1)
    now = _now()
    given = consent_support.give(ledger, doc, "INS", now)
    signed = consent_support.assertion(ledger, consent_support.identifier(doc), now, consent.listing_request(ledger))
    with pytest.raises(InputError) as refused:
        consent.list_consents(
            ledger, assertion=signed, now=now, providers=consent_support.PROVIDERS, after="f" * 24, limit=10
        )
    assert refused.value.field == "after"
    # the same assertion, with a cursor that is right, still lists the person's consents
    listed = consent.list_consents(ledger, assertion=signed, now=now, providers=consent_support.PROVIDERS, limit=10)
    assert given.id in {c.id for c in listed}
