"""Red team round 53: against the ``opens`` merge (an erasure's seal and its racing attestations in one transaction,
the decisions log's check comparing spelling, canonical JSON refusing an inexact double).

1. (A department writing its decision log past the library: it holds the log's key) between an erasure's last look
   and its seal, a decision entry citing the certificate as verified whose attested facts canonical JSON cannot
   write (an ``input_digest`` of 1152921504606847000, an integer past 2**53). The racing attestation is now built in
   the seal's own transaction (``logchain.append_composed``): its refusal rolled the seal back, so one entry any
   department can write blocked the erasure of another department's certificate for as long as it raced, where
   before the merge the seal had committed first. An item the attestation cannot write is replay's to report (as an
   unreadable record is), never the seal's to block. (A lone surrogate there held: the record is unreadable.)

Held (guards): the decisions log's spelling, now left by the log's check to replay's workers
(``spelling_compared``), is still named once by a replay filtered to another case, or to a period, with or without
workers; a decision whose stored input the ledger wrote with such a double before the merge is reported by replay,
not a crash; a certificate document carrying such a number, in any spelling, is answered by both verify routes with a
failed report (read exactly) or a 422 (digits no double is), never a 500.

Real anvil, real database.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.services import decisions, erasure, issuance, logchain
from ledger.services.replay import replay

from .api_support import Clock, bearer, login, make_client, register
from .conftest import make_records, write_jsonl
from .decision_support import application, unique_rule_set
from .insider_support import written_past_the_library


def _issued(ledger: Ledger, tmp_path: Path, department: str, tag: str) -> dict[str, Any]:
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / f"{tag}.jsonl", make_records(1)), department, out=out)
    return dict(json.loads(out.getvalue().splitlines()[0]))


@pytest.mark.parametrize("spelt", ["1152921504606847000", "1e999", '"\\ud800"'])
def test_a_racing_citation_the_attestation_cannot_write_does_not_block_the_seal(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelt: str
) -> None:
    """Finding 1: the entry stored right after the erasure's last look (round 49's hook), its ``input_digest`` a
    value canonical JSON refuses; the erasure must still seal the certificate."""
    doc = _issued(ledger, tmp_path, fresh_department, "rt53-racing")
    digest = doc["digest"]
    looked = erasure.cited_in
    seen: list[str] = []

    def look_then_write(ledger_: Ledger, digest_: str, **kwargs: Any) -> list[dict[str, Any]]:
        found = looked(ledger_, digest_, **kwargs)
        seen.append(digest_)
        if len(seen) == 2:  # the last look before the seal: the insider's entry, stored as its own tool writes
            text = (
                f'{{"certificates":[{{"digest":"{digest}","expired":false,"holder":true,"verified":true}}],'
                f'"input_digest":{spelt}}}'
            )
            logchain._append_rows(
                ledger_, logchain.LOG_DECISIONS, fresh_department, [(text, None, [digest], datetime.now(UTC))]
            )
        return found

    with monkeypatch.context() as patch:
        patch.setattr(erasure, "cited_in", look_then_write)
        erasure.erase(ledger, digest, basis="objection", by="officer-53")
    assert len(seen) == 2
    assert erasure.is_erased(ledger, digest)


@pytest.mark.parametrize("workers", [0, 1])
def test_a_decision_spelt_otherwise_is_named_once_by_a_replay_filtered_to_another_case(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """Held: replay's log check leaves the decisions' spelling to the re-run (``spelling_compared``), which every
    entry reaches whatever the filter; the spelt entry is named once, as the log's own check names it."""
    rules = unique_rule_set(f"rt53-spelling-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    decisions.decide(
        ledger, fresh_department, "C-RT53-HONEST", "ITEM-1", application("C-RT53-HONEST"), rules,
        applicant_ref="91110000Y1",
    )  # fmt: skip
    with monkeypatch.context() as patch:
        written_past_the_library(patch, logchain.LOG_DECISIONS, "spaced out")
        decisions.decide(
            ledger, fresh_department, "C-RT53-SPELT", "ITEM-1", application("C-RT53-SPELT"), rules,
            applicant_ref="91110000Y2",
        )  # fmt: skip
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    found = logchain.check_log(ledger, logchain.LOG_DECISIONS, fresh_department)
    assert [(d.kind, d.seq) for d in found] == [("body_invalid", 2)], found
    for filters in ({}, {"case_id": "C-RT53-HONEST"}, {"service_item": "ITEM-2"}):
        replayed = replay(ledger, department=fresh_department, workers=workers, **filters)  # type: ignore[arg-type]
        named = [(d.check, d.seq) for d in replayed.discrepancies if d.check == "body_invalid"]
        assert named == [("body_invalid", 2)], (filters, replayed.summary())


def test_a_decision_written_before_the_refusal_with_an_inexact_double_is_reported_not_a_crash(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: a decision whose stored input the ledger wrote before ``canonical_json`` refused 2**60 (written
    ``1152921504606847000``, which the strict reader refuses since round 51) is reported by replay (its stored input
    unreadable: ``input_commitment_invalid``), not a crash, now that canonical JSON refuses the double."""
    from ledger.formats import canonical

    rules = unique_rule_set(f"rt53-old-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    app = application("C-RT53-OLD")
    app["application"]["turnover"] = 2.0**60
    with monkeypatch.context() as patch:  # the library before the opens merge
        patch.setattr(canonical, "inexact_double", lambda value: None)
        decisions.decide(ledger, fresh_department, "C-RT53-OLD", "ITEM-1", app, rules, applicant_ref="91110000Y3")
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    replayed = replay(ledger, department=fresh_department)
    assert [(d.check, d.seq) for d in replayed.discrepancies] == [("input_commitment_invalid", 1)], replayed.summary()


def test_a_document_carrying_a_double_canonical_json_refuses_is_answered_by_both_verify_routes(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Held: the fields' hashes of a document whose field is 2**60 (in any spelling) are never written; the gateway
    answers a failed report or names the number (422), not a 500."""
    doc = _issued(ledger, tmp_path, fresh_department, "rt53-verify")
    client = make_client(ledger, Clock())
    headers = bearer(login(client, ledger, register(ledger, "VR", "verifier")))
    for spelt in ("1152921504606846976", "1.152921504606847e18", "[1152921504606846976]", "1152921504606847000"):
        document = {**doc, "fields": {**doc["fields"], "subject.id_number": "@"}}
        text = json.dumps({"document": document}).replace('"@"', spelt)
        for path, given in (("/public/verify", {}), ("/verify", headers)):
            answer = client.post(path, content=text, headers={**given, "content-type": "application/json"})
            if spelt.endswith("000"):  # digits no double is: refused as the strict reader refuses them
                assert answer.status_code == 422 and "not exactly representable" in answer.text, answer.text
            else:
                assert answer.status_code == 200 and answer.json()["verified"] is False, answer.text
                failed = [c["name"] for c in answer.json()["checks"] if not c["ok"]]
                assert "integrity" in failed, answer.text
