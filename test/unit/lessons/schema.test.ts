import { describe, expect, it } from 'vitest';
import { validateTimetable } from '../../../edge/lessons/timetable-schema.js';
import { canonicalCardUid, validateRoster } from '../../../edge/lessons/roster-schema.js';
import { formatProblem } from '../../../edge/lessons/problems.js';
import { roster, timetable } from './fixtures.js';

const problemsOf = (r: { problems: Array<{ path: string; reason: string }> }) => r.problems.map(formatProblem);

describe('timetable document', () => {
  it('accepts the fixture and fills defaults', () => {
    const doc = timetable();
    const { bellOverrides: _b, ...termWithout } = doc.term;
    const r = validateTimetable({ ...doc, term: termWithout });
    expect(r.problems).toEqual([]);
    expect(r.doc?.term.bellOverrides).toEqual([]);
  });

  it('names every cross-field problem by path', () => {
    const doc = timetable();
    doc.bellSchedules.standard!.periods.push({ period: 6, start: '14:30', end: '15:10' }); // overlaps period 5
    doc.bellSchedules.friday!.periods[1]!.end = '08:50'; // not after its start
    doc.bellSchedules.exam!.periods[1]!.period = 1; // duplicate period number
    doc.weekdayBellSchedules = { '5': 'friday', '6': 'weekend' };
    doc.term.bellOverrides.push({ date: '2025-11-06', bellSchedule: 'nope' });
    doc.term.makeupDays.push({ date: '2025-10-04', followsWeekday: 2 });
    doc.term.holidays.push({ from: '2026-03-01', to: '2026-03-02', name: '外面' });
    doc.weekly.push({ weekday: 1, period: 1, course: '重复', classId: 'c2' });
    doc.weekly.push({ weekday: 5, period: 4, course: '体育', classId: 'c2' });
    const p = problemsOf(validateTimetable(doc));
    expect(p).toEqual(
      expect.arrayContaining([
        'bellSchedules.standard.periods[5]: period 6 (14:30-15:10) overlaps period 5 (14:00-14:45)',
        'bellSchedules.friday.periods[1].end: period 2 ends at 08:50, which is not after its start 08:50',
        'bellSchedules.exam.periods[1].period: duplicate period 1 (also periods[0])',
        'weekdayBellSchedules.6: unknown bell schedule "weekend"; known: standard, friday, exam',
        'term.bellOverrides[1].bellSchedule: unknown bell schedule "nope"; known: standard, friday, exam',
        'term.makeupDays[1].date: make-up day 2025-10-04 falls inside holiday "国庆节" (2025-10-01..2025-10-08)',
        'term.holidays[1]: holiday "外面" (2026-03-01..2026-03-02) lies outside the term 2025-09-01..2026-01-23',
        'weekly[8]: duplicate lesson: weekly[0] already holds 周一 period 1',
        'weekly[9].period: period 4 is not in bell schedule "friday" used on 周五 (periods 1, 2)',
      ]),
    );
    expect(p).toHaveLength(9);
  });

  it('rejects bad shapes with their paths: times, dates, weekdays, unknown fields', () => {
    const doc = timetable() as unknown as Record<string, unknown> & { term: Record<string, unknown>; weekly: unknown[] };
    (doc.bellSchedules as Record<string, { periods: Array<Record<string, unknown>> }>).standard!.periods[0]!.start = '8:00';
    doc.term.start = '2025-02-30';
    doc.weekly[0] = { weekday: 8, period: 1, course: '数学', classId: 'c1' };
    doc.extra = true;
    const p = problemsOf(validateTimetable(doc));
    expect(p).toEqual(
      expect.arrayContaining([
        'bellSchedules.standard.periods[0].start: must be a time of day HH:MM (00:00-23:59)',
        'term.start: must be a real date written YYYY-MM-DD',
        expect.stringMatching(/^weekly\[0\]\.weekday: Too big/),
        expect.stringMatching(/^\(root\): Unrecognized key: "extra"/),
      ]),
    );
  });

  it('refuses a term that ends before it starts and duplicate make-up days', () => {
    const doc = timetable();
    doc.term.end = '2025-08-01';
    const p = problemsOf(validateTimetable(doc));
    expect(p).toContain('term.end: the term ends (2025-08-01) before it starts (2025-09-01)');
    const doc2 = timetable();
    doc2.term.makeupDays.push({ date: '2025-10-11', followsWeekday: 3 });
    expect(problemsOf(validateTimetable(doc2))).toContain('term.makeupDays[1].date: duplicate make-up day 2025-10-11 (also makeupDays[0])');
  });
});

describe('roster document', () => {
  it('canonicalises card UIDs to upper-case hex', () => {
    const doc = roster();
    doc.students[0]!.cardUid = '62:e3:08:6c:ed';
    const r = validateRoster(doc);
    expect(r.problems).toEqual([]);
    expect(r.doc?.students[0]?.cardUid).toBe('62E3086CED');
    expect(canonicalCardUid('0a-1b 2c')).toBe('0A1B2C');
  });

  it('finds unknown classes, duplicate ids, a card used twice across students and teachers, bad leaves', () => {
    const doc = roster();
    doc.students.push({ studentId: 's1', name: '重复', classId: 'c9' });
    doc.teachers.push({ teacherId: 't3', name: '孙老师', cardUid: '62e3086ced' });
    doc.teachers.push({ teacherId: 't1', name: '再次' });
    doc.classes.push({ classId: 'c1', name: '又一个' });
    doc.leaves.push({ studentId: 'nobody', from: '2025-09-03', to: '2025-09-01' });
    const p = problemsOf(validateRoster(doc));
    expect(p).toEqual([
      'classes[2].classId: duplicate class id "c1" (also classes[0])',
      'students[3].studentId: duplicate student id "s1" (also students[0])',
      'students[3].classId: unknown class "c9"; classes: c1, c2',
      'teachers[2].cardUid: card UID 62E3086CED is already used by student s1 (students[0])',
      'teachers[3].teacherId: duplicate teacher id "t1" (also teachers[0])',
      'leaves[1].studentId: unknown student "nobody"',
      'leaves[1].to: leave ends (2025-09-01) before it starts (2025-09-03)',
    ]);
  });

  it('keeps only the fields attendance needs: anything else is refused', () => {
    const doc = roster() as unknown as { students: Array<Record<string, unknown>> };
    doc.students[0]!.phone = '13800000000';
    expect(problemsOf(validateRoster(doc))).toEqual([expect.stringMatching(/^students\[0\]: Unrecognized key: "phone"/)]);
    const bad = roster();
    bad.students[0]!.cardUid = 'XYZ';
    expect(problemsOf(validateRoster(bad))).toEqual(['students[0].cardUid: card UID must be 4 to 32 hexadecimal digits']);
  });
});
