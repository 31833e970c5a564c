/**
 * The district link end to end against Debian's mosquitto over TLS with
 * client certificates and an ACL: the edge uplink (real store in a temp dir)
 * and the reference cloud's ingest workers.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CloudConfig } from '../../edge/config/schema.js';
import { ACKED_SEQ_KEY } from '../../edge/privacy/retention.js';
import { openStore, type Store } from '../../edge/store/index.js';
import { systemClock } from '../../edge/util/clock.js';
import { silentLogger } from '../../edge/util/logger.js';
import { CloudStore } from '../../sync/cloud/store.js';
import { IngestWorker } from '../../sync/cloud/worker.js';
import { districtTopics, encodeMessage, type Batch } from '../../sync/protocol.js';
import { Uplink } from '../../sync/uplink.js';
import { DatasetDownlink, datasetResultSchema, datasetTopics, type DatasetResult } from '../../sync/datasets-downlink.js';
import { Datasets } from '../../edge/lessons/datasets.js';
import { roster as lessonRoster } from '../unit/lessons/fixtures.js';
import { edgeCloudYaml, startDistrictBroker, type DistrictBroker } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/peers.js';
import { startRoom, tempRoom } from '../helpers/room.js';
import { CLI, requireBuilt } from '../helpers/cli.js';

const logger = silentLogger();

let broker: DistrictBroker;
let dir: string;
const stores: Store[] = [];
const uplinks: Uplink[] = [];
const workers: IngestWorker[] = [];
let cloud: CloudStore;

beforeEach(async () => {
  broker = await startDistrictBroker({ rooms: ['r1', 'r2'], workers: ['cloud-worker-1', 'cloud-worker-2'] });
  dir = mkdtempSync(join(tmpdir(), 'ce-sync-'));
  cloud = await CloudStore.open(join(dir, 'cloud.db'));
});

afterEach(async () => {
  for (const u of uplinks.splice(0)) await u.stop();
  for (const w of workers.splice(0)) await w.stop({ force: true });
  for (const s of stores.splice(0)) await s.close();
  await cloud.close();
  await broker.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

function edgeStore(roomId: string): Store {
  const s = openStore({ path: join(dir, `${roomId}.db`), roomId, logger, clock: systemClock, flushIntervalMs: 0 });
  stores.push(s);
  return s;
}

function cloudConfig(roomId: string, over: Partial<CloudConfig> = {}): CloudConfig {
  const cert = broker.rooms[roomId]!;
  return {
    url: broker.url,
    certFile: cert.certFile,
    keyFile: cert.keyFile,
    caFile: broker.caFile,
    batch: { maxEvents: 50, lingerMs: 20 },
    ackTimeoutMs: 2000,
    maxInFlight: 4,
    ...over,
  };
}

function startUplink(roomId: string, store: Store, over: Partial<CloudConfig> = {}): Uplink {
  const u = new Uplink({ roomId, store, config: cloudConfig(roomId, over), logger, clock: systemClock, reconnect: { minMs: 100, maxMs: 500 } });
  u.start();
  uplinks.push(u);
  return u;
}

async function startWorker(id = 'cloud-worker-1', statusTopics = true): Promise<IngestWorker> {
  const cert = broker.workers[id]!;
  const w = new IngestWorker({
    broker: { url: broker.url, certFile: cert.certFile, keyFile: cert.keyFile, caFile: broker.caFile },
    clientId: id,
    store: cloud,
    logger,
    statusTopics,
    reconnect: { minMs: 100, maxMs: 500 },
  });
  await w.start();
  workers.push(w);
  return w;
}

async function commitEvents(store: Store, n: number, from = 0): Promise<void> {
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      store.write((tx) => tx.appendEvent({ stream: 'sensor', type: 'sensor/reading', entityId: from + i, payload: { i: from + i, value: 21.5 }, ts: Date.now() })),
    ),
  );
}

/** A client with a cloud worker's certificate that publishes acks by hand (no worker runs in these tests). */
function forgerClient(): Promise<mqtt.MqttClient> {
  const cert = broker.workers['cloud-worker-2']!;
  return mqtt.connectAsync(broker.url, {
    clientId: 'cloud-worker-2',
    cert: readFileSync(cert.certFile),
    key: readFileSync(cert.keyFile),
    ca: readFileSync(broker.caFile),
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
}

function metaAcked(store: Store): number {
  const row = store.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(ACKED_SEQ_KEY);
  return row ? Number(row.value) : 0;
}

/** Every seq 1..n exactly once, in order, with the edge's payloads. */
async function expectExactlyOnce(roomId: string, store: Store, n: number): Promise<void> {
  const rows = await cloud.events(roomId);
  expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  expect(new Set(rows.map((r) => r.storeId))).toEqual(new Set([store.storeId]));
  const local = store.eventsAfter(0, 10_000);
  expect(rows.map((r) => JSON.parse(r.payload))).toEqual(local.map((e) => JSON.parse(e.payload)));
}

async function settleAcked(store: Store, n: number, ms = 20_000): Promise<void> {
  await waitFor(() => metaAcked(store) === n, ms, `sync.ackedSeq to reach ${n} (is ${metaAcked(store)}); broker log:\n${broker.log()}`);
}

describe('district sync over mosquitto (TLS client certificates, ACL)', () => {
  it('a room\'s events arrive exactly once in seq order and sync.ackedSeq advances', async () => {
    const store = edgeStore('r1');
    await startWorker();
    const uplink = startUplink('r1', store);
    uplink.telemetry('panel', { online: true, state: { power: true } });
    await commitEvents(store, 437);
    await settleAcked(store, 437);
    await expectExactlyOnce('r1', store, 437);
    expect(await cloud.ackedSeq('r1', store.storeId)).toBe(437);
    const s = uplink.stats();
    expect(s).toMatchObject({ connected: true, ackedSeq: 437, lastSeq: 437, backlog: 0 });
    expect(s.lastAckAt).not.toBeNull();
    // Status (retained online) and the device's telemetry reached room_status.
    await waitFor(async () => (await cloud.roomStatus('r1')).length === 2, 5000, 'status and telemetry');
    const status = await cloud.roomStatus('r1');
    expect(status.map((r) => r.key)).toEqual(['device:panel', 'status']);
    expect(JSON.parse(status[1]!.payload)).toMatchObject({ state: 'online', roomId: 'r1' });
    // More events later: the uplink wakes up by itself.
    await commitEvents(store, 13, 437);
    await settleAcked(store, 450);
    await expectExactlyOnce('r1', store, 450);
  });

  it('a room certificate cannot publish into another room\'s topics, nor claim another room in its own', async () => {
    const worker = await startWorker();
    const cert = broker.rooms.r1!;
    const intruder = await mqtt.connectAsync(broker.url, {
      clientId: 'intruder-r1',
      cert: readFileSync(cert.certFile),
      key: readFileSync(cert.keyFile),
      ca: readFileSync(broker.caFile),
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    const forged: Batch = {
      v: 1,
      roomId: 'r2',
      storeId: 'forged',
      batchId: 'x',
      firstSeq: 1,
      lastSeq: 1,
      events: [{ seq: 1, stream: 'card', type: 'card/tap', entityId: '1', payload: { uid: 'FFFF' }, ts: Date.now(), clockSynced: false, bootId: 'b' }],
      sentAt: Date.now(),
    };
    // Into room r2's topic: mosquitto drops it (MQTT 3.1.1 has no error for a denied publish).
    await intruder.publishAsync(districtTopics('r2').events, encodeMessage(forged), { qos: 1 });
    await intruder.publishAsync(districtTopics('r2').status, JSON.stringify({ v: 1, roomId: 'r2', state: 'offline' }), { qos: 1, retain: true });
    // Into its own topic, claiming to be r2: the worker rejects it.
    await intruder.publishAsync(districtTopics('r1').events, encodeMessage(forged), { qos: 1 });
    await waitFor(() => (worker.stats().rejected['room-mismatch'] ?? 0) === 1, 5000, 'the room mismatch to be counted');
    await new Promise((r) => setTimeout(r, 500));
    expect(await cloud.events('r2')).toEqual([]);
    expect(await cloud.events('r1')).toEqual([]);
    expect(await cloud.roomStatus('r2')).toEqual([]);
    expect(worker.stats().batches).toBe(0);
    await intruder.endAsync();
  });

  it('cloud broker down while the edge keeps committing: after a restart on the same port everything arrives exactly once', async () => {
    const store = edgeStore('r1');
    await startWorker();
    const uplink = startUplink('r1', store);
    await commitEvents(store, 120);
    await settleAcked(store, 120);
    await broker.kill();
    await waitFor(() => !uplink.stats().connected, 10_000, 'the uplink to notice');
    await commitEvents(store, 300, 120);
    expect(uplink.stats().backlog).toBe(300);
    await broker.start();
    await settleAcked(store, 420, 30_000);
    await expectExactlyOnce('r1', store, 420);
  }, 60_000);

  it('messages published while the broker is down are sent after the reconnect; stop() returns with the link down', async () => {
    const store = edgeStore('r1');
    // A slow first reconnect, so that the district's listener below is subscribed before the room is back.
    const uplink = new Uplink({ roomId: 'r1', store, config: cloudConfig('r1'), logger, clock: systemClock, reconnect: { minMs: 3000, maxMs: 3000 } });
    uplink.start();
    uplinks.push(uplink);
    await waitFor(() => uplink.stats().connected, 10_000, 'the uplink');
    await broker.kill();
    await waitFor(() => !uplink.stats().connected, 10_000, 'the uplink to notice');
    // QoS 1 messages while the link is down (a command result, a config result): mqtt.js keeps them.
    const topic = districtTopics('r1').commandResults;
    for (let i = 0; i < 20; i++) uplink.publishUp(topic, { n: i });
    await broker.start();
    const cert = broker.workers['cloud-worker-1']!;
    const listener = await mqtt.connectAsync(broker.url, { clientId: 'listener', cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile), ca: readFileSync(broker.caFile), protocolVersion: 4, reconnectPeriod: 0 });
    const got: number[] = [];
    listener.on('message', (_t, p) => got.push((JSON.parse(p.toString()) as { n: number }).n));
    await listener.subscribeAsync(topic, { qos: 1 });
    expect(uplink.stats().connected).toBe(false);
    // Resent after the reconnect (mqtt.js's reconnect() without its stores used to drop them).
    await waitFor(() => got.length >= 20, 20_000, `the 20 messages (got ${got.length})`);
    expect([...new Set(got)].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await listener.endAsync();
    // Down again with a message pending: stop() does not wait for an acknowledgement that cannot come.
    await broker.kill();
    await waitFor(() => !uplink.stats().connected, 10_000, 'the uplink to notice again');
    uplink.publishUp(topic, { n: 20 });
    const stopped = await Promise.race([uplink.stop().then(() => 'stopped'), new Promise((r) => setTimeout(() => r('hung'), 10_000))]);
    expect(stopped).toBe('stopped');
  }, 60_000);

  it('a device the room removes is forgotten: its retained telemetry is cleared and the cloud drops it', async () => {
    const store = edgeStore('r1');
    await startWorker();
    const uplink = startUplink('r1', store);
    uplink.telemetry('panel', { online: true });
    uplink.telemetry('proj', { online: false, lastError: { message: 'unreachable' } });
    await waitFor(async () => (await cloud.roomStatus('r1')).filter((r) => r.key.startsWith('device:')).length === 2, 10_000, 'both devices');
    uplink.forgetTelemetry('proj');
    await waitFor(async () => !(await cloud.roomStatus('r1')).some((r) => r.key === 'device:proj'), 10_000, 'proj forgotten');
    expect((await cloud.roomStatus('r1')).map((r) => r.key)).toEqual(['device:panel', 'status']);
    // Cleared at the broker too: a late subscriber gets no retained proj telemetry. Retained messages
    // come right after the SUBACK, so a marker sent after subscribing arrives behind any of them.
    const cert = broker.workers['cloud-worker-2']!;
    const late = await mqtt.connectAsync(broker.url, { clientId: 'late', cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile), ca: readFileSync(broker.caFile), protocolVersion: 4, reconnectPeriod: 0 });
    const seen: string[] = [];
    late.on('message', (t) => seen.push(t));
    await late.subscribeAsync([districtTopics('r1').telemetry('proj'), districtTopics('r1').telemetry('panel')], { qos: 1 });
    await late.subscribeAsync('district/test/marker', { qos: 1 });
    await late.publishAsync('district/test/marker', 'm', { qos: 1 });
    await waitFor(() => seen.includes('district/test/marker'), 5000, 'the marker');
    expect(seen).toEqual([districtTopics('r1').telemetry('panel'), 'district/test/marker']);
    await late.endAsync();
    expect(workers[0]!.stats().rejected).toEqual({});
  });

  it('the worker killed mid-stream and restarted: no loss, no duplicate rows', async () => {
    const store = edgeStore('r1');
    let worker = await startWorker();
    startUplink('r1', store, { batch: { maxEvents: 20, lingerMs: 10 } });
    await commitEvents(store, 2000);
    await waitFor(async () => (await cloud.events('r1')).length >= 200, 20_000, 'part of the stream');
    await worker.stop({ force: true });
    workers.splice(workers.indexOf(worker), 1);
    const atKill = (await cloud.events('r1')).length;
    expect(atKill).toBeLessThan(2000);
    await new Promise((r) => setTimeout(r, 300));
    worker = await startWorker();
    await settleAcked(store, 2000, 40_000);
    await expectExactlyOnce('r1', store, 2000);
  }, 60_000);

  it('two workers on the shared subscription both get work; every event is in the table once', async () => {
    const a = await startWorker('cloud-worker-1', true);
    const b = await startWorker('cloud-worker-2', false);
    const s1 = edgeStore('r1');
    const s2 = edgeStore('r2');
    startUplink('r1', s1, { batch: { maxEvents: 10, lingerMs: 10 } });
    startUplink('r2', s2, { batch: { maxEvents: 10, lingerMs: 10 } });
    await Promise.all([commitEvents(s1, 600), commitEvents(s2, 400)]);
    await Promise.all([settleAcked(s1, 600, 40_000), settleAcked(s2, 400, 40_000)]);
    await expectExactlyOnce('r1', s1, 600);
    await expectExactlyOnce('r2', s2, 400);
    expect(a.stats().batches).toBeGreaterThan(0);
    expect(b.stats().batches).toBeGreaterThan(0);
  }, 60_000);

  it('a corrupt batch published by a room is rejected and counted; the link stays up', async () => {
    const worker = await startWorker();
    const store = edgeStore('r1');
    const uplink = startUplink('r1', store);
    const cert = broker.rooms.r1!;
    const bad = await mqtt.connectAsync(broker.url, {
      clientId: 'bad-r1',
      cert: readFileSync(cert.certFile),
      key: readFileSync(cert.keyFile),
      ca: readFileSync(broker.caFile),
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    const topic = districtTopics('r1').events;
    await bad.publishAsync(topic, Buffer.from('{"v":1,"roomId":"r1"'), { qos: 1 });
    await bad.publishAsync(topic, Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0]), { qos: 1 });
    await bad.publishAsync(topic, Buffer.from('garbage'), { qos: 1 });
    await bad.publishAsync(topic, JSON.stringify({ v: 1, roomId: 'r1' }), { qos: 1 });
    await waitFor(() => Object.values(worker.stats().rejected).reduce((x, y) => x + y, 0) === 4, 5000, 'four rejections');
    expect(worker.stats().rejected).toEqual({ 'not-json': 2, 'bad-gzip': 1, invalid: 1 });
    await bad.endAsync();
    await commitEvents(store, 75);
    await settleAcked(store, 75);
    await expectExactlyOnce('r1', store, 75);
    expect(worker.stats().connected).toBe(true);
    expect(uplink.stats().connected).toBe(true);
  });

  it('sync.ackedSeq moves only forward, only on an ack for this store, never beyond the log', async () => {
    const store = edgeStore('r1');
    const uplink = startUplink('r1', store); // no worker: nothing acknowledges but the forger below
    await commitEvents(store, 10);
    await waitFor(() => uplink.stats().connected, 5000, 'the uplink to connect');
    const cloudClient = await forgerClient();
    const ack = (storeId: string, ackedSeq: number) =>
      cloudClient.publishAsync(districtTopics('r1').ack, JSON.stringify({ v: 1, roomId: 'r1', storeId, ackedSeq, ts: Date.now() }), { qos: 1 });
    await ack('another-store', 7);
    await ack(store.storeId, 99); // beyond the log
    await cloudClient.publishAsync(districtTopics('r1').ack, 'not an ack', { qos: 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect(metaAcked(store)).toBe(0);
    expect(uplink.stats().errors).toBeGreaterThanOrEqual(2);
    await ack(store.storeId, 6);
    await waitFor(() => metaAcked(store) === 6, 5000, 'ack 6 to be stored');
    await ack(store.storeId, 4); // lower: ignored
    await new Promise((r) => setTimeout(r, 300));
    expect(metaAcked(store)).toBe(6);
    expect(uplink.stats()).toMatchObject({ ackedSeq: 6, backlog: 4 });
    await cloudClient.endAsync();
  });

  it("the district's clock is learnt from acks of events appended since the connect, not from acks that waited in the session", async () => {
    const store = edgeStore('r1');
    await commitEvents(store, 10);
    const uplink = startUplink('r1', store); // no worker: the acks below are the only ones
    await waitFor(() => uplink.stats().connected, 5000, 'the uplink to connect');
    const cloudClient = await forgerClient();
    const ack = (ackedSeq: number, ts: number) =>
      cloudClient.publishAsync(districtTopics('r1').ack, JSON.stringify({ v: 1, roomId: 'r1', storeId: store.storeId, ackedSeq, ts }), { qos: 1 });
    const DAY = 86_400_000;
    // Seq 10 was in the log at the connect: an ack of it may be one sent before a power cut two days ago.
    await ack(10, Date.now() - 2 * DAY);
    await waitFor(() => metaAcked(store) === 10, 5000, 'ack 10 to be stored');
    expect(uplink.districtTime.now()).toBeUndefined();
    // Seq 11 is appended after the connect: its ack was sent during this connection. The district's clock is an hour ahead.
    await commitEvents(store, 1, 10);
    await ack(11, Date.now() + 3_600_000);
    await waitFor(() => metaAcked(store) === 11, 5000, 'ack 11 to be stored');
    expect(Math.abs(uplink.districtTime.now()! - (Date.now() + 3_600_000))).toBeLessThan(1000);
    await cloudClient.endAsync();
  });

  it('the service starts the uplink when cloud is configured: events reach the cloud, /health shows the link', async () => {
    const worker = await startWorker();
    const cert = broker.rooms.r1!;
    const room = tempRoom({
      roomId: 'r1',
      devicesYaml: '  - { id: panel, kind: display, driver: samsung-mdc, transport: { type: sim }, options: { displayId: 1 } }',
    });
    const yaml = `${room.yaml}
${edgeCloudYaml(broker, cert)}`;
    const svc = await startRoom({ ...room, yaml });
    try {
      expect(svc.sync).not.toBeNull();
      await svc.store.recordReading({ device: 'air', metric: 'co2', value: 612, unit: 'ppm', ts: Date.now() });
      const last = svc.store.lastSeq();
      await waitFor(() => svc.sync!.stats().ackedSeq === last, 10_000, 'the service uplink to be acknowledged');
      expect((await cloud.events('r1')).map((e) => e.seq)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
      const health = (await (await fetch(`http://127.0.0.1:${svc.ports.api}/health`)).json()) as { sync?: { connected: boolean; ackedSeq: number } };
      expect(health.sync).toMatchObject({ connected: true, ackedSeq: last });
      await waitFor(async () => (await cloud.roomStatus('r1')).some((r) => r.key === 'device:panel'), 10_000, 'the panel telemetry');
      const metrics = await svc.metrics.registry.getSingleMetricAsString('classroom_edge_sync_acked_seq');
      expect(metrics).toContain(`classroom_edge_sync_acked_seq ${last}`);
    } finally {
      await svc.stop();
      room.cleanup();
    }
    // The clean stop published the retained offline status.
    await waitFor(async () => (await cloud.roomStatus('r1')).some((r) => r.key === 'status' && JSON.parse(r.payload).state === 'offline'), 5000, 'offline status');
    expect(worker.stats().rejected).toEqual({});
  });

  it('datasets pushed retained by the district reach a room that connects later; a bad one is refused and reported; redelivery is skipped', async () => {
    const cert = broker.workers['cloud-worker-1']!;
    const district = await mqtt.connectAsync(broker.url, {
      clientId: 'district-datasets',
      cert: readFileSync(cert.certFile),
      key: readFileSync(cert.keyFile),
      ca: readFileSync(broker.caFile),
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    const topics = datasetTopics('r1');
    const results: DatasetResult[] = [];
    district.on('message', (topic, payload) => {
      if (topic === topics.results) results.push(datasetResultSchema.parse(JSON.parse(payload.toString())));
    });
    await district.subscribeAsync(topics.results, { qos: 1 });
    const push = (version: number, doc: unknown) => JSON.stringify({ v: 1, roomId: 'r1', kind: 'roster', version, doc, publishedAt: Date.now() });
    // Published while the room is offline: retained, it waits for the room.
    await district.publishAsync(topics.push('roster'), push(1, lessonRoster()), { qos: 1, retain: true });

    const store = edgeStore('r1');
    const datasets = new Datasets({ store, clock: systemClock, logger });
    const attach = (u: Uplink) => {
      const downlink = new DatasetDownlink({ roomId: 'r1', datasets, store, clock: systemClock, logger, publish: async (t, p) => u.publishUp(t, p) });
      u.subscribe(downlink.subscription, (t, p) => void downlink.handle(t, p));
      return downlink;
    };
    const u1 = startUplink('r1', store);
    const d1 = attach(u1);
    await waitFor(() => results.length === 1, 10_000, `the roster result; broker log:\n${broker.log()}`);
    expect(results[0]).toMatchObject({ kind: 'roster', version: 1, outcome: 'applied', localVersion: 1 });
    expect(datasets.active('roster')?.source).toBe('cloud v1');

    // A bad version 2: refused with its problems, version 1 stays in force.
    const bad = { ...lessonRoster(), students: [{ studentId: 's9', name: '无班级', classId: 'no-such-class' }] };
    await district.publishAsync(topics.push('roster'), push(2, bad), { qos: 1, retain: true });
    await waitFor(() => results.length === 2, 10_000, 'the refusal');
    expect(results[1]).toMatchObject({ version: 2, outcome: 'refused', localVersion: 1 });
    expect(results[1]!.problems?.join('\n')).toContain('no-such-class');
    expect(datasets.active('roster')?.version).toBe(1);
    expect(d1.handledVersion('roster')).toBe(2);

    // The room reconnects: the broker delivers the retained version 2 again; it is not handled twice.
    await u1.stop();
    const u2 = startUplink('r1', store);
    const d2 = attach(u2);
    await waitFor(() => u2.stats().connected, 10_000, 'the reconnect');
    await new Promise((r) => setTimeout(r, 700));
    expect(results).toHaveLength(2);
    expect(d2.handledVersion('roster')).toBe(2);
    // The imports went into the event log, so the cloud gets them through the uplink too.
    const worker = await startWorker();
    await settleAcked(store, store.lastSeq());
    expect((await cloud.events('r1')).filter((e) => e.stream === 'dataset').map((e) => e.type)).toEqual(['import', 'rejected']);
    expect(worker.stats().rejected).toEqual({});
    await district.endAsync();
  });

  it('classroom-edge cloud start: refuses a bad config with path: reason, runs a good one until SIGTERM', async () => {
    requireBuilt();
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, `broker: { url: http://x, certFile: a.crt }\ndatabase: ${JSON.stringify(join(dir, 'c.db'))}\n`);
    const r = spawnSync(process.execPath, [CLI, 'cloud', 'start', '--config', bad], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('broker.url:');
    expect(r.stderr).toContain('broker.keyFile:');

    const cert = broker.workers['cloud-worker-1']!;
    const good = join(dir, 'cloud.yaml');
    const dbFile = join(dir, 'cli-cloud.db');
    writeFileSync(
      good,
      `broker:\n  url: ${broker.url}\n  certFile: ${JSON.stringify(cert.certFile)}\n  keyFile: ${JSON.stringify(cert.keyFile)}\n  caFile: ${JSON.stringify(broker.caFile)}\n` +
        `database: ${JSON.stringify(dbFile)}\nworkers: 1\n`,
    );
    const child = spawn(process.execPath, [CLI, 'cloud', 'start', '--config', good], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => out.includes('district cloud ingest started'), 15_000, `the cloud CLI to start; output:\n${out}`);
      const store = edgeStore('r1');
      startUplink('r1', store);
      await commitEvents(store, 42);
      await settleAcked(store, 42);
      const view = await CloudStore.open(dbFile);
      try {
        expect((await view.events('r1')).map((e) => e.seq)).toEqual(Array.from({ length: 42 }, (_, i) => i + 1));
      } finally {
        await view.close();
      }
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
