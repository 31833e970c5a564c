/**
 * Lesson completeness receipts on a real edge store and a real cloud store
 * (no broker: batches are built from the edge's log as the uplink builds
 * them): the receipt counts exactly the lesson's records, the cloud confirms
 * it once it holds every seq below it, reports what differs when its rows do
 * not match, a later correction makes a new revision, and the edge keeps the
 * verdict per lesson. The cloud side on both database backends.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../../edge/store/index.js';
import { silentLogger } from '../../../edge/util/logger.js';
import type { CloudStore } from '../../../sync/cloud/store.js';
import { BACKENDS, useCloudDb, type CloudDbFactory } from '../../helpers/cloud-db.js';
import type { Batch } from '../../../sync/protocol.js';
import { receiptPayloadSchema, summariseTied, type ReceiptOutcome } from '../../../sync/receipt-protocol.js';
import { LessonReceipts } from '../../../sync/receipts.js';

const ROOM = 'r1';
const LESSON = '2025-03-03/1';
const OTHER = '2025-03-03/2';
const logger = silentLogger();
let now = 1_741_000_000_000;
const clock = { now: () => now, monotonic: () => performance.now() };

let dir: string;
const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

async function setup(db: CloudDbFactory) {
  dir = mkdtempSync(join(tmpdir(), 'ce-receipts-'));
  const store = openStore({ path: join(dir, 'edge.db'), roomId: ROOM, logger, clock, flushIntervalMs: 0 });
  closers.push(() => store.close());
  const cloud = await db.open(dir);
  closers.push(() => cloud.close());
  const rejected: string[] = [];
  const alerts: string[] = [];
  const receipts = new LessonReceipts({
    roomId: ROOM,
    store,
    clock,
    logger,
    onRejected: (r) => rejected.push(r),
    raiseAlert: async (a) => void alerts.push(a.code),
  });
  return { store, cloud, receipts, rejected, alerts };
}

/** A lesson's worth of records of every kind, plus records of another lesson and untied sensor readings. */
async function lessonRecords(store: Store, lessonId: string, students: number): Promise<void> {
  await store.write((tx) =>
    tx.appendEvent({ stream: 'lesson', type: 'start', entityId: lessonId, payload: { lessonId, course: '数学' }, ts: now }),
  );
  for (let i = 0; i < students; i++) {
    await store.recordCardTap({ reader: 'door', uid: `UID${i}`, ts: now + i, lessonId });
    await store.write((tx) =>
      tx.appendEvent({ stream: 'attendance', type: 'mark', entityId: i, payload: { lessonId, studentId: `s${i}`, status: 'present' }, ts: now + i }),
    );
    await store.recordReading({ device: 'air', metric: 'co2', value: 400 + i, unit: 'ppm', ts: now + i });
  }
  await store.recordBehaviour({ source: 'kiosk', kind: 'praise', studentId: 's1', payload: { points: 1 }, ts: now, lessonId });
  await store.recordAudit({ actor: 't', role: 'teacher', action: 'attendance.correct', target: `${lessonId}#s1`, args: {}, result: 'ok', ts: now, lessonId });
  await store.write((tx) =>
    tx.appendEvent({ stream: 'attendance', type: 'session-close', entityId: lessonId, payload: { lessonId, present: students }, ts: now }),
  );
}

/** Sends the edge's whole log after `after` as one batch, as the uplink does. */
function ship(store: Store, cloud: CloudStore, after = 0, upTo = Infinity) {
  const rows = store.eventsAfter(after, 10_000).filter((r) => r.seq <= upTo);
  const batch: Batch = {
    v: 1,
    roomId: ROOM,
    storeId: store.storeId,
    batchId: `b${after}`,
    firstSeq: rows[0]!.seq,
    lastSeq: rows.at(-1)!.seq,
    events: rows.map((r) => ({ seq: r.seq, stream: r.stream, type: r.type, entityId: r.entityId, payload: JSON.parse(r.payload) as unknown, ts: r.ts, clockSynced: r.clockSynced, bootId: r.bootId })),
    sentAt: now,
  };
  return cloud.commitBatch(batch, now);
}

const asMessage = (o: ReceiptOutcome) => Buffer.from(JSON.stringify(o));

describe.each(BACKENDS)('lesson completeness receipts (cloud on %s)', (backend) => {
  const db = useCloudDb(backend);
  it('counts exactly the lesson\'s records, and the cloud confirms the receipt once it holds every seq below it', async () => {
    const { store, cloud, receipts } = await setup(db);
    await lessonRecords(store, LESSON, 5);
    await lessonRecords(store, OTHER, 3);
    const seq = await receipts.issue(LESSON);
    expect(seq).toBe(store.lastSeq());
    const event = store.eventsAfter(seq! - 1, 1)[0]!;
    expect(event).toMatchObject({ stream: 'receipt', type: 'lesson', entityId: `${LESSON}#1` });
    const payload = receiptPayloadSchema.parse(JSON.parse(event.payload));
    expect(payload.counts).toEqual({
      'lesson/start': 1,
      'card/tap': 5,
      'attendance/mark': 5,
      'behaviour/event': 1,
      'audit/entry': 1,
      'attendance/session-close': 1,
    });
    expect(payload.count).toBe(14);
    expect(payload.firstSeq).toBe(1);
    expect(payload.segments).toBeNull();
    // The digest is over the lesson's seqs only (not the other lesson's, not the sensor readings').
    const own = store
      .eventsAfter(0, 10_000)
      .filter((r) => r.stream !== 'receipt' && (JSON.parse(r.payload) as { lessonId?: string }).lessonId === LESSON);
    expect(payload.digest).toBe(summariseTied(own).digest);
    expect(payload.lastSeq).toBe(own.at(-1)!.seq);
    expect(receipts.state(LESSON)).toBe('pending');
    expect(receipts.unconfirmed()).toMatchObject({ count: 1, lessons: [{ lessonId: LESSON, revision: 1, state: 'pending' }] });

    // Issuing again without new records writes nothing.
    expect(await receipts.issue(LESSON)).toBeNull();

    // The receipt alone arrives first (a later batch overtook the earlier one): not checked yet.
    const early = await ship(store, cloud, seq! - 1);
    expect(early.ackedSeq).toBe(0);
    expect(early.receipts).toEqual([]);
    expect(await cloud.receipts.list(ROOM)).toMatchObject([{ lessonId: LESSON, state: 'pending' }]);
    // The rest arrives: contiguous up to the receipt, checked, complete.
    const rest = await ship(store, cloud, 0, seq! - 1);
    expect(rest.ackedSeq).toBe(seq);
    expect(rest.receipts).toEqual([
      expect.objectContaining({ roomId: ROOM, storeId: store.storeId, lessonId: LESSON, revision: 1, receiptSeq: seq, outcome: 'complete', differences: [] }),
    ]);
    await receipts.handleOutcome(asMessage(rest.receipts[0]!));
    expect(receipts.state(LESSON)).toBe('complete');
    expect(receipts.unconfirmed().count).toBe(0);
  });

  it('reports what differs when the cloud\'s rows do not match, and the edge raises an alert', async () => {
    const { store, cloud, receipts, alerts } = await setup(db);
    await lessonRecords(store, LESSON, 4);
    const seq = (await receipts.issue(LESSON))!;
    // A cloud-side loss of one tapped card's row (e.g. a restored backup), replaced by an unrelated row at that seq.
    const cardSeq = store.eventsAfter(0, 100).find((r) => r.stream === 'card')!.seq;
    await ship(store, cloud, 0, cardSeq - 1);
    await cloud.db.run(
      "INSERT INTO events (room_id, store_id, seq, stream, type, entity_id, payload, ts, clock_synced, boot_id, received_at) VALUES (?, ?, ?, 'sensor', 'reading', NULL, '{}', 0, 0, 'x', 0)",
      [ROOM, store.storeId, cardSeq],
    );
    const r = await ship(store, cloud, cardSeq);
    expect(r.ackedSeq).toBe(seq);
    expect(r.receipts).toHaveLength(1);
    expect(r.receipts[0]).toMatchObject({ outcome: 'incomplete', differences: [{ key: 'card/tap', edge: 4, cloud: 3 }] });
    expect((await cloud.receipts.list(ROOM))[0]).toMatchObject({ state: 'incomplete', differences: [{ key: 'card/tap', edge: 4, cloud: 3 }] });
    await receipts.handleOutcome(asMessage(r.receipts[0]!));
    expect(receipts.state(LESSON)).toBe('incomplete');
    expect(receipts.row(LESSON)?.differences).toEqual([{ key: 'card/tap', edge: 4, cloud: 3 }]);
    expect(alerts).toEqual(['lesson-sync-incomplete']);
  });

  it('a record tied to the lesson after its receipt makes the sweep write revision 2; the old verdict no longer counts', async () => {
    const { store, cloud, receipts } = await setup(db);
    await lessonRecords(store, LESSON, 2);
    const first = (await receipts.issue(LESSON))!;
    const v1 = await ship(store, cloud);
    expect(v1.receipts[0]).toMatchObject({ revision: 1, outcome: 'complete' });
    // Until the worker marks a verdict published, every batch of the room offers it again.
    expect((await ship(store, cloud, first - 1)).receipts).toEqual(v1.receipts);
    await cloud.receipts.markPublished(v1.receipts[0]!, now);
    // A teacher's correction the next day.
    now += 86_400_000;
    await store.write((tx) =>
      tx.appendEvent({ stream: 'attendance', type: 'correction', entityId: 9, payload: { lessonId: LESSON, studentId: 's0', status: 'late' }, ts: now }),
    );
    expect(await receipts.sweep()).toBe(1);
    expect(receipts.row(LESSON)).toMatchObject({ revision: 2, state: 'pending' });
    // The verdict on revision 1 arriving late changes nothing.
    await receipts.handleOutcome(asMessage(v1.receipts[0]!));
    expect(receipts.state(LESSON)).toBe('pending');
    const v2 = await ship(store, cloud, first);
    expect(v2.receipts).toEqual([expect.objectContaining({ revision: 2, outcome: 'complete' })]);
    const payload = receiptPayloadSchema.parse(JSON.parse(store.eventsAfter(store.lastSeq() - 1, 1)[0]!.payload));
    expect(payload.counts['attendance/correction']).toBe(1);
    await receipts.handleOutcome(asMessage(v2.receipts[0]!));
    expect(receipts.state(LESSON)).toBe('complete');
    expect(await receipts.sweep()).toBe(0);
  });

  it('the sweep writes the receipt of a lesson whose attendance closed without one (a crash in between)', async () => {
    const { store, receipts } = await setup(db);
    await store.write((tx) => {
      tx.db
        .prepare(
          `INSERT INTO attendance_sessions (lesson_id, class_id, course, date, starts_at, ends_at, ad_hoc, expected, roster_version, opened_at, closed_at)
           VALUES (?, 'c1', '数学', '2025-03-03', 0, 1, 0, '[]', 1, 0, 1)`,
        )
        .run(LESSON);
      tx.appendEvent({ stream: 'attendance', type: 'session-close', entityId: LESSON, payload: { lessonId: LESSON }, ts: now });
    });
    expect(receipts.state(LESSON)).toBe('pending');
    expect(await receipts.sweep()).toBe(1);
    expect(receipts.row(LESSON)).toMatchObject({ revision: 1, count: 1, state: 'pending' });
  });

  it('verdicts that are malformed, for another room, or another store are rejected or ignored; nothing changes', async () => {
    const { store, receipts, rejected } = await setup(db);
    await lessonRecords(store, LESSON, 1);
    const seq = (await receipts.issue(LESSON))!;
    const good: ReceiptOutcome = { v: 1, roomId: ROOM, storeId: store.storeId, lessonId: LESSON, revision: 1, receiptSeq: seq, outcome: 'complete', differences: [], ts: now };
    await receipts.handleOutcome(Buffer.from('{"v":1'));
    await receipts.handleOutcome(asMessage({ ...good, outcome: 'done' as 'complete' }));
    await receipts.handleOutcome(asMessage({ ...good, roomId: 'r2' }));
    await receipts.handleOutcome(asMessage({ ...good, storeId: 'old-store' }));
    await receipts.handleOutcome(asMessage({ ...good, receiptSeq: seq + 1 }));
    expect(rejected).toEqual(['malformed-receipt', 'malformed-receipt', 'room-mismatch']);
    expect(receipts.state(LESSON)).toBe('pending');
    await receipts.handleOutcome(asMessage(good));
    expect(receipts.state(LESSON)).toBe('complete');
  });
});
