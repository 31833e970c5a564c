/**
 * Fault test (issue 5, "Faults that must lose nothing"): corrupt, oversized
 * and misaddressed messages from either side of the district link, end to
 * end through Debian's mosquitto (TLS, client certificates, ACL).
 *
 * Edge: the running service (in-process, its district link configured)
 * receives on each of its down topics (down/ack, down/datasets/roster,
 * down/config, down/receipts) invalid JSON, truncated JSON, JSON that violates
 * the schema, a gzip bomb (a few KB inflating past the 16 MB limit), a message
 * past the size limit (4.5 MB; down/config's own limit is 1 MB) and a
 * well-formed message claiming another room, from a district client. Each is
 * rejected, counted in classroom_edge_sync_errors_total and logged; then a
 * valid message on the same topic is processed, and the link never dropped
 * (one connection of the room in mosquitto's log).
 *
 * Cloud: an ingest worker receives the same kinds from a room's certificate
 * on up/events, up/status, up/telemetry/{device} and up/config-results: each
 * rejected and counted by reason (worker stats), nothing stored; a valid
 * message right after on each topic is stored, and the worker stayed connected.
 *
 * (Not covered here: a message beyond mosquitto's own max_packet_size, which
 * the broker refuses by dropping the *publisher's* connection before anyone
 * receives it; the helper's mosquitto has no such limit set.)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../edge/util/logger.js';
import { configPushes } from '../../sync/cloud/config-push.js';
import { CloudStore } from '../../sync/cloud/store.js';
import { IngestWorker } from '../../sync/cloud/worker.js';
import { configResultSchema, configTopics, type ConfigResult } from '../../sync/config-downlink.js';
import { datasetResultSchema, datasetTopics, type DatasetResult } from '../../sync/datasets-downlink.js';
import { districtTopics, encodeMessage, type Batch } from '../../sync/protocol.js';
import { edgeCloudYaml, startDistrictBroker, type DistrictBroker } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/peers.js';
import { startRoom, tempRoom } from '../helpers/room.js';
import { roster as lessonRoster } from '../unit/lessons/fixtures.js';

const logger = silentLogger();
let broker: DistrictBroker;
let dir: string;

beforeAll(async () => {
  broker = await startDistrictBroker({ rooms: ['r1', 'r2'], workers: ['cloud-worker-1', 'cloud-worker-2'] });
  dir = mkdtempSync(join(tmpdir(), 'ce-corrupt-'));
});

afterAll(async () => {
  await broker?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function client(identity: { certFile: string; keyFile: string }, clientId: string): Promise<MqttClient> {
  return mqtt.connectAsync(broker.url, {
    clientId,
    cert: readFileSync(identity.certFile),
    key: readFileSync(identity.keyFile),
    ca: readFileSync(broker.caFile),
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
}

/** The bad messages every receiver must survive; `wrongRoom` is a well-formed message of the topic's kind for room r2. */
function badMessages(wrongRoom: object): Array<{ name: string; payload: Buffer }> {
  // 20 MB of 'a' inside a JSON string gzips to ~20 KB: inflation must stop at the 16 MB limit.
  const bomb = gzipSync(Buffer.concat([Buffer.from('{"v":1,"x":"'), Buffer.alloc(20 * 1024 * 1024, 0x61), Buffer.from('"}')]));
  expect(bomb.length).toBeLessThan(100 * 1024);
  const oversized = Buffer.concat([Buffer.from('{"v":1,"roomId":"r1","pad":"'), Buffer.alloc(4.5 * 1024 * 1024, 0x62), Buffer.from('"}')]);
  return [
    { name: 'not JSON', payload: Buffer.from('garbage \x00\xff') },
    { name: 'truncated JSON', payload: Buffer.from('{"v":1,"roomId":"r1"') },
    { name: 'schema-violating JSON', payload: Buffer.from(JSON.stringify({ v: 1, roomId: 'r1', bogus: true })) },
    { name: 'gzip bomb', payload: bomb },
    { name: 'oversized', payload: oversized },
    { name: 'wrong room', payload: Buffer.from(JSON.stringify(wrongRoom)) },
  ];
}

function connectionsOf(clientId: string): number {
  return broker.log().split('\n').filter((l) => l.includes(`New client connected`) && l.includes(` as ${clientId} `)).length;
}

describe('corrupt, oversized and misaddressed messages on the district link (mosquitto)', () => {
  it('the edge rejects, counts and logs them on each down topic; the next valid message is processed; the link stays up', async () => {
    const cert = broker.rooms.r1!;
    const room = tempRoom({ roomId: 'r1' });
    const yaml = `${room.yaml}
${edgeCloudYaml(broker, cert)}`;
    const svc = await startRoom({ ...room, yaml });
    const district = await client(broker.workers['cloud-worker-2']!, 'district-forger');
    try {
      const sync = svc.sync!;
      expect(sync).not.toBeNull();
      await waitFor(() => sync.stats().connected, 10_000, `the room's link; broker log:\n${broker.log()}`);
      const results: { datasets: DatasetResult[]; config: ConfigResult[] } = { datasets: [], config: [] };
      district.on('message', (topic, payload) => {
        if (topic === datasetTopics('r1').results) results.datasets.push(datasetResultSchema.parse(JSON.parse(payload.toString())));
        if (topic === configTopics('r1').results) results.config.push(configResultSchema.parse(JSON.parse(payload.toString())));
      });
      await district.subscribeAsync([datasetTopics('r1').results, configTopics('r1').results], { qos: 1 });
      const errors = async (): Promise<Record<string, number>> =>
        Object.fromEntries((await svc.metrics.syncErrors.get()).values.map((v) => [String(v.labels.reason), v.value]));
      const before = await errors();
      const grew = async (reason: string, n: number) => (await errors())[reason] === (before[reason] ?? 0) + n;

      await svc.store.recordReading({ device: 'air', metric: 'co2', value: 600, unit: 'ppm', ts: Date.now() });
      const storeId = svc.store.storeId;
      const lastSeq = svc.store.lastSeq();
      expect(lastSeq).toBeGreaterThan(0);
      // A pending lesson receipt, so a valid verdict has something to confirm.
      await svc.store.write((tx) =>
        tx.db
          .prepare("INSERT INTO lesson_sync (lesson_id, revision, receipt_seq, count, digest, state, differences, created_at, confirmed_at) VALUES (?, 1, ?, 0, 'd', 'pending', NULL, ?, NULL)")
          .run('r1/lesson-x', lastSeq, Date.now()),
      );

      const topics = districtTopics('r1');
      const ack = (roomId: string, ackedSeq: number) => ({ v: 1, roomId, storeId, ackedSeq, ts: Date.now() });
      const rosterPush = (roomId: string, version: number) => ({ v: 1, roomId, kind: 'roster', version, doc: lessonRoster(), publishedAt: Date.now() });
      const configPush = (roomId: string, version: number) => ({ v: 1, roomId, version, config: { scenes: {} }, issuedBy: 'tech-corrupt-test', issuedAt: Date.now() });
      const verdict = (roomId: string) => ({
        v: 1,
        roomId,
        storeId,
        lessonId: 'r1/lesson-x',
        revision: 1,
        receiptSeq: lastSeq,
        outcome: 'complete',
        differences: [],
        ts: Date.now(),
      });
      const cases = [
        { topic: topics.ack, wrongRoom: ack('r2', lastSeq), reasons: { 'malformed-ack': 5, 'ack-room-mismatch': 1 } },
        { topic: datasetTopics('r1').push('roster'), wrongRoom: rosterPush('r2', 1), reasons: { 'malformed-dataset': 6 } },
        { topic: configTopics('r1').push, wrongRoom: configPush('r2', 1), reasons: { 'malformed-config': 6 } },
        { topic: topics.receipts, wrongRoom: verdict('r2'), reasons: { 'malformed-receipt': 5, 'receipt-room-mismatch': 1 } },
      ];
      for (const c of cases) {
        for (const m of badMessages(c.wrongRoom)) await district.publishAsync(c.topic, m.payload, { qos: 1 });
      }
      for (const c of cases) {
        for (const [reason, n] of Object.entries(c.reasons)) {
          await waitFor(() => grew(reason, n), 15_000, `${n} x ${reason} counted on ${c.topic}; counters now ${JSON.stringify(await errors())}`);
        }
      }
      // Nothing of them was applied.
      expect(sync.stats().ackedSeq).toBe(0);
      expect(svc.classroom.datasets.active('roster') ?? null).toBeNull();
      expect(svc.classroom.receipts.state('r1/lesson-x')).toBe('pending');
      expect(results.datasets).toEqual([]);
      expect(results.config).toEqual([]);

      // The next valid message on each topic is processed.
      await district.publishAsync(topics.ack, JSON.stringify(ack('r1', lastSeq)), { qos: 1 });
      await district.publishAsync(datasetTopics('r1').push('roster'), JSON.stringify(rosterPush('r1', 1)), { qos: 1 });
      await district.publishAsync(configTopics('r1').push, JSON.stringify(configPush('r1', 1)), { qos: 1 });
      await district.publishAsync(topics.receipts, JSON.stringify(verdict('r1')), { qos: 1 });
      await waitFor(() => sync.stats().ackedSeq === lastSeq, 10_000, 'the valid ack');
      await waitFor(() => results.datasets.length === 1, 10_000, 'the valid roster push result');
      expect(results.datasets[0]).toMatchObject({ version: 1, outcome: 'applied' });
      await waitFor(() => results.config.length === 1, 15_000, 'the valid config push result');
      expect(results.config[0]).toMatchObject({ version: 1 });
      expect(results.config[0]!.outcome, JSON.stringify(results.config[0])).not.toBe('refused');
      await waitFor(() => svc.classroom.receipts.state('r1/lesson-x') === 'complete', 10_000, 'the valid verdict');

      // The link never dropped: one connection of the room, still connected, and no other kind of error.
      expect(sync.stats().connected).toBe(true);
      expect(connectionsOf('edge-r1'), `broker log:\n${broker.log()}`).toBe(1);
      const after = await errors();
      const expected: Record<string, number> = { ...before };
      for (const c of cases) for (const [reason, n] of Object.entries(c.reasons)) expected[reason] = (expected[reason] ?? 0) + n;
      expect(after).toEqual(expected);
    } finally {
      await district.endAsync();
      await svc.stop();
      room.cleanup();
    }
  }, 90_000);

  it('the cloud worker rejects and counts them (from room r2) on up/events, up/status, up/telemetry and up/config-results; the next valid message is stored', async () => {
    const cloud = await CloudStore.open(join(dir, 'cloud.db'));
    const cert = broker.workers['cloud-worker-1']!;
    const worker = new IngestWorker({
      broker: { url: broker.url, certFile: cert.certFile, keyFile: cert.keyFile, caFile: broker.caFile },
      clientId: 'cloud-worker-1',
      store: cloud,
      logger,
      statusTopics: true,
      reconnect: { minMs: 100, maxMs: 500 },
    });
    await worker.start();
    const roomClient = await client(broker.rooms.r2!, 'bad-r2');
    try {
      const t = districtTopics('r2');
      const batch = (roomId: string): Batch => ({
        v: 1,
        roomId,
        storeId: 'corrupt-test',
        batchId: `b-${roomId}`,
        firstSeq: 1,
        lastSeq: 2,
        events: [1, 2].map((seq) => ({ seq, stream: 'card', type: 'card/tap', entityId: String(seq), payload: { uid: `UID${seq}` }, ts: Date.now(), clockSynced: false, bootId: 'boot' })),
        sentAt: Date.now(),
      });
      const status = (roomId: string) => ({ v: 1, roomId, state: 'online', ts: Date.now(), storeId: 'corrupt-test' });
      const telemetry = (roomId: string) => ({ v: 1, roomId, deviceId: 'panel', state: { power: true }, ts: Date.now() });
      const configResult = (roomId: string) => ({ v: 1, roomId, version: 7, outcome: 'applied', ts: Date.now() });
      const cases = [
        { topic: t.events, wrongRoom: batch('r1'), valid: encodeMessage(batch('r2')) },
        { topic: t.status, wrongRoom: status('r1'), valid: Buffer.from(JSON.stringify(status('r2'))) },
        { topic: t.telemetry('panel'), wrongRoom: telemetry('r1'), valid: Buffer.from(JSON.stringify(telemetry('r2'))) },
        { topic: configTopics('r2').results, wrongRoom: configResult('r1'), valid: Buffer.from(JSON.stringify(configResult('r2'))) },
      ];
      for (const c of cases) for (const m of badMessages(c.wrongRoom)) await roomClient.publishAsync(c.topic, m.payload, { qos: 1 });
      // Per topic: invalid + truncated JSON are not-json, the bomb and the 4.5 MB message too-large, one invalid, one room mismatch.
      const expected = { 'not-json': 8, 'too-large': 8, invalid: 4, 'room-mismatch': 4 };
      await waitFor(
        () => Object.values(worker.stats().rejected).reduce((a, b) => a + b, 0) === 24,
        20_000,
        `24 rejections (now ${JSON.stringify(worker.stats().rejected)})`,
      );
      expect(worker.stats().rejected).toEqual(expected);
      expect(await cloud.events('r1')).toEqual([]);
      expect(await cloud.events('r2')).toEqual([]);
      // (r1 keeps the retained offline status of the edge test: only its device rows are checked.)
      expect((await cloud.roomStatus('r1')).filter((r) => r.key !== 'status')).toEqual([]);
      expect(await cloud.roomStatus('r2')).toEqual([]);
      expect(await configPushes(cloud, 'r1')).toEqual([]);
      expect(await configPushes(cloud, 'r2')).toEqual([]);

      for (const c of cases) await roomClient.publishAsync(c.topic, c.valid, { qos: 1 });
      await waitFor(async () => (await cloud.events('r2')).length === 2, 10_000, 'the valid batch');
      expect(await cloud.ackedSeq('r2', 'corrupt-test')).toBe(2);
      await waitFor(async () => (await cloud.roomStatus('r2')).length === 2, 10_000, 'the valid status and telemetry');
      expect((await cloud.roomStatus('r2')).map((r) => r.key)).toEqual(['device:panel', 'status']);
      await waitFor(async () => (await configPushes(cloud, 'r2')).length === 1, 10_000, 'the valid config result');
      expect((await configPushes(cloud, 'r2'))[0]).toMatchObject({ version: 7, outcome: 'applied' });
      expect(worker.stats()).toMatchObject({ connected: true, batches: 1, inserted: 2 });
      expect(worker.stats().rejected).toEqual(expected);
      expect(connectionsOf('cloud-worker-1'), `broker log:\n${broker.log()}`).toBe(1);
    } finally {
      await roomClient.endAsync();
      await worker.stop();
      await cloud.close();
    }
  }, 90_000);
});
