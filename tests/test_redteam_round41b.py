"""Red team round 41b: three things that landed on 2026-12-06 (replay's native input commitments, round 40's
credential envelope, the gateway's query guard and its database refusals).

Each test is one attack, named in its docstring with the adversary and what it tries. Real anvil, real database
(SQLite, or PostgreSQL with LEDGER_TEST_DATABASE_URL), the gateway in process; no mocks.

1. A query parameter could still be smuggled past the round-40 guard with one occurrence: its name percent-escaped
   (``?depart%6Dent=INS``, which Starlette decodes to ``department`` and a proxy's access list or log, matching the
   name as written, does not see), or a parameter no route reads beside the one it does (``?Department=INS&
   department=MKT`` for a proxy that matches names without case; ``POST /public/verify?digest=<genuine>`` with a
   forged document in the body, the genuine digest being all a log shows). A parameter name is now written plainly
   (no ``%``, no ``+``) and a route refuses a parameter it does not read, naming it and the ones it reads.
2. A query the database refused inside the request guard (its sign-out check, for a token sending more than anyone
   may) went past the gateway's database handler to the catch-all, which logged the driver's traceback (the SQL
   statement) and raised it again to the server, which logged it again. The guard now leaves such a token to the
   route, every log line the gateway writes for an error names a database refusal by its class alone wherever in
   the error's chain it is, and so does the server's error log (a filter the gateway installs).

Held, and kept as guards (cheap): the native input commitments against the pure-Python reference (every native
fast path off) on generated inputs of every JSON shape and on the hand-picked ones of the brief; the holder's edits
of the credential this round tried on top of round 40's.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import text

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats import canonical, decision_input, vc

from .api_support import Clock, bearer, issue, login, make_client

# -- 1. the native input commitments against the pure-Python reference ------------------------------------------


@contextlib.contextmanager
def _pure_python() -> Iterator[None]:
    """Every native fast path the reference itself takes (flatten, salted hashes, JSON checks, digests) off."""
    names = [
        (canonical, "NATIVE"),
        (canonical, "_NATIVE_JSON_PLAIN"),
        (decision_input, "_NATIVE_INPUT_HASHES"),
        (decision_input, "_NATIVE_FLATTEN"),
        (decision_input, "_NATIVE_INPUT_COMMITMENTS"),
    ]
    saved = [getattr(module, name) for module, name in names]
    try:
        for module, name in names:
            setattr(module, name, None)
        yield
    finally:
        for (module, name), value in zip(names, saved, strict=True):
            setattr(module, name, value)


def _outcome(compute: Any) -> Any:
    try:
        return ("ok", compute())
    except Exception as exc:  # noqa: BLE001 - the error's class is the outcome compared
        return ("error", type(exc).__name__)


def _agree(secret: bytes, items: list[tuple[str, Any]]) -> None:
    """The chunk's commitments as replay computes them (native first) are the pure-Python reference's, errors
    included."""
    chunk = _outcome(lambda: decision_input.input_commitments_of(secret, items))
    with _pure_python():
        reference = _outcome(lambda: [decision_input.input_commitment_of(secret, v, d) for d, v in items])
    assert chunk == reference, (items, chunk, reference)


_ODD_KEYS = [*'~.@"\\\x7f\x1f', "input_nonce", "input_sealed", "a.b", "~0", "~1", "@applicant", "", "\u00e9", "\ud800"]
_KEYS = st.one_of(
    st.sampled_from([*_ODD_KEYS, "\U0001f600", "A", "a", "INPUT_NONCE", "input_nonce "]), st.text(max_size=5)
)
_ODD_NUMBERS = [2**53 - 1, 2**53, -(2**53) + 1, 2**63, 10**21, 1e21, 1e-7, -0.0, 5e-324, 1.7976931348623157e308, 0.1]
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(_ODD_NUMBERS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    st.sampled_from(["\ud800", "a\u2028b", "\x7f", '"\\', "\ufeff", "\u00ad"]),
)
_JSON = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=4), max_leaves=12
)


@seed(41_2)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    inputs=st.lists(st.dictionaries(_KEYS, _JSON, max_size=6), max_size=3),
    secret=st.binary(max_size=80),
    digest=st.text(alphabet="0123456789abcdefABCDEFxX", max_size=66),
)
def test_generated_inputs_commit_natively_as_the_pure_python_reference_does(
    inputs: list[dict[str, Any]], secret: bytes, digest: str
) -> None:
    """Held (kept as a guard). Adversary: an applicant (what they typed) or an insider (the stored text) choosing an
    input whose native commitment differs from the reference's, so that replay judges a tampered input clean or a
    clean one tampered: keys that escape or are the nonce and the sealed marker at any depth, non-ASCII and lone
    surrogates, numbers JCS writes oddly or refuses, bools beside ints, digests in upper case. The native pass
    answers as the reference with every native path off (round 41b ran 9,000 such chunks, 6,000 of them under
    AddressSanitizer and UBSan: no difference, no report)."""
    _agree(secret, [(digest + str(i), value) for i, value in enumerate(inputs)])


def test_hand_picked_inputs_commit_natively_as_the_pure_python_reference_does() -> None:
    """Held (kept as a guard): an input of 10,000 fields, one of 10,000 escaping keys nested, the nonce and the
    sealed marker nested (fields like any other), a top-level nonce that is an object, the floats JCS writes oddly
    and the integers it refuses, and the same text's duplicate keys as the ledger's parser reads them (the last)."""
    secret = os.urandom(32)
    _agree(
        secret,
        [
            ("0xAB" + "cd" * 31, {f"f{i}": i for i in range(10_000)}),
            ("0x01", {"x": {f"k{i}.~@": [i, -0.0] for i in range(10_000)}}),
            ("0x" + "AB" * 32, {"input_nonce": {"a": 1}, "b": {"input_nonce": 1, "input_sealed": 2}}),
        ],
    )
    for number in [1e21, -0.0, 5e-324, 1e-7, 2**53, 10**400, -(10**400), True, 1, 1.0]:
        _agree(secret, [("0x02", {"v": number, "w": {"v": [number]}})])
    parsed = canonical.json_loads('{"amount":"9999","amount":"100","item":{"k":1,"k":{"z":null}}}')
    _agree(secret, [("0x03", parsed)])


# -- 2. the holder's credential -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def genuine(ledger: Ledger) -> dict[str, Any]:
    return vc.to_credential(issue(ledger, "MKT", 1)[0])


def _refused(credential: Any) -> bool:
    try:
        vc.to_document(credential)
    except InputError:
        return True
    return False


def _hidden_empty(c: dict[str, Any]) -> None:
    c["proof"]["hidden"] = {}


def _anchor_context(c: dict[str, Any]) -> None:
    c["proof"]["@context"] = {"digest": "https://example.org/other#digest"}


def _subject_id(c: dict[str, Any]) -> None:
    c["credentialSubject"]["id"] = "did:example:someone-else"


def _issuer_name_nfd(c: dict[str, Any]) -> None:
    c["issuer"]["name"] = c["issuer"]["name"] + "\u0301"


def _status_digest_upper(c: dict[str, Any]) -> None:
    c["credentialStatus"]["digest"] = c["credentialStatus"]["digest"].upper().replace("0X", "0x")


def _status_chain_true(c: dict[str, Any]) -> None:
    c["credentialStatus"]["chainId"] = True


def _types_with_duplicate(c: dict[str, Any]) -> None:
    c["type"] = [*c["type"], "VerifiableCredential"]


def _context_with_null(c: dict[str, Any]) -> None:
    c["@context"] = [*c["@context"], None]


def _proof_set(c: dict[str, Any]) -> None:
    c["proof"] = [c["proof"], copy.deepcopy(c["proof"])]


def _valid_until_null(c: dict[str, Any]) -> None:
    c["validUntil"] = None


def _subject_type_array(c: dict[str, Any]) -> None:
    c["credentialSubject"]["type"] = [c["credentialSubject"]["type"]]


_EDITS = {
    "proof.hidden as an empty object": _hidden_empty,
    "a scoped @context in the proof renaming digest": _anchor_context,
    "the subject given an id (another holder)": _subject_id,
    "the issuer's name with a combining accent": _issuer_name_nfd,
    "the status digest in upper case": _status_digest_upper,
    "chainId as true": _status_chain_true,
    "type naming VerifiableCredential twice": _types_with_duplicate,
    "a null in @context": _context_with_null,
    "two proofs (a proof set)": _proof_set,
    "validUntil null": _valid_until_null,
    "the subject's type as an array": _subject_type_array,
}


def test_a_holders_further_edits_of_the_credential_are_refused(genuine: dict[str, Any]) -> None:
    """Held (kept as a guard, the library's reading: `ledger verify` and both gateway routes call it, round 40
    showed they refuse alike). Adversary: a holder editing the credential past what round 40 tried: a proof with an
    empty `hidden`, a scoped `@context` in the proof redefining `digest`, the subject given an `id` (naming another
    holder), the issuer's name with a combining accent, the status digest in upper case, `chainId` as `true`, a type
    or a context named twice or null, a proof set, `validUntil` null, the subject's type as an array. Each is
    refused: the envelope, every member of it, is rebuilt from the certified fields and compared as JSON."""
    assert not _refused(genuine)
    accepted = []
    for name, edit in _EDITS.items():
        edited = copy.deepcopy(genuine)
        edit(edited)
        if not _refused(edited):
            accepted.append(name)
    assert accepted == []


# -- 3. the gateway's query guard and its database refusals ---------------------------------------------------------


@pytest.fixture(scope="module")
def gateway(ledger: Ledger) -> Iterator[TestClient]:
    with make_client(ledger, Clock()) as client:
        yield client


def test_a_parameter_name_written_with_escapes_is_refused(
    ledger: Ledger, gateway: TestClient, genuine: dict[str, Any]
) -> None:
    """Adversary: an anonymous client (or a department behind a proxy) sending one parameter whose name is
    percent-escaped (`?depart%6Dent=INS`, `?l%61ng=zh`) or holds a `+`: Starlette decodes the name, so the gateway
    reads `department` (`lang`), where a proxy's access list, its log or a person reading the link, matching the
    name as written, sees no such parameter. The round-40 guard caught such a name only beside a plain one. A
    parameter name is now refused unless written plainly; values may still be escaped."""
    token = login(gateway, ledger, "MKT")
    digest = genuine["proof"]["digest"]
    smuggled = [
        ("/access-log?depart%6Dent=INS", bearer(token)),
        ("/access-log?department=MKT&li%6Dit=5", bearer(token)),
        ("/access-log?%64epartment=INS", bearer(token)),
        (f"/public/certificates/{digest}/timeline.html?l%61ng=zh", {}),
        (f"/public/certificates/{digest}/timeline.html?lang+=zh", {}),
    ]
    let_through = []
    for url, headers in smuggled:
        answer = gateway.get(url, headers=headers)
        if answer.status_code != 422 or "written plainly" not in answer.text:
            let_through.append(f"{url}: {answer.status_code} {answer.text[:160]}")
    assert let_through == []
    assert gateway.get("/access-log?department=MKT&limit=5", headers=bearer(token)).status_code == 200
    escaped_value = gateway.get("/access-log?department=%4DKT&since=2000-01-01T00%3A00%3A00Z", headers=bearer(token))
    assert escaped_value.status_code == 200, escaped_value.text
    page = gateway.get(f"/public/certificates/{digest}/timeline.html?lang=zh")
    assert page.status_code == 200, page.text[:300]


def test_a_parameter_the_route_does_not_read_is_refused(
    ledger: Ledger, gateway: TestClient, genuine: dict[str, Any]
) -> None:
    """Adversary: an anonymous client naming a parameter the route does not read beside what it sends, so that a
    proxy or a log in front of the gateway reads one thing and the gateway another: `POST /public/verify?digest=
    <a genuine certificate>` with a forged document in the body (the log shows the genuine digest verified),
    `?Department=INS&department=MKT` for a proxy matching names without case, `?department=MKT;department=INS` for
    one splitting at `;` (held: the gateway reads one department, `MKT;department=INS`, and serves none). A
    route now refuses a parameter it does not read (422 naming it and the ones it reads)."""
    token = login(gateway, ledger, "MKT")
    forged = vc.to_document(genuine)
    forged["fields"] = {**forged["fields"], "subject.name": "Mallory"}
    attempts = [
        ("POST", f"/public/verify?digest={genuine['proof']['digest']}", {}, {"document": forged}, "'digest'"),
        ("GET", "/access-log?Department=INS&department=MKT", bearer(token), None, "'Department'"),
        ("GET", "/access-log?department=MKT&flag", bearer(token), None, "'flag'"),
    ]
    let_through = []
    for method, url, headers, body, named in attempts:
        answer = gateway.request(method, url, headers=headers, json=body)
        if answer.status_code != 422 or named not in answer.text or "does not read" not in answer.text:
            let_through.append(f"{method} {url}: {answer.status_code} {answer.text[:200]}")
    assert let_through == []
    split = gateway.get("/access-log?department=MKT;department=INS", headers=bearer(token))
    assert split.status_code != 200, split.text
    honest = gateway.post("/public/verify", json={"document": vc.to_document(genuine)})
    assert honest.status_code == 200, honest.text
    assert gateway.get("/?utm_source=mail").status_code == 200  # a page ignores what it does not read


def test_a_database_refusal_inside_the_request_guard_logs_no_statement(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    """Adversary: an operator's log shipper (and whoever reads it), after an insider renamed the signed-out tokens'
    table. A department's request sending more than an anonymous body is checked for a sign-out inside the request
    guard, before the routes' exception handlers: the database's refusal reached the catch-all, which logged the
    driver's traceback with the SQL statement (and raised it again to the server, which logged it once more), and
    answered "the gateway failed". The guard now leaves such a token to the route, whose handler answers and logs the
    database's refusal by its class alone, as every error log line of the gateway now does wherever in an error's
    chain the refusal is."""
    with make_client(ledger, Clock(), max_anonymous_body_bytes=1024) as client:
        # an error the catch-all answered is raised again to the server, which logs its traceback ("Exception in
        # ASGI application"): raised here, it must not be
        client._transport.raise_server_exceptions = True  # type: ignore[attr-defined]
        token = login(client, ledger, "MKT")
        with ledger.engine.begin() as conn:
            conn.execute(text("ALTER TABLE auth_issued_token RENAME TO auth_issued_token_aside"))
        try:
            with caplog.at_level(logging.ERROR, logger="api"):
                answer = client.post(
                    "/verify", json={"document": {"fields": {"x": "y" * 4_000}}}, headers=bearer(token)
                )
        finally:
            with ledger.engine.begin() as conn:
                conn.execute(text("ALTER TABLE auth_issued_token_aside RENAME TO auth_issued_token"))
    assert answer.status_code == 500, answer.text
    assert answer.json()["detail"].startswith("the gateway's database refused a query"), answer.text
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "database refused a query" in logged, logged
    assert "SELECT" not in logged and "auth_issued_token" not in logged and "Traceback" not in logged, logged


def test_the_servers_own_log_of_an_error_raised_from_a_database_refusal_quotes_no_statement(
    ledger: Ledger, gateway: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Adversary: whoever reads the server's log. An error the gateway's catch-all answered is raised again to the
    server (Starlette does so that the server can log it), and uvicorn logs its traceback: when it was raised from a
    database refusal, the traceback quotes the refused statement. The gateway's filter on the server's error log
    writes the message and the refusal's class alone; other tracebacks are left as they are."""
    assert gateway.app is not None  # the gateway made: its problem handlers and the filter installed
    try:
        with ledger.engine.connect() as conn:
            conn.execute(text("SELECT premises FROM no_such_table_41b"))
    except Exception as refused:  # noqa: BLE001 - the driver's error, whatever its class
        try:
            raise RuntimeError("while answering") from refused
        except RuntimeError as exc:
            error = exc
    server = logging.getLogger("uvicorn.error")
    with caplog.at_level(logging.ERROR, logger="uvicorn.error"):
        server.error("Exception in ASGI application\n", exc_info=(type(error), error, error.__traceback__))
        try:
            raise ValueError("an ordinary failure")
        except ValueError:
            server.exception("Exception in ASGI application")
    assert "database refused a query" in caplog.records[0].getMessage(), caplog.text
    assert "SELECT" not in caplog.text and "no_such_table_41b" not in caplog.text, caplog.text
    assert caplog.records[1].exc_info is not None  # any other traceback is kept
