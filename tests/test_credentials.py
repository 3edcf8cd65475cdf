"""Certificates as W3C Verifiable Credentials 2.0: exported, expanded as JSON-LD offline, schema-checked, verified.

Real chain and database; `ledger export --vc` and `ledger verify` run as the command in a subprocess.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats import vc
from ledger.formats.certificate import load_document
from ledger.services import evidence, issuance, status

from .cli_support import run_cli
from .conftest import make_records, write_jsonl


@pytest.fixture(scope="module")
def issued(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = io.StringIO()
    path = write_jsonl(tmp_path_factory.mktemp("vc") / "vc.jsonl", make_records(3))
    issuance.issue_file(ledger, path, "MKT", batch_size=3, out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _all_iris(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "@value":
                continue
            found.add(key)
            if key == "@type":
                found.update(item if isinstance(item, list) else [item])
            found |= _all_iris(item)
    elif isinstance(value, list):
        for item in value:
            found |= _all_iris(item)
    return found


def test_credential_conforms_expands_offline_and_converts_back(issued: list[dict[str, Any]]) -> None:
    doc = issued[0]
    credential = vc.to_credential(doc)
    assert credential["@context"] == [vc.VC_V2, vc.PL_CERT_V1]
    assert credential["issuer"]["name"] == "MKT"
    assert credential["validFrom"] == "2026-01-01T00:00:00Z" and credential["validUntil"] == "2031-12-31T23:59:59Z"
    assert credential["credentialSubject"]["claims"] == doc["fields"]
    assert credential["credentialStatus"]["digest"] == doc["digest"] == credential["proof"]["digest"]
    assert vc.schema_errors(credential) == []

    expanded = vc.expand(credential)
    assert len(expanded) == 1
    iris = _all_iris(expanded)
    assert "https://www.w3.org/2018/credentials#VerifiableCredential" in iris
    assert "https://www.w3.org/2018/credentials#validUntil" in iris
    assert "https://w3id.org/security#proof" in iris
    assert not [i for i in iris if "issuer-dependent" in i], "every term must be defined by a shipped context"
    pl = "https://ns.provenance-ledger.org/pl-cert#"
    assert {pl + "claims", pl + "salts", pl + "anchor", pl + "PlCertAnchorProof", pl + "PlCertChainStatus"} <= iris

    assert vc.to_document(credential) == load_document(doc).to_json()
    presentation = load_document(doc).present(["subject.name"])
    shown = vc.to_credential(presentation)
    assert "subject.id_number" not in shown["credentialSubject"]["claims"] and shown["proof"]["hidden"]
    assert vc.to_document(shown) == presentation.to_json()


def test_the_schema_and_the_expansion_refuse_what_is_not_a_vc_2_0(issued: list[dict[str, Any]]) -> None:
    good = vc.to_credential(issued[1])
    cases = {
        "issuer": lambda c: c.pop("issuer"),
        "validFrom": lambda c: c.update(validFrom="2026-01-01T00:00:00"),  # no time zone: not a dateTimeStamp
        "@context": lambda c: c.update({"@context": ["https://www.w3.org/2018/credentials/v1"]}),
        "type": lambda c: c.update(type=["PlCertCredential"]),
        "credentialSubject": lambda c: c.update(credentialSubject={}),
    }
    for name, spoil in cases.items():
        bad = copy.deepcopy(good)
        spoil(bad)
        assert any(e.startswith(name) or name in e for e in vc.schema_errors(bad)), name
        with pytest.raises(InputError, match=r"VC 2\.0 schema"):
            vc.to_document(bad)
    unknown = copy.deepcopy(good)
    unknown["@context"].append("https://example.org/never-fetched/v1")
    with pytest.raises(InputError, match="JSON-LD"):
        vc.to_document(unknown)


def test_ledger_verify_accepts_the_exported_credential(
    ledger: Ledger, issued: list[dict[str, Any]], tmp_path: Path
) -> None:
    digest = issued[2]["digest"]
    out = tmp_path / "credential.json"
    done = run_cli(ledger, "export", digest, "--vc", "--out", str(out))
    assert done.returncode == 0, done.stderr
    credential = json.loads(out.read_text())
    assert vc.schema_errors(credential) == [] and credential["proof"]["type"] == vc.PROOF_TYPE
    checked = run_cli(ledger, "verify", str(out), "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["verified"] is True

    shown = tmp_path / "presentation.json"
    assert run_cli(ledger, "export", digest, "--vc", "--reveal", "subject.name", "--out", str(shown)).returncode == 0
    assert "subject.id_number" in json.loads(shown.read_text())["proof"]["hidden"]
    assert run_cli(ledger, "verify", str(shown)).returncode == 0

    # an envelope edited to look better is refused; an edited claim fails the digest check
    extended = copy.deepcopy(credential)
    extended["validUntil"] = "2099-12-31T23:59:59Z"
    (tmp_path / "extended.json").write_text(json.dumps(extended))
    refused = run_cli(ledger, "verify", str(tmp_path / "extended.json"), "--json")
    assert refused.returncode == 1, refused.stderr
    failed_checks = [c for c in json.loads(refused.stdout)["checks"] if not c["ok"] and not c["skipped"]]
    assert [c["name"] for c in failed_checks] == ["format"] and "validUntil" in failed_checks[0]["detail"]
    forged = copy.deepcopy(credential)
    forged["credentialSubject"]["claims"]["subject.name"] = "Someone Else"
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    failed = run_cli(ledger, "verify", str(tmp_path / "forged.json"), "--json")
    assert failed.returncode == 1 and json.loads(failed.stdout)["verified"] is False

    # the library reads credentials wherever it reads documents: an evidence bundle from the holder's credential
    bundle = evidence.certificate_bundle(ledger, credential)
    assert bundle["certificate"]["digest"] == digest and evidence.verify_bundle(bundle, ledger.chain).ok

    # the status on chain decides, exactly as for the document
    status.revoke(ledger, digest, "data-error")
    revoked = run_cli(ledger, "verify", str(out), "--json")
    assert revoked.returncode == 1
    assert [c["name"] for c in json.loads(revoked.stdout)["checks"] if not c["ok"] and not c["skipped"]] == ["status"]
