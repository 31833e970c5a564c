/**
 * The datasets downlink on a real store: a district push is validated like a
 * local import, applied once (retained redeliveries skipped), a bad one
 * leaves the last good copy in force, and every outcome is reported up.
 */
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { Datasets } from '../../../edge/lessons/datasets.js';
import type { Store } from '../../../edge/store/index.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { DatasetDownlink, datasetResultSchema, datasetTopics, type DatasetResult } from '../../../sync/datasets-downlink.js';
import { ROOM, roster, tempStore, timetable, type TempStore } from '../lessons/fixtures.js';

let tmp: TempStore | undefined;
const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  tmp?.remove();
  tmp = undefined;
});

const clock = { now: () => 1_760_000_000_000, monotonic: () => 0 };
const topics = datasetTopics(ROOM);

function setup(opts: { failPublish?: boolean } = {}) {
  tmp ??= tempStore();
  const store = tmp.open(clock);
  stores.push(store);
  const datasets = new Datasets({ store, clock, logger: silentLogger() });
  const published: Array<{ topic: string; payload: DatasetResult }> = [];
  const rejected: string[] = [];
  const downlink = new DatasetDownlink({
    roomId: ROOM,
    datasets,
    store,
    clock,
    logger: silentLogger(),
    publish: async (topic, payload) => {
      if (opts.failPublish) throw new Error('link down');
      published.push({ topic, payload: datasetResultSchema.parse(payload) });
    },
    onRejected: (r) => rejected.push(r),
  });
  return { store, datasets, downlink, published, rejected };
}

const push = (kind: 'roster' | 'timetable', version: number, doc: unknown, roomId = ROOM) =>
  Buffer.from(JSON.stringify({ v: 1, roomId, kind, version, doc, publishedAt: 1_760_000_000_000 }));

describe('datasets downlink', () => {
  it('applies a pushed roster and timetable, reports both, and skips the retained redelivery', async () => {
    const { datasets, downlink, published, store } = setup();
    expect(downlink.subscription).toBe(`district/rooms/${ROOM}/down/datasets/+`);
    const r1 = await downlink.handle(topics.push('roster'), push('roster', 7, roster()));
    expect(r1).toMatchObject({ kind: 'handled', result: { outcome: 'applied', version: 7, localVersion: 1 } });
    // Gzipped like any link message.
    const r2 = await downlink.handle(topics.push('timetable'), gzipSync(push('timetable', 3, timetable())));
    expect(r2).toMatchObject({ kind: 'handled', result: { outcome: 'applied', version: 3, localVersion: 1 } });
    expect(datasets.active('roster')?.source).toBe('cloud v7');
    expect(datasets.active('timetable')?.doc).toBeTruthy();
    expect(published.map((p) => [p.topic, p.payload.kind, p.payload.outcome])).toEqual([
      [topics.results, 'roster', 'applied'],
      [topics.results, 'timetable', 'applied'],
    ]);

    // The broker delivers the retained push again after a reconnect: nothing happens.
    const again = await downlink.handle(topics.push('roster'), push('roster', 7, roster()));
    expect(again).toMatchObject({ kind: 'skipped' });
    expect(published).toHaveLength(2);
    // The imports are in the event log (the durable record for the cloud).
    expect(store.eventsAfter(0, 100).filter((e) => e.stream === 'dataset').map((e) => e.type)).toEqual(['import', 'import']);
  });

  it('refuses a bad document, keeps the last good copy, reports the problems, and remembers it across a restart', async () => {
    const first = setup();
    await first.downlink.handle(topics.push('roster'), push('roster', 1, roster()));
    const bad = { ...roster(), students: [{ studentId: 's1', name: '张三', classId: 'no-such-class' }] };
    const r = await first.downlink.handle(topics.push('roster'), push('roster', 2, bad));
    expect(r.kind).toBe('handled');
    const result = (r as { result: DatasetResult }).result;
    expect(result).toMatchObject({ outcome: 'refused', version: 2, localVersion: 1 });
    expect(result.problems?.join('\n')).toMatch(/no-such-class/);
    expect(first.datasets.active('roster')?.version).toBe(1);
    expect(first.datasets.active('roster')?.source).toBe('cloud v1');
    expect(first.store.eventsAfter(0, 100).filter((e) => e.stream === 'dataset').map((e) => e.type)).toEqual(['import', 'rejected']);
    await first.store.close();
    stores.splice(0);

    // After a restart the refused version is not tried again; a fixed version 3 is applied.
    const second = setup();
    expect(second.downlink.handledVersion('roster')).toBe(2);
    expect(await second.downlink.handle(topics.push('roster'), push('roster', 2, bad))).toMatchObject({ kind: 'skipped' });
    const fixed = await second.downlink.handle(topics.push('roster'), push('roster', 3, { ...roster(), students: roster().students.slice(0, 2) }));
    expect(fixed).toMatchObject({ kind: 'handled', result: { outcome: 'applied', version: 3, localVersion: 2 } });
  });

  it('rejects, counts and survives malformed or misaddressed pushes', async () => {
    const { downlink, rejected, datasets, published } = setup();
    const cases: Array<[string, Uint8Array]> = [
      [topics.push('roster'), Buffer.from('not json')],
      [topics.push('roster'), Buffer.from([0x1f, 0x8b, 0x00, 0x01])],
      [topics.push('roster'), Buffer.from(JSON.stringify({ v: 1, roomId: ROOM, kind: 'roster', version: 0, doc: {}, publishedAt: 0 }))],
      [topics.push('roster'), push('roster', 5, roster(), 'other-room')],
      // A timetable on the roster topic.
      [topics.push('roster'), push('timetable', 5, timetable())],
    ];
    for (const [topic, payload] of cases) expect((await downlink.handle(topic, payload)).kind).toBe('rejected');
    expect(rejected).toHaveLength(cases.length);
    expect(rejected[0]).toMatch(/^not-json/);
    expect(rejected[1]).toMatch(/^bad-gzip/);
    expect(rejected[3]).toMatch(/not addressed to room/);
    expect(datasets.active('roster')).toBeNull();
    expect(published).toHaveLength(0);
    // A cleared retained topic (empty payload) is not an error.
    expect(await downlink.handle(topics.push('roster'), new Uint8Array())).toMatchObject({ kind: 'skipped' });
    // Still working.
    expect(await downlink.handle(topics.push('roster'), push('roster', 1, roster()))).toMatchObject({ kind: 'handled' });
  });

  it('applies the dataset even when the result cannot be sent (the event log carries the import up)', async () => {
    const { downlink, datasets } = setup({ failPublish: true });
    const r = await downlink.handle(topics.push('roster'), push('roster', 4, roster()));
    expect(r).toMatchObject({ kind: 'handled', result: { outcome: 'applied' } });
    expect(datasets.active('roster')?.source).toBe('cloud v4');
  });
});
