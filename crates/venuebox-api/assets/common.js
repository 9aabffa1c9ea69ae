// Helpers every page of the box shares (the status page, the console, the setup wizard, the
// sign-in page). Plain scripts, loaded before the page's own; no external code, so the pages
// work with no internet, and the Content-Security-Policy allows no inline script.
"use strict";

const $ = (id) => document.getElementById(id);

function text(value) {
  return value === null || value === undefined || value === "" ? "—" : String(value);
}

function cell(row, value) {
  const td = document.createElement("td");
  td.textContent = typeof value === "object" && value !== null ? JSON.stringify(value) : text(value);
  row.appendChild(td);
  return td;
}

function button(label, onClick, className) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (className) b.className = className;
  b.addEventListener("click", onClick);
  return b;
}

// Calls the box's API. A JSON body is sent as JSON; a File/Blob as it is (with its type).
// An error answer throws with the box's own sentence.
async function send(method, path, body, contentType) {
  const headers = { Accept: "application/json" };
  let payload;
  if (body instanceof Blob) {
    payload = body;
    headers["Content-Type"] = contentType || body.type || "application/octet-stream";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, { method, credentials: "same-origin", headers, body: payload });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(answer.error || `${path}: ${response.status} ${response.statusText}`);
    error.status = response.status;
    error.code = answer.code;
    throw error;
  }
  return answer;
}

const getJson = (path) => send("GET", path);
const post = (path, body) => send("POST", path, body === undefined ? {} : body);

function bytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i += 1;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function duration(seconds) {
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d} d ${h} h` : h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min ${s % 60} s` : `${s} s`;
}

// "3 min ago" from an ISO time.
function age(iso) {
  if (!iso) return "—";
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  return Number.isFinite(seconds) ? `${duration(Math.max(0, seconds))} ago` : iso;
}

// A message next to a form: `ok` colours it.
function say(id, message, ok) {
  const target = $(id);
  target.textContent = message;
  target.className = ok === undefined ? "muted" : ok ? "ok" : "bad";
}

// The box's addresses as QR codes a phone can scan (`urls` from /api/admin/status).
function drawUrls(box, urls) {
  box.replaceChildren();
  for (const u of urls) {
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    img.src = u.qr;
    img.alt = `QR code of ${u.url}`;
    const caption = document.createElement("figcaption");
    caption.textContent = u.url;
    figure.append(img, caption);
    box.appendChild(figure);
  }
}

// How strong a passphrase looks: length counts most; several words help.
function strength(passphrase, minimum) {
  const n = [...passphrase].length;
  if (n === 0) return "";
  if (n < minimum) return `too short: at least ${minimum} characters`;
  const words = passphrase.trim().split(/\s+/).length;
  if (n >= 24 || (n >= 16 && words >= 3)) return "strong";
  if (n >= 16 || words >= 3) return "fair; a few more words make it strong";
  return "weak; four unrelated words are easy to say and hard to guess";
}

// A pre-show download's progress (`download` of /api/sync/status) on a <progress> bar and a
// line of text: the same figures `venuebox download` prints.
function showDownload(bar, label, d) {
  if (!d) {
    bar.value = 0;
    label.textContent = "";
    return;
  }
  const done = d.phase === "done";
  bar.max = 100;
  bar.value = done ? 100 : d.total > 0 ? Math.min(99, Math.floor((100 * d.staged) / d.total)) : 0;
  const rate = d.rowsPerSecond ? `, ${Math.round(d.rowsPerSecond)} rows/s` : "";
  label.textContent = done
    ? `${d.productionId}: done, ${d.report ? d.report.rows : d.total} rows verified${rate} (100 %)`
    : d.phase === "failed"
      ? `${d.productionId}: failed — ${d.error || "see the log"} (run it again to continue)`
      : `${d.productionId}: ${d.phase}, ${d.staged}/${d.total} rows (${bar.value} %)`;
  label.className = d.phase === "failed" ? "bad" : done ? "ok" : "muted";
}

// Starts a download and follows it until it ends; resolves with the final progress.
async function downloadProduction(id, lock, bar, label) {
  await post(`/api/sync/production/${encodeURIComponent(id)}/download`, { lock });
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const status = await getJson("/api/sync/status");
    const d = status.download;
    showDownload(bar, label, d);
    if (d && d.productionId === id && (d.phase === "done" || d.phase === "failed")) return d;
  }
}

// The hub's productions as table rows, each with `actions(row, production)` to add buttons.
function productionRows(body, productions, actions) {
  body.replaceChildren();
  for (const p of productions) {
    const row = document.createElement("tr");
    cell(row, p.name || p.id);
    cell(row, p.client);
    cell(row, p.venue);
    cell(row, p.loadIn);
    cell(row, Object.values(p.counts || {}).reduce((a, b) => a + b, 0));
    cell(row, p.lockedBy ? `${p.lockedByName || p.lockedBy} since ${p.lockedAt}` : "");
    const td = document.createElement("td");
    actions(td, p);
    row.appendChild(td);
    body.appendChild(row);
  }
}
