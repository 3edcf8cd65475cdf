"""The report through the real gateway process (``python -m api``): auditors only, HTML in the reader's language
or JSON, the style sheet a file of the gateway (its Content-Security-Policy admits no inline style), and the
timeline page in both languages.

Adversaries: an anonymous client and a signed-in department without the auditor role (refused); a department
whose registered name carries a <script> (escaped on the page).
"""

from __future__ import annotations

from typing import Any

import pytest

from ledger.formats.i18n import COOKIE

from .api_support import issue, sign_in
from .gateway_process import BoundGateway
from .report_support import (
    HOSTILE_NAME,
    hostile_department_fixture,  # noqa: F401 - fixtures
    today,
)


@pytest.fixture(scope="module")
def gw(ledger: Any) -> Any:
    with BoundGateway(ledger) as running:
        yield running


def _query(department: str, **more: str) -> dict[str, str]:
    return {"department": department, "from": today(), "to": today(), **more}


def test_only_auditors_get_the_report(ledger: Any, gw: Any, hostile_department: str) -> None:
    client = gw.client
    anonymous = client.get("/audit/report", params=_query(hostile_department))
    assert anonymous.status_code == 401 and anonymous.headers["content-type"].startswith("application/problem")
    assert HOSTILE_NAME not in anonymous.text
    issuer = client.get("/audit/report", params=_query(hostile_department), headers=sign_in(client, ledger, "MKT"))
    assert issuer.status_code == 403 and "auditor role" in issuer.json()["detail"]
    forged = client.get(
        "/audit/report",
        params=_query(hostile_department),
        headers={"Authorization": "Bearer plt1.eyJkZXBhcnRtZW50IjoiQVVEIn0.AAAA"},
    )
    assert forged.status_code == 401

    auditor = sign_in(client, ledger, "AUD")
    data = client.get("/audit/report", params=_query(hostile_department, format="json"), headers=auditor)
    assert data.status_code == 200 and data.json()["totals"]["decisions"] == 62
    assert data.json()["department"]["name"] == HOSTILE_NAME and data.json()["replay"]["ok"] is True

    page = client.get("/audit/report", params=_query(hostile_department), headers=auditor)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-language"] == "en" and '<html lang="en">' in page.text
    assert "<script" not in page.text and "&lt;script&gt;alert(&#x27;name&#x27;)" in page.text
    assert "<style>" not in page.text and 'href="/pages/report.css"' in page.text
    assert "style-src 'self'" in page.headers["content-security-policy"]
    css = client.get("/pages/report.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css") and ".chart" in css.text


def test_the_report_speaks_the_readers_language(ledger: Any, gw: Any, hostile_department: str) -> None:
    client = gw.client
    client.cookies.clear()
    auditor = sign_in(client, ledger, "AUD")
    by_browser = client.get(
        "/audit/report",
        params=_query(hostile_department),
        headers={**auditor, "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"},
    )
    assert by_browser.headers["content-language"] == "zh-CN" and "审批决定报告" in by_browser.text
    assert COOKIE not in by_browser.headers.get("set-cookie", "")  # nothing chosen, nothing remembered
    chosen = client.get(
        "/audit/report", params=_query(hostile_department, lang="en"), headers={**auditor, "Accept-Language": "zh-CN"}
    )
    assert chosen.headers["content-language"] == "en" and "Decision report" in chosen.text
    assert f"{COOKIE}=en" in chosen.headers["set-cookie"]
    remembered = client.get(
        "/audit/report",
        params=_query(hostile_department),
        headers={**auditor, "Accept-Language": "zh-CN", "Cookie": f"{COOKIE}=en"},
    )
    assert remembered.headers["content-language"] == "en"
    # the language control links the page in each language
    assert "lang=zh-CN" in chosen.text and "中文" in chosen.text


def test_bad_report_requests_get_a_clear_problem(ledger: Any, gw: Any) -> None:
    client = gw.client
    auditor = sign_in(client, ledger, "AUD")
    bad_date = client.get(
        "/audit/report", params={"department": "INS", "from": "2026-02-30", "to": "2026-03-01"}, headers=auditor
    )
    assert bad_date.status_code == 422 and "from" in bad_date.text
    backwards = client.get(
        "/audit/report", params={"department": "INS", "from": "2026-03-01", "to": "2026-02-01"}, headers=auditor
    )
    assert backwards.status_code == 422 and "before it starts" in backwards.json()["detail"]
    unknown = client.get(
        "/audit/report", params={"department": "NOPE", "from": "2026-03-01", "to": "2026-03-02"}, headers=auditor
    )
    assert unknown.status_code == 404 and "not registered" in unknown.json()["detail"]


def test_the_timeline_page_in_both_languages(ledger: Any, gw: Any) -> None:
    from ledger.services.status import revoke

    digest = issue(ledger, "MKT", 1)[0]["digest"]
    revoke(ledger, digest, "fraud")
    client = gw.client
    client.cookies.clear()  # an earlier choice would be remembered (that is the point of the cookie)
    english = client.get(f"/public/certificates/{digest}/timeline.html")
    assert "Provenance timeline" in english.text and "Obtained by fraud or forged documents" in english.text
    chinese = client.get(f"/public/certificates/{digest}/timeline.html", headers={"Accept-Language": "zh-CN"})
    assert chinese.headers["content-language"] == "zh-CN"
    text = chinese.text
    assert "证照溯源时间线" in text and "已撤销" in text and "以欺骗或伪造材料取得" in text and "年" in text
    switched = client.get(
        f"/public/certificates/{digest}/timeline.html", params={"lang": "en"}, headers={"Accept-Language": "zh-CN"}
    )
    assert "Provenance timeline" in switched.text and f"{COOKIE}=en" in switched.headers["set-cookie"]
