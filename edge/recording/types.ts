/**
 * The recorder's shapes, shared by its parts (docs/recording.md):
 * - capture.ts: one supervised ffmpeg per source, writing short segments and
 *   a journal of them into one directory per (lesson, source);
 * - finish.ts: joins a directory's segments into one MP4 and its sidecar;
 * - live.ts: live pushes to the district's media server;
 * - service.ts: the recording service (lesson clock, kiosk, technicians,
 *   storage, uploads), which the API and remote commands drive through
 *   RecorderControl.
 */
import type { RecordingMessage, RecordingSourceState } from '../schemas/bus.js';

/** `username:password` for an RTSP camera, read from its credentialsFile (never logged). */
export interface SourceCredentials {
  username: string;
  password: string;
}

/** One finished segment, as capture.ts journals it. */
export interface SegmentRecord {
  /** Index across the whole recording (runs continue the numbering). */
  index: number;
  /** File name in the recording directory, e.g. seg-000012.ts */
  file: string;
  /** The ffmpeg run that wrote it (a restart after a drop or a crash is a new run). */
  run: number;
  /** Wall-clock epoch ms of its first and last media time. */
  startedAt: number;
  endedAt: number;
  bytes: number;
  sha256: string;
}

/** A gap in a recording: no media between `from` and `to` (epoch ms), and why. */
export interface RecordingGap {
  from: number;
  to: number;
  reason: string;
}

/** What capture.ts reports as a source's state (the service adds idle and the lesson). */
export type CaptureState = Extract<RecordingSourceState, 'starting' | 'recording' | 'degraded' | 'stopping' | 'error'> | 'stopped';

/** The lesson a recording belongs to, as the sidecar names it. */
export interface RecordingLessonInfo {
  roomId: string;
  lessonId: string;
  course: string;
  classId: string;
  className?: string;
  teacherId: string | null;
  teacherName?: string;
  /** Scheduled (or overridden) lesson times, epoch ms. */
  startsAt: number;
  endsAt: number;
}

/** The JSON sidecar beside each finished MP4 (`{source}.json`). */
export interface RecordingSidecar {
  version: 1;
  roomId: string;
  lessonId: string;
  course: string;
  classId: string;
  className?: string;
  teacherId: string | null;
  teacherName?: string;
  lesson: { startsAt: string; endsAt: string };
  source: { id: string; kind: string; label?: string };
  /** Every source recorded for this lesson (the other files of the same lesson). */
  sources: string[];
  /** First and last media time recorded, ISO 8601. */
  recorded: { from: string; to: string; mediaMs: number };
  file: { name: string; bytes: number; sha256: string; durationMs: number; video: string | null; audio: string | null };
  gaps: Array<{ from: string; to: string; ms: number; reason: string }>;
  segments: Array<{ index: number; file: string; run: number; from: string; to: string; bytes: number; sha256: string }>;
  /** Segments found after a crash without a journal entry, and whether they could be kept. */
  recovered?: Array<{ file: string; kept: boolean; reason?: string }>;
}

/** Who asked (audited). */
export interface RecordingActor {
  username: string;
  role: string;
}

export type RecordingAction = 'start' | 'stop';

export interface RecordingActionResult {
  ok: boolean;
  /** The sources the action changed, with their state after it. */
  sources: Record<string, RecordingSourceState>;
  /** Why nothing (or not everything) happened: an unknown source, no lesson, a full disk... */
  error?: { code: string; message: string };
}

/** What the API, the kiosk and remote commands may do with the recorder. */
export interface RecorderControl {
  /** The configured source ids (kiosk buttons, command validation). */
  sources(): string[];
  /** The current `recording` message (also published retained on the bus). */
  status(): RecordingMessage;
  /** Starts recording `source` (all when absent) for the current lesson, or an unscheduled recording when none. */
  start(req: { source?: string; by: RecordingActor }): Promise<RecordingActionResult>;
  /** Stops and finishes `source` (all when absent); its file is queued for upload. */
  stop(req: { source?: string; by: RecordingActor }): Promise<RecordingActionResult>;
  /** Live push by target id: start or stop (the recording is not affected). */
  live(req: { target: string; action: RecordingAction; by: RecordingActor }): Promise<RecordingActionResult>;
  /** For /health: states, disk, uploads. */
  health(): RecorderHealth;
}

export interface RecorderHealth {
  status: 'ok' | 'degraded' | 'error';
  sources: Record<string, { state: RecordingSourceState; reason: string | null; lessonId: string | null; live?: { target: string; state: string; reason: string | null } }>;
  disk: { directory: string; usedBytes: number; maxBytes: number; freeBytes: number | null; minFreeBytes: number };
  upload: { configured: boolean; pendingFiles: number; pendingBytes: number; failedFiles: number; inWindow: boolean };
}
