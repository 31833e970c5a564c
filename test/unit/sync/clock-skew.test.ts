/**
 * The cloud's clock-skew estimate (sync/cloud/clock.ts) on a real cloud
 * store: the minimum of receivedAt - sentAt over a recent window, so a batch
 * that waited in the broker does not look like skew; a room off by more than
 * the threshold is flagged; unsynchronised events get a corrected timestamp
 * through the events_corrected view. On both database backends.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CloudStore } from '../../../sync/cloud/store.js';
import type { Batch } from '../../../sync/protocol.js';
import { BACKENDS, useCloudDb } from '../../helpers/cloud-db.js';

const DAY = 86_400_000;
const T = 1_760_000_000_000;
let dir: string;
let cloud: CloudStore;

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

describe.each(BACKENDS)('clock skew (%s)', (backend) => {
  const db = useCloudDb(backend);
  beforeEach(async () => {
    seq = 0;
    dir = mkdtempSync(join(tmpdir(), 'ce-skew-'));
    cloud = await db.open(dir);
  });
  afterEach(async () => {
    await cloud.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('estimates the offset by the fastest batch, ignores batches that waited in the broker, and flags the room', async () => {
    const skew = 3 * DAY; // the edge's clock is three days behind the cloud
    // The first batch of the outage backlog waited an hour in the broker.
    const first = await cloud.commitBatch(batch(T - skew - 3_600_000), T);
    expect(first.skew).toMatchObject({ roomId: 'r1', skewed: true, synced: false });
    expect((await cloud.clock.room('r1'))[0]!.offsetMs).toBe(skew + 3_600_000);
    // Live batches with 40..120 ms of transit: the estimate falls to the fastest one.
    for (const [i, transit] of [120, 40, 75].entries()) await cloud.commitBatch(batch(T + i * 1000 - skew), T + i * 1000 + transit);
    const est = (await cloud.clock.room('r1'))[0]!;
    expect(est).toMatchObject({ bootId: 'boot-a', synced: false, skewed: true, samples: 4 });
    expect(est.offsetMs).toBe(skew + 40);
    // Another queued batch later does not move it.
    const late = await cloud.commitBatch(batch(T + 5000 - skew - 600_000), T + 5000);
    expect(late.skew).toBeNull();
    expect((await cloud.clock.room('r1'))[0]!.offsetMs).toBe(skew + 40);
    // Unsynchronised events are corrected by the offset of their boot.
    const rows = await cloud.db.all<{ seq: number; ts: number; corrected_ts: number | null }>('SELECT seq, ts, corrected_ts FROM events_corrected ORDER BY seq');
    expect(rows).toHaveLength(5);
    for (const r of rows) expect(r.corrected_ts).toBe(r.ts + skew + 40);
  });

  it('a room whose clock is right is not flagged; an old minimum ages out after two windows (the clock was corrected)', async () => {
    expect((await cloud.commitBatch(batch(T - 80, { synced: true }), T)).skew).toBeNull();
    expect((await cloud.clock.room('r1'))[0]).toMatchObject({ synced: true, skewed: false, offsetMs: 80 });
    // The same boot, unsynchronised, 10 minutes off: flagged.
    expect((await cloud.commitBatch(batch(T - 600_000, { boot: 'boot-b' }), T + 1000)).skew).toMatchObject({ bootId: 'boot-b', skewed: true });
    // Its clock is stepped back to true time without a reboot (still reported unsynchronised): within two windows the flag clears.
    let changed = null;
    for (let i = 1; i <= 30 && !changed; i++) changed = (await cloud.commitBatch(batch(T + i * 60_000 - 50, { boot: 'boot-b' }), T + i * 60_000)).skew;
    expect(changed).toMatchObject({ bootId: 'boot-b', skewed: false, offsetMs: 50 });
    // Events stamped while synchronised keep their ts.
    const synced = (await cloud.db.get<{ ts: number; corrected_ts: number }>("SELECT ts, corrected_ts FROM events_corrected WHERE boot_id = 'boot-a'"))!;
    expect(synced.corrected_ts).toBe(synced.ts);
  });
});
