/**
 * Small date helpers of the timetable domain: local dates (YYYY-MM-DD),
 * times of day (HH:MM), weekdays (ISO 1 = Monday .. 7 = Sunday) and their
 * spellings in imports (1-7, 周一..周日 / 星期一, Mon..Sun, MO..SU).
 * Time zones go through luxon; nothing here reads the system clock.
 */
import { DateTime } from 'luxon';

export const DEFAULT_ZONE = 'Asia/Shanghai';

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const TIME_RE = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** True for a real calendar date written YYYY-MM-DD. */
export function isDate(s: string): boolean {
  return DATE_RE.test(s) && DateTime.fromISO(s, { zone: 'UTC' }).isValid;
}

/** True for HH:MM, 00:00 .. 23:59. */
export function isTime(s: string): boolean {
  return TIME_RE.test(s);
}

/** Minutes since midnight of HH:MM (the caller checked isTime). */
export function minutesOf(time: string): number {
  const m = TIME_RE.exec(time);
  if (!m) throw new RangeError(`not a time of day (HH:MM): ${JSON.stringify(time)}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

export function isZone(zone: string): boolean {
  return DateTime.now().setZone(zone).isValid;
}

/** ISO weekday (1 = Monday .. 7 = Sunday) of a local date. */
export function weekdayOf(date: string): number {
  const d = DateTime.fromISO(date, { zone: 'UTC' });
  if (!d.isValid) throw new RangeError(`not a date (YYYY-MM-DD): ${JSON.stringify(date)}`);
  return d.weekday;
}

/** The date `days` after `date` (negative: before). */
export function addDays(date: string, days: number): string {
  const d = DateTime.fromISO(date, { zone: 'UTC' }).plus({ days });
  return d.toISODate() ?? date;
}

/** Epoch ms of a local wall time in a zone (a time skipped by DST moves forward, as luxon does). */
export function epochOf(date: string, time: string, zone: string): number {
  const d = DateTime.fromISO(`${date}T${time}`, { zone });
  if (!d.isValid) throw new RangeError(`invalid local time ${date} ${time} in ${zone}: ${d.invalidReason ?? 'unknown'}`);
  return d.toMillis();
}

/**
 * The last local day computed per zone: [start, end) in epoch ms and its date. The ingest path asks
 * for today's date on every bus event (edge/behaviour/lesson-of.ts), and a luxon DateTime in a named
 * zone costs some 5 µs (Intl offset lookups); an instant inside the cached day needs no luxon at all.
 */
const dayCache = new Map<string, { start: number; end: number; date: string }>();

/** Local date (YYYY-MM-DD) of an instant in a zone. */
export function localDate(ms: number, zone: string): string {
  const hit = dayCache.get(zone);
  if (hit && ms >= hit.start && ms < hit.end) return hit.date;
  const d = DateTime.fromMillis(ms, { zone });
  const iso = d.toISODate();
  if (iso === null) throw new RangeError(`cannot express ${ms} in zone ${zone}: ${d.invalidReason ?? 'invalid'}`);
  // The day's bounds as luxon sees them (DST days are 23 or 25 h long); cached only when consistent.
  const start = d.startOf('day');
  const end = start.plus({ days: 1 }).startOf('day');
  if (start.isValid && end.isValid && start.toMillis() <= ms && ms < end.toMillis() && end.toISODate() !== iso) {
    dayCache.set(zone, { start: start.toMillis(), end: end.toMillis(), date: iso });
  }
  return iso;
}

/** Local HH:MM of an instant in a zone. */
export function localTime(ms: number, zone: string): string {
  return DateTime.fromMillis(ms, { zone }).toFormat('HH:mm');
}

const WEEKDAY_NAMES: Record<string, number> = {
  mon: 1, monday: 1, mo: 1, 周一: 1, 星期一: 1, 礼拜一: 1,
  tue: 2, tuesday: 2, tu: 2, 周二: 2, 星期二: 2, 礼拜二: 2,
  wed: 3, wednesday: 3, we: 3, 周三: 3, 星期三: 3, 礼拜三: 3,
  thu: 4, thursday: 4, th: 4, 周四: 4, 星期四: 4, 礼拜四: 4,
  fri: 5, friday: 5, fr: 5, 周五: 5, 星期五: 5, 礼拜五: 5,
  sat: 6, saturday: 6, sa: 6, 周六: 6, 星期六: 6, 礼拜六: 6,
  sun: 7, sunday: 7, su: 7, 周日: 7, 周天: 7, 星期日: 7, 星期天: 7, 礼拜日: 7, 礼拜天: 7,
};

/** A weekday as written in an import (1-7, 周一, 星期一, Mon, Monday, MO); undefined when it is none. */
export function parseWeekday(text: string): number | undefined {
  const s = text.trim();
  if (/^[1-7]$/.test(s)) return Number(s);
  return WEEKDAY_NAMES[s.toLowerCase()];
}

export const WEEKDAY_LABELS = ['', '周一', '周二', '周三', '周四', '周五', '周六', '周日'] as const;
