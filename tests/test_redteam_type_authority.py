"""Red team: a department acting outside its authority (docs/threat-model.md, "Issue a certificate of a type
outside its authority").

A health bureau registered as an issuer holds only the types the council granted it (DepartmentRegistry's
certificate type schedule). It must not be able to issue, or have verified, a business licence in its own name:
issuance refuses it before anything is stored or anchored, and if it signs and anchors one anyway with its own key
(the low-level path, past issuance's check) every verifier (``ledger verify``, the gateway's ``/public/verify``,
evidence bundles in the library and in the standalone court's verifier) fails ``type_authority``. A type revoked
later does not reach back; only the council grants a type, never the department itself or an outsider.
"""

from __future__ import annotations

import io
import itertools
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from sqlalchemy import func, select

from ledger.client import Ledger
from ledger.errors import ChainError, InputError, KeystoreError, StateError
from ledger.formats.certificate import validate_record
from ledger.onchain.chain import ROLE_ISSUER, ROLE_VERIFIER, department_id_bytes
from ledger.services import evidence, issuance, provenance
from ledger.services.council import Action, CouncilMember, is_authorized_for_type
from ledger.services.departments import Council, get_department
from ledger.services.verify import ChainView, verify_certificate
from ledger.storage.store import Batch, Certificate

from .api_support import Clock, make_client
from .authority_support import anchor_anyway
from .cli_support import run_cli
from .conftest import make_records, member_cli, write_jsonl
from .evidence_support import both

OWN_TYPE = "health-permit"
FOREIGN_TYPE = "business-licence"
_codes = itertools.count(1)


def _health_bureau(ledger: Ledger) -> str:
    """A department registered as an issuer and granted only ``health-permit``."""
    code = f"HB{os.getpid() % 1000}-{next(_codes)}"
    Council(ledger).register(code, f"Health Bureau {code}", ROLE_ISSUER | ROLE_VERIFIER, types=(OWN_TYPE,))
    return code


def _records(n: int, cert_type: str) -> list[dict[str, Any]]:
    return make_records(n, cert_type=cert_type)


def _stored(ledger: Ledger, department: str) -> tuple[int, int]:
    with ledger.engine.connect() as conn:
        batches = conn.execute(
            select(func.count()).select_from(Batch).where(Batch.department_id == department)  # type: ignore[arg-type]
        ).scalar_one()
        certificates = conn.execute(
            select(func.count()).select_from(Certificate).where(Certificate.department_id == department)  # type: ignore[arg-type]
        ).scalar_one()
    return int(batches), int(certificates)


def _issue(ledger: Ledger, tmp: Path, department: str, cert_type: str, n: int = 2) -> list[dict[str, Any]]:
    out = io.StringIO()
    path = write_jsonl(tmp / f"{department}-{cert_type}-{n}.jsonl", _records(n, cert_type))
    issuance.issue_file(ledger, path, department, out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _view(ledger: Ledger) -> ChainView:
    return ChainView(ledger.chain, ledger.settings.confirmations)


def _failed(report: Any) -> set[str]:
    return {c.name for c in report.failed}


def test_issuance_refuses_a_type_never_granted_and_loses_nothing(ledger: Ledger, tmp_path: Path) -> None:
    dept = _health_bureau(ledger)
    path = write_jsonl(tmp_path / "licences.jsonl", _records(3, FOREIGN_TYPE))
    with pytest.raises(StateError) as refused:
        issuance.issue_file(ledger, path, dept)
    message = str(refused.value)
    assert f"department {dept!r} is not authorized to issue certificates of type {FOREIGN_TYPE!r}" in message
    assert f"ledger council propose grant-type {dept} {FOREIGN_TYPE}" in message, message
    assert "nothing was issued" in message
    assert _stored(ledger, dept) == (0, 0)  # nothing stored, so nothing anchored
    # the gateway's and the notices' entry point refuses the same way
    records = [validate_record(r, i, department=dept) for i, r in enumerate(_records(2, FOREIGN_TYPE), 1)]
    with pytest.raises(StateError, match="not authorized to issue certificates of type"):
        issuance.issue_records(ledger, records, dept, out=io.StringIO())
    assert _stored(ledger, dept) == (0, 0)
    # a file mixing its own type with a foreign one is refused whole
    mixed = write_jsonl(tmp_path / "mixed.jsonl", _records(2, OWN_TYPE) + _records(1, FOREIGN_TYPE))
    with pytest.raises(StateError, match=r"first on line 3"):
        issuance.issue_file(ledger, mixed, dept)
    assert _stored(ledger, dept) == (0, 0)
    # the same department issues its own type, and the CLI names the remedy
    assert len(_issue(ledger, tmp_path, dept, OWN_TYPE)) == 2
    done = run_cli(ledger, "issue", str(path), "-d", dept)
    assert done.returncode != 0 and f"grant-type {dept} {FOREIGN_TYPE}" in done.stderr, done.stderr


def test_anchored_outside_its_authority_fails_type_authority_in_every_verifier(ledger: Ledger, tmp_path: Path) -> None:
    dept = _health_bureau(ledger)
    document = anchor_anyway(ledger, dept, FOREIGN_TYPE)
    assert document["fields"]["type"] == FOREIGN_TYPE and document["fields"]["issuer"] == dept

    report = verify_certificate(document, _view(ledger))
    assert not report.ok
    assert _failed(report) == {"type_authority"}, report.to_json()
    # the contract refused the type (3.0.0): the batch is declared of the department's own, which the certificate's
    # type is not
    assert f"the certificate states type {FOREIGN_TYPE!r} but {dept} anchored its batch as type" in (
        report.check("type_authority").detail
    )

    # ledger verify (the CLI)
    path = tmp_path / "licence.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    done = run_cli(ledger, "verify", str(path), "--json")
    assert done.returncode != 0, done.stdout
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert checks["type_authority"]["ok"] is False, done.stdout

    # the gateway's public verification, by document and by digest
    with make_client(ledger, Clock()) as client:
        by_document = client.post("/public/verify", json={"document": document})
        assert by_document.status_code == 200, by_document.text
        body = by_document.json()
        assert body["verified"] is False
        assert [c["name"] for c in body["checks"] if not c["ok"]] == ["type_authority"], body
        by_digest = client.post("/public/verify", json={"digest": document["digest"]})
        assert by_digest.status_code == 200, by_digest.text
        assert by_digest.json()["verified"] is False
        failed = [c for c in by_digest.json()["checks"] if not c["ok"]]
        assert [c["name"] for c in failed] == ["type_authority"]
        assert FOREIGN_TYPE not in failed[0]["detail"]  # a digest-only caller learns no field

    # the provenance timeline states the same verdict, in both languages
    events = provenance.timeline(ledger, document["digest"], now=datetime.now(UTC))["events"]
    signed = next(e for e in events if e["kind"] == "signed")
    assert signed["type_was_authorized"] is False and signed["signature_valid"] is True
    assert "NOT authorized" in signed["summary"] and "未授权" in signed["summaries"]["zh-CN"], signed

    # an evidence bundle: the library and the standalone verifier agree (both asserts inside ``both``)
    bundle = evidence.certificate_bundle(ledger, document)
    assert bundle["department"]["type_history"] == [
        {"type": OWN_TYPE, "from_block": bundle["department"]["type_history"][0]["from_block"], "until_block": None}
    ]
    library, code, _ = both(ledger, bundle, tmp_path, "outside.json")
    assert code == 1 and _failed(library) == {"type_authority"}


def test_a_bundle_claiming_a_grant_the_registry_never_made_fails_in_both(ledger: Ledger, tmp_path: Path) -> None:
    """The adversary edits its bundle's type history to show the foreign type as granted: both verifiers read the
    registry themselves and fail type_authority; a number retyped (7 -> 7.0) fails the same."""
    dept = _health_bureau(ledger)
    document = anchor_anyway(ledger, dept, FOREIGN_TYPE)
    bundle = evidence.certificate_bundle(ledger, document)
    forged = json.loads(json.dumps(bundle))
    forged["department"]["type_history"].append({"type": FOREIGN_TYPE, "from_block": 0, "until_block": None})
    library, code, _ = both(ledger, forged, tmp_path, "forged.json")
    assert code == 1 and _failed(library) == {"type_authority"}

    (genuine,) = _issue(ledger, tmp_path, dept, OWN_TYPE, 1)
    bundle = evidence.certificate_bundle(ledger, genuine)
    library, code, _ = both(ledger, bundle, tmp_path, "genuine.json")
    assert code == 0 and library.ok
    retyped = json.loads(json.dumps(bundle))
    retyped["department"]["type_history"][0]["from_block"] = float(
        retyped["department"]["type_history"][0]["from_block"]
    )
    library, code, _ = both(ledger, retyped, tmp_path, "retyped.json")
    assert code == 1 and _failed(library) == {"type_authority"}


def test_a_type_revoked_later_leaves_earlier_certificates_valid(ledger: Ledger, tmp_path: Path) -> None:
    dept = _health_bureau(ledger)
    council = Council(ledger)
    council.grant_types(dept, [FOREIGN_TYPE])
    assert is_authorized_for_type(ledger.chain, dept, FOREIGN_TYPE)
    assert get_department(ledger.chain, dept).types == sorted([OWN_TYPE, FOREIGN_TYPE])
    earlier = _issue(ledger, tmp_path, dept, FOREIGN_TYPE)
    council.revoke_types(dept, [FOREIGN_TYPE])
    assert not is_authorized_for_type(ledger.chain, dept, FOREIGN_TYPE)
    periods = get_department(ledger.chain, dept).type_history
    assert [(p.certificate_type, p.until_block is None) for p in periods] == [(OWN_TYPE, True), (FOREIGN_TYPE, False)]

    for document in earlier:
        report = verify_certificate(document, _view(ledger))
        assert report.ok, report.to_json()
    bundle = evidence.certificate_bundle(ledger, earlier[0])
    library, code, _ = both(ledger, bundle, tmp_path, "earlier.json")
    assert code == 0 and library.ok

    with pytest.raises(StateError, match=f"grant-type {dept} {FOREIGN_TYPE}"):
        _issue(ledger, tmp_path, dept, FOREIGN_TYPE, 3)
    assert _stored(ledger, dept)[1] == len(earlier)
    # anchored anyway after the revocation: refused by every verifier, as if never granted
    late = anchor_anyway(ledger, dept, FOREIGN_TYPE)
    assert _failed(verify_certificate(late, _view(ledger))) == {"type_authority"}


def test_only_the_council_grants_a_type(ledger: Ledger) -> None:
    """The department's own key, and an outsider's, cannot propose a grant on chain nor act as a member; a
    member's proposal alone (1 of a 2-of-3 council) grants nothing."""
    dept = _health_bureau(ledger)
    chain = ledger.chain
    own_key = ledger.department_account(dept)
    outsider = Account.create()
    chain.w3.provider.make_request("anvil_setBalance", [outsider.address, hex(10**18)])  # type: ignore[arg-type]
    for account in (own_key, outsider):
        with pytest.raises(ChainError) as refused:
            chain.transact(
                account,
                chain.registry.functions.propose(
                    int(Action.GRANT_TYPE), department_id_bytes(dept), FOREIGN_TYPE, "0x" + "00" * 20, 0
                ),
            )
        assert refused.value.error_name == "RegistryNotCouncilMember", refused.value
        with pytest.raises(KeystoreError, match="is not a member of the council"):
            CouncilMember(chain, account).propose(Action.GRANT_TYPE, dept, name=FOREIGN_TYPE)
    first, *_ = Council(ledger).members
    proposal = first.propose(Action.GRANT_TYPE, dept, name=FOREIGN_TYPE)
    with pytest.raises(ChainError) as refused:
        chain.transact(own_key, chain.registry.functions.approve(proposal))
    assert refused.value.error_name == "RegistryNotCouncilMember"
    assert not is_authorized_for_type(chain, dept, FOREIGN_TYPE)
    first.cancel(proposal)


def test_one_proposal_grants_several_types_and_a_bad_list_changes_nothing(ledger: Ledger) -> None:
    """The council grants a department's schedule in one vote (``ledger council grant-type CODE TYPE...``); a list
    that repeats a type, names a malformed one or one already held is refused whole: nothing is granted."""
    dept = _health_bureau(ledger)
    chain = ledger.chain
    proposals = int(chain.call(chain.registry.functions.proposalCount()))
    council = Council(ledger)
    for bad, message in (
        (["permit", "permit"], "named twice"),
        (["permit", "Bad Type"], "is not a certificate type"),
        ("permit", "a list of names"),
        ([], "1 to 32 certificate types"),
        ([f"t{i}" for i in range(33)], "1 to 32 certificate types, not 33"),
    ):
        with pytest.raises(InputError, match=message):
            council.grant_types(dept, bad)  # type: ignore[arg-type]
    assert int(chain.call(chain.registry.functions.proposalCount())) == proposals, "a refused list reached the chain"
    with pytest.raises(ChainError) as refused:
        council.grant_types(dept, ["permit", OWN_TYPE])
    assert refused.value.error_name == "RegistryTypeAlreadyGranted", refused.value
    assert get_department(chain, dept).types == [OWN_TYPE]

    first, first_env = member_cli(ledger, 1)
    done = run_cli(ledger, "council", "grant-type", dept, "permit", FOREIGN_TYPE, *first, **first_env)
    assert done.returncode == 0, done.stderr
    proposal = json.loads(done.stdout)["proposal"]
    second, second_env = member_cli(ledger, 2)
    approved = run_cli(ledger, "council", "approve", str(proposal), *second, **second_env)
    assert approved.returncode == 0, approved.stderr
    assert get_department(chain, dept).types == sorted([OWN_TYPE, "permit", FOREIGN_TYPE])
    periods = get_department(chain, dept).type_history
    assert periods[1].from_block == periods[2].from_block, "one proposal, one block"
    shown = run_cli(ledger, "council", "show", str(proposal))
    assert "types 'permit', 'business-licence'" in shown.stdout, shown.stdout + shown.stderr
