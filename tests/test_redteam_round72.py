"""Red team, round 72: CertificateAnchor 4.1.0's status trail, attacked where its readers do not reach.

1. Found, fixed (the chain's operator, or a node replica whose log index lags its blocks): the provenance
   timeline (``ledger provenance``, the gateway's timeline page) listed whatever status events the node gave for the
   blocks the contract's status history of the certificate names, unchecked against that history: a made-up
   reinstatement after the last suspension ended the listing with "reinstated" under a status of suspended (round
   61's wrong page again), and a revocation left out listed no revocation under a status of revoked. The listing
   now has to be the history's changes one for one (kind, block, reason or successor), or the timeline is refused;
   and in their order: a reinstatement's log index moved past the suspension made after it in the same block
   passed that check and ended the listing with "reinstated" again.

2. Found, fixed (the same): with the direct lookup (``ledger verify --status-lookup direct``, no index and no
   department stream read) the report's ``replaces`` came from one unchecked ``eth_getLogs`` of the issuer's
   supersessions: a made-up supersession naming the certificate as successor made the report say it replaces a
   certificate it never replaced. Each supersession read is now believed only as the superseded certificate's
   status history on the contract records it (``statusHistory``, one batch for all), else the report fails. Open:
   one left out (the report then names no predecessor; the herd read and the index check the whole stream).

Held, each with a test:
- ``statusTrail`` answered with the department's true hash and count but its last change a million blocks past the
  head: the library's scan and the court's ask the node for that block first (past ``PROBE_AFTER_RANGES`` /
  ``STATUS_PROBE_AFTER`` ranges) and refuse the read, no ``eth_getLogs`` range sent up to it. A node that also makes
  that block up gets as many ranges as a node claiming that head always could (at most 430,000 at the default span,
  bounded by ``MAX_BLOCK_NUMBER``).
- The registration and the trail, asked in one JSON-RPC batch, answered swapped: each decodes as the other's type or
  not at all, and the certificate is not read as valid.
- A department making five status changes of two certificates in one block (its own key, calling the contract
  directly): the herd read, the gateway's index (synced before the block, then again once it is final), the
  chain-wide read and the court's verifier each reproduce the trail and say suspended and revoked.
- A supersession chain (A by B, B by C, C suspended; the events carry the successor's root, which the trail chains):
  every reader reproduces the trail, C replaces B with both lookups, and the timelines (now held to the status
  history) list each supersession and each "supersedes".
- Every ``eth_getLogs`` answered in reverse order (nothing in JSON-RPC promises chain order): the herd read, the
  court, the index and the chain-wide read each sort by block and log index (``chainread.scan``) and say suspended.
- A reorganisation between the trail read and the events read (the suspension's block replaced): refused, and the
  same long-lived view's next read says what the chain now says, keeping nothing of the refused one.

Held, tried without a test of its own:
- ``statusTrails`` answered with arrays of unequal length: refused (``trail.stated_all``). A department repeated or
  left out, with every event of it left out of ``eth_getLogs`` too, is believed by the index, replay and reconcile,
  as ``statusTrail`` answered from an older state with the logs cut at its block is believed by every reader, the
  court's included: a node lying about the contract's state as well as its logs, the honest boundary
  ledger/onchain/trail.py names (the direct lookup's ``statusOf`` believes the same node).
- Every other reader of status events: the status lists read the department stream (checked), replay and reconcile
  ``status_events()`` (checked); the court's other ``eth_getLogs`` read anchorings and publications, not statuses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak

from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.formats.canonical import parse_hex32
from ledger.onchain import trail
from ledger.onchain.chain import ROLE_ISSUER, ROLE_VERIFIER, Chain, connect
from ledger.onchain.ids import department_id_bytes
from ledger.services import evidence, provenance, status
from ledger.services.departments import Council
from ledger.services.status import reason_code
from ledger.services.verify import ChainView, verify_certificate, verify_many

from .cli_support import rpc
from .conftest import PASSPHRASE, make_records, make_settings
from .evidence_support import failed_names, issue, rpc_url, standalone
from .rpc_proxy import RpcProxy

SUSPENDED_TOPIC = "0x" + keccak(text="CertificateSuspended(bytes32,bytes32,bytes32,uint8)").hex()
REINSTATED_TOPIC = "0x" + keccak(text="CertificateReinstated(bytes32,bytes32,bytes32,uint8)").hex()
REVOKED_TOPIC = "0x" + keccak(text="CertificateRevoked(bytes32,bytes32,bytes32,uint8)").hex()
SUPERSEDED_TOPIC = "0x" + keccak(text="CertificateSuperseded(bytes32,bytes32,bytes32,bytes32,bytes32)").hex()


def _through(ledger: Ledger, node: RpcProxy) -> Chain:
    return Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)


def _timeline(ledger: Ledger, node: RpcProxy, digest: str) -> dict[str, Any]:
    honest = ledger.chain
    ledger.chain = _through(ledger, node)
    try:
        return provenance.timeline(ledger, digest, now=datetime.now(UTC))
    finally:
        ledger.chain = honest


def _logs(ledger: Ledger, topic: str, digest: str) -> list[dict[str, Any]]:
    answer = ledger.chain.w3.provider.make_request(
        "eth_getLogs",  # type: ignore[arg-type]
        [
            {
                "address": ledger.chain.deployment.anchor,
                "fromBlock": "0x0",
                "toBlock": "latest",
                "topics": [topic, digest],
            }
        ],
    )
    return list(answer["result"])


def _asks_for(params: Any, topic: str, block: int) -> bool:
    """Whether the ``eth_getLogs`` query ``params`` asks for events of ``topic`` (alone or among others) in a range
    holding ``block``."""
    query = params[0] if isinstance(params, list) and params else {}
    first = (query.get("topics") or [None])[0]
    asked = [str(t).lower() for t in first] if isinstance(first, list) else [str(first).lower()]
    return topic in asked and int(query.get("fromBlock", "0x0"), 16) <= block <= int(query["toBlock"], 16)


def test_a_made_up_reinstatement_on_the_timeline_is_refused(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: the chain's operator, answering the timeline's ``eth_getLogs`` for reinstatements in the block
    of the certificate's last suspension with a reinstatement it made up (the suspension's log, retopicked, one
    position later). The status history (``statusHistory``) says suspended; the listing ended with "reinstated"."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.suspend(ledger, target["digest"], "under-investigation")
    (suspension,) = _logs(ledger, SUSPENDED_TOPIC, target["digest"])
    block = int(suspension["blockNumber"], 16)

    def made_up(method: str, params: Any, answer: Any) -> Any:
        if method == "eth_getLogs" and _asks_for(params, REINSTATED_TOPIC, block):
            fake = {**suspension, "topics": [REINSTATED_TOPIC, *suspension["topics"][1:]]}
            answer["result"] = [*answer["result"], {**fake, "logIndex": hex(int(suspension["logIndex"], 16) + 1)}]
        return answer

    with RpcProxy(rpc_url(ledger), rewrite=made_up) as node, pytest.raises(ChainError, match="status history"):
        _timeline(ledger, node, target["digest"])
    honest = provenance.timeline(ledger, target["digest"], now=datetime.now(UTC))
    assert honest["status"] == "suspended"
    assert [e["kind"] for e in honest["events"] if e["source"] == "chain"][-1] == "suspended", honest["events"]


def test_a_revocation_left_out_of_the_timeline_is_refused(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: the chain's operator (or a replica whose log index lags), answering the timeline's
    ``eth_getLogs`` for revocations with nothing: the page said revoked and listed no revocation, its reason or its
    transaction."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.revoke(ledger, target["digest"], "fraud")

    def left_out(method: str, params: Any, answer: Any) -> Any:
        if method == "eth_getLogs" and isinstance(answer.get("result"), list):
            answer["result"] = [log for log in answer["result"] if log["topics"][0].lower() != REVOKED_TOPIC]
        return answer

    with RpcProxy(rpc_url(ledger), rewrite=left_out) as node, pytest.raises(ChainError, match="status history"):
        _timeline(ledger, node, target["digest"])
    honest = provenance.timeline(ledger, target["digest"], now=datetime.now(UTC))
    assert honest["status"] == "revoked"
    assert "revoked" in [e["kind"] for e in honest["events"]], honest["events"]


def test_a_made_up_predecessor_is_refused_by_the_direct_lookup(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: the chain's operator, naming another of the department's certificates as one the verified (valid,
    replacing nothing) superseded. With the direct lookup the report said it replaces that certificate: ``replaces``
    was the only status fact read from unchecked logs. Since CertificateAnchor 4.3.0 the direct lookup reads the
    contract's ``predecessors`` record instead of the logs, so the node answers that call with the made-up entry;
    the superseded certificate's status history, which records no supersession by this one, refuses it."""
    target, other = issue(ledger, tmp_path, fresh_department, make_records(2))
    status.suspend(ledger, other["digest"], "under-investigation")  # a real change of the other, no supersession
    selector = "0x" + keccak(text="predecessors(bytes32,bytes32,bytes32)")[:4].hex()
    entry = other["anchor"]["root"].removeprefix("0x") + other["digest"].removeprefix("0x")
    made_up_record = "0x" + f"{32:064x}" + f"{1:064x}" + entry

    def made_up(method: str, params: Any, answer: Any) -> Any:
        called = str(params[0].get("data", params[0].get("input", ""))) if method == "eth_call" else ""
        if called.lower().startswith(selector):
            return {**answer, "result": made_up_record}
        return answer

    with RpcProxy(rpc_url(ledger), rewrite=made_up) as node:
        report = verify_certificate(target, ChainView(_through(ledger, node), status_lookup="direct"))
    assert "replaces" not in report.to_json()["facts"], report.to_json()
    assert not report.ok and "does not record" in str(report.to_json()), report.to_json()
    honest = verify_certificate(target, ChainView(ledger.chain, status_lookup="direct"))
    assert honest.ok and "replaces" not in honest.to_json()["facts"], honest.to_json()


TRAIL_SELECTOR = "0x" + keccak(text="statusTrail(bytes32)")[:4].hex()


def _trail_answer(request: Any) -> bool:
    if request.get("method") != "eth_call":
        return False
    call = (request.get("params") or [{}])[0]
    return str(call.get("data") or call.get("input") or "").lower().startswith(TRAIL_SELECTOR)


def test_a_status_trail_whose_last_change_is_far_past_the_head_costs_one_probe(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: the chain's operator, answering ``statusTrail`` with the department's true hash and count but the
    block of its last change a million blocks past the head (a block it does not produce): every reader reads the
    events up to that block. The library's scan and the court's ask the node for that block first, and refuse the
    read when it has none: one ``eth_getBlockByNumber``, no ``eth_getLogs`` ranges up to it."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.suspend(ledger, target["digest"], "under-investigation")
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(evidence.certificate_bundle(ledger, target)), encoding="utf-8")
    far = ledger.chain.block_number() + 1_000_000

    def moved(answer: dict[str, Any]) -> dict[str, Any]:
        words = str(answer["result"])[2:]
        return {**answer, "result": "0x" + words[:64] + f"{far:064x}" + words[128:]}

    def single(method: str, params: Any, answer: Any) -> Any:
        return moved(answer) if _trail_answer({"method": method, "params": params}) else answer

    def batch(requests: list[Any], answers: Any) -> Any:
        asked = {r["id"]: r for r in requests}
        return [moved(a) if _trail_answer(asked.get(a.get("id"), {})) else a for a in answers]

    with RpcProxy(rpc_url(ledger), rewrite=single, rewrite_batch=batch) as node:
        report = verify_certificate(target, ChainView(_through(ledger, node)))
        assert not report.ok and "does not produce that block" in str(report.to_json()), report.to_json()
        assert node.methods["eth_getLogs"] == 0, node.methods
        code, result, stderr = standalone(ledger, bundle, rpc=node.url)
        assert result is not None, stderr
        assert code == 1 and "does not produce that block" in json.dumps(result), result
        # the court's other reads: the batch's one block, and its department's batch events up to the head (one
        # range: the anchoring trail it checks them against names no far block)
        assert node.methods["eth_getLogs"] <= 2, node.methods


def test_the_registration_and_the_trail_answered_swapped_are_refused(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: the chain's operator, answering the herd read's one JSON-RPC batch (the department's registration
    and its status trail, ``_registration_and_trail``) with the two results swapped. Each decodes as the other's
    type or not at all: the certificate is never read as valid, and the view keeps no registration from it."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.revoke(ledger, target["digest"], "fraud")
    swapped: list[int] = []

    def swap(requests: list[Any], answers: Any) -> Any:
        if len(requests) == 2 and any(_trail_answer(r) for r in requests) and isinstance(answers, list):
            first, second = answers
            swapped.append(1)
            return [{**first, "result": second["result"]}, {**second, "result": first["result"]}]
        return answers

    with RpcProxy(rpc_url(ledger), rewrite_batch=swap) as node:
        view = ChainView(_through(ledger, node))
        report = verify_certificate(target, view)
    assert swapped, "the herd read asked for no batch"
    assert not report.ok, report.to_json()
    assert report.facts.get("status") in (None, "revoked"), report.to_json()


@pytest.fixture()
def own(tmp_path: Path) -> Iterator[Ledger]:
    """A ledger with its own anvil, blocks mined only by transactions and ``evm_mine``: its test stops the miner to
    put several transactions in one block (anvil has no call that puts the shared node's mixed mining back)."""
    instance = Ledger.open(make_settings(tmp_path / "own"), passphrase=PASSPHRASE)
    rpc(instance, "evm_setIntervalMining", 0)
    rpc(instance, "evm_setAutomine", True)  # setting the interval switched every kind of mining off
    Council(instance).register("R72", "Bureau R72", ROLE_ISSUER | ROLE_VERIFIER, types=("business-licence",))
    yield instance
    instance.close()


def test_many_status_changes_in_one_block_reproduce_the_trail_in_every_reader(own: Ledger, tmp_path: Path) -> None:
    """The honest side (a department making many changes at once, its own key calling the contract directly): five
    status changes of two certificates in one block - suspended, reinstated, suspended again; suspended, revoked.
    Each reader orders them by log index and recomputes the contract's trail: the herd read, the gateway's index
    (a view synced before the block, then after it across the finality boundary), the chain-wide read and the
    court's verifier all say suspended and revoked."""
    ledger, fresh_department = own, "R72"
    first, second = issue(ledger, tmp_path, fresh_department, make_records(2))
    view = ChainView(ledger.chain, ledger.settings.confirmations, max_head_age=0.0)  # the gateway's, with its index
    view.refresh()
    chain, account = ledger.chain, ledger.department_account(fresh_department)
    changes = [
        (first, "suspend", "under-investigation"),
        (first, "reinstate", "grounds-resolved"),
        (first, "suspend", "under-investigation"),
        (second, "suspend", "under-investigation"),
        (second, "revoke", "fraud"),
    ]
    rpc(ledger, "evm_setAutomine", False)
    try:
        sent = [
            chain.send(
                account,
                getattr(chain.anchor.functions, action)(
                    parse_hex32(cert["anchor"]["root"]),
                    parse_hex32(cert["digest"]),
                    [parse_hex32(p) for p in cert["anchor"]["proof"]],
                    reason_code(reason),
                ),
                gas=400_000,
            )
            for cert, action, reason in changes
        ]
        rpc(ledger, "evm_mine")
    finally:
        rpc(ledger, "evm_setAutomine", True)
    blocks = {int(chain.wait(tx, timeout=30)["blockNumber"]) for tx in sent}
    assert len(blocks) == 1, blocks
    assert trail.stated(chain, department_id_bytes(fresh_department)).changes == 5
    expected = {first["digest"]: "suspended", second["digest"]: "revoked"}
    for cert in (first, second):
        herd = verify_certificate(cert, ChainView(chain))
        assert herd.facts["status"] == expected[cert["digest"]], herd.to_json()
    for passed in (0, ledger.settings.confirmations + 13):  # the block not final yet, then final
        for _ in range(passed):
            rpc(ledger, "evm_mine")
        for report in verify_many([first, second], view):
            assert report.facts["status"] == expected[report.digest], report.to_json()
    dept = department_id_bytes(fresh_department)
    assert sum(1 for (d, _, _), *_ in ChainView(chain).status_events() if d == dept) == 5
    for cert in (first, second):
        path = tmp_path / f"{cert['digest']}.json"
        path.write_text(json.dumps(evidence.certificate_bundle(ledger, cert)), encoding="utf-8")
        code, result, stderr = standalone(ledger, path)
        assert result is not None, stderr
        # the certificate is not valid (``status``), and the bundle says so as the chain does (``status_statement``)
        assert code == 1 and failed_names(result) == {"status"}, result
        assert expected[cert["digest"]] in json.dumps(result), result


def test_a_supersession_chain_reproduces_the_trail_and_the_timeline_in_every_reader(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """The honest side of a supersession chain (its events carry the successor's root past the reason word, which
    the trail chains): A superseded by B, B by C, C suspended. Every reader of the department's stream reproduces
    the trail and says superseded, superseded, suspended; C replaces B; and the timelines, now held to the status
    history one for one, list each supersession under its certificate and each "supersedes" under its successor."""
    a, b, c = issue(ledger, tmp_path, fresh_department, make_records(3))
    status.supersede(ledger, a["digest"], b["digest"], fresh_department)
    status.supersede(ledger, b["digest"], c["digest"], fresh_department)
    status.suspend(ledger, c["digest"], "under-investigation")
    expected = {a["digest"]: "superseded", b["digest"]: "superseded", c["digest"]: "suspended"}
    for cert in (a, b, c):
        herd = verify_certificate(cert, ChainView(ledger.chain))
        assert herd.facts["status"] == expected[cert["digest"]], herd.to_json()
    for lookup in ("herd", "direct"):
        report = verify_certificate(c, ChainView(ledger.chain, status_lookup=lookup))
        assert report.facts["replaces"] == b["digest"], (lookup, report.to_json())
    view = ChainView(ledger.chain, ledger.settings.confirmations, max_head_age=0.0)
    view.refresh()
    for report in verify_many([a, b, c], view):
        assert report.facts["status"] == expected[report.digest], report.to_json()
    dept = department_id_bytes(fresh_department)
    assert sum(1 for (d, _, _), *_ in ChainView(ledger.chain).status_events() if d == dept) == 3
    now = datetime.now(UTC)
    kinds = {
        cert["digest"]: [e["kind"] for e in provenance.timeline(ledger, cert["digest"], now=now)["events"]]
        for cert in (a, b, c)
    }
    assert "superseded" in kinds[a["digest"]], kinds
    assert {"supersedes", "superseded"} <= set(kinds[b["digest"]]), kinds
    assert {"supersedes", "suspended"} <= set(kinds[c["digest"]]), kinds
    path = tmp_path / "b.json"
    path.write_text(json.dumps(evidence.certificate_bundle(ledger, b)), encoding="utf-8")
    code, result, stderr = standalone(ledger, path)
    assert result is not None, stderr
    assert code == 1 and failed_names(result) == {"status"}, result


def test_a_reorganisation_between_the_trail_and_the_logs_is_refused_then_read_as_the_chain_now_is(
    own: Ledger, tmp_path: Path
) -> None:
    """Adversary: the chain's operator with its validators, replacing the block of a suspension after a reader read
    the department's trail and before it read the events (``evm_revert`` to a snapshot before the suspension). The
    trail counts the suspension, the events do not: the read is refused (try again), and the same long-lived view's
    next read, trail and events both of the chain as it now is, says valid, keeping nothing of the refused read."""
    (target,) = issue(own, tmp_path, "R72", make_records(1))
    rpc(own, "evm_mine")
    before = rpc(own, "evm_snapshot")
    status.suspend(own, target["digest"], "under-investigation")
    reverted: list[Any] = []

    def reorganise(request: dict[str, Any]) -> Any:
        if request.get("method") == "eth_getLogs" and not reverted:
            reverted.append(rpc(own, "evm_revert", before))
        return None

    with RpcProxy(rpc_url(own), intercept=reorganise) as node:
        view = ChainView(_through(own, node))
        refused = verify_certificate(target, view)
        assert reverted == [True]
        assert not refused.ok and "status trail" in str(refused.to_json()), refused.to_json()
        rpc(own, "evm_mine")
        again = verify_certificate(target, view)
    assert again.ok and again.facts["status"] == "valid", again.to_json()


def test_a_reinstatement_and_a_suspension_of_one_block_swapped_on_the_timeline_are_refused(
    own: Ledger, tmp_path: Path
) -> None:
    """Adversary: the chain's operator, answering the timeline's ``eth_getLogs`` with the log index of a
    reinstatement moved past the suspension its department made after it in the same block: every change is there,
    in its block, so a check of the changes alone passes, and the listing ended with "reinstated" under a status
    of suspended (round 61's page). The status history gives their order too."""
    (target,) = issue(own, tmp_path, "R72", make_records(1))
    status.suspend(own, target["digest"], "under-investigation")
    chain, account = own.chain, own.department_account("R72")
    root, digest = parse_hex32(target["anchor"]["root"]), parse_hex32(target["digest"])
    proof = [parse_hex32(p) for p in target["anchor"]["proof"]]
    rpc(own, "evm_setAutomine", False)
    try:
        sent = [
            chain.send(
                account, getattr(chain.anchor.functions, action)(root, digest, proof, reason_code(reason)), gas=400_000
            )
            for action, reason in (("reinstate", "grounds-resolved"), ("suspend", "under-investigation"))
        ]
        rpc(own, "evm_mine")
    finally:
        rpc(own, "evm_setAutomine", True)
    receipts = [chain.wait(tx, timeout=30) for tx in sent]
    block = int(receipts[0]["blockNumber"])
    assert int(receipts[1]["blockNumber"]) == block
    (suspension,) = [
        log for log in _logs(own, SUSPENDED_TOPIC, target["digest"]) if int(log["blockNumber"], 16) == block
    ]

    def swapped(method: str, params: Any, answer: Any) -> Any:
        if method == "eth_getLogs" and _asks_for(params, REINSTATED_TOPIC, block):
            for log in answer["result"]:
                if int(log["blockNumber"], 16) == block:
                    log["logIndex"] = hex(int(suspension["logIndex"], 16) + 1)
        return answer

    honest = provenance.timeline(own, target["digest"], now=datetime.now(UTC))
    assert honest["status"] == "suspended"
    assert [e["kind"] for e in honest["events"] if e["source"] == "chain"][-1] == "suspended", honest["events"]
    with RpcProxy(rpc_url(own), rewrite=swapped) as node, pytest.raises(ChainError, match="status history"):
        _timeline(own, node, target["digest"])


def test_status_events_answered_out_of_chain_order_get_one_verdict_from_every_reader(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: the chain's operator (or a provider merging its answers from several back ends), answering every
    ``eth_getLogs`` with the same events in reverse order: nothing in JSON-RPC promises chain order, and the trail
    commits to it. Held: every reader sorts them by block and log index (the herd read, ``chainread.scan`` for the
    gateway's index and the chain-wide read of replay and reconcile) and says suspended, as the court does."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.suspend(ledger, target["digest"], "under-investigation")
    status.reinstate(ledger, target["digest"], "grounds-resolved")
    status.suspend(ledger, target["digest"], "under-investigation")

    def reversed_order(method: str, _params: Any, answer: Any) -> Any:
        if method == "eth_getLogs" and isinstance(answer.get("result"), list):
            answer["result"] = answer["result"][::-1]
        return answer

    dept = department_id_bytes(fresh_department)
    with RpcProxy(rpc_url(ledger), rewrite=reversed_order) as node:
        chain = _through(ledger, node)
        assert verify_certificate(target, ChainView(chain)).facts["status"] == "suspended"
        view = ChainView(chain, ledger.settings.confirmations, max_head_age=3600.0)  # the gateway's
        view.refresh()
        (report,) = verify_many([target], view)
        assert report.facts["status"] == "suspended", report.to_json()
        ours = [event for event in ChainView(chain).status_events() if event[0][0] == dept]
        assert [status_code for _, status_code, _, _ in ours] == [1, 0, 1], ours
        path = tmp_path / "bundle.json"
        path.write_text(json.dumps(evidence.certificate_bundle(ledger, target)), encoding="utf-8")
        code, result, stderr = standalone(ledger, path, rpc=node.url)
        assert result is not None, stderr
        assert code == 1 and failed_names(result) == {"status"}, result  # suspended, as the bundle says
