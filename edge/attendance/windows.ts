/**
 * Attendance windows: which lessons a card tap at `ts` may count for.
 * A lesson's window is [startsAt − openBefore, endsAt]; the lesson in
 * progress comes first, then upcoming ones whose window already opened
 * (a student tapping in the break before the next lesson).
 */
import type { LessonClockApi, LessonOccurrence } from '../lessons/types.js';
import type { OutsideReason } from './types.js';

export interface WindowChoice {
  /** Lessons whose window holds ts, best first. */
  open: LessonOccurrence[];
  /** When none: why, in words the kiosk can show, and the lesson it is about. */
  reason?: OutsideReason;
  message?: string;
  lessonId?: string;
  opensAt?: number;
}

/** Today's lessons known to the clock (scheduled, ad hoc, current, next), without duplicates, in time order. */
export function knownLessons(lessons: LessonClockApi): LessonOccurrence[] {
  const byId = new Map<string, LessonOccurrence>();
  const add = (l: LessonOccurrence | null | undefined): void => {
    if (l) byId.set(l.lessonId, l);
  };
  for (const l of lessons.lessonsOn(lessons.today())) add(l);
  // current/next carry manual overrides (started early, extended): they win over the day's plan.
  add(lessons.next());
  add(lessons.current());
  return [...byId.values()].sort((a, b) => a.startsAt - b.startsAt || a.lessonId.localeCompare(b.lessonId));
}

function hhmm(ms: number, timeZone: string | undefined): string {
  return new Date(ms).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', hour12: false, ...(timeZone ? { timeZone } : {}) });
}

/**
 * The lessons whose attendance window holds `ts`; `isClosed` tells lessons
 * already ended for attendance (absentees marked), which no longer accept taps.
 */
export function chooseWindows(
  candidates: readonly LessonOccurrence[],
  ts: number,
  openBeforeMs: number,
  isClosed: (lessonId: string) => boolean,
  timeZone?: string,
): WindowChoice {
  const open = candidates
    .filter((l) => ts >= l.startsAt - openBeforeMs && ts <= l.endsAt && !isClosed(l.lessonId))
    .sort((a, b) => {
      const aNow = a.startsAt <= ts ? 0 : 1;
      const bNow = b.startsAt <= ts ? 0 : 1;
      return aNow - bNow || a.startsAt - b.startsAt;
    });
  if (open.length > 0) return { open };

  const upcoming = candidates.filter((l) => l.startsAt - openBeforeMs > ts && !isClosed(l.lessonId)).sort((a, b) => a.startsAt - b.startsAt)[0];
  if (upcoming) {
    const opensAt = upcoming.startsAt - openBeforeMs;
    return {
      open: [],
      reason: 'too-early',
      lessonId: upcoming.lessonId,
      opensAt,
      message: `attendance for ${upcoming.course} (${upcoming.lessonId}) opens at ${hhmm(opensAt, timeZone)}`,
    };
  }
  const ended = candidates.filter((l) => l.startsAt <= ts).sort((a, b) => b.endsAt - a.endsAt)[0];
  if (ended) {
    return {
      open: [],
      reason: 'ended',
      lessonId: ended.lessonId,
      message: `${ended.course} (${ended.lessonId}) ended at ${hhmm(ended.endsAt, timeZone)}; no lesson is open for attendance`,
    };
  }
  return { open: [], reason: 'no-lesson', message: 'no lesson today is open for attendance' };
}
