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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event

from ledger.client import Ledger
from ledger.services import status, statuslist

from .api_support import Clock, issue, make_client


def _leaf_reads(ledger: Ledger, fn: Callable[[], Any]) -> tuple[Any, int]:
    """``fn()`` and how many statements it sent that read a batch's stored leaves (their length is no read of them)."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        text = statement.lower().replace("length(batch.leaves)", "")
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
