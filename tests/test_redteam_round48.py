"""Red team round 48: the court's expert checking an evidence bundle, and a gateway relaying another's messages
(docs/threat-model.md, round 48 rows). Each attack was written failing first.

1. (Whoever hands the court a bundle) re-encode a genuine batch (or log batch) signature's recovery byte ``v`` the
   way an EIP-155 transaction writes it (35 + parity, or any byte above): eth-account reads such a byte as a chain
   id and a parity, so the library recovered the department's key and passed ``signature`` (of a decision bundle too),
   where the court's verifier, reading ``v`` as docs/format.md §7 states it, failed it: one bundle, two verdicts.
   Both now refuse a recovery byte other than 27 or 28 (0 or 1, the raw recovery id, as the court's verifier
   always took it).

Each test is one attack, named in its docstring with the adversary and what it tries. Real anvil, real database
(SQLite, or PostgreSQL with LEDGER_TEST_DATABASE_URL); no mocks.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.services import evidence
from ledger.services.verify import ChainView, verify_certificate

from .conftest import make_records
from .evidence_support import both, decided, issue


@pytest.fixture(scope="module")
def document(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return issue(ledger, tmp_path_factory.mktemp("rt48"), "MKT", make_records(2, prefix="RT48"))[0]


@pytest.fixture(scope="module")
def certificate_bundle(ledger: Ledger, document: dict[str, Any]) -> dict[str, Any]:
    return evidence.certificate_bundle(ledger, document)


def _v_as(signature: str, byte: int) -> str:
    """``signature`` (0x + 130 hex digits, v 27 or 28) with its recovery byte written as ``byte`` + its parity."""
    raw = bytes.fromhex(signature[2:])
    return "0x" + (raw[:64] + bytes([byte + raw[64] - 27])).hex()


@pytest.mark.parametrize("byte", [35, 37, 99])
def test_a_signatures_recovery_byte_written_as_eip155_gets_one_verdict_from_both_verifiers(
    ledger: Ledger, certificate_bundle: dict[str, Any], tmp_path: Path, byte: int
) -> None:
    """Adversary: whoever hands the court a certificate bundle, re-encoding the batch signature's ``v`` byte as an
    EIP-155 transaction writes it (35 + parity; 37 + parity; 99 + parity, any byte above 34 with that parity): the
    library (eth-account's reading of ``v``) recovered the department's key and passed ``signature``, the court's
    verifier failed it. Holds now: both fail ``signature`` alone, naming the recovery byte."""
    bad = copy.deepcopy(certificate_bundle)
    bad["anchor"]["signature"] = _v_as(bad["anchor"]["signature"], byte)
    report, code, _ = both(ledger, bad, tmp_path, f"v{byte}.json")
    assert code == 1 and {c.name for c in report.failed} == {"signature"}, report.to_json()
    assert "recovery" in report.check("signature").detail, report.check("signature").detail


def test_a_documents_recovery_byte_written_as_eip155_fails_ledger_verify(
    ledger: Ledger, document: dict[str, Any]
) -> None:
    """Adversary: a holder handing a relying party (``ledger verify``, the gateway's verify routes) their document
    with the batch signature's ``v`` byte written 35 + parity: it verified. Holds now: ``signature`` fails."""
    bad = copy.deepcopy(document)
    bad["anchor"]["signature"] = _v_as(bad["anchor"]["signature"], 35)
    report = verify_certificate(bad, ChainView(ledger.chain))
    assert not report.ok and {c.name for c in report.failed} == {"signature"}, report.to_json()
    assert verify_certificate(document, ChainView(ledger.chain)).ok


def test_a_log_signatures_recovery_byte_written_as_eip155_gets_one_verdict_from_both_verifiers(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: whoever hands the court a decision bundle, re-encoding the log batch signature's ``v`` byte as
    35 + parity: the library passed its ``signature`` check, the court's verifier failed it. Holds now: both fail it."""
    _, apps = decided(ledger, fresh_department, n=1)
    bad = evidence.decision_bundle(ledger, fresh_department, apps[0]["case_id"])
    bad["anchor"]["signature"] = _v_as(bad["anchor"]["signature"], 35)
    report, code, _ = both(ledger, bad, tmp_path, "log-v35.json")
    assert code == 1 and {c.name for c in report.failed} == {"signature"}, [(c.name, c.detail) for c in report.failed]
