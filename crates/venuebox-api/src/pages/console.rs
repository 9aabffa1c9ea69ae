//! The operator console (`/admin`, admin only): the box's state at the top (kept live by
//! `admin.js`), then one section per show-day job (`console.js`).
use super::{BASE_STYLE, escape, page};
use crate::auth::MIN_PASSPHRASE_CHARS;

/// The console: the frame, with the facts known at render time. Open mode is announced here
/// on every load.
pub fn admin(node_name: &str, open_mode: bool) -> String {
    let warning = if open_mode {
        r#"<p class="warning" role="alert">Open mode: anyone on this network can read and change show data (auth.mode = "open").</p>"#
    } else {
        ""
    };
    let name = escape(node_name);
    let style = format!(
        "{BASE_STYLE}
  nav a {{ margin-right: .8rem; white-space: nowrap; }}
  form.inline {{ display: flex; flex-wrap: wrap; gap: .4rem; align-items: end; }}
  form.inline label {{ margin: 0; }}
  #token-shown {{ background: #1d1d1d; padding: .8rem; border-radius: 6px; margin-top: .6rem; }}
  #token-secret {{ font-family: monospace; word-break: break-all; }}
"
    );
    page(
        &format!("Venuebox — {name}"),
        &style,
        &format!(
            r##"<h1>Venuebox — {name}</h1>
{warning}
<nav aria-label="Sections"><a href="#status">Status</a><a href="#access">Crew access</a><a href="#hub">Hub productions</a><a href="#backups-section">Backups</a><a href="#transfer">Export and import</a><a href="#app">Crew app</a><a href="#activity">Clients and logs</a><a href="#settings">Box settings</a><a href="/setup">Setup</a><a href="/">Open the crew app</a></nav>
<div class="scroll" id="status"><table>
  <tr><th>Node</th><td id="node">—</td></tr>
  <tr><th>Version</th><td id="version">—</td></tr>
  <tr><th>Uptime</th><td id="uptime">—</td></tr>
  <tr><th>HTTPS</th><td id="https">—</td></tr>
  <tr><th>Connected clients</th><td id="clients">—</td></tr>
  <tr><th>Sync</th><td id="sync-state">—</td></tr>
  <tr><th>Queue</th><td id="queue">—</td></tr>
  <tr><th>Last push / pull</th><td><span id="last-push">—</span> / <span id="last-pull">—</span></td></tr>
  <tr><th>Clock skew to the hub</th><td id="skew">—</td></tr>
  <tr><th>Download</th><td id="download">—</td></tr>
  <tr><th>Last backup</th><td id="backup">—</td></tr>
  <tr><th>Disk</th><td id="disk">—</td></tr>
</table></div>
<p><button id="sync-now">Sync now</button> <span id="sync-result" class="muted"></span></p>
<h2>Open the box on a laptop or phone</h2>
<div class="urls" id="urls"></div>
<h2>Productions held</h2>
<div class="scroll"><table><tbody id="holdings"></tbody></table></div>
<h2>Conflicts (<span id="conflict-count">0</span>)</h2>
<div class="scroll"><table>
  <thead><tr><th>Row</th><th>Field</th><th>Reason</th><th>Current</th><th>Overwritten</th><th></th></tr></thead>
  <tbody id="conflicts"></tbody>
</table></div>
<p class="muted">Updated <span id="updated">—</span></p>

<h2 id="access">Crew access</h2>
<form id="passphrase-form" class="inline">
  <div><label for="passphrase-role">Role</label>
  <select id="passphrase-role"><option value="editor">crew (editor)</option><option value="viewer">viewer</option><option value="admin">admin</option></select></div>
  <div><label for="passphrase-new">New passphrase</label>
  <input id="passphrase-new" type="password" autocomplete="new-password" minlength="{MIN_PASSPHRASE_CHARS}" required></div>
  <button type="submit">Set passphrase</button>
  <button type="button" class="secondary" id="passphrase-remove">Remove</button>
</form>
<p class="muted">At least {MIN_PASSPHRASE_CHARS} characters; four unrelated words are easy to say over a radio and hard to guess. Setting or removing one signs that role's browsers out. <span id="passphrase-strength" role="status"></span></p>
<p id="passphrase-result" role="status"></p>
<h3>Device tokens</h3>
<form id="token-form" class="inline">
  <div><label for="token-name">Device</label><input id="token-name" placeholder="FOH tablet" required></div>
  <div><label for="token-role">Role</label>
  <select id="token-role"><option value="viewer">viewer</option><option value="editor">crew (editor)</option><option value="admin">admin</option></select></div>
  <button type="submit">Create token</button>
</form>
<div id="token-shown" hidden>
  <p>Scan with the tablet's camera to sign it in, or copy the token (shown once):</p>
  <img id="token-qr" class="qr" alt="QR code that signs a device in with this token">
  <p id="token-secret"></p>
  <button type="button" class="secondary" id="token-hide">Done, hide it</button>
</div>
<p><button type="button" class="secondary" id="tokens-refresh">Refresh</button> <span id="token-result" role="status"></span></p>
<div class="scroll"><table>
  <thead><tr><th>Device</th><th>Role</th><th>Created</th><th>Last used</th><th></th></tr></thead>
  <tbody id="tokens"></tbody>
</table></div>

<h2 id="hub">Productions on the hub</h2>
<p><button type="button" id="hub-refresh" class="secondary">Refresh</button> <span id="hub-result" role="status"></span></p>
<div class="scroll"><table>
  <thead><tr><th>Production</th><th>Client</th><th>Venue</th><th>Load-in</th><th>Rows</th><th>Locked by</th><th></th></tr></thead>
  <tbody id="hub-productions"></tbody>
</table></div>
<progress id="download-bar" max="100" value="0" aria-label="Download progress"></progress>
<p id="download-label" role="status"></p>

<h2 id="backups-section">Backups</h2>
<p><button type="button" id="backup-now">Make a backup now</button> <span id="backup-result" role="status"></span></p>
<p id="restore-staged" class="warning" hidden>Restore staged: <b id="restore-staged-file"></b> replaces the database when the box next starts (the current one is kept in backups/). <button type="button" class="secondary" id="restore-cancel">Cancel it</button></p>
<div class="scroll"><table>
  <thead><tr><th>File</th><th>Size</th><th>Age</th><th></th></tr></thead>
  <tbody id="backups"></tbody>
</table></div>

<h2 id="transfer">Export and import</h2>
<p><label for="export-production">Production</label><select id="export-production"></select>
<a id="export-json" href="#">Export JSON</a> · <a id="export-xlsx" href="#">Export .xlsx</a></p>
<form id="import-form" class="inline">
  <div><label for="import-file">Import a JSON export</label><input id="import-file" type="file" accept=".json,application/json"></div>
  <button type="submit">Import</button>
</form>
<p id="import-result" role="status"></p>

<h2 id="app">Crew app</h2>
<p>Serving: <span id="app-serving">—</span><br>Installed: <span id="app-installed">—</span><br>Kept for rollback: <span id="app-previous">—</span></p>
<form id="app-form" class="inline">
  <div><label for="app-file">The app's build (.zip or .tar.gz of dist/)</label><input id="app-file" type="file" accept=".zip,.tar.gz,.tgz,application/zip,application/gzip"></div>
  <button type="submit">Install</button>
  <button type="button" class="secondary" id="app-rollback">Roll back</button>
</form>
<p class="muted">Build the crew app with <code>VITE_API_URL=/api</code> so it works from any box address. It is served at once; no restart.</p>
<p id="app-result" role="status"></p>

<h2 id="activity">Clients and logs</h2>
<p><button type="button" id="activity-refresh" class="secondary">Refresh</button> <span id="activity-result" role="status"></span></p>
<div class="scroll"><table>
  <thead><tr><th>Role</th><th>Name</th><th>Credential</th><th>Address</th><th>Connected</th></tr></thead>
  <tbody id="client-list"></tbody>
</table></div>
<h3>Sync log</h3>
<pre id="sync-log"></pre>
<h3>Recent log lines</h3>
<pre id="log-lines"></pre>

<h2 id="settings">Box settings</h2>
<form id="node-form">
  <label for="node-name">Box name (shown to laptops looking for the box)</label>
  <input id="node-name" maxlength="63" required>
  <label for="hub-url">Hub URL (PostgreSQL); leave empty to keep the current one</label>
  <input id="hub-url" autocomplete="off" spellcheck="false" size="60">
  <p class="muted" id="hub-current"></p>
  <button type="button" class="secondary" id="hub-test">Test connection</button>
  <button type="submit">Save</button>
  <button type="button" class="secondary" id="hub-remove">Work without a hub</button>
</form>
<p class="muted">A new hub applies at once. A new name shows after a restart (<code>sudo systemctl restart venuebox</code>). The hub's password is never shown back.</p>
<p id="node-restart" role="status"></p>
<p id="node-result" role="status"></p>
<script src="/box/common.js"></script>
<script src="/admin/admin.js"></script>
<script src="/admin/console.js"></script>
"##
        ),
    )
    .replace("<body>", &format!(r#"<body data-min-passphrase="{MIN_PASSPHRASE_CHARS}">"#))
}
