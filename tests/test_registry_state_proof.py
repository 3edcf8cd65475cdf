"""The registry's state proven at the witnessed checkpoint (ledger/onchain/registryslots.py).

A certificate's ``department_key`` and ``type_authority`` checks ask DepartmentRegistry's views (``wasActiveSignerAt``,
``wasAuthorizedForTypeAt``); the adversary is the chain's operator answering them as it likes, every other answer
honest: a key that was not the department's claimed to be, a type claimed granted, a suspended department claimed
active. ``witnessed`` proves the department's key, status and type periods at the cosigned block from its hash and
fails when the node's answers are not what they give; a proof of another department's slots, or of another length,
is refused, and a length past what a verifier reads is not walked.

The registry's true history in the first tests is written with the node's control (``anvil_setStorageAt``), restored
after: the contracts never let a batch be anchored outside the registry's history (the anchor checks the key and the
type when it runs), so the history is made to say what the operator's lie contradicts - as a grant made in the batch's
own block says it (it holds from the next block), or a history read at another deployment would.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak

from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.onchain import registryslots
from ledger.onchain.chain import Chain, connect
from ledger.onchain.ids import department_id_bytes
from ledger.onchain.toolchain import storage_layout
from ledger.services.departments import Council
from ledger.services.verify import ChainView, verify_certificate
from ledger.services.witness import client as wclient

from .cli_support import drop_older_states, mining_paused
from .conftest import PASSPHRASE, make_records
from .evidence_support import issue, rpc_url
from .registry_support import history_written as _history_written
from .rpc_proxy import RpcProxy
from .witness_support import serve_witness

TRUE = "0x" + "00" * 31 + "01"
VIEWS = {
    "0x" + keccak(text="wasActiveSignerAt(address,uint8,uint64)")[:4].hex(): "department_key",
    "0x" + keccak(text="wasAuthorizedForTypeAt(bytes32,bytes32,uint64)")[:4].hex(): "type_authority",
}


@pytest.fixture(autouse=True)
def _passphrases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")


def _lying(ledger: Ledger, url: str) -> Chain:
    return Chain(connect(url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)


def _checks(chain: Chain, config: wclient.WitnessConfig, target: dict[str, Any], **where: Any) -> dict[str, Any]:
    """The checks of ``target`` verified through ``chain`` with ``config``'s witnesses: at the checkpoint ``latest``
    (proofs asked of the node), or the latest of ``data_dir`` (its kept proofs first)."""
    view = ChainView(chain)
    view.witness = wclient.WitnessView(chain, config, where.get("latest"), where.get("data_dir"))
    return {c.name: c for c in verify_certificate(target, view).checks}


def _claims_true(method: str, params: Any, answer: Any) -> Any:
    """The operator's node: every ``wasActiveSignerAt`` and ``wasAuthorizedForTypeAt`` of the registry answered true."""
    if method == "eth_call" and isinstance(params, list) and isinstance(params[0], dict):
        data = str(params[0].get("data") or params[0].get("input") or "").lower()
        if data[:10] in VIEWS and "error" not in answer:
            return {**answer, "result": TRUE}
    return answer


def _claims_true_batch(requests: list[Any], answers: Any) -> Any:
    asked = {r["id"]: r for r in requests}
    return [_claims_true(asked[a["id"]]["method"], asked[a["id"]]["params"], a) for a in answers]


@pytest.mark.parametrize("change", ["forged key", "type granted", "department active"])
def test_registry_views_answered_from_a_made_up_state_fail_witnessed(
    ledger: Ledger, tmp_path: Path, fresh_department: str, change: str
) -> None:
    """The registry's history at the witnessed block says the certificate's key was not the department's (another
    signer was), or the department held no grant of its type at the batch's block, or was suspended then; the
    operator's node answers ``wasActiveSignerAt`` and ``wasAuthorizedForTypeAt`` true. ``department_key`` and
    ``type_authority`` believe it (they ask the node); ``witnessed`` proves the periods at the cosigned block, from the
    proofs ``collect`` kept once the node dropped the block's state, and fails naming the registry."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    dept = department_id_bytes(fresh_department)
    block = int(
        ledger.chain.call(ledger.chain.anchor.functions.batch(dept, bytes.fromhex(target["anchor"]["root"][2:])))[1]
    )
    believed = "type_authority" if change == "type granted" else "department_key"
    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        with _history_written(ledger, dept, change, block):
            collected = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
            assert collected.witnessed and collected.checkpoint is not None
            drop_older_states(ledger)  # the node drops the witnessed block's state: the kept proofs prove it
            honest = _checks(ledger.chain, config, target, data_dir=ledger.settings.data_dir)
            assert not honest[believed].ok and honest["witnessed"].ok, honest  # what the history says, told
            with RpcProxy(rpc_url(ledger), rewrite=_claims_true, rewrite_batch=_claims_true_batch) as node:
                checks = _checks(_lying(ledger, node.url), config, target, data_dir=ledger.settings.data_dir)
                assert checks[believed].ok, checks  # the lie, believed by the check that asks the node
                assert not checks["witnessed"].ok, checks
                assert "the node's registry answered" in checks["witnessed"].detail, checks["witnessed"]
                assert "proven from the block's hash" in checks["witnessed"].detail, checks["witnessed"]
                # the type is a field of the certificate, which a digest-only caller's report never names
                assert "business-licence" not in checks["witnessed"].detail, checks["witnessed"]
                assert node.methods["eth_getProof"] == 0, node.methods  # from the kept proofs alone


def test_a_genuine_key_denied_by_the_node_fails_witnessed(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """The other direction: the operator's node answers ``wasActiveSignerAt`` false for the department's genuine key,
    failing its genuine certificate's ``department_key``; ``witnessed`` says the proven registry holds the key."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))

    def denies(method: str, params: Any, answer: Any) -> Any:
        if method == "eth_call" and isinstance(params, list) and isinstance(params[0], dict):
            data = str(params[0].get("data") or params[0].get("input") or "").lower()
            if VIEWS.get(data[:10]) == "department_key" and "error" not in answer:
                return {**answer, "result": "0x" + "00" * 32}
        return answer

    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        with mining_paused(ledger):
            collected = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
            assert collected.witnessed and collected.checkpoint is not None
            with RpcProxy(rpc_url(ledger), rewrite=denies) as node:
                checks = _checks(_lying(ledger, node.url), config, target, latest=collected.checkpoint)
        assert not checks["department_key"].ok, checks
        assert not checks["witnessed"].ok and "was not an active issuer key" in checks["witnessed"].detail, checks


# -- proofs of other slots ---------------------------------------------------------------------------------------


def _answered_for(ledger: Ledger, moved: dict[int, int]) -> Callable[[dict[str, Any]], bytes | None]:
    """The operator's node answering ``eth_getProof`` of the registry's slot ``a`` with its proof of slot ``moved[a]``,
    labelled ``a`` (the proof is genuine, of the witnessed block, but of another word)."""
    registry, upstream = ledger.chain.deployment.registry.lower(), rpc_url(ledger)

    def intercept(request: dict[str, Any]) -> bytes | None:
        params = request.get("params") or []
        if request.get("method") != "eth_getProof" or str(params[0]).lower() != registry:
            return None
        asked = [int(k, 16) for k in params[1]]
        if not any(k in moved for k in asked):
            return None
        sent = [moved.get(k, k) for k in asked]  # answered in the order asked: labelled back by position
        body = json.dumps(
            {**request, "params": [params[0], ["0x" + s.to_bytes(32, "big").hex() for s in sent], params[2]]}
        )
        forwarded = urllib.request.Request(upstream, data=body.encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(forwarded, timeout=60) as response:
            answer = json.loads(response.read())
        entries = answer["result"]["storageProof"]
        assert [int(e["key"], 16) for e in entries] == sent, entries
        for entry, slot in zip(entries, asked, strict=True):
            entry["key"] = "0x" + slot.to_bytes(32, "big").hex()
        return json.dumps(answer).encode()

    return intercept


@pytest.mark.parametrize("attack", ["another department's slots", "another length"])
def test_a_proof_of_another_slot_fails_witnessed(
    ledger: Ledger, tmp_path: Path, fresh_department: str, attack: str
) -> None:
    """The operator's node answers the proof of the department's key, status and type periods with its genuine proofs
    of another department's (one holding other keys), or the proof of its key history's length with that of its type
    history's (another length, so other periods would be read): each proof is of the witnessed block, but not of the
    word asked, and ``witnessed`` fails."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    dept = department_id_bytes(fresh_department)
    layout = registryslots.registry_layout()
    if attack == "another length":
        moved = {layout.keys.length_slot(dept): layout.types.length_slot(dept)}
    else:
        other = department_id_bytes("MKT")
        moved = {a.length_slot(dept): a.length_slot(other) for a in layout.arrays}
        moved |= {s: t for a in layout.arrays for s, t in zip(a.slots(dept, 8), a.slots(other, 8), strict=True)}
    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        with mining_paused(ledger):
            collected = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
            assert collected.witnessed and collected.checkpoint is not None
            assert _checks(ledger.chain, config, target, latest=collected.checkpoint)["witnessed"].ok  # honest
            with RpcProxy(rpc_url(ledger), intercept=_answered_for(ledger, moved)) as node:
                checks = _checks(_lying(ledger, node.url), config, target, latest=collected.checkpoint)
        witnessed = checks["witnessed"]
        assert not witnessed.ok, checks
        assert "registry's key, status and type periods" in witnessed.detail, witnessed
        assert "the node made up state or proof" in witnessed.detail, witnessed.detail


def test_a_history_longer_than_a_verifier_reads_is_not_walked(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """The registry's state holds a key history 2^40 periods long (its length word written so): the length is proven,
    and ``witnessed`` fails naming the bound, having asked for no period's slot; ``collect`` keeps no proof of the
    department's periods (the other departments' are kept)."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    dept = department_id_bytes(fresh_department)
    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        with _history_written(ledger, dept, "length", 0), mining_paused(ledger):
            collected = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
            assert collected.witnessed and collected.checkpoint is not None
            with RpcProxy(rpc_url(ledger)) as node:
                checks = _checks(_lying(ledger, node.url), config, target, latest=collected.checkpoint)
                asked = [r for b in node.bodies for r in (lambda x: x if isinstance(x, list) else [x])(json.loads(b))]
        witnessed = checks["witnessed"]
        assert checks["department_key"].ok and not witnessed.ok, checks
        assert f"more than the {registryslots.MAX_PERIODS} this verifier reads" in witnessed.detail, witnessed
        registry = ledger.chain.deployment.registry.lower()
        keys = [
            k
            for r in asked
            if r.get("method") == "eth_getProof" and r["params"][0].lower() == registry
            for k in r["params"][1]
        ]
        assert len(keys) == 4, keys  # the four lengths (keys, statuses, types, service items), no period
        kept = wclient.CheckpointStore(ledger.settings.data_dir).state(collected.checkpoint.checkpoint.hash_hex)
        assert kept is not None
        words = registryslots.kept_words(
            kept["block"],
            registryslots.unpacked(kept["registry"]),
            registry,
            collected.checkpoint.checkpoint.block_hash,
            collected.checkpoint.checkpoint.height,
        )
        with pytest.raises(ChainError, match="more than the"):
            registryslots.history_from(words, dept)
        assert registryslots.history_from(words, department_id_bytes("MKT")) is not None


# -- the honest chain, kept proofs, older kept files ---------------------------------------------------------------


def test_the_proven_history_is_the_registrys(ledger: Ledger, tmp_path: Path, fresh_department: str) -> None:
    """Adversary: none. The layout is the compiler's (storageLayout), and the periods proven at a block are what
    ``keyHistory``, ``statusHistory`` and ``typeHistory`` answer there, for a department whose key was rotated, which
    was suspended and reinstated and had a type revoked (closed periods of each kind); its certificate anchored before
    all that passes ``witnessed`` with the registry proven."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    council = Council(ledger)
    council.rotate_key(fresh_department)
    council.suspend(fresh_department)
    council.reinstate(fresh_department)
    council.revoke_types(fresh_department, ["permit"])
    assert (
        registryslots.RegistryLayout.from_layout(storage_layout("DepartmentRegistry"))
        == registryslots.registry_layout()
    )
    dept = department_id_bytes(fresh_department)
    fns = ledger.chain.registry.functions
    with mining_paused(ledger):
        number = ledger.chain.block_number()
        block_hash = bytes(ledger.chain.w3.eth.get_block(number)["hash"])
        proven = registryslots.proven_history(
            ledger.chain.w3, ledger.chain.deployment.registry, block_hash, number, dept
        )
        keys = ledger.chain.call(fns.keyHistory(dept), number)
        statuses = ledger.chain.call(fns.statusHistory(dept), number)
        types = ledger.chain.call(fns.typeHistory(dept), number)
    assert [(k.signer, k.from_block, k.to_block) for k in proven.keys] == [(str(s).lower(), f, t) for s, f, t in keys]
    assert [(s.active, s.roles, s.from_block) for s in proven.statuses] == [tuple(s) for s in statuses]
    assert [(t.type_hash, t.from_block, t.until_block) for t in proven.types] == [(bytes(h), f, u) for h, f, u in types]
    assert len(proven.keys) == 2 and len(proven.statuses) == 3 and any(t.until_block for t in proven.types)
    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        with mining_paused(ledger):
            collected = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
            assert collected.witnessed and collected.checkpoint is not None
            live = _checks(ledger.chain, config, target, latest=collected.checkpoint)
        assert live["department_key"].ok and live["type_authority"].ok and live["witnessed"].ok, live
        assert "registry" not in live["witnessed"].detail, live["witnessed"]


def test_kept_proofs_prove_the_registry_once_the_node_dropped_the_state_and_older_files_say_not_proven(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: none, then the insider. ``collect`` keeps the registry's proofs with the trails'; once the node
    keeps no state of the block, ``witnessed`` passes from them asking the node for no proof. A kept file from before
    (no ``registry`` section) passes with "registry: not proven" in its detail, not silently; a file whose registry
    section was emptied (the department's proofs taken out) fails: it was written by a collect that keeps them."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    data_dir = ledger.settings.data_dir
    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        collected = wclient.collect(ledger.chain, data_dir, config)
        assert collected.witnessed and collected.checkpoint is not None
        drop_older_states(ledger)  # the node drops the witnessed block's state
        store = wclient.CheckpointStore(data_dir)
        kept = store.state(collected.checkpoint.checkpoint.hash_hex)
        assert kept is not None and kept["registry"]["proofs"], kept.keys()
        with RpcProxy(rpc_url(ledger)) as node:
            checks = _checks(_lying(ledger, node.url), config, target, data_dir=data_dir)
            assert checks["witnessed"].ok and "registry" not in checks["witnessed"].detail, checks["witnessed"]
            assert node.methods["eth_getProof"] == 0, node.methods
        hash_hex = collected.checkpoint.checkpoint.hash_hex
        older = {k: v for k, v in kept.items() if k not in ("registry", "hash")}
        store.save_state(hash_hex, older)
        checks = _checks(ledger.chain, config, target, data_dir=data_dir)
        assert checks["witnessed"].ok, checks["witnessed"]
        assert "registry: not proven" in checks["witnessed"].detail, checks["witnessed"]
        store.save_state(hash_hex, {**older, "registry": {**kept["registry"], "proofs": []}})
        checks = _checks(ledger.chain, config, target, data_dir=data_dir)
        assert not checks["witnessed"].ok, checks["witnessed"]
        assert "registry's key, status and type periods" in checks["witnessed"].detail, checks["witnessed"]


@pytest.mark.parametrize("edit", ["keys swapped with another department's", "references out of range", "no lists"])
def test_an_insiders_edit_of_the_kept_registry_proofs_proves_nothing(
    ledger: Ledger, tmp_path: Path, fresh_department: str, edit: str
) -> None:
    """The insider with the data directory edits the checkpoint's kept registry proofs: the department's slots
    labelled as another department's (and the other's as its), node references pointing past the kept nodes or at
    none, or the proofs made no lists. Nothing is read from the file that does not hash up to the witnessed block: the
    department's periods are unproven, and with the node keeping no state of the block ``witnessed`` fails."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    data_dir = ledger.settings.data_dir
    dept, other = department_id_bytes(fresh_department), department_id_bytes("MKT")
    layout = registryslots.registry_layout()
    swapped = {}
    for array in layout.arrays:
        pairs = [(array.length_slot(dept), array.length_slot(other))]
        pairs += list(zip(array.slots(dept, 8), array.slots(other, 8), strict=True))
        swapped |= {a: b for a, b in pairs} | {b: a for a, b in pairs}
    for running, url in serve_witness(ledger, tmp_path):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        collected = wclient.collect(ledger.chain, data_dir, config)
        assert collected.witnessed and collected.checkpoint is not None
        drop_older_states(ledger)  # the node drops the witnessed block's state
        store = wclient.CheckpointStore(data_dir)
        hash_hex = collected.checkpoint.checkpoint.hash_hex
        kept = store.state(hash_hex)
        assert kept is not None
        section = json.loads(json.dumps(kept["registry"]))
        for answer in section["proofs"]:
            for entry in answer["storageProof"]:
                slot = int(entry["key"], 16)
                if edit == "keys swapped with another department's":
                    entry["key"] = "0x" + swapped.get(slot, slot).to_bytes(32, "big").hex()
                elif edit == "references out of range":
                    entry["proof"] = [len(section["nodes"]) + 1, -1, "0", None]
                else:
                    entry["proof"] = {"0": 0}
            if edit == "no lists":
                answer["accountProof"] = "0x00"
        store.save_state(hash_hex, {**{k: v for k, v in kept.items() if k != "hash"}, "registry": section})
        checks = _checks(ledger.chain, config, target, data_dir=data_dir)
        assert not checks["witnessed"].ok, checks["witnessed"]
        assert "registry's key, status and type periods" in checks["witnessed"].detail, checks["witnessed"]
        assert "the kept proofs do not prove it" in checks["witnessed"].detail, checks["witnessed"]
