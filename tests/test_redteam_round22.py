"""Red team, round 22: a court's expert, a forger or holder editing their document, an applicant lying in their input,
an anonymous client of the gateway, and the chain's operator, against the two bundle verifiers and the gateway.

1. (A court's expert, handed a forger's bundle) A decision that cites one certificate twice has two cited copies in
   its bundle. The library keyed the copies by the digest their citation names, so one copy stood for both: with
   either copy replaced by ``null`` (docs/evidence.md: "not found", which contradicts the record and fails) the
   library still passed ``certificate_facts`` while the court's verifier failed it. Each citation is now judged
   with the copy at its own place in both.
2. (A court's expert; an applicant citing a certificate a department anchored outside its authority) A cited
   certificate's ``verified`` fact is what the library's verification says of its authenticity, and that includes
   ``type_authority`` (round "type authority": a department anchoring a type the council never granted it). The
   court's verifier re-established ``verified`` without asking the registry whether the issuer held the type at
   the anchoring block: a decision that rightly found such a "business licence" of a health bureau unverified
   failed ``certificate_facts`` (and its re-run) in the court's verifier alone, and a department recording it as
   verified (and approving on it) passed there alone. Both now ask ``wasAuthorizedForTypeAt``.
3. (A court's expert, handed the bundle of a backdated decision) Replay refuses an automatic decision whose facts
   block was not the chain's head at its ``decided_at`` (``facts_block_invalid``): the engine's facts must be the
   chain's when it decided. The bundle verifiers re-established the facts as of whatever block the record names: a
   decision taken after a licence was revoked, recorded (by a dishonest engine, or an insider writing the log) on
   the facts of a block before the revocation, re-ran to "approve, as recorded" in both, where replay reported it.
   Both now fail ``certificate_facts`` for a facts block after the decision's anchoring, one the chain does not
   have, or one that was not the head at ``decided_at`` (the same 30 s of clock difference as replay).
4. (A court's expert, handed a decision record made of another case's input) The ledger stores a decision's input
   with the body's ``case_id`` and ``service_item`` (it refuses an application naming others). The bundle verifiers
   opened the input from the record's commitment and never compared the two, nor did replay: a record for case X
   carrying case Y's input (an insider copying an approval under another case id) verified in both and replayed
   clean, the court re-running "case X" on case Y's application. Both verifiers now fail ``input`` when a disclosed
   ``case_id`` or ``service_item`` is not the record's, and replay reports the record (``rerun_failed``).
5. (An anonymous client) The gateway's guard refuses a NUL in any string of a JSON body (PostgreSQL refuses one in
   any text: a 500 from deep inside a query) and strings past its length limit, but only in bodies orjson reads,
   which are UTF-8; a body in UTF-16 or UTF-32 (or behind a byte order mark) went to the ledger's parser, which
   reads those encodings as json does, unchecked: ``POST /auth/token`` with a UTF-16 challenge id holding a NUL
   was PostgreSQL's 500 again, and any string length passed. RFC 8259 §8.1 asks networked JSON to be UTF-8
   without a byte order mark: the guard now refuses any other encoding (422) before a handler reads it.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.onchain.chain import ROLE_ISSUER
from ledger.services import decisions, evidence, logchain, replay, status
from ledger.services.departments import Council

from .api_support import Clock, make_client, problem_body
from .authority_support import anchor_anyway
from .evidence_support import both, failed_names
from .rerun_support import World, application, world_fixture  # noqa: F401 - the decisions' world


@pytest.mark.parametrize("hidden_copy", [0, 1])
def test_a_citation_given_twice_is_judged_copy_by_copy_in_both_verifiers(
    ledger: Ledger, world: World, tmp_path: Path, hidden_copy: int
) -> None:
    digest = world.licences[0]["digest"]
    case = f"RR22-TWICE-{hidden_copy}"
    world.decide(case, 0, certificates=[{"digest": digest}, {"digest": digest}])
    bundle: dict[str, Any] = world.bundle(case, 0)
    report, code, _ = both(ledger, bundle, tmp_path, "twice.json")
    assert report.ok and code == 0
    edited = copy.deepcopy(bundle)
    edited["cited"][hidden_copy] = None  # "not found": the record says the department verified it
    report, code, result = both(ledger, edited, tmp_path, "one-copy-hidden.json")
    assert code == 1 and not report.ok
    assert result is not None and failed_names(result) == {"certificate_facts"}


def test_a_cited_certificate_of_a_type_its_issuer_was_never_granted_is_unverified_in_both_verifiers(
    ledger: Ledger, world: World, tmp_path: Path
) -> None:
    bureau = f"HB22-{world.dept}"
    Council(ledger).register(bureau, "Health Bureau (round 22)", ROLE_ISSUER, types=("health-permit",))
    licence = anchor_anyway(ledger, bureau, "business-licence")  # past issuance's check, with its own key
    holder = str(licence["fields"]["subject.credit_code"])
    case = "RR22-OUTSIDE-AUTHORITY"
    decision = decisions.decide(
        ledger,
        world.dept,
        case,
        "ITEM-1",
        application(case, licence["digest"]),
        world.rules,
        applicant_ref=holder,
    )
    (fact,) = decision.body["certificates"]
    assert fact["verified"] is False and fact["failed"] == ["type_authority"], fact
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, world.dept)
    bundle = evidence.decision_bundle(ledger, world.dept, case, applicant=holder)
    report, code, result = both(ledger, bundle, tmp_path, "outside-authority.json")
    assert report.ok and code == 0, result


def test_a_decision_recorded_on_the_facts_of_an_older_block_fails_certificate_facts_in_both_verifiers(
    ledger: Ledger, world: World, tmp_path: Path
) -> None:
    licence = world.licences[2]
    honest = world.decide("RR22-BEFORE", 2)
    assert honest.body["outcome"] == "approve" and honest.body["certificates"][0]["status"] == "valid"
    status.revoke(ledger, licence["digest"], "fraud")  # blocks after the facts block: it was the head no longer
    # a dishonest engine (or an insider writing the log) records an approval taken two hours later, after the
    # revocation, on the facts of the block before it; hash-chained and anchored like any entry
    body = copy.deepcopy(honest.body)
    later = datetime.fromisoformat(body["decided_at"].replace("Z", "+00:00")) + timedelta(hours=2)
    body["decided_at"] = later.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    entry = logchain.append(ledger, logchain.LOG_DECISIONS, world.dept, body)
    bundle = world.bundle("RR22-BEFORE", 2, seq=entry.seq)
    checks = {d.check for d in replay.replay(ledger, department=world.dept, case_id="RR22-BEFORE").discrepancies}
    assert "facts_block_invalid" in checks, checks  # the core refuses it
    report, code, result = both(ledger, bundle, tmp_path, "backdated.json")
    assert code == 1 and not report.ok
    assert result is not None and failed_names(result) == {"certificate_facts"}, result  # the re-run: skipped
    detail = next(c["detail"] for c in result["checks"] if c["name"] == "certificate_facts")
    assert "was not the head" in detail, detail
    # the honest decision's bundle still passes in both
    report, code, _ = both(ledger, world.bundle("RR22-BEFORE", 2, seq=honest.seq), tmp_path, "before.json")
    assert report.ok and code == 0


def test_a_decision_record_carrying_another_cases_input_fails_input_in_both_verifiers(
    ledger: Ledger, world: World, tmp_path: Path
) -> None:
    honest = world.decide("RR22-ORIGINAL", 3)
    assert honest.body["outcome"] == "approve"
    body = copy.deepcopy(honest.body)  # an insider copies the approval, commitments and all, under another case
    body["case_id"] = "RR22-COPIED"
    logchain.append(ledger, logchain.LOG_DECISIONS, world.dept, body)
    bundle = world.bundle("RR22-COPIED", 3)
    assert bundle["input"]["fields"]["case_id"] == "RR22-ORIGINAL"
    found = {d.check for d in replay.replay(ledger, department=world.dept, case_id="RR22-COPIED").discrepancies}
    assert found == {"rerun_failed"}, found  # the core too: the record's input is another case's
    assert not replay.replay(ledger, department=world.dept, case_id="RR22-ORIGINAL").discrepancies
    report, code, result = both(ledger, bundle, tmp_path, "copied.json")
    assert code == 1 and not report.ok
    assert result is not None and "input" in failed_names(result), result
    detail = next(c["detail"] for c in result["checks"] if c["name"] == "input")
    assert "RR22-ORIGINAL" in detail and "RR22-COPIED" in detail, detail


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])
def test_a_json_body_in_another_encoding_than_utf8_is_refused_before_any_handler(ledger: Ledger, encoding: str) -> None:
    client = make_client(ledger, Clock())
    probes = [
        ("/auth/token", {"challenge_id": "ab\u0000cd", "signature": "0x" + "11" * 65}),  # a NUL: PostgreSQL's 500
        ("/public/verify", {"document": {"fields": {"a": "x" * 200_000}}}),  # past the guard's string length
    ]
    for path, body in probes:  # in UTF-8 the guard refuses both, as before
        problem_body(client.post(path, content=json.dumps(body).encode(), headers=_JSON), 422)
        answer = client.post(path, content=json.dumps(body).encode(encoding), headers=_JSON)
        assert "UTF-8" in problem_body(answer, 422)["detail"], (path, answer.text)
    # a shallow valid request in UTF-8 is answered as before
    assert (
        client.post("/public/verify", content=b'{"digest": "0x' + b"00" * 32 + b'"}', headers=_JSON).status_code == 404
    )


_JSON = {"content-type": "application/json"}
