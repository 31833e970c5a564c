/**
 * The recording indicator's rules (pure, no DOM, unit-tested): which sources
 * to show from the bus's retained `recording` message (shared/DESIGN.md
 * section 4) and the elapsed time since a recording started.
 */
import type { RecordingState } from './types.js';

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
  state: 'recording' | 'error';
  /** Elapsed time while recording (null for an error, or a recording without a start time). */
  elapsed: string | null;
}

/** The sources to show: recording or in error, sorted by source id; idle sources and no recorder show nothing. */
export function recordingBadges(rec: RecordingState | null | undefined, now: number): RecordingBadge[] {
  if (!rec) return [];
  return Object.entries(rec.sources)
    .filter(([, s]) => s.state !== 'idle')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([source, s]) => ({
      source,
      state: s.state === 'recording' ? 'recording' : 'error',
      elapsed: s.state === 'recording' && s.since !== null ? formatElapsed(now - s.since) : null,
    }));
}
