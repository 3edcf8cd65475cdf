"""Red team, round 50: a certificate superseded by one of another type, on chain (the open row of rounds 32 and 34a).

The library refused a department's supersession of its business licence by its birth certificate
(``status.supersede``), but the contract checked only that both certificates were the caller's: a department calling
it directly with its own key did it, and every verifier named the birth certificate as the licence's replacement.
CertificateAnchor 3.0.0 makes every batch of one certificate type (its ``schema``, the registry's type hash), refuses
an anchoring of a type the department does not hold and a supersession across two types; every verifier checks that
a certificate's type is its batch's, so a birth certificate smuggled into a batch declared "business-licence" (to
pass the contract's check) fails verification in the library, the gateway and the court's verifier alike."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from api import services
from ledger.client import Ledger
from ledger.errors import ChainError, StateError
from ledger.formats.canonical import hex32
from ledger.formats.certificate import batch_schema, record_fields, seal_fields, validate_record
from ledger.formats.merkle import MerkleTree
from ledger.formats.signing import batch_message, sign
from ledger.onchain.chain import ROLE_ISSUER
from ledger.onchain.chainread import Finality
from ledger.onchain.ids import department_id_bytes
from ledger.services import decisions, evidence, issuance, logchain
from ledger.services.departments import Council
from ledger.services.verify import ChainView, verify_certificate

from .api_support import Clock, make_client
from .authority_support import anchored_as, supersede_call
from .conftest import make_records, write_jsonl
from .evidence_support import both, failed_names, standalone
from .foundation_support import issue, verify
from .rerun_support import World, application, world_fixture  # noqa: F401 - the decisions' world

LICENCE, BIRTH = "business-licence", "birth-certificate"


def _final(ledger: Ledger) -> None:
    """Mine until every anchoring so far is final (a long-lived view then keeps its batch's checks)."""
    for _ in range(Finality(ledger.settings.confirmations).reorg_depth + 2):
        ledger.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[attr-defined]


def test_a_department_calling_the_contract_directly_cannot_supersede_a_licence_by_a_birth_certificate(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: a department (its key, web3, no library) superseding its business licence by its birth certificate:
    before 3.0.0 the contract took it, and every verifier named the birth certificate as the licence's successor."""
    dept = fresh_department
    licence, other_licence = issue(ledger, tmp_path, dept, make_records(2))
    (birth,) = issue(ledger, tmp_path, dept, make_records(1, cert_type=BIRTH))
    chain, account = ledger.chain, ledger.department_account(dept)
    supersede = supersede_call(ledger, licence, birth)
    with pytest.raises(ChainError) as raised:
        chain.send(account, supersede)
    assert raised.value.error_name == "AnchorSupersedeAcrossTypes"
    assert hex32(batch_schema(LICENCE))[2:] in str(raised.value) and hex32(batch_schema(BIRTH))[2:] in str(
        raised.value
    ), str(raised.value)
    report = verify(ledger, licence)
    assert report.ok and report.facts["status"] == "valid" and "superseded_by" not in report.facts
    # a licence by a licence, directly, as the library does it
    chain.transact(account, supersede_call(ledger, licence, other_licence))
    assert verify(ledger, licence).facts["superseded_by"] == other_licence["digest"]


def test_a_department_cannot_anchor_a_batch_of_a_type_it_does_not_hold(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: a department anchoring, directly, a batch of a type the council never granted it (a diploma)."""
    chain, account = ledger.chain, ledger.department_account(fresh_department)
    with pytest.raises(ChainError) as raised:
        chain.send(account, chain.anchor.functions.anchorBatch(b"\x50" * 32, 1, batch_schema("diploma")))
    assert raised.value.error_name == "AnchorTypeUnauthorized"
    signer, *_ = chain.call(chain.anchor.functions.batch(department_id_bytes(fresh_department), b"\x50" * 32))
    assert int(signer, 16) == 0


def _smuggled(ledger: Ledger, department: str, cert_type: str = BIRTH, declared: str = LICENCE) -> dict[str, Any]:
    """A birth certificate (``cert_type``) the department anchors, with its own key, in a batch it declares
    "business-licence" (``declared``) and signs as such: the contract cannot see the leaves, so the batch passes its
    type checks."""
    record = validate_record(make_records(1, cert_type=cert_type)[0], 1, department=department)
    fields = record_fields(record, department, "2026-12-06T00:00:00Z")
    sealed = seal_fields(fields, os.urandom(16 * len(fields)))
    tree = MerkleTree([sealed.digest, b"\x5b" * 32])
    chain, account = ledger.chain, ledger.department_account(department)
    schema = batch_schema(declared)
    message = batch_message(
        chain.chain_id, chain.deployment.anchor, tree.root, 2, schema, department_id_bytes(department)
    )
    receipt = chain.transact(account, chain.anchor.functions.anchorBatch(tree.root, 2, schema))
    return issuance.document_json(
        sealed.fields,
        sealed.salts,
        {
            "chain_id": chain.chain_id,
            "contract": chain.deployment.anchor,
            "registry": chain.deployment.registry,
            "root": hex32(tree.root),
            "department": department,
            "signer": account.address,
            "signature": "0x" + sign(account, message).hex(),
            "count": 2,
            "schema": hex32(schema),
            "tx_hash": "0x" + bytes(receipt["transactionHash"]).hex(),
            "block_number": receipt["blockNumber"],
            "block_hash": "0x" + bytes(receipt["blockHash"]).hex(),
            "block_time": chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"],
        },
        tree.proof(0),
    )


def test_a_certificate_in_a_batch_of_another_type_fails_verification_everywhere(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: the department smuggles a birth certificate into a batch declared "business-licence", so that the
    contract's same-type check lets it supersede a licence by it (3.0.0): every verifier refuses the smuggled
    certificate (type_authority), in the library, the gateway (its long-lived view's native answer too) and the
    court's verifier. Since 4.0.0 the supersession itself is refused: the contract computes the successor's digest
    under the licence type, which is no leaf of the batch (red team round 52)."""
    dept = fresh_department
    licence, other = issue(ledger, tmp_path, dept, make_records(2))
    smuggled = _smuggled(ledger, dept)
    chain, account = ledger.chain, ledger.department_account(dept)
    with pytest.raises(ChainError) as raised:
        chain.transact(account, supersede_call(ledger, licence, smuggled))
    assert raised.value.error_name == "AnchorInvalidProof", raised.value
    _final(ledger)
    # the library
    report = verify(ledger, smuggled)
    assert [c.name for c in report.failed] == ["type_authority"], report.to_json()
    detail = report.check("type_authority").detail
    assert BIRTH in detail and hex32(batch_schema(LICENCE)) in detail, detail
    # the gateway: its public answer, and its long-lived view's (the native report answers only what matches)
    client = make_client(ledger, Clock())
    answer = client.post("/public/verify", json={"document": smuggled}).json()
    assert answer["verified"] is False, answer
    view = ChainView(ledger.chain, ledger.settings.confirmations, max_head_age=3600.0)
    view.refresh()
    for _ in range(2):  # the second time the batch's checks are kept: the native path meets it
        assert not verify_certificate(smuggled, view).ok
        native = services.fast_public_bytes(view, smuggled)
        assert native is None or json.loads(native)["verified"] is False, native
    assert verify_certificate(other, view).ok  # a licence in a batch of its type, in the same view: as before
    answered = services.fast_public_bytes(view, other)
    assert answered is not None and json.loads(answered)["verified"] is True, answered
    # the licence is not ended: no supersession names the smuggled certificate
    kept = verify(ledger, licence)
    assert kept.ok and "superseded_by" not in kept.facts, kept.to_json()
    # the court's verifier, from the evidence bundle, agreeing with the library
    bundle = evidence.certificate_bundle(ledger, smuggled)
    path = tmp_path / "smuggled.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    library = evidence.verify_bundle(path, ledger.chain)
    assert {c.name for c in library.failed} == {"type_authority"}, library.to_json()
    code, result, stderr = standalone(ledger, path)
    assert result is not None, stderr
    assert code != 0 and failed_names(result) == {"type_authority"}, result


@pytest.mark.parametrize("workers", [0, 2])
def test_a_file_mixing_types_is_issued_as_one_batch_per_type_and_every_certificate_verifies(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """A file of licences and birth certificates, interleaved: each batch holds one type (its schema), every
    certificate verifies, and a licence is superseded by a licence but not by a birth certificate; in this process
    and with worker processes (which build a JSONL file's slices of lines, one batch each, when it is of one type)."""
    monkeypatch.setattr(ledger, "settings", ledger.settings.with_(issue_workers=workers))
    dept = fresh_department
    records = [
        *make_records(3),
        *make_records(2, cert_type=BIRTH),
        *make_records(2),
        *make_records(1, cert_type=BIRTH),
    ]
    interleaved = [records[i] for i in (0, 3, 1, 5, 4, 2, 6, 7)]
    for batch_size in (3, 100):
        for record in interleaved:
            record["id"] = f"{record['id']}-{batch_size}-{workers}"
        out = io.StringIO()
        result = issuance.issue_file(
            ledger,
            write_jsonl(tmp_path / f"mixed-{batch_size}.jsonl", interleaved),
            dept,
            out=out,
            batch_size=batch_size,
        )
        documents = [json.loads(line) for line in out.getvalue().splitlines()]
        assert result.count == len(interleaved) == len(documents)
        assert len(result.batches) == (3 if batch_size == 3 else 2), result.batches  # 5 licences, 3 births
        by_root: dict[str, set[str]] = {}
        for document in documents:
            by_root.setdefault(document["anchor"]["root"], set()).add(document["fields"]["type"])
            assert document["anchor"]["schema"] == hex32(batch_schema(document["fields"]["type"]))
            assert verify(ledger, document).ok, verify(ledger, document).to_json()
        assert all(len(types) == 1 for types in by_root.values()), by_root
    licences = [d for d in documents if d["fields"]["type"] == LICENCE]
    birth = next(d for d in documents if d["fields"]["type"] == BIRTH)
    chain, account = ledger.chain, ledger.department_account(dept)
    with pytest.raises(ChainError) as raised:
        chain.send(
            account,
            supersede_call(ledger, licences[0], birth),
        )
    assert raised.value.error_name == "AnchorSupersedeAcrossTypes"


def test_a_batch_the_contract_refuses_for_a_type_revoked_just_before_it_is_sent_stays_prepared(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The council revokes a type between issuance's own check and the sending (the check is read, then the
    transaction runs): the contract refuses the batch, which stays prepared (not discarded) until a grant again."""
    dept = fresh_department
    issuance.check_types_authorized(ledger, dept, {BIRTH})
    records = [validate_record(r, i, department=dept) for i, r in enumerate(make_records(1, cert_type=BIRTH), 1)]
    built = issuance.build_batch(ledger, records, dept)
    issuance.store_prepared(ledger, built)
    Council(ledger).revoke_types(dept, [BIRTH])
    with monkeypatch.context() as patched:
        patched.setattr(issuance, "_unauthorized", lambda *_: [])  # the check read before the revocation
        with pytest.raises(StateError, match="anchor contract refused it"):
            issuance.confirm(ledger, built.root, timeout=60)
    assert issuance.anchor_event(ledger, built.root, dept) is None
    Council(ledger).grant_types(dept, [BIRTH])
    issuance.confirm(ledger, built.root, timeout=60)  # still prepared: sent now
    document = issuance.export_document(ledger, "0x" + built.digests[0].hex(), dept)
    assert verify(ledger, document).ok


def test_a_decision_citing_a_certificate_in_a_batch_of_another_type_records_it_unverified_in_both_verifiers(
    ledger: Ledger, world: World, tmp_path: Path
) -> None:
    """Adversary: a department holding both types anchors a business licence in a batch it declares of birth
    certificates, and an applicant cites it: the decision records the citation unverified (type_authority), and the
    court's verifier, which checks a cited certificate on its own path, agrees with the library."""
    bureau = f"HB50-{world.dept}"
    Council(ledger).register(bureau, "Bureau (round 50)", ROLE_ISSUER, types=(LICENCE, BIRTH))
    licence = anchored_as(ledger, bureau, LICENCE, BIRTH)  # stored, as the applicant's department finds it
    _final(ledger)
    holder = str(licence["fields"]["subject.credit_code"])
    case = "RR50-ANOTHER-TYPE"
    decision = decisions.decide(
        ledger, world.dept, case, "ITEM-1", application(case, licence["digest"]), world.rules, applicant_ref=holder
    )
    (fact,) = decision.body["certificates"]
    assert fact["verified"] is False and fact["failed"] == ["type_authority"], fact
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, world.dept)
    bundle = evidence.decision_bundle(ledger, world.dept, case, applicant=holder)
    report, code, result = both(ledger, bundle, tmp_path, "another-type.json")
    assert report.ok and code == 0, result
