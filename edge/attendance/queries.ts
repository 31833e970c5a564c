/**
 * The read side of attendance: per-lesson summaries and counts for the kiosk
 * and the API, from the store (so they survive restarts) and the roster in
 * force (names are not stored with the marks).
 */
import type { LessonClockApi, LessonOccurrence, RosterIndex } from '../lessons/types.js';
import type { AttendanceRepo } from './repo.js';
import type { AttendanceCounts, AttendanceSummary, MarkRow, SessionInfo, StudentLine } from './types.js';

export function sessionToLesson(s: SessionInfo, roomId: string): LessonOccurrence {
  return {
    lessonId: s.lessonId,
    roomId,
    date: s.date,
    period: s.period,
    course: s.course,
    classId: s.classId,
    teacherId: s.teacherId,
    startsAt: s.startsAt,
    endsAt: s.endsAt,
    adHoc: s.adHoc,
  };
}

export interface QueryDeps {
  roomId: string;
  repo: AttendanceRepo;
  lessons: LessonClockApi;
  roster: () => RosterIndex;
}

export class AttendanceQueries {
  constructor(private readonly deps: QueryDeps) {}

  /** The lesson as the clock knows it now (live times), else as attendance stored it. */
  lesson(lessonId: string): LessonOccurrence | undefined {
    const live = this.deps.lessons.find(lessonId);
    if (live) return live;
    const s = this.deps.repo.session(lessonId);
    return s ? sessionToLesson(s, this.deps.roomId) : undefined;
  }

  /** Expected student ids: the stored snapshot, or the class in the roster for a lesson whose window has not opened. */
  expected(lessonId: string): string[] | undefined {
    const s = this.deps.repo.session(lessonId);
    if (s) return s.expected;
    const l = this.deps.lessons.find(lessonId);
    return l ? this.deps.roster().studentsOf(l.classId).map((st) => st.studentId) : undefined;
  }

  counts(lessonId: string): AttendanceCounts | undefined {
    const expected = this.expected(lessonId);
    if (!expected) return undefined;
    return countMarks(expected, this.deps.repo.marks(lessonId), this.deps.repo.unknownTaps(lessonId).length);
  }

  summary(lessonId: string): AttendanceSummary | undefined {
    const lesson = this.lesson(lessonId);
    if (!lesson) return undefined;
    const { repo } = this.deps;
    const roster = this.deps.roster();
    const session = repo.session(lessonId);
    const expected = session?.expected ?? roster.studentsOf(lesson.classId).map((s) => s.studentId);
    const marks = session ? repo.marks(lessonId) : [];
    const unknownCards = session ? repo.unknownTaps(lessonId) : [];
    const byStudent = new Map(marks.map((m) => [m.studentId, m]));
    const expectedSet = new Set(expected);
    const line = (studentId: string): StudentLine => {
      const m = byStudent.get(studentId);
      return {
        studentId,
        name: roster.student(studentId)?.name ?? null,
        expected: expectedSet.has(studentId),
        onLeave: !m && roster.leaveFor(studentId, lesson.date, lesson.period) !== undefined,
        status: m?.status ?? null,
        source: m?.source ?? null,
        tapTs: m?.tapTs ?? null,
        ts: m?.ts ?? null,
      };
    };
    const students = [...expected.map(line), ...marks.filter((m) => !expectedSet.has(m.studentId)).map((m) => line(m.studentId))];
    const checkIn = session ? repo.teacherCheckIn(lessonId) : undefined;
    return {
      lesson,
      open: session !== undefined && session.closedAt === null,
      started: session !== undefined,
      ...countMarks(expected, marks, unknownCards.length),
      teacherCheckIn: checkIn ? { ...checkIn, name: roster.teacher(checkIn.teacherId)?.name ?? null } : null,
      unknownCards,
      students,
    };
  }
}

export function countMarks(expected: readonly string[], marks: readonly MarkRow[], unknownTaps: number): AttendanceCounts {
  const c: AttendanceCounts = { expected: expected.length, present: 0, late: 0, absent: 0, leave: 0, unmarked: 0, unknownTaps };
  const marked = new Set<string>();
  for (const m of marks) {
    c[m.status]++;
    marked.add(m.studentId);
  }
  c.unmarked = expected.filter((id) => !marked.has(id)).length;
  return c;
}
