/**
 * A bad timetable from any source (CSV, iCalendar, YAML/JSON, a document
 * handed to put() as sync would) leaves the last good one in force; a good
 * one replaces it and the running clock uses it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { Datasets } from '../../../edge/lessons/datasets.js';
import { importTimetable, type ImportFile } from '../../../edge/lessons/importers.js';
import { formatProblem } from '../../../edge/lessons/problems.js';
import type { Store } from '../../../edge/store/index.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { dateClock, tempStore, timetable, type TempStore } from './fixtures.js';

let tmp: TempStore;
let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
  tmp?.remove();
});

async function importInto(datasets: Datasets, files: ImportFile[]) {
  const o = importTimetable(files, datasets.active('timetable')?.doc ?? null, { zone: 'Asia/Shanghai' });
  if (!o.doc) {
    await datasets.recordRejected('timetable', files.map((f) => f.name).join('+'), o.problems.length);
    return { ok: false as const, problems: o.problems.map(formatProblem) };
  }
  return datasets.put('timetable', o.doc, files[0]!.name);
}

describe('the last good timetable stays in force', () => {
  it('whatever the source of the bad one', async () => {
    tmp = tempStore();
    store = tmp.open();
    const datasets = new Datasets({ store, clock: dateClock, logger: silentLogger() });
    expect(await importInto(datasets, [{ name: 'full.yaml', text: stringify(timetable()) }])).toMatchObject({ ok: true, changed: true });
    const good = datasets.active('timetable')!;
    expect(good.version).toBe(1);

    const json = JSON.stringify({ ...timetable(), defaultBellSchedule: 'nope' }, null, 2);
    const jsonLine = json.split('\n').findIndex((l) => l.includes('"nope"')) + 1;
    const bad: Array<[ImportFile, RegExp]> = [
      [{ name: 'grid.csv', text: 'weekday,period,course,class_id\n周八,1,数学,c1\n' }, /^grid\.csv: line 2: weekday "周八"/],
      [{ name: 'cal.ics', text: 'BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nDTSTART:20250901T081000\r\nRRULE:FREQ=WEEKLY\r\nX-CLASS-ID:c1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n' }, /^cal\.ics: line 2: VEVENT "x" starts at 08:10/],
      [{ name: 'doc.json', text: json }, new RegExp(`^doc\\.json: line ${jsonLine} \\(defaultBellSchedule\\): unknown bell schedule "nope"`)],
      [{ name: 'doc.yaml', text: 'bellSchedules: [\n' }, /^doc\.yaml: line \d+ column \d+: /],
    ];
    for (const [file, expected] of bad) {
      const r = await importInto(datasets, [file]);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.problems[0]).toMatch(expected);
      expect(datasets.active('timetable')).toMatchObject({ version: 1, checksum: good.checksum });
    }
    // A document handed over directly (the cloud downlink) is validated the same way.
    const direct = await datasets.put('timetable', { ...timetable(), weekly: [{ weekday: 9, period: 1, course: 'x', classId: 'c1' }] }, 'cloud');
    expect(direct.ok).toBe(false);
    expect(datasets.active('timetable')?.version).toBe(1);
    expect(store.eventsAfter(0, 100).filter((e) => e.stream === 'dataset').map((e) => e.type)).toEqual(['import', 'rejected', 'rejected', 'rejected', 'rejected', 'rejected']);

    const fixed = await importInto(datasets, [{ name: 'grid.csv', text: 'weekday,period,course,class_id\n周一,1,数学,c1\n' }]);
    expect(fixed).toMatchObject({ ok: true, changed: true, info: { version: 2, counts: { weekly: 1 } } });
  });

  it('names YAML problems with their line', () => {
    const doc = timetable();
    const text = stringify(doc).replace('end: 2026-01-23', 'end: 2026-02-30');
    const o = importTimetable([{ name: 't.yaml', text }], null, { zone: 'Asia/Shanghai' });
    const line = text.split('\n').findIndex((l) => l.includes('2026-02-30')) + 1;
    expect(o.problems.map(formatProblem)).toEqual([`t.yaml: line ${line} (term.end): must be a real date written YYYY-MM-DD`]);
  });
});
