// The verification page: read a certificate file (or a digest), ask the public endpoints, show every check and
// the timeline. No framework, no external resources.
//
// In English or Chinese (zh-CN): the reader's choice (the language buttons; kept in localStorage and in the
// pl_lang cookie, which the gateway's own pages read too), else the browser's languages, else English. Dates,
// numbers, verdicts, check names and explanations, status words, event kinds and status reasons are localised
// here; event summaries come from the gateway in both languages (``summaries``).
"use strict";

const LANGUAGES = ["en", "zh-CN"];
const COOKIE = "pl_lang";
const WORDS = {
  "en": {
    "page_title": "Verify a certificate — Provenance Ledger", "title": "Verify a certificate",
    "intro": "Drop the certificate file you were given, or paste its digest. The check runs against the ledger's chain; no personal field is sent back or shown.",
    "drop": "Drop a certificate file here, or click to choose one", "paste": "…or paste a digest",
    "verify": "Verify", "checks": "Checks", "timeline": "Timeline", "language": "Language",
    "verified": "Verified", "not_verified": "Not verified", "digest": "Digest {0}",
    "no_digest": "No digest could be computed", "issued_by": "issued by {0}", "status": "status {0}",
    "as_of_block": "as of block {0}", "source": "source: {0}", "reason": "reason: {0}",
    "erased": "contents erased by the issuer (digest, anchor and status remain)",
    "open_timeline": "Open the timeline page", "no_timeline": "No timeline: {0}",
    "bad_digest": "A digest is 0x followed by 64 hexadecimal digits.",
    "not_json": "This file is not a certificate (not JSON): {0}", "retry": " (retry in {0} s)",
  },
  "zh-CN": {
    "page_title": "核验证照 — 证照溯源账本", "title": "核验证照",
    "intro": "拖入您收到的证照文件，或粘贴其摘要值。核验依据账本的区块链进行；不会回传或显示任何个人信息。",
    "drop": "将证照文件拖到此处，或点击选择文件", "paste": "……或粘贴摘要值",
    "verify": "核验", "checks": "检查项", "timeline": "时间线", "language": "语言",
    "verified": "核验通过", "not_verified": "核验未通过", "digest": "摘要值 {0}",
    "no_digest": "无法计算摘要值", "issued_by": "签发单位 {0}", "status": "状态：{0}",
    "as_of_block": "截至区块 {0}", "source": "来源：{0}", "reason": "原因：{0}",
    "erased": "签发单位已删除证照内容（摘要值、锚定与状态仍在）",
    "open_timeline": "打开时间线页面", "no_timeline": "没有时间线：{0}",
    "bad_digest": "摘要值为 0x 加 64 位十六进制数字。",
    "not_json": "该文件不是证照（不是 JSON）：{0}", "retry": "（{0} 秒后重试）",
  },
};
const STATUS = {
  "en": {"valid": "valid", "revoked": "revoked", "suspended": "suspended", "superseded": "superseded",
         "unknown": "unknown", "expired": "expired"},
  "zh-CN": {"valid": "有效", "revoked": "已撤销", "suspended": "已暂停", "superseded": "已被替代", "unknown": "未知",
            "expired": "已过期"},
};
// The verification checks' names and what passing or failing each means: a copy of ledger/formats/i18n.py VERIFY_CHECKS
// (a test keeps them equal). In English the gateway's own detail sentence is shown; in Chinese these words.
/* check-texts */ const CHECK_TEXTS = {"format": {"en": {"name": "format", "ok": "The document has the certificate format.", "failed": "The document is not a well-formed certificate."}, "zh-CN": {"name": "格式", "ok": "文件符合证照格式。", "failed": "文件不是格式正确的证照。"}}, "chain": {"en": {"name": "chain", "ok": "The certificate names the chain and contracts this verifier reads.", "failed": "The certificate names another chain or other contracts."}, "zh-CN": {"name": "区块链", "ok": "证照所指的区块链和合约与本核验方读取的一致。", "failed": "证照所指的是另一条区块链或另一组合约。"}}, "chain_identity": {"en": {"name": "chain identity", "ok": "The node serves the chain the ledger was deployed on.", "failed": "The node serves another chain than the one the ledger was deployed on."}, "zh-CN": {"name": "链身份", "ok": "节点提供的正是账本部署所在的区块链。", "failed": "节点提供的不是账本部署所在的区块链。"}}, "integrity": {"en": {"name": "integrity", "ok": "The fields hash to the certificate's digest.", "failed": "The fields do not hash to the stated digest: the document was changed."}, "zh-CN": {"name": "完整性", "ok": "各字段的哈希与证照摘要值一致。", "failed": "各字段的哈希与声明的摘要值不符：文件被修改过。"}}, "disclosure": {"en": {"name": "disclosure", "ok": "Every disclosed field matches its committed hash.", "failed": "A disclosed or hidden field does not match its committed hash."}, "zh-CN": {"name": "选择性披露", "ok": "所有披露的字段均与其承诺哈希一致。", "failed": "有披露或隐藏的字段与其承诺哈希不符。"}}, "merkle_proof": {"en": {"name": "Merkle proof", "ok": "The digest is in the anchored batch.", "failed": "The digest is not in the stated batch."}, "zh-CN": {"name": "默克尔证明", "ok": "摘要值包含在已上链存证的批次中。", "failed": "摘要值不在所声明的批次中。"}}, "anchored": {"en": {"name": "anchored", "ok": "The issuer anchored the batch on the chain.", "failed": "The issuer never anchored this batch, or anchored it too late."}, "zh-CN": {"name": "上链存证", "ok": "签发单位已将该批次上链存证。", "failed": "签发单位从未将该批次上链存证，或存证时间过晚。"}}, "confirmations": {"en": {"name": "confirmations", "ok": "Enough blocks were built on top of the anchor.", "failed": "Not enough blocks on top of the anchor yet."}, "zh-CN": {"name": "确认数", "ok": "存证之后已有足够的区块确认。", "failed": "存证之后的区块确认数尚不足。"}}, "issuer": {"en": {"name": "issuer", "ok": "The certificate and its anchor name the same issuer.", "failed": "The certificate and its anchor name different issuers."}, "zh-CN": {"name": "签发单位", "ok": "证照与其存证记录的签发单位一致。", "failed": "证照与其存证记录的签发单位不一致。"}}, "department_key": {"en": {"name": "department key", "ok": "The anchoring key was the department's active issuer key at that block.", "failed": "The anchoring key was not the department's active issuer key at that block."}, "zh-CN": {"name": "部门密钥", "ok": "存证密钥在该区块是该部门的有效签发密钥。", "failed": "存证密钥在该区块不是该部门的有效签发密钥。"}}, "type_authority": {"en": {"name": "type authority", "ok": "The council had authorized the department to issue this type of certificate at the anchoring block.", "failed": "The department was not authorized by the council to issue this type of certificate when it anchored it, or anchored it in a batch of another type."}, "zh-CN": {"name": "证照类型授权", "ok": "存证区块时，该部门已获理事会授权签发此类证照。", "failed": "存证时，该部门未获理事会授权签发此类证照，或将其存证于另一类型的批次中。"}}, "signature": {"en": {"name": "signature", "ok": "The batch root carries the department's valid signature.", "failed": "The batch signature is not the department's."}, "zh-CN": {"name": "签名", "ok": "批次根带有该部门的有效签名。", "failed": "批次签名不是该部门的签名。"}}, "status": {"en": {"name": "status", "ok": "The certificate is in force: not revoked, suspended or superseded.", "failed": "The certificate is not in force: revoked, suspended or superseded."}, "zh-CN": {"name": "状态", "ok": "证照有效：未被撤销、暂停或替代。", "failed": "证照已失效：已被撤销、暂停或替代。"}}, "validity": {"en": {"name": "validity", "ok": "The certificate is within its validity period.", "failed": "The certificate is outside its validity period."}, "zh-CN": {"name": "有效期", "ok": "证照在有效期内。", "failed": "证照不在有效期内。"}}, "witnessed": {"en": {"name": "witnessed", "ok": "Independent witnesses cosigned this part of the chain's history, or none are configured.", "failed": "The witnesses did not cosign this part of the chain's history."}, "zh-CN": {"name": "见证", "ok": "独立见证方已为这段链上历史联署，或本核验方未配置见证方。", "failed": "见证方未为这段链上历史联署。"}}, "": {"en": {"name": "", "skipped": "Not checked: an earlier check failed."}, "zh-CN": {"name": "", "skipped": "未检查：前面的检查未通过。"}}}; /* end check-texts */
// Where a timeline event comes from: a copy of the source.* messages of ledger/formats/i18n.py (a test keeps them equal).
/* source-texts */ const SOURCE_TEXTS = {"access-log": {"en": "access log", "zh-CN": "查阅日志"}, "chain": {"en": "chain", "zh-CN": "区块链"}, "decision-log": {"en": "decision log", "zh-CN": "决定日志"}, "grants": {"en": "grants", "zh-CN": "共享授权"}, "store": {"en": "store", "zh-CN": "签发库"}}; /* end source-texts */
const EVENTS = {
  "zh-CN": {"issued": "签发", "anchored": "上链存证", "anchoring": "未上链", "signed": "签名", "suspended": "暂停",
            "reinstated": "恢复", "revoked": "撤销", "superseded": "被替代", "supersedes": "替代旧证",
            "decision": "审批决定", "granted": "共享授权", "grant_revoked": "撤回共享", "grant_expired": "共享到期",
            "access": "查阅", "access_refused": "拒绝查阅"},
};
// The status reason vocabulary's display texts: a copy of ledger/formats/reasons.py REASON_TEXTS (a test keeps them equal).
/* reason-texts */ const REASON_TEXTS = {"appeal-upheld": {"en": "Appeal upheld", "zh-CN": "复议或申诉成立"}, "court-order": {"en": "Court order", "zh-CN": "法院裁定"}, "data-changed": {"en": "The facts changed", "zh-CN": "登记事项发生变更"}, "data-error": {"en": "Issued with wrong data", "zh-CN": "证照信息有误"}, "entity-dissolved": {"en": "The organisation was dissolved", "zh-CN": "主体已注销"}, "fraud": {"en": "Obtained by fraud or forged documents", "zh-CN": "以欺骗或伪造材料取得"}, "grounds-resolved": {"en": "The grounds were resolved", "zh-CN": "相关情形已消除"}, "holder-deceased": {"en": "The holder has died", "zh-CN": "持证人死亡"}, "holder-request": {"en": "At the holder's request", "zh-CN": "持证人申请"}, "non-compliance": {"en": "An inspection found the conditions not met", "zh-CN": "检查发现不符合许可条件"}, "other": {"en": "Other (see the sealed note)", "zh-CN": "其他（见封存备注）"}, "under-investigation": {"en": "Under investigation", "zh-CN": "正在调查"}}; /* end reason-texts */
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

let language = "en";
let shown = null;  // the last report and timeline, re-rendered when the language changes

function supported(tag) {
  if (!tag) return null;
  const lower = String(tag).toLowerCase();
  if (lower === "zh" || lower.startsWith("zh-")) return "zh-CN";
  if (lower === "en" || lower.startsWith("en-")) return "en";
  return null;
}

function chosenLanguage() {
  let stored = null;
  try { stored = window.localStorage.getItem(COOKIE); } catch (err) { stored = null; }
  const cookie = document.cookie.split("; ").find((c) => c.startsWith(COOKIE + "="));
  const picked = supported(stored) || supported(cookie && decodeURIComponent(cookie.split("=")[1]));
  if (picked) return picked;
  for (const tag of navigator.languages || [navigator.language]) {
    const found = supported(tag);
    if (found) return found;
  }
  return "en";
}

function t(key, ...values) {
  const template = (WORDS[language] && WORDS[language][key]) || WORDS.en[key] || key;
  return template.replace(/\{(\d)\}/g, (_, i) => String(values[Number(i)]));
}

function statusWord(status) { return (STATUS[language] || STATUS.en)[status] || status; }
function checkWords(name) {
  const texts = CHECK_TEXTS[name] || {};
  return texts[language] || texts.en || {};
}
function checkName(name) { return language === "en" ? name : (checkWords(name).name || name); }
function checkDetail(check) {
  if (language === "en") return check.detail;
  if (check.skipped) return (CHECK_TEXTS[""][language] || CHECK_TEXTS[""].en).skipped;
  return checkWords(check.name)[check.ok ? "ok" : "failed"] || check.detail;
}
function eventName(kind) { return (EVENTS[language] || {})[kind] || kind.replace(/_/g, " "); }
function reasonText(code) {
  const texts = REASON_TEXTS[code];
  return texts ? (texts[language] || texts.en) : code;
}

function formatNumber(value) {
  return String(value).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

function formatDate(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n) => String(n).padStart(2, "0");
  const clock = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + " UTC";
  if (language === "zh-CN") return d.getUTCFullYear() + "年" + (d.getUTCMonth() + 1) + "月" + d.getUTCDate() + "日 " + clock;
  return d.getUTCDate() + " " + MONTHS[d.getUTCMonth()] + " " + d.getUTCFullYear() + ", " + clock;
}

function applyLanguage(next, remember) {
  language = LANGUAGES.includes(next) ? next : "en";
  if (remember) {
    try { window.localStorage.setItem(COOKIE, language); } catch (err) { /* private mode: the cookie remains */ }
    document.cookie = COOKIE + "=" + encodeURIComponent(language) + "; path=/; max-age=31536000; samesite=lax";
  }
  document.documentElement.lang = language;
  document.title = t("page_title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("language").setAttribute("aria-label", t("language"));
  for (const button of document.querySelectorAll("#language [data-lang]")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === language));
  }
  if (shown) {
    render(shown.report);
    drawTimeline(shown.digest, shown.events, shown.error);
  }
  document.body.dataset.lang = language;
}

const $ = (id) => document.getElementById(id);

function text(tag, value, cls) {
  const el = document.createElement(tag);
  el.textContent = value;
  if (cls) el.className = cls;
  return el;
}

function showError(message) {
  $("result").hidden = true;
  $("error").textContent = message;
  $("error").hidden = false;
}

async function call(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const retry = response.headers.get("Retry-After");
    throw new Error((body.title || response.statusText) + ": " + (body.detail || response.status)
                    + (retry ? t("retry", retry) : ""));
  }
  return body;
}

function render(report) {
  $("error").hidden = true;
  const verdict = $("verdict");
  verdict.textContent = report.verified ? t("verified") : t("not_verified");
  verdict.className = report.verified ? "ok" : "bad";
  verdict.dataset.verified = String(report.verified);
  $("summary").textContent = [
    report.digest ? t("digest", report.digest) : t("no_digest"),
    report.issuer ? t("issued_by", report.issuer) : null,
    report.status ? t("status", statusWord(report.status)) : null,
    report.as_of_block != null ? t("as_of_block", formatNumber(report.as_of_block)) : null,
    report.erased ? t("erased") : null,
  ].filter(Boolean).join(" · ");
  const list = $("checks");
  list.replaceChildren();
  for (const check of report.checks) {
    const li = document.createElement("li");
    li.dataset.check = check.name;
    li.className = check.ok ? "ok" : (check.skipped ? "skipped" : "bad");
    li.append(text("span", check.ok ? "✔" : (check.skipped ? "–" : "✘"), "mark"),
              text("strong", checkName(check.name)), text("span", checkDetail(check), "detail"));
    list.append(li);
  }
  $("result").hidden = false;
}

function drawTimeline(digest, events, error) {
  const list = $("timeline");
  list.replaceChildren();
  $("timeline-link").replaceChildren();
  if (error) {
    list.append(text("li", t("no_timeline", error), "meta"));
    return;
  }
  if (!digest) return;
  for (const event of events) {
    const li = document.createElement("li");
    li.className = "event " + event.kind;
    li.dataset.kind = event.kind;
    const time = text("time", formatDate(event.at));
    if (event.at) time.dateTime = event.at;
    const summary = (event.summaries && event.summaries[language]) || event.summary;
    li.append(time, text("strong", eventName(event.kind)), text("span", " " + summary));
    if (event.reason) li.append(text("span", " (" + t("reason", reasonText(event.reason)) + ")", "reason"));
    const source = SOURCE_TEXTS[event.source];
    li.append(text("small", t("source", source ? (source[language] || source.en) : event.source)));
    list.append(li);
  }
  const link = document.createElement("a");
  link.href = "/public/certificates/" + digest + "/timeline.html?lang=" + encodeURIComponent(language);
  link.textContent = t("open_timeline");
  $("timeline-link").append(link);
}

async function showTimeline(report) {
  const digest = report.digest;
  shown = {report, digest, events: [], error: null};
  if (!digest) {
    drawTimeline(null, [], null);
    return;
  }
  try {
    const data = await call("/public/certificates/" + digest + "/timeline");
    shown.events = data.events;
  } catch (err) {
    shown.error = err.message;
  }
  drawTimeline(digest, shown.events, shown.error);
}

// ``body``: the request's JSON text. A file's own text goes in it unchanged (verifyFile): what is verified is the
// file, never the browser's reading of it.
async function verify(body) {
  try {
    const report = await call("/public/verify", {
      method: "POST", headers: {"Content-Type": "application/json"}, body,
    });
    render(report);
    await showTimeline(report);
    document.body.dataset.state = "done";
  } catch (err) {
    showError(err.message);
    document.body.dataset.state = "error";
  }
}

// The file's text is sent as it is, inside {"document": ...}: JSON.parse keeps the last of two members of one name
// and reads 1e999 as Infinity (JSON.stringify writes null), so sending the browser's re-serialisation verified a
// document other than the file (red team round 81). JSON.parse here only tells a file that is no JSON value apart
// (a whole JSON value, so the text cannot close the wrapper early); the gateway reads the text itself, strictly.
async function verifyFile(file) {
  if (!file) return;
  document.body.dataset.state = "busy";
  let text;
  try {
    // not UTF-8 is refused, as the ledger refuses it (file.text() would put U+FFFD in place of the bytes); a byte
    // order mark is dropped, as the ledger reads it
    text = new TextDecoder("utf-8", {fatal: true}).decode(await file.arrayBuffer());
    JSON.parse(text);
  } catch (err) {
    showError(t("not_json", err.message));
    document.body.dataset.state = "error";
    return;
  }
  await verify('{"document":' + text + "}");
}

const zone = $("dropzone");
$("file").addEventListener("change", (e) => verifyFile(e.target.files[0]));
zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", (e) => {
  e.preventDefault();
  zone.classList.remove("over");
  verifyFile(e.dataTransfer.files[0]);
});
$("digest-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const digest = $("digest").value.trim();
  if (!/^0x[0-9a-fA-F]{64}$/.test(digest)) {
    showError(t("bad_digest"));
    return;
  }
  document.body.dataset.state = "busy";
  verify(JSON.stringify({digest}));
});
for (const button of document.querySelectorAll("#language [data-lang]")) {
  button.addEventListener("click", () => applyLanguage(button.dataset.lang, true));
}
applyLanguage(chosenLanguage(), false);
