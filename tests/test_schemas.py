"""The published JSON Schema of certificate documents (docs/schema/) is generated from the typed model, committed,
and agrees with the documents the ledger writes and the shapes its reader refuses.

Adversary: a holder editing their document's shape (a salt that is not 32 hex digits, an anchor missing, another
format): an independent verifier using only the published schema refuses what our reader
refuses. And a schema edited by hand, or a model changed without renewing the schema, fails here.
"""

from __future__ import annotations

import copy
import io
import json
import os
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats.certificate import CertificateDocument, load_document, validate_record
from ledger.formats.schemas import SCHEMA_DIR, SCHEMAS, CertificateDocumentModel, bundle_shape_problem, render_schema
from ledger.services.issuance import issue_records
from ledger.services.verify import ChainView, verify_certificate

from .conftest import TEST_ITEMS, TEST_TYPES, make_records


@pytest.fixture(scope="module")
def document(ledger: Ledger) -> dict[str, Any]:
    out = io.StringIO()
    issue_records(
        ledger, [validate_record(r, 1, department="MKT") for r in make_records(1, prefix="SCHEMA")], "MKT", out=out
    )
    return dict(json.loads(out.getvalue().splitlines()[0]))


def _validator() -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / "certificate-document.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_committed_schemas_equal_the_generated_ones() -> None:
    for name, build in SCHEMAS.items():
        assert (SCHEMA_DIR / name).read_text() == render_schema(build()), (
            f"docs/schema/{name} is stale: run `python scripts/build_schemas.py` and commit it"
        )


def test_documents_and_presentations_the_ledger_writes_match_the_schema(document: dict[str, Any]) -> None:
    validator = _validator()
    assert list(validator.iter_errors(document)) == []
    presentation = load_document(document).present(["subject.name"]).to_json()
    assert "hidden" in presentation and list(validator.iter_errors(presentation)) == []
    model = CertificateDocumentModel.model_validate(document)
    assert model.anchor.root == document["anchor"]["root"] and model.digest == document["digest"]


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["salts"].__setitem__("subject.name", "00" * 15),  # a salt one byte short
        lambda d: d.pop("anchor"),  # no anchor
        lambda d: d.__setitem__("format", "pl-cert/1"),  # another format (the one before the type was committed to)
        lambda d: d["salts"].__setitem__("subject.name", "zz" * 16),  # not hex
        lambda d: d.__setitem__("fields", []),  # fields not an object
    ],
)
def test_shapes_the_reader_refuses_the_schema_refuses(document: dict[str, Any], edit: Any) -> None:
    tampered = copy.deepcopy(document)
    edit(tampered)
    with pytest.raises(InputError):
        CertificateDocument.from_json(tampered)
    assert list(_validator().iter_errors(tampered)), "the published schema accepted a shape the reader refuses"


# Shapes the hand-written reader used to let through to verification: the reader now validates with the model the
# schema is generated from, so each is refused by both, with the member named.
@pytest.mark.parametrize(
    ("edit", "member"),
    [
        (lambda d: d["anchor"].pop("tx_hash"), "anchor.tx_hash"),  # an anchor section missing a member
        (lambda d: d.__setitem__("note", "trust me"), "note"),  # a member pl-cert/2 does not have
        (lambda d: d["anchor"].__setitem__("chain_id", str(d["anchor"]["chain_id"])), "anchor.chain_id"),  # "31337"
        (lambda d: d["anchor"].__setitem__("count", True), "anchor.count"),  # true is not 1
        (lambda d: d["anchor"].__setitem__("proof", ["0x" + "ab" * 31]), "anchor.proof.0"),  # a hash one byte short
        (lambda d: d["anchor"].__setitem__("block_number", -1), "anchor.block_number"),
        (lambda d: d["anchor"].__setitem__("signer", "0x1234"), "anchor.signer"),
        (lambda d: d.__setitem__("hidden", {"subject.x": "12"}), "hidden.subject.x"),
        (lambda d: d.__setitem__("digest", 5), "digest"),
    ],
)
def test_the_reader_refuses_what_the_schema_refuses_and_names_the_member(
    ledger: Ledger, document: dict[str, Any], edit: Any, member: str
) -> None:
    tampered = copy.deepcopy(document)
    edit(tampered)
    assert list(_validator().iter_errors(tampered)), "the edit should break the published shape"
    with pytest.raises(InputError) as refused:
        CertificateDocument.from_json(tampered)
    assert refused.value.field == member, str(refused.value)
    assert "pydantic" not in str(refused.value) and "errors.pydantic.dev" not in str(refused.value)
    report = verify_certificate(tampered, ChainView(ledger.chain))
    assert not report.ok and report.checks[0].name == "format" and not report.checks[0].ok
    assert member in report.checks[0].detail and all(c.skipped for c in report.checks[1:])


# -- evidence bundles ------------------------------------------------------------------------------------------------
# Adversary: whoever hands a court a bundle of the wrong shape (a hex string cut short, a number sent as text or as
# true, a section missing). The published schema, the library's reader (its typed models) and the standalone
# verifier (independent code) refuse the same vectors.


def _bundle_validator() -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / "evidence-bundle.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@pytest.fixture(scope="module")
def bundles(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER
    from ledger.services import decisions, evidence, logchain
    from ledger.services.departments import Council

    from .evidence_support import decided, issue

    tmp = tmp_path_factory.mktemp("bundle-schema")
    docs = issue(ledger, tmp, "MKT", make_records(2, prefix="BSCHEMA"))
    code = f"BS{os.getpid() % 1000}"
    Council(ledger).register(
        code, "Bundle schema approvals", ROLE_ISSUER | ROLE_APPROVER, types=TEST_TYPES, items=TEST_ITEMS
    )
    _, apps = decided(ledger, code, n=3)
    automatic = evidence.decision_bundle(ledger, code, apps[0]["case_id"])
    d = automatic["decision"]
    human = decisions.record_human_decision(
        ledger,
        code,
        d["body"]["case_id"],
        d["body"]["service_item"],
        officer="officer-3",
        outcome="approve",
        reasons=["OFFICER_CHECKED_ON_SITE"],
        applicant_ref=apps[0]["applicant_ref"],  # the case's applicant
        overrides=d["seq"],
    )
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, code)
    return {
        "certificate": evidence.certificate_bundle(ledger, docs[0]),
        "presentation": evidence.certificate_bundle(ledger, load_document(docs[1]).present(["subject.name"]).to_json()),
        "decision": automatic,
        "officer": evidence.decision_bundle(ledger, code, d["body"]["case_id"], seq=human.seq),
    }


def test_bundles_the_ledger_writes_match_the_published_schema(bundles: dict[str, dict[str, Any]]) -> None:
    validator = _bundle_validator()
    for kind, bundle in bundles.items():
        assert list(validator.iter_errors(bundle)) == [], kind
        assert bundle_shape_problem(bundle) is None, kind
    assert bundles["officer"]["rule_set"] is None
    assert "hidden" in bundles["presentation"]["certificate"] and bundles["presentation"]["certificate"]["hidden"]


BAD_BUNDLES = [
    ("certificate", "no-status-section", lambda b: b.pop("status"), "section 'status'"),
    ("certificate", "cut-root", lambda b: b["anchor"].update(root=b["anchor"]["root"][:-2]), "anchor.root"),
    ("certificate", "text-count", lambda b: b["anchor"].update(count="3"), "anchor.count"),
    ("certificate", "true-block", lambda b: b["as_of"].update(block_number=True), "as_of.block_number"),
    ("certificate", "negative-block", lambda b: b["anchor"].update(block_number=-1), "anchor.block_number"),
    (
        "certificate",
        "prefixed-field-hash",
        lambda b: b["certificate"]["field_hashes"].update(id="0x" + b["certificate"]["field_hashes"]["id"]),
        "certificate.field_hashes",
    ),
    ("certificate", "long-department", lambda b: b["department"].update(id="D" * 33), "department.id"),
    ("certificate", "null-attachment", lambda b: b.update(attachment=None), "attachment.sha256"),
    ("certificate", "number-checkpoint", lambda b: b.update(witness={"checkpoint": 7}), "witness.checkpoint"),
    ("certificate", "proof-of-numbers", lambda b: b["anchor"].update(proof=[1, 2]), "anchor.proof"),
    ("decision", "text-seq", lambda b: b["decision"].update(seq=str(b["decision"]["seq"])), "decision.seq"),
    ("decision", "body-list", lambda b: b["decision"].update(body=[]), "decision.body"),
    (
        "decision",
        "cut-head-hash",
        lambda b: b["anchor"].update(head_hash=b["anchor"]["head_hash"][:-1]),
        "anchor.head_hash",
    ),
    ("decision", "rule-set-document-text", lambda b: b["rule_set"].update(document="rules"), "rule_set.document"),
    ("decision", "no-cited", lambda b: b.pop("cited"), "cited (a list) are required"),
    ("decision", "input-list", lambda b: b.update(input=[]), "cited (a list) are required"),
]


@pytest.mark.parametrize(("kind", "name", "edit", "named"), BAD_BUNDLES, ids=[v[1] for v in BAD_BUNDLES])
def test_shapes_both_verifiers_refuse_the_schema_refuses(
    ledger: Ledger, bundles: dict[str, dict[str, Any]], tmp_path: Any, kind: str, name: str, edit: Any, named: str
) -> None:
    from .evidence_support import both, failed_names

    bad = copy.deepcopy(bundles[kind])
    edit(bad)
    assert list(_bundle_validator().iter_errors(bad)), f"the published schema accepted {name}"
    problem = bundle_shape_problem(bad)
    assert problem is not None and named in problem, problem
    report, code, result = both(ledger, bad, tmp_path, f"{name}.json")
    assert code == 1 and failed_names(result) == {"bundle"}, result
    assert not report.check("bundle").ok and named in report.check("bundle").detail


def test_a_copy_refused_for_its_shape_is_still_labelled_by_its_content(document: dict[str, Any]) -> None:
    """Adversary: an applicant citing a copy of a certificate with its anchor section broken or another format, so
    verification refuses it. The copy still carries the certificate's fields and salts; erasure finds the copies to
    destroy by the digest they are labelled with, so the label comes from the content, whatever the shape around
    it (the stricter reader must not turn such a copy into an unlabelled one that survives ``ledger erase``)."""
    from ledger.services.decisions import cited_certificate_digest

    broken = [
        {**document, "anchor": {}},
        {**document, "anchor": "somewhere"},
        {**document, "format": "pl-cert/9", "note": "extra"},
        {k: v for k, v in document.items() if k != "anchor"},
        CertificateDocument.from_json(document).present(["subject.name"]).to_json() | {"anchor": None},
    ]
    assert [cited_certificate_digest(copy_) for copy_ in broken] == [document["digest"]] * len(broken)
    assert cited_certificate_digest({**document, "salts": {}}) == ""  # no salts: no certificate's content in it
