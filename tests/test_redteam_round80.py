"""Red team round 80: an insider with database access, and a department acting outside its authority, against the
gateway and the stores. Each finding was written first as a failing test, then fixed.

1. A grant's free-text purpose was the row's word. A read through a grant is held to the grant its creation entry in
   the issuer's anchored access log records (round 13: grantee, expiry, disclosed fields, its revocation), but not
   to its purpose, which that entry keeps as a hash keyed by the grant's salt. An insider (a DBA colluding with the
   grantee) who rewrote a live grant's ``purpose`` had every read through it served, and logged under the purpose
   they wrote: the data subject's list of who read their certificate and why, the issuer's access listing and the
   grantee's list of grants named the insider's purpose, and the grant listings and ``ledger reconcile`` called
   the grant intact. Writing the erasure's marker in its place (``(erased)``, no salt) on a live certificate had
   the reads logged with no purpose at all. A grant's row must now state the purpose its logged creation hashed.
2. An auditor's list of a certificate's reads (``GET /certificates/{digest}/accesses``) was read from the log of the
   department the certificate's row names: moved to another department, it listed none. The row must now be the
   issuer's (its sealed fields, its batch, its erasure) for an auditor too.
3. A certificate named by its id (``ledger revoke ID --department D``, ``erase``, ``export``) was the row holding the
   id: two rows' ids swapped, the officer revoked or erased the other person's certificate. The id must now be the
   one its sealed fields state.
4. One grant or consent row holding bytes that are no UTF-8, or a text past its column's bound (SQLite), made every
   listing holding it, the reads through the certificate's grants and reconcile fail on a ValidationError.
5. What a batch row holds of its anchoring (signature, signer, schema) goes into every exported document; edited,
   each holder's copy failed verification and reconcile said nothing. Reconcile now compares it with the chain, and
   a signature stored as bytes no longer makes the public timeline a 500, nor stops replay (a cited licence, erased).
6. A certificate's sealed body holding text or a number (SQLite) stopped reconcile and made the timelines 500; one
   that does not open made the public verification of its digest a 500. It is now a conflict (409), and reported.
   A cited copy's row holding text (SQLite) stopped every erasure after its log entry, a decision's sealed input
   holding text stopped replay; both now read as no bytes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.services import accesslog, consent, erasure, issuance, reconcile, sharing, status
from ledger.services.auth import PermissionDenied
from ledger.services.verify import ChainView, verify_certificate
from ledger.storage.models import GRANT_PURPOSE_ERASED, CitedDocument, Consent, Grant
from ledger.storage.store import Batch, Certificate

from .api_support import Clock, bearer, login, make_client, problem_body
from .api_support import issue as api_issue
from .consent_support import NOW, consent_world, give, grant, read_as  # noqa: F401 - the world fixture


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


# -- 2. an auditor's list of a certificate's reads, its row moved to another department -----------------------------


def test_an_auditors_list_of_a_certificates_reads_is_not_read_from_the_log_of_a_department_its_row_was_moved_to(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider with database access hiding who read a certificate from the auditor a data subject
    complained to, by setting the certificate row's ``department_id`` to another department (with or without its
    batch row): ``GET /certificates/{digest}/accesses`` read the reads an auditor asks for from the log of the
    department the row names, which holds none, and answered an empty list; the issuer's own request, the data
    subject's list and the full timeline compare the row with the certificate's sealed fields (round 13, 19) and
    refuse it. The auditor's is refused alike (409, naming the row), and lists the reads once the row is back."""
    dept = fresh_department
    (doc,) = api_issue(ledger, dept, 1)
    client = make_client(ledger, Clock())
    issuer, auditor = bearer(login(client, ledger, dept)), bearer(login(client, ledger, "AUD"))
    assert client.get(f"/certificates/{doc['digest']}/content", headers=issuer).status_code == 200
    path = f"/certificates/{doc['digest']}/accesses"

    def reads() -> list[Any]:
        answer = client.get(path, headers=auditor)
        assert answer.status_code == 200, answer.text
        return [e for e in answer.json() if e.get("action") == "read"]

    assert len(reads()) == 1
    with ledger.engine.connect() as conn:
        root = conn.execute(select(Certificate.batch_root).where(Certificate.digest == doc["digest"])).scalar_one()  # type: ignore[call-overload,arg-type]

    def refused(moved: list[Any]) -> None:
        _move(ledger, moved, doc["digest"], root, "MKT")
        try:
            body = problem_body(client.get(path, headers=auditor), 409)
            assert "MKT" in body["detail"], body
        finally:
            _move(ledger, moved, doc["digest"], root, dept)
        assert len(reads()) == 1

    refused([Certificate])
    refused([Certificate, Batch])  # the sealed fields still name the issuer
    # once the contents are lawfully erased no sealed field is left to compare the row with: the issuer's own erasures
    # log records the erasure, the other department's does not
    erasure.erase(ledger, doc["digest"], basis="objection", by="officer-r80")
    assert len(reads()) == 1
    refused([Certificate, Batch])


def _move(ledger: Ledger, tables: list[Any], digest: str, root: str, department: str) -> None:
    """What an insider does: the certificate's row (and its batch's) made to name ``department``."""
    with ledger.engine.begin() as conn:
        for table in tables:
            where = Certificate.digest == digest if table is Certificate else Batch.root == root
            conn.execute(update(table).where(where).values(department_id=department))  # type: ignore[arg-type]


# -- 3. a certificate named by its id, the ids of two rows swapped ----------------------------------------------------


def test_a_certificate_named_by_its_id_is_the_one_whose_sealed_fields_state_that_id(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider with database access swapping the ``certificate_id`` of two of a department's rows (the
    column is the store's word; nothing binds it to the digest), waiting for the department's officer to act on one
    of them by its id (``ledger revoke ID --department D``, ``suspend``, ``erase``, ``export``): the lookup by id found
    the other row, so the other person's licence was revoked on chain (terminal), its contents destroyed for good,
    or handed out as the one asked for. A certificate found by its id must now state that id in its sealed fields
    (StateError naming both, nothing sent, destroyed or handed out); by digest, or with the rows put back, it is
    found as before. Once erased, no sealed field is left to check an id against: found by digest only."""
    dept = fresh_department
    first, second = api_issue(ledger, dept, 2)
    ids = [d["fields"]["id"] for d in (first, second)]
    _set_id(ledger, first["digest"], "swap-in-progress")
    _set_id(ledger, second["digest"], ids[0])
    _set_id(ledger, first["digest"], ids[1])
    try:
        with pytest.raises(StateError, match=ids[0]):
            status.revoke(ledger, ids[0], "fraud", dept)
        with pytest.raises(StateError, match=ids[0]):
            issuance.holder_document(ledger, ids[0], dept)
        with pytest.raises(StateError, match=ids[0]):
            erasure.erase(ledger, ids[0], dept, basis="objection", by="officer-r80")
        assert issuance.sealed_fields(ledger, second["digest"]) is not None  # nothing destroyed
        assert issuance.holder_document(ledger, second["digest"])["fields"]["id"] == ids[1]  # by digest: found
    finally:
        _set_id(ledger, first["digest"], "swap-in-progress")
        _set_id(ledger, second["digest"], ids[1])
        _set_id(ledger, first["digest"], ids[0])
    assert status.stored(ledger, ids[1], dept).digest.hex() == second["digest"][2:]
    assert status.stored(ledger, second["digest"]).certificate_id == ids[1]
    # erased: an id cannot be checked any more, a digest still finds it
    erasure.erase(ledger, ids[1], dept, basis="objection", by="officer-r80")
    with pytest.raises(StateError, match="digest"):
        status.stored(ledger, ids[1], dept)
    assert status.stored(ledger, second["digest"], dept).certificate_id == ids[1]


def _set_id(ledger: Ledger, digest: str, certificate_id: str) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(update(Certificate).where(Certificate.digest == digest).values(certificate_id=certificate_id))  # type: ignore[arg-type]


# -- 4. a grant's or a consent's text column holding what the ledger never writes there ------------------------------

_TOO_LONG = "x" * 5_000  # past every text column's bound (SQLite keeps any length)


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        (Grant, "purpose", b"\xff\xfe"),
        (Grant, "purpose", _TOO_LONG),
        (Grant, "grantee", b"\xff"),
        (Grant, "created_by", _TOO_LONG),
        (Consent, "purpose_text", b"\xff\xfe"),
        (Consent, "purpose_text", _TOO_LONG),
        (Consent, "recipient", b"\xff"),
        (Consent, "signature", b"\xff"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else v if isinstance(v, str) and len(v) < 40 else type(v).__name__,
)
def test_one_grant_or_consent_row_holding_bytes_or_an_overlong_text_hides_nothing_and_serves_nothing(
    ledger: Ledger, world: dict[str, Any], table: Any, column: str, value: Any
) -> None:
    """Adversary: an insider with write access to the SQLite file writing into one grant's or consent's text column
    bytes that are no UTF-8 (SQLite keeps a text's bytes as given) or a text longer than the column allows (SQLite
    does not enforce it). The row was read with ``model_validate`` alone, so the ValidationError made every listing
    of the certificate's grants or consents, the grantee's list of every grant it received, the read through any
    grant of the certificate (500) and ``ledger reconcile`` (a traceback) fail on that one row, hiding the others.
    The row now reads as stored text and is judged as the edit it is: listed not live with its problem (a field no
    check covers, ``created_by``, shown as stored), no read served on it, the others listed and served, reconcile
    reporting it."""
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("SQLite keeps any bytes and any length in a text column; PostgreSQL refuses both")
    w = world
    given = give(ledger, w["a"], "INS", NOW)
    edited, genuine = grant(ledger, w, w["a"], consent=given.id), grant(ledger, w, w["a"], consent=given.id)
    target = edited.id if table is Grant else given.id
    with ledger.engine.begin() as conn:
        kept = conn.execute(select(getattr(table, column)).where(table.id == target)).scalar_one()
        conn.execute(
            text(f"UPDATE {table.__tablename__} SET {column} = :value WHERE id = :id"), {"value": value, "id": target}
        )
    try:
        grants = sharing.listed(ledger, sharing.list_grants(ledger, digest=w["a"]["digest"]), NOW)
        received = sharing.listed(ledger, sharing.list_grants(ledger, grantee="INS", issuer=w["issuer"]), NOW)
        consents = consent.listed(ledger, consent.list_consents(ledger, digest=w["a"]["digest"]), NOW)
        assert {g.id for g in grants} == {edited.id, genuine.id}
        assert {g.id for g in received} == ({genuine.id} if column == "grantee" else {edited.id, genuine.id})
        found = reconcile.reconcile(ledger, departments=[w["issuer"]], check_bodies=False)
        kinds = {d.kind for d in found.divergences}
        if table is Consent:  # the consent is not relied on: no grant on it serves
            (shown,) = consents
            assert not shown.live and shown.problem, shown
            with pytest.raises(PermissionDenied, match=given.id):
                read_as(ledger, w["a"], NOW)
            assert "consent_signature" in kinds, found
        elif column == "created_by":  # shown as stored; no term of the grant changed
            assert {g.id for g in grants if g.live} == {edited.id, genuine.id}
            assert not kinds, found
        else:
            assert {g.id for g in grants if g.live} == {genuine.id}
            assert read_as(ledger, w["a"], NOW).grant.id == genuine.id  # type: ignore[union-attr]
            assert "grant_altered" in kinds, found
        # the gateway answers the issuer's listings (never a 500 for the whole list)
        client = make_client(ledger, Clock(NOW))
        own = bearer(login(client, ledger, w["issuer"]))
        digest = w["a"]["digest"]
        for path in (
            f"/certificates/{digest}/grants",
            f"/certificates/{digest}/consents",
            f"/certificates/{digest}/accesses",
            "/access-log",
        ):
            answer = client.get(path, headers=own)
            assert answer.status_code == 200, (path, answer.text[:300])
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(update(table).where(table.id == target).values({column: kept}))
    assert read_as(ledger, w["a"], NOW).grant is not None


# -- 5. a batch row's anchoring data, which every exported document carries -----------------------------------------


@pytest.mark.parametrize("column", ["signature", "signer", "schema_id"])
def test_a_batch_rows_anchoring_data_edited_is_reported_by_reconcile(
    ledger: Ledger, fresh_department: str, column: str
) -> None:
    """Adversary: an insider with database access, no keys, editing what a batch row holds of its anchoring - the
    department's EIP-712 signature of the root (another batch's of the same department), the signer, the certificate
    type's schema - which goes into the ``anchor`` section of every document exported from it (``ledger export``,
    the issuer's and a grantee's read, an evidence bundle): each holder's copy of a genuine certificate then fails
    verification, as a forgery would, while ``ledger reconcile``, the operator's daily comparison of the database
    with the chain, compared only the batch's count and block and said nothing. It now reports the row
    (``anchor_data_altered``), naming the column; put back, the copy verifies and reconcile is clean."""
    dept = fresh_department
    (first,) = api_issue(ledger, dept, 1)
    (target,) = api_issue(ledger, dept, 1)
    with ledger.engine.connect() as conn:
        roots = [
            conn.execute(select(Certificate.batch_root).where(Certificate.digest == d["digest"])).scalar_one()  # type: ignore[call-overload,arg-type]
            for d in (first, target)
        ]
        kept, other = (
            conn.execute(select(getattr(Batch, column)).where(Batch.root == root)).scalar_one()  # type: ignore[arg-type]
            for root in (roots[1], roots[0])
        )
    edited = {
        "signature": other,
        "signer": ledger.department_account("MKT").address,
        "schema_id": "0x" + "ab" * 32,
    }[column]
    view = ChainView(ledger.chain, ledger.settings.confirmations)
    assert verify_certificate(issuance.holder_document(ledger, target["digest"]), view).ok
    with ledger.engine.begin() as conn:
        conn.execute(update(Batch).where(Batch.root == roots[1]).values({column: edited}))  # type: ignore[arg-type]
    try:
        if column != "schema_id":  # (verification reads the type's schema from the fields, not the row)
            assert not verify_certificate(issuance.holder_document(ledger, target["digest"]), view).ok
        found = reconcile.reconcile(ledger, departments=[dept], check_bodies=False)
        named = [d for d in found.divergences if d.kind == "anchor_data_altered"]
        assert [d.root for d in named] == [roots[1]], found
        assert column.split("_")[0] in named[0].detail, named
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(update(Batch).where(Batch.root == roots[1]).values({column: kept}))  # type: ignore[arg-type]
    assert verify_certificate(issuance.holder_document(ledger, target["digest"]), view).ok
    assert reconcile.reconcile(ledger, departments=[dept], check_bodies=False).ok


def test_a_batch_signature_stored_as_bytes_leaves_the_public_timeline_an_answer(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider with write access to the SQLite file writing bytes where a batch row keeps its
    signature's hex (SQLite keeps any type in any column): the public timeline of each of its certificates (anyone's
    ``GET /public/certificates/{digest}/timeline``) called ``removeprefix`` on them and answered 500, logged as a
    gateway failure. The signature is now no signature there: the timeline answers, saying the batch's signature
    does not check, and reconcile names the row."""
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps the column's type: bytes cannot be stored there")
    dept = fresh_department
    (doc,) = api_issue(ledger, dept, 1)
    with ledger.engine.connect() as conn:
        root = conn.execute(select(Certificate.batch_root).where(Certificate.digest == doc["digest"])).scalar_one()  # type: ignore[call-overload,arg-type]
        kept = conn.execute(select(Batch.signature).where(Batch.root == root)).scalar_one()  # type: ignore[call-overload,arg-type]
    client = make_client(ledger, Clock())
    path = f"/public/certificates/{doc['digest']}/timeline"
    assert client.get(path).status_code == 200
    with ledger.engine.begin() as conn:
        conn.execute(update(Batch).where(Batch.root == root).values(signature=b"\xff\x00"))  # type: ignore[arg-type]
    try:
        answer = client.get(path)
        assert answer.status_code == 200, answer.text[:300]
        assert "signature" in answer.text
        found = reconcile.reconcile(ledger, departments=[dept], check_bodies=False)
        assert [d.root for d in found.divergences if d.kind == "anchor_data_altered"] == [root], found
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(update(Batch).where(Batch.root == root).values(signature=kept))  # type: ignore[arg-type]


def test_a_cited_erased_licences_batch_signature_stored_as_bytes_does_not_stop_replay(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider with write access to the SQLite file who wants a department's decisions left unchecked,
    writing bytes where the batch row of a licence one of its decisions cites, lawfully erased since, keeps the
    signature's hex: replay, re-establishing what erasure left of the cited licence, called ``removeprefix`` on them
    and stopped with a TypeError, every finding of the department unreported. The signature is now no signature
    there: the citation no longer checks out and is reported, the rest of the replay runs."""
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps the column's type: bytes cannot be stored there")
    from ledger.services import decisions, logchain
    from ledger.services.replay import replay

    from .decision_support import application, unique_rule_set

    rules = unique_rule_set(f"r80-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    (licence,) = api_issue(ledger, "MKT", 1)
    app = application("C-R80-ERASED", licence["digest"])
    decisions.decide(
        ledger,
        fresh_department,
        app["case_id"],
        app["service_item"],
        app,
        rules,
        applicant_ref=licence["fields"]["subject.credit_code"],
    )
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    erasure.erase(ledger, licence["digest"], basis="consent-withdrawn", by="officer-r80")
    assert replay(ledger, department=fresh_department).ok
    with ledger.engine.connect() as conn:
        root = conn.execute(select(Certificate.batch_root).where(Certificate.digest == licence["digest"])).scalar_one()  # type: ignore[call-overload,arg-type]
        kept = conn.execute(select(Batch.signature).where(Batch.root == root)).scalar_one()  # type: ignore[call-overload,arg-type]
    with ledger.engine.begin() as conn:
        conn.execute(update(Batch).where(Batch.root == root).values(signature=b"\xff\x00"))  # type: ignore[arg-type]
    try:
        found = replay(ledger, department=fresh_department)
        assert not found.ok, found.summary()
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(update(Batch).where(Batch.root == root).values(signature=kept))  # type: ignore[arg-type]
    assert replay(ledger, department=fresh_department).ok


# -- 6. a certificate's sealed body of another type, or altered ------------------------------------------------------


@pytest.mark.parametrize("value", ["some text", 1.5, b"sixteen bytes of garbage"], ids=["text", "real", "bytes"])
def test_a_sealed_body_of_another_type_or_altered_is_a_conflict_never_a_crash(
    ledger: Ledger, fresh_department: str, value: Any
) -> None:
    """Adversary: an insider with database access writing into a certificate row's ``sealed`` column text or a real
    number (SQLite keeps any type in any column) or bytes that are no sealed body. Text or a number made
    ``bytes(...)`` raise a TypeError: the certificate's public timeline and its issuer's full one answered 500, and
    ``ledger reconcile`` and ``ledger export`` stopped with a traceback, reconcile before reporting anything of any
    batch. And a body that does not open was a bare LedgerError, so anyone's ``POST /public/verify`` of its digest,
    the issuer's read and a grant of it answered 500 ("the gateway failed"). Now such a body reads as no bytes, a
    body that does not open is a conflict (409: the row was altered), the timelines answer, and reconcile reports
    ``sealed_body_altered``."""
    if not isinstance(value, bytes) and ledger.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps the column's type: only bytes can be stored there")
    dept = fresh_department
    (doc,) = api_issue(ledger, dept, 1)
    digest = doc["digest"]
    with ledger.engine.connect() as conn:
        kept = conn.execute(select(Certificate.sealed).where(Certificate.digest == digest)).scalar_one()  # type: ignore[call-overload,arg-type]
    with ledger.engine.begin() as conn:
        if isinstance(value, bytes):
            conn.execute(update(Certificate).where(Certificate.digest == digest).values(sealed=value))  # type: ignore[arg-type]
        else:  # past the column's type, as SQL written by hand
            conn.execute(
                text("UPDATE certificate SET sealed = :v WHERE digest = :d"),
                {"v": value, "d": bytes.fromhex(digest[2:])},
            )
    try:
        client = make_client(ledger, Clock())
        own = bearer(login(client, ledger, dept))
        assert client.get(f"/public/certificates/{digest}/timeline").status_code == 200
        assert client.get(f"/certificates/{digest}/provenance", headers=own).status_code == 200
        for answer in (
            client.post("/public/verify", json={"digest": digest}),
            client.get(f"/certificates/{digest}/content", headers=own),
        ):
            body = problem_body(answer, 409)
            assert "integrity" in body["detail"], body
        found = reconcile.reconcile(ledger, departments=[dept], check_bodies=True)
        assert [d.kind for d in found.divergences] == ["sealed_body_altered"], found
        with pytest.raises(StateError, match="integrity"):
            issuance.holder_document(ledger, digest)
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(update(Certificate).where(Certificate.digest == digest).values(sealed=kept))  # type: ignore[arg-type]
    assert reconcile.reconcile(ledger, departments=[dept], check_bodies=True).ok


def test_a_cited_copy_row_holding_text_does_not_stop_every_erasure(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: an insider with write access to the SQLite file keeping every certificate's contents from being
    erased (a person's right to erasure): insert one ``citeddocument`` row not yet labelled with its certificate
    (``digest`` NULL, as rows stored before the labels were) whose ``sealed`` holds text. Every ``ledger erase``
    labels such rows first (``erasure.label_cited_copies``), after writing its log entry, and ``bytes(text)`` raised
    a TypeError there: the entry logged, the contents kept, and the same traceback at every retry, of any
    certificate. Such a copy now reads as no bytes, one nothing can be read of (labelled ``""``), and the erasure
    completes."""
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps the column's type: text cannot be stored there")
    (doc,) = api_issue(ledger, fresh_department, 1)
    ref = "0x" + "7e" * 32
    with ledger.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO citeddocument (ref, sealed, digest) VALUES (:r, 'not a sealed copy', NULL)"), {"r": ref}
        )
    try:
        erasure.erase(ledger, doc["digest"], basis="objection", by="officer-r80")
        assert issuance.sealed_fields(ledger, doc["digest"]) is None  # the contents are gone
        with ledger.engine.connect() as conn:
            labelled = conn.execute(select(CitedDocument.digest).where(CitedDocument.ref == ref)).scalar_one()  # type: ignore[call-overload,arg-type]
        assert labelled == ""
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(text("DELETE FROM citeddocument WHERE ref = :r"), {"r": ref})


def test_a_sealed_input_row_holding_text_does_not_stop_replay(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: an insider with write access to the SQLite file who wants a department's decisions left
    unchecked, writing text into the ``sealed_input`` row of an approval (the fields its permit copies, sealed apart
    from the stored input): replay, loading the decision's sealed fields, compared ``bytes(text)`` with the erasure
    marker outside its guard and stopped with a TypeError, every finding of the department unreported. The row now
    reads as no bytes, fields that do not open, which replay reports as the altered row it is."""
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps the column's type: text cannot be stored there")
    from ledger.services import decisions, logchain
    from ledger.services.replay import replay
    from ledger.storage.models import SealedInput

    from .permit_support import application as permit_application
    from .permit_support import permit_rules

    dept = fresh_department
    rules = permit_rules(f"r80-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    (licence,) = api_issue(ledger, "MKT", 1)
    app = permit_application("C-R80-SEALED", licence)

    def sealed_inputs() -> set[str]:
        with ledger.engine.connect() as conn:
            return set(conn.execute(select(SealedInput.input_digest)).scalars())  # type: ignore[call-overload]

    before = sealed_inputs()
    decided = decisions.decide(
        ledger,
        dept,
        "C-R80-SEALED",
        app["service_item"],
        app,
        rules,
        applicant_ref=licence["fields"]["subject.credit_code"],
    )
    assert decided.body["outcome"] == "approve", decided.body
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).ok
    (digest,) = sealed_inputs() - before  # the approval's
    with ledger.engine.connect() as conn:
        kept = conn.execute(select(SealedInput.sealed).where(SealedInput.input_digest == digest)).scalar_one()  # type: ignore[call-overload,arg-type]
    with ledger.engine.begin() as conn:
        conn.execute(
            text("UPDATE sealed_input SET sealed = 'not sealed fields' WHERE input_digest = :d"), {"d": digest}
        )
    try:
        found = replay(ledger, department=dept)
        assert not found.ok, found.summary()
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(update(SealedInput).where(SealedInput.input_digest == digest).values(sealed=kept))  # type: ignore[arg-type]
    assert replay(ledger, department=dept).ok
