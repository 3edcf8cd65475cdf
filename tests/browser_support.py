"""Helpers and fixtures that several test modules use (from tests/test_browser.py: no test module
imports another)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# the marker of every test that drives the browser
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed (/usr/bin/chromium); `apt-get install -y chromium` (CI installs it)",
)


@pytest.fixture(scope="module", name="page")
def page_fixture(server: str) -> Iterator[Any]:
    """One headless Chromium page for a module's tests (``server`` started first)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1100, "height": 1400})
        page = context.new_page()
        page.set_default_timeout(60_000)
        yield page
        context.close()
        browser.close()


@pytest.fixture(scope="module", name="server")
def server_fixture(ledger: Any) -> Iterator[str]:
    import uvicorn

    from api.config import ApiSettings
    from api.main import create_app

    app = create_app(ledger, settings=ApiSettings(anchor_interval_seconds=0, public_burst=1000))
    # the listening socket is bound here and handed to uvicorn: no other process can take its port in between
    listener = socket.create_server(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(2000):  # wait for the listening socket (event-driven: uvicorn sets .started)
        if srv.started:
            started.set()
            break
        thread.join(0.01)
    assert started.is_set(), "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(30)
        listener.close()
