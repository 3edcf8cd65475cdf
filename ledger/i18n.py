"""Chinese (zh-CN) and English for the pages people read: the timeline page, the report (and the verification
page's script, which carries its own copy of the words it needs, api/static/verify.js).

The language is the one the reader chose (``?lang=``, remembered in the ``pl_lang`` cookie), else the first of
the browser's ``Accept-Language`` we have, else English. Dates, numbers, status words and outcomes are localised
here; reason codes have their display texts with the vocabulary (``ledger.reasons.REASON_TEXTS``) and with the
rule set that gives them (``reason_texts`` in the rule set document, ``RuleSet.reason_text``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

__all__ = ["COOKIE", "DEFAULT", "LANGUAGES", "format_date", "format_datetime", "format_number", "negotiate",
           "normalise", "status_word", "text"]

LANGUAGES = ("en", "zh-CN")
DEFAULT = "en"
COOKIE = "pl_lang"  # the reader's choice, shared by every page (the verification page's script sets it too)

# key -> {language: text}. Placeholders are str.format fields; values put into them are escaped by the caller.
MESSAGES: dict[str, dict[str, str]] = {
    "language.name": {"en": "English", "zh-CN": "中文"},
    "language.switch": {"en": "Language", "zh-CN": "语言"},
    # statuses and outcomes
    "status.valid": {"en": "valid", "zh-CN": "有效"},
    "status.revoked": {"en": "revoked", "zh-CN": "已撤销"},
    "status.suspended": {"en": "suspended", "zh-CN": "已暂停"},
    "status.superseded": {"en": "superseded", "zh-CN": "已被替代"},
    "status.unknown": {"en": "unknown", "zh-CN": "未知"},
    "status.expired": {"en": "expired", "zh-CN": "已过期"},
    "outcome.approve": {"en": "approved", "zh-CN": "批准"},
    "outcome.reject": {"en": "rejected", "zh-CN": "不予批准"},
    "outcome.refer": {"en": "referred to an officer", "zh-CN": "转人工审核"},
    # timeline
    "timeline.title": {"en": "Provenance timeline", "zh-CN": "证照溯源时间线"},
    "timeline.certificate": {"en": "Certificate", "zh-CN": "证照"},
    "timeline.issued_by": {"en": "{type} issued by {issuer}", "zh-CN": "{type}，签发单位：{issuer}"},
    "timeline.status": {"en": "status", "zh-CN": "状态"},
    "timeline.as_of": {"en": "as of {at}", "zh-CN": "截至 {at}"},
    "timeline.source": {"en": "source", "zh-CN": "来源"},
    "timeline.reason": {"en": "reason", "zh-CN": "原因"},
    "timeline.verify_another": {"en": "Verify another certificate", "zh-CN": "核验其他证照"},
    "event.issued": {"en": "issued", "zh-CN": "签发"},
    "event.anchored": {"en": "anchored", "zh-CN": "上链存证"},
    "event.anchoring": {"en": "not anchored", "zh-CN": "未上链"},
    "event.signed": {"en": "signed", "zh-CN": "签名"},
    "event.suspended": {"en": "suspended", "zh-CN": "暂停"},
    "event.reinstated": {"en": "reinstated", "zh-CN": "恢复"},
    "event.revoked": {"en": "revoked", "zh-CN": "撤销"},
    "event.superseded": {"en": "superseded", "zh-CN": "被替代"},
    "event.supersedes": {"en": "supersedes", "zh-CN": "替代旧证"},
    "event.decision": {"en": "decision", "zh-CN": "审批决定"},
    "event.granted": {"en": "shared", "zh-CN": "共享授权"},
    "event.grant_revoked": {"en": "sharing revoked", "zh-CN": "撤回共享"},
    "event.grant_expired": {"en": "sharing expired", "zh-CN": "共享到期"},
    "event.access": {"en": "accessed", "zh-CN": "查阅"},
    "event.access_refused": {"en": "access refused", "zh-CN": "拒绝查阅"},
    # decision notices (ledger/notices.py), when the rule set gives no words of its own
    "notice.review_default": {
        "en": "You may ask the deciding department for a review of this decision, or apply for administrative "
              "reconsideration or bring an administrative lawsuit as the law provides.",
        "zh-CN": "如不服本决定，可以向作出决定的部门申请复核，或者依法申请行政复议或提起行政诉讼。"},
    # report
    "report.title": {"en": "Decision report", "zh-CN": "审批决定报告"},
    "report.department": {"en": "Department", "zh-CN": "部门"},
    "report.period": {"en": "Period", "zh-CN": "期间"},
    "report.period_value": {"en": "{start} to {end}", "zh-CN": "{start} 至 {end}"},
    "report.generated": {"en": "Generated {at}, chain as of block {block}",
                         "zh-CN": "生成于 {at}，链上数据截至区块 {block}"},
    "report.summary": {"en": "Summary", "zh-CN": "概要"},
    "report.decisions": {"en": "Decisions", "zh-CN": "决定数"},
    "report.automatic": {"en": "Automatic", "zh-CN": "自动审批"},
    "report.officer": {"en": "By an officer", "zh-CN": "人工审批"},
    "report.overrides": {"en": "Overrides", "zh-CN": "人工改判"},
    "report.outcomes_over_time": {"en": "Outcomes over time", "zh-CN": "审批结果趋势"},
    "report.outcomes": {"en": "Outcomes", "zh-CN": "审批结果"},
    "report.reasons": {"en": "Reason codes", "zh-CN": "理由代码"},
    "report.reason": {"en": "Reason", "zh-CN": "理由"},
    "report.code": {"en": "Code", "zh-CN": "代码"},
    "report.count": {"en": "Count", "zh-CN": "数量"},
    "report.share": {"en": "Share", "zh-CN": "占比"},
    "report.automatic_vs_officer": {"en": "Automatic and officer decisions", "zh-CN": "自动审批与人工审批"},
    "report.overrides_per_officer": {"en": "Overrides per officer", "zh-CN": "各审批人员改判情况"},
    "report.officer_ref": {"en": "Officer (salted reference)", "zh-CN": "审批人员（加盐标识）"},
    "report.officer_decisions": {"en": "Decisions", "zh-CN": "决定数"},
    "report.rule_sets": {"en": "Rule-set versions in force", "zh-CN": "适用的规则集版本"},
    "report.rule_set": {"en": "Rule set", "zh-CN": "规则集"},
    "report.version": {"en": "Version", "zh-CN": "版本"},
    "report.digest": {"en": "Digest", "zh-CN": "摘要值"},
    "report.published_block": {"en": "Published in block", "zh-CN": "发布区块"},
    "report.used": {"en": "Used from {first} to {last}", "zh-CN": "使用期间 {first} 至 {last}"},
    "report.replay": {"en": "Replay", "zh-CN": "复算核验"},
    "report.replay_ok": {"en": "Every decision matches its anchor and every automatic decision re-runs to the "
                               "recorded outcome and reasons.",
                         "zh-CN": "所有决定均与链上存证一致，所有自动审批决定复算结果与记录的结果和理由相同。"},
    "report.replay_failed": {"en": "Replay found {count} discrepancies.", "zh-CN": "复算发现 {count} 处不一致。"},
    "report.replay_counts": {"en": "{decisions} decisions checked, {rerun} re-run, {unanchored} not anchored yet",
                             "zh-CN": "核验 {decisions} 项决定，复算 {rerun} 项，{unanchored} 项尚未上链"},
    "report.check": {"en": "Check", "zh-CN": "检查项"},
    "report.seq": {"en": "No.", "zh-CN": "序号"},
    "report.case": {"en": "Case", "zh-CN": "案件"},
    "report.detail": {"en": "Detail", "zh-CN": "说明"},
    "report.more": {"en": "… {count} more in the JSON report", "zh-CN": "……另有 {count} 项见 JSON 报告"},
    "report.commitments": {"en": "Commitments", "zh-CN": "告知承诺"},
    "report.commitments_met": {"en": "Met", "zh-CN": "已履行"},
    "report.commitments_broken": {"en": "Broken", "zh-CN": "未履行"},
    "report.commitments_due": {"en": "Due", "zh-CN": "待核查"},
    "report.inspections": {"en": "Random inspections", "zh-CN": "双随机抽查"},
    "report.inspections_drawn": {"en": "Drawn", "zh-CN": "抽中"},
    "report.inspections_conforming": {"en": "Conforming", "zh-CN": "符合"},
    "report.inspections_non_conforming": {"en": "Not conforming", "zh-CN": "不符合"},
    "report.findings": {"en": "Findings", "zh-CN": "检查发现"},
    "report.draws": {"en": "Draws", "zh-CN": "抽取批次"},
    "report.not_recorded": {"en": "Not recorded: this ledger holds no supervision data for the period.",
                            "zh-CN": "未记录：本账本在该期间没有监管数据。"},
    "report.none": {"en": "None in this period.", "zh-CN": "本期间无记录。"},
    "report.no_decisions": {"en": "No decisions in this period.", "zh-CN": "本期间没有审批决定。"},
    "report.chart_outcomes": {"en": "Decisions per {bucket}, by outcome", "zh-CN": "按{bucket}统计的审批结果"},
    "report.bucket.day": {"en": "day", "zh-CN": "日"},
    "report.bucket.week": {"en": "week", "zh-CN": "周"},
    "report.bucket.month": {"en": "month", "zh-CN": "月"},
    "report.json_link": {"en": "The same data as JSON", "zh-CN": "同一数据的 JSON 格式"},
}

_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def normalise(value: str | None) -> str | None:
    """A supported language for a tag such as ``zh``, ``zh-cn``, ``zh-Hans-CN``, ``en-GB``; None otherwise."""
    if not value or not isinstance(value, str):
        return None
    tag = value.strip().lower()
    if tag == "zh" or tag.startswith("zh-"):
        return "zh-CN"  # the one Chinese we have
    if tag == "en" or tag.startswith("en-"):
        return "en"
    return None


def negotiate(accept_language: str | None, chosen: str | None = None) -> str:
    """The reader's language: ``chosen`` (the switch or its cookie) when supported, else the best of
    ``Accept-Language`` (q-values honoured, order kept for ties), else English."""
    picked = normalise(chosen)
    if picked:
        return picked
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "")[:1000].split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        language = normalise(tag)
        if language and quality > 0:
            ranked.append((-quality, index, language))
    return min(ranked)[2] if ranked else DEFAULT


def text(language: str, key: str, **values: object) -> str:
    """Message ``key`` in ``language`` (English when the language lacks it), formatted with ``values``."""
    entry = MESSAGES[key]
    template = entry.get(language) or entry["en"]
    return template.format(**values) if values else template


def status_word(language: str, status: str) -> str:
    entry = MESSAGES.get(f"status.{status}") or MESSAGES.get(f"outcome.{status}")
    return (entry.get(language) or entry["en"]) if entry else status


def format_number(language: str, value: int | float, digits: int = 0) -> str:
    """Grouped digits; both languages group by thousands with a comma (万 grouping is not used in tables)."""
    return f"{value:,.{digits}f}"


def _as_datetime(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def format_datetime(language: str, value: datetime | str | None) -> str:
    """A moment in UTC, written the reader's way: ``2 Dec 2026, 09:51 UTC`` / ``2026年12月2日 09:51 UTC``."""
    moment = _as_datetime(value)
    if moment is None:
        return "—" if value in (None, "") else str(value)
    moment = moment.astimezone(UTC)
    clock = f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} UTC"
    if language == "zh-CN":
        return f"{moment.year}年{moment.month}月{moment.day}日 {clock}"
    return f"{moment.day} {_MONTHS_EN[moment.month - 1]} {moment.year}, {clock}"


def format_date(language: str, value: date | str) -> str:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return str(value)
    if language == "zh-CN":
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value.day} {_MONTHS_EN[value.month - 1]} {value.year}"
