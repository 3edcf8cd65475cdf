"""Replay against the real chain: a clean history passes; each kind of tampering is named by its check."""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from ledger.cli import main as cli_main
from ledger.errors import VerificationError
from ledger.services import decisions, logchain
from ledger.services.logchain import LOG_DECISIONS, canonical_body
from ledger.services.replay import _RuleSets, replay, replay_strict

from .conftest import PASSPHRASE
from .decision_support import applications, decided_history, history_applicant


def _checks(report: Any) -> dict[str, list[int | None]]:
    out: dict[str, list[int | None]] = {}
    for d in report.discrepancies:
        out.setdefault(d.check, []).append(d.seq)
    return out


def _body(ledger: Any, dept: str, seq: int) -> dict[str, Any]:
    with ledger.engine.connect() as conn:
        raw = conn.execute(
            text("SELECT body FROM logentry WHERE log=:l AND department_id=:d AND seq=:s"),
            {"l": LOG_DECISIONS, "d": dept, "s": seq},
        ).scalar_one()
    return json.loads(raw)  # type: ignore[no-any-return]


def _set_body(ledger: Any, dept: str, seq: int, body: dict[str, Any]) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(
            text("UPDATE logentry SET body=:b WHERE log=:l AND department_id=:d AND seq=:s"),
            {"b": canonical_body(body).decode(), "l": LOG_DECISIONS, "d": dept, "s": seq},
        )


def _sql(ledger: Any, statement: str, **params: Any) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(text(statement), params)


def _seq_with(ledger: Any, dept: str, outcome: str) -> int:
    for entry in logchain.entries(ledger, LOG_DECISIONS, dept):
        if json.loads(entry.body)["outcome"] == outcome:
            return entry.seq
    raise AssertionError(f"no {outcome} decision in the history")


def test_clean_history_replays_without_discrepancies(ledger: Any, fresh_department: str) -> None:
    dept = fresh_department
    decided_history(ledger, dept, n=400)
    decisions.record_human_decision(
        ledger,
        dept,
        "CASE-000010",
        decisions.find_decision(ledger, dept, "CASE-000010").body["service_item"],  # the case's item (round 69)
        officer="officer-1",
        outcome="approve",
        reasons=["OFFICER_REVIEW"],
        applicant_ref=history_applicant(dept, 400, "CASE-000010"),
        overrides="CASE-000010",
    )
    logchain.anchor_pending(ledger, LOG_DECISIONS, dept)
    report = replay(ledger, department=dept)
    assert report.ok, report.summary()
    assert (report.decisions, report.automatic, report.re_run, report.human) == (401, 400, 400, 1)
    assert sum(report.outcomes.values()) == 401 and "refer" in report.outcomes
    assert report.departments[dept]["anchored_up_to"] == 401
    data = report.to_json()
    assert data["ok"] is True and data["discrepancies"] == [] and data["reasons"]
    replay_strict(ledger, department=dept)
    # filters select what is re-run and counted
    one = replay(ledger, department=dept, case_id="CASE-000123")
    assert one.ok and one.decisions == 1
    first_item = applications(400, seed=zlib.crc32(dept.encode()))[0]["service_item"]
    by_item = replay(ledger, department=dept, service_item=first_item)
    assert by_item.ok and 1 <= by_item.decisions < 400


def test_changed_outcome_is_caught(ledger: Any, fresh_department: str) -> None:
    dept = fresh_department
    decided_history(ledger, dept, n=200)
    seq = _seq_with(ledger, dept, "refer")
    body = _body(ledger, dept, seq)
    _set_body(ledger, dept, seq, {**body, "outcome": "approve"})
    report = replay(ledger, department=dept)
    checks = _checks(report)
    assert checks["outcome_mismatch"] == [seq]
    assert checks["altered"] == [seq]
    assert next(d for d in report.discrepancies if d.check == "outcome_mismatch").case_id == body["case_id"]
    with pytest.raises(VerificationError, match="outcome_mismatch"):
        replay_strict(ledger, department=dept)


def test_changed_reason_is_caught(ledger: Any, fresh_department: str) -> None:
    dept = fresh_department
    decided_history(ledger, dept, n=200)
    seq = _seq_with(ledger, dept, "refer")
    body = _body(ledger, dept, seq)
    _set_body(ledger, dept, seq, {**body, "reasons": ["APPLICANT_ON_CREDIT_BLACKLIST_CLEARED"]})
    assert _checks(replay(ledger, department=dept))["reasons_mismatch"] == [seq]


def test_changed_input_is_caught(ledger: Any, fresh_department: str) -> None:
    dept = fresh_department
    decided_history(ledger, dept, n=200)
    seq = 42
    digest = _body(ledger, dept, seq)["input_digest"]
    with ledger.engine.connect() as conn:
        stored = json.loads(
            conn.execute(text("SELECT document FROM decisioninput WHERE digest=:d"), {"d": digest}).scalar_one()
        )
    stored["applicant"]["blacklisted"] = not stored["applicant"]["blacklisted"]
    _sql(ledger, "UPDATE decisioninput SET document=:t WHERE digest=:d", t=canonical_body(stored).decode(), d=digest)
    checks = _checks(replay(ledger, department=dept))
    assert checks == {"input_altered": [seq]}


def test_deleted_decision_is_caught(ledger: Any, fresh_department: str) -> None:
    dept = fresh_department
    decided_history(ledger, dept, n=200)
    _sql(ledger, "DELETE FROM logentry WHERE log=:l AND department_id=:d AND seq IN (57, 200)", l=LOG_DECISIONS, d=dept)
    assert _checks(replay(ledger, department=dept)) == {"missing": [57, 200]}


def test_swapped_decisions_are_caught(ledger: Any, fresh_department: str) -> None:
    dept = fresh_department
    decided_history(ledger, dept, n=200)
    for statement in (
        "UPDATE logentry SET seq=-1 WHERE log=:l AND department_id=:d AND seq=90",
        "UPDATE logentry SET seq=90 WHERE log=:l AND department_id=:d AND seq=91",
        "UPDATE logentry SET seq=91 WHERE log=:l AND department_id=:d AND seq=-1",
        # the certificates index moved along, as a careful insider would (else replay names it: index_altered)
        "UPDATE logmention SET seq=-1 WHERE log=:l AND department_id=:d AND seq=90",
        "UPDATE logmention SET seq=90 WHERE log=:l AND department_id=:d AND seq=91",
        "UPDATE logmention SET seq=91 WHERE log=:l AND department_id=:d AND seq=-1",
    ):
        _sql(ledger, statement, l=LOG_DECISIONS, d=dept)
    report = replay(ledger, department=dept)
    assert _checks(report) == {"reordered": [90, 91]}
    assert {d.case_id for d in report.discrepancies} == {"CASE-000090", "CASE-000091"}


def test_rule_set_edited_after_use_is_caught(ledger: Any, fresh_department: str) -> None:
    dept = fresh_department
    rule_set = decided_history(ledger, dept, n=150)
    document = json.loads(json.dumps(rule_set.document))
    document["rules"][0]["when"]["value"] = 2  # on-site reason 2 would now block approval too
    _sql(
        ledger,
        "UPDATE rulesetrecord SET document=:t WHERE digest=:d",
        t=canonical_body(document).decode(),
        d=rule_set.hex_digest,
    )
    report = replay(ledger, department=dept)
    checks = _checks(report)
    assert set(checks) == {"rule_set_altered"} and len(checks["rule_set_altered"]) == 150


def test_missing_anchor_is_caught(ledger: Any, fresh_department: str) -> None:
    dept = fresh_department
    decided_history(ledger, dept, n=150)
    # an entry's anchoring is the anchor row whose range holds it: deleting the row holding 33 leaves every entry
    # of that range without the anchor the chain has
    [held] = [r for r in logchain.chain_ranges(ledger, LOG_DECISIONS, dept) if r.first_seq <= 33 <= r.last_seq]
    _sql(ledger, "DELETE FROM loganchor WHERE department_id=:d AND first_seq=:f", d=dept, f=held.first_seq)
    assert _checks(replay(ledger, department=dept)) == {"not_anchored": list(range(held.first_seq, held.last_seq + 1))}


def test_invalid_override_is_caught(ledger: Any, fresh_department: str) -> None:
    dept = fresh_department
    decided_history(ledger, dept, n=20)
    human = decisions.record_human_decision(
        ledger,
        dept,
        "CASE-000003",
        decisions.find_decision(ledger, dept, "CASE-000003").body["service_item"],  # the case's item (round 69)
        officer="o",
        outcome="reject",
        reasons=["R"],
        applicant_ref=history_applicant(dept, 20, "CASE-000003"),
        overrides=3,
    )
    logchain.anchor_pending(ledger, LOG_DECISIONS, dept)
    _sql(
        ledger,
        "UPDATE logentry SET body=:b WHERE log=:l AND department_id=:d AND seq=3",
        b=canonical_body({**_body(ledger, dept, 3), "case_id": "CASE-999999"}).decode(),
        l=LOG_DECISIONS,
        d=dept,
    )
    assert _checks(replay(ledger, department=dept))["override_invalid"] == [human.seq]


def _cli_env(ledger: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_DATA_DIR", str(ledger.settings.data_dir))
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    if ledger.settings.database_url:
        monkeypatch.setenv("LEDGER_DATABASE_URL", ledger.settings.database_url)
    else:
        monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    monkeypatch.delenv("LEDGER_RPC_URL", raising=False)


def test_cli_decide_and_replay_exit_codes(
    ledger: Any,
    fresh_department: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dept = fresh_department
    _cli_env(ledger, monkeypatch)
    apps = tmp_path / "apps.jsonl"
    rules = tmp_path / "rules.json"
    from .decision_support import unique_rule_set

    base = tmp_path / "base.json"
    # the screen without the test catalogue: demo-data adds the catalogue of the items it generates (merging one
    # the screen publishes, refusing an item both list with other attributes)
    screen = {k: v for k, v in unique_rule_set(f"cli-{dept}").document.items() if k != "items"}
    base.write_text(json.dumps(screen))
    demo = ["demo-data", "--items", "30", "--applications", "120", "--seed", "5", "--out", str(apps)]
    # the screen publishes the catalogue of the items the demo generates, as a screen for every item must (round 60c)
    assert cli_main([*demo, "--rules", str(base), "--rules-out", str(rules)]) == 0
    assert len(apps.read_text().splitlines()) == 120
    # deciding with an unpublished rule set is refused (exit 2) and records nothing
    assert cli_main(["decide", str(apps), "--department", dept, "--rules", str(rules)]) == 2
    assert cli_main(["rules", "publish", str(rules), "--department", dept]) == 0
    assert cli_main(["decide", str(apps), "--department", dept, "--rules", str(rules)]) == 0
    report_file = tmp_path / "report.json"
    capsys.readouterr()
    assert cli_main(["replay", "--department", dept, "--json", str(report_file)]) == 0
    assert "OK: no discrepancies" in capsys.readouterr().out
    assert json.loads(report_file.read_text())["decisions"] == 120
    _sql(ledger, "DELETE FROM logentry WHERE log=:l AND department_id=:d AND seq=7", l=LOG_DECISIONS, d=dept)
    assert cli_main(["replay", "--department", dept, "--json", str(report_file)]) == 1
    assert "missing" in capsys.readouterr().out
    report = json.loads(report_file.read_text())
    assert report["ok"] is False and report["discrepancy_counts"] == {"missing": 1}
    assert os.environ["LEDGER_DATA_DIR"] == str(ledger.settings.data_dir)


def test_cli_officer_override_is_recorded_anchored_and_replayed(
    ledger: Any,
    fresh_department: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dept = fresh_department
    _cli_env(ledger, monkeypatch)
    apps, rules = tmp_path / "apps.jsonl", tmp_path / "rules.json"
    from .decision_support import unique_rule_set

    base = tmp_path / "base.json"
    # the screen without the test catalogue: demo-data adds the catalogue of the items it generates (merging one
    # the screen publishes, refusing an item both list with other attributes)
    screen = {k: v for k, v in unique_rule_set(f"officer-{dept}").document.items() if k != "items"}
    base.write_text(json.dumps(screen))
    demo = ["demo-data", "--items", "10", "--applications", "5", "--seed", "8", "--out", str(apps)]
    assert cli_main([*demo, "--rules", str(base), "--rules-out", str(rules)]) == 0  # with its catalogue (round 60c)
    assert cli_main(["rules", "publish", str(rules), "--department", dept]) == 0
    assert cli_main(["decide", str(apps), "--department", dept, "--rules", str(rules)]) == 0
    first = json.loads(apps.read_text().splitlines()[0])
    capsys.readouterr()
    args = [
        "record-decision",
        "-d",
        dept,
        "--case",
        first["case_id"],
        "--item",
        first["service_item"],
        "--officer",
        "officer-0042",
        "--outcome",
        "approve",
        "--reason",
        "OFFICER_CHECKED_ON_SITE",
        "--applicant",
        first["applicant_ref"],
    ]
    assert cli_main([*args, "--overrides", first["case_id"]]) == 0
    recorded = json.loads(capsys.readouterr().out)
    assert recorded["seq"] == 6 and recorded["decided_by"]["kind"] == "officer"
    assert "officer-0042" not in json.dumps(recorded)  # only a salted reference is kept
    assert recorded["overrides"] and recorded["anchored_batches"]
    assert cli_main(["replay", "--department", dept]) == 0
    assert "1 human" in capsys.readouterr().out
    # an override naming a case this department never decided is refused, and nothing is recorded
    assert cli_main([*args, "--case", "CASE-NEVER", "--overrides", "CASE-NEVER"]) == 2
    assert "CASE-NEVER" in capsys.readouterr().err
    assert cli_main(["replay", "--department", dept]) == 0


def test_rule_set_findings_worked_out_once_per_chunk_stay_each_decisions_own(
    ledger: Any, fresh_department: str
) -> None:
    """Replay judges a rule set once per chunk for each (digest, anchoring block, recorded block) and tells each
    decision its findings (``replay._rule_set_findings``): decisions of one anchored batch naming the same rule set
    but recording different blocks get each their own finding, in their own words - a recorded block before the
    publication is reported (as an integer or as JSON's true, each as written), the honest ones beside it are not."""
    dept = fresh_department
    rules = decided_history(ledger, dept, n=12)
    published = _RuleSets(ledger).published(rules.hex_digest, dept)
    assert published is not None and published > 1
    for seq, as_of in ((3, published - 1), (5, True), (7, 1)):
        _set_body(ledger, dept, seq, {**_body(ledger, dept, seq), "as_of_block": as_of})
    report = replay(ledger, department=dept, workers=0)
    said = {d.seq: d.detail for d in report.discrepancies if d.check == "rule_set_unpublished"}
    assert sorted(said) == [3, 5, 7], report.summary()
    assert said[3].endswith(f"after the decision was taken (block {published - 1})")
    assert said[5].endswith("after the decision was taken (block True)")
    assert said[7].endswith("after the decision was taken (block 1)")
