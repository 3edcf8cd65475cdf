"""Red team, round 21: an insider with database access, a department acting outside its authority, and a gateway
relaying another's messages.

1. ``decisions._unrecorded``: a decision refused at the last moment removes the sealed copies of the documents it
   cited that no stored input names. A recorded decision citing the same document (content-addressed: one shared
   row) that had inserted its input's citation but not yet committed was not seen on PostgreSQL (the copy's insert
   had found the row there and skipped it, locking nothing), so the refused one's cleanup deleted the copy the
   recorded decision names: replay could no longer re-establish that decision's facts. The copy is now locked by
   whoever stores an input naming it, and the cleanup leaves a copy someone holds.
2. Round 20's residual: an insider who moves a revoked certificate's row to a batch the store calls ``prepared``
   (a row of their own making: its leaves hold the digest, so the row's proof leads to that batch's root) had the
   public and auditor's timeline say "valid, not yet anchored" - the status history of a root nobody anchored is
   empty - and that batch's W3C status list published, every bit clear. Verification of the same certificate
   (``ledger verify``, ``POST /public/verify``) fails it (``anchored``). The timeline's status is now
   ``not_anchored`` for a batch the chain holds no anchoring of by the row's department, whatever the store's state
   says, and no status list is published for a batch its department has not anchored on chain (409): a list of an
   unanchored batch states nothing a relying party may trust. The same closes round 20's list moved to another
   department with its batch relabelled ``prepared``.
3. An insider's edit of a grant row (a revoked grant revived, its grantee or expiry rewritten) or its deletion: the
   gateway serves no read through such a row (round 13), but the issuer's and auditor's full timeline listed the
   grants from the rows alone - a revoked grant shown live and never revoked, a grant to one department shown as
   another's, a grant under which reads were served gone - and ``ledger reconcile`` said nothing of grants. Each grant
   row is now judged against the grant the issuer's anchored access log records (``sharing.grant_problems``): the
   timeline shows an altered or missing row as such (``grant_altered``, ``grant_missing``) and reconcile reports it.
4. A decision's ``anchored`` in the timelines (the public ``produced`` event of a permit, the full timeline's
   ``decision`` events) was the entry row's ``state`` column: an insider who rewrote a decision not yet anchored
   (its body and entry hash, a permit's producing approval) and set its state to ``anchored`` had the public
   timeline present the rewritten record as anchored, immutable. It is now the chain's word: the body hashes to the
   entry hash, the stored proof leads from it to the root, and the department anchored that root, covering the
   entry's place, in that log (``logchain.attested``).
5. A department naming itself (``ledger revoke DIGEST --department MKT``, ``status.revoke(..., "MKT")``, a permit
   withdrawal revoking "its" permits) changed the status of another department's certificate given by digest: the
   department was read only to look an id up, and the key used was the one of the department the row names, which
   a ledger holding several departments' keys (the gateway's, a shared keystore) signs with. A certificate given by
   digest with a department is now that department's or refused, before anything is sent.
"""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, select

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.formats.canonical import hex32
from ledger.services import (
    accesslog,
    decisions,
    issuance,
    logchain,
    provenance,
    reconcile,
    sharing,
    status,
    statuslist,
)
from ledger.services.auth import PermissionDenied
from ledger.services.facts import document_ref
from ledger.services.replay import replay
from ledger.storage.models import Batch, BatchState, Certificate, Grant
from ledger.storage.store import batch_tree, chunk_nodes

from .api_support import Clock, assert_problem, bearer, issue, login, make_client
from .cli_support import run_cli
from .conftest import PASSPHRASE, make_records, write_jsonl
from .consent_support import read_as
from .decision_support import application, overtaken_after_the_check, unique_rule_set
from .insider_support import anchor_claims, insider_edit
from .permit_support import application as permit_application
from .permit_support import permit_rules


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def licences(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Business licences of MKT issued for this module alone (no other test cites them)."""
    out = io.StringIO()
    path = write_jsonl(tmp_path_factory.mktemp("r21") / "licences.jsonl", make_records(3))
    issuance.issue_file(ledger, path, "MKT", out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


# -- 1. a refused decision's cleanup and a recorded one's shared cited copy ------------------------------------------


def test_a_refused_decisions_cleanup_keeps_the_cited_copy_a_concurrent_recorded_decision_is_storing(
    ledger: Ledger, fresh_department: str, licences: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: an applicant (or a retrying client) sending, to two replicas at once, two applications citing the
    same licence inline, one of which loses a race and is refused. The steps are driven in this order, no thread
    and no sleep: the loser stores its input and the licence's copy (committed) and is refused; the winner, another
    process, stores its input naming the copy (the copy's insert finds it and skips it); before the winner commits,
    the loser's cleanup asks which stored inputs name the copy - the winner's is not committed, so none - and
    deleted it; the winner commits, recorded on a copy that is gone. SQLite lets one writer at a time into the
    database (the loser's cleanup would wait for the winner's commit, then see its input): the interleaving exists on
    PostgreSQL only."""
    if ledger.engine.dialect.name == "sqlite":
        pytest.skip("SQLite admits one writing transaction at a time: the cleanup cannot run inside the winner's")
    dept = fresh_department
    rule_set = unique_rule_set(f"r21-cite-{dept}")
    decisions.publish_rule_set(ledger, rule_set, dept)
    cited = licences[0]
    ref = document_ref(cited)
    winner = Ledger.open(ledger.settings, passphrase=PASSPHRASE)  # another replica: its own objects and connections
    cleanup = decisions._unrecorded
    stored = decisions._erased_meanwhile
    held: list[tuple[Any, ...]] = []
    recorded: list[Any] = []

    def stored_then_the_loser_cleans_up(conn: Any, labelled: Any) -> None:
        stored(conn, labelled)  # the winner's copy and citation are written, its transaction still open
        if held:
            cleanup(*held.pop())  # the loser's cleanup, on its own connection, runs to its commit here

    def the_winner_runs_before_the_loser_cleans_up(*args: Any) -> None:
        held.append(args)
        monkeypatch.setattr(decisions, "_erased_meanwhile", stored_then_the_loser_cleans_up)
        recorded.append(
            decisions.decide(
                winner,
                dept,
                "C-R21-WINNER",
                "ITEM-1",
                application("C-R21-WINNER", {"document": cited}),
                rule_set,
                applicant_ref="p",
            )
        )
        monkeypatch.setattr(decisions, "_erased_meanwhile", stored)
        assert not held, "the loser's cleanup did not run inside the winner's transaction"

    try:
        monkeypatch.setattr(decisions, "_unrecorded", the_winner_runs_before_the_loser_cleans_up)
        with (
            overtaken_after_the_check(
                ledger,
                lambda other: decisions.decide(
                    other, dept, "C-R21-LOSER", "ITEM-1", application("C-R21-LOSER"), rule_set, applicant_ref="p"
                ),
            ),
            pytest.raises(StateError, match=r"'C-R21-LOSER' was already decided automatically"),
        ):
            decisions.decide(
                ledger,
                dept,
                "C-R21-LOSER",
                "ITEM-1",
                application("C-R21-LOSER", {"document": cited}),
                rule_set,
                applicant_ref="p",
            )
        monkeypatch.setattr(decisions, "_unrecorded", cleanup)
    finally:
        winner.close()
    assert recorded, "the winner's decision was not recorded"
    assert decisions.load_cited_documents(ledger, [ref]) != {}, (
        "the refused decision's cleanup deleted the cited copy the recorded decision names"
    )
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).ok


# -- 2. a revoked certificate's row moved to a batch the store calls not yet anchored ---------------------------------


def test_a_revoked_certificate_moved_to_a_batch_the_store_calls_unanchored_is_not_shown_valid(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider with database access. The revoked certificate's row is pointed at a batch row of the
    insider's making, state ``prepared``, whose leaves hold its digest (so its proof leads to that root): nobody
    anchored that root, so its status history is empty; the timeline said "valid" beside "not anchored", and the
    batch's status list had every bit clear."""
    dept = fresh_department
    docs = issue(ledger, dept, 2)
    revoked, root = docs[0]["digest"], docs[0]["anchor"]["root"]
    status.revoke(ledger, revoked, "fraud", dept)
    client = make_client(ledger, Clock())
    timeline = f"/public/certificates/{revoked}/timeline"
    assert client.get(timeline).json()["status"] == "revoked"
    with ledger.engine.connect() as conn:
        real = conn.execute(select(Batch).where(Batch.root == root)).one()  # type: ignore[arg-type]
    leaves = bytes.fromhex(revoked[2:]) + os.urandom(32)
    tree = batch_tree(leaves)
    forged = hex32(tree.root)
    row = {
        "root": forged,
        "department_id": dept,
        "schema_id": real.schema_id,
        "count": 2,
        "state": BatchState.PREPARED,
        "signer": real.signer,
        "signature": real.signature,
        "leaves": leaves,
        "nodes": chunk_nodes(tree),
    }
    with ledger.engine.begin() as conn:
        conn.execute(insert(Batch).values(**row))  # type: ignore[arg-type]
    try:
        with insider_edit(ledger, Certificate, Certificate.digest, revoked, batch_root=forged, leaf_index=0):
            for private in (False, True):
                said = provenance.timeline(ledger, revoked, now=_now(), private=private)
                assert said["status"] == "not_anchored", said
            assert client.get(timeline).json()["status"] == "not_anchored"
            assert 'data-status="not_anchored"' in client.get(f"/public/certificates/{revoked}/timeline.html").text
            assert_problem(client.get(f"/public/status-lists/{dept}/{forged}/revocation"), 409)
            with pytest.raises(StateError, match="not anchored"):
                statuslist.list_credential(ledger, dept, forged, "revocation", base="https://gw.example")
            # reconcile names the batch the row left (the forged one is listed as pending, nobody having anchored it)
            found = reconcile.reconcile(ledger, departments=[dept], check_bodies=False)
            assert ("rows_missing", root) in {(d.kind, d.root) for d in found.divergences}, found
            assert forged in found.pending
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(delete(Batch).where(Batch.root == forged))  # type: ignore[arg-type]
    # round 20's list under another department, its batch relabelled not yet anchored: HOSP anchored nothing of it
    with insider_edit(ledger, Batch, Batch.root, root, department_id="HOSP", state=BatchState.PREPARED):
        assert_problem(client.get(f"/public/status-lists/HOSP/{root}/revocation"), 409)
    assert client.get(timeline).json()["status"] == "revoked"
    assert client.get(f"/public/status-lists/{dept}/{root}/revocation").status_code == 200


# -- 3. grant rows an insider revived, rewrote or deleted -----------------------------------------------------------


def test_grant_rows_an_insider_revived_rewrote_or_deleted_are_named_in_the_full_timeline_and_by_reconcile(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider with database access, hiding from the issuer and the auditors how a certificate was
    shared: a revoked grant revived (shown live, its revocation gone), a grant to PSB rewritten to AUD, a grant under
    which PSB read the whole certificate deleted. Each is the row's word against the anchored access log."""
    dept = fresh_department
    (doc,) = issue(ledger, dept, 1)
    signer = ledger.department_account(dept).address
    now = _now()

    def grant(purpose: str) -> Any:
        terms = sharing.GrantCreate(grantee="PSB", purpose=purpose, expires_at=now + timedelta(days=1), reveal=["id"])
        return sharing.create_grant(ledger, issuer=dept, signer=signer, digest=doc["digest"], grant=terms, now=now)

    revived, rewritten, deleted = grant("revived"), grant("rewritten"), grant("deleted")
    sharing.revoke_grant(ledger, issuer=dept, signer=signer, grant_id=revived.id, now=now)

    def shown() -> dict[str, set[str]]:
        events = provenance.timeline(ledger, doc["digest"], now=now, private=True)["events"]
        kinds: dict[str, set[str]] = {}
        for event in events:
            if event.get("grant"):
                kinds.setdefault(event["grant"], set()).add(event["kind"])
        return kinds

    assert shown() == {
        revived.id: {"granted", "grant_revoked"},
        rewritten.id: {"granted"},
        deleted.id: {"granted"},
    }
    assert not sharing.grant_problems(ledger, dept, doc["digest"])
    with ledger.engine.connect() as conn:
        row = conn.execute(select(Grant.__table__).where(Grant.id == deleted.id)).one()._asdict()  # type: ignore[attr-defined,arg-type]
    with (
        insider_edit(ledger, Grant, Grant.id, revived.id, revoked_at=None, revoked_by=None),
        insider_edit(ledger, Grant, Grant.id, rewritten.id, grantee="AUD"),
    ):
        with ledger.engine.begin() as conn:
            conn.execute(delete(Grant).where(Grant.id == deleted.id))  # type: ignore[arg-type]
        try:
            assert shown() == {
                revived.id: {"grant_altered"},
                rewritten.id: {"grant_altered"},
                deleted.id: {"grant_missing"},
            }
            found = reconcile.reconcile(ledger, departments=[dept], check_bodies=False)
            named = {(d.kind, d.certificate) for d in found.divergences}
            assert named == {("grant_altered", doc["digest"]), ("grant_missing", doc["digest"])}, found
            for grant_id in (revived.id, rewritten.id, deleted.id):
                assert any(grant_id in d.detail for d in found.divergences), (grant_id, found)
        finally:
            with ledger.engine.begin() as conn:
                conn.execute(insert(Grant.__table__).values(**row))  # type: ignore[attr-defined]
    assert shown()[revived.id] == {"granted", "grant_revoked"}
    assert reconcile.reconcile(ledger, departments=[dept], check_bodies=False).ok


# -- 4. a decision entry an insider marked anchored --------------------------------------------------------------------


def test_a_decision_an_insider_marked_anchored_is_not_shown_anchored_in_the_timelines(
    ledger: Ledger, fresh_department: str, licences: list[dict[str, Any]]
) -> None:
    """Adversary: an insider with database access, rewriting an approval not yet anchored (within the anchoring
    deadline an edit cannot be told from the department's writing) and marking it anchored, so the permit's public
    timeline presents the record as anchored. The anchor rows are the insider's to write: one forged for the entry,
    or the department's earlier anchor stretched to reach it (insider_support.anchor_claims)."""
    dept = fresh_department
    rules = permit_rules(f"r21-{dept}")
    decisions.publish_rule_set(ledger, rules, dept)

    def approve(case: str, licence: dict[str, Any]) -> decisions.Decision:
        app = permit_application(case, licence)
        subject = licence["fields"]["subject.credit_code"]
        return decisions.decide(ledger, dept, case, app["service_item"], app, rules, applicant_ref=subject)

    approve("C-R21-EARLIER", licences[2])
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    licence = licences[1]
    decided = approve("C-R21-PERMIT", licence)
    permit = decided.body["issued"]["certificate"]

    def anchored() -> tuple[bool, bool]:
        public = provenance.timeline(ledger, permit, now=_now())["events"]
        full = provenance.timeline(ledger, licence["digest"], now=_now(), private=True)["events"]
        (produced,) = [e for e in public if e["kind"] == "produced"]
        (cited,) = [e for e in full if e["kind"] == "decision" and e["department"] == dept]
        return produced["anchored"], cited["anchored"]

    assert anchored() == (False, False)
    for claim in anchor_claims(ledger, logchain.LOG_DECISIONS, dept, decided.seq):
        with claim:
            assert anchored() == (False, False)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert anchored() == (True, True)


# -- 5. a status change in one department's name of another department's certificate -------------------------------


def test_a_department_cannot_change_the_status_of_another_departments_certificate_by_naming_itself(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: a department (MKT's officer, a withdrawal of INS's decision) acting on a certificate of another
    department (HOSP) in a ledger that holds both keys: named by digest, the certificate was changed with HOSP's key
    whatever department the caller gave."""
    theirs, mine = issue(ledger, "HOSP", 1)[0], issue(ledger, fresh_department, 2)
    for change in (status.revoke, status.suspend):
        with pytest.raises(PermissionDenied, match="HOSP"):
            change(ledger, theirs["digest"], "fraud", fresh_department)
    with pytest.raises(PermissionDenied, match="HOSP"):
        status.supersede(ledger, theirs["digest"], mine[0]["digest"], fresh_department)
    with pytest.raises(PermissionDenied, match="HOSP"):
        status.supersede(ledger, mine[0]["digest"], theirs["digest"], fresh_department)
    answer = run_cli(ledger, "revoke", theirs["digest"], "--reason", "fraud", "--department", fresh_department)
    assert answer.returncode != 0 and "HOSP" in answer.stderr, answer
    assert provenance.timeline(ledger, theirs["digest"], now=_now())["status"] == "valid"
    # its own certificate, named with or without the department, as before
    status.revoke(ledger, mine[1]["digest"], "fraud", fresh_department)
    assert provenance.timeline(ledger, mine[1]["digest"], now=_now())["status"] == "revoked"


def test_a_read_an_insider_marked_anchored_is_not_listed_anchored(ledger: Ledger, fresh_department: str) -> None:
    """Adversary: an insider rewriting a read of a certificate before its anchoring (the reader named, the outcome)
    and marking it anchored with an anchor row of their own or an earlier anchored read's stretched to reach it: the
    issuer's and the data subject's listings, and the full timeline, showed it anchored."""
    dept = fresh_department
    (doc,) = issue(ledger, dept, 1)
    signer = ledger.department_account(dept).address
    now = _now()
    terms = sharing.GrantCreate(grantee="PSB", purpose="r21 reads", expires_at=now + timedelta(days=1), reveal=["id"])
    sharing.create_grant(ledger, issuer=dept, signer=signer, digest=doc["digest"], grant=terms, now=now)
    first = read_as(ledger, doc, now, department="PSB").access_seq
    accesslog.anchor(ledger, dept)
    second = read_as(ledger, doc, now, department="PSB").access_seq

    client = make_client(ledger, Clock())
    auditor = bearer(login(client, ledger, "AUD"))

    def anchored() -> dict[int, bool]:
        listed = accesslog.entries(ledger, department=dept, certificate=doc["digest"])
        shown = provenance.timeline(ledger, doc["digest"], now=now, private=True)["events"]
        audited = client.get("/audit/logs/access", params={"department": dept}, headers=auditor).json()
        said = {e["seq"]: e["anchored"] for e in listed if e["seq"] in (first, second)}
        assert said == {e["seq"]: e["anchored"] for e in shown if e["kind"] == "access"}
        assert said == {e["seq"]: e["anchored"] for e in audited if e["seq"] in (first, second)}
        return said

    assert anchored() == {first: True, second: False}
    for claim in anchor_claims(ledger, logchain.LOG_ACCESS, dept, second):
        with claim:
            assert anchored() == {first: True, second: False}
    accesslog.anchor(ledger, dept)
    assert anchored() == {first: True, second: True}
