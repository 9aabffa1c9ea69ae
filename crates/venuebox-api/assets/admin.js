// The status page's live part: polls the box's own API every two seconds. Uses the helpers
// of /box/common.js, loaded first; the console's sections are in console.js.
"use strict";

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

// The QR codes change only when the addresses do; redrawing them every poll would flicker.
let shownUrls = "";
function renderUrls(urls) {
  const key = urls.map((u) => u.url).join(" ");
  if (key === shownUrls) return;
  shownUrls = key;
  drawUrls($("urls"), urls);
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
