import { afterEach, describe, expect, it, vi } from 'vitest';
import { Datasets } from '../../../edge/lessons/datasets.js';
import type { Store } from '../../../edge/store/index.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { roster, tempStore, timetable, type TempStore } from './fixtures.js';

let tmp: TempStore;
const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  tmp?.remove();
});

function open(): { store: Store; datasets: Datasets } {
  const store = tmp.open();
  stores.push(store);
  return { store, datasets: new Datasets({ store, clock: { now: () => 1_760_000_000_000, monotonic: () => 0 }, logger: silentLogger() }) };
}

const events = (s: Store, stream: string) => s.eventsAfter(0, 1000).filter((e) => e.stream === stream);

describe('datasets', () => {
  it('stores a valid document as version 1, logs the import without personal content', async () => {
    tmp = tempStore();
    const { store, datasets } = open();
    expect(datasets.active('roster')).toBeNull();
    const r = await datasets.put('roster', roster(), 'test');
    expect(r).toMatchObject({ ok: true, changed: true, info: { kind: 'roster', version: 1, source: 'test', counts: { students: 3, teachers: 2, cards: 3 } } });
    expect(datasets.active('roster')?.doc.students[0]?.name).toBe('张三');
    const ev = events(store, 'dataset');
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ type: 'import', entityId: 'roster/1' });
    expect(ev[0]!.payload).not.toMatch(/张三|62E3086CED/);
    expect(JSON.parse(ev[0]!.payload)).toMatchObject({ kind: 'roster', version: 1, counts: { students: 3 } });
  });

  it('the same content again is a no-op (checksum), whatever the key order', async () => {
    tmp = tempStore();
    const { store, datasets } = open();
    await datasets.put('timetable', timetable(), 'a');
    const reordered = Object.fromEntries(Object.entries(timetable()).reverse());
    const again = await datasets.put('timetable', reordered, 'b');
    expect(again).toMatchObject({ ok: true, changed: false, info: { version: 1, source: 'a' } });
    expect(events(store, 'dataset')).toHaveLength(1);
    const changed = timetable();
    changed.weekly.pop();
    expect(await datasets.put('timetable', changed, 'c')).toMatchObject({ ok: true, changed: true, info: { version: 2 } });
    expect(datasets.history('timetable').map((h) => h.version)).toEqual([2, 1]);
  });

  it('refuses a bad document with every problem, keeps the last good copy, logs the refusal', async () => {
    tmp = tempStore();
    const { store, datasets } = open();
    await datasets.put('timetable', timetable(), 'good');
    const bad = timetable();
    bad.weekly.push({ weekday: 1, period: 9, course: 'x', classId: 'c1' });
    bad.term.makeupDays.push({ date: '2025-10-02', followsWeekday: 1 });
    const listener = vi.fn();
    datasets.onChange(listener);
    const r = await datasets.put('timetable', bad, 'bad');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.map((p) => p.path)).toEqual(['term.makeupDays[1].date', 'weekly[8].period']);
    expect(datasets.active('timetable')).toMatchObject({ version: 1, source: 'good' });
    expect(listener).not.toHaveBeenCalled();
    expect(events(store, 'dataset').map((e) => e.type)).toEqual(['import', 'rejected']);
    expect(store.db.prepare('SELECT count(*) AS n FROM datasets').get()).toEqual({ n: 1 });
  });

  it('refresh() picks up a version imported through another connection (the CLI), and tells listeners', async () => {
    tmp = tempStore();
    const service = open();
    const cli = open();
    const seen: Array<[string, number]> = [];
    service.datasets.onChange((kind, info) => seen.push([kind, info.version]));
    expect(service.datasets.refresh()).toEqual([]);
    await cli.datasets.put('roster', roster(), 'cli');
    expect(service.datasets.active('roster')).toBeNull();
    expect(service.datasets.refresh()).toEqual(['roster']);
    expect(service.datasets.active('roster')?.doc.classes).toHaveLength(2);
    expect(seen).toEqual([['roster', 1]]);
    expect(service.datasets.refresh()).toEqual([]); // nothing new: no second notification
    expect(seen).toHaveLength(1);
  });

  it('a stored version in force that no longer validates falls back to the newest valid one', async () => {
    tmp = tempStore();
    const { store, datasets } = open();
    await datasets.put('roster', roster(), 'v1');
    const r2 = roster();
    r2.students.pop();
    await datasets.put('roster', r2, 'v2');
    store.db.prepare("UPDATE datasets SET content = '{\"classes\":[]}' WHERE kind = 'roster' AND version = 2").run();
    const fresh = new Datasets({ store, clock: { now: () => 0, monotonic: () => 0 }, logger: silentLogger() });
    expect(fresh.active('roster')).toMatchObject({ version: 1, source: 'v1' });
  });
});
