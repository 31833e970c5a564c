/** iCalendar timetables: weekly VEVENTs to the grid, HOLIDAY/MAKEUP all-day events to the term; problems at the VEVENT's BEGIN line. */
import { describe, expect, it } from 'vitest';
import { importTimetable } from '../../../edge/lessons/importers.js';
import { formatProblem } from '../../../edge/lessons/problems.js';
import { timetable } from './fixtures.js';

const ZONE = { zone: 'Asia/Shanghai' };
const cal = (...events: string[][]) => ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//school//timetable//CN', ...events.flat(), 'END:VCALENDAR', ''].join('\r\n');
const ev = (...props: string[]) => ['BEGIN:VEVENT', ...props, 'END:VEVENT'];
/** 1-based line of the BEGIN:VEVENT just before the line containing `marker`. */
function beginLine(text: string, marker: string): number {
  const lines = text.split('\r\n');
  const at = lines.findIndex((l) => l.includes(marker));
  for (let i = at; i >= 0; i--) if (lines[i] === 'BEGIN:VEVENT') return i + 1;
  throw new Error(`no VEVENT before ${marker}`);
}

describe('iCalendar timetable', () => {
  it('maps weekly lessons (TZID, UTC and floating times, double periods), holidays and make-up days', () => {
    const text = cal(
      ev('UID:l1', 'SUMMARY:数学', 'DTSTART;TZID=Asia/Shanghai:20250901T080000', 'DTEND;TZID=Asia/Shanghai:20250901T084500', 'RRULE:FREQ=WEEKLY;BYDAY=MO,WE', 'X-CLASS-ID:c1', 'X-TEACHER-ID:t1'),
      ev('UID:l2', 'SUMMARY:语文（连堂）', 'DTSTART:20250902T005500Z', 'DTEND:20250902T024500Z', 'RRULE:FREQ=WEEKLY;UNTIL=20260123T000000Z', 'DESCRIPTION:class: c2; teacher: t2'),
      ev('UID:l3', 'SUMMARY:历史', 'DTSTART:20250905T080000', 'DURATION:PT40M', 'RRULE:FREQ=WEEKLY;BYDAY=FR', 'DESCRIPTION:班级：c2；备注：无'),
      ev('UID:h1', 'SUMMARY:国庆节', 'DTSTART;VALUE=DATE:20251001', 'DTEND;VALUE=DATE:20251009', 'CATEGORIES:HOLIDAY'),
      ev('UID:m1', 'SUMMARY:国庆调休', 'DTSTART;VALUE=DATE:20251011', 'CATEGORIES:MAKEUP', 'X-FOLLOWS-WEEKDAY:MO'),
      ev('UID:x1', 'SUMMARY:运动会', 'DTSTART;VALUE=DATE:20251020'),
    );
    const o = importTimetable([{ name: 'term.ics', text }], timetable(), ZONE);
    expect(o.problems.map(formatProblem)).toEqual([]);
    expect(o.doc?.weekly).toEqual([
      { weekday: 1, period: 1, course: '数学', classId: 'c1', teacherId: 't1' },
      { weekday: 3, period: 1, course: '数学', classId: 'c1', teacherId: 't1' },
      { weekday: 2, period: 2, course: '语文（连堂）', classId: 'c2', teacherId: 't2' },
      { weekday: 2, period: 3, course: '语文（连堂）', classId: 'c2', teacherId: 't2' },
      { weekday: 5, period: 1, course: '历史', classId: 'c2' },
    ]);
    expect(o.doc?.term.holidays).toEqual([{ from: '2025-10-01', to: '2025-10-08', name: '国庆节' }]);
    expect(o.doc?.term.makeupDays).toEqual([{ date: '2025-10-11', followsWeekday: 1, name: '国庆调休' }]);
    expect(o.doc?.term.start).toBe(timetable().term.start); // term dates and bell schedules are kept
    expect(o.notes).toEqual([`term.ics: line ${beginLine(text, 'UID:x1')}: all-day VEVENT "运动会" ignored (CATEGORIES is neither HOLIDAY nor MAKEUP)`]);
  });

  it('a file with only holidays keeps the weekly grid in force', () => {
    const text = cal(ev('SUMMARY:元旦', 'DTSTART;VALUE=DATE:20260101', 'CATEGORIES:HOLIDAY'));
    const o = importTimetable([{ name: 'h.ics', text }], timetable(), ZONE);
    expect(o.doc?.weekly).toEqual(timetable().weekly);
    expect(o.doc?.term.holidays).toEqual([{ from: '2026-01-01', to: '2026-01-01', name: '元旦' }]);
    expect(o.doc?.term.makeupDays).toEqual(timetable().term.makeupDays);
  });

  it('names each bad VEVENT by the line of its BEGIN', () => {
    const text = cal(
      ev('UID:b1', 'SUMMARY:数学', 'DTSTART;TZID=Asia/Shanghai:20250901T080500', 'RRULE:FREQ=WEEKLY', 'X-CLASS-ID:c1'),
      ev('UID:b2', 'SUMMARY:语文', 'DTSTART;TZID=Asia/Shanghai:20250901T080000', 'RRULE:FREQ=DAILY', 'X-CLASS-ID:c1'),
      ev('UID:b3', 'SUMMARY:英语', 'DTSTART;TZID=Asia/Shanghai:20250901T080000', 'X-CLASS-ID:c1'),
      ev('UID:b4', 'SUMMARY:调休', 'DTSTART;VALUE=DATE:20251011', 'CATEGORIES:MAKEUP'),
      ev('UID:b5', 'SUMMARY:物理', 'DTSTART;TZID=Asia/Shanghai:20250901T080000', 'RRULE:FREQ=WEEKLY'),
      ev('UID:b6', 'SUMMARY:化学', 'DTSTART;TZID=Mars/Olympus:20250901T080000', 'RRULE:FREQ=WEEKLY', 'X-CLASS-ID:c1'),
      ev('UID:b7', 'SUMMARY:生物', 'DTSTART;TZID=Asia/Shanghai:20250901T080000', 'DTEND;TZID=Asia/Shanghai:20250901T090000', 'RRULE:FREQ=WEEKLY', 'X-CLASS-ID:c1'),
    );
    const o = importTimetable([{ name: 'bad.ics', text }], timetable(), ZONE);
    const at = (uid: string) => `bad.ics: line ${beginLine(text, `UID:${uid}`)}: `;
    expect(o.doc).toBeUndefined();
    expect(o.problems.map(formatProblem)).toEqual([
      `${at('b1')}VEVENT "数学" starts at 08:05 on 周一, not at the start of a period of bell schedule "standard": 08:00 (period 1), 08:55 (period 2), 10:00 (period 3), 10:55 (period 4), 14:00 (period 5)`,
      `${at('b2')}VEVENT "语文": RRULE FREQ=DAILY is not supported (only FREQ=WEEKLY)`,
      `${at('b3')}VEVENT "英语" has no RRULE: only weekly lessons (RRULE:FREQ=WEEKLY) and all-day HOLIDAY/MAKEUP events are understood`,
      `${at('b4')}a MAKEUP day needs X-FOLLOWS-WEEKDAY (the weekday whose timetable it follows)`,
      `${at('b5')}VEVENT "物理" names no class (X-CLASS-ID, or DESCRIPTION "class: ...")`,
      `${at('b6')}VEVENT "化学": unknown time zone TZID=Mars/Olympus (use an IANA name such as Asia/Shanghai)`,
      `${at('b7')}VEVENT "生物" ends at 09:00, which is not the end of a period of bell schedule "standard"`,
    ]);
  });

  it('names the line of a syntax error, and refuses a calendar made a bad timetable by its events', () => {
    const broken = cal(ev('UID:s1', 'SUMMARY:数学', 'THIS LINE IS BROKEN', 'DTSTART:20250901T080000'));
    const o = importTimetable([{ name: 's.ics', text: broken }], timetable(), ZONE);
    expect(o.problems.map(formatProblem)).toEqual([`s.ics: line 7: not valid iCalendar: invalid line (no token ";" or ":") "THIS LINE IS BROKEN"`]);
    const inHoliday = cal(
      ev('SUMMARY:国庆节', 'DTSTART;VALUE=DATE:20251001', 'DTEND;VALUE=DATE:20251009', 'CATEGORIES:HOLIDAY'),
      ev('SUMMARY:调休', 'DTSTART;VALUE=DATE:20251004', 'CATEGORIES:MAKEUP', 'X-FOLLOWS-WEEKDAY:5'),
    );
    const r = importTimetable([{ name: 'c.ics', text: inHoliday }], timetable(), ZONE);
    expect(r.problems.map(formatProblem)).toEqual([
      `c.ics: line ${beginLine(inHoliday, 'SUMMARY:调休')}: date: make-up day 2025-10-04 falls inside holiday "国庆节" (2025-10-01..2025-10-08)`,
    ]);
  });
});
