"""A decision bundle's log batch and its rule set's publication proven at the cosigned block (``witness.state.log``),
in both verifiers.

A witnessed certificate bundle proves the anchor's and the registry's slots at the cosigned block; a decision bundle
took the log contract's ``logBatch(department, root)`` record, its LogBatchAnchored event and the rule set's
RuleSetPublished event from the node. Adversaries: the chain's operator (witnesses honest) answering those reads from
a state of its own making, whoever hands the court the bundle stating the same, and a forger editing the bundle's
proof. The bundle now carries the ``eth_getProof`` of BatchLog's slots for the decision's batch record (every word of
``_batches[department][root]``) and its rule set's publication (``_ruleSets[department][digest]``) at the cosigned
block; the library's ``verify_bundle`` and the court's ``scripts/verify_evidence.py`` prove it and hold the node's
answers (``anchor_event``, ``rule_set_published``) to it, and give the same verdict on every case.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak

from ledger.cli.evidence import verdict_line
from ledger.client import Ledger
from ledger.onchain import logslots, stateproof
from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER, ROLE_VERIFIER
from ledger.onchain.ids import department_id_bytes
from ledger.services import decisions, evidence, logchain
from ledger.services.departments import Council
from ledger.services.witness.bundle import LOG_PROOF, log_section
from ledger.services.witness.checkpoint import Checkpoint
from ledger.services.witness.note import parse_note

from .cli_support import mining_paused, rpc
from .conftest import PASSPHRASE, TEST_ITEMS, TEST_TYPES
from .evidence_support import SCRIPT_MODULE, court_checks, decided, rpc_url, witnessed_both
from .rpc_proxy import RpcProxy
from .witness_support import trusted_witness

COURT = SCRIPT_MODULE
LOG_BATCH = "0x" + keccak(text="logBatch(bytes32,bytes32)")[:4].hex()
RULE_SET = "0x" + keccak(text="ruleSet(bytes32,bytes32)")[:4].hex()
LOG_ANCHORED = "0x" + keccak(text="LogBatchAnchored(bytes32,bytes32,bytes32,uint64,uint64,bytes32,address)").hex()
RULE_SET_PUBLISHED = "0x" + keccak(text="RuleSetPublished(bytes32,bytes32,bytes32)").hex()
MADE_UP = "0x" + "5e" * 32


class Case:
    """One witnessed decision bundle, its witness's key and, proven at the same cosigned block, sections of the log
    contract a forger could put in its place."""

    def __init__(
        self, bundle: dict[str, Any], key: str, department: str, others: dict[str, Any], officer: dict[str, Any]
    ) -> None:
        self.bundle, self.key, self.department, self.others = bundle, key, department, others
        self.officer = officer  # an officer's override that applied no rule set, witnessed at the same block

    def edited(self, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        bundle = copy.deepcopy(self.bundle)
        edit(bundle)
        return bundle


@pytest.fixture(scope="module")
def case(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    tmp = tmp_path_factory.mktemp("decision-state")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
        env.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
        department = f"DS{os.getpid() % 10000}"
        roles = ROLE_ISSUER | ROLE_VERIFIER | ROLE_APPROVER
        Council(ledger).register(department, f"Decision state {department}", roles, types=TEST_TYPES, items=TEST_ITEMS)
        # a block between the service item grant and the publication: a node answering the publication one block
        # earlier (below) then names a block the department held the item in, so only the state proof tells
        rpc(ledger, "evm_mine")
        _, apps = decided(ledger, department)
        overridden = decisions.find_decision(ledger, department, apps[2]["case_id"], None)
        human = decisions.record_human_decision(
            ledger,
            department,
            apps[2]["case_id"],
            overridden.body["service_item"],
            officer="officer-9",
            outcome="approve",
            reasons=["OFFICER_CHECKED_ON_SITE"],
            applicant_ref=apps[2]["applicant_ref"],
            overrides=overridden.seq,
        )
        logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, department)
        for key, _ in trusted_witness(ledger, tmp):
            # the embedded node keeps the head's state only: nothing is mined while the other sections are proven
            with mining_paused(ledger):
                rpc(ledger, "evm_mine")  # a block after the anchoring's, under the checkpoint: one to move it to
                bundle = evidence.decision_bundle(ledger, department, apps[0]["case_id"])
                officer = evidence.decision_bundle(ledger, department, apps[2]["case_id"], seq=human.seq)
                cp = Checkpoint.parse(parse_note(bundle["witness"]["checkpoint"]).text)
                root = bytes.fromhex(bundle["anchor"]["root"][2:])
                digest = bytes.fromhex(bundle["rule_set"]["digest"][2:])
                others = {
                    "another root's": log_section(ledger.chain, cp, department, os.urandom(32), digest),
                    "another department's": log_section(ledger.chain, cp, "MKT", root, digest),
                    "without the rule set's": log_section(ledger.chain, cp, department, root, None),
                }
                rpc(ledger, "evm_mine")
                head = ledger.chain.block_number()
                slots = logslots.decision_slots(department_id_bytes(department), root, digest)
                block, answer = stateproof.fetch(ledger.chain.w3, ledger.chain.deployment.log, slots, head)
                others["another block's"] = {
                    "block": {k: v for k, v in block.items() if k not in stateproof.NOT_HEADER},
                    "log": {k: answer[k] for k in ("address", "accountProof", "storageProof")},
                }
            assert all(others.values()), others
            yield Case(bundle, key, department, others, officer)


def _lying(lie: Callable[[str, Any, Any], Any]) -> tuple[Any, Any]:
    """A proxy's rewrites (one answer, a batch's answers) applying ``lie(method, params, result)`` to each result."""

    def one(method: str, params: Any, answer: Any) -> Any:
        return {**answer, "result": lie(method, params, answer["result"])} if "result" in answer else answer

    def batch(requests: list[Any], answers: list[Any]) -> list[Any]:
        asked = {r.get("id"): r for r in requests}
        return [
            one(asked[a.get("id")].get("method"), asked[a.get("id")].get("params"), a) if a.get("id") in asked else a
            for a in answers
        ]

    return one, batch


def _call_data(method: str, params: Any) -> str:
    call = params[0] if method == "eth_call" and isinstance(params, list) and params else {}
    return str(call.get("data", call.get("input", ""))).lower() if isinstance(call, dict) else ""


def _log_filter(method: str, params: Any) -> list[Any]:
    query = params[0] if method == "eth_getLogs" and isinstance(params, list) and params else {}
    topics = query.get("topics") if isinstance(query, dict) else None
    return topics if isinstance(topics, list) else []


def _words(data: str) -> list[str]:
    return [data[2 + 64 * i : 2 + 64 * (i + 1)] for i in range((len(data) - 2) // 64)]


def _other_head(case: Case) -> Callable[[str, Any, Any], Any]:
    """The chain's operator's node: the decision's batch record and its LogBatchAnchored event answered with another
    head hash (the EIP-712 signature covers no head hash; the decision is not its range's last entry)."""
    root = case.bundle["anchor"]["root"].lower()[2:]
    fake = MADE_UP[2:]

    def lie(method: str, params: Any, result: Any) -> Any:
        if _call_data(method, params).startswith(LOG_BATCH) and root in _call_data(method, params):
            words = _words(result)
            return "0x" + "".join([*words[:7], fake])
        if _log_filter(method, params)[:1] == [LOG_ANCHORED] and isinstance(result, list):
            out = []
            for log in result:
                if str(log["topics"][3]).lower()[2:] == root:
                    words = _words(log["data"])
                    log = {**log, "data": "0x" + "".join([*words[:2], fake, *words[3:]])}
                out.append(log)
            return out
        return result

    return lie


def _moved_anchoring(ledger: Ledger, case: Case, block: int) -> Callable[[str, Any, Any], Any]:
    """The chain's operator's node: the decision's batch record (block and time) and its LogBatchAnchored event
    answered as of ``block``, another block than the anchoring's (what the anchoring deadline and the rule set's
    publication are judged by)."""
    a = case.bundle["anchor"]
    root = a["root"].lower()
    there = ledger.chain.w3.eth.get_block(block)
    (real,) = ledger.chain.w3.provider.make_request(
        "eth_getLogs",
        [
            {
                "address": ledger.chain.deployment.log,
                "fromBlock": hex(a["block_number"]),
                "toBlock": hex(a["block_number"]),
                "topics": [LOG_ANCHORED, None, None, root],
            }
        ],
    )["result"]
    fake = {**real, "blockNumber": hex(block), "blockHash": "0x" + bytes(there["hash"]).hex()}

    def lie(method: str, params: Any, result: Any) -> Any:
        if _call_data(method, params).startswith(LOG_BATCH) and root[2:] in _call_data(method, params):
            words = _words(result)
            return "0x" + "".join([*words[:4], f"{block:064x}", f"{int(there['timestamp']):064x}", *words[6:]])
        query = params[0] if method == "eth_getLogs" and isinstance(params, list) and params else {}
        if _log_filter(method, params)[:1] == [LOG_ANCHORED] and str(query.get("fromBlock")) == hex(block):
            return [fake]
        return result

    return lie


def _earlier_publication(ledger: Ledger, case: Case, block: int) -> Callable[[str, Any, Any], Any]:
    """The chain's operator's node: the rule set's record and its RuleSetPublished event answered as published in
    ``block`` (a rule set published after the decision shown as published before it)."""
    digest = case.bundle["rule_set"]["digest"].lower()
    (real,) = ledger.chain.w3.provider.make_request(
        "eth_getLogs",
        [
            {
                "address": ledger.chain.deployment.log,
                "fromBlock": "0x0",
                "toBlock": "latest",
                "topics": [RULE_SET_PUBLISHED, digest],
            }
        ],
    )["result"]
    fake = {**real, "blockNumber": hex(block)}

    def lie(method: str, params: Any, result: Any) -> Any:
        if _call_data(method, params).startswith(RULE_SET) and digest[2:] in _call_data(method, params):
            words = _words(result)
            return "0x" + "".join([*words[:2], f"{block:064x}", *words[3:]])
        topics = _log_filter(method, params)
        if topics[:1] == [RULE_SET_PUBLISHED] and (len(topics) < 2 or str(topics[1]).lower() == digest):
            return [fake]
        return result

    return lie


# -- honest ---------------------------------------------------------------------------------------------------------


def test_a_witnessed_decision_bundle_proves_its_log_batch_and_rule_set_in_both_verifiers(
    ledger: Ledger, case: Case, tmp_path: Path
) -> None:
    """Adversary: none (a false failure is a finding too). The bundle's state section proves every word of the
    decision's batch record and its rule set's publication at the cosigned block; both verifiers pass every check,
    say so and report the state proven. The court's reading of the section is the library's, field for field."""
    bundle = case.bundle
    state = bundle["witness"]["state"]
    dept = department_id_bytes(case.department)
    root, digest = bytes.fromhex(bundle["anchor"]["root"][2:]), bytes.fromhex(bundle["rule_set"]["digest"][2:])
    assert [int(e["key"], 16) for e in state["log"]["storageProof"]] == logslots.decision_slots(dept, root, digest)
    report, library, result = witnessed_both(ledger, bundle, tmp_path, case.key, "--require-state-proof")
    court = court_checks(result)
    assert report.ok and all(r == "PASS" for r, _ in court.values()), (library, court)
    for detail in (library["witnessed"][1], court["witnessed"][1]):
        assert "log batch: " in detail and "proven at block" in detail and "publication (block" in detail, detail
    assert report.state_proof == result["state_proof"] == "proven"

    cp = Checkpoint.parse(parse_note(bundle["witness"]["checkpoint"]).text)
    at = (cp.block_hash, cp.height)
    ours = logslots.verified_log(state["block"], state["log"], bundle["chain"]["log_contract"], dept, root, digest, *at)
    theirs = COURT.proven_log(state["block"], state["log"], bundle["chain"]["log_contract"], dept, root, digest, *at)
    b = ours.batch
    assert theirs["batch"] == {
        "department": b.department_id,
        "log_id": b.log_id,
        "first_seq": b.first_seq,
        "last_seq": b.last_seq,
        "block_number": b.block_number,
        "timestamp": b.timestamp,
        "signer": b.signer,
        "head_hash": b.head_hash,
    }
    assert ours.rule_set is not None
    r = ours.rule_set
    assert theirs["rule_set"] == {
        "department": r.department_id,
        "service_item": r.service_item,
        "block_number": r.block_number,
        "timestamp": r.timestamp,
    }
    a = bundle["anchor"]
    assert (b.first_seq, b.last_seq, b.block_number, b.timestamp, b.signer, "0x" + b.head_hash.hex()) == (
        a["first_seq"],
        a["last_seq"],
        a["block_number"],
        a["block_timestamp"],
        a["signer"].lower(),
        a["head_hash"].lower(),
    )
    assert r.block_number == bundle["rule_set"]["block_number"]


def test_an_officers_decision_without_rules_proves_its_log_batch_alone_in_both_verifiers(
    ledger: Ledger, case: Case, tmp_path: Path
) -> None:
    """Adversary: none. An officer's override that applied no rule set: its section proves the batch record's words
    alone, both verifiers pass every check and report the state proven."""
    bundle = case.officer
    assert bundle["rule_set"] is None
    dept = department_id_bytes(case.department)
    root = bytes.fromhex(bundle["anchor"]["root"][2:])
    keys = [int(e["key"], 16) for e in bundle["witness"]["state"]["log"]["storageProof"]]
    assert keys == logslots.decision_slots(dept, root, None)
    report, library, result = witnessed_both(ledger, bundle, tmp_path, case.key, "--require-state-proof")
    assert report.ok and result["verified"], (library, result["checks"])
    assert report.state_proof == result["state_proof"] == "proven"
    assert "publication" not in library["witnessed"][1] and "publication" not in court_checks(result)["witnessed"][1]


def test_the_court_states_the_compilers_layout_of_the_log_contracts_records() -> None:
    """The court's verifier states BatchLog's slots and each record's words itself (no import of ours); they are the
    compiler's storage layout, which the library reads."""
    layout = logslots.log_layout()
    assert (layout.batches, layout.rule_sets) == (COURT.LOG_BATCHES_SLOT, COURT.LOG_RULE_SETS_SLOT)
    assert (layout.batch_words, layout.rule_set_words) == (COURT.LOG_BATCH_WORDS, COURT.LOG_RULE_SET_WORDS)
    assert {n: (m.slot, m.offset, m.size) for n, m in layout.batch.items()} == {
        "departmentId": (0, 0, 32),
        "logId": (1, 0, 32),
        "firstSeq": (2, 0, 8),
        "lastSeq": (2, 8, 8),
        "blockNumber": (2, 16, 4),
        "timestamp": (2, 20, 4),
        "signer": (3, 0, 20),
        "headHash": (4, 0, 32),
    }
    assert {n: (m.slot, m.offset, m.size) for n, m in layout.rule_set.items()} == {
        "departmentId": (0, 0, 32),
        "serviceItem": (1, 0, 32),
        "blockNumber": (2, 0, 4),
        "timestamp": (2, 4, 4),
    }


# -- the chain's operator -------------------------------------------------------------------------------------------


def test_a_node_answering_another_head_hash_fails_anchor_event_by_the_proven_record(
    ledger: Ledger, case: Case, tmp_path: Path
) -> None:
    """Adversary: the chain's operator (witnesses honest), with whoever hands over the bundle stating the same. The
    node answers the decision's ``logBatch`` record and its LogBatchAnchored event with another head hash, and the
    bundle says it too: without the state proof both verifiers followed the node (VERIFIED, "log batch: not proven");
    with it both fail ``anchor_event`` naming the bundle's state proof of the log contract."""
    one, batch = _lying(_other_head(case))
    bundle = case.edited(lambda b: b["anchor"].__setitem__("head_hash", MADE_UP))
    stripped = copy.deepcopy(bundle)
    del stripped["witness"]["state"]
    with RpcProxy(rpc_url(ledger), rewrite=one, rewrite_batch=batch) as node:
        report, library, result = witnessed_both(ledger, stripped, tmp_path, case.key, node=node.url)
        assert report.ok and result["verified"], (library, result["checks"])  # the node's word, as before
        report, library, result = witnessed_both(ledger, bundle, tmp_path, case.key, node=node.url)
        assert node.saw(LOG_BATCH), "the lie was never told"
    court = court_checks(result)
    assert not library["anchor_event"][0] and court["anchor_event"][0] == "FAIL", (library, court)
    for detail in (library["anchor_event"][1], court["anchor_event"][1]):
        assert LOG_PROOF in detail and "head hash" in detail and "do not trust this node" in detail, detail
    assert library["witnessed"][0] and court["witnessed"][0] == "PASS"


def test_a_node_answering_an_earlier_publication_fails_rule_set_published_by_the_proven_record(
    ledger: Ledger, case: Case, tmp_path: Path
) -> None:
    """Adversary: the chain's operator, with whoever hands over the bundle stating the same. The node answers the
    rule set's ``ruleSet`` record and its RuleSetPublished event as published a block earlier than it was (the
    shape of a rule set published after the decision shown as published before it), and the bundle says so: without
    the state proof both verifiers followed the node; with it both fail ``rule_set_published`` naming the proof."""
    real = case.bundle["rule_set"]["block_number"]
    one, batch = _lying(_earlier_publication(ledger, case, real - 1))
    bundle = case.edited(lambda b: b["rule_set"].__setitem__("block_number", real - 1))
    stripped = copy.deepcopy(bundle)
    del stripped["witness"]["state"]
    with RpcProxy(rpc_url(ledger), rewrite=one, rewrite_batch=batch) as node:
        report, library, result = witnessed_both(ledger, stripped, tmp_path, case.key, node=node.url)
        assert report.ok and result["verified"], (library, result["checks"])  # the node's word, as before
        report, library, result = witnessed_both(ledger, bundle, tmp_path, case.key, node=node.url)
        assert node.saw(RULE_SET), "the lie was never told"
    court = court_checks(result)
    assert not library["rule_set_published"][0] and court["rule_set_published"][0] == "FAIL", (library, court)
    for detail in (library["rule_set_published"][1], court["rule_set_published"][1]):
        assert LOG_PROOF in detail and f"block: node {real - 1}, proven {real}" in detail, detail


def test_a_node_moving_the_anchoring_to_another_block_fails_anchor_event_by_the_proven_record(
    ledger: Ledger, case: Case, tmp_path: Path
) -> None:
    """Adversary: the chain's operator, with whoever hands over the bundle stating the same. The node answers the
    decision's batch record and its LogBatchAnchored event in the block after the real anchoring's (the block, its
    hash and time are the chain's), and the bundle says so: without the state proof both verifiers followed the node;
    with it both fail ``anchor_event`` naming the proven block."""
    a = case.bundle["anchor"]
    moved = a["block_number"] + 1
    assert moved <= case.bundle["as_of"]["block_number"]
    there = ledger.chain.w3.eth.get_block(moved)
    one, batch = _lying(_moved_anchoring(ledger, case, moved))

    def edit(b: dict[str, Any]) -> None:
        b["anchor"].update(
            block_number=moved, block_hash="0x" + bytes(there["hash"]).hex(), block_timestamp=int(there["timestamp"])
        )

    bundle = case.edited(edit)
    stripped = copy.deepcopy(bundle)
    del stripped["witness"]["state"]
    with RpcProxy(rpc_url(ledger), rewrite=one, rewrite_batch=batch) as node:
        report, library, result = witnessed_both(ledger, stripped, tmp_path, case.key, node=node.url)
        assert report.ok and result["verified"], (library, result["checks"])  # the node's word, as before
        report, library, result = witnessed_both(ledger, bundle, tmp_path, case.key, node=node.url)
    court = court_checks(result)
    assert not library["anchor_event"][0] and court["anchor_event"][0] == "FAIL", (library, court)
    for detail in (library["anchor_event"][1], court["anchor_event"][1]):
        assert LOG_PROOF in detail and f"block: node {moved}, proven {a['block_number']}" in detail, detail


# -- a forger editing the section -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "other", ["another root's", "another department's", "without the rule set's", "another block's"]
)
def test_a_section_of_another_record_or_block_fails_witnessed_in_both(
    ledger: Ledger, case: Case, tmp_path: Path, other: str
) -> None:
    """Adversary: a forger editing the bundle. The section replaced by the proof of another root's batch record,
    another department's records, the batch's alone, or the same slots at another block: both verifiers fail
    ``witnessed`` naming the log contract's proof, and take nothing from it."""
    section = case.others[other]

    def edit(b: dict[str, Any]) -> None:
        b["witness"]["state"] = {"block": section["block"], "log": section["log"]}

    _, library, result = witnessed_both(ledger, case.edited(edit), tmp_path, case.key)
    court = court_checks(result)
    assert {n for n, (ok, _) in library.items() if not ok} == {"witnessed"}, library
    for detail in (library["witnessed"][1], court["witnessed"][1]):
        assert f"{LOG_PROOF} does not prove" in detail, detail
    assert result["state_proof"] == "not proven"


@pytest.mark.parametrize("cut", ["a word dropped", "a proof node altered", "no log member"])
def test_a_section_cut_or_altered_fails_witnessed_in_both(ledger: Ledger, case: Case, tmp_path: Path, cut: str) -> None:
    """Adversary: a forger editing the bundle: a word's proof dropped, a node of a proof altered, the proof left out
    of the section: both verifiers fail ``witnessed``."""

    def edit(b: dict[str, Any]) -> None:
        log = b["witness"]["state"]["log"]
        if cut == "a word dropped":
            del log["storageProof"][2]
        elif cut == "a proof node altered":
            proof = log["storageProof"][4]["proof"]
            proof[-1] = proof[-1][:-2] + ("00" if proof[-1][-2:] != "00" else "01")
        else:
            del b["witness"]["state"]["log"]

    _, library, _result = witnessed_both(ledger, case.edited(edit), tmp_path, case.key)
    assert {n for n, (ok, _) in library.items() if not ok} == {"witnessed"}, library


# -- older bundles ----------------------------------------------------------------------------------------------------


def test_a_decision_bundle_without_the_section_is_partial_and_fails_when_a_proof_is_required(
    ledger: Ledger, case: Case, tmp_path: Path
) -> None:
    """Adversary: whoever hands over the bundle, stripping the section (or a bundle written before it). Both
    verifiers pass, saying "log batch: not proven", report ``state_proof`` "partial" and end "VERIFIED, without a proof
    of the log batch"; under ``--require-state-proof`` both fail ``witnessed``."""
    bundle = case.edited(lambda b: b["witness"].pop("state"))
    report, library, result = witnessed_both(ledger, bundle, tmp_path, case.key)
    court = court_checks(result)
    assert report.ok and result["verified"], (library, court)
    for detail in (library["witnessed"][1], court["witnessed"][1]):
        assert "log batch: not proven" in detail, detail
    assert report.state_proof == result["state_proof"] == "partial"
    lines = (
        verdict_line(report),
        COURT.verdict_line([(c["name"], c["result"], c["detail"]) for c in result["checks"]]),
    )
    assert lines[0] == lines[1] and lines[0].startswith("VERIFIED, without a proof of the log batch"), lines
    report, library, result = witnessed_both(ledger, bundle, tmp_path, case.key, "--require-state-proof")
    assert {n for n, (ok, _) in library.items() if not ok} == {"witnessed"}, library
    for detail in (library["witnessed"][1], court_checks(result)["witnessed"][1]):
        assert "a proof of the log batch is required" in detail, detail


def test_a_publication_the_proof_says_was_never_made_fails_in_both_whatever_the_node_answers() -> None:
    """Adversary: the chain's operator answering a RuleSetPublished event by the deciding department of a rule set that
    department never published (another's, or none). The proven record of the deciding department's publication is
    zero: both verifiers' publication check fails naming the state proof, with or without an event from the node."""
    zero = logslots.ProvenLogBatch(bytes(32), bytes(32), 0, 0, 0, 0, "0x" + "00" * 20, bytes(32))
    proven = logslots.ProvenLog(zero, logslots.ProvenRuleSet(bytes(32), bytes(32), 0, 0), 40)
    stated = {"digest": MADE_UP, "department": "INS", "service_item": MADE_UP, "tx_hash": MADE_UP, "block_number": 30}
    told = {"department": "INS", "service_item": MADE_UP, "tx_hash": MADE_UP, "block_number": 30}
    court = COURT.DecisionVerifier(
        {"rule_set": stated, "decision": {"department": "INS"}},
        COURT.Rpc("http://127.0.0.1:9"),
        anchor=None,
        file=None,
        confirmations=0,
    )
    court._log = {"batch": {}, "rule_set": dict.fromkeys(("department", "service_item"), bytes(32)), "at": 40}
    for published in (told, None):
        said = evidence._unproven_publication(stated, published, "INS", proven)
        assert said is not None and "was not published by INS up to block 40" in said and LOG_PROOF in said, said
        with pytest.raises(COURT.Failure, match="was not published by INS up to block 40"):
            court.unproven_publication(published)
