"""Red team round 47 (copies): a suspension made through a copy, read where round 46 left it open.

A department may anchor a certificate's digest again under another batch root of its own (a copy: rounds 42, 45).
CertificateAnchor 2.2.0 makes every suspension and reinstatement of the digest through the root of its first
suspension (``heldUnder``), and every verifier reads a suspension made there (round 46); the certificate's timelines
(the library's, the issuer's, the public one and its page) and replay's status of a cited certificate as of the
decision block read an end made through a copy (round 42) but not a suspension: the certificate suspended through
its copy showed valid there. Written failing first (docs/threat-model.md, round 46 and 47 rows).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger.client import Ledger
from ledger.formats.canonical import parse_hex32
from ledger.services import provenance, replay
from ledger.services.verify import ChainView, verify_certificate

from .api_support import Clock, make_client
from .conftest import make_records
from .evidence_support import both
from .foundation_support import issue, reanchored
from .rerun_support import World, world_fixture  # noqa: F401 - the decisions' world


def _through_copy(ledger: Ledger, department: str, copy: dict[str, Any], action: str, reason: int) -> None:
    """``department`` suspends or reinstates the certificate through its copy's root (its own key, past the
    library, as round 46's test does)."""
    chain = ledger.chain
    root, digest = parse_hex32(copy["anchor"]["root"]), parse_hex32(copy["digest"])
    proof = [parse_hex32(p) for p in copy["anchor"]["proof"]]
    chain.transact(
        ledger.department_account(department), getattr(chain.anchor.functions, action)(root, digest, proof, reason)
    )


def _timelines(ledger: Ledger, digest: str) -> dict[str, tuple[str, list[str]]]:
    """(status, event kinds) of every timeline of ``digest``: the library's (issuer's and public views), the public
    one the gateway serves, and its page's stated status."""
    now = datetime.now(UTC)
    found = {}
    for private in (True, False):
        data = provenance.timeline(ledger, digest, now=now, private=private)
        found["full" if private else "public"] = (data["status"], [e["kind"] for e in data["events"]])
    client = make_client(ledger, Clock())
    served = client.get(f"/public/certificates/{digest}/timeline").json()
    found["gateway"] = (served["status"], [e["kind"] for e in served["events"]])
    page = client.get(f"/public/certificates/{digest}/timeline.html").text
    stated = page.split('data-status="', 1)[1].split('"', 1)[0]
    found["page"] = (stated, found["gateway"][1])
    return found


def test_a_certificate_suspended_through_a_copy_is_suspended_in_its_timelines_until_reinstated(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: the holder of the certificate showing its timeline (the public page a relying party is sent to)
    while its department holds it suspended through a copy: the timeline said valid, with no suspension."""
    (document,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    again = reanchored(ledger, fresh_department, document)
    _through_copy(ledger, fresh_department, again, "suspend", 9)
    assert verify_certificate(document, ChainView(ledger.chain)).facts["status"] == "suspended"
    for where, (status, kinds) in _timelines(ledger, document["digest"]).items():
        assert status == "suspended", (where, status, kinds)
        assert kinds.count("suspended") == 1 and "reinstated" not in kinds, (where, kinds)
    _through_copy(ledger, fresh_department, again, "reinstate", 10)
    for where, (status, kinds) in _timelines(ledger, document["digest"]).items():
        assert status == "valid", (where, status, kinds)
        assert kinds.count("suspended") == 1 and kinds.count("reinstated") == 1, (where, kinds)
        assert kinds.index("suspended") < kinds.index("reinstated"), (where, kinds)


def test_a_decision_citing_a_certificate_suspended_through_a_copy_replays_suspended_then_valid(
    ledger: Ledger, world: World, tmp_path: Path
) -> None:
    """Adversary: none needed; the department suspends a licence through its copy, a decision citing the licence
    records it suspended, and replay, reading the status as of the decision block under the licence's own root
    only, called that fact a discrepancy (valid). After the reinstatement through the copy a second decision
    records it valid, and replay agrees with both, as both bundle verifiers do."""
    licence = world.licences[1]
    again = reanchored(ledger, "MKT", licence)
    _through_copy(ledger, "MKT", again, "suspend", 9)
    suspended = world.decide("RT47-SUSPENDED", 1)
    (fact,) = suspended.body["certificates"]
    assert fact["verified"] is True and fact["status"] == "suspended", fact
    _through_copy(ledger, "MKT", again, "reinstate", 10)
    reinstated = world.decide("RT47-REINSTATED", 1)
    (fact,) = reinstated.body["certificates"]
    assert fact["verified"] is True and fact["status"] == "valid", fact
    for case in ("RT47-SUSPENDED", "RT47-REINSTATED"):
        found = replay.replay(ledger, department=world.dept, case_id=case)
        assert found.decisions == 1 and not found.discrepancies, (case, [d.detail for d in found.discrepancies])
    bundle = world.bundle("RT47-SUSPENDED", 1)
    report, code, result = both(ledger, bundle, tmp_path, "rt47.json")
    assert report.ok and code == 0, (report.to_json(), result)
