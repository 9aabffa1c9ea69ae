//! The box's own HTML pages: self-contained (no external fonts or scripts), so they work
//! with no internet.

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn login(next: &str, failed: bool) -> String {
    let error = if failed {
        r#"<p class="error" role="alert">That passphrase did not work. Try again.</p>"#
    } else {
        ""
    };
    page(
        "Venuebox — sign in",
        r#"
  body { font-family: system-ui, sans-serif; background: #111; color: #eee; display: grid;
         place-items: center; min-height: 100vh; margin: 0; }
  form { background: #1d1d1d; padding: 2rem; border-radius: 8px; width: min(22rem, 90vw); }
  h1 { font-size: 1.3rem; margin-top: 0; }
  label { display: block; margin-bottom: .4rem; }
  input { width: 100%; box-sizing: border-box; padding: .6rem; font-size: 1rem; border-radius: 4px;
          border: 1px solid #444; background: #000; color: #eee; }
  button { margin-top: 1rem; width: 100%; padding: .6rem; font-size: 1rem; border: 0; border-radius: 4px;
           background: #2d7ff9; color: #fff; cursor: pointer; }
  .error { color: #ff7a7a; }
  .hint { color: #999; font-size: .85rem; }
"#,
        &format!(
            r#"<form method="post" action="/login">
  <h1>Venuebox</h1>
  {error}
  <label for="passphrase">Crew passphrase</label>
  <input id="passphrase" name="passphrase" type="password" autocomplete="current-password" autofocus required>
  <input type="hidden" name="next" value="{next}">
  <button type="submit">Sign in</button>
  <p class="hint">Ask the engineer in charge for the crew passphrase.</p>
</form>
"#,
            next = escape(next),
        ),
    )
}

/// The status page (`/admin`): the frame, with the facts known at render time; `admin.js`
/// keeps it live. Open mode is announced here on every load.
pub fn admin(node_name: &str, open_mode: bool) -> String {
    let warning = if open_mode {
        r#"<p class="warning" role="alert">Open mode: anyone on this network can read and change show data (auth.mode = "open").</p>"#
    } else {
        ""
    };
    let name = escape(node_name);
    page(
        &format!("Venuebox — {name}"),
        r#"
  body { font-family: system-ui, sans-serif; background: #111; color: #eee; margin: 0 auto;
         padding: 1rem; max-width: 64rem; }
  h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 1.5rem; }
  table { border-collapse: collapse; width: 100%; }
  td, th { border-bottom: 1px solid #333; padding: .3rem .5rem; text-align: left; vertical-align: top; }
  .warning { background: #5a1d1d; color: #ffd0d0; padding: .6rem; border-radius: 4px; }
  .ok { color: #7ee787; } .bad { color: #ff7a7a; }
  button { padding: .3rem .7rem; margin-right: .3rem; border: 0; border-radius: 4px;
           background: #2d7ff9; color: #fff; cursor: pointer; }
  .muted { color: #999; font-size: .85rem; }
  .urls { display: flex; flex-wrap: wrap; gap: 1rem; }
  .urls figure { margin: 0; text-align: center; }
  .urls img { background: #fff; width: 180px; height: 180px; display: block; }
  .urls figcaption { font-family: monospace; margin-top: .3rem; }
"#,
        &format!(
            r#"<h1>Venuebox — {name}</h1>
{warning}
<table>
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
</table>
<p><button id="sync-now">Sync now</button> <span id="sync-result" class="muted"></span></p>
<h2>Open the box on a laptop or phone</h2>
<div class="urls" id="urls"></div>
<h2>Productions held</h2>
<table><tbody id="holdings"></tbody></table>
<h2>Conflicts (<span id="conflict-count">0</span>)</h2>
<table>
  <thead><tr><th>Row</th><th>Field</th><th>Reason</th><th>Current</th><th>Overwritten</th><th></th></tr></thead>
  <tbody id="conflicts"></tbody>
</table>
<p class="muted">Updated <span id="updated">—</span></p>
<script src="/admin/admin.js"></script>
"#
        ),
    )
}

/// A whole page: the head every page shares around its own style and body. `title` is
/// already escaped.
fn page(title: &str, style: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
{body}</body>
</html>
"#
    )
}

pub const ADMIN_JS: &str = include_str!("../assets/admin.js");
