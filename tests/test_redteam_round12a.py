"""Red team, round 12a: an applicant lying in their input, a department acting outside its authority, an insider.

Holes (each test failed before its fix):

- a permit left live under a refusal by the rules: an officer approves a case the rules never saw (issuing its
  permit), then the same case is decided automatically and the rules refer or reject it. A case only an officer
  decided could still be decided automatically once, and an automatic decision withdrew nothing, so the case's
  latest word was a refusal beside a valid permit, and replay (which read only officers' refusals as withdrawals)
  said nothing (``ledger/services/decisions.py``: the rules do not decide a case whose latest decision approves it;
  ``ledger/services/permits.py``: replay reads any refusal as withdrawing the case's permits);
- two live permits for one case: an officer's approving override that applies the rule set to a case already
  approved (confirming it) issued a second permit beside the first, both valid, so one approval could be handed
  to two businesses or a withdrawn one kept (``ledger/services/permits.py``: a case has at most one live permit,
  an approval of a case that has one issues none, asked again inside the recording transaction; replay reports
  ``produced_twice``);
- a department deciding under another department's authority: a rule set published on chain by department A
  (its policy, its legal bases, the permit type it produces) was used by department B as if it were its own -
  deciding with it, approving officers' decisions with it, "publishing" it again (which only stored A's copy) -
  and replay and the evidence verifiers, which asked only that the rule set was published by someone, passed it
  (``ledger/services/decisions.py``: a department decides only with rule sets it published itself; replay reports
  ``rule_set_other_department``);
- an erased certificate's facts taken from the very record being checked: once a cited licence is erased, replay
  re-established its type, issuer and status from what erasure left, but took whether it names the applicant
  (``holder``) and whether it had expired (``expired``) from the decision record. A department that recorded a
  made-up "holder: true" for another firm's licence (or "expired: false" for an expired one) was caught by replay
  only until the licence's holder asked for its erasure (``ledger/services/erasure.py``: the issuer's erasure
  entry attests, from what each decision cited before the fields are destroyed, the holder and expiry facts of
  every decision that cited the certificate, and a later inline citation's facts are appended to the issuer's
  ``erasures`` log; replay reads them there and nowhere else).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER, ROLE_VERIFIER
from ledger.services import decisions, erasure, evidence, logchain, permits
from ledger.services.departments import Council
from ledger.services.replay import replay
from ledger.services.verify import ChainView, verify_certificate

from .conftest import TEST_ITEMS, TEST_TYPES
from .evidence_support import both, failed_names
from .permit_support import application as permit_application
from .permit_support import fresh_licence, officer_decision, published_permit_rules


def _live(ledger: Ledger, digests: list[str]) -> list[str]:
    """Those of ``digests`` a verifier accepts today (not revoked, not superseded)."""
    out = []
    for document in permits.documents(ledger, digests):
        if verify_certificate(document, ChainView(ledger.chain, 0)).ok:
            out.append(document["digest"])
    return out


def _issued(ledger: Ledger, dept: str, case: str) -> list[str]:
    return [
        d.body["issued"]["certificate"]
        for d in decisions.find_decisions(ledger, dept, case)
        if isinstance(d.body.get("issued"), dict)
    ]


def _checks(ledger: Ledger, dept: str) -> set[tuple[str, int | None]]:
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    return {(d.check, d.seq) for d in replay(ledger, department=dept).discrepancies}


# --------------------------------------------------------------------------- an automatic refusal after an approval


def test_the_rules_do_not_refuse_a_case_an_officer_approved_leaving_its_permit_live(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "auto-after")
    licence, identity = fresh_licence(ledger, tmp_path, "auto-after")
    app = permit_application("FBP-AA-1", licence)
    # an officer approves the case at the counter (the rules never saw it): the permit is issued
    approval = officer_decision(
        ledger, dept, "FBP-AA-1", identity, "approve", "OFFICER_CHECKED_ON_SITE", decision_input=app, rule_set=rules
    )
    (permit,) = _issued(ledger, dept, "FBP-AA-1")
    # the same case sent to the rules, with an input they refer (the licence no longer cited)
    refused = {**app, "certificates": []}
    with pytest.raises(StateError, match="approved"):
        decisions.decide(ledger, dept, "FBP-AA-1", app["service_item"], refused, rules, applicant_ref=identity)
    with pytest.raises(StateError, match="approved"):
        decisions.decide_many(ledger, dept, [{**refused, "applicant_ref": identity}], {"*": rules})
    assert [d.seq for d in decisions.find_decisions(ledger, dept, "FBP-AA-1")] == [approval.seq]
    assert _live(ledger, [permit]) == [permit]
    assert _checks(ledger, dept) == set()
    # the same automatic refusal written past the library (an older ledger): replay holds the permit to it
    forged = {
        **{k: v for k, v in approval.body.items() if k not in ("issued", "overrides")},
        "outcome": "refer",
        "reasons": ["BUSINESS_LICENCE_NOT_VERIFIED"],
        "engine": "pl-rules/1",
        "decided_by": {"kind": "engine", "engine": "pl-rules/1"},
        "overrides": None,
    }
    entry = logchain.append(ledger, logchain.LOG_DECISIONS, dept, forged)
    assert ("produced_not_revoked", approval.seq) in _checks(ledger, dept), entry.seq


# --------------------------------------------------------------------------- a second permit for one case


def test_an_approving_override_of_an_approved_case_issues_no_second_live_permit(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "twice")
    licence, identity = fresh_licence(ledger, tmp_path, "twice")
    app = permit_application("FBP-T-1", licence)
    first = decisions.decide(ledger, dept, "FBP-T-1", app["service_item"], app, rules, applicant_ref=identity)
    assert first.body["outcome"] == "approve"
    # an officer confirms the approval applying the rule set, with the input and without
    for kwargs in ({"decision_input": app}, {}):
        latest = decisions.find_decision(ledger, dept, "FBP-T-1")
        confirm = officer_decision(
            ledger,
            dept,
            "FBP-T-1",
            identity,
            "approve",
            "OFFICER_CONFIRMED",
            overrides=latest.seq,
            rule_set=rules,
            **kwargs,
        )
        assert "issued" not in confirm.body, confirm.body
    assert _issued(ledger, dept, "FBP-T-1") == [first.body["issued"]["certificate"]]
    assert _live(ledger, _issued(ledger, dept, "FBP-T-1")) == [first.body["issued"]["certificate"]]
    # refused, then approved again: the new approval issues the case's one live permit
    refusal = officer_decision(
        ledger, dept, "FBP-T-1", identity, "reject", "PREMISES_NOT_AS_DECLARED", overrides="FBP-T-1"
    )
    assert refusal.body["withdraws"] == [first.body["issued"]["certificate"]]
    again = officer_decision(
        ledger,
        dept,
        "FBP-T-1",
        identity,
        "approve",
        "REVIEW_UPHELD",
        overrides="FBP-T-1",
        rule_set=rules,
        decision_input=app,
    )
    assert again.body["issued"]["certificate"] != first.body["issued"]["certificate"]
    assert _live(ledger, _issued(ledger, dept, "FBP-T-1")) == [again.body["issued"]["certificate"]]
    assert _checks(ledger, dept) == set()
    # two officers approving at the same instant: the first look of the second misses the permit the first issued;
    # the check inside the recording transaction does not, and nothing of the second is recorded
    real = permits.live
    monkeypatch.setattr(
        permits, "live", lambda *args, conn=None, **kw: real(*args, conn=conn, **kw) if conn is not None else []
    )
    with pytest.raises(StateError, match="live permit"):
        officer_decision(
            ledger, dept, "FBP-T-1", identity, "approve", "OK", overrides="FBP-T-1", rule_set=rules, decision_input=app
        )
    assert _live(ledger, _issued(ledger, dept, "FBP-T-1")) == [again.body["issued"]["certificate"]]
    # a second permit issued past the library's check (an older ledger): replay reports the case
    monkeypatch.setattr(permits, "live", lambda *args, **kw: [])
    monkeypatch.setattr(permits, "standing", lambda *args, **kw: {})  # nor one per premises (round 77)
    second = officer_decision(
        ledger,
        dept,
        "FBP-T-1",
        identity,
        "approve",
        "OFFICER_CONFIRMED",
        overrides="FBP-T-1",
        rule_set=rules,
        decision_input=app,
    )
    assert "issued" in second.body
    assert ("produced_twice", second.seq) in _checks(ledger, dept)


# --------------------------------------------------------------------------- another department's rule set


def test_a_department_cannot_decide_with_a_rule_set_another_department_published(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = fresh_department
    other = f"{owner}-B"
    Council(ledger).register(
        other, "Another office", ROLE_ISSUER | ROLE_VERIFIER | ROLE_APPROVER, types=TEST_TYPES, items=TEST_ITEMS
    )
    rules = published_permit_rules(ledger, owner, "foreign")  # published by the owner: its policy, its permit
    licence, identity = fresh_licence(ledger, tmp_path, "foreign")
    app = permit_application("FBP-F-1", licence)
    # (publishing the same digest from its own key would be its own publication: rule sets are kept per
    # department on chain since round 25, tests/test_redteam_round25.py; deciding without one is refused)
    for run in (
        lambda: decisions.decide(ledger, other, "FBP-F-1", app["service_item"], app, rules, applicant_ref=identity),
        lambda: decisions.decide(
            ledger, other, "FBP-F-1", app["service_item"], app, rules.hex_digest, applicant_ref=identity
        ),
        lambda: decisions.decide_many(ledger, other, [{**app, "applicant_ref": identity}], {"*": rules}),
        lambda: officer_decision(
            ledger, other, "FBP-F-1", identity, "approve", "OK", decision_input=app, rule_set=rules
        ),
    ):
        with pytest.raises(StateError, match=f"published by {owner}"):
            run()
    assert decisions.find_decisions(ledger, other, "FBP-F-1") == []
    # its own copy, published by itself under a version of its own, is its own rule set
    own = published_permit_rules(ledger, other, "foreign-own")
    app2 = permit_application("FBP-F-2", licence)
    mine = decisions.decide(ledger, other, "FBP-F-2", app["service_item"], app2, own, applicant_ref=identity)
    assert mine.body["outcome"] == "approve"
    assert _checks(ledger, other) == set()
    # written past the library: replay names the decision taken under the owner's rule set
    monkeypatch.setattr(decisions, "_require_own", lambda *args, **kw: None)
    app3 = permit_application("FBP-F-3", licence)
    foreign = decisions.decide(ledger, other, "FBP-F-3", app["service_item"], app3, rules, applicant_ref=identity)
    assert ("rule_set_other_department", foreign.seq) in _checks(ledger, other)
    # and a court's verifiers (the library's and the standalone one) fail its evidence bundle
    bundle = evidence.decision_bundle(ledger, other, "FBP-F-3", applicant=identity)
    _, _, result = both(ledger, bundle, tmp_path)
    assert result is not None and "rule_set_published" in failed_names(result), result


# --------------------------------------------------------------------------- facts of an erased certificate


def test_replay_takes_no_holder_or_expiry_of_an_erased_certificate_from_the_record(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "erased")
    mine, identity = fresh_licence(ledger, tmp_path, "erased-own")
    theirs, _ = fresh_licence(ledger, tmp_path, "erased-theirs", holder="91440300MA5THEIRS0")
    lapsed, lapsed_identity = fresh_licence(ledger, tmp_path, "erased-lapsed", valid_until="2026-02-01")
    # an honest approval on the applicant's own licence
    honest = decisions.decide(
        ledger, dept, "FBP-E-1", "440300-SCJG-0107", permit_application("FBP-E-1", mine), rules, applicant_ref=identity
    )
    assert honest.body["outcome"] == "approve"
    # the department records made-up facts: another firm's licence "names the applicant", an expired one "is not"
    real = decisions._establish

    def made_up(*args: Any, **kwargs: Any) -> Any:
        block, rows = real(*args, **kwargs)
        return block, [[replace(f, holder=True, expired=False) for f in row] for row in rows]

    monkeypatch.setattr(decisions, "_establish", made_up)
    forged = [
        decisions.decide(
            ledger, dept, case, "440300-SCJG-0107", permit_application(case, licence), rules, applicant_ref=who
        )
        for case, licence, who in (("FBP-E-2", theirs, identity), ("FBP-E-3", lapsed, lapsed_identity))
    ]
    monkeypatch.undo()
    assert [d.body["outcome"] for d in forged] == ["approve", "approve"]
    assert [d.body["certificates"][0]["holder"] for d in forged] == [True, True]
    assert forged[1].body["certificates"][0]["expired"] is False
    before = _checks(ledger, dept)
    assert {("certificate_facts", d.seq) for d in forged} <= before, before
    # the licences' holders ask for erasure: their fields (who they name, until when) are destroyed
    for licence in (mine, theirs, lapsed):
        erasure.erase(ledger, licence["digest"], basis="consent-withdrawn", by="officer-12a")
    after = _checks(ledger, dept)
    assert {("certificate_facts", d.seq) for d in forged} <= after, after
    assert not {c for c in after if c[1] == honest.seq}, after  # the honest decision still replays
    # after the erasure, the other firm's copy cited inline (the ledger keeps no copy of an erased certificate): a
    # record saying it names the applicant, with no attestation by the issuer (written past the library), is reported
    monkeypatch.setattr(decisions, "_establish", made_up)
    monkeypatch.setattr(decisions, "_attest_erased", lambda *args, **kw: None)
    inline = {**permit_application("FBP-E-4", theirs), "certificates": [{"document": theirs}]}
    late = decisions.decide(ledger, dept, "FBP-E-4", "440300-SCJG-0107", inline, rules, applicant_ref=identity)
    monkeypatch.undo()
    assert late.body["certificates"][0]["holder"] is True
    assert ("certificate_facts", late.seq) in _checks(ledger, dept)
