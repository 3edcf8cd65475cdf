"""Red team, round 19: the whole product, with the paged lists, the replay worker, the view memos and the bulk
writes of the last session looked at first.

1. ``POST /public/consents/mine`` (``consent.list_consents`` with an assertion) spent the person's assertion before
   it looked at the page asked for: a cursor naming no consent of the person's list (a typo, a consent of someone
   else, a page link kept from another listing) was refused with a 422, and the assertion was gone with it. Every
   other subject request (giving consent, the holder's list of reads) checks the request before it spends; the
   listing now does too.
2. The provenance timeline (public, and the issuer's or auditor's full one) read the certificate's anchoring,
   signature and status from the chain for the batch its store row names, without checking that the certificate
   is in that batch. An insider who pointed a revoked certificate's row at another anchored batch of its department
   made every timeline say "valid", with the other batch's anchoring and signature shown as chain facts, while
   every verifier (the document's own proof) said revoked. The timeline now recomputes the certificate's proof from
   the batch's stored leaves, as digest verification, status changes and reconcile do, and a row that does not
   lead to its batch's root is refused (409, reconcile names it), never shown with another batch's facts.
3. The same timeline parsed the row's ``issued_at`` text as it came: an insider's edit of that one column made the
   public timeline a 500 (an unclassified error, logged as a gateway failure). The issuance event is now shown
   with its time unknown; the chain facts, which do not come from that column, are shown as before.
4. The timeline read the status history under the department the row names. Round 13 made every request relying
   on the row's issuer compare it with the issuer the sealed fields state, but the public timeline (and an
   auditor's) never asked: an insider who moved a revoked certificate's row to another department had the public
   timeline say "valid, issued by" that department. The timeline now makes the same comparison (409 naming both).
5. The public W3C status list of a batch (``GET /public/status-lists/{department}/{root}/{purpose}``) set bit i
   for the certificate the store's rows put at leaf i of that department's batch: an insider who moved a revoked
   certificate's row to another department, or gave it another leaf index, cleared its bit (or set another's),
   and a relying party reading the list took the revoked certificate for valid. The bits are now those of the
   batch's stored leaves, which must lead to the anchored root (a list of a batch whose leaves were edited is
   refused); the rows are not read. The sorted-pair tree does not fix the order of two sibling leaves, so a swap
   of siblings in the leaves themselves still leads to the root: a verifier checks its own bit against the chain
   (``statuslist.check_entries``), as before.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from ledger.client import Ledger
from ledger.errors import InputError, StateError
from ledger.services import consent, provenance, status, statuslist
from ledger.services.verify import ChainView, verify_certificate
from ledger.storage.models import Batch, Certificate

from . import consent_support
from .api_support import Clock, assert_problem, bearer, issue, login, make_client
from .insider_support import insider_edit


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
            ledger,
            assertion=signed,
            now=now,
            providers=consent_support.PROVIDERS,
            after=secrets.token_hex(12),
            limit=10,
        )
    assert refused.value.field == "after"
    # the same assertion, without the wrong cursor, still lists every consent of the person
    listed = consent.list_consents(ledger, assertion=signed, now=now, providers=consent_support.PROVIDERS)
    assert given.id in {c.id for c in listed}


def test_a_timeline_does_not_show_another_batchs_chain_facts_for_a_certificate_an_insider_moved(
    ledger: Ledger, fresh_department: str
) -> None:
    (revoked,) = issue(ledger, fresh_department, 1)
    (other,) = issue(ledger, fresh_department, 1)  # another batch of the same department, anchored and valid
    status.revoke(ledger, revoked["digest"], "fraud", fresh_department)
    now = _now()
    before = provenance.timeline(ledger, revoked["digest"], now=now)
    assert before["status"] == "revoked"
    report = verify_certificate(revoked, ChainView(ledger.chain))
    assert not report.ok and "revoked" in str([c for c in report.checks if c.name == "status"])
    # the insider moves the row to the other batch (its leaf index there too)
    with insider_edit(
        ledger, Certificate, Certificate.digest, revoked["digest"], batch_root=other["anchor"]["root"], leaf_index=0
    ):
        for private in (False, True):
            with pytest.raises(StateError) as refused:
                provenance.timeline(ledger, revoked["digest"], now=now, private=private)
            assert "batch" in str(refused.value) and "reconcile" in str(refused.value)
    # the moved-to certificate's own timeline is untouched
    assert provenance.timeline(ledger, other["digest"], now=now)["status"] == "valid"


@pytest.mark.parametrize("moved", [False, True])
def test_the_public_timeline_of_a_row_an_insider_edited_is_an_answer_not_a_server_error(
    ledger: Ledger, fresh_department: str, moved: bool
) -> None:
    (doc,) = issue(ledger, fresh_department, 1)
    (other,) = issue(ledger, fresh_department, 1)
    client = make_client(ledger, Clock())
    changes: dict[str, Any] = (
        {"batch_root": other["anchor"]["root"], "leaf_index": 0} if moved else {"issued_at": "not a time"}
    )
    with insider_edit(ledger, Certificate, Certificate.digest, doc["digest"], **changes):
        answer = client.get(f"/public/certificates/{doc['digest']}/timeline")
    if moved:
        assert_problem(answer, 409)
    else:
        assert answer.status_code == 200, answer.text
        issued = [e for e in answer.json()["events"] if e["kind"] == "issued"]
        # the moment is the one the certificate states (its sealed fields), never the row's column (round 61)
        assert issued and issued[0]["at"] == doc["fields"]["issued_at"]
        assert answer.json()["status"] == "valid"


def test_a_timeline_does_not_read_the_status_of_a_certificate_under_a_department_an_insider_moved_it_to(
    ledger: Ledger, fresh_department: str
) -> None:
    (doc,) = issue(ledger, fresh_department, 1)
    status.revoke(ledger, doc["digest"], "fraud", fresh_department)
    client = make_client(ledger, Clock())
    auditor = bearer(login(client, ledger, "AUD"))
    # the row names HOSP, under which the chain records no status of it
    with insider_edit(ledger, Certificate, Certificate.digest, doc["digest"], department_id="HOSP"):
        assert_problem(client.get(f"/public/certificates/{doc['digest']}/timeline"), 409)
        assert_problem(client.get(f"/public/certificates/{doc['digest']}/timeline.html"), 409)
        assert_problem(client.get(f"/certificates/{doc['digest']}/provenance", headers=auditor), 409)
        for private in (False, True):
            with pytest.raises(StateError, match=f"sealed fields were issued by '{fresh_department}'"):
                provenance.timeline(ledger, doc["digest"], now=_now(), private=private)
    assert provenance.timeline(ledger, doc["digest"], now=_now())["status"] == "revoked"


def _revocation_bits(ledger: Ledger, department: str, root: str) -> set[int]:
    listed = statuslist.list_credential(ledger, department, root, "revocation", base="https://gw.example")
    raw = statuslist.decode(listed["credentialSubject"]["encodedList"])
    return {i for i in range(4) if statuslist.bit(raw, i)}


@pytest.mark.parametrize("edit", ["department", "leaf_index"])
def test_a_published_status_list_keeps_the_bit_of_a_revoked_certificate_whose_row_an_insider_edited(
    ledger: Ledger, fresh_department: str, edit: str
) -> None:
    docs = issue(ledger, fresh_department, 2)
    root = docs[0]["anchor"]["root"]
    revoked = docs[1]["digest"]
    status.revoke(ledger, revoked, "fraud", fresh_department)
    index = statuslist.leaf_index(ledger, revoked)
    assert _revocation_bits(ledger, fresh_department, root) == {index}
    changes: dict[str, Any] = {"department_id": "HOSP"} if edit == "department" else {"leaf_index": 1 - index}
    with insider_edit(ledger, Certificate, Certificate.digest, revoked, **changes):
        # the list a W3C verifier reads still says what the chain says of the certificate at that leaf
        assert _revocation_bits(ledger, fresh_department, root) == {index}


def test_a_status_list_of_a_batch_whose_stored_leaves_were_edited_is_refused(
    ledger: Ledger, fresh_department: str
) -> None:
    docs = issue(ledger, fresh_department, 2)
    root = docs[0]["anchor"]["root"]
    status.revoke(ledger, docs[1]["digest"], "fraud", fresh_department)
    with ledger.engine.connect() as conn:
        leaves = bytes(conn.execute(select(Batch.leaves).where(Batch.root == root)).scalar_one())  # type: ignore[call-overload,arg-type]
    # the revoked digest's leaf overwritten: its bit would never be set
    at = statuslist.leaf_index(ledger, docs[1]["digest"]) * 32
    assert leaves[at : at + 32] == bytes.fromhex(docs[1]["digest"][2:])
    edited = leaves[:at] + bytes(32) + leaves[at + 32 :]
    with (
        insider_edit(ledger, Batch, Batch.root, root, leaves=edited),
        pytest.raises(StateError, match="leaves"),
    ):
        statuslist.list_credential(ledger, fresh_department, root, "revocation", base="https://gw.example")
    assert _revocation_bits(ledger, fresh_department, root) == {statuslist.leaf_index(ledger, docs[1]["digest"])}
