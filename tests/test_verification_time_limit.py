"""A whole verification's time (red team round 58's open part): every answer of the node must come whole within the
read timeout (round 58), and all of one verification's answers within a time limit - the library's
``LEDGER_VERIFY_SECONDS`` (``Chain.verify_seconds``, entered per certificate, digest and bundle) and the court's
``--time-limit``. A node answering each read whole just inside the read timeout held a verification for the number
of its reads times that timeout: minutes for a certificate, hours for a bundle, with nothing said."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.config import Settings
from ledger.errors import ConfigError
from ledger.onchain.chain import DEFAULT_VERIFY_SECONDS, Chain, connect
from ledger.onchain.deadline import current_limit, time_limit
from ledger.services import evidence
from ledger.services.verify import ChainView, verify_certificate, verify_digest, verify_many

from .conftest import make_records
from .evidence_support import SCRIPT_MODULE, issue, rpc_url, standalone
from .rpc_proxy import RpcProxy

PAUSE = 0.4  # each answer held this long, then sent whole: far inside every read timeout
LIMIT = 1.5  # the verification's whole time in these tests


@pytest.fixture(scope="module")
def document(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    (document,) = issue(ledger, tmp_path_factory.mktemp("limit"), "MKT", make_records(1))
    return document


@pytest.fixture(scope="module")
def bundle_path(ledger: Ledger, document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("limit-bundle") / "bundle.json"
    path.write_text(json.dumps(evidence.certificate_bundle(ledger, document)), encoding="utf-8")
    return path


class _Slow:
    """A node that answers every read honestly and whole, but only after ``PAUSE`` seconds, counting the reads it
    answered (``served``)."""

    def __init__(self, upstream: str, pause: float = PAUSE) -> None:
        self.served = 0
        self._lock = threading.Lock()

        def held(_method: str, _params: Any, answer: Any) -> Any:
            time.sleep(pause)  # the adversary's own pace, not a test's wait
            with self._lock:
                self.served += 1
            return answer

        self.proxy = RpcProxy(upstream, rewrite=held)
        self.url = self.proxy.url


def _chain(ledger: Ledger, url: str, seconds: float | None) -> Chain:
    honest = ledger.chain
    return Chain(
        connect(url, timeout=30.0), honest.deployment, gas_price=0, artifacts=honest.artifacts, verify_seconds=seconds
    )


def _reads_of_one_verification(ledger: Ledger, document: dict[str, Any]) -> int:
    """How many reads an honest verification of ``document`` asks of a fresh view: what a slow node multiplies."""
    with RpcProxy(rpc_url(ledger)) as counting:
        report = verify_certificate(document, ChainView(_chain(ledger, counting.url, None)))
        assert report.ok, report.to_json()
        return sum(counting.methods.values())


def _ran_out(details: list[str]) -> bool:
    return any(f"time limit of {LIMIT:g} s ran out" in d for d in details)


def test_a_node_answering_every_read_slowly_holds_no_verification_past_its_time_limit(
    ledger: Ledger, document: dict[str, Any], bundle_path: Path
) -> None:
    """Adversary: the chain's operator (whoever answers at LEDGER_RPC_URL) holding a department's verification of a
    certificate it would rather not see judged: every read answered honestly and whole, each after a pause well inside
    the 30 s read timeout. A verification asks some dozens of reads, so it was held for dozens of pauses, with nothing
    said. Within the time limit each verification - a document, a digest, a bundle - must stop asking once its time is
    gone, verify nothing the chain has not answered, and say that the limit ran out."""
    reads = _reads_of_one_verification(ledger, document)
    bound = int(LIMIT / PAUSE) + 2  # the reads a node pausing PAUSE can answer within LIMIT, with the one cut short
    assert reads > bound, f"an honest verification asks {reads} reads: raise PAUSE so the limit is what stops it"

    slow = _Slow(rpc_url(ledger))
    try:
        report = verify_certificate(document, ChainView(_chain(ledger, slow.url, LIMIT)))
        assert not report.ok, report.to_json()
        assert _ran_out([c.detail for c in report.checks if c.skipped]), report.to_json()
        assert slow.served <= bound, (slow.served, bound)

        slow.served = 0
        anchor = document["anchor"]
        digest_report = verify_digest(
            document["digest"],
            anchor,
            ChainView(_chain(ledger, slow.url, LIMIT)),
            issuer="MKT",
            certificate_type=document["fields"]["type"],
        )
        assert not digest_report.ok and _ran_out([c.detail for c in digest_report.checks if c.skipped]), (
            digest_report.to_json()
        )
        assert slow.served <= bound, (slow.served, bound)

        slow.served = 0
        bundle_report = evidence.verify_bundle(bundle_path, _chain(ledger, slow.url, LIMIT))
        assert not bundle_report.ok, bundle_report.to_json()
        assert _ran_out([c.detail for c in bundle_report.checks if c.skipped]), bundle_report.to_json()
        assert slow.served <= bound, (slow.served, bound)
    finally:
        slow.proxy.close()


def test_verify_many_bounds_each_certificate_and_its_shared_reads(ledger: Ledger, document: dict[str, Any]) -> None:
    """Adversary: the same slow node, against a batch verification: its shared reads (the head, the status index)
    and then each certificate get the limit, so no certificate's report waits past it. A certificate whose reads
    ran out says so; one whose reads the earlier ones left the view holding may finish within its own limit on the
    node's honest (late) answers."""
    slow = _Slow(rpc_url(ledger))
    try:
        reports = verify_many([document, document], ChainView(_chain(ledger, slow.url, LIMIT)), workers=0)
        assert not reports[0].ok, reports[0].to_json()
        assert all(r.ok or _ran_out([c.detail for c in r.checks if c.skipped]) for r in reports), [
            r.to_json() for r in reports
        ]
        # the shared reads' limit and one for each certificate: never more than three limits' worth of reads
        assert slow.served <= 3 * (int(LIMIT / PAUSE) + 2), slow.served
    finally:
        slow.proxy.close()


def test_the_courts_verifier_stops_at_its_time_limit_and_says_so(
    ledger: Ledger, document: dict[str, Any], bundle_path: Path
) -> None:
    """Adversary: the chain's operator answering at the URL the court gives (``--rpc``), every answer whole and
    honest but late: a bundle's checks ask some dozens of questions, so the court waited for all of them. With
    ``--time-limit`` the court's verifier stops asking, runs no check on the chain's word, says that the limit ran
    out, and does not say VERIFIED; a limit that is no number of seconds is refused before anything is read."""
    bound = int(LIMIT / PAUSE) + 2
    bundle = json.loads(bundle_path.read_text(encoding="utf-8"))
    with RpcProxy(rpc_url(ledger)) as counting:
        honest = SCRIPT_MODULE.Verifier(
            bundle, SCRIPT_MODULE.Rpc(counting.url), anchor=None, file=None, confirmations=0
        ).run()
        assert all(outcome != "FAIL" for _, outcome, _ in honest), honest
        asked = sum(counting.methods.values())
    assert asked > bound, f"the court asks {asked} questions: raise PAUSE so the limit is what stops it"

    slow = _Slow(rpc_url(ledger))
    try:
        results = SCRIPT_MODULE.Verifier(
            bundle, SCRIPT_MODULE.Rpc(slow.url, time_limit=LIMIT), anchor=None, file=None, confirmations=0
        ).run()
        assert slow.served <= bound, (slow.served, bound)
        assert _ran_out([detail for _, outcome, detail in results if outcome == "SKIP"]), results
        assert [
            r
            for r in results
            if r[1] == "PASS"
            and r[0] not in ("bundle", "fields", "disclosure", "digest", "merkle_proof", "validity", "attachment")
        ] == [], results

        slow.served = 0
        code, result, stderr = standalone(ledger, bundle_path, "--time-limit", f"{LIMIT:g}", rpc=slow.url)
        assert code == 1 and result is not None and not result["verified"], (code, result, stderr)
        assert _ran_out([c["detail"] for c in result["checks"] if c["result"] == "SKIP"]), result
        assert slow.served <= bound, (slow.served, bound)
    finally:
        slow.proxy.close()
    for bad in ("0", "-5", "inf", "nan", "soon"):
        code, result, stderr = standalone(ledger, bundle_path, "--time-limit", bad)
        assert code == 2 and result is None, (bad, code, stderr)
        assert "--time-limit" in stderr, (bad, stderr)


def test_the_limit_is_a_setting_every_chain_the_ledger_opens_carries(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The operator sets the limit (LEDGER_VERIFY_SECONDS, whole seconds, at least 1) and the ledger's chain carries
    it to every verification; a value that is no such number is refused with the variable's name."""
    assert ledger.settings.verify_seconds == DEFAULT_VERIFY_SECONDS == ledger.chain.verify_seconds
    monkeypatch.setenv("LEDGER_VERIFY_SECONDS", "7")
    assert Settings.from_env(tmp_path).verify_seconds == 7
    for bad in ("0", "-1", "1.5", "two"):
        monkeypatch.setenv("LEDGER_VERIFY_SECONDS", bad)
        with pytest.raises(ConfigError, match="LEDGER_VERIFY_SECONDS"):
            Settings.from_env(tmp_path)


def test_nested_limits_keep_the_earlier_end_and_leave_none_behind() -> None:
    """A bundle's check enters the limit and its certificate's verification enters it again: the inner one must not
    extend the outer's time, and none may outlive its block (the next verification gets its own)."""
    assert current_limit() is None
    with time_limit(10):
        outer = current_limit()
        assert outer is not None
        with time_limit(1000):
            assert current_limit() == outer
        with time_limit(0.5):
            inner = current_limit()
            assert inner is not None and inner[0] < outer[0] and inner[1] == 0.5
        assert current_limit() == outer
        with time_limit(None):
            assert current_limit() == outer
    assert current_limit() is None
    with pytest.raises(RuntimeError), time_limit(5):
        raise RuntimeError("a failure inside")
    assert current_limit() is None


def test_the_gateway_holds_no_verification_past_the_time_limit(
    ledger: Ledger, document: dict[str, Any], fresh_department: str
) -> None:
    """Adversary: the chain's operator answering slowly at the gateway's node URL. ``POST /verify`` and the public
    verification of a document the gateway has not verified before read the head and the status lists outside
    the verification's own limit, so each request held a worker thread for those reads times 30 s on top of it
    (red team round 66). Every read of the request is within the limit now: not verified, saying the limit ran
    out, after no more reads than the limit allows."""
    from .api_support import Clock, bearer, login, make_client

    bound = int(LIMIT / PAUSE) + 2
    client = make_client(ledger, Clock())
    token = login(client, ledger, fresh_department)
    slow = _Slow(rpc_url(ledger))
    try:
        app = client.app
        app.state.view = ChainView(_chain(ledger, slow.url, LIMIT))  # type: ignore[attr-defined]
        answer = client.post("/verify", json={"document": document}, headers=bearer(token))
        assert answer.status_code == 200, answer.text
        report = answer.json()
        assert report["verified"] is False, report
        # (the gateway says the node does not answer, naming no more of it)
        assert any("could not be read" in c["detail"] for c in report["checks"] if c["skipped"]), report
        assert slow.served <= bound, (slow.served, bound)

        slow.served = 0
        app.state.view = ChainView(_chain(ledger, slow.url, LIMIT))  # type: ignore[attr-defined]
        answer = client.post("/public/verify", json={"document": document})
        assert answer.status_code == 200, answer.text
        assert answer.json()["verified"] is False, answer.json()
        assert slow.served <= bound, (slow.served, bound)
    finally:
        slow.proxy.close()
