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


def test_ipv4_clients_written_as_mapped_ipv6_do_not_share_one_rate_limit(ledger: Ledger) -> None:
    """The gateway sits behind a trusted reverse proxy listening on both IPv6 and IPv4 (`[::]:443` with
    `ipv6only=off`, HAProxy's `v4v6`): such a proxy sees, and forwards in X-Forwarded-For, each IPv4 client as an
    IPv4-mapped IPv6 address (`::ffff:198.51.100.7`), as the gateway itself sees its peers when uvicorn binds one
    dual-stack socket for several workers (`python -m api --host :: --workers 2`). The rate limits keyed every IPv6
    client by its /64, which for a mapped address is `::/64`: every IPv4 client of the internet shared one bucket,
    so one anonymous client spending its public budget locked all the others out (429) of public verification,
    timelines and sign-in. Now a mapped address is the IPv4 address it carries (and a proxy reaching the gateway
    from a mapped address is still the trusted proxy it is)."""
    from api.ratelimit import client_key, parse_networks

    from .gateway_process import gateway

    digest = "0x" + "00" * 32
    with (
        gateway(ledger, trusted_proxies="127.0.0.1", public_burst=3, public_per_second=0.001) as gw,
        gw.client() as proxy,
    ):

        def timeline(client: str) -> int:
            answer = proxy.get(f"/public/certificates/{digest}/timeline", headers={"X-Forwarded-For": client})
            return answer.status_code

        flooder = [timeline("::ffff:198.51.100.7") for _ in range(4)]
        assert flooder[-1] == 429, flooder  # the flooder's own budget is spent
        assert timeline("::ffff:203.0.113.9") == 404  # another IPv4 client is not refused for it
        assert timeline("203.0.113.9") == 404  # and it is the same client written either way: one budget left
        assert timeline("::ffff:203.0.113.9") == 404
        assert timeline("203.0.113.9") == 429
    trusted = parse_networks("10.0.0.5")
    assert client_key("::ffff:10.0.0.5", "198.51.100.7", trusted) == "198.51.100.7"
    assert client_key("::ffff:198.51.100.7", None, ()) == "198.51.100.7"
    assert client_key("2001:db8::1", None, ()) == client_key("2001:db8::2", None, ()) == "2001:db8::/64"
