"""Red team, round 15d: attacks on the day's changes (the Merkle proof memo, the rule engines' bounds, the whole-log
limiter and round 15a's fixes).

1. Whether the rules' step budget ran out depended on the order of an object's keys. Both engines count an
   object's members when they compare it with another of its size (``==``/``!=`` with ``ref``) and stop at the
   first member that differs, walking the members in the order the object's keys were written. An applicant
   writes that order: the library decided on the application as sent, while replay and both evidence verifiers
   re-run the stored input, whose objects come back with their keys in canonical (sorted) order. An applicant who
   put a differing member first and a 100,000-element list after it had the department decide (two steps), and
   every replay and court re-run walk the list first and stop over the bound (``rerun_failed`` against an honest
   department, ``rerun`` failing in both verifiers). Both engines now walk an object's members in sorted key
   order, so the same input costs the same steps however it was written.
2. The gateway's memo of Merkle proof walks (``merkle.ProofWalks``, one per long-lived chain view) was bounded in
   nodes (32,768), but each node kept the whole text of the proof that reached it. Any client may verify
   documents of a tree of its own (the proof reaching the root the document states is all the memo asks): with
   proofs of 64 hashes (the most the gateway takes), each certificate after the first met the walk before it one
   level up and was remembered with 4 KB of text of its own, so 16,384 verifications left 70 MB in the gateway
   (140 MB at the node bound) that no verification of the chain's certificates needed. The memo now also bounds
   the text it keeps (``ProofWalks.text_limit``, 8 Mi characters) and forgets everything past it, as past the
   node bound.
3. The full timeline of a certificate listed every read of it. Round 15a gave the data subject's list of reads
   pages, since any department a grant lets read the certificate can grow it without bound; the issuer's and the
   auditors' timeline (``GET /certificates/{digest}/provenance``) still read and answered every one: 20,000 reads
   made a 5.8 MB answer and two seconds of a gateway thread, a grantee reading 100 times a second a day long, 2.5
   GB and a quarter of an hour per request. The timeline now shows the first ``provenance.TIMELINE_READS`` (1,000)
   and then an ``accesses_more`` event naming where the paged listing (``GET /certificates/{digest}/accesses``)
   goes on.
4. The court's verifier could not judge an input nested as deep as the format allows. Both engines take inputs
   nested up to 512 levels (``MAX_JSON_DEPTH``); the library runs with the recursion limit its dependencies raise,
   the court's verifier, on the standard library alone, with Python's 1,000, and its canonical JSON (a field's
   hash) and ``rule_same`` recurse two or three frames a level. An applicant whose application held a value
   nested 400 levels deep (a department's bulk run takes what the applicant sends) got a decision every library
   verification passed and the court's verifier answered "cannot be judged (RecursionError)", exit 2, for every
   bundle of it. The court's verifier now sets a recursion limit that holds its deepest walk of the deepest JSON it
   accepts.

Each hole found was written first as a failing test, then closed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats import rules
from ledger.formats.merkle import MerkleTree, ProofWalks, node_hash, root_from_proof
from ledger.services import accesslog, decisions, evidence, logchain
from ledger.services.replay import replay

from .api_support import Clock, bearer, issue, login, make_client
from .decision_support import application
from .evidence_support import SCRIPT_MODULE, standalone
from .verifiers_support import one_rule_set

# -- 1. the step budget and the order of an object's keys -----------------------------------------------------------

SAME_ADDRESS = {"field": "application.address", "op": "==", "ref": "application.registered_address"}


def _addresses(first: str) -> dict[str, Any]:
    """Two objects of one size that differ in ``zone`` and share a list of MAX_STEPS members under ``area``: walked
    ``zone`` first, two steps; ``area`` first, over the bound. ``first`` names the key written first."""
    area = [0] * rules.MAX_STEPS
    if first == "zone":
        return {"address": {"zone": 1, "area": area}, "registered_address": {"zone": 2, "area": area}}
    return {"address": {"area": area, "zone": 1}, "registered_address": {"area": area, "zone": 2}}


def _outcome_or_refusal(run: Any) -> str:
    try:
        return str(run())
    except (InputError, SCRIPT_MODULE.Failure):
        return "refused"


@pytest.mark.parametrize("first", ["zone", "area"])
def test_the_step_budget_does_not_depend_on_the_order_of_an_objects_keys(first: str) -> None:
    """Adversary: an applicant ordering their objects' keys so the library's evaluation stays within the bound and
    every re-run of the stored (key-sorted) input goes over it."""
    document = one_rule_set(SAME_ADDRESS)
    as_sent = {"application": _addresses(first)}
    stored = json.loads(json.dumps(as_sent, sort_keys=True))
    answers = {
        "library, as sent": _outcome_or_refusal(lambda: rules.evaluate(rules.load_rule_set(document), as_sent).outcome),
        "library, as stored": _outcome_or_refusal(
            lambda: rules.evaluate(rules.load_rule_set(document), stored).outcome
        ),
        "court, as sent": _outcome_or_refusal(lambda: SCRIPT_MODULE.run_rules(document, as_sent)[0]),
        "court, as stored": _outcome_or_refusal(lambda: SCRIPT_MODULE.run_rules(document, stored)[0]),
    }
    assert len(set(answers.values())) == 1, answers


def test_an_applicants_key_order_cannot_make_an_honest_decision_fail_its_rerun(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an applicant writing ``zone`` before ``area`` in two objects an honest rule set compares. The
    department decided (two steps); replay reported ``rerun_failed`` and both verifiers failed ``rerun`` on the
    evidence (the stored input, ``area`` first, over the bound). Now the decision is refused as every re-run would
    refuse it, however the keys are written, and what is decided re-runs."""
    dept = fresh_department
    document = one_rule_set(SAME_ADDRESS)
    document.update(rule_set_id=f"same-address-{dept.lower()}", service_item="ITEM-1")
    rule_set = rules.load_rule_set(document)
    decisions.publish_rule_set(ledger, rule_set, dept)
    for case, first in (("C-ORDER-1", "zone"), ("C-ORDER-2", "area")):
        app = application(case)
        app["application"] = {**app["application"], **_addresses(first)}
        with pytest.raises(InputError, match=f"more than {rules.MAX_STEPS:,} members"):
            decisions.decide(ledger, dept, case, "ITEM-1", app, rule_set, applicant_ref="order-applicant")
    assert not list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept))
    app = application("C-ORDER-3")  # within the bound in either order: decided, and re-run alike
    shorter = _addresses("zone")
    for side in shorter.values():
        side["area"] = side["area"][: rules.MAX_STEPS - 2]
    app["application"] = {**app["application"], **shorter}
    decided = decisions.decide(ledger, dept, "C-ORDER-3", "ITEM-1", app, rule_set, applicant_ref="order-applicant")
    assert decided.body["outcome"] == "refer"
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    report = replay(ledger, department=dept)
    assert not report.discrepancies, report.summary()
    bundle = evidence.decision_bundle(ledger, dept, "C-ORDER-3", applicant="order-applicant")
    path = tmp_path / "order.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    library = evidence.verify_bundle(path, ledger.chain)
    assert library.check("rerun").ok, library.check("rerun").detail
    _code, court, stderr = standalone(ledger, path)
    assert court is not None, stderr
    rerun = next(c for c in court["checks"] if c["name"] == "rerun")
    assert rerun["result"] == "PASS", rerun


# -- 2. the proof memo's memory ---------------------------------------------------------------------------------------


def test_the_proof_memo_keeps_a_bounded_amount_of_text_whatever_proofs_it_is_given() -> None:
    """Adversary: a client verifying (``POST /verify``, ``POST /public/verify``) documents of a tree of its own, each
    proof 64 hashes long (the gateway's most) and reaching the root the document states: every walk is remembered,
    and each kept the whole text of its proof. The memo keeps at most ``text_limit`` characters of proofs (plus the
    one it walks), and still answers each proof as :func:`merkle.root_from_proof` does."""
    leaves = [i.to_bytes(32, "big") for i in range(2**14)]
    tree = MerkleTree(leaves)
    above = [bytes([7]) * 31 + bytes([i]) for i in range(64 - 14)]  # siblings of the attacker's choice up to 64
    root = tree.root
    for sibling in above:
        root = node_hash(root, sibling)
    walks = ProofWalks()
    kept = 0
    for i, leaf in enumerate(leaves):
        proof = tree.proof(i) + above
        assert walks.root(leaf, ["0x" + p.hex() for p in proof], root) == root_from_proof(leaf, proof) == root
        if i % 1024 == 1023:
            texts = {id(text): len(text) for _, text, _ in walks._nodes.values()}
            kept = max(kept, sum(texts.values()))
    assert kept <= 2**23 + 64 * 66, f"{kept:,} characters of proofs kept"  # text_limit, and the proof walked


# -- 3. the full timeline and a certificate's reads -------------------------------------------------------------------


def test_the_full_timeline_lists_a_bounded_number_of_reads_and_says_where_the_rest_are(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: a department a grant lets read a certificate, reading it again and again (each read an entry of
    the issuer's access log), so that the issuer's and the auditors' timeline of it, answered whole, takes the
    gateway's memory and time. The timeline lists the first 1,000 reads, then one event naming the place the paged
    listing of reads goes on from; that listing holds the rest."""
    dept = fresh_department
    (document,) = issue(ledger, dept, 1)
    now = datetime.now(UTC)
    read = {"certificate": document["digest"], "action": "read", "outcome": "served", "actor": "INS", "signer": None}
    assert accesslog.record_many(ledger, dept, [accesslog.entry_body(**read, at=now) for _ in range(1_205)], now)
    client = make_client(ledger, Clock())
    token = bearer(login(client, ledger, dept))
    answer = client.get(f"/certificates/{document['digest']}/provenance", headers=token)
    assert answer.status_code == 200, answer.text[:300]
    events = answer.json()["events"]
    reads = [e for e in events if e["kind"] == "access"]
    assert [e["seq"] for e in reads] == list(range(1, 1_001)), len(reads)
    (more,) = [e for e in events if e["kind"] == "accesses_more"]
    assert more["after"] == f"{dept}:1000" and f"after={dept}:1000" in more["summary"], more
    rest = client.get(f"/certificates/{document['digest']}/accesses?after={dept}:1000", headers=token)
    assert [e["seq"] for e in rest.json()] == list(range(1_001, 1_206)), rest.text[:300]


# -- 4. an input as deep as the format allows, in the court's verifier --------------------------------------------


def test_the_courts_verifier_judges_an_input_nested_as_deep_as_the_format_allows(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an applicant sending an application with a value nested 450 levels deep (within the 512 both
    engines accept), compared by the rules with another (``ref``). The library decided and verified the evidence;
    the court's verifier, at Python's default recursion limit, answered "cannot be judged" (exit 2)."""
    dept = fresh_department
    same_notes = {"field": "application.notes", "op": "==", "ref": "application.notes_copy"}
    document = one_rule_set({"all": [{"field": "application.online", "op": "==", "value": True}, same_notes]})
    document.update(rule_set_id=f"deep-{dept.lower()}", service_item="ITEM-1")
    rule_set = rules.load_rule_set(document)
    decisions.publish_rule_set(ledger, rule_set, dept)
    deep: Any = 0
    for _ in range(450):
        deep = [deep]
    app = application("C-DEEP-1")
    app["application"] = {**app["application"], "notes": deep, "notes_copy": deep}
    decided = decisions.decide(ledger, dept, "C-DEEP-1", "ITEM-1", app, rule_set, applicant_ref="deep-applicant")
    assert decided.body["outcome"] == "approve"
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    bundle = evidence.decision_bundle(ledger, dept, "C-DEEP-1", applicant="deep-applicant")
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    library = evidence.verify_bundle(path, ledger.chain)
    assert not library.failed, [(c.name, c.detail) for c in library.failed]
    code, court, stderr = standalone(ledger, path)
    assert code == 0 and court is not None and court["verified"], (code, stderr[-400:])
