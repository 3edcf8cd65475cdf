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

Real anvil, real database.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.services import decisions, erasure, issuance, logchain
from ledger.services.replay import replay

from .conftest import make_records, write_jsonl
from .decision_support import application, unique_rule_set


def _issued(ledger: Ledger, tmp_path: Path, department: str, tag: str) -> dict[str, Any]:
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / f"{tag}.jsonl", make_records(1)), department, out=out)
    (line,) = out.getvalue().splitlines()
    return dict(json.loads(line))


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
    doc = _issued(ledger, tmp_path, fresh_department, "rt50-again")
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
    doc = _issued(ledger, tmp_path, fresh_department, "rt50-noref")
    rules = unique_rule_set(f"rt50-noref-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    _decided_past_the_library(ledger, monkeypatch, fresh_department, "C-RT50-NOREF", doc, rules)
    assert _holder_lies(ledger, fresh_department)
    erasure.erase(ledger, doc["digest"], basis="objection", by="officer-50")
    logchain.anchor_pending(ledger, erasure.LOG, fresh_department)
    assert _holder_lies(ledger, fresh_department), "the erasure attested the record's own claim"
