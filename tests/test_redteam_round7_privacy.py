"""Round 7: the privacy promises attacked (docs/privacy.md): what a hostile department, an insider with the
database (and, after an erasure, the vault key) or the data subject's counterparties can still learn.

Each test is one attack that worked before this round; its docstring names the adversary and the attack.
"""

from __future__ import annotations

import itertools
import json
import os
import stat
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlmodel import col

from ledger.client import Ledger
from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER, ROLE_VERIFIER
from ledger.services import accesslog, consent, decisions, erasure, logchain, provenance, sharing
from ledger.services.departments import Council
from ledger.storage.models import CONSENT_ERASED, Certificate, Consent, Grant
from ledger.storage.vault import ERASED

from .api_support import issue
from .cli_support import run_cli
from .conftest import TEST_ITEMS, TEST_TYPES, make_records
from .consent_support import (
    NOW,
    PROVIDERS,
    assertion,
    consent_world,  # noqa: F401 - the world fixture
    give,
    grant,
    identifier,
    read_as,
)
from .decision_support import application, unique_rule_set

_codes = itertools.count(1)


def everything_written(ledger: Ledger) -> bytes:
    """Every byte the ledger's database holds: the SQLite files (read by another process, so this one keeps its
    locks), or every row of every PostgreSQL table (as tests/test_erasure.py reads it)."""
    if ledger.engine.dialect.name == "sqlite":
        base = Path(str(ledger.engine.url.database))
        files = [str(p) for p in (base, Path(f"{base}-wal"), Path(f"{base}-shm")) if p.exists()]
        return subprocess.run(["cat", *files], check=True, capture_output=True).stdout
    chunks = []
    with ledger.engine.connect() as conn:
        tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
        for table in tables:
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                chunks += [bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for v in row]
    return b"\n".join(chunks)


def _approver(ledger: Ledger) -> str:
    """Another department, an approver (and verifier) with no grant on anything."""
    code = f"R7{os.getpid() % 1000}-{next(_codes)}"
    Council(ledger).register(
        code,
        f"Round 7 department {code}",
        ROLE_ISSUER | ROLE_VERIFIER | ROLE_APPROVER,
        types=TEST_TYPES,
        items=TEST_ITEMS,
    )
    return code


def test_erasure_leaves_no_consent_record_that_links_the_certificate_to_its_person(
    ledger: Ledger, world: dict[str, Any]
) -> None:
    """Adversary: an insider holding the database and the vault key (the very adversary erasure is about,
    docs/privacy.md), after the person's certificate was lawfully erased. Attack: the consent the person had given
    for it stays in ``consent_record``: ``subject_ref`` is HMAC(vault-derived key, ID number), so with the vault
    key one hashes candidate ID numbers (a birth date and a region leave a few hundred thousand) until one matches,
    and the erased certificate's digest, issuer, recipients and the person's own purpose text are theirs again.
    The person, listing their consents, is also still shown the erased certificate. After the erasure no row may
    hold the reference or the purpose text, and the consent check must not call the erasure tampering."""
    doc = world["a"]
    text = "claim of the person erased in round 7 " + doc["digest"][2:14]
    given = give(ledger, doc, "INS", NOW, purpose_text=text)
    ref = consent.subject_ref(ledger, identifier(doc))
    assert given.subject_ref == ref

    erasure.erase(ledger, doc["digest"], basis="consent-withdrawn", by="officer-r7", at=NOW + timedelta(seconds=1))

    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(Consent.subject_ref, Consent.purpose_text).where(Consent.digest == doc["digest"])  # type: ignore[call-overload]
        ).all()
        elsewhere = conn.execute(select(Consent.id).where(Consent.subject_ref == ref)).all()  # type: ignore[call-overload]
    assert rows and all(r[0] != ref for r in rows), "the erased certificate's consent still links it to the person"
    assert all(r[1] == "" for r in rows), "the person's purpose text survives the erasure"
    assert erasure.flush_sqlite_log(ledger) in (True, None)
    written = everything_written(ledger)
    assert text.encode() not in written
    if not elsewhere:  # (the session's other tests may have the same person consent for another certificate)
        assert ref.encode() not in written
    # the person no longer finds the erased certificate among their consents
    mine = consent.list_consents(
        ledger,
        assertion=assertion(ledger, identifier(doc), NOW, consent.listing_request(ledger)),
        now=NOW,
        providers=PROVIDERS,
    )
    assert doc["digest"] not in {c.digest for c in mine}
    # a lawful erasure is not an insider's edit: the consent check of the department stays clean
    assert consent.check(ledger, world["issuer"]) == []
    # but the marker written by an insider on the consent of a certificate that was not erased is reported
    other = give(ledger, world["b"], "INS", NOW)
    with ledger.engine.begin() as conn:
        conn.execute(update(Consent).where(Consent.id == other.id).values(subject_ref=CONSENT_ERASED))  # type: ignore[arg-type]
    found = consent.check(ledger, world["issuer"])
    assert [(f["kind"], f["consent"]) for f in found] == [("consent_signature", other.id)]


def test_the_anchored_hash_of_an_erased_certificates_consent_confirms_no_guessed_person_or_purpose(
    ledger: Ledger, world: dict[str, Any]
) -> None:
    """Adversary: an insider with the database (no vault key needed), or an auditor with the anchored access log and
    a copy of the consent rows, after the certificate was lawfully erased. Attack: erasure empties the consent's
    subject reference and purpose text, but its record hash stays, in the row and in the anchored ``consent``
    entry, and the record (``pl-consent/1``) hashed nothing secret but those two: every other member is in the row
    or the entry, the purpose text enters as its unsalted SHA-256, and the subject reference is the same for every
    consent of the person, so the references of the other consent rows in the database are the candidates. One
    rebuilt record per (reference, candidate text) ties the erased certificate to the person's other consents (and
    confirms the text). A consent must be hashed with a random salt of its own, which erasure destroys."""
    doc = world["a"]
    again = issue(ledger, world["issuer"], 1)[0]  # another certificate of the same person (the same ID number)
    assert identifier(again) == identifier(doc)
    text_ = f"medical insurance claim 2026-{doc['digest'][2:8]}"
    erased = give(ledger, doc, "INS", NOW, purpose_text=text_)
    kept = give(ledger, again, "INS", NOW, purpose_text=text_)
    assert accesslog.anchor(ledger, world["issuer"])
    logged = [
        b
        for b in (
            logchain.read_body(e.body, logchain.LOG_ACCESS, e.department_id, e.seq)
            for e in logchain.entries(ledger, logchain.LOG_ACCESS, world["issuer"])
            if e.state == logchain.EntryState.ANCHORED
        )
        if b.get("consent") == erased.id and b.get("action") == "consent"
    ]
    assert len(logged) == 1

    erasure.erase(ledger, doc["digest"], basis="objection", by="officer-r7", at=NOW + timedelta(seconds=1))

    with ledger.engine.connect() as conn:
        rows = [Consent.model_validate(r._mapping) for r in conn.execute(select(Consent))]
    row = next(r for r in rows if r.id == erased.id)
    assert row.subject_ref == CONSENT_ERASED and row.purpose_text == ""
    references = {r.subject_ref for r in rows if r.subject_ref != CONSENT_ERASED}
    assert kept.subject_ref in references  # what the adversary holds: the database's other consents
    texts = {r.purpose_text for r in rows if r.purpose_text} | {"medical insurance claim", text_}
    # the attack: rebuild the erased consent's record for each candidate person and text, as pl-consent/1 hashes it
    confirmed = [
        (ref, text)
        for ref in references
        for text in texts
        if consent._record_hash(row.model_copy(update={"subject_ref": ref, "purpose_text": text}))
        == logged[0]["consent_hash"]
    ]
    assert confirmed == [], "the erased certificate's anchored consent hash confirms its person and purpose"
    assert consent.check(ledger, world["issuer"]) == []  # the erasure is still no tampering
    # the record hashed a random salt with them, the only thing a guess now lacks, and the erasure destroyed it
    salt = erased.record_salt
    assert salt is not None and len(bytes.fromhex(salt)) >= 16 and row.record_salt is None
    rebuilt = row.model_copy(update={"subject_ref": kept.subject_ref, "purpose_text": text_, "record_salt": salt})
    assert consent._record_hash(rebuilt) == logged[0]["consent_hash"]
    assert erasure.flush_sqlite_log(ledger) in (True, None)
    written = everything_written(ledger)
    assert salt.encode() not in written and bytes.fromhex(salt) not in written
    answers = [c.public(NOW).model_dump_json() for c in rows] + [json.dumps(logged)]
    assert not any(kept.record_salt in a for a in answers if kept.record_salt)


def test_a_consent_recorded_before_record_salts_still_checks_and_serves_its_grant(
    ledger: Ledger, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A consent recorded before records had a salt (``record_salt`` NULL, as migration 0011 leaves it) is the
    ``pl-consent/1`` record it was signed as: its signature and its anchored hash still check, and a grant relying
    on it is served; a salt an insider adds to such a row, or clears from a salted one, is reported."""
    doc = world["a"]
    monkeypatch.setattr(consent, "new_record_salt", lambda: None)
    old = give(ledger, doc, "INS", NOW)
    monkeypatch.undo()
    new = give(ledger, world["b"], "INS", NOW)
    assert old.record_salt is None and new.record_salt is not None
    assert consent.check(ledger, world["issuer"]) == []
    made = grant(ledger, world, doc, consent=old.id)
    assert read_as(ledger, doc, NOW + timedelta(seconds=1)).grant.id == made.id  # type: ignore[union-attr]
    with ledger.engine.begin() as conn:
        conn.execute(update(Consent).where(col(Consent.id) == old.id).values(record_salt="00" * 32))
        conn.execute(update(Consent).where(col(Consent.id) == new.id).values(record_salt=None))
    found = consent.check(ledger, world["issuer"])
    assert sorted((f["kind"], f["consent"]) for f in found) == sorted(
        [("consent_signature", old.id), ("consent_signature", new.id)]
    )


def test_a_department_reading_a_certificate_through_a_decision_is_in_the_issuers_access_log(
    ledger: Ledger, world: dict[str, Any]
) -> None:
    """Adversary: another department with the approver role, holding no grant and no consent on a certificate
    whose digest it has. Attack: it "decides" applications citing the certificate by digest; the ledger opens the
    certificate from the issuer's store to verify it and answers the type, status, expiry and whether it names
    the ``applicant_ref`` given (so a guessed ID number is confirmed or not), and nothing of it reached the
    issuer's access log: neither the issuer nor the data subject (``POST /public/holder/accesses``) could see
    that this department read the certificate. Every such read must be in the issuer's access log, with who read
    it and for which case."""
    doc = world["a"]
    approver = _approver(ledger)
    rules = unique_rule_set(f"r7-{approver}")
    decisions.publish_rule_set(ledger, rules, approver)
    guess = identifier(doc)
    decided = decisions.decide(
        ledger, approver, "R7-PROBE-1", "ITEM-1", application("R7-PROBE-1", doc["digest"]), rules, applicant_ref=guess
    )
    assert decided.body["certificates"][0]["verified"] is True  # the store was opened for the approver
    reads = [a for a in accesslog.accesses(ledger, doc["digest"], world["issuer"]) if a["actor"] == approver]
    assert reads, f"{approver} read {doc['digest']} out of {world['issuer']}'s store and no access entry says so"
    assert reads[0]["outcome"] == "served" and "R7-PROBE-1" in (reads[0]["purpose"] or "")
    # the data subject sees it in their own list of who read the certificate
    seen = sharing.subject_accesses(
        ledger,
        digest=doc["digest"],
        assertion=assertion(ledger, guess, NOW, consent.accesses_request(doc["digest"])),
        now=NOW,
        providers=PROVIDERS,
    )
    assert approver in {a["actor"] for a in seen}


def _grant_to_ins(
    ledger: Ledger, world: dict[str, Any], doc: dict[str, Any], purpose: str, consent_id: str, expires_at: datetime
) -> Any:
    """The issuer shares ``doc``'s subject name with INS for ``purpose`` (its free text), on consent ``consent_id``."""
    return sharing.create_grant(
        ledger,
        issuer=world["issuer"],
        signer=world["signer"],
        digest=doc["digest"],
        grant=sharing.GrantCreate(
            grantee="INS",
            purpose=purpose,
            purpose_code="insurance-claim",
            consent=consent_id,
            expires_at=expires_at,
            reveal=["subject.name"],
        ),
        now=NOW,
    )


def test_a_grants_free_text_purpose_is_not_kept_in_the_anchored_access_log_past_erasure(
    ledger: Ledger, world: dict[str, Any]
) -> None:
    """Adversary: an insider with the database (or an auditor reading the access log), after the certificate was
    lawfully erased. Attack: the issuer's free-text purpose of a grant ("medical claim of <the person>, ...",
    what the field invites) was copied into the issuer's hash-chained, anchored access log with the grant, every
    read through it and its revocation. An anchored entry cannot be edited without breaking the chain, so no
    erasure could ever reach the text: it named the person next to the certificate's digest for good. The log must
    hold only a hash of the text (as consent entries hold a purpose code and the consent record its text's hash);
    the text stays in the grant row, shown with the entries while it is there, and erasure clears it."""
    doc = world["a"]
    text_ = f"medical claim of the person of {doc['digest'][2:14]} (hospital stay)"
    consented = give(ledger, doc, "INS", NOW)
    made = _grant_to_ins(ledger, world, doc, text_, consented.id, NOW + timedelta(days=1))
    read_as(ledger, doc, NOW + timedelta(seconds=1))
    sharing.revoke_grant(
        ledger, issuer=world["issuer"], signer=world["signer"], grant_id=made.id, now=NOW + timedelta(seconds=2)
    )
    # while the grant row holds the text, the issuer and the person are shown it with each read
    reads = [a for a in accesslog.accesses(ledger, doc["digest"], world["issuer"]) if a["grant"] == made.id]
    assert reads and all(a["purpose"] == text_ for a in reads)
    assert accesslog.anchor(ledger, world["issuer"]) and accesslog.check(ledger, world["issuer"]) == []

    erasure.erase(ledger, doc["digest"], basis="objection", by="officer-r7", at=NOW + timedelta(seconds=1))

    assert erasure.flush_sqlite_log(ledger) in (True, None)
    assert text_.encode() not in everything_written(ledger), "the grant's purpose outlives the erasure"
    assert accesslog.check(ledger, world["issuer"]) == []  # the anchored log is untouched by the erasure
    assert [
        a["purpose"] for a in accesslog.accesses(ledger, doc["digest"], world["issuer"]) if a["grant"] == made.id
    ] == [None]


def test_the_anchored_hash_of_a_grants_purpose_confirms_no_guessed_text_after_erasure(
    ledger: Ledger, world: dict[str, Any]
) -> None:
    """Adversary: an insider with the database, or an auditor or a court reading the issuer's anchored access log,
    after the certificate was lawfully erased; they hold every anchored entry and a list of candidate purposes
    (names and claim numbers are enumerable: "medical claim of Maria Kowalska, claim 2026-0042"). Attack: the log
    kept a grant's purpose as ``purpose_sha256``, SHA-256 of the text alone, unsalted; hashing each candidate and
    finding it in the grant's entries confirms the text and ties the erased certificate to its person again (and
    two grants with one text had the same hash). The anchored hash must be salted with a random salt of the grant
    row's, which erasure destroys with the text: afterwards no candidate can be confirmed. Before the erasure the
    issuer and the person still see the purpose with each entry; the salt is in no entry and no answer."""
    doc = world["a"]
    real = f"medical claim of Maria Kowalska, claim 2026-{doc['digest'][2:8]} (hospital stay)"
    candidates = [
        f"medical claim of {name}, claim 2026-{doc['digest'][2:8]} (hospital stay)"
        for name in (
            "Jan Nowak",
            "Maria Kowalska",
            "Anna Wiśniewska",
        )
    ]
    assert real in candidates
    consented = give(ledger, doc, "INS", NOW)
    made = [_grant_to_ins(ledger, world, doc, real, consented.id, NOW + timedelta(days=1, seconds=n)) for n in range(2)]
    read_as(ledger, doc, NOW + timedelta(seconds=1))
    sharing.revoke_grant(
        ledger, issuer=world["issuer"], signer=world["signer"], grant_id=made[0].id, now=NOW + timedelta(seconds=2)
    )
    assert accesslog.anchor(ledger, world["issuer"]) and accesslog.check(ledger, world["issuer"]) == []

    def anchored() -> list[dict[str, Any]]:
        """The bodies of the grants' anchored entries: what the adversary holds for ever."""
        bodies = [
            logchain.read_body(e.body, logchain.LOG_ACCESS, e.department_id, e.seq)
            for e in logchain.entries(ledger, logchain.LOG_ACCESS, world["issuer"])
            if e.state == logchain.EntryState.ANCHORED
        ]
        return [b for b in bodies if b.get("grant") in {g.id for g in made}]

    logged = anchored()
    assert {b["action"] for b in logged} == {"grant", "read", "grant-revoked"}

    # before the erasure: the issuer and the person are shown the purpose with each entry of the grants
    listed = [a for a in accesslog.entries(ledger, department=world["issuer"], certificate=doc["digest"]) if a["grant"]]
    assert len(listed) == len(logged) and all(a["purpose"] == real for a in listed)
    theirs = sharing.subject_accesses(
        ledger,
        digest=doc["digest"],
        assertion=assertion(ledger, identifier(doc), NOW, consent.accesses_request(doc["digest"])),
        now=NOW + timedelta(seconds=3),
        providers=PROVIDERS,
    )
    assert [a["purpose"] for a in theirs if a.get("grant")] == [real]
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(Grant.__table__).where(col(Grant.digest) == doc["digest"]))  # type: ignore[attr-defined]
        salts = {r.id: str(r._mapping.get("purpose_salt")) for r in rows}
    assert set(salts) == {g.id for g in made}
    answers = json.dumps(
        [
            listed,
            theirs,
            [g.public(NOW).model_dump(mode="json") for g in sharing.list_grants(ledger, digest=doc["digest"])],
            provenance.timeline(ledger, doc["digest"], now=NOW, private=True),
        ],
        default=str,
    )
    for salt in salts.values():  # never in an anchored entry, nor in any answer
        assert salt not in json.dumps(logged) and salt not in answers

    erasure.erase(ledger, doc["digest"], basis="objection", by="officer-r7", at=NOW + timedelta(seconds=1))
    assert erasure.flush_sqlite_log(ledger) in (True, None)
    assert anchored() == logged and accesslog.check(ledger, world["issuer"]) == []

    # the attack: hash every candidate as the log did, look for it in the anchored entries and the whole database
    written = everything_written(ledger)
    for candidate in candidates:
        guess = accesslog.purpose_digest(candidate)
        assert guess not in json.dumps(logged), "an anchored entry confirms a guessed purpose after erasure"
        assert guess.encode() not in written and guess[2:].encode() not in written
    # two grants with one text: their anchored hashes differ (no linking of grants by their purpose either)
    hashes = {b["grant"]: b.get("purpose_hash") for b in logged if b["action"] == "grant"}
    assert len(set(hashes.values())) == 2 and None not in hashes.values()
    # the anchored hash is keyed by the grant's salt, and the salt went with the text: nothing confirms a guess
    assert all(len(bytes.fromhex(s)) >= 16 for s in salts.values())
    for b in logged:
        assert b["purpose_hash"] == accesslog.purpose_hash(real, salts[b["grant"]])
    for salt in salts.values():
        assert salt.encode() not in written and bytes.fromhex(salt) not in written
    assert real.encode() not in written
    assert [
        a["purpose"]
        for a in accesslog.entries(ledger, department=world["issuer"], certificate=doc["digest"])
        if a["grant"]
    ] == [None] * len(logged)


def test_a_grant_made_before_purpose_salts_keeps_its_unsalted_entries_shown_and_checked(
    ledger: Ledger, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A grant made before grants had a purpose salt (its row's ``purpose_salt`` NULL, as migration 0010 leaves
    it) is logged with ``purpose_sha256``, and its anchored entries cannot be rewritten: its later reads keep that
    member (a salt now would hide nothing its creation entry does not show), the lists still show its text beside
    each entry, the log checks, and erasure still clears the text. A salted entry is shown only with the very salt
    of its grant row: a salt edited in the database shows nothing."""
    doc = world["a"]
    text_ = f"claim of the person of {doc['digest'][2:14]}, made before purpose salts"
    monkeypatch.setattr(accesslog, "new_purpose_salt", lambda: None)
    old = grant(ledger, world, doc, purpose=text_, consent=give(ledger, doc, "INS", NOW).id)
    monkeypatch.undo()
    new = grant(ledger, world, world["b"], purpose=text_, consent=give(ledger, world["b"], "INS", NOW).id)
    assert old.purpose_salt is None and new.purpose_salt is not None
    read_as(ledger, doc, NOW + timedelta(seconds=1))
    mine = [a for a in accesslog.entries(ledger, department=world["issuer"], certificate=doc["digest"]) if a["grant"]]
    assert [(a["action"], a["purpose"]) for a in mine] == [("grant", text_), ("read", text_)]
    assert all(a["purpose_sha256"] == accesslog.purpose_digest(text_) and "purpose_hash" not in a for a in mine)
    assert accesslog.anchor(ledger, world["issuer"]) and accesslog.check(ledger, world["issuer"]) == []

    with ledger.engine.begin() as conn:  # an insider gives the new grant another salt: its entries show no text
        conn.execute(update(Grant).where(col(Grant.id) == new.id).values(purpose_salt="00" * 32))
    listed = accesslog.entries(ledger, department=world["issuer"], certificate=world["b"]["digest"])
    assert [a["purpose"] for a in listed if a["grant"] == new.id] == [None]

    erasure.erase(ledger, doc["digest"], basis="objection", by="officer-r7", at=NOW + timedelta(seconds=1))
    sharing.revoke_grant(
        ledger, issuer=world["issuer"], signer=world["signer"], grant_id=old.id, now=NOW + timedelta(minutes=2)
    )
    after = [a for a in accesslog.entries(ledger, department=world["issuer"], certificate=doc["digest"]) if a["grant"]]
    assert [a["purpose"] for a in after] == [None, None, None]
    assert "purpose_sha256" not in after[-1] and "purpose_hash" not in after[-1]  # nothing logged of the marker
    assert accesslog.anchor(ledger, world["issuer"]) and accesslog.check(ledger, world["issuer"]) == []


def test_files_the_cli_writes_with_certificate_contents_are_readable_by_their_owner_only(
    ledger: Ledger, world: dict[str, Any], tmp_path: Path
) -> None:
    """Adversary: another local user of the operator's machine (the data directory is 0700 and the database 0600
    for them, docs/threat-model.md). Attack: read the files the ledger writes with certificate contents, fields and
    salts: `ledger issue --out` (every holder's document), `ledger export` (a document or credential), `ledger
    evidence --out` (a bundle). They were created with the process's umask, 0644 under the usual 022, so anyone on
    the machine read every person's fields. Each must be created readable by its owner only, whatever the umask."""
    doc = world["a"]
    old = os.umask(0o022)
    try:
        records = tmp_path / "records.jsonl"
        records.write_text(json.dumps(make_records(1, prefix=f"R7-{world['issuer']}")[0]) + "\n", encoding="utf-8")
        issued = tmp_path / "issued.jsonl"
        exported = tmp_path / "exported.json"
        bundle = tmp_path / "bundle.json"
        for args in (
            ("issue", str(records), "-d", world["issuer"], "--out", str(issued)),
            ("export", doc["digest"], "--out", str(exported)),
            ("evidence", doc["digest"], "--out", str(bundle)),
        ):
            done = run_cli(ledger, *args)
            assert done.returncode == 0, done.stderr
    finally:
        os.umask(old)
    for path in (issued, exported, bundle):
        assert doc["fields"]["subject.name"] in path.read_text(encoding="utf-8") or path == issued
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path.name} is {oct(mode)}: other users of the machine read the fields in it"


def test_an_insider_cannot_pass_a_consent_edit_off_as_an_erasure_with_an_unanchored_erasure_row(
    ledger: Ledger, world: dict[str, Any]
) -> None:
    """Adversary: an insider with write access to the database (not the department's key). Attack: on a live
    certificate's consent, write the erasure marker over ``subject_ref`` and empty the purpose text (the person's
    consent now verifies nothing and names no one), overwrite the certificate's sealed contents with the erasure
    marker, and append an erasure entry to the issuer's ``erasures`` log in the database: only the department can
    anchor it. The consent check read the erasure from the database alone and stayed clean. It must believe only
    erasures the chain attests (``erasure.proven``), logged by the certificate's own issuer, as replay does."""
    doc = world["b"]
    given = give(ledger, doc, "INS", NOW)
    logchain.append(
        ledger,
        erasure.LOG,
        world["issuer"],
        {"certificate": doc["digest"], "basis": "objection", "by": "insider", "at": "2026-01-01T00:00:00Z"},
    )
    with ledger.engine.begin() as conn:
        conn.execute(
            update(Consent).where(Consent.id == given.id).values(subject_ref=CONSENT_ERASED, purpose_text="")  # type: ignore[arg-type]
        )
        conn.execute(update(Certificate).where(Certificate.digest == doc["digest"]).values(sealed=ERASED))  # type: ignore[arg-type]
    found = consent.check(ledger, world["issuer"])
    assert ("consent_signature", given.id) in [(f["kind"], f["consent"]) for f in found]
