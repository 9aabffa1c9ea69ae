// The operator console: everything a crew chief does on show day, on the box's own API.
// Uses /box/common.js. Each section loads when the page opens and after each action; the
// status part above (admin.js) polls on its own.
"use strict";

const MIN_PASSPHRASE = Number(document.body.dataset.minPassphrase || 12);

// Runs an action from a button: disables it meanwhile, reports failure in `messageId`.
function act(messageId, work) {
  return async (event) => {
    const trigger = event && event.currentTarget;
    if (trigger) trigger.disabled = true;
    try {
      await work();
    } catch (error) {
      say(messageId, error.message, false);
    } finally {
      if (trigger) trigger.disabled = false;
    }
  };
}

// ---- Crew access: passphrases -------------------------------------------------------------

$("passphrase-new").addEventListener("input", () => {
  say("passphrase-strength", strength($("passphrase-new").value, MIN_PASSPHRASE));
});

$("passphrase-form").addEventListener("submit", (event) => {
  event.preventDefault();
  act("passphrase-result", async () => {
    const role = $("passphrase-role").value;
    await post("/api/auth/passphrases", { role, passphrase: $("passphrase-new").value });
    $("passphrase-new").value = "";
    say("passphrase-strength", "");
    say("passphrase-result", `The ${role} passphrase is set; that role's browsers sign in again.`, true);
    if (role === "admin") location.assign("/login?next=/admin");
  })();
});

$("passphrase-remove").addEventListener("click", act("passphrase-result", async () => {
  const role = $("passphrase-role").value;
  if (role === "admin") throw new Error("The admin passphrase cannot be removed, only changed.");
  await post("/api/auth/passphrases", { role, passphrase: null });
  say("passphrase-result", `The ${role} passphrase is removed; nobody signs in as ${role} with one.`, true);
}));

// ---- Crew access: device tokens -----------------------------------------------------------

async function loadTokens() {
  const tokens = await getJson("/api/auth/tokens");
  const body = $("tokens");
  body.replaceChildren();
  // Revoked tokens are history, not access: the list is of what can still sign in.
  for (const t of tokens.filter((token) => !token.revokedAt)) {
    const row = document.createElement("tr");
    cell(row, t.name);
    cell(row, t.role);
    cell(row, t.createdAt);
    cell(row, t.lastUsedAt ? age(t.lastUsedAt) : "never");
    const td = document.createElement("td");
    td.appendChild(button("Revoke", act("token-result", async () => {
      await send("DELETE", `/api/auth/tokens/${encodeURIComponent(t.id)}`);
      say("token-result", `Revoked ${t.name}: its devices are signed out now.`, true);
      await loadTokens();
    })));
    row.appendChild(td);
    body.appendChild(row);
  }
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  act("token-result", async () => {
    const made = await post("/api/auth/tokens", { name: $("token-name").value, role: $("token-role").value });
    // The token travels in the link's #fragment: browsers never send it to a server, so it
    // reaches no log; the tablet's sign-in page reads it and signs in.
    const link = `${location.origin}/login#token=${made.token}`;
    const response = await fetch("/api/admin/qr", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text: link }),
    });
    if (!response.ok) throw new Error(`QR code: ${response.status}`);
    // A data: URL (the Content-Security-Policy allows images from the box and data: only).
    const svg = `data:image/svg+xml,${encodeURIComponent(await response.text())}`;
    const shown = $("token-shown");
    shown.hidden = false;
    $("token-secret").textContent = made.token;
    $("token-qr").src = svg;
    say("token-result", `Token for ${made.name} (${made.role}) made. It is shown only now: scan or copy it.`, true);
    $("token-name").value = "";
    await loadTokens();
  })();
});

$("token-hide").addEventListener("click", () => {
  $("token-shown").hidden = true;
  $("token-secret").textContent = "";
  $("token-qr").removeAttribute("src");
  loadTokens().catch((error) => say("token-result", error.message, false));
});

$("tokens-refresh").addEventListener("click", act("token-result", loadTokens));

// ---- The hub's productions ----------------------------------------------------------------

async function loadHubProductions() {
  let list;
  try {
    list = (await getJson("/api/sync/productions")).productions || [];
  } catch (error) {
    $("hub-productions").replaceChildren();
    say("hub-result", error.code === "SYNC_NOT_CONFIGURED"
      ? "No hub is set: enter its URL under Box settings below."
      : error.message, false);
    return;
  }
  say("hub-result", `${list.length} production(s) on the hub.`);
  productionRows($("hub-productions"), list, (td, p) => {
    td.appendChild(button("Download", act("hub-result", async () => {
      const d = await downloadProduction(p.id, false, $("download-bar"), $("download-label"));
      if (d.phase === "done") await loadHubProductions();
    })));
    td.appendChild(button(p.lockedBy ? "Unlock" : "Lock", act("hub-result", async () => {
      await post(`/api/sync/production/${encodeURIComponent(p.id)}/${p.lockedBy ? "unlock" : "lock"}`);
      await loadHubProductions();
    })));
  });
}

$("hub-refresh").addEventListener("click", act("hub-result", loadHubProductions));

// ---- Backups ------------------------------------------------------------------------------

async function loadBackups() {
  const answer = await getJson("/api/admin/backups");
  const body = $("backups");
  body.replaceChildren();
  // Newest first here.
  for (const b of [...(answer.backups || [])].reverse()) {
    const row = document.createElement("tr");
    cell(row, b.file);
    cell(row, bytes(b.bytes));
    cell(row, age(b.createdAt));
    const td = document.createElement("td");
    const link = document.createElement("a");
    link.href = `/api/admin/backups/${encodeURIComponent(b.file)}`;
    link.textContent = "Download";
    link.setAttribute("download", b.file);
    td.appendChild(link);
    td.appendChild(button("Restore at next start", act("backup-result", async () => {
      if (!confirm(`Replace the box's database with ${b.file} when it next starts? The current one is kept in backups/.`)) return;
      const staged = await post(`/api/admin/backups/${encodeURIComponent(b.file)}/restore`);
      say("backup-result", staged.message, true);
      await loadBackups();
    })));
    row.appendChild(td);
    body.appendChild(row);
  }
  const staged = answer.stagedRestore;
  $("restore-staged").hidden = !staged;
  $("restore-staged-file").textContent = staged || "";
}

$("backup-now").addEventListener("click", act("backup-result", async () => {
  const made = await post("/api/admin/backups");
  say("backup-result", `Backup ${made.file} written (${bytes(made.bytes)}, integrity checked).`, true);
  await loadBackups();
}));

$("restore-cancel").addEventListener("click", act("backup-result", async () => {
  await send("DELETE", "/api/admin/backups/staged");
  say("backup-result", "The staged restore is cancelled.", true);
  await loadBackups();
}));

// ---- Export and import --------------------------------------------------------------------

async function loadProductions() {
  const list = await getJson("/api/productions");
  const select = $("export-production");
  const chosen = select.value;
  select.replaceChildren();
  for (const p of list) {
    const option = document.createElement("option");
    option.value = p.id;
    option.textContent = `${p.name || p.showName || p.id} (${p.id})`;
    select.appendChild(option);
  }
  if (chosen) select.value = chosen;
  updateExportLinks();
}

function updateExportLinks() {
  const id = encodeURIComponent($("export-production").value);
  for (const [linkId, format] of [["export-json", "json"], ["export-xlsx", "xlsx"]]) {
    const link = $(linkId);
    link.href = id ? `/api/productions/${id}/export${format === "xlsx" ? "?format=xlsx" : ""}` : "#";
    link.setAttribute("download", `${$("export-production").value}.${format}`);
  }
}

$("export-production").addEventListener("change", updateExportLinks);

$("import-form").addEventListener("submit", (event) => {
  event.preventDefault();
  act("import-result", async () => {
    const file = $("import-file").files[0];
    if (!file) throw new Error("Choose a JSON export first.");
    let parsed;
    try {
      parsed = JSON.parse(await file.text());
    } catch (error) {
      throw new Error(`${file.name} is not JSON: ${error.message}`);
    }
    const imported = await post("/api/productions/import", parsed);
    say("import-result", `Imported ${imported.productionId || imported.id || file.name}.`, true);
    await loadProductions();
  })();
});

// ---- The crew app -------------------------------------------------------------------------

async function loadApp() {
  const app = await getJson("/api/admin/app");
  const describe = (r) => (r ? `${r.release}: ${r.files} files, ${bytes(r.bytes)}` : "none");
  $("app-installed").textContent = describe(app.installed);
  $("app-previous").textContent = describe(app.previous);
  $("app-serving").textContent = {
    installed: "the installed app",
    configured: `the configured folder ${app.configuredDir}`,
    none: "no app: / shows the box's own page",
  }[app.serving];
  $("app-rollback").disabled = !app.previous;
}

$("app-form").addEventListener("submit", (event) => {
  event.preventDefault();
  act("app-result", async () => {
    const file = $("app-file").files[0];
    if (!file) throw new Error("Choose the app's build (.zip or .tar.gz) first.");
    const type = /\.zip$/i.test(file.name) ? "application/zip" : "application/gzip";
    const answer = await send("POST", "/api/admin/app", file, type);
    say("app-result", `Installed ${answer.installed.release} (${answer.installed.files} files). Open / to use it.`, true);
    await loadApp();
  })();
});

$("app-rollback").addEventListener("click", act("app-result", async () => {
  const answer = await post("/api/admin/app/rollback");
  say("app-result", `Serving ${answer.serving.release} again.`, true);
  await loadApp();
}));

// ---- Clients and logs ---------------------------------------------------------------------

async function loadActivity() {
  const [clients, syncLog, logs] = await Promise.all([
    getJson("/api/admin/clients"),
    getJson("/api/sync/log"),
    getJson("/api/admin/logs?limit=100"),
  ]);
  const body = $("client-list");
  body.replaceChildren();
  for (const c of clients.clients) {
    const row = document.createElement("tr");
    cell(row, c.role);
    cell(row, (c.presentIn || []).map((p) => p.userName).filter(Boolean).join(", ") || "—");
    cell(row, c.credential);
    cell(row, c.address);
    cell(row, age(c.connectedAt));
    body.appendChild(row);
  }
  $("sync-log").textContent = (syncLog.log || [])
    .slice(0, 30)
    .map((e) => `${e.startedAt} ${e.direction} ${e.records} record(s)${e.conflicts ? `, ${e.conflicts} conflict(s)` : ""}${e.error ? ` — ${e.error}` : ""}`)
    .join("\n") || "nothing synced yet";
  $("log-lines").textContent = logs.lines
    .map((l) => `${l.at} ${l.level.padEnd(5)} ${l.message}`)
    .join("\n") || "no log lines kept (the box keeps them when run as `venuebox serve`)";
}

$("activity-refresh").addEventListener("click", act("activity-result", loadActivity));

// ---- Box settings -------------------------------------------------------------------------

async function loadNode() {
  const node = await getJson("/api/admin/node");
  $("node-name").value = node.nodeName;
  $("node-name").disabled = node.fixedByEnvironment.nodeName;
  $("hub-url").value = "";
  $("hub-url").placeholder = node.hubUrl || "postgres://user:password@hub.example.com:5432/venuebox";
  $("hub-url").disabled = node.fixedByEnvironment.hubUrl;
  $("hub-current").textContent = node.hubConfigured ? `in use: ${node.hubUrl}` : "none: the box works offline";
  say("node-restart", node.restartNeeded
    ? `Saved name "${node.nodeName}" shows after a restart (the running box announces "${node.runningNodeName}").`
    : "");
}

$("hub-test").addEventListener("click", act("node-result", async () => {
  const url = $("hub-url").value.trim();
  const result = await post("/api/admin/hub/test", url ? { hubUrl: url } : {});
  say("node-result", result.ok
    ? `${result.hub} answered in ${result.probe.millis} ms (PostgreSQL ${result.probe.serverVersion}${result.probe.hasHub ? ", a Venuebox hub" : ", empty: the first sync sets it up"}).`
    : `${result.hub}: ${result.error}`, result.ok);
}));

$("node-form").addEventListener("submit", (event) => {
  event.preventDefault();
  act("node-result", async () => {
    const change = {};
    if (!$("node-name").disabled) change.nodeName = $("node-name").value;
    const url = $("hub-url").value.trim();
    if (url && !$("hub-url").disabled) change.hubUrl = url;
    await send("PUT", "/api/admin/node", change);
    say("node-result", url ? "Saved; sync uses the new hub now." : "Saved.", true);
    await loadNode();
    if (url) await loadHubProductions();
  })();
});

$("hub-remove").addEventListener("click", act("node-result", async () => {
  if (!confirm("Stop syncing with the hub? Changes keep waiting in the queue until a hub is set again.")) return;
  await send("PUT", "/api/admin/node", { hubUrl: "" });
  say("node-result", "No hub: the box works offline; changes wait in the queue.", true);
  await loadNode();
}));

// Every section, once at start.
for (const [load, messageId] of [
  [loadTokens, "token-result"],
  [loadHubProductions, "hub-result"],
  [loadBackups, "backup-result"],
  [loadProductions, "import-result"],
  [loadApp, "app-result"],
  [loadActivity, "activity-result"],
  [loadNode, "node-result"],
]) {
  load().catch((error) => say(messageId, error.message, false));
}
