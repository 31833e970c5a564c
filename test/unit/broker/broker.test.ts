import { connect as netConnect } from 'node:net';
import { Writable } from 'node:stream';
import { connectAsync, type ErrorWithReasonCode, type ErrorWithSubackPacket } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { createBroker } from '../../../edge/broker/broker.js';
import { createMetrics } from '../../../edge/metrics.js';
import { createLogger, silentLogger } from '../../../edge/util/logger.js';
import { collect, count, fakeCredentials, nextMessage, R, ROOM, sleep, startHarness, USERS, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

async function refusal(url: string, username?: string, password?: string): Promise<number | undefined> {
  const opts = { reconnectPeriod: 0, connectTimeout: 3000, protocolVersion: 4 as const, ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}) };
  const err = await connectAsync(url, opts).then(
    async (c) => {
      await c.endAsync(true);
      return null;
    },
    (e: unknown) => e as ErrorWithReasonCode,
  );
  expect(err).not.toBeNull();
  return err?.code;
}

describe('broker: authentication', () => {
  it('accepts good credentials over TCP and WebSocket and carries messages between them', async () => {
    h = await startHarness();
    const tech = await h.connect(h.tcpUrl, 'tech', 'tech-pw');
    const kiosk = await h.connect(h.wsUrl, 'kiosk', 'kiosk-pw');
    await tech.subscribeAsync(`${R}device/+/command`, { qos: 1 });
    const got = nextMessage(tech, `${R}device/panel/command`);
    await kiosk.publishAsync(`${R}device/panel/command`, '{"id":"1","command":"power","args":{"on":true}}', { qos: 1 });
    expect((await got).payload).toBe('{"id":"1","command":"power","args":{"on":true}}');
    expect(h.ingested).toEqual([{ username: 'kiosk', topic: `${R}device/panel/command`, payload: '{"id":"1","command":"power","args":{"on":true}}' }]);
  });

  it('refuses a wrong password (return code 4) and counts it', async () => {
    h = await startHarness();
    expect(await refusal(h.tcpUrl, 'tech', 'nope')).toBe(4);
    expect(await refusal(h.wsUrl, 'ghost', 'tech-pw')).toBe(4);
    expect(await count(h.metrics.authFailures, { surface: 'mqtt' })).toBe(2);
  });

  it('refuses a client without credentials (return code 5): no anonymous access', async () => {
    h = await startHarness();
    expect(await refusal(h.tcpUrl)).toBe(5);
    expect(await refusal(h.tcpUrl, 'tech')).toBe(5);
    expect(await refusal(h.wsUrl, 'tech', '')).toBe(5);
    expect(await count(h.metrics.authFailures, { surface: 'mqtt' })).toBe(3);
  });

  it('refuses the cloud role on the local bus', async () => {
    h = await startHarness();
    expect(await refusal(h.tcpUrl, 'district', 'district-pw')).toBe(5);
  });

  it('logs the username and remote address of a failure, never the password', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _e, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    h = await startHarness({ logger: createLogger({ level: 'warn', destination }) });
    await refusal(h.tcpUrl, 'tech', 'hunter2-secret');
    const entry = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.username === 'tech');
    expect(entry).toMatchObject({ level: 40, username: 'tech', remote: '127.0.0.1' });
    expect(lines.join('')).not.toContain('hunter2-secret');
  });

  it("does not let another user take over (and kick off) a connected client's id", async () => {
    h = await startHarness();
    const kiosk = await h.connect(h.tcpUrl, 'kiosk', 'kiosk-pw', { clientId: 'kiosk-main' });
    // Another client id is fine for the same user...
    await h.connect(h.tcpUrl, 'air', 'air-pw', { clientId: 'air-1' });
    const err = await connectAsync(h.tcpUrl, { username: 'air', password: 'air-pw', clientId: 'kiosk-main', reconnectPeriod: 0, protocolVersion: 4 }).then(
      () => null,
      (e: unknown) => e as ErrorWithReasonCode,
    );
    expect(err?.code).toBe(2);
    expect(kiosk.connected).toBe(true);
  });
});

describe('broker: topic rights', () => {
  it('acknowledges and drops a device publish outside its subtree, keeps it connected, logs once per topic', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _e, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    h = await startHarness({ logger: createLogger({ level: 'warn', destination }) });
    const tech = await h.connect(h.tcpUrl, 'tech', 'tech-pw');
    await tech.subscribeAsync(`${R}#`, { qos: 1 });
    const seen = collect(tech);
    const air = await h.connect(h.tcpUrl, 'air', 'air-pw');
    let closed = false;
    air.on('close', () => (closed = true));

    // QoS 1: the callback completes (PUBACK) although the message is dropped.
    await air.publishAsync(`${R}sensor/panel/co2`, '{"value":1}', { qos: 1 });
    await air.publishAsync(`${R}sensor/panel/co2`, '{"value":2}', { qos: 1 });
    await air.publishAsync(`${R}device/panel/command`, '{"id":"x","command":"power"}', { qos: 1 });
    await air.publishAsync('classroom/other-room/sensor/air/co2', '{"value":3}', { qos: 0 });
    await air.publishAsync(`${R}sensor/air/co2`, '{"value":4}', { qos: 1, retain: true }); // retained: refused
    // A permitted publish afterwards proves the connection is alive and orders the check.
    const marker = nextMessage(tech, `${R}sensor/air/co2`);
    await air.publishAsync(`${R}sensor/air/co2`, '{"value":5}', { qos: 1 });
    expect((await marker).payload).toBe('{"value":5}');

    expect(closed).toBe(false);
    expect(air.connected).toBe(true);
    expect(seen.map((m) => m.payload)).toEqual(['{"value":5}']);
    expect(h.ingested.map((i) => i.payload)).toEqual(['{"value":5}']);
    expect(await count(h.metrics.publishesRefused, { role: 'device' })).toBe(5);
    const warnings = lines.map((l) => JSON.parse(l) as { msg: string; topic?: string }).filter((l) => l.msg.startsWith('publish refused'));
    expect(warnings.map((w) => w.topic)).toEqual([
      `${R}sensor/panel/co2`,
      `${R}device/panel/command`,
      'classroom/other-room/sensor/air/co2',
      `${R}sensor/air/co2`,
    ]);
  });

  it('does not let a client spoof an edge-owned retained state', async () => {
    h = await startHarness();
    await h.broker.publish(`${R}device/panel/state`, { deviceId: 'panel', online: true }, { retain: true });
    const kiosk = await h.connect(h.tcpUrl, 'kiosk', 'kiosk-pw');
    await kiosk.publishAsync(`${R}device/panel/state`, '{"deviceId":"panel","online":false}', { qos: 1, retain: true });
    await kiosk.publishAsync(`${R}lesson`, '{"lessonId":null}', { qos: 1, retain: true });
    const late = await h.connect(h.wsUrl, 'tech', 'tech-pw');
    const seen = collect(late);
    await late.subscribeAsync(`${R}#`, { qos: 1 });
    await sleep(100);
    expect(seen).toEqual([{ topic: `${R}device/panel/state`, payload: '{"deviceId":"panel","online":true}', retain: true }]);
    expect(await count(h.metrics.publishesRefused, { role: 'teacher' })).toBe(2);
  });

  it('applies the same rights and ingest to last-will messages', async () => {
    h = await startHarness();
    const tech = await h.connect(h.tcpUrl, 'tech', 'tech-pw');
    await tech.subscribeAsync(`${R}#`, { qos: 1 });
    const seen = collect(tech);
    const good = await h.connect(h.tcpUrl, 'air', 'air-pw', { clientId: 'air-good', will: { topic: `${R}sensor/air/online`, payload: Buffer.from('{"value":0}'), qos: 1, retain: false } });
    const bad = await h.connect(h.tcpUrl, 'air', 'air-pw', { clientId: 'air-bad', will: { topic: `${R}lesson`, payload: Buffer.from('{"lessonId":null}'), qos: 1, retain: true } });
    const got = nextMessage(tech, `${R}sensor/air/online`);
    bad.stream.destroy(); // unclean disconnects: the wills are published
    await sleep(50);
    good.stream.destroy();
    expect((await got).payload).toBe('{"value":0}');
    await sleep(50);
    expect(seen.map((m) => m.topic)).toEqual([`${R}sensor/air/online`]);
    expect(h.ingested.map((i) => i.topic)).toEqual([`${R}sensor/air/online`]);
    expect(await count(h.metrics.publishesRefused, { role: 'device' })).toBe(1);
  });

  it('negates a refused subscription (SUBACK 0x80), counts it, keeps the client connected', async () => {
    h = await startHarness();
    const air = await h.connect(h.tcpUrl, 'air', 'air-pw');
    const filters = [`${R}#`, `${R}device/air/command`, `${R}device/panel/command`, '#', '$SYS/#'];
    // mqtt.js rejects the promise when any code is 0x80; the SUBACK is on the error.
    const suback = await air.subscribeAsync(filters, { qos: 1 }).then(
      () => null,
      (e: unknown) => (e as ErrorWithSubackPacket).packet,
    );
    const granted = suback && 'granted' in suback ? (suback.granted as number[]) : [];
    expect(Object.fromEntries(filters.map((f, i) => [f, granted[i]]))).toEqual({
      [`${R}#`]: 128,
      [`${R}device/air/command`]: 1,
      [`${R}device/panel/command`]: 128,
      '#': 128,
      '$SYS/#': 128,
    });
    expect(await count(h.metrics.subscriptionsRefused, { role: 'device' })).toBe(4);
    // Still connected and receiving what it may receive, and only that.
    const seen = collect(air);
    const got = nextMessage(air, `${R}device/air/command`);
    await h.broker.publish(`${R}device/panel/command`, { id: '1', command: 'power' });
    await h.broker.publish(`${R}device/air/command`, { id: '2', command: 'read' });
    expect(JSON.parse((await got).payload)).toEqual({ id: '2', command: 'read' });
    expect(seen.map((m) => m.topic)).toEqual([`${R}device/air/command`]);
  });

  it('filters messages queued for a persistent session when another user holds its client id', async () => {
    h = await startHarness();
    const air = await h.connect(h.tcpUrl, 'air', 'air-pw', { clientId: 'shared-id', clean: false });
    await air.subscribeAsync(`${R}device/air/command`, { qos: 1 });
    await air.endAsync();
    await h.broker.publish(`${R}device/air/command`, { id: 'queued', command: 'read' }, { qos: 1 });
    // The integrator may not receive commands: the restored subscription and the queued message are refused.
    const seen: string[] = [];
    const cam = await h.connect(h.tcpUrl, 'cam', 'cam-pw', { clientId: 'shared-id', clean: false });
    cam.on('message', (t) => seen.push(t));
    await sleep(200);
    expect(seen).toEqual([]);
    expect(await count(h.metrics.subscriptionsRefused, { role: 'integrator' })).toBe(1);
  });
});

describe('broker: ingest hook and acknowledgements', () => {
  it('sends the QoS 1 PUBACK only after the ingest hook resolves', async () => {
    h = await startHarness();
    let release: () => void = () => undefined;
    let hookCalled = false;
    h.setIngest(
      () =>
        new Promise((resolve) => {
          hookCalled = true;
          release = () => resolve({ accept: true });
        }),
    );
    const kiosk = await h.connect(h.tcpUrl, 'kiosk', 'kiosk-pw');
    let acked = false;
    const pub = kiosk.publishAsync(`${R}behaviour`, '{"kind":"hand-raise","ts":1760000000000}', { qos: 1 }).then(() => (acked = true));
    for (let i = 0; i < 100 && !hookCalled; i++) await sleep(10);
    expect(hookCalled).toBe(true);
    await sleep(300);
    expect(acked).toBe(false);
    release();
    await pub;
    expect(acked).toBe(true);
  });

  it('rejects (accept:false) with a PUBACK, does not forward, counts by topic kind and reason', async () => {
    h = await startHarness();
    h.setIngest(async (_p, _t, payload) => (payload.toString().startsWith('{') ? { accept: true } : { accept: false, reason: 'schema' }));
    const tech = await h.connect(h.tcpUrl, 'tech', 'tech-pw');
    await tech.subscribeAsync(`${R}behaviour`, { qos: 1 });
    const seen = collect(tech);
    const cam = await h.connect(h.wsUrl, 'cam', 'cam-pw');
    await cam.publishAsync(`${R}behaviour`, 'garbage', { qos: 1 });
    const marker = nextMessage(tech, `${R}behaviour`);
    await cam.publishAsync(`${R}behaviour`, '{"ok":true}', { qos: 1 });
    await marker;
    expect(seen.map((m) => m.payload)).toEqual(['{"ok":true}']);
    expect(cam.connected).toBe(true);
    expect(await count(h.metrics.messagesRejected, { topic: 'behaviour', reason: 'schema' })).toBe(1);
  });

  it('disconnects without PUBACK when ingest throws; the message is redelivered on reconnect and then accepted', async () => {
    h = await startHarness();
    let calls = 0;
    h.setIngest(async () => {
      calls++;
      if (calls === 1) throw new Error('disk full');
      return { accept: true };
    });
    const tech = await h.connect(h.tcpUrl, 'tech', 'tech-pw');
    await tech.subscribeAsync(`${R}card`, { qos: 1 });
    const seen = collect(tech);
    const reader = await h.connect(h.tcpUrl, 'cam', 'cam-pw', { reconnectPeriod: 200, clientId: 'cam-1', clean: false });
    let closes = 0;
    reader.on('close', () => closes++);
    let acked = false;
    const pub = reader.publishAsync(`${R}card`, '{"reader":"door","uid":"0A1B2C3D"}', { qos: 1 }).then(() => (acked = true));
    for (let i = 0; i < 100 && closes === 0; i++) await sleep(10);
    expect(closes).toBeGreaterThanOrEqual(1);
    expect(acked).toBe(false);
    await pub; // redelivered after the automatic reconnect, accepted, acknowledged
    expect(calls).toBe(2);
    expect(h.ingested.map((i) => i.payload)).toEqual(['{"reader":"door","uid":"0A1B2C3D"}', '{"reader":"door","uid":"0A1B2C3D"}']);
    await sleep(50);
    expect(seen.map((m) => m.payload)).toEqual(['{"reader":"door","uid":"0A1B2C3D"}']);
    expect(await count(h.metrics.messagesRejected, { topic: 'card', reason: 'store-failed' })).toBe(1);
  });

  it('rejects a payload over maxPayloadBytes without calling ingest, counts it, keeps the client', async () => {
    h = await startHarness({ maxPayloadBytes: 1024 });
    const tech = await h.connect(h.tcpUrl, 'tech', 'tech-pw');
    await tech.subscribeAsync(`${R}behaviour`, { qos: 1 });
    const seen = collect(tech);
    const kiosk = await h.connect(h.wsUrl, 'kiosk', 'kiosk-pw');
    await kiosk.publishAsync(`${R}behaviour`, 'x'.repeat(1025), { qos: 1 });
    const marker = nextMessage(tech, `${R}behaviour`);
    await kiosk.publishAsync(`${R}behaviour`, 'y'.repeat(1024), { qos: 1 });
    await marker;
    expect(seen.map((m) => m.payload.length)).toEqual([1024]);
    expect(h.ingested).toHaveLength(1);
    expect(await count(h.metrics.messagesRejected, { topic: 'behaviour', reason: 'too-large' })).toBe(1);
    expect(kiosk.connected).toBe(true);
  });

  it('cuts a connection that announces a huge packet, before buffering it', async () => {
    h = await startHarness({ maxPayloadBytes: 1024 });
    const tech = await h.connect(h.tcpUrl, 'tech', 'tech-pw');
    let closed = false;
    tech.on('close', () => (closed = true));
    tech.publish(`${R}behaviour`, Buffer.alloc(200 * 1024, 1), { qos: 0 });
    for (let i = 0; i < 100 && !closed; i++) await sleep(10);
    expect(closed).toBe(true);
    expect(h.ingested).toHaveLength(0);
    expect(await count(h.metrics.messagesRejected, { topic: 'packet', reason: 'too-large' })).toBe(1);
  });

  it('cuts an unauthenticated connection that sends a giant CONNECT header', async () => {
    h = await startHarness();
    const port = Number(new URL(h.tcpUrl).port);
    const sock = netConnect(port, '127.0.0.1');
    const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
    sock.on('error', () => undefined);
    // CONNECT with remaining length 268435455 (0xFF 0xFF 0xFF 0x7F), the MQTT maximum.
    sock.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f, 0, 4]));
    await closed;
    expect(await count(h.metrics.messagesRejected, { topic: 'packet', reason: 'too-large' })).toBe(1);
  });
});

describe('broker: in-process publish and lifecycle', () => {
  it('publishes objects as JSON, retained for late subscribers, bypassing rights', async () => {
    h = await startHarness();
    await h.broker.publish(`${R}lesson`, { lessonId: 'math-3' }, { retain: true });
    await h.broker.publish(`${R}alert`, 'not retained');
    const air = await h.connect(h.wsUrl, 'air', 'air-pw');
    const got = nextMessage(air, `${R}lesson`);
    await air.subscribeAsync(`${R}lesson`, { qos: 1 });
    expect(await got).toEqual({ payload: '{"lessonId":"math-3"}', retain: true });
  });

  it('listens on every host given, on one port even when it was 0', async () => {
    const b = createBroker({ roomId: ROOM, logger: silentLogger(), metrics: createMetrics(), credentials: fakeCredentials(USERS), ingest: async () => ({ accept: true }) });
    try {
      const ports = await b.listen({ tcp: { port: 0, hosts: ['127.0.0.1', '127.0.0.2'] }, ws: { port: 0, hosts: ['127.0.0.1', '127.0.0.2'] } });
      for (const url of [`mqtt://127.0.0.1:${ports.tcpPort}`, `mqtt://127.0.0.2:${ports.tcpPort}`, `ws://127.0.0.1:${ports.wsPort}`, `ws://127.0.0.2:${ports.wsPort}`]) {
        const c = await connectAsync(url, { username: 'tech', password: 'tech-pw', reconnectPeriod: 0, connectTimeout: 2000 });
        expect(c.connected).toBe(true);
        await c.endAsync();
      }
      // Not on other addresses of this machine.
      await expect(connectAsync(`mqtt://127.0.0.3:${ports.tcpPort}`, { reconnectPeriod: 0, connectTimeout: 1000 })).rejects.toThrow();
    } finally {
      await b.close();
    }
  });

  it('closes cleanly with clients connected, and stops listening', async () => {
    h = await startHarness();
    const tech = await h.connect(h.tcpUrl, 'tech', 'tech-pw');
    const ws = await h.connect(h.wsUrl, 'kiosk', 'kiosk-pw');
    const closed = Promise.all([new Promise<void>((r) => tech.once('close', () => r())), new Promise<void>((r) => ws.once('close', () => r()))]);
    await h.broker.close();
    await closed;
    await expect(connectAsync(h.tcpUrl, { username: 'tech', password: 'tech-pw', reconnectPeriod: 0, connectTimeout: 1000 })).rejects.toThrow();
  });
});
