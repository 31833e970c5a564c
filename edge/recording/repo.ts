/**
 * The `recordings` table (store migration 10), owned here: one row per
 * recording of a lesson by a source. Rows in `recording` or `finishing` at
 * start-up belong to a lesson the service did not finish (crash, power cut).
 */
import type Database from 'better-sqlite3';
import type { RecordingLessonInfo } from './types.js';

export type RecordingRowState = 'recording' | 'finishing' | 'finished' | 'failed';

export interface RecordingRow {
  id: number;
  lessonId: string;
  source: string;
  part: number;
  state: RecordingRowState;
  /** The segments' directory. */
  dir: string;
  /** Where the finished MP4 and sidecar go. */
  outDir: string;
  lesson: RecordingLessonInfo;
  startedBy: string;
  startedAt: number;
  stoppedAt: number | null;
  file: string | null;
  bytes: number | null;
  sha256: string | null;
  durationMs: number | null;
  gaps: number | null;
  error: string | null;
  uploadedAt: number | null;
  deletedAt: number | null;
}

interface Raw {
  id: number;
  lesson_id: string;
  source: string;
  part: number;
  state: RecordingRowState;
  dir: string;
  out_dir: string;
  lesson: string;
  started_by: string;
  started_at: number;
  stopped_at: number | null;
  file: string | null;
  bytes: number | null;
  sha256: string | null;
  duration_ms: number | null;
  gaps: number | null;
  error: string | null;
  uploaded_at: number | null;
  deleted_at: number | null;
}

const toRow = (r: Raw): RecordingRow => ({
  id: r.id,
  lessonId: r.lesson_id,
  source: r.source,
  part: r.part,
  state: r.state,
  dir: r.dir,
  outDir: r.out_dir,
  lesson: JSON.parse(r.lesson) as RecordingLessonInfo,
  startedBy: r.started_by,
  startedAt: r.started_at,
  stoppedAt: r.stopped_at,
  file: r.file,
  bytes: r.bytes,
  sha256: r.sha256,
  durationMs: r.duration_ms,
  gaps: r.gaps,
  error: r.error,
  uploadedAt: r.uploaded_at,
  deletedAt: r.deleted_at,
});

/** What the repository needs of the store: reads on its connection, writes through its queue. */
export interface RecordingsStore {
  readonly db: Database.Database;
  write<T>(fn: (tx: { db: Database.Database }) => T): Promise<T>;
}

export class RecordingsRepo {
  constructor(private readonly store: RecordingsStore) {}

  /** A new part of (lesson, source): the next part number after any earlier recording of it. */
  async create(r: { lessonId: string; source: string; dir: (part: number) => string; outDir: (part: number) => string; lesson: RecordingLessonInfo; startedBy: string; startedAt: number }): Promise<RecordingRow> {
    return this.store.write((tx) => {
      const last = tx.db.prepare<[string, string], { part: number }>('SELECT max(part) AS part FROM recordings WHERE lesson_id = ? AND source = ?').get(r.lessonId, r.source);
      const part = last?.part === null || last?.part === undefined ? 0 : last.part + 1;
      const raw = tx.db
        .prepare<unknown[], Raw>(
          `INSERT INTO recordings (lesson_id, source, part, state, dir, out_dir, lesson, started_by, started_at)
           VALUES (?, ?, ?, 'recording', ?, ?, ?, ?, ?) RETURNING *`,
        )
        .get(r.lessonId, r.source, part, r.dir(part), r.outDir(part), JSON.stringify(r.lesson), r.startedBy, r.startedAt);
      return toRow(raw!);
    });
  }

  get(id: number): RecordingRow | undefined {
    const raw = this.store.db.prepare<[number], Raw>('SELECT * FROM recordings WHERE id = ?').get(id);
    return raw ? toRow(raw) : undefined;
  }

  /** Recordings a previous run left unfinished (oldest first). */
  unfinished(): RecordingRow[] {
    return this.store.db.prepare<[], Raw>("SELECT * FROM recordings WHERE state IN ('recording', 'finishing') ORDER BY id").all().map(toRow);
  }

  /** The lesson's facts as they ended (a lesson ended early or extended has other times than at its start). */
  async updateLesson(id: number, lesson: RecordingLessonInfo): Promise<void> {
    await this.store.write((tx) => tx.db.prepare('UPDATE recordings SET lesson = ? WHERE id = ?').run(JSON.stringify(lesson), id));
  }

  async markFinishing(id: number, stoppedAt: number): Promise<void> {
    await this.store.write((tx) => tx.db.prepare("UPDATE recordings SET state = 'finishing', stopped_at = coalesce(stopped_at, ?) WHERE id = ?").run(stoppedAt, id));
  }

  async markFinished(id: number, f: { file: string; bytes: number; sha256: string; durationMs: number; gaps: number }): Promise<void> {
    await this.store.write((tx) =>
      tx.db
        .prepare("UPDATE recordings SET state = 'finished', file = ?, bytes = ?, sha256 = ?, duration_ms = ?, gaps = ?, error = NULL WHERE id = ?")
        .run(f.file, f.bytes, f.sha256, f.durationMs, f.gaps, id),
    );
  }

  async markFailed(id: number, error: string): Promise<void> {
    await this.store.write((tx) => tx.db.prepare("UPDATE recordings SET state = 'failed', error = ? WHERE id = ?").run(error.slice(0, 1000), id));
  }

  async markUploaded(id: number, at: number): Promise<void> {
    await this.store.write((tx) => tx.db.prepare('UPDATE recordings SET uploaded_at = coalesce(uploaded_at, ?) WHERE id = ?').run(at, id));
  }

  async markDeleted(id: number, at: number): Promise<void> {
    await this.store.write((tx) => tx.db.prepare('UPDATE recordings SET deleted_at = ? WHERE id = ?').run(at, id));
  }

  /** Finished, uploaded recordings still on disk, oldest upload first: what the quota and retention may delete. */
  deletable(): RecordingRow[] {
    return this.store.db
      .prepare<[], Raw>("SELECT * FROM recordings WHERE state = 'finished' AND uploaded_at IS NOT NULL AND deleted_at IS NULL ORDER BY uploaded_at, id")
      .all()
      .map(toRow);
  }

  /** Finished recordings not yet uploaded (never deleted by the quota). */
  notUploaded(): RecordingRow[] {
    return this.store.db.prepare<[], Raw>("SELECT * FROM recordings WHERE state = 'finished' AND uploaded_at IS NULL ORDER BY id").all().map(toRow);
  }

  /** The recording whose finished file is `file` (an upload's path), if any. */
  byFile(file: string): RecordingRow | undefined {
    const raw = this.store.db.prepare<[string], Raw>('SELECT * FROM recordings WHERE file = ?').get(file);
    return raw ? toRow(raw) : undefined;
  }

  /** Every source that recorded `lessonId` (the sidecar's list of the lesson's files), sorted. */
  sourcesOf(lessonId: string): string[] {
    return this.store.db.prepare<[string], { source: string }>('SELECT DISTINCT source FROM recordings WHERE lesson_id = ? ORDER BY source').all(lessonId).map((r) => r.source);
  }
}
