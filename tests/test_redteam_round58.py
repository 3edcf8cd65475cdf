"""Red team round 58: a court's expert, a forger and the chain's operator against evidence bundles.

1. Found (a forger handing the court a bundle; the court's expert reading the verdict on a terminal): a bundle
   member both verifiers echo in a failing check's detail (``department.id``, ``decision.department``,
   ``rule_set.department``, ``decision.body.rule_set``) reached the terminal as written: an escape sequence there
   (``ESC [8m``: conceal) hid every line after it, the NOT VERIFIED verdict included, and a carriage return with
   ``ESC [2K`` wrote over the FAIL line, so the screen showed what the forger printed. Fixed: both verifiers'
   text reports (``scripts/verify_evidence.py`` and ``ledger evidence verify``, and ``ledger verify``'s report)
   print every character that is not printable as its escape (``\\x1b``); the JSON reports were already escaped.
2. Found (the chain's operator, or a node at the court's URL, with a department that recorded an approval taken
   after the cited licence's revocation on the facts of the block before it): asked for the block after the facts
   block, the node answered the head block. The library refuses a block of another number (round 37) and was NOT
   VERIFIED; the court's verifier took the head's time for the next block's and VERIFIED the forged decision.
   Fixed: the court's verifier refuses a block of another number than asked (``Rpc.block``), failing the check.
3. Found (the chain's operator, or a node at the court's or the ledger's URL): an honest answer sent a byte every
   half second (any pace under the read timeout) held both readers for as long as the node liked: the timeout
   bounded each read from the socket, not the answer, so 100 bytes of a block number took 50 s and a verification
   of hundreds of answers days, with nothing printed. Fixed: an answer must arrive whole within the timeout (the
   court's ``Rpc``, the ledger's node session), else the node did not answer: the chain could not be read.
4. Found (the court's expert reading a verdict): when the chain could not be read (a node down, or one given up as
   in 3), no check failed and both text reports ended ``NOT VERIFIED: `` naming nothing. Fixed: the verdict line
   names the checks that were not run, and says none failed.
5. Found (the chain's operator, or whoever answers at the court's URL): a node answering the head's number with
   8 MiB of digits had the court's verifier quote the whole answer in the check's detail (50 s, an 8 MiB line on
   the expert's terminal; 256 MiB at the bound). Fixed: a node's value is named by a bounded repr (``brief``).
6. Found (a forger handing the court the files to check): the court's verifier opened the bundle and the ``--file``
   scan with ``open()``, so a named pipe no process writes to held it for ever (the library reads such a pipe as
   empty since round 56), and it read the scan whole into memory: a sparse 1 GiB "scan" took 1 GiB, a larger one
   more than the machine has, where the library hashes a file a piece at a time. Fixed: the court's verifier opens
   both without waiting, and hashes the scan in 1 MiB pieces.
7. Found (a forger handing a bundle to whoever checks it with the library): a lone surrogate (the JSON escape
   ``\\ud800``) in a member the report echoes (``decision.department``) stopped ``ledger evidence verify --report``
   half-way through its JSON with a UnicodeEncodeError (the court's ``--json`` escapes it), and a bidirectional
   override or a C1 control went to the terminal as written. Fixed: the CLI's JSON (``print_json``) writes each
   character that is not printable as a JSON escape.
8. Found (the chain's operator, or whoever answers at the court's URL or the ledger's): an answer of empty objects
   (``[{},{},...]``) is parsed into some 30 times its size in memory: 8 MiB took the court's verifier to 250 MB, and
   the 256 MiB both readers take would take about 8 GB, enough to have a court's machine kill it. Fixed: both refuse
   unparsed an answer packing more than one JSON value per 16 bytes (honest answers: one per 20 or more), above a
   floor of 100,000 values.
"""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
import time
import urllib.request
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from ledger.cli import main as cli_main
from ledger.cli.evidence import verdict_line
from ledger.client import Ledger
from ledger.onchain._node_http import NodeAnswerError, decode_answer
from ledger.onchain.chain import Chain, connect
from ledger.services import evidence

from .conftest import TEST_ITEMS, TEST_TYPES, make_records
from .evidence_support import SCRIPT, SCRIPT_MODULE, cli_env, decided, failed_names, issue, rpc_url, standalone
from .node_support import closed_port, serving
from .rerun_support import World, decided_after_revocation, world_fixture  # noqa: F401 - the decisions' world
from .rpc_proxy import RpcProxy

# conceal what follows (ESC [8m), then a carriage return and an erase of the line (ESC [2K), a right-to-left
# override (U+202E), a C1 control sequence introducer (U+009B) and a bell: none is a character a report shows
TERMINAL = "\x1b[8m\r\x1b[2K\u202e\x9b\x07"


@pytest.fixture(scope="module")
def certificate(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    (document,) = issue(ledger, tmp_path_factory.mktemp("r58"), "MKT", make_records(1))
    return evidence.certificate_bundle(ledger, document)


@pytest.fixture(scope="module")
def decision(ledger: Ledger) -> dict[str, Any]:
    from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER
    from ledger.services.departments import Council

    code = f"R58{os.getpid() % 1000}"
    Council(ledger).register(
        code, "Red team 58 approvals", ROLE_ISSUER | ROLE_APPROVER, types=TEST_TYPES, items=TEST_ITEMS
    )
    _rule_set, apps = decided(ledger, code, n=3)
    return evidence.decision_bundle(ledger, code, apps[1]["case_id"])


def _edited(bundle: dict[str, Any], path: tuple[str, ...], suffix: str) -> dict[str, Any]:
    edited = copy.deepcopy(bundle)
    node = edited
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] += suffix
    return edited


def _court_text(ledger: Ledger, path: Path) -> subprocess.CompletedProcess[str]:
    """The court's verifier as the expert runs it: a process of its own, the contracts pinned, its report as text."""
    pins = ["--anchor", ledger.chain.deployment.anchor, "--log", ledger.chain.deployment.log]
    return subprocess.run(
        [sys.executable, "-I", "-S", str(SCRIPT), str(path), "--rpc", rpc_url(ledger), *pins],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _shown_raw(text: str) -> list[str]:
    """The characters of ``text`` a terminal acts on instead of showing (every one but the line ends)."""
    return sorted({c for c in text if not c.isprintable() and c != "\n"})


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("certificate", ("department", "id")),
        ("decision", ("department", "id")),
        ("decision", ("decision", "department")),
        ("decision", ("rule_set", "department")),
        ("decision", ("decision", "body", "rule_set")),
    ],
)
def test_terminal_escapes_in_a_bundle_reach_no_report_as_written(
    ledger: Ledger,
    certificate: dict[str, Any],
    decision: dict[str, Any],
    kind: str,
    path: tuple[str, ...],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Adversary: a forger handing the court a bundle, one member of which both verifiers echo in a failing check's
    detail, ending in terminal escapes: conceal (everything after it, the NOT VERIFIED verdict included, is not
    shown), a carriage return and an erase of the line (the FAIL line is wiped), a right-to-left override. The
    court's expert reads the report on a terminal. Both verifiers' text reports must show those characters as
    escapes, and still fail the check and name the member's value."""
    genuine = certificate if kind == "certificate" else decision
    # department.id is checked for ASCII of at most 32 characters before it is compared
    suffix = "\x1b[8m\r\x1b[2K\x07" if path == ("department", "id") else TERMINAL
    edited = _edited(genuine, path, suffix)
    bundle = tmp_path / "edited.json"
    bundle.write_text(json.dumps(edited), encoding="utf-8")
    court = _court_text(ledger, bundle)
    assert court.returncode == 1, court.stderr
    assert _shown_raw(court.stdout + court.stderr) == [], (court.stdout, court.stderr)
    assert "\\x1b[8m" in court.stdout, court.stdout  # the value is named, visibly
    assert court.stdout.splitlines()[-1].startswith("NOT VERIFIED: "), court.stdout
    data_dir = cli_env(ledger, monkeypatch)
    capsys.readouterr()
    assert cli_main([*data_dir, "evidence", "verify", str(bundle)]) == 1
    library = capsys.readouterr()
    assert _shown_raw(library.out + library.err) == [], (library.out, library.err)
    assert "\\x1b[8m" in library.out, library.out
    assert library.out.splitlines()[-1].startswith("NOT VERIFIED: "), library.out


def test_a_block_of_another_height_is_the_nodes_failure_in_the_courts_verifier_too(
    ledger: Ledger, world: World, tmp_path: Path
) -> None:
    """Adversary: the chain's operator (or a node behind the court's URL) helping a department that recorded an
    approval taken after the cited licence's revocation, on the facts of the block before it: asked for the block
    after the facts block (its time says the facts block was no longer the head when the decision was taken), the
    node answers with the head block instead, mined after the forged decided_at. The library refuses a block of
    another number than asked (round 37) and fails; the court's verifier took the answer and passed
    ``certificate_facts``: a forged decision VERIFIED in court. Both must refuse the node's answer."""
    block, _, bundle = decided_after_revocation(ledger, world, "RT58-HEIGHT", 2)
    for _ in range(3):
        ledger.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    upstream = rpc_url(ledger)

    def intercept(request: dict[str, Any]) -> bytes | None:
        params = request.get("params") or []
        if request.get("method") != "eth_getBlockByNumber" or not params or params[0] != hex(block + 1):
            return None
        latest = {**request, "params": ["latest", *params[1:]]}
        asked = urllib.request.Request(upstream, json.dumps(latest).encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(asked, timeout=60) as answer:
            return bytes(answer.read())

    proxy = RpcProxy(upstream, intercept=intercept)
    honest = ledger.chain
    try:
        path = tmp_path / "another-height.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        assert "certificate_facts" in {c.name for c in evidence.verify_bundle(path, honest).failed}
        ledger.chain = Chain(connect(proxy.url), honest.deployment, gas_price=0, artifacts=honest.artifacts)
        report = evidence.verify_bundle(path, ledger.chain)
        code, result, stderr = standalone(ledger, path, "--rpc", proxy.url)
        assert result is not None, stderr
        library = next(c for c in report.checks if c.name == "certificate_facts")
        assert not report.ok and "another block" in library.detail, report.to_json()
        assert code == 1 and not result["verified"], result
        facts = next(c for c in result["checks"] if c["name"] == "certificate_facts")
        assert facts["result"] == "FAIL", facts
        assert f"asked for block {block + 1}, the node answered block" in facts["detail"], facts
    finally:
        ledger.chain = honest
        proxy.server.shutdown()


def _trickling(upstream: str, pause: float) -> type[BaseHTTPRequestHandler]:
    """A node that forwards each request to ``upstream`` and sends the honest answer (padded with JSON's white space
    to 100 bytes) one byte every ``pause`` seconds, each byte well within any read timeout."""

    class Trickling(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            asked = urllib.request.Request(upstream, body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(asked, timeout=60) as answer:
                raw = bytes(answer.read()).ljust(100)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            try:
                for i in range(len(raw)):
                    self.wfile.write(raw[i : i + 1])
                    self.wfile.flush()
                    time.sleep(pause)
            except OSError:
                pass  # the reader gave up

        def log_message(self, *_: Any) -> None:
            pass

    return Trickling


def test_a_node_answering_a_byte_at_a_time_holds_neither_verifier(
    ledger: Ledger, certificate: dict[str, Any], tmp_path: Path
) -> None:
    """Adversary: the chain's operator (or whoever answers at the URL the court gives, or the ledger's node URL)
    holding the verification of a bundle it would rather not see judged: every answer is honest but sent a byte every
    half second, never a pause as long as the read timeout. The timeout bounded each read, not the answer: 100 bytes
    took 50 s, and a bundle's hundreds of answers days, with nothing said. Both readers (the court's, with a 2 s
    timeout here, and the ledger's chain client, with the same) must give the node up within a few timeouts, the
    court's saying why, and verify nothing."""
    path = tmp_path / "held.json"
    path.write_text(json.dumps(certificate), encoding="utf-8")
    with serving(_trickling(rpc_url(ledger), 0.5)) as url:
        started = time.monotonic()
        with pytest.raises(ConnectionError, match=r"did not answer eth_chainId whole within 2 s"):
            SCRIPT_MODULE.Rpc(url, timeout=2.0)("eth_chainId")
        court = SCRIPT_MODULE.Verifier(
            certificate, SCRIPT_MODULE.Rpc(url, timeout=2.0), anchor=None, file=None, confirmations=0
        ).run()
        assert time.monotonic() - started < 20, time.monotonic() - started
        assert [
            r
            for r in court
            if r[1] == "PASS"
            and r[0] not in ("bundle", "fields", "disclosure", "digest", "merkle_proof", "validity", "attachment")
        ] == [], court
        assert any("whole within 2 s" in detail for _, outcome, detail in court if outcome == "SKIP"), court
        started = time.monotonic()
        honest = ledger.chain
        slow = Chain(connect(url, timeout=2.0), honest.deployment, gas_price=0, artifacts=honest.artifacts)
        report = evidence.verify_bundle(path, slow)
        assert time.monotonic() - started < 40, time.monotonic() - started  # web3 asks a timed-out read again
        assert not report.ok, report.to_json()


def test_a_verdict_with_nothing_failed_names_what_was_not_checked(
    ledger: Ledger, certificate: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Adversary: whoever keeps the court's node from answering (the chain's operator taking it down for the
    hearing), and the expert who reads the last line. Nothing failed, so both text reports ended ``NOT VERIFIED: ``
    naming nothing; the verdict line must say that nothing failed and which checks were not run."""
    path = tmp_path / "unread.json"
    path.write_text(json.dumps(certificate), encoding="utf-8")
    down = f"http://127.0.0.1:{closed_port()}"
    court = subprocess.run(
        [sys.executable, "-I", "-S", str(SCRIPT), str(path), "--rpc", down], capture_output=True, text=True, timeout=120
    )
    assert court.returncode == 1, court.stderr
    verdict = court.stdout.splitlines()[-1]
    assert verdict.startswith("NOT VERIFIED: no check failed; not checked: chain, "), court.stdout
    assert "witnessed" in verdict, verdict
    slow = Chain(connect(down, timeout=2.0), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
    report = evidence.verify_bundle(path, slow)
    assert not report.ok and not report.failed, report.to_json()
    assert verdict_line(report).startswith("NOT VERIFIED: no check failed; not checked: chain, "), report.to_json()


def _empty_objects(size: int) -> type[BaseHTTPRequestHandler]:
    """A node answering every request with a result of ``size`` bytes of empty objects (no number, no string to
    bound): the most values JSON packs into a byte."""

    class EmptyObjects(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            items = b",".join([b"{}"] * (size // 3))
            raw = b'{"jsonrpc":"2.0","id":' + str(request.get("id")).encode() + b',"result":[' + items + b"]}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            try:
                self.wfile.write(raw)
            except OSError:
                pass

        def log_message(self, *_: Any) -> None:
            pass

    return EmptyObjects


# the court's verifier run as a script, its own peak memory (KiB: VmHWM, which an exec resets, where ru_maxrss keeps
# the forking test process's) written on standard error at its end
PEAK = (
    "import runpy, sys\n"
    "sys.argv = sys.argv[1:]\n"
    "try:\n"
    "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    "peak = [line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:')]\n"
    "print('peak', peak[0], file=sys.stderr)\n"
)


def _long_text(size: int) -> type[BaseHTTPRequestHandler]:
    """A node answering every request with a result that is one text of ``size`` characters."""

    class LongText(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            raw = json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": "0x" + "9" * size}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            try:
                self.wfile.write(raw)
            except OSError:
                pass

        def log_message(self, *_: Any) -> None:
            pass

    return LongText


def test_a_node_answer_in_place_of_a_number_is_named_briefly(certificate: dict[str, Any], tmp_path: Path) -> None:
    """Adversary: the chain's operator (or whoever answers at the court's URL) filling the expert's report: it answers
    the head's number with 8 MiB of digits (no hex quantity: past 64 digits). The court's verifier quoted the whole
    answer in the failing check's detail; it must name it in a line a person can read, and fail the check."""
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(certificate), encoding="utf-8")
    with serving(_long_text(8 * 2**20)) as url:
        court = subprocess.run(
            [sys.executable, "-I", "-S", str(SCRIPT), str(path), "--rpc", url, "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert court.returncode == 1, court.stderr[-2000:]
    result = json.loads(court.stdout)
    failed = [c for c in result["checks"] if c["result"] == "FAIL"]
    assert [c["name"] for c in failed] == ["chain"], failed
    assert "not a hex quantity" in failed[0]["detail"] and len(failed[0]["detail"]) < 300, failed[0]["detail"][:300]
    assert len(court.stdout) < 20_000, len(court.stdout)


def test_a_node_answer_of_empty_objects_multiplies_in_neither_verifiers_memory(
    ledger: Ledger, certificate: dict[str, Any], tmp_path: Path
) -> None:
    """Adversary: the chain's operator (or whoever answers at the court's URL or the ledger's) wanting the verifier
    killed rather than a verdict given: an answer of empty objects, the most values JSON packs into a byte, is parsed
    into some 30 times its size (8 MiB here: 250 MB; both read up to 256 MiB, about 8 GB). Both verifiers must refuse
    such an answer unparsed (the court's peak memory far below 250 MB), verifying nothing."""
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(certificate), encoding="utf-8")
    with serving(_empty_objects(8 * 2**20)) as url:
        run = subprocess.run(
            [sys.executable, "-I", "-S", "-c", PEAK, str(SCRIPT), str(path), "--rpc", url, "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        honest = ledger.chain
        hostile = Chain(connect(url), honest.deployment, gas_price=0, artifacts=honest.artifacts)
        report = evidence.verify_bundle(path, hostile)
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    peak_mib = int(run.stderr.rsplit("peak ", 1)[1]) / 1024
    assert peak_mib < 80, (peak_mib, run.stdout[-1000:])  # 250 MiB (VmHWM) before the fix
    court = json.loads(run.stdout)
    assert not court["verified"], court
    assert any("more JSON values than one per 16 bytes" in c["detail"] for c in court["checks"]), court
    assert not report.ok, report.to_json()
    answer = b'{"jsonrpc":"2.0","id":1,"result":[' + b",".join([b"{}"] * (8 * 2**20 // 3)) + b"]}"
    with pytest.raises(NodeAnswerError, match="more JSON values than one per 16 bytes"):
        decode_answer(answer)  # what both of the ledger's request paths parse answers with
    assert decode_answer(b'{"jsonrpc":"2.0","id":1,"result":[' + b",".join([b"{}"] * 1000) + b"]}")["result"]


def test_a_named_pipe_for_the_bundle_or_the_scan_holds_no_verifier(
    ledger: Ledger, certificate: dict[str, Any], tmp_path: Path
) -> None:
    """Adversary: a forger handing the court "the bundle" and "the scan" on a medium of their own, each a named pipe
    no process writes to. The library reads such a pipe as empty (round 56); the court's verifier opened each with
    ``open()``, which waits for a writer for ever. It must answer at once: the bundle is no JSON (an error, exit 2),
    the scan's hash no attachment of the certificate (``attachment`` fails), as the library says."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(certificate), encoding="utf-8")
    for arguments in ([str(pipe)], [str(bundle), "--file", str(pipe)]):
        try:
            court = subprocess.run(
                [sys.executable, "-I", "-S", str(SCRIPT), *arguments, "--rpc", rpc_url(ledger), "--json"],
                capture_output=True,
                text=True,
                timeout=60,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"the court's verifier waited for a writer of the named pipe ({arguments})")
        if arguments[0] == str(pipe):
            assert court.returncode == 2 and "not valid JSON" in court.stderr, court.stderr
        else:
            assert court.returncode == 1, court.stderr
            checks = {c["name"]: c for c in json.loads(court.stdout)["checks"]}
            assert checks["attachment"]["result"] == "FAIL", checks["attachment"]
            library = evidence.verify_bundle(bundle, ledger.chain, file=pipe)
            assert "attachment" in {c.name for c in library.failed}, library.to_json()


def test_a_huge_scan_is_hashed_a_piece_at_a_time(certificate: dict[str, Any], tmp_path: Path, ledger: Ledger) -> None:
    """Adversary: a forger handing the court a "scan" of 1 GiB (sparse: it costs them nothing), or of more than the
    court's machine has: the court's verifier read it whole into memory to hash it. It must hash it a piece at a
    time (its peak memory far below the file's size) and fail ``attachment``, as the library does."""
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(certificate), encoding="utf-8")
    scan = tmp_path / "scan.pdf"
    with scan.open("wb") as handle:
        handle.truncate(2**30)
    arguments = [str(SCRIPT), str(bundle), "--rpc", rpc_url(ledger), "--json", "--file", str(scan)]
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-c", PEAK, *arguments], capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    checks = {c["name"]: c for c in json.loads(run.stdout)["checks"]}
    assert checks["attachment"]["result"] == "FAIL", checks["attachment"]
    peak_mib = int(run.stderr.rsplit("peak ", 1)[1]) / 1024
    assert peak_mib < 200, peak_mib


def test_a_lone_surrogate_echoed_in_a_detail_is_written_as_json_by_both_reports(
    ledger: Ledger,
    decision: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Adversary: a forger handing a decision bundle to whoever checks it with the library's JSON report: its
    ``decision.department`` ends in a lone surrogate (the JSON escape ``\\ud800``), a right-to-left override and a
    C1 control sequence introducer, which the failing ``rule_set_published`` check echoes. ``ledger evidence verify
    --report`` stopped half-way through its JSON (UnicodeEncodeError); it must write the whole report as JSON with
    those characters escaped, as the court's ``--json`` does, both failing the same checks."""
    edited = _edited(decision, ("decision", "department"), "\ud800\u202e\x9b")
    bundle = tmp_path / "surrogate.json"
    bundle.write_text(json.dumps(edited), encoding="utf-8")  # ensure_ascii: the escape, as a forger writes it
    data_dir = cli_env(ledger, monkeypatch)
    capsys.readouterr()
    assert cli_main([*data_dir, "evidence", "verify", str(bundle), "--report"]) == 1
    out = capsys.readouterr().out
    assert _shown_raw(out) == [], out[-2000:]
    report = json.loads(out)
    code, court, stderr = standalone(ledger, bundle)
    assert court is not None, stderr
    assert code == 1 and report["verified"] is False, (court, report)
    library_failed = {c["name"] for c in report["checks"] if not c["ok"] and not c["skipped"]}
    assert library_failed == failed_names(court), (report, court)
    assert "rule_set_published" in library_failed, report


def test_the_clis_json_is_escaped_in_one_pass_when_nothing_needs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """(A department exporting many certificates of Chinese names) ``print_json`` looked at each character past
    ASCII with a Python call to decide whether to escape it: a large export of non-ASCII names paid a call per
    character. Text with nothing to escape is now written after one pass in C; text with something to escape is
    escaped exactly as before (a lone surrogate, a bidirectional override, a C1 control, a character past U+FFFF
    that is not printable), printable text past ASCII left as written.
    Adversary: the forger of round 58, whose unprintable member must still reach no terminal as written."""
    from ledger.cli import output

    calls: list[str] = []
    real = output._json_escape

    def counting(found: Any) -> str:
        calls.append(found.group())
        return real(found)

    monkeypatch.setattr(output, "_json_escape", counting)
    names = [{"name": "张伟" * 50, "city": "Zürich", "note": "café ✓ 🎉"} for _ in range(200)]
    written = io.StringIO()
    output.print_json(names, written)
    assert calls == [] and json.loads(written.getvalue()) == names
    assert "张伟" in written.getvalue() and "🎉" in written.getvalue()

    hostile = {"department": "GOV\ud800\u202e\x9b\x7f\U000e0001", "name": "张伟"}
    written = io.StringIO()
    output.print_json(hostile, written)
    assert written.getvalue() == (
        '{\n  "department": "GOV\\ud800\\u202e\\u009b\\u007f\\udb40\\udc01",\n  "name": "张伟"\n}\n'
    )
    assert json.loads(written.getvalue()) == hostile
    assert calls, "the escaping ran"
