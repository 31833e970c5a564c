/**
 * `classroom-edge import timetable|roster FILE...` end to end: the built CLI
 * in a child process writes into the room's store while this process holds
 * the same store open, as the running service does, and picks the new
 * versions up with refresh() (WAL, another process).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CLI, requireBuilt } from '../helpers/cli.js';
import { tempRoom, type TempRoom } from '../helpers/room.js';
import { Datasets } from '../../edge/lessons/datasets.js';
import { openStore, type Store } from '../../edge/store/index.js';
import { silentLogger } from '../../edge/util/logger.js';
import { systemClock } from '../../edge/util/clock.js';
import { timetable } from '../unit/lessons/fixtures.js';

let room: TempRoom | undefined;
let store: Store | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await store?.close();
  store = undefined;
  room?.cleanup();
  room = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, 'import', ...args], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, CLASSROOM_EDGE_CONFIG: '', ...env } });
  if (r.error) throw r.error;
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function file(dir: string, name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

describe('classroom-edge import', () => {
  it('imports into the configured room, refuses bad files by line, and the open store sees each new version', () => {
    requireBuilt();
    room = tempRoom();
    const cfg = ['--config', room.configFile];
    const full = file(room.dir, 'timetable.yaml', stringify(timetable()));
    const first = run(['timetable', full, ...cfg]);
    expect(first.err).toBe('');
    expect(first).toMatchObject({ code: 0, out: 'timetable version 1 imported into room test-room: bellSchedules 3, weekly 8, holidays 1, makeupDays 1, bellOverrides 1\n' });

    // The service's view: same file, another connection, opened before the next imports.
    store = openStore({ path: join(room.dataDir, 'store.db'), roomId: 'test-room', logger: silentLogger(), clock: systemClock });
    const datasets = new Datasets({ store, clock: systemClock, logger: silentLogger() });
    const changes: string[] = [];
    datasets.onChange((kind, info) => changes.push(`${kind} v${info.version}`));
    expect(datasets.active('timetable')?.version).toBe(1);

    const bad = file(room.dir, 'grid.csv', '\ufeffweekday,period,course,class_id,teacher_id\n周一,1,数学,c1,t1\n\n周八,2,语文,c2,\n周二,9,英语,c1,\n');
    const refused = run(['timetable', bad, ...cfg]);
    expect(refused.code).toBe(1);
    expect(refused.out).toBe('');
    expect(refused.err.split('\n')).toEqual([
      'grid.csv: line 4: weekday "周八" is not a weekday (use 1-7, 周一..周日 or Mon..Sun)',
      '1 problem(s); the timetable in force (version 1) is unchanged',
      '',
    ]);
    const unknownPeriod = run(['timetable', file(room.dir, 'p.csv', 'weekday,period,course,class_id\n周二,9,英语,c1\n'), ...cfg]);
    expect(unknownPeriod.code).toBe(1);
    expect(unknownPeriod.err).toContain('p.csv: line 2: period: period 9 is not in bell schedule "standard" used on 周二');
    expect(datasets.refresh()).toEqual([]);

    const good = file(room.dir, 'grid.csv', 'weekday,period,course,class_id,teacher_id\n周一,1,数学,c1,t1\nMon,2,语文,c2,t2\n');
    expect(run(['timetable', good, ...cfg])).toMatchObject({ code: 0, out: expect.stringMatching(/^timetable version 2 imported .*weekly 2,/) });
    expect(run(['timetable', good, ...cfg])).toMatchObject({ code: 0, out: expect.stringMatching(/^timetable unchanged: same content as version 2/) });

    const students = file(room.dir, 'students.csv', 'student_id,name,class_id,card_uid,class_name\ns1,张三,c1,62e3086ced,初二(1)班\ns2,李四,c2,,初二(2)班\n');
    const teachers = file(room.dir, 'teachers.csv', 'teacher_id,name,card_uid\nt1,赵老师,7E00000001\n');
    const leaves = file(room.dir, 'leaves.csv', 'student_id,from,to,periods,reason\ns2,2025-09-01,2025-09-02,,病假\n');
    const rosterRun = run(['roster', leaves, students, teachers, ...cfg]);
    expect(rosterRun.err).toBe('');
    expect(rosterRun).toMatchObject({ code: 0, out: 'roster version 1 imported into room test-room: classes 2, students 2, teachers 1, leaves 1, cards 2\n' });
    const clash = file(room.dir, 'teachers2.csv', 'teacher_id,name,card_uid\nt1,赵老师,62E3086CED\n');
    const clashRun = run(['roster', clash, ...cfg]);
    expect(clashRun.code).toBe(1);
    expect(clashRun.err).toContain('teachers2.csv: line 2: cardUid: card UID 62E3086CED is already used by student s1 (students[0])');

    expect(datasets.refresh().sort()).toEqual(['roster', 'timetable']);
    expect(changes.sort()).toEqual(['roster v1', 'timetable v2']);
    expect(datasets.active('timetable')?.doc.weekly).toHaveLength(2);
    expect(datasets.active('roster')?.doc.students[0]?.cardUid).toBe('62E3086CED');
    const logged = store.eventsAfter(0, 100).filter((e) => e.stream === 'dataset');
    expect(logged.map((e) => `${e.type} ${e.entityId}`)).toEqual([
      'import timetable/1',
      'rejected timetable',
      'rejected timetable',
      'import timetable/2',
      'import roster/1',
      'rejected roster',
    ]);
    expect(logged.map((e) => e.payload).join('')).not.toMatch(/张三|62E3086CED/);
  });

  it('with no config: the demo room, seeded with the demo datasets; iCalendar problems named by their BEGIN line', () => {
    requireBuilt();
    const dir = mkdtempSync(join(tmpdir(), 'ce-import-'));
    dirs.push(dir);
    const dataDir = join(dir, 'demo');
    const ics = (events: string) => `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:test\r\n${events}END:VCALENDAR\r\n`;
    const holiday = file(dir, 'holidays.ics', ics('BEGIN:VEVENT\r\nSUMMARY:元旦\r\nDTSTART;VALUE=DATE:20270101\r\nDTEND;VALUE=DATE:20270104\r\nCATEGORIES:HOLIDAY\r\nEND:VEVENT\r\n'));
    const ok = run(['timetable', holiday, '--data-dir', dataDir]);
    expect(ok.err).toBe('');
    expect(ok).toMatchObject({ code: 0, out: expect.stringMatching(/^timetable version 2 imported into room demo-room: bellSchedules 1, weekly 40, holidays 1, makeupDays 1,/) });
    const bad = file(dir, 'bad.ics', ics('BEGIN:VEVENT\r\nSUMMARY:数学\r\nDTSTART;TZID=Asia/Shanghai:20270104T081500\r\nRRULE:FREQ=WEEKLY\r\nX-CLASS-ID:g10-1\r\nEND:VEVENT\r\n'));
    const refused = run(['timetable', bad, '--data-dir', dataDir]);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/^bad\.ics: line 4: VEVENT "数学" starts at 08:15 on 周一, not at the start of a period/);
    expect(refused.err).toContain('the timetable in force (version 2) is unchanged');
    expect(run(['roster', join(dir, 'missing.csv'), '--data-dir', dataDir])).toMatchObject({ code: 1, err: expect.stringContaining('missing.csv: cannot read') });
    expect(run(['lessons', holiday, '--data-dir', dataDir])).toMatchObject({ code: 2, err: expect.stringContaining('import needs a kind') });
  });
});
