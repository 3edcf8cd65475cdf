"""Red team, round 65: a holder editing their document, a department acting outside its authority, and the chain's
operator rewriting history.

1. Found (the chain's operator): a certificate suspended, reinstated and suspended again for the same reason, the
   last suspension's block then dropped from history (a reorganisation, or a rollback before any witness cosigned
   it): `ledger audit-chain` matched each status change the database records against the set of the chain's changes
   of that certificate, so the dropped suspension matched the first one and the audit said nothing, though the
   chain calls the certificate valid and the database suspended. The changes are now matched one for one.
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
from ledger.services.witness.audit import audit_chain

from .cli_support import cli_in_process, rpc
from .conftest import PASSPHRASE, make_records, make_settings
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
