// The status page's live part: polls the box's own API every two seconds. No external
// scripts or fonts, so it works with no internet. Served as a file because the
// Content-Security-Policy allows no inline script.
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

async function getJson(path) {
  const response = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body || {}),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || response.statusText);
  return answer;
}

function renderSync(s) {
  let state;
  if (!s.configured) state = "no hub configured — working offline, changes wait in the queue";
  else if (s.stopped) state = `STOPPED: ${s.stopped}`;
  else if (s.online) state = `online (${s.hub}), hub at sequence ${s.hubSeq}`;
  else state = `hub unreachable (${s.hub}): ${text(s.lastError)} — retrying`;
  $("sync-state").textContent = state;
  $("sync-state").className = s.online ? "ok" : s.configured ? "bad" : "";
  $("queue").textContent = s.queueLength === 0 ? "empty" : `${s.queueLength} change(s), oldest ${s.oldestQueuedAt}`;
  $("last-push").textContent = text(s.lastPushAt);
  $("last-pull").textContent = text(s.lastPullAt);
  $("node").textContent = `${s.nodeName} (${s.nodeId})`;
  $("skew").textContent = s.clockSkewMs === null || s.clockSkewMs === undefined ? "—" : `${Math.round(s.clockSkewMs / 1000)} s`;
  const held = $("holdings");
  held.replaceChildren();
  for (const h of s.holdings || []) {
    const row = document.createElement("tr");
    cell(row, h.name);
    cell(row, h.productionId);
    cell(row, h.downloadedAt || "created here");
    cell(row, h.lockedAt ? `locked since ${h.lockedAt}` : "");
    held.appendChild(row);
  }
  const d = s.download;
  $("download").textContent = d ? `${d.productionId}: ${d.phase}, ${d.staged}/${d.total} rows${d.error ? " — " + d.error : ""}` : "—";
}

function renderConflicts(list) {
  const body = $("conflicts");
  body.replaceChildren();
  $("conflict-count").textContent = String(list.length);
  for (const c of list) {
    const row = document.createElement("tr");
    cell(row, `${c.kind} ${c.uuid.slice(0, 8)}`);
    cell(row, c.column);
    cell(row, c.reason);
    cell(row, c.winnerValue);
    cell(row, c.loserValue);
    const actions = document.createElement("td");
    for (const [label, choice] of [["Keep current", "ours"], ["Take overwritten", "theirs"]]) {
      const button = document.createElement("button");
      button.textContent = label;
      button.addEventListener("click", async () => {
        try {
          await post(`/api/sync/conflicts/${c.id}/resolve`, { choice });
          refresh();
        } catch (error) {
          alert(error.message);
        }
      });
      actions.appendChild(button);
    }
    row.appendChild(actions);
    body.appendChild(row);
  }
}

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

// The QR codes change only when the addresses do; redrawing them every poll would flicker.
let shownUrls = "";
function renderUrls(urls) {
  const key = urls.map((u) => u.url).join(" ");
  if (key === shownUrls) return;
  shownUrls = key;
  const box = $("urls");
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

function renderBox(box) {
  $("version").textContent = text(box.version);
  $("uptime").textContent = duration(box.uptime);
  $("clients").textContent = String(box.connectedClients);
  $("https").textContent = box.https
    ? `port ${box.https.port}; certificate SHA-256 ${box.https.fingerprint} (check it against the browser's warning)`
    : "off (server.https_listen): passphrases and cookies cross the network in the clear";
  const d = box.disk;
  $("disk").textContent = `database ${bytes(d.databaseBytes)}, ${d.backupCount} backup(s) ${bytes(d.backupBytes)}; ` +
    `${bytes(d.filesystemAvailableBytes)} free of ${bytes(d.filesystemTotalBytes)} (${d.dataDir})`;
  renderUrls(box.urls);
}

async function refresh() {
  try {
    const [box, status, conflicts, backups] = await Promise.all([
      getJson("/api/admin/status"),
      getJson("/api/sync/status"),
      getJson("/api/sync/conflicts"),
      getJson("/api/admin/backups"),
    ]);
    renderBox(box);
    renderSync(status);
    renderConflicts(conflicts.conflicts || []);
    // The list is oldest first.
    const all = backups.backups || [];
    const last = all[all.length - 1];
    $("backup").textContent = last ? `${last.createdAt}: ${last.file} (${bytes(last.bytes)})` : "none yet";
    $("updated").textContent = new Date().toLocaleTimeString();
  } catch (error) {
    $("updated").textContent = `could not refresh: ${error.message}`;
  }
}

$("sync-now").addEventListener("click", async () => {
  try {
    const report = await post("/api/sync/now");
    $("sync-result").textContent = `pushed ${report.pushed}, pulled ${report.pulled}`;
  } catch (error) {
    $("sync-result").textContent = error.message;
  }
  refresh();
});

refresh();
setInterval(refresh, 2000);
