/**
 * The weekly grid as CSV: `weekday,period,course,class_id,teacher_id` with a
 * header row (teacher_id optional). weekday is 1-7, 周一..周日 (星期一) or
 * Mon..Sun. The rows replace the weekly grid of the timetable in force; bell
 * schedules and the term are kept. See docs/timetable.md.
 */
import { idSchema } from '../schemas/bus.js';
import { readCsv, requireColumns } from './csv.js';
import { parseWeekday } from './dates.js';
import { sortProblems, type Origins, type Problem } from './problems.js';
import { MAX_PERIOD, type WeeklyEntry } from './timetable-schema.js';

export const TIMETABLE_CSV_COLUMNS = ['weekday', 'period', 'course', 'class_id'] as const;

const ALIASES: Record<string, string> = {
  星期: 'weekday',
  周几: 'weekday',
  day: 'weekday',
  节次: 'period',
  节: 'period',
  课程: 'course',
  科目: 'course',
  subject: 'course',
  班级: 'class_id',
  班级编号: 'class_id',
  class: 'class_id',
  classid: 'class_id',
  教师: 'teacher_id',
  教师编号: 'teacher_id',
  teacher: 'teacher_id',
  teacherid: 'teacher_id',
};

export function parseTimetableCsv(text: string): { weekly: WeeklyEntry[]; origins: Origins; problems: Problem[] } {
  const table = readCsv(text, ALIASES);
  const problems = [...table.problems, ...(table.columns.length > 0 ? requireColumns(table, TIMETABLE_CSV_COLUMNS, 'timetable') : [])];
  const weekly: WeeklyEntry[] = [];
  const origins: Origins = new Map();
  if (problems.some((p) => p.path === 'line 1' || p.path === '(file)')) return { weekly, origins, problems };

  for (const row of table.rows) {
    const at = `line ${row.line}`;
    const bad = (reason: string) => problems.push({ path: at, reason });
    const wdText = row.get('weekday');
    const weekday = parseWeekday(wdText);
    if (weekday === undefined) bad(`weekday "${wdText}" is not a weekday (use 1-7, 周一..周日 or Mon..Sun)`);
    const pText = row.get('period');
    const period = /^\d{1,2}$/.test(pText) ? Number(pText) : NaN;
    if (!(period >= 1 && period <= MAX_PERIOD)) bad(`period "${pText}" is not a period number (1-${MAX_PERIOD})`);
    const course = row.get('course');
    if (course === '' || course.length > 64) bad(course === '' ? 'course is empty' : 'course is longer than 64 characters');
    const classId = row.get('class_id');
    if (!idSchema.safeParse(classId).success) {
      bad(`class_id "${classId}" is not an id (letters, digits, "_", "." and "-", starting with a letter or digit)`);
    }
    const teacherId = row.get('teacher_id');
    if (teacherId !== '' && !idSchema.safeParse(teacherId).success) {
      bad(`teacher_id "${teacherId}" is not an id (letters, digits, "_", "." and "-", starting with a letter or digit)`);
    }
    if (problems.some((p) => p.path === at)) continue;
    origins.set(`weekly[${weekly.length}]`, { line: row.line });
    weekly.push({ weekday: weekday!, period, course, classId, ...(teacherId ? { teacherId } : {}) });
  }
  if (weekly.length === 0 && problems.length === 0) problems.push({ path: '(file)', reason: 'no lesson rows after the header' });
  return { weekly, origins, problems: sortProblems(problems) };
}
