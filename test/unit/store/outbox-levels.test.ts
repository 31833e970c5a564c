/**
 * The outbox's alert levels for never-drop events, now checked once per group
 * commit instead of at every event (edge/store/outbox.ts, afterCommit).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../../edge/store/index.js';
import { OutboxPolicy } from '../../../edge/store/outbox.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { fixedClock, T0, tempDir, type TempDir } from './helpers.js';

let tmp: TempDir;
let store: Store | undefined;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(async () => {
  await store?.close();
  store = undefined;
  tmp.remove();
});

const praise = (i: number) => ({ source: 'kiosk', kind: 'praise', studentId: `s${i}`, payload: { n: i }, ts: T0 + i, dedupKey: `k${i}` });

describe('outbox alert levels for never-drop events', () => {
  it('are raised after the commit that crosses them, once each, and the payload bytes are counted once', async () => {
    const levels: number[] = [];
    const policy = new OutboxPolicy({ limits: { maxEvents: 10, maxBytes: 1_000_000 }, onLevel: (l) => levels.push(l) });
    store = openStore({ path: tmp.file('edge.db'), roomId: 'r1', logger: silentLogger(), clock: fixedClock(), outbox: policy });
    await Promise.all([0, 1, 2, 3].map((i) => store!.recordBehaviour(praise(i))));
    await new Promise((r) => setImmediate(r));
    expect(levels).toEqual([]); // 4 of 10
    await Promise.all([4, 5].map((i) => store!.recordBehaviour(praise(i))));
    await new Promise((r) => setImmediate(r));
    expect(levels).toEqual([0.5]);
    await Promise.all([6, 7, 8, 9].map((i) => store!.recordBehaviour(praise(i))));
    await new Promise((r) => setImmediate(r));
    expect(levels).toEqual([0.5, 1]); // 0.8 and 1 crossed in one commit: the highest is reported
    // A redelivery stores nothing and counts nothing.
    await store.recordBehaviour(praise(3));
    const payloadBytes = store.db.prepare<[], { b: number }>('SELECT SUM(length(CAST(payload AS BLOB))) AS b FROM event_log').get()!.b;
    expect(policy.stats()).toMatchObject({ events: 10, bytes: payloadBytes, fill: 1, level: 1 });
  });
});
