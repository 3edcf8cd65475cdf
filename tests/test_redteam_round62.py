"""Red team, round 62: against this session's merges (keys2, mend5, rt60, rt61).

Holes (each test failed before its fix):

1. An erased body written back while the erasure's log entry is not anchored yet (the chain unreachable when the
   erasure ran: ``ledger erase`` says ``pending``) was served again: round 61's check believed only the erasures
   log as the chain attests it, so between the erasure and its anchoring an insider restoring the body from a backup
   had the issuer's content read, `ledger export` and a decision citing it read the erased personal data. The
   department's own recorded erasure entry, anchored or not, now refuses it too (failing closed: a forged entry
   can only keep a body from being served).

2. keys2 records the vault key's check value in the database at the key's first use, and a database without the row
   records whichever key opens next (migration 0017's upgrade path). An insider who can write both the database and
   the data directory deleted the row and put another deployment's ``vault.key`` (same passphrase) in place: it was
   recorded, and new bodies were sealed under a key its other owner holds. A key recorded into a store that already
   holds sealed bodies must now open them, each to the digest its row is anchored under.

3. The gateway's token secret, rotated by deleting its file after a leak (a new secret is made and recorded), came
   back when whoever held the old one put the old wrapped file back in the data directory: the gateway recorded the
   check value of whatever wrapped file opened, so the leaked secret was the gateway's again and its holder minted
   tokens. A wrapped file whose secret is not the one the database records is now refused, as the vault key is.

4. Round 61 left out of a decision's citations a certificate cited by digest whose body was written back after its
   erasure, but not a copy cited inline (the holder's document, kept sealed in ``citeddocument``, which the erasure
   destroys too): written back, the decision's evidence bundle presented the erased certificate's holder fields
   again. A bundle now presents no cited copy of a certificate whose erasure the issuer's log records.

5. `ledger doctor` read the record an earlier command left in the data directory as whatever was planted there: a
   FIFO in its place kept the doctor waiting for ever (a monitoring job stuck), a file it may not read stopped it
   with a traceback, and a recorded warning's terminal controls reached the operator's terminal as written. It now
   reads a regular file only, without waiting, and reports anything else as damaged; a warning is shown escaped.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from ledger.client import Ledger
from ledger.errors import ErasedError, KeystoreError
from ledger.services import decisions, doctor, erasure, evidence, facts, issuance, logchain
from ledger.services.auth import TOKEN_SECRET_PURPOSE, load_secret
from ledger.storage import keycheck
from ledger.storage.models import Certificate, CitedDocument, KeyCheck
from ledger.storage.store import open_engine

from .api_support import issue
from .conftest import PASSPHRASE
from .decision_support import application, citation_as_decided, unique_rule_set
from .gateway_process import ChainRelay
from .insider_support import foreign_vault_key


@pytest.fixture()
def cut_off(ledger: Ledger) -> Iterator[tuple[Ledger, ChainRelay]]:
    """The shared ledger's store and keys, reaching the shared node through a relay the test can cut."""
    relay = ChainRelay(str(ledger.chain.w3.provider.endpoint_uri))  # type: ignore[attr-defined]
    other = Ledger.open(dataclasses.replace(ledger.settings, rpc_url=relay.url), passphrase=PASSPHRASE)
    try:
        yield other, relay
    finally:
        other.close()
        relay.cut()


# -- 1. an erased body written back before its erasure is anchored ---------------------------------------------------


def test_a_body_written_back_before_its_erasure_entry_is_anchored_is_not_served(
    ledger: Ledger, fresh_department: str, cut_off: tuple[Ledger, ChainRelay], tmp_path: Path
) -> None:
    """Adversary: an insider with database access holding a backup taken before a lawful erasure (no keys), acting
    while the erasure's log entry is not anchored yet (the chain was unreachable when the erasure ran). The erasure
    destroyed the body and recorded its entry; the insider writes the old body back. Round 61 refused only bodies
    whose erasure the chain attests, so until the entry is anchored the erased personal data was served to the
    issuer, exported, and bundled."""
    other, relay = cut_off
    (doc,) = issue(ledger, fresh_department, 1)
    with ledger.engine.connect() as conn:
        kept = conn.execute(select(Certificate.sealed).where(Certificate.digest == doc["digest"])).scalar_one()
    relay.cut()
    done = erasure.erase(other, doc["digest"], basis="court-order", by="officer-1")
    assert "pending" in done, done
    with pytest.raises(ErasedError):
        issuance.custodian_document(ledger, doc["digest"], fresh_department)
    with ledger.engine.begin() as conn:  # the insider's restore from the backup
        conn.execute(update(Certificate).where(Certificate.digest == doc["digest"]).values(sealed=kept))
    with pytest.raises(ErasedError):
        issuance.custodian_document(ledger, doc["digest"], fresh_department)
    with pytest.raises(ErasedError):
        issuance.holder_document(ledger, doc["digest"])
    with pytest.raises(ErasedError):
        evidence.bundle_for_stored(ledger, doc["digest"])


def test_a_decision_citing_a_licence_written_back_before_its_erasure_is_anchored_reads_it_as_erased(
    ledger: Ledger, fresh_department: str, cut_off: tuple[Ledger, ChainRelay]
) -> None:
    """Adversary: the same insider, with an applicant citing (by digest) a licence whose erasure is recorded and not
    anchored yet, its body written back. The rules read it as verified and held (round 61 dropped only bodies whose
    erasure the chain attests): the citation must read as any erased certificate's."""
    other, relay = cut_off
    rules = unique_rule_set(f"rt62-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    (licence,) = issue(ledger, "MKT", 1)
    with ledger.engine.connect() as conn:
        kept = conn.execute(select(Certificate.sealed).where(Certificate.digest == licence["digest"])).scalar_one()
    relay.cut()
    assert "pending" in erasure.erase(other, licence["digest"], basis="court-order", by="officer-1")
    with ledger.engine.begin() as conn:  # the insider's restore from the backup
        conn.execute(update(Certificate).where(Certificate.digest == licence["digest"]).values(sealed=kept))
    cited = citation_as_decided(ledger, fresh_department, rules, licence, f"C-RT62-{fresh_department}")
    assert cited["digest"] == licence["digest"] and cited["verified"] is False, cited
    assert cited["failed"] == ["not_found"] and cited["holder"] is False, cited


# -- 2. the vault key's record deleted, another deployment's key put in place ---------------------------------------


def test_a_deleted_vault_key_record_does_not_let_another_deployments_key_in(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an insider who can write the database and the data directory, holding another deployment's
    ``vault.key`` wrapped under the same passphrase. keys2 refuses that key while the database records this one's
    check value, so the insider deletes the ``key_check`` row first: the next process recorded the other key as this
    deployment's and sealed every new body under a key its other owner holds (and served none of the old ones). A
    key recorded into a store holding sealed bodies must open them."""
    issue(ledger, fresh_department, 1)  # the store holds at least one sealed body
    recorded = keycheck.recorded(ledger.engine, "vault")
    with foreign_vault_key(ledger, tmp_path):
        with pytest.raises(KeystoreError, match="does not open"):
            _ = ledger.vault
        assert ledger._vault is None and keycheck.recorded(ledger.engine, "vault") is None  # nothing recorded
    with ledger.engine.begin() as conn:
        conn.execute(delete(KeyCheck.__table__).where(KeyCheck.__table__.c.purpose == "vault"))  # type: ignore[attr-defined]
    _ = ledger.vault  # this deployment's own key opens its bodies: recorded again, as at the upgrade to 0017
    assert keycheck.recorded(ledger.engine, "vault") == recorded


# -- 3. a rotated token secret's old file put back ------------------------------------------------------------------


def test_an_old_token_secret_file_put_back_after_a_rotation_is_refused(tmp_path: Path) -> None:
    """Adversary: whoever learnt the gateway's token secret (a leaked copy, or a clear file from a backup made before
    keys2) and can write the data directory, holding the old wrapped file from a backup. The operator rotated the
    secret after the leak (deleted the file: a new secret is made and its check value recorded); the adversary puts
    the old file back. The gateway opened it and recorded its check value in place of the new one, so the leaked
    secret was the gateway's again and its holder minted a session token for any department."""
    path, engine, owner = (
        tmp_path / "api-token.key",
        open_engine(f"sqlite:///{tmp_path / 'gateway.db'}"),
        "0x" + "ab" * 32,
    )
    leaked = load_secret(path, None, passphrase=PASSPHRASE, owner=owner, engine=engine)
    old_file = path.read_bytes()
    path.unlink()  # the rotation after the leak
    rotated = load_secret(path, None, passphrase=PASSPHRASE, owner=owner, engine=engine)
    assert rotated != leaked
    path.write_bytes(old_file)  # the adversary's restore
    with pytest.raises(KeystoreError, match="not the one this gateway's database records"):
        load_secret(path, None, passphrase=PASSPHRASE, owner=owner, engine=engine)
    assert keycheck.recorded(engine, TOKEN_SECRET_PURPOSE) == keycheck.check_value(rotated, TOKEN_SECRET_PURPOSE)
    path.unlink()  # the operator's way out: a new secret, recorded
    assert load_secret(path, None, passphrase=PASSPHRASE, owner=owner, engine=engine) not in (leaked, rotated)
    engine.dispose()


# -- 4. an inline-cited copy written back -----------------------------------------------------------------------------


def test_an_inline_cited_copy_written_back_after_its_erasure_is_not_presented(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: the insider of round 61 (database access and a backup from before a lawful erasure, no keys). The
    applicant cited the licence inline (its holder's document); the ledger keeps the copy sealed, and the erasure
    destroyed it with the body. The insider writes the copy back: round 61 checked only certificates cited by
    digest, so the decision's evidence bundle for the applicant presented the erased licence's holder fields."""
    rules = unique_rule_set(f"rt62-copy-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    (licence,) = issue(ledger, "MKT", 1)
    case, holder = f"C-RT62-COPY-{fresh_department}", licence["fields"]["subject.credit_code"]
    app = application(case, {"document": licence})
    decisions.decide(ledger, fresh_department, case, app["service_item"], app, rules, applicant_ref=holder)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    with ledger.engine.connect() as conn:
        ((ref, kept),) = conn.execute(
            select(CitedDocument.ref, CitedDocument.sealed).where(CitedDocument.digest == licence["digest"])
        ).all()

    def presented() -> Any:
        bundle = evidence.decision_bundle(ledger, fresh_department, case, applicant=holder)
        return bundle["cited"]

    assert presented() != [None]  # the copy presented while the licence stands
    erasure.erase(ledger, licence["digest"], basis="court-order", by="officer-1")
    assert presented() == [None]
    with ledger.engine.begin() as conn:  # the insider's restore from the backup
        conn.execute(update(CitedDocument).where(CitedDocument.ref == ref).values(sealed=kept))
    assert presented() == [None]


@pytest.mark.parametrize("issuer", ["\x00", "x" * 300, "été", ""])
def test_a_copy_naming_no_department_code_as_its_issuer_is_presented_as_before(ledger: Ledger, issuer: str) -> None:
    """Adversary: an applicant citing inline a document of their own making whose issuer is no department code (a
    NUL, which PostgreSQL refuses in any query; 300 characters): the look for its certificate's erasure must neither
    fail the decision's bundle nor hide the copy; no department's log can record its erasure."""
    found = {"0xref": {"fields": {"issuer": issuer, "type": "business-licence"}, "salts": {}}}
    facts.drop_erased_copies(ledger, found, ["0xref"])
    assert "0xref" in found


# -- 5. `ledger doctor` on hostile files ------------------------------------------------------------------------------


def test_ledger_doctor_neither_waits_on_nor_echoes_a_hostile_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: a local account that can write the data directory (or a restore from an untrusted backup) planting
    ``insecure-settings.json``. A FIFO there kept `ledger doctor` (run by a monitoring job) waiting for a writer for
    ever; a record its reader may not read stopped it with a traceback; a recorded warning holding terminal controls
    (a screen clear, a clipboard write) was printed to the operator's terminal as written."""
    monkeypatch.delenv("LEDGER_INSECURE_KEYSTORE_KDF_FLOOR", raising=False)
    record = tmp_path / doctor.INSECURE_RECORD
    os.mkfifo(record)
    found: list[Any] = []
    reader = threading.Thread(target=lambda: found.append(doctor.findings(tmp_path)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # the hole: release the reader blocked on the FIFO (a writer opening it)
        os.close(os.open(record, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=20)
        pytest.fail("ledger doctor waited on a FIFO planted in place of its record")
    ((finding,),) = found
    assert "not a regular file" in finding.warning, finding
    record.unlink()
    record.write_text('{"warning": "ok", "command": "issue", "at": "2026-12-06T20:00:00Z"}')
    record.chmod(0)
    if not os.access(record, os.R_OK):  # (root reads it anyway)
        (finding,) = doctor.findings(tmp_path)
        assert "cannot be read" in finding.warning, finding
    record.chmod(0o600)
    planted = "\x1b]52;c;cm0gLXJmIH4K\x07\x1b[2J\u202eretsasid"
    record.write_text('{"warning": "' + planted + '", "command": "issue", "at": "2026-12-06T20:00:00Z"}')
    (finding,) = doctor.findings(tmp_path)
    assert finding.warning.isprintable(), finding
