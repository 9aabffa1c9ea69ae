// The sign-in page, opened from a device token's QR code: `/login#token=vbx_…`. The token is
// in the #fragment, which the browser never sends to a server; this script trades it for an
// HttpOnly cookie (POST /api/auth/token), removes it from the address bar and history, and
// goes on to the page asked for.
"use strict";

(async () => {
  const match = /^#token=(vbx_[A-Za-z0-9_-]+)$/.exec(location.hash);
  if (!match) return;
  history.replaceState(null, "", location.pathname + location.search);
  const status = $("token-sign-in");
  status.textContent = "Signing in with the device token…";
  try {
    await post("/api/auth/token", { token: match[1] });
    const next = new URLSearchParams(location.search).get("next");
    location.replace(next && next.startsWith("/") && !next.startsWith("//") ? next : "/");
  } catch (error) {
    status.textContent = `The device token did not work: ${error.message}`;
    status.className = "error";
  }
})();
