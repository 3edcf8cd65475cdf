"""Red team, round 2 (A): consent (issue 16), supervision and the report (issue 17), attacked as their adversaries
would. Each test is one attack against the real chain and database; a library refusal or a replay flag is the
expected answer, and bad input loses nothing. The clock is passed in; blocks are mined with node controls."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from ledger.errors import InputError, NotFoundError, StateError
from ledger.services import consent, decisions, logchain, report, supervision
from ledger.services.auth import PermissionDenied
from ledger.services.logchain import LOG_DECISIONS, LogEntry
from ledger.services.replay import replay

from .api_support import issue
from .consent_support import (
    NOW,
    PROVIDERS,
    assertion,
    consent_world,  # noqa: F401 - the world fixture
    give,
    grant,
    identifier,
    read_as,
    request,
)
from .supervision_support import announced, approvals, decide, mine, rule_set

# -- consent ------------------------------------------------------------------------------------------------------


def test_refused_consent_request_does_not_cost_the_person_their_assertion(ledger: Any, world: dict[str, Any]) -> None:
    """Bad input loses nothing: a consent refused for bad input (unknown recipient, unknown field, no time zone, an
    expiry not in the future) leaves the single-use assertion unspent, and so does a request other than the one
    the assertion binds (the person's own correction, or a relay's rewrite). Since the assertion binds the request
    (docs/privacy.md), correcting a typo needs a new assertion from the provider: that is the price of binding;
    what the refusals must not do is spend the assertion or record anything."""
    w = world
    naive = (NOW + timedelta(days=30)).replace(tzinfo=None)
    corrected = request(w["a"], "INS", NOW)
    for recipient, changes, field in (
        ("NOSUCHDEPT", {}, "recipient"),
        ("INS", {"fields": ["subject.x"]}, "fields"),
        ("INS", {"expires_at": naive}, "expires_at"),
        ("INS", {"expires_at": NOW}, "expires_at"),
    ):
        typo = request(w["a"], recipient, NOW, **changes)
        signed = assertion(ledger, identifier(w["a"]), NOW, typo)
        for _ in range(2):  # refused for the input each time, never "used already"
            with pytest.raises(InputError) as refused:
                consent.give(ledger, assertion=signed, consent=typo, now=NOW, providers=PROVIDERS)
            assert refused.value.field == field
        with pytest.raises(PermissionDenied, match="another request"):  # the fix is another request
            consent.give(ledger, assertion=signed, consent=corrected, now=NOW, providers=PROVIDERS)
    assert consent.list_consents(ledger, digest=w["a"]["digest"]) == []  # nothing recorded
    signed = assertion(ledger, identifier(w["a"]), NOW, corrected)  # the person asks the provider again
    with pytest.raises(PermissionDenied, match="another request"):  # a relay's rewrite costs the person nothing
        consent.give(ledger, assertion=signed, consent=request(w["a"], "PSB", NOW), now=NOW, providers=PROVIDERS)
    given = consent.give(ledger, assertion=signed, consent=corrected, now=NOW, providers=PROVIDERS)
    assert given.id and given.recipient == "INS"
    with pytest.raises(PermissionDenied, match="used already"):  # and it is single-use after all
        consent.give(ledger, assertion=signed, consent=corrected, now=NOW, providers=PROVIDERS)
    # and whoever holds an assertion for B's certificate gets one guess at whether it is A's, not a probing oracle
    on_b = request(w["b"], "INS", NOW)
    probe = assertion(ledger, identifier(w["a"]), NOW, on_b)
    with pytest.raises(PermissionDenied, match="not the subject"):
        consent.give(ledger, assertion=probe, consent=on_b, now=NOW, providers=PROVIDERS)
    with pytest.raises(PermissionDenied, match="used already"):
        consent.give(ledger, assertion=probe, consent=on_b, now=NOW, providers=PROVIDERS)


def _leave(consent_id: str) -> dict[str, Any]:
    return consent.withdrawal_request(consent_id)


def test_clock_edges_of_a_consent(ledger: Any, world: dict[str, Any]) -> None:
    """Expiry exactly at now is expired; an assertion issued in the future (beyond the skew) or without a time zone
    is refused; a read at the consent's last instant is refused, a second earlier it is served."""
    w = world
    end = NOW + timedelta(hours=2)
    given = give(ledger, w["a"], "INS", NOW, fields=["subject.name"], expires_at=end)
    grant(ledger, w, w["a"], consent=given.id, expires_at=end)
    assert read_as(ledger, w["a"], end - timedelta(seconds=1)).grant is not None
    with pytest.raises(PermissionDenied):
        read_as(ledger, w["a"], end)
    future = assertion(ledger, identifier(w["a"]), NOW + timedelta(minutes=5), request(w["a"], "INS", NOW))
    with pytest.raises(PermissionDenied, match="valid from"):
        consent.give(ledger, assertion=future, consent=request(w["a"], "INS", NOW), now=NOW, providers=PROVIDERS)
    zoneless = assertion(ledger, identifier(w["a"]), NOW, request(w["a"], "INS", NOW))
    body = {**zoneless.assertion, "issued_at": NOW.replace(tzinfo=None).isoformat()}
    forged = consent.SignedAssertion(assertion=body, signature=zoneless.signature)
    with pytest.raises(PermissionDenied):  # the provider signed another text: the signature no longer matches
        consent.give(ledger, assertion=forged, consent=request(w["a"], "INS", NOW), now=NOW, providers=PROVIDERS)


def test_consent_is_not_replayed_for_another_ledger_or_certificate(ledger: Any, world: dict[str, Any]) -> None:
    """An assertion addressed to another gateway/ledger is refused (and not spent); a consent names one
    certificate, so a grant on the subject's other certificate cannot rely on it."""
    w = world
    elsewhere = assertion(
        ledger, identifier(w["a"]), NOW, request(w["a"], "INS", NOW), audience="provenance-ledger:1:0x" + "00" * 20
    )
    with pytest.raises(PermissionDenied, match="addressed to"):
        consent.give(ledger, assertion=elsewhere, consent=request(w["a"], "INS", NOW), now=NOW, providers=PROVIDERS)
    given = give(ledger, w["a"], "INS", NOW)
    with pytest.raises(PermissionDenied, match="another certificate"):
        grant(ledger, w, w["b"], consent=given.id)


def test_subject_b_cannot_withdraw_subject_as_consent(ledger: Any, world: dict[str, Any]) -> None:
    w = world
    given = give(ledger, w["a"], "INS", NOW)
    grant(ledger, w, w["a"], consent=given.id)
    with pytest.raises(NotFoundError):
        consent.withdraw(
            ledger,
            assertion=assertion(ledger, identifier(w["b"]), NOW, _leave(given.id)),
            consent_id=given.id,
            now=NOW,
            providers=PROVIDERS,
        )
    assert read_as(ledger, w["a"], NOW).grant is not None  # A's consent still holds


def test_withdrawal_while_a_grant_is_being_made_wins(ledger: Any, world: dict[str, Any]) -> None:
    """The issuer checked the consent, the subject withdraws, then the grant is stored: the grant exists but the
    next read re-checks the consent and is refused."""
    w = world
    given = give(ledger, w["a"], "INS", NOW)
    checked = consent.for_grant
    seen: list[str] = []

    def withdraw_in_flight(*args: Any, **kwargs: Any) -> Any:
        row = checked(*args, **kwargs)
        consent.withdraw(
            ledger,
            assertion=assertion(ledger, identifier(w["a"]), NOW, _leave(given.id)),
            consent_id=given.id,
            now=NOW,
            providers=PROVIDERS,
        )
        seen.append("withdrawn")
        return row

    consent.for_grant = withdraw_in_flight  # type: ignore[assignment]
    try:
        grant(ledger, w, w["a"], consent=given.id)
    finally:
        consent.for_grant = checked  # type: ignore[assignment]
    assert seen == ["withdrawn"]
    with pytest.raises(PermissionDenied, match="withdrawn"):
        read_as(ledger, w["a"], NOW + timedelta(seconds=1))


def test_insider_undoing_a_withdrawal_or_extending_expiry_is_not_believed(ledger: Any, world: dict[str, Any]) -> None:
    w = world
    given = give(ledger, w["a"], "INS", NOW, expires_at=NOW + timedelta(days=2))
    grant(ledger, w, w["a"], consent=given.id)
    consent.withdraw(
        ledger,
        assertion=assertion(ledger, identifier(w["a"]), NOW, _leave(given.id)),
        consent_id=given.id,
        now=NOW,
        providers=PROVIDERS,
    )
    with ledger.engine.begin() as conn:  # flip withdrawn back
        conn.execute(update(consent.Consent).where(consent.Consent.id == given.id).values(withdrawn_at=None))
    with pytest.raises(PermissionDenied, match="withdrawn"):
        read_as(ledger, w["a"], NOW)
    assert "consent_withdrawal_undone" in {d["kind"] for d in consent.check(ledger, w["issuer"])}
    other = give(ledger, w["a"], "INS", NOW, expires_at=NOW + timedelta(days=2))
    grant(ledger, w, w["a"], consent=other.id)
    with ledger.engine.begin() as conn:  # extend the expiry (and a grant past it)
        conn.execute(
            update(consent.Consent).where(consent.Consent.id == other.id).values(expires_at=NOW + timedelta(days=365))
        )
    with pytest.raises(PermissionDenied, match="stored hash"):
        read_as(ledger, w["a"], NOW + timedelta(hours=1))
    assert "consent_signature" in {d["kind"] for d in consent.check(ledger, w["issuer"])}


def test_insider_repointing_a_grant_to_another_purpose_consent_is_not_served(
    ledger: Any, world: dict[str, Any]
) -> None:
    """The recipient widening the purpose after consent: the subject consented to INS for a claim and, separately,
    for underwriting; a grant made on the claim consent is re-pointed (consent_grant row edited, purpose too) to
    the other consent. Reads must stop: the grant's logged creation names the consent it was made on."""
    w = world
    claim = give(ledger, w["a"], "INS", NOW, fields=["subject.name"])
    grant(ledger, w, w["a"], consent=claim.id)
    underwriting = give(ledger, w["a"], "INS", NOW, purpose_code="underwriting", fields=["subject.name"])
    made = grant(ledger, w, w["a"], consent=underwriting.id, purpose_code="underwriting")
    assert read_as(ledger, w["a"], NOW).grant is not None
    consent.withdraw(
        ledger,
        assertion=assertion(ledger, identifier(w["a"]), NOW, _leave(claim.id)),
        consent_id=claim.id,
        now=NOW,
        providers=PROVIDERS,
    )
    second = give(ledger, w["a"], "INS", NOW, purpose_code="marketing", fields=["subject.name"])
    with ledger.engine.begin() as conn:
        conn.execute(
            update(consent.ConsentGrant)
            .where(consent.ConsentGrant.grant_id == made.id)
            .values(consent_id=second.id, purpose_code="marketing")
        )
        conn.execute(
            update(consent.Consent).where(consent.Consent.id == underwriting.id).values(withdrawn_at=NOW)
        )  # the subject had withdrawn the underwriting consent; the insider re-points
    with pytest.raises(PermissionDenied, match="not made on consent"):
        read_as(ledger, w["a"], NOW + timedelta(seconds=1))


# -- the consent routes: malformed and oversized bodies -------------------------------------------------------------


@pytest.fixture(scope="module")
def gw(ledger: Any) -> Any:
    from .api_support import UNLIMITED
    from .consent_support import PROVIDERS_ENV
    from .gateway_process import gateway

    with gateway(ledger, env_vars={consent.PROVIDERS_ENV: PROVIDERS_ENV}, **UNLIMITED) as running:
        yield running


def test_malformed_consent_bodies_get_422_never_500(ledger: Any, gw: Any, fresh_department: str) -> None:
    (doc,) = issue(ledger, fresh_department, 1)
    now = datetime.now(UTC).replace(microsecond=0)

    def body(**changes: Any) -> dict[str, Any]:
        good = request(doc, "INS", now).model_dump(mode="json")
        return {
            "assertion": assertion(ledger, identifier(doc), now, request(doc, "INS", now)).model_dump(),
            "consent": {**good, **changes},
        }

    cases = [
        body(recipient="部" * 32),  # 96 bytes of UTF-8: no bytes32 department code
        body(recipient="IN\x00S"),
        body(fields=["subject." + "x" * 100_000]),
        body(fields=["subject.name"] * 64 + ["subject.id_number"]),
        body(fields=[{"a": 1}]),
        body(expires_at="9999-12-31T23:59:59Z"),
        body(expires_at="2026-13-45T99:99:99Z"),
        body(expires_at="2027-01-01T00:00:00"),  # no time zone
        body(purpose_code="A" * 65),
        body(purpose_text=" "),
        body(certificate="0x" + "zz" * 32),
        {"assertion": {"assertion": [], "signature": "0x" + "11" * 65}, "consent": body()["consent"]},
        {
            "assertion": {
                "assertion": {"type": consent.ASSERTION_TYPE, "provider": ["x"], "issued_at": 1e308},
                "signature": "0x" + "11" * 65,
            },
            "consent": body()["consent"],
        },
        {"assertion": "x" * 1000, "consent": []},
    ]
    with gw.client() as c:
        for case in cases:
            response = c.post("/public/consents", json=case)
            assert response.status_code in (400, 403, 413, 422), (case, response.status_code, response.text)
        for path, payload in (
            (
                "/public/consents/mine",
                {"assertion": {"assertion": {"nested": [[[[1]]]] * 1000}, "signature": "0x" + "11" * 65}},
            ),
            ("/public/consents/" + "a" * 24 + "/withdraw", {"assertion": None}),
            ("/public/consents/" + "../" * 8 + "/withdraw", {}),
        ):
            response = c.post(path, json=payload)
            assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
        huge = c.post(
            "/public/consents",
            content=b'{"assertion":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            headers={"content-type": "application/json"},
        )
        assert 400 <= huge.status_code < 500, huge.text
    assert consent.list_consents(ledger, digest=doc["digest"]) == []


# -- supervision ----------------------------------------------------------------------------------------------------


@pytest.fixture()
def published(ledger: Any, fresh_department: str) -> tuple[str, Any]:
    rules = rule_set(fresh_department)
    decisions.publish_rule_set(ledger, rules, fresh_department)
    return fresh_department, rules


def _forge(ledger: Any, dept: str, body: dict[str, Any], *, anchor: bool = True) -> int:
    entry = logchain.append(ledger, LOG_DECISIONS, dept, body)
    if anchor:
        logchain.anchor_pending(ledger, LOG_DECISIONS, dept)
    return entry.seq


def _found(ledger: Any, dept: str) -> set[tuple[str, int | None]]:
    return {(d.check, d.seq) for d in replay(ledger, department=dept).discrepancies}


def test_re_announcing_the_same_period_for_a_second_sample_is_refused_and_flagged(ledger: Any, published: Any) -> None:
    """The department draws, dislikes the sample, announces the same approvals again and draws a kinder one. Both
    announcements are drawn, so `draw_missing` never fires: the library refuses an overlapping period and replay
    flags one written past it."""
    dept, rules = published
    first = announced(ledger, dept, rules, n=6, rate="0.5")
    mine(ledger, first["target_block"] - ledger.chain.block_number())
    supervision.draw_inspection(ledger, dept, first["seq"])
    since = datetime.fromisoformat(first["period"]["since"].replace("Z", "+00:00"))
    with pytest.raises(StateError, match="overlaps announcement"):
        supervision.announce_inspection(
            ledger, dept, since=since, until=since + timedelta(hours=1), rate="0.5", inspectors="inspectors-2026"
        )
    with pytest.raises(StateError, match="overlaps announcement"):  # a sliver of it is enough
        supervision.announce_inspection(
            ledger,
            dept,
            since=since + timedelta(seconds=30),
            until=since + timedelta(days=1),
            rate="1",
            inspectors="inspectors-2026",
        )
    assert replay(ledger, department=dept).ok
    head = ledger.chain.block_number()
    body = {k: v for k, v in first.items() if k in ("format", "kind", "period", "rate", "inspectors", "announced_at")}
    again = _forge(ledger, dept, {**body, "target_block": head + 5})
    assert ("announcement_overlap", again) in _found(ledger, dept)


def test_a_later_period_is_not_an_overlap(ledger: Any, published: Any) -> None:
    """Approvals recorded after an announcement were not in its population: a later announcement may take them,
    starting where the first one's population ended (its anchoring block's chain time, which earlier tests may have
    moved ahead of the wall clock with evm_increaseTime)."""
    dept, rules = published
    first = announced(ledger, dept, rules, n=2, rate="1")
    cut = supervision.next_period_start(ledger, dept)
    anchored = datetime.fromtimestamp(int(ledger.chain.w3.eth.get_block(first["anchored_block"])["timestamp"]), UTC)
    assert cut == min(anchored, datetime.fromisoformat(first["period"]["until"].replace("Z", "+00:00")))
    decide(ledger, dept, rules, "LATE-1", "applicant-late")
    later = supervision.announce_inspection(
        ledger, dept, since=cut, until=cut + timedelta(hours=2), rate="1", inspectors="inspectors-2026"
    )
    assert later["seq"] > first["seq"]


def test_skipping_a_stretch_between_announcements_is_refused_and_flagged(ledger: Any, published: Any) -> None:
    """The department announces period A, skips a stretch and announces period B, so the approvals it decided in
    the gap are in no draw. The library refuses a period that does not start where the last one's population ended;
    replay flags `announcement_gap` in a log written past it (a hostile department or an insider)."""
    dept, rules = published
    first = announced(ledger, dept, rules, n=2, rate="1")
    cut = supervision.next_period_start(ledger, dept)
    assert cut is not None
    before = len(list(logchain.entries(ledger, LOG_DECISIONS, dept)))
    with pytest.raises(StateError, match="gap") as refused:
        supervision.announce_inspection(
            ledger,
            dept,
            since=cut + timedelta(minutes=5),
            until=cut + timedelta(hours=2),
            rate="1",
            inspectors="inspectors-2026",
        )
    assert supervision._time_text(cut) in str(refused.value)  # it says where the period must start
    assert len(list(logchain.entries(ledger, LOG_DECISIONS, dept))) == before  # nothing recorded
    assert replay(ledger, department=dept).ok
    # written past the library: the skipped stretch is flagged, naming the announcement that skipped it
    head = ledger.chain.block_number()
    body = {k: v for k, v in first.items() if k in ("format", "kind", "rate", "inspectors", "announced_at")}
    skipped = _forge(
        ledger,
        dept,
        {
            **body,
            "target_block": head + 5,
            "period": {
                "since": supervision._time_text(cut + timedelta(minutes=5)),
                "until": supervision._time_text(cut + timedelta(hours=2)),
            },
        },
    )
    found = _found(ledger, dept)
    assert ("announcement_gap", skipped) in found and ("announcement_overlap", skipped) not in found


def test_the_next_period_must_start_exactly_where_the_last_ended(ledger: Any, published: Any) -> None:
    """Contiguous, not merely non-overlapping: the period starting at the last one's end is accepted, and the one
    after that must start at its end in turn (the end of its population: its `until`, or its anchoring block's
    chain time when the announcement came first)."""
    dept, rules = published
    announced(ledger, dept, rules, n=2, rate="1")
    cut = supervision.next_period_start(ledger, dept)
    assert cut is not None
    with pytest.raises(StateError, match="overlaps announcement"):
        supervision.announce_inspection(
            ledger,
            dept,
            since=cut - timedelta(seconds=1),
            until=cut + timedelta(hours=1),
            rate="1",
            inspectors="inspectors-2026",
        )
    second = supervision.announce_inspection(
        ledger, dept, since=cut, until=cut + timedelta(hours=1), rate="1", inspectors="inspectors-2026"
    )
    nxt = supervision.next_period_start(ledger, dept)
    anchored = datetime.fromtimestamp(int(ledger.chain.w3.eth.get_block(second["anchored_block"])["timestamp"]), UTC)
    assert nxt == max(cut, min(anchored, cut + timedelta(hours=1)))
    with pytest.raises(StateError, match="gap"):
        supervision.announce_inspection(
            ledger,
            dept,
            since=nxt + timedelta(seconds=1),
            until=nxt + timedelta(hours=2),
            rate="1",
            inspectors="inspectors-2026",
        )
    supervision.announce_inspection(
        ledger, dept, since=nxt, until=nxt + timedelta(hours=2), rate="1", inspectors="inspectors-2026"
    )
    assert replay(ledger, department=dept).ok


def test_setting_an_approval_aside_during_the_announcement_is_flagged(ledger: Any, published: Any) -> None:
    """The department takes an approval out of force (an officer 'refer') just before announcing, so it is not in
    the population, and approves it again afterwards: replay flags `population_dodged`."""
    dept, rules = published
    start = approvals(ledger, dept, rules, 4)
    supervision.register_inspectors(ledger, dept, "inspectors", ["insp-1"])
    hidden = "A-001"
    aside = decisions.record_human_decision(
        ledger,
        dept,
        hidden,
        "440300-SCJG-0042",
        officer="o-1",
        outcome="refer",
        reasons=["NOT_TYPICAL_REFER_TO_OFFICER"],
        applicant_ref="applicant-1",
        overrides=hidden,
    )
    a = supervision.announce_inspection(
        ledger, dept, since=start, until=start + timedelta(hours=1), rate="1", inspectors="inspectors"
    )
    decisions.record_human_decision(
        ledger,
        dept,
        hidden,
        "440300-SCJG-0042",
        officer="o-1",
        outcome="approve",
        reasons=["TYPICAL_FEATURES_MATCH"],
        applicant_ref="applicant-1",
        overrides=aside.seq,
    )
    mine(ledger, a["target_block"] - ledger.chain.block_number())
    draw = supervision.draw_inspection(ledger, dept, a["seq"])
    assert hidden not in {s["case_id"] for s in draw["sample"]} and len(draw["sample"]) == 3
    logchain.anchor_pending(ledger, LOG_DECISIONS, dept)
    found = {(d.check, d.seq, d.case_id) for d in replay(ledger, department=dept).discrepancies}
    assert ("population_dodged", a["seq"], hidden) in found


def test_findings_and_withdrawals_need_a_drawn_approval_and_a_non_conforming_finding(
    ledger: Any, published: Any
) -> None:
    dept, rules = published
    a = announced(ledger, dept, rules, n=4, rate="0.5")
    refused = decide(ledger, dept, rules, "REF-1", "applicant-ref", claims_blacklisted=False)
    mine(ledger, a["target_block"] - ledger.chain.block_number())
    draw = supervision.draw_inspection(ledger, dept, a["seq"])
    drawn = draw["sample"][0]
    inspector = next(
        i for i in ("insp-1", "insp-2", "insp-3") if decisions.officer_ref(ledger, dept, i) == drawn["inspector_ref"]
    )
    before = len(list(logchain.entries(ledger, LOG_DECISIONS, dept)))
    with pytest.raises(InputError, match="not drawn"):  # a case that was never approved (or drawn)
        supervision.record_finding(
            ledger,
            dept,
            draw["seq"],
            "REF-1",
            inspector=inspector,
            conforming=False,
            findings=["PREMISES_NOT_AS_DECLARED"],
        )
    ok = supervision.record_finding(ledger, dept, draw["seq"], drawn["case_id"], inspector=inspector, conforming=True)
    with pytest.raises(StateError, match="conforming"):  # withdrawing on a conforming finding
        supervision.withdraw_approval(ledger, dept, ok, officer="o-1", reasons=["X"], legal_basis="B")
    assert len(list(logchain.entries(ledger, LOG_DECISIONS, dept))) == before + 1  # only the finding
    # written past the library: a withdrawal resting on the conforming finding, and one of the refused case
    base = {
        "format": "pl-decision/2",
        "service_item": "440300-SCJG-0042",
        "input_digest": None,
        "certificates": [],
        "rule_set": None,
        "engine": None,
        "outcome": "reject",
        "reasons": ["X"],
        "fired": [],
        "decided_by": {"kind": "officer", "department": dept, "officer_ref": "0x" + "11" * 32},
        "decided_at": "2026-01-01T00:00:00.000Z",
    }
    approval = decisions.find_decision(ledger, dept, drawn["case_id"])
    one = _forge(
        ledger,
        dept,
        {
            **base,
            "case_id": drawn["case_id"],
            "applicant_ref": approval.body["applicant_ref"],
            "overrides": {"seq": approval.seq, "entry_hash": approval.entry_hash},
            "withdrawal": {"finding": {"seq": ok, "entry_hash": "0x"}, "legal_basis": "B"},
        },
    )
    two = _forge(
        ledger,
        dept,
        {
            **base,
            "case_id": "REF-1",
            "applicant_ref": refused.body["applicant_ref"],
            "overrides": {"seq": refused.seq, "entry_hash": refused.entry_hash},
            "withdrawal": {"finding": None, "legal_basis": "B"},
        },
    )
    # a finding of another shape (no draw reference, the case a number) no reader relies on: reported, not skipped
    three = _forge(
        ledger,
        dept,
        {"format": "pl-supervision/1", "kind": "inspection_finding", "draw": None, "case": 7, "conforming": False},
    )
    found = _found(ledger, dept)
    assert ("withdrawal_invalid", one) in found and ("withdrawal_invalid", two) in found
    assert ("supervision_malformed", three) in found


def test_credit_list_edges_and_insiders(ledger: Any, published: Any) -> None:
    """A listing ends at the start of its `until` day (a decision that day is not refused; the day before it is);
    a removal written to the log but never anchored does not lift a listing; an insider editing a listing row
    (shortening it) is caught by replay."""
    dept, rules = published
    today = datetime.now(UTC).date()
    ending = supervision.credit_list(
        ledger,
        dept,
        applicant="applicant-end",
        reason="FALSE_MATERIALS",
        since=today - timedelta(days=10),
        until=today,
        officer="officer-1",
        basis={"legal_basis": "CREDIT-REG-ART-12"},
    )
    assert decide(ledger, dept, rules, "E-1", "applicant-end").body["outcome"] == "approve"
    starting = supervision.credit_list(
        ledger,
        dept,
        applicant="applicant-start",
        reason="FALSE_MATERIALS",
        since=today,
        until=today + timedelta(days=1),
        officer="officer-1",
        basis={"legal_basis": "CREDIT-REG-ART-12"},
    )
    assert decide(ledger, dept, rules, "E-2", "applicant-start").body["outcome"] == "refer"
    assert ending.seq < starting.seq
    listed = supervision.credit_list(
        ledger,
        dept,
        applicant="applicant-u",
        reason="FALSE_MATERIALS",
        since=today - timedelta(days=1),
        until=today + timedelta(days=30),
        officer="officer-1",
        basis={"legal_basis": "CREDIT-REG-ART-12"},
    )
    _forge(
        ledger,
        dept,
        {
            "format": supervision.SUPERVISION_FORMAT,
            "kind": "credit_removal",
            "listing": {"seq": listed.seq, "entry_hash": "0x"},
            "reason": "X",
            "removed_at": "2026-01-01T00:00:00.000Z",
        },
        anchor=False,
    )
    assert decide(ledger, dept, rules, "U-1", "applicant-u").body["outcome"] == "refer"
    logchain.anchor_pending(ledger, LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).ok
    with ledger.engine.begin() as conn:  # the insider shortens the listing so the applicant looks clean
        row = conn.execute(
            LogEntry.__table__.select().where(
                LogEntry.log == LOG_DECISIONS, LogEntry.department_id == dept, LogEntry.seq == listed.seq
            )
        ).one()
        body = json.loads(row.body)
        conn.execute(
            update(LogEntry)
            .where(LogEntry.log == LOG_DECISIONS, LogEntry.department_id == dept, LogEntry.seq == listed.seq)
            .values(body=json.dumps({**body, "until": today.isoformat()}, separators=(",", ":"), sort_keys=True))
        )
    checks = {d.check for d in replay(ledger, department=dept).discrepancies}
    assert "altered" in checks or "entry_hash" in checks, checks


def test_a_decision_backdating_its_credit_block_to_miss_a_listing_is_flagged(ledger: Any, published: Any) -> None:
    """The engine records an approval for a listed applicant, claiming it read the credit list at a block before the
    listing was anchored: the list as of that block was clean, so the recorded status re-runs; replay flags the
    listing it passed over."""
    dept, rules = published
    today = datetime.now(UTC).date()
    old_block = ledger.chain.block_number()
    listing = supervision.credit_list(
        ledger,
        dept,
        applicant="applicant-bd",
        reason="FALSE_MATERIALS",
        since=today - timedelta(days=1),
        until=today + timedelta(days=30),
        officer="officer-1",
        basis={"legal_basis": "CREDIT-REG-ART-12"},
    )
    assert listing.anchored_block is not None and listing.anchored_block > old_block
    real = decide(ledger, dept, rules, "BD-1", "applicant-bd").body
    assert real["outcome"] == "refer"
    credit = {"listed": False, "listings": [], "as_of_block": old_block}
    seq = _forge(
        ledger,
        dept,
        {
            **real,
            "case_id": "BD-2",
            "as_of_block": old_block,
            "credit": credit,
            "outcome": "approve",
            "reasons": ["TYPICAL_FEATURES_MATCH"],
            "fired": ["online"],
            "legal_basis": {"TYPICAL_FEATURES_MATCH": None},
        },
    )
    found = {(d.check, d.seq, d.case_id) for d in replay(ledger, department=dept).discrepancies}
    assert ("credit_block_stale", seq, "BD-2") in found, found
    assert not [f for f in found if f[2] == "BD-1"]  # the honest decision after the listing is not flagged


# -- the report -----------------------------------------------------------------------------------------------------

PAYLOAD = "\"'><script>alert(1)</script><img src=x onerror=alert(2)><svg onload=alert(3)>"


def _poison(value: Any) -> Any:
    """Every string of the report's data (rule ids, reason codes and texts, finding codes, case ids, draw ids,
    department names, officer references, replay details, dates) replaced by markup that would run."""
    if isinstance(value, dict):
        return {k: _poison(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_poison(v) for v in value]
    return PAYLOAD if isinstance(value, str) else value


def test_no_untrusted_string_anywhere_in_the_report_data_becomes_markup(ledger: Any, published: Any) -> None:
    dept, rules = published
    a = announced(ledger, dept, rules, n=4, rate="0.5")
    mine(ledger, a["target_block"] - ledger.chain.block_number())
    supervision.draw_inspection(ledger, dept, a["seq"])
    decide(ledger, dept, rules, "K-1", "applicant-k", commit=1)
    logchain.anchor_pending(ledger, LOG_DECISIONS, dept)
    today = datetime.now(UTC).date()
    data = report.build_report(ledger, dept, today, today)
    data["commitments"]["items"].append({"case_id": "x", "deadline": "2026-01-01", "state": "due", "check": "c"})
    data["inspections"]["findings"].append({"code": "x", "count": 1})
    data["reasons"].append({"code": "x", "count": 1, "texts": {"en": "x", "zh-CN": "x"}})
    poisoned = _poison(data)
    for language in ("en", "zh-CN"):
        page = report.render_html(poisoned, language, json_href=PAYLOAD, switch={"en": PAYLOAD, "zh-CN": PAYLOAD})
        lowered = page.lower()
        for raw in ("<script", "<img", "<svg onload", "onerror=alert", "onload=alert", "'><"):
            assert raw not in lowered.replace("onerror=alert(2)&gt;", "").replace("onload=alert(3)&gt;", ""), raw


def test_a_period_with_no_data_and_a_huge_period(ledger: Any, fresh_department: str) -> None:
    empty = report.build_report(ledger, fresh_department, datetime(2001, 1, 1).date(), datetime(2001, 1, 31).date())
    assert empty["totals"]["decisions"] == 0
    for language in ("en", "zh-CN"):
        assert "<html" in report.render_html(empty, language)
    with pytest.raises(InputError, match="at most"):
        report.parse_period("1900-01-01", "2999-12-31")


def test_an_announcement_whose_draw_never_comes_due_is_refused_and_flagged(ledger: Any, published: Any) -> None:
    """A target block far in the future claims the period (no overlapping announcement may follow) while its draw
    never comes due and `draw_missing` never fires."""
    dept, rules = published
    start = approvals(ledger, dept, rules, 3)
    listing = supervision.register_inspectors(ledger, dept, "inspectors", ["insp-1"])
    head = ledger.chain.block_number()
    with pytest.raises(InputError, match="too far"):
        supervision.announce_inspection(
            ledger,
            dept,
            since=start,
            until=start + timedelta(hours=1),
            rate="1",
            inspectors="inspectors",
            target_block=head + 10**9,
        )
    seq = _forge(
        ledger,
        dept,
        {
            "format": supervision.SUPERVISION_FORMAT,
            "kind": "inspection_announcement",
            "period": {"since": start.isoformat(), "until": (start + timedelta(hours=1)).isoformat()},
            "rate": "1",
            "inspectors": {
                "seq": listing["seq"],
                "entry_hash": listing["entry_hash"],
                "list_id": "inspectors",
                "digest": listing["digest"],
            },
            "target_block": head + 10**9,
            "announced_at": datetime.now(UTC).isoformat(),
        },
    )
    assert ("announcement_far", seq) in _found(ledger, dept)
