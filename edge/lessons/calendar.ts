/**
 * The term calendar as pure functions: which lessons a local date has.
 *
 * - outside the term: none;
 * - a holiday: none;
 * - a make-up day (调休): the weekly grid of the weekday it follows, with that
 *   weekday's bell schedule;
 * - otherwise the weekly grid of its own weekday;
 * - a bell override for the date replaces the bell schedule (a period the
 *   override lacks has no lesson that day).
 *
 * Times are local wall times in the room's IANA zone (luxon), so a DST change
 * (a room in Europe/Berlin) moves the instants, never the wall times.
 */
import type { LessonOccurrence } from './types.js';
import { epochOf, weekdayOf } from './dates.js';
import { scheduleForWeekday, type Holiday, type MakeupDay, type TimetableDoc } from './timetable-schema.js';

export type DayKind = 'outside-term' | 'holiday' | 'makeup' | 'regular';

export interface DayInfo {
  date: string;
  kind: DayKind;
  /** The date's own ISO weekday. */
  weekday: number;
  /** The weekday whose grid applies (a make-up day's followed weekday); null when no lessons. */
  gridWeekday: number | null;
  /** The bell schedule in force; null when no lessons. */
  bellSchedule: string | null;
  holiday?: Holiday;
  makeup?: MakeupDay;
}

export interface RoomContext {
  roomId: string;
  /** IANA zone of the room (config room.timezone). */
  zone: string;
}

export function dayInfo(doc: TimetableDoc, date: string): DayInfo {
  const weekday = weekdayOf(date);
  const t = doc.term;
  if (date < t.start || date > t.end) return { date, kind: 'outside-term', weekday, gridWeekday: null, bellSchedule: null };
  const holiday = t.holidays.find((h) => date >= h.from && date <= h.to);
  if (holiday) return { date, kind: 'holiday', weekday, gridWeekday: null, bellSchedule: null, holiday };
  const makeup = t.makeupDays.find((m) => m.date === date);
  const gridWeekday = makeup ? makeup.followsWeekday : weekday;
  const override = t.bellOverrides.find((o) => o.date === date);
  const bellSchedule = override ? override.bellSchedule : scheduleForWeekday(doc, gridWeekday);
  return makeup
    ? { date, kind: 'makeup', weekday, gridWeekday, bellSchedule, makeup }
    : { date, kind: 'regular', weekday, gridWeekday, bellSchedule };
}

export function lessonIdFor(roomId: string, date: string, period: number): string {
  return `${roomId}/${date}/p${period}`;
}

export function adHocLessonId(roomId: string, date: string, n: number): string {
  return `${roomId}/${date}/adhoc-${n}`;
}

export type ParsedLessonId =
  | { roomId: string; date: string; period: number; adHoc: null }
  | { roomId: string; date: string; period: null; adHoc: number };

/** Splits a lesson id; undefined when it is not one. */
export function parseLessonId(id: string): ParsedLessonId | undefined {
  const m = /^(.+)\/(\d{4}-\d{2}-\d{2})\/(?:p(\d{1,2})|adhoc-(\d{1,6}))$/.exec(id);
  if (!m) return undefined;
  const [, roomId, date, period, adHoc] = m;
  if (roomId === undefined || date === undefined) return undefined;
  if (period !== undefined) return { roomId, date, period: Number(period), adHoc: null };
  return { roomId, date, period: null, adHoc: Number(adHoc) };
}

/** The scheduled lessons of a local date, in time order (no manual overrides; see LessonClock). */
export function scheduledLessons(doc: TimetableDoc, date: string, room: RoomContext): LessonOccurrence[] {
  const day = dayInfo(doc, date);
  if (day.gridWeekday === null || day.bellSchedule === null) return [];
  const sched = doc.bellSchedules[day.bellSchedule];
  if (!sched) return [];
  const out: LessonOccurrence[] = [];
  for (const e of doc.weekly) {
    if (e.weekday !== day.gridWeekday) continue;
    const p = sched.periods.find((x) => x.period === e.period);
    if (!p) continue;
    out.push({
      lessonId: lessonIdFor(room.roomId, date, e.period),
      roomId: room.roomId,
      date,
      period: e.period,
      course: e.course,
      classId: e.classId,
      teacherId: e.teacherId ?? null,
      startsAt: epochOf(date, p.start, room.zone),
      endsAt: epochOf(date, p.end, room.zone),
      adHoc: false,
    });
  }
  return out.sort((a, b) => a.startsAt - b.startsAt);
}
