/**
 * Shapes of the attendance domain (issue 4): marks, tap results, summaries.
 * Persisted by edge/attendance/repo.ts (store migration 3).
 */
import { z } from 'zod';
import type { LessonOccurrence } from '../lessons/types.js';

export const ATTENDANCE_STATUSES = ['present', 'late', 'absent', 'leave'] as const;
export type AttendanceStatus = (typeof ATTENDANCE_STATUSES)[number];
export const attendanceStatusSchema = z.enum(ATTENDANCE_STATUSES);
export type MarkSource = 'card' | 'teacher' | 'auto';

/** Who did something (an authenticated principal). */
export interface Actor {
  username: string;
  role: string;
}

/** A committed card tap, from a reader driver or the `card` topic. */
export const tapInputSchema = z.object({
  reader: z.string().min(1).max(128),
  uid: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[0-9A-Fa-f]+$/, 'hexadecimal UID')
    .transform((s) => s.toUpperCase()),
  ts: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
});
export type TapInput = z.input<typeof tapInputSchema>;

/** Why a student's tap changed nothing. */
export type OutsideReason = 'no-lesson' | 'too-early' | 'ended';

export type TapResult =
  | { kind: 'marked'; lessonId: string; studentId: string; status: 'present' | 'late'; seq: number }
  | { kind: 'duplicate'; lessonId: string; studentId: string; status: AttendanceStatus }
  | { kind: 'outside-window'; studentId: string; reason: OutsideReason; message: string; lessonId?: string; opensAt?: number }
  | { kind: 'not-expected'; lessonId: string; studentId: string; classId: string; message: string }
  | { kind: 'unknown-card'; uid: string; lessonId: string | null }
  /** A teacher's card: the lead publishes this for the kiosk (刷卡授权). `checkIn` is true when it was this lesson's first check-in of that teacher. */
  | { kind: 'unlock'; teacherId: string; name: string; lessonId: string | null; checkIn: boolean }
  | { kind: 'rejected'; reason: string };

/** A lesson as attendance keeps it (a snapshot taken when its window opened). */
export interface SessionInfo {
  lessonId: string;
  classId: string;
  course: string;
  date: string;
  period: number | null;
  teacherId: string | null;
  startsAt: number;
  endsAt: number;
  adHoc: boolean;
  /** Student ids expected (students of the class when the window opened, plus later additions). */
  expected: string[];
  rosterVersion: number;
  openedAt: number;
  closedAt: number | null;
  teacherAlertedAt: number | null;
  seq: number;
}

export interface MarkRow {
  id: number;
  lessonId: string;
  studentId: string;
  status: AttendanceStatus;
  source: MarkSource;
  reader: string | null;
  /** Time of the card tap that made the mark (null for auto and teacher marks without a tap). */
  tapTs: number | null;
  ts: number;
  updatedAt: number;
  seq: number;
}

export interface StudentLine {
  studentId: string;
  name: string | null;
  expected: boolean;
  /** Not marked yet, but an approved leave covers this lesson (it becomes `leave` at the end). */
  onLeave: boolean;
  status: AttendanceStatus | null;
  source: MarkSource | null;
  tapTs: number | null;
  ts: number | null;
}

export interface AttendanceCounts {
  expected: number;
  present: number;
  late: number;
  absent: number;
  leave: number;
  /** Expected students without a mark yet (lesson not ended). */
  unmarked: number;
  unknownTaps: number;
}

export interface AttendanceSummary extends AttendanceCounts {
  lesson: LessonOccurrence;
  /** True while the window is open (the lesson has not been closed by its end). */
  open: boolean;
  /** False when the lesson's window has not opened yet (no attendance stored). */
  started: boolean;
  teacherCheckIn: { teacherId: string; name: string | null; ts: number } | null;
  unknownCards: Array<{ uid: string; reader: string; ts: number }>;
  students: StudentLine[];
}

export type CorrectionResult =
  | { kind: 'corrected'; lessonId: string; studentId: string; old: AttendanceStatus | null; status: AttendanceStatus; seq: number }
  | { kind: 'unchanged'; lessonId: string; studentId: string; status: AttendanceStatus }
  | { kind: 'duplicate'; lessonId: string; studentId: string; status: AttendanceStatus };

export type AttendanceErrorCode = 'unknown-lesson' | 'unknown-student' | 'not-open' | 'invalid-input';

/** An attendance request that cannot be done; the message names the lesson and the student. */
export class AttendanceError extends Error {
  override name = 'AttendanceError';
  constructor(
    readonly code: AttendanceErrorCode,
    message: string,
  ) {
    super(message);
  }
}
