"""Red team, round 61: an insider with database access and the chain's operator rewriting history, against the
provenance timeline (the public one citizens and courts read, its page, the issuer's full one).

Holes (each test failed before its fix):

1. The timeline's "issued" event took its moment from the store row's ``issued_at`` column, which nothing binds to
   the digest: an insider re-dating the row (years back, or after the anchoring) had every timeline say the
   certificate was issued then, where the certificate itself (its sealed fields, the holder's document) states
   another moment. The moment now comes from the sealed fields, as the timeline's type has since round 9.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.services import provenance
from ledger.storage.models import Certificate

from .api_support import Clock, issue, make_client
from .insider_support import insider_edit


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _issued(timeline: dict[str, Any]) -> dict[str, Any]:
    (event,) = [e for e in timeline["events"] if e["kind"] == "issued"]
    return event


# -- 1. the issuance moment the store row states ----------------------------------------------------------------------


@pytest.mark.parametrize("moment", ["2019-03-01T08:00:00Z", "2099-12-31T23:59:59Z"])
def test_an_insider_redating_a_certificates_row_does_not_redate_its_issuance_on_the_timeline(
    ledger: Ledger, fresh_department: str, moment: str
) -> None:
    """Adversary: an insider with database access (no keys). The certificate states when it was issued (its sealed
    ``issued_at``, disclosed in the holder's document); the insider writes another moment into the store row's
    ``issued_at`` column - years back, to make a licence look older than it is, or after its anchoring. Every
    timeline (public, its page, the full one) must keep saying the moment the certificate states."""
    (doc,) = issue(ledger, fresh_department, 1)
    stated = doc["fields"]["issued_at"]
    assert _issued(provenance.timeline(ledger, doc["digest"], now=_now()))["at"] == stated
    client = make_client(ledger, Clock())
    with insider_edit(ledger, Certificate, Certificate.digest, doc["digest"], issued_at=moment):
        for private in (False, True):
            shown = provenance.timeline(ledger, doc["digest"], now=_now(), private=private)
            assert _issued(shown)["at"] == stated, shown
        public = client.get(f"/public/certificates/{doc['digest']}/timeline")
        assert public.status_code == 200, public.text
        assert _issued(public.json())["at"] == stated
        assert moment[:4] not in client.get(f"/public/certificates/{doc['digest']}/timeline.html").text
