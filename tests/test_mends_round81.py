"""Mends of what red teams 77-81 noticed and left: the public timeline's standing of a certificate outside its
validity, ``ledger decide`` reading its applications twice, a missing state proof in the JSON reports, and an
approval's permit whose key an insider deleted."""

from __future__ import annotations

import copy
import io
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.formats.certificate import validate_record
from ledger.services import decisions, evidence, logchain
from ledger.services.issuance import issue_records
from ledger.services.replay import replay
from ledger.storage.models import Certificate, PermitKey

from .api_support import Clock, make_client
from .cli_support import cli_in_process
from .conftest import PASSPHRASE, make_records
from .decision_support import application, unique_rule_set
from .evidence_support import issue, standalone
from .permit_support import SERVICE_ITEM as PERMIT_ITEM
from .permit_support import application as permit_application
from .permit_support import fresh_licence, published_permit_rules, replay_checks
from .witness_support import trusted_witness


@pytest.fixture()
def passphrases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")


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


def test_the_json_reports_say_whether_a_state_proof_was_proven(
    ledger: Ledger,
    tmp_path: Path,
    fresh_department: str,
    passphrases: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Adversary: whoever hands the court a witnessed certificate bundle with its ``witness.state`` deleted (round
    79's downgrade), to a court whose tooling reads the JSON report. Round 79 put the absence in the text verdict
    ("VERIFIED, without a state proof: ...") and the check's detail; the JSON said ``verified: true`` and nothing a
    program could test. Both verifiers' JSON now state ``state_proof``: proven, absent, not proven (witness keys given,
    the checkpoint or the proof did not hold) or not witnessed (no witness key given), alike; verdicts unchanged."""
    (target,) = issue(ledger, tmp_path, fresh_department, make_records(1))
    for key, _ in trusted_witness(ledger, tmp_path):
        whole = evidence.certificate_bundle(ledger, target)
        assert "state" in whole["witness"], whole["witness"]
        stripped = copy.deepcopy(whole)
        del stripped["witness"]["state"]
        cases: list[tuple[dict[str, Any], tuple[str, ...], bool, str]] = [
            (whole, ("--witness-key", key), True, "proven"),
            (stripped, ("--witness-key", key), True, "absent"),
            (stripped, ("--witness-key", key, "--require-state-proof"), False, "absent"),
            (whole, (), True, "not witnessed"),
            (whole, ("--require-state-proof",), False, "not witnessed"),
            (whole, ("--witness-key", key, "--witness-quorum", "2"), False, "not proven"),
        ]
        for n, (bundle, extra, verified, state_proof) in enumerate(cases):
            path = tmp_path / f"bundle-{n}.json"
            path.write_text(json.dumps(bundle), encoding="utf-8")
            library = evidence.verify_bundle(
                path,
                ledger.chain,
                witness_keys=[key] if key in extra else None,
                witness_quorum=2 if "--witness-quorum" in extra else None,
                require_state_proof="--require-state-proof" in extra,
            ).to_json()
            _, court, stderr = standalone(ledger, path, *extra)
            assert court is not None, stderr
            code, out, err = cli_in_process(
                ledger, monkeypatch, capsys, "evidence", "verify", str(path), "--report", *extra
            )
            cli = json.loads(out)
            for answer in (library, court, cli):
                assert (answer["verified"], answer["state_proof"]) == (verified, state_proof), (extra, answer)
            assert code == (0 if verified else 1), err


def _issued(ledger: Ledger, record: dict[str, Any]) -> dict[str, Any]:
    out = io.StringIO()
    issue_records(ledger, [validate_record(record, 1, department="MKT")], "MKT", out=out)
    return json.loads(out.getvalue())  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("valid_from", "valid_until", "standing", "said"),
    [
        ("2019-01-01", "2020-12-31", "expired", "expired"),
        ("2090-01-01", "2095-12-31", "not_yet_valid", "not yet valid"),
    ],
)
def test_the_timeline_calls_a_certificate_outside_its_validity_so_from_its_sealed_dates(
    ledger: Ledger, valid_from: str, valid_until: str, standing: str, said: str
) -> None:
    """Adversary: a holder whose licence expired in 2020 (or one not valid before 2090) sending a relying party the
    link to its public timeline, and an insider with database access who re-dates the store row's `valid_until`.
    The timeline read no date: its status was the chain's, "valid", where round 81's digest-only verification says
    expired. Its standing is now judged at the gateway's clock from the dates the certificate's sealed body states
    (checked against the digest, as the digest-only verification reads them), in the same words, naming no date;
    the store row's column, which nothing binds to the digest, is never read."""
    record = make_records(1)[0]
    record["valid_from"], record["valid_until"] = valid_from, valid_until
    doc = _issued(ledger, record)
    digest = doc["digest"]
    client = make_client(ledger, Clock())
    (verified,) = [
        c for c in client.post("/public/verify", json={"digest": digest}).json()["checks"] if c["name"] == "validity"
    ]
    with ledger.engine.begin() as conn:  # the insider re-dates the row's column: nothing binds it to the digest
        conn.execute(update(Certificate).where(col(Certificate.digest) == digest).values(valid_until="2099-12-31"))
    answer = client.get(f"/public/certificates/{digest}/timeline")
    assert answer.status_code == 200, answer.text
    timeline = answer.json()
    assert (timeline["status"], timeline["validity"]) == (standing, verified["detail"]), timeline
    assert said in timeline["validity"] and not any(c.isdigit() for c in timeline["validity"])
    for name in ("valid_from", "valid_until"):
        assert doc["fields"][name] not in answer.text, name
    assert "2099" not in answer.text
    page = client.get(f"/public/certificates/{digest}/timeline.html?lang=en")
    assert page.status_code == 200, page.text
    assert f'data-status="{standing}"' in page.text and f">{said}</b>" in page.text, page.text
    assert valid_until not in page.text and "2099" not in page.text

    # a certificate within its validity is valid as before, its dates not named
    current = _issued(ledger, make_records(1)[0])
    timeline = client.get(f"/public/certificates/{current['digest']}/timeline").json()
    assert timeline["status"] == "valid" and timeline["validity"].startswith("within its validity period"), timeline
    assert current["fields"]["valid_until"] not in json.dumps(timeline)


def test_the_timeline_of_a_certificate_whose_sealed_body_does_not_check_is_not_called_valid(ledger: Ledger) -> None:
    """Adversary: an insider with database access who, to stop an expired licence being called expired, replaces its
    sealed body with garbage or with the sealed body of a current certificate: the dates the timeline reads must be
    the ones the digest commits to, so a body that does not open under the digest, or whose fields do not hash to
    it, leaves the standing unknown, never valid."""
    record = make_records(1)[0]
    record["valid_from"], record["valid_until"] = "2019-01-01", "2020-12-31"
    expired = _issued(ledger, record)
    current = _issued(ledger, make_records(1)[0])
    client = make_client(ledger, Clock())
    with ledger.engine.connect() as conn:
        other = conn.execute(
            select(col(Certificate.sealed)).where(col(Certificate.digest) == current["digest"])
        ).scalar_one()
    for sealed in (b"garbage" * 8, bytes(other)):
        with ledger.engine.begin() as conn:
            conn.execute(update(Certificate).where(col(Certificate.digest) == expired["digest"]).values(sealed=sealed))
        timeline = client.get(f"/public/certificates/{expired['digest']}/timeline").json()
        assert timeline["status"] == "unknown", timeline
        assert timeline["validity"] == "its validity period could not be read from the issuer's record", timeline


@pytest.mark.parametrize("edit", ["deleted", "rekeyed"])
def test_replay_reports_a_permit_whose_key_an_insider_deleted_and_the_second_permit_it_let_through(
    ledger: Ledger, fresh_department: str, tmp_path: Path, edit: str
) -> None:
    """Adversary: an insider with database access (round 77's open clause). An approval finds the holder's live permit
    for the same premises by its ``permit_key`` row, which nothing binds to the permit: deleting the row (or giving it
    another key) let a second case for the same premises through, a second permit live, and replay, which never
    re-derived the keys, said nothing. Replay now derives each approval's permit key from the permit's sealed fields
    (checked against its digest) and the rule set's ``produces``: a row missing or keyed otherwise is
    ``permit_key_altered`` at the approval, and so is each later live permit of a key another live one holds. Since
    red team round 84p the second approval is refused as well (the rows are bound: tests/test_redteam_round84p.py)."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, f"mend1-key-{edit}")
    licence, holder = fresh_licence(ledger, tmp_path, f"mend1-key-{edit}")
    first = permit_application(f"FBP-MEND1-{edit}-1", licence)
    decided = decisions.decide(ledger, dept, first["case_id"], PERMIT_ITEM, first, rules, applicant_ref=holder)
    assert replay_checks(ledger, dept) == set()
    digest = decided.body["issued"]["certificate"]
    table = PermitKey.__table__  # type: ignore[attr-defined]
    with ledger.engine.begin() as conn:
        if edit == "deleted":
            assert conn.execute(table.delete().where(table.c.digest == digest)).rowcount == 1
        else:
            changed = table.update().where(table.c.digest == digest).values(key="0x" + "ab" * 32)
            assert conn.execute(changed).rowcount == 1
    second = dict(first, case_id=f"FBP-MEND1-{edit}-2")
    # the attack: a second permit for the same holder and premises, refused since red team round 84p (the rows bound)
    with pytest.raises(StateError, match="permit_key rows were altered"):
        decisions.decide(ledger, dept, second["case_id"], PERMIT_ITEM, second, rules, applicant_ref=holder)
    found = replay_checks(ledger, dept)
    assert found == {("permit_key_altered", decided.seq)}, found
    report = replay(ledger, department=dept)
    details = [d.detail for d in report.discrepancies if d.check == "permit_key_altered"]
    assert any(digest in d and ("no permit_key row" in d or "not the key" in d) for d in details), details
