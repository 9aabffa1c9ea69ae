// The setup wizard: one step at a time, each calling the admin API; every step but signing
// in can be skipped. Uses /box/common.js.
"use strict";

const MINIMUM = Number(document.body.dataset.minPassphrase || 8);
const STEPS = ["signin", "admin", "name", "crew", "hub", "download", "app", "done"];
let current = 0;

async function show(index) {
  current = index;
  STEPS.forEach((step, i) => { $(`step-${step}`).hidden = i !== index; });
  $("step-count").textContent = `Step ${index + 1} of ${STEPS.length}`;
  const enter = ENTER[STEPS[index]];
  if (enter) await enter().catch((error) => say(`${STEPS[index]}-result`, error.message, false));
  const first = $(`step-${STEPS[index]}`).querySelector("input, button");
  if (first) first.focus();
}

const next = () => show(current + 1);

// Runs a step's action; on success moves on.
function step(name, work) {
  return async (event) => {
    const trigger = event.currentTarget;
    trigger.disabled = true;
    try {
      if ((await work()) !== false) await next();
    } catch (error) {
      say(`${name}-result`, error.message, false);
    } finally {
      trigger.disabled = false;
    }
  };
}

function checkedPassphrase(value, field) {
  if ([...value].length < MINIMUM) throw new Error(`The ${field} needs at least ${MINIMUM} characters.`);
  return value;
}

async function signIn(passphrase) {
  const answer = await post("/api/auth/login", { passphrase });
  if (answer.role !== "admin") throw new Error("That is not the admin passphrase; the setup needs the admin.");
}

// What each step loads when it opens.
const ENTER = {
  name: async () => {
    const setup = await getJson("/api/admin/setup");
    $("name-value").value = setup.nodeName;
  },
  download: async () => {
    let list;
    try {
      list = (await getJson("/api/sync/productions")).productions || [];
    } catch (error) {
      say("download-result", error.code === "SYNC_NOT_CONFIGURED" ? "No hub is set: skip this step." : error.message, false);
      return;
    }
    say("download-result", list.length ? "" : "The hub holds no production yet.");
    productionRows($("download-list"), list, (td, p) => {
      td.appendChild(button("Download", step("download", async () => {
        const d = await downloadProduction(p.id, $("download-lock").checked, $("download-bar"), $("download-label"));
        if (d.phase !== "done") throw new Error(d.error || "the download failed; try again");
        return false;
      })));
    });
  },
  done: async () => {
    await post("/api/admin/setup/complete");
    const box = await getJson("/api/admin/status");
    drawUrls($("done-urls"), box.urls);
  },
};

for (const skip of document.querySelectorAll("[data-skip]")) skip.addEventListener("click", () => next());

$("signin-go").addEventListener("click", step("signin", () => signIn($("signin-passphrase").value)));

$("admin-new").addEventListener("input", () => say("admin-strength", strength($("admin-new").value, MINIMUM)));
$("admin-save").addEventListener("click", step("admin", async () => {
  const passphrase = checkedPassphrase($("admin-new").value, "admin passphrase");
  if (passphrase !== $("admin-again").value) throw new Error("The two passphrases differ.");
  await post("/api/auth/passphrases", { role: "admin", passphrase });
  // Changing it signs every admin browser out, this one too: sign in again with the new one.
  await signIn(passphrase);
}));

$("name-save").addEventListener("click", step("name", () =>
  send("PUT", "/api/admin/node", { nodeName: $("name-value").value })));

$("crew-value").addEventListener("input", () => say("crew-strength", strength($("crew-value").value, MINIMUM)));
$("crew-save").addEventListener("click", step("crew", async () => {
  await post("/api/auth/passphrases", { role: "editor", passphrase: checkedPassphrase($("crew-value").value, "crew passphrase") });
  const viewer = $("viewer-value").value;
  if (viewer) await post("/api/auth/passphrases", { role: "viewer", passphrase: checkedPassphrase(viewer, "viewer passphrase") });
}));

$("hub-try").addEventListener("click", async () => {
  try {
    const result = await post("/api/admin/hub/test", { hubUrl: $("hub-value").value.trim() });
    say("hub-result", result.ok ? `The hub answered in ${result.probe.millis} ms.` : `${result.hub}: ${result.error}`, result.ok);
  } catch (error) {
    say("hub-result", error.message, false);
  }
});
$("hub-save").addEventListener("click", step("hub", async () => {
  const hubUrl = $("hub-value").value.trim();
  if (!hubUrl) throw new Error("Enter the hub's URL, or skip this step.");
  await send("PUT", "/api/admin/node", { hubUrl });
}));

$("download-next").addEventListener("click", () => next());

$("app-install").addEventListener("click", step("app", async () => {
  const file = $("app-upload").files[0];
  if (!file) throw new Error("Choose the app's build, or skip this step.");
  const type = /\.zip$/i.test(file.name) ? "application/zip" : "application/gzip";
  await send("POST", "/api/admin/app", file, type);
}));

// Signed in as admin already (a second run, or open mode): start after the sign-in step.
getJson("/api/auth/me")
  .then((me) => show(me.role === "admin" ? 1 : 0))
  .catch(() => show(0));
