import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../../edge/metrics.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { openStore, StoreError, type Store, type StoreOptions } from '../../../edge/store/index.js';
import { fixedClock, T0, tempDir, type TempDir } from './helpers.js';

let tmp: TempDir;
let store: Store;

function openTest(extra: Partial<StoreOptions> = {}): Store {
  return openStore({ path: tmp.file('edge.db'), roomId: 'r203', logger: silentLogger(), clock: fixedClock(), ...extra });
}

beforeEach(() => {
  tmp = tempDir();
});
afterEach(async () => {
  await store?.close();
  tmp.remove();
});

describe('event log rows', () => {
  it('writes the domain row and its event in one transaction, with room, boot id and clock state', async () => {
    let synced = false;
    store = openTest({ clockSynced: () => synced });
    const tap = await store.recordCardTap({ reader: 'reader', uid: '0A1B2C3D4E', number: '0001234567', ts: T0, lessonId: 'L1' });
    synced = true;
    const rd = await store.recordReading({ device: 'air', metric: 'co2', value: 612.5, unit: 'ppm', ts: T0 + 1 });
    const bh = await store.recordBehaviour({ source: 'kiosk', kind: 'praise', studentId: 'S17', payload: { points: 1 }, ts: T0 + 2 });
    const au = await store.recordAudit({
      actor: 'teacher-1',
      role: 'teacher',
      action: 'device.command',
      target: 'panel',
      args: { command: 'power', on: true },
      result: 'error',
      error: 'panel: power: no reply within 2000 ms',
      ts: T0 + 3,
    });
    expect([tap, rd, bh, au]).toEqual([
      { seq: 1, id: 1 },
      { seq: 2, id: 1 },
      { seq: 3, id: 1 },
      { seq: 4, id: 1 },
    ]);
    const events = store.eventsAfter(0, 100);
    expect(events.map(({ payload: _p, ...rest }) => rest)).toEqual([
      { seq: 1, roomId: 'r203', stream: 'card', type: 'tap', entityId: '1', ts: T0, clockSynced: false, bootId: store.bootId },
      { seq: 2, roomId: 'r203', stream: 'sensor', type: 'reading', entityId: '1', ts: T0 + 1, clockSynced: true, bootId: store.bootId },
      { seq: 3, roomId: 'r203', stream: 'behaviour', type: 'event', entityId: '1', ts: T0 + 2, clockSynced: true, bootId: store.bootId },
      { seq: 4, roomId: 'r203', stream: 'audit', type: 'entry', entityId: '1', ts: T0 + 3, clockSynced: true, bootId: store.bootId },
    ]);
    expect(events.map((e) => JSON.parse(e.payload) as unknown)).toEqual([
      { reader: 'reader', uid: '0A1B2C3D4E', number: '0001234567', lessonId: 'L1' },
      { device: 'air', metric: 'co2', value: 612.5, unit: 'ppm' },
      { source: 'kiosk', kind: 'praise', studentId: 'S17', lessonId: null, data: { points: 1 } },
      {
        actor: 'teacher-1',
        role: 'teacher',
        action: 'device.command',
        target: 'panel',
        args: { command: 'power', on: true },
        result: 'error',
        error: 'panel: power: no reply within 2000 ms',
      },
    ]);
    expect(store.db.prepare('SELECT reader, uid, number, ts, lesson_id FROM card_taps').get()).toEqual({
      reader: 'reader',
      uid: '0A1B2C3D4E',
      number: '0001234567',
      ts: T0,
      lesson_id: 'L1',
    });
    expect(store.db.prepare('SELECT args, result, error FROM audit_log').get()).toEqual({
      args: '{"command":"power","on":true}',
      result: 'error',
      error: 'panel: power: no reply within 2000 ms',
    });
  });

  it('pages through eventsAfter in seq order and validates its arguments', async () => {
    store = openTest();
    await Promise.all(Array.from({ length: 25 }, (_, i) => store.recordCardTap({ reader: 'r', uid: `U${i}`, ts: T0 + i })));
    const seen: number[] = [];
    for (let after = 0; ; ) {
      const page = store.eventsAfter(after, 10);
      if (page.length === 0) break;
      seen.push(...page.map((e) => e.seq));
      after = page[page.length - 1]!.seq;
    }
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(() => store.eventsAfter(-1, 10)).toThrow(RangeError);
    expect(() => store.eventsAfter(0, 0)).toThrow(RangeError);
    expect(() => store.eventsAfter(0, 1_000_000)).toThrow(RangeError);
  });

  it('never reuses a seq, even after every event row was deleted, and survives a reopen', async () => {
    store = openTest();
    await Promise.all(Array.from({ length: 5 }, (_, i) => store.recordCardTap({ reader: 'r', uid: `U${i}`, ts: T0 })));
    store.db.exec('DELETE FROM event_log; DELETE FROM card_taps;');
    expect(store.lastSeq()).toBe(5);
    await store.close();
    store = openTest();
    expect(store.lastSeq()).toBe(5);
    await expect(store.recordCardTap({ reader: 'r', uid: 'AFTER', ts: T0 })).resolves.toEqual({ seq: 6, id: 6 });
  });

  it('is append-only: updates are refused by the schema', async () => {
    store = openTest();
    await store.recordCardTap({ reader: 'r', uid: 'U', ts: T0 });
    expect(() => store.db.prepare("UPDATE event_log SET payload = '{}' WHERE seq = 1").run()).toThrow(/append-only/);
  });

  it('rejects events with a bad stream, type or ts (only that write)', async () => {
    store = openTest();
    const bad = [
      store.write((tx) => tx.appendEvent({ stream: 'Card Taps', type: 'tap', payload: {}, ts: T0 })),
      store.write((tx) => tx.appendEvent({ stream: 'card', type: '', payload: {}, ts: T0 })),
      store.write((tx) => tx.appendEvent({ stream: 'card', type: 'tap', payload: {}, ts: Number.NaN })),
    ];
    const good = store.write((tx) => tx.appendEvent({ stream: 'attendance', type: 'marked', entityId: 'A-1', payload: { s: 1 }, ts: T0 }));
    for (const p of bad) await expect(p).rejects.toThrow(/event_log: invalid/);
    await expect(good).resolves.toBe(1);
    expect(store.eventsAfter(0, 10)).toMatchObject([{ seq: 1, stream: 'attendance', entityId: 'A-1', payload: '{"s":1}' }]);
  });
});

describe('record input validation', () => {
  it.each([
    ['recordReading', (s: Store) => s.recordReading({ device: 'air', metric: 'co2', value: Number.NaN, unit: 'ppm', ts: T0 }), /value/],
    ['recordReading', (s: Store) => s.recordReading({ device: 'air', metric: 'co2', value: Infinity, unit: 'ppm', ts: T0 }), /value/],
    ['recordCardTap', (s: Store) => s.recordCardTap({ reader: 'r', uid: '', ts: T0 }), /uid/],
    ['recordCardTap', (s: Store) => s.recordCardTap({ reader: 'r', uid: 'AB', ts: -5 }), /ts/],
    ['recordCardTap', (s: Store) => s.recordCardTap(JSON.parse('{"reader":"r"}') as never), /uid/],
    ['recordAudit', (s: Store) =>
      s.recordAudit({ actor: 'a', role: 'r', action: 'x', target: 't', args: {}, result: 'maybe' as never, ts: T0 }), /result/],
  ])('%s rejects bad input before queueing it (%#)', async (what, call, field) => {
    store = openTest();
    const p = call(store);
    expect(store.stats().pending).toBe(0);
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('invalid-input');
    expect((err as StoreError).message).toMatch(new RegExp(`^${what}: invalid input: .*`));
    expect((err as StoreError).message).toMatch(field);
    expect(store.lastSeq()).toBe(0);
  });

  it('accepts a 1970 timestamp from a clock that is not yet synced', async () => {
    store = openTest();
    await expect(store.recordCardTap({ reader: 'r', uid: 'AB', ts: 12_345 })).resolves.toEqual({ seq: 1, id: 1 });
    expect(store.eventsAfter(0, 1)[0]).toMatchObject({ ts: 12_345, clockSynced: false });
  });
});

describe('seq under mixed success and failure (property)', () => {
  it('committed writes get exactly the seqs 1..n, in queue order, with no gaps', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ ok: fc.boolean(), events: fc.integer({ min: 0, max: 3 }) }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 16 }),
        async (plan, maxBatch) => {
          const s = openStore({ path: ':memory:', roomId: 'r203', logger: silentLogger(), clock: fixedClock(), maxBatch });
          try {
            const outcomes = await Promise.allSettled(
              plan.map((step, i) =>
                s.write((tx) => {
                  const seqs = Array.from({ length: step.events }, () =>
                    tx.appendEvent({ stream: 'device', type: 'step', entityId: i, payload: { i }, ts: T0 }),
                  );
                  if (!step.ok) throw new Error(`step ${i} fails`);
                  return seqs;
                }),
              ),
            );
            const committed = outcomes.flatMap((o) => (o.status === 'fulfilled' ? o.value : []));
            const expectedCount = plan.filter((p) => p.ok).reduce((n, p) => n + p.events, 0);
            expect(committed).toEqual(Array.from({ length: expectedCount }, (_, k) => k + 1));
            expect(outcomes.map((o) => o.status === 'fulfilled')).toEqual(plan.map((p) => p.ok));
            expect(s.eventsAfter(0, 1000).map((e) => e.seq)).toEqual(committed);
            expect(s.lastSeq()).toBe(expectedCount);
          } finally {
            await s.close();
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('stats and metrics', () => {
  it('reports file sizes, pending and last seq, and feeds the Prometheus metrics', async () => {
    const metrics = createMetrics();
    store = openTest({ metrics });
    await store.recordCardTap({ reader: 'r', uid: 'AB', ts: T0 });
    await Promise.all([1, 2, 3].map((i) => store.recordReading({ device: 'air', metric: 'co2', value: i, unit: 'ppm', ts: T0 })));
    const stats = store.stats();
    expect(stats).toMatchObject({ pending: 0, lastSeq: 4 });
    expect(stats.fileBytes).toBeGreaterThan(0);
    expect(stats.walBytes).toBeGreaterThan(0);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/classroom_edge_events_committed_total\{stream="card"\} 1\n/);
    expect(text).toMatch(/classroom_edge_events_committed_total\{stream="sensor"\} 3\n/);
    expect(text).toMatch(/classroom_edge_event_log_last_seq 4\n/);
    expect(text).toMatch(new RegExp(`classroom_edge_store_bytes ${stats.fileBytes + stats.walBytes}\\n`));
  });
});
