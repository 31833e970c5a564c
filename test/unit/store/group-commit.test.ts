import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../edge/util/logger.js';
import { openStore, StoreError, type Store, type StoreOptions } from '../../../edge/store/index.js';
import { countWalCommits, fixedClock, T0, tempDir, type TempDir } from './helpers.js';

let tmp: TempDir;
let store: Store;
let reader: Database.Database | undefined;

function openTest(extra: Partial<StoreOptions> = {}): Store {
  return openStore({ path: tmp.file('edge.db'), roomId: 'r203', logger: silentLogger(), clock: fixedClock(), ...extra });
}

const reading = (i: number) => ({ device: 'air', metric: 'co2', value: 400 + i, unit: 'ppm', ts: T0 + i });
const countRows = (db: Database.Database, table: string): number =>
  (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

beforeEach(() => {
  tmp = tempDir();
});
afterEach(async () => {
  vi.useRealTimers();
  reader?.close();
  reader = undefined;
  await store?.close();
  tmp.remove();
});

describe('group commit: batching', () => {
  it('commits a burst of 1000 writes in ceil(1000/256) transactions, counted in the WAL itself', async () => {
    store = openTest();
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    store.db.pragma('wal_autocheckpoint = 0');
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => store.recordReading(reading(i))));
    expect(results.map((r) => r.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(store.stats()).toMatchObject({ commits: 4, committedItems: 1000, pending: 0, lastSeq: 1000 });
    expect(countWalCommits(tmp.file('edge.db-wal'))).toBe(4);
  });

  it('with maxBatch 1 every write is its own transaction (the baseline group commit avoids)', async () => {
    store = openTest({ maxBatch: 1 });
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    store.db.pragma('wal_autocheckpoint = 0');
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.recordReading(reading(i))));
    expect(countWalCommits(tmp.file('edge.db-wal'))).toBe(20);
  });

  it('resolves each promise only after its transaction committed (seen from a second connection)', async () => {
    store = openTest();
    reader = new Database(tmp.file('edge.db'), { readonly: true });
    const seen = reader.prepare<[number], { n: number }>('SELECT count(*) AS n FROM event_log WHERE seq = ?');
    const promises = Array.from({ length: 300 }, (_, i) =>
      store.recordReading(reading(i)).then((r) => ({ r, visible: seen.get(r.seq)!.n })),
    );
    expect(store.stats().pending).toBe(300);
    expect(countRows(reader, 'sensor_readings')).toBe(0);
    const settled = await Promise.all(promises);
    expect(settled.every((s) => s.visible === 1)).toBe(true);
    expect(countRows(reader, 'sensor_readings')).toBe(300);
  });

  it('waits flushIntervalMs for company, then commits', async () => {
    vi.useFakeTimers();
    store = openTest({ flushIntervalMs: 50 });
    reader = new Database(tmp.file('edge.db'), { readonly: true });
    let done = false;
    const p = store.recordCardTap({ reader: 'reader', uid: 'AB12', ts: T0 }).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(49);
    expect(done).toBe(false);
    expect(countRows(reader, 'card_taps')).toBe(0);
    expect(store.stats().pending).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await p;
    expect(done).toBe(true);
    expect(countRows(reader, 'card_taps')).toBe(1);
  });

  it('with flushIntervalMs 0 commits at the end of the event-loop turn, without a timer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }); // a timer would never fire here
    store = openTest({ flushIntervalMs: 0 });
    const all = Promise.all([1, 2, 3].map((i) => store.recordReading(reading(i))));
    await tick();
    expect(store.stats()).toMatchObject({ commits: 1, committedItems: 3, pending: 0 });
    await all;
  });

  it('does not wait for the interval once maxBatch writes are queued', async () => {
    store = openTest({ flushIntervalMs: 60_000, maxBatch: 10 });
    const all = Promise.all(Array.from({ length: 10 }, (_, i) => store.recordReading(reading(i))));
    await tick();
    expect(store.stats()).toMatchObject({ commits: 1, pending: 0 });
    await all;
    const one = store.recordReading(reading(10));
    await tick();
    expect(store.stats()).toMatchObject({ commits: 1, pending: 1 }); // below maxBatch: waits for the timer
    await store.flush();
    await one;
  });
});

describe('group commit: failures stay contained', () => {
  it('rolls back only the failing write; its batch-mates commit and seq stays gap-free', async () => {
    store = openTest();
    const ok1 = store.recordReading(reading(1));
    const bad = store.write((tx) => {
      tx.db.prepare("INSERT INTO card_taps (reader, uid, ts) VALUES ('r', 'DOOMED', 1)").run();
      tx.appendEvent({ stream: 'card', type: 'tap', payload: {}, ts: 1 });
      throw new Error('boom after writing');
    });
    const invalidPayload = store.recordBehaviour({ source: 'kiosk', kind: 'praise', payload: { n: 10n }, ts: T0 });
    const ok2 = store.recordReading(reading(2));
    await expect(bad).rejects.toThrow('boom after writing');
    await expect(invalidPayload).rejects.toMatchObject({ code: 'write-failed', message: /recordBehaviour failed.*BigInt/ });
    expect((await ok1).seq).toBe(1);
    expect((await ok2).seq).toBe(2);
    expect(store.stats()).toMatchObject({ commits: 1, committedItems: 2, failedItems: 2 });
    expect(countRows(store.db, 'card_taps')).toBe(0);
    expect(countRows(store.db, 'behaviour_events')).toBe(0);
    expect(store.eventsAfter(0, 10).map((e) => e.seq)).toEqual([1, 2]);
  });

  it('rerunnable writes share one savepoint; when one fails its run is replayed one by one and only it is rolled back', async () => {
    store = openTest();
    const runs = [0, 0, 0, 0, 0, 0];
    const fails = new Set([2, 5]);
    const rerunnable = new Set([0, 1, 3, 4, 5]);
    const writes = runs.map((_, i) =>
      store.write(
        (tx) => {
          runs[i]!++;
          tx.db.prepare('INSERT INTO card_taps (reader, uid, ts) VALUES (?, ?, ?)').run('r', `UID${i}`, T0 + i);
          tx.appendEvent({ stream: 'card', type: 'tap', payload: { i }, ts: T0 + i });
          if (fails.has(i)) throw new Error(`write ${i} fails`);
          return i;
        },
        { rerunnable: rerunnable.has(i) },
      ),
    );
    const outcomes = await Promise.allSettled(writes);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'rejected']);
    // 0 and 1 share a savepoint that write 2 (not rerunnable, its own savepoint) closes; 3, 4 and 5
    // share the next one, so 5's failure replays 3 and 4 and runs 5 again, each alone.
    expect(runs).toEqual([1, 1, 1, 2, 2, 2]);
    expect(store.db.prepare('SELECT uid FROM card_taps ORDER BY id').pluck().all()).toEqual(['UID0', 'UID1', 'UID3', 'UID4']);
    expect(store.eventsAfter(0, 10).map((e) => [e.seq, (JSON.parse(e.payload) as { i: number }).i])).toEqual([
      [1, 0],
      [2, 1],
      [3, 3],
      [4, 4],
    ]);
    expect(store.stats()).toMatchObject({ commits: 1, committedItems: 4, failedItems: 2 });
  });

  it('a rerunnable write that succeeds on its replay commits once', async () => {
    store = openTest();
    let firstRun = true;
    const flaky = store.write(
      (tx) => {
        tx.appendEvent({ stream: 'device', type: 'x', payload: { flaky: true }, ts: T0 });
        if (firstRun) {
          firstRun = false;
          throw new Error('transient');
        }
        return 'ok';
      },
      { rerunnable: true },
    );
    const mate = store.recordBehaviour({ source: 'kiosk', kind: 'praise', payload: { n: 1 }, ts: T0 });
    await expect(flaky).resolves.toBe('ok');
    await expect(mate).resolves.toMatchObject({ seq: 2 });
    expect(store.eventsAfter(0, 10).map((e) => e.stream)).toEqual(['device', 'behaviour']);
  });

  it('rejects a write function that returns a promise, and commits the others', async () => {
    store = openTest();
    const ok = store.recordReading(reading(1));
    const asyncWork = store.write(async (tx) => tx.appendEvent({ stream: 'device', type: 'x', payload: null, ts: 1 }));
    await expect(asyncWork).rejects.toMatchObject({ code: 'async-write' });
    await expect(ok).resolves.toEqual({ seq: 1, id: 1 });
    expect(store.lastSeq()).toBe(1);
  });

  it('when COMMIT fails, rejects every write of the batch, writes nothing, and the next batch works', async () => {
    store = openTest();
    // A deferred foreign key is checked only at COMMIT: a deterministic COMMIT failure.
    store.db.exec(`CREATE TABLE parent (id INTEGER PRIMARY KEY);
      CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);`);
    await store.recordReading(reading(0));
    const batch = [
      store.recordReading(reading(1)),
      store.write((tx) => tx.db.prepare('INSERT INTO child (parent_id) VALUES (42)').run().changes),
      store.recordCardTap({ reader: 'reader', uid: 'AB', ts: T0 }),
    ];
    const outcomes = await Promise.allSettled(batch);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const o of outcomes) {
      const reason = (o as PromiseRejectedResult).reason as StoreError;
      expect(reason).toBeInstanceOf(StoreError);
      expect(reason.code).toBe('commit-failed');
      expect(reason.message).toMatch(/COMMIT of a group of 3 writes failed.*FOREIGN KEY/);
    }
    expect(store.db.inTransaction).toBe(false);
    expect(countRows(store.db, 'child')).toBe(0);
    expect(countRows(store.db, 'card_taps')).toBe(0);
    expect(store.lastSeq()).toBe(1);
    await expect(store.recordReading(reading(2))).resolves.toEqual({ seq: 2, id: 2 });
    expect(store.stats()).toMatchObject({ failedBatches: 1, commits: 2 });
  });

  it('when SQLite aborts the whole transaction (disk full), rejects what ran and retries what had not run', async () => {
    store = openTest();
    await store.recordReading(reading(0));
    const pages = store.db.pragma('page_count', { simple: true }) as number;
    store.db.pragma(`max_page_count = ${pages + 2}`);
    const before = store.recordReading(reading(1));
    const huge = store.recordBehaviour({ source: 'kiosk', kind: 'blob', payload: 'x'.repeat(200_000), ts: T0 });
    const after = store.recordReading(reading(2));
    await expect(huge).rejects.toMatchObject({ code: 'write-failed', message: /full/ });
    await expect(before).rejects.toMatchObject({ code: 'commit-failed', message: /aborted by SQLite while running write 2 of 3/ });
    await expect(after).resolves.toEqual({ seq: 2, id: 2 });
    expect(store.eventsAfter(0, 10).map((e) => JSON.parse(e.payload) as { value: number })).toMatchObject([
      { value: 400 },
      { value: 402 },
    ]);
  });
});

describe('group commit: a transaction aborted inside a shared savepoint', () => {
  it('rejects the rerunnable writes that ran, the failing one with its own error, and retries the rest', async () => {
    store = openTest();
    await store.recordBehaviour({ source: 'kiosk', kind: 'praise', payload: { n: 0 }, ts: T0 });
    const pages = store.db.pragma('page_count', { simple: true }) as number;
    store.db.pragma(`max_page_count = ${pages + 2}`);
    const first = store.recordBehaviour({ source: 'kiosk', kind: 'praise', payload: { n: 1 }, ts: T0 + 1 });
    const huge = store.recordBehaviour({ source: 'kiosk', kind: 'blob', payload: 'x'.repeat(200_000), ts: T0 + 2 });
    const last = store.recordBehaviour({ source: 'kiosk', kind: 'praise', payload: { n: 3 }, ts: T0 + 3 });
    await expect(huge).rejects.toMatchObject({ code: 'write-failed', message: /full/ });
    await expect(first).rejects.toMatchObject({ code: 'commit-failed', message: /aborted by SQLite while running write 2 of 3/ });
    await expect(last).resolves.toMatchObject({ seq: 2 });
    expect(store.eventsAfter(0, 10).map((e) => (JSON.parse(e.payload) as { data: { n: number } }).data.n)).toEqual([0, 3]);
  });
});

describe('group commit: re-entrancy and close', () => {
  it('never runs a batch re-entrantly: writes and flush() called from inside a write go to a later batch', async () => {
    store = openTest();
    let inner: Promise<{ seq: number; id: number }> | undefined;
    let innerFlush: Promise<void> | undefined;
    const outer = store.write((tx) => {
      const seq = tx.appendEvent({ stream: 'device', type: 'outer', payload: null, ts: 1 });
      inner = store.recordCardTap({ reader: 'reader', uid: 'NESTED', ts: T0 });
      innerFlush = store.flush();
      return seq;
    });
    await expect(outer).resolves.toBe(1);
    await innerFlush;
    await expect(inner).resolves.toEqual({ seq: 2, id: 1 });
    expect(store.stats()).toMatchObject({ commits: 2, failedItems: 0 });
  });

  it('refuses appendEvent on a Tx kept after its write function returned', async () => {
    store = openTest();
    let kept: Parameters<Parameters<Store['write']>[0]>[0] | undefined;
    await store.write((tx) => {
      kept = tx;
    });
    expect(() => kept!.appendEvent({ stream: 'device', type: 'late', payload: null, ts: 1 })).toThrow(/outside its write/);
    expect(store.lastSeq()).toBe(0);
  });

  it('close() commits what is queued, then closes; later writes are refused', async () => {
    store = openTest({ flushIntervalMs: 60_000 });
    const queued = Array.from({ length: 100 }, (_, i) => store.recordReading(reading(i)));
    expect(store.stats().pending).toBe(100);
    await store.close();
    await Promise.all(queued);
    expect(store.db.open).toBe(false);
    await expect(store.recordReading(reading(1))).rejects.toMatchObject({ code: 'closed' });
    await store.close(); // idempotent
    const check = new Database(tmp.file('edge.db'), { readonly: true });
    expect(countRows(check, 'sensor_readings')).toBe(100);
    expect(countRows(check, 'event_log')).toBe(100);
    check.close();
  });
});
