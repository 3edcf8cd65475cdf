"""The data subject's consent through the real gateway process (``python -m api`` over TCP, the shared chain
and database): the person gives and withdraws consent with their authentication provider's assertion, the issuer
cannot share without it, a relay cannot use one person's assertion for another's certificate, and a withdrawal
stops the recipient's very next read. The gateway's clock is the real one; nothing here waits on it.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ledger.client import Ledger
from ledger.services import consent

from .api_support import UNLIMITED, issue, problem_body, register, sign_in
from .consent_support import PROVIDERS_ENV, assertion, identifier, request
from .gateway_process import Gateway, gateway


@pytest.fixture(scope="module")
def gw(ledger: Ledger) -> Iterator[Gateway]:
    with gateway(ledger, env_vars={consent.PROVIDERS_ENV: PROVIDERS_ENV}, **UNLIMITED) as running:
        yield running


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _give(
    c: httpx.Client, ledger: Ledger, subject: str, document: dict[str, Any], recipient: str, **changes: Any
) -> httpx.Response:
    asked = request(document, recipient, _now(), **changes)
    return c.post(
        "/public/consents",
        json={
            "assertion": assertion(ledger, subject, _now(), asked).model_dump(),
            "consent": asked.model_dump(mode="json"),
        },
    )


def test_consent_given_relied_on_and_withdrawn_through_the_gateway(
    gw: Gateway, ledger: Ledger, fresh_department: str
) -> None:
    a, b = issue(ledger, fresh_department, 2)
    verifier = register(ledger, "CV", "verifier")
    with gw.client() as c:
        issuer, reader = sign_in(c, ledger, fresh_department), sign_in(c, ledger, verifier)

        def grant(**changes: Any) -> httpx.Response:
            return c.post(
                f"/certificates/{a['digest']}/grants",
                headers=issuer,
                json={
                    "grantee": verifier,
                    "purpose": "claim 2026-0042",
                    "purpose_code": "insurance-claim",
                    "reveal": ["subject.name"],
                    "expires_at": (_now() + timedelta(days=1)).isoformat(),
                    **changes,
                },
            )

        # the issuer alone cannot share the person's name
        assert "consent" in problem_body(grant(), 403)["detail"]
        # a relay holding A's authentication asks for consent on B's certificate
        relayed = _give(c, ledger, identifier(a), b, verifier)
        assert "not the subject" in problem_body(relayed, 403)["detail"]
        # bad input: a clear error, nothing recorded
        assert problem_body(c.post("/public/consents", json={"consent": {}}), 422)["errors"]
        problem_body(_give(c, ledger, identifier(a), a, verifier, fields=["subject.shoe_size"]), 422)

        given = _give(c, ledger, identifier(a), a, verifier, fields=["subject.name"])
        assert given.status_code == 201, given.text
        record = given.json()
        assert record["live"] and record["provider"] == "gov-id-app" and record["assurance"] == "substantial"
        assert identifier(a) not in given.text and record["signer"] == consent.gateway_address(ledger)

        # B's certificate cannot ride on A's consent
        other = c.post(
            f"/certificates/{b['digest']}/grants",
            headers=issuer,
            json={
                "grantee": verifier,
                "purpose": "claim",
                "purpose_code": "insurance-claim",
                "reveal": ["subject.name"],
                "consent": record["id"],
                "expires_at": (_now() + timedelta(days=1)).isoformat(),
            },
        )
        assert "another certificate" in problem_body(other, 403)["detail"]
        assert "covers" in problem_body(grant(consent=record["id"], reveal=None), 403)["detail"]
        made = grant(consent=record["id"])
        assert made.status_code == 201, made.text
        read = c.get(f"/certificates/{a['digest']}/content", headers=reader)
        assert (
            read.status_code == 200 and read.json()["document"]["fields"]["subject.name"] == a["fields"]["subject.name"]
        )

        # the person lists and withdraws; the very next read is refused
        mine = c.post(
            "/public/consents/mine",
            json={"assertion": assertion(ledger, identifier(a), _now(), consent.listing_request(ledger)).model_dump()},
        )
        # (the same person, by ID number, is the subject of other tests' certificates too)
        assert [m["id"] for m in mine.json() if m["certificate"] == a["digest"]] == [record["id"]]
        leave = consent.withdrawal_request(record["id"])
        withdraw = assertion(ledger, identifier(a), _now(), leave).model_dump()
        stranger = c.post(
            f"/public/consents/{record['id']}/withdraw",
            json={"assertion": assertion(ledger, identifier(b), _now(), leave).model_dump()},
        )
        problem_body(stranger, 404)
        done = c.post(f"/public/consents/{record['id']}/withdraw", json={"assertion": withdraw})
        assert done.status_code == 200 and done.json()["withdrawn_at"] and not done.json()["live"], done.text
        refused = c.get(f"/certificates/{a['digest']}/content", headers=reader)
        assert "withdrawn" in problem_body(refused, 403)["detail"]
        replay = c.post(f"/public/consents/{record['id']}/withdraw", json={"assertion": withdraw})
        assert "used already" in problem_body(replay, 403)["detail"]
        assert "withdrawn" in problem_body(grant(consent=record["id"]), 403)["detail"]

        listed = c.get(f"/certificates/{a['digest']}/consents", headers=issuer).json()
        assert [(x["id"], x["live"]) for x in listed] == [(record["id"], False)]
        # in the anchored access log: consent, grant, read, withdrawal, refused read
        assert c.post("/access-log/anchor", headers=issuer).json()["roots"]
        log = [e for e in c.get("/access-log", headers=issuer).json() if e["certificate"] == a["digest"]]
        assert [(e["action"], e["outcome"]) for e in log] == [
            ("consent", "recorded"),
            ("grant", "recorded"),
            ("read", "served"),
            ("consent-withdrawn", "recorded"),
            ("read", "refused"),
        ]
        assert all(e["anchored"] for e in log) and all(identifier(a) not in str(e) for e in log)
        assert c.get("/consents/check", headers=issuer).json()["discrepancies"] == []


def test_an_inserted_consent_row_is_refused_and_reported(gw: Gateway, ledger: Ledger, fresh_department: str) -> None:
    """An insider with database access (no consent key) writes a consent row for a certificate."""
    a = issue(ledger, fresh_department, 1)[0]
    with gw.client() as c:
        issuer = sign_in(c, ledger, fresh_department)
        real = _give(c, ledger, identifier(a), a, "INS").json()
        forged = consent.load(ledger, real["id"])
        assert forged is not None
        forged = forged.model_copy(update={"id": "d" * 24, "recipient": "PSB"})
        with ledger.engine.begin() as conn:
            conn.execute(consent.Consent.__table__.insert().values(**forged.model_dump()))
        refused = c.post(
            f"/certificates/{a['digest']}/grants",
            headers=issuer,
            json={
                "grantee": "PSB",
                "purpose": "claim",
                "purpose_code": "insurance-claim",
                "consent": forged.id,
                "expires_at": (_now() + timedelta(days=1)).isoformat(),
            },
        )
        assert "does not match" in problem_body(refused, 403)["detail"]
        kinds = {(d["kind"], d["consent"]) for d in c.get("/consents/check", headers=issuer).json()["discrepancies"]}
        assert kinds == {("consent_signature", forged.id), ("consent_unlogged", forged.id)}


def test_a_relay_rewriting_the_request_on_the_way_is_refused(
    gw: Gateway, ledger: Ledger, fresh_department: str
) -> None:
    """A gateway relaying the person's messages (an app, a proxy in front of this gateway) keeps their assertion
    and sends its own request: another recipient, every field, a longer expiry; or turns their withdrawal into a
    consent. 403 each time, nothing recorded, and the person's own request still goes through."""
    (a,) = issue(ledger, fresh_department, 1)
    asked = request(a, "INS", _now(), fields=["subject.name"])
    signed = assertion(ledger, identifier(a), _now(), asked).model_dump()
    personal = sorted(f for f in a["fields"] if f.startswith("subject."))
    with gw.client() as c:
        issuer = sign_in(c, ledger, fresh_department)
        for changes in ({"recipient": "PSB"}, {"fields": personal}, {"expires_at": _now() + timedelta(days=1000)}):
            rewritten = asked.model_copy(update=changes).model_dump(mode="json")
            refused = c.post("/public/consents", json={"assertion": signed, "consent": rewritten})
            assert "another request" in problem_body(refused, 403)["detail"], changes
        assert c.get(f"/certificates/{a['digest']}/consents", headers=issuer).json() == []
        given = c.post("/public/consents", json={"assertion": signed, "consent": asked.model_dump(mode="json")})
        assert given.status_code == 201, given.text
        assert (given.json()["recipient"], given.json()["fields"]) == ("INS", ["subject.name"])
        # the person's withdrawal, relayed as a consent to PSB: refused; as the withdrawal it was, done
        leave = assertion(ledger, identifier(a), _now(), consent.withdrawal_request(given.json()["id"])).model_dump()
        turned = c.post(
            "/public/consents", json={"assertion": leave, "consent": request(a, "PSB", _now()).model_dump(mode="json")}
        )
        assert "another request" in problem_body(turned, 403)["detail"]
        done = c.post(f"/public/consents/{given.json()['id']}/withdraw", json={"assertion": leave})
        assert done.status_code == 200 and done.json()["withdrawn_at"], done.text
        assert [x["recipient"] for x in c.get(f"/certificates/{a['digest']}/consents", headers=issuer).json()] == [
            "INS"
        ]


def test_a_grantee_with_the_whole_certificate_is_refused_the_others_reads(
    gw: Gateway, ledger: Ledger, fresh_department: str
) -> None:
    """A department granted the whole certificate holds every field and salt: it asks the public endpoint who else
    read the certificate and why, with the complete file, with the digest alone, or with an assertion of its own
    choosing. Only the data subject, with an assertion bound to this certificate's list, gets it."""
    a, b = issue(ledger, fresh_department, 2)
    grantee, other = register(ledger, "CG", "verifier"), register(ledger, "CO", "verifier")
    with gw.client() as c:
        issuer = sign_in(c, ledger, fresh_department)
        for recipient, reveal, code in ((grantee, None, "insurance-claim"), (other, ["subject.name"], "benefit")):
            record = _give(c, ledger, identifier(a), a, recipient, purpose_code=code).json()
            made = c.post(
                f"/certificates/{a['digest']}/grants",
                headers=issuer,
                json={
                    "grantee": recipient,
                    "purpose": f"{code} 2026-7",
                    "purpose_code": code,
                    "reveal": reveal,
                    "consent": record["id"],
                    "expires_at": (_now() + timedelta(days=1)).isoformat(),
                },
            )
            assert made.status_code == 201, made.text
        held = c.get(f"/certificates/{a['digest']}/content", headers=sign_in(c, ledger, grantee)).json()["document"]
        assert held["digest"] == a["digest"] and not held.get("hidden")  # every field and salt
        assert c.get(f"/certificates/{a['digest']}/content", headers=sign_in(c, ledger, other)).status_code == 200

        def ask(**body: Any) -> httpx.Response:
            return c.post("/public/holder/accesses", json=body)

        problem_body(ask(document=held), 422)  # the file is no proof of being the person
        problem_body(ask(certificate=a["digest"]), 422)
        problem_body(
            ask(
                certificate=a["digest"],
                document=held,
                assertion=assertion(ledger, identifier(a), _now(), consent.accesses_request(a["digest"])).model_dump(),
            ),
            422,
        )
        for who, bound in (
            (identifier(b), consent.accesses_request(a["digest"])),  # another person
            (identifier(a), consent.accesses_request(b["digest"])),  # A's, for another list
            (identifier(a), consent.listing_request(ledger)),
        ):
            refused = ask(certificate=a["digest"], assertion=assertion(ledger, who, _now(), bound).model_dump())
            problem_body(refused, 403)
        mine = assertion(ledger, identifier(a), _now(), consent.accesses_request(a["digest"])).model_dump()
        seen = ask(certificate=a["digest"], assertion=mine)
        assert seen.status_code == 200, seen.text
        reads = {(e["actor"], e["purpose"]) for e in seen.json() if e["action"] == "read"}
        assert reads == {(grantee, "insurance-claim 2026-7"), (other, "benefit 2026-7")}
        assert identifier(a) not in seen.text
        assert "used already" in problem_body(ask(certificate=a["digest"], assertion=mine), 403)["detail"]


def _pages(fetch: Callable[[dict[str, Any]], httpx.Response], limit: int) -> tuple[list[dict[str, Any]], list[int]]:
    """Every record of every page, following the ``Link`` header's next page; and the size of each page."""
    items: list[dict[str, Any]] = []
    sizes: list[int] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        response = fetch(params)
        assert response.status_code == 200, response.text
        items += response.json()
        sizes.append(len(response.json()))
        link = response.headers.get("link")
        if link is None:
            return items, sizes
        match = re.fullmatch(r'<[^>?]+\?([^>]+)>; rel="next"', link)
        assert match, link
        params = dict(urllib.parse.parse_qsl(match.group(1)))


def test_a_certificates_grants_and_consents_and_a_persons_consents_come_a_page_at_a_time(
    gw: Gateway, ledger: Ledger, fresh_department: str
) -> None:
    """The person can give consent after consent, and the issuer grant after grant, on one certificate: each of the
    three lists (the issuer's view of the certificate's grants and consents, the person's own consents) was
    answered whole, as long as it had grown. Each now comes a page at a time: every record once, oldest first,
    and a cursor naming no record of the list is a 422 saying what to send."""
    a, b = issue(ledger, fresh_department, 2)
    grantee = register(ledger, "CPG", "verifier")
    with gw.client() as c:
        issuer = sign_in(c, ledger, fresh_department)
        given = [_give(c, ledger, identifier(a), a, "INS", purpose_text=f"claim {i}").json()["id"] for i in range(5)]
        elsewhere = _give(c, ledger, identifier(b), b, "INS").json()["id"]
        granted = []
        for i in range(5):
            made = c.post(
                f"/certificates/{a['digest']}/grants",
                headers=issuer,
                json={
                    "grantee": grantee,
                    "purpose": f"paging {i}",
                    "reveal": ["id"],
                    "expires_at": (_now() + timedelta(days=1)).isoformat(),
                },
            )
            assert made.status_code == 201, made.text
            granted.append(made.json()["id"])

        for path, made_here in (
            (f"/certificates/{a['digest']}/grants", granted),
            (f"/certificates/{a['digest']}/consents", given),
        ):
            whole = c.get(path, headers=issuer)
            assert whole.status_code == 200 and "link" not in whole.headers  # under a page: one answer, as before
            items, sizes = _pages(lambda params, path=path: c.get(path, params=params, headers=issuer), 2)
            assert [x["id"] for x in items] == [x["id"] for x in whole.json()] and sizes == [2, 2, 1], path
            assert sorted(x["id"] for x in items) == sorted(made_here)
            for after in ("f" * 24, elsewhere, "not-hex"):  # no record of this list, another certificate's, no id
                body = problem_body(c.get(path, params={"after": after}, headers=issuer), 422)
                assert "after" in str(body), (path, after, body)

        def mine(params: dict[str, Any]) -> httpx.Response:
            signed = assertion(ledger, identifier(a), _now(), consent.listing_request(ledger)).model_dump()
            return c.post("/public/consents/mine", params=params, json={"assertion": signed})

        whole = mine({})
        assert whole.status_code == 200 and "link" not in whole.headers
        items, sizes = _pages(mine, 2)
        assert [x["id"] for x in items] == [x["id"] for x in whole.json()]
        assert set(given) <= {x["id"] for x in items} and elsewhere not in {x["id"] for x in items}
        assert all(size == 2 for size in sizes[:-1]) and sizes[-1] <= 2
        assert "after" in str(problem_body(mine({"after": elsewhere}), 422))  # another person's consent
