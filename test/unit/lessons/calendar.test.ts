import { describe, expect, it } from 'vitest';
import { dayInfo, parseLessonId, scheduledLessons } from '../../../edge/lessons/calendar.js';
import { ROOM, sh, timetable } from './fixtures.js';

const SH = { roomId: ROOM, zone: 'Asia/Shanghai' };
const brief = (date: string, zone = SH) =>
  scheduledLessons(timetable(), date, zone).map((l) => `${l.lessonId} ${l.course} ${new Date(l.startsAt).toISOString()}`);

describe('term calendar', () => {
  it('a regular Monday: its weekly grid with the standard bell schedule, Shanghai times', () => {
    const lessons = scheduledLessons(timetable(), '2025-09-01', SH);
    expect(lessons.map((l) => l.lessonId)).toEqual(['r203/2025-09-01/p1', 'r203/2025-09-01/p2', 'r203/2025-09-01/p3']);
    expect(lessons[0]).toEqual({
      lessonId: 'r203/2025-09-01/p1',
      roomId: ROOM,
      date: '2025-09-01',
      period: 1,
      course: '数学',
      classId: 'c1',
      teacherId: 't1',
      startsAt: sh('2025-09-01', '08:00'),
      endsAt: sh('2025-09-01', '08:45'),
      adHoc: false,
    });
    expect(lessons[2]?.teacherId).toBeNull();
  });

  it('the holiday week has no lessons, on any weekday', () => {
    for (const d of ['2025-10-01', '2025-10-06', '2025-10-08']) {
      expect(dayInfo(timetable(), d).kind).toBe('holiday');
      expect(brief(d)).toEqual([]);
    }
    expect(brief('2025-10-13')).toHaveLength(3); // the Monday after
  });

  it('the make-up Saturday follows Monday: Monday grid, Monday bell schedule', () => {
    const info = dayInfo(timetable(), '2025-10-11');
    expect(info).toMatchObject({ kind: 'makeup', weekday: 6, gridWeekday: 1, bellSchedule: 'standard' });
    expect(brief('2025-10-11')).toEqual([
      'r203/2025-10-11/p1 数学 2025-10-11T00:00:00.000Z',
      'r203/2025-10-11/p2 语文 2025-10-11T00:55:00.000Z',
      'r203/2025-10-11/p3 英语 2025-10-11T02:00:00.000Z',
    ]);
    expect(brief('2025-10-18')).toEqual([]); // an ordinary Saturday
  });

  it('a bell override changes the times of that day only; periods it lacks have no lesson', () => {
    expect(dayInfo(timetable(), '2025-11-05').bellSchedule).toBe('exam');
    expect(brief('2025-11-05')).toEqual([
      'r203/2025-11-05/p1 物理 2025-11-05T01:00:00.000Z',
      'r203/2025-11-05/p2 化学 2025-11-05T03:00:00.000Z',
    ]); // period 5 (生物) is not in the exam schedule
    expect(brief('2025-11-12')).toHaveLength(3);
  });

  it('a weekday bell schedule (Friday) applies to that weekday', () => {
    const fri = scheduledLessons(timetable(), '2025-09-05', SH);
    expect(fri.map((l) => [l.startsAt, l.endsAt])).toEqual([
      [sh('2025-09-05', '08:00'), sh('2025-09-05', '08:40')],
      [sh('2025-09-05', '08:50'), sh('2025-09-05', '09:30')],
    ]);
  });

  it('outside the term: no lessons', () => {
    expect(dayInfo(timetable(), '2025-08-25').kind).toBe('outside-term');
    expect(brief('2025-08-25')).toEqual([]);
    expect(brief('2026-01-26')).toEqual([]);
  });

  it('a room in Europe/Berlin keeps wall times across the DST change', () => {
    const doc = timetable();
    doc.term = { ...doc.term, start: '2026-03-01', end: '2026-04-30', holidays: [], makeupDays: [], bellOverrides: [] };
    const berlin = { roomId: 'b1', zone: 'Europe/Berlin' };
    const before = scheduledLessons(doc, '2026-03-23', berlin)[0]!; // CET, UTC+1
    const after = scheduledLessons(doc, '2026-03-30', berlin)[0]!; // CEST, UTC+2 (DST began 2026-03-29)
    expect(new Date(before.startsAt).toISOString()).toBe('2026-03-23T07:00:00.000Z');
    expect(new Date(after.startsAt).toISOString()).toBe('2026-03-30T06:00:00.000Z');
    expect(after.endsAt - after.startsAt).toBe(45 * 60_000);
    // Shanghai has no DST: the same wall time is the same UTC offset all year.
    const sh1 = scheduledLessons(doc, '2026-03-23', SH)[0]!;
    const sh2 = scheduledLessons(doc, '2026-03-30', SH)[0]!;
    expect([new Date(sh1.startsAt).toISOString(), new Date(sh2.startsAt).toISOString()]).toEqual([
      '2026-03-23T00:00:00.000Z',
      '2026-03-30T00:00:00.000Z',
    ]);
  });

  it('lesson ids parse back', () => {
    expect(parseLessonId('r203/2025-09-01/p3')).toEqual({ roomId: 'r203', date: '2025-09-01', period: 3, adHoc: null });
    expect(parseLessonId('r203/2025-09-01/adhoc-2')).toEqual({ roomId: 'r203', date: '2025-09-01', period: null, adHoc: 2 });
    expect(parseLessonId('r203/2025-09-01/x')).toBeUndefined();
  });
});
