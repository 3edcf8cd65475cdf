"""Issue 2: certificates issued, anchored on a real chain and verified, end to end (real anvil, real solc)."""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ledger.client import Ledger
from ledger.errors import ChainError, InputError, StateError
from ledger.formats.canonical import hex32
from ledger.formats.certificate import batch_schema, record_fields, seal_fields, validate_record
from ledger.formats.merkle import MerkleTree
from ledger.formats.signing import batch_message, sign
from ledger.onchain.chain import ROLE_ISSUER, department_id_bytes
from ledger.services import issuance, status
from ledger.services.departments import Council, get_department
from ledger.services.verify import ChainView, verify_certificate, verify_many
from ledger.storage.store import Batch, Certificate

from .cli_support import ledger_process, rpc
from .conftest import PASSPHRASE, TEST_ITEMS, TEST_TYPES, make_records, make_settings, wait_for_state_dump, write_jsonl
from .foundation_support import issue, verify


def counts(ledger: Ledger) -> tuple[int, int]:
    with ledger.engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(Batch)).scalar_one(),
            conn.execute(select(func.count()).select_from(Certificate)).scalar_one(),
        )


@pytest.fixture(scope="module")
def issued(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return issue(ledger, tmp_path_factory.mktemp("issued"), "MKT", make_records(25), batch_size=10)


def test_happy_path_every_check_passes(ledger: Ledger, issued: list[dict[str, Any]]) -> None:
    assert len(issued) == 25
    assert len({doc["anchor"]["root"] for doc in issued}) == 3  # 10 + 10 + 5
    for doc in issued:
        report = verify(ledger, doc)
        assert report.ok, report.to_json()
        assert [c.name for c in report.checks] == [
            "format",
            "chain",
            "chain_identity",
            "integrity",
            "disclosure",
            "merkle_proof",
            "anchored",
            "confirmations",
            "issuer",
            "department_key",
            "signature",
            "type_authority",
            "status",
            "validity",
            "witnessed",
        ]
        assert report.facts["department"] == "MKT"


def test_no_personal_field_stored_in_clear(ledger: Ledger, issued: list[dict[str, Any]]) -> None:
    name = issued[0]["fields"]["subject.name"]
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(Certificate)).all()
        batches = conn.execute(select(Batch)).all()
    blob = b"".join(bytes(r.sealed) + repr(tuple(r)).encode() for r in rows)
    blob += b"".join(bytes(b.leaves) + repr(tuple(b)).encode() for b in batches)
    assert name.encode() not in blob
    assert issued[0]["fields"]["subject.id_number"].encode() not in blob


def test_export_rebuilds_the_same_document(ledger: Ledger, issued: list[dict[str, Any]]) -> None:
    doc = issued[3]
    exported = issuance.export_document(ledger, doc["digest"])
    assert exported == doc
    assert issuance.export_document(ledger, doc["fields"]["id"], "MKT") == doc


@pytest.mark.parametrize(
    "field",
    [
        "id",
        "type",
        "issuer",
        "issued_at",
        "valid_from",
        "valid_until",
        "subject.name",
        "subject.credit_code",
        "subject.id_number",
    ],
)
def test_any_tampered_field_is_detected(ledger: Ledger, issued: list[dict[str, Any]], field: str) -> None:
    doc = copy.deepcopy(issued[0])
    doc["fields"][field] = doc["fields"][field] + "x"
    report = verify(ledger, doc)
    assert not report.ok
    assert {c.name for c in report.failed} >= {"integrity", "merkle_proof"}


@pytest.mark.parametrize("part", ["salt", "proof", "root", "signature", "digest"])
def test_tampered_anchor_parts_are_detected(ledger: Ledger, issued: list[dict[str, Any]], part: str) -> None:
    doc = copy.deepcopy(issued[1])
    expected = {
        "salt": "merkle_proof",
        "proof": "merkle_proof",
        "root": "merkle_proof",
        "signature": "signature",
        "digest": "integrity",
    }[part]
    if part == "salt":
        doc["salts"]["subject.name"] = "00" * 16
    elif part == "proof":
        doc["anchor"]["proof"][0] = "0x" + "11" * 32
    elif part == "root":
        doc["anchor"]["root"] = "0x" + "22" * 32
    elif part == "signature":
        sig = bytearray.fromhex(doc["anchor"]["signature"][2:])
        sig[5] ^= 1
        doc["anchor"]["signature"] = "0x" + sig.hex()
    else:
        doc["digest"] = "0x" + "33" * 32
    report = verify(ledger, doc)
    assert expected in {c.name for c in report.failed}, report.to_json()


def test_certificate_claiming_another_issuer_is_rejected(ledger: Ledger) -> None:
    """HOSP anchors, with its own valid key, a certificate whose issuer field says MKT."""
    record = validate_record(make_records(1)[0], 1)
    fields = record_fields(record, "MKT", "2026-11-25T00:00:00Z")
    sealed = seal_fields(fields, os.urandom(16 * len(fields)))
    tree = MerkleTree([sealed.digest])
    hosp = ledger.department_account("HOSP")
    chain = ledger.chain
    signature = sign(
        hosp,
        batch_message(
            chain.chain_id,
            chain.deployment.anchor,
            tree.root,
            1,
            batch_schema("business-licence"),
            department_id_bytes("HOSP"),
        ),
    )
    receipt = chain.transact(hosp, chain.anchor.functions.anchorBatch(tree.root, 1, batch_schema("business-licence")))
    doc = issuance.document_json(
        sealed.fields,
        sealed.salts,
        {
            "chain_id": chain.chain_id,
            "contract": chain.deployment.anchor,
            "registry": chain.deployment.registry,
            "root": hex32(tree.root),
            "department": "MKT",
            "signer": hosp.address,
            "signature": "0x" + signature.hex(),
            "count": 1,
            "schema": hex32(batch_schema("business-licence")),
            "tx_hash": "0x" + bytes(receipt["transactionHash"]).hex(),
            "block_number": receipt["blockNumber"],
            "block_hash": "0x" + bytes(receipt["blockHash"]).hex(),
            "block_time": chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"],
        },
        [],
    )
    report = verify(ledger, doc)
    # MKT's namespace holds no such batch: HOSP's anchoring can never pass for MKT's
    assert [c.name for c in report.failed] == ["anchored"]
    assert "MKT never anchored root" in report.check("anchored").detail


def test_unregistered_key_cannot_anchor(ledger: Ledger, tmp_path: Path) -> None:
    ledger.keystore.create("dept-GHOST", PASSPHRASE)
    before = counts(ledger)
    with pytest.raises(StateError, match="not the current key of an active department"):
        issuance.issue_file(ledger, write_jsonl(tmp_path / "g.jsonl", make_records(3)), "GHOST")
    ghost = ledger.department_account("GHOST")
    with pytest.raises(ChainError) as raised:
        ledger.chain.send(
            ghost, ledger.chain.anchor.functions.anchorBatch(b"\x01" * 32, 1, batch_schema("business-licence"))
        )
    assert raised.value.error_name == "AnchorUnauthorized"
    assert "AnchorUnauthorized" in str(raised.value)
    assert counts(ledger) == before


def test_suspended_department_cannot_anchor_and_old_certificates_stay_valid(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    docs = issue(ledger, tmp_path, fresh_department, make_records(2))
    Council(ledger).suspend(fresh_department)
    before = counts(ledger)
    with pytest.raises(StateError, match="cannot issue"):
        issuance.issue_file(ledger, write_jsonl(tmp_path / "s.jsonl", make_records(2)), fresh_department)
    account = ledger.department_account(fresh_department)
    with pytest.raises(ChainError) as raised:
        ledger.chain.send(
            account, ledger.chain.anchor.functions.anchorBatch(b"\x02" * 32, 1, batch_schema("business-licence"))
        )
    assert raised.value.error_name == "AnchorUnauthorized"
    assert counts(ledger) == before
    assert verify(ledger, docs[0]).ok  # anchored while active: still valid
    Council(ledger).reinstate(fresh_department)
    assert issue(ledger, tmp_path, fresh_department, make_records(1))


def test_department_without_issuer_role_cannot_issue(ledger: Ledger, tmp_path: Path) -> None:
    with pytest.raises(StateError, match="issuer role"):
        issuance.issue_file(ledger, write_jsonl(tmp_path / "p.jsonl", make_records(1)), "PSB")


def test_revoked_certificate(ledger: Ledger, tmp_path: Path, fresh_department: str) -> None:
    docs = issue(ledger, tmp_path, fresh_department, make_records(3))
    before_revocation = ledger.chain.w3.eth.get_block("latest")["timestamp"]
    # block timestamps have one-second resolution: the revocation's block comes a second later (node control)
    rpc(ledger, "evm_increaseTime", 1)
    status.revoke(ledger, docs[0]["digest"], "fraud")
    report = verify(ledger, docs[0])
    assert [c.name for c in report.failed] == ["status"]
    assert report.check("status").detail.startswith("revoked")
    assert report.check("status").detail.endswith("(reason: fraud)")  # readable, with the time it happened
    assert report.facts["reason"] == "fraud" and " in block " in report.check("status").detail
    # the direct lookup names the time too; the herd lookup (default) names the block only: reading that block's
    # time would tell the node which block, so which certificate, is being checked (docs/privacy.md)
    direct = verify_certificate(docs[0], ChainView(ledger.chain, status_lookup="direct"))
    assert direct.check("status").detail.startswith(report.check("status").detail.removesuffix(" (reason: fraud)"))
    assert " at 20" in direct.check("status").detail
    assert verify(ledger, docs[1]).ok
    from datetime import UTC, datetime

    assert verify(ledger, docs[0], at=datetime.fromtimestamp(before_revocation, UTC)).ok
    with pytest.raises(ChainError, match="AnchorCertificateRevoked"):
        status.revoke(ledger, docs[0]["digest"], "fraud")


def test_suspend_reinstate_and_supersede(ledger: Ledger, tmp_path: Path, fresh_department: str) -> None:
    old, new = issue(ledger, tmp_path, fresh_department, make_records(2))
    status.suspend(ledger, old["digest"], "under-investigation")
    assert verify(ledger, old).check("status").detail.startswith("suspended")
    status.reinstate(ledger, old["digest"], "grounds-resolved")
    assert verify(ledger, old).ok
    status.supersede(ledger, old["digest"], new["digest"])
    report = verify(ledger, old)
    assert [c.name for c in report.failed] == ["status"]
    assert report.facts["superseded_by"] == new["digest"]
    successor = verify(ledger, new)
    assert successor.ok and successor.facts["replaces"] == old["digest"]  # the new one says what it replaced
    assert f"it replaces {old['digest']}" in successor.check("status").detail
    view = ChainView(ledger.chain)
    assert [r.facts.get("replaces") for r in verify_many([old, new], view)] == [None, old["digest"]]  # the index


def test_a_certificate_replacing_two_names_both(ledger: Ledger, tmp_path: Path, fresh_department: str) -> None:
    """Two licences merged into one: the successor supersedes both. Every lookup (the index, the department's
    event stream, one scan of the supersessions) names both, in chain order; a report naming only the last one
    hid that the other certificate was replaced as well."""
    first, second, merged = issue(ledger, tmp_path, fresh_department, make_records(3))
    status.supersede(ledger, first["digest"], merged["digest"])
    status.supersede(ledger, second["digest"], merged["digest"])
    both = [first["digest"], second["digest"]]
    reports = {
        "scan": verify_certificate(merged, ChainView(ledger.chain, status_lookup="direct")),
        "stream": verify_certificate(merged, ChainView(ledger.chain, status_lookup="herd")),
        "index": verify_many([merged], ChainView(ledger.chain))[0],
    }
    for how, report in reports.items():
        assert report.ok, (how, report.to_json())
        assert report.facts["replaces"] == second["digest"], how  # the latest, as a single digest
        assert report.facts["replaces_all"] == both, how
        assert f"it replaces {first['digest']} and {second['digest']}" in report.check("status").detail, how
    for old in (first, second):
        assert verify(ledger, old).facts["superseded_by"] == merged["digest"]


def test_only_the_issuing_department_changes_status(ledger: Ledger, issued: list[dict[str, Any]]) -> None:
    cert = status.stored(ledger, issued[0]["digest"])
    hosp = ledger.department_account("HOSP")
    with pytest.raises(ChainError) as raised:
        ledger.chain.send(hosp, ledger.chain.anchor.functions.revoke(cert.root, cert.digest, cert.proof, 2))
    assert raised.value.error_name == "AnchorUnknownRoot"  # HOSP has no such batch of its own


def test_key_rotation_keeps_old_certificates_valid(ledger: Ledger, tmp_path: Path, fresh_department: str) -> None:
    old_docs = issue(ledger, tmp_path, fresh_department, make_records(2))
    old_key = ledger.department_account(fresh_department).address
    new_key = Council(ledger).rotate_key(fresh_department)
    assert new_key != old_key
    assert verify(ledger, old_docs[0]).ok
    new_docs = issue(ledger, tmp_path, fresh_department, make_records(2))
    assert new_docs[0]["anchor"]["signer"] == new_key and verify(ledger, new_docs[0]).ok
    dept = get_department(ledger.chain, fresh_department)
    assert [k.signer for k in dept.keys] == [old_key, new_key] and dept.keys[0].to_block is not None
    assert not ledger.chain.call(ledger.chain.registry.functions.isActiveSigner(old_key, ROLE_ISSUER))


# -- bad input: a clear error and nothing written ---------------------------------------------------------------

BAD_INPUTS = {
    "malformed_json": ("{not json", "line 4: malformed JSON"),
    "missing_subject": ('{"id": "A-1", "type": "permit"}', "line 4, field 'subject': is required"),
    "missing_id": ('{"type": "permit", "subject": {"n": 1}}', "field 'id': is required"),
    "bad_type": ('{"id": "A-1", "type": "Permit!", "subject": {"n": 1}}', "field 'type'"),
    "unknown_key": ('{"id": "A-1", "type": "permit", "subject": {"n": 1}, "colour": 1}', "unknown keys ['colour']"),
    "bad_date": (
        '{"id": "A-1", "type": "permit", "subject": {"n": 1}, "valid_until": "31/12/2030"}',
        "field 'valid_until'",
    ),
    "not_object": ("[1, 2]", "must be a JSON object"),
    "wrong_issuer": (
        '{"id": "A-1", "type": "permit", "subject": {"n": 1}, "issuer": "HOSP"}',
        "names issuer 'HOSP' but is being issued by 'MKT'",
    ),
    "oversize": ('{"id": "A-1", "type": "permit", "subject": {"n": "' + "x" * 70_000 + '"}}', "the limit is"),
    "duplicate_ids": (
        '{"id": "D-1", "type": "permit", "subject": {"n": 1}}\n{"id": "D-1", "type": "permit", "subject": {"n": 2}}',
        "line 2: certificate id 'D-1' repeats line 1",
    ),
    "empty": ("", "holds no records"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_clear_error_nothing_written(ledger: Ledger, tmp_path: Path, case: str) -> None:
    text, message = BAD_INPUTS[case]
    path = tmp_path / "bad.jsonl"
    good = "\n".join(json.dumps(r) for r in make_records(3))
    path.write_text(good + "\n" + text + "\n" if case not in ("empty", "duplicate_ids") else text)
    before = counts(ledger)
    with pytest.raises(InputError) as raised:
        issuance.issue_file(ledger, path, "MKT")
    assert message in str(raised.value)
    assert "nothing was issued" in str(raised.value) or case in ("malformed_json", "oversize")
    assert counts(ledger) == before


def test_reissuing_an_id_is_refused(ledger: Ledger, tmp_path: Path, issued: list[dict[str, Any]]) -> None:
    record = make_records(1)[0] | {"id": issued[0]["fields"]["id"]}
    before = counts(ledger)
    with pytest.raises(InputError, match="already issued by MKT"):
        issuance.issue_file(ledger, write_jsonl(tmp_path / "again.jsonl", [record]), "MKT")
    assert counts(ledger) == before


def test_unknown_department(ledger: Ledger, tmp_path: Path) -> None:
    from ledger.errors import NotFoundError

    with pytest.raises(NotFoundError, match="no key named 'dept-NOPE'"):
        issuance.issue_file(ledger, write_jsonl(tmp_path / "u.jsonl", make_records(1)), "NOPE")
    with pytest.raises(NotFoundError, match="not registered"):
        get_department(ledger.chain, "NOPE")


@pytest.mark.parametrize(
    "doc",
    [
        {},
        [],
        {"format": "pl-cert/9"},
        {"format": "pl-cert/2", "fields": {}},
        {"format": "pl-cert/2", "fields": {"a": 1}, "salts": {"a": "zz" * 16}, "anchor": {}},
    ],
)
def test_malformed_certificate_documents_fail_closed(ledger: Ledger, doc: Any) -> None:
    report = verify(ledger, doc)
    assert not report.ok and report.failed


def test_csv_input(ledger: Ledger, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        "id,type,valid_until,subject.name,subject.licence_no\n"
        "CSV-1,food-permit,2030-01-01,Li Na,FP-1\nCSV-2,food-permit,,Wang Fang,FP-2\n"
    )
    out = io.StringIO()
    result = issuance.issue_file(ledger, path, "HOSP", out=out)
    docs = [json.loads(line) for line in out.getvalue().splitlines()]
    assert result.count == 2 and docs[1]["fields"]["subject.name"] == "Wang Fang"
    assert "valid_until" not in docs[1]["fields"]
    assert all(verify(ledger, d).ok for d in docs)


# -- restart: chain and client ---------------------------------------------------------------------------------


def test_restart_keeps_every_anchor(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "restart")
    with Ledger.open(settings, passphrase=PASSPHRASE) as first:
        Council(first).register("RST", "Restart Office", ROLE_ISSUER, types=TEST_TYPES)
        docs = issue(first, tmp_path, "RST", make_records(5))
        deployment = first.chain.deployment
        assert first.node is not None and first.node.owned
    with Ledger.open(settings, passphrase=PASSPHRASE) as second:
        assert second.chain.deployment == deployment
        assert all(verify(second, d).ok for d in docs)
        more = issue(second, tmp_path, "RST", make_records(2))
        assert verify(second, more[0]).ok


def test_hard_kill_of_the_node_keeps_anchors_saved_by_the_state_interval(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "kill")
    first = Ledger.open(settings, passphrase=PASSPHRASE)
    Council(first).register("KIL", "Kill Office", ROLE_ISSUER, types=TEST_TYPES)
    docs = issue(first, tmp_path, "KIL", make_records(3))
    assert first.node is not None
    wait_for_state_dump(first.node, first.chain.block_number())  # the node writes its state every second
    first.node.kill()
    first.engine.dispose()
    with Ledger.open(settings, passphrase=PASSPHRASE) as second:
        assert all(verify(second, d).ok for d in docs)


# -- the command line ------------------------------------------------------------------------------------------


def cli(ledger: Ledger, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        LEDGER_DATA_DIR=str(ledger.settings.data_dir),
        LEDGER_PASSPHRASE=PASSPHRASE,
        LEDGER_DATABASE_URL=ledger.settings.database_url or "",
    )
    return ledger_process(args, env=env, timeout=120)


def test_cli_issue_verify_and_exit_codes(ledger: Ledger, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "cli.jsonl", make_records(4))
    done = cli(ledger, "issue", str(source), "-d", "MKT", "--out", str(tmp_path / "out.jsonl"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["certificates"] == 4
    first = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])
    (tmp_path / "c.json").write_text(json.dumps(first))
    ok = cli(ledger, "verify", str(tmp_path / "c.json"))
    assert ok.returncode == 0 and "VERIFIED" in ok.stdout
    first["fields"]["subject.name"] = "Someone Else"
    (tmp_path / "t.json").write_text(json.dumps(first))
    bad = cli(ledger, "verify", str(tmp_path / "t.json"))
    assert bad.returncode == 1 and "[FAIL] integrity" in bad.stdout and "NOT VERIFIED" in bad.stdout
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "X", "type": "permit"}\n')
    refused = cli(ledger, "issue", str(broken), "-d", "MKT")
    assert refused.returncode == 2 and "line 1, field 'subject': is required" in refused.stderr
    listing = cli(ledger, "departments")
    assert listing.returncode == 0 and "Market Regulation Bureau" in listing.stdout


def test_the_gateway_lists_each_departments_service_items(ledger: Ledger) -> None:
    """`GET /departments` gives each department's service items held now (``items``) beside its certificate types,
    as the registry has them: INS, an approver, holds the test items; MKT, which decides nothing, none."""
    from .api_support import Clock, bearer, login, make_client

    client = make_client(ledger, Clock())
    answer = client.get("/departments", headers=bearer(login(client, ledger, "MKT")))
    assert answer.status_code == 200, answer.text
    listed = {d["id"]: d for d in answer.json()}
    assert listed["INS"]["items"] == sorted(TEST_ITEMS), listed["INS"]
    assert listed["MKT"]["items"] == [], listed["MKT"]


def test_the_department_listing_reads_the_registry_as_one_department_at_a_time_would(ledger: Ledger) -> None:
    """`GET /departments` and `ledger departments` read every department in one JSON-RPC batch at one block (three
    calls per department made the listing take seconds once some hundreds were registered): each entry equals the
    department read on its own, and a node that refuses batches is read call by call."""
    from ledger.services.departments import get_department, list_departments

    listed = list_departments(ledger.chain)
    assert len(listed) >= 3
    assert [d.to_json() for d in listed] == [get_department(ledger.chain, d.code).to_json() for d in listed]
    # the service items each holds, by code, as the council granted them (the approvers here hold the test items)
    assert any(d.items == sorted(TEST_ITEMS) for d in listed), [(d.code, d.items) for d in listed]
    provider = ledger.chain.w3.provider

    def refuses(requests: Any) -> Any:
        return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "batches are not served"}}

    provider.make_batch_request = refuses  # type: ignore[method-assign]
    try:
        assert [d.to_json() for d in list_departments(ledger.chain)] == [d.to_json() for d in listed]
    finally:
        del provider.make_batch_request
