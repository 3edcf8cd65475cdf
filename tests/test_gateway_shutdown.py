"""The gateway's shutdown and its background rounds (anchoring, the permits' sweep).

A round runs in a worker thread, which cancelling its asyncio task does not stop: the gateway used to cancel the task
and go on to close the ledger while the thread still used it (seen as a database generator collected after its
connection ended, in the PostgreSQL pass of round 77c's gateway test). Shutdown now asks the loops to stop, waits for
the round in flight, and stops waiting after :data:`api.main.SHUTDOWN_GRACE_SECONDS`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

import api.main
from api.config import ApiSettings
from api.main import create_app
from ledger.client import Ledger
from ledger.services import permits

from .api_support import UNLIMITED


class _Round:
    """A permits' sweep that blocks in its thread until released, saying when it started and ended."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.ended = threading.Event()
        self.calls = 0
        self.trace: list[str] = []

    def __call__(self, _ledger: Ledger) -> dict[str, Any]:
        self.calls += 1
        self.started.set()
        self.release.wait(60)
        self.trace.append("round ended")
        self.ended.set()
        return {}


def _gateway(ledger: Ledger, monkeypatch: pytest.MonkeyPatch, sweep: _Round) -> TestClient:
    monkeypatch.setattr(permits, "follow_all", sweep)
    monkeypatch.setattr(ledger, "settings", ledger.settings.with_(permit_follow_seconds=0.05))
    return TestClient(create_app(ledger, settings=ApiSettings(anchor_interval_seconds=0, **UNLIMITED)))


def _stop_in_thread(client: TestClient, trace: list[str]) -> threading.Thread:
    def stop() -> None:
        client.__exit__(None, None, None)
        trace.append("gateway stopped")

    stopping = threading.Thread(target=stop, name="gateway-shutdown")
    stopping.start()
    return stopping


def test_shutdown_waits_for_the_round_in_flight_before_it_ends(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sweep is running in its thread when the gateway is stopped: the shutdown ends after the sweep, not under it
    (before, the task was cancelled, the shutdown returned at once and the sweep went on using the ledger), and no
    new round starts once the shutdown began."""
    sweep = _Round()
    client = _gateway(ledger, monkeypatch, sweep)
    client.__enter__()
    try:
        assert sweep.started.wait(60), "the gateway's sweep never started"
    except BaseException:
        sweep.release.set()
        client.__exit__(None, None, None)
        raise
    stopping = _stop_in_thread(client, sweep.trace)
    stopping.join(2)  # on the old code the shutdown returned here, the sweep still blocked
    sweep.release.set()
    stopping.join(60)
    assert sweep.ended.wait(60) and not stopping.is_alive()
    assert sweep.trace == ["round ended", "gateway stopped"], sweep.trace
    assert sweep.calls == 1


def test_a_round_that_does_not_end_does_not_hold_the_shutdown_for_ever(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A round stuck past the grace (a node that stopped answering mid-sweep) is left to its thread: the shutdown
    ends, saying which round it stopped waiting for."""
    sweep = _Round()
    monkeypatch.setattr(api.main, "SHUTDOWN_GRACE_SECONDS", 0.2)
    client = _gateway(ledger, monkeypatch, sweep)
    client.__enter__()
    try:
        assert sweep.started.wait(60), "the gateway's sweep never started"
        with caplog.at_level(logging.WARNING, logger=api.main.log.name):
            stopping = _stop_in_thread(client, sweep.trace)
            stopping.join(60)
        assert not stopping.is_alive() and sweep.trace == ["gateway stopped"], sweep.trace
        assert any("permits' sweep" in r.getMessage() and "stopped waiting" in r.getMessage() for r in caplog.records)
    finally:
        sweep.release.set()
        assert sweep.ended.wait(60)
