"""Red team round 54: the files and bodies others hand the ledger (sharing and consent, council approvals, status
lists, evidence bundles) and the gateway's newer routes.

1. (A relay passing a council member's approval file on, a person's authentication provider, or whoever serves a
   status list) hand the ledger a file of any size: a signed approval, a subject assertion or a status list padded
   to a gigabyte (or a name such as /dev/zero) was read whole into memory, then parsed, where every other file the
   ledger takes from others (a certificate, a bundle, an application, a list fetched from its URL) is read up to a
   bound and refused past it. Each is now refused past its bound, naming it, before it is parsed; nothing is
   recorded.
2. (A witness the ledger trusts, or whatever answers at its address: the chain's operator, who would rather no
   witness cosigned its history) answer the ledger's request for a cosignature, or for its latest checkpoint, with a
   body that never ends, in a stream or a byte at a time: the witness client read an answer whole (``read()``), so
   one such witness held every collection (the others' cosignatures with it: they are asked together), every
   command that collects after writing to the chain (issue, decide, revoke) and the gateway's background round (which
   then anchored no access or decision log entry again) for ever, and took its memory. An answer
   is now read up to a bound in size (64 KiB: a cosignature is a line) and in time (30 s), and past either it is
   that witness's refusal; the others' cosignatures count.
3. (An anonymous client of a witness, which serves anyone: the chain's operator, who would rather no witness
   cosigned its history) open connections to the witness and send nothing, or a byte now and then: the witness
   served each in a thread of its own, without bound, so a few hundred such connections from one host took every file
   it may open and no collector was answered while they stood. A witness now serves at most 128 connections at once,
   8 from one address, each for at most 60 s; one past a bound is closed at once.
4. (A department acting outside its authority, wanting its decisions out of every court's reach) publish a rule set
   holding a listed value of megabytes (the bounds count a rule set's conditions and listed values, not their size),
   then decide under it: every decision's evidence bundle carries the rule set whole, so each was over the 4 MiB
   both bundle verifiers read (the library's ``bundle`` check failed, the court's verifier refused it), the same
   harm as round 15d's rule set nested too deep. A rule set's canonical JSON is now at most 256 KiB to publish or to
   decide with (the shipped ones: 7 KB at most).
5. (An applicant, making their own decision unverifiable by a court) an application of 400,000 zeros (800 KB, a
   fifth of what a line may be) made its own decision's bundle, as ``ledger evidence`` writes it indented, 4.4 MB;
   65,000 small fields of a 1 MB input gave 6.2 MB even compact (a bundle opens the input field by field). The
   ledger writes a bundle compact when indentation would pass the bound and refuses one that would not fit even so;
   an input is bounded where it is decided (1 MiB stored, 2,000 fields, 256 Ki characters of names, 64 citations,
   1 MiB of inline documents), so an application at every bound at once gives a bundle both verifiers read.

Held (guards): every leaf of a certificate's and a decision's evidence bundle replaced by a number no double is
exactly (1152921504606847000), one canonical JSON cannot write (2**60, ``1e999``), a lone surrogate, ``true`` or the
integer plus 2**53: the library and the court's verifier gave one verdict on each (a bundle per leaf and token in the
round; the guard keeps the numbers the bundle's checks read); the gateway's consent, grant and verify bodies with
those in any member answered 4xx, never 500 or a record; its listings' paging, filters and ids (negative, huge,
non-decimal, Unicode digits, moments outside the calendar) answered 4xx, never 500.

Real anvil, real database.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats import decision_input
from ledger.services import consent, decisions, evidence, issuance, logchain
from ledger.services.witness import client as wclient
from ledger.services.witness.note import COSIGNATURE_V1, SignerKey

from .cli_support import cli_in_process
from .conftest import PASSPHRASE, make_records, write_jsonl
from .consent_support import PROVIDERS_ENV, assertion, identifier, request
from .council_support import approval_body
from .decision_support import application, unique_rule_set
from .evidence_support import rpc_url, standalone, standalone_many
from .node_support import SERVER_POLL
from .verifiers_support import one_rule_set
from .witness_support import WitnessProcess

STATUS_BASE = "https://gateway.example.gov.cn"


def _issued(ledger: Ledger, tmp_path: Path, department: str, tag: str, n: int = 1) -> list[dict[str, Any]]:
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / f"{tag}.jsonl", make_records(n)), department, out=out)
    return [dict(json.loads(line)) for line in out.getvalue().splitlines()]


def _padded(path: Path, value: Any, size: int) -> Path:
    """``value`` as JSON, then spaces up to ``size`` bytes: valid JSON whatever its size."""
    text = json.dumps(value)
    path.write_text(text + " " * (size - len(text)), encoding="utf-8")
    assert path.stat().st_size == size
    return path


# -- 1. files of any size ---------------------------------------------------------------------------------------------


def test_a_council_approval_file_past_its_bound_is_refused_before_it_is_parsed(ledger: Ledger, tmp_path: Path) -> None:
    """Adversary: whoever passes a member's signed approval on to the submitter (a relay, a collector) pads it to
    any size; ``ledger council approvals submit`` read it whole. A signed approval is a few hundred bytes."""
    from ledger.services.council import MAX_APPROVAL_FILE_BYTES, read_approval

    chain = ledger.chain
    approval = approval_body(chain, Account.create().address, "0x" + "11" * 64 + "1b")
    assert read_approval(_padded(tmp_path / "fits.json", approval, MAX_APPROVAL_FILE_BYTES))["proposal_id"] == 1
    with pytest.raises(InputError, match=f"over {MAX_APPROVAL_FILE_BYTES} bytes"):
        read_approval(_padded(tmp_path / "padded.json", approval, MAX_APPROVAL_FILE_BYTES + 1))


def test_a_subject_assertion_file_past_its_bound_is_refused_and_records_nothing(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Adversary: whoever hands the person's assertion to ``ledger consent give`` (a relay between the provider and
    the department) pads it to any size: it was read whole, and a genuine one padded so was taken."""
    (doc,) = _issued(ledger, tmp_path, fresh_department, "rt54-assertion")
    monkeypatch.setenv(consent.PROVIDERS_ENV, PROVIDERS_ENV)
    now = datetime.now(UTC).replace(microsecond=0)
    asked = request(doc, "INS", now)
    signed = assertion(ledger, identifier(doc), now, asked).model_dump()
    path = _padded(tmp_path / "assertion.json", signed, consent.MAX_ASSERTION_FILE_BYTES + 1)
    code, _, err = cli_in_process(
        ledger, monkeypatch, capsys,
        "consent", "give", doc["digest"], "--assertion", str(path), "--to", "INS",
        "--purpose-code", asked.purpose_code, "--purpose-text", asked.purpose_text,
        "--fields", ",".join(asked.fields), "--until", asked.expires_at.isoformat(),
    )  # fmt: skip
    assert code == 2 and f"over {consent.MAX_ASSERTION_FILE_BYTES} bytes" in err, (code, err)
    assert consent.list_consents(ledger, digest=doc["digest"]) == []


def test_a_status_list_file_past_its_bound_is_refused_before_it_is_parsed(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Adversary: whoever serves or relays a status list a verifier downloads and gives ``ledger verify
    --status-list``: read whole, where the same list fetched from its URL is read up to 4,000,000 bytes."""
    from ledger.services.statuslist import MAX_LIST_BYTES

    (doc,) = _issued(ledger, tmp_path, fresh_department, "rt54-status")
    credential, listed = tmp_path / "credential.json", tmp_path / "revocation.json"

    def cli(*args: str) -> tuple[int, str, str]:
        return cli_in_process(ledger, monkeypatch, capsys, *args)

    assert cli("export", doc["digest"], "--vc", "--status-base", STATUS_BASE, "--out", str(credential))[0] == 0
    root = doc["anchor"]["root"]
    made = cli("status-list", fresh_department, root, "--purpose", "revocation", "--status-base", STATUS_BASE,
               "--out", str(listed))  # fmt: skip
    assert made[0] == 0, made
    _padded(listed, json.loads(listed.read_text(encoding="utf-8")), MAX_LIST_BYTES + 1)
    code, out, err = cli("verify", str(credential), "--json", "--status-list", str(listed))
    assert code == 2 and f"over {MAX_LIST_BYTES} bytes" in err, (code, out, err)


# -- 2. a witness's answer that never ends ----------------------------------------------------------------------------


@contextmanager
def _endless_witness(body: Callable[[socket.socket, threading.Event], int]) -> Iterator[tuple[str, list[int]]]:
    """An address answering every request with HTTP 200 headers and then ``body`` (which returns the bytes it got
    sent); yields the address and the counts of the answers so far."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    sent: list[int] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(65536)
                try:
                    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
                    sent.append(body(connection, stop))
                    connection.shutdown(socket.SHUT_WR)  # the end of the answer, then the rest of the request
                    connection.settimeout(1.0)
                    while connection.recv(65536):
                        pass
                except OSError:
                    sent.append(-1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", sent
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def _stream(connection: socket.socket, stop: threading.Event) -> int:
    """64 MiB as fast as the reader takes them: the bytes it took (within the socket buffers)."""
    total, chunk = 0, b"a" * 65536
    while total < 64 * 2**20 and not stop.is_set():
        try:
            connection.sendall(chunk)
        except OSError:
            break
        total += len(chunk)
    return total


def _trickle(connection: socket.socket, stop: threading.Event) -> int:
    """A byte every 50 ms until the reader hangs up (or the test ends)."""
    total = 0
    while not stop.wait(0.05):
        try:
            connection.sendall(b"a")
        except OSError:
            break
        total += 1
    return total


def _config(url: str) -> tuple[wclient.WitnessConfig, str]:
    key = SignerKey.generate("endless.example/w", COSIGNATURE_V1).verifier
    return wclient.WitnessConfig((wclient.TrustedWitness(url, key),), 1), key.name


def test_a_witness_answer_that_never_ends_is_read_up_to_a_bound(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 2, in size: 64 MiB streamed as an answer were read whole (and would have been for ever)."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)  # the ledger's checkpoint key
    with _endless_witness(_stream) as (url, sent):
        config, name = _config(url)
        result = wclient.collect(ledger.chain, tmp_path / "ledger", config)
        assert not result.witnessed and f"over {wclient.MAX_ANSWER_BYTES} bytes" in result.refusals[name], result
        found, problems = wclient.fetch_latest(config, wclient.chain_identity(ledger.chain).origin)
        assert not found and f"over {wclient.MAX_ANSWER_BYTES} bytes" in problems[name], problems
    assert sent and max(sent) < 8 * 2**20, sent  # the reader hung up long before the end


def test_a_witness_answer_trickled_a_byte_at_a_time_is_read_up_to_a_deadline(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 2, in time: a byte every 50 ms never lets the socket's timeout (10 s a read) fire, so the collection
    waited as long as the witness kept talking."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setattr(wclient, "ANSWER_SECONDS", 1.0)
    with _endless_witness(_trickle) as (url, _):
        config, name = _config(url)
        started = time.monotonic()
        result = wclient.collect(ledger.chain, tmp_path / "ledger", config)
        assert not result.witnessed and "longer than 1.0 s" in result.refusals[name], result
        assert time.monotonic() - started < 30


# -- 3. connections held open at a witness ---------------------------------------------------------------------------


def test_connections_held_open_from_one_host_do_not_keep_a_witness_from_answering(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 3: 300 connections from 127.0.0.2 that send nothing, against a witness that may open 256 files (the
    system's default is a few thousand: the same happens there with more connections); a collector at 127.0.0.1 is
    answered at once, and the witness keeps at most 8 of the others."""
    import urllib.request

    from ledger.services.witness.server import MAX_PER_ADDRESS

    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")
    witness = WitnessProcess(tmp_path / "w", "held.example/w", rpc_url(ledger), open_files=256)
    held: list[socket.socket] = []
    try:
        port = int(witness.url.rsplit(":", 1)[1])
        started = time.monotonic()
        for _ in range(300):
            connection = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=("127.0.0.2", 0))
            held.append(connection)
        with urllib.request.urlopen(witness.url + "/key", timeout=5) as answer:
            assert answer.read().decode().strip() == witness.key
        # before: the witness out of files accepted nothing, so the connections themselves, then the collector, waited
        # for held ones to time out (30 s each): 95 s in all
        assert time.monotonic() - started < 20
        open_ones = 0
        for connection in held:
            connection.settimeout(0.5)
            try:
                open_ones += connection.recv(1) != b""  # b"": closed by the witness
            except TimeoutError:
                open_ones += 1
            except OSError:
                pass  # reset by the witness
        assert open_ones <= MAX_PER_ADDRESS, open_ones
    finally:
        for connection in held:
            connection.close()
        witness.stop()


def test_a_connection_trickling_its_request_is_cut_at_the_witness_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 3, in time: a request line trickled a byte every 100 ms never lets the handler's 30 s read timeout fire,
    so each such connection held its slot for as long as the client kept talking; it is cut at the deadline (1 s
    here, 60 s by default), with the witness's own handler."""
    from http.server import BaseHTTPRequestHandler

    from ledger.services.witness import server

    monkeypatch.setattr(server, "CONNECTION_SECONDS", 1.0)

    class Handler(BaseHTTPRequestHandler):
        timeout = 30  # as the witness's

    bounded = server._BoundedServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=bounded.serve_forever, args=(SERVER_POLL,), daemon=True).start()
    try:
        with socket.create_connection(bounded.server_address[:2], timeout=5) as connection:
            started = time.monotonic()
            cut = False
            while time.monotonic() - started < 10 and not cut:
                try:
                    connection.sendall(b"G")
                    connection.settimeout(0.1)
                    cut = connection.recv(1) == b""
                except TimeoutError:
                    continue
                except OSError:
                    cut = True
            assert cut and time.monotonic() - started < 5
    finally:
        bounded.shutdown()
        bounded.server_close()


# -- held: both verifiers give one verdict on a bundle carrying numbers and text no reader takes --------------------

_NUMBERS_READ = [
    ("anchor", "block_number"),
    ("anchor", "count"),
    ("anchor", "block_timestamp"),
    ("as_of", "block_number"),
    ("chain", "chain_id"),
]


def test_both_verifiers_give_one_verdict_on_a_bundle_carrying_numbers_no_reader_takes(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Held: (whoever hands a court a bundle) each number a check reads, and the bundle's ``kind``, replaced by a
    number no double is, one canonical JSON refuses, a lone surrogate, ``true`` or itself plus 2**53: the library
    fails the bundle whenever the court's verifier does not pass it, and the other way round; neither crashes."""
    (doc,) = _issued(ledger, tmp_path, fresh_department, "rt54-bundle")
    bundle = evidence.certificate_bundle(ledger, doc)
    marker = '"@rt54@"'
    cases: list[tuple[tuple[str, str], str]] = []
    for section, member in [*_NUMBERS_READ, ("kind", "")]:
        value = bundle[section][member] if member else bundle[section]
        spelt = ["1152921504606847000", "1152921504606846976", "1e999", '"\\ud800"', "true"]
        cases += [((section, member), token) for token in spelt + ([str(value + 2**53)] if member else [])]
    paths = []
    for i, ((section, member), token) in enumerate(cases):
        edited = json.loads(json.dumps(bundle))
        if member:
            edited[section][member] = "@rt54@"
        else:
            edited[section] = "@rt54@"
        path = tmp_path / f"edited-{i}.json"
        path.write_text(json.dumps(edited).replace(marker, token), encoding="utf-8")
        paths.append(path)
    for (where, token), path, (code, _, err) in zip(cases, paths, standalone_many(ledger, paths), strict=True):
        library = evidence.verify_bundle(path, ledger.chain)
        assert not library.ok and code != 0, (where, token, library.to_json(), code, err)
        assert "cannot be judged" not in err and "Traceback" not in err, (where, token, err)


# -- 4. a decision's evidence bundle past what its readers read -----------------------------------------------------


def _big_rule_set(tag: str, size: int) -> Any:
    from ledger.formats.rules import load_rule_set

    document = one_rule_set({"field": "application.online", "op": "in", "value": [True, "x" * size]})
    document["rule_set_id"] = tag.lower()
    return load_rule_set(document)


def test_a_rule_set_too_big_for_its_decisions_bundles_is_neither_published_nor_decided_with(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 4: a rule set whose listed value is 5 MiB, published and decided with (the library before the bound),
    gives an approval whose bundle both verifiers refuse unread; the library now refuses to publish it, and to decide
    with one published past it (on chain by the department's own key, stored as the library stores it)."""
    from ledger.formats import rules

    big = _big_rule_set(f"rt54-big-{fresh_department}", 5 * 2**20)
    with pytest.raises(InputError, match=f"at most {rules.MAX_RULE_SET_BYTES} bytes"):
        decisions.publish_rule_set(ledger, big, fresh_department)
    assert decisions.load_recorded_rule_set(ledger, big.hex_digest) == (None, "unknown")  # nothing stored
    with monkeypatch.context() as patch:  # published past the library: the bound skipped
        patch.setattr(rules, "MAX_RULE_SET_BYTES", 2**40)
        decisions.publish_rule_set(ledger, big, fresh_department)
    app = application("C-RT54-BIG")
    with pytest.raises(InputError, match=f"at most {rules.MAX_RULE_SET_BYTES} bytes"):
        decisions.decide(ledger, fresh_department, "C-RT54-BIG", "ITEM-1", app, big, applicant_ref="91110000Y4")
    assert [e.seq for e in logchain.entries(ledger, logchain.LOG_DECISIONS, fresh_department)] == []
    # what the refusal prevents: the library's decision under it, and its bundle no reader reads
    with monkeypatch.context() as patch:
        patch.setattr(rules, "MAX_RULE_SET_BYTES", 2**40)
        decisions.decide(ledger, fresh_department, "C-RT54-BIG", "ITEM-1", app, big, applicant_ref="91110000Y4")
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, fresh_department)
    path = tmp_path / "big.json"
    path.write_text(json.dumps(evidence.decision_bundle(ledger, fresh_department, "C-RT54-BIG")), encoding="utf-8")
    assert path.stat().st_size > evidence.MAX_BUNDLE_BYTES
    assert not evidence.verify_bundle(path, ledger.chain).ok
    code, _, err = standalone(ledger, path)
    assert code == 2 and "no bundle is that large" in err, err


def test_an_application_within_its_bound_gives_a_bundle_its_readers_read(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """(An applicant, making their own decision unverifiable by a court) an application holding 400,000 zeros (an
    800 KB input, within the 1 MiB an input may be) is taken and decided; its bundle, as `ledger evidence
    --decision` writes it, was 4.4 MB indented (each value on a line of its own), which both verifiers refused
    unread. The ledger writes it compact when indentation would pass the bound: both verifiers read and pass it."""
    rule_set = unique_rule_set(f"rt54-app-{fresh_department}")
    decisions.publish_rule_set(ledger, rule_set, fresh_department)
    app = application("C-RT54-APP")
    app["application"]["notes"] = [0] * 400_000
    decisions.decide(ledger, fresh_department, "C-RT54-APP", "ITEM-1", app, rule_set, applicant_ref="91110000Y5")
    path = written_and_read(ledger, fresh_department, "C-RT54-APP", tmp_path, monkeypatch, capsys)
    assert len(json.dumps(json.loads(path.read_bytes()), indent=2)) > evidence.MAX_BUNDLE_BYTES  # indented: past it


def written_and_read(
    ledger: Ledger, department: str, case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> Path:
    """The decision on ``case`` anchored, its bundle written by `ledger evidence --decision`: within the bound, and
    both verifiers (the library's and the court's) pass it."""
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, department)
    path = tmp_path / f"{case}.json"
    made = cli_in_process(
        ledger, monkeypatch, capsys, "evidence", "--decision", case, "--department", department, "--out", str(path)
    )
    assert made[0] == 0, made
    assert path.stat().st_size <= evidence.MAX_BUNDLE_BYTES
    assert evidence.verify_bundle(path, ledger.chain).ok
    code, out, err = standalone(ledger, path)
    assert code == 0, (out, err)
    return path


def test_an_application_past_the_inputs_bound_is_refused_and_nothing_is_recorded(
    ledger: Ledger, fresh_department: str
) -> None:
    """(An applicant) an input past ``MAX_INPUT_BYTES`` as stored (an application with 1.1 MB of notes) is refused
    with the bound named, by the library's decide and by a file of applications alike; nothing is recorded."""
    rule_set = unique_rule_set(f"rt54-big-app-{fresh_department}")
    decisions.publish_rule_set(ledger, rule_set, fresh_department)
    app = application("C-RT54-HUGE")
    app["application"]["notes"] = "x" * (decision_input.MAX_INPUT_BYTES + 100_000)
    with pytest.raises(InputError, match=f"past the {decision_input.MAX_INPUT_BYTES:,} a decision's input may be"):
        decisions.decide(ledger, fresh_department, "C-RT54-HUGE", "ITEM-1", app, rule_set, applicant_ref="91110000Y6")
    line = {**app, "case_id": "C-RT54-HUGE", "service_item": "ITEM-1", "applicant_ref": "91110000Y6"}
    with pytest.raises(InputError, match=r"application 1: .*past the"):
        decisions.decide_many(ledger, fresh_department, [line], {"*": rule_set})
    assert list(logchain.entries(ledger, logchain.LOG_DECISIONS, fresh_department)) == []


def test_an_application_at_every_bound_at_once_gives_a_bundle_both_verifiers_read(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """(An applicant) the largest application the bounds let through, as the bundle spells it at its longest: as
    many fields as an input may flatten to, their names as long as the names' bound allows (each written twice in
    a bundle: beside its value and its salt), their values filling the input's bytes. Its decision's bundle is
    within what both verifiers read, and both pass it."""
    rule_set = unique_rule_set(f"rt54-bounds-{fresh_department}")
    decisions.publish_rule_set(ledger, rule_set, fresh_department)
    app = application("C-RT54-BOUNDS")
    n = decision_input.MAX_INPUT_FIELDS - 25  # the typical application's own fields (the item's, the applicant's)
    name = decision_input.MAX_INPUT_NAME_CHARS // decision_input.MAX_INPUT_FIELDS - len("application.extra.") - 8
    value = (decision_input.MAX_INPUT_BYTES - 4_000) // n - name - 16
    app["application"]["extra"] = {f"{i:07d}" + "n" * name: "v" * value for i in range(n)}
    decisions.decide(ledger, fresh_department, "C-RT54-BOUNDS", "ITEM-1", app, rule_set, applicant_ref="91110000Y7")
    written_and_read(ledger, fresh_department, "C-RT54-BOUNDS", tmp_path, monkeypatch, capsys)
    more = {**app, "case_id": "C-RT54-MORE", "application": {**app["application"], "more": list(range(30))}}
    decisions.decide(ledger, fresh_department, "C-RT54-MORE", "ITEM-1", more, rule_set, applicant_ref="91110000Y8")
    more["application"]["more"] = {f"m{i}": 0 for i in range(30)}  # a list is one field; 30 members are 30
    more["case_id"] = "C-RT54-PAST"
    with pytest.raises(InputError, match=f"at most {decision_input.MAX_INPUT_FIELDS:,} fields"):
        decisions.decide(ledger, fresh_department, "C-RT54-PAST", "ITEM-1", more, rule_set, applicant_ref="91110000Y8")


def test_an_application_citing_past_its_bounds_is_refused(ledger: Ledger, fresh_department: str) -> None:
    """(An applicant) more certificates cited than an application may cite, or inline documents past their bytes
    together: refused naming the bound, before any citation is established on chain; nothing recorded."""
    from ledger.services import _citations

    rule_set = unique_rule_set(f"rt54-cites-{fresh_department}")
    decisions.publish_rule_set(ledger, rule_set, fresh_department)
    many = application("C-RT54-CITES", *[{"digest": "0x" + f"{i:064x}"} for i in range(_citations.MAX_CITATIONS + 1)])
    with pytest.raises(InputError, match=f"past the {_citations.MAX_CITATIONS} one application may cite"):
        decisions.decide(ledger, fresh_department, "C-RT54-CITES", "ITEM-1", many, rule_set, applicant_ref="91110000Y9")
    padded = {"document": {"fields": {"note": "x" * (_citations.MAX_CITED_BYTES // 2)}}}
    big = application("C-RT54-DOCS", padded, padded, padded)
    with pytest.raises(InputError, match="cite a certificate by its digest instead"):
        decisions.decide(ledger, fresh_department, "C-RT54-DOCS", "ITEM-1", big, rule_set, applicant_ref="91110000Z1")
    assert list(logchain.entries(ledger, logchain.LOG_DECISIONS, fresh_department)) == []
