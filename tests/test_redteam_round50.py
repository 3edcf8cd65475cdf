"""Red team round 50 against the last session's merges (docs/threat-model.md, round 50 rows). Each attack was written
failing first.

1. (A department writing its decision log past the library: it holds the log's key) record a decision citing a
   certificate its issuer has erased, stating facts the ledger never established (the applicant holds it), and let
   an officer of the issuer run ``ledger erase`` of the certificate again (as one does to anchor a pending entry):
   round 49's attestation of racing citations (``erasure._attest_racing``) took every citation no entry attested yet
   from the citing record's own word, so the issuer's anchored erasures log attested the lie and replay, which reads
   those facts only from it, passed the decision. Or record it before the erasure in a form the erasure's look
   cannot establish facts for (no applicant reference): the look left it to replay, the attestation after the seal
   took its word, and replay's ``certificate_facts`` report of it was gone.
2. (An insider with database access) delete the ``applicantsecret`` row of a department that issues and erases but
   never decided: since erasures log who erased as the department's salted reference (``by_ref``, made with that
   secret), the ledger's refusal to mint a new secret over references made with the old one (round 14b) looked at the
   decisions log only, so the next erasure minted one in silence, and no staff id matched the references of the
   erasures logged before (who erased them could no longer be confirmed).
3. (A department writing its logs past the library) store and anchor an entry whose text is not the canonical JSON
   of its body: spaced out, or naming a key twice (``"outcome"`` first as ``approve``, then as the rules decided).
   The ledger hashes an entry's stored text, both bundle verifiers the canonical JSON of the body they read, so replay
   passed the decision (reading the last of a duplicate key, as Python does) where both bundle verifiers fail its
   ``entry_hash``, and a reader keeping the first duplicate reads an approval; an erasure entry so written was
   attested to the library and not to the court.
4. (Whoever passes a council member's signed approval file on: a relay, a collector) re-encode its signature as its
   twin (r, n - s, the other v) or with the raw recovery id (v 0 or 1): the same member's signature to eth-account
   and the library, but the registry refuses both (EIP-2's low s, v 27 or 28: ``_recover`` answers the zero
   address), so ``ledger council approvals submit`` sent a batch that reverted as a whole, naming the honest member
   as the one whose signature is invalid, and every other member's approval with it.
5. (A witness, publishing its verifier key; or whoever hands a court and the library the witness keys) publish an
   Ed25519 key of small order (the identity, y = 1; its encoding with y = p + 1; the other small-order points): for
   such a key [k]A vanishes, so R = encode([S]B) is a "cosignature" of any checkpoint by anyone, which both
   verifiers took (``witnessed``); and the key spelt with y >= p, which the court's verifier refuses to decode and
   OpenSSL reduces, was the library's witness and not the court's: one bundle, two verdicts.

Held (no change; docs/threat-model.md, round 50 rows, and the helper's report): a batch or log signature's twin with
s in the upper half is recovered to the same key by ``signing.recover`` and the court's ``recover`` alike, r or s of
0 refused by both, and no verdict rests on a signature's bytes (sign-in challenges are single-use, consent assertions
spend their nonce); who erased (``by``, ``by_ref``, both, or a reference that is none) is read by no verifier, the
timeline or replay, and ``ledger erase`` names a staff id only when the reference is its; a certificate's digest in
an applicant's typed text is no citation (the erasure attests only facts the ledger established, or a racing record's
``certificates``, never typed text, which decision bodies do not carry); a batch answered with string ids or a result
of the wrong length is asked again call by call, and read as a single call reads it.

Real anvil, real database.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.services import decisions, erasure, issuance, logchain
from ledger.services.replay import replay
from ledger.storage.models import ApplicantSecret

from .conftest import PASSPHRASE, make_records, write_jsonl
from .council_support import approval_body
from .decision_support import application, unique_rule_set
from .insider_support import SPELLINGS, written_past_the_library


def _issued(ledger: Ledger, tmp_path: Path, department: str, tag: str, n: int = 1) -> list[dict[str, Any]]:
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / f"{tag}.jsonl", make_records(n)), department, out=out)
    return [dict(json.loads(line)) for line in out.getvalue().splitlines()]


def _decided_past_the_library(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, department: str, case: str, doc: dict[str, Any], rules: Any
) -> None:
    """A decision of ``department`` citing ``doc`` inline for an applicant who does not hold it, whose record says the
    applicant holds it and names no applicant reference, written as the department's own tool would write it: the
    library's storage of the input, the department's word in the record, no attestation asked of the issuer."""
    honest = decisions._automatic_body

    def lying(rule_set: Any, prepared: Any, facts: Any, *rest: Any) -> dict[str, Any]:
        body = honest(rule_set, prepared, [dataclasses.replace(f, holder=True) for f in facts], *rest)
        if case.endswith("-NOREF"):
            body["applicant_ref"] = None
        return body

    with monkeypatch.context() as patch:
        patch.setattr(decisions, "_automatic_body", lying)
        patch.setattr(decisions, "_attest_erased", lambda *args: None)
        app = application(case, {"document": doc})
        decisions.decide(ledger, department, case, app["service_item"], app, rules, applicant_ref="91110000RT50OTHER1")
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, department)


def _holder_lies(ledger: Ledger, department: str) -> list[str]:
    found = replay(ledger, department=department)
    return [d.detail for d in found.discrepancies if d.check == "certificate_facts" and "holder" in d.detail]


def test_an_erasure_run_again_attests_no_citing_records_own_word(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 1, the erasure run again: a decision written past the library after the certificate was erased claims
    the applicant holds it; replay reports it, and must still after ``ledger erase`` is run again."""
    (doc,) = _issued(ledger, tmp_path, fresh_department, "rt50-again")
    rules = unique_rule_set(f"rt50-again-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    erasure.erase(ledger, doc["digest"], basis="objection", by="officer-50")
    _decided_past_the_library(ledger, monkeypatch, fresh_department, "C-RT50-AGAIN", doc, rules)
    assert _holder_lies(ledger, fresh_department)
    erasure.erase(ledger, doc["digest"], basis="objection", by="officer-50")
    logchain.anchor_pending(ledger, erasure.LOG, fresh_department)
    assert _holder_lies(ledger, fresh_department), "the erasure attested the record's own claim"


def test_an_erasure_attests_nothing_its_look_left_to_replay(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 1, the first erasure: a decision written past the library before the erasure, naming no applicant
    reference, so the erasure's look establishes nothing for it; its record's claim must not be attested after."""
    (doc,) = _issued(ledger, tmp_path, fresh_department, "rt50-noref")
    rules = unique_rule_set(f"rt50-noref-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    _decided_past_the_library(ledger, monkeypatch, fresh_department, "C-RT50-NOREF", doc, rules)
    assert _holder_lies(ledger, fresh_department)
    erasure.erase(ledger, doc["digest"], basis="objection", by="officer-50")
    logchain.anchor_pending(ledger, erasure.LOG, fresh_department)
    assert _holder_lies(ledger, fresh_department), "the erasure attested the record's own claim"


def test_an_erasing_departments_secret_deleted_in_the_database_is_not_replaced_by_a_new_one(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Finding 2: a department that never decided erases a certificate (who erased logged as ``by_ref``, made with
    its secret); an insider deletes the secret's row; the next erasure must refuse, as a decision does (round 14b),
    erasing nothing and minting no secret."""
    first, second = _issued(ledger, tmp_path, fresh_department, "rt50-secret", 2)
    erasure.erase(ledger, first["digest"], basis="objection", by="li.wei@example.gov")
    with ledger.engine.begin() as conn:
        conn.execute(delete(ApplicantSecret).where(ApplicantSecret.department_id == fresh_department))  # type: ignore[arg-type]
    restarted = Ledger.open(ledger.settings, passphrase=PASSPHRASE)  # the CLI (or the gateway) starts again
    try:
        logged = len(list(logchain.entries(restarted, erasure.LOG, fresh_department)))
        with pytest.raises(StateError, match="applicant secret") as refused:
            erasure.erase(restarted, second["digest"], basis="objection", by="li.wei@example.gov")
        assert "restore" in str(refused.value)
        assert len(list(logchain.entries(restarted, erasure.LOG, fresh_department))) == logged
        assert second["digest"] not in erasure.recorded(restarted, fresh_department)
        with restarted.engine.connect() as conn:  # and no new secret was written in its place
            kept = conn.execute(select(ApplicantSecret.department_id)).scalars().all()  # type: ignore[call-overload]
        assert fresh_department not in kept
    finally:
        restarted.close()


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_decision_stored_in_another_spelling_than_its_canonical_json_is_reported(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    """Finding 3, the decisions log: replay reports the record (``body_invalid``), as both bundle verifiers fail it."""
    rules = unique_rule_set(f"rt50-spelling-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    case = "C-RT50-SPELLING"
    app = application(case)
    with monkeypatch.context() as patch:
        written_past_the_library(patch, logchain.LOG_DECISIONS, spelling)
        decisions.decide(
            ledger, fresh_department, case, app["service_item"], app, rules, applicant_ref="91110000RT50X1"
        )
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    found = replay(ledger, department=fresh_department)
    assert [(d.check, d.seq) for d in found.discrepancies] == [("body_invalid", 1)], found.summary()
    assert "canonical" in found.discrepancies[0].detail


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_an_erasure_entry_stored_in_another_spelling_than_its_canonical_json_is_not_attested(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    """Finding 3, the erasures log: the entry is not one the chain attests to the library, as to the court."""
    (doc,) = _issued(ledger, tmp_path, fresh_department, f"rt50-spelling-{spelling[0]}")
    with monkeypatch.context() as patch:
        written_past_the_library(patch, erasure.LOG, spelling)
        erasure.erase(ledger, doc["digest"], basis="objection", by="officer-50")
    logchain.anchor_pending(ledger, erasure.LOG, fresh_department)
    flagged, attested = erasure.checked_log(ledger, fresh_department)
    assert doc["digest"] not in attested
    assert [(d.kind, d.seq) for d in flagged] == [("body_invalid", 1)]


_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@pytest.mark.parametrize("encoding", ["its twin with s in the upper half", "the raw recovery id"])
def test_a_council_approval_re_encoded_on_its_way_is_refused_before_it_is_sent(
    ledger: Ledger, tmp_path: Path, encoding: str
) -> None:
    """Finding 4: the file is refused when read (and when handed parsed), naming what was re-encoded, before any
    transaction: the registry would revert the whole batch naming the member."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    from ledger.errors import InputError
    from ledger.services.council import read_approval, submit_approvals

    member = Account.create()
    genuine = bytes(member.sign_message(encode_defunct(text="an approval")).signature)
    r, s, v = genuine[:32], int.from_bytes(genuine[32:64], "big"), genuine[64]
    if encoding == "the raw recovery id":
        rewritten = genuine[:64] + bytes([v - 27])
    else:
        rewritten = r + (_N - s).to_bytes(32, "big") + bytes([55 - v])
    chain = ledger.chain
    approval = approval_body(chain, member.address, "0x" + rewritten.hex())
    path = tmp_path / "approval.json"
    path.write_text(json.dumps(approval), encoding="utf-8")
    with pytest.raises(InputError, match="re-encoded"):
        read_approval(path)
    with pytest.raises(InputError, match="re-encoded"):
        submit_approvals(chain, Account.create(), 1, [approval])
    path.write_text(json.dumps({**approval, "signature": "0x" + genuine.hex()}), encoding="utf-8")
    assert read_approval(path)["signature"] == "0x" + genuine.hex()  # the member's own encoding is read


_P25519 = 2**255 - 19


@pytest.mark.parametrize(
    "point",
    [
        1,  # the identity
        1 | 1 << 255,  # the identity with the sign bit (x = 0): RFC 8032 decodes no point, OpenSSL the identity
        _P25519 + 1,  # the identity, y spelt past p
        0,  # order 4
        _P25519 - 1,  # order 2
        0x7A03AC9277FDC74EC6CC392CFA53202A0F67100D760B3CBA4FD84D3D706A17C7,  # order 8
        0x5FC536D880238B13933C6D305ACDFD5F098EFF289F4C345B027B2C28F95E826 | 1 << 255,  # order 8, the other x
    ],
    ids=["identity", "identity signed", "identity spelt past p", "order 4", "order 2", "order 8", "order 8 negated"],
)
def test_a_witness_key_of_small_order_is_refused_by_both_verifiers(point: int) -> None:
    """Finding 5: the library (``VerifierKey.parse``) and the court's verifier (``parse_vkeys``) refuse the key, in
    the same words; before, a cosignature anyone makes verified under it (both, or the library alone)."""
    import base64
    import hashlib

    from ledger.errors import InputError
    from ledger.services.witness.note import COSIGNATURE_V1, VerifierKey

    from .evidence_support import SCRIPT_MODULE

    public = point.to_bytes(32, "little")
    raw = bytes([COSIGNATURE_V1]) + public
    key_id = hashlib.sha256(b"witness.example\n" + raw).digest()[:4]
    text = f"witness.example+{key_id.hex()}+{base64.b64encode(raw).decode()}"
    with pytest.raises(InputError, match="small order") as library:
        VerifierKey.parse(text)
    with pytest.raises(SCRIPT_MODULE.Failure, match="small order") as court:
        SCRIPT_MODULE.parse_vkeys([text])
    assert str(library.value) == str(court.value)


def test_the_small_order_points_are_those_both_verifiers_refuse() -> None:
    """The y coordinates both verifiers hold are exactly those of the points of order dividing 8 (the court's own
    curve arithmetic), and a random key is refused by neither."""
    from ledger.services.witness import note

    from .evidence_support import SCRIPT_MODULE as court

    identity = court._ed_encode((0, 1, 1, 0))
    found = set()
    for y in note._SMALL_ORDER_Y:
        for sign in (0, 1 << 255):
            point = court._ed_decode((y | sign).to_bytes(32, "little"))
            if point is not None:
                assert court._ed_encode(court._ed_multiply(8, point)) == identity
                found.add((y, sign))
    assert len(found) == 8  # the eight points of small order
    assert note._SMALL_ORDER_Y == court._ED_SMALL_ORDER_Y
    public = note.SignerKey.generate("witness.example", note.COSIGNATURE_V1).verifier.public
    assert note.weak_key_problem("k", public) is None and not court.small_order_key(public)
