/**
 * The recorder's outward state: the retained `recording` message (one entry
 * per configured source), the /health section, and Prometheus metrics. Label
 * values are only the fixed state names: source ids, lessons and reasons never
 * become labels.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { RECORDING_STATES, type LivePushStatus, type RecordingMessage, type RecordingSourceState, type RecordingUploadStatus } from '../schemas/bus.js';
import type { RecorderHealth } from './types.js';

export interface SourceView {
  state: RecordingSourceState;
  lessonId: string | null;
  since: number | null;
  reason: string | null;
  elapsedMs: number;
  bytes: number;
  live?: LivePushStatus;
}

export interface RecordingMetrics {
  segments: Counter;
  bytes: Counter;
  failures: Counter;
  finished: Counter<'outcome'>;
  disk: Gauge<'kind'>;
  sources: Gauge<'state'>;
  upload: Gauge<'kind'>;
}

export function recordingMetrics(registry: Registry | undefined): RecordingMetrics | null {
  if (!registry) return null;
  const registers = [registry];
  return {
    segments: new Counter({ name: 'classroom_recording_segments_total', help: 'Recording segments closed and journaled', registers }),
    bytes: new Counter({ name: 'classroom_recording_bytes_total', help: 'Bytes of recording segments written', registers }),
    failures: new Counter({ name: 'classroom_recording_capture_failures_total', help: 'Recorder (ffmpeg) runs that ended unexpectedly', registers }),
    finished: new Counter({ name: 'classroom_recording_finished_total', help: 'Recordings joined into their lesson file, by outcome', labelNames: ['outcome'], registers }),
    disk: new Gauge({ name: 'classroom_recording_disk_bytes', help: 'Recordings directory: used bytes, free bytes of its file system, quota', labelNames: ['kind'], registers }),
    sources: new Gauge({ name: 'classroom_recording_sources', help: 'Recording sources by state', labelNames: ['state'], registers }),
    upload: new Gauge({ name: 'classroom_recording_upload_pending', help: 'Finished recording files waiting for upload: files, bytes; and files that failed for good', labelNames: ['kind'], registers }),
  };
}

export function recordingMessage(views: Map<string, SourceView>, upload: RecordingUploadStatus | undefined): RecordingMessage {
  const sources: RecordingMessage['sources'] = {};
  for (const [id, v] of views) {
    sources[id] = {
      state: v.state,
      lessonId: v.lessonId,
      since: v.since,
      elapsedMs: Math.max(0, Math.round(v.elapsedMs)),
      bytes: v.bytes,
      reason: v.reason,
      ...(v.live ? { live: v.live } : {}),
    };
  }
  return upload ? { sources, upload } : { sources };
}

export function updateUploadGauge(m: RecordingMetrics | null, u: RecordingUploadStatus | undefined): void {
  if (!m || !u) return;
  m.upload.set({ kind: 'files' }, u.pendingFiles);
  m.upload.set({ kind: 'bytes' }, u.pendingBytes);
  m.upload.set({ kind: 'failed' }, u.failedFiles);
}

export function updateSourceGauge(m: RecordingMetrics | null, views: Map<string, SourceView>): void {
  if (!m) return;
  for (const s of RECORDING_STATES) m.sources.set({ state: s }, [...views.values()].filter((v) => v.state === s).length);
}

export function healthOf(
  views: Map<string, SourceView>,
  disk: RecorderHealth['disk'],
  upload: RecorderHealth['upload'],
): RecorderHealth {
  const sources: RecorderHealth['sources'] = {};
  let status: RecorderHealth['status'] = 'ok';
  for (const [id, v] of views) {
    sources[id] = { state: v.state, reason: v.reason, lessonId: v.lessonId, ...(v.live ? { live: { target: v.live.target, state: v.live.state, reason: v.live.reason } } : {}) };
    if (v.state === 'error') status = 'error';
    else if ((v.state === 'degraded' || v.live?.state === 'error' || v.live?.state === 'retrying') && status === 'ok') status = 'degraded';
  }
  if (status === 'ok' && upload.failedFiles > 0) status = 'degraded';
  return { status, sources, disk, upload };
}
