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
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Venuebox — sign in</title>
<style>
  body {{ font-family: system-ui, sans-serif; background: #111; color: #eee; display: grid;
         place-items: center; min-height: 100vh; margin: 0; }}
  form {{ background: #1d1d1d; padding: 2rem; border-radius: 8px; width: min(22rem, 90vw); }}
  h1 {{ font-size: 1.3rem; margin-top: 0; }}
  label {{ display: block; margin-bottom: .4rem; }}
  input {{ width: 100%; box-sizing: border-box; padding: .6rem; font-size: 1rem; border-radius: 4px;
          border: 1px solid #444; background: #000; color: #eee; }}
  button {{ margin-top: 1rem; width: 100%; padding: .6rem; font-size: 1rem; border: 0; border-radius: 4px;
           background: #2d7ff9; color: #fff; cursor: pointer; }}
  .error {{ color: #ff7a7a; }}
  .hint {{ color: #999; font-size: .85rem; }}
</style>
</head>
<body>
<form method="post" action="/login">
  <h1>Venuebox</h1>
  {error}
  <label for="passphrase">Crew passphrase</label>
  <input id="passphrase" name="passphrase" type="password" autocomplete="current-password" autofocus required>
  <input type="hidden" name="next" value="{next}">
  <button type="submit">Sign in</button>
  <p class="hint">Ask the engineer in charge for the crew passphrase.</p>
</form>
</body>
</html>
"#,
        next = escape(next),
    )
}
