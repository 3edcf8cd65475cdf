"""Red team round 52o: three parts rounds 50 and 51 left open (docs/threat-model.md, their rows), each written failing
first.

1. (A race and a crash, no adversary) an erasure killed between its seal and the attestation of the citations
   recorded between its last look and that seal (round 49's racing decisions), then run again: the run again found
   the body sealed and attested nothing from a record (round 50), so replay reported the honest decision's citation
   as tampered for ever. The attestation is now written in the seal's own transaction: a run is killed before both
   or after both.
2. (A department writing its decision log past the library: it holds the log's key) store and anchor a decision
   whose text is not the canonical JSON of its body: replay named it (round 50), the auditor's
   ``GET /audit/logs/decisions/check`` (``logchain.check_log``) called the log intact, as round 51 found for the
   access and erasures logs.
3. (None: what the ledger writes) a double of 2**53 to 1e21 whose shortest digits are not its value (2**60 is
   written ``1152921504606847000``) was written into an entry that both of the ledger's readers and the court's
   verifier then refuse. ``canonical_json`` now refuses it, naming where it is, so no input carries one into the
   ledger: an application's field (the gateway's 422), a rule's threshold, a certificate field; nothing is written.

Real anvil, real database.
"""

from __future__ import annotations

import io
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from sqlalchemy import func, select

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats.canonical import canonical_json, field_hash
from ledger.formats.rules import load_rule_set
from ledger.services import decisions, erasure, issuance, logchain
from ledger.services.replay import replay
from ledger.storage.models import DecisionInput

from .api_support import Clock, assert_problem, bearer, issue, login, make_client, register
from .conftest import make_records, write_jsonl
from .decision_support import RULES, application, unique_rule_set
from .evidence_support import SCRIPT_MODULE
from .insider_support import SPELLINGS, written_past_the_library


class _Killed(BaseException):
    """The process killed at this point (no LedgerError: nothing in the library catches it)."""


def _issued(ledger: Ledger, tmp_path: Path, department: str, tag: str) -> dict[str, Any]:
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / f"{tag}.jsonl", make_records(1)), department, out=out)
    return dict(json.loads(out.getvalue().splitlines()[0]))


@pytest.mark.parametrize("killed_at", ["_attest_racing", "flush_sqlite_log"])
def test_an_erasure_killed_after_its_seal_and_run_again_leaves_no_racing_decision_unattested(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, killed_at: str
) -> None:
    """Finding 1: an honest decision recorded right after the erasure's last look (round 49's hook), the erasure
    killed at its attestation of such racing citations (``_attest_racing``; held: right after its seal committed,
    ``flush_sqlite_log``), then ``ledger erase`` run again as an officer does: replay must find the citation
    attested."""
    doc = _issued(ledger, tmp_path, fresh_department, f"rt52o-{killed_at}")
    rules = unique_rule_set(f"rt52o-{killed_at}-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    looked = erasure.cited_in
    seen: list[str] = []

    def look_then_decide(ledger_: Ledger, digest: str, **kwargs: Any) -> list[dict[str, Any]]:
        found = looked(ledger_, digest, **kwargs)
        seen.append(digest)
        if len(seen) == 2:  # the last look before the seal
            case = f"C-RT52O-{killed_at}"
            app = application(case, {"document": doc})
            decided = decisions.decide(
                ledger, fresh_department, case, app["service_item"], app, rules,
                applicant_ref=doc["fields"]["subject.credit_code"],
            )  # fmt: skip
            assert [f["verified"] for f in decided.body["certificates"]] == [True]
        return found

    def kill(*args: Any, **kwargs: Any) -> Any:
        raise _Killed(killed_at)

    with monkeypatch.context() as patch:
        patch.setattr(erasure, "cited_in", look_then_decide)
        patch.setattr(erasure, killed_at, kill)
        with pytest.raises(_Killed):
            erasure.erase(ledger, doc["digest"], basis="objection", by="officer-52")
    assert len(seen) == 2
    erasure.erase(ledger, doc["digest"], basis="objection", by="officer-52")
    assert erasure.is_erased(ledger, doc["digest"])
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    logchain.anchor_pending(ledger, erasure.LOG, fresh_department)
    found = replay(ledger, department=fresh_department)
    assert found.ok, found.summary()


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_the_decisions_logs_check_names_a_decision_spelt_otherwise_as_replay_does(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    """Finding 2: the decisions log's own check (``GET /audit/logs/decisions/check``) says ``body_invalid`` where
    replay does, and passes the honest decision beside it."""
    rules = unique_rule_set(f"rt52o-spelling-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)
    honest, spelt = application("C-RT52O-HONEST"), application("C-RT52O-SPELT")
    decisions.decide(ledger, fresh_department, "C-RT52O-HONEST", "ITEM-1", honest, rules, applicant_ref="91110000X1")
    with monkeypatch.context() as patch:
        written_past_the_library(patch, logchain.LOG_DECISIONS, spelling, twice='"outcome":"approve"')
        decisions.decide(ledger, fresh_department, "C-RT52O-SPELT", "ITEM-1", spelt, rules, applicant_ref="91110000X2")
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    found = logchain.check_log(ledger, logchain.LOG_DECISIONS, fresh_department)
    assert [(d.kind, d.seq) for d in found] == [("body_invalid", 2)], found
    assert "canonical" in found[0].detail
    replayed = replay(ledger, department=fresh_department)
    assert [(d.check, d.seq) for d in replayed.discrepancies] == [("body_invalid", 2)], replayed.summary()
    client = make_client(ledger, Clock())
    auditor = register(ledger, "AUD", "auditor")
    answer = client.get(
        f"/audit/logs/decisions/check?department={fresh_department}", headers=bearer(login(client, ledger, auditor))
    )
    assert answer.status_code == 200, answer.text
    assert [(d["kind"], d["seq"]) for d in answer.json()["discrepancies"]] == [("body_invalid", 2)]


_TWO_60 = 2.0**60  # 1152921504606846976, written 1152921504606847000 by RFC 8785


def _doubles() -> list[float]:
    """Doubles around the range RFC 8785 writes in integer digits (2**53 to 1e21): powers of two, powers of ten,
    their neighbours, and random ones."""
    draw = random.Random(52)
    found = {2.0**k for k in range(50, 72)} | {10.0**k for k in range(14, 23)}
    found |= {float(int(x) + d) for x in list(found) for d in (-4096, -1, 1, 4096) if x < 2**80}
    found |= {draw.uniform(2.0**53, 1e21) for _ in range(3000)} | {draw.uniform(1.0, 2.0**53) for _ in range(200)}
    # and ones whose shortest digits are few (a value a person states: 12345 * 10**14), mostly written exactly
    found |= {float(draw.randint(1, 10 ** draw.randint(1, 15)) * 10 ** draw.randint(1, 20)) for _ in range(3000)}
    return sorted(found | {-x for x in found})


def test_the_ledger_writes_only_doubles_the_courts_verifier_reads_back_exactly() -> None:
    """Finding 3: every double ``canonical_json`` writes is read by the court's verifier as that same double and
    written again by it byte for byte; every one it refuses is one whose RFC 8785 digits the court refuses too."""
    court = SCRIPT_MODULE
    written = refused = 0
    for x in _doubles():
        try:
            text = canonical_json({"n": x})
        except InputError as exc:
            refused += 1
            digits = rfc8785.dumps(x).decode()
            assert "at n " in str(exc) and digits in str(exc), exc
            assert Decimal(digits) != Decimal(int(x))
            with pytest.raises(court.InexactNumber):
                court.exact_int(digits)
            continue
        written += 1
        read = json.loads(text, parse_float=court.exact_float, parse_int=court.exact_int)
        assert read["n"] == x, (x, text)
        assert court.jcs(read) == text, (x, text)
        assert logchain.spelling_problem(text, logchain.stored_loads(text)) is None
    assert written > 1000 and refused > 1000, (written, refused)
    with pytest.raises(InputError, match=r"at a\[1\]\.b "):
        canonical_json({"a": [1, {"b": _TWO_60}]})
    with pytest.raises(InputError, match="cannot be written exactly"):
        field_hash("capital", _TWO_60, b"\x00" * 16)


def test_a_rule_threshold_the_ledger_cannot_write_exactly_is_refused() -> None:
    """Finding 3, a rule's threshold: refused when the rule set is read (its digest is its canonical JSON), before
    anything is published or stored."""
    import yaml

    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    document["version"] = "test-rt52o-threshold"
    document["rules"][0]["when"]["value"] = _TWO_60
    with pytest.raises(InputError, match="cannot be written exactly"):
        load_rule_set(document)


def test_an_application_field_the_ledger_cannot_write_exactly_is_refused_and_nothing_is_written(
    ledger: Ledger, fresh_department: str
) -> None:
    """Finding 3, an application's field: the library refuses the decision (InputError naming the field), the
    gateway answers 422, and neither the decisions log nor the stored inputs gain anything."""
    rules = unique_rule_set(f"rt52o-field-{fresh_department}")
    decisions.publish_rule_set(ledger, rules, fresh_department)

    def written() -> tuple[int, int]:
        with ledger.engine.connect() as conn:
            head = logchain.head_seq(conn, logchain.LOG_DECISIONS, fresh_department)
            return head, int(conn.execute(select(func.count()).select_from(DecisionInput)).scalar_one())

    before = written()
    app = application("C-RT52O-FIELD")
    app["application"]["turnover"] = _TWO_60
    with pytest.raises(InputError, match=r"application\.turnover"):
        decisions.decide(ledger, fresh_department, "C-RT52O-FIELD", "ITEM-1", app, rules, applicant_ref="91110000X3")
    assert written() == before
    approver = register(ledger, "DA", "approver", "issuer", "verifier")
    decisions.publish_rule_set(ledger, rules, approver)
    client = make_client(ledger, Clock())
    the_input = dict(application("C-RT52O-GATEWAY"))
    the_input.pop("case_id"), the_input.pop("service_item")
    text = json.dumps(
        {
            "case_id": "C-RT52O-GATEWAY",
            "service_item": "ITEM-1",
            "rule_set": rules.hex_digest,
            "applicant_ref": "91110000X4",
            "input": {**the_input, "application": {**the_input["application"], "turnover": 2**60}},
        }
    )  # 1152921504606846976: digits a reader takes as the double 2**60 exactly
    answer = client.post(
        "/decisions",
        content=text,
        headers={**bearer(login(client, ledger, approver)), "content-type": "application/json"},
    )
    assert "cannot be written exactly" in assert_problem(answer, 422)["detail"], answer.text
    with ledger.engine.connect() as conn:
        assert logchain.head_seq(conn, logchain.LOG_DECISIONS, approver) == 0


def test_a_certificate_field_the_ledger_cannot_write_exactly_is_refused_and_nothing_is_issued(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Finding 3, a certificate field: the record is refused naming the field, and nothing is issued."""
    (record,) = make_records(1)
    record["subject"]["registered_capital"] = _TWO_60  # written 1.152921504606847e+18: read as 2**60 exactly
    out = io.StringIO()
    with pytest.raises(InputError, match="registered_capital"):
        issuance.issue_file(ledger, write_jsonl(tmp_path / "rt52o-field.jsonl", [record]), fresh_department, out=out)
    assert out.getvalue() == ""
    assert issue(ledger, fresh_department, 1)  # the department issues as before
