"""The verification page in real headless Chromium (Debian's ``chromium`` package), driven by Playwright.

The gateway runs under uvicorn on 127.0.0.1 in a thread, on the session's real chain. The test uploads a
certificate file, expects "Verified" with every check passed and the timeline, takes a screenshot into the test's
tmp dir; then pastes the digest of a revoked certificate and expects "Not verified". CI installs chromium with
``apt-get install -y chromium``; only when /usr/bin/chromium is absent is the test skipped. A last test records
every request the pages make (verification page, API docs, timeline page): all go to the gateway, none is
refused by its Content-Security-Policy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ledger.services.status import revoke
from ledger.services.verify import CHECK_NAMES

from .api_support import issue
from .browser_support import (
    needs_chromium,
    page_fixture,  # noqa: F401 - fixtures
    server_fixture,  # noqa: F401 - fixtures
)

pytestmark = needs_chromium


def test_upload_a_certificate_file(ledger: Any, server: str, page: Any, tmp_path: Path) -> None:
    doc = issue(ledger, "MKT", 1)[0]
    path = tmp_path / "certificate.json"
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")

    page.goto(server + "/")
    assert page.title().startswith("Verify a certificate")
    page.set_input_files("#file", str(path))
    page.wait_for_selector("body[data-state=done]")
    assert page.inner_text("#verdict") == "Verified"
    checks = page.locator("#checks li")
    assert [checks.nth(i).get_attribute("data-check") for i in range(checks.count())] == list(CHECK_NAMES)
    assert all(checks.nth(i).get_attribute("class") == "ok" for i in range(checks.count()))
    timeline = page.inner_text("#timeline")
    assert "issued" in timeline and "anchored" in timeline and "signed" in timeline
    # the page shows no personal field of the certificate
    assert doc["fields"]["subject.name"] not in page.content()
    shot = tmp_path / "verified.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    page.click("text=Open the timeline page")
    page.wait_for_selector("ol.timeline li")
    assert "Provenance timeline" in page.inner_text("h1")


def test_paste_the_digest_of_a_revoked_certificate(ledger: Any, server: str, page: Any, tmp_path: Path) -> None:
    digest = issue(ledger, "MKT", 1)[0]["digest"]
    revoke(ledger, digest, "fraud")
    page.goto(server + "/")
    page.fill("#digest", digest)
    page.click("#digest-form button")
    page.wait_for_selector("body[data-state=done]")
    assert page.inner_text("#verdict") == "Not verified"
    status = page.locator("#checks li[data-check=status]")
    assert status.get_attribute("class") == "bad" and "revoked" in status.inner_text()
    assert "revoked" in page.inner_text("#timeline")
    page.screenshot(path=str(tmp_path / "revoked.png"), full_page=True)


def test_drop_a_certificate_file(ledger: Any, server: str, page: Any) -> None:
    doc = issue(ledger, "HOSP", 1)[0]
    page.goto(server + "/")
    transfer = page.evaluate_handle(
        "(text) => { const dt = new DataTransfer();"
        " dt.items.add(new File([text], 'certificate.json', {type: 'application/json'})); return dt; }",
        json.dumps(doc),
    )
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
    page.wait_for_selector("body[data-state=done]")
    assert page.inner_text("#verdict") == "Verified"
    assert doc["digest"] in page.inner_text("#summary")


def test_pages_load_nothing_from_another_host(ledger: Any, server: str, page: Any) -> None:
    """Government networks are often offline: every request of every page (the verification page, the API
    docs, the timeline page) goes to this gateway, and the Content-Security-Policy is never violated."""
    digest = issue(ledger, "MKT", 1)[0]["digest"]
    requests: list[str] = []
    violations: list[str] = []

    def on_console(message: Any) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            violations.append(message.text)

    def on_request(request: Any) -> None:
        requests.append(request.url)

    page.on("request", on_request)
    page.on("console", on_console)
    try:
        page.goto(server + "/")
        page.fill("#digest", digest)
        page.click("#digest-form button")
        page.wait_for_selector("body[data-state=done]")
        page.goto(server + "/docs")
        page.wait_for_selector(".swagger-ui .opblock")  # Swagger UI rendered the operations from /openapi.json
        assert "Provenance Ledger gateway" in page.inner_text(".swagger-ui .info")
        page.goto(f"{server}/public/certificates/{digest}/timeline.html")
        page.wait_for_selector("ol.timeline li")
    finally:
        page.remove_listener("request", on_request)
        page.remove_listener("console", on_console)
    assert requests and all(url.startswith(server + "/") or url.startswith("data:") for url in requests), [
        url for url in requests if not url.startswith(server)
    ]
    assert any("/swagger-ui/" in url for url in requests) and any(url.endswith("/openapi.json") for url in requests)
    assert not violations, violations
