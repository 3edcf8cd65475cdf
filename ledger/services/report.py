"""The auditors' report of one department over a period: what was decided, how, under which rules, whether replay
vouches for it, and (once supervision is recorded) commitments and random inspections.

:func:`build_report` gathers plain data (``pl-report/1``, JSON-ready); :func:`render_html` turns it into one
self-contained page in English or Chinese: inline CSS (or a link to it, for the gateway's Content-Security-Policy)
and SVG charts drawn here, nothing fetched from anywhere. Everything that comes from the ledger - department
names, reason codes, officer references, rule-set ids, replay details - is untrusted text and is escaped;
numbers are formatted from ints, never pasted.

The supervision sections are rendered from plain dicts (shapes in :func:`supervision_sections`); until a
supervision module records them, each is ``{"recorded": false}`` and the page says "not recorded".
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..formats.canonical import json_loads
from ..formats.i18n import (
    LANGUAGES,
    MESSAGES,
    format_date,
    format_datetime,
    format_number,
    replay_check,
    status_word,
    text,
)
from ..storage._files import replace_private
from . import logchain
from .departments import get_department
from .logchain import LOG_DECISIONS

if TYPE_CHECKING:
    from ..client import Ledger

__all__ = [
    "REPORT_FORMAT",
    "STYLESHEET",
    "build_report",
    "parse_period",
    "render_html",
    "supervision_sections",
    "write_report",
]

REPORT_FORMAT = "pl-report/1"
MAX_PERIOD_DAYS = 3_660
LAST_REPORT_DAY = date(9999, 11, 30)  # the period's next month and week start still lie in the calendar
_LISTED_DISCREPANCIES = 200
_OUTCOMES = ("approve", "refer", "reject")
_COLOURS = {
    "approve": "#2e7d32",
    "refer": "#d98e04",
    "reject": "#c62828",
    "automatic": "#1565c0",
    "officer": "#6a1b9a",
    "met": "#2e7d32",
    "broken": "#c62828",
    "due": "#d98e04",
    "conforming": "#2e7d32",
    "non_conforming": "#c62828",
    "bar": "#37474f",
}


# ---------------------------------------------------------------------------------------------------- the data


def parse_period(start: str | date, end: str | date) -> tuple[date, date]:
    """Inclusive dates (``YYYY-MM-DD``), checked: InputError says what is wrong."""
    found = []
    for name, value in (("--from", start), ("--to", end)):
        if isinstance(value, date):
            found.append(value)
            continue
        try:
            found.append(date.fromisoformat(str(value).strip()))
        except ValueError:
            raise InputError(f"{name} {value!r} is not a date: write it as YYYY-MM-DD (e.g. 2026-01-31)") from None
    first, last = found
    if last > LAST_REPORT_DAY:
        # building the period steps past its end (the next day, the next week's or month's start): from December
        # 9999 that is outside the calendar (OverflowError), so such a period is no report's
        raise InputError(
            f"--to {last} is too close to the end of the calendar: a report ends on {LAST_REPORT_DAY} at the latest"
        )
    if last < first:
        raise InputError(f"the period ends ({last}) before it starts ({first}): swap --from and --to")
    if (last - first).days >= MAX_PERIOD_DAYS:
        raise InputError(f"the period is {(last - first).days + 1} days; a report covers at most {MAX_PERIOD_DAYS}")
    return first, last


def _moment(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _decided_at(body: dict[str, Any]) -> datetime | None:
    value = body.get("decided_at")
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _bucket(first: date, last: date) -> str:
    days = (last - first).days + 1
    return "day" if days <= 62 else "week" if days <= 366 else "month"


def _bucket_start(day: date, bucket: str) -> date:
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    return day


def _bucket_starts(first: date, last: date, bucket: str) -> list[date]:
    starts, day = [], _bucket_start(first, bucket)
    while day <= last:
        starts.append(day)
        day = (
            (day + timedelta(days=7 if bucket == "week" else 1))
            if bucket != "month"
            else (day.replace(year=day.year + 1, month=1) if day.month == 12 else day.replace(month=day.month + 1))
        )
    return starts


def _rule_set_rows(
    ledger: Ledger, digests: dict[str, dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
    """The rule sets the decisions cite (id, version, publication), and the reasons' display texts they carry."""
    from sqlalchemy import select
    from sqlmodel import col

    from .decisions import RuleSetRecord

    texts: dict[str, dict[str, str]] = {}
    rows = []
    with ledger.engine.connect() as conn:
        r = RuleSetRecord
        stored = {
            d: (i, v, b, doc)
            for d, i, v, b, doc in conn.execute(
                select(col(r.digest), col(r.rule_set_id), col(r.version), col(r.block_number), col(r.document)).where(
                    col(r.digest).in_(list(digests))
                )
            )
        }
    for digest, use in sorted(digests.items(), key=lambda kv: kv[1]["first_used"]):
        rule_set_id, version, block, document = stored.get(digest, (None, None, None, None))
        rows.append({"digest": digest, "rule_set_id": rule_set_id, "version": version, "published_block": block, **use})
        try:
            reason_texts = json_loads(document).get("reason_texts") if document else None
        except (ValueError, AttributeError):
            reason_texts = None
        if isinstance(reason_texts, dict):
            for reason, words in reason_texts.items():
                if isinstance(words, dict):
                    texts.setdefault(str(reason), {k: str(v) for k, v in words.items() if k in LANGUAGES})
    # two documents the decisions cite under one id and version (published before a second was refused): each row
    # names the others, so an auditor reading "rules X, version V" knows the name alone does not say which
    named: dict[tuple[Any, Any], list[str]] = {}
    for row in rows:
        if row["rule_set_id"] is not None:
            named.setdefault((row["rule_set_id"], row["version"]), []).append(row["digest"])
    for row in rows:
        shared = [d for d in named.get((row["rule_set_id"], row["version"]), []) if d != row["digest"]]
        if shared:
            row["version_shared_with"] = sorted(shared)
    return rows, texts


def supervision_sections(ledger: Ledger, department: str, since: datetime, until: datetime) -> dict[str, Any]:
    """The supervision sections of the report, from ``supervision.report_sections``; a section it does not
    return is ``{"recorded": False}``.

    Shapes (every field optional except ``recorded``)::

        commitments: {"recorded": True, "met": int, "broken": int, "due": int,
                      "items": [{"case_id": str, "deadline": ISO date, "state": "met"|"broken"|"due"|"overdue",
                                 "check": str}]}
        inspections: {"recorded": True, "drawn": int, "conforming": int, "non_conforming": int, "pending": int,
                      "draws": [{"draw_id": str, "rate": float, "population": int, "drawn": int, "block": int}],
                      "findings": [{"code": str, "count": int}]}
    """
    from .supervision import report_sections

    found = report_sections(ledger, department, since, until)
    return {name: found.get(name) or {"recorded": False} for name in ("commitments", "inspections")}


def build_report(
    ledger: Ledger, department: str, start: str | date, end: str | date, *, now: datetime | None = None
) -> dict[str, Any]:
    """The report data of ``department`` for the days ``start`` to ``end`` (inclusive, UTC)."""
    from .replay import replay

    first, last = parse_period(start, end)
    since, until = _moment(first), _moment(last + timedelta(days=1))
    found = get_department(ledger.chain, department)
    bucket = _bucket(first, last)
    per_bucket: dict[date, Counter[str]] = defaultdict(Counter)
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    officers: dict[str, dict[str, Any]] = {}
    rule_sets: dict[str, dict[str, Any]] = {}
    automatic = officer = overrides = total = 0
    for entry in logchain.entries(ledger, LOG_DECISIONS, department):
        try:
            body = logchain.stored_loads(entry.body)
        except ValueError:
            continue  # replay names it (body_invalid)
        if not isinstance(body, dict):
            continue
        moment = _decided_at(body)
        if moment is None or not since <= moment < until:
            continue
        total += 1
        outcome = str(body.get("outcome"))
        outcomes[outcome] += 1
        per_bucket[_bucket_start(moment.date(), bucket)][outcome] += 1
        listed: Any = body.get("reasons")
        for reason in listed if isinstance(listed, list) else ():
            reasons[str(reason)] += 1
        decided_by = _dict(body.get("decided_by"))
        if decided_by.get("kind") == "engine":
            automatic += 1
        else:
            officer += 1
            ref = str(decided_by.get("officer_ref") or "unknown")
            row = officers.setdefault(ref, {"officer_ref": ref, "decisions": 0, "overrides": 0})
            row["decisions"] += 1
            if body.get("overrides") is not None:
                row["overrides"] += 1
                overrides += 1
        digest = body.get("rule_set")
        if isinstance(digest, str):
            day = moment.date().isoformat()
            use = rule_sets.setdefault(digest, {"decisions": 0, "first_used": day, "last_used": day})
            use["decisions"] += 1
            use["first_used"], use["last_used"] = min(use["first_used"], day), max(use["last_used"], day)
    rule_set_rows, texts = _rule_set_rows(ledger, rule_sets)
    checked = replay(ledger, department=department, since=since, until=until)
    summary = checked.departments.get(department, {})
    return {
        "format": REPORT_FORMAT,
        "department": {"code": department, "name": found.name},
        "period": {"from": first.isoformat(), "to": last.isoformat()},
        "generated_at": (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "as_of_block": checked.as_of_block,
        "totals": {"decisions": total, "automatic": automatic, "officer": officer, "overrides": overrides},
        "outcomes": {k: outcomes[k] for k in (*_OUTCOMES, *sorted(set(outcomes) - set(_OUTCOMES))) if outcomes[k]},
        "outcomes_over_time": {
            "bucket": bucket,
            "series": [
                {"start": s.isoformat(), **{k: per_bucket[s][k] for k in _OUTCOMES}}
                for s in _bucket_starts(first, last, bucket)
            ],
        },
        "reasons": [
            {"code": code, "count": count, "texts": texts.get(code, {})}
            for code, count in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "officers": sorted(officers.values(), key=lambda r: (-r["overrides"], -r["decisions"], r["officer_ref"])),
        "rule_sets": rule_set_rows,
        "replay": {
            "ok": checked.ok,
            "decisions": checked.decisions,
            "re_run": checked.re_run,
            "unanchored": summary.get("unanchored") or 0,
            "discrepancy_counts": checked.counts_by_check(),
            "discrepancies": [d.to_json() for d in checked.discrepancies[:_LISTED_DISCREPANCIES]],
            "discrepancies_total": len(checked.discrepancies),
        },
        **supervision_sections(ledger, department, since, until),
    }


# ------------------------------------------------------------------------------------------------- the charts


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def stacked_bars(
    series: list[dict[str, Any]], keys: tuple[str, ...], labels: dict[str, str], title: str, axis: list[str]
) -> str:
    """A stacked column chart (one column per bucket) as inline SVG; every text escaped."""
    width, height, left, bottom, top = 760, 260, 44, 40, 28
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max([sum(_int(row.get(k)) for k in keys) for row in series] + [1])
    step = plot_w / max(len(series), 1)
    bar = max(min(step * 0.7, 40), 1)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{_e(title)}</title>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="#999"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="11">{_e(peak)}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    label_every = max(1, len(series) // 12)
    for i, row in enumerate(series):
        x = left + i * step + (step - bar) / 2
        y: float = top + plot_h
        for key in keys:
            value = _int(row.get(key))
            if not value:
                continue
            h = plot_h * value / peak
            y -= h
            parts.append(
                f'<rect class="bar-{_e(key)}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{_COLOURS.get(key, _COLOURS["bar"])}"><title>{_e(axis[i])}: {_e(labels[key])} '
                f"{value}</title></rect>"
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                f'font-size="10">{_e(axis[i])}</text>'
            )
    for i, key in enumerate(keys):
        x = left + i * 170
        parts.append(
            f'<rect x="{x}" y="6" width="12" height="12" fill="{_COLOURS.get(key, _COLOURS["bar"])}"/>'
            f'<text x="{x + 16}" y="16" font-size="12">{_e(labels[key])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def horizontal_bars(rows: list[tuple[str, int, str]], title: str) -> str:
    """A horizontal bar chart: (label, value, colour key) per row, as inline SVG; every text escaped."""
    rows = rows[:20]
    width, row_h, label_w = 760, 24, 300
    height = row_h * max(len(rows), 1) + 10
    peak = max([_int(v) for _, v, _ in rows] + [1])
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{_e(title)}</title>'
    ]
    for i, (label, value, colour) in enumerate(rows):
        y = 5 + i * row_h
        w = (width - label_w - 70) * _int(value) / peak
        shown = label if len(label) <= 44 else label[:43] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" font-size="12">{_e(shown)}'
            f"<title>{_e(label)}</title></text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" '
            f'fill="{_COLOURS.get(colour, _COLOURS["bar"])}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 15}" font-size="12">{_int(value)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


# ------------------------------------------------------------------------------------------------- the page

STYLESHEET = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Microsoft YaHei",system-ui,sans-serif;
margin:0;color:#1b1b1b;background:#fafafa}
main{max-width:860px;margin:0 auto;padding:24px}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555}.ok{color:#2e7d32}.bad{color:#c62828}.muted{color:#777}
table{border-collapse:collapse;width:100%;font-size:.92em}th,td{text-align:left;padding:4px 8px;
border-bottom:1px solid #e5e5e5;vertical-align:top}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:.85em;word-break:break-all}
.tiles{display:flex;gap:12px;flex-wrap:wrap}.tile{background:#fff;border:1px solid #ddd;border-radius:6px;
padding:10px 14px;min-width:120px}.tile b{display:block;font-size:1.5em}
.chart{max-width:100%;height:auto;background:#fff;border:1px solid #eee;margin:8px 0}
nav.lang{float:right}nav.lang a{margin-left:8px}nav.lang a[aria-current]{font-weight:bold;text-decoration:none}
"""


def _table(headers: list[tuple[str, bool]], rows: list[list[tuple[str, bool]]]) -> str:
    """Cells are (already escaped html, numeric)."""
    head = "".join(f"<th{' class=n' if n else ''}>{h}</th>" for h, n in headers)
    body = "".join("<tr>" + "".join(f"<td{' class=n' if n else ''}>{c}</td>" for c, n in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _reason_label(row: dict[str, Any], language: str) -> str:
    texts = _dict(row.get("texts"))
    return str(texts.get(language) or texts.get("en") or row.get("code"))


def _commitment_state(language: str, state: Any) -> str:
    key = f"report.commitments_{state}"
    return text(language, key) if key in MESSAGES else str(state or "")


def _supervision_html(data: dict[str, Any], language: str) -> str:
    t = lambda key, **kw: _e(text(language, key, **kw))  # noqa: E731
    n = lambda value: _e(format_number(language, _int(value)))  # noqa: E731
    parts = [f"<h2 id=commitments>{t('report.commitments')}</h2>"]
    commitments = _dict(data.get("commitments"))
    if not commitments.get("recorded"):
        parts.append(f"<p class='muted not-recorded'>{t('report.not_recorded')}</p>")
    else:
        shown = (
            ("met", "report.commitments_met"),
            ("broken", "report.commitments_broken"),
            ("due", "report.commitments_due"),
        )
        parts.append(
            horizontal_bars(
                [(text(language, label), _int(commitments.get(k)), k) for k, label in shown],
                text(language, "report.commitments"),
            )
        )
        items = [i for i in commitments.get("items") or [] if isinstance(i, dict)]
        if items:
            parts.append(
                _table(
                    [(t("report.case"), False), (t("report.detail"), False), (t("report.period"), False)],
                    [
                        [
                            (_e(i.get("case_id", "")), False),
                            (_e(f"{_commitment_state(language, i.get('state'))} {i.get('check', '')}".strip()), False),
                            (_e(format_date(language, str(i.get("deadline", "")))), False),
                        ]
                        for i in items[:200]
                    ],
                )
            )
    parts.append(f"<h2 id=inspections>{t('report.inspections')}</h2>")
    inspections = _dict(data.get("inspections"))
    if not inspections.get("recorded"):
        parts.append(f"<p class='muted not-recorded'>{t('report.not_recorded')}</p>")
        return "".join(parts)
    keys = (
        ("drawn", "report.inspections_drawn", "bar"),
        ("conforming", "report.inspections_conforming", "conforming"),
        ("non_conforming", "report.inspections_non_conforming", "non_conforming"),
    )
    parts.append(
        "<div class=tiles>"
        + "".join(f"<div class=tile>{t(label)}<b>{n(inspections.get(k))}</b></div>" for k, label, _ in keys)
        + "</div>"
    )
    findings = [f for f in inspections.get("findings") or [] if isinstance(f, dict)]
    if findings:
        parts.append(f"<h3>{t('report.findings')}</h3>")
        parts.append(
            horizontal_bars(
                [(str(f.get("code")), _int(f.get("count")), "non_conforming") for f in findings],
                text(language, "report.findings"),
            )
        )
    draws = [d for d in inspections.get("draws") or [] if isinstance(d, dict)]
    if draws:
        parts.append(f"<h3>{t('report.draws')}</h3>")
        parts.append(
            _table(
                [(t("report.detail"), False), (t("report.count"), True), (t("report.published_block"), True)],
                [
                    [(_e(d.get("draw_id", "")), False), (n(d.get("drawn")), True), (n(d.get("block")), True)]
                    for d in draws[:200]
                ],
            )
        )
    return "".join(parts)


def render_html(
    data: dict[str, Any],
    language: str = "en",
    *,
    stylesheet: str | None = None,
    switch: dict[str, str] | None = None,
    json_href: str | None = None,
) -> str:
    """The report page in ``language``. ``stylesheet``: the URL of :data:`STYLESHEET` (else it is inlined);
    ``switch``: the address of the page in each language (the language control); ``json_href``: the data."""
    if language not in LANGUAGES:
        raise InputError(f"language {language!r} is not one of {list(LANGUAGES)}")
    t = lambda key, **kw: _e(text(language, key, **kw))  # noqa: E731
    n = lambda value: _e(format_number(language, _int(value)))  # noqa: E731
    department = data.get("department") or {}
    period = data.get("period") or {}
    totals = data.get("totals") or {}
    html = [
        f'<!doctype html>\n<html lang="{_e(language)}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{t('report.title')} — {_e(department.get('code', ''))}</title>",
        f'<link rel="stylesheet" href="{_e(stylesheet)}">' if stylesheet else f"<style>{STYLESHEET}</style>",
        "</head><body><main>",
    ]
    if switch:
        html.append(
            f'<nav class=lang aria-label="{t("language.switch")}">'
            + "".join(
                f'<a href="{_e(href)}" hreflang="{_e(code)}" lang="{_e(code)}" data-lang="{_e(code)}"'
                + (' aria-current="true"' if code == language else "")
                + f">{_e(text(code, 'language.name'))}</a>"
                for code, href in switch.items()
            )
            + "</nav>"
        )
    html += [
        f"<h1>{t('report.title')}</h1>",
        f"<p class=meta>{t('report.department')}: <b id=department-name>{_e(department.get('name', ''))}</b> "
        f"(<code>{_e(department.get('code', ''))}</code>)<br>{t('report.period')}: "
        + t(
            "report.period_value",
            start=format_date(language, str(period.get("from", ""))),
            end=format_date(language, str(period.get("to", ""))),
        )
        + "<br>"
        + t(
            "report.generated",
            at=format_datetime(language, data.get("generated_at")),
            block=format_number(language, _int(data.get("as_of_block"))),
        )
        + "</p>",
    ]
    if json_href:
        html.append(f'<p><a href="{_e(json_href)}">{t("report.json_link")}</a></p>')
    # summary
    html.append(
        f"<h2 id=summary>{t('report.summary')}</h2><div class=tiles>"
        + "".join(
            f'<div class=tile>{t(label)}<b data-total="{key}">{n(totals.get(key))}</b></div>'
            for key, label in (
                ("decisions", "report.decisions"),
                ("automatic", "report.automatic"),
                ("officer", "report.officer"),
                ("overrides", "report.overrides"),
            )
        )
        + "</div>"
    )
    # outcomes over time
    over_time = data.get("outcomes_over_time") or {}
    series = [r for r in over_time.get("series") or [] if isinstance(r, dict)]
    bucket = str(over_time.get("bucket", "day"))
    bucket_word = text(language, f"report.bucket.{bucket}") if bucket in ("day", "week", "month") else bucket
    html.append(f"<h2 id=outcomes>{t('report.outcomes_over_time')}</h2>")
    labels = {k: status_word(language, k) for k in _OUTCOMES}
    if not _int(totals.get("decisions")):
        html.append(f"<p class=muted>{t('report.no_decisions')}</p>")
    html.append(
        stacked_bars(
            series,
            _OUTCOMES,
            labels,
            text(language, "report.chart_outcomes", bucket=bucket_word),
            [_short_date(language, str(r.get("start", ""))) for r in series],
        )
    )
    outcomes = data.get("outcomes") or {}
    html.append(
        _table(
            [(t("report.outcomes"), False), (t("report.count"), True)],
            [[(_e(status_word(language, str(k))), False), (n(v), True)] for k, v in outcomes.items()],
        )
    )
    # reasons
    html.append(f"<h2 id=reasons>{t('report.reasons')}</h2>")
    reasons = [r for r in data.get("reasons") or [] if isinstance(r, dict)]
    if reasons:
        html.append(
            horizontal_bars(
                [(_reason_label(r, language), _int(r.get("count")), "bar") for r in reasons],
                text(language, "report.reasons"),
            )
        )
        html.append(
            _table(
                [(t("report.reason"), False), (t("report.code"), False), (t("report.count"), True)],
                [
                    [
                        (_e(_reason_label(r, language)), False),
                        (f"<code>{_e(r.get('code'))}</code>", False),
                        (n(r.get("count")), True),
                    ]
                    for r in reasons
                ],
            )
        )
    else:
        html.append(f"<p class=muted>{t('report.none')}</p>")
    # automatic vs officer
    html.append(f"<h2 id=deciders>{t('report.automatic_vs_officer')}</h2>")
    html.append(
        horizontal_bars(
            [
                (text(language, "report.automatic"), _int(totals.get("automatic")), "automatic"),
                (text(language, "report.officer"), _int(totals.get("officer")), "officer"),
            ],
            text(language, "report.automatic_vs_officer"),
        )
    )
    # officers
    html.append(f"<h2 id=officers>{t('report.overrides_per_officer')}</h2>")
    officers = [o for o in data.get("officers") or [] if isinstance(o, dict)]
    if officers:
        html.append(
            horizontal_bars(
                [(str(o.get("officer_ref", ""))[:18] + "…", _int(o.get("overrides")), "officer") for o in officers],
                text(language, "report.overrides_per_officer"),
            )
        )
        html.append(
            _table(
                [
                    (t("report.officer_ref"), False),
                    (t("report.officer_decisions"), True),
                    (t("report.overrides"), True),
                ],
                [
                    [
                        (f"<code>{_e(o.get('officer_ref'))}</code>", False),
                        (n(o.get("decisions")), True),
                        (n(o.get("overrides")), True),
                    ]
                    for o in officers
                ],
            )
        )
    else:
        html.append(f"<p class=muted>{t('report.none')}</p>")
    # rule sets
    html.append(f"<h2 id=rule-sets>{t('report.rule_sets')}</h2>")
    rule_sets = [r for r in data.get("rule_sets") or [] if isinstance(r, dict)]
    if rule_sets:
        html.append(
            _table(
                [
                    (t("report.rule_set"), False),
                    (t("report.version"), False),
                    (t("report.decisions"), True),
                    (t("report.published_block"), True),
                ],
                [
                    [
                        (
                            f"{_e(r.get('rule_set_id') or '?')}<br><code>{_e(r.get('digest'))}</code><br><small>"
                            + t(
                                "report.used",
                                first=format_date(language, str(r.get("first_used", ""))),
                                last=format_date(language, str(r.get("last_used", ""))),
                            )
                            + "</small>",
                            False,
                        ),
                        (
                            _e(r.get("version") or "?")
                            + "".join(
                                f"<br><small>{t('report.version_shared')}<br><code>{_e(d)}</code></small>"
                                for d in r.get("version_shared_with") or []
                            ),
                            False,
                        ),
                        (n(r.get("decisions")), True),
                        (n(r.get("published_block")) if r.get("published_block") is not None else "—", True),
                    ]
                    for r in rule_sets
                ],
            )
        )
    else:
        html.append(f"<p class=muted>{t('report.none')}</p>")
    # replay
    checked = data.get("replay") or {}
    html.append(f"<h2 id=replay>{t('report.replay')}</h2>")
    if checked.get("ok"):
        html.append(f"<p class=ok id=replay-verdict data-ok=true>✔ {t('report.replay_ok')}</p>")
    else:
        html.append(
            f"<p class=bad id=replay-verdict data-ok=false>✘ "
            f"{t('report.replay_failed', count=format_number(language, _int(checked.get('discrepancies_total'))))}"
            "</p>"
        )
    html.append(
        "<p class=meta>"
        + t(
            "report.replay_counts",
            decisions=format_number(language, _int(checked.get("decisions"))),
            rerun=format_number(language, _int(checked.get("re_run"))),
            unanchored=format_number(language, _int(checked.get("unanchored"))),
        )
        + "</p>"
    )
    listed = [d for d in checked.get("discrepancies") or [] if isinstance(d, dict)]
    if listed:
        counts = checked.get("discrepancy_counts") or {}
        html.append(
            horizontal_bars(
                [(replay_check(language, str(k))[0], _int(v), "reject") for k, v in counts.items()],
                text(language, "report.replay"),
            )
        )
        html.append(
            _table(
                [
                    (t("report.check"), False),
                    (t("report.seq"), True),
                    (t("report.case"), False),
                    (t("report.detail"), False),
                ],
                [
                    [
                        _check_cell(d, language),
                        (_e(d.get("seq")) if d.get("seq") is not None else "—", True),
                        (_e(d.get("case_id") or "—"), False),
                        (_e(_check_detail(d, language)), False),
                    ]
                    for d in listed
                ],
            )
        )
        if language != "en":
            html.append(f"<p class=muted>{t('report.detail_in_json')}</p>")
        more = _int(checked.get("discrepancies_total")) - len(listed)
        if more > 0:
            html.append(f"<p class=muted>{t('report.more', count=format_number(language, more))}</p>")
    html.append(_supervision_html(data, language))
    html.append("</main></body></html>\n")
    return "".join(html)


def _check_cell(discrepancy: dict[str, Any], language: str) -> tuple[str, bool]:
    check = str(discrepancy.get("check"))
    name = replay_check(language, check)[0]
    return (f"{_e(name)}<br><code>{_e(check)}</code>" if name != check else f"<code>{_e(check)}</code>"), False


def _check_detail(discrepancy: dict[str, Any], language: str) -> str:
    """In English the library's own sentence, with the values it found; in another language what the check means
    (the sentence, in English, stays in the JSON report)."""
    if language == "en":
        return str(discrepancy.get("detail") or "")
    return replay_check(language, str(discrepancy.get("check")))[1] or str(discrepancy.get("detail") or "")


def _short_date(language: str, iso: str) -> str:
    try:
        day = date.fromisoformat(iso[:10])
    except ValueError:
        return iso
    return f"{day.month}月{day.day}日" if language == "zh-CN" else f"{day.day}/{day.month}"


def write_report(data: dict[str, Any], out_dir: Path, language: str = "en") -> list[Path]:
    """Write ``report.json``, ``report.en.html``, ``report.zh-CN.html`` (each with the language control linking
    the other) and ``report.html`` (in ``language``) into ``out_dir``; returns the paths written.

    The report names cases and decisions, so each file is written for its owner only (0600) and whole, under a
    temporary name renamed into place: never readable by another local user, not even while it is written, and a
    symbolic link planted at one of the names in a shared directory is replaced, not followed. A directory this
    creates is its owner's only (0700)."""
    import json

    if language not in LANGUAGES:
        raise InputError(f"--lang {language!r} is not one of {list(LANGUAGES)}")
    try:
        out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise InputError(f"cannot create the report directory {out_dir}: {exc.strerror}") from None
    switch = {code: f"report.{code}.html" for code in LANGUAGES}
    pages = [("report.json", json.dumps(data, ensure_ascii=False, indent=2) + "\n")]
    pages += [(switch[code], render_html(data, code, switch=switch, json_href="report.json")) for code in LANGUAGES]
    pages.append(("report.html", render_html(data, language, switch=switch, json_href="report.json")))
    written = []
    for name, page in pages:
        path = out_dir / name
        try:
            replace_private(path, page.encode("utf-8"))
        except OSError as exc:
            raise InputError(f"cannot write {path}: {exc.strerror}") from None
        written.append(path)
    return written
