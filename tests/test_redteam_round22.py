"""Red team, round 22: a court's expert, a forger or holder editing their document, an applicant lying in their input,
an anonymous client of the gateway, and the chain's operator, against the two bundle verifiers and the gateway.

1. (A court's expert, handed a forger's bundle) A decision that cites one certificate twice has two cited copies in
   its bundle. The library keyed the copies by the digest their citation names, so one copy stood for both: with
   either copy replaced by ``null`` (docs/evidence.md: "not found", which contradicts the record and fails) the
   library still passed ``certificate_facts`` while the court's verifier failed it. Each citation is now judged
   with the copy at its own place in both.
2. (A court's expert; an applicant citing a certificate a department anchored outside its authority) A cited
   certificate's ``verified`` fact is what the library's verification says of its authenticity, and that includes
   ``type_authority`` (round "type authority": a department anchoring a type the council never granted it). The
   court's verifier re-established ``verified`` without asking the registry whether the issuer held the type at
   the anchoring block: a decision that rightly found such a "business licence" of a health bureau unverified
   failed ``certificate_facts`` (and its re-run) in the court's verifier alone, and a department recording it as
   verified (and approving on it) passed there alone. Both now ask ``wasAuthorizedForTypeAt``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.onchain.chain import ROLE_ISSUER
from ledger.services import decisions, evidence, logchain
from ledger.services.departments import Council

from .authority_support import anchor_anyway
from .evidence_support import both, failed_names
from .rerun_support import World, application, world_fixture  # noqa: F401 - the decisions' world


@pytest.mark.parametrize("hidden_copy", [0, 1])
def test_a_citation_given_twice_is_judged_copy_by_copy_in_both_verifiers(
    ledger: Ledger, world: World, tmp_path: Path, hidden_copy: int
) -> None:
    digest = world.licences[0]["digest"]
    case = f"RR22-TWICE-{hidden_copy}"
    world.decide(case, 0, certificates=[{"digest": digest}, {"digest": digest}])
    bundle: dict[str, Any] = world.bundle(case, 0)
    report, code, _ = both(ledger, bundle, tmp_path, "twice.json")
    assert report.ok and code == 0
    edited = copy.deepcopy(bundle)
    edited["cited"][hidden_copy] = None  # "not found": the record says the department verified it
    report, code, result = both(ledger, edited, tmp_path, "one-copy-hidden.json")
    assert code == 1 and not report.ok
    assert result is not None and failed_names(result) == {"certificate_facts"}


def test_a_cited_certificate_of_a_type_its_issuer_was_never_granted_is_unverified_in_both_verifiers(
    ledger: Ledger, world: World, tmp_path: Path
) -> None:
    bureau = f"HB22-{world.dept}"
    Council(ledger).register(bureau, "Health Bureau (round 22)", ROLE_ISSUER, types=("health-permit",))
    licence = anchor_anyway(ledger, bureau, "business-licence")  # past issuance's check, with its own key
    holder = str(licence["fields"]["subject.credit_code"])
    case = "RR22-OUTSIDE-AUTHORITY"
    decision = decisions.decide(
        ledger,
        world.dept,
        case,
        "ITEM-1",
        application(case, licence["digest"]),
        world.rules,
        applicant_ref=holder,
    )
    (fact,) = decision.body["certificates"]
    assert fact["verified"] is False and fact["failed"] == ["type_authority"], fact
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, world.dept)
    bundle = evidence.decision_bundle(ledger, world.dept, case, applicant=holder)
    report, code, result = both(ledger, bundle, tmp_path, "outside-authority.json")
    assert report.ok and code == 0, result
