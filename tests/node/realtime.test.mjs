// The crew app's realtime protocol, exercised with the real socket.io-client 4.8.3 (and raw
// `ws` for protocol refusals) against the real venuebox binary.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { Box, next, sleep } from './harness.mjs';

describe('events and rooms', () => {
  let box;
  before(async () => { box = await Box.start(); });
  after(async () => { await box.stop(); });

  test('entity events for a source reach the room with the documented payloads', async () => {
    const production = await box.production('Entity events');
    const socket = await box.connect();
    const presence = next(socket, 'presence:update');
    socket.emit('production:join', { productionId: production, userId: 'u1', userName: 'Ann' });
    assert.deepEqual((await presence).map((u) => [u.userId, u.userName]), [['u1', 'Ann']]);

    const created = next(socket, 'entity:created');
    const { body: source } = await box.post('/api/sources', {
      productionId: production, id: 'SRC 1', type: 'LAPTOP', name: 'WIDE A',
      outputs: [{ connector: 'HDMI' }], userId: 'u2', userName: 'Bob',
    });
    const c = await created;
    assert.equal(c.entityType, 'source');
    assert.equal(c.entityId, source.uuid);
    assert.equal(c.entity.uuid, source.uuid);
    assert.equal(c.entity.outputs[0].connector, 'HDMI');
    assert.equal(c.userId, 'u2');
    assert.equal(c.userName, 'Bob');

    const updated = next(socket, 'entity:updated');
    await box.put(`/api/sources/${source.uuid}`, { name: 'WIDE B', version: 1, userId: 'u2' });
    const u = await updated;
    assert.equal(u.entity.name, 'WIDE B');
    assert.equal(u.entity.version, 2);
    assert.deepEqual(u.changes, { name: 'WIDE B' });

    const deleted = next(socket, 'entity:deleted');
    await box.delete(`/api/sources/${source.uuid}`);
    const d = await deleted;
    assert.deepEqual({ entityType: d.entityType, entityId: d.entityId }, { entityType: 'source', entityId: source.uuid });
    socket.close();
  });

  test('a new checklist item appears only through its echo, carrying uuid and display id', async () => {
    const production = await box.production('Checklist');
    const socket = await box.connect();
    socket.emit('production:join', { productionId: production, userId: 'u1', userName: 'Ann' });
    await next(socket, 'presence:update');
    const created = next(socket, 'entity:created');
    const { body: item } = await box.post('/api/checklist-items', {
      id: 'chk-1712000000000-0', productionId: production, title: 'Patch', category: 'SOURCES', completed: false,
    });
    const c = await created;
    assert.equal(c.entityType, 'checklist-item');
    assert.equal(c.entityId, 'chk-1712000000000-0');
    assert.equal(c.entity.uuid, item.uuid);
    const updated = next(socket, 'entity:updated');
    await box.put(`/api/checklist-items/${item.uuid}`, { completed: true, version: 1 });
    assert.equal(typeof (await updated).entity.completedAt, 'number');
    const deleted = next(socket, 'entity:deleted');
    await box.delete(`/api/checklist-items/${item.uuid}`);
    assert.equal((await deleted).entityId, item.uuid);
    socket.close();
  });

  test('sends and CCUs name themselves the way their pages match them', async () => {
    const production = await box.production('Ids');
    const socket = await box.connect();
    socket.emit('production:join', { productionId: production, userId: 'u1' });
    await next(socket, 'presence:update');
    let created = next(socket, 'entity:created');
    await box.post('/api/sends', { productionId: production, id: 'DST 4', name: 'SCREEN', type: 'VIDEO' });
    assert.equal((await created).entityId, 'DST 4');
    created = next(socket, 'entity:created');
    const { body: ccu } = await box.post('/api/ccus', { productionId: production, id: 'CCU 2', name: 'B' });
    assert.equal((await created).entityId, 'CCU 2');
    const deleted = next(socket, 'entity:deleted');
    await box.delete(`/api/ccus/${ccu.uuid}`);
    assert.equal((await deleted).entityId, 'CCU 2', 'the CCU page matches deletes on the display id');
    socket.close();
  });

  test('events stay in their production room', async () => {
    const mine = await box.production('Mine');
    const theirs = await box.production('Theirs');
    const socket = await box.connect();
    socket.emit('production:join', { productionId: mine, userId: 'u1' });
    await next(socket, 'presence:update');
    const seen = [];
    socket.on('entity:created', (e) => seen.push(e.entity.productionId));
    await box.post('/api/routers', { productionId: theirs, name: 'Not mine' });
    const created = next(socket, 'entity:created');
    await box.post('/api/routers', { productionId: mine, name: 'Mine' });
    await created;
    assert.deepEqual(seen, [mine]);
    socket.close();
  });

  test('the production list hears creates, updates and deletes', async () => {
    const socket = await box.connect();
    socket.emit('production-list:join', { userId: 'u1', userName: 'Ann' });
    await sleep(100);
    const created = next(socket, 'production:created');
    const { body: production } = await box.post('/api/productions', { name: 'Listed', client: 'C', userId: 'u3', userName: 'Cy' });
    const c = await created;
    assert.equal(c.production.id, production.id);
    assert.equal(c.production.name, 'Listed');
    assert.equal(c.userName, 'Cy');
    const updated = next(socket, 'production:updated');
    await box.put(`/api/productions/${production.id}`, { name: 'Renamed', version: 1 });
    const u = await updated;
    assert.equal(u.production.name, 'Renamed');
    assert.equal(u.production.loadIn, null);
    const deleted = next(socket, 'production:deleted');
    await box.delete(`/api/productions/${production.id}`);
    assert.deepEqual(await deleted, { productionId: production.id });
    socket.close();
  });

  test('global broadcasts: equipment, settings lists (once per change), global reset', async () => {
    const socket = await box.connect();
    const equipment = next(socket, 'equipment:updated');
    await box.post('/api/equipment', { category: 'monitor', manufacturer: 'Sony', model: 'PVM-X2400' });
    const e = await equipment;
    assert.equal(e.action, 'created');
    assert.equal(e.equipment.model, 'PVM-X2400');

    const added = next(socket, 'settings:connector-types-updated');
    await box.post('/api/settings/connector-types', { name: 'ST 2110' });
    assert.deepEqual(await added, { action: 'add', name: 'ST 2110' });

    const reorders = [];
    socket.on('settings:frame-rates-updated', (p) => reorders.push(p));
    await box.put('/api/settings/frame-rates/reorder', { rates: ['23.98', '24', '25'] });
    const marker = next(socket, 'settings:resolution-presets-updated');
    await box.post('/api/settings/resolutions', { name: '2560 x 1440' });
    await marker;
    assert.equal(reorders.length, 1, 'a reorder of many entries is one event');

    const reset = next(socket, 'app:global-reset');
    const { body } = await box.post('/api/server/global-reset', {});
    assert.equal(body.success, true);
    const r = await reset;
    assert.equal(typeof r.timestamp, 'number');
    assert.match(r.message, /reset/);
    socket.close();
  });

  test('production:change is relayed to the room, not to the sender', async () => {
    const production = await box.production('Relay');
    const a = await box.connect();
    const b = await box.connect();
    for (const [s, user] of [[a, 'ua'], [b, 'ub']]) {
      s.emit('production:join', { productionId: production, userId: user, userName: user });
      await next(s, 'presence:update', (list) => list.some((u) => u.userId === user));
    }
    let echoed = false;
    a.on('production:change', () => { echoed = true; });
    const relayed = next(b, 'production:change');
    a.emit('production:change', { productionId: production, userId: 'ua', changeType: 'cursor', data: { x: 1 } });
    assert.deepEqual(await relayed, { userId: 'ua', userName: 'ua', changeType: 'cursor', data: { x: 1 } });
    await sleep(100);
    assert.equal(echoed, false);
    a.close();
    b.close();
  });

  test('an acknowledged client event gets its ack', async () => {
    const socket = await box.connect();
    const answer = await socket.timeout(5000).emitWithAck('production-list:join', { userId: 'u' });
    assert.equal(answer, undefined);
    socket.close();
  });
});

describe('presence', () => {
  let box;
  before(async () => { box = await Box.start(); });
  after(async () => { await box.stop(); });

  test('a user with several sockets is listed once and stays until the last one leaves', async () => {
    const production = await box.production('Presence');
    const watcher = await box.connect();
    watcher.emit('production:join', { productionId: production, userId: 'w', userName: 'Watcher' });
    await next(watcher, 'presence:update');
    const tabs = [];
    for (let i = 0; i < 4; i += 1) {
      const tab = await box.connect();
      const seen = next(watcher, 'presence:update', (list) => list.filter((u) => u.userId === 'ann').length === 1);
      tab.emit('production:join', { productionId: production, userId: 'ann', userName: 'Ann' });
      await seen;
      tabs.push(tab);
    }
    const list = await new Promise((resolve) => {
      watcher.once('presence:update', resolve);
      tabs[0].disconnect();
    });
    assert.deepEqual(list.map((u) => u.userId).sort(), ['ann', 'w'], 'Ann stays while tabs remain');
    tabs[1].emit('production:leave', { productionId: production, userId: 'ann' });
    await next(watcher, 'presence:update');
    tabs[2].close();
    await next(watcher, 'presence:update');
    const last = next(watcher, 'presence:update', (l) => !l.some((u) => u.userId === 'ann'));
    tabs[3].close();
    assert.deepEqual((await last).map((u) => u.userId), ['w']);
    watcher.close();
  });
});

describe('dead and slow clients', () => {
  let box;
  before(async () => {
    box = await Box.start({
      realtime: { ping_interval_ms: 300, ping_timeout_ms: 700, max_queued_messages: 64, max_queued_bytes: 4194304 },
    });
  });
  after(async () => { await box.stop(); });

  test('a client that stops answering pings is dropped and leaves presence', async () => {
    const production = await box.production('Dead peer');
    const watcher = await box.connect();
    watcher.emit('production:join', { productionId: production, userId: 'w' });
    await next(watcher, 'presence:update');
    const dead = await box.connect();
    dead.emit('production:join', { productionId: production, userId: 'dead' });
    await next(watcher, 'presence:update', (l) => l.some((u) => u.userId === 'dead'));
    // Stop reading: the client sees no pings and sends no pongs.
    const tcp = dead.io.engine.transport.ws._socket;
    tcp.pause();
    const gone = await next(watcher, 'presence:update', (l) => !l.some((u) => u.userId === 'dead'));
    assert.deepEqual(gone.map((u) => u.userId), ['w']);
    const { body: info } = await box.request('GET', '/api/server/info');
    assert.equal(info.connectedClients, 1);
    tcp.resume();
    dead.close();
    watcher.close();
  });
});

// Its own box: the 700 ms ping timeout above would also cut off the *reading* client on a
// loaded CI machine (a 64 KiB frame it is slow to accept ends its session too), and the test
// is about the queue limit, not pings.
describe('a client that never reads', () => {
  let box;
  before(async () => {
    box = await Box.start({
      realtime: { ping_interval_ms: 5000, ping_timeout_ms: 10000, max_queued_messages: 64, max_queued_bytes: 4194304 },
    });
  });
  after(async () => { await box.stop(); });

  test('a flood to a client that never reads does not stop another client\'s events', async () => {
    const production = await box.production('Flood');
    const stuck = await box.connect();
    const reader = await box.connect();
    const flooder = await box.connect();
    for (const [s, user] of [[stuck, 'stuck'], [reader, 'reader'], [flooder, 'flooder']]) {
      s.emit('production:join', { productionId: production, userId: user });
      await next(s, 'presence:update', (l) => l.some((u) => u.userId === user));
    }
    const stuckClosed = new Promise((resolve) => stuck.once('disconnect', resolve));
    const stuckGone = next(reader, 'presence:update', (l) => !l.some((u) => u.userId === 'stuck'), 120000);
    const tcp = stuck.io.engine.transport.ws._socket;
    tcp.pause();
    let received = 0;
    reader.on('production:change', () => { received += 1; });
    let dropped = null;
    reader.once('disconnect', (why) => { dropped = `the reader was disconnected (${why})`; });
    flooder.once('disconnect', (why) => { dropped = `the flooder was disconnected (${why})`; });
    const chunk = 'x'.repeat(64 * 1024);
    const total = 400; // 25 MiB through the box: far past the stalled client's socket buffers and queue
    const deadline = Date.now() + 120000;
    for (let i = 0; i < total; i += 1) {
      // Flow control for the reading client only: at most 16 messages in flight to it.
      while (i - received > 16) {
        assert.equal(dropped, null);
        assert.ok(Date.now() < deadline, `reader stalled at ${received}`);
        await sleep(5);
      }
      flooder.emit('production:change', { productionId: production, userId: 'flooder', changeType: 'flood', data: chunk });
    }
    while (received < total) {
      assert.equal(dropped, null);
      assert.ok(Date.now() < deadline, `reader got ${received} of ${total}`);
      await sleep(20);
    }
    assert.equal(received, total, 'the reading client got every message');
    // The writer path still reaches the reader afterwards.
    const created = next(reader, 'entity:created');
    await box.post('/api/records', { productionId: production, name: 'After the flood' });
    assert.equal((await created).entity.name, 'After the flood');
    // The box cut the stuck client off (the room saw it leave); it learns so once it reads again.
    const presence = await stuckGone;
    assert.deepEqual(presence.map((u) => u.userId).sort(), ['flooder', 'reader']);
    tcp.resume();
    await stuckClosed;
    reader.close();
    flooder.close();
  });
});

describe('reconnecting', () => {
  test('the real client reconnects after a server restart and hears new events', async () => {
    let box = await Box.start();
    const production = await box.production('Restart');
    const socket = await box.connect({ reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 500 });
    // The app joins its show on every connect.
    socket.on('connect', () => socket.emit('production:join', { productionId: production, userId: 'u1' }));
    socket.emit('production:join', { productionId: production, userId: 'u1' });
    await next(socket, 'presence:update');
    const disconnected = new Promise((resolve) => socket.once('disconnect', resolve));
    const { dir, port } = box;
    await box.stop({ keepData: true });
    await disconnected;
    box = await Box.start({ dir, port });
    await next(socket, 'presence:update', () => true, 20000);
    const created = next(socket, 'entity:created');
    await box.post('/api/streams', { productionId: production, name: 'After restart' });
    assert.equal((await created).entity.name, 'After restart');
    socket.close();
    await box.stop();
  });
});

describe('a locked box (passphrase mode)', () => {
  let box;
  before(async () => { box = await Box.start({ auth: 'passphrase', env: { VENUEBOX_ADMIN_PASSPHRASE: 'node test admin passphrase' } }); });
  after(async () => { await box.stop(); });

  test('the handshake needs the crew\'s session cookie', async () => {
    await assert.rejects(box.connect(), 'a stranger cannot open the realtime connection');
    const login = await fetch(`${box.base}/api/auth/login`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ passphrase: 'node test admin passphrase' }),
    });
    assert.equal(login.status, 200);
    const cookie = login.headers.get('set-cookie').split(';')[0];
    const socket = await box.connect({ extraHeaders: { Cookie: cookie } });
    const created = next(socket, 'production:created');
    socket.emit('production-list:join', {});
    await sleep(100);
    const made = await fetch(`${box.base}/api/productions`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', Cookie: cookie },
      body: JSON.stringify({ name: 'Signed in' }),
    });
    assert.equal(made.status, 201);
    assert.equal((await created).production.name, 'Signed in');
    socket.close();
  });

  const ADMIN = 'node test admin passphrase';
  const EDITOR = 'node test crew passphrase';
  const VIEWER = 'node test viewer passphrase';
  async function call(method, path, body, headers = {}) {
    const response = await fetch(`${box.base}${path}`, {
      method, headers: { 'Content-Type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, headers: response.headers, body: await response.json().catch(() => null) };
  }
  async function signIn(passphrase) {
    const login = await call('POST', '/api/auth/login', { passphrase });
    assert.equal(login.status, 200, passphrase);
    return login.headers.get('set-cookie').split(';')[0];
  }
  // A socket that records when the server ends it.
  async function watched(headers) {
    const socket = await box.connect({ extraHeaders: headers });
    socket.ended = new Promise((resolve) => socket.once('disconnect', resolve));
    return socket;
  }
  const within = (promise, ms, what) => Promise.race([promise,
    sleep(ms).then(() => { throw new Error(`${what} not within ${ms} ms`); })]);

  test('a revoked token, a signed-out session and a rotated passphrase end their open sockets at once', async () => {
    const admin = await signIn(ADMIN);
    for (const [role, passphrase] of [['editor', EDITOR], ['viewer', VIEWER]]) {
      assert.equal((await call('POST', '/api/auth/passphrases', { role, passphrase }, { Cookie: admin })).status, 200);
    }
    const minted = await call('POST', '/api/auth/tokens', { role: 'editor', name: 'FOH laptop' }, { Cookie: admin });
    assert.equal(minted.status, 201);
    const byToken = await watched({ Authorization: `Bearer ${minted.body.token}` });
    const editor = await signIn(EDITOR);
    const bySession = await watched({ Cookie: editor });
    const editorToo = await signIn(EDITOR);
    const byOtherSession = await watched({ Cookie: editorToo });
    const viewer = await signIn(VIEWER);
    const byViewer = await watched({ Cookie: viewer });

    assert.equal((await call('DELETE', `/api/auth/tokens/${minted.body.id}`, undefined, { Cookie: admin })).status, 200);
    await within(byToken.ended, 2000, 'the revoked token\'s socket ending');
    assert.equal(bySession.connected, true, 'other credentials keep their sockets');

    assert.equal((await call('POST', '/logout', undefined, { Cookie: editor })).status, 200);
    await within(bySession.ended, 2000, 'the signed-out session\'s socket ending');
    assert.equal(byOtherSession.connected, true);

    assert.equal((await call('POST', '/api/auth/passphrases', { role: 'editor', passphrase: 'node test new crew passphrase' }, { Cookie: admin })).status, 200);
    await within(byOtherSession.ended, 2000, 'the rotated role\'s socket ending');
    assert.equal(byViewer.connected, true, 'another role\'s sessions are untouched');
    // And it cannot come back: the credential is gone.
    await assert.rejects(box.connect({ extraHeaders: { Cookie: editorToo } }));
    byViewer.close();
  });

  test('a viewer cannot relay changes to the crew, and nobody can speak as someone else', async () => {
    const admin = await signIn(ADMIN);
    assert.equal((await call('POST', '/api/auth/passphrases', { role: 'viewer', passphrase: VIEWER }, { Cookie: admin })).status, 200);
    const made = await call('POST', '/api/productions', { name: 'Relay' }, { Cookie: admin });
    const production = made.body.id;
    const crew = await box.connect({ extraHeaders: { Cookie: admin } });
    crew.emit('production:join', { productionId: production, userId: 'u-crew', userName: 'Crew' });
    await next(crew, 'presence:update');
    const viewer = await box.connect({ extraHeaders: { Cookie: await signIn(VIEWER) } });
    viewer.emit('production:join', { productionId: production, userId: 'u-viewer', userName: 'Viewer' });
    await next(crew, 'presence:update', (users) => users.length === 2);

    const relayed = [];
    crew.on('production:change', (change) => relayed.push(change));
    viewer.emit('production:change', { productionId: production, userId: 'u-crew', userName: 'Crew', changeType: 'x', data: {} });
    // Presence and relays name a socket by its credential: a second session for the sender.
    const editorSocket = await box.connect({ extraHeaders: { Cookie: await signIn(ADMIN) } });
    editorSocket.emit('production:join', { productionId: production, userId: 'u-admin', userName: 'Admin' });
    await next(crew, 'presence:update', (users) => users.length === 3);
    const change = next(crew, 'production:change');
    editorSocket.emit('production:change', { productionId: production, userId: 'u-crew', userName: 'Admin', changeType: 'y', data: { a: 1 } });
    const seen = await change;
    assert.equal(seen.changeType, 'y', 'the viewer\'s change was not relayed');
    assert.equal(relayed.length, 1);
    assert.match(seen.userId, /^session:[0-9a-f]{8}$/, 'the sender is named by its credential, not by the id it claimed');
    for (const socket of [crew, viewer, editorSocket]) socket.close();
  });
});

describe('protocol refusals (raw WebSocket and HTTP)', () => {
  let box;
  before(async () => { box = await Box.start(); });
  after(async () => { await box.stop(); });

  const url = (query) => `${box.base.replace('http', 'ws')}/socket.io/?${query}`;

  function open(query = 'EIO=4&transport=websocket') {
    const ws = new WebSocket(url(query));
    const frames = [];
    const waiters = [];
    ws.on('message', (data, isBinary) => {
      const frame = isBinary ? data : data.toString();
      const waiter = waiters.shift();
      if (waiter) waiter(frame); else frames.push(frame);
    });
    const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    const frame = () => (frames.length ? Promise.resolve(frames.shift()) : new Promise((resolve) => waiters.push(resolve)));
    return { ws, frame, closed, ready: new Promise((resolve) => ws.on('open', resolve)) };
  }

  test('handshake, connect, ping/pong and event framing', async () => {
    const c = open();
    await c.ready;
    const handshake = JSON.parse((await c.frame()).slice(1));
    assert.equal(handshake.pingInterval, 25000);
    assert.equal(handshake.pingTimeout, 20000);
    assert.equal(handshake.maxPayload, 1000000);
    assert.deepEqual(handshake.upgrades, []);
    c.ws.send('40');
    const connected = await c.frame();
    assert.match(connected, /^40\{"sid":"[0-9a-f]+"\}$/);
    c.ws.send('2probe');
    assert.equal(await c.frame(), '3probe');
    c.ws.send('421["production-list:join",{}]');
    assert.equal(await c.frame(), '431[]');
    c.ws.close();
  });

  test('another namespace is refused with CONNECT_ERROR', async () => {
    const c = open();
    await c.ready;
    await c.frame();
    c.ws.send('40/admin,');
    assert.equal(await c.frame(), '44/admin,{"message":"Invalid namespace"}');
    c.ws.close();
  });

  test('binary frames and binary packets close the connection cleanly', async () => {
    for (const send of [(ws) => ws.send(Buffer.from([1, 2, 3])), (ws) => ws.send('451-["x",{"_placeholder":true,"num":0}]')]) {
      const c = open();
      await c.ready;
      await c.frame();
      c.ws.send('40');
      await c.frame();
      send(c.ws);
      const { code } = await c.closed;
      assert.equal(code, 1003);
    }
  });

  test('garbage closes with a protocol error, the server keeps serving', async () => {
    const c = open();
    await c.ready;
    await c.frame();
    c.ws.send('4{not a packet');
    assert.equal((await c.closed).code, 1002);
    const { status } = await box.request('GET', '/api/health');
    assert.equal(status, 200);
  });

  test('polling, old protocol versions and unknown sessions get Engine.IO errors', async () => {
    for (const [query, code] of [['EIO=4&transport=polling', 0], ['EIO=3&transport=websocket', 5],
      ['EIO=4&transport=websocket&sid=abc', 1]]) {
      const response = await fetch(`${box.base}/socket.io/?${query}`);
      assert.equal(response.status, 400);
      const body = await response.json();
      assert.equal(body.code, code, query);
      assert.equal(typeof body.message, 'string');
    }
  });
});
