"""Red team, round 61: an insider with database access and the chain's operator rewriting history, against the
provenance timeline (the public one citizens and courts read, its page, the issuer's full one) and the chain audit.

Holes (each test failed before its fix):

1. The timeline's "issued" event took its moment from the store row's ``issued_at`` column, which nothing binds to
   the digest: an insider re-dating the row (years back, or after the anchoring) had every timeline say the
   certificate was issued then, where the certificate itself (its sealed fields, the holder's document) states
   another moment. The moment now comes from the sealed fields, as the timeline's type has since round 9.

2. The timeline called a certificate "valid" as soon as the chain held its anchoring, however shallow: with
   ``LEDGER_CONFIRMATIONS`` set, `ledger verify` and the gateway's verification fail ``confirmations`` for such an
   anchoring (and the ledger neither confirms nor exports it), while the public timeline told anyone it was valid.
   The chain's operator then reorganised the anchoring away (within the depth the confirmations guard against) and
   the certificate the timeline had called valid was never on the chain. The timeline's status is now
   ``unconfirmed`` until the anchoring has the configured confirmations on top.

3. The timeline listed the chain's status changes of one moment grouped by kind (suspensions, then reinstatements,
   then revocations): a certificate reinstated and suspended again in one block ended its listing with
   "reinstated" under a status of "suspended". Events of one moment now come in chain order (block, log index).

4. Beyond the timeline: `ledger audit-chain` and `ledger reconcile` stopped with an InputError on a certificate row
   an insider gave a department id that is no code, so a row of the insider's choosing kept every other finding
   of the chain audit from being reported. Such a change is now a finding of its own and the audit goes on.
   The same id on an erased certificate's rows made the public timeline a 422 blaming the client's digest; it is
   a 409 (the row was altered), as round 20's moved rows are.

5. A certificate's sealed body written back from a backup after its lawful erasure opened with the vault key, and
   the issuer's content read (and grants, consents) served the erased personal data again. A body the department's
   anchored erasures log says was destroyed is now served to no one, exported in no bundle, and read by no decision
   citing it (it reads as any erased certificate: not found).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from ledger.client import Ledger
from ledger.errors import ErasedError, StateError
from ledger.formats.certificate import batch_schema, validate_record
from ledger.onchain.chain import ROLE_ISSUER, ROLE_VERIFIER
from ledger.services import decisions, erasure, evidence, issuance, provenance, reconcile, status
from ledger.services.departments import Council
from ledger.services.witness.audit import audit_chain
from ledger.storage.models import Batch, Certificate
from ledger.storage.vault import ERASED

from .api_support import Clock, bearer, issue, login, make_client
from .cli_support import cli_in_process, rpc
from .conftest import PASSPHRASE, make_records, make_settings
from .decision_support import citation_as_decided, unique_rule_set
from .insider_support import insider_edit

_codes = itertools.count(1)


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


# -- 2. an anchoring the chain's operator can still undo --------------------------------------------------------------


@pytest.fixture()
def own(tmp_path: Path) -> Iterator[Ledger]:
    """A ledger with its own anvil that waits for 2 confirmations: this test rewrites its chain."""
    instance = Ledger.open(make_settings(tmp_path / "own", confirmations=2), passphrase=PASSPHRASE)
    # blocks come only from transactions and evm_mine: the test counts the blocks on top of an anchoring
    rpc(instance, "evm_setIntervalMining", 0)
    rpc(instance, "evm_setAutomine", True)  # setting the interval switched every kind of mining off
    yield instance
    instance.close()


def test_the_timeline_does_not_call_valid_an_anchoring_without_its_confirmations(own: Ledger) -> None:
    """Adversary: the chain's operator. A department anchors a batch on a ledger that waits for 2 confirmations; in
    the block the anchoring is mined (its issuance still waiting for the depth, or stopped there until `ledger
    resume`), a relying party reads the public timeline. The operator then reorganises the anchoring away, as a
    reorganisation shallower than the confirmations may. The timeline must not have said "valid" before the
    anchoring had the confirmations every verifier asks for; once it has them, it says valid."""
    code = f"R61-{os.getpid() % 1000}-{next(_codes)}"
    Council(own).register(code, f"Bureau {code}", ROLE_ISSUER | ROLE_VERIFIER, types=("business-licence",))
    records = [validate_record(r, i, department=code) for i, r in enumerate(make_records(1), 1)]
    built = issuance.build_batch(own, records, code)
    issuance.store_prepared(own, built)
    digest = "0x" + built.digests[0].hex()
    client = make_client(own, Clock())
    before = rpc(own, "evm_snapshot")
    chain = own.chain
    anchoring = chain.anchor.functions.anchorBatch(built.root, len(built.digests), batch_schema("business-licence"))
    receipt = chain.wait(chain.send(own.department_account(code), anchoring), timeout=60)
    assert receipt["status"] == 1 and chain.block_number() == int(receipt["blockNumber"])

    shallow = provenance.timeline(own, digest, now=_now())
    assert shallow["status"] == "unconfirmed", shallow
    (anchored,) = [e for e in shallow["events"] if e["kind"] == "anchored"]
    assert anchored["confirmed"] is False and anchored["confirmations_required"] == 2, anchored
    assert client.get(f"/public/certificates/{digest}/timeline").json()["status"] == "unconfirmed"
    page = client.get(f"/public/certificates/{digest}/timeline.html").text
    assert 'data-status="unconfirmed"' in page and "valid" not in page.split('data-status="unconfirmed"')[1][:80]

    assert rpc(own, "evm_revert", before) is True  # the operator's reorganisation: the anchoring is gone
    assert provenance.timeline(own, digest, now=_now())["status"] == "not_anchored"

    chain.wait(chain.send(own.department_account(code), anchoring), timeout=60)  # anchored again, honestly
    for _ in range(2):  # and given its confirmations
        rpc(own, "evm_mine")
    deep = provenance.timeline(own, digest, now=_now())
    assert deep["status"] == "valid", deep
    (anchored,) = [e for e in deep["events"] if e["kind"] == "anchored"]
    assert anchored["confirmed"] is True, anchored


# -- 3. changes of one block, in the order the chain made them ---------------------------------------------------------


def _anchored_in_own(own: Ledger, code: str) -> tuple[str, bytes]:
    """One certificate of ``code`` anchored on ``own``'s chain with its confirmations, and confirmed in its store."""
    records = [validate_record(r, i, department=code) for i, r in enumerate(make_records(1), 1)]
    built = issuance.build_batch(own, records, code)
    issuance.store_prepared(own, built)
    chain = own.chain
    anchoring = chain.anchor.functions.anchorBatch(built.root, len(built.digests), batch_schema("business-licence"))
    chain.wait(chain.send(own.department_account(code), anchoring), timeout=60)
    for _ in range(own.settings.confirmations):
        rpc(own, "evm_mine")
    issuance.confirm(own, built.root, timeout=60)
    return "0x" + built.digests[0].hex(), built.root


def test_the_timeline_lists_one_blocks_status_changes_in_the_order_the_chain_made_them(own: Ledger) -> None:
    """Adversary: the department's operator (or the chain's, choosing which transactions share a block). A certificate
    is suspended; later, in one block, it is reinstated and suspended again: the chain's status is suspended. The
    timeline listed a block's changes by kind (suspensions, then reinstatements, then revocations), so its last word
    was "reinstated" under a status of "suspended", and a reader taking the last event for the certificate's state
    (a court reading the page) read it in force. The events must come in chain order (block, log index)."""
    code = f"R61-{os.getpid() % 1000}-{next(_codes)}"
    Council(own).register(code, f"Bureau {code}", ROLE_ISSUER | ROLE_VERIFIER, types=("business-licence",))
    digest, _root = _anchored_in_own(own, code)
    status.suspend(own, digest, "under-investigation", code)
    cert = status.stored(own, digest, code)
    chain, account = own.chain, own.department_account(code)
    fns = chain.anchor.functions
    rpc(own, "evm_setAutomine", False)
    try:
        first = chain.send(account, fns.reinstate(cert.root, cert.digest, cert.proof, 10), gas=300_000)
        second = chain.send(account, fns.suspend(cert.root, cert.digest, cert.proof, 9), gas=300_000)
        rpc(own, "evm_mine")
    finally:
        rpc(own, "evm_setAutomine", True)
    reinstated, suspended = chain.wait(first, timeout=60), chain.wait(second, timeout=60)
    assert reinstated["status"] == 1 and suspended["status"] == 1
    assert reinstated["blockNumber"] == suspended["blockNumber"]
    assert int(reinstated["transactionIndex"]) < int(suspended["transactionIndex"])

    client = make_client(own, Clock())
    for shown in (
        provenance.timeline(own, digest, now=_now()),
        provenance.timeline(own, digest, now=_now(), private=True),
        client.get(f"/public/certificates/{digest}/timeline").json(),
    ):
        changes = [e for e in shown["events"] if e["kind"] in ("suspended", "reinstated", "revoked")]
        assert [e["kind"] for e in changes] == ["suspended", "reinstated", "suspended"], changes
        assert shown["status"] == "suspended" == changes[-1]["kind"]


# -- 4. an audit stopped by one altered row ----------------------------------------------------------------------------


@pytest.mark.parametrize("department", ["X" * 40, "été"])
def test_a_certificate_row_naming_no_department_code_does_not_stop_the_chain_audit(
    ledger: Ledger, fresh_department: str, department: str
) -> None:
    """Adversary: an insider with database access (no keys), wanting the audit of the chain against the database
    not to run: write a department id that is no code (too long, not ASCII) into the row of a certificate whose
    status changed. `ledger audit-chain` and `ledger reconcile` compare every status change the database records
    with the chain's history under the row's department: converting that id raised an InputError ("department id
    ... must be 1 to 32 printable ASCII characters", the caller's fault as the CLI shows it), and both stopped there,
    every other finding (a revocation the chain lost) unreported. The change is a finding, the row reconcile's
    ``row_altered``, and the rest is still audited."""
    if len(department) > 32 and ledger.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps at most 32 characters in the column (SQLite keeps any text)")
    (doc,) = issue(ledger, fresh_department, 1)
    status.revoke(ledger, doc["digest"], "fraud", fresh_department)
    with insider_edit(ledger, Certificate, Certificate.digest, doc["digest"], department_id=department):
        findings = audit_chain(ledger, ask_witnesses=False).findings
        unchecked = [f for f in findings if f.kind == "status_change_unchecked"]
        assert len(unchecked) == 1 and doc["digest"] in unchecked[0].detail, findings
        report = reconcile.reconcile(ledger)
        assert any(d.kind == "status_change_unchecked" and doc["digest"] in d.detail for d in report.divergences), (
            report.divergences
        )
        assert any(d.kind == "row_altered" and department in d.detail for d in report.divergences)
    assert not [f for f in audit_chain(ledger, ask_witnesses=False).findings if f.kind == "status_change_unchecked"]


def test_the_timeline_of_an_erased_certificate_whose_rows_name_no_department_code_is_a_conflict_not_bad_input(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider with database access (no keys). Round 20 refused (409) the timeline of an erased
    certificate whose rows the insider moved to another department. Moved to a department id that is no code
    (``été``: SQLite and PostgreSQL keep it), the timeline's chain reads raised an InputError, which the gateway
    answered 422 "department id 'été' must be ...": the anonymous client, who sent a well-formed digest, was told
    its input was invalid. The row was altered: a 409 saying so, as for any other altered row."""
    (doc,) = issue(ledger, fresh_department, 1)
    status.revoke(ledger, doc["digest"], "fraud", fresh_department)
    erasure.erase(ledger, doc["digest"], basis="court-order", by="officer-1")
    client = make_client(ledger, Clock())
    with (
        insider_edit(ledger, Certificate, Certificate.digest, doc["digest"], department_id="été"),
        insider_edit(ledger, Batch, Batch.root, doc["anchor"]["root"], department_id="été"),
    ):
        for page in ("timeline", "timeline.html"):
            answer = client.get(f"/public/certificates/{doc['digest']}/{page}")
            assert answer.status_code == 409 and "altered" in answer.json()["detail"], answer.text
        for private in (False, True):
            with pytest.raises(StateError, match="altered"):
                provenance.timeline(ledger, doc["digest"], now=_now(), private=private)
    assert provenance.timeline(ledger, doc["digest"], now=_now())["status"] == "revoked"


def test_public_verify_by_digest_of_a_row_whose_batch_names_no_department_code_says_the_record_was_altered(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: the same insider, who moves a live certificate's batch row to a department id that is no code
    (``été``). Verified by digest, the document rebuilt from the store did not read as a certificate, and the public
    answer said of every check "the document could not be read": the anonymous client, who sent a well-formed
    digest and no document, was told its document was unreadable. It now says the store's record was altered and
    that `ledger reconcile` names the row, and still verifies nothing (mend6)."""
    (doc,) = issue(ledger, fresh_department, 1)
    client = make_client(ledger, Clock())
    with insider_edit(ledger, Batch, Batch.root, doc["anchor"]["root"], department_id="été"):
        answer = client.post("/public/verify", json={"digest": doc["digest"]})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["verified"] is False and body["checks"], body
        for check in body["checks"]:
            assert check["ok"] is False and "record of this certificate was altered" in check["detail"], check
            assert "could not be read" not in check["detail"], check
    assert client.post("/public/verify", json={"digest": doc["digest"]}).json()["verified"] is True


# -- 5. an erased body written back from a copy ------------------------------------------------------------------------


def test_a_certificate_body_written_back_after_its_lawful_erasure_is_not_served(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Adversary: an insider with database access holding a backup taken before a lawful erasure (no keys). The
    erasure destroyed the certificate's sealed body and its anchored `erasures` entry says so; the insider writes
    the old body back into the row. The vault key still opens it, so the issuer's read of its content (`GET
    /certificates/{digest}/content`), and every read that serves the content in the issuer's name (grants,
    consents), served the erased personal data again, logged as an ordinary read. A body the department's anchored
    erasures log says was destroyed must not be served; `ledger reconcile` names it (``erasure_incomplete``) and
    `ledger erase` destroys it again."""
    (doc,) = issue(ledger, fresh_department, 1)
    with ledger.engine.connect() as conn:
        kept = conn.execute(select(Certificate.sealed).where(Certificate.digest == doc["digest"])).scalar_one()
    erasure.erase(ledger, doc["digest"], basis="court-order", by="officer-1")
    with pytest.raises(ErasedError):
        issuance.custodian_document(ledger, doc["digest"], fresh_department)
    with ledger.engine.begin() as conn:  # the insider's restore from the backup
        conn.execute(update(Certificate).where(Certificate.digest == doc["digest"]).values(sealed=kept))
    with pytest.raises(ErasedError, match="written back"):
        issuance.custodian_document(ledger, doc["digest"], fresh_department)
    with pytest.raises(ErasedError, match="written back"):  # nor exported in an evidence bundle
        evidence.bundle_for_stored(ledger, doc["digest"])
    code, out, err = cli_in_process(ledger, monkeypatch, capsys, "export", doc["digest"])  # nor by `ledger export`
    assert code != 0 and "Zhang Wei" not in out and "written back" in err, (code, out, err)
    client = make_client(ledger, Clock())
    headers = bearer(login(client, ledger, fresh_department))
    answer = client.get(f"/certificates/{doc['digest']}/content", headers=headers)
    assert answer.status_code != 200 and "Zhang Wei" not in answer.text, answer.text
    found = reconcile.reconcile(ledger).divergences
    assert any(d.kind == "erasure_incomplete" and d.certificate == doc["digest"] for d in found), found
    erasure.erase(ledger, doc["digest"], basis="court-order", by="officer-1")  # destroys it again
    with ledger.engine.connect() as conn:
        assert (
            conn.execute(select(Certificate.sealed).where(Certificate.digest == doc["digest"])).scalar_one() == ERASED
        )


def test_a_decision_citing_an_erased_licence_whose_body_was_written_back_reads_it_as_erased(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: the same insider, with an applicant citing (by digest) a licence its issuer lawfully erased. A
    decision citing an erased licence finds nothing in the store (``not_found``: unverified, not held); with the body
    written back, the rules read it as verified, valid and held by the applicant, and decided on erased data. The
    citation must read as any erased certificate's."""
    rules = unique_rule_set(f"rt61-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    (licence,) = issue(ledger, "MKT", 1)
    with ledger.engine.connect() as conn:
        kept = conn.execute(select(Certificate.sealed).where(Certificate.digest == licence["digest"])).scalar_one()
    erasure.erase(ledger, licence["digest"], basis="court-order", by="officer-1")
    with ledger.engine.begin() as conn:  # the insider's restore from the backup
        conn.execute(update(Certificate).where(Certificate.digest == licence["digest"]).values(sealed=kept))
    cited = citation_as_decided(ledger, fresh_department, rules, licence, f"C-RT61-{fresh_department}")
    assert cited["digest"] == licence["digest"] and cited["verified"] is False, cited
    assert cited["failed"] == ["not_found"] and cited["holder"] is False, cited
