"""The published vocabulary of status reasons (docs/format.md §8).

Only these codes go on chain, as one byte: a status reason can never carry a name, an ID number or any other
personal text. A free-text note stays off chain, sealed in the issuer's database (``ledger.services.status``).
"""

from __future__ import annotations

REASONS: dict[str, int] = {
    "data-error": 1,  # issued with wrong data
    "fraud": 2,  # obtained by fraud or forged supporting documents
    "holder-request": 3,  # the holder asked for it
    "data-changed": 4,  # the facts changed (address, scope); usually followed by a successor
    "holder-deceased": 5,
    "entity-dissolved": 6,  # the business or organisation ceased to exist
    "non-compliance": 7,  # an inspection found the conditions not met
    "court-order": 8,
    "under-investigation": 9,  # typical for a suspension
    "grounds-resolved": 10,  # typical for a reinstatement
    "appeal-upheld": 11,
    "other": 12,  # see the sealed note
}
REASON_NAMES = {code: name for name, code in REASONS.items()}


def reason_name(detail: bytes | int) -> str:
    """The vocabulary name of an on-chain reason detail (a 32-byte word or the code itself)."""
    code = int.from_bytes(detail, "big") if isinstance(detail, bytes) else detail
    return REASON_NAMES.get(code, f"unknown-{code}")


# Display texts of the status reason codes, kept with the vocabulary: pages and reports show these, the chain
# and the files keep the code. Every code has both languages (tests/test_i18n.py checks it).
REASON_TEXTS: dict[str, dict[str, str]] = {
    "data-error": {"en": "Issued with wrong data", "zh-CN": "证照信息有误"},
    "fraud": {"en": "Obtained by fraud or forged documents", "zh-CN": "以欺骗或伪造材料取得"},
    "holder-request": {"en": "At the holder's request", "zh-CN": "持证人申请"},
    "data-changed": {"en": "The facts changed", "zh-CN": "登记事项发生变更"},
    "holder-deceased": {"en": "The holder has died", "zh-CN": "持证人死亡"},
    "entity-dissolved": {"en": "The organisation was dissolved", "zh-CN": "主体已注销"},
    "non-compliance": {"en": "An inspection found the conditions not met", "zh-CN": "检查发现不符合许可条件"},
    "court-order": {"en": "Court order", "zh-CN": "法院裁定"},
    "under-investigation": {"en": "Under investigation", "zh-CN": "正在调查"},
    "grounds-resolved": {"en": "The grounds were resolved", "zh-CN": "相关情形已消除"},
    "appeal-upheld": {"en": "Appeal upheld", "zh-CN": "复议或申诉成立"},
    "other": {"en": "Other (see the sealed note)", "zh-CN": "其他（见封存备注）"},
}


def reason_text(name: str, language: str) -> str:
    """The display text of status reason ``name`` in ``language`` ("en" or "zh-CN"); the code itself if unknown."""
    texts = REASON_TEXTS.get(name)
    return texts.get(language) or texts["en"] if texts else name
