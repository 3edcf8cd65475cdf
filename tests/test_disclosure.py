"""Issue 4: selective disclosure. A presentation reveals only chosen fields; the others stay salted hashes without
their salts, and verifying the presentation proves the revealed values belong to the anchored certificate.
Both verifiers (library and standalone process) are run on every case."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.cli import main as cli_main
from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats.canonical import certificate_digest, field_hash, hex32
from ledger.formats.certificate import ALWAYS_DISCLOSED, load_document
from ledger.services import evidence

from .conftest import make_records
from .evidence_support import both, cli_env, failed_names, issue, standalone

REVEAL = ["subject.name"]
HIDDEN = ["subject.credit_code", "subject.id_number"]


@pytest.fixture(scope="module")
def full(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    records = make_records(4)
    records[1]["subject"]["note"] = 'secret: \u00e9t\u00e9 "quoted" \\ value'  # escaping must not leak either
    return issue(ledger, tmp_path_factory.mktemp("disclosure"), "HOSP", records)[1]


@pytest.fixture(scope="module")
def presented(ledger: Ledger, full: dict[str, Any]) -> dict[str, Any]:
    return evidence.certificate_bundle(ledger, full, reveal=REVEAL)


def test_presentation_reveals_only_the_chosen_fields_and_verifies(
    ledger: Ledger, full: dict[str, Any], presented: dict[str, Any], tmp_path: Path
) -> None:
    cert = presented["certificate"]
    assert set(cert["fields"]) == set(REVEAL) | (set(ALWAYS_DISCLOSED) & set(full["fields"]))
    assert set(cert["hidden"]) == set(HIDDEN) | {"subject.note"}
    assert set(cert["salts"]) == set(cert["fields"])
    assert cert["digest"] == full["digest"]  # the same anchored certificate
    report, code, result = both(ledger, presented, tmp_path)
    assert report.ok and code == 0 and result["verified"]
    assert report.certificate_report is not None and report.certificate_report.ok


def _secrets(full: dict[str, Any], names: list[str]) -> list[str]:
    out = []
    for name in names:
        value = full["fields"][name]
        out += [str(value), json.dumps(value), json.dumps(value, ensure_ascii=False), full["salts"][name]]
    return out


def test_hidden_values_and_salts_appear_nowhere_in_the_presentation(
    ledger: Ledger, full: dict[str, Any], presented: dict[str, Any]
) -> None:
    hidden = [*HIDDEN, "subject.note"]
    for text in (json.dumps(presented), json.dumps(presented, ensure_ascii=False), json.dumps(presented, indent=2)):
        for secret in _secrets(full, hidden):
            assert secret not in text
    # the revealed field is there with its salt: the holder chose to disclose it
    assert full["fields"]["subject.name"] in json.dumps(presented)
    assert full["salts"]["subject.name"] in json.dumps(presented)


def test_cli_presentation_bundle_leaks_nothing_hidden(
    ledger: Ledger, full: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "presented.json"
    assert (
        cli_main(
            [*cli_env(ledger, monkeypatch), "evidence", full["digest"], "--reveal", ",".join(REVEAL), "--out", str(out)]
        )
        == 0
    )
    text = out.read_text(encoding="utf-8")
    for secret in _secrets(full, [*HIDDEN, "subject.note"]):
        assert secret not in text
    code, result, _ = standalone(ledger, out)
    assert code == 0 and result is not None and result["verified"]


def test_altered_revealed_value_fails(ledger: Ledger, presented: dict[str, Any], tmp_path: Path) -> None:
    forged = copy.deepcopy(presented)
    forged["certificate"]["fields"]["subject.name"] = "Somebody Else"
    report, code, result = both(ledger, forged, tmp_path)
    assert code == 1 and failed_names(result) == {"fields"}
    assert "subject.name" in report.check("fields").detail


def test_consistently_recomputed_forgery_fails_at_the_proof(
    ledger: Ledger, presented: dict[str, Any], tmp_path: Path
) -> None:
    """A forger who knows the revealed salt recomputes the field hash and the digest: the proof then fails."""
    forged = copy.deepcopy(presented)
    cert = forged["certificate"]
    cert["fields"]["subject.name"] = "Somebody Else"
    salt = bytes.fromhex(cert["salts"]["subject.name"])
    cert["field_hashes"]["subject.name"] = field_hash("subject.name", "Somebody Else", salt).hex()
    hashes = {k: bytes.fromhex(v) for k, v in sorted(cert["field_hashes"].items())}
    cert["digest"] = hex32(certificate_digest(hashes, cert["fields"]["type"]))
    report, code, result = both(ledger, forged, tmp_path)
    assert code == 1 and {"merkle_proof", "status"} >= failed_names(result) >= {"merkle_proof"}
    assert not report.ok


def test_guessed_hidden_value_cannot_be_slipped_in(
    ledger: Ledger, full: dict[str, Any], presented: dict[str, Any], tmp_path: Path
) -> None:
    """Moving a hidden field to the disclosed ones needs its salt: even the true value fails with another salt."""
    forged = copy.deepcopy(presented)
    cert = forged["certificate"]
    cert["hidden"].pop("subject.id_number")
    cert["fields"]["subject.id_number"] = full["fields"]["subject.id_number"]
    cert["salts"]["subject.id_number"] = "00" * 16
    _, code, result = both(ledger, forged, tmp_path)
    assert code == 1 and failed_names(result) == {"fields"}


def test_changed_hidden_hash_fails(ledger: Ledger, presented: dict[str, Any], tmp_path: Path) -> None:
    forged = copy.deepcopy(presented)
    forged["certificate"]["hidden"]["subject.credit_code"] = "ab" * 32
    _, code, result = both(ledger, forged, tmp_path)
    assert code == 1 and failed_names(result) == {"fields"}


def test_presentation_of_a_presentation_cannot_reveal_more(ledger: Ledger, full: dict[str, Any]) -> None:
    once = load_document(full).present(REVEAL)
    with pytest.raises(InputError):
        evidence.certificate_bundle(ledger, once, reveal=["subject.id_number"])
    narrower = evidence.certificate_bundle(ledger, once, reveal=[])
    assert "subject.name" not in narrower["certificate"]["fields"]
    assert narrower["certificate"]["digest"] == full["digest"]


def test_unknown_field_cannot_be_revealed(ledger: Ledger, full: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        evidence.certificate_bundle(ledger, full, reveal=["subject.nonexistent"])
