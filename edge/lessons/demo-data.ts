/**
 * Demo timetable and roster for the demo room: two classes sharing the room
 * period by period (走班), 32 students and 3 teachers with EM4100 cards (10
 * hex digits, as the simulated reader presents them), one student on leave
 * today, the 8-period bell schedule, and a term covering the whole school
 * year around `today` (1 Sep .. 31 Aug) with the 国庆节 holiday and a make-up
 * Saturday that follows Monday's timetable.
 *
 * `demo: true` (the default): a lesson in every period Monday to Friday, so
 * the demo room is alive on any weekday daytime. `demo: false`: a more
 * realistic week with free periods (Wednesday afternoon, Friday period 8).
 */
import { addDays, weekdayOf } from './dates.js';
import type { Datasets, DatasetKind, PutResult } from './datasets.js';
import type { RosterDoc } from './roster-schema.js';
import type { TimetableDoc, WeeklyEntry } from './timetable-schema.js';

export interface DemoOptions {
  /** Local date in the room's zone (LessonClock.today()). */
  today: string;
  /** Lessons in every period Monday-Friday (default true). */
  demo?: boolean;
}

export const DEMO_CLASSES = [
  { classId: 'g10-1', name: '高一(1)班' },
  { classId: 'g10-2', name: '高一(2)班' },
] as const;

export const DEMO_TEACHERS = [
  { teacherId: 't-wang', name: '王建国', cardUid: '7E10000001', courses: ['数学', '物理'] },
  { teacherId: 't-li', name: '李秀英', cardUid: '7E10000002', courses: ['语文', '历史'] },
  { teacherId: 't-zhang', name: '张丽华', cardUid: '7E10000003', courses: ['英语', '生物'] },
] as const;

const PERIODS: Array<[string, string]> = [
  ['08:00', '08:45'],
  ['08:55', '09:40'],
  ['10:00', '10:45'],
  ['10:55', '11:40'],
  ['14:00', '14:45'],
  ['14:55', '15:40'],
  ['16:00', '16:45'],
  ['16:55', '17:40'],
];

const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '赵', '黄', '周', '吴', '徐', '孙', '胡', '朱', '高', '林'];
const GIVEN = ['子涵', '欣怡', '浩然', '梓轩', '雨桐', '宇航', '思远', '佳怡', '俊杰', '诗涵', '明轩', '若曦', '天佑', '可馨', '一诺', '嘉懿'];

/** 32 students, 16 per class; card UIDs 1A2B3C0001.. (EM4100, 10 hex digits). */
export function demoStudents(): RosterDoc['students'] {
  return Array.from({ length: 32 }, (_, i) => {
    const klass = DEMO_CLASSES[i % 2]!;
    return {
      studentId: `s2026${String(i + 1).padStart(3, '0')}`,
      name: `${SURNAMES[i % SURNAMES.length]}${GIVEN[(i * 7) % GIVEN.length]}`,
      classId: klass.classId,
      cardUid: `1A2B3C${(i + 1).toString(16).toUpperCase().padStart(4, '0')}`,
    };
  });
}

export function demoRoster(opts: DemoOptions): RosterDoc {
  const students = demoStudents();
  return {
    classes: DEMO_CLASSES.map((c) => ({ ...c })),
    students,
    teachers: DEMO_TEACHERS.map(({ teacherId, name, cardUid }) => ({ teacherId, name, cardUid })),
    leaves: [{ studentId: students[4]!.studentId, from: opts.today, to: addDays(opts.today, 2), reason: '病假' }],
  };
}

function schoolYear(today: string): { start: string; end: string; year: number } {
  const y = Number(today.slice(0, 4));
  const year = Number(today.slice(5, 7)) >= 9 ? y : y - 1;
  return { start: `${year}-09-01`, end: `${year + 1}-08-31`, year };
}

function weekly(demo: boolean): WeeklyEntry[] {
  const out: WeeklyEntry[] = [];
  for (let weekday = 1; weekday <= 5; weekday++) {
    for (let period = 1; period <= PERIODS.length; period++) {
      if (!demo && ((weekday === 3 && period >= 7) || (weekday === 5 && period === 8))) continue;
      const klass = DEMO_CLASSES[(weekday + period) % 2]!;
      const teacher = DEMO_TEACHERS[(weekday + period * 2) % DEMO_TEACHERS.length]!;
      const course = teacher.courses[(weekday + period) % teacher.courses.length]!;
      out.push({ weekday, period, course, classId: klass.classId, teacherId: teacher.teacherId });
    }
  }
  return out;
}

export function demoTimetable(opts: DemoOptions): TimetableDoc {
  const { start, end, year } = schoolYear(opts.today);
  // 国庆节: 1-7 October; the make-up day is the first Saturday after it and follows Monday.
  let makeup = `${year}-10-08`;
  while (weekdayOf(makeup) !== 6) makeup = addDays(makeup, 1);
  return {
    bellSchedules: {
      standard: { periods: PERIODS.map(([s, e], i) => ({ period: i + 1, start: s, end: e })) },
    },
    defaultBellSchedule: 'standard',
    term: {
      name: `${year}-${year + 1}学年（演示）`,
      start,
      end,
      holidays: [{ from: `${year}-10-01`, to: `${year}-10-07`, name: '国庆节' }],
      makeupDays: [{ date: makeup, followsWeekday: 1, name: '国庆调休' }],
      bellOverrides: [],
    },
    weekly: weekly(opts.demo ?? true),
  };
}

export function demoDatasets(opts: DemoOptions): { timetable: TimetableDoc; roster: RosterDoc } {
  return { timetable: demoTimetable(opts), roster: demoRoster(opts) };
}

/**
 * Stores the demo datasets for each kind that has no version in force yet
 * (source "demo"), and renews a demo timetable whose school year is over
 * (call it once a day to keep a long-running demo alive).
 */
export async function ensureDemoDatasets(datasets: Datasets, opts: DemoOptions): Promise<Partial<Record<DatasetKind, PutResult>>> {
  const data = demoDatasets(opts);
  const done: Partial<Record<DatasetKind, PutResult>> = {};
  const timetable = datasets.active('timetable');
  const expiredDemo = timetable?.source === 'demo' && opts.today > timetable.doc.term.end;
  if (!timetable || expiredDemo) done.timetable = await datasets.put('timetable', data.timetable, 'demo');
  if (!datasets.active('roster')) done.roster = await datasets.put('roster', data.roster, 'demo');
  return done;
}
