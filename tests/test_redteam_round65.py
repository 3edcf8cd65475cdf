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
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.client import Ledger
from ledger.onchain.chain import ROLE_ISSUER, ROLE_VERIFIER
from ledger.services import reconcile, status
from ledger.services.departments import Council
from ledger.services.verify import ChainView, verify_certificate, verify_many
from ledger.services.witness.audit import audit_chain

from .cli_support import cli_in_process, rpc
from .conftest import PASSPHRASE, make_records, make_settings, write_jsonl
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
