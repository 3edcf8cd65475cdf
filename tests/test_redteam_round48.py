"""Red team round 48: the court's expert checking an evidence bundle, and a gateway relaying another's messages
(docs/threat-model.md, round 48 rows). Each attack was written failing first.

1. (Whoever hands the court a bundle) re-encode a genuine batch (or log batch) signature's recovery byte ``v`` the
   way an EIP-155 transaction writes it (35 + parity, or any byte above): eth-account reads such a byte as a chain
   id and a parity, so the library recovered the department's key and passed ``signature`` (of a decision bundle too),
   where the court's verifier, reading ``v`` as docs/format.md §7 states it, failed it: one bundle, two verdicts.
   Both now refuse a recovery byte other than 27 or 28 (0 or 1, the raw recovery id, as the court's verifier
   always took it).
2. (A department writing its decision log past the library) anchor an automatic decision stating the format
   ``pl-decision/9`` or the engine ``pl-rules/9``: replay reports it (``format_invalid``, ``engine_mismatch``), both
   bundle verifiers VERIFIED it, reading neither. Both now fail ``rerun`` in replay's words. An officer's decision
   stating ``pl-decision/9`` passed all three: replay now reports it too (``format_invalid``).
3. (The same) state a decider that is neither the engine nor an officer (``{"kind": "robot"}``): replay took it for
   an officer's (nothing re-run, no officer checked), both bundle verifiers for the engine's (re-run), so a
   rejection the rules contradict passed replay and failed both bundle verifiers. Replay now reports it
   (``format_invalid``) and both bundle verifiers fail ``rerun``.
4. (An anonymous client, or a relay in front of the gateway) send a request's headers and then its body a byte at a
   time, or never: the gateway waited for ever, each such request holding a connection and spending no budget. The
   guard now gives a body ``LEDGER_API_MAX_BODY_SECONDS`` (60 s) and answers 408, closing the connection.

Held (no change; docs/threat-model.md, round 48 rows): 2,000 re-encodings of every member of a presentation and of a
decision bundle, and 2,000 more of hostile shapes (huge integers, NUL, lone surrogates, BOM, full-width hex, a value
wrapped in a list or object, null), one member at a time, each got the same failed checks from both verifiers; a
member neither verifier reads passes both (annotations, docs/evidence.md). At the gateway (a real uvicorn, by hand):
two departments' requests pipelined on one connection are answered in order, each as its own; a request refused
before its body is read is answered with ``Connection: close``, so a request smuggled in its declared body is never
read.

Each test is one attack, named in its docstring with the adversary and what it tries. Real anvil, real database
(SQLite, or PostgreSQL with LEDGER_TEST_DATABASE_URL); no mocks.
"""

from __future__ import annotations

import copy
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.services import decisions, evidence, logchain
from ledger.services.auth import sign_challenge
from ledger.services.replay import replay
from ledger.services.verify import ChainView, verify_certificate

from .api_support import Clock, make_client
from .conftest import make_records
from .evidence_support import both, decided, issue
from .gateway_process import gateway
from .rerun_support import World, world_fixture  # noqa: F401 - the decisions' world


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


def _forged(world: World, case: str, edit: dict[str, Any]) -> dict[str, Any]:
    """The bundle of a record of the department's own writing (it holds its log's key): the automatic decision of
    ``case`` written again past the library with ``edit``, anchored."""
    body = copy.deepcopy(world.decide(case, 0).body)
    assert body["outcome"] == "approve", body
    logchain.append(world.ledger, logchain.LOG_DECISIONS, world.dept, {**body, **edit})
    return world.bundle(case, 0)


def _replayed(world: World, case: str) -> set[str]:
    """Replay's discrepancies of ``case`` but ``decided_again`` (the forged record decides the case a second time)."""
    found = replay(world.ledger, department=world.dept, case_id=case, workers=0).discrepancies
    return {d.check for d in found if d.check != "decided_again"}


@pytest.mark.parametrize(
    ("edit", "replay_says"),
    [
        ({"format": "pl-decision/9"}, "format_invalid"),
        ({"engine": "pl-rules/9"}, "engine_mismatch"),
    ],
    ids=["format", "engine"],
)
def test_an_automatic_decision_of_a_format_or_engine_no_verifier_knows_fails_rerun_in_both_bundle_verifiers(
    world: World, tmp_path: Path, edit: dict[str, Any], replay_says: str
) -> None:
    """Adversary: a department writing its decision log past the library (it holds the log's key), then handing a
    court the bundle: an automatic decision stating the format ``pl-decision/9`` or the engine ``pl-rules/9``,
    anchored. Replay reports it (``format_invalid``, ``engine_mismatch``: it re-runs nothing it cannot read), but
    neither bundle verifier read the record's format or engine, so both VERIFIED a record of a version they do not
    know. Holds now: both fail ``rerun`` naming what the record states, as replay does."""
    case = f"RR48-{replay_says}"
    bundle = _forged(world, case, edit)
    assert _replayed(world, case) == {replay_says}
    report, code, _ = both(world.ledger, bundle, tmp_path, f"{replay_says}.json")
    assert code == 1 and {c.name for c in report.failed} == {"rerun"}, [(c.name, c.detail) for c in report.failed]
    assert repr(next(iter(edit.values()))) in report.check("rerun").detail, report.check("rerun").detail


@pytest.mark.parametrize("decided_by", [{"kind": "robot"}, {"kind": "Officer"}, {}], ids=["robot", "Officer", "none"])
def test_a_decision_by_a_kind_of_decider_no_verifier_knows_is_refused_by_replay_and_both_bundle_verifiers(
    world: World, tmp_path: Path, decided_by: dict[str, Any]
) -> None:
    """Adversary: a department writing its decision log past the library, stating a decider that is neither the
    engine nor an officer (``{"kind": "robot"}``, ``"Officer"``, none). Replay took any kind but ``engine`` for an
    officer's and re-ran nothing, checking no officer either; both bundle verifiers took any kind but ``officer``
    for the engine's and re-ran it: a rejection the rules contradict passed replay and failed both bundle
    verifiers, one the rules agree with passed all three. Holds now: replay reports it (``format_invalid``) and
    both bundle verifiers fail ``rerun``, naming the kind."""
    case = f"RR48-KIND-{decided_by.get('kind', 'none')}"
    bundle = _forged(world, case, {"decided_by": decided_by})
    assert _replayed(world, case) == {"format_invalid"}
    report, code, _ = both(world.ledger, bundle, tmp_path, f"{case}.json")
    assert code == 1 and {c.name for c in report.failed} == {"rerun"}, [(c.name, c.detail) for c in report.failed]
    assert "engine" in report.check("rerun").detail and "officer" in report.check("rerun").detail


def test_a_body_streamed_slowly_is_refused_at_the_gateways_deadline_not_held_open_for_ever(ledger: Ledger) -> None:
    """Adversary: an anonymous client (or a relay in front of the gateway) that sends a request's headers and then
    its body a byte at a time, or never: the gateway waited for the rest of the body for ever, each such request
    holding a connection (a file descriptor) and nothing spent of any budget, as no request ever completed, so a
    few thousand connections from one host starve the gateway of descriptors and lock everyone out. Holds now: the
    guard gives a body ``max_body_seconds`` (60 s by default) from the end of the headers, then answers 408 and
    closes the connection; a body sent whole meanwhile is answered as ever."""
    with gateway(ledger, max_body_seconds=2) as gw:
        host, port = gw.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as slow:
            started = time.monotonic()  # the deadline runs from the guard's first read, just after the headers
            slow.sendall(
                b"POST /public/verify HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n{"
            )
            with gw.client() as other:  # everyone else is served meanwhile
                assert other.get("/auth/me").status_code == 401
            slow.settimeout(10)
            answer = b""
            while chunk := slow.recv(65536):
                answer += chunk
            waited = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:300]
        assert b"/problems/request-timeout" in answer and b"2 s" in answer, answer
        assert 1.9 < waited < 8, waited


def test_an_officers_decision_of_a_format_no_verifier_knows_is_refused_by_replay_and_both_bundle_verifiers(
    world: World, tmp_path: Path
) -> None:
    """Adversary: a department writing its decision log past the library: an officer's rejection stating the format
    ``pl-decision/9``, anchored. Replay checked the format of automatic decisions alone, and neither bundle verifier
    read it: all three passed a record of a version none of them knows. Holds now: replay reports it
    (``format_invalid``) and both bundle verifiers fail ``rerun``."""
    case = "RR48-OFFICER-FORMAT"
    ledger = world.ledger
    decided = decisions.record_human_decision(
        ledger, world.dept, case, "ITEM-1", officer="o-48", outcome="reject", reasons=["R1"], applicant_ref="A-48"
    )
    logchain.append(ledger, logchain.LOG_DECISIONS, world.dept, {**decided.body, "format": "pl-decision/9"})
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, world.dept)
    assert _replayed(world, case) == {"format_invalid"}
    report, code, _ = both(ledger, evidence.decision_bundle(ledger, world.dept, case), tmp_path, "officer-format.json")
    assert code == 1 and {c.name for c in report.failed} == {"rerun"}, [(c.name, c.detail) for c in report.failed]
    assert "'pl-decision/9'" in report.check("rerun").detail, report.check("rerun").detail


def test_a_sign_in_signature_with_its_recovery_byte_written_as_eip155_is_refused(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an anonymous client presenting a department's sign-in signature with its last byte rewritten as 35 +
    parity. Sign-in (and the consent assertions and records) called eth-account directly, which read it as a chain
    id and parity and recovered the key, where every verifier now refuses it (``signing.recover``): one reading of a
    signature everywhere. The genuine signature still signs in, once (challenges are single-use)."""
    client = make_client(ledger, Clock())
    challenge = client.post("/auth/challenge", json={"department": fresh_department}).json()
    signature = sign_challenge(ledger.department_account(fresh_department), challenge["message"])
    refused = client.post(
        "/auth/token", json={"challenge_id": challenge["challenge_id"], "signature": _v_as(signature, 35)}
    )
    assert refused.status_code == 401, refused.text
    taken = client.post("/auth/token", json={"challenge_id": challenge["challenge_id"], "signature": signature})
    assert taken.status_code == 200, taken.text
