"""Issue 6, key handling: keystores encrypted at rest, a clear error for a wrong passphrase, key rotation end to
end (CLI, with a batch left pending across the rotation)."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from ledger.client import Ledger
from ledger.errors import ChainError, KeystoreError
from ledger.formats.certificate import validate_record
from ledger.onchain.chain import ROLE_ISSUER
from ledger.services import issuance
from ledger.services.departments import get_department
from ledger.services.verify import ChainView, verify_certificate
from ledger.storage.keys import Keystore
from ledger.storage.store import Batch

from .cli_support import run_cli
from .conftest import PASSPHRASE, make_records, member_cli, write_jsonl


def test_keystore_file_is_encrypted_and_private(tmp_path: Path) -> None:
    keystore = Keystore(tmp_path / "keys", kdf_n=1024)
    address = keystore.create("dept-X", "correct horse")
    path = tmp_path / "keys" / "dept-X.json"
    text = path.read_text()
    key = keystore.unlock("dept-X", "correct horse").key.hex().removeprefix("0x")
    assert key not in text.lower() and key.upper() not in text
    data = json.loads(text)
    assert data["crypto"]["kdf"] == "scrypt" and data["crypto"]["cipher"] == "aes-128-ctr"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keystore.address("dept-X") == address  # readable without the passphrase
    with pytest.raises(KeystoreError, match="empty passphrase"):
        keystore.create("dept-Y", "")


def test_wrong_passphrase_is_a_clear_error(ledger: Ledger, tmp_path: Path) -> None:
    with pytest.raises(KeystoreError, match="wrong passphrase for key 'dept-MKT'"):
        ledger.keystore.unlock("dept-MKT", "not the passphrase")
    source = write_jsonl(tmp_path / "w.jsonl", make_records(1))
    done = run_cli(ledger, "issue", str(source), "-d", "MKT", LEDGER_PASSPHRASE="not the passphrase")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: wrong passphrase for key 'dept-MKT'")


def test_key_rotation_end_to_end(ledger: Ledger, tmp_path: Path, fresh_department: str) -> None:
    code = fresh_department
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / "old.jsonl", make_records(2)), code, out=out)
    old_docs = [json.loads(line) for line in out.getvalue().splitlines()]
    old_key = ledger.department_account(code).address
    # a batch prepared (signed by the old key) but not sent when the rotation happens
    records = [validate_record(r, 1) for r in make_records(2)]
    stranded = issuance.build_batch(ledger, records, code)
    issuance.store_prepared(ledger, stranded)

    first, first_env = member_cli(ledger, 1)
    rotated = run_cli(ledger, "council", "rotate", code, *first, **first_env)
    assert rotated.returncode == 0, rotated.stderr
    new_key = json.loads(rotated.stdout)["signer"]
    second, second_env = member_cli(ledger, 2)  # the second member's approval executes it, here: the key moves
    approved = run_cli(ledger, "council", "approve", str(json.loads(rotated.stdout)["proposal"]), *second, **second_env)
    assert approved.returncode == 0 and json.loads(approved.stdout)["state"] == "executed", approved.stderr
    assert new_key != old_key
    ledger._accounts.clear()  # this process reads the rotated keystore again
    assert any(name.startswith(f"dept-{code}.retired-") for name in ledger.keystore.names())

    view = ChainView(ledger.chain, 0)
    assert all(verify_certificate(d, view).ok for d in old_docs)  # issued under the old key: still valid
    with pytest.raises(ChainError) as refused:
        ledger.chain.send(
            ledger.keystore.unlock(
                next(n for n in ledger.keystore.names() if n.startswith(f"dept-{code}.retired-")), PASSPHRASE
            ),
            ledger.chain.anchor.functions.anchorBatch(b"\x09" * 32, 1, b"\x00" * 32),
        )
    assert refused.value.error_name == "AnchorUnauthorized"

    assert run_cli(ledger, "resume").returncode == 0  # the stranded batch: re-signed with the new key, anchored
    with ledger.engine.connect() as conn:
        signer = conn.execute(select(Batch.signer).where(Batch.root == "0x" + stranded.root.hex())).scalar_one()
    assert signer == new_key
    assert verify_certificate(issuance.export_document(ledger, stranded.fields[0]["id"], code), view).ok

    source = write_jsonl(tmp_path / "new.jsonl", make_records(2))
    issued = run_cli(ledger, "issue", str(source), "-d", code, "--out", str(tmp_path / "new-out.jsonl"))
    assert issued.returncode == 0, issued.stderr
    new_doc = json.loads((tmp_path / "new-out.jsonl").read_text().splitlines()[0])
    assert new_doc["anchor"]["signer"] == new_key and verify_certificate(new_doc, view).ok
    dept = get_department(ledger.chain, code)
    assert [k.signer for k in dept.keys] == [old_key, new_key]
    assert not ledger.chain.call(ledger.chain.registry.functions.isActiveSigner(old_key, ROLE_ISSUER))
