/**
 * The `lessons` table (migration v2): every lesson occurrence that started,
 * with its effective times (after manual overrides), started_at, ended_at and
 * the end reason. Each change is written through store.write together with
 * its event-log row (stream 'lesson', types 'start' / 'update' / 'end'), so
 * start and end happen once per lesson id, even across a restart.
 */
import type Database from 'better-sqlite3';
import type { Store } from '../store/index.js';
import type { LessonEndReason, LessonOccurrence } from './types.js';

export interface LessonRow extends LessonOccurrence {
  timetableVersion: number | null;
  startedAt: number | null;
  endedAt: number | null;
  endReason: LessonEndReason | null;
}

interface Raw {
  lesson_id: string;
  date: string;
  period: number | null;
  course: string;
  class_id: string;
  teacher_id: string | null;
  starts_at: number;
  ends_at: number;
  ad_hoc: number;
  timetable_version: number | null;
  started_at: number | null;
  ended_at: number | null;
  end_reason: string | null;
}

function endReason(v: string | null): LessonEndReason | null {
  return v === 'scheduled' || v === 'manual' || v === 'superseded' ? v : null;
}

function fromRaw(roomId: string, r: Raw): LessonRow {
  return {
    lessonId: r.lesson_id,
    roomId,
    date: r.date,
    period: r.period,
    course: r.course,
    classId: r.class_id,
    teacherId: r.teacher_id,
    startsAt: r.starts_at,
    endsAt: r.ends_at,
    adHoc: r.ad_hoc === 1,
    timetableVersion: r.timetable_version,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    endReason: endReason(r.end_reason),
  };
}

/** The lesson as published (no bookkeeping fields). */
export function occurrenceOf(r: LessonOccurrence): LessonOccurrence {
  return {
    lessonId: r.lessonId,
    roomId: r.roomId,
    date: r.date,
    period: r.period,
    course: r.course,
    classId: r.classId,
    teacherId: r.teacherId,
    startsAt: r.startsAt,
    endsAt: r.endsAt,
    adHoc: r.adHoc,
  };
}

/** Event-log payload: ids and times only (no names). */
function payloadOf(r: LessonRow, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...occurrenceOf(r), timetableVersion: r.timetableVersion, ...extra };
}

export class LessonRows {
  private readonly byId: Database.Statement<[string], Raw>;
  private readonly byDate: Database.Statement<[string], Raw>;
  private readonly unended: Database.Statement<[], Raw>;
  private readonly maxAdHocStmt: Database.Statement<[string], { id: string }>;

  constructor(
    private readonly store: Store,
    private readonly roomId: string,
  ) {
    const db = store.db;
    this.byId = db.prepare('SELECT * FROM lessons WHERE lesson_id = ?');
    this.byDate = db.prepare('SELECT * FROM lessons WHERE date = ? ORDER BY starts_at');
    this.unended = db.prepare('SELECT * FROM lessons WHERE started_at IS NOT NULL AND ended_at IS NULL ORDER BY started_at');
    this.maxAdHocStmt = db.prepare('SELECT lesson_id AS id FROM lessons WHERE date = ? AND ad_hoc = 1');
  }

  get(lessonId: string): LessonRow | undefined {
    const r = this.byId.get(lessonId);
    return r ? fromRaw(this.roomId, r) : undefined;
  }

  onDate(date: string): LessonRow[] {
    return this.byDate.all(date).map((r) => fromRaw(this.roomId, r));
  }

  /** Lessons that started and never ended (a restart mid-lesson), oldest first. */
  startedNotEnded(): LessonRow[] {
    return this.unended.all().map((r) => fromRaw(this.roomId, r));
  }

  /** Highest ad-hoc session number stored for a date (0 when none). */
  maxAdHoc(date: string): number {
    return this.maxAdHocStmt.all(date).reduce((max, r) => Math.max(max, Number(/adhoc-(\d+)$/.exec(r.id)?.[1] ?? 0)), 0);
  }

  recordStart(r: LessonRow, ts: number): Promise<void> {
    return this.store.write((tx) => {
      tx.db
        .prepare(
          `INSERT INTO lessons (lesson_id, date, period, course, class_id, teacher_id, starts_at, ends_at, ad_hoc, timetable_version, started_at, ended_at, end_reason)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)
           ON CONFLICT (lesson_id) DO UPDATE SET starts_at = excluded.starts_at, ends_at = excluded.ends_at, started_at = excluded.started_at`,
        )
        .run(r.lessonId, r.date, r.period, r.course, r.classId, r.teacherId, r.startsAt, r.endsAt, r.adHoc ? 1 : 0, r.timetableVersion, r.startedAt);
      tx.appendEvent({ stream: 'lesson', type: 'start', entityId: r.lessonId, payload: payloadOf(r, { startedAt: r.startedAt }), ts });
    });
  }

  recordUpdate(r: LessonRow, ts: number): Promise<void> {
    return this.store.write((tx) => {
      tx.db.prepare('UPDATE lessons SET starts_at = ?, ends_at = ? WHERE lesson_id = ?').run(r.startsAt, r.endsAt, r.lessonId);
      tx.appendEvent({ stream: 'lesson', type: 'update', entityId: r.lessonId, payload: payloadOf(r), ts });
    });
  }

  recordEnd(r: LessonRow, ts: number): Promise<void> {
    return this.store.write((tx) => {
      tx.db
        .prepare('UPDATE lessons SET ends_at = ?, ended_at = ?, end_reason = ? WHERE lesson_id = ? AND ended_at IS NULL')
        .run(r.endsAt, r.endedAt, r.endReason, r.lessonId);
      tx.appendEvent({
        stream: 'lesson',
        type: 'end',
        entityId: r.lessonId,
        payload: payloadOf(r, { endedAt: r.endedAt, reason: r.endReason }),
        ts,
      });
    });
  }
}
