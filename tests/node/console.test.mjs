// A new box run from a browser only, in Debian's Chromium driven by playwright-core: the setup
// wizard from a fresh data folder (sign in with the printed passphrase, a new admin
// passphrase, the box's name, the crew passphrase, a real hub tested and saved, a production
// downloaded with the progress bar reaching 100 %, the crew app installed), then the console:
// set the crew passphrase and sign in as crew in a second browser, make a device token and
// sign a "tablet" in with its QR link, revoke it, download and lock a production from the hub,
// make and download a backup, export .xlsx, install a second app build, load it at /, roll
// it back. A real PostgreSQL hub (a fresh database, dropped after) fed by a second box.
// Screenshots land in target/screenshots/console-*.png.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { Box, until } from './harness.mjs';

const PG = process.env.VENUEBOX_TEST_PG;
if (!PG) throw new Error('set VENUEBOX_TEST_PG (scripts/test.sh does) to a PostgreSQL server URL');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = new URL('../../target/screenshots/', import.meta.url).pathname;
const NEW_ADMIN = 'new admin passphrase for the console test';
const CREW = 'crew passphrase for the console test';
const CREW_CHANGED = 'changed crew passphrase for the console test';

const database = `venuebox_console_${process.pid}_${Date.now()}`;
const psql = (sql) => execFileSync('psql', [PG, '-qAtc', sql], { encoding: 'utf8' });
const hub = new URL(PG);
hub.pathname = `/${database}`;
let box, office, browser, work;

// A built crew app as the console takes it: a .tar.gz of a dist/ folder.
function builtApp(marker) {
  const dir = mkdtempSync(join(work, 'app-'));
  mkdirSync(join(dir, 'dist', 'assets'), { recursive: true });
  writeFileSync(join(dir, 'dist', 'index.html'), `<!doctype html><title>${marker}</title><h1 id="app">${marker}</h1>`);
  writeFileSync(join(dir, 'dist', 'assets', 'app.js'), 'console.log("crew")');
  const file = join(work, `${marker.replace(/\W+/g, '-')}.tar.gz`);
  execFileSync('tar', ['czf', file, '-C', dir, 'dist']);
  return file;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'venuebox-console-'));
  psql(`CREATE DATABASE ${database}`);
  // The office box plans the show and pushes it to the hub through the real path.
  office = await Box.start({ hub: { url: `"${hub}"`, sync_interval: '"1s"', scope: '"all"' } });
  const show = await office.post('/api/productions', { name: 'Arena tour', client: 'ACME', venue: 'Arena' });
  assert.equal(show.status, 201);
  for (let i = 1; i <= 40; i += 1) {
    const made = await office.post('/api/sources', { productionId: show.body.id, name: `CAM ${i}`, type: 'CAMERA' });
    assert.equal(made.status, 201);
  }
  await until('the office to push the show', async () => {
    const status = await (await fetch(`${office.base}/api/sync/status`)).json();
    return status.queueLength === 0 && status.online;
  }, 60000);
  // The venue box, fresh: credentials required, no hub, nothing set up.
  box = await Box.start({ auth: 'passphrase' });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await box?.stop();
  await office?.stop();
  psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  if (work) rmSync(work, { recursive: true, force: true });
});

function printedPassphrase() {
  const match = /shown once, write it down\):\s+(\S+)/.exec(box.output.log);
  if (match) return match[1];
  return readFileSync(join(box.dir, 'data', 'admin-passphrase.txt'), 'utf8').trim();
}

const shot = (page, name) => page.screenshot({ path: `${SHOTS}console-${name}.png`, fullPage: true });

test('a fresh box is set up and run from the browser alone', async () => {
  // A phone-sized screen: the wizard and the console must work there.
  const admin = await browser.newContext({ viewport: { width: 414, height: 896 }, acceptDownloads: true });
  const page = await admin.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  // Script errors count; a refused request does not (the wizard asks who is signed in, and a
  // stranger's 401 is the answer it expects).
  page.on('console', (message) => {
    if (message.type() === 'error' && !/^Failed to load resource/.test(message.text())) errors.push(message.text());
  });

  // ---- The setup wizard ----
  await page.goto(`${box.base}/`);
  assert.equal(page.url(), `${box.base}/setup`, 'a box never set up opens at its setup');
  await page.fill('#signin-passphrase', printedPassphrase());
  await shot(page, '01-setup-sign-in');
  await page.click('#signin-go');
  await page.waitForSelector('#step-admin:not([hidden])');
  await page.fill('#admin-new', NEW_ADMIN);
  await page.fill('#admin-again', NEW_ADMIN);
  await page.click('#admin-save');
  await page.waitForSelector('#step-name:not([hidden])');
  await page.fill('#name-value', 'Arena venue box');
  await page.click('#name-save');
  await page.waitForSelector('#step-crew:not([hidden])');
  await page.fill('#crew-value', CREW);
  await shot(page, '02-setup-crew-passphrase');
  await page.click('#crew-save');
  await page.waitForSelector('#step-hub:not([hidden])');
  await page.fill('#hub-value', hub.toString());
  await page.click('#hub-try');
  await until('the hub test to pass', async () => /answered in \d+ ms/.test(await page.textContent('#hub-result')));
  await shot(page, '03-setup-hub-tested');
  await page.click('#hub-save');
  await page.waitForSelector('#step-download:not([hidden])');
  const row = page.locator('#download-list tr', { hasText: 'Arena tour' });
  await row.waitFor();
  await row.locator('button', { hasText: 'Download' }).click();
  await until('the download bar to reach 100 %', async () =>
    (await page.locator('#download-bar').evaluate((bar) => bar.value)) === 100, 60000);
  assert.match(await page.textContent('#download-label'), /done, \d+ rows verified.*\(100 %\)/);
  await shot(page, '04-setup-downloaded');
  await page.click('#download-next');
  await page.waitForSelector('#step-app:not([hidden])');
  await page.setInputFiles('#app-upload', builtApp('Crew app build one'));
  await page.click('#app-install');
  await page.waitForSelector('#step-done:not([hidden])');
  await until('the QR codes', async () => (await page.locator('#done-urls img').count()) > 0);
  await shot(page, '05-setup-done');

  // The app is at / now, behind the sign-in (this browser is signed in as admin).
  await page.goto(`${box.base}/`);
  assert.equal(await page.textContent('#app'), 'Crew app build one');

  // ---- The console ----
  await page.goto(`${box.base}/admin`);
  await page.waitForSelector('#hub-productions tr');
  // The crew passphrase changes; the crew signs in with the new one in another browser.
  await page.selectOption('#passphrase-role', 'editor');
  await page.fill('#passphrase-new', CREW_CHANGED);
  assert.match(await page.textContent('#passphrase-strength'), /strong|fair/);
  await page.click('#passphrase-form button[type=submit]');
  await until('the passphrase to be set', async () => /passphrase is set/.test(await page.textContent('#passphrase-result')));
  const crew = await browser.newContext();
  const crewPage = await crew.newPage();
  await crewPage.goto(`${box.base}/login?next=/`);
  await crewPage.fill('#passphrase', CREW);
  await crewPage.click('button[type=submit]');
  assert.match(crewPage.url(), /failed=1/, 'the old crew passphrase no longer works');
  await crewPage.fill('#passphrase', CREW_CHANGED);
  await Promise.all([crewPage.waitForURL(`${box.base}/`), crewPage.click('button[type=submit]')]);
  assert.equal(await crewPage.textContent('#app'), 'Crew app build one');
  const crewMe = await crewPage.request.get(`${box.base}/api/auth/me`);
  assert.equal((await crewMe.json()).role, 'editor');
  assert.equal((await crewPage.request.get(`${box.base}/api/admin/node`)).status(), 403, 'the crew is not admin');

  // A device token, shown once with its QR code; a tablet opens the QR link and is in.
  await page.fill('#token-name', 'FOH tablet');
  await page.selectOption('#token-role', 'editor');
  await page.click('#token-form button[type=submit]');
  await page.waitForSelector('#token-shown:not([hidden])');
  await until('the QR code to be drawn', async () =>
    page.locator('#token-qr').evaluate((img) => img.complete && img.naturalWidth > 0));
  const token = await page.textContent('#token-secret');
  assert.match(token, /^vbx_[0-9a-f]{64}$/);
  await shot(page, '06-console-token-qr');
  const tablet = await browser.newContext();
  const tabletPage = await tablet.newPage();
  await tabletPage.goto(`${box.base}/login#token=${token}`);
  await tabletPage.waitForURL(`${box.base}/`);
  assert.equal(await tabletPage.textContent('#app'), 'Crew app build one');
  assert.ok(!tabletPage.url().includes(token), 'the token leaves the address bar');
  await page.click('#token-hide');
  const tokenRow = page.locator('#tokens tr', { hasText: 'FOH tablet' });
  await until('the tablet to show as used', async () => {
    await page.click('#tokens-refresh');
    return !/never/.test(await tokenRow.textContent());
  });
  page.once('dialog', (dialog) => dialog.accept());
  await tokenRow.locator('button', { hasText: 'Revoke' }).click();
  await until('the token to be gone', async () => (await page.locator('#tokens tr', { hasText: 'FOH tablet' }).count()) === 0);
  assert.equal((await tabletPage.request.get(`${box.base}/api/auth/me`)).status(), 401, 'revoked at once');

  // The hub's productions: download again from the console, lock it.
  const hubRow = page.locator('#hub-productions tr', { hasText: 'Arena tour' });
  await hubRow.locator('button', { hasText: 'Download' }).click();
  await until('the console download to reach 100 %', async () =>
    (await page.locator('#download-bar').evaluate((bar) => bar.value)) === 100
    && /\(100 %\)/.test(await page.textContent('#download-label')), 60000);
  await hubRow.locator('button', { hasText: 'Lock' }).click();
  await until('the lock to show', async () => /Arena venue box|since/.test(
    await page.locator('#hub-productions tr', { hasText: 'Arena tour' }).locator('td').nth(5).textContent()));
  await shot(page, '07-console-downloaded-and-locked');

  // A backup now, downloaded.
  await page.click('#backup-now');
  await until('the backup to be listed', async () => (await page.locator('#backups tr').count()) > 0);
  const [backupFile] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('#backups tr').first().locator('a', { hasText: 'Download' }).click(),
  ]);
  const backupPath = join(work, 'backup.db');
  await backupFile.saveAs(backupPath);
  assert.equal(readFileSync(backupPath).subarray(0, 15).toString(), 'SQLite format 3', 'a real database file');

  // The production as .xlsx.
  await until('the production in the export list', async () =>
    (await page.locator('#export-production option').count()) > 0);
  const [workbook] = await Promise.all([page.waitForEvent('download'), page.click('#export-xlsx')]);
  const workbookPath = join(work, 'show.xlsx');
  await workbook.saveAs(workbookPath);
  assert.equal(readFileSync(workbookPath).subarray(0, 2).toString(), 'PK', 'an .xlsx (zip) file');

  // A second build of the app, live at / at once; then one click back to the first.
  await page.setInputFiles('#app-file', builtApp('Crew app build two'));
  await page.click('#app-form button[type=submit]');
  await until('the install to report', async () => /Installed/.test(await page.textContent('#app-result')));
  await crewPage.goto(`${box.base}/`);
  assert.equal(await crewPage.textContent('#app'), 'Crew app build two');
  await shot(page, '08-console-second-app');
  await page.click('#app-rollback');
  await until('the rollback to report', async () => /Serving/.test(await page.textContent('#app-result')));
  await crewPage.goto(`${box.base}/`);
  assert.equal(await crewPage.textContent('#app'), 'Crew app build one');

  // Clients and logs: this box's own log lines and the sync log are there, and no secret.
  await page.click('#activity-refresh');
  await until('log lines', async () => /serving on/.test(await page.textContent('#log-lines')));
  const logText = await page.textContent('#log-lines');
  for (const secret of [NEW_ADMIN, CREW, CREW_CHANGED, token, printedPassphrase()]) {
    assert.ok(!logText.includes(secret), 'no secret in the log lines');
  }
  await shot(page, '09-console-logs');
  // Usable on a phone: nothing makes the page wider than the screen (tables scroll inside
  // their own box).
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the console is ${overflow} px wider than a phone's screen`);
  assert.deepEqual(errors, [], 'no script errors on the box pages');
  await crew.close();
  await tablet.close();
  await admin.close();
});
