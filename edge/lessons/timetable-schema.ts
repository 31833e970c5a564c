/**
 * The timetable document (zod): bell schedules (作息时间), the term calendar
 * with holidays, make-up days (调休) and bell-schedule overrides, and the
 * weekly grid (课表). The schema checks shapes; `crossCheck` checks what the
 * shapes cannot see alone, each problem named by its path. See docs/timetable.md.
 */
import { z } from 'zod';
import { idSchema } from '../schemas/bus.js';
import { isDate, isTime, minutesOf, WEEKDAY_LABELS } from './dates.js';
import { formatPath, zodProblems, type Problem } from './problems.js';

export const MAX_PERIOD = 20;

const time = z.string().refine(isTime, 'must be a time of day HH:MM (00:00-23:59)');
const date = z.string().refine(isDate, 'must be a real date written YYYY-MM-DD');
const weekday = z.number().int().min(1).max(7);
const periodNo = z.number().int().min(1).max(MAX_PERIOD);
const label = z.string().trim().min(1).max(64);
const scheduleName = z.string().min(1).max(32).regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." and "-" only');

export const periodSchema = z.object({ period: periodNo, start: time, end: time }).strict();

export const bellScheduleSchema = z.object({ periods: z.array(periodSchema).min(1).max(MAX_PERIOD) }).strict();

export const holidaySchema = z.object({ from: date, to: date, name: label }).strict();

export const makeupDaySchema = z
  .object({
    date,
    /** The weekday whose timetable this day follows (1 = Monday .. 7 = Sunday). */
    followsWeekday: weekday,
    name: label.optional(),
  })
  .strict();

export const bellOverrideSchema = z.object({ date, bellSchedule: scheduleName }).strict();

export const termSchema = z
  .object({
    name: label,
    start: date,
    end: date,
    holidays: z.array(holidaySchema).max(200).default([]),
    makeupDays: z.array(makeupDaySchema).max(100).default([]),
    bellOverrides: z.array(bellOverrideSchema).max(400).default([]),
  })
  .strict();

export const weeklyEntrySchema = z
  .object({
    weekday,
    period: periodNo,
    course: label,
    classId: idSchema,
    teacherId: idSchema.optional(),
  })
  .strict();

const WEEKDAY_KEYS = ['1', '2', '3', '4', '5', '6', '7'] as const;

export const timetableShape = z
  .object({
    bellSchedules: z.record(scheduleName, bellScheduleSchema),
    defaultBellSchedule: scheduleName,
    /** Bell schedule by ISO weekday ("1" = Monday); the others use defaultBellSchedule. */
    weekdayBellSchedules: z.partialRecord(z.enum(WEEKDAY_KEYS), scheduleName).optional(),
    term: termSchema,
    weekly: z.array(weeklyEntrySchema).max(7 * MAX_PERIOD),
  })
  .strict();

export type TimetableDoc = z.output<typeof timetableShape>;
export type WeeklyEntry = z.output<typeof weeklyEntrySchema>;
export type BellSchedule = z.output<typeof bellScheduleSchema>;
export type Holiday = z.output<typeof holidaySchema>;
export type MakeupDay = z.output<typeof makeupDaySchema>;

/** The bell schedule name used on a weekday (no override, no make-up day). */
export function scheduleForWeekday(doc: TimetableDoc, wd: number): string {
  const key = String(wd) as (typeof WEEKDAY_KEYS)[number];
  return doc.weekdayBellSchedules?.[key] ?? doc.defaultBellSchedule;
}

function span(p: { start: string; end: string }): string {
  return `${p.start}-${p.end}`;
}

function checkSchedules(doc: TimetableDoc, add: (path: PropertyKey[], reason: string) => void): void {
  for (const [name, sched] of Object.entries(doc.bellSchedules)) {
    const base = ['bellSchedules', name, 'periods'];
    const seen = new Map<number, number>();
    sched.periods.forEach((p, i) => {
      const first = seen.get(p.period);
      if (first !== undefined) add([...base, i, 'period'], `duplicate period ${p.period} (also periods[${first}])`);
      else seen.set(p.period, i);
      if (minutesOf(p.end) <= minutesOf(p.start)) {
        add([...base, i, 'end'], `period ${p.period} ends at ${p.end}, which is not after its start ${p.start}`);
      }
    });
    const order = sched.periods.map((p, i) => ({ p, i })).sort((a, b) => minutesOf(a.p.start) - minutesOf(b.p.start));
    for (let k = 1; k < order.length; k++) {
      const prev = order[k - 1]!;
      const cur = order[k]!;
      if (minutesOf(cur.p.start) < minutesOf(prev.p.end)) {
        add([...base, cur.i], `period ${cur.p.period} (${span(cur.p)}) overlaps period ${prev.p.period} (${span(prev.p)})`);
      }
    }
  }
}

function checkNames(doc: TimetableDoc, add: (path: PropertyKey[], reason: string) => void): void {
  const known = Object.keys(doc.bellSchedules);
  const check = (path: PropertyKey[], name: string) => {
    if (!(name in doc.bellSchedules)) add(path, `unknown bell schedule "${name}"; known: ${known.join(', ') || 'none'}`);
  };
  check(['defaultBellSchedule'], doc.defaultBellSchedule);
  for (const [wd, name] of Object.entries(doc.weekdayBellSchedules ?? {})) if (name !== undefined) check(['weekdayBellSchedules', wd], name);
  doc.term.bellOverrides.forEach((o, i) => check(['term', 'bellOverrides', i, 'bellSchedule'], o.bellSchedule));
}

function checkTerm(doc: TimetableDoc, add: (path: PropertyKey[], reason: string) => void): void {
  const t = doc.term;
  if (t.end < t.start) add(['term', 'end'], `the term ends (${t.end}) before it starts (${t.start})`);
  const inTerm = (d: string) => d >= t.start && d <= t.end;
  t.holidays.forEach((h, i) => {
    if (h.to < h.from) add(['term', 'holidays', i, 'to'], `holiday "${h.name}" ends (${h.to}) before it starts (${h.from})`);
    else if (h.to < t.start || h.from > t.end) add(['term', 'holidays', i], `holiday "${h.name}" (${h.from}..${h.to}) lies outside the term ${t.start}..${t.end}`);
  });
  const makeupDates = new Map<string, number>();
  t.makeupDays.forEach((m, i) => {
    const path = ['term', 'makeupDays', i, 'date'];
    const first = makeupDates.get(m.date);
    if (first !== undefined) add(path, `duplicate make-up day ${m.date} (also makeupDays[${first}])`);
    else makeupDates.set(m.date, i);
    if (!inTerm(m.date)) add(path, `make-up day ${m.date} lies outside the term ${t.start}..${t.end}`);
    const h = t.holidays.find((x) => m.date >= x.from && m.date <= x.to);
    if (h) add(path, `make-up day ${m.date} falls inside holiday "${h.name}" (${h.from}..${h.to})`);
  });
  const overrideDates = new Map<string, number>();
  t.bellOverrides.forEach((o, i) => {
    const path = ['term', 'bellOverrides', i, 'date'];
    const first = overrideDates.get(o.date);
    if (first !== undefined) add(path, `duplicate bell override for ${o.date} (also bellOverrides[${first}])`);
    else overrideDates.set(o.date, i);
    if (!inTerm(o.date)) add(path, `bell override ${o.date} lies outside the term ${t.start}..${t.end}`);
  });
}

function checkWeekly(doc: TimetableDoc, add: (path: PropertyKey[], reason: string) => void): void {
  const slots = new Map<string, number>();
  doc.weekly.forEach((e, i) => {
    const key = `${e.weekday}/${e.period}`;
    const first = slots.get(key);
    if (first !== undefined) {
      add(['weekly', i], `duplicate lesson: weekly[${first}] already holds ${WEEKDAY_LABELS[e.weekday]} period ${e.period}`);
    } else slots.set(key, i);
    const name = scheduleForWeekday(doc, e.weekday);
    const sched = doc.bellSchedules[name];
    if (sched && !sched.periods.some((p) => p.period === e.period)) {
      const have = sched.periods.map((p) => p.period).join(', ');
      add(['weekly', i, 'period'], `period ${e.period} is not in bell schedule "${name}" used on ${WEEKDAY_LABELS[e.weekday]} (periods ${have})`);
    }
  });
}

/** Checks across fields: overlapping periods, unknown schedules, make-up days in holidays, duplicate lessons... */
export function crossCheckTimetable(doc: TimetableDoc): Problem[] {
  const problems: Problem[] = [];
  const add = (path: PropertyKey[], reason: string) => problems.push({ path: formatPath(path), reason });
  checkSchedules(doc, add);
  checkNames(doc, add);
  checkTerm(doc, add);
  checkWeekly(doc, add);
  return problems;
}

/** Parses and checks a timetable document; the document only when there is no problem. */
export function validateTimetable(raw: unknown): { doc?: TimetableDoc; problems: Problem[] } {
  const parsed = timetableShape.safeParse(raw);
  if (!parsed.success) return { problems: zodProblems(parsed.error) };
  const problems = crossCheckTimetable(parsed.data);
  return problems.length > 0 ? { problems } : { doc: parsed.data, problems };
}
