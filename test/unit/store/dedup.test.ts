import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../../edge/store/index.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { fixedClock, T0, tempDir, type TempDir } from './helpers.js';

let dir: TempDir;
let store: Store;
afterEach(async () => {
  await store?.close();
  dir?.remove();
});

function open(): Store {
  dir = tempDir();
  store = openStore({ path: dir.file('s.db'), roomId: 'r1', logger: silentLogger(), clock: fixedClock() });
  return store;
}

describe('idempotent writes (dedup keys)', () => {
  it('stores a redelivered message once and answers with the first write', async () => {
    const s = open();
    const first = await s.recordBehaviour({ source: 'cam', kind: 'hand-raise', payload: { a: 1 }, ts: T0, dedupKey: 'cam:abc' });
    const again = await s.recordBehaviour({ source: 'cam', kind: 'hand-raise', payload: { a: 1 }, ts: T0, dedupKey: 'cam:abc' });
    expect(first.duplicate).toBeUndefined();
    expect(again).toEqual({ id: first.id, seq: first.seq, duplicate: true });
    expect(s.lastSeq()).toBe(first.seq);
    expect(s.db.prepare('SELECT COUNT(*) AS n FROM behaviour_events').get()).toEqual({ n: 1 });
  });

  it('dedups within one group-commit batch too, and per table', async () => {
    const s = open();
    const [a, b, c, d] = await Promise.all([
      s.recordCardTap({ reader: 'r', uid: '62E3086CED', ts: T0, dedupKey: 'k1' }),
      s.recordCardTap({ reader: 'r', uid: '62E3086CED', ts: T0, dedupKey: 'k1' }),
      s.recordReading({ device: 'air', metric: 'co2', value: 600, unit: 'ppm', ts: T0, dedupKey: 'k1' }),
      s.recordReading({ device: 'air', metric: 'co2', value: 600, unit: 'ppm', ts: T0, dedupKey: 'k1' }),
    ]);
    expect(b).toEqual({ ...a, duplicate: true });
    expect(d).toEqual({ ...c, duplicate: true });
    expect(c.seq).toBe(a.seq + 1);
    expect(s.lastSeq()).toBe(2);
  });

  it('writes without a key are never merged', async () => {
    const s = open();
    await s.recordCardTap({ reader: 'r', uid: '62E3086CED', ts: T0 });
    await s.recordCardTap({ reader: 'r', uid: '62E3086CED', ts: T0 });
    expect(s.lastSeq()).toBe(2);
  });
});
