//! The first-run setup wizard (`/setup`): one step at a time, each skippable and each doable
//! again later from the console. The page itself holds nothing secret (its first step is
//! signing in); every step calls the admin API (`setup.js`).
use super::{BASE_STYLE, escape, page};
use crate::auth::MIN_PASSPHRASE_CHARS;

pub fn setup(node_name: &str) -> String {
    let name = escape(node_name);
    let style = format!(
        "{BASE_STYLE}
  body {{ max-width: 40rem; }}
  section {{ background: #1d1d1d; padding: 1rem 1.2rem; border-radius: 8px; }}
  section h2 {{ border: 0; margin-top: 0; padding-top: 0; }}
  section input {{ width: 100%; }}
  .actions {{ margin-top: 1rem; }}
"
    );
    page(
        &format!("Venuebox — set up {name}"),
        &style,
        &format!(
            r##"<h1>Set up this Venuebox</h1>
<p class="muted" id="step-count" role="status"></p>

<section id="step-signin" hidden>
  <h2>Sign in as admin</h2>
  <p>Use the admin passphrase the box printed when it first started (under systemd:
  <code>sudo cat /var/lib/venuebox/admin-passphrase.txt</code>).</p>
  <label for="signin-passphrase">Admin passphrase</label>
  <input id="signin-passphrase" type="password" autocomplete="current-password">
  <div class="actions"><button id="signin-go">Sign in</button></div>
  <p id="signin-result" role="status"></p>
</section>

<section id="step-admin" hidden>
  <h2>Your own admin passphrase</h2>
  <p>Replace the printed one with one you will remember (at least {MIN_PASSPHRASE_CHARS} characters).</p>
  <label for="admin-new">New admin passphrase</label>
  <input id="admin-new" type="password" autocomplete="new-password">
  <label for="admin-again">Again</label>
  <input id="admin-again" type="password" autocomplete="new-password">
  <p class="muted" id="admin-strength" role="status"></p>
  <div class="actions"><button id="admin-save">Save and continue</button><button class="secondary" data-skip>Skip</button></div>
  <p id="admin-result" role="status"></p>
</section>

<section id="step-name" hidden>
  <h2>Name the box</h2>
  <p>Laptops looking for a server see this name.</p>
  <label for="name-value">Box name</label>
  <input id="name-value" maxlength="63">
  <div class="actions"><button id="name-save">Save and continue</button><button class="secondary" data-skip>Skip</button></div>
  <p id="name-result" role="status"></p>
</section>

<section id="step-crew" hidden>
  <h2>The crew passphrase</h2>
  <p>The crew signs in with it to read and change show data. A viewer passphrase (read only) is optional.</p>
  <label for="crew-value">Crew passphrase</label>
  <input id="crew-value" type="password" autocomplete="new-password">
  <p class="muted" id="crew-strength" role="status"></p>
  <label for="viewer-value">Viewer passphrase (optional)</label>
  <input id="viewer-value" type="password" autocomplete="new-password">
  <div class="actions"><button id="crew-save">Save and continue</button><button class="secondary" data-skip>Skip</button></div>
  <p id="crew-result" role="status"></p>
</section>

<section id="step-hub" hidden>
  <h2>The office hub (optional)</h2>
  <p>The PostgreSQL hub the office plans shows in. Without one the box works on its own.</p>
  <label for="hub-value">Hub URL</label>
  <input id="hub-value" autocomplete="off" spellcheck="false" placeholder="postgres://user:password@hub.example.com:5432/venuebox">
  <div class="actions"><button class="secondary" id="hub-try">Test connection</button><button id="hub-save">Save and continue</button><button class="secondary" data-skip>Skip</button></div>
  <p id="hub-result" role="status"></p>
</section>

<section id="step-download" hidden>
  <h2>Download a production</h2>
  <p>Load the show onto the box before leaving the office.</p>
  <label><input type="checkbox" id="download-lock" style="width:auto"> Lock it to this box after the download</label>
  <div class="scroll"><table>
    <thead><tr><th>Production</th><th>Client</th><th>Venue</th><th>Load-in</th><th>Rows</th><th>Locked by</th><th></th></tr></thead>
    <tbody id="download-list"></tbody>
  </table></div>
  <progress id="download-bar" max="100" value="0" aria-label="Download progress"></progress>
  <p id="download-label" role="status"></p>
  <div class="actions"><button id="download-next">Continue</button><button class="secondary" data-skip>Skip</button></div>
  <p id="download-result" role="status"></p>
</section>

<section id="step-app" hidden>
  <h2>Install the crew app</h2>
  <p>Upload the crew web app's build (a .zip or .tar.gz of its <code>dist/</code> folder, built with <code>VITE_API_URL=/api</code>).</p>
  <label for="app-upload">The app's build</label>
  <input id="app-upload" type="file" accept=".zip,.tar.gz,.tgz,application/zip,application/gzip">
  <div class="actions"><button id="app-install">Install and continue</button><button class="secondary" data-skip>Skip</button></div>
  <p id="app-result" role="status"></p>
</section>

<section id="step-done" hidden>
  <h2>Ready</h2>
  <p>Crew laptops and phones on this network open the box here; scan a code or type the address:</p>
  <div class="urls" id="done-urls"></div>
  <p><a href="/">Open the crew app</a> · <a href="/admin">Console</a></p>
  <p class="muted">Every step can be changed later in the console, or run again at <a href="/setup">/setup</a>.</p>
</section>
<script src="/box/common.js"></script>
<script src="/box/setup.js"></script>
"##
        ),
    )
    .replace("<body>", &format!(r#"<body data-min-passphrase="{MIN_PASSPHRASE_CHARS}">"#))
}
