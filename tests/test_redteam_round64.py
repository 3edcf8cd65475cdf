"""Red team round 64: an anonymous client of the gateway, a gateway relaying another department's messages, and a
court's expert against the evidence bundle and the standalone verifier.

1. (An anonymous client, from as many addresses as it likes: the public budgets are per client) ask again and
   again for a big batch's W3C status list (``GET /public/status-lists/{department}/{root}/{purpose}``): each answer
   rebuilt the batch's whole Merkle tree from its stored leaves (to check they lead to the root) and looked up the
   status of every leaf in the department's stream, so one request's work grew with the batch (60 ms for the
   default 10,000 certificates, 0.6 s for the largest batch the ledger makes), all of it again on each request.
   Fixed: leaves once found to lead to a root are known by their SHA-256 (a changed blob is checked again), and
   only the leaves whose digest the department's stream changed are looked up.
"""

from __future__ import annotations

import sys
from typing import Any

from ledger.client import Ledger
from ledger.services import status, statuslist
from ledger.services.verify import ChainView

from .api_support import Clock, issue, make_client


def _calls(fn: Any) -> tuple[Any, int]:
    """``fn()`` and how many Python and C function calls it made (the interpreter's profile hook: deterministic,
    unlike a clock on a shared machine)."""
    made = [0]

    def hook(_frame: Any, event: str, _arg: Any) -> None:
        if event in ("call", "c_call"):
            made[0] += 1

    sys.setprofile(hook)
    try:
        result = fn()
    finally:
        sys.setprofile(None)
    return result, made[0]


def test_a_big_batchs_status_list_asked_again_costs_what_a_small_ones_does(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an anonymous client asking again and again for the public W3C status list of a department's big
    batch. Each answer rebuilt the batch's Merkle tree and looked up every leaf's status: its work grew with the
    batch. Counted in function calls: asked again, the list of a 3,000-certificate batch costs about what the list
    of a 30-certificate batch does, and still sets exactly the revoked certificates' bits."""
    dept = fresh_department
    big = issue(ledger, dept, 3_000)
    small = issue(ledger, dept, 30)
    assert len({d["anchor"]["root"] for d in big}) == 1 and big[0]["anchor"]["root"] != small[0]["anchor"]["root"]
    revoked = [big[7], big[2_999], small[3]]
    for document in revoked:
        status.revoke(ledger, document["digest"], "fraud")
    view = ChainView(ledger.chain, ledger.settings.confirmations, status_lookup="herd")

    def listed(documents: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
        root = documents[0]["anchor"]["root"]
        return _calls(lambda: statuslist.list_credential(ledger, dept, root, "revocation", base="http://gw", view=view))

    for documents in (big, small):
        listed(documents)  # the first answer checks the leaves against the root
    big_list, big_cost = listed(big)
    small_list, small_cost = listed(small)
    assert big_cost < small_cost + 1_000, (big_cost, small_cost)
    for credential, documents in ((big_list, big), (small_list, small)):
        bits = statuslist.decode(credential["credentialSubject"]["encodedList"])
        wanted = {i for i, d in enumerate(documents) if d in revoked}
        assert {i for i in range(len(documents)) if bits[i // 8] & (0x80 >> i % 8)} == wanted

    # the gateway serves the same list
    client = make_client(ledger, Clock())
    served = client.get(f"/public/status-lists/{dept}/{big[0]['anchor']['root']}/revocation")
    assert served.status_code == 200, served.text
    assert served.json()["credentialSubject"]["encodedList"] == big_list["credentialSubject"]["encodedList"]
