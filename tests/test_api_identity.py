"""Sign-in bound to the gateway that issued the challenge, against real gateway processes (uvicorn) on the
shared chain and database: a challenge or token of gateway A is refused by gateway B, an expired or reused
challenge is refused, sign-out and the registry's suspensions and rotations end tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from eth_account import Account

from ledger.client import Ledger
from ledger.services.auth import sign_challenge
from ledger.services.departments import Council

from .api_support import Clock, assert_problem, bearer, make_client
from .gateway_process import BoundGateway as Gateway

GW_A = "https://gw-a.mkt.example"
GW_B = "https://gw-b.psb.example:8443"


def _challenge(client: Any, code: str) -> dict[str, Any]:
    r = client.post("/auth/challenge", json={"department": code})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _exchange(client: Any, challenge: dict[str, Any], signature: str) -> Any:
    return client.post("/auth/token", json={"challenge_id": challenge["challenge_id"], "signature": signature})


def _field(message: str, name: str) -> str:
    return next(line.split(": ", 1)[1] for line in message.splitlines() if line.startswith(name + ": "))


def test_challenge_and_token_of_one_gateway_are_refused_by_another(ledger: Ledger) -> None:
    with Gateway(ledger, public_url=GW_A) as a, Gateway(ledger, public_url=GW_B) as b:
        challenge = _challenge(a.client, "MKT")
        message = challenge["message"]
        # EIP-4361: the text names its audience, the account and what it is about to do, before anything else
        lines = message.splitlines()
        assert lines[:5] == [
            "gw-a.mkt.example wants you to sign in with your Ethereum account:",
            ledger.department_account("MKT").address,
            "",
            "Sign in to the Provenance Ledger gateway as department MKT.",
            "",
        ]
        assert _field(message, "URI") == GW_A and _field(message, "Chain ID") == str(ledger.chain.chain_id)
        assert _field(message, "Version") == "1" and _field(message, "Nonce") == challenge["challenge_id"]
        assert lines[-2:] == ["Resources:", f"- ethereum:{ledger.chain.deployment.registry}@{ledger.chain.chain_id}"]
        issued = datetime.fromisoformat(_field(message, "Issued At"))
        assert datetime.fromisoformat(_field(message, "Expiration Time")) == issued + timedelta(minutes=5)
        signature = sign_challenge(ledger.department_account("MKT"), message)

        relayed = assert_problem(_exchange(b.client, challenge, signature), 401)  # both gateways share one database
        assert "issued by the gateway at gw-a.mkt.example" in relayed["detail"]

        token = _exchange(a.client, challenge, signature)  # the refused relay did not spend the challenge
        assert token.status_code == 200, token.text
        access = token.json()["access_token"]
        assert a.client.get("/auth/me", headers=bearer(access)).json()["department"] == "MKT"
        # B shares A's data directory, hence its token secret: only the token's audience tells them apart
        assert "another gateway" in assert_problem(b.client.get("/auth/me", headers=bearer(access)), 401)["detail"]
        assert "already used" in assert_problem(_exchange(a.client, challenge, signature), 401)["detail"]


def test_expired_challenge_is_refused(ledger: Ledger) -> None:
    with Gateway(ledger, public_url=GW_A) as gateway:
        # the same gateway (same public URL and database) an hour ago: the test's clock issues the challenge
        past = make_client(
            ledger, Clock(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)), public_url=GW_A
        )
        challenge = _challenge(past, "MKT")
        signature = sign_challenge(ledger.department_account("MKT"), challenge["message"])
        assert "expired" in assert_problem(_exchange(gateway.client, challenge, signature), 401)["detail"]


def _login(gateway: Gateway, ledger: Ledger, code: str) -> str:
    challenge = _challenge(gateway.client, code)
    token = _exchange(gateway.client, challenge, sign_challenge(ledger.department_account(code), challenge["message"]))
    assert token.status_code == 200, token.text
    return str(token.json()["access_token"])


def test_sign_out_ends_that_token_only(ledger: Ledger) -> None:
    with Gateway(ledger) as gateway:
        first, second = _login(gateway, ledger, "PSB"), _login(gateway, ledger, "PSB")
        assert gateway.client.post("/auth/logout", headers=bearer(first)).status_code == 204
        assert "signed out" in assert_problem(gateway.client.get("/auth/me", headers=bearer(first)), 401)["detail"]
        assert_problem(gateway.client.post("/auth/logout", headers=bearer(first)), 401)
        assert gateway.client.get("/auth/me", headers=bearer(second)).status_code == 200


def test_suspension_ends_every_token_issued_before_it(ledger: Ledger, fresh_department: str) -> None:
    with Gateway(ledger) as gateway:
        token = _login(gateway, ledger, fresh_department)
        council = Council(ledger)
        council.suspend(fresh_department)
        assert "suspended" in assert_problem(gateway.client.get("/auth/me", headers=bearer(token)), 403)["detail"]
        council.reinstate(fresh_department)
        # reinstated, but a token from before the suspension does not come back to life
        refused = assert_problem(gateway.client.get("/auth/me", headers=bearer(token)), 401)
        assert "sign in again" in refused["detail"]
        fresh = _login(gateway, ledger, fresh_department)
        assert gateway.client.get("/auth/me", headers=bearer(fresh)).status_code == 200


def test_key_rotation_ends_every_token_issued_before_it(ledger: Ledger, fresh_department: str) -> None:
    with Gateway(ledger) as gateway:
        tokens = [_login(gateway, ledger, fresh_department) for _ in range(2)]
        Council(ledger).rotate_key(fresh_department)
        for token in tokens:
            assert "rotated" in assert_problem(gateway.client.get("/auth/me", headers=bearer(token)), 401)["detail"]
        fresh = _login(gateway, ledger, fresh_department)  # the keystore now holds the new key
        assert gateway.client.get("/auth/me", headers=bearer(fresh)).status_code == 200


def test_challenge_names_the_signing_account(ledger: Ledger) -> None:
    with Gateway(ledger) as gateway:
        stranger = Account.create()
        named = gateway.client.post("/auth/challenge", json={"department": "MKT", "address": stranger.address})
        assert named.status_code == 201 and named.json()["message"].splitlines()[1] == stranger.address
        refused = _exchange(gateway.client, named.json(), sign_challenge(stranger, named.json()["message"]))
        assert "not the current registered key" in assert_problem(refused, 401)["detail"]
        # a signature by another account than the one the text names is refused, whoever signed
        challenge = _challenge(gateway.client, "MKT")
        other = _exchange(
            gateway.client, challenge, sign_challenge(ledger.department_account("HOSP"), challenge["message"])
        )
        assert "not by " + ledger.department_account("MKT").address in assert_problem(other, 401)["detail"]
        # an unregistered code gets a challenge like any other, naming an address no one holds, the same each time
        decoys = {_challenge(gateway.client, "NO-SUCH-DEPT")["message"].splitlines()[1] for _ in range(2)}
        assert len(decoys) == 1 and decoys.pop().startswith("0x")
        assert_problem(gateway.client.post("/auth/challenge", json={"department": "MKT", "address": "0x12"}), 422)
