"""Red team, round 14a: a forger editing a decision bundle, the court's expert comparing the library with the
court's standalone verifier, and the chain's operator (or a hostile witness) against the witness protocol.

Holes (each test failed before its fix):

1. Quadratic input field names: both verifiers checked that no input field lies inside another by joining every
   prefix of every name's segments (``".".join(segments[:end])`` for each ``end``), quadratic in a name's length.
   The court's verifier does it before it compares the input with the record's commitment, so a forger adding one
   hidden field named ``a.a.a...`` (2 MB, a million segments) to a genuine decision bundle held the court's
   verifier for hours where the library answered at once (its commitment check comes first; a department
   committing to such a name held the library too). And two names of one path (``item.a~`` beside
   ``item.a~0``, both unescaping to ``item["a~"]``) passed, so what the rules read depended on the fields' order.
   Now one pass over a tree of the paths refuses both, and a path deeper than any JSON input, in both verifiers.

2. Numbers past Python's conversion limit in the witness protocol: the witness read a checkpoint's size, its
   origin's chain id, the request's ``old`` size and its Content-Length with ``int()``, which raises ValueError
   (no InputError) on more than 4,300 digits. Anyone reaching a witness's ``POST /add-checkpoint`` killed the
   request's handler with a traceback and got no answer; a hostile witness answering the ledger's
   ``GET /checkpoint`` or a ``409`` with such a size crashed ``ledger audit-chain`` and ``ledger witness
   collect``. And the origin was keyed as written: ``.../031337/...`` or an upper-case registry was a chain of its
   own to the witness, with a fresh history (the cosigned one, and its alarm, left behind). Now every such number
   is a decimal of bounded length (a refusal otherwise) and an origin is accepted only as the ledger writes it.

3. The witness read the block it had cosigned twice: once to check it still had the cosigned hash
   (``_check_cosigned``), once more with the blocks after it to check they link to it (``_check_links``), and
   compared only the first read with what it had cosigned. The chain's operator reorganising the chain between
   the two reads (replacing the cosigned block and those after it) got a cosignature on the new branch without an
   alarm. Now the second read is compared with the cosigned hash too: the links are checked from the block the
   witness knows it cosigned.

4. Rules of the forger's own making were run: a decision bundle's rule set is re-run when it hashes to the
   digest the record names, but a forger editing the record (its entry hash then fails, which stops nothing
   else) names any digest, so both verifiers ran rules nobody published. Rules comparing two 400,000-element
   input lists (``ref``) 40,000 times, in a 3.4 MB bundle, held the library for about an hour and the court's
   verifier for several. Now both re-run only a rule set published on chain; the re-run of another is skipped,
   and ``rule_set_published`` fails, as before.

5. A member name holding a lone surrogate (the JSON escape ``\\ud800`` alone, no Unicode character): the library's
   schema validator cannot read such a name, the court's verifier ignored unknown members. A genuine bundle with
   one added to a section (``chain``, ``anchor``, ``as_of``, ``department``, the decision's ``rule_set`` or
   ``decision``) failed ``bundle`` in the library and was VERIFIED by the court's verifier; added at the top,
   ``ledger evidence verify`` died with an IndexError. Now both refuse it as they refuse a key named twice (the
   library's ``bundle`` check fails, the court's verifier stops with exit 2, each naming the member).

6. A credential's own JSON-LD contexts were processed: ``ledger verify`` (and the gateway's ``/public/verify``, open to
   anyone) expanded a VC 2.0 credential as JSON-LD before comparing its envelope with the one the ledger writes, so a
   holder's credential adding an inline context (one term whose scoped context defines 6,000 more) and a value
   nesting that term 450 levels deep, 130 kB in all, cost the processor a minute or more of CPU per verification
   (about 24 µs per term per level). Now the envelope, ``@context`` included, is compared first and only the
   ledger's own envelope is expanded.

7. The gateway's witnessed state was checked once per head number: ``WitnessView`` kept whether the chain still had
   the cosigned block for as long as the head's number stayed the same. The chain's operator rewriting the chain to
   the same height (the cosigned block replaced, no block after) left the number as it was, and every
   verification (``/public/verify`` included) said "witnessed" for as long as the operator made no new block. Now
   the block is read again after ``RECHECK_SECONDS`` whatever the head (the clock is passed in).

Each hole found was written first as a failing test, then closed.
"""

from __future__ import annotations

import base64
import copy
import http.client
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import VerificationError
from ledger.formats import decision_input, rules, vc
from ledger.formats.canonical import document_digest, field_hashes, hex32
from ledger.services import evidence
from ledger.services.verify import ChainView, verify_certificate
from ledger.services.witness import client as wclient
from ledger.services.witness.note import COSIGNATURE_V1, ED25519, Note, SignerKey
from ledger.services.witness.rpc import Rpc
from ledger.services.witness.server import Witness, WitnessRefusal, WitnessStore, make_handler

from .cli_support import rpc
from .conftest import PASSPHRASE, make_records, make_settings
from .evidence_support import SCRIPT, SCRIPT_MODULE, failed_names, issue, rpc_url, standalone
from .node_support import SERVER_POLL
from .rerun_support import approved_fixture, world_fixture  # noqa: F401 - the approved decision's bundle
from .rpc_proxy import RpcProxy
from .verifiers_support import one_rule_set

REPO = Path(__file__).resolve().parent.parent


# -- 1. input field names: linear, unambiguous ------------------------------------------------------------------


def test_a_forged_input_field_name_of_a_million_segments_gets_a_verdict_from_both_at_once(
    ledger: Ledger, approved: dict[str, Any], tmp_path: Path
) -> None:
    """Adversary: a forger handing the court a genuine decision bundle with one hidden input field added, named
    ``a.a.a...`` (2 MB). Both verifiers must fail ``input`` (the commitment no longer opens) and agree; the
    court's verifier spent hours on the name before (the timeout catches that, a linear check takes a second)."""
    forged = copy.deepcopy(approved)
    forged["input"]["hidden"]["a." * 1_000_000 + "a"] = "00" * 32
    path = tmp_path / "long-name.json"
    path.write_text(json.dumps(forged), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, str(SCRIPT), str(path), "--rpc", rpc_url(ledger), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1 and run.stdout.strip(), run.stderr
    court = failed_names(json.loads(run.stdout))
    report = evidence.verify_bundle(path, ledger.chain)
    assert "input" in court and court == {c.name for c in report.failed}, (court, report.to_json())


def test_both_engines_refuse_a_field_path_no_input_nests_to_in_linear_time() -> None:
    """A department committing to such a name holds the library's own check (after the commitment opens): both
    engines refuse a path deeper than any JSON input (512 levels) at once, and still read every honest input."""
    code = (
        "import sys\n"
        "sys.path.insert(0, 'scripts')\n"
        "import verify_evidence\n"
        "from ledger.errors import VerificationError\n"
        "from ledger.formats.decision_input import unflatten\n"
        "name = 'a.' * 300_000 + 'a'\n"
        "try:\n"
        "    unflatten({name: 1})\n"
        "except VerificationError as exc:\n"
        "    print('library:', str(exc)[-80:])\n"
        "try:\n"
        "    verify_evidence.unflatten_input({name: 1})\n"
        "except verify_evidence.Failure as exc:\n"
        "    print('court:', str(exc)[-80:])\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("no input nests deeper than 512 levels") == 2, run.stdout
    deep = ".".join(["a"] * 512)  # as deep as an input may be: read
    assert decision_input.unflatten({deep: 1}) == SCRIPT_MODULE.unflatten_input({deep: 1})


@pytest.mark.parametrize(
    "fields",
    [
        {"item.a~": 1, "item.a~0": 2},  # both are item["a~"]
        {"item.a~0": 2, "item.a~": 1},
        {"item.x@": 1, "item.x~2": 2},  # both are item["x@"]
        {"item.a.b": 1, "item": 2},  # the order that the old check met first, reversed
    ],
)
def test_two_fields_of_one_path_are_refused_by_both_engines(fields: dict[str, Any]) -> None:
    """Adversary: a department committing to two input fields whose names unescape to one path: the rules read
    the value of whichever the bundle lists last, so a bundle's order (which no hash covers) chose the outcome
    of the court's re-run. Both engines refuse, whatever the order."""
    with pytest.raises(VerificationError, match=r"same path|inside"):
        decision_input.unflatten(fields)
    with pytest.raises(SCRIPT_MODULE.Failure, match=r"same path|inside"):
        SCRIPT_MODULE.unflatten_input(fields)


# -- 2. the witness protocol's numbers and origins ---------------------------------------------------------------

HUGE = "9" * 5000  # past the 4,300 digits int() converts


@pytest.fixture()
def passphrases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(SERVER_POLL,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture()
def witness(ledger: Ledger, tmp_path: Path, passphrases: None) -> Iterator[tuple[Witness, str]]:
    """A witness of the shared chain (its own key and store), serving the real HTTP handler."""
    store = WitnessStore(tmp_path / "witness")
    store.create_key("court-witness")
    running = Witness(store, Rpc(rpc_url(ledger)), log=lambda _line: None)
    for url in _serve(make_handler(running)):
        yield running, url


def _checkpoint(ledger: Ledger, *, origin: str | None = None, size: str | None = None) -> str:
    """The checkpoint text of the shared chain at its head, with the origin or size line replaced."""
    head = ledger.chain.block_number()
    block_hash = bytes(ledger.chain.w3.eth.get_block(head)["hash"])
    origin = origin or wclient.chain_identity(ledger.chain).origin
    return f"{origin}\n{size or head + 1}\n{base64.b64encode(block_hash).decode()}\n"


def _post(url: str, text: str, old: str = "0") -> tuple[int, str]:
    note = Note(text, (SignerKey.generate("the-ledger", ED25519).sign_note(text),)).render()
    request = urllib.request.Request(url + "/add-checkpoint", f"old {old}\n\n{note}".encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_numbers_past_pythons_int_limit_get_a_refusal_from_the_witness(
    ledger: Ledger, witness: tuple[Witness, str]
) -> None:
    """Adversary: anyone who can reach a witness (the chain's operator among them) posting a checkpoint whose size
    or origin chain id has 5,000 digits, or an ``old`` size (or a Content-Length) that long: the handler died with
    a ValueError traceback and the client got no answer (RemoteDisconnected). Each is a 400 naming what is wrong."""
    _, url = witness
    identity = wclient.chain_identity(ledger.chain)
    long_id = identity.origin.replace(f"/{identity.chain_id}/", f"/{HUGE}/")
    for text, old, said in (
        (_checkpoint(ledger, size=HUGE), "0", "no chain has that many blocks"),
        (_checkpoint(ledger, origin=long_id), "0", "is not a provenance-ledger chain origin"),
        (_checkpoint(ledger), HUGE, "old <size>"),
    ):
        status, body = _post(url, text, old)
        assert status == 400 and said in body, (status, body[:300])
    connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=30)
    connection.putrequest("POST", "/add-checkpoint")
    connection.putheader("Content-Length", HUGE)  # the request's length, spelt with 5,000 digits
    connection.endheaders()
    answer = connection.getresponse()
    assert answer.status == 400 and "Content-Length" in answer.read().decode(), answer.status
    connection.close()
    status, body = _post(url, _checkpoint(ledger))  # the genuine checkpoint is still cosigned
    assert status == 200 and body.startswith("\u2014 court-witness "), body


def test_an_origin_spelt_another_way_is_not_a_second_chain_to_the_witness(
    ledger: Ledger, witness: tuple[Witness, str]
) -> None:
    """Adversary: the chain's operator asking a witness that cosigned the chain's history to cosign the same chain
    under its origin spelt another way (the chain id with a leading zero, the registry in upper case): the witness
    keyed its history by the text, so each spelling was a chain it had never seen, cosigned from scratch whatever
    it had cosigned before. Refused now: an origin is read only as the ledger writes it."""
    _, url = witness
    identity = wclient.chain_identity(ledger.chain)
    assert _post(url, _checkpoint(ledger))[0] == 200
    for spelling in (
        identity.origin.replace(f"/{identity.chain_id}/", f"/0{identity.chain_id}/"),
        identity.origin.replace(identity.registry, "0x" + identity.registry[2:].upper()),
    ):
        status, body = _post(url, _checkpoint(ledger, origin=spelling))
        assert status == 400 and "lower-case hex" in body, (spelling, status, body)


def test_a_hostile_witnesss_huge_numbers_are_its_refusal_not_a_crash_of_the_ledger(
    ledger: Ledger, tmp_path: Path, passphrases: None
) -> None:
    """Adversary: a witness the ledger trusts (one of several), answering the ledger's ``GET /checkpoint`` with a
    cosigned checkpoint whose size has 5,000 digits and its ``add-checkpoint`` with a 409 naming such a size:
    ``ledger audit-chain`` (fetch_latest) and ``ledger witness collect`` died with a ValueError. Now the witness's
    answer is listed as its refusal, and the others are still asked."""
    key = SignerKey.generate("hostile-witness", COSIGNATURE_V1)
    text = _checkpoint(ledger, size=HUGE)
    note = Note(text, (key.cosign(text, 1),)).render()

    class Hostile(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: str, ctype: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer(200, note, "text/plain; charset=utf-8")

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self._answer(409, HUGE + "\n", "text/x.tlog.size")

        def log_message(self, *args: Any) -> None:
            pass

    for url in _serve(Hostile):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, key.verifier),), 1, 0)
        found, problems = wclient.fetch_latest(config, wclient.chain_identity(ledger.chain).origin)
        assert not found and "no chain has that many blocks" in problems["hostile-witness"], problems
        result = wclient.collect(ledger.chain, tmp_path / "data", config)
        assert not result.witnessed and "HTTP 409" in result.refusals["hostile-witness"], result.to_json()


# -- 3. one read of the cosigned block ---------------------------------------------------------------------------


@pytest.fixture()
def own(tmp_path: Path) -> Iterator[Ledger]:
    """A ledger with its own anvil: this test rewrites its chain."""
    instance = Ledger.open(make_settings(tmp_path / "own"), passphrase=PASSPHRASE)
    yield instance
    instance.close()


def test_a_reorganisation_between_the_witnesss_two_reads_of_the_cosigned_block_raises_the_alarm(
    own: Ledger, tmp_path: Path, passphrases: None
) -> None:
    """Adversary: the chain's operator. The witness cosigned block h; the operator replaces block h and the blocks
    after it with another branch just after the witness checked that block h still had the cosigned hash (the
    node in front of the witness answers that first read as it did before the reorganisation) and before it read
    blocks h..h+3 to check their links. The witness cosigned the new branch at h+3 without an alarm; it must
    refuse it as history rewritten, with an alarm."""
    for _ in range(3):
        rpc(own, "evm_mine")
    before = rpc(own, "evm_snapshot")
    rpc(own, "evm_mine")
    h = own.chain.block_number()
    old_block = own.chain.w3.provider.make_request("eth_getBlockByNumber", [hex(h), False])["result"]  # type: ignore[arg-type]

    def as_before_the_reorganisation(request: dict[str, Any]) -> bytes | None:
        if request.get("method") == "eth_getBlockByNumber" and (request.get("params") or [None])[0] == hex(h):
            return json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": old_block}).encode()
        return None

    store = WitnessStore(tmp_path / "witness")
    store.create_key("court-witness")
    with RpcProxy(rpc_url(own), intercept=as_before_the_reorganisation) as proxy:
        running = Witness(store, Rpc(proxy.url), log=lambda _line: None)
        identity = wclient.chain_identity(own.chain)
        cosigned = running.add_checkpoint(_request(own, identity.origin, h, "0"))
        assert cosigned.startswith("\u2014 court-witness ")

        assert rpc(own, "evm_revert", before) is True  # block h and what follows are replaced
        rpc(own, "evm_increaseTime", 7)  # other timestamps, so other hashes
        for _ in range(4):
            rpc(own, "evm_mine")
        assert bytes(own.chain.w3.eth.get_block(h)["hash"]).hex() != old_block["hash"].removeprefix("0x")

        with pytest.raises(WitnessRefusal) as refused:
            running.add_checkpoint(_request(own, identity.origin, h + 3, str(h + 1)))
    assert refused.value.alarm and "history rewritten" in str(refused.value), str(refused.value)
    assert f"block {h}" in (tmp_path / "witness" / "alarms.log").read_text()


def _request(ledger: Ledger, origin: str, height: int, old: str) -> bytes:
    block_hash = bytes(ledger.chain.w3.eth.get_block(height)["hash"])
    text = f"{origin}\n{height + 1}\n{base64.b64encode(block_hash).decode()}\n"
    note = Note(text, (SignerKey.generate("the-ledger", ED25519).sign_note(text),)).render()
    return f"old {old}\n\n{note}".encode()


# -- 4. only published rules are re-run --------------------------------------------------------------------------


def test_a_forgers_own_rules_are_not_run_by_either_verifier(
    ledger: Ledger, approved: dict[str, Any], tmp_path: Path
) -> None:
    """Adversary: a forger handing the court a genuine decision bundle whose record they edited (the entry hash
    fails) to name rules of their own, which compare two 400,000-element lists they added to the input (its
    commitment recomputed into the record) 40,000 times. Both verifiers ran those rules for an hour or more (the
    timeouts catch that); now neither runs rules that were never published, and the two agree at once."""
    forged = copy.deepcopy(approved)
    n = 400_000
    extra = {"item.big_a": [0] * n, "item.big_b": [0] * n}
    section = forged["input"]
    section["fields"].update(extra)
    section["salts"].update(dict.fromkeys(extra, "11" * 16))
    hashes = field_hashes(section["fields"], {k: bytes.fromhex(v) for k, v in section["salts"].items()})
    hashes.update({k: bytes.fromhex(v) for k, v in section["hidden"].items()})
    forged["decision"]["body"]["input_commitment"] = decision_input.commitment(hashes)
    # as many conditions as a rule set may have (round 15c bounds the size; the original attack had 40,000)
    document = one_rule_set({"all": [{"field": "item.big_a", "op": "==", "ref": "item.big_b"}] * 999})
    rules.load_rule_set(document)  # rules both engines accept
    digest = hex32(document_digest(document))
    forged["rule_set"].update(document=document, digest=digest)
    forged["decision"]["body"]["rule_set"] = digest
    path = tmp_path / "own-rules.json"
    path.write_text(json.dumps(forged, separators=(",", ":")), encoding="utf-8")
    assert path.stat().st_size < evidence.MAX_BUNDLE_BYTES

    library: list[evidence.BundleReport] = []
    worker = threading.Thread(target=lambda: library.append(evidence.verify_bundle(path, ledger.chain)), daemon=True)
    worker.start()
    run = subprocess.run(
        [sys.executable, str(SCRIPT), str(path), "--rpc", rpc_url(ledger), "--json"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    worker.join(timeout=60)
    assert library, "the library was still running the forger's rules"
    assert run.returncode == 1 and run.stdout.strip(), run.stderr
    court = json.loads(run.stdout)
    report = library[0]
    assert failed_names(court) == {c.name for c in report.failed}, (court, report.to_json())
    assert {"entry_hash", "rule_set_published"} <= failed_names(court), court
    rerun = next(c for c in court["checks"] if c["name"] == "rerun")
    assert rerun["result"] == "SKIP" and "not one published on chain" in rerun["detail"], rerun
    assert report.check("rerun").skipped and "not one published on chain" in report.check("rerun").detail


# -- 5. member names that are no text -----------------------------------------------------------------------------


@pytest.mark.parametrize("section", [None, "chain", "anchor", "as_of", "department", "rule_set", "decision"])
def test_a_member_name_holding_a_lone_surrogate_is_refused_by_both_verifiers(
    ledger: Ledger, approved: dict[str, Any], tmp_path: Path, section: str | None
) -> None:
    """Adversary: a forger (or the court's hostile expert) adding to a genuine bundle one member whose name is the
    escape ``\\ud800`` alone: at the top ``ledger evidence verify`` crashed (IndexError); in a section the library
    failed ``bundle`` while the court's verifier, ignoring unknown members, VERIFIED the bundle. Both refuse it."""
    if section in ("rule_set", "decision"):
        bundle = copy.deepcopy(approved)
    else:
        bundle = evidence.certificate_bundle(ledger, issue(ledger, tmp_path, "MKT", make_records(1))[0])
    (bundle if section is None else bundle[section])["note\ud800"] = "a producer's remark"
    path = tmp_path / "surrogate.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")  # written as the escape \ud800, as JSON allows
    assert "\\ud800" in path.read_text(encoding="utf-8")
    code, result, stderr = standalone(ledger, path)
    assert code == 2 and result is None and "lone surrogate" in stderr, (code, result, stderr)
    report = evidence.verify_bundle(path, ledger.chain)
    assert not report.ok and "lone surrogate" in report.check("bundle").detail, report.to_json()


# -- 6. a credential's own JSON-LD contexts ----------------------------------------------------------------------


def test_a_credential_with_contexts_of_its_own_is_refused_before_any_json_ld_processing(
    ledger: Ledger, tmp_path: Path
) -> None:
    """Adversary: a holder (or anyone, at the gateway's public verify) handing in their credential with an inline
    JSON-LD context of their own: a term whose scoped context defines 6,000 terms, nested 450 levels deep in the
    subject. The JSON-LD processor ran before the envelope was compared with the ledger's own, for a minute or more
    per verification (the timeout catches that). Refused at once now, as a credential naming any other context is."""
    document = issue(ledger, tmp_path, "MKT", make_records(1))[0]
    credential = vc.to_credential(document)
    credential["@context"].append({"a": {"@id": "urn:x:a", "@context": {f"t{i}": f"urn:x:t{i}" for i in range(6000)}}})
    nested: dict[str, Any] = {}
    node = nested
    for _ in range(450):
        node["a"] = {}
        node = node["a"]
    credential["credentialSubject"]["a"] = nested
    assert vc.schema_errors(credential) == []  # a conforming VC 2.0 credential
    path = tmp_path / "own-contexts.json"
    path.write_text(json.dumps(credential), encoding="utf-8")
    code = (
        "import json, sys\n"
        "from ledger.errors import InputError\n"
        "from ledger.formats import vc\n"
        "try:\n"
        "    vc.to_document(json.loads(open(sys.argv[1], encoding='utf-8').read()))\n"
        "except InputError as exc:\n"
        "    print('refused:', exc)\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=30, cwd=REPO)
    assert run.returncode == 0 and "its @context names others" in run.stdout, (run.stdout, run.stderr)
    report = verify_certificate(str(path), ChainView(ledger.chain, 0))
    assert [c.name for c in report.failed] == ["format"] and "@context" in report.check("format").detail


# -- 7. a rewrite to the same height -----------------------------------------------------------------------------


def test_a_rewrite_to_the_same_height_is_not_reported_witnessed_by_a_long_lived_view(
    own: Ledger, tmp_path: Path, passphrases: None
) -> None:
    """Adversary: the chain's operator. A witness cosigned the head; the operator replaces the chain from below
    that block with a branch of the same height and makes no further block. The gateway's view (one per process)
    kept its check of the cosigned block per head number, so it reported the rewritten chain as witnessed for as
    long as no block came; it must find the rewrite once its recheck interval has passed."""
    for _ in range(2):
        rpc(own, "evm_mine")
    before = rpc(own, "evm_snapshot")
    for _ in range(3):
        rpc(own, "evm_mine")
    store = WitnessStore(tmp_path / "witness")
    store.create_key("court-witness")
    running = Witness(store, Rpc(rpc_url(own)), log=lambda _line: None)
    for url in _serve(make_handler(running)):
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, running.verifier),), 1, 0)
        collected = wclient.collect(own.chain, own.settings.data_dir, config)
    assert collected.witnessed and collected.checkpoint is not None
    cosigned = collected.checkpoint.checkpoint.height
    head = own.chain.block_number()  # the head the gateway last read (its refresher publishes it)
    now = [0.0]
    view = wclient.WitnessView(own.chain, config, None, own.settings.data_dir, clock=lambda: now[0])
    ok, detail = view.check([cosigned], head)
    assert ok, detail

    assert rpc(own, "evm_revert", before) is True
    rpc(own, "evm_increaseTime", 7)  # other timestamps, so other hashes
    while own.chain.block_number() < head:  # back to the same height: only the blocks changed
        rpc(own, "evm_mine")
    assert bytes(own.chain.w3.eth.get_block(cosigned)["hash"]) != collected.checkpoint.checkpoint.block_hash
    now[0] += wclient.RECHECK_SECONDS
    ok, detail = view.check([cosigned], head)
    assert not ok and "rewritten below a witnessed height" in detail, detail
