"""Security headers on every response of a real gateway process, and pages that reference no other host (the
browser-level proof, every request a page makes, is in tests/test_browser.py)."""

from __future__ import annotations

import re

from ledger.client import Ledger

from .api_support import issue
from .gateway_process import BoundGateway as Gateway

HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
EXTERNAL = re.compile(r"""(?:src|href|url)\s*[=(]\s*["']?(?:https?:)?//""", re.IGNORECASE)


def _csp(value: str) -> dict[str, str]:
    return {d.strip().split(" ", 1)[0]: d.strip() for d in value.split(";") if d.strip()}


def test_every_response_carries_the_security_headers(ledger: Ledger) -> None:
    digest = issue(ledger, "MKT", 1)[0]["digest"]
    with Gateway(ledger) as gateway:
        responses = {
            "page": gateway.client.get("/"),
            "docs": gateway.client.get("/docs"),
            "timeline page": gateway.client.get(f"/public/certificates/{digest}/timeline.html"),
            "openapi": gateway.client.get("/openapi.json"),
            "asset": gateway.client.get("/static/verify.js"),
            "swagger asset": gateway.client.get("/swagger-ui/swagger-ui-bundle.js"),
            "public json": gateway.client.post("/public/verify", json={"digest": digest}),
            "401": gateway.client.get("/auth/me"),
            "404": gateway.client.get("/no/such/page"),
            "422": gateway.client.post("/public/verify", json={"digest": "nope"}),
        }
        for name, response in responses.items():
            assert response.status_code in (200, 401, 404, 422), (name, response.status_code)
            for header, value in HEADERS.items():
                assert response.headers.get(header) == value, (name, header, response.headers)
            csp = _csp(response.headers["content-security-policy"])
            assert csp["frame-ancestors"] == "frame-ancestors 'none'", name
            assert csp["default-src"] == "default-src 'none'", name
            assert csp["script-src"] == "script-src 'self'", name  # no inline script, no eval, no other host
            assert "unsafe" not in response.headers["content-security-policy"], name
        assert (
            responses["swagger asset"].status_code == 200 and b"SwaggerUIBundle" in responses["swagger asset"].content
        )
        for name in ("page", "docs", "timeline page"):
            html = responses[name].text
            assert responses[name].status_code == 200, name
            assert not EXTERNAL.search(html), (name, EXTERNAL.findall(html))
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), name  # every script is a file
            assert not re.search(r"<style|\sstyle=", html), name
        assert gateway.client.get("/redoc").status_code == 404  # Redoc would need a CDN too: not served
