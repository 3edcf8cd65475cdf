"""Chinese (zh-CN) and English for the pages people read: the timeline page, the report (and the verification
page's script, which carries its own copy of the words it needs, api/static/verify.js).

The language is the one the reader chose (``?lang=``, remembered in the ``pl_lang`` cookie), else the first of
the browser's ``Accept-Language`` we have, else English. Dates, numbers, status words and outcomes are localised
here; reason codes have their display texts with the vocabulary (``ledger.formats.reasons.REASON_TEXTS``) and with the
rule set that gives them (``reason_texts`` in the rule set document, ``RuleSet.reason_text``).

The sentences the library writes for people are here in both languages too: timeline event summaries
(``event_summary.*``, put together by :func:`says`), what each verification check means (:data:`VERIFY_CHECKS`) and
each replay check (:data:`REPLAY_CHECKS`), the notice's general review sentence. A sentence carrying values the
library found (a check's detail) stays English in the JSON; a page in another language shows these words instead.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

__all__ = [
    "COOKIE",
    "DEFAULT",
    "LANGUAGES",
    "REPLAY_CHECKS",
    "VERIFY_CHECKS",
    "format_date",
    "format_datetime",
    "format_number",
    "negotiate",
    "normalise",
    "replay_check",
    "says",
    "source_word",
    "status_word",
    "text",
    "verify_check",
]

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
    "status.not_anchored": {"en": "not anchored on chain", "zh-CN": "未上链存证"},
    "status.unconfirmed": {"en": "anchored, awaiting confirmations", "zh-CN": "已上链，等待区块确认"},
    "status.expired": {"en": "expired", "zh-CN": "已过期"},
    "status.not_yet_valid": {"en": "not yet valid", "zh-CN": "尚未生效"},
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
    "event.decision_unreadable": {"en": "unreadable decision record", "zh-CN": "无法读取的决定记录"},
    "event.granted": {"en": "shared", "zh-CN": "共享授权"},
    "event.grant_revoked": {"en": "sharing revoked", "zh-CN": "撤回共享"},
    "event.grant_expired": {"en": "sharing expired", "zh-CN": "共享到期"},
    "event.access": {"en": "accessed", "zh-CN": "查阅"},
    "event.access_refused": {"en": "access refused", "zh-CN": "拒绝查阅"},
    "event.access_unreadable": {"en": "altered access record", "zh-CN": "被改动的查阅记录"},
    # decision notices (ledger/services/notices.py), when the rule set gives no words of its own
    "notice.review_default": {
        "en": "You may ask the deciding department for a review of this decision, or apply for administrative "
        "reconsideration or bring an administrative lawsuit as the law provides.",
        "zh-CN": "如不服本决定，可以向作出决定的部门申请复核，或者依法申请行政复议或提起行政诉讼。",
    },
    # timeline events (ledger/services/provenance.py): each event's ``summaries`` in both languages
    "event_summary.issued": {"en": "{type} issued by {issuer}", "zh-CN": "{issuer} 签发的 {type}"},
    "event_summary.grant_altered": {
        "en": "grant {grant}'s row is not the grant the access log records: {problem}",
        "zh-CN": "授权 {grant} 的记录与访问日志所载的授权不符：{problem}",
    },
    "event_summary.grant_missing": {
        "en": "grant {grant} is recorded in the access log but its row was deleted: {problem}",
        "zh-CN": "访问日志记载了授权 {grant}，但其记录已被删除：{problem}",
    },
    "event_summary.anchoring": {
        "en": "batch {root} is not anchored on chain (state {state})",
        "zh-CN": "批次 {root} 尚未上链存证（状态：{state}）",
    },
    "event_summary.anchored": {
        "en": "batch of {count} anchored by {department} in block {block}",
        "zh-CN": "{department} 在区块 {block} 上链存证，本批共 {count} 份",
    },
    "event_summary.signed": {
        "en": "EIP-712 signature of the batch root by {signer}, an active issuer key of {department} at that block",
        "zh-CN": "批次根由 {signer} 以 EIP-712 签名，该密钥在该区块是 {department} 的有效签发密钥",
    },
    "event_summary.signed_inactive": {
        "en": "EIP-712 signature of the batch root by {signer}, NOT an active issuer key of {department} at that block",
        "zh-CN": "批次根由 {signer} 以 EIP-712 签名，但该密钥在该区块不是 {department} 的有效签发密钥",
    },
    "event_summary.signed_outside_authority": {
        "en": "EIP-712 signature of the batch root by {signer} of {department}, which the council had NOT authorized to "
        "issue certificates of type {type} at that block",
        "zh-CN": "批次根由 {department} 的 {signer} 以 EIP-712 签名，但理事会在该区块未授权该部门签发 {type} 类证照",
    },
    "event_summary.signed_type_unknown": {
        "en": "EIP-712 signature of the batch root by {signer} of {department}; whether the council had authorized "
        "the certificate's type at that block is not established (nothing the chain attests states its type)",
        "zh-CN": "批次根由 {department} 的 {signer} 以 EIP-712 签名，无法确认理事会在该区块是否授权该证照类型（没有经链上证明的记录载明其类型）",
    },
    "event_summary.signed_invalid": {
        "en": "the batch signature does not recover to the anchoring key ({problem})",
        "zh-CN": "批次签名与上链存证的密钥不符（{problem}）",
    },
    "event_summary.suspended": {"en": "suspended by {department} (reason: {reason})", "zh-CN": "由 {department} 暂停"},
    "event_summary.reinstated": {
        "en": "reinstated by {department} (reason: {reason})",
        "zh-CN": "由 {department} 恢复",
    },
    "event_summary.revoked": {"en": "revoked by {department} (reason: {reason})", "zh-CN": "由 {department} 撤销"},
    "event_summary.superseded": {"en": "superseded by {successor}", "zh-CN": "被 {successor} 替代"},
    "event_summary.supersedes": {"en": "replaces {predecessor}", "zh-CN": "替代 {predecessor}"},
    "event_summary.decision": {
        "en": "used in case {case} of {department}: {outcome}",
        "zh-CN": "用于 {department} 的案件 {case}：{outcome}",
    },
    "event_summary.accesses_more": {
        "en": "more reads and refused attempts follow entry {seq} of the access log: "
        "GET /certificates/{digest}/accesses?after={after} lists them, a page at a time",
        "zh-CN": "查阅日志第 {seq} 条之后还有更多查阅和被拒绝的查阅：GET /certificates/{digest}/accesses?after={after} "
        "分页列出",
    },
    "event_summary.unreadable_access": {
        "en": "entry {seq} of {department}'s access log is about this certificate but was altered or cannot be read "
        "(its stored body was edited in the database); the access log's check names it",
        "zh-CN": "{department} 查阅日志第 {seq} 条涉及此证书，但已被改动或无法读取（其存储内容在数据库中被改动），查阅日志核查会指出它",
    },
    "event_summary.unreadable_entry": {
        "en": "entry {seq} of {department}'s decision log names this certificate but cannot be read (its stored "
        "body was edited in the database); `ledger replay` names it",
        "zh-CN": "{department} 决定日志第 {seq} 条提及此证书，但无法读取（其存储内容在数据库中被改动），`ledger replay` 会指出它",
    },
    "event_summary.produced": {
        "en": "issued by decision {seq} of {department} ({outcome}) under rule set {rule_set}",
        "zh-CN": "由 {department} 第 {seq} 号决定（{outcome}）依规则集 {rule_set} 签发",
    },
    "event_summary.produced_input_destroyed": {
        "en": " - what the application typed that it copies was destroyed without a lawful erasure of it (see replay)",
        "zh-CN": "，其复制的申请填报内容已被销毁，但该证照并无合法删除记录（请运行核验重放）",
    },
    "event_summary.produced_input_erased": {
        "en": " - what the application typed that it copies was lawfully erased with it",
        "zh-CN": "，其复制的申请填报内容已随证照依法删除",
    },
    "event_summary.decision_input_erased": {
        "en": " - what the application typed that it kept sealed was lawfully erased",
        "zh-CN": "，该申请中封存的填报内容已依法删除",
    },
    "event_summary.decision_input_destroyed": {
        "en": " - what the application typed that it kept sealed was destroyed without a lawful erasure (see replay)",
        "zh-CN": "，该申请中封存的填报内容已被销毁，但并无合法删除记录（请运行核验重放）",
    },
    "event_summary.produced_unanchored": {
        "en": " - that decision is NOT anchored yet",
        "zh-CN": "，该决定尚未上链存证",
    },
    "event_summary.granted": {
        "en": "{issuer} shared {what} with {grantee} until {until} for: {purpose}",
        "zh-CN": "{issuer} 向 {grantee} 共享{what}，期限至 {until}，用途：{purpose}",
    },
    "event_summary.granted_all": {"en": "the whole certificate", "zh-CN": "整份证照"},
    "event_summary.granted_fields": {"en": "fields {fields}", "zh-CN": "字段 {fields}"},
    "event_summary.grant_revoked": {"en": "grant to {grantee} revoked", "zh-CN": "对 {grantee} 的共享授权已撤回"},
    "event_summary.grant_expired": {"en": "grant to {grantee} expired", "zh-CN": "对 {grantee} 的共享授权已到期"},
    "event_summary.access": {"en": "{actor} read", "zh-CN": "{actor} 查阅"},
    "event_summary.access_refused": {"en": "{actor} was refused", "zh-CN": "{actor} 被拒绝查阅"},
    "event_summary.access_purpose": {"en": " for: {purpose}", "zh-CN": "，用途：{purpose}"},
    "event_summary.access_detail": {"en": " ({detail})", "zh-CN": "（{detail}）"},
    # where a timeline event comes from (``source``)
    "source.chain": {"en": "chain", "zh-CN": "区块链"},
    "source.store": {"en": "store", "zh-CN": "签发库"},
    "source.decision-log": {"en": "decision log", "zh-CN": "决定日志"},
    "source.grants": {"en": "grants", "zh-CN": "共享授权"},
    "source.access-log": {"en": "access log", "zh-CN": "查阅日志"},
    # report
    "report.title": {"en": "Decision report", "zh-CN": "审批决定报告"},
    "report.department": {"en": "Department", "zh-CN": "部门"},
    "report.period": {"en": "Period", "zh-CN": "期间"},
    "report.period_value": {"en": "{start} to {end}", "zh-CN": "{start} 至 {end}"},
    "report.generated": {
        "en": "Generated {at}, chain as of block {block}",
        "zh-CN": "生成于 {at}，链上数据截至区块 {block}",
    },
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
    "report.version_shared": {
        "en": "Published as another document under this version too:",
        "zh-CN": "同一版本下还发布过另一份文档：",
    },
    "report.replay": {"en": "Replay", "zh-CN": "复算核验"},
    "report.replay_ok": {
        "en": "Every decision matches its anchor and every automatic decision re-runs to the "
        "recorded outcome and reasons.",
        "zh-CN": "所有决定均与链上存证一致，所有自动审批决定复算结果与记录的结果和理由相同。",
    },
    "report.replay_failed": {"en": "Replay found {count} discrepancies.", "zh-CN": "复算发现 {count} 处不一致。"},
    "report.replay_counts": {
        "en": "{decisions} decisions checked, {rerun} re-run, {unanchored} not anchored yet",
        "zh-CN": "核验 {decisions} 项决定，复算 {rerun} 项，{unanchored} 项尚未上链",
    },
    "report.check": {"en": "Check", "zh-CN": "检查项"},
    "report.seq": {"en": "No.", "zh-CN": "序号"},
    "report.case": {"en": "Case", "zh-CN": "案件"},
    "report.detail": {"en": "Detail", "zh-CN": "说明"},
    "report.detail_in_json": {
        "en": "The JSON report holds each discrepancy's detail as replay wrote it.",
        "zh-CN": "每处不一致的详细说明（英文原文）见 JSON 报告。",
    },
    "report.more": {"en": "… {count} more in the JSON report", "zh-CN": "……另有 {count} 项见 JSON 报告"},
    "report.commitments": {"en": "Commitments", "zh-CN": "告知承诺"},
    "report.commitments_met": {"en": "Met", "zh-CN": "已履行"},
    "report.commitments_broken": {"en": "Broken", "zh-CN": "未履行"},
    "report.commitments_due": {"en": "Due", "zh-CN": "待核查"},
    "report.commitments_overdue": {"en": "Overdue", "zh-CN": "已逾期"},
    "report.inspections": {"en": "Random inspections", "zh-CN": "双随机抽查"},
    "report.inspections_drawn": {"en": "Drawn", "zh-CN": "抽中"},
    "report.inspections_conforming": {"en": "Conforming", "zh-CN": "符合"},
    "report.inspections_non_conforming": {"en": "Not conforming", "zh-CN": "不符合"},
    "report.findings": {"en": "Findings", "zh-CN": "检查发现"},
    "report.draws": {"en": "Draws", "zh-CN": "抽取批次"},
    "report.not_recorded": {
        "en": "Not recorded: this ledger holds no supervision data for the period.",
        "zh-CN": "未记录：本账本在该期间没有监管数据。",
    },
    "report.none": {"en": "None in this period.", "zh-CN": "本期间无记录。"},
    "report.no_decisions": {"en": "No decisions in this period.", "zh-CN": "本期间没有审批决定。"},
    "report.chart_outcomes": {"en": "Decisions per {bucket}, by outcome", "zh-CN": "按{bucket}统计的审批结果"},
    "report.bucket.day": {"en": "day", "zh-CN": "日"},
    "report.bucket.week": {"en": "week", "zh-CN": "周"},
    "report.bucket.month": {"en": "month", "zh-CN": "月"},
    "report.json_link": {"en": "The same data as JSON", "zh-CN": "同一数据的 JSON 格式"},
}


# Replay's checks (docs/decisions.md, "Replay"): a name and what a discrepancy of that check means, for the report.
# The library's own detail sentence (with the values it found) stays in the JSON report and the English page.
REPLAY_CHECKS: dict[str, dict[str, tuple[str, str]]] = {
    "altered": {
        "en": ("altered", "The entry no longer matches its recorded hash: it was edited after it was written."),
        "zh-CN": ("记录被篡改", "该记录与其登记的哈希值不符：写入后被修改过。"),
    },
    "broken_chain": {
        "en": ("broken chain", "The entry does not link to the one before it."),
        "zh-CN": ("链接断裂", "该记录与前一条记录的哈希链接不符。"),
    },
    "missing": {
        "en": ("missing", "An entry is absent from the database although the chain's anchors cover it."),
        "zh-CN": ("记录缺失", "区块链存证覆盖的记录在数据库中不存在。"),
    },
    "inserted": {
        "en": ("inserted", "An entry that is not the one anchored at its position."),
        "zh-CN": ("记录被插入", "该位置的记录不是链上存证的那一条。"),
    },
    "reordered": {
        "en": ("reordered", "Entries were swapped or moved."),
        "zh-CN": ("顺序被调换", "记录被调换或移动了位置。"),
    },
    "not_anchored": {
        "en": ("not anchored", "The chain covers this entry but its anchor is missing or wrong."),
        "zh-CN": ("存证缺失", "区块链存证覆盖该记录，但其存证信息缺失或有误。"),
    },
    "anchor_altered": {
        "en": (
            "anchor altered",
            "A stored anchor names another block or range than the chain anchored its root with, or a state the "
            "ledger never writes.",
        ),
        "zh-CN": (
            "存证记录被改动",
            "数据库保存的存证所记的区块或序号范围与链上存证该根哈希时的不符，或其状态不是本系统会写入的状态。",
        ),
    },
    "proof_invalid": {
        "en": ("proof invalid", "The entry's stored inclusion proof is wrong."),
        "zh-CN": ("证明无效", "该记录保存的默克尔包含证明有误。"),
    },
    "body_invalid": {
        "en": (
            "body invalid",
            "The entry is not a readable record, or its stored text is not the canonical form the ledger writes.",
        ),
        "zh-CN": ("记录无法读取", "该记录不是可读取的内容，或其存储文本不是账本写入的规范形式。"),
    },
    "rule_set_unknown": {
        "en": ("rule set unknown", "The rule set the decision names is not in the database."),
        "zh-CN": ("规则集缺失", "决定所用的规则集不在数据库中。"),
    },
    "rule_set_altered": {
        "en": ("rule set altered", "The stored rule set was edited after it was used."),
        "zh-CN": ("规则集被篡改", "保存的规则集在使用后被修改过。"),
    },
    "rule_set_unpublished": {
        "en": (
            "rule set unpublished",
            "The rule set was not published on the chain before the decision was anchored, or was published for "
            "another service item.",
        ),
        "zh-CN": ("规则集未公布", "决定上链前，所用规则集未在区块链上公布，或公布时所列服务事项与规则集不符。"),
    },
    "service_item_not_held": {
        "en": (
            "service item not held",
            "The department did not hold the service item its rule set serves (an officer's decision without a rule "
            "set: the item it names) when the decision was anchored: the council had not made it responsible for that "
            "item then.",
        ),
        "zh-CN": (
            "无权办理该事项",
            "决定上链时，该部门未获授权办理其规则集所适用的服务事项（未适用规则集的人工决定：其所列服务事项）。",
        ),
    },
    "rule_set_other_department": {
        "en": (
            "another department's rule set",
            "The decision used a rule set another department published: it decided under that department's policy.",
        ),
        "zh-CN": ("使用其他部门的规则集", "决定使用了其他部门公布的规则集，即按该部门的政策作出决定。"),
    },
    "input_missing": {
        "en": ("input missing", "The decision's recorded input is absent."),
        "zh-CN": ("申请数据缺失", "决定所依据的申请数据不存在。"),
    },
    "input_altered": {
        "en": ("input altered", "The decision's input no longer matches its recorded digest."),
        "zh-CN": ("申请数据被篡改", "决定所依据的申请数据与登记的摘要值不符。"),
    },
    "input_erased_unattested": {
        "en": (
            "input erased without a lawful erasure",
            "The input fields a certificate copied (or a case kept sealed) were destroyed, but no erasure of that "
            "certificate or case is attested on chain.",
        ),
        "zh-CN": (
            "申请数据被删除但无合法删除记录",
            "证照所复制（或案件封存）的申请数据已被销毁，但链上没有该证照或该案件的删除记录。",
        ),
    },
    "case_erased_in_force": {
        "en": (
            "case erased while approved",
            "A case's typed fields were erased with the case while its approval stood; only its certificate's "
            "erasure may do that.",
        ),
        "zh-CN": ("案件在许可有效期间被删除", "案件的申请数据在其许可决定有效期间随案件删除，此时只能随证照删除。"),
    },
    "input_erasure_undone": {
        "en": (
            "erased input stored again",
            "The input fields a lawfully erased certificate copied are stored again, as from a backup.",
        ),
        "zh-CN": ("已删除的申请数据被恢复", "已合法删除的证照所复制的申请数据又被保存（如从备份恢复）。"),
    },
    "input_commitment_invalid": {
        "en": ("input commitment invalid", "The input's commitment does not match the stored input."),
        "zh-CN": ("申请数据承诺值无效", "申请数据的承诺值与保存的数据不符。"),
    },
    "engine_mismatch": {
        "en": ("engine mismatch", "The decision was made by another engine version."),
        "zh-CN": ("引擎版本不符", "该决定由另一版本的规则引擎作出。"),
    },
    "item_unpublished": {
        "en": (
            "item attributes unpublished",
            "The rule set reads the service item's attributes but publishes neither them nor the department's "
            "catalogue: the decision read what the application stated about its item.",
        ),
        "zh-CN": (
            "事项属性未公布",
            "规则集读取服务事项的属性，却既未公布该事项的属性，也未公布部门的事项目录：该决定读取的是申请人自述的事项属性。",
        ),
    },
    "rerun_failed": {
        "en": ("re-run failed", "The rules refuse the recorded input."),
        "zh-CN": ("无法复算", "规则引擎拒绝处理记录的申请数据。"),
    },
    "outcome_mismatch": {
        "en": ("outcome mismatch", "Re-running the rules gives another outcome."),
        "zh-CN": ("结果不一致", "按规则复算得出的审批结果不同。"),
    },
    "reasons_mismatch": {
        "en": ("reasons mismatch", "Re-running the rules gives other reasons."),
        "zh-CN": ("理由不一致", "按规则复算得出的理由不同。"),
    },
    "override_invalid": {
        "en": ("override invalid", "An officer's decision overrides a decision that does not exist."),
        "zh-CN": ("改判无效", "人工决定所改判的决定不存在。"),
    },
    "format_invalid": {
        "en": (
            "format invalid",
            "A decision in a format replay does not accept, or one naming neither the engine nor an officer as its "
            "decider.",
        ),
        "zh-CN": ("格式无效", "决定的格式不被复算接受，或决定未写明由规则引擎还是由工作人员作出。"),
    },
    "anchoring_overdue": {
        "en": ("anchoring overdue", "Decisions have waited too long to be anchored on the chain."),
        "zh-CN": ("存证逾期", "决定等待上链存证的时间过长。"),
    },
    "anchoring_refused": {
        "en": (
            "anchoring refused",
            "The department may no longer anchor decisions: only the database vouches for them.",
        ),
        "zh-CN": ("无法存证", "该部门已不能上链存证，这些决定仅有数据库记录。"),
    },
    "anchored_late": {
        "en": (
            "anchored late",
            "A decision was anchored long after its stated time, or states a time after its anchoring: its time (and "
            "an automatic decision's facts) are not attested.",
        ),
        "zh-CN": (
            "存证过晚",
            "决定在其所述时间很久之后才上链，或所述时间晚于上链时间：其时间（及自动审批决定的事实）无法证实。",
        ),
    },
    "decided_without_authority": {
        "en": ("decided without authority", "The department was suspended or lacked the approver role."),
        "zh-CN": ("越权决定", "作出决定时该部门已被暂停或不具备审批职能。"),
    },
    "certificate_facts": {
        "en": ("certificate facts", "A certificate fact differs from what the chain shows as of the decision's block."),
        "zh-CN": ("证照事实不符", "记录的证照事实与决定所在区块时链上的情况不符。"),
    },
    "credit_status": {
        "en": ("credit status", "The applicant's recorded credit status differs from the credit list on the ledger."),
        "zh-CN": ("信用状态不符", "记录的申请人信用状态与账本上的信用名单不符。"),
    },
    "commitment_mismatch": {
        "en": ("commitment mismatch", "The recorded commitment is not what the rule set gives."),
        "zh-CN": ("承诺内容不符", "记录的承诺内容与规则集的规定不符。"),
    },
    "facts_block_invalid": {
        "en": ("facts block invalid", "The block the decision's facts were read at is not right."),
        "zh-CN": ("事实区块无效", "决定读取事实所依据的区块不正确。"),
    },
    "announcement_late": {
        "en": (
            "announcement late",
            "The inspection was announced after its drawing block: its sample could be chosen.",
        ),
        "zh-CN": ("抽查公告过晚", "抽查公告晚于用于抽取的区块，抽查对象可能被人为选择。"),
    },
    "announcement_far": {
        "en": ("announcement far", "The drawing block is too far ahead: the draw may never come due."),
        "zh-CN": ("抽取区块过远", "用于抽取的区块过远，抽取可能永远不会到期。"),
    },
    "announcement_overlap": {
        "en": ("announcement overlap", "An inspection period was announced again: a second chance at the sample."),
        "zh-CN": ("抽查期间重叠", "同一期间被再次公告抽查，相当于重新抽取。"),
    },
    "announcement_gap": {
        "en": ("announcement gap", "Inspection periods leave a gap: approvals decided in between are in no draw."),
        "zh-CN": ("抽查期间有空档", "抽查期间之间存在空档，期间内的批准不在任何抽查范围内。"),
    },
    "population_dodged": {
        "en": (
            "population dodged",
            "An approval was set aside just before the announcement and approved again after it: it escaped the draw.",
        ),
        "zh-CN": ("规避抽查", "某项批准在公告前被暂时搁置、公告后又被批准，从而逃避了抽查。"),
    },
    "draw_mismatch": {
        "en": ("draw mismatch", "Re-drawn from the chain, the sample differs from the recorded one."),
        "zh-CN": ("抽取结果不符", "依据区块链重新抽取的结果与记录的不同。"),
    },
    "draw_early": {
        "en": ("draw early", "The draw was recorded before its drawing block."),
        "zh-CN": ("抽取过早", "抽取记录早于用于抽取的区块。"),
    },
    "draw_repeated": {
        "en": ("draw repeated", "An announcement was drawn more than once."),
        "zh-CN": ("重复抽取", "同一抽查公告被抽取了不止一次。"),
    },
    "draw_missing": {
        "en": ("draw missing", "An announced inspection was never drawn."),
        "zh-CN": ("未抽取", "已公告的抽查从未抽取。"),
    },
    "draw_invalid": {
        "en": ("draw invalid", "The draw names no announcement of this log."),
        "zh-CN": ("抽取无效", "抽取记录未对应本日志中的任何抽查公告。"),
    },
    "finding_invalid": {
        "en": ("finding invalid", "A finding on a case not drawn, or by an inspector not assigned to it."),
        "zh-CN": ("检查结果无效", "检查结果针对未被抽中的案件，或出自未被指派的检查人员。"),
    },
    "withdrawal_invalid": {
        "en": ("withdrawal invalid", "A withdrawal that rests on no non-conforming finding."),
        "zh-CN": ("撤销无效", "撤销批准缺少“不符合”的检查结果作为依据。"),
    },
    "department_invalid": {
        "en": (
            "department code invalid",
            "Entries are stored under a code no department can have: written past the ledger, vouched for by nothing "
            "on chain.",
        ),
        "zh-CN": ("部门代码无效", "记录存储在任何部门都不可能使用的代码下：绕过账本写入，链上没有任何存证。"),
    },
    "unmarked": {
        "en": (
            "entry not the ledger's",
            "An entry not anchored yet bears no valid mark of the ledger: it was added or edited past the ledger.",
        ),
        "zh-CN": ("条目非本账本写入", "尚未锚定的条目没有有效的账本标记：它是绕过账本添加或修改的。"),
    },
    "index_altered": {
        "en": ("case index altered", "The database's index of cases does not match the decision's case id."),
        "zh-CN": ("案件索引被篡改", "数据库中的案件索引与决定记录的案件编号不一致。"),
    },
    "time_altered": {
        "en": (
            "entry time altered",
            "The database's time of a log entry is not the moment its body states (a time window would miss it).",
        ),
        "zh-CN": ("记录时间被篡改", "数据库中日志记录的时间与记录内容所载时间不一致（按时间段查询会遗漏该记录）。"),
    },
    "decided_again": {
        "en": (
            "case decided again",
            "The department decided a case automatically that it had already decided automatically.",
        ),
        "zh-CN": ("案件被重复自动决定", "部门对已自动决定过的案件再次作出自动决定。"),
    },
    "decided_after_approval": {
        "en": (
            "decided after an approval",
            "The rules decided a case an officer had approved (or whose approval was withdrawn): only an officer "
            "changes an approved case.",
        ),
        "zh-CN": (
            "批准后被自动决定",
            "规则对已由工作人员批准（或批准已被撤销）的案件作出自动决定。已批准的案件只能由工作人员改变。",
        ),
    },
    "applicant_changed": {
        "en": (
            "applicant changed within a case",
            "A decision of the case names another applicant than the case's first decision: a case is one applicant's.",
        ),
        "zh-CN": (
            "案件申请人不一致",
            "该案件的决定记录的申请人与案件首个决定记录的申请人不同。一个案件只属于一个申请人。",
        ),
    },
    "item_changed": {
        "en": (
            "service item changed within a case",
            "A decision of the case names another service item than the case's first decision: a case is one "
            "application for one item.",
        ),
        "zh-CN": (
            "案件事项不一致",
            "该案件的决定记录的服务事项与案件首个决定记录的服务事项不同。一个案件只对应一个事项的一次申请。",
        ),
    },
    "held_by_other_field": {
        "en": (
            "held through another field",
            "A cited certificate counted as the applicant's through a disclosed identity other than its type's holder "
            "field (the rule before red team round 69): no longer a holding; an officer should review the decision.",
        ),
        "zh-CN": (
            "以非持证人字段认定持有",
            "所引用证照被认定为申请人持有，所依据的是其类型持证人字段以外的身份信息（第69轮红队之前的规则）。"
            "现已不再视为持有，应由工作人员复核该决定。",
        ),
    },
    "supervision_malformed": {
        "en": (
            "supervision record malformed",
            "A supervision record lacks fields the ledger writes, or holds other types.",
        ),
        "zh-CN": ("监管记录格式错误", "监管记录缺少账本写入的字段，或字段类型不符。"),
    },
    "credit_listing_invalid": {
        "en": ("credit listing invalid", "A credit listing that rests on no withdrawal of that applicant."),
        "zh-CN": ("失信名单记录无效", "列入失信名单的依据不是对该申请人的撤销决定。"),
    },
    "credit_officer_invalid": {
        "en": (
            "credit officer invalid",
            "A credit listing or removal names no officer, or not as an officer's salted reference, or another "
            "officer than the withdrawal it rests on.",
        ),
        "zh-CN": (
            "失信名单经办人无效",
            "失信名单的列入或移出记录未载明经办人，或经办人不是加盐引用，或与其依据的撤销决定的经办人不同。",
        ),
    },
    "credit_block_stale": {
        "en": ("credit block stale", "The credit status was read at a block that is not the decision's."),
        "zh-CN": ("信用状态区块过旧", "信用状态并非按决定所在区块读取。"),
    },
    "issued_not_anchored": {
        "en": ("issued, not anchored", "A decision says it issued a certificate the chain has no anchor of."),
        "zh-CN": ("签发未存证", "决定声称签发的证照在区块链上没有存证。"),
    },
    "issued_by_non_approval": {
        "en": ("issued without approval", "A decision that is not an approval says it issued a certificate."),
        "zh-CN": ("未批准即签发", "非批准的决定声称签发了证照。"),
    },
    "produced_not_revoked": {
        "en": ("product not revoked", "An approval was withdrawn but the certificate it issued is not revoked."),
        "zh-CN": ("证照未撤销", "批准已被撤销，但据此签发的证照仍未撤销。"),
    },
    "produced_twice": {
        "en": ("product issued twice", "A case has more than one live certificate issued by its approvals."),
        "zh-CN": ("重复签发证照", "同一案件有不止一张有效的批准证照。"),
    },
    "permit_key_altered": {
        "en": (
            "permit key altered",
            "A permit's key row (by which an approval finds the holder's live permit for the same premises) was deleted "
            "or edited, or two live permits are for the same holder and premises.",
        ),
        "zh-CN": (
            "许可证索引键被篡改",
            "许可证的索引键记录（审批据以查找同一持证人同一场所的有效许可证）被删除或修改，或同一持证人同一场所有两张有效许可证。",
        ),
    },
    "permit_basis_altered": {
        "en": (
            "permit basis altered",
            "A permit's basis row (what the sweep makes it follow) names another certificate than the one its approval "
            "rests on, or a suspension the sweep never made.",
        ),
        "zh-CN": (
            "许可证依据记录被篡改",
            "许可证的依据记录（巡检据以使其跟随的证照）所指并非其批准所依据的证照，或记载了巡检从未作出的暂停。",
        ),
    },
    "produced_link_missing": {
        "en": ("product link missing", "The index row of a produced certificate was deleted."),
        "zh-CN": ("签发关联缺失", "所签发证照的索引记录被删除。"),
    },
    "produced_link_altered": {
        "en": ("product link altered", "The index row of a produced certificate was edited."),
        "zh-CN": ("签发关联被篡改", "所签发证照的索引记录被修改。"),
    },
    "produced_decision_missing": {
        "en": (
            "producing decision missing",
            "A certificate of a type a rule set produces names no decision that issued it.",
        ),
        "zh-CN": ("缺少签发决定", "规则集所签发类型的证照找不到签发它的决定。"),
    },
    "produced_by_other_department": {
        "en": (
            "produced by another department",
            "A certificate claims to be produced by another department's decision.",
        ),
        "zh-CN": ("他部门决定签发", "证照声称由另一部门的决定签发。"),
    },
    "produced_decision_refused": {
        "en": ("producing decision refused", "A certificate claims a decision that refused."),
        "zh-CN": ("签发决定为不予批准", "证照声称的签发决定是不予批准的决定。"),
    },
}


def replay_check(language: str, check: str) -> tuple[str, str]:
    """A replay check's name and what a discrepancy of it means, in ``language`` (the code itself if unknown)."""
    entry = REPLAY_CHECKS.get(check)
    if entry is None:
        return check, ""
    return entry.get(language) or entry["en"]


# The verification page's checks (ledger/services/verify.py): a name, and what passing or failing it means. The page
# shows the library's own detail sentence in English and these words in another language; api/static/verify.js carries
# a copy (CHECK_TEXTS, kept equal by tests/test_browser_i18n.py).
VERIFY_CHECKS: dict[str, dict[str, dict[str, str]]] = {
    "format": {
        "en": {
            "name": "format",
            "ok": "The document has the certificate format.",
            "failed": "The document is not a well-formed certificate.",
        },
        "zh-CN": {"name": "格式", "ok": "文件符合证照格式。", "failed": "文件不是格式正确的证照。"},
    },
    "chain": {
        "en": {
            "name": "chain",
            "ok": "The certificate names the chain and contracts this verifier reads.",
            "failed": "The certificate names another chain or other contracts.",
        },
        "zh-CN": {
            "name": "区块链",
            "ok": "证照所指的区块链和合约与本核验方读取的一致。",
            "failed": "证照所指的是另一条区块链或另一组合约。",
        },
    },
    "chain_identity": {
        "en": {
            "name": "chain identity",
            "ok": "The node serves the chain the ledger was deployed on.",
            "failed": "The node serves another chain than the one the ledger was deployed on.",
        },
        "zh-CN": {
            "name": "链身份",
            "ok": "节点提供的正是账本部署所在的区块链。",
            "failed": "节点提供的不是账本部署所在的区块链。",
        },
    },
    "integrity": {
        "en": {
            "name": "integrity",
            "ok": "The fields hash to the certificate's digest.",
            "failed": "The fields do not hash to the stated digest: the document was changed.",
        },
        "zh-CN": {
            "name": "完整性",
            "ok": "各字段的哈希与证照摘要值一致。",
            "failed": "各字段的哈希与声明的摘要值不符：文件被修改过。",
        },
    },
    "disclosure": {
        "en": {
            "name": "disclosure",
            "ok": "Every disclosed field matches its committed hash.",
            "failed": "A disclosed or hidden field does not match its committed hash.",
        },
        "zh-CN": {
            "name": "选择性披露",
            "ok": "所有披露的字段均与其承诺哈希一致。",
            "failed": "有披露或隐藏的字段与其承诺哈希不符。",
        },
    },
    "merkle_proof": {
        "en": {
            "name": "Merkle proof",
            "ok": "The digest is in the anchored batch.",
            "failed": "The digest is not in the stated batch.",
        },
        "zh-CN": {
            "name": "默克尔证明",
            "ok": "摘要值包含在已上链存证的批次中。",
            "failed": "摘要值不在所声明的批次中。",
        },
    },
    "anchored": {
        "en": {
            "name": "anchored",
            "ok": "The issuer anchored the batch on the chain.",
            "failed": "The issuer never anchored this batch, or anchored it too late.",
        },
        "zh-CN": {
            "name": "上链存证",
            "ok": "签发单位已将该批次上链存证。",
            "failed": "签发单位从未将该批次上链存证，或存证时间过晚。",
        },
    },
    "confirmations": {
        "en": {
            "name": "confirmations",
            "ok": "Enough blocks were built on top of the anchor.",
            "failed": "Not enough blocks on top of the anchor yet.",
        },
        "zh-CN": {"name": "确认数", "ok": "存证之后已有足够的区块确认。", "failed": "存证之后的区块确认数尚不足。"},
    },
    "issuer": {
        "en": {
            "name": "issuer",
            "ok": "The certificate and its anchor name the same issuer.",
            "failed": "The certificate and its anchor name different issuers.",
        },
        "zh-CN": {
            "name": "签发单位",
            "ok": "证照与其存证记录的签发单位一致。",
            "failed": "证照与其存证记录的签发单位不一致。",
        },
    },
    "department_key": {
        "en": {
            "name": "department key",
            "ok": "The anchoring key was the department's active issuer key at that block.",
            "failed": "The anchoring key was not the department's active issuer key at that block.",
        },
        "zh-CN": {
            "name": "部门密钥",
            "ok": "存证密钥在该区块是该部门的有效签发密钥。",
            "failed": "存证密钥在该区块不是该部门的有效签发密钥。",
        },
    },
    "type_authority": {
        "en": {
            "name": "type authority",
            "ok": "The council had authorized the department to issue this type of certificate at the anchoring block.",
            "failed": "The department was not authorized by the council to issue this type of certificate when it "
            "anchored it, or anchored it in a batch of another type.",
        },
        "zh-CN": {
            "name": "证照类型授权",
            "ok": "存证区块时，该部门已获理事会授权签发此类证照。",
            "failed": "存证时，该部门未获理事会授权签发此类证照，或将其存证于另一类型的批次中。",
        },
    },
    "signature": {
        "en": {
            "name": "signature",
            "ok": "The batch root carries the department's valid signature.",
            "failed": "The batch signature is not the department's.",
        },
        "zh-CN": {"name": "签名", "ok": "批次根带有该部门的有效签名。", "failed": "批次签名不是该部门的签名。"},
    },
    "status": {
        "en": {
            "name": "status",
            "ok": "The certificate is in force: not revoked, suspended or superseded.",
            "failed": "The certificate is not in force: revoked, suspended or superseded.",
        },
        "zh-CN": {
            "name": "状态",
            "ok": "证照有效：未被撤销、暂停或替代。",
            "failed": "证照已失效：已被撤销、暂停或替代。",
        },
    },
    "validity": {
        "en": {
            "name": "validity",
            "ok": "The certificate is within its validity period.",
            "failed": "The certificate is outside its validity period.",
        },
        "zh-CN": {"name": "有效期", "ok": "证照在有效期内。", "failed": "证照不在有效期内。"},
    },
    "witnessed": {
        "en": {
            "name": "witnessed",
            "ok": "Independent witnesses cosigned this part of the chain's history, or none are configured.",
            "failed": "The witnesses did not cosign this part of the chain's history.",
        },
        "zh-CN": {
            "name": "见证",
            "ok": "独立见证方已为这段链上历史联署，或本核验方未配置见证方。",
            "failed": "见证方未为这段链上历史联署。",
        },
    },
    "": {
        "en": {"name": "", "skipped": "Not checked: an earlier check failed."},
        "zh-CN": {"name": "", "skipped": "未检查：前面的检查未通过。"},
    },
}


def verify_check(language: str, name: str, state: str) -> tuple[str, str]:
    """A verification check's name and what ``state`` ("ok", "failed", "skipped") means, in ``language``."""
    entry = VERIFY_CHECKS.get(name, {})
    words = entry.get(language) or entry.get("en") or {}
    if state == "skipped":
        general = VERIFY_CHECKS[""]
        return words.get("name", name), (general.get(language) or general["en"])["skipped"]
    return words.get("name", name), words.get(state, "")


def source_word(language: str, source: str) -> str:
    """Where a timeline event comes from, in ``language`` (the code itself if unknown)."""
    entry = MESSAGES.get(f"source.{source}")
    return (entry.get(language) or entry["en"]) if entry else source


def says(*parts: tuple[str, dict[str, object]]) -> dict[str, str]:
    """A sentence in every language, made of message parts ``(key, values)``; a value given as
    ``{language: text}`` is put in the reader's language."""
    return {
        language: "".join(
            text(
                language,
                key,
                **{k: v.get(language, v.get("en")) if isinstance(v, dict) else v for k, v in values.items()},
            )
            for key, values in parts
        )
        for language in LANGUAGES
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
