"""Red team round 56: against this session's bounds on what an application, a rule set and a file handed to the
ledger may be (round 54 and its follow-up: ``decision_input.MAX_INPUT_BYTES`` and the fields' bounds,
``_citations.MAX_CITATIONS`` / ``MAX_CITED_BYTES``, ``evidence.bundle_text``).

1. (An applicant, making their own decision unverifiable by a court) put megabytes in a field the rule set keeps
   sealed apart (one it declares ``personal``, or one its permit copies): the 1 MiB bound counted the input as stored,
   from which those fields are taken out, so the decision was recorded and its bundle, which opens them, was past the
   4 MiB both verifiers read (through the gateway too, in parts under its string bound). Fixed: the bound counts
   the input with the sealed fields.
2. (An applicant; a department issuing wide certificates for them to cite) cite one wide certificate of the store
   by digest 64 times: the 1 MiB cited documents' bound counted inline documents only, and every bundle carries a
   presentation of each citation, so with an application at every other bound under a 256 KiB rule set the bundle
   was 4.3 MB. Fixed: the bound counts every citation's document, inline or from the store.
3. (Whoever hands the ledger a file) a rule set file padded to megabytes, or /dev/zero: read whole, then parsed.
   Fixed: read at most ``rules.MAX_RULE_SET_FILE_BYTES`` (1 MiB), refused unread past it.
4. (Whoever hands the ledger a file) a named pipe with no writer as an approval file, a rule set file, a bundle or
   a certificate document: open() waited for ever. Fixed: ``certificate.open_without_waiting`` (a pipe with no
   writer reads as empty; one a process writes to is read as before).
5. (An applicant inflating their input) 200 KB of premises copied into the permit an approval issues: a permit's
   record was held to no bound (an issuance file's records are at most 64 KiB). Fixed: held to the same bound.
6. (A department acting outside its authority) an officer's decision, or a withdrawal, with 70,000 reason codes:
   a 4.7 MB record in every bundle of the decision. Fixed: at most ``decisions.MAX_OFFICER_REASONS`` (64).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats import decision_input
from ledger.formats.rules import load_rule_set
from ledger.services import decisions, evidence, logchain

from .cli_support import cli_in_process
from .conftest import make_records
from .decision_support import application as decision_application
from .decision_support import unique_rule_set
from .evidence_support import standalone
from .permit_support import application, fresh_licence, issue_records, published_permit_rules

# -- 1. the fields a rule set seals apart, outside the input's bound ------------------------------------------------


def _sealed_past_the_bound(ledger: Ledger, tmp: Path, dept: str, case: str) -> tuple[dict[str, Any], Any, str]:
    rules = published_permit_rules(ledger, dept, case.lower())
    licence, holder = fresh_licence(ledger, tmp, case.lower())
    app = application(case, licence)
    # declared personal by the shipped permit rules: sealed apart, never in the stored input
    app["application"]["business_name"] = "x" * (decision_input.MAX_INPUT_BYTES * 3)
    app["application"]["notes"] = "y" * (decision_input.MAX_INPUT_BYTES - 8_000)  # the stored input: within its bound
    return app, rules, holder


def test_megabytes_in_a_field_sealed_apart_are_refused_like_any_input(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(An applicant, making their own decision unverifiable by a court) 3 MiB typed as the business name, a field
    the permit rules declare personal and so seal apart from the stored input, beside 1 MiB of notes: the input's
    1 MiB bound read only what was left in the stored input, the decision was recorded, and every bundle of it opens
    the name: past the 4 MiB both verifiers read, so `ledger evidence --decision` refused to write one. Refused now,
    on each decide path, with the bound named, nothing recorded."""
    dept = fresh_department
    app, rules, holder = _sealed_past_the_bound(ledger, tmp_path, dept, "FBP-RT56-SEALED")
    case, item = app["case_id"], app["service_item"]
    past = f"past the {decision_input.MAX_INPUT_BYTES:,} a decision's input may be"
    with pytest.raises(InputError, match=past):
        decisions.decide(ledger, dept, case, item, app, rules, applicant_ref=holder)
    for workers in (0, 1):  # read here, and by a worker process
        with pytest.raises(InputError, match=rf"application 1: .*{past}"):
            decisions.decide_many(ledger, dept, [{**app, "applicant_ref": holder}], {"*": rules}, workers=workers)
    with pytest.raises(InputError, match=past):
        decisions.record_human_decision(
            ledger, dept, case, item, officer="o-56", outcome="reject", reasons=["OFFICER_CHECKED"],
            applicant_ref=holder, decision_input=app, rule_set=rules,
        )  # fmt: skip
    assert list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)) == []
    # what the refusal prevents: the decision recorded past the bound, and no bundle of it that any reader reads
    with monkeypatch.context() as patch:
        patch.setattr(decision_input, "MAX_INPUT_BYTES", 2**40)
        decisions.decide(ledger, dept, case, item, app, rules, applicant_ref=holder)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    with pytest.raises(InputError, match=r"past the .* its readers take"):
        evidence.bundle_text(evidence.decision_bundle(ledger, dept, case))


def test_a_sealed_field_within_the_bound_gives_a_bundle_both_verifiers_read(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """(An applicant) a business name sealed apart and notes kept in the stored input, together at the bound: the
    decision is recorded, its bundle as `ledger evidence --decision` writes it is within the bound, and both
    verifiers pass it."""
    dept = fresh_department
    app, rules, holder = _sealed_past_the_bound(ledger, tmp_path, dept, "FBP-RT56-WITHIN")
    app["application"]["business_name"] = "x" * (decision_input.MAX_INPUT_BYTES // 2)
    app["application"]["notes"] = "y" * (decision_input.MAX_INPUT_BYTES // 2 - 8_000)  # together: at the bound
    decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    path = tmp_path / "sealed.json"
    made = cli_in_process(
        ledger, monkeypatch, capsys, "evidence", "--decision", app["case_id"], "--department", dept,
        "--applicant", holder, "--out", str(path),
    )  # fmt: skip
    assert made[0] == 0, made
    assert path.stat().st_size <= evidence.MAX_BUNDLE_BYTES
    bundle = json.loads(path.read_bytes())
    assert "x" * 1000 in json.dumps(bundle["input"])  # opened: the bundle carries the sealed name
    assert evidence.verify_bundle(path, ledger.chain).ok
    code, out, err = standalone(ledger, path)
    assert code == 0, (out, err)


# -- 2. certificates cited by digest, outside the cited documents' bound --------------------------------------------


def _wide_certificate(ledger: Ledger, tmp: Path, tag: str) -> dict[str, Any]:
    """A certificate as large as a record may be in what a presentation of it carries: 250 fields with long names
    (each hidden field is its name and its hash in a bundle), a long credit code (its type's holder field, disclosed
    in a bundle naming the applicant) and 200 named attachments."""
    (record,) = make_records(1, prefix=tag)
    record["subject"].update({f"f{i:03d}" + "n" * 60: 0 for i in range(250)})
    # its type's holder field (formats/holders.py), the one a bundle that names the applicant discloses
    record["subject"]["credit_code"] = "9" * 4_000
    record["attachments"] = [{"name": "a" * 60 + str(i), "sha256": f"{i:064x}"} for i in range(200)]
    (certificate,) = issue_records(ledger, tmp, "MKT", [record], tag)
    return certificate


def _widest_application(case: str, *cited: Any) -> dict[str, Any]:
    """Round 54's application at every bound at once (as many fields as an input may have, named as long as the
    names' bound allows, their values filling its bytes), citing ``cited``."""
    app = decision_application(case, *cited)
    n = decision_input.MAX_INPUT_FIELDS - 25
    name = decision_input.MAX_INPUT_NAME_CHARS // decision_input.MAX_INPUT_FIELDS - len("application.extra.") - 8
    value = (decision_input.MAX_INPUT_BYTES - 8_000) // n - name - 16
    app["application"]["extra"] = {f"{i:07d}" + "n" * name: "v" * value for i in range(n)}
    return app


def test_a_certificate_cited_by_digest_again_and_again_counts_toward_the_cited_bound(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(An applicant, making their own decision unverifiable by a court; a department issuing wide certificates for
    them to cite) cite one wide certificate of the store by its digest 64 times (the most an application may cite):
    round 54 bounded the documents cited inline at 1 MiB together, but not those cited by digest, which every bundle
    carries too, once per citation (a presentation of each: 41 KB here with its holder field disclosed, 2.6 MB for the
    64). With an application at every other bound and a rule set within its own (256 KiB), the decision was
    recorded and its bundle naming the applicant (as the rules' holder conditions need) was 4.3 MB, past the 4 MiB
    both verifiers read. The cited documents' bound now counts every citation's document, inline or
    from the store: refused, nothing recorded, on each decide path."""
    from ledger.services import _citations

    dept = fresh_department
    wide = _wide_certificate(ledger, tmp_path, "RT56-WIDE")
    rules = _padded_rule_set(f"rt56-cited-{dept.lower()}", 250_000)
    decisions.publish_rule_set(ledger, rules, dept)
    app = _widest_application("C-RT56-CITED", *[wide["digest"]] * _citations.MAX_CITATIONS)
    # the applicant holds it: a bundle discloses the holder field of the applicant's own certificates only (round 77)
    holder = wide["fields"]["subject.credit_code"]
    bound = f"past {_citations.MAX_CITED_BYTES:,} bytes together"
    with pytest.raises(InputError, match=bound):
        decisions.decide(ledger, dept, "C-RT56-CITED", "ITEM-1", app, rules, applicant_ref=holder)
    with pytest.raises(InputError, match=bound):
        decisions.decide_many(ledger, dept, [{**app, "applicant_ref": holder}], {"*": rules})
    with pytest.raises(InputError, match=bound):
        decisions.record_human_decision(
            ledger, dept, "C-RT56-CITED", "ITEM-1", officer="o-56", outcome="reject", reasons=["OFFICER_CHECKED"],
            applicant_ref=holder, decision_input=app, rule_set=rules,
        )  # fmt: skip
    assert list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)) == []
    # what the refusal prevents: the decision recorded, and no bundle of it that any reader reads
    with monkeypatch.context() as patch:
        patch.setattr(_citations, "MAX_CITED_BYTES", 2**40)
        decisions.decide(ledger, dept, "C-RT56-CITED", "ITEM-1", app, rules, applicant_ref=holder)
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    bundle = evidence.decision_bundle(ledger, dept, "C-RT56-CITED", applicant=holder)  # 4.3 MB compact
    with pytest.raises(InputError, match=r"past the .* its readers take"):
        evidence.bundle_text(bundle)


def test_citations_within_the_cited_bound_give_a_bundle_both_verifiers_read(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """(An applicant) the wide certificate cited as often as the cited documents' bound allows, in an application
    at every other bound, under a rule set at its own: decided, and its bundle, as `ledger evidence --decision`
    writes it, is within the bound and passes both verifiers."""
    from ledger.services import _citations

    dept = fresh_department
    wide = _wide_certificate(ledger, tmp_path, "RT56-FIT")
    rules = _padded_rule_set(f"rt56-fit-{dept.lower()}", 250_000)
    decisions.publish_rule_set(ledger, rules, dept)
    times = _citations.MAX_CITED_BYTES // len(json.dumps(wide, separators=(",", ":")))
    app = _widest_application("C-RT56-FIT", *[wide["digest"]] * times)
    decisions.decide(ledger, dept, "C-RT56-FIT", "ITEM-1", app, rules, applicant_ref="91110000Y4")
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    path = tmp_path / "fit.json"
    made = cli_in_process(
        ledger, monkeypatch, capsys, "evidence", "--decision", "C-RT56-FIT", "--department", dept,
        "--applicant", "91110000Y4", "--out", str(path),
    )  # fmt: skip
    assert made[0] == 0, made
    assert path.stat().st_size <= evidence.MAX_BUNDLE_BYTES
    report = evidence.verify_bundle(path, ledger.chain)
    assert report.ok, [c for c in report.checks if not c.ok]
    code, out, err = standalone(ledger, path)
    assert code == 0, (out, err)


def _padded_rule_set(tag: str, size: int) -> Any:
    """The shipped eligibility rules with a listed value of ``size`` bytes no application has: as large as a
    department may publish (``rules.MAX_RULE_SET_BYTES``), deciding as the shipped set does."""
    rule_set = unique_rule_set(tag)
    document = dict(rule_set.document)
    document["items"] = {"ITEM-1": rule_set.document["items"]["ITEM-1"]}  # the catalogue of the one item decided
    document["rules"] = [
        {"id": "padding", "outcome": "reject", "reason": "PADDING", "when": {"field": "application.padding", "op": "in",
         "value": ["x" * size]}},
        *document["rules"],
    ]  # fmt: skip
    return load_rule_set(document)


# -- 3. a rule set file read whole; 4. a FIFO handed as a file ------------------------------------------------------


def test_a_rule_set_file_padded_past_any_rule_set_is_refused_unread(tmp_path: Path) -> None:
    """(Whoever hands the ledger a file: a rule set drafted elsewhere, given to `ledger rules publish` or `ledger
    decide --rules`) a rule set file padded with 8 MiB of comment lines, or a name such as /dev/zero: every file
    others hand the ledger is read up to a bound (round 54), but a rule set file was read whole into memory and
    then parsed (PyYAML spends seconds a megabyte; /dev/zero is read until memory runs out). A rule set's canonical
    JSON is at most 256 KiB; its file may be at most ``rules.MAX_RULE_SET_FILE_BYTES`` (1 MiB, room for comments
    and layout), refused unread past it; the shipped ones are 11 KB at most."""
    from ledger.formats import rules

    shipped = Path(__file__).resolve().parent.parent / "rules" / "ss-eligibility.yaml"
    padded = tmp_path / "padded.yaml"
    padded.write_text(("#" * 1023 + "\n") * 8 * 1024 + shipped.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(InputError, match=f"over {rules.MAX_RULE_SET_FILE_BYTES} bytes"):
        load_rule_set(padded)
    endless = tmp_path / "endless.yaml"
    endless.symlink_to("/dev/zero")
    with pytest.raises(InputError, match=f"over {rules.MAX_RULE_SET_FILE_BYTES} bytes"):
        load_rule_set(endless)
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(InputError, match="cannot read"):
        load_rule_set(tmp_path / "folder.yaml")
    at_bound = tmp_path / "at-bound.yaml"  # at the bound exactly: read
    text = shipped.read_text(encoding="utf-8")
    at_bound.write_text("#" * (rules.MAX_RULE_SET_FILE_BYTES - len(text.encode("utf-8")) - 1) + "\n" + text)
    assert at_bound.stat().st_size == rules.MAX_RULE_SET_FILE_BYTES
    assert load_rule_set(at_bound).digest == load_rule_set(shipped).digest


def _returns_soon(call: Any) -> tuple[bool, list[Any]]:
    """(whether ``call`` returned or raised within 20 s, what it raised): run in a thread of its own, so a call
    blocked for ever fails the test instead of hanging it."""
    import threading

    raised: list[Any] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - what the call raised is the test's subject
            raised.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(20)
    return not worker.is_alive(), raised


@pytest.mark.parametrize("reader", ["approval", "rule set", "bundle", "certificate"])
def test_a_fifo_handed_as_a_file_is_refused_not_waited_on(tmp_path: Path, reader: str) -> None:
    """(Whoever hands the ledger a file) a named pipe no process writes to, given as a council approval file, a
    rule set file, an evidence bundle or a certificate document: opening it for reading waited for a writer that
    never came, so `ledger council approve`, `ledger evidence verify` or `ledger verify` hung for ever. Files others
    hand the ledger are opened without waiting (a pipe with no writer reads as empty) and refused as what they are
    not; a pipe a process writes to is read as before (`test_a_pipe_a_process_writes_to_is_read_as_before`)."""
    import os

    from ledger.formats.certificate import load_document
    from ledger.services import council

    fifo = tmp_path / ("rules.yaml" if reader == "rule set" else f"{reader}.json")
    os.mkfifo(fifo)
    readers = {
        "approval": council.read_approval,
        "rule set": load_rule_set,
        "bundle": evidence.load_bundle,
        "certificate": load_document,
    }

    def read() -> Any:
        return readers[reader](fifo)

    try:
        returned, raised = _returns_soon(read)
        assert returned, "the reader waited for a writer of the pipe"
        assert len(raised) == 1 and isinstance(raised[0], InputError), raised
    finally:  # a reader still waiting is let go
        handle = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK) if not returned else None
        if handle is not None:
            os.close(handle)


def test_a_pipe_a_process_writes_to_is_read_as_before(tmp_path: Path) -> None:
    """Guard: opened without waiting, a pipe a process writes to (what `<(...)` hands a command: /dev/fd/N) is still
    read to its end, piece by piece as it is written: a rule set written into one by another thread loads as the
    file does."""
    import os
    import threading

    shipped = Path(__file__).resolve().parent.parent / "rules" / "ss-eligibility.yaml"
    text = shipped.read_bytes()
    read_end, write_end = os.pipe()
    piped = tmp_path / "piped.yaml"
    piped.symlink_to(f"/dev/fd/{read_end}")

    def write() -> None:
        with os.fdopen(write_end, "wb", buffering=0) as handle:
            for i in range(0, len(text), 1000):
                handle.write(text[i : i + 1000])

    writer = threading.Thread(target=write, daemon=True)
    loaded: list[Any] = []
    try:
        writer.start()
        returned, raised = _returns_soon(lambda: loaded.append(load_rule_set(piped)))
        assert returned and not raised, raised
        assert loaded[0].digest == load_rule_set(shipped).digest
    finally:
        writer.join(20)
        os.close(read_end)


# -- 5. a permit's record, copied from the application, outside the record bound ------------------------------------


def test_a_permit_copying_an_application_past_the_record_bound_is_refused(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """(An applicant inflating their input) type 200 KB of premises, which the permit rules copy into the permit an
    approval issues: every certificate a department issues from a file is a record of at most
    ``settings.max_record_bytes`` (64 KiB; the document readers take 16 times that at most), but a permit's record,
    built from the application, was held to no bound: the approval issued a certificate of 200 KB. Refused now
    like a record of an issuance file (InputError naming the bound, nothing recorded or issued); premises within
    the bound are issued as before."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt56-permit")
    licence, holder = fresh_licence(ledger, tmp_path, "rt56-permit")
    app = application("FBP-RT56-PERMIT", licence)
    app["application"]["premises"] = "p" * 200_000
    with pytest.raises(InputError, match=f"past the {ledger.settings.max_record_bytes:,} bytes"):
        decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    assert list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)) == []
    app["application"]["premises"] = "p" * (ledger.settings.max_record_bytes - 4_000)
    decision = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    assert decision.body["outcome"] == "approve" and decision.body["issued"]["certificate"]


def test_the_gateway_refuses_megabytes_in_a_field_sealed_apart_and_records_nothing(ledger: Ledger) -> None:
    """(An applicant, through their department's service: an anonymous client's application relayed by the
    approver) 1.5 MB typed as the business name the permit rules seal apart, in a request well within the
    gateway's 4 MiB body: the gateway decides through the library, so the sealed fields' bound (finding 1) refuses
    it with a problem naming the bound; nothing is recorded. The same application with a short name is decided."""
    from .api_support import Clock, assert_problem, bearer, issue, login, make_client, register
    from .permit_support import permit_rules

    approver = register(ledger, "RT56G", "approver", "issuer", "verifier")
    rule_set = permit_rules(f"rt56-api-{approver}")
    decisions.publish_rule_set(ledger, rule_set, approver)
    client = make_client(ledger, Clock())
    token = login(client, ledger, approver)
    (licence,) = issue(ledger, "MKT", 1)
    the_input = application("API-RT56-SEALED", licence)
    payload = {
        "case_id": the_input.pop("case_id"),
        "service_item": the_input.pop("service_item"),
        "rule_set": rule_set.hex_digest,
        "applicant_ref": licence["fields"]["subject.credit_code"],
        "input": the_input,
    }
    # the gateway's strings are at most 128 Ki characters: a name of 15 parts, each sealed as a field of its own
    the_input["application"]["business_name"] = {f"part{i}": "x" * 100_000 for i in range(15)}
    refused = assert_problem(client.post("/decisions", json=payload, headers=bearer(token)), 422)
    assert f"{decision_input.MAX_INPUT_BYTES:,}" in refused["detail"], refused
    assert decisions.find_decisions(ledger, approver, "API-RT56-SEALED") == []
    the_input["application"]["business_name"] = "Nanshan Corner Shop"
    decided = client.post("/decisions", json=payload, headers=bearer(token))
    assert decided.status_code == 201, decided.text


# -- 6. an officer's reasons, outside every bound -------------------------------------------------------------------


def test_an_officers_decision_with_reasons_past_any_bundle_is_refused(ledger: Ledger, fresh_department: str) -> None:
    """(A department acting outside its authority, wanting its decision out of every court's reach) record an
    officer's refusal with 70,000 reason codes of 64 characters: each is a code (no free text), but their number was
    bounded by nothing, the record (4.7 MB) was appended and anchored, and every evidence bundle of the decision
    carries it, past the 4 MiB both verifiers read: the applicant could never bring the refusal before a court,
    round 54's oversized rule set by another way. An officer's decision gives at most
    ``decisions.MAX_OFFICER_REASONS`` (64) codes now: more is refused (InputError, nothing recorded)."""
    dept = fresh_department
    many = [f"R{i:06d}" + "X" * 57 for i in range(70_000)]
    with pytest.raises(InputError, match=f"at most {decisions.MAX_OFFICER_REASONS} reason codes"):
        decisions.record_human_decision(
            ledger, dept, "C-RT56-REASONS", "ITEM-1", officer="o-56", outcome="reject", reasons=many,
            applicant_ref="91110000Y4",
        )  # fmt: skip
    assert list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)) == []
    decision = decisions.record_human_decision(
        ledger, dept, "C-RT56-REASONS", "ITEM-1", officer="o-56", outcome="reject",
        reasons=many[: decisions.MAX_OFFICER_REASONS], applicant_ref="91110000Y4",
    )  # fmt: skip
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert len(evidence.bundle_text(evidence.decision_bundle(ledger, dept, "C-RT56-REASONS"))) < 100_000
    assert decision.body["reasons"] == many[: decisions.MAX_OFFICER_REASONS]


def test_a_withdrawal_with_reasons_past_the_officers_bound_is_refused(ledger: Ledger, fresh_department: str) -> None:
    """(A department acting outside its authority) the same through the other officer's decision, the withdrawal of
    an approval after a non-conforming finding (`ledger inspect withdraw`): 70,000 reason codes were recorded as
    the withdrawal's. Refused past ``MAX_OFFICER_REASONS`` (nothing recorded: the approval stays in force), and
    the withdrawal with its bound's codes is recorded."""
    from datetime import UTC, datetime, timedelta

    from .permit_support import inspected, officer_decision, withdrawn

    dept = fresh_department
    start = datetime.now(UTC) - timedelta(minutes=1)
    officer_decision(ledger, dept, "C-RT56-W", "applicant-rt56w", "approve", "OFFICER_CHECKED_ON_SITE")
    finding = inspected(ledger, dept, start, "C-RT56-W")
    many = [f"R{i:06d}" + "X" * 57 for i in range(70_000)]
    with pytest.raises(InputError, match=f"at most {decisions.MAX_OFFICER_REASONS} reason codes"):
        withdrawn(ledger, dept, finding, reasons=many)
    assert decisions.find_decision(ledger, dept, "C-RT56-W").body["outcome"] == "approve"
    withdrawn(ledger, dept, finding, reasons=many[: decisions.MAX_OFFICER_REASONS])
    assert decisions.find_decision(ledger, dept, "C-RT56-W").body["outcome"] == "reject"


def test_an_input_with_fields_sealed_apart_is_canonicalised_once(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(A department deciding applications under rules that seal personal fields apart) ``seal_fields`` wrote the
    whole input as canonical JSON to measure it against the bound, and the stored input was written again for its
    digest: every such input paid for two. The bound is checked on the stored text plus the sealed fields' own
    bytes (``decision_input.sealed_bytes``): the whole input is written once, and the bound still refuses
    megabytes typed in a sealed field (the tests above)."""
    dept = fresh_department
    app, rules, holder = _sealed_past_the_bound(ledger, tmp_path, dept, "FBP-RT56-ONCE")
    app["application"]["business_name"] = "Acme Trading"
    app["application"]["notes"] = "n" * 2_000
    whole: list[int] = []
    real = decision_input.canonical_json

    def counting(value: Any) -> bytes:
        if isinstance(value, dict):  # an input (or part of one), not a field's value or name
            whole.append(len(value))
        return real(value)

    monkeypatch.setattr(decision_input, "canonical_json", counting)
    decided = decisions.decide(ledger, dept, app["case_id"], app["service_item"], app, rules, applicant_ref=holder)
    assert whole == [], whole
    assert "business_name" not in json.dumps(decided.body)  # still sealed apart


def test_documents_cited_inline_are_measured_once_for_the_cited_bound(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(A department deciding applications that cite their certificates inline) the cited documents' bound wrote
    every inline document as JSON again to measure it, after sealing them had written each one already: each inline
    copy paid for two. The bound takes what sealing measured (its UTF-8 bytes, what a bundle carries), on each
    decide path that seals in-process, and in decide_many's chunk reading too (mend6: it measured every inline
    document again for an application citing two or more); the bound itself is held as before (the tests above)."""
    from types import SimpleNamespace

    from ledger.services import _citations

    dept = fresh_department
    rules = unique_rule_set(f"rt56-once-{dept.lower()}")
    decisions.publish_rule_set(ledger, rules, dept)
    cited = issue_records(ledger, tmp_path, "MKT", make_records(2, prefix=f"ONCE{dept}"), f"once-{dept}")
    written: list[int] = []
    real = json.dumps

    def counting(value: Any, **options: Any) -> str:
        written.append(id(value))
        return real(value, **options)

    monkeypatch.setattr(_citations, "json", SimpleNamespace(dumps=counting))
    for i, decide in enumerate(("automatic", "officer")):
        case = f"C-RT56-ONCE-{i}"
        app = decision_application(case, *({"document": c} for c in cited))
        written.clear()
        if decide == "automatic":
            decisions.decide(ledger, dept, case, "ITEM-1", app, rules, applicant_ref="91110000Y4")
        else:
            decisions.record_human_decision(
                ledger, dept, case, "ITEM-1", officer="o-56", outcome="reject", reasons=["OFFICER_CHECKED"],
                applicant_ref="91110000Y4", decision_input=app, rule_set=rules,
            )  # fmt: skip
        assert sorted(written) == sorted(id(c["document"]) for c in app["certificates"]), (decide, written)
    app = decision_application("C-RT56-ONCE-MANY", *({"document": c} for c in cited)) | {"applicant_ref": "91110000Y4"}
    written.clear()
    result = decisions.decide_many(ledger, dept, [app], {"*": rules}, workers=0)  # decide_many too (mend6)
    assert result.count == 1, result
    assert sorted(written) == sorted(id(c["document"]) for c in app["certificates"]), ("decide_many", written)
