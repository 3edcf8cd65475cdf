"""Red team, round 34b: an anonymous client, a holder editing its document or credential, an applicant lying in
its input, and a gateway relaying another's messages, against this session's most recent code: public
verification's native call (gw3: hex checked where it is read, member names matched by identity then bytes, the
report written into stack buffers), the gateway's status list check of credentials (round 33), and the exact
number readers (num29) of the gateway's guard, the library and the court's verifier.

Each test is one attack, named in its docstring with the adversary and what it tries. Real anvil, real database
(SQLite, or PostgreSQL with LEDGER_TEST_DATABASE_URL), the gateway in process, the CLI and the court's verifier;
no mocks.
"""

from __future__ import annotations

import asyncio
import copy
import io
import json
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from api import services
from api.limits import NOT_PARSED, JsonRequest, Limits, Unreadable, parse_json_counted
from ledger.client import Ledger
from ledger.formats import vc
from ledger.formats.canonical import NATIVE, exact_json_loads, strict_json_loads
from ledger.onchain.chainread import Finality
from ledger.services import issuance, statuslist
from ledger.services.verify import ChainView, verify_certificate

from .api_support import Clock, bearer, login, make_client, problem_body
from .cli_support import run_cli
from .conftest import make_records, write_jsonl
from .evidence_support import SCRIPT_MODULE
from .gateway_process import gateway
from .public_verify_support import with_hidden

DEPARTMENT = "MKT"


@pytest.fixture(scope="module")
def batch(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = io.StringIO()
    path = write_jsonl(tmp_path_factory.mktemp("rt34b") / "rt34b.jsonl", make_records(4))
    issuance.issue_file(ledger, path, DEPARTMENT, batch_size=4, out=out)
    for _ in range(Finality(ledger.settings.confirmations).reorg_depth + 2):  # final: the view keeps the anchor
        ledger.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    return [json.loads(line) for line in out.getvalue().splitlines()]


# -- public verification's native call against its Python reference ---------------------------------------------


def _warm_view(ledger: Ledger) -> ChainView:
    view = ChainView(ledger.chain, ledger.settings.confirmations, max_head_age=3600.0)
    view.refresh()
    return view


def _native_and_reference(view: ChainView, document: Any) -> tuple[bytes | None, bytes | None]:
    if view.warm() is None:  # the genesis is rechecked every few seconds: a loaded machine passes it
        view.refresh()
    reference = services.fast_public_report(view, document)
    if reference is None:  # the batch not met yet at this head: verified reading the chain, as the gateway does
        verify_certificate(document, view)
        reference = services.fast_public_report(view, document)
    native = services.fast_public_bytes(view, document)
    return native, None if reference is None else services.json_bytes(reference)


def _with_notes(view: ChainView, document: dict[str, Any], count: int) -> ChainView:
    """A copy of ``view`` whose last sync noted that ``document`` replaces ``count`` certificates (a status detail
    of 71 bytes each: the report grows past the native call's first buffer at a point that moves with count)."""
    copied = copy.copy(view)
    root = bytes.fromhex(document["anchor"]["root"][2:])
    key = (DEPARTMENT.encode().ljust(32, b"\x00"), root, bytes.fromhex(document["digest"][2:]))
    final, fresh = (dict(part) for part in view._replaced)
    fresh[key] = tuple(i.to_bytes(32, "big") for i in range(1, count + 1))
    copied._replaced = (final, fresh)
    return copied


@pytest.mark.skipif(getattr(NATIVE, "public_answer", None) is None, reason="the native core is not built")
def test_the_native_report_is_the_references_across_its_first_buffer_and_for_rebuilt_member_names(
    ledger: Ledger, batch: list[dict[str, Any]]
) -> None:
    """Adversary: an anonymous client posting certificate files that the native call (gw3) and the Python
    reference might read or write differently: every report length around the native call's 4 KB stack buffer (0
    to 110 supersession notes, one more each time: the move to the heap falls at every point of a note's 71
    bytes), member names that are not Python's interned ones (parsed by orjson, by json, in another order), a
    presentation. Each answer must be the reference's bytes; the usual ones must be answered natively, or the
    comparison proves nothing.
    Holds: no difference found."""
    view = _warm_view(ledger)
    doc = batch[0]
    native, reference = _native_and_reference(view, doc)
    assert native is not None and native == reference
    lengths = set()
    for count in range(0, 110):
        noted = _with_notes(view, doc, count)
        native, reference = _native_and_reference(noted, doc)
        assert native is not None and native == reference, count
        lengths.add(len(native))
    assert min(lengths) < 4096 < max(lengths)
    presentation = with_hidden(batch[1], "subject.name")
    for document in (batch[1], presentation):
        text = json.dumps(document)
        rebuilt = [
            orjson.loads(text),
            json.loads(text),
            json.loads(json.dumps(dict(reversed(list(document.items()))))),
            {k: (dict(reversed(list(v.items()))) if isinstance(v, dict) else v) for k, v in document.items()},
        ]
        for again in rebuilt:
            native, reference = _native_and_reference(view, again)
            assert native is not None and native == reference


# -- the status list check of credentials: the gateway and `ledger verify` on the same credential ----------------


def _entries_edited(credential: dict[str, Any], edit: Any) -> dict[str, Any]:
    changed = copy.deepcopy(credential)
    changed["credentialStatus"] = edit(changed["credentialStatus"])
    return changed


def test_the_gateway_and_ledger_verify_agree_on_every_status_entry_a_holder_can_write(
    ledger: Ledger, batch: list[dict[str, Any]], fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: a holder editing its credential's BitstringStatusListEntry entries past round 33's fix: lists on
    another host (its own leaf, a neighbour's, an index beyond the batch), the purposes swapped, an entry repeated
    or dropped, the list of another batch. `POST /verify`, `POST /public/verify` and `ledger verify` must give one
    verdict for each; a neighbour's leaf is refused whichever host names it (the leaf is the store's, whatever
    list is named), and a list on another host is "not checked", never fetched by the gateway. Holds."""
    client = make_client(ledger, Clock())
    base = client.app.state.settings.public_url  # type: ignore[attr-defined]
    mine, neighbour, other_batch = batch[2], batch[3], batch[0]
    index = statuslist.leaf_index(ledger, mine["digest"])
    other = statuslist.leaf_index(ledger, neighbour["digest"])
    elsewhere = "https://lists.example.org"
    genuine = vc.to_credential(mine, status_list=(base, index))

    def swapped(status: list[dict[str, Any]]) -> list[dict[str, Any]]:
        purposes = [e.get("statusPurpose") for e in status]
        for entry, purpose in zip(status, [purposes[0], *reversed(purposes[1:])], strict=True):
            entry["statusPurpose"] = purpose
        return status

    foreign = vc.to_credential(other_batch, status_list=(base, statuslist.leaf_index(ledger, other_batch["digest"])))
    variants: dict[str, tuple[dict[str, Any], bool]] = {
        "genuine": (genuine, True),
        "own leaf, another host": (vc.to_credential(mine, status_list=(elsewhere, index)), True),
        "neighbour's leaf, another host": (vc.to_credential(mine, status_list=(elsewhere, other)), False),
        "index past the batch, another host": (vc.to_credential(mine, status_list=(elsewhere, 4000)), False),
        "index past the batch": (vc.to_credential(mine, status_list=(base, 4000)), False),
        "purposes swapped": (_entries_edited(genuine, swapped), False),
        "an entry repeated": (_entries_edited(genuine, lambda s: [*s, s[-1]]), False),
        "an entry dropped": (_entries_edited(genuine, lambda s: s[:-1]), False),
        "another batch's lists": (
            _entries_edited(genuine, lambda s: [s[0], *foreign["credentialStatus"][1:]]),
            False,
        ),
    }
    token = login(client, ledger, fresh_department)
    for what, (credential, expected) in variants.items():
        path = tmp_path / "credential.json"
        path.write_text(json.dumps(credential))
        done = run_cli(ledger, "verify", str(path), "--json")
        assert done.returncode == (0 if expected else 1), (what, done.stdout[-2000:], done.stderr[-2000:])
        for route, headers in (("/verify", bearer(token)), ("/public/verify", {})):
            answer = client.post(route, json={"document": credential}, headers=headers)
            assert answer.status_code == 200, (what, route, answer.text)
            assert answer.json()["verified"] is expected, (what, route, answer.json())


# -- exact numbers: the gateway's guard, the library's readers and the court's verifier --------------------------


def _outcome(read: Any, raw: bytes) -> tuple[str, ...]:
    try:
        value = read(raw)
    except Exception:  # noqa: BLE001 - any refusal counts as one; which exception is each reader's own
        return ("refused",)
    return ("read", repr(value) if isinstance(value, float) else json.dumps(value, sort_keys=True))


class _Limits:
    json_depth = 32
    json_string_chars = 100_000


def _guard(raw: bytes) -> Any:
    """What the gateway's handler gets for a body: the guard's parse, or its own (exact_json_loads) after it."""
    value, detail, _ = parse_json_counted(raw, _Limits, 100_000)  # type: ignore[arg-type]
    if detail is not None:
        raise ValueError(detail)
    if type(value) is Unreadable:
        raise value.error
    return exact_json_loads(raw) if value is NOT_PARSED else value


def _court(raw: bytes) -> Any:
    court = SCRIPT_MODULE
    return court.loads_bounded(
        raw,
        object_pairs_hook=court.unique_keys,
        parse_constant=court.not_json,
        parse_float=court.exact_float,
        parse_int=court.exact_int,
    )


def _number_texts() -> list[str]:
    texts = {
        "0", "-0", "0.0", "-0.0", "1e20", "1E+20", "1.00000000000000008e20", "100000000000000000001.0", "1e-400",
        "1e400", "-1E400", "5e-324", "2.4703282292062327e-324", "2.2250738585072011e-308", "1.7976931348623159e308",
        "9007199254740992", "9007199254740993", "9007199254740994", "18446744073709551616", "123456789012345e99",
        "0.0000000000001e-99", "1e-9999999999999999999", "0e-9999999999999999999", "-1234567890123.45",
        "-0.1000000000001", "0.30000000000000004", "1e001", "1e-07", "0.1e1", "12345678901234.5",
    }  # fmt: skip
    rnd = random.Random(34)
    while len(texts) < 2500:
        digits = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 24))).lstrip("0") or "0"
        if len(digits) > 1 and rnd.random() < 0.5:
            cut = rnd.randint(1, len(digits) - 1)
            digits = f"{digits[:cut]}.{digits[cut:]}"
        if rnd.random() < 0.5:
            exponent = str(rnd.randint(0, 400)).zfill(rnd.randint(1, 4))
            digits += rnd.choice("eE") + rnd.choice(("", "+", "-")) + exponent
        texts.add(("-" if rnd.random() < 0.3 else "") + digits)
    return sorted(texts)


def test_every_reader_of_text_from_outside_reads_each_number_alike() -> None:
    """Adversary: an applicant (or a holder) spelling a number so that one reader takes it and another refuses it,
    or reads another value: the gateway's guard (orjson, the native json_fast rule, then the exact reader), the
    library's strict reader (the CLI's documents and records) and the court's verifier (its own reader, no library
    code). 2,500 number texts - respellings, underflows, overflows, integers around 2**53 and 2**64, long and short
    exponents - alone, in an array, as a member and beside a float. Holds: the three agree on every one."""
    disagreements = []
    for text in _number_texts():
        for body in (text, f"[{text}]", f'{{"a":{text}}}', f'{{"a":[1.5,{text}]}}'):
            raw = body.encode()
            read = {_outcome(reader, raw) for reader in (_guard, strict_json_loads, _court)}
            if len(read) != 1:
                disagreements.append((body, read))
    assert not disagreements, disagreements[:10]


# -- a body nobody can read: answered before any dependency's budget, so read once --------------------------------


def _guard_limits() -> Limits:
    return Limits(
        body_bytes=4 * 2**20,
        anonymous_body_bytes=2**20,
        header_bytes=16 * 1024,
        token_bytes=1024,
        json_depth=32,
        json_values=200_000,
        anonymous_json_values=8192,
        json_string_chars=128 * 1024,
    )


def test_a_body_the_guard_could_not_read_is_refused_once_and_as_422_on_every_route(ledger: Ledger) -> None:
    """Adversary: an anonymous client sending bodies nobody can read - a number whose text is not its value after
    8,000 others, JSON with garbage after it, an integer of 5,000 digits - to the routes whose rate limit was a
    dependency (`POST /public/consents/mine`, `/auth/challenge`; `/certificates` with no token). FastAPI reads the
    body before any dependency, so these were answered 422 at any rate, never 429, and the body was read twice: by
    the guard (which knew it was unreadable) and again by the handler - twice the free work per request of
    `POST /public/verify`'s 429 (22 against 11 CPU-ms for 128 KB of numbers). The 5,000-digit integer got 400
    "There was an error parsing the body" there and 422 naming it at `/public/verify`. Now the public consent and
    sign-in routes spend their budget before the body is read (as `/public/verify` does), the guard hands its
    refusal to the handler, which raises it without reading the body again, and every route answers 422 naming
    what was wrong."""
    numbers = b'{"assertion": [' + b",".join([b"1234567890123.5"] * 8000) + b'], "x": 1.00000000000000000001}'
    garbage = b'{"assertion": {"a": "' + b"a" * 1000 + b'"}}x'
    long_integer = b'{"assertion": ' + b"1" * 5000 + b"}"
    for body, named in ((numbers, "1.00000000000000000001"), (garbage, ""), (long_integer, "too long to read")):
        value, detail, _ = parse_json_counted(body, _guard_limits(), 8192)
        assert detail is None and type(value) is Unreadable, body[:40]
        assert named in str(value.error), value.error

    async def no_second_read() -> Any:
        raise AssertionError("the handler read the body the guard had refused")

    refused, _, _ = parse_json_counted(numbers, _guard_limits(), 8192)
    scope = {"type": "http", "method": "POST", "path": "/", "headers": [], "ledger.parsed_json": refused}
    with pytest.raises(json.JSONDecodeError, match="not exactly representable"):
        asyncio.run(JsonRequest(scope, no_second_read).json())

    tight = make_client(
        ledger, Clock(), public_burst=2, public_per_second=0.001, signin_burst=2, signin_per_second=0.001
    )
    for route in ("/public/consents/mine", "/auth/challenge"):  # the public and the sign-in budget: 2 each
        codes = [tight.post(route, content=numbers, headers={"Content-Type": "application/json"}) for _ in range(3)]
        assert [answer.status_code for answer in codes] == [422, 422, 429], (route, codes[-1].text[:300])
    client = make_client(ledger, Clock())
    for route in ("/public/consents/mine", "/auth/challenge", "/certificates", "/public/verify"):
        for body, named in ((numbers, "not exactly representable"), (long_integer, "too long to read")):
            answer = client.post(route, content=body, headers={"Content-Type": "application/json"})
            assert answer.status_code == 422, (route, answer.status_code, answer.text[:300])
            assert named in answer.text, (route, answer.text[:300])


# -- the public budget behind a trusted proxy that writes each client's port ------------------------------------

TIGHT = {"public_burst": 3, "public_per_second": 0.001, "refused_burst": 3, "refused_per_second": 0.001}


def test_one_client_cannot_spend_every_clients_budget_behind_a_proxy_that_writes_ports(ledger: Ledger) -> None:
    """Adversary: an anonymous client of a gateway behind a trusted proxy that writes each client's address with
    its port in X-Forwarded-For (`198.51.100.7:50123`, `[2001:db8::7]:443`: Azure Application Gateway does, for
    one): no such hop read as an address, so every client was keyed on the proxy's own address, and one client's
    three requests spent the public budget of all of them (429 for everyone). Now a hop's port is set aside (the
    hops are still taken right to left, from the proxy's own line, and a client's own line is not believed), and
    each client has its own budget. A real gateway process (uvicorn) behind the test's proxy address."""
    path = "/public/certificates/0x" + "cd" * 32 + "/timeline"
    with gateway(ledger, trusted_proxies="127.0.0.1", **TIGHT) as proxied, proxied.client() as c:
        for _ in range(3):
            assert c.get(path, headers={"X-Forwarded-For": "198.51.100.7:50123"}).status_code == 404
        problem_body(c.get(path, headers={"X-Forwarded-For": "198.51.100.7:50124"}), 429)  # the same client
        for other in ("198.51.100.8:50125", "[2001:db8::7]:443", "[2001:db8:0:1::9]"):
            assert c.get(path, headers={"X-Forwarded-For": other}).status_code == 404, other
        # a line of the client's own, to the left of the proxy's, is not believed: still 198.51.100.7
        lines = [("X-Forwarded-For", "203.0.113.9:1"), ("X-Forwarded-For", "198.51.100.7:50126")]
        problem_body(c.get(path, headers=lines), 429)
