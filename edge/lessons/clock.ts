/**
 * The lesson clock: which lesson is on now, driven by the injected Clock.
 *
 * It re-evaluates on a timer set to the next boundary (a start or an end)
 * and at least every `tickMs` (default 5 s), because the wall clock may jump
 * (NTP correction) while timers run on monotonic time. Rules:
 * - `start` and `end` are emitted once per lesson id, even across a restart:
 *   each is persisted (lessons table + event log, one transaction) before it
 *   is emitted; a restart resumes a started lesson silently and ends it if
 *   its end passed while the service was down;
 * - a started lesson is never restarted: a backward jump keeps it running,
 *   a forward jump past its end ends it once (reason 'scheduled');
 * - a lesson whose whole window was jumped over never starts;
 * - when a lesson starts while another runs (an extension or an ad-hoc
 *   session reaching into the next period, a lesson started early), the
 *   earlier one ends with reason 'superseded';
 * - a new timetable applies to lessons that have not started.
 */
import { EventEmitter } from 'node:events';
import { z } from 'zod';
import { Mutex } from '../../drivers/util/mutex.js';
import { idSchema } from '../schemas/bus.js';
import type { Store } from '../store/index.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { adHocLessonId, parseLessonId, scheduledLessons } from './calendar.js';
import type { Datasets } from './datasets.js';
import { DEFAULT_ZONE, localDate } from './dates.js';
import { LessonRows, occurrenceOf, type LessonRow } from './lesson-rows.js';
import type { LessonClockApi, LessonClockEvents, LessonEndReason, LessonOccurrence } from './types.js';

export const DEFAULT_TICK_MS = 5000;

export interface LessonClockOptions {
  roomId: string;
  /** IANA zone of the room (config room.timezone). */
  zone?: string;
  clock: Clock;
  store: Store;
  datasets: Pick<Datasets, 'active' | 'onChange'>;
  logger: Logger;
  /** Longest wait between two evaluations (default 5000 ms). */
  tickMs?: number;
}

export type LessonOverrideCode = 'no-lesson' | 'not-next' | 'invalid' | 'stopped';

/** A manual override that cannot be done; the message says why. */
export class LessonOverrideError extends Error {
  override readonly name = 'LessonOverrideError';
  constructor(
    readonly code: LessonOverrideCode,
    message: string,
  ) {
    super(message);
  }
}

export const adHocInput = z
  .object({
    course: z.string().trim().min(1).max(64),
    classId: idSchema,
    minutes: z.number().int().min(1).max(240),
    teacherId: idSchema.optional(),
  })
  .strict();
export type AdHocInput = z.input<typeof adHocInput>;

export class LessonClock extends EventEmitter<LessonClockEvents> implements LessonClockApi {
  private readonly zone: string;
  private readonly tickMs: number;
  private readonly rows: LessonRows;
  private readonly log: Logger;
  /** Lessons started by this process or loaded at start (the source of truth for "started"). */
  private readonly started = new Map<string, LessonRow>();
  private readonly loadedDates = new Set<string>();
  private readonly scheduleCache = new Map<string, LessonOccurrence[]>();
  private prunedFor = '';
  private currentId: string | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running = false;
  /** Persist-then-emit work, in order. */
  private readonly writes = new Mutex();
  private pending: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly opts: LessonClockOptions) {
    super();
    this.zone = opts.zone ?? DEFAULT_ZONE;
    this.tickMs = opts.tickMs ?? DEFAULT_TICK_MS;
    this.rows = new LessonRows(opts.store, opts.roomId);
    this.log = opts.logger.child({ ns: 'edge:lessons' });
  }

  /** Resumes a lesson in progress (no second start), ends those that ended while down, then runs. */
  start(): void {
    if (this.running) return;
    this.running = true;
    const open = this.rows.startedNotEnded();
    const latest = open.at(-1);
    for (const r of open) {
      this.started.set(r.lessonId, r);
      if (r !== latest) this.finish(r, r.endsAt <= this.opts.clock.now() ? 'scheduled' : 'superseded');
    }
    if (latest) {
      this.currentId = latest.lessonId;
      this.log.info({ lessonId: latest.lessonId }, 'resuming the lesson in progress');
    }
    this.unsubscribe = this.opts.datasets.onChange((kind) => {
      if (kind === 'timetable') this.evaluate();
    });
    this.evaluate();
  }

  /** Stops the timer and waits for pending writes. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.idle();
  }

  /** Resolves when every start/end/update so far is committed and emitted. */
  async idle(): Promise<void> {
    let seen: Promise<void>;
    do {
      seen = this.pending;
      await seen;
    } while (seen !== this.pending);
  }

  today(): string {
    return localDate(this.opts.clock.now(), this.zone);
  }

  current(): LessonOccurrence | null {
    const r = this.currentId ? this.started.get(this.currentId) : undefined;
    return r ? occurrenceOf(r) : null;
  }

  next(): LessonOccurrence | null {
    const now = this.opts.clock.now();
    const cur = this.current();
    const found = this.effectiveOn(this.today()).find(
      (l) => !this.isStarted(l.lessonId) && l.startsAt > now && (!cur || l.startsAt >= cur.startsAt),
    );
    return found ? occurrenceOf(found) : null;
  }

  lessonsOn(date: string): LessonOccurrence[] {
    return this.effectiveOn(date).map(occurrenceOf);
  }

  find(lessonId: string): LessonOccurrence | undefined {
    const mem = this.started.get(lessonId) ?? this.rows.get(lessonId);
    if (mem) return occurrenceOf(mem);
    const parsed = parseLessonId(lessonId);
    if (!parsed || parsed.roomId !== this.opts.roomId) return undefined;
    return this.lessonsOn(parsed.date).find((l) => l.lessonId === lessonId);
  }

  /** The next lesson (see next()) starts now; the current one, if any, ends as superseded. */
  async startEarly(lessonId: string): Promise<LessonOccurrence> {
    this.assertRunning();
    const next = this.next();
    if (!next || next.lessonId !== lessonId) {
      throw new LessonOverrideError('not-next', `cannot start ${lessonId} early: the next lesson is ${next ? next.lessonId : 'none'}`);
    }
    const now = this.opts.clock.now();
    const cur = this.currentRow();
    if (cur) this.finish(cur, 'superseded', now);
    const started = this.begin({ ...next, startsAt: now });
    this.schedule();
    await this.idle();
    return occurrenceOf(started);
  }

  /** The current lesson ends `minutes` later. */
  async extend(minutes: number): Promise<LessonOccurrence> {
    this.assertRunning();
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 120) {
      throw new LessonOverrideError('invalid', `extend: minutes must be an integer 1..120, got ${String(minutes)}`);
    }
    const cur = this.currentRow();
    if (!cur) throw new LessonOverrideError('no-lesson', 'extend: no lesson in progress');
    cur.endsAt += minutes * 60_000;
    const snapshot = { ...cur };
    const ts = this.opts.clock.now();
    this.enqueue(
      () => this.rows.recordUpdate(snapshot, ts),
      () => this.emit('update', occurrenceOf(snapshot)),
    );
    this.log.info({ lessonId: cur.lessonId, minutes, endsAt: cur.endsAt }, 'lesson extended');
    this.schedule();
    await this.idle();
    return occurrenceOf(snapshot);
  }

  /** An unscheduled session starts now; the current lesson, if any, ends as superseded. */
  async startAdHoc(input: AdHocInput): Promise<LessonOccurrence> {
    this.assertRunning();
    const parsed = adHocInput.safeParse(input);
    if (!parsed.success) {
      throw new LessonOverrideError('invalid', `ad-hoc session: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ')}`);
    }
    const v = parsed.data;
    const now = this.opts.clock.now();
    const date = this.today();
    const inMemory = [...this.started.values()].filter((r) => r.adHoc && r.date === date).map((r) => parseLessonId(r.lessonId)?.adHoc ?? 0);
    const n = Math.max(this.rows.maxAdHoc(date), ...inMemory, 0) + 1;
    const cur = this.currentRow();
    if (cur) this.finish(cur, 'superseded', now);
    const started = this.begin({
      lessonId: adHocLessonId(this.opts.roomId, date, n),
      roomId: this.opts.roomId,
      date,
      period: null,
      course: v.course,
      classId: v.classId,
      teacherId: v.teacherId ?? null,
      startsAt: now,
      endsAt: now + v.minutes * 60_000,
      adHoc: true,
    });
    this.schedule();
    await this.idle();
    return occurrenceOf(started);
  }

  /** The current lesson ends now (reason 'manual'). */
  async endNow(): Promise<LessonOccurrence> {
    this.assertRunning();
    const cur = this.currentRow();
    if (!cur) throw new LessonOverrideError('no-lesson', 'end: no lesson in progress');
    const ended = this.finish(cur, 'manual', this.opts.clock.now());
    this.schedule();
    await this.idle();
    return occurrenceOf(ended);
  }

  // --- evaluation ---

  private assertRunning(): void {
    if (!this.running) throw new LessonOverrideError('stopped', 'the lesson clock is not running');
  }

  private currentRow(): LessonRow | undefined {
    return this.currentId ? this.started.get(this.currentId) : undefined;
  }

  private isStarted(lessonId: string): boolean {
    const date = parseLessonId(lessonId)?.date;
    if (date) this.loadDate(date);
    return this.started.has(lessonId);
  }

  /** Rows are written only by this clock: once a date's rows are loaded, memory is the source of truth. */
  private loadDate(date: string): void {
    if (this.loadedDates.has(date)) return;
    for (const r of this.rows.onDate(date)) if (!this.started.has(r.lessonId)) this.started.set(r.lessonId, r);
    this.loadedDates.add(date);
  }

  private scheduled(date: string): LessonOccurrence[] {
    const timetable = this.opts.datasets.active('timetable');
    if (!timetable) return [];
    const key = `${date}|${timetable.version}`;
    let lessons = this.scheduleCache.get(key);
    if (!lessons) {
      if (this.scheduleCache.size > 16) this.scheduleCache.clear();
      lessons = scheduledLessons(timetable.doc, date, { roomId: this.opts.roomId, zone: this.zone });
      this.scheduleCache.set(key, lessons);
    }
    return lessons;
  }

  /** Scheduled lessons of a date merged with what was recorded (overrides, ad-hoc sessions), in time order. */
  private effectiveOn(date: string): LessonOccurrence[] {
    this.loadDate(date);
    const byId = new Map<string, LessonOccurrence>();
    for (const l of this.scheduled(date)) byId.set(l.lessonId, l);
    for (const r of this.started.values()) if (r.date === date) byId.set(r.lessonId, r);
    return [...byId.values()].sort((a, b) => a.startsAt - b.startsAt);
  }

  /** Forgets ended lessons of earlier days (they stay in the table: find() and lessonsOn() read it). */
  private prune(today: string): void {
    if (today === this.prunedFor) return;
    this.prunedFor = today;
    for (const [id, r] of this.started) if (r.date < today && r.endedAt !== null) this.started.delete(id);
    for (const d of this.loadedDates) if (d < today) this.loadedDates.delete(d);
  }

  private evaluate(): void {
    if (!this.running) return;
    const now = this.opts.clock.now();
    try {
      this.prune(localDate(now, this.zone));
      let cur = this.currentRow();
      if (cur && now >= cur.endsAt) {
        this.finish(cur, 'scheduled');
        cur = undefined;
      }
      const due = this.effectiveOn(localDate(now, this.zone)).find(
        (l) => !l.adHoc && l.startsAt <= now && now < l.endsAt && !this.isStarted(l.lessonId),
      );
      if (due && (!cur || due.startsAt > cur.startsAt)) {
        if (cur) this.finish(cur, 'superseded', now);
        this.begin(due);
      }
    } catch (err) {
      this.log.error({ err }, 'lesson clock evaluation failed');
    }
    this.schedule();
  }

  /** Next evaluation at the next boundary, but never later than tickMs from now. */
  private schedule(): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    const now = this.opts.clock.now();
    let boundary = Number.POSITIVE_INFINITY;
    const cur = this.currentRow();
    if (cur) boundary = cur.endsAt;
    const next = this.effectiveOn(localDate(now, this.zone)).find((l) => !this.isStarted(l.lessonId) && l.startsAt > now);
    if (next) boundary = Math.min(boundary, next.startsAt);
    const delay = Math.max(1, Math.min(this.tickMs, boundary - now));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.evaluate();
    }, delay);
    this.timer.unref?.();
  }

  private begin(lesson: LessonOccurrence): LessonRow {
    const now = this.opts.clock.now();
    const row: LessonRow = {
      ...occurrenceOf(lesson),
      timetableVersion: lesson.adHoc ? null : (this.opts.datasets.active('timetable')?.version ?? null),
      startedAt: now,
      endedAt: null,
      endReason: null,
    };
    this.started.set(row.lessonId, row);
    this.currentId = row.lessonId;
    const snapshot = { ...row };
    this.log.info({ lessonId: row.lessonId, course: row.course, classId: row.classId }, 'lesson start');
    this.enqueue(
      () => this.rows.recordStart(snapshot, now),
      () => this.emit('start', occurrenceOf(snapshot)),
    );
    return row;
  }

  /** Ends a started lesson once. `at`: when it ended early (manual, superseded); its endsAt becomes that time. */
  private finish(row: LessonRow, reason: LessonEndReason, at?: number): LessonRow {
    const now = this.opts.clock.now();
    if (row.endedAt !== null) return row;
    if (at !== undefined && at < row.endsAt) row.endsAt = Math.max(at, row.startsAt);
    row.endedAt = now;
    row.endReason = reason;
    if (this.currentId === row.lessonId) this.currentId = null;
    const snapshot = { ...row };
    this.log.info({ lessonId: row.lessonId, reason }, 'lesson end');
    this.enqueue(
      () => this.rows.recordEnd(snapshot, now),
      () => this.emit('end', occurrenceOf(snapshot), reason),
    );
    return row;
  }

  /** Persist, then emit (even if persisting failed: the room keeps running; the failure is logged). */
  private enqueue(persist: () => Promise<void>, announce: () => void): void {
    this.pending = this.writes.runExclusive(async () => {
      try {
        await persist();
      } catch (err) {
        this.log.error({ err }, 'lesson change could not be stored');
      }
      try {
        announce();
      } catch (err) {
        this.log.error({ err }, 'lesson listener failed');
      }
    });
  }
}
