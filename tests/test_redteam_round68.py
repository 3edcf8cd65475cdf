"""Red team, round 68: the chain's operator rewriting history, and a holder editing their document.

1. Found, fixed by CertificateAnchor 4.1.0 (the chain's operator, or a node replica whose log index lags its
   blocks): answer ``eth_getLogs`` with the revocation of a certificate left out, every other answer honest. The
   status of a certificate is read without telling the node which certificate is checked (``status_lookup="herd"``,
   the default of ``ledger verify``, ``verify_many``, the gateway's index and the court's verifier): the issuer's
   whole status event stream from ``eth_getLogs``, and nothing said whether it was whole. So ``ledger verify`` and
   ``verify_many`` said VERIFIED for the revoked certificate, and a bundle restating it as valid was VERIFIED by
   both bundle verifiers, where the direct lookup (``statusOf``) says revoked. The same held for an event moved to
   another block within the range read and for one made up. CertificateAnchor 4.1.0 keeps each department's
   status trail, the running hash of its status changes (``statusTrail``, ledger/onchain/trail.py), and every
   reader recomputes it from the events it got and refuses a stream that does not reproduce it
   (tests/test_status_trail.py for the moved and made-up events and every reader).

2. Found, fixed (the same, or only a replica whose log index lags its blocks): the revocation left out until
   its block is past the finality margin, then the node honest: the gateway's long-lived view reads final blocks
   once and kept them, so it called the certificate valid for good where every fresh verifier said revoked. It
   reads every status event again once ``verify.FULL_RESYNC_SECONDS`` (an hour) have passed since its last whole
   read, and since 4.1.0 its sync refuses such an answer at once (the status trail) and keeps nothing of it.

3. Found (the chain's operator): the same certificate's last suspension moved to a block before its department
   was registered. The court's verifier reads a department's status events from its registration on and refused
   the answer, while the library read from the deployment on and said VERIFIED (``ledger verify``, ``verify_many``,
   ``ledger evidence verify`` of a bundle restating the certificate as valid): two verdicts. The library now reads
   from the registration too, and its status index (and the status history replay and ``ledger reconcile`` read)
   refuses a status event older than its department.

Held, tried without a test of its own (a holder editing their document): a W3C credential given a second proof (the
genuine one first or last, or an empty one), an extra ``@context`` entry (a URL, or an object setting ``@vocab``),
a ``name``, ``description``, ``id``, ``evidence``, ``relatedResource`` or ``credentialSchema`` member, the subject or
issuer given a name or an id, a status entry of another certificate's list added or put in place of its own: each
refused by ``ledger verify``, ``POST /verify`` and ``POST /public/verify``. A presentation with another
certificate's hidden field hash, a salt of another certificate, or a field both disclosed and hidden: refused by
the three. Numbers respelt with the same value (``100`` as ``100.0``, ``1e2``, ``1E2``, ``1.00e2``; ``0`` as ``-0``,
``0.0``, ``0e5``; ``0.5`` as ``5e-1``; ``1e+20`` as ``100000000000000000000.0``) verify alike in the three and in
both bundle verifiers: canonical JSON writes one text for each value, which the digest commits to.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak

from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.onchain.chain import Chain, connect
from ledger.onchain.chainread import Finality
from ledger.onchain.ids import department_id_bytes
from ledger.services import evidence, status, verify
from ledger.services.verify import ChainView, verify_certificate, verify_many

from .conftest import make_records
from .evidence_support import failed_names, issue, rpc_url, standalone, suspended_again
from .rpc_proxy import RpcProxy

REVOKED_TOPIC = "0x" + keccak(text="CertificateRevoked(bytes32,bytes32,bytes32,uint8)").hex()
SUSPENDED_TOPIC = "0x" + keccak(text="CertificateSuspended(bytes32,bytes32,bytes32,uint8)").hex()


def _mine(ledger: Ledger, blocks: int) -> None:
    for _ in range(blocks):
        ledger.chain.w3.provider.make_request("evm_mine", [])


def _without_revocations(method: str, _params: Any, answer: Any) -> Any:
    """The node's answer with every CertificateRevoked event left out of ``eth_getLogs``, nothing else changed."""
    if method == "eth_getLogs" and isinstance(answer.get("result"), list):
        answer["result"] = [log for log in answer["result"] if log["topics"][0].lower() != REVOKED_TOPIC]
    return answer


def test_a_node_leaving_a_revocation_out_of_its_logs_is_not_believed_by_the_herd_read(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """The chain's operator (or a replica whose log index lags) answers ``eth_getLogs`` without the revocation of a
    certificate and every other request honestly: no verifier may call the revoked certificate valid."""
    target, _ = issue(ledger, tmp_path, fresh_department, make_records(2))
    status.revoke(ledger, target["digest"], "fraud")
    forged = evidence.certificate_bundle(ledger, target)
    forged["status"] = {"status": "valid", "changed_in_block": None, "detail": None, "reason": None}
    path = tmp_path / "restated-valid.json"
    path.write_text(json.dumps(forged), encoding="utf-8")

    with RpcProxy(rpc_url(ledger), rewrite=_without_revocations) as node:
        chain = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
        # the direct lookup names the certificate to the node, and reads the contract's state: revoked
        direct = verify_certificate(target, ChainView(chain, status_lookup="direct"))
        assert {c.name for c in direct.failed} == {"status"}, direct.to_json()
        # the default read, which tells the node nothing, must not say valid either
        assert not verify_certificate(target, ChainView(chain)).ok
        assert not verify_many([target], ChainView(chain))[0].ok
        assert not evidence.verify_bundle(path, chain).ok
        code, result, stderr = standalone(ledger, path, rpc=node.url)
        assert result is not None, stderr
        assert code == 1 and failed_names(result), result


def test_a_revocation_left_out_until_final_is_not_kept_valid_by_a_long_lived_view(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chain's operator, or only a replica behind the gateway's node URL whose log index lags its blocks, leaves
    a revocation out of ``eth_getLogs`` until its block is past the finality margin, then answers honestly. The
    gateway's view read final blocks once and kept them, so it called the certificate valid for good where every
    fresh verifier said revoked. Since CertificateAnchor 4.1.0 the view's sync refuses the answer at once (the
    events do not hash to the department's status trail) and keeps nothing of it; once the node answers honestly
    the next sync reads the revocation. The hourly full read (``FULL_RESYNC_SECONDS``) stays as a second line."""
    target, _ = issue(ledger, tmp_path, fresh_department, make_records(2))
    lying = [False]

    def rewrite(method: str, params: Any, answer: Any) -> Any:
        return _without_revocations(method, params, answer) if lying[0] else answer

    with RpcProxy(rpc_url(ledger), rewrite=rewrite) as node:
        chain = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
        view = ChainView(chain, ledger.settings.confirmations, max_head_age=3600.0)
        view.refresh()
        assert verify_many([target], view)[0].ok
        lying[0] = True  # from here on (an earlier revocation of the department would be left out, and refused, too)
        status.revoke(ledger, target["digest"], "fraud")
        revoked_in = ledger.chain.block_number()
        _mine(ledger, Finality(ledger.settings.confirmations).reorg_depth + 2)
        with pytest.raises(ChainError, match="status trail"):
            view.refresh()  # the revocation's block is final now: the answer without it is refused, not kept
        # the view answers as of the last head it could read whole, before the revocation, or not at all
        kept = verify_many([target], view)[0]
        assert not kept.ok or (kept.as_of_block is not None and kept.as_of_block < revoked_in), kept.to_json()
        assert not verify_many([target], ChainView(chain))[0].ok  # a fresh view: refused
        lying[0] = False  # the node answers honestly from here on
        _mine(ledger, 1)
        view.refresh()
        assert {c.name for c in verify_many([target], view)[0].failed} == {"status"}
        monkeypatch.setattr(verify, "FULL_RESYNC_SECONDS", 0.0)  # the hourly full read agrees
        view.refresh()
        assert {c.name for c in verify_many([target], view)[0].failed} == {"status"}


def test_the_hourly_full_read_holds_up_no_sync_of_the_view(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An anonymous client's public verification waits for the gateway view's sync when its head is stale; the
    hourly full read of every status event (``FULL_RESYNC_SECONDS``, above) held the view's lock for its whole read
    - every range of the chain, seconds to minutes on a long one - so once an hour every verification waited with
    it. The full read runs beside the syncs: while it is held up at the node, a sync to a newer head reads the
    revocation made meanwhile and returns; the full read's index then replaces the kept one, brought up to the
    newest head (lead's follow-up of round 68)."""
    target, _ = issue(ledger, tmp_path, fresh_department, make_records(2))
    deployed = hex(int(ledger.chain.deployment.deployed_block))
    armed, entered, release = threading.Event(), threading.Event(), threading.Event()

    def hold_the_full_read(request: dict[str, Any]) -> None:
        query = (request.get("params") or [None])[0]
        from_deployment = isinstance(query, dict) and query.get("fromBlock") == deployed  # only the full read
        if armed.is_set() and request.get("method") == "eth_getLogs" and from_deployment:
            entered.set()
            release.wait(30)  # a guard against a hang: the test releases it
        return None

    with RpcProxy(rpc_url(ledger), intercept=hold_the_full_read) as node:
        chain = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
        view = ChainView(chain, ledger.settings.confirmations, max_head_age=3600.0)
        view.refresh()
        assert verify_many([target], view)[0].ok
        monkeypatch.setattr(verify, "FULL_RESYNC_SECONDS", 0.0)  # the hour has passed
        armed.set()
        full = threading.Thread(target=view.refresh)
        full.start()
        try:
            assert entered.wait(30), "the full read never asked for the events from the deployment on"
            status.revoke(ledger, target["digest"], "fraud")
            head = ledger.chain.block_number()
            assert view.refresh() >= head  # as the gateway's head refresher (or a request finding it late) does
            assert full.is_alive(), "the sync waited for the full read"
            assert {c.name for c in verify_many([target], view)[0].failed} == {"status"}
        finally:
            release.set()
            full.join(30)
        assert not full.is_alive()
        assert view.refresh() >= head
        assert {c.name for c in verify_many([target], view)[0].failed} == {"status"}


def test_a_status_event_moved_before_its_departments_registration_gets_one_verdict_from_every_verifier(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """The chain's operator answers ``eth_getLogs`` with a certificate's last suspension (suspended, reinstated,
    suspended again) moved to a block before its department was registered: chain order then puts it first, so
    the certificate reads valid since its reinstatement. The court's verifier reads a department's status events
    from its registration on and refused the answer (NOT VERIFIED), but the library read them from the
    deployment on and took it: ``ledger verify``, ``verify_many`` and ``ledger evidence verify`` said VERIFIED for
    the suspended certificate, with a bundle restating it as valid since its reinstatement. One verdict now: the
    library refuses a status event of a block before its department's registration, as the court does."""
    target, path, suspended_in = suspended_again(ledger, tmp_path, fresh_department)
    periods = ledger.chain.call(ledger.chain.registry.functions.statusHistory(department_id_bytes(fresh_department)))
    before_registration = min(int(period[2]) for period in periods) - 1
    assert before_registration >= int(ledger.chain.deployment.deployed_block)

    def moved(method: str, _params: Any, answer: Any) -> Any:
        if method == "eth_getLogs" and isinstance(answer.get("result"), list):
            for log in answer["result"]:
                if log["topics"][0].lower() == SUSPENDED_TOPIC and int(log["blockNumber"], 16) == suspended_in:
                    log["blockNumber"] = hex(before_registration)
        return answer

    with RpcProxy(rpc_url(ledger), rewrite=moved) as node:
        chain = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
        code, result, stderr = standalone(ledger, path, rpc=node.url)
        assert result is not None, stderr
        assert code == 1 and "status" in failed_names(result), result
        assert not verify_certificate(target, ChainView(chain)).ok
        assert not verify_many([target], ChainView(chain))[0].ok
        assert not evidence.verify_bundle(path, chain).ok
        # what replay and `ledger reconcile` read the chain's status history with refuses the answer too
        with pytest.raises(ChainError, match="before its department was registered"):
            ChainView(chain).status_events()
    # the honest node: the suspended certificate is reported suspended, the restated bundle refused by both
    assert {c.name for c in verify_certificate(target, ChainView(ledger.chain)).failed} == {"status"}
    code, result, stderr = standalone(ledger, path)
    assert result is not None, stderr
    assert code == 1 and failed_names(result) == {"status", "status_statement"}, result


def test_a_log_of_a_block_outside_the_range_asked_for_is_refused_by_every_reader(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """The chain's operator answers ``eth_getLogs`` with a status event stamped with a block past the range asked
    for (a block the chain has not made yet): the herd read checked the range itself, but the chain-wide status
    read of replay and `ledger reconcile` (``status_events``) took the event as it came. Every answer naming a block
    outside the numbered range asked for is refused where answers are checked (``_node_http._logs_problem``)."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.revoke(ledger, target["digest"], "fraud")
    head = ledger.chain.block_number()

    def stamped_later(method: str, params: Any, answer: Any) -> Any:
        to_block = params[0].get("toBlock") if method == "eth_getLogs" and params else None
        if isinstance(answer.get("result"), list) and isinstance(to_block, str) and to_block.startswith("0x"):
            for log in answer["result"]:
                if log["topics"][0].lower() == REVOKED_TOPIC:
                    log["blockNumber"] = hex(int(to_block, 16) + 1)
        return answer

    with RpcProxy(rpc_url(ledger), rewrite=stamped_later) as node:
        chain = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
        with pytest.raises(ChainError, match="the blocks asked for only"):
            ChainView(chain).status_events(end=head)
        assert not verify_certificate(target, ChainView(chain)).ok
    # the honest node: the revocation is read where it is
    events = ChainView(ledger.chain).status_events(end=head)
    assert any(key[2].hex() == target["digest"].removeprefix("0x") and block <= head for key, _, block, _ in events)
