"""Gateway under attack: hostile requests against a real gateway process (``python -m api`` under uvicorn, on the
session's anvil chain and database). Each test is one promise of docs/guarantees.md, "Gateway under attack"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from ledger.client import Ledger

from .gateway_process import Gateway, gateway
from .test_api_support import PROBLEM_KEYS

UNKNOWN_DIGEST = "0x" + "ab" * 32


@pytest.fixture(scope="module")
def gw(ledger: Ledger) -> Iterator[Gateway]:
    with gateway(ledger, public_burst=1_000_000, signin_burst=1_000_000, refused_burst=1_000_000) as running:
        yield running


def _problem(response: Any, *statuses: int) -> dict[str, Any]:
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert PROBLEM_KEYS <= set(body) and body["status"] == response.status_code
    return body  # type: ignore[no-any-return]


def _post_routes(gw: Gateway) -> list[str]:
    with gw.client() as c:
        paths = c.get("/openapi.json").json()["paths"]
    return sorted(re.sub(r"\{[^}]+\}", UNKNOWN_DIGEST, path) for path, item in paths.items() if "post" in item)


@pytest.mark.parametrize("depth", [1_000, 10_000, 50_000, 200_000])
def test_deeply_nested_bodies_are_refused_and_the_process_survives(gw: Gateway, depth: int) -> None:
    """Nesting depths far beyond any certificate's, anonymously, on every POST route of the OpenAPI document: a
    4xx problem each time (before authentication and rate limiting), never a crash."""
    routes = _post_routes(gw)
    assert len(routes) >= 8
    bodies = [b"[" * depth + b"]" * depth, b'{"document":' + b'{"a":' * depth + b"1" + b"}" * (depth + 1),
              b'{"records":[' + b"[" * depth]  # unterminated as well
    with gw.client() as c:
        for route in routes:
            for body in bodies:
                answer = c.post(route, content=body, headers={"Content-Type": "application/json"})
                problem = _problem(answer, 400, 413, 422)
                assert "deep" in problem["detail"] or "nest" in problem["detail"], problem
    assert gw.alive(), gw.log()


def test_wide_and_long_bodies_are_refused(gw: Gateway) -> None:
    """Hundreds of thousands of values, or one string longer than any record may be: 422 before any handler."""
    wide = b'{"document": {"fields": [' + b",".join([b"1"] * 300_000) + b"]}}"
    long = b'{"document": {"fields": {"a": "' + b"x" * 300_000 + b'"}}}'
    with gw.client() as c:
        for route in ("/public/verify", "/auth/challenge", "/verify", "/certificates"):
            assert "values" in _problem(c.post(route, content=wide, headers={"Content-Type": "application/json"}),
                                        422)["detail"]
            assert "longer than" in _problem(c.post(route, content=long, headers={"Content-Type": "application/json"}),
                                             422)["detail"]
    assert gw.alive(), gw.log()
