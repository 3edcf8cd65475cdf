"""Red team, round 15a: an anonymous or signed-in client, another local user, a department acting outside its
authority, a hostile department growing a list and an insider with database access.

1. An error answer named a server path. A department the council registered with a key the gateway does not hold
   (its own key, kept elsewhere) that asked its gateway to anchor its access log, or to issue, got a 404 whose
   detail was the keystore's directory on the server (``no key named 'dept-X' in /srv/ledger/keys``); the CLI
   printed the same. Errors now keep where to look (a path, a node's URL) apart from what was wrong: the CLI
   prints both, the gateway only the latter (and logs the former).
2. ``ledger report`` wrote its four files with the umask (0644 under the usual 022), where every other file the
   ledger writes with personal or sensitive data is created 0600, and followed a symbolic link planted at a file's
   name in a shared output directory (truncating the file it pointed to). Each report file is now written 0600
   under a temporary name and renamed into place: never readable by others, and a planted link is replaced, not
   followed.
3. Any auditor anchored any department's access log: ``POST /access-log/anchor?department=X`` made the gateway
   sign and send an anchoring with department X's key at the time the auditor chose. Anchoring is signing in the
   department's name, so only the department itself (or its gateway's background task) anchors its log; auditors
   read and check it (403, and nothing is anchored).
4. The data subject's list of reads of their certificate (``POST /public/holder/accesses``) was answered whole: a
   department logging many reads of it (a grant lets it read as often as it likes) made the answer grow without
   bound. It comes a page at a time now, as the other lists do (``limit``, keyset ``after``, ``Link``); each page is
   asked for with a new assertion of the person, as before.
5. A certificate's list of reads (``GET /certificates/{digest}/accesses``, and the data subject's) silently left out
   an access-log entry whose stored body could not be read, or whose body was edited (an insider "hid" a read by
   corrupting or rewriting its row). Such an entry is now listed where it stands, with ``body_error`` naming the
   entry (department and sequence number) and what is wrong, as the log's own listing names one.

Each hole found was written first as a failing test, then closed.
"""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from sqlalchemy import func, select, text

from ledger.client import Ledger
from ledger.onchain.chain import ROLE_ISSUER, ROLE_VERIFIER
from ledger.services import accesslog, consent, logchain, report
from ledger.services.auth import sign_challenge
from ledger.services.departments import Council
from ledger.storage.models import LogAnchor

from . import consent_support
from .api_support import Clock, bearer, issue, login, make_client, problem_body
from .cli_support import run_cli
from .conftest import TEST_TYPES, make_records

# -- 1. an error answer named a server path ------------------------------------------------------------------------


def _server_paths(ledger: Ledger) -> list[str]:
    return [str(ledger.settings.data_dir), str(ledger.settings.keys_dir)]


def test_no_error_answer_names_a_server_path(ledger: Ledger) -> None:
    """Adversary: a signed-in department (or whoever reads its answers) learning where the gateway keeps its keys.
    A department registered with a key of its own, which this gateway does not hold, asks the gateway to anchor its
    access log and to issue: each is refused, and no answer names the keystore's (or any data) directory. The
    operator's CLI still says where it looked."""
    account = Account.create()
    code = f"K{os.getpid() % 1000}-{datetime.now(UTC).strftime('%H%M%S%f')[-8:]}"
    Council(ledger).register(
        code, f"Own-key department {code}", ROLE_ISSUER | ROLE_VERIFIER, signer=account.address, types=TEST_TYPES
    )
    client = make_client(ledger, Clock())
    challenge = client.post("/auth/challenge", json={"department": code}).json()
    token = client.post(
        "/auth/token",
        json={"challenge_id": challenge["challenge_id"], "signature": sign_challenge(account, challenge["message"])},
    )
    assert token.status_code == 200, token.text
    own = bearer(token.json()["access_token"])
    (record,) = make_records(1)
    for method, url, body in (
        ("POST", "/access-log/anchor", None),
        ("POST", "/certificates", {"records": [record]}),
    ):
        answer = client.request(method, url, headers=own, json=body)
        found = problem_body(answer, 404, 409, 422, 503)
        for path in _server_paths(ledger):
            assert path not in answer.text, (url, found)
        assert "/" not in found["detail"].replace(url, ""), (url, found)
    # the operator, on the server, is told where the keys were looked for
    ran = run_cli(ledger, "anchor-logs", "--department", code, "--log", "access")
    assert ran.returncode == 2 and str(ledger.settings.keys_dir) in ran.stderr, ran.stderr


# -- 2. report files readable by every local user, through a planted link ------------------------------------------


def test_report_files_are_private_and_do_not_follow_a_planted_link(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: another local user reading the auditors' report written into a shared directory (0644 under the
    usual umask), or planting a symbolic link at ``report.json`` so the report overwrites a file of the operator's
    choosing. Every file is 0600 whatever the umask, and the link is replaced, its target untouched."""
    day = datetime.now(UTC).date().isoformat()
    data = report.build_report(ledger, fresh_department, day, day)
    out = tmp_path / "shared"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("the operator's own file\n", encoding="utf-8")
    (out / "report.json").symlink_to(victim)
    old = os.umask(0o022)
    try:
        written = report.write_report(data, out, "en")
    finally:
        os.umask(old)
    assert victim.read_text(encoding="utf-8") == "the operator's own file\n"
    assert len(written) == 4
    for path in written:
        mode = os.lstat(path).st_mode
        assert stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o600, (path, oct(mode))
    assert not [p for p in out.iterdir() if p not in written], list(out.iterdir())  # no temporary file left behind
    # the command writes the same way
    ran = run_cli(ledger, "report", "-d", fresh_department, "--from", day, "--to", day, "--out", str(tmp_path / "cli"))
    assert ran.returncode == 0, ran.stderr
    for path in (tmp_path / "cli").iterdir():
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600, (path, oct(os.lstat(path).st_mode))


# -- 3. an auditor anchoring another department's access log --------------------------------------------------------


def _anchors(ledger: Ledger, department: str) -> int:
    with ledger.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(LogAnchor).where(LogAnchor.department_id == department)  # type: ignore[arg-type]
            ).scalar_one()
        )


def test_an_auditor_cannot_anchor_another_departments_access_log(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: an auditor (a department with the auditor role) asking the gateway to anchor another department's
    access log, which signs and sends a transaction with that department's key. Refused (403) with nothing
    anchored; the auditor still reads and checks the log, and the department anchors its own."""
    dept = fresh_department
    (document,) = issue(ledger, dept, 1)
    client = make_client(ledger, Clock())
    auditor, own = bearer(login(client, ledger, "PSB")), bearer(login(client, ledger, dept))
    assert client.get(f"/certificates/{document['digest']}/content", headers=own).status_code == 200
    before = len(list(logchain.entries(ledger, logchain.LOG_ACCESS, dept)))
    assert before >= 1 and _anchors(ledger, dept) == 0
    refused = client.post(f"/access-log/anchor?department={dept}", headers=auditor)
    problem = problem_body(refused, 403)
    assert dept in problem["detail"], problem
    assert _anchors(ledger, dept) == 0
    assert all(e.state == logchain.EntryState.PENDING for e in logchain.entries(ledger, logchain.LOG_ACCESS, dept))
    # reading and checking stay the auditors'
    listed = client.get(f"/access-log?department={dept}", headers=auditor)
    assert listed.status_code == 200 and len(listed.json()) == before, listed.text
    checked = client.get(f"/access-log/check?department={dept}", headers=auditor)
    assert checked.status_code == 200 and checked.json()["intact"] is True, checked.text
    # the department anchors its own (naming itself or not)
    anchored = client.post(f"/access-log/anchor?department={dept}", headers=own)
    assert anchored.status_code == 200 and anchored.json()["roots"], anchored.text
    assert all(e.state == logchain.EntryState.ANCHORED for e in logchain.entries(ledger, logchain.LOG_ACCESS, dept))


# -- 4. the data subject's list of reads, answered whole ------------------------------------------------------------


def _subject_page(client: Any, ledger: Ledger, document: dict[str, Any], clock: Clock, url: str) -> Any:
    bound = consent.accesses_request(document["digest"])
    signed = consent_support.assertion(ledger, consent_support.identifier(document), clock.now, bound)
    return client.post(url, json={"certificate": document["digest"], "assertion": signed.model_dump()})


def test_the_data_subjects_list_of_reads_comes_a_page_at_a_time(
    ledger: Ledger, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: a department granted a person's certificate reading it (or having its reads logged) again and
    again, so that the person's list of who read it, answered whole, takes the gateway's memory and time. The list
    comes at most 1,000 entries at a time with a ``Link`` to the next page, asked for with a new assertion; the
    pages together hold every read, once each, in order."""
    monkeypatch.setattr(ledger, "settings", ledger.settings.with_(consent_providers=consent_support.PROVIDERS_ENV))
    dept = fresh_department
    (document,) = issue(ledger, dept, 1)
    now = datetime.now(UTC)
    reads = [
        accesslog.entry_body(
            certificate=document["digest"], action="read", outcome="served", actor="INS", signer=None, at=now
        )
        for _ in range(1_005)
    ]
    assert accesslog.record_many(ledger, dept, reads, now) == 1_005
    clock = Clock()
    client = make_client(ledger, clock)
    first = _subject_page(client, ledger, document, clock, "/public/holder/accesses")
    assert first.status_code == 200, first.text[:300]
    assert len(first.json()) == 1_000, len(first.json())
    link = first.headers.get("link", "")
    assert link.startswith("</public/holder/accesses?") and link.endswith('>; rel="next"'), link
    second = _subject_page(client, ledger, document, clock, link[1 : link.index(">")])
    assert second.status_code == 200, second.text[:300]
    assert "link" not in second.headers
    seqs = [e["seq"] for e in first.json() + second.json()]
    assert seqs == list(range(1, 1_006)), seqs[:3]
    small = _subject_page(client, ledger, document, clock, "/public/holder/accesses?limit=2")
    assert [e["seq"] for e in small.json()] == [1, 2] and "after=" in small.headers["link"], small.headers
    # a cursor from another department's log is no place in this list
    other = _subject_page(client, ledger, document, clock, "/public/holder/accesses?after=MKT:5")
    problem_body(other, 422)


# -- 5. a read hidden by corrupting its row -------------------------------------------------------------------------


def _set_body(ledger: Ledger, department: str, seq: int, body: str) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(
            text("UPDATE logentry SET body=:b WHERE log=:l AND department_id=:d AND seq=:s"),
            {"b": body, "l": logchain.LOG_ACCESS, "d": department, "s": seq},
        )


def _body(ledger: Ledger, department: str, seq: int) -> str:
    with ledger.engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT body FROM logentry WHERE log=:l AND department_id=:d AND seq=:s"),
                {"l": logchain.LOG_ACCESS, "d": department, "s": seq},
            ).scalar_one()
        )


def test_a_read_whose_log_row_was_corrupted_is_named_not_dropped(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: an insider hiding a department's read of a certificate from its issuer's and its data subject's
    lists of reads by corrupting the read's access-log row: its body made unreadable, or rewritten as another kind
    of entry. Each such entry is listed where it stands, marked ``body_error`` with its sequence number and what is
    wrong; the untouched reads are shown as before."""
    dept = fresh_department
    (document,) = issue(ledger, dept, 1)
    digest = document["digest"]
    client = make_client(ledger, Clock())
    own = bearer(login(client, ledger, dept))
    for _ in range(4):  # entries 1 to 4 of its access log
        assert client.get(f"/certificates/{digest}/content", headers=own).status_code == 200
    _set_body(ledger, dept, 2, "not json at all")
    _set_body(ledger, dept, 3, _body(ledger, dept, 3).replace('"action":"read"', '"action":"grant"'))
    answer = client.get(f"/certificates/{digest}/accesses", headers=own)
    assert answer.status_code == 200, answer.text[:300]
    listed = answer.json()
    assert [e["seq"] for e in listed] == [1, 2, 3, 4], listed
    marked = {e["seq"]: e.get("body_error") for e in listed}
    assert marked[1] is None and marked[4] is None, marked
    assert marked[2] and "entry 2" in marked[2] and "not JSON" in marked[2], marked
    assert marked[3] and "entry 3" in marked[3] and "altered" in marked[3], marked
    # the same list, as the data subject's answer is built
    assert [e["seq"] for e in accesslog.accesses(ledger, digest, dept)] == [1, 2, 3, 4]
    timeline = client.get(f"/certificates/{digest}/provenance", headers=own)
    assert timeline.status_code == 200, timeline.text[:300]
    named = [e for e in timeline.json()["events"] if e["kind"] == "access_unreadable"]
    assert sorted(e["seq"] for e in named) == [2, 3], named
    assert [e["seq"] for e in timeline.json()["events"] if e["kind"] == "access"] == [1, 4]
