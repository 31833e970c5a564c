/**
 * A simulated week of classroom load with the district broker (Debian's
 * mosquitto, TLS client certificates) down the whole time, generated into a
 * real store under a fake clock (fast: no real week): a full timetable of
 * card taps, attendance marks, behaviour events, audit entries and lesson
 * receipts, and sensor readings every minute. The outbox stays within its
 * cap, nothing of the never-drop streams is lost, sensor readings are
 * downsampled with a counter; after the broker returns everything in the log
 * arrives exactly once in seq order, the drop counter arrives as an event,
 * and every lesson's receipt is confirmed complete. Also: an edge whose
 * injected clock is days off is flagged by the cloud, which corrects its
 * unsynchronised events by the estimated offset.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CloudConfig } from '../../edge/config/schema.js';
import { openStore, type Store } from '../../edge/store/index.js';
import { OutboxPolicy, type OutboxStats } from '../../edge/store/outbox.js';
import { silentLogger } from '../../edge/util/logger.js';
import { CloudStore } from '../../sync/cloud/store.js';
import { IngestWorker } from '../../sync/cloud/worker.js';
import { districtTopics } from '../../sync/protocol.js';
import { LessonReceipts } from '../../sync/receipts.js';
import { Uplink } from '../../sync/uplink.js';
import { startDistrictBroker, type DistrictBroker } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/peers.js';
import { generateWeek, TEST_WEEK } from '../helpers/week.js';

const logger = silentLogger();
const ROOM = 'r1';
const DAY = 86_400_000;
const LIMITS = { maxEvents: 8000, maxBytes: 2_000_000 };

let broker: DistrictBroker;
let dir: string;
let cloud: CloudStore;
const stops: Array<() => Promise<void> | void> = [];

beforeEach(async () => {
  broker = await startDistrictBroker({ rooms: [ROOM], workers: ['cloud-worker-1'] });
  dir = mkdtempSync(join(tmpdir(), 'ce-week-'));
  cloud = await CloudStore.open(join(dir, 'cloud.db'));
});

afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
  await cloud.close();
  await broker.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('a week offline with the outbox cap', () => {
  it('keeps the outbox bounded, loses nothing that must not be dropped, and delivers everything exactly once after the outage', async () => {
    let now = TEST_WEEK.monday;
    const clock = { now: () => now, monotonic: () => performance.now() };
    const levels: number[] = [];
    const policy = new OutboxPolicy({ limits: LIMITS, onLevel: (l) => levels.push(l) });
    const store: Store = openStore({ path: join(dir, 'edge.db'), roomId: ROOM, logger, clock, flushIntervalMs: 0, outbox: policy });
    stops.push(() => store.close());
    const receipts = new LessonReceipts({ roomId: ROOM, store, clock, logger });
    const cert = broker.rooms[ROOM]!;
    const config: CloudConfig = {
      url: broker.url,
      certFile: cert.certFile,
      keyFile: cert.keyFile,
      caFile: broker.caFile,
      batch: { maxEvents: 500, lingerMs: 20 },
      ackTimeoutMs: 3000,
      maxInFlight: 4,
    };
    await broker.kill();
    // The uplink's timers run on real time; the fake clock only stamps the events.
    const uplink = new Uplink({ roomId: ROOM, store, config, logger, clock: { now: () => now, monotonic: () => performance.now() }, reconnect: { minMs: 100, maxMs: 300 } });
    uplink.subscribe(districtTopics(ROOM).receipts, (_t, payload) => void receipts.handleOutcome(payload));
    uplink.start();
    stops.push(() => uplink.stop());

    // ---- the week, broker down ----
    let maxSeen: OutboxStats | null = null;
    const { generated, lessonIds } = await generateWeek(
      {
        roomId: ROOM,
        store,
        receipts,
        setNow: (ms) => (now = ms),
        afterHour: () => {
          const s = store.outbox()!;
          if (!maxSeen || s.events > maxSeen.events) maxSeen = s;
          expect(s.events).toBeLessThanOrEqual(LIMITS.maxEvents);
          expect(s.bytes).toBeLessThanOrEqual(LIMITS.maxBytes);
        },
      },
      TEST_WEEK,
    );
    expect(uplink.stats().connected).toBe(false);

    // What the log holds: every never-drop record, and sensor readings thinned with a counter.
    const log = store.eventsAfter(0, 10_000);
    expect(log.length).toBe(store.lastSeq());
    const logged: Record<string, number> = {};
    for (const e of log) logged[e.stream] = (logged[e.stream] ?? 0) + 1;
    for (const stream of ['lesson', 'card', 'attendance', 'behaviour', 'audit', 'receipt']) expect(logged[stream], stream).toBe(generated[stream]);
    const stats = store.outbox()!;
    expect(stats.dropped.sensor!.count).toBe(generated.sensor! - logged.sensor!);
    expect(stats.dropped.sensor!.count).toBeGreaterThan(generated.sensor! / 2);
    expect(maxSeen!.fill).toBeGreaterThan(0.8);
    expect(stats.events).toBeLessThanOrEqual(LIMITS.maxEvents);
    await new Promise((r) => setImmediate(r));
    expect(levels).toEqual([0.5, 0.8]);
    // Every lesson is pending: the cloud has seen nothing.
    expect(lessonIds).toHaveLength(40);
    expect(receipts.unconfirmed().count).toBe(40);

    // ---- the broker returns ----
    await broker.start();
    const cw = broker.workers['cloud-worker-1']!;
    const worker = new IngestWorker({
      broker: { url: broker.url, certFile: cw.certFile, keyFile: cw.keyFile, caFile: broker.caFile },
      clientId: 'cloud-worker-1',
      store: cloud,
      logger,
      reconnect: { minMs: 100, maxMs: 300 },
    });
    await worker.start();
    stops.push(() => worker.stop({ force: true }));
    // The drop report is appended once the outbox is below half its cap, then delivered like any event.
    await waitFor(
      async () => (await cloud.events(ROOM)).some((e) => e.stream === 'outbox') && (await cloud.ackedSeq(ROOM, store.storeId)) === store.lastSeq(),
      60_000,
      `the backlog and the drop report to arrive (cloud acked ${await cloud.ackedSeq(ROOM, store.storeId)}, edge last ${store.lastSeq()}); broker log:\n${broker.log()}`,
    );
    const edgeLog = store.eventsAfter(0, 10_000);
    const rows = await cloud.events(ROOM);
    expect(rows.map((r) => r.seq)).toEqual(edgeLog.map((e) => e.seq));
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: store.lastSeq() }, (_, i) => i + 1));
    expect(rows.map((r) => [r.stream, r.type, r.entityId, JSON.parse(r.payload), r.ts])).toEqual(edgeLog.map((e) => [e.stream, e.type, e.entityId, JSON.parse(e.payload), e.ts]));
    const report = rows.filter((r) => r.stream === 'outbox');
    expect(report).toHaveLength(1);
    expect(JSON.parse(report[0]!.payload)).toEqual({ dropped: { sensor: { count: stats.dropped.sensor!.count, firstTs: expect.any(Number), lastTs: expect.any(Number) } } });
    expect(store.outbox()!.dropped).toEqual({});
    // Every lesson confirmed complete by the cloud.
    await waitFor(() => receipts.unconfirmed().count === 0, 20_000, `receipts to be confirmed (${receipts.unconfirmed().count} left)`);
    expect((await cloud.receipts.list(ROOM)).map((r) => r.state)).toEqual(Array(40).fill('complete'));
    for (const id of lessonIds) expect(receipts.state(id)).toBe('complete');
  }, 120_000);

  it('an edge whose clock is four days behind: the cloud flags the room and corrects its unsynchronised events', async () => {
    const skew = 4 * DAY;
    const clock = { now: () => Date.now() - skew, monotonic: () => performance.now() };
    const store = openStore({ path: join(dir, 'skewed.db'), roomId: ROOM, logger, clock, flushIntervalMs: 0 });
    stops.push(() => store.close());
    const cw = broker.workers['cloud-worker-1']!;
    const worker = new IngestWorker({
      broker: { url: broker.url, certFile: cw.certFile, keyFile: cw.keyFile, caFile: broker.caFile },
      clientId: 'cloud-worker-1',
      store: cloud,
      logger,
    });
    await worker.start();
    stops.push(() => worker.stop({ force: true }));
    const cert = broker.rooms[ROOM]!;
    const uplink = new Uplink({
      roomId: ROOM,
      store,
      config: { url: broker.url, certFile: cert.certFile, keyFile: cert.keyFile, caFile: broker.caFile, batch: { maxEvents: 20, lingerMs: 20 }, ackTimeoutMs: 3000, maxInFlight: 4 },
      logger,
      clock,
    });
    uplink.start();
    stops.push(() => uplink.stop());
    for (let i = 0; i < 5; i++) {
      await Promise.all(Array.from({ length: 20 }, (_, k) => store.recordCardTap({ reader: 'door', uid: `U${i}-${k}`, ts: clock.now() })));
      await new Promise((r) => setTimeout(r, 100));
    }
    await waitFor(async () => (await cloud.ackedSeq(ROOM, store.storeId)) === 100, 20_000, 'the events to arrive');
    const [est] = await cloud.clock.room(ROOM);
    expect(est).toMatchObject({ bootId: store.bootId, synced: false, skewed: true });
    // Skew plus the fastest transit over loopback (well under 5 s even on a loaded machine).
    expect(est!.offsetMs).toBeGreaterThanOrEqual(skew);
    expect(est!.offsetMs).toBeLessThan(skew + 5000);
    const rows = await cloud.db.all<{ ts: number; corrected_ts: number; received_at: number }>('SELECT ts, corrected_ts, received_at FROM events_corrected');
    expect(rows).toHaveLength(100);
    for (const r of rows) {
      expect(r.corrected_ts - r.ts).toBe(est!.offsetMs);
      // Corrected into the cloud's time: never after it was received, and within the test's duration of it.
      expect(r.corrected_ts).toBeLessThanOrEqual(r.received_at);
      expect(r.received_at - r.corrected_ts).toBeLessThan(30_000);
    }
  }, 60_000);
});
