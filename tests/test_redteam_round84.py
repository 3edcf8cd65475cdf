"""Red team round 84: the chain's operator, a forger and a court's expert against the state proofs and the two
verifiers' agreement.

1. The chain's operator against the trail path. A witnessed bundle without the certificate's own slots (a herd-lookup
   build, or a direct build whose ``state.certificate`` a forger cut off) proves the issuer's status trail, and the
   node's events up to the checkpoint must hash to it, so they hold every change of the certificate there; but
   round 82's hold of ``status`` on the proof was for the certificate path only: under ``--status-lookup direct`` a
   node answering ``statusOf`` "valid" had a revoked (suspended, or revoked through another root) certificate
   VERIFIED by both verifiers. The proven events now hold ``status`` as the proven slots do.
2. A forger giving a bundle an older bundle's witness section (a stale checkpoint): both verifiers fail
   ``witnessed``, but the library took the stale section's certificate proof for ``status`` and the court's did not,
   so the two disagreed on a check. Neither takes it now.
3. The chain's operator hiding a suspension through another root: the copy's bundle proves the ``held`` slot (the
   root every suspension of the digest is made through, set once, never cleared), yet ``status`` took the node's
   ``heldUnder`` (answered zero) and passed the copy of a suspended certificate. A proven ``held`` root is read
   whatever ``heldUnder`` answers.
4. The chain's operator answering ``statusOf`` "valid" since the suspension's own block, or a block between it and
   the checkpoint: the proof holds every change up to the cosigned block, so no such reinstatement exists, but only
   an answer older than the last proven change was refused. An answer at or below the cosigned block must be the
   last proven change.

Open in this round, closed by sp3: the chain's operator inventing a reinstatement, before the checkpoint, through the
root a copy's suspension was made through: the bundle proved that root (``held``) but not the changes through it, so
both verifiers believed it. A direct build proves that history now (``witness.state.held_history``), the trail path's
events held it already, and both verifiers hold the node's changes there to it (tests/test_evidence_held_history.py).

Guards that held (the court's expert, both verifiers side by side): Merkle-Patricia shapes with embedded nodes, a
value at a branch, malformed path flags, oversized embeddings and trailing nodes get one reading from both walks; and
proven words no contract writes (a history of 2^255 changes, predecessors past the budget, a batch of count 0, a
change after the checkpoint, an unknown status code) are read alike or refused alike. A wider differential run over
bundle variants (sections cut or swapped for another certificate's or department's, keys without leading zeros or
in capitals, duplicated, dropped or extra proof entries, trailing nodes, newer forks' header fields, members renamed
or numbers for hex; under both lookups, an honest and a lying node) found no other disagreement.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_utils.crypto import keccak

from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.onchain import anchorslots, stateproof
from ledger.onchain.ids import department_id_bytes
from ledger.services import evidence, status

from .cli_support import rpc
from .conftest import PASSPHRASE, make_records
from .evidence_support import SCRIPT_MODULE as COURT
from .evidence_support import issue
from .foundation_support import reanchored
from .lying_node_support import HELD_UNDER, STATUS_OF, ZERO_WORD, status_by_both
from .trie_support import hex_prefix, key_nibbles, made_up_state
from .witness_support import trusted_witness


@pytest.fixture()
def passphrases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")


@pytest.mark.parametrize("build", ["herd", "certificate cut"])
@pytest.mark.parametrize("change", ["revoked", "suspended", "revoked under another root"])
def test_a_change_the_trail_path_proves_is_not_undone_by_a_node_answering_never_changed(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None, build: str, change: str
) -> None:
    """Adversary: the chain's operator (its node answering ``statusOf`` "valid, never changed" and ``endedUnder``
    zero), and for ``certificate cut`` a forger deleting ``witness.state.certificate``. A bundle on the trail path (a
    herd build carries no certificate proof; a direct build's cut off) proves the issuer's status trail at the
    cosigned block, and the node's events up to it hash to it and hold the change, so ``witnessed`` passed as
    proven; but ``status`` ("now") was the node's word alone on that path: the bundle of a revoked certificate was
    VERIFIED under ``--status-lookup direct`` in both verifiers (round 82 had closed it for the certificate path
    only). The trail path's proven events now hold ``status`` as the proven slots do."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    verified = target
    if change == "revoked under another root":
        verified = reanchored(ledger, fresh_department, target)
        status.revoke(ledger, target["digest"], "fraud", department=fresh_department)
    elif change == "revoked":
        status.revoke(ledger, target["digest"], "fraud", department=fresh_department)
    else:
        status.suspend(ledger, target["digest"], "under-investigation", department=fresh_department)
    for key, _ in trusted_witness(ledger, tmp_path):
        lookup = "herd" if build == "herd" else "direct"
        bundle = evidence.certificate_bundle(ledger, verified, status_lookup=lookup)
        state = bundle["witness"]["state"]
        if build == "certificate cut":
            del state["certificate"]
        assert "certificate" not in state and "proof" in state, sorted(state)
        path = tmp_path / "bundle.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        # an end under the first root is named by that root (round 82's words)
        word = target["anchor"]["root"].lower() if change.endswith("another root") else change
        for lying in (False, True):
            report, court, code = status_by_both(ledger, path, key, lying)
            library = report.check("status")
            assert not library.ok and word in library.detail.lower(), (lying, library)
            assert court["status"][0] == "FAIL" and word in court["status"][1].lower(), (lying, court["status"])
            assert library.detail == court["status"][1], (library.detail, court["status"])
            assert report.check("witnessed").ok and court["witnessed"][0] == "PASS", (lying, court["witnessed"])
            assert code == 1 and not report.ok


def test_a_stale_checkpoints_certificate_proof_is_taken_by_neither_verifier(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: a forger handing the court a bundle with the witness section of an older bundle of the same
    certificate (its checkpoint below the bundle's ``as_of``), and the chain's operator answering ``statusOf`` "valid,
    never changed". ``witnessed`` fails in both verifiers (a stale checkpoint), but the library still took the old
    section's certificate proof for ``status`` and the anchoring (its check of the checkpoint left out the coverage
    the court's makes), so the two verifiers disagreed on ``status``. Neither takes a proof of a checkpoint that does
    not cover the bundle's facts now; the verdicts and every check agree."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.suspend(ledger, target["digest"], "under-investigation", department=fresh_department)
    for key, _ in trusted_witness(ledger, tmp_path):
        older = evidence.certificate_bundle(ledger, target, status_lookup="direct")
        status.reinstate(ledger, target["digest"], "grounds-resolved", department=fresh_department)
        status.suspend(ledger, target["digest"], "under-investigation", department=fresh_department)
        bundle = evidence.certificate_bundle(ledger, target, status_lookup="direct")
        assert "certificate" in older["witness"]["state"] and "certificate" in bundle["witness"]["state"]
        assert older["witness"]["checkpoint"] != bundle["witness"]["checkpoint"]
        bundle["witness"] = older["witness"]
        path = tmp_path / "stale.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        for lying in (False, True):
            report, court, code = status_by_both(ledger, path, key, lying)
            library = {c.name: "SKIP" if c.skipped else "PASS" if c.ok else "FAIL" for c in report.checks}
            theirs = {name: result for name, (result, _) in court.items()}
            assert library == theirs, (lying, {k: (v, theirs.get(k)) for k, v in library.items() if v != theirs.get(k)})
            assert "stale" in report.check("witnessed").detail and "stale" in court["witnessed"][1]
            assert code == 1 and not report.ok


@pytest.mark.parametrize("build", ["direct", "herd"])
@pytest.mark.parametrize("reinstated", [False, True])
def test_a_suspension_through_another_root_the_bundle_proves_is_not_hidden_by_the_node(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None, build: str, reinstated: bool
) -> None:
    """Adversary: the chain's operator, its node answering ``heldUnder`` with zero. The department anchored the
    certificate again and suspended it through its first root (every suspension of the digest is made through that
    root, and holds under every root of it: round 46); the copy's witnessed bundle proves it (the ``held`` slot
    naming that root, or on the trail path the suspension among the proven events), and ``witnessed`` even named it
    ("first suspended under the issuer's batch ..."), but ``status`` took the node's ``heldUnder`` and passed "valid
    now": the copy of a suspended certificate was VERIFIED in both verifiers. ``held`` is set once and never cleared,
    so a proven one is read whatever ``heldUnder`` answers; a reinstatement through it is still believed."""
    (first,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    copy_ = reanchored(ledger, fresh_department, first)
    status.suspend(ledger, first["digest"], "under-investigation", department=fresh_department)
    if reinstated:
        status.reinstate(ledger, first["digest"], "grounds-resolved", department=fresh_department)
    held = first["anchor"]["root"].lower()
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = evidence.certificate_bundle(ledger, copy_, status_lookup=build)
        assert ("certificate" in bundle["witness"]["state"]) == (build == "direct"), sorted(bundle["witness"]["state"])
        path = tmp_path / "copy.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        for lie in (False, True):
            report, court, code = status_by_both(ledger, path, key, lie, lies={HELD_UNDER: ZERO_WORD})
            library = report.check("status")
            if reinstated:
                assert library.ok and court["status"][0] == "PASS", (lie, library, court["status"])
                assert code == 0 and report.ok, (lie, report.to_json())
                continue
            assert not library.ok and "suspended" in library.detail and held in library.detail.lower(), (lie, library)
            assert court["status"] == ("FAIL", library.detail), (lie, court["status"], library.detail)
            assert code == 1 and not report.ok


# -- the court's expert: both readings of proofs no honest chain gives, side by side ----------------------------


def _both_walks(root: bytes, key: bytes, proof: list[bytes]) -> tuple[Any, Any]:
    """(the library's, the court's) walk of ``proof`` for ``key`` under ``root``: the value (None: absent) or
    "refused"."""
    found = []
    for walk, refused in ((stateproof.verify_proof, ChainError), (COURT.trie_get, COURT.Failure)):
        try:
            found.append(walk(root, key, proof, "a value"))
        except refused:
            found.append("refused")
    return found[0], found[1]


def _trie_tricks() -> dict[str, tuple[bytes, bytes, list[bytes], Any]]:
    """name -> (root, key, proof, what a walk must find): Merkle-Patricia shapes a secure trie of a contract's
    storage has with keys sharing 62 nibbles of their hash (nodes under 32 bytes embedded in their parent), and ones
    no trie has (a value at a branch, a path's malformed flag, an embedding of 32 bytes or more, a node past the
    end). The root is the tricks' own: what matters is the walk over nodes that do hash to it."""
    key = b"a key"
    n = key_nibbles(key)
    other = (n[62] + 1) % 16
    branch: list[Any] = [b""] * 17
    branch[n[62]] = [hex_prefix(n[63:], True), b"\x01"]  # an odd one-nibble leaf, embedded
    branch[other] = [hex_prefix([0], True), b"\x02"]
    assert len(rlp.encode(branch)) < 32  # the branch embedded in the extension too
    embedded = bytes(rlp.encode([hex_prefix(n[:62], False), branch]))
    tricks: dict[str, tuple[bytes, bytes, list[bytes], Any]] = {
        "embedded leaf in an embedded branch": (keccak(embedded), key, [embedded], b"\x01"),
        "another key off the extension": (keccak(embedded), b"another", [embedded], None),
        "the embedded node given again": (keccak(embedded), key, [embedded, bytes(rlp.encode(branch))], "refused"),
    }
    at_end = bytes(rlp.encode([hex_prefix(n, False), [b""] * 16 + [b"\x05"]]))
    tricks["a value in a branch at the key's end"] = (keccak(at_end), key, [at_end], "refused")
    bad_flag = bytes(rlp.encode([bytes([0x01]) + hex_prefix(n[:62], False)[1:], branch]))
    tricks["an even path with a nibble in its flag byte"] = (keccak(bad_flag), key, [bad_flag], "refused")
    big = list(branch)
    big[n[62]] = [hex_prefix(n[63:], True), b"\x01" * 40]  # 40 bytes: must be referred to by its hash
    hashed = bytes(rlp.encode(big))
    top = bytes(rlp.encode([hex_prefix(n[:62], False), keccak(hashed)]))
    tricks["an embedding of 32 bytes or more"] = (keccak(top), key, [top, hashed], "refused")
    trailing = bytes(rlp.encode([hex_prefix(n, True), b"\x07"]))
    tricks["a leaf of the whole key, a node after it"] = (keccak(trailing), key, [trailing, trailing], "refused")
    tricks["a leaf of the whole key"] = (keccak(trailing), key, [trailing], b"\x07")
    return tricks


@pytest.mark.parametrize("trick", list(_trie_tricks()))
def test_merkle_patricia_tricks_get_one_reading_from_both_walks(trick: str) -> None:
    """Adversary: the chain's operator shaping a proof (its node's ``eth_getProof``): nodes under 32 bytes embedded
    in their parent (a branch inside an extension, a one-nibble leaf inside it), an embedded node handed again as a
    node of its own, a value at a branch where the key ends, a path whose flag byte carries a nibble, an embedding
    of 32 bytes or more, a node after a leaf. Both walks find the same value, the same absence, or refuse alike (a
    guard: they did)."""
    root, key, proof, expected = _trie_tricks()[trick]
    assert _both_walks(root, key, proof) == (expected, expected)


DEPT, ROOT, DIGEST = b"\x0d" * 32, b"\x0e" * 32, b"\x0f" * 32
ADDRESS = b"\xaa" * 20
SIGNER = 0x1234 << 100


def _words(length: int, count: int, batch: int, changes: list[tuple[int, int, int]]) -> dict[int, int]:
    """The certificate's storage words: its batch record ``batch`` (signer | block << 160 | time << 192 | count <<
    224; then a type), ``length`` and ``count`` stated, and the status ``changes`` (code, block, time) written."""
    slots = anchorslots.certificate_slots(DEPT, ROOT, DIGEST)
    words = dict.fromkeys(slots.fixed(), 0)
    words.update({slots.batch: batch, slots.batch + 1: 7, slots.history: length, slots.predecessors: count})
    entries = slots.entries(len(changes))
    for i, (code, block, time) in enumerate(changes):
        words[entries[2 * i]] = code | block << 8 | time << 40
        words[entries[2 * i + 1]] = 0x99
    for at in slots.predecessor_entries(min(count, 2)):
        words[at] = 0x55
    # every slot a reading may ask is proven (a zero word by its absence)
    for at in slots.entries(min(length, 29)) + slots.predecessor_entries(min(count, 29)):
        words.setdefault(at, 0)
    return words


def _record(signer: int, block: int, time: int, count: int) -> int:
    return signer | block << 160 | time << 192 | count << 224


STATES = {
    "a status history of 2^255 changes": _words(2**255, 0, _record(SIGNER, 5, 9, 3), []),
    "2^200 predecessors": _words(0, 2**200, _record(SIGNER, 5, 9, 3), []),
    "changes and predecessors one past the budget": _words(28, 2, _record(SIGNER, 5, 9, 3), [(1, 6, 10)] * 28),
    "a batch record of count 0": _words(0, 0, _record(SIGNER, 5, 9, 0), []),
    "a batch record of nothing but a count": _words(0, 0, _record(0, 0, 0, 3), []),
    "a change after the checkpoint's block and time": _words(
        1, 0, _record(SIGNER, 5, 9, 3), [(1, 2**32 - 1, 2**32 - 1)]
    ),
    "a status code no contract writes": _words(2, 0, _record(SIGNER, 5, 9, 3), [(1, 6, 10), (0xFF, 7, 11)]),
    "a length stated, its changes all zero": _words(3, 0, _record(SIGNER, 5, 9, 3), []),
}


@pytest.mark.parametrize("state", list(STATES))
def test_proven_words_no_contract_writes_are_read_alike_by_both_verifiers(state: str) -> None:
    """Adversary: the court's expert, asking whether the two verifiers read any proven storage alike, the words no
    contract of ours writes included (a status history of 2^255 changes, predecessors past any budget, a batch
    record of count 0 or of no signer and block, a change after the checkpoint's block and time, a status code past
    the four): a made-up block whose header hashes to what the test cosigns, proving those words. Each is read the
    same way by both (the same record, history, ended and held roots and predecessors) or refused by both (a guard:
    they were)."""
    words = STATES[state]
    slots = anchorslots.certificate_slots(DEPT, ROOT, DIGEST)
    length, count = words[slots.history], words[slots.predecessors]
    block, block_hash, answer = made_up_state(ADDRESS, words)
    address = "0x" + ADDRESS.hex()
    try:
        mine = anchorslots.verified_certificate(block, answer, address, slots, block_hash, 100)
        library: Any = (
            (mine.batch.signer, mine.batch.block_number, mine.batch.timestamp, mine.batch.count, mine.batch.schema),
            [tuple(c) for c in mine.history],
            mine.ended,
            mine.held,
            [tuple(p) for p in mine.predecessors],
        )
    except ChainError:
        library = "refused"
    try:
        theirs = COURT.proven_certificate(block, answer, address, DEPT, ROOT, DIGEST, block_hash, 100)
        court: Any = (
            (
                *tuple(theirs[k] for k in ("signer", "block_number", "timestamp", "count")),
                bytes.fromhex(theirs["schema"][2:]),
            ),
            [tuple(c) for c in theirs["history"]],
            theirs["ended"],
            theirs["held"],
            [tuple(p) for p in theirs["predecessors"]],
        )
    except COURT.Failure:
        court = "refused"
    assert library == court, (library, court)
    assert (library == "refused") == (length + count > anchorslots.MAX_HISTORY), library


@pytest.mark.parametrize("build", ["direct", "herd"])
@pytest.mark.parametrize("answered", ["in the suspension's block", "between it and the checkpoint"])
def test_a_reinstatement_the_proof_rules_out_is_not_believed(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None, build: str, answered: str
) -> None:
    """Adversary: the chain's operator, its node answering ``statusOf`` "valid" since a block at or before the
    cosigned one: the suspension's own block, or one between it and the checkpoint. The bundle proves every change
    of the certificate up to the cosigned block, the last one the suspension, so no reinstatement at or before it
    exists; but round 82's hold ("a history only grows") refused only an answer older than the proven change: an
    answer of the same block, or of any block up to the checkpoint, passed "valid now" and the suspended certificate
    was VERIFIED in both verifiers. An answer at or below the cosigned block must be the last proven change; a
    reinstatement after it is still believed."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.suspend(ledger, target["digest"], "under-investigation", department=fresh_department)
    for _ in range(2):  # the checkpoint above the suspension's block
        rpc(ledger, "evm_mine")
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = evidence.certificate_bundle(ledger, target, status_lookup=build)
        assert bundle["status"]["status"] == "suspended"
        suspended = bundle["status"]["changed_in_block"]
        height = int(bundle["witness"]["checkpoint"].split("\n")[1]) - 1
        block = suspended if answered.startswith("in") else height
        assert suspended < height, (suspended, height)
        path = tmp_path / "suspended.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        valid_since = "0x" + f"{0:064x}{block:064x}{0:064x}{0:064x}"
        for lie in (False, True):
            report, court, code = status_by_both(ledger, path, key, lie, lies={STATUS_OF: valid_since})
            library = report.check("status")
            assert not library.ok and "suspended" in library.detail, (lie, library)
            assert court["status"] == ("FAIL", library.detail), (lie, court["status"], library.detail)
            assert code == 1 and not report.ok


STATUS_HISTORY = "0x" + keccak(text="statusHistory(bytes32,bytes32,bytes32)")[:4].hex()


@pytest.mark.parametrize("build", ["direct", "herd"])
def test_a_reinstatement_through_the_held_root_invented_before_the_checkpoint_is_not_believed(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None, build: str
) -> None:
    """Adversary: the chain's operator, its node answering ``statusHistory`` through the root a copy's suspension was
    made through with the genuine suspension and a reinstatement it invented, in a block before the cosigned one.
    The copy's bundle proved that root (``held``; on the trail path, every change up to the checkpoint), but not the
    changes through it (the certificate path proved the bundle's own root's only), so both verifiers believed the
    reinstatement and passed "valid now". The direct build proves the history through that root now
    (``witness.state.held_history``), the trail path's events hold it, and both verifiers fail ``status`` alike,
    naming the bundle's state proof (open in this round, closed by sp3)."""
    (first,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    copy_ = reanchored(ledger, fresh_department, first)
    status.suspend(ledger, first["digest"], "under-investigation", department=fresh_department)
    for _ in range(3):
        rpc(ledger, "evm_mine")
    dept = department_id_bytes(fresh_department).hex()
    held = first["anchor"]["root"].lower()[2:]
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = evidence.certificate_bundle(ledger, copy_, status_lookup=build)
        height = int(bundle["witness"]["checkpoint"].split("\n")[1]) - 1
        (suspension,) = ledger.chain.call(
            ledger.chain.anchor.functions.statusHistory(
                bytes.fromhex(dept), bytes.fromhex(held), bytes.fromhex(first["digest"][2:])
            )
        )
        code, block, time, reason = suspension
        assert code == 1 and block < height
        changes = (
            f"{code:064x}{block:064x}{time:064x}{bytes(reason).hex()}" + f"{0:064x}{height:064x}{time:064x}{0:064x}"
        )
        invented = "0x" + f"{32:064x}{2:064x}" + changes
        path = tmp_path / "copy.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        assert ("held_history" in bundle["witness"]["state"]) == (build == "direct"), sorted(bundle["witness"]["state"])
        report, court, _ = status_by_both(ledger, path, key, True, lies={STATUS_HISTORY + dept + held: invented})
        library = report.check("status")
        assert not library.ok and "the bundle's state proof proves" in library.detail, library
        assert court["status"] == ("FAIL", library.detail), (court["status"], library.detail)
