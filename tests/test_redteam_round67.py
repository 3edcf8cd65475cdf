"""Red team round 67: an anonymous client of the gateway and a slow node against the public read paths.

1. (An anonymous client, from as many addresses as it likes: the public budgets are per client) ask again and again
   for a big batch's W3C status list (``GET /public/status-lists/...``), or verify a credential with status entries:
   every answer read the batch's whole stored leaves (3.2 MB at 100,000 certificates) from the database and hashed
   them (round 64's memo was keyed by their SHA-256, which needs the blob), twice for a credential's two entries.
   Fixed: the leaves found to lead to a root are kept by (department, root), bounded in bytes; they need no
   freshness (the root, anchored on chain, fixes them: a changed blob either leads to no root or is the same), and
   every status bit is still read from the chain as of the head, the row's existence and state from the store.
2. (The chain's operator, answering each read slowly but inside the read timeout) ask for a certificate's public
   timeline (JSON or page) or a status list: those read the chain outside the verification time limit
   (``LEDGER_VERIFY_SECONDS``), so each request held a gateway worker thread for its reads times 30 s; and a read cut
   by the limit was reported as "the node does not answer", naming no limit. Fixed: both routes read within the
   limit, and a read the limit cut says which limit ran out and what to do.
3. (An anonymous client) verify a W3C credential with status entries: the JSON-LD processor ran twice on it (the
   document's reading, then the entries' check), the second proving nothing the first had not. Fixed: a credential
   text found to expand is known by its SHA-256 and not expanded again.
4. (An anonymous client) ask for the public timeline of a certificate of a big batch: each answer read the batch's
   whole leaves to rebuild one proof needing 64 of them. Fixed: the store sends the certificate's run alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, select

from ledger.client import Ledger
from ledger.onchain.chain import Chain, connect
from ledger.services import status, statuslist

from .api_support import Clock, issue, make_client
from .insider_support import insider_edit
from .rpc_proxy import RpcProxy


def _leaf_reads(ledger: Ledger, fn: Callable[[], Any]) -> tuple[Any, int]:
    """``fn()`` and how many statements it sent that read a batch's stored leaves (their length is no read of them)."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        text = statement.lower().replace("length(batch.leaves)", "").replace("substr(batch.leaves", "")
        if text.lstrip().startswith("select") and "leaves" in text:
            seen.append(statement)

    event.listen(ledger.engine, "before_cursor_execute", before)
    try:
        return fn(), len(seen)
    finally:
        event.remove(ledger.engine, "before_cursor_execute", before)


def _bits(listed: dict[str, Any], count: int) -> set[int]:
    raw = statuslist.decode(listed["credentialSubject"]["encodedList"])
    return {i for i in range(count) if statuslist.bit(raw, i)}


def test_a_status_list_asked_again_reads_no_stored_leaves_and_still_reads_the_chain(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an anonymous client asking again and again for the public status lists of a department's batch
    (both purposes, as a credential's two entries name them). Each answer read and hashed the batch's whole stored
    leaves. Asked again, no statement reads the leaves; a certificate revoked since is still in the next answer
    (the chain is read as of the head), and a batch whose row is gone is still not found."""
    dept = fresh_department
    documents = issue(ledger, dept, 300)
    root = documents[0]["anchor"]["root"]
    status.revoke(ledger, documents[5]["digest"], "fraud")
    client = make_client(ledger, Clock())
    url = f"/public/status-lists/{dept}/{root}"

    first, reads = _leaf_reads(ledger, lambda: client.get(f"{url}/revocation"))
    assert first.status_code == 200, first.text
    assert reads == 1, reads
    for purpose in ("revocation", "suspension", "revocation"):
        again, reads = _leaf_reads(ledger, lambda p=purpose: client.get(f"{url}/{p}"))  # type: ignore[misc]
        assert again.status_code == 200, again.text
        assert reads == 0, (purpose, reads)
    assert _bits(again.json(), 300) == {5}

    # what the chain says is read fresh: a revocation since the lists were first built is in the next one
    status.revoke(ledger, documents[200]["digest"], "fraud")
    client.app.state.view.refresh()  # type: ignore[attr-defined] # the head refresher's turn (head_max_age_seconds)
    fresh, reads = _leaf_reads(ledger, lambda: client.get(f"{url}/revocation"))
    assert fresh.status_code == 200 and reads == 0, (fresh.text, reads)
    assert _bits(fresh.json(), 300) == {5, 200}
    listed, reads = _leaf_reads(
        ledger, lambda: statuslist.list_credential(ledger, dept, root, "revocation", base="http://gw")
    )
    assert reads == 0 and _bits(listed, 300) == {5, 200}, reads


PAUSE = 0.4  # each node answer held this long, then sent whole: far inside the 30 s read timeout
LIMIT = 1.5  # the time limit (LEDGER_VERIFY_SECONDS) in these tests


class _SlowNode:
    """A node that answers every read honestly and whole, each after ``PAUSE`` seconds, counting them (``served``)."""

    def __init__(self, upstream: str) -> None:
        self.served = 0
        self.pause = PAUSE
        self._lock = threading.Lock()

        def held(_method: str, _params: Any, answer: Any) -> Any:
            time.sleep(self.pause)  # the adversary's own pace, not a test's wait
            with self._lock:
                self.served += 1
            return answer

        self.proxy = RpcProxy(upstream, rewrite=held)


def _ledger_on(ledger: Ledger, url: str, seconds: float | None) -> Ledger:
    """``ledger``'s store and keys, its chain read through the node at ``url`` under a time limit of ``seconds``."""
    honest = ledger.chain
    chain = Chain(
        connect(url, timeout=30.0), honest.deployment, gas_price=0, artifacts=honest.artifacts, verify_seconds=seconds
    )
    passphrase = ledger._passphrase  # the same deployment, over another node
    return Ledger(
        settings=ledger.settings, chain=chain, engine=ledger.engine, keystore=ledger.keystore, passphrase=passphrase
    )


def test_a_slow_node_holds_no_public_timeline_or_status_list_past_the_time_limit(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: the chain's operator answering the gateway's reads slowly, each whole and honest just inside the
    read timeout. The public timeline (JSON and page) and a batch's status list read the chain outside the time
    limit, so each request held a worker thread for its reads times the pause (times 30 s at worst), and when a
    limit cut a read the answer said only that the node does not answer. Within the limit now: a 502 naming the
    limit (LEDGER_VERIFY_SECONDS; 502, as any chain failure), after no more reads than the limit allows."""
    dept = fresh_department
    (document,) = issue(ledger, dept, 1)
    digest, root = document["digest"], document["anchor"]["root"]
    status.revoke(ledger, digest, "fraud")
    # each path with the pause that makes its honest reads take longer than the limit (a status list's are batched)
    paths = {
        f"/public/certificates/{digest}/timeline": PAUSE,
        f"/public/certificates/{digest}/timeline.html": PAUSE,
        f"/public/status-lists/{dept}/{root}/revocation": 0.9,
    }
    upstream = str(ledger.chain.w3.provider.endpoint_uri)  # type: ignore[attr-defined]
    honest = {}
    for path, pause in paths.items():
        with RpcProxy(upstream) as counting:  # an honest node: how many reads the slow node would multiply
            answer = make_client(_ledger_on(ledger, counting.url, None), Clock()).get(path)
            assert answer.status_code == 200, (path, answer.text)
            honest[path] = sum(counting.methods.values())
        assert honest[path] * pause > LIMIT, f"{path} asks {honest[path]} reads: raise its pause"

    slow = _SlowNode(upstream)
    try:
        for path, pause in paths.items():
            slow.served, slow.pause = 0, pause
            answer = make_client(_ledger_on(ledger, slow.proxy.url, LIMIT), Clock()).get(path)
            assert answer.status_code == 502, (path, answer.status_code, answer.text[:300])
            assert f"time limit of {LIMIT:g} s ran out" in answer.json()["detail"], (path, answer.json())
            assert "LEDGER_VERIFY_SECONDS" in answer.json()["detail"], (path, answer.json())
            # the reads a node pausing so long answers within the limit, with the one cut short; never all of them
            assert slow.served <= min(int(LIMIT / pause) + 2, honest[path] - 1), (path, slow.served, honest[path])
    finally:
        slow.proxy.close()


def test_a_credentials_verification_expands_its_json_ld_once(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: an anonymous client verifying a W3C credential with status list entries again and again (a
    credential of this ledger's own export: the JSON-LD processor runs only on such an envelope). The credential
    was expanded twice per verification - once when it was read, once more when its status entries were checked,
    the same text against the same shipped contexts, proving nothing the first had not - the most expensive step
    of the verification after the chain's reads. Once now, and still verified."""
    from pyld import jsonld

    from ledger.formats import vc

    (document,) = issue(ledger, fresh_department, 1)
    client = make_client(ledger, Clock())
    base = client.app.state.settings.public_url  # type: ignore[attr-defined]
    credential = vc.to_credential(document, status_list=(base, statuslist.leaf_index(ledger, document["digest"])))
    expansions = [0]
    expand = jsonld.expand

    def counted(*args: Any, **kwargs: Any) -> Any:
        expansions[0] += 1
        return expand(*args, **kwargs)

    monkeypatch.setattr(jsonld, "expand", counted)
    for _ in range(2):
        expansions[0] = 0
        answer = client.post("/public/verify", json={"document": credential})
        assert answer.status_code == 200 and answer.json()["verified"] is True, answer.text
        assert expansions[0] <= 1, expansions[0]


def test_a_public_timeline_reads_its_certificates_run_of_leaves_not_the_batchs_whole_blob(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an anonymous client asking again and again for the public timeline (JSON or page) of a
    certificate of a big batch. Each answer read the batch's whole row - its leaves, 32 bytes a certificate (3.2 MB
    at 100,000), and its run roots - to rebuild one proof that needs the 64 leaves of the certificate's run and the
    run roots. The store sends that run alone now; the timeline is the same, and a row whose leaves were altered is
    still refused."""
    from ledger.storage.store import Batch

    documents = issue(ledger, fresh_department, 300)
    target = documents[250]
    status.revoke(ledger, target["digest"], "fraud")
    client = make_client(ledger, Clock())
    for path in (
        f"/public/certificates/{target['digest']}/timeline",
        f"/public/certificates/{target['digest']}/timeline.html",
    ):
        answer, reads = _leaf_reads(ledger, lambda p=path: client.get(p))  # type: ignore[misc]
        assert answer.status_code == 200, answer.text
        assert reads == 0, (path, reads)
    assert client.get(f"/public/certificates/{target['digest']}/timeline").json()["status"] == "revoked"

    # the run of leaves holding the certificate, altered: still refused (409), as a whole altered blob was
    root = target["anchor"]["root"]
    with ledger.engine.connect() as conn:
        leaves = bytes(conn.execute(select(Batch.leaves).where(Batch.root == root)).scalar_one())  # type: ignore[call-overload,arg-type]
    edited = leaves[: 251 * 32] + bytes(32) + leaves[252 * 32 :]  # its neighbour in its run: a leaf its proof holds
    with insider_edit(ledger, Batch, Batch.root, root, leaves=edited):
        refused = client.get(f"/public/certificates/{target['digest']}/timeline")
        assert refused.status_code == 409, refused.text
    assert client.get(f"/public/certificates/{target['digest']}/timeline").json()["status"] == "revoked"
