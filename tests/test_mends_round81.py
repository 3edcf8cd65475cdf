"""Mends of what red teams 77-81 noticed and left: the public timeline's standing of a certificate outside its
validity, ``ledger decide`` reading its applications twice, a missing state proof in the JSON reports, and an
approval's permit whose key an insider deleted."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.services import decisions, logchain

from .cli_support import cli_in_process
from .decision_support import application, unique_rule_set


def _without_waiting(run: Callable[[], Any], release: Callable[[], None]) -> Any:
    """What ``run()`` returned (or raised), run in a thread that must end within 20 seconds: AssertionError when it
    was still waiting then (``release()`` lets it go first, so no thread is left behind)."""
    answers: list[Any] = []

    def target() -> None:
        try:
            answers.append(run())
        except BaseException as exc:  # noqa: BLE001 - what the command raised is the test's subject
            answers.append(exc)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(20)
    waited = worker.is_alive()
    if waited:
        release()
        worker.join(30)
    assert not waited, "the command waited on a pipe"
    (answer,) = answers
    assert not isinstance(answer, BaseException), answer
    return answer


def _decided(ledger: Ledger, department: str) -> list[str]:
    return [json.loads(entry.body)["case_id"] for entry in logchain.entries(ledger, logchain.LOG_DECISIONS, department)]


def test_decide_reads_its_applications_once_from_a_pipe_and_never_waits_for_a_writer(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Adversary: whoever hands the department the applications file (round 56's and 81's: a pipe). ``ledger decide
    FILE`` opened FILE twice with a plain ``open()``: once to count its lines for the progress bar, once to decide
    them. A pipe written by a process (``<(...)``) was read to its end by the count, and the second open waited for a
    writer for ever; a named pipe no process writes to kept the first open waiting. FILE is now opened once, without
    waiting: the applications a pipe carries are decided, and an unwritten pipe holds none."""
    dept = fresh_department
    rules = unique_rule_set(f"mend1-pipe-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps(rules.document), encoding="utf-8")
    lines = "".join(
        json.dumps({**application(f"C-MEND1-{n}"), "applicant_ref": f"91440300MD100000{n}"}) + "\n" for n in range(3)
    ).encode()

    # as `ledger decide <(cat apps.jsonl)`: a pipe whose writer writes the file and closes
    read_end, write_end = os.pipe()

    def feed() -> None:
        with os.fdopen(write_end, "wb") as out:
            out.write(lines)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    args = ["--department", dept, "--rules", str(rules_file)]
    try:
        code, out, err = _without_waiting(
            lambda: cli_in_process(ledger, monkeypatch, capsys, "decide", f"/dev/fd/{read_end}", *args),
            lambda: os.close(os.open(f"/dev/fd/{read_end}", os.O_WRONLY | os.O_NONBLOCK)),
        )
    finally:
        feeder.join(30)
        os.close(read_end)
    assert code == 0, err
    assert sorted(_decided(ledger, dept)) == ["C-MEND1-0", "C-MEND1-1", "C-MEND1-2"]

    # a named pipe no process writes to: read as empty, nothing decided, no wait
    fifo = tmp_path / "apps.jsonl"
    os.mkfifo(fifo)
    code, out, err = _without_waiting(
        lambda: cli_in_process(ledger, monkeypatch, capsys, "decide", str(fifo), *args),
        lambda: os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)),
    )
    assert code == 0, err
    assert json.loads(out)["decisions"] == 0, out
    assert len(_decided(ledger, dept)) == 3

    # an ordinary file is decided as before, its progress counted
    (tmp_path / "more.jsonl").write_bytes(lines.replace(b"C-MEND1-", b"C-MEND1-F"))
    code, out, err = cli_in_process(ledger, monkeypatch, capsys, "decide", str(tmp_path / "more.jsonl"), *args)
    assert code == 0, err
    assert json.loads(out)["decisions"] == 3 and "3/3" in err, (out, err)
