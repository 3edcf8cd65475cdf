"""The auditors' report (ledger report) on the real chain and database, and the words it shows in both languages.

Adversaries: a department that registered a name with a <script> in it and an officer who records reasons
written as HTML (both land in the page: everything must be escaped); an auditor who mistypes the period (a clear
error, nothing written).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from ledger.cli import main as cli_main
from ledger.errors import InputError
from ledger.formats.i18n import LANGUAGES, negotiate
from ledger.formats.reasons import REASON_TEXTS, REASONS
from ledger.formats.rules import load_rule_set
from ledger.services import logchain, report
from ledger.services.logchain import LOG_DECISIONS

from .conftest import PASSPHRASE
from .decision_support import decided_history
from .report_support import (
    HOSTILE_NAME,
    HOSTILE_REASON,
    hostile_department_fixture,  # noqa: F401 - fixtures
    today,
)

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"


def test_report_counts_the_period(ledger: Any, hostile_department: str) -> None:
    data = report.build_report(ledger, hostile_department, today(), today())
    assert data["format"] == "pl-report/1" and data["department"] == {"code": hostile_department, "name": HOSTILE_NAME}
    assert data["totals"] == {"decisions": 62, "automatic": 60, "officer": 2, "overrides": 1}
    assert sum(data["outcomes"].values()) == 62
    series = data["outcomes_over_time"]
    assert series["bucket"] == "day" and len(series["series"]) == 1
    assert sum(series["series"][0][k] for k in ("approve", "refer", "reject")) == 62
    # reason codes with the rule set's display texts; the officer's reason has none (shown as its code)
    reasons = {r["code"]: r for r in data["reasons"]}
    assert reasons[HOSTILE_REASON]["texts"] == {} and reasons[HOSTILE_REASON]["count"] == 1
    automatic = [r for r in data["reasons"] if r["texts"]]
    assert automatic and all(set(r["texts"]) == set(LANGUAGES) for r in automatic)
    officers = {o["overrides"]: o for o in data["officers"]}
    assert officers[1]["decisions"] == 1 and officers[0]["decisions"] == 1
    assert all(re.fullmatch(r"0x[0-9a-f]{64}", o["officer_ref"]) for o in data["officers"])  # salted, no name
    assert "officer-7" not in json.dumps(data)
    (rule_set,) = data["rule_sets"]
    assert rule_set["version"] == f"test-{hostile_department}" and rule_set["decisions"] == 60
    assert isinstance(rule_set["published_block"], int)
    assert data["replay"]["ok"] is True and data["replay"]["decisions"] == 62 and data["replay"]["re_run"] == 60
    # supervision is read from the ledger: this department made no commitments and was not inspected
    assert data["commitments"] == {"recorded": True, "met": 0, "broken": 0, "due": 0, "items": []}
    assert data["inspections"]["recorded"] is True and data["inspections"]["drawn"] == 0
    # a period without decisions: zero, not an error
    empty = report.build_report(ledger, hostile_department, "2020-01-01", "2020-03-31")
    assert empty["totals"]["decisions"] == 0 and empty["outcomes_over_time"]["bucket"] == "week"


def test_untrusted_text_is_escaped_in_both_languages(ledger: Any, hostile_department: str) -> None:
    data = report.build_report(ledger, hostile_department, today(), today())
    for language in LANGUAGES:
        page = report.render_html(data, language)
        assert (
            "<script" not in page
            and "<img" not in page
            and "onerror=alert" not in page.replace("onerror=alert(1)&gt;", "")
        )
        assert "&lt;script&gt;alert(&#x27;name&#x27;)&lt;/script&gt; Bureau &amp; 市场监管局" in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page
        assert page.count("<svg") >= 4  # outcomes over time, reasons, automatic vs officer, overrides


def test_report_replay_flags_an_edited_decision(ledger: Any, fresh_department: str) -> None:
    """An insider edits a recorded outcome in the database: the report's replay section names it."""
    from sqlalchemy import text

    decided_history(ledger, fresh_department, n=30)
    with ledger.engine.begin() as conn:
        seq, body = conn.execute(
            text("SELECT seq, body FROM logentry WHERE log=:l AND department_id=:d ORDER BY seq LIMIT 1"),
            {"l": LOG_DECISIONS, "d": fresh_department},
        ).one()
        edited = json.loads(body)
        edited["outcome"] = "approve" if edited["outcome"] != "approve" else "reject"
        conn.execute(
            text("UPDATE logentry SET body=:b WHERE log=:l AND department_id=:d AND seq=:s"),
            {"b": logchain.canonical_body(edited).decode(), "l": LOG_DECISIONS, "d": fresh_department, "s": seq},
        )
    data = report.build_report(ledger, fresh_department, today(), today())
    assert data["replay"]["ok"] is False and "altered" in data["replay"]["discrepancy_counts"]
    page = report.render_html(data, "zh-CN")
    assert "复算发现" in page and "altered" in page and "data-ok=false" in page


def test_supervision_sections_render_from_plain_dicts(ledger: Any, hostile_department: str) -> None:
    data = report.build_report(ledger, hostile_department, today(), today())
    data["commitments"] = data["inspections"] = {"recorded": False}  # as from a ledger without supervision data
    absent = report.render_html(data, "en")
    assert absent.count("Not recorded: this ledger holds no supervision data") == 2
    assert report.render_html(data, "zh-CN").count("未记录") == 2
    data["commitments"] = {
        "recorded": True,
        "met": 5,
        "broken": 2,
        "due": 1,
        "items": [{"case_id": "<b>CASE-1</b>", "deadline": "2026-03-01", "state": "broken", "check": "site visit"}],
    }
    data["inspections"] = {
        "recorded": True,
        "drawn": 7,
        "conforming": 5,
        "non_conforming": 2,
        "pending": 0,
        "draws": [{"draw_id": "D-1", "rate": 0.05, "population": 140, "drawn": 7, "block": 99}],
        "findings": [{"code": "<script>x</script>", "count": 2}],
    }
    for language in LANGUAGES:
        page = report.render_html(data, language)
        assert "not-recorded" not in page and "<script>x" not in page and "&lt;script&gt;x" in page
        assert "&lt;b&gt;CASE-1&lt;/b&gt;" in page
    assert "Not conforming" in report.render_html(data, "en") and "不符合" in report.render_html(data, "zh-CN")


def cli_env(ledger: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI opens the session's ledger: its passphrase and its database (PostgreSQL when the suite runs there)."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    if ledger.settings.database_url:
        monkeypatch.setenv("LEDGER_DATABASE_URL", ledger.settings.database_url)
    else:
        monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)


def test_cli_writes_html_in_both_languages_and_json(
    ledger: Any,
    hostile_department: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli_env(ledger, monkeypatch)
    out = tmp_path / "report"
    code = cli_main(
        [
            "--data-dir",
            str(ledger.settings.data_dir),
            "report",
            "-d",
            hostile_department,
            "--from",
            today(),
            "--to",
            today(),
            "--out",
            str(out),
            "--lang",
            "zh-CN",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [
        "report.en.html",
        "report.html",
        "report.json",
        "report.zh-CN.html",
    ]
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert data["totals"]["decisions"] == 62
    chinese = (out / "report.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in chinese and "审批决定报告" in chinese and "<style>" in chinese
    assert 'href="report.en.html"' in chinese
    english = (out / "report.en.html").read_text(encoding="utf-8")
    assert "Decision report" in english and "http://" not in english.replace("http://www.w3.org/2000/svg", "")
    assert "62 decisions" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-13-01", "2026-12-31", "--from '2026-13-01' is not a date"),
        ("2026-02-01", "2026-01-01", "ends (2026-01-01) before it starts"),
        ("2000-01-01", "2026-01-01", "at most"),
    ],
)
def test_a_bad_period_is_refused_and_nothing_written(
    ledger: Any, tmp_path: Path, start: str, end: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    code = cli_main(
        [
            "--data-dir",
            str(ledger.settings.data_dir),
            "report",
            "-d",
            "INS",
            "--from",
            start,
            "--to",
            end,
            "--out",
            str(out),
        ]
    )
    assert code == 2 and message in capsys.readouterr().err and not out.exists()
    with pytest.raises(InputError, match=re.escape(message.split(" '")[0])):
        report.parse_period(start, end)


def test_an_unknown_department_is_named(
    ledger: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env(ledger, monkeypatch)
    code = cli_main(
        [
            "--data-dir",
            str(ledger.settings.data_dir),
            "report",
            "-d",
            "NOPE",
            "--from",
            today(),
            "--to",
            today(),
            "--out",
            str(tmp_path / "r"),
        ]
    )
    assert code == 2 and "'NOPE' is not registered" in capsys.readouterr().err


# -- the words ------------------------------------------------------------------------------------------------


def test_every_status_reason_has_both_languages() -> None:
    assert set(REASON_TEXTS) == set(REASONS)
    assert all(set(texts) == set(LANGUAGES) and all(texts.values()) for texts in REASON_TEXTS.values())


@pytest.mark.parametrize(
    "name",
    ["ss-eligibility.yaml", "business-licence-renewal.yaml", "notify-and-commit.yaml", "food-business-permit.yaml"],
)
def test_shipped_rule_sets_give_every_reason_in_both_languages(name: str) -> None:
    rule_set = load_rule_set(RULES_DIR / name)
    reasons = {r.reason for r in rule_set.rules} | {rule_set.default_reason}
    for reason in reasons:
        for language in LANGUAGES:
            assert rule_set.reason_text(reason, language), (reason, language)
    assert rule_set.reason_text("TYPICAL_FEATURES_MATCH", "zh-CN") in (None, "符合秒批事项全部典型特征")


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ({"NO_SUCH_REASON": {"en": "x"}}, "which no rule of this rule set gives"),
        ({"TYPICAL_FEATURES_MATCH": {"fr": "x"}}, "language 'fr'"),
        ({"TYPICAL_FEATURES_MATCH": {"en": ""}}, "must be text of 1 to"),
        ({"TYPICAL_FEATURES_MATCH": "approved"}, "must map languages"),
        (["TYPICAL_FEATURES_MATCH"], "must map reason ids"),
    ],
)
def test_bad_reason_texts_are_refused(texts: Any, message: str) -> None:
    document = yaml.safe_load((RULES_DIR / "ss-eligibility.yaml").read_text(encoding="utf-8"))
    document["reason_texts"] = texts
    with pytest.raises(InputError, match=re.escape(message)):
        load_rule_set(document)


@pytest.mark.parametrize(
    ("header", "chosen", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", None, "zh-CN"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", None, "en"),
        ("fr-FR,zh;q=0.5", None, "zh-CN"),
        ("en;q=0.2,zh-TW;q=0.9", None, "zh-CN"),
        ("fr", None, "en"),
        (None, None, "en"),
        ("zh-CN", "en", "en"),
        ("en", "zh-cn", "zh-CN"),
        ("en", "<script>", "en"),
        ("zh;q=abc, en", None, "en"),
    ],
)
def test_language_negotiation(header: str | None, chosen: str | None, expected: str) -> None:
    assert negotiate(header, chosen) == expected


def test_dates_and_numbers_are_written_the_readers_way() -> None:
    from ledger.formats.i18n import format_date, format_datetime, format_number

    moment = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC) + timedelta(0)
    assert format_datetime("en", moment) == "4 Mar 2026, 05:06:07 UTC"
    assert format_datetime("zh-CN", moment.isoformat()) == "2026年3月4日 05:06:07 UTC"
    assert format_date("zh-CN", "2026-12-31") == "2026年12月31日" and format_date("en", "2026-12-31") == "31 Dec 2026"
    assert format_number("zh-CN", 1234567) == "1,234,567"


def test_supervision_adapter_reads_the_supervision_module(
    ledger: Any, hostile_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The adapter the integrator wires: with a ``ledger.services.supervision`` offering ``report_sections`` the report
    carries its sections (a section it does not give stays "not recorded"); the period is passed as UTC bounds."""
    import sys
    import types

    seen: list[tuple[Any, ...]] = []

    def report_sections(ledger_: Any, department: str, since: datetime, until: datetime) -> dict[str, Any]:
        seen.append((department, since, until))
        return {
            "inspections": {
                "recorded": True,
                "drawn": 3,
                "conforming": 2,
                "non_conforming": 1,
                "findings": [{"code": "F-LABEL", "count": 1}],
            }
        }

    module = types.ModuleType("ledger.services.supervision")
    module.report_sections = report_sections  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ledger.services.supervision", module)
    data = report.build_report(ledger, hostile_department, "2026-01-01", "2026-01-31")
    assert seen == [(hostile_department, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))]
    assert data["inspections"]["drawn"] == 3 and data["commitments"] == {"recorded": False}
    page = report.render_html(data, "en")
    assert page.count("not-recorded") == 1 and "F-LABEL" in page


def test_every_replay_check_has_a_name_and_meaning_in_both_languages() -> None:
    """The report shows each discrepancy's check in the reader's language: every check the replay table of
    docs/decisions.md lists has its words in ledger/formats/i18n.py."""
    from ledger.formats.i18n import REPLAY_CHECKS, replay_check

    table = (RULES_DIR.parent / "docs" / "decisions.md").read_text(encoding="utf-8")
    listed: set[str] = set()
    in_table = False
    for line in table.splitlines():
        if line.startswith("| check | meaning |"):
            in_table = True
        elif not line.startswith("|"):
            in_table = False
        elif in_table:
            listed |= set(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    assert {"altered", "missing", "announcement_gap", "credit_status", "draw_mismatch"} <= listed
    for check in listed:
        for language in LANGUAGES:
            name, meaning = replay_check(language, check)
            assert check in REPLAY_CHECKS and name and meaning, (check, language)
    assert re.search(r"[\u4e00-\u9fff]", replay_check("zh-CN", "announcement_gap")[1])
