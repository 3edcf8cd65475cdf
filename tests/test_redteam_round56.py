"""Red team round 56: against this session's bounds on what an application, a rule set and a file handed to the
ledger may be (round 54 and its follow-up: ``decision_input.MAX_INPUT_BYTES`` and the fields' bounds,
``_citations.MAX_CITATIONS`` / ``MAX_CITED_BYTES``, ``evidence.bundle_text``).

1. (An applicant, making their own decision unverifiable by a court) put megabytes in a field the rule set keeps
   sealed apart (one it declares ``personal``, or one its permit copies): the 1 MiB bound counted the input as stored,
   from which those fields are taken out, so the decision was recorded and its bundle, which opens them, was past the
   4 MiB both verifiers read. Fixed: the bound counts the input with the sealed fields.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats import decision_input
from ledger.services import decisions, evidence, logchain

from .cli_support import cli_in_process
from .evidence_support import standalone
from .permit_support import application, fresh_licence, published_permit_rules

# -- 1. the fields a rule set seals apart, outside the input's bound ------------------------------------------------


def _sealed_past_the_bound(ledger: Ledger, tmp: Path, dept: str, case: str) -> tuple[dict[str, Any], Any, str]:
    rules = published_permit_rules(ledger, dept, case.lower())
    licence, holder = fresh_licence(ledger, tmp, case.lower())
    app = application(case, licence)
    # declared personal by the shipped permit rules: sealed apart, never in the stored input
    app["application"]["business_name"] = "x" * (decision_input.MAX_INPUT_BYTES * 3)
    app["application"]["notes"] = "y" * (decision_input.MAX_INPUT_BYTES - 8_000)  # the stored input: within its bound
    return app, rules, holder


def test_megabytes_in_a_field_sealed_apart_are_refused_like_any_input(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(An applicant, making their own decision unverifiable by a court) 3 MiB typed as the business name, a field
    the permit rules declare personal and so seal apart from the stored input, beside 1 MiB of notes: the input's
    1 MiB bound read only what was left in the stored input, the decision was recorded, and every bundle of it opens
    the name: past the 4 MiB both verifiers read, so `ledger evidence --decision` refused to write one. Refused now,
    on each decide path, with the bound named, nothing recorded."""
    dept = fresh_department
    app, rules, holder = _sealed_past_the_bound(ledger, tmp_path, dept, "FBP-RT56-SEALED")
    case, item = app["case_id"], app["service_item"]
    past = f"past the {decision_input.MAX_INPUT_BYTES:,} a decision's input may be"
    with pytest.raises(InputError, match=past):
        decisions.decide(ledger, dept, case, item, app, rules, applicant_ref=holder)
    with pytest.raises(InputError, match=rf"application 1: .*{past}"):
        decisions.decide_many(ledger, dept, [{**app, "applicant_ref": holder}], {"*": rules})
    with pytest.raises(InputError, match=past):
        decisions.record_human_decision(
            ledger, dept, case, item, officer="o-56", outcome="reject", reasons=["OFFICER_CHECKED"],
            applicant_ref=holder, decision_input=app, rule_set=rules,
        )  # fmt: skip
    assert list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)) == []
    # what the refusal prevents: the decision recorded past the bound, and no bundle of it that any reader reads
    with monkeypatch.context() as patch:
        patch.setattr(decision_input, "MAX_INPUT_BYTES", 2**40)
        decisions.decide(ledger, dept, case, item, app, rules, applicant_ref=holder)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    with pytest.raises(InputError, match=r"past the .* its readers take"):
        evidence.bundle_text(evidence.decision_bundle(ledger, dept, case))


def test_a_sealed_field_within_the_bound_gives_a_bundle_both_verifiers_read(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """(An applicant) a business name sealed apart and notes kept in the stored input, together at the bound: the
    decision is recorded, its bundle as `ledger evidence --decision` writes it is within the bound, and both
    verifiers pass it."""
    dept = fresh_department
    app, rules, holder = _sealed_past_the_bound(ledger, tmp_path, dept, "FBP-RT56-WITHIN")
    app["application"]["business_name"] = "x" * (decision_input.MAX_INPUT_BYTES // 2)
    app["application"]["notes"] = "y" * (decision_input.MAX_INPUT_BYTES // 2 - 8_000)  # together: at the bound
    decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    path = tmp_path / "sealed.json"
    made = cli_in_process(
        ledger, monkeypatch, capsys, "evidence", "--decision", app["case_id"], "--department", dept,
        "--applicant", holder, "--out", str(path),
    )  # fmt: skip
    assert made[0] == 0, made
    assert path.stat().st_size <= evidence.MAX_BUNDLE_BYTES
    bundle = json.loads(path.read_bytes())
    assert "x" * 1000 in json.dumps(bundle["input"])  # opened: the bundle carries the sealed name
    assert evidence.verify_bundle(path, ledger.chain).ok
    code, out, err = standalone(ledger, path)
    assert code == 0, (out, err)
