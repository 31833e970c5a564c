/**
 * Between the recorder and the upload queue (sync/recording-upload.ts): each
 * finished recording goes up as two files of the same (lesson, source, part):
 * its MP4 and its JSON sidecar. The recording counts as uploaded (and so may
 * be deleted by the disk quota or retention) only when the district confirmed
 * both. Finished recordings that never reached the queue (a crash between the
 * two commits) are queued again at start-up: the queue ignores a file it
 * already holds with the same sha256.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { RecordingUploadStatus } from '../schemas/bus.js';
import type { Logger } from '../util/logger.js';
import type { RecordingsRepo, RecordingRow } from './repo.js';
import type { RecordingSidecar } from './types.js';

interface QueuedFile {
  path: string;
  lessonId: string;
  source: string;
  segment: number;
  ext: string;
  state: 'pending' | 'uploaded' | 'failed';
  size: number;
}

/** What the link needs of RecordingUploader. */
export interface UploaderLike {
  enqueue(input: { path: string; lessonId: string; source: string; segment: number; sha256: string; startedAt?: number; durationMs?: number; ext?: 'mp4' | 'json' }): Promise<unknown>;
  segments(state?: 'pending' | 'uploaded' | 'failed'): QueuedFile[];
  start(): void;
  stop(): Promise<void>;
  on(event: 'uploaded', listener: (seg: QueuedFile) => void): unknown;
  on(event: 'progress' | 'failed', listener: (...args: unknown[]) => void): unknown;
  progress?(): RecordingUploadStatus;
  inWindow?(): boolean;
}

async function sha256Of(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

export class UploadLink {
  constructor(
    private readonly opts: {
      uploader: UploaderLike | null;
      repo: RecordingsRepo;
      logger: Logger;
      now: () => number;
      timeZone: string;
      onChange: () => void;
    },
  ) {
    const u = opts.uploader;
    if (!u) return;
    u.on('uploaded', (seg) => void this.uploaded(seg));
    u.on('progress', () => opts.onChange());
    u.on('failed', () => opts.onChange());
  }

  get configured(): boolean {
    return this.opts.uploader !== null;
  }

  inWindow(): boolean {
    return this.opts.uploader?.inWindow?.() ?? this.configured;
  }

  start(): void {
    const u = this.opts.uploader;
    if (!u) return;
    void this.requeue().finally(() => u.start());
  }

  async stop(): Promise<void> {
    await this.opts.uploader?.stop();
  }

  status(): RecordingUploadStatus | undefined {
    const u = this.opts.uploader;
    if (!u) return undefined;
    if (u.progress) return u.progress();
    const files = u.segments();
    const lessons: RecordingUploadStatus['lessons'] = {};
    for (const f of files) {
      const l = (lessons[f.lessonId] ??= { files: 0, uploadedFiles: 0, bytes: 0, uploadedBytes: 0 });
      l.files++;
      l.bytes += f.size;
      if (f.state === 'uploaded') {
        l.uploadedFiles++;
        l.uploadedBytes += f.size;
      }
    }
    const pending = files.filter((f) => f.state === 'pending');
    return { pendingFiles: pending.length, pendingBytes: pending.reduce((n, f) => n + f.size, 0), failedFiles: files.filter((f) => f.state === 'failed').length, lessons };
  }

  async enqueue(row: RecordingRow, done: { file: string; sidecarFile: string; sidecar: RecordingSidecar }): Promise<void> {
    const u = this.opts.uploader;
    if (!u) return;
    const startedAt = Date.parse(done.sidecar.recorded.from) || row.startedAt;
    try {
      await u.enqueue({ path: done.file, lessonId: row.lessonId, source: row.source, segment: row.part, sha256: done.sidecar.file.sha256, startedAt, durationMs: done.sidecar.file.durationMs, ext: 'mp4' });
      await u.enqueue({ path: done.sidecarFile, lessonId: row.lessonId, source: row.source, segment: row.part, sha256: await sha256Of(done.sidecarFile), startedAt, durationMs: 0, ext: 'json' });
      this.opts.onChange();
    } catch (e) {
      // The recording stays finished and not uploaded: it is queued again at the next start-up.
      this.opts.logger.error({ err: e, lessonId: row.lessonId, source: row.source }, 'could not queue a finished recording for upload');
    }
  }

  private async requeue(): Promise<void> {
    const u = this.opts.uploader;
    if (!u) return;
    const queued = new Set(u.segments().map((f) => f.path));
    for (const row of this.opts.repo.notUploaded()) {
      if (!row.file) continue;
      const sidecarFile = row.file.replace(/\.mp4$/, '.json');
      if (queued.has(row.file) && queued.has(sidecarFile)) continue;
      try {
        const sidecar = JSON.parse(await readFile(sidecarFile, 'utf8')) as RecordingSidecar;
        await this.enqueue(row, { file: row.file, sidecarFile, sidecar });
      } catch (e) {
        this.opts.logger.error({ err: e, lessonId: row.lessonId, source: row.source }, 'a finished recording could not be queued for upload');
      }
    }
  }

  private async uploaded(seg: QueuedFile): Promise<void> {
    const u = this.opts.uploader;
    if (!u) return;
    const mp4 = seg.ext === 'json' ? seg.path.replace(/\.json$/, '.mp4') : seg.path;
    const row = this.opts.repo.byFile(mp4);
    if (!row) return;
    const pair = u.segments('uploaded').filter((f) => f.lessonId === seg.lessonId && f.source === seg.source && f.segment === seg.segment);
    if (pair.some((f) => f.ext === 'mp4') && pair.some((f) => f.ext === 'json')) {
      await this.opts.repo.markUploaded(row.id, this.opts.now());
      this.opts.logger.info({ lessonId: row.lessonId, source: row.source, part: row.part }, 'recording uploaded to the district');
    }
    this.opts.onChange();
  }
}
