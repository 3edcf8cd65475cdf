"""An explicit "now", separate from "as of block": validity judged at a moment the caller supplies, through the
library (verify_certificate(now=...)), the CLI (`ledger verify --now`) and the standalone court verifier (`--now`).

Adversary: a holder presenting an expired (or not yet valid) certificate at a moment the verifier must judge —
a court re-checking validity as of the day of a transaction, a test that cannot wait for a certificate to lapse.
Without an injectable now, validity is only ever judged at the machine's clock. Bad values are refused with a
clear error before anything is read.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ledger.cli import main as cli_main
from ledger.client import Ledger
from ledger.formats.certificate import validate_record
from ledger.services.evidence import certificate_bundle
from ledger.services.issuance import issue_records
from ledger.services.verify import ChainView, verify_certificate

from .conftest import PASSPHRASE, make_records

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "verify_evidence.py"
# make_records: valid 2026-01-01 (00:00:00 UTC) to 2031-12-31 (its 23:59:59 UTC)


@pytest.fixture(scope="module")
def document(ledger: Ledger) -> dict[str, Any]:
    out = io.StringIO()
    records = [validate_record(r, 1, department="MKT") for r in make_records(1, prefix="NOW")]
    issue_records(ledger, records, "MKT", out=out)
    return dict(json.loads(out.getvalue().splitlines()[0]))


def _validity(report: Any) -> tuple[bool, str]:
    (check,) = [c for c in report.checks if c.name == "validity"]
    return check.ok, check.detail


def test_library_judges_validity_at_the_given_now(ledger: Ledger, document: dict[str, Any]) -> None:
    view = ChainView(ledger.chain, ledger.settings.confirmations)
    assert verify_certificate(document, view).ok  # the clock (2026-12): within 2026-01-01..2031-12-31
    expired = verify_certificate(document, view, now="2032-01-01T00:00:00Z")
    assert not expired.ok and _validity(expired) == (False, "expired on 2031-12-31")
    assert [c.name for c in expired.checks if not c.ok] == ["validity"]  # status and the rest: as of the head
    early = verify_certificate(document, view, now=datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert _validity(early) == (False, "not valid before 2026-01-01")
    assert verify_certificate(document, view, now="2031-12-31T23:59:59Z").ok  # the last second of the last day
    assert verify_certificate(document, view, now="2032-01-01T07:59:59+08:00").ok  # the same instant in +08:00


def test_cli_verify_now(
    ledger: Ledger,
    document: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    if ledger.settings.database_url:
        monkeypatch.setenv("LEDGER_DATABASE_URL", ledger.settings.database_url)
    else:
        monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    data_dir = ["--data-dir", str(ledger.settings.data_dir)]
    path = tmp_path / "certificate.json"
    path.write_text(json.dumps(document))
    capsys.readouterr()
    assert cli_main([*data_dir, "verify", str(path), "--now", "2032-01-01", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    failed = [c for c in report["checks"] if not c["ok"]]
    assert [c["name"] for c in failed] == ["validity"] and failed[0]["detail"] == "expired on 2031-12-31"
    assert cli_main([*data_dir, "verify", str(path), "--now", "2030-06-01T12:00:00Z"]) == 0
    capsys.readouterr()
    assert cli_main([*data_dir, "verify", str(path), "--now", "tomorrow"]) == 2
    assert "--now 'tomorrow' is not an ISO 8601 date or date-time" in capsys.readouterr().err
    assert cli_main([*data_dir, "verify", str(path), "--now", "2030-06-01T12:00:00"]) == 2
    assert "has no time zone: add Z or an offset" in capsys.readouterr().err


def test_standalone_verifier_now(ledger: Ledger, document: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(certificate_bundle(ledger, document)))
    rpc = str(ledger.chain.w3.provider.endpoint_uri)  # type: ignore[attr-defined]

    def run(*extra: str) -> tuple[int, dict[str, Any] | None, str]:
        done = subprocess.run(
            [sys.executable, str(SCRIPT), str(path), "--rpc", rpc, "--json", *extra],
            capture_output=True,
            text=True,
            timeout=300,
        )
        return done.returncode, (json.loads(done.stdout) if done.stdout.strip() else None), done.stderr

    code, result, _ = run()
    assert code == 0 and result is not None and result["verified"]
    code, result, _ = run("--now", "2032-01-01T00:00:00Z")
    assert code == 1 and result is not None
    assert [(c["name"], c["detail"]) for c in result["checks"] if c["result"] == "FAIL"] == [
        ("validity", "expired on 2031-12-31")
    ]
    code, result, _ = run("--now", "2025-12-31")
    assert code == 1 and result is not None
    assert [c["name"] for c in result["checks"] if c["result"] == "FAIL"] == ["validity"]
    code, result, _ = run("--now", "2031-12-31T23:59:59+00:00")
    assert code == 0 and result is not None and result["verified"]
    code, result, err = run("--now", "2030-06-01T12:00")
    assert code == 2 and result is None and err.startswith("error: --now: ")


@pytest.mark.parametrize(
    "command",
    [
        ["replay", "--since", "{t}"],
        ["replay", "--until", "{t}"],
        ["supervision", "summary", "-d", "GOV", "--since", "{t}"],
        [
            "inspect",
            "announce",
            "-d",
            "GOV",
            "--since",
            "{t}",
            "--until",
            "2030-02-01T00:00:00Z",
            "--rate",
            "0.1",
            "--inspectors",
            "L",
        ],
    ],
)
def test_every_cli_time_option_refuses_a_time_without_a_zone(
    ledger: Ledger, command: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One rule for every time option, --now's: a date-time names its zone (else its instant depends on the machine
    the command runs on), a date is its 00:00 UTC, anything else is refused with exit 2 and an example."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    if ledger.settings.database_url:
        monkeypatch.setenv("LEDGER_DATABASE_URL", ledger.settings.database_url)
    else:
        monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    data_dir = ["--data-dir", str(ledger.settings.data_dir)]
    option = command[command.index("{t}") - 1]
    for value, message in (
        ("2030-01-01T12:00:00", "has no time zone: add Z or an offset"),
        ("next week", "is not an ISO 8601 date or date-time (e.g. 2030-01-31"),
    ):
        capsys.readouterr()
        assert cli_main([*data_dir, *[value if part == "{t}" else part for part in command]]) == 2
        err = capsys.readouterr().err
        assert f"{option} {value!r} {message}" in err, err


def test_supervision_due_refuses_a_day_that_is_not_a_date(
    ledger: Ledger, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    data_dir = ["--data-dir", str(ledger.settings.data_dir)]
    for value in ("tomorrow", "2030-01-01T00:00:00Z"):
        capsys.readouterr()
        assert cli_main([*data_dir, "supervision", "due", "-d", "GOV", "--today", value]) == 2
        assert f"--today {value!r} is not" in capsys.readouterr().err
