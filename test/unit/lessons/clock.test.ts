/**
 * The lesson clock on fake time: a school day, holidays, the make-up
 * Saturday, a changed bell schedule, NTP jumps forward and backward
 * mid-lesson, a restart mid-lesson, a room in another zone across DST.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ROOM, sh, tempStore, timetable, type TempStore } from './fixtures.js';
import { lessonEvents, startClock, useFakeTime, type Harness } from './clock-harness.js';

let tmp: TempStore;
let h: Harness | undefined;
afterEach(async () => {
  await h?.shutdown().catch(() => undefined);
  h = undefined;
  vi.useRealTimers();
  tmp?.remove();
});

const D = '2025-09-01'; // a Monday
const id = (p: number, date = D) => `${ROOM}/${date}/p${p}`;

describe('LessonClock: the day runs by the bell', () => {
  it('starts and ends each lesson at its bell, once, with event-log rows', async () => {
    tmp = tempStore();
    useFakeTime(sh(D, '07:50'));
    h = await startClock(tmp);
    expect(h.lc.current()).toBeNull();
    expect(h.lc.next()?.lessonId).toBe(id(1));
    await h.advance(10 * 60_000); // 08:00
    expect(h.lc.current()?.lessonId).toBe(id(1));
    expect(h.log).toEqual([`start ${id(1)}`]);
    await h.advance(4 * 3600_000); // 12:00
    expect(h.log).toEqual([`start ${id(1)}`, `end ${id(1)} scheduled`, `start ${id(2)}`, `end ${id(2)} scheduled`, `start ${id(3)}`, `end ${id(3)} scheduled`]);
    expect(lessonEvents(h.store)).toEqual(h.log.map((l) => l.split(' ').slice(0, 2).join(' ')));
    // Started exactly at the bell: the timer is set to the boundary, not only to the 5 s tick.
    const row = h.store.db.prepare('SELECT started_at, ended_at, end_reason FROM lessons WHERE lesson_id = ?').get(id(2));
    expect(row).toEqual({ started_at: sh(D, '08:55'), ended_at: sh(D, '09:40'), end_reason: 'scheduled' });
    expect(h.lc.current()).toBeNull();
    expect(h.lc.next()).toBeNull();
  });

  it('a holiday week has no lessons', async () => {
    tmp = tempStore();
    useFakeTime(sh('2025-10-06', '07:00')); // Monday inside 国庆节
    h = await startClock(tmp);
    await h.advance(10 * 3600_000);
    expect(h.log).toEqual([]);
    expect(h.lc.lessonsOn('2025-10-06')).toEqual([]);
    expect(h.lc.today()).toBe('2025-10-06');
  });

  it('the make-up Saturday runs Monday\'s timetable', async () => {
    tmp = tempStore();
    useFakeTime(sh('2025-10-11', '08:10'));
    h = await startClock(tmp);
    expect(h.lc.current()).toMatchObject({ lessonId: id(1, '2025-10-11'), course: '数学', classId: 'c1' });
    expect(h.log).toEqual([`start ${id(1, '2025-10-11')}`]);
  });

  it('a day with a changed bell schedule starts at the override\'s times', async () => {
    tmp = tempStore();
    useFakeTime(sh('2025-11-05', '08:30'));
    h = await startClock(tmp);
    expect(h.lc.current()).toBeNull(); // 08:30: the exam schedule starts at 09:00
    await h.advance(30 * 60_000);
    expect(h.lc.current()).toMatchObject({ lessonId: id(1, '2025-11-05'), startsAt: sh('2025-11-05', '09:00'), endsAt: sh('2025-11-05', '10:30') });
  });

  it('a new timetable applies to lessons that have not started', async () => {
    tmp = tempStore();
    useFakeTime(sh(D, '07:00'));
    h = await startClock(tmp);
    const doc = timetable();
    doc.weekly[0]!.course = '数学（调课）';
    expect((await h.datasets.put('timetable', doc, 'change')).ok).toBe(true);
    await h.advance(60 * 60_000);
    expect(h.lc.current()?.course).toBe('数学（调课）');
  });
});

describe('LessonClock: the wall clock jumps (NTP correction)', () => {
  it('a forward jump within the lesson changes nothing; past its end ends it once and starts the lesson due', async () => {
    tmp = tempStore();
    useFakeTime(sh(D, '08:10'));
    h = await startClock(tmp);
    await h.jump(sh(D, '08:30'));
    expect(h.log).toEqual([`start ${id(1)}`]);
    await h.jump(sh(D, '09:00'));
    expect(h.log).toEqual([`start ${id(1)}`, `end ${id(1)} scheduled`, `start ${id(2)}`]);
    await h.jump(sh(D, '11:00')); // past p2 and the whole of p3
    expect(h.log).toEqual([`start ${id(1)}`, `end ${id(1)} scheduled`, `start ${id(2)}`, `end ${id(2)} scheduled`]);
    await h.advance(3600_000);
    expect(lessonEvents(h.store)).toEqual([`start ${id(1)}`, `end ${id(1)}`, `start ${id(2)}`, `end ${id(2)}`]);
  });

  it('a backward jump never restarts the current lesson nor an ended one', async () => {
    tmp = tempStore();
    useFakeTime(sh(D, '08:40'));
    h = await startClock(tmp);
    await h.advance(20 * 60_000); // 09:00: p1 ended, p2 on
    expect(h.log).toEqual([`start ${id(1)}`, `end ${id(1)} scheduled`, `start ${id(2)}`]);
    await h.jump(sh(D, '08:30')); // back inside p1's window
    await h.jump(sh(D, '08:50')); // before p2's start
    expect(h.lc.current()?.lessonId).toBe(id(2));
    expect(h.log).toHaveLength(3);
    vi.setSystemTime(sh(D, '09:35'));
    await h.advance(10 * 60_000);
    expect(h.log).toEqual([`start ${id(1)}`, `end ${id(1)} scheduled`, `start ${id(2)}`, `end ${id(2)} scheduled`]);
  });

  it('a backward jump into an earlier lesson that never ran does not start it over the current one', async () => {
    tmp = tempStore();
    useFakeTime(sh(D, '09:00'));
    h = await startClock(tmp);
    await h.jump(sh(D, '08:20'));
    expect(h.lc.current()?.lessonId).toBe(id(2));
    expect(h.log).toEqual([`start ${id(2)}`]);
  });
});

describe('LessonClock: restart', () => {
  it('resumes the lesson in progress without a second start, and ends it once', async () => {
    tmp = tempStore();
    useFakeTime(sh(D, '08:10'));
    h = await startClock(tmp);
    expect(h.log).toEqual([`start ${id(1)}`]);
    await h.shutdown();
    vi.setSystemTime(sh(D, '08:20'));
    h = await startClock(tmp);
    expect(h.log).toEqual([]);
    expect(h.lc.current()?.lessonId).toBe(id(1));
    await h.advance(30 * 60_000);
    expect(h.log).toEqual([`end ${id(1)} scheduled`]);
    expect(lessonEvents(h.store)).toEqual([`start ${id(1)}`, `end ${id(1)}`]);
  });

  it('ends, at restart, a lesson whose end passed while the service was down, then starts the one due', async () => {
    tmp = tempStore();
    useFakeTime(sh(D, '08:10'));
    h = await startClock(tmp);
    await h.shutdown();
    vi.setSystemTime(sh(D, '09:00'));
    h = await startClock(tmp);
    expect(h.log).toEqual([`end ${id(1)} scheduled`, `start ${id(2)}`]);
    expect(lessonEvents(h.store)).toEqual([`start ${id(1)}`, `end ${id(1)}`, `start ${id(2)}`]);
  });
});

describe('LessonClock: a room in Europe/Berlin across the DST change', () => {
  it('starts at 08:00 local in CET and, after the change, in CEST', async () => {
    tmp = tempStore();
    const doc = timetable();
    doc.term = { ...doc.term, start: '2026-03-01', end: '2026-04-30', holidays: [], makeupDays: [], bellOverrides: [] };
    useFakeTime(Date.parse('2026-03-23T06:59:00Z')); // Monday 07:59 CET (UTC+1)
    h = await startClock(tmp, { doc, zone: 'Europe/Berlin', roomId: 'b1' });
    await h.advance(60_000);
    expect(h.lc.current()).toMatchObject({ lessonId: 'b1/2026-03-23/p1', startsAt: Date.parse('2026-03-23T07:00:00Z') });
    await h.jump(Date.parse('2026-03-28T23:00:00Z')); // Sunday 00:00 CET; clocks go forward at 02:00
    expect(h.lc.today()).toBe('2026-03-29');
    expect(h.lc.current()).toBeNull();
    await h.advance(31 * 3600_000); // Monday 2026-03-30 08:00:05 CEST (UTC+2)
    expect(h.lc.current()).toMatchObject({ lessonId: 'b1/2026-03-30/p1', startsAt: Date.parse('2026-03-30T06:00:00Z') });
    expect(h.log).toEqual(['start b1/2026-03-23/p1', 'end b1/2026-03-23/p1 scheduled', 'start b1/2026-03-30/p1']);
  });
});
