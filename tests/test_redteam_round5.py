"""Red team, round 5: JSON that is not what the ledger wrote, read back where nobody expected it.

Holes found (each test failed at fc7b047):
- an insider with database access writes a body that is not JSON into a department's decision log: the auditor's
  ``GET /audit/logs/decisions`` (every department's entries) answers 500 for the whole log, so one edited row hides
  every other department's history from the auditor (found by CI, where a test's edit met the permission matrix);
- JSON nested ~100,000 levels deep (200 KB of ``[``) crashes the process that parses it: a dependency raises
  Python's recursion limit to 100,000, so the standard parser recurses until the C stack overflows (SIGSEGV).
  A forger hands a department such an evidence bundle or certificate document (``ledger evidence verify``,
  ``ledger verify``), an insider writes one into a log body (``ledger replay``, the audit endpoint), and the
  court's standalone verifier reached the same bundle through a RecursionError traceback.
- the depth scan read UTF-16 bytes raw: U+225D is "]" and a quote there, so a 1.4 MB bundle hid 99,000 levels;
- the scan's string pattern (and the gateway's before it, for any body orjson refuses) was quadratic on a text of
  escaped quotes: an anonymous client's 64 KB body cost 94 s of CPU, its 1 MB body hours.
Every parser of the ledger now refuses JSON nested deeper than ``MAX_JSON_DEPTH`` (no value the ledger writes
comes near it) with a JSONDecodeError that says so, before the recursive parser sees it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from ledger.client import Ledger
from ledger.formats.canonical import MAX_JSON_DEPTH, json_loads, strict_json_loads
from ledger.services import logchain
from ledger.services.departments import Council

from .api_support import Clock, bearer, login, make_client, register
from .cli_support import run_cli
from .conftest import DEPARTMENTS, PASSPHRASE, make_settings
from .decision_support import decided_history
from .evidence_support import standalone


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    """A ledger of this module's own: the junk written here stays out of the session's logs, which other modules
    read whole (every department's decision log, every log's check)."""
    instance = Ledger.open(make_settings(tmp_path_factory.mktemp("junk")), passphrase=PASSPHRASE)
    council = Council(instance)
    for code, (name, roles) in DEPARTMENTS.items():
        council.register(code, name, roles)
    yield instance
    instance.close()


DEEP = 100_000  # levels: 200 KB, under every size limit, far past what the C stack holds at one frame per level


def _deep_array(levels: int = DEEP) -> str:
    return "[" * levels + "]" * levels


def _deep_object(levels: int = DEEP) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def _in_a_process_with_the_raised_limit(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` after importing eth_account (which raises the recursion limit), as the ledger's processes do:
    a crash here is a dead process, not a failed assertion in this one."""
    return subprocess.run(
        [sys.executable, "-c", "import eth_account, sys\nassert sys.getrecursionlimit() >= 10_000\n" + code],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("parser", ["json_loads", "strict_json_loads"])
@pytest.mark.parametrize("shape", ["array", "object"])
def test_deep_json_is_refused_by_the_ledgers_parsers_not_a_crash(parser: str, shape: str) -> None:
    make = "'[' * 100_000 + ']' * 100_000" if shape == "array" else "'{\"a\":' * 100_000 + '1' + '}' * 100_000"
    run = _in_a_process_with_the_raised_limit(
        "import json\n"
        f"from ledger.formats.canonical import {parser} as parse\n"
        f"text = {make}\n"
        "for value in (text, text.encode()):\n"
        "    try:\n"
        "        parse(value)\n"
        "    except json.JSONDecodeError as exc:\n"
        "        print('refused:', exc)\n"
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.count("refused:") == 2 and f"nested deeper than {MAX_JSON_DEPTH} levels" in run.stdout


# Each level opens an array whose first item is a string of U+225D: in UTF-16 its bytes are 0x5D 0x22 ("]" and the
# quote), so a scan of the raw bytes sees strings end early and more brackets close than open (depth 1), while json,
# which decodes UTF-16 and UTF-32 bytes itself, recurses once per level.
_HIDDEN = "'[\"\u225d\u225d\",' * 99_000 + '1' + ']' * 99_000"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_bytes_in_utf16_or_utf32_cannot_hide_their_depth_from_the_scan(encoding: str) -> None:
    """A forger's 1.4 MB bundle (under the 4 MB limit) in UTF-16: json reads it, so the depth scan must too."""
    run = _in_a_process_with_the_raised_limit(
        "import json\n"
        "from ledger.formats.canonical import json_loads, strict_json_loads\n"
        f"raw = ({_HIDDEN}).encode({encoding!r})\n"
        "for parse in (json_loads, strict_json_loads):\n"
        "    try:\n"
        "        parse(raw)\n"
        "    except json.JSONDecodeError as exc:\n"
        "        print('refused:', exc)\n"
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.count("refused:") == 2 and "nested deeper" in run.stdout
    if encoding == "utf-16":  # and a shallow UTF-16 text still reads, as json reads it
        assert strict_json_loads('{"a": ["\u225d]]"]}'.encode(encoding)) == {"a": ["\u225d]]"]}


def test_the_depth_limit_is_exact_and_applies_whichever_parser_reads_the_text() -> None:
    """At the limit both parsers read the value, one level deeper both refuse it, whether orjson or json reads it
    (a run of 19 digits sends the text to json): the answer does not depend on the path taken."""
    for parse in (json_loads, strict_json_loads):
        for tail in ("", "1234567890123456789012"):
            inner = tail or "0"
            assert parse("[" * MAX_JSON_DEPTH + inner + "]" * MAX_JSON_DEPTH) is not None
            with pytest.raises(json.JSONDecodeError, match="nested deeper"):
                parse("[" * (MAX_JSON_DEPTH + 1) + inner + "]" * (MAX_JSON_DEPTH + 1))
            # brackets inside strings are no nesting: a wide, shallow value with many of them still reads
            wide = json.dumps({"k": ["[{" * 5000 + tail], "l": [[1]] * (MAX_JSON_DEPTH * 2)})
            assert parse(wide)["k"][0].startswith("[{")


@pytest.fixture()
def junk_log(ledger: Ledger, fresh_department: str) -> tuple[str, int, int]:
    """A department with a short decision history; an insider rewrites two entries' bodies (not JSON, and JSON
    nested 100,000 deep). Returns (department, seq of the first, seq of the second)."""
    decided_history(ledger, fresh_department, 4)
    with ledger.engine.begin() as conn:
        conn.execute(
            text("UPDATE logentry SET body='{not json' WHERE log=:l AND department_id=:d AND seq=2"),
            {"l": logchain.LOG_DECISIONS, "d": fresh_department},
        )
        conn.execute(
            text("UPDATE logentry SET body=:b WHERE log=:l AND department_id=:d AND seq=3"),
            {"b": _deep_array(), "l": logchain.LOG_DECISIONS, "d": fresh_department},
        )
    return fresh_department, 2, 3


def test_an_auditor_reads_every_log_entry_although_an_insider_wrote_junk_into_two(
    ledger: Ledger, junk_log: tuple[str, int, int]
) -> None:
    department, junk, deep = junk_log
    client = make_client(ledger, Clock())
    auditor = login(client, ledger, register(ledger, "AU5", "auditor"))
    for params in ({"department": department}, {}):  # one department's log, and every department's
        response = client.get("/audit/logs/decisions", params=params, headers=bearer(auditor))
        assert response.status_code == 200, response.text
        mine = {e["seq"]: e for e in response.json() if e["department"] == department}
        assert sorted(mine) == [1, 2, 3, 4]
        assert mine[1]["body"] and mine[1]["body_error"] is None
        assert mine[junk]["body"] is None and mine[junk]["body_text"] == "{not json"
        assert "not JSON" in mine[junk]["body_error"] and "/check" in mine[junk]["body_error"]
        assert mine[deep]["body"] is None and "nested deeper" in mine[deep]["body_error"]
        assert len(mine[deep]["body_text"]) <= 1024  # a 200 KB body is shown as its beginning
    check = client.get("/audit/logs/decisions/check", params={"department": department}, headers=bearer(auditor))
    assert check.status_code == 200 and check.json()["intact"] is False


def test_replay_names_a_log_body_nested_too_deep_and_goes_on(ledger: Ledger, junk_log: tuple[str, int, int]) -> None:
    department, junk, deep = junk_log
    run = run_cli(ledger, "replay", "--department", department, "--json", "-")
    assert run.returncode == 1, run.stderr[-2000:]  # discrepancies, not a crash (-11) or an error (2)
    found = {(d["check"], d["seq"]) for d in json.loads(run.stdout)["discrepancies"]}
    assert {("body_invalid", junk), ("body_invalid", deep)} <= found


@pytest.mark.parametrize("shape", ["array", "object"])
def test_a_forgers_deep_bundle_is_refused_by_the_cli_and_the_standalone_verifier(
    ledger: Ledger, tmp_path: Path, shape: str
) -> None:
    bundle = tmp_path / "bundle.json"
    bundle.write_text(_deep_array() if shape == "array" else _deep_object())
    run = run_cli(ledger, "evidence", "verify", str(bundle))  # the library fails its "bundle" check (exit 1)
    assert run.returncode == 1 and "nested deeper" in run.stdout, (run.returncode, run.stdout, run.stderr[-2000:])
    assert "NOT VERIFIED: bundle" in run.stdout
    code, result, stderr = standalone(ledger, bundle)
    assert code == 2 and result is None and "Traceback" not in stderr and "nested deeper" in stderr, stderr
    hidden = tmp_path / "utf16.json"  # the same depth, hidden from a scan of the raw bytes (see _HIDDEN)
    hidden.write_bytes(eval(_HIDDEN).encode("utf-16"))  # noqa: S307 - a literal of this module
    code, result, stderr = standalone(ledger, hidden)
    assert code == 2 and result is None and "Traceback" not in stderr and "nested deeper" in stderr, stderr


def test_a_holders_deep_document_is_refused_by_ledger_verify(ledger: Ledger, tmp_path: Path) -> None:
    document = tmp_path / "certificate.json"
    document.write_text('{"format": "pl-cert/1", "fields": ' + _deep_object() + "}")
    run = run_cli(ledger, "verify", str(document))  # the format check fails (exit 1), naming the depth
    assert run.returncode == 1 and "nested deeper" in run.stdout, (run.returncode, run.stdout, run.stderr[-2000:])
    assert "NOT VERIFIED: failed format" in run.stdout


def test_the_standalone_verifier_refuses_a_node_answer_nested_too_deep(ledger: Ledger, tmp_path: Path) -> None:
    """The chain's operator (or whoever answers at --rpc) answers with JSON nested 100,000 deep: the verifier
    distrusts the node; it neither crashes nor rests on RecursionError (with a raised limit it would crash)."""
    from .evidence_support import SCRIPT_MODULE

    answer = ('{"jsonrpc":"2.0","id":1,"result":' + _deep_array() + "}").encode()
    with pytest.raises(SCRIPT_MODULE.Failure, match="nested deeper"):
        SCRIPT_MODULE.loads_bounded(answer)
    assert SCRIPT_MODULE.loads_bounded(b'{"result": [[1]]}') == {"result": [[1]]}


# 1 MB of escaped quotes after an opening one, unterminated: a regex for "a complete JSON string" fails at each of
# the 300,000 quotes after scanning to the end, and the search restarts at the next: quadratic (64 KB took 94 s
# of CPU, so this body hours). Anonymous clients may send 1 MB.
_QUOTES = "b'[' * 600 + b'\"' + b'\\\\\"' * 300_000 + b'\\\\'"


def test_a_body_of_escaped_quotes_is_scanned_in_one_pass_not_quadratic_time() -> None:
    """An anonymous client's body (the gateway scans any body orjson refuses) and a forger's bundle (the ledger and
    the court's verifier scan any text with more than 512 brackets). The subprocess finishes in a second when the
    scan is linear; the timeout only catches a hang of hours."""
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys\n"
            "sys.path.insert(0, 'scripts')\n"
            "from api.limits import Limits, parse_json\n"
            "from ledger.formats.canonical import json_depth, strict_json_loads\n"
            "import verify_evidence\n"
            f"body = {_QUOTES}\n"
            "print('depth', json_depth(body))\n"
            "try:\n"
            "    strict_json_loads(body)\n"
            "except json.JSONDecodeError as exc:\n"
            "    print('refused:', exc.msg)\n"
            "try:\n"
            "    verify_evidence.loads_bounded(body)\n"
            "except (verify_evidence.Failure, ValueError) as exc:\n"
            "    print('verifier refused:', exc)\n"
            "limits = Limits(4 << 20, 1 << 20, 16384, 1024, 32, 200_000, 8192, 4096)\n"
            "value, detail = parse_json(body, limits, 8192)\n"
            "print('gateway:', detail)\n",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "depth 600" in run.stdout and "nested deeper" in run.stdout, run.stdout
    assert "verifier refused: JSON nested deeper" in run.stdout and "gateway: the JSON body is nested" in run.stdout


def test_a_path_to_an_endless_file_is_refused_after_the_limit_not_read_to_the_end(
    ledger: Ledger, tmp_path: Path
) -> None:
    """A holder names /dev/zero (or a huge file) as their document or bundle: each reader stops at its limit."""
    run = run_cli(ledger, "verify", "/dev/zero")
    assert run.returncode == 1 and "the most a certificate document may be" in run.stdout, run.stdout
    run = run_cli(ledger, "evidence", "verify", "/dev/zero")
    assert run.returncode == 1 and "the most an evidence bundle may be" in run.stdout, run.stdout
    code, result, stderr = standalone(ledger, Path("/dev/zero"))
    assert code == 2 and result is None and "no bundle is that large" in stderr, stderr


def test_an_applications_file_of_one_endless_line_is_refused_at_the_limit(ledger: Ledger) -> None:
    """An applicant's portal hands the department a file whose one line never ends (/dev/zero): ``ledger decide``
    refuses it at 4 MB per application instead of reading it into memory until the machine kills it."""
    rules = Path(__file__).resolve().parent.parent / "rules" / "ss-eligibility.yaml"
    run = run_cli(ledger, "decide", "/dev/zero", "--department", "INS", "--rules", str(rules))
    assert run.returncode == 2 and "line 1" in run.stderr and "the limit is 4194304" in run.stderr, (
        run.returncode,
        run.stderr[-2000:],
    )
