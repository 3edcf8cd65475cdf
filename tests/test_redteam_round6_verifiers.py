"""Red team, round 6: the court's standalone verifier against the library's, on bundles a forger edited.

Both verifiers were run on a genuine certificate bundle and a genuine decision bundle with every element mutated
(null, other types, number spellings, hex case, whitespace, NFD, huge and negative numbers, empty and reordered
lists, extra and missing keys). Holes found (each test failed at e22b8a3):

- a decision record's block numbers are covered by its entry hash in canonical JSON (RFC 8785), which writes
  ``120`` and ``120.0`` alike; both verifiers read them with a type test. A forger retyping the record's
  ``as_of_block`` as ``120.0`` keeps the entry hash and makes both skip the checks of the decision's moment (the
  department an active approver from the decision to its anchoring; the rule set published before the
  decision was taken); retyping a cited certificate's ``confirmations`` as ``2.0`` made both read it as 0, so a
  record claiming a certificate verified before it was that deep passed ``certificate_facts``;
- a certificate bundle stated as of a block far beyond the head: the library asked the node for the issuer's status
  events chunk by chunk up to it (for ever, from a node answering ``[]`` for blocks it does not have) and failed
  ``status_statement`` where the court's verifier, reading up to the head, passed it;
- a decision bundle's cited certificate whose anchor section names another key or registry than the chain's, lacks
  a member every document has (``tx_hash``, ``block_time``, ``department``, ...), carries a member no document has,
  or spells a number as ``31337.0``: the library judges it as a document (the published shape, the stated key and
  registry the chain's) and finds it not verified, failing ``certificate_facts``; the court's verifier looked only
  at what it needs and verified the bundle. And the reverse: a digest or hidden hash written without / with ``0x``
  (the document schema reads either) was verified by the library, not by the court's verifier;
- a node answering the anchoring event's lookup with a log whose data is not hex or which lacks a topic: the
  court's verifier read it outside any check and exited 2 ("cannot be judged") instead of failing a check;
- a bundle whose ``as_of`` was moved to a block before its anchoring verified in both.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.services import decisions, evidence, logchain
from ledger.services.departments import Council

from .conftest import make_records
from .decision_support import application, unique_rule_set
from .evidence_support import SCRIPT, failed_names, issue, standalone
from .rerun_support import approved_fixture, world_fixture  # noqa: F401 - the approved decision's bundle


def _verdicts(ledger: Ledger, bundle: dict[str, Any], path: Path) -> tuple[set[str], set[str]]:
    """(checks the library failed, checks the standalone verifier failed) on ``bundle``; both must answer."""
    path.write_text(json.dumps(bundle), encoding="utf-8")
    report = evidence.verify_bundle(path, ledger.chain)
    code, result, stderr = standalone(ledger, path)
    assert result is not None, stderr
    assert (code == 0) == report.ok, (report.to_json(), result)
    return {c.name for c in report.failed}, failed_names(result)


def _rules(department: str) -> Any:
    return unique_rule_set(f"r6-{department}")


def _decide(ledger: Ledger, department: str, app: dict[str, Any], applicant: str = "applicant-1") -> decisions.Decision:
    return decisions.decide(
        ledger, department, app["case_id"], app["service_item"], app, _rules(department), applicant_ref=applicant
    )


# -- a record's numbers as canonical JSON reads them -------------------------------------------------------------


def test_a_decision_block_retyped_as_a_float_still_gets_its_moment_checked(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """The department decides, is suspended, reinstated, and only then anchors: the decision bundle fails
    ``department_key`` (not an approver throughout). ``as_of_block`` retyped from 23 to 23.0 leaves the entry hash
    as it was; both verifiers then skipped the suspension check and verified the bundle."""
    decisions.publish_rule_set(ledger, _rules(fresh_department), fresh_department)
    decision = _decide(ledger, fresh_department, application("C-R6-FLOAT"))
    assert decision.body["certificates"] == [] and isinstance(decision.body["as_of_block"], int)
    council = Council(ledger)
    council.suspend(fresh_department)
    council.reinstate(fresh_department)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    genuine = evidence.decision_bundle(ledger, fresh_department, "C-R6-FLOAT")
    assert _verdicts(ledger, genuine, tmp_path / "genuine.json") == ({"department_key"}, {"department_key"})

    forged = copy.deepcopy(genuine)
    forged["decision"]["body"]["as_of_block"] = float(genuine["decision"]["body"]["as_of_block"])
    library, court = _verdicts(ledger, forged, tmp_path / "forged.json")
    assert library == court == {"department_key"}, (library, court)


def test_a_rule_set_published_after_the_decision_fails_whatever_the_spelling_of_its_block(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """An insider records a decision under a rule set published only afterwards (rules written to fit the outcome):
    ``rule_set_published`` fails. The same record with ``as_of_block`` spelt as a float passed both verifiers."""
    decisions.publish_rule_set(ledger, _rules(fresh_department), fresh_department)
    honest = _decide(ledger, fresh_department, application("C-R6-LATE"))
    later = unique_rule_set(f"r6-later-{fresh_department}")
    entry = logchain.append(
        ledger, logchain.LOG_DECISIONS, fresh_department, dict(copy.deepcopy(honest.body), rule_set=later.hex_digest)
    )
    ledger.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[attr-defined]
    decisions.publish_rule_set(ledger, later, fresh_department)  # only now
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    genuine = evidence.decision_bundle(ledger, fresh_department, "C-R6-LATE", seq=entry.seq)
    assert _verdicts(ledger, genuine, tmp_path / "genuine.json") == ({"rule_set_published"}, {"rule_set_published"})

    forged = copy.deepcopy(genuine)
    forged["decision"]["body"]["as_of_block"] = float(genuine["decision"]["body"]["as_of_block"])
    library, court = _verdicts(ledger, forged, tmp_path / "forged.json")
    assert library == court == {"rule_set_published"}, (library, court)


def test_a_cited_certificates_confirmations_retyped_as_a_float_are_not_read_as_zero(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """An insider records a cited licence as verified although the record's own policy asked for more blocks on top
    of its batch than there were: ``certificate_facts`` fails. With ``confirmations`` spelt 5.0 instead of 5 (same
    entry hash) both verifiers read the policy as 0 confirmations and verified the record."""
    decisions.publish_rule_set(ledger, _rules(fresh_department), fresh_department)
    (licence,) = issue(ledger, tmp_path, "MKT", make_records(1))
    holder = str(licence["fields"]["subject.credit_code"])
    honest = _decide(ledger, fresh_department, application("C-R6-DEEP", licence["digest"]), holder)
    fact = honest.body["certificates"][0]
    assert fact["verified"] is True and fact["confirmations"] == 0, fact
    deep = honest.body["as_of_block"] - licence["anchor"]["block_number"] + 5  # more than there were
    body = copy.deepcopy(honest.body)
    body["certificates"][0]["confirmations"] = deep
    entry = logchain.append(ledger, logchain.LOG_DECISIONS, fresh_department, body)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    genuine = evidence.decision_bundle(ledger, fresh_department, "C-R6-DEEP", seq=entry.seq, applicant=holder)
    library, court = _verdicts(ledger, genuine, tmp_path / "genuine.json")
    assert library == court and "certificate_facts" in library, (library, court)  # and rerun: not verified, no approval

    forged = copy.deepcopy(genuine)
    forged["decision"]["body"]["certificates"][0]["confirmations"] = float(deep)
    assert _verdicts(ledger, forged, tmp_path / "forged.json") == (library, court)


def test_a_decision_block_spelt_as_a_float_is_the_same_block(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """The other way round: a genuine record whose numbers a JSON tool rewrote as 23.0 is the record that was
    anchored (same entry hash) and verifies in both, as it does with 23; a block that is no whole number fails the
    checks that need it, in both, with a message instead of being skipped."""
    decisions.publish_rule_set(ledger, _rules(fresh_department), fresh_department)
    (licence,) = issue(ledger, tmp_path, "MKT", make_records(1))
    holder = str(licence["fields"]["subject.credit_code"])
    _decide(ledger, fresh_department, application("C-R6-SAME", licence["digest"]), holder)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    genuine = evidence.decision_bundle(ledger, fresh_department, "C-R6-SAME", applicant=holder)
    body = genuine["decision"]["body"]
    retyped = copy.deepcopy(genuine)
    retyped["decision"]["body"]["as_of_block"] = float(body["as_of_block"])
    retyped["decision"]["body"]["certificates"][0]["as_of_block"] = float(body["as_of_block"])
    assert _verdicts(ledger, retyped, tmp_path / "retyped.json") == (set(), set())


# -- a certificate bundle stated as of a block that does not exist yet --------------------------------------------


def _certificate_bundle(ledger: Ledger, tmp_path: Path) -> dict[str, Any]:
    (doc,) = issue(ledger, tmp_path, "MKT", make_records(1))
    return evidence.certificate_bundle(ledger, doc)


def test_a_bundle_stated_as_of_a_future_block_fails_the_same_checks_in_both(ledger: Ledger, tmp_path: Path) -> None:
    """``as_of`` far beyond the head fails ``as_of`` in both. The library also failed ``status_statement``: it asked
    the node for the issuer's status events chunk by chunk up to that block (2**70: a node answering ``[]`` for
    blocks it does not have kept it asking for ever; anvil refuses the range, a ChainError), where the court's
    verifier reads events up to the head. No event lies beyond the head: both read up to it and fail only as_of."""
    bundle = _certificate_bundle(ledger, tmp_path)
    head = ledger.chain.block_number()
    for block in (head + 10, head + 20_000, 2**53 - 1):  # beyond 2**53 a number is read as a double (round 29c)
        forged = copy.deepcopy(bundle)
        forged["as_of"]["block_number"] = block
        library, court = _verdicts(ledger, forged, tmp_path / f"ahead-{block}.json")
        assert library == court == {"as_of"}, (block, library, court)
    # head + 2**70 is no double: its digits are not the value a reader takes, and both refuse to read the bundle
    forged = copy.deepcopy(bundle)
    forged["as_of"]["block_number"] = head + 2**70
    path = tmp_path / "ahead-inexact.json"
    path.write_text(json.dumps(forged), encoding="utf-8")
    report = evidence.verify_bundle(path, ledger.chain)
    code, result, stderr = standalone(ledger, path)
    assert [c.name for c in report.failed] == ["bundle"] and "not exactly representable" in str(report.to_json())
    assert code == 2 and result is None and "not exactly representable" in stderr, stderr


def test_a_bundle_in_no_utf_encoding_is_named_not_json_by_both(ledger: Ledger, tmp_path: Path) -> None:
    """A bundle saved as Latin-1 (a byte no UTF encoding has): the court's verifier said "not valid JSON"; the
    library's ``bundle`` check said "a number in the JSON is too long to read", sending the reader after a number."""
    bundle = _certificate_bundle(ledger, tmp_path)
    bundle["producer"]["software"] = "provenance-l\u00e9dger"
    path = tmp_path / "latin1.json"
    path.write_bytes(json.dumps(bundle, ensure_ascii=False).encode("latin-1"))
    report = evidence.verify_bundle(path, ledger.chain)
    code, _result, stderr = standalone(ledger, path)
    assert code == 2 and "is not valid JSON" in stderr, stderr
    assert [c.name for c in report.failed] == ["bundle"], report.to_json()
    detail = report.failed[0].detail
    assert "is not valid JSON" in detail and "too long" not in detail, detail


# -- a cited certificate is judged as a document by both ---------------------------------------------------------

_OTHER = "0x" + "11" * 20


def _anchor(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda bundle: change(bundle["cited"][0]["anchor"])


_CITED_EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    "another signer": _anchor(lambda a: a.update(signer=_OTHER)),
    "another registry": _anchor(lambda a: a.update(registry=_OTHER)),
    "no signer": _anchor(lambda a: a.pop("signer")),
    "no registry": _anchor(lambda a: a.pop("registry")),
    "no tx_hash": _anchor(lambda a: a.pop("tx_hash")),
    "no block_time": _anchor(lambda a: a.pop("block_time")),
    "no department": _anchor(lambda a: a.pop("department")),
    "count 0": _anchor(lambda a: a.update(count=0)),
    "chain id 31337.0": _anchor(lambda a: a.update(chain_id=float(a["chain_id"]))),
    "block number true": _anchor(lambda a: a.update(block_number=True)),
    "a member no document has": lambda b: b["cited"][0].update(note="trust me"),
    "digest without 0x": lambda b: b["cited"][0].update(digest=b["cited"][0]["digest"][2:]),
    "hidden hash with 0x": lambda b: b["cited"][0]["hidden"].update(
        {k: "0x" + v for k, v in b["cited"][0]["hidden"].items()}
    ),
}


@pytest.mark.parametrize("edit", sorted(_CITED_EDITS))
def test_both_verifiers_judge_a_cited_certificate_as_the_same_document(
    ledger: Ledger, approved: dict[str, Any], tmp_path: Path, edit: str
) -> None:
    assert approved["cited"][0]["hidden"], "the cited presentation hides a field"
    bundle = copy.deepcopy(approved)
    _CITED_EDITS[edit](bundle)
    library, court = _verdicts(ledger, bundle, tmp_path / "cited.json")
    assert library == court, (edit, library, court)
    readable = edit in ("digest without 0x", "hidden hash with 0x")  # the document schema reads either
    assert library == (set() if readable else {"certificate_facts", "rerun"}), (edit, library)


# -- a node whose anchoring event cannot be read ------------------------------------------------------------------


def _anchoring_logs(edit: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[str, Any, Any], Any]:
    """A node rewriting the logs it answers to the anchoring event's query (a topic list of hashes, not a list of
    event kinds as the status stream's query has)."""

    def rewrite(method: str, params: Any, answer: Any) -> Any:
        query = params[0] if params and isinstance(params[0], dict) else {}
        if method != "eth_getLogs" or isinstance((query.get("topics") or [None])[0], list) or not answer.get("result"):
            return answer
        return {**answer, "result": [edit(dict(log)) for log in answer["result"]]}

    return rewrite


@pytest.mark.parametrize(
    "edit",
    [
        lambda log: {**log, "data": "0xzz"},
        lambda log: {**log, "data": "0x00"},
        lambda log: {**log, "topics": log["topics"][:3]},
    ],
    ids=["data-not-hex", "data-short", "no-signer-topic"],
)
def test_a_node_answering_an_unreadable_anchoring_event_fails_a_check_not_the_run(
    ledger: Ledger, tmp_path: Path, edit: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    """The chain operator's node answers the BatchAnchored lookup with a log whose data is not hex, too short, or
    short of the signer's topic. The court's verifier read it outside any check and gave up (exit 2, "cannot be
    judged"); a hostile answer fails the check that needed it (docs/evidence.md): anchor_event, exit 1."""
    from .rpc_proxy import RpcProxy

    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(_certificate_bundle(ledger, tmp_path)), encoding="utf-8")
    with RpcProxy(str(ledger.chain.w3.provider.endpoint_uri), rewrite=_anchoring_logs(edit)) as node:  # type: ignore[attr-defined]
        run = subprocess.run(
            [sys.executable, str(SCRIPT), str(path), "--rpc", node.url, "--json"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert run.returncode == 1 and "Traceback" not in run.stderr, (run.returncode, run.stderr)
    checks = {c["name"]: c for c in json.loads(run.stdout)["checks"]}
    assert checks["anchor_event"]["result"] == "FAIL", checks["anchor_event"]
    assert "cannot be read" in checks["anchor_event"]["detail"], checks["anchor_event"]


# -- a bundle stated as of a block before its anchoring -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["certificate", "decision"])
def test_a_bundle_stated_as_of_a_block_before_its_anchoring_fails_as_of_in_both(
    ledger: Ledger, approved: dict[str, Any], tmp_path: Path, kind: str
) -> None:
    """The producer states a bundle's status and department history as of a block between the anchoring and the head
    (``--as-of-block`` outside it is refused). A forger moved ``as_of`` (number and the chain's hash there) to a
    block before the batch was anchored, where the certificate had no status and the department no later history
    to show: both verifiers accepted it."""
    bundle = copy.deepcopy(approved if kind == "decision" else _certificate_bundle(ledger, tmp_path))
    before = bundle["anchor"]["block_number"] - 1
    bundle["as_of"] = {
        "block_number": before,
        "block_hash": "0x" + bytes(ledger.chain.w3.eth.get_block(before)["hash"]).hex(),
    }
    library, court = _verdicts(ledger, bundle, tmp_path / "early.json")
    assert library == court == {"as_of"}, (library, court)


# -- round 7: the department's registry history compared value for value, type for type ---------------------------


@pytest.mark.parametrize(
    ("history", "member", "value"),
    [
        ("key_history", "from_block", float),  # 7 -> 7.0
        ("status_history", "from_block", float),
        ("status_history", "active", int),  # true -> 1
    ],
)
def test_a_department_history_retyped_to_an_equal_number_fails_department_history_in_both(
    ledger: Ledger, tmp_path: Path, history: str, member: str, value: type
) -> None:
    """A forger retypes a value of the department's key or status history to another JSON type that Python finds
    equal (``7.0`` for ``7``, ``1`` for ``true``). The bundle then no longer states what the registry holds - the
    registry's ``active`` is a boolean, its blocks integers - yet both verifiers compared with ``==`` and passed
    ``department_history``. They now compare type and value, as JSON does."""
    bundle = _certificate_bundle(ledger, tmp_path)
    assert _verdicts(ledger, bundle, tmp_path / "genuine.json") == (set(), set())
    forged = copy.deepcopy(bundle)
    entry = forged["department"][history][0]
    entry[member] = value(entry[member])
    assert forged == bundle  # Python's == cannot see the edit (7.0 == 7, 1 == True): JSON's types can
    library, court = _verdicts(ledger, forged, tmp_path / f"{history}-{member}.json")
    assert library == court == {"department_history"}, (library, court)
