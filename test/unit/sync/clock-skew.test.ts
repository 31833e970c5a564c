/**
 * The cloud's clock-skew estimate (sync/cloud/clock.ts) on a real cloud
 * store: the minimum of receivedAt - sentAt over a recent window, so a batch
 * that waited in the broker does not look like skew; a room off by more than
 * the threshold is flagged; unsynchronised events get a corrected timestamp
 * through the events_corrected view.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CloudStore } from '../../../sync/cloud/store.js';
import type { Batch } from '../../../sync/protocol.js';

const DAY = 86_400_000;
const T = 1_760_000_000_000;
let dir: string;
let cloud: CloudStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ce-skew-'));
  cloud = new CloudStore(join(dir, 'cloud.db'));
});
afterEach(() => {
  cloud.close();
  rmSync(dir, { recursive: true, force: true });
});

let seq = 0;
function batch(sentAt: number, opts: { synced?: boolean; boot?: string; eventTs?: number } = {}): Batch {
  seq++;
  return {
    v: 1,
    roomId: 'r1',
    storeId: 's1',
    batchId: `b${seq}`,
    firstSeq: seq,
    lastSeq: seq,
    events: [{ seq, stream: 'card', type: 'tap', entityId: String(seq), payload: {}, ts: opts.eventTs ?? sentAt, clockSynced: opts.synced ?? false, bootId: opts.boot ?? 'boot-a' }],
    sentAt,
    clockSynced: opts.synced ?? false,
    bootId: opts.boot ?? 'boot-a',
  };
}

describe('clock skew', () => {
  beforeEach(() => {
    seq = 0;
  });

  it('estimates the offset by the fastest batch, ignores batches that waited in the broker, and flags the room', () => {
    const skew = 3 * DAY; // the edge's clock is three days behind the cloud
    // The first batch of the outage backlog waited an hour in the broker.
    const first = cloud.commitBatch(batch(T - skew - 3_600_000), T);
    expect(first.skew).toMatchObject({ roomId: 'r1', skewed: true, synced: false });
    expect(cloud.clock.room('r1')[0]!.offsetMs).toBe(skew + 3_600_000);
    // Live batches with 40..120 ms of transit: the estimate falls to the fastest one.
    for (const [i, transit] of [120, 40, 75].entries()) cloud.commitBatch(batch(T + i * 1000 - skew), T + i * 1000 + transit);
    const est = cloud.clock.room('r1')[0]!;
    expect(est).toMatchObject({ bootId: 'boot-a', synced: false, skewed: true, samples: 4 });
    expect(est.offsetMs).toBe(skew + 40);
    // Another queued batch later does not move it.
    const late = cloud.commitBatch(batch(T + 5000 - skew - 600_000), T + 5000);
    expect(late.skew).toBeNull();
    expect(cloud.clock.room('r1')[0]!.offsetMs).toBe(skew + 40);
    // Unsynchronised events are corrected by the offset of their boot.
    const rows = cloud.db.prepare<[], { seq: number; ts: number; corrected_ts: number | null }>('SELECT seq, ts, corrected_ts FROM events_corrected ORDER BY seq').all();
    expect(rows).toHaveLength(5);
    for (const r of rows) expect(r.corrected_ts).toBe(r.ts + skew + 40);
  });

  it('a room whose clock is right is not flagged; an old minimum ages out after two windows (the clock was corrected)', () => {
    expect(cloud.commitBatch(batch(T - 80, { synced: true }), T).skew).toBeNull();
    expect(cloud.clock.room('r1')[0]).toMatchObject({ synced: true, skewed: false, offsetMs: 80 });
    // The same boot, unsynchronised, 10 minutes off: flagged.
    expect(cloud.commitBatch(batch(T - 600_000, { boot: 'boot-b' }), T + 1000).skew).toMatchObject({ bootId: 'boot-b', skewed: true });
    // Its clock is stepped back to true time without a reboot (still reported unsynchronised): within two windows the flag clears.
    let changed = null;
    for (let i = 1; i <= 30 && !changed; i++) changed = cloud.commitBatch(batch(T + i * 60_000 - 50, { boot: 'boot-b' }), T + i * 60_000).skew;
    expect(changed).toMatchObject({ bootId: 'boot-b', skewed: false, offsetMs: 50 });
    // Events stamped while synchronised keep their ts.
    const synced = cloud.db.prepare<[], { ts: number; corrected_ts: number }>("SELECT ts, corrected_ts FROM events_corrected WHERE boot_id = 'boot-a'").get()!;
    expect(synced.corrected_ts).toBe(synced.ts);
  });
});
