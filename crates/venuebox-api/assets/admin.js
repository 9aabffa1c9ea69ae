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
    for (const [label, choice] of [["Keep current", "ours"], ["Take other", "theirs"]]) {
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

async function refresh() {
  try {
    const [info, status, conflicts, backups] = await Promise.all([
      getJson("/api/server/info"),
      getJson("/api/sync/status"),
      getJson("/api/sync/conflicts"),
      getJson("/api/admin/backups"),
    ]);
    $("version").textContent = text(info.version);
    $("uptime").textContent = info.uptime !== undefined ? `${Math.round(info.uptime)} s` : text(info.uptimeSeconds);
    renderSync(status);
    renderConflicts(conflicts.conflicts || []);
    const last = (backups.backups || [])[0];
    $("backup").textContent = last ? `${last.file} (${last.bytes} bytes)` : "none yet";
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
