/** The demo datasets, the roster index attendance reads, and the retained `lesson` message. */
import { afterEach, describe, expect, it } from 'vitest';
import { scheduledLessons } from '../../../edge/lessons/calendar.js';
import { Datasets } from '../../../edge/lessons/datasets.js';
import { addDays, localDate } from '../../../edge/lessons/dates.js';
import { demoDatasets, ensureDemoDatasets } from '../../../edge/lessons/demo-data.js';
import { lessonMessage } from '../../../edge/lessons/message.js';
import { createRosterIndex } from '../../../edge/lessons/roster.js';
import { validateRoster } from '../../../edge/lessons/roster-schema.js';
import { validateTimetable } from '../../../edge/lessons/timetable-schema.js';
import { lessonSchema } from '../../../edge/schemas/bus.js';
import type { Store } from '../../../edge/store/index.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { dateClock, roster, tempStore, type TempStore } from './fixtures.js';

let tmp: TempStore | undefined;
let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
  tmp?.remove();
  tmp = undefined;
});

describe('demo datasets', () => {
  it('are valid: two classes sharing the room, 32 students and 3 teachers with cards, one leave today', () => {
    const today = '2026-11-23';
    const { timetable, roster: r } = demoDatasets({ today });
    expect(validateTimetable(timetable).problems).toEqual([]);
    expect(validateRoster(r).problems).toEqual([]);
    expect(r.students).toHaveLength(32);
    expect(new Set(r.students.map((s) => s.classId))).toEqual(new Set(['g10-1', 'g10-2']));
    expect(r.students.every((s) => /^[0-9A-F]{10}$/.test(s.cardUid ?? '') && /^[\u4e00-\u9fff]{2,3}$/.test(s.name))).toBe(true);
    expect(r.teachers.every((t) => t.cardUid)).toBe(true);
    expect(r.leaves).toEqual([expect.objectContaining({ from: today, to: addDays(today, 2) })]);
    expect(timetable.term).toMatchObject({ start: '2026-09-01', end: '2027-08-31' });
    expect(timetable.term.holidays).toEqual([{ from: '2026-10-01', to: '2026-10-07', name: '国庆节' }]);
    expect(timetable.term.makeupDays).toEqual([{ date: '2026-10-10', followsWeekday: 1, name: '国庆调休' }]);
    expect(new Set(timetable.weekly.map((w) => w.classId)).size).toBe(2);
  });

  it('demo: true has a lesson in every period Monday-Friday; demo: false leaves free periods', () => {
    const room = { roomId: 'demo-room', zone: 'Asia/Shanghai' };
    const live = demoDatasets({ today: '2027-03-15' }).timetable;
    expect(live.term.start).toBe('2026-09-01');
    expect(live.weekly).toHaveLength(40);
    for (const date of ['2027-03-15', '2027-03-19']) expect(scheduledLessons(live, date, room)).toHaveLength(8);
    expect(scheduledLessons(live, '2027-03-20', room)).toEqual([]); // Saturday
    const lessons = scheduledLessons(live, '2027-03-15', room);
    expect(lessons[0]?.startsAt).toBe(Date.parse('2027-03-15T08:00:00+08:00'));
    expect(lessons[7]?.endsAt).toBe(Date.parse('2027-03-15T17:40:00+08:00'));
    expect(demoDatasets({ today: '2027-03-15', demo: false }).timetable.weekly.length).toBeLessThan(40);
  });

  it('ensureDemoDatasets seeds only kinds that have nothing in force', async () => {
    tmp = tempStore();
    store = tmp.open();
    const datasets = new Datasets({ store, clock: dateClock, logger: silentLogger() });
    await datasets.put('roster', roster(), 'school');
    const done = await ensureDemoDatasets(datasets, { today: localDate(Date.now(), 'Asia/Shanghai') });
    expect(Object.keys(done)).toEqual(['timetable']);
    expect(datasets.active('roster')?.source).toBe('school');
    expect(datasets.active('timetable')?.source).toBe('demo');
    const term = datasets.active('timetable')!.doc.term;
    expect(await ensureDemoDatasets(datasets, { today: term.end })).toEqual({});
    const renewed = await ensureDemoDatasets(datasets, { today: addDays(term.end, 1) });
    expect(renewed.timetable).toMatchObject({ ok: true, changed: true });
    expect(datasets.active('timetable')?.doc.term.start).toBe(addDays(term.end, 1));
  });
});

describe('roster index', () => {
  const idx = createRosterIndex(4, roster());

  it('finds students by class, people by card (any spelling), leaves by date and period', () => {
    expect(idx.version).toBe(4);
    expect(idx.studentsOf('c1').map((s) => s.studentId)).toEqual(['s1', 's2']);
    expect(idx.studentsOf('zz')).toEqual([]);
    expect(idx.byCard('62e3086ced')).toEqual({ type: 'student', student: { studentId: 's1', name: '张三', classId: 'c1', cardUid: '62E3086CED' } });
    expect(idx.byCard('7E:00:00:00:01')).toMatchObject({ type: 'teacher', teacher: { teacherId: 't1' } });
    expect(idx.byCard('FFFFFFFFFF')).toBeUndefined();
    expect(idx.leaveFor('s2', '2025-09-02', 2)).toMatchObject({ reason: '病假' });
    expect(idx.leaveFor('s2', '2025-09-02', 1)).toBeUndefined(); // only period 2
    expect(idx.leaveFor('s2', '2025-09-03', 2)).toBeUndefined();
    expect(idx.leaveFor('s2', '2025-09-01', null)).toBeUndefined(); // ad-hoc session: not a listed period
    expect(idx.className('c2')).toBe('初二(2)班');
  });

  it('builds the retained lesson message with names, valid for the bus schema', () => {
    const lesson = {
      lessonId: 'r203/2025-09-01/p1',
      roomId: 'r203',
      date: '2025-09-01',
      period: 1,
      course: '数学',
      classId: 'c1',
      teacherId: 't1',
      startsAt: Date.parse('2025-09-01T00:00:00Z'),
      endsAt: Date.parse('2025-09-01T00:45:00Z'),
      adHoc: false,
    };
    const msg = lessonMessage(lesson, idx);
    expect(msg).toEqual({ lessonId: lesson.lessonId, course: '数学', className: '初二(1)班', teacher: '赵老师', period: 1, startsAt: lesson.startsAt, endsAt: lesson.endsAt, adHoc: false });
    expect(lessonSchema.safeParse(msg).success).toBe(true);
    expect(lessonMessage(null)).toEqual({ lessonId: null });
    expect(lessonMessage({ ...lesson, period: null, adHoc: true, teacherId: null }, null)).not.toHaveProperty('period');
  });
});
