//! The box's own HTML pages: self-contained (no external fonts or scripts), so they work
//! with no internet; usable on a phone and by keyboard. The sign-in page and `/` without a
//! crew app are here; the console (`/admin`) is in [`console`], the setup wizard in [`setup`].
//! Their scripts are in `assets/` (the Content-Security-Policy allows no inline script).
mod console;
mod setup;

pub use console::admin;
pub use setup::setup;

pub const ADMIN_JS: &str = include_str!("../../assets/admin.js");
pub const CONSOLE_JS: &str = include_str!("../../assets/console.js");
pub const COMMON_JS: &str = include_str!("../../assets/common.js");
pub const SETUP_JS: &str = include_str!("../../assets/setup.js");
pub const SIGN_IN_JS: &str = include_str!("../../assets/sign-in.js");

/// What every page of the box looks like; a page adds its own rules after it.
const BASE_STYLE: &str = r#"
  body { font-family: system-ui, sans-serif; background: #111; color: #eee; margin: 0 auto;
         padding: 1rem; max-width: 64rem; line-height: 1.4; overflow-wrap: anywhere; }
  h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; border-top: 1px solid #333;
       padding-top: 1rem; }
  a { color: #79b8ff; }
  table { border-collapse: collapse; width: 100%; }
  td, th { border-bottom: 1px solid #333; padding: .3rem .5rem; text-align: left; vertical-align: top; }
  .scroll { overflow-x: auto; }
  input, select { padding: .45rem; font-size: 1rem; border-radius: 4px; border: 1px solid #444;
                  background: #000; color: #eee; max-width: 100%; box-sizing: border-box; }
  button { padding: .45rem .8rem; margin: .15rem .3rem .15rem 0; border: 0; border-radius: 4px;
           background: #2d7ff9; color: #fff; cursor: pointer; font-size: .95rem; }
  button.secondary { background: #3a3a3a; }
  button:disabled { opacity: .5; cursor: default; }
  :focus-visible { outline: 3px solid #ffd166; outline-offset: 2px; }
  label { display: block; margin: .6rem 0 .2rem; }
  .warning { background: #5a1d1d; color: #ffd0d0; padding: .6rem; border-radius: 4px; }
  .ok { color: #7ee787; } .bad { color: #ff7a7a; }
  .muted { color: #999; font-size: .85rem; }
  .urls { display: flex; flex-wrap: wrap; gap: 1rem; }
  .urls figure { margin: 0; text-align: center; }
  .urls img, img.qr { background: #fff; width: 180px; height: 180px; display: block; }
  .urls figcaption { font-family: monospace; margin-top: .3rem; }
  progress { width: 100%; height: 1.2rem; }
  pre { background: #000; padding: .6rem; overflow-x: auto; max-height: 20rem; font-size: .8rem; }
  code { background: #000; padding: 0 .2rem; }
"#;

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
  <p class="hint" id="token-sign-in" role="status"></p>
</form>
<script src="/box/common.js"></script>
<script src="/box/sign-in.js"></script>
"#,
            next = escape(next),
        ),
    )
}

/// `/` when no crew app is installed: what this box is and where to go from here.
pub fn home(node_name: &str) -> String {
    let name = escape(node_name);
    page(
        &format!("Venuebox — {name}"),
        BASE_STYLE,
        &format!(
            r#"<h1>Venuebox — {name}</h1>
<p>This box is the crew's server for the show: the production's data, live updates to every
laptop, and sync with the office when the internet is there.</p>
<p><a href="/login?next=/admin">Sign in</a> · <a href="/admin">Console</a> (admin) ·
<a href="/setup">Setup</a></p>
<h2>No crew app is installed yet</h2>
<p>Install the crew's web app from the console (<b>Crew app</b> → upload the build as a
<code>.zip</code> or <code>.tar.gz</code>), or on the box with
<code>venuebox ui install dist/</code>. Build it with <code>VITE_API_URL=/api</code> so it talks
to whichever box serves it. Once installed, this address opens the app.</p>
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
