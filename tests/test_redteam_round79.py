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

import pytest

from ledger.client import Ledger
from ledger.services import evidence
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
