/**
 * The upload queue's progress as the `recording` bus message carries it
 * (RecordingUploadStatus, edge/schemas/bus.ts; the kiosk's timetable line):
 * counted from the store (`recording_uploads`: sizes, the offsets the server
 * confirmed) plus the bytes of the PATCH under way, which the store learns
 * only when the request ends.
 */
import type Database from 'better-sqlite3';
import type { RecordingUploadStatus } from '../edge/schemas/bus.js';

export type UploadStatus = RecordingUploadStatus;

/** A lesson stays listed this long after its last file was uploaded. */
export const LESSON_LISTED_MS = 24 * 3_600_000;

interface LessonRow {
  lesson_id: string;
  files: number;
  uploaded_files: number;
  pending_files: number;
  bytes: number;
  uploaded_bytes: number;
  last_uploaded: number | null;
}

export function uploadStatus(db: Database.Database, now: number, inflight: { id: number; bytes: number } | null): UploadStatus {
  const totals = db
    .prepare<[], { pending_files: number; pending_bytes: number | null; failed_files: number }>(
      `SELECT COUNT(*) FILTER (WHERE state = 'pending') AS pending_files,
              SUM(CASE WHEN state = 'pending' THEN size - offset ELSE 0 END) AS pending_bytes,
              COUNT(*) FILTER (WHERE state = 'failed') AS failed_files
         FROM recording_uploads`,
    )
    .get()!;
  // Sent bytes count as uploaded while they travel: uploaded files whole, pending ones up to the confirmed offset.
  const rows = db
    .prepare<[], LessonRow>(
      `SELECT lesson_id, COUNT(*) AS files,
              COUNT(*) FILTER (WHERE state = 'uploaded') AS uploaded_files,
              COUNT(*) FILTER (WHERE state = 'pending') AS pending_files,
              SUM(size) AS bytes,
              SUM(CASE WHEN state = 'uploaded' THEN size WHEN state = 'pending' THEN offset ELSE 0 END) AS uploaded_bytes,
              MAX(uploaded_at) AS last_uploaded
         FROM recording_uploads GROUP BY lesson_id`,
    )
    .all();
  const inflightLesson = inflight
    ? db.prepare<[number], { lesson_id: string; state: string }>('SELECT lesson_id, state FROM recording_uploads WHERE id = ?').get(inflight.id)
    : undefined;
  const extra = inflight && inflightLesson?.state === 'pending' ? inflight.bytes : 0;
  const lessons: UploadStatus['lessons'] = {};
  for (const r of rows) {
    const recent = r.last_uploaded !== null && now - r.last_uploaded < LESSON_LISTED_MS;
    if (r.pending_files === 0 && !recent) continue;
    const plus = inflightLesson?.lesson_id === r.lesson_id ? extra : 0;
    lessons[r.lesson_id] = { files: r.files, uploadedFiles: r.uploaded_files, bytes: r.bytes, uploadedBytes: Math.min(r.bytes, r.uploaded_bytes + plus) };
  }
  return {
    pendingFiles: totals.pending_files,
    pendingBytes: Math.max(0, (totals.pending_bytes ?? 0) - extra),
    failedFiles: totals.failed_files,
    lessons,
  };
}
