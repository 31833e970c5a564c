/**
 * The edge's recording uploader (docs/sync.md, "Recording uploads"): a queue
 * of segment files persisted in the store (`recording_uploads`, migration 7),
 * uploaded one at a time to the district cloud over tus (sync/tus-client.ts).
 *
 * - `enqueue({path, lessonId, source, segment, sha256})` is what the recorder
 *   calls for each finished segment; a segment enqueued again with the same
 *   sha256 is a no-op, with another sha256 an error.
 * - A segment is `pending` until the server confirmed completion and echoed
 *   the sha256 it verified; then `uploaded`. The server's upload URL and the
 *   offset it confirmed are stored, so after a network cut or a restart the
 *   upload resumes from the server's offset (HEAD), never from zero.
 * - Failures retry with exponential backoff (jittered); refusals that cannot
 *   succeed by retrying (bad metadata, another room, too large, a conflicting
 *   sha256, the local file gone or changed, the hash mismatching again and
 *   again) mark the segment `failed` with the reason, counted and logged.
 * - The local file is deleted only after upload and only when the `retention`
 *   hook says so (default: keep; retention is the recording issue's policy).
 * - A finished recording is two files of one (lesson, source, segment): the MP4
 *   and its JSON sidecar (`ext: 'json'`), queued apart (migration 9).
 * - Pacing (sync/recording-upload-pacing.ts): outside the daily `window` (room
 *   time zone) nothing is sent; a PATCH under way when it closes finishes its
 *   chunk and the rest waits for the next opening. `maxBytesPerSecond` caps
 *   the bytes streamed, one token bucket for the whole queue.
 */
import { EventEmitter } from 'node:events';
import { stat, unlink } from 'node:fs/promises';
import type Database from 'better-sqlite3';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../edge/util/logger.js';
import { recordingMetadataFields, validateRecordingMetadata, type RecordingMetadata } from './recording-protocol.js';
import { TokenBucket, UploadWindow, type WindowSpec } from './recording-upload-pacing.js';
import { uploadStatus, type UploadStatus } from './recording-upload-progress.js';
import { toSegment, type QueuedSegment, type Row, type SegmentInput, type SegmentState, type UploadProgress } from './recording-upload-types.js';
import { UploadHttpError, type CreateResult, type Pace, type TusTransport } from './tus-client.js';

export type { QueuedSegment, SegmentInput, SegmentState, UploadProgress } from './recording-upload-types.js';

/** The part of the edge store the uploader uses (edge/store/store.ts). */
export interface UploaderStore {
  readonly db: Database.Database;
  write<T>(fn: (tx: { db: Database.Database }) => T): Promise<T>;
}

export interface UploaderOptions {
  store: UploaderStore;
  roomId: string;
  transport: TusTransport;
  logger: Logger;
  /** Wall clock, epoch ms (the window, stored times). */
  now?: () => number;
  /** Monotonic ms (backoff, the bandwidth cap); default performance.now. */
  monotonic?: () => number;
  /** Daily upload window, HH:MM in `timeZone`; may wrap midnight. Absent: any time. */
  window?: WindowSpec;
  /** The room's IANA time zone (the window's clock); default Asia/Shanghai. */
  timeZone?: string;
  /** Bandwidth cap over the whole queue; absent: none. */
  maxBytesPerSecond?: number;
  /** Bytes per PATCH request (default 4 MiB): the most a cut can cost to send again. */
  chunkBytes?: number;
  retry?: { baseMs?: number; maxMs?: number; maxHashMismatches?: number };
  /** After upload: may the local file be deleted now? Default: keep it. */
  retention?: (segment: QueuedSegment) => boolean | Promise<boolean>;
  /** Prometheus registry of the edge's /metrics. */
  registry?: Registry;
}

export class SegmentConflictError extends Error {}

/** An error that retrying cannot fix: the segment is marked failed. */
class Permanent extends Error {}

/** HTTP statuses that retrying the same request cannot change. */
const PERMANENT_STATUS = new Set([400, 403, 405, 413]);

export class RecordingUploader extends EventEmitter {
  private readonly now: () => number;
  private readonly monotonic: () => number;
  private readonly window: UploadWindow | null;
  private readonly pace: Pace | undefined;
  /** The PATCH under way: which row, and the bytes it has written so far (for progress()). */
  private inflight: { id: number; bytes: number } | null = null;
  private windowClosedLogged = false;
  private readonly log: Logger;
  private readonly chunkBytes: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly maxHashMismatches: number;
  /** In memory: a restart retries at once, which is what a restart is for. */
  private readonly notBefore = new Map<number, number>();
  private readonly failuresInARow = new Map<number, number>();
  private readonly hashMismatches = new Map<number, number>();
  private running: Promise<void> | null = null;
  private abort: AbortController | null = null;
  private wake: (() => void) | null = null;
  private idleWaiters: Array<() => void> = [];
  private readonly metric: { bytes: Counter | null; segments: Counter | null };
  readonly counts = { bytesSent: 0, uploaded: 0, failed: 0, retries: 0, resumes: 0, hashMismatches: 0, deleted: 0 };

  constructor(private readonly opts: UploaderOptions) {
    super();
    this.now = opts.now ?? Date.now;
    this.monotonic = opts.monotonic ?? (() => performance.now());
    this.window = opts.window ? new UploadWindow(opts.window, opts.timeZone ?? 'Asia/Shanghai') : null;
    const bucket = opts.maxBytesPerSecond ? new TokenBucket(opts.maxBytesPerSecond, { monotonic: this.monotonic }) : null;
    this.pace = bucket ? (n, signal) => bucket.take(n, signal) : undefined;
    this.log = opts.logger.child({ ns: 'edge:recording-upload' });
    this.chunkBytes = opts.chunkBytes ?? 4 * 2 ** 20;
    this.baseMs = opts.retry?.baseMs ?? 1000;
    this.maxMs = opts.retry?.maxMs ?? 5 * 60_000;
    this.maxHashMismatches = opts.retry?.maxHashMismatches ?? 3;
    const reg = opts.registry;
    this.metric = {
      bytes: reg ? new Counter({ name: 'classroom_recording_upload_bytes_total', help: 'Recording bytes sent to the cloud (resends included)', registers: [reg] }) : null,
      segments: reg
        ? new Counter({ name: 'classroom_recording_upload_segments_total', help: 'Recording segments by outcome', labelNames: ['outcome'], registers: [reg] })
        : null,
    };
  }

  /** Queues a finished segment file. Same segment, same sha256: the existing entry; another sha256: SegmentConflictError. */
  async enqueue(input: SegmentInput): Promise<QueuedSegment> {
    const meta = validateRecordingMetadata({
      roomId: this.opts.roomId,
      lessonId: input.lessonId,
      source: input.source,
      segment: String(input.segment),
      sha256: input.sha256,
      startedAt: String(input.startedAt ?? this.now()),
      durationMs: String(input.durationMs ?? 0),
      ...(input.ext ? { ext: input.ext } : {}),
    });
    const size = (await stat(input.path)).size;
    const seg = await this.opts.store.write((tx) => {
      const same = tx.db
        .prepare<[string, string, number, string], Row>('SELECT * FROM recording_uploads WHERE lesson_id = ? AND source = ? AND segment = ? AND ext = ?')
        .get(meta.lessonId, meta.source, meta.segment, meta.ext);
      if (same) {
        if (same.sha256 !== meta.sha256) throw new SegmentConflictError(`file ${meta.source}-${meta.segment}.${meta.ext} of ${meta.lessonId} is already queued with another sha256`);
        return toSegment(same);
      }
      const row = tx.db
        .prepare<unknown[], Row>(
          `INSERT INTO recording_uploads (path, lesson_id, source, segment, sha256, size, ext, started_at, duration_ms, state, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?) RETURNING *`,
        )
        .get(input.path, meta.lessonId, meta.source, meta.segment, meta.sha256, size, meta.ext, meta.startedAt, meta.durationMs, this.now());
      return toSegment(row!);
    });
    this.log.debug({ id: seg.id, lessonId: seg.lessonId, source: seg.source, segment: seg.segment, size }, 'recording segment queued');
    this.wake?.();
    return seg;
  }

  segments(state?: SegmentState): QueuedSegment[] {
    const rows = state
      ? this.opts.store.db.prepare<[string], Row>('SELECT * FROM recording_uploads WHERE state = ? ORDER BY id').all(state)
      : this.opts.store.db.prepare<[], Row>('SELECT * FROM recording_uploads ORDER BY id').all();
    return rows.map(toSegment);
  }

  /** Is the upload window open now (always, without a window)? */
  inWindow(): boolean {
    return this.window?.isOpen(this.now()) ?? true;
  }

  /** Files and bytes still to send, failures, and per lesson (pending, or uploaded in the last 24 h). */
  progress(): UploadStatus {
    return uploadStatus(this.opts.store.db, this.now(), this.inflight);
  }

  start(): void {
    if (this.running) return;
    this.abort = new AbortController();
    this.running = this.loop(this.abort.signal).catch((err: unknown) => this.log.error({ err }, 'recording uploader stopped by an error'));
  }

  /** Stops after aborting the request under way (the server keeps what it received). */
  async stop(): Promise<void> {
    this.abort?.abort(new Error('uploader stopped'));
    this.wake?.();
    await this.running;
    this.running = null;
  }

  /** Resolves when no pending segment is waiting to be tried now (all done, failed, or in backoff). */
  whenIdle(): Promise<void> {
    if (this.nextDue() === null && !this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Re-asks the retention hook for uploaded files still on disk (e.g. on a retention schedule). */
  async applyRetention(): Promise<number> {
    let n = 0;
    for (const s of this.segments('uploaded')) if (s.deletedAt === null && (await this.maybeDelete(s))) n++;
    return n;
  }

  private busy = false;

  private nextDue(): { row: Row; waitMs: number } | null {
    const rows = this.opts.store.db.prepare<[], Row>("SELECT * FROM recording_uploads WHERE state = 'pending' ORDER BY id").all();
    let best: { row: Row; waitMs: number } | null = null;
    const t = this.monotonic();
    for (const row of rows) {
      const waitMs = Math.max(0, (this.notBefore.get(row.id) ?? 0) - t);
      if (waitMs === 0) return { row, waitMs };
      if (!best || waitMs < best.waitMs) best = { row, waitMs };
    }
    return best;
  }

  private async loop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let due = this.nextDue();
      const closedMs = due && this.window ? this.window.msUntilOpen(this.now()) : 0;
      if (closedMs > 0) {
        if (!this.windowClosedLogged) this.log.info({ opensInMs: closedMs }, 'recording uploads wait for the upload window');
        this.windowClosedLogged = true;
        due = { row: due!.row, waitMs: closedMs };
      } else this.windowClosedLogged = false;
      if (!due || due.waitMs > 0) {
        for (const w of this.idleWaiters.splice(0)) w();
        await new Promise<void>((resolve) => {
          // A timer beyond 2^31-1 ms fires at once; a closed window is at most a day away anyway.
          const timer = due ? setTimeout(resolve, Math.min(due.waitMs, 2 ** 31 - 1)) : null;
          this.wake = () => {
            if (timer) clearTimeout(timer);
            this.wake = null;
            resolve();
          };
        });
        continue;
      }
      this.busy = true;
      try {
        await this.uploadOne(due.row, signal);
      } catch (err) {
        if (!signal.aborted) await this.onFailure(due.row, err);
      } finally {
        this.busy = false;
      }
    }
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private fields(r: Row): Record<string, string> {
    return recordingMetadataFields({
      roomId: this.opts.roomId,
      lessonId: r.lesson_id,
      source: r.source,
      segment: r.segment,
      sha256: r.sha256,
      startedAt: r.started_at,
      durationMs: r.duration_ms,
      ext: r.ext as RecordingMetadata['ext'],
    });
  }

  private async uploadOne(r: Row, signal: AbortSignal): Promise<void> {
    const t = this.opts.transport;
    let size: number;
    try {
      size = (await stat(r.path)).size;
    } catch {
      throw new Permanent(`the local file ${r.path} is gone`);
    }
    if (size !== r.size) throw new Permanent(`the local file ${r.path} changed size (${r.size} -> ${size} bytes)`);
    let url = r.upload_url;
    let offset = 0;
    if (url) {
      const h = await t.head(url, signal);
      if (h.kind === 'upload' && (h.length === null || h.length === r.size)) {
        offset = h.offset;
        if (offset > 0) this.counts.resumes++;
        this.log.info({ id: r.id, offset, size: r.size }, 'recording upload resumed from the server offset');
      } else url = null;
    }
    if (!url) {
      let c: CreateResult;
      try {
        c = await t.create(this.fields(r), r.size, signal);
      } catch (e) {
        // 409 at creation: the cloud holds this segment with another sha256.
        if (e instanceof UploadHttpError && e.status === 409) throw new Permanent(e.message);
        throw e;
      }
      if (c.kind === 'complete') return this.completed(r, c.sha256);
      url = c.url;
    }
    await this.saveProgress(r.id, url, offset);
    for (;;) {
      const end = Math.min(r.size, offset + this.chunkBytes);
      const start = offset;
      let sent = 0;
      this.inflight = { id: r.id, bytes: 0 };
      let res;
      try {
        res = await t.patch(
          url,
          r.path,
          start,
          end,
          signal,
          (n) => {
            sent += n;
            this.inflight = { id: r.id, bytes: sent };
            this.counts.bytesSent += n;
            this.metric.bytes?.inc(n);
            this.emitProgress(r, start + sent);
          },
          this.pace,
        );
      } finally {
        this.inflight = null;
      }
      offset = res.offset;
      await this.saveProgress(r.id, url, offset);
      this.emitProgress(r, offset);
      if (res.complete) return this.completed(r, res.complete.sha256);
      if (offset >= r.size) throw new Error('the server holds every byte but did not confirm completion');
      this.failuresInARow.delete(r.id);
      // The window closed during this chunk: it was finished; the rest waits (the loop sleeps until it opens).
      if (!this.inWindow()) return;
    }
  }

  private emitProgress(r: Row, bytes: number): void {
    const p: UploadProgress = { id: r.id, lessonId: r.lesson_id, source: r.source, segment: r.segment, bytes, size: r.size, percent: r.size ? Math.round((bytes / r.size) * 1000) / 10 : 100 };
    this.emit('progress', p);
  }

  private async saveProgress(id: number, url: string, offset: number): Promise<void> {
    await this.opts.store.write((tx) => tx.db.prepare('UPDATE recording_uploads SET upload_url = ?, offset = ? WHERE id = ?').run(url, offset, id));
  }

  private async completed(r: Row, sha256: string | null): Promise<void> {
    if (sha256 !== r.sha256) throw new Error(`the server confirmed completion with sha256 ${sha256 ?? '(none)'}, expected ${r.sha256}`);
    const seg = await this.opts.store.write((tx) =>
      toSegment(tx.db.prepare<[number, number, number], Row>("UPDATE recording_uploads SET state = 'uploaded', offset = ?, uploaded_at = ?, last_error = NULL WHERE id = ? RETURNING *").get(r.size, this.now(), r.id)!),
    );
    this.forget(r.id);
    this.counts.uploaded++;
    this.metric.segments?.inc({ outcome: 'uploaded' });
    this.emitProgress(r, r.size);
    this.log.info({ id: r.id, lessonId: r.lesson_id, source: r.source, segment: r.segment, size: r.size }, 'recording segment uploaded');
    this.emit('uploaded', seg);
    await this.maybeDelete(seg);
  }

  private async maybeDelete(seg: QueuedSegment): Promise<boolean> {
    if (!this.opts.retention) return false;
    try {
      if (!(await this.opts.retention(seg))) return false;
      await unlink(seg.path).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
      await this.opts.store.write((tx) => tx.db.prepare('UPDATE recording_uploads SET deleted_at = ? WHERE id = ?').run(this.now(), seg.id));
      this.counts.deleted++;
      return true;
    } catch (err) {
      this.log.warn({ err, id: seg.id }, 'could not delete an uploaded recording segment');
      return false;
    }
  }

  private forget(id: number): void {
    this.notBefore.delete(id);
    this.failuresInARow.delete(id);
    this.hashMismatches.delete(id);
  }

  private async onFailure(r: Row, err: unknown): Promise<void> {
    const message = err instanceof Error ? err.message : String(err);
    let permanent = err instanceof Permanent || err instanceof SegmentConflictError;
    let clearUrl = false;
    if (err instanceof UploadHttpError) {
      if (err.hashMismatch) {
        // The server deleted the upload; a transfer fault is retried a few times, a wrong declared hash is not.
        const n = (this.hashMismatches.get(r.id) ?? 0) + 1;
        this.hashMismatches.set(r.id, n);
        this.counts.hashMismatches++;
        clearUrl = true;
        permanent = n >= this.maxHashMismatches;
      } else if (PERMANENT_STATUS.has(err.status)) {
        permanent = true;
      } else if (err.status === 404 || err.status === 410) {
        clearUrl = true;
      }
    }
    if (permanent) {
      await this.opts.store.write((tx) =>
        tx.db.prepare("UPDATE recording_uploads SET state = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?").run(message.slice(0, 1000), r.id),
      );
      this.forget(r.id);
      this.counts.failed++;
      this.metric.segments?.inc({ outcome: 'failed' });
      this.log.error({ id: r.id, lessonId: r.lesson_id, source: r.source, segment: r.segment, reason: message }, 'recording segment upload failed for good');
      this.emit('failed', { id: r.id, reason: message });
      return;
    }
    const n = (this.failuresInARow.get(r.id) ?? 0) + 1;
    this.failuresInARow.set(r.id, n);
    const delay = Math.min(this.maxMs, this.baseMs * 2 ** (n - 1)) * (0.5 + Math.random() / 2);
    this.notBefore.set(r.id, this.monotonic() + delay);
    this.counts.retries++;
    await this.opts.store.write((tx) =>
      tx.db
        .prepare(`UPDATE recording_uploads SET attempts = attempts + 1, last_error = ?${clearUrl ? ', upload_url = NULL, offset = 0' : ''} WHERE id = ?`)
        .run(message.slice(0, 1000), r.id),
    );
    const level = n === 1 ? 'warn' : 'debug';
    this.log[level]({ id: r.id, reason: message, retryInMs: Math.round(delay), failuresInARow: n }, 'recording upload interrupted, will resume');
  }
}
