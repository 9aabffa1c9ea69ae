// Starts the real venuebox binary on a loopback port (mDNS off) and talks to it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io } from 'socket.io-client';

const BIN = process.env.VENUEBOX_BIN;
if (!BIN) throw new Error('set VENUEBOX_BIN to the venuebox binary');

export class Box {
  constructor(dir, child, base) {
    this.dir = dir;
    this.child = child;
    this.base = base;
    this.port = Number(new URL(base).port);
  }

  // Starts a box. `realtime` and `hub` override settings of those sections (values are TOML);
  // `port` reuses a port; `dir` a data folder.
  static async start({ realtime = {}, hub = {}, port = 0, dir, auth = 'open', env = {} } = {}) {
    dir ??= mkdtempSync(join(tmpdir(), 'venuebox-node-'));
    const config = join(dir, 'venuebox.toml');
    const section = (name, values) =>
      `[${name}]\n${Object.entries(values).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`;
    writeFileSync(config, section('realtime', realtime) + section('hub', hub));
    const child = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--no-mdns', '--auth-mode', auth,
      '--data-dir', join(dir, 'data'), '--config', config],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    const output = { log: '' };
    const base = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no start-up line:\n${output.log}`)), 60000);
      child.stderr.on('data', (chunk) => {
        output.log += chunk;
        const match = /serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(output.log);
        if (match) { clearTimeout(timer); resolve(match[1]); }
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}:\n${output.log}`)));
    });
    child.stderr.resume();
    const box = new Box(dir, child, base);
    box.output = output;
    return box;
  }

  async stop({ keepData = false } = {}) {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    if (!keepData) rmSync(this.dir, { recursive: true, force: true });
  }

  async request(method, path, body) {
    const response = await fetch(this.base + path, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  }
  post(path, body) { return this.request('POST', path, body); }
  put(path, body) { return this.request('PUT', path, body); }
  delete(path, body = { userId: 'u-rest', userName: 'REST' }) { return this.request('DELETE', path, body); }

  async production(name = 'Show') {
    const { status, body } = await this.post('/api/productions', { name, client: 'ACME' });
    if (status !== 201) throw new Error(`create production: ${status} ${JSON.stringify(body)}`);
    return body.id;
  }

  // A socket.io-client socket as the crew app opens it (WebSocket first, no polling upgrade).
  async connect(options = {}) {
    const socket = io(this.base, { transports: ['websocket', 'polling'], reconnection: false, ...options });
    await new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    return socket;
  }
}

// Resolves with the next `event` on `socket` that satisfies `test`.
export function next(socket, event, test = () => true, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, handler);
      reject(new Error(`no ${event} within ${ms} ms`));
    }, ms);
    function handler(payload) {
      if (!test(payload)) return;
      clearTimeout(timer);
      socket.off(event, handler);
      resolve(payload);
    }
    socket.on(event, handler);
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Waits until `check()` returns something truthy; fails with `what` after `ms`.
export async function until(what, check, ms = 30000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}
