/**
 * Attendance (issue 4): card taps inside a lesson's window mark students
 * present or late, teachers' cards check the teacher in and unlock the kiosk
 * (刷卡授权), unknown cards raise an alert, and at the lesson's end every
 * expected student without a mark becomes absent, or `leave` when an
 * approved leave (请假) from the roster covers the lesson.
 *
 * Every mark is written with its event-log row in ONE store.write
 * transaction (stream 'attendance') and published on the `attendance` topic
 * only after commit. All state lives in the store, so a restart mid-lesson
 * resumes where it was; a lesson whose end passed while the service was down
 * is closed at the next start.
 */
import type { EdgeConfig } from '../config/schema.js';
import type { LessonClockApi, LessonEndReason, LessonOccurrence, RosterIndex } from '../lessons/types.js';
import { attendanceSchema, type AlertMessage } from '../schemas/bus.js';
import type { Topics } from '../schemas/topics.js';
import type { Store } from '../store/index.js';
import { DomainRepos } from '../store/repos.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { AttendanceQueries, sessionToLesson } from './queries.js';
import { AttendanceRepo } from './repo.js';
import {
  AttendanceError,
  attendanceStatusSchema,
  tapInputSchema,
  type Actor,
  type AttendanceCounts,
  type AttendanceStatus,
  type AttendanceSummary,
  type CorrectionResult,
  type MarkSource,
  type SessionInfo,
  type TapResult,
} from './types.js';
import { chooseWindows, knownLessons } from './windows.js';

const MINUTE = 60_000;
/** A session still open this long after its end, with no `end` event from the clock, is closed by the tick. */
const MISSED_END_GRACE_MS = MINUTE;

export interface AttendanceDeps {
  roomId: string;
  store: Store;
  clock: Clock;
  lessons: LessonClockApi;
  /** The roster in force (it may be replaced while the service runs). */
  roster: () => RosterIndex;
  config: EdgeConfig['lessons']['attendance'];
  publish: (topic: string, payload: object) => Promise<void>;
  topics: Pick<Topics, 'attendance'>;
  raiseAlert: (alert: Omit<AlertMessage, 'id' | 'ts'>) => Promise<void>;
  logger: Logger;
  /** Room time zone, for the times in messages (default: the process zone). */
  timeZone?: string;
  /** How often open lessons are checked (missing teacher, missed end). Default 15 s. */
  tickMs?: number;
  /** Called after a lesson's closing is committed (the completeness receipt follows it: sync/receipts.ts). */
  onClosed?: (lessonId: string) => void;
}

interface PublishedMark {
  lessonId: string;
  studentId: string;
  status: AttendanceStatus;
  source: MarkSource;
  ts: number;
}

export class AttendanceService {
  readonly repo: AttendanceRepo;
  readonly queries: AttendanceQueries;
  private readonly audit: DomainRepos;
  private readonly log: Logger;
  private timer: ReturnType<typeof setInterval> | null = null;
  private ticking: Promise<void> | null = null;
  private readonly onStart = (l: LessonOccurrence): void => this.background('open lesson', this.openLesson(l));
  private readonly onEnd = (l: LessonOccurrence, reason: LessonEndReason): void =>
    this.background('close lesson', this.closeLesson(l, reason));
  private readonly onUpdate = (l: LessonOccurrence): void => {
    if (this.repo.session(l.lessonId)) this.background('update lesson', this.deps.store.write(() => this.repo.updateTimes(l.lessonId, l.startsAt, l.endsAt)));
  };

  constructor(private readonly deps: AttendanceDeps) {
    this.repo = new AttendanceRepo(deps.store.db);
    this.audit = new DomainRepos(deps.store.db);
    this.queries = new AttendanceQueries({ roomId: deps.roomId, repo: this.repo, lessons: deps.lessons, roster: deps.roster });
    this.log = deps.logger.child({ ns: 'edge:attendance' });
  }

  /** Subscribes to the lesson clock, resumes the current lesson, closes lessons that ended while stopped. */
  async start(): Promise<void> {
    const { lessons } = this.deps;
    lessons.on('start', this.onStart);
    lessons.on('end', this.onEnd);
    lessons.on('update', this.onUpdate);
    const current = lessons.current();
    if (current) await this.openLesson(current);
    await this.tick();
    this.timer = setInterval(() => this.background('tick', this.tick()), this.deps.tickMs ?? 15_000);
    this.timer.unref?.();
  }

  stop(): void {
    const { lessons } = this.deps;
    lessons.off('start', this.onStart);
    lessons.off('end', this.onEnd);
    lessons.off('update', this.onUpdate);
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  summary(lessonId: string): AttendanceSummary | undefined {
    return this.queries.summary(lessonId);
  }

  counts(lessonId: string): AttendanceCounts | undefined {
    return this.queries.counts(lessonId);
  }

  /** When the lesson's attendance window opens (startsAt − openBeforeMinutes). */
  windowOpensAt(lesson: Pick<LessonOccurrence, 'startsAt'>): number {
    return lesson.startsAt - this.deps.config.openBeforeMinutes * MINUTE;
  }

  /** Student ids expected in a lesson (used by behaviour for answer and participation rates). */
  expectedStudents(lessonId: string): string[] | undefined {
    return this.queries.expected(lessonId);
  }

  /** Opens the lesson's attendance (idempotent): snapshot of the class's students. */
  async openLesson(lesson: LessonOccurrence): Promise<SessionInfo> {
    const roster = this.deps.roster();
    const expected = roster.studentsOf(lesson.classId).map((s) => s.studentId);
    const now = this.deps.clock.now();
    const { session, created } = await this.deps.store.write((tx) => {
      const r = this.repo.ensureSession(tx, lesson, expected, roster.version, now);
      // Opened earlier by a tap in the window, and since started early or extended: keep the clock's times.
      if (!r.created && (r.session.startsAt !== lesson.startsAt || r.session.endsAt !== lesson.endsAt)) {
        this.repo.updateTimes(lesson.lessonId, lesson.startsAt, lesson.endsAt);
      }
      return r;
    });
    if (created) this.log.info({ lessonId: lesson.lessonId, classId: lesson.classId, expected: expected.length }, 'attendance opened');
    return session;
  }

  /**
   * One committed card tap. Never throws on bad input or unknown cards (the
   * result says what happened and why); rejects only when the store fails.
   */
  /**
   * The lesson a card tap at `ts` counts for: the one whose attendance window
   * (opening `openBeforeMinutes` early) holds it, the running one first.
   * Stored with the tap, so a tap before the bell is tied to its lesson.
   */
  lessonIdForTap(ts: number): string | undefined {
    return chooseWindows(
      knownLessons(this.deps.lessons),
      ts,
      this.deps.config.openBeforeMinutes * MINUTE,
      (id) => (this.repo.session(id)?.closedAt ?? null) !== null,
    ).open[0]?.lessonId;
  }

  async handleTap(input: unknown): Promise<TapResult> {
    const parsed = tapInputSchema.safeParse(input);
    if (!parsed.success) {
      const reason = parsed.error.issues.map((i) => `${i.path.join('.') || 'tap'}: ${i.message}`).join('; ');
      this.log.warn({ reason }, 'card tap rejected');
      return { kind: 'rejected', reason };
    }
    const tap = parsed.data;
    const roster = this.deps.roster();
    const who = roster.byCard(tap.uid);
    const choice = chooseWindows(
      knownLessons(this.deps.lessons),
      tap.ts,
      this.deps.config.openBeforeMinutes * MINUTE,
      (id) => (this.repo.session(id)?.closedAt ?? null) !== null,
      this.deps.timeZone,
    );
    const now = this.deps.clock.now();
    const expectedOf = (l: LessonOccurrence): string[] => roster.studentsOf(l.classId).map((s) => s.studentId);

    if (!who) {
      const lesson = choice.open[0] ?? null;
      await this.deps.store.write((tx) => {
        if (lesson) this.repo.ensureSession(tx, lesson, expectedOf(lesson), roster.version, now);
        this.repo.insertUnknownTap(tx, { lessonId: lesson?.lessonId ?? null, reader: tap.reader, uid: tap.uid, ts: tap.ts });
      });
      this.log.warn({ uid: tap.uid, reader: tap.reader, lessonId: lesson?.lessonId ?? null }, 'unknown card');
      await this.alert({
        severity: 'warning',
        code: 'unknown-card',
        message: `unknown card ${tap.uid} on reader ${tap.reader}${lesson ? ` during ${lesson.course} (${lesson.lessonId})` : ''}`,
        data: { uid: tap.uid, reader: tap.reader, lessonId: lesson?.lessonId ?? null },
      });
      return { kind: 'unknown-card', uid: tap.uid, lessonId: lesson?.lessonId ?? null };
    }

    if (who.type === 'teacher') {
      const { teacher } = who;
      const lesson = choice.open.find((l) => l.teacherId === teacher.teacherId) ?? choice.open[0] ?? null;
      const checkIn = await this.deps.store.write((tx) => {
        if (!lesson) {
          this.repo.insertTeacherCheckIn(tx, { lessonId: null, teacherId: teacher.teacherId, reader: tap.reader, ts: tap.ts });
          return false;
        }
        this.repo.ensureSession(tx, lesson, expectedOf(lesson), roster.version, now);
        if (this.repo.hasCheckIn(lesson.lessonId, teacher.teacherId)) return false;
        this.repo.insertTeacherCheckIn(tx, { lessonId: lesson.lessonId, teacherId: teacher.teacherId, reader: tap.reader, ts: tap.ts });
        return true;
      });
      this.log.info({ teacherId: teacher.teacherId, lessonId: lesson?.lessonId ?? null, checkIn }, 'teacher card: unlock');
      return { kind: 'unlock', teacherId: teacher.teacherId, name: teacher.name, lessonId: lesson?.lessonId ?? null, checkIn };
    }

    const { student } = who;
    if (choice.open.length === 0) {
      this.log.info({ studentId: student.studentId, reason: choice.reason }, 'tap outside any attendance window');
      return {
        kind: 'outside-window',
        studentId: student.studentId,
        reason: choice.reason ?? 'no-lesson',
        message: choice.message ?? 'no lesson is open for attendance',
        ...(choice.lessonId ? { lessonId: choice.lessonId } : {}),
        ...(choice.opensAt !== undefined ? { opensAt: choice.opensAt } : {}),
      };
    }
    const graceMs = this.deps.config.graceMinutes * MINUTE;
    const result = await this.deps.store.write((tx): TapResult => {
      for (const lesson of choice.open) {
        const { session } = this.repo.ensureSession(tx, lesson, expectedOf(lesson), roster.version, now);
        if (!session.expected.includes(student.studentId)) {
          // The roster gained this student of the class after the window opened.
          if (student.classId !== session.classId) continue;
          this.repo.addExpected(lesson.lessonId, [...session.expected, student.studentId]);
        }
        const existing = this.repo.mark(lesson.lessonId, student.studentId);
        if (existing) return { kind: 'duplicate', lessonId: lesson.lessonId, studentId: student.studentId, status: existing.status };
        const status = tap.ts <= lesson.startsAt + graceMs ? 'present' : 'late';
        const { seq } = this.repo.insertMark(tx, {
          lessonId: lesson.lessonId,
          studentId: student.studentId,
          status,
          source: 'card',
          reader: tap.reader,
          tapTs: tap.ts,
          ts: tap.ts,
        });
        return { kind: 'marked', lessonId: lesson.lessonId, studentId: student.studentId, status, seq };
      }
      const first = choice.open[0]!;
      return {
        kind: 'not-expected',
        lessonId: first.lessonId,
        studentId: student.studentId,
        classId: student.classId,
        message: `${student.studentId} (class ${student.classId}) is not on the roster of ${first.course} (${first.lessonId}, class ${first.classId})`,
      };
    });
    if (result.kind === 'marked') {
      this.log.info({ lessonId: result.lessonId, studentId: result.studentId, status: result.status }, 'attendance marked');
      await this.publishMark({ lessonId: result.lessonId, studentId: result.studentId, status: result.status, source: 'card', ts: tap.ts });
    } else {
      this.log.info({ ...result }, 'card tap changed no attendance');
    }
    return result;
  }

  /** Closes a lesson (idempotent): the unmarked become absent or leave; returns how many were marked. */
  async closeLesson(lesson: LessonOccurrence, reason: LessonEndReason | 'recovered'): Promise<number> {
    const roster = this.deps.roster();
    const now = this.deps.clock.now();
    const expected = roster.studentsOf(lesson.classId).map((s) => s.studentId);
    const marks = await this.deps.store.write((tx) => {
      const { session } = this.repo.ensureSession(tx, lesson, expected, roster.version, now);
      if (session.closedAt !== null) return null;
      const written: PublishedMark[] = [];
      for (const studentId of session.expected) {
        if (this.repo.mark(lesson.lessonId, studentId)) continue;
        const status = roster.leaveFor(studentId, session.date, session.period) ? 'leave' : 'absent';
        this.repo.insertMark(tx, { lessonId: lesson.lessonId, studentId, status, source: 'auto', ts: now });
        written.push({ lessonId: lesson.lessonId, studentId, status, source: 'auto', ts: now });
      }
      const counts = this.countsIn(session);
      this.repo.closeSession(tx, lesson.lessonId, now, { reason, ...counts });
      return { written, counts };
    });
    if (!marks) return 0;
    this.log.info({ lessonId: lesson.lessonId, reason, ...marks.counts }, 'attendance closed');
    this.deps.onClosed?.(lesson.lessonId);
    for (const m of marks.written) await this.publishMark(m);
    return marks.written.length;
  }

  /**
   * A teacher's (or technician's) correction, during or after the lesson:
   * the mark, a correction row with its event and an audit row with its
   * event are written in ONE transaction. Idempotent by commandId.
   */
  async correct(lessonId: string, studentId: string, status: AttendanceStatus, actor: Actor, opts: { commandId?: string } = {}): Promise<CorrectionResult> {
    if (!attendanceStatusSchema.safeParse(status).success) {
      throw new AttendanceError('invalid-input', `correction of ${studentId} in ${lessonId}: unknown status ${JSON.stringify(status)}`);
    }
    const lesson = this.queries.lesson(lessonId);
    if (!lesson) throw new AttendanceError('unknown-lesson', `correction of ${studentId}: no lesson ${lessonId}`);
    const now = this.deps.clock.now();
    const roster = this.deps.roster();
    if (!this.repo.session(lessonId) && now < lesson.startsAt - this.deps.config.openBeforeMinutes * MINUTE) {
      throw new AttendanceError('not-open', `correction of ${studentId}: attendance of ${lessonId} has not opened yet`);
    }
    const { commandId } = opts;
    const outcome = await this.deps.store.write((tx): CorrectionResult | AttendanceError => {
      const dup = commandId === undefined ? undefined : this.repo.correctionByCommand(commandId);
      if (dup) return { kind: 'duplicate', ...dup };
      const { session } = this.repo.ensureSession(tx, lesson, roster.studentsOf(lesson.classId).map((s) => s.studentId), roster.version, now);
      const old = this.repo.mark(lessonId, studentId);
      if (!session.expected.includes(studentId)) {
        if (!old && !roster.student(studentId)) {
          return new AttendanceError('unknown-student', `correction in ${lessonId}: no student ${studentId} in the roster or the lesson`);
        }
        this.repo.addExpected(lessonId, [...session.expected, studentId]);
      }
      if (old?.status === status) return { kind: 'unchanged', lessonId, studentId, status };
      const { seq } = this.repo.insertCorrection(tx, { lessonId, studentId, old, status, actor: actor.username, role: actor.role, commandId, ts: now });
      this.audit.audit(tx.appendEvent, {
        actor: actor.username,
        role: actor.role,
        action: 'attendance.correct',
        target: `${lessonId}#${studentId}`,
        args: { lessonId, studentId, old: old?.status ?? null, status, commandId: commandId ?? null },
        result: 'ok',
        ts: now,
        lessonId,
      });
      return { kind: 'corrected', lessonId, studentId, old: old?.status ?? null, status, seq };
    });
    if (outcome instanceof AttendanceError) throw outcome;
    if (outcome.kind === 'corrected') {
      this.log.info({ lessonId, studentId, old: outcome.old, status, actor: actor.username }, 'attendance corrected');
      await this.publishMark({ lessonId, studentId, status, source: 'teacher', ts: now });
    }
    return outcome;
  }

  /** Periodic check of open lessons: closes those whose end was missed, alerts once when no teacher checked in. */
  tick(): Promise<void> {
    this.ticking ??= this.runTick().finally(() => {
      this.ticking = null;
    });
    return this.ticking;
  }

  private async runTick(): Promise<void> {
    const now = this.deps.clock.now();
    const currentId = this.deps.lessons.current()?.lessonId;
    const missingMs = this.deps.config.teacherMissingMinutes * MINUTE;
    for (const s of this.repo.openSessions()) {
      const lesson = this.deps.lessons.find(s.lessonId) ?? sessionToLesson(s, this.deps.roomId);
      if (s.lessonId !== currentId && now > lesson.endsAt + MISSED_END_GRACE_MS) {
        await this.closeLesson(lesson, 'recovered');
        continue;
      }
      if (s.teacherAlertedAt !== null || now < lesson.startsAt + missingMs || now > lesson.endsAt) continue;
      const alerted = await this.deps.store.write((tx) => {
        const fresh = this.repo.session(s.lessonId);
        if (!fresh || fresh.teacherAlertedAt !== null || fresh.closedAt !== null || this.repo.teacherCheckIn(s.lessonId)) return false;
        this.repo.markTeacherAlerted(tx, s.lessonId, now);
        return true;
      });
      if (!alerted) continue;
      const minutes = this.deps.config.teacherMissingMinutes;
      this.log.warn({ lessonId: s.lessonId, teacherId: lesson.teacherId }, 'no teacher check-in');
      await this.alert({
        severity: 'warning',
        code: 'teacher-missing',
        message: `no teacher has checked in ${minutes} minutes into ${lesson.course} (${lesson.lessonId})`,
        data: { lessonId: lesson.lessonId, teacherId: lesson.teacherId, minutes },
      });
    }
  }

  private countsIn(session: SessionInfo): AttendanceCounts {
    return this.queries.counts(session.lessonId) ?? { expected: 0, present: 0, late: 0, absent: 0, leave: 0, unmarked: 0, unknownTaps: 0 };
  }

  private async publishMark(m: PublishedMark): Promise<void> {
    const msg = attendanceSchema.safeParse(m);
    if (!msg.success) {
      // Stored already; an unsynchronised clock (1970) cannot be published in the bus schema.
      this.log.warn({ mark: m, reason: msg.error.issues[0]?.message }, 'attendance mark stored but not published');
      return;
    }
    await this.deps.publish(this.deps.topics.attendance, msg.data).catch((err: unknown) => {
      this.log.error({ err, lessonId: m.lessonId, studentId: m.studentId }, 'attendance mark stored but publishing failed');
    });
  }

  private async alert(a: Omit<AlertMessage, 'id' | 'ts'>): Promise<void> {
    await this.deps.raiseAlert(a).catch((err: unknown) => this.log.error({ err, code: a.code }, 'could not raise an alert'));
  }

  private background(what: string, p: Promise<unknown>): void {
    p.catch((err: unknown) => this.log.error({ err }, `attendance: ${what} failed`));
  }
}
