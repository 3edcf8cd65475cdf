"""The status history through a copy's held root, proven in witnessed bundles (``witness.state.held_history``) and
held to the node's answers by both verifiers (red team round 84's open row; docs/evidence.md, "Certificate slots").

A certificate anchored twice (a copy under a second root) and suspended through its first root: the contract's
``held`` slot names that first root, and every suspension and reinstatement of the digest is made through it. A
witnessed bundle of the copy proved that slot but not the changes through that root, so the chain's operator
answering ``statusHistory(department, heldRoot, digest)`` with the genuine suspension and a reinstatement it invented
before the cosigned block had both verifiers pass "valid now". The direct build now proves that history too, the
trail path's proven events already held it, and both verifiers hold the node's changes there up to the checkpoint to
the proven ones (a change after it is still believed). A bundle written before (no ``held_history``) says "held
root's history: not proven", ``state_proof`` "partial", and fails under ``--require-state-proof``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak

from ledger.cli.evidence import verdict_line
from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.onchain import anchorslots
from ledger.onchain.ids import department_id_bytes
from ledger.services import evidence, status

from .cli_support import rpc
from .conftest import PASSPHRASE, make_records
from .evidence_support import SCRIPT_MODULE as COURT
from .evidence_support import issue, standalone
from .foundation_support import reanchored
from .lying_node_support import HELD_UNDER, status_by_both
from .trie_support import made_up_state
from .witness_support import trusted_witness

STATUS_HISTORY = "0x" + keccak(text="statusHistory(bytes32,bytes32,bytes32)")[:4].hex()


@pytest.fixture()
def passphrases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")


def _copy_held(
    ledger: Ledger, tmp_path: Path, department: str, reinstated: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the first anchoring, its copy under a second root) of one certificate suspended through its first root (and
    ``reinstated`` there), three blocks mined after: the checkpoint above every change."""
    (first,) = issue(ledger, tmp_path, department, make_records(1))
    copy_ = reanchored(ledger, department, first)
    status.suspend(ledger, first["digest"], "under-investigation", department=department)
    if reinstated:
        status.reinstate(ledger, first["digest"], "grounds-resolved", department=department)
    for _ in range(3):
        rpc(ledger, "evm_mine")
    return first, copy_


def _changes(changes: list[tuple[int, int, int, bytes]]) -> str:
    """An ABI answer of ``statusHistory``: a dynamic array of (status, block, time, detail)."""
    words = "".join(f"{c:064x}{b:064x}{t:064x}{d.hex()}" for c, b, t, d in changes)
    return "0x" + f"{32:064x}{len(changes):064x}" + words


def _held_changes(ledger: Ledger, department: str, first: dict[str, Any]) -> list[tuple[int, int, int, bytes]]:
    found = ledger.chain.call(
        ledger.chain.anchor.functions.statusHistory(
            department_id_bytes(department),
            bytes.fromhex(first["anchor"]["root"][2:]),
            bytes.fromhex(first["digest"][2:]),
        )
    )
    return [(int(c), int(b), int(t), bytes(d)) for c, b, t, d in found]


def _outcomes(report: Any, court: dict[str, tuple[str, str]]) -> tuple[dict[str, str], dict[str, str]]:
    library = {c.name: "SKIP" if c.skipped else "PASS" if c.ok else "FAIL" for c in report.checks}
    return library, {name: result for name, (result, _) in court.items()}


@pytest.mark.parametrize("build", ["direct", "herd"])
@pytest.mark.parametrize("lookup", ["direct", "herd"])
def test_a_copys_bundle_proves_the_history_through_its_held_root(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None, build: str, lookup: str
) -> None:
    """A guard (honest): the copy of a certificate suspended and reinstated through its first root. The direct build
    carries ``held_history`` (the trail path's events hold it), both verifiers prove it and pass every check alike,
    saying the history there proven; ``state_proof`` "proven" in both."""
    _, copy_ = _copy_held(ledger, tmp_path, fresh_department, reinstated=True)
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = evidence.certificate_bundle(ledger, copy_, status_lookup=build)
        state = bundle["witness"]["state"]
        assert ("held_history" in state) == ("certificate" in state) == (build == "direct"), sorted(state)
        path = tmp_path / "copy.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        report, court, code = status_by_both(ledger, path, key, False, lookup)
        library, theirs = _outcomes(report, court)
        assert library == theirs and set(library.values()) == {"PASS"}, (library, theirs)
        assert code == 0 and report.ok
        if build == "direct":
            words = "its status history there (2 changes) proven"
            assert words in report.check("witnessed").detail and words in court["witnessed"][1], court["witnessed"]
        _, result, _ = standalone(ledger, path, "--witness-key", key, "--status-lookup", lookup)
        assert result is not None and result["state_proof"] == report.to_json()["state_proof"] == "proven"


@pytest.mark.parametrize("build", ["direct", "herd"])
@pytest.mark.parametrize("lie", ["invented reinstatement", "suspension dropped", "suspension moved"])
def test_a_node_answering_other_changes_through_the_held_root_fails_status_in_both(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None, build: str, lie: str
) -> None:
    """Adversary: the chain's operator, its node answering ``statusHistory`` through the copy's held root with a
    reinstatement it invented before the cosigned block, the suspension dropped (no change there; or only the
    invented reinstatement), or the suspension moved to another block. The bundle proves every change there up to
    its witnessed block (``held_history``, or the trail path's events), so each fails ``status`` in both verifiers
    with the same words, naming the bundle's state proof; ``witnessed`` passes."""
    first, copy_ = _copy_held(ledger, tmp_path, fresh_department, reinstated=False)
    dept = department_id_bytes(fresh_department).hex()
    held = first["anchor"]["root"].lower()[2:]
    (suspension,) = _held_changes(ledger, fresh_department, first)
    code, block, time, reason = suspension
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = evidence.certificate_bundle(ledger, copy_, status_lookup=build)
        height = int(bundle["witness"]["checkpoint"].split("\n")[1]) - 1
        assert block < height
        told = {
            "invented reinstatement": [suspension, (0, height, time, bytes(32))],
            "suspension dropped": [(0, height, time, bytes(32))],
            "suspension moved": [(code, block + 1, time, reason)],
        }[lie]
        path = tmp_path / "copy.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        report, court, exit_code = status_by_both(
            ledger, path, key, True, lies={STATUS_HISTORY + dept + held: _changes(told)}
        )
        library = report.check("status")
        assert not library.ok and "do not trust this node" in library.detail, library
        assert "the bundle's state proof proves" in library.detail and held in library.detail, library
        assert court["status"] == ("FAIL", library.detail), (court["status"], library.detail)
        assert report.check("witnessed").ok and court["witnessed"][0] == "PASS", court["witnessed"]
        assert exit_code == 1 and not report.ok


def test_a_change_through_the_held_root_after_the_checkpoint_is_believed(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """A guard: a history only grows. The node answering the proven suspension and then a reinstatement in a block
    after the cosigned one (the department lifting it since) is believed by both: "valid now"."""
    first, copy_ = _copy_held(ledger, tmp_path, fresh_department, reinstated=False)
    dept = department_id_bytes(fresh_department).hex()
    held = first["anchor"]["root"].lower()[2:]
    (suspension,) = _held_changes(ledger, fresh_department, first)
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = evidence.certificate_bundle(ledger, copy_, status_lookup="direct")
        height = int(bundle["witness"]["checkpoint"].split("\n")[1]) - 1
        rpc(ledger, "evm_mine")
        later = [suspension, (0, height + 1, suspension[2], bytes(32))]
        path = tmp_path / "copy.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        report, court, _ = status_by_both(ledger, path, key, True, lies={STATUS_HISTORY + dept + held: _changes(later)})
        assert report.check("status").ok and court["status"][0] == "PASS", (report.check("status"), court["status"])


def _drop_last_entry(bundle: dict[str, Any]) -> None:
    proofs = bundle["witness"]["state"]["held_history"]["storageProof"]
    proofs.pop()


def _own_roots_proof(bundle: dict[str, Any]) -> None:
    state = bundle["witness"]["state"]
    state["held_history"] = copy.deepcopy(state["certificate"])


def _first_bundles_held_proof(first_bundle: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def edit(bundle: dict[str, Any]) -> None:
        bundle["witness"]["state"]["held_history"] = copy.deepcopy(first_bundle["witness"]["state"]["certificate"])

    return edit


def _no_accounts(bundle: dict[str, Any]) -> None:
    bundle["witness"]["state"]["held_history"]["accountProof"] = []


def _not_an_object(bundle: dict[str, Any]) -> None:
    bundle["witness"]["state"]["held_history"] = ["0x00"]


EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    "a change's proof dropped": _drop_last_entry,
    "another root's history substituted (the copy's own)": _own_roots_proof,
    "its account proof cut": _no_accounts,
    "no proof object": _not_an_object,
}


@pytest.mark.parametrize("reinstated", [False, True])
def test_an_edited_held_history_fails_witnessed_alike_in_both_verifiers(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None, reinstated: bool
) -> None:
    """Adversary: a forger (whoever hands the court the copy's bundle) editing ``witness.state.held_history``: an
    entry's proof dropped, the proof of another root's history (the copy's own) put there, its account proof cut, no
    proof object, the held root's own slots proven at another block (the first anchoring's bundle's, of a later
    checkpoint). Each fails ``witnessed`` in both verifiers naming the held root's proof, and every check's outcome
    agrees."""
    first, copy_ = _copy_held(ledger, tmp_path, fresh_department, reinstated)
    held = first["anchor"]["root"].lower()
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = evidence.certificate_bundle(ledger, copy_, status_lookup="direct")
        rpc(ledger, "evm_mine")
        own = evidence.certificate_bundle(ledger, first, status_lookup="direct")
        assert own["witness"]["checkpoint"] != bundle["witness"]["checkpoint"]
        cases = {**EDITS, "the held root's slots at another block": _first_bundles_held_proof(own)}
        for name, edit in cases.items():
            edited = copy.deepcopy(bundle)
            edit(edited)
            path = tmp_path / "edited.json"
            path.write_text(json.dumps(edited), encoding="utf-8")
            report, court, _ = status_by_both(ledger, path, key, False)
            library, theirs = _outcomes(report, court)
            assert library == theirs, (name, {k: (v, theirs.get(k)) for k, v in library.items() if v != theirs.get(k)})
            for detail in (report.check("witnessed").detail, court["witnessed"][1]):
                assert library["witnessed"] == "FAIL" and "status history through the issuer's batch" in detail, (
                    name,
                    detail,
                )
                assert held in detail, (name, detail)


@pytest.mark.parametrize("lookup", ["direct", "herd"])
def test_a_bundle_without_held_history_is_partial_in_both_verifiers(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None, lookup: str
) -> None:
    """An older bundle (written before ``held_history``, or stripped of it by whoever hands it over): never a silent
    pass of what it cannot prove. ``witnessed`` passes saying "held root's history: not proven", both JSON reports
    say ``state_proof`` "partial", both last lines "VERIFIED, without a proof of the held root's history"; under
    ``--require-state-proof`` ``witnessed`` fails in both. The node's changes there are then its word (the round-84
    hold of a node answering none stays)."""
    _, copy_ = _copy_held(ledger, tmp_path, fresh_department, reinstated=True)
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = evidence.certificate_bundle(ledger, copy_, status_lookup="direct")
        del bundle["witness"]["state"]["held_history"]
        path = tmp_path / "older.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        report, court, code = status_by_both(ledger, path, key, False, lookup)
        library, theirs = _outcomes(report, court)
        assert library == theirs and set(library.values()) == {"PASS"}, (library, theirs)
        for detail in (report.check("witnessed").detail, court["witnessed"][1]):
            assert "held root's history: not proven" in detail, detail
        _, result, _ = standalone(ledger, path, "--witness-key", key, "--status-lookup", lookup)
        assert result is not None
        assert report.to_json()["state_proof"] == result["state_proof"] == "partial", result["state_proof"]
        lines = (
            verdict_line(report),
            COURT.verdict_line([(c["name"], c["result"], c["detail"]) for c in result["checks"]]),
        )
        assert lines[0] == lines[1] and lines[0].startswith("VERIFIED, without a proof of the held root's history"), (
            lines
        )
        required = evidence.verify_bundle(
            path, ledger.chain, witness_keys=[key], status_lookup=lookup, require_state_proof=True
        )
        code, result, _ = standalone(
            ledger, path, "--witness-key", key, "--status-lookup", lookup, "--require-state-proof"
        )
        assert result is not None and code == 1 and not required.ok
        checks = {c["name"]: (c["result"], c["detail"]) for c in result["checks"]}
        assert checks["witnessed"] == ("FAIL", required.check("witnessed").detail), checks["witnessed"]
        assert "a proof of the held root's history is required" in checks["witnessed"][1]


def test_the_node_naming_another_held_root_is_not_believed_against_the_proof(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: the chain's operator, its node answering ``heldUnder`` with another root (the copy's own, so that no
    other root is read). The proven held slot is read whatever it answers: the suspension through the first root
    fails ``status`` in both, in the same words."""
    first, copy_ = _copy_held(ledger, tmp_path, fresh_department, reinstated=False)
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = evidence.certificate_bundle(ledger, copy_, status_lookup="direct")
        path = tmp_path / "copy.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        report, court, code = status_by_both(
            ledger, path, key, True, lies={HELD_UNDER: copy_["anchor"]["root"].lower()}
        )
        library = report.check("status")
        assert not library.ok and "suspended" in library.detail and first["anchor"]["root"].lower() in library.detail
        assert court["status"] == ("FAIL", library.detail), (court["status"], library.detail)
        assert code == 1


# -- the court's expert: both readings of a held root's proven history, words no contract writes included ---------

DEPT, HELD, OTHER, DIGEST = b"\x0d" * 32, b"\x0e" * 32, b"\x0c" * 32, b"\x0f" * 32
ADDRESS = b"\xaa" * 20


def _history_words(root: bytes, length: int, changes: list[tuple[int, int, int]]) -> dict[int, int]:
    """The storage words of the status history of DIGEST through ``root``: ``length`` stated, ``changes`` written,
    every entry slot a reading may ask proven (a zero word by its absence)."""
    slots = anchorslots.certificate_slots(DEPT, root, DIGEST)
    words = {slots.history: length}
    for at in slots.entries(min(length, anchorslots.MAX_HISTORY)):
        words.setdefault(at, 0)
    entries = slots.entries(len(changes))
    for i, (code, block, time) in enumerate(changes):
        words[entries[2 * i]] = code | block << 8 | time << 40
        words[entries[2 * i + 1]] = 0x77
    return words


HISTORIES = {
    "a suspension and a reinstatement": _history_words(HELD, 2, [(1, 6, 10), (0, 7, 11)]),
    "a length stated past its changes": _history_words(HELD, 3, [(1, 6, 10)]),
    "a 2^40 length": _history_words(HELD, 2**40, []),
    "the most changes a proof carries": _history_words(HELD, anchorslots.MAX_HISTORY, [(1, 6, 10)] * 29),
    "one past them": _history_words(HELD, anchorslots.MAX_HISTORY + 1, [(1, 6, 10)] * 30),
    "another root's history (the held slot's root swapped)": _history_words(OTHER, 1, [(1, 6, 10)]),
    "a status code no contract writes": _history_words(HELD, 1, [(0xFF, 6, 10)]),
}


@pytest.mark.parametrize("history", list(HISTORIES))
def test_a_held_roots_proven_history_is_read_alike_by_both_verifiers(history: str) -> None:
    """Adversary: the court's expert, asking whether both verifiers read a proven history through the held root alike:
    a made-up block whose state holds it (a length past its changes, a length of 2^40, the bound and one past it,
    another root's history where the held root's is asked, a status code no contract writes). Each is read the same
    (the same changes) or refused by both."""
    words = HISTORIES[history]
    block, block_hash, answer = made_up_state(ADDRESS, words)
    address = "0x" + ADDRESS.hex()
    slots = anchorslots.certificate_slots(DEPT, HELD, DIGEST)
    mine: Any
    theirs: Any
    try:
        mine = [tuple(c) for c in anchorslots.verified_history(block, answer, address, slots, block_hash, 100)]
    except ChainError:
        mine = "refused"
    try:
        theirs = [tuple(c) for c in COURT.proven_history(block, answer, address, DEPT, HELD, DIGEST, block_hash, 100)]
    except COURT.Failure:
        theirs = "refused"
    assert mine == theirs, (mine, theirs)
    refused = words.get(slots.history, -1) not in range(anchorslots.MAX_HISTORY + 1)
    assert (mine == "refused") == refused, mine
