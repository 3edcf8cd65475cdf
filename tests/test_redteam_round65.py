"""Red team, round 65: a holder editing their document, a department acting outside its authority, and the chain's
operator rewriting history.

1. Found (the chain's operator): a certificate suspended, reinstated and suspended again for the same reason, the
   last suspension's block then dropped from history (a reorganisation, or a rollback before any witness cosigned
   it): `ledger audit-chain` matched each status change the database records against the set of the chain's changes
   of that certificate, so the dropped suspension matched the first one and the audit said nothing, though the
   chain calls the certificate valid and the database suspended. The changes are now matched one for one.

2. Found (a holder handing a department a certificate of another type, or of another issuer, than the one it asks
   for): `ledger verify` and the library's verification said VERIFIED (exit 0) for any genuine certificate, so a
   department checking "is this a valid business licence" by the exit status (a script, a clerk reading the last
   line) accepted the holder's genuine birth certificate, or a licence of a department it does not trust, as one.
   A verifier may now state what it expects (`ledger verify --type T --issuer D`; ``expected_type`` and
   ``expected_issuer`` of ``verify_certificate`` and ``verify_many``): an ``expected`` check fails otherwise.

3. Found (the council, or a majority of it, with the chain's operator ordering its transaction): a department's
   decisions anchored while it was an active approver, the council's suspension of the department mined after the
   anchoring in the same block, failed replay (``decided_without_authority``) and both bundle verifiers (``log_key``):
   the suspension's period starts at that block, and the check of the decision's moment counted every period
   starting at or before the anchoring block, so one transaction ordered after an honest anchoring voided every
   decision of its range (a bulk run's ten thousand) for every court, after the fact. Round 9 closed the same for
   certificates (the key judged by the block before the anchoring or its own); a period starting in the anchoring's
   own block is now judged the same way, in replay, the library's bundle check and the court's verifier.

4. Found (the chain's operator with its validators, on a ledger trusting no witness): a long-lived view (the
   gateway's) keeps for good what it read of blocks past the finality margin. The operator rolled the chain back
   past that margin and mined a longer history without a licence's anchoring and without another licence's
   reinstatement: the view went on verifying the first (its batch cached) and calling the second valid, where every
   fresh verifier said not anchored and suspended. The view now remembers the hash of its final boundary block and,
   at each refresh, forgets every chain fact it keeps when the chain no longer has that block as it was.

5. Found (a department the council suspended, e.g. while its decisions are investigated): `ledger erase` checked
   nothing of the registry, so the suspended department destroyed certificate contents, and with them the typed
   fields of the decision inputs they fed (what replay and a court re-run the decisions from), logging the erasure
   in an entry the chain refuses to anchor until its reinstatement. Erasing now needs the department's key to be the
   current key of an active department, as anchoring the erasures log does: nothing is destroyed otherwise.

6. Found (the chain's operator dropping a department's pending anchoring, or any outage, across a key rotation): a
   log range prepared and signed with the department's key, its anchoring lost, was sent again after the council
   rotated the key, with the new key, under the old key's stored signature: every decision of the range then failed
   `log_signature` in both bundle verifiers (the signature is checked against the anchoring's signer), for every
   court. Certificate batches are signed again with the current key when resumed; log ranges now are too.

7. Found (the chain's operator, delaying a revocation): the block of a revocation dropped and the same transaction
   mined again an hour later: every verifier now says the licence was valid in between, and a decision that relied
   on its revocation then reads as taken on facts the chain does not hold, while the department's database still
   records the revocation in its first block. `ledger audit-chain` (and `ledger reconcile`) matched changes by kind
   and reason only and said nothing. A change the chain holds in another block than recorded is now
   ``status_change_moved``: the first moment is kept, and named.

Held, tried without a test of its own: 400 edits of two genuine documents (values retyped, salts, root and signer
in upper case, fields moved to ``hidden``, proofs reversed, lengthened or emptied, the signature's last byte, anchor
members retyped, the stated digest changed or dropped, the issuer or the anchor's department edited) got one verdict
from ``verify_certificate``, ``verify_many`` and its forked helper each; those still verified change nothing the
digest, the proof or the chain's record binds (hex case, the stated digest, the anchor's informational members).
A document anchored in another department's namespace, a log or batch root squatted by another department, a rule
set published by another department, a key rotated out (the library checks the keystore against the registry) and
a supersession across departments are refused as earlier rounds' rows say.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from ledger.client import Ledger
from ledger.errors import ChainError, StateError
from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER, ROLE_VERIFIER
from ledger.onchain.chainread import Finality
from ledger.services import decisions, erasure, evidence, logchain, reconcile, status
from ledger.services.council import Action
from ledger.services.departments import Council
from ledger.services.replay import replay
from ledger.services.verify import ChainView, verify_certificate, verify_many
from ledger.services.witness.audit import audit_chain
from ledger.storage.models import Certificate
from ledger.storage.vault import ERASED

from .cli_support import cli_in_process, rpc
from .conftest import PASSPHRASE, TEST_ITEMS, make_records, make_settings, write_jsonl
from .decision_support import application, unique_rule_set
from .evidence_support import both
from .foundation_support import issue, verify

_codes = itertools.count(1)


@pytest.fixture()
def own(tmp_path: Path) -> Iterator[Ledger]:
    """A ledger with its own anvil: these tests rewrite its chain's history."""
    instance = Ledger.open(make_settings(tmp_path / "own"), passphrase=PASSPHRASE)
    yield instance
    instance.close()


def _department(ledger: Ledger) -> str:
    code = f"R65-{os.getpid() % 1000}-{next(_codes)}"
    Council(ledger).register(code, f"Bureau {code}", ROLE_ISSUER | ROLE_VERIFIER, types=("business-licence",))
    return code


# -- 1. a repeated status change dropped from history ------------------------------------------------------------------


def test_a_repeated_suspension_dropped_from_history_is_reported_by_the_chain_audit(
    own: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Adversary: the chain's operator. A department suspends a licence, reinstates it, and suspends it again for the
    same reason; the operator drops the block of the second suspension (a reorganisation, or a rollback no witness
    had cosigned yet), so the chain calls the licence valid while the department's database records it suspended.
    `ledger audit-chain`, which compares the status changes the database records with the chain's, must name the
    missing suspension, as `ledger reconcile` names the row's status."""
    code = _department(own)
    (document,) = issue(own, tmp_path, code, make_records(1))
    digest = document["digest"]
    status.suspend(own, digest, "under-investigation")
    status.reinstate(own, digest, "grounds-resolved")
    snapshot = rpc(own, "evm_snapshot")
    status.suspend(own, digest, "under-investigation")
    assert not verify(own, document).ok
    assert rpc(own, "evm_revert", snapshot) is True  # the operator drops the second suspension's block
    assert verify(own, document).ok  # every verifier now calls it valid

    missing = [f for f in audit_chain(own, ask_witnesses=False).findings if f.kind == "status_change_missing"]
    assert [digest in f.detail and "suspend" in f.detail for f in missing] == [True], missing
    code_, out, _ = cli_in_process(own, monkeypatch, capsys, "audit-chain", "--json")
    assert code_ == 1 and "status_change_missing" in out, out
    kinds = {d.kind for d in reconcile.reconcile(own).divergences}
    assert {"status_mismatch", "status_change_missing"} <= kinds, kinds


# -- 2. a genuine certificate of another type than the one asked for -----------------------------------------------


def test_a_genuine_certificate_of_another_type_or_issuer_than_asked_for_is_not_verified_as_one(
    ledger: Ledger,
    fresh_department: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Adversary: a holder asked for their business licence, handing the department their genuine birth certificate
    (the same issuer, valid, every check passing), or a genuine licence of another department the council also
    authorised for the type. A verifier that states what it expects (`ledger verify --type business-licence --issuer
    D`, the library's ``expected_type`` / ``expected_issuer``, one certificate or many) must not call it verified;
    the licence asked for is verified, in the CLI, ``verify_certificate`` and ``verify_many`` alike."""
    (licence,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    (birth,) = issue(ledger, tmp_path, fresh_department, make_records(1, cert_type="birth-certificate"))
    (elsewhere,) = issue(ledger, tmp_path, "MKT", make_records(1))
    view = ChainView(ledger.chain, ledger.settings.confirmations)
    asked = {"expected_type": "business-licence", "expected_issuer": fresh_department}
    assert verify(ledger, birth).ok and verify(ledger, elsewhere).ok  # genuine, both
    many = verify_many([licence, birth, elsewhere], view, **asked)
    forked = verify_many([licence, birth, elsewhere], view, workers=1, **asked)  # a forked helper's reports
    one = [verify_certificate(d, view, **asked) for d in (licence, birth, elsewhere)]
    for reports in (many, forked, one):
        assert [r.ok for r in reports] == [True, False, False], [r.to_json() for r in reports]
        assert [r.check("expected").ok for r in reports] == [True, False, False]
        assert "birth-certificate" in reports[1].check("expected").detail
        assert "MKT" in reports[2].check("expected").detail
    for document, verified in ((licence, True), (birth, False), (elsewhere, False)):
        path = write_jsonl(tmp_path / f"{document['digest'][:10]}.json", [document])
        code, out, _ = cli_in_process(
            ledger, monkeypatch, capsys, "verify", str(path), "--type", "business-licence", "--issuer", fresh_department
        )
        assert (code, out.rstrip().splitlines()[-1].startswith("VERIFIED")) == (0 if verified else 1, verified), out
    # unreadable expectations are refused before the chain is read, not compared with anything
    path = write_jsonl(tmp_path / "licence.json", [licence])
    code, _, err = cli_in_process(ledger, monkeypatch, capsys, "verify", str(path), "--type", "Business Licence")
    assert code == 2 and "--type" in err, err


def test_the_gateway_verifies_a_certificate_as_what_the_verifier_asked_for(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: the same holder, handing their genuine birth certificate to a department that verifies through
    the gateway (``POST /verify``) where it asked for their business licence. The gateway took no expectation, so
    it answered verified: true. It takes ``expected_type`` / ``expected_issuer`` as ``ledger verify --type/--issuer``
    does (the ``expected`` check), and refuses one no certificate can state before reading the chain."""
    from .api_support import Clock, bearer, login, make_client

    (licence,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    (birth,) = issue(ledger, tmp_path, fresh_department, make_records(1, cert_type="birth-certificate"))
    client = make_client(ledger, Clock())
    token = login(client, ledger, fresh_department)
    asked = {"expected_type": "business-licence", "expected_issuer": fresh_department}
    for document, verified in ((licence, True), (birth, False)):
        answer = client.post("/verify", json={"document": document, **asked}, headers=bearer(token))
        assert answer.status_code == 200, answer.text
        report = answer.json()
        assert report["verified"] is verified, report
        (expected,) = [c for c in report["checks"] if c["name"] == "expected"]
        assert expected["ok"] is verified, expected
    plain = client.post("/verify", json={"document": birth}, headers=bearer(token)).json()
    assert plain["verified"] is True and "expected" not in {c["name"] for c in plain["checks"]}, plain
    refused = client.post(
        "/verify", json={"document": licence, "expected_type": "Business Licence"}, headers=bearer(token)
    )
    assert refused.status_code in (400, 422) and "expected" in refused.text, refused.text


# -- 3. a suspension mined after a decisions anchoring in the same block -------------------------------------------


def test_a_suspension_after_a_decisions_anchoring_in_the_same_block_does_not_reach_back(
    own: Ledger, tmp_path: Path
) -> None:
    """Adversary: the council (a majority of it), with the chain's operator ordering its transaction. A department
    decides a case and anchors its decisions log while an active approver; the council's suspension of the
    department is mined right after the anchoring, in the same block. The contract let the anchoring through (the
    department could act when it ran), so the decision was recorded with authority: replay and both bundle verifiers
    must not call it decided without authority (as round 9 holds for a certificate anchored so)."""
    code = f"R65-{os.getpid() % 1000}-{next(_codes)}"
    Council(own).register(
        code,
        f"Bureau {code}",
        ROLE_ISSUER | ROLE_VERIFIER | ROLE_APPROVER,
        types=("business-licence",),
        items=TEST_ITEMS,
    )
    rules = unique_rule_set(f"r65-{code}")
    decisions.publish_rule_set(own, rules, code)
    decisions.decide(own, code, "R65-CASE", "ITEM-1", application("R65-CASE"), rules, applicant_ref="applicant-65")
    council = Council(own)
    first, *others = council.members
    proposal = first.propose(Action.SUSPEND, code)
    threshold = int(own.chain.call(own.chain.registry.functions.threshold()))
    for member in others[: threshold - 2]:
        assert not member.approve(proposal).executed
    last = others[threshold - 2]
    chain = own.chain
    rpc(own, "evm_setAutomine", False)
    rpc(own, "evm_setIntervalMining", 0)
    anchored: list[list[str]] = []
    worker = threading.Thread(
        target=lambda: anchored.append(logchain.anchor_pending(own, decisions.LOG_DECISIONS, code))
    )
    try:
        worker.start()
        deadline = time.monotonic() + 30
        while int(rpc(own, "txpool_status")["pending"], 16) < 1:  # the anchoring waits in the node's pool
            assert time.monotonic() < deadline, "the anchoring was never sent"
            time.sleep(0.05)
        suspension = chain.send(last.account, chain.registry.functions.approve(proposal))
        rpc(own, "evm_mine")
    finally:
        rpc(own, "evm_setAutomine", True)
    worker.join(timeout=60)
    assert anchored and anchored[0], anchored
    (anchoring,) = logchain.chain_ranges(own, decisions.LOG_DECISIONS, code)
    suspended, sent = chain.wait(suspension, timeout=30), chain.wait(anchoring.tx_hash, timeout=30)
    assert suspended["status"] == 1 and suspended["blockNumber"] == sent["blockNumber"] == anchoring.block_number
    assert sent["transactionIndex"] < suspended["transactionIndex"], (sent, suspended)  # the anchoring came first

    found = [d for d in replay(own, department=code).discrepancies if d.check == "decided_without_authority"]
    assert found == [], [d.detail for d in found]
    bundle = evidence.decision_bundle(own, code, "R65-CASE")
    library, exit_code, _ = both(own, bundle, tmp_path, "suspended-after-anchoring.json")
    assert exit_code == 0 and library.ok, library.to_json()
    # suspended now: the library records no decision of the department (and the contract anchors none)
    with pytest.raises(StateError):
        decisions.decide(own, code, "R65-LATE", "ITEM-1", application("R65-LATE"), rules, applicant_ref="applicant-66")


# -- 4. a rollback past the finality margin, under a long-lived view ---------------------------------------------------


def test_a_long_lived_view_does_not_keep_facts_of_a_history_rolled_back_past_its_finality_margin(
    own: Ledger, tmp_path: Path
) -> None:
    """Adversary: the chain's operator (with the validators), on a ledger that trusts no witness. The gateway's view
    (long-lived, refreshed) keeps for good what it read of blocks past the finality margin: a batch's anchoring, a
    certificate's status. The operator rolls the chain back past that margin (the chain's head drops below blocks the
    view took for final) and mines a longer history without them: the anchoring of a licence, and the reinstatement of
    another licence (suspended again on the chain). The view must judge by the chain it reads now: the first licence
    not anchored, the second suspended, not verified from facts of a history the chain no longer has."""
    code = _department(own)
    (kept, dropped) = [*issue(own, tmp_path, code, make_records(2))[:1], None]
    status.suspend(own, kept["digest"], "under-investigation")
    view = ChainView(own.chain, own.settings.confirmations, max_head_age=3600.0)  # as the gateway's
    view.refresh()
    snapshot = rpc(own, "evm_snapshot")
    status.reinstate(own, kept["digest"], "grounds-resolved")
    (dropped,) = issue(own, tmp_path, code, make_records(1))
    margin = Finality(own.settings.confirmations).reorg_depth
    for _ in range(margin + 3):
        rpc(own, "evm_mine")
    view.refresh()
    assert verify_certificate(kept, view).ok and verify_certificate(dropped, view).ok  # both final to the view
    assert rpc(own, "evm_revert", snapshot) is True  # the operator rolls back past the margin
    for _ in range(2 * margin + 6):  # and makes the other history the longer
        rpc(own, "evm_mine")
    view.refresh()
    assert not verify(own, kept).ok and not verify(own, dropped).ok  # what a fresh verifier reads
    again, gone = verify_certificate(kept, view), verify_certificate(dropped, view)
    assert not gone.ok and "anchored" in {c.name for c in gone.failed}, gone.to_json()
    assert not again.ok and "status" in {c.name for c in again.failed}, again.to_json()


# -- 5. a suspended department erasing -----------------------------------------------------------------------------


def test_a_suspended_department_destroys_no_certificate_contents(own: Ledger, tmp_path: Path) -> None:
    """Adversary: a department the council suspended (say, while its decisions are investigated), erasing the
    contents of a certificate it issued (and with them what its decisions read from it) before anyone looks. The
    erasures log it writes cannot be anchored while it is suspended; nothing may be destroyed either: the erasure
    is refused, the body still opens, and after the council's reinstatement the same erasure goes through."""
    code = _department(own)
    (document,) = issue(own, tmp_path, code, make_records(1))
    digest = document["digest"]
    Council(own).suspend(code)
    with pytest.raises(StateError, match="active department"):
        erasure.erase(own, digest, basis="court-order", by="officer-65")
    with own.engine.connect() as conn:
        sealed = conn.execute(select(Certificate.sealed).where(Certificate.digest == digest)).scalar()  # type: ignore[call-overload]
    assert sealed is not None and bytes(sealed) != ERASED
    assert erasure.recorded_entry(own, code, digest) is None  # nothing logged either
    Council(own).reinstate(code)
    erasure.erase(own, digest, basis="court-order", by="officer-65")
    with own.engine.connect() as conn:
        sealed = conn.execute(select(Certificate.sealed).where(Certificate.digest == digest)).scalar()  # type: ignore[call-overload]
    assert bytes(sealed) == ERASED


# -- 6. a log range sent again after a key rotation --------------------------------------------------------------------


@pytest.fixture()
def impatient(tmp_path: Path) -> Iterator[Ledger]:
    """A ledger with its own anvil that waits 3 s for a transaction (this test has one dropped from the pool)."""
    instance = Ledger.open(make_settings(tmp_path / "impatient", chain_timeout=3.0), passphrase=PASSPHRASE)
    yield instance
    instance.close()


def test_a_log_range_sent_again_after_a_key_rotation_is_signed_with_the_key_that_sends_it(
    impatient: Ledger, tmp_path: Path
) -> None:
    """Adversary: the chain's operator, dropping a department's pending decisions anchoring from the node's pool (or
    an outage losing it), the council then rotating the department's key (routine, or a suspected leak). The range
    prepared and signed with the old key is sent again with the new one: the decision's bundle must still verify in
    both verifiers, its log signature made by the key the chain records for the anchoring."""
    ledger = impatient
    code = f"R65-{os.getpid() % 1000}-{next(_codes)}"
    Council(ledger).register(
        code, f"Bureau {code}", ROLE_ISSUER | ROLE_VERIFIER | ROLE_APPROVER, types=("permit",), items=TEST_ITEMS
    )
    rules = unique_rule_set(f"r65-rot-{code}")
    decisions.publish_rule_set(ledger, rules, code)
    decisions.decide(ledger, code, "R65-ROT", "ITEM-1", application("R65-ROT"), rules, applicant_ref="applicant-67")
    rpc(ledger, "evm_setAutomine", False)
    rpc(ledger, "evm_setIntervalMining", 0)
    failed: list[BaseException] = []

    def anchoring() -> None:
        try:
            logchain.anchor_pending(ledger, decisions.LOG_DECISIONS, code)
        except ChainError as exc:
            failed.append(exc)

    worker = threading.Thread(target=anchoring)
    try:
        worker.start()
        deadline = time.monotonic() + 30
        while int(rpc(ledger, "txpool_status")["pending"], 16) < 1:
            assert time.monotonic() < deadline, "the anchoring was never sent"
            time.sleep(0.05)
        rpc(ledger, "anvil_dropAllTransactions")  # the operator drops it
        worker.join(timeout=60)
    finally:
        rpc(ledger, "evm_setAutomine", True)
    assert failed, "the dropped anchoring was reported"
    old = ledger.department_account(code).address
    new = Council(ledger).rotate_key(code)
    assert new != old and ledger.department_account(code).address == new
    logchain.anchor_pending(ledger, decisions.LOG_DECISIONS, code)  # sent again, by the new key
    (anchored,) = logchain.chain_ranges(ledger, decisions.LOG_DECISIONS, code)
    assert anchored.signer == new
    bundle = evidence.decision_bundle(ledger, code, "R65-ROT")
    library, exit_code, _ = both(ledger, bundle, tmp_path, "rotated.json")
    assert exit_code == 0 and library.ok, library.to_json()


# -- 7. a revocation mined again later ---------------------------------------------------------------------------------


def test_a_revocation_mined_again_later_is_reported_with_the_moment_it_was_first_mined(
    own: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Adversary: the chain's operator. A department revokes a licence; the operator drops the revocation's block and
    mines the same transaction again later (the licence reads valid in between to every verifier asked about that
    time, and a decision that relied on the revocation reads as taken on facts the chain no longer holds). The
    database still records the revocation in its first block: the chain audit must say the change moved, and from
    which block to which."""
    code = _department(own)
    (document,) = issue(own, tmp_path, code, make_records(1))
    digest = document["digest"]
    snapshot = rpc(own, "evm_snapshot")
    tx_hash = status.revoke(own, digest, "fraud")
    first = int(own.chain.wait(tx_hash, timeout=30)["blockNumber"])
    raw = rpc(own, "eth_getRawTransactionByHash", tx_hash)
    assert rpc(own, "evm_revert", snapshot) is True  # the revocation's block leaves the chain
    for _ in range(5):
        rpc(own, "evm_mine")
    rpc(own, "eth_sendRawTransaction", raw)  # and the same transaction is mined again, later
    later = int(own.chain.wait(tx_hash, timeout=30)["blockNumber"])
    assert later > first and not verify(own, document).ok  # revoked again, from the later block

    findings = [f for f in audit_chain(own, ask_witnesses=False).findings if digest in f.detail]
    assert [f.kind for f in findings] == ["status_change_moved"], findings
    assert f"in block {first}" in findings[0].detail and f"block {later}" in findings[0].detail, findings[0].detail
    code_, out, _ = cli_in_process(own, monkeypatch, capsys, "audit-chain", "--json")
    assert code_ == 1 and "status_change_moved" in out, out
