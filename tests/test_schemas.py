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
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from ledger.certificate import CertificateDocument, load_document, validate_record
from ledger.client import Ledger
from ledger.errors import InputError
from ledger.issuance import issue_records
from ledger.schemas import SCHEMA_DIR, SCHEMAS, CertificateDocumentModel, render_schema

from .conftest import make_records


@pytest.fixture(scope="module")
def document(ledger: Ledger) -> dict[str, Any]:
    out = io.StringIO()
    issue_records(ledger, [validate_record(r, 1, department="MKT") for r in make_records(1, prefix="SCHEMA")],
                  "MKT", out=out)
    return dict(json.loads(out.getvalue().splitlines()[0]))


def _validator() -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / "certificate-document.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_committed_schemas_equal_the_generated_ones() -> None:
    for name, build in SCHEMAS.items():
        assert (SCHEMA_DIR / name).read_text() == render_schema(build()), (
            f"docs/schema/{name} is stale: run `python scripts/build_schemas.py` and commit it")


def test_documents_and_presentations_the_ledger_writes_match_the_schema(document: dict[str, Any]) -> None:
    validator = _validator()
    assert list(validator.iter_errors(document)) == []
    presentation = load_document(document).present(["subject.name"]).to_json()
    assert "hidden" in presentation and list(validator.iter_errors(presentation)) == []
    model = CertificateDocumentModel.model_validate(document)
    assert model.anchor.root == document["anchor"]["root"] and model.digest == document["digest"]


@pytest.mark.parametrize("edit", [
    lambda d: d["salts"].__setitem__("subject.name", "00" * 15),             # a salt one byte short
    lambda d: d.pop("anchor"),                                              # no anchor
    lambda d: d.__setitem__("format", "pl-cert/2"),                         # another format
    lambda d: d["salts"].__setitem__("subject.name", "zz" * 16),            # not hex
    lambda d: d.__setitem__("fields", []),                                  # fields not an object
])
def test_shapes_the_reader_refuses_the_schema_refuses(document: dict[str, Any], edit: Any) -> None:
    tampered = copy.deepcopy(document)
    edit(tampered)
    with pytest.raises(InputError):
        CertificateDocument.from_json(tampered)
    assert list(_validator().iter_errors(tampered)), "the published schema accepted a shape the reader refuses"
