"""Red team round 75: the state proofs (sp1) that tie a witnessed block to the issuer's status trail.

The adversary is the chain's operator, a node answering every JSON-RPC method as it likes: here it answers the
reads the state proof checks (the department's status events up to the witnessed block) honestly, and the reads the
status verdict is made of (``statusOf``, ``endedUnder``, ``heldUnder``; the department's events up to the head, with
``statusTrail`` to match) as if a revocation had never happened. A verifier that proves the trail from one answer
and takes the verdict from another is told nothing by the proof.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak

from ledger.client import Ledger
from ledger.onchain.chain import Chain, connect
from ledger.onchain.ids import department_id_bytes
from ledger.onchain.node import BLOCK_TIME
from ledger.services import status
from ledger.services.verify import ChainView, verify_certificate, verify_many
from ledger.services.witness import client as wclient

from .cli_support import drop_older_states, rpc
from .conftest import PASSPHRASE, make_records
from .evidence_support import issue, rpc_url
from .foundation_support import reanchored
from .rpc_proxy import RpcProxy
from .witness_support import altered_account_proof, checkpoints_around_a_revocation, serve_witness

REVOKED_TOPIC = "0x" + keccak(text="CertificateRevoked(bytes32,bytes32,bytes32,uint8)").hex()


def _stale_answers(ledger: Ledger, target: dict[str, Any], department: str) -> dict[str, str]:
    """The node's ``eth_call`` answers about ``target`` as they are now (before its revocation), by call data."""
    dept = department_id_bytes(department)
    root, digest = bytes.fromhex(target["anchor"]["root"][2:]), bytes.fromhex(target["digest"][2:])
    fns = ledger.chain.anchor.functions
    calls = [fns.statusTrail(dept), fns.statusOf(dept, root, digest), fns.endedUnder(dept, digest)]
    calls += [fns.heldUnder(dept, digest), fns.statusTrails()]
    return {fn._encode_transaction_data().lower(): "0x" + ledger.chain.call_data(fn).hex() for fn in calls}


def _split_liar(before: dict[str, str], digest: str, witnessed: int) -> tuple[Any, Any]:
    """A node answering its ``eth_call`` reads from ``before`` and leaving the revocation of ``digest`` out of every
    ``eth_getLogs`` answer but those ending at block ``witnessed`` (the state proof's read); every other answer is
    the real node's."""

    def rewrite(method: str, params: Any, answer: Any) -> Any:
        if method == "eth_call":
            data = str((params[0] or {}).get("data") or (params[0] or {}).get("input") or "").lower()
            if data in before:
                return {**answer, "result": before[data]}
        if (
            method == "eth_getLogs"
            and isinstance(answer.get("result"), list)
            and int(params[0]["toBlock"], 16) != witnessed
        ):
            kept = [
                log
                for log in answer["result"]
                if not (log["topics"][0].lower() == REVOKED_TOPIC and log["topics"][1].lower() == digest)
            ]
            return {**answer, "result": kept}
        return answer

    def rewrite_batch(requests: list[Any], answers: Any) -> Any:
        asked = {r["id"]: r for r in requests}
        return [rewrite(asked[a["id"]]["method"], asked[a["id"]]["params"], a) for a in answers]

    return rewrite, rewrite_batch


@pytest.mark.parametrize("lookup", ["direct", "herd"])
def test_a_node_proving_the_trail_honestly_but_answering_the_status_from_another_state_fails_witnessed(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch, lookup: str
) -> None:
    """Adversary: the chain's operator. The witnessed check proves the department's status trail at the witnessed
    block and requires the node's events up to that block to hash to it; the status verdict is read apart from
    them: ``statusOf`` (direct lookup), or the events up to the head checked against ``statusTrail`` at the head
    (herd). The node answers the events the proof reads (``toBlock`` the witnessed block) honestly and the others,
    and every ``eth_call``, as before the certificate's revocation: the status check said valid and ``witnessed``
    passed, a revoked licence VERIFIED although a quorum cosigned a block after its revocation. ``witnessed`` must
    fail: the verdict must be the one the proven events give."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    before = _stale_answers(ledger, target, fresh_department)
    status.revoke(ledger, target["digest"], "fraud")
    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        collected = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
        assert collected.witnessed and collected.checkpoint is not None
        height = collected.checkpoint.checkpoint.height
        for _ in range(2):  # the head moves on: the proof's read of events ends at the witnessed block, the rest not
            rpc(ledger, "evm_mine")
        rewrite, rewrite_batch = _split_liar(before, target["digest"], height)
        with RpcProxy(rpc_url(ledger), rewrite=rewrite, rewrite_batch=rewrite_batch) as node:
            lying = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
            view = ChainView(lying, status_lookup=lookup)
            view.witness = wclient.WitnessView(lying, config, None, ledger.settings.data_dir)
            report = verify_certificate(target, view)
            checks = {c.name: c for c in report.checks}
            assert checks["status"].ok, report.to_json()  # the lie itself: believed by the status check
            assert not checks["witnessed"].ok, report.to_json()
            assert "revoked" in checks["witnessed"].detail, report.to_json()
            # the gateway's way: one long-lived view, past INDEX_AFTER lookups the status index answers; one verdict
            for report in verify_many([target] * 20, view):
                checks = {c.name: c for c in report.checks}
                assert checks["status"].ok and not checks["witnessed"].ok, report.to_json()


def test_honest_statuses_of_every_kind_pass_witnessed_with_every_lookup(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: none (a false failure is a finding too). The verdict of every status a department can give
    (revoked; suspended and reinstated; suspended; superseded, and its successor; never changed; a digest anchored
    again whose first anchoring was suspended or revoked) is the one the proven events give, with the direct lookup,
    the herd read and the status index (verify_many's), the checkpoint taken at the head just after the last
    change."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    targets = issue(ledger, tmp_path, fresh_department, make_records(7))
    revoked, back, held, old, new, first_held, first_ended = (t["digest"] for t in targets)
    copies = [reanchored(ledger, fresh_department, t) for t in targets[5:]]
    status.suspend(ledger, first_held, "under-investigation")
    status.revoke(ledger, first_ended, "fraud")
    status.revoke(ledger, revoked, "fraud")
    status.suspend(ledger, back, "under-investigation")
    status.reinstate(ledger, back, "grounds-resolved")
    status.suspend(ledger, held, "under-investigation")
    status.supersede(ledger, old, new)
    expected = {revoked: "revoked", back: "valid", held: "suspended", old: "superseded", new: "valid"}
    expected |= {first_held: "suspended", first_ended: "revoked"}
    targets += copies  # the same digests under roots of their own: suspended and revoked under the first one
    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        collected = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
        assert collected.witnessed and collected.checkpoint is not None
        for lookup in ("direct", "herd"):
            view = ChainView(ledger.chain, status_lookup=lookup)
            view.witness = wclient.WitnessView(ledger.chain, config, None, ledger.settings.data_dir)
            for target in targets:
                report = verify_certificate(target, view)
                checks = {c.name: c for c in report.checks}
                assert checks["witnessed"].ok, (lookup, report.to_json())
                assert report.facts["status"] == expected[target["digest"]]
            indexed = ChainView(ledger.chain, status_lookup=lookup)
            indexed.witness = wclient.WitnessView(ledger.chain, config, None, ledger.settings.data_dir)
            for report in verify_many(targets * 4, indexed):  # past INDEX_AFTER lookups: the index answers
                checks = {c.name: c for c in report.checks}
                assert checks["witnessed"].ok, (lookup, report.to_json())


def test_a_block_mined_while_collect_reads_the_proofs_does_not_leave_the_checkpoint_unprovable(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: none, the embedded node's own timing (a false failure on an honest chain is a finding too). The
    node mines a block every second and keeps the head's state only; ``ledger witness collect`` reads the proofs of
    the block it is about to have cosigned a few JSON-RPC calls after choosing it. A block landing in between left
    the checkpoint with no kept proofs, the node could no longer give them, and every witnessed verification failed
    until the next checkpoint. Collect must read the proofs of a block whose state the node still has."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.revoke(ledger, target["digest"], "fraud")
    mined: list[int] = []

    def a_block_lands(request: dict[str, Any]) -> None:
        if request.get("method") == "eth_getProof" and not mined:
            mined.append(int(rpc(ledger, "eth_blockNumber"), 16) + 1)
            rpc(ledger, "evm_mine")  # the second's block, mined between choosing the block and reading its proofs
        return None

    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        rpc(ledger, "evm_setIntervalMining", 0)
        try:
            with RpcProxy(rpc_url(ledger), intercept=a_block_lands) as node:
                chain = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
                collected = wclient.collect(chain, ledger.settings.data_dir, config)
        finally:
            rpc(ledger, "evm_setIntervalMining", BLOCK_TIME)
        assert mined and collected.witnessed and collected.checkpoint is not None
        view = ChainView(ledger.chain)
        view.witness = wclient.WitnessView(ledger.chain, config, None, ledger.settings.data_dir)
        checks = {c.name: c for c in verify_certificate(target, view).checks}
        assert not checks["status"].ok and checks["witnessed"].ok, checks


def test_proofs_read_slower_than_a_block_at_every_try_leave_no_checkpoint_unprovable(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: none, the embedded node's own timing, as above, at scale (ci9). ``collect`` reads the proofs of
    every registered department's trails and registry history at the block it chose; on a bare pytest's session
    chain (some fifty departments) that took 0.5-2 s a try, and each of the three heads it tries was gone before its
    proofs were read: the checkpoint was kept without them and witnessed verifications failed until a checkpoint
    was collected at a quieter moment. Here a block lands during every proof read (the node's control, not a clock):
    the witnessed block must still be one whose proofs are kept."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.revoke(ledger, target["digest"], "fraud")
    mined: list[int] = []

    def a_block_lands(request: dict[str, Any]) -> None:
        if request.get("method") == "eth_getProof":
            mined.append(int(rpc(ledger, "eth_blockNumber"), 16) + 1)
            rpc(ledger, "evm_mine")  # the read outlasts the second: the next block comes before its answer
        return None

    for running, url in serve_witness(ledger, tmp_path):  # mining on transactions only: the blocks above are all
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        with RpcProxy(rpc_url(ledger), intercept=a_block_lands) as node:
            chain = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
            collected = wclient.collect(chain, ledger.settings.data_dir, config)
        assert len(mined) >= wclient.STATE_TRIES and collected.witnessed and collected.checkpoint is not None
        view = ChainView(ledger.chain)
        view.witness = wclient.WitnessView(ledger.chain, config, None, ledger.settings.data_dir)
        checks = {c.name: c for c in verify_certificate(target, view).checks}
        assert not checks["status"].ok and checks["witnessed"].ok, checks


def test_a_checkpoint_collected_below_the_head_for_finality_keeps_its_proofs(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: none, the embedded node's own state keeping (a false failure on an honest chain is a finding too).
    With ``finality`` F above 0 ``collect`` asks for a checkpoint F blocks below the head; the embedded node kept the
    head's state only, so such a checkpoint was cosigned with no proofs and every witnessed verification failed for
    want of them (open since red team round 75: "use finality 0 with the embedded node"). The node now keeps the
    states of ``STATE_HISTORY`` blocks below its head: the proofs are read and kept with the checkpoint, and a
    verification after the node has dropped that block's state proves the revocation from them."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    finality = 3
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.revoke(ledger, target["digest"], "fraud")
    for running, url in serve_witness(ledger, tmp_path):  # mining on transactions only: the blocks below are all
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, finality)
        for _ in range(finality):  # the revocation's block F deep
            rpc(ledger, "evm_mine")
        head = ledger.chain.block_number()
        collected = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
        assert collected.witnessed and collected.checkpoint is not None
        checkpoint = collected.checkpoint.checkpoint
        assert checkpoint.height == head - finality
        assert (ledger.settings.data_dir / "witness" / f"state-{checkpoint.hash_hex}.json").exists()
        drop_older_states(ledger)  # the node keeps no state of the witnessed block: only the kept proofs prove it
        view = ChainView(ledger.chain)
        view.witness = wclient.WitnessView(ledger.chain, config, None, ledger.settings.data_dir)
        checks = {c.name: c for c in verify_certificate(target, view).checks}
        assert not checks["status"].ok and checks["witnessed"].ok, checks


def test_kept_proofs_deleted_swapped_or_replayed_fail_witnessed_closed(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: an insider with write access to the data directory, the node keeping no older state (the embedded
    node). Two checkpoints were collected, a revocation between them. The latest one's kept proofs are deleted,
    replaced by the earlier checkpoint's file (under the latest's name, then with its hash edited to the latest's),
    or given the earlier checkpoint's proofs under the latest's header: ``witnessed`` fails each time with a message
    that names the missing or unproven state, and never passes on the proofs of the state before the revocation."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    for target, config, first, second in checkpoints_around_a_revocation(ledger, tmp_path, fresh_department):
        directory = ledger.settings.data_dir / "witness"
        old = directory / f"state-{first.checkpoint.hash_hex}.json"
        new = directory / f"state-{second.checkpoint.hash_hex}.json"
        honest_old, honest_new = old.read_text(), new.read_text()

        def witnessed(trusted: wclient.WitnessConfig = config, target: dict[str, Any] = target) -> Any:
            view = ChainView(ledger.chain)
            view.witness = wclient.WitnessView(ledger.chain, trusted, None, ledger.settings.data_dir)
            return {c.name: c for c in verify_certificate(target, view).checks}["witnessed"]

        assert witnessed().ok
        new.unlink()
        assert not witnessed().ok and "no proof of it was kept" in witnessed().detail
        new.write_text(honest_old)  # the earlier checkpoint's file under the latest's name
        assert not witnessed().ok and "no proof of it was kept" in witnessed().detail
        new.write_text(honest_old.replace(first.checkpoint.hash_hex, second.checkpoint.hash_hex))
        assert not witnessed().ok and "kept proof does not prove it" in witnessed().detail
        kept_old, kept_new = json.loads(honest_old), json.loads(honest_new)
        new.write_text(json.dumps({**kept_new, "proofs": kept_old["proofs"]}))  # the latest header, older proofs
        check = witnessed()
        assert not check.ok and "not the one its parent" in check.detail, check
        new.write_text(honest_new)
        assert witnessed().ok


def test_a_node_failing_its_proof_costs_a_batch_one_proof_read_per_department_not_per_certificate(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: the chain's operator answering ``eth_getProof`` with an altered proof, no kept proofs to fall back
    on (a checkpoint collected through another node): each verification of a batch asked the node for a header and
    a proof again, and checked it, however many certificates of one department the batch held (a failure was not
    kept). Work the node makes the verifier do must not grow with the certificates of one department; the node is
    asked again once ``PROOF_RETRY_SECONDS`` have passed (a node's passing failure does not last)."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    targets = issue(ledger, tmp_path, fresh_department, make_records(8))

    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        rpc(ledger, "evm_setIntervalMining", 0)
        try:
            collected = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
            assert collected.witnessed and collected.checkpoint is not None
            with RpcProxy(rpc_url(ledger), rewrite=altered_account_proof) as node:
                lying = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
                view = ChainView(lying)
                now = [0.0]
                clock = functools.partial(now.__getitem__, 0)
                view.witness = wclient.WitnessView(lying, config, collected.checkpoint, clock=clock)
                reports = verify_many(targets * 4, view)
                for report in reports:
                    checks = {c.name: c for c in report.checks}
                    assert not checks["witnessed"].ok and "could not be proven" in checks["witnessed"].detail
                assert node.methods["eth_getProof"] <= 1, node.methods
                now[0] += wclient.PROOF_RETRY_SECONDS
                checks = {c.name: c for c in verify_certificate(targets[0], view).checks}
                assert not checks["witnessed"].ok and node.methods["eth_getProof"] == 2, node.methods
        finally:
            rpc(ledger, "evm_setIntervalMining", BLOCK_TIME)


def test_a_node_dating_an_anchoring_before_the_witnessed_block_fails_witnessed(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: the chain's operator. A batch anchored after the latest witnessed checkpoint is "not witnessed
    yet"; the node answers ``batch(department, root)`` with an anchoring block below the checkpoint, every other
    answer honest, so ``witnessed`` vouched for an anchoring no quorum has seen (a certificate the operator could
    still drop or rewrite unseen). Since CertificateAnchor 4.2.0 the department's anchoring trail is proven at the
    checkpoint, and a batch dated at or below it must be among the batch events that hash to it."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    issue(ledger, tmp_path, fresh_department, make_records(1))  # the department has a batch before the checkpoint
    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        collected = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
        assert collected.witnessed and collected.checkpoint is not None
        height = collected.checkpoint.checkpoint.height
        (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
        dept = department_id_bytes(fresh_department)
        asked = ledger.chain.anchor.functions.batch(dept, bytes.fromhex(target["anchor"]["root"][2:]))
        data = asked._encode_transaction_data().lower()
        honest = ledger.chain.call_data(asked)
        dated = "0x" + (honest[:32] + height.to_bytes(32, "big") + honest[64:]).hex()

        def earlier(method: str, params: Any, answer: Any, forged: tuple[str, str] = (data, dated)) -> Any:
            if method == "eth_call":
                sent = str((params[0] or {}).get("data") or (params[0] or {}).get("input") or "").lower()
                if sent == forged[0]:
                    return {**answer, "result": forged[1]}
            return answer

        with RpcProxy(rpc_url(ledger), rewrite=earlier) as node:
            lying = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
            view = ChainView(lying)
            view.witness = wclient.WitnessView(lying, config, None, ledger.settings.data_dir)
            report = verify_certificate(target, view)
            checks = {c.name: c for c in report.checks}
            assert checks["anchored"].ok, report.to_json()  # the lie itself: the batch's record is the node's word
            assert not checks["witnessed"].ok and "do not hold it" in checks["witnessed"].detail, report.to_json()


@pytest.mark.parametrize("lookup", ["direct", "herd"])
def test_a_verdict_as_of_a_moment_before_the_witnessed_block_is_held_to_the_proven_events(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch, lookup: str
) -> None:
    """Adversary: the chain's operator, as in the first test of this module, asked about a moment (``--at``) after a
    revocation and before the latest witnessed block: it answers ``statusAt`` (direct lookup) or the events up to
    the head (herd) as if the revocation had never happened, and the events the proof reads honestly. The verdict
    at that moment must be the one the proven events up to the moment's block give, or ``witnessed`` fails."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    before = _stale_answers(ledger, target, fresh_department)
    status.revoke(ledger, target["digest"], "fraud")
    revoked_at = int(ledger.chain.w3.eth.get_block("latest")["timestamp"])
    rpc(ledger, "evm_increaseTime", 5)  # the node's clock, no sleeping: the witnessed block comes seconds later
    rpc(ledger, "evm_mine")
    moment = revoked_at + 2
    dept = department_id_bytes(fresh_department)
    root, digest = bytes.fromhex(target["anchor"]["root"][2:]), bytes.fromhex(target["digest"][2:])
    asked = ledger.chain.anchor.functions.statusAt(dept, root, digest, moment)
    before[asked._encode_transaction_data().lower()] = "0x" + "00" * 32  # valid
    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        collected = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
        assert collected.witnessed and collected.checkpoint is not None
        height = collected.checkpoint.checkpoint.height
        for _ in range(2):
            rpc(ledger, "evm_mine")
        rewrite, rewrite_batch = _split_liar(before, target["digest"], height)
        with RpcProxy(rpc_url(ledger), rewrite=rewrite, rewrite_batch=rewrite_batch) as node:
            lying = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
            view = ChainView(lying, status_lookup=lookup)
            view.witness = wclient.WitnessView(lying, config, None, ledger.settings.data_dir)
            report = verify_certificate(target, view, at=datetime.fromtimestamp(moment, UTC))
            checks = {c.name: c for c in report.checks}
            assert checks["status"].ok, report.to_json()  # the lie, believed by the status check
            assert not checks["witnessed"].ok and "revoked" in checks["witnessed"].detail, report.to_json()
        honest = ChainView(ledger.chain, status_lookup=lookup)
        honest.witness = wclient.WitnessView(ledger.chain, config, None, ledger.settings.data_dir)
        for at in (moment, revoked_at - 60):  # revoked by then, valid before: both witnessed
            checks = {c.name: c for c in verify_certificate(target, honest, at=datetime.fromtimestamp(at, UTC)).checks}
            assert checks["witnessed"].ok and checks["status"].ok == (at < revoked_at), checks
