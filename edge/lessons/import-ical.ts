/**
 * An iCalendar (.ics, RFC 5545, parsed by ical.js) timetable:
 *
 * - a weekly recurring VEVENT (RRULE:FREQ=WEEKLY[;BYDAY=MO,WE]) is a weekly
 *   lesson: DTSTART's local time (in the room's zone) must be the start of a
 *   period of that weekday's bell schedule; a DTEND/DURATION covering several
 *   periods gives one entry per period (double lessons). SUMMARY is the
 *   course; class and teacher come from X-CLASS-ID / X-TEACHER-ID, or from
 *   DESCRIPTION "class: c1; teacher: t1" (also 班级：/教师：);
 * - an all-day VEVENT with CATEGORIES:HOLIDAY is a holiday (DTEND exclusive);
 * - an all-day VEVENT with CATEGORIES:MAKEUP and X-FOLLOWS-WEEKDAY (1-7, MO..SU
 *   or 周一..周日) is a make-up day; SUMMARY is its name;
 * - other all-day events are ignored (reported as notes).
 *
 * Problems name the line of the VEVENT's BEGIN. RRULE UNTIL/COUNT and EXDATE
 * are not used: the term and its holidays decide which weeks have lessons.
 */
import ICAL from 'ical.js';
import { DateTime } from 'luxon';
import { idSchema } from '../schemas/bus.js';
import { isZone, minutesOf, parseWeekday, WEEKDAY_LABELS } from './dates.js';
import type { Origins, Problem } from './problems.js';
import { scheduleForWeekday, type Holiday, type MakeupDay, type TimetableDoc, type WeeklyEntry } from './timetable-schema.js';

export interface IcalTimetable {
  /** null when the file has no weekly lessons (the grid in force is kept). */
  weekly: WeeklyEntry[] | null;
  holidays: Holiday[] | null;
  makeupDays: MakeupDay[] | null;
  origins: Origins;
  problems: Problem[];
  notes: string[];
}

const BYDAY = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'];

function text(v: unknown): string {
  return typeof v === 'string' ? v.trim() : '';
}

/** Lines (1-based) of each BEGIN:VEVENT, in order. */
function veventLines(source: string): number[] {
  const out: number[] = [];
  source.split(/\r\n|\n|\r/).forEach((l, i) => {
    if (/^BEGIN:VEVENT\s*$/i.test(l)) out.push(i + 1);
  });
  return out;
}

function parseError(source: string, err: unknown): Problem {
  const message = err instanceof Error ? err.message : String(err);
  // ical.js quotes the offending line last: invalid line (no token ";" or ":") "THE LINE"
  const quoted = [...message.matchAll(/"([^"]+)"/g)].at(-1)?.[1];
  const idx = quoted ? source.split(/\r\n|\n|\r/).findIndex((l) => l.includes(quoted)) : -1;
  return { path: idx >= 0 ? `line ${idx + 1}` : '(file)', reason: `not valid iCalendar: ${message}` };
}

function describe(ev: ICAL.Component, key: 'class' | 'teacher'): string {
  const x = text(ev.getFirstPropertyValue(key === 'class' ? 'x-class-id' : 'x-teacher-id'));
  if (x) return x;
  const label = key === 'class' ? '(?:class|班级)' : '(?:teacher|教师)';
  const m = new RegExp(`(?:^|[;；,，\\n])\\s*${label}\\s*[:：]\\s*([^;；,，\\n]+)`, 'i').exec(text(ev.getFirstPropertyValue('description')));
  return m?.[1]?.trim() ?? '';
}

function categories(ev: ICAL.Component): string[] {
  return ev
    .getAllProperties('categories')
    .flatMap((p) => p.getValues() as unknown[])
    .map((v) => text(v).toUpperCase());
}

function timeOf(prop: ICAL.Property | null): ICAL.Time | null {
  const v = prop?.getFirstValue();
  return v instanceof ICAL.Time ? v : null;
}

/** A DATE-TIME as local wall time in the room's zone; the source zone is TZID, UTC ("Z") or floating (the room's). */
function toRoom(prop: ICAL.Property, t: ICAL.Time, zone: string): DateTime | string {
  const tzid = prop.getParameter('tzid');
  let src = zone;
  if (typeof tzid === 'string' && tzid !== '') {
    if (!isZone(tzid)) return `unknown time zone TZID=${tzid} (use an IANA name such as Asia/Shanghai)`;
    src = tzid;
  } else if (t.zone?.tzid === 'UTC') src = 'UTC';
  const d = DateTime.fromObject({ year: t.year, month: t.month, day: t.day, hour: t.hour, minute: t.minute, second: t.second }, { zone: src });
  return d.setZone(zone);
}

function addDate(t: ICAL.Time, days: number): string {
  return DateTime.fromObject({ year: t.year, month: t.month, day: t.day }, { zone: 'UTC' }).plus({ days }).toISODate() ?? '';
}

interface Ctx {
  base: TimetableDoc;
  zone: string;
  out: IcalTimetable;
  weekly: WeeklyEntry[];
  holidays: Holiday[];
  makeups: MakeupDay[];
}

function allDay(ev: ICAL.Component, start: ICAL.Time, line: number, ctx: Ctx, bad: (r: string) => void): void {
  const cats = categories(ev);
  const summary = text(ev.getFirstPropertyValue('summary'));
  const date = addDate(start, 0);
  if (cats.includes('HOLIDAY')) {
    const end = timeOf(ev.getFirstProperty('dtend'));
    const to = end ? addDate(end, -1) : date;
    ctx.out.origins.set(`term.holidays[${ctx.holidays.length}]`, { line });
    ctx.holidays.push({ from: date, to: to < date ? date : to, name: summary || '假期' });
  } else if (cats.includes('MAKEUP')) {
    const raw = text(ev.getFirstPropertyValue('x-follows-weekday'));
    const followsWeekday = parseWeekday(raw);
    if (followsWeekday === undefined) {
      bad(raw ? `X-FOLLOWS-WEEKDAY "${raw}" is not a weekday (1-7, MO..SU or 周一..周日)` : 'a MAKEUP day needs X-FOLLOWS-WEEKDAY (the weekday whose timetable it follows)');
      return;
    }
    ctx.out.origins.set(`term.makeupDays[${ctx.makeups.length}]`, { line });
    ctx.makeups.push({ date, followsWeekday, ...(summary ? { name: summary } : {}) });
  } else {
    ctx.out.notes.push(`line ${line}: all-day VEVENT "${summary}" ignored (CATEGORIES is neither HOLIDAY nor MAKEUP)`);
  }
}

function weeklyLesson(ev: ICAL.Component, start: ICAL.Time, line: number, ctx: Ctx, bad: (r: string) => void): void {
  const summary = text(ev.getFirstPropertyValue('summary'));
  const name = `VEVENT "${summary}"`;
  if (categories(ev).some((c) => c === 'HOLIDAY' || c === 'MAKEUP')) {
    bad(`${name}: a HOLIDAY or MAKEUP event must be all-day (DTSTART;VALUE=DATE:YYYYMMDD)`);
    return;
  }
  const rrule = ev.getFirstPropertyValue('rrule');
  if (!(rrule instanceof ICAL.Recur)) {
    bad(`${name} has no RRULE: only weekly lessons (RRULE:FREQ=WEEKLY) and all-day HOLIDAY/MAKEUP events are understood`);
    return;
  }
  if (rrule.freq !== 'WEEKLY') return bad(`${name}: RRULE FREQ=${String(rrule.freq)} is not supported (only FREQ=WEEKLY)`);
  if ((rrule.interval ?? 1) !== 1) return bad(`${name}: RRULE INTERVAL=${rrule.interval} is not supported (lessons every week only)`);
  if (!summary) return bad('a lesson VEVENT needs a SUMMARY (the course)');
  if (summary.length > 64) return bad(`${name}: SUMMARY is longer than 64 characters`);
  const classId = describe(ev, 'class');
  const teacherId = describe(ev, 'teacher');
  if (!idSchema.safeParse(classId).success) {
    return bad(classId ? `${name}: class "${classId}" is not an id` : `${name} names no class (X-CLASS-ID, or DESCRIPTION "class: ...")`);
  }
  if (teacherId && !idSchema.safeParse(teacherId).success) return bad(`${name}: teacher "${teacherId}" is not an id`);

  const startProp = ev.getFirstProperty('dtstart')!;
  const local = toRoom(startProp, start, ctx.zone);
  if (typeof local === 'string') return bad(`${name}: ${local}`);
  const srcWeekday = DateTime.fromObject({ year: start.year, month: start.month, day: start.day }, { zone: 'UTC' }).weekday;
  const shift = local.weekday - srcWeekday;
  let endMin: number | undefined;
  const endProp = ev.getFirstProperty('dtend');
  const end = timeOf(endProp);
  if (endProp && end) {
    const e = toRoom(endProp, end, ctx.zone);
    if (typeof e === 'string') return bad(`${name}: ${e}`);
    endMin = e.hour * 60 + e.minute;
  } else {
    const dur = ev.getFirstPropertyValue('duration');
    if (dur instanceof ICAL.Duration) endMin = local.hour * 60 + local.minute + Math.round(dur.toSeconds() / 60);
  }
  const startMin = local.hour * 60 + local.minute;
  const days = (rrule.parts.BYDAY as unknown[] | undefined) ?? [BYDAY[srcWeekday - 1]];
  for (const d of days) {
    const idx = BYDAY.indexOf(text(d).toUpperCase());
    if (idx < 0) {
      bad(`${name}: BYDAY "${String(d)}" is not supported (plain MO..SU only)`);
      continue;
    }
    const weekday = ((idx + shift + 7) % 7) + 1;
    const schedName = scheduleForWeekday(ctx.base, weekday);
    const periods = [...(ctx.base.bellSchedules[schedName]?.periods ?? [])].sort((a, b) => minutesOf(a.start) - minutesOf(b.start));
    const first = periods.findIndex((p) => minutesOf(p.start) === startMin);
    if (first < 0) {
      const starts = periods.map((p) => `${p.start} (period ${p.period})`).join(', ');
      bad(`${name} starts at ${local.toFormat('HH:mm')} on ${WEEKDAY_LABELS[weekday]}, not at the start of a period of bell schedule "${schedName}": ${starts}`);
      continue;
    }
    let covered = [periods[first]!];
    if (endMin !== undefined && endMin > minutesOf(periods[first]!.end)) {
      const last = periods.findIndex((p, i) => i >= first && minutesOf(p.end) === endMin);
      if (last < 0) {
        bad(`${name} ends at ${String(Math.floor(endMin / 60)).padStart(2, '0')}:${String(endMin % 60).padStart(2, '0')}, which is not the end of a period of bell schedule "${schedName}"`);
        continue;
      }
      covered = periods.slice(first, last + 1);
    }
    for (const p of covered) {
      ctx.out.origins.set(`weekly[${ctx.weekly.length}]`, { line });
      ctx.weekly.push({ weekday, period: p.period, course: summary, classId, ...(teacherId ? { teacherId } : {}) });
    }
  }
}

export function parseIcalTimetable(source: string, base: TimetableDoc, zone: string): IcalTimetable {
  const out: IcalTimetable = { weekly: null, holidays: null, makeupDays: null, origins: new Map(), problems: [], notes: [] };
  let root: ICAL.Component;
  try {
    root = new ICAL.Component(ICAL.parse(source) as unknown[]);
  } catch (err) {
    out.problems.push(parseError(source, err));
    return out;
  }
  if (root.name !== 'vcalendar') {
    out.problems.push({ path: 'line 1', reason: `expected BEGIN:VCALENDAR, found BEGIN:${root.name.toUpperCase()}` });
    return out;
  }
  const lines = veventLines(source);
  const ctx: Ctx = { base, zone, out, weekly: [], holidays: [], makeups: [] };
  const events = root.getAllSubcomponents('vevent');
  if (events.length === 0) out.problems.push({ path: '(file)', reason: 'no VEVENT in the calendar' });
  events.forEach((ev, i) => {
    const line = lines[i] ?? 0;
    const at = line ? `line ${line}` : `VEVENT #${i + 1}`;
    const bad = (reason: string) => void out.problems.push({ path: at, reason });
    try {
      const start = timeOf(ev.getFirstProperty('dtstart'));
      if (!start) return bad('VEVENT has no DTSTART');
      if (start.isDate) allDay(ev, start, line, ctx, bad);
      else weeklyLesson(ev, start, line, ctx, bad);
    } catch (err) {
      bad(`VEVENT cannot be read: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
  if (ctx.weekly.length > 0) out.weekly = ctx.weekly;
  if (ctx.holidays.length > 0) out.holidays = ctx.holidays;
  if (ctx.makeups.length > 0) out.makeupDays = ctx.makeups;
  return out;
}
