"""Hostile departments and holders against the real chain: each attack of the integrity review, reproduced.

A department acting outside its authority (copying another department's certificate digests into a batch of its
own and changing their status there, squatting another department's roots before it anchors them) and a holder
editing their document (hiding the expiry date) must change no verdict: not in the library verifier the CLI and
gateway use, not in evidence bundles, not in the standalone court verifier, not in the provenance timeline.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ledger.client import Ledger
from ledger.errors import ChainError, InputError
from ledger.formats.canonical import field_hash, hex32, parse_hex32, typed_digest
from ledger.formats.certificate import batch_schema, validate_record
from ledger.formats.merkle import MerkleTree
from ledger.services import evidence, issuance, logchain, provenance, status
from ledger.storage.store import Batch, BatchState, StatusChange

from .api_support import Clock, make_client
from .authority_support import fields_digest_of
from .conftest import TEST_ITEMS, TEST_TYPES, make_records
from .evidence_support import both
from .foundation_support import issue, verify

_FILLER = b"\x5a" * 32


def _hostile_copy(ledger: Ledger, attacker: str, victim_digests: list[str]) -> tuple[bytes, MerkleTree]:
    """``attacker`` anchors, with its own valid key, a batch whose leaves are the victim's digests."""
    filler = typed_digest(batch_schema("business-licence"), _FILLER)  # a licence of fields digest _FILLER
    leaves = [parse_hex32(d) for d in victim_digests] + [filler]
    tree = MerkleTree(leaves)
    chain = ledger.chain
    chain.transact(
        ledger.department_account(attacker),
        chain.anchor.functions.anchorBatch(tree.root, len(leaves), batch_schema("business-licence")),
    )
    return tree.root, tree


def test_foreign_status_changes_never_reach_the_issuers_certificate(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    victim, successor, spare = issue(ledger, tmp_path, fresh_department, make_records(3))
    root, tree = _hostile_copy(ledger, "HOSP", [victim["digest"], successor["digest"]])
    chain, hosp = ledger.chain, ledger.department_account("HOSP")
    digest = parse_hex32(victim["digest"])
    # every status change, through the attacker's own batch, succeeds on chain in the attacker's namespace ...
    for action, code in (("suspend", 9), ("reinstate", 10), ("revoke", 2)):
        chain.transact(hosp, getattr(chain.anchor.functions, action)(root, digest, tree.proof(0), code))
    chain.transact(
        hosp,
        chain.anchor.functions.supersede(
            root, fields_digest_of(successor), tree.proof(1), root, _FILLER, tree.proof(2)
        ),
    )
    # ... and through the victim's own root it is refused outright
    with pytest.raises(ChainError) as refused:
        cert = status.stored(ledger, victim["digest"])
        chain.send(hosp, chain.anchor.functions.revoke(cert.root, cert.digest, cert.proof, 2))
    assert refused.value.error_name == "AnchorUnknownRoot"

    # the certificate as issued is untouched for every verifier
    for doc in (victim, successor):
        report = verify(ledger, doc)
        assert report.ok, report.to_json()
        assert report.facts["status"] == "valid"
    bundle = evidence.certificate_bundle(ledger, victim)
    assert bundle["status"] == {"status": "valid", "changed_in_block": None, "detail": None, "reason": None}
    report, code, _ = both(ledger, bundle, tmp_path)
    assert report.ok and code == 0
    timeline = provenance.timeline(ledger, victim["digest"], now=datetime.now(UTC))
    assert timeline["status"] == "valid"
    gateway = make_client(ledger, Clock())
    answer = gateway.post("/public/verify", json={"document": victim})
    assert answer.status_code == 200 and answer.json()["verified"] is True, answer.text
    public = gateway.get(f"/public/certificates/{victim['digest']}/timeline").json()
    assert public["status"] == "valid" and "revoked" not in [e["kind"] for e in public["events"]]
    assert not [e for e in timeline["events"] if e["kind"] in ("suspended", "reinstated", "revoked", "superseded")]

    # the genuine issuer still has full control, and every verifier sees its change
    status.revoke(ledger, victim["digest"], "fraud", note="forged supporting documents; case 2026-77")
    assert [c.name for c in verify(ledger, victim).failed] == ["status"]
    revoked = evidence.certificate_bundle(ledger, victim)
    assert revoked["status"]["status"] == "revoked"
    report, code, _result = both(ledger, revoked, tmp_path, "revoked.json")
    assert [c.name for c in report.failed] == ["status"] and code == 1
    kinds = [e["kind"] for e in provenance.timeline(ledger, victim["digest"], now=datetime.now(UTC))["events"]]
    assert kinds.count("revoked") == 1
    assert verify(ledger, spare).ok


def test_root_squatting_cannot_block_or_hijack_a_batch(ledger: Ledger, fresh_department: str) -> None:
    records = [validate_record(r, i) for i, r in enumerate(make_records(3), 1)]
    built = issuance.build_batch(ledger, records, fresh_department)
    issuance.store_prepared(ledger, built)
    # HOSP sees the root (e.g. in the victim's pending transaction) and anchors it first, as its own
    ledger.chain.transact(
        ledger.department_account("HOSP"),
        ledger.chain.anchor.functions.anchorBatch(built.root, 3, batch_schema("business-licence")),
    )
    assert issuance.anchor_event(ledger, built.root) is None  # HOSP's event is never taken for ours
    anchor = issuance.confirm(ledger, built.root, timeout=60)
    assert anchor["department"] == fresh_department
    assert anchor["signer"] == ledger.department_account(fresh_department).address
    event = issuance.anchor_event(ledger, built.root)
    assert event is not None and event["department"] == fresh_department
    doc = issuance.export_document(ledger, built.fields[0]["id"], fresh_department)
    assert verify(ledger, doc).ok
    # the squat is HOSP's alone and makes nothing of ours verify under HOSP's name
    forged = json.loads(json.dumps(doc))
    forged["anchor"]["department"] = "HOSP"
    assert not verify(ledger, forged).ok


def test_confirm_refuses_an_event_by_another_key(ledger: Ledger, fresh_department: str) -> None:
    """A store row whose signer is not the key that anchored the root is never marked confirmed."""
    records = [validate_record(r, i) for i, r in enumerate(make_records(2), 1)]
    built = issuance.build_batch(ledger, records, fresh_department)
    issuance.store_prepared(ledger, built)
    issuance.confirm(ledger, built.root, timeout=60)
    with ledger.engine.begin() as conn:  # an insider edits the stored signer, then asks for confirmation again
        conn.execute(
            Batch.__table__.update()
            .where(Batch.root == hex32(built.root))
            .values(  # type: ignore[attr-defined]
                state=BatchState.SUBMITTED, signer="0x" + "ab" * 20
            )
        )
    with pytest.raises(Exception, match="not this batch's anchoring"):
        issuance.confirm(ledger, built.root, timeout=10)
    with ledger.engine.connect() as conn:
        assert conn.execute(select(Batch.state).where(Batch.root == hex32(built.root))).scalar_one() == "submitted"
    with ledger.engine.begin() as conn:  # undo the edit: the batch confirms again (and no other test resumes it)
        conn.execute(
            Batch.__table__.update()
            .where(Batch.root == hex32(built.root))
            .values(  # type: ignore[attr-defined]
                signer=built.signer
            )
        )
    assert issuance.confirm(ledger, built.root, timeout=10)["signer"] == built.signer


@pytest.mark.parametrize("log", ["decisions", "access"])
def test_log_root_squatting_cannot_block_a_departments_log(ledger: Ledger, fresh_department: str, log: str) -> None:
    dept = fresh_department
    added = [logchain.append(ledger, log, dept, {"n": i}) for i in range(5)]
    tree = MerkleTree([parse_hex32(e.entry_hash) for e in added])
    # The attacker writes into its own log on chain behind its database's back, so it gets a department of its own
    # (the decision log takes an approver's anchoring only)
    from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER
    from ledger.services.departments import Council

    attacker = f"SQ-{dept[-10:]}-{log[:3]}"
    Council(ledger).register(attacker, "Root squatter", ROLE_ISSUER | ROLE_APPROVER, types=TEST_TYPES, items=TEST_ITEMS)
    chain, hosp = ledger.chain, ledger.department_account(attacker)
    start = int(chain.call(chain.log.functions.nextSequence(attacker.encode().ljust(32, b"\0"), logchain.log_id(log))))
    chain.transact(
        hosp,
        chain.log.functions.anchorLog(logchain.log_id(log), tree.root, start, start, parse_hex32(added[-1].entry_hash)),
    )
    roots = logchain.anchor_pending(ledger, log, dept)
    assert roots == [hex32(tree.root)]
    assert all(e.state == "anchored" for e in logchain.entries(ledger, log, dept))
    assert logchain.check_log(ledger, log, dept) == []
    ranges = logchain.chain_ranges(ledger, log, dept)
    assert [(r.first_seq, r.last_seq, r.signer) for r in ranges] == [(1, 5, ledger.department_account(dept).address)]


def _hide(document: dict[str, Any], name: str) -> dict[str, Any]:
    """What a holder can do without any key: move a disclosed field into ``hidden`` (the digest still matches)."""
    doc = json.loads(json.dumps(document))
    value, salt = doc["fields"].pop(name), doc["salts"].pop(name)
    doc.setdefault("hidden", {})[name] = field_hash(name, value, bytes.fromhex(salt)).hex()
    return doc


@pytest.mark.parametrize("name", ["valid_until", "valid_from", "id", "issuer", "issued_at", "type"])
def test_hiding_an_always_disclosed_field_fails_every_verifier(ledger: Ledger, tmp_path: Path, name: str) -> None:
    record = make_records(1)[0]
    record["valid_from"], record["valid_until"] = "2020-01-01", "2021-12-31"  # long expired
    (doc,) = issue(ledger, tmp_path, "MKT", [record])
    assert [c.name for c in verify(ledger, doc).failed] == ["validity"]
    edited = _hide(doc, name)
    report = verify(ledger, edited)
    assert not report.ok
    assert "disclosure" in {c.name for c in report.failed}, report.to_json()
    assert f"{name} must always be disclosed" in report.check("disclosure").detail
    if name == "type":  # the digest commits to the type (pl-cert/2): without it there is no digest either
        assert {c.name for c in report.failed} == {"integrity", "disclosure"}, report.to_json()
        assert "discloses its `type` field" in report.check("integrity").detail
    # a bundle made of the genuine document, then edited by the holder the same way
    bundle = evidence.certificate_bundle(ledger, doc)
    cert = bundle["certificate"]
    cert["hidden"][name] = cert["field_hashes"][name]
    del cert["fields"][name], cert["salts"][name]
    lib, code, result = both(ledger, bundle, tmp_path, f"hidden-{name}.json")
    assert "disclosure" in {c.name for c in lib.failed} and code == 1
    assert "disclosure" in {c["name"] for c in result["checks"] if c["result"] == "FAIL"}


def test_status_reasons_are_codes_never_free_text(ledger: Ledger, tmp_path: Path, fresh_department: str) -> None:
    (doc,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    with pytest.raises(InputError, match="not in the published vocabulary"):
        status.revoke(ledger, doc["digest"], "Zhang Wei 440300198001010001")
    cert = status.stored(ledger, doc["digest"])
    assert (
        ledger.chain.call(
            ledger.chain.anchor.functions.statusHistory(  # nothing was sent
                fresh_department.encode().ljust(32, b"\0"), cert.root, cert.digest
            )
        )
        == []
    )
    chain, account = ledger.chain, ledger.department_account(fresh_department)
    for code in (0, 13, 255):
        with pytest.raises(ChainError) as refused:
            chain.send(account, chain.anchor.functions.suspend(cert.root, cert.digest, cert.proof, code))
        assert refused.value.error_name == "AnchorUnknownReason"
    note = "suspended after a call from Zhang Wei, ID 440300198001010001"
    status.suspend(ledger, doc["digest"], "under-investigation", note=note)
    with ledger.engine.connect() as conn:
        change_id, sealed, detail = conn.execute(
            select(StatusChange.id, StatusChange.note_sealed, StatusChange.detail).where(
                StatusChange.digest == doc["digest"]
            )
        ).one()
    assert b"Zhang" not in bytes(sealed) and b"4403" not in bytes(sealed)
    assert status.note_of(ledger, change_id) == note
    assert int(detail, 16) == status.REASONS["under-investigation"]
    (_, _, _, on_chain) = chain.call(
        chain.anchor.functions.statusOf(fresh_department.encode().ljust(32, b"\0"), cert.root, cert.digest)
    )
    assert int.from_bytes(on_chain, "big") == 9  # one byte of vocabulary, nothing else


def test_contracts_of_another_version_are_refused(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deployment whose contracts answer another version than this ledger reads is never read with its rules
    (here: a ledger that would need anchor contracts 4.4.0 meets the 4.3.0 ones)."""
    from ledger.errors import ConfigError
    from ledger.onchain import chain as chain_module

    ledger.chain.check_code()  # the session's own deployment is current
    monkeypatch.setitem(chain_module.CONTRACT_VERSIONS, "anchor", "4.4.0")
    with pytest.raises(ConfigError, match=r"version 4\.3\.0; this ledger needs 4\.4\.0"):
        ledger.chain.check_code()
