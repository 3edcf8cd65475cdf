"""Consent from the person, not only the issuer (issue 16), at the library level, against the session's real chain
and database. Each test is one adversary: an issuer sharing without consent, a relay presenting one person's
consent for another person's certificate, a recipient reading after withdrawal or expiry or beyond the purpose or
fields consented to, an insider writing consent rows into the database. The clock is passed in, never waited on.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eth_account import Account
from sqlalchemy import select, update

from ledger.errors import InputError, NotFoundError, StateError
from ledger.services import accesslog, consent, logchain, sharing
from ledger.services.auth import PermissionDenied
from ledger.services.logchain import LOG_ACCESS, LogEntry

from .consent_support import (
    NOW,
    PROVIDERS,
    PROVIDERS_ENV,
    assertion,
    consent_world,  # noqa: F401 - the world fixture
    give,
    grant,
    identifier,
    read_as,
    request,
    written_grant,
)
from .sqlite_support import sqlite_steps


def _leave(consent_id: str) -> dict[str, Any]:
    return consent.withdrawal_request(consent_id)


def _log(ledger: Any, issuer: str) -> list[dict[str, Any]]:
    return accesslog.entries(ledger, department=issuer)


def test_issuer_cannot_share_personal_fields_without_consent(ledger: Any, world: dict[str, Any]) -> None:
    w = world
    with pytest.raises(PermissionDenied, match="needs the data subject's consent"):
        grant(ledger, w, w["a"])
    with pytest.raises(PermissionDenied, match="needs the data subject's consent"):
        grant(ledger, w, w["a"], reveal=None)  # the whole certificate
    with pytest.raises(PermissionDenied, match="there is no consent"):
        grant(ledger, w, w["a"], consent="0" * 24)
    assert sharing.list_grants(ledger, issuer=w["issuer"]) == []  # nothing was stored
    assert _log(ledger, w["issuer"]) == []
    # a grant that discloses no personal field (only id, type, issuer, dates) needs no consent
    plain = grant(ledger, w, w["a"], reveal=[], purpose_code=None)
    assert read_as(ledger, w["a"], NOW).document["fields"].keys().isdisjoint({"subject.name", "subject.id_number"})
    assert plain.id


def test_consent_covers_recipient_purpose_fields_and_expiry(ledger: Any, world: dict[str, Any]) -> None:
    w = world
    given = give(ledger, w["a"], "INS", NOW, fields=["subject.name"], expires_at=NOW + timedelta(days=2))
    assert given.subject_ref.startswith("0x") and identifier(w["a"]) not in json.dumps(given.model_dump(mode="json"))
    with pytest.raises(PermissionDenied, match="covers"):
        grant(ledger, w, w["a"], consent=given.id, reveal=["subject.name", "subject.id_number"])
    with pytest.raises(PermissionDenied, match="covers"):
        grant(ledger, w, w["a"], consent=given.id, reveal=None)
    with pytest.raises(PermissionDenied, match="purpose"):
        grant(ledger, w, w["a"], consent=given.id, purpose_code="marketing")
    with pytest.raises(PermissionDenied, match="recipient"):
        grant(ledger, w, w["a"], consent=given.id, grantee="PSB")
    with pytest.raises(InputError, match="outlive"):
        grant(ledger, w, w["a"], consent=given.id, expires_at=NOW + timedelta(days=3))
    made = grant(ledger, w, w["a"], consent=given.id)
    served = read_as(ledger, w["a"], NOW + timedelta(hours=1))
    assert served.grant is not None and served.grant.id == made.id
    assert served.document["fields"]["subject.name"] == w["a"]["fields"]["subject.name"]
    # the consent ends before the grant would: after it, nothing is served, and the refusal says why
    long = give(ledger, w["a"], "INS", NOW, fields=["subject.name"], expires_at=NOW + timedelta(hours=2))
    grant(ledger, w, w["a"], consent=long.id, expires_at=NOW + timedelta(hours=2))
    with pytest.raises(PermissionDenied):
        read_as(ledger, w["a"], NOW + timedelta(days=2, seconds=1))
    refused = [e for e in _log(ledger, w["issuer"]) if e["outcome"] == "refused"]
    assert "expired" in refused[-1]["detail"]
    with pytest.raises(PermissionDenied, match="expired"):
        grant(ledger, w, w["a"], consent=given.id, now=NOW + timedelta(days=2))


def test_withdrawal_is_honoured_at_once_and_logged(ledger: Any, world: dict[str, Any]) -> None:
    w = world
    given = give(ledger, w["a"], "INS", NOW)
    grant(ledger, w, w["a"], consent=given.id, reveal=None)
    assert read_as(ledger, w["a"], NOW).document["fields"]["subject.id_number"] == identifier(w["a"])
    later = NOW + timedelta(minutes=1)
    withdrawn = consent.withdraw(
        ledger,
        assertion=assertion(ledger, identifier(w["a"]), later, _leave(given.id)),
        consent_id=given.id,
        now=later,
        providers=PROVIDERS,
    )
    assert withdrawn.withdrawn_at is not None and not withdrawn.is_live(later)
    with pytest.raises(PermissionDenied, match="no live grant"):
        read_as(ledger, w["a"], later)  # the grant itself is still live: the consent is what ended
    with pytest.raises(StateError, match="withdrawn already"):
        consent.withdraw(
            ledger,
            assertion=assertion(ledger, identifier(w["a"]), later, _leave(given.id)),
            consent_id=given.id,
            now=later,
            providers=PROVIDERS,
        )
    with pytest.raises(PermissionDenied, match="withdrawn"):  # and no new grant can rely on it
        grant(ledger, w, w["a"], consent=given.id, now=later)
    # the log: consent given, grant, read served, consent withdrawn, read refused; bodies hold no identifier
    log = _log(ledger, w["issuer"])
    assert [(e["action"], e["outcome"]) for e in log] == [
        ("consent", "recorded"),
        ("grant", "recorded"),
        ("read", "served"),
        ("consent-withdrawn", "recorded"),
        ("read", "refused"),
    ]
    assert log[0]["consent"] == given.id and log[0]["consent_hash"] == given.record_hash
    assert "withdrawn" in log[-1]["detail"]
    assert all(identifier(w["a"]) not in json.dumps(e) for e in log)
    assert accesslog.anchor(ledger, w["issuer"]) and accesslog.check(ledger, w["issuer"]) == []
    assert all(e["anchored"] for e in _log(ledger, w["issuer"]))
    # someone else cannot withdraw it (nor learn whether it exists)
    other = give(ledger, w["a"], "INS", later)
    with pytest.raises(NotFoundError):
        consent.withdraw(
            ledger,
            assertion=assertion(ledger, identifier(w["b"]), later, _leave(other.id)),
            consent_id=other.id,
            now=later,
            providers=PROVIDERS,
        )


def test_consent_of_one_subject_does_not_serve_another(ledger: Any, world: dict[str, Any]) -> None:
    """A relay authenticates person A and asks for consent on B's certificate; or presents A's consent for a grant
    on B's certificate: both refused."""
    w = world
    with pytest.raises(PermissionDenied, match="not the subject"):
        consent.give(
            ledger,
            assertion=assertion(ledger, identifier(w["a"]), NOW, request(w["b"], "INS", NOW)),
            consent=request(w["b"], "INS", NOW),
            now=NOW,
            providers=PROVIDERS,
        )
    given_a = give(ledger, w["a"], "INS", NOW)
    with pytest.raises(PermissionDenied, match="another certificate"):
        grant(ledger, w, w["b"], consent=given_a.id)
    # the identifier is compared as the certificate holds it, not as a substring or a prefix
    with pytest.raises(PermissionDenied, match="not the subject"):
        consent.give(
            ledger,
            assertion=assertion(ledger, identifier(w["a"])[:-1], NOW, request(w["a"], "INS", NOW)),
            consent=request(w["a"], "INS", NOW),
            now=NOW,
            providers=PROVIDERS,
        )


def test_assertions_are_checked_and_used_once(ledger: Any, world: dict[str, Any]) -> None:
    w, who = world, identifier(world["a"])

    def asked(**changes: Any) -> consent.ConsentCreate:
        return request(w["a"], changes.pop("recipient", "INS"), NOW, **changes)

    def attempt(signed: consent.SignedAssertion, **changes: Any) -> None:
        consent.give(ledger, assertion=signed, consent=asked(**changes), now=NOW, providers=PROVIDERS)

    with pytest.raises(PermissionDenied, match="not signed by provider"):
        attempt(assertion(ledger, who, NOW, asked(), account=Account.create()))
    with pytest.raises(PermissionDenied, match="not configured"):
        attempt(assertion(ledger, who, NOW, asked(), provider="self-service"))
    with pytest.raises(PermissionDenied, match="addressed to"):
        attempt(assertion(ledger, who, NOW, asked(), audience="provenance-ledger:1:0x" + "00" * 20))
    with pytest.raises(PermissionDenied, match="assurance"):
        attempt(assertion(ledger, who, NOW, asked(), assurance="high"))
    with pytest.raises(PermissionDenied, match="authenticate again"):
        attempt(assertion(ledger, who, NOW - timedelta(minutes=10), asked()))
    with pytest.raises(InputError, match="lives at most"):
        attempt(assertion(ledger, who, NOW, asked(), lifetime=timedelta(days=1)))
    tampered = assertion(ledger, who, NOW, asked())
    tampered.assertion["subject"] = identifier(w["b"])
    with pytest.raises(PermissionDenied, match="not signed by provider"):
        attempt(tampered)
    typo = {"fields": ["subject.favourite_colour"]}
    once = assertion(ledger, who, NOW, asked(**typo))
    with pytest.raises(InputError, match="no fields"):  # bad input: a clear error, and the assertion is kept
        attempt(once, **typo)
    with pytest.raises(InputError, match="not registered"):
        attempt(assertion(ledger, who, NOW, asked(recipient="NOPE")), recipient="NOPE")
    with pytest.raises(InputError, match="future"):
        attempt(assertion(ledger, who, NOW, asked(expires_at=NOW)), expires_at=NOW)
    assert consent.list_consents(ledger, issuer=w["issuer"]) == [] and _log(ledger, w["issuer"]) == []
    good = assertion(ledger, who, NOW, asked())
    attempt(good)
    with pytest.raises(PermissionDenied, match="used already"):
        attempt(good)
    # the person corrects the typo: the assertion binds the request with the typo, so the corrected one needs a
    # new assertion (the price of binding, docs/privacy.md); the old one was not spent by either refusal
    with pytest.raises(PermissionDenied, match="another request"):
        attempt(once)
    with pytest.raises(InputError, match="no fields"):
        attempt(once, **typo)
    attempt(assertion(ledger, who, NOW, asked()))
    assert len(consent.list_consents(ledger, issuer=w["issuer"])) == 2


def test_insider_rows_are_refused_and_reported(ledger: Any, world: dict[str, Any]) -> None:
    """Someone with database access but not the ledger's consent key writes consent rows."""
    w = world
    real = give(ledger, w["a"], "INS", NOW, fields=["subject.name"])
    assert consent.check(ledger, w["issuer"]) == []
    # 1. a copy of a real record, moved to person B's certificate: the signature no longer matches
    forged = real.model_copy(update={"id": "f" * 24, "digest": w["b"]["digest"]})
    # 2. a brand-new record signed by a key of the insider's own
    own = real.model_copy(update={"id": "e" * 24, "purpose_code": "marketing"})
    own.record_hash = consent._record_hash(own)
    own.signature = "0x" + bytes(Account.create().sign_message(consent._record_message(own)).signature).hex()
    with ledger.engine.begin() as conn:
        for row in (forged, own):
            conn.execute(consent.Consent.__table__.insert().values(**row.model_dump()))
    with pytest.raises(PermissionDenied, match="does not match its contents"):
        grant(ledger, w, w["b"], consent=forged.id)
    with pytest.raises(PermissionDenied, match="not signed"):
        grant(ledger, w, w["a"], consent=own.id, purpose_code="marketing")
    kinds = {(d["kind"], d["consent"]) for d in consent.check(ledger, w["issuer"])}
    assert {
        ("consent_signature", forged.id),
        ("consent_unlogged", forged.id),
        ("consent_signature", own.id),
        ("consent_unlogged", own.id),
    } <= kinds
    # 3. a withdrawal undone in the row: the logged withdrawal still counts, and check reports the row
    grant(ledger, w, w["a"], consent=real.id)
    consent.withdraw(
        ledger,
        assertion=assertion(ledger, identifier(w["a"]), NOW, _leave(real.id)),
        consent_id=real.id,
        now=NOW,
        providers=PROVIDERS,
    )
    with ledger.engine.begin() as conn:
        conn.execute(update(consent.Consent).where(consent.Consent.id == real.id).values(withdrawn_at=None))
    with pytest.raises(PermissionDenied):
        read_as(ledger, w["a"], NOW)
    assert ("consent_withdrawal_undone", real.id) in {
        (d["kind"], d["consent"]) for d in consent.check(ledger, w["issuer"])
    }
    # 4. the logged consent entry itself deleted: the row is unlogged, the anchored log says an entry is missing
    accesslog.anchor(ledger, w["issuer"])
    with ledger.engine.begin() as conn:
        seq = conn.execute(
            select(LogEntry.seq).where(
                LogEntry.log == LOG_ACCESS,
                LogEntry.department_id == w["issuer"],
                LogEntry.body.like(f'%"action":"consent"%{real.id}%'),
            )
        ).scalar()
        conn.execute(
            LogEntry.__table__.delete().where(
                LogEntry.log == LOG_ACCESS, LogEntry.department_id == w["issuer"], LogEntry.seq == seq
            )
        )
    assert ("consent_unlogged", real.id) in {(d["kind"], d["consent"]) for d in consent.check(ledger, w["issuer"])}
    assert any(d["kind"] == "missing" for d in accesslog.check(ledger, w["issuer"]))


def test_policy_per_certificate_type(ledger: Any, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    fields = ["id", "type", "subject.name", "subject.id_number", "subject.credit_code"]
    assert consent.policy_fields("business-licence", fields, "") == {
        "subject.name",
        "subject.id_number",
        "subject.credit_code",
    }
    policy = json.dumps({"business-licence": ["subject.id_number"], "*": "none"})
    assert consent.policy_fields("business-licence", fields, policy) == {"subject.id_number"}
    assert consent.policy_fields("permit", fields, policy) == set()
    with pytest.raises(Exception, match="LEDGER_CONSENT_POLICY"):
        consent.policy_fields("permit", fields, "[1]")
    monkeypatch.setattr(ledger, "settings", ledger.settings.with_(consent_policy=policy))  # LEDGER_CONSENT_POLICY
    w = world
    grant(ledger, w, w["a"], purpose_code=None)  # only subject.name: this policy needs no consent for it
    with pytest.raises(PermissionDenied, match=r"subject\.id_number"):
        grant(ledger, w, w["a"], reveal=["subject.id_number"])


def test_cli_give_share_withdraw_check(ledger: Any, world: dict[str, Any], tmp_path: Any) -> None:
    """`ledger consent give | list | withdraw | check` and `ledger share`, as separate processes."""
    from .cli_support import run_cli

    w, now = world, datetime.now(UTC).replace(microsecond=0)
    env = {consent.PROVIDERS_ENV: PROVIDERS_ENV}

    def signed(name: str, subject: str, bound: dict[str, Any]) -> str:
        path = tmp_path / name
        path.write_text(assertion(ledger, subject, now, bound).model_dump_json())
        return str(path)

    until = (now + timedelta(days=30)).isoformat()
    share = [
        "share",
        w["a"]["digest"],
        "--to",
        "INS",
        "--purpose",
        "claim 42",
        "--reveal",
        "subject.name",
        "--until",
        (now + timedelta(days=1)).isoformat(),
    ]
    refused = run_cli(ledger, *share, **env)
    assert refused.returncode == 2 and "consent" in refused.stderr, refused.stderr
    bad = run_cli(
        ledger,
        "consent",
        "give",
        w["a"]["digest"],
        "--assertion",
        str(tmp_path / "missing.json"),
        "--to",
        "INS",
        "--purpose-code",
        "insurance-claim",
        "--purpose-text",
        "claim",
        "--fields",
        "subject.name",
        "--until",
        until,
        **env,
    )
    assert bad.returncode == 2 and "cannot read the assertion file" in bad.stderr
    giving = [
        "consent",
        "give",
        w["a"]["digest"],
        "--to",
        "INS",
        "--purpose-code",
        "insurance-claim",
        "--purpose-text",
        "medical claim 42",
        "--fields",
        "subject.name",
        "--until",
        until,
    ]
    # what the provider is to show the person and sign: the canonical request and its digest (nothing recorded)
    shown = run_cli(ledger, *giving, "--request-only", **env)
    assert shown.returncode == 0, shown.stderr
    asked = json.loads(shown.stdout)
    assert asked["request"]["recipient"] == "INS" and asked["digest"] == consent.request_digest(asked["request"])
    assert consent.list_consents(ledger, issuer=w["issuer"]) == []
    given = run_cli(ledger, *giving, "--assertion", signed("a1.json", identifier(w["a"]), asked["request"]), **env)
    assert given.returncode == 0, given.stderr
    record = json.loads(given.stdout)
    # an assertion for this consent, sent with a request for another recipient: refused, exit 2, nothing recorded
    other = [a if a != "INS" else "PSB" for a in giving]
    relayed = run_cli(ledger, *other, "--assertion", signed("a0.json", identifier(w["a"]), asked["request"]), **env)
    assert relayed.returncode == 2 and "another request" in relayed.stderr, relayed.stderr
    shared = run_cli(ledger, *share, "--consent", record["id"], "--purpose-code", "insurance-claim", **env)
    assert shared.returncode == 0, shared.stderr
    listed = run_cli(
        ledger,
        "consent",
        "list",
        "--assertion",
        signed("a2.json", identifier(w["a"]), consent.listing_request(ledger)),
        **env,
    )
    assert [c["id"] for c in json.loads(listed.stdout) if c["certificate"] == w["a"]["digest"]] == [record["id"]]
    withdrawn = run_cli(
        ledger,
        "consent",
        "withdraw",
        record["id"],
        "--assertion",
        signed("a3.json", identifier(w["a"]), consent.withdrawal_request(record["id"])),
        **env,
    )
    assert withdrawn.returncode == 0 and json.loads(withdrawn.stdout)["withdrawn_at"], withdrawn.stderr
    with pytest.raises(PermissionDenied, match="withdrawn"):
        read_as(ledger, w["a"], datetime.now(UTC))
    checked = run_cli(ledger, "consent", "check", "-d", w["issuer"], **env)
    assert checked.returncode == 0 and json.loads(checked.stdout)["discrepancies"] == [], checked.stdout


def test_insider_grant_rows_without_or_with_a_foreign_consent_are_not_served(
    ledger: Any, world: dict[str, Any]
) -> None:
    """An insider writes a grant row directly (no consent), or links a grant to someone else's valid consent."""
    w = world
    raw = written_grant(ledger, w, "c" * 24, w["a"])
    with pytest.raises(PermissionDenied):
        read_as(ledger, w["a"], NOW)
    refused = [e for e in _log(ledger, w["issuer"]) if e["outcome"] == "refused"]
    assert "without the data subject's consent" in refused[-1]["detail"]
    # B's consent, valid and to the same recipient, linked to a grant on A's certificate
    other = give(ledger, w["b"], "INS", NOW)
    consent.link(ledger, raw.id, other)
    with pytest.raises(PermissionDenied):
        read_as(ledger, w["a"], NOW)
    assert "does not cover" in _log(ledger, w["issuer"])[-1]["detail"]


def test_reconcile_reports_an_inserted_consent_row(ledger: Any, world: dict[str, Any]) -> None:
    from ledger.services.reconcile import reconcile

    w = world
    real = give(ledger, w["a"], "INS", NOW)
    assert not [d for d in reconcile(ledger, departments=[w["issuer"]]).divergences if d.kind.startswith("consent")]
    with ledger.engine.begin() as conn:
        conn.execute(
            consent.Consent.__table__.insert().values(
                **real.model_copy(update={"id": "b" * 24, "recipient": "PSB"}).model_dump()
            )
        )
    found = {d.kind for d in reconcile(ledger, departments=[w["issuer"]]).divergences}
    assert {"consent_signature", "consent_unlogged"} <= found


def test_a_shared_read_costs_the_same_however_long_the_issuers_access_log_grows(
    ledger: Any, world: dict[str, Any]
) -> None:
    """Issue 18: every shared read checks the grant and its consent against the issuer's access log, and every read
    adds to that log. Those checks scanned the issuer's whole log (three text searches a read), so each read cost
    more than the last. They now read only the certificate's own entries (its index key). Counted in SQLite's
    virtual-machine steps, not seconds: the same read after 4,000 more entries about other certificates costs about
    what it cost before."""
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("counts SQLite's virtual-machine steps")
    w = world
    given = give(ledger, w["a"], "INS", NOW)
    grant(ledger, w, w["a"], consent=given.id)
    with sqlite_steps(ledger.engine) as steps:

        def read() -> int:
            steps.reset()
            assert read_as(ledger, w["a"], NOW).grant is not None
            return steps.count

        read()  # the first read of a connection also reads the schema
        before = read()
        others = (
            {"certificate": f"0x{i:064x}", "action": "read", "outcome": "served", "at": "2026-01-01T00:00:00Z"}
            for i in range(4_000)
        )
        logchain.append_many(ledger, LOG_ACCESS, w["issuer"], others)
        after = read()
    assert after < before * 1.25, f"a shared read took {before} x 10 steps, then {after} x 10 with a longer log"


def test_a_listing_while_the_node_does_not_answer_lists_every_consent_and_says_the_signer_was_not_checked(
    ledger: Any, world: dict[str, Any]
) -> None:
    """(The chain's node down, or a load balancer answering 503, while the gateway or `ledger consent list` lists a
    department's consents) Judging a live row asks the registry whether the consent key is a department's (a
    swapped keystore file): with the node not answering the listing failed whole, so nobody could see which
    consents are stored. It lists every row now, the registry asked once for the listing (not per row): each row
    the key check could not judge is shown not live, its problem saying the signer's key was not checked and why.
    Once the node answers, the same rows list live."""
    from requests import RequestException

    from ledger.client import Ledger
    from ledger.errors import ChainError
    from ledger.onchain.chain import Chain, connect

    from .rpc_proxy import RpcProxy

    w = world
    given = sorted([give(ledger, w["a"], "INS", NOW), give(ledger, w["b"], "INS", NOW)], key=lambda r: r.id)
    with RpcProxy(str(ledger.chain.w3.provider.endpoint_uri), intercept=lambda _request: 503) as proxy:  # type: ignore[attr-defined]
        chain = Chain(connect(proxy.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
        down = Ledger(settings=ledger.settings, chain=chain, engine=ledger.engine, keystore=ledger.keystore)
        rows = consent.list_consents(down, issuer=w["issuer"])
        assert [r.id for r in rows] == [r.id for r in given]
        shown = consent.listed(down, rows, NOW + timedelta(minutes=1))
        asks = sum(proxy.methods.values())
        assert [s.live for s in shown] == [False, False], shown
        assert all(s.problem and "not checked" in s.problem for s in shown), shown
        with pytest.raises((ChainError, RequestException)):  # one failed read of the registry, as the listing made it
            chain.call(chain.registry.functions.departmentOf(ledger.keystore.address(consent.GATEWAY_KEY)))
        assert asks == sum(proxy.methods.values()) - asks, proxy.methods  # the listing asked as often as one read
    shown = consent.listed(ledger, rows, NOW + timedelta(minutes=1))
    assert [(s.live, s.problem) for s in shown] == [(True, None), (True, None)], shown
