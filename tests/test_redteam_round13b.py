"""Red team, round 13b: an insider with database access, and a relay passing the data subject's messages on.

1. Grant rows were believed as the database held them. ``fetch_content`` served a department through any live
   grant row whose consent (if it needed one) still held, so an insider (a DBA colluding with the grantee) could
   set a revoked grant's ``revoked_at`` back to NULL, move an expired grant's ``expires_at`` forward or point a
   grant that needs no consent at another department, and the grantee read the certificate again, although the
   issuer's anchored access log records the grant's revocation and the terms it was made on. Now a grant's
   creation entry records its terms (grantee, expiry, disclosed fields), and a read is served only through a grant
   whose row is the one its logged creation made and whose revocation the log does not record (grants logged
   before the terms were: their creation's text names grantee and expiry).
2. The data subject's "list my consents" assertion was good at every department's ledger. An assertion is
   addressed to the ledger by chain id and registry, which every department's ledger on the chain shares, and its
   nonce is spent in the database of the ledger that used it, while each department keeps its own database
   (docs/deploy.md). The other requests name what one ledger holds (a certificate, a consent), but the listing
   named nothing: a relay (an app, a proxy, a department's gateway) the person asked to list their consents at one
   ledger could send the same assertion to every other ledger and read there which certificates the person
   consented to share, with whom, for what purpose (in the person's own words) and until when. Now the listing
   request names the ledger by its consent key (the ``signer`` of every consent it records); an assertion of the
   old listing request is refused with the request to sign instead.
3. A certificate row's issuer column was the only word on whose certificate it is. An insider who set a row's
   ``department_id`` to a colluding department handed that department the whole certificate as "its own"
   (``GET /certificates/{digest}/content``, logged in the colluder's access log, where neither the real issuer nor
   the data subject looks), the right to share it on, and the lists of the real issuer's grants and the person's
   consents on it (purposes in their own words); only ``ledger reconcile`` reported the row. The sealed body is
   bound to the digest and, in the per-certificate layout, to the issuing department's key: now every request
   that relies on the row's issuer being the certificate's (an issuer's read, a grant, a grantee's read, a
   consent, the issuer-only lists and status changes) compares it with the issuer its sealed fields state, and is
   refused when they differ.
4. Whether a case's permit still stands was read from the store's status column. An insider (colluding with the
   permit's holder) who marked a valid permit ``revoked`` in the database alone made the case's refusal withdraw
   nothing (it revokes the permits it finds live), so the permit stayed valid on chain for a refused case, and let
   an approving override issue a second live permit beside it; only replay and reconcile reported it afterwards.
   Now a permit's standing is its status on chain.

Each hole found was written first as a failing test, then closed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from ledger.client import Ledger, department_key_name
from ledger.errors import InputError, StateError
from ledger.services import accesslog, consent, decisions, permits, sharing
from ledger.services.auth import Attempt, PermissionDenied, Principal
from ledger.services.verify import ChainView, verify_certificate
from ledger.storage.keys import Keystore
from ledger.storage.models import Grant
from ledger.storage.store import Certificate, open_engine, private_directory

from .api_support import UNLIMITED, issue, problem_body
from .cli_support import run_cli
from .conftest import PASSPHRASE, make_settings
from .consent_support import (
    NOW,
    PROVIDERS,
    PROVIDERS_ENV,
    assertion,
    consent_world,  # noqa: F401 - the world fixture
    give,
    grant,
    identifier,
    read_as,
    written_grant,
)
from .gateway_process import gateway
from .permit_support import application as permit_application
from .permit_support import permit_rules


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
    old = written_grant(ledger, w, "0ld" + "a" * 21, w["b"], purpose="claim", reveal=["id"])
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


@pytest.fixture(name="elsewhere")
def another_departments_ledger(ledger: Ledger, fresh_department: str, tmp_path: Path) -> Iterator[Ledger]:
    """A department's own ledger (docs/deploy.md: each department keeps its own database) on the shared chain:
    its own data directory, database, vault and keystore, holding only that department's key."""
    settings = make_settings(tmp_path / "elsewhere")
    private_directory(settings.data_dir)
    private_directory(settings.keys_dir)
    name = department_key_name(fresh_department)
    shutil.copy(ledger.settings.keys_dir / f"{name}.json", settings.keys_dir / f"{name}.json")
    other = Ledger(
        settings=settings,
        chain=ledger.chain,
        engine=open_engine(settings.db_url),
        keystore=Keystore(settings.keys_dir, kdf_n=settings.keystore_kdf_n, kdf_floor=settings.keystore_kdf_floor),
        passphrase=PASSPHRASE,
    )
    try:
        yield other
    finally:
        other.engine.dispose()


def test_a_listing_assertion_lists_the_persons_consents_at_one_ledger_only(
    ledger: Ledger, elsewhere: Ledger, fresh_department: str
) -> None:
    # the person's licence, kept by its department's own ledger, shared with INS on the person's consent there
    doc = issue(elsewhere, fresh_department, 1)[0]
    person = identifier(doc)
    there = give(elsewhere, doc, "INS", NOW, purpose_text="claim for my daughter's treatment")
    assert consent.audience(elsewhere) == consent.audience(ledger)  # one chain, one registry: one audience

    # the person asks (through a relay) to list their consents at the session's ledger
    signed = assertion(ledger, person, NOW, consent.listing_request(ledger))
    listed_here = consent.list_consents(ledger, assertion=signed, now=NOW, providers=PROVIDERS)
    assert there.id not in [c.id for c in listed_here]  # (other tests' consents of the same ID number may be)
    # the relay sends the same assertion on to the other department's ledger, where its nonce is unspent
    with pytest.raises(PermissionDenied, match="another request"):
        consent.list_consents(elsewhere, assertion=signed, now=NOW, providers=PROVIDERS)
    # an assertion of the listing as it was (naming no ledger) is refused everywhere, saying what to sign instead
    unbound = assertion(elsewhere, person, NOW, {"type": consent.REQUEST_TYPE, "action": "list-consents"})
    with pytest.raises(InputError, match="names no ledger") as refused:
        consent.list_consents(elsewhere, assertion=unbound, now=NOW, providers=PROVIDERS)
    assert consent.request_digest(consent.listing_request(elsewhere)) in str(refused.value)

    # the person's own listing there, bound to that ledger, lists the consent given there
    own = assertion(elsewhere, person, NOW, consent.listing_request(elsewhere))
    assert [c.id for c in consent.list_consents(elsewhere, assertion=own, now=NOW, providers=PROVIDERS)] == [there.id]
    # the CLI prints the request a provider signs, naming the ledger it opens
    printed = run_cli(ledger, "consent", "list", "--request-only", **{consent.PROVIDERS_ENV: PROVIDERS_ENV})
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout)["request"] == consent.listing_request(ledger)


def test_the_gateway_refuses_a_listing_assertion_naming_no_ledger_saying_what_to_sign(ledger: Ledger) -> None:
    person = "440300198001019999"
    with gateway(ledger, env_vars={consent.PROVIDERS_ENV: PROVIDERS_ENV}, **UNLIMITED) as gw, gw.client() as c:
        # the gateway reads its own clock: the assertions are made now, not at the module's import (NOW), which the
        # whole suite may run long after their five minutes of validity
        now = datetime.now(UTC).replace(microsecond=0)
        unbound = assertion(ledger, person, now, {"type": consent.REQUEST_TYPE, "action": "list-consents"})
        bound = assertion(ledger, person, now, consent.listing_request(ledger))
        refused = problem_body(c.post("/public/consents/mine", json={"assertion": unbound.model_dump()}), 422)
        assert "names no ledger" in refused["detail"], refused
        assert consent.request_digest(consent.listing_request(ledger)) in refused["detail"]
        listed = c.post("/public/consents/mine", json={"assertion": bound.model_dump()})
        assert listed.status_code == 200 and listed.json() == [], listed.text


def test_a_certificate_row_moved_to_another_department_does_not_hand_it_the_contents(
    ledger: Ledger, world: dict[str, Any]
) -> None:
    w = world
    digest = w["a"]["digest"]
    given = give(ledger, w["a"], "INS", NOW)
    grant(ledger, w, w["a"], consent=given.id)
    colluder = "HOSP"  # an issuer department of the session, whose officer the insider helps

    def as_department(code: str) -> Attempt:
        return Attempt(Principal(code, "0x" + "22" * 20, ("issuer", "verifier"), "jti", NOW + timedelta(hours=1)))

    def move(code: str) -> None:
        with ledger.engine.begin() as conn:
            conn.execute(update(Certificate).where(Certificate.digest == digest).values(department_id=code))  # type: ignore[arg-type]

    move(colluder)
    moved = f"sealed fields were issued by '{w['issuer']}'"
    with pytest.raises(StateError, match=moved):  # read as the colluder's own certificate
        sharing.fetch_content(ledger, digest, as_department(colluder), now=NOW)
    with pytest.raises(StateError, match=moved):  # shared on by the colluder
        sharing.create_grant(
            ledger,
            issuer=colluder,
            signer=w["signer"],
            digest=digest,
            grant=sharing.GrantCreate(grantee="PSB", purpose="x", expires_at=NOW + timedelta(days=1), reveal=["id"]),
            now=NOW,
        )
    with pytest.raises(StateError, match=moved):  # its grants, consents, reads, timeline; revoke, supersede
        sharing.own_certificate(ledger, digest, colluder)
    with pytest.raises(PermissionDenied, match=moved):  # INS's grant from the real issuer is not served either
        read_as(ledger, w["a"], NOW)

    # the row put back: all is as before
    move(w["issuer"])
    assert sharing.fetch_content(ledger, digest, as_department(w["issuer"]), now=NOW).grant is None
    assert read_as(ledger, w["a"], NOW).grant is not None
    assert sharing.own_certificate(ledger, digest, w["issuer"]).department == w["issuer"]


def test_a_permit_marked_revoked_in_the_database_alone_still_counts_as_standing(
    ledger: Ledger, fresh_department: str
) -> None:
    dept = fresh_department
    rules = permit_rules(f"r13b-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    licence = issue(ledger, "MKT", 1)[0]
    identity = licence["fields"]["subject.credit_code"]

    def approved(case: str) -> tuple[decisions.Decision, str]:
        app = permit_application(case, licence)
        first = decisions.decide(ledger, dept, case, app["service_item"], app, rules, applicant_ref=identity)
        permit = first.body["issued"]["certificate"]
        with ledger.engine.begin() as conn:  # the insider: revoked in the database, valid on chain
            conn.execute(update(Certificate).where(Certificate.digest == permit).values(status="revoked"))  # type: ignore[arg-type]
        return first, permit

    def officer(case: str, outcome: str, reason: str, overrides: int, **kwargs: Any) -> decisions.Decision:
        return decisions.record_human_decision(
            ledger,
            dept,
            case,
            permit_application(case, licence)["service_item"],
            officer="officer-1",
            outcome=outcome,
            reasons=[reason],
            applicant_ref=identity,
            overrides=overrides,
            **kwargs,
        )

    def valid_on_chain(digest: str) -> bool:
        (document,) = permits.documents(ledger, [digest])
        return verify_certificate(document, ChainView(ledger.chain, 0)).ok

    # the case refused: its permit is withdrawn, revoked on chain
    first, permit = approved("FBP-13B-1")
    refusal = officer("FBP-13B-1", "reject", "PREMISES_NOT_AS_DECLARED", first.seq)
    assert refusal.body.get("withdraws") == [permit]
    assert not valid_on_chain(permit)

    # an approving override of the approved case issues no second permit beside the standing one
    first, permit = approved("FBP-13B-2")
    confirm = officer("FBP-13B-2", "approve", "OFFICER_CONFIRMED", first.seq, rule_set=rules)
    assert "issued" not in confirm.body, confirm.body
    assert permits.live(ledger, dept, "FBP-13B-2") == [permit] and valid_on_chain(permit)
