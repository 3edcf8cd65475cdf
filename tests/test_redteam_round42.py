"""Red team round 42: a hostile department calling the contracts directly, past the library.

The contracts are the chain's trust boundary: a department holds its own key and may send any call. Most of what
it can try is refused on chain and proved in forge (contracts/test/*: ``test_Attack_*``, round 42); what a verifier
must catch is tried here against the real anvil.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api import services
from ledger.client import Ledger
from ledger.errors import ChainError
from ledger.formats.canonical import NATIVE, parse_hex32
from ledger.onchain.ids import ROLE_ISSUER
from ledger.services import evidence, provenance, replay, status, statuslist
from ledger.services.council import Action
from ledger.services.departments import Council
from ledger.services.verify import ChainView, verify_certificate

from .api_support import Clock, make_client
from .conftest import make_records
from .evidence_support import both, failed_names, standalone
from .foundation_support import copy_the_gateway_answers_natively, issue, reanchored
from .rerun_support import World, world_fixture  # noqa: F401 - the decisions' world


def test_a_revoked_or_superseded_certificate_anchored_again_stays_ended(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Revoked and Superseded are terminal, but only under the root they were set in: the department anchored the
    same digest again in a batch of its own, and the holder's document with that anchor section verified valid
    (the revocation undone without a trace in its report)."""
    revoked, superseded, successor = issue(ledger, tmp_path, fresh_department, make_records(3))
    status.revoke(ledger, revoked["digest"], "data-error", department=fresh_department)
    status.supersede(ledger, superseded["digest"], successor["digest"], department=fresh_department)
    for document, ended in ((revoked, "revoked"), (superseded, "superseded")):
        again = reanchored(ledger, fresh_department, document)
        for lookup in ("herd", "direct", "index"):
            view = ChainView(
                ledger.chain, ledger.settings.confirmations, status_lookup="direct" if lookup == "direct" else "herd"
            )
            if lookup == "index":
                view.sync()  # the gateway's long-lived view: the status index
            report = verify_certificate(again, view)
            assert not report.ok, (lookup, report.to_json())
            check = report.check("status")
            assert not check.ok and ended in check.detail, (lookup, check)
            assert document["anchor"]["root"] in check.detail, (lookup, check)
            if lookup != "index":  # as of a moment: ended from the block of the end, valid before it
                later = verify_certificate(again, view, at=datetime.now(UTC) + timedelta(days=1))
                assert later.facts["status"] == ended, (lookup, later.to_json())


def test_a_revoked_certificate_anchored_again_is_revoked_at_the_gateway_and_in_bundles(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    (revoked,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    status.revoke(ledger, revoked["digest"], "fraud", department=fresh_department)
    again = reanchored(ledger, fresh_department, revoked)
    answer = make_client(ledger, Clock()).post("/public/verify", json={"document": again})
    assert answer.status_code == 200 and answer.json()["verified"] is False, answer.text
    # a bundle states the status under the root it names (the copy's: valid); its "status now" check, in both
    # verifiers and both lookups, finds the certificate revoked under its first root
    bundle = evidence.certificate_bundle(ledger, again)
    assert bundle["status"]["status"] == "valid", bundle["status"]
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    for lookup in ("herd", "direct"):
        report = evidence.verify_bundle(path, ledger.chain, status_lookup=lookup)
        assert [c.name for c in report.failed] == ["status"], (lookup, report.to_json())
        assert revoked["anchor"]["root"] in report.check("status").detail, report.check("status")
        code, result, stderr = standalone(ledger, path, "--status-lookup", lookup)
        assert code == 1 and failed_names(result) == {"status"}, (lookup, result, stderr)


def test_a_decision_citing_a_revoked_certificate_anchored_again_reads_it_revoked_everywhere(
    ledger: Ledger, world: World, tmp_path: Path
) -> None:
    """An applicant cites the copy its issuer anchored again after revoking the licence: the decision reads it
    revoked, and replay and both bundle verifiers re-establish that fact (none of them calls it valid)."""
    licence = world.licences[0]
    status.revoke(ledger, licence["digest"], "fraud")
    again = reanchored(ledger, "MKT", licence)
    case = "RR42-ANCHORED-AGAIN"
    decision = world.decide(case, 0, certificates=[{"document": again}])
    (fact,) = decision.body["certificates"]
    assert fact["verified"] is True and fact["status"] == "revoked", fact
    bundle = world.bundle(case, 0)
    assert not replay.replay(ledger, department=world.dept, case_id=case).discrepancies
    for lookup in ("herd", "direct"):
        report, code, result = both(ledger, bundle, tmp_path, f"{lookup}.json", "--status-lookup", lookup)
        assert report.ok and code == 0, (lookup, result)


def test_a_council_member_cannot_make_its_own_address_a_department_key(ledger: Ledger) -> None:
    """(One council member) propose its own address as a new department's key, or as a department's new key: once
    executed, that one key both anchors for the department and votes on it (its types, its suspension). The
    registry refuses it when proposed (DepartmentRegistry 2.4.0), whoever sends it, and the library says so."""
    chain = ledger.chain
    member = Council(ledger).members[0]
    before = int(chain.call(chain.registry.functions.proposalCount()))
    for action, department in ((Action.REGISTER, "R42 OWN"), (Action.ROTATE_KEY, "MKT")):
        with pytest.raises(ChainError) as refused:
            member.propose(action, department, name="Own office", signer=member.account.address, roles=ROLE_ISSUER)
        assert refused.value.error_name == "RegistrySignerIsCouncilMember", refused.value
    assert int(chain.call(chain.registry.functions.proposalCount())) == before


@pytest.mark.skipif(
    getattr(NATIVE, "public_report", None) is None, reason="the native core is not built (setup.py build_ext)"
)
def test_the_gateways_native_answer_leaves_a_certificate_ended_under_another_root_to_the_reference(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """The gateway answers a certificate of a batch it has met from its memory in one native call, reading the
    status index under the root the document names: the copy anchored while the certificate was valid, then the
    certificate revoked under its first root, was answered valid there. The call now declines (the reference
    reports the revocation)."""
    document, again, view, mine = copy_the_gateway_answers_natively(ledger, tmp_path, fresh_department)
    status.revoke(ledger, document["digest"], "fraud", department=fresh_department)
    mine()
    view.refresh()
    reference = verify_certificate(again, view)
    assert reference.facts["status"] == "revoked" and not reference.ok, reference.to_json()
    assert services.fast_public_bytes(view, again) is None
    assert services.fast_public_report(view, again)["status"] == "revoked"  # type: ignore[index]


def test_a_certificate_ended_through_a_copy_is_ended_in_its_timelines(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """The department anchors its certificate again and revokes the copy, not the root the holder's document names:
    verification reads the end (above); the timelines, built from the store's anchoring, must say it too."""
    (document,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    again = reanchored(ledger, fresh_department, document)
    chain, account = ledger.chain, ledger.department_account(fresh_department)
    root = parse_hex32(again["anchor"]["root"])
    proof = [parse_hex32(p) for p in again["anchor"]["proof"]]
    chain.transact(account, chain.anchor.functions.revoke(root, parse_hex32(document["digest"]), proof, 2))
    report = verify_certificate(document, ChainView(ledger.chain, ledger.settings.confirmations))
    assert report.facts["status"] == "revoked", report.to_json()
    timeline = provenance.timeline(ledger, document["digest"], now=datetime.now(UTC))
    assert timeline["status"] == "revoked", timeline
    assert [e["kind"] for e in timeline["events"]].count("revoked") == 1, timeline["events"]
    public = make_client(ledger, Clock()).get(f"/public/certificates/{document['digest']}/timeline").json()
    assert public["status"] == "revoked", public
    # and its batch's W3C revocation list sets its bit (the list a wallet's relying party reads)
    listed = statuslist.list_credential(
        ledger, fresh_department, document["anchor"]["root"], "revocation", base="http://gateway.test"
    )
    bits = statuslist.decode(listed["credentialSubject"]["encodedList"])
    assert statuslist.bit(bits, statuslist.leaf_index(ledger, document["digest"]))
