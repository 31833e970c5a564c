/**
 * Recordings registered with their lessons (docs/sync.md, "Recording
 * uploads"; cloud schema version 3, table `recordings`). The upload endpoint
 * (sync/cloud/recordings.ts) stores files and keeps the per-lesson index; this
 * turns a source's sidecar and MP4 into one row the technicians list and play:
 *
 * - `reconcile` runs under the lesson's index lock after any file of a source
 *   is stored (or found stored again), so the MP4 and the sidecar may arrive in
 *   either order: the sidecar makes the row (it names course, class, teacher
 *   and times), the MP4 whose sha256 the sidecar names fills `media_path`;
 *   until then the row shows "uploading". It is idempotent: a crash between
 *   storing a file and registering it is repaired when the edge sends the file
 *   again (the endpoint answers "already stored" and reconciles).
 * - `day` is the lesson's local date in the room's time zone; times are kept
 *   as epoch ms and shown in that zone (sync/cloud/recordings-page.ts).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DateTime } from 'luxon';
import { parseRecordingSidecar, type RecordingSidecarData } from '../recording-protocol.js';
import type { CloudDb } from './db.js';
import type { SegmentRecord } from './recordings.js';

export interface RecordingGapView {
  from: number;
  to: number;
  ms: number;
  reason: string;
}

export interface RecordingView {
  roomId: string;
  lessonId: string;
  source: string;
  /** The lesson's local date (YYYY-MM-DD) in the room's time zone. */
  day: string;
  course: string;
  classId: string;
  className: string | null;
  teacherId: string | null;
  teacherName: string | null;
  startsAt: number;
  endsAt: number;
  /** ready: both files stored; uploading: the sidecar is here, the MP4 not yet. */
  status: 'ready' | 'uploading';
  bytes: number;
  sha256: string;
  durationMs: number;
  gaps: RecordingGapView[];
  receivedAt: number;
}

interface Row {
  room_id: string;
  lesson_id: string;
  source: string;
  day: string;
  course: string;
  class_id: string;
  class_name: string | null;
  teacher_id: string | null;
  teacher_name: string | null;
  starts_at: number;
  ends_at: number;
  media_path: string | null;
  sidecar_path: string;
  bytes: number;
  sha256: string;
  duration_ms: number;
  gaps: string;
  received_at: number;
  media_at: number | null;
}

const toView = (r: Row): RecordingView => ({
  roomId: r.room_id,
  lessonId: r.lesson_id,
  source: r.source,
  day: r.day,
  course: r.course,
  classId: r.class_id,
  className: r.class_name,
  teacherId: r.teacher_id,
  teacherName: r.teacher_name,
  startsAt: Number(r.starts_at),
  endsAt: Number(r.ends_at),
  status: r.media_path === null ? 'uploading' : 'ready',
  bytes: Number(r.bytes),
  sha256: r.sha256,
  durationMs: Number(r.duration_ms),
  gaps: JSON.parse(r.gaps) as RecordingGapView[],
  receivedAt: Number(r.received_at),
});

export class RecordingRegistry {
  constructor(
    private readonly db: CloudDb,
    private readonly directory: string,
    /** The room's IANA time zone. */
    readonly zoneOf: (roomId: string) => string,
  ) {}

  /**
   * Registers what the index holds for (room, lesson, source). Returns the row's status, or
   * null when no sidecar has arrived yet (an MP4 alone names no lesson details: not listed).
   */
  async reconcile(roomId: string, lessonId: string, source: string, segments: Record<string, SegmentRecord>): Promise<'ready' | 'uploading' | null> {
    const mine = Object.values(segments).filter((s) => s.source === source);
    const sidecarEntry = mine.filter((s) => s.ext === 'json').sort((a, b) => b.receivedAt - a.receivedAt)[0];
    if (!sidecarEntry) return null;
    const sidecar = parseRecordingSidecar(await readFile(path.join(this.directory, ...sidecarEntry.path.split('/')), 'utf8'));
    const media = mine.find((s) => s.ext !== 'json' && s.sha256 === sidecar.file.sha256) ?? null;
    const zone = this.zoneOf(roomId);
    const startsAt = DateTime.fromISO(sidecar.lesson.startsAt, { setZone: true });
    const day = startsAt.setZone(zone).toISODate()!;
    await this.db.run(
      `INSERT INTO recordings (room_id, lesson_id, source, day, course, class_id, class_name, teacher_id, teacher_name, starts_at, ends_at,
         media_path, sidecar_path, bytes, sha256, duration_ms, gaps, received_at, media_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (room_id, lesson_id, source) DO UPDATE SET day = excluded.day, course = excluded.course, class_id = excluded.class_id,
         class_name = excluded.class_name, teacher_id = excluded.teacher_id, teacher_name = excluded.teacher_name, starts_at = excluded.starts_at,
         ends_at = excluded.ends_at, media_path = excluded.media_path, sidecar_path = excluded.sidecar_path, bytes = excluded.bytes,
         sha256 = excluded.sha256, duration_ms = excluded.duration_ms, gaps = excluded.gaps, received_at = excluded.received_at, media_at = excluded.media_at`,
      [
        roomId,
        lessonId,
        source,
        day,
        sidecar.course,
        sidecar.classId,
        sidecar.className ?? null,
        sidecar.teacherId,
        sidecar.teacherName ?? null,
        startsAt.toMillis(),
        DateTime.fromISO(sidecar.lesson.endsAt, { setZone: true }).toMillis(),
        media?.path ?? null,
        sidecarEntry.path,
        sidecar.file.bytes,
        sidecar.file.sha256,
        sidecar.file.durationMs,
        JSON.stringify(gapsOf(sidecar)),
        sidecarEntry.receivedAt,
        media?.receivedAt ?? null,
      ],
    );
    return media ? 'ready' : 'uploading';
  }

  /** A room's recordings of a local day, by lesson start then source. */
  async list(roomId: string, day: string): Promise<RecordingView[]> {
    const rows = await this.db.all<Row>('SELECT * FROM recordings WHERE room_id = ? AND day = ? ORDER BY starts_at, lesson_id, source', [roomId, day]);
    return rows.map(toView);
  }

  /** One recording with its stored media path (null while uploading). */
  async get(roomId: string, lessonId: string, source: string): Promise<(RecordingView & { mediaPath: string | null }) | null> {
    const r = await this.db.get<Row>('SELECT * FROM recordings WHERE room_id = ? AND lesson_id = ? AND source = ?', [roomId, lessonId, source]);
    return r ? { ...toView(r), mediaPath: r.media_path } : null;
  }
}

function gapsOf(s: RecordingSidecarData): RecordingGapView[] {
  return s.gaps.map((g) => ({ from: Date.parse(g.from), to: Date.parse(g.to), ms: g.ms, reason: g.reason }));
}
