// The status page as a crew member uses it, in Debian's Chromium driven by playwright-core:
// sign in, watch the queue grow while the hub is unreachable, watch it drain when the hub
// returns, and resolve the conflict that the outage caused. Two real boxes and a real
// PostgreSQL hub (a fresh database, dropped after); the outage is a TCP proxy we cut.
// Screenshots land in target/screenshots/ for a person to look at.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { Box, until } from './harness.mjs';

const PG = process.env.VENUEBOX_TEST_PG;
if (!PG) throw new Error('set VENUEBOX_TEST_PG (scripts/test.sh does) to a PostgreSQL server URL');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = new URL('../../target/screenshots/', import.meta.url).pathname;
const PASSPHRASE = 'status page test passphrase';

// A TCP proxy to PostgreSQL that can be cut: `down()` drops every connection and refuses
// new ones, as a venue uplink that dies.
class Outage {
  constructor(target) {
    this.target = target;
    this.up = true;
    this.sockets = new Set();
    this.server = net.createServer((client) => {
      if (!this.up) return client.destroy();
      const upstream = net.connect(target.port, target.host);
      for (const [a, b] of [[client, upstream], [upstream, client]]) {
        this.sockets.add(a);
        a.on('error', () => b.destroy());
        a.on('close', () => { this.sockets.delete(a); b.destroy(); });
        a.pipe(b);
      }
    });
  }
  listen() {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => resolve(this.server.address().port)));
  }
  down() {
    this.up = false;
    for (const socket of this.sockets) socket.destroy();
  }
  restore() { this.up = true; }
  close() { this.down(); this.server.close(); }
}

const database = `venuebox_admin_page_${process.pid}_${Date.now()}`;
const hubUrl = new URL(PG);
const psql = (sql) => execFileSync('psql', [PG, '-qAtc', sql], { encoding: 'utf8' });
let outage, venue, office, browser, page;

before(async () => {
  psql(`CREATE DATABASE ${database}`);
  outage = new Outage({ host: hubUrl.hostname, port: Number(hubUrl.port || 5432) });
  const proxied = new URL(PG);
  proxied.port = String(await outage.listen());
  proxied.pathname = `/${database}`;
  const direct = new URL(PG);
  direct.pathname = `/${database}`;
  // The venue box, locked with a passphrase, reaches the hub through the cuttable uplink.
  venue = await Box.start({
    auth: 'passphrase',
    env: { VENUEBOX_ADMIN_PASSPHRASE: PASSPHRASE },
    hub: { url: `"${proxied}"`, sync_interval: '"1s"' },
  });
  // The office box is always online and sees every production.
  office = await Box.start({ hub: { url: `"${direct}"`, sync_interval: '"1s"', scope: '"all"' } });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // As root in a container Chromium needs --no-sandbox; the rest keeps it off the network.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await venue?.stop();
  await office?.stop();
  outage?.close();
  psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
});

const text = (id) => page.locator(`#${id}`).textContent();

test('sign in, see the queue grow while the hub is down and drain when it returns, resolve the conflict', async () => {
  // A stranger is sent to the sign-in page; the passphrase leads back to /admin.
  await page.goto(`${venue.base}/admin`);
  assert.match(page.url(), /\/login\?next=(\/|%2F)admin$/);
  await page.fill('#passphrase', PASSPHRASE);
  await Promise.all([page.waitForURL(`${venue.base}/admin`), page.click('button[type=submit]')]);
  await until('the page to show the hub online', async () => /^online/.test(await text('sync-state')));
  assert.equal(await text('clients'), '0');
  assert.match(await text('disk'), /database .* free of /);
  const qr = page.locator('#urls img');
  assert.equal(await qr.count(), 1);
  assert.equal(await qr.evaluate((img) => img.complete && img.naturalWidth > 0), true, 'the QR code is drawn');
  assert.equal(await page.locator('#urls figcaption').textContent(), `${venue.base}/`);

  // Show data made on the venue box reaches the office through the hub. The page's session
  // cookie signs these calls too (page.request shares the browser's cookies).
  const api = (method, path, data) =>
    page.request.fetch(`${venue.base}${path}`, { method, data }).then(async (r) => {
      assert.ok(r.ok(), `${method} ${path}: ${r.status()} ${await r.text()}`);
      return r.json();
    });
  const production = await api('POST', '/api/productions', { name: 'Arena tour', client: 'ACME' });
  const camera = await api('POST', '/api/sources', { productionId: production.id, name: 'CAM 1', type: 'CAMERA' });
  await until('the office to receive the camera', async () => {
    const response = await fetch(`${office.base}/api/sources/production/${production.id}`);
    return response.ok && (await response.json()).some((s) => s.uuid === camera.uuid);
  });
  await until('the queue to be empty', async () => (await text('queue')) === 'empty');
  await page.screenshot({ path: `${SHOTS}admin-1-online.png`, fullPage: true });

  // The uplink dies. The crew keeps working; the page shows the queue growing.
  outage.down();
  await until('the page to show the hub unreachable', async () => /^hub unreachable/.test(await text('sync-state')));
  await api('PUT', `/api/sources/${camera.uuid}`, { name: 'CAM 1 (venue)' });
  await api('POST', '/api/sources', { productionId: production.id, name: 'CAM 2', type: 'CAMERA' });
  await api('POST', '/api/sources', { productionId: production.id, name: 'CAM 3', type: 'CAMERA' });
  await until('the queue to show 3 changes', async () => /^3 change\(s\), oldest /.test(await text('queue')));
  // Meanwhile the office renames the same camera: a concurrent edit of the same field.
  const renamed = await fetch(`${office.base}/api/sources/${camera.uuid}`, {
    method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'CAM 1 (office)' }),
  });
  assert.equal(renamed.status, 200);
  await page.screenshot({ path: `${SHOTS}admin-2-hub-down-queue-growing.png`, fullPage: true });

  // The uplink returns: the queue drains by itself and the overwritten name is kept as a
  // conflict for a person to decide.
  outage.restore();
  await until('the queue to drain', async () => (await text('queue')) === 'empty');
  await until('the page to show the hub online again', async () => /^online/.test(await text('sync-state')));
  await until('one conflict on the page', async () => (await text('conflict-count')) === '1');
  const row = page.locator('#conflicts tr');
  assert.equal(await row.count(), 1);
  const cells = await row.locator('td').allTextContents();
  assert.equal(cells[1], 'name');
  // The office's edit came later, so it won; the venue's name is the overwritten one.
  assert.deepEqual([cells[3], cells[4]], ['CAM 1 (office)', 'CAM 1 (venue)']);
  await page.screenshot({ path: `${SHOTS}admin-3-drained-one-conflict.png`, fullPage: true });

  // The crew chief takes the venue's name; the decision syncs to the office.
  await row.locator('button', { hasText: 'Take overwritten' }).click();
  await until('the conflict list to empty', async () => (await text('conflict-count')) === '0');
  const current = await api('GET', `/api/sources/${camera.uuid}`);
  assert.equal(current.name, 'CAM 1 (venue)');
  await until('the office to get the resolved name', async () => {
    const response = await fetch(`${office.base}/api/sources/${camera.uuid}`);
    return response.ok && (await response.json()).name === 'CAM 1 (venue)';
  });
  await until('the queue to drain after the resolution', async () => (await text('queue')) === 'empty');
  await page.screenshot({ path: `${SHOTS}admin-4-resolved.png`, fullPage: true });
});
