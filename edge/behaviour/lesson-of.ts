/**
 * Which lesson a moment belongs to, on top of the lesson clock: the edge
 * attaches the lesson to behaviour events and card taps itself (it never
 * trusts a publisher's lesson id).
 */
import type { LessonClockApi } from '../lessons/types.js';

/** The id of the lesson in progress at `ts` (startsAt ≤ ts ≤ endsAt), today's lessons only; undefined between lessons. */
export function lessonIdAt(lessons: LessonClockApi, ts: number): string | undefined {
  const current = lessons.current();
  if (current && current.startsAt <= ts && ts <= current.endsAt) return current.lessonId;
  const hit = lessons
    .lessonsOn(lessons.today())
    .filter((l) => l.startsAt <= ts && ts <= l.endsAt)
    .sort((a, b) => b.startsAt - a.startsAt)[0];
  return hit?.lessonId;
}
