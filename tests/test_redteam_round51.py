"""Red team round 51 against what landed today (round 50's spelling check; the gateway's clients, the relaying
gateway and the insider). Each attack was written failing first.

1. (A department writing its logs past the library: it holds the logs' key; or an insider rewriting entries not yet
   anchored, whose hashes are unkeyed) store and anchor an access-log entry whose text is not the canonical JSON of
   its body: spaced out, or naming a key twice (``"outcome":"refused"`` first, the served read last). Round 50 left
   the access log's check open: ``GET /audit/logs/access/check`` and ``ledger reconcile`` hashed the stored text and
   called the log intact, and the access listings (a certificate's reads, shown to its holder and issuer) showed the
   body as Python reads it (the last of a key named twice) with no word that another parser reads another. The same
   held for the erasures log through the auditor's check route (``erasure.checked_log`` alone flagged it).
2. (An anonymous client) behind a stateless translator that shows a gateway reached over IPv6 only each IPv4 client
   as an address of RFC 6052's well-known prefix (SIIT-DC: ``64:ff9b::198.51.100.7``), or through a Teredo relay,
   spend the public budget of every IPv4 client: the rate limits keyed IPv6 clients by their /64, one for all of them
   (round 11a's IPv4-mapped addresses, by another prefix).
3. (No adversary: round 50's check against honest entries) a body holding a double of magnitude 2**53 or more
   (``1e16``) is written by the ledger as RFC 8785 spells it, an integer's digits; read back they are a Python int
   past ±2**53, which canonical JSON has no spelling for, so ``spelling_problem`` called the ledger's own text another
   spelling (replay's ``body_invalid``, an erasure attested to no reader of the library, and since finding 1 the
   access log's check), where the court's verifier reads the digits as the double they are exactly and passes it.
4. (As 1, against the auditor) the auditor's listing of any log (``GET /audit/logs/{log}``) showed an entry naming a
   key twice as Python reads it (the last), with no word that other parsers read the first.

Held (no change; docs/threat-model.md, round 51 rows, and the helper's report): a spelling that canonicalises to
the same text but differs elsewhere (number forms ``1.0``/``1e0``/``-0``, escapes ``\u0041``, key order, a BOM, NFD
for NFC) is reported: the stored bytes are compared with the canonical bytes whole, and NFC/NFD are other code
points, read as such by every reader; an entry's witness checkpoint text is signed as written (a base64 root spelt
with stray low bits needs the log key, and both verifiers decode it alike); a department's token on another
department's certificate, consents, grants or anchoring is refused (403/404), an auditor reads every log by design;
a paging cursor naming another list's record is a 422; consent and subject assertions bind the request, the
ledger's consent key (listings) and a single-use nonce, and spend nothing on a refused cursor.

Real anvil, real database.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledger.client import Ledger
from ledger.formats.canonical import canonical_json
from ledger.services import accesslog, erasure, issuance, logchain

from .api_support import Clock, bearer, login, make_client, register
from .conftest import make_records, write_jsonl
from .insider_support import SPELLINGS, written_past_the_library


def _read(ledger: Ledger, department: str, certificate: str) -> None:
    accesslog.record(
        ledger,
        certificate=certificate,
        issuer=department,
        action="read",
        outcome="served",
        actor="VER",
        signer=None,
        at=datetime.now(UTC),
        purpose="licence check",
    )


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_an_access_entry_stored_in_another_spelling_than_its_canonical_json_is_reported(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    """Finding 1: the access log's check names the entry (``body_invalid``), and its listing says it is not what the
    ledger writes, where both passed it."""
    honest, spelt = "0x" + "51" * 32, "0x" + "5e" * 32
    _read(ledger, fresh_department, honest)
    with monkeypatch.context() as patch:
        written_past_the_library(patch, logchain.LOG_ACCESS, spelling, twice='"outcome":"refused"')
        _read(ledger, fresh_department, spelt)
    assert accesslog.anchor(ledger, fresh_department)
    found = logchain.check_log(ledger, logchain.LOG_ACCESS, fresh_department)
    assert [(d.kind, d.seq) for d in found] == [("body_invalid", 2)], found
    assert "canonical" in found[0].detail
    (listed,) = accesslog.entries(ledger, department=fresh_department, certificate=spelt)
    # spaced out, its text no longer holds the certificate as the ledger writes it: listed as a marker (its place and
    # body_error, not its text), as any entry the certificate's key finds whose text does not name it
    assert listed.get("body_error"), listed
    (fine,) = accesslog.entries(ledger, department=fresh_department, certificate=honest)
    assert "body_error" not in fine


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_an_erasure_entry_stored_in_another_spelling_is_named_by_the_logs_check(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    """Finding 1, the erasures log through the auditor's check (``GET /audit/logs/erasures/check``)."""
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / "rt51.jsonl", make_records(1)), fresh_department, out=out)
    digest = json.loads(out.getvalue().splitlines()[0])["digest"]
    with monkeypatch.context() as patch:
        written_past_the_library(patch, erasure.LOG, spelling, twice='"outcome":"refused"')
        erasure.erase(ledger, digest, basis="objection", by="officer-51")
    logchain.anchor_pending(ledger, erasure.LOG, fresh_department)
    found = logchain.check_log(ledger, erasure.LOG, fresh_department)
    assert [(d.kind, d.seq) for d in found] == [("body_invalid", 1)], found
    flagged, attested = erasure.checked_log(ledger, fresh_department)
    assert digest not in attested
    assert [(d.kind, d.seq) for d in flagged] == [("body_invalid", 1)]


@pytest.mark.parametrize(
    ("one", "another", "keyed"),
    [
        ("64:ff9b::c633:6407", "64:ff9b::cb00:7109", "198.51.100.7"),  # RFC 6052's well-known prefix (SIIT-DC)
        ("64:ff9b::198.51.100.7", "64:ff9b::203.0.113.9", "198.51.100.7"),  # the same, written with its dots
        ("2001:0:4136:e378:8000:63bf:3cff:9bf8", "2001:0:4136:e378:8000:63bf:34ff:8ef6", "195.0.100.7"),  # Teredo
    ],
)
def test_ipv4_clients_written_in_an_ipv6_translation_prefix_do_not_share_one_rate_limit(
    one: str, another: str, keyed: str
) -> None:
    """Finding 2 (an anonymous client): behind a stateless translator that shows the gateway, reached over IPv6
    only, each IPv4 client as an IPv6 address carrying it (SIIT-DC, RFC 7755: ``64:ff9b::198.51.100.7``), or a
    Teredo relay (``2001:0:<server>:<flags><port><client>``), every IPv4 client of the internet shared one /64
    (``64:ff9b::/64``, one per Teredo server), so one anonymous client spending its public budget locked all the
    others out (429), as round 11a's IPv4-mapped addresses did. Keyed now as the IPv4 address they carry, directly
    or through a trusted proxy's X-Forwarded-For."""
    from api.ratelimit import client_key, parse_networks

    assert client_key(one, None, ()) == keyed
    assert client_key(one, None, ()) != client_key(another, None, ())
    trusted = parse_networks("10.0.0.5")
    assert client_key("10.0.0.5", f"192.0.2.1, {one}", trusted) == keyed
    # a proxy reached through the translator, trusted as written either way, is still the proxy it is
    for written in ("10.0.0.5", "64:ff9b::10.0.0.5"):
        assert client_key("64:ff9b::a00:5", one, parse_networks(written)) == keyed
    # a native IPv6 client is still keyed by its /64
    assert client_key("2001:db8:1:2::7", None, ()) == "2001:db8:1:2::/64"


@pytest.mark.parametrize("number", [1e16, 12345678901234568.0, -1e17, 1e20])
def test_an_entry_the_ledger_wrote_with_a_number_past_2_53_is_not_reported_as_spelt_otherwise(
    ledger: Ledger, fresh_department: str, number: float
) -> None:
    """Finding 3 (round 50's check reporting honest entries): a body holding a double of magnitude 2**53 or more is
    written by the ledger as canonical JSON spells it, an integer's digits (``10000000000000000``); read back, those
    digits are a Python int past ±2**53, which canonical JSON has no spelling for, so ``spelling_problem`` called the
    ledger's own text another spelling (replay's ``body_invalid``; an erasure so written attested to no reader of the
    library), where the court's verifier reads such digits as the double they exactly are and passes the entry: one
    entry, two verdicts. Digits that are no double exactly (``9007199254740993``) are refused by both."""
    text = canonical_json({"n": number}).decode()
    assert logchain.spelling_problem(text, json.loads(text)) is None
    # digits that are no double exactly: 2**53 + 1, and 2**60 as RFC 8785 spells it (its shortest digits), which
    # both readers refuse and the ledger no longer writes (red team round 52o: canonical_json refuses it)
    for inexact in ('{"n":9007199254740993}', '{"n":1152921504606847000}'):
        assert logchain.spelling_problem(inexact, json.loads(inexact)) is not None
    body = {
        **accesslog.entry_body(
            certificate="0x" + "53" * 32,
            action="read",
            outcome="served",
            actor="VER",
            signer=None,
            at=datetime.now(UTC),
        ),
        "n": number,
    }
    logchain.append(ledger, logchain.LOG_ACCESS, fresh_department, body, created_at=datetime.fromisoformat(body["at"]))
    assert logchain.check_log(ledger, logchain.LOG_ACCESS, fresh_department) == []


@pytest.mark.parametrize(
    "spelt",
    [
        '{"a":1.0,"b":"x"}',  # a number spelt otherwise
        '{"a":1e0,"b":"x"}',
        '{"a":-0,"b":"x"}',
        '{"a":1,"b":"\\u0078"}',  # an escape where none is due
        '{"b":"x","a":1}',  # keys in another order
        '\ufeff{"a":1,"b":"x"}',  # a byte order mark
        '{"a":1,"b":"x"}\n',  # a newline after
        '{"a":1,"b":"x","a":1}',  # a key named twice, both the same
    ],
)
def test_a_spelling_that_reads_as_the_canonical_body_is_still_reported(spelt: str) -> None:
    """Held: whatever reads as the canonical body ``{"a":1,"b":"x"}`` but is spelt otherwise is reported (or is no
    JSON the ledger reads): the stored bytes are compared with the canonical bytes whole."""
    try:
        body = logchain.stored_loads(spelt)
    except ValueError:
        return
    assert logchain.spelling_problem(spelt, body) is not None


def test_the_auditors_listing_shows_an_entry_spelt_otherwise_as_stored(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 4: the auditor's listing of any log (``GET /audit/logs/{log}``) showed an entry naming a key twice as
    Python reads it (the served read, the last ``outcome``) with no word that its stored text says ``refused`` first
    to other parsers; it now says so (``body_error``) and shows the stored text."""
    with monkeypatch.context() as patch:
        written_past_the_library(patch, logchain.LOG_ACCESS, "a key named twice", twice='"outcome":"refused"')
        _read(ledger, fresh_department, "0x" + "54" * 32)
    client = make_client(ledger, Clock())
    auditor = register(ledger, "AUD", "auditor")
    answer = client.get(
        f"/audit/logs/access?department={fresh_department}", headers=bearer(login(client, ledger, auditor))
    )
    assert answer.status_code == 200, answer.text
    (entry,) = answer.json()
    assert "canonical" in (entry.get("body_error") or ""), entry
    assert entry["body_text"].startswith('{"outcome":"refused",'), entry
