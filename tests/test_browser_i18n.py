"""The report and the verification page in real headless Chromium (Debian's ``chromium``, driven by Playwright as
in tests/test_browser.py), in Chinese and English, with screenshots in the test's tmp dir. Assertions are on the
rendered text, never on pixels.

Adversary: a department that registered a name with a <script> in it; the page shows it as text and no script
runs (a dialog would fail the test).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.formats.reasons import REASON_TEXTS
from ledger.services import report
from ledger.services.status import revoke

from .api_support import issue, sign_in
from .browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    needs_chromium,
    server_fixture,  # noqa: F401 - fixtures
)
from .report_support import (
    HOSTILE_NAME,
    hostile_department_fixture,  # noqa: F401 - fixtures
    today,
)
from .supervision_support import published_fixture  # noqa: F401 - fixtures

VERIFY_JS = Path(__file__).resolve().parent.parent / "api" / "static" / "verify.js"

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


class Watched:
    """A page whose script dialogs and Content-Security-Policy violations are recorded."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.violations: list[str] = []
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on(
            "console",
            lambda m: (
                self.violations.append(m.text)
                if "Content Security Policy" in m.text or "Refused to" in m.text
                else None
            ),
        )
        page.set_default_timeout(60_000)


def _context(browser: Any, locale: str, **options: Any) -> Any:
    return browser.new_context(locale=locale, viewport={"width": 1000, "height": 1400}, **options)


# How the Chinese of an element renders: with no CJK font Chromium draws every Chinese character as the same "tofu"
# box (the .notdef glyph); a CJK font gives each its own shape. Each distinct character is drawn on a canvas in the
# element's font family and the shapes are compared with one another, never with a stored image.
_CJK_SHAPES = """(selector) => {
  const family = getComputedStyle(document.querySelector(selector)).fontFamily;
  const canvas = document.createElement('canvas');
  canvas.width = 64; canvas.height = 64;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const shape = (ch) => {
    ctx.clearRect(0, 0, 64, 64); ctx.font = '48px ' + family; ctx.fillText(ch, 4, 52);
    return ctx.getImageData(0, 0, 64, 64).data.filter((_, i) => i % 4 === 3).join(',');
  };
  const chars = [...new Set(document.querySelector(selector).textContent)].filter((c) => /[\u4e00-\u9fff]/.test(c));
  return {family, chars: chars.length, shapes: new Set(chars.map(shape)).size};
}"""


def assert_cjk_font(page: Any, selector: str = "h1") -> None:
    """The Chinese of ``selector`` is drawn with a CJK font, not tofu boxes (scripts/setup.sh --system installs
    Debian's fonts-wqy-zenhei): its distinct characters render to distinct shapes."""
    found = page.evaluate(_CJK_SHAPES, selector)
    assert found["chars"] >= 2 and found["shapes"] == found["chars"], (
        f"the Chinese of {selector} renders as identical boxes: no CJK font (scripts/setup.sh --system installs "
        f"fonts-wqy-zenhei): {found}"
    )


def test_the_report_renders_with_its_charts_in_both_languages(
    ledger: Any, server: str, browser: Any, hostile_department: str, tmp_path: Path
) -> None:
    with httpx.Client(base_url=server, timeout=60) as client:
        auditor = sign_in(client, ledger, "AUD")
    context = _context(browser, "zh-CN", extra_http_headers=auditor)
    watched = Watched(context.new_page())
    page = watched.page
    page.goto(f"{server}/audit/report?department={hostile_department}&from={today()}&to={today()}")
    assert page.inner_text("h1") == "审批决定报告"
    assert_cjk_font(page)
    assert page.inner_text("#department-name") == HOSTILE_NAME  # shown as text, never run
    assert page.locator("svg.chart").count() >= 4 and page.locator("svg.chart rect").count() >= 5
    assert page.inner_text("[data-total=decisions]") == "62"
    body = page.inner_text("body")  # supervision sections read from the ledger: none for this department, so zeros
    assert "复算" in page.inner_text("#replay-verdict") and "告知承诺" in body and "双随机抽查" in body
    # the gateway's style sheet applied (the Content-Security-Policy admits no inline style)
    assert page.evaluate("getComputedStyle(document.querySelector('main')).maxWidth") == "860px"
    page.screenshot(path=str(tmp_path / "report-zh-CN.png"), full_page=True)
    page.click("nav.lang a[data-lang=en]")
    page.wait_for_selector("html[lang=en]")
    assert page.inner_text("h1") == "Decision report"
    assert "Outcomes over time" in page.inner_text("body") and "Replay" in page.inner_text("#replay")
    page.screenshot(path=str(tmp_path / "report-en.png"), full_page=True)
    assert (tmp_path / "report-en.png").stat().st_size > 10_000
    # remembered: the next visit, with a Chinese browser, stays in English
    page.goto(f"{server}/audit/report?department={hostile_department}&from={today()}&to={today()}")
    assert page.inner_text("h1") == "Decision report"
    assert not watched.dialogs and not watched.violations, (watched.dialogs, watched.violations)
    context.close()


def test_the_report_file_is_self_contained(ledger: Any, browser: Any, hostile_department: str, tmp_path: Path) -> None:
    data = report.build_report(ledger, hostile_department, today(), today())
    paths = report.write_report(data, tmp_path / "out", "zh-CN")
    context = _context(browser, "en")
    watched = Watched(context.new_page())
    page = watched.page
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(paths[-1].as_uri())
    assert page.inner_text("h1") == "审批决定报告" and page.locator("svg.chart").count() >= 4
    assert page.evaluate("getComputedStyle(document.querySelector('main')).maxWidth") == "860px"
    page.screenshot(path=str(tmp_path / "file-zh-CN.png"), full_page=True)
    page.click("nav.lang a[data-lang=en]")
    page.wait_for_selector("html[lang=en]")
    assert page.inner_text("h1") == "Decision report"
    assert requests and all(url.startswith("file://") for url in requests), requests
    assert not watched.dialogs
    context.close()


def test_the_verification_page_switches_language(ledger: Any, server: str, browser: Any, tmp_path: Path) -> None:
    digest = issue(ledger, "MKT", 1)[0]["digest"]
    revoke(ledger, digest, "fraud")
    context = _context(browser, "zh-CN")
    watched = Watched(context.new_page())
    page = watched.page
    page.goto(server + "/")
    assert page.inner_text("h1") == "核验证照" and page.title().startswith("核验证照")
    assert_cjk_font(page)
    page.fill("#digest", digest)
    page.click("#digest-form button")
    page.wait_for_selector("body[data-state=done]")
    assert page.inner_text("#verdict") == "核验未通过"
    assert "状态：已撤销" in page.inner_text("#summary")
    assert page.inner_text("#checks li[data-check=status] strong") == "状态"
    timeline = page.inner_text("#timeline")
    assert "签发" in timeline and "撤销" in timeline and "以欺骗或伪造材料取得" in timeline
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d:\d\d UTC", timeline)
    page.screenshot(path=str(tmp_path / "verify-zh-CN.png"), full_page=True)

    page.click("#language button[data-lang=en]")
    assert page.inner_text("h1") == "Verify a certificate"
    assert page.inner_text("#verdict") == "Not verified"  # the result shown is redrawn in the new language
    assert "status revoked" in page.inner_text("#summary")
    assert "Obtained by fraud or forged documents" in page.inner_text("#timeline")
    page.screenshot(path=str(tmp_path / "verify-en.png"), full_page=True)
    page.reload()
    assert page.inner_text("h1") == "Verify a certificate"  # remembered, though the browser asks for Chinese
    assert page.get_attribute("#language button[data-lang=en]", "aria-pressed") == "true"
    # the gateway's own pages follow the same choice (the pl_lang cookie)
    page.goto(f"{server}/public/certificates/{digest}/timeline.html")
    assert page.inner_text("h1") == "Provenance timeline"
    page.goto(server + "/")
    page.click("#language button[data-lang=zh-CN]")
    page.goto(f"{server}/public/certificates/{digest}/timeline.html")
    assert page.inner_text("h1") == "证照溯源时间线" and "已撤销" in page.inner_text("main")
    assert not watched.dialogs and not watched.violations, watched.violations
    context.close()


def test_the_pages_check_texts_are_the_librarys() -> None:
    """verify.js carries a copy of the verification checks' names and explanations: it must be ledger/formats/i18n.py's,
    and every check the library runs has them in both languages."""
    from ledger.formats.i18n import LANGUAGES, MESSAGES, VERIFY_CHECKS
    from ledger.services.verify import CHECK_NAMES

    found = re.search(
        r"/\* check-texts \*/ const CHECK_TEXTS = (\{.*?\}); /\* end check-texts \*/",
        VERIFY_JS.read_text(encoding="utf-8"),
    )
    assert found and json.loads(found.group(1)) == VERIFY_CHECKS
    sources = re.search(
        r"/\* source-texts \*/ const SOURCE_TEXTS = (\{.*?\}); /\* end source-texts \*/",
        VERIFY_JS.read_text(encoding="utf-8"),
    )
    assert sources and json.loads(sources.group(1)) == {
        key[len("source.") :]: words for key, words in MESSAGES.items() if key.startswith("source.")
    }
    for name in CHECK_NAMES:
        for language in LANGUAGES:
            assert {"name", "ok", "failed"} <= set(VERIFY_CHECKS[name][language]), (name, language)


def test_the_pages_reason_texts_are_the_vocabularys() -> None:
    """verify.js carries a copy of the status reasons' display texts: it must be the vocabulary's."""
    found = re.search(
        r"/\* reason-texts \*/ const REASON_TEXTS = (\{.*?\}); /\* end reason-texts \*/",
        VERIFY_JS.read_text(encoding="utf-8"),
    )
    assert found and json.loads(found.group(1)) == REASON_TEXTS


# -- no English sentence left on a Chinese page -----------------------------------------------------------------

# Three or more English words in a row (each with a lower-case letter): a sentence, or a phrase of one, that was
# never translated. Codes (UPPER_CASE, snake_case, hyphen-ated ids), digests, numbers and one or two Latin words
# (a proper name, "UTC", "JSON") are not.
_ENGLISH = re.compile(r"\b[A-Za-z]*[a-z][A-Za-z]*(?:[ ,;:]+[A-Za-z]*[a-z][A-Za-z]*){2,}\b")


def english_sentences(text: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """The English phrases in ``text`` that are not in ``allowed`` (proper names: a department's registered name,
    a rule set's title)."""
    for name in allowed:
        text = text.replace(name, " ")
    found = []
    for m in _ENGLISH.finditer(text):
        start, end = m.span()
        if (start and text[start - 1] in "_-.") or (end < len(text) and text[end] in "_-"):
            continue  # inside a code or an id
        found.append(m.group(0))
    return found


def test_english_sentences_are_found() -> None:
    assert english_sentences("核验 the batch root was signed 通过") == ["the batch root was signed"]
    assert english_sentences("TYPICAL_FEATURES_MATCH draw_mismatch 0xabcdef ss-eligibility-1 UTC JSON 第 3 项") == []
    assert english_sentences("Market Regulation Bureau 签发", ("Market Regulation Bureau",)) == []


def _supervised_department(ledger: Any, dept: str, rules: Any) -> None:
    """The loop of issue 17 on ``dept``: commitments, an inspection announced and drawn, a non-conforming finding,
    a withdrawal and a credit listing; then what replay flags: an announcement that skips a stretch (written past
    the library) and a decision an insider edited."""
    from sqlalchemy import text as sql

    from ledger.services import decisions, logchain, supervision
    from ledger.services.logchain import LOG_DECISIONS

    from .supervision_support import announced, decide, mine

    a = announced(ledger, dept, rules, n=6, rate="0.5")
    decide(ledger, dept, rules, "COMMIT-1", "applicant-c1", commit=1)
    decide(ledger, dept, rules, "COMMIT-2", "applicant-c2", commit=1)
    supervision.record_commitment_check(
        ledger, dept, "COMMIT-1", met=False, officer="o-1", findings=["MATERIALS_NOT_SUBMITTED"]
    )
    mine(ledger, a["target_block"] - ledger.chain.block_number())
    draw = supervision.draw_inspection(ledger, dept, a["seq"])
    first, second = draw["sample"][0], draw["sample"][1]
    inspector_of = {decisions.officer_ref(ledger, dept, f"insp-{i}"): f"insp-{i}" for i in (1, 2, 3)}
    bad = supervision.record_finding(
        ledger,
        dept,
        draw["seq"],
        first["case_id"],
        inspector=inspector_of[first["inspector_ref"]],
        conforming=False,
        findings=["PREMISES_NOT_AS_DECLARED"],
    )
    supervision.record_finding(
        ledger, dept, draw["seq"], second["case_id"], inspector=inspector_of[second["inspector_ref"]], conforming=True
    )
    supervision.withdraw_approval(
        ledger,
        dept,
        bad,
        officer="officer-9",
        reasons=["APPROVAL_OBTAINED_IMPROPERLY"],
        legal_basis="ADMIN-LICENSING-LAW-ART-69",
    )
    cut = supervision.next_period_start(ledger, dept)
    body = {k: v for k, v in a.items() if k in ("format", "kind", "rate", "inspectors", "announced_at")}
    logchain.append(
        ledger,
        LOG_DECISIONS,
        dept,
        {
            **body,
            "target_block": ledger.chain.block_number() + 5,
            "period": {
                "since": supervision._time_text(cut + timedelta(minutes=5)),
                "until": supervision._time_text(cut + timedelta(hours=2)),
            },
        },
    )
    logchain.anchor_pending(ledger, LOG_DECISIONS, dept)
    with ledger.engine.begin() as conn:
        seq, raw = conn.execute(
            sql(
                "SELECT seq, body FROM logentry WHERE log=:l AND department_id=:d AND "
                'body LIKE \'%"case_id":"A-002"%\' ORDER BY seq LIMIT 1'
            ),
            {"l": LOG_DECISIONS, "d": dept},
        ).one()
        edited = json.loads(raw)
        edited["outcome"] = "reject"
        conn.execute(
            sql("UPDATE logentry SET body=:b WHERE log=:l AND department_id=:d AND seq=:s"),
            {"b": logchain.canonical_body(edited).decode(), "l": LOG_DECISIONS, "d": dept, "s": seq},
        )


def test_the_chinese_pages_hold_no_untranslated_english_sentence(
    ledger: Any, server: str, browser: Any, published: Any, tmp_path: Path
) -> None:
    """Everything the library writes for people (report findings, replay discrepancies, status words, check names
    and explanations, timeline events) reads in Chinese on the zh pages: the report of a department whose
    supervision loop ran and whose log replay flags, the verification page of a revoked certificate, and its
    timeline page."""
    from ledger.services.departments import get_department

    dept, rules = published
    _supervised_department(ledger, dept, rules)
    data = report.build_report(ledger, dept, today(), today())
    flagged = set(data["replay"]["discrepancy_counts"])
    assert {"announcement_gap", "altered"} <= flagged and data["inspections"]["recorded"], flagged
    names = (get_department(ledger.chain, dept).name, str(rules.title))
    context = _context(browser, "zh-CN")
    page = context.new_page()
    page.goto(report.write_report(data, tmp_path / "report", "zh-CN")[-1].as_uri())
    assert page.inner_text("h1") == "审批决定报告"
    page.screenshot(path=str(tmp_path / "report-zh-CN.png"), full_page=True)
    left = english_sentences(page.inner_text("body"), names)
    assert not left, left

    digest = issue(ledger, "MKT", 1)[0]["digest"]
    revoke(ledger, digest, "fraud")
    page.goto(server + "/")
    page.fill("#digest", digest)
    page.click("#digest-form button")
    page.wait_for_selector("body[data-state=done]")
    assert page.inner_text("#verdict") == "核验未通过"
    page.screenshot(path=str(tmp_path / "verify-zh-CN.png"), full_page=True)
    market = get_department(ledger.chain, "MKT").name
    left = english_sentences(page.inner_text("body"), (market,))
    assert not left, left
    page.goto(f"{server}/public/certificates/{digest}/timeline.html")
    assert page.inner_text("h1") == "证照溯源时间线"
    left = english_sentences(page.inner_text("body"), (market,))
    assert not left, left
    context.close()
