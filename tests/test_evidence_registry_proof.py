"""The registry's state proven inside evidence bundles (``witness.state.registry``), in both verifiers.

A witnessed certificate bundle proves the anchor contract's slots at the cosigned block; the issuing department's key,
status and type periods came from the node's ``keyHistory`` / ``statusHistory`` / ``typeHistory`` /
``wasActiveSignerAt`` answers. Adversaries: the chain's operator answering those registry reads from a state of its
own making (with whoever hands the court the bundle stating the same periods), and a forger editing the bundle's
registry proof. The bundle carries the ``eth_getProof`` of the issuer's registry slots at the cosigned block; the
library's ``ledger evidence verify`` and the court's ``scripts/verify_evidence.py`` prove it and hold the bundle's
periods and every registry answer of ``department_key``, ``department_history`` and ``type_authority`` to it; both
give the same verdict on every case.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ledger.cli.evidence import verdict_line
from ledger.client import Ledger
from ledger.onchain import registryslots
from ledger.onchain.ids import department_id_bytes
from ledger.services import evidence
from ledger.services.departments import Council
from ledger.services.witness import client as wclient
from ledger.services.witness.bundle import registry_section, state_section

from .cli_support import drop_older_states, mining_paused
from .conftest import PASSPHRASE, make_records
from .evidence_support import SCRIPT_MODULE, court_checks, issue, rpc_url, standalone, witnessed_both
from .registry_support import batched, history_written, registry_calls
from .rpc_proxy import RpcProxy
from .witness_support import trusted_witness

PROVEN = "the bundle's registry proof"
COURT = SCRIPT_MODULE


@pytest.fixture(autouse=True)
def _passphrases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")


def _both(
    ledger: Ledger, bundle: dict[str, Any], tmp: Path, key: str, *extra: str, node: str | None = None
) -> tuple[dict[str, tuple[bool, str]], dict[str, tuple[str, str]]]:
    """Each check of (the library, the court's verifier) on ``bundle``: {name: (passed, detail)}, {name: (result,
    detail)}; both fail and skip the same checks (``witnessed_both``)."""
    _, library, result = witnessed_both(ledger, bundle, tmp, key, *extra, node=node)
    return library, court_checks(result)


def _bundle(ledger: Ledger, target: dict[str, Any]) -> dict[str, Any]:
    bundle = evidence.certificate_bundle(ledger, target)
    assert "registry" in bundle["witness"]["state"], bundle["witness"]
    return bundle


# -- honest ---------------------------------------------------------------------------------------------------------


def test_a_witnessed_bundle_carries_the_issuers_registry_proof_and_both_verifiers_prove_it(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: none (a false failure is a finding too). The bundle's state section carries the proof of the issuer's
    three lengths and every period's words at the cosigned block; both verifiers prove it, pass every check and say
    so. Once the node dropped the block's state the proofs kept at collection give the section, and its slots are the
    issuer's only (a kept file holds every department's)."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    dept = department_id_bytes(fresh_department)
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = _bundle(ledger, target)
        section = bundle["witness"]["state"]["registry"]
        proven = [int(e["key"], 16) for answer in section["proofs"] for e in answer["storageProof"]]
        counts = (1, 1, len(bundle["department"]["type_history"]))
        items = registryslots.registry_layout().items
        held = len(ledger.chain.call(ledger.chain.registry.functions.serviceItemHistory(dept)))
        assert proven == [  # the lengths first (the service items' too: a decision's checks read them), then periods
            *registryslots.length_slots(dept),
            items.length_slot(dept),
            *registryslots.period_slots(dept, counts),
            *items.slots(dept, held),
        ], proven
        library, court = _both(ledger, bundle, tmp_path, key)
        assert all(ok for ok, _ in library.values()) and all(r == "PASS" for r, _ in court.values()), (library, court)
        for detail in (library["witnessed"][1], court["witnessed"][1]):
            assert f"registry: 1 key, 1 status and {counts[2]} type periods" in detail, detail
        for name in ("department_key", "department_history", "type_authority"):
            assert PROVEN in library[name][1] and PROVEN in court[name][1], (library[name], court[name])

        store = wclient.CheckpointStore(ledger.settings.data_dir)
        cp = store.latest_witnessed(
            wclient.WitnessConfig.load(ledger.settings.data_dir), wclient.chain_identity(ledger.chain).origin
        )
        assert cp is not None
        # the court's own reading of the section is the library's, period for period
        at = (ledger.chain.deployment.registry, cp.checkpoint.block_hash, cp.checkpoint.height)
        ours = registryslots.bundle_history(bundle["witness"]["state"]["block"], section, *at, dept)
        theirs = COURT.proven_registry(bundle["witness"]["state"]["block"], section, at[0], dept, *at[1:])
        assert theirs["keys"] == [(k.signer, k.from_block, k.to_block) for k in ours.keys]
        assert theirs["statuses"] == [(s.active, s.roles, s.from_block) for s in ours.statuses]
        assert theirs["types"] == [(t.type_hash, t.from_block, t.until_block) for t in ours.types]
        drop_older_states(ledger)  # the node drops the witnessed block's state
        header = bundle["witness"]["state"]["block"]
        kept = registry_section(ledger.chain, ledger.settings.data_dir, cp.checkpoint, fresh_department, header)
        assert kept is not None
        assert [e["key"] for a in kept["proofs"] for e in a["storageProof"]] == [
            e["key"] for a in section["proofs"] for e in a["storageProof"]
        ]
        (store.directory / f"state-{cp.checkpoint.hash_hex.lower()}.json").unlink()
        assert registry_section(ledger.chain, ledger.settings.data_dir, cp.checkpoint, fresh_department, header) is None


def test_the_court_states_the_compilers_layout_of_the_registrys_periods() -> None:
    """The court's verifier states the registry's slots and each period's words and members itself (no import of
    ours); they are the compiler's storage layout, which the library reads."""
    layout = registryslots.registry_layout()
    assert tuple(a.slot for a in layout.arrays) == COURT.REGISTRY_SLOTS
    assert tuple(a.words for a in layout.arrays) == COURT.REGISTRY_WORDS
    members = {a.label: {n: (m.slot, m.offset, m.size) for n, m in a.members.items()} for a in layout.arrays}
    assert members == {
        "_keyHistory": {"signer": (0, 0, 20), "fromBlock": (0, 20, 8), "toBlock": (1, 0, 8)},
        "_statusHistory": {"active": (0, 0, 1), "roles": (0, 1, 1), "fromBlock": (0, 2, 8)},
        "_typeHistory": {"typeHash": (0, 0, 32), "fromBlock": (1, 0, 8), "untilBlock": (1, 8, 8)},
    }
    items = layout.items
    assert (items.label, items.slot, items.words) == (
        "_itemHistory",
        COURT.REGISTRY_ITEM_SLOT,
        COURT.REGISTRY_ITEM_WORDS,
    )
    assert {n: (m.slot, m.offset, m.size) for n, m in items.members.items()} == {
        "serviceItem": (0, 0, 32),
        "fromBlock": (1, 0, 8),
        "untilBlock": (1, 8, 8),
    }
    assert registryslots.MAX_PERIODS == COURT.REGISTRY_MAX_PERIODS
    assert registryslots.MAX_BUNDLE_ANSWERS == COURT.REGISTRY_MAX_ANSWERS


def test_rotations_and_suspensions_before_and_after_the_checkpoint_pass_both_verifiers(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: none. A key rotated and the department suspended and reinstated before the checkpoint are proven
    periods the bundle states (closed at their blocks); a rotation, a suspension and a type revoked after it are not
    the bundle's (cut at ``as_of``), and the proven periods at the checkpoint agree with the node's cut there."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    council = Council(ledger)
    council.rotate_key(fresh_department)
    council.suspend(fresh_department)
    council.reinstate(fresh_department)
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = _bundle(ledger, target)
        assert len(bundle["department"]["key_history"]) == 2 and len(bundle["department"]["status_history"]) == 3
        council.rotate_key(fresh_department)
        council.suspend(fresh_department)
        council.revoke_types(fresh_department, [target["fields"]["type"]])
        library, court = _both(ledger, bundle, tmp_path, key)
        assert all(ok for ok, _ in library.values()), (library, court)
        assert "registry: 2 key, 3 status" in court["witnessed"][1], court["witnessed"]


# -- the chain's operator: registry reads answered from a state of its own making ------------------------------------


@pytest.mark.parametrize("change", ["forged key", "type granted", "department active"])
def test_registry_reads_answered_from_a_made_up_state_fail_both_verifiers(
    ledger: Ledger, tmp_path: Path, fresh_department: str, change: str
) -> None:
    """The registry's history at the witnessed block says the certificate's key was not the department's, or the
    department was granted the certificate's type only after the batch's block, or was suspended then. The operator's
    node answers every registry read as the registry answered before (key held, type granted, department active), and
    the bundle states those periods. Both verifiers believed it: every check passed. With the bundle's registry proof
    the check that reads the lie fails in both, naming the registry's proof."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    dept = department_id_bytes(fresh_department)
    block = target["anchor"]["block_number"]
    believed = {
        "forged key": {"department_key", "department_history"},
        "type granted": {"type_authority"},
        "department active": {"department_key", "department_history"},
    }[change]
    record, replay, seen = registry_calls(ledger.chain.deployment.registry)
    for key, _ in trusted_witness(ledger, tmp_path):
        honest = _bundle(ledger, target)
        with RpcProxy(rpc_url(ledger), rewrite=record, rewrite_batch=batched(record)) as node:
            library, court = _both(ledger, honest, tmp_path, key, node=node.url)
        assert all(ok for ok, _ in library.values()), library
        assert seen, "no registry read was recorded"
        with history_written(ledger, dept, change, block):
            bundle = _bundle(ledger, target)
            truth, _ = _both(ledger, bundle, tmp_path, key)
            assert {n for n, (ok, _) in truth.items() if not ok} >= believed - {"department_history"}, truth
            forged = copy.deepcopy(bundle)
            forged["department"] = honest["department"]  # the periods the operator's node answers
            with RpcProxy(rpc_url(ledger), rewrite=replay, rewrite_batch=batched(replay)) as node:
                library, court = _both(ledger, forged, tmp_path, key, node=node.url)
        failed = {n for n, (ok, _) in library.items() if not ok}
        assert failed == believed, (library, court)
        for name in believed:
            assert PROVEN in library[name][1] and PROVEN in court[name][1], (library[name], court[name])
        assert library["witnessed"][0] and court["witnessed"][0] == "PASS", (library, court)


def test_a_genuine_key_denied_by_the_node_names_the_registry_proof_in_both(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """The other direction: the operator's node answers ``wasActiveSignerAt`` false for the department's genuine key.
    ``department_key`` fails in both verifiers, whose detail says the proven registry holds the key."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    selector = "0x176a856e"  # wasActiveSignerAt(address,uint8,uint64)

    def denies(method: str, params: Any, answer: Any) -> Any:
        if method == "eth_call" and isinstance(params, list) and isinstance(params[0], dict):
            data = str(params[0].get("data") or params[0].get("input") or "").lower()
            if data.startswith(selector) and "error" not in answer:
                return {**answer, "result": "0x" + "00" * 32}
        return answer

    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = _bundle(ledger, target)
        with RpcProxy(rpc_url(ledger), rewrite=denies, rewrite_batch=batched(denies)) as node:
            library, court = _both(ledger, bundle, tmp_path, key, node=node.url)
        assert not library["department_key"][0], library
        for detail in (library["department_key"][1], court["department_key"][1]):
            assert PROVEN in detail and "was not an active issuer key" in detail, detail


# -- a forger editing the bundle's registry proof -------------------------------------------------------------------


def _flip(text: str) -> str:
    digits = text[2:]
    return "0x" + digits[:-2] + f"{int(digits[-2:], 16) ^ 1:02x}"


def test_an_edited_registry_proof_fails_witnessed_in_both_verifiers(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """A forger edits the bundle: a trie node of the registry proof altered, a period's slot left out, another
    department's registry proof put in its place, the proof of the lengths alone, two lengths' proofs labelled as each
    other's (another array's length), or a period dropped or added in the bundle's statement. Each fails in both
    verifiers (``witnessed`` for the proof, ``department_history`` or ``type_authority`` for the statement). With no
    registry section both pass, saying "registry: not proven"; under ``--require-state-proof`` both fail."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    for trusted, _ in trusted_witness(ledger, tmp_path):
        key = trusted
        with mining_paused(ledger):
            bundle = _bundle(ledger, target)
            store = wclient.CheckpointStore(ledger.settings.data_dir)
            cp = store.latest_witnessed(
                wclient.WitnessConfig.load(ledger.settings.data_dir), wclient.chain_identity(ledger.chain).origin
            )
            assert cp is not None
            header = bundle["witness"]["state"]["block"]
            other = registry_section(ledger.chain, ledger.settings.data_dir, cp.checkpoint, "MKT", header)
    assert other is not None

    def edited(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        changed = copy.deepcopy(bundle)
        change(changed)
        return changed

    def node_altered(b: dict[str, Any]) -> None:
        nodes = b["witness"]["state"]["registry"]["nodes"]
        nodes[-1] = _flip(nodes[-1])

    def slot_left_out(b: dict[str, Any]) -> None:
        b["witness"]["state"]["registry"]["proofs"][-1]["storageProof"].pop()

    def another_department(b: dict[str, Any]) -> None:
        b["witness"]["state"]["registry"] = other

    def lengths_alone(b: dict[str, Any]) -> None:
        b["witness"]["state"]["registry"]["proofs"] = b["witness"]["state"]["registry"]["proofs"][:1]
        b["witness"]["state"]["registry"]["proofs"][0]["storageProof"] = b["witness"]["state"]["registry"]["proofs"][0][
            "storageProof"
        ][:3]

    def labels_swapped(b: dict[str, Any]) -> None:
        # the proof of the key history's length labelled as the status history's, and the other way round
        entries = b["witness"]["state"]["registry"]["proofs"][0]["storageProof"]
        entries[0]["key"], entries[1]["key"] = entries[1]["key"], entries[0]["key"]

    for change in (node_altered, slot_left_out, another_department, lengths_alone, labels_swapped):
        library, court = _both(ledger, edited(change), tmp_path, key)
        assert not library["witnessed"][0], (change.__name__, library["witnessed"])
        for detail in (library["witnessed"][1], court["witnessed"][1]):
            assert PROVEN in detail, (change.__name__, detail)

    def period_dropped(b: dict[str, Any]) -> None:
        b["department"]["type_history"].pop()

    def period_added(b: dict[str, Any]) -> None:
        b["department"]["key_history"].append({**b["department"]["key_history"][0], "signer": "0x" + "ab" * 20})

    for change, check in ((period_dropped, "type_authority"), (period_added, "department_history")):
        library, court = _both(ledger, edited(change), tmp_path, key)
        assert {n for n, (ok, _) in library.items() if not ok} == {check}, (change.__name__, library)
        assert PROVEN in library[check][1] and PROVEN in court[check][1], (library[check], court[check])

    def stripped(b: dict[str, Any]) -> None:
        del b["witness"]["state"]["registry"]

    library, court = _both(ledger, edited(stripped), tmp_path, key)
    assert library["witnessed"][0], library["witnessed"]
    for detail in (library["witnessed"][1], court["witnessed"][1]):
        assert "registry: not proven" in detail, detail
    # a program reading the JSON reports is told too: the anchor's slots proven, the registry's periods the node's
    # word (noticed by ev3: both said "state_proof": "proven")
    path = tmp_path / "stripped.json"
    path.write_text(json.dumps(edited(stripped)), encoding="utf-8")
    said = evidence.verify_bundle(path, ledger.chain, witness_keys=[key]).to_json()
    _, result, _ = standalone(ledger, path, "--witness-key", key)
    assert result is not None
    assert said["state_proof"] == result["state_proof"] == "partial", (said["state_proof"], result["state_proof"])
    lines = (
        verdict_line(evidence.verify_bundle(path, ledger.chain, witness_keys=[key])),
        COURT.verdict_line([(c["name"], c["result"], c["detail"]) for c in result["checks"]]),
    )
    assert lines[0] == lines[1] and lines[0].startswith("VERIFIED, without a proof of the registry"), lines
    path.write_text(json.dumps(bundle), encoding="utf-8")
    said = evidence.verify_bundle(path, ledger.chain, witness_keys=[key]).to_json()
    _, result, _ = standalone(ledger, path, "--witness-key", key)
    assert result is not None
    assert said["state_proof"] == result["state_proof"] == "proven", (said["state_proof"], result["state_proof"])
    library, court = _both(ledger, edited(stripped), tmp_path, key, "--require-state-proof")
    assert not library["witnessed"][0], library["witnessed"]
    assert "registry: not proven" in court["witnessed"][1], court["witnessed"]


def test_a_history_past_what_a_verifier_reads_is_not_proven(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """The registry's state at the cosigned block says the issuer's key history is 2^40 periods long; the operator's
    node answers the registry's reads as before. The producer asks no period of it and writes no registry section; a
    section proving that length (the lengths' proof alone) fails ``witnessed`` in both verifiers before any period is
    read."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    dept = department_id_bytes(fresh_department)
    record, replay, _ = registry_calls(ledger.chain.deployment.registry)
    for trusted, config in trusted_witness(ledger, tmp_path):
        key = trusted
        honest = _bundle(ledger, target)
        with RpcProxy(rpc_url(ledger), rewrite=record, rewrite_batch=batched(record)) as node:
            _both(ledger, honest, tmp_path, key, node=node.url)
        with history_written(ledger, dept, "length", 0), mining_paused(ledger):
            collected = wclient.collect(ledger.chain, ledger.settings.data_dir, config)
            assert collected.witnessed and collected.checkpoint is not None
            cp = collected.checkpoint
            state = state_section(ledger.chain, ledger.settings.data_dir, cp, fresh_department)
            assert state is not None and "registry" not in state, state
            _, answers, _, too_long = registryslots.fetch_histories(
                ledger.chain.w3,
                ledger.chain.deployment.registry,
                cp.checkpoint.block_hash,
                cp.checkpoint.height,
                [dept],
            )
            assert too_long == [dept] and len(answers) == 1
            forged = copy.deepcopy(honest)
            forged["witness"] = {"checkpoint": cp.note, "state": {**state, "registry": registryslots.packed(answers)}}
            with RpcProxy(rpc_url(ledger), rewrite=replay, rewrite_batch=batched(replay)) as node:
                library, court = _both(ledger, forged, tmp_path, key, node=node.url)
    assert not library["witnessed"][0], library
    for detail in (library["witnessed"][1], court["witnessed"][1]):
        assert "more than the 256" in detail and PROVEN in detail, detail
