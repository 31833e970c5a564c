/**
 * Finishing recordings, one at a time: joining is disk-bound, and a lesson's
 * end must not slow the next lesson's start. A finished recording is marked
 * in the store, its segments are deleted (the joined file holds them all and
 * the sidecar their hashes) and it is handed on for upload; one that cannot be
 * finished keeps its segments and raises an alert.
 */
import { mkdir, rm } from 'node:fs/promises';
import type { AlertMessage } from '../schemas/bus.js';
import type { Logger } from '../util/logger.js';
import { finishRecording, type FinishResult } from './finish.js';
import type { RecordingsRepo, RecordingRow } from './repo.js';
import type { RecordingMetrics } from './status.js';

export interface FinisherDeps {
  repo: RecordingsRepo;
  logger: Logger;
  metrics: RecordingMetrics | null;
  raiseAlert: (alert: Omit<AlertMessage, 'id' | 'ts'>) => Promise<void>;
  ffmpegPath?: string | undefined;
  /** What the sidecar says of a source. */
  describe: (sourceId: string) => { id: string; kind: string; label?: string };
  /** A finished recording, to be uploaded. */
  queued: (f: { row: RecordingRow; done: FinishResult }) => Promise<void>;
  /** After each attempt, finished or not. */
  settled: (row: RecordingRow) => void;
}

export class Finisher {
  private chain: Promise<void> = Promise.resolve();
  constructor(private readonly d: FinisherDeps) {}

  queue(row: RecordingRow): void {
    this.chain = this.chain.then(() => this.finish(row)).catch((e: unknown) => this.d.logger.error({ err: e }, 'finishing a recording failed'));
  }

  /** Resolves when everything queued so far is done. */
  idle(): Promise<void> {
    return this.chain;
  }

  private async finish(row: RecordingRow): Promise<void> {
    try {
      await mkdir(row.outDir, { recursive: true });
      const done = await finishRecording({
        dir: row.dir,
        source: this.d.describe(row.source),
        lesson: row.lesson,
        allSources: this.d.repo.sourcesOf(row.lessonId),
        outDir: row.outDir,
        logger: this.d.logger,
        ...(this.d.ffmpegPath ? { ffmpegPath: this.d.ffmpegPath } : {}),
      });
      const f = done.sidecar.file;
      await this.d.repo.markFinished(row.id, { file: done.file, bytes: f.bytes, sha256: f.sha256, durationMs: f.durationMs, gaps: done.sidecar.gaps.length });
      this.d.metrics?.finished.inc({ outcome: 'finished' });
      await rm(row.dir, { recursive: true, force: true });
      await this.d.queued({ row, done });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      await this.d.repo.markFailed(row.id, message);
      this.d.metrics?.finished.inc({ outcome: 'failed' });
      this.d.logger.error({ lessonId: row.lessonId, source: row.source, err: e }, 'recording could not be finished; its segments are kept');
      await this.d.raiseAlert({
        severity: 'critical',
        code: 'recording-failed',
        message: `the recording of ${row.lessonId} by ${row.source} could not be finished: ${message}; its segments are kept in ${row.dir}`,
        data: { lessonId: row.lessonId, source: row.source },
      });
    } finally {
      this.d.settled(row);
    }
  }
}
