"""Red team, round 2 (b): complete decision bundles, the standalone verifier, herd status and ``--now``.

Each test is an attack that worked against main before its fix (docs/threat-model.md, "Red team round 2 (b)"):
the adversary is named in the test's docstring."""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.cli import main as cli_main
from ledger.client import Ledger
from ledger.errors import InputError, LedgerError
from ledger.formats import decision_input
from ledger.formats.rules import load_rule_set
from ledger.services.verify import ChainView, verify_certificate

from .conftest import PASSPHRASE, make_records
from .evidence_support import SCRIPT_MODULE as SCRIPT
from .rerun_support import approved_fixture, world_fixture  # noqa: F401 - fixtures
from .rpc_proxy import RpcProxy

BASE: dict[str, Any] = {
    "engine": "pl-rules/1",
    "rule_set_id": "redteam",
    "version": "1",
    "service_item": "*",
    "title": "t",
    "default_outcome": "approve",
    "default_reason": "ALL_GOOD",
    "rules": [{"id": "r1", "outcome": "reject", "reason": "BAD", "when": {"field": "item.x", "op": "==", "value": 1}}],
}


def _with_rule(when: Any, **rule: Any) -> dict[str, Any]:
    document = copy.deepcopy(BASE)
    document["rules"][0].update({"when": when, **rule})
    return document


# -- a department publishing a rule set the library would refuse --------------------------------------------------
# The rule set is published on chain by digest only: a department (or whoever holds its approver key) can publish
# any document. The library refuses to load one outside pl-rules/1, so its re-run fails; the standalone engine ran
# it anyway and could PASS a re-run the library fails: the two verifiers disagreed on the same bundle.

MALFORMED_RULE_SETS = {
    "extra top-level key": {**BASE, "exceptions": [{"field": "item.x"}]},
    "extra rule key": _with_rule(BASE["rules"][0]["when"], unless={"field": "item.y", "op": "exists", "value": True}),
    "in with an empty list": _with_rule({"field": "item.x", "op": "not_in", "value": []}),
    "in with a nested list": _with_rule({"field": "item.x", "op": "in", "value": [[1]]}),
    "exists with text": _with_rule({"field": "item.x", "op": "exists", "value": "false"}),
    "== with an object": _with_rule({"field": "item.x", "op": "==", "value": {"a": 1}}),
    "== with a list": _with_rule({"field": "item.x", "op": "==", "value": [1]}),
    "ordering on text": _with_rule({"field": "item.x", "op": "<", "value": "5"}),
    "ordering on a boolean": _with_rule({"field": "item.x", "op": "<", "value": True}),
    "in with a ref": _with_rule({"field": "item.x", "op": "in", "ref": "item.y"}),
    "one-segment path": _with_rule({"field": "item", "op": "exists", "value": True}),
    "unknown root": _with_rule({"field": "other.x", "op": "exists", "value": True}),
    "dotted key path": _with_rule({"field": "item.X", "op": "exists", "value": True}),
    "certificate without type": _with_rule({"certificate": {"verified": True}}),
    "certificate flag as number": _with_rule({"certificate": {"type": "licence", "verified": 1}}),
    "certificate unknown status": _with_rule({"certificate": {"type": "licence", "status": "fine"}}),
    "certificate empty issuers": _with_rule({"certificate": {"type": "licence", "issuer": []}}),
    "unknown rule outcome": _with_rule({"field": "item.x", "op": "exists", "value": True}, outcome="maybe"),
    "lower-case reason": _with_rule(BASE["rules"][0]["when"], reason="bad"),
    "duplicate rule id": {**BASE, "rules": [BASE["rules"][0], BASE["rules"][0]]},
    "missing title": {k: v for k, v in BASE.items() if k != "title"},
    "bad default outcome": {**BASE, "default_outcome": "maybe"},
    "empty legal basis": _with_rule(BASE["rules"][0]["when"], legal_basis=" "),
    "commitment on reject": _with_rule(
        BASE["rules"][0]["when"], commitment={"promise": "P", "within_days": 5, "check": "C"}
    ),
    "commitment of 0 days": {
        **BASE,
        "rules": [
            {**BASE["rules"][0], "outcome": "approve", "commitment": {"promise": "P", "within_days": 0, "check": "C"}}
        ],
    },
    "reason text for no reason": {**BASE, "reason_texts": {"OTHER": {"en": "x"}}},
    "reason text language": {**BASE, "reason_texts": {"BAD": {"fr": "x"}}},
    "rule set id upper case": {**BASE, "rule_set_id": "RedTeam"},
}


@pytest.mark.parametrize("name", sorted(MALFORMED_RULE_SETS))
def test_standalone_refuses_every_rule_set_the_library_refuses(name: str) -> None:
    """Adversary: a department publishing a rule set outside pl-rules/1 and recording the outcome the lenient
    engine gives."""
    document = MALFORMED_RULE_SETS[name]
    with pytest.raises(InputError):
        load_rule_set(document)
    for data in ({"item": {"x": 1, "y": 2}}, {"item": {}}, {}):
        with pytest.raises(SCRIPT.Failure):
            SCRIPT.run_rules(copy.deepcopy(document), data)


def test_a_rule_set_of_unknown_outcomes_fails_closed_without_a_traceback() -> None:
    """Adversary: a department whose only firing rule has an outcome no engine knows (the standalone engine used
    to raise StopIteration, which no check catches: a traceback instead of a verdict)."""
    document = _with_rule({"field": "item.x", "op": "exists", "value": True}, outcome="maybe")
    with pytest.raises(SCRIPT.Failure, match="outcome"):
        SCRIPT.run_rules(document, {"item": {"x": 1}})


# -- a field disclosed under two paths ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"item": 5, "item.x": 1},
        {"item.x": 1, "item": 5},
        {"item": {}, "item.x": 1},
        {"item.x": 1, "item": {"x": 2}},
        {"item.x": 1, "item.x.y": 2},
        {"item": {"x": 0}, "item.x": 1},
    ],
)
def test_a_field_under_two_paths_is_refused_by_both_engines(fields: dict[str, Any]) -> None:
    """Adversary: a department committing to an input whose fields overlap (``item`` and ``item.x``): what the rules
    read then depended on the order of the fields in the bundle, and the library crashed with a TypeError."""
    with pytest.raises(LedgerError, match="inside"):
        decision_input.unflatten(fields)
    with pytest.raises(SCRIPT.Failure, match="inside"):
        SCRIPT.unflatten_input(fields)


def test_flattened_inputs_still_come_back_whole() -> None:
    value = {"item": {"a.b": 1, "a": {"b": 2}, "": {"~1": [1, {"x": None}]}, "@x": {}}, "certificates": []}
    fields = decision_input.flatten(value)
    assert decision_input.unflatten(fields) == value == SCRIPT.unflatten_input(fields)


# -- --now at the edges of time -----------------------------------------------------------------------------------

EDGE_NOWS = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]


@pytest.mark.parametrize("now", EDGE_NOWS)
def test_standalone_now_outside_the_calendar_is_refused_cleanly(
    now: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Adversary: a court's expert (or a script) passing a moment whose UTC instant is before year 1 or after
    9999: the standalone verifier crashed with OverflowError instead of exiting 2 with a message."""
    bundle = tmp_path / "b.json"
    bundle.write_text("{}")
    assert SCRIPT.main([str(bundle), "--rpc", "http://127.0.0.1:9", "--now", now]) == 2
    assert "error: --now: " in capsys.readouterr().err


def test_standalone_leap_second_names_the_value_given() -> None:
    with pytest.raises(SCRIPT.Failure, match=r"'2031-12-31T23:59:60Z'.*leap second"):
        SCRIPT.parse_time("2031-12-31T23:59:60Z")


@pytest.mark.parametrize("value", EDGE_NOWS)
def test_a_forged_validity_date_outside_the_calendar_fails_the_check_not_the_script(value: str) -> None:
    """Adversary: a forger writing valid_until far outside the calendar into a bundle, to crash the court's
    verifier (OverflowError is no ValueError: no check caught it, the whole run died with a traceback)."""
    with pytest.raises(SCRIPT.Failure, match="calendar"):
        SCRIPT.parse_time(value, end=True)


@pytest.mark.parametrize("now", EDGE_NOWS)
def test_library_now_outside_the_calendar_is_an_input_error(now: str) -> None:
    """The same moments through the library (the CLI hands it an aware datetime): InputError, not OverflowError."""
    from ledger.services.verify import _parse_time

    with pytest.raises(InputError, match="calendar"):
        _parse_time(datetime.fromisoformat(now))
    with pytest.raises(InputError, match="calendar"):
        _parse_time(now)


@pytest.fixture(scope="module")
def certificate(ledger: Ledger) -> dict[str, Any]:
    import io

    from ledger.formats.certificate import validate_record
    from ledger.services.issuance import issue_records

    out = io.StringIO()
    records = [validate_record(r, 1, department="MKT") for r in make_records(2, prefix="RED2B")]
    issue_records(ledger, records, "MKT", out=out)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    from ledger.services import status

    status.revoke(ledger, second["digest"], "fraud")  # so MKT's status stream is not empty
    return dict(first)


def test_cli_now_outside_the_calendar_exits_2(
    ledger: Ledger,
    certificate: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    if ledger.settings.database_url:
        monkeypatch.setenv("LEDGER_DATABASE_URL", ledger.settings.database_url)
    else:
        monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    path = tmp_path / "certificate.json"
    path.write_text(json.dumps(certificate))
    capsys.readouterr()
    for now in EDGE_NOWS:
        assert cli_main(["--data-dir", str(ledger.settings.data_dir), "verify", str(path), "--now", now]) == 2
        assert "calendar" in capsys.readouterr().err
    # a now long before issuance is judged, not refused: not yet valid
    view = ChainView(ledger.chain, ledger.settings.confirmations)
    early = verify_certificate(certificate, view, now="1900-01-01T00:00:00+14:00")
    assert [c.name for c in early.checks if not c.ok] == ["validity"]


# -- a hostile node answering the standalone verifier -------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile(ledger: Ledger) -> Any:
    node = RpcProxy(str(ledger.chain.w3.provider.endpoint_uri))  # type: ignore[attr-defined]
    yield node
    node.close()


@pytest.fixture(scope="module")
def bundle_path(ledger: Ledger, certificate: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ledger.services.evidence import certificate_bundle

    path = tmp_path_factory.mktemp("hostile") / "evidence.json"
    path.write_text(json.dumps(certificate_bundle(ledger, certificate)))
    return path


def _result(method: str, change: Any) -> Any:
    def rewrite(m: str, params: list[Any], answer: Any) -> Any:
        return {**answer, "result": change(answer.get("result"), params)} if m == method else answer

    return rewrite


def _other_contract(logs: Any, params: Any) -> Any:
    return [{**log, "address": "0x" + "11" * 20} for log in logs or []]


def _status_query(params: Any) -> bool:
    return bool(params) and isinstance(params[0], dict) and isinstance((params[0].get("topics") or [None])[0], list)


def _duplicated_status_events(method: str, params: Any, answer: Any) -> Any:
    if method == "eth_getLogs" and _status_query(params):
        assert answer["result"], "the department's status stream should not be empty"
        return {**answer, "result": answer["result"] * 2}
    return answer


HOSTILE_ANSWERS = {
    "status events duplicated": _duplicated_status_events,
    "block number not hex": _result("eth_blockNumber", lambda r, p: "0xzz"),
    "block number negative": _result("eth_blockNumber", lambda r, p: "-0x5"),
    "block number a JSON number": _result("eth_blockNumber", lambda r, p: 12),
    "wrong chain id": _result("eth_chainId", lambda r, p: "0x1"),
    "chain id negative": _result("eth_chainId", lambda r, p: "-" + r),
    "logs of another contract": _result("eth_getLogs", _other_contract),
    "logs removed": _result("eth_getLogs", lambda r, p: []),
    "logs marked removed": _result("eth_getLogs", lambda r, p: [{**log, "removed": True} for log in r or []]),
    "log block number negative": _result(
        "eth_getLogs", lambda r, p: [{**log, "blockNumber": "-0x1"} for log in r or []]
    ),
    "logs not a list": _result("eth_getLogs", lambda r, p: {"0": r}),
    "log not an object": _result("eth_getLogs", lambda r, p: ["0x00"] if r else r),
    "block not an object": _result("eth_getBlockByNumber", lambda r, p: "0x1"),
    "block timestamp negative": _result("eth_getBlockByNumber", lambda r, p: {**r, "timestamp": "-0x1"}),
    "call answer not hex": _result("eth_call", lambda r, p: "0x" + "zz" * 32),
    "answer a list": lambda m, p, a: [a] if m == "eth_getLogs" else a,
    "error a string": lambda m, p, a: {"jsonrpc": "2.0", "id": a["id"], "error": "no"} if m == "eth_call" else a,
    "answer not JSON": lambda m, p, a: b"<html>" if m == "eth_getTransactionReceipt" else a,
}


@pytest.mark.parametrize("name", sorted(HOSTILE_ANSWERS))
def test_a_hostile_node_gets_a_verdict_not_a_traceback(
    name: str, hostile: Any, bundle_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Adversary: the chain's operator (or whoever runs the node the court asks) answering with wrong chain ids,
    other contracts' logs, removed logs, non-hex or negative numbers, or no JSON: the verifier must say NOT
    VERIFIED (exit 1) with the check that failed, never crash and never say VERIFIED."""
    hostile.rewrite = None
    assert SCRIPT.main([str(bundle_path), "--rpc", hostile.url, "--json"]) == 0  # the honest proxy verifies
    capsys.readouterr()
    hostile.rewrite = HOSTILE_ANSWERS[name]
    try:
        code = SCRIPT.main([str(bundle_path), "--rpc", hostile.url, "--json"])
    finally:
        hostile.rewrite = None
    out = capsys.readouterr().out
    assert code == 1, out
    result = json.loads(out)
    assert not result["verified"] and [c for c in result["checks"] if c["result"] == "FAIL"]
    if name == "status events duplicated":
        assert "two status events at one position" in out


def test_a_huge_answer_is_refused(
    hostile: Any, bundle_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: a node answering with more than the verifier will read (here: a limit lowered to 2 kB)."""
    monkeypatch.setattr(SCRIPT, "RPC_ANSWER_LIMIT", 2048)
    hostile.rewrite = None
    assert SCRIPT.main([str(bundle_path), "--rpc", hostile.url, "--json"]) == 1
    assert "more than" in capsys.readouterr().out


# -- herd privacy of the decision re-run --------------------------------------------------------------------------


def test_the_standalone_rerun_does_not_tell_the_node_which_certificates_were_cited(
    approved: dict[str, Any], hostile: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Adversary: the chain's operator watching the court's requests. Under the default herd lookup the certificate
    verifier reads the issuer's whole status stream, but the decision re-run asked statusHistory for each cited
    certificate by digest: the node learned which licence the decision rested on (the library did not tell it)."""
    path = tmp_path / "decision.json"
    path.write_text(json.dumps(approved))
    digest = approved["decision"]["body"]["certificates"][0]["digest"].lower()[2:]
    for lookup, private in (("herd", True), ("direct", False)):
        hostile.rewrite, hostile.bodies[:] = None, []
        assert SCRIPT.main([str(path), "--rpc", hostile.url, "--json", "--status-lookup", lookup]) == 0
        result = json.loads(capsys.readouterr().out)
        assert (
            "re-established from the chain"
            in next(c for c in result["checks"] if c["name"] == "certificate_facts")["detail"]
        )
        assert any(digest in b.decode().lower() for b in hostile.bodies) != private, lookup


@pytest.mark.parametrize(
    ("salt", "hidden", "why"), [("ab", {}, "at least 16"), ("00" * 16, {"item.y": "ab" * 8}, "32 bytes|64 expected")]
)
def test_short_salts_and_hidden_hashes_are_refused_by_both_verifiers(
    salt: str, hidden: dict[str, str], why: str
) -> None:
    """Adversary: a department committing an input with 1-byte salts (guessable: the hidden values can be brute
    forced) or hidden field hashes of the wrong length. The standalone verifier refused them, the library passed
    the same bundle's ``input`` check."""
    from types import SimpleNamespace

    from ledger.services._decision_rerun import DecisionRerun

    fields = {"item.x": 1}
    hashes = {"item.x": SCRIPT.field_hash("item.x", 1, bytes.fromhex(salt))}
    hashes.update({n: bytes.fromhex(h) for n, h in hidden.items()})
    body = {
        "input_commitment": SCRIPT.input_commitment(hashes),
        "input_digest": "0x" + "00" * 32,
        "decided_by": {"kind": "engine"},
    }
    bundle = {
        "decision": {"body": body},
        "input": {
            "format": "pl-input/1",
            "fields": fields,
            "salts": {"item.x": salt},
            "hidden": hidden,
            "applicant": None,
        },
    }
    try:
        ok, detail = DecisionRerun(bundle, None, 0).check_input()
    except LedgerError as exc:  # evidence.verify_bundle records it as the failed check
        ok, detail = False, str(exc)
    assert not ok and re.search(why, detail), detail
    with pytest.raises(SCRIPT.Failure if why == "at least 16" else ValueError, match=why):
        SCRIPT.Rerun(SimpleNamespace(b=bundle)).check_input()


# -- herd and direct, library and standalone: one status, whatever the sequence ---------------------------------

_STEPS = st.lists(
    st.tuples(st.sampled_from(["suspend", "reinstate", "revoke", "supersede"]), st.integers(0, 2), st.integers(0, 2)),
    min_size=1,
    max_size=5,
)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=_STEPS)
def test_herd_and_direct_agree_in_both_verifiers_over_random_status_sequences(
    ledger: Ledger,
    fresh_department: str,
    tmp_path_factory: pytest.TempPathFactory,
    hostile: Any,
    steps: list[tuple[str, int, int]],
) -> None:
    """Adversary: the chain's operator hoping a sequence of status changes (several in a row, a reinstatement,
    a supersession, changes in the block a bundle is judged at) reads differently through the herd stream than
    through statusHistory, or in the court's verifier than in the library's. After every step and as of every
    block since issuance, the four answers must be one."""
    from ledger.formats.canonical import parse_hex32
    from ledger.services import evidence, status

    from .evidence_support import issue

    tmp = tmp_path_factory.mktemp("herd")
    docs = issue(ledger, tmp, fresh_department, make_records(3))
    first = ledger.chain.block_number()
    for action, i, j in steps:
        digest = docs[i]["digest"]
        try:
            if action == "supersede":
                status.supersede(ledger, digest, docs[j]["digest"])
            elif action == "reinstate":
                status.reinstate(ledger, digest, "grounds-resolved")
            else:
                getattr(status, action)(ledger, digest, "fraud" if action == "revoke" else "under-investigation")
        except LedgerError:
            continue  # a change the status rules refuse (e.g. reinstating a valid certificate): nothing happened
    herd, direct = ChainView(ledger.chain, status_lookup="herd"), ChainView(ledger.chain, status_lookup="direct")
    head = ledger.chain.block_number()
    for doc in docs:
        where = (doc["fields"]["issuer"], parse_hex32(doc["anchor"]["root"]), parse_hex32(doc["digest"]))
        for block in range(first - 1, head + 1):
            assert herd.status_history(*where, block) == direct.status_history(*where, block), (block, steps)
    for doc in docs:
        bundle = evidence.certificate_bundle(ledger, doc)
        path = tmp / f"{doc['digest']}.json"
        path.write_text(json.dumps(bundle))
        verdicts = set()
        for lookup in ("herd", "direct"):
            verdicts.add(evidence.verify_bundle(path, ledger.chain, status_lookup=lookup).ok)
            hostile.rewrite = None
            verdicts.add(SCRIPT.main([str(path), "--rpc", hostile.url, "--status-lookup", lookup, "--json"]) == 0)
        assert len(verdicts) == 1, (doc["digest"], steps)


# -- a decision citing another holder's licence --------------------------------------------------------------------


def test_a_licence_of_another_holder_is_not_the_applicants(world: Any, ledger: Ledger, tmp_path: Path) -> None:
    """Adversary: an applicant citing someone else's genuine licence, then (as holder of the bundle) naming that
    licence's holder as the applicant. The recorded holder fact is false and both verifiers re-establish it;
    renaming the applicant breaks applicant_commitment in both."""
    from ledger.services import decisions, logchain
    from ledger.services.evidence import decision_bundle

    from .evidence_support import both, failed_names
    from .rerun_support import application

    case = "RR2B-OTHER-HOLDER"
    decision = decisions.decide(
        ledger,
        world.dept,
        case,
        "ITEM-1",
        application(case, world.licences[2]["digest"]),
        world.rules,
        applicant_ref=world.holder(0),
    )
    assert decision.body["certificates"][0]["holder"] is False
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, world.dept)
    bundle = decision_bundle(ledger, world.dept, case, applicant=world.holder(0))
    report, code, result = both(ledger, bundle, tmp_path)
    assert report.ok and code == 0, result
    forged = copy.deepcopy(bundle)
    forged["input"]["applicant"]["identity"] = world.holder(2)
    report, code, result = both(ledger, forged, tmp_path, "forged.json")
    assert code == 1 and "input" in failed_names(result)


def test_status_events_out_of_order_are_put_in_chain_order(
    hostile: Any, bundle_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A node listing the status stream backwards changes nothing: the verifier orders it by (block, log index)."""

    def backwards(method: str, params: Any, answer: Any) -> Any:
        if method == "eth_getLogs" and _status_query(params):
            return {**answer, "result": list(reversed(answer["result"]))}
        return answer

    hostile.rewrite = backwards
    try:
        assert SCRIPT.main([str(bundle_path), "--rpc", hostile.url, "--json"]) == 0
    finally:
        hostile.rewrite = None


@pytest.mark.parametrize(
    "now", ["20300601", "2030-06-01T12:00Z", "2030-06-01T12Z", "2030-W22-6", "2030-06-01 12:00:00Z"]
)
def test_now_spellings_one_verifier_reads_the_other_refuses(
    now: str,
    ledger: Ledger,
    certificate: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Adversary: a court's expert comparing `ledger verify --now X` with the standalone verifier's: the library
    read whatever Python's fromisoformat reads (basic format, week dates, no seconds), the standalone verifier
    only a date or a date-time with seconds and a zone. Both now refuse the same spellings (exit 2)."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    if ledger.settings.database_url:
        monkeypatch.setenv("LEDGER_DATABASE_URL", ledger.settings.database_url)
    else:
        monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    path = tmp_path / "certificate.json"
    path.write_text(json.dumps(certificate))
    assert SCRIPT.main([str(path), "--rpc", "http://127.0.0.1:9", "--now", now]) == 2
    assert cli_main(["--data-dir", str(ledger.settings.data_dir), "verify", str(path), "--now", now]) == 2
    assert "--now" in capsys.readouterr().err
