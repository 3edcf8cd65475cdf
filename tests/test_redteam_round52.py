"""Red team, round 52: the on-chain certificate type (CertificateAnchor 3.0.0) and the other merges of 2026-12-06.

1. (A department calling the contract directly, with its own key) round 50 closed the supersession of a business
   licence by a birth certificate by making each batch of one type and comparing the two batches' types in
   ``supersede``. The contract cannot see a batch's leaves: the department anchors the digest of one of its genuine
   birth certificates again, in a batch it declares "business-licence" (it holds that type), and supersedes the
   licence by that anchoring. The contract takes it (both batches are declared licences); the licence's verifiers
   name the birth certificate as its replacement, and the birth certificate, verified from its own document and
   batch, is valid. The other way round too: the birth certificate's digest anchored again in a licence batch and
   superseded there by a licence is ended under every root (red team round 42), so the birth certificate's own
   document says a licence replaced it, and the licence, valid, says it replaces the birth certificate. Held since
   CertificateAnchor 4.0.0: a certificate's digest commits to its type (pl-cert/2), and ``supersede`` computes each
   side's digest from its fields digest under its batch's type, so the birth certificate's digest is no leaf of the
   licence batch under the licence type (``AnchorInvalidProof``), either way round.
2. Held: an insider retyping a prepared batch in the store (its certificates' ``cert_type`` and its ``schema_id``,
   to another type the department holds, after the council revoked the batch's own) so that ``ledger resume``
   anchors it: it is anchored under the other type, and every certificate of it fails verification
   (``type_authority``: the sealed body states the revoked type; ``signature``: the root was signed with its type).
3. Held: a holder editing the ``anchor.schema`` member of a certificate anchored in a batch of another type, so that
   the document agrees with itself: every verifier reads the batch's type from the chain.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from api import services
from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.formats.canonical import hex32, parse_hex32
from ledger.formats.certificate import batch_schema, validate_record
from ledger.onchain.chainread import Finality
from ledger.onchain.ids import department_id_bytes
from ledger.services import issuance
from ledger.services.departments import Council
from ledger.services.verify import ChainView, verify_certificate
from ledger.storage.models import Batch, Certificate

from .api_support import Clock, make_client
from .authority_support import anchored_as, supersede_call
from .conftest import make_records
from .foundation_support import issue, reanchored, verify

LICENCE, BIRTH = "business-licence", "birth-certificate"


def _failed(report: Any) -> set[str]:
    return {c.name for c in report.failed}


def test_a_licence_is_not_named_replaced_by_a_birth_certificate_anchored_again_in_a_licence_batch(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: a department with its key and web3. Its genuine birth certificate's digest, anchored again in a batch
    it declares "business-licence", passed 3.0.0's same-type check of ``supersede``: the licence's relying parties
    were told a birth certificate replaced it, and that birth certificate verified. 4.0.0 computes the copy's digest
    from the fields digest under the licence type: no leaf of the copy, refused; both certificates stay valid."""
    dept = fresh_department
    (licence,) = issue(ledger, tmp_path, dept, make_records(1))
    (birth,) = issue(ledger, tmp_path, dept, make_records(1, cert_type=BIRTH))
    declared = reanchored(ledger, dept, birth, declared=LICENCE)  # the contract cannot see the leaf's type
    assert _failed(verify(ledger, declared)) == {"type_authority"}  # that anchoring itself is refused, as in round 50
    chain, account = ledger.chain, ledger.department_account(dept)
    with pytest.raises(ChainError) as refused:  # 4.0.0: the digest under the licence type is no leaf of the copy
        chain.transact(account, supersede_call(ledger, licence, declared))
    assert refused.value.error_name == "AnchorInvalidProof", refused.value
    ended, successor = verify(ledger, licence), verify(ledger, birth)
    assert ended.ok and ended.facts["status"] == "valid" and "superseded_by" not in ended.facts, ended.to_json()
    assert successor.ok and "replaces" not in successor.facts, successor.to_json()


def test_a_birth_certificate_is_not_named_replaced_by_a_licence_through_its_digest_anchored_in_a_licence_batch(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: as above. The birth certificate's digest, anchored again in a batch declared "business-licence", is
    superseded there by a licence: a digest's end holds under every root of its department (red team round 42), so
    the birth certificate's own document said it was superseded by the licence, and the licence, valid, that it
    replaced the birth certificate. Refused by 4.0.0 as above: the birth certificate is not ended anywhere."""
    dept = fresh_department
    (birth,) = issue(ledger, tmp_path, dept, make_records(1, cert_type=BIRTH))
    (licence,) = issue(ledger, tmp_path, dept, make_records(1))
    declared = reanchored(ledger, dept, birth, declared=LICENCE)
    chain, account = ledger.chain, ledger.department_account(dept)
    with pytest.raises(ChainError) as refused:
        chain.transact(account, supersede_call(ledger, declared, licence))
    assert refused.value.error_name == "AnchorInvalidProof", refused.value
    ended_under = ledger.chain.anchor.functions.endedUnder(department_id_bytes(dept), parse_hex32(birth["digest"]))
    assert bytes(ledger.chain.call(ended_under)) == b"\x00" * 32  # not ended under any root
    ended, successor = verify(ledger, birth), verify(ledger, licence)
    assert ended.ok and ended.facts["status"] == "valid" and "superseded_by" not in ended.facts, ended.to_json()
    assert successor.ok and "replaces" not in successor.facts, successor.to_json()


def test_a_prepared_batch_retyped_in_the_store_and_resumed_is_anchored_as_nothing_any_verifier_accepts(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider with database access. The council revokes birth certificates from the department while a
    batch of them is prepared (held back, unsent); the insider retypes the batch's rows to business licences, which
    the department holds, so that ``ledger resume`` anchors it. The chain records a licence batch; every certificate
    of it states a birth certificate (its sealed body), so none verifies."""
    dept = fresh_department
    records = [validate_record(r, i, department=dept) for i, r in enumerate(make_records(2, cert_type=BIRTH), 1)]
    built = issuance.build_batch(ledger, records, dept)
    issuance.store_prepared(ledger, built)
    root = hex32(built.root)
    Council(ledger).revoke_types(dept, [BIRTH])
    with ledger.engine.begin() as conn:  # past the library: the rows only
        conn.execute(update(Certificate).where(col(Certificate.batch_root) == root).values(cert_type=LICENCE))
        conn.execute(update(Batch).where(col(Batch.root) == root).values(schema_id=hex32(batch_schema(LICENCE))))
    issuance.confirm(ledger, built.root, timeout=60)  # what `ledger resume` does for a prepared batch
    signer, _block, _ts, _count, schema = ledger.chain.call(
        ledger.chain.anchor.functions.batch(department_id_bytes(dept), built.root)
    )
    assert bytes(schema) == batch_schema(LICENCE) and int(signer, 16) != 0
    for digest in built.digests:
        document = issuance.export_document(ledger, hex32(digest), dept)
        assert document["fields"]["type"] == BIRTH
        report = verify(ledger, document)
        assert "type_authority" in _failed(report), report.to_json()
        assert not report.ok


def test_a_documents_schema_member_is_never_taken_for_its_batchs_type(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: the holder of a licence its department anchored in a batch declared of birth certificates (every
    verifier refuses it, round 50), who edits the document's ``anchor.schema`` member to the licence's type hash, so
    that the document agrees with itself. Held: the library, the gateway and its native answer read the batch's type
    from the chain's record of the batch (``batch()``), never from the document (docs/format.md §11: the member is a
    hint)."""
    smuggled = anchored_as(ledger, fresh_department, LICENCE, BIRTH)
    smuggled["anchor"]["schema"] = hex32(batch_schema(LICENCE))
    for _ in range(Finality(ledger.settings.confirmations).reorg_depth + 2):  # final: a long-lived view keeps it
        ledger.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[attr-defined]
    assert _failed(verify(ledger, smuggled)) == {"type_authority"}
    answer = make_client(ledger, Clock()).post("/public/verify", json={"document": smuggled}).json()
    assert answer["verified"] is False, answer
    view = ChainView(ledger.chain, ledger.settings.confirmations, max_head_age=3600.0)
    view.refresh()
    for _ in range(2):  # the second time the batch's checks are kept: the native path meets it
        assert _failed(verify_certificate(smuggled, view)) == {"type_authority"}
        native = services.fast_public_bytes(view, smuggled)
        assert native is None or json.loads(native)["verified"] is False, native
