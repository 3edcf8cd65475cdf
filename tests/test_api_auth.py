"""Sign-in and the gateway's contract: challenges, tokens, suspension and rotation, rate limits, problem details,
OpenAPI. The clock is the test's; the registry is the real one on the shared chain."""

from __future__ import annotations

from typing import Any

from eth_account import Account

from ledger.services.auth import sign_challenge
from ledger.services.departments import Council

from .api_support import Clock, assert_problem, bearer, issue, login, make_client


def _challenge(client: Any, code: str) -> dict[str, Any]:
    r = client.post("/auth/challenge", json={"department": code})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_sign_in_and_replay(ledger: Any) -> None:
    client = make_client(ledger, Clock())
    challenge = _challenge(client, "MKT")
    assert "as department MKT." in challenge["message"] and f"Chain ID: {ledger.chain.chain_id}" in challenge["message"]
    signature = sign_challenge(ledger.department_account("MKT"), challenge["message"])
    first = client.post("/auth/token", json={"challenge_id": challenge["challenge_id"], "signature": signature})
    assert first.status_code == 200, first.text
    assert first.json()["roles"] == ["issuer", "verifier"] and first.json()["token_type"] == "bearer"
    me = client.get("/auth/me", headers=bearer(first.json()["access_token"]))
    assert me.json()["department"] == "MKT"
    replay = client.post("/auth/token", json={"challenge_id": challenge["challenge_id"], "signature": signature})
    assert "already used" in assert_problem(replay, 401)["detail"]


def test_wrong_key_unknown_challenge_and_expired_challenge(ledger: Any) -> None:
    clock = Clock()
    client = make_client(ledger, clock)
    challenge = _challenge(client, "MKT")
    stranger = sign_challenge(Account.create(), challenge["message"])
    assert_problem(
        client.post("/auth/token", json={"challenge_id": challenge["challenge_id"], "signature": stranger}), 401
    )
    other_department = sign_challenge(ledger.department_account("HOSP"), challenge["message"])
    assert_problem(
        client.post("/auth/token", json={"challenge_id": challenge["challenge_id"], "signature": other_department}), 401
    )
    assert_problem(client.post("/auth/token", json={"challenge_id": "nope", "signature": stranger}), 401)
    clock.advance(minutes=5)
    late = sign_challenge(ledger.department_account("MKT"), challenge["message"])
    assert (
        "expired"
        in assert_problem(
            client.post("/auth/token", json={"challenge_id": challenge["challenge_id"], "signature": late}), 401
        )["detail"]
    )
    # a malformed department code is a validation problem, an unregistered one still gets a challenge
    assert_problem(client.post("/auth/challenge", json={"department": ""}), 422)
    assert client.post("/auth/challenge", json={"department": "NO-SUCH"}).status_code == 201


def test_token_expiry(ledger: Any) -> None:
    clock = Clock()
    client = make_client(ledger, clock)
    token = login(client, ledger, "PSB")
    clock.advance(minutes=14, seconds=59)
    assert client.get("/auth/me", headers=bearer(token)).status_code == 200
    clock.advance(seconds=1)
    assert "expired" in assert_problem(client.get("/auth/me", headers=bearer(token)), 401)["detail"]


def test_suspension_takes_effect_at_once_and_outlives_reinstatement(ledger: Any, fresh_department: str) -> None:
    client = make_client(ledger, Clock())
    token = login(client, ledger, fresh_department)
    council = Council(ledger)
    council.suspend(fresh_department)
    assert "suspended" in assert_problem(client.get("/auth/me", headers=bearer(token)), 403)["detail"]
    challenge = _challenge(client, fresh_department)
    signature = sign_challenge(ledger.department_account(fresh_department), challenge["message"])
    assert_problem(
        client.post("/auth/token", json={"challenge_id": challenge["challenge_id"], "signature": signature}), 403
    )
    council.reinstate(fresh_department)
    # the reinstated department signs in again: a token from before the suspension stays dead
    assert "sign in again" in assert_problem(client.get("/auth/me", headers=bearer(token)), 401)["detail"]
    assert client.get("/auth/me", headers=bearer(login(client, ledger, fresh_department))).status_code == 200


def test_rotated_key_is_refused_at_once(ledger: Any, fresh_department: str) -> None:
    client = make_client(ledger, Clock())
    old_account = ledger.department_account(fresh_department)
    token = login(client, ledger, fresh_department)
    challenge = _challenge(client, fresh_department)  # signed with the old key after the rotation, below
    Council(ledger).rotate_key(fresh_department)
    assert "rotated" in assert_problem(client.get("/auth/me", headers=bearer(token)), 401)["detail"]
    assert_problem(
        client.post(
            "/auth/token",
            json={
                "challenge_id": challenge["challenge_id"],
                "signature": sign_challenge(old_account, challenge["message"]),
            },
        ),
        401,
    )
    fresh = login(client, ledger, fresh_department)  # the keystore now holds the new key
    assert client.get("/auth/me", headers=bearer(fresh)).json()["signer"] != old_account.address


def test_forged_and_malformed_tokens(ledger: Any) -> None:
    client = make_client(ledger, Clock())
    token = login(client, ledger, "AUD")
    prefix, payload, mac = token.split(".")
    for bad in (f"{prefix}.{payload}.{mac[:-2]}AA", f"{prefix}.{payload}x.{mac}", "garbage", "plt1..", token + "."):
        assert_problem(client.get("/auth/me", headers=bearer(bad)), 401)
    other_gateway = make_client(ledger, Clock())  # same ledger and secret: its tokens are accepted
    assert other_gateway.get("/auth/me", headers=bearer(token)).status_code == 200


def test_public_rate_limit(ledger: Any) -> None:
    clock = Clock()
    client = make_client(ledger, clock, public_burst=3, public_per_second=0.5)
    digest = issue(ledger, "MKT", 1)[0]["digest"]
    for _ in range(3):
        assert client.post("/public/verify", json={"digest": digest}).status_code == 200
    limited = client.post("/public/verify", json={"digest": digest})
    body = assert_problem(limited, 429)
    assert limited.headers["retry-after"] == "2" and body["retry_after"] == 2
    clock.advance(seconds=1)
    assert_problem(client.get(f"/public/certificates/{digest}/timeline"), 429)
    clock.advance(seconds=2)
    assert client.get(f"/public/certificates/{digest}/timeline").status_code == 200
    # tokens are not rate-limited by the public bucket
    token = login_after_refill(client, ledger, clock)
    for _ in range(5):
        assert client.get("/auth/me", headers=bearer(token)).status_code == 200


def test_public_verify_spends_the_budget_before_reading_the_body(ledger: Any) -> None:
    """An anonymous client flooding public verification with malformed or duplicate-keyed bodies is rate-limited
    like any other: the budget is spent before the body is validated (429, not 422, once it is spent)."""
    clock = Clock()
    client = make_client(ledger, clock, public_burst=2, public_per_second=0.5)
    assert_problem(client.post("/public/verify", json={"digest": "not-a-digest"}), 422)
    duplicate = b'{"digest": "0x' + b"cd" * 32 + b'", "digest": "0x' + b"ab" * 32 + b'"}'
    assert_problem(client.post("/public/verify", content=duplicate, headers={"Content-Type": "application/json"}), 422)
    for body in ({"digest": "not-a-digest"}, {"document": 5}, {}):
        assert_problem(client.post("/public/verify", json=body), 429)
    assert_problem(client.post("/public/verify", content=duplicate, headers={"Content-Type": "application/json"}), 429)
    clock.advance(seconds=2)
    assert_problem(client.post("/public/verify", json={"digest": "0x" + "cd" * 32}), 404)


def login_after_refill(client: Any, ledger: Any, clock: Clock) -> str:
    clock.advance(seconds=10)
    return login(client, ledger, "PSB")


def test_public_verify_reveals_no_personal_field(ledger: Any) -> None:
    client = make_client(ledger, Clock())
    doc = issue(ledger, "MKT", 1)[0]
    for body in ({"digest": doc["digest"]}, {"document": doc}):
        r = client.post("/public/verify", json=body)
        assert r.status_code == 200 and r.json()["verified"] is True and r.json()["status"] == "valid"
        text = r.text
        for name, value in doc["fields"].items():
            if name.startswith("subject.") or name == "id":
                assert str(value) not in text, name
    timeline = client.get(f"/public/certificates/{doc['digest']}/timeline").text
    assert doc["fields"]["subject.name"] not in timeline and doc["fields"]["id"] not in timeline
    assert_problem(client.post("/public/verify", json={}), 422)
    assert_problem(client.post("/public/verify", json={"digest": "0x" + "cd" * 32}), 404)
    assert_problem(client.post("/public/verify", json={"digest": "not-a-digest"}), 422)


def test_every_error_is_a_problem(ledger: Any) -> None:
    client = make_client(ledger, Clock())
    token = login(client, ledger, "MKT")
    assert_problem(client.get("/no/such/thing"), 404)
    assert_problem(client.put("/auth/me", headers=bearer(token)), 405)
    invalid = assert_problem(
        client.post(
            "/certificates",
            headers=bearer(token),
            json={"records": [{"id": "X-1", "type": "Bad Type", "subject": {"a": 1}}]},
        ),
        422,
    )
    assert invalid["type"] == "/problems/invalid-input" and invalid["errors"][0]["field"] == "type"
    schema = assert_problem(client.post("/certificates", headers=bearer(token), json={"records": []}), 422)
    assert schema["type"] == "/problems/validation-error" and schema["errors"][0]["field"] == "body.records"
    assert_problem(client.get("/certificates/0x12/content", headers=bearer(token)), 422)
    assert_problem(
        client.post(
            "/certificates",
            headers=bearer(token),
            content=b"{not json",
            params={},
        ),
        422,
    )
    doc = issue(ledger, "MKT", 1)[0]
    digest = doc["digest"]
    assert (
        client.post(f"/certificates/{digest}/revoke", headers=bearer(token), json={"reason": "fraud"}).status_code
        == 200
    )
    again = assert_problem(
        client.post(f"/certificates/{digest}/revoke", headers=bearer(token), json={"reason": "fraud"}), 409
    )
    assert "AnchorCertificateRevoked" in again["detail"]
    assert_problem(
        client.post(f"/certificates/0x{'ef' * 32}/revoke", headers=bearer(token), json={"reason": "fraud"}), 404
    )
    duplicate = [{"id": doc["fields"]["id"], "type": "business-licence", "subject": {"name": "x"}}]
    assert_problem(client.post("/certificates", headers=bearer(token), json={"records": duplicate}), 422)


def test_openapi_is_complete(ledger: Any) -> None:
    spec = make_client(ledger, Clock()).get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, item in spec["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            assert op.get("summary") and op.get("description"), where
            if path != "/":
                problems = [code for code, r in op["responses"].items() if code.startswith(("4", "5"))]
                assert problems, where
                for code in problems:
                    content = op["responses"][code]["content"]
                    assert "application/problem+json" in content, (where, code)
                    assert content["application/problem+json"].get("example"), (where, code)
            public = path.startswith("/public/") or path in ("/auth/challenge", "/auth/token", "/")
            assert ("security" in op) != public, where
            if "requestBody" in op:
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
                assert spec["components"]["schemas"][ref].get("examples"), (where, ref)
    for name in ("Problem", "GrantCreate", "ReportPublic", "TimelinePublic"):
        assert name in spec["components"]["schemas"]


def test_oversize_bodies_and_records_are_refused(ledger: Any) -> None:
    client = make_client(ledger, Clock(), max_body_bytes=64 * 1024)
    token = login(client, ledger, "MKT")
    big = b'{"records": [{"id": "X", "type": "permit", "subject": {"n": "' + b"x" * 100_000 + b'"}}]}'
    body = assert_problem(
        client.post("/certificates", content=big, headers={**bearer(token), "Content-Type": "application/json"}), 413
    )
    assert body["type"] == "/problems/payload-too-large"

    def chunks() -> Any:  # no Content-Length: the limit is enforced while the body streams in
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    assert_problem(
        client.post("/certificates", content=chunks(), headers={**bearer(token), "Content-Type": "application/json"}),
        413,
    )
    roomy = make_client(ledger, Clock())
    record = {"id": "X-big", "type": "permit", "subject": {"n": "x" * (ledger.settings.max_record_bytes + 1)}}
    refused = assert_problem(
        roomy.post("/certificates", headers=bearer(login(roomy, ledger, "MKT")), json={"records": [record]}), 422
    )
    assert "the limit is" in refused["detail"]
