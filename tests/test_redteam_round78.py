"""Red team round 78: the chain's operator against the anchoring trail (CertificateAnchor 4.2.0).

The adversary is the chain's operator, a node answering each JSON-RPC request as it likes: per method, per block,
per query. Here it answers a department's batch stream (the read checked against its anchoring trail) honestly, and
the per-root reads a bundle verifier takes the anchoring from (``batch(department, root)`` and the ``eth_getLogs``
of that root) with a lie: the batch of one root at the position of another batch of the department. A verifier
checking only the position of its event among the trail-checked ones is told nothing by the trail.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak
from sqlalchemy import select

from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.onchain import trail
from ledger.onchain.chain import Chain, connect
from ledger.onchain.ids import department_id_bytes
from ledger.services import evidence, provenance
from ledger.services.verify import ChainView, verify_certificate
from ledger.services.witness import client as wclient
from ledger.storage.store import Batch, BatchState

from .anchoring_support import two_batches
from .cli_support import rpc
from .conftest import PASSPHRASE, make_records
from .evidence_support import failed_names, issue, rpc_url, standalone
from .rpc_proxy import RpcProxy
from .witness_support import checkpoints_around_a_revocation

BATCH_SELECTOR = "0x" + keccak(text="batch(bytes32,bytes32)")[:4].hex()


def _lying(ledger: Ledger, url: str) -> Chain:
    return Chain(connect(url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)


def _batch_log(ledger: Ledger, department: str, root: str) -> dict[str, Any]:
    """Department ``department``'s real ``BatchAnchored`` log of ``root``, as the honest node answers it."""
    query = {
        "address": ledger.chain.deployment.anchor,
        "fromBlock": hex(int(ledger.chain.deployment.deployed_block)),
        "toBlock": "latest",
        "topics": [trail.BATCH_ANCHORED_TOPIC, root, "0x" + department_id_bytes(department).hex()],
    }
    (log,) = ledger.chain.w3.provider.make_request("eth_getLogs", [query])["result"]  # type: ignore[arg-type]
    return dict(log)


def _backdating(moved: dict[str, Any], into: dict[str, Any]) -> Callable[[str, Any, Any], Any]:
    """A node answering the per-root reads of ``moved``'s root (its ``batch`` record, its ``eth_getLogs``) as if it
    were anchored at the position (block, log index, block hash) of ``into``, another batch of its department;
    the department's batch stream (``eth_getLogs`` by department) and everything else stay honest."""
    root = moved["topics"][1].lower()
    block = int(into["blockNumber"], 16)
    placed = {**moved, "blockNumber": into["blockNumber"], "logIndex": into["logIndex"], "blockHash": into["blockHash"]}

    def rewrite(method: str, params: Any, answer: Any) -> Any:
        if method == "eth_getLogs":
            query = params[0]
            topics = [str(t).lower() if t else None for t in query.get("topics") or []]
            if len(topics) > 1 and topics[1] == root:
                inside = int(query["fromBlock"], 16) <= block <= int(query["toBlock"], 16)
                return {**answer, "result": [placed] if inside else []}
        if method == "eth_call":
            data = str((params[0] or {}).get("data") or (params[0] or {}).get("input") or "").lower()
            if data.startswith(BATCH_SELECTOR) and root[2:] in data and isinstance(answer.get("result"), str):
                words = answer["result"][2:]
                return {**answer, "result": "0x" + words[:64] + f"{block:064x}" + words[128:]}
        return answer

    return rewrite


def test_a_batch_backdated_to_another_batchs_position_is_refused_by_both_bundle_verifiers(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Finding 1 (high): both bundle verifiers took the anchoring of the bundle's root from the per-root reads and
    asked only whether its (block, log index) was among the department's batch events that hash to the anchoring
    trail. A node answering the department's stream honestly and the per-root reads with the root moved to an
    earlier batch's position (the ``batch`` record to match) had both verifiers pass ``anchor_event`` for an
    anchoring in a block it never happened in: the event at that position is another root's. Both now require the
    event there to be the bundle's, field for field (root, key, count, type), and agree."""
    target, first_root, path = two_batches(ledger, tmp_path, fresh_department)
    first = _batch_log(ledger, fresh_department, first_root)
    second = _batch_log(ledger, fresh_department, target["anchor"]["root"].lower())
    assert int(first["blockNumber"], 16) < int(second["blockNumber"], 16)
    bundle = json.loads(path.read_text(encoding="utf-8"))
    bundle["anchor"]["block_number"] = int(first["blockNumber"], 16)  # what the lying node backs
    path.write_text(json.dumps(bundle), encoding="utf-8")
    with RpcProxy(rpc_url(ledger), rewrite=_backdating(second, first)) as node:
        report = evidence.verify_bundle(path, _lying(ledger, node.url))
        mine = {c["name"]: c for c in report.to_json()["checks"]}
        code, result, stderr = standalone(ledger, path, rpc=node.url)
    assert result is not None, stderr
    theirs = {c["name"]: c for c in result["checks"]}
    assert mine["anchor_event"]["ok"] is False, mine["anchor_event"]
    assert "anchoring trail" in mine["anchor_event"]["detail"], mine["anchor_event"]
    assert code == 1 and "anchor_event" in failed_names(result), result
    assert "anchoring trail" in theirs["anchor_event"]["detail"], theirs["anchor_event"]


def test_an_honest_node_passes_the_same_bundle_through_both_verifiers(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """The other side of finding 1: the field-for-field comparison passes the real anchoring, in both verifiers."""
    _, _, path = two_batches(ledger, tmp_path, fresh_department)
    report = evidence.verify_bundle(path, ledger.chain)
    code, result, stderr = standalone(ledger, path)
    assert result is not None, stderr
    assert report.ok and code == 0, (report.to_json(), result)


def _swallowing(template: dict[str, Any]) -> tuple[Callable[[dict[str, Any]], bytes | None], Callable[..., Any]]:
    """A node that takes every transaction sent to it and never mines it (answering its hash), and answers any
    ``eth_getLogs`` asking for the ``BatchAnchored`` event of a root with ``template`` (a real anchoring of the same
    department, key and size, in a block deep enough) made that root's: its logs lie, its state (``batch``) does
    not."""
    block = int(template["blockNumber"], 16)

    def intercept(request: dict[str, Any]) -> bytes | None:
        if request.get("method") != "eth_sendRawTransaction":
            return None
        sent = "0x" + keccak(bytes.fromhex(str(request["params"][0])[2:])).hex()
        return json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": sent}).encode()

    def rewrite(method: str, params: Any, answer: Any) -> Any:
        if method == "eth_getLogs" and isinstance(answer.get("result"), list):
            query = params[0]
            topics = [str(t).lower() if isinstance(t, str) else None for t in query.get("topics") or []]
            asked = topics[1] if len(topics) > 1 else None
            inside = int(str(query.get("fromBlock", "0x0")), 16) <= block <= int(str(query.get("toBlock")), 16)
            if topics[:1] == [trail.BATCH_ANCHORED_TOPIC] and asked and asked != template["topics"][1] and inside:
                return {
                    **answer,
                    "result": [{**template, "topics": [template["topics"][0], asked, *template["topics"][2:]]}],
                }
        return answer

    return intercept, rewrite


def test_an_anchoring_made_up_in_the_logs_never_marks_a_batch_confirmed(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Finding 2 (medium): issuance's ``anchor_event`` (what ``confirm`` marks a batch confirmed by, and what the
    permits' and the reorganisation's checks ask) took the root's ``BatchAnchored`` event from the node's logs alone,
    read from the deployment to the head. A node swallowing the department's anchoring transaction and answering a
    made-up event for its root (another batch's, of the same key and size, renamed) had the ledger mark the batch
    confirmed, block and hash of the node's making, for a root the contract never recorded: certificates handed out
    as anchored that no verifier will find. The event is now held to the contract's record of the batch (its block,
    key and size), read in that block only; with no record there is no anchoring, and the batch is not confirmed."""
    (first,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    for _ in range(3):
        rpc(ledger, "evm_mine")
    template = _batch_log(ledger, fresh_department, first["anchor"]["root"].lower())
    intercept, rewrite = _swallowing(template)
    with RpcProxy(rpc_url(ledger), intercept=intercept, rewrite=rewrite) as node:
        settings = dataclasses.replace(ledger.settings, rpc_url=node.url, chain_timeout=3.0)
        lying = Ledger.open(settings, passphrase=PASSPHRASE)
        try:
            with pytest.raises(ChainError, match="confirmation"):
                issue(lying, tmp_path, fresh_department, make_records(1))
        finally:
            lying.close()
    with ledger.engine.connect() as conn:
        states = conn.execute(
            select(Batch.root, Batch.state).where(Batch.department_id == fresh_department)  # type: ignore[call-overload]
        ).all()
    dept = department_id_bytes(fresh_department)
    for root, state in states:
        recorded = int(ledger.chain.call(ledger.chain.anchor.functions.batch(dept, bytes.fromhex(root[2:])))[1])
        assert (state == BatchState.CONFIRMED) == (recorded != 0), (root, state, recorded)
    assert len(states) == 2


def _shadowed(root: str) -> Callable[[str, Any, Any], Any]:
    """A node adding to each ``eth_getLogs`` answer holding the ``BatchAnchored`` event of ``root`` a made-up one
    after it, in the same block: the same root, another certificate type."""

    def rewrite(method: str, _params: Any, answer: Any) -> Any:
        if method == "eth_getLogs" and isinstance(answer.get("result"), list):
            extra = [
                {**log, "data": log["data"][:66] + keccak(text="made-up-type").hex(), "logIndex": "0x7f"}
                for log in answer["result"]
                if str(log["topics"][0]).lower() == trail.BATCH_ANCHORED_TOPIC and log["topics"][1].lower() == root
            ]
            return {**answer, "result": answer["result"] + extra}
        return answer

    return rewrite


def test_a_made_up_anchoring_beside_the_real_one_does_not_speak_for_it_in_the_provenance_timeline(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Finding 3 (low): the provenance timeline read the batch's anchoring in the block the contract's record names
    and took the last event of the root there, whatever its key, size or type. A node adding a made-up anchoring of
    the same root after the real one (another certificate type) had the timeline of a genuine certificate say it was
    signed outside its department's authority. The event is now held to the record's key, size and type."""
    (doc,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    for _ in range(3):
        rpc(ledger, "evm_mine")
    now = datetime.now(UTC).replace(microsecond=0)
    honest = {e["kind"]: e for e in provenance.timeline(ledger, doc["digest"], now=now)["events"]}
    assert honest["signed"]["type_was_authorized"] is True, honest["signed"]
    with RpcProxy(rpc_url(ledger), rewrite=_shadowed(doc["anchor"]["root"].lower())) as node:
        lying = Ledger.open(dataclasses.replace(ledger.settings, rpc_url=node.url), passphrase=PASSPHRASE)
        try:
            shown = {e["kind"]: e for e in provenance.timeline(lying, doc["digest"], now=now)["events"]}
        finally:
            lying.close()
    assert shown["signed"] == honest["signed"], shown["signed"]
    assert shown["anchored"]["tx_hash"] == honest["anchored"]["tx_hash"], shown["anchored"]


TRAIL_READS = tuple(
    "0x" + keccak(text=signature)[:4].hex() for signature in ("anchoringTrail(bytes32)", "anchoringTrails()")
)


def _anchoring_after_the_trail_read(ledger: Ledger, tmp_path: Path, department: str) -> Callable[..., Any]:
    """A node answering the first read of an anchoring trail as it stood, then anchoring a batch of ``department``
    before anything else is asked (as a busy chain does between two requests, or a replica answering state a block
    behind its logs)."""
    fired: list[bool] = []

    def rewrite(method: str, params: Any, answer: Any) -> Any:
        if method == "eth_call" and not fired:
            data = str((params[0] or {}).get("data") or (params[0] or {}).get("input") or "").lower()
            if data.startswith(TRAIL_READS):
                fired.append(True)
                issue(ledger, tmp_path, department, make_records(1))
        return answer

    return rewrite


def test_a_batch_anchored_right_after_the_trail_is_read_fails_no_reader_and_both_verifiers_agree(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Finding 4 (low): the library's readers of batch streams (``trail.batch_events``: the bundle check, reconcile,
    the vault's probe) read the anchoring trail first and the head after it, reading the events up to that head: a
    batch anchored between the two (a department issuing while a bundle is verified, or a node answering state a
    block behind its logs) was in the events and not in the trail, and the bundle failed ``anchor_event`` as a node
    "leaving out, making up or moving" batches, while the court's verifier, bounding its read by the head it read
    before the trail, verified it. The head is now read before the trail, as the court reads it, so the events are
    read up to a block the trail already covers, and both verify."""
    _, _, path = two_batches(ledger, tmp_path, fresh_department)
    dept = department_id_bytes(fresh_department)
    with RpcProxy(rpc_url(ledger), rewrite=_anchoring_after_the_trail_read(ledger, tmp_path, fresh_department)) as node:
        trail.batch_events(_lying(ledger, node.url), department_id=dept, what="the batches")
    with RpcProxy(rpc_url(ledger), rewrite=_anchoring_after_the_trail_read(ledger, tmp_path, fresh_department)) as node:
        trail.batch_events(_lying(ledger, node.url), what="every batch")
    with RpcProxy(rpc_url(ledger), rewrite=_anchoring_after_the_trail_read(ledger, tmp_path, fresh_department)) as node:
        report = evidence.verify_bundle(path, _lying(ledger, node.url))
    with RpcProxy(rpc_url(ledger), rewrite=_anchoring_after_the_trail_read(ledger, tmp_path, fresh_department)) as node:
        code, result, stderr = standalone(ledger, path, rpc=node.url)
    assert result is not None, stderr
    assert report.ok and code == 0, (report.to_json(), result)
    assert trail.stated_anchoring(ledger.chain, dept).changes == 6  # each reader saw a batch anchored mid-read


def test_the_kept_proofs_map_pointed_at_another_proof_neither_proves_it_nor_hides_the_right_one(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: an insider editing the kept proofs file of the latest checkpoint (``state-<hash>.json``), the node
    keeping no older state. Finding 5 (low): the file's department -> proof map was followed alone: pointed at
    another proof (the previous checkpoint's, appended, before a revocation), only that one was tried and, failing,
    the department's trails were "not proven" although the file held their proof: ``witnessed`` failed for every
    certificate of the department, as deleting the file would, but through an edit no reader could tell from a
    node's failure. The map is now a hint: the named proof first, then the others; the earlier state's proof never
    proves the latest block's trails, so the attack proves nothing either way."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    for target, config, first, second in checkpoints_around_a_revocation(ledger, tmp_path, fresh_department):
        directory = ledger.settings.data_dir / "witness"
        old = json.loads((directory / f"state-{first.checkpoint.hash_hex}.json").read_text(encoding="utf-8"))
        new_path = directory / f"state-{second.checkpoint.hash_hex}.json"
        honest = json.loads(new_path.read_text(encoding="utf-8"))
        key = "0x" + department_id_bytes(fresh_department).hex()

        def witnessed(trusted: wclient.WitnessConfig = config, target: dict[str, Any] = target) -> Any:
            view = ChainView(ledger.chain)
            view.witness = wclient.WitnessView(ledger.chain, trusted, None, ledger.settings.data_dir)
            return {c.name: c for c in verify_certificate(target, view).checks}["witnessed"]

        assert witnessed().ok
        edited = {
            **honest,
            "proofs": [*honest["proofs"], *old["proofs"]],
            "departments": {**honest["departments"], key: len(honest["proofs"])},
        }
        new_path.write_text(json.dumps(edited), encoding="utf-8")
        check = witnessed()
        assert check.ok, check  # proven from the right proof the file still holds, never from the earlier one
        only_old = {**honest, "proofs": old["proofs"], "departments": {key: 0}}
        new_path.write_text(json.dumps(only_old), encoding="utf-8")
        check = witnessed()
        assert not check.ok and "could not be proven" in check.detail, check


def _reshaped(how: str) -> Callable[[str, Any, Any], Any]:
    """A node answering each ``eth_getLogs`` of batch events with them reversed, with each one twice, or with each
    one also in the answer to the query after (the next range of a read in ranges, with its true block: the node's
    claim that it belongs to both; the court, reading a department's events in one range, gets them twice)."""
    previous: list[dict[str, Any]] = []

    def rewrite(method: str, params: Any, answer: Any) -> Any:
        if method != "eth_getLogs" or not isinstance(answer.get("result"), list):
            return answer
        logs = [log for log in answer["result"] if str(log["topics"][0]).lower() == trail.BATCH_ANCHORED_TOPIC]
        if how == "reversed":
            return {**answer, "result": logs[::-1]}
        if how == "twice":
            return {**answer, "result": [log for log in logs for _ in range(2)]}
        carried = list(previous)
        previous[:] = logs
        return {**answer, "result": carried + logs}

    return rewrite


@pytest.mark.parametrize("how", ["reversed", "twice", "in two ranges"])
def test_batch_events_reordered_duplicated_or_split_across_ranges_read_alike_in_both_verifiers(
    ledger: Ledger, tmp_path: Path, fresh_department: str, how: str
) -> None:
    """Attacks that fail: the node answers the batch events reversed (read in chain order all the same: the trail
    agrees and both verifiers verify), each twice, or each also in the next range it is asked for (the library's
    ranges of one block): the readers refuse the last two, the library's and the court's alike."""
    _, _, path = two_batches(ledger, tmp_path, fresh_department)
    dept = department_id_bytes(fresh_department)
    with RpcProxy(rpc_url(ledger), rewrite=_reshaped(how)) as node:
        narrow = Chain(
            connect(node.url),
            ledger.chain.deployment,
            gas_price=0,
            artifacts=ledger.chain.artifacts,
            log_span=1 if how == "in two ranges" else 10_000,
        )
        if how == "reversed":
            events = trail.batch_events(narrow, department_id=dept, what="the batches")
            assert [(e.block, e.log_index) for e in events] == sorted((e.block, e.log_index) for e in events)
        else:
            with pytest.raises(ChainError, match=r"anchoring trail|asked for"):
                trail.batch_events(narrow, department_id=dept, what="the batches")
        report = evidence.verify_bundle(path, narrow)
    with RpcProxy(rpc_url(ledger), rewrite=_reshaped(how)) as node:
        code, result, stderr = standalone(ledger, path, rpc=node.url)
    assert result is not None, stderr
    court = code == 0 and "anchor_event" not in failed_names(result)
    library = {c.name: c.ok for c in report.checks}["anchor_event"]
    assert court == library == (how == "reversed"), (report.to_json(), result)


def _made_up_before(block: int, template: dict[str, Any]) -> Callable[[str, Any, Any], Any]:
    """A node adding to its answer for the range holding ``block`` a batch event of ``template``'s department made
    up in that block (another root), every other answer honest."""
    made_up = {
        **template,
        "topics": [template["topics"][0], "0x" + "cd" * 32, *template["topics"][2:]],
        "blockNumber": hex(block),
        "logIndex": "0x0",
    }

    def rewrite(method: str, params: Any, answer: Any) -> Any:
        if method == "eth_getLogs" and isinstance(answer.get("result"), list):
            query = params[0]
            topics = [str(t).lower() if isinstance(t, str) else None for t in query.get("topics") or []]
            asked_for_dept = len(topics) > 2 and topics[2] == template["topics"][2].lower()
            inside = int(str(query.get("fromBlock")), 16) <= block <= int(str(query.get("toBlock")), 16)
            if topics[:1] == [trail.BATCH_ANCHORED_TOPIC] and asked_for_dept and inside and topics[1] is None:
                return {**answer, "result": [made_up, *answer["result"]]}
        return answer

    return rewrite


def test_a_batch_event_made_up_before_the_departments_registration_gets_one_verdict_from_both_verifiers(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Finding 6 (low): the court's verifier reads the issuing department's batch events from its registration
    (as both read its status events: round 68), the library's bundle check from the deployment. A node adding a batch
    event made up before the registration (where the department can have none) had the library fail the bundle's
    ``anchor_event`` and the court verify it: one bundle, two verdicts. The library now reads a department's batch
    events from its registration too: the event is outside every read, and both verify the genuine bundle."""
    _, first_root, path = two_batches(ledger, tmp_path, fresh_department)
    template = _batch_log(ledger, fresh_department, first_root)
    dept = department_id_bytes(fresh_department)
    periods = ledger.chain.call(ledger.chain.registry.functions.statusHistory(dept))
    registered = min(int(period[2]) for period in periods)
    assert registered > int(ledger.chain.deployment.deployed_block)
    with RpcProxy(rpc_url(ledger), rewrite=_made_up_before(registered - 1, template)) as node:
        report = evidence.verify_bundle(path, _lying(ledger, node.url))
        code, result, stderr = standalone(ledger, path, rpc=node.url)
    assert result is not None, stderr
    library = {c.name: c for c in report.checks}["anchor_event"]
    assert code == 0 and "anchor_event" not in failed_names(result), result
    assert library.ok, library
