"""Gateway under attack: hostile requests against a real gateway process (``python -m api`` under uvicorn, on the
session's anvil chain and database). Each test is one promise of docs/guarantees.md, "Gateway under attack"."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ledger.client import Ledger

from .api_support import UNLIMITED, issue, problem_body, sign_in
from .gateway_process import ChainRelay, Gateway, gateway

# A digest no test issues or cites (0xabab... is cited by other modules' decisions, so their timelines know it)
UNKNOWN_DIGEST = "0x" + hashlib.sha256(b"never issued or cited: test_api_attacks").hexdigest()


@pytest.fixture(scope="module")
def gw(ledger: Ledger) -> Iterator[Gateway]:
    with gateway(ledger, refusal_log_window_seconds=3600, **UNLIMITED) as running:
        yield running


TIGHT = {
    "public_burst": 3,
    "public_per_second": 0.001,
    "signin_burst": 10,
    "signin_per_second": 0.001,
    "refused_burst": 3,
    "refused_per_second": 0.001,
}


@pytest.fixture(scope="module")
def tight(ledger: Ledger) -> Iterator[Gateway]:
    """Small budgets that do not refill during a test; no trusted proxy (the default)."""
    with gateway(ledger, **TIGHT) as running:
        yield running


def forged_token(claims: dict[str, Any]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"plt1.{payload}.{'A' * 43}"


def _post_routes(gw: Gateway) -> list[str]:
    with gw.client() as c:
        paths = c.get("/openapi.json").json()["paths"]
    return sorted(re.sub(r"\{[^}]+\}", UNKNOWN_DIGEST, path) for path, item in paths.items() if "post" in item)


@pytest.mark.parametrize("depth", [1_000, 10_000, 50_000, 200_000])
def test_deeply_nested_bodies_are_refused_and_the_process_survives(gw: Gateway, depth: int) -> None:
    """Nesting depths far beyond any certificate's, anonymously, on every POST route of the OpenAPI document: a
    4xx problem each time (before authentication and rate limiting), never a crash."""
    routes = _post_routes(gw)
    assert len(routes) >= 8
    bodies = [
        b"[" * depth + b"]" * depth,
        b'{"document":' + b'{"a":' * depth + b"1" + b"}" * (depth + 1),
        b'{"records":[' + b"[" * depth,
    ]  # unterminated as well
    with gw.client() as c:
        for route in routes:
            for body in bodies:
                answer = c.post(route, content=body, headers={"Content-Type": "application/json"})
                problem = problem_body(answer, 413, 422)
                if answer.status_code == 413:  # over the 1 MiB an anonymous request may send
                    assert len(body) > 2**20 and "exceeds" in problem["detail"], problem
                else:
                    assert "nested deeper" in problem["detail"], problem
    assert gw.alive(), gw.log()


def test_wide_and_long_bodies_are_refused(gw: Gateway) -> None:
    """Hundreds of thousands of values, or one string longer than any record may be: 422 before any handler."""
    wide = b'{"document": {"fields": [' + b",".join([b"1"] * 300_000) + b"]}}"
    long = b'{"document": {"fields": {"a": "' + b"x" * 300_000 + b'"}}}'
    with gw.client() as c:
        for route in ("/public/verify", "/auth/challenge", "/verify", "/certificates"):
            json_type = {"Content-Type": "application/json"}
            assert "values" in problem_body(c.post(route, content=wide, headers=json_type), 422)["detail"]
            assert "longer than" in problem_body(c.post(route, content=long, headers=json_type), 422)["detail"]
    assert gw.alive(), gw.log()


def _log(client: httpx.Client, headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = client.get("/access-log", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_anonymous_callers_cannot_grow_or_write_into_the_access_log(gw: Gateway, ledger: Ledger) -> None:
    """Hundreds of refused reads without a valid token (none, forged ones claiming the auditor, a 5 KB one, a 10 MB
    one) add one entry to the issuer's anchored log, with no name or text the caller chose."""
    digest = issue(ledger, "HOSP")[0]["digest"]
    with gw.client() as c:
        issuer = sign_in(c, ledger, "HOSP")
        before = len(_log(c, issuer))
        auditor = ledger.department_account("AUD").address
        for i in range(300):
            token = [
                None,
                forged_token({"v": 1, "sub": "AUD", "signer": auditor, "jti": str(i), "exp": 2**40}),
                forged_token({"sub": "<script>" * 40}),
            ][i % 3]
            answer = c.get(
                f"/certificates/{digest}/content", headers={"Authorization": f"Bearer {token}"} if token else {}
            )
            problem_body(answer, 401)
        long_token = problem_body(
            c.get(f"/certificates/{digest}/content", headers={"Authorization": "Bearer " + "A" * 5000}), 401
        )
        assert "sign in again" in long_token["detail"]
        huge = c.get(f"/certificates/{digest}/content", headers={"Authorization": "Bearer " + "A" * 10 * 2**20})
        problem_body(huge, 431)
        entries = _log(c, issuer)[before:]
    assert len(entries) == 1, entries
    entry = entries[0]
    assert (entry["certificate"], entry["actor"], entry["signer"], entry["authenticated"], entry["outcome"]) == (
        digest,
        "anonymous",
        None,
        False,
        "refused",
    )
    assert entry["detail"] == "unauthenticated read refused: no bearer token"  # the first attempt had no token
    assert "AUD" not in json.dumps(entry) and auditor.lower() not in json.dumps(entry).lower()
    assert "script" not in json.dumps(entry)
    assert gw.alive(), gw.log()


def test_counts_of_unrecorded_refusals_are_written_when_their_window_closes(ledger: Ledger) -> None:
    """Every unauthenticated attempt is accounted for: the entries written (one per window) plus the counts they
    carry add up to the attempts made, the last count written by the anchoring task once its window closed."""
    digest = issue(ledger, "HOSP")[0]["digest"]
    attempts = 40
    with (
        gateway(ledger, refusal_log_window_seconds=1, anchor_interval_seconds=0.5, **UNLIMITED) as gw,
        gw.client() as c,
    ):
        issuer = sign_in(c, ledger, "HOSP")
        for _ in range(attempts):
            problem_body(c.get(f"/certificates/{digest}/content"), 401)
        accounted, entries = 0, []
        for _ in range(300):  # the background task writes the last count within a window and an interval
            entries = [e for e in _log(c, issuer) if e["certificate"] == digest]
            accounted = sum(
                int(m.group(1)) if (m := re.search(r"(\d+) more", e["detail"])) else 0 for e in entries
            ) + sum(e["detail"].startswith("unauthenticated read refused") for e in entries)
            if accounted >= attempts:
                break
            threading.Event().wait(0.1)
    assert accounted == attempts, entries
    assert all(e["actor"] == "anonymous" and not e["authenticated"] for e in entries)
    assert len(entries) < attempts


def test_refused_requests_are_rate_limited_before_they_are_logged(tight: Gateway, ledger: Ledger) -> None:
    digest = issue(ledger, "HOSP")[0]["digest"]
    with tight.client() as c:
        for _ in range(3):
            problem_body(c.get(f"/certificates/{digest}/content", headers={"Authorization": "Bearer x.y.z"}), 401)
        limited = problem_body(c.get(f"/certificates/{digest}/content"), 429)
        assert limited["retry_after"] >= 1 and "sign in" in limited["detail"]
        problem_body(c.get("/auth/me"), 429)
        # signing in is a budget of its own, and a signed-in department is not held back by anonymous refusals
        issuer = sign_in(c, ledger, "HOSP")
        assert c.get("/auth/me", headers=issuer).status_code == 200
        refused = [e for e in _log(c, issuer) if e["certificate"] == digest]
    assert [(e["actor"], e["outcome"]) for e in refused] == [("anonymous", "refused")]


def test_forwarded_for_is_ignored_unless_from_a_trusted_proxy(tight: Gateway, ledger: Ledger) -> None:
    """Rotating X-Forwarded-For does not buy a new budget, also under a bare `uvicorn api.main:app` (which
    believes the header from 127.0.0.1); public junk does not lock sign-in out."""
    _rotating_forwarded_for(tight)
    with gateway(ledger, bare_uvicorn=True, **TIGHT) as bare:
        _rotating_forwarded_for(bare)


def _rotating_forwarded_for(gw: Gateway) -> None:
    with gw.client() as c:
        path = f"/public/certificates/{UNKNOWN_DIGEST}/timeline"
        for i in range(3):
            assert c.get(path, headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code == 404
        for i in range(3, 10):
            problem_body(c.get(path, headers={"X-Forwarded-For": f"198.51.100.{i}"}), 429)
        problem_body(
            c.post("/public/verify", json={"digest": UNKNOWN_DIGEST}, headers={"X-Forwarded-For": "198.51.100.99"}), 429
        )
        assert c.post("/auth/challenge", json={"department": "MKT"}).status_code == 201


def test_forwarded_for_from_a_trusted_proxy_keys_the_budget(ledger: Ledger) -> None:
    """Behind a configured proxy each forwarded client has its own budget; hops the client wrote itself (left of
    the proxy's) are not believed."""
    with gateway(ledger, trusted_proxies="127.0.0.1", **TIGHT) as proxied, proxied.client() as c:
        path = f"/public/certificates/{UNKNOWN_DIGEST}/timeline"
        for client in ("203.0.113.7", "203.0.113.8"):
            for _ in range(3):
                assert c.get(path, headers={"X-Forwarded-For": client}).status_code == 404
        problem_body(c.get(path, headers={"X-Forwarded-For": "203.0.113.7"}), 429)
        problem_body(c.get(path, headers={"X-Forwarded-For": "10.9.9.9, 203.0.113.8"}), 429)
        assert c.get(path, headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404


def test_rate_limiter_memory_is_bounded() -> None:
    """A flood of client addresses keeps at most ``max_clients`` buckets; the least recently seen go first, and
    a client still being limited stays limited while others come and go."""
    from datetime import UTC, datetime

    from api.ratelimit import RateLimited, TokenBucket

    now = datetime(2026, 1, 1, tzinfo=UTC)
    bucket = TokenBucket(1, 0.001, max_clients=100)
    bucket.take("abuser", now)
    for i in range(10_000):
        bucket.take(f"10.0.{i // 256}.{i % 256}", now)
        if i % 50 == 0:
            with pytest.raises(RateLimited):
                bucket.take("abuser", now)
    assert len(bucket) == 100


def test_a_bucket_spends_and_refills_as_its_formula_says_at_any_moments() -> None:
    """``take_at`` against its formula written plainly (``min(burst, tokens + max(0.0, t - last) * per_second)``,
    a new client full): the same answer and the same tokens left after every take, for moments that go back,
    repeat, jump, are infinite or NaN, and rates of fractions and infinity."""
    import math

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from api.ratelimit import RateLimited, TokenBucket

    moments = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True), st.floats(-10, 10), st.integers(-5, 5), st.just(0.0)
    )

    @settings(max_examples=300, deadline=None)
    @given(
        burst=st.integers(0, 5),
        rate=st.one_of(st.just(math.inf), st.floats(0.001, 100.0)),
        takes=st.lists(st.tuples(st.sampled_from(["a", "b"]), moments), max_size=30),
    )
    def check(burst: int, rate: float, takes: list[tuple[str, float]]) -> None:
        bucket = TokenBucket(burst, rate, max_clients=1)
        held: dict[str, tuple[float, float]] = {}
        for client, t in takes:
            tokens, last = held.get(client, (float(burst), t))
            tokens = min(float(burst), tokens + max(0.0, t - last) * rate)
            spent = tokens >= 1.0
            held = {client: (tokens - 1.0 if spent else tokens, t)}  # max_clients=1: the others are evicted
            try:
                bucket.take_at(client, t)
            except RateLimited:
                assert not spent
            else:
                assert spent
            assert repr(bucket._buckets[client]) == repr(held[client])
            assert len(bucket) == 1

    check()


def test_client_keys() -> None:
    """The address budgets are keyed on: the peer; behind a trusted proxy the right-most hop it did not write
    itself; an IPv6 client by its /64 (one subscriber's addresses)."""
    from api.ratelimit import client_key, parse_networks

    proxies = parse_networks("10.0.0.1, 192.168.0.0/16")
    assert client_key("198.51.100.7", "203.0.113.1", ()) == "198.51.100.7"
    assert client_key("198.51.100.7", "203.0.113.1", proxies) == "198.51.100.7"  # not a proxy of ours
    assert client_key("10.0.0.1", "1.1.1.1, 203.0.113.1", proxies) == "203.0.113.1"
    assert client_key("10.0.0.1", "203.0.113.1, 192.168.3.4", proxies) == "203.0.113.1"
    assert client_key("10.0.0.1", "junk", proxies) == "10.0.0.1"
    assert (
        client_key("2001:db8:1:2:aaaa::1", None, ())
        == client_key("2001:db8:1:2:bbbb::9", None, ())
        == "2001:db8:1:2::/64"
    )
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        parse_networks("10.0.0.1, proxy.example")


def test_chain_down_gives_502_not_500(ledger: Ledger) -> None:
    """The gateway reaches the chain through a relay the test cuts: the timelines answer 502 problems, public
    verification reports the chain as unreadable; with the chain back, they answer again."""
    digest = issue(ledger, "HOSP")[0]["digest"]
    relay = ChainRelay(str(ledger.chain.w3.provider.endpoint_uri))  # type: ignore[attr-defined]
    with gateway(ledger, rpc_url=relay.url, **UNLIMITED) as gw, gw.client() as c:
        paths = [f"/public/certificates/{digest}/timeline", f"/public/certificates/{digest}/timeline.html"]
        assert [c.get(p).status_code for p in paths] == [200, 200]
        relay.cut()
        try:
            for path in paths:
                answer = c.get(path)
                assert answer.status_code == 502, gw.log()
                assert "chain" in problem_body(answer, 502)["detail"]
            report = c.post("/public/verify", json={"digest": digest})
            assert report.status_code in (200, 502), report.text
            if report.status_code == 200:
                assert report.json()["verified"] is False
            assert c.get(f"/public/certificates/{UNKNOWN_DIGEST}/timeline").status_code in (404, 502)
        finally:
            relay.restore()
        assert [c.get(p).status_code for p in paths] == [200, 200]
        assert gw.alive(), gw.log()


def test_a_digest_alone_reveals_no_dates_and_no_field_values(gw: Gateway, ledger: Ledger) -> None:
    """A birth certificate looked up by digest: status, issuer and the chain's facts, never the date of birth
    (validity dates), a field value or how many fields it has; verified means the chain checks passed and the
    certificate is within its validity period, a verdict in words naming no date (red team round 81)."""
    import io

    from ledger.formats.certificate import validate_record
    from ledger.services.issuance import issue_records

    record = {
        "id": "BC-1990-0517",
        "type": "birth-certificate",
        "valid_from": "1990-05-17",
        "subject": {"name": "Li Na", "date_of_birth": "1990-05-17", "place_of_birth": "Shenzhen"},
    }
    out = io.StringIO()
    issue_records(ledger, [validate_record(record, 1, department="HOSP")], "HOSP", out=out)
    document = json.loads(out.getvalue())
    secrets = ("1990", "05-17", "Li Na", "Shenzhen", "date_of_birth", "BC-1990")
    with gw.client() as c:
        by_digest = c.post("/public/verify", json={"digest": document["digest"]})
        assert by_digest.status_code == 200, by_digest.text
        report = by_digest.json()
        assert report["verified"] is True and report["status"] == "valid" and report["issuer"] == "HOSP"
        assert {check["name"] for check in report["checks"]} <= {
            "chain",
            "merkle_proof",
            "anchored",
            "confirmations",
            "issuer",
            "department_key",
            "signature",
            "type_authority",
            "status",
            "validity",
            "witnessed",
        }
        (validity,) = [check for check in report["checks"] if check["name"] == "validity"]
        assert validity["ok"] and not any(c.isdigit() for c in validity["detail"]), validity
        pages = [
            by_digest.text,
            c.get(f"/public/certificates/{document['digest']}/timeline").text,
            c.get(f"/public/certificates/{document['digest']}/timeline.html").text,
        ]
        for text in pages:
            words = re.sub(r"0x[0-9a-fA-F]+", "0x…", text)  # hashes and addresses may contain "1990" by chance
            assert not [s for s in secrets if s in words], text
        # the holder, who sends the file, learns the validity check as well (it already holds every field)
        with_file = c.post("/public/verify", json={"document": document}).json()
        assert "validity" in {check["name"] for check in with_file["checks"]}


def test_signed_in_calls_are_served_while_public_verification_is_flooded(gw: Gateway, ledger: Ledger) -> None:
    """A flood of big (allowed) documents on public verification does not hold a signed-in department's call
    behind it: verification of anything bigger than a certificate waits for one of a few worker threads, so the
    event loop keeps accepting and answering everyone else. Relative, not timed against a bound: a signed-in
    call made while the flood is in flight is answered faster than the flood's own requests (queued behind the
    flood on the event loop, it would take as long as they do)."""
    import statistics
    import threading
    import time

    document = issue(ledger, "MKT")[0]
    heavy = json.loads(json.dumps(document))
    for i in range(1900):
        heavy["fields"][f"subject.f{i}"] = "x" * 64
        heavy["salts"][f"subject.f{i}"] = "00" * 16
    body = json.dumps({"document": heavy}).encode()
    flooders, stop = 16, threading.Event()
    flood_latencies: list[float] = []
    lock = threading.Lock()

    def flood() -> None:
        with gw.client() as own:
            while not stop.is_set():
                started = time.perf_counter()
                answer = own.post("/public/verify", content=body, headers={"Content-Type": "application/json"})
                assert answer.status_code == 200, answer.text[:300]
                with lock:
                    flood_latencies.append(time.perf_counter() - started)

    with gw.client() as c:
        headers = sign_in(c, ledger, "PSB")
        assert c.post("/public/verify", json={"document": document}).json()["verified"] is True  # batch cached
        threads = [threading.Thread(target=flood, daemon=True) for _ in range(flooders)]
        for t in threads:
            t.start()
        try:
            while len(flood_latencies) < 2 * flooders:  # the flood is flowing (every flooder answered about twice)
                stop.wait(0.05)
            signed_in = []
            for _ in range(7):
                started = time.perf_counter()
                assert c.get("/auth/me", headers=headers).status_code == 200
                signed_in.append(time.perf_counter() - started)
        finally:
            stop.set()
            for t in threads:
                t.join()
    print(
        f"signed-in calls: median {statistics.median(signed_in) * 1000:.1f} ms; flood requests: median "
        f"{statistics.median(flood_latencies) * 1000:.1f} ms over {len(flood_latencies)}"
    )
    assert statistics.median(signed_in) < statistics.median(flood_latencies)
    assert gw.alive(), gw.log()


def test_a_body_naming_a_key_twice_is_refused_small_or_big(gw: Gateway, ledger: Ledger) -> None:
    """A client sends a document whose JSON names a key twice, hoping the gateway reads one value and a person or
    another parser the other. Refused with a 422 naming the key, whether the body is parsed on the event loop
    (certificate-sized) or in a worker thread (bigger than 64 KiB: its duplicate-key check runs there too)."""
    document = issue(ledger, "MKT")[0]
    small = json.dumps({"document": document})
    heavy = json.loads(json.dumps(document))
    for i in range(1900):
        heavy["fields"][f"subject.f{i}"] = "x" * 64
        heavy["salts"][f"subject.f{i}"] = "00" * 16
    big = json.dumps({"document": heavy})
    assert len(big) > 64 * 1024
    with gw.client() as c:
        for body in (small, big):
            twice = body[:-1] + ', "document": {"id": "other"}}'
            answer = c.post("/public/verify", content=twice.encode(), headers={"Content-Type": "application/json"})
            assert answer.status_code == 422, (len(body), answer.text[:300])
            assert "duplicate key 'document'" in answer.json()["detail"], answer.text[:300]
            assert (
                c.post(
                    "/public/verify", content=body.encode(), headers={"Content-Type": "application/json"}
                ).status_code
                == 200
            )


def test_a_duplicate_key_cannot_hide_from_the_key_count(gw: Gateway, ledger: Ledger) -> None:
    """The guard proves most bodies free of duplicates by counting their keys (``'":'``) against the members orjson
    kept. A client tries to make the counts agree around a duplicate: a colon after spaces, a tab or a newline (not
    counted), a duplicate nested deep, a ``\\":`` inside a key or a value. Each duplicate is refused (422 naming the
    key); a genuine document spelled the same ways is verified."""
    document = issue(ledger, "MKT")[0]
    compact = json.dumps({"document": document}, separators=(",", ":"))
    issuer = document["fields"]["issuer"]
    assert isinstance(document["digest"], str)
    forged = (
        # a second "digest" whose colon follows a space: without the space check the counts would agree
        compact.replace('{"document":{', '{"document":{"digest" :"0x' + "00" * 32 + '",', 1),
        compact.replace('"fields":{', '"fields":{"issuer"\t:"HOSP",', 1),
        compact.replace('"fields":{', '"fields":{"issuer"\n:"HOSP",', 1),
        compact.replace('"fields":{', '"fields":{"note\\":":"x\\":","issuer":"HOSP",', 1),
        compact[:-1] + ',"document":{"a\\":":1}}',
    )
    with gw.client() as c:
        for body in forged:
            answer = c.post("/public/verify", content=body.encode(), headers={"Content-Type": "application/json"})
            assert answer.status_code == 422, (body[-80:], answer.text[:300])
            assert "duplicate key" in answer.json()["detail"], answer.text[:300]
        spelled = (
            compact,
            json.dumps({"document": document}),  # ": " after every key
            compact.replace('"fields":', '"fields" :', 1),
            compact.replace('"fields":', '"fields"\n:', 1),
        )
        for body in spelled:
            answer = c.post("/public/verify", content=body.encode(), headers={"Content-Type": "application/json"})
            assert answer.status_code == 200 and answer.json()["verified"], answer.text[:300]
            assert answer.json()["issuer"] == issuer


def test_only_a_genuine_token_may_send_more_than_a_certificate(gw: Gateway, ledger: Ledger) -> None:
    """Bodies are parsed before a forged token's 401: without a token this gateway minted, a body is held to
    1 MiB (413) and 8,192 values (422), whatever the Authorization header says."""
    big = (
        b'{"records": ['
        + b",".join([b'{"id": "B", "type": "permit", "subject": {"n": "' + b"x" * 1000 + b'"}}'] * 2000)
        + b"]}"
    )
    many = b'{"records": [' + b",".join([b"1"] * 10_000) + b"]}"
    assert 2**20 < len(big) < 4 * 2**20
    with gw.client() as c:
        issuer = sign_in(c, ledger, "HOSP")
        for headers in (
            {},
            {"Authorization": "Bearer x.y.z"},
            {"Authorization": "Bearer " + forged_token({"v": 1, "sub": "HOSP", "exp": 2**40})},
        ):
            problem_body(
                c.post("/certificates", content=big, headers={**headers, "Content-Type": "application/json"}), 413
            )
            problem_body(
                c.post("/certificates", content=many, headers={**headers, "Content-Type": "application/json"}), 422
            )
        # the issuer's own token: past the guard (the records are then judged one by one)
        answer = c.post("/certificates", content=many, headers={**issuer, "Content-Type": "application/json"})
        assert answer.status_code == 422 and "values" not in answer.json()["detail"], answer.text[:300]
        answer = c.post("/certificates", content=big, headers={**issuer, "Content-Type": "application/json"})
        assert answer.status_code != 413, answer.text[:300]
