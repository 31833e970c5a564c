/**
 * The shapes of the edge's recording upload queue (sync/recording-upload.ts):
 * what the recorder enqueues, a queued file as the API shows it, and the
 * `recording_uploads` row it maps from (migrations 7 and 9).
 */
import type { RecordingMetadata } from './recording-protocol.js';

export interface SegmentInput {
  path: string;
  lessonId: string;
  source: string;
  segment: number;
  sha256: string;
  /** Epoch ms of the first frame (default: now). */
  startedAt?: number;
  durationMs?: number;
  ext?: RecordingMetadata['ext'];
}

export type SegmentState = 'pending' | 'uploaded' | 'failed';

export interface QueuedSegment {
  id: number;
  path: string;
  lessonId: string;
  source: string;
  segment: number;
  sha256: string;
  size: number;
  ext: string;
  startedAt: number;
  durationMs: number;
  state: SegmentState;
  uploadUrl: string | null;
  offset: number;
  attempts: number;
  lastError: string | null;
  uploadedAt: number | null;
  deletedAt: number | null;
}

export interface UploadProgress {
  id: number;
  lessonId: string;
  source: string;
  segment: number;
  /** Bytes the server holds (confirmed) plus bytes written in the request under way. */
  bytes: number;
  size: number;
  percent: number;
}


export interface Row {
  id: number;
  path: string;
  lesson_id: string;
  source: string;
  segment: number;
  sha256: string;
  size: number;
  ext: string;
  started_at: number;
  duration_ms: number;
  state: SegmentState;
  upload_url: string | null;
  offset: number;
  attempts: number;
  last_error: string | null;
  uploaded_at: number | null;
  deleted_at: number | null;
}

export const toSegment = (r: Row): QueuedSegment => ({
  id: r.id,
  path: r.path,
  lessonId: r.lesson_id,
  source: r.source,
  segment: r.segment,
  sha256: r.sha256,
  size: r.size,
  ext: r.ext,
  startedAt: r.started_at,
  durationMs: r.duration_ms,
  state: r.state,
  uploadUrl: r.upload_url,
  offset: r.offset,
  attempts: r.attempts,
  lastError: r.last_error,
  uploadedAt: r.uploaded_at,
  deletedAt: r.deleted_at,
});

