"""Red team round 79: a court's expert against the witnessed state proof of evidence bundles (sp2).

The state-proof downgrade: a witnessed certificate bundle carries ``witness.state``, the cosigned block's header and
the proof of the issuer's status and anchoring trails there. Whoever hands the court the bundle (the issuing
department, a relay, the holder) can delete that member; the bundle still passes ``witnessed``, "state proof:
absent", and the issuer's trails at the checkpoint are then the node's word. Bundles written before state proofs
must still check, so requiring the proof is the verifier's choice (``--require-state-proof`` in the court's verifier
and in ``ledger evidence verify``, ``require_state_proof`` in the library): under it both verifiers fail such a
bundle, naming what is missing, and agree.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.services import evidence, status
from ledger.services.witness.bundle import VERIFIED_WITHOUT_STATE_PROOF

from .cli_support import cli_in_process
from .conftest import PASSPHRASE, make_records
from .evidence_support import SCRIPT_MODULE, issue, standalone
from .verifiers_support import witnessed_by_both_many
from .witness_support import trusted_witness

COURT = SCRIPT_MODULE


@pytest.fixture()
def passphrases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")


def _court_verdict(ledger: Ledger, path: Path, key: str) -> str:
    """The last line of the court's verifier's report on the bundle at ``path`` (its verdict_line of its checks)."""
    _, result, stderr = standalone(ledger, path, "--witness-key", key)
    assert result is not None, stderr
    return str(COURT.verdict_line([(c["name"], c["result"], c["detail"]) for c in result["checks"]]))


def test_a_stripped_state_proof_fails_witnessed_when_the_verifier_requires_one(
    ledger: Ledger,
    tmp_path: Path,
    fresh_department: str,
    passphrases: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Adversary: whoever hands the court a witnessed certificate bundle, deleting its ``witness.state``. Asked to
    require a state proof, both verifiers fail ``witnessed`` for it, naming the missing proof, and still pass the
    whole bundle; not asked, both pass the stripped one saying the proof is absent (older bundles still check).
    Requiring a proof without a witness key fails alike: the proof is of the witnesses' block. The CLI's
    ``ledger evidence verify --require-state-proof`` is the library's verdict."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    for key, _ in trusted_witness(ledger, tmp_path):
        whole = evidence.certificate_bundle(ledger, target)
        assert "state" in whole["witness"], whole["witness"]
        stripped = copy.deepcopy(whole)
        del stripped["witness"]["state"]

        required = witnessed_by_both_many(ledger, [whole, stripped], tmp_path, key, require_state_proof=True)
        ((ok, detail), (result, court)), ((s_ok, s_detail), (s_result, s_court)) = required
        assert ok and result == "PASS" and "proven at block" in detail and "proven at block" in court, (detail, court)
        assert not s_ok and s_result == "FAIL", (s_detail, s_court)
        for text in (s_detail, s_court):
            assert "state proof: absent, and one is required" in text, text
        assert s_detail == s_court

        lenient = witnessed_by_both_many(ledger, [stripped], tmp_path, key)
        (((l_ok, l_detail), (l_result, l_court)),) = lenient
        assert l_ok and l_result == "PASS", (l_detail, l_court)
        assert "state proof: absent" in l_detail and "state proof: absent" in l_court

        (((n_ok, n_detail), (n_result, n_court)),) = witnessed_by_both_many(
            ledger, [whole], tmp_path, None, require_state_proof=True
        )
        assert not n_ok and n_result == "FAIL" and n_detail == n_court, (n_detail, n_court)
        assert "no witness keys were given" in n_detail

        path = tmp_path / "stripped.json"
        path.write_text(json.dumps(stripped), encoding="utf-8")
        args = ("evidence", "verify", str(path), "--witness-key", key)
        code, out, _ = cli_in_process(ledger, monkeypatch, capsys, *args, "--require-state-proof")
        assert code == 1 and "NOT VERIFIED: witnessed" in out, out
        code, out, _ = cli_in_process(ledger, monkeypatch, capsys, *args)
        assert code == 0 and "state proof: absent" in out, out
        # the absence is in the report's last line too, in both verifiers, not only in the check's detail
        assert out.splitlines()[-1] == VERIFIED_WITHOUT_STATE_PROOF, out
        assert _court_verdict(ledger, path, key) == VERIFIED_WITHOUT_STATE_PROOF
        path.write_text(json.dumps(whole), encoding="utf-8")
        assert _court_verdict(ledger, path, key) == "VERIFIED"
        code, out, _ = cli_in_process(ledger, monkeypatch, capsys, *args)
        assert code == 0 and out.splitlines()[-1] == "VERIFIED", out


def _spellings(bundle: dict[str, Any]) -> dict[str, tuple[dict[str, Any], bool]]:
    """The bundle with its state section spelled otherwise, or given extra or duplicate members: name -> (the
    bundle, whether it proves the same trails)."""
    cases: dict[str, tuple[dict[str, Any], bool]] = {}

    def altered(name: str, passes: bool, change: Any) -> None:
        changed = copy.deepcopy(bundle)
        change(changed["witness"]["state"])
        cases[name] = (changed, passes)

    def upper(text: str) -> str:
        return "0x" + text[2:].upper()

    def hashes_upper(state: dict[str, Any]) -> None:
        for name in ("parentHash", "stateRoot", "miner", "logsBloom", "mixHash", "nonce"):
            state["block"][name] = upper(state["block"][name])

    def quantities_zero_padded(state: dict[str, Any]) -> None:
        for name in ("number", "gasLimit", "timestamp", "difficulty"):
            state["block"][name] = "0x000" + state["block"][name][2:]

    def capital_prefix(state: dict[str, Any]) -> None:
        state["block"]["stateRoot"] = "0X" + state["block"]["stateRoot"][2:]

    def number_as_integer(state: dict[str, Any]) -> None:
        state["block"]["number"] = int(state["block"]["number"], 16)

    def proof_nodes_upper(state: dict[str, Any]) -> None:
        state["proof"]["accountProof"] = [upper(n) for n in state["proof"]["accountProof"]]
        for entry in state["proof"]["storageProof"]:
            entry["proof"] = [upper(n) for n in entry["proof"]]

    def slot_twice_two_values(state: dict[str, Any]) -> None:
        again = copy.deepcopy(state["proof"]["storageProof"][0])
        again["value"] = "0x1"  # a bundle's proof states no values (they are not believed); this one does
        again["proof"] = copy.deepcopy(state["proof"]["storageProof"][1]["proof"])  # another slot's path, other value
        state["proof"]["storageProof"].append(again)

    def slot_twice_spelled_apart(state: dict[str, Any]) -> None:
        again = copy.deepcopy(state["proof"]["storageProof"][0])
        again["key"] = hex(int(again["key"], 16))
        state["proof"]["storageProof"].append(again)

    def unasked_slot(state: dict[str, Any]) -> None:
        state["proof"]["storageProof"].append({"key": "0x1", "value": "0x5", "proof": []})

    def extra_members(state: dict[str, Any]) -> None:
        state["note"] = "believe me"
        state["proof"]["balance"] = "0xffff"

    altered("hash fields in upper case", True, hashes_upper)
    altered("quantities with leading zeros", True, quantities_zero_padded)
    altered("a 0X prefix", False, capital_prefix)
    altered("the number as a JSON integer", False, number_as_integer)
    altered("proof nodes in upper case", True, proof_nodes_upper)
    altered("one slot twice with two values", False, slot_twice_two_values)
    altered("one slot twice, its key spelled apart", False, slot_twice_spelled_apart)
    altered("a slot proof nobody asked for", True, unasked_slot)
    altered("extra members beside the proof", True, extra_members)
    return cases


def test_a_state_section_spelled_otherwise_gets_one_verdict_from_both_verifiers(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: a court's expert (or whoever hands over the bundle) respelling its state section: hash fields and
    proof nodes in upper-case hex, quantities with leading zeros (the same header RLP), a ``0X`` prefix, the number
    as a JSON integer, one storage slot proven twice (under another slot's path with a value stated, or its key
    spelled two ways), a slot proof nobody asked for, members beside the proof. Both verifiers give each the same
    verdict: a respelling that hashes to the cosigned header passes in both, a malformed or ambiguous one fails in
    both."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    for key, _ in trusted_witness(ledger, tmp_path):
        bundle = evidence.certificate_bundle(ledger, target)
        cases = _spellings(bundle)
        names = list(cases)
        verdicts = witnessed_by_both_many(ledger, [cases[n][0] for n in names], tmp_path, key, require_state_proof=True)
        for name, ((ok, detail), (result, court)) in zip(names, verdicts, strict=True):
            assert ok == (result == "PASS"), (name, detail, court)
            assert ok == cases[name][1], (name, detail, court)


def test_a_checkpoint_far_above_the_anchoring_proves_the_status_as_of_either_end(
    ledger: Ledger, tmp_path: Path, fresh_department: str, passphrases: None
) -> None:
    """Adversary: the holder of a certificate revoked after it was anchored, with many of its issuer's batches
    between its anchoring and the witnessed checkpoint. A bundle stating its status as of its anchoring block (then
    valid) and one as of the checkpoint's own block (revoked; ``as_of`` equal to the witnessed height) are both
    proven from the one trail at the checkpoint, by both verifiers; the later bundle with its revocation edited out,
    or the earlier one stating the revocation, fails ``witnessed`` in both."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    for _ in range(3):  # batches of the issuer between the anchoring and the checkpoint
        issue(ledger, tmp_path, fresh_department, make_records(1))
    status.revoke(ledger, target["digest"], "fraud")
    for key, _ in trusted_witness(ledger, tmp_path):
        late = evidence.certificate_bundle(ledger, target)
        early = evidence.certificate_bundle(ledger, target, as_of_block=late["anchor"]["block_number"])
        assert late["status"]["status"] == "revoked" and early["status"]["status"] == "valid", (late, early)
        height = int(late["witness"]["checkpoint"].split("\n")[1]) - 1
        assert late["as_of"]["block_number"] == height > early["as_of"]["block_number"] + 3, (height, late["as_of"])
        edited = copy.deepcopy(late)
        edited["status"] = copy.deepcopy(early["status"])
        foretold = copy.deepcopy(early)
        foretold["status"] = copy.deepcopy(late["status"])
        verdicts = witnessed_by_both_many(
            ledger, [late, early, edited, foretold], tmp_path, key, require_state_proof=True
        )
        for name, passes, ((ok, detail), (result, court)) in zip(
            ("late", "early", "edited", "foretold"), (True, True, False, False), verdicts, strict=True
        ):
            assert ok == (result == "PASS") == passes, (name, detail, court)
