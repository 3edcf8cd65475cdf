// The verification page: read a certificate file (or a digest), ask the public endpoints, show every check and
// the timeline. No framework, no external resources.
"use strict";

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
                    + (retry ? " (retry in " + retry + " s)" : ""));
  }
  return body;
}

function render(report) {
  $("error").hidden = true;
  const verdict = $("verdict");
  verdict.textContent = report.verified ? "Verified" : "Not verified";
  verdict.className = report.verified ? "ok" : "bad";
  verdict.dataset.verified = String(report.verified);
  $("summary").textContent = [
    report.digest ? "Digest " + report.digest : "No digest could be computed",
    report.issuer ? "issued by " + report.issuer : null,
    report.status ? "status " + report.status : null,
    report.as_of_block != null ? "as of block " + report.as_of_block : null,
  ].filter(Boolean).join(" · ");
  const list = $("checks");
  list.replaceChildren();
  for (const check of report.checks) {
    const li = document.createElement("li");
    li.dataset.check = check.name;
    li.className = check.ok ? "ok" : (check.skipped ? "skipped" : "bad");
    li.append(text("span", check.ok ? "✔" : (check.skipped ? "–" : "✘"), "mark"),
              text("strong", check.name), text("span", check.detail, "detail"));
    list.append(li);
  }
  $("result").hidden = false;
}

async function showTimeline(digest) {
  const list = $("timeline");
  list.replaceChildren();
  $("timeline-link").replaceChildren();
  if (!digest) return;
  try {
    const data = await call("/public/certificates/" + digest + "/timeline");
    for (const event of data.events) {
      const li = document.createElement("li");
      li.className = "event " + event.kind;
      li.append(text("time", event.at || "—"), text("strong", event.kind.replace(/_/g, " ")),
                text("span", " " + event.summary), text("small", "source: " + event.source));
      list.append(li);
    }
    const link = document.createElement("a");
    link.href = "/public/certificates/" + digest + "/timeline.html";
    link.textContent = "Open the timeline page";
    $("timeline-link").append(link);
  } catch (err) {
    list.append(text("li", "No timeline: " + err.message, "meta"));
  }
}

async function verify(payload) {
  try {
    const report = await call("/public/verify", {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(payload),
    });
    render(report);
    await showTimeline(report.digest);
    document.body.dataset.state = "done";
  } catch (err) {
    showError(err.message);
    document.body.dataset.state = "error";
  }
}

async function verifyFile(file) {
  if (!file) return;
  document.body.dataset.state = "busy";
  let document_;
  try {
    document_ = JSON.parse(await file.text());
  } catch (err) {
    showError("This file is not a certificate (not JSON): " + err.message);
    document.body.dataset.state = "error";
    return;
  }
  await verify({document: document_});
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
    showError("A digest is 0x followed by 64 hexadecimal digits.");
    return;
  }
  document.body.dataset.state = "busy";
  verify({digest});
});
