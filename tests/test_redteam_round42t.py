"""Red team round 42t: an insider with database access against the gateway's sign-out; the CLI's unexpected errors.

Each test is one attack, named in its docstring with the adversary and what it tries. Real anvil, real database
(SQLite, or PostgreSQL with LEDGER_TEST_DATABASE_URL), the gateway in process; no mocks.

1. A signed-out token came back to life when an insider deleted its row of the revoked tokens' table, or edited the
   row's ``jti``: the gateway kept a list of signed-out tokens in the database and honoured every token not on it.
   It now keeps the opposite: a row per token it issued, sealed with a MAC under its token secret (which is not in
   the database), and honours a token only while its row is there and its seal is the one the secret gives. A
   sign-out deletes the row: deleting or editing rows ends tokens rather than reviving them, and a row written for a
   signed-out token needs the secret. What is left (open, bounded by the token's lifetime): an insider who kept a
   copy of a live token's row and writes it back after the sign-out.
2. The ``ledger`` command printed a Python traceback for an error that is neither a LedgerError nor a database
   refusal (a disk that filled while it wrote a presentation): frames, paths and, through an error's text, whatever
   it was handed. It now prints one line, the error's class, the system's words for an OSError's code and the place
   in the ledger's code it came from, never the error's message, and exits 70; ``LEDGER_DEBUG=1`` prints the
   traceback as well. A reader of the output that went away (``| head``) ends it quietly with 141.
3. (PostgreSQL) A log anchor's range column retyped by the tables' owner (``last_seq`` as text) made a decision's
   evidence bundle say "not anchored yet; run `ledger anchor-logs`": no anchoring would change that, and the
   operator was sent after a backlog that is not there. The bundle now names the stored anchor whose range is no
   pair of sequence numbers and sends the operator to ``ledger reconcile``, which names the retyped column.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from ledger.client import Ledger
from ledger.errors import VerificationError
from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER, ROLE_VERIFIER
from ledger.services import evidence, logchain, reconcile
from ledger.services.departments import Council

from .api_support import Clock, assert_problem, bearer, issue, login, make_client
from .cli_support import env_for, run_cli
from .conftest import TEST_ITEMS, TEST_TYPES
from .decision_support import decided_history


def _jti(token: str) -> str:
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"])


def _token_tables(ledger: Ledger) -> list[str]:
    """Every table of the gateway's sign-in that keys rows by a token's id: whatever records sign-outs."""
    inspector = sa.inspect(ledger.engine)
    return [
        name
        for name in inspector.get_table_names()
        if name.startswith("auth_") and "jti" in {c["name"] for c in inspector.get_columns(name)}
    ]


def _me(client: TestClient, token: str) -> Any:
    return client.get("/auth/me", headers=bearer(token))


def _signed_out(client: TestClient, ledger: Ledger) -> str:
    token = login(client, ledger, "MKT")
    assert _me(client, token).status_code == 200
    assert client.post("/auth/logout", headers=bearer(token)).status_code == 204
    assert_problem(_me(client, token), 401)
    return token


def test_a_signed_out_token_stays_out_when_an_insider_deletes_or_edits_the_token_rows(ledger: Ledger) -> None:
    """Adversary: an insider who can write the gateway's database (a DBA, a compromised backup job) and holds a
    token that was signed out (copied from a colleague's machine, a proxy's log). Sign-out kept the token's id in
    a table, so deleting that row, or editing its ``jti`` by one character, revived the token until it expired.
    Deleting or editing the token rows now ends tokens instead; a row written for a signed-out token is refused."""
    with make_client(ledger, Clock()) as client:
        tables = _token_tables(ledger)
        assert tables, "the gateway keeps no table of tokens"

        token = _signed_out(client, ledger)  # the rows deleted
        with ledger.engine.begin() as conn:
            for table in tables:
                conn.execute(sa.text(f"DELETE FROM {table}"))
        assert "sign in again" in assert_problem(_me(client, token), 401)["detail"]

        token = _signed_out(client, ledger)  # the token's id edited (its row, if it has one, now names another)
        with ledger.engine.begin() as conn:
            for table in tables:
                conn.execute(sa.text(f"UPDATE {table} SET jti = jti || '0'"))
        assert_problem(_me(client, token), 401)

        live = login(client, ledger, "MKT")
        token = _signed_out(client, ledger)  # a row for the signed-out id, copied from a live token's
        with ledger.engine.begin() as conn:
            for table in tables:
                row = conn.execute(sa.text(f"SELECT * FROM {table} WHERE jti = :j"), {"j": _jti(live)}).mappings()
                for found in row.all():
                    values = {**found, "jti": _jti(token)}
                    columns = ", ".join(values)
                    marks = ", ".join(f":{c}" for c in values)
                    conn.execute(sa.text(f"INSERT INTO {table} ({columns}) VALUES ({marks})"), values)
        refused = assert_problem(_me(client, token), 401)["detail"]
        assert "sign in again" in refused
        assert _me(client, live).status_code == 200  # the copied row's own token is untouched


def test_an_insider_editing_a_live_tokens_row_ends_it_and_the_gateway_says_so(ledger: Ledger) -> None:
    """Adversary: the same insider, against a live token's row (the row its seal covers). Editing the row's
    seal ends the token with a detail that names the altered record; the department's other tokens stay."""
    with make_client(ledger, Clock()) as client:
        first, second = login(client, ledger, "MKT"), login(client, ledger, "MKT")
        with ledger.engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE auth_issued_token SET seal = :s WHERE jti = :j"), {"s": "00" * 32, "j": _jti(first)}
            )
        assert "altered" in assert_problem(_me(client, first), 401)["detail"]
        assert _me(client, second).status_code == 200


def test_two_workers_agree_on_a_sign_out(ledger: Ledger) -> None:
    """Two gateway workers (two apps on one database and secret): a token signed in at one and signed out at the
    other is refused by both; a token of one is honoured by the other (the rows are in the database, not in a
    worker's memory)."""
    clock = Clock()
    with make_client(ledger, clock) as a, make_client(ledger, clock) as b:
        token = login(a, ledger, "MKT")
        assert _me(b, token).status_code == 200
        assert b.post("/auth/logout", headers=bearer(token)).status_code == 204
        assert "signed out" in assert_problem(_me(a, token), 401)["detail"]
        assert "signed out" in assert_problem(_me(b, token), 401)["detail"]


def test_a_row_restored_from_a_copy_revives_a_token_only_until_it_expires(ledger: Ledger) -> None:
    """The open part, pinned: an insider who copied a live token's row (a backup taken while it was live) and writes
    it back after the sign-out revives the token; the row's seal is genuine, and nothing outside the database
    remembers the sign-out. The token still ends at its expiry (the MAC covers it), and the restore needs the copy
    made in the token's lifetime, not just write access after the fact."""
    clock = Clock()
    with make_client(ledger, clock) as client:
        token = login(client, ledger, "MKT")
        with ledger.engine.connect() as conn:
            copy = dict(
                conn.execute(sa.text("SELECT * FROM auth_issued_token WHERE jti = :j"), {"j": _jti(token)})
                .mappings()
                .one()
            )
        assert client.post("/auth/logout", headers=bearer(token)).status_code == 204
        with ledger.engine.begin() as conn:
            columns, marks = ", ".join(copy), ", ".join(f":{c}" for c in copy)
            conn.execute(sa.text(f"INSERT INTO auth_issued_token ({columns}) VALUES ({marks})"), copy)
        assert _me(client, token).status_code == 200  # revived: the residual
        clock.advance(seconds=ledger_token_ttl(client) + 1)
        assert "expired" in assert_problem(_me(client, token), 401)["detail"]


def ledger_token_ttl(client: TestClient) -> float:
    auth = client.app.state.authenticator  # type: ignore[attr-defined]
    return float(timedelta.total_seconds(auth.token_ttl))


# -- 2. the CLI's last resort ------------------------------------------------------------------------------------


def test_an_unexpected_error_is_one_line_naming_its_class_with_its_own_exit_code(
    ledger: Ledger, tmp_path: Path
) -> None:
    """Adversary: none; an operator whose disk filled (``/dev/full``) while ``ledger present`` wrote a
    presentation. The OSError of the write is no LedgerError: the command printed its traceback (the ledger's
    paths and frames) and exited 1, as a failed check does. It now prints one line naming the class, the system's
    words for its code and where in the ledger it came from, nothing the document holds, and exits 70."""
    document = issue(ledger, "MKT")[0]
    source = tmp_path / "cert.json"
    source.write_text(json.dumps(document), encoding="utf-8")
    revealed = sorted(document["fields"])[0]
    args = ("present", str(source), "--reveal", revealed, "--out", "/dev/full")

    done = run_cli(ledger, *args)
    assert done.returncode == 70, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("internal error: OSError [ENOSPC: No space left on device] at ledger/"), lines[0]
    assert lines[0].endswith("; rerun with LEDGER_DEBUG=1 for its traceback, and report it"), lines[0]
    assert "Traceback" not in done.stderr and str(document["fields"][revealed]) not in done.stderr
    assert done.stdout == ""

    debugged = run_cli(ledger, *args, LEDGER_DEBUG="1")
    assert debugged.returncode == 70, debugged.stderr
    assert "Traceback (most recent call last)" in debugged.stderr and "OSError" in debugged.stderr
    assert debugged.stderr.strip().splitlines()[-1].endswith("its traceback is above, and report it")


def test_an_output_whose_reader_went_away_ends_quietly(ledger: Ledger, tmp_path: Path) -> None:
    """``ledger present ... | head -0``: the pipe's reader is gone before the command writes. That is no fault of
    the ledger's: no "internal error", no traceback, exit 141 as a shell reports a command the pipe ended."""
    document = issue(ledger, "MKT")[0]
    source = tmp_path / "cert.json"
    source.write_text(json.dumps(document), encoding="utf-8")
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ledger.cli", "present", str(source), "--reveal", sorted(document["fields"])[0]],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env=env_for(ledger),
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (141, "")


# -- 3. a retyped anchor column against a decision's bundle ----------------------------------------------------


def test_a_bundle_of_a_decision_whose_anchor_column_was_retyped_names_the_anchor_not_a_backlog(ledger: Ledger) -> None:
    """Adversary: an insider owning the PostgreSQL tables, retyping ``loganchor.last_seq`` as text (every value
    kept, as digits). The decision's anchor row then holds no sequence numbers the ledger reads, so its entries read
    as unanchored, and the bundle said "not anchored yet; run `ledger anchor-logs`". It now names the anchor row and
    why, and sends the operator to ``ledger reconcile``."""
    if ledger.engine.dialect.name != "postgresql":
        pytest.skip("a column's type is retyped on PostgreSQL; SQLite keeps any type in any column")
    code = "RT42T"
    Council(ledger).register(
        code, "Red team 42t", ROLE_ISSUER | ROLE_VERIFIER | ROLE_APPROVER, types=TEST_TYPES, items=TEST_ITEMS
    )
    decided_history(ledger, code, 2)
    first, _second = logchain.entries(ledger, logchain.LOG_DECISIONS, code)  # read whole: no cursor left open
    case_id = json.loads(first.body)["case_id"]
    assert evidence.decision_bundle(ledger, code, case_id, seq=first.seq)  # anchored: a bundle
    with ledger.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE loganchor ALTER COLUMN last_seq TYPE text USING last_seq::text"))
    try:
        with pytest.raises(VerificationError) as refused:
            evidence.decision_bundle(ledger, code, case_id, seq=first.seq)
        found = reconcile.reconcile(ledger, departments=[code], check_bodies=False).divergences
        named = [d.detail for d in found if d.kind == "schema_altered"]
        assert any("loganchor" in d and "last_seq" in d for d in named), named  # where the bundle sends the operator
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE loganchor ALTER COLUMN last_seq TYPE integer USING last_seq::integer"))
    said = str(refused.value)
    assert "anchor-logs" not in said and "not anchored yet" not in said, said
    assert "ledger reconcile" in said and "no sequence numbers" in said, said
