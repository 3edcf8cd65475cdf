"""W3C Bitstring Status List v1.0 for exported credentials (statuslist.py, docs/format.md §11).

Adversaries: a status list server (or anyone relaying the list) that lies about a bit or hands out another
batch's list; a holder who edits the credential's status entry to point at a valid neighbour's bit; an anonymous
client sending the public route garbage. Real chain, database, CLI subprocess and gateway process.
"""

from __future__ import annotations

import base64
import copy
import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import InputError, NotFoundError
from ledger.formats import vc
from ledger.services import issuance, status, statuslist

from .cli_support import run_cli
from .conftest import make_records, write_jsonl
from .gateway_process import BoundGateway

BASE = "https://gateway.example.gov.cn"


@pytest.fixture(scope="module")
def batch(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = io.StringIO()
    path = write_jsonl(tmp_path_factory.mktemp("bsl") / "bsl.jsonl", make_records(4))
    issuance.issue_file(ledger, path, "MKT", batch_size=4, out=out)
    docs = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len({d["anchor"]["root"] for d in docs}) == 1
    return docs


def _bits(listed: dict[str, Any]) -> set[int]:
    raw = statuslist.decode(listed["credentialSubject"]["encodedList"])
    return {i for i in range(len(raw) * 8) if raw[i // 8] and statuslist.bit(raw, i)}


def test_encoded_list_round_trips_in_the_spec_bit_order() -> None:
    encoded = statuslist.encode({0, 9, 131_071})
    assert encoded.startswith("u") and "=" not in encoded and "+" not in encoded and "/" not in encoded
    raw = statuslist.decode(encoded)
    assert len(raw) == 16_384  # 131,072 bits: the spec's minimum
    assert raw[0] == 0x80 and raw[1] == 0x40 and raw[-1] == 0x01  # index 0 is the MSB of the first byte
    assert {i for i in range(131_072) if raw[i // 8] and statuslist.bit(raw, i)} == {0, 9, 131_071}
    # an independent decoding, as any W3C verifier does it
    assert gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "==")) == raw
    with pytest.raises(InputError):
        statuslist.encode({131_072})

    def b64(data: bytes) -> str:
        return "u" + base64.urlsafe_b64encode(data).decode().rstrip("=")

    bad = {
        "no multibase prefix": encoded[1:],
        "base64 with padding": encoded + "==",
        "not gzip": b64(b"\x00" * 40),
        "too short": b64(gzip.compress(b"\x00" * 1000)),
        "bomb": b64(gzip.compress(b"\x00" * 10_000_000)),
        "not a string": 12,
    }
    for name, value in bad.items():
        with pytest.raises(InputError):
            statuslist.decode(value)
        assert name
    with pytest.raises(InputError, match="outside"):
        statuslist.bit(raw, 131_072)


def test_revoke_suspend_reinstate_flip_the_right_bits(ledger: Ledger, batch: list[dict[str, Any]]) -> None:
    root = batch[0]["anchor"]["root"]
    index = {d["digest"]: statuslist.leaf_index(ledger, d["digest"]) for d in batch}
    assert sorted(index.values()) == [0, 1, 2, 3]
    a, b = batch[1]["digest"], batch[2]["digest"]

    def bits(purpose: str, block: int | None = None) -> set[int]:
        return _bits(statuslist.list_credential(ledger, "MKT", root, purpose, base=BASE, block=block))

    assert bits("revocation") == bits("suspension") == set()
    before = ledger.chain.block_number()
    status.suspend(ledger, a, "under-investigation")
    assert bits("suspension") == {index[a]} and bits("revocation") == set()
    status.revoke(ledger, b, "data-error")
    assert bits("revocation") == {index[b]} and bits("suspension") == {index[a]}
    status.reinstate(ledger, a, "grounds-resolved")
    assert bits("suspension") == set() and bits("revocation") == {index[b]}
    assert bits("revocation", before) == set()  # a list states the chain as of the block it names

    listed = statuslist.list_credential(ledger, "MKT", root, "revocation", base=BASE)
    assert listed["id"] == f"{BASE}/public/status-lists/MKT/{root}/revocation"
    assert listed["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert listed["credentialSubject"]["statusPurpose"] == "revocation"
    assert listed["proof"]["type"] == statuslist.PROOF_TYPE and listed["proof"]["root"] == root
    assert vc.schema_errors(listed) == [] and vc.expand(listed)

    for department, wrong_root, purpose, error in [
        ("NOPE", root, "revocation", NotFoundError),
        ("MKT", "0x" + "ab" * 32, "revocation", NotFoundError),
        ("MKT", root, "expiry", InputError),
        ("MKT", "0x12", "revocation", InputError),
        ("MKT\x00", root, "revocation", InputError),
    ]:
        with pytest.raises(error):
            statuslist.list_credential(ledger, department, wrong_root, purpose, base=BASE)


def test_export_vc_carries_bitstring_entries_that_conform_and_expand(
    ledger: Ledger, batch: list[dict[str, Any]], tmp_path: Path
) -> None:
    digest = batch[0]["digest"]
    out = tmp_path / "credential.json"
    done = run_cli(ledger, "export", digest, "--vc", "--status-base", BASE, "--out", str(out))
    assert done.returncode == 0, done.stderr
    credential = json.loads(out.read_text())
    chain_entry, revocation, suspension = credential["credentialStatus"]
    assert chain_entry["type"] == vc.STATUS_TYPE and chain_entry["digest"] == digest  # what readers use today
    index = statuslist.leaf_index(ledger, digest)
    root = batch[0]["anchor"]["root"]
    assert revocation == {
        "id": f"{BASE}/public/status-lists/MKT/{root}/revocation#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": str(index),
        "statusListCredential": f"{BASE}/public/status-lists/MKT/{root}/revocation",
    }
    assert suspension["statusPurpose"] == "suspension" and suspension["statusListIndex"] == str(index)
    assert vc.schema_errors(credential) == []
    expanded = json.dumps(vc.expand(credential))
    for term in ("BitstringStatusListEntry", "statusListIndex", "statusListCredential", "statusPurpose"):
        assert f"https://www.w3.org/ns/credentials/status#{term}" in expanded, term
    assert vc.to_document(credential)["digest"] == digest

    # a holder pointing the entry at a neighbour's bit, or at another batch's list, is refused
    for spoil in (
        lambda c: c["credentialStatus"][1].update(statusListIndex=str((index + 1) % 4)),
        lambda c: c["credentialStatus"][2].update(
            statusListCredential=c["credentialStatus"][2]["statusListCredential"].replace(root[3:9], "ffffff")
        ),
        lambda c: c["credentialStatus"].pop(2),
    ):
        bad = copy.deepcopy(credential)
        spoil(bad)
        with pytest.raises(InputError):
            vc.to_document(bad)
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        refused = run_cli(ledger, "verify", str(tmp_path / "bad.json"), "--json")
        assert refused.returncode == 1 and not json.loads(refused.stdout)["verified"]


def _list_file(ledger: Ledger, tmp_path: Path, root: str, purpose: str, name: str) -> Path:
    path = tmp_path / name
    done = run_cli(ledger, "status-list", "MKT", root, "--purpose", purpose, "--status-base", BASE, "--out", str(path))
    assert done.returncode == 0, done.stderr
    return path


def _verify(ledger: Ledger, credential: Path, *lists: Path, **env: str) -> tuple[int, dict[str, Any]]:
    args = [a for p in lists for a in ("--status-list", str(p))]
    done = run_cli(ledger, "verify", str(credential), "--json", *args, **env)
    return done.returncode, json.loads(done.stdout) if done.stdout else {"stderr": done.stderr}


def test_verify_checks_the_lists_and_a_lying_list_fails(
    ledger: Ledger, batch: list[dict[str, Any]], tmp_path: Path
) -> None:
    digest, root = batch[3]["digest"], batch[3]["anchor"]["root"]
    credential = tmp_path / "credential.json"
    assert run_cli(ledger, "export", digest, "--vc", "--status-base", BASE, "--out", str(credential)).returncode == 0
    revocation = _list_file(ledger, tmp_path, root, "revocation", "revocation.json")
    suspension = _list_file(ledger, tmp_path, root, "suspension", "suspension.json")
    code, report = _verify(ledger, credential, revocation, suspension)
    assert code == 0, report
    assert report["checks"][-1]["name"] == "status_list" and report["checks"][-1]["ok"], report["checks"][-1]

    # a list with this certificate's bit flipped: the chain says otherwise
    index = statuslist.leaf_index(ledger, digest)
    lying = json.loads(revocation.read_text())
    lying["credentialSubject"]["encodedList"] = statuslist.encode(_bits(lying) ^ {index})
    (tmp_path / "lying.json").write_text(json.dumps(lying))
    code, report = _verify(ledger, credential, tmp_path / "lying.json", suspension)
    failed = [c for c in report["checks"] if not c["ok"]]
    assert code == 1 and [c["name"] for c in failed] == ["status_list"] and "lies" in failed[0]["detail"]

    # another batch's list (or another purpose's) under this list's URL
    other_root = next(d["anchor"]["root"] for d in _other_batch(ledger, tmp_path))
    other = json.loads(_list_file(ledger, tmp_path, other_root, "revocation", "other.json").read_text())
    other["id"] = lying["id"]
    (tmp_path / "other.json").write_text(json.dumps(other))
    code, report = _verify(ledger, credential, tmp_path / "other.json", suspension)
    assert code == 1 and "another list" in report["checks"][-1]["detail"]
    swapped = json.loads(suspension.read_text())
    swapped["id"] = lying["id"]
    (tmp_path / "swapped.json").write_text(json.dumps(swapped))
    code, report = _verify(ledger, credential, tmp_path / "swapped.json", suspension)
    assert code == 1 and "another list" in report["checks"][-1]["detail"]
    # a list claiming a block the chain has not reached
    future = json.loads(revocation.read_text())
    future["proof"]["block"] = 10**9
    (tmp_path / "future.json").write_text(json.dumps(future))
    code, report = _verify(ledger, credential, tmp_path / "future.json", suspension)
    assert code == 1 and "has not reached" in report["checks"][-1]["detail"]

    # an entry pointing past the batch (re-made so the envelope agrees): no leaf is there
    past = json.loads(credential.read_text())
    past["credentialStatus"][1:] = statuslist.entries(BASE, "MKT", bytes.fromhex(root[2:]), 7)
    (tmp_path / "past.json").write_text(json.dumps(past))
    code, report = _verify(ledger, tmp_path / "past.json", revocation, suspension)
    assert code == 1 and "outside the certificate's batch of 4" in report["checks"][-1]["detail"]

    # a list that cannot be had (the example host is not reachable): said, and the chain's status decides
    code, report = _verify(ledger, credential, suspension, LEDGER_API_PUBLIC_URL=BASE)
    assert (
        code == 0
        and report["checks"][-1]["detail"].startswith("not checked")
        and "--status-list" in report["checks"][-1]["detail"]
    )

    # the old list, once the certificate is revoked, still tells the truth about its block; a new one sets the bit
    status.revoke(ledger, digest, "data-error")
    code, report = _verify(ledger, credential, revocation, suspension)
    assert code == 1 and [c["name"] for c in report["checks"] if not c["ok"]] == ["status"]
    fresh = _list_file(ledger, tmp_path, root, "revocation", "fresh.json")
    assert index in _bits(json.loads(fresh.read_text()))
    code, report = _verify(ledger, credential, fresh, suspension)
    assert [c["name"] for c in report["checks"] if not c["ok"]] == ["status"]


def _other_batch(ledger: Ledger, tmp_path: Path) -> list[dict[str, Any]]:
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / "other.jsonl", make_records(2)), "MKT", batch_size=2, out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_the_gateway_serves_the_lists_and_verify_fetches_them(
    ledger: Ledger, batch: list[dict[str, Any]], tmp_path: Path
) -> None:
    root = batch[0]["anchor"]["root"]
    with BoundGateway(ledger) as gw:
        assert gw.client is not None
        answer = gw.client.get(f"/public/status-lists/MKT/{root}/suspension")
        assert answer.status_code == 200, answer.text
        listed = answer.json()
        assert listed["id"] == f"{gw.url}/public/status-lists/MKT/{root}/suspension"
        assert len(statuslist.decode(listed["credentialSubject"]["encodedList"])) == 16_384
        assert listed["proof"]["block"] <= ledger.chain.block_number()

        for path, code in [
            (f"/public/status-lists/NOPE/{root}/revocation", 404),
            (f"/public/status-lists/MKT/0x{'cd' * 32}/revocation", 404),
            (f"/public/status-lists/MKT/{root}/expiry", 422),
            ("/public/status-lists/MKT/0x1234/revocation", 422),
            (f"/public/status-lists/{'X' * 40}/{root}/revocation", 422),
            (f"/public/status-lists/MKT%00/{root}/revocation", 422),
        ]:
            refused = gw.client.get(path)
            assert refused.status_code == code, (path, refused.status_code, refused.text)
        assert gw.process.alive()

        # verify fetches the lists from the URLs the credential names when no file is given, if they are on the
        # gateway the verifier is configured with (tests/test_redteam_round3.py: never a host the holder chose)
        credential = tmp_path / "credential.json"
        digest = batch[0]["digest"]
        assert (
            run_cli(ledger, "export", digest, "--vc", "--status-base", gw.url, "--out", str(credential)).returncode == 0
        )
        code, report = _verify(ledger, credential, LEDGER_API_PUBLIC_URL=gw.url)
        check = report["checks"][-1]
        assert code == 0 and check["name"] == "status_list" and check["ok"], report
        assert "revocation bit 0" in check["detail"] and "suspension bit 0" in check["detail"]
