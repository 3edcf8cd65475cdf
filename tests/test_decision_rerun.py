"""Issue 12, "every decision is complete evidence": a decision bundle carries the decision's input (committed field by
field, disclosed selectively) and the certificates it cited, so a court re-runs the decision in the standalone
verifier with its own rule engine and gets the recorded outcome and reasons.

Adversaries: an applicant (or holder) editing the disclosed input, a department swapping the rule set or editing the
outcome, a department recording facts the chain contradicts, anyone revealing a hidden field with a made-up salt.
The two rule engines are kept in agreement by property tests. Real anvil, real contracts; nothing is mocked."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats import decision_input
from ledger.formats.rules import evaluate, load_rule_set
from ledger.services import decisions, evidence, logchain, status

from .evidence_support import SCRIPT_MODULE as SCRIPT
from .evidence_support import both, failed_names
from .rerun_support import RULES, World, application, approved_fixture, world_fixture  # noqa: F401 - fixtures

RULE_FILES = sorted(RULES.glob("*.yaml"))
# Each shipped rule set parsed once: the property below runs 400 examples per file, and parsing the YAML again for
# each (5-13 ms, pure-Python SafeLoader) was two thirds of its time. Each example gets a deep copy, as fresh as a parse.
_SHIPPED = {path: yaml.safe_load(path.read_text(encoding="utf-8")) for path in RULE_FILES}


# -- the two engines agree ----------------------------------------------------------------------------------------

ITEM_KEYS = (
    "handling_type",
    "promised_limit_days",
    "legal_limit_days",
    "materials_required",
    "item_version",
    "online_depth",
    "handling_form",
    "implementing_body",
    "in_service_hall",
    "courier",
    "appointment",
    "onsite_reason",
    "item_type",
    "joint_bodies",
)
_scalar = (
    st.integers(-2, 30)
    | st.booleans()
    | st.none()
    | st.sampled_from(["1", "enterprise", "", "x"])
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-5, max_value=40)
)
_value = _scalar | st.lists(_scalar, max_size=2) | st.dictionaries(st.sampled_from(["a", "b"]), _scalar, max_size=2)
_fact = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["business-licence", "tax-clearance", None]),
        "verified": st.booleans(),
        "status": st.sampled_from(["valid", "revoked", "suspended", "superseded", "unknown"]),
        "expired": st.none() | st.booleans(),
        "holder": st.booleans(),
        "issuer": st.sampled_from(["MKT", "TAX", None]),
        "digest": st.just("0x" + "ab" * 32),
    }
)
_inputs = st.fixed_dictionaries(
    {},
    optional={
        "item": st.dictionaries(st.sampled_from(ITEM_KEYS), _value) | _scalar,
        "application": st.dictionaries(
            st.sampled_from(["online", "materials_submitted", "applicant_type"]),
            st.sampled_from([True, False, 1, 0, 3, 4, 5, "enterprise", "person"]) | _value,
        ),
        "applicant": st.dictionaries(st.sampled_from(["blacklisted"]), st.booleans() | _scalar),
        "certificates": st.lists(_fact, max_size=3) | _scalar,
    },
)


def _engines_agree(document: dict[str, Any], data: dict[str, Any]) -> None:
    rule_set = load_rule_set(document)
    try:
        expected = evaluate(rule_set, data)
    except InputError:
        with pytest.raises(SCRIPT.Failure):
            SCRIPT.run_rules(rule_set.document, data)
        return
    outcome, reasons, basis = SCRIPT.run_rules(json.loads(json.dumps(rule_set.document)), data)
    assert (outcome, reasons) == (expected.outcome, list(expected.reasons)), data
    assert basis == rule_set.legal_basis(expected.reasons)


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_inputs)
def test_standalone_engine_agrees_on_the_shipped_rule_sets(path: Path, data: dict[str, Any]) -> None:
    _engines_agree(copy.deepcopy(_SHIPPED[path]), data)


_paths = st.sampled_from(
    [f"item.{k}" for k in ITEM_KEYS]
    + [
        "application.online",
        "application.materials_submitted",
        "application.applicant_type",
        "applicant.blacklisted",
        "item.a.b",
    ]
)
_comparison = st.one_of(
    st.builds(
        lambda f, op, v: {"field": f, "op": op, "value": v},
        _paths,
        st.sampled_from(["==", "!="]),
        st.integers(-1, 5) | st.booleans() | st.none() | st.sampled_from(["enterprise", "1"]),
    ),
    st.builds(
        lambda f, op, v: {"field": f, "op": op, "value": v},
        _paths,
        st.sampled_from(["<", "<=", ">", ">="]),
        st.integers(-1, 30) | st.floats(-2, 30),
    ),
    st.builds(
        lambda f, op, v: {"field": f, "op": op, "value": v},
        _paths,
        st.sampled_from(["in", "not_in"]),
        st.lists(st.integers(0, 4) | st.booleans() | st.just("enterprise"), min_size=1, max_size=3),
    ),
    st.builds(lambda f, v: {"field": f, "op": "exists", "value": v}, _paths, st.booleans()),
    st.builds(
        lambda f, op, r: {"field": f, "op": op, "ref": r},
        _paths,
        st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
        _paths,
    ),
    st.builds(
        lambda spec: {"certificate": spec},
        st.fixed_dictionaries(
            {"type": st.sampled_from(["business-licence", "tax-clearance"])},
            optional={
                "verified": st.booleans(),
                "status": st.sampled_from(["valid", "revoked", "unknown"]),
                "expired": st.booleans(),
                "holder": st.booleans(),
                "issuer": st.sampled_from(["MKT", ["MKT", "TAX"]]),
            },
        ),
    ),
)
_condition = st.recursive(
    _comparison,
    lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=6,
)
_rule_sets = st.builds(
    lambda rules, outcome, item: {
        "engine": "pl-rules/1",
        "rule_set_id": "generated",
        "version": "1",
        "service_item": item,
        "title": "t",
        "default_outcome": outcome,
        "default_reason": "DEFAULT_REASON",
        "default_legal_basis": "Law art. 1",
        "rules": [
            {
                "id": f"r{i}",
                "outcome": o,
                "reason": reason,
                "when": when,
                **({"legal_basis": f"Law art. {i}"} if i % 2 else {}),
            }
            for i, (o, reason, when) in enumerate(rules)
        ],
    },
    st.lists(
        st.tuples(
            st.sampled_from(["approve", "refer", "reject"]),
            st.sampled_from(["REASON_A", "REASON_B", "DEFAULT_REASON"]),
            _condition,
        ),
        min_size=1,
        max_size=5,
    ),
    st.sampled_from(["approve", "refer", "reject"]),
    st.sampled_from(["*", "ITEM-1"]),
)


@settings(max_examples=600, deadline=None)
@given(document=_rule_sets, data=_inputs, item=st.sampled_from([None, "ITEM-1", "ITEM-2"]))
def test_standalone_engine_agrees_on_generated_rule_sets(
    document: dict[str, Any], data: dict[str, Any], item: str | None
) -> None:
    try:
        load_rule_set(document)
    except InputError:
        assume(False)
    _engines_agree(document, data if item is None else {**data, "service_item": item})


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=6), _json, max_size=5))
def test_flattened_input_comes_back_whole_in_the_standalone_verifier(value: dict[str, Any]) -> None:
    """Keys with '.', '~' or '@', empty keys and empty objects: the fields name the input unambiguously."""
    fields = decision_input.flatten(value)
    assert decision_input.APPLICANT_FIELD not in fields
    assert SCRIPT.unflatten_input(fields) == decision_input.unflatten(fields) == value


def test_the_rerun_sections_selectors_are_the_keccak_of_their_signatures() -> None:
    from eth_utils import keccak

    assert keccak(text="wasActiveSignerAt(address,uint8,uint64)")[:4].hex() == SCRIPT.SELECTOR_WAS_ACTIVE_SIGNER_AT
    assert keccak(text="statusHistory(bytes32,bytes32,bytes32)")[:4].hex() == SCRIPT.SELECTOR_STATUS_HISTORY
    assert (
        keccak(text="wasAuthorizedForTypeAt(bytes32,bytes32,uint64)")[:4].hex()
        == SCRIPT.SELECTOR_WAS_AUTHORIZED_FOR_TYPE_AT
    )


# -- decisions on real certificates ------------------------------------------------------------------------------


def check(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in result["checks"] if c["name"] == name)


def test_complete_bundle_is_rerun_by_both_verifiers(ledger: Ledger, approved: dict[str, Any], tmp_path: Path) -> None:
    body = approved["decision"]["body"]
    assert body["input_commitment"].startswith("0x") and body["applicant_commitment"].startswith("0x")
    assert approved["input"]["fields"]["item.onsite_reason"] == 1 and approved["input"]["hidden"] == {}
    cited = approved["cited"][0]
    assert cited["fields"]["type"] == "business-licence" and "subject.name" in cited["hidden"]  # no more than needed
    assert "status" not in json.dumps(cited["fields"])  # the facts come from the chain, not from the bundle
    report, code, result = both(ledger, approved, tmp_path)
    assert report.ok and code == 0, result
    assert [c["name"] for c in result["checks"]] == list(evidence.DECISION_CHECK_NAMES)
    assert "gives approve (TYPICAL_FEATURES_MATCH), as recorded" in check(result, "rerun")["detail"]


def test_revoked_before_the_decision_is_rejected_and_rerun_from_the_chain(world: World, tmp_path: Path) -> None:
    status.revoke(world.ledger, world.licences[1]["digest"], "fraud")
    assert world.decide("RR-REVOKED", 1).body["outcome"] == "reject"
    report, code, result = both(world.ledger, world.bundle("RR-REVOKED", 1), tmp_path)
    assert report.ok and code == 0, result
    assert "REQUIRED_CERTIFICATE_REVOKED" in check(result, "rerun")["detail"]


def test_revoked_after_the_decision_is_not_held_against_it(world: World, tmp_path: Path) -> None:
    assert world.decide("RR-LATER", 2).body["outcome"] == "approve"
    status.revoke(world.ledger, world.licences[2]["digest"], "fraud")
    report, code, result = both(world.ledger, world.bundle("RR-LATER", 2), tmp_path)
    assert report.ok and code == 0, result


def test_applicant_editing_the_disclosed_input_is_caught(
    world: World, approved: dict[str, Any], tmp_path: Path
) -> None:
    lying = copy.deepcopy(approved)
    lying["input"]["fields"]["applicant.blacklisted"] = True
    _, code, result = both(world.ledger, lying, tmp_path)
    assert code == 1 and failed_names(result) == {"input"}
    assert check(result, "rerun")["result"] == "SKIP"


def test_hidden_field_revealed_with_a_wrong_salt_is_caught(world: World, tmp_path: Path) -> None:
    world.decide("RR-HIDE", 3)
    hidden = world.bundle("RR-HIDE", 3, hide=["applicant.blacklisted", "item.courier"])
    assert "applicant.blacklisted" in hidden["input"]["hidden"]
    assert "applicant.blacklisted" not in hidden["input"]["fields"]
    # hidden but committed: the input check passes; the rule set reads those fields, so no re-run is claimed
    _report, code, result = both(world.ledger, hidden, tmp_path, "hidden.json")
    assert code == 1 and failed_names(result) == {"rerun"}
    assert "hidden field(s) ['applicant.blacklisted', 'item.courier']" in check(result, "rerun")["detail"]
    revealed = copy.deepcopy(hidden)
    del revealed["input"]["hidden"]["applicant.blacklisted"]
    revealed["input"]["fields"]["applicant.blacklisted"] = False
    revealed["input"]["salts"]["applicant.blacklisted"] = "00" * 16
    _, code, result = both(world.ledger, revealed, tmp_path, "revealed.json")
    assert code == 1 and "input" in failed_names(result)


def test_hiding_fields_the_rules_do_not_read_keeps_the_rerun(world: World, tmp_path: Path) -> None:
    world.decide("RR-NOTE", 3, household={"income_band": "income-band-7k"})
    bundle = world.bundle("RR-NOTE", 3, hide=["household.income_band"])
    assert "income-band-7k" not in json.dumps(bundle)
    report, code, result = both(world.ledger, bundle, tmp_path)
    assert report.ok and code == 0, result


def test_without_the_applicants_identity_the_holder_rule_cannot_be_rerun(
    world: World, approved: dict[str, Any], tmp_path: Path
) -> None:
    anonymous = world.bundle("RR-APPROVE", None)
    assert anonymous["input"]["applicant"] is None
    _, code, result = both(world.ledger, anonymous, tmp_path)
    assert code == 1 and failed_names(result) == {"rerun"}
    assert "identity is not disclosed" in check(result, "rerun")["detail"]
    with pytest.raises(InputError, match="not the applicant"):
        world.bundle("RR-APPROVE", 1)  # another person's identity cannot be passed off as the applicant's


def test_rule_set_swapped_for_another_version_is_caught(world: World, approved: dict[str, Any], tmp_path: Path) -> None:
    swapped = copy.deepcopy(approved)
    other = world.other_rules
    published = evidence._rule_set_event(world.ledger.chain, other.digest)
    swapped["rule_set"] = {"digest": other.hex_digest, "document": other.document, **(published or {})}
    _, code, result = both(world.ledger, swapped, tmp_path)
    assert code == 1 and "rule_set" in failed_names(result)


def test_edited_outcome_or_reasons_fail_the_rerun(world: World, approved: dict[str, Any], tmp_path: Path) -> None:
    for key, value in (("outcome", "reject"), ("reasons", ["REQUIRED_CERTIFICATE_REVOKED"])):
        edited = copy.deepcopy(approved)
        edited["decision"]["body"][key] = value
        _, code, result = both(world.ledger, edited, tmp_path, f"{key}.json")
        assert code == 1 and {"entry_hash", "rerun"} <= failed_names(result), result


def test_cited_certificate_swapped_is_caught(world: World, approved: dict[str, Any], tmp_path: Path) -> None:
    swapped = copy.deepcopy(approved)
    swapped["cited"][0] = copy.deepcopy(world.bundle("RR-LATER", 2)["cited"][0])
    _, code, result = both(world.ledger, swapped, tmp_path)
    assert code == 1 and "certificate_facts" in failed_names(result)
    dropped = copy.deepcopy(approved)
    dropped["cited"][0] = None  # a department hiding the certificate it relied on
    _, code, result = both(world.ledger, dropped, tmp_path, "dropped.json")
    assert code == 1 and "certificate_facts" in failed_names(result)


def test_department_recording_facts_the_chain_contradicts_is_caught(world: World, tmp_path: Path) -> None:
    """A department writes an approval on a revoked licence, claiming it valid; hashes and anchor are genuine."""
    honest = world.decide("RR-FORGED", 1)  # licence 1 is revoked: honest outcome is reject
    forged = copy.deepcopy(honest.body)
    forged["certificates"][0]["status"] = "valid"
    forged.update(
        outcome="approve",
        reasons=["TYPICAL_FEATURES_MATCH"],
        legal_basis=world.rules.legal_basis(("TYPICAL_FEATURES_MATCH",)),
        fired=["typical-features"],
    )
    entry = logchain.append(world.ledger, logchain.LOG_DECISIONS, world.dept, forged)
    bundle = world.bundle("RR-FORGED", 1, seq=entry.seq)
    _, code, result = both(world.ledger, bundle, tmp_path)
    assert code == 1 and failed_names(result) == {"certificate_facts", "rerun"}, result
    assert "status: recorded 'valid', the chain says 'revoked'" in check(result, "certificate_facts")["detail"]


def test_officer_override_is_bundled_with_its_input_and_link(
    world: World, approved: dict[str, Any], tmp_path: Path
) -> None:
    d = approved["decision"]
    human = decisions.record_human_decision(
        world.ledger,
        world.dept,
        "RR-APPROVE",
        "ITEM-1",
        officer="officer-7",
        outcome="refer",
        reasons=["OFFICER_WANTS_ORIGINALS"],
        applicant_ref=world.holder(0),
        overrides=d["seq"],
        decision_input=application("RR-APPROVE", world.licences[0]["digest"]),
    )
    bundle = world.bundle("RR-APPROVE", 0, seq=human.seq)
    assert bundle["input"]["fields"]["item.onsite_reason"] == 1 and bundle["cited"][0] is not None
    report, code, result = both(world.ledger, bundle, tmp_path)
    assert report.ok and code == 0, result
    detail = check(result, "rerun")["detail"]
    assert detail.startswith("not applicable: an officer's decision") and f"overriding decision {d['seq']}" in detail


def test_cli_writes_the_complete_decision_bundle(
    world: World,
    approved: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ledger.cli import main as cli_main

    from .evidence_support import cli_env, standalone

    data_dir = cli_env(world.ledger, monkeypatch)
    out = tmp_path / "decision.json"
    seq = str(approved["decision"]["seq"])
    assert (
        cli_main(
            [
                *data_dir,
                "evidence",
                "--decision",
                "RR-APPROVE",
                "-d",
                world.dept,
                "--seq",
                seq,
                "--applicant",
                world.holder(0),
                "--hide",
                "item.legal_limit_days",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["input"]["applicant"]["identity"] == world.holder(0)
    assert list(written["input"]["hidden"]) == ["item.legal_limit_days"]
    code, result, _ = standalone(world.ledger, out)
    assert code == 1 and result is not None and failed_names(result) == {"rerun"}  # the rules read that field
    capsys.readouterr()
    assert (
        cli_main(
            [
                *data_dir,
                "evidence",
                "--decision",
                "RR-APPROVE",
                "-d",
                world.dept,
                "--seq",
                seq,
                "--applicant",
                world.holder(1),
            ]
        )
        == 2
    )
    assert "not the applicant of this decision" in capsys.readouterr().err
    assert (
        cli_main(
            [
                *data_dir,
                "evidence",
                "--decision",
                "RR-APPROVE",
                "-d",
                world.dept,
                "--seq",
                seq,
                "--hide",
                "item.no_such_field",
            ]
        )
        == 2
    )
    assert "the input has no such field" in capsys.readouterr().err


def test_a_hidden_flag_cannot_be_guessed_from_the_input_digest(world: World, tmp_path: Path) -> None:
    """A court holding a bundle that hides ``applicant.blacklisted`` tries both values against the record's
    unsalted ``input_digest``: the stored input's random nonce, never disclosed, defeats the guess."""
    from ledger.formats.canonical import document_digest, hex32

    world.decide("RR-GUESS", 3)
    bundle = world.bundle("RR-GUESS", 3, hide=["applicant.blacklisted"])
    body = bundle["decision"]["body"]
    disclosed = decision_input.unflatten(bundle["input"]["fields"])
    guesses = [hex32(document_digest({**disclosed, "applicant": {"blacklisted": value}})) for value in (True, False)]
    assert body["input_digest"] not in guesses
    assert "input_nonce" not in json.dumps(bundle["input"])


def test_replay_reports_a_commitment_that_is_not_to_the_stored_input(world: World) -> None:
    from ledger.services.replay import replay

    honest = world.decide("RR-COMMIT", 3)
    forged = dict(copy.deepcopy(honest.body), input_commitment="0x" + "00" * 32)
    entry = logchain.append(world.ledger, logchain.LOG_DECISIONS, world.dept, forged)
    logchain.anchor_pending(world.ledger, logchain.LOG_DECISIONS, world.dept)
    report = replay(world.ledger, department=world.dept, case_id="RR-COMMIT")
    found = [(d.check, d.seq) for d in report.discrepancies if d.check == "input_commitment_invalid"]
    assert found == [("input_commitment_invalid", entry.seq)], report.to_json()


@pytest.mark.parametrize(
    ("case", "licence", "applicant", "outcome"),
    [
        ("RR-EXPIRED", 4, 4, "refer"),  # expired at the decision moment
        ("RR-OTHERS", 3, 0, "refer"),  # another enterprise's licence: not the applicant's
        ("RR-SUSPENDED", 5, 5, "refer"),  # suspended one block before the decision
    ],
)
def test_facts_of_every_kind_agree_in_both_verifiers(
    world: World, case: str, licence: int, applicant: int, outcome: str, tmp_path: Path
) -> None:
    if case == "RR-SUSPENDED":
        status.suspend(world.ledger, world.licences[licence]["digest"], "under-investigation")
    decision = decisions.decide(
        world.ledger,
        world.dept,
        case,
        "ITEM-1",
        application(case, world.licences[licence]["digest"]),
        world.rules,
        applicant_ref=world.holder(applicant),
    )
    assert decision.body["outcome"] == outcome, decision.body
    bundle = world.bundle(case, applicant)
    report, code, result = both(world.ledger, bundle, tmp_path)
    assert report.ok and code == 0, result
    fact = decision.body["certificates"][0]
    assert (fact["status"], fact["expired"], fact["holder"]) == {
        "RR-EXPIRED": ("valid", True, True),
        "RR-OTHERS": ("valid", False, False),
        "RR-SUSPENDED": ("suspended", False, True),
    }[case]


def test_holder_identifiers_are_disclosed_only_with_the_applicant(world: World, approved: dict[str, Any]) -> None:
    assert "subject.credit_code" in approved["cited"][0]["fields"]
    anonymous = world.bundle("RR-EXPIRED", None)
    assert "subject.credit_code" in anonymous["cited"][0]["hidden"]
