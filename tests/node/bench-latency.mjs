// Delivery latency of one edit to many connected clients: N real socket.io-client
// connections join one production; each edit is a REST PUT, and every client records when
// its `entity:updated` arrives. Latency = arrival − the moment the PUT was sent.
// Usage: VENUEBOX_BIN=target/release/venuebox node bench-latency.mjs [clients] [edits]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Box, next, sleep } from './harness.mjs';

const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

const clients = Number(process.argv[2] ?? 100);
const edits = Number(process.argv[3] ?? 50);
const box = await Box.start();
try {
  const production = await box.production('Latency');
  const { body: source } = await box.post('/api/sources', { productionId: production, type: 'CAM', name: 'CAM 3' });
  const sockets = [];
  for (let i = 0; i < clients; i += 1) {
    const socket = await box.connect();
    socket.emit('production:join', { productionId: production, userId: `user-${i}`, userName: `User ${i}` });
    await next(socket, 'presence:update', (list) => list.some((u) => u.userId === `user-${i}`));
    sockets.push(socket);
  }
  await sleep(200);
  const latencies = [];
  let version = 1;
  for (let edit = 0; edit < edits; edit += 1) {
    const name = `CAM 3 take ${edit}`;
    const arrivals = sockets.map((s) => next(s, 'entity:updated', (e) => e.entity.name === name).then(() => performance.now()));
    const sent = performance.now();
    const { status } = await box.put(`/api/sources/${source.uuid}`, { name, version });
    if (status !== 200) throw new Error(`PUT answered ${status}`);
    version += 1;
    for (const arrived of await Promise.all(arrivals)) latencies.push(arrived - sent);
    await sleep(20);
  }
  latencies.sort((a, b) => a - b);
  const at = (p) => latencies[Math.round((latencies.length - 1) * p)].toFixed(2);
  const rss = rssKb(box.child.pid);
  console.log(`edit → entity:updated on ${clients} clients, ${edits} edits (${latencies.length} deliveries):`
    + ` p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms; server RSS with ${clients} sockets ${(rss / 1024).toFixed(1)} MB`);
  const out = new URL('../../target/bench/', import.meta.url).pathname;
  mkdirSync(out, { recursive: true });
  writeFileSync(`${out}realtime.json`, JSON.stringify({
    clients, edits, deliveries: latencies.length, p50Ms: Number(at(0.5)), p99Ms: Number(at(0.99)),
    maxMs: Number(at(1)), serverRssKbWithSockets: rss,
  }, null, 2));
  for (const s of sockets) s.close();
} finally {
  await box.stop();
}
