"""Red team, round 11a: a holder or forger editing a document or bundle, the court's expert comparing the two bundle
verifiers, the gateway's anonymous and signed-in clients.

Each hole found was written first as a failing test, then closed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.services import report


@pytest.mark.parametrize(
    ("start", "end"),
    [("9999-12-31", "9999-12-31"), ("9999-12-01", "9999-12-31"), ("9999-01-01", "9999-12-31")],
    ids=["the-last-day", "its-month-in-days", "its-year-in-months"],
)
def test_a_report_period_at_the_end_of_the_calendar_is_refused_not_a_500(
    ledger: Ledger, tmp_path: Path, start: str, end: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An auditor asks for the decision report of a period ending on 9999-12-31 (a typo for 2026, or a probe). The
    period passed parse_period, then building it stepped past the calendar: `last + 1 day` for the period's end,
    the next week's or month's start for its buckets. OverflowError (ValueError for December 9999's next month)
    escaped build_report: a 500 from `GET /audit/report`, a traceback from `ledger report`. Now: refused as a
    bad period, naming the last day a report may end on."""
    from ledger.cli import main as cli_main

    from .api_support import Clock, bearer, login, make_client

    with pytest.raises(InputError, match="end of the calendar"):
        report.build_report(ledger, "INS", start, end)
    out = tmp_path / "report"
    code = cli_main(
        [
            "--data-dir",
            str(ledger.settings.data_dir),
            "report",
            "-d",
            "INS",
            "--from",
            start,
            "--to",
            end,
            "--out",
            str(out),
        ]
    )
    assert code == 2 and "end of the calendar" in capsys.readouterr().err and not out.exists()
    with make_client(ledger, Clock()) as client:
        token = login(client, ledger, "AUD")
        answer = client.get(
            "/audit/report", params={"department": "INS", "from": start, "to": end}, headers=bearer(token)
        )
    assert answer.status_code == 422, (answer.status_code, answer.text[:300])
    assert "end of the calendar" in answer.json()["detail"]
