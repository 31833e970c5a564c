/**
 * SQL of the attendance tables (store migration 3): attendance sessions
 * (one per lesson whose window opened), marks, corrections, teacher
 * check-ins and unknown taps. Write methods run inside a store.write
 * function and append their event-log row (stream 'attendance') in the same
 * transaction; each row keeps the seq of its latest event, which retention
 * compares with the cloud's acknowledgement.
 */
import type Database from 'better-sqlite3';
import type { Tx } from '../store/index.js';
import type { LessonOccurrence } from '../lessons/types.js';
import type { AttendanceStatus, MarkRow, MarkSource, SessionInfo } from './types.js';

const STREAM = 'attendance';

interface RawSession {
  lesson_id: string;
  class_id: string;
  course: string;
  date: string;
  period: number | null;
  teacher_id: string | null;
  starts_at: number;
  ends_at: number;
  ad_hoc: number;
  expected: string;
  roster_version: number;
  opened_at: number;
  closed_at: number | null;
  teacher_alerted_at: number | null;
  seq: number;
}

interface RawMark {
  id: number;
  lesson_id: string;
  student_id: string;
  status: AttendanceStatus;
  source: MarkSource;
  reader: string | null;
  tap_ts: number | null;
  ts: number;
  updated_at: number;
  seq: number;
}

function parseIds(text: string): string[] {
  const v: unknown = JSON.parse(text);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function toSession(r: RawSession): SessionInfo {
  return {
    lessonId: r.lesson_id,
    classId: r.class_id,
    course: r.course,
    date: r.date,
    period: r.period,
    teacherId: r.teacher_id,
    startsAt: r.starts_at,
    endsAt: r.ends_at,
    adHoc: r.ad_hoc === 1,
    expected: parseIds(r.expected),
    rosterVersion: r.roster_version,
    openedAt: r.opened_at,
    closedAt: r.closed_at,
    teacherAlertedAt: r.teacher_alerted_at,
    seq: r.seq,
  };
}

function toMark(r: RawMark): MarkRow {
  return {
    id: r.id,
    lessonId: r.lesson_id,
    studentId: r.student_id,
    status: r.status,
    source: r.source,
    reader: r.reader,
    tapTs: r.tap_ts,
    ts: r.ts,
    updatedAt: r.updated_at,
    seq: r.seq,
  };
}

export interface NewMark {
  lessonId: string;
  studentId: string;
  status: AttendanceStatus;
  source: MarkSource;
  reader?: string;
  tapTs?: number;
  ts: number;
}

export class AttendanceRepo {
  private readonly cache = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  /** A prepared statement, compiled once per SQL text. */
  private q<P extends unknown[] = unknown[], R = unknown>(sql: string): Database.Statement<P, R> {
    let s = this.cache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return s as unknown as Database.Statement<P, R>;
  }

  // ---- reads (outside or inside a write) ----

  session(lessonId: string): SessionInfo | undefined {
    const r = this.q<[string], RawSession>('SELECT * FROM attendance_sessions WHERE lesson_id = ?').get(lessonId);
    return r ? toSession(r) : undefined;
  }

  openSessions(): SessionInfo[] {
    return this
      .q<[], RawSession>('SELECT * FROM attendance_sessions WHERE closed_at IS NULL ORDER BY starts_at')
      .all()
      .map(toSession);
  }

  /** Sessions whose local date is in [from, to] (inclusive, YYYY-MM-DD), in time order. */
  sessionsBetween(from: string, to: string): SessionInfo[] {
    return this
      .q<[string, string], RawSession>('SELECT * FROM attendance_sessions WHERE date >= ? AND date <= ? ORDER BY starts_at, lesson_id')
      .all(from, to)
      .map(toSession);
  }

  mark(lessonId: string, studentId: string): MarkRow | undefined {
    const r = this
      .q<[string, string], RawMark>('SELECT * FROM attendance WHERE lesson_id = ? AND student_id = ?')
      .get(lessonId, studentId);
    return r ? toMark(r) : undefined;
  }

  marks(lessonId: string): MarkRow[] {
    return this.q<[string], RawMark>('SELECT * FROM attendance WHERE lesson_id = ? ORDER BY id').all(lessonId).map(toMark);
  }

  /** The first check-in of the lesson, if any. */
  teacherCheckIn(lessonId: string): { teacherId: string; ts: number } | undefined {
    const r = this
      .q<[string], { teacher_id: string; ts: number }>(
        'SELECT teacher_id, ts FROM teacher_checkins WHERE lesson_id = ? ORDER BY ts, id LIMIT 1',
      )
      .get(lessonId);
    return r ? { teacherId: r.teacher_id, ts: r.ts } : undefined;
  }

  hasCheckIn(lessonId: string, teacherId: string): boolean {
    return (
      this
        .q<[string, string], { one: number }>('SELECT 1 AS one FROM teacher_checkins WHERE lesson_id = ? AND teacher_id = ?')
        .get(lessonId, teacherId) !== undefined
    );
  }

  unknownTaps(lessonId: string): Array<{ uid: string; reader: string; ts: number }> {
    return this
      .q<[string], { uid: string; reader: string; ts: number }>('SELECT uid, reader, ts FROM unknown_taps WHERE lesson_id = ? ORDER BY id')
      .all(lessonId);
  }

  correctionByCommand(commandId: string): { lessonId: string; studentId: string; status: AttendanceStatus } | undefined {
    const r = this
      .q<[string], { lesson_id: string; student_id: string; new_status: AttendanceStatus }>(
        'SELECT lesson_id, student_id, new_status FROM attendance_corrections WHERE command_id = ?',
      )
      .get(commandId);
    return r ? { lessonId: r.lesson_id, studentId: r.student_id, status: r.new_status } : undefined;
  }

  corrections(lessonId: string): Array<{ studentId: string; old: AttendanceStatus | null; status: AttendanceStatus; actor: string; ts: number }> {
    return this
      .q<[string], { student_id: string; old_status: AttendanceStatus | null; new_status: AttendanceStatus; actor: string; ts: number }>(
        'SELECT student_id, old_status, new_status, actor, ts FROM attendance_corrections WHERE lesson_id = ? ORDER BY id',
      )
      .all(lessonId)
      .map((r) => ({ studentId: r.student_id, old: r.old_status, status: r.new_status, actor: r.actor, ts: r.ts }));
  }

  // ---- writes (inside store.write) ----

  /** Creates the session if it does not exist yet; returns it either way. */
  ensureSession(tx: Tx, lesson: LessonOccurrence, expected: string[], rosterVersion: number, now: number): { session: SessionInfo; created: boolean } {
    const existing = this.session(lesson.lessonId);
    if (existing) return { session: existing, created: false };
    this
      .q(
        `INSERT INTO attendance_sessions (lesson_id, class_id, course, date, period, teacher_id, starts_at, ends_at, ad_hoc, expected, roster_version, opened_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        lesson.lessonId,
        lesson.classId,
        lesson.course,
        lesson.date,
        lesson.period,
        lesson.teacherId,
        lesson.startsAt,
        lesson.endsAt,
        lesson.adHoc ? 1 : 0,
        JSON.stringify(expected),
        rosterVersion,
        now,
      );
    const seq = tx.appendEvent({
      stream: STREAM,
      type: 'session-open',
      entityId: lesson.lessonId,
      payload: {
        lessonId: lesson.lessonId,
        classId: lesson.classId,
        course: lesson.course,
        date: lesson.date,
        period: lesson.period,
        teacherId: lesson.teacherId,
        startsAt: lesson.startsAt,
        endsAt: lesson.endsAt,
        adHoc: lesson.adHoc,
        expected,
        rosterVersion,
      },
      ts: now,
    });
    this.setSessionSeq(lesson.lessonId, seq);
    const session = this.session(lesson.lessonId);
    if (!session) throw new Error(`attendance session ${lesson.lessonId} vanished after insert`);
    return { session, created: true };
  }

  /** The lesson's times changed (extended, started early): no event, the lesson stream carries it. */
  updateTimes(lessonId: string, startsAt: number, endsAt: number): void {
    this.q('UPDATE attendance_sessions SET starts_at = ?, ends_at = ? WHERE lesson_id = ?').run(startsAt, endsAt, lessonId);
  }

  addExpected(lessonId: string, expected: string[]): void {
    this.q('UPDATE attendance_sessions SET expected = ? WHERE lesson_id = ?').run(JSON.stringify(expected), lessonId);
  }

  private setSessionSeq(lessonId: string, seq: number): void {
    this.q('UPDATE attendance_sessions SET seq = ? WHERE lesson_id = ?').run(seq, lessonId);
  }

  insertMark(tx: Tx, m: NewMark): { id: number; seq: number } {
    const id = Number(
      this
        .q('INSERT INTO attendance (lesson_id, student_id, status, source, reader, tap_ts, ts, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(m.lessonId, m.studentId, m.status, m.source, m.reader ?? null, m.tapTs ?? null, m.ts, m.ts).lastInsertRowid,
    );
    const seq = tx.appendEvent({
      stream: STREAM,
      type: 'mark',
      entityId: id,
      payload: { lessonId: m.lessonId, studentId: m.studentId, status: m.status, source: m.source, reader: m.reader ?? null, tapTs: m.tapTs ?? null },
      ts: m.ts,
    });
    this.q('UPDATE attendance SET seq = ? WHERE id = ?').run(seq, id);
    return { id, seq };
  }

  /** A teacher's correction: the mark changes (or is created), a correction row and its event are written. */
  insertCorrection(
    tx: Tx,
    c: { lessonId: string; studentId: string; old: MarkRow | undefined; status: AttendanceStatus; actor: string; role: string; commandId?: string; ts: number },
  ): { id: number; seq: number } {
    const id = Number(
      this
        .q(
          'INSERT INTO attendance_corrections (lesson_id, student_id, old_status, new_status, actor, role, command_id, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(c.lessonId, c.studentId, c.old?.status ?? null, c.status, c.actor, c.role, c.commandId ?? null, c.ts).lastInsertRowid,
    );
    const seq = tx.appendEvent({
      stream: STREAM,
      type: 'correction',
      entityId: id,
      payload: {
        lessonId: c.lessonId,
        studentId: c.studentId,
        old: c.old?.status ?? null,
        status: c.status,
        actor: c.actor,
        role: c.role,
        commandId: c.commandId ?? null,
      },
      ts: c.ts,
    });
    this.q('UPDATE attendance_corrections SET seq = ? WHERE id = ?').run(seq, id);
    if (c.old) {
      this
        .q("UPDATE attendance SET status = ?, source = 'teacher', updated_at = ?, seq = ? WHERE id = ?")
        .run(c.status, c.ts, seq, c.old.id);
    } else {
      this
        .q("INSERT INTO attendance (lesson_id, student_id, status, source, ts, updated_at, seq) VALUES (?, ?, ?, 'teacher', ?, ?, ?)")
        .run(c.lessonId, c.studentId, c.status, c.ts, c.ts, seq);
    }
    return { id, seq };
  }

  insertTeacherCheckIn(tx: Tx, c: { lessonId: string | null; teacherId: string; reader: string; ts: number }): number {
    const id = Number(
      this
        .q('INSERT INTO teacher_checkins (lesson_id, teacher_id, reader, ts) VALUES (?, ?, ?, ?)')
        .run(c.lessonId, c.teacherId, c.reader, c.ts).lastInsertRowid,
    );
    const seq = tx.appendEvent({
      stream: STREAM,
      type: c.lessonId === null ? 'teacher-unlock' : 'teacher-checkin',
      entityId: id,
      payload: { lessonId: c.lessonId, teacherId: c.teacherId, reader: c.reader },
      ts: c.ts,
    });
    this.q('UPDATE teacher_checkins SET seq = ? WHERE id = ?').run(seq, id);
    return seq;
  }

  insertUnknownTap(tx: Tx, u: { lessonId: string | null; reader: string; uid: string; ts: number }): number {
    const id = Number(
      this.q('INSERT INTO unknown_taps (lesson_id, reader, uid, ts) VALUES (?, ?, ?, ?)').run(u.lessonId, u.reader, u.uid, u.ts)
        .lastInsertRowid,
    );
    const seq = tx.appendEvent({ stream: STREAM, type: 'unknown-card', entityId: id, payload: { lessonId: u.lessonId, reader: u.reader, uid: u.uid }, ts: u.ts });
    this.q('UPDATE unknown_taps SET seq = ? WHERE id = ?').run(seq, id);
    return seq;
  }

  markTeacherAlerted(tx: Tx, lessonId: string, now: number): void {
    this.q('UPDATE attendance_sessions SET teacher_alerted_at = ? WHERE lesson_id = ?').run(now, lessonId);
    const seq = tx.appendEvent({ stream: STREAM, type: 'teacher-missing', entityId: lessonId, payload: { lessonId }, ts: now });
    this.setSessionSeq(lessonId, seq);
  }

  closeSession(tx: Tx, lessonId: string, now: number, payload: Record<string, unknown>): number {
    this.q('UPDATE attendance_sessions SET closed_at = ? WHERE lesson_id = ?').run(now, lessonId);
    const seq = tx.appendEvent({ stream: STREAM, type: 'session-close', entityId: lessonId, payload: { lessonId, ...payload }, ts: now });
    this.setSessionSeq(lessonId, seq);
    return seq;
  }
}
