"""Issue 18: ``decide_many`` with worker processes reading the applications (checked, sealed, hashed:
``decisions._read_chunk``) while this process establishes the facts, runs the rules and records, in input order,
records exactly what one process records, and stops at a bad application exactly where one process stops.

Adversary: an applicant (or a bulk file's author) whose application the reading refuses - an empty case id, a value
canonical JSON refuses, a value that cannot be sent to a worker (read by the writer instead), an object that kills
the worker that unpickles it, a case decided earlier in the same run - placed in a chunk that also cites another
department's certificate by digest: nothing of that chunk may be written (no decision, no stored input, no
access-log entry in the issuer's log), every chunk before it must be, and the error must name the application (or,
for a worker that died, its chunk).

What the reading computes for the writer (branch decide3: each application's citations and their classification,
its stored input's citation rows, its cited copies' certificate digests, the cases' index keys) is what the writer
computed from the same application before: compared on hostile citations, as read here and as read by a worker."""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import zlib
from types import MappingProxyType
from typing import Any

import pytest
from sqlalchemy import select, text

from ledger.client import Ledger
from ledger.errors import InputError, LedgerError, StateError
from ledger.formats import vc
from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER, ROLE_VERIFIER
from ledger.services import decisions, issuance
from ledger.services.departments import Council
from ledger.services.facts import citations, classify
from ledger.services.logchain import LOG_DECISIONS, lookup_key
from ledger.services.replay import replay

from .conftest import TEST_ITEMS, TEST_TYPES, make_records, write_jsonl
from .decision_support import applications, unique_rule_set

N = 120
CHUNK = 25  # chunks 1-25, 26-50, 51-75, 76-100, 101-120
_codes = iter(range(1, 10_000))


def _department(ledger: Ledger, tag: str) -> str:
    code = f"P{os.getpid() % 1000}-{tag}{next(_codes)}"
    Council(ledger).register(
        code, f"Pipeline {code}", ROLE_ISSUER | ROLE_VERIFIER | ROLE_APPROVER, types=TEST_TYPES, items=TEST_ITEMS
    )
    decisions.publish_rule_set(ledger, unique_rule_set(code), code)
    return code


@pytest.fixture(scope="module")
def licences(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = io.StringIO()
    path = write_jsonl(tmp_path_factory.mktemp("pipeline") / "licences.jsonl", make_records(4))
    issuance.issue_file(ledger, path, "MKT", out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _input(licences: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Generated applications; some cite an issued licence inline (stored sealed) or by digest (read from MKT's
    store: an entry in MKT's access log), as its holder or not, one in every chunk."""
    apps = applications(N, seed=zlib.crc32(b"pipeline"))
    for i, n in enumerate(range(4, N, CHUNK)):  # applications 5, 30, 55, 80, 105
        licence = licences[i % len(licences)]
        holder = licence["fields"]["subject.credit_code"]
        apps[n] = {**apps[n], "certificates": [{"document": licence}], "applicant_ref": holder}
        apps[n + 2] = {**apps[n + 2], "certificates": [licence["digest"]]}  # by digest, not its holder
        apps[n + 3] = {**apps[n + 3], "certificates": [licence["digest"], {"document": licences[-1]}]}
    return apps


def _decide(ledger: Ledger, dept: str, apps: list[Any], workers: int) -> decisions.DecideResult:
    return decisions.decide_many(ledger, dept, apps, {"*": unique_rule_set(dept)}, chunk=CHUNK, workers=workers)


def _records(ledger: Ledger, dept: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each decision's body and its stored input, in log order."""
    with ledger.engine.connect() as conn:
        bodies = [
            json.loads(b)
            for b in conn.execute(
                text("SELECT body FROM logentry WHERE log=:l AND department_id=:d ORDER BY seq"),
                {"l": LOG_DECISIONS, "d": dept},
            ).scalars()
        ]
        stored = [
            conn.execute(
                select(decisions.DecisionInput.document).where(decisions.DecisionInput.digest == b["input_digest"])
            ).scalar_one()
            for b in bodies
        ]
    return [(body, json.loads(text_)) for body, text_ in zip(bodies, stored, strict=True)]


_PER_RUN = {  # a record's values that differ between two departments (or two moments) deciding the same input
    **dict.fromkeys(("applicant_ref", "rule_set", "input_digest", "input_commitment", "applicant_commitment"), type),
    "decided_at": type,  # the moment; replay checks it against the chain (its facts' block was the head then)
    "commitment": lambda c: sorted(c),  # its deadlines count from the moment
}


def _comparable(ledger: Ledger, dept: str, identities: list[str]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The records with what differs between two departments deciding the same input removed: each department's
    salted applicant reference (checked here against its own secret), the rule set's digest (each publishes its
    own copy), the stored input's random nonce and the digests and commitments it enters (replay checks those),
    and the moment and chain block the facts and the credit list were read at."""
    out = []
    records = _records(ledger, dept)
    assert len(records) <= len(identities)
    for (body, stored), identity in zip(records, identities, strict=False):
        assert body["applicant_ref"] == decisions.applicant_reference(ledger, dept, identity)
        assert stored.pop("input_nonce")
        body = {k: v if k not in _PER_RUN else _PER_RUN[k](v) for k, v in body.items()}
        body["as_of_block"] = None
        if "credit" in body:
            body["credit"] = {**body["credit"], "as_of_block": None}
        body["certificates"] = [{**f, "as_of_block": None, "anchored_block": None} for f in body["certificates"]]
        out.append((body, stored))
    return out


def _reads_logged(ledger: Ledger, dept: str) -> list[str]:
    """The purposes of the reads ``dept``'s decisions made of MKT's certificates, as MKT's access log has them."""
    with ledger.engine.connect() as conn:
        bodies = conn.execute(
            text("SELECT body FROM logentry WHERE log='access' AND department_id='MKT' ORDER BY seq")
        ).scalars()
        return [b["purpose"] for b in map(json.loads, bodies) if b.get("actor") == dept]


def _stored_inputs(ledger: Ledger) -> int:
    with ledger.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM decisioninput")).scalar_one())


def _report(ledger: Ledger, dept: str) -> dict[str, Any]:
    report = replay(ledger, department=dept)
    assert report.ok, report.summary()
    found = report.to_json()
    return {k: found[k] for k in ("decisions", "automatic", "re_run", "outcomes", "reasons", "discrepancies")}


def test_a_run_with_workers_records_what_one_process_records(ledger: Ledger, licences: list[dict[str, Any]]) -> None:
    apps = _input(licences)
    identities = [a["applicant_ref"] for a in apps]
    alone, parallel = _department(ledger, "A"), _department(ledger, "W")
    one = _decide(ledger, alone, apps, workers=0)
    two = _decide(ledger, parallel, apps, workers=1)
    assert one.count == two.count == N and one.outcomes == two.outcomes
    assert len(one.roots) == len(two.roots) == 1
    recorded = _comparable(ledger, alone, identities)
    assert recorded == _comparable(ledger, parallel, identities)
    assert {f["verified"] for body, _ in recorded for f in body["certificates"]} == {True, False}  # facts established
    assert any(f.get("holder") for body, _ in recorded for f in body["certificates"])
    assert len(_reads_logged(ledger, alone)) == len(_reads_logged(ledger, parallel)) == 10
    assert [p.replace(alone, "") for p in _reads_logged(ledger, alone)] == [
        p.replace(parallel, "") for p in _reads_logged(ledger, parallel)
    ]
    assert _report(ledger, alone) == _report(ledger, parallel)


class _KillsItsReader:
    """A value that ends the process that unpickles it: a worker, never the writer (which never unpickles it)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os._exit, (3,))


class _Unlowered(str):
    """A digest text that cannot be lower-cased: canonical JSON stores it (a str), the facts' reading of it fails."""

    def lower(self) -> str:
        raise RuntimeError("lower() refused")


BAD = {
    "empty case id": lambda app: {**app, "case_id": ""},
    "a value canonical JSON refuses": lambda app: {**app, "item": {**app["item"], "x": float("nan")}},
    "a value no pipe carries": lambda app: {**app, "item": MappingProxyType(app["item"])},  # pickle refuses it
    "a case decided two chunks before": lambda app: {**app, "case_id": "REPEATED"},
    "a value that kills its reader": lambda app: {**app, "x": _KillsItsReader()},
    # read by the writer on main, in the chunk's recording: a RuntimeError out of decide_many, naming nothing
    "a citation whose digest cannot be read": lambda app: {
        **app,
        "certificates": [{"digest": _Unlowered("0x" + "a" * 64)}],
    },
}


@pytest.mark.parametrize("bad", list(BAD))
def test_a_bad_application_stops_both_paths_at_the_same_place_with_nothing_of_its_chunk_written(
    ledger: Ledger, licences: list[dict[str, Any]], bad: str
) -> None:
    apps = _input(licences)
    apps[20] = {**apps[20], "case_id": "REPEATED"}  # chunk 1: recorded before chunk 4 names the case again
    apps[80] = BAD[bad](apps[80])  # application 81, in chunk 4 (76-100), beside citations of MKT's licences
    identities = [a["applicant_ref"] for a in apps]
    errors: dict[int, LedgerError] = {}
    depts: dict[int, str] = {}
    for workers in (0, 1):
        dept = depts[workers] = _department(ledger, f"{workers}")
        before = _stored_inputs(ledger)
        with pytest.raises(LedgerError) as raised:
            _decide(ledger, dept, apps, workers=workers)
        errors[workers] = raised.value
        records = _records(ledger, dept)
        assert len(records) == 75, (workers, len(records))  # chunks 1-3, and nothing of chunk 4
        assert _stored_inputs(ledger) - before == 75  # one per decision recorded, none of chunk 4
        purposes = _reads_logged(ledger, dept)
        assert len(purposes) == 6 and all(str(apps[n]["case_id"]) in " ".join(purposes) for n in (6, 7, 31, 32))
        assert not any(str(apps[n]["case_id"]) in " ".join(purposes) for n in (81, 82)), purposes
    assert _comparable(ledger, depts[0], identities) == _comparable(ledger, depts[1], identities)
    if bad == "a value that kills its reader":
        assert isinstance(errors[0], InputError) and "application 81" in str(errors[0])
        assert isinstance(errors[1], StateError) and "applications 76-100" in str(errors[1])
        return
    moment = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+Z")  # the earlier decision's time, in the repeated case's error
    assert type(errors[0]) is type(errors[1])
    assert moment.sub("T", str(errors[0])) == moment.sub("T", str(errors[1]))
    if bad == "a case decided two chunks before":
        assert isinstance(errors[1], StateError) and "'REPEATED' was already decided" in str(errors[1])
    else:
        assert isinstance(errors[1], InputError) and "application 81" in str(errors[1])


def _hostile_citations(licences: list[dict[str, Any]]) -> list[list[Any]]:
    """Citation lists an application may carry: each shape the facts' reading tells apart, and the odd ones."""
    first, other = licences[0], licences[-1]
    return [
        [first["digest"].upper().replace("0X", "0x"), {"digest": first["digest"].upper()}, {"digest": 12}],
        [{"document": first}, first, {"document": first}],  # one copy cited three ways
        [vc.to_credential(other), {"document": vc.to_credential(first)}],  # wallets' credentials, as such and wrapped
        [{"document": {"fields": {"type": "x"}}}, {"fields": {}, "anchor": None}, {"@context": ["x"], "a": 1}],
        [None, 42, "not a digest", [], {}, {"digest": "0x" + "g" * 64}, {"digest": "0x" + "a" * 65}],
        [{"document": other}],  # the copy cited in the second list too: one stored copy, labelled once
        # fields without an anchor: no document, stored as sent (so no holder's identifiers in it here)
        [{"document": first, "digest": first["digest"]}, {"fields": {"type": first["fields"]["type"]}}],
    ]


def _with_citations(licences: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    apps = applications(n, seed=zlib.crc32(b"pipeline-citations"))
    lists = _hostile_citations(licences)
    for i, app in enumerate(apps):
        cited = lists[i % len(lists)]
        apps[i] = {**app, "certificates": cited}
        if i % len(lists) == 1:
            apps[i]["applicant_ref"] = licences[0]["fields"]["subject.credit_code"]
    apps[3]["certificates"] = {"not": "a list"}
    apps[4]["certificates"] = "nor this"
    return apps


def test_what_the_reading_computes_for_the_writer_is_what_the_writer_computed(
    ledger: Ledger, licences: list[dict[str, Any]]
) -> None:
    apps = _with_citations(licences, 40)
    rules = {"*": unique_rule_set("PIPE")}
    chunk = decisions._read_chunk(b"s" * 32, rules, 1, apps)
    for got in (chunk, pickle.loads(pickle.dumps(chunk))):  # noqa: S301 - as the writer has it from a worker
        prepared = [p for _, p, _ in got.pending]
        assert got.cited == [citations(p) for p in prepared]
        assert got.classified == [[classify(c) for c in citations(p)] for p in prepared]
        assert got.links == [
            link
            for (digest, _, _), kept in zip(got.stored, got.kept, strict=True)
            for link in decisions._citation_links(digest, kept)
        ]
        assert got.labels == {ref: decisions.cited_certificate_digest(doc) for ref, doc in got.documents.items()}
        assert list(got.labels) == list(got.documents)
        assert got.keys == sorted({lookup_key(c) for c in got.cases})
    assert any(d is not None for row in chunk.classified for d, _, _ in row)  # inline copies were read
    assert {g for row in chunk.classified for _, g, _ in row if g is not None} == {licences[0]["digest"]}
    # the licences' copies (as sent and as credentials) labelled with their digests; the garbled ones with none
    assert set(chunk.labels.values()) == {licences[0]["digest"], licences[-1]["digest"], ""}


def test_hostile_citations_are_recorded_alike_with_and_without_workers(
    ledger: Ledger, licences: list[dict[str, Any]]
) -> None:
    apps = _with_citations(licences, 60)
    identities = [a["applicant_ref"] for a in apps]
    alone, parallel = _department(ledger, "HA"), _department(ledger, "HW")
    one = _decide(ledger, alone, apps, workers=0)
    two = _decide(ledger, parallel, apps, workers=1)
    assert one.count == two.count == 60 and one.outcomes == two.outcomes
    recorded = _comparable(ledger, alone, identities)
    assert recorded == _comparable(ledger, parallel, identities)
    assert any(f.get("holder") for body, _ in recorded for f in body["certificates"])
    reads = _reads_logged(ledger, alone)
    assert reads and [p.replace(alone, "") for p in reads] == [
        p.replace(parallel, "") for p in _reads_logged(ledger, parallel)
    ]
    assert _report(ledger, alone) == _report(ledger, parallel)


_WORKER_PROBE = """
import json, sys
from ledger.formats.rules import load_rule_set
from ledger.services import _decision_workers

rules = load_rule_set(json.loads(sys.argv[1]))
sent = _decision_workers.RuleSets({"*": rules})
chunk = _decision_workers.read_chunk(b"s" * 32, sent, 1, json.loads(sys.argv[2]))
heavy = sorted(
    m for m in sys.modules
    if m.split(".")[0] in ("web3", "sqlalchemy", "sqlmodel", "pydantic", "eth_account", "alembic")
    or m in ("ledger.services.decisions", "ledger.services.facts", "ledger.services.logchain", "ledger.client")
)
print(json.dumps({"decisions": len(chunk.pending), "keys": chunk.keys, "heavy": heavy}))
"""


def test_a_reading_worker_imports_only_the_reading() -> None:
    """A worker that reads decide_many's chunks (``_decision_workers.read_chunk``, as a spawned worker runs it)
    imports the reading alone: no storage models, web3, verification or ``decisions.py``, whose imports were some two
    seconds of CPU at each worker's start, which the writer waited for before its first chunk (a regression here is
    slow, not wrong: this keeps it from coming back unseen)."""
    import subprocess
    import sys

    from ledger.formats.rules import load_rule_set

    document = load_rule_set(os.path.join(os.path.dirname(__file__), "..", "rules", "ss-eligibility.yaml")).document
    sent = [
        {"case_id": f"PROBE-{n}", "service_item": "440300-000030", "applicant_ref": f"9144030071{n:08d}", "item": {}}
        for n in range(3)
    ]
    out = subprocess.run(
        [sys.executable, "-c", _WORKER_PROBE, json.dumps(document), json.dumps(sent)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    probe = json.loads(out.stdout)
    assert probe["decisions"] == 3
    assert probe["keys"] == sorted(lookup_key(a["case_id"]) for a in sent)
    assert probe["heavy"] == []


def test_the_facts_of_citations_not_looked_at_are_what_held_by_makes_of_them(
    ledger: Ledger, licences: list[dict[str, Any]]
) -> None:
    # decisions._establish builds the fact of a citation that could not be looked at (no such certificate, an
    # unreadable citation) with holder False at once (facts.establish(unseen_holder=False)) instead of building it
    # and copying it through held_by: the facts must be those of the reference - establish, then held_by on each.
    from datetime import datetime

    from ledger.services.facts import establish
    from ledger.services.verify import ChainView

    apps = _with_citations(licences, 21)
    apps[0]["certificates"] = ["0x" + "ab" * 32, {"digest": "0x" + "cd" * 32}, licences[0]["digest"]]  # not found
    dept = _department(ledger, "HF")
    secret = decisions._secret(ledger, dept)
    chunk = decisions._read_chunk(secret, {"*": unique_rule_set(dept)}, 1, apps)
    prepared, applicants = [p for _, p, _ in chunk.pending], [a for _, _, a in chunk.pending]
    # one head for both (the shared chain mines a block a second: read twice, a loaded machine saw two blocks)
    view, at = ChainView(ledger.chain, ledger.settings.confirmations, max_head_age=3600.0), "2026-12-05T20:00:00.000Z"
    block, got = decisions._establish(
        ledger, dept, prepared, applicants, at, view, None, (chunk.cited, chunk.classified)
    )
    stored = decisions.resolve_citations(ledger, prepared, chunk.classified)
    moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    reference = establish(view, chunk.cited, stored, now=moment, classified=chunk.classified)
    assert all(f.holder is None for row in reference for f in row)
    want = [
        [f.held_by(a, lambda i: decisions.applicant_reference(ledger, dept, i)) for f in row]
        for row, a in zip(reference, applicants, strict=True)
    ]
    assert got == want and block == next(f.as_of_block for row in want for f in row)
    assert [f.to_json() for row in got for f in row] == [f.to_json() for row in want for f in row]
    unseen = [f for row in got for f in row if f.failed and f.failed[0] in ("not_found", "citation_invalid")]
    assert len(unseen) >= 5 and all(f.holder is False and not f.verified for f in unseen)
    assert any(f.holder for row in got for f in row)  # a licence cited by its holder: held_by still compared it
