"""Red team, round 16: JSON nested deep enough to overflow the C stack, on the paths round 5 did not bound.

A dependency (py_ecc, through eth-account) raises Python's recursion limit to 100,000 at import, so the standard
library's recursive JSON parser, reading 100,000 levels of ``[``, overflows the C stack and the process dies
(SIGSEGV) before any RecursionError. Round 5 bounded the ledger's own parsers (``canonical.check_json_depth``);
these are the parsers it did not reach.

Holes found (each test failed at 9f26bbe, the process killed by SIGSEGV):
- a hostile JSON-RPC node (or whoever answers at the node's URL) answers any request of the ledger's web3 provider
  with a result nested 100,000 deep: web3 parses it with ``json.loads`` and the gateway, the CLI or the ledger's
  worker dies; one answer to the public verification's chain read kills the gateway for every client;
- an insider with the database writes such a text into a JSON column (a grant's ``reveal``, a consent's
  ``fields``): SQLAlchemy's ``json.loads`` reads it when the gateway lists grants, and the gateway dies.
- an insider rewrites one log body into JSON 300 deep: the parser's bound (512) let it through, pydantic serializes
  about 255 levels, and the auditor's listing of the whole log answered 500, hiding every other entry;
- a refused bearer token's payload was read with ``json.loads`` to record who tried: 200 KB of ``[`` killed the
  process (the gateway's guard keeps tokens to 1,024 bytes by default, but that setting has no upper bound);
- whatever answers on the embedded node's port (another local process that took it) answered the readiness probe
  with 200 KB of ``[``, and json.loads killed the ledger as it opened;
- not a matter of depth, on the same paths: a hostile node's answer that never ends was read whole into memory by
  each reader of a node (the ledger's web3 provider, the witness's reader, the gateway's head refresher): 1.5 GB
  held before any parsing, and nothing stopped it short of the memory running out.

And one bound that was not the readers': a record of ``ledger issue`` (or an application of ``ledger decide``) as
deep as the readers' bound was taken, and what the ledger wrote from it (the certificate's evidence bundle and
credential, the decision's bundle) nests it further, so every reader refused the honest certificate or decision;
a file big enough for the issuance workers was parsed by orjson alone (1,024 levels), so a 1,000-deep record was
issued that no reader could read back; a record 300 deep was a 500 from the gateway to every reader of its content
(pydantic serializes about 255 levels). Records and applications are now bounded when taken in (``MAX_INPUT_DEPTH``,
128: the gateway takes 32 by default, and can no longer be set to take more than that bound).
A JSON rule file, likewise, was taken up to 512 levels where YAML stops at 100: one 511 deep made every decision's
bundle (the rule set two levels further in) too deep for any reader; both forms now stop at 100.
"""

from __future__ import annotations

import array
import io
import itertools
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from api.config import ApiSettings
from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats import canonical, rules, vc
from ledger.formats.canonical import MAX_INPUT_DEPTH, MAX_JSON_DEPTH, hex32, json_depth
from ledger.formats.certificate import MAX_RECORD_BYTES, iter_jsonl_lines, load_document, validate_record
from ledger.services import evidence, logchain
from ledger.services._issue_worker import _check_lines
from ledger.services.issuance import issue_records

from .api_support import Clock, bearer, login, make_client, register
from .decision_support import decided_history
from .verifiers_support import one_rule_set

DEEP = 100_000  # levels: 200 KB, far past what the C stack holds at one frame per level

# A node whose every answer (a single request's or a batch's) carries a result nested DEEP levels; its URL in ``url``.
_DEEP_NODE = f"""
import json, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Deep(BaseHTTPRequestHandler):
    def do_POST(self):
        asked = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        def answer(request):
            return '{{"jsonrpc":"2.0","id":' + json.dumps(request["id"]) + ',"result":' + "[" * {DEEP} + "]" * {DEEP} + "}}"
        text = "[" + ",".join(map(answer, asked)) + "]" if isinstance(asked, list) else answer(asked)
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Deep)
threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
url = f"http://127.0.0.1:{{server.server_address[1]}}"
"""


def _in_a_process_with_the_raised_limit(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` after importing eth_account (which raises the recursion limit), as the ledger's processes do:
    a crash here is a dead process (a negative return code), not a failed assertion in this one."""
    return subprocess.run(
        [sys.executable, "-c", "import eth_account, sys\nassert sys.getrecursionlimit() >= 10_000\n" + code],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_nodes_answer_nested_too_deep_is_a_chain_failure_not_a_crash() -> None:
    """Every read of the chain through web3 (single requests and batches): a transport failure that says why."""
    run = _in_a_process_with_the_raised_limit(
        _DEEP_NODE + "from ledger.onchain.chain import connect\n"
        "w3 = connect(url, timeout=30)\n"
        "for ask in (lambda: w3.eth.block_number,\n"
        "            lambda: w3.provider.make_batch_request([('eth_blockNumber', []), ('eth_chainId', [])])):\n"
        "    try:\n"
        "        ask()\n"
        "    except OSError as exc:\n"
        "        print('refused:', exc)\n"
        "server.shutdown()\n"
    )
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    assert run.stdout.count("refused:") == 2, run.stdout
    assert f"nested deeper than {MAX_JSON_DEPTH} levels" in run.stdout, run.stdout


def test_a_json_column_an_insider_nested_too_deep_fails_its_read_not_the_process(tmp_path: Path) -> None:
    """An insider with the database writes 200 KB of ``[`` into a JSON column (a grant's ``reveal``, a consent's
    ``fields``): SQLAlchemy parsed it with ``json.loads`` when the gateway listed grants, and the process died."""
    run = _in_a_process_with_the_raised_limit(
        "import json\n"
        "from sqlalchemy import JSON, text\n"
        "from ledger.storage.store import open_engine\n"
        f"engine = open_engine('sqlite:///{tmp_path}/ledger.db')\n"
        "with engine.connect() as conn:\n"
        f"    for stored in ('[\"subject.name\"]', '[' * {DEEP} + ']' * {DEEP}):\n"
        "        try:\n"
        "            print('read:', conn.execute(text('SELECT :v AS v').columns(v=JSON), {'v': stored}).scalar_one())\n"
        "        except json.JSONDecodeError as exc:\n"
        "            print('refused:', exc)\n"
        "engine.dispose()\n"
    )
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    assert "read: ['subject.name']" in run.stdout, run.stdout
    assert f"refused: nested deeper than {MAX_JSON_DEPTH} levels" in run.stdout, run.stdout


def _record_nested(levels: int) -> bytes:
    """A certificate record line whose ``subject.name`` nests lists so that the whole line is ``levels`` deep."""
    name = "[" * (levels - 2) + '"Zhang Wei"' + "]" * (levels - 2)
    return (
        '{"id": "DEEP-1", "type": "business-licence", "subject": {"name": ' + name + ', "credit_code": '
        '"91440300MA50000001", "id_number": "440300198001010001"}, "valid_from": "2026-01-01", '
        '"valid_until": "2031-12-31"}\n'
    ).encode()


@pytest.mark.parametrize("levels", [MAX_INPUT_DEPTH + 1, 300, MAX_JSON_DEPTH, 1000])
def test_a_record_whose_certificate_no_reader_could_read_back_is_refused_when_issued(levels: int) -> None:
    """An issuance file's record as deep as the readers' bound (512) was taken: its certificate's evidence bundle and
    credential wrap it in one more level, so every reader (``ledger evidence verify``, the court's verifier, ``ledger
    verify`` of the credential) refused the honest certificate; one 300 deep was a 500 to every reader of its
    content at the gateway (pydantic serializes about 255 levels). A file big enough for the worker processes was
    parsed by orjson alone (depth 1,024 by itself): a 1,000-deep record was issued, and no reader read it back."""
    line = _record_nested(levels)
    with pytest.raises(InputError, match=f"nested deeper than {MAX_INPUT_DEPTH} levels") as strict:
        list(iter_jsonl_lines([line], first_line=7))
    assert strict.value.line == 7
    checked = _check_lines(7, [line], "MKT", MAX_RECORD_BYTES)  # the worker processes' parse
    assert checked.ids == [] and checked.fatal is not None and "nested deeper" in str(checked.fatal)
    # within the bound: taken, by both
    fine = _record_nested(MAX_INPUT_DEPTH)
    assert [n for n, _ in iter_jsonl_lines([fine])] == [1]
    assert _check_lines(1, [fine], "MKT", MAX_RECORD_BYTES).ids == ["DEEP-1"]


def test_an_application_whose_decision_no_reader_could_read_back_is_refused_when_read(tmp_path: Path) -> None:
    """``ledger decide``'s applications file: a line as deep as the readers' bound was decided, and the decision's
    evidence bundle, which nests its input further, was refused by every reader of it."""
    from ledger.cli.decisions import _read_jsonl

    deep = "[" * (MAX_JSON_DEPTH - 3) + "1" + "]" * (MAX_JSON_DEPTH - 3)
    applications = tmp_path / "applications.jsonl"
    applications.write_text(
        '{"case_id": "CASE-1", "input": {"item": {"x": 1}}}\n{"case_id": "CASE-2", "input": {"a": ' + deep + "}}\n"
    )
    with open(applications, "rb") as handle:
        read = _read_jsonl(handle, applications)
        assert next(read)["case_id"] == "CASE-1"
        with pytest.raises(InputError, match=f"nested deeper than {MAX_INPUT_DEPTH} levels") as caught:
            next(read)
    assert caught.value.line == 2


def test_a_certificate_as_deep_as_the_ledger_takes_in_is_read_back_by_the_gateway_and_the_readers(
    ledger: Ledger, tmp_path: Path
) -> None:
    """The other side of the bound: a record nested MAX_INPUT_DEPTH levels, the most ``ledger issue`` takes, gives
    a certificate whose content the gateway answers and whose evidence bundle and credential every reader reads."""
    (number, record), *_ = iter_jsonl_lines([_record_nested(MAX_INPUT_DEPTH).replace(b"DEEP-1", b"DEEP-READ-1")])
    out = io.StringIO()
    issue_records(ledger, [validate_record(record, number)], "MKT", out=out)
    document = json.loads(out.getvalue())
    client = make_client(ledger, Clock())
    answer = client.get(f"/certificates/{document['digest']}/content", headers=bearer(login(client, ledger, "MKT")))
    assert answer.status_code == 200, answer.text
    assert answer.json()["document"]["fields"]["subject.name"] == record["subject"]["name"]
    bundle_file, credential_file = tmp_path / "bundle.json", tmp_path / "credential.json"
    bundle_file.write_text(json.dumps(evidence.bundle_for_stored(ledger, document["digest"])))
    assert evidence.load_bundle(bundle_file)["certificate"]["digest"] == document["digest"]
    credential_file.write_text(json.dumps(vc.to_credential(document)))
    assert hex32(load_document(credential_file).digest()) == document["digest"]


def test_the_gateway_cannot_be_set_to_take_bodies_deeper_than_the_ledger_takes_in() -> None:
    with pytest.raises(ValidationError, match="max_json_depth"):
        ApiSettings(max_json_depth=MAX_INPUT_DEPTH + 1)
    assert ApiSettings(max_json_depth=MAX_INPUT_DEPTH).max_json_depth == MAX_INPUT_DEPTH


def _rule_file(tmp_path: Path, wraps: int, suffix: str) -> tuple[Path, int]:
    """A rule file whose one condition sits inside ``wraps`` ``all`` lists; (its path, its nesting depth)."""
    when: dict[str, Any] = {"field": "application.online", "op": "==", "value": True}
    for _ in range(wraps):
        when = {"all": [when]}
    text = json.dumps(one_rule_set(when))  # JSON is YAML too (flow style)
    path = tmp_path / f"rules-{wraps}{suffix}"
    path.write_text(text, encoding="utf-8")
    return path, json_depth(text)


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_rule_file_is_bounded_alike_in_json_and_in_yaml(tmp_path: Path, suffix: str) -> None:
    """A JSON rule file was taken up to the readers' bound (512) where YAML stops at 100: a department published
    one 511 deep, and every decision's evidence bundle, which holds the rule set two levels further in, was refused
    by every reader, the court's verifier too."""
    shallow, depth = _rule_file(tmp_path, (rules.MAX_YAML_DEPTH - 6) // 2, suffix)
    assert depth <= rules.MAX_YAML_DEPTH and rules.load_rule_set(shallow).rule_set_id == "one-rule"
    deep, depth = _rule_file(tmp_path, (MAX_JSON_DEPTH - 6) // 2, suffix)
    assert rules.MAX_YAML_DEPTH < depth <= MAX_JSON_DEPTH
    with pytest.raises(InputError, match=f"nests more than {rules.MAX_YAML_DEPTH} lists and mappings"):
        rules.load_rule_set(deep)


# A node whose answer never ends: chunk after chunk of a JSON array, up to ``_ENDLESS`` bytes (a bound only so that
# the test ends without the fix); its URL in ``url``.
_ENDLESS = 1536 * 2**20
_ENDLESS_NODE = f"""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Endless(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"1," * 2**19
        frame = b"%x\\r\\n" % len(chunk) + chunk + b"\\r\\n"
        try:
            self.wfile.write(b'1\\r\\n[\\r\\n')
            for _ in range({_ENDLESS} // len(chunk)):
                self.wfile.write(frame)
        except OSError:
            pass  # the reader hung up: what the fix does

    def log_message(self, *_):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
url = f"http://127.0.0.1:{{server.server_address[1]}}"
"""


# Each reader of a node: the ledger's web3 provider (gateway, CLI, workers), the witness's own reader, the gateway's
# head refresher; each refuses as it refuses any fault of its node.
_READERS = {
    "web3": "from ledger.onchain.chain import connect\nread = lambda: connect(url, timeout=30).eth.block_number\n",
    "witness": "from ledger.services.witness.rpc import Rpc\nread = Rpc(url).head\n",
    "gateway head": "from api.head import _BlockNumberReader\n"
    "reader = _BlockNumberReader(url, 30)\n"
    "def read():\n"
    "    if reader.read() is None:\n"
    "        raise OSError(f'no head read ({reader.failures} failure): answer of over so many bytes')\n",
}


@pytest.mark.parametrize("reader", sorted(_READERS))
def test_a_nodes_endless_answer_is_refused_at_a_bound_not_held_in_memory(reader: str) -> None:
    """A hostile node answers a read with an answer that does not end: each reader held all of it in memory (1.5 GB
    here, before any parsing), so one answer could exhaust the gateway's (or the witness's) memory."""
    run = _in_a_process_with_the_raised_limit(
        _ENDLESS_NODE + "import resource\n"
        "from ledger.errors import ChainError\n"
        "from ledger.onchain.chain import MAX_NODE_ANSWER_BYTES\n" + _READERS[reader] + "try:\n"
        "    read()\n"
        "except (OSError, ChainError) as exc:\n"
        "    print('refused:', exc)\n"
        "print('peak MiB:', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n"
        "print('bound MiB:', MAX_NODE_ANSWER_BYTES // 2**20)\n"
        "server.shutdown()\n"
    )
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    assert "refused:" in run.stdout and "bytes" in run.stdout, run.stdout
    peak = int(run.stdout.split("peak MiB:")[1].split()[0])
    bound = int(run.stdout.split("bound MiB:")[1].split()[0])
    assert peak < bound + 512, run.stdout  # the bound, and the interpreter with its imports; never the whole answer


def _reference_depth(raw: bytes) -> int:
    """The depth scan as it was: the string pattern over the whole text (UTF-8 bytes)."""
    steps = canonical._STRINGS.sub(b"", raw).translate(None, canonical._NOT_BRACKETS).translate(canonical._STEPS)
    return max(itertools.accumulate(array.array("b", steps)), default=0)


@pytest.mark.parametrize("seed", range(6))
def test_the_faster_depth_scan_of_unescaped_text_agrees_with_the_pattern_on_hostile_text(seed: int) -> None:
    """The scan of a text without a backslash (a node's answer of logs: six times faster) keeps the pattern's
    answer on texts shaped to fool it: quotes unbalanced, brackets inside and outside strings, unterminated
    strings, multi-byte characters, short texts and texts past the size where the counts are skipped."""
    rng = random.Random(seed)
    pieces = [b"[", b"]", b"{", b"}", b'"', b'"', b"a", b",", b":", "\u225d".encode(), b"[[[[", b"]]]]", b'"]"', b'"["']
    for _ in range(150):
        raw = b"".join(rng.choice(pieces) for _ in range(rng.choice((10, 200, 3000, 6000))))
        expected = _reference_depth(raw)
        assert json_depth(raw) == expected, raw[:200]
        assert json_depth(raw.decode()) == expected
        for limit in (0, 1, 4, expected - 1, expected, expected + 1, MAX_JSON_DEPTH):
            assert canonical.deeper_than(raw, limit) == (expected > limit), (limit, raw[:200])


def test_an_auditor_reads_every_log_entry_although_an_insider_nested_one_past_what_an_answer_carries(
    ledger: Ledger, fresh_department: str
) -> None:
    """An insider rewrites one decision-log body into JSON 300 levels deep: within the parser's bound, so it read,
    but past the depth pydantic serializes (about 255), so the auditor's listing of the whole log answered 500 and
    hid every other entry. It is shown as unreadable, as a body that is not JSON is, and the rest of the log with it."""
    decided_history(ledger, fresh_department, 3)
    with ledger.engine.begin() as conn:
        conn.execute(
            text("UPDATE logentry SET body=:b WHERE log=:l AND department_id=:d AND seq=2"),
            {"b": '{"a":' + "[" * 300 + "1" + "]" * 300 + "}", "l": logchain.LOG_DECISIONS, "d": fresh_department},
        )
    client = make_client(ledger, Clock())
    auditor = login(client, ledger, register(ledger, "AU16", "auditor"))
    response = client.get("/audit/logs/decisions", params={"department": fresh_department}, headers=bearer(auditor))
    assert response.status_code == 200, response.text
    entries = {e["seq"]: e for e in response.json()}
    assert sorted(entries) == [1, 2, 3] and entries[1]["body"] and entries[3]["body"]
    assert entries[2]["body"] is None and "nested deeper than" in entries[2]["body_error"]


def test_a_forged_tokens_deep_payload_is_nothing_claimed_not_a_crash() -> None:
    """A refused token's payload is read, unverified, to record who tried (``Authenticator.unverified_claims``):
    with json.loads, 200 KB of ``[`` in it killed the process. The gateway's guard keeps a token to 1,024 bytes by
    default, but ``max_token_bytes`` has no upper bound, and the library reads whatever token it is handed."""
    run = _in_a_process_with_the_raised_limit(
        "import base64\n"
        "from ledger.services.auth import Authenticator\n"
        f"payload = base64.urlsafe_b64encode(b'[' * {DEEP}).rstrip(b'=').decode()\n"
        "token = 'plt1.' + payload + '.AAAA'\n"
        "print('claimed:', Authenticator.unverified_claims(Authenticator.__new__(Authenticator), token))\n"
    )
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    assert "claimed: {}" in run.stdout, run.stdout


def test_the_embedded_nodes_readiness_probe_survives_a_deep_answer() -> None:
    """Whatever answers on the embedded node's port (another local process that took it) answers the readiness
    probe and the genesis read with 200 KB of ``[``: json.loads killed the ledger as it opened."""
    run = _in_a_process_with_the_raised_limit(
        _DEEP_NODE + "from ledger.errors import ChainError\n"
        "from ledger.onchain.node import _rpc, rpc_ready\n"
        "print('ready:', rpc_ready(url, timeout=30))\n"
        "try:\n"
        "    _rpc(url, 'eth_getBlockByNumber', ['0x0', False], timeout=30)\n"
        "except ChainError as exc:\n"
        "    print('refused:', exc)\n"
        "server.shutdown()\n"
    )
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    assert "ready: False" in run.stdout and "refused:" in run.stdout and "nested deeper" in run.stdout, run.stdout
