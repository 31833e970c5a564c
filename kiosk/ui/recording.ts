/**
 * The recording indicator's rules (pure, no DOM, unit-tested): which sources
 * to show from the bus's retained `recording` message (shared/DESIGN.md
 * section 4), the elapsed time since a recording started, the live push next
 * to its source, which button the teacher gets, and a lesson's upload line.
 */
import type { LiveState, RecordingSourceState, RecordingState } from './types.js';

/** Elapsed time: "00:07", "12:34", "1:02:03" (hours only when there are any); negative (clock skew) shows "00:00". */
export function formatElapsed(ms: number): string {
  const total = Number.isFinite(ms) && ms > 0 ? Math.floor(ms / 1000) : 0;
  const s = total % 60;
  const m = Math.floor(total / 60) % 60;
  const h = Math.floor(total / 3600);
  const two = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${two(m)}:${two(s)}`;
}

export interface RecordingBadge {
  source: string;
  state: Exclude<RecordingSourceState, 'idle'>;
  /** Elapsed time while recording (null otherwise, or for a recording without a start time). */
  elapsed: string | null;
  /** Why a degraded or failed source is not recording (as the recorder says it); null otherwise. */
  reason: string | null;
  /** The source's live push, when one is on (null: none, or off). */
  live: Exclude<LiveState, 'off'> | null;
}

/** The sources to show: every source that is not idle, sorted by source id; idle sources and no recorder show nothing. */
export function recordingBadges(rec: RecordingState | null | undefined, now: number): RecordingBadge[] {
  if (!rec) return [];
  const badges: RecordingBadge[] = [];
  for (const [source, s] of Object.entries(rec.sources).sort(([a], [b]) => a.localeCompare(b))) {
    if (s.state === 'idle') continue;
    const live = s.live && s.live.state !== 'off' ? s.live.state : null;
    badges.push({
      source,
      state: s.state,
      elapsed: s.state === 'recording' && s.since !== null ? formatElapsed(now - s.since) : null,
      reason: (s.state === 'degraded' || s.state === 'error') && s.reason ? s.reason : null,
      live,
    });
  }
  return badges;
}

export interface RecordingButton {
  action: 'start' | 'stop';
  disabled: boolean;
}

/**
 * The one start/stop button a teacher gets (for every source at once: a
 * teacher records the lesson, not a camera), or null when the edge does not
 * offer it. Stop while any source is starting, recording or reconnecting;
 * stop, disabled, while sources are still finishing; start otherwise (all
 * idle or failed, or nothing published yet). Disabled while a request is in
 * flight, so a double touch is one command.
 */
export function recordingButton(rec: RecordingState | null | undefined, offered: boolean, inFlight: boolean): RecordingButton | null {
  if (!offered) return null;
  const states = Object.values(rec?.sources ?? {}).map((s) => s.state);
  if (states.some((s) => s === 'starting' || s === 'recording' || s === 'degraded')) return { action: 'stop', disabled: inFlight };
  if (states.includes('stopping')) return { action: 'stop', disabled: true };
  return { action: 'start', disabled: inFlight };
}

export type LessonUploadView = { state: 'waiting' } | { state: 'uploading'; percent: number } | { state: 'done' };

/**
 * A lesson's recordings on their way to the district, for its timetable
 * line: waiting (nothing sent yet, e.g. until the upload window opens),
 * uploading with a percentage (by bytes; 1..99 so it never reads as done or
 * not started), done when every file is uploaded; null when the lesson has
 * no recording.
 */
export function lessonUpload(rec: RecordingState | null | undefined, lessonId: string): LessonUploadView | null {
  const u = rec?.upload?.lessons[lessonId];
  if (!u || u.files <= 0) return null;
  if (u.uploadedFiles >= u.files) return { state: 'done' };
  if (u.uploadedBytes <= 0 && u.uploadedFiles <= 0) return { state: 'waiting' };
  const share = u.bytes > 0 ? u.uploadedBytes / u.bytes : u.uploadedFiles / u.files;
  return { state: 'uploading', percent: Math.min(99, Math.max(1, Math.floor(share * 100))) };
}
