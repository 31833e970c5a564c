/**
 * Shared shapes of the timetable domain (issue 4): lesson occurrences, the
 * lesson clock's interface, and the roster index that attendance reads.
 * Implementations live in edge/lessons (clock, calendar, datasets, importers)
 * and edge/attendance, edge/behaviour.
 */
import type { EventEmitter } from 'node:events';

/** One occurrence of a lesson: the key of everything that happens in it. */
export interface LessonOccurrence {
  /**
   * Stable id: `${roomId}/${date}/p${period}` for a scheduled lesson,
   * `${roomId}/${date}/adhoc-${n}` for an unscheduled session.
   */
  lessonId: string;
  roomId: string;
  /** Local date in the room's time zone, YYYY-MM-DD. */
  date: string;
  /** Period number of the bell schedule; null for an ad-hoc session. */
  period: number | null;
  course: string;
  classId: string;
  teacherId: string | null;
  /** Epoch ms (after any manual override: started early, extended). */
  startsAt: number;
  endsAt: number;
  adHoc: boolean;
}

export type LessonEndReason = 'scheduled' | 'manual' | 'superseded';

export interface LessonClockEvents {
  /** A lesson began (scheduled time reached, started early, or ad hoc). Once per lesson id. */
  start: [lesson: LessonOccurrence];
  /** A lesson ended. Once per lesson id. */
  end: [lesson: LessonOccurrence, reason: LessonEndReason];
  /** The current lesson's times changed (extended, started early). */
  update: [lesson: LessonOccurrence];
}

export interface LessonClockApi {
  on<E extends keyof LessonClockEvents>(event: E, listener: (...args: LessonClockEvents[E]) => void): EventEmitter | this;
  off<E extends keyof LessonClockEvents>(event: E, listener: (...args: LessonClockEvents[E]) => void): EventEmitter | this;
  /** The lesson in progress now, or null. */
  current(): LessonOccurrence | null;
  /** The next lesson today after now (or after the current one), or null. */
  next(): LessonOccurrence | null;
  /** Scheduled lessons of a local date (holidays: none; make-up days follow their weekday), plus ad-hoc ones. */
  lessonsOn(date: string): LessonOccurrence[];
  /** A lesson by id (today's, or recorded in the store). */
  find(lessonId: string): LessonOccurrence | undefined;
  /** Local date now in the room's zone. */
  today(): string;
}

export interface Student {
  studentId: string;
  name: string;
  classId: string;
  /** Canonical upper-case hex UID of the student's card. */
  cardUid?: string;
}

export interface Teacher {
  teacherId: string;
  name: string;
  cardUid?: string;
}

export interface Leave {
  studentId: string;
  /** Local dates, inclusive. */
  from: string;
  to: string;
  /** Periods of those days; all when absent. */
  periods?: number[];
  reason?: string;
}

export interface RosterIndex {
  /** Version of the roster dataset in force. */
  readonly version: number;
  studentsOf(classId: string): Student[];
  student(studentId: string): Student | undefined;
  teacher(teacherId: string): Teacher | undefined;
  /** Who a card belongs to. */
  byCard(uid: string): { type: 'student'; student: Student } | { type: 'teacher'; teacher: Teacher } | undefined;
  /** An approved leave covering this student for that lesson. */
  leaveFor(studentId: string, date: string, period: number | null): Leave | undefined;
}
